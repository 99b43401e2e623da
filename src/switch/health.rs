//! A node's health as arsgate sees it: its `status` probe, and the
//! snapshot operators read (connection, heartbeat, load, limits, drain).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::freeswitch::FreeSwitch;

/// How the node last answered `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAnswer {
    /// Not asked yet (or not connected since it was).
    Unknown,
    /// `UP ...`: the core is ready.
    Up,
    /// Anything else, or no answer.
    Failed,
}

/// The last `status` answer, shared between the probe and the pool.
#[derive(Debug, Default)]
pub struct StatusCell(AtomicU8);

impl StatusCell {
    /// The answer now.
    pub fn get(&self) -> StatusAnswer {
        match self.0.load(Ordering::Relaxed) {
            1 => StatusAnswer::Up,
            2 => StatusAnswer::Failed,
            _ => StatusAnswer::Unknown,
        }
    }

    fn set(&self, answer: StatusAnswer) {
        let value = match answer {
            StatusAnswer::Unknown => 0,
            StatusAnswer::Up => 1,
            StatusAnswer::Failed => 2,
        };
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Whether a `status` reply says the core is up (FreeSWITCH's first line
/// is `UP <uptime>`; a core still starting or shutting down says otherwise).
pub fn status_is_up(reply: &str) -> bool {
    reply.starts_with("UP ")
}

/// Asks the node for `status` at once and then every `interval`, until
/// `stop`; while the socket is down the answer is unknown.
pub(super) async fn probe(
    switch: Arc<FreeSwitch>,
    cell: Arc<StatusCell>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        let answer = if switch.is_connected() {
            match switch.status().await {
                Ok(reply) if status_is_up(&reply) => StatusAnswer::Up,
                _ if !switch.is_connected() => StatusAnswer::Unknown,
                _ => StatusAnswer::Failed,
            }
        } else {
            StatusAnswer::Unknown
        };
        cell.set(answer);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One node as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's name.
    pub name: String,
    /// Whether its event socket is connected.
    pub connected: bool,
    /// Time since its last HEARTBEAT, if one came.
    pub heartbeat_age: Option<Duration>,
    /// Its last `status` answer.
    pub status: StatusAnswer,
    /// Calls arsgate placed there and still follows.
    pub live_channels: u32,
    /// The most calls arsgate places there at once.
    pub max_channels: u32,
    /// The most new calls per second arsgate places there.
    pub cps: u32,
    /// Its share of new calls relative to the others.
    pub weight: u32,
    /// Whether it is draining (takes no new calls).
    pub draining: bool,
    /// Whether it answered its last command in time.
    pub responsive: bool,
    /// Whether it is passed over for a while after refusing calls.
    pub backing_off: bool,
    /// The node's own count of sessions and its `max-sessions`, from its
    /// last HEARTBEAT: every call on the switch, arsgate's replicas' and
    /// anyone else's.
    pub sessions: Option<(u32, u32)>,
    /// The FreeSWITCH modules arsgate needs that the node lacked when it
    /// was last checked (at its connection); `None` before that.
    pub missing_modules: Option<Vec<String>>,
}

/// Where a node stands, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Connected, answering, and its core says it is up.
    Up,
    /// The event socket is not connected.
    Down,
    /// Connected, but a command timed out and none was answered since (a
    /// frozen switch): it takes no new calls.
    Silent,
    /// Its last `status` did not say the core is up.
    Failing,
    /// Connected, `status` not asked yet.
    Unknown,
}

impl NodeState {
    /// The word operators read.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Down => "down",
            NodeState::Silent => "silent",
            NodeState::Failing => "failing",
            NodeState::Unknown => "unknown",
        }
    }
}

impl NodeReport {
    /// Where the node stands: the connection first (a disconnected node's
    /// last `status` answer says nothing now), then whether it answers,
    /// then its `status`.
    pub fn state(&self) -> NodeState {
        if !self.connected {
            NodeState::Down
        } else if !self.responsive {
            NodeState::Silent
        } else {
            match self.status {
                StatusAnswer::Up => NodeState::Up,
                StatusAnswer::Failed => NodeState::Failing,
                StatusAnswer::Unknown => NodeState::Unknown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(connected: bool, responsive: bool, status: StatusAnswer) -> NodeReport {
        NodeReport {
            name: "fs1".to_owned(),
            connected,
            heartbeat_age: None,
            status,
            live_channels: 0,
            max_channels: 10,
            cps: 10,
            weight: 1,
            draining: false,
            responsive,
            backing_off: false,
            sessions: None,
            missing_modules: None,
        }
    }

    #[test]
    fn the_state_puts_the_connection_first() {
        let up = StatusAnswer::Up;
        assert_eq!(report(false, true, up).state(), NodeState::Down);
        assert_eq!(report(false, false, up).state(), NodeState::Down);
        assert_eq!(report(true, false, up).state(), NodeState::Silent);
        assert_eq!(report(true, true, up).state(), NodeState::Up);
        assert_eq!(
            report(true, true, StatusAnswer::Failed).state(),
            NodeState::Failing
        );
        assert_eq!(
            report(true, true, StatusAnswer::Unknown).state(),
            NodeState::Unknown
        );
    }

    #[test]
    fn only_a_ready_core_is_up() {
        assert!(status_is_up(
            "UP 0 years, 0 days, 0 hours, 0 minutes, 5 seconds, 1 milliseconds, 0 microseconds\nFreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
        ));
        assert!(!status_is_up("-ERR no reply\n"));
        assert!(!status_is_up(""));
    }
}
