//! Waiting for the store at startup: a database started at the same time
//! as arsgate (a compose file, a host booting) answers a few seconds later,
//! and a service manager that restarts a failed arsgate in a loop says
//! less than one line per try naming the server and the cause.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Store, StoreError, open};

/// The wait after the first failed try; it doubles after each.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The longest wait between two tries.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Opens the store at `url` like [`open`], trying again while it is
/// [`Unavailable`](StoreError::Unavailable) for up to `wait` in all
/// ([`FIRST_RETRY`] doubling to [`MAX_RETRY`]), with a warning line for
/// each failed try (its error names the server and the cause). Any other
/// error (a certificate refused, a schema too new) ends the wait at once.
pub async fn open_waiting(url: &str, wait: Duration) -> Result<Arc<dyn Store>, StoreError> {
    let deadline = Instant::now() + wait;
    let mut delay = FIRST_RETRY;
    let mut attempt = 1u32;
    loop {
        match open(url).await {
            Err(StoreError::Unavailable(why)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(StoreError::Unavailable(format!(
                        "{why} (gave up after {attempt} tries in {})",
                        humantime::format_duration(wait)
                    )));
                }
                let pause = delay.min(left);
                tracing::warn!(
                    attempt,
                    retry_in = %humantime::format_duration(Duration::from_millis(
                        u64::try_from(pause.as_millis()).unwrap_or(u64::MAX)
                    )),
                    error = %why,
                    "store unavailable at startup; trying again"
                );
                tokio::time::sleep(pause).await;
                delay = (delay * 2).min(MAX_RETRY);
                attempt += 1;
            }
            done => return done,
        }
    }
}
