//! A call's channel under its merchant's plan: waited for before the call
//! is placed (at once when the create request took it), and the leases of
//! the calls this process runs kept renewed.

use std::sync::Weak;

use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::domain::{Merchant, Verification};
use crate::limits::{Limits, Waited};
use crate::scenario::Outcome;

impl Inner {
    /// Waits for the call's channel; `Err` is the outcome and reason to
    /// finish with when it never came.
    pub(super) async fn take_channel(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        cancel: &CancellationToken,
    ) -> Result<(), (Outcome, String)> {
        let mode = verification.request.mode;
        match self
            .limits
            .wait_for_channel(merchant, mode, verification.id(), cancel)
            .await
        {
            Ok(()) => Ok(()),
            Err(Waited::TimedOut(waited)) => Err((
                Outcome::Timeout,
                format!(
                    "waited in the queue for {} without a free channel of the plan",
                    humantime::format_duration(waited)
                ),
            )),
            Err(Waited::Canceled) if self.aborting.is_cancelled() => Err((
                Outcome::Error,
                "arsgate shut down while the call waited in the queue".to_owned(),
            )),
            Err(Waited::Canceled) => Err((
                Outcome::Canceled,
                "canceled by the merchant while it waited in the queue".to_owned(),
            )),
        }
    }
}

/// Renews the leases `limits` holds until it is gone or `stop` (a crash:
/// the leases are left to expire).
pub(super) fn renew_leases(limits: Weak<Limits>, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let Some(every) = limits.upgrade().map(|l| l.renew_every()) else {
                return;
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match limits.upgrade() {
                Some(limits) => limits.renew().await,
                None => return,
            }
        }
    });
}
