//! Authentication scenarios: their definitions, the dialplan they compile
//! to, and the per-call controller that drives them.
//!
//! - [`controller`]: drives one call through a program to its outcome.
//! - [`outcome`]: how a call ends, and the hangup-cause table.
//! - [`timeline`]: what happened to a call and when (never the digits).
//! - [`program`]: a scenario compiled into dialplan segments and the
//!   decisions the controller takes between them.
//! - [`secret`]: codes and PINs as digests and hashes, compared in constant
//!   time.

pub mod controller;
pub mod outcome;
pub mod program;
pub mod secret;
pub mod timeline;

pub use outcome::Outcome;
pub use program::{
    Decision, DialplanAction, Dynamic, End, Language, LocalizedText, Program, SecretKind, Segment,
    SegmentId, Verify,
};
