//! One verification's call, from picking a node to the stored outcome and
//! its webhook. Runs as its own task: a call outlives the HTTP request
//! that asked for it. A node that fails the call itself before it reached
//! anyone (see [`crate::switch::failover`]) hands it to another node, once.
//! A call an earlier run placed is taken over where its channel's mark
//! says it stands (see [`crate::scenario::mark`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Span;

use super::create::code_for;
use super::live::Publisher;
use super::view::WebhookKind;
use super::{Ended, Inner, Placement};
use crate::domain::{Evidence, Merchant, Timestamp, Verification};
use crate::metrics::calls::{CallWatch, NodeChannel};
use crate::scenario::birthdate::BirthdateDigests;
use crate::scenario::controller::{self, CallReport, CallRequest, ConsentEvidence};
use crate::scenario::secret::{CodeDigest, PinHash};
use crate::scenario::timeline::{Entry, Happening};
use crate::scenario::{Outcome, Runnable};
use crate::switch::failover::{self, Fault};
use crate::switch::{CallId, DialNumber, NoNode, VarValue};

/// How long a call of a plan that does not queue waits for a node's room
/// that the create request saw and another call took meanwhile.
const NO_ROOM_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The span every log line about `verification`'s call is written in:
/// the verification, its merchant, and the call and node (recorded once
/// the call is placed, or at once for a call placed by an earlier run).
pub(super) fn span(merchant: &Merchant, verification: &Verification) -> Span {
    let span = tracing::info_span!(
        "call",
        verification = %verification.id(),
        merchant = %merchant.name,
        call = tracing::field::Empty,
        node = tracing::field::Empty,
    );
    if let Some(call) = &verification.call_id {
        span.record("call", call.as_str());
    }
    if let Some(node) = &verification.node {
        span.record("node", node.as_str());
    }
    span
}

/// How a call task begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Begin {
    /// Place the call (once its channel is free).
    Place,
    /// Take over the call an earlier run placed, still up on its node.
    TakeOver,
}

/// Places `verification`'s call (or takes it over) and follows it to its
/// end.
pub(super) async fn run(
    inner: Arc<Inner>,
    merchant: Merchant,
    verification: Verification,
    cancel: CancellationToken,
    begin: Begin,
) {
    let id = verification.id();
    let abandoning = inner.abandoning.clone();
    let placed = async {
        let channel = match begin {
            Begin::Place => inner.take_channel(&merchant, &verification, &cancel).await,
            Begin::TakeOver => {
                let mode = verification.request.mode;
                if !inner.limits.keep(&merchant, mode, id).await {
                    tracing::warn!(verification = %id, "the call taken over runs without a channel lease");
                }
                Ok(())
            }
        };
        match channel {
            Ok(()) => {
                let max = inner.limits.plan(&merchant).config.max_channels.get();
                let mode = verification.request.mode.as_str();
                let _held = crate::metrics::calls::MerchantChannel::hold(&merchant.name, mode, max);
                match begin {
                    Begin::Place => {
                        place_and_follow(&inner, &merchant, &verification, cancel).await
                    }
                    Begin::TakeOver => take_over(&inner, &merchant, &verification, cancel).await,
                }
            }
            Err((outcome, reason)) => {
                inner
                    .finish(&merchant, &verification, outcome, reason, None)
                    .await
            }
        }
    };
    let outcome = tokio::select! {
        () = abandoning.cancelled() => return,
        outcome = placed => outcome,
    };
    if let Err(error) = outcome {
        tracing::error!(verification = %id, %error, "the call's record could not be kept");
    }
    // Normally released with the outcome; this covers a call that ended
    // without one being recorded here, whose lease this process still holds.
    inner.limits.release_held(id).await;
    inner.forget_running(id);
}

async fn place_and_follow(
    inner: &Arc<Inner>,
    merchant: &Merchant,
    verification: &Verification,
    cancel: CancellationToken,
) -> Result<(), crate::store::StoreError> {
    let id = verification.id();
    let request = &verification.request;
    let Some(runnable) = inner.catalog.get(&request.scenario) else {
        let reason = format!("scenario {:?} is no longer configured", request.scenario);
        return inner
            .finish(merchant, verification, Outcome::Error, reason, None)
            .await;
    };
    let pool = inner.pool(request.mode);
    // A node's own failure before the call reached anyone is retried once
    // on another node; the first attempt's call and report are kept here.
    let mut first: Option<(CallId, String, CallReport)> = None;
    // Whether an attempt's progress recorded the code heard already.
    let mut code_recorded = false;
    // The first attempt waits for a node's room as long as the plan's queue
    // would; a plan that does not queue was refused at the door when there
    // was none, so only a race with that check waits, briefly.
    let plan = inner.limits.plan(merchant).config.clone();
    let room_wait = if plan.at_limit == crate::config::AtLimit::Queue {
        plan.queue_timeout
    } else {
        NO_ROOM_GRACE
    };
    let report = loop {
        let tried: Vec<&str> = first.iter().map(|(_, node, _)| node.as_str()).collect();
        let chosen = match &first {
            None => {
                let deadline = tokio::time::Instant::now() + room_wait;
                pool.choose_within(&tried, deadline, &cancel).await
            }
            Some(_) => pool.choose(&tried),
        };
        let chosen = chosen.and_then(|slot| match slot.node().switch().cloned() {
            Some(switch) => Ok((slot, switch)),
            None => Err(NoNode::NoneConnected),
        });
        let (slot, switch) = match chosen {
            Ok(chosen) => chosen,
            Err(none) => {
                // No other node: the first attempt's failure stands.
                if let Some((_, _, report)) = first.take() {
                    break report;
                }
                let (outcome, reason) = if cancel.is_cancelled() {
                    let reason = "canceled by the merchant while it waited for a node";
                    (Outcome::Canceled, reason.to_owned())
                } else if none == NoNode::NoneConnected {
                    (Outcome::NetworkError, none.to_string())
                } else {
                    crate::metrics::no_capacity(none.reason());
                    let waited = humantime::format_duration(room_wait);
                    (
                        Outcome::Timeout,
                        format!("waited {waited} for room: {none}"),
                    )
                };
                return inner
                    .finish(merchant, verification, outcome, reason, None)
                    .await;
            }
        };
        let node = slot.node();
        let call = CallId::new();
        Span::current()
            .record("call", call.as_str())
            .record("node", node.name());
        // Recorded before the call exists, so that a restart knows to end it.
        let placed = match &first {
            None => {
                inner
                    .durably("the call's placement", || {
                        inner.store.mark_calling(id, call.as_str(), node.name())
                    })
                    .await?
            }
            Some((earlier, _, _)) => {
                inner
                    .durably("the call's placement", || {
                        inner
                            .store
                            .mark_replaced(id, earlier.as_str(), call.as_str(), node.name())
                    })
                    .await?
            }
        };
        if !placed {
            // Canceled (or finished by another replica) before the call was placed.
            return Ok(());
        }
        let (call_request, entries) =
            match call_request(inner, &runnable, verification, call.clone()).await {
                Ok(request) => request,
                Err(reason) => {
                    return inner
                        .finish(merchant, verification, Outcome::Error, reason, None)
                        .await;
                }
            };
        tracing::info!(
            verification = %id,
            call = %call_request.call,
            node = node.name(),
            scenario = %request.scenario,
            retry = first.is_some(),
            "placing the call"
        );
        let driving = controller::run(
            &*switch,
            &runnable.program,
            call_request,
            inner.settings(request.mode),
            cancel.clone(),
        );
        let (report, recorded) =
            drive(inner, merchant, verification, node.name(), driving, entries).await;
        code_recorded |= recorded;
        let fault = report.attempt().map(failover::classify);
        if fault == Some(Fault::Node) {
            node.refused();
        } else if report.channel {
            node.accepted();
        }
        let retry = first.is_none()
            && !cancel.is_cancelled()
            && !inner.stopping.is_cancelled()
            && fault == Some(Fault::Node);
        if !retry {
            break report;
        }
        tracing::warn!(
            verification = %id,
            node = node.name(),
            reason = %report.reason,
            "the node failed before the call reached anyone; placing it on another node"
        );
        crate::metrics::failover(node.name());
        first = Some((call, node.name().to_owned(), report));
    };
    let earlier: Vec<Entry> = first
        .iter()
        .flat_map(|(_, _, r)| r.timeline.entries())
        .filter(|entry| !matches!(entry.what, Happening::Decided { .. }))
        .cloned()
        .collect();
    conclude(
        inner,
        merchant,
        verification,
        earlier,
        report,
        code_recorded,
    )
    .await
}

/// Takes over the call of `verification` that an earlier run placed and
/// follows it to its end.
async fn take_over(
    inner: &Arc<Inner>,
    merchant: &Merchant,
    verification: &Verification,
    cancel: CancellationToken,
) -> Result<(), crate::store::StoreError> {
    let request = &verification.request;
    let lost = |why: &str| format!("lost: arsgate restarted during the call and {why}");
    let Some(runnable) = inner.catalog.get(&request.scenario) else {
        inner.hang_up_orphan(verification).await;
        let reason = lost("its scenario is no longer configured");
        return inner
            .finish(merchant, verification, Outcome::Error, reason, None)
            .await;
    };
    let Some(Placement { call, node, switch }) = inner.placement(verification) else {
        let reason = lost("its node is unknown or unreachable");
        return inner
            .finish(merchant, verification, Outcome::Error, reason, None)
            .await;
    };
    // The call holds its node's capacity like any other.
    let _slot = inner.pool(request.mode).hold(node.name());
    let (call_request, entries) =
        match call_request(inner, &runnable, verification, call.clone()).await {
            Ok(request) => request,
            Err(reason) => {
                inner.hang_up_orphan(verification).await;
                return inner
                    .finish(merchant, verification, Outcome::Error, reason, None)
                    .await;
            }
        };
    tracing::info!(
        verification = %verification.id(),
        call = %call,
        node = node.name(),
        "taking the call over"
    );
    let elapsed = Timestamp::now().since(request.created_at);
    let driving = controller::take_over(
        &*switch,
        &runnable.program,
        call_request,
        inner.settings(request.mode),
        cancel,
        elapsed,
    );
    let (report, code_recorded) =
        drive(inner, merchant, verification, node.name(), driving, entries).await;
    conclude(
        inner,
        merchant,
        verification,
        Vec::new(),
        report,
        code_recorded,
    )
    .await
}

/// Runs the controller's future `driving` of a call on `node` to its
/// report, recording each timeline entry it sends on `entries` as the call
/// progresses; with the report, whether the store took the code heard.
async fn drive(
    inner: &Inner,
    merchant: &Merchant,
    verification: &Verification,
    node: &str,
    driving: impl Future<Output = CallReport>,
    mut entries: mpsc::UnboundedReceiver<Entry>,
) -> (CallReport, bool) {
    let _on_node = NodeChannel::hold(node);
    let mut watch = CallWatch::new(node);
    let mut publisher = Publisher::new(verification.id());
    let mut code_recorded = false;
    tokio::pin!(driving);
    let report = loop {
        tokio::select! {
            report = &mut driving => break report,
            Some(entry) = entries.recv() => {
                watch.saw(&entry);
                publisher.publish(inner, &entry).await;
                code_recorded |= inner.progressed(merchant, verification, &entry).await;
            }
        }
    };
    while let Ok(entry) = entries.try_recv() {
        watch.saw(&entry);
        publisher.publish(inner, &entry).await;
        code_recorded |= inner.progressed(merchant, verification, &entry).await;
    }
    (report, code_recorded)
}

/// Records how the call ended: its evidence, its timeline after
/// `earlier` (a failed first attempt's), its outcome; and the code heard,
/// unless the call's progress already recorded it (`code_recorded`).
async fn conclude(
    inner: &Inner,
    merchant: &Merchant,
    verification: &Verification,
    earlier: Vec<Entry>,
    mut report: CallReport,
    code_recorded: bool,
) -> Result<(), crate::store::StoreError> {
    let id = verification.id();
    if inner.aborting.is_cancelled() && report.outcome == Outcome::Canceled {
        // The cancel came from a shutdown past its deadline, not the merchant.
        report.outcome = Outcome::Error;
        report.reason = "arsgate shut down before the call ended".to_owned();
    }
    if let Some(evidence) = &report.evidence {
        let evidence = evidence_record(evidence);
        inner
            .durably("the consent evidence", || {
                inner.store.save_evidence(id, &evidence)
            })
            .await?;
    }
    // A failed first attempt stays in the record, without its verdict.
    let mut entries = earlier;
    let CallReport {
        outcome,
        reason,
        timeline,
        ..
    } = report;
    entries.extend(timeline.entries().iter().cloned());
    // The live record may have missed it (a store that did not answer):
    // a customer who heard the code must be able to have it checked.
    if let Some(heard) = entries
        .iter()
        .find(|entry| matches!(entry.what, Happening::CodeHeard))
        .filter(|_| !code_recorded)
    {
        let heard = timestamp(heard.reported_at);
        if let Err(error) = inner
            .durably("the code's delivery", || {
                inner.store.mark_code_heard(id, heard)
            })
            .await
        {
            tracing::warn!(verification = %id, %error, "code delivery not recorded");
        }
    }
    let at = entries
        .iter()
        .rev()
        .find(|entry| matches!(entry.what, Happening::HungUp { .. }))
        // The switch's own times measure the call (answered to hung up).
        .map_or_else(Timestamp::now, |entry| timestamp(entry.reported_at));
    let ended = Ended {
        timeline: serde_json::to_value(&entries).unwrap_or_default(),
        at,
    };
    inner
        .finish(merchant, verification, outcome, reason, Some(ended))
        .await
}

/// What the controller needs for this call, with the receiving end of its
/// progress; `Err` says why it cannot be placed.
async fn call_request(
    inner: &Inner,
    runnable: &Runnable,
    verification: &Verification,
    call: CallId,
) -> Result<(CallRequest, mpsc::UnboundedReceiver<Entry>), String> {
    let request = &verification.request;
    let number = DialNumber::parse(&request.phone.national())
        .map_err(|_| "the number cannot be dialled".to_owned())?;
    let mut fields = BTreeMap::new();
    for (name, value) in &request.fields {
        let value = VarValue::parse(value)
            .map_err(|_| format!("field `{name}` holds characters the switch would interpret"))?;
        fields.insert(name.clone(), value);
    }
    let code = runnable
        .reads_code()
        .then(|| code_for(&inner.settings.code_key, request.mode, request.id));
    let code_digest = request
        .code_digest
        .as_deref()
        .map(|hex| CodeDigest::from_hex(hex).ok_or("the stored code digest is unreadable"))
        .transpose()?;
    let pin = match (&request.customer_ref, runnable.checks_pin()) {
        (Some(customer), true) => {
            let phc = inner
                .store
                .pin(request.merchant_id, request.mode, customer)
                .await
                .map_err(|error| format!("the PIN could not be read: {error}"))?
                .ok_or("the customer's PIN was removed before the call")?;
            Some(PinHash::from_phc(&phc).map_err(|_| "the stored PIN hash is unreadable")?)
        }
        _ => None,
    };
    let birthdate = match (&request.birthdate_digest, runnable.checks_birthdate()) {
        (Some(stored), true) => Some(
            BirthdateDigests::from_stored(&request.id.to_string(), stored)
                .ok_or("the stored birth date digests are unreadable")?,
        ),
        (None, true) => return Err("the birth date was erased before the call".to_owned()),
        _ => None,
    };
    let (progress, entries) = mpsc::unbounded_channel();
    let request = CallRequest {
        call,
        number,
        language: request.language,
        fields,
        code,
        code_digest,
        pin,
        birthdate,
        progress: Some(progress),
    };
    Ok((request, entries))
}

fn evidence_record(evidence: &ConsentEvidence) -> Evidence {
    Evidence {
        consent_text: evidence.text.clone(),
        key: evidence.key.map(String::from),
        key_at: evidence.key_at.map(timestamp),
        recording_path: evidence.recording.clone(),
        local_path: evidence
            .local_recording
            .as_ref()
            .map(|p| p.display().to_string()),
        recording_sha256: evidence.recording_sha256.clone(),
        recording_ms: evidence
            .recording_duration
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}

fn timestamp(at: SystemTime) -> Timestamp {
    let millis = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(millis)
}

impl Inner {
    /// Records what the call's progress means for the verification: every
    /// entry joins the live timeline; the answer moves it to `answered`
    /// (and posts a webhook if asked); the code heard to its end lets the
    /// merchant check it. True once the store has the code heard.
    async fn progressed(
        &self,
        merchant: &Merchant,
        verification: &Verification,
        entry: &Entry,
    ) -> bool {
        let id = verification.id();
        self.note(id, entry);
        if matches!(entry.what, Happening::CodeHeard) {
            let at = timestamp(entry.reported_at);
            return match self.store.mark_code_heard(id, at).await {
                Ok(_) => true,
                Err(error) => {
                    // Written again, durably, with the outcome.
                    tracing::warn!(verification = %id, %error, "code delivery not recorded yet");
                    false
                }
            };
        }
        if !matches!(entry.what, Happening::Answered) {
            return false;
        }
        match self
            .store
            .mark_answered(id, timestamp(entry.reported_at))
            .await
        {
            Ok(true) if verification.request.notify_answered => {
                match self.store.verification_by_id(id).await {
                    Ok(Some(now)) => {
                        if let Err(error) = self.notify(merchant, &now, WebhookKind::Answered).await
                        {
                            tracing::warn!(verification = %id, %error, "answered webhook not queued");
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(verification = %id, %error, "answered webhook not queued");
                    }
                }
            }
            Ok(_) => {}
            // Progress only: the final outcome, written durably, carries
            // the answer in its timeline.
            Err(error) => tracing::warn!(verification = %id, %error, "answer not recorded"),
        }
        false
    }
}
