//! Writes that must land. A call's placement and its final outcome (with
//! the webhook stored in the same transaction) are what the merchant and
//! the plan's channel count depend on, so a store that cannot be reached
//! does not lose them: they are tried again, with backoff, until the store
//! answers. Only shutdown bounds the wait: past its deadline (or in a
//! crash) the write is given up and the verification, still unfinished in
//! the store, is left to the next start's recovery.

use std::time::Duration;

use super::Inner;
use crate::store::StoreError;

/// The wait after the first failed attempt (doubling after each).
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The longest wait between two attempts: short enough that the write
/// lands soon after the store is back.
const MAX_RETRY: Duration = Duration::from_secs(2);

impl Inner {
    /// Runs `write` until the store takes it. An unreachable store
    /// ([`StoreError::Unavailable`]) is waited out; any other error, and
    /// the last one once shutdown's deadline has passed, is returned.
    /// `what` names the write in the log.
    pub(super) async fn durably<T, F, Fut>(&self, what: &str, mut write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut delay = FIRST_RETRY;
        let mut failures = 0_u32;
        loop {
            let error = match write().await {
                Err(error @ StoreError::Unavailable(_)) => error,
                done => {
                    if failures > 0 {
                        tracing::info!(what, failures, "the store answers again; written");
                    }
                    return done;
                }
            };
            if self.aborting.is_cancelled() || self.abandoning.is_cancelled() {
                tracing::error!(
                    what,
                    %error,
                    "store unavailable past the shutdown deadline; left to the next start's recovery"
                );
                return Err(error);
            }
            failures += 1;
            if failures == 1 {
                tracing::warn!(what, %error, "store unavailable; retrying until it answers");
            }
            tokio::select! {
                () = self.aborting.cancelled() => {}
                () = self.abandoning.cancelled() => {}
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_RETRY);
        }
    }
}
