//! What the client needs to know to reach and keep a FreeSWITCH connection.

use std::fmt;
use std::time::Duration;

use crate::esl::codec::DEFAULT_MAX_FRAME;
use crate::esl::event_name::EventName;

/// Settings of one [`Client`](super::Client): where FreeSWITCH listens, its
/// password, the time limits and the reconnect policy.
///
/// Built with [`ClientConfig::new`], which fills in production defaults; the
/// fields are public so a caller (the application's YAML config, a test)
/// overrides only what it cares about. `Debug` never prints the password.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` of the event socket (a name is resolved on every connect,
    /// so a DNS change is picked up by the next reconnect).
    pub addr: String,
    /// The event socket password (`auth <password>`).
    pub password: String,
    /// Limit for the TCP connect and for FreeSWITCH's `auth/request` greeting.
    pub connect_timeout: Duration,
    /// Limit for one command's reply (not for a `bgapi` job's result).
    pub command_timeout: Duration,
    /// FreeSWITCH's HEARTBEAT period (`event-heartbeat-interval`, 20 s).
    pub heartbeat_interval: Duration,
    /// How many heartbeat periods of silence declare the connection dead
    /// (a zero `heartbeat_interval` disables the check).
    pub heartbeat_misses: u32,
    /// Delay before the first reconnect attempt; doubles on every failure
    /// (never less than 1 ms).
    pub reconnect_initial: Duration,
    /// Ceiling of the reconnect delay.
    pub reconnect_max: Duration,
    /// Fraction (0..=1) of each reconnect delay that is randomised, so that
    /// many clients cut off together do not reconnect in lockstep.
    pub reconnect_jitter: f64,
    /// Capacity of the event channel; events that find it full are dropped
    /// and counted rather than slowing the socket reader down.
    pub event_queue: usize,
    /// Largest frame header block or body accepted from FreeSWITCH.
    pub max_frame: usize,
    /// Event types to subscribe to on every connection, besides
    /// `BACKGROUND_JOB` and `HEARTBEAT` which the client always needs.
    pub subscriptions: Vec<EventName>,
}

impl ClientConfig {
    /// Defaults for a production FreeSWITCH at `addr` (`host:port`, or
    /// anything that displays as such, like a `SocketAddr`).
    pub fn new(addr: impl ToString, password: impl Into<String>) -> ClientConfig {
        ClientConfig {
            addr: addr.to_string(),
            password: password.into(),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(20),
            heartbeat_misses: 3,
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            reconnect_jitter: 0.2,
            event_queue: 10_000,
            max_frame: DEFAULT_MAX_FRAME,
            subscriptions: Vec::new(),
        }
    }

    /// How long the connection may stay silent before it is declared dead.
    pub(crate) fn liveness_limit(&self) -> Duration {
        self.heartbeat_interval
            .saturating_mul(self.heartbeat_misses.max(1))
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("password", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_misses", &self.heartbeat_misses)
            .field("reconnect_initial", &self.reconnect_initial)
            .field("reconnect_max", &self.reconnect_max)
            .field("reconnect_jitter", &self.reconnect_jitter)
            .field("event_queue", &self.event_queue)
            .field("max_frame", &self.max_frame)
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let config = ClientConfig::new("127.0.0.1:8021", "s3cret-pw");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret-pw"), "{printed}");
        assert!(printed.contains("127.0.0.1:8021"));
    }

    #[test]
    fn defaults_match_freeswitch_and_the_liveness_rule() {
        let addr: std::net::SocketAddr = "10.0.0.7:8021".parse().unwrap();
        let config = ClientConfig::new(addr, "ClueCon");
        assert_eq!(config.addr, "10.0.0.7:8021");
        assert_eq!(config.liveness_limit(), Duration::from_secs(60));
        assert_eq!(config.event_queue, 10_000);
        assert_eq!(config.max_frame, 8 * 1024 * 1024);
    }
}
