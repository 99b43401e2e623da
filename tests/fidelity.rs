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
use regex::Regex;
use replay::Replayed;
use script::{FrameKey, Script, Trigger};
use setup::{SETUPS, SPEED, Setup};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
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

/// Held by each test that parses or replays: replays time calls against
/// the machine's clock, so the tests of this file run one at a time, lest
/// one's parsing delay another's simulators.
static ALONE: Mutex<()> = Mutex::const_new(());

/// A capture, read and reduced before any replay starts (parsing is the
/// slow part, and would delay the simulators of replays running meanwhile).
struct Capture {
    setup: Setup,
    script: Script,
    normalizer: Normalizer,
    expected: Transcript,
}

impl Capture {
    fn read(setup: Setup) -> Capture {
        let script = Script::from_records(&common::capture::load(setup.capture));
        let normalizer = Normalizer::new(script.steps.iter().map(|s| s.bytes.as_slice()));
        let sent: Vec<f64> = script.steps.iter().map(|s| s.sent_at).collect();
        let expected = Transcript::new(&script.received, script.eof, &script.steps, &sent);
        Capture {
            setup,
            script,
            normalizer,
            expected,
        }
    }
}

/// A capture and its replay, reduced and compared.
struct Run {
    capture: Arc<Capture>,
    speed: f64,
    actual: Transcript,
    late: Vec<Difference>,
    /// The differences between the two.
    differences: Vec<Difference>,
}

impl Run {
    fn new(capture: Arc<Capture>, speed: f64, replayed: Replayed) -> Run {
        let steps = &capture.script.steps;
        let actual = Transcript::new(&replayed.received, replayed.eof, steps, &replayed.sent);
        let mut run = Run {
            capture,
            speed,
            actual,
            late: replayed.late,
            differences: Vec::new(),
        };
        run.differences = run.against(&run.capture.expected);
        run
    }

    fn name(&self) -> &'static str {
        self.capture.setup.capture
    }

    /// The differences between the replay and `expected`.
    fn against(&self, expected: &Transcript) -> Vec<Difference> {
        let session = Session {
            steps: &self.capture.script.steps,
            normalizer: &self.capture.normalizer,
            speed: self.speed,
        };
        let mut differences = compare(&session, expected, &self.actual);
        differences.extend(self.late.iter().cloned());
        differences
    }

    /// The differences, each with the index of the deliberate one in
    /// `known` it is (if any).
    fn explained(&self, known: &[Known]) -> Vec<(String, Option<usize>)> {
        let patterns: Vec<Regex> = known.iter().map(Known::pattern).collect();
        self.differences
            .iter()
            .map(|difference| {
                let text = difference.to_string();
                let entry = known
                    .iter()
                    .zip(&patterns)
                    .position(|(k, pattern)| k.concerns(self.name()) && pattern.is_match(&text));
                (text, entry)
            })
            .collect()
    }

    /// The differences no entry of [`KNOWN`] explains.
    fn unexplained(&self) -> Vec<String> {
        self.explained(KNOWN)
            .into_iter()
            .filter_map(|(text, entry)| entry.is_none().then_some(text))
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
                None => unexplained.push(format!("{}: {text}", run.name())),
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

/// Replays captures at `speed`, [`PARALLEL`] at a time, and compares each
/// with its replay once they are all done.
async fn replay_all(captures: &[Arc<Capture>], speed: f64) -> Vec<Run> {
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = JoinSet::new();
    for (index, capture) in captures.iter().enumerate() {
        let (slots, capture) = (Arc::clone(&slots), Arc::clone(capture));
        tasks.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let setup = Setup {
                speed,
                ..capture.setup
            };
            (index, replay::replay(&setup, &capture.script).await)
        });
    }
    let mut replayed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        replayed.push(done.expect("replay task"));
    }
    replayed.sort_by_key(|(index, _)| *index);
    replayed
        .into_iter()
        .map(|(index, replayed)| Run::new(Arc::clone(&captures[index]), speed, replayed))
        .collect()
}

/// Replays one capture at [`SPEED`].
async fn run(setup: Setup) -> Run {
    let capture = Arc::new(Capture::read(setup));
    replay_all(&[capture], SPEED).await.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_replays_like_the_recorded_freeswitch() {
    let _alone = ALONE.lock().await;
    for known in KNOWN {
        assert!(
            !known.reason.is_empty(),
            "no reason given for {}",
            known.difference
        );
    }
    let captures: Vec<Arc<Capture>> = SETUPS
        .iter()
        .map(|setup| Arc::new(Capture::read(*setup)))
        .collect();
    let mut runs = replay_all(&captures, SPEED).await;
    // Replay carefully what showed differences that are not deliberate.
    let doubtful: Vec<usize> = (0..runs.len())
        .filter(|&i| !runs[i].unexplained().is_empty())
        .collect();
    for &i in &doubtful {
        let unexplained = runs[i].unexplained();
        eprintln!(
            "{}: replaying at {CAREFUL_SPEED}x after {} difference(s) at {SPEED}x:\n  {}",
            runs[i].name(),
            unexplained.len(),
            unexplained.join("\n  ")
        );
    }
    let again: Vec<Arc<Capture>> = doubtful
        .iter()
        .map(|&i| Arc::clone(&runs[i].capture))
        .collect();
    for (i, run) in doubtful
        .into_iter()
        .zip(replay_all(&again, CAREFUL_SPEED).await)
    {
        runs[i] = run;
    }

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
    let _alone = ALONE.blocking_lock();
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
    let _alone = ALONE.lock().await;
    let run = run(setup_of("busy")).await;
    assert!(
        run.actual.events.len() >= 10,
        "{:?}",
        run.actual.events.len()
    );
    let baseline = run.differences.clone();
    let channel = Stream::Channel("a1b2c3d4-0003-4000-8000-000000000003".to_owned());
    let position = |name: &str| {
        run.capture
            .expected
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
            "how long a reply took",
            Box::new(|t| {
                if let Some(reply) = t.replies.last_mut() {
                    reply.latency += 1.0;
                }
            }),
        ),
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
            "how long a channel took between two events",
            Box::new({
                let channel = channel.clone();
                move |t| {
                    for event in t.events.iter_mut().filter(|e| e.stream == channel).skip(6) {
                        event.at += 1.0;
                    }
                }
            }),
        ),
        (
            "the order events were numbered in",
            Box::new(move |t| {
                // The capture's first event, as if created and numbered last.
                let last = position("CHANNEL_DESTROY");
                let (created, sequence) = (t.events[last].created, t.events[last].sequence);
                let first = &mut t.events[0];
                first.created = created.map(|c| c + 10.0);
                first.sequence = sequence.map(|s| s + 1000);
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
        let mut expected = run.capture.expected.clone();
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
    late.differences = late.against(&late.capture.expected);
    let after_bye = late
        .differences
        .iter()
        .find(|d| matches!(d, Difference::AfterBye { .. }))
        .expect("an event after +OK bye is noticed")
        .clone();

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
