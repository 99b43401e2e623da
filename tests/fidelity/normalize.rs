//! The values that legitimately differ between two runs of the same
//! session, replaced by placeholders (or compared loosely) so the rest can
//! be compared exactly.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Headers whose values differ from run to run by nature, and why.
const VOLATILE: &[(&str, &str)] = &[
    (
        r"^FreeSWITCH-(Hostname|Switchname|IPv4|IPv6)$",
        "the host the switch runs on",
    ),
    (
        r"^variable_(duration|mduration|uduration|.*sec|.*msec|.*usec)$",
        "durations read off the clock",
    ),
    (
        r"^(Event-Sequence|variable_session_id)$",
        "counters of everything the switch did since it started",
    ),
    (
        r"^variable_(sip_from_tag|sip_to_tag|sip_cseq|rtp_use_ssrc|local_media_port)$",
        "identifiers each SIP dialog and RTP session picks at random",
    ),
];

/// Headers whose values are lengths of media, measured against a clock the
/// replay only approximates (a prompt cut short by a hangup, a recording,
/// the packets sent), with how many units make a second of media.
const MEASURED: &[(&str, f64)] = &[
    (r"^variable_(playback|record)_ms$", 1000.0),
    (r"^variable_(playback|record)_seconds$", 1.0),
    (
        r"^variable_((playback|record)_samples|playback_last_offset_pos)$",
        8000.0,
    ),
    // 8 kHz, 16 bits.
    (r"^variable_record_file_size$", 16_000.0),
    // PCMU: 50 packets of 172 bytes a second.
    (r"^variable_rtp_audio_out_(raw|media)_bytes$", 8600.0),
    (r"^variable_rtp_audio_out_(media_)?packet_count$", 50.0),
];

/// How far apart two measured values may be besides the timing slack: 5 %.
pub const MEASURED_TOLERANCE: f64 = 0.05;

/// Headers that read the clock: only whether they are set (not `0`, the
/// value of a moment that never came) must match.
const CLOCK: &str = r"^(Event-Date-.*|Caller-.*-Time|variable_.*_(stamp|epoch|uepoch))$";

static CLOCK_SET: LazyLock<Regex> = LazyLock::new(|| regex(CLOCK));
static VOLATILE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(VOLATILE.iter().map(|(pattern, _)| *pattern)).expect("valid patterns")
});
static MEASURED_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(MEASURED.iter().map(|(pattern, _)| *pattern)).expect("valid patterns")
});

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
});
/// Epoch seconds or microseconds of this century (in transfer sources,
/// SDP session ids).
static EPOCH: LazyLock<Regex> = LazyLock::new(|| regex(r"\b1[0-9]{9}([0-9]{6})?\b"));
/// SIP tags and Via branches inside header values.
static SIP_TOKEN: LazyLock<Regex> = LazyLock::new(|| regex(r"\b(tag|branch)=[^;>\s]+"));
/// An SDP origin (`o=<user> <session> <version>`) and media port.
static SDP_ORIGIN: LazyLock<Regex> = LazyLock::new(|| regex(r"o=\S+ \S+ \S+ "));
static SDP_PORT: LazyLock<Regex> = LazyLock::new(|| regex(r"m=audio [0-9]+ "));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| regex(r"\d+(\.\d+)?"));
static PLURAL: LazyLock<Regex> = LazyLock::new(|| regex(r"N ([a-z]+?)s\b"));

/// A header value, ready to compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Differs by nature: any value matches.
    Volatile,
    /// A measured length, and how many units make a second.
    Measured { value: f64, per_second: f64 },
    /// Must match exactly.
    Exact(String),
}

impl Value {
    /// Whether two values count as the same. Measured lengths may be apart
    /// by `slack` seconds of media, or [`MEASURED_TOLERANCE`], or one unit.
    pub fn matches(&self, other: &Value, slack: f64) -> bool {
        match (self, other) {
            (Value::Volatile, Value::Volatile) => true,
            (
                Value::Measured {
                    value: a,
                    per_second,
                },
                Value::Measured { value: b, .. },
            ) => {
                let tolerance = (a.abs().max(b.abs()) * MEASURED_TOLERANCE)
                    .max(slack * per_second)
                    .max(1.0);
                (a - b).abs() <= tolerance
            }
            (a, b) => a == b,
        }
    }
}

/// Normalizes reply texts, event bodies and header values of one session.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    /// UUIDs the client chose (origination and job UUIDs it sent): they are
    /// the same in every run, so they stay.
    fixed: HashSet<String>,
    /// Folders of the test machine, each with the recording host's folder
    /// it stands for.
    folders: Vec<(String, String)>,
}

impl Normalizer {
    /// A normalizer that keeps the UUIDs found in the client's commands.
    pub fn new<'a>(commands: impl IntoIterator<Item = &'a [u8]>) -> Normalizer {
        let fixed = commands
            .into_iter()
            .flat_map(|bytes| {
                UUID.find_iter(&String::from_utf8_lossy(bytes))
                    .map(|m| m.as_str().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        Normalizer {
            fixed,
            folders: Vec::new(),
        }
    }

    /// The normalizer, reading `local` as the recording host's `recorded`.
    pub fn with_folder(mut self, local: String, recorded: &str) -> Normalizer {
        self.folders.push((local, recorded.to_owned()));
        self
    }

    /// The test machine's folders replaced by the recording host's.
    fn folders(&self, text: String) -> String {
        self.folders.iter().fold(text, |text, (local, recorded)| {
            if text.contains(local.as_str()) {
                text.replace(local.as_str(), recorded)
            } else {
                text
            }
        })
    }

    /// An event header's value: volatile, measured, or normalized text
    /// (generated UUIDs, epoch times, SIP tags and branches, SDP origins
    /// and ports replaced). A time that is `0` stays exact: the moment
    /// never came.
    pub fn value(&self, header: &str, value: &str) -> Value {
        if VOLATILE_SET.is_match(header) || (CLOCK_SET.is_match(header) && value != "0") {
            return Value::Volatile;
        }
        if let Some(&i) = MEASURED_SET.matches(header).iter().next().as_ref()
            && let Ok(number) = value.parse::<f64>()
        {
            return Value::Measured {
                value: number,
                per_second: MEASURED[i].1,
            };
        }
        // Cheap looks first: most values hold none of these.
        let mut text = if value.contains('-') {
            self.uuids(value)
        } else {
            value.to_owned()
        };
        text = self.folders(text);
        if text.len() >= 10 {
            text = EPOCH.replace_all(&text, "<epoch>").into_owned();
        }
        if text.contains("tag=") || text.contains("branch=") {
            text = SIP_TOKEN.replace_all(&text, "$1=<token>").into_owned();
        }
        if text.starts_with("v=0") {
            text = SDP_ORIGIN.replace_all(&text, "o=<origin> ").into_owned();
            text = SDP_PORT.replace_all(&text, "m=audio <port> ").into_owned();
        }
        Value::Exact(text)
    }

    /// `text` as produced by API command `command` (`status`,
    /// `show channels as json` ...; empty for other frames), normalized:
    /// - `status`: every number (uptime, session counts, idle CPU);
    /// - `show … as json`: every row value (the core's channel table lags
    ///   the channel; only the shape is fixed);
    /// - `uuid_dump` (plain or `json`): every value (only the header names
    ///   are compared);
    /// - everywhere: UUIDs the switch generated (Job-UUIDs, Core-UUID).
    pub fn text(&self, command: &str, text: &str) -> String {
        let words: Vec<String> = command
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let shaped = match words.first().map(String::as_str) {
            Some("status") => numbers(text),
            Some("show") if words.ends_with(&["as".to_owned(), "json".to_owned()]) => {
                json_shape(text)
            }
            Some("uuid_dump") if words.last().is_some_and(|w| w == "json") => json_keys(text),
            Some("uuid_dump") => header_names(text),
            _ => text.to_owned(),
        };
        self.folders(self.uuids(&shaped))
    }

    /// UUIDs the switch generated become `<uuid>`.
    fn uuids(&self, text: &str) -> String {
        UUID.replace_all(text, |m: &regex::Captures<'_>| {
            if self.fixed.contains(&m[0]) {
                m[0].to_owned()
            } else {
                "<uuid>".to_owned()
            }
        })
        .into_owned()
    }
}

/// Numbers become `N` and the unit after them loses its plural `s`
/// (`7 minutes` and `1 minute` both read `N minute`).
fn numbers(text: &str) -> String {
    let numbers = NUMBER.replace_all(text, "N");
    PLURAL.replace_all(&numbers, "N $1").into_owned()
}

/// The JSON with every string value emptied (keys and counts stay).
fn json_shape(text: &str) -> String {
    fn empty_strings(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => s.clear(),
            serde_json::Value::Array(items) => items.iter_mut().for_each(empty_strings),
            serde_json::Value::Object(map) => map.values_mut().for_each(empty_strings),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut value) => {
            empty_strings(&mut value);
            value.to_string()
        }
        Err(_) => text.to_owned(),
    }
}

/// The sorted keys of a JSON object, one a line.
fn json_keys(text: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(object) => {
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys.join("\n")
        }
        Err(_) => text.to_owned(),
    }
}

/// The sorted header names of an event in plain serialization, one a line.
fn header_names(text: &str) -> String {
    let mut names: Vec<&str> = text
        .split('\n')
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    names.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_and_plurals_are_normalized() {
        assert_eq!(
            numbers("UP 0 years, 1 day, 7 minutes\n9 session(s) since startup"),
            "UP N year, N day, N minute\nN session(s) since startup"
        );
    }

    #[test]
    fn fixed_uuids_stay_and_generated_ones_go() {
        let normalizer = Normalizer::new([
            b"bgapi x\nJob-UUID: 7b3c0001-0000-4000-8000-00000000b001\n\n".as_slice(),
        ]);
        assert_eq!(
            normalizer.text(
                "",
                "+OK 7b3c0001-0000-4000-8000-00000000b001 ede3da94-f133-43f8-b482-e00f13d84334"
            ),
            "+OK 7b3c0001-0000-4000-8000-00000000b001 <uuid>"
        );
    }

    #[test]
    fn json_and_dumps_keep_their_shape() {
        assert_eq!(
            json_shape(r#"{"row_count":1,"rows":[{"uuid":"x","state":"CS_EXECUTE"}]}"#),
            r#"{"row_count":1,"rows":[{"state":"","uuid":""}]}"#
        );
        assert_eq!(header_names("B: 1\nA: 2\n\n"), "A\nB");
        assert_eq!(json_keys(r#"{"B":"1","A":"2"}"#), "A\nB");
    }

    #[test]
    fn values_lose_what_each_run_picks_and_keep_the_rest() {
        let normalizer = Normalizer::default();
        let exact = |header: &str, value: &str| match normalizer.value(header, value) {
            Value::Exact(text) => text,
            other => panic!("{header}: {other:?}"),
        };
        assert_eq!(
            exact(
                "variable_transfer_source",
                "1795925787:a1b980af-0e82-4c7e-922a-f648256b8c10:bl_xfer:ok/x/XML"
            ),
            "<epoch>:<uuid>:bl_xfer:ok/x/XML"
        );
        assert_eq!(
            exact(
                "variable_sip_full_to",
                "<sip:1000@h:5070>;tag=1202SIPpTag011"
            ),
            "<sip:1000@h:5070>;tag=<token>"
        );
        assert_eq!(
            exact(
                "variable_switch_r_sdp",
                "v=0\r\no=sipp 1 1 IN IP4 h\r\nm=audio 6070 RTP/AVP 0\r\n"
            ),
            "v=0\r\no=<origin> IN IP4 h\r\nm=audio <port> RTP/AVP 0\r\n"
        );
        assert_eq!(normalizer.value("Event-Sequence", "1607"), Value::Volatile);
        let progress = |v: &str| normalizer.value("Caller-Channel-Progress-Time", v);
        assert!(progress("1795925761643897").matches(&progress("1795925761000000"), 0.0));
        assert!(!progress("0").matches(&progress("1795925761643897"), 0.0));
        assert_eq!(exact("Channel-State-Number", "10"), "10");
    }

    #[test]
    fn measured_values_agree_within_the_tolerance() {
        let normalizer = Normalizer::default();
        let ms = |v: &str| normalizer.value("variable_playback_ms", v);
        assert!(ms("4000").matches(&ms("3904"), 0.0));
        assert!(!ms("300").matches(&ms("250"), 0.0));
        assert!(ms("300").matches(&ms("250"), 0.06), "a slack of 60 ms");
        let seconds = |v: &str| normalizer.value("variable_playback_seconds", v);
        assert!(seconds("4").matches(&seconds("3"), 0.0));
        assert!(!seconds("4").matches(&seconds("2"), 0.0));
    }
}
