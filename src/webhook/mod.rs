//! Webhooks: every final outcome (and the answer, when asked) is posted to
//! the verification's `callback_url`, signed, from a durable outbox, with
//! retries for 24 hours before a delivery is declared dead (and listed as
//! such by the API).
//!
//! - [`signature`]: `Arsgate-Signature`, made and checked.
//! - [`worker`]: the outbox worker.
//! - [`backoff`]: when a failed delivery is tried again.
//! - [`egress`]: where webhooks may go (public addresses, and the networks
//!   the operator allows).

pub mod backoff;
pub mod egress;
pub mod signature;
pub mod worker;

pub use egress::Egress;
pub use worker::WorkerSettings;
