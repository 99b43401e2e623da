//! Fresh, private stores for tests.
//!
//! [`TestDb::sqlite`] is a database file in a temporary directory, removed
//! with it. Open as many handles on it as a test needs with
//! [`TestDb::open`] (a second handle behaves like a second arsgate process
//! on the same file).

use std::path::PathBuf;
use std::sync::Arc;

use arsgate::store::{SqliteStore, Store};

/// A database of one test's own.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite {
        /// Removed (with the file) when the test ends.
        dir: tempfile::TempDir,
    },
}

impl TestDb {
    /// A new, not yet created SQLite file.
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The database's URL, as `arsgate::store::open` and the config take it.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { .. } => format!("sqlite:{}", self.sqlite_path().display()),
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
        }
    }

    /// Runs raw SQL on the database, around the store (to tamper with it).
    pub async fn execute_raw(&self, sql: &str) {
        match self {
            TestDb::Sqlite { .. } => {
                let conn = rusqlite::Connection::open(self.sqlite_path()).expect("open SQLite");
                conn.execute_batch(sql).expect("raw SQL runs");
            }
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("arsgate.db"),
        }
    }
}
