//! The live event stream (`GET /v1/verifications/{id}/events`): a
//! sandbox call's timeline streamed to its end in order and without a
//! digit of its code, `Last-Event-ID` resuming, the merchant and mode
//! rules of `GET`, and on PostgreSQL a stream held by one replica hearing
//! a call another runs (the store's NOTIFY reaching another handle).

#[macro_use]
mod common;

use std::time::Duration;

use arsgate::domain::{MerchantSettings, Timestamp};
use common::app::TestApp;
use common::store::{TestDb, new_verification};
use serde_json::{Value, json};

on_every_store!(
    a_sandbox_call_streams_to_its_end,
    last_event_id_resumes_after_that_entry,
    only_the_merchants_own_verifications_stream,
    the_live_timeline_is_numbered_per_verification,
);

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// A whole stream: its events, once the server closes it (at most 30 s).
async fn stream(app: &TestApp, key: &str, id: &str, last: Option<&str>) -> Vec<Sse> {
    let mut request = app.request(
        reqwest::Method::GET,
        &format!("/v1/verifications/{id}/events"),
        Some(key),
        None,
    );
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    let read = async {
        let mut response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        text
    };
    let text = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the stream ends after the outcome");
    parse(&text)
}

/// The events of an event-stream text (comments skipped).
fn parse(text: &str) -> Vec<Sse> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                    id = Some(value.parse().expect("a numeric id"));
                } else if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(value.trim()).expect("JSON data"));
                }
            }
            Some(Sse {
                id,
                event: event?,
                data: data?,
            })
        })
        .collect()
}

/// The events the verification's timeline says happened, as the stream
/// gives them.
fn entries(events: &[Sse]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event != "end")
        .map(|e| e.data.clone())
        .collect()
}

async fn a_sandbox_call_streams_to_its_end(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let code = created["code"].as_str().expect("enter_code shows a code");
    let events = stream(&app, &m.test, id, None).await;

    // Numbered from 1, one by one, each named by what happened.
    let (end, timeline) = events.split_last().expect("events");
    for (n, event) in timeline.iter().enumerate() {
        assert_eq!(event.id, Some(n as u64 + 1), "{events:?}");
        assert_eq!(event.data["event"], event.event.as_str(), "{event:?}");
    }
    let names: Vec<&str> = timeline.iter().map(|e| e.event.as_str()).collect();
    for expected in ["originated", "answered", "input", "decided", "hung_up"] {
        assert!(names.contains(&expected), "no {expected} in {names:?}");
    }
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(position("originated") < position("answered"), "{names:?}");
    assert!(position("answered") < position("input"), "{names:?}");
    // The input by its length and result, never its digits.
    let input = &timeline[position("input")].data;
    assert_eq!(input["result"], "accepted", "{input}");
    assert_eq!(input["digits"], code.len(), "{input}");

    // Then the outcome, as the verification has it, and the stream closes.
    let view = app.finished(&m.test, id).await;
    assert_eq!(end.event, "end");
    assert_eq!(end.id, None);
    assert_eq!(end.data["status"], "finished");
    assert_eq!(end.data["outcome"], "verified");
    assert_eq!(end.data["outcome"], view["outcome"]);
    assert_eq!(end.data["reason"], view["reason"]);
    // Every entry of the record, in its order.
    assert_eq!(
        entries(&events),
        view["timeline"].as_array().unwrap().clone(),
        "the stream gives the timeline the verification keeps"
    );
    // Not a digit of the code anywhere in the stream.
    let all = serde_json::to_string(&entries(&events)).unwrap();
    assert!(
        !all.contains(code),
        "the code leaked into the stream: {all}"
    );
}

async fn last_event_id_resumes_after_that_entry(db: &TestDb) {
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
    let all = stream(&app, &m.test, id, None).await;
    assert!(all.len() > 3, "{all:?}");

    let resumed = stream(&app, &m.test, id, Some("2")).await;
    assert_eq!(resumed, all[2..].to_vec(), "only the entries after 2");
    assert_eq!(resumed[0].id, Some(3));

    // After the last entry: the outcome alone.
    let last = all[all.len() - 2].id.unwrap().to_string();
    let ended = stream(&app, &m.test, id, Some(&last)).await;
    assert_eq!(ended, all[all.len() - 1..].to_vec());
    assert_eq!(ended[0].event, "end");
}

async fn only_the_merchants_own_verifications_stream(db: &TestDb) {
    let app = TestApp::start(db).await;
    let m = app.merchant("acme").await;
    let other = app.merchant("globex").await;
    let created = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/verifications/{id}/events");
    let (status, body) = app.get(&path, &other.test).await;
    assert_eq!(status, 404, "another merchant's: {body}");
    assert_eq!(body["code"], "not_found");
    let (status, body) = app.get(&path, &m.live).await;
    assert_eq!(status, 404, "a sandbox verification to a live key: {body}");
    let (status, _) = app
        .get("/v1/verifications/vrf_nothing/events", &m.test)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.call(reqwest::Method::GET, &path, None, None).await;
    assert_eq!(status, 401);
    let response = app
        .request(reqwest::Method::GET, &path, Some(&m.test), None)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    app.finished(&m.test, id).await;
}

async fn the_live_timeline_is_numbered_per_verification(db: &TestDb) {
    let store = db.open().await;
    let merchant = store
        .create_merchant("acme", "whsec_test", &MerchantSettings::default())
        .await
        .unwrap();
    let one = store
        .create_verification(&new_verification(
            merchant.id,
            "read_code",
            Timestamp::now(),
        ))
        .await
        .unwrap()
        .id();
    let two = store
        .create_verification(&new_verification(
            merchant.id,
            "read_code",
            Timestamp::now(),
        ))
        .await
        .unwrap()
        .id();
    let mut feed = store.timeline_feed();
    for n in 1..=3 {
        let entry = format!(r#"{{"event":"segment","name":"s{n}"}}"#);
        assert_eq!(store.append_timeline(one, &entry).await.unwrap(), n);
    }
    assert_eq!(store.append_timeline(two, "{}").await.unwrap(), 1);
    let after = store.timeline_after(one, 1, 100).await.unwrap();
    let seqs: Vec<u64> = after.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(after[1].entry, r#"{"event":"segment","name":"s3"}"#);
    assert_eq!(store.timeline_after(one, 1, 1).await.unwrap().len(), 1);
    assert!(store.timeline_after(two, 1, 100).await.unwrap().is_empty());
    // Each append is told, by verification (on PostgreSQL, once its
    // listener is up: see a_notice_reaches_another_replica).
    if matches!(db, TestDb::Sqlite { .. }) {
        let mut told = Vec::new();
        for _ in 0..4 {
            told.push(feed.recv().await.unwrap());
        }
        assert_eq!(told, [one, one, one, two]);
    }
    let unknown = store
        .append_timeline(arsgate::domain::VerificationId::new(), "{}")
        .await;
    assert!(
        matches!(unknown, Err(arsgate::store::StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// An entry written through one handle on the database wakes a
/// subscriber of another: what one replica's call writes reaches the
/// streams another replica holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_reaches_another_replica() {
    let db = TestDb::postgres().await;
    let writer = db.open().await;
    let reader = db.open().await;
    let merchant = writer
        .create_merchant("acme", "whsec_test", &MerchantSettings::default())
        .await
        .unwrap();
    let id = writer
        .create_verification(&new_verification(
            merchant.id,
            "read_code",
            Timestamp::now(),
        ))
        .await
        .unwrap()
        .id();
    let mut feed = reader.timeline_feed();
    // The listener connects in the background: append until it hears.
    let heard = async {
        loop {
            writer.append_timeline(id, "{}").await.unwrap();
            if let Ok(Ok(told)) =
                tokio::time::timeout(Duration::from_millis(500), feed.recv()).await
            {
                return told;
            }
        }
    };
    let told = tokio::time::timeout(Duration::from_secs(10), heard)
        .await
        .expect("the other handle hears of the entry");
    assert_eq!(told, id);
}

/// Two arsgate replicas on one PostgreSQL database: a stream held on one
/// follows, to its end, a sandbox call created through (and run by) the
/// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_on_one_replica_follows_a_call_on_another() {
    let db = TestDb::postgres().await;
    let runs = TestApp::start(&db).await;
    let streams = TestApp::start(&db).await;
    let m = runs.merchant("acme").await;
    let created = runs
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0004", "scenario": "enter_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let events = stream(&streams, &m.test, id, None).await;
    let view = runs.finished(&m.test, id).await;
    let (end, _) = events.split_last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["outcome"], "verified");
    assert_eq!(
        entries(&events),
        view["timeline"].as_array().unwrap().clone()
    );
}
