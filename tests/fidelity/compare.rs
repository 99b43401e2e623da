//! Compares a replay with its capture.
//!
//! 1. **Replies** (every frame that is not an event: auth request, command
//!    replies, api responses, the disconnect notice) must match in order:
//!    same `Content-Type`, same envelope header names, same normalized text,
//!    and as long in coming after their command (within the timing slack
//!    below: the goodbye that waits for a background job, fact 3). The
//!    session must end with the server closing the connection iff the
//!    capture's did.
//! 2. **Event order.** FreeSWITCH fires events from several threads, so only
//!    part of the order on the wire is FreeSWITCH's to keep:
//!    - each channel's events (by `Unique-ID`) come from its session thread:
//!      their sequence of labels (`CHANNEL_STATE(CS_ROUTING)`,
//!      `CHANNEL_EXECUTE(park)` ...) must be identical — except for a
//!      channel still alive when the client left: where its events stop
//!      depends on when `exit` overtook them, so the replay may go on
//!      past the capture's last one (but see the next rule);
//!    - no event may follow the reply to `exit` (fact 3);
//!    - the events a client command causes about no channel (its API event,
//!      its BACKGROUND_JOB, RELOADXML) come from the thread that ran it:
//!      per command, the same sequence; other events about no channel must
//!      form the same sequence too;
//!    - across those streams, threads race only within a media tick or
//!      two: two events of different streams that arrived at least
//!      [`ORDER_SLACK`] apart in the capture must arrive in the same order
//!      (plus [`SCHEDULING_SLACK`] for the test machine, scaled to the
//!      replay's speed);
//!    - HEARTBEAT and RE_SCHEDULE depend on the clock's phase: they may come
//!      anywhere and any number of times, but when the capture has one the
//!      replay must have one too;
//!    - within a stream, consecutive events must be as far apart as in the
//!      capture, within the same slack: prompts last as long, timeouts wait
//!      as long;
//!    - `Event-Sequence` numbers events when they are created, not sent
//!      (fact 7): events created at least the slack apart must be numbered
//!      in the capture's order.
//! 3. **Headers.** For each event name, the set of header names over the
//!    whole session (variables included) must be the same; and each event
//!    matched by the sequence comparison must carry the same header lines
//!    as its captured twin, in the same order (so variables appear at the
//!    same stage, in the order they were set), with the same values —
//!    except what differs by nature (the host, the clock, counters, random
//!    SIP and RTP identifiers: see `normalize.rs`), and lengths of media,
//!    which must agree within the timing slack.
//! 4. **Bodies.** Event bodies match after normalization: BACKGROUND_JOB by
//!    job (the n-th `bgapi` of each session), channel events by position.
//!
//! arsgate's sessions are compared on what arsgate reads ([`Scope::Values`]):
//! rule 1 but the replies' timing, rule 2's sequences per stream and
//! nothing after `+OK bye`, rule 4, and, instead of rule 3, the values of
//! the headers arsgate acts on, in every matched event.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use regex::Regex;

use super::normalize::Normalizer;
use super::script::Step;
use super::transcript::{EventView, ReplyView, Stream, TIMER_EVENTS, Transcript};

/// How far apart (in capture seconds) two events of different streams must
/// have arrived for FreeSWITCH to keep their order: two media ticks.
pub const ORDER_SLACK: f64 = 0.040;

/// How late (real seconds) a busy test machine may run one of the
/// simulator's threads or the replaying client; the replay's clock is
/// sped up, so this adds `speed` times as much simulated slack.
pub const SCHEDULING_SLACK: f64 = 0.025;

/// What of the events is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything the module's rules list.
    Full,
    /// Sequences, replies and bodies, and the values of the headers
    /// matching this pattern (in every matched event).
    Values(&'static str),
}

/// One way a replay differs from its capture. Its text is what the list of
/// deliberate differences names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// A difference on the n-th connection (from 1) of a capture that
    /// opened several.
    Connection {
        index: usize,
        inner: Box<Difference>,
    },
    /// A command's trigger never came, so it was sent late.
    Trigger { command: String, trigger: String },
    /// The n-th non-event frame differs.
    Reply {
        index: usize,
        expected: String,
        actual: String,
    },
    /// One side has more non-event frames.
    ReplyCount { expected: usize, actual: usize },
    /// The n-th non-event frame took another time to come (milliseconds
    /// after its command).
    ReplyTime {
        index: usize,
        expected: u64,
        actual: u64,
    },
    /// Whether the server closed the connection.
    Eof { expected: bool },
    /// A stream's events differ.
    Sequence { stream: String, detail: String },
    /// An event came after the reply to `exit`.
    AfterBye { event: String },
    /// Two events of a stream came further apart or closer together
    /// (milliseconds) than in the capture.
    Pace {
        stream: String,
        from: String,
        to: String,
        expected: i64,
        actual: i64,
    },
    /// Two events were numbered (`Event-Sequence`) in another order than
    /// they were created in the capture.
    Numbering { earlier: String, later: String },
    /// Two streams' events came in an order the capture rules out.
    Crossing { earlier: String, later: String },
    /// An event name the capture has (a timer event) never came.
    MissingEvent { name: String },
    /// A header the capture's events of this name have, the replay's lack.
    MissingHeader { event: String, header: String },
    /// A header the replay's events of this name have, the capture's lack.
    ExtraHeader { event: String, header: String },
    /// One event's header lines differ (in names, count or order).
    Headers { event: String, detail: String },
    /// A header only one side's event has.
    Presence {
        event: String,
        header: String,
        in_capture: bool,
    },
    /// A header's value differs (after normalization).
    Value {
        event: String,
        header: String,
        expected: String,
        actual: String,
    },
    /// An event body differs.
    Body {
        event: String,
        expected: String,
        actual: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Connection { index, inner } => write!(f, "connection {index}: {inner}"),
            Difference::Trigger { command, trigger } => {
                write!(f, "`{command}`: its trigger {trigger} never came")
            }
            Difference::Reply {
                index,
                expected,
                actual,
            } => write!(f, "reply {index}: expected {expected}, got {actual}"),
            Difference::ReplyCount { expected, actual } => {
                write!(f, "replies: expected {expected}, got {actual}")
            }
            Difference::ReplyTime {
                index,
                expected,
                actual,
            } => write!(
                f,
                "reply {index} came {actual} ms after its command where the capture's took {expected} ms"
            ),
            Difference::Eof { expected: true } => f.write_str("the server did not close"),
            Difference::Eof { expected: false } => f.write_str("the server closed"),
            Difference::Sequence { stream, detail } => write!(f, "{stream}: {detail}"),
            Difference::AfterBye { event } => write!(f, "{event} came after +OK bye"),
            Difference::Pace {
                stream,
                from,
                to,
                expected,
                actual,
            } => write!(
                f,
                "{stream}: {from} to {to} took {actual} ms where the capture's took {expected} ms"
            ),
            Difference::Numbering { earlier, later } => {
                write!(
                    f,
                    "Event-Sequence: {earlier} must be numbered before {later}"
                )
            }
            Difference::Crossing { earlier, later } => {
                write!(f, "order: {earlier} must come before {later}")
            }
            Difference::MissingEvent { name } => write!(f, "{name} never came"),
            Difference::MissingHeader { event, header } => write!(f, "{event} lacks {header}"),
            Difference::ExtraHeader { event, header } => write!(f, "{event} has extra {header}"),
            Difference::Headers { event, detail } => write!(f, "{event}: {detail}"),
            Difference::Presence {
                event,
                header,
                in_capture: true,
            } => write!(f, "{event} lacks {header}"),
            Difference::Presence {
                event,
                header,
                in_capture: false,
            } => write!(f, "{event} has {header}, which the capture's lacks"),
            Difference::Value {
                event,
                header,
                expected,
                actual,
            } => write!(
                f,
                "{event}: {header} is {actual:?} where the capture has {expected:?}"
            ),
            Difference::Body {
                event,
                expected,
                actual,
            } => write!(f, "body of {event}: expected {expected:?}, got {actual:?}"),
        }
    }
}

/// What the comparison needs to know about the session.
pub struct Session<'a> {
    pub steps: &'a [Step],
    pub normalizer: &'a Normalizer,
    /// How much faster than real time the replay ran.
    pub speed: f64,
    pub scope: Scope,
}

impl Session<'_> {
    /// How far apart in time (capture seconds) the replay may put what the
    /// capture has at one moment.
    fn slack(&self) -> f64 {
        ORDER_SLACK + SCHEDULING_SLACK * self.speed
    }
}

/// Every difference between `expected` (the capture) and `actual` (the
/// replay), sorted and without repeats.
pub fn compare(
    session: &Session<'_>,
    expected: &Transcript,
    actual: &Transcript,
) -> Vec<Difference> {
    let mut out = Vec::new();
    replies(session, expected, actual, &mut out);
    if expected.eof != actual.eof {
        out.push(Difference::Eof {
            expected: expected.eof,
        });
    }
    after_bye(actual, &mut out);
    let matched = sequences(expected, actual, &mut out);
    match session.scope {
        Scope::Full => {
            crossings(expected, &matched, session.slack(), &mut out);
            pace(expected, actual, &matched, session.slack(), &mut out);
            creation(expected, actual, &matched, session.slack(), &mut out);
            timers(expected, actual, &mut out);
            headers(expected, actual, &mut out);
            instances(session, expected, actual, &matched, &mut out);
        }
        Scope::Values(pattern) => {
            let pattern = Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
            values(session, expected, actual, &matched, &pattern, &mut out);
        }
    }
    bodies(session, expected, actual, &matched, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The API command a reply answers (`status`, `uuid_dump …`), by position:
/// the first frame is the auth request, then one reply per command.
fn api_command(steps: &[Step], index: usize) -> &str {
    let line = index
        .checked_sub(1)
        .and_then(|i| steps.get(i))
        .map_or("", |s| s.line.as_str());
    line.strip_prefix("api ")
        .or_else(|| line.strip_prefix("bgapi "))
        .unwrap_or("")
}

fn replies(
    session: &Session<'_>,
    expected: &Transcript,
    actual: &Transcript,
    out: &mut Vec<Difference>,
) {
    let show = |index: usize, reply: &ReplyView| {
        let command = api_command(session.steps, index);
        let text = match session.scope {
            // What arsgate reads of a channel's dump: the values it acts on.
            Scope::Values(pattern) if command.starts_with("uuid_dump ") => {
                dump_values(session.normalizer, &reply.text, pattern)
            }
            _ => session.normalizer.text(command, &reply.text),
        };
        format!(
            "{} [{}] {text:?}",
            reply.content_type,
            reply.headers.join(", ")
        )
    };
    for (index, (e, a)) in expected.replies.iter().zip(&actual.replies).enumerate() {
        if session.scope == Scope::Full && (e.latency - a.latency).abs() > session.slack() {
            out.push(Difference::ReplyTime {
                index,
                expected: (e.latency * 1000.0).round() as u64,
                actual: (a.latency * 1000.0).round() as u64,
            });
        }
        let (e, a) = (show(index, e), show(index, a));
        if e != a {
            out.push(Difference::Reply {
                index,
                expected: e,
                actual: a,
            });
        }
    }
    if expected.replies.len() != actual.replies.len() {
        out.push(Difference::ReplyCount {
            expected: expected.replies.len(),
            actual: actual.replies.len(),
        });
    }
}

/// The headers of a `uuid_dump … json` matching `pattern`, sorted, with
/// their normalized values (the text itself if it is no JSON object).
fn dump_values(normalizer: &Normalizer, text: &str, pattern: &str) -> String {
    let Ok(dump) = serde_json::from_str::<BTreeMap<String, serde_json::Value>>(text) else {
        return normalizer.text("", text);
    };
    let pattern = Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
    dump.iter()
        .filter(|(header, _)| pattern.is_match(header))
        .map(|(header, value)| {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            format!("{header}={:?}", normalizer.value(header, &value))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Capture event index → replay event index, for every stream whose
/// sequence matched.
type Matched = HashMap<usize, usize>;

fn sequences(expected: &Transcript, actual: &Transcript, out: &mut Vec<Difference>) -> Matched {
    let mut matched = Matched::new();
    let mut streams = expected.streams();
    streams.extend(actual.streams());
    streams.sort();
    streams.dedup();
    for stream in streams {
        let positions = |t: &Transcript| -> Vec<usize> {
            (0..t.events.len())
                .filter(|&i| t.events[i].stream == stream)
                .collect()
        };
        let (e, a) = (positions(expected), positions(actual));
        let labels = |t: &Transcript, p: &[usize]| -> Vec<String> {
            p.iter().map(|&i| t.events[i].label.clone()).collect()
        };
        let (el, al) = (labels(expected, &e), labels(actual, &a));
        // A channel the capture never saw destroyed was cut short by the
        // client's exit: the replay may have got further before its exit.
        let cut_short = matches!(stream, Stream::Channel(_))
            && !el.iter().any(|label| label == "CHANNEL_DESTROY");
        if el == al || (cut_short && al.starts_with(&el)) {
            matched.extend(e.into_iter().zip(a));
        } else {
            out.push(Difference::Sequence {
                stream: stream.to_string(),
                detail: divergence(&el, &al),
            });
        }
    }
    matched
}

/// Fact 3: once `+OK bye` is written, the listener gets no more events.
fn after_bye(actual: &Transcript, out: &mut Vec<Difference>) {
    let Some(bye) = actual.replies.iter().position(|r| r.text == "+OK bye") else {
        return;
    };
    for event in actual.events.iter().filter(|e| e.after_replies > bye) {
        out.push(Difference::AfterBye {
            event: event.label.clone(),
        });
    }
}

/// Where two label sequences part, with a little context on each side.
fn divergence(expected: &[String], actual: &[String]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .take_while(|(e, a)| e == a)
        .count();
    let window = |labels: &[String]| {
        let from = at.saturating_sub(1);
        let to = (at + 4).min(labels.len());
        let mut text = labels[from.min(labels.len())..to].join(", ");
        if to < labels.len() {
            text.push_str(", …");
        }
        text
    };
    format!(
        "events differ from #{at} (of {} expected, {} got): expected [{}], got [{}]",
        expected.len(),
        actual.len(),
        window(expected),
        window(actual)
    )
}

fn crossings(expected: &Transcript, matched: &Matched, slack: f64, out: &mut Vec<Difference>) {
    let describe = |event: &EventView, index: usize, t: &Transcript| {
        let nth = t.events[..index]
            .iter()
            .filter(|e| e.stream == event.stream)
            .count();
        format!("{} ({} #{nth})", event.label, event.stream)
    };
    let mut reported = BTreeSet::new();
    for (&x, &ax) in matched {
        for (&y, &ay) in matched {
            let (ex, ey) = (&expected.events[x], &expected.events[y]);
            if ex.stream == ey.stream || ey.at - ex.at < slack || ax < ay {
                continue;
            }
            // One report per pair of streams is enough to see the problem.
            if reported.insert((ex.stream.clone(), ey.stream.clone())) {
                out.push(Difference::Crossing {
                    earlier: describe(ex, x, expected),
                    later: describe(ey, y, expected),
                });
            }
        }
    }
}

/// Within a stream, the time between two events must be the capture's
/// within `slack`: prompts last as long, timeouts wait as long.
fn pace(
    expected: &Transcript,
    actual: &Transcript,
    matched: &Matched,
    slack: f64,
    out: &mut Vec<Difference>,
) {
    let mut pairs: Vec<(usize, usize)> = matched.iter().map(|(&x, &a)| (x, a)).collect();
    pairs.sort_unstable();
    let mut last: HashMap<&Stream, (usize, usize)> = HashMap::new();
    for (x, ax) in pairs {
        let stream = &expected.events[x].stream;
        if let Some((px, pax)) = last.insert(stream, (x, ax)) {
            let gap = |t: &Transcript, from: usize, to: usize| t.events[to].at - t.events[from].at;
            let (e, a) = (gap(expected, px, x), gap(actual, pax, ax));
            if (e - a).abs() > slack {
                out.push(Difference::Pace {
                    from: expected.events[px].label.clone(),
                    to: expected.events[x].label.clone(),
                    stream: stream.to_string(),
                    expected: (e * 1000.0).round() as i64,
                    actual: (a * 1000.0).round() as i64,
                });
            }
        }
    }
}

/// Fact 7: `Event-Sequence` numbers events as they are created, not sent
/// (an API event is created when its command starts and sent when it
/// ends). Two events created at least `slack` apart must be numbered in
/// the same order as in the capture.
fn creation(
    expected: &Transcript,
    actual: &Transcript,
    matched: &Matched,
    slack: f64,
    out: &mut Vec<Difference>,
) {
    let mut reported = BTreeSet::new();
    for (&x, &ax) in matched {
        for (&y, &ay) in matched {
            let (ex, ey) = (&expected.events[x], &expected.events[y]);
            let (Some(cx), Some(cy)) = (ex.created, ey.created) else {
                continue;
            };
            let numbered = |t: &Transcript, a: usize, b: usize| {
                t.events[a]
                    .sequence
                    .zip(t.events[b].sequence)
                    .map(|(a, b)| a < b)
            };
            if cy - cx < slack || numbered(expected, x, y) != Some(true) {
                continue;
            }
            if numbered(actual, ax, ay) == Some(false)
                && reported.insert((ex.stream.clone(), ey.stream.clone()))
            {
                out.push(Difference::Numbering {
                    earlier: ex.label.clone(),
                    later: ey.label.clone(),
                });
            }
        }
    }
}

fn timers(expected: &Transcript, actual: &Transcript, out: &mut Vec<Difference>) {
    for name in TIMER_EVENTS {
        let has = |t: &Transcript| t.events.iter().any(|e| e.name == *name);
        if has(expected) && !has(actual) {
            out.push(Difference::MissingEvent {
                name: (*name).to_owned(),
            });
        }
    }
}

fn headers(expected: &Transcript, actual: &Transcript, out: &mut Vec<Difference>) {
    fn union(t: &Transcript) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut names: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for event in &t.events {
            names
                .entry(event.name.as_str())
                .or_default()
                .extend(event.headers.iter().map(String::as_str));
        }
        names
    }
    let (e, a) = (union(expected), union(actual));
    for (event, expected_names) in &e {
        let Some(actual_names) = a.get(event) else {
            continue;
        };
        for header in expected_names.difference(actual_names) {
            out.push(Difference::MissingHeader {
                event: (*event).to_owned(),
                header: (*header).to_owned(),
            });
        }
        for header in actual_names.difference(expected_names) {
            out.push(Difference::ExtraHeader {
                event: (*event).to_owned(),
                header: (*header).to_owned(),
            });
        }
    }
}

fn bodies(
    session: &Session<'_>,
    expected: &Transcript,
    actual: &Transcript,
    matched: &Matched,
    out: &mut Vec<Difference>,
) {
    let normalizer = session.normalizer;
    let mut compare_body = |label: &str, command: &str, e: &EventView, a: &EventView| {
        let text = |v: &EventView| v.body.as_deref().map(|b| normalizer.text(command, b));
        let (eb, ab) = (text(e), text(a));
        if eb != ab {
            out.push(Difference::Body {
                event: label.to_owned(),
                expected: eb.unwrap_or_default(),
                actual: ab.unwrap_or_default(),
            });
        }
    };
    for (&x, &ax) in matched {
        let (e, a) = (&expected.events[x], &actual.events[ax]);
        if matches!(e.stream, Stream::Channel(_)) {
            compare_body(&format!("{} of {}", e.label, e.stream), "", e, a);
        }
    }
    // Jobs are matched by the order the bgapi replies gave their ids.
    let jobs = |t: &Transcript| -> Vec<String> {
        t.replies
            .iter()
            .filter_map(|r| r.text.strip_prefix("+OK Job-UUID: ").map(str::to_owned))
            .collect()
    };
    let bgapis: Vec<&str> = session
        .steps
        .iter()
        .filter_map(|s| s.line.strip_prefix("bgapi "))
        .collect();
    let (expected_jobs, actual_jobs) = (jobs(expected), jobs(actual));
    for (n, (ej, aj)) in expected_jobs.iter().zip(&actual_jobs).enumerate() {
        let find = |t: &Transcript, job: &str| {
            t.events
                .iter()
                .find(|e| e.name == "BACKGROUND_JOB" && e.job.as_deref() == Some(job))
                .cloned()
        };
        let command = bgapis.get(n).copied().unwrap_or("");
        if let (Some(e), Some(a)) = (find(expected, ej), find(actual, aj)) {
            compare_body(
                &format!("BACKGROUND_JOB of bgapi #{}", n + 1),
                command,
                &e,
                &a,
            );
        }
    }
}

/// Each matched event must carry the same header lines in the same order
/// (variables in the order they were set). Names whose union already
/// differs are reported there only.
fn instances(
    session: &Session<'_>,
    expected: &Transcript,
    actual: &Transcript,
    matched: &Matched,
    out: &mut Vec<Difference>,
) {
    let differing: BTreeSet<String> = out
        .iter()
        .filter_map(|d| match d {
            Difference::MissingHeader { event, .. } | Difference::ExtraHeader { event, .. } => {
                Some(event.clone())
            }
            _ => None,
        })
        .collect();
    let mut pairs: Vec<(usize, usize)> = matched.iter().map(|(&x, &a)| (x, a)).collect();
    pairs.sort_unstable();
    for (x, ax) in pairs {
        let (e, a) = (&expected.events[x], &actual.events[ax]);
        if differing.contains(&e.name) {
            continue;
        }
        let nth = expected.events[..x]
            .iter()
            .filter(|o| o.stream == e.stream)
            .count();
        let event = format!("{} ({} #{nth})", e.label, e.stream);
        if e.headers != a.headers {
            out.push(Difference::Headers {
                event,
                detail: header_detail(&e.headers, &a.headers),
            });
            continue;
        }
        let value = |header: &str, value: &str| session.normalizer.value(header, value);
        for ((header, expected), actual) in e.headers.iter().zip(&e.values).zip(&a.values) {
            if !value(header, expected).matches(&value(header, actual), session.slack()) {
                out.push(Difference::Value {
                    event: event.clone(),
                    header: header.clone(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
    }
}

/// Each matched event must carry the headers matching `pattern` that its
/// captured twin carries, with the same values (the first of each name).
fn values(
    session: &Session<'_>,
    expected: &Transcript,
    actual: &Transcript,
    matched: &Matched,
    pattern: &Regex,
    out: &mut Vec<Difference>,
) {
    fn picked<'a>(event: &'a EventView, pattern: &Regex) -> BTreeMap<&'a str, &'a str> {
        let mut picked = BTreeMap::new();
        for (header, value) in event.headers.iter().zip(&event.values) {
            if pattern.is_match(header) {
                picked.entry(header.as_str()).or_insert(value.as_str());
            }
        }
        picked
    }
    let mut pairs: Vec<(usize, usize)> = matched.iter().map(|(&x, &a)| (x, a)).collect();
    pairs.sort_unstable();
    for (x, ax) in pairs {
        let (e, a) = (&expected.events[x], &actual.events[ax]);
        let nth = expected.events[..x]
            .iter()
            .filter(|o| o.stream == e.stream)
            .count();
        let event = format!("{} ({} #{nth})", e.label, e.stream);
        let (ev, av) = (picked(e, pattern), picked(a, pattern));
        let value = |header: &str, value: &str| session.normalizer.value(header, value);
        for (header, expected_value) in &ev {
            match av.get(header) {
                None => out.push(Difference::Presence {
                    event: event.clone(),
                    header: (*header).to_owned(),
                    in_capture: true,
                }),
                Some(actual_value)
                    if !value(header, expected_value)
                        .matches(&value(header, actual_value), session.slack()) =>
                {
                    out.push(Difference::Value {
                        event: event.clone(),
                        header: (*header).to_owned(),
                        expected: (*expected_value).to_owned(),
                        actual: (*actual_value).to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        for header in av.keys().filter(|h| !ev.contains_key(*h)) {
            out.push(Difference::Presence {
                event: event.clone(),
                header: (*header).to_owned(),
                in_capture: false,
            });
        }
    }
}

/// What differs between two header lists: names only one side has, else
/// where the order parts.
fn header_detail(expected: &[String], actual: &[String]) -> String {
    let (e, a): (BTreeSet<&String>, BTreeSet<&String>) =
        (expected.iter().collect(), actual.iter().collect());
    let missing: Vec<&str> = e.difference(&a).map(|h| h.as_str()).collect();
    let extra: Vec<&str> = a.difference(&e).map(|h| h.as_str()).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return format!(
            "lacks [{}], has extra [{}]",
            missing.join(", "),
            extra.join(", ")
        );
    }
    match expected.iter().zip(actual).position(|(e, a)| e != a) {
        Some(at) => format!(
            "header #{at} is {} where the capture has {}",
            actual[at], expected[at]
        ),
        None => format!(
            "{} header lines where the capture has {}",
            actual.len(),
            expected.len()
        ),
    }
}
