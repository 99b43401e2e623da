//! What the two SQL backends share: the columns they select, rows as read
//! from either database (plain values), their decoding into domain records,
//! and the listing queries built from a filter and a cursor.
//!
//! Decoding is where a stored value that no longer means anything (an
//! unknown state, a malformed phone number) becomes
//! [`StoreError::Corrupt`] naming its column, instead of a panic.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use super::cursor::{Cursor, Listing};
use super::{MAX_PAGE, StoreError};
use crate::domain::{
    ApiKey, ApiKeyId, Delivery, DeliveryState, EventId, Evidence, Merchant, MerchantId,
    MerchantSettings, Mode, NewDelivery, NewVerification, Page, PhoneNumber, Timestamp, Usage,
    Verification, VerificationFilter, VerificationId, VerificationState,
};
use crate::scenario::{Language, Outcome};

/// The columns of `merchants`, in [`MerchantRow`]'s order.
pub(crate) const MERCHANT_COLUMNS: &str =
    "id, name, webhook_secret, code_ttl_ms, max_check_attempts, created_at";

/// The columns of `api_keys`, in [`ApiKeyRow`]'s order.
pub(crate) const API_KEY_COLUMNS: &str = "id, merchant_id, mode, hash, created_at, revoked_at";

/// The columns of `verifications`, in [`VerificationRow`]'s order.
pub(crate) const VERIFICATION_COLUMNS: &str = "id, merchant_id, mode, scenario, phone, language, \
     callback_url, notify_answered, customer_ref, metadata, fields, code_digest, code_expires_at, \
     birthdate_digest, max_check_attempts, created_at, state, outcome, reason, check_attempts, checked_at, code_heard_at, call_id, node, timeline, answered_at, \
     finished_at, updated_at";

/// The columns of `evidence` a read needs, in [`EvidenceRow`]'s order.
pub(crate) const EVIDENCE_COLUMNS: &str = "consent_text, pressed_key, key_at, recording_path, \
     local_path, recording_sha256, recording_ms";

/// The columns of `webhook_deliveries`, in [`DeliveryRow`]'s order.
pub(crate) const DELIVERY_COLUMNS: &str = "id, merchant_id, verification_id, url, event_type, \
     payload, created_at, state, attempts, next_attempt_at, last_status, last_error, delivered_at";

/// Logs one line for each migration `report` says was applied.
pub(crate) fn log_applied(report: &refinery::Report) {
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "migration applied"
        );
    }
}

/// Why migrations failed. refinery's own text can hide the database's
/// message (`db error`) in the error's sources: add the causes it does
/// not already show.
pub(crate) fn migration_failure(e: &refinery::Error) -> String {
    let mut text = format!("migrations failed: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let shown = inner.to_string();
        if !text.contains(&shown) {
            text.push_str(&format!(": {shown}"));
        }
        cause = inner.source();
    }
    text
}

/// A `Corrupt` error for `column` (`table.column`).
pub(crate) fn corrupt(column: &str, why: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}

fn timestamp(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(Timestamp::from_millis)
}

fn unsigned<T: TryFrom<i64>>(value: i64, column: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| corrupt(column, format!("{value} is out of range")))
}

/// A merchant setting's duration in whole milliseconds, as stored.
pub(crate) fn duration_millis(duration: Duration) -> Result<i64, StoreError> {
    i64::try_from(duration.as_millis())
        .map_err(|_| StoreError::Database(format!("duration {duration:?} is too long to store")))
}

/// A count or length as the databases' signed 64-bit integers hold it.
pub(crate) fn signed(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Database(format!("{what} {value} is too large")))
}

/// A verification's request fields as the JSON object stored.
pub(crate) fn fields_json(fields: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A `merchants` row.
pub(crate) struct MerchantRow {
    pub id: Uuid,
    pub name: String,
    pub webhook_secret: String,
    pub code_ttl_ms: i64,
    pub max_check_attempts: i64,
    pub created_at: i64,
}

impl MerchantRow {
    pub fn decode(self) -> Result<Merchant, StoreError> {
        let ttl: u64 = unsigned(self.code_ttl_ms, "merchants.code_ttl_ms")?;
        Ok(Merchant {
            id: MerchantId::from_uuid(self.id),
            name: self.name,
            webhook_secret: self.webhook_secret,
            settings: MerchantSettings {
                code_ttl: Duration::from_millis(ttl),
                max_check_attempts: unsigned(
                    self.max_check_attempts,
                    "merchants.max_check_attempts",
                )?,
            },
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

/// An `api_keys` row.
pub(crate) struct ApiKeyRow {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    pub hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ApiKeyRow {
    pub fn decode(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(self.id),
            merchant_id: MerchantId::from_uuid(self.merchant_id),
            mode: Mode::parse(&self.mode)
                .ok_or_else(|| corrupt("api_keys.mode", format!("unknown mode {:?}", self.mode)))?,
            hash: self.hash,
            created_at: Timestamp::from_millis(self.created_at),
            revoked_at: timestamp(self.revoked_at),
        })
    }
}

/// A `verifications` row.
pub(crate) struct VerificationRow {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    pub scenario: String,
    pub phone: String,
    pub language: String,
    pub callback_url: Option<String>,
    pub notify_answered: bool,
    pub customer_ref: Option<String>,
    pub metadata: serde_json::Value,
    pub fields: serde_json::Value,
    pub code_digest: Option<String>,
    pub code_expires_at: Option<i64>,
    pub birthdate_digest: Option<String>,
    pub max_check_attempts: i64,
    pub created_at: i64,
    pub state: String,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub check_attempts: i64,
    pub checked_at: Option<i64>,
    pub code_heard_at: Option<i64>,
    pub call_id: Option<String>,
    pub node: Option<String>,
    pub timeline: serde_json::Value,
    pub answered_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

/// An outcome's stored name read back.
pub(crate) fn parse_outcome(text: &str, column: &str) -> Result<Outcome, StoreError> {
    Outcome::ALL
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| corrupt(column, format!("unknown outcome {text:?}")))
}

impl VerificationRow {
    pub fn decode(self) -> Result<Verification, StoreError> {
        let mode = Mode::parse(&self.mode).ok_or_else(|| {
            corrupt(
                "verifications.mode",
                format!("unknown mode {:?}", self.mode),
            )
        })?;
        let phone =
            PhoneNumber::parse(&self.phone).map_err(|e| corrupt("verifications.phone", e))?;
        let language = Language::ALL
            .into_iter()
            .find(|l| l.code() == self.language)
            .ok_or_else(|| {
                corrupt(
                    "verifications.language",
                    format!("unknown language {:?}", self.language),
                )
            })?;
        let fields =
            serde_json::from_value(self.fields).map_err(|e| corrupt("verifications.fields", e))?;
        let state = VerificationState::parse(&self.state).ok_or_else(|| {
            corrupt(
                "verifications.state",
                format!("unknown state {:?}", self.state),
            )
        })?;
        let outcome = self
            .outcome
            .as_deref()
            .map(|text| parse_outcome(text, "verifications.outcome"))
            .transpose()?;
        Ok(Verification {
            request: NewVerification {
                id: VerificationId::from_uuid(self.id),
                merchant_id: MerchantId::from_uuid(self.merchant_id),
                mode,
                scenario: self.scenario,
                phone,
                language,
                callback_url: self.callback_url,
                notify_answered: self.notify_answered,
                customer_ref: self.customer_ref,
                metadata: self.metadata,
                fields,
                code_digest: self.code_digest,
                code_expires_at: timestamp(self.code_expires_at),
                birthdate_digest: self.birthdate_digest,
                max_check_attempts: unsigned(
                    self.max_check_attempts,
                    "verifications.max_check_attempts",
                )?,
                created_at: Timestamp::from_millis(self.created_at),
            },
            state,
            outcome,
            reason: self.reason,
            check_attempts: unsigned(self.check_attempts, "verifications.check_attempts")?,
            checked_at: timestamp(self.checked_at),
            code_heard_at: timestamp(self.code_heard_at),
            call_id: self.call_id,
            node: self.node,
            timeline: self.timeline,
            answered_at: timestamp(self.answered_at),
            finished_at: timestamp(self.finished_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

/// An `evidence` row.
pub(crate) struct EvidenceRow {
    pub consent_text: Option<String>,
    pub pressed_key: Option<String>,
    pub key_at: Option<i64>,
    pub recording_path: Option<String>,
    pub local_path: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_ms: Option<i64>,
}

impl EvidenceRow {
    pub fn decode(self) -> Result<Evidence, StoreError> {
        Ok(Evidence {
            consent_text: self.consent_text,
            key: self.pressed_key,
            key_at: timestamp(self.key_at),
            recording_path: self.recording_path,
            local_path: self.local_path,
            recording_sha256: self.recording_sha256,
            recording_ms: self
                .recording_ms
                .map(|ms| unsigned(ms, "evidence.recording_ms"))
                .transpose()?,
        })
    }
}

/// A `webhook_deliveries` row.
pub(crate) struct DeliveryRow {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub verification_id: Uuid,
    pub url: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

impl DeliveryRow {
    pub fn decode(self) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            event: NewDelivery {
                id: EventId::from_uuid(self.id),
                merchant_id: MerchantId::from_uuid(self.merchant_id),
                verification_id: VerificationId::from_uuid(self.verification_id),
                url: self.url,
                event_type: self.event_type,
                payload: self.payload,
                created_at: Timestamp::from_millis(self.created_at),
            },
            state: DeliveryState::parse(&self.state).ok_or_else(|| {
                corrupt(
                    "webhook_deliveries.state",
                    format!("unknown state {:?}", self.state),
                )
            })?,
            attempts: unsigned(self.attempts, "webhook_deliveries.attempts")?,
            next_attempt_at: Timestamp::from_millis(self.next_attempt_at),
            last_status: self
                .last_status
                .map(|s| unsigned(s, "webhook_deliveries.last_status"))
                .transpose()?,
            last_error: self.last_error,
            delivered_at: timestamp(self.delivered_at),
        })
    }
}

/// A parameter of a statement built at run time, bound by each backend in
/// its own types (an id is text in SQLite, `uuid` in PostgreSQL).
pub(crate) enum Param {
    Id(Uuid),
    Text(String),
    Int(i64),
}

/// A listing's statement and its parameters.
pub(crate) struct ListQuery {
    pub sql: String,
    pub params: Vec<Param>,
    /// Rows to fetch: one more than the page holds, to learn whether a
    /// next page exists.
    pub fetch: usize,
}

/// Builds a statement with numbered parameters in the backend's syntax
/// (`?1` for SQLite, `$1` for PostgreSQL: both are 1-based).
struct Builder {
    sql: String,
    params: Vec<Param>,
    placeholder: fn(usize) -> String,
}

impl Builder {
    fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        (self.placeholder)(self.params.len())
    }

    /// Appends `AND (created_at, id) < (cursor)` and the order and limit
    /// every listing shares: newest first, the id breaking ties so that
    /// items created in the same millisecond still have one order.
    fn finish(mut self, cursor: Option<Cursor>, limit: u32) -> ListQuery {
        if let Some(cursor) = cursor {
            let at = self.bind(Param::Int(cursor.created_at.millis()));
            let id = self.bind(Param::Id(cursor.id));
            self.sql
                .push_str(&format!(" AND (created_at, id) < ({at}, {id})"));
        }
        let fetch = limit.clamp(1, MAX_PAGE) as usize + 1;
        let limit = self.bind(Param::Int(fetch as i64));
        self.sql
            .push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
        ListQuery {
            sql: self.sql,
            params: self.params,
            fetch,
        }
    }
}

/// The query for one page of a merchant's verifications.
pub(crate) fn list_verifications(
    merchant: MerchantId,
    filter: &VerificationFilter,
    cursor: Option<&str>,
    limit: u32,
    placeholder: fn(usize) -> String,
) -> Result<ListQuery, StoreError> {
    let cursor = cursor
        .map(|text| Cursor::decode(text, Listing::Verifications))
        .transpose()?;
    let mut b = Builder {
        sql: format!("SELECT {VERIFICATION_COLUMNS} FROM verifications"),
        params: Vec::new(),
        placeholder,
    };
    let merchant = b.bind(Param::Id(merchant.uuid()));
    b.sql.push_str(&format!(" WHERE merchant_id = {merchant}"));
    if let Some(mode) = filter.mode {
        let p = b.bind(Param::Text(mode.as_str().to_owned()));
        b.sql.push_str(&format!(" AND mode = {p}"));
    }
    if let Some(state) = filter.state {
        let p = b.bind(Param::Text(state.as_str().to_owned()));
        b.sql.push_str(&format!(" AND state = {p}"));
    }
    if let Some(scenario) = &filter.scenario {
        let p = b.bind(Param::Text(scenario.clone()));
        b.sql.push_str(&format!(" AND scenario = {p}"));
    }
    if let Some(from) = filter.created_from {
        let p = b.bind(Param::Int(from.millis()));
        b.sql.push_str(&format!(" AND created_at >= {p}"));
    }
    if let Some(to) = filter.created_to {
        let p = b.bind(Param::Int(to.millis()));
        b.sql.push_str(&format!(" AND created_at < {p}"));
    }
    Ok(b.finish(cursor, limit))
}

/// The query for one page of a merchant's webhook deliveries of `mode`.
pub(crate) fn list_deliveries(
    merchant: MerchantId,
    mode: Mode,
    cursor: Option<&str>,
    limit: u32,
    placeholder: fn(usize) -> String,
) -> Result<ListQuery, StoreError> {
    let cursor = cursor
        .map(|text| Cursor::decode(text, Listing::Deliveries))
        .transpose()?;
    let mut b = Builder {
        sql: format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"),
        params: Vec::new(),
        placeholder,
    };
    let merchant = b.bind(Param::Id(merchant.uuid()));
    let mode = b.bind(Param::Text(mode.as_str().to_owned()));
    b.sql.push_str(&format!(
        " WHERE merchant_id = {merchant} AND mode = {mode}"
    ));
    Ok(b.finish(cursor, limit))
}

/// A page from the rows a [`ListQuery`] fetched (at most `fetch`): the
/// extra row, if any, only tells that a next page exists.
fn page<T>(
    mut items: Vec<T>,
    fetch: usize,
    listing: Listing,
    key: impl Fn(&T) -> (Timestamp, Uuid),
) -> Page<T> {
    let next = if items.len() >= fetch {
        items.truncate(fetch - 1);
        items.last().map(|last| {
            let (created_at, id) = key(last);
            Cursor { created_at, id }.encode(listing)
        })
    } else {
        None
    };
    Page { items, next }
}

/// A page of verifications.
pub(crate) fn verification_page(items: Vec<Verification>, fetch: usize) -> Page<Verification> {
    page(items, fetch, Listing::Verifications, |v| {
        (v.request.created_at, v.id().uuid())
    })
}

/// A page of deliveries.
pub(crate) fn delivery_page(items: Vec<Delivery>, fetch: usize) -> Page<Delivery> {
    page(items, fetch, Listing::Deliveries, |d| {
        (d.event.created_at, d.event.id.uuid())
    })
}

/// One group of a merchant's verifications, as the usage query sums them.
pub(crate) struct UsageRow {
    pub scenario: String,
    pub outcome: Option<String>,
    pub count: i64,
    pub calls: i64,
    pub answered_ms: i64,
}

/// Usage from its groups: billable where the outcome reached the
/// scenario's end (decided here, by [`Outcome::reached_scenario_end`], so
/// the rule lives in one place); answered time summed in milliseconds and
/// then cut to whole seconds.
pub(crate) fn usage(rows: Vec<UsageRow>) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    let mut answered_ms: u64 = 0;
    for row in rows {
        let count: u64 = unsigned(row.count, "verifications (count)")?;
        usage.calls += unsigned::<u64>(row.calls, "verifications.call_id (count)")?;
        answered_ms += unsigned::<u64>(row.answered_ms, "verifications.answered_at")?;
        let billable = match &row.outcome {
            Some(outcome) => {
                parse_outcome(outcome, "verifications.outcome")?.reached_scenario_end()
            }
            None => false,
        };
        if billable {
            *usage.billable.entry(row.scenario).or_default() += count;
        }
    }
    usage.answered_seconds = answered_ms / 1000;
    Ok(usage)
}
