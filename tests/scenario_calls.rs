//! The six shipped scenarios end to end: loaded from config/scenarios,
//! compiled, run by the controller through the real ESL client against the
//! simulator executing the committed dialplan/ with the committed sounds/.

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arsgate::esl::client::{Client, ClientConfig};
use arsgate::esl::{Command, Event, EventName};
use arsgate::scenario::birthdate::{Birthdate, BirthdateDigests};
use arsgate::scenario::compile::CODE_DIGITS_VAR;
use arsgate::scenario::controller::{
    self, CallReport, CallRequest, CallSettings, ConsentEvidence, RecordingPaths,
};
use arsgate::scenario::prompts::PromptCatalog;
use arsgate::scenario::secret::{Code, CodeKey, PinHash};
use arsgate::scenario::timeline::{Happening, InputResult};
use arsgate::scenario::{Language, Outcome, Program, compile, load};
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use arsgate::sim::{DtmfTransport, SimConfig, SimHandle};
use arsgate::switch::freeswitch::CALL_EVENTS;
use arsgate::switch::{CallId, DialNumber, DialTemplate, FreeSwitch, VarValue};
use common::repo;
use common::start_sim;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

fn programs() -> BTreeMap<String, Program> {
    let catalog = PromptCatalog::load(&repo("sounds")).expect("the sounds manifest loads");
    load::load_dir(&repo("config/scenarios"), &catalog)
        .expect("the shipped scenarios load")
        .iter()
        .map(|s| (s.name().to_owned(), compile(s)))
        .collect()
}

/// Keys pressed when the Nth prompt of the call starts (PLAYBACK_START and
/// speak, counted from 1).
fn on_prompt(prompt: u32, digits: &str) -> DtmfGroup {
    DtmfGroup {
        trigger: DtmfTrigger::OnPrompt {
            prompt: NonZeroU32::new(prompt).unwrap(),
            delay: Duration::from_millis(300),
        },
        digits: Digits::try_from(digits.to_owned()).unwrap(),
        gap: Duration::from_millis(300),
        tone: Duration::from_millis(160),
    }
}

fn answers(dtmf: Vec<DtmfGroup>) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_millis(800),
        early_media: None,
        hangup_after: None,
        dtmf,
    })
}

fn hangs_up_after(millis: u64) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_millis(800),
        early_media: None,
        hangup_after: Some(Duration::from_millis(millis)),
        dtmf: Vec::new(),
    })
}

struct Rig {
    sim: SimHandle,
    switch: FreeSwitch,
    settings: CallSettings,
    programs: BTreeMap<String, Program>,
    recordings: tempfile::TempDir,
}

const CODE: &str = "123456";
const PIN: &str = "2580";
/// The birth date every rig call's request gives, and the two ways the
/// customer may key it.
const BIRTHDATE: &str = "1985-07-23";
const BIRTHDATE_LONG: &str = "19850723";
const BIRTHDATE_SHORT: &str = "850723";

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

/// A rig whose simulator `tune` adjusts.
async fn rig_with(tune: impl FnOnce(&mut SimConfig)) -> Rig {
    let recordings = tempfile::tempdir().unwrap();
    let dir = recordings.path().to_path_buf();
    let sim = start_sim(|c| {
        c.speed = 40.0;
        c.dialplan_dir = Some(repo("dialplan"));
        c.recordings_dir = Some(dir);
        c.dtmf_transport = DtmfTransport::Rfc2833;
        // Tests place dozens of calls at once; FreeSWITCH's default 30 per
        // second would refuse some (as it should, in production).
        c.sessions_per_second = 1000;
        tune(c);
    })
    .await;
    let mut config = ClientConfig::new(sim.addr().to_string(), "ClueCon");
    config.subscriptions = CALL_EVENTS.to_vec();
    let (client, events) = Client::connect(config).await.unwrap();
    let switch = FreeSwitch::new(
        client,
        events,
        "arsgate",
        DialTemplate::parse("sofia/gateway/kt/{number}").unwrap(),
    );
    let settings = CallSettings {
        ring_timeout: Duration::from_secs(30),
        sounds: repo("sounds").to_string_lossy().into_owned(),
        tts_engine: "tts_commandline".to_owned(),
        tts_voices: BTreeMap::from([
            (Language::Ko, "ko".to_owned()),
            (Language::En, "en-us".to_owned()),
        ]),
        recordings: RecordingPaths {
            switch_dir: "/recordings".to_owned(),
            local_dir: recordings.path().join("recordings"),
        },
        caller_id_number: Some("0215880000".to_owned()),
        caller_id_name: None,
        code_key: Arc::new(CodeKey::new(b"scenario test key, 32 bytes long".to_vec())),
    };
    Rig {
        sim,
        switch,
        settings,
        programs: programs(),
        recordings,
    }
}

/// When a test's merchant cancels a call: as soon as the controller records
/// a timeline entry this matches (`None`: never).
type CancelWhen = Option<fn(&Happening) -> bool>;

impl Rig {
    async fn run(
        &self,
        scenario: &str,
        number: &str,
        phone: PhoneScript,
        cancel_when: CancelWhen,
    ) -> CallReport {
        self.run_as(CallId::new(), scenario, number, phone, cancel_when)
            .await
    }

    async fn run_as(
        &self,
        call: CallId,
        scenario: &str,
        number: &str,
        phone: PhoneScript,
        cancel_when: CancelWhen,
    ) -> CallReport {
        self.sim.set_phone(number, phone);
        let code = Code::parse(CODE).unwrap();
        let fields = [
            ("bank", "이노은행"),
            ("holder_name", "홍길동"),
            ("account_masked", "000-1111-**-22"),
            ("purpose", "자동이체 출금"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), VarValue::parse(v).unwrap()))
        .collect();
        let (progress, mut observed) = tokio::sync::mpsc::unbounded_channel();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let birthdate = BirthdateDigests::new(
            &self.settings.code_key,
            call.as_str(),
            &Birthdate::parse(BIRTHDATE, today).unwrap(),
        );
        let request = CallRequest {
            call,
            number: DialNumber::parse(number).unwrap(),
            language: Language::Ko,
            fields,
            code_digest: Some(self.settings.code_key.digest(&code)),
            code: Some(code),
            pin: Some(PinHash::hash(PIN).unwrap()),
            birthdate: Some(birthdate),
            progress: Some(progress),
        };
        let program = &self.programs[scenario];
        let cancel = CancellationToken::new();
        let call = controller::run(
            &self.switch,
            program,
            request,
            &self.settings,
            cancel.clone(),
        );
        // The observer hears each entry as it happens; a cancel tied to an
        // entry therefore lands at that point of the call, whatever the
        // machine's load.
        let observe = async {
            tokio::pin!(call);
            let mut heard = Vec::new();
            loop {
                tokio::select! {
                    report = &mut call => {
                        while let Ok(entry) = observed.try_recv() {
                            heard.push(entry);
                        }
                        return (report, heard);
                    }
                    Some(entry) = observed.recv() => {
                        if cancel_when.is_some_and(|when| when(&entry.what)) {
                            cancel.cancel();
                        }
                        heard.push(entry);
                    }
                }
            }
        };
        let (report, heard) = tokio::time::timeout(Duration::from_secs(30), observe)
            .await
            .unwrap_or_else(|_| panic!("{scenario} on {number} ends"));
        // The observer heard every entry, in order, as it happened.
        assert_eq!(heard, report.timeline.entries(), "{scenario} on {number}");
        report
    }

    async fn outcome(&self, scenario: &str, number: &str, phone: PhoneScript) -> CallReport {
        self.run(scenario, number, phone, None).await
    }

    /// Every command the switch received that names `call`, as text (its
    /// line, headers and body).
    fn commands_for(&self, call: &CallId) -> Vec<String> {
        self.sim
            .commands()
            .iter()
            .map(command_text)
            .filter(|text| text.contains(call.as_str()))
            .collect()
    }
}

/// A command as one text: its line, its headers, its body.
fn command_text(command: &Command) -> String {
    let mut text = command.line().to_owned();
    for (name, value) in command.headers().iter() {
        text.push_str(&format!("\n{name}: {value}"));
    }
    if let Some(body) = command.body_bytes() {
        text.push_str("\n\n");
        text.push_str(&String::from_utf8_lossy(body));
    }
    text
}

fn inputs(report: &CallReport) -> Vec<InputResult> {
    report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Input { result, .. } => Some(*result),
            _ => None,
        })
        .collect()
}

/// The menu choices of the timeline: the menu's step and the valid key
/// pressed (`None`: no valid key before the menu's tries ran out).
fn keys(report: &CallReport) -> Vec<(&str, Option<char>)> {
    report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Key { step, key } => Some((step.as_str(), *key)),
            _ => None,
        })
        .collect()
}

/// The segments the call went through, in order.
fn segments(report: &CallReport) -> Vec<&str> {
    report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Segment { name } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn assert_outcome(report: &CallReport, outcome: Outcome) {
    assert_eq!(report.outcome, outcome, "{}: {report:#?}", report.reason);
}

/// The scenario itself decided `outcome`, on entering `segment`.
fn assert_reached(report: &CallReport, outcome: Outcome, segment: &str) {
    assert_outcome(report, outcome);
    assert_eq!(report.reason, format!("scenario reached '{segment}'"));
}

/// The call was answered, and only then canceled: the timeline has the
/// answer before the decision, and the switch hung up with the cause
/// arsgate gives a cancel.
fn assert_canceled_during_the_call(report: &CallReport) {
    assert_outcome(report, Outcome::Canceled);
    assert!(report.answered, "{report:#?}");
    let entries = report.timeline.entries();
    let at = |wanted: fn(&Happening) -> bool| entries.iter().position(|e| wanted(&e.what));
    let answered = at(|h| matches!(h, Happening::Answered)).expect("answered");
    let decided = at(|h| {
        matches!(
            h,
            Happening::Decided {
                outcome: Outcome::Canceled,
                ..
            }
        )
    })
    .expect("decided");
    assert!(answered < decided, "{entries:#?}");
    assert!(
        entries.iter().any(|e| e.what
            == Happening::HungUp {
                cause: "ORIGINATOR_CANCEL".to_owned()
            }),
        "{entries:#?}"
    );
}

#[tokio::test]
async fn enter_code_every_way_it_can_end() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 enter_code, then 3 wrong_code and 4 enter_code again.
    let cases = [
        (
            "01020000001",
            answers(vec![on_prompt(2, CODE)]),
            Outcome::Verified,
        ),
        (
            "01020000002",
            answers(vec![on_prompt(2, "111111"), on_prompt(4, CODE)]),
            Outcome::Verified,
        ),
        (
            "01020000003",
            answers(vec![
                on_prompt(2, "111111"),
                on_prompt(4, "222222"),
                on_prompt(6, "333333"),
            ]),
            Outcome::WrongInput,
        ),
        ("01020000004", answers(Vec::new()), Outcome::NoInput),
        ("01020000005", PhoneScript::RingForever, Outcome::NoAnswer),
        ("01020000006", PhoneScript::Busy, Outcome::Busy),
        ("01020000007", PhoneScript::Reject, Outcome::Rejected),
        (
            "01020000008",
            PhoneScript::Unallocated,
            Outcome::InvalidNumber,
        ),
        ("01020000009", hangs_up_after(1000), Outcome::CustomerHungUp),
    ];
    for (number, phone, outcome) in cases {
        let report = rig.outcome("enter_code", number, phone).await;
        assert_outcome(&report, outcome);
    }
    let report = rig
        .outcome(
            "enter_code",
            "01020000010",
            answers(vec![on_prompt(2, "111111"), on_prompt(4, CODE)]),
        )
        .await;
    assert_eq!(inputs(&report), [InputResult::Wrong, InputResult::Accepted]);
    assert!(
        !format!("{report:?}").contains(CODE),
        "the keyed code is in no report"
    );
}

/// FreeSWITCH's event times step by about 20 ms and lag arsgate's clock
/// (arsgate-sessions/README.md: "an event can carry a time earlier than the
/// command that caused it"), so the switch's ringing can read earlier than
/// arsgate's own originate. The simulator lags here by far more than the
/// real switch (an hour, simulated) so that every reported time falls
/// before arsgate's: the timeline still reads in the order things
/// happened, by arsgate's receipt times, with the switch's times kept
/// beside them.
#[tokio::test]
async fn a_lagging_switch_clock_leaves_the_timeline_in_order() {
    let rig = rig_with(|c| c.event_time_lag = Some(Duration::from_secs(3600))).await;
    let report = rig
        .run(
            "enter_code",
            "01000000001",
            answers(vec![on_prompt(2, CODE)]),
            None,
        )
        .await;
    assert_eq!(report.outcome, Outcome::Verified, "{:?}", report.timeline);
    let entries = report.timeline.entries();
    let kinds: Vec<&Happening> = entries.iter().map(|e| &e.what).collect();
    assert_eq!(
        kinds[..3],
        [
            &Happening::Originated,
            &Happening::Ringing,
            &Happening::Answered
        ],
        "{kinds:?}"
    );
    assert!(
        entries[1].reported_at < entries[0].reported_at,
        "the switch's time lags arsgate's: {entries:?}"
    );
    assert!(
        entries.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "in the order received: {entries:?}"
    );
}

#[tokio::test]
async fn enter_code_can_be_canceled_mid_call() {
    let rig = rig().await;
    // The merchant cancels once the first (wrong) code has been judged.
    let report = rig
        .run(
            "enter_code",
            "01020000011",
            answers(vec![on_prompt(2, "111111")]),
            Some(|h| matches!(h, Happening::Input { .. })),
        )
        .await;
    assert_canceled_during_the_call(&report);
    assert_eq!(inputs(&report), [InputResult::Wrong]);
    assert_eq!(rig.sim.channels(), 0);
}

#[tokio::test]
async fn enter_pin_checks_the_registered_pin() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 enter_pin, then 3 wrong_pin and 4 enter_pin again.
    let ok = rig
        .outcome(
            "enter_pin",
            "01030000001",
            answers(vec![on_prompt(2, "2580#")]),
        )
        .await;
    assert_reached(&ok, Outcome::Verified, "verified");
    assert_eq!(inputs(&ok), [InputResult::Accepted]);
    let second_try = rig
        .outcome(
            "enter_pin",
            "01030000003",
            answers(vec![on_prompt(2, "1111#"), on_prompt(4, "2580#")]),
        )
        .await;
    assert_reached(&second_try, Outcome::Verified, "verified");
    assert_eq!(
        inputs(&second_try),
        [InputResult::Wrong, InputResult::Accepted]
    );
    let wrong = rig
        .outcome(
            "enter_pin",
            "01030000002",
            answers(vec![
                on_prompt(2, "1111#"),
                on_prompt(4, "2222#"),
                on_prompt(6, "3333#"),
            ]),
        )
        .await;
    assert_reached(&wrong, Outcome::WrongInput, "ask__exhausted");
    assert_eq!(inputs(&wrong), [InputResult::Wrong; 3]);
    let silent = rig
        .outcome("enter_pin", "01030000004", answers(Vec::new()))
        .await;
    assert_reached(&silent, Outcome::NoInput, "ask__no_input");
    assert_eq!(inputs(&silent), [InputResult::Missing]);
}

#[tokio::test]
async fn read_code_delivers_the_code() {
    let rig = rig().await;
    let report = rig
        .outcome("read_code", "01040000001", answers(Vec::new()))
        .await;
    assert_reached(&report, Outcome::Completed, "bye");
    assert_eq!(keys(&report), [("again", None)]);
    // Pressing 1 hears it again and still completes.
    // Prompts: 1 greeting, 2 your_code_is, 3 the code, 4 press_1_to_repeat.
    let report = rig
        .outcome("read_code", "01040000002", answers(vec![on_prompt(4, "1")]))
        .await;
    assert_reached(&report, Outcome::Completed, "bye");
    assert_eq!(keys(&report), [("again", Some('1'))]);
    assert_eq!(segments(&report), ["start", "code", "repeat", "bye"]);
}

/// How long the Korean prompts `names` (under `sounds/ko/`) play, in all.
fn played(names: &[String]) -> Duration {
    names
        .iter()
        .map(|name| {
            let wav = hound::WavReader::open(repo("sounds/ko").join(format!("{name}.wav")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            Duration::from_secs_f64(f64::from(wav.duration()) / f64::from(wav.spec().sample_rate))
        })
        .sum()
}

#[tokio::test]
async fn read_code_counts_the_code_delivered_once_it_was_heard_to_the_end() {
    let rig = rig().await;
    let before: Vec<String> = vec!["greeting".into(), "your_code_is".into()];
    let code: Vec<String> = CODE.chars().map(|d| format!("digits/{d}")).collect();
    let hangs_up_at = |at: Duration| {
        PhoneScript::Answer(Answer {
            after: Duration::from_millis(800),
            early_media: None,
            hangup_after: Some(at),
            dtmf: Vec::new(),
        })
    };
    // Half-way through the code: the customer did not get it.
    let midway = rig
        .outcome(
            "read_code",
            "01040000005",
            hangs_up_at(played(&before) + played(&code) / 2),
        )
        .await;
    assert_outcome(&midway, Outcome::CustomerHungUp);
    assert!(midway.reason.contains("'code'"), "{}", midway.reason);
    // A second after it, while "press 1 to hear it again" plays: the call
    // did its job.
    let after = rig
        .outcome(
            "read_code",
            "01040000006",
            hangs_up_at(played(&before) + played(&code) + Duration::from_secs(1)),
        )
        .await;
    assert_outcome(&after, Outcome::Completed);
    assert!(
        after.reason.contains("after hearing the code"),
        "{}",
        after.reason
    );
}

#[tokio::test]
async fn read_code_ends_after_a_wrong_key_at_the_repeat_menu() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 your_code_is, 3 the code, 4 press_1_to_repeat,
    // then after a wrong key 5 the menu's (silent) invalid sound, 6 goodbye.
    let wrong_key = rig
        .outcome("read_code", "01040000003", answers(vec![on_prompt(4, "7")]))
        .await;
    // The menu has one try: a wrong key spends it, and a 1 pressed after
    // that (during goodbye) brings no repeat.
    let late_one = rig
        .outcome(
            "read_code",
            "01040000004",
            answers(vec![on_prompt(4, "7"), on_prompt(6, "1")]),
        )
        .await;
    for report in [wrong_key, late_one] {
        // The code was read once: the call did its job.
        assert_reached(&report, Outcome::Completed, "bye");
        assert_eq!(keys(&report), [("again", None)]);
        assert_eq!(segments(&report), ["start", "code", "bye"]);
    }
}

#[tokio::test]
async fn press_then_read_wants_the_right_key() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 press_5_for_code, 3 wrong_key, 4 press_5_for_code.
    let report = rig
        .outcome(
            "press_then_read",
            "01050000001",
            answers(vec![on_prompt(2, "3"), on_prompt(4, "5")]),
        )
        .await;
    assert_reached(&report, Outcome::Completed, "bye");
    assert_eq!(keys(&report), [("press", Some('5'))]);
    let report = rig
        .outcome("press_then_read", "01050000002", answers(Vec::new()))
        .await;
    assert_reached(&report, Outcome::NoInput, "press__no_input");
    assert_eq!(keys(&report), [("press", None)]);
}

#[tokio::test]
async fn press_then_read_reads_the_code_on_the_first_right_key_only() {
    let rig = rig().await;
    let first_time = CallId::new();
    let report = rig
        .run_as(
            first_time.clone(),
            "press_then_read",
            "01050000003",
            answers(vec![on_prompt(2, "5")]),
            None,
        )
        .await;
    assert_reached(&report, Outcome::Completed, "bye");
    assert_eq!(keys(&report), [("press", Some('5'))]);
    assert_eq!(segments(&report), ["start", "code", "bye"]);
    // Set with its value (cleared, once played, without one).
    let code_sent = |call: &CallId| {
        rig.commands_for(call)
            .iter()
            .filter(|c| c.contains(&format!("{CODE_DIGITS_VAR} ")))
            .count()
    };
    assert_eq!(code_sent(&first_time), 1, "the code went to the call once");
    // Prompts: 1 greeting, 2, 4, 6 press_5_for_code, each followed by wrong_key.
    let wrong_keys = CallId::new();
    let report = rig
        .run_as(
            wrong_keys.clone(),
            "press_then_read",
            "01050000004",
            answers(vec![
                on_prompt(2, "3"),
                on_prompt(4, "3"),
                on_prompt(6, "3"),
            ]),
            None,
        )
        .await;
    assert_reached(&report, Outcome::WrongInput, "press__invalid");
    assert_eq!(keys(&report), [("press", None)]);
    assert_eq!(code_sent(&wrong_keys), 0, "no key, no code");
}

/// The recording named in the evidence exists where arsgate reads it, has
/// the stated SHA-256 and a length.
fn assert_recording(rig: &Rig, evidence: &ConsentEvidence) {
    let file = evidence
        .local_recording
        .as_ref()
        .expect("the recording as arsgate reads it");
    assert!(file.starts_with(rig.recordings.path()));
    let bytes = std::fs::read(file).expect("the recording exists");
    assert_eq!(
        evidence.recording_sha256,
        Some(hex::encode(Sha256::digest(&bytes)))
    );
    assert!(evidence.recording_duration.unwrap() > Duration::ZERO);
}

#[tokio::test]
async fn consent_record_keeps_the_evidence() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 consent_intro, 3 the spoken consent text, 4 consent_press,
    // then after a wrong key 5 wrong_key and 6 consent_press again.
    for (number, phone, key, outcome) in [
        (
            "01060000001",
            answers(vec![on_prompt(4, "1")]),
            '1',
            Outcome::Consented,
        ),
        (
            "01060000002",
            answers(vec![on_prompt(4, "2")]),
            '2',
            Outcome::Declined,
        ),
        (
            "01060000004",
            answers(vec![on_prompt(4, "7"), on_prompt(6, "1")]),
            '1',
            Outcome::Consented,
        ),
    ] {
        let call = CallId::new();
        let report = rig
            .run_as(call.clone(), "consent_record", number, phone, None)
            .await;
        assert_reached(&report, outcome, &format!("answer__key_{key}"));
        assert_eq!(keys(&report), [("answer", Some(key))]);
        let evidence = report.evidence.expect("consent evidence");
        assert_eq!(evidence.key, Some(key));
        assert!(evidence.key_at.is_some());
        let text = evidence.text.clone().expect("the spoken text");
        assert!(
            text.contains("홍길동") && text.contains("000-1111-**-22"),
            "{text}"
        );
        // What the switch spoke is exactly the text the evidence holds.
        assert_eq!(rig.sim.spoken(call.as_str()), [text]);
        assert_recording(&rig, &evidence);
    }
    let report = rig
        .outcome("consent_record", "01060000003", answers(Vec::new()))
        .await;
    assert_reached(&report, Outcome::NoInput, "answer__no_input");
    let evidence = report.evidence.expect("consent evidence");
    assert_eq!(evidence.key, None);
    // A silent answer is recorded too.
    assert_recording(&rig, &evidence);
    // Prompts 4, 6 and 8 are consent_press, each followed by wrong_key.
    let report = rig
        .outcome(
            "consent_record",
            "01060000005",
            answers(vec![
                on_prompt(4, "7"),
                on_prompt(6, "7"),
                on_prompt(8, "7"),
            ]),
        )
        .await;
    assert_reached(&report, Outcome::WrongInput, "answer__invalid");
    assert_eq!(keys(&report), [("answer", None)]);
    assert!(
        report
            .timeline
            .entries()
            .iter()
            .any(|e| matches!(e.what, Happening::Recorded { .. })),
        "the recording was stopped"
    );
    let evidence = report.evidence.expect("consent evidence");
    assert_eq!((evidence.key, evidence.key_at), (None, None));
    assert_recording(&rig, &evidence);
}

#[tokio::test]
async fn event_optin_follows_every_branch() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 event_offer; after 9: 3 event_details, 4 event_offer;
    // after a wrong key: 3 wrong_key, 4 event_offer.
    let cases = [
        (
            "01070000001",
            answers(vec![on_prompt(2, "1")]),
            Outcome::Consented,
            "offer__key_1",
            vec![("offer", Some('1'))],
        ),
        (
            "01070000002",
            answers(vec![on_prompt(2, "2")]),
            Outcome::Declined,
            "offer__key_2",
            vec![("offer", Some('2'))],
        ),
        (
            "01070000003",
            answers(vec![on_prompt(2, "9"), on_prompt(4, "1")]),
            Outcome::Consented,
            "offer__key_1",
            vec![("offer", Some('9')), ("offer", Some('1'))],
        ),
        (
            "01070000004",
            answers(Vec::new()),
            Outcome::NoInput,
            "offer__no_input",
            vec![("offer", None)],
        ),
        (
            "01070000005",
            answers(vec![
                on_prompt(2, "7"),
                on_prompt(4, "7"),
                on_prompt(6, "7"),
            ]),
            Outcome::WrongInput,
            "offer__invalid",
            vec![("offer", None)],
        ),
        (
            "01070000006",
            answers(vec![on_prompt(2, "7"), on_prompt(4, "1")]),
            Outcome::Consented,
            "offer__key_1",
            vec![("offer", Some('1'))],
        ),
    ];
    for (number, phone, outcome, segment, chosen) in cases {
        let report = rig.outcome("event_optin", number, phone).await;
        assert_reached(&report, outcome, segment);
        assert_eq!(keys(&report), chosen, "{number}");
    }
}

#[tokio::test]
async fn every_scenario_reports_failed_and_abandoned_calls_alike() {
    let rig = rig().await;
    let scenarios: Vec<String> = rig.programs.keys().cloned().collect();
    assert_eq!(scenarios.len(), 7);
    let mut calls = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let number = |case: usize| format!("0108{index}{case:05}");
        let cases = [
            (PhoneScript::RingForever, Outcome::NoAnswer),
            (PhoneScript::Busy, Outcome::Busy),
            (PhoneScript::Reject, Outcome::Rejected),
            (PhoneScript::Unallocated, Outcome::InvalidNumber),
            // Hangs up while the greeting plays.
            (hangs_up_after(500), Outcome::CustomerHungUp),
        ];
        for (case, (phone, outcome)) in cases.into_iter().enumerate() {
            let rig = &rig;
            let number = number(case);
            calls.push(Box::pin(async move {
                let report = rig.outcome(scenario, &number, phone).await;
                (scenario, outcome, report)
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        }
        let number = number(9);
        let rig = &rig;
        calls.push(Box::pin(async move {
            // The merchant cancels as soon as the customer answers.
            let report = rig
                .run(
                    scenario,
                    &number,
                    answers(Vec::new()),
                    Some(|h| matches!(h, Happening::Answered)),
                )
                .await;
            assert_canceled_during_the_call(&report);
            (scenario, Outcome::Canceled, report)
        }));
    }
    // All 36 calls at once: the node carries them side by side.
    for (scenario, outcome, report) in futures_util::future::join_all(calls).await {
        assert_eq!(report.outcome, outcome, "{scenario}: {}", report.reason);
    }
    assert_eq!(rig.sim.channels(), 0);
}

/// `text` with every UUID (calls, jobs) blanked out: random hex may hold
/// any short run of digits, and would make a search for keyed digits fail
/// by chance.
fn without_uuids(text: &str) -> String {
    let uuid = regex::Regex::new(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .unwrap();
    uuid.replace_all(text, "<uuid>").into_owned()
}

#[tokio::test]
async fn keyed_codes_and_pins_never_reach_the_switch() {
    let rig = rig().await;
    // A wrong entry, then the right one (the code the request carries, the
    // PIN whose hash it carries): every digit string the customer keys.
    // Prompts: 1 greeting, 2 enter_*, 3 wrong_*, 4 enter_* again.
    let cases = [
        ("enter_code", "01090000001", "975310", CODE, ""),
        ("enter_pin", "01090000002", "9753", PIN, "#"),
        (
            "enter_birthdate",
            "01090000005",
            "19850724",
            BIRTHDATE_LONG,
            "#",
        ),
        (
            "enter_birthdate",
            "01090000006",
            "850724",
            BIRTHDATE_SHORT,
            "#",
        ),
    ];
    for (scenario, number, wrong, right, terminator) in cases {
        let call = CallId::new();
        let report = rig
            .run_as(
                call.clone(),
                scenario,
                number,
                answers(vec![
                    on_prompt(2, &format!("{wrong}{terminator}")),
                    on_prompt(4, &format!("{right}{terminator}")),
                ]),
                None,
            )
            .await;
        assert_reached(&report, Outcome::Verified, "verified");
        assert_eq!(inputs(&report), [InputResult::Wrong, InputResult::Accepted]);
        let sent = rig.commands_for(&call);
        // The switch's record holds this call's traffic: the originate and
        // a move between segments after each entry.
        assert!(
            sent.iter().any(|c| c.starts_with("bgapi originate ")),
            "{sent:#?}"
        );
        assert!(
            sent.iter()
                .filter(|c| c.starts_with("api uuid_transfer "))
                .count()
                >= 3,
            "{sent:#?}"
        );
        for keyed in [wrong, right] {
            let carrying: Vec<&String> = sent
                .iter()
                .filter(|c| without_uuids(c).contains(keyed))
                .collect();
            assert!(
                carrying.is_empty(),
                "{scenario}: {keyed} was sent to the switch: {carrying:#?}"
            );
        }
    }
    // Nothing any connection sent holds them either (a command that names
    // the call some other way would escape the filter above).
    for command in rig.sim.commands() {
        let text = without_uuids(&command_text(&command));
        for keyed in [
            "975310",
            CODE,
            "9753",
            PIN,
            "19850724",
            "850724",
            BIRTHDATE_LONG,
            BIRTHDATE_SHORT,
            BIRTHDATE,
        ] {
            assert!(!text.contains(keyed), "{keyed} in {text}");
        }
    }
}

#[tokio::test]
async fn birthdates_are_right_in_either_form_and_attempts_run_out() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 enter_birthdate, 3 wrong_birthdate, 4
    // enter_birthdate again, and so on.
    let short = rig
        .outcome(
            "enter_birthdate",
            "01090000007",
            answers(vec![on_prompt(2, &format!("{BIRTHDATE_SHORT}#"))]),
        )
        .await;
    assert_reached(&short, Outcome::Verified, "verified");
    assert_eq!(inputs(&short), [InputResult::Accepted]);
    // Another century's YYYYMMDD is wrong: the six digits were right only
    // because the full date is known.
    let long = rig
        .outcome(
            "enter_birthdate",
            "01090000008",
            answers(vec![
                on_prompt(2, "20850723#"),
                on_prompt(4, &format!("{BIRTHDATE_LONG}#")),
            ]),
        )
        .await;
    assert_reached(&long, Outcome::Verified, "verified");
    assert_eq!(inputs(&long), [InputResult::Wrong, InputResult::Accepted]);
    let exhausted = rig
        .outcome(
            "enter_birthdate",
            "01090000009",
            answers(vec![
                on_prompt(2, "000000#"),
                on_prompt(4, "19850724#"),
                on_prompt(6, "850722#"),
            ]),
        )
        .await;
    assert_eq!(
        exhausted.outcome,
        Outcome::WrongInput,
        "{}",
        exhausted.reason
    );
    assert_eq!(inputs(&exhausted), [InputResult::Wrong; 3]);
    // Seven digits fit the collect (6 to 8) and are no form of the date.
    let seven = rig
        .outcome(
            "enter_birthdate",
            "01090000010",
            answers(vec![
                on_prompt(2, "1985072#"),
                on_prompt(4, &format!("{BIRTHDATE_LONG}#")),
            ]),
        )
        .await;
    assert_eq!(inputs(&seven), [InputResult::Wrong, InputResult::Accepted]);
    let silent = rig
        .outcome("enter_birthdate", "01090000011", answers(Vec::new()))
        .await;
    assert_eq!(silent.outcome, Outcome::NoInput, "{}", silent.reason);
}

#[tokio::test]
async fn read_code_sets_the_code_on_the_channel_only_after_answer() {
    let rig = rig().await;
    // A second listener on the switch, as an operator's tool would be: it
    // sees the answer and the API event FreeSWITCH fires for every API
    // command, numbered (Event-Sequence) when the command arrives.
    let mut config = ClientConfig::new(rig.sim.addr().to_string(), "ClueCon");
    config.subscriptions = vec![
        EventName::ChannelAnswer,
        EventName::Api,
        EventName::ChannelDestroy,
    ];
    let (_listener, mut events) = Client::connect(config).await.unwrap();
    let call = CallId::new();
    // Pressing 1 has the code read (and so set) a second time.
    // Prompts: 1 greeting, 2 your_code_is, 3 the code, 4 press_1_to_repeat.
    let report = rig
        .run_as(
            call.clone(),
            "read_code",
            "01090000003",
            answers(vec![on_prompt(4, "1")]),
            None,
        )
        .await;
    assert_reached(&report, Outcome::Completed, "bye");
    let mut seen: Vec<Event> = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the listener hears the call end")
            .expect("the listener stays connected");
        let last = event.name() == EventName::ChannelDestroy
            && event.unique_id().as_deref() == Some(call.as_str());
        seen.push(event);
        if last {
            break;
        }
    }
    let answered = seen
        .iter()
        .find(|e| {
            e.name() == EventName::ChannelAnswer && e.unique_id().as_deref() == Some(call.as_str())
        })
        .and_then(Event::sequence)
        .expect("CHANNEL_ANSWER with its sequence");
    let set_code = format!("{call} {CODE_DIGITS_VAR} ");
    let code_set: Vec<u64> = seen
        .iter()
        .filter(|e| {
            e.name() == EventName::Api
                && e.header("API-Command").as_deref() == Some("uuid_setvar")
                && e.header("API-Command-Argument")
                    .is_some_and(|a| a.starts_with(&set_code))
        })
        .filter_map(Event::sequence)
        .collect();
    assert_eq!(code_set.len(), 2, "set for the reading and the repeat");
    assert!(
        code_set.iter().all(|&set| set > answered),
        "CHANNEL_ANSWER is event {answered}, the code was set at {code_set:?}"
    );
    // The code's digits (one file per digit) travel in those two commands,
    // for this call, and in no other command.
    let digit_files = format!("/{}/digits/", Language::Ko.code());
    let carrying: Vec<String> = rig
        .sim
        .commands()
        .iter()
        .map(command_text)
        .filter(|c| c.contains(&digit_files))
        .collect();
    assert_eq!(carrying.len(), 2, "{carrying:#?}");
    for command in &carrying {
        assert!(
            command.starts_with(&format!("api uuid_setvar {set_code}file_string://")),
            "{command}"
        );
    }
}

/// Every event of `call` the listener hears until its CHANNEL_DESTROY.
async fn events_until_destroyed(
    events: &mut arsgate::esl::client::Events,
    call: &CallId,
) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the listener hears the call end")
            .expect("the listener stays connected");
        if event.unique_id().as_deref() != Some(call.as_str()) {
            continue;
        }
        let last = event.name() == EventName::ChannelDestroy;
        seen.push(event);
        if last {
            return seen;
        }
    }
}

/// The names of `event`'s variables that hold what the customer keyed or
/// the code's digits.
fn secret_vars(event: &Event) -> Vec<String> {
    event
        .headers()
        .map(|(name, _)| name.into_owned())
        .filter(|name| {
            name.starts_with("variable_ars_in_") || name == &format!("variable_{CODE_DIGITS_VAR}")
        })
        .collect()
}

/// Variables set on a channel stay on it and appear in every later event
/// to every ESL listener, in `uuid_dump` and in the call record (seen on a
/// real FreeSWITCH: the captures' README, "Variables set on a channel ...
/// stay on it"). The digits a customer keyed — a PIN here — are cleared
/// once arsgate has read them, and the code's file list once it was
/// played: the call's last events carry neither.
#[tokio::test]
async fn keyed_digits_and_the_code_leave_the_channel_once_read() {
    let rig = rig().await;
    let mut config = ClientConfig::new(rig.sim.addr().to_string(), "ClueCon");
    config.subscriptions = vec![
        EventName::ChannelExecuteComplete,
        EventName::ChannelPark,
        EventName::ChannelHangup,
        EventName::ChannelDestroy,
    ];
    let (_listener, mut events) = Client::connect(config).await.unwrap();

    // A wrong PIN then the right one: two collects, each read then cleared.
    let call = CallId::new();
    let report = rig
        .run_as(
            call.clone(),
            "enter_pin",
            "01030000005",
            answers(vec![on_prompt(2, "1111#"), on_prompt(4, "2580#")]),
            None,
        )
        .await;
    assert_reached(&report, Outcome::Verified, "verified");
    let seen = events_until_destroyed(&mut events, &call).await;
    let keyed: Vec<&Event> = seen
        .iter()
        .filter(|e| {
            e.name() == EventName::ChannelExecuteComplete
                && e.application().as_deref() == Some("play_and_get_digits")
        })
        .collect();
    assert_eq!(keyed.len(), 2, "two collects");
    assert!(
        keyed.iter().all(|e| !secret_vars(e).is_empty()),
        "the collect's own result carries the digits (the test can see them)"
    );
    let hangup = seen
        .iter()
        .find(|e| e.name() == EventName::ChannelHangup)
        .expect("CHANNEL_HANGUP");
    assert_eq!(secret_vars(hangup), Vec::<String>::new());

    // The code read out, and then a hang-up after hearing it.
    let call = CallId::new();
    let report = rig
        .run_as(
            call.clone(),
            "read_code",
            "01090000004",
            answers(Vec::new()),
            None,
        )
        .await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    let seen = events_until_destroyed(&mut events, &call).await;
    let hangup = seen
        .iter()
        .find(|e| e.name() == EventName::ChannelHangup)
        .expect("CHANNEL_HANGUP");
    assert_eq!(secret_vars(hangup), Vec::<String>::new());
}
