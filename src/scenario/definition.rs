//! A scenario once validated: every id resolved to a step index, every
//! default filled in, every prompt known. [`compile`](super::compile) turns
//! it into a [`Program`](super::Program) without any further checks.

use std::time::Duration;

use super::fields::FieldSpec;
use super::model::RecordAction;
use super::outcome::Outcome;
use super::program::{LocalizedText, SecretKind};

/// A validated scenario definition (see `config/scenarios/README.md`).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) secret: SecretKind,
    pub(crate) fields: Vec<FieldSpec>,
    pub(crate) max_duration: Duration,
    pub(crate) steps: Vec<Step>,
}

impl Scenario {
    /// The scenario's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its one-line description.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// What a request for it must provide to verify against.
    pub fn secret(&self) -> SecretKind {
        self.secret
    }

    /// The request fields its texts use, with their rules.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }
}

/// One step, with its optional id.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub id: Option<String>,
    pub kind: StepKind,
}

/// What a step does.
#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    /// Play prompts, one after the other.
    Play(Vec<String>),
    /// Read the verification's code digit by digit.
    SayCode,
    /// Speak a text built from request fields.
    Speak(LocalizedText),
    /// Start or stop recording the call.
    Record(RecordAction),
    /// Collect digits.
    Collect(Box<Collect>),
    /// Offer a one-key menu.
    Menu(Box<Menu>),
    /// Judge the digits of the collect step right before.
    Verify(Box<Check>),
    /// Continue at a step.
    Goto(usize),
    /// End the call with an outcome.
    Result(Outcome),
}

impl StepKind {
    /// Whether the step reads data the controller sets per call.
    pub fn needs_call_data(&self) -> bool {
        matches!(
            self,
            StepKind::SayCode | StepKind::Speak(_) | StepKind::Record(_)
        )
    }

    /// Whether the step may close a call: it can share the segment of the
    /// `result` that follows it.
    pub fn is_closing(&self) -> bool {
        matches!(
            self,
            StepKind::Play(_) | StepKind::Speak(_) | StepKind::Record(RecordAction::Stop)
        )
    }
}

/// A `collect` step, defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Collect {
    pub min: u32,
    pub max: u32,
    pub tries: u32,
    pub timeout: Duration,
    pub digit_timeout: Duration,
    /// As `play_and_get_digits` takes them: `#`, `*#` or `none`.
    pub terminators: String,
    pub regex: String,
    pub prompt: Vec<String>,
    /// Empty: a short silence.
    pub invalid: Vec<String>,
    pub no_input: Target,
    pub invalid_input: Target,
}

/// A `menu` step, defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Menu {
    pub tries: u32,
    pub timeout: Duration,
    pub prompt: Vec<String>,
    /// Empty: a short silence.
    pub invalid: Vec<String>,
    pub options: Vec<(char, Target)>,
    pub no_input: Target,
    pub invalid_input: Target,
}

/// A `verify` step; its input is the collect step right before it.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub against: SecretKind,
    pub attempts: u32,
    pub wrong: Target,
    pub exhausted: Target,
}

/// Where a branch leads, after its inline steps.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub record_stop: bool,
    pub play: Vec<String>,
    pub speak: Option<LocalizedText>,
    pub then: Then,
}

impl Target {
    /// A target with no inline steps.
    pub fn bare(then: Then) -> Target {
        Target {
            record_stop: false,
            play: Vec::new(),
            speak: None,
            then,
        }
    }

    /// Whether it runs anything before its `goto` or `result`.
    pub fn has_inline_steps(&self) -> bool {
        self.record_stop || !self.play.is_empty() || self.speak.is_some()
    }
}

/// How a target ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Continue at the step with this index.
    Goto(usize),
    /// End the call.
    Result(Outcome),
}
