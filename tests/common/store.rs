//! Fresh, private stores for tests.
//!
//! [`TestDb::sqlite`] is a database file in a temporary directory, removed
//! with it. [`TestDb::postgres`] is a database of its own
//! (`arsgate_test_<random>`) on the PostgreSQL server named by
//! `ARSGATE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`,
//! trust auth), dropped when the `TestDb` is, even when the test fails.
//!
//! Open as many handles on a database as a test needs with
//! [`TestDb::open`]: a second handle behaves like a second arsgate
//! process (SQLite) or replica (PostgreSQL) on the same data.

use std::path::PathBuf;
use std::sync::Arc;

use std::collections::BTreeMap;

use arsgate::domain::{MerchantId, Mode, NewVerification, PhoneNumber, Timestamp, VerificationId};
use arsgate::scenario::Language;
use arsgate::store::{PostgresStore, SqliteStore, Store};
use serde_json::json;

mod sqlite_migrations {
    refinery::embed_migrations!("src/store/migrations/sqlite");
}

mod postgres_migrations {
    refinery::embed_migrations!("src/store/migrations/postgres");
}

/// The server test databases are made on, unless `ARSGATE_TEST_POSTGRES`
/// says otherwise (a URL without a database name).
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// Pooled connections per PostgreSQL handle.
const POOL_SIZE: usize = 8;

/// A database of one test's own.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite {
        /// Removed (with the file) when the test ends.
        dir: tempfile::TempDir,
    },
    /// A PostgreSQL database, dropped when the test ends.
    Postgres(PgDatabase),
}

impl TestDb {
    /// A new, not yet created SQLite file.
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> TestDb {
        let server =
            std::env::var("ARSGATE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        TestDb::postgres_on(&server).await
    }

    /// A new, empty PostgreSQL database on the server at `server` (a URL
    /// without a database name).
    pub async fn postgres_on(server: &str) -> TestDb {
        TestDb::Postgres(PgDatabase::create(server).await)
    }

    /// The database's URL, as `arsgate::store::open` and the config take it.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { .. } => format!("sqlite:{}", self.sqlite_path().display()),
            TestDb::Postgres(db) => db.url(),
        }
    }

    /// A new store handle on the database (the first one migrates it).
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            TestDb::Sqlite { .. } => Arc::new(
                SqliteStore::open(self.sqlite_path())
                    .await
                    .expect("SQLite store opens"),
            ),
            TestDb::Postgres(db) => Arc::new(
                PostgresStore::connect(&db.url(), POOL_SIZE)
                    .await
                    .expect("PostgreSQL store connects"),
            ),
        }
    }

    /// Runs raw SQL on the database, around the store (to tamper with it).
    pub async fn execute_raw(&self, sql: &str) {
        match self {
            TestDb::Sqlite { .. } => {
                let conn = rusqlite::Connection::open(self.sqlite_path()).expect("open SQLite");
                conn.execute_batch(sql).expect("raw SQL runs");
            }
            TestDb::Postgres(db) => {
                let client = connect(&db.url()).await;
                client.batch_execute(sql).await.expect("raw SQL runs");
            }
        }
    }

    /// Brings a new database's schema up to migration `version` only, as
    /// an older arsgate left it, so that a test can store rows of that
    /// schema and watch the later migrations carry them over when the
    /// store opens.
    pub async fn migrate_to(&self, version: u32) {
        let target = refinery::Target::Version(version);
        match self {
            TestDb::Sqlite { .. } => {
                let mut conn = rusqlite::Connection::open(self.sqlite_path()).expect("open SQLite");
                sqlite_migrations::migrations::runner()
                    .set_target(target)
                    .set_grouped(true)
                    .run(&mut conn)
                    .expect("SQLite migrations run");
            }
            TestDb::Postgres(db) => {
                let mut client = connect(&db.url()).await;
                postgres_migrations::migrations::runner()
                    .set_target(target)
                    .set_grouped(true)
                    .run_async(&mut client)
                    .await
                    .expect("PostgreSQL migrations run");
            }
        }
    }

    /// Migrates the database as a newer arsgate would: every migration
    /// this one has, then `newer` (`V99__name` and its SQL), recorded in
    /// refinery's history like the others.
    pub async fn migrate_as_newer(&self, newer: &[(&str, &str)]) {
        match self {
            TestDb::Sqlite { .. } => migrate_sqlite_as_newer(&self.sqlite_path(), newer),
            TestDb::Postgres(db) => {
                let mut client = connect(&db.url()).await;
                with_newer(&postgres_migrations::migrations::runner(), newer)
                    .run_async(&mut client)
                    .await
                    .expect("PostgreSQL migrations run");
            }
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("arsgate.db"),
            TestDb::Postgres(_) => unreachable!("a PostgreSQL database has no file"),
        }
    }
}

/// Migrates the SQLite file at `path` as a newer arsgate would (see
/// [`TestDb::migrate_as_newer`]).
pub fn migrate_sqlite_as_newer(path: &std::path::Path, newer: &[(&str, &str)]) {
    let mut conn = rusqlite::Connection::open(path).expect("open SQLite");
    with_newer(&sqlite_migrations::migrations::runner(), newer)
        .run(&mut conn)
        .expect("SQLite migrations run");
}

/// The runner of a newer arsgate: `embedded`'s migrations, then `newer`.
fn with_newer(embedded: &refinery::Runner, newer: &[(&str, &str)]) -> refinery::Runner {
    let mut migrations = embedded.get_migrations().clone();
    migrations.extend(newer.iter().map(|(name, sql)| {
        refinery::Migration::unapplied(name, sql).expect("a valid migration name")
    }));
    refinery::Runner::new(&migrations).set_grouped(true)
}

/// A PostgreSQL database made for one test.
pub struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    async fn create(server: &str) -> PgDatabase {
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("arsgate_test_{}", uuid::Uuid::new_v4().simple());
        // The maintenance database is only connected to, never changed.
        let admin = connect(&format!("{server}/postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create {name} on {server}: {e}"));
        PgDatabase { server, name }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = format!("{}/postgres", self.server);
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block on a
        // future: a thread with a runtime of its own drops the database.
        // FORCE ends the connections a failed test's pools left open.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                        .await
                        .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// A minimal verification of `scenario` created at `created_at`.
pub fn new_verification(
    merchant: MerchantId,
    scenario: &str,
    created_at: Timestamp,
) -> NewVerification {
    NewVerification {
        id: VerificationId::new(),
        merchant_id: merchant,
        mode: Mode::Test,
        scenario: scenario.to_owned(),
        phone: PhoneNumber::parse("010-1234-5678").expect("valid phone"),
        language: Language::Ko,
        callback_url: None,
        notify_answered: false,
        customer_ref: None,
        metadata: json!({}),
        fields: BTreeMap::new(),
        code_digest: None,
        code_expires_at: None,
        birthdate_digest: None,
        max_check_attempts: 5,
        created_at,
    }
}
