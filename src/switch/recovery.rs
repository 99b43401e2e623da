//! A node's calls across a lost event socket. When the connection drops,
//! every call placed there becomes unknown (events may be missed). When it
//! is back — the ESL client reconnects and subscribes again by itself —
//! the node is asked which channels it still carries (`show channels as
//! json`): those calls are followed on, the others ended while nobody
//! listened. A node that restarted (a new Core-UUID) carries none of them.

use std::sync::Weak;

use super::backend::CallEvent;
use super::freeswitch::FreeSwitch;
use crate::esl::client::ConnectionState;

/// Follows the connection of `switch` (node `node`) until it is closed or
/// dropped.
pub(super) async fn watch(switch: Weak<FreeSwitch>, node: String) {
    let Some(mut state) = switch.upgrade().map(|s| s.connection()) else {
        return;
    };
    let mut core = match &*state.borrow_and_update() {
        ConnectionState::Connected { core_uuid, .. } => Some(core_uuid.clone()),
        _ => None,
    };
    // The calls that were placed when the connection dropped.
    let mut unknown = None;
    while state.changed().await.is_ok() {
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
            }
            ConnectionState::Connected { core_uuid, .. } => {
                let restarted = core.as_ref().is_some_and(|old| *old != core_uuid);
                core = Some(core_uuid);
                // A drop and reconnect too quick to be seen still shows as
                // a new Core-UUID when the node restarted.
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
}

async fn reconcile(switch: &FreeSwitch, node: &str, calls: &[super::CallId], restarted: bool) {
    let carried = if restarted {
        Ok(Default::default())
    } else {
        switch.channels().await
    };
    let carried = match carried {
        Ok(carried) => carried,
        Err(error) => {
            // Left unknown: each call's own deadline ends it.
            tracing::warn!(node, %error, "the node's channels could not be listed");
            return;
        }
    };
    let mut gone = 0;
    for call in calls {
        let up = carried.contains(call.as_str());
        gone += usize::from(!up);
        switch.tell(call, CallEvent::Reconciled { up });
    }
    tracing::info!(
        node,
        restarted,
        calls = calls.len(),
        gone,
        "node reconnected; its calls reconciled"
    );
}
