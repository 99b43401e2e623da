//! After a restart: every verification an earlier run left unfinished is
//! brought to an end, so none stays open forever and every webhook is
//! sent.
//!
//! - Never placed (`pending`): placed now, unless it is stale (the
//!   customer has left the merchant's page by now).
//! - Placed (`calling`, `answered`): once the call's node is connected
//!   (waited for up to `node_wait`), a call it still carries is taken over
//!   where its channel's mark says it stands and followed to its end; one
//!   it no longer carries, or on a node that stays unreachable, is `error`
//!   with a reason that says it was lost.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::{Inner, ServiceError};
use crate::domain::{Merchant, Timestamp, Verification, VerificationState};
use crate::scenario::Outcome;

/// A verification not placed within this long of its creation is not
/// placed at all: the customer has left the merchant's page.
const STALE_AFTER: Duration = Duration::from_secs(300);

pub(super) async fn recover(
    inner: &Arc<Inner>,
    node_wait: Duration,
) -> Result<usize, ServiceError> {
    let unfinished = inner.store.unfinished().await?;
    let count = unfinished.len();
    for verification in unfinished {
        let Some(merchant) = merchant_of(inner, &verification).await? else {
            continue;
        };
        let span = super::call::span(&merchant, &verification);
        span.in_scope(|| {
            tracing::info!(verification = %verification.id(), state = verification.state.as_str(), "recovering");
        });
        match verification.state {
            VerificationState::Pending => {
                place_late(inner, merchant, verification)
                    .instrument(span)
                    .await?;
            }
            VerificationState::Calling | VerificationState::Answered => {
                let inner_for_task = Arc::clone(inner);
                let resuming = async move {
                    let id = verification.id();
                    if let Err(error) =
                        take_over(&inner_for_task, merchant, verification, node_wait).await
                    {
                        tracing::error!(verification = %id, %error, "recovery failed");
                    }
                };
                inner.tasks.spawn(resuming.instrument(span));
            }
            VerificationState::Finished => {}
        }
    }
    Ok(count)
}

/// Ends the verifications left pending that no process will place (their
/// create was stored, but the store failed before it said so, so no call
/// task started): once older than [`STALE_AFTER`] plus the longest queue
/// wait, no replica can still hold one in its queue. Finished `timeout`,
/// like a pending verification found too late after a restart. Returns
/// how many.
pub(super) async fn sweep_unplaced(inner: &Arc<Inner>) -> Result<usize, ServiceError> {
    let limit = STALE_AFTER + inner.limits.longest_queue_wait();
    let before = Timestamp::now().minus(limit);
    let mut swept = 0;
    for verification in inner.store.pending_before(before).await? {
        let Some(merchant) = merchant_of(inner, &verification).await? else {
            continue;
        };
        let reason = "never placed: its call was not started in time".to_owned();
        inner
            .finish(&merchant, &verification, Outcome::Timeout, reason, None)
            .instrument(super::call::span(&merchant, &verification))
            .await?;
        swept += 1;
    }
    Ok(swept)
}

/// The merchant of a verification no call task of this process runs;
/// `None` for one this process runs, or whose merchant is gone.
async fn merchant_of(
    inner: &Inner,
    verification: &Verification,
) -> Result<Option<Merchant>, ServiceError> {
    let id = verification.id();
    if inner.running().contains_key(&id) {
        return Ok(None);
    }
    let merchant = inner
        .store
        .merchant(verification.request.merchant_id)
        .await?;
    if merchant.is_none() {
        tracing::error!(verification = %id, "the verification's merchant is gone");
    }
    Ok(merchant)
}

async fn place_late(
    inner: &Arc<Inner>,
    merchant: Merchant,
    verification: Verification,
) -> Result<(), ServiceError> {
    let request = &verification.request;
    let now = Timestamp::now();
    let expired = request.code_expires_at.is_some_and(|at| now >= at);
    let stale = now >= request.created_at.plus(STALE_AFTER);
    if expired || stale {
        let reason = "arsgate restarted and the call was no longer timely".to_owned();
        inner
            .finish(&merchant, &verification, Outcome::Timeout, reason, None)
            .await?;
    } else {
        inner.start(merchant, verification);
    }
    Ok(())
}

/// Takes over a call an earlier run placed, once its node is connected;
/// one whose node stays unreachable is ended as lost.
async fn take_over(
    inner: &Arc<Inner>,
    merchant: Merchant,
    verification: Verification,
    node_wait: Duration,
) -> Result<(), ServiceError> {
    let node = verification
        .node
        .as_deref()
        .and_then(|name| inner.pool(verification.request.mode).node(name));
    let reachable = match node {
        Some(node) => {
            let deadline = tokio::time::Instant::now() + node_wait;
            while !node.is_up() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            node.is_up()
        }
        None => false,
    };
    if reachable {
        inner.begin(merchant, verification, super::call::Begin::TakeOver);
        return Ok(());
    }
    let reason = "lost: arsgate restarted during the call and its node is unreachable";
    inner
        .finish(
            &merchant,
            &verification,
            Outcome::Error,
            reason.to_owned(),
            None,
        )
        .await?;
    Ok(())
}
