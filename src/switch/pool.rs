//! The FreeSWITCH nodes a set of calls goes through, each with its own
//! event socket connection, and the choice of a node for a new call.
//!
//! A node that is down when arsgate starts does not stop it: its first
//! connection is retried in the background (with the configured backoff)
//! and the node takes calls once connected. After that the ESL client keeps
//! the connection alive by itself.
//!
//! A reload changes the pool in place ([`Pool::add`], [`Pool::remove`],
//! [`Pool::set_limits`]): a node removed drains, and leaves once its last
//! call ends.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backend::Claims;
use super::choice::{Candidate, Rotation};
use super::dial::DialTemplate;
use super::freeswitch::{CALL_EVENTS, FreeSwitch};
use super::health::{self, NodeReport, StatusAnswer, StatusCell};
use super::modules::{self, ModulesCell, Needs};
use super::recovery;
use crate::config::{EslConfig, NodeConfig};
use crate::esl::client::{Client, ClientConfig};

/// How much traffic a node takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// The most calls arsgate places there at once.
    pub max_channels: NonZeroU32,
    /// The most new calls per second; `None`: no limit of arsgate's own.
    pub cps: Option<NonZeroU32>,
    /// Its share of new calls relative to the others.
    pub weight: NonZeroU32,
}

impl NodeLimits {
    /// No limit of arsgate's own (the sandbox's simulator enforces its own).
    pub fn unlimited() -> NodeLimits {
        NodeLimits {
            max_channels: NonZeroU32::MAX,
            cps: None,
            weight: NonZeroU32::MIN,
        }
    }

    /// The limits a node's configuration sets.
    pub fn of(config: &NodeConfig) -> NodeLimits {
        NodeLimits {
            max_channels: config.max_channels,
            cps: Some(config.cps),
            weight: config.weight,
        }
    }
}

/// One node of a pool.
pub struct Node {
    name: String,
    /// Its limits and calls-per-second limiter (a reload may change them).
    limits: RwLock<Limited>,
    switch: OnceLock<Arc<FreeSwitch>>,
    /// Takes no new calls while set.
    draining: AtomicBool,
    /// Removed from the configuration: draining for good, gone from the
    /// pool once its last call ends.
    retiring: AtomicBool,
    /// Ends its connection's tasks when it leaves the pool.
    stop: CancellationToken,
    /// Calls placed here that arsgate still follows.
    live: AtomicU32,
    status: Arc<StatusCell>,
    /// The FreeSWITCH modules it needs, and those it lacked when checked.
    modules: Arc<ModulesCell>,
    /// The node's own refusals in a row, and until when it is passed over.
    refusals: Mutex<Refusals>,
}

/// A node's refusals (max-sessions, shutdown, `-ERR` with no channel) in a
/// row: it is passed over for a back-off that doubles with each, so that
/// not every new call tries it first and fails over.
#[derive(Debug, Default)]
struct Refusals {
    strikes: u32,
    until: Option<tokio::time::Instant>,
}

/// A node's limits with the calls-per-second limiter made for them.
struct Limited {
    limits: NodeLimits,
    rate: Option<DefaultDirectRateLimiter>,
}

impl Limited {
    fn new(limits: NodeLimits) -> Limited {
        Limited {
            limits,
            rate: limits
                .cps
                .map(|cps| RateLimiter::direct(Quota::per_second(cps))),
        }
    }
}

/// The first back-off after a refusal; each further one doubles it.
const REFUSAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
const REFUSAL_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("limits", &self.limits())
            .field("live", &self.live_channels())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

impl Node {
    fn new(name: &str, limits: NodeLimits, modules: ModulesCell, stop: CancellationToken) -> Node {
        Node {
            name: name.to_owned(),
            limits: RwLock::new(Limited::new(limits)),
            switch: OnceLock::new(),
            draining: AtomicBool::new(false),
            retiring: AtomicBool::new(false),
            stop,
            live: AtomicU32::new(0),
            status: Arc::new(StatusCell::default()),
            modules: Arc::new(modules),
            refusals: Mutex::new(Refusals::default()),
        }
    }

    fn limited(&self) -> std::sync::RwLockReadGuard<'_, Limited> {
        self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How much traffic the node takes now.
    pub fn limits(&self) -> NodeLimits {
        self.limited().limits
    }

    /// Whether the node left the configuration and waits for its last
    /// calls to end.
    pub fn is_retiring(&self) -> bool {
        self.retiring.load(Ordering::Relaxed)
    }

    fn refusals(&self) -> std::sync::MutexGuard<'_, Refusals> {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node refused a call itself: it is passed over for a while,
    /// longer with each refusal in a row.
    pub fn refused(&self) {
        let mut refusals = self.refusals();
        let backoff = REFUSAL_BACKOFF
            .saturating_mul(1 << refusals.strikes.min(16))
            .min(REFUSAL_BACKOFF_MAX);
        refusals.strikes = refusals.strikes.saturating_add(1);
        refusals.until = Some(tokio::time::Instant::now() + backoff);
        tracing::info!(node = %self.name, ?backoff, "the node refused a call; passed over for a while");
    }

    /// The node took a call (a channel existed): its refusals are forgiven.
    pub fn accepted(&self) {
        let mut refusals = self.refusals();
        refusals.strikes = 0;
        refusals.until = None;
    }

    /// Whether the node is passed over after refusing.
    pub fn is_backing_off(&self) -> bool {
        self.refusals()
            .until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// The node's name (from the configuration).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's backend, once its first connection succeeded.
    pub fn switch(&self) -> Option<&Arc<FreeSwitch>> {
        self.switch.get()
    }

    /// Whether the node's event socket is connected.
    pub fn is_up(&self) -> bool {
        self.switch().is_some_and(|s| s.is_connected())
    }

    /// Whether the node is connected, did not fail its last `status`, and
    /// answered its last command in time (a frozen node stops answering
    /// long before its socket is given up: no call should wait on it).
    pub fn is_healthy(&self) -> bool {
        self.is_up()
            && self.status.get() != StatusAnswer::Failed
            && self.switch().is_some_and(|s| s.is_responsive())
    }

    /// Whether the node is draining: it takes no new calls.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The FreeSWITCH modules the node needs (those it lacks are in its
    /// [report](Node::report)).
    pub fn required_modules(&self) -> &[String] {
        self.modules.required()
    }

    /// Calls placed here that arsgate still follows.
    pub fn live_channels(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }

    /// The node as operators see it.
    pub fn report(&self) -> NodeReport {
        let limits = self.limits();
        NodeReport {
            name: self.name.clone(),
            connected: self.is_up(),
            heartbeat_age: self.switch().and_then(|s| s.heartbeat_age()),
            status: self.status.get(),
            live_channels: self.live_channels(),
            max_channels: limits.max_channels.get(),
            cps: limits.cps.map_or(0, NonZeroU32::get),
            weight: limits.weight.get(),
            draining: self.is_draining(),
            responsive: self.switch().is_none_or(|s| s.is_responsive()),
            backing_off: self.is_backing_off(),
            sessions: self.switch().and_then(|s| s.heartbeat_sessions()),
            missing_modules: self.modules.missing(),
        }
    }

    fn candidate(&self, tried: &[&str], throttled: bool, patient: bool) -> Candidate {
        let limits = self.limits();
        Candidate {
            live: self.live_channels(),
            max: limits.max_channels.get(),
            weight: limits.weight.get(),
            eligible: self.is_healthy()
                && !self.is_draining()
                && !throttled
                && (patient || !self.is_backing_off())
                && !tried.contains(&self.name.as_str()),
        }
    }
}

/// A channel held on a node for one call: counted in the node's live
/// channels until dropped.
#[derive(Debug)]
pub struct Slot {
    node: Arc<Node>,
    /// Told when the slot is given back: a call waiting for room tries again.
    freed: Arc<Notify>,
}

impl Slot {
    /// The node the call goes to.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.node.live.fetch_sub(1, Ordering::Relaxed);
        self.freed.notify_waiters();
    }
}

/// Why no node could take a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoNode {
    /// None is connected and healthy.
    #[error("no FreeSWITCH node is connected")]
    NoneConnected,
    /// Every healthy node is draining.
    #[error("every connected FreeSWITCH node is draining")]
    AllDraining,
    /// Every node that could is at its channel or calls-per-second limit.
    #[error("every FreeSWITCH node is at its channel or call-rate limit")]
    Full,
}

impl NoNode {
    /// A short word for metrics: `disconnected`, `draining` or `full`.
    pub fn reason(self) -> &'static str {
        match self {
            NoNode::NoneConnected => "disconnected",
            NoNode::AllDraining => "draining",
            NoNode::Full => "full",
        }
    }
}

/// A node name the pool does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no node is named {0:?}")]
pub struct UnknownNode(pub String);

/// A node's settings the pool cannot take in place, or a name it
/// already has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeChange {
    /// The pool does not connect nodes of its own (the sandbox's).
    #[error("this pool's nodes are fixed")]
    Fixed,
    /// A node of that name is in the pool (perhaps still retiring).
    #[error("a node named {0:?} is still in the pool")]
    Taken(String),
}

/// How a pool connects the nodes it is given.
#[derive(Clone)]
struct Connector {
    esl: EslConfig,
    context: String,
    /// The modules every node must have (checked on each new switch).
    needs: Needs,
    claims: Arc<dyn Claims>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// A set of nodes calls are spread over.
#[derive(Debug)]
pub struct Pool {
    /// The nodes in configuration order (a reload adds and removes).
    nodes: Arc<RwLock<Vec<Arc<Node>>>>,
    /// How nodes added later connect; `None` for fixed pools.
    connector: Option<Connector>,
    /// The weighted rotation; held while a node is chosen and its channel
    /// counted, so two calls cannot both take a node's last channel.
    choosing: Mutex<Rotation>,
    /// Told whenever a slot is given back.
    freed: Arc<Notify>,
}

/// How often a call waiting for room looks again even when no slot was
/// given back (a node reconnected, a drain ended, a second passed for its
/// calls-per-second).
const ROOM_RECHECK: Duration = Duration::from_millis(200);

impl Pool {
    fn of(nodes: Vec<Arc<Node>>, connector: Option<Connector>) -> Pool {
        Pool {
            nodes: Arc::new(RwLock::new(nodes)),
            connector,
            choosing: Mutex::new(Rotation::default()),
            freed: Arc::new(Notify::new()),
        }
    }

    /// A pool without nodes: every call finds none.
    pub fn empty() -> Pool {
        Pool::of(Vec::new(), None)
    }

    /// A pool of one node already connected (the sandbox's simulator, a
    /// test's), with no limits of arsgate's own.
    pub fn single(name: &str, switch: FreeSwitch) -> Pool {
        let node = Node::new(
            name,
            NodeLimits::unlimited(),
            ModulesCell::default(),
            CancellationToken::new(),
        );
        let switch = Arc::new(switch);
        tokio::spawn(recovery::watch(
            Arc::downgrade(&switch),
            name.to_owned(),
            EslConfig::default().node_lost_after,
        ));
        let _ = node.switch.set(switch);
        Pool::of(vec![Arc::new(node)], None)
    }

    /// The configured nodes, connecting in the background until `stop` is
    /// cancelled; calls are placed in dialplan `context`. Each connected
    /// node is asked for `status` every heartbeat interval and, on each
    /// connection to a FreeSWITCH not checked yet, for the modules `needs`
    /// calls for; it hangs up the channels in `context` that `claims` says
    /// no verification wants.
    pub fn connect(
        nodes: &[NodeConfig],
        esl: &EslConfig,
        context: &str,
        needs: &Needs,
        claims: Arc<dyn Claims>,
        stop: &CancellationToken,
    ) -> Pool {
        let connector = Connector {
            esl: esl.clone(),
            context: context.to_owned(),
            needs: needs.clone(),
            claims,
            stop: stop.clone(),
        };
        let pool = Pool::of(Vec::new(), Some(connector.clone()));
        for config in nodes {
            let node = connector.connect(config);
            pool.write_nodes().push(node);
        }
        pool
    }

    fn write_nodes(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Node>>> {
        self.nodes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The nodes, in configuration order.
    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A node by name, connected or not.
    pub fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes().into_iter().find(|n| n.name == name)
    }

    /// Every node as operators see it, in configuration order.
    pub fn reports(&self) -> Vec<NodeReport> {
        self.nodes().iter().map(|node| node.report()).collect()
    }

    /// Adds the node `config` describes and connects it in the background;
    /// it takes calls once connected.
    pub fn add(&self, config: &NodeConfig) -> Result<(), NodeChange> {
        let connector = self.connector.as_ref().ok_or(NodeChange::Fixed)?;
        let mut nodes = self.write_nodes();
        if nodes.iter().any(|n| n.name == config.name.as_str()) {
            return Err(NodeChange::Taken(config.name.to_string()));
        }
        nodes.push(connector.connect(config));
        tracing::info!(node = %config.name, "node added");
        Ok(())
    }

    /// Gives node `name` new limits: its channels, calls per second and
    /// weight count from the next call on.
    pub fn set_limits(&self, name: &str, limits: NodeLimits) -> Result<(), UnknownNode> {
        let node = self
            .node(name)
            .ok_or_else(|| UnknownNode(name.to_owned()))?;
        *node.limits.write().unwrap_or_else(|e| e.into_inner()) = Limited::new(limits);
        tracing::info!(node = name, ?limits, "node limits changed");
        Ok(())
    }

    /// Retires node `name`: it takes no new calls at once, its live calls
    /// finish, then it leaves the pool and its connection is closed.
    pub fn remove(&self, name: &str) -> Result<(), UnknownNode> {
        let node = self
            .node(name)
            .ok_or_else(|| UnknownNode(name.to_owned()))?;
        node.retiring.store(true, Ordering::Relaxed);
        node.draining.store(true, Ordering::Relaxed);
        tracing::info!(
            node = name,
            live = node.live_channels(),
            "node removed: draining its calls"
        );
        let freed = Arc::clone(&self.freed);
        let nodes = Arc::downgrade(&self.nodes);
        tokio::spawn(async move {
            while node.live_channels() > 0 {
                let given_back = freed.notified();
                tokio::select! {
                    () = given_back => {}
                    () = tokio::time::sleep(ROOM_RECHECK) => {}
                }
            }
            if let Some(nodes) = nodes.upgrade() {
                nodes
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|n| !Arc::ptr_eq(n, &node));
            }
            node.stop.cancel();
            if let Some(switch) = node.switch() {
                switch.close().await;
            }
            tracing::info!(node = %node.name, "node retired: its last call ended");
        });
        Ok(())
    }

    /// Stops giving `name` new calls; its live calls go on.
    pub fn drain(&self, name: &str) -> Result<NodeReport, UnknownNode> {
        self.set_draining(name, true)
    }

    /// Gives `name` new calls again.
    pub fn resume(&self, name: &str) -> Result<NodeReport, UnknownNode> {
        self.set_draining(name, false)
    }

    fn set_draining(&self, name: &str, draining: bool) -> Result<NodeReport, UnknownNode> {
        let node = self
            .node(name)
            .ok_or_else(|| UnknownNode(name.to_owned()))?;
        // A retiring node stays drained whatever the recorded drains say.
        let draining = draining || node.is_retiring();
        if node.draining.swap(draining, Ordering::Relaxed) != draining {
            tracing::info!(node = name, draining, "node drain changed");
        }
        Ok(node.report())
    }

    /// Closes every node's connection (at shutdown).
    pub async fn close(&self) {
        for node in self.nodes() {
            if let Some(switch) = node.switch() {
                switch.close().await;
            }
        }
    }

    /// A channel on the node the next call goes to: among the healthy,
    /// non-draining nodes not in `tried` that are below their channel and
    /// calls-per-second limits, each in proportion to its weight. A node
    /// backing off after refusing is passed over while another can take
    /// the call.
    pub fn choose(&self, tried: &[&str]) -> Result<Slot, NoNode> {
        let mut rotation = self.choosing.lock().unwrap_or_else(|e| e.into_inner());
        let nodes = self.nodes();
        let mut throttled = vec![false; nodes.len()];
        let mut patient = false;
        loop {
            let candidates: Vec<Candidate> = nodes
                .iter()
                .zip(&throttled)
                .map(|(node, &throttled)| node.candidate(tried, throttled, patient))
                .collect();
            let Some(index) = rotation.pick(&candidates) else {
                if !patient {
                    // Every node with room is backing off: try them anyway.
                    patient = true;
                    continue;
                }
                return Err(self.why_none(tried));
            };
            let node = &nodes[index];
            if node
                .limited()
                .rate
                .as_ref()
                .is_some_and(|rate| rate.check().is_err())
            {
                throttled[index] = true;
                continue;
            }
            node.live.fetch_add(1, Ordering::Relaxed);
            return Ok(Slot {
                node: Arc::clone(node),
                freed: Arc::clone(&self.freed),
            });
        }
    }

    /// Whether some node could take a call now: healthy, not draining,
    /// below its `max_channels` (its calls per second aside: a second
    /// passes soon).
    pub fn room(&self) -> Result<(), NoNode> {
        // The choice's own rule, with nothing tried, throttled or held back.
        let open = self
            .nodes()
            .iter()
            .any(|node| node.candidate(&[], false, true).is_open());
        if open {
            Ok(())
        } else {
            Err(self.why_none(&[]))
        }
    }

    /// [`Pool::choose`], waiting for room until `deadline` or `cancel`; the
    /// last reason there was none when it gives up.
    pub async fn choose_within(
        &self,
        tried: &[&str],
        deadline: tokio::time::Instant,
        cancel: &CancellationToken,
    ) -> Result<Slot, NoNode> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let none = match self.choose(tried) {
                Ok(slot) => return Ok(slot),
                Err(none) => none,
            };
            let now = tokio::time::Instant::now();
            if now >= deadline || cancel.is_cancelled() {
                return Err(none);
            }
            tokio::select! {
                () = &mut freed => {}
                () = cancel.cancelled() => {}
                () = tokio::time::sleep_until(deadline.min(now + ROOM_RECHECK)) => {}
            }
        }
    }

    /// A channel on node `name` for a call already there (one taken over
    /// after a restart): it counts against the node like any other.
    pub fn hold(&self, name: &str) -> Option<Slot> {
        let node = self.node(name)?;
        node.live.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            node,
            freed: Arc::clone(&self.freed),
        })
    }

    fn why_none(&self, tried: &[&str]) -> NoNode {
        let open: Vec<Arc<Node>> = self
            .nodes()
            .into_iter()
            .filter(|node| node.is_healthy() && !tried.contains(&node.name.as_str()))
            .collect();
        if open.is_empty() {
            NoNode::NoneConnected
        } else if open.iter().all(|node| node.is_draining()) {
            NoNode::AllDraining
        } else {
            NoNode::Full
        }
    }
}

impl Connector {
    /// A node for `config`, connecting in the background until the pool
    /// stops or the node leaves it.
    fn connect(&self, config: &NodeConfig) -> Arc<Node> {
        let node = Arc::new(Node::new(
            config.name.as_str(),
            NodeLimits::of(config),
            ModulesCell::new(self.needs.of_node(config.dial_string.as_str())),
            self.stop.child_token(),
        ));
        match DialTemplate::parse(config.dial_string.as_str()) {
            Ok(dial) => {
                tokio::spawn(first_connection(
                    Arc::clone(&node),
                    client_config(config, &self.esl),
                    self.esl.clone(),
                    dial,
                    self.context.clone(),
                    Arc::clone(&self.claims),
                    node.stop.clone(),
                ));
            }
            // The configuration's own check refuses such a dial string
            // before arsgate gets here.
            Err(_) => tracing::error!(node = %config.name, "the dial string cannot be used"),
        }
        node
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
    claims: Arc<dyn Claims>,
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
                let switch =
                    Arc::new(FreeSwitch::new(client, events, &context, dial).with_claims(claims));
                let _ = node.switch.set(Arc::clone(&switch));
                tracing::info!(node = %node.name, "node connected");
                tokio::spawn(recovery::watch(
                    Arc::downgrade(&switch),
                    node.name.clone(),
                    esl.node_lost_after,
                ));
                tokio::spawn(modules::watch(
                    Arc::clone(&switch),
                    Arc::clone(&node.modules),
                    node.name.clone(),
                    stop.clone(),
                ));
                tokio::spawn(health::probe(
                    switch,
                    Arc::clone(&node.status),
                    esl.heartbeat_interval,
                    stop,
                ));
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
