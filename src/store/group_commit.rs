//! The SQLite store's writer: one thread owning the write connection that
//! commits the writes of many tasks together.
//!
//! A commit with `synchronous = FULL` waits for the disk (an fsync), and
//! one disk wait per write caps the store at a few hundred writes a
//! second. Writes that arrive while a commit is under way are instead run
//! together in the next transaction, each inside its own savepoint so that
//! one write's failure rolls back only that write, and the whole group is
//! committed with one disk wait. No caller hears of its write until the
//! transaction holding it has committed; if the commit fails, every write
//! in the group fails with it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// Writes committed together at most.
const GROUP: usize = 256;

/// Tells a caller how its write ended once the group's commit is known
/// (`None`: committed).
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// A write: runs on the connection inside its savepoint (or, given why
/// there is no transaction to run in, does not run), and returns how to
/// reply once the commit is known.
type Job = Box<dyn FnOnce(Result<&mut Connection, &str>) -> Reply + Send>;

/// The handle writes are sent through; the thread ends when every handle
/// is gone.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(conn, &queue))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` in the next group; its result once that group committed.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tell, told) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(why) => Err(StoreError::Database(format!("sqlite: begin: {why}"))),
            };
            Box::new(move |commit_failure: Option<&str>| {
                let outcome = match commit_failure {
                    None => result,
                    Some(why) => Err(StoreError::Database(format!("sqlite: commit: {why}"))),
                };
                let _ = tell.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Database("sqlite: the writer has stopped".to_owned()))?;
        told.await.unwrap_or_else(|_| {
            Err(StoreError::Database(
                "sqlite: the writer has stopped".to_owned(),
            ))
        })
    }
}

/// Runs `f` inside a savepoint: released if it succeeds, rolled back if it
/// fails or panics (a panic becomes an error for its caller alone).
fn in_savepoint<T, F>(conn: &mut Connection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut Connection) -> Result<T, StoreError>,
{
    // Prepared once and kept: every write runs these two, and parsing
    // them each time (`execute_batch`) costs more than running them.
    run_cached(conn, "SAVEPOINT job")
        .map_err(|e| StoreError::Database(format!("sqlite: savepoint: {e}")))?;
    let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Database(
            "sqlite: a write panicked and was rolled back".to_owned(),
        )),
    };
    let ended = if result.is_ok() {
        run_cached(conn, "RELEASE job")
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    match ended {
        Ok(()) => result,
        Err(e) => Err(StoreError::Database(format!(
            "sqlite: ending a savepoint: {e}"
        ))),
    }
}

/// Runs one statement of no parameters and no rows from the connection's
/// statement cache.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn run(mut conn: Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let why = e.to_string();
            for job in group {
                job(Err(&why))(None);
            }
            continue;
        }
        let replies: Vec<Reply> = group.into_iter().map(|job| job(Ok(&mut conn))).collect();
        let failure = conn.execute_batch("COMMIT").err().map(|e| e.to_string());
        if failure.is_some() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(failure.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        (dir, Writer::start(conn).unwrap())
    }

    fn insert(k: i64) -> impl FnOnce(&mut Connection) -> Result<(), StoreError> + Send {
        move |conn| {
            conn.execute("INSERT INTO t (k) VALUES (?1)", [k])
                .map(drop)
                .map_err(|e| StoreError::Database(e.to_string()))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_write_takes_nothing_else_with_it() {
        let (_dir, writer) = writer();
        let writer = std::sync::Arc::new(writer);
        writer.write(insert(7)).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..200_i64 {
            let writer = std::sync::Arc::clone(&writer);
            tasks.spawn(async move {
                let result = match k {
                    // Taken already: a constraint failure.
                    7 => writer.write(insert(7)).await,
                    13 => {
                        writer
                            .write(|conn: &mut Connection| {
                                conn.execute("INSERT INTO t (k) VALUES (1013)", []).unwrap();
                                panic!("a bug in one write");
                            })
                            .await
                    }
                    k => writer.write(insert(k + 1000)).await,
                };
                (k, result.is_ok())
            });
        }
        let mut failed = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (k, ok) = joined.unwrap();
            if !ok {
                failed.push(k);
            }
        }
        failed.sort_unstable();
        assert_eq!(failed, vec![7, 13]);
        let keys: Vec<i64> = writer
            .write(|conn: &mut Connection| {
                let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").unwrap();
                let rows = stmt.query_map([], |r| r.get(0)).unwrap();
                Ok(rows.map(Result::unwrap).collect())
            })
            .await
            .unwrap();
        // 7 once, every other write's key, and nothing of the panicking one.
        let mut expected: Vec<i64> = vec![7];
        expected.extend((0..200).filter(|k| *k != 7 && *k != 13).map(|k| k + 1000));
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn a_write_is_told_only_after_its_commit() {
        let (dir, writer) = writer();
        writer.write(insert(1)).await.unwrap();
        // Another connection sees the row as soon as the write returns.
        let other = Connection::open(dir.path().join("t.db")).unwrap();
        let count: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }
}
