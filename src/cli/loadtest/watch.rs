//! The nodes' own account of the calls: every node's CHANNEL_CREATE and
//! CHANNEL_HANGUP_COMPLETE over a separate event socket connection, so
//! the time a call reached a node is the node's timestamp, not the
//! server's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::processes::NodeAddr;
use crate::esl::EventName;
use crate::esl::client::{Client, ClientConfig};

/// What the nodes reported.
#[derive(Debug, Default)]
pub struct Calls {
    /// When each call was created on its node (wall-clock microseconds),
    /// by call id.
    pub created: HashMap<String, u64>,
    /// Calls that ended.
    pub ended: usize,
    /// The most calls up at once, over all nodes.
    pub peak: usize,
}

#[derive(Default)]
struct State {
    calls: Calls,
    up: usize,
}

/// Listens to every node.
pub struct Watcher {
    state: Arc<Mutex<State>>,
    clients: Vec<Client>,
    tasks: JoinSet<()>,
}

impl Watcher {
    /// Connects to each node and subscribes to channel creation and end.
    pub async fn start(nodes: &[NodeAddr]) -> anyhow::Result<Watcher> {
        let state = Arc::new(Mutex::new(State::default()));
        let mut clients = Vec::new();
        let mut tasks = JoinSet::new();
        for node in nodes {
            let mut config = ClientConfig::new(node.addr, node.password.clone());
            config.subscriptions = vec![EventName::ChannelCreate, EventName::ChannelHangupComplete];
            config.event_queue = 1 << 20;
            let (client, mut events) = Client::connect(config).await?;
            clients.push(client);
            let state = Arc::clone(&state);
            tasks.spawn(async move {
                while let Some(event) = events.recv().await {
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    match event.name() {
                        EventName::ChannelCreate => {
                            if let (Some(id), Some(at)) =
                                (event.unique_id(), event.timestamp_micros())
                            {
                                state.calls.created.insert(id.into_owned(), at);
                            }
                            state.up += 1;
                            state.calls.peak = state.calls.peak.max(state.up);
                        }
                        EventName::ChannelHangupComplete => {
                            state.up = state.up.saturating_sub(1);
                            state.calls.ended += 1;
                        }
                        _ => {}
                    }
                }
            });
        }
        Ok(Watcher {
            state,
            clients,
            tasks,
        })
    }

    /// A way to read how many calls have ended and how many are up now,
    /// for the progress lines.
    pub fn counts(&self) -> impl Fn() -> (usize, usize) + Send + 'static {
        let state = Arc::clone(&self.state);
        move || {
            let state = state.lock().unwrap_or_else(|e| e.into_inner());
            (state.calls.ended, state.up)
        }
    }

    /// Waits until `expected` calls have ended (or `limit` passes); whether
    /// they all did.
    pub async fn wait_idle(&self, expected: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (ended, up) = {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                (state.calls.ended, state.up)
            };
            if ended >= expected && up == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops listening; what was reported.
    pub async fn finish(mut self) -> Calls {
        for client in &self.clients {
            client.close().await;
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.calls)
    }
}
