//! arsgate's own sessions against a real FreeSWITCH 1.10.12
//! (`tests/fixtures/arsgate-sessions/`, see its README): each case's
//! connections, ready to replay, and the world its phone made, read from
//! the case's description (`NAME.md`).
//!
//! A transcript opens on a connection arsgate had already authenticated
//! and subscribed: the replay performs that setup first, with the commands
//! of `CONNECT_session_setup`, at the transcript's time zero.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use arsgate::sim::DtmfTransport;
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript, SipStatus};
use regex::Regex;
use serde::Deserialize;

use super::setup::{Routes, SPEED, Setup, ms};
use crate::common::capture::{Direction, Record};
use crate::common::repo;

/// Every case of the folder: the setup every session starts from, then
/// the sessions.
pub const SESSIONS: &[&str] = &[
    "CONNECT_session_setup",
    "A1_read_code_listen",
    "A2_read_code_wrong_then_right",
    "A3_read_code_repeat",
    "B1_press5_info",
    "B2_press5_rfc2833",
    "B3_wrong_key_then_silence",
    "B4_wrong_key_three_times",
    "C1_enter_code_info",
    "C2_enter_code_wrong_then_right",
    "C3_enter_code_rfc2833",
    "C4_enter_code_exhausted",
    "C5_enter_code_too_short",
    "C6_enter_code_pattern_fail_then_silence",
    "D1_enter_pin",
    "D2_enter_pin_wrong_then_right",
    "D3_enter_pin_rfc2833",
    "E1_consent_press1",
    "E2_consent_press2",
    "E3_consent_english",
    "E4_consent_hangup_during_text",
    "F1_optin_press1",
    "F2_optin_press2",
    "F3_optin_details_then_join",
    "F4_optin_invalid_key",
    "F5_optin_notify_answered",
    "K1_two_calls_at_once",
    "R1_esl_drop_in_prompt",
    "S1_sigterm_during_call",
    "T0_takeover_killed_in_greeting",
    "T1_takeover_parked",
    "T2_takeover_in_prompt",
    "T3_takeover_consent",
    "X1_unreachable_nosipp",
    "X2_busy",
    "X3_no_answer",
    "X4_hangup_during_prompt",
    "X4b_hangup_at_5s",
    "X5_no_input_enter_code",
    "X6_early_media",
    "X7_cancel_in_call",
    "X8_hangup_after_code",
    "X9_no_input_consent",
    "X10_cancel_while_ringing",
    "X11_no_reply",
    "X12_rejected_603",
    "X13_unallocated_404",
    "X14_unavailable_480",
    "XC1_xmlcurl_enter_code_wrong_then_right",
    "XC2_xmlcurl_consent_press1",
    "XC3_xmlcurl_read_code",
];

/// The case every transcript's connection was set up by.
const SETUP_CASE: &str = "CONNECT_session_setup";

/// Where arsgate's prompts lived on the recording host.
pub const RECORDED_SOUNDS: &str = "/srv/arscc/sounds";

/// HEARTBEAT period, simulated: FreeSWITCH's own.
const HEARTBEAT: Duration = Duration::from_secs(20);

/// The fixture folder.
pub fn dir() -> PathBuf {
    repo("tests/fixtures/arsgate-sessions")
}

/// The repository's prompts, which the replay plays in place of the
/// recording host's (`sounds/` holds the same files: each prompt's
/// `playback_ms` in the captures is its WAV's length).
pub fn sounds() -> String {
    repo("sounds").display().to_string()
}

/// One connection of a case, as recorded.
pub struct Recorded {
    /// Everything both sides wrote on it, times in case seconds.
    pub records: Vec<Record>,
    /// When it was opened, in case seconds.
    pub opens_at: f64,
    /// When the client dropped it without `exit` (arsgate killed, the
    /// proxy cutting the socket), in case seconds.
    pub closes_at: Option<f64>,
    /// Whether FreeSWITCH closed it (after `exit`).
    pub eof: bool,
}

#[derive(Deserialize)]
struct RawRecord {
    t: f64,
    dir: String,
    data: String,
}

/// A case's chunks, arsgate's commands with the recording host's prompt
/// folder replaced by the repository's.
fn records(name: &str) -> Vec<Record> {
    let path = dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sounds = sounds();
    text.lines()
        .map(|line| {
            let raw: RawRecord = serde_json::from_str(line).expect("a chunk is JSON");
            let dir = match raw.dir.as_str() {
                "c2s" => Direction::Send,
                "s2c" => Direction::Recv,
                other => panic!("{name}: unknown direction {other}"),
            };
            let data = match dir {
                Direction::Send => raw.data.replace(RECORDED_SOUNDS, &sounds),
                Direction::Recv => raw.data,
            };
            Record {
                t: raw.t,
                dir,
                data: data.into_bytes(),
            }
        })
        .collect()
}

fn description(name: &str) -> String {
    let path = dir().join(format!("{name}.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_auth_request(record: &Record) -> bool {
    record.dir == Direction::Recv && record.data.starts_with(b"Content-Type: auth/request\n\n")
}

fn is_exit(record: &Record) -> bool {
    record.dir == Direction::Send && record.data.starts_with(b"exit\n")
}

static CONNECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"t=([0-9.]+)s \(c2s_eof \), t=[0-9.]+s \(proxy closed\), t=([0-9.]+)s \(proxy connected\)",
    )
    .expect("valid regex")
});

/// A case's connections: a new one begins at each `auth/request`; the
/// first, opened before the transcript, starts with the setup (at time
/// zero). Where the client dropped a connection, its description's
/// `Connection` line says when.
pub fn connections(name: &str) -> Vec<Recorded> {
    let records = records(name);
    let mut parts: Vec<Vec<Record>> = vec![Vec::new()];
    for record in records {
        if is_auth_request(&record) && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
        }
        parts.last_mut().expect("a part").push(record);
    }
    if !parts[0].first().is_some_and(is_auth_request) {
        let setup = self::records(SETUP_CASE);
        // auth/request, auth, its reply, the subscription, its reply.
        let mut first: Vec<Record> = setup
            .into_iter()
            .take(5)
            .map(|record| Record { t: 0.0, ..record })
            .collect();
        first.append(&mut parts[0]);
        parts[0] = first;
    }
    let description = description(name);
    let drops: Vec<(f64, f64)> = CONNECTION
        .captures_iter(&description)
        .map(|c| (c[1].parse().expect("a time"), c[2].parse().expect("a time")))
        .collect();
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, records)| {
            let opens_at = if i == 0 { 0.0 } else { records[0].t };
            let eof = records.iter().any(is_exit);
            let closes_at = if i + 1 < count && !eof {
                let (closed, _) = *drops
                    .iter()
                    .find(|(closed, _)| *closed >= opens_at)
                    .unwrap_or_else(|| panic!("{name}: no Connection line for connection {i}"));
                Some(closed)
            } else {
                None
            };
            Recorded {
                records,
                opens_at,
                closes_at,
                eof,
            }
        })
        .collect()
}

/// The phone of the cases whose description names none (`None`): what the
/// case says it did.
fn unnamed_phone(name: &str) -> PhoneScript {
    let prefix = name.split('_').next().expect("a prefix");
    match prefix {
        "CONNECT" => PhoneScript::Unreachable,
        "X1" => PhoneScript::Unreachable,
        "X2" => PhoneScript::Busy,
        "X3" | "X10" => PhoneScript::RingForever,
        "X11" => PhoneScript::SipTimeout,
        "X12" => PhoneScript::Reject,
        "X13" => PhoneScript::Unallocated,
        "X14" => PhoneScript::Fail(SipStatus::try_from(480).expect("a status")),
        // "the phone's single key (at answer+4 s)".
        "T0" => {
            parse_uas("180, 200 after 500 ms; info '1' after 4000 ms (gap 300); waits for BYE").0
        }
        other => panic!("{other}: no phone"),
    }
}

static ANSWER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(180|183\+early media), 200 after (\d+) ms$").expect("valid"));
static KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(info|2833) '([0-9*#]+)' after (\d+) ms \(gap (\d+)\)$").expect("valid")
});
static BYE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^BYE (\d+) ms later$").expect("valid"));

/// A sipp phone as the descriptions word it: `180, 200 after 500 ms; info
/// '5' after 3500 ms (gap 300); waits for BYE`. sipp pauses after each key
/// too, so a group's `after` counts from the previous group's last pause.
fn parse_uas(line: &str) -> (PhoneScript, DtmfTransport) {
    let mut parts = line.split("; ");
    let first = parts.next().expect("the answer");
    let answer = ANSWER
        .captures(first)
        .unwrap_or_else(|| panic!("not an answer: {first}"));
    let mut script = Answer {
        after: ms(answer[2].parse().expect("ms")),
        // The 183 came with the INVITE's first reply, as a 180 does.
        early_media: (&answer[1] != "180").then_some(Duration::ZERO),
        hangup_after: None,
        dtmf: Vec::new(),
    };
    let mut transport = DtmfTransport::Info;
    let mut next = Duration::ZERO;
    for part in parts {
        if part == "waits for BYE" {
            continue;
        }
        if let Some(bye) = BYE.captures(part) {
            script.hangup_after = Some(ms(bye[1].parse().expect("ms")));
            continue;
        }
        let keys = KEYS
            .captures(part)
            .unwrap_or_else(|| panic!("not a phone action: {part}"));
        transport = match &keys[1] {
            "info" => DtmfTransport::Info,
            _ => DtmfTransport::Rfc2833,
        };
        let digits = Digits::try_from(keys[2].to_owned()).expect("keys");
        let gap = ms(keys[4].parse().expect("ms"));
        let start = next + ms(keys[3].parse().expect("ms"));
        next = start + gap * digits.as_str().len() as u32;
        script.dtmf.push(DtmfGroup {
            trigger: DtmfTrigger::AfterAnswer(start),
            digits,
            gap,
            tone: ms(160),
        });
    }
    (PhoneScript::Answer(script), transport)
}

/// The world of case `name`: arsgate's rendered dialplan (the XC cases
/// fetched the same extensions over mod_xml_curl), and the phone its
/// description names answering every number dialled.
pub fn setup(name: &'static str) -> Setup {
    let description = description(name);
    let line = description
        .lines()
        .find_map(|line| line.strip_prefix("- **Phone (sipp UAS on 127.0.0.1:5070)**: "));
    let (phone, dtmf) = match line.and_then(|l| l.split_once(": ")) {
        Some((_, uas)) => parse_uas(uas),
        None => (unnamed_phone(name), DtmfTransport::Info),
    };
    Setup {
        capture: name,
        phones: Vec::new(),
        other_phones: phone,
        routes: Routes::Arsgate,
        dtmf,
        heartbeat: HEARTBEAT,
        speed: SPEED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(setup: &Setup) -> &Answer {
        match &setup.other_phones {
            PhoneScript::Answer(answer) => answer,
            other => panic!("{}: {other:?}", setup.capture),
        }
    }

    #[test]
    fn phones_are_read_from_the_descriptions() {
        // info '078461#' after 3500 ms (gap 300); info '967350#' after 5500 ms
        let c2 = setup("C2_enter_code_wrong_then_right");
        assert_eq!(c2.dtmf, DtmfTransport::Info);
        let groups = &answer(&c2).dtmf;
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].trigger, DtmfTrigger::AfterAnswer(ms(3500)));
        // sipp pauses after each of the 7 keys, then 5.5 s.
        assert_eq!(
            groups[1].trigger,
            DtmfTrigger::AfterAnswer(ms(3500 + 2100 + 5500))
        );
        assert_eq!(groups[1].digits.as_str(), "967350#");

        let c3 = setup("C3_enter_code_rfc2833");
        assert_eq!(c3.dtmf, DtmfTransport::Rfc2833);
        assert_eq!(answer(&c3).dtmf[0].gap, ms(400));

        let x6 = answer(&setup("X6_early_media")).clone();
        assert_eq!((x6.early_media, x6.after), (Some(Duration::ZERO), ms(2500)));
        let e4 = answer(&setup("E4_consent_hangup_during_text")).clone();
        assert_eq!((e4.hangup_after, e4.dtmf.len()), (Some(ms(12_000)), 0));

        assert_eq!(
            setup("X14_unavailable_480").other_phones,
            PhoneScript::Fail(SipStatus::try_from(480).expect("a status"))
        );
        assert_eq!(
            setup("X10_cancel_while_ringing").other_phones,
            PhoneScript::RingForever
        );
    }

    #[test]
    fn connections_split_at_each_authentication() {
        let first = connections("B1_press5_info");
        assert_eq!(first.len(), 1);
        // The setup, at time zero, before the transcript's first command.
        assert!(is_auth_request(&first[0].records[0]));
        assert_eq!(first[0].records[0].t, 0.0);
        assert!(first[0].records[5].data.starts_with(b"bgapi originate "));

        let dropped = connections("T1_takeover_parked");
        assert_eq!(dropped.len(), 2);
        assert_eq!(dropped[0].closes_at, Some(4.114));
        assert!(!dropped[0].eof);
        assert_eq!(dropped[1].opens_at, dropped[1].records[0].t);
        assert!(dropped[1].opens_at > 9.0);

        let exited = connections("S1_sigterm_during_call");
        assert_eq!(exited.len(), 2);
        assert_eq!(exited[0].closes_at, None);
        assert!(exited[0].eof);
    }
}
