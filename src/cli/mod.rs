//! What the `arsgate` binary's subcommands do. `src/main.rs` only parses
//! the command line and calls into here, so each command can be tested as a
//! library function.
//!
//! - [`sim`]: `arsgate sim`, the FreeSWITCH simulator as a standalone server.
//! - [`esl`]: `arsgate esl`, a small fs_cli for engineers.
//! - [`scenarios`]: `arsgate scenarios check`, the scenario validator.
//! - [`dialplan`]: `arsgate dialplan render`, scenarios to XML dialplan.
//! - [`serve`]: `arsgate serve`, the real service.
//! - [`demo`]: `arsgate demo`, everything in one process, walking A–F.
//! - [`init`]: `arsgate init`, the files an installation edits, out of the
//!   binary.
//! - [`keys`]: `arsgate keys create|list|revoke`, API keys for merchants.
//! - [`loadtest`]: `arsgate loadtest`, the load benchmark.
//! - [`merchants`]: `arsgate merchants list|show|set`, merchants and their
//!   settings.
//! - [`nodes`]: `arsgate nodes status|drain|resume`, through a running
//!   server's admin API.
//! - [`config_check`]: `arsgate config check`, what a start would check,
//!   without serving.
//! - [`config_file`]: the configuration file and the `ARSGATE_...`
//!   variables every command reads alike.
//! - [`logging`]: tracing setup shared by every command.

pub mod config_check;
pub mod config_file;
pub mod demo;
mod demo_webhooks;
pub mod dialplan;
pub mod esl;
pub mod init;
pub mod keys;
pub mod loadtest;
pub mod logging;
pub mod merchants;
pub mod nodes;
pub mod scenarios;
pub mod serve;
pub mod sim;
mod table;
