//! Plans and limits: what each merchant may do, enforced before a call is
//! placed. It knows merchants, plans and the store, not how calls are
//! placed.
//!
//! - Channels are leases in the store, held for the whole life of a call
//!   (from before it is placed to its final outcome), renewed while it
//!   lives and reclaimed once expired, so a crashed arsgate cannot leak
//!   one for longer than `limits.lease_ttl`. Taken under a per-merchant
//!   lock in the store, they hold across replicas.
//! - The velocity limit and the daily cap count admitted calls in the
//!   store, in the same transaction as the lease, so they hold across
//!   replicas too.
//! - Calls per second are limited in each process ([`rate`]).
//! - At the channel limit a plan queues ([`queue`]) or refuses.
//!
//! - [`plan`]: plans and which merchant is on which.
//! - [`rate`]: calls per second (`governor`).
//! - [`queue`]: calls waiting for a channel.
//! - [`leases`]: the leases this process holds.
//! - [`day`]: the KST day of the daily cap.
//! - [`refusal`]: why a call was refused.
//! - [`report`]: what `GET /v1/limits` shows.

pub mod day;
pub mod leases;
pub mod plan;
pub mod queue;
pub mod rate;
pub mod refusal;
pub mod report;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use plan::{Plan, Plans};
pub use refusal::Refusal;
pub use report::{LimitsReport, QueueView, UsageNow, VelocityView};

use crate::config::{AtLimit, LimitsConfig};
use crate::domain::{
    Admission, AdmitCall, LeaseTerms, LimitScope, Merchant, Mode, NewVerification, Timestamp,
    VerificationId,
};
use crate::store::{Store, StoreError};
use leases::Held;
use queue::Queues;
use rate::Rates;

/// How often a queued call looks for a channel freed by another replica
/// (those of this process wake it at once).
const POLL: Duration = Duration::from_millis(100);

/// Why a call that waited for a channel never got one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The plan's queue timeout passed.
    TimedOut(Duration),
    /// The wait was canceled (the merchant canceled, or shutdown).
    Canceled,
}

/// The limits of every merchant.
pub struct Limits {
    store: Arc<dyn Store>,
    /// The plans and their rate limiters, replaced whole by a reload (a
    /// call being admitted finishes under the ones it started with).
    current: RwLock<Arc<Current>>,
    queues: Queues,
    held: Held,
    lease_ttl: Duration,
}

/// The plans in force and their calls-per-second limiters.
struct Current {
    plans: Plans,
    rates: Rates,
}

impl Limits {
    /// The limits a validated `limits:` section describes, kept in `store`.
    pub fn new(config: &LimitsConfig, store: Arc<dyn Store>) -> Limits {
        let plans = Plans::new(config);
        let rates = Rates::new(plans.all());
        Limits {
            store,
            current: RwLock::new(Arc::new(Current { plans, rates })),
            queues: Queues::default(),
            held: Held::default(),
            lease_ttl: config.lease_ttl,
        }
    }

    fn current(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts the plans and the merchants' assignments of a validated
    /// `limits:` section in force for the calls admitted from now on.
    /// Channels held, leases, queues and daily counts carry over (they are
    /// the store's and the merchants'); a plan whose `cps` did not change
    /// keeps its rate limiter's state. `lease_ttl` is fixed at start.
    pub fn reconfigure(&self, config: &LimitsConfig) {
        let plans = Plans::new(config);
        let rates = self.current().rates.replanned(plans.all());
        *self.current.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Current { plans, rates });
    }

    /// The longest any plan lets a call wait in its queue.
    pub fn longest_queue_wait(&self) -> Duration {
        self.current()
            .plans
            .all()
            .map(|plan| plan.config.queue_timeout)
            .max()
            .unwrap_or_default()
    }

    /// The plan `merchant` is on now.
    pub fn plan(&self, merchant: &Merchant) -> Plan {
        self.current().plans.of(&merchant.name).clone()
    }

    /// Admits the call of `merchant`'s new verification `new` and stores
    /// the verification with it (one write): within the rate, the velocity
    /// limit and the daily cap, and either with its channel lease or (if
    /// the plan queues) in the queue for one. A refused call is neither
    /// counted, queued nor stored.
    pub async fn admit(&self, merchant: &Merchant, new: &NewVerification) -> Result<(), Refusal> {
        let (mode, phone, holder) = (new.mode, &new.phone, new.id);
        let plan = self.plan(merchant);
        let scope = LimitScope {
            merchant: merchant.id,
            mode,
        };
        self.current()
            .rates
            .take(&plan, scope)
            .await
            .map_err(|retry_after| Refusal::Rate {
                plan: plan.name.clone(),
                cps: plan.config.cps.get(),
                retry_after,
            })?;
        let queueing = plan.config.at_limit == AtLimit::Queue;
        // A queued call keeps its place: a newcomer joins behind it rather
        // than taking a channel that the queue's head is about to get.
        let first = if queueing {
            let max = usize::try_from(plan.config.max_queue).unwrap_or(usize::MAX);
            if !self.queues.join(scope, holder, max) {
                return Err(self.channels_full(&plan, scope));
            }
            self.queues.is_head(scope, holder)
        } else {
            true
        };
        let now = Timestamp::now();
        let (day_start, day_end) = day::bounds(now);
        let admit = AdmitCall {
            scope,
            phone: phone.e164().to_owned(),
            now,
            day_start,
            velocity: plan.config.velocity.map(|v| (v.calls.get(), v.window)),
            daily_cap: plan.config.daily_cap.map(|cap| cap.get()),
            lease: first.then_some(LeaseTerms {
                holder,
                max_channels: plan.config.max_channels.get(),
                expires_at: now.plus(self.lease_ttl),
                required: !queueing,
            }),
        };
        let admission = self.store.admit_call(&admit, Some(new)).await;
        let leased = matches!(admission, Ok(Admission::Admitted { leased: true }));
        let queued = matches!(admission, Ok(Admission::Admitted { leased: false }));
        if leased {
            self.held.hold(scope, holder);
        }
        if queueing && !queued {
            self.queues.leave(scope, holder);
        }
        let until = |at: Timestamp| {
            Duration::from_millis(u64::try_from(at.millis() - now.millis()).unwrap_or(0))
        };
        match admission? {
            Admission::Admitted { .. } => Ok(()),
            Admission::Velocity { retry_at } => {
                let (calls, window) = plan
                    .config
                    .velocity
                    .map_or((0, Duration::ZERO), |v| (v.calls.get(), v.window));
                Err(Refusal::Velocity {
                    calls,
                    window: humantime::format_duration(window).to_string(),
                    retry_after: until(retry_at),
                })
            }
            Admission::DailyCap => Err(Refusal::DailyCap {
                plan: plan.name.clone(),
                cap: plan.config.daily_cap.map_or(0, |cap| cap.get()),
                retry_after: until(day_end),
            }),
            Admission::ChannelsFull => Err(self.channels_full(&plan, scope)),
        }
    }

    fn channels_full(&self, plan: &Plan, scope: LimitScope) -> Refusal {
        let max = plan.config.max_channels.get();
        // A channel frees up, on average, every hold time / channels.
        let retry_after = (self.held.typical_hold(scope) / max)
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        Refusal::Channels {
            plan: plan.name.clone(),
            max_channels: max,
            retry_after,
        }
    }

    /// Waits until `holder`'s call has its channel: at once if it holds
    /// its lease, else in its scope's queue (joined at the back if it is
    /// not in it: a call taken over after a restart) until its turn comes
    /// and a channel is free, up to the plan's queue timeout.
    pub async fn wait_for_channel(
        &self,
        merchant: &Merchant,
        mode: Mode,
        holder: VerificationId,
        cancel: &CancellationToken,
    ) -> Result<(), Waited> {
        if self.held.holds(holder) {
            return Ok(());
        }
        let plan = self.plan(merchant);
        let scope = LimitScope {
            merchant: merchant.id,
            mode,
        };
        self.queues.join(scope, holder, usize::MAX);
        let queued_at = tokio::time::Instant::now();
        let timeout = plan.config.queue_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let waker = self.queues.waker(scope);
        let outcome = loop {
            let woken = waker.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.queues.is_head(scope, holder) {
                match self.try_lease(&plan, scope, holder).await {
                    Ok(true) => break Ok(()),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(verification = %holder, %error, "channel lease not taken");
                    }
                }
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(POLL) => {}
                () = tokio::time::sleep_until(deadline) => break Err(Waited::TimedOut(timeout)),
                () = cancel.cancelled() => break Err(Waited::Canceled),
            }
        };
        self.queues.leave(scope, holder);
        crate::metrics::queue_waited(&merchant.name, queued_at.elapsed());
        outcome
    }

    async fn try_lease(
        &self,
        plan: &Plan,
        scope: LimitScope,
        holder: VerificationId,
    ) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        let terms = LeaseTerms {
            holder,
            max_channels: plan.config.max_channels.get(),
            expires_at: now.plus(self.lease_ttl),
            required: true,
        };
        let leased = self.store.acquire_lease(scope, &terms, now).await?;
        if leased {
            self.held.hold(scope, holder);
        }
        Ok(leased)
    }

    /// Keeps the channel of a call an earlier run placed and this one
    /// takes over: its lease, if still live, is extended and renewed from
    /// now on; one that lapsed is taken again if a channel is free. A call
    /// already up goes on either way (refusing it would help nobody); false
    /// says it runs without a lease.
    pub async fn keep(&self, merchant: &Merchant, mode: Mode, holder: VerificationId) -> bool {
        let plan = self.plan(merchant);
        let scope = LimitScope {
            merchant: merchant.id,
            mode,
        };
        match self.try_lease(&plan, scope, holder).await {
            Ok(leased) => leased,
            Err(error) => {
                tracing::warn!(verification = %holder, %error, "channel lease not kept");
                false
            }
        }
    }

    /// Gives up `holder`'s channel (its call has its final outcome) and
    /// lets the next queued call of its scope take it. Safe to repeat, and
    /// from any replica.
    pub async fn release(&self, holder: VerificationId) {
        let scope = self.held.forget(holder);
        if let Err(error) = self.store.release_lease(holder).await {
            // No longer renewed, it lapses within the lease's lifetime.
            tracing::warn!(verification = %holder, %error, "channel lease not released");
        }
        if let Some(scope) = scope {
            self.queues.wake(scope);
        }
    }

    /// [`Limits::release`] for a lease this process still holds; nothing
    /// (not even a store write) for one it has given up already.
    pub async fn release_held(&self, holder: VerificationId) {
        if self.held.holds(holder) {
            self.release(holder).await;
        }
    }

    /// Forgets `holder`'s channel, which the store gave up in the write
    /// that recorded its outcome, and lets the next queued call of its
    /// scope take it: [`Limits::release`] without a second store write.
    pub fn released_with_outcome(&self, holder: VerificationId) {
        if let Some(scope) = self.held.forget(holder) {
            self.queues.wake(scope);
        }
    }

    /// Where `holder` stands in its queue, if it is queued here.
    pub fn queued(&self, merchant: &Merchant, holder: VerificationId) -> Option<QueueView> {
        let place = self.queues.place(holder)?;
        let max = self.plan(merchant).config.max_channels.get();
        let rounds = u32::try_from(place.position)
            .unwrap_or(u32::MAX)
            .div_ceil(max);
        let eta = self.held.typical_hold(place.scope) * rounds;
        Some(QueueView {
            position: u32::try_from(place.position).unwrap_or(u32::MAX),
            eta_seconds: eta.as_secs() + u64::from(eta.subsec_nanos() > 0),
        })
    }

    /// `merchant`'s plan and usage in `mode`.
    pub async fn report(
        &self,
        merchant: &Merchant,
        mode: Mode,
    ) -> Result<LimitsReport, StoreError> {
        let plan = self.plan(merchant);
        let scope = LimitScope {
            merchant: merchant.id,
            mode,
        };
        let now = Timestamp::now();
        let usage = self
            .store
            .limit_usage(scope, now, day::bounds(now).0)
            .await?;
        let config = &plan.config;
        Ok(LimitsReport {
            plan: plan.name.clone(),
            mode: mode.as_str(),
            max_channels: config.max_channels.get(),
            cps: config.cps.get(),
            velocity: config.velocity.map(|v| VelocityView {
                calls: v.calls.get(),
                window_seconds: v.window.as_secs(),
            }),
            daily_cap: config.daily_cap.map(|cap| cap.get()),
            recording: config.recording,
            at_limit: config.at_limit.as_str(),
            queue_timeout_seconds: config.queue_timeout.as_secs(),
            usage: UsageNow {
                live_channels: usage.live_channels,
                calls_today: usage.calls_today,
                queue_depth: u32::try_from(self.queues.depth(scope)).unwrap_or(u32::MAX),
            },
        })
    }

    /// Renews every lease this process holds (and prunes idle rate
    /// state); run every [`Limits::renew_every`].
    pub async fn renew(&self) {
        self.current().rates.prune();
        let holders = self.held.holders();
        if holders.is_empty() {
            return;
        }
        let now = Timestamp::now();
        match self
            .store
            .renew_leases(&holders, now, now.plus(self.lease_ttl))
            .await
        {
            Ok(renewed) => {
                // Leases released meanwhile were not renewed, rightly.
                let held = holders.iter().filter(|h| self.held.holds(**h)).count();
                if renewed < held as u64 {
                    tracing::warn!(
                        held,
                        renewed,
                        "some channel leases had lapsed before their renewal"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "channel leases not renewed"),
        }
    }

    /// How often leases are renewed: three times per lifetime, so one
    /// failed renewal does not lose them.
    pub fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }
}
