//! Durable state behind one [`Store`] trait, with two implementations that
//! pass the same conformance suite: SQLite (embedded, the default, no
//! server needed) and PostgreSQL (several arsgate replicas on one
//! database).
//!
//! Secrets are stored only as digests and hashes: codes as HMAC-SHA256
//! under the server's secret, PINs as argon2id, API keys as SHA-256.
//!
//! - [`sqlite`]: [`SqliteStore`], one file (`data/arsgate.db` by default).
//! - [`postgres`]: [`PostgresStore`], a connection pool on a database that
//!   several arsgate replicas share.
//! - [`TimedStore`] times any store's operations for `/metrics`.
//! - [`open`] picks one from a URL (`sqlite:PATH` or `postgres://...`);
//!   [`open_waiting`] tries again while the server cannot be reached.
//! - [`schema`]: running on a schema a newer arsgate migrated.
//! - [`tls`]: TLS to PostgreSQL as libpq's `sslmode` describes it.
//!
//! Both keep instants as integer milliseconds since the Unix epoch (the
//! [`Timestamp`] itself, so nothing is rounded and both read back alike)
//! and ids as the UUID inside the prefixed id. Listings page with an
//! opaque cursor naming the last item's `(created_at, id)`.

mod admission;
mod cursor;
mod feed;
mod group_commit;
pub mod postgres;
mod rows;
pub mod schema;
pub mod sqlite;
mod timed;
pub mod tls;
mod wait;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    Admission, AdmitCall, ApiKey, ApiKeyId, Delivery, EventId, Evidence, Finish, LeaseTerms,
    LimitScope, LimitUsage, Merchant, MerchantId, MerchantSettings, Mode, NewDelivery,
    NewVerification, Page, Timestamp, Usage, Verification, VerificationFilter, VerificationId,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (merchant name, idempotency key, id) is taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database refused the operation.
    #[error("database error: {0}")]
    Database(String),
    /// The database could not be reached (down, restarting, connection
    /// lost): the same operation is worth trying again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or manual tampering).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A listing's cursor was not one the store handed out.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use timed::TimedStore;
pub use wait::open_waiting;

/// The store arsgate uses when none is configured: a SQLite file under
/// `data/`, so it runs with no database server.
pub const DEFAULT_URL: &str = "sqlite:data/arsgate.db";

/// How long an idempotency key's claim may stay running before another
/// request takes it over (the claimer is presumed dead).
pub const ABANDONED_CLAIM: std::time::Duration = std::time::Duration::from_secs(60);

/// Connections [`open`] gives a PostgreSQL pool.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The most items one listing page holds; larger limits are cut to it.
pub const MAX_PAGE: u32 = 1000;

/// Opens the store a URL names, running its migrations: `sqlite:PATH`
/// (also `sqlite://PATH`; parent directories are created) or
/// `postgres://...` / `postgresql://...` (a pool of
/// [`DEFAULT_POOL_SIZE`] connections).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(Arc::new(SqliteStore::open(path).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            PostgresStore::connect(url, DEFAULT_POOL_SIZE).await?,
        ));
    }
    // Only the scheme is echoed: the rest may hold a password.
    let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
    Err(StoreError::Database(format!(
        "unsupported store URL scheme {scheme:?}: use sqlite:PATH or postgres://..."
    )))
}

/// One timeline entry as the live event stream reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecord {
    /// Its number in its verification's timeline, from 1: the stream's
    /// event id.
    pub seq: u64,
    /// The entry, as JSON text.
    pub entry: String,
}

/// A stored API response for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// SHA-256 (hex) of the request that produced it.
    pub request_hash: String,
    /// The HTTP status; 0 while the request is still running.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

/// What a `check` of a code did to the verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRecorded {
    /// The attempt was counted; `attempts` is the new total.
    Counted {
        /// Attempts so far, this one included.
        attempts: u32,
    },
    /// The verification already allowed its last attempt.
    Locked,
    /// A check already matched the code: nothing was counted.
    Used,
}

/// Everything arsgate keeps. Every merchant-facing read is scoped by the
/// merchant, so one merchant can never read another's records.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Merchants and keys.

    /// Creates a merchant; `Conflict` if the name is taken.
    async fn create_merchant(
        &self,
        name: &str,
        webhook_secret: &str,
        settings: &MerchantSettings,
    ) -> Result<Merchant, StoreError>;
    /// Replaces a merchant's settings; `NotFound` if there is no such
    /// merchant.
    async fn set_merchant_settings(
        &self,
        id: MerchantId,
        settings: &MerchantSettings,
    ) -> Result<(), StoreError>;
    /// A merchant by id.
    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>, StoreError>;
    /// A merchant by name.
    async fn merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, StoreError>;
    /// Stores a new API key.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// An API key by its public id (revoked keys included: the caller checks).
    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError>;
    /// Every merchant, by name: the operator's listing (never a merchant's).
    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError>;
    /// The API keys of one merchant, or of all, oldest first, revoked ones
    /// included: the operator's listing.
    async fn api_keys(&self, merchant: Option<MerchantId>) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key from `at` on: requests carrying it are refused from
    /// then on. A key already revoked keeps its first revocation time. The
    /// key as it now is; `None` if there is no such key.
    async fn revoke_api_key(
        &self,
        id: ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>, StoreError>;

    // Verifications.

    /// Stores a new verification in state `pending`; `Conflict` if its id exists.
    async fn create_verification(&self, new: &NewVerification) -> Result<Verification, StoreError>;
    /// A merchant's verification.
    async fn verification(
        &self,
        merchant: MerchantId,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError>;
    /// A verification by id alone, for arsgate's own workers.
    async fn verification_by_id(
        &self,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError>;
    /// A merchant's verifications, newest first (the id breaking ties),
    /// `limit` per page (at least 1, at most [`MAX_PAGE`]). Filters
    /// combine; `InvalidCursor` for a cursor this listing did not hand out.
    async fn list_verifications(
        &self,
        merchant: MerchantId,
        filter: &VerificationFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Verification>, StoreError>;
    /// Records that the call was placed (`pending` → `calling`); false if
    /// the verification is no longer pending, `NotFound` if unknown.
    async fn mark_calling(
        &self,
        id: VerificationId,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError>;
    /// Records that a call the node failed before it reached anyone was
    /// placed again as `call_id` on `node` (`calling` stays `calling`);
    /// false unless the verification is calling with `previous_call_id`,
    /// `NotFound` if unknown.
    async fn mark_replaced(
        &self,
        id: VerificationId,
        previous_call_id: &str,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError>;
    /// Records the answer (`calling` → `answered`); false if not calling,
    /// `NotFound` if unknown.
    async fn mark_answered(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError>;
    /// Records that the call read the code out to its end; false if that
    /// was already recorded (the first time stands), `NotFound` if unknown.
    async fn mark_code_heard(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError>;
    /// Records the final outcome and, in the same transaction, queues its
    /// webhook and releases the verification's channel lease (so no final
    /// verification is ever seen holding a channel); false (and nothing changed, nothing queued) if the
    /// verification was already final. Idempotent by design: a restarted
    /// arsgate may finish a call twice, and a crash between the two writes
    /// cannot lose the webhook. Any state but `finished` may finish (a
    /// verification canceled before its call is placed). `NotFound` if
    /// unknown.
    async fn finish(
        &self,
        id: VerificationId,
        finish: &Finish,
        webhook: Option<&NewDelivery>,
    ) -> Result<bool, StoreError>;
    /// Every verification not final yet (for recovery after a restart).
    async fn unfinished(&self) -> Result<Vec<Verification>, StoreError>;
    /// Of `calls` (call ids: the channel UUIDs arsgate chose), those that
    /// belong to a verification not finished yet, whichever replica
    /// follows it.
    async fn live_calls(&self, calls: &[String]) -> Result<Vec<String>, StoreError>;
    /// The verifications still pending that were created before `before`,
    /// oldest first: those no call task will place any more.
    async fn pending_before(&self, before: Timestamp) -> Result<Vec<Verification>, StoreError>;
    /// Counts a `check` attempt unless the verification is locked at the
    /// `max_check_attempts` it was created with, or a check already
    /// matched; a match (`approved` gives its time) is recorded by the same
    /// write. Atomic: concurrent checks never count past the limit, and
    /// once one matched the others count nothing and find the code `Used`.
    /// `NotFound` if unknown.
    async fn record_check(
        &self,
        id: VerificationId,
        approved: Option<Timestamp>,
    ) -> Result<CheckRecorded, StoreError>;
    /// Stores (or replaces) a consent call's evidence; `NotFound` if the
    /// verification is unknown.
    async fn save_evidence(
        &self,
        id: VerificationId,
        evidence: &Evidence,
    ) -> Result<(), StoreError>;
    /// A verification's evidence.
    async fn evidence(&self, id: VerificationId) -> Result<Option<Evidence>, StoreError>;
    /// A merchant's usage of one mode over the verifications created in
    /// `[from, to)`: billable ones per scenario (finished with an outcome
    /// that [reached the scenario's end](crate::scenario::Outcome::reached_scenario_end)),
    /// calls placed (those with a call id), and the time from answer to
    /// end of the finished ones, summed and cut to whole seconds.
    async fn usage(
        &self,
        merchant: MerchantId,
        mode: Mode,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Usage, StoreError>;

    // The live timeline, for the event streams.

    /// Appends an entry (JSON text) to a verification's live timeline and
    /// tells [`Store::timeline_feed`]'s subscribers, in this process and
    /// (PostgreSQL) every other; its number, from 1. One process appends
    /// to a verification at a time (the one running its call). `NotFound`
    /// if the verification is unknown.
    async fn append_timeline(&self, id: VerificationId, entry: &str) -> Result<u64, StoreError>;
    /// A verification's live timeline entries numbered after `after`,
    /// oldest first, at most `limit`.
    async fn timeline_after(
        &self,
        id: VerificationId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<TimelineRecord>, StoreError>;
    /// Hears of each verification given a new live timeline entry from
    /// now on, by whichever process (a hint to read it: notices may be
    /// missed under load, never the entries). Must be called inside a
    /// tokio runtime.
    fn timeline_feed(&self) -> tokio::sync::broadcast::Receiver<VerificationId>;

    // PINs: a merchant's customers have one PIN per mode, so that a
    // sandbox key never reads, replaces or removes the PIN live calls ask
    // for.

    /// Registers (or replaces) a customer's PIN hash in `mode`.
    async fn set_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
        hash: &str,
    ) -> Result<(), StoreError>;
    /// A customer's PIN hash in `mode`.
    async fn pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Removes a customer's PIN in `mode`; false if there was none.
    async fn delete_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<bool, StoreError>;

    // Idempotency: a key is a merchant's in one mode; the same value sent
    // with a key of the other mode is another key.

    /// Claims a merchant's idempotency key of `mode` for a request whose
    /// hash is `request_hash`: `None` if this request now owns the key,
    /// otherwise the record already there (with `status` 0 while the
    /// request that owns it is still running). A claim left running for a
    /// minute is taken to be abandoned (its process died) and is taken
    /// over.
    async fn claim_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotentResponse>, StoreError>;
    /// Stores the response for a key this request owns.
    async fn save_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<(), StoreError>;
    /// Gives up a key this request owns (it failed in a way worth
    /// retrying), so that a retry with the same key runs afresh.
    async fn release_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
    ) -> Result<(), StoreError>;

    // Webhook outbox: a delivery belongs to the mode of its verification.

    /// Queues a webhook event, due at its creation, in its verification's
    /// mode; `NotFound` if its merchant or verification is unknown.
    async fn enqueue_delivery(&self, new: &NewDelivery) -> Result<(), StoreError>;
    /// Claims up to `limit` pending deliveries due at `now` for an attempt,
    /// pushing their next attempt to `lease_until` so that no other worker
    /// (in this or another arsgate) takes them meanwhile.
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Records a 2xx acknowledgement (an attempt, counted), whatever the
    /// delivery's state; `NotFound` if unknown.
    async fn mark_delivered(
        &self,
        id: EventId,
        status: u16,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records a failed attempt: retry at `next_attempt_at`, or give up
    /// (`dead`). A late report on a delivery no longer pending (delivered
    /// or dead meanwhile) changes nothing; `NotFound` if unknown.
    async fn mark_attempt_failed(
        &self,
        id: EventId,
        status: Option<u16>,
        error: &str,
        next_attempt_at: Timestamp,
        dead: bool,
    ) -> Result<(), StoreError>;
    /// A merchant's deliveries of `mode`, newest first (the id breaking
    /// ties), paged like [`Store::list_verifications`].
    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        mode: Mode,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError>;
    /// Puts a merchant's delivery of `mode` back in the queue, due now
    /// (whether it was dead, delivered or pending); its attempts so far
    /// stay counted. False if unknown, another merchant's or of the other
    /// mode.
    async fn redeliver(
        &self,
        merchant: MerchantId,
        mode: Mode,
        id: EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// How many deliveries wait (pending), for health and metrics.
    async fn pending_deliveries(&self) -> Result<u64, StoreError>;
    /// Records whether the FreeSWITCH node named `node` is drained, for
    /// every replica on this store and for the next start.
    async fn set_node_drained(
        &self,
        node: &str,
        drained: bool,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The nodes recorded as drained, by name.
    async fn drained_nodes(&self) -> Result<Vec<String>, StoreError>;

    // Limits: channel leases and admitted calls, per merchant and mode.

    /// Admits a new call: reclaims the scope's expired leases, checks the
    /// velocity limit and the daily cap, takes the lease if asked (refusing
    /// with `ChannelsFull` if it is required and every channel is taken),
    /// counts the call and, if given, stores its verification `create`
    /// (as [`Store::create_verification`] would). One transaction,
    /// serialized per scope against every other admission and lease taken,
    /// in this process or another, so that concurrent calls never pass a
    /// limit together. Nothing is counted, taken or stored unless the call
    /// is admitted; nothing is admitted unless the verification is stored.
    async fn admit_call(
        &self,
        admit: &AdmitCall,
        create: Option<&NewVerification>,
    ) -> Result<Admission, StoreError>;
    /// Takes a channel lease of `scope` for `terms.holder` if fewer than
    /// `terms.max_channels` leases are live (expired ones are reclaimed
    /// first), serialized like [`Store::admit_call`]; true if the holder
    /// holds one now (`terms.required` is not consulted: a lease is
    /// either taken or not). A holder that already holds a live lease
    /// keeps it, extended to `terms.expires_at`.
    async fn acquire_lease(
        &self,
        scope: LimitScope,
        terms: &LeaseTerms,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Extends to `expires_at` the leases of `holders` still live at `now`;
    /// how many were (a lapsed lease is lost: it may be another's by now).
    async fn renew_leases(
        &self,
        holders: &[VerificationId],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Releases a holder's lease; false if it held none.
    async fn release_lease(&self, holder: VerificationId) -> Result<bool, StoreError>;
    /// A scope's leases live at `now` and its calls admitted since
    /// `day_start`.
    async fn limit_usage(
        &self,
        scope: LimitScope,
        now: Timestamp,
        day_start: Timestamp,
    ) -> Result<LimitUsage, StoreError>;
}
