//! How a simulator is set up: where it listens, how it authenticates, how
//! fast its time runs and the limits it enforces, with FreeSWITCH's defaults.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::phone::{Answer, PhoneBook, PhoneScript};
use crate::esl::codec::DEFAULT_MAX_FRAME;

/// What the simulated FreeSWITCH reports about itself in every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `FreeSWITCH-Hostname` and `FreeSWITCH-Switchname`.
    pub hostname: String,
    /// `FreeSWITCH-IPv4`.
    pub ipv4: String,
    /// `FreeSWITCH-IPv6`.
    pub ipv6: String,
    /// The FreeSWITCH release whose behaviour the simulator reproduces
    /// (`1.10.12-release`; `FreeSWITCH-Version` adds `~64bit`).
    pub version: String,
}

impl Default for Identity {
    fn default() -> Identity {
        Identity {
            hostname: "arsgate-sim".to_owned(),
            ipv4: "127.0.0.1".to_owned(),
            ipv6: "::1".to_owned(),
            version: "1.10.12-release".to_owned(),
        }
    }
}

/// How the simulated phones send their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfTransport {
    /// RFC 2833 telephone events in the RTP stream, as carriers send them
    /// (`DTMF-Source: RTP`).
    #[default]
    Rfc2833,
    /// SIP INFO `application/dtmf-relay` (a RECV_INFO event, then DTMF with
    /// `DTMF-Source: ENDPOINT`), as the phone of the reference captures did.
    Info,
}

/// Everything a [`Simulator`](super::Simulator) needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where the event socket listens (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The `auth` password (FreeSWITCH's default is `ClueCon`).
    pub password: String,
    /// Simulated time runs this many times faster than real time.
    pub speed: f64,
    /// HEARTBEAT period, simulated (FreeSWITCH: 20 s).
    pub heartbeat_interval: Duration,
    /// How long a new connection may stay silent before its first command,
    /// simulated (FreeSWITCH: 25 s).
    pub auth_timeout: Duration,
    /// Events queued per connection before new ones are dropped
    /// (FreeSWITCH: 100 000); after 500 consecutive drops the connection is
    /// killed, as FreeSWITCH does.
    pub event_queue: usize,
    /// Largest command accepted: the codec's 8 MiB default, so both ends of
    /// arsgate's event sockets share one cap. (FreeSWITCH 1.11.2 drops a
    /// connection only past 16 MiB and older versions have no cap; no command
    /// arsgate sends comes near either.)
    pub max_command: usize,
    /// When set, only these peers may connect; others get FreeSWITCH's
    /// rude rejection (its `apply-inbound-acl`).
    pub acl: Option<Vec<IpAddr>>,
    /// `max-sessions`: channel creation beyond it fails.
    pub max_sessions: u32,
    /// `sessions-per-second`: the per-second budget of new channels.
    pub sessions_per_second: u32,
    /// What the switch says about itself.
    pub identity: Identity,
    /// The XML dialplan directory (what `EXTENSION XML CONTEXT` routes
    /// through); reloaded by `reloadxml`.
    pub dialplan_dir: Option<PathBuf>,
    /// What the far end of each number does.
    pub phones: PhoneBook,
    /// How phones send DTMF.
    pub dtmf_transport: DtmfTransport,
    /// Where relative prompt paths are looked up (FreeSWITCH's
    /// `sound_prefix`); without it only `tone_stream`, `silence_stream`,
    /// `say:` and absolute paths play.
    pub sounds_dir: Option<PathBuf>,
    /// Where `record_session` files are written: a path already inside it
    /// as it is, any other re-rooted under it; without it recordings are
    /// accounted for but not written.
    pub recordings_dir: Option<PathBuf>,
    /// Event times as a real switch stamps them: `Some(lag)` takes
    /// `Event-Date-*` from a clock that advances in 20 ms steps and runs
    /// `lag` behind the simulated time, as FreeSWITCH's do (its event
    /// times step by about 20 ms and lag the controller's clock by up to
    /// about 17 ms: arsgate-sessions/README.md; `Some(Duration::ZERO)` is
    /// that). `None` (the default) stamps the exact simulated time, which
    /// tests comparing event times with channel times rely on.
    pub event_time_lag: Option<Duration>,
    /// How long a graceful shutdown keeps the event socket open once every
    /// channel is gone, refusing originates with `CHAN_NOT_IMPLEMENTED`,
    /// simulated (FreeSWITCH 1.10.12: about 1.2 s, seen on the real switch
    /// in the runs of issue 10, finding 7).
    pub shutdown_linger: Duration,
    /// When simulated time starts; `None`: now. A fixed start reproduces
    /// what depends on the wall clock's phase (FreeSWITCH counts
    /// `originate_timeout` in whole seconds of it).
    pub start_time: Option<SystemTime>,
    /// The modules `module_exists` says are loaded: by default
    /// [`LOADED_MODULES`], those whose behaviour the simulator reproduces
    /// plus `mod_xml_curl` and `mod_tts_commandline`, as a node set up for
    /// arsgate has them. Remove one to play a node that lacks it.
    pub modules: BTreeSet<String>,
}

/// The modules a default simulator says are loaded: the event socket, the
/// SIP endpoint, the XML dialplan, the API commands and dialplan
/// applications, the file and tone players it reproduces, and the two a
/// node needs for arsgate's live dialplan and consent texts.
pub const LOADED_MODULES: &[&str] = &[
    "mod_commands",
    "mod_dialplan_xml",
    "mod_dptools",
    "mod_event_socket",
    "mod_sndfile",
    "mod_sofia",
    "mod_tone_stream",
    "mod_tts_commandline",
    "mod_xml_curl",
];

impl Default for SimConfig {
    /// FreeSWITCH's own defaults, listening on 127.0.0.1:8021, real time.
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8021)),
            password: "ClueCon".to_owned(),
            speed: 1.0,
            heartbeat_interval: Duration::from_secs(20),
            auth_timeout: Duration::from_secs(25),
            event_queue: 100_000,
            max_command: DEFAULT_MAX_FRAME,
            acl: None,
            max_sessions: 1000,
            sessions_per_second: 30,
            identity: Identity::default(),
            dialplan_dir: None,
            phones: PhoneBook::new(PhoneScript::Answer(Answer {
                after: Duration::from_secs(1),
                early_media: None,
                hangup_after: None,
                dtmf: Vec::new(),
            })),
            dtmf_transport: DtmfTransport::default(),
            sounds_dir: None,
            recordings_dir: None,
            event_time_lag: None,
            shutdown_linger: Duration::from_millis(1200),
            start_time: None,
            modules: LOADED_MODULES.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

impl SimConfig {
    /// Defaults for tests: a free port on 127.0.0.1 and time running 100×
    /// faster (a 20 s heartbeat every 200 ms).
    pub fn for_tests() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            speed: 100.0,
            ..SimConfig::default()
        }
    }
}
