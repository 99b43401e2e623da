//! A [`Store`] that times every operation into
//! `arsgate_store_operation_duration_seconds{operation}` (the method's
//! name), around whichever store it wraps.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{CheckRecorded, IdempotentResponse, Store, StoreError, TimelineRecord};
use crate::domain::{
    Admission, AdmitCall, ApiKey, ApiKeyId, Delivery, EventId, Evidence, Finish, LeaseTerms,
    LimitScope, LimitUsage, Merchant, MerchantId, MerchantSettings, Mode, NewDelivery,
    NewVerification, Page, Timestamp, Usage, Verification, VerificationFilter, VerificationId,
};

/// A store whose operations are timed.
pub struct TimedStore {
    inner: Arc<dyn Store>,
}

impl TimedStore {
    /// Times the operations of `inner`.
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(TimedStore { inner })
    }
}

async fn timed<T>(operation: &'static str, run: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = run.await;
    metrics::histogram!(crate::metrics::STORE_DURATION, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    result
}

#[async_trait]
impl Store for TimedStore {
    async fn append_timeline(&self, id: VerificationId, entry: &str) -> Result<u64, StoreError> {
        timed("append_timeline", self.inner.append_timeline(id, entry)).await
    }

    async fn timeline_after(
        &self,
        id: VerificationId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<TimelineRecord>, StoreError> {
        timed(
            "timeline_after",
            self.inner.timeline_after(id, after, limit),
        )
        .await
    }

    fn timeline_feed(&self) -> tokio::sync::broadcast::Receiver<VerificationId> {
        self.inner.timeline_feed()
    }

    async fn create_merchant(
        &self,
        name: &str,
        webhook_secret: &str,
        settings: &MerchantSettings,
    ) -> Result<Merchant, StoreError> {
        timed(
            "create_merchant",
            self.inner.create_merchant(name, webhook_secret, settings),
        )
        .await
    }

    async fn set_merchant_settings(
        &self,
        id: MerchantId,
        settings: &MerchantSettings,
    ) -> Result<(), StoreError> {
        timed(
            "set_merchant_settings",
            self.inner.set_merchant_settings(id, settings),
        )
        .await
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>, StoreError> {
        timed("merchant", self.inner.merchant(id)).await
    }

    async fn merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, StoreError> {
        timed("merchant_by_name", self.inner.merchant_by_name(name)).await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        timed("create_api_key", self.inner.create_api_key(key)).await
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        timed("api_key", self.inner.api_key(id)).await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        timed("merchants", self.inner.merchants()).await
    }

    async fn api_keys(&self, merchant: Option<MerchantId>) -> Result<Vec<ApiKey>, StoreError> {
        timed("api_keys", self.inner.api_keys(merchant)).await
    }

    async fn revoke_api_key(
        &self,
        id: ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>, StoreError> {
        timed("revoke_api_key", self.inner.revoke_api_key(id, at)).await
    }

    async fn create_verification(&self, new: &NewVerification) -> Result<Verification, StoreError> {
        timed("create_verification", self.inner.create_verification(new)).await
    }

    async fn verification(
        &self,
        merchant: MerchantId,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        timed("verification", self.inner.verification(merchant, id)).await
    }

    async fn verification_by_id(
        &self,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        timed("verification_by_id", self.inner.verification_by_id(id)).await
    }

    async fn list_verifications(
        &self,
        merchant: MerchantId,
        filter: &VerificationFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Verification>, StoreError> {
        timed(
            "list_verifications",
            self.inner
                .list_verifications(merchant, filter, cursor, limit),
        )
        .await
    }

    async fn mark_calling(
        &self,
        id: VerificationId,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        timed("mark_calling", self.inner.mark_calling(id, call_id, node)).await
    }

    async fn mark_replaced(
        &self,
        id: VerificationId,
        previous_call_id: &str,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        timed(
            "mark_replaced",
            self.inner
                .mark_replaced(id, previous_call_id, call_id, node),
        )
        .await
    }

    async fn mark_answered(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError> {
        timed("mark_answered", self.inner.mark_answered(id, at)).await
    }

    async fn mark_code_heard(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError> {
        timed("mark_code_heard", self.inner.mark_code_heard(id, at)).await
    }

    async fn finish(
        &self,
        id: VerificationId,
        finish: &Finish,
        webhook: Option<&NewDelivery>,
    ) -> Result<bool, StoreError> {
        timed("finish", self.inner.finish(id, finish, webhook)).await
    }

    async fn unfinished(&self) -> Result<Vec<Verification>, StoreError> {
        timed("unfinished", self.inner.unfinished()).await
    }

    async fn live_calls(&self, calls: &[String]) -> Result<Vec<String>, StoreError> {
        timed("live_calls", self.inner.live_calls(calls)).await
    }

    async fn pending_before(&self, before: Timestamp) -> Result<Vec<Verification>, StoreError> {
        timed("pending_before", self.inner.pending_before(before)).await
    }

    async fn record_check(
        &self,
        id: VerificationId,
        approved: Option<Timestamp>,
    ) -> Result<CheckRecorded, StoreError> {
        timed("record_check", self.inner.record_check(id, approved)).await
    }

    async fn save_evidence(
        &self,
        id: VerificationId,
        evidence: &Evidence,
    ) -> Result<(), StoreError> {
        timed("save_evidence", self.inner.save_evidence(id, evidence)).await
    }

    async fn evidence(&self, id: VerificationId) -> Result<Option<Evidence>, StoreError> {
        timed("evidence", self.inner.evidence(id)).await
    }

    async fn usage(
        &self,
        merchant: MerchantId,
        mode: Mode,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Usage, StoreError> {
        timed("usage", self.inner.usage(merchant, mode, from, to)).await
    }

    async fn set_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        timed(
            "set_pin",
            self.inner.set_pin(merchant, mode, customer_ref, hash),
        )
        .await
    }

    async fn pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        timed("pin", self.inner.pin(merchant, mode, customer_ref)).await
    }

    async fn delete_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<bool, StoreError> {
        timed(
            "delete_pin",
            self.inner.delete_pin(merchant, mode, customer_ref),
        )
        .await
    }

    async fn claim_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        timed(
            "claim_idempotent",
            self.inner
                .claim_idempotent(merchant, mode, key, request_hash, now),
        )
        .await
    }

    async fn save_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<(), StoreError> {
        timed(
            "save_idempotent",
            self.inner.save_idempotent(merchant, mode, key, response),
        )
        .await
    }

    async fn release_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
    ) -> Result<(), StoreError> {
        timed(
            "release_idempotent",
            self.inner.release_idempotent(merchant, mode, key),
        )
        .await
    }

    async fn enqueue_delivery(&self, new: &NewDelivery) -> Result<(), StoreError> {
        timed("enqueue_delivery", self.inner.enqueue_delivery(new)).await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        timed(
            "claim_due_deliveries",
            self.inner.claim_due_deliveries(now, lease_until, limit),
        )
        .await
    }

    async fn mark_delivered(
        &self,
        id: EventId,
        status: u16,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        timed("mark_delivered", self.inner.mark_delivered(id, status, at)).await
    }

    async fn mark_attempt_failed(
        &self,
        id: EventId,
        status: Option<u16>,
        error: &str,
        next_attempt_at: Timestamp,
        dead: bool,
    ) -> Result<(), StoreError> {
        timed(
            "mark_attempt_failed",
            self.inner
                .mark_attempt_failed(id, status, error, next_attempt_at, dead),
        )
        .await
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        mode: Mode,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError> {
        timed(
            "list_deliveries",
            self.inner.list_deliveries(merchant, mode, cursor, limit),
        )
        .await
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        mode: Mode,
        id: EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        timed("redeliver", self.inner.redeliver(merchant, mode, id, now)).await
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        timed("pending_deliveries", self.inner.pending_deliveries()).await
    }

    async fn set_node_drained(
        &self,
        node: &str,
        drained: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        timed(
            "set_node_drained",
            self.inner.set_node_drained(node, drained, now),
        )
        .await
    }

    async fn drained_nodes(&self) -> Result<Vec<String>, StoreError> {
        timed("drained_nodes", self.inner.drained_nodes()).await
    }

    async fn admit_call(
        &self,
        admit: &AdmitCall,
        create: Option<&NewVerification>,
    ) -> Result<Admission, StoreError> {
        timed("admit_call", self.inner.admit_call(admit, create)).await
    }

    async fn acquire_lease(
        &self,
        scope: LimitScope,
        terms: &LeaseTerms,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        timed("acquire_lease", self.inner.acquire_lease(scope, terms, now)).await
    }

    async fn renew_leases(
        &self,
        holders: &[VerificationId],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        timed(
            "renew_leases",
            self.inner.renew_leases(holders, now, expires_at),
        )
        .await
    }

    async fn release_lease(&self, holder: VerificationId) -> Result<bool, StoreError> {
        timed("release_lease", self.inner.release_lease(holder)).await
    }

    async fn limit_usage(
        &self,
        scope: LimitScope,
        now: Timestamp,
        day_start: Timestamp,
    ) -> Result<LimitUsage, StoreError> {
        timed("limit_usage", self.inner.limit_usage(scope, now, day_start)).await
    }
}
