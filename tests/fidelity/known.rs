//! The differences the simulator keeps on purpose, each with its reason.
//! Everything else the comparison finds fails the test, and so does an
//! entry here that no longer matches anything.

use regex::Regex;

/// A deliberate difference.
pub struct Known {
    /// The capture it concerns, or `*` for any.
    pub capture: &'static str,
    /// A regular expression the difference's text (as the comparison words
    /// it) must match in full.
    pub difference: &'static str,
    /// Why the simulator differs.
    pub reason: &'static str,
}

impl Known {
    /// Whether the entry is about `capture`.
    pub fn concerns(&self, capture: &str) -> bool {
        self.capture == "*" || self.capture == capture
    }

    /// The pattern a difference's text must match.
    pub fn pattern(&self) -> Regex {
        Regex::new(&format!("^(?:{})$", self.difference)).expect("a valid pattern")
    }
}

/// The list. Keep it short: a difference belongs here only when matching
/// the capture would make the simulator less faithful, not more.
pub const KNOWN: &[Known] = &[Known {
    capture: "*",
    difference: r".*: variable_rtp_audio_in_\w+ is .*",
    reason: "The inbound RTP statistics count the far end's media. The captures' sipp \
             phones sent RTP only as early media, so FreeSWITCH counted the packets it \
             waited for in vain (skipped; with ignore_early_media, flushed). The simulated \
             phones stream audio for the whole call, as carriers do, and the simulator \
             counts what it would have received.",
}];

/// The differences of arsgate's sessions (`tests/fixtures/arsgate-sessions/`).
pub const SESSIONS_KNOWN: &[Known] = &[];
