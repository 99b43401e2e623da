//! Configuration: the YAML file, environment overrides and secrets.
//!
//! [`Config::load`] reads the file into a YAML tree, applies the `ARSGATE_...`
//! environment overrides to that tree (see below), deserializes it into the
//! typed model — which refuses unknown fields, so a typo is an error — and
//! then checks the rules that span fields. Every error names the file or the
//! variable and the path of the field, as `nodes[1].port`.
//!
//! Environment overrides: `ARSGATE_<KEY>__<KEY>...=<value>` sets one value,
//! with keys in upper case and `__` stepping into a section; in the node list
//! a key picks the node by name (`-` written `_`). Values are YAML, as in the
//! file. Examples: `ARSGATE_LISTEN=0.0.0.0:9000`,
//! `ARSGATE_ESL__HEARTBEAT_INTERVAL=5s`, `ARSGATE_NODES__FS1__PASSWORD=secret`.
//!
//! A new section is a struct with `#[serde(default, deny_unknown_fields)]` and
//! a `Default` impl, plus one field of [`Config`].

mod admin;
mod calls;
mod env;
mod error;
mod esl;
mod limits;
mod node;
mod secret;
mod server;
mod xml_curl;
pub(crate) mod yaml;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use admin::{AdminConfig, MIN_ADMIN_TOKEN_BYTES};
pub use calls::{CallsConfig, RecordingsConfig, TtsConfig};
pub use error::{ConfigError, ValidationError};
pub use esl::{Backoff, EslConfig};
pub use limits::{AtLimit, BUILT_IN_PLAN, LimitsConfig, PlanConfig, VelocityConfig};
pub use node::{DialString, DialStringError, InvalidNodeName, NodeConfig, NodeName};
pub use secret::Secret;
pub use server::{
    HttpConfig, MIN_SECRET_BYTES, SandboxConfig, ShutdownConfig, StoreConfig, WebhooksConfig,
};
pub use xml_curl::XmlCurlConfig;
pub use yaml::YamlError;

/// Everything the `arsgate` server reads from `config/arsgate.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Socket address of the HTTP API. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Time limits on the API's clients.
    #[serde(default)]
    pub http: HttpConfig,
    /// Event Socket connection settings, shared by all nodes.
    #[serde(default)]
    pub esl: EslConfig,
    /// The FreeSWITCH nodes to place calls through; at least one.
    pub nodes: Vec<NodeConfig>,
    /// How calls are run.
    #[serde(default)]
    pub calls: CallsConfig,
    /// Where arsgate keeps its files: the SQLite database, recordings of
    /// sandbox calls, the built-in assets written out. Default `data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The store. Default: SQLite in the data directory.
    #[serde(default)]
    pub store: StoreConfig,
    /// The server's secret (at least 32 bytes): one-time codes are derived
    /// from it and stored as HMACs under it. Keep it stable: changing it
    /// invalidates the codes of verifications in flight. `arsgate serve`
    /// requires it; prefer `ARSGATE_SECRET` to writing it here.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The sandbox for test keys.
    #[serde(default)]
    pub sandbox: SandboxConfig,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Graceful shutdown.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Plans: channels, rates and velocity per merchant.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The operators' API.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The dialplan served to FreeSWITCH's mod_xml_curl.
    #[serde(default)]
    pub xml_curl: XmlCurlConfig,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

fn default_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))
}

impl Config {
    /// Loads the configuration file at `path` with overrides from `env`,
    /// normally `std::env::vars()`. Every `ARSGATE_` variable in `env` is read
    /// as an override, so leave out any meant for something else.
    pub fn load<I, K, V>(path: impl AsRef<Path>, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let path = path.as_ref();
        let text = yaml::read(path)?;
        Self::from_yaml_str(&text, &path.display().to_string(), env)
    }

    /// Loads a configuration from YAML text; `origin` names the text in errors.
    pub fn from_yaml_str<I, K, V>(text: &str, origin: &str, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut tree = yaml::parse(text, origin)?;
        let overrides = env::apply(&mut tree, env)?;
        let config: Self =
            yaml::from_value(tree, origin).map_err(|error| env::blame(error, &overrides))?;
        config.validate().map_err(|error| ConfigError::Invalid {
            origin: origin.to_owned(),
            error,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        self.esl.validate()?;
        self.http.validate()?;
        self.calls.validate()?;
        server::validate(self.secret.as_ref(), &self.sandbox)?;
        self.limits.validate()?;
        self.admin.validate()?;
        self.xml_curl.validate()?;
        node::validate_nodes(&self.nodes)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use super::*;

    const NO_ENV: [(&str, &str); 0] = [];

    const MINIMAL: &str = "
nodes:
  - name: fs1
    host: 10.0.0.1
    password: ClueCon
    max_channels: 100
    dial_string: sofia/gateway/kt/{number}
";

    const TWO_NODES: &str = "
nodes:
  - name: fs1
    host: 10.0.0.1
    password: pw1
    max_channels: 100
    dial_string: sofia/gateway/kt/{number}
  - name: fs-b
    host: 10.0.0.2
    password: pw2
    max_channels: 50
    dial_string: sofia/gateway/lg/{number}
";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_yaml_str(text, "test.yaml", env.iter().copied())
    }

    /// The path and message of a field error, failing the test otherwise.
    fn field_error(result: Result<Config, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::Yaml(YamlError::Field {
                origin,
                path,
                message,
            })) => {
                assert_eq!(origin, "test.yaml");
                (path, message)
            }
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    fn env_error(result: Result<Config, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::Env { var, reason }) => (var, reason),
            other => panic!("expected an environment error, got {other:?}"),
        }
    }

    fn invalid(result: Result<Config, ConfigError>) -> ValidationError {
        match result {
            Err(ConfigError::Invalid { error, .. }) => error,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// `MINIMAL` with `old` replaced by `new`; `old` must be there.
    fn minimal_with(old: &str, new: &str) -> String {
        assert!(MINIMAL.contains(old), "{old} is not in MINIMAL");
        MINIMAL.replacen(old, new, 1)
    }

    #[test]
    fn defaults_fill_everything_optional() {
        let config = load(MINIMAL, &[]).expect("valid");
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(config.esl, EslConfig::default());
        assert_eq!(config.esl.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.esl.command_timeout, Duration::from_secs(10));
        assert_eq!(config.esl.heartbeat_interval, Duration::from_secs(20));
        assert_eq!(config.esl.heartbeat_misses.get(), 3);
        assert_eq!(config.esl.reconnect.initial, Duration::from_millis(500));
        assert_eq!(config.esl.reconnect.max, Duration::from_secs(30));
        assert_eq!(config.esl.reconnect.jitter, 0.2);
        assert_eq!(config.esl.event_queue_capacity.get(), 10_000);
        assert_eq!(config.esl.max_frame_bytes.get(), 8 * 1024 * 1024);
        let node = &config.nodes[0];
        assert_eq!(
            (node.port, node.cps.get(), node.weight.get()),
            (8021, 30, 1)
        );
        assert_eq!(node.name.as_str(), "fs1");
        assert_eq!(node.dial_string.render("0101"), "sofia/gateway/kt/0101");
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let text = format!("esl:\n  reconnect:\n    max: 1m\n{MINIMAL}");
        let config = load(&text, &[]).expect("valid");
        assert_eq!(config.esl.reconnect.max, Duration::from_secs(60));
        assert_eq!(config.esl.reconnect.initial, Duration::from_millis(500));
        assert_eq!(config.esl.heartbeat_interval, Duration::from_secs(20));
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        let (path, message) = field_error(load(
            &minimal_with("max_channels: 100", "max_channels: 100\n    cpz: 5"),
            &[],
        ));
        assert_eq!(path, "nodes[0].cpz");
        assert!(message.contains("unknown field `cpz`"), "{message}");

        let text = format!("esl:\n  heartbeat: 5s\n{MINIMAL}");
        assert_eq!(field_error(load(&text, &[])).0, "esl.heartbeat");
    }

    #[test]
    fn bad_values_are_rejected_with_their_path() {
        let text = TWO_NODES.replacen("max_channels: 50", "max_channels: 50\n    port: 70000", 1);
        let (path, message) = field_error(load(&text, &[]));
        assert_eq!(path, "nodes[1].port");
        assert!(message.contains("invalid value"), "{message}");

        let text = format!("esl:\n  heartbeat_interval: 20\n{MINIMAL}");
        assert_eq!(field_error(load(&text, &[])).0, "esl.heartbeat_interval");
    }

    #[test]
    fn missing_required_fields_are_reported() {
        let (path, message) =
            field_error(load(&minimal_with("password: ClueCon", "port: 8021"), &[]));
        assert_eq!(path, "nodes[0]");
        assert!(message.contains("missing field `password`"), "{message}");
    }

    #[test]
    fn errors_name_the_file_they_came_from() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, "listen: nowhere\n").expect("write");
        let error = Config::load(&file, NO_ENV).expect_err("bad listen");
        let text = error.to_string();
        assert!(text.contains("broken.yaml: listen: invalid"), "{text}");
    }

    #[test]
    fn env_overrides_a_scalar() {
        let env = [
            ("ARSGATE_LISTEN", "0.0.0.0:9000"),
            ("ARSGATE_ESL__HEARTBEAT_INTERVAL", "5s"),
        ];
        let config = load(MINIMAL, &env).expect("valid");
        assert_eq!(config.listen, "0.0.0.0:9000".parse().expect("address"));
        assert_eq!(config.esl.heartbeat_interval, Duration::from_secs(5));
    }

    #[test]
    fn env_overrides_a_node_by_name() {
        let env = [
            ("ARSGATE_NODES__FS_B__PASSWORD", "from-env"),
            ("ARSGATE_NODES__FS_B__MAX_CHANNELS", "7"),
        ];
        let config = load(TWO_NODES, &env).expect("valid");
        assert_eq!(config.nodes[1].password.expose(), "from-env");
        assert_eq!(config.nodes[1].max_channels, NonZeroU32::new(7).expect("7"));
        assert_eq!(config.nodes[0].password.expose(), "pw1");
    }

    #[test]
    fn the_admin_token_is_optional_secret_and_long_enough() {
        assert!(load(MINIMAL, &[]).expect("valid").admin.token.is_none());
        let token = "0123456789abcdef0123";
        let config = load(MINIMAL, &[("ARSGATE_ADMIN__TOKEN", token)]).expect("valid");
        let admin = config.admin.token.expect("set");
        assert_eq!(admin.expose(), token);
        assert_eq!(format!("{admin:?}"), "***");
        assert_eq!(
            invalid(load(MINIMAL, &[("ARSGATE_ADMIN__TOKEN", "short")])),
            ValidationError::ShortAdminToken
        );
    }

    #[test]
    fn env_can_supply_a_password_missing_from_the_file() {
        let text = minimal_with("password: ClueCon", "port: 8021");
        let config = load(&text, &[("ARSGATE_NODES__FS1__PASSWORD", "s3cret")]).expect("valid");
        assert_eq!(config.nodes[0].password.expose(), "s3cret");
    }

    #[test]
    fn env_naming_an_unknown_setting_is_an_error() {
        for var in [
            "ARSGATE_ESL__HEARTBEAT_INTERVL",
            "ARSGATE_LISTEN_ADDR",
            "ARSGATE_NODES__FS1__PASWORD",
        ] {
            let (got, reason) = env_error(load(MINIMAL, &[(var, "x")]));
            assert_eq!(got, var);
            assert!(reason.contains("unknown field"), "{var}: {reason}");
        }
    }

    #[test]
    fn env_naming_an_unknown_node_is_an_error() {
        let (var, reason) = env_error(load(MINIMAL, &[("ARSGATE_NODES__FS9__PASSWORD", "x")]));
        assert_eq!(var, "ARSGATE_NODES__FS9__PASSWORD");
        assert!(reason.contains("no entry named `fs9`"), "{reason}");
    }

    #[test]
    fn env_value_that_does_not_fit_names_the_variable() {
        let (var, reason) = env_error(load(MINIMAL, &[("ARSGATE_NODES__FS1__PORT", "http")]));
        assert_eq!(var, "ARSGATE_NODES__FS1__PORT");
        assert!(
            reason.starts_with("nodes[0].port: invalid type"),
            "{reason}"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config =
            load(TWO_NODES, &[("ARSGATE_NODES__FS1__PASSWORD", "env-pass-9")]).expect("valid");
        let printed = format!("{config:?} {config:#?}");
        for password in ["env-pass-9", "pw2"] {
            assert!(!printed.contains(password), "{password} leaked");
        }
        assert!(printed.contains("password: ***"));
    }

    #[test]
    fn invalid_node_names_are_rejected() {
        let (path, message) = field_error(load(&minimal_with("name: fs1", "name: FS1"), &[]));
        assert_eq!(path, "nodes[0].name");
        assert!(
            message.contains("`FS1` is not a valid node name"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_node_names_are_rejected() {
        let text = TWO_NODES.replace("name: fs-b", "name: fs1");
        assert_eq!(
            invalid(load(&text, &[])),
            ValidationError::DuplicateNodeName {
                name: NodeName::try_from("fs1".to_owned()).expect("valid name"),
                first: 0,
                index: 1,
            }
        );
    }

    #[test]
    fn zero_max_channels_is_rejected() {
        let (path, _) = field_error(load(
            &minimal_with("max_channels: 100", "max_channels: 0"),
            &[],
        ));
        assert_eq!(path, "nodes[0].max_channels");
    }

    #[test]
    fn bad_dial_strings_are_rejected_with_their_rule() {
        for (template, rule) in [
            ("sofia/gateway/kt/", "exactly once"),
            ("'sofia/gateway/kt/{number}{number}'", "exactly once"),
            ("'sofia/gateway/kt/{number} x'", "whitespace"),
            ("'sofia/{gw}/{number}'", "braces"),
            ("\"sofia/gateway/kt/{number}'\"", "quotes"),
            (
                "'{ignore_early_media=true}sofia/gateway/kt/{number}'",
                "channel variables",
            ),
            (
                "'[leg_timeout=5]sofia/gateway/kt/{number}'",
                "channel variables",
            ),
        ] {
            let line = format!("dial_string: {template}");
            let (path, message) = field_error(load(
                &minimal_with("dial_string: sofia/gateway/kt/{number}", &line),
                &[],
            ));
            assert_eq!(path, "nodes[0].dial_string", "{template}");
            assert!(message.contains(rule), "{template}: {message}");
        }
    }

    #[test]
    fn no_nodes_is_rejected() {
        assert_eq!(invalid(load("nodes: []", &[])), ValidationError::NoNodes);
    }

    #[test]
    fn empty_host_is_rejected() {
        assert_eq!(
            invalid(load(&minimal_with("host: 10.0.0.1", "host: ''"), &[])),
            ValidationError::EmptyHost { index: 0 }
        );
    }

    #[test]
    fn validation_errors_name_the_origin() {
        let error = load("nodes: []", &[]).expect_err("no nodes");
        assert_eq!(
            error.to_string(),
            "test.yaml: nodes: at least one FreeSWITCH node is required"
        );
    }

    #[test]
    fn without_a_limits_section_every_merchant_is_on_the_built_in_plan() {
        let config = load(MINIMAL, &[]).expect("valid");
        assert_eq!(config.limits, LimitsConfig::default());
        assert_eq!(config.limits.default_plan, BUILT_IN_PLAN);
        let plan = &config.limits.plans[BUILT_IN_PLAN];
        assert_eq!((plan.max_channels.get(), plan.cps.get()), (100, 50));
        assert_eq!((plan.velocity, plan.daily_cap), (None, None));
        assert_eq!(plan.at_limit, AtLimit::Reject);
        assert!(plan.recording);
    }

    #[test]
    fn plans_take_defaults_for_what_they_leave_out() {
        let text = format!(
            "{MINIMAL}limits:\n  default_plan: small\n  plans:\n    small:\n      max_channels: 2\n      at_limit: queue\n      velocity: {{ calls: 3, window: 10m }}\n"
        );
        let config = load(&text, &[]).expect("valid");
        let plan = &config.limits.plans["small"];
        assert_eq!(plan.max_channels.get(), 2);
        assert_eq!(plan.at_limit, AtLimit::Queue);
        assert_eq!(
            plan.velocity.map(|v| (v.calls.get(), v.window)),
            Some((3, Duration::from_secs(600)))
        );
        assert_eq!(plan.cps, PlanConfig::default().cps);
        assert_eq!(plan.queue_timeout, Duration::from_secs(30));
    }

    #[test]
    fn plans_named_must_exist() {
        let text = format!("{MINIMAL}limits:\n  default_plan: gold\n");
        assert_eq!(
            invalid(load(&text, &[])),
            ValidationError::UnknownPlan {
                field: "limits.default_plan".to_owned(),
                plan: "gold".to_owned(),
            }
        );
        let text = format!("{MINIMAL}limits:\n  merchants:\n    acme: gold\n");
        let error = load(&text, &[]).expect_err("unknown plan");
        assert_eq!(
            error.to_string(),
            "test.yaml: limits.merchants.acme: there is no plan named `gold` in limits.plans"
        );
    }

    #[test]
    fn bad_plan_values_are_rejected() {
        let text = format!("{MINIMAL}limits:\n  lease_ttl: 500ms\n");
        assert_eq!(
            invalid(load(&text, &[])),
            ValidationError::ShortLease(Duration::from_millis(500))
        );
        let text = format!("{MINIMAL}limits:\n  plans:\n    default:\n      queue_timeout: 0s\n");
        assert_eq!(
            invalid(load(&text, &[])),
            ValidationError::ZeroPlanDuration {
                field: "limits.plans.default.queue_timeout".to_owned()
            }
        );
        let text = format!("{MINIMAL}limits:\n  plans:\n    default:\n      max_channels: 0\n");
        assert_eq!(
            field_error(load(&text, &[])).0,
            "limits.plans.default.max_channels"
        );
        let text = format!("{MINIMAL}limits:\n  plans:\n    default:\n      at_limit: wait\n");
        assert_eq!(
            field_error(load(&text, &[])).0,
            "limits.plans.default.at_limit"
        );
    }

    #[test]
    fn the_effective_settings_read_back_as_themselves_with_secrets_hidden() {
        let text = format!(
            "{TWO_NODES}secret: {secret}\nadmin:\n  token: {token}\nlimits:\n  plans:\n    \
             gold: {{ velocity: {{ calls: 3, window: 90s }}, daily_cap: 7 }}\n  default_plan: gold\n",
            secret = "s".repeat(40),
            token = "t".repeat(20),
        );
        let config = load(&text, &[]).expect("valid");
        let printed = serde_norway::to_string(&config).expect("serializes");
        for secret in ["pw1", "pw2", &"s".repeat(40), &"t".repeat(20)] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        // Printed secrets are `***`: long enough for passwords, not for the
        // secret and the token, which are left out to read it back.
        let mut tree: serde_norway::Value = serde_norway::from_str(&printed).expect("YAML");
        let map = tree.as_mapping_mut().expect("a mapping");
        map.remove("secret");
        map.remove("admin");
        let again = Config::from_yaml_str(
            &serde_norway::to_string(&tree).expect("serializes"),
            "printed",
            NO_ENV,
        )
        .expect("the printed settings load");
        let mut expected = tree.clone();
        let reprinted: serde_norway::Value = serde_norway::to_value(&again).expect("serializes");
        expected
            .as_mapping_mut()
            .expect("a mapping")
            .insert("secret".into(), serde_norway::Value::Null);
        expected.as_mapping_mut().expect("a mapping").insert(
            "admin".into(),
            serde_norway::from_str("token: null").expect("YAML"),
        );
        assert_eq!(reprinted, expected);
    }

    #[test]
    fn shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/arsgate.yaml");
        let config = Config::load(&path, NO_ENV).expect("config/arsgate.yaml is valid");
        assert_eq!(
            config.esl,
            EslConfig::default(),
            "the example shows the defaults"
        );
        assert_eq!(config.listen, default_listen());
        let node = &config.nodes[0];
        assert_eq!(
            (node.port, node.cps, node.weight),
            (
                node::default_port(),
                node::default_cps(),
                node::default_weight()
            ),
            "the example node shows the defaults"
        );
        let standard = &config.limits.plans[&config.limits.default_plan];
        let defaults = PlanConfig::default();
        assert_eq!(
            (
                standard.max_channels,
                standard.cps,
                standard.at_limit,
                standard.queue_timeout,
                standard.max_queue
            ),
            (
                defaults.max_channels,
                defaults.cps,
                defaults.at_limit,
                defaults.queue_timeout,
                defaults.max_queue
            ),
            "the example's standard plan shows the defaults"
        );
        assert_eq!(config.limits.lease_ttl, LimitsConfig::default().lease_ttl);
        assert_eq!(config.limits.merchants["innobank"], "enterprise");
    }
}
