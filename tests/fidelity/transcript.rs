//! What one session looked like from the client's side, reduced to what the
//! fidelity test compares: the non-event frames in order, and every event
//! with its stream, a label, its header names and its body.

use arsgate::esl::{Event, Message};

use super::script::{Step, Timed};

/// Events fired by the core's timers: when they come depends only on the
/// clock's phase, so they may turn up anywhere, any number of times.
pub const TIMER_EVENTS: &[&str] = &["HEARTBEAT", "RE_SCHEDULE"];

/// Which thread of events an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Events about one channel (they carry its `Unique-ID`), in the order
    /// its session thread produced them.
    Channel(String),
    /// Events a client command caused on the thread that ran it: its API
    /// event, its BACKGROUND_JOB, a RELOADXML (by the command's position).
    Command(usize),
    /// Other events about no channel.
    Global,
    /// HEARTBEAT and RE_SCHEDULE.
    Timer,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Channel(uuid) => write!(f, "channel {uuid}"),
            Stream::Command(index) => write!(f, "command #{index}"),
            Stream::Global => f.write_str("global events"),
            Stream::Timer => f.write_str("timer events"),
        }
    }
}

/// A frame that is not an event: auth request, replies, disconnect notice.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyView {
    pub content_type: String,
    /// The envelope's header names, in order.
    pub headers: Vec<String>,
    /// `Reply-Text` of a `command/reply`, else the body.
    pub text: String,
    /// How long after the command it answers it arrived, in session
    /// seconds (the last command, for frames after it).
    pub latency: f64,
}

/// One event.
#[derive(Debug, Clone)]
pub struct EventView {
    /// `Event-Name` (its first occurrence).
    pub name: String,
    /// The name with the values that tell events of one name apart
    /// (`CHANNEL_STATE(CS_ROUTING)`, `CHANNEL_EXECUTE(park)` ...).
    pub label: String,
    pub stream: Stream,
    /// Header names, in order (duplicates kept).
    pub headers: Vec<String>,
    /// Their values, decoded, in the same order.
    pub values: Vec<String>,
    /// The event's own body (a job's result, an INFO's payload).
    pub body: Option<String>,
    /// `Job-UUID` of a BACKGROUND_JOB.
    pub job: Option<String>,
    /// When it arrived, in session seconds.
    pub at: f64,
    /// How many non-event frames had arrived before it.
    pub after_replies: usize,
    /// `Event-Sequence`: the order FreeSWITCH created events in.
    pub sequence: Option<u64>,
    /// `Event-Date-Timestamp`, in seconds: when it was created.
    pub created: Option<f64>,
}

/// Everything a session showed the client.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The frames that are not events, in order.
    pub replies: Vec<ReplyView>,
    /// The events, in order.
    pub events: Vec<EventView>,
    /// Whether the session ended with the server closing the connection.
    pub eof: bool,
}

impl Transcript {
    /// Reduces the frames received in reply to `steps`, which were sent at
    /// `sent` (session seconds).
    pub fn new(frames: &[Timed], eof: bool, steps: &[Step], sent: &[f64]) -> Transcript {
        let mut transcript = Transcript {
            replies: Vec::new(),
            events: Vec::new(),
            eof,
        };
        let mut causes = Causes::new(steps, frames);
        for timed in frames {
            let frame = &timed.frame;
            let content_type = frame.content_type().unwrap_or("").to_owned();
            let headers = frame.headers().iter().map(|(n, _)| n.to_owned()).collect();
            match Message::try_from(frame.clone()) {
                Ok(Message::Event(event)) => {
                    let mut view = view(&event, timed.at, transcript.replies.len());
                    if view.stream == Stream::Global
                        && let Some(index) = causes.command_of(&event)
                    {
                        view.stream = Stream::Command(index);
                    }
                    transcript.events.push(view);
                }
                message => {
                    let text = match message {
                        Ok(Message::Reply(reply)) => reply.text().to_owned(),
                        _ => frame
                            .body()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default(),
                    };
                    // The first frame is the auth request; then each
                    // command has its reply; frames after the last reply
                    // (the disconnect notice) go with the last command.
                    let answers = transcript.replies.len().checked_sub(1).map(|i| {
                        let last = sent.len().saturating_sub(1);
                        sent.get(i.min(last)).copied().unwrap_or(timed.at)
                    });
                    transcript.replies.push(ReplyView {
                        content_type,
                        headers,
                        text,
                        latency: answers.map_or(0.0, |sent| timed.at - sent),
                    });
                }
            }
        }
        transcript
    }

    /// Every stream that has events but the timer's: channels (sorted),
    /// then commands, then the global one.
    pub fn streams(&self) -> Vec<Stream> {
        let mut streams: Vec<Stream> = self
            .events
            .iter()
            .map(|e| e.stream.clone())
            .filter(|s| *s != Stream::Timer)
            .collect();
        streams.sort();
        streams.dedup();
        streams
    }
}

/// Which client command caused an event about no channel.
struct Causes<'a> {
    steps: &'a [Step],
    /// Job-UUID → the bgapi it answers (the n-th `+OK Job-UUID` reply goes
    /// with the n-th bgapi).
    jobs: Vec<(String, usize)>,
    /// Commands whose API event (or RELOADXML) has been seen.
    claimed: Vec<(&'static str, usize)>,
}

impl<'a> Causes<'a> {
    fn new(steps: &'a [Step], frames: &[Timed]) -> Causes<'a> {
        let bgapis = (0..steps.len()).filter(|&i| steps[i].line.starts_with("bgapi "));
        let job_ids = frames
            .iter()
            .filter_map(|t| t.frame.header("Reply-Text"))
            .filter_map(|text| text.strip_prefix("+OK Job-UUID: "));
        Causes {
            steps,
            jobs: job_ids.map(str::to_owned).zip(bgapis).collect(),
            claimed: Vec::new(),
        }
    }

    /// The command an event belongs to, if any.
    fn command_of(&mut self, event: &Event) -> Option<usize> {
        match event.name().as_str() {
            "BACKGROUND_JOB" => {
                let job = event.job_uuid()?;
                self.jobs.iter().find(|(id, _)| *id == job).map(|&(_, i)| i)
            }
            "API" => {
                let command = event.header("API-Command")?;
                let arg = event.header("API-Command-Argument").unwrap_or_default();
                let line = format!("{command} {arg}");
                self.claim("API", line.trim_end())
            }
            "RELOADXML" => self.claim("RELOADXML", "reloadxml"),
            _ => None,
        }
    }

    /// The first `api`/`bgapi` step running `line` not yet claimed for
    /// `kind`.
    fn claim(&mut self, kind: &'static str, line: &str) -> Option<usize> {
        let index = (0..self.steps.len()).find(|&i| {
            let step = self.steps[i].line.as_str();
            let run = step
                .strip_prefix("api ")
                .or_else(|| step.strip_prefix("bgapi "));
            run.is_some_and(|run| run.trim() == line) && !self.claimed.contains(&(kind, i))
        })?;
        self.claimed.push((kind, index));
        Some(index)
    }
}

fn view(event: &Event, at: f64, after_replies: usize) -> EventView {
    let name = event.name().as_str().to_owned();
    let stream = if TIMER_EVENTS.contains(&name.as_str()) {
        Stream::Timer
    } else {
        match event.unique_id() {
            Some(uuid) => Stream::Channel(uuid.into_owned()),
            None => Stream::Global,
        }
    };
    EventView {
        label: label(event, &name),
        name,
        stream,
        headers: event.headers().map(|(n, _)| n.into_owned()).collect(),
        values: event.headers().map(|(_, v)| v.into_owned()).collect(),
        body: event.body_text().map(|b| b.into_owned()),
        job: event.job_uuid().map(|j| j.into_owned()),
        at,
        after_replies,
        sequence: event.sequence(),
        created: event.timestamp_micros().map(|micros| micros as f64 / 1e6),
    }
}

/// The headers whose values are part of an event's identity in the
/// sequence comparison: the state a CHANNEL_STATE announces, the
/// application an EXECUTE runs and what it answered, and so on.
fn label(event: &Event, name: &str) -> String {
    let keys: &[&str] = match name {
        "CHANNEL_STATE" => &["Channel-State"],
        "CHANNEL_CALLSTATE" => &["Channel-Call-State"],
        "CHANNEL_EXECUTE" => &["Application"],
        "CHANNEL_EXECUTE_COMPLETE" => &["Application", "Application-Response"],
        "PLAYBACK_START" => &["Playback-File-Path"],
        "PLAYBACK_STOP" => &["Playback-File-Path", "Playback-Status"],
        "DTMF" => &["DTMF-Digit"],
        "CHANNEL_HANGUP" | "CHANNEL_HANGUP_COMPLETE" => &["Hangup-Cause"],
        "API" => &["API-Command"],
        "BACKGROUND_JOB" => &["Job-Command"],
        _ => &[],
    };
    let values: Vec<String> = keys
        .iter()
        .map(|key| {
            event
                .header(key)
                .map(|v| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    if values.is_empty() {
        name.to_owned()
    } else {
        format!("{name}({})", values.join(", "))
    }
}
