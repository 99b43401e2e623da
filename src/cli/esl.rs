//! `arsgate esl`: a small fs_cli for engineers. It speaks plain ESL, so it
//! works the same against the simulator and against a real FreeSWITCH.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::config_file::{self, CONFIG_VAR, DEFAULT_CONFIG};
use crate::esl::EventName;
use crate::esl::client::{Client, ClientConfig};
use crate::switch::pool;

/// Where to connect: a node of the configuration file, or an explicit
/// address and password.
#[derive(Debug, Clone, clap::Args)]
pub struct EslArgs {
    /// A node of the configuration file (its host, port and password are used).
    #[arg(long, conflicts_with_all = ["host", "port", "password"])]
    pub node: Option<String>,
    /// The configuration file `--node` is looked up in.
    #[arg(long, env = CONFIG_VAR, default_value = DEFAULT_CONFIG, value_name = "FILE")]
    pub config: PathBuf,
    /// FreeSWITCH host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Event socket port.
    #[arg(long, default_value_t = 8021)]
    pub port: u16,
    /// Event socket password.
    #[arg(long, default_value = "ClueCon")]
    pub password: String,
    /// How long to wait for the greeting and for each reply (api commands
    /// that take longer, such as a synchronous originate, need more).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// What to do.
    #[command(subcommand)]
    pub action: EslAction,
}

/// The things `arsgate esl` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EslAction {
    /// Runs an API command and prints its output (exit status 1 on `-ERR`).
    Api {
        /// The command and its arguments, e.g. "status" or "show channels as json".
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Runs an API command in the background and prints the BACKGROUND_JOB result.
    Bgapi {
        /// The command and its arguments.
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Streams events, one JSON object per line, until interrupted.
    Events {
        /// Event names (default: ALL).
        names: Vec<String>,
    },
}

/// The connection settings: the named node's (with the file's ESL
/// settings) or the command line's.
fn client_config(args: &EslArgs) -> anyhow::Result<ClientConfig> {
    let Some(name) = &args.node else {
        let mut config = ClientConfig::new(
            format!("{}:{}", args.host, args.port),
            args.password.clone(),
        );
        config.command_timeout = args.timeout;
        config.connect_timeout = config.connect_timeout.min(args.timeout);
        return Ok(config);
    };
    let (file, _) = config_file::load(&args.config)?;
    let node = file
        .nodes
        .iter()
        .find(|n| n.name.as_str() == name)
        .ok_or_else(|| anyhow::anyhow!("no node {name:?} in {}", args.config.display()))?;
    let mut config = pool::client_config(node, &file.esl);
    config.command_timeout = args.timeout;
    config.connect_timeout = config.connect_timeout.min(args.timeout);
    config.subscriptions.clear();
    Ok(config)
}

fn print_output(output: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes())?;
    if !output.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

fn is_error(output: &str) -> bool {
    output.starts_with("-ERR") || output.starts_with("-USAGE")
}

/// Runs `arsgate esl`.
pub async fn run(args: EslArgs) -> anyhow::Result<()> {
    let base = client_config(&args)?;
    let target = base.addr.clone();
    let with = |subscriptions: Vec<EventName>| {
        let mut config = base.clone();
        config.subscriptions = subscriptions;
        config
    };
    match &args.action {
        EslAction::Api { command } => {
            let (client, _events) = Client::connect(with(Vec::new()))
                .await
                .with_context(|| format!("connecting to {target}"))?;
            let output = client
                .api(&command.join(" "))
                .await
                .context("api command")?;
            client.close().await;
            print_output(&output)?;
            if is_error(&output) {
                bail!(
                    "FreeSWITCH answered {}",
                    output.lines().next().unwrap_or("")
                );
            }
        }
        EslAction::Bgapi { command } => {
            let (client, _events) = Client::connect(with(Vec::new()))
                .await
                .with_context(|| format!("connecting to {target}"))?;
            let job = client
                .bgapi(&command.join(" "))
                .await
                .context("bgapi command")?;
            client.close().await;
            let output = job.body().into_owned();
            print_output(&output)?;
            if !job.is_ok() {
                bail!("the job failed: {}", output.trim_end());
            }
        }
        EslAction::Events { names } => {
            let subscriptions = if names.is_empty() {
                vec![EventName::All]
            } else {
                names
                    .iter()
                    .map(|n| {
                        EventName::from_subscription(n)
                            .ok_or_else(|| anyhow::anyhow!("unknown event name {n:?}"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let (client, mut events) = Client::connect(with(subscriptions))
                .await
                .with_context(|| format!("connecting to {target}"))?;
            let wanted: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
            loop {
                tokio::select! {
                    _ = super::sim::shutdown_signal() => break,
                    event = events.recv() => match event {
                        Some(event) => {
                            // The client always listens to BACKGROUND_JOB and
                            // HEARTBEAT for itself; show them only when asked.
                            let name = event.name();
                            if wanted.is_empty() || wanted.iter().any(|w| w == name.as_str()) {
                                print_output(&event.to_json())?;
                            }
                        }
                        None => break,
                    },
                }
            }
            client.close().await;
        }
    }
    Ok(())
}
