//! The reconnect delay: exponential, capped, with proportional jitter.

use std::time::Duration;

/// The shortest delay ever used: a zero delay would turn a refused connect
/// into a busy loop.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// Delays between reconnect attempts.
///
/// Attempt `n` (from 0) waits `base = min(initial × 2ⁿ, max)` shortened by a
/// random fraction of at most `jitter × base`, so the delay lies uniformly in
/// `[base × (1 − jitter), base]`. Proportional rather than full jitter: a
/// node that is back up is reached again within the same order of time, yet
/// clients dropped together (a FreeSWITCH restart) spread their reconnects,
/// and `max` stays a hard ceiling.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, jitter: f64) -> Backoff {
        let initial = initial.max(MIN_DELAY);
        Backoff {
            initial,
            max: max.max(initial),
            jitter: if jitter.is_finite() {
                jitter.clamp(0.0, 1.0)
            } else {
                0.0
            },
            attempt: 0,
        }
    }

    /// The next delay, and one step further up the curve.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.delay_with(rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Back to the initial delay (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Straight to the ceiling: for failures only a configuration change
    /// can fix (wrong password, ACL), where hammering FreeSWITCH helps no one.
    pub(crate) fn saturate(&mut self) {
        self.attempt = u32::MAX;
    }

    /// The delay of the current attempt for a random draw `unit` in `[0, 1)`.
    fn delay_with(&self, unit: f64) -> Duration {
        // 2^31 × any sane initial delay is past any ceiling; capping the
        // exponent keeps the multiplication from overflowing.
        let factor = 1u32 << self.attempt.min(31);
        let base = self.initial.saturating_mul(factor).min(self.max);
        let scaled = base.as_secs_f64() * (1.0 - self.jitter * unit.clamp(0.0, 1.0));
        Duration::try_from_secs_f64(scaled)
            .map_or(base, |delay| delay.min(base))
            .max(MIN_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_from_initial_up_to_the_ceiling() {
        let mut backoff = Backoff::new(ms(500), ms(30_000), 0.0);
        let delays: Vec<_> = (0..9).map(|_| backoff.next_delay()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000].map(ms)
        );
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let backoff = Backoff::new(ms(1000), ms(30_000), 0.2);
        assert_eq!(backoff.delay_with(0.0), ms(1000));
        assert_eq!(backoff.delay_with(0.5), ms(900));
        assert_eq!(backoff.delay_with(1.0), ms(800));
        let mut random = Backoff::new(ms(1000), ms(1000), 0.2);
        for _ in 0..100 {
            let delay = random.next_delay();
            assert!(delay >= ms(800) && delay <= ms(1000), "{delay:?}");
        }
    }

    #[test]
    fn reset_and_saturate_move_along_the_curve() {
        let mut backoff = Backoff::new(ms(100), ms(5000), 0.0);
        backoff.next_delay();
        backoff.next_delay();
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(100));
        backoff.saturate();
        assert_eq!(backoff.next_delay(), ms(5000));
        assert_eq!(backoff.next_delay(), ms(5000));
    }

    #[test]
    fn absurd_settings_stay_sane() {
        let mut backoff = Backoff::new(ms(100), ms(10), f64::NAN);
        assert_eq!(backoff.next_delay(), ms(100), "max below initial");
        let mut wild = Backoff::new(Duration::MAX, Duration::MAX, 7.0);
        assert_eq!(wild.delay_with(1.0), MIN_DELAY, "jitter clamped to 1");
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO, 0.0);
        assert_eq!(zero.next_delay(), MIN_DELAY, "never a busy loop");
        wild.saturate();
        let _ = wild.next_delay();
    }
}
