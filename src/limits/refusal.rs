//! Why a new call was refused by its merchant's plan, with when to retry.

use std::time::Duration;

use crate::store::StoreError;

/// Why the plan refused a new call.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// New calls come faster than the plan's calls per second.
    #[error("more than {cps} new calls per second (plan {plan:?})")]
    Rate {
        /// The plan.
        plan: String,
        /// Its calls per second.
        cps: u32,
        /// When one more would be allowed.
        retry_after: Duration,
    },
    /// Every channel of the plan is taken (and the queue, if it queues,
    /// is full).
    #[error("all {max_channels} channels of plan {plan:?} are in use")]
    Channels {
        /// The plan.
        plan: String,
        /// Its channels.
        max_channels: u32,
        /// A guess at when one frees up.
        retry_after: Duration,
    },
    /// Too many calls to this number within the plan's window.
    #[error("this number was called {calls} times within {window}; try again later")]
    Velocity {
        /// Calls allowed within the window.
        calls: u32,
        /// The window, in words (`10m`).
        window: String,
        /// When the oldest call leaves the window.
        retry_after: Duration,
    },
    /// The day's cap of calls is reached.
    #[error("the daily cap of {cap} calls (plan {plan:?}) is reached; it resets at midnight KST")]
    DailyCap {
        /// The plan.
        plan: String,
        /// Its cap.
        cap: u32,
        /// Until midnight in Korea.
        retry_after: Duration,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refusal {
    /// The stable code merchants branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Rate { .. } => "cps_limit",
            Refusal::Channels { .. } => "channel_limit",
            Refusal::Velocity { .. } => "velocity_limit",
            Refusal::DailyCap { .. } => "daily_cap",
            Refusal::Store(_) => "store_unavailable",
        }
    }

    /// When to try again, rounded up to whole seconds (at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        let wait = match self {
            Refusal::Rate { retry_after, .. }
            | Refusal::Channels { retry_after, .. }
            | Refusal::Velocity { retry_after, .. }
            | Refusal::DailyCap { retry_after, .. } => *retry_after,
            Refusal::Store(_) => return None,
        };
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(seconds.max(1))
    }
}
