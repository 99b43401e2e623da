//! The `arsgate` binary's service commands run as processes from an empty
//! directory (so only the built-in scenarios, prompts and phones exist):
//! `keys create`, `merchants`, `serve` and its shutdown on SIGTERM,
//! `demo --once`, `loadtest`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::serve::{BIN, Served, serve};
use serde_json::{Value, json};
use tokio::process::Command;
const SECRET: &str = "cli test server secret, at least 32 bytes";

/// A configuration whose one FreeSWITCH node is down (sandbox keys never
/// need it) with the sandbox on, keeping everything under `dir`.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("arsgate.yaml");
    let yaml = format!(
        "listen: 127.0.0.1:0\n\
         nodes:\n  - {{ name: fs1, host: 127.0.0.1, port: 1, password: ClueCon, max_channels: 10, \
         dial_string: \"sofia/gateway/kt/{{number}}\" }}\n\
         data_dir: {}\nsandbox:\n  speed: 50\nshutdown:\n  grace: 1s\n",
        dir.join("data").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Runs `arsgate <args>` in `dir` and expects it to succeed; what it
/// printed on stdout.
async fn succeeds(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `arsgate keys create` in `dir`; the printed report.
async fn create_key(dir: &Path, config: &Path, merchant: &str) -> String {
    let args = ["keys", "create", "--merchant", merchant, "--test"];
    succeeds(dir, &[&args[..], &["--config", utf8(config)]].concat()).await
}

/// A temporary path as text (they are UTF-8 here).
fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The value printed after `label` in a report.
fn field<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map_or("", str::trim)
}

/// The JSON body of the response to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// An RFC 3339 time in seconds since the epoch.
fn seconds(value: &Value) -> f64 {
    let text = value.as_str().expect("a time");
    let time = humantime::parse_rfc3339(text).expect("RFC 3339");
    time.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_created_key_works_against_serve_which_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let first = create_key(dir.path(), &config, "shop").await;
    assert!(first.contains("created"), "{first}");
    let key = field(&first, "api key").to_owned();
    assert!(key.starts_with("ars_test_"), "{first}");
    let again = create_key(dir.path(), &config, "shop").await;
    assert!(
        !again.contains("created"),
        "the merchant is reused: {again}"
    );
    assert_ne!(field(&again, "api key"), key, "every key is new");
    assert_eq!(
        field(&again, "merchant"),
        field(&first, "merchant").trim_end_matches(" created")
    );

    let report = succeeds(
        dir.path(),
        &["merchants", "set", "shop", "--code-ttl", "45s"]
            .into_iter()
            .chain(["--max-check-attempts", "2", "--config", utf8(&config)])
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(field(&report, "max check attempts"), "2", "{report}");
    let unknown = Command::new(BIN)
        .current_dir(dir.path())
        .args(["merchants", "show", "nobody", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no merchant named"));

    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env("ARSGATE_SECRET", SECRET)
        // The test suite's variables are not configuration: serve starts.
        .env(
            "ARSGATE_TEST_POSTGRES",
            "postgres://postgres@127.0.0.1:5432",
        )
        .env("ARSGATE_TEST_PG_BIN", "/nowhere")
        .args(["serve", "--config", utf8(&config)]);
    let Served {
        mut child,
        base,
        log,
    } = serve(command).await;
    let started = log
        .lock()
        .unwrap()
        .iter()
        .find(|line| line.contains("arsgate started"))
        .cloned()
        .expect("one startup summary line");
    for field in [
        "nodes=fs1",
        "sandbox=true",
        "xml_curl=false",
        "admin_api=false",
        "store=sqlite:",
    ] {
        assert!(started.contains(field), "{field} in {started}");
    }
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let refused = http
        .get(format!("{base}/v1/verifications"))
        .bearer_auth(format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body = json!({ "phone": "01000000001", "scenario": "read_code" });
    let created = json_of(
        http.post(format!("{base}/v1/verifications"))
            .bearer_auth(&key)
            .json(&body),
    )
    .await;
    let id = created["id"].as_str().expect("created").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let view = json_of(
            http.get(format!("{base}/v1/verifications/{id}"))
                .bearer_auth(&key),
        )
        .await;
        if view["status"] == "finished" {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["outcome"], "completed", "{finished}");
    // The merchant's settings apply to its new verifications.
    assert_eq!(finished["check"]["max_attempts"], 2, "{finished}");
    let ttl = seconds(&finished["check"]["expires_at"]) - seconds(&finished["created_at"]);
    assert!((44.9..=45.1).contains(&ttl), "{ttl} s");

    // Day-2 commands on the same store, while serve runs.
    let with_config = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| (*a).to_owned())
            .chain(["--config".to_owned(), utf8(&config).to_owned()])
            .collect()
    };
    let run = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            succeeds(&dir, &args).await
        }
    };
    let listed: Value =
        serde_json::from_str(&run(with_config(&["keys", "list", "--json"])).await).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    let key_id = field(&first, "key id").to_owned();
    assert_eq!(keys[0]["id"], key_id.as_str(), "oldest first: {listed}");
    assert!(
        keys.iter()
            .all(|k| k["merchant"] == "shop" && k["mode"] == "test" && k["revoked_at"].is_null())
    );
    let merchants: Value =
        serde_json::from_str(&run(with_config(&["merchants", "list", "--json"])).await).unwrap();
    assert_eq!(merchants["merchants"][0]["name"], "shop", "{merchants}");
    assert_eq!(merchants["merchants"][0]["keys"]["test"], 2, "{merchants}");
    let shop: Value =
        serde_json::from_str(&run(with_config(&["merchants", "show", "shop", "--json"])).await)
            .unwrap();
    assert_eq!(shop["max_check_attempts"], 2, "{shop}");
    assert_eq!(shop["code_ttl_seconds"], 45.0, "{shop}");
    assert!(shop.get("webhook_secret").is_none(), "{shop}");

    let revoked = run(with_config(&["keys", "revoke", &key_id])).await;
    assert!(
        revoked.starts_with(&format!("{key_id} revoked at ")),
        "{revoked}"
    );
    let after = http
        .get(format!("{base}/v1/verifications/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "a revoked key is refused at once");
    let other = http
        .get(format!("{base}/v1/verifications"))
        .bearer_auth(field(&again, "api key"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "the merchant's other key still works");
    let again_revoked = run(with_config(&["keys", "revoke", &key])).await;
    assert!(
        again_revoked.contains("already revoked"),
        "named by the whole key: {again_revoked}"
    );
    let table = run(with_config(&["keys", "list", "--merchant", "shop"])).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("KEY"), "{table}");
    assert!(
        lines[1].starts_with(&key_id) && !lines[1].ends_with(" -"),
        "revoked: {table}"
    );
    assert!(lines[2].ends_with(" -"), "not revoked: {table}");
    assert!(!table.contains(&key), "never a key's secret: {table}");

    let pid = child.id().unwrap().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("arsgate stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    // Stopped means stopped listening.
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

/// `serve` without the secret says so at once, before opening the store:
/// here a SQLite file it would create, and a PostgreSQL server that does
/// not answer.
#[tokio::test]
async fn serve_without_the_secret_says_so_before_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    for store in [None, Some("postgres://arsgate:pw@127.0.0.1:1/arsgate")] {
        let mut command = Command::new(BIN);
        command
            .current_dir(dir.path())
            .env_remove("ARSGATE_SECRET")
            .args(["serve", "--config", utf8(&config)]);
        if let Some(url) = store {
            command.env("ARSGATE_STORE__URL", url);
        }
        let output = tokio::time::timeout(Duration::from_secs(10), command.output())
            .await
            .expect("serve gives up at once")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("secret: required") && stderr.contains("ARSGATE_SECRET"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("store") && !stderr.contains("database"),
            "{stderr}"
        );
        assert!(!dir.path().join("data").exists(), "no store was opened");
    }
}

#[tokio::test]
async fn the_demo_walks_every_scenario_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stdout = succeeds(
        dir.path(),
        &["demo", "--once", "--speed", "20", "--listen", "127.0.0.1:0"]
            .into_iter()
            .chain(["--data", utf8(&data)])
            .collect::<Vec<_>>(),
    )
    .await;
    for scenario in [
        "read_code",
        "press_then_read",
        "enter_code",
        "enter_pin",
        "enter_birthdate",
        "consent_record",
        "event_optin",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(scenario) && l.contains("(as expected)")),
            "{scenario} did not end as expected:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("7 of 7 signed webhooks received and verified"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_load_benchmark_places_every_call_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    // Every phone is busy: each call ends as soon as it is placed, so the
    // run is short; the pipeline (API, admission, node choice, originate,
    // the nodes' events, the report) is the same.
    let phones = dir.path().join("phones.yaml");
    std::fs::write(&phones, "default: busy\n").unwrap();
    let run = dir.path().join("run");
    let stdout = succeeds(
        dir.path(),
        &["loadtest", "--calls", "60", "--rate", "200", "--nodes", "2"]
            .into_iter()
            .chain(["--merchants", "3", "--drain", "30s"])
            .chain(["--phones", utf8(&phones), "--dir", utf8(&run)])
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(field(&stdout, "accepted (201)"), "60", "{stdout}");
    assert_eq!(field(&stdout, "calls reaching a node"), "60", "{stdout}");
    assert_eq!(field(&stdout, "every call ended"), "yes", "{stdout}");
    assert!(
        field(&stdout, "refused or failed").starts_with('0'),
        "{stdout}"
    );
    let peak: u64 = field(&stdout, "server peak RSS")
        .trim_end_matches(" MiB")
        .parse::<f64>()
        .map(|mib| mib as u64)
        .unwrap_or(0);
    assert!(peak > 0, "{stdout}");
}

/// A run in which requests were refused fails, after its report, and
/// points to the server's log, which is still there; an unknown scenario
/// is refused before anything starts.
#[tokio::test]
async fn the_load_benchmark_fails_when_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["loadtest", "--calls", "2", "--rate", "50", "--nodes", "1"];
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .args(base)
        .args(["--merchants", "1", "--scenario", "nope"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--scenario nope: no such scenario (there are consent_record,"),
        "{stderr}"
    );
    assert!(!stderr.contains("starting"), "nothing started: {stderr}");

    // consent_record needs request fields the benchmark does not send:
    // every request is refused with 422.
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .args(base)
        .args(["--merchants", "1", "--scenario", "consent_record"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        field(&stdout, "refused or failed"),
        "2  (422: 2)",
        "{stdout}"
    );
    assert!(
        stderr.contains("2 of 2 verifications were refused or failed"),
        "{stderr}"
    );
    let kept = stderr
        .lines()
        .find_map(|l| l.strip_prefix("(the run's files, its configuration and logs, are kept in "))
        .and_then(|rest| rest.strip_suffix(')'))
        .map(std::path::PathBuf::from)
        .expect("the kept directory is named");
    let log = kept.join("serve.log");
    assert!(stderr.contains(utf8(&log)), "{stderr}");
    let text = std::fs::read_to_string(&log).expect("the log named is there");
    assert!(text.contains("arsgate started"), "{text}");
    std::fs::remove_dir_all(kept).unwrap();
}

/// Log lines a person can read: no colour codes when stderr is not a
/// terminal, and one line per migration applied instead of refinery's
/// dump of its SQL (nothing at all once the schema is current).
#[tokio::test]
async fn logs_are_plain_lines_with_one_per_migration() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/migrations/sqlite"
    ))
    .unwrap()
    .count();
    for applied in [migrations, 0] {
        let output = Command::new(BIN)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .args(["keys", "create", "--merchant", "shop", "--test"])
            .args(["--config", utf8(&config)])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr}");
        assert!(!stderr.contains("CREATE TABLE"), "no SQL: {stderr}");
        let lines = stderr
            .lines()
            .filter(|line| line.contains("migration applied"))
            .count();
        assert_eq!(lines, applied, "{stderr}");
    }
}

#[tokio::test]
async fn serve_runs_on_a_newer_additive_schema_and_names_an_incompatible_one() {
    // A rollback: a newer arsgate migrated the database, then this one
    // starts on it.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    create_key(dir.path(), &config, "shop").await;
    let database = dir.path().join("data/arsgate.db");
    common::store::migrate_sqlite_as_newer(
        &database,
        &[(
            "V99__later_feature",
            "CREATE TABLE later_feature (id INTEGER PRIMARY KEY);",
        )],
    );
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env("ARSGATE_SECRET", SECRET)
        .args(["serve", "--config", utf8(&config)]);
    let Served { mut child, log, .. } = serve(command).await;
    child.kill().await.unwrap();
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("schema is newer than this arsgate") && log.contains("V99__later_feature"),
        "{log}"
    );

    common::store::migrate_sqlite_as_newer(
        &database,
        &[
            (
                "V99__later_feature",
                "CREATE TABLE later_feature (id INTEGER PRIMARY KEY);",
            ),
            (
                "V100__merchant_names_case_insensitive",
                "CREATE TABLE IF NOT EXISTS arsgate_schema_compat (version INTEGER PRIMARY KEY, \
                 oldest_compatible INTEGER NOT NULL, reason TEXT NOT NULL); \
                 INSERT INTO arsgate_schema_compat VALUES \
                 (100, 100, 'merchant names became unique regardless of case');",
            ),
        ],
    );
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("ARSGATE_SECRET", SECRET)
        .args(["serve", "--config", utf8(&config)])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("V100__merchant_names_case_insensitive needs an arsgate that knows V100")
            && stderr.contains("merchant names became unique regardless of case"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_waits_for_the_store_naming_the_server_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("ARSGATE_SECRET", SECRET)
        .env(
            "ARSGATE_STORE__URL",
            format!("postgres://arsgate@127.0.0.1:{port}/arsgate"),
        )
        .args(["serve", "--config", utf8(&config), "--wait-for-store", "1s"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let server = format!("postgres at 127.0.0.1:{port}");
    let tries: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("store unavailable at startup; trying again"))
        .collect();
    // Tries at 0 s and 0.5 s, then at 1 s the last, which gives up (on a
    // slow machine a try may take long enough to leave room for fewer).
    assert!(!tries.is_empty(), "{stderr}");
    for line in &tries {
        assert!(
            line.contains(&server) && line.contains("Connection refused"),
            "{line}"
        );
    }
    assert!(tries[0].contains("retry_in=500ms"), "{}", tries[0]);
    let gave_up = format!("gave up after {} tries in 1s", tries.len() + 1);
    assert!(stderr.contains(&gave_up), "{stderr}");
}

/// Waits until a line of `log` contains `text`; that line.
async fn logged(log: &std::sync::Mutex<Vec<String>>, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = log.lock().unwrap().iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `signal` to the process.
async fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

#[tokio::test]
async fn sighup_reloads_the_file_and_logs_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .env("ARSGATE_SECRET", SECRET)
        .args(["serve", "--config", utf8(&config)]);
    let Served { child, log, .. } = serve(command).await;
    let original = std::fs::read_to_string(&config).unwrap();

    // A heavier node, a node more, a plan for a merchant, and an address
    // that only a restart can change.
    let edited = original
        .replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1")
        .replace("max_channels: 10,", "max_channels: 10, weight: 2,")
        .replace(
            "data_dir:",
            "  - { name: fs2, host: 127.0.0.1, port: 2, password: ClueCon, max_channels: 5, \
             dial_string: \"sofia/gateway/kt/{number}\" }\n\
             limits:\n  plans:\n    default: {}\n    gold: { max_channels: 50 }\n  merchants:\n    acme: gold\n\
             data_dir:",
        );
    std::fs::write(&config, &edited).unwrap();
    signal(&child, "-HUP").await;
    let line = logged(&log, "configuration reloaded").await;
    for change in [
        "nodes +fs2 ~fs1(weight 1 -> 2)",
        "plans +gold",
        "merchants +acme",
        "needs restart: listen",
    ] {
        assert!(line.contains(change), "{change} in {line}");
    }

    // A broken file changes nothing, and the log says why.
    std::fs::write(
        &config,
        edited.replace("max_channels: 5,", "max_chanels: 5,"),
    )
    .unwrap();
    signal(&child, "-HUP").await;
    let line = logged(&log, "configuration not reloaded").await;
    assert!(line.contains("max_chanels"), "{line}");

    // Back as it was: the nodes and plans the last good reload applied
    // are undone.
    std::fs::write(&config, &original).unwrap();
    signal(&child, "-HUP").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let line = loop {
        let found = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("configuration reloaded"))
            .nth(1)
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(tokio::time::Instant::now() < deadline, "no second reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for change in [
        "nodes -fs2 ~fs1(weight 2 -> 1)",
        "plans -gold",
        "merchants -acme",
    ] {
        assert!(line.contains(change), "{change} in {line}");
    }
    assert!(!line.contains("needs restart"), "{line}");
}
