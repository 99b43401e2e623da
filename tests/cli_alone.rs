//! The installed binary alone: every command run as a process from an
//! empty directory, where only what is built into the binary exists —
//! `scenarios check`, `dialplan render`, `init` and then `config check` on
//! what it wrote, and the errors that say which flag or variable to use.

mod common;

use std::path::Path;
use std::process::Output;

use common::repo;
use common::serve::BIN;
use serde_json::Value;
use tokio::process::Command;

/// Runs `arsgate <args>` in `dir` with `env` set and every other
/// `ARSGATE_` variable of the test's environment removed.
async fn arsgate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("ARSGATE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().await.expect("arsgate runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn scenarios_check_and_dialplan_render_use_the_built_in_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let output = arsgate(dir.path(), &["scenarios", "check"], &[]).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("using the scenarios built into arsgate"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("7 scenarios built into arsgate are valid\n"),
        "{stdout}"
    );

    let output = arsgate(dir.path(), &["dialplan", "render", "-o", "dialplan/"], &[]).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    for file in [
        "arsgate.xml",
        "arsgate/read_code.xml",
        "arsgate/enter_pin.xml",
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join("dialplan").join(file)).unwrap(),
            std::fs::read_to_string(repo("dialplan").join(file)).unwrap(),
            "{file} is the committed render"
        );
    }

    // A directory named on the command line must exist: no silent fallback.
    let output = arsgate(dir.path(), &["scenarios", "check", "mine/"], &[]).await;
    assert!(!output.status.success());
    assert!(text(&output).1.contains("mine/: no such directory"));
}

#[tokio::test]
async fn without_a_configuration_the_error_names_the_flag_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["serve"][..],
        &["keys", "create", "--merchant", "shop"],
        &["keys", "list"],
        &["merchants", "list"],
        &["config", "check"],
    ] {
        let output = arsgate(dir.path(), args, &[("ARSGATE_SECRET", &"s".repeat(32))]).await;
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?}");
        for hint in [
            "cannot read config/arsgate.yaml",
            "--config FILE",
            "ARSGATE_CONFIG=FILE",
            "arsgate init",
        ] {
            assert!(stderr.contains(hint), "{args:?}: {hint} in {stderr}");
        }
    }
}

#[tokio::test]
async fn init_writes_a_configuration_that_config_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let output = arsgate(dir.path(), &["init", "site"], &[]).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("arsgate config check"), "{stdout}");
    let site = dir.path().join("site");
    assert_eq!(
        std::fs::read(site.join("config/arsgate.yaml")).unwrap(),
        std::fs::read(repo("config/arsgate.yaml")).unwrap()
    );
    let again = arsgate(dir.path(), &["init", "site"], &[]).await;
    assert!(!again.status.success(), "nothing is replaced unasked");
    assert!(text(&again).1.contains("--force"));

    // The example's node is down here: a warning, and serve would start.
    let port = closed_port().to_string();
    let secret = "s".repeat(32);
    let env = [
        ("ARSGATE_SECRET", secret.as_str()),
        ("ARSGATE_NODES__FS1__PORT", port.as_str()),
    ];
    let output = arsgate(&site, &["config", "check"], &env).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let node = stdout
        .lines()
        .find(|line| line.contains("node fs1"))
        .unwrap_or_default();
    assert!(
        node.starts_with("warning") && node.contains("unreachable"),
        "{stdout}"
    );
    for check in ["secret", "prompts", "scenarios", "sandbox phones", "store"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}: {stdout}"
        );
    }
    assert!(
        stdout.ends_with("ready: serve would start (1 warning(s))\n"),
        "{stdout}"
    );
    assert!(
        site.join("data/arsgate.db").exists(),
        "the store is opened as serve opens it"
    );

    // Without the secret serve would not start: an error, exit status 1.
    let output = arsgate(&site, &["config", "check", "--offline"], &env[1..]).await;
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("ARSGATE_SECRET") && stdout.contains("not ready"),
        "{stdout}"
    );
}

#[tokio::test]
async fn config_check_logs_in_to_the_nodes_and_refuses_a_wrong_password() {
    let sim = common::start_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    assert!(arsgate(dir.path(), &["init"], &[]).await.status.success());
    let port = sim.addr().port().to_string();
    let secret = "s".repeat(32);
    let mut env = vec![
        ("ARSGATE_SECRET", secret.as_str()),
        ("ARSGATE_NODES__FS1__PORT", port.as_str()),
    ];
    let output = arsgate(dir.path(), &["config", "check"], &env).await;
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("ok")
            && l.contains("node fs1")
            && l.contains(&format!("127.0.0.1:{port}: UP "))),
        "{stdout}"
    );
    assert!(stdout.ends_with("ready: serve would start\n"), "{stdout}");

    env.push(("ARSGATE_NODES__FS1__PASSWORD", "not the password"));
    let output = arsgate(dir.path(), &["config", "check", "--json"], &env).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["ready"], false, "{report}");
    let node = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "node fs1")
        .cloned()
        .unwrap();
    assert_eq!(node["status"], "error", "{node}");
    assert!(
        node["detail"].as_str().unwrap().contains("authentication"),
        "{node}"
    );
}

#[tokio::test]
async fn config_check_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    assert!(arsgate(dir.path(), &["init"], &[]).await.status.success());
    let secret = "server-secret-5f1b2c3d4e5f60718293a4b5c6d7e8f9";
    let token = "admin-token-0a1b2c3d4e5f6a7b";
    let db_password = "db-password-9f8e7d6c";
    let node_password = "node-password-1a2b3c";
    let xml_curl_password = "xml-curl-password-4d5e6f";
    let store = format!("postgres://arsgate:{db_password}@db.internal:6432/arsgate");
    let env = [
        ("ARSGATE_SECRET", secret),
        // The deprecated name: read, and warned about.
        ("ARSGATE_ADMIN_TOKEN", token),
        ("ARSGATE_STORE__URL", store.as_str()),
        ("ARSGATE_NODES__FS1__PASSWORD", node_password),
        ("ARSGATE_XML_CURL__ENABLED", "true"),
        ("ARSGATE_XML_CURL__PASSWORD", xml_curl_password),
    ];
    let hidden = [secret, token, db_password, node_password, xml_curl_password];
    for json in [false, true] {
        let mut args = vec!["config", "check", "--offline"];
        if json {
            args.push("--json");
        }
        let output = arsgate(dir.path(), &args, &env).await;
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}{stderr}");
        for value in hidden {
            assert!(
                !stdout.contains(value) && !stderr.contains(value),
                "{value} shown:\n{stdout}{stderr}"
            );
        }
        assert!(
            stderr.contains("ARSGATE_ADMIN_TOKEN is deprecated"),
            "{stderr}"
        );
        if json {
            let report: Value = serde_json::from_str(&stdout).expect("JSON");
            let settings = &report["settings"];
            assert_eq!(settings["secret"], "***");
            assert_eq!(settings["admin"]["token"], "***", "the alias applied");
            assert_eq!(settings["nodes"][0]["password"], "***");
            assert_eq!(settings["xml_curl"]["password"], "***");
            assert_eq!(
                settings["store"]["url"],
                "postgres://db.internal:6432/arsgate"
            );
            assert_eq!(settings["nodes"][0]["name"], "fs1");
            assert_eq!(settings["esl"]["heartbeat_interval"], "20s");
            assert_eq!(report["ready"], true);
            assert!(
                report["overrides"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("ARSGATE_ADMIN__TOKEN")),
                "{report}"
            );
            let statuses: Vec<(&str, &str)> = report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
                .collect();
            assert!(statuses.contains(&("store", "skipped")), "{statuses:?}");
            assert!(
                statuses.contains(&("environment", "warning")),
                "{statuses:?}"
            );
        } else {
            assert!(stdout.contains("  password: '***'"), "{stdout}");
        }
    }
}
