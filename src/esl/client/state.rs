//! What the client reports about itself: the connection state and counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the client's connection stands, published through
/// [`Client::state`](super::Client::state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening and authenticating a connection; `attempt` counts from 1 since
    /// the last time the client was connected.
    Connecting {
        /// Attempts made so far, this one included.
        attempt: u32,
    },
    /// Authenticated and subscribed; commands are accepted.
    Connected {
        /// The `Core-UUID` of the FreeSWITCH instance on the other end.
        core_uuid: String,
        /// The `Core-UUID` differs from the previous connection's:
        /// FreeSWITCH restarted and every call it carried is gone. A watch
        /// only keeps the latest state, so a consumer that must never miss
        /// a restart compares `core_uuid` with the last one it saw instead.
        restarted: bool,
    },
    /// The connection was lost or could not be established; a reconnect
    /// follows after the backoff delay.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// [`Client::close`](super::Client::close) was called or every client
    /// handle was dropped; nothing will reconnect.
    Closed,
}

/// Why a connection ended or could not be established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The TCP connect failed (the text is the socket error).
    ConnectFailed(String),
    /// No TCP connection, greeting or reply within the time limit.
    Timeout,
    /// The password was refused; the client keeps retrying at the maximum
    /// backoff delay, since only a configuration change can fix it.
    AuthFailed,
    /// FreeSWITCH's ACL refused the client; retried at the maximum delay.
    AclDenied,
    /// Nothing arrived for `heartbeat_misses` heartbeat periods.
    HeartbeatTimeout,
    /// FreeSWITCH closed the connection; the text is its disconnect notice
    /// (empty when the socket simply reached EOF).
    ServerClosed(String),
    /// Reading or writing the socket failed.
    Io(String),
    /// The byte stream could not be framed.
    Protocol(String),
    /// A setup command (subscription, filter, Core-UUID query) was refused.
    SetupFailed(String),
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ConnectFailed(text) => write!(f, "connect failed: {text}"),
            DisconnectReason::Timeout => f.write_str("timed out"),
            DisconnectReason::AuthFailed => f.write_str("authentication failed"),
            DisconnectReason::AclDenied => f.write_str("access denied by ACL"),
            DisconnectReason::HeartbeatTimeout => f.write_str("no heartbeat"),
            DisconnectReason::ServerClosed(text) if text.is_empty() => {
                f.write_str("closed by FreeSWITCH")
            }
            DisconnectReason::ServerClosed(text) => {
                write!(f, "closed by FreeSWITCH: {}", text.trim_end())
            }
            DisconnectReason::Io(text) => write!(f, "socket error: {text}"),
            DisconnectReason::Protocol(text) => write!(f, "protocol error: {text}"),
            DisconnectReason::SetupFailed(text) => write!(f, "setup failed: {text}"),
        }
    }
}

/// A snapshot of the client's counters since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Events read from FreeSWITCH (heartbeats and job results included).
    pub events_received: u64,
    /// Events discarded because the event channel was full.
    pub events_dropped: u64,
    /// Event frames whose body could not be parsed (skipped).
    pub malformed_events: u64,
    /// Successful reconnects after the first connection.
    pub reconnects: u64,
    /// Events waiting in the event channel right now.
    pub queue_depth: u64,
}

/// The live counters behind [`ClientStats`], shared by the reader tasks, the
/// supervisor and [`Events`](super::Events).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events_received: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) malformed_events: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) queue_depth: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One event left the channel. Saturates: a consumer may race the
    /// producer's increment.
    pub(crate) fn dequeued(&self) {
        let _ = self
            .queue_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            events_received: self.events_received.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            malformed_events: self.malformed_events.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_depth_never_goes_below_zero() {
        let counters = Counters::default();
        counters.dequeued();
        Counters::bump(&counters.queue_depth);
        Counters::bump(&counters.queue_depth);
        counters.dequeued();
        assert_eq!(counters.snapshot().queue_depth, 1);
    }

    #[test]
    fn reasons_read_well_in_logs() {
        assert_eq!(
            DisconnectReason::ServerClosed("killed listener because of lost events\n".into())
                .to_string(),
            "closed by FreeSWITCH: killed listener because of lost events"
        );
        assert_eq!(
            DisconnectReason::ServerClosed(String::new()).to_string(),
            "closed by FreeSWITCH"
        );
    }
}
