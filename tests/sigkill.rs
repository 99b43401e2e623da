//! The real `arsgate serve` killed with SIGKILL while calls ring on a live
//! node (a simulator of the test's own, which outlives it), then started
//! again on the same PostgreSQL database: the calls still ringing are taken
//! over (a cancel reaches them), every verification reaches a final state,
//! every channel lease is released (not left to expire), and every webhook
//! arrives once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arsgate::domain::{MerchantSettings, Mode};
use arsgate::sim::phone::PhoneBook;
use common::app::taken_over;
use common::hooks::Hooks;
use common::repo;
use common::serve::{BIN, Served};
use common::store::TestDb;
use serde_json::{Value, json};
use tokio::process::Command;

/// Rings until hung up (the ring timeout is an hour here).
const RINGS: &str = "01000000006";
/// Answers and listens: `read_code` runs to its end.
const ANSWERS: &str = "01000000001";
/// Calls ringing when arsgate is killed.
const RINGING: usize = 4;

/// The configuration file of a test arsgate with the live node `fs1` on
/// `node_port`, keeping its files under `dir`.
fn write_config(dir: &Path, node_port: u16) -> PathBuf {
    let path = dir.join("arsgate.yaml");
    let yaml = common::app::config_yaml(&[node_port], &dir.join("data"));
    std::fs::write(&path, yaml).expect("config written");
    path
}

/// Starts `arsgate serve` on `config` and the store at `store_url`,
/// logging JSON, with phones that may ring for an hour (so calls still
/// ring when it is killed).
async fn serve(config: &Path, store_url: &str) -> Served {
    let mut command = Command::new(BIN);
    command
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .env("ARSGATE_STORE__URL", store_url)
        .env(
            "ARSGATE_SECRET",
            "sigkill test secret, at least 32 bytes long",
        )
        .env("ARSGATE_CALLS__RING_TIMEOUT", "1h");
    common::serve::serve(command).await
}

/// A verification as the API shows it.
async fn view(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Value {
    let response = http
        .get(format!("{base}/v1/verifications/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("arsgate answers");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls until `done` holds (at most 20 s).
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn live_channels(http: &reqwest::Client, base: &str, key: &str) -> Value {
    let report: Value = http
        .get(format!("{base}/v1/limits"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["usage"]["live_channels"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_calls_live_loses_nothing_and_leaks_no_channel() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let merchant = store
        .create_merchant("acme", "whsec_acme_sigkill", &MerchantSettings::default())
        .await
        .expect("merchant");
    let key = arsgate::service::keys::issue(&*store, &merchant, Mode::Live)
        .await
        .expect("key")
        .text;
    let hooks = Hooks::start().await;
    hooks.trust(&merchant.webhook_secret);
    let phones = PhoneBook::load(repo("config/sim-phones.yaml")).expect("phones load");
    let node = common::start_sim(|c| {
        c.speed = common::app::SPEED;
        c.dialplan_dir = Some(repo("dialplan"));
        c.phones = phones;
        c.sessions_per_second = 1000;
    })
    .await;
    let dir = tempfile::tempdir().expect("data directory");
    let config = write_config(dir.path(), node.addr().port());
    let Served {
        child: mut arsgate,
        base,
        ..
    } = serve(&config, &db.url()).await;
    let http = reqwest::Client::new();
    let create = async |phone: &str| {
        let body = json!({ "phone": phone, "scenario": "read_code", "callback_url": hooks.url() });
        let response = http
            .post(format!("{base}/v1/verifications"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    };

    let done = create(ANSWERS).await;
    until("the first call completes", async || {
        view(&http, &base, &key, &done).await["status"] == "finished"
    })
    .await;
    let mut ringing = Vec::new();
    for _ in 0..RINGING {
        ringing.push(create(RINGS).await);
    }
    until("every call rings on the node", async || {
        node.channels() == RINGING
    })
    .await;
    for id in &ringing {
        assert_eq!(view(&http, &base, &key, id).await["status"], "calling");
    }
    assert_eq!(live_channels(&http, &base, &key).await, RINGING);

    arsgate.start_kill().expect("SIGKILL sent");
    let status = arsgate.wait().await.unwrap();
    assert!(!status.success(), "killed: {status}");
    // The node outlives arsgate: the calls still ring there.
    assert_eq!(node.channels(), RINGING);

    let Served {
        child: _arsgate,
        base,
        log,
    } = serve(&config, &db.url()).await;
    for id in &ringing {
        until("the restarted arsgate takes the call over", async || {
            taken_over(&view(&http, &base, &key, id).await)
        })
        .await;
    }
    // Still ringing, and followed: a cancel reaches each call.
    assert_eq!(node.channels(), RINGING);
    for id in &ringing {
        let response = http
            .post(format!("{base}/v1/verifications/{id}/cancel"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for id in &ringing {
        until("the canceled call's verification is final", async || {
            view(&http, &base, &key, id).await["status"] == "finished"
        })
        .await;
        let view = view(&http, &base, &key, id).await;
        assert_eq!(view["outcome"], "canceled", "{view}");
        assert!(taken_over(&view), "{view}");
    }
    until("the canceled calls are hung up on the node", async || {
        node.channels() == 0
    })
    .await;
    // Released by the outcomes, not expired: the leases live for a minute.
    assert_eq!(live_channels(&http, &base, &key).await, 0);
    // Recovery logs each call it takes over in the call's span, as JSON.
    let log = log.lock().unwrap().clone();
    for id in &ringing {
        let recovered = log
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| {
                line["fields"]["message"] == "recovering" && line["span"]["verification"] == *id
            })
            .unwrap_or_else(|| panic!("no JSON line about recovering {id}: {log:#?}"));
        let span = &recovered["span"];
        assert_eq!(
            (span["name"].as_str(), span["merchant"].as_str()),
            (Some("call"), Some("acme"))
        );
        assert_eq!(span["node"], "fs1", "{recovered}");
        assert!(
            span["call"].as_str().is_some_and(|c| c.len() == 36),
            "{recovered}"
        );
    }

    let all: Vec<&String> = ringing.iter().chain([&done]).collect();
    hooks
        .wait_for(|received| {
            all.iter().all(|id| {
                received.iter().any(|r| {
                    &r.verification == *id && r.kind == "verification.finished" && r.answered < 300
                })
            })
        })
        .await;
    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in hooks.received() {
        assert!(received.signed, "unsigned webhook: {:?}", received.body);
        events
            .entry(received.verification)
            .or_default()
            .insert(received.event);
    }
    for id in all {
        let distinct = events.get(id).map_or(0, BTreeSet::len);
        assert_eq!(distinct, 1, "{id}: {distinct} distinct events");
    }
}
