//! `arsgate loadtest`: the load benchmark. It starts simulated FreeSWITCH
//! nodes (`arsgate sim` processes) and an `arsgate serve` process on them,
//! offers verifications to the API at a fixed rate from this process, and
//! reports what the server did with them: calls set up per second, API
//! latency, the time from the API request to the `originate` reaching a
//! node, the server's CPU time per call and its peak memory, the most
//! calls up at once.
//!
//! Every party is its own process, so the CPU and memory figures are the
//! server's alone; on a small machine the nodes and the load compete with
//! it for the same cores, which the report says.
//!
//! - [`processes`]: the node and server processes and what `/proc` says
//!   of them.
//! - [`offer`]: the open-loop load.
//! - [`watch`]: the nodes' view of the calls, from their own events.
//! - [`report`]: percentiles and the printed table.

mod offer;
mod processes;
mod report;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use crate::domain::{Mode, VerificationId};
use crate::service::keys;
use crate::sim::phone::PhoneBook;
use crate::store::{self, Store};

/// Options of `arsgate loadtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// Verifications to start.
    #[arg(long, default_value_t = 5000)]
    pub calls: u32,
    /// Verifications offered per second (open loop: the schedule does not
    /// wait for the server).
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Simulated FreeSWITCH nodes.
    #[arg(long, default_value_t = 2)]
    pub nodes: u32,
    /// The store: `sqlite` (a fresh file) or a PostgreSQL URL of an empty
    /// database the run may fill.
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Merchants the load is spread over, each with its own key (the plan
    /// limits are per merchant, as in production).
    #[arg(long, default_value_t = 10)]
    pub merchants: u32,
    /// The scenario every verification runs.
    #[arg(long, default_value = "read_code")]
    pub scenario: String,
    /// The simulated phones (the format of `config/sim-phones.yaml`; the
    /// numbers dialled are `0102xxxxxxx`, so its `default` decides what
    /// every call does). Default: the sandbox's phones, whose default
    /// answers after 1 s and stays silent.
    #[arg(long)]
    pub phones: Option<PathBuf>,
    /// How long to wait for the last calls to end before reporting.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Keep the run's files (configuration, database, logs) here instead
    /// of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// How often a progress line is printed while the load runs and drains.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Runs the benchmark and prints its report to stdout. Fails (after the
/// report) when any request was refused or failed, or a call did not end
/// within `--drain`. A failed run keeps its files, temporary or not, and
/// says where.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!((1..=32).contains(&args.nodes), "--nodes must be 1 to 32");
    if let Some(path) = &args.phones {
        PhoneBook::load(path).context("--phones")?;
    }
    let temp = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("creating a temporary directory")?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .context("no directory for the run")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let prepared = processes::Prepared::new(&dir)?;
    anyhow::ensure!(
        prepared.scenarios().contains(&args.scenario),
        "--scenario {}: no such scenario (there are {})",
        args.scenario,
        prepared.scenarios().join(", ")
    );
    match (measure(&args, &dir, &prepared).await, temp) {
        (Err(error), Some(temp)) => {
            let kept = temp.keep();
            Err(anyhow::anyhow!(
                "{error:#}\n(the run's files, its configuration and logs, are kept in {})",
                kept.display()
            ))
        }
        (result, _) => result,
    }
}

/// The run itself, its files under `dir`.
async fn measure(
    args: &LoadtestArgs,
    dir: &Path,
    prepared: &processes::Prepared,
) -> anyhow::Result<()> {
    let (store_url, store_name) = match args.store.as_str() {
        "sqlite" => (
            format!("sqlite:{}", dir.join("arsgate.db").display()),
            "SQLite",
        ),
        url => (url.to_owned(), "PostgreSQL"),
    };
    let store = store::open(&store_url).await.context("opening the store")?;
    let mut merchant_keys = Vec::new();
    for n in 1..=args.merchants {
        let (merchant, _) = keys::merchant_named(&*store, &format!("loadtest-{n}")).await?;
        merchant_keys.push(keys::issue(&*store, &merchant, Mode::Live).await?.text);
    }

    eprintln!("starting {} simulated nodes and arsgate serve…", args.nodes);
    let cluster = processes::Cluster::start(
        dir,
        args.nodes,
        &store_url,
        args.phones.as_deref(),
        prepared,
    )
    .await?;
    let watcher = watch::Watcher::start(&cluster.nodes()).await?;
    let before = cluster.server_usage()?;
    eprintln!(
        "offering {} verifications of {} at {}/s…",
        args.calls, args.scenario, args.rate
    );
    let tally = Arc::new(offer::Tally::default());
    let progress = tokio::spawn(progress(args.calls, Arc::clone(&tally), watcher.counts()));
    let offered = offer::offer(
        cluster.base_url(),
        &merchant_keys,
        &args.scenario,
        args.calls,
        args.rate,
        &tally,
    )
    .await;
    let created: Vec<&offer::Sent> = offered.iter().filter(|s| s.id.is_some()).collect();
    eprintln!(
        "{} accepted; waiting up to {} for every call to end…",
        created.len(),
        humantime::format_duration(args.drain)
    );
    let ended = watcher.wait_idle(created.len(), args.drain).await;
    progress.abort();
    let after = cluster.server_usage()?;
    let calls = watcher.finish().await;
    let originated = call_ids(&*store, &created).await?;
    cluster.stop().await;

    let report = report::Report::new(
        args,
        store_name,
        &offered,
        &originated,
        &calls,
        after.since(&before),
        ended,
    );
    print!("{report}");
    let refused = offered.len() - created.len();
    anyhow::ensure!(
        refused == 0,
        "{refused} of {} verifications were refused or failed (statuses in the report; \
         the server's log: {})",
        offered.len(),
        dir.join("serve.log").display()
    );
    anyhow::ensure!(
        ended,
        "not every call ended within --drain {}",
        humantime::format_duration(args.drain)
    );
    Ok(())
}

/// Prints, every [`PROGRESS_EVERY`] until aborted, how far the load and
/// the calls are.
async fn progress(
    calls: u32,
    tally: Arc<offer::Tally>,
    counts: impl Fn() -> (usize, usize) + Send + 'static,
) {
    let started = tokio::time::Instant::now();
    let mut every = tokio::time::interval(PROGRESS_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let (ended, up) = counts();
        eprintln!(
            "{:>5.0}s  offered {}/{calls}  accepted {}  refused {}  calls up {up}  ended {ended}",
            started.elapsed().as_secs_f64(),
            tally.sent.load(Ordering::Relaxed),
            tally.accepted.load(Ordering::Relaxed),
            tally.refused.load(Ordering::Relaxed),
        );
    }
}

/// The call id each accepted verification got, with when it was asked
/// for (as wall-clock microseconds).
async fn call_ids(
    store: &dyn Store,
    created: &[&offer::Sent],
) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::with_capacity(created.len());
    for sent in created {
        let Some(id) = sent.id.as_deref() else {
            continue;
        };
        let id = VerificationId::parse(id).context("the API returned a malformed id")?;
        if let Some(verification) = store.verification_by_id(id).await?
            && let Some(call) = verification.call_id
        {
            out.push((call, sent.sent_micros));
        }
    }
    Ok(out)
}
