//! The channel leases this process holds, for renewing them while their
//! calls live, and how long calls have held them, for queue estimates.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{LimitScope, VerificationId};

/// How long a call is assumed to hold its channel before any has ended.
pub const TYPICAL_HOLD: Duration = Duration::from_secs(20);

/// The weight of the latest hold time in the running average.
const SMOOTHING: f64 = 0.2;

/// Leases held here.
#[derive(Default)]
pub struct Held {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By holder: its scope and since when.
    leases: HashMap<VerificationId, (LimitScope, Instant)>,
    /// Per scope: the running average of hold times.
    average: HashMap<LimitScope, Duration>,
}

impl Held {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a lease just taken.
    pub fn hold(&self, scope: LimitScope, holder: VerificationId) {
        self.state().leases.insert(holder, (scope, Instant::now()));
    }

    /// Whether this process holds `holder`'s lease.
    pub fn holds(&self, holder: VerificationId) -> bool {
        self.state().leases.contains_key(&holder)
    }

    /// Forgets a lease given up; its scope, if it was held here.
    pub fn forget(&self, holder: VerificationId) -> Option<LimitScope> {
        let mut state = self.state();
        let (scope, since) = state.leases.remove(&holder)?;
        let held = since.elapsed();
        let average = state.average.entry(scope).or_insert(held);
        *average = average.mul_f64(1.0 - SMOOTHING) + held.mul_f64(SMOOTHING);
        Some(scope)
    }

    /// Every holder, for renewal.
    pub fn holders(&self) -> Vec<VerificationId> {
        self.state().leases.keys().copied().collect()
    }

    /// How long calls of `scope` have held their channels, on average.
    pub fn typical_hold(&self, scope: LimitScope) -> Duration {
        self.state()
            .average
            .get(&scope)
            .copied()
            .unwrap_or(TYPICAL_HOLD)
    }
}
