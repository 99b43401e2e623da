//! `arsgate serve`: the real service, as the configuration file describes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::config_file::{self, CONFIG_VAR, DEFAULT_CONFIG};
use super::sim::shutdown_signal;
use crate::config::Config;
use crate::server::{Server, StartError};
use crate::store::{self, Store};

/// Options of `arsgate serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, env = CONFIG_VAR, default_value = DEFAULT_CONFIG, value_name = "FILE")]
    pub config: PathBuf,
    /// How long to wait for the store at startup (`30s`, `2m`; `0s` tries
    /// once), instead of the configuration's `store.startup_wait`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait_for_store: Option<Duration>,
}

/// Loads the configuration file with its `ARSGATE_...` overrides (see
/// [`config_file`](super::config_file)).
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Ok(config_file::load(path)?.0)
}

/// The configuration file with the overrides the environment holds now,
/// for a reload (a deprecated name's warning was given at the start).
fn read_config(path: &Path) -> Result<Config, crate::config::ConfigError> {
    Config::load(path, config_file::overrides(std::env::vars()).vars)
}

/// The store URL of `config`: its own, or SQLite in the data directory.
pub fn store_url(config: &Config) -> String {
    config.store.url.as_ref().map_or_else(
        || format!("sqlite:{}", config.data_dir.join("arsgate.db").display()),
        |url| url.expose().to_owned(),
    )
}

/// Which store a command works on: the configuration's, or a URL given.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The configuration file (for the store).
    #[arg(long, env = CONFIG_VAR, default_value = DEFAULT_CONFIG, value_name = "FILE")]
    pub config: PathBuf,
    /// The store URL, instead of the configuration's.
    #[arg(long)]
    pub store: Option<String>,
}

impl StoreArgs {
    /// Opens the store (running its migrations).
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match &self.store {
            Some(url) => store::open(url).await.context("opening the store"),
            None => open_store(&load_config(&self.config)?).await,
        }
    }
}

/// Opens the configured store (running its migrations).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&store_url(config))
        .await
        .context("opening the store")
}

/// Runs `arsgate serve` until SIGINT or SIGTERM, then shuts down
/// gracefully; a second signal exits at once. SIGHUP reloads the
/// configuration file (what changed, or why nothing did, is logged).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    // Before the store: a start without the secret fails anyway, and
    // should say so rather than wait on a database first.
    anyhow::ensure!(config.secret.is_some(), StartError::NoSecret);
    let wait = args.wait_for_store.unwrap_or(config.store.startup_wait);
    let store = store::open_waiting(&store_url(&config), wait)
        .await
        .context("opening the store")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let server = Server::start(&config, store, listener).await?;
    let nodes: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %args.config.display(),
        store = %store_summary(&store_url(&config)),
        nodes = %nodes.join(","),
        sandbox = config.sandbox.enabled,
        xml_curl = config.xml_curl.enabled,
        admin_api = config.admin.token.is_some(),
        listen = %server.addr(),
        "arsgate started"
    );
    eprintln!("arsgate serving on http://{}", server.addr());
    let path = args.config.clone();
    server.reload_from(Arc::new(move || read_config(&path)));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut hangups = hangups()?;
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(()) = hangups.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                // The reload logs what it changed, or why it changed nothing.
                let _ = server.reload().await;
            }
        }
    }
    eprintln!(
        "shutting down: live calls get {:?} to finish (a second signal exits at once)",
        config.shutdown.grace
    );
    tokio::select! {
        () = server.shutdown() => Ok(()),
        () = shutdown_signal() => {
            eprintln!("second signal: exiting now; unfinished verifications are recovered on the next start");
            std::process::exit(130);
        }
    }
}

/// SIGHUP, as a stream (never on a platform without it).
fn hangups() -> anyhow::Result<tokio::sync::mpsc::Receiver<()>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                // A reload under way takes the next one with it.
                let _ = tx.try_send(());
            }
        });
    }
    #[cfg(not(unix))]
    drop(tx);
    Ok(rx)
}

/// The store a URL names, for the log: its kind and where it is, never a
/// user or password (`postgres://db.internal:5432/arsgate`,
/// `sqlite:/var/lib/arsgate/arsgate.db`).
pub(crate) fn store_summary(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => format!(
            "postgres://{}:{}{}",
            parsed.host_str().unwrap_or("localhost"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        _ if url.starts_with("sqlite:") => url.to_owned(),
        _ => "an unrecognised store URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_summary_names_no_credentials() {
        assert_eq!(
            store_summary("postgres://arsgate:s3cret@db.internal:6432/arsgate?sslmode=require"),
            "postgres://db.internal:6432/arsgate"
        );
        assert_eq!(store_summary("postgresql://db/x"), "postgres://db:5432/x");
        assert_eq!(
            store_summary("sqlite:/var/lib/a.db"),
            "sqlite:/var/lib/a.db"
        );
    }
}
