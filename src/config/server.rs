//! The sections of a running server: where its data lives, its store, its
//! secret, the sandbox, webhooks and shutdown.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Secret, ValidationError};

/// The `store:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:<path>` or a `postgres://` URL. Default
    /// `sqlite:<data_dir>/arsgate.db`.
    pub url: Option<Secret>,
}

/// The `sandbox:` section: where test keys' calls go.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
