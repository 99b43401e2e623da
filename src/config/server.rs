//! The sections of a running server: its HTTP connections, where its data
//! lives, its store, its secret, the sandbox, webhooks and shutdown.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{Secret, ValidationError};

/// The `http:` section: how long a client may take to send a request.
/// Without these limits a client that sends half a request and stops holds
/// a connection (and a descriptor) forever.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time allowed for a request's line and headers, from the first byte
    /// (or, between requests of a kept-alive connection, from the end of
    /// the previous response); then the connection is closed without an
    /// answer. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time allowed for a whole request, its body read and its answer
    /// made; then it is answered `408 request_timeout` and the connection
    /// closed. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How often an event stream (`/v1/verifications/{id}/events`) that
    /// has nothing to say sends a comment, so that proxies and clients do
    /// not take a quiet call for a dead connection. Default `15s`.
    #[serde(with = "humantime_serde")]
    pub events_heartbeat: Duration,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            events_heartbeat: Duration::from_secs(15),
        }
    }
}

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        if self.header_read_timeout.is_zero() {
            return Err(ValidationError::ZeroDuration {
                field: "http.header_read_timeout",
            });
        }
        if self.request_timeout.is_zero() {
            return Err(ValidationError::ZeroDuration {
                field: "http.request_timeout",
            });
        }
        if self.events_heartbeat.is_zero() {
            return Err(ValidationError::ZeroDuration {
                field: "http.events_heartbeat",
            });
        }
        Ok(())
    }
}

/// The `store:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:<path>` or a `postgres://` URL (with libpq's `sslmode` and
    /// `sslrootcert`). Default `sqlite:<data_dir>/arsgate.db`.
    pub url: Option<Secret>,
    /// How long `serve` waits at startup for a store that cannot be
    /// reached yet (a database started at the same time), trying again
    /// with back-off; `0s` tries once. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub startup_wait: Duration,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            url: None,
            startup_wait: Duration::from_secs(60),
        }
    }
}

/// The `sandbox:` section: where test keys' calls go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Whether test keys work at all. Default `true`.
    pub enabled: bool,
    /// The sandbox's phones (magic numbers). Default
    /// `config/sim-phones.yaml`, else the built-in copy.
    pub phones: PathBuf,
    /// How much faster than real time the sandbox's calls run. Default `1`.
    pub speed: f64,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            enabled: true,
            phones: PathBuf::from("config/sim-phones.yaml"),
            speed: 1.0,
        }
    }
}

/// The `shutdown:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long live calls may go on after SIGTERM before they are ended.
    /// Default `30s`.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> ShutdownConfig {
        ShutdownConfig {
            grace: Duration::from_secs(30),
        }
    }
}

/// The `webhooks:` section: how the outbox delivers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Time allowed for one POST. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a webhook is retried before it is dead. Default `24h`.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
    /// The wait after the first failure, doubling after each. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub first_retry: Duration,
    /// The longest wait between two attempts. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Deliveries posted at once. Default `16`.
    pub concurrency: u32,
    /// How often the outbox is checked for retries falling due and for
    /// webhooks queued by other replicas. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Networks (CIDR: `10.20.0.0/16`, `127.0.0.1/32`, `::1/128`) webhooks
    /// may reach although they are internal: loopback, private, link-local,
    /// unique-local, metadata... By default none: webhooks go to public
    /// addresses only.
    pub allow_networks: Vec<IpNet>,
    /// Whether webhooks may go to public addresses. Default `true`; a
    /// sandbox or test server sets `false` so that no request it serves
    /// makes it post outside `allow_networks`.
    pub allow_public: bool,
    /// Redeliveries (`POST /v1/webhooks/deliveries/{id}/redeliver`) one
    /// merchant may ask for per minute, in bursts of as many. Default `30`.
    pub redeliveries_per_minute: NonZeroU32,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        let worker = crate::webhook::WorkerSettings::default();
        WebhooksConfig {
            timeout: worker.timeout,
            retry_for: worker.retry_for,
            first_retry: worker.first_retry,
            max_delay: worker.max_delay,
            concurrency: worker.concurrency,
            poll_interval: worker.poll,
            allow_networks: Vec::new(),
            allow_public: true,
            redeliveries_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
        }
    }
}

impl WebhooksConfig {
    /// The worker's settings.
    pub fn worker(&self) -> crate::webhook::WorkerSettings {
        crate::webhook::WorkerSettings {
            timeout: self.timeout,
            retry_for: self.retry_for,
            first_retry: self.first_retry,
            max_delay: self.max_delay,
            concurrency: self.concurrency,
            poll: self.poll_interval,
            egress: self.egress(),
        }
    }

    /// Where webhooks may go.
    pub fn egress(&self) -> crate::webhook::Egress {
        if self.allow_public {
            crate::webhook::Egress::new(self.allow_networks.clone())
        } else {
            crate::webhook::Egress::only(self.allow_networks.clone())
        }
    }
}

/// The shortest server secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

pub(super) fn validate(
    secret: Option<&Secret>,
    sandbox: &SandboxConfig,
) -> Result<(), ValidationError> {
    if secret.is_some_and(|s| s.expose().len() < MIN_SECRET_BYTES) {
        return Err(ValidationError::ShortSecret);
    }
    if !(sandbox.speed.is_finite() && (0.1..=1000.0).contains(&sandbox.speed)) {
        return Err(ValidationError::SandboxSpeed(sandbox.speed));
    }
    Ok(())
}
