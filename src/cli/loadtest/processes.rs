//! The processes of a run: `arsgate sim` nodes and one `arsgate serve` on
//! them, all from this binary, and the server's CPU time and memory as
//! `/proc` reports them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::assets;
use crate::scenario::prompts::PromptCatalog;
use crate::scenario::render::{self, write_dir};
use crate::scenario::{Catalog, load};

/// Linux reports CPU time in clock ticks of this many per second
/// (USER_HZ, 100 on every architecture Linux runs on today).
const TICKS_PER_SECOND: f64 = 100.0;

/// The lines of a process's output an error quotes.
const LAST_WORDS: usize = 5;

/// How long a process may take to say it is listening.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A node's event socket.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its password.
    pub password: String,
}

/// The server's resource use at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time so far, in seconds.
    pub cpu_seconds: f64,
    /// The largest resident set so far, in bytes.
    pub peak_rss: u64,
}

impl Usage {
    /// The CPU time spent since `earlier`, with the peak memory now.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            cpu_seconds: self.cpu_seconds - earlier.cpu_seconds,
            peak_rss: self.peak_rss,
        }
    }
}

/// The nodes and the server.
pub struct Cluster {
    nodes: Vec<(Child, NodeAddr)>,
    server: Child,
    base: String,
}

/// What the nodes and the server read, written under the run's
/// directory: the scenarios and prompts (the working directory's, else the
/// built-in copies), the dialplan rendered from them, the recordings folder.
pub struct Prepared {
    found: assets::AssetDirs,
    scenarios: Vec<String>,
    dialplan: PathBuf,
    sounds: PathBuf,
    recordings: PathBuf,
}

impl Prepared {
    /// Finds the assets, checks the scenarios and renders the dialplan.
    pub fn new(dir: &Path) -> anyhow::Result<Prepared> {
        let found = assets::resolve(
            Path::new("config/scenarios"),
            Path::new("sounds"),
            Path::new("config/sim-phones.yaml"),
            dir,
        )
        .context("writing the built-in assets")?;
        let prompts = PromptCatalog::load(&found.sounds).map_err(|e| anyhow::anyhow!("{e}"))?;
        let scenarios = load::load_dir(&found.scenarios, &prompts)
            .map_err(|problems| anyhow::anyhow!("the scenarios are invalid:\n{problems}"))?;
        let catalog = Catalog::new(scenarios);
        let dialplan = dir.join("dialplan");
        write_dir(&dialplan, &render::render(&catalog.definitions()))
            .with_context(|| format!("writing {}", dialplan.display()))?;
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&recordings)?;
        let sounds = found.sounds.canonicalize()?;
        let mut names: Vec<String> = catalog
            .definitions()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        names.sort_unstable();
        Ok(Prepared {
            found,
            scenarios: names,
            dialplan,
            sounds,
            recordings,
        })
    }

    /// The scenarios the server will run, by name.
    pub fn scenarios(&self) -> &[String] {
        &self.scenarios
    }
}

impl Cluster {
    /// Starts `count` simulated nodes (with `phones`, or the built-in
    /// phone book) and `arsgate serve` on them, keeping files under `dir`
    /// and the store at `store_url`. The children get none of this
    /// process's `ARSGATE_...` variables: the run's configuration is its
    /// own.
    pub async fn start(
        dir: &Path,
        count: u32,
        store_url: &str,
        phones: Option<&Path>,
        prepared: &Prepared,
    ) -> anyhow::Result<Cluster> {
        let exe = std::env::current_exe().context("finding this program")?;
        let Prepared {
            found,
            dialplan,
            sounds,
            recordings,
            ..
        } = prepared;

        let mut nodes = Vec::new();
        for n in 1..=count {
            let password = format!("loadtest-{n}");
            let mut child = own_environment(Command::new(&exe))
                .arg("sim")
                .args(["--listen", "127.0.0.1:0", "--password", &password])
                .arg("--dialplan")
                .arg(dialplan)
                .arg("--phones")
                .arg(phones.unwrap_or(&found.phones))
                .arg("--sounds")
                .arg(sounds)
                .arg("--recordings")
                .arg(recordings)
                .args(["--max-sessions", "1000000", "--sps", "1000000"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("starting arsgate sim")?;
            let log = dir.join(format!("fs{n}.log"));
            let line = announced(&mut child, "FreeSWITCH simulator listening on ", &log).await?;
            let addr = line
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .context("arsgate sim printed no address")?;
            nodes.push((child, NodeAddr { addr, password }));
        }

        let config = dir.join("arsgate.yaml");
        std::fs::write(
            &config,
            server_config(dir, &nodes, store_url, found, sounds, recordings),
        )?;
        let mut server = own_environment(Command::new(&exe))
            .args(["serve", "--config"])
            .arg(&config)
            .env("ARSGATE_SECRET", format!("{:064x}", rand::random::<u128>()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting arsgate serve")?;
        let base = announced(&mut server, "arsgate serving on ", &dir.join("serve.log")).await?;
        let cluster = Cluster {
            nodes,
            server,
            base,
        };
        cluster.wait_connected(count).await?;
        Ok(cluster)
    }

    /// The nodes' event sockets.
    pub fn nodes(&self) -> Vec<NodeAddr> {
        self.nodes.iter().map(|(_, node)| node.clone()).collect()
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The server's resource use so far.
    pub fn server_usage(&self) -> anyhow::Result<Usage> {
        let pid = self.server.id().context("arsgate serve has exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The fields after the command name, which is in parentheses and
        // may itself hold spaces.
        let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cpu_seconds = (ticks(11) + ticks(12)) as f64 / TICKS_PER_SECOND;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let peak_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Ok(Usage {
            cpu_seconds,
            peak_rss: peak_kib * 1024,
        })
    }

    /// Stops the server (SIGTERM, as an operator would) and the nodes.
    pub async fn stop(mut self) {
        if let Some(pid) = self.server.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            let waited = tokio::time::timeout(Duration::from_secs(30), self.server.wait()).await;
            if waited.is_err() {
                let _ = self.server.kill().await;
            }
        }
        for (child, _) in &mut self.nodes {
            let _ = child.kill().await;
        }
    }

    async fn wait_connected(&self, count: u32) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            let ready: serde_json::Value = client
                .get(format!("{}/readyz", self.base))
                .send()
                .await?
                .json()
                .await?;
            let connected = ready["nodes"].as_array().map_or(0, |nodes| {
                nodes.iter().filter(|n| n["connected"] == true).count()
            });
            if connected == count as usize {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "arsgate serve connected to {connected} of {count} nodes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `command` without this process's `ARSGATE_...` variables.
fn own_environment(mut command: Command) -> Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("ARSGATE_") {
            command.env_remove(name);
        }
    }
    command
}

/// Waits for the line of `child` (on stdout or stderr) that starts with
/// `prefix`; the rest of that line. Everything the child writes goes to
/// `log`.
async fn announced(child: &mut Child, prefix: &str, log: &Path) -> anyhow::Result<String> {
    let (found, mut found_rx) = tokio::sync::mpsc::unbounded_channel();
    let file = tokio::fs::File::create(log).await?;
    let file = std::sync::Arc::new(tokio::sync::Mutex::new(file));
    let streams: Vec<Box<dyn AsyncRead + Unpin + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for stream in streams {
        let found = found.clone();
        let file = std::sync::Arc::clone(&file);
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let _ = found.send(rest.to_owned());
                }
                let mut file = file.lock().await;
                let _ = file.write_all(line.as_bytes()).await;
                let _ = file.write_all(b"\n").await;
            }
        });
    }
    drop(found);
    if let Some(rest) = tokio::time::timeout(START_LIMIT, found_rx.recv())
        .await
        .ok()
        .flatten()
    {
        return Ok(rest);
    }
    // Both streams ended (the process exited) or the limit passed: what it
    // said last is most likely why.
    let text = tokio::fs::read_to_string(log).await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines[lines.len().saturating_sub(LAST_WORDS)..].join("\n");
    anyhow::bail!(
        "the process never printed {prefix:?}; it said:\n{last}\n(its whole output: {})",
        log.display()
    )
}

fn server_config(
    dir: &Path,
    nodes: &[(Child, NodeAddr)],
    store_url: &str,
    found: &assets::AssetDirs,
    sounds: &Path,
    recordings: &Path,
) -> String {
    let mut yaml =
        String::from("listen: 127.0.0.1:0\nesl:\n  event_queue_capacity: 200000\nnodes:\n");
    for (i, (_, node)) in nodes.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: fs{n}\n    host: {host}\n    port: {port}\n    password: {password:?}\n    \
             max_channels: 1000000\n    cps: 1000000\n    dial_string: \"sofia/gateway/kt/{{number}}\"\n",
            n = i + 1,
            host = node.addr.ip(),
            port = node.addr.port(),
            password = node.password,
        ));
    }
    yaml.push_str(&format!(
        "calls:\n  scenarios_dir: {scenarios:?}\n  prompts_dir: {sounds:?}\n  sounds: {sounds:?}\n  \
         recordings:\n    switch_dir: /recordings\n    local_dir: {recordings:?}\n\
         data_dir: {data:?}\nstore:\n  url: {store_url:?}\nsandbox:\n  enabled: false\n\
         shutdown:\n  grace: 5s\n\
         limits:\n  default_plan: bench\n  plans:\n    bench: {{ max_channels: 1000000, cps: 1000000 }}\n",
        scenarios = found.scenarios.display().to_string(),
        sounds = sounds.display().to_string(),
        recordings = recordings.join("recordings").display().to_string(),
        data = dir.join("data").display().to_string(),
    ));
    yaml
}
