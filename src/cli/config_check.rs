//! `arsgate config check`: everything `serve` checks before it serves, done
//! without serving — the file and its `ARSGATE_...` overrides, the secret,
//! the scenarios against the prompts, the sandbox's phones, the store and
//! every node — with the effective settings printed, secrets as `***`.
//!
//! The exit status says whether `serve` would start: a problem that stops
//! it (no secret, an invalid scenario, a store that cannot be opened, a
//! node that refuses the password) is an error; a node that cannot be
//! reached is a warning, because `serve` starts without it and keeps
//! trying, as it would for a node restarting.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use super::config_file::{self, CONFIG_VAR, DEFAULT_CONFIG};
use super::serve::{store_summary, store_url};
use crate::assets;
use crate::config::{Config, NodeConfig};
use crate::esl::EslError;
use crate::esl::client::Client;
use crate::scenario::{PromptCatalog, load};
use crate::sim::phone::PhoneBook;
use crate::store;
use crate::switch::pool;

/// Options of `arsgate config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// The things `arsgate config` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigAction {
    /// Checks what `serve` would check at start, prints the effective
    /// settings (secrets as ***) and one line per check. Exit status 1 if
    /// `serve` would not start; an unreachable node is only a warning. The
    /// store is opened as `serve` opens it: a new SQLite file is created
    /// and pending migrations are applied (`--offline` skips it).
    Check {
        /// The configuration file.
        #[arg(long, env = CONFIG_VAR, default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        /// Check the files only: contact neither the store nor the nodes.
        #[arg(long)]
        offline: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As `serve` needs it.
    Ok,
    /// `serve` starts, but the operator should look.
    Warning,
    /// `serve` would not start (or would never reach a node).
    Error,
    /// Not checked (`--offline`).
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (`secret`, `scenarios`, `store`, `node fs1`...).
    pub check: String,
    /// How it came out.
    pub status: Status,
    /// What was found, in words.
    pub detail: String,
}

impl Check {
    fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// What `config check --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    /// The file read.
    config: String,
    /// The `ARSGATE_...` variables applied (names only).
    overrides: Vec<String>,
    /// The effective settings, secrets as `***` and the store URL without
    /// its user and password.
    settings: Value,
    /// Every check, in order.
    checks: Vec<Check>,
    /// Checks that would stop `serve`.
    errors: usize,
    /// Checks to look at.
    warnings: usize,
    /// Whether `serve` would start.
    ready: bool,
}

/// Runs `arsgate config`, writing its report to `out`; fails (exit status
/// 1) if `serve` would not start.
pub async fn run(args: ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ConfigAction::Check {
        config: path,
        offline,
        json,
    } = args.action;
    let (config, overrides) = config_file::load(&path)?;
    let mut checks: Vec<Check> = overrides
        .warnings
        .iter()
        .map(|warning| Check::new("environment", Status::Warning, warning.clone()))
        .collect();
    checks.push(match &config.secret {
        Some(_) => Check::new("secret", Status::Ok, "set"),
        None => Check::new(
            "secret",
            Status::Error,
            "required by serve: set ARSGATE_SECRET (at least 32 bytes, e.g. `openssl rand -hex 32`)",
        ),
    });
    checks.extend(assets_checks(&config)?);
    if offline {
        checks.push(Check::new(
            "store",
            Status::Skipped,
            "not opened (--offline)",
        ));
        checks.push(Check::new(
            "nodes",
            Status::Skipped,
            "not contacted (--offline)",
        ));
    } else {
        checks.push(store_check(&config).await);
        checks.extend(node_checks(&config).await);
    }

    let store = store_summary(&store_url(&config));
    let mut settings = serde_json::to_value(&config).context("listing the settings")?;
    settings["store"]["url"] = Value::String(store.clone());
    let errors = checks.iter().filter(|c| c.status == Status::Error).count();
    let warnings = checks
        .iter()
        .filter(|c| c.status == Status::Warning)
        .count();
    let report = Report {
        config: path.display().to_string(),
        overrides: overrides.names().into_iter().map(str::to_owned).collect(),
        settings,
        checks,
        errors,
        warnings,
        ready: errors == 0,
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        // In the file's order (JSON objects here sort their keys).
        let mut yaml = serde_norway::to_value(&config).context("listing the settings")?;
        yaml["store"]["url"] = serde_norway::Value::String(store);
        write_text(&report, &serde_norway::to_string(&yaml)?, out)?;
    }
    anyhow::ensure!(
        report.ready,
        "serve would not start: {errors} error(s) in {}",
        path.display()
    );
    Ok(())
}

fn write_text(report: &Report, settings: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "# arsgate config check: {}", report.config)?;
    if report.overrides.is_empty() {
        writeln!(out, "# no ARSGATE_... overrides")?;
    } else {
        writeln!(out, "# overrides: {}", report.overrides.join(", "))?;
    }
    writeln!(
        out,
        "# effective settings, secrets as *** and the store URL without credentials:"
    )?;
    out.write_all(settings.as_bytes())?;
    writeln!(out)?;
    let width = report
        .checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(0);
    for check in &report.checks {
        writeln!(
            out,
            "{:<8} {:<width$}  {}",
            check.status.as_str(),
            check.check,
            check.detail
        )?;
    }
    let summary = match (report.errors, report.warnings) {
        (0, 0) => "ready: serve would start".to_owned(),
        (0, w) => format!("ready: serve would start ({w} warning(s))"),
        (e, w) => format!("not ready: {e} error(s), {w} warning(s)"),
    };
    writeln!(out, "{summary}")?;
    Ok(())
}

/// The scenarios against the prompts, and the sandbox's phones, found as
/// `serve` finds them (a built-in copy where the configured path does not
/// exist; written to a temporary directory here, not the data directory).
fn assets_checks(config: &Config) -> anyhow::Result<Vec<Check>> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let found = assets::resolve(
        &config.calls.scenarios_dir,
        &config.calls.prompts_dir,
        &config.sandbox.phones,
        temp.path(),
    )
    .context("writing the built-in assets")?;
    let place = |kind: &str, configured: &Path| {
        if found.builtin.contains(&kind) {
            format!("built into arsgate ({} not found)", configured.display())
        } else {
            configured.display().to_string()
        }
    };
    let scenarios_at = place("scenarios", &config.calls.scenarios_dir);
    let prompts_at = place("sounds", &config.calls.prompts_dir);
    let mut checks = Vec::new();
    match PromptCatalog::load(&found.sounds) {
        Ok(prompts) => {
            checks.push(Check::new("prompts", Status::Ok, prompts_at));
            checks.push(match load::load_dir(&found.scenarios, &prompts) {
                Ok(scenarios) => {
                    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
                    names.sort_unstable();
                    Check::new(
                        "scenarios",
                        Status::Ok,
                        format!("{scenarios_at}: {}", names.join(", ")),
                    )
                }
                Err(problems) => Check::new(
                    "scenarios",
                    Status::Error,
                    format!("{scenarios_at}:\n{problems}"),
                ),
            });
        }
        Err(error) => {
            checks.push(Check::new(
                "prompts",
                Status::Error,
                format!("{prompts_at}: {error}"),
            ));
            checks.push(Check::new(
                "scenarios",
                Status::Error,
                format!("{scenarios_at}: not checked without prompts"),
            ));
        }
    }
    if config.sandbox.enabled {
        let phones_at = place("sim-phones.yaml", &config.sandbox.phones);
        checks.push(match PhoneBook::load(&found.phones) {
            Ok(_) => Check::new("sandbox phones", Status::Ok, phones_at),
            Err(error) => Check::new("sandbox phones", Status::Error, error.to_string()),
        });
    }
    Ok(checks)
}

/// Opens the store as `serve` does.
async fn store_check(config: &Config) -> Check {
    let url = store_url(config);
    let summary = store_summary(&url);
    match store::open(&url).await {
        Ok(_) => Check::new(
            "store",
            Status::Ok,
            format!("{summary}: opened, schema up to date"),
        ),
        Err(error) => Check::new("store", Status::Error, format!("{summary}: {error}")),
    }
}

/// Logs in to every node at once, as `serve` would, and asks its status.
async fn node_checks(config: &Config) -> Vec<Check> {
    let mut tasks = JoinSet::new();
    for (index, node) in config.nodes.iter().enumerate() {
        let node = node.clone();
        let esl = config.esl.clone();
        tasks.spawn(async move { (index, node_check(&node, &esl).await) });
    }
    let mut checks: Vec<(usize, Check)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(done) = joined {
            checks.push(done);
        }
    }
    checks.sort_by_key(|(index, _)| *index);
    checks.into_iter().map(|(_, check)| check).collect()
}

async fn node_check(node: &NodeConfig, esl: &crate::config::EslConfig) -> Check {
    let name = format!("node {}", node.name);
    let addr = format!("{}:{}", node.host, node.port);
    let mut client_config = pool::client_config(node, esl);
    client_config.subscriptions.clear();
    let client = match Client::connect(client_config).await {
        Ok((client, _events)) => client,
        Err(error @ (EslError::AuthFailed | EslError::AclDenied)) => {
            return Check::new(
                name,
                Status::Error,
                format!("{addr}: {error} (check its password and apply-inbound-acl)"),
            );
        }
        Err(error) => {
            return Check::new(
                name,
                Status::Warning,
                format!("{addr}: unreachable ({error}); serve starts without it and keeps trying"),
            );
        }
    };
    let status = client.api("status").await;
    client.close().await;
    match status {
        Ok(text) => Check::new(
            name,
            Status::Ok,
            format!("{addr}: {}", text.lines().next().unwrap_or("").trim()),
        ),
        Err(error) => Check::new(
            name,
            Status::Warning,
            format!("{addr}: logged in, but `status` failed: {error}"),
        ),
    }
}
