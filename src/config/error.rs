//! Why a configuration could not be loaded.

use std::time::Duration;

use thiserror::Error;

use super::{NodeName, YamlError};

/// Why [`Config::load`](super::Config::load) failed.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read, is not YAML, or a field does not fit.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// An `ARSGATE_...` environment variable names no setting, or its value
    /// does not fit the setting it names.
    #[error("{var}: {reason}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Every field is well-formed, but together they do not make sense.
    #[error("{origin}: {error}")]
    Invalid {
        /// The file name, or whatever the caller named the text.
        origin: String,
        /// What is wrong.
        error: ValidationError,
    },
}

/// A rule that a deserialized configuration breaks.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValidationError {
    /// `nodes` is empty.
    #[error("nodes: at least one FreeSWITCH node is required")]
    NoNodes,
    /// A node's host is empty.
    #[error("nodes[{index}].host: must not be empty")]
    EmptyHost {
        /// The node's position in `nodes`.
        index: usize,
    },
    /// Two nodes share a name.
    #[error("nodes[{index}].name: `{name}` is already the name of nodes[{first}]")]
    DuplicateNodeName {
        /// The shared name.
        name: NodeName,
        /// The first node with that name.
        first: usize,
        /// The repeat.
        index: usize,
    },
    /// A duration that something waits on is zero.
    #[error("{field}: must be longer than zero")]
    ZeroDuration {
        /// The setting's path, as `esl.heartbeat_interval`.
        field: &'static str,
    },
    /// The reconnect backoff would shrink.
    #[error("esl.reconnect.max: {max:?} is shorter than esl.reconnect.initial ({initial:?})")]
    BackoffOrder {
        /// `esl.reconnect.initial`.
        initial: Duration,
        /// `esl.reconnect.max`.
        max: Duration,
    },
    /// The reconnect jitter is not a fraction.
    #[error("esl.reconnect.jitter: {0} is outside 0.0 to 1.0")]
    Jitter(f64),
    /// A caller id holds what a switch would interpret.
    #[error(
        "{field}: a number is digits with an optional leading +; a name is at most 64 characters without quotes, braces, commas or $"
    )]
    CallerId {
        /// `calls.caller_id_number` or `calls.caller_id_name`.
        field: &'static str,
    },
    /// The server secret is too short to key codes with.
    #[error("secret: must be at least 32 bytes (try `openssl rand -hex 32`)")]
    ShortSecret,
    /// The admin token is too short to be a secret.
    #[error("admin.token: must be at least 16 bytes (try `openssl rand -hex 32`)")]
    ShortAdminToken,
    /// The sandbox's speed is not a sensible factor.
    #[error("sandbox.speed: {0} is outside 0.1 to 1000")]
    SandboxSpeed(f64),
    /// A plan is named that `limits.plans` does not have.
    #[error("{field}: there is no plan named `{plan}` in limits.plans")]
    UnknownPlan {
        /// Where it is named, as `limits.merchants.acme`.
        field: String,
        /// The name.
        plan: String,
    },
    /// Channel leases would expire before they could be renewed.
    #[error("limits.lease_ttl: {0:?} is shorter than 1s")]
    ShortLease(Duration),
    /// A plan's duration is zero.
    #[error("{field}: must be longer than zero")]
    ZeroPlanDuration {
        /// The setting's path, as `limits.plans.gold.queue_timeout`.
        field: String,
    },
    /// The mod_xml_curl route is enabled without usable credentials.
    #[error("{0}")]
    XmlCurl(&'static str),
}
