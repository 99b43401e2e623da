//! Where a call stands in its scenario, kept on the call's own channel
//! (the [`MARK_VAR`](crate::switch::MARK_VAR) variable) rather than only in
//! the controller's memory. The channel lives exactly as long as the call,
//! on the switch, so the mark survives arsgate: a controller that takes the
//! call over after a restart reads it back and goes on from the same
//! segment with the same tries spent. Every park event carries the mark,
//! which also tells a park already handled from a new one.
//!
//! The text is plain ASCII a channel variable can hold:
//! `m1.<seq>.<segment>.<flags>[.t<step>:<tries>:<wrong>]…[.k<key>:<millis>]`.
//! It holds counts, never digits the customer keyed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::program::SegmentId;

/// A call's place in its scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// How many times the controller has moved the call (0 at originate).
    pub seq: u32,
    /// The segment the call was moved into.
    pub segment: SegmentId,
    /// Whether a segment that reads the code out has played to its end.
    pub code_delivered: bool,
    /// Whether the consent text was set on the channel.
    pub text_spoken: bool,
    /// Whether the recording's path was set on the channel.
    pub recording: bool,
    /// Collect tries and wrong entries so far, by step.
    pub tries: BTreeMap<String, Tries>,
    /// The menu key of a consent call, with when it was pressed.
    pub key: Option<(char, SystemTime)>,
}

/// The tries a collect step has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tries {
    /// Inputs judged (of any kind).
    pub attempts: u32,
    /// Inputs judged wrong.
    pub wrong: u32,
}

impl Mark {
    /// The mark as a channel variable's value.
    pub fn encode(&self) -> String {
        let mut flags = String::new();
        for (set, flag) in [
            (self.code_delivered, 'd'),
            (self.text_spoken, 't'),
            (self.recording, 'r'),
        ] {
            if set {
                flags.push(flag);
            }
        }
        if flags.is_empty() {
            flags.push('-');
        }
        let mut text = format!("m1.{}.{}.{flags}", self.seq, self.segment.0);
        for (step, tries) in &self.tries {
            text.push_str(&format!(".t{step}:{}:{}", tries.attempts, tries.wrong));
        }
        if let Some((key, at)) = self.key {
            let millis = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            text.push_str(&format!(".k{key}:{millis}"));
        }
        text
    }

    /// Reads a mark back; `None` if `text` is not one (a channel that
    /// never had one, or one from an incompatible version).
    pub fn decode(text: &str) -> Option<Mark> {
        let mut parts = text.split('.');
        if parts.next()? != "m1" {
            return None;
        }
        let seq = parts.next()?.parse().ok()?;
        let segment = SegmentId(parts.next()?.parse().ok()?);
        let flags = parts.next()?;
        if flags != "-" && !flags.chars().all(|c| matches!(c, 'd' | 't' | 'r')) {
            return None;
        }
        let mut mark = Mark {
            seq,
            segment,
            code_delivered: flags.contains('d'),
            text_spoken: flags.contains('t'),
            recording: flags.contains('r'),
            ..Mark::default()
        };
        for part in parts {
            if let Some(rest) = part.strip_prefix('t') {
                let mut fields = rest.split(':');
                let step = fields.next().filter(|s| !s.is_empty())?;
                let attempts = fields.next()?.parse().ok()?;
                let wrong = fields.next()?.parse().ok()?;
                if fields.next().is_some() {
                    return None;
                }
                mark.tries
                    .insert(step.to_owned(), Tries { attempts, wrong });
            } else if let Some(rest) = part.strip_prefix('k') {
                let (key, millis) = rest.split_once(':')?;
                let mut chars = key.chars();
                let key = chars
                    .next()
                    .filter(|k| k.is_ascii_digit() || matches!(k, '*' | '#'))?;
                if chars.next().is_some() {
                    return None;
                }
                let at = UNIX_EPOCH + Duration::from_millis(millis.parse().ok()?);
                mark.key = Some((key, at));
            } else {
                return None;
            }
        }
        Some(mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::VarValue;

    fn full() -> Mark {
        let mut tries = BTreeMap::new();
        tries.insert(
            "code".to_owned(),
            Tries {
                attempts: 2,
                wrong: 1,
            },
        );
        tries.insert(
            "pin_entry".to_owned(),
            Tries {
                attempts: 1,
                wrong: 0,
            },
        );
        Mark {
            seq: 7,
            segment: SegmentId(3),
            code_delivered: true,
            text_spoken: true,
            recording: true,
            tries,
            key: Some(('#', UNIX_EPOCH + Duration::from_millis(1_795_926_800_208))),
        }
    }

    #[test]
    fn marks_round_trip_through_their_text() {
        for mark in [Mark::default(), full()] {
            let text = mark.encode();
            assert_eq!(Mark::decode(&text), Some(mark), "{text}");
        }
        assert_eq!(
            full().encode(),
            "m1.7.3.dtr.tcode:2:1.tpin_entry:1:0.k#:1795926800208"
        );
        assert_eq!(Mark::default().encode(), "m1.0.0.-");
    }

    #[test]
    fn a_mark_is_a_value_the_switch_takes_as_it_is() {
        assert!(VarValue::parse(&full().encode()).is_ok());
        assert!(!full().encode().contains(' '));
    }

    #[test]
    fn anything_else_is_no_mark() {
        for text in [
            "",
            "m2.1.0.-",
            "m1",
            "m1.x.0.-",
            "m1.1.0.z",
            "m1.1.0.-.tcode:1",
            "m1.1.0.-.tcode:1:1:1",
            "m1.1.0.-.t:1:1",
            "m1.1.0.-.kx:1",
            "m1.1.0.-.k12:1",
            "m1.1.0.-.q",
            "123456",
        ] {
            assert_eq!(Mark::decode(text), None, "{text:?}");
        }
    }
}
