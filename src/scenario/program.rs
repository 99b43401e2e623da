//! A scenario compiled for the switch and for the controller: the dialplan
//! segments FreeSWITCH runs, and at the end of each segment what the
//! controller decides.
//!
//! Secrets stay in arsgate: a segment that collects digits ends by parking
//! the call; the controller reads the digits from the events, judges them,
//! and transfers the call to the segment the decision leads to. A segment
//! that needs per-call data (the code to read out, text built from the
//! request's fields, the recording's path) is entered only after the
//! controller has set that data on the channel.

use std::time::Duration;

use super::outcome::Outcome;

/// Index of a segment in [`Program::segments`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub usize);

/// What a `verify` step checks the collected digits against.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// Nothing: the scenario verifies nothing.
    #[default]
    None,
    /// The one-time code of the verification.
    Code,
    /// The customer's registered PIN.
    Pin,
    /// The customer's birth date, given in the request (`YYMMDD` or
    /// `YYYYMMDD` keyed).
    Birthdate,
}

/// A language prompts and texts exist in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Korean.
    Ko,
    /// English.
    En,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 2] = [Language::Ko, Language::En];

    /// The code used in paths and variables (`ko`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Ko => "ko",
            Language::En => "en",
        }
    }
}

/// A text in every language, with `{field}` placeholders filled from the
/// verification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalizedText {
    /// `(language, template)` for each language.
    pub templates: Vec<(Language, String)>,
}

/// A per-call value the controller sets on the channel (as a channel
/// variable) before the call enters a segment that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dynamic {
    /// The prompt files that read the verification's code digit by digit
    /// (a `file_string://` list), set into `var`.
    CodeDigits {
        /// Channel variable the segment's actions reference.
        var: String,
    },
    /// A text for TTS, built from the request's fields, set into `var`.
    Text {
        /// Channel variable the segment's actions reference.
        var: String,
        /// The text to build.
        text: LocalizedText,
    },
    /// Where the recording of this call goes, set into `var`.
    RecordingPath {
        /// Channel variable the segment's actions reference.
        var: String,
    },
}

/// One dialplan application with its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialplanAction {
    /// The application (`playback`, `play_and_get_digits`, `park` ...).
    pub app: String,
    /// Its argument (may reference `${...}` channel variables).
    pub data: String,
}

/// A `verify` step: how collected digits are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    /// What the digits must equal.
    pub against: SecretKind,
    /// Wrong entries allowed in total before `exhausted`.
    pub attempts: u32,
    /// Where a wrong entry leads while attempts remain (typically a
    /// "wrong code" prompt and the collect again).
    pub wrong: SegmentId,
    /// Where the last wrong entry leads.
    pub exhausted: SegmentId,
}

/// What the controller does when a segment has parked the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Move on to a segment.
    Next(SegmentId),
    /// Read the digits `play_and_get_digits` left in `var`, judge them if a
    /// verify follows, and go on.
    Collect {
        /// The `collect` step's id.
        step: String,
        /// Channel variable holding the digits.
        var: String,
        /// How they are judged; `None` when the step only collects.
        verify: Option<Verify>,
        /// Where valid (and, with a verify, correct) input leads.
        on_input: SegmentId,
        /// Where leads a collect that ended with no digits at all.
        on_no_input: SegmentId,
        /// Where leads a collect whose last try had digits that did not fit.
        on_invalid: SegmentId,
    },
    /// Read the key a menu collected into `var` and follow its option.
    Menu {
        /// The `menu` step's id.
        step: String,
        /// Channel variable holding the key.
        var: String,
        /// Each valid key and where it leads.
        options: Vec<(char, SegmentId)>,
        /// Where leads a menu that got no key at all.
        on_no_input: SegmentId,
        /// Where leads a menu whose tries all got invalid keys.
        on_invalid: SegmentId,
    },
}

/// How a segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The segment hangs up: the call ends with this outcome.
    Finish(Outcome),
    /// The segment parks: the controller decides.
    Park(Decision),
}

/// One dialplan extension of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The segment's name, unique within the scenario (`start`, `ask` ...).
    pub name: String,
    /// The dialplan extension that runs it (`<scenario>__<name>`).
    pub extension: String,
    /// Per-call data to set before entering it.
    pub needs: Vec<Dynamic>,
    /// The applications it runs, in order, before its end.
    pub actions: Vec<DialplanAction>,
    /// How it ends.
    pub end: End,
}

impl Segment {
    /// The channel variable the segment's collect or menu fills, if it
    /// ends in one.
    pub fn input_var(&self) -> Option<&str> {
        match &self.end {
            End::Park(Decision::Collect { var, .. } | Decision::Menu { var, .. }) => Some(var),
            _ => None,
        }
    }
}

/// A scenario compiled: its segments and where a call starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The scenario's name.
    pub scenario: String,
    /// What the request must provide for `verify`.
    pub secret: SecretKind,
    /// The request fields the scenario uses (names).
    pub fields: Vec<String>,
    /// The whole call's deadline, from originate to the end.
    pub max_duration: Duration,
    /// The segment a call is originated into.
    pub entry: SegmentId,
    /// Every segment.
    pub segments: Vec<Segment>,
}

impl Program {
    /// A segment by id.
    pub fn segment(&self, id: SegmentId) -> &Segment {
        &self.segments[id.0]
    }
}
