//! The FreeSWITCH nodes a set of calls goes through, each with its own
//! event socket connection, and the choice of a node for a new call.
//!
//! A node that is down when arsgate starts does not stop it: its first
//! connection is retried in the background (with the configured backoff)
//! and the node takes calls once connected. After that the ESL client keeps
//! the connection alive by itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::dial::DialTemplate;
use super::freeswitch::{CALL_EVENTS, FreeSwitch};
use crate::config::{EslConfig, NodeConfig};
use crate::esl::client::{Client, ClientConfig};

/// One node of a pool.
#[derive(Debug)]
pub struct Node {
    name: String,
    switch: OnceLock<Arc<FreeSwitch>>,
}

impl Node {
    /// The node's name (from the configuration).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's backend, once its first connection succeeded.
    pub fn switch(&self) -> Option<&Arc<FreeSwitch>> {
        self.switch.get()
    }

    /// Whether the node can take a call now.
    pub fn is_up(&self) -> bool {
        self.switch().is_some_and(|s| s.is_connected())
    }
}

/// A set of nodes calls are spread over.
#[derive(Debug)]
pub struct Pool {
    nodes: Vec<Arc<Node>>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool without nodes: every call finds none.
    pub fn empty() -> Pool {
        Pool {
            nodes: Vec::new(),
            next: AtomicUsize::new(0),
        }
    }

    /// A pool of one node already connected (the sandbox's simulator, a
    /// test's).
    pub fn single(name: &str, switch: FreeSwitch) -> Pool {
        let node = Node {
            name: name.to_owned(),
            switch: OnceLock::from(Arc::new(switch)),
        };
        Pool {
            nodes: vec![Arc::new(node)],
            next: AtomicUsize::new(0),
        }
    }

    /// The configured nodes, connecting in the background until `stop` is
    /// cancelled; calls are placed in dialplan `context`.
    pub fn connect(
        nodes: &[NodeConfig],
        esl: &EslConfig,
        context: &str,
        stop: &CancellationToken,
    ) -> Pool {
        let pool = Pool {
            nodes: nodes
                .iter()
                .map(|config| {
                    Arc::new(Node {
                        name: config.name.as_str().to_owned(),
                        switch: OnceLock::new(),
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
        };
        for (node, config) in pool.nodes.iter().zip(nodes) {
            let Ok(dial) = DialTemplate::parse(config.dial_string.as_str()) else {
                // The configuration's own check refuses such a dial string
                // before arsgate gets here.
                tracing::error!(node = %config.name, "the dial string cannot be used");
                continue;
            };
            tokio::spawn(first_connection(
                Arc::clone(node),
                client_config(config, esl),
                esl.clone(),
                dial,
                context.to_owned(),
                stop.clone(),
            ));
        }
        pool
    }

    /// The nodes, in configuration order.
    pub fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// A node by name, connected or not.
    pub fn node(&self, name: &str) -> Option<&Arc<Node>> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Closes every node's connection (at shutdown).
    pub async fn close(&self) {
        for node in &self.nodes {
            if let Some(switch) = node.switch() {
                switch.close().await;
            }
        }
    }

    /// The node the next call goes to: the connected nodes in turn, or
    /// `None` if none is connected.
    pub fn pick(&self) -> Option<&Arc<Node>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..self.nodes.len())
            .map(|i| &self.nodes[(start + i) % self.nodes.len()])
            .find(|node| node.is_up())
    }
}

/// The client settings for one node.
pub fn client_config(node: &NodeConfig, esl: &EslConfig) -> ClientConfig {
    let mut config = ClientConfig::new(
        format!("{}:{}", node.host, node.port),
        node.password.expose(),
    );
    config.connect_timeout = esl.connect_timeout;
    config.command_timeout = esl.command_timeout;
    config.heartbeat_interval = esl.heartbeat_interval;
    config.heartbeat_misses = esl.heartbeat_misses.get();
    config.reconnect_initial = esl.reconnect.initial;
    config.reconnect_max = esl.reconnect.max;
    config.reconnect_jitter = esl.reconnect.jitter;
    config.event_queue = esl.event_queue_capacity.get();
    config.max_frame = esl.max_frame_bytes.get();
    config.subscriptions = CALL_EVENTS.to_vec();
    config
}

async fn first_connection(
    node: Arc<Node>,
    config: ClientConfig,
    esl: EslConfig,
    dial: DialTemplate,
    context: String,
    stop: CancellationToken,
) {
    let mut delay = esl.reconnect.initial;
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = Client::connect(config.clone()) => attempt,
        };
        match attempt {
            Ok((client, events)) => {
                let switch = FreeSwitch::new(client, events, &context, dial);
                let _ = node.switch.set(Arc::new(switch));
                tracing::info!(node = %node.name, "node connected");
                return;
            }
            Err(error) => {
                tracing::warn!(node = %node.name, %error, retry_in = ?delay, "node unreachable");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(esl.reconnect.max.max(Duration::from_millis(1)));
    }
}
