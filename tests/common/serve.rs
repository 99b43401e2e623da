//! `arsgate serve` run as a process, the real binary: started, waited for
//! until it serves, its log kept.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_arsgate");

/// A running `arsgate serve`.
pub struct Served {
    /// The process (killed when dropped).
    pub child: Child,
    /// The API's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// Every line it wrote on stderr, as it goes.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Starts `command` (the binary with its arguments, environment and
/// directory set) and waits until it says where it serves. Its stderr is
/// read for as long as it runs, so it never blocks on a full pipe.
pub async fn serve(mut command: Command) -> Served {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("arsgate serve runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stderr readable") {
            if let Some(url) = line.strip_prefix("arsgate serving on ") {
                return url.trim().to_owned();
            }
            eprintln!("arsgate: {line}");
            log.lock().unwrap().push(line);
        }
        panic!("arsgate exited before serving");
    })
    .await
    .expect("arsgate serves within 30 s");
    let kept = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("arsgate: {line}");
            kept.lock().unwrap().push(line);
        }
    });
    Served { child, base, log }
}
