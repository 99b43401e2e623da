//! The Event Socket (ESL) wire protocol, inbound mode.
//!
//! This module is a self-contained ESL library: it knows frames, commands,
//! events and hangup causes, and nothing of scenarios, merchants or storage.
//!
//! - [`codec`]: the framing codec for both directions ([`ClientCodec`] reads
//!   FreeSWITCH's frames and writes commands; [`ServerCodec`] is the
//!   simulator's end).
//! - [`frame`], [`message`]: frames as received and what they mean.
//! - [`event`], [`event_name`], [`hangup_cause`], [`percent`]: events with
//!   lazily decoded headers, their names, FreeSWITCH's hangup causes and its
//!   URL encoding.
//! - [`command`]: commands (`api`, `bgapi`, `sendmsg` ...) as written on the wire.
//! - [`client`]: the client connection — authentication, commands, background
//!   jobs, subscriptions, liveness and reconnects.

pub mod client;
pub mod codec;
pub mod command;
pub mod event;
pub mod event_name;
pub mod frame;
pub mod hangup_cause;
pub mod headers;
pub mod message;
pub mod percent;
#[cfg(test)]
mod reference;

pub use client::{Client, ClientConfig, ConnectionState, EslError, Events};
pub use codec::{ClientCodec, FrameError, ServerCodec};
pub use command::{Command, EventFormat, SendMsg};
pub use event::{Event, EventError};
pub use event_name::EventName;
pub use frame::Frame;
pub use hangup_cause::HangupCause;
pub use headers::Headers;
pub use message::{Message, Reply};
