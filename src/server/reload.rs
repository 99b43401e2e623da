//! Reloading the configuration without a restart (SIGHUP, `POST
//! /admin/reload`): the file is read again and checked whole first — a
//! file that does not load, scenarios that do not validate or a node
//! change the pool cannot take change nothing, and the error says why.
//! Then what can change in place does, without dropping a call:
//!
//! - nodes added are connected; nodes removed are drained (their live
//!   calls finish, they take no new ones) and leave once empty; a node's
//!   `weight`, `max_channels` and `cps` count from its next call;
//! - plans, the default plan and the merchants' plans apply to the calls
//!   admitted from then on;
//! - scenarios: new verifications use the new definitions, a live call
//!   keeps the program it started with; the dialplan arsgate serves (the
//!   sandbox's, and mod_xml_curl's) is rendered again.
//!
//! Everything else (the listen address, the store, the secret, the event
//! socket settings, a node's address, password or dial string,
//! `limits.lease_ttl`, ...) is reported as needing a restart and left as
//! it runs.

use std::fmt::{self, Debug};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::api::freeswitch::DialplanServer;
use crate::config::{Config, ConfigError, LimitsConfig, NodeConfig};
use crate::domain::Mode;
use crate::scenario::prompts::PromptCatalog;
use crate::scenario::{CatalogChanges, Scenario, load};
use crate::service::Service;
use crate::sim::SimHandle;
use crate::switch::NodeLimits;

/// Reads the configuration again, as it was read at start (the file and
/// the environment's overrides).
pub type ConfigSource = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The server was not started from a configuration file.
    #[error("this arsgate was not started from a configuration file; there is nothing to reload")]
    NoSource,
    /// The configuration does not load.
    #[error("the configuration is invalid, nothing changed: {0}")]
    Config(#[from] ConfigError),
    /// The prompts' manifest or a scenario does not validate.
    #[error("the scenarios are invalid, nothing changed:\n{0}")]
    Scenarios(String),
    /// A node cannot be added yet.
    #[error(
        "node {0} was removed by an earlier reload and still has calls; nothing changed (reload again once it has left)"
    )]
    NodeRetiring(String),
}

/// Names added, changed and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Changes {
    /// New.
    pub added: Vec<String>,
    /// Changed.
    pub changed: Vec<String>,
    /// Gone.
    pub removed: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// The changes between two maps, by key.
    fn between<'a, V: PartialEq + 'a>(
        old: impl IntoIterator<Item = (&'a String, &'a V)>,
        new: impl IntoIterator<Item = (&'a String, &'a V)>,
    ) -> Changes {
        let old: Vec<(&String, &V)> = old.into_iter().collect();
        let new: Vec<(&String, &V)> = new.into_iter().collect();
        let find = |list: &[(&String, &'a V)], key: &String| {
            list.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        };
        let mut changes = Changes::default();
        for (key, value) in &new {
            match find(&old, key) {
                None => changes.added.push((*key).clone()),
                Some(before) if before != *value => changes.changed.push((*key).clone()),
                Some(_) => {}
            }
        }
        for (key, _) in &old {
            if find(&new, key).is_none() {
                changes.removed.push((*key).clone());
            }
        }
        changes
    }
}

impl From<CatalogChanges> for Changes {
    fn from(changes: CatalogChanges) -> Changes {
        Changes {
            added: changes.added,
            changed: changes.changed,
            removed: changes.removed,
        }
    }
}

/// A node whose limits changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NodeUpdate {
    /// The node.
    pub name: String,
    /// What changed, as `weight 1 -> 2`.
    pub changes: Vec<String>,
}

/// What a reload did to the nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct NodeChanges {
    /// Nodes connected.
    pub added: Vec<String>,
    /// Nodes draining: their live calls finish, then they leave.
    pub removed: Vec<String>,
    /// Nodes whose `weight`, `max_channels` or `cps` changed.
    pub updated: Vec<NodeUpdate>,
}

/// What a reload changed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReloadReport {
    /// The FreeSWITCH nodes.
    pub nodes: NodeChanges,
    /// Plans (`limits.plans`) added, changed and removed.
    pub plans: Changes,
    /// Merchants whose plan assignment (`limits.merchants`) was added,
    /// changed or removed.
    pub merchants: Changes,
    /// The new default plan, if it changed.
    pub default_plan: Option<String>,
    /// Scenarios added, changed and removed.
    pub scenarios: Changes,
    /// Settings that differ from those running but take a restart; left
    /// as they run (`listen`, `store`, `nodes.fs1.host`, ...).
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// Whether the reload changed nothing (restart-only settings aside).
    pub fn is_empty(&self) -> bool {
        self.nodes == NodeChanges::default()
            && self.plans.is_empty()
            && self.merchants.is_empty()
            && self.default_plan.is_none()
            && self.scenarios.is_empty()
    }
}

impl fmt::Display for ReloadReport {
    /// One line for the log: `nodes +fs3 -fs2 ~fs1(weight 1 -> 2);
    /// plans ~standard; needs restart: listen`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let list = |what: &str, changes: &Changes| {
            let mut words = Vec::new();
            words.extend(changes.added.iter().map(|n| format!("+{n}")));
            words.extend(changes.changed.iter().map(|n| format!("~{n}")));
            words.extend(changes.removed.iter().map(|n| format!("-{n}")));
            (!words.is_empty()).then(|| format!("{what} {}", words.join(" ")))
        };
        let mut nodes: Vec<String> = self.nodes.added.iter().map(|n| format!("+{n}")).collect();
        nodes.extend(self.nodes.removed.iter().map(|n| format!("-{n}")));
        nodes.extend(
            self.nodes
                .updated
                .iter()
                .map(|u| format!("~{}({})", u.name, u.changes.join(", "))),
        );
        if !nodes.is_empty() {
            parts.push(format!("nodes {}", nodes.join(" ")));
        }
        parts.extend(list("plans", &self.plans));
        parts.extend(list("merchants", &self.merchants));
        if let Some(plan) = &self.default_plan {
            parts.push(format!("default plan {plan}"));
        }
        parts.extend(list("scenarios", &self.scenarios));
        if parts.is_empty() {
            parts.push("nothing changed".to_owned());
        }
        if !self.needs_restart.is_empty() {
            parts.push(format!("needs restart: {}", self.needs_restart.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The sandbox's simulator and folder, whose dialplan a reload renders
/// again.
#[derive(Clone)]
pub struct SandboxDialplan {
    /// The simulator.
    pub sim: SimHandle,
    /// The sandbox's folder (`<data_dir>/sandbox`).
    pub dir: PathBuf,
}

/// Applies configuration reloads to a running server, one at a time.
pub struct Reloader {
    source: OnceLock<ConfigSource>,
    /// The configuration in force: what started, with what reloads
    /// changed in place.
    running: Mutex<Config>,
    service: Service,
    dialplan: DialplanServer,
    sandbox: Option<SandboxDialplan>,
    /// Where the scenarios and the prompts were found at start.
    scenarios: PathBuf,
    sounds: PathBuf,
}

/// Where the reloader finds what it changes.
pub struct ReloaderParts {
    /// The configuration the server started with.
    pub config: Config,
    /// The verification service (nodes, plans, scenarios).
    pub service: Service,
    /// The dialplan served to mod_xml_curl.
    pub dialplan: DialplanServer,
    /// The sandbox, when it is on.
    pub sandbox: Option<SandboxDialplan>,
    /// The scenarios' folder in use.
    pub scenarios: PathBuf,
    /// The prompts' folder in use.
    pub sounds: PathBuf,
}

/// A scenario change waiting to be applied.
struct NewScenarios {
    scenarios: Vec<Scenario>,
    changes: Changes,
}

impl Reloader {
    /// A reloader of the server `parts` describe; it reloads nothing until
    /// given a source ([`Reloader::set_source`]).
    pub fn new(parts: ReloaderParts) -> Reloader {
        Reloader {
            source: OnceLock::new(),
            running: Mutex::new(parts.config),
            service: parts.service,
            dialplan: parts.dialplan,
            sandbox: parts.sandbox,
            scenarios: parts.scenarios,
            sounds: parts.sounds,
        }
    }

    /// Reads reloads from `source` (once; later calls are ignored).
    pub fn set_source(&self, source: ConfigSource) {
        let _ = self.source.set(source);
    }

    /// Reads the configuration again and applies what changed; nothing
    /// if anything in it is invalid. Logs what it did, or why not.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let result = self.apply().await;
        match &result {
            Ok(report) if report.needs_restart.is_empty() => {
                tracing::info!(changes = %report, "configuration reloaded");
            }
            Ok(report) => tracing::warn!(
                changes = %report,
                "configuration reloaded; some settings take a restart and were left as they run"
            ),
            Err(error) => tracing::error!(%error, "configuration not reloaded"),
        }
        result
    }

    async fn apply(&self) -> Result<ReloadReport, ReloadError> {
        let source = self.source.get().ok_or(ReloadError::NoSource)?;
        let mut running = self.running.lock().await;
        let new = source()?;
        let scenarios = self.scenarios()?;
        let pool = self.service.pool(Mode::Live);
        let mut report = ReloadReport {
            needs_restart: needs_restart(&running, &new),
            ..ReloadReport::default()
        };
        let (nodes, applied_nodes) = node_changes(&running.nodes, &new.nodes);
        for name in &nodes.added {
            if pool.node(name).is_some_and(|node| node.is_retiring()) {
                return Err(ReloadError::NodeRetiring(name.clone()));
            }
        }
        // Checked whole: from here on every change applies.
        for name in &nodes.removed {
            let _ = pool.remove(name);
        }
        for config in new
            .nodes
            .iter()
            .filter(|n| nodes.added.contains(&n.name.to_string()))
        {
            if let Err(error) = pool.add(config) {
                tracing::warn!(node = %config.name, %error, "node not added");
            }
            crate::metrics::zero_known(&[config.name.as_str()]);
        }
        for update in &nodes.updated {
            if let Some(config) = new.nodes.iter().find(|n| n.name.as_str() == update.name) {
                let _ = pool.set_limits(&update.name, NodeLimits::of(config));
            }
        }
        report.nodes = nodes;
        running.nodes = applied_nodes;

        let limits = LimitsConfig {
            lease_ttl: running.limits.lease_ttl,
            ..new.limits.clone()
        };
        report.plans = Changes::between(&running.limits.plans, &limits.plans);
        report.merchants = Changes::between(&running.limits.merchants, &limits.merchants);
        report.default_plan = (limits.default_plan != running.limits.default_plan)
            .then(|| limits.default_plan.clone());
        if limits != running.limits {
            self.service.plans().reconfigure(&limits);
            running.limits = limits;
        }

        if let Some(NewScenarios { scenarios, changes }) = scenarios {
            let catalog = self.service.catalog();
            catalog.replace(scenarios);
            self.dialplan.refresh(catalog);
            if let Some(sandbox) = &self.sandbox
                && let Err(error) =
                    crate::sandbox::reload_dialplan(&sandbox.dir, catalog, &sandbox.sim)
            {
                tracing::error!(%error, "the sandbox's dialplan was not reloaded");
            }
            report.scenarios = changes;
        }
        Ok(report)
    }

    /// The scenarios as their folder holds them now, if they differ from
    /// those offered; `Err` if any is invalid.
    fn scenarios(&self) -> Result<Option<NewScenarios>, ReloadError> {
        let prompts = PromptCatalog::load(&self.sounds)
            .map_err(|error| ReloadError::Scenarios(error.to_string()))?;
        let scenarios = load::load_dir(&self.scenarios, &prompts)
            .map_err(|problems| ReloadError::Scenarios(problems.to_string()))?;
        let changes = self.service.catalog().changes(&scenarios);
        Ok((!changes.is_empty()).then(|| NewScenarios {
            scenarios,
            changes: changes.into(),
        }))
    }
}

/// The nodes' changes from `old` to `new`, and the node list in force
/// after them (a node's restart-only settings stay as they run).
fn node_changes(old: &[NodeConfig], new: &[NodeConfig]) -> (NodeChanges, Vec<NodeConfig>) {
    let mut changes = NodeChanges::default();
    let mut applied = Vec::new();
    for node in new {
        let Some(before) = old.iter().find(|o| o.name == node.name) else {
            changes.added.push(node.name.to_string());
            applied.push(node.clone());
            continue;
        };
        let mut what = Vec::new();
        let mut limit = |name: &str, a: u32, b: u32| {
            if a != b {
                what.push(format!("{name} {a} -> {b}"));
            }
        };
        limit("weight", before.weight.get(), node.weight.get());
        limit(
            "max_channels",
            before.max_channels.get(),
            node.max_channels.get(),
        );
        limit("cps", before.cps.get(), node.cps.get());
        if !what.is_empty() {
            changes.updated.push(NodeUpdate {
                name: node.name.to_string(),
                changes: what,
            });
        }
        applied.push(NodeConfig {
            weight: node.weight,
            max_channels: node.max_channels,
            cps: node.cps,
            ..before.clone()
        });
    }
    changes.removed = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.name == o.name))
        .map(|o| o.name.to_string())
        .collect();
    (changes, applied)
}

/// Whether two values differ as written (`Debug` shows every setting;
/// secrets are compared apart, as `Debug` masks them).
fn differs<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

/// The settings that differ between `running` and `new` and take a
/// restart, by their path in the file.
fn needs_restart(running: &Config, new: &Config) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |path: &str, changed: bool| {
        if changed {
            found.push(path.to_owned());
        }
    };
    check("listen", running.listen != new.listen);
    check("http", differs(&running.http, &new.http));
    check("esl", differs(&running.esl, &new.esl));
    check("calls", differs(&running.calls, &new.calls));
    check("data_dir", running.data_dir != new.data_dir);
    let url = |c: &Config| c.store.url.as_ref().map(|u| u.expose().to_owned());
    check("store", url(running) != url(new));
    let secret = |c: &Config| c.secret.as_ref().map(|s| s.expose().to_owned());
    check("secret", secret(running) != secret(new));
    check("sandbox", differs(&running.sandbox, &new.sandbox));
    check("webhooks", differs(&running.webhooks, &new.webhooks));
    check("shutdown", differs(&running.shutdown, &new.shutdown));
    let token = |c: &Config| c.admin.token.as_ref().map(|t| t.expose().to_owned());
    check(
        "admin",
        differs(&running.admin, &new.admin) || token(running) != token(new),
    );
    let password = |c: &Config| c.xml_curl.password.as_ref().map(|p| p.expose().to_owned());
    check(
        "xml_curl",
        differs(&running.xml_curl, &new.xml_curl) || password(running) != password(new),
    );
    check(
        "limits.lease_ttl",
        running.limits.lease_ttl != new.limits.lease_ttl,
    );
    for node in &new.nodes {
        let Some(before) = running.nodes.iter().find(|o| o.name == node.name) else {
            continue;
        };
        let name = &node.name;
        check(&format!("nodes.{name}.host"), before.host != node.host);
        check(&format!("nodes.{name}.port"), before.port != node.port);
        check(
            &format!("nodes.{name}.password"),
            before.password.expose() != node.password.expose(),
        );
        check(
            &format!("nodes.{name}.dial_string"),
            before.dial_string != node.dial_string,
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "
nodes:
  - name: fs1
    host: 10.0.0.1
    password: pw1
    max_channels: 100
    dial_string: sofia/gateway/kt/{number}
  - name: fs2
    host: 10.0.0.2
    password: pw2
    max_channels: 50
    dial_string: sofia/gateway/kt/{number}
limits:
  plans:
    default: { max_channels: 10 }
    gold: { max_channels: 100 }
  merchants:
    acme: gold
";

    fn config(text: &str) -> Config {
        Config::from_yaml_str(text, "t.yaml", Vec::<(String, String)>::new()).expect("valid")
    }

    #[test]
    fn node_changes_name_what_was_added_removed_and_retuned() {
        let old = config(BASE);
        let new = config(
            &BASE
                .replace(
                    "max_channels: 100\n    dial",
                    "max_channels: 200\n    weight: 3\n    dial",
                )
                .replace(
                    "name: fs2\n    host: 10.0.0.2",
                    "name: fs3\n    host: 10.0.0.3",
                ),
        );
        let (changes, applied) = node_changes(&old.nodes, &new.nodes);
        assert_eq!(changes.added, ["fs3"]);
        assert_eq!(changes.removed, ["fs2"]);
        assert_eq!(
            changes.updated,
            [NodeUpdate {
                name: "fs1".into(),
                changes: vec!["weight 1 -> 3".into(), "max_channels 100 -> 200".into()],
            }]
        );
        let names: Vec<&str> = applied.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["fs1", "fs3"]);
        assert_eq!(applied[0].weight.get(), 3);
    }

    #[test]
    fn restart_only_settings_are_named_and_kept() {
        let old = config(BASE);
        let new = config(&format!(
            "listen: 0.0.0.0:9000\n{}",
            BASE.replace("host: 10.0.0.1", "host: 10.0.0.9")
                .replace("password: pw2", "password: other")
        ));
        assert_eq!(
            needs_restart(&old, &new),
            ["listen", "nodes.fs1.host", "nodes.fs2.password"]
        );
        let (_, applied) = node_changes(&old.nodes, &new.nodes);
        assert_eq!(applied[0].host, "10.0.0.1", "the running address stays");
        assert!(needs_restart(&old, &old).is_empty());
    }

    #[test]
    fn plan_changes_are_listed_by_name() {
        let old = config(BASE);
        let new = config(
            &BASE
                .replace(
                    "gold: { max_channels: 100 }",
                    "gold: { max_channels: 150 }\n    silver: {}",
                )
                .replace("acme: gold", "acme: silver\n    initech: gold"),
        );
        let plans = Changes::between(&old.limits.plans, &new.limits.plans);
        assert_eq!(
            (plans.added, plans.changed),
            (vec!["silver".to_owned()], vec!["gold".to_owned()])
        );
        let merchants = Changes::between(&old.limits.merchants, &new.limits.merchants);
        assert_eq!(merchants.added, ["initech"]);
        assert_eq!(merchants.changed, ["acme"]);
    }

    #[test]
    fn the_log_line_says_what_changed() {
        let report = ReloadReport {
            nodes: NodeChanges {
                added: vec!["fs3".into()],
                removed: vec!["fs2".into()],
                updated: vec![NodeUpdate {
                    name: "fs1".into(),
                    changes: vec!["weight 1 -> 2".into()],
                }],
            },
            plans: Changes {
                changed: vec!["standard".into()],
                ..Changes::default()
            },
            needs_restart: vec!["listen".into()],
            ..ReloadReport::default()
        };
        assert_eq!(
            report.to_string(),
            "nodes +fs3 -fs2 ~fs1(weight 1 -> 2); plans ~standard; needs restart: listen"
        );
        assert_eq!(ReloadReport::default().to_string(), "nothing changed");
    }
}
