//! The verification service: what arsgate does for a merchant, whatever
//! door the request came in by. It checks requests, stores verifications,
//! runs each call as its own task through the controller on a node of the
//! right pool (live nodes, or the sandbox's simulator for test keys), keeps
//! the record up to date as the call progresses, queues the webhooks, and
//! after a restart brings every unfinished verification to an end.
//!
//! - [`create`]: checking a request into the record to store.
//! - [`view`]: verifications as merchants see them (API and webhooks).
//! - [`evidence`]: consent evidence bundles and recordings.
//! - [`usage`]: monthly usage for billing.
//! - [`deliveries`]: webhook deliveries, listed and redelivered.
//! - [`keys`]: API keys, issued and authenticated.
//! - [`live`]: a verification's progress as it happens, for event streams.
//! - `channel`: a call's wait for its channel under the merchant's plan.
//! - [`claims`]: which of a node's channels some verification still wants.
//! - `durable`: the writes that must land, retried across a store outage.
//! - [`error`]: why a request was refused, with stable codes.

mod call;
mod channel;
mod check;
pub mod claims;
pub mod create;
pub mod deliveries;
mod durable;
pub mod error;
pub mod evidence;
pub mod keys;
pub mod live;
mod recover;
pub mod usage;
pub mod view;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use check::Checked;
pub use create::{Caller, CreateVerification};
pub use error::ServiceError;
pub use view::{VerificationView, WebhookKind, WebhookPayload};

use crate::domain::{
    EventId, Finish, Merchant, Mode, NewDelivery, Page, Timestamp, Verification,
    VerificationFilter, VerificationId, VerificationState,
};
use crate::limits::{Limits, LimitsReport};
use crate::scenario::controller::CallSettings;
use crate::scenario::secret::{Code, PinHash};
use crate::scenario::timeline::Entry;
use crate::scenario::{Catalog, Language, Outcome};
use crate::store::Store;
use crate::switch::{CallId, FreeSwitch, Node, NodeReport, Pool};
use crate::webhook::Egress;
use deliveries::Redeliveries;

/// What the service is built from.
pub struct ServiceParts {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// The scenarios offered.
    pub catalog: Catalog,
    /// Settings of live calls.
    pub settings: CallSettings,
    /// Settings of sandbox calls (the sandbox's prompts and recordings).
    pub sandbox_settings: CallSettings,
    /// The prompts' language when a request names none.
    pub default_language: Language,
    /// The FreeSWITCH nodes live calls go through.
    pub live: Pool,
    /// Where sandbox calls go: the built-in simulator.
    pub sandbox: Pool,
    /// Woken whenever a webhook is queued.
    pub webhooks: Arc<Notify>,
    /// The merchants' plans.
    pub limits: Limits,
    /// Where webhooks may go.
    pub egress: Egress,
    /// Redeliveries each merchant may ask for per minute.
    pub redeliveries_per_minute: NonZeroU32,
}

/// The verification service (cheap to clone; clones share everything).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    catalog: Catalog,
    settings: CallSettings,
    sandbox_settings: CallSettings,
    default_language: Language,
    live: Pool,
    sandbox: Pool,
    webhooks: Arc<Notify>,
    limits: Arc<Limits>,
    egress: Egress,
    redeliveries: Redeliveries,
    /// The calls this process runs, by verification.
    running: Mutex<HashMap<VerificationId, Running>>,
    tasks: TaskTracker,
    /// Set once shutdown begins: no new calls.
    stopping: CancellationToken,
    /// Set once the shutdown deadline passes: live calls are ended.
    aborting: CancellationToken,
    /// Set to drop every call at once, recording nothing (a crash).
    abandoning: CancellationToken,
}

/// A call this process runs.
struct Running {
    /// Cancels it.
    cancel: CancellationToken,
    /// Its timeline so far (the store has it once the call ends).
    timeline: Vec<Entry>,
}

/// Where a call was placed: its id, its node and the node's switch.
struct Placement {
    call: CallId,
    node: Arc<Node>,
    switch: Arc<FreeSwitch>,
}

/// How a placed call ended, for the record.
struct Ended {
    /// Its timeline (a JSON array).
    timeline: serde_json::Value,
    /// When it ended, on the switch's clock (the clock the answer time
    /// comes from, so the answered time is measured on one clock).
    at: Timestamp,
}

/// A verification just created.
#[derive(Debug)]
pub struct Created {
    /// The record.
    pub verification: Verification,
    /// The code to show on the merchant's page (`enter_code` only).
    pub code: Option<Code>,
}

impl Service {
    /// The service over `parts`.
    /// Must run inside a tokio runtime: it starts renewing the channel
    /// leases of the calls it runs.
    pub fn new(parts: ServiceParts) -> Service {
        let limits = Arc::new(parts.limits);
        let service = Service {
            inner: Arc::new(Inner {
                store: parts.store,
                catalog: parts.catalog,
                settings: parts.settings,
                sandbox_settings: parts.sandbox_settings,
                default_language: parts.default_language,
                live: parts.live,
                sandbox: parts.sandbox,
                webhooks: parts.webhooks,
                egress: parts.egress,
                redeliveries: Redeliveries::per_minute(parts.redeliveries_per_minute),
                limits: Arc::clone(&limits),
                running: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
                aborting: CancellationToken::new(),
                abandoning: CancellationToken::new(),
            }),
        };
        channel::renew_leases(Arc::downgrade(&limits), service.inner.abandoning.clone());
        service
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The scenarios offered.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The pool a mode's calls go through.
    pub fn pool(&self, mode: Mode) -> &Pool {
        self.inner.pool(mode)
    }

    /// Drains live node `name` (`drained`), or resumes it: recorded in
    /// the store first, so every replica and the next start follow it
    /// ([`Service::sync_drains`]), then applied here at once.
    pub async fn set_node_drained(
        &self,
        name: &str,
        drained: bool,
    ) -> Result<NodeReport, ServiceError> {
        let pool = &self.inner.live;
        if pool.node(name).is_none() {
            return Err(ServiceError::NotFound(format!("node {name:?}")));
        }
        self.inner
            .store
            .set_node_drained(name, drained, Timestamp::now())
            .await?;
        let changed = if drained {
            pool.drain(name)
        } else {
            pool.resume(name)
        };
        changed.map_err(|unknown| ServiceError::NotFound(unknown.to_string()))
    }

    /// Brings this process's live nodes in line with the drains recorded
    /// in the store (by this replica, another one, or an earlier run).
    pub async fn sync_drains(&self) -> Result<(), ServiceError> {
        let drained = self.inner.store.drained_nodes().await?;
        for node in self.inner.live.nodes() {
            let name = node.name();
            let listed = drained.iter().any(|d| d == name);
            if listed != node.is_draining() {
                let _ = if listed {
                    self.inner.live.drain(name)
                } else {
                    self.inner.live.resume(name)
                };
            }
        }
        Ok(())
    }

    /// How many calls this process is running.
    pub fn live_calls(&self) -> usize {
        self.inner.running().len()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.is_cancelled()
    }

    /// Creates a verification for `merchant` with a key of `mode` and
    /// starts its call.
    pub async fn create(
        &self,
        merchant: &Merchant,
        mode: Mode,
        request: CreateVerification,
    ) -> Result<Created, ServiceError> {
        if self.is_stopping() {
            return Err(ServiceError::ShuttingDown);
        }
        let runnable = self
            .inner
            .catalog
            .get(&request.scenario)
            .ok_or_else(|| ServiceError::UnknownScenario(request.scenario.clone()))?;
        let prepared = create::prepare(
            request,
            merchant,
            mode,
            &runnable,
            self.inner.default_language,
            &self.inner.settings.code_key,
            &self.inner.egress,
        )?;
        let limits = &self.inner.limits;
        if runnable.records() && !limits.plan(merchant).config.recording {
            return Err(ServiceError::RecordingNotAllowed {
                scenario: runnable.scenario.name().to_owned(),
                plan: limits.plan(merchant).name.clone(),
            });
        }
        if let Some(customer) = prepared.new.customer_ref.as_deref()
            && runnable.checks_pin()
            && self
                .inner
                .store
                .pin(merchant.id, mode, customer)
                .await?
                .is_none()
        {
            return Err(ServiceError::PinNotRegistered(customer.to_owned()));
        }
        let plan = limits.plan(merchant);
        if let Err(none) = self.inner.pool(mode).room()
            && plan.config.at_limit != crate::config::AtLimit::Queue
        {
            // Refused before anything is stored: a plan that queues waits
            // for a node's room instead (see `call`).
            crate::metrics::no_capacity(none.reason());
            return Err(ServiceError::NoCapacity(none));
        }
        limits
            .admit(merchant, &prepared.new)
            .await
            .inspect_err(|refusal| crate::metrics::limit_hit(&merchant.name, refusal.code()))?;
        let verification = Verification::pending(prepared.new);
        let shown = runnable.shows_code().then_some(prepared.code).flatten();
        self.inner.start(merchant.clone(), verification.clone());
        crate::metrics::verification_started(
            &merchant.name,
            &verification.request.scenario,
            mode.as_str(),
        );
        Ok(Created {
            verification,
            code: shown,
        })
    }

    /// A verification of `caller`'s.
    pub async fn get(
        &self,
        caller: Caller,
        id: VerificationId,
    ) -> Result<Verification, ServiceError> {
        self.inner.get(caller, id).await
    }

    /// `caller`'s verifications, newest first.
    pub async fn list(
        &self,
        caller: Caller,
        filter: VerificationFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Verification>, ServiceError> {
        let filter = VerificationFilter {
            mode: Some(caller.mode),
            ..filter
        };
        Ok(self
            .inner
            .store
            .list_verifications(caller.merchant, &filter, cursor, limit)
            .await?)
    }

    /// The view of a verification for its merchant.
    pub fn view(&self, merchant: &Merchant, verification: &Verification) -> VerificationView {
        self.inner.view(merchant, verification)
    }

    /// Cancels a verification: a live call is hung up and the outcome is
    /// `canceled`. Returns the record, final once the switch confirmed the
    /// hang-up (normally at once).
    pub async fn cancel(
        &self,
        merchant: &Merchant,
        mode: Mode,
        id: VerificationId,
    ) -> Result<Verification, ServiceError> {
        let caller = Caller {
            merchant: merchant.id,
            mode,
        };
        let verification = self.inner.get(caller, id).await?;
        if verification.is_final() {
            return Err(ServiceError::AlreadyFinished);
        }
        let token = self.inner.running().get(&id).map(|r| r.cancel.clone());
        match token {
            Some(token) => {
                token.cancel();
                // The call's task hangs up and records the outcome.
                self.inner.wait_finished(id, Duration::from_secs(10)).await;
            }
            None => {
                // Not running here: never placed, or carried by an arsgate
                // that is gone. Hang up whatever may be left, then record.
                let span = call::span(merchant, &verification);
                async {
                    self.inner.hang_up_orphan(&verification).await;
                    self.inner
                        .finish(
                            merchant,
                            &verification,
                            Outcome::Canceled,
                            "canceled by the merchant".to_owned(),
                            None,
                        )
                        .await
                }
                .instrument(span)
                .await?;
            }
        }
        // Final unless the switch is slow to hang up; then it soon will be.
        self.inner.get(caller, id).await
    }

    /// The code to show for a verification of a scenario that shows one
    /// (for replaying a create response); `None` for any other.
    pub fn shown_code(&self, verification: &Verification) -> Option<Code> {
        let request = &verification.request;
        self.inner
            .catalog
            .get(&request.scenario)
            .filter(|r| r.shows_code())
            .map(|_| create::code_for(&self.inner.settings.code_key, request.mode, request.id))
    }

    /// The merchants' plans and their limits (a reload reconfigures them).
    pub fn plans(&self) -> &Limits {
        &self.inner.limits
    }

    /// `merchant`'s plan and its usage in `mode`.
    pub async fn limits(
        &self,
        merchant: &Merchant,
        mode: Mode,
    ) -> Result<LimitsReport, ServiceError> {
        Ok(self.inner.limits.report(merchant, mode).await?)
    }

    /// Registers (or replaces) a customer's PIN for the `enter_pin` calls
    /// of `mode`.
    pub async fn set_pin(
        &self,
        merchant: &Merchant,
        mode: Mode,
        customer_ref: &str,
        pin: &str,
    ) -> Result<(), ServiceError> {
        let customer = create::customer_ref(customer_ref)?;
        let pin = pin.to_owned();
        let hash = tokio::task::spawn_blocking(move || PinHash::hash(&pin))
            .await
            .map_err(|_| ServiceError::InvalidPin)?
            .map_err(|_| ServiceError::InvalidPin)?;
        self.inner
            .store
            .set_pin(merchant.id, mode, &customer, hash.as_phc())
            .await?;
        Ok(())
    }

    /// Removes a customer's PIN of `mode`; `NotFound` if there was none.
    pub async fn delete_pin(
        &self,
        merchant: &Merchant,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<(), ServiceError> {
        let customer = create::customer_ref(customer_ref)?;
        if self
            .inner
            .store
            .delete_pin(merchant.id, mode, &customer)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "PIN of customer {customer:?}"
            )))
        }
    }

    /// Begins shutdown: no new calls; the live ones get until `deadline`
    /// to finish, then are ended (outcome `error`) so their state is final.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(deadline, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                calls = self.live_calls(),
                "shutdown deadline passed; ending the calls still live"
            );
            self.inner.aborting.cancel();
            for running in self.inner.running().values() {
                running.cancel.cancel();
            }
            self.inner.tasks.wait().await;
        }
    }

    /// Closes the connections to every node (after [`Service::shutdown`]).
    pub async fn close(&self) {
        self.inner.live.close().await;
        self.inner.sandbox.close().await;
    }

    /// Drops every call at once without recording anything, as a crash
    /// would: the verifications stay unfinished for the next start's
    /// recovery (the switch's own watchdog ends the calls).
    pub fn abandon(&self) {
        self.inner.stopping.cancel();
        self.inner.abandoning.cancel();
    }

    /// Ends the verifications left pending that no process will place
    /// (see `recover::sweep_unplaced`); returns how many.
    pub async fn sweep_unplaced(&self) -> Result<usize, ServiceError> {
        recover::sweep_unplaced(&self.inner).await
    }

    /// Brings every verification left unfinished by an earlier run to an
    /// end (see [`recover`]); returns how many there were.
    pub async fn recover(&self, node_wait: Duration) -> Result<usize, ServiceError> {
        recover::recover(&self.inner, node_wait).await
    }
}

impl Inner {
    fn settings(&self, mode: Mode) -> &CallSettings {
        match mode {
            Mode::Live => &self.settings,
            Mode::Test => &self.sandbox_settings,
        }
    }

    fn pool(&self, mode: Mode) -> &Pool {
        match mode {
            Mode::Live => &self.live,
            Mode::Test => &self.sandbox,
        }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<VerificationId, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget_running(&self, id: VerificationId) {
        self.running().remove(&id);
    }

    /// Starts the call's task, to place the call.
    fn start(self: &Arc<Self>, merchant: Merchant, verification: Verification) {
        self.begin(merchant, verification, call::Begin::Place);
    }

    /// Starts the call's task.
    fn begin(self: &Arc<Self>, merchant: Merchant, verification: Verification, how: call::Begin) {
        let token = self.aborting.child_token();
        self.running().insert(
            verification.id(),
            Running {
                cancel: token.clone(),
                timeline: Vec::new(),
            },
        );
        let span = call::span(&merchant, &verification);
        self.tasks.spawn(
            call::run(Arc::clone(self), merchant, verification, token, how).instrument(span),
        );
    }

    /// A verification of `caller`'s; while this process runs its call,
    /// with the timeline so far.
    async fn get(&self, caller: Caller, id: VerificationId) -> Result<Verification, ServiceError> {
        let mut verification = self
            .store
            .verification(caller.merchant, id)
            .await?
            .filter(|v| v.request.mode == caller.mode)
            .ok_or_else(|| ServiceError::NotFound(format!("verification {id}")))?;
        if !verification.is_final()
            && let Some(running) = self.running().get(&id)
        {
            verification.timeline = serde_json::to_value(&running.timeline).unwrap_or_default();
        }
        Ok(verification)
    }

    /// Records a timeline entry of a call this process runs.
    fn note(&self, id: VerificationId, entry: &Entry) {
        if let Some(running) = self.running().get_mut(&id) {
            running.timeline.push(entry.clone());
        }
    }

    fn view(&self, merchant: &Merchant, verification: &Verification) -> VerificationView {
        let checkable = self
            .catalog
            .get(&verification.request.scenario)
            .is_some_and(|r| r.reads_code());
        let mut view = VerificationView::new(verification, checkable);
        if !verification.is_final() {
            view.queue = self.limits.queued(merchant, verification.id());
        }
        view
    }

    /// Waits (up to `limit`) until this process no longer runs `id`'s call.
    async fn wait_finished(&self, id: VerificationId, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.running().contains_key(&id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Where an earlier run placed `verification`'s call, if it did and
    /// the node is known and connected.
    fn placement(&self, verification: &Verification) -> Option<Placement> {
        let call = uuid::Uuid::parse_str(verification.call_id.as_deref()?).ok()?;
        let node = self
            .pool(verification.request.mode)
            .node(verification.node.as_deref()?)?;
        let switch = Arc::clone(node.switch()?);
        Some(Placement {
            call: CallId::from(call),
            node,
            switch,
        })
    }

    /// Hangs up a call this process does not follow, if it still exists.
    async fn hang_up_orphan(&self, verification: &Verification) {
        let Some(Placement { call, switch, .. }) = self.placement(verification) else {
            return;
        };
        if switch.exists(&call).await.unwrap_or(false) {
            use crate::switch::Backend;
            let cause = crate::esl::HangupCause::OriginatorCancel;
            if let Err(error) = switch.hangup(&call, &cause).await {
                tracing::warn!(verification = %verification.id(), %error, "orphan call not hung up");
            }
        }
    }

    /// Records the outcome and, atomically with it, the `finished` webhook,
    /// unless the verification was already final. An unreachable store is
    /// waited out (see `durable`).
    async fn finish(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        outcome: Outcome,
        reason: String,
        call: Option<Ended>,
    ) -> Result<(), crate::store::StoreError> {
        let id = verification.id();
        let (timeline, finished_at) = match call {
            Some(ended) => (ended.timeline, ended.at),
            None => (verification.timeline.clone(), Timestamp::now()),
        };
        let finish = Finish {
            outcome,
            reason,
            timeline,
            finished_at,
        };
        let recorded = self
            .durably("the final outcome", || {
                self.record_finish(merchant, verification, &finish)
            })
            .await;
        match &recorded {
            // The store released the lease with the outcome; this process
            // stops renewing it and hands the channel to its queue.
            Ok((true, _)) => self.limits.released_with_outcome(id),
            // Final already, or not recorded: released here (the lease must
            // not outlive the outcome).
            _ => self.limits.release(id).await,
        }
        let (finished, queued) = recorded?;
        if !finished {
            return Ok(());
        }
        tracing::info!(verification = %id, %outcome, "verification finished");
        let request = &verification.request;
        crate::metrics::verification_finished(
            &merchant.name,
            &request.scenario,
            request.mode.as_str(),
            outcome.as_str(),
        );
        if queued {
            self.webhooks.notify_one();
        }
        Ok(())
    }

    /// One attempt at [`Inner::finish`]'s write: whether the verification
    /// was finished now, and whether a webhook was queued with it. A
    /// retried attempt builds its webhook afresh: the earlier one was
    /// stored only if its outcome was, and then this one finds it final.
    async fn record_finish(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        finish: &Finish,
    ) -> Result<(bool, bool), crate::store::StoreError> {
        let id = verification.id();
        // The webhook shows the record as it stands; without a callback
        // URL there is none, and nothing to read for it.
        let webhook = match &verification.request.callback_url {
            None => None,
            Some(_) => {
                let latest = self
                    .store
                    .verification_by_id(id)
                    .await?
                    .unwrap_or_else(|| verification.clone());
                let finished = Verification {
                    state: VerificationState::Finished,
                    outcome: Some(finish.outcome),
                    reason: Some(finish.reason.clone()),
                    timeline: finish.timeline.clone(),
                    finished_at: Some(finish.finished_at),
                    updated_at: finish.finished_at,
                    ..latest
                };
                self.webhook(merchant, &finished, WebhookKind::Finished)?
            }
        };
        let done = self.store.finish(id, finish, webhook.as_ref()).await?;
        Ok((done, webhook.is_some()))
    }

    /// Queues a webhook about `verification` if it has a callback URL.
    async fn notify(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        kind: WebhookKind,
    ) -> Result<(), crate::store::StoreError> {
        if let Some(delivery) = self.webhook(merchant, verification, kind)? {
            self.store.enqueue_delivery(&delivery).await?;
            self.webhooks.notify_one();
        }
        Ok(())
    }

    /// The webhook about `verification`, if it has a callback URL.
    fn webhook(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        kind: WebhookKind,
    ) -> Result<Option<NewDelivery>, crate::store::StoreError> {
        let Some(url) = &verification.request.callback_url else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let payload = WebhookPayload {
            id: EventId::new(),
            kind: kind.event_type(),
            created_at: now.rfc3339(),
            data: self.view(merchant, verification),
        };
        let body = serde_json::to_string(&payload)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        Ok(Some(NewDelivery {
            id: payload.id,
            merchant_id: merchant.id,
            verification_id: verification.id(),
            url: url.clone(),
            event_type: kind.event_type().to_owned(),
            payload: body,
            created_at: now,
        }))
    }
}
