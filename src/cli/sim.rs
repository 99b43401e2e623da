//! `arsgate sim`: runs the FreeSWITCH simulator until interrupted, so that
//! arsgate, `arsgate esl`, `nc` or any ESL client can talk to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::assets;
use crate::sim::phone::PhoneBook;
use crate::sim::{DtmfTransport, SimConfig, Simulator};

/// Where the phone scripts are looked for without `--phones`.
pub const DEFAULT_PHONES: &str = "config/sim-phones.yaml";

/// How phones send keys, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dtmf {
    /// RFC 2833 events in RTP (what carriers send).
    Rfc2833,
    /// SIP INFO dtmf-relay.
    Info,
}

/// Options of `arsgate sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address of the event socket.
    #[arg(long, default_value = "127.0.0.1:8021")]
    pub listen: SocketAddr,
    /// The `auth` password.
    #[arg(long, default_value = "ClueCon")]
    pub password: String,
    /// FreeSWITCH XML dialplan directory (for `originate ... EXTENSION XML CONTEXT`).
    #[arg(long)]
    pub dialplan: Option<PathBuf>,
    /// Phone scripts (the format of config/sim-phones.yaml). Default
    /// `config/sim-phones.yaml`, else the sandbox's phones built into
    /// arsgate (the magic numbers; any other number answers after 1 s).
    #[arg(long)]
    pub phones: Option<PathBuf>,
    /// Simulated time runs this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// HEARTBEAT period (simulated).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// Where relative prompt paths are found (FreeSWITCH's sound_prefix).
    #[arg(long)]
    pub sounds: Option<PathBuf>,
    /// Where record_session writes its files.
    #[arg(long)]
    pub recordings: Option<PathBuf>,
    /// How phones send DTMF.
    #[arg(long, value_enum, default_value = "rfc2833")]
    pub dtmf: Dtmf,
    /// max-sessions.
    #[arg(long, default_value_t = 1000)]
    pub max_sessions: u32,
    /// sessions-per-second.
    #[arg(long, default_value_t = 30)]
    pub sps: u32,
    /// Event times lag the switch's clock by this much and step by 20 ms,
    /// as a real FreeSWITCH's do (e.g. `17ms`); off by default.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub event_time_lag: Option<Duration>,
    /// How long, after a graceful stop hung every call up, the event
    /// socket stays open refusing originates (simulated).
    #[arg(long, default_value = "1200ms", value_parser = humantime::parse_duration)]
    pub shutdown_linger: Duration,
}

impl SimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let mut config = SimConfig {
            listen: self.listen,
            password: self.password.clone(),
            speed: self.speed,
            heartbeat_interval: self.heartbeat,
            dialplan_dir: self.dialplan.clone(),
            sounds_dir: self.sounds.clone(),
            recordings_dir: self.recordings.clone(),
            dtmf_transport: match self.dtmf {
                Dtmf::Rfc2833 => DtmfTransport::Rfc2833,
                Dtmf::Info => DtmfTransport::Info,
            },
            max_sessions: self.max_sessions,
            sessions_per_second: self.sps,
            event_time_lag: self.event_time_lag,
            shutdown_linger: self.shutdown_linger,
            ..SimConfig::default()
        };
        config.phones = match self.phones_file() {
            Some(path) => PhoneBook::load(path)
                .with_context(|| format!("loading phones from {}", path.display()))?,
            None => PhoneBook::from_yaml_str(&assets::builtin_phones(), "built-in phones")?,
        };
        Ok(config)
    }

    /// The phone scripts' file: `--phones`, else the default one if it
    /// exists; `None` for the built-in phones.
    fn phones_file(&self) -> Option<&Path> {
        match &self.phones {
            Some(path) => Some(path),
            None => Some(Path::new(DEFAULT_PHONES)).filter(|p| p.is_file()),
        }
    }
}

/// Runs the simulator until Ctrl-C or SIGTERM.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let phones = args.phones_file().map_or_else(
        || "the sandbox's phones built into arsgate".to_owned(),
        |path| path.display().to_string(),
    );
    tracing::info!(%phones, "phone scripts");
    let sim = Simulator::start(config)
        .await
        .with_context(|| format!("starting the simulator on {}", args.listen))?;
    println!(
        "FreeSWITCH simulator listening on {} (password {:?})",
        sim.addr(),
        args.password
    );
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
