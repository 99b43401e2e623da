//! Faults between arsgate and FreeSWITCH, seen on a real 1.10.12 and
//! taught to the simulator (issue 10): a frozen node (SIGSTOP), a silent
//! partition of the event socket, a node gone for good. Whatever happens,
//! a customer is dialled at most once per verification, a key pressed
//! while arsgate could not hear is honoured, and every verification ends
//! with the outcome the call really had, within a bound.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use arsgate::config::Config;
use arsgate::domain::Mode;
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use common::app::TestApp;
use common::eventually;
use common::store::TestDb;
use serde_json::{Value, json};

/// arsgate notices a silent node within a second, and gives up on an
/// unreachable node's calls after `lost_after`.
fn quick_to_notice(config: &mut Config, lost_after: Duration) {
    config.esl.command_timeout = Duration::from_millis(300);
    config.esl.connect_timeout = Duration::from_millis(300);
    // The simulators' 20 s heartbeat at their speed.
    config.esl.heartbeat_interval = Duration::from_millis(500);
    config.esl.heartbeat_misses = NonZeroU32::new(2).unwrap();
    config.esl.node_lost_after = lost_after;
}

/// The events of a verification's timeline, in order.
fn events(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["event"].as_str().map(str::to_owned))
        .collect()
}

/// How many times `number` was dialled, over every node.
fn dialled(app: &TestApp, number: &str) -> usize {
    app.nodes
        .iter()
        .flat_map(|sim| sim.dialled())
        .filter(|dialled| dialled == number)
        .count()
}

/// The value of `metric{node="<node>"}` on `/metrics`.
async fn metric(app: &TestApp, metric: &str, node: &str) -> f64 {
    let text = app
        .request(reqwest::Method::GET, "/metrics", None, None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{metric}{{node=\"{node}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Creates a verification of `scenario` to `phone` and waits until its
/// timeline shows `event`; its id.
async fn started(app: &TestApp, key: &str, phone: &str, scenario: &str, event: &str) -> String {
    let created = app
        .create(key, &json!({ "phone": phone, "scenario": scenario }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for(key, &id, |v| events(v).iter().any(|e| e == event))
        .await;
    id
}

/// The first live node as the app's pool sees it.
fn first_node(app: &TestApp) -> std::sync::Arc<arsgate::switch::Node> {
    std::sync::Arc::clone(&app.server().service().pool(Mode::Live).nodes()[0])
}

/// Partitions the first node from arsgate and waits until arsgate has
/// given the silent connection up.
async fn partitioned(app: &TestApp) {
    app.live.partition();
    let node = first_node(app);
    eventually("arsgate gives the silent connection up", || !node.is_up()).await;
}

/// Two nodes, the first preferred.
fn two_nodes_first_preferred(config: &mut Config, lost_after: Duration) {
    config.nodes[0].weight = NonZeroU32::new(10).unwrap();
    quick_to_notice(config, lost_after);
}

/// A node frozen for longer than arsgate waits (SIGSTOP on a real switch,
/// issue 10 finding 2): the originate written to it times out and the node
/// takes no new calls (the next one goes to fs2 at once); the verification
/// is not concluded as failed while the node might still run the
/// originate, but once the node has been unreachable for `node_lost_after`
/// it ends `network_error`, `lost: ...`. When the node runs again it
/// executes the originate it kept in its socket (the simulator's `freeze`
/// does exactly that, as the real switch did): arsgate hangs that channel
/// up as soon as it sees it. The customer is dialled once, never twice,
/// and the late call does not live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_never_rings_twice_and_its_late_call_is_hung_up() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        2,
        |_, _| {},
        |config| two_nodes_first_preferred(config, Duration::from_millis(1500)),
    )
    .await;
    let m = app.merchant("acme").await;
    app.nodes[0].freeze();
    let stuck = app
        .create(
            &m.live,
            &json!({
                "phone": "010-0000-0001",
                "scenario": "read_code",
                "callback_url": app.hooks.url(),
            }),
        )
        .await;
    let stuck = stuck["id"].as_str().unwrap().to_owned();
    let view = app
        .wait_for(&m.live, &stuck, |v| {
            events(v).contains(&"unknown".to_owned())
        })
        .await;
    assert_eq!(view["status"], "calling", "not concluded yet: {view}");

    // The silent node takes no new call: this one goes to fs2 at once.
    let next = app
        .create(
            &m.live,
            &json!({ "phone": "010-0000-0003", "scenario": "read_code" }),
        )
        .await;
    let next = app.finished(&m.live, next["id"].as_str().unwrap()).await;
    assert_eq!(
        events(&next).iter().filter(|e| *e == "originated").count(),
        1
    );
    assert_eq!(app.nodes[1].dialled(), ["01000000003"], "{next}");

    let view = app.finished(&m.live, &stuck).await;
    assert_eq!(view["outcome"], "network_error", "{view}");
    assert!(
        view["reason"].as_str().unwrap().starts_with("lost:"),
        "{view}"
    );
    let hook = app.hooks.finished(&stuck).await;
    assert_eq!(hook.body["data"]["outcome"], "network_error");
    assert_eq!(dialled(&app, "01000000001"), 0, "nothing rang while frozen");

    app.nodes[0].thaw();
    eventually("the kept originate runs on thaw", || {
        dialled(&app, "01000000001") == 1
    })
    .await;
    eventually("arsgate hangs the late call up", || {
        app.nodes[0].channels() == 0
    })
    .await;
    assert_eq!(dialled(&app, "01000000001"), 1, "dialled once, never again");
    let fs1 = first_node(&app);
    eventually("the node is back", || fs1.is_healthy()).await;
    assert_eq!(
        metric(&app, "arsgate_orphan_channels_hung_up_total", "fs1").await,
        1.0
    );
    let view = app
        .get(&format!("/v1/verifications/{stuck}"), &m.live)
        .await
        .1;
    assert_eq!(
        view["outcome"], "network_error",
        "the outcome stands: {view}"
    );
}

/// A node frozen only briefly: the originate it kept runs when it thaws,
/// within the verification's life, and arsgate — which never concluded the
/// verification — follows that call to its real end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_node_runs_late_is_followed_to_its_real_outcome() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |config| {
        quick_to_notice(config, Duration::from_secs(20));
    })
    .await;
    let m = app.merchant("acme").await;
    app.live.freeze();
    let created = app
        .create(
            &m.live,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for(&m.live, &id, |v| events(v).contains(&"unknown".to_owned()))
        .await;
    app.live.thaw();
    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "completed", "{view}");
    assert!(events(&view).contains(&"answered".to_owned()), "{view}");
    assert_eq!(dialled(&app, "01000000001"), 1);
}

/// The phone answers after 1 s and presses `key` when the offer starts.
fn presses_at_the_offer(key: &str) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_secs(1),
        early_media: None,
        hangup_after: None,
        dtmf: vec![DtmfGroup {
            trigger: DtmfTrigger::OnPrompt {
                prompt: NonZeroU32::new(2).unwrap(),
                delay: Duration::from_secs(1),
            },
            digits: Digits::try_from(key.to_owned()).unwrap(),
            gap: Duration::from_millis(300),
            tone: Duration::from_millis(160),
        }],
    })
}

/// The event socket silently blocked while the customer presses 1 (issue
/// 10 finding 3): FreeSWITCH collects the key and parks the call at the
/// decision point, and those events go to a dead connection. Once arsgate
/// is connected again it looks at the call, finds it parked with the key,
/// and decides: `consented`, not silence then `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pressed_during_a_partition_is_honoured() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        1,
        |_, sim| {
            // Slow enough to cut the socket between the answer and the key.
            sim.speed = 4.0;
            sim.heartbeat_interval = Duration::from_secs(2);
        },
        |config| quick_to_notice(config, Duration::from_secs(20)),
    )
    .await;
    let m = app.merchant("acme").await;
    app.live.set_phone("01000000051", presses_at_the_offer("1"));
    let id = started(&app, &m.live, "010-0000-0051", "event_optin", "answered").await;
    // The key and the park happen meanwhile; the connection is given up.
    partitioned(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let view = app.get(&format!("/v1/verifications/{id}"), &m.live).await.1;
    assert_eq!(view["status"], "answered", "{view}");
    app.live.heal();

    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "consented", "{view}");
    let seen = events(&view);
    let reconciled = seen
        .iter()
        .position(|e| e == "reconciled")
        .expect("reconciled");
    let key = seen.iter().position(|e| e == "key").expect("the key");
    assert!(
        seen.iter().position(|e| e == "unknown") < Some(reconciled) && reconciled < key,
        "the key was heard of only through the reconciliation: {view}"
    );
    assert_eq!(dialled(&app, "01000000051"), 1);
}

/// A node killed with an answered call on it, and not coming back (issue 10
/// finding 5): the call ends `network_error`, `lost: ...`, once the node
/// has been unreachable for `node_lost_after` (here 1 s; the harness waits
/// 20 s at most, while the scenario's `max_duration` is minutes); its
/// webhook goes out and its channel is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nodes_calls_end_within_the_bound() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        1,
        |_, sim| sim.speed = 4.0,
        |config| quick_to_notice(config, Duration::from_secs(1)),
    )
    .await;
    let m = app.merchant("acme").await;
    let created = app
        .create(
            &m.live,
            &json!({
                "phone": "010-0000-0001",
                "scenario": "enter_code",
                "callback_url": app.hooks.url(),
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for(&m.live, &id, |v| events(v).contains(&"answered".to_owned()))
        .await;
    app.live.kill();
    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "network_error", "{view}");
    assert!(
        view["reason"].as_str().unwrap().starts_with("lost:"),
        "{view}"
    );
    let hook = app.hooks.finished(&id).await;
    assert_eq!(hook.body["data"]["outcome"], "network_error");
    assert_eq!(first_node(&app).live_channels(), 0);
}

/// On every (re)connect, the channels running in arsgate's context that no
/// unfinished verification wants — left by an arsgate that died or gave
/// them up — are hung up and counted; a call another replica follows (its
/// verification unfinished in the shared store) is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_no_verification_wants_are_hung_up_on_reconnect() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |config| {
        quick_to_notice(config, Duration::from_secs(20));
    })
    .await;
    let m = app.merchant("acme").await;
    // Another replica's call: its verification is stored, not finished.
    let theirs = app
        .store
        .create_verification(&common::store::new_verification(
            m.merchant.id,
            "read_code",
            arsgate::domain::Timestamp::now(),
        ))
        .await
        .unwrap();
    let wanted = "5e1f3b0e-0000-4000-8000-0000000000a1";
    let stray = "5e1f3b0e-0000-4000-8000-0000000000a2";
    app.store
        .mark_calling(theirs.id(), wanted, "fs1")
        .await
        .unwrap();
    let (esl, _events) = arsgate::esl::client::Client::connect(
        arsgate::esl::client::ClientConfig::new(app.live.addr().to_string(), "ClueCon"),
    )
    .await
    .unwrap();
    for call in [wanted, stray] {
        let placed = esl
            .bgapi(&format!(
                "originate {{origination_uuid={call}}}sofia/gateway/kt/01000000001 read_code__start XML arsgate"
            ))
            .await
            .unwrap();
        assert!(placed.is_ok(), "{placed:?}");
    }
    assert_eq!(app.live.channels(), 2);

    app.live.drop_connections_mid_frame();
    eventually("the stray channel is hung up", || app.live.channels() == 1).await;
    let (esl, _events) = arsgate::esl::client::Client::connect(
        arsgate::esl::client::ClientConfig::new(app.live.addr().to_string(), "ClueCon"),
    )
    .await
    .unwrap();
    let exists = |call: &'static str| {
        let esl = esl.clone();
        async move { esl.api(&format!("uuid_exists {call}")).await.unwrap() }
    };
    assert_eq!(exists(wanted).await.trim(), "true");
    assert_eq!(exists(stray).await.trim(), "false");
    assert_eq!(
        metric(&app, "arsgate_orphan_channels_hung_up_total", "fs1").await,
        1.0
    );
}

/// A merchant's cancel while the event socket is partitioned: the hangup
/// goes to a dead connection, so arsgate asks again once the node is
/// back; the phone stops ringing and the verification ends `canceled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_partition_reaches_the_call_once_the_node_is_back() {
    let db = TestDb::sqlite();
    let app = TestApp::start_with(&db, |config| {
        quick_to_notice(config, Duration::from_secs(20));
        config.calls.ring_timeout = Duration::from_secs(600);
    })
    .await;
    let m = app.merchant("acme").await;
    let id = started(&app, &m.live, "010-0000-0006", "read_code", "ringing").await;
    partitioned(&app).await;
    // The API waits (up to 10 s) for the call to end: sent meanwhile.
    let canceled = tokio::spawn(
        app.request(
            reqwest::Method::POST,
            &format!("/v1/verifications/{id}/cancel"),
            Some(&m.live),
            None,
        )
        .send(),
    );
    app.wait_for(&m.live, &id, |v| events(v).contains(&"decided".to_owned()))
        .await;
    assert_eq!(app.live.channels(), 1, "the hangup never arrived");
    app.live.heal();
    assert_eq!(canceled.await.unwrap().unwrap().status(), 200);
    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "canceled", "{view}");
    assert_eq!(
        events(&view).last().map(String::as_str),
        Some("hung_up"),
        "ended by the hangup asked again: {view}"
    );
    eventually("the phone stops ringing", || app.live.channels() == 0).await;
}

/// arsgate's own event queue overflowing (`esl.event_queue_capacity`) is a
/// gap in the node's stream: whatever was dropped, the call is looked at
/// again and ends with the customer's answer, not in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_dropped_by_a_full_queue_are_a_gap_that_heals() {
    let db = TestDb::sqlite();
    let app = TestApp::start_cluster(
        &db,
        1,
        |_, sim| sim.speed = 4.0,
        |config| {
            quick_to_notice(config, Duration::from_secs(20));
            config.esl.event_queue_capacity = std::num::NonZeroUsize::new(1).unwrap();
        },
    )
    .await;
    let m = app.merchant("acme").await;
    app.live.set_phone("01000000052", presses_at_the_offer("1"));
    let id = started(&app, &m.live, "010-0000-0052", "event_optin", "answered").await;
    // Another listener floods the switch with events arsgate subscribes
    // to (of no call of its own) while the customer answers the offer.
    let mut flood = String::new();
    for n in 0..3000 {
        flood.push_str(&format!(
            "sendevent CHANNEL_PARK\nUnique-ID: 00000000-0000-4000-8000-{n:012}\n\n"
        ));
    }
    let mut peer = tokio::net::TcpStream::connect(app.live.addr())
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    peer.write_all(b"auth ClueCon\n\n").await.unwrap();
    peer.write_all(flood.as_bytes()).await.unwrap();

    let view = app.finished(&m.live, &id).await;
    assert_eq!(view["outcome"], "consented", "{view}");
    let dropped = first_node(&app).switch().unwrap().stats().events_dropped;
    assert!(dropped > 0, "the queue overflowed");
    assert!(events(&view).contains(&"unknown".to_owned()), "{view}");
}
