//! The embedded store: one SQLite file, so arsgate runs with no database
//! server.
//!
//! rusqlite is synchronous, so no operation runs on the async runtime's
//! threads. The file is in WAL mode: one writer connection on its own
//! thread, which commits the writes waiting for it together
//! ([`group_commit`](super::group_commit)), and a few reader connections
//! on tokio's blocking pool that read a consistent snapshot while the
//! writer works. Other
//! processes on the same file (the `arsgate keys` command next to a
//! running server) are kept in line by SQLite's own locks and the busy
//! timeout.
//!
//! Every check-then-write is one statement (`UPDATE ... WHERE <guard>
//! RETURNING`): SQLite takes the write lock when the statement starts, so
//! the guard and the write are atomic against this process's other
//! operations and against other processes alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::{FromSql, Value};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Params, Row, params};
use uuid::Uuid;

use super::admission;
use super::feed::Feed;
use super::group_commit::Writer;
use super::rows::{
    self, API_KEY_COLUMNS, ApiKeyRow, DELIVERY_COLUMNS, DeliveryRow, EVIDENCE_COLUMNS, EvidenceRow,
    MERCHANT_COLUMNS, MerchantRow, Param, UsageRow, VERIFICATION_COLUMNS, VerificationRow, corrupt,
};
use super::schema::{self, Declaration, Plan};
use super::{CheckRecorded, IdempotentResponse, Store, StoreError, TimelineRecord};
use crate::domain::{
    Admission, AdmitCall, ApiKey, ApiKeyId, Delivery, EventId, Evidence, Finish, LeaseTerms,
    LimitScope, LimitUsage, Merchant, MerchantId, MerchantSettings, Mode, NewDelivery,
    NewVerification, Page, Timestamp, Usage, Verification, VerificationFilter, VerificationId,
};

mod embedded {
    refinery::embed_migrations!("src/store/migrations/sqlite");
}

/// Reader connections: reads run in parallel with each other and with
/// the writer (WAL), up to this many at once.
const READERS: usize = 4;

/// How long a statement waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store. Cloning it is cheap and shares the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// Told of each live timeline entry this store writes.
    feed: Arc<Feed>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (or creates, with its parent directories) the database file
    /// at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_owned();
        let inner = run_blocking(move || Inner::open(path)).await?;
        Ok(SqliteStore {
            inner: Arc::new(inner),
            feed: Arc::new(Feed::local()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer connection, in the next group of writes to
    /// be committed; its result once that group has committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// Runs a short read (rows found by key) on a free reader connection
    /// right here: the hop to the blocking pool and back costs more than
    /// such a read. WAL readers never wait for the writer. When every
    /// reader is busy it runs like any other read.
    async fn read_point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        for reader in &self.inner.readers {
            let conn = match reader.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return f(&conn);
        }
        self.read(f).await
    }

    /// Runs `f` on a reader connection, off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let n = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[n]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        })
        .await
    }
}

impl Inner {
    fn open(path: PathBuf) -> Result<Inner, StoreError> {
        let failed = |step: &str, e: rusqlite::Error| {
            StoreError::Database(format!("{}: {step}: {e}", path.display()))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let mut writer = Connection::open(&path).map_err(|e| failed("open", e))?;
        writer
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| failed("busy timeout", e))?;
        let mode = enable_wal(&writer).map_err(|e| failed("WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{}: cannot use WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        // FULL: a commit survives a power cut, not only a crash; the
        // outbox and final outcomes must not be lost.
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| failed("synchronous", e))?;
        writer
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| failed("foreign keys", e))?;
        // Every write runs in its own savepoint, and SQLite keeps a copy of
        // each page a savepoint changes in a sub-journal so it can roll
        // back. In a temporary file (the default beyond 64 KiB) that is two
        // `pwrite`s per page changed, five times the WAL's own writes
        // under load; in memory it costs a copy. Only rolled-back writes
        // read it, and a crash needs none of it (the WAL is the journal).
        writer
            .pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| failed("temp store", e))?;
        migrate(&mut writer)
            .map_err(|why| StoreError::Database(format!("{}: {why}", path.display())))?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(&path).map_err(|e| failed("open reader", e))?;
                reader
                    .busy_timeout(BUSY_TIMEOUT)
                    .map_err(|e| failed("busy timeout", e))?;
                reader
                    .pragma_update(None, "query_only", "ON")
                    .map_err(|e| failed("query only", e))?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let writer = Writer::start(writer).map_err(|e| {
            StoreError::Database(format!("{}: starting the writer: {e}", path.display()))
        })?;
        Ok(Inner {
            path,
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }
}

/// Puts the file in WAL mode and returns the journal mode now in force.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    // Entering WAL needs the file to itself, and SQLite answers BUSY at
    // once there instead of calling the busy handler: a new file another
    // process is opening at the same moment is waited for here.
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            done => return done,
        }
    }
}

/// Applies the pending migrations, all in one transaction with their
/// history rows (refinery's default commits each migration apart from its
/// history row, which a crash or a concurrent opener can observe); on a
/// schema a newer arsgate migrated, applies nothing and runs on it unless
/// it declares this binary incompatible ([`schema`]). The error says why.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    // Two processes opening a new file at once both find nothing applied;
    // the slower one then fails on the tables the other has just made and
    // recorded. Run again, it finds them recorded; a real failure fails
    // every time.
    const RUNS: usize = 3;
    let runner = embedded::migrations::runner().set_grouped(true);
    if let Plan::RunOnNewer(newer) = schema_plan(conn, &runner)? {
        schema::log_newer(&newer);
        return Ok(());
    }
    let mut result = runner.run(conn);
    for _ in 1..RUNS {
        if result.is_ok() {
            break;
        }
        result = runner.run(conn);
    }
    result
        .map(|report| rows::log_applied(&report))
        .map_err(|e| rows::migration_failure(&e))
}

/// What to do with the migrations of the database behind `conn`.
fn schema_plan(conn: &mut Connection, runner: &refinery::Runner) -> Result<Plan, String> {
    let exists = |conn: &Connection, table: &str| {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(|e| format!("reading the schema: {e}"))
    };
    if !exists(conn, "refinery_schema_history")? {
        return Ok(Plan::Migrate);
    }
    let applied = runner
        .get_applied_migrations(conn)
        .map_err(|e| rows::migration_failure(&e))?;
    let declared = if exists(conn, schema::COMPAT_TABLE)? {
        let mut statement = conn
            .prepare(schema::READ_DECLARATIONS)
            .map_err(|e| format!("reading {}: {e}", schema::COMPAT_TABLE))?;
        statement
            .query_map([], |row| {
                Ok(Declaration {
                    version: row.get(0)?,
                    oldest_compatible: row.get(1)?,
                    reason: row.get(2)?,
                })
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| format!("reading {}: {e}", schema::COMPAT_TABLE))?
    } else {
        Vec::new()
    };
    schema::plan(runner.get_migrations(), &applied, &declared)
}

/// Runs blocking database work on tokio's blocking pool.
async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Database(format!("database task canceled: {e}"))),
    }
}

/// A database error that is not about the data.
fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("sqlite: {e}"))
}

/// A failed insert: `Conflict` naming `taken` on a unique violation,
/// `NotFound` naming `missing` on a foreign-key violation.
fn write_error(e: rusqlite::Error, taken: &str, missing: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        if failure.code == ErrorCode::ConstraintViolation {
            match failure.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
                    return StoreError::Conflict(taken.to_owned());
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                    return StoreError::NotFound(missing.to_owned());
                }
                _ => {}
            }
        }
    }
    db(e)
}

/// Stores a verification just created.
fn insert_verification(conn: &Connection, v: &Verification) -> Result<(), StoreError> {
    let r = &v.request;
    conn.prepare_cached(
        "INSERT INTO verifications (id, merchant_id, mode, scenario, phone, language, \
         callback_url, customer_ref, metadata, fields, code_digest, code_expires_at, \
         created_at, state, check_attempts, timeline, updated_at, notify_answered, \
         max_check_attempts, birthdate_digest) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending', 0, \
         ?14, ?13, ?15, ?16, ?17)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id(r.id.uuid()),
            id(r.merchant_id.uuid()),
            r.mode.as_str(),
            r.scenario,
            r.phone.e164(),
            r.language.code(),
            r.callback_url,
            r.customer_ref,
            json(&r.metadata),
            json(&rows::fields_json(&r.fields)),
            r.code_digest,
            r.code_expires_at.map(Timestamp::millis),
            r.created_at.millis(),
            json(&v.timeline),
            r.notify_answered,
            i64::from(r.max_check_attempts),
            r.birthdate_digest,
        ])
    })
    .map(|_| ())
    .map_err(|e| {
        write_error(
            e,
            &format!("verification {}", r.id),
            &format!("merchant {}", r.merchant_id),
        )
    })
}

/// An id as stored: its UUID, hyphenated.
fn id(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}

fn json(value: &serde_json::Value) -> String {
    value.to_string()
}

fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(db)
}

/// Every row `sql` returns, decoded by `decode`.
fn query<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// The first row `sql` returns, decoded by `decode`.
fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    rows.next().map_err(db)?.map(decode).transpose()
}

/// Whether a verification exists, to tell a refused transition from an
/// unknown id.
fn verification_exists(conn: &Connection, vid: VerificationId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM verifications WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id(vid.uuid())], |_| Ok(())).optional())
        .map(|found| found.is_some())
        .map_err(db)
}

/// The outcome of a guarded transition that changed `changed` rows.
fn transitioned(
    conn: &Connection,
    changed: usize,
    vid: VerificationId,
) -> Result<bool, StoreError> {
    if changed > 0 {
        Ok(true)
    } else if verification_exists(conn, vid)? {
        Ok(false)
    } else {
        Err(StoreError::NotFound(format!("verification {vid}")))
    }
}

/// Reads a row's columns, naming `table.column` when one does not decode.
struct Columns<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
}

impl Columns<'_, '_> {
    fn get<T: FromSql>(&self, column: &str) -> Result<T, StoreError> {
        self.row
            .get(column)
            .map_err(|e| corrupt(&format!("{}.{column}", self.table), e))
    }

    fn id(&self, column: &str) -> Result<Uuid, StoreError> {
        let text: String = self.get(column)?;
        Uuid::parse_str(&text).map_err(|e| corrupt(&format!("{}.{column}", self.table), e))
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        let text: String = self.get(column)?;
        serde_json::from_str(&text).map_err(|e| corrupt(&format!("{}.{column}", self.table), e))
    }
}

fn merchant_row(row: &Row<'_>) -> Result<Merchant, StoreError> {
    let c = Columns {
        row,
        table: "merchants",
    };
    MerchantRow {
        id: c.id("id")?,
        name: c.get("name")?,
        webhook_secret: c.get("webhook_secret")?,
        code_ttl_ms: c.get("code_ttl_ms")?,
        max_check_attempts: c.get("max_check_attempts")?,
        created_at: c.get("created_at")?,
    }
    .decode()
}

fn api_key_row(row: &Row<'_>) -> Result<ApiKey, StoreError> {
    let c = Columns {
        row,
        table: "api_keys",
    };
    ApiKeyRow {
        id: c.id("id")?,
        merchant_id: c.id("merchant_id")?,
        mode: c.get("mode")?,
        hash: c.get("hash")?,
        created_at: c.get("created_at")?,
        revoked_at: c.get("revoked_at")?,
    }
    .decode()
}

fn verification_row(row: &Row<'_>) -> Result<Verification, StoreError> {
    let c = Columns {
        row,
        table: "verifications",
    };
    VerificationRow {
        id: c.id("id")?,
        merchant_id: c.id("merchant_id")?,
        mode: c.get("mode")?,
        scenario: c.get("scenario")?,
        phone: c.get("phone")?,
        language: c.get("language")?,
        callback_url: c.get("callback_url")?,
        notify_answered: c.get("notify_answered")?,
        customer_ref: c.get("customer_ref")?,
        metadata: c.json("metadata")?,
        fields: c.json("fields")?,
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
        timeline: c.json("timeline")?,
        answered_at: c.get("answered_at")?,
        finished_at: c.get("finished_at")?,
        updated_at: c.get("updated_at")?,
    }
    .decode()
}

fn evidence_row(row: &Row<'_>) -> Result<Evidence, StoreError> {
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

fn delivery_row(row: &Row<'_>) -> Result<Delivery, StoreError> {
    let c = Columns {
        row,
        table: "webhook_deliveries",
    };
    DeliveryRow {
        id: c.id("id")?,
        merchant_id: c.id("merchant_id")?,
        verification_id: c.id("verification_id")?,
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

/// A listing's parameters as SQLite values.
fn values(params: Vec<Param>) -> Vec<Value> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Id(uuid) => Value::Text(id(uuid)),
            Param::Text(text) => Value::Text(text),
            Param::Int(n) => Value::Integer(n),
        })
        .collect()
}

fn placeholder(n: usize) -> String {
    format!("?{n}")
}

#[async_trait]
impl Store for SqliteStore {
    async fn append_timeline(&self, vid: VerificationId, entry: &str) -> Result<u64, StoreError> {
        let entry = entry.to_owned();
        let seq = self
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO timeline_entries (verification_id, seq, entry) \
                     SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2 FROM timeline_entries \
                     WHERE verification_id = ?1 RETURNING seq",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![id(vid.uuid()), entry], |r| r.get::<_, i64>(0))
                })
                .map_err(|e| write_error(e, "timeline entry", &format!("verification {vid}")))
            })
            .await?;
        self.feed.tell(vid);
        Ok(u64::try_from(seq).unwrap_or_default())
    }

    async fn timeline_after(
        &self,
        vid: VerificationId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<TimelineRecord>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = limit.clamp(1, super::MAX_PAGE);
        self.read_point(move |conn| {
            query(
                conn,
                "SELECT seq, entry FROM timeline_entries \
                 WHERE verification_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                params![id(vid.uuid()), after, limit],
                |row| {
                    let seq: i64 = row.get(0).map_err(db)?;
                    Ok(TimelineRecord {
                        seq: u64::try_from(seq).map_err(|e| corrupt("timeline_entries.seq", e))?,
                        entry: row.get(1).map_err(db)?,
                    })
                },
            )
        })
        .await
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
        let ttl = rows::duration_millis(settings.code_ttl)?;
        let m = merchant.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO merchants (id, name, webhook_secret, code_ttl_ms, \
                 max_check_attempts, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id(m.id.uuid()),
                    m.name,
                    m.webhook_secret,
                    ttl,
                    i64::from(m.settings.max_check_attempts),
                    m.created_at.millis(),
                ])
            })
            .map_err(|e| write_error(e, &format!("merchant named {:?}", m.name), "merchant"))
        })
        .await?;
        Ok(merchant)
    }

    async fn set_merchant_settings(
        &self,
        mid: MerchantId,
        settings: &MerchantSettings,
    ) -> Result<(), StoreError> {
        let ttl = rows::duration_millis(settings.code_ttl)?;
        let attempts = i64::from(settings.max_check_attempts);
        let changed = self
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE merchants SET code_ttl_ms = ?2, max_check_attempts = ?3 WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![id(mid.uuid()), ttl, attempts]))
                .map_err(|e| write_error(e, "merchant", "merchant"))
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("merchant {mid}")));
        }
        Ok(())
    }

    async fn merchant(&self, mid: MerchantId) -> Result<Option<Merchant>, StoreError> {
        self.read_point(move |conn| {
            query_one(
                conn,
                &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = ?1"),
                [id(mid.uuid())],
                merchant_row,
            )
        })
        .await
    }

    async fn merchant_by_name(&self, name: &str) -> Result<Option<Merchant>, StoreError> {
        let name = name.to_owned();
        self.read(move |conn| {
            query_one(
                conn,
                &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE name = ?1"),
                [name],
                merchant_row,
            )
        })
        .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO api_keys (id, merchant_id, mode, hash, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id(key.id.uuid()),
                    id(key.merchant_id.uuid()),
                    key.mode.as_str(),
                    key.hash,
                    key.created_at.millis(),
                    key.revoked_at.map(Timestamp::millis),
                ])
            })
            .map_err(|e| {
                write_error(
                    e,
                    &format!("api key {}", key.id),
                    &format!("merchant {}", key.merchant_id),
                )
            })
        })
        .await?;
        Ok(())
    }

    async fn api_key(&self, kid: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.read_point(move |conn| {
            query_one(
                conn,
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                [id(kid.uuid())],
                api_key_row,
            )
        })
        .await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        self.read(move |conn| {
            query(
                conn,
                &format!("SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY name"),
                [],
                merchant_row,
            )
        })
        .await
    }

    async fn api_keys(&self, merchant: Option<MerchantId>) -> Result<Vec<ApiKey>, StoreError> {
        let merchant = merchant.map(|m| id(m.uuid()));
        self.read(move |conn| {
            query(
                conn,
                &format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys \
                     WHERE ?1 IS NULL OR merchant_id = ?1 ORDER BY created_at, id"
                ),
                [merchant],
                api_key_row,
            )
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        kid: ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>, StoreError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            )
            .and_then(|mut stmt| stmt.execute(params![id(kid.uuid()), at.millis()]))
            .map_err(|e| write_error(e, "api key", "api key"))?;
            query_one(
                conn,
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                [id(kid.uuid())],
                api_key_row,
            )
        })
        .await
    }

    async fn create_verification(&self, new: &NewVerification) -> Result<Verification, StoreError> {
        let created = Verification::pending(new.clone());
        let v = created.clone();
        self.write(move |conn| insert_verification(conn, &v))
            .await?;
        Ok(created)
    }

    async fn verification(
        &self,
        merchant: MerchantId,
        vid: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        self.read_point(move |conn| {
            query_one(
                conn,
                &format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                     WHERE id = ?1 AND merchant_id = ?2"
                ),
                [id(vid.uuid()), id(merchant.uuid())],
                verification_row,
            )
        })
        .await
    }

    async fn verification_by_id(
        &self,
        vid: VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        self.read_point(move |conn| {
            query_one(
                conn,
                &format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE id = ?1"),
                [id(vid.uuid())],
                verification_row,
            )
        })
        .await
    }

    async fn list_verifications(
        &self,
        merchant: MerchantId,
        filter: &VerificationFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Verification>, StoreError> {
        let q = rows::list_verifications(merchant, filter, cursor, limit, placeholder)?;
        let items = self
            .read(move |conn| {
                query(
                    conn,
                    &q.sql,
                    rusqlite::params_from_iter(values(q.params)),
                    verification_row,
                )
            })
            .await?;
        Ok(rows::verification_page(items, q.fetch))
    }

    async fn mark_calling(
        &self,
        vid: VerificationId,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        let (call_id, node) = (call_id.to_owned(), node.to_owned());
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE verifications SET state = 'calling', call_id = ?2, node = ?3, \
                 updated_at = ?4 WHERE id = ?1 AND state = 'pending'",
                params![id(vid.uuid()), call_id, node, now],
            )?;
            transitioned(conn, changed, vid)
        })
        .await
    }

    async fn mark_replaced(
        &self,
        vid: VerificationId,
        previous_call_id: &str,
        call_id: &str,
        node: &str,
    ) -> Result<bool, StoreError> {
        let (previous, call_id, node) = (
            previous_call_id.to_owned(),
            call_id.to_owned(),
            node.to_owned(),
        );
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE verifications SET call_id = ?3, node = ?4, updated_at = ?5 \
                 WHERE id = ?1 AND state = 'calling' AND call_id = ?2",
                params![id(vid.uuid()), previous, call_id, node, now],
            )?;
            transitioned(conn, changed, vid)
        })
        .await
    }

    async fn mark_answered(&self, vid: VerificationId, at: Timestamp) -> Result<bool, StoreError> {
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE verifications SET state = 'answered', answered_at = ?2, \
                 updated_at = ?3 WHERE id = ?1 AND state = 'calling'",
                params![id(vid.uuid()), at.millis(), now],
            )?;
            transitioned(conn, changed, vid)
        })
        .await
    }

    async fn mark_code_heard(
        &self,
        vid: VerificationId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE verifications SET code_heard_at = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND code_heard_at IS NULL",
                params![id(vid.uuid()), at.millis(), now],
            )?;
            transitioned(conn, changed, vid)
        })
        .await
    }

    async fn finish(
        &self,
        vid: VerificationId,
        finish: &Finish,
        webhook: Option<&NewDelivery>,
    ) -> Result<bool, StoreError> {
        let finish = finish.clone();
        let webhook = webhook.cloned();
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            // Inside the group's transaction: a savepoint of its own.
            let tx = conn.savepoint().map_err(db)?;
            let changed = execute(
                &tx,
                "UPDATE verifications SET state = 'finished', outcome = ?2, reason = ?3, \
                 timeline = ?4, finished_at = ?5, updated_at = ?6, birthdate_digest = NULL \
                 WHERE id = ?1 AND state <> 'finished'",
                params![
                    id(vid.uuid()),
                    finish.outcome.as_str(),
                    finish.reason,
                    json(&finish.timeline),
                    finish.finished_at.millis(),
                    now,
                ],
            )?;
            let finished = transitioned(&tx, changed, vid)?;
            if finished && let Some(delivery) = &webhook {
                insert_delivery(&tx, delivery)?;
            }
            if finished {
                execute(
                    &tx,
                    "DELETE FROM channel_leases WHERE holder = ?1",
                    params![id(vid.uuid())],
                )?;
            }
            tx.commit().map_err(db)?;
            Ok(finished)
        })
        .await
    }

    async fn unfinished(&self) -> Result<Vec<Verification>, StoreError> {
        self.read(move |conn| {
            query(
                conn,
                &format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                     WHERE state <> 'finished' ORDER BY created_at, id"
                ),
                [],
                verification_row,
            )
        })
        .await
    }

    async fn live_calls(&self, calls: &[String]) -> Result<Vec<String>, StoreError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let calls = serde_json::to_string(calls).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.read(move |conn| {
            query(
                conn,
                "SELECT call_id FROM verifications \
                 WHERE state <> 'finished' AND call_id IN (SELECT value FROM json_each(?1))",
                [calls],
                |row| row.get(0).map_err(db),
            )
        })
        .await
    }

    async fn pending_before(&self, before: Timestamp) -> Result<Vec<Verification>, StoreError> {
        let before = before.millis();
        self.read(move |conn| {
            query(
                conn,
                &format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM verifications \
                     WHERE state = 'pending' AND created_at < ?1 ORDER BY created_at, id"
                ),
                [before],
                verification_row,
            )
        })
        .await
    }

    async fn record_check(
        &self,
        vid: VerificationId,
        approved: Option<Timestamp>,
    ) -> Result<CheckRecorded, StoreError> {
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            let counted = query_one(
                conn,
                "UPDATE verifications SET check_attempts = check_attempts + 1, \
                 checked_at = ?3, updated_at = ?2 \
                 WHERE id = ?1 AND checked_at IS NULL AND check_attempts < max_check_attempts \
                 RETURNING check_attempts",
                params![id(vid.uuid()), now, approved.map(Timestamp::millis)],
                |row| {
                    let attempts: i64 = Columns {
                        row,
                        table: "verifications",
                    }
                    .get("check_attempts")?;
                    u32::try_from(attempts)
                        .map_err(|_| corrupt("verifications.check_attempts", attempts))
                },
            )?;
            if let Some(attempts) = counted {
                return Ok(CheckRecorded::Counted { attempts });
            }
            let checked = query_one(
                conn,
                "SELECT checked_at IS NOT NULL AS checked FROM verifications WHERE id = ?1",
                [id(vid.uuid())],
                |row| {
                    Columns {
                        row,
                        table: "verifications",
                    }
                    .get::<bool>("checked")
                },
            )?;
            match checked {
                Some(true) => Ok(CheckRecorded::Used),
                Some(false) => Ok(CheckRecorded::Locked),
                None => Err(StoreError::NotFound(format!("verification {vid}"))),
            }
        })
        .await
    }

    async fn save_evidence(
        &self,
        vid: VerificationId,
        evidence: &Evidence,
    ) -> Result<(), StoreError> {
        let e = evidence.clone();
        let recording_ms = e
            .recording_ms
            .map(|ms| rows::signed(ms, "recording_ms"))
            .transpose()?;
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO evidence (verification_id, consent_text, pressed_key, key_at, \
                 recording_path, local_path, recording_sha256, recording_ms, saved_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (verification_id) DO UPDATE SET \
                 consent_text = excluded.consent_text, pressed_key = excluded.pressed_key, \
                 key_at = excluded.key_at, recording_path = excluded.recording_path, \
                 local_path = excluded.local_path, recording_sha256 = excluded.recording_sha256, \
                 recording_ms = excluded.recording_ms, saved_at = excluded.saved_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id(vid.uuid()),
                    e.consent_text,
                    e.key,
                    e.key_at.map(Timestamp::millis),
                    e.recording_path,
                    e.local_path,
                    e.recording_sha256,
                    recording_ms,
                    now,
                ])
            })
            .map_err(|err| write_error(err, "evidence", &format!("verification {vid}")))
        })
        .await?;
        Ok(())
    }

    async fn evidence(&self, vid: VerificationId) -> Result<Option<Evidence>, StoreError> {
        self.read(move |conn| {
            query_one(
                conn,
                &format!("SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE verification_id = ?1"),
                [id(vid.uuid())],
                evidence_row,
            )
        })
        .await
    }

    async fn usage(
        &self,
        merchant: MerchantId,
        mode: Mode,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Usage, StoreError> {
        let groups = self
            .read(move |conn| {
                query(
                    conn,
                    "SELECT scenario, outcome, COUNT(*) AS count, COUNT(call_id) AS calls, \
                     SUM(CASE WHEN finished_at > answered_at THEN finished_at - answered_at \
                     ELSE 0 END) AS answered_ms \
                     FROM verifications \
                     WHERE merchant_id = ?1 AND mode = ?4 AND created_at >= ?2 \
                     AND created_at < ?3 GROUP BY scenario, outcome",
                    params![
                        id(merchant.uuid()),
                        from.millis(),
                        to.millis(),
                        mode.as_str()
                    ],
                    |row| {
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
                    },
                )
            })
            .await?;
        rows::usage(groups)
    }

    async fn set_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        let (customer_ref, hash) = (customer_ref.to_owned(), hash.to_owned());
        let now = Timestamp::now().millis();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO pins (merchant_id, mode, customer_ref, hash, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (merchant_id, mode, customer_ref) \
                 DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id(merchant.uuid()),
                    mode.as_str(),
                    customer_ref,
                    hash,
                    now
                ])
            })
            .map_err(|e| write_error(e, "pin", &format!("merchant {merchant}")))
        })
        .await?;
        Ok(())
    }

    async fn pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        let customer_ref = customer_ref.to_owned();
        self.read_point(move |conn| {
            query_one(
                conn,
                "SELECT hash FROM pins \
                 WHERE merchant_id = ?1 AND mode = ?2 AND customer_ref = ?3",
                params![id(merchant.uuid()), mode.as_str(), customer_ref],
                |row| Columns { row, table: "pins" }.get("hash"),
            )
        })
        .await
    }

    async fn delete_pin(
        &self,
        merchant: MerchantId,
        mode: Mode,
        customer_ref: &str,
    ) -> Result<bool, StoreError> {
        let customer_ref = customer_ref.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM pins WHERE merchant_id = ?1 AND mode = ?2 AND customer_ref = ?3",
                params![id(merchant.uuid()), mode.as_str(), customer_ref],
            )
            .map(|deleted| deleted > 0)
        })
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
        let (key, request_hash) = (key.to_owned(), request_hash.to_owned());
        self.write(move |conn| {
            // Inside the group's transaction: a savepoint of its own.
            let tx = conn.savepoint().map_err(db)?;
            let existing = query_one(
                &tx,
                "SELECT request_hash, status, body, created_at FROM idempotency_keys \
                 WHERE merchant_id = ?1 AND mode = ?2 AND idempotency_key = ?3",
                params![id(merchant.uuid()), mode.as_str(), key],
                |row| {
                    let c = Columns {
                        row,
                        table: "idempotency_keys",
                    };
                    let created_at: i64 = c.get("created_at")?;
                    Ok((idempotent_row(&c)?, Timestamp::from_millis(created_at)))
                },
            )?;
            let abandoned = |(response, at): &(IdempotentResponse, Timestamp)| {
                response.status == 0 && now >= at.plus(super::ABANDONED_CLAIM)
            };
            let result = match existing {
                Some(found) if !abandoned(&found) => Some(found.0),
                _ => {
                    tx.prepare_cached(
                        "INSERT INTO idempotency_keys (merchant_id, mode, idempotency_key, \
                         request_hash, status, body, created_at) \
                         VALUES (?1, ?2, ?3, ?4, 0, '', ?5) \
                         ON CONFLICT (merchant_id, mode, idempotency_key) DO UPDATE SET \
                         request_hash = excluded.request_hash, status = 0, body = '', \
                         created_at = excluded.created_at",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            id(merchant.uuid()),
                            mode.as_str(),
                            key,
                            request_hash,
                            now.millis()
                        ])
                    })
                    .map_err(|e| {
                        write_error(e, "idempotency key", &format!("merchant {merchant}"))
                    })?;
                    None
                }
            };
            tx.commit().map_err(db)?;
            Ok(result)
        })
        .await
    }

    async fn save_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<(), StoreError> {
        let (key, response) = (key.to_owned(), response.clone());
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE idempotency_keys SET status = ?3, body = ?4 \
                 WHERE merchant_id = ?1 AND mode = ?6 AND idempotency_key = ?2 \
                 AND request_hash = ?5",
                params![
                    id(merchant.uuid()),
                    key,
                    i64::from(response.status),
                    response.body,
                    response.request_hash,
                    mode.as_str(),
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!(
                    "claim of idempotency key {key:?}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn release_idempotent(
        &self,
        merchant: MerchantId,
        mode: Mode,
        key: &str,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM idempotency_keys \
                 WHERE merchant_id = ?1 AND mode = ?2 AND idempotency_key = ?3 AND status = 0",
                params![id(merchant.uuid()), mode.as_str(), key],
            )?;
            Ok(())
        })
        .await
    }

    async fn enqueue_delivery(&self, new: &NewDelivery) -> Result<(), StoreError> {
        let d = new.clone();
        self.write(move |conn| insert_delivery(conn, &d)).await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut claimed = self
            .write(move |conn| {
                query(
                    conn,
                    &format!(
                        "UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id IN \
                         (SELECT id FROM webhook_deliveries \
                          WHERE state = 'pending' AND next_attempt_at <= ?1 \
                          ORDER BY next_attempt_at, id LIMIT ?3) \
                         RETURNING {DELIVERY_COLUMNS}"
                    ),
                    params![now.millis(), lease_until.millis(), i64::from(limit)],
                    delivery_row,
                )
            })
            .await?;
        // RETURNING has no order; hand them out oldest first.
        claimed.sort_by_key(|d| (d.event.created_at, d.event.id));
        Ok(claimed)
    }

    async fn mark_delivered(
        &self,
        eid: EventId,
        status: u16,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, \
                 last_status = ?2, last_error = NULL, delivered_at = ?3 WHERE id = ?1",
                params![id(eid.uuid()), i64::from(status), at.millis()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("delivery {eid}")));
            }
            Ok(())
        })
        .await
    }

    async fn mark_attempt_failed(
        &self,
        eid: EventId,
        status: Option<u16>,
        error: &str,
        next_attempt_at: Timestamp,
        dead: bool,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        let state = if dead { "dead" } else { "pending" };
        self.write(move |conn| {
            let changed = execute(
                conn,
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?2, \
                 last_error = ?3, next_attempt_at = ?4, state = ?5 \
                 WHERE id = ?1 AND state = 'pending'",
                params![
                    id(eid.uuid()),
                    status.map(i64::from),
                    error,
                    next_attempt_at.millis(),
                    state,
                ],
            )?;
            if changed == 0 && !delivery_exists(conn, eid)? {
                return Err(StoreError::NotFound(format!("delivery {eid}")));
            }
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        merchant: MerchantId,
        mode: Mode,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>, StoreError> {
        let q = rows::list_deliveries(merchant, mode, cursor, limit, placeholder)?;
        let items = self
            .read(move |conn| {
                query(
                    conn,
                    &q.sql,
                    rusqlite::params_from_iter(values(q.params)),
                    delivery_row,
                )
            })
            .await?;
        Ok(rows::delivery_page(items, q.fetch))
    }

    async fn redeliver(
        &self,
        merchant: MerchantId,
        mode: Mode,
        eid: EventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?3, \
                 delivered_at = NULL WHERE id = ?1 AND merchant_id = ?2 AND mode = ?4",
                params![
                    id(eid.uuid()),
                    id(merchant.uuid()),
                    now.millis(),
                    mode.as_str()
                ],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    async fn set_node_drained(
        &self,
        node: &str,
        drained: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let node = node.to_owned();
        self.write(move |conn| {
            if drained {
                execute(
                    conn,
                    "INSERT INTO node_drains (node, since) VALUES (?1, ?2) \
                     ON CONFLICT (node) DO NOTHING",
                    params![node, now.millis()],
                )
            } else {
                execute(
                    conn,
                    "DELETE FROM node_drains WHERE node = ?1",
                    params![node],
                )
            }
            .map(drop)
        })
        .await
    }

    async fn drained_nodes(&self) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| {
            query(
                conn,
                "SELECT node FROM node_drains ORDER BY node",
                [],
                |row| {
                    row.get::<_, String>(0)
                        .map_err(|e| corrupt("node_drains.node", e))
                },
            )
        })
        .await
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let count = query_one(
                conn,
                "SELECT COUNT(*) AS pending FROM webhook_deliveries WHERE state = 'pending'",
                [],
                |row| {
                    Columns {
                        row,
                        table: "webhook_deliveries",
                    }
                    .get::<i64>("pending")
                },
            )?
            .unwrap_or(0);
            u64::try_from(count).map_err(|_| corrupt("webhook_deliveries (count)", count))
        })
        .await
    }
    async fn admit_call(
        &self,
        admit: &AdmitCall,
        create: Option<&NewVerification>,
    ) -> Result<Admission, StoreError> {
        let admit = admit.clone();
        let created = create.map(|new| Verification::pending(new.clone()));
        self.write(move |conn| {
            // Inside the writer's BEGIN IMMEDIATE: the write lock is held, so
            // the counts read below stay true until the commit (see the
            // migration).
            let tx = conn.savepoint().map_err(db)?;
            let (merchant, mode) = (id(admit.scope.merchant.uuid()), admit.scope.mode.as_str());
            if admit.velocity.is_some() {
                let within = query(
                    &tx,
                    "SELECT at FROM call_attempts WHERE merchant_id = ?1 AND mode = ?2 \
                     AND phone = ?3 AND at > ?4 ORDER BY at",
                    params![
                        merchant,
                        mode,
                        admit.phone,
                        admission::window_start(&admit).millis()
                    ],
                    |row| {
                        row.get::<_, i64>(0)
                            .map_err(|e| corrupt("call_attempts.at", e))
                    },
                )?;
                if let Some(retry_at) = admission::velocity_refusal(&admit, &within) {
                    return Ok(Admission::Velocity { retry_at });
                }
            }
            if let Some(cap) = admit.daily_cap {
                let today = count(
                    &tx,
                    "SELECT COUNT(*) FROM call_attempts WHERE merchant_id = ?1 AND mode = ?2 \
                     AND at >= ?3",
                    params![merchant, mode, admit.day_start.millis()],
                )?;
                if today >= i64::from(cap) {
                    return Ok(Admission::DailyCap);
                }
            }
            let leased = match &admit.lease {
                Some(terms) => {
                    let leased = take_lease(&tx, admit.scope, terms, admit.now)?;
                    if !leased && terms.required {
                        return Ok(Admission::ChannelsFull);
                    }
                    leased
                }
                None => false,
            };
            execute(
                &tx,
                "INSERT INTO call_attempts (merchant_id, mode, phone, at) VALUES (?1, ?2, ?3, ?4)",
                params![merchant, mode, admit.phone, admit.now.millis()],
            )?;
            execute(
                &tx,
                "DELETE FROM call_attempts WHERE merchant_id = ?1 AND mode = ?2 AND at < ?3",
                params![merchant, mode, admission::prune_before(&admit).millis()],
            )?;
            if let Some(created) = &created {
                insert_verification(&tx, created)?;
            }
            tx.commit().map_err(db)?;
            Ok(Admission::Admitted { leased })
        })
        .await
    }

    async fn acquire_lease(
        &self,
        scope: LimitScope,
        terms: &LeaseTerms,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let terms = *terms;
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(db)?;
            let leased = take_lease(&tx, scope, &terms, now)?;
            tx.commit().map_err(db)?;
            Ok(leased)
        })
        .await
    }

    async fn renew_leases(
        &self,
        holders: &[VerificationId],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let holders: Vec<String> = holders.iter().map(|h| id(h.uuid())).collect();
        self.write(move |conn| {
            let tx = conn.savepoint().map_err(db)?;
            let mut renewed = 0;
            for holder in &holders {
                renewed += execute(
                    &tx,
                    "UPDATE channel_leases SET expires_at = ?3 \
                     WHERE holder = ?1 AND expires_at > ?2",
                    params![holder, now.millis(), expires_at.millis()],
                )?;
            }
            tx.commit().map_err(db)?;
            Ok(renewed as u64)
        })
        .await
    }

    async fn release_lease(&self, holder: VerificationId) -> Result<bool, StoreError> {
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM channel_leases WHERE holder = ?1",
                params![id(holder.uuid())],
            )
            .map(|released| released > 0)
        })
        .await
    }

    async fn limit_usage(
        &self,
        scope: LimitScope,
        now: Timestamp,
        day_start: Timestamp,
    ) -> Result<LimitUsage, StoreError> {
        self.read(move |conn| {
            let (merchant, mode) = (id(scope.merchant.uuid()), scope.mode.as_str());
            let live = count(
                conn,
                "SELECT COUNT(*) FROM channel_leases WHERE merchant_id = ?1 AND mode = ?2 \
                 AND expires_at > ?3",
                params![merchant, mode, now.millis()],
            )?;
            let today = count(
                conn,
                "SELECT COUNT(*) FROM call_attempts WHERE merchant_id = ?1 AND mode = ?2 \
                 AND at >= ?3",
                params![merchant, mode, day_start.millis()],
            )?;
            Ok(LimitUsage {
                live_channels: u32::try_from(live)
                    .map_err(|_| corrupt("channel_leases (count)", live))?,
                calls_today: u32::try_from(today)
                    .map_err(|_| corrupt("call_attempts (count)", today))?,
            })
        })
        .await
    }
}

/// Takes a lease inside an IMMEDIATE transaction: true if the holder holds
/// one now.
fn take_lease(
    conn: &Connection,
    scope: LimitScope,
    terms: &LeaseTerms,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let (merchant, mode) = (id(scope.merchant.uuid()), scope.mode.as_str());
    let holder = id(terms.holder.uuid());
    let (now, expires) = (now.millis(), terms.expires_at.millis());
    let kept = execute(
        conn,
        "UPDATE channel_leases SET expires_at = ?2 WHERE holder = ?1 AND expires_at > ?3",
        params![holder, expires, now],
    )?;
    if kept > 0 {
        return Ok(true);
    }
    execute(
        conn,
        "DELETE FROM channel_leases WHERE (merchant_id = ?1 AND mode = ?2 AND expires_at <= ?3) \
         OR holder = ?4",
        params![merchant, mode, now, holder],
    )?;
    // Counting stops at the plan's size: the answer is the same, and an
    // admission costs the plan's size at most, not the merchant's load.
    let live = count(
        conn,
        "SELECT COUNT(*) FROM (SELECT 1 FROM channel_leases WHERE merchant_id = ?1 \
         AND mode = ?2 LIMIT ?3)",
        params![merchant, mode, i64::from(terms.max_channels)],
    )?;
    if live >= i64::from(terms.max_channels) {
        return Ok(false);
    }
    execute(
        conn,
        "INSERT INTO channel_leases (holder, merchant_id, mode, acquired_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![holder, merchant, mode, now, expires],
    )?;
    Ok(true)
}

/// The count a `SELECT COUNT(*)` returns.
fn count(conn: &Connection, sql: &str, params: impl Params) -> Result<i64, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |row| row.get(0)))
        .map_err(db)
}

/// Queues a delivery (alone, or inside `finish`'s transaction) in its
/// verification's mode, taken from the verification so that the two
/// cannot disagree: an unknown verification inserts nothing.
fn insert_delivery(conn: &Connection, d: &NewDelivery) -> Result<(), StoreError> {
    let missing = || {
        format!(
            "merchant {} or its verification {}",
            d.merchant_id, d.verification_id
        )
    };
    let inserted = conn
        .prepare_cached(
            "INSERT INTO webhook_deliveries (id, merchant_id, verification_id, mode, url, \
             event_type, payload, created_at, state, attempts, next_attempt_at) \
             SELECT ?1, ?2, ?3, mode, ?4, ?5, ?6, ?7, 'pending', 0, ?7 \
             FROM verifications WHERE id = ?3 AND merchant_id = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                id(d.id.uuid()),
                id(d.merchant_id.uuid()),
                id(d.verification_id.uuid()),
                d.url,
                d.event_type,
                d.payload,
                d.created_at.millis(),
            ])
        })
        .map_err(|e| write_error(e, &format!("delivery {}", d.id), &missing()))?;
    if inserted == 0 {
        return Err(StoreError::NotFound(missing()));
    }
    Ok(())
}

/// An `idempotency_keys` row's response.
fn idempotent_row(c: &Columns<'_, '_>) -> Result<IdempotentResponse, StoreError> {
    let status: i64 = c.get("status")?;
    Ok(IdempotentResponse {
        request_hash: c.get("request_hash")?,
        status: u16::try_from(status).map_err(|_| corrupt("idempotency_keys.status", status))?,
        body: c.get("body")?,
    })
}

fn delivery_exists(conn: &Connection, eid: EventId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM webhook_deliveries WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id(eid.uuid())], |_| Ok(())).optional())
        .map(|found| found.is_some())
        .map_err(db)
}
