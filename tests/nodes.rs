//! The live node pool against two or three simulated FreeSWITCH nodes over
//! real TCP: failover on a node's own refusal (and never on a customer's
//! outcome), drain and resume, a node killed under load (its calls lost and
//! ended, new calls elsewhere), a call that survives a reconnect, the admin
//! API and the `arsgate nodes` command.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use arsgate::config::{Config, Secret};
use arsgate::sim::phone::{PhoneScript, SipStatus};
use common::app::TestApp;
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arsgate");

/// The admin token the tests configure.
const TOKEN: &str = "admin token for the node tests";

/// Places a live call to `phone` with scenario `read_code` and waits for
/// its end.
async fn call(app: &TestApp, key: &str, phone: &str) -> Value {
    let created = app
        .create(key, &json!({ "phone": phone, "scenario": "read_code" }))
        .await;
    app.finished(key, created["id"].as_str().unwrap()).await
}

/// The hangup causes in a verification's timeline, in order.
fn causes(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["event"] == "hung_up")
        .map(|entry| entry["cause"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// How many times the call was placed (`originated` entries).
fn attempts(view: &Value) -> usize {
    view["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["event"] == "originated")
        .count()
}

/// Two nodes; the first weighs more, so every call is offered to it first.
fn first_node_preferred(config: &mut Config) {
    config.nodes[0].weight = NonZeroU32::new(10).unwrap();
    config.admin.token = Some(Secret::new(TOKEN));
}

/// `method /admin/...` with `token`.
async fn admin(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> (u16, Value) {
    app.call(method, path, token, None).await
}

/// The admin API's view of node `name`.
async fn node(app: &TestApp, name: &str) -> Value {
    let (status, body) = admin(app, Method::GET, "/admin/nodes", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no node {name}: {body}"))
}

/// How many times `number` was dialled, over every node.
fn rang(app: &TestApp, number: &str) -> usize {
    app.nodes
        .iter()
        .flat_map(|sim| sim.dialled())
        .filter(|dialled| dialled == number)
        .count()
}

/// Every number the nodes have dialled, all nodes together.
fn dialled(app: &TestApp) -> usize {
    app.nodes.iter().map(|node| node.dialled().len()).sum()
}

/// Starts a live `read_code` call to `phone` and waits until a node has
/// dialled it (or it ended without being dialled). Its status turns
/// `calling` before the originate is sent, so that alone is not enough.
async fn start_call(app: &TestApp, key: &str, phone: &str) -> String {
    let before = dialled(app);
    let created = app
        .create(key, &json!({ "phone": phone, "scenario": "read_code" }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, view) = app.get(&format!("/v1/verifications/{id}"), key).await;
        if dialled(app) > before || view["status"] == "finished" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dialled: {view}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_own_max_sessions_hands_the_call_to_another_once() {
    let db = TestDb::sqlite();
    // fs1 refuses every new session itself ("Over Session Limit").
    let app = TestApp::start_cluster(
        &db,
        2,
        |index, sim| {
            if index == 0 {
                sim.max_sessions = 0;
            }
        },
        first_node_preferred,
    )
    .await;
    let m = app.merchant("acme").await;

    let view = call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(view["outcome"], "completed", "{view}");
    assert_eq!(attempts(&view), 2, "{view}");
    assert_eq!(
        causes(&view).first().map(String::as_str),
        Some("DESTINATION_OUT_OF_ORDER"),
        "the refusal stays in the record: {view}"
    );
    assert!(
        app.nodes[0].dialled().is_empty(),
        "fs1 never created the call"
    );
    assert_eq!(
        app.nodes[1].dialled(),
        ["01000000001"],
        "the customer's phone rang once, through fs2"
    );
    let stored = app
        .store
        .verification_by_id(
            arsgate::domain::VerificationId::parse(view["id"].as_str().unwrap()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.node.as_deref(), Some("fs2"));
}

/// A node in a graceful FreeSWITCH shutdown keeps its event socket open
/// about 1.2 s after its last channel is gone and answers `bgapi
/// originate` with `-ERR CHAN_NOT_IMPLEMENTED` before any channel exists
/// (seen on a real 1.10.12, issue 10 finding 7; switch_core_session.c,
/// switch_core_session_outgoing_channel, once mod_sofia is unloaded). That
/// is the node's own refusal: the call goes to the other node, and the
/// customer's phone rings once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shutting_down_hands_the_call_to_another_once() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |index, sim| {
            if index == 0 {
                // The real 1.2 s window, widened so the call surely meets it.
                sim.shutdown_linger = Duration::from_secs(600);
            }
        },
        first_node_preferred,
    )
    .await;
    let m = app.merchant("acme").await;

    // The shutdown starts (its first poll hangs up and stops taking calls),
    // then lingers in the background.
    let fs1 = app.nodes[0].clone();
    let mut shutdown = Box::pin(async move { fs1.shutdown().await });
    std::future::poll_fn(|cx| {
        assert!(shutdown.as_mut().poll(cx).is_pending(), "still lingering");
        std::task::Poll::Ready(())
    })
    .await;
    let lingering = tokio::spawn(shutdown);

    let view = call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(view["outcome"], "completed", "{view}");
    assert_eq!(attempts(&view), 2, "{view}");
    assert_eq!(
        causes(&view).first().map(String::as_str),
        Some("CHAN_NOT_IMPLEMENTED"),
        "the refusal stays in the record: {view}"
    );
    assert!(
        app.nodes[0].dialled().is_empty(),
        "fs1 never created the call"
    );
    assert_eq!(
        app.nodes[1].dialled(),
        ["01000000001"],
        "the customer's phone rang once, through fs2"
    );
    assert!(!lingering.is_finished(), "fs1 was still in its shutdown");
    lingering.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_with_no_other_node_left_is_final() {
    let db = TestDb::sqlite();
    let app =
        TestApp::start_cluster(&db, 2, |_, sim| sim.max_sessions = 0, first_node_preferred).await;
    let m = app.merchant("acme").await;
    let view = call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(view["outcome"], "network_error", "{view}");
    assert_eq!(
        attempts(&view),
        2,
        "tried once on each node, no more: {view}"
    );
    assert!(
        causes(&view)
            .iter()
            .all(|cause| cause == "DESTINATION_OUT_OF_ORDER")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_outcomes_are_never_retried() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let m = app.merchant("acme").await;
    for (phone, dialled, outcome) in [
        ("010-0000-0007", "01000000007", "busy"),
        ("010-0000-0008", "01000000008", "rejected"),
        ("010-0000-0009", "01000000009", "invalid_number"),
        ("010-0000-0006", "01000000006", "no_answer"),
    ] {
        let view = call(&app, &m.live, phone).await;
        assert_eq!(view["outcome"], outcome, "{view}");
        assert_eq!(attempts(&view), 1, "{view}");
        assert_eq!(rang(&app, dialled), 1, "{phone} was dialled once");
    }
    assert!(app.nodes[1].dialled().is_empty(), "nothing went to fs2");
}

/// A far end that answers the INVITE with `100 Trying` then a `500` or
/// `503` ends as `NORMAL_TEMPORARY_FAILURE`, the cause a node's own
/// transient failure has too; seen on a real FreeSWITCH, where arsgate
/// used to place every such call again on the other node and so rang the
/// customer twice. The channel existed (capture
/// `arsgate-sessions/X1_unreachable_nosipp`: CHANNEL_HANGUP with
/// `variable_sip_term_status: 503` before the job's `-ERR`), so the
/// outcome is the customer's: dialled once, never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_end_failure_status_is_never_dialled_again() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let m = app.merchant("acme").await;
    for (index, status) in [500u16, 503, 400].into_iter().enumerate() {
        let number = format!("0100000090{index}");
        for sim in &app.nodes {
            sim.set_phone(
                &number,
                PhoneScript::Fail(SipStatus::try_from(status).unwrap()),
            );
        }
        let phone = format!("010-0000-090{index}");
        let view = call(&app, &m.live, &phone).await;
        assert_eq!(view["outcome"], "network_error", "{status}: {view}");
        assert_eq!(attempts(&view), 1, "{status}: placed once: {view}");
        assert_eq!(causes(&view), ["NORMAL_TEMPORARY_FAILURE"], "{view}");
        assert_eq!(
            rang(&app, &number),
            1,
            "{status}: the phone was dialled once"
        );
    }
    // The unreachable target (sofia's local 503 after an ICMP error) had a
    // channel too: the INVITE left the node.
    let view = call(&app, &m.live, "010-0000-0011").await;
    assert_eq!(view["outcome"], "network_error", "{view}");
    assert_eq!(attempts(&view), 1, "{view}");
    assert!(app.nodes[1].dialled().is_empty(), "nothing went to fs2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_its_token_and_is_off_without_one() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let m = app.merchant("acme").await;
    for (method, path) in [
        (Method::GET, "/admin/nodes"),
        (Method::POST, "/admin/nodes/fs1/drain"),
        (Method::POST, "/admin/nodes/fs1/resume"),
    ] {
        let (status, body) = admin(&app, method.clone(), path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _) = admin(&app, method.clone(), path, Some("not the admin token")).await;
        assert_eq!(status, 401, "{path}");
        let (status, _) = admin(&app, method, path, Some(&m.live)).await;
        assert_eq!(status, 401, "a merchant's key is no admin token: {path}");
    }
    assert_eq!(
        node(&app, "fs1").await["draining"],
        false,
        "nothing drained"
    );
    let (status, body) = admin(&app, Method::POST, "/admin/nodes/fs9/drain", Some(TOKEN)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let fs1 = loop {
        let fs1 = node(&app, "fs1").await;
        if fs1["status_ok"] != Value::Null || tokio::time::Instant::now() > deadline {
            break fs1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(fs1["connected"], true);
    assert_eq!(fs1["max_channels"], 1000);
    assert_eq!(fs1["cps"], 1000);
    assert_eq!(fs1["weight"], 10);
    assert_eq!(fs1["live_channels"], 0);
    assert_eq!(fs1["status_ok"], true, "the status probe ran: {fs1}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node(&app, "fs2").await["heartbeat_age_ms"] == Value::Null {
        assert!(tokio::time::Instant::now() < deadline, "no heartbeat seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let db = TestDb::sqlite();
    let off = TestApp::start(&db).await;
    let (status, _) = admin(&off, Method::GET, "/admin/nodes", Some(TOKEN)).await;
    assert_eq!(status, 404, "no admin token configured: no admin API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_takes_no_new_calls_and_its_live_call_finishes() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let m = app.merchant("acme").await;

    let live = start_call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(
        app.nodes[0].dialled().len(),
        1,
        "fs1 carries the first call"
    );
    assert_eq!(node(&app, "fs1").await["live_channels"], 1);

    let (status, drained) = admin(&app, Method::POST, "/admin/nodes/fs1/drain", Some(TOKEN)).await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["draining"], true);
    assert_eq!(drained["live_channels"], 1);

    let view = call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(view["outcome"], "completed", "{view}");
    assert_eq!(app.nodes[0].dialled().len(), 1, "nothing new on fs1");
    assert_eq!(app.nodes[1].dialled().len(), 1, "fs2 took it");

    let first = app.finished(&m.live, &live).await;
    assert_eq!(
        first["outcome"], "completed",
        "the drained node's call ended normally"
    );
    assert_eq!(node(&app, "fs1").await["live_channels"], 0);

    let (status, resumed) = admin(&app, Method::POST, "/admin/nodes/fs1/resume", Some(TOKEN)).await;
    assert_eq!((status, &resumed["draining"]), (200, &json!(false)));
    call(&app, &m.live, "010-0000-0001").await;
    assert_eq!(app.nodes[0].dialled().len(), 2, "fs1 takes calls again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_draining_refuses_the_call_without_dialling() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let m = app.merchant("acme").await;
    for name in ["fs1", "fs2"] {
        let path = format!("/admin/nodes/{name}/drain");
        assert_eq!(admin(&app, Method::POST, &path, Some(TOKEN)).await.0, 200);
    }
    // Running out of room is its own answer, given at the door: nothing
    // is stored, and the merchant knows when to try again.
    let response = app
        .request(
            Method::POST,
            "/v1/verifications",
            Some(&m.live),
            Some(&json!({ "phone": "010-0000-0001", "scenario": "read_code" })),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "no_capacity", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("draining"),
        "{problem}"
    );
    let (_, listed) = app.get("/v1/verifications", &m.live).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
    assert!(app.nodes.iter().all(|sim| sim.dialled().is_empty()));
}

/// Runs `arsgate nodes ARGS` against `app`; success, stdout, stderr.
async fn nodes_cli(app: &TestApp, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("nodes")
        .args(["--url", &app.base])
        .args(args)
        .env_remove("ARSGATE_ADMIN_TOKEN")
        .env_remove("ARSGATE_ADMIN__TOKEN");
    if let Some(token) = token {
        command.env("ARSGATE_ADMIN__TOKEN", token);
    }
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("the CLI ends")
        .expect("the CLI runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_command_shows_drains_and_resumes() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;

    let (ok, out, err) = nodes_cli(&app, Some(TOKEN), &["status"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    let fs1: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fs1[0], "fs1");
    assert_eq!(fs1[1], "yes", "connected: {out}");
    // The heartbeat's age is one or two words: count from the end (the
    // modules, last, are one word here: `ok`, or `-` before the check).
    assert_eq!(fs1[fs1.len() - 7], "up", "{out}");
    assert_eq!(fs1[fs1.len() - 6], "0/1000", "calls: {out}");
    assert_eq!(
        &fs1[fs1.len() - 4..fs1.len() - 1],
        ["1000", "10", "no"],
        "{out}"
    );

    let (ok, out, err) = nodes_cli(&app, Some(TOKEN), &["drain", "fs2"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("fs2: draining"), "{out}");
    assert_eq!(node(&app, "fs2").await["draining"], true);
    let (_, out, _) = nodes_cli(&app, Some(TOKEN), &["status"]).await;
    let fs2: Vec<&str> = out.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(fs2[fs2.len() - 2], "yes", "draining: {out}");

    let (ok, out, _) = nodes_cli(&app, Some(TOKEN), &["resume", "fs2"]).await;
    assert!(ok);
    assert_eq!(out, "fs2: taking new calls\n");
    assert_eq!(node(&app, "fs2").await["draining"], false);

    let (ok, _, err) = nodes_cli(&app, Some("wrong token, long enough"), &["status"]).await;
    assert!(!ok);
    assert!(err.contains("admin token was refused"), "{err}");
    let (ok, _, err) = nodes_cli(&app, Some(TOKEN), &["drain", "fs9"]).await;
    assert!(!ok);
    assert!(err.contains("fs9"), "{err}");
    let (ok, _, err) = nodes_cli(&app, None, &["status"]).await;
    assert!(!ok, "the token is required");
    assert!(
        err.contains("--token") && err.contains("ARSGATE_ADMIN__TOKEN"),
        "{err}"
    );

    // The token's former name still works, with a warning.
    let output = tokio::process::Command::new(BIN)
        .args(["nodes", "--url", &app.base, "status", "--json"])
        .env_remove("ARSGATE_ADMIN__TOKEN")
        .env("ARSGATE_ADMIN_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("ARSGATE_ADMIN_TOKEN is deprecated: rename it ARSGATE_ADMIN__TOKEN"),
        "{stderr}"
    );
    let listed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        listed["nodes"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_its_calls_and_the_others_take_new_ones() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        3,
        |_, _| {},
        |config| {
            // Ringing calls stay live for the whole test.
            config.calls.ring_timeout = Duration::from_secs(600);
            config.admin.token = Some(Secret::new(TOKEN));
        },
    )
    .await;
    let m = app.merchant("acme").await;
    let ringing = |app: &TestApp, key: &str| {
        let body = json!({
            "phone": "010-0000-0006",
            "scenario": "read_code",
            "callback_url": app.hooks.url(),
        });
        let key = key.to_owned();
        let request = app.request(Method::POST, "/v1/verifications", Some(&key), Some(&body));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut before = Vec::new();
    for _ in 0..9 {
        before.push(ringing(&app, &m.live).await);
    }
    for id in &before {
        app.wait_for(&m.live, id, |v| v["status"] == "calling")
            .await;
    }
    let node_of = async |id: &str| {
        let id = arsgate::domain::VerificationId::parse(id).unwrap();
        let stored = app.store.verification_by_id(id).await.unwrap().unwrap();
        stored.node.unwrap()
    };
    let mut on_fs1 = Vec::new();
    for id in &before {
        if node_of(id).await == "fs1" {
            on_fs1.push(id.clone());
        }
    }
    assert_eq!(on_fs1.len(), 3, "equal nodes share the calls");

    let killed = app.nodes[0].addr();
    let dialled_before: Vec<usize> = app.nodes.iter().map(|sim| sim.dialled().len()).collect();
    app.nodes[0].kill();
    let killed_at = tokio::time::Instant::now();
    while node(&app, "fs1").await["connected"] == true {
        assert!(
            killed_at.elapsed() < Duration::from_secs(1),
            "arsgate sees the node gone within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut after = Vec::new();
    for _ in 0..6 {
        after.push(ringing(&app, &m.live).await);
    }
    for id in &after {
        app.wait_for(&m.live, id, |v| v["status"] == "calling")
            .await;
    }
    let placed: usize = app.nodes[1..]
        .iter()
        .zip(&dialled_before[1..])
        .map(|(sim, before)| sim.dialled().len() - before)
        .sum();
    assert_eq!(placed, 6, "the new calls went to the other nodes");
    assert_eq!(app.nodes[0].dialled().len(), dialled_before[0]);
    for id in &after {
        assert_ne!(node_of(id).await, "fs1");
    }
    for id in &on_fs1 {
        let view = app.get(&format!("/v1/verifications/{id}"), &m.live).await.1;
        assert_ne!(
            view["status"], "finished",
            "unknown, not final, while fs1 is away"
        );
        let events: Vec<&str> = view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        assert!(events.contains(&"unknown"), "{view}");
    }
    let fs1 = node(&app, "fs1").await;
    assert_eq!(
        (&fs1["connected"], &fs1["live_channels"]),
        (&json!(false), &json!(3))
    );

    // FreeSWITCH comes back on the same address (a new instance): arsgate
    // reconnects, finds none of the calls, and ends them.
    let _back = common::start_sim(|c| {
        c.listen = killed;
        c.speed = common::app::SPEED;
    })
    .await;
    for id in &on_fs1 {
        let view = app.finished(&m.live, id).await;
        assert_eq!(view["outcome"], "network_error", "{view}");
        assert!(
            view["reason"].as_str().unwrap().starts_with("lost"),
            "{view}"
        );
        let hook = app.hooks.finished(id).await;
        assert!(hook.signed);
        assert_eq!(hook.body["data"]["outcome"], "network_error");
    }
    for id in before
        .iter()
        .filter(|id| !on_fs1.contains(id))
        .chain(&after)
    {
        let view = app.get(&format!("/v1/verifications/{id}"), &m.live).await.1;
        assert_eq!(
            view["status"], "calling",
            "calls on the other nodes go on: {view}"
        );
    }
    assert_eq!(node(&app, "fs1").await["live_channels"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_up_after_a_reconnect_is_followed_on() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |config| {
        config.calls.ring_timeout = Duration::from_secs(600);
    })
    .await;
    let m = app.merchant("acme").await;
    let id = start_call(&app, &m.live, "010-0000-0006").await;
    app.wait_for(&m.live, &id, |v| {
        v["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(|e| e["event"] == "ringing"))
    })
    .await;

    app.live.drop_connections_mid_frame();
    let view = app
        .wait_for(&m.live, &id, |v| {
            v["timeline"]
                .as_array()
                .is_some_and(|t| t.iter().any(|e| e["event"] == "reconciled"))
        })
        .await;
    let events: Vec<&Value> = view["timeline"].as_array().unwrap().iter().collect();
    assert!(events.iter().any(|e| e["event"] == "unknown"), "{view}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "reconciled" && e["up"] == true),
        "{view}"
    );
    assert_eq!(view["status"], "calling");

    // Still followed: a cancel reaches the call and its hangup comes back.
    app.cancel(&m.live, &id).await;
    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "canceled", "{view}");
    assert_eq!(
        causes(&view).last().map(String::as_str),
        Some("ORIGINATOR_CANCEL"),
        "{view}"
    );
    assert_eq!(app.live.channels(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_max_channels_takes_no_new_call() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |_, _| {},
        |config| {
            first_node_preferred(config);
            config.calls.ring_timeout = Duration::from_secs(600);
            for node in &mut config.nodes {
                node.max_channels = NonZeroU32::new(1).unwrap();
            }
        },
    )
    .await;
    let m = app.merchant("acme").await;
    // fs1 (preferred) holds its one channel, so the second call goes to fs2.
    let first = start_call(&app, &m.live, "010-0000-0006").await;
    let second = start_call(&app, &m.live, "010-0000-0006").await;
    assert_eq!(app.nodes[0].dialled().len(), 1);
    assert_eq!(app.nodes[1].dialled().len(), 1);
    assert_eq!(node(&app, "fs1").await["live_channels"], 1);
    // Both full: a third call is refused at the door, without dialling
    // anyone.
    let (status, problem) = app
        .post(
            "/v1/verifications",
            &m.live,
            &json!({ "phone": "010-0000-0006", "scenario": "read_code" }),
        )
        .await;
    assert_eq!((status, &problem["code"]), (503, &json!("no_capacity")));
    assert!(
        problem["detail"].as_str().unwrap().contains("limit"),
        "{problem}"
    );
    assert_eq!(dialled(&app), 2);
    for id in [first, second] {
        app.cancel(&m.live, &id).await;
    }
    assert_eq!(
        node(&app, "fs1").await["live_channels"],
        0,
        "channels are given back"
    );
    call(&app, &m.live, "010-0000-0007").await;
    assert_eq!(app.nodes[0].dialled().len(), 2, "fs1 takes calls again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_over_its_calls_per_second_takes_no_new_call() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |_, _| {},
        |config| {
            first_node_preferred(config);
            config.nodes[0].cps = NonZeroU32::new(1).unwrap();
        },
    )
    .await;
    let m = app.merchant("acme").await;
    // Two calls in the same second: fs1 (preferred) takes one, fs2 the other.
    let (a, b) = tokio::join!(
        call(&app, &m.live, "010-0000-0007"),
        call(&app, &m.live, "010-0000-0007")
    );
    assert_eq!(
        (&a["outcome"], &b["outcome"]),
        (&json!("busy"), &json!("busy"))
    );
    assert_eq!(app.nodes[0].dialled().len(), 1);
    assert_eq!(app.nodes[1].dialled().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_are_shared_through_the_store_and_outlive_a_restart() {
    let db = TestDb::sqlite();
    let mut app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    let (status, body) = admin(&app, Method::POST, "/admin/nodes/fs2/drain", Some(TOKEN)).await;
    assert_eq!((status, &body["draining"]), (200, &json!(true)), "{body}");
    assert_eq!(app.store.drained_nodes().await.unwrap(), vec!["fs2"]);

    // Another replica on the same store drains fs1: this one follows.
    app.store
        .set_node_drained("fs1", true, arsgate::domain::Timestamp::now())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node(&app, "fs1").await["draining"] != true {
        assert!(tokio::time::Instant::now() < deadline, "fs1 never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, refused) = admin(&app, Method::POST, "/admin/nodes/fs9/drain", Some(TOKEN)).await;
    assert_eq!(refused["code"], "not_found", "{refused}");

    // A restarted arsgate keeps both drained until one is resumed.
    app.restart().await;
    assert_eq!(node(&app, "fs1").await["draining"], true);
    assert_eq!(node(&app, "fs2").await["draining"], true);
    let (status, _) = admin(&app, Method::POST, "/admin/nodes/fs1/resume", Some(TOKEN)).await;
    assert_eq!(status, 200);
    app.restart().await;
    assert_eq!(node(&app, "fs1").await["draining"], false);
    assert_eq!(node(&app, "fs2").await["draining"], true);
    let phone = "010-0000-0001";
    start_call(&app, &app.merchant("acme").await.live, phone).await;
    assert_eq!(
        app.nodes[0].dialled().len(),
        1,
        "the resumed node takes calls"
    );
    assert_eq!(app.nodes[1].dialled().len(), 0, "the drained one none");
}

/// Weights are shares: among nodes with room, 2:1 gives two calls in three
/// to the first node, at any load (not everything to the heavier node until
/// it is half full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_are_shares_of_the_new_calls() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |_, _| {},
        |config| config.nodes[0].weight = NonZeroU32::new(2).unwrap(),
    )
    .await;
    let m = app.merchant("acme").await;
    for _ in 0..30 {
        let view = call(&app, &m.live, "010-0000-0007").await;
        assert_eq!(view["outcome"], "busy", "{view}");
    }
    let shares: Vec<usize> = app.nodes.iter().map(|sim| sim.dialled().len()).collect();
    assert_eq!(shares, [20, 10], "2:1 of 30 calls");
}

/// A node that refuses calls itself (its max-sessions) is passed over for
/// a growing while, instead of being tried first by every new call and
/// failing over each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_node_is_passed_over_for_a_while() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |index, sim| {
            if index == 0 {
                sim.max_sessions = 0;
            }
        },
        first_node_preferred,
    )
    .await;
    let m = app.merchant("acme").await;
    let mut refused = 0;
    for _ in 0..10 {
        let view = call(&app, &m.live, "010-0000-0007").await;
        assert_eq!(view["outcome"], "busy", "{view}");
        refused += causes(&view)
            .iter()
            .filter(|cause| *cause == "DESTINATION_OUT_OF_ORDER")
            .count();
    }
    assert!(
        (1..=4).contains(&refused),
        "fs1 (weight 10) was tried {refused} times for 10 calls"
    );
    assert_eq!(app.nodes[1].dialled().len(), 10);
    let fs1 = node(&app, "fs1").await;
    assert_eq!(fs1["backing_off"], true, "{fs1}");
}

/// `arsgate nodes status` tells the truth: a node whose socket is down is
/// `down` (not its last `status` answer), the switch's own session count
/// comes from its HEARTBEAT, and `--json` gives the admin API's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_status_tells_the_truth() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(&db, 2, |_, _| {}, first_node_preferred).await;
    // A HEARTBEAT comes every 20 simulated seconds (half a second here).
    let mut fs1 = node(&app, "fs1").await;
    for _ in 0..200 {
        if fs1["sessions"].is_u64() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fs1 = node(&app, "fs1").await;
    }
    assert_eq!(fs1["state"], "up", "{fs1}");
    assert_eq!(fs1["sessions"], 0, "{fs1}");
    assert_eq!(fs1["max_sessions"], 1000, "{fs1}");
    app.nodes[1].kill();
    let mut fs2 = node(&app, "fs2").await;
    for _ in 0..200 {
        if fs2["state"] == "down" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fs2 = node(&app, "fs2").await;
    }
    assert_eq!(
        (&fs2["state"], &fs2["connected"]),
        (&json!("down"), &json!(false))
    );
    let (ok, out, err) = nodes_cli(&app, Some(TOKEN), &["status", "--json"]).await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(listed["nodes"][1]["name"], "fs2");
    assert_eq!(listed["nodes"][1]["state"], "down");
    let (_, out, _) = nodes_cli(&app, Some(TOKEN), &["status"]).await;
    let fs2_line: Vec<&str> = out.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(
        (fs2_line[1], fs2_line[fs2_line.len() - 7]),
        ("no", "down"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lacking_a_module_arsgate_needs_says_so_and_stays_up() {
    // fs2 runs without mod_xml_curl, which the configuration's live
    // dialplan needs (xml_curl.enabled).
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |index, sim| {
            if index == 1 {
                sim.modules.remove("mod_xml_curl");
            }
        },
        first_node_preferred,
    )
    .await;
    let mut fs2 = node(&app, "fs2").await;
    for _ in 0..500 {
        if fs2["missing_modules"].is_array()
            && node(&app, "fs1").await["missing_modules"].is_array()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fs2 = node(&app, "fs2").await;
    }
    assert_eq!(fs2["missing_modules"], json!(["mod_xml_curl"]), "{fs2}");
    assert_eq!(node(&app, "fs1").await["missing_modules"], json!([]));
    assert_eq!(fs2["state"], "up", "a missing module takes no node out");

    let (ok, out, err) = nodes_cli(&app, Some(TOKEN), &["status"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].ends_with(" ok"), "{out}");
    assert!(lines[2].ends_with(" MISSING mod_xml_curl"), "{out}");

    let metrics = app
        .request(Method::GET, "/metrics", None, None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (node, lacking) in [("fs1", 0), ("fs2", 1)] {
        let line = format!(
            "arsgate_node_module_missing{{node=\"{node}\",module=\"mod_xml_curl\"}} {lacking}"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    let tts = "arsgate_node_module_missing{node=\"fs2\",module=\"mod_tts_commandline\"} 0";
    assert!(metrics.contains(tts), "{metrics}");
}

/// A call taken over after a restart holds its node's capacity like any
/// other: `live_channels` counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_taken_over_counts_on_its_node() {
    let db = TestDb::sqlite();
    let mut app = TestApp::start_cluster(
        &db,
        1,
        |_, _| {},
        |config| {
            config.admin.token = Some(Secret::new(TOKEN));
            config.calls.ring_timeout = Duration::from_secs(600);
        },
    )
    .await;
    let m = app.merchant("acme").await;
    let id = start_call(&app, &m.live, "010-0000-0006").await;
    app.live_channels(1).await;
    assert_eq!(node(&app, "fs1").await["live_channels"], 1);
    app.restart().await;
    app.wait_for(&m.live, &id, common::app::taken_over).await;
    assert_eq!(node(&app, "fs1").await["live_channels"], 1);
    app.cancel(&m.live, &id).await;
    app.finished(&m.live, &id).await;
    assert_eq!(node(&app, "fs1").await["live_channels"], 0);
}

/// A plan that queues waits for a node's room too: with the only node at
/// its `max_channels`, the next call is accepted, waits, and is placed as
/// soon as the first call ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_call_waits_for_a_nodes_room() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |config| {
        config.admin.token = Some(Secret::new(TOKEN));
        config.nodes[0].max_channels = NonZeroU32::new(1).unwrap();
        config.calls.ring_timeout = Duration::from_secs(600);
        let plan = config
            .limits
            .plans
            .get_mut(&config.limits.default_plan)
            .unwrap();
        plan.at_limit = arsgate::config::AtLimit::Queue;
        plan.queue_timeout = Duration::from_secs(20);
    })
    .await;
    let m = app.merchant("acme").await;
    let first = start_call(&app, &m.live, "010-0000-0006").await;
    app.live_channels(1).await;
    let second = app
        .create(
            &m.live,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.live.dialled(), ["01000000006"], "the second call waits");
    app.cancel(&m.live, &first).await;
    let view = app.finished(&m.live, &second).await;
    assert_eq!(view["outcome"], "completed", "{view}");
    assert_eq!(app.live.dialled(), ["01000000006", "01000000001"]);
}
