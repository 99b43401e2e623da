//! The ESL client against the FreeSWITCH simulator, over real TCP sockets:
//! fail-fast connect, reply ordering under event bursts, background jobs,
//! timeouts, disconnects, liveness, reconnects and restarts. A few tests put
//! a hand-written switch on the other end, for what the simulator never does
//! (oversized frames, a missing greeting).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use arsgate::esl::client::{
    Client, ClientConfig, ConnectionState, DisconnectReason, EslError, Events,
};
use arsgate::esl::{Command, Event, EventName, Frame, FrameError, HangupCause, ServerCodec};
use arsgate::sim::SimHandle;
use arsgate::sim::phone::{Answer, PhoneScript};
use common::raw::RawPeer;
use common::sim::Relay;
use common::start_sim;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};
use tokio_util::codec::Framed;

/// Upper bound for anything a test waits for, so a failure cannot hang.
const WAIT: Duration = Duration::from_secs(5);

/// Client settings scaled for tests: short limits, fast reconnects.
fn config(addr: impl ToString) -> ClientConfig {
    let mut config = ClientConfig::new(addr, "ClueCon");
    config.connect_timeout = Duration::from_secs(2);
    config.command_timeout = Duration::from_secs(2);
    config.reconnect_initial = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config
}

async fn connect(config: ClientConfig) -> (Client, Events) {
    timeout(WAIT, Client::connect(config))
        .await
        .expect("connects in time")
        .expect("connects")
}

/// Waits until the state satisfies `wanted` and returns it.
async fn wait_state(
    client: &Client,
    what: &str,
    wanted: impl FnMut(&ConnectionState) -> bool,
) -> ConnectionState {
    let mut state = client.state();
    match timeout(WAIT, state.wait_for(wanted)).await {
        Ok(Ok(state)) => state.clone(),
        _ => panic!(
            "state never became {what}; it is {:?}",
            *client.state().borrow()
        ),
    }
}

fn core_uuid(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Connected { core_uuid, .. } => core_uuid.clone(),
        other => panic!("not connected: {other:?}"),
    }
}

/// Injects `count` DTMF events (headers `Seq: n`, `Unique-ID: unique_id`)
/// through a second connection, pipelined in one write.
async fn inject_dtmf(sim: &SimHandle, unique_id: &str, seqs: std::ops::Range<usize>) {
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    let mut commands = String::new();
    for seq in seqs.clone() {
        commands.push_str(&format!(
            "sendevent DTMF\nSeq: {seq}\nUnique-ID: {unique_id}\n\n"
        ));
    }
    peer.send(&commands).await;
    for _ in seqs {
        assert!(peer.reply().await.starts_with("+OK"));
    }
}

/// Runs `api status` over and over while `count` events are injected, until
/// the client has read them all; every reply must be the status text.
/// Returns how many api calls were made.
async fn api_during_burst(client: &Client, sim: &SimHandle, count: usize) -> usize {
    let injector = tokio::spawn({
        let sim = sim.clone();
        async move { inject_dtmf(&sim, "burst", 0..count).await }
    });
    let started = Instant::now();
    let mut calls = 0;
    while client.stats().events_received < count as u64 {
        assert!(
            started.elapsed() < WAIT,
            "events stopped: {:?}",
            client.stats()
        );
        let status = client.api("status").await.expect("api status");
        assert!(
            status.starts_with("UP "),
            "an event taken for the reply: {status}"
        );
        calls += 1;
    }
    injector.await.expect("injector");
    calls
}

fn seq(event: &Event) -> Option<usize> {
    event.header("Seq")?.parse().ok()
}

/// The next event named `name`, skipping others.
async fn next_named(events: &mut Events, name: EventName) -> Event {
    timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("event channel open");
            if event.name() == name {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {name} event"))
}

#[tokio::test]
async fn a_wrong_password_fails_fast_and_is_not_retried() {
    let sim = start_sim(|_| {}).await;
    let relay = Relay::start(sim.addr()).await;
    let mut config = config(relay.addr());
    config.password = "NotClueCon".into();
    config.reconnect_initial = Duration::from_millis(5);
    let result = timeout(WAIT, Client::connect(config))
        .await
        .expect("fails in time");
    assert!(matches!(result, Err(EslError::AuthFailed)), "{result:?}");
    // Twenty initial backoff periods: a retrying client would be back.
    sleep(Duration::from_millis(100)).await;
    assert_eq!(relay.accepted(), 1, "the first connect is never retried");
}

#[tokio::test]
async fn acl_rejections_and_refused_connections_fail_fast() {
    let sim = start_sim(|c| c.acl = Some(vec![IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))])).await;
    let result = timeout(WAIT, Client::connect(config(sim.addr()))).await;
    assert!(matches!(result, Ok(Err(EslError::AclDenied))), "{result:?}");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let result = timeout(WAIT, Client::connect(config(closed))).await;
    assert!(
        matches!(result, Ok(Err(EslError::Connect(_)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn api_replies_stay_matched_while_a_burst_overflows_a_tiny_queue() {
    let sim = start_sim(|_| {}).await;
    sim.set_heartbeats(false); // only the burst's events, so counts are exact
    let mut config = config(sim.addr());
    config.event_queue = 8;
    config.subscriptions = vec![EventName::Dtmf];
    let (client, mut events) = connect(config).await;

    let calls = api_during_burst(&client, &sim, 1000).await;
    assert!(calls >= 1);
    let stats = client.stats();
    assert_eq!(stats.events_received, 1000);
    assert_eq!(stats.events_dropped, 992, "{stats:?}");
    assert_eq!(stats.queue_depth, 8);
    assert_eq!(stats.malformed_events, 0);
    let mut kept = Vec::new();
    while let Some(event) = events.try_recv() {
        kept.push(seq(&event).expect("a burst event"));
    }
    assert_eq!(kept, (0..8).collect::<Vec<_>>(), "the oldest are kept");
    assert_eq!(client.stats().queue_depth, 0);
}

#[tokio::test]
async fn api_replies_stay_matched_and_a_large_queue_loses_nothing() {
    let sim = start_sim(|_| {}).await;
    sim.set_heartbeats(false);
    let mut config = config(sim.addr());
    config.subscriptions = vec![EventName::Dtmf];
    let (client, mut events) = connect(config).await;

    api_during_burst(&client, &sim, 1000).await;
    let stats = client.stats();
    assert_eq!((stats.events_received, stats.events_dropped), (1000, 0));
    let mut seqs = Vec::new();
    while let Some(event) = events.try_recv() {
        assert_eq!(event.name(), EventName::Dtmf);
        seqs.extend(seq(&event));
    }
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>(), "all, in order");
}

#[tokio::test]
async fn background_jobs_resolve_to_their_own_ids_in_any_order() {
    let sim = start_sim(|_| {}).await;
    let mut config = config(sim.addr());
    config.subscriptions = vec![EventName::Dtmf];
    let (client, mut events) = connect(config).await;

    // 50 simulated seconds: half a real second, long after the fast jobs
    // and the burst of events.
    let jobs = async {
        tokio::join!(
            client.bgapi_with_id("msleep 50000", "job-slow"),
            client.bgapi_with_id("echo fast-a", "job-a"),
            client.bgapi_with_id("echo fast-b", "job-b"),
            client.bgapi("status"),
            client.bgapi("no_such_cmd"),
            inject_dtmf(&sim, "burst", 0..200),
        )
    };
    let (slow, a, b, status, unknown, ()) = timeout(WAIT, jobs).await.expect("jobs resolve");
    let (slow, a, b) = (slow.unwrap(), a.unwrap(), b.unwrap());
    assert_eq!(
        (slow.job_uuid(), slow.body()),
        ("job-slow".into(), "+OK".into())
    );
    assert!(slow.is_ok());
    assert_eq!(
        (a.job_uuid(), a.text()),
        ("job-a".into(), "fast-a".to_owned())
    );
    assert_eq!(
        (b.job_uuid(), b.text()),
        ("job-b".into(), "fast-b".to_owned())
    );
    assert!(status.unwrap().body().starts_with("UP "));
    let unknown = unknown.unwrap();
    assert!(!unknown.is_ok());
    assert_eq!(unknown.text(), "no_such_cmd Command not found!");

    // Job results also reach the event channel, in wire order: the slow
    // one after every event of the burst, the fast ones before it.
    let mut order = Vec::new();
    while let Some(event) = events.try_recv() {
        match event.name() {
            EventName::BackgroundJob => order.push(event.job_uuid().unwrap().into_owned()),
            EventName::Dtmf if seq(&event) == Some(199) => order.push("last-dtmf".into()),
            _ => {}
        }
    }
    let position = |id: &str| order.iter().position(|o| o == id).expect(id);
    assert!(position("job-a") < position("job-slow"), "{order:?}");
    assert!(position("job-b") < position("job-slow"), "{order:?}");
    assert!(position("last-dtmf") < position("job-slow"), "{order:?}");
}

#[tokio::test]
async fn a_command_timeout_leaves_the_connection_usable() {
    let sim = start_sim(|_| {}).await;
    let mut config = config(sim.addr());
    config.command_timeout = Duration::from_millis(400);
    let (client, _events) = connect(config).await;

    // 60 simulated seconds: 600 ms, past the 400 ms command timeout.
    let started = Instant::now();
    let slow = client.api("msleep 60000").await;
    assert!(matches!(slow, Err(EslError::Timeout)), "{slow:?}");
    assert!(started.elapsed() < Duration::from_millis(600));
    // Sent while the late "+OK" is still due: the reply must be its own.
    assert_eq!(client.api("echo mine").await.expect("echo"), "mine");
    assert_eq!(client.api("echo again").await.expect("echo"), "again");
    assert_eq!(client.stats().reconnects, 0);
    assert!(matches!(
        *client.state().borrow(),
        ConnectionState::Connected { .. }
    ));
}

#[tokio::test]
async fn pending_commands_and_jobs_fail_with_disconnected_when_the_switch_goes_away() {
    let sim = start_sim(|_| {}).await;
    let mut config = config(sim.addr());
    config.command_timeout = Duration::from_secs(4);
    config.reconnect_initial = Duration::from_millis(500);
    let (client, _events) = connect(config).await;

    // Written in this order: the job (its result would take 5 s), a
    // command holding the switch for 300 ms, one queued behind it.
    let in_flight = async {
        tokio::join!(
            client.bgapi("msleep 500000"),
            client.api("msleep 30000"),
            client.api("status"),
            async {
                sleep(Duration::from_millis(100)).await;
                sim.drop_connections_mid_frame();
            },
        )
    };
    let (job, blocker, queued, ()) = timeout(WAIT, in_flight).await.expect("nothing hangs");
    assert!(matches!(job, Err(EslError::Disconnected)), "{job:?}");
    assert_eq!(blocker.expect("answered before the cut"), "+OK");
    assert!(matches!(queued, Err(EslError::Disconnected)), "{queued:?}");

    // While reconnecting, commands fail at once instead of waiting.
    wait_state(&client, "disconnected", |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    let started = Instant::now();
    assert!(matches!(
        client.api("status").await,
        Err(EslError::Disconnected)
    ));
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn a_mid_frame_cut_reconnects_with_subscriptions_and_filters() {
    let sim = start_sim(|_| {}).await;
    let mut config = config(sim.addr());
    // Long enough to observe the Disconnected state before the reconnect.
    config.reconnect_initial = Duration::from_millis(100);
    let (client, mut events) = connect(config).await;
    let before = core_uuid(&client.state().borrow());
    client.subscribe(&[EventName::Dtmf]).await.unwrap();
    client.filter("Unique-ID", "keep").await.unwrap();
    inject_dtmf(&sim, "keep", 0..1).await;
    assert_eq!(
        seq(&next_named(&mut events, EventName::Dtmf).await),
        Some(0)
    );

    sim.drop_connections_mid_frame();
    let lost = wait_state(&client, "disconnected", |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    let ConnectionState::Disconnected { reason } = lost else {
        unreachable!()
    };
    assert!(
        !matches!(reason, DisconnectReason::HeartbeatTimeout),
        "{reason:?}"
    );
    let back = wait_state(&client, "connected", |s| {
        matches!(s, ConnectionState::Connected { .. })
    })
    .await;
    assert_eq!(
        back,
        ConnectionState::Connected {
            core_uuid: before,
            restarted: false
        }
    );
    assert_eq!(client.stats().reconnects, 1);
    assert_eq!(
        client.stats().malformed_events,
        0,
        "a cut frame is no event"
    );

    while events.try_recv().is_some() {}
    // The subscription is back (DTMF flows) and so is the filter (only
    // "keep" passes).
    inject_dtmf(&sim, "other", 1..2).await;
    inject_dtmf(&sim, "keep", 2..3).await;
    let dtmf = next_named(&mut events, EventName::Dtmf).await;
    assert_eq!(
        (seq(&dtmf), dtmf.unique_id().as_deref()),
        (Some(2), Some("keep"))
    );
    // The liveness filters are back too: heartbeats and job results pass.
    next_named(&mut events, EventName::Heartbeat).await;
    let job = timeout(WAIT, client.bgapi("echo after"))
        .await
        .expect("job");
    assert_eq!(job.unwrap().text(), "after");
}

#[tokio::test]
async fn heartbeat_silence_triggers_a_reconnect() {
    // A heartbeat every 20 ms of real time.
    let sim = start_sim(|c| c.heartbeat_interval = Duration::from_secs(2)).await;
    let mut config = config(sim.addr());
    config.heartbeat_interval = Duration::from_millis(20);
    config.heartbeat_misses = 10;
    config.reconnect_initial = Duration::from_millis(50);
    let (client, _events) = connect(config).await;

    sleep(Duration::from_millis(400)).await;
    assert_eq!(client.stats().reconnects, 0, "heartbeats keep it alive");

    sim.set_heartbeats(false);
    let silent_since = Instant::now();
    wait_state(&client, "dead for lack of heartbeats", |s| {
        matches!(
            s,
            ConnectionState::Disconnected {
                reason: DisconnectReason::HeartbeatTimeout
            }
        )
    })
    .await;
    assert!(silent_since.elapsed() >= Duration::from_millis(150));

    sim.set_heartbeats(true);
    wait_state(&client, "connected", |s| {
        matches!(s, ConnectionState::Connected { .. })
    })
    .await;
    assert!(client.stats().reconnects >= 1);
    assert_eq!(client.api("echo alive").await.unwrap(), "alive");
}

#[tokio::test]
async fn a_restart_is_visible_as_a_new_core_uuid() {
    let sim = start_sim(|_| {}).await;
    let (client, _events) = connect(config(sim.addr())).await;
    let before = core_uuid(&client.state().borrow());
    assert_eq!(before, sim.core_uuid());
    assert!(matches!(
        *client.state().borrow(),
        ConnectionState::Connected {
            restarted: false,
            ..
        }
    ));

    sim.restart();
    let after = wait_state(&client, "restarted", |s| {
        matches!(
            s,
            ConnectionState::Connected {
                restarted: true,
                ..
            }
        )
    })
    .await;
    let after = core_uuid(&after);
    assert_ne!(after, before);
    assert_eq!(after, sim.core_uuid());

    // A plain reconnect to the same instance is not a restart.
    sim.drop_connections_mid_frame();
    let again = wait_state(&client, "reconnected", |s| {
        matches!(
            s,
            ConnectionState::Connected {
                restarted: false,
                ..
            }
        )
    })
    .await;
    assert_eq!(core_uuid(&again), after);
    assert_eq!(client.stats().reconnects, 2);
}

#[tokio::test]
async fn a_refused_password_on_reconnect_shows_and_is_retried_at_the_slowest_pace() {
    let good = start_sim(|_| {}).await;
    let other = start_sim(|c| c.password = "SomethingElse".into()).await;
    let relay = Relay::start(good.addr()).await;
    let mut config = config(relay.addr());
    config.reconnect_initial = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(300);
    config.reconnect_jitter = 0.0;
    let (client, _events) = connect(config).await;

    relay.retarget(other.addr());
    good.drop_connections_mid_frame();
    wait_state(&client, "auth failed", |s| {
        matches!(
            s,
            ConnectionState::Disconnected {
                reason: DisconnectReason::AuthFailed
            }
        )
    })
    .await;
    let refused_at = Instant::now();
    relay.retarget(good.addr());
    wait_state(&client, "retrying", |s| match s {
        ConnectionState::Connecting { attempt } => *attempt >= 2,
        ConnectionState::Connected { .. } => true,
        _ => false,
    })
    .await;
    // The initial delay is 20 ms; only a saturated backoff waits this long.
    assert!(
        refused_at.elapsed() >= Duration::from_millis(200),
        "{:?}",
        refused_at.elapsed()
    );
    wait_state(&client, "connected", |s| {
        matches!(s, ConnectionState::Connected { .. })
    })
    .await;
    assert_eq!(client.stats().reconnects, 1);
}

#[tokio::test]
async fn api_errors_are_text_and_command_errors_are_failures() {
    let sim = start_sim(|_| {}).await;
    let (client, _events) = connect(config(sim.addr())).await;
    assert_eq!(
        client.api("no_such_cmd").await.unwrap(),
        "-ERR no_such_cmd Command not found!\n"
    );
    match client
        .hangup("no-such-call", &HangupCause::NormalClearing)
        .await
    {
        Err(EslError::CommandFailed(text)) => assert!(text.starts_with("-ERR"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.api("echo a\nexit").await,
        Err(EslError::Protocol(_))
    ));
    assert_eq!(client.api("echo still fine").await.unwrap(), "still fine");
}

#[tokio::test]
async fn close_says_goodbye_and_ends_the_event_channel() {
    let sim = start_sim(|_| {}).await;
    let (client, mut events) = connect(config(sim.addr())).await;
    let other_handle = client.clone();
    timeout(WAIT, client.close()).await.expect("closes in time");
    assert_eq!(*client.state().borrow(), ConnectionState::Closed);
    assert!(matches!(
        other_handle.api("status").await,
        Err(EslError::Closed)
    ));
    timeout(WAIT, async { while events.recv().await.is_some() {} })
        .await
        .expect("the event channel ends");
    timeout(WAIT, async {
        while sim.connections() > 0 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the switch sees the connection closed");
}

#[tokio::test]
async fn dropping_every_handle_stops_the_client() {
    let sim = start_sim(|_| {}).await;
    let (client, mut events) = connect(config(sim.addr())).await;
    let clone = client.clone();
    drop(client);
    assert_eq!(clone.api("echo alive").await.unwrap(), "alive");
    drop(clone);
    timeout(WAIT, async { while events.recv().await.is_some() {} })
        .await
        .expect("the event channel ends");
    timeout(WAIT, async {
        while sim.connections() > 0 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the switch sees the connection closed");
}

/// The Core-UUID of the hand-written switch.
const FAKE_CORE_UUID: &str = "0fa4e5b1-0000-4000-8000-00000000fa4e";

/// One connection to a hand-written switch, already greeted.
type FakeConnection = Framed<TcpStream, ServerCodec>;

/// Accepts a connection and greets it as FreeSWITCH does.
async fn accept_greeted(listener: &TcpListener) -> FakeConnection {
    let (stream, _) = listener.accept().await.expect("accept");
    let mut connection = Framed::new(stream, ServerCodec::new());
    connection
        .send(Frame::auth_request())
        .await
        .expect("greeting");
    connection
}

/// Answers commands as FreeSWITCH would, as far as the client's setup needs
/// (auth, subscriptions, the Core-UUID query), and every other `api` with
/// `"<tag>: <command>"` so a test can tell connections apart. Returns after
/// `exit` or when the client hangs up.
async fn serve_commands(connection: &mut FakeConnection, tag: &str) {
    while let Some(Ok(command)) = connection.next().await {
        let answer = match (command.verb().as_str(), command.args()) {
            ("auth", _) => Frame::command_reply("+OK accepted"),
            ("event", _) => Frame::command_reply("+OK event listener enabled plain"),
            ("api", "global_getvar core_uuid") => Frame::api_response(FAKE_CORE_UUID),
            ("api", args) => Frame::api_response(format!("{tag}: {args}")),
            ("exit", _) => {
                let _ = connection.send(Frame::command_reply("+OK bye")).await;
                return;
            }
            _ => Frame::command_reply("-ERR command not found"),
        };
        if connection.send(answer).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_frame_over_the_size_cap_drops_the_connection_and_a_new_one_serves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = config(listener.local_addr().unwrap());
    config.max_frame = 1024;
    // Long enough to observe the Disconnected state before the reconnect.
    config.reconnect_initial = Duration::from_millis(200);
    config.reconnect_jitter = 0.0;
    // A plain event of about 4 KB, four times the client's cap.
    let oversized = Frame::event_plain(
        &Event::new(&EventName::ChannelExecute).with("variable_big", "x".repeat(4000)),
    );
    let length = oversized.body().map_or(0, |body| body.len());
    let (send_it, told) = oneshot::channel::<()>();
    let (closed, first_closed) = oneshot::channel::<Vec<Command>>();
    let switch = tokio::spawn(async move {
        let mut first = accept_greeted(&listener).await;
        tokio::select! {
            () = serve_commands(&mut first, "first") => panic!("the client left the first connection"),
            told = told => told.expect("the test says when"),
        }
        first
            .send(oversized)
            .await
            .expect("oversized frame written");
        // Whatever the client still sends on this connection, until it closes it.
        let mut after = Vec::new();
        while let Some(Ok(command)) = first.next().await {
            after.push(command);
        }
        closed.send(after).expect("test waiting");
        let mut second = accept_greeted(&listener).await;
        serve_commands(&mut second, "second").await;
    });

    let (client, _events) = connect(config).await;
    assert_eq!(client.api("status").await.unwrap(), "first: status");
    send_it.send(()).unwrap();

    let lost = wait_state(&client, "disconnected", |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    let expected = FrameError::BodyTooLarge {
        length: length as u64,
        limit: 1024,
    };
    assert_eq!(
        lost,
        ConnectionState::Disconnected {
            reason: DisconnectReason::Protocol(expected.to_string())
        }
    );
    let after = timeout(WAIT, first_closed)
        .await
        .expect("the client closes the connection it cannot read")
        .unwrap();
    assert!(
        after.is_empty(),
        "nothing is sent after the bad frame: {after:?}"
    );

    let back = wait_state(&client, "connected", |s| {
        matches!(s, ConnectionState::Connected { .. })
    })
    .await;
    assert_eq!(
        back,
        ConnectionState::Connected {
            core_uuid: FAKE_CORE_UUID.to_owned(),
            restarted: false
        }
    );
    assert_eq!(client.api("status").await.unwrap(), "second: status");
    assert_eq!(client.stats().reconnects, 1);

    timeout(WAIT, client.close()).await.expect("closes");
    timeout(WAIT, switch)
        .await
        .expect("the switch is done")
        .expect("the switch saw what it expected");
}

#[tokio::test]
async fn a_switch_that_never_greets_fails_the_connect_with_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = config(listener.local_addr().unwrap());
    config.connect_timeout = Duration::from_millis(300);
    config.command_timeout = Duration::from_secs(10);
    let (accepted, was_accepted) = oneshot::channel();
    let switch = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        accepted.send(()).expect("test waiting");
        // Silent: no auth/request. Collects what the client writes until
        // it hangs up.
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received).await;
        received
    });

    let started = Instant::now();
    let result = timeout(WAIT, Client::connect(config))
        .await
        .expect("gives up in time");
    let waited = started.elapsed();
    assert!(matches!(result, Err(EslError::Timeout)), "{result:?}");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(
        waited < Duration::from_secs(2),
        "bounded by the connect timeout, not the 10 s command timeout: {waited:?}"
    );
    was_accepted
        .await
        .expect("the TCP connect succeeded: the greeting is what timed out");
    let received = timeout(WAIT, switch)
        .await
        .expect("the client hangs up")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&received),
        "",
        "no command (no password) before a greeting"
    );
}

/// The names of the events about call `uuid` and job `job`, in arrival
/// order, up to and including the first one `last` accepts.
async fn call_events_until(
    events: &mut Events,
    uuid: &str,
    job: &str,
    mut last: impl FnMut(&Event) -> bool,
) -> Vec<EventName> {
    let mut names = Vec::new();
    timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("event channel open");
            let about_call = event.unique_id().as_deref() == Some(uuid);
            let about_job = event.job_uuid().as_deref() == Some(job);
            if about_call || about_job {
                names.push(event.name());
                if last(&event) {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("events of {uuid} so far: {names:?}"));
    names
}

#[tokio::test]
async fn bgapi_originate_resolves_at_early_media_or_after_the_answer() {
    // 183 with media after 200 ms, 200 OK after 2 s; 50 times faster.
    let sim = start_sim(|c| c.speed = 50.0).await;
    sim.set_phone(
        "183",
        PhoneScript::Answer(Answer {
            after: Duration::from_secs(2),
            early_media: Some(Duration::from_millis(200)),
            hangup_after: None,
            dtmf: Vec::new(),
        }),
    );
    let mut config = config(sim.addr());
    config.subscriptions = vec![EventName::ChannelProgressMedia, EventName::ChannelAnswer];
    let (client, mut events) = connect(config).await;

    // Originates call `uuid` (with `vars`) as job `job`, checks the job's
    // result, and gives the call's events and the job's in their order up
    // to the one `last` picks.
    let mut originate = async |uuid: &str, vars: &str, job: &str, last: EventName| {
        let command = format!(
            "originate {{origination_uuid={uuid},{vars}originate_timeout=15}}sofia/gateway/kt/183 &park()"
        );
        let result = timeout(WAIT, client.bgapi_with_id(&command, job))
            .await
            .expect("the job resolves")
            .unwrap();
        assert_eq!(
            (result.job_uuid(), result.body()),
            (job.into(), format!("+OK {uuid}\n").into())
        );
        call_events_until(&mut events, uuid, job, |e| e.name() == last).await
    };
    assert_eq!(
        originate("em-default", "", "job-default", EventName::ChannelAnswer).await,
        [
            EventName::ChannelProgressMedia,
            EventName::BackgroundJob,
            EventName::ChannelAnswer
        ],
        "by default early media is success: the job resolves before the answer"
    );
    assert_eq!(
        originate(
            "em-ignore",
            "ignore_early_media=true,",
            "job-ignore",
            EventName::BackgroundJob
        )
        .await,
        [
            EventName::ChannelProgressMedia,
            EventName::ChannelAnswer,
            EventName::BackgroundJob
        ],
        "with ignore_early_media the job waits for the answer"
    );
}
