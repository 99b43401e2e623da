//! Stopping arsgate, by a crash or gracefully, while calls are live and
//! webhooks are pending, then starting it again on the same store: calls
//! still up on their node are taken over and followed to their end, every
//! verification reaches a final state and every webhook reaches the
//! merchant exactly once (de-duplicated by event id), on every store.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::time::Duration;

use arsgate::domain::{
    MerchantId, Mode, NewVerification, PhoneNumber, Timestamp, Verification, VerificationId,
};
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use common::app::{TestApp, taken_over};
use common::store::{TestDb, new_verification};
use reqwest::Method;
use serde_json::{Value, json};

on_every_store!(
    a_crash_loses_no_verification_and_no_webhook,
    a_call_mid_scenario_when_arsgate_crashes_is_taken_over_and_verified,
    a_verification_stored_without_a_call_task_is_ended_without_a_restart,
    a_graceful_stop_finishes_calls_and_keeps_webhooks_for_the_next_start,
);

/// Answers and listens.
const ANSWERS: &str = "01000000001";
/// Rings until hung up.
const RINGS: &str = "01000000006";

/// Starts an app whose phones may ring for an hour (so a ringing call is
/// still ringing when the app is stopped) and whose merchant's endpoint
/// refuses every webhook until told otherwise.
async fn start(db: &TestDb) -> (TestApp, common::app::TestMerchant) {
    let app = TestApp::start_with(db, |config| {
        config.calls.ring_timeout = Duration::from_secs(3600);
    })
    .await;
    let merchant = app.merchant("acme").await;
    app.hooks.fail_next(u32::MAX);
    (app, merchant)
}

async fn create(app: &TestApp, key: &str, scenario: &str, phone: &str) -> String {
    let created = app
        .create(
            key,
            &json!({ "phone": phone, "scenario": scenario, "callback_url": app.hooks.url() }),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

/// Waits until `id` is ringing (its call placed, not yet ended).
async fn ringing(app: &TestApp, key: &str, id: &str) {
    app.wait_for(key, id, |v| v["status"] == "calling").await;
}

/// Lets the endpoint accept again and waits until each of `ids` has its
/// `verification.finished` webhook accepted; then checks that no
/// verification was told twice with different events, and that the
/// accepted webhook says what the API says.
async fn every_webhook_once(app: &TestApp, key: &str, ids: &[(&str, String)]) {
    app.hooks.fail_next(0);
    for (_, id) in ids {
        app.hooks.finished(id).await;
    }
    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in app.hooks.received() {
        if received.kind == "verification.finished" && received.answered < 300 {
            assert!(received.signed, "unsigned webhook: {:?}", received.body);
            events
                .entry(received.verification.clone())
                .or_default()
                .insert(received.event.clone());
        }
    }
    for (label, id) in ids {
        let distinct = events.get(id).map_or(0, BTreeSet::len);
        assert_eq!(distinct, 1, "{label}: {distinct} distinct finished events");
        let view = app.finished(key, id).await;
        let hook = app
            .hooks
            .accepted_for(id)
            .into_iter()
            .find(|r| r.kind == "verification.finished")
            .unwrap();
        assert_eq!(hook.body["data"]["outcome"], view["outcome"], "{label}");
    }
}

async fn stored(app: &TestApp, id: &str) -> Verification {
    let id = VerificationId::parse(id).unwrap();
    app.store
        .verification_by_id(id)
        .await
        .unwrap()
        .expect("stored")
}

async fn a_crash_loses_no_verification_and_no_webhook(db: &TestDb) {
    let (mut app, m) = start(db).await;
    let done = create(&app, &m.test, "read_code", ANSWERS).await;
    let done_view = app.finished(&m.test, &done).await;
    assert_eq!(done_view["outcome"], "completed");
    let live = create(&app, &m.live, "enter_code", RINGS).await;
    let sandbox = create(&app, &m.test, "press_then_read", RINGS).await;
    ringing(&app, &m.live, &live).await;
    ringing(&app, &m.test, &sandbox).await;
    app.live_channels(1).await;
    let refused_before = app.hooks.received().len();
    assert!(refused_before >= 1, "the finished call's webhook was tried");

    app.crash().await;
    // The node outlives arsgate: the live call still rings there.
    assert_eq!(app.live.channels(), 1);
    app.restart().await;

    // The sandbox's node died with arsgate, and its call with it.
    let sandbox_view = app.finished(&m.test, &sandbox).await;
    assert_eq!(sandbox_view["outcome"], "error", "{sandbox_view}");
    assert!(
        sandbox_view["reason"]
            .as_str()
            .unwrap()
            .starts_with("lost:"),
        "{sandbox_view}"
    );
    // The live node's call was taken over: it still rings, followed, and a
    // cancel reaches it.
    app.wait_for(&m.live, &live, taken_over).await;
    assert_eq!(app.live.channels(), 1);
    app.cancel(&m.live, &live).await;
    let live_view = app.finished(&m.live, &live).await;
    assert_eq!(live_view["outcome"], "canceled", "{live_view}");
    assert!(taken_over(&live_view), "{live_view}");
    app.live_channels(0).await;
    assert_eq!(app.finished(&m.test, &done).await["outcome"], "completed");
    every_webhook_once(
        &app,
        &m.test,
        &[("finished before the crash", done.clone())],
    )
    .await;
    every_webhook_once(&app, &m.live, &[("ringing on the live node", live)]).await;
    every_webhook_once(&app, &m.test, &[("ringing in the sandbox", sandbox)]).await;
    let (status, listed) = app.get("/v1/verifications?status=calling", &m.test).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"], Value::Array(Vec::new()), "{listed}");
}

async fn a_call_mid_scenario_when_arsgate_crashes_is_taken_over_and_verified(db: &TestDb) {
    let (mut app, m) = start(db).await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/customers/c1/pin",
            Some(&m.live),
            Some(&json!({ "pin": "2580" })),
        )
        .await;
    assert_eq!(status, 204);
    // Answers, and keys the PIN a while into the PIN prompt (prompt 2,
    // after the greeting): well after arsgate is gone.
    app.live.set_phone(
        "01000000050",
        PhoneScript::Answer(Answer {
            after: Duration::from_secs(1),
            early_media: None,
            hangup_after: None,
            dtmf: vec![DtmfGroup {
                trigger: DtmfTrigger::OnPrompt {
                    prompt: NonZeroU32::new(2).unwrap(),
                    delay: Duration::from_secs(4),
                },
                digits: Digits::try_from("2580#".to_owned()).unwrap(),
                gap: Duration::from_millis(300),
                tone: Duration::from_millis(160),
            }],
        }),
    );
    let created = app
        .create(
            &m.live,
            &json!({
                "phone": "010-0000-0050",
                "scenario": "enter_pin",
                "customer_ref": "c1",
                "callback_url": app.hooks.url(),
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for(&m.live, &id, |v| v["status"] == "answered")
        .await;
    app.crash().await;
    app.restart().await;

    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "verified", "{view}");
    assert!(taken_over(&view), "{view}");
    app.live_channels(0).await;
    every_webhook_once(&app, &m.live, &[("taken over", id)]).await;
}

/// A verification stored as the create request stored it, with no call
/// task: as when the store failed after the write but before it said so.
async fn stored_without_a_task(app: &TestApp, merchant: MerchantId, age: Duration) -> String {
    let new = NewVerification {
        mode: Mode::Live,
        phone: PhoneNumber::parse(ANSWERS).unwrap(),
        callback_url: Some(app.hooks.url()),
        ..new_verification(merchant, "read_code", Timestamp::now().minus(age))
    };
    app.store.create_verification(&new).await.unwrap();
    new.id.to_string()
}

async fn a_verification_stored_without_a_call_task_is_ended_without_a_restart(db: &TestDb) {
    let (app, m) = start(db).await;
    let old = stored_without_a_task(&app, m.merchant.id, Duration::from_secs(3600)).await;
    let recent = stored_without_a_task(&app, m.merchant.id, Duration::from_secs(10)).await;
    let service = app.server().service();
    assert_eq!(service.sweep_unplaced().await.unwrap(), 1);
    let view = app.finished(&m.live, &old).await;
    assert_eq!(view["outcome"], "timeout", "{view}");
    assert!(
        view["reason"].as_str().unwrap().starts_with("never placed"),
        "{view}"
    );
    // A recent one may still be in some replica's queue: left alone.
    let (_, recent_view) = app
        .get(&format!("/v1/verifications/{recent}"), &m.live)
        .await;
    assert_eq!(recent_view["status"], "pending", "{recent_view}");
    assert_eq!(service.sweep_unplaced().await.unwrap(), 0);
    assert!(app.live.dialled().is_empty(), "nothing was dialled");
    every_webhook_once(&app, &m.live, &[("never placed", old)]).await;
}

async fn a_graceful_stop_finishes_calls_and_keeps_webhooks_for_the_next_start(db: &TestDb) {
    let (mut app, m) = start(db).await;
    let short = create(&app, &m.test, "read_code", ANSWERS).await;
    let long = create(&app, &m.live, "enter_code", RINGS).await;
    ringing(&app, &m.live, &long).await;

    app.stop().await;
    // Stopped: the short call ended on its own, the ringing one at the
    // grace deadline, both recorded before the process let go.
    let short_row = stored(&app, &short).await;
    let long_row = stored(&app, &long).await;
    assert_eq!(
        short_row.outcome.map(|o| o.as_str()),
        Some("completed"),
        "{short_row:?}"
    );
    assert_eq!(long_row.outcome.map(|o| o.as_str()), Some("error"));
    assert!(
        long_row
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("shut down"),
        "{long_row:?}"
    );
    app.live_channels(0).await;

    app.restart().await;
    every_webhook_once(&app, &m.test, &[("ended on its own", short)]).await;
    every_webhook_once(&app, &m.live, &[("ended at the deadline", long)]).await;
}
