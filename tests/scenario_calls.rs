//! The six shipped scenarios end to end: loaded from config/scenarios,
//! compiled, run by the controller through the real ESL client against the
//! simulator executing the committed dialplan/ with the committed sounds/.

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arsgate::esl::client::{Client, ClientConfig};
use arsgate::scenario::controller::{self, CallReport, CallRequest, CallSettings, RecordingPaths};
use arsgate::scenario::prompts::PromptCatalog;
use arsgate::scenario::secret::{Code, CodeKey, PinHash};
use arsgate::scenario::timeline::{Happening, InputResult};
use arsgate::scenario::{Language, Outcome, Program, compile, load};
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use arsgate::sim::{DtmfTransport, SimHandle};
use arsgate::switch::freeswitch::CALL_EVENTS;
use arsgate::switch::{CallId, DialNumber, DialTemplate, FreeSwitch, VarValue};
use common::repo;
use common::start_sim;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

fn programs() -> BTreeMap<String, Program> {
    let catalog = PromptCatalog::load(&repo("sounds")).expect("the sounds manifest loads");
    load::load_dir(&repo("config/scenarios"), &catalog)
        .expect("the shipped scenarios load")
        .iter()
        .map(|s| (s.name().to_owned(), compile(s)))
        .collect()
}

/// Keys pressed when the Nth prompt of the call starts (PLAYBACK_START and
/// speak, counted from 1).
fn on_prompt(prompt: u32, digits: &str) -> DtmfGroup {
    DtmfGroup {
        trigger: DtmfTrigger::OnPrompt {
            prompt: NonZeroU32::new(prompt).unwrap(),
            delay: Duration::from_millis(300),
        },
        digits: Digits::try_from(digits.to_owned()).unwrap(),
        gap: Duration::from_millis(300),
        tone: Duration::from_millis(160),
    }
}

fn answers(dtmf: Vec<DtmfGroup>) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_millis(800),
        early_media: None,
        hangup_after: None,
        dtmf,
    })
}

fn hangs_up_after(millis: u64) -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_millis(800),
        early_media: None,
        hangup_after: Some(Duration::from_millis(millis)),
        dtmf: Vec::new(),
    })
}

struct Rig {
    sim: SimHandle,
    switch: FreeSwitch,
    settings: CallSettings,
    programs: BTreeMap<String, Program>,
    recordings: tempfile::TempDir,
}

const CODE: &str = "123456";
const PIN: &str = "2580";

async fn rig() -> Rig {
    let recordings = tempfile::tempdir().unwrap();
    let dir = recordings.path().to_path_buf();
    let sim = start_sim(|c| {
        c.speed = 40.0;
        c.dialplan_dir = Some(repo("dialplan"));
        c.recordings_dir = Some(dir);
        c.dtmf_transport = DtmfTransport::Rfc2833;
        // Tests place dozens of calls at once; FreeSWITCH's default 30 per
        // second would refuse some (as it should, in production).
        c.sessions_per_second = 1000;
    })
    .await;
    let mut config = ClientConfig::new(sim.addr().to_string(), "ClueCon");
    config.subscriptions = CALL_EVENTS.to_vec();
    let (client, events) = Client::connect(config).await.unwrap();
    let switch = FreeSwitch::new(
        client,
        events,
        "arsgate",
        DialTemplate::parse("sofia/gateway/kt/{number}").unwrap(),
    );
    let settings = CallSettings {
        ring_timeout: Duration::from_secs(30),
        sounds: repo("sounds").to_string_lossy().into_owned(),
        tts_engine: "tts_commandline".to_owned(),
        tts_voices: BTreeMap::from([
            (Language::Ko, "ko".to_owned()),
            (Language::En, "en-us".to_owned()),
        ]),
        recordings: RecordingPaths {
            switch_dir: "/recordings".to_owned(),
            local_dir: recordings.path().join("recordings"),
        },
        caller_id_number: Some("0215880000".to_owned()),
        caller_id_name: None,
        code_key: Arc::new(CodeKey::new(b"scenario test key, 32 bytes long".to_vec())),
    };
    Rig {
        sim,
        switch,
        settings,
        programs: programs(),
        recordings,
    }
}

impl Rig {
    async fn run(
        &self,
        scenario: &str,
        number: &str,
        phone: PhoneScript,
        cancel: CancellationToken,
    ) -> CallReport {
        self.run_as(CallId::new(), scenario, number, phone, cancel)
            .await
    }

    async fn run_as(
        &self,
        call: CallId,
        scenario: &str,
        number: &str,
        phone: PhoneScript,
        cancel: CancellationToken,
    ) -> CallReport {
        self.sim.set_phone(number, phone);
        let code = Code::parse(CODE).unwrap();
        let fields = [
            ("bank", "이노은행"),
            ("holder_name", "홍길동"),
            ("account_masked", "000-1111-**-22"),
            ("purpose", "자동이체 출금"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), VarValue::parse(v).unwrap()))
        .collect();
        let (progress, mut observed) = tokio::sync::mpsc::unbounded_channel();
        let request = CallRequest {
            call,
            number: DialNumber::parse(number).unwrap(),
            language: Language::Ko,
            fields,
            code_digest: Some(self.settings.code_key.digest(&code)),
            code: Some(code),
            pin: Some(PinHash::hash(PIN).unwrap()),
            progress: Some(progress),
        };
        let program = &self.programs[scenario];
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            controller::run(&self.switch, program, request, &self.settings, cancel),
        )
        .await
        .unwrap_or_else(|_| panic!("{scenario} on {number} ends"));
        // The observer heard every entry, in order, as it happened.
        let mut heard = Vec::new();
        while let Ok(entry) = observed.try_recv() {
            heard.push(entry);
        }
        assert_eq!(heard, report.timeline.entries(), "{scenario} on {number}");
        report
    }

    async fn outcome(&self, scenario: &str, number: &str, phone: PhoneScript) -> CallReport {
        self.run(scenario, number, phone, CancellationToken::new())
            .await
    }
}

fn inputs(report: &CallReport) -> Vec<InputResult> {
    report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Input { result, .. } => Some(*result),
            _ => None,
        })
        .collect()
}

fn assert_outcome(report: &CallReport, outcome: Outcome) {
    assert_eq!(report.outcome, outcome, "{}: {report:#?}", report.reason);
}

#[tokio::test]
async fn enter_code_every_way_it_can_end() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 enter_code, then 3 wrong_code and 4 enter_code again.
    let cases = [
        (
            "01020000001",
            answers(vec![on_prompt(2, CODE)]),
            Outcome::Verified,
        ),
        (
            "01020000002",
            answers(vec![on_prompt(2, "111111"), on_prompt(4, CODE)]),
            Outcome::Verified,
        ),
        (
            "01020000003",
            answers(vec![
                on_prompt(2, "111111"),
                on_prompt(4, "222222"),
                on_prompt(6, "333333"),
            ]),
            Outcome::WrongInput,
        ),
        ("01020000004", answers(Vec::new()), Outcome::NoInput),
        ("01020000005", PhoneScript::RingForever, Outcome::NoAnswer),
        ("01020000006", PhoneScript::Busy, Outcome::Busy),
        ("01020000007", PhoneScript::Reject, Outcome::Rejected),
        (
            "01020000008",
            PhoneScript::Unallocated,
            Outcome::InvalidNumber,
        ),
        ("01020000009", hangs_up_after(1000), Outcome::CustomerHungUp),
    ];
    for (number, phone, outcome) in cases {
        let report = rig.outcome("enter_code", number, phone).await;
        assert_outcome(&report, outcome);
    }
    let report = rig
        .outcome(
            "enter_code",
            "01020000010",
            answers(vec![on_prompt(2, "111111"), on_prompt(4, CODE)]),
        )
        .await;
    assert_eq!(inputs(&report), [InputResult::Wrong, InputResult::Accepted]);
    assert!(
        !format!("{report:?}").contains(CODE),
        "the keyed code is in no report"
    );
}

#[tokio::test]
async fn enter_code_can_be_canceled_mid_call() {
    let rig = rig().await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let report = rig
        .run("enter_code", "01020000011", answers(Vec::new()), cancel)
        .await;
    assert_outcome(&report, Outcome::Canceled);
    assert_eq!(rig.sim.channels(), 0);
}

#[tokio::test]
async fn enter_pin_checks_the_registered_pin() {
    let rig = rig().await;
    let ok = rig
        .outcome(
            "enter_pin",
            "01030000001",
            answers(vec![on_prompt(2, "2580#")]),
        )
        .await;
    assert_outcome(&ok, Outcome::Verified);
    let wrong = rig
        .outcome(
            "enter_pin",
            "01030000002",
            answers(vec![
                on_prompt(2, "1111#"),
                on_prompt(4, "2222#"),
                on_prompt(6, "3333#"),
            ]),
        )
        .await;
    assert_outcome(&wrong, Outcome::WrongInput);
    assert_eq!(inputs(&wrong), [InputResult::Wrong; 3]);
}

#[tokio::test]
async fn read_code_delivers_the_code() {
    let rig = rig().await;
    let report = rig
        .outcome("read_code", "01040000001", answers(Vec::new()))
        .await;
    assert_outcome(&report, Outcome::Completed);
    // Pressing 1 hears it again and still completes.
    // Prompts: 1 greeting, 2 your_code_is, 3 the code, 4 press_1_to_repeat.
    let report = rig
        .outcome("read_code", "01040000002", answers(vec![on_prompt(4, "1")]))
        .await;
    assert_outcome(&report, Outcome::Completed);
    let segments: Vec<&str> = report
        .timeline
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Segment { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert!(segments.contains(&"repeat"), "{segments:?}");
}

#[tokio::test]
async fn press_then_read_wants_the_right_key() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 press_5_for_code, 3 wrong_key, 4 press_5_for_code.
    let report = rig
        .outcome(
            "press_then_read",
            "01050000001",
            answers(vec![on_prompt(2, "3"), on_prompt(4, "5")]),
        )
        .await;
    assert_outcome(&report, Outcome::Completed);
    let report = rig
        .outcome("press_then_read", "01050000002", answers(Vec::new()))
        .await;
    assert_outcome(&report, Outcome::NoInput);
}

#[tokio::test]
async fn consent_record_keeps_the_evidence() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 consent_intro, 3 the spoken consent text, 4 consent_press.
    for (number, key, outcome) in [
        ("01060000001", "1", Outcome::Consented),
        ("01060000002", "2", Outcome::Declined),
    ] {
        let report = rig
            .outcome("consent_record", number, answers(vec![on_prompt(4, key)]))
            .await;
        assert_outcome(&report, outcome);
        let evidence = report.evidence.expect("consent evidence");
        assert_eq!(evidence.key, key.chars().next());
        assert!(evidence.key_at.is_some());
        let text = evidence.text.expect("the spoken text");
        assert!(
            text.contains("홍길동") && text.contains("000-1111-**-22"),
            "{text}"
        );
        let file = evidence
            .local_recording
            .expect("the recording as arsgate reads it");
        assert!(file.starts_with(rig.recordings.path()));
        let bytes = std::fs::read(&file).expect("the recording exists");
        assert_eq!(
            evidence.recording_sha256,
            Some(hex::encode(Sha256::digest(&bytes)))
        );
        assert!(evidence.recording_duration.unwrap() > Duration::ZERO);
    }
    let report = rig
        .outcome("consent_record", "01060000003", answers(Vec::new()))
        .await;
    assert_outcome(&report, Outcome::NoInput);
    assert!(
        report.evidence.unwrap().recording_sha256.is_some(),
        "a silent answer is recorded too"
    );
}

#[tokio::test]
async fn event_optin_follows_every_branch() {
    let rig = rig().await;
    // Prompts: 1 greeting, 2 event_offer; after 9: 3 event_details, 4 event_offer.
    let cases = [
        (
            "01070000001",
            answers(vec![on_prompt(2, "1")]),
            Outcome::Consented,
        ),
        (
            "01070000002",
            answers(vec![on_prompt(2, "2")]),
            Outcome::Declined,
        ),
        (
            "01070000003",
            answers(vec![on_prompt(2, "9"), on_prompt(4, "1")]),
            Outcome::Consented,
        ),
        ("01070000004", answers(Vec::new()), Outcome::NoInput),
        (
            "01070000005",
            answers(vec![
                on_prompt(2, "7"),
                on_prompt(4, "7"),
                on_prompt(6, "7"),
            ]),
            Outcome::WrongInput,
        ),
    ];
    for (number, phone, outcome) in cases {
        let report = rig.outcome("event_optin", number, phone).await;
        assert_outcome(&report, outcome);
    }
}

#[tokio::test]
async fn every_scenario_reports_failed_and_abandoned_calls_alike() {
    let rig = rig().await;
    let scenarios: Vec<String> = rig.programs.keys().cloned().collect();
    assert_eq!(scenarios.len(), 6);
    let mut calls = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let number = |case: usize| format!("0108{index}{case:05}");
        let cases = [
            (PhoneScript::RingForever, Outcome::NoAnswer),
            (PhoneScript::Busy, Outcome::Busy),
            (PhoneScript::Reject, Outcome::Rejected),
            (PhoneScript::Unallocated, Outcome::InvalidNumber),
            // Hangs up while the greeting plays.
            (hangs_up_after(500), Outcome::CustomerHungUp),
        ];
        for (case, (phone, outcome)) in cases.into_iter().enumerate() {
            let rig = &rig;
            let number = number(case);
            calls.push(Box::pin(async move {
                let report = rig.outcome(scenario, &number, phone).await;
                (scenario, outcome, report)
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        }
        let number = number(9);
        let rig = &rig;
        calls.push(Box::pin(async move {
            let cancel = CancellationToken::new();
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                trigger.cancel();
            });
            let report = rig
                .run(scenario, &number, answers(Vec::new()), cancel)
                .await;
            (scenario, Outcome::Canceled, report)
        }));
    }
    // All 36 calls at once: the node carries them side by side.
    for (scenario, outcome, report) in futures_util::future::join_all(calls).await {
        assert_eq!(report.outcome, outcome, "{scenario}: {}", report.reason);
    }
}
