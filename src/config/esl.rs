//! Settings of arsgate's Event Socket connections to FreeSWITCH.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// How arsgate talks to every FreeSWITCH node over the Event Socket.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EslConfig {
    /// Time allowed to open the TCP connection and pass `auth`. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for the reply to one `api` or `bgapi` command. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// The node's HEARTBEAT period (`event-heartbeat-interval` in
    /// switch.conf.xml). Default `20s`, FreeSWITCH's own default.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A connection that stays silent for this many heartbeat intervals is
    /// dead, even if TCP has not noticed. Default `3`.
    pub heartbeat_misses: NonZeroU32,
    /// How to wait between attempts to reconnect to a node.
    pub reconnect: Backoff,
    /// A node whose event socket stays down this long has its calls ended
    /// (`network_error`, reason `lost: ...`) instead of waiting out their
    /// deadlines; should it come back with their channels, they are hung
    /// up. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub node_lost_after: Duration,
    /// Events buffered per connection for their consumer; past it new events
    /// are dropped and counted, because the socket is never left unread
    /// (FreeSWITCH punishes slow readers). Default `10000`.
    pub event_queue_capacity: NonZeroUsize,
    /// Largest frame accepted from a node; a bigger one closes the connection.
    /// Default 8 MiB (`8388608`).
    pub max_frame_bytes: NonZeroUsize,
}

impl Default for EslConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(20),
            heartbeat_misses: const { NonZeroU32::new(3).unwrap() },
            reconnect: Backoff::default(),
            node_lost_after: Duration::from_secs(30),
            event_queue_capacity: const { NonZeroUsize::new(10_000).unwrap() },
            max_frame_bytes: const { NonZeroUsize::new(8 << 20).unwrap() },
        }
    }
}

impl EslConfig {
    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        for (field, value) in [
            ("esl.connect_timeout", self.connect_timeout),
            ("esl.command_timeout", self.command_timeout),
            ("esl.heartbeat_interval", self.heartbeat_interval),
            ("esl.reconnect.initial", self.reconnect.initial),
            ("esl.node_lost_after", self.node_lost_after),
        ] {
            if value.is_zero() {
                return Err(ValidationError::ZeroDuration { field });
            }
        }
        self.reconnect.validate()
    }
}

/// Exponential backoff: the wait doubles after each failed attempt, from
/// `initial` up to `max`, and each wait is moved at random by up to `jitter` of
/// itself so that arsgate replicas do not reconnect in lockstep.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// The first wait. Default `500ms`.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// The longest wait. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Fraction of each wait, from 0.0 to 1.0, by which it may be moved.
    /// Default `0.2`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.max < self.initial {
            return Err(ValidationError::BackoffOrder {
                initial: self.initial,
                max: self.max,
            });
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ValidationError::Jitter(self.jitter));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(EslConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_durations_are_rejected() {
        let config = EslConfig {
            heartbeat_interval: Duration::ZERO,
            ..EslConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ValidationError::ZeroDuration {
                field: "esl.heartbeat_interval"
            })
        );
    }

    #[test]
    fn backoff_max_below_initial_is_rejected() {
        let backoff = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(1),
            ..Backoff::default()
        };
        assert!(matches!(
            backoff.validate(),
            Err(ValidationError::BackoffOrder { .. })
        ));
    }

    #[test]
    fn jitter_outside_zero_to_one_is_rejected() {
        for jitter in [-0.1, 1.5, f64::NAN] {
            let backoff = Backoff {
                jitter,
                ..Backoff::default()
            };
            assert!(
                matches!(backoff.validate(), Err(ValidationError::Jitter(_))),
                "{jitter}"
            );
        }
    }
}
