//! A capture turned into what a replay needs: the client's commands, each
//! with the moment the client sent it, and every frame FreeSWITCH sent.
//!
//! The moment is derived, not written by hand: a command was sent in
//! reaction to the last complete frame the client had received before it
//! (its *trigger*: the n-th frame of that kind), after the client's own
//! think time (the capture's gap between that frame's read and the send).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arsgate::esl::{ClientCodec, Frame, Message, ServerCodec};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::transcript::TIMER_EVENTS;
use crate::common::capture::{Direction, Record};

/// What kind of frame a trigger counts: replies by `Content-Type`, events
/// by `Event-Name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameKey {
    /// A frame that is not an event (`command/reply`, `api/response` ...).
    Typed(String),
    /// An event (plain or JSON) of this name.
    Event(String),
}

impl FrameKey {
    /// The key of a frame (an event that does not parse counts by its type).
    pub fn of(frame: &Frame) -> FrameKey {
        let content_type = frame.content_type().unwrap_or("").to_owned();
        if content_type.starts_with("text/event-")
            && let Ok(Message::Event(event)) = Message::try_from(frame.clone())
        {
            return FrameKey::Event(event.name().as_str().to_owned());
        }
        FrameKey::Typed(content_type)
    }
}

impl FrameKey {
    /// Whether it counts events of the core's timers.
    pub fn is_timer(&self) -> bool {
        matches!(self, FrameKey::Event(name) if TIMER_EVENTS.contains(&name.as_str()))
    }
}

impl std::fmt::Display for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameKey::Typed(content_type) => f.write_str(content_type),
            FrameKey::Event(name) => f.write_str(name),
        }
    }
}

/// "The `count`-th frame of kind `key` has arrived."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub key: FrameKey,
    pub count: usize,
}

impl Trigger {
    /// Whether the frames counted so far meet the trigger.
    pub fn met(&self, counts: &HashMap<FrameKey, usize>) -> bool {
        counts.get(&self.key).copied().unwrap_or(0) >= self.count
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} #{}", self.key, self.count)
    }
}

/// One client command and when to send it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The command's exact bytes as the client wrote them.
    pub bytes: Vec<u8>,
    /// Its first line (`api uuid_kill …`), for normalizing its reply and
    /// for messages.
    pub line: String,
    /// What the client had just received; `None` before anything arrived.
    pub trigger: Option<Trigger>,
    /// The client's think time after the trigger, in capture time.
    pub delay: Duration,
    /// When the client sent it, in session seconds.
    pub sent_at: f64,
}

/// A frame and when it arrived, in seconds of session time (capture time,
/// or simulated time for a replay).
#[derive(Debug, Clone)]
pub struct Timed {
    pub at: f64,
    pub frame: Frame,
}

/// A capture, ready to replay and to compare against.
#[derive(Debug, Clone)]
pub struct Script {
    pub steps: Vec<Step>,
    pub received: Vec<Timed>,
    /// Whether FreeSWITCH closed the connection at the end.
    pub eof: bool,
    /// When the last thing was written, in session seconds.
    pub end: f64,
    /// The last frame the client would react to, and when it arrived.
    pub last: Option<(Trigger, f64)>,
}

/// Which frames a client reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacts {
    /// Every frame: the captures' scripted clients waited for whatever
    /// they had asked for, a HEARTBEAT included.
    ToAll,
    /// All but HEARTBEAT and RE_SCHEDULE: arsgate ignores them, and the
    /// commands that follow them on the wire (its own 20 s `status`
    /// probe) were sent by its timers.
    ToAllButTimers,
}

impl Script {
    /// When the session started on FreeSWITCH's clock: the first event's
    /// creation time, less the time it took to arrive.
    pub fn clock_start(&self) -> Option<SystemTime> {
        self.received.iter().find_map(|timed| {
            let Ok(Message::Event(event)) = Message::try_from(timed.frame.clone()) else {
                return None;
            };
            let created = Duration::from_micros(event.timestamp_micros()?);
            Some(UNIX_EPOCH + created.saturating_sub(Duration::from_secs_f64(timed.at)))
        })
    }
}

impl Script {
    /// Reads a capture: commands are decoded with the server's codec (as
    /// FreeSWITCH parses them), frames with the client's.
    pub fn from_records(records: &[Record], reacts: Reacts) -> Script {
        let mut client = ClientCodec::new();
        let mut server = ServerCodec::new();
        let (mut inbound, mut outbound) = (BytesMut::new(), BytesMut::new());
        let mut counts: HashMap<FrameKey, usize> = HashMap::new();
        let mut last: Option<(Trigger, f64)> = None;
        let mut script = Script {
            steps: Vec::new(),
            received: Vec::new(),
            eof: false,
            end: records.last().map_or(0.0, |r| r.t),
            last: None,
        };
        for record in records {
            match record.dir {
                Direction::Recv if record.data.is_empty() => script.eof = true,
                Direction::Recv => {
                    inbound.extend_from_slice(&record.data);
                    while let Some(frame) =
                        client.decode(&mut inbound).expect("capture frames parse")
                    {
                        let key = FrameKey::of(&frame);
                        let count = counts.entry(key.clone()).or_default();
                        *count += 1;
                        if reacts == Reacts::ToAll || !key.is_timer() {
                            last = Some((Trigger { key, count: *count }, record.t));
                        }
                        script.received.push(Timed {
                            at: record.t,
                            frame,
                        });
                    }
                }
                Direction::Send => {
                    outbound.extend_from_slice(&record.data);
                    loop {
                        let before = outbound.clone();
                        let Some(command) = server
                            .decode(&mut outbound)
                            .expect("capture commands parse")
                        else {
                            break;
                        };
                        let used = before.len() - outbound.len();
                        let (trigger, delay) = match &last {
                            Some((trigger, at)) => (
                                Some(trigger.clone()),
                                Duration::from_secs_f64((record.t - at).max(0.0)),
                            ),
                            None => (None, Duration::ZERO),
                        };
                        script.steps.push(Step {
                            bytes: before[..used].to_vec(),
                            line: command.line().to_owned(),
                            trigger,
                            delay,
                            sent_at: record.t,
                        });
                    }
                }
            }
        }
        script.last = last;
        assert!(inbound.is_empty(), "bytes left over after the last frame");
        assert!(
            outbound.is_empty(),
            "bytes left over after the last command"
        );
        script
    }
}
