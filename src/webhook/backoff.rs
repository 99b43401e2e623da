//! When a failed webhook is tried again: exponential backoff with jitter,
//! so that a receiver that comes back is not hit by every queued webhook in
//! the same second.

use std::time::Duration;

use rand::Rng;

/// The wait after the `attempt`th failed attempt (from 1): `first`
/// doubled per attempt up to `max`, then moved at random by up to a fifth
/// either way.
pub fn delay(attempt: u32, first: Duration, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let base = first.saturating_mul(1 << doublings).min(max);
    let jitter = rand::rng().random_range(0.8..=1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_within_the_jitter() {
        let first = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        for (attempt, base) in [
            (1, 10),
            (2, 20),
            (3, 40),
            (8, 1280),
            (9, 2560),
            (10, 3600),
            (40, 3600),
        ] {
            for _ in 0..50 {
                let d = delay(attempt, first, max).as_secs_f64();
                let base = f64::from(base);
                assert!(
                    (base * 0.8 - 1e-9..=base * 1.2 + 1e-9).contains(&d),
                    "attempt {attempt}: {d} not around {base}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let first = Duration::from_secs(10);
        let spread: std::collections::HashSet<u128> = (0..50)
            .map(|_| delay(3, first, Duration::from_secs(3600)).as_millis())
            .collect();
        assert!(spread.len() > 10, "{} distinct delays", spread.len());
    }
}
