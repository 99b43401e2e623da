//! Merchants and their API keys.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ids::{ApiKeyId, MerchantId};
use super::time::Timestamp;

/// Whether a key (and what it creates) is live or sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Real calls through the configured FreeSWITCH nodes.
    Live,
    /// Sandbox: calls go to the built-in simulator.
    Test,
}

impl Mode {
    /// The mode's name (`live`, `test`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Test => "test",
        }
    }

    /// Reads a mode's name.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "live" => Some(Mode::Live),
            "test" => Some(Mode::Test),
            _ => None,
        }
    }
}

/// Per-merchant settings with defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantSettings {
    /// How long a code may be checked after the verification is created.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Wrong `check` attempts before the verification is locked.
    pub max_check_attempts: u32,
}

impl Default for MerchantSettings {
    fn default() -> MerchantSettings {
        MerchantSettings {
            code_ttl: Duration::from_secs(180),
            max_check_attempts: 5,
        }
    }
}

/// A merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// Its unique name.
    pub name: String,
    /// The secret its webhooks are signed with. `Debug` of the merchant
    /// shows it: keep merchants out of logs.
    pub webhook_secret: String,
    /// Its settings.
    pub settings: MerchantSettings,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An API key as stored: its public id, the hash of its secret part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public id (`key_...`), the first part of the key.
    pub id: ApiKeyId,
    /// Whose key it is.
    pub merchant_id: MerchantId,
    /// Live or sandbox.
    pub mode: Mode,
    /// SHA-256 (hex) of the whole key.
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}
