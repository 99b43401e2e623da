//! A PostgreSQL server of one test's own, made with the server binaries on
//! the machine (`initdb`, `pg_ctl`), on a free port, so that the test can
//! stop and start it without disturbing any other test. Its data and
//! socket live in a temporary directory, removed with it.
//!
//! PostgreSQL refuses to run as root, and the tests run as root in CI:
//! then the server runs as the `postgres` user (or `nobody`) through
//! `runuser`, and the directory is handed to that user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts the server binaries of PostgreSQL 15, unless
/// `ARSGATE_TEST_PG_BIN` says otherwise.
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL server; stopped (at once) when dropped.
pub struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
    /// The user the server runs as, when the test runs as root.
    user: Option<String>,
    /// Server settings beyond the port, socket and durability (`-c ...`).
    options: String,
}

impl PrivatePg {
    /// Makes a new cluster and starts it on a free port (trust auth, user
    /// `postgres`, no fsync: the test does not survive power loss).
    pub fn start() -> PrivatePg {
        PrivatePg::start_with(None)
    }

    /// [`PrivatePg::start`], with TLS on: `cert` (PEM, the chain the
    /// server presents) and its `key`. Clients may still connect without
    /// TLS (initdb's `host` lines take both).
    pub fn start_with_tls(cert: &[u8], key: &[u8]) -> PrivatePg {
        PrivatePg::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&[u8], &[u8])>) -> PrivatePg {
        let dir = tempfile::tempdir().expect("temporary directory");
        let user = run_as();
        if let Some(user) = &user {
            hand_over(dir.path(), user);
        }
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_path, cert).expect("certificate written");
            std::fs::write(&key_path, key).expect("key written");
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(
                &key_path,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .expect("key made private");
            if let Some(user) = &user {
                hand_over(&cert_path, user);
                hand_over(&key_path, user);
            }
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_path.display(),
                key_path.display()
            );
        }
        let port = free_port();
        let pg = PrivatePg {
            dir,
            port,
            user,
            options,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        pg.start_again();
        pg
    }

    /// The server's URL, without a database name (for `TestDb::postgres_on`).
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server at once, as a crash or a lost host would
    /// (`pg_ctl stop -m immediate`): connections are cut mid-query.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Starts the (stopped) server again on the same port and data.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200{}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of the server binaries (as the server's user); panics with
    /// its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self.output(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// What one of the server binaries (run as the server's user) did.
    fn output(&self, program: &str, args: &[&str]) -> std::process::Output {
        let bin = PathBuf::from(
            std::env::var("ARSGATE_TEST_PG_BIN").unwrap_or_else(|_| DEFAULT_BIN.to_owned()),
        )
        .join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&bin);
                command
            }
            None => Command::new(&bin),
        };
        // The server's user may not enter the test's working directory.
        command.args(args).current_dir(self.dir.path());
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        // Stopping a stopped server fails harmlessly.
        let data = self.data();
        let _ = self.output("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// The user to run the server as: none unless the test runs as root.
fn run_as() -> Option<String> {
    let id = Command::new("id").arg("-u").output().expect("id runs");
    if String::from_utf8_lossy(&id.stdout).trim() != "0" {
        return None;
    }
    let has_postgres = Command::new("id")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success());
    Some(if has_postgres { "postgres" } else { "nobody" }.to_owned())
}

/// Gives `dir` to `user`, so that the server can write its data there.
fn hand_over(dir: &Path, user: &str) {
    let status = Command::new("chown")
        .arg(user)
        .arg(dir)
        .status()
        .expect("chown runs");
    assert!(status.success(), "cannot give {} to {user}", dir.display());
}

/// A TCP port free right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
