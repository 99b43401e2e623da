//! The arithmetic of an admission, from what is read under the scope's
//! lock: SQLite's runs it here; PostgreSQL's `arsgate_admit` function (V2
//! migration) does the same in the database, and the conformance suite
//! holds both to it.

use crate::domain::{AdmitCall, Timestamp};

/// When a call to the number may be admitted again, given the instants
/// (ascending) of its calls within the window: `None` if it may now.
pub fn velocity_refusal(admit: &AdmitCall, within_window: &[i64]) -> Option<Timestamp> {
    let (calls, window) = admit.velocity?;
    let calls = usize::try_from(calls).unwrap_or(usize::MAX);
    if within_window.len() < calls {
        return None;
    }
    // Once the oldest calls beyond the last `calls - 1` leave the window.
    let leaving = within_window[within_window.len() - calls];
    Some(Timestamp::from_millis(leaving).plus(window))
}

/// The start of the velocity window.
pub fn window_start(admit: &AdmitCall) -> Timestamp {
    let window = admit.velocity.map_or(std::time::Duration::ZERO, |(_, w)| w);
    Timestamp::from_millis(admit.now.millis().saturating_sub(duration_millis(window)))
}

/// Counted calls older than this serve neither limit any more.
pub fn prune_before(admit: &AdmitCall) -> Timestamp {
    window_start(admit).min(admit.day_start)
}

fn duration_millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
