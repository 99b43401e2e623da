//! What the store keeps for the limits: channel leases and the calls
//! admitted, counted per merchant and mode.

use std::time::Duration;

use super::ids::{MerchantId, VerificationId};
use super::merchant::Mode;
use super::time::Timestamp;

/// Whose limits: one merchant's calls of one mode (sandbox calls never use
/// up live channels, nor live calls the sandbox's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitScope {
    /// The merchant.
    pub merchant: MerchantId,
    /// The mode.
    pub mode: Mode,
}

/// A new call to admit, checked against the limits of its scope and
/// counted in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitCall {
    /// Whose call.
    pub scope: LimitScope,
    /// The number called (E.164), for the velocity limit.
    pub phone: String,
    /// Now.
    pub now: Timestamp,
    /// The start of the current day, for the daily cap.
    pub day_start: Timestamp,
    /// At most this many calls to the number within a window.
    pub velocity: Option<(u32, Duration)>,
    /// At most this many calls since `day_start`.
    pub daily_cap: Option<u32>,
    /// A channel lease to take with it, if any.
    pub lease: Option<LeaseTerms>,
}

/// A channel lease to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// The verification that will hold it.
    pub holder: VerificationId,
    /// The scope's channels: the lease is taken only while fewer leases
    /// are live.
    pub max_channels: u32,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
    /// Whether the call is refused without it (else it is admitted
    /// without a lease, to wait for one).
    pub required: bool,
}

/// What [`AdmitCall`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted and counted; `leased` says whether it took its lease.
    Admitted {
        /// Whether the lease was taken.
        leased: bool,
    },
    /// Too many calls to the number in the window; one more is allowed at
    /// `retry_at`.
    Velocity {
        /// When the oldest call in the window leaves it.
        retry_at: Timestamp,
    },
    /// The day's cap is reached.
    DailyCap,
    /// Every channel is taken and the lease was required.
    ChannelsFull,
}

/// A scope's usage as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitUsage {
    /// Leases live now (not expired).
    pub live_channels: u32,
    /// Calls admitted since the start of the day.
    pub calls_today: u32,
}
