//! Authentication scenarios: their definitions, the dialplan they compile
//! to, and the per-call controller that drives them.
//!
//! A scenario is a YAML file under `config/scenarios/` (the schema is in
//! that folder's README). [`load_dir`] reads and validates the files,
//! [`compile`] turns each into a [`Program`], and [`render`] writes the
//! programs as FreeSWITCH XML dialplan.
//!
//! - [`catalog`]: the scenarios a running arsgate offers, compiled.
//! - [`controller`]: drives one call through a program to its outcome.
//! - [`outcome`]: how a call ends, and the hangup-cause table.
//! - [`mark`]: a call's place in its scenario, kept on its channel so
//!   that a restarted arsgate can take the call over.
//! - [`timeline`]: what happened to a call and when (never the digits).
//! - [`program`]: a scenario compiled into dialplan segments and the
//!   decisions the controller takes between them.
//! - [`secret`]: codes and PINs as digests and hashes, compared in constant
//!   time.
//! - [`birthdate`]: birth dates as per-verification digests, compared in
//!   constant time.
//! - [`fields`]: request fields and the texts built from them.
//! - [`prompts`]: the prompts the sounds manifest provides.
//! - [`load`]: reading and validating scenario files.
//! - [`compile`]: scenario to program.
//! - [`render`]: programs to XML dialplan.

pub mod birthdate;
pub mod catalog;
pub mod compile;
pub mod controller;
mod definition;
pub mod fields;
mod flow;
pub mod load;
pub mod mark;
mod model;
pub mod outcome;
mod problem;
pub mod program;
pub mod prompts;
pub mod render;
pub mod secret;
pub mod timeline;
mod validate;

pub use catalog::{Catalog, CatalogChanges, Runnable};
pub use compile::compile;
pub use definition::Scenario;
pub use fields::{FieldError, FieldSpec};
pub use load::{load_dir, load_file};
pub use outcome::Outcome;
pub use problem::{Problem, Problems, StepRef};
pub use program::{
    Decision, DialplanAction, Dynamic, End, Language, LocalizedText, Program, SecretKind, Segment,
    SegmentId, Verify,
};
pub use prompts::PromptCatalog;
pub use render::render;
