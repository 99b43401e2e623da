//! The clustered store: a PostgreSQL database that several arsgate
//! replicas share, through a pool of connections each.
//!
//! Replicas race on the same rows, so no operation reads a row and then
//! writes it from what it read. Each check-then-write is one statement
//! whose `WHERE` is the check (`UPDATE ... WHERE state = 'pending'`,
//! `WHERE check_attempts < $2`): under READ COMMITTED a statement that
//! waited for another's lock re-checks its `WHERE` against the row the
//! other committed, so exactly one of several concurrent transitions wins
//! and no count passes its limit. Claiming deliveries locks due rows with
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers each take different
//! rows and none waits. Replicas starting together take turns migrating
//! under an advisory lock.
//!
//! Limits need more than one statement: an admission counts leases and
//! calls, then inserts. Each admission or lease taking first locks its
//! scope's row in `limit_scopes` (`SELECT ... FOR UPDATE`, the row made on
//! first use), so the admissions and lease takings of one merchant and mode
//! take turns across every replica while other merchants' proceed in
//! parallel; every later statement reads what the previous lock holder
//! committed. A row lock rather than SERIALIZABLE (no retries on
//! serialization failures under load) or an advisory lock (no hashing of a
//! merchant and mode into one 64-bit key that could collide). The work
//! runs as PL/pgSQL functions of the V2 migration (`arsgate_admit`,
//! `arsgate_acquire_lease`), one round trip each, so the lock is held for
//! microseconds of server time rather than across round trips; see the
//! migration for why those transactions commit asynchronously.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::Row;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSqlOwned, ToSql};
use uuid::Uuid;

use super::feed::Feed;
use super::rows::{
    self, API_KEY_COLUMNS, ApiKeyRow, DELIVERY_COLUMNS, DeliveryRow, EVIDENCE_COLUMNS, EvidenceRow,
    MERCHANT_COLUMNS, MerchantRow, Param, UsageRow, VERIFICATION_COLUMNS, VerificationRow, corrupt,
};
use super::schema::{self, Declaration, Plan};
use super::tls::{MakeRustls, TlsSettings};
use super::{CheckRecorded, IdempotentResponse, Store, StoreError, TimelineRecord};
use crate::domain::{
    Admission, AdmitCall, ApiKey, ApiKeyId, Delivery, EventId, Evidence, Finish, LeaseTerms,
    LimitScope, LimitUsage, Merchant, MerchantId, MerchantSettings, Mode, NewDelivery,
    NewVerification, Page, Timestamp, Usage, Verification, VerificationFilter, VerificationId,
};

mod embedded {
    refinery::embed_migrations!("src/store/migrations/postgres");
}

/// The advisory lock migrations run under ("arsgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7273_6761_7465;

/// How long to wait for the server to accept a connection, unless the URL
/// says (`connect_timeout=`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an operation waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL store. Cloning it is cheap and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The server's `host:port` (several, comma-separated), for errors.
    endpoint: Arc<str>,
    /// Told of each live timeline entry any replica writes.
    feed: Arc<Feed>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db`,
    /// libpq's `sslmode` and `sslrootcert` included: see [`tls`](super::tls))
    /// with a pool of up to `pool_size` connections, and brings its schema
    /// up to date. A failure to connect names the server's `host:port` and
    /// the cause; it is `Unavailable` when trying again later may succeed
    /// (nothing listening, the server starting up), `Database` when it
    /// cannot (a certificate refused, a password wrong).
    pub async fn connect(url: &str, pool_size: usize) -> Result<PostgresStore, StoreError> {
        let (url, tls) = TlsSettings::split(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        config.ssl_mode(tls.postgres_mode());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let endpoint: Arc<str> = endpoints(&config).into();
        let connector = tls.connector()?;
        migrate(&config, connector.clone(), &endpoint).await?;
        let feed = Arc::new(Feed::postgres(config.clone(), connector.clone()));
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Database(format!("postgres pool: {e}")))?;
        Ok(PostgresStore {
            pool,
            endpoint,
            feed,
        })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        // No connection to be had: the server is down or unreachable (or
        // every connection is busy for longer than POOL_WAIT), all of
        // which pass.
        self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(match e {
                PoolError::Backend(e) => connect_failure(&self.endpoint, &e).to_string(),
                other => format!("postgres pool at {}: {other}", self.endpoint),
            })
        })
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&stmt, params).await.map_err(db)
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.query_opt(&stmt, params).await.map_err(db)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.execute(&stmt, params).await.map_err(db)
    }

    /// Runs an insert: `Conflict` naming `taken` on a unique violation,
    /// `NotFound` naming `missing` on a foreign-key violation.
    async fn insert(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        taken: &str,
        missing: &str,
    ) -> Result<(), StoreError> {
        self.insert_row(sql, params, taken, missing)
            .await
            .map(|_| ())
    }

    /// [`PostgresStore::insert`] of a statement that returns a row.
    async fn insert_row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        taken: &str,
        missing: &str,
    ) -> Result<Option<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client
            .query_opt(&stmt, params)
            .await
            .map_err(|e| insert_error(e, taken, missing))
    }

    async fn exists(&self, sql: &str, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.query_opt(sql, &[&id]).await?.is_some())
    }

    /// The outcome of a guarded transition that changed `changed` rows.
    async fn transitioned(&self, changed: u64, id: VerificationId) -> Result<bool, StoreError> {
        if changed > 0 {
            Ok(true)
        } else if self
            .exists("SELECT 1 FROM verifications WHERE id = $1", id.uuid())
            .await?
        {
            Ok(false)
        } else {
            Err(StoreError::NotFound(format!("verification {id}")))
        }
    }
}

/// Queues a delivery, on a pooled connection or inside a transaction, in
/// its verification's mode, taken from the verification so that the two
/// cannot disagree: an unknown verification inserts nothing.
async fn insert_delivery<C: GenericClient>(
    client: &C,
    new: &NewDelivery,
) -> Result<(), StoreError> {
    let (id, merchant, verification) = (
        new.id.uuid(),
        new.merchant_id.uuid(),
        new.verification_id.uuid(),
    );
    let missing = || {
        format!(
            "merchant {} or its verification {}",
            new.merchant_id, new.verification_id
        )
    };
    let created = new.created_at.millis();
    let inserted = client
        .execute(
            "INSERT INTO webhook_deliveries (id, merchant_id, verification_id, mode, url, \
             event_type, payload, created_at, state, attempts, next_attempt_at) \
             SELECT $1, $2, $3, mode, $4, $5, $6, $7, 'pending', 0, $7 \
             FROM verifications WHERE id = $3 AND merchant_id = $2",
            &[
                &id,
                &merchant,
                &verification,
                &new.url,
                &new.event_type,
                &new.payload,
                &created,
            ],
        )
        .await
        .map_err(|e| insert_error(e, &format!("delivery {}", new.id), &missing()))?;
    if inserted == 0 {
        return Err(StoreError::NotFound(missing()));
    }
    Ok(())
}

/// The statement that stores a new verification, its values taken from
/// parameters `$first` on (in [`verification_values`]'s order), selected
/// `from` (empty: once).
fn insert_verification(first: usize, from: &str) -> String {
    let p: Vec<String> = (first..first + 17).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO verifications (id, merchant_id, mode, scenario, phone, language, \
         callback_url, customer_ref, metadata, fields, code_digest, code_expires_at, \
         created_at, state, check_attempts, timeline, updated_at, notify_answered, \
         max_check_attempts, birthdate_digest) \
         SELECT {}, 'pending', 0, {}, {}, {}, {}, {}{from}",
        p[..13].join(", "),
        p[13],
        p[12],
        p[14],
        p[15],
        p[16],
    )
}

/// A new verification's column values, for [`insert_verification`].
fn verification_values(new: &NewVerification) -> Vec<Box<dyn ToSql + Sync + Send>> {
    vec![
        Box::new(new.id.uuid()),
        Box::new(new.merchant_id.uuid()),
        Box::new(new.mode.as_str()),
        Box::new(new.scenario.clone()),
        Box::new(new.phone.e164().to_owned()),
        Box::new(new.language.code()),
        Box::new(new.callback_url.clone()),
        Box::new(new.customer_ref.clone()),
        Box::new(new.metadata.clone()),
        Box::new(rows::fields_json(&new.fields)),
        Box::new(new.code_digest.clone()),
        Box::new(new.code_expires_at.map(Timestamp::millis)),
        Box::new(new.created_at.millis()),
        Box::new(serde_json::Value::Array(Vec::new())),
        Box::new(new.notify_answered),
        Box::new(i64::from(new.max_check_attempts)),
        Box::new(new.birthdate_digest.clone()),
    ]
}

/// A failed insert: `Conflict` naming `taken` on a unique violation,
/// `NotFound` naming `missing` on a foreign-key violation.
fn insert_error(e: tokio_postgres::Error, taken: &str, missing: &str) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(taken.to_owned())
    } else if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::NotFound(missing.to_owned())
    } else {
        db(e)
    }
}

/// Applies the pending migrations on a connection of its own, holding an
/// advisory lock so that replicas starting together take turns (the later
/// ones find everything applied).
async fn migrate(
    config: &tokio_postgres::Config,
    tls: MakeRustls,
    endpoint: &str,
) -> Result<(), StoreError> {
    let (mut client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| connect_failure(endpoint, &e))?;
    let driver = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    let runner = embedded::migrations::runner().set_grouped(true);
    let result = match schema_plan(&mut client, &runner).await {
        Ok(Plan::RunOnNewer(newer)) => {
            schema::log_newer(&newer);
            Ok(())
        }
        // Grouped: all pending migrations and their history rows commit
        // together (refinery's default commits each migration apart from
        // its history row).
        Ok(Plan::Migrate) => runner
            .run_async(&mut client)
            .await
            .map(|report| rows::log_applied(&report))
            .map_err(|e| StoreError::Database(rows::migration_failure(&e))),
        Err(error) => Err(error),
    };
    // Ending the session releases the lock, whatever happened.
    drop(client);
    // The connection's own error, if any, is the one `result` reports.
    let _ = driver.await;
    result
}

/// What to do with the migrations of the database behind `client`.
async fn schema_plan(
    client: &mut tokio_postgres::Client,
    runner: &refinery::Runner,
) -> Result<Plan, StoreError> {
    let exists = async |client: &tokio_postgres::Client, table: &str| {
        let row = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .map_err(db)?;
        Ok::<bool, StoreError>(row.get(0))
    };
    if !exists(client, "refinery_schema_history").await? {
        return Ok(Plan::Migrate);
    }
    let applied = runner
        .get_applied_migrations_async(client)
        .await
        .map_err(|e| StoreError::Database(rows::migration_failure(&e)))?;
    let declared = if exists(client, schema::COMPAT_TABLE).await? {
        client
            .query(schema::READ_DECLARATIONS, &[])
            .await
            .map_err(db)?
            .iter()
            .map(|row| {
                Ok(Declaration {
                    version: row.try_get::<_, i32>(0).map(i64::from)?,
                    oldest_compatible: row.try_get::<_, i32>(1).map(i64::from)?,
                    reason: row.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|e| corrupt(schema::COMPAT_TABLE, e))?
    } else {
        Vec::new()
    };
    schema::plan(runner.get_migrations(), &applied, &declared).map_err(StoreError::Database)
}

/// The servers `config` names, as `host:port` (several comma-separated;
/// a Unix socket as its path), for errors and logs.
fn endpoints(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port(i)),
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            Host::Unix(path) => format!("{}/.s.PGSQL.{}", path.display(), port(i)),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(i, addr)| std::net::SocketAddr::new(*addr, port(i)).to_string())
            .collect();
    }
    hosts.join(",")
}

/// A failure to connect to the server at `endpoint`, naming it and the
/// whole cause (tokio-postgres's own text stops at "error connecting to
/// server"). `Database` when trying again cannot help as things stand (a
/// certificate refused, TLS refused by the server, a password wrong, no
/// such database), else `Unavailable`.
fn connect_failure(endpoint: &str, e: &tokio_postgres::Error) -> StoreError {
    let mut text = format!("postgres at {endpoint}: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let shown = inner.to_string();
        if !text.contains(&shown) {
            text.push_str(&format!(": {shown}"));
        }
        cause = inner.source();
    }
    // tokio-postgres's kinds are private: what passes is an error of the
    // network (an I/O error somewhere in the causes: refused, reset, timed
    // out, no such host yet), the server closing the connection, or the
    // server saying it cannot serve now. A certificate or TLS refused, a
    // configuration, authentication or database name wrong does not.
    let passing = match e.as_db_error() {
        Some(error) => is_passing(error.code()),
        None => {
            e.to_string() == "connection closed"
                || std::iter::successors(std::error::Error::source(e), |cause| cause.source())
                    .any(|cause| cause.is::<std::io::Error>())
        }
    };
    if passing {
        StoreError::Unavailable(text)
    } else {
        StoreError::Database(text)
    }
}

/// Whether an error of the server's says it cannot serve right now (the
/// connection failed, it is shutting down or starting up, full) rather
/// than that the operation is wrong.
fn is_passing(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
}

/// A database error that is not about the data: `Unavailable` when the
/// connection failed or the server is shutting down or starting up (the
/// operation may succeed once it is back), else `Database`.
fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(error) => {
            let code = error.code();
            let text = format!("postgres: {} ({})", error.message(), code.code());
            if is_passing(code) {
                StoreError::Unavailable(text)
            } else {
                StoreError::Database(text)
            }
        }
        // No answer from the server: the connection broke or never was.
        None => StoreError::Unavailable(format!("postgres: {e}")),
    }
}

/// Reads a row's columns, naming `table.column` when one does not decode.
struct Columns<'a> {
    row: &'a Row,
    table: &'static str,
}

impl Columns<'_> {
    fn get<T: FromSqlOwned>(&self, column: &str) -> Result<T, StoreError> {
        self.row
            .try_get(column)
            .map_err(|e| corrupt(&format!("{}.{column}", self.table), e))
    }
}

fn merchant_row(row: &Row) -> Result<Merchant, StoreError> {
    let c = Columns {
        row,
        table: "merchants",
    };
    MerchantRow {
        id: c.get("id")?,
        name: c.get("name")?,
        webhook_secret: c.get("webhook_secret")?,
        code_ttl_ms: c.get("code_ttl_ms")?,
        max_check_attempts: c.get("max_check_attempts")?,
        created_at: c.get("created_at")?,
    }
    .decode()
}

fn api_key_row(row: &Row) -> Result<ApiKey, StoreError> {
    let c = Columns {
        row,
        table: "api_keys",
    };
    ApiKeyRow {
        id: c.get("id")?,
        merchant_id: c.get("merchant_id")?,
        mode: c.get("mode")?,
        hash: c.get("hash")?,
        created_at: c.get("created_at")?,
        revoked_at: c.get("revoked_at")?,
    }
    .decode()
}

fn verification_row(row: &Row) -> Result<Verification, StoreError> {
    let c = Columns {
        row,
        table: "verifications",
    };
    VerificationRow {
        id: c.get("id")?,
        merchant_id: c.get("merchant_id")?,
        mode: c.get("mode")?,
        scenario: c.get("scenario")?,
        phone: c.get("phone")?,
        language: c.get("language")?,
        callback_url: c.get("callback_url")?,
        notify_answered: c.get("notify_answered")?,
        customer_ref: c.get("customer_ref")?,
        metadata: c.get("metadata")?,
        fields: c.get("fields")?,
        code_digest: c.get("code_digest")?,
        code_expires_at: c.get("code_expires_at")?,
        birthdate_digest: c.get("birthdate_digest")?,
        max_check_attempts: c.get("max_check_attempts")?,
        created_at: c.get("created_at")?,
        state: c.get("state")?,
        outcome: c.get("outcome")?,
        reason: c.get("reason")?,
        check_attempts: c.get("check_attempts")?,
        checked_at: c.get("checked_at")?,
        code_heard_at: c.get("code_heard_at")?,
        call_id: c.get("call_id")?,
        node: c.get("node")?,
        timeline: c.get("timeline")?,
        answered_at: c.get("answered_at")?,
        finished_at: c.get("finished_at")?,
        updated_at: c.get("updated_at")?,
    }
    .decode()
}

fn evidence_row(row: &Row) -> Result<Evidence, StoreError> {
    let c = Columns {
        row,
        table: "evidence",
    };
    EvidenceRow {
        consent_text: c.get("consent_text")?,
        pressed_key: c.get("pressed_key")?,
        key_at: c.get("key_at")?,
        recording_path: c.get("recording_path")?,
        local_path: c.get("local_path")?,
        recording_sha256: c.get("recording_sha256")?,
        recording_ms: c.get("recording_ms")?,
    }
    .decode()
}

fn delivery_row(row: &Row) -> Result<Delivery, StoreError> {
    let c = Columns {
        row,
        table: "webhook_deliveries",
    };
    DeliveryRow {
        id: c.get("id")?,
        merchant_id: c.get("merchant_id")?,
        verification_id: c.get("verification_id")?,
        url: c.get("url")?,
        event_type: c.get("event_type")?,
        payload: c.get("payload")?,
        created_at: c.get("created_at")?,
        state: c.get("state")?,
        attempts: c.get("attempts")?,
        next_attempt_at: c.get("next_attempt_at")?,
        last_status: c.get("last_status")?,
        last_error: c.get("last_error")?,
        delivered_at: c.get("delivered_at")?,
    }
    .decode()
}

fn decode_all<T>(
    rows: &[Row],
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

/// A listing's parameters as PostgreSQL parameters.
fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Id(uuid) => uuid as &(dyn ToSql + Sync),
            Param::Text(text) => text,
            Param::Int(n) => n,
        })
        .collect()
}

fn placeholder(n: usize) -> String {
    format!("${n}")
}

#[async_trait]
impl Store for PostgresStore {
    async fn append_timeline(&self, id: VerificationId, entry: &str) -> Result<u64, StoreError> {
        // The trigger of V10 sends the NOTIFY with the insert's commit.
        let row = self
            .insert_row(
                "INSERT INTO timeline_entries (verification_id, seq, entry) \
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2 FROM timeline_entries \
                 WHERE verification_id = $1 RETURNING seq",
                &[&id.uuid(), &entry],
                "timeline entry",
                &format!("verification {id}"),
            )
            .await?
            .ok_or_else(|| StoreError::Database("timeline entry not inserted".to_owned()))?;
        let seq: i64 = row.try_get(0).map_err(db)?;
        u64::try_from(seq).map_err(|e| corrupt("timeline_entries.seq", e))
    }

    async fn timeline_after(
        &self,
        id: VerificationId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<TimelineRecord>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::from(limit.clamp(1, super::MAX_PAGE));
        self.query(
            "SELECT seq, entry FROM timeline_entries \
             WHERE verification_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&id.uuid(), &after, &limit],
        )
        .await?
        .iter()
        .map(|row| {
            let seq: i64 = row.try_get(0).map_err(db)?;
            Ok(TimelineRecord {
                seq: u64::try_from(seq).map_err(|e| corrupt("timeline_entries.seq", e))?,
                entry: row.try_get(1).map_err(db)?,
            })
        })
        .collect()
    }

    fn timeline_feed(&self) -> tokio::sync::broadcast::Receiver<VerificationId> {
        self.feed.subscribe()
    }

    async fn create_merchant(
        &self,
        name: &str,
        webhook_secret: &str,
        settings: &MerchantSettings,
    ) -> Result<Merchant, StoreError> {
        let merchant = Merchant {
            id: MerchantId::new(),
            name: name.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            settings: settings.clone(),
            created_at: Timestamp::now(),
        };
        self.insert(
            "INSERT INTO merchants (id, name, webhook_secret, code_ttl_ms, max_check_attempts, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &merchant.id.uuid(),
                &merchant.name,
                &merchant.webhook_secret,
                &rows::duration_millis(settings.code_ttl)?,
                &i64::from(settings.max_check_attempts),
                &merchant.created_at.millis(),
            ],
            &format!("merchant named {name:?}"),
            "merchant",
        )
        .await?;
        Ok(merchant)
    }

    async fn set_merchant_settings(
        &self,
        id: MerchantId,
        settings: &MerchantSettings,
    ) -> Result<(), StoreError> {
        let changed = self
            .execute(
                "UPDATE merchants SET code_ttl_ms = $2, max_check_attempts = $3 WHERE id = $1",
                &[
                    &id.uuid(),
                    &rows::duration_millis(settings.code_ttl)?,
                    &i64::from(settings.max_check_attempts),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("merchant {id}")));
        }
        Ok(())
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>, StoreError> {
        self.query_opt(
            &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1"),
            &[&id.uuid()],
        )
        .await?
        .as_ref()
        .map(merchant_row)
        .transpose()
    }

    async fn merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, StoreError> {
        self.query_opt(
            &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE name = $1"),
            &[&name],
        )
        .await?
        .as_ref()
        .map(merchant_row)
        .transpose()
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO api_keys (id, merchant_id, mode, hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &key.id.uuid(),
                &key.merchant_id.uuid(),
                &key.mode.as_str(),
                &key.hash,
                &key.created_at.millis(),
                &key.revoked_at.map(Timestamp::millis),
            ],
            &format!("api key {}", key.id),
            &format!("merchant {}", key.merchant_id),
        )
        .await
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.query_opt(
            &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"),
            &[&id.uuid()],
        )
        .await?
        .as_ref()
        .map(api_key_row)
        .transpose()
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        self.query(
            &format!("SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY name"),
            &[],
        )
        .await?
        .iter()
        .map(merchant_row)
        .collect()
    }

    async fn api_keys(&self, merchant: Option<MerchantId>) -> Result<Vec<ApiKey>, StoreError> {
        let merchant = merchant.map(|m| m.uuid());
        self.query(
            &format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys \
                 WHERE $1::uuid IS NULL OR merchant_id = $1 ORDER BY created_at, id"
            ),
            &[&merchant],
        )
        .await?
        .iter()
        .map(api_key_row)
        .collect()
    }

    async fn revoke_api_key(
        &self,
        id: ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>, StoreError> {
        // One statement: the key as it is after the update, whether this
        // revoked it or an earlier revocation stands.
        self.query_opt(
            &format!(
                "WITH revoked AS (UPDATE api_keys SET revoked_at = $2 \
                 WHERE id = $1 AND revoked_at IS NULL RETURNING {API_KEY_COLUMNS}) \
                 SELECT {API_KEY_COLUMNS} FROM revoked \
                 UNION ALL SELECT {API_KEY_COLUMNS} FROM api_keys \
                 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM revoked)"
            ),
            &[&id.uuid(), &at.millis()],
        )
        .await?
        .as_ref()
        .map(api_key_row)
        .transpose()
    }

    async fn create_verification(&self, new: &NewVerification) -> Result<Verification, StoreError> {
        let values = verification_values(new);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as _).collect();
        self.insert(
            &insert_verification(1, ""),
            &params,
            &format!("verification {}", new.id),
            &format!("merchant {}", new.merchant_id),
        )
        .await?;
        Ok(Verification::pending(new.clone()))
    }

    async fn verification(
        &self,
        merchant: MerchantId,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        self.query_opt(
            &format!(
                "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                 WHERE id = $1 AND merchant_id = $2"
            ),
            &[&id.uuid(), &merchant.uuid()],
        )
        .await?
        .as_ref()
        .map(verification_row)
        .transpose()
    }

    async fn verification_by_id(
        &self,
        id: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        self.query_opt(
            &format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE id = $1"),
            &[&id.uuid()],
        )
        .await?
        .as_ref()
        .map(verification_row)
        .transpose()
    }

    async fn list_verifications(
        &self,
        merchant: MerchantId,
        filter: &VerificationFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Verification>, StoreError> {
        let q = rows::list_verifications(merchant, filter, cursor, limit, placeholder)?;
        let found = self.query(&q.sql, &bind(&q.params)).await?;
        Ok(rows::verification_page(
            decode_all(&found, verification_row)?,
            q.fetch,
        ))
    }

    async fn mark_calling(
        &self,
        id: VerificationId,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE verifications SET state = 'calling', call_id = $2, node = $3, \
                 updated_at = $4 WHERE id = $1 AND state = 'pending'",
                &[&id.uuid(), &call_id, &node, &Timestamp::now().millis()],
            )
            .await?;
        self.transitioned(changed, id).await
    }

    async fn mark_replaced(
        &self,
        id: VerificationId,
        previous_call_id: &str,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE verifications SET call_id = $3, node = $4, updated_at = $5 \
                 WHERE id = $1 AND state = 'calling' AND call_id = $2",
                &[
                    &id.uuid(),
                    &previous_call_id,
                    &call_id,
                    &node,
                    &Timestamp::now().millis(),
                ],
            )
            .await?;
        self.transitioned(changed, id).await
    }

    async fn mark_answered(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE verifications SET state = 'answered', answered_at = $2, \
                 updated_at = $3 WHERE id = $1 AND state = 'calling'",
                &[&id.uuid(), &at.millis(), &Timestamp::now().millis()],
            )
            .await?;
        self.transitioned(changed, id).await
    }

    async fn mark_code_heard(&self, id: VerificationId, at: Timestamp) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE verifications SET code_heard_at = $2, updated_at = $3 \
                 WHERE id = $1 AND code_heard_at IS NULL",
                &[&id.uuid(), &at.millis(), &Timestamp::now().millis()],
            )
            .await?;
        self.transitioned(changed, id).await
    }

    async fn finish(
        &self,
        id: VerificationId,
        finish: &Finish,
        webhook: Option<&NewDelivery>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let changed = tx
            .execute(
                "UPDATE verifications SET state = 'finished', outcome = $2, reason = $3, \
                 timeline = $4, finished_at = $5, updated_at = $6, birthdate_digest = NULL \
                 WHERE id = $1 AND state <> 'finished'",
                &[
                    &id.uuid(),
                    &finish.outcome.as_str(),
                    &finish.reason,
                    &finish.timeline,
                    &finish.finished_at.millis(),
                    &Timestamp::now().millis(),
                ],
            )
            .await
            .map_err(db)?;
        if changed == 0 {
            // On the same connection: asking the pool for a second one while
            // holding this could exhaust it under load.
            let exists = tx
                .query_opt("SELECT 1 FROM verifications WHERE id = $1", &[&id.uuid()])
                .await
                .map_err(db)?
                .is_some();
            return if exists {
                Ok(false)
            } else {
                Err(StoreError::NotFound(format!("verification {id}")))
            };
        }
        if let Some(delivery) = webhook {
            insert_delivery(&tx, delivery).await?;
        }
        tx.execute(
            "DELETE FROM channel_leases WHERE holder = $1",
            &[&id.uuid()],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn unfinished(&self) -> Result<Vec<Verification>, StoreError> {
        let found = self
            .query(
                &format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                     WHERE state <> 'finished' ORDER BY created_at, id"
                ),
                &[],
            )
            .await?;
        decode_all(&found, verification_row)
    }

    async fn live_calls(&self, calls: &[String]) -> Result<Vec<String>, StoreError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let calls = calls.to_vec();
        let found = self
            .query(
                "SELECT call_id FROM verifications \
                 WHERE state <> 'finished' AND call_id = ANY($1)",
                &[&calls],
            )
            .await?;
        found.iter().map(|row| row.try_get(0).map_err(db)).collect()
    }

    async fn pending_before(&self, before: Timestamp) -> Result<Vec<Verification>, StoreError> {
        let found = self
            .query(
                &format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                     WHERE state = 'pending' AND created_at < $1 ORDER BY created_at, id"
                ),
                &[&before.millis()],
            )
            .await?;
        decode_all(&found, verification_row)
    }

    async fn record_check(
        &self,
        id: VerificationId,
        approved: Option<Timestamp>,
    ) -> Result<CheckRecorded, StoreError> {
        // Under READ COMMITTED a check waiting on another's row lock
        // re-reads the row it committed before applying the guard: a
        // match that committed first leaves it nothing to count.
        let counted = self
            .query_opt(
                "UPDATE verifications SET check_attempts = check_attempts + 1, \
                 checked_at = $3, updated_at = $2 \
                 WHERE id = $1 AND checked_at IS NULL AND check_attempts < max_check_attempts \
                 RETURNING check_attempts",
                &[
                    &id.uuid(),
                    &Timestamp::now().millis(),
                    &approved.map(Timestamp::millis),
                ],
            )
            .await?;
        if let Some(row) = counted {
            let attempts: i64 = Columns {
                row: &row,
                table: "verifications",
            }
            .get("check_attempts")?;
            let attempts = u32::try_from(attempts)
                .map_err(|_| corrupt("verifications.check_attempts", attempts))?;
            return Ok(CheckRecorded::Counted { attempts });
        }
        // Both ways to refuse are for good: a match is never undone and
        // attempts never go down.
        let checked = self
            .query_opt(
                "SELECT checked_at IS NOT NULL AS checked FROM verifications WHERE id = $1",
                &[&id.uuid()],
            )
            .await?;
        match checked {
            Some(row) => {
                let checked: bool = Columns {
                    row: &row,
                    table: "verifications",
                }
                .get("checked")?;
                Ok(if checked {
                    CheckRecorded::Used
                } else {
                    CheckRecorded::Locked
                })
            }
            None => Err(StoreError::NotFound(format!("verification {id}"))),
        }
    }

    async fn save_evidence(
        &self,
        id: VerificationId,
        evidence: &Evidence,
    ) -> Result<(), StoreError> {
        let recording_ms = evidence
            .recording_ms
            .map(|ms| rows::signed(ms, "recording_ms"))
            .transpose()?;
        self.insert(
            "INSERT INTO evidence (verification_id, consent_text, pressed_key, key_at, \
             recording_path, local_path, recording_sha256, recording_ms, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (verification_id) DO UPDATE SET \
             consent_text = excluded.consent_text, pressed_key = excluded.pressed_key, \
             key_at = excluded.key_at, recording_path = excluded.recording_path, \
             local_path = excluded.local_path, recording_sha256 = excluded.recording_sha256, \
             recording_ms = excluded.recording_ms, saved_at = excluded.saved_at",
            &[
                &id.uuid(),
                &evidence.consent_text,
                &evidence.key,
                &evidence.key_at.map(Timestamp::millis),
                &evidence.recording_path,
                &evidence.local_path,
                &evidence.recording_sha256,
                &recording_ms,
                &Timestamp::now().millis(),
            ],
            "evidence",
            &format!("verification {id}"),
        )
        .await
    }

    async fn evidence(&self, id: VerificationId) -> Result<Option<Evidence>, StoreError> {
        self.query_opt(
            &format!("SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE verification_id = $1"),
            &[&id.uuid()],
        )
        .await?
        .as_ref()
        .map(evidence_row)
        .transpose()
    }

    async fn usage(
        &self,
        merchant: MerchantId,
        mode: Mode,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Usage, StoreError> {
        let groups = self
            .query(
                "SELECT scenario, outcome, COUNT(*) AS count, COUNT(call_id) AS calls, \
                 SUM(CASE WHEN finished_at > answered_at THEN finished_at - answered_at \
                 ELSE 0 END)::bigint AS answered_ms \
                 FROM verifications \
                 WHERE merchant_id = $1 AND mode = $4 AND created_at >= $2 \
                 AND created_at < $3 GROUP BY scenario, outcome",
                &[
                    &merchant.uuid(),
                    &from.millis(),
                    &to.millis(),
                    &mode.as_str(),
                ],
            )
            .await?;
        let groups = decode_all(&groups, |row| {
            let c = Columns {
                row,
                table: "verifications",
            };
            Ok(UsageRow {
                scenario: c.get("scenario")?,
                outcome: c.get("outcome")?,
                count: c.get("count")?,
                calls: c.get("calls")?,
                answered_ms: c.get("answered_ms")?,
            })
        })?;
        rows::usage(groups)
    }

    async fn set_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO pins (merchant_id, mode, customer_ref, hash, updated_at) \
             VALUES ($1, $5, $2, $3, $4) ON CONFLICT (merchant_id, mode, customer_ref) \
             DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
            &[
                &merchant.uuid(),
                &customer_ref,
                &hash,
                &Timestamp::now().millis(),
                &mode.as_str(),
            ],
            "pin",
            &format!("merchant {merchant}"),
        )
        .await
    }

    async fn pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "SELECT hash FROM pins WHERE merchant_id = $1 AND mode = $2 AND customer_ref = $3",
            &[&merchant.uuid(), &mode.as_str(), &customer_ref],
        )
        .await?
        .map(|row| {
            Columns {
                row: &row,
                table: "pins",
            }
            .get("hash")
        })
        .transpose()
    }

    async fn delete_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM pins WHERE merchant_id = $1 AND mode = $2 AND customer_ref = $3",
                &[&merchant.uuid(), &mode.as_str(), &customer_ref],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn claim_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let abandoned_before = now.millis() - rows::duration_millis(super::ABANDONED_CLAIM)?;
        // Inserts a claim, or takes over an abandoned one; either way the
        // row comes back as ours (`xmax = 0` tells an insert from an
        // update only for the insert, so compare the hash and status).
        let claimed = self
            .query_opt(
                "INSERT INTO idempotency_keys (merchant_id, mode, idempotency_key, request_hash, \
                 status, body, created_at) VALUES ($1, $6, $2, $3, 0, '', $4) \
                 ON CONFLICT (merchant_id, mode, idempotency_key) DO UPDATE SET \
                 request_hash = excluded.request_hash, status = 0, body = '', \
                 created_at = excluded.created_at \
                 WHERE idempotency_keys.status = 0 AND idempotency_keys.created_at <= $5 \
                 RETURNING 1",
                &[
                    &merchant.uuid(),
                    &key,
                    &request_hash,
                    &now.millis(),
                    &abandoned_before,
                    &mode.as_str(),
                ],
            )
            .await
            .map_err(|e| match e {
                StoreError::Database(text) if text.contains("foreign key") => {
                    StoreError::NotFound(format!("merchant {merchant}"))
                }
                other => other,
            })?;
        if claimed.is_some() {
            return Ok(None);
        }
        let row = self
            .query_opt(
                "SELECT request_hash, status, body FROM idempotency_keys \
                 WHERE merchant_id = $1 AND mode = $2 AND idempotency_key = $3",
                &[&merchant.uuid(), &mode.as_str(), &key],
            )
            .await?
            .ok_or_else(|| StoreError::Database("idempotency key vanished".to_owned()))?;
        let c = Columns {
            row: &row,
            table: "idempotency_keys",
        };
        let status: i64 = c.get("status")?;
        Ok(Some(IdempotentResponse {
            request_hash: c.get("request_hash")?,
            status: u16::try_from(status)
                .map_err(|_| corrupt("idempotency_keys.status", status))?,
            body: c.get("body")?,
        }))
    }

    async fn save_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<(), StoreError> {
        let changed = self
            .execute(
                "UPDATE idempotency_keys SET status = $3, body = $4 \
                 WHERE merchant_id = $1 AND mode = $6 AND idempotency_key = $2 \
                 AND request_hash = $5",
                &[
                    &merchant.uuid(),
                    &key,
                    &i64::from(response.status),
                    &response.body,
                    &response.request_hash,
                    &mode.as_str(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "claim of idempotency key {key:?}"
            )));
        }
        Ok(())
    }

    async fn release_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM idempotency_keys \
             WHERE merchant_id = $1 AND mode = $2 AND idempotency_key = $3 AND status = 0",
            &[&merchant.uuid(), &mode.as_str(), &key],
        )
        .await?;
        Ok(())
    }

    async fn enqueue_delivery(&self, new: &NewDelivery) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_delivery(&client, new).await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        // SKIP LOCKED: rows another replica is claiming right now are left
        // to it; a row it claimed and committed no longer matches
        // `next_attempt_at <= now` when re-checked.
        let found = self
            .query(
                &format!(
                    "WITH due AS (SELECT id FROM webhook_deliveries \
                     WHERE state = 'pending' AND next_attempt_at <= $1 \
                     ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     UPDATE webhook_deliveries SET next_attempt_at = $2 \
                     WHERE id IN (SELECT id FROM due) \
                     RETURNING {DELIVERY_COLUMNS}"
                ),
                &[&now.millis(), &lease_until.millis(), &i64::from(limit)],
            )
            .await?;
        let mut claimed = decode_all(&found, delivery_row)?;
        // RETURNING has no order; hand them out oldest first.
        claimed.sort_by_key(|d| (d.event.created_at, d.event.id));
        Ok(claimed)
    }

    async fn mark_delivered(
        &self,
        id: EventId,
        status: u16,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let changed = self
            .execute(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, \
                 last_status = $2, last_error = NULL, delivered_at = $3 WHERE id = $1",
                &[&id.uuid(), &i64::from(status), &at.millis()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("delivery {id}")));
        }
        Ok(())
    }

    async fn mark_attempt_failed(
        &self,
        id: EventId,
        status: Option<u16>,
        error: &str,
        next_attempt_at: Timestamp,
        dead: bool,
    ) -> Result<(), StoreError> {
        let state = if dead { "dead" } else { "pending" };
        let changed = self
            .execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2, \
                 last_error = $3, next_attempt_at = $4, state = $5 \
                 WHERE id = $1 AND state = 'pending'",
                &[
                    &id.uuid(),
                    &status.map(i64::from),
                    &error,
                    &next_attempt_at.millis(),
                    &state,
                ],
            )
            .await?;
        if changed == 0
            && !self
                .exists("SELECT 1 FROM webhook_deliveries WHERE id = $1", id.uuid())
                .await?
        {
            return Err(StoreError::NotFound(format!("delivery {id}")));
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        mode: Mode,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError> {
        let q = rows::list_deliveries(merchant, mode, cursor, limit, placeholder)?;
        let found = self.query(&q.sql, &bind(&q.params)).await?;
        Ok(rows::delivery_page(
            decode_all(&found, delivery_row)?,
            q.fetch,
        ))
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        mode: Mode,
        id: EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, \
                 delivered_at = NULL WHERE id = $1 AND merchant_id = $2 AND mode = $4",
                &[&id.uuid(), &merchant.uuid(), &now.millis(), &mode.as_str()],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn set_node_drained(
        &self,
        node: &str,
        drained: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if drained {
            self.execute(
                "INSERT INTO node_drains (node, since) VALUES ($1, $2) \
                 ON CONFLICT (node) DO NOTHING",
                &[&node, &now.millis()],
            )
            .await?;
        } else {
            self.execute("DELETE FROM node_drains WHERE node = $1", &[&node])
                .await?;
        }
        Ok(())
    }

    async fn drained_nodes(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query("SELECT node FROM node_drains ORDER BY node", &[])
            .await?;
        rows.iter()
            .map(|row| {
                row.try_get::<_, String>(0)
                    .map_err(|e| corrupt("node_drains.node", e))
            })
            .collect()
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        let count: i64 = match self
            .query_opt(
                "SELECT COUNT(*) AS pending FROM webhook_deliveries WHERE state = 'pending'",
                &[],
            )
            .await?
        {
            Some(row) => Columns {
                row: &row,
                table: "webhook_deliveries",
            }
            .get("pending")?,
            None => 0,
        };
        u64::try_from(count).map_err(|_| corrupt("webhook_deliveries (count)", count))
    }

    async fn admit_call(
        &self,
        admit: &AdmitCall,
        create: Option<&NewVerification>,
    ) -> Result<Admission, StoreError> {
        let (merchant, mode) = (admit.scope.merchant.uuid(), admit.scope.mode.as_str());
        let velocity_calls = admit.velocity.map(|(calls, _)| i64::from(calls));
        let window = admit
            .velocity
            .map(|(_, window)| i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        let daily_cap = admit.daily_cap.map(i64::from);
        let holder = admit.lease.map(|terms| terms.holder.uuid());
        let max = admit.lease.map_or(0, |terms| i64::from(terms.max_channels));
        let expires = admit.lease.map_or(0, |terms| terms.expires_at.millis());
        let required = admit.lease.is_some_and(|terms| terms.required);
        let (now, day_start) = (admit.now.millis(), admit.day_start.millis());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &merchant,
            &mode,
            &admit.phone,
            &now,
            &day_start,
            &velocity_calls,
            &window,
            &daily_cap,
            &holder,
            &max,
            &expires,
            &required,
        ];
        let admitting = "SELECT verdict, retry_at FROM arsgate_admit($1, $2, $3, $4, $5, $6, $7, \
                         $8, $9, $10, $11, $12)";
        let row = match create {
            None => self.query_opt(admitting, &params).await?,
            Some(new) => {
                // One statement, so one commit: the verification is stored
                // with its admission or not at all. `arsgate_admit` turns
                // synchronous commit off for its transaction (a bare
                // admission is flushed by the verification's commit that
                // follows it); here the verification is in this very
                // commit, and a 201 must survive the database crashing
                // right after: the outer select, evaluated once the
                // admission ran, turns it back on.
                let values = verification_values(new);
                params.extend(values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)));
                let sql = format!(
                    "WITH admitted AS ({admitting}), stored AS ({}) \
                     SELECT verdict, retry_at, \
                     set_config('synchronous_commit', 'on', true) AS durable FROM admitted",
                    insert_verification(
                        13,
                        " FROM admitted WHERE verdict IN ('leased', 'admitted')"
                    )
                );
                self.insert_row(
                    &sql,
                    &params,
                    &format!("verification {}", new.id),
                    &format!("merchant {}", new.merchant_id),
                )
                .await?
            }
        }
        .ok_or_else(|| corrupt("arsgate_admit", "no verdict"))?;
        let columns = Columns {
            row: &row,
            table: "arsgate_admit",
        };
        let verdict: String = columns.get("verdict")?;
        let retry_at: Option<i64> = columns.get("retry_at")?;
        match (verdict.as_str(), retry_at) {
            ("leased", _) => Ok(Admission::Admitted { leased: true }),
            ("admitted", _) => Ok(Admission::Admitted { leased: false }),
            ("velocity", Some(at)) => Ok(Admission::Velocity {
                retry_at: Timestamp::from_millis(at),
            }),
            ("daily_cap", _) => Ok(Admission::DailyCap),
            ("channels_full", _) => Ok(Admission::ChannelsFull),
            _ => Err(corrupt("arsgate_admit.verdict", verdict)),
        }
    }

    async fn acquire_lease(
        &self,
        scope: LimitScope,
        terms: &LeaseTerms,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = self
            .query_opt(
                "SELECT arsgate_acquire_lease($1, $2, $3, $4, $5, $6) AS leased",
                &[
                    &scope.merchant.uuid(),
                    &scope.mode.as_str(),
                    &terms.holder.uuid(),
                    &i64::from(terms.max_channels),
                    &now.millis(),
                    &terms.expires_at.millis(),
                ],
            )
            .await?
            .ok_or_else(|| corrupt("arsgate_acquire_lease", "no answer"))?;
        Columns {
            row: &row,
            table: "arsgate_acquire_lease",
        }
        .get("leased")
    }

    async fn renew_leases(
        &self,
        holders: &[VerificationId],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let holders: Vec<Uuid> = holders.iter().map(|h| h.uuid()).collect();
        self.execute(
            "UPDATE channel_leases SET expires_at = $3 \
             WHERE holder = ANY($1) AND expires_at > $2",
            &[&holders, &now.millis(), &expires_at.millis()],
        )
        .await
    }

    async fn release_lease(&self, holder: VerificationId) -> Result<bool, StoreError> {
        let released = self
            .execute(
                "DELETE FROM channel_leases WHERE holder = $1",
                &[&holder.uuid()],
            )
            .await?;
        Ok(released > 0)
    }

    async fn limit_usage(
        &self,
        scope: LimitScope,
        now: Timestamp,
        day_start: Timestamp,
    ) -> Result<LimitUsage, StoreError> {
        let client = self.client().await?;
        let (merchant, mode) = (scope.merchant.uuid(), scope.mode.as_str());
        let live = count(
            &client,
            "SELECT COUNT(*) FROM channel_leases WHERE merchant_id = $1 AND mode = $2 \
             AND expires_at > $3",
            &[&merchant, &mode, &now.millis()],
        )
        .await?;
        let today = count(
            &client,
            "SELECT COUNT(*) FROM call_attempts WHERE merchant_id = $1 AND mode = $2 \
             AND at >= $3",
            &[&merchant, &mode, &day_start.millis()],
        )
        .await?;
        Ok(LimitUsage {
            live_channels: u32::try_from(live)
                .map_err(|_| corrupt("channel_leases (count)", live))?,
            calls_today: u32::try_from(today)
                .map_err(|_| corrupt("call_attempts (count)", today))?,
        })
    }
}

/// The count a `SELECT COUNT(*)` returns.
async fn count<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<i64, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(db)?;
    let row = client.query_one(&stmt, params).await.map_err(db)?;
    row.try_get(0).map_err(|e| corrupt("(count)", e))
}
