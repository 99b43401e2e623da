//! The `arsgate` binary's `sim` and `esl` commands, run as processes.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use arsgate::sim::phone::PhoneScript;
use common::raw::RawPeer;
use common::start_sim;
use regex::Regex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_arsgate");

async fn esl(port: u16, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(["esl", "--port", &port.to_string()])
        .args(args)
        .output()
        .await
        .expect("arsgate runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn esl_api_prints_the_reply_and_fails_on_err() {
    let sim = start_sim(|_| {}).await;
    let port = sim.addr().port();
    let (ok, out, _) = esl(port, &["api", "status"]).await;
    assert!(ok);
    assert!(out.starts_with("UP 0 years"), "{out}");
    let (ok, out, err) = esl(port, &["api", "no_such_cmd"]).await;
    assert!(!ok);
    assert_eq!(out, "-ERR no_such_cmd Command not found!\n");
    assert!(err.contains("FreeSWITCH answered -ERR"), "{err}");
    let (ok, _, err) = esl(port, &["--password", "wrong", "api", "status"]).await;
    assert!(!ok);
    assert!(err.contains("authentication"), "{err}");
}

#[tokio::test]
async fn esl_bgapi_prints_the_job_result() {
    let sim = start_sim(|c| c.speed = 200.0).await;
    sim.set_phone("01000000005", PhoneScript::Busy);
    let port = sim.addr().port();
    let (ok, out, _) = esl(
        port,
        &[
            "bgapi",
            "originate",
            "{origination_uuid=cli-1}sofia/gateway/kt/01000000001",
            "&park()",
        ],
    )
    .await;
    assert!(ok);
    assert_eq!(out, "+OK cli-1\n");
    let (ok, out, _) = esl(
        port,
        &[
            "bgapi",
            "originate",
            "sofia/gateway/kt/01000000005",
            "&park()",
        ],
    )
    .await;
    assert!(!ok);
    assert_eq!(out, "-ERR USER_BUSY\n");
}

#[tokio::test]
async fn esl_events_streams_one_json_object_per_line() {
    let sim = start_sim(|c| c.speed = 200.0).await;
    let mut child = Command::new(BIN)
        .args([
            "esl",
            "--port",
            &sim.addr().port().to_string(),
            "events",
            "CHANNEL_ANSWER",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("arsgate runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the subscription is in place before placing the call.
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    while sim.connections() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    peer.send("bgapi originate {origination_uuid=cli-2}sofia/gateway/kt/01000000001 &park()\n\n")
        .await;
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("an event line")
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    assert_eq!(event["Event-Name"], "CHANNEL_ANSWER");
    assert_eq!(event["Unique-ID"], "cli-2");
    child.kill().await.unwrap();
}

/// Starts `arsgate sim` on a free port, 100 times faster than real time,
/// with the shipped phone book; returns the process and the address its
/// banner names. The process is killed if the test fails.
async fn spawn_sim() -> (Child, SocketAddr) {
    let phones = concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim-phones.yaml");
    spawn_sim_in(Path::new(env!("CARGO_MANIFEST_DIR")), &["--phones", phones]).await
}

/// Starts `arsgate sim` as [`spawn_sim`] does, but in `dir` and with
/// `args` instead of the shipped phone book.
async fn spawn_sim_in(dir: &Path, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["sim", "--listen", "127.0.0.1:0", "--speed", "100"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("arsgate sim runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a banner")
        .unwrap()
        .unwrap();
    let addr = banner
        .split_whitespace()
        .find_map(|w| w.parse::<SocketAddr>().ok())
        .expect("the banner names the address");
    (child, addr)
}

/// Without `--phones`, where there is no `config/sim-phones.yaml`, the
/// simulator plays the sandbox's phones built into the binary (as its
/// usage line says), not "every number answers".
#[tokio::test]
async fn sim_without_phones_plays_the_built_in_sandbox_phones() {
    let empty = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_sim_in(empty.path(), &[]).await;
    let (ok, out, _) = esl(
        addr.port(),
        &[
            "bgapi",
            "originate",
            "sofia/gateway/kt/01000000007",
            "&park()",
        ],
    )
    .await;
    assert!(!ok);
    assert_eq!(
        out, "-ERR USER_BUSY\n",
        "01000000007 is busy in the sandbox"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sim_serves_a_raw_socket_with_freeswitch_reply_texts() {
    let (mut child, addr) = spawn_sim().await;
    let mut peer = RawPeer::authed(addr, "ClueCon").await;
    peer.send("api status\n\n").await;
    assert!(peer.api_body().await.contains("is ready"));
    peer.send("event plain BACKGROUND_JOB\n\n").await;
    assert_eq!(peer.reply().await, "+OK event listener enabled plain");
    peer.send("bgapi originate {origination_uuid=raw-1}sofia/gateway/kt/01000000007 &park()\nJob-UUID: job-1\n\n").await;
    assert_eq!(peer.reply().await, "+OK Job-UUID: job-1");
    let job = peer.event_named("BACKGROUND_JOB").await;
    assert_eq!(
        job.body_text().as_deref(),
        Some("-ERR USER_BUSY\n"),
        "01000000007 is busy in sim-phones.yaml"
    );
    child.kill().await.unwrap();
}

/// Checks `status` output line by line against FreeSWITCH's format: the
/// uptime and the idle CPU vary on a real switch and are matched by form,
/// every other line must be exactly `expected`'s.
fn assert_status(output: &str, expected: [&str; 6]) {
    let lines: Vec<&str> = output.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 8, "{output}");
    let uptime = Regex::new(
        r"^UP \d+ years?, \d+ days?, \d+ hours?, \d+ minutes?, \d+ seconds?, \d+ milliseconds?, \d+ microseconds?\n$",
    )
    .unwrap();
    assert!(uptime.is_match(lines[0]), "{:?}", lines[0]);
    let cpu = Regex::new(r"^min idle cpu \d+\.\d\d/\d+\.\d\d\n$").unwrap();
    assert!(cpu.is_match(lines[6]), "{:?}", lines[6]);
    let exact: Vec<&str> = [&lines[1..6], &lines[7..]].concat();
    let expected: Vec<String> = expected.iter().map(|line| format!("{line}\n")).collect();
    assert_eq!(exact, expected, "{output}");
}

#[tokio::test]
async fn esl_against_the_sim_process_prints_freeswitch_replies() {
    let (mut child, addr) = spawn_sim().await;
    let port = addr.port();

    let (ok, out, err) = esl(port, &["api", "status"]).await;
    assert!(ok, "{err}");
    assert_status(
        &out,
        [
            "FreeSWITCH (Version 1.10.12-release  64bit) is ready",
            "0 session(s) since startup",
            "0 session(s) - peak 0, last 5min 0 ",
            "0 session(s) per Sec out of max 30, peak 0, last 5min 0 ",
            "1000 session(s) max",
            "Current Stack Size/Max 240K/8192K",
        ],
    );

    let (ok, out, err) = esl(
        port,
        &[
            "bgapi",
            "originate",
            "{origination_uuid=cli-sim-1}sofia/gateway/kt/01000000001",
            "&park()",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "+OK cli-sim-1\n");
    let (ok, out, _) = esl(
        port,
        &[
            "bgapi",
            "originate",
            "{origination_uuid=cli-sim-2}sofia/gateway/kt/01000000007",
            "&park()",
        ],
    )
    .await;
    assert!(!ok, "a failed job is a failed command");
    assert_eq!(
        out, "-ERR USER_BUSY\n",
        "01000000007 is busy in sim-phones.yaml"
    );

    // Both calls were sessions, the busy one until its failure (its channel
    // may still be closing); the answered one stays parked.
    let (ok, out, err) = esl(port, &["api", "status"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.get(2), Some(&"2 session(s) since startup"), "{out}");
    let current = Regex::new(r"^[12] session\(s\) - peak 2, last 5min 2 $").unwrap();
    assert!(current.is_match(lines[3]), "{out}");

    child.kill().await.unwrap();
}

#[tokio::test]
async fn esl_can_take_a_node_from_the_configuration_file() {
    let sim = start_sim(|c| c.password = "s3cret".to_owned()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("arsgate.yaml");
    std::fs::write(
        &config,
        format!(
            "nodes:\n  - name: fs-test\n    host: 127.0.0.1\n    port: {}\n    password: s3cret\n    max_channels: 10\n    dial_string: \"sofia/gateway/kt/{{number}}\"\n",
            sim.addr().port()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let output = Command::new(BIN)
        .args([
            "esl", "--config", config, "--node", "fs-test", "api", "version",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    );
    let output = Command::new(BIN)
        .args([
            "esl", "--config", config, "--node", "fs-other", "api", "version",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no node \"fs-other\""));
}

/// `arsgate sim` takes the faults tests give `SimHandle` through its own
/// `sim_fault` command: frozen (nothing answered) or partitioned (nobody
/// greeted) for a while, then back.
#[tokio::test]
async fn sim_faults_are_put_on_through_the_event_socket() {
    let (mut child, addr) = spawn_sim().await;
    let port = addr.port();
    let quick = ["--timeout", "300ms", "api", "status"];
    for fault in ["freeze", "partition"] {
        // 300 simulated seconds are 3 s at the process's speed.
        let (ok, out, _) = esl(port, &["api", "sim_fault", fault, "300"]).await;
        assert!(ok, "{out}");
        assert_eq!(out, format!("+OK {fault} for 300s\n"));
        let (ok, _, err) = esl(port, &quick).await;
        assert!(!ok, "{fault}: nothing answers meanwhile");
        assert!(err.to_lowercase().contains("time"), "{err}");
        let mut back = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if esl(port, &quick).await.0 {
                back = true;
                break;
            }
        }
        assert!(back, "{fault}: the switch answers again");
    }
    let (_, out, _) = esl(port, &["api", "sim_fault", "melt", "1"]).await;
    assert!(
        out.starts_with("-USAGE: freeze <seconds>|partition <seconds>"),
        "{out}"
    );
    child.kill().await.unwrap();
}
