//! The simulator's call model: originate outcomes, applications, DTMF,
//! recordings, the XML dialplan and channel commands, checked over the
//! event socket as FreeSWITCH reports them.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use arsgate::esl::{Event, Message};
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript, SipStatus};
use arsgate::sim::{SimConfig, SimHandle};
use common::raw::RawPeer;
use common::start_sim;

/// A phone that answers after `after_ms`.
fn answering(after_ms: u64) -> Answer {
    Answer {
        after: Duration::from_millis(after_ms),
        early_media: None,
        hangup_after: None,
        dtmf: Vec::new(),
    }
}

fn on_prompt(prompt: u32, delay_ms: u64) -> DtmfTrigger {
    DtmfTrigger::OnPrompt {
        prompt: NonZeroU32::new(prompt).unwrap(),
        delay: Duration::from_millis(delay_ms),
    }
}

fn presses(trigger: DtmfTrigger, digits: &str) -> DtmfGroup {
    DtmfGroup {
        trigger,
        digits: Digits::try_from(digits.to_owned()).unwrap(),
        gap: Duration::from_millis(300),
        tone: Duration::from_millis(160),
    }
}

async fn sim_with(phones: &[(&str, PhoneScript)], tune: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let sim = start_sim(|c| {
        c.speed = 50.0;
        tune(c);
    })
    .await;
    for (key, script) in phones {
        sim.set_phone(key, script.clone());
    }
    sim
}

async fn listener(sim: &SimHandle) -> RawPeer {
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain ALL\n\n").await;
    assert_eq!(peer.reply().await, "+OK event listener enabled plain");
    peer
}

fn events(messages: &[Message]) -> Vec<&Event> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Event(e)
                if e.name().as_str() != "HEARTBEAT" && e.name().as_str() != "RE_SCHEDULE" =>
            {
                Some(e)
            }
            _ => None,
        })
        .collect()
}

fn names(messages: &[Message]) -> Vec<String> {
    events(messages)
        .iter()
        .map(|e| e.name().as_str().to_owned())
        .collect()
}

fn find<'a>(messages: &'a [Message], name: &str) -> &'a Event {
    events(messages)
        .into_iter()
        .find(|e| e.name().as_str() == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

async fn originate(peer: &mut RawPeer, uuid: &str, number: &str, extra: &str, destination: &str) {
    peer.send(&format!(
        "bgapi originate {{origination_uuid={uuid},ignore_early_media=true,originate_timeout=15{extra}}}sofia/gateway/kt/{number} {destination}\nJob-UUID: job-{uuid}\n\n"
    ))
    .await;
}

async fn sendmsg(peer: &mut RawPeer, uuid: &str, app: &str, arg: &str, event_uuid: &str) {
    peer.send(&format!(
        "sendmsg {uuid}\ncall-command: execute\nexecute-app-name: {app}\nexecute-app-arg: {arg}\nevent-lock: true\nEvent-UUID: {event_uuid}\n\n"
    ))
    .await;
}

fn job_body(messages: &[Message]) -> String {
    find(messages, "BACKGROUND_JOB")
        .body_text()
        .unwrap()
        .into_owned()
}

#[tokio::test]
async fn an_answered_call_follows_the_reference_sequence() {
    let sim = sim_with(&[("010", PhoneScript::Answer(answering(500)))], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "u-ok", "010", "", "&park()").await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    assert_eq!(
        names(&seen),
        [
            "CHANNEL_OUTGOING",
            "CHANNEL_STATE",
            "CHANNEL_CREATE",
            "CHANNEL_ORIGINATE",
            "CHANNEL_STATE",
            "CHANNEL_STATE",
            "CHANNEL_PROGRESS",
            "CHANNEL_CALLSTATE",
            "CODEC",
            "CODEC",
            "CHANNEL_ANSWER",
            "CHANNEL_CALLSTATE",
            "CALL_UPDATE",
            "API",
            "BACKGROUND_JOB",
            "CHANNEL_STATE",
            "CHANNEL_EXECUTE",
            "CHANNEL_PARK"
        ]
    );
    assert_eq!(job_body(&seen), "+OK u-ok\n");
    let answer = find(&seen, "CHANNEL_ANSWER");
    assert_eq!(answer.unique_id().as_deref(), Some("u-ok"));
    assert_eq!(answer.header("Answer-State").as_deref(), Some("answered"));
    assert_eq!(answer.variable("origination_uuid").as_deref(), Some("u-ok"));
    let state = find(&seen, "CHANNEL_STATE");
    assert_eq!(
        state.variable("uuid"),
        None,
        "CHANNEL_STATE carries no variables"
    );

    peer.send("sendmsg u-ok\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n")
        .await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let complete = find(&seen, "CHANNEL_HANGUP_COMPLETE");
    assert_eq!(complete.header_all("Hangup-Cause").len(), 2);
    assert_eq!(
        complete.variable("hangup_cause_q850").as_deref(),
        Some("16")
    );
    assert_eq!(
        complete.variable("sip_hangup_disposition").as_deref(),
        Some("send_bye")
    );
    let billsec: u64 = complete.variable("billsec").unwrap().parse().unwrap();
    assert!(billsec <= 1, "answered ~0.5 s before the hangup");
}

#[tokio::test]
async fn each_failure_reports_freeswitchs_cause() {
    let cases = [
        ("busy", PhoneScript::Busy, "USER_BUSY", "17"),
        ("reject", PhoneScript::Reject, "CALL_REJECTED", "21"),
        ("gone", PhoneScript::Unallocated, "UNALLOCATED_NUMBER", "1"),
        (
            "away",
            PhoneScript::Fail(SipStatus::try_from(480).unwrap()),
            "NO_USER_RESPONSE",
            "18",
        ),
        (
            "down",
            PhoneScript::Unreachable,
            "NORMAL_TEMPORARY_FAILURE",
            "41",
        ),
        ("ring", PhoneScript::RingForever, "NO_ANSWER", "19"),
        (
            "mute",
            PhoneScript::SipTimeout,
            "RECOVERY_ON_TIMER_EXPIRE",
            "102",
        ),
    ];
    let phones: Vec<(&str, PhoneScript)> =
        cases.iter().map(|(n, s, _, _)| (*n, s.clone())).collect();
    let sim = sim_with(&phones, |c| c.speed = 500.0).await;
    let mut peer = listener(&sim).await;
    for (number, _, cause, q850) in cases {
        // A 40 s originate_timeout lets the SIP timer (32 s) fire first.
        originate(
            &mut peer,
            number,
            number,
            ",originate_timeout=40",
            "&park()",
        )
        .await;
        let seen = peer.collect_until("CHANNEL_DESTROY").await;
        assert_eq!(job_body(&seen), format!("-ERR {cause}\n"), "{number}");
        let hangup = find(&seen, "CHANNEL_HANGUP");
        assert_eq!(hangup.hangup_cause().unwrap().name(), cause);
        let complete = find(&seen, "CHANNEL_HANGUP_COMPLETE");
        assert_eq!(
            complete.variable("hangup_cause_q850").as_deref(),
            Some(q850),
            "{number}"
        );
        assert!(
            !names(&seen).contains(&"CHANNEL_ANSWER".to_owned()),
            "{number} never answers"
        );
    }
}

#[tokio::test]
async fn early_media_counts_as_success_unless_ignored() {
    let early = PhoneScript::Answer(Answer {
        after: Duration::from_secs(2),
        early_media: Some(Duration::from_millis(200)),
        hangup_after: None,
        dtmf: Vec::new(),
    });
    let sim = sim_with(&[("183", early)], |_| {}).await;
    let mut peer = listener(&sim).await;
    peer.send("bgapi originate {origination_uuid=em-default,originate_timeout=15}sofia/gateway/kt/183 &park()\n\n")
        .await;
    let seen = peer.collect_until("CHANNEL_ANSWER").await;
    let order = names(&seen);
    let job = order.iter().position(|n| n == "BACKGROUND_JOB").unwrap();
    let answer = order.iter().position(|n| n == "CHANNEL_ANSWER").unwrap();
    assert!(job < answer, "the job succeeds at early media: {order:?}");
    assert!(
        !order.contains(&"CHANNEL_PROGRESS".to_owned()),
        "a 183 is PROGRESS_MEDIA only"
    );
    assert_eq!(
        find(&seen, "CHANNEL_PARK")
            .header("Answer-State")
            .as_deref(),
        Some("early")
    );

    originate(&mut peer, "em-ignore", "183", "", "&park()").await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    let order: Vec<String> = events(&seen)
        .iter()
        .filter(|e| e.unique_id().as_deref() != Some("em-default"))
        .map(|e| e.name().as_str().to_owned())
        .collect();
    let job = order.iter().position(|n| n == "BACKGROUND_JOB").unwrap();
    let answer = order.iter().position(|n| n == "CHANNEL_ANSWER").unwrap();
    assert!(
        answer < job,
        "with ignore_early_media the job waits for the answer: {order:?}"
    );
}

#[tokio::test]
async fn api_originate_blocks_the_connection_until_the_call_is_up() {
    let sim = sim_with(&[("slow", PhoneScript::Answer(answering(3000)))], |_| {}).await;
    let mut peer = listener(&sim).await;
    peer.send("api originate {origination_uuid=sync-1}sofia/gateway/kt/slow &park()\n\n")
        .await;
    let first = peer.frame().await;
    assert_eq!(
        first.content_type(),
        Some("api/response"),
        "no event reaches a connection blocked in api"
    );
    assert_eq!(&first.body().unwrap()[..], b"+OK sync-1\n");
    let seen = peer.collect_until("CHANNEL_PARK").await;
    assert!(
        names(&seen).contains(&"CHANNEL_ANSWER".to_owned()),
        "queued events flow afterwards"
    );
}

#[tokio::test]
async fn session_limits_refuse_without_any_channel_event() {
    let sim = sim_with(&[], |c| c.max_sessions = 1).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "first", "010", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    originate(&mut peer, "second", "011", "", "&park()").await;
    let seen = peer.collect_until("BACKGROUND_JOB").await;
    assert_eq!(job_body(&seen), "-ERR DESTINATION_OUT_OF_ORDER\n");
    assert!(
        events(&seen)
            .iter()
            .all(|e| e.unique_id().as_deref() != Some("second"))
    );
    peer.send("api fsctl max_sessions 1000\n\n").await;
    peer.send("api fsctl sps 1\n\n").await;
    // The new rate takes effect at the next one-second refill.
    peer.send("api msleep 1100\n\n").await;
    for _ in 0..3 {
        peer.api_body().await;
    }
    originate(&mut peer, "third", "012", "", "&park()").await;
    let seen = peer.collect_until("BACKGROUND_JOB").await;
    assert_eq!(
        job_body(&seen),
        "-ERR DESTINATION_OUT_OF_ORDER\n",
        "sps 1 admits nobody"
    );
}

#[tokio::test]
async fn play_and_get_digits_reports_what_the_phone_keyed() {
    let phone = PhoneScript::Answer(Answer {
        dtmf: vec![presses(on_prompt(1, 100), "123456")],
        ..answering(200)
    });
    let sim = sim_with(&[("pin", phone)], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "pagd", "pin", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(
        &mut peer,
        "pagd",
        "play_and_get_digits",
        "6 6 2 3000 # tone_stream://%(300,0,440) silence_stream://250 code \\d+ 2000",
        "app-1",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    let complete = find(&seen, "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(complete.application_uuid().as_deref(), Some("app-1"));
    assert_eq!(
        complete.header("Application-Response").as_deref(),
        Some("_none_")
    );
    assert_eq!(complete.variable("code").as_deref(), Some("123456"));
    assert_eq!(complete.variable("read_result").as_deref(), Some("success"));
    let digits: String = events(&seen)
        .iter()
        .filter(|e| e.name().as_str() == "DTMF")
        .map(|e| e.header("DTMF-Digit").unwrap().into_owned())
        .collect();
    assert_eq!(digits, "123456");
    assert_eq!(
        find(&seen, "DTMF").header("DTMF-Source").as_deref(),
        Some("RTP")
    );
}

/// `digits_dialed` (in the hangup events and the CDR) lists the keys a
/// call collected, except those keyed while `sensitive_dtmf` was set: they
/// read `none`, as in arsgate-sessions/C1_enter_code_info.jsonl (six keys
/// and `#`, `digits_dialed: none`) against F3_optin_details_then_join.jsonl
/// (no `sensitive_dtmf`, `digits_dialed: 91`). FreeSWITCH never logs a
/// sensitive key (switch_channel.c, switch_channel_dequeue_dtmf).
#[tokio::test]
async fn digits_dialed_leaves_out_sensitive_keys() {
    let phone = PhoneScript::Answer(Answer {
        dtmf: vec![presses(on_prompt(1, 100), "2580")],
        ..answering(200)
    });
    let sim = sim_with(&[("pin", phone)], |_| {}).await;
    let mut peer = listener(&sim).await;
    for (uuid, extra, dialed) in [
        ("dd-plain", "", "2580"),
        ("dd-sensitive", ",sensitive_dtmf=true", "none"),
    ] {
        originate(&mut peer, uuid, "pin", extra, "&park()").await;
        peer.collect_until("CHANNEL_PARK").await;
        sendmsg(
            &mut peer,
            uuid,
            "play_and_get_digits",
            "4 4 1 3000 # tone_stream://%(300,0,440) silence_stream://250 pin \\d+ 2000",
            &format!("{uuid}-app"),
        )
        .await;
        let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
        assert_eq!(
            find(&seen, "CHANNEL_EXECUTE_COMPLETE")
                .variable("pin")
                .as_deref(),
            Some("2580"),
            "{uuid}: the read itself gets the keys"
        );
        peer.send(&format!("api uuid_kill {uuid}\n\n")).await;
        let seen = peer.collect_until("CHANNEL_HANGUP_COMPLETE").await;
        assert_eq!(
            find(&seen, "CHANNEL_HANGUP_COMPLETE")
                .variable("digits_dialed")
                .as_deref(),
            Some(dialed),
            "{uuid}"
        );
        peer.collect_until("CHANNEL_DESTROY").await;
    }
}

#[tokio::test]
async fn play_and_get_digits_timeout_and_regex_failure_follow_freeswitch() {
    let silent = PhoneScript::Answer(answering(200));
    let wrong = PhoneScript::Answer(Answer {
        // The second try's prompt is the third prompt (after the invalid one).
        dtmf: vec![
            presses(on_prompt(1, 500), "999999"),
            presses(on_prompt(3, 500), "999999"),
        ],
        ..answering(200)
    });
    let sim = sim_with(&[("silent", silent), ("wrong", wrong)], |_| {}).await;
    let mut peer = listener(&sim).await;
    let args = "6 6 2 3000 # tone_stream://%(300,0,440) silence_stream://250 code ^1\\d{5}$ 2000";

    originate(&mut peer, "quiet", "silent", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(&mut peer, "quiet", "play_and_get_digits", args, "t-1").await;
    let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    let complete = find(&seen, "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(complete.variable("read_result").as_deref(), Some("failure"));
    assert_eq!(complete.variable("code"), None, "absent, not empty");
    let prompts = events(&seen)
        .iter()
        .filter(|e| e.name().as_str() == "PLAYBACK_START")
        .count();
    assert_eq!(prompts, 4, "prompt and invalid prompt on each of two tries");

    originate(&mut peer, "regex", "wrong", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(&mut peer, "regex", "play_and_get_digits", args, "r-1").await;
    let seen = loop {
        let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
        if find(&seen, "CHANNEL_EXECUTE_COMPLETE")
            .unique_id()
            .as_deref()
            == Some("regex")
        {
            break seen;
        }
    };
    let complete = find(&seen, "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(complete.variable("read_result").as_deref(), Some("success"));
    assert_eq!(complete.variable("code"), None);
    assert_eq!(complete.variable("code_invalid").as_deref(), Some("999999"));
}

#[tokio::test]
async fn the_phone_can_key_on_a_prompt_and_hang_up_by_itself() {
    let phone = PhoneScript::Answer(Answer {
        // Late enough for both prompts even on a slow test machine.
        hangup_after: Some(Duration::from_secs(10)),
        dtmf: vec![presses(on_prompt(2, 100), "5")],
        ..answering(200)
    });
    let sim = sim_with(&[("press5", phone)], |c| {
        c.dtmf_transport = arsgate::sim::DtmfTransport::Info
    })
    .await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "p5", "press5", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(
        &mut peer,
        "p5",
        "playback",
        "tone_stream://%(500,0,440)",
        "first",
    )
    .await;
    peer.collect_until("PRIVATE_COMMAND").await;
    sendmsg(
        &mut peer,
        "p5",
        "read",
        "1 1 tone_stream://%(2000,0,440) key 3000 #",
        "second",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    let names = names(&seen);
    let info = names
        .iter()
        .position(|n| n == "RECV_INFO")
        .expect("SIP INFO");
    assert_eq!(names[info + 1], "DTMF");
    assert_eq!(
        find(&seen, "DTMF").header("DTMF-Source").as_deref(),
        Some("ENDPOINT")
    );
    let stop = find(&seen, "PLAYBACK_STOP");
    assert_eq!(
        stop.header("Playback-Status").as_deref(),
        Some("break"),
        "the key barged in"
    );
    assert_eq!(
        find(&seen, "CHANNEL_EXECUTE_COMPLETE")
            .variable("key")
            .as_deref(),
        Some("5")
    );

    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(hangup.hangup_cause().unwrap().name(), "NORMAL_CLEARING");
    let complete = find(&seen, "CHANNEL_HANGUP_COMPLETE");
    assert_eq!(
        complete.variable("sip_hangup_disposition").as_deref(),
        Some("recv_bye")
    );
}

#[tokio::test]
async fn record_session_writes_a_wav_as_long_as_the_recording() {
    let recordings = tempfile::tempdir().unwrap();
    // Long enough (400 ms of real time at speed 50) that a loaded machine
    // still starts the recording before the far end hangs up.
    let phone = PhoneScript::Answer(Answer {
        hangup_after: Some(Duration::from_secs(20)),
        ..answering(200)
    });
    let dir = recordings.path().to_path_buf();
    let sim = sim_with(&[("rec", phone)], |c| c.recordings_dir = Some(dir)).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "rec-1", "rec", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(
        &mut peer,
        "rec-1",
        "record_session",
        "/rec/consent-rec-1.wav",
        "rec-app",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    let order = names(&seen);
    let start = order.iter().position(|n| n == "RECORD_START").unwrap();
    let execute = order.iter().position(|n| n == "CHANNEL_EXECUTE").unwrap();
    assert!(
        execute < start,
        "RECORD_START comes between EXECUTE and EXECUTE_COMPLETE"
    );
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let stop = find(&seen, "RECORD_STOP");
    assert_eq!(
        stop.header("Record-File-Path").as_deref(),
        Some("/rec/consent-rec-1.wav")
    );
    let millis: u64 = stop.variable("record_ms").unwrap().parse().unwrap();
    // The hangup is due 20 s after the answer; on a loaded machine it runs
    // a few real milliseconds late, which at speed 50 is up to a simulated
    // second.
    assert!(
        millis > 0 && millis <= 21_000,
        "{millis} ms recorded, within the 20 s call"
    );
    let file = recordings.path().join("rec/consent-rec-1.wav");
    let wav = hound::WavReader::open(&file).expect("a real WAV file");
    assert_eq!(wav.spec().sample_rate, 8000);
    assert_eq!(u64::from(wav.duration()), millis * 8);
    assert_eq!(
        stop.variable("record_file_size").unwrap(),
        std::fs::metadata(&file).unwrap().len().to_string()
    );
}

/// With the README's shared-folder setup (FreeSWITCH and arsgate write and
/// read one directory, and arsgate names recordings by their full path
/// inside it), the simulator writes the file where it was told, not
/// nested a second time under its recordings folder: otherwise arsgate
/// finds no file, and the evidence has no SHA-256.
#[tokio::test]
async fn a_recording_path_inside_the_recordings_folder_is_written_as_is() {
    let recordings = tempfile::tempdir().unwrap();
    let root = recordings.path().to_path_buf();
    let phone = PhoneScript::Answer(Answer {
        hangup_after: Some(Duration::from_secs(20)),
        ..answering(200)
    });
    let sim = sim_with(&[("rec", phone)], |c| c.recordings_dir = Some(root.clone())).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "rec-3", "rec", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    let inside = root.join("rec-3.wav");
    sendmsg(
        &mut peer,
        "rec-3",
        "record_session",
        inside.to_str().unwrap(),
        "rec-app",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let stop = find(&seen, "RECORD_STOP");
    assert_eq!(stop.header("Record-File-Path").as_deref(), inside.to_str());
    let wav = hound::WavReader::open(&inside).expect("the file where the switch was told");
    let millis: u64 = stop.variable("record_ms").unwrap().parse().unwrap();
    assert_eq!(u64::from(wav.duration()), millis * 8);
    let entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["rec-3.wav"], "nothing nested under the folder");
}

/// A recording that ends while the channel is up, by its `+<seconds>`
/// limit or by `stop_record_session`, completes with `success-maxtime`;
/// one the hangup ends, with `success-silence`. FreeSWITCH sets these in
/// `record_callback` (switch_ivr_async.c, SWITCH_ABC_TYPE_CLOSE), and the
/// captures show both: arsgate-sessions/E1_consent_press1.jsonl (stopped,
/// `success-maxtime`) and E4_consent_hangup_during_text.jsonl (hung up,
/// `success-silence`).
#[tokio::test]
async fn a_recording_stopped_while_the_call_is_up_completes_with_maxtime() {
    let phone = PhoneScript::Answer(Answer {
        hangup_after: Some(Duration::from_secs(30)),
        ..answering(200)
    });
    let sim = sim_with(&[("rec", phone)], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "rec-2", "rec", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;

    sendmsg(
        &mut peer,
        "rec-2",
        "record_session",
        "/rec/limited.wav +2",
        "a1",
    )
    .await;
    let seen = peer.collect_until("RECORD_STOP").await;
    assert!(
        !names(&seen).iter().any(|n| n == "CHANNEL_HANGUP"),
        "the limit ends the recording, not the call"
    );
    let stop = find(&seen, "RECORD_STOP");
    assert_eq!(
        stop.header("Record-File-Path").as_deref(),
        Some("/rec/limited.wav")
    );
    assert_eq!(
        stop.header("Record-Completion-Cause").as_deref(),
        Some("success-maxtime")
    );
    let millis: u64 = stop.variable("record_ms").unwrap().parse().unwrap();
    assert!(millis >= 2000, "ran its 2 s limit: {millis} ms");

    sendmsg(
        &mut peer,
        "rec-2",
        "record_session",
        "/rec/stopped.wav",
        "a2",
    )
    .await;
    peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    sendmsg(
        &mut peer,
        "rec-2",
        "stop_record_session",
        "/rec/stopped.wav",
        "a3",
    )
    .await;
    let seen = peer.collect_until("RECORD_STOP").await;
    let stop = find(&seen, "RECORD_STOP");
    assert_eq!(
        stop.header("Record-File-Path").as_deref(),
        Some("/rec/stopped.wav")
    );
    assert_eq!(
        stop.variable("record_completion_cause").as_deref(),
        Some("success-maxtime")
    );

    sendmsg(
        &mut peer,
        "rec-2",
        "record_session",
        "/rec/hung-up.wav",
        "a4",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let stop = find(&seen, "RECORD_STOP");
    assert_eq!(
        stop.header("Record-File-Path").as_deref(),
        Some("/rec/hung-up.wav")
    );
    assert_eq!(
        stop.header("Record-Completion-Cause").as_deref(),
        Some("success-silence")
    );
}

#[tokio::test]
async fn the_xml_dialplan_routes_with_regex_captures() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("arsgate.xml"),
        r#"<include>
  <context name="arsgate">
    <extension name="otp">
      <condition field="destination_number" expression="^otp_(\d+)$">
        <action application="set" data="otp_len=$1" inline="true"/>
        <action application="play_and_get_digits" data="${otp_len} ${otp_len} 1 3000 # tone_stream://%(200,0,440) silence_stream://250 otp \d+ 2000"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="done">
      <condition field="destination_number" expression="^done$">
        <action application="playback" data="tone_stream://%(300,0,880)"/>
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
  </context>
</include>
"#,
    )
    .unwrap();
    let phone = PhoneScript::Answer(Answer {
        dtmf: vec![presses(
            DtmfTrigger::AfterAnswer(Duration::from_millis(800)),
            "4321",
        )],
        ..answering(200)
    });
    let dialplan = dir.path().to_path_buf();
    let sim = sim_with(&[("dp", phone)], |c| c.dialplan_dir = Some(dialplan)).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "dp-1", "dp", "", "otp_4 XML arsgate").await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    let pagd = events(&seen)
        .into_iter()
        .find(|e| {
            e.name().as_str() == "CHANNEL_EXECUTE_COMPLETE"
                && e.application().as_deref() == Some("play_and_get_digits")
        })
        .expect("pagd ran");
    assert_eq!(
        pagd.header("Application-Data").as_deref(),
        Some("4 4 1 3000 # tone_stream://%(200,0,440) silence_stream://250 otp \\d+ 2000"),
        "$1 substituted at hunt time, ${{otp_len}} expanded at execution"
    );
    assert_eq!(pagd.variable("otp").as_deref(), Some("4321"));
    assert_eq!(
        find(&seen, "CHANNEL_PARK")
            .header("Channel-HIT-Dialplan")
            .as_deref(),
        Some("true")
    );

    peer.send("api uuid_transfer dp-1 done XML arsgate\n\n")
        .await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let order: Vec<String> = names(&seen).into_iter().filter(|n| n != "API").collect();
    assert!(
        order.starts_with(&[
            "CHANNEL_UNPARK".to_owned(),
            "CHANNEL_EXECUTE_COMPLETE".to_owned()
        ]),
        "{order:?}"
    );
    let complete = find(&seen, "CHANNEL_HANGUP_COMPLETE");
    assert_eq!(
        complete.header("Caller-Destination-Number").as_deref(),
        Some("done")
    );
    assert_eq!(complete.header("Caller-RDNIS").as_deref(), Some("otp_4"));
    assert_eq!(complete.variable("last_app").as_deref(), Some("hangup"));

    originate(&mut peer, "dp-2", "dp", "", "nowhere XML arsgate").await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    assert_eq!(
        job_body(&seen),
        "+OK dp-2\n",
        "originate succeeds; routing fails later"
    );
    let hangups: Vec<_> = events(&seen)
        .into_iter()
        .filter(|e| e.name().as_str() == "CHANNEL_HANGUP")
        .collect();
    assert_eq!(
        hangups.last().unwrap().hangup_cause().unwrap().name(),
        "NO_ROUTE_DESTINATION"
    );
}

/// A graceful FreeSWITCH shutdown, as seen on a real 1.10.12 in the runs
/// of issue 10 (finding 7): the calls are hung up with SYSTEM_SHUTDOWN,
/// then the event socket stays open about 1.2 s and answers `bgapi
/// originate` with `-ERR CHAN_NOT_IMPLEMENTED` and no channel at all (the
/// endpoint module is unloaded first: switch_core_session.c,
/// switch_core_session_outgoing_channel, "Could not locate channel
/// type"), then says goodbye and closes.
#[tokio::test]
async fn a_graceful_shutdown_hangs_up_then_refuses_originates_before_closing() {
    let sim = sim_with(&[("up", PhoneScript::Answer(answering(200)))], |c| {
        // Long enough to originate in the window on a loaded machine.
        c.shutdown_linger = Duration::from_secs(60);
    })
    .await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "sd-1", "up", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    let stopping = sim.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown().await });
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    assert_eq!(
        find(&seen, "CHANNEL_HANGUP")
            .header("Hangup-Cause")
            .as_deref(),
        Some("SYSTEM_SHUTDOWN")
    );

    originate(&mut peer, "sd-2", "up", "", "&park()").await;
    let seen = peer.collect_until("BACKGROUND_JOB").await;
    assert_eq!(job_body(&seen), "-ERR CHAN_NOT_IMPLEMENTED\n");
    assert!(
        !events(&seen)
            .iter()
            .any(|e| e.header("Unique-ID").as_deref() == Some("sd-2")),
        "no channel for a refused originate: {:?}",
        names(&seen)
    );
    assert_eq!(
        sim.dialled().len(),
        1,
        "only the first call reached a phone"
    );

    peer.until_eof().await;
    let received = String::from_utf8_lossy(&peer.received);
    assert!(received.contains("The system is being shut down."));
    shutdown.await.unwrap();
}

#[tokio::test]
async fn channel_commands_answer_like_mod_commands() {
    let sim = sim_with(&[], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "cmd-1", "010", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    let exchanges = [
        ("uuid_exists cmd-1", "true"),
        ("uuid_exists nope", "false"),
        ("uuid_setvar cmd-1 ars_x 1", "+OK\n"),
        ("uuid_getvar cmd-1 ars_x", "1"),
        ("uuid_getvar cmd-1 never_set", "_undef_"),
        ("uuid_setvar_multi cmd-1 a=1;b=2", "+OK\n"),
        ("uuid_getvar cmd-1 b", "2"),
        ("uuid_getvar nope ars_x", "-ERR No such channel!\n"),
        ("uuid_kill nope", "-ERR No such channel!\n"),
    ];
    for (command, expected) in exchanges {
        peer.send(&format!("api {command}\n\n")).await;
        assert_eq!(peer.api_body().await, expected, "{command}");
    }
    peer.send("api show channels as json\n\n").await;
    let json: serde_json::Value = serde_json::from_str(&peer.api_body().await).unwrap();
    assert_eq!(json["row_count"], 1);
    assert_eq!(json["rows"][0]["uuid"], "cmd-1");
    peer.send("api uuid_kill cmd-1\n\n").await;
    assert_eq!(peer.api_body().await, "+OK\n");
    let hangup = peer.event_named("CHANNEL_HANGUP").await;
    assert_eq!(hangup.unique_id().as_deref(), Some("cmd-1"));
    peer.event_named("CHANNEL_DESTROY").await;
    peer.send("api show channels\n\n").await;
    assert_eq!(peer.api_body().await, "\n0 total.\n");
}

#[tokio::test]
async fn hupall_and_park_timeout_end_calls() {
    let sim = sim_with(&[], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "h-1", "010", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    originate(&mut peer, "h-2", "011", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    peer.send("api hupall NORMAL_CLEARING\n\n").await;
    assert_eq!(
        peer.api_body().await,
        "+OK hangup all channels with cause NORMAL_CLEARING\n"
    );
    peer.collect_until("CHANNEL_DESTROY").await;
    peer.collect_until("CHANNEL_DESTROY").await;
    assert_eq!(sim.channels(), 0);

    originate(
        &mut peer,
        "watchdog",
        "010",
        ",park_timeout=3:ALLOTTED_TIMEOUT",
        "&park()",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(hangup.hangup_cause().unwrap().name(), "ALLOTTED_TIMEOUT");
}

#[tokio::test]
async fn executes_without_event_lock_run_nested_and_unknown_apps_hang_up() {
    let sim = sim_with(&[], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "n-1", "010", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    for (id, tone) in [("outer", "2000"), ("inner", "100")] {
        peer.send(&format!(
            "sendmsg n-1\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: tone_stream://%({tone},0,440)\nEvent-UUID: {id}\n\n"
        ))
        .await;
    }
    let seen = peer.collect_until("PRIVATE_COMMAND").await;
    let completes: Vec<String> = events(&seen)
        .iter()
        .filter(|e| e.name().as_str() == "CHANNEL_EXECUTE_COMPLETE")
        .map(|e| e.application_uuid().unwrap().into_owned())
        .collect();
    assert_eq!(
        completes,
        ["inner"],
        "the second playback ran inside the first"
    );

    sendmsg(&mut peer, "n-1", "no_such_app", "", "bad").await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(
        hangup.hangup_cause().unwrap().name(),
        "DESTINATION_OUT_OF_ORDER"
    );
}

#[tokio::test]
async fn myevents_binds_a_connection_to_one_channel_until_it_hangs_up() {
    let sim = sim_with(&[], |_| {}).await;
    let mut control = listener(&sim).await;
    originate(&mut control, "mine", "010", "", "&park()").await;
    control.collect_until("CHANNEL_PARK").await;
    originate(&mut control, "other", "011", "", "&park()").await;
    control.collect_until("CHANNEL_PARK").await;

    let mut bound = RawPeer::authed(sim.addr(), "ClueCon").await;
    bound.send("myevents nope plain\n\n").await;
    assert_eq!(bound.reply().await, "-ERR invalid uuid");
    bound.send("linger\n\n").await;
    assert_eq!(bound.reply().await, "-ERR not controlling a session");
    bound.send("myevents mine\n\n").await;
    assert_eq!(bound.reply().await, "+OK Events Enabled");
    bound.send("myevents mine\n\n").await;
    assert_eq!(bound.reply().await, "-ERR aready enabled.");
    // sendmsg without a uuid targets the controlled channel.
    bound
        .send("sendmsg\ncall-command: execute\nexecute-app-name: set\nexecute-app-arg: bound=yes\nevent-lock: true\n\n")
        .await;
    assert_eq!(bound.reply().await, "+OK");
    let done = bound.event_named("CHANNEL_EXECUTE_COMPLETE").await;
    assert_eq!(done.unique_id().as_deref(), Some("mine"));
    assert_eq!(done.variable("bound").as_deref(), Some("yes"));

    control
        .send("api uuid_kill other\n\napi uuid_kill mine\n\n")
        .await;
    let frames = bound.until_eof().await;
    let events: Vec<_> = frames
        .iter()
        .filter_map(|f| match Message::try_from(f.clone()) {
            Ok(Message::Event(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e.unique_id().as_deref() == Some("mine")),
        "only its channel's events"
    );
    assert_eq!(
        events.last().unwrap().name().as_str(),
        "CHANNEL_HANGUP",
        "closed as soon as it went down"
    );
    let notice = frames.last().unwrap();
    assert_eq!(notice.header("Controlled-Session-UUID"), Some("mine"));
    assert_eq!(notice.header("Content-Disposition"), Some("disconnect"));
}

#[tokio::test]
async fn a_lingering_connection_sees_the_teardown_then_closes() {
    let sim = sim_with(&[], |_| {}).await;
    let mut control = listener(&sim).await;
    originate(&mut control, "linger-1", "010", "", "&park()").await;
    control.collect_until("CHANNEL_PARK").await;
    let mut bound = RawPeer::authed(sim.addr(), "ClueCon").await;
    bound.send("myevents linger-1 json\n\nlinger 5\n\n").await;
    assert_eq!(bound.reply().await, "+OK Events Enabled");
    assert_eq!(bound.reply().await, "+OK will linger 5 seconds");
    control.send("api uuid_kill linger-1\n\n").await;
    let frames = bound.until_eof().await;
    let linger = frames
        .iter()
        .position(|f| f.header("Content-Disposition") == Some("linger"))
        .expect("a linger notice");
    assert_eq!(frames[linger].header("Linger-Time"), Some("5"));
    let after: Vec<String> = frames[linger..]
        .iter()
        .filter_map(|f| match Message::try_from(f.clone()) {
            Ok(Message::Event(e)) => Some(e.name().as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert!(
        after.contains(&"CHANNEL_HANGUP_COMPLETE".to_owned()),
        "{after:?}"
    );
    assert_eq!(
        frames.last().unwrap().header("Content-Disposition"),
        Some("disconnect")
    );
    assert_eq!(
        frames[0].content_type(),
        Some("text/event-json"),
        "the format word applies"
    );
}

/// A dialplan whose one extension, `hold`, parks the call.
fn holding_dialplan() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hold.xml"),
        r#"<include>
  <context name="t">
    <extension name="hold">
      <condition field="destination_number" expression="^hold$">
        <action application="park"/>
      </condition>
    </extension>
  </context>
</include>
"#,
    )
    .unwrap();
    dir
}

/// Simulated seconds between two events, from their own timestamps.
fn seconds_between(earlier: &Event, later: &Event) -> f64 {
    let micros = |e: &Event| e.timestamp_micros().expect("a timestamp") as f64;
    (micros(later) - micros(earlier)) / 1e6
}

/// `park` reads `park_timeout` and removes it from the channel before
/// CHANNEL_PARK, as switch_ivr.c `switch_ivr_park` does (and as the
/// recorded sessions show: `variable_park_timeout` is in every event up to
/// the first CHANNEL_PARK, in none after): a timeout from the originate
/// string guards the first park only.
#[tokio::test]
async fn park_timeout_guards_only_the_first_park() {
    let dialplan = holding_dialplan();
    let dir = dialplan.path().to_path_buf();
    let sim = sim_with(&[], |c| c.dialplan_dir = Some(dir)).await;
    let mut peer = listener(&sim).await;
    originate(
        &mut peer,
        "twice",
        "010",
        ",park_timeout=20:ALLOTTED_TIMEOUT",
        "hold XML t",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    assert_eq!(
        find(&seen, "CHANNEL_ANSWER")
            .variable("park_timeout")
            .as_deref(),
        Some("20:ALLOTTED_TIMEOUT")
    );
    assert_eq!(find(&seen, "CHANNEL_PARK").variable("park_timeout"), None);
    peer.send("api uuid_getvar twice park_timeout\n\n").await;
    assert_eq!(peer.api_body().await, "_undef_");

    peer.send("api uuid_transfer twice hold XML t\n\n").await;
    assert_eq!(peer.api_body().await, "+OK\n");
    let second = peer.collect_until("CHANNEL_PARK").await;
    assert!(names(&second).contains(&"CHANNEL_UNPARK".to_owned()));
    // Well past both parks' 20 s: the second park has no timeout.
    sim.clock().sleep(Duration::from_secs(45)).await;
    peer.send("api uuid_exists twice\n\n").await;
    assert_eq!(peer.api_body().await, "true");
    assert_eq!(sim.channels(), 1);
}

/// `sched_hangup +<seconds> [<cause>]` (mod_dptools.c
/// `sched_hangup_function` → switch_ivr_async.c
/// `switch_ivr_schedule_hangup`) puts the hangup in the switch's
/// scheduler, keyed by the channel's UUID: it fires whatever the channel
/// runs by then, here after a park and a transfer to a second park.
#[tokio::test]
async fn a_scheduled_hangup_fires_after_a_park_and_a_transfer() {
    let dialplan = holding_dialplan();
    let dir = dialplan.path().to_path_buf();
    let sim = sim_with(&[], |c| c.dialplan_dir = Some(dir)).await;
    let mut peer = listener(&sim).await;
    originate(&mut peer, "sched", "010", "", "hold XML t").await;
    peer.collect_until("CHANNEL_PARK").await;
    sendmsg(&mut peer, "sched", "sched_hangup", "+30 USER_BUSY", "s-1").await;
    let seen = peer.collect_until("CHANNEL_EXECUTE_COMPLETE").await;
    let scheduled = find(&seen, "CHANNEL_EXECUTE_COMPLETE").clone();
    assert_eq!(scheduled.application().as_deref(), Some("sched_hangup"));
    assert_eq!(sim.channels(), 1, "scheduled, not hung up");

    peer.send("api uuid_transfer sched hold XML t\n\n").await;
    assert_eq!(peer.api_body().await, "+OK\n");
    peer.collect_until("CHANNEL_PARK").await;
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(hangup.hangup_cause().unwrap().name(), "USER_BUSY");
    // Due at the start of the 30th second from the schedule.
    assert!(seconds_between(&scheduled, hangup) >= 29.0);
}

/// The API form, `sched_hangup [+]<time> <uuid> [<cause>]` (mod_commands.c
/// `sched_hangup_function`): ALLOTTED_TIMEOUT by default, `+0` at once,
/// and a channel gone before its time is left alone.
#[tokio::test]
async fn the_sched_hangup_command_schedules_by_uuid() {
    let sim = sim_with(&[], |_| {}).await;
    let mut peer = listener(&sim).await;
    peer.send("api sched_hangup\n\n").await;
    assert_eq!(
        peer.api_body().await,
        "-USAGE: [+]<time> <uuid> [<cause>]\n"
    );
    peer.send("api sched_hangup +10 nobody\n\n").await;
    assert_eq!(peer.api_body().await, "-ERR No such channel!\n");

    originate(&mut peer, "later", "010", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    originate(&mut peer, "gone", "011", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    originate(&mut peer, "now", "012", "", "&park()").await;
    peer.collect_until("CHANNEL_PARK").await;
    // (Events fired before a command's response come first on the wire.)
    peer.send("api sched_hangup +0 now NORMAL_CLEARING\n\n")
        .await;
    let seen = peer.collect_until("CHANNEL_HANGUP").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(hangup.unique_id().as_deref(), Some("now"));
    assert_eq!(hangup.hangup_cause().unwrap().name(), "NORMAL_CLEARING");

    peer.send("api sched_hangup +5 gone\n\napi uuid_kill gone\n\napi sched_hangup +10 later\n\n")
        .await;
    let mut hangups = Vec::new();
    while hangups.len() < 2 {
        let hangup = peer.event_named("CHANNEL_HANGUP").await;
        hangups.push((
            hangup.unique_id().unwrap().into_owned(),
            hangup.hangup_cause().unwrap().name().to_owned(),
        ));
    }
    assert_eq!(
        hangups,
        [
            ("gone".to_owned(), "NORMAL_CLEARING".to_owned()),
            ("later".to_owned(), "ALLOTTED_TIMEOUT".to_owned())
        ]
    );
}

/// `execute_on_answer` runs its application when the far end answers,
/// between CHANNEL_ANSWER and the ACTIVE call state (switch_channel.c
/// `switch_channel_perform_mark_answered` → `switch_channel_execute_on`):
/// the guard arsgate sets on every originate.
#[tokio::test]
async fn execute_on_answer_runs_its_application_at_the_answer() {
    let sim = sim_with(&[("010", PhoneScript::Answer(answering(2000)))], |_| {}).await;
    let mut peer = listener(&sim).await;
    originate(
        &mut peer,
        "guarded",
        "010",
        ",execute_on_answer='sched_hangup +20 ALLOTTED_TIMEOUT'",
        "&park()",
    )
    .await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    let order: Vec<String> = names(&seen)
        .into_iter()
        .skip_while(|n| n != "CHANNEL_ANSWER")
        .take(4)
        .collect();
    assert_eq!(
        order,
        [
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE",
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_CALLSTATE"
        ]
    );
    let executed = find(&seen, "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(executed.application().as_deref(), Some("sched_hangup"));
    assert_eq!(
        executed.header("Application-Data").as_deref(),
        Some("+20 ALLOTTED_TIMEOUT")
    );
    let answer = find(&seen, "CHANNEL_ANSWER").clone();
    let seen = peer.collect_until("CHANNEL_DESTROY").await;
    let hangup = find(&seen, "CHANNEL_HANGUP");
    assert_eq!(hangup.hangup_cause().unwrap().name(), "ALLOTTED_TIMEOUT");
    assert!(seconds_between(&answer, hangup) >= 19.0);
}
