//! Session accounting and FreeSWITCH's admission limits: `max-sessions`,
//! `sessions-per-second` and `fsctl pause`.
//!
//! The per-second budget works as in the core: every simulated second it is
//! refilled from the configured rate; each new session takes one *before* the
//! check and is refused when the budget has reached zero, so at most N−1 new
//! sessions get through per second. `fsctl sps` changes the rate, which takes
//! effect at the next refill.

use std::sync::{Mutex, MutexGuard};

/// Why a new session was refused (FreeSWITCH reports all of these as
/// `DESTINATION_OUT_OF_ORDER` for a sofia originate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max-sessions` reached ("Over Session Limit").
    OverLimit,
    /// The per-second budget is spent ("Throttle Error").
    Throttled,
    /// New sessions are paused (`fsctl pause`).
    Paused,
}

/// A snapshot of the counters `status` and HEARTBEAT report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionStats {
    pub current: u32,
    pub since_startup: u64,
    pub peak: u32,
    pub max_sessions: u32,
    pub sessions_per_second: u32,
    pub last_second: u32,
    pub peak_per_second: u32,
}

#[derive(Debug)]
struct State {
    stats: SessionStats,
    budget: i64,
    this_second: u32,
    paused: bool,
}

/// The switch's session counters and limits.
#[derive(Debug)]
pub(crate) struct Sessions {
    state: Mutex<State>,
}

impl Sessions {
    pub fn new(max_sessions: u32, sessions_per_second: u32) -> Sessions {
        Sessions {
            state: Mutex::new(State {
                stats: SessionStats {
                    current: 0,
                    since_startup: 0,
                    peak: 0,
                    max_sessions,
                    sessions_per_second,
                    last_second: 0,
                    peak_per_second: 0,
                },
                budget: i64::from(sessions_per_second),
                this_second: 0,
                paused: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new session or says why not.
    pub fn admit(&self) -> Result<(), Refusal> {
        let mut state = self.state();
        if state.paused {
            return Err(Refusal::Paused);
        }
        if state.stats.current >= state.stats.max_sessions {
            return Err(Refusal::OverLimit);
        }
        state.budget -= 1;
        if state.budget <= 0 {
            return Err(Refusal::Throttled);
        }
        let stats = &mut state.stats;
        stats.current += 1;
        stats.since_startup += 1;
        stats.peak = stats.peak.max(stats.current);
        state.this_second += 1;
        Ok(())
    }

    /// A session ended.
    pub fn release(&self) {
        let mut state = self.state();
        state.stats.current = state.stats.current.saturating_sub(1);
    }

    /// The one-second tick: refills the budget, rolls the per-second count.
    pub fn tick(&self) {
        let mut state = self.state();
        state.budget = i64::from(state.stats.sessions_per_second);
        state.stats.last_second = state.this_second;
        state.stats.peak_per_second = state.stats.peak_per_second.max(state.this_second);
        state.this_second = 0;
    }

    /// The counters now.
    pub fn stats(&self) -> SessionStats {
        self.state().stats
    }

    /// `fsctl max_sessions [n]`: sets the limit when given; returns it.
    pub fn set_max_sessions(&self, value: Option<u32>) -> u32 {
        let mut state = self.state();
        if let Some(value) = value {
            state.stats.max_sessions = value;
        }
        state.stats.max_sessions
    }

    /// `fsctl sps [n]`: sets the per-second rate when given; returns it.
    pub fn set_sessions_per_second(&self, value: Option<u32>) -> u32 {
        let mut state = self.state();
        if let Some(value) = value {
            state.stats.sessions_per_second = value;
        }
        state.stats.sessions_per_second
    }

    /// `fsctl pause` / `fsctl resume`.
    pub fn set_paused(&self, paused: bool) {
        self.state().paused = paused;
    }

    /// Forgets every session (a restart).
    pub fn reset(&self) {
        let mut state = self.state();
        state.stats.current = 0;
        state.stats.since_startup = 0;
        state.stats.peak = 0;
        state.this_second = 0;
        state.paused = false;
        state.budget = i64::from(state.stats.sessions_per_second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sps_admits_one_less_than_the_rate_per_second() {
        let sessions = Sessions::new(1000, 2);
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
        sessions.tick();
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.stats().current, 2);
    }

    #[test]
    fn a_rate_of_one_refuses_everything() {
        let sessions = Sessions::new(1000, 1);
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
    }

    #[test]
    fn a_new_rate_waits_for_the_next_tick() {
        let sessions = Sessions::new(1000, 30);
        sessions.set_sessions_per_second(Some(1));
        assert_eq!(sessions.admit(), Ok(()), "the old budget is still running");
        sessions.tick();
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
    }

    #[test]
    fn max_sessions_and_pause() {
        let sessions = Sessions::new(1, 30);
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.admit(), Err(Refusal::OverLimit));
        sessions.release();
        sessions.set_paused(true);
        assert_eq!(sessions.admit(), Err(Refusal::Paused));
        sessions.set_paused(false);
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.stats().since_startup, 2);
        assert_eq!(sessions.stats().peak, 1);
    }
}
