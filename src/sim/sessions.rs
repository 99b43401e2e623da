//! Session accounting and FreeSWITCH's admission limits: `max-sessions`,
//! `sessions-per-second` and `fsctl pause`.
//!
//! The per-second budget works as in the core: every simulated second it is
//! refilled from the configured rate; each new session takes one *before* the
//! check and is refused when the budget has reached zero, so at most N−1 new
//! sessions get through per second. `fsctl sps` changes the rate, which takes
//! effect at the next refill.
//!
//! The refills fall on whole simulated seconds since the start, as the
//! core's timer ticks do. They are applied when the counters are next
//! looked at rather than by a task of their own, so a busy machine that
//! runs a task late cannot move them.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::clock::SimClock;

/// How often the per-second budget is refilled.
const TICK: Duration = Duration::from_secs(1);

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
    /// When the next refill is due, simulated µs since the epoch.
    next_tick: u64,
}

impl State {
    /// Applies the refills due by `now`.
    fn catch_up(&mut self, now: u64) {
        let tick = TICK.as_micros() as u64;
        if now < self.next_tick {
            return;
        }
        let ticks = (now - self.next_tick) / tick + 1;
        self.budget = i64::from(self.stats.sessions_per_second);
        self.stats.peak_per_second = self.stats.peak_per_second.max(self.this_second);
        // A second without new sessions in between leaves the last count at 0.
        self.stats.last_second = if ticks == 1 { self.this_second } else { 0 };
        self.this_second = 0;
        self.next_tick += ticks * tick;
    }
}

/// The switch's session counters and limits.
#[derive(Debug)]
pub(crate) struct Sessions {
    state: Mutex<State>,
    clock: SimClock,
}

impl Sessions {
    pub fn new(max_sessions: u32, sessions_per_second: u32, clock: SimClock) -> Sessions {
        let next_tick = clock.now_micros() + TICK.as_micros() as u64;
        Sessions {
            clock,
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
                next_tick,
            }),
        }
    }

    /// The counters, with the refills due by now applied.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.catch_up(self.clock.now_micros());
        state
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
        state.next_tick = self.clock.now_micros() + TICK.as_micros() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions on a paused clock running at real speed.
    fn sessions(max: u32, rate: u32) -> Sessions {
        Sessions::new(max, rate, SimClock::new(1.0))
    }

    async fn next_second() {
        tokio::time::advance(TICK).await;
    }

    #[tokio::test(start_paused = true)]
    async fn sps_admits_one_less_than_the_rate_per_second() {
        let sessions = sessions(1000, 2);
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
        next_second().await;
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.stats().current, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_of_one_refuses_everything() {
        assert_eq!(sessions(1000, 1).admit(), Err(Refusal::Throttled));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_rate_waits_for_the_next_tick() {
        let sessions = sessions(1000, 30);
        sessions.set_sessions_per_second(Some(1));
        assert_eq!(sessions.admit(), Ok(()), "the old budget is still running");
        next_second().await;
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
    }

    #[tokio::test(start_paused = true)]
    async fn refills_fall_on_whole_seconds_from_the_start() {
        let sessions = sessions(1000, 2);
        tokio::time::advance(Duration::from_millis(900)).await;
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.admit(), Err(Refusal::Throttled));
        // 1.1 s: the refill at 1.0 s came, although nothing ran at 1.0 s.
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(sessions.admit(), Ok(()));
        assert_eq!(sessions.stats().last_second, 1);
        // 3.5 s: two refills later, the second before saw no session.
        tokio::time::advance(Duration::from_millis(2400)).await;
        assert_eq!(sessions.stats().last_second, 0);
        assert_eq!(sessions.stats().peak_per_second, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn max_sessions_and_pause() {
        let sessions = sessions(1, 30);
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
