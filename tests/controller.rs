//! The per-call controller through the real ESL client against the
//! simulator: a small hand-written program and its dialplan, every way a
//! call can end.

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arsgate::esl::Event;
use arsgate::esl::client::{Client, ClientConfig};
use arsgate::scenario::controller::{self, CallReport, CallRequest, CallSettings, RecordingPaths};
use arsgate::scenario::secret::{Code, CodeKey};
use arsgate::scenario::timeline::{Happening, InputResult};
use arsgate::scenario::{
    Decision, DialplanAction, End, Language, Outcome, Program, SecretKind, Segment, SegmentId,
    Verify,
};
use arsgate::sim::SimHandle;
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use arsgate::switch::freeswitch::CALL_EVENTS;
use arsgate::switch::{
    Backend, CallId, ChannelSnapshot, DialNumber, DialTemplate, FreeSwitch, MARK_VAR, VarName,
    VarValue,
};
use common::raw::RawPeer;
use common::start_sim;
use tokio_util::sync::CancellationToken;

const DIALPLAN: &str = r#"<include>
  <context name="arsgate">
    <extension name="t__start">
      <condition field="destination_number" expression="^t__start$">
        <action application="playback" data="tone_stream://%(200,0,440)"/>
        <action application="set" data="ars_parked=${ars_state}"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="t__ask">
      <condition field="destination_number" expression="^t__ask$">
        <action application="play_and_get_digits" data="6 6 2 3000 # tone_stream://%(300,0,440) silence_stream://250 ars_in_ask ^\d{6}$ 2000"/>
        <action application="set" data="ars_parked=${ars_state}"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="t__wrong">
      <condition field="destination_number" expression="^t__wrong$">
        <action application="playback" data="tone_stream://%(200,0,880)"/>
        <action application="set" data="ars_parked=${ars_state}"/>
        <action application="park"/>
      </condition>
    </extension>
    <extension name="t__verified">
      <condition field="destination_number" expression="^t__verified$">
        <action application="playback" data="tone_stream://%(200,0,660)"/>
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
    <extension name="t__failed">
      <condition field="destination_number" expression="^t__failed$">
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
    <extension name="t__noinput">
      <condition field="destination_number" expression="^t__noinput$">
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition>
    </extension>
  </context>
</include>
"#;

fn segment(name: &str, end: End) -> Segment {
    Segment {
        name: name.to_owned(),
        extension: format!("t__{name}"),
        needs: Vec::new(),
        actions: vec![DialplanAction {
            app: "park".to_owned(),
            data: String::new(),
        }],
        end,
    }
}

/// start → ask (verify code, 3 attempts) → verified | wrong → ask | failed | noinput.
fn program(max_duration: Duration) -> Program {
    let (start, ask, wrong, verified, failed, noinput) = (
        SegmentId(0),
        SegmentId(1),
        SegmentId(2),
        SegmentId(3),
        SegmentId(4),
        SegmentId(5),
    );
    Program {
        scenario: "t".to_owned(),
        secret: SecretKind::Code,
        fields: Vec::new(),
        max_duration,
        entry: start,
        segments: vec![
            segment("start", End::Park(Decision::Next(ask))),
            segment(
                "ask",
                End::Park(Decision::Collect {
                    step: "ask".to_owned(),
                    var: "ars_in_ask".to_owned(),
                    verify: Some(Verify {
                        against: SecretKind::Code,
                        attempts: 3,
                        wrong,
                        exhausted: failed,
                    }),
                    on_input: verified,
                    on_no_input: noinput,
                    on_invalid: failed,
                }),
            ),
            segment("wrong", End::Park(Decision::Next(ask))),
            segment("verified", End::Finish(Outcome::Verified)),
            segment("failed", End::Finish(Outcome::WrongInput)),
            segment("noinput", End::Finish(Outcome::NoInput)),
        ],
    }
}

fn keys(prompt: u32, digits: &str) -> DtmfGroup {
    DtmfGroup {
        trigger: DtmfTrigger::OnPrompt {
            prompt: NonZeroU32::new(prompt).unwrap(),
            delay: Duration::from_millis(200),
        },
        digits: Digits::try_from(digits.to_owned()).unwrap(),
        gap: Duration::from_millis(300),
        tone: Duration::from_millis(160),
    }
}

fn phone(dtmf: Vec<DtmfGroup>, hangup_after: Option<Duration>) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_millis(500),
        early_media: None,
        hangup_after,
        dtmf,
    })
}

struct Rig {
    sim: SimHandle,
    switch: FreeSwitch,
    settings: CallSettings,
    _dialplan: tempfile::TempDir,
}

/// A backend on its own event socket to `sim`, as each run of arsgate has.
async fn connect(sim: &SimHandle) -> FreeSwitch {
    let mut config = ClientConfig::new(sim.addr().to_string(), "ClueCon");
    config.subscriptions = CALL_EVENTS.to_vec();
    let (client, events) = Client::connect(config).await.unwrap();
    FreeSwitch::new(
        client,
        events,
        "arsgate",
        DialTemplate::parse("sofia/gateway/kt/{number}").unwrap(),
    )
}

async fn rig() -> Rig {
    let dialplan = tempfile::tempdir().unwrap();
    std::fs::write(dialplan.path().join("t.xml"), DIALPLAN).unwrap();
    let dir = dialplan.path().to_path_buf();
    let sim = start_sim(|c| {
        c.speed = 40.0;
        c.dialplan_dir = Some(dir);
    })
    .await;
    let switch = connect(&sim).await;
    let settings = CallSettings {
        ring_timeout: Duration::from_secs(30),
        sounds: "/sounds".to_owned(),
        tts_engine: "flite".to_owned(),
        tts_voices: BTreeMap::new(),
        recordings: RecordingPaths {
            switch_dir: "/recordings".to_owned(),
            local_dir: std::env::temp_dir(),
        },
        caller_id_number: Some("0215880000".to_owned()),
        caller_id_name: None,
        code_key: Arc::new(CodeKey::new(b"test key test key test key test!".to_vec())),
    };
    Rig {
        sim,
        switch,
        settings,
        _dialplan: dialplan,
    }
}

impl Rig {
    async fn call(
        &self,
        number: &str,
        max_duration: Duration,
        cancel: CancellationToken,
    ) -> CallReport {
        let request = self.request(number);
        let program = program(max_duration);
        tokio::time::timeout(
            Duration::from_secs(20),
            controller::run(&self.switch, &program, request, &self.settings, cancel),
        )
        .await
        .expect("the call ends")
    }
}

impl Rig {
    /// A request to call `number`, whose code is 123456.
    fn request(&self, number: &str) -> CallRequest {
        let code = Code::parse("123456").unwrap();
        CallRequest {
            call: CallId::new(),
            number: DialNumber::parse(number).unwrap(),
            language: Language::Ko,
            fields: BTreeMap::new(),
            code_digest: Some(self.settings.code_key.digest(&code)),
            code: None,
            pin: None,
            birthdate: None,
            progress: None,
        }
    }

    /// Runs `request`'s call until its timeline has an entry `until`
    /// picks, then drops the controller as a crash would: the call stays up
    /// on the switch with nobody driving it.
    async fn crash_when(&self, request: &CallRequest, until: impl Fn(&Happening) -> bool) {
        let (progress, mut entries) = tokio::sync::mpsc::unbounded_channel();
        let request = CallRequest {
            progress: Some(progress),
            ..request.clone()
        };
        let program = program(MINUTE);
        let run = controller::run(
            &self.switch,
            &program,
            request,
            &self.settings,
            CancellationToken::new(),
        );
        let reached = async {
            while let Some(entry) = entries.recv().await {
                if until(&entry.what) {
                    return;
                }
            }
            panic!("the call ended before the crash point");
        };
        tokio::select! {
            report = run => panic!("the call ended before the crash point: {report:?}"),
            () = reached => {}
        }
    }

    /// A restarted arsgate (a new event socket) takes `request`'s call over.
    async fn take_over(&self, switch: &FreeSwitch, request: CallRequest) -> CallReport {
        let program = program(MINUTE);
        tokio::time::timeout(
            Duration::from_secs(20),
            controller::take_over(
                switch,
                &program,
                request,
                &self.settings,
                CancellationToken::new(),
                Duration::from_secs(1),
            ),
        )
        .await
        .expect("the call ends")
    }
}

/// Waits until nobody-driven `call` has parked, as `switch` sees it.
async fn parked(switch: &FreeSwitch, call: &CallId) -> ChannelSnapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = switch
            .inspect(call, &[])
            .await
            .unwrap()
            .expect("the call is up");
        if snapshot.parked {
            return snapshot;
        }
        assert!(tokio::time::Instant::now() < deadline, "never parked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn taken_over(report: &CallReport) -> bool {
    report
        .timeline
        .entries()
        .iter()
        .any(|e| e.what == Happening::TakenOver)
}

fn inputs(report: &CallReport) -> Vec<(u32, usize, InputResult)> {
    report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Input {
                attempt,
                digits,
                result,
                ..
            } => Some((*attempt, *digits, *result)),
            _ => None,
        })
        .collect()
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_right_code_verifies() {
    let rig = rig().await;
    // Prompt 1 is the greeting, prompt 2 the collect's.
    rig.sim
        .set_phone("0101", phone(vec![keys(2, "123456")], None));
    let report = rig.call("0101", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Verified, "{report:?}");
    assert!(report.answered);
    assert_eq!(inputs(&report), [(1, 6, InputResult::Accepted)]);
    let debug = format!("{report:?}");
    assert!(
        !debug.contains("123456"),
        "the keyed code appears nowhere in the report"
    );
}

#[tokio::test]
async fn a_wrong_code_then_the_right_one_verifies_on_the_second_attempt() {
    let rig = rig().await;
    // 1 greeting, 2 collect, 3 "wrong", 4 collect again.
    rig.sim.set_phone(
        "0102",
        phone(vec![keys(2, "111111"), keys(4, "123456")], None),
    );
    let report = rig.call("0102", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Verified, "{report:?}");
    assert_eq!(
        inputs(&report),
        [(1, 6, InputResult::Wrong), (2, 6, InputResult::Accepted)]
    );
}

#[tokio::test]
async fn three_wrong_codes_end_with_wrong_input() {
    let rig = rig().await;
    rig.sim.set_phone(
        "0103",
        phone(
            vec![keys(2, "111111"), keys(4, "222222"), keys(6, "333333")],
            None,
        ),
    );
    let report = rig.call("0103", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::WrongInput, "{report:?}");
    assert_eq!(inputs(&report).len(), 3);
}

#[tokio::test]
async fn silence_ends_with_no_input_and_malformed_input_with_wrong_input() {
    let rig = rig().await;
    rig.sim.set_phone("0104", phone(Vec::new(), None));
    let report = rig.call("0104", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::NoInput, "{report:?}");
    assert_eq!(inputs(&report), [(1, 0, InputResult::Missing)]);

    // Three digits and '#', twice: the collect's format check fails.
    rig.sim
        .set_phone("0105", phone(vec![keys(2, "123#"), keys(4, "456#")], None));
    let report = rig.call("0105", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::WrongInput, "{report:?}");
    assert_eq!(inputs(&report), [(1, 0, InputResult::Invalid)]);
}

#[tokio::test]
async fn calls_that_never_connect_report_why() {
    let rig = rig().await;
    rig.sim.set_phone("0106", PhoneScript::Busy);
    rig.sim.set_phone("0107", PhoneScript::Reject);
    rig.sim.set_phone("0108", PhoneScript::Unallocated);
    for (number, outcome) in [
        ("0106", Outcome::Busy),
        ("0107", Outcome::Rejected),
        ("0108", Outcome::InvalidNumber),
    ] {
        let report = rig.call(number, MINUTE, CancellationToken::new()).await;
        assert_eq!(report.outcome, outcome, "{number}: {report:?}");
        assert!(!report.answered);
    }
}

#[tokio::test]
async fn a_phone_that_rings_out_is_no_answer() {
    let rig = rig().await;
    rig.sim.set_phone("0109", PhoneScript::RingForever);
    let report = rig.call("0109", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::NoAnswer, "{report:?}");
    assert_eq!(report.reason, "NO_ANSWER");
}

#[tokio::test]
async fn hanging_up_mid_prompt_is_the_customers_doing() {
    let rig = rig().await;
    rig.sim
        .set_phone("0110", phone(Vec::new(), Some(Duration::from_millis(100))));
    let report = rig.call("0110", MINUTE, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::CustomerHungUp, "{report:?}");
    assert!(report.reason.contains("start"), "{}", report.reason);
}

#[tokio::test]
async fn cancel_and_deadline_end_live_calls() {
    let rig = rig().await;
    rig.sim.set_phone("0111", phone(Vec::new(), None));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let report = rig.call("0111", MINUTE, cancel).await;
    assert_eq!(report.outcome, Outcome::Canceled, "{report:?}");
    assert_eq!(rig.sim.channels(), 0, "the call is gone");

    // A real-time deadline of 150 ms passes while the call waits for input.
    let report = rig
        .call("0111", Duration::from_millis(150), CancellationToken::new())
        .await;
    assert_eq!(report.outcome, Outcome::Timeout, "{report:?}");

    // Canceled before it is placed: nothing is dialled at all.
    let dialled = rig.sim.dialled().len();
    let canceled = CancellationToken::new();
    canceled.cancel();
    let report = rig.call("0111", MINUTE, canceled).await;
    assert_eq!(report.outcome, Outcome::Canceled, "{report:?}");
    assert!(
        report
            .timeline
            .entries()
            .iter()
            .all(|e| e.what != Happening::Originated)
    );
    assert_eq!(rig.sim.dialled().len(), dialled);
}

#[tokio::test]
async fn a_call_found_parked_after_a_restart_gets_the_decision_it_waited_for() {
    let rig = rig().await;
    rig.sim
        .set_phone("0112", phone(vec![keys(2, "123456")], None));
    let request = rig.request("0112");
    rig.crash_when(&request, |h| *h == Happening::Answered)
        .await;
    // Nobody drives the call: the dialplan collects the code and parks.
    let restarted = connect(&rig.sim).await;
    let snapshot = parked(&restarted, &request.call).await;
    assert!(snapshot.answered);
    let report = rig.take_over(&restarted, request).await;
    assert_eq!(report.outcome, Outcome::Verified, "{report:?}");
    assert!(report.answered && taken_over(&report), "{report:?}");
    assert_eq!(inputs(&report), [(1, 6, InputResult::Accepted)]);
    assert_eq!(rig.sim.channels(), 0, "the call ran to its end");
}

#[tokio::test]
async fn a_call_taken_over_mid_scenario_keeps_the_tries_it_spent() {
    let rig = rig().await;
    // 1 greeting, 2 collect, 3 "wrong", 4 collect, 5 "wrong", 6 collect.
    rig.sim.set_phone(
        "0113",
        phone(
            vec![keys(2, "111111"), keys(4, "222222"), keys(6, "333333")],
            None,
        ),
    );
    let request = rig.request("0113");
    rig.crash_when(&request, |h| matches!(h, Happening::Input { .. }))
        .await;
    let restarted = connect(&rig.sim).await;
    let report = rig.take_over(&restarted, request).await;
    // The first wrong code was judged before the crash: two tries were
    // left, and the third wrong code ends the call. (A crash before the
    // judgment reached the channel's mark leaves that code to judge again,
    // as the first try.)
    assert_eq!(report.outcome, Outcome::WrongInput, "{report:?}");
    assert!(taken_over(&report));
    let judged = inputs(&report);
    assert!(
        judged == [(2, 6, InputResult::Wrong), (3, 6, InputResult::Wrong)]
            || judged
                == [
                    (1, 6, InputResult::Wrong),
                    (2, 6, InputResult::Wrong),
                    (3, 6, InputResult::Wrong)
                ],
        "{judged:?}"
    );
}

#[tokio::test]
async fn a_call_taken_over_can_still_be_canceled() {
    let rig = rig().await;
    rig.sim.set_phone("0114", phone(Vec::new(), None));
    let request = rig.request("0114");
    rig.crash_when(&request, |h| *h == Happening::Answered)
        .await;
    let restarted = connect(&rig.sim).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let program = program(MINUTE);
    let report = controller::take_over(
        &restarted,
        &program,
        request,
        &rig.settings,
        cancel,
        Duration::ZERO,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Canceled, "{report:?}");
    assert_eq!(rig.sim.channels(), 0, "the call was hung up");
}

#[tokio::test]
async fn a_call_gone_before_the_take_over_is_lost() {
    let rig = rig().await;
    let report = rig.take_over(&rig.switch, rig.request("0115")).await;
    assert_eq!(report.outcome, Outcome::Error, "{report:?}");
    assert!(report.reason.starts_with("lost:"), "{}", report.reason);
    assert!(!taken_over(&report));
}

#[tokio::test]
async fn a_move_marked_but_never_made_is_made_by_the_run_that_takes_over() {
    let rig = rig().await;
    // 1 greeting, 2 collect, 3 "wrong", 4 collect.
    rig.sim.set_phone(
        "0116",
        phone(vec![keys(2, "111111"), keys(4, "123456")], None),
    );
    let request = rig.request("0116");
    rig.crash_when(&request, |h| *h == Happening::Answered)
        .await;
    let restarted = connect(&rig.sim).await;
    parked(&restarted, &request.call).await;
    // As a run that died between marking the move to `ask` and asking the
    // switch to make it leaves the channel.
    let mark = (
        VarName::parse(MARK_VAR).unwrap(),
        VarValue::parse("m1.1.1.-").unwrap(),
    );
    restarted.set_vars(&request.call, &[mark]).await.unwrap();
    let report = rig.take_over(&restarted, request).await;
    assert_eq!(report.outcome, Outcome::Verified, "{report:?}");
    assert_eq!(
        inputs(&report),
        [(1, 6, InputResult::Wrong), (2, 6, InputResult::Accepted)]
    );
}

/// Simulated seconds between two events, from their own timestamps.
fn seconds_between(earlier: &Event, later: &Event) -> f64 {
    let micros = |e: &Event| e.timestamp_micros().expect("a timestamp") as f64;
    (micros(later) - micros(earlier)) / 1e6
}

/// arsgate gone mid-call, the call parked at a decision point after an
/// earlier park: FreeSWITCH cleared `park_timeout` at the first park
/// (switch_ivr.c `switch_ivr_park`, and the recorded sessions'
/// README), so only the guard every originate carries ends the call —
/// `execute_on_answer` (switch_channel.c
/// `switch_channel_perform_mark_answered`) scheduling `sched_hangup`
/// (mod_dptools.c `sched_hangup_function`) `max_duration` +
/// [`controller::WATCHDOG_MARGIN`] after the answer, through the parks and
/// the transfer: the switch hangs up with ALLOTTED_TIMEOUT then.
#[tokio::test]
async fn a_call_abandoned_at_a_later_park_is_hung_up_by_the_switch_at_its_deadline() {
    let rig = rig().await;
    let mut watcher = RawPeer::authed(rig.sim.addr(), "ClueCon").await;
    watcher
        .send("event plain CHANNEL_ANSWER CHANNEL_HANGUP\n\n")
        .await;
    assert_eq!(watcher.reply().await, "+OK event listener enabled plain");
    // Never keys: `ask` collects nothing and parks, waiting for arsgate.
    rig.sim.set_phone("0117", phone(Vec::new(), None));
    let request = rig.request("0117");
    rig.crash_when(
        &request,
        |h| matches!(h, Happening::Segment { name } if name == "ask"),
    )
    .await;
    let restarted = connect(&rig.sim).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = restarted
            .inspect(&request.call, &[])
            .await
            .unwrap()
            .expect("the call is up");
        if snapshot.parked && snapshot.extension.as_deref() == Some("t__ask") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never parked in ask"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let answer = watcher.event_named("CHANNEL_ANSWER").await;
    let hangup = watcher.event_named("CHANNEL_HANGUP").await;
    let uuid = request.call.to_string();
    assert_eq!(hangup.unique_id().as_deref(), Some(uuid.as_str()));
    assert_eq!(hangup.hangup_cause().unwrap().name(), "ALLOTTED_TIMEOUT");
    let limit = (MINUTE + controller::WATCHDOG_MARGIN).as_secs_f64();
    let lived = seconds_between(&answer, &hangup);
    // The switch's scheduler counts whole seconds: up to one early; the
    // rest is this machine's scheduling at 40 times real time.
    assert!(
        (limit - 1.0..=limit + 3.0).contains(&lived),
        "lived {lived} s after the answer"
    );
}
