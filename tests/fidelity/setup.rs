//! How each capture's world is rebuilt around the simulator: the phones as
//! the captures' README describes them, the dialplan, and the clock.

use std::path::Path;
use std::time::{Duration, SystemTime};

use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneBook, PhoneScript};
use arsgate::sim::{DtmfTransport, SimConfig};

use crate::common::capture::fixtures_dir;
use crate::common::repo;

/// Simulated time runs this much faster than real time: the longest
/// capture (8.7 s) replays in 0.9 s, and a 10 ms hiccup of a busy machine
/// is 100 simulated ms, well inside the captures' margins.
pub const SPEED: f64 = 10.0;

/// HEARTBEAT period, simulated: short enough that the handshake capture's
/// wait for a HEARTBEAT ends soon.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// What a capture's phone did (times in milliseconds).
#[derive(Debug, Clone, Copy)]
pub enum Phone {
    /// 180 Ringing at once (or a 183 with SDP at `early_media`), 200 OK at
    /// `answer`; a BYE `bye` after the answer; SIP INFO key groups
    /// `(ms after the answer, keys)`, 0.3 s apart.
    Answers {
        early_media: Option<u64>,
        answer: u64,
        bye: Option<u64>,
        keys: &'static [(u64, &'static str)],
    },
    /// 486 Busy Here.
    Busy,
    /// 180 Ringing, and nothing else.
    RingsForever,
    /// Nobody listens on the port.
    Unreachable,
}

/// 180, then 200 OK after 0.5 s; waits for the BYE.
const ANSWERS: Phone = Phone::Answers {
    early_media: None,
    answer: 500,
    bye: None,
    keys: &[],
};

/// The DTMF phone of the first batch: keys 1 to 6 from 2.5 s after the answer.
const KEYS_123456: Phone = keys(&[(2500, "123456")]);

/// The early-media phone: 183 with SDP after 0.2 s, 200 OK 2 s later.
const EARLY_MEDIA: Phone = Phone::Answers {
    early_media: Some(200),
    answer: 2200,
    bye: None,
    keys: &[],
};

const MAIN: &str = "1000@127.0.0.1:5070";
const PHONE_5071: &str = "1000@127.0.0.1:5071";

/// Where the capture's call was routed.
#[derive(Debug, Clone, Copy)]
pub enum Routes {
    /// No dialplan files at all.
    Nothing,
    /// This `<include>` file in the dialplan directory.
    Include(&'static str),
    /// The `<context>`s of this fixture document, as mod_xml_curl served it.
    Served(&'static str),
    /// arsgate's rendered dialplan (`dialplan/` at the repository's root).
    Arsgate,
}

/// One capture's world.
#[derive(Debug, Clone)]
pub struct Setup {
    pub capture: &'static str,
    /// The phones scripted by number (`user@host:port`).
    pub phones: Vec<(&'static str, PhoneScript)>,
    /// What every other number does.
    pub other_phones: PhoneScript,
    pub routes: Routes,
    /// How the phones send their keys.
    pub dtmf: DtmfTransport,
    /// HEARTBEAT period, simulated.
    pub heartbeat: Duration,
    /// How much faster than real time the replay runs ([`SPEED`]; slower
    /// when a replay is repeated carefully).
    pub speed: f64,
}

/// The dialplan_transfer capture's temporary context, as its README
/// describes it.
const ARSGATE_CAPTURE: &str = r#"<include>
  <context name="arsgate_capture">
    <extension name="collect">
      <condition field="destination_number" expression="^collect$">
        <action application="answer"/>
        <action application="play_and_get_digits" data="6 6 1 7000 # tone_stream://%(500,0,440) silence_stream://250 ars_input \d+ 3000"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="ok">
      <condition field="destination_number" expression="^ok$">
        <action application="playback" data="tone_stream://%(300,0,880)"/>
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
  </context>
</include>
"#;

/// Every capture with its world (the README's "phone behaviour" column).
pub fn setups() -> Vec<Setup> {
    vec![
        Setup::new("answered_dtmf_pagd", &[(MAIN, KEYS_123456)]),
        Setup::new("busy", &[(MAIN, Phone::Busy)]),
        Setup::new("dialplan_transfer", &[(MAIN, KEYS_123456)])
            .routes(Routes::Include(ARSGATE_CAPTURE)),
        Setup::new("disconnect", &[(MAIN, answers_then_bye(3000))]),
        Setup::new("early_media_default", &[(MAIN, EARLY_MEDIA)]),
        Setup::new("early_media_ignore", &[(MAIN, EARLY_MEDIA)]),
        Setup::new("handshake", &[]),
        Setup::new("handshake_badauth", &[]),
        Setup::new("json_events", &[(MAIN, Phone::Busy)]),
        Setup::new("kill_and_hupall", &[(MAIN, ANSWERS), (PHONE_5071, ANSWERS)]),
        Setup::new(
            "limits_max_sessions",
            &[(MAIN, ANSWERS), (PHONE_5071, ANSWERS)],
        ),
        Setup::new(
            "limits_sps",
            &[
                (MAIN, ANSWERS),
                (PHONE_5071, ANSWERS),
                ("1000@127.0.0.1:5074", ANSWERS),
                ("1000@127.0.0.1:5075", ANSWERS),
                ("1000@127.0.0.1:5078", ANSWERS),
                ("1000@127.0.0.1:5079", ANSWERS),
            ],
        ),
        Setup::new("no_answer", &[(MAIN, Phone::RingsForever)]),
        // Six 9s from 1.5 s after the answer, then six more 1.5 s after the last.
        Setup::new(
            "pagd_regex_fail",
            &[(MAIN, keys(&[(1500, "999999"), (4500, "999999")]))],
        ),
        Setup::new("pagd_timeout", &[(MAIN, ANSWERS)]),
        // 999 from 1.5 s; 3.4 s after the last 9, keys 1 to 6.
        Setup::new(
            "pagd_wrong_then_right",
            &[(MAIN, keys(&[(1500, "999"), (5500, "123456")]))],
        ),
        Setup::new("record_bye", &[(MAIN, answers_then_bye(4000))]),
        Setup::new("tts_speak", &[(MAIN, ANSWERS)]),
        Setup::new("tts_speak_vars", &[(MAIN, ANSWERS)]),
        Setup::new(
            "unreachable",
            &[("1000@127.0.0.1:5099", Phone::Unreachable)],
        ),
        Setup::new("uuid_broadcast_and_setvar", &[(MAIN, ANSWERS)]),
        Setup::new("xml_curl_dialplan", &[(MAIN, ANSWERS)])
            .routes(Routes::Served("xml_curl_response.xml")),
        Setup::new("xml_curl_not_found", &[(MAIN, ANSWERS)]),
    ]
}

impl Setup {
    /// A capture whose phones are `phones` (keyed `user@host:port`; a
    /// number nobody scripted does not exist in the captures' world), with
    /// no dialplan, keys sent by SIP INFO, at [`SPEED`].
    fn new(capture: &'static str, phones: &[(&'static str, Phone)]) -> Setup {
        Setup {
            capture,
            phones: phones
                .iter()
                .map(|&(key, phone)| (key, phone.script()))
                .collect(),
            other_phones: PhoneScript::Unreachable,
            routes: Routes::Nothing,
            dtmf: DtmfTransport::Info,
            heartbeat: HEARTBEAT,
            speed: SPEED,
        }
    }

    fn routes(self, routes: Routes) -> Setup {
        Setup { routes, ..self }
    }
}

/// Answers after 0.5 s and pressed these key groups.
const fn keys(keys: &'static [(u64, &'static str)]) -> Phone {
    Phone::Answers {
        early_media: None,
        answer: 500,
        bye: None,
        keys,
    }
}

/// Answers after 0.5 s and hangs up `bye` ms later.
const fn answers_then_bye(bye: u64) -> Phone {
    Phone::Answers {
        early_media: None,
        answer: 500,
        bye: Some(bye),
        keys: &[],
    }
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

impl Phone {
    fn script(self) -> PhoneScript {
        match self {
            Phone::Answers {
                early_media,
                answer,
                bye,
                keys,
            } => PhoneScript::Answer(Answer {
                after: ms(answer),
                early_media: early_media.map(ms),
                hangup_after: bye.map(ms),
                dtmf: keys
                    .iter()
                    .map(|&(after, digits)| DtmfGroup {
                        trigger: DtmfTrigger::AfterAnswer(ms(after)),
                        digits: Digits::try_from(digits.to_owned()).expect("valid keys"),
                        gap: ms(300),
                        tone: ms(160),
                    })
                    .collect(),
            }),
            Phone::Busy => PhoneScript::Busy,
            Phone::RingsForever => PhoneScript::RingForever,
            Phone::Unreachable => PhoneScript::Unreachable,
        }
    }
}

impl Setup {
    /// The simulator configuration; dialplan files and recordings go under
    /// `dir`, and simulated time starts at `start` (the capture's, so that
    /// what depends on the clock's second boundaries falls alike).
    pub fn config(&self, dir: &Path, start: Option<SystemTime>) -> SimConfig {
        let mut config = SimConfig::for_tests();
        config.speed = self.speed;
        config.start_time = start;
        config.heartbeat_interval = self.heartbeat;
        config.dtmf_transport = self.dtmf;
        config.phones = PhoneBook::new(self.other_phones.clone());
        for (key, script) in &self.phones {
            config.phones.set(*key, script.clone());
        }
        let dialplan = dir.join("dialplan");
        std::fs::create_dir_all(&dialplan).expect("dialplan dir");
        match self.routes {
            Routes::Nothing => {}
            Routes::Include(xml) => {
                std::fs::write(dialplan.join("capture.xml"), xml).expect("write dialplan");
            }
            Routes::Arsgate => {
                config.dialplan_dir = Some(repo("dialplan"));
            }
            Routes::Served(fixture) => {
                let document =
                    std::fs::read_to_string(fixtures_dir().join(fixture)).expect("served document");
                std::fs::write(dialplan.join("served.xml"), contexts_of(&document))
                    .expect("write dialplan");
            }
        }
        config.dialplan_dir.get_or_insert(dialplan);
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&recordings).expect("recordings dir");
        config.recordings_dir = Some(recordings);
        config
    }
}

/// The `<context>` elements of a mod_xml_curl document, in an `<include>`:
/// what the static dialplan would hold to route the same way.
fn contexts_of(document: &str) -> String {
    let start = document.find("<context").expect("a context");
    let end = document.rfind("</context>").expect("a context end") + "</context>".len();
    format!("<include>\n{}\n</include>\n", &document[start..end])
}
