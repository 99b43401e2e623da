//! A call's timeline: what happened and when, for the record. Inputs are
//! recorded by their length and result, never their digits.
//!
//! One timeline reads one clock: the clock of the switch that carries the
//! call ([`SwitchClock`]). For a real FreeSWITCH, kept on the wall clock
//! (NTP), that is the wall clock itself. The sandbox's simulator runs its
//! own clock `speed` times faster: its event times and arsgate's own
//! entries are both read on it, so a sandbox call's timeline tells the
//! call in simulated time (a 2 s ring lasts 2 s at any speed) instead of
//! mixing the two clocks, and the times of all sandbox calls (their
//! answers and ends too) compare with each other.
//!
//! FreeSWITCH's event times still step by about 20 ms and lag arsgate's
//! clock by up to about 17 ms (arsgate-sessions/README.md), so a ringing
//! the switch reports can carry a time a little earlier than the originate
//! arsgate recorded before it. Each entry therefore keeps both: `at`, when
//! arsgate received or decided it (the entries are in that order and `at`
//! never goes backwards), and `reported_at`, when it happened by whoever
//! reported it.

use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use super::outcome::Outcome;
use crate::switch::SwitchClock;

/// How a collected input was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputResult {
    /// Right code or PIN, or valid input where nothing is verified.
    Accepted,
    /// Well-formed but wrong.
    Wrong,
    /// Keys that did not fit the expected format.
    Invalid,
    /// Nothing keyed.
    Missing,
}

/// One thing that happened to a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Happening {
    /// arsgate asked the switch to place the call.
    Originated,
    /// The phone rang.
    Ringing,
    /// The far end sent early media.
    EarlyMedia,
    /// The customer answered.
    Answered,
    /// The call entered a scenario segment.
    Segment {
        /// The segment's name.
        name: String,
    },
    /// The customer keyed input for a collect step.
    Input {
        /// The collect step.
        step: String,
        /// Which attempt this was (from 1).
        attempt: u32,
        /// How many digits were keyed.
        digits: usize,
        /// How it was judged.
        result: InputResult,
    },
    /// The customer chose at a menu.
    Key {
        /// The menu step.
        step: String,
        /// The key, if one was pressed and valid.
        key: Option<char>,
    },
    /// The call read the one-time code out to its end (the dialplan set
    /// `ars_code_heard` after the code's playback): from now on the code
    /// may be checked.
    CodeHeard,
    /// A recording ended.
    Recorded {
        /// Its length in milliseconds.
        millis: u64,
    },
    /// The call was hung up.
    HungUp {
        /// FreeSWITCH's cause.
        cause: String,
    },
    /// The node's event socket dropped: the call's state is unknown until
    /// it is back.
    Unknown,
    /// The event socket is back and the node was asked about the call.
    Reconciled {
        /// Whether the node still carried it (otherwise it was lost).
        up: bool,
    },
    /// arsgate restarted during the call, and the new run took it over
    /// where the channel's mark said it stood (earlier entries died with
    /// the old run).
    TakenOver,
    /// The verification's outcome was decided.
    Decided {
        /// The outcome.
        outcome: Outcome,
        /// Why.
        reason: String,
    },
}

/// A happening with its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When arsgate received or decided it, by its own clock: the order of
    /// the timeline.
    #[serde(with = "epoch_millis")]
    pub at: SystemTime,
    /// When it happened by the clock of whoever reported it: the switch's
    /// for what the switch reported, arsgate's for its own doings.
    #[serde(with = "epoch_millis")]
    pub reported_at: SystemTime,
    /// What.
    #[serde(flatten)]
    pub what: Happening,
}

/// Everything that happened to one call, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    entries: Vec<Entry>,
    /// Who hears of each entry as it happens.
    #[serde(skip)]
    observer: Option<UnboundedSender<Entry>>,
    /// The one clock of the timeline: its switch's.
    #[serde(skip)]
    clock: SwitchClock,
}

impl PartialEq for Timeline {
    fn eq(&self, other: &Timeline) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Timeline {}

impl Timeline {
    /// A timeline on the clock of a switch (`clock`) that also sends each
    /// entry to `observer` as it is recorded (a closed observer is
    /// ignored).
    pub fn observed(observer: Option<UnboundedSender<Entry>>, clock: SwitchClock) -> Timeline {
        Timeline {
            entries: Vec::new(),
            observer,
            clock,
        }
    }

    /// The time now, on the timeline's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Records `what`, which happened at `reported_at` (on the timeline's
    /// clock) by whoever reported it, as received now.
    pub fn push(&mut self, reported_at: SystemTime, what: Happening) {
        let now = self.now();
        // A clock may step back; the order stays the order received.
        let at = self.entries.last().map_or(now, |last| last.at.max(now));
        let entry = Entry {
            at,
            reported_at,
            what,
        };
        if let Some(observer) = &self.observer {
            let _ = observer.send(entry.clone());
        }
        self.entries.push(entry);
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

mod epoch_millis {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        serializer.serialize_u64(millis)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn entries_serialize_flat_with_epoch_millis() {
        let mut timeline = Timeline::default();
        timeline.push(
            UNIX_EPOCH + Duration::from_millis(1500),
            Happening::Input {
                step: "ask".into(),
                attempt: 2,
                digits: 6,
                result: InputResult::Wrong,
            },
        );
        let mut json = serde_json::to_value(&timeline).unwrap();
        let at = json["entries"][0]
            .as_object_mut()
            .unwrap()
            .remove("at")
            .unwrap();
        assert!(at.as_u64().unwrap() > 1500, "arsgate's own receipt time");
        assert_eq!(
            json,
            serde_json::json!({"entries": [{"reported_at": 1500, "event": "input", "step": "ask", "attempt": 2, "digits": 6, "result": "wrong"}]})
        );
    }

    #[test]
    fn entries_keep_the_order_received_whatever_the_reported_times() {
        let mut timeline = Timeline::default();
        let now = SystemTime::now();
        timeline.push(now, Happening::Originated);
        // The switch's clock lags: its ringing reads earlier.
        timeline.push(now - Duration::from_millis(17), Happening::Ringing);
        let entries = timeline.entries();
        assert_eq!(entries[0].what, Happening::Originated);
        assert_eq!(entries[1].what, Happening::Ringing);
        assert!(entries[0].at <= entries[1].at);
        assert!(entries[1].reported_at < entries[0].reported_at);
    }
}
