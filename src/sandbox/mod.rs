//! The sandbox: calls made with test keys go to the FreeSWITCH simulator,
//! started in-process and driven over a real event socket exactly like a
//! production node. It runs the dialplan rendered from the scenarios
//! arsgate actually offers, plays the same prompts, and its phones follow
//! the sandbox's magic numbers (`config/sim-phones.yaml`).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rand::Rng;

use crate::esl::client::{Client, ClientConfig, EslError};
use crate::scenario::Catalog;
use crate::scenario::controller::{CallSettings, RecordingPaths};
use crate::scenario::render::{self, CONTEXT, write_dir};
use crate::sim::phone::PhoneBook;
use crate::sim::{SimConfig, SimHandle, Simulator};
use crate::switch::freeswitch::CALL_EVENTS;
use crate::switch::{DialTemplate, FreeSwitch, Pool, SwitchClock};

/// The name the sandbox's node has in logs and records.
pub const NODE_NAME: &str = "sandbox";

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file could not be written or read.
    #[error("{path}: {message}")]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The simulator did not start.
    #[error("the simulator did not start: {0}")]
    Simulator(std::io::Error),
    /// arsgate could not connect to its own simulator.
    #[error("could not connect to the simulator: {0}")]
    Connect(#[from] EslError),
}

/// What the sandbox is made of.
#[derive(Debug, Clone)]
pub struct SandboxSetup {
    /// Where its files go (`<data_dir>/sandbox`).
    pub dir: PathBuf,
    /// The phone book (magic numbers).
    pub phones: PathBuf,
    /// The prompts the simulator plays (the directory with `manifest.yaml`).
    pub sounds: PathBuf,
    /// Simulated time's speed.
    pub speed: f64,
}

/// A running sandbox.
pub struct Sandbox {
    /// The simulator (tests script its phones through it).
    pub sim: SimHandle,
    /// The pool of its one node, for the service.
    pub pool: Pool,
    /// Call settings for sandbox calls: the live settings with the
    /// sandbox's own prompt and recording paths.
    pub settings: CallSettings,
}

/// Renders `catalog` into the sandbox's dialplan under `dir` (the
/// sandbox's folder) and has its simulator read it again, as FreeSWITCH's
/// `reloadxml` does: calls route by the new dialplan from their next
/// transfer on.
pub fn reload_dialplan(dir: &Path, catalog: &Catalog, sim: &SimHandle) -> Result<(), SandboxError> {
    let dialplan = dir.join("dialplan");
    let files = |message: String| SandboxError::Files {
        path: dialplan.clone(),
        message,
    };
    write_dir(&dialplan, &render::render(&catalog.dialplan_definitions()))
        .map_err(|e| files(e.to_string()))?;
    sim.reload_dialplan().map_err(files)
}

impl Sandbox {
    /// Renders `catalog` into a dialplan, starts the simulator on it and
    /// connects to it; `base` are the live call settings.
    pub async fn start(
        setup: &SandboxSetup,
        catalog: &Catalog,
        base: &CallSettings,
    ) -> Result<Sandbox, SandboxError> {
        let files = |path: &Path, message: String| SandboxError::Files {
            path: path.to_path_buf(),
            message,
        };
        let dialplan = setup.dir.join("dialplan");
        write_dir(&dialplan, &render::render(&catalog.definitions()))
            .map_err(|e| files(&dialplan, e.to_string()))?;
        let recordings = setup.dir.join("recordings");
        std::fs::create_dir_all(&recordings).map_err(|e| files(&recordings, e.to_string()))?;
        let sounds = setup
            .sounds
            .canonicalize()
            .map_err(|e| files(&setup.sounds, e.to_string()))?;
        let recordings = recordings
            .canonicalize()
            .map_err(|e| files(&recordings, e.to_string()))?;
        let phones =
            PhoneBook::load(&setup.phones).map_err(|e| files(&setup.phones, e.to_string()))?;
        let password: String = format!("{:032x}", rand::rng().random::<u128>());
        let sim = Simulator::start(SimConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            password: password.clone(),
            speed: setup.speed,
            dialplan_dir: Some(dialplan),
            phones,
            sounds_dir: Some(sounds.clone()),
            recordings_dir: Some(recordings.clone()),
            // Sandbox traffic comes in bursts from test suites; FreeSWITCH's
            // default 30 per second would refuse some.
            sessions_per_second: 1000,
            max_sessions: 10_000,
            ..SimConfig::default()
        })
        .await
        .map_err(SandboxError::Simulator)?;
        let mut client = ClientConfig::new(sim.addr(), password);
        client.subscriptions = CALL_EVENTS.to_vec();
        let (client, events) = Client::connect(client).await?;
        let dial = DialTemplate::parse("sofia/gateway/sandbox/{number}").map_err(|e| {
            SandboxError::Files {
                path: setup.dir.clone(),
                message: e.to_string(),
            }
        })?;
        // The simulator stamps its events with its own clock, `speed`
        // times faster than the wall clock: a call's timeline reads it for
        // arsgate's own entries too, so that it keeps one clock.
        let clock = sim.clock().clone();
        let switch = FreeSwitch::new(client, events, CONTEXT, dial).with_clock(
            SwitchClock::reading(move || UNIX_EPOCH + Duration::from_micros(clock.now_micros())),
        );
        let settings = CallSettings {
            sounds: sounds.to_string_lossy().into_owned(),
            recordings: RecordingPaths {
                // The simulator writes a switch path under its own root.
                switch_dir: "/recordings".to_owned(),
                local_dir: recordings.join("recordings"),
            },
            ..base.clone()
        };
        Ok(Sandbox {
            sim,
            pool: Pool::single(NODE_NAME, switch),
            settings,
        })
    }
}
