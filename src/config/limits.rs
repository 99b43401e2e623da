//! The `limits:` section: the plans merchants are on, which merchant is on
//! which, and how long a channel lease lives without being renewed.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The name of the plan a configuration without a `limits:` section has.
pub const BUILT_IN_PLAN: &str = "default";

/// The `limits:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The plan of every merchant not named in `merchants`. Default
    /// `default`.
    pub default_plan: String,
    /// The plans, by name. Default: one plan, `default`, with the
    /// defaults of [`PlanConfig`].
    pub plans: BTreeMap<String, PlanConfig>,
    /// Plans assigned by merchant name (`acme: gold`).
    pub merchants: BTreeMap<String, String>,
    /// How long a channel lease lasts unless the arsgate holding it renews
    /// it (it does, every third of this, while the call lives). A crashed
    /// arsgate's leases are reclaimed this long after its last renewal.
    /// Default `60s`.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            default_plan: BUILT_IN_PLAN.to_owned(),
            plans: BTreeMap::from([(BUILT_IN_PLAN.to_owned(), PlanConfig::default())]),
            merchants: BTreeMap::new(),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

/// One plan (a pricing tier of the brochure: channels and recording).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanConfig {
    /// Calls of one merchant live at once (per mode: sandbox calls never
    /// use up live channels). Default `100`.
    pub max_channels: NonZeroU32,
    /// New calls per second. Default `50`.
    pub cps: NonZeroU32,
    /// At most this many calls to one number per window (anti-abuse).
    /// Default: none.
    pub velocity: Option<VelocityConfig>,
    /// At most this many calls per day (Korean Standard Time). Default:
    /// none.
    pub daily_cap: Option<NonZeroU32>,
    /// Whether scenarios that record the call (`consent_record`) may run.
    /// Default `true`.
    pub recording: bool,
    /// What a new call meets when every channel is taken. Default
    /// `reject`.
    pub at_limit: AtLimit,
    /// How long a queued call waits for a channel before it ends with
    /// `timeout`. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Calls queued at once per merchant (in one arsgate); past it new
    /// calls are refused as with `reject`. Default `100`.
    pub max_queue: u32,
}

impl Default for PlanConfig {
    fn default() -> PlanConfig {
        PlanConfig {
            max_channels: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            cps: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            velocity: None,
            daily_cap: None,
            recording: true,
            at_limit: AtLimit::Reject,
            queue_timeout: Duration::from_secs(30),
            max_queue: 100,
        }
    }
}

/// The per-number limit: `calls` within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VelocityConfig {
    /// Calls allowed to one number within the window.
    pub calls: NonZeroU32,
    /// The sliding window (`10m`).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

/// What happens to a new call when the merchant's channels are all taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtLimit {
    /// It waits (first come, first served) up to `queue_timeout`.
    Queue,
    /// It is refused: `429 channel_limit`.
    Reject,
}

impl AtLimit {
    /// Its name in the configuration and the API (`queue`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            AtLimit::Queue => "queue",
            AtLimit::Reject => "reject",
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        let missing = |field: String, plan: &str| ValidationError::UnknownPlan {
            field,
            plan: plan.to_owned(),
        };
        if !self.plans.contains_key(&self.default_plan) {
            return Err(missing(
                "limits.default_plan".to_owned(),
                &self.default_plan,
            ));
        }
        for (merchant, plan) in &self.merchants {
            if !self.plans.contains_key(plan) {
                return Err(missing(format!("limits.merchants.{merchant}"), plan));
            }
        }
        if self.lease_ttl < Duration::from_secs(1) {
            return Err(ValidationError::ShortLease(self.lease_ttl));
        }
        for (name, plan) in &self.plans {
            if plan.velocity.is_some_and(|v| v.window.is_zero()) {
                return Err(ValidationError::ZeroPlanDuration {
                    field: format!("limits.plans.{name}.velocity.window"),
                });
            }
            if plan.queue_timeout.is_zero() {
                return Err(ValidationError::ZeroPlanDuration {
                    field: format!("limits.plans.{name}.queue_timeout"),
                });
            }
        }
        Ok(())
    }
}
