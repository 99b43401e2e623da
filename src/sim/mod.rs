//! The FreeSWITCH simulator: a TCP server that speaks the Event Socket
//! protocol exactly as FreeSWITCH 1.10 does — reply texts verbatim, header
//! order, percent-encoding, byte-counted `Content-Length`, HEARTBEAT and
//! disconnect notices — so that every test of arsgate runs against real
//! protocol traffic, and so could run against a real FreeSWITCH by changing
//! an address.
//!
//! The simulator talks to the rest of arsgate only over TCP. Its time is
//! simulated ([`SimClock`]) and can run many times faster than real time.
//!
//! - [`server`]: [`Simulator::start`] and the [`SimHandle`] that controls a
//!   running simulator (faults included).
//! - `connection`: one event-socket connection (auth, commands, event flush).
//! - `subscription`, `bus`: which events each connection receives.
//! - `call`: channels — origination, applications, DTMF, teardown.
//! - [`dialplan`]: FreeSWITCH XML dialplan files, loaded and hunted.
//! - `api`: the API commands (`status`, `originate`, `uuid_*`, ...).
//! - [`phone`]: what the far end of each call does (scripted per number).
//! - `engine`, `sessions`, `heartbeat`: the switch's shared state, its
//!   admission limits and periodic events.
//! - `faults`: what tests break between the switch and its clients (a
//!   frozen process, a partition).

mod api;
mod bus;
mod call;
pub mod clock;
pub mod config;
mod connection;
pub mod dialplan;
mod engine;
mod faults;
mod heartbeat;
pub mod phone;
pub mod server;
mod sessions;
mod subscription;

pub use clock::SimClock;
pub use config::{DtmfTransport, Identity, SimConfig};
pub use server::{SimHandle, Simulator};
