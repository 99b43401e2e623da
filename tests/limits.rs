//! Plans and limits through HTTP, against the whole app: channels as
//! leases (never more live calls than the plan, released on every final
//! outcome, reclaimed once expired), the queue, `429`s with `Retry-After`,
//! velocity, the daily cap, calls per second, recording; and two real
//! arsgate processes on one PostgreSQL database sharing a merchant's
//! channels.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arsgate::config::{Config, LimitsConfig};
use arsgate::domain::{LeaseTerms, LimitScope, Mode, Timestamp, VerificationId};
use common::app::{TestApp, TestMerchant};
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

on_every_store!(
    plan_channels_are_never_exceeded,
    queued_calls_go_first_come_first_served,
    the_queue_times_out_with_a_final_outcome_and_its_webhook,
    at_the_limit_reject_answers_429_with_retry_after,
    originate_failures_release_their_channel,
    velocity_limits_calls_to_one_number,
    the_daily_cap_refuses_until_midnight_kst,
    a_leaked_lease_expires_and_its_channel_is_reclaimed,
    a_call_taken_over_after_a_crash_keeps_its_channel_until_it_ends,
);

/// Answers after 2 s and stays on the line: `read_code` runs to its end.
const ANSWERS: &str = "010-0000-0001";
/// Rings until the ring timeout (set long here) or a cancel.
const RINGS: &str = "010-0000-0006";
/// Busy.
const BUSY: &str = "010-0000-0007";

/// A `limits:` section from YAML.
fn limits(yaml: &str) -> LimitsConfig {
    serde_norway::from_str(yaml).expect("a valid limits section")
}

/// An app whose merchants are all on the plan `yaml` describes (as
/// `default`), with phones ringing for ten (simulated) minutes.
async fn app_on_plan(db: &TestDb, plan: &str) -> TestApp {
    let section = limits(&format!("plans:\n  default:\n{plan}"));
    TestApp::start_with(db, |config: &mut Config| {
        config.limits = section;
        config.calls.ring_timeout = Duration::from_secs(600);
    })
    .await
}

fn read_code(phone: &str) -> Value {
    json!({ "phone": phone, "scenario": "read_code" })
}

fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// `POST /v1/verifications`: status, `Retry-After` (seconds) and body.
async fn create(app: &TestApp, key: &str, body: &Value) -> (u16, Option<u64>, Value) {
    let response = app
        .request(Method::POST, "/v1/verifications", Some(key), Some(body))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse::<u64>()
            .expect("Retry-After in seconds")
    });
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

async fn limits_now(app: &TestApp, key: &str) -> Value {
    let (status, report) = app.get("/v1/limits", key).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// When a finished verification's call rang and when it was hung up, on
/// the sandbox switch's clock (the one clock of the switch-reported
/// entries; `originated` is arsgate's).
fn call_span(view: &Value) -> (u64, u64) {
    let timeline = view["timeline"].as_array().expect("a timeline");
    let at = |event: &str| {
        timeline
            .iter()
            .find(|entry| entry["event"] == event)
            .and_then(|entry| entry["reported_at"].as_u64())
            .unwrap_or_else(|| panic!("no {event} in {timeline:?}"))
    };
    (at("ringing"), at("hung_up"))
}

/// The most spans that overlap at one instant.
fn most_overlapping(spans: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At equal instants, ends before starts: a channel handed on is not two.
    edges.sort();
    let (mut live, mut most) = (0, 0);
    for (_, step) in edges {
        live += step;
        most = most.max(live);
    }
    usize::try_from(most).unwrap_or(0)
}

async fn plan_channels_are_never_exceeded(db: &TestDb) {
    let section = limits(
        "plans:\n  default:\n    max_channels: 3\n    at_limit: queue\n    queue_timeout: 30s\n",
    );
    // Calls a little longer than elsewhere (about 0.6 s), so that they
    // overlap however slowly the requests arrive.
    let app = TestApp::start_with(db, |config| {
        config.limits = section;
        config.sandbox.speed = 20.0;
    })
    .await;
    let m = app.merchant("acme").await;
    // The sandbox switch's own count of live channels, sampled throughout.
    let most_live = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (most_live, done) = (Arc::clone(&most_live), Arc::clone(&done));
        let sim = app.sandbox().clone();
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                most_live.fetch_max(sim.channels(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let body = read_code(ANSWERS);
    let creates = (0..15).map(|_| create(&app, &m.test, &body));
    let created = futures_util::future::join_all(creates).await;
    let mut queued = 0;
    let mut spans = Vec::new();
    for (status, _, body) in &created {
        assert_eq!(*status, 201, "{body}");
        queued += usize::from(body.get("queue").is_some());
    }
    for (_, _, body) in &created {
        let view = app.finished(&m.test, body["id"].as_str().unwrap()).await;
        assert_eq!(view["outcome"], "completed", "{view}");
        spans.push(call_span(&view));
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    assert!(queued > 0, "15 calls on 3 channels: some queued");
    let overlapping = most_overlapping(&spans);
    assert!(overlapping <= 3, "{overlapping} calls overlapped");
    let sampled = most_live.load(Ordering::SeqCst);
    assert!(sampled <= 3, "the switch carried {sampled} calls at once");
    assert_eq!(overlapping, 3, "the load used every channel");
    let report = limits_now(&app, &m.test).await;
    assert_eq!(report["usage"]["live_channels"], 0, "{report}");
    assert_eq!(report["usage"]["queue_depth"], 0, "{report}");
    assert_eq!(report["usage"]["calls_today"], 15, "{report}");
}

async fn queued_calls_go_first_come_first_served(db: &TestDb) {
    let app = app_on_plan(
        db,
        "    max_channels: 1\n    at_limit: queue\n    queue_timeout: 30s\n",
    )
    .await;
    let m = app.merchant("acme").await;
    let (status, _, ringing) = create(&app, &m.test, &read_code(RINGS)).await;
    assert_eq!(status, 201, "{ringing}");
    assert!(
        ringing.get("queue").is_none(),
        "a free channel: placed at once"
    );
    let ringing = ringing["id"].as_str().unwrap().to_owned();
    let mut queued = Vec::new();
    for position in 1..=3 {
        let (status, _, body) = create(&app, &m.test, &read_code(ANSWERS)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "pending");
        assert_eq!(body["queue"]["position"], position, "{body}");
        assert!(body["queue"]["eta_seconds"].as_u64().unwrap() > 0, "{body}");
        queued.push(body["id"].as_str().unwrap().to_owned());
    }
    let (_, second) = app
        .get(&format!("/v1/verifications/{}", queued[1]), &m.test)
        .await;
    assert_eq!(second["queue"]["position"], 2, "{second}");
    // A queued verification canceled leaves the queue at once.
    let (_, _, last) = create(&app, &m.test, &read_code(ANSWERS)).await;
    assert_eq!(last["queue"]["position"], 4, "{last}");
    let canceled = app.cancel(&m.test, last["id"].as_str().unwrap()).await;
    assert_eq!(canceled["outcome"], "canceled", "{canceled}");
    assert!(
        canceled["reason"].as_str().unwrap().contains("queue"),
        "{canceled}"
    );
    let report = limits_now(&app, &m.test).await;
    assert_eq!(report["at_limit"], "queue");
    assert_eq!(report["max_channels"], 1);
    assert_eq!(report["usage"]["live_channels"], 1, "{report}");
    assert_eq!(report["usage"]["queue_depth"], 3, "{report}");

    // Canceling the ringing call frees its channel for the head of the queue.
    assert_eq!(app.cancel(&m.test, &ringing).await["outcome"], "canceled");
    let mut spans = Vec::new();
    for id in &queued {
        let view = app.finished(&m.test, id).await;
        assert_eq!(view["outcome"], "completed", "{view}");
        assert!(view.get("queue").is_none(), "{view}");
        spans.push(call_span(&view));
    }
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "one channel, first come first served: {spans:?}"
        );
    }
}

async fn the_queue_times_out_with_a_final_outcome_and_its_webhook(db: &TestDb) {
    let app = app_on_plan(
        db,
        "    max_channels: 1\n    at_limit: queue\n    queue_timeout: 1s\n    max_queue: 1\n",
    )
    .await;
    let m = app.merchant("acme").await;
    let (_, _, ringing) = create(&app, &m.test, &read_code(RINGS)).await;
    let mut body = read_code(ANSWERS);
    body["callback_url"] = json!(app.hooks.url());
    let (status, _, waiting) = create(&app, &m.test, &body).await;
    assert_eq!(status, 201, "{waiting}");
    assert_eq!(waiting["queue"]["position"], 1, "{waiting}");
    // The queue holds one: the next call is refused as at a full plan.
    let (status, retry_after, refused) = create(&app, &m.test, &read_code(ANSWERS)).await;
    assert_eq!(
        (status, problem_code(&refused)),
        (429, "channel_limit"),
        "{refused}"
    );
    assert!(retry_after.is_some(), "{refused}");
    let id = waiting["id"].as_str().unwrap();
    let view = app.finished(&m.test, id).await;
    assert_eq!(view["outcome"], "timeout", "{view}");
    let reason = view["reason"].as_str().unwrap();
    assert!(reason.contains("queue"), "{reason}");
    assert_eq!(view["timeline"], json!([]), "never placed");
    let hook = app.hooks.finished(id).await;
    assert_eq!(hook.body["data"]["outcome"], "timeout");
    // The call holding the channel was not disturbed.
    let (_, still) = app
        .get(
            &format!("/v1/verifications/{}", ringing["id"].as_str().unwrap()),
            &m.test,
        )
        .await;
    assert_eq!(still["status"], "calling", "{still}");
    app.cancel(&m.test, ringing["id"].as_str().unwrap()).await;
}

async fn at_the_limit_reject_answers_429_with_retry_after(db: &TestDb) {
    let app = app_on_plan(db, "    max_channels: 1\n    at_limit: reject\n").await;
    let m = app.merchant("acme").await;
    let (status, _, ringing) = create(&app, &m.test, &read_code(RINGS)).await;
    assert_eq!(status, 201, "{ringing}");
    let ringing = ringing["id"].as_str().unwrap().to_owned();
    let retry = |app: &TestApp| {
        app.request(
            Method::POST,
            "/v1/verifications",
            Some(&m.test),
            Some(&read_code(ANSWERS)),
        )
        .header("idempotency-key", "order-42")
        .send()
    };
    let refused = retry(&app).await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let seconds: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem_code(&problem), "channel_limit");
    assert_eq!(problem["type"], "urn:arsgate:problem:channel_limit");
    assert_eq!(problem["status"], 429);
    // Live keys have channels of their own: the sandbox's call holds none.
    assert_eq!(limits_now(&app, &m.live).await["usage"]["live_channels"], 0);
    assert_eq!(limits_now(&app, &m.test).await["usage"]["live_channels"], 1);

    // Canceled, the call frees its channel; the refused request, retried
    // with the same key, runs afresh (a 429 is not the key's answer).
    app.cancel(&m.test, &ringing).await;
    let accepted = retry(&app).await.unwrap();
    assert_eq!(accepted.status().as_u16(), 201);
    let created: Value = accepted.json().await.unwrap();
    app.finished(&m.test, created["id"].as_str().unwrap()).await;
    assert_eq!(limits_now(&app, &m.test).await["usage"]["live_channels"], 0);
}

async fn originate_failures_release_their_channel(db: &TestDb) {
    let app = app_on_plan(db, "    max_channels: 1\n    at_limit: reject\n").await;
    let m = app.merchant("acme").await;
    for (phone, outcome) in [
        (BUSY, "busy"),
        ("010-0000-0008", "rejected"),
        ("010-0000-0011", "network_error"),
        ("010-0000-0009", "invalid_number"),
    ] {
        let (status, _, body) = create(&app, &m.test, &read_code(phone)).await;
        assert_eq!(
            status, 201,
            "{phone}: the last call's channel is free: {body}"
        );
        let view = app.finished(&m.test, body["id"].as_str().unwrap()).await;
        assert_eq!(view["outcome"], outcome, "{phone}: {view}");
    }
    assert_eq!(limits_now(&app, &m.test).await["usage"]["live_channels"], 0);
}

async fn velocity_limits_calls_to_one_number(db: &TestDb) {
    let app = app_on_plan(db, "    velocity: { calls: 2, window: 10m }\n").await;
    let m = app.merchant("acme").await;
    for _ in 0..2 {
        let (status, _, body) = create(&app, &m.test, &read_code(BUSY)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, retry_after, body) = create(&app, &m.test, &read_code(BUSY)).await;
    assert_eq!(
        (status, problem_code(&body)),
        (429, "velocity_limit"),
        "{body}"
    );
    let seconds = retry_after.expect("Retry-After");
    assert!((590..=600).contains(&seconds), "Retry-After: {seconds}");
    // In E.164 or national form, it is the same number.
    let (status, _, _) = create(&app, &m.test, &read_code("+821000000007")).await;
    assert_eq!(status, 429);
    // Other numbers, and the same number with live keys, are not affected.
    let (status, _, body) = create(&app, &m.test, &read_code("010-0000-0008")).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = create(&app, &m.live, &read_code(BUSY)).await;
    assert_eq!(status, 201, "{body}");
    let report = limits_now(&app, &m.test).await;
    assert_eq!(
        report["velocity"],
        json!({ "calls": 2, "window_seconds": 600 })
    );
    assert_eq!(
        report["usage"]["calls_today"], 3,
        "refusals are not counted"
    );
    let other = app.merchant("other").await;
    let (status, _, body) = create(&app, &other.test, &read_code(BUSY)).await;
    assert_eq!(status, 201, "velocity is per merchant: {body}");
}

/// Seconds from now until the next midnight in Korea.
fn until_midnight_kst() -> u64 {
    let (_, end) = arsgate::limits::day::bounds(Timestamp::now());
    u64::try_from(end.millis() - Timestamp::now().millis()).unwrap() / 1000
}

async fn the_daily_cap_refuses_until_midnight_kst(db: &TestDb) {
    let app = app_on_plan(db, "    daily_cap: 2\n").await;
    let m = app.merchant("acme").await;
    for phone in [BUSY, "010-0000-0008"] {
        let (status, _, body) = create(&app, &m.test, &read_code(phone)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, retry_after, body) = create(&app, &m.test, &read_code("010-0000-0009")).await;
    assert_eq!((status, problem_code(&body)), (429, "daily_cap"), "{body}");
    let expected = until_midnight_kst();
    let seconds = retry_after.expect("Retry-After");
    assert!(
        seconds.abs_diff(expected) <= 5,
        "Retry-After {seconds}, midnight KST in {expected}"
    );
    let report = limits_now(&app, &m.test).await;
    assert_eq!(report["daily_cap"], 2);
    assert_eq!(report["usage"]["calls_today"], 2);
}

async fn a_leaked_lease_expires_and_its_channel_is_reclaimed(db: &TestDb) {
    let section = limits("lease_ttl: 1s\nplans:\n  default:\n    max_channels: 1\n");
    let app = TestApp::start_with(db, |config| config.limits = section).await;
    let m: TestMerchant = app.merchant("acme").await;
    // A lease left behind by an arsgate that died mid-call: nobody renews it.
    let now = Timestamp::now();
    let leaked = LeaseTerms {
        holder: VerificationId::new(),
        max_channels: 1,
        expires_at: now.plus(Duration::from_millis(800)),
        required: true,
    };
    let scope = LimitScope {
        merchant: m.merchant.id,
        mode: Mode::Test,
    };
    assert!(app.store.acquire_lease(scope, &leaked, now).await.unwrap());
    let (status, _, body) = create(&app, &m.test, &read_code(BUSY)).await;
    assert_eq!(
        (status, problem_code(&body)),
        (429, "channel_limit"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (status, _, body) = create(&app, &m.test, &read_code(BUSY)).await;
    assert_eq!(status, 201, "the leaked channel was reclaimed: {body}");
    app.finished(&m.test, body["id"].as_str().unwrap()).await;
}

async fn a_call_taken_over_after_a_crash_keeps_its_channel_until_it_ends(db: &TestDb) {
    let mut app = app_on_plan(db, "    max_channels: 1\n").await;
    let m = app.merchant("acme").await;
    // A live call: its node (the test's simulator) outlives arsgate.
    let (status, _, body) = create(&app, &m.live, &read_code(RINGS)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    app.wait_for(&m.live, id, |v| v["status"] == "calling")
        .await;
    // `calling` is recorded before the originate: wait for the channel.
    app.live_channels(1).await;
    app.restart().await;
    // Taken over, the call still holds its channel: the plan stays full.
    app.wait_for(&m.live, id, common::app::taken_over).await;
    assert_eq!(limits_now(&app, &m.live).await["usage"]["live_channels"], 1);
    let (status, _, body) = create(&app, &m.live, &read_code(BUSY)).await;
    assert_eq!(status, 429, "{body}");
    // Its end releases the channel.
    app.cancel(&m.live, id).await;
    let view = app.finished(&m.live, id).await;
    assert_eq!(view["outcome"], "canceled", "{view}");
    assert_eq!(limits_now(&app, &m.live).await["usage"]["live_channels"], 0);
    let (status, _, body) = create(&app, &m.live, &read_code(BUSY)).await;
    assert_eq!(status, 201, "the channel is free again: {body}");
    app.finished(&m.live, body["id"].as_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_second_wait_briefly_then_refuse() {
    let db = TestDb::sqlite();
    let app = app_on_plan(&db, "    cps: 1\n").await;
    let m = app.merchant("acme").await;
    let body = read_code(BUSY);
    let creates = (0..6).map(|_| create(&app, &m.test, &body));
    let results = futures_util::future::join_all(creates).await;
    let accepted = results
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    let refused: Vec<_> = results
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .collect();
    assert!((1..=4).contains(&accepted), "{results:?}");
    assert_eq!(accepted + refused.len(), 6, "{results:?}");
    for (_, retry_after, body) in refused {
        assert_eq!(problem_code(body), "cps_limit", "{body}");
        assert!(retry_after.is_some_and(|s| s >= 1), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_needs_a_plan_that_includes_it() {
    let db = TestDb::sqlite();
    let section = limits(
        "plans:\n  basic:\n    recording: false\n  pro: {}\ndefault_plan: basic\nmerchants:\n  bank: pro\n",
    );
    let app = TestApp::start_with(&db, |config| config.limits = section).await;
    let shop = app.merchant("shop").await;
    let bank = app.merchant("bank").await;
    let consent = json!({
        "phone": BUSY,
        "scenario": "consent_record",
        "fields": {
            "bank": "이노은행",
            "holder_name": "홍길동",
            "account_masked": "000-1111-**-22",
            "purpose": "자동이체 출금"
        }
    });
    let (status, _, body) = create(&app, &shop.test, &consent).await;
    assert_eq!(
        (status, problem_code(&body)),
        (403, "recording_not_allowed"),
        "{body}"
    );
    let (status, _, body) = create(&app, &shop.test, &read_code(BUSY)).await;
    assert_eq!(status, 201, "other scenarios run: {body}");
    let (status, _, body) = create(&app, &bank.test, &consent).await;
    assert_eq!(status, 201, "the bank's plan records: {body}");
    let report = limits_now(&app, &shop.test).await;
    assert_eq!(
        (report["plan"].as_str(), report["recording"].as_bool()),
        (Some("basic"), Some(false))
    );
    let report = limits_now(&app, &bank.live).await;
    assert_eq!(
        (report["plan"].as_str(), report["recording"].as_bool()),
        (Some("pro"), Some(true))
    );
    assert_eq!(report["mode"], "live");
}

/// An `arsgate serve` process of the real binary.
struct Replica {
    child: tokio::process::Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Replica {
    /// Starts `arsgate serve` on `store_url` with the sandbox on, the live
    /// node `live_port`, and every merchant on a plan of `max_channels`
    /// that queues; waits until it serves.
    async fn start(store_url: &str, live_port: u16, max_channels: u32) -> Replica {
        let data = tempfile::tempdir().expect("data directory");
        let config = data.path().join("arsgate.yaml");
        let yaml = format!(
            "{}limits:\n  plans:\n    default:\n      max_channels: {max_channels}\n      \
             at_limit: queue\n      queue_timeout: 30s\n",
            common::app::config_yaml(&[live_port], data.path()),
        );
        std::fs::write(&config, yaml).expect("config written");
        let mut command = tokio::process::Command::new(common::serve::BIN);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .env("ARSGATE_STORE__URL", store_url)
            .env(
                "ARSGATE_SECRET",
                "cluster test secret, at least 32 bytes long",
            );
        let common::serve::Served { child, base, .. } = common::serve::serve(command).await;
        Replica {
            child,
            base,
            _data: data,
        }
    }
}

/// How many of `merchant`'s verifications are being called right now, and
/// how many channel leases are live, straight from the shared database.
async fn live_in_database(client: &tokio_postgres::Client, merchant: uuid::Uuid) -> (i64, i64) {
    let calling: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM verifications \
             WHERE merchant_id = $1 AND state IN ('calling', 'answered')",
            &[&merchant],
        )
        .await
        .expect("count calls")
        .get(0);
    let leases: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM channel_leases WHERE merchant_id = $1 AND expires_at > $2",
            &[&merchant, &Timestamp::now().millis()],
        )
        .await
        .expect("count leases")
        .get(0);
    (calling, leases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_share_the_plans_channels() {
    const MAX: u32 = 4;
    const PER_REPLICA: usize = 12;
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let merchant = store
        .create_merchant(
            "acme",
            "whsec_acme_cluster",
            &arsgate::domain::MerchantSettings::default(),
        )
        .await
        .expect("merchant");
    let key = arsgate::service::keys::issue(&*store, &merchant, Mode::Test)
        .await
        .expect("key")
        .text;
    let live = common::start_sim(|_| {}).await;
    let url = db.url();
    let (a, b) = tokio::join!(
        Replica::start(&url, live.addr().port(), MAX),
        Replica::start(&url, live.addr().port(), MAX),
    );

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("observer connects");
    tokio::spawn(connection);
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let done = Arc::clone(&done);
        let merchant = merchant.id.uuid();
        tokio::spawn(async move {
            let (mut calling, mut leases, mut samples) = (0, 0, 0);
            while !done.load(Ordering::SeqCst) {
                let (c, l) = live_in_database(&client, merchant).await;
                (calling, leases, samples) = (calling.max(c), leases.max(l), samples + 1);
            }
            (calling, leases, samples)
        })
    };

    let http = reqwest::Client::new();
    let body = read_code(ANSWERS);
    let bases = [a.base.clone(), b.base.clone()];
    let requests = (0..2 * PER_REPLICA).map(|i| {
        let base = bases[i % 2].clone();
        let request = http
            .post(format!("{base}/v1/verifications"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let response = request.send().await.expect("create answered");
            assert_eq!(response.status().as_u16(), 201);
            let created: Value = response.json().await.unwrap();
            (base, created["id"].as_str().unwrap().to_owned())
        }
    });
    let created = futures_util::future::join_all(requests).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    for (base, id) in &created {
        loop {
            let view: Value = http
                .get(format!("{base}/v1/verifications/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if view["status"] == "finished" {
                assert_eq!(view["outcome"], "completed", "{view}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "stuck: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    done.store(true, Ordering::SeqCst);
    let (calling, leases, samples) = observer.await.unwrap();
    eprintln!("{samples} samples: at most {calling} calls and {leases} leases live at once");
    assert!(samples > 50, "the observer sampled throughout ({samples})");
    assert!(
        calling <= i64::from(MAX) && leases <= i64::from(MAX),
        "{calling} calls, {leases} leases on a plan of {MAX}"
    );
    assert_eq!(calling, i64::from(MAX), "the load used every channel");
    // Every lease was given back.
    let client = {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    };
    assert_eq!(live_in_database(&client, merchant.id.uuid()).await, (0, 0));
    for mut replica in [a, b] {
        replica.child.kill().await.unwrap();
    }
}
