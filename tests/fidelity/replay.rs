//! Plays a capture's clients against the simulator: each connection opens
//! when the capture's did; each command goes out when its trigger has
//! arrived plus the client's think time, and everything the simulator
//! sends is recorded until it closes, the client drops the connection as
//! the capture's did, or the capture's time is over.

use std::collections::HashMap;
use std::time::Duration;

use arsgate::esl::ClientCodec;
use arsgate::sim::Simulator;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::Decoder;

use super::compare::Difference;
use super::script::{FrameKey, Script, Timed};
use super::setup::Setup;

/// How long (simulated seconds) a replay may go without receiving or
/// sending anything but timer events before a pending trigger is given up:
/// longer than any pause in the captures (arsgate's sessions wait up to
/// 20 s between frames: a prompt repeated without input, then its status
/// probe).
const IDLE: f64 = 30.0;

/// FreeSWITCH's media tick, the finest time its events tell apart.
const TICK: Duration = Duration::from_millis(20);

/// The longest a replay may take beyond its capture's time, simulated:
/// the idle waits of two triggers that never come.
const OVERTIME: f64 = 2.0 * IDLE;

/// How long (simulated seconds) a client whose commands are all sent
/// listens past the capture's last chunk (counted from its last command),
/// when the simulator does not close the connection: time for what a
/// slower simulator would still send.
const END_MARGIN: f64 = 3.0;

/// One client connection of a capture.
#[derive(Debug, Clone)]
pub struct Connection {
    pub script: Script,
    /// When it opens, in session seconds.
    pub opens_at: f64,
    /// When the client drops it without a word, in session seconds.
    pub closes_at: Option<f64>,
}

/// What a replay produced.
pub struct Replayed {
    /// Every frame received, stamped with simulated session time.
    pub received: Vec<Timed>,
    /// Whether the simulator closed the connection.
    pub eof: bool,
    /// Triggers that never came (their commands were sent anyway).
    pub late: Vec<Difference>,
    /// When each command was sent, in simulated session seconds.
    pub sent: Vec<f64>,
}

/// Replays `connections` against one simulator set up as `setup` says:
/// what each received.
pub async fn replay(setup: &Setup, connections: &[Connection]) -> Vec<Replayed> {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = connections.first().and_then(|c| c.script.clock_start());
    let sim = Simulator::start(setup.config(dir.path(), start))
        .await
        .expect("simulator starts");
    let started = Instant::now();
    let clients = connections.iter().map(|connection| {
        let addr = sim.addr();
        async move {
            sleep_until(at(started, connection.opens_at, setup.speed)).await;
            let stream = TcpStream::connect(addr).await.expect("connect");
            Client::new(stream, setup.speed, started)
                .run(connection)
                .await
        }
    });
    let end = connections.iter().map(|c| c.script.end).fold(0.0, f64::max);
    let limit = secs((end + OVERTIME) / setup.speed);
    let replayed = timeout(limit, futures_util::future::join_all(clients))
        .await
        .unwrap_or_else(|_| panic!("{}: the replay took over {limit:?}", setup.capture));
    sim.shutdown().await;
    replayed
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}

/// The real instant of session time `t` (simulated seconds).
fn at(started: Instant, t: f64, speed: f64) -> Instant {
    started + Duration::from_secs_f64(t.max(0.0) / speed)
}

/// The replaying client.
struct Client {
    stream: TcpStream,
    speed: f64,
    codec: ClientCodec,
    buf: BytesMut,
    started: Instant,
    counts: HashMap<FrameKey, usize>,
    replayed: Replayed,
}

impl Client {
    fn new(stream: TcpStream, speed: f64, started: Instant) -> Client {
        Client {
            stream,
            speed,
            codec: ClientCodec::new(),
            buf: BytesMut::new(),
            started,
            counts: HashMap::new(),
            replayed: Replayed {
                received: Vec::new(),
                eof: false,
                late: Vec::new(),
                sent: Vec::new(),
            },
        }
    }

    async fn run(mut self, connection: &Connection) -> Replayed {
        let script = &connection.script;
        // A connection the client dropped is dropped as long after the
        // last frame it reacted to as in the capture; others end when the
        // capture's time is over.
        let idle = secs(IDLE / self.speed);
        let mut over = at(self.started, script.end + END_MARGIN, self.speed);
        let mut drop_at: Option<Instant> = None;
        let mut active = Instant::now();
        let mut steps = script.steps.iter().peekable();
        let mut due: Option<Instant> = None;
        loop {
            if let Some(closes_at) = connection.closes_at
                && drop_at.is_none()
                && steps.peek().is_none()
            {
                match &script.last {
                    Some((trigger, arrived)) if trigger.met(&self.counts) => {
                        drop_at = Some(Instant::now() + self.think_time(secs(closes_at - arrived)));
                    }
                    Some(_) => {}
                    None => drop_at = Some(at(self.started, closes_at, self.speed)),
                }
            }
            if drop_at.is_some_and(|t| t <= Instant::now()) {
                break;
            }
            if let Some(step) = steps.peek() {
                if due.is_none() {
                    let met = step.trigger.as_ref().is_none_or(|t| t.met(&self.counts));
                    if met {
                        due = Some(Instant::now() + self.think_time(step.delay));
                    } else if active.elapsed() >= idle {
                        self.replayed.late.push(Difference::Trigger {
                            command: step.line.clone(),
                            trigger: step
                                .trigger
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                        });
                        due = Some(Instant::now());
                    }
                }
                if due.is_some_and(|at| at <= Instant::now()) {
                    let now = self.now();
                    self.replayed.sent.push(now);
                    let _ = self.stream.write_all(&step.bytes).await;
                    let tail = script.end + END_MARGIN - step.sent_at;
                    over = Instant::now() + secs(tail / self.speed);
                    steps.next();
                    due = None;
                    active = Instant::now();
                    continue;
                }
            } else if active.elapsed() >= idle
                || (connection.closes_at.is_none() && over <= Instant::now())
            {
                // Everything was sent and the simulator stays silent
                // without closing, or the capture's time is over.
                break;
            }
            let mut wake = due.unwrap_or(active + idle);
            if steps.peek().is_none() && connection.closes_at.is_none() {
                wake = wake.min(over);
            }
            if let Some(drop_at) = drop_at {
                wake = wake.min(drop_at);
            }
            tokio::select! {
                read = self.stream.read_buf(&mut self.buf) => match read {
                    Ok(0) | Err(_) => {
                        self.replayed.eof = true;
                        break;
                    }
                    Ok(_) => {
                        if self.decode() {
                            active = Instant::now();
                        }
                    }
                },
                () = sleep_until(wake) => {}
            }
        }
        self.replayed
    }

    /// The real time to wait for a think time of the capture's client. A
    /// wait shorter than a media tick was the client's reaction time, not a
    /// pause it meant: it is not reproduced (a timer could not wait that
    /// little anyway, and would make the client late).
    fn think_time(&self, delay: Duration) -> Duration {
        if delay < TICK {
            Duration::ZERO
        } else {
            delay.div_f64(self.speed)
        }
    }

    /// Simulated seconds since the session started.
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.speed
    }

    /// Decodes what arrived; whether any of it was more than the core's
    /// timers ticking (which do not keep a replay alive).
    fn decode(&mut self) -> bool {
        let at = self.now();
        let mut news = false;
        while let Some(frame) = self.codec.decode(&mut self.buf).expect("valid frames") {
            let key = FrameKey::of(&frame);
            news |= !key.is_timer();
            *self.counts.entry(key).or_default() += 1;
            self.replayed.received.push(Timed { at, frame });
        }
        news
    }
}
