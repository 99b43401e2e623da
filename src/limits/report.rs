//! What a merchant sees of its plan: the limits, its usage, and where a
//! queued call stands.

use serde::Serialize;
use utoipa::ToSchema;

/// A merchant's plan and its current usage, for the key's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitsReport {
    /// The plan's name.
    #[schema(example = "standard")]
    pub plan: String,
    /// `live`, or `test` for the sandbox (each mode has its own channels
    /// and counts).
    #[schema(example = "live")]
    pub mode: &'static str,
    /// Calls live at once.
    pub max_channels: u32,
    /// New calls per second.
    pub cps: u32,
    /// Calls to one number allowed per window; absent if unlimited.
    pub velocity: Option<VelocityView>,
    /// Calls per day (Korean Standard Time); absent if unlimited.
    pub daily_cap: Option<u32>,
    /// Whether recording scenarios (`consent_record`) may run.
    pub recording: bool,
    /// At the channel limit: `queue` (wait up to `queue_timeout_seconds`)
    /// or `reject` (`429 channel_limit`).
    #[schema(example = "queue")]
    pub at_limit: &'static str,
    /// How long a queued call waits for a channel.
    pub queue_timeout_seconds: u64,
    /// Usage now.
    pub usage: UsageNow,
}

/// The per-number limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct VelocityView {
    /// Calls allowed to one number within the window.
    pub calls: u32,
    /// The window in seconds.
    pub window_seconds: u64,
}

/// A merchant's usage now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageNow {
    /// Channels held by live calls, across every arsgate replica.
    pub live_channels: u32,
    /// Calls admitted today (Korean Standard Time).
    pub calls_today: u32,
    /// Calls waiting for a channel (in the arsgate that answered).
    pub queue_depth: u32,
}

/// Where a queued verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueueView {
    /// 1 when it is next.
    pub position: u32,
    /// Estimated seconds until its call is placed (from how long recent
    /// calls held their channels).
    pub eta_seconds: u64,
}
