//! Authentication scenarios: their definitions, the dialplan they compile
//! to, and the per-call controller that drives them.
//!
//! - [`outcome`]: how a call ends, and the hangup-cause table.
//! - [`program`]: a scenario compiled into dialplan segments and the
//!   decisions the controller takes between them.

pub mod outcome;
pub mod program;

pub use outcome::Outcome;
pub use program::{
    Decision, DialplanAction, Dynamic, End, Language, LocalizedText, Program, SecretKind, Segment,
    SegmentId, Verify,
};
