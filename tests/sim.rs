//! The simulator's event socket, spoken to with raw bytes: every reply text
//! and frame shape must be FreeSWITCH's.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use arsgate::esl::frame::GOODBYE;
use arsgate::sim::phone::{Answer, PhoneScript};
use common::raw::RawPeer;
use common::{eventually, start_sim};

#[tokio::test]
async fn handshake_and_goodbye_are_byte_exact() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::connect(sim.addr()).await;
    peer.frame().await;
    assert_eq!(peer.received, b"Content-Type: auth/request\n\n");
    peer.send("auth ClueCon\n\n").await;
    assert_eq!(peer.reply().await, "+OK accepted");
    peer.send("exit\n\n").await;
    assert_eq!(peer.reply().await, "+OK bye");
    let rest = peer.until_eof().await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].content_type(), Some("text/disconnect-notice"));
    assert_eq!(&rest[0].body().unwrap()[..], GOODBYE.as_bytes());
    assert!(peer.received.ends_with(
        b"Content-Type: command/reply\nReply-Text: +OK bye\n\nContent-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    ));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_disconnected() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::connect(sim.addr()).await;
    peer.frame().await;
    peer.send("auth WrongPassword\n\n").await;
    assert_eq!(peer.reply().await, "-ERR invalid");
    let rest = peer.until_eof().await;
    assert_eq!(rest.len(), 1);
    assert_eq!(&rest[0].body().unwrap()[..], GOODBYE.as_bytes());
}

#[tokio::test]
async fn commands_before_auth_are_not_found_and_the_connection_stays() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::connect(sim.addr()).await;
    peer.frame().await;
    peer.send("api status\n\n").await;
    assert_eq!(peer.reply().await, "-ERR command not found");
    peer.send("event plain ALL\n\n").await;
    assert_eq!(peer.reply().await, "-ERR command not found");
    peer.send("auth ClueCon\n\n").await;
    assert_eq!(peer.reply().await, "+OK accepted");
}

#[tokio::test]
async fn silence_before_the_first_command_ends_the_connection() {
    let sim = start_sim(|c| c.auth_timeout = Duration::from_secs(25)).await;
    let mut peer = RawPeer::connect(sim.addr()).await;
    peer.frame().await;
    // 25 simulated seconds are 250 ms at the test speed.
    let rest = peer.until_eof().await;
    assert_eq!(&rest[0].body().unwrap()[..], GOODBYE.as_bytes());
}

#[tokio::test]
async fn peers_outside_the_acl_get_the_rude_rejection() {
    let sim = start_sim(|c| c.acl = Some(vec![IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))])).await;
    let mut peer = RawPeer::connect(sim.addr()).await;
    let frames = peer.until_eof().await;
    assert_eq!(frames[0].content_type(), Some("text/rude-rejection"));
    assert_eq!(&frames[0].body().unwrap()[..], b"Access Denied, go away.\n");
    assert_eq!(frames[1].content_type(), Some("text/disconnect-notice"));
}

#[tokio::test]
async fn api_replies_are_api_responses() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("api status\n\n").await;
    let status = peer.api_body().await;
    assert!(status.starts_with("UP 0 years, 0 days"), "{status}");
    assert!(status.contains("FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"));
    assert!(status.contains(
        "\n0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n1000 session(s) max\n"
    ));
    peer.send("api no_such_cmd\n\n").await;
    assert_eq!(
        peer.api_body().await,
        "-ERR no_such_cmd Command not found!\n"
    );
    peer.send("api global_getvar core_uuid\n\n").await;
    assert_eq!(peer.api_body().await, sim.core_uuid());
    peer.send("api global_getvar no_such_var\n\n").await;
    assert_eq!(peer.api_body().await, "-ERR no reply\n");
    peer.send("api reloadxml\n\n").await;
    assert_eq!(peer.api_body().await, "+OK [Success]\n");
    peer.send("api fsctl max_sessions 1\n\n").await;
    assert_eq!(peer.api_body().await, "+OK max sessions: 1\n");
    peer.send("api fsctl sps 2\n\n").await;
    assert_eq!(peer.api_body().await, "+OK sessions per second: 2\n");
    peer.send("api version\n\n").await;
    assert_eq!(
        peer.api_body().await,
        "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    );
}

#[tokio::test]
async fn module_exists_answers_as_mod_commands_does() {
    // A node without mod_xml_curl.
    let sim = start_sim(|c| {
        c.modules.remove("mod_xml_curl");
    })
    .await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    for (module, answer) in [
        ("mod_tts_commandline", "true"),
        ("mod_xml_curl", "false"),
        ("mod_no_such_thing", "false"),
    ] {
        peer.send(&format!("api module_exists {module}\n\n")).await;
        assert_eq!(peer.api_body().await, answer, "{module}");
    }
    // No argument, no output: the event socket's own "no reply".
    peer.send("api module_exists\n\n").await;
    assert_eq!(peer.api_body().await, "-ERR no reply\n");
}

#[tokio::test]
async fn bgapi_honours_the_job_uuid_and_reports_through_background_job() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain BACKGROUND_JOB API\n\n").await;
    assert_eq!(peer.reply().await, "+OK event listener enabled plain");
    peer.send("bgapi status\nJob-UUID: 7b3c0001-0000-4000-8000-00000000b001\n\n")
        .await;
    let reply = peer.frame().await;
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK Job-UUID: 7b3c0001-0000-4000-8000-00000000b001")
    );
    assert_eq!(
        reply.header("Job-UUID"),
        Some("7b3c0001-0000-4000-8000-00000000b001")
    );
    let api = peer.event_named("API").await;
    assert_eq!(api.header("API-Command").as_deref(), Some("status"));
    let job = peer.event_named("BACKGROUND_JOB").await;
    assert_eq!(
        job.job_uuid().as_deref(),
        Some("7b3c0001-0000-4000-8000-00000000b001")
    );
    assert_eq!(job.header("Job-Command").as_deref(), Some("status"));
    assert_eq!(
        job.header("Job-Owner-UUID"),
        None,
        "inbound jobs have no owner"
    );
    assert!(job.body_text().unwrap().starts_with("UP "));

    peer.send("bgapi no_such_cmd\n\n").await;
    let generated = peer.frame().await;
    assert!(
        generated
            .header("Reply-Text")
            .unwrap()
            .starts_with("+OK Job-UUID: ")
    );
    let job = peer.event_named("BACKGROUND_JOB").await;
    assert_eq!(job.job_uuid().as_deref(), generated.header("Job-UUID"));
    assert_eq!(
        job.body_text().as_deref(),
        Some("-ERR no_such_cmd Command not found!\n")
    );
}

#[tokio::test]
async fn subscription_and_filter_replies_are_freeswitchs() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    let exchanges = [
        ("noevents", "-ERR not listening for events"),
        ("event plain", "-ERR no keywords supplied"),
        (
            "event plain HEARTBEAT BACKGROUND_JOB",
            "+OK event listener enabled plain",
        ),
        (
            "event json CHANNEL_ANSWER",
            "+OK event listener enabled json",
        ),
        ("nixevent CHANNEL_ANSWER", "+OK events nixed"),
        ("noevents", "+OK no longer listening for events"),
        (
            "filter Event-Name HEARTBEAT",
            "+OK filter added. [Event-Name]=[HEARTBEAT]",
        ),
        (
            "filter delete Event-Name HEARTBEAT",
            "+OK filter deleted. [Event-Name][HEARTBEAT]",
        ),
        ("filter Unique-ID", "-ERR invalid syntax"),
        ("linger", "-ERR not controlling a session"),
        ("divert_events on", "-ERR not controlling a session."),
        ("nolog", "-ERR not loging"),
        ("log info", "+OK log level info [6]"),
        ("nolog", "+OK no longer logging"),
        ("sendmsg", "-ERR invalid session id []"),
        (
            "sendmsg no-such-uuid",
            "-ERR invalid session id [no-such-uuid]",
        ),
        ("bogus", "-ERR command not found"),
    ];
    for (command, expected) in exchanges {
        peer.send(&format!("{command}\n\n")).await;
        assert_eq!(peer.reply().await, expected, "{command}");
    }
}

#[tokio::test]
async fn heartbeats_flow_to_subscribers_and_can_be_stopped() {
    let sim = start_sim(|c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain HEARTBEAT\n\n").await;
    peer.reply().await;
    let heartbeat = peer.event_named("HEARTBEAT").await;
    assert_eq!(
        heartbeat.header("Event-Info").as_deref(),
        Some("System Ready")
    );
    assert_eq!(heartbeat.core_uuid(), Some(sim.core_uuid().into()));
    assert_eq!(heartbeat.header("Max-Sessions").as_deref(), Some("1000"));
    sim.set_heartbeats(false);
    let stopped_at = sim.clock().now_micros();
    // Three heartbeat periods pass during the msleep; only heartbeats made
    // before the switch-off may still be in the queue.
    peer.send("api msleep 3000\n\napi version\n\n").await;
    let mut responses = 0;
    while responses < 2 {
        let frame = peer.frame().await;
        match arsgate::esl::Message::try_from(frame).unwrap() {
            arsgate::esl::Message::ApiResponse(_) => responses += 1,
            arsgate::esl::Message::Event(event) => {
                assert!(
                    event.timestamp_micros().unwrap() <= stopped_at,
                    "a heartbeat after the switch-off"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn sendevent_reaches_subscribers_with_the_callers_headers() {
    let sim = start_sim(|_| {}).await;
    let mut listener = RawPeer::authed(sim.addr(), "ClueCon").await;
    listener.send("event plain CUSTOM test::burst\n\n").await;
    listener.reply().await;
    let mut sender = RawPeer::authed(sim.addr(), "ClueCon").await;
    sender
        .send("sendevent CUSTOM\nEvent-Subclass: test::burst\nX-Seq: 1\ncontent-length: 5\n\nhello")
        .await;
    let reply = sender.reply().await;
    assert!(reply.starts_with("+OK "), "{reply}");
    let event = listener.event_named("CUSTOM").await;
    assert_eq!(event.header("X-Seq").as_deref(), Some("1"));
    assert_eq!(event.subclass().as_deref(), Some("test::burst"));
    assert_eq!(event.header("Event-UUID").as_deref(), Some(&reply[4..]));
    assert_eq!(event.body_text().as_deref(), Some("hello"));
}

#[tokio::test]
async fn api_holds_back_events_until_it_returns() {
    let sim = start_sim(|c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain HEARTBEAT\n\napi msleep 5000\n\n")
        .await;
    assert_eq!(peer.reply().await, "+OK event listener enabled plain");
    let first = peer.frame().await;
    assert_eq!(
        first.content_type(),
        Some("api/response"),
        "heartbeats wait for the api reply"
    );
    let heartbeat = peer.event_named("HEARTBEAT").await;
    assert!(heartbeat.sequence().is_some());
}

#[tokio::test]
async fn faults_cut_connections_mid_frame_and_restart_changes_the_core() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    let before = sim.core_uuid();
    sim.drop_connections_mid_frame();
    assert!(
        peer.until_eof().await.is_empty(),
        "only a partial frame before EOF"
    );
    assert!(
        !peer.received.ends_with(b"\n\n"),
        "the stream ends inside a frame"
    );

    let mut other = RawPeer::authed(sim.addr(), "ClueCon").await;
    sim.restart();
    assert!(other.until_eof().await.is_empty(), "a crash says nothing");
    assert_ne!(sim.core_uuid(), before);
    let mut fresh = RawPeer::authed(sim.addr(), "ClueCon").await;
    fresh.send("api global_getvar core_uuid\n\n").await;
    assert_eq!(fresh.api_body().await, sim.core_uuid());
}

#[tokio::test]
async fn byte_by_byte_writes_still_frame_correctly() {
    let sim = start_sim(|_| {}).await;
    sim.set_byte_writes(true);
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("api version\n\n").await;
    assert_eq!(
        peer.api_body().await,
        "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    );
}

/// A stopped FreeSWITCH (SIGSTOP) answers nothing and greets no new
/// connection, while the kernel keeps what clients write. On SIGCONT it
/// reads and runs all of it, the `bgapi originate` of a client that has
/// closed its socket since included: seen on a real 1.10.12 frozen for
/// 70 s, where five customers were called 40-60 s after arsgate had given
/// their originates up (issue 10, finding 2).
#[tokio::test]
async fn a_frozen_switch_answers_nothing_and_runs_what_waited_on_thaw() {
    let sim = start_sim(|_| {}).await;
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    sim.freeze();
    peer.send("api status\n\n").await;
    assert!(
        peer.silent_for(Duration::from_millis(300)).await,
        "no reply while frozen"
    );
    let mut late = RawPeer::connect(sim.addr()).await;
    assert!(
        late.silent_for(Duration::from_millis(200)).await,
        "no greeting while frozen"
    );
    peer.send(
        "bgapi originate {origination_uuid=5e1f3b0e-0000-4000-8000-00000000f001}sofia/gateway/kt/01000000001 &park()\n\n",
    )
    .await;
    drop(peer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sim.dialled().is_empty(), "nothing runs while frozen");

    sim.thaw();
    eventually("the buffered originate runs", || {
        sim.dialled().contains(&"01000000001".to_owned())
    })
    .await;
    assert_eq!(late.frame().await.content_type(), Some("auth/request"));
}

/// A silent partition between the switch and arsgate (the ESL socket
/// blocked, the switch running): the call goes on — answered, parked —
/// but the connection hears none of it, and a new connection is never
/// greeted. Once healed, the cut-off connection is gone and a new one
/// finds the call parked (issue 10, finding 3).
#[tokio::test]
async fn a_partition_loses_the_events_while_the_call_goes_on() {
    let sim = start_sim(|c| c.speed = 20.0).await;
    sim.set_phone(
        "01000000001",
        PhoneScript::Answer(Answer {
            after: Duration::from_secs(4),
            early_media: None,
            hangup_after: None,
            dtmf: Vec::new(),
        }),
    );
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain CHANNEL_ANSWER CHANNEL_PARK\n\n")
        .await;
    assert!(peer.reply().await.starts_with("+OK"));
    let uuid = "5e1f3b0e-0000-4000-8000-00000000f002";
    peer.send(&format!(
        "bgapi originate {{origination_uuid={uuid}}}sofia/gateway/kt/01000000001 &park()\n\n"
    ))
    .await;
    assert!(peer.reply().await.starts_with("+OK Job-UUID"));
    sim.partition();
    // The answer comes 4 simulated seconds (200 ms) after the INVITE.
    assert!(
        peer.silent_for(Duration::from_millis(600)).await,
        "neither the answer nor the park arrives"
    );
    let mut late = RawPeer::connect(sim.addr()).await;
    assert!(
        late.silent_for(Duration::from_millis(50)).await,
        "no greeting"
    );

    sim.heal();
    assert!(peer.until_eof().await.is_empty(), "closed without a word");
    assert!(late.until_eof().await.is_empty());
    let mut fresh = RawPeer::authed(sim.addr(), "ClueCon").await;
    fresh.send(&format!("api uuid_dump {uuid} json\n\n")).await;
    let dump: serde_json::Value = serde_json::from_str(&fresh.api_body().await).unwrap();
    assert_eq!(dump["Answer-State"], "answered", "{dump}");
    assert_eq!(dump["variable_current_application"], "park", "{dump}");
}
