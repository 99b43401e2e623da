//! Fidelity of the FreeSWITCH simulator against real FreeSWITCH recordings:
//! each capture's client commands, replayed against the simulator with its
//! phones scripted like the capture's, must yield what the capture shows.
//! - The raw captures (`tests/fixtures/captures/`): the same replies,
//!   events in an order FreeSWITCH could produce, and the same header names
//!   per event.
//! - arsgate's own sessions (`tests/fixtures/arsgate-sessions/`, every
//!   case, with arsgate's dialplan): the same replies, the same events per
//!   channel, and the same values of the headers arsgate acts on.
//!
//! See `fidelity/compare.rs` for the rules and `fidelity/known.rs` for the
//! differences kept, each with its reason.

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
#[path = "fidelity/sessions.rs"]
mod sessions;
#[path = "fidelity/setup.rs"]
mod setup;
#[path = "fidelity/transcript.rs"]
mod transcript;

use std::sync::Arc;
use std::time::Duration;

use compare::{Difference, Scope, Session, compare};
use known::{KNOWN, Known, SESSIONS_KNOWN};
use normalize::Normalizer;
use regex::Regex;
use replay::{Connection, Replayed};
use script::{FrameKey, Reacts, Script, Trigger};
use setup::{SPEED, Setup, setups};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use transcript::{Stream, Transcript};

/// How a set of captures is replayed.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// How much faster than real time the replays run first.
    speed: f64,
    /// Replays running at once. They mostly wait for simulated time to
    /// pass, but their calls ring and answer at the same simulated
    /// moments: more at once make bursts that delay every simulator.
    parallel: usize,
    /// The speed a replay runs at again when it showed unexplained
    /// differences. The simulator's clock runs `speed` times faster than
    /// the machine's, so a thread a busy machine runs late shifts
    /// simulated time that much more; a difference that is the
    /// simulator's own persists at any speed, while one made by the
    /// machine's hiccup does not. The slower run is the one that counts.
    careful_speed: f64,
}

/// The raw captures: short, and compared to the millisecond.
const RAW: Batch = Batch {
    speed: SPEED,
    parallel: 4,
    careful_speed: 2.0,
};

/// arsgate's sessions: up to a simulated minute each, mostly prompts
/// playing, so many at once, and slower: the phones key by the clock
/// (so long after the answer) while arsgate moves the call on events, so
/// every moment the simulator runs late shifts the keys into earlier
/// prompts.
const SESSION_BATCH: Batch = Batch {
    speed: 5.0,
    parallel: 16,
    careful_speed: 2.5,
};

/// How long (real time) the first replays of a batch start apart: a
/// simulator loading its dialplan is the busiest it gets.
const STAGGER: Duration = Duration::from_millis(50);

/// Held by each test that parses or replays: replays time calls against
/// the machine's clock, so the tests of this file run one at a time, lest
/// one's parsing delay another's simulators.
static ALONE: Mutex<()> = Mutex::const_new(());

/// The headers whose values arsgate acts on: what the comparison of its
/// sessions checks in every event.
const ARSGATE_READS: &str = "Event-Name|Application|Application-Data|Hangup-Cause|variable_ars_.*|DTMF-Digit|Answer-State|Channel-Call-State";

/// A capture, read and reduced before any replay starts (parsing is the
/// slow part, and would delay the simulators of replays running meanwhile).
struct Capture {
    setup: Setup,
    connections: Vec<Connection>,
    normalizer: Normalizer,
    /// What each connection received.
    expected: Vec<Transcript>,
    scope: Scope,
    /// The differences kept on purpose.
    known: &'static [Known],
}

impl Capture {
    /// A raw capture: one connection, compared in full.
    fn read(setup: Setup) -> Capture {
        let script = Script::from_records(&common::capture::load(setup.capture), Reacts::ToAll);
        let normalizer = Normalizer::new(script.steps.iter().map(|s| s.bytes.as_slice()));
        let connection = Connection {
            script,
            opens_at: 0.0,
            closes_at: None,
        };
        Capture::new(setup, vec![connection], normalizer, Scope::Full, KNOWN)
    }

    /// One of arsgate's sessions, compared on what arsgate reads.
    fn session(name: &'static str) -> Capture {
        let connections: Vec<Connection> = sessions::connections(name)
            .into_iter()
            .map(|recorded| {
                let mut script = Script::from_records(&recorded.records, Reacts::ToAllButTimers);
                script.eof = recorded.eof;
                Connection {
                    script,
                    opens_at: recorded.opens_at,
                    closes_at: recorded.closes_at,
                }
            })
            .collect();
        let normalizer = Normalizer::new(
            connections
                .iter()
                .flat_map(|c| c.script.steps.iter().map(|s| s.bytes.as_slice())),
        )
        .with_folder(sessions::sounds(), sessions::RECORDED_SOUNDS);
        Capture::new(
            sessions::setup(name),
            connections,
            normalizer,
            Scope::Values(ARSGATE_READS),
            SESSIONS_KNOWN,
        )
    }

    fn new(
        setup: Setup,
        connections: Vec<Connection>,
        normalizer: Normalizer,
        scope: Scope,
        known: &'static [Known],
    ) -> Capture {
        let expected = connections
            .iter()
            .map(|c| {
                let script = &c.script;
                let sent: Vec<f64> = script.steps.iter().map(|s| s.sent_at).collect();
                Transcript::new(&script.received, script.eof, &script.steps, &sent)
            })
            .collect();
        Capture {
            setup,
            connections,
            normalizer,
            expected,
            scope,
            known,
        }
    }
}

/// A capture and its replay, reduced and compared.
struct Run {
    capture: Arc<Capture>,
    speed: f64,
    /// What each connection received.
    actual: Vec<Transcript>,
    /// Per connection, the triggers that never came.
    late: Vec<Vec<Difference>>,
    /// The differences between the two.
    differences: Vec<Difference>,
}

impl Run {
    fn new(capture: Arc<Capture>, speed: f64, replayed: Vec<Replayed>) -> Run {
        let (actual, late) = capture
            .connections
            .iter()
            .zip(replayed)
            .map(|(connection, replayed)| {
                let steps = &connection.script.steps;
                let transcript =
                    Transcript::new(&replayed.received, replayed.eof, steps, &replayed.sent);
                (transcript, replayed.late)
            })
            .unzip();
        let mut run = Run {
            capture,
            speed,
            actual,
            late,
            differences: Vec::new(),
        };
        run.differences = run.against(&run.capture.expected);
        run
    }

    fn name(&self) -> &'static str {
        self.capture.setup.capture
    }

    /// The differences between the replay and `expected` (per connection).
    fn against(&self, expected: &[Transcript]) -> Vec<Difference> {
        let several = self.capture.connections.len() > 1;
        let mut differences = Vec::new();
        for (index, connection) in self.capture.connections.iter().enumerate() {
            let session = Session {
                steps: &connection.script.steps,
                normalizer: &self.capture.normalizer,
                speed: self.speed,
                scope: self.capture.scope,
            };
            let mut found = compare(&session, &expected[index], &self.actual[index]);
            found.extend(self.late[index].iter().cloned());
            differences.extend(found.into_iter().map(|inner| {
                if several {
                    Difference::Connection {
                        index: index + 1,
                        inner: Box::new(inner),
                    }
                } else {
                    inner
                }
            }));
        }
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

    /// The differences no deliberate one of its capture explains.
    fn unexplained(&self) -> Vec<String> {
        self.explained(self.capture.known)
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
    setups()
        .into_iter()
        .find(|s| s.capture == capture)
        .unwrap_or_else(|| panic!("no setup for {capture}"))
}

/// Replays captures at `speed`, `parallel` at a time, and compares each
/// with its replay once they are all done.
async fn replay_all(captures: &[Arc<Capture>], speed: f64, parallel: usize) -> Vec<Run> {
    let slots = Arc::new(Semaphore::new(parallel));
    let mut tasks = JoinSet::new();
    for (index, capture) in captures.iter().enumerate() {
        let (slots, capture) = (Arc::clone(&slots), Arc::clone(capture));
        let stagger = STAGGER * index.min(parallel) as u32;
        tasks.spawn(async move {
            tokio::time::sleep(stagger).await;
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let setup = Setup {
                speed,
                ..capture.setup.clone()
            };
            (index, replay::replay(&setup, &capture.connections).await)
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
    replay_all(&[capture], SPEED, 1).await.remove(0)
}

/// Replays every capture, again more carefully those that showed
/// differences their list does not explain, and fails on any such
/// difference or any entry of `known` that explained nothing.
async fn replay_and_audit(captures: Vec<Arc<Capture>>, known: &[Known], batch: Batch) {
    for entry in known {
        assert!(
            !entry.reason.is_empty(),
            "no reason given for {}",
            entry.difference
        );
    }
    let mut runs = replay_all(&captures, batch.speed, batch.parallel).await;
    // Replay carefully what showed differences that are not deliberate.
    let doubtful: Vec<usize> = (0..runs.len())
        .filter(|&i| !runs[i].unexplained().is_empty())
        .collect();
    for &i in &doubtful {
        let unexplained = runs[i].unexplained();
        eprintln!(
            "{}: replaying at {}x after {} difference(s) at {}x:\n  {}",
            runs[i].name(),
            batch.careful_speed,
            unexplained.len(),
            batch.speed,
            unexplained.join("\n  ")
        );
    }
    let again: Vec<Arc<Capture>> = doubtful
        .iter()
        .map(|&i| Arc::clone(&runs[i].capture))
        .collect();
    for (i, run) in doubtful
        .into_iter()
        .zip(replay_all(&again, batch.careful_speed, batch.parallel).await)
    {
        runs[i] = run;
    }

    let Audit { unexplained, stale } = audit(&runs, known);
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{} unexplained difference(s):\n{}\n\n{} deliberate difference(s) no longer seen:\n{}",
        unexplained.len(),
        unexplained.join("\n"),
        stale.len(),
        stale.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capture_replays_like_the_recorded_freeswitch() {
    let _alone = ALONE.lock().await;
    let captures = setups()
        .into_iter()
        .map(|setup| Arc::new(Capture::read(setup)))
        .collect();
    replay_and_audit(captures, KNOWN, RAW).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_arsgate_session_replays_like_the_recorded_freeswitch() {
    let _alone = ALONE.lock().await;
    let captures = sessions::SESSIONS
        .iter()
        .map(|name| Arc::new(Capture::session(name)))
        .collect();
    replay_and_audit(captures, SESSIONS_KNOWN, SESSION_BATCH).await;
}

#[test]
fn every_session_case_is_replayed() {
    let mut cases: Vec<String> = std::fs::read_dir(sessions::dir())
        .expect("the sessions folder")
        .filter_map(|entry| {
            let name = entry.expect("an entry").file_name();
            let name = name.to_str()?.strip_suffix(".jsonl")?.to_owned();
            Some(name)
        })
        .collect();
    let mut replayed: Vec<String> = sessions::SESSIONS.iter().map(|s| (*s).to_owned()).collect();
    cases.sort_unstable();
    replayed.sort_unstable();
    assert_eq!(cases, replayed);
}

#[test]
fn every_capture_has_a_setup() {
    let mut captures: Vec<&str> = common::capture::CAPTURES.iter().map(|c| c.0).collect();
    let mut setups: Vec<&str> = setups().iter().map(|s| s.capture).collect();
    captures.sort_unstable();
    setups.sort_unstable();
    assert_eq!(captures, setups);
}

#[test]
fn triggers_are_what_the_client_had_just_received() {
    let _alone = ALONE.blocking_lock();
    let script = Script::from_records(&common::capture::load("dialplan_transfer"), Reacts::ToAll);
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
        run.actual[0].events.len() >= 10,
        "{:?}",
        run.actual[0].events.len()
    );
    let baseline = run.differences.clone();
    let channel = Stream::Channel("a1b2c3d4-0003-4000-8000-000000000003".to_owned());
    let position = |name: &str| {
        run.capture.expected[0]
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
        mutate(&mut expected[0]);
        let differences = run.against(&expected);
        assert!(
            differences.iter().any(|d| !baseline.contains(d)),
            "changing {what} went unnoticed: {differences:#?}"
        );
    }
    // And on the replay's side: an event after `+OK bye`.
    let mut late = run;
    let mut event = late.actual[0].events[0].clone();
    event.after_replies = late.actual[0].replies.len();
    late.actual[0].events.push(event);
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

/// The comparison of arsgate's sessions sees every change to what arsgate
/// reads, on either connection of a capture with a reconnection, and
/// nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_comparison_catches_what_arsgate_reads() {
    let _alone = ALONE.lock().await;
    let capture = Arc::new(Capture::session("T1_takeover_parked"));
    let run = replay_all(&[capture], SESSION_BATCH.careful_speed, 1)
        .await
        .remove(0);
    let baseline = run.differences.clone();
    assert_eq!(run.actual.len(), 2, "two connections");
    let position = |t: &Transcript, name: &str| {
        t.events
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("the capture has {name}"))
    };
    let header = |t: &mut Transcript, event: usize, name: &str| -> usize {
        t.events[event]
            .headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {}", t.events[event].label))
    };
    let first_connection: Vec<(&str, Mutation)> = vec![(
        "an ars_ variable's value",
        Box::new(move |t| {
            let park = position(t, "CHANNEL_PARK");
            let at = header(t, park, "variable_ars_state");
            t.events[park].values[at] = "m9.9.9.-".to_owned();
        }),
    )];
    let second_connection: Vec<(&str, Mutation)> = vec![
        (
            "a hangup cause",
            Box::new(move |t| {
                let hangup = position(t, "CHANNEL_HANGUP");
                let at = header(t, hangup, "Hangup-Cause");
                t.events[hangup].values[at] = "USER_BUSY".to_owned();
            }),
        ),
        (
            "an application's data",
            Box::new(move |t| {
                let complete = t
                    .events
                    .iter()
                    .position(|e| e.headers.iter().any(|h| h == "Application-Data"))
                    .expect("an application with data");
                let at = header(t, complete, "Application-Data");
                t.events[complete].values[at].push('!');
            }),
        ),
        (
            "an ars_ variable only the replay has",
            Box::new(move |t| {
                let complete = position(t, "CHANNEL_EXECUTE_COMPLETE");
                let at = header(t, complete, "variable_ars_parked");
                t.events[complete].headers[at] = "variable_other".to_owned();
            }),
        ),
        (
            "an ars_ value in a channel's dump",
            Box::new(|t| {
                let dump = t
                    .replies
                    .iter_mut()
                    .find(|r| r.text.starts_with('{'))
                    .expect("the uuid_dump reply");
                dump.text = dump.text.replace(
                    "\"variable_ars_lang\":\"ko\"",
                    "\"variable_ars_lang\":\"en\"",
                );
            }),
        ),
        (
            "an event dropped from a channel",
            Box::new(move |t| {
                let hangup = position(t, "CHANNEL_HANGUP");
                t.events.remove(hangup);
            }),
        ),
    ];
    for (connection, mutations) in [(0, first_connection), (1, second_connection)] {
        for (what, mutate) in mutations {
            let mut expected = run.capture.expected.clone();
            mutate(&mut expected[connection]);
            let differences = run.against(&expected);
            assert!(
                differences.iter().any(|d| !baseline.contains(d)
                    && d.to_string()
                        .starts_with(&format!("connection {}: ", connection + 1))),
                "changing {what} went unnoticed: {differences:#?}"
            );
        }
    }
    // What arsgate does not read is not compared.
    let mut expected = run.capture.expected.clone();
    for event in &mut expected[1].events {
        for (header, value) in event.headers.iter().zip(event.values.iter_mut()) {
            if header == "variable_playback_ms" {
                value.push('0');
            }
        }
    }
    assert_eq!(run.against(&expected), baseline);
}
