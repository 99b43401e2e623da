//! The merchant API through HTTP, against the whole app (sandbox, a live
//! simulator node, a real webhook endpoint), on every store backend.

#[macro_use]
mod common;

use std::time::Duration;

use arsgate::domain::MerchantSettings;
use arsgate::scenario::secret::CodeKey;
use common::app::TestApp;
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_every_store!(
    every_scenario_reaches_its_outcome_and_signs_its_webhook,
    spoken_codes_are_checked_once_within_limits,
    parallel_checks_of_the_right_code_approve_once,
    codes_never_read_out_cannot_be_checked,
    idempotency_keys_replay_the_first_response,
    keys_are_required_and_checked,
    merchants_and_modes_never_see_each_other,
    sandbox_and_live_pins_are_two_worlds,
    birthdates_are_validated_checked_and_erased,
    deliveries_and_idempotency_keys_are_kept_per_mode,
    check_limits_are_fixed_when_the_verification_is_created,
    requests_are_validated_with_stable_codes,
    spoken_fields_refuse_invisible_characters,
    cancel_ends_a_live_or_ringing_call,
    consent_leaves_evidence_and_a_recording,
    usage_counts_billable_authentications,
    failed_webhooks_are_retried_then_dead_then_redelivered,
    callback_urls_to_internal_addresses_are_refused,
    webhooks_reach_internal_addresses_only_when_allowed,
    public_addresses_can_be_closed,
    redeliveries_are_rate_limited_per_merchant,
    live_keys_call_through_the_configured_node,
    the_answer_is_posted_when_asked,
    listings_filter_and_page,
    openapi_describes_every_route,
    slow_clients_are_cut_off_while_others_are_served,
    every_error_is_a_problem,
    bodies_are_objects,
    codes_are_not_cached_and_nothing_is_sniffed,
);

const CODE: &str = "123456";

/// A sandbox running ten times faster than real time keeps one clock per
/// timeline: its simulator's own clock races ahead of the wall clock (ten
/// simulated seconds a real one), and its event times used to sit beside
/// arsgate's own entries on the wall clock (`ringing +73 s`, then `segment
/// ask` back near `+0.3 s`). Now the timeline reads the simulator's clock
/// for both: the times never go back by more than an event's way to
/// arsgate, each is within a second of when arsgate received it, and the
/// call's length is its simulated length.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fast_sandbox_keeps_one_clock_per_timeline() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |c| c.sandbox.speed = 10.0).await;
    let m = app.merchant("one-clock").await;
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    let view = app.finished(&m.test, created["id"].as_str().unwrap()).await;
    assert_eq!(view["outcome"], "verified", "{view}");
    let entries = view["timeline"].as_array().expect("a timeline");
    let events: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for wanted in [
        "originated",
        "ringing",
        "answered",
        "segment",
        "input",
        "hung_up",
    ] {
        assert!(events.contains(&wanted), "{wanted} in {events:?}");
    }
    let time = |entry: &Value, key: &str| entry[key].as_i64().expect("epoch millis");
    for pair in entries.windows(2) {
        assert!(time(&pair[0], "at") <= time(&pair[1], "at"), "{pair:?}");
        // An event on its way while arsgate records its own step can
        // carry an earlier time: a few milliseconds, ten times over here.
        assert!(
            time(&pair[1], "reported_at") >= time(&pair[0], "reported_at") - 250,
            "reported times go back: {pair:?}"
        );
    }
    for entry in entries {
        let apart = (time(entry, "at") - time(entry, "reported_at")).abs();
        assert!(apart < 1000, "two clocks in {entry}");
    }
    // The phone answers after 1 s and the prompts before the code take
    // several simulated seconds: far more than the call's real length.
    let answered = entries.iter().find(|e| e["event"] == "answered").unwrap();
    let span = time(entries.last().unwrap(), "at") - time(&entries[0], "at");
    assert!(span >= 5000, "{span} ms: the simulated length");
    assert!(
        time(answered, "at") - time(&entries[0], "at") >= 900,
        "{answered}"
    );
}

fn consent_fields() -> Value {
    json!({
        "bank": "이노은행",
        "holder_name": "홍길동",
        "account_masked": "000-1111-**-22",
        "purpose": "자동이체 출금"
    })
}

/// Creates a verification of `scenario` on `phone` with a callback and
/// waits for it to finish; the final view.
async fn run(app: &TestApp, key: &str, scenario: &str, phone: &str, extra: Value) -> Value {
    let mut body = json!({
        "phone": phone,
        "scenario": scenario,
        "callback_url": app.hooks.url(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = app.create(key, &body).await;
    app.finished(key, created["id"].as_str().unwrap()).await
}

/// Every string in a JSON value (where a secret could hide).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(strings(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `secret` stands as a number of its own anywhere in `value`'s
/// strings. Random ids hold digits too, and a loose `contains` failed
/// now and then on an id that happened to hold the PIN.
fn shows(value: &Value, secret: &str) -> bool {
    strings(value).iter().any(|text| {
        text.split(|c: char| !c.is_ascii_digit())
            .any(|run| run == secret)
    })
}

fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

async fn every_scenario_reaches_its_outcome_and_signs_its_webhook(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/customers/cust-1/pin",
            Some(&m.test),
            Some(&json!({ "pin": "2580" })),
        )
        .await;
    assert_eq!(status, 204);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("read_code", "010-0000-0001", json!({}), "completed"),
        ("press_then_read", "010-0000-0005", json!({}), "completed"),
        ("enter_code", "010-0000-0004", json!({}), "verified"),
        ("enter_code", "010-0000-0013", json!({}), "wrong_input"),
        (
            "enter_pin",
            "010-0000-0014",
            json!({ "customer_ref": "cust-1" }),
            "verified",
        ),
        (
            "consent_record",
            "010-0000-0015",
            json!({ "fields": consent_fields() }),
            "consented",
        ),
        (
            "consent_record",
            "010-0000-0016",
            json!({ "fields": consent_fields() }),
            "declined",
        ),
        ("event_optin", "010-0000-0017", json!({}), "consented"),
        ("event_optin", "010-0000-0018", json!({}), "declined"),
        ("read_code", "010-0000-0007", json!({}), "busy"),
        ("read_code", "010-0000-0006", json!({}), "no_answer"),
        ("read_code", "010-0000-0008", json!({}), "rejected"),
        ("read_code", "010-0000-0009", json!({}), "invalid_number"),
        (
            "consent_record",
            "010-0000-0003",
            json!({ "fields": consent_fields() }),
            "customer_hung_up",
        ),
    ];
    let runs = cases
        .iter()
        .map(|(scenario, phone, extra, _)| run(&app, &m.test, scenario, phone, extra.clone()));
    let finished = futures_util::future::join_all(runs).await;
    for ((scenario, phone, _, expected), view) in cases.iter().zip(&finished) {
        assert_eq!(
            view["outcome"], *expected,
            "{scenario} on {phone}: {}",
            view["reason"]
        );
        assert_eq!(view["scenario"], *scenario);
        assert_eq!(view["mode"], "test");
        let timeline = view["timeline"].as_array().expect("a timeline");
        assert_eq!(timeline[0]["event"], "originated", "{scenario} on {phone}");
        assert!(
            timeline
                .iter()
                .any(|e| e["event"] == "decided" && e["outcome"] == *expected),
            "{scenario} on {phone}: {timeline:?}"
        );
        // Strings only: a timestamp can hold the same digits by chance.
        assert!(
            !shows(view, CODE) && !shows(view, "2580"),
            "no secret in {view}"
        );

        let id = view["id"].as_str().unwrap();
        let hook = app.hooks.finished(id).await;
        assert!(hook.signed, "{scenario} on {phone}: signature verifies");
        assert_eq!(hook.event_header, hook.event);
        assert!(hook.event.starts_with("evt_"));
        assert_eq!(hook.body["data"]["outcome"], *expected);
        assert_eq!(hook.body["data"]["status"], "finished");
        assert!(!shows(&hook.body, CODE));
    }
    // The code shown for enter_code is the sandbox's.
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    assert_eq!(created["code"], CODE);
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    assert!(
        created.get("code").is_none(),
        "a spoken code is never returned: {created}"
    );
}

async fn spoken_codes_are_checked_once_within_limits(db: &TestDb) {
    let app = TestApp::start(db).await;
    let settings = MerchantSettings {
        code_ttl: Duration::from_millis(1500),
        max_check_attempts: 3,
    };
    let m = app.merchant_with("acme", settings).await;
    let check = |id: String, code: &'static str| {
        let app = &app;
        let key = m.test.clone();
        async move {
            app.post(
                &format!("/v1/verifications/{id}/check"),
                &key,
                &json!({ "code": code }),
            )
            .await
        }
    };
    let new = |phone: &'static str| {
        let app = &app;
        let key = m.test.clone();
        async move {
            app.create(&key, &json!({ "phone": phone, "scenario": "read_code" }))
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let heard = |id: String| {
        let app = &app;
        let key = m.test.clone();
        async move {
            app.wait_for(&key, &id, |v| v["check"]["code_heard_at"].is_string())
                .await;
            id
        }
    };

    // Right code: approved once, then used.
    let id = heard(new("010-0000-0001").await).await;
    let (status, body) = check(id.clone(), "000000").await;
    assert_eq!((status, &body["status"]), (200, &json!("rejected")));
    assert_eq!(body["attempts_remaining"], 2);
    let (status, body) = check(id.clone(), "12").await;
    assert_eq!((status, problem_code(&body)), (422, "invalid_code"));
    let (status, body) = check(id.clone(), CODE).await;
    assert_eq!((status, &body["status"]), (200, &json!("approved")));
    let (status, body) = check(id.clone(), CODE).await;
    assert_eq!((status, problem_code(&body)), (409, "code_used"));
    let (_, view) = app.get(&format!("/v1/verifications/{id}"), &m.test).await;
    assert_eq!(
        view["check"]["attempts"], 2,
        "the malformed code cost nothing"
    );
    assert!(view["check"]["approved_at"].is_string());

    // Wrong codes until locked; then even the right one is refused.
    let id = heard(new("010-0000-0001").await).await;
    for remaining in [2, 1, 0] {
        let (status, body) = check(id.clone(), "999999").await;
        assert_eq!(status, 200);
        assert_eq!(body["attempts_remaining"], remaining);
    }
    let (status, body) = check(id.clone(), CODE).await;
    assert_eq!((status, problem_code(&body)), (429, "too_many_attempts"));

    // Expired.
    let id = new("010-0000-0006").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, body) = check(id.clone(), CODE).await;
    assert_eq!((status, problem_code(&body)), (410, "code_expired"));

    // Scenarios without a spoken code have nothing to check.
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    let (status, body) = check(created["id"].as_str().unwrap().to_owned(), CODE).await;
    assert_eq!((status, problem_code(&body)), (409, "not_checkable"));
}

async fn parallel_checks_of_the_right_code_approve_once(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    app.finished(&m.test, id).await;
    let path = format!("/v1/verifications/{id}/check");
    let right = json!({ "code": CODE });
    let checks = (0..30).map(|_| app.post(&path, &m.test, &right));
    let answers = futures_util::future::join_all(checks).await;
    let mut approved = 0;
    for (status, body) in &answers {
        match (*status, body["status"].as_str(), problem_code(body)) {
            (200, Some("approved"), _) => approved += 1,
            (409, _, "code_used") => {}
            other => panic!("a right code answered {other:?}: {body}"),
        }
    }
    assert_eq!(approved, 1);
    let (_, view) = app.get(&format!("/v1/verifications/{id}"), &m.test).await;
    assert_eq!(view["check"]["attempts"], 1, "only the match counted");
    // Once approved, a wrong code counts nothing either.
    let (status, body) = app.post(&path, &m.test, &json!({ "code": "999999" })).await;
    assert_eq!((status, problem_code(&body)), (409, "code_used"));
    let (_, view) = app.get(&format!("/v1/verifications/{id}"), &m.test).await;
    assert_eq!(view["check"]["attempts"], 1);
}

async fn codes_never_read_out_cannot_be_checked(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let check = |id: String| {
        let app = &app;
        let key = m.test.clone();
        async move {
            app.post(
                &format!("/v1/verifications/{id}/check"),
                &key,
                &json!({ "code": CODE }),
            )
            .await
        }
    };
    let create = |phone: &'static str| {
        let app = &app;
        let key = m.test.clone();
        async move {
            app.create(&key, &json!({ "phone": phone, "scenario": "read_code" }))
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };

    // Still ringing: not yet.
    let ringing = create("010-0000-0006").await;
    app.wait_for(&m.test, &ringing, |v| v["status"] == "calling")
        .await;
    let (status, body) = check(ringing.clone()).await;
    assert_eq!((status, problem_code(&body)), (409, "code_not_delivered"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not read the code out yet")
    );
    // Canceled while ringing, busy, never answered: never.
    app.cancel(&m.test, &ringing).await;
    let busy = create("010-0000-0007").await;
    let unanswered = create("010-0000-0006").await;
    for (id, outcome) in [
        (ringing, "canceled"),
        (busy, "busy"),
        (unanswered, "no_answer"),
    ] {
        let view = app.finished(&m.test, &id).await;
        assert_eq!(view["outcome"], outcome, "{view}");
        assert_eq!(view["check"]["code_heard_at"], Value::Null);
        let (status, body) = check(id.clone()).await;
        assert_eq!(
            (status, problem_code(&body)),
            (409, "code_not_delivered"),
            "{outcome}: {body}"
        );
        assert!(body["detail"].as_str().unwrap().contains("ended without"));
        let (_, view) = app.get(&format!("/v1/verifications/{id}"), &m.test).await;
        assert_eq!(view["check"]["attempts"], 0, "{outcome}: nothing counted");
    }

    // Read out to its end: the timeline says when, and the code checks.
    let read = create("010-0000-0001").await;
    let view = app.finished(&m.test, &read).await;
    assert_eq!(view["outcome"], "completed");
    let timeline = view["timeline"].as_array().unwrap();
    let heard = timeline
        .iter()
        .position(|e| e["event"] == "code_heard")
        .expect("the timeline says the code was heard");
    let answered = timeline
        .iter()
        .position(|e| e["event"] == "answered")
        .unwrap();
    assert!(answered < heard, "{timeline:?}");
    assert!(view["check"]["code_heard_at"].is_string(), "{view}");
    let (status, body) = check(read).await;
    assert_eq!((status, &body["status"]), (200, &json!("approved")));
}

async fn idempotency_keys_replay_the_first_response(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let other = app.merchant("other").await;
    let body = json!({ "phone": "010-0000-0004", "scenario": "enter_code" });
    let send = |key: &str, idempotency: &str, body: &Value| {
        app.request(Method::POST, "/v1/verifications", Some(key), Some(body))
            .header("Idempotency-Key", idempotency)
            .send()
    };
    let first = send(&m.test, "order-1", &body).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&m.test, "order-1", &body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()[reqwest::header::LOCATION],
        format!("/v1/verifications/{}", first["id"].as_str().unwrap()).as_str()
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["code"], first["code"],
        "the code comes back on replay"
    );

    let changed = json!({ "phone": "010-0000-0001", "scenario": "enter_code" });
    let conflict = send(&m.test, "order-1", &changed).await.unwrap();
    assert_eq!(conflict.status(), 409);
    let conflict: Value = conflict.json().await.unwrap();
    assert_eq!(problem_code(&conflict), "idempotency_conflict");

    // A refused request is replayed too.
    let bad = json!({ "phone": "12", "scenario": "enter_code" });
    let refused: Value = send(&m.test, "order-2", &bad)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(problem_code(&refused), "invalid_phone");
    let replayed = send(&m.test, "order-2", &bad).await.unwrap();
    assert_eq!(replayed.status(), 422);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    // Keys are per merchant.
    let theirs = send(&other.test, "order-1", &body).await.unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());

    let bad_key = send(&m.test, "", &body).await.unwrap();
    assert_eq!(bad_key.status(), 400);

    // Concurrent duplicates create one verification.
    let tries = (0..8).map(|_| send(&m.test, "order-3", &body));
    let answers = futures_util::future::join_all(tries).await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        match status {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(problem_code(&body), "idempotency_in_progress"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, list) = app.get("/v1/verifications?limit=100", &m.test).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "order-1 and order-3"
    );
}

async fn keys_are_required_and_checked(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let (_, secret) = m.test.rsplit_once('_').unwrap();
    let forged = m.test.replace(secret, &"0".repeat(64));
    for auth in [
        None,
        Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer not-a-key".to_owned()),
        Some(format!("Bearer {forged}")),
        Some(format!(
            "Bearer {}",
            m.test.replace("ars_test_", "ars_live_")
        )),
    ] {
        let mut request = app.http.get(format!("{}/v1/verifications", app.base));
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(problem_code(&body), "unauthorized");
    }
    let (status, _) = app.get("/v1/verifications", &m.test).await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/v1/verifications", &m.live).await;
    assert_eq!(status, 200, "live keys authenticate too");
}

async fn merchants_and_modes_never_see_each_other(db: &TestDb) {
    let app = TestApp::start(db).await;
    let a = app.merchant("a").await;
    let b = app.merchant("b").await;
    let view = run(
        &app,
        &a.test,
        "consent_record",
        "010-0000-0015",
        json!({ "fields": consent_fields() }),
    )
    .await;
    let id = view["id"].as_str().unwrap();
    for key in [&b.test, &b.live, &a.live] {
        for (method, path, body) in [
            (Method::GET, format!("/v1/verifications/{id}"), None),
            (
                Method::POST,
                format!("/v1/verifications/{id}/check"),
                Some(json!({ "code": CODE })),
            ),
            (Method::POST, format!("/v1/verifications/{id}/cancel"), None),
            (
                Method::GET,
                format!("/v1/verifications/{id}/evidence"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/verifications/{id}/recording"),
                None,
            ),
        ] {
            let (status, body) = app
                .call(method.clone(), &path, Some(key), body.as_ref())
                .await;
            assert_eq!(
                (status, problem_code(&body)),
                (404, "not_found"),
                "{method} {path}"
            );
        }
        let (_, list) = app.get("/v1/verifications", key).await;
        assert_eq!(list["data"], json!([]));
    }
    let (status, _) = app
        .get(&format!("/v1/verifications/{id}/evidence"), &a.test)
        .await;
    assert_eq!(status, 200);
    let events = app.hooks.finished(id).await.event;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/deliveries/{events}/redeliver"),
            Some(&b.test),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, deliveries) = app.get("/v1/webhooks/deliveries", &b.test).await;
    assert_eq!(deliveries["data"], json!([]));
    // PINs are per merchant too.
    let pin = json!({ "pin": "2580" });
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/customers/c1/pin",
            Some(&a.test),
            Some(&pin),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .post(
            "/v1/verifications",
            &b.test,
            &json!({ "phone": "010-0000-0014", "scenario": "enter_pin", "customer_ref": "c1" }),
        )
        .await;
    assert_eq!((status, problem_code(&body)), (422, "pin_not_registered"));
    let (status, _) = app
        .call(Method::DELETE, "/v1/customers/c1/pin", Some(&b.test), None)
        .await;
    assert_eq!(status, 404);
}

async fn sandbox_and_live_pins_are_two_worlds(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let put = |key: &str, pin: &str| {
        let (app, key, pin) = (&app, key.to_owned(), json!({ "pin": pin }));
        async move {
            app.call(
                Method::PUT,
                "/v1/customers/cust-1/pin",
                Some(&key),
                Some(&pin),
            )
            .await
        }
    };
    let delete = |key: &str| {
        let (app, key) = (&app, key.to_owned());
        async move {
            app.call(Method::DELETE, "/v1/customers/cust-1/pin", Some(&key), None)
                .await
        }
    };
    // The phone keys 2580: the live PIN. The sandbox registers another.
    let enter_pin =
        json!({ "phone": "010-0000-0014", "scenario": "enter_pin", "customer_ref": "cust-1" });
    assert_eq!(put(&m.live, "2580").await.0, 204);
    assert_eq!(put(&m.test, "1111").await.0, 204);
    let live = run(
        &app,
        &m.live,
        "enter_pin",
        "010-0000-0014",
        enter_pin.clone(),
    )
    .await;
    assert_eq!(
        (&live["mode"], &live["outcome"]),
        (&json!("live"), &json!("verified")),
        "a sandbox key did not replace the live PIN: {}",
        live["reason"]
    );
    let test = run(
        &app,
        &m.test,
        "enter_pin",
        "010-0000-0014",
        enter_pin.clone(),
    )
    .await;
    // The phone keys 2580 once: the sandbox refuses it and asks again in
    // vain.
    assert_eq!(
        test["outcome"], "no_input",
        "sandbox calls check the sandbox's PIN: {}",
        test["reason"]
    );

    // Removing the sandbox's PIN leaves the live one, and the other way.
    assert_eq!(delete(&m.test).await.0, 204);
    let (status, body) = delete(&m.test).await;
    assert_eq!((status, problem_code(&body)), (404, "not_found"));
    let (status, body) = app.post("/v1/verifications", &m.test, &enter_pin).await;
    assert_eq!((status, problem_code(&body)), (422, "pin_not_registered"));
    let (status, body) = app.post("/v1/verifications", &m.live, &enter_pin).await;
    assert_eq!(status, 201, "the live PIN is still there: {body}");
    app.finished(&m.live, body["id"].as_str().unwrap()).await;
    assert_eq!(delete(&m.live).await.0, 204);
    assert_eq!(put(&m.test, "2580").await.0, 204);
    let (status, body) = app.post("/v1/verifications", &m.live, &enter_pin).await;
    assert_eq!(
        (status, problem_code(&body)),
        (422, "pin_not_registered"),
        "a sandbox PIN is no live PIN"
    );
}

async fn birthdates_are_validated_checked_and_erased(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let body = |scenario: &str, birthdate: Option<Value>| {
        let mut body = json!({ "phone": "010-0000-0019", "scenario": scenario });
        if let Some(date) = birthdate {
            body["birthdate"] = date;
        }
        body
    };
    // Today in Korea: born today is fine, tomorrow is not.
    let korea = chrono::Utc::now() + chrono::Duration::hours(9);
    let tomorrow = (korea + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for (request, status, code) in [
        (body("enter_birthdate", None), 422, "missing_birthdate"),
        (
            body("enter_code", Some(json!("1990-01-01"))),
            422,
            "birthdate_not_used",
        ),
        (
            body("enter_birthdate", Some(json!("2023-02-30"))),
            422,
            "invalid_birthdate",
        ),
        (
            body("enter_birthdate", Some(json!("1900-02-29"))),
            422,
            "invalid_birthdate",
        ),
        (
            body("enter_birthdate", Some(json!("1990-1-1"))),
            422,
            "invalid_birthdate",
        ),
        (
            body("enter_birthdate", Some(json!("19900101"))),
            422,
            "invalid_birthdate",
        ),
        (
            body("enter_birthdate", Some(json!("90-01-01"))),
            422,
            "invalid_birthdate",
        ),
        (
            body("enter_birthdate", Some(json!(tomorrow))),
            422,
            "birthdate_in_future",
        ),
        (
            body("enter_birthdate", Some(json!("2999-01-01"))),
            422,
            "birthdate_in_future",
        ),
        (
            body("enter_birthdate", Some(json!("1899-12-31"))),
            422,
            "birthdate_too_early",
        ),
        (
            body("enter_birthdate", Some(json!(19900101))),
            422,
            "invalid_request",
        ),
    ] {
        let (got, answer) = app.post("/v1/verifications", &m.test, &request).await;
        assert_eq!(
            (got, problem_code(&answer)),
            (status, code),
            "{request}: {answer}"
        );
    }
    let (status, list) = app.get("/v1/verifications", &m.test).await;
    assert_eq!(
        (status, &list["data"]),
        (200, &json!([])),
        "nothing was stored"
    );

    // Over the sandbox: the 8-digit and 6-digit forms are right, a wrong
    // date three times is `wrong_input`, silence is `no_input`, and a right
    // date keyed for another birth date is wrong (then silence).
    let born = Some(json!("1990-01-01"));
    let cases = [
        ("010-0000-0019", born.clone(), "verified"),
        ("010-0000-0020", born.clone(), "verified"),
        ("010-0000-0021", born.clone(), "wrong_input"),
        ("010-0000-0001", born.clone(), "no_input"),
        ("010-0000-0019", Some(json!("1991-01-01")), "no_input"),
    ];
    let mut ids = Vec::new();
    for (phone, birthdate, outcome) in cases {
        let mut request = body("enter_birthdate", birthdate);
        request["phone"] = json!(phone);
        request["callback_url"] = json!(app.hooks.url());
        let created = app.create(&m.test, &request).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let view = app.finished(&m.test, &id).await;
        assert_eq!(view["outcome"], outcome, "{phone}: {}", view["reason"]);
        for text in strings(&view).iter().chain(strings(&created).iter()) {
            for secret in ["1990-01-01", "19900101", "900101", "1991-01-01"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        ids.push(id);
    }
    // Erased once each verification ended.
    for id in &ids {
        let id = arsgate::domain::VerificationId::parse(id).unwrap();
        let stored = app.store.verification_by_id(id).await.unwrap().unwrap();
        assert_eq!(stored.request.birthdate_digest, None, "{id}");
    }
    // The switch never saw the date, in any form: only the keys the phone
    // pressed travel, as DTMF, from the phone to the switch.
    for command in app.sandbox().commands() {
        let mut text = command.line().to_owned();
        for (name, value) in command.headers().iter() {
            text.push_str(&format!("\n{name}: {value}"));
        }
        if let Some(body) = command.body_bytes() {
            text.push_str(&String::from_utf8_lossy(body));
        }
        for secret in ["1990-01-01", "19900101", "1991-01-01", "19910101"] {
            assert!(
                !text.contains(secret),
                "{secret} sent to the switch: {text}"
            );
        }
    }
}

async fn deliveries_and_idempotency_keys_are_kept_per_mode(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let test = run(&app, &m.test, "event_optin", "010-0000-0017", json!({})).await;
    let live = run(&app, &m.live, "event_optin", "010-0000-0017", json!({})).await;
    let mut events = Vec::new();
    for (key, view) in [(&m.test, &test), (&m.live, &live)] {
        let id = view["id"].as_str().unwrap();
        let event = app.hooks.finished(id).await.event;
        // The listener has the webhook a moment before the worker records it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let list = loop {
            let (_, list) = app.get("/v1/webhooks/deliveries", key).await;
            if list["data"][0]["state"] == "delivered" || tokio::time::Instant::now() > deadline {
                break list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let listed: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["verification_id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, vec![id], "a key lists its own mode's deliveries");
        assert_eq!(list["data"][0]["state"], "delivered");
        events.push(event);
    }
    let (test_event, live_event) = (&events[0], &events[1]);
    for (key, event) in [(&m.test, live_event), (&m.live, test_event)] {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/deliveries/{event}/redeliver"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(
            (status, problem_code(&body)),
            (404, "not_found"),
            "the other mode's event {event}"
        );
    }
    let (_, list) = app.get("/v1/webhooks/deliveries", &m.live).await;
    assert_eq!(
        list["data"][0]["state"], "delivered",
        "the live event was not queued again"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/deliveries/{live_event}/redeliver"),
            Some(&m.live),
            None,
        )
        .await;
    assert_eq!(status, 202);

    // One Idempotency-Key value is two keys, one per mode.
    let body = json!({ "phone": "010-0000-0004", "scenario": "enter_code" });
    let send = |key: &str| {
        app.request(Method::POST, "/v1/verifications", Some(key), Some(&body))
            .header("Idempotency-Key", "order-1")
            .send()
    };
    let sandbox = send(&m.test).await.unwrap();
    assert_eq!(sandbox.status(), 201);
    let sandbox: Value = sandbox.json().await.unwrap();
    let real = send(&m.live).await.unwrap();
    assert_eq!(
        real.status(),
        201,
        "a sandbox request does not block a live one"
    );
    assert!(real.headers().get("idempotent-replayed").is_none());
    let real: Value = real.json().await.unwrap();
    assert_eq!(real["mode"], "live");
    assert_ne!(real["id"], sandbox["id"]);
    for (key, first) in [(&m.test, &sandbox), (&m.live, &real)] {
        let again = send(key).await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["id"], first["id"], "each mode replays its own");
    }
}

async fn check_limits_are_fixed_when_the_verification_is_created(db: &TestDb) {
    let app = TestApp::start(db).await;
    let three = MerchantSettings {
        max_check_attempts: 3,
        ..MerchantSettings::default()
    };
    let m = app.merchant_with("acme", three.clone()).await;
    // A verification whose call has read its code out (before that, a
    // check is `409 code_not_delivered`).
    let new = || async {
        let id = app
            .create(
                &m.test,
                &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.wait_for(&m.test, &id, |v| v["check"]["code_heard_at"].is_string())
            .await;
        id
    };
    let check = |id: &str, code: &str| {
        let (app, key) = (&app, &m.test);
        let (path, body) = (
            format!("/v1/verifications/{id}/check"),
            json!({ "code": code }),
        );
        async move { app.post(&path, key, &body).await }
    };
    let locked = new().await;
    for _ in 0..3 {
        assert_eq!(check(&locked, "999999").await.0, 200);
    }
    let (status, body) = check(&locked, CODE).await;
    assert_eq!((status, problem_code(&body)), (429, "too_many_attempts"));

    // The merchant raises its setting (`arsgate merchants set`): it applies
    // to verifications created from then on.
    let ten = MerchantSettings {
        max_check_attempts: 10,
        ..MerchantSettings::default()
    };
    app.store
        .set_merchant_settings(m.merchant.id, &ten)
        .await
        .unwrap();
    let (status, body) = check(&locked, CODE).await;
    assert_eq!(
        (status, problem_code(&body)),
        (429, "too_many_attempts"),
        "a locked code stays locked"
    );
    let (_, view) = app
        .get(&format!("/v1/verifications/{locked}"), &m.test)
        .await;
    assert_eq!(view["check"]["max_attempts"], 3);
    let generous = new().await;
    let (_, view) = app
        .get(&format!("/v1/verifications/{generous}"), &m.test)
        .await;
    assert_eq!(view["check"]["max_attempts"], 10);

    // Lowering it does not shorten the verifications already made.
    app.store
        .set_merchant_settings(m.merchant.id, &three)
        .await
        .unwrap();
    let (status, body) = check(&generous, "999999").await;
    assert_eq!((status, &body["attempts_remaining"]), (200, &json!(9)));
}

async fn requests_are_validated_with_stable_codes(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let key = m.test.as_str();
    let base = |extra: Value| {
        let mut body = json!({ "phone": "010-1234-5678", "scenario": "read_code" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let consent = |fields: Value| json!({ "phone": "010-1234-5678", "scenario": "consent_record", "fields": fields });
    let mut broken_fields = consent_fields();
    broken_fields["account_masked"] = json!("000-abc");
    let mut braces = consent_fields();
    braces["holder_name"] = json!("홍길동${uuid_kill}");
    let mut extra = consent_fields();
    extra["nickname"] = json!("x");
    let mut missing = consent_fields();
    missing.as_object_mut().unwrap().remove("bank");
    let cases = [
        (base(json!({ "phone": "12345" })), 422, "invalid_phone"),
        (
            base(json!({ "phone": "+1 415 555 0100" })),
            422,
            "invalid_phone",
        ),
        (
            base(json!({ "phone": "010-1234-5678 originate" })),
            422,
            "invalid_phone",
        ),
        (
            base(json!({ "phone": "010-1234-5678}{x=1" })),
            422,
            "invalid_phone",
        ),
        (
            base(json!({ "phone": "010\r\n1234" })),
            422,
            "invalid_phone",
        ),
        (
            base(json!({ "scenario": "read_code_v9" })),
            422,
            "unknown_scenario",
        ),
        (base(json!({ "language": "jp" })), 422, "invalid_language"),
        (
            base(json!({ "callback_url": "ftp://merchant.example/x" })),
            422,
            "invalid_callback_url",
        ),
        (
            base(json!({ "callback_url": "not a url" })),
            422,
            "invalid_callback_url",
        ),
        (
            base(json!({ "callback_url": "https://user:pw@merchant.example/x" })),
            422,
            "invalid_callback_url",
        ),
        (
            base(json!({ "customer_ref": "a b" })),
            422,
            "invalid_customer_ref",
        ),
        (
            base(json!({ "customer_ref": "x".repeat(65) })),
            422,
            "invalid_customer_ref",
        ),
        (base(json!({ "metadata": [1, 2] })), 422, "invalid_metadata"),
        (
            base(json!({ "metadata": { "blob": "x".repeat(5000) } })),
            422,
            "invalid_metadata",
        ),
        (
            base(json!({ "fields": { "bank": "x" } })),
            422,
            "unknown_field",
        ),
        (base(json!({ "surprise": 1 })), 422, "unknown_field"),
        (json!({ "scenario": "read_code" }), 422, "missing_field"),
        (base(json!({ "phone": 1012345678 })), 422, "invalid_request"),
        (consent(missing), 422, "missing_field"),
        (consent(broken_fields), 422, "invalid_field"),
        (consent(braces), 422, "invalid_field"),
        (consent(extra), 422, "unknown_field"),
        (
            json!({ "phone": "010-1234-5678", "scenario": "enter_pin" }),
            422,
            "missing_customer_ref",
        ),
        (
            json!({ "phone": "010-1234-5678", "scenario": "enter_pin", "customer_ref": "nobody" }),
            422,
            "pin_not_registered",
        ),
    ];
    for (body, status, code) in cases {
        let (got, problem) = app.post("/v1/verifications", key, &body).await;
        assert_eq!(
            (got, problem_code(&problem)),
            (status, code),
            "{body}: {problem}"
        );
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], format!("urn:arsgate:problem:{code}"));
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    let raw = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .post(format!("{}/v1/verifications", app.base))
            .bearer_auth(key)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let not_json = raw(b"{\"phone\": ".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(problem_code(&body), "invalid_json");
    let form = raw(b"phone=010".to_vec(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let huge = format!(
        r#"{{"phone": "010-1234-5678", "scenario": "read_code", "metadata": {{"x": "{}"}}}}"#,
        "x".repeat(70_000)
    );
    let huge = raw(huge.into_bytes(), "application/json").await.unwrap();
    assert_eq!(huge.status(), 413);
    // The rest of the body is never read: the client must not reuse the
    // connection.
    assert_eq!(huge.headers()["connection"], "close");
    let body: Value = huge.json().await.unwrap();
    assert_eq!(problem_code(&body), "payload_too_large");

    let (status, body) = app.call(Method::GET, "/v1/nothing", Some(key), None).await;
    assert_eq!((status, problem_code(&body)), (404, "not_found"));
    let (status, body) = app
        .call(Method::DELETE, "/v1/verifications", Some(key), None)
        .await;
    assert_eq!((status, problem_code(&body)), (405, "method_not_allowed"));
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/customers/c1/pin",
            Some(key),
            Some(&json!({ "pin": "12ab" })),
        )
        .await;
    assert_eq!((status, problem_code(&body)), (422, "invalid_pin"));
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/customers/bad%20ref/pin",
            Some(key),
            Some(&json!({ "pin": "1234" })),
        )
        .await;
    assert_eq!((status, problem_code(&body)), (422, "invalid_customer_ref"));
    let (status, body) = app.get("/v1/verifications/vrf_nope", key).await;
    assert_eq!((status, problem_code(&body)), (404, "not_found"));
    for query in [
        "status=done",
        "limit=0",
        "limit=101",
        "created_from=yesterday",
        "cursor=garbage",
        "colour=red",
    ] {
        let (status, body) = app.get(&format!("/v1/verifications?{query}"), key).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    // A signed year parses as an integer but is not `YYYY-MM`.
    for month in ["2026-13", "%2B123-01", "-123-01", "2026-%2B1"] {
        let (status, body) = app.get(&format!("/v1/usage?month={month}"), key).await;
        assert_eq!(
            (status, problem_code(&body)),
            (422, "invalid_field"),
            "{month}"
        );
    }

    let (_, list) = app.get("/v1/verifications", key).await;
    assert_eq!(list["data"], json!([]), "nothing refused was created");
    assert_eq!(app.sandbox().channels(), 0, "nothing refused was called");
}

async fn spoken_fields_refuse_invisible_characters(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    for (field, value) in [
        // A right-to-left override: the record would show another account.
        ("account_masked", "000-\u{202e}1111-**-22"),
        ("holder_name", "홍\u{200b}길동"),
        ("holder_name", "홍길동\u{200d}"),
        ("bank", "이노\u{2060}은행"),
        ("purpose", "\u{feff}자동이체 출금"),
        ("purpose", "자동이체 \u{2066}출금\u{2069}"),
    ] {
        let mut fields = consent_fields();
        fields[field] = json!(value);
        let (status, problem) = app
            .post(
                "/v1/verifications",
                &m.test,
                &json!({ "phone": "010-0000-0015", "scenario": "consent_record", "fields": fields }),
            )
            .await;
        assert_eq!(
            (status, problem_code(&problem)),
            (422, "invalid_field"),
            "{field} = {value:?}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{detail}");
        assert!(detail.contains("U+"), "the character is named: {detail}");
        assert!(
            !detail.chars().any(|c| c > '\u{7f}' && !c.is_alphanumeric()),
            "the detail carries no invisible character: {detail:?}"
        );
    }
    let (_, list) = app.get("/v1/verifications", &m.test).await;
    assert_eq!(list["data"], json!([]), "nothing refused was created");
}

async fn cancel_ends_a_live_or_ringing_call(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    for (phone, state) in [("010-0000-0001", "answered"), ("010-0000-0006", "calling")] {
        let created = app
            .create(
                &m.test,
                &json!({ "phone": phone, "scenario": "consent_record", "fields": consent_fields(), "callback_url": app.hooks.url() }),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        app.wait_for(&m.test, id, |v| v["status"] == state).await;
        let (status, view) = app
            .call(
                Method::POST,
                &format!("/v1/verifications/{id}/cancel"),
                Some(&m.test),
                None,
            )
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["status"], "finished");
        assert_eq!(view["outcome"], "canceled");
        let hook = app.hooks.finished(id).await;
        assert_eq!(hook.body["data"]["outcome"], "canceled");
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/v1/verifications/{id}/cancel"),
                Some(&m.test),
                None,
            )
            .await;
        assert_eq!((status, problem_code(&body)), (409, "already_finished"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.sandbox().channels() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the calls were hung up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn consent_leaves_evidence_and_a_recording(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let view = run(
        &app,
        &m.test,
        "consent_record",
        "010-0000-0015",
        json!({ "fields": consent_fields() }),
    )
    .await;
    assert_eq!(view["outcome"], "consented");
    let id = view["id"].as_str().unwrap();
    let (status, bundle) = app
        .get(&format!("/v1/verifications/{id}/evidence"), &m.test)
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert!(bundle["consent_text"].as_str().unwrap().contains("홍길동"));
    assert_eq!(bundle["key"], "1");
    assert!(bundle["key_at"].is_string());
    assert_eq!(bundle["callee"], "+821000000015");
    assert_eq!(bundle["caller"], "0215880000");
    assert_eq!(bundle["outcome"], "consented");
    assert_eq!(bundle["timeline"], view["timeline"]);
    let mut unsealed = bundle.clone();
    let seal = unsealed
        .as_object_mut()
        .unwrap()
        .remove("bundle_sha256")
        .unwrap();
    assert_eq!(
        seal.as_str().unwrap(),
        hex::encode(Sha256::digest(unsealed.to_string().as_bytes())),
        "the seal covers the bundle"
    );

    let response = app
        .request(
            Method::GET,
            &format!("/v1/verifications/{id}/recording"),
            Some(&m.test),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    let digest = response.headers()["repr-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let wav = response.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    let sha = Sha256::digest(&wav);
    assert_eq!(
        hex::encode(sha),
        bundle["recording"]["sha256"].as_str().unwrap()
    );
    use base64::Engine;
    assert_eq!(
        digest,
        format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(sha)
        )
    );
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    let millis = u64::from(reader.duration()) * 1000 / u64::from(reader.spec().sample_rate);
    assert_eq!(Some(millis), bundle["recording"]["duration_ms"].as_u64());

    // Altered on disk: refused, not served.
    let file = std::fs::read_dir(app.data_dir().join("sandbox/recordings/recordings"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut altered = std::fs::read(&file).unwrap();
    let last = altered.len() - 1;
    altered[last] ^= 0xff;
    std::fs::write(&file, altered).unwrap();
    let (status, body) = app
        .get(&format!("/v1/verifications/{id}/recording"), &m.test)
        .await;
    assert_eq!((status, problem_code(&body)), (500, "recording_altered"));

    let other = run(&app, &m.test, "event_optin", "010-0000-0017", json!({})).await;
    let other = other["id"].as_str().unwrap();
    for what in ["evidence", "recording"] {
        let (status, _) = app
            .get(&format!("/v1/verifications/{other}/{what}"), &m.test)
            .await;
        assert_eq!(status, 404, "{what} of a scenario that records nothing");
    }
}

async fn usage_counts_billable_authentications(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let outcomes = [
        run(&app, &m.test, "enter_code", "010-0000-0004", json!({})).await,
        run(&app, &m.test, "enter_code", "010-0000-0013", json!({})).await,
        run(&app, &m.test, "read_code", "010-0000-0007", json!({})).await,
        run(&app, &m.test, "event_optin", "010-0000-0017", json!({})).await,
    ];
    let expected = ["verified", "wrong_input", "busy", "consented"];
    for (view, outcome) in outcomes.iter().zip(expected) {
        assert_eq!(view["outcome"], outcome);
    }
    let (status, usage) = app.get("/v1/usage", &m.test).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["mode"], "test");
    assert_eq!(
        usage["billable"],
        json!({ "enter_code": 2, "event_optin": 1 })
    );
    assert_eq!(usage["billable_total"], 3);
    assert_eq!(usage["calls"], 4);
    let seconds = usage["answered_seconds"].as_u64().unwrap();
    assert!(seconds > 0, "answered time is counted");
    assert_eq!(usage["minutes"].as_u64().unwrap(), seconds.div_ceil(60));
    let month = usage["month"].as_str().unwrap().to_owned();
    let (_, same) = app.get(&format!("/v1/usage?month={month}"), &m.test).await;
    assert_eq!(same, usage);
    let (_, live) = app.get("/v1/usage", &m.live).await;
    assert_eq!(live["calls"], 0, "sandbox calls are not live usage");
    let (_, past) = app.get("/v1/usage?month=2020-01", &m.test).await;
    assert_eq!(past["billable_total"], 0);
}

async fn failed_webhooks_are_retried_then_dead_then_redelivered(db: &TestDb) {
    let app = TestApp::start_with(db, |c| {
        c.webhooks.retry_for = Duration::from_millis(1500);
    })
    .await;
    let m = app.merchant("acme").await;
    app.hooks.fail_next(2);
    let view = run(&app, &m.test, "event_optin", "010-0000-0017", json!({})).await;
    let id = view["id"].as_str().unwrap();
    let hook = app.hooks.finished(id).await;
    let attempts: Vec<_> = app
        .hooks
        .received()
        .into_iter()
        .filter(|r| r.verification == id)
        .collect();
    assert_eq!(attempts.len(), 3, "two failures, then delivered");
    assert!(
        attempts.iter().all(|a| a.event == hook.event && a.signed),
        "one event, signed each time"
    );
    // The listener has the webhook a moment before the worker records it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let list = loop {
        let (_, list) = app.get("/v1/webhooks/deliveries", &m.test).await;
        if list["data"][0]["state"] == "delivered" || tokio::time::Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let delivery = &list["data"][0];
    assert_eq!(delivery["id"], hook.event.as_str());
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 204);

    // An endpoint that keeps failing: dead after the retry window.
    app.hooks.fail_next(u32::MAX);
    let view = run(&app, &m.test, "event_optin", "010-0000-0018", json!({})).await;
    let id = view["id"].as_str().unwrap().to_owned();
    let dead = loop {
        let (_, list) = app.get("/v1/webhooks/deliveries", &m.test).await;
        let mine = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["verification_id"] == id.as_str())
            .cloned();
        if let Some(d) = mine.filter(|d| d["state"] == "dead") {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead["last_status"], 500);
    assert!(dead["attempts"].as_u64().unwrap() >= 2);
    assert!(app.hooks.accepted_for(&id).is_empty());

    app.hooks.fail_next(0);
    let event = dead["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/deliveries/{event}/redeliver"),
            Some(&m.test),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let hook = app.hooks.finished(&id).await;
    assert_eq!(hook.event, event, "redelivered under the same event id");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/webhooks/deliveries/evt_nope/redeliver",
            Some(&m.test),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

async fn callback_urls_to_internal_addresses_are_refused(db: &TestDb) {
    // No allowlist: what a production server runs with by default.
    let app = TestApp::start_with(db, |c| c.webhooks.allow_networks.clear()).await;
    let m = app.merchant("acme").await;
    for url in [
        "http://127.0.0.1:8080/x",
        "http://127.1/x",
        "http://0x7f.1:1/x",
        "http://2130706433/x",
        "http://[::1]:1/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://localhost:1/x",
        "http://LOCALHOST./x",
        "http://api.localhost/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://10.0.0.1/x",
        "https://172.16.5.4/x",
        "http://192.168.0.10/x",
        "http://[fd12:3456::1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0:80/x",
        "http://[::]/x",
        "http://224.0.0.1/x",
        "http://100.64.0.1/x",
    ] {
        for key in [&m.test, &m.live] {
            let (status, problem) = app
                .post(
                    "/v1/verifications",
                    key,
                    &json!({ "phone": "010-0000-0007", "scenario": "read_code", "callback_url": url }),
                )
                .await;
            assert_eq!(
                (status, problem_code(&problem)),
                (422, "forbidden_callback_url"),
                "{url}: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("public addresses only"), "{url}: {detail}");
        }
    }
    // A name is judged by its addresses when a webhook is posted.
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0007", "scenario": "read_code", "callback_url": "https://merchant.example/hooks" }),
        )
        .await;
    assert_eq!(created["callback_url"], "https://merchant.example/hooks");
    let (_, list) = app.get("/v1/verifications", &m.live).await;
    assert_eq!(list["data"], json!([]), "nothing refused was created");
}

/// The delivery of `event` as `key` lists it.
async fn delivery(app: &TestApp, key: &str, event: &str) -> Value {
    let (_, list) = app.get("/v1/webhooks/deliveries", key).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == event)
        .cloned()
        .unwrap_or_else(|| panic!("no delivery {event} in {list}"))
}

async fn webhooks_reach_internal_addresses_only_when_allowed(db: &TestDb) {
    // Allowed to loopback (the test configuration): two verifications
    // whose webhooks reach the endpoint, one by name and one by address.
    let mut app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let by_name = app.hooks.url().replace("127.0.0.1", "localhost");
    let mut events = Vec::new();
    for url in [by_name, app.hooks.url()] {
        let view = run(
            &app,
            &m.test,
            "read_code",
            "010-0000-0007",
            json!({ "callback_url": url }),
        )
        .await;
        let id = view["id"].as_str().unwrap().to_owned();
        events.push((app.hooks.finished(&id).await.event, id));
    }
    let reached = app.hooks.received().len();

    // The operator closes loopback: the same deliveries, sent again, are
    // refused on the address they would connect to.
    app.config.webhooks.allow_networks.clear();
    app.restart().await;
    for (event, _) in &events {
        let path = format!("/v1/webhooks/deliveries/{event}/redeliver");
        let (status, _) = app.call(Method::POST, &path, Some(&m.test), None).await;
        assert_eq!(status, 202);
    }
    let expected = [
        // `localhost` resolves to loopback only: no address is left.
        "refused: the host resolves only to addresses webhooks may not reach",
        "refused: 127.0.0.1 is a loopback address",
    ];
    for ((event, _), expected) in events.iter().zip(expected) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let d = delivery(&app, &m.test, event).await;
            if d["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with(expected))
            {
                assert_eq!(d["state"], "pending", "refusals are retried: {d}");
                assert_eq!(d["last_status"], Value::Null, "{d}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{event}: {d}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(
        app.hooks.received().len(),
        reached,
        "nothing reached the loopback endpoint"
    );

    // Allowed again (IPv4 loopback only): both get through.
    app.config.webhooks.allow_networks = vec!["127.0.0.0/8".parse().unwrap()];
    app.restart().await;
    for (event, id) in &events {
        let path = format!("/v1/webhooks/deliveries/{event}/redeliver");
        let (status, _) = app.call(Method::POST, &path, Some(&m.test), None).await;
        assert_eq!(status, 202);
        app.hooks
            .wait_for(|r| {
                r.iter()
                    .filter(|d| d.verification == *id && d.answered < 300)
                    .count()
                    >= 2
            })
            .await;
    }
}

async fn public_addresses_can_be_closed(db: &TestDb) {
    // A sandbox whose clients must not make it post outside (CI's API
    // fuzzer runs against one): loopback allowed, public closed.
    let app = TestApp::start_with(db, |c| c.webhooks.allow_public = false).await;
    let m = app.merchant("acme").await;
    for url in ["http://93.184.215.14/x", "https://[2606:4700:4700::1111]/x"] {
        let (status, problem) = app
            .post(
                "/v1/verifications",
                &m.test,
                &json!({ "phone": "010-0000-0007", "scenario": "read_code", "callback_url": url }),
            )
            .await;
        assert_eq!(
            (status, problem_code(&problem)),
            (422, "forbidden_callback_url"),
            "{url}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("allow_public"), "{url}: {detail}");
    }
    let view = run(
        &app,
        &m.test,
        "read_code",
        "010-0000-0007",
        json!({ "callback_url": app.hooks.url() }),
    )
    .await;
    let id = view["id"].as_str().unwrap();
    assert_eq!(
        app.hooks.finished(id).await.verification,
        id,
        "loopback is still reached"
    );
}

async fn redeliveries_are_rate_limited_per_merchant(db: &TestDb) {
    let app = TestApp::start_with(db, |c| {
        c.webhooks.redeliveries_per_minute = std::num::NonZeroU32::new(3).unwrap();
    })
    .await;
    let a = app.merchant("a").await;
    let b = app.merchant("b").await;
    let mut events = Vec::new();
    for m in [&a, &b] {
        let view = run(&app, &m.test, "read_code", "010-0000-0007", json!({})).await;
        let id = view["id"].as_str().unwrap().to_owned();
        events.push(app.hooks.finished(&id).await.event);
    }
    let redeliver = |key: &str, event: &str| {
        app.request(
            Method::POST,
            &format!("/v1/webhooks/deliveries/{event}/redeliver"),
            Some(key),
            None,
        )
        .send()
    };
    for _ in 0..3 {
        assert_eq!(redeliver(&a.test, &events[0]).await.unwrap().status(), 202);
    }
    let refused = redeliver(&a.test, &events[0]).await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem_code(&problem), "too_many_redeliveries");
    // Events it cannot see count too: the limit is on asking.
    assert_eq!(redeliver(&a.live, &events[1]).await.unwrap().status(), 429);
    // Another merchant has its own.
    assert_eq!(redeliver(&b.test, &events[1]).await.unwrap().status(), 202);
}

async fn live_keys_call_through_the_configured_node(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let (status, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        ready["nodes"],
        json!([{ "name": "fs1", "connected": true }])
    );
    assert_eq!(ready["sandbox"], true);

    let created = app
        .create(
            &m.live,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    assert_eq!(created["mode"], "live");
    let id = created["id"].as_str().unwrap();
    // `calling` is recorded before the originate: wait for the dial itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.live.dialled().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live node never dialled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        app.sandbox().dialled().is_empty(),
        "the sandbox dialled nothing"
    );
    let view = app.finished(&m.live, id).await;
    assert_eq!(view["outcome"], "completed");
    // A live code is derived from the server's secret and the id, never
    // stored: knowing both, the test can compute what the call said.
    let key = CodeKey::new(b"test server secret, at least 32 bytes long".to_vec());
    let code = key.derive_code(id, 6);
    assert_ne!(code.expose(), CODE);
    let (status, body) = app
        .post(
            &format!("/v1/verifications/{id}/check"),
            &m.live,
            &json!({ "code": code.expose() }),
        )
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("approved")));

    let created = app
        .create(
            &m.live,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    assert_ne!(created["code"], CODE, "live codes are not the sandbox's");
    assert_eq!(created["code"].as_str().unwrap().len(), 6);
}

async fn the_answer_is_posted_when_asked(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let view = run(
        &app,
        &m.test,
        "event_optin",
        "010-0000-0017",
        json!({ "notify_answered": true }),
    )
    .await;
    let id = view["id"].as_str().unwrap();
    app.hooks.finished(id).await;
    let kinds: Vec<_> = app
        .hooks
        .accepted_for(id)
        .into_iter()
        .map(|r| (r.kind, r.body["data"]["status"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("verification.answered".to_owned(), json!("answered")),
            ("verification.finished".to_owned(), json!("finished"))
        ]
    );
    let quiet = run(&app, &m.test, "event_optin", "010-0000-0018", json!({})).await;
    let quiet = quiet["id"].as_str().unwrap();
    app.hooks.finished(quiet).await;
    assert_eq!(app.hooks.accepted_for(quiet).len(), 1, "finished only");
}

async fn listings_filter_and_page(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(run(&app, &m.test, "event_optin", "010-0000-0017", json!({})).await["id"].clone());
    }
    let ringing = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0006", "scenario": "read_code" }),
        )
        .await;
    // Created is `pending`; `calling` once the call is placed.
    app.wait_for(&m.test, ringing["id"].as_str().unwrap(), |v| {
        v["status"] == "calling"
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/v1/verifications?scenario=event_optin&limit=2&cursor={c}"),
            None => "/v1/verifications?scenario=event_optin&limit=2".to_owned(),
        };
        let (status, page) = app.get(&query, &m.test).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["data"].as_array().unwrap().len() <= 2);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every one once");
    let (_, unfinished) = app.get("/v1/verifications?status=calling", &m.test).await;
    assert_eq!(unfinished["data"][0]["id"], ringing["id"]);
    let future = "2999-01-01T00:00:00Z";
    let (_, none) = app
        .get(&format!("/v1/verifications?created_from={future}"), &m.test)
        .await;
    assert_eq!(none["data"], json!([]));
    let (_, all) = app
        .get(
            &format!("/v1/verifications?created_to={future}&limit=100"),
            &m.test,
        )
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 6);
}

async fn openapi_describes_every_route(db: &TestDb) {
    let app = TestApp::start_with(db, |config| {
        config.admin.token = Some(arsgate::config::Secret::new("an admin token for the test"));
    })
    .await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("post", "/v1/verifications"),
        ("get", "/v1/verifications"),
        ("get", "/v1/verifications/{id}"),
        ("post", "/v1/verifications/{id}/check"),
        ("post", "/v1/verifications/{id}/cancel"),
        ("get", "/v1/verifications/{id}/evidence"),
        ("get", "/v1/verifications/{id}/recording"),
        ("get", "/v1/verifications/{id}/events"),
        ("put", "/v1/customers/{customer_ref}/pin"),
        ("delete", "/v1/customers/{customer_ref}/pin"),
        ("get", "/v1/usage"),
        ("get", "/v1/limits"),
        ("get", "/v1/webhooks/deliveries"),
        ("post", "/v1/webhooks/deliveries/{id}/redeliver"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/admin/nodes"),
        ("post", "/admin/nodes/{name}/drain"),
        ("post", "/admin/nodes/{name}/resume"),
        ("post", "/admin/reload"),
        ("post", "/freeswitch/dialplan"),
    ];
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut wanted: Vec<_> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    wanted.sort();
    assert_eq!(documented, wanted);
    // Every documented operation is routed: without credentials, /v1,
    // /admin and /freeswitch answer 401 (not 404 or 405), the rest 200.
    for (method, path) in &wanted {
        let concrete = path
            .replace("{id}", "vrf_00000000000000000000000000000000")
            .replace("{customer_ref}", "c1")
            .replace("{name}", "fs1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, _) = app.call(method.clone(), &concrete, None, None).await;
        let guarded = ["/v1/", "/admin/", "/freeswitch/"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let want = if guarded { 401 } else { 200 };
        assert_eq!(status, want, "{method} {concrete}");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["xml_curl"]["scheme"],
        "basic"
    );
    for schema in [
        "VerificationView",
        "Problem",
        "WebhookPayload",
        "CreateVerification",
        "EvidenceBundle",
        "LimitsReport",
        "QueueView",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

/// Writes `request` on a new connection to the app and reads until the
/// server closes it (at most `wait`); what came back, `None` if the
/// connection was still open after `wait`.
async fn raw_exchange(app: &TestApp, request: &[u8], wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(app.server().addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_closed(&mut stream, wait).await
}

/// Everything `stream` receives until the server closes it; `None` if it
/// is still open after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// The status, lower-cased head and parsed body of a raw HTTP response.
fn parse_raw(response: &str) -> (u16, String, Value) {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn slow_clients_are_cut_off_while_others_are_served(db: &TestDb) {
    let header_read_timeout = Duration::from_millis(800);
    let request_timeout = Duration::from_millis(1500);
    let app = TestApp::start_with(db, |config| {
        config.http.header_read_timeout = header_read_timeout;
        config.http.request_timeout = request_timeout;
    })
    .await;
    let m = app.merchant("acme").await;
    // Well past both timeouts: a connection still open then is held.
    let wait = request_timeout + Duration::from_secs(5);

    // Half a request line, then nothing.
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(app.server().addr()).await.unwrap();
        stream.write_all(b"GET /v1/verifica").await.unwrap();
        stalled.push(stream);
    }
    // A whole head, then a body that stops short of its announced length.
    let slow_body = format!(
        "PUT /v1/customers/c1/pin HTTP/1.1\r\nHost: arsgate\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"pin\"",
        m.test
    );
    let mut dribbling = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(app.server().addr()).await.unwrap();
        stream.write_all(slow_body.as_bytes()).await.unwrap();
        dribbling.push(stream);
    }
    // Meanwhile everyone else is served, on fresh connections.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..5 {
        let response = fresh
            .get(format!("{}/v1/limits", app.base))
            .bearer_auth(&m.test)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    for stream in &mut stalled {
        let received = read_until_closed(stream, wait)
            .await
            .expect("a connection that never finished its head is closed");
        assert_eq!(received, "", "it is closed without an answer");
    }
    for stream in &mut dribbling {
        let received = read_until_closed(stream, wait)
            .await
            .expect("a connection whose body never came is closed");
        let (status, head, body) = parse_raw(&received);
        assert_eq!(status, 408, "{received}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert_eq!(problem_code(&body), "request_timeout");
    }

    // A body announced past the limit is refused before it is sent.
    let huge = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: arsgate\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        m.test
    );
    // (A timeout would answer 408; today's server waits for the body.)
    let received = raw_exchange(&app, huge.as_bytes(), wait)
        .await
        .expect("answered and closed");
    let (status, head, body) = parse_raw(&received);
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("content-type: application/problem+json"));
    assert_eq!(problem_code(&body), "payload_too_large");
}

/// Asserts that `response` is a problem with `status` and `code`.
async fn assert_problem(response: reqwest::Response, status: u16, code: &str) {
    let what = format!("{} {}", response.status(), response.url());
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(problem_code(&body), code, "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    assert_eq!(
        body["type"],
        format!("urn:arsgate:problem:{code}"),
        "{what}: {body}"
    );
}

async fn every_error_is_a_problem(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let key = Some(m.test.as_str());
    let send = |method: Method, path: &str| app.request(method, path, key, None).send();

    // Paths that are not UTF-8.
    for (method, path) in [
        (Method::GET, "/v1/verifications/%FF%FE"),
        (Method::POST, "/v1/verifications/%FF%FE/cancel"),
        (Method::DELETE, "/v1/customers/%C3%28/pin"),
        (Method::POST, "/v1/webhooks/deliveries/%FF/redeliver"),
    ] {
        assert_problem(send(method, path).await.unwrap(), 400, "invalid_request").await;
    }
    // A method the route does not take.
    assert_problem(
        send(Method::DELETE, "/v1/usage").await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    // Heads past the API's limits.
    let long = format!("/v1/verifications?scenario={}", "a".repeat(9 * 1024));
    assert_problem(send(Method::GET, &long).await.unwrap(), 414, "uri_too_long").await;
    let mut many = app.request(Method::GET, "/v1/limits", key, None);
    for n in 0..120 {
        many = many.header(format!("x-pad-{n}"), "x");
    }
    assert_problem(many.send().await.unwrap(), 431, "headers_too_large").await;
    let big = app
        .request(Method::GET, "/v1/limits", key, None)
        .header("x-pad", "x".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_problem(big, 431, "headers_too_large").await;

    // What hyper refuses before any route sees it is answered by hyper,
    // without a body (README, "Errors"): a request line that is not HTTP,
    // and a head past twice the limits.
    let wait = Duration::from_secs(10);
    let garbage = raw_exchange(&app, b"\x16\x03\x01 hello\r\n\r\n", wait)
        .await
        .expect("answered and closed");
    let (status, head, _) = parse_raw(&garbage);
    assert_eq!(status, 400, "{garbage}");
    assert!(head.contains("content-length: 0"), "{head}");
    let pads: String = (0..250).map(|n| format!("x-pad-{n}: x\r\n")).collect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: arsgate\r\n{pads}\r\n");
    let received = raw_exchange(&app, request.as_bytes(), wait)
        .await
        .expect("answered and closed");
    let (status, head, _) = parse_raw(&received);
    assert_eq!(status, 431, "{received}");
    assert!(head.contains("content-length: 0"), "{head}");
}

async fn bodies_are_objects(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let key = Some(m.test.as_str());
    let send = |method: Method, path: &str, body: &'static str| {
        app.request(method, path, key, None)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let check = format!("/v1/verifications/{id}/check");
    for body in [
        r#"["000000"]"#,
        r#"["123456"]"#,
        r#""123456""#,
        "123456",
        "null",
    ] {
        let response = send(Method::POST, &check, body).await.unwrap();
        assert_problem(response, 422, "invalid_request").await;
    }
    let response = send(Method::POST, &check, r#"["000000""#).await.unwrap();
    assert_problem(response, 400, "invalid_json").await;
    let (_, view) = app.get(&format!("/v1/verifications/{id}"), &m.test).await;
    assert_eq!(view["check"]["attempts"], 0, "no attempt was used: {view}");

    let response = send(Method::PUT, "/v1/customers/c1/pin", r#"["1234"]"#)
        .await
        .unwrap();
    assert_problem(response, 422, "invalid_request").await;
    let response = send(Method::DELETE, "/v1/customers/c1/pin", "")
        .await
        .unwrap();
    assert_problem(response, 404, "not_found").await;

    let response = send(
        Method::POST,
        "/v1/verifications",
        r#"["010-0000-0001", "read_code"]"#,
    )
    .await
    .unwrap();
    assert_problem(response, 422, "invalid_request").await;
}

async fn codes_are_not_cached_and_nothing_is_sniffed(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let body = json!({ "phone": "010-0000-0004", "scenario": "enter_code" });
    let create = || {
        app.request(
            Method::POST,
            "/v1/verifications",
            Some(&m.test),
            Some(&body),
        )
        .header("Idempotency-Key", "order-1")
        .send()
    };
    let first = create().await.unwrap();
    let replay = create().await.unwrap();
    for response in [&first, &replay] {
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["code"].as_str().map(str::len), Some(6), "{first}");

    let id = first["id"].as_str().unwrap();
    for (method, path, key) in [
        (
            Method::GET,
            format!("/v1/verifications/{id}"),
            Some(&m.test),
        ),
        (
            Method::GET,
            "/v1/verifications/vrf_x".to_owned(),
            Some(&m.test),
        ),
        (Method::GET, "/v1/limits".to_owned(), None),
        (Method::GET, "/nowhere".to_owned(), None),
        (Method::GET, "/healthz".to_owned(), None),
        (Method::GET, "/metrics".to_owned(), None),
        (Method::GET, "/openapi.json".to_owned(), None),
    ] {
        let response = app
            .request(method, &path, key.map(String::as_str), None)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}
