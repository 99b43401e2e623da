//! arsgate: the control plane of a phone (ARS) authentication service.
//!
//! Merchants ask over REST for a customer's phone to be verified; arsgate places
//! the call through a FreeSWITCH cluster that it drives over the Event Socket,
//! runs the authentication scenario on the call, decides the outcome and tells
//! the merchant through a signed webhook.
//!
//! Modules, one concern each:
//! - [`esl`]: the Event Socket wire protocol — framing codec, events, hangup
//!   causes and the client connection. Knows nothing of scenarios or merchants.
//! - [`sim`]: a FreeSWITCH simulator that speaks ESL over TCP exactly as
//!   FreeSWITCH does, with a scripted phone model and an XML dialplan runner.
//!   It powers the test suite, the sandbox and the demo.
//! - [`sandbox`]: the in-process simulator that carries test keys' calls.
//! - [`scenario`]: authentication scenarios — definitions, generated
//!   dialplan, the per-call controller and its outcomes.
//! - [`switch`]: the switches calls go through (FreeSWITCH today), behind a
//!   small backend interface; safe originate strings.
//! - [`limits`]: plans — channel leases, calls per second, per-number
//!   velocity, daily caps, the queue for a channel.
//! - [`metrics`]: the Prometheus metrics at `/metrics`, named in one
//!   catalog.
//! - [`webhook`]: signed webhooks from a durable outbox, with retries.
//! - [`domain`]: phone numbers, ids, and the records arsgate keeps.
//! - [`server`]: a running arsgate assembled from its configuration.
//! - [`service`]: the verification service — requests checked, calls run,
//!   records kept, webhooks queued, restarts recovered.
//! - [`store`]: durable state (SQLite embedded, PostgreSQL for clusters).
//! - [`api`]: the merchant REST API (axum), its errors and OpenAPI document.
//! - [`config`]: the YAML configuration with environment overrides.
//! - [`assets`]: the scenarios, prompts and sandbox phones built into the
//!   binary.
//! - [`cli`]: what the `arsgate` binary's subcommands do.

#![warn(missing_docs)]

pub mod api;
pub mod assets;
pub mod cli;
pub mod config;
pub mod domain;
pub mod esl;
pub mod limits;
pub mod metrics;
pub mod sandbox;
pub mod scenario;
pub mod server;
pub mod service;
pub mod sim;
pub mod store;
pub mod switch;
pub mod webhook;
