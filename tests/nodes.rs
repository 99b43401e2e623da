//! The live node pool against two or three simulated FreeSWITCH nodes over
//! real TCP: failover on a node's own refusal (and never on a customer's
//! outcome), drain and resume, a node killed under load, the admin API and
//! the `arsgate nodes` command.

mod common;

use std::num::NonZeroU32;

use common::app::TestApp;
use common::store::TestDb;
use serde_json::{Value, json};

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
fn first_node_preferred(config: &mut arsgate::config::Config) {
    config.nodes[0].weight = NonZeroU32::new(10).unwrap();
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
        let rang: Vec<_> = app
            .nodes
            .iter()
            .flat_map(|sim| sim.dialled())
            .filter(|number| number == dialled)
            .collect();
        assert_eq!(rang.len(), 1, "{phone} was dialled once");
    }
    assert!(app.nodes[1].dialled().is_empty(), "nothing went to fs2");
}
