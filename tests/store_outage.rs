//! PostgreSQL stopped and started again under load, on a server of the
//! test's own: while it is down the API answers `503 store_unavailable`
//! with `Retry-After` and `/readyz` fails; the calls under way go on and
//! their outcomes wait for the store; once it is back, arsgate recovers by
//! itself (no restart): every verification reaches its outcome, every
//! webhook arrives once, no channel stays leased, new calls work. The
//! store reports the outage as such and reconnects by itself; a graceful
//! stop during an outage waits no longer than its grace period and leaves
//! what it could not write to the next start.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use arsgate::domain::{MerchantSettings, VerificationId};
use arsgate::store::StoreError;
use common::app::TestApp;
use common::private_pg::PrivatePg;
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

/// Answers and listens: `read_code` runs to its end.
const ANSWERS: &str = "01000000001";

/// Rings until hung up (the ring timeout is set to an hour).
const RINGS: &str = "01000000006";

/// How many verifications are started before the outage.
const BEFORE: usize = 24;

/// Waits (at most 20 s) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_under_load_loses_nothing() {
    let pg = tokio::task::spawn_blocking(PrivatePg::start)
        .await
        .expect("PostgreSQL starts");
    let db = TestDb::postgres_on(&pg.server_url()).await;
    let app = TestApp::start(&db).await;
    let m = app.merchant("acme").await;
    let body =
        json!({ "phone": ANSWERS, "scenario": "read_code", "callback_url": app.hooks.url() });

    // A stream of calls, the store stopped under it: verifications are
    // created until the API says the store is gone.
    let mut ids = Vec::new();
    for _ in 0..BEFORE {
        ids.push(
            app.create(&m.test, &body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let stopping = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    });
    let refused = loop {
        let response = app
            .request(
                Method::POST,
                "/v1/verifications",
                Some(&m.test),
                Some(&body),
            )
            .send()
            .await
            .unwrap();
        if response.status() != 201 {
            break response;
        }
        let created: Value = response.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Calls this process runs outlive the store: they wait for it.
    let running = app.server().service().live_calls();
    assert!(running > 0, "calls are under way when the store stops");
    let pg = stopping.await.unwrap();

    assert_eq!(refused.status(), 503);
    let retry_after = refused.headers().get("retry-after").cloned();
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "store_unavailable", "{problem}");
    let retry_after: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let ready = app.http.get(format!("{}/readyz", app.base)).send().await;
    let ready = ready.unwrap();
    assert_eq!(ready.status(), 503);
    let readiness: Value = ready.json().await.unwrap();
    assert_eq!(readiness["store"], false, "{readiness}");
    // The calls under way end while the store is down; their outcomes
    // wait for it.
    until("the live calls end during the outage", async || {
        app.sandbox().channels() == 0
    })
    .await;

    let pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    until("/readyz passes again", async || {
        let ready = app.http.get(format!("{}/readyz", app.base)).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;

    for id in &ids {
        let view = app.finished(&m.test, id).await;
        assert_eq!(view["outcome"], "completed", "{view}");
    }
    for id in &ids {
        app.hooks.finished(id).await;
    }
    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in app.hooks.received() {
        assert!(received.signed, "unsigned webhook: {:?}", received.body);
        if received.kind == "verification.finished" {
            events
                .entry(received.verification)
                .or_default()
                .insert(received.event);
        }
    }
    for id in &ids {
        let distinct = events.get(id).map_or(0, BTreeSet::len);
        assert_eq!(distinct, 1, "{id}: {distinct} distinct finished events");
    }
    until("no channel is leased", async || {
        let (status, report) = app.get("/v1/limits", &m.test).await;
        status == 200 && report["usage"]["live_channels"] == 0
    })
    .await;

    // New calls work, without a restart.
    let after = app.create(&m.test, &body).await;
    let id = after["id"].as_str().unwrap();
    assert_eq!(app.finished(&m.test, id).await["outcome"], "completed");
    app.hooks.finished(id).await;
    drop(db);
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_reports_an_outage_as_unavailable_and_reconnects() {
    let pg = tokio::task::spawn_blocking(PrivatePg::start)
        .await
        .expect("PostgreSQL starts");
    let db = TestDb::postgres_on(&pg.server_url()).await;
    let store = db.open().await;
    let merchant = store
        .create_merchant("acme", "whsec_acme_outage", &MerchantSettings::default())
        .await
        .expect("merchant");
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    let down = store.merchant(merchant.id).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    let pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    // The same store, its pool's dead connections replaced.
    let back = store
        .merchant(merchant.id)
        .await
        .expect("the store answers");
    assert_eq!(back.map(|m| m.name).as_deref(), Some("acme"));
    drop(db);
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_during_an_outage_leaves_the_outcomes_to_the_next_start() {
    let pg = tokio::task::spawn_blocking(PrivatePg::start)
        .await
        .expect("PostgreSQL starts");
    let db = TestDb::postgres_on(&pg.server_url()).await;
    let mut app = TestApp::start_with(&db, |config| {
        config.calls.ring_timeout = Duration::from_secs(3600);
    })
    .await;
    let m = app.merchant("acme").await;
    let body = json!({ "phone": RINGS, "scenario": "read_code", "callback_url": app.hooks.url() });
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = app.create(&m.test, &body).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.wait_for(&m.test, &id, |v| v["status"] == "calling")
            .await;
        ids.push(id);
    }
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();

    // The grace period (2 s) bounds the wait for the store.
    let stopping = tokio::time::Instant::now();
    app.stop().await;
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(10), "the stop took {took:?}");

    let pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    for id in &ids {
        let stored = app
            .store
            .verification_by_id(VerificationId::parse(id).unwrap())
            .await
            .unwrap()
            .expect("stored");
        assert!(!stored.is_final(), "{stored:?}");
    }
    app.restart().await;
    for id in &ids {
        let view = app.finished(&m.test, id).await;
        assert_eq!(view["outcome"], "error", "{view}");
        assert!(
            view["reason"].as_str().unwrap().starts_with("lost:"),
            "{view}"
        );
        app.hooks.finished(id).await;
    }
    until("no channel is leased", async || {
        let (status, report) = app.get("/v1/limits", &m.test).await;
        status == 200 && report["usage"]["live_channels"] == 0
    })
    .await;
    drop(db);
    drop(pg);
}
