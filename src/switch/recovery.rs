//! A node's calls across a lost event socket, and across a gap in its
//! event stream.
//!
//! When the connection drops, every call placed there becomes unknown
//! (events may be missed). When it is back — the ESL client reconnects and
//! subscribes again by itself — the node is asked which channels it still
//! carries (`show channels as json`): those calls are followed on and
//! brought in line with their channel (their controllers look at it again:
//! a key pressed meanwhile is not lost), the others ended while nobody
//! listened. A node that restarted (a new Core-UUID) carries none of them.
//! A node that stays unreachable for `lost_after` has its calls given up,
//! and any channel of a given-up call that the node shows afterwards is
//! hung up. Events dropped because arsgate's own queue was full are a gap
//! healed the same way.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{CallEvent, CallId};
use super::freeswitch::FreeSwitch;
use crate::esl::client::ConnectionState;

/// How often the event queue is checked for dropped events.
const GAP_CHECK: Duration = Duration::from_secs(1);

/// Follows the connection of `switch` (node `node`) until it is closed or
/// dropped; calls are given up after `lost_after` without a connection.
pub(super) async fn watch(switch: Weak<FreeSwitch>, node: String, lost_after: Duration) {
    let Some((mut state, mut dropped)) = switch
        .upgrade()
        .map(|s| (s.connection(), s.stats().events_dropped))
    else {
        return;
    };
    let mut core = match &*state.borrow_and_update() {
        ConnectionState::Connected { core_uuid, .. } => Some(core_uuid.clone()),
        _ => None,
    };
    if core.is_some()
        && let Some(switch) = switch.upgrade()
    {
        sweep(&switch, &node).await;
    }
    // The calls that were placed when the connection dropped.
    let mut unknown: Option<Vec<CallId>> = None;
    // When those calls are given up, while the node stays away.
    let mut give_up: Option<Instant> = None;
    let mut gaps = tokio::time::interval(GAP_CHECK);
    loop {
        let given_up = async {
            match give_up {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = state.borrow_and_update().clone();
                let Some(switch) = switch.upgrade() else {
                    return;
                };
                match now {
                    ConnectionState::Disconnected { reason } if unknown.is_none() => {
                        let calls = switch.placed_calls();
                        tracing::warn!(
                            node,
                            %reason,
                            calls = calls.len(),
                            "node connection lost; its calls are unknown"
                        );
                        for call in &calls {
                            switch.tell(call, CallEvent::Unknown);
                        }
                        unknown = Some(calls);
                        give_up = Some(Instant::now() + lost_after);
                    }
                    ConnectionState::Connected { core_uuid, .. } => {
                        give_up = None;
                        let restarted = core.as_ref().is_some_and(|old| *old != core_uuid);
                        core = Some(core_uuid);
                        // A drop and reconnect too quick to be seen still
                        // shows as a new Core-UUID when the node restarted.
                        let calls = match unknown.take() {
                            Some(calls) => calls,
                            None if restarted => switch.placed_calls(),
                            None => continue,
                        };
                        reconcile(&switch, &node, &calls, restarted).await;
                    }
                    ConnectionState::Closed => return,
                    _ => {}
                }
            }
            () = given_up => {
                give_up = None;
                let Some(switch) = switch.upgrade() else {
                    return;
                };
                let calls = unknown.as_deref().unwrap_or_default();
                tracing::warn!(
                    node,
                    calls = calls.len(),
                    after = ?lost_after,
                    "node unreachable for too long; its calls are given up"
                );
                for call in calls {
                    switch.tell(call, CallEvent::Lost { after: lost_after });
                }
            }
            _ = gaps.tick() => {
                let Some(switch) = switch.upgrade() else {
                    return;
                };
                let now = switch.stats().events_dropped;
                if now > dropped && unknown.is_none() && switch.is_connected() {
                    let calls = switch.placed_calls();
                    tracing::warn!(
                        node,
                        dropped = now - dropped,
                        calls = calls.len(),
                        "events were dropped; the node's calls are looked at again"
                    );
                    // Each call heard of the gap from the router already.
                    reconcile(&switch, &node, &calls, false).await;
                }
                dropped = now;
            }
        }
    }
}

/// Hangs up what the node carries in arsgate's context that no
/// verification wants (a first connection: an earlier arsgate may have
/// left such channels behind).
async fn sweep(switch: &FreeSwitch, node: &str) {
    match switch.channels().await {
        Ok(carried) => {
            let orphans = switch.hang_up_strangers(&carried).await;
            if orphans > 0 {
                tracing::warn!(node, orphans, "hung up channels no verification wants");
            }
        }
        Err(error) => tracing::warn!(node, %error, "the node's channels could not be listed"),
    }
}

async fn reconcile(switch: &FreeSwitch, node: &str, calls: &[CallId], restarted: bool) {
    let carried = if restarted {
        Ok(Default::default())
    } else {
        switch.channels().await
    };
    let carried = match carried {
        Ok(carried) => carried,
        Err(error) => {
            // Left unknown: the node's loss or each call's deadline ends it.
            tracing::warn!(node, %error, "the node's channels could not be listed");
            return;
        }
    };
    let mut gone = 0;
    for call in calls {
        let up = carried.contains_key(call.as_str());
        gone += usize::from(!up);
        switch.tell(call, CallEvent::Reconciled { up });
    }
    let orphans =
        switch.hang_up_abandoned(&carried).await + switch.hang_up_strangers(&carried).await;
    tracing::info!(
        node,
        restarted,
        calls = calls.len(),
        gone,
        orphans,
        "node reconnected; its calls reconciled"
    );
}
