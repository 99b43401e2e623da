//! The outbox worker: claims due deliveries from the store (a lease keeps
//! other workers, in this process or another replica, off them), posts
//! each signed, and records the result: delivered, retried later with
//! backoff, or dead once the retry window is over. Deliveries survive a
//! restart because they live in the store; a receiver must de-duplicate on
//! the event id, since a crash between the POST and its record sends it
//! again (at-least-once).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::backoff;
use super::egress::{self, Egress, Refused};
use super::signature;
use crate::domain::{Delivery, Timestamp};
use crate::store::{Store, StoreError};

/// The first wait before recording a result again while the store is
/// unreachable (doubling after each).
const RECORD_RETRY: Duration = Duration::from_millis(100);

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Time allowed for one POST.
    pub timeout: Duration,
    /// How long a webhook is retried before it is dead.
    pub retry_for: Duration,
    /// The wait after the first failure (doubling after each).
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Deliveries posted at once.
    pub concurrency: u32,
    /// How often the store is asked for due deliveries when nothing wakes
    /// the worker (deliveries queued by other replicas, retries falling due).
    pub poll: Duration,
    /// Where webhooks may go.
    pub egress: Egress,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(24 * 3600),
            first_retry: Duration::from_secs(10),
            max_delay: Duration::from_secs(3600),
            concurrency: 16,
            poll: Duration::from_secs(1),
            egress: Egress::default(),
        }
    }
}

/// Starts the worker. Once `stop` is cancelled it claims nothing new, lets
/// the POSTs under way finish and records them, then ends; aborting its
/// task instead (a crash) leaves their deliveries to be retried when the
/// lease runs out.
pub fn spawn(
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    settings: WorkerSettings,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        // A redirect could carry a signed body somewhere the merchant never
        // registered: a 3xx counts as a failure.
        .redirect(reqwest::redirect::Policy::none())
        // Every name is resolved by the egress rule, which hands the
        // connection only the addresses webhooks may reach; a proxy would
        // connect on its own terms.
        .dns_resolver(Arc::new(settings.egress.clone()))
        .no_proxy()
        .user_agent(concat!("arsgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    tokio::spawn(run(store, wake, settings, client, stop))
}

async fn run(
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    settings: WorkerSettings,
    client: reqwest::Client,
    stop: CancellationToken,
) {
    // Long enough for the POST and its record, so only a dead worker's
    // claims come back, and short enough that they come back soon.
    let lease = settings.timeout * 2 + Duration::from_secs(5);
    while !stop.is_cancelled() {
        let now = Timestamp::now();
        let claimed = store
            .claim_due_deliveries(now, now.plus(lease), settings.concurrency.max(1))
            .await;
        let batch = match claimed {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "webhook outbox unavailable");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = stop.cancelled() => {}
                () = wake.notified() => {}
                () = tokio::time::sleep(settings.poll) => {}
            }
            continue;
        }
        let mut posts = JoinSet::new();
        let claim_ends = tokio::time::Instant::now() + lease;
        for delivery in batch {
            posts.spawn(deliver(
                Arc::clone(&store),
                client.clone(),
                settings.clone(),
                delivery,
                claim_ends,
            ));
        }
        while posts.join_next().await.is_some() {}
    }
}

/// One attempt at one delivery, recorded. While the store cannot be
/// reached, recording is retried until the claim runs out (`claim_ends`),
/// so that a merchant who got the webhook does not get it again.
async fn deliver(
    store: Arc<dyn Store>,
    client: reqwest::Client,
    settings: WorkerSettings,
    delivery: Delivery,
    claim_ends: tokio::time::Instant,
) {
    let id = delivery.event.id;
    let verification = delivery.event.verification_id;
    let result = post(&*store, &client, &settings.egress, &delivery).await;
    let now = Timestamp::now();
    let attempt = delivery.attempts + 1;
    // A failure's next attempt, and whether the retry window is over.
    let next = now.plus(backoff::delay(
        attempt,
        settings.first_retry,
        settings.max_delay,
    ));
    let dead = next >= delivery.event.created_at.plus(settings.retry_for);
    crate::metrics::webhook_delivery(match (&result, dead) {
        (Ok(_), _) => "delivered",
        (Err(_), true) => "dead",
        (Err(_), false) => "failed",
    });
    match &result {
        Ok(status) => {
            tracing::info!(event = %id, %verification, status, attempt, "webhook delivered");
        }
        Err((_, error)) if dead => {
            tracing::warn!(event = %id, %verification, attempt, %error, "webhook dead: retry window over");
        }
        Err((_, error)) => {
            tracing::info!(
                event = %id,
                %verification,
                attempt,
                %error,
                retry_at = %next.rfc3339(),
                "webhook failed"
            );
        }
    }
    let record = || async {
        match &result {
            Ok(status) => store.mark_delivered(id, *status, now).await,
            Err((status, error)) => {
                store
                    .mark_attempt_failed(id, *status, error, next, dead)
                    .await
            }
        }
    };
    let mut wait = RECORD_RETRY;
    let recorded = loop {
        match record().await {
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() + wait < claim_ends => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            recorded => break recorded,
        }
    };
    if let Err(error) = recorded {
        // The claim runs out and the delivery is tried again.
        tracing::warn!(event = %id, %verification, %error, "webhook result not recorded");
    }
}

/// Posts a delivery: its HTTP status if 2xx, else the status (if any) and
/// what went wrong.
async fn post(
    store: &dyn Store,
    client: &reqwest::Client,
    egress: &Egress,
    delivery: &Delivery,
) -> Result<u16, (Option<u16>, String)> {
    let event = &delivery.event;
    // An IP literal is never resolved, so the resolver never judges it;
    // names are judged by the addresses they resolve to.
    let url =
        reqwest::Url::parse(&event.url).map_err(|_| (None, "the URL is invalid".to_owned()))?;
    if let Some(ip) = url.host_str().and_then(egress::literal) {
        egress
            .check(ip)
            .map_err(|refused| (None, format!("refused: {refused}")))?;
    }
    let merchant = store
        .merchant(event.merchant_id)
        .await
        .map_err(|e| (None, format!("store: {e}")))?
        .ok_or_else(|| (None, "the merchant no longer exists".to_owned()))?;
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let signature = signature::sign(
        &merchant.webhook_secret,
        timestamp,
        event.payload.as_bytes(),
    );
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(signature::HEADER, signature)
        .header("Arsgate-Event-Id", event.id.to_string())
        .header("Arsgate-Event-Type", &event.event_type)
        .body(event.payload.clone())
        .send()
        .await
        .map_err(|error| (None, describe(&error)))?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err((Some(status.as_u16()), format!("HTTP {}", status.as_u16())))
    }
}

/// A transport error in a few words (never the URL, which may hold a token).
fn describe(error: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return format!("refused: {refused}");
        }
        cause = current.source();
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_request() {
        "the request failed".to_owned()
    } else {
        "the response failed".to_owned()
    }
}
