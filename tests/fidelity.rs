//! Fidelity of the FreeSWITCH simulator against real FreeSWITCH recordings
//! (`tests/fixtures/captures/`): each capture's client commands, replayed
//! against the simulator with its phones scripted like the capture's, must
//! yield the same replies, events in an order FreeSWITCH could produce, and
//! the same header names per event — see `fidelity/compare.rs` for the
//! rules and `fidelity/known.rs` for the differences kept on purpose.

mod common;
#[path = "fidelity/compare.rs"]
mod compare;
#[path = "fidelity/known.rs"]
mod known;
#[path = "fidelity/normalize.rs"]
mod normalize;
#[path = "fidelity/replay.rs"]
mod replay;
#[path = "fidelity/script.rs"]
mod script;
#[path = "fidelity/setup.rs"]
mod setup;
#[path = "fidelity/transcript.rs"]
mod transcript;

use std::sync::Arc;

use compare::{Difference, Session, compare};
use known::{KNOWN, Known};
use normalize::Normalizer;
use script::{FrameKey, Script, Trigger};
use setup::{SETUPS, Setup};
use tokio::sync::Semaphore;
use transcript::{Stream, Transcript};

/// The speed a replay runs at again when it showed unexplained
/// differences. The simulator's clock runs `speed` times faster than the
/// machine's, so a thread a busy machine runs late shifts simulated time
/// that much more; a difference that is the simulator's own persists at
/// any speed, while one made by the machine's hiccup does not. The slower
/// run is the one that counts.
const CAREFUL_SPEED: f64 = 2.0;

/// Replays running at once. They mostly wait for simulated time to pass,
/// but their calls ring and answer at the same simulated moments: more at
/// once make bursts that delay every simulator.
const PARALLEL: usize = 4;

/// A capture and its replay, reduced for comparison.
struct Run {
    capture: &'static str,
    speed: f64,
    script: Script,
    normalizer: Normalizer,
    expected: Transcript,
    actual: Transcript,
    late: Vec<Difference>,
}

impl Run {
    fn differences(&self) -> Vec<Difference> {
        self.against(&self.expected)
    }

    /// The differences between the replay and `expected`.
    fn against(&self, expected: &Transcript) -> Vec<Difference> {
        let session = Session {
            steps: &self.script.steps,
            normalizer: &self.normalizer,
            speed: self.speed,
        };
        let mut differences = compare(&session, expected, &self.actual);
        differences.extend(self.late.iter().cloned());
        differences
    }

    /// The differences, each with the index of the deliberate one in
    /// `known` it is (if any).
    fn explained(&self, known: &[Known]) -> Vec<(String, Option<usize>)> {
        self.differences()
            .iter()
            .map(|difference| {
                let text = difference.to_string();
                (
                    text.clone(),
                    known.iter().position(|k| k.explains(self.capture, &text)),
                )
            })
            .collect()
    }
}

/// What the runs show against a list of deliberate differences.
struct Audit {
    /// Differences no entry explains, with their capture.
    unexplained: Vec<String>,
    /// Entries that explained nothing.
    stale: Vec<String>,
}

fn audit(runs: &[Run], known: &[Known]) -> Audit {
    let mut used = vec![false; known.len()];
    let mut unexplained = Vec::new();
    for run in runs {
        for (text, entry) in run.explained(known) {
            match entry {
                Some(i) => used[i] = true,
                None => unexplained.push(format!("{}: {text}", run.capture)),
            }
        }
    }
    let stale = known
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(k, _)| format!("{}: {}", k.capture, k.difference))
        .collect();
    Audit { unexplained, stale }
}

fn setup_of(capture: &str) -> Setup {
    *SETUPS
        .iter()
        .find(|s| s.capture == capture)
        .unwrap_or_else(|| panic!("no setup for {capture}"))
}

async fn run(setup: Setup) -> Run {
    let records = common::capture::load(setup.capture);
    let script = Script::from_records(&records);
    let normalizer = Normalizer::new(script.steps.iter().map(|s| s.bytes.as_slice()));
    let replayed = replay::replay(&setup, &script).await;
    Run {
        capture: setup.capture,
        speed: setup.speed,
        expected: Transcript::new(&script.received, script.eof, &script.steps),
        actual: Transcript::new(&replayed.received, replayed.eof, &script.steps),
        late: replayed.late,
        normalizer,
        script,
    }
}

/// Replays a capture, and once more at [`CAREFUL_SPEED`] if it showed
/// differences that are not deliberate.
async fn run_carefully(setup: Setup) -> Run {
    let first = run(setup).await;
    let unexplained: Vec<String> = first
        .explained(KNOWN)
        .into_iter()
        .filter_map(|(text, known)| known.is_none().then_some(text))
        .collect();
    if unexplained.is_empty() || setup.speed <= CAREFUL_SPEED {
        return first;
    }
    eprintln!(
        "{}: replaying at {CAREFUL_SPEED}x after {} difference(s) at {}x:\n  {}",
        setup.capture,
        unexplained.len(),
        setup.speed,
        unexplained.join("\n  ")
    );
    run(Setup {
        speed: CAREFUL_SPEED,
        ..setup
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_replays_like_the_recorded_freeswitch() {
    for known in KNOWN {
        assert!(
            !known.reason.is_empty(),
            "no reason given for {}",
            known.difference
        );
    }
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for setup in SETUPS {
        let slots = Arc::clone(&slots);
        tasks.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            run_carefully(*setup).await
        });
    }
    let mut runs = Vec::new();
    while let Some(run) = tasks.join_next().await {
        runs.push(run.expect("replay task"));
    }
    runs.sort_by_key(|r| r.capture);
    let Audit { unexplained, stale } = audit(&runs, KNOWN);
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{} unexplained difference(s):\n{}\n\n{} deliberate difference(s) no longer seen:\n{}",
        unexplained.len(),
        unexplained.join("\n"),
        stale.len(),
        stale.join("\n")
    );
}

#[test]
fn every_capture_has_a_setup() {
    let mut captures: Vec<&str> = common::capture::CAPTURES.iter().map(|c| c.0).collect();
    let mut setups: Vec<&str> = SETUPS.iter().map(|s| s.capture).collect();
    captures.sort_unstable();
    setups.sort_unstable();
    assert_eq!(captures, setups);
}

#[test]
fn triggers_are_what_the_client_had_just_received() {
    let script = Script::from_records(&common::capture::load("dialplan_transfer"));
    let triggers: Vec<(String, Option<Trigger>)> = script
        .steps
        .iter()
        .map(|s| (s.line.clone(), s.trigger.clone()))
        .collect();
    let event = |name: &str, count| {
        Some(Trigger {
            key: FrameKey::Event(name.to_owned()),
            count,
        })
    };
    let typed = |content_type: &str, count| {
        Some(Trigger {
            key: FrameKey::Typed(content_type.to_owned()),
            count,
        })
    };
    assert_eq!(triggers[0].1, typed("auth/request", 1));
    assert!(
        triggers[4].0.starts_with("api uuid_setvar "),
        "{triggers:?}"
    );
    assert_eq!(triggers[4].1, event("PLAYBACK_START", 1));
    assert_eq!(triggers[5].1, event("API", 3));
    assert!(
        triggers[8].0.starts_with("api uuid_transfer "),
        "{triggers:?}"
    );
    assert_eq!(triggers[8].1, event("CHANNEL_PARK", 1));
    assert_eq!(triggers.last().map(|t| t.0.as_str()), Some("exit"));
    // The client waited a second after its last uuid_getvar.
    let exit = script.steps.last().expect("steps");
    assert!(
        (exit.delay.as_secs_f64() - 1.0).abs() < 0.01,
        "{:?}",
        exit.delay
    );
}

/// A change made to a capture's transcript.
type Mutation<'a> = Box<dyn Fn(&mut Transcript) + 'a>;

/// The comparison is not vacuous: every kind of change to the capture
/// shows up as a new difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comparison_catches_each_kind_of_change() {
    let run = run(setup_of("busy")).await;
    assert!(
        run.actual.events.len() >= 10,
        "{:?}",
        run.actual.events.len()
    );
    let baseline = run.differences();
    let channel = Stream::Channel("a1b2c3d4-0003-4000-8000-000000000003".to_owned());
    let position = |name: &str| {
        run.expected
            .events
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("the capture has {name}"))
    };
    let mutations: Vec<(&str, Mutation)> = vec![
        ("a reply text", Box::new(|t| t.replies[2].text.push('!'))),
        (
            "a missing reply",
            Box::new(|t| {
                t.replies.pop();
            }),
        ),
        ("the end of the stream", Box::new(|t| t.eof = false)),
        (
            "an event dropped from a channel",
            Box::new(move |t| {
                let i = t
                    .events
                    .iter()
                    .position(|e| e.name == "CHANNEL_CALLSTATE")
                    .expect("callstate");
                t.events.remove(i);
            }),
        ),
        (
            "two channel events swapped",
            Box::new({
                let channel = channel.clone();
                move |t| {
                    let own: Vec<usize> = (0..t.events.len())
                        .filter(|&i| t.events[i].stream == channel)
                        .collect();
                    t.events.swap(own[1], own[2]);
                }
            }),
        ),
        (
            "a header only the capture has",
            Box::new(move |t| {
                let i = position("CHANNEL_HANGUP");
                t.events[i]
                    .headers
                    .push("variable_only_in_capture".to_owned());
            }),
        ),
        (
            "the order of an event's headers",
            Box::new(move |t| {
                let i = position("CHANNEL_HANGUP");
                t.events[i].headers.swap(0, 1);
            }),
        ),
        (
            "a variable at one stage only",
            Box::new(move |t| {
                let i = position("CHANNEL_CREATE");
                t.events[i].headers.retain(|h| h != "variable_call_uuid");
            }),
        ),
        (
            "a header only the replay has",
            Box::new(|t| {
                for event in t.events.iter_mut().filter(|e| e.name == "CHANNEL_DESTROY") {
                    event.headers.retain(|h| h != "variable_hangup_cause");
                }
            }),
        ),
        (
            "a header's value",
            Box::new(move |t| {
                let i = position("CHANNEL_HANGUP");
                let at = t.events[i]
                    .headers
                    .iter()
                    .position(|h| h == "variable_sip_term_status")
                    .expect("a SIP status");
                t.events[i].values[at] = "404".to_owned();
            }),
        ),
        (
            "a job result",
            Box::new(|t| {
                for event in t.events.iter_mut().filter(|e| e.name == "BACKGROUND_JOB") {
                    event.body = Some("+OK\n".to_owned());
                }
            }),
        ),
        (
            "a job reported long before the hangup",
            Box::new(move |t| {
                let i = position("BACKGROUND_JOB");
                t.events[i].at = -1.0;
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut expected = run.expected.clone();
        mutate(&mut expected);
        let differences = run.against(&expected);
        assert!(
            differences.iter().any(|d| !baseline.contains(d)),
            "changing {what} went unnoticed: {differences:#?}"
        );
    }
    // And on the replay's side: an event after `+OK bye`.
    let mut late = run;
    let mut event = late.actual.events[0].clone();
    event.after_replies = late.actual.replies.len();
    late.actual.events.push(event);
    let after_bye = late
        .differences()
        .into_iter()
        .find(|d| matches!(d, Difference::AfterBye { .. }))
        .expect("an event after +OK bye is noticed");

    // The list of deliberate differences explains what it names, and
    // reports an entry that explains nothing.
    let deliberate = Known {
        capture: "busy",
        difference: r"CHANNEL_\w+ came after \+OK bye",
        reason: "what the test added",
    };
    let unused = Known {
        capture: "*",
        difference: "nothing like this",
        reason: "what the test added",
    };
    let Audit { unexplained, stale } = audit(&[late], &[deliberate, unused]);
    assert!(
        !unexplained
            .iter()
            .any(|u| u.ends_with(&after_bye.to_string())),
        "{unexplained:?}"
    );
    assert_eq!(stale, ["*: nothing like this"]);
}
