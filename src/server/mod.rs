//! A running arsgate: the pieces assembled from the configuration (the
//! scenario catalog, the live node pool, the sandbox, the plans, the verification
//! service, the webhook worker, the HTTP API), their reload ([`reload`])
//! and their orderly shutdown.

mod http;
pub mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::assets::{self, AssetDirs};
use crate::config::Config;
use crate::limits::Limits;
use crate::sandbox::{Sandbox, SandboxSetup};
use crate::scenario::controller::CallSettings;
use crate::scenario::prompts::PromptCatalog;
use crate::scenario::secret::CodeKey;
use crate::scenario::{Catalog, load};
use crate::service::{Service, ServiceParts};
use crate::sim::SimHandle;
use crate::store::{Store, TimedStore};
use crate::switch::{Needs, Pool};
use reload::{ConfigSource, ReloadError, ReloadReport, Reloader, ReloaderParts, SandboxDialplan};

/// How long recovery waits for a node to connect before it gives up on
/// the calls that node carried.
const RECOVERY_NODE_WAIT: Duration = Duration::from_secs(30);

/// How often the drains recorded in the store (by any replica) are
/// applied to this process's nodes.
const DRAIN_SYNC: Duration = Duration::from_secs(2);

/// How often verifications left pending without a call task are looked
/// for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration lacks the server secret.
    #[error(
        "secret: required (at least 32 bytes; set ARSGATE_SECRET, e.g. from `openssl rand -hex 32`)"
    )]
    NoSecret,
    /// The built-in assets could not be written out.
    #[error("writing the built-in assets under {dir}: {source}")]
    Assets {
        /// The data directory.
        dir: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The prompts' manifest could not be read.
    #[error("{0}")]
    Prompts(String),
    /// A scenario is invalid.
    #[error("the scenarios are invalid:\n{0}")]
    Scenarios(String),
    /// The sandbox did not start.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// Recovering unfinished verifications failed.
    #[error("recovering unfinished verifications: {0}")]
    Recovery(crate::service::ServiceError),
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    service: Service,
    sandbox: Option<SimHandle>,
    reloader: Arc<Reloader>,
    assets: AssetDirs,
    grace: Duration,
    /// Stops the HTTP server (gracefully) and the background workers.
    stop: CancellationToken,
    http: JoinHandle<()>,
    worker: JoinHandle<()>,
    drains: JoinHandle<()>,
    sweeps: JoinHandle<()>,
}

impl Server {
    /// Starts arsgate as `config` describes, on `store`, serving the API on
    /// `listener`. Unfinished verifications of an earlier run are recovered
    /// before the API takes requests.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        listener: TcpListener,
    ) -> Result<Server, StartError> {
        let secret = config.secret.as_ref().ok_or(StartError::NoSecret)?;
        crate::metrics::install();
        let mut known: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        if config.sandbox.enabled {
            known.push(crate::sandbox::NODE_NAME);
        }
        crate::metrics::zero_known(&known);
        let store = TimedStore::wrap(store);
        let assets = assets::resolve(
            &config.calls.scenarios_dir,
            &config.calls.prompts_dir,
            &config.sandbox.phones,
            &config.data_dir,
        )
        .map_err(|source| StartError::Assets {
            dir: config.data_dir.display().to_string(),
            source,
        })?;
        let prompts =
            PromptCatalog::load(&assets.sounds).map_err(|e| StartError::Prompts(e.to_string()))?;
        let scenarios = load::load_dir(&assets.scenarios, &prompts)
            .map_err(|problems| StartError::Scenarios(problems.to_string()))?;
        let catalog = Catalog::new(scenarios);
        let code_key = Arc::new(CodeKey::new(secret.expose().as_bytes().to_vec()));
        let settings = CallSettings::from_config(&config.calls, code_key);
        let stop = CancellationToken::new();
        let claims = Arc::new(crate::service::claims::StoreClaims(Arc::clone(&store)));
        let needs = Needs {
            xml_curl: config.xml_curl.enabled,
            tts_engine: catalog
                .iter()
                .iter()
                .any(|scenario| scenario.speaks())
                .then(|| config.calls.tts.engine.clone()),
        };
        let live = Pool::connect(&config.nodes, &config.esl, "arsgate", &needs, claims, &stop);
        let (sandbox_pool, sandbox_settings, sandbox_sim) = if config.sandbox.enabled {
            let setup = SandboxSetup {
                dir: config.data_dir.join("sandbox"),
                phones: assets.phones.clone(),
                sounds: assets.sounds.clone(),
                speed: config.sandbox.speed,
            };
            let sandbox = Sandbox::start(&setup, &catalog, &settings).await?;
            (sandbox.pool, sandbox.settings, Some(sandbox.sim))
        } else {
            (Pool::empty(), settings.clone(), None)
        };
        let webhooks = Arc::new(Notify::new());
        let worker = crate::webhook::worker::spawn(
            Arc::clone(&store),
            Arc::clone(&webhooks),
            config.webhooks.worker(),
            stop.clone(),
        );
        let limits = Limits::new(&config.limits, Arc::clone(&store));
        let service = Service::new(ServiceParts {
            store,
            limits,
            catalog,
            settings,
            sandbox_settings,
            default_language: config.calls.default_language,
            live,
            sandbox: sandbox_pool,
            webhooks,
            egress: config.webhooks.egress(),
            redeliveries_per_minute: config.webhooks.redeliveries_per_minute,
        });
        if let Err(error) = service.sync_drains().await {
            tracing::warn!(%error, "the drained nodes could not be read; none is drained");
        }
        let drains = tokio::spawn(sync_drains(service.clone(), stop.clone()));
        let sweeps = tokio::spawn(sweep_unplaced(service.clone(), stop.clone()));
        let recovered = service
            .recover(RECOVERY_NODE_WAIT)
            .await
            .map_err(StartError::Recovery)?;
        if recovered > 0 {
            tracing::info!(recovered, "unfinished verifications taken over");
        }
        let addr = listener.local_addr().map_err(|source| StartError::Assets {
            dir: "listener".to_owned(),
            source,
        })?;
        let freeswitch = api::freeswitch::DialplanServer::new(&config.xml_curl, service.catalog());
        let reloader = Arc::new(Reloader::new(ReloaderParts {
            config: config.clone(),
            service: service.clone(),
            dialplan: freeswitch.clone(),
            sandbox: sandbox_sim.clone().map(|sim| SandboxDialplan {
                sim,
                dir: config.data_dir.join("sandbox"),
            }),
            scenarios: assets.scenarios.clone(),
            sounds: assets.sounds.clone(),
        }));
        let router = api::router(ApiState {
            service: service.clone(),
            admin_token: config.admin.token.clone().map(Arc::new),
            freeswitch,
            metrics: Arc::default(),
            request_timeout: config.http.request_timeout,
            reloader: Arc::clone(&reloader),
            events_heartbeat: config.http.events_heartbeat,
            closing: stop.clone(),
        });
        let http = tokio::spawn(http::serve(
            listener,
            router,
            config.http.header_read_timeout,
            stop.clone(),
        ));
        tracing::info!(%addr, "arsgate is serving");
        Ok(Server {
            addr,
            service,
            sandbox: sandbox_sim,
            reloader,
            assets,
            grace: config.shutdown.grace,
            stop,
            http,
            worker,
            drains,
            sweeps,
        })
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The verification service.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The sandbox's simulator, if the sandbox is on.
    pub fn sandbox(&self) -> Option<&SimHandle> {
        self.sandbox.as_ref()
    }

    /// Lets SIGHUP and `POST /admin/reload` read the configuration again
    /// from `source` (the file the server started from, with the same
    /// environment overrides).
    pub fn reload_from(&self, source: ConfigSource) {
        self.reloader.set_source(source);
    }

    /// Reads the configuration again and applies what can change without
    /// a restart (see [`reload`]).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload().await
    }

    /// Where the scenarios, prompts and phones came from.
    pub fn assets(&self) -> &AssetDirs {
        &self.assets
    }

    /// Stops in order: `/readyz` fails and new verifications are refused
    /// at once, live calls get the grace period to finish (then are ended,
    /// their outcomes and webhooks recorded), the HTTP server and the
    /// webhook worker stop; webhooks not yet delivered stay in the store
    /// for the next start.
    pub async fn shutdown(self) {
        tracing::info!(grace = ?self.grace, "shutting down");
        self.service.shutdown(self.grace).await;
        self.stop.cancel();
        let _ = self.http.await;
        let _ = self.worker.await;
        let _ = self.drains.await;
        let _ = self.sweeps.await;
        self.service.close().await;
        if let Some(sim) = &self.sandbox {
            sim.shutdown().await;
        }
        tracing::info!("stopped");
    }

    /// Stops at once, as a crash would: calls are abandoned mid-way and
    /// their verifications left unfinished for the next start to recover.
    pub async fn abort(self) {
        self.service.abandon();
        self.stop.cancel();
        self.http.abort();
        self.worker.abort();
        self.drains.abort();
        self.sweeps.abort();
        let _ = self.http.await;
        let _ = self.worker.await;
        let _ = self.drains.await;
        let _ = self.sweeps.await;
        self.service.close().await;
        if let Some(sim) = &self.sandbox {
            sim.shutdown().await;
        }
    }
}

/// Ends the verifications no process will place, every [`SWEEP_EVERY`]
/// until `stop`.
async fn sweep_unplaced(service: Service, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        match service.sweep_unplaced().await {
            Ok(0) => {}
            Ok(swept) => tracing::warn!(swept, "verifications never placed were ended"),
            Err(error) => tracing::debug!(%error, "unplaced verifications not swept this time"),
        }
    }
}

/// Applies the recorded drains every [`DRAIN_SYNC`] until `stop`.
async fn sync_drains(service: Service, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(DRAIN_SYNC) => {}
        }
        if let Err(error) = service.sync_drains().await {
            tracing::debug!(%error, "drained nodes not read this time");
        }
    }
}
