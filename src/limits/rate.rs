//! Calls per second: one keyed `governor` limiter per plan, keyed by
//! merchant and mode, in this process (replicas each allow the plan's
//! rate; channels and velocity are what hold across replicas).
//!
//! A call over the rate waits for its turn if that comes within
//! [`MAX_WAIT`], so a burst (a page reloaded, a batch job) is smoothed
//! rather than refused; a sustained excess is refused with `cps_limit` and
//! the time until the next free turn.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::plan::Plan;
use crate::domain::LimitScope;

/// The longest a new call waits for its turn under the rate.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// The rate limiters of every plan.
pub struct Rates {
    /// Each plan's limiter, with the rate it was made for.
    limiters: HashMap<String, (NonZeroU32, Arc<DefaultKeyedRateLimiter<LimitScope>>)>,
}

impl Rates {
    /// A limiter for each of `plans`: `cps` calls a second, in bursts of
    /// up to `cps`.
    pub fn new<'a>(plans: impl IntoIterator<Item = &'a Plan>) -> Rates {
        Rates {
            limiters: plans
                .into_iter()
                .map(|plan| (plan.name.clone(), Self::limiter(plan.config.cps)))
                .collect(),
        }
    }

    fn limiter(cps: NonZeroU32) -> (NonZeroU32, Arc<DefaultKeyedRateLimiter<LimitScope>>) {
        (cps, Arc::new(RateLimiter::keyed(Quota::per_second(cps))))
    }

    /// The limiters of `plans`, keeping this set's limiter (and the turns
    /// it counted) for a plan whose rate is unchanged.
    pub fn replanned<'a>(&self, plans: impl IntoIterator<Item = &'a Plan>) -> Rates {
        Rates {
            limiters: plans
                .into_iter()
                .map(|plan| {
                    let kept = self
                        .limiters
                        .get(&plan.name)
                        .filter(|(cps, _)| *cps == plan.config.cps)
                        .cloned();
                    let limiter = kept.unwrap_or_else(|| Self::limiter(plan.config.cps));
                    (plan.name.clone(), limiter)
                })
                .collect(),
        }
    }

    /// Takes a turn for a new call of `scope` on `plan`, waiting up to
    /// [`MAX_WAIT`]; `Err` holds how long until a turn would be free.
    pub async fn take(&self, plan: &Plan, scope: LimitScope) -> Result<(), Duration> {
        let Some((_, limiter)) = self.limiters.get(&plan.name) else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            let wait = match limiter.check_key(&scope) {
                Ok(()) => return Ok(()),
                Err(not_until) => not_until.wait_time_from(limiter.clock().now()),
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Forgets the state of keys that have been idle long enough to have
    /// a full burst again, so memory follows the active merchants.
    pub fn prune(&self) {
        for (_, limiter) in self.limiters.values() {
            limiter.retain_recent();
        }
    }
}
