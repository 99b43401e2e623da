//! Scripted phones: what the far end of a simulated call does, chosen by the
//! number dialled. The same YAML file (`config/sim-phones.yaml`) is the
//! sandbox's table of magic numbers.
//!
//! Durations are simulated time; the simulator scales them.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::config::YamlError;
use crate::config::yaml;

/// The scripts of all simulated phones: one per known number, and a default
/// for every other number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneBook {
    default: PhoneScript,
    #[serde(default)]
    numbers: BTreeMap<String, PhoneScript>,
}

impl PhoneBook {
    /// A phone book where every number follows `default`.
    pub fn new(default: PhoneScript) -> Self {
        Self {
            default,
            numbers: BTreeMap::new(),
        }
    }

    /// Reads a phone book file such as `config/sim-phones.yaml`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, YamlError> {
        let path = path.as_ref();
        Self::from_yaml_str(&yaml::read(path)?, &path.display().to_string())
    }

    /// Reads a phone book from YAML text; `origin` names the text in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, YamlError> {
        yaml::from_str(text, origin)
    }

    /// The script of the first candidate that has an entry, else the default.
    ///
    /// Callers list the forms of the dialled destination from most to least
    /// specific, e.g. `["1000@127.0.0.1:5070", "1000"]`.
    pub fn lookup(&self, candidates: &[&str]) -> &PhoneScript {
        candidates
            .iter()
            .find_map(|candidate| self.numbers.get(*candidate))
            .unwrap_or(&self.default)
    }

    /// Gives `key` its own script, replacing any it had.
    pub fn set(&mut self, key: impl Into<String>, script: PhoneScript) {
        self.numbers.insert(key.into(), script);
    }
}

/// What the far end does with an incoming call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneScript {
    /// Rings, or sends early media, then answers.
    Answer(Answer),
    /// Rings until the caller gives up: the simulator hangs up with
    /// NO_ANSWER when the originate_timeout runs out.
    RingForever,
    /// 486 Busy Here.
    Busy,
    /// 603 Decline: the callee refused the call.
    Reject,
    /// 404 Not Found: the number is not allocated.
    Unallocated,
    /// No reply at all to the INVITE, so the SIP transaction times out
    /// (RECOVERY_ON_TIMER_EXPIRE).
    SipTimeout,
    /// 503 at once, as a SIP target that is ICMP-unreachable gives.
    Unreachable,
    /// Any other final failure status, as `fail: 480`.
    Fail(SipStatus),
}

impl PhoneScript {
    /// The final SIP status the far end replies with, for the scripts that
    /// refuse the call; `None` for those that answer, ring or never reply.
    pub fn failure_status(&self) -> Option<SipStatus> {
        match self {
            Self::Busy => Some(SipStatus(486)),
            Self::Reject => Some(SipStatus(603)),
            Self::Unallocated => Some(SipStatus(404)),
            Self::Unreachable => Some(SipStatus(503)),
            Self::Fail(status) => Some(*status),
            Self::Answer(_) | Self::RingForever | Self::SipTimeout => None,
        }
    }
}

/// A call the far end answers, and what it does once answered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "AnswerFields")]
pub struct Answer {
    /// Time from the INVITE to the 200 OK.
    pub after: Duration,
    /// Time from the INVITE to a 183 Session Progress with SDP, which then
    /// replaces the 180 Ringing sent at once; before `after`.
    pub early_media: Option<Duration>,
    /// Time from the answer to the far end hanging up (BYE); `None` leaves the
    /// hangup to arsgate.
    pub hangup_after: Option<Duration>,
    /// Keys pressed during the call, group by group.
    pub dtmf: Vec<DtmfGroup>,
}

/// [`Answer`] as written, before its times are checked against each other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFields {
    #[serde(with = "humantime_serde")]
    after: Duration,
    #[serde(default, with = "humantime_serde")]
    early_media: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    hangup_after: Option<Duration>,
    #[serde(default)]
    dtmf: Vec<DtmfGroup>,
}

impl TryFrom<AnswerFields> for Answer {
    type Error = String;

    fn try_from(fields: AnswerFields) -> Result<Self, Self::Error> {
        if let Some(early_media) = fields.early_media.filter(|&at| at >= fields.after) {
            return Err(format!(
                "early_media ({early_media:?}) must come before the answer (after: {:?})",
                fields.after
            ));
        }
        Ok(Self {
            after: fields.after,
            early_media: fields.early_media,
            hangup_after: fields.hangup_after,
            dtmf: fields.dtmf,
        })
    }
}

/// Keys the far end presses one after the other once something happens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "DtmfGroupFields")]
pub struct DtmfGroup {
    /// When the first key is pressed.
    pub trigger: DtmfTrigger,
    /// The keys, in order.
    pub digits: Digits,
    /// Silence between the end of one tone and the start of the next.
    /// Default `300ms`.
    pub gap: Duration,
    /// How long each tone lasts. Default `160ms`, the tone length of the
    /// phone recorded in the reference captures.
    pub tone: Duration,
}

/// What starts a [`DtmfGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfTrigger {
    /// This long after the call is answered.
    AfterAnswer(Duration),
    /// `delay` after the `prompt`-th prompt of the call starts playing,
    /// counting from 1 over every PLAYBACK_START, `speak` and `say`.
    OnPrompt {
        /// Which prompt, from 1.
        prompt: NonZeroU32,
        /// Wait after the prompt starts.
        delay: Duration,
    },
}

/// [`DtmfGroup`] as written: the trigger is one of two keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DtmfGroupFields {
    #[serde(default, with = "humantime_serde")]
    after_answer: Option<Duration>,
    #[serde(default)]
    on_prompt: Option<NonZeroU32>,
    #[serde(default, with = "humantime_serde")]
    delay: Option<Duration>,
    digits: Digits,
    #[serde(default = "default_gap", with = "humantime_serde")]
    gap: Duration,
    #[serde(default = "default_tone", with = "humantime_serde")]
    tone: Duration,
}

fn default_gap() -> Duration {
    Duration::from_millis(300)
}

fn default_tone() -> Duration {
    Duration::from_millis(160)
}

impl TryFrom<DtmfGroupFields> for DtmfGroup {
    type Error = &'static str;

    fn try_from(fields: DtmfGroupFields) -> Result<Self, Self::Error> {
        let trigger = match (fields.after_answer, fields.on_prompt, fields.delay) {
            (Some(after), None, None) => DtmfTrigger::AfterAnswer(after),
            (None, Some(prompt), delay) => DtmfTrigger::OnPrompt {
                prompt,
                delay: delay.unwrap_or_default(),
            },
            (Some(_), None, Some(_)) => {
                return Err("`delay` goes with `on_prompt`; add it to `after_answer` instead");
            }
            (Some(_), Some(_), _) => return Err("give `after_answer` or `on_prompt`, not both"),
            (None, None, _) => {
                return Err("give `after_answer` or `on_prompt` to say when the keys are pressed");
            }
        };
        Ok(Self {
            trigger,
            digits: fields.digits,
            gap: fields.gap,
            tone: fields.tone,
        })
    }
}

/// One or more DTMF keys: `0`-`9`, `*`, `#`, `A`-`D`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Digits(String);

/// A string that is not a valid [`Digits`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a sequence of DTMF keys (0-9, *, #, A-D)")]
pub struct InvalidDigits(String);

impl Digits {
    /// The keys, in the order they are pressed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digits {
    type Error = InvalidDigits;

    fn try_from(digits: String) -> Result<Self, Self::Error> {
        let valid = |c: char| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D');
        if !digits.is_empty() && digits.chars().all(valid) {
            Ok(Self(digits))
        } else {
            Err(InvalidDigits(digits))
        }
    }
}

/// A final SIP failure status, 400 to 699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u16")]
pub struct SipStatus(u16);

impl SipStatus {
    /// The numeric code, as `486`.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for SipStatus {
    type Error = String;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        if (400..=699).contains(&code) {
            Ok(Self(code))
        } else {
            Err(format!("{code} is not a final failure status (400 to 699)"))
        }
    }
}

impl fmt::Display for SipStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(yaml: &str) -> Result<PhoneBook, YamlError> {
        PhoneBook::from_yaml_str(yaml, "phones.yaml")
    }

    /// The script of `number` in a phone book that has only that entry.
    fn script(entry: &str) -> PhoneScript {
        let text = format!("default: busy\nnumbers:\n  \"0100\": {entry}\n");
        let book = book(&text).unwrap_or_else(|error| panic!("{entry}: {error}"));
        book.lookup(&["0100"]).clone()
    }

    /// The path and message of the error for an entry, failing the test if it loads.
    fn entry_error(entry: &str) -> (String, String) {
        let text = format!("default: busy\nnumbers:\n  \"0100\": {entry}\n");
        match book(&text) {
            Err(YamlError::Field { path, message, .. }) => (path, message),
            other => panic!("{entry}: expected a field error, got {other:?}"),
        }
    }

    fn answer(entry: &str) -> Answer {
        match script(entry) {
            PhoneScript::Answer(answer) => answer,
            other => panic!("{entry}: expected an answer, got {other:?}"),
        }
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn every_refusal_parses_to_its_variant() {
        for (entry, expected) in [
            ("ring_forever", PhoneScript::RingForever),
            ("busy", PhoneScript::Busy),
            ("reject", PhoneScript::Reject),
            ("unallocated", PhoneScript::Unallocated),
            ("sip_timeout", PhoneScript::SipTimeout),
            ("unreachable", PhoneScript::Unreachable),
            ("{fail: 480}", PhoneScript::Fail(SipStatus(480))),
        ] {
            assert_eq!(script(entry), expected, "{entry}");
        }
    }

    #[test]
    fn answer_after_a_ring_time() {
        let answer = answer("{answer: {after: 1500ms}}");
        assert_eq!(
            answer,
            Answer {
                after: ms(1500),
                early_media: None,
                hangup_after: None,
                dtmf: Vec::new(),
            }
        );
    }

    #[test]
    fn early_media_then_answer() {
        let answer = answer("{answer: {early_media: 500ms, after: 2500ms, hangup_after: 10s}}");
        assert_eq!(answer.early_media, Some(ms(500)));
        assert_eq!(answer.after, ms(2500));
        assert_eq!(answer.hangup_after, Some(Duration::from_secs(10)));
    }

    #[test]
    fn early_media_must_come_before_the_answer() {
        let (path, message) = entry_error("{answer: {early_media: 3s, after: 2s}}");
        assert_eq!(path, "numbers.0100.answer");
        assert!(message.contains("must come before the answer"), "{message}");
    }

    #[test]
    fn dtmf_groups_with_defaults_and_triggers() {
        let answer = answer(
            "{answer: {after: 1s, dtmf: [\
             {after_answer: 2500ms, digits: \"123456\"},\
             {on_prompt: 2, delay: 200ms, digits: \"5\", gap: 100ms, tone: 80ms},\
             {on_prompt: 3, digits: \"*#ABCD\"}]}}",
        );
        let groups = &answer.dtmf;
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].trigger, DtmfTrigger::AfterAnswer(ms(2500)));
        assert_eq!(groups[0].digits.as_str(), "123456");
        assert_eq!((groups[0].gap, groups[0].tone), (ms(300), ms(160)));
        let second = NonZeroU32::new(2).expect("2");
        assert_eq!(
            groups[1].trigger,
            DtmfTrigger::OnPrompt {
                prompt: second,
                delay: ms(200)
            }
        );
        assert_eq!((groups[1].gap, groups[1].tone), (ms(100), ms(80)));
        assert!(matches!(
            groups[2].trigger,
            DtmfTrigger::OnPrompt {
                delay: Duration::ZERO,
                ..
            }
        ));
    }

    #[test]
    fn unquoted_digits_keep_leading_zeros() {
        let answer = answer("{answer: {after: 1s, dtmf: [{after_answer: 1s, digits: 0123}]}}");
        assert_eq!(answer.dtmf[0].digits.as_str(), "0123");
    }

    #[test]
    fn invalid_digits_are_rejected_with_their_path() {
        for digits in ["\"12x\"", "\"a\"", "\"\"", "\"1 2\"", "\"E\""] {
            let entry = format!(
                "{{answer: {{after: 1s, dtmf: [{{after_answer: 1s, digits: {digits}}}]}}}}"
            );
            let (path, message) = entry_error(&entry);
            assert_eq!(path, "numbers.0100.answer.dtmf[0].digits", "{digits}");
            assert!(
                message.contains("is not a sequence of DTMF keys"),
                "{message}"
            );
        }
    }

    #[test]
    fn dtmf_triggers_must_be_one_of_two() {
        for (group, expected) in [
            ("{digits: \"1\"}", "give `after_answer` or `on_prompt`"),
            (
                "{after_answer: 1s, on_prompt: 1, digits: \"1\"}",
                "not both",
            ),
            (
                "{after_answer: 1s, delay: 1s, digits: \"1\"}",
                "`delay` goes with `on_prompt`",
            ),
            ("{on_prompt: 0, digits: \"1\"}", "nonzero"),
        ] {
            let (_, message) = entry_error(&format!("{{answer: {{after: 1s, dtmf: [{group}]}}}}"));
            assert!(message.contains(expected), "{group}: {message}");
        }
    }

    #[test]
    fn fail_needs_a_final_failure_status() {
        for code in [200, 302, 700] {
            let (path, message) = entry_error(&format!("{{fail: {code}}}"));
            assert_eq!(path, "numbers.0100.fail");
            assert!(message.contains("not a final failure status"), "{message}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        let (path, message) = entry_error("{answer: {after: 1s, hangup: 2s}}");
        assert_eq!(path, "numbers.0100.answer.hangup");
        assert!(message.contains("unknown field `hangup`"), "{message}");
        let (path, _) = entry_error("voicemail");
        assert_eq!(path, "numbers.0100");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("phones.yaml");
        std::fs::write(&file, "default: bussy\n").expect("write");
        let error = PhoneBook::load(&file).expect_err("unknown variant");
        let text = error.to_string();
        assert!(
            text.contains("phones.yaml: default: unknown variant `bussy`"),
            "{text}"
        );
    }

    #[test]
    fn failure_status_of_each_refusal() {
        let codes: Vec<Option<u16>> = [
            PhoneScript::Busy,
            PhoneScript::Reject,
            PhoneScript::Unallocated,
            PhoneScript::Unreachable,
            PhoneScript::Fail(SipStatus(480)),
            PhoneScript::RingForever,
            PhoneScript::SipTimeout,
        ]
        .iter()
        .map(|script| script.failure_status().map(SipStatus::code))
        .collect();
        assert_eq!(
            codes,
            [
                Some(486),
                Some(603),
                Some(404),
                Some(503),
                Some(480),
                None,
                None
            ]
        );
    }

    #[test]
    fn lookup_takes_the_first_matching_candidate_else_the_default() {
        let mut book = PhoneBook::new(PhoneScript::RingForever);
        book.set("1000", PhoneScript::Busy);
        book.set("1000@127.0.0.1:5070", PhoneScript::Reject);
        assert_eq!(
            book.lookup(&["1000@127.0.0.1:5070", "1000"]),
            &PhoneScript::Reject
        );
        assert_eq!(
            book.lookup(&["1000@10.0.0.9:5060", "1000"]),
            &PhoneScript::Busy
        );
        assert_eq!(
            book.lookup(&["2000@127.0.0.1:5070", "2000"]),
            &PhoneScript::RingForever
        );
        assert_eq!(book.lookup(&[]), &PhoneScript::RingForever);
        book.set("1000", PhoneScript::Unallocated);
        assert_eq!(book.lookup(&["1000"]), &PhoneScript::Unallocated);
    }

    #[test]
    fn shipped_phone_book_loads_with_every_behaviour() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-phones.yaml");
        let book = PhoneBook::load(&path).expect("config/sim-phones.yaml is valid");
        assert_eq!(
            book.default,
            PhoneScript::Answer(Answer {
                after: Duration::from_secs(1),
                early_media: None,
                hangup_after: None,
                dtmf: Vec::new(),
            })
        );
        let scripts: Vec<&PhoneScript> = book.numbers.values().collect();
        let has = |wanted: fn(&PhoneScript) -> bool| scripts.iter().any(|s| wanted(s));
        assert!(has(
            |s| matches!(s, PhoneScript::Answer(a) if a.early_media.is_some())
        ));
        assert!(has(
            |s| matches!(s, PhoneScript::Answer(a) if a.hangup_after.is_some())
        ));
        assert!(has(|s| matches!(s, PhoneScript::RingForever)));
        assert!(has(|s| matches!(s, PhoneScript::Busy)));
        assert!(has(|s| matches!(s, PhoneScript::Reject)));
        assert!(has(|s| matches!(s, PhoneScript::Unallocated)));
        assert!(has(|s| matches!(s, PhoneScript::SipTimeout)));
        assert!(has(|s| matches!(s, PhoneScript::Unreachable)));
        assert!(has(|s| matches!(s, PhoneScript::Fail(_))));
        let groups: Vec<&DtmfGroup> = scripts
            .iter()
            .filter_map(|s| match s {
                PhoneScript::Answer(answer) => Some(&answer.dtmf),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(groups.iter().any(|g| g.digits.as_str() == "123456"
            && matches!(g.trigger, DtmfTrigger::OnPrompt { prompt, .. } if prompt.get() == 2)));
        assert!(groups.iter().any(|g| g.digits.as_str() == "2580#"));
        assert!(groups.iter().any(|g| g.digits.as_str() == "5"
            && matches!(g.trigger, DtmfTrigger::OnPrompt { prompt, .. } if prompt.get() == 2)));
    }
}
