//! Plays a capture's client against the simulator: each command goes out
//! when its trigger has arrived plus the client's think time, and
//! everything the simulator sends is recorded until it closes.

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

/// How long (real time) a replay may go without receiving or sending
/// anything before a pending trigger is given up: 30 simulated seconds,
/// far longer than any pause in the captures.
const IDLE: Duration = Duration::from_millis(1500);

/// FreeSWITCH's media tick, the finest time its events tell apart.
const TICK: Duration = Duration::from_millis(20);

/// The longest a replay may take, real time.
const LIMIT: Duration = Duration::from_secs(15);

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

/// Replays `script` against a simulator set up as `setup` says.
pub async fn replay(setup: &Setup, script: &Script) -> Replayed {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = Simulator::start(setup.config(dir.path(), script.clock_start()))
        .await
        .expect("simulator starts");
    let stream = TcpStream::connect(sim.addr()).await.expect("connect");
    let replayed = timeout(LIMIT, Client::new(stream, setup.speed).run(script))
        .await
        .unwrap_or_else(|_| panic!("{}: the replay took over {LIMIT:?}", setup.capture));
    sim.shutdown().await;
    replayed
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
    fn new(stream: TcpStream, speed: f64) -> Client {
        Client {
            stream,
            speed,
            codec: ClientCodec::new(),
            buf: BytesMut::new(),
            started: Instant::now(),
            counts: HashMap::new(),
            replayed: Replayed {
                received: Vec::new(),
                eof: false,
                late: Vec::new(),
                sent: Vec::new(),
            },
        }
    }

    async fn run(mut self, script: &Script) -> Replayed {
        let mut active = Instant::now();
        let mut steps = script.steps.iter().peekable();
        let mut due: Option<Instant> = None;
        loop {
            if let Some(step) = steps.peek() {
                if due.is_none() {
                    let met = step.trigger.as_ref().is_none_or(|t| t.met(&self.counts));
                    if met {
                        due = Some(Instant::now() + self.think_time(step.delay));
                    } else if active.elapsed() >= IDLE {
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
                    steps.next();
                    due = None;
                    active = Instant::now();
                    continue;
                }
            } else if active.elapsed() >= IDLE {
                // Everything was sent and the simulator stays silent
                // without closing.
                break;
            }
            let wake = due.unwrap_or(active + IDLE);
            tokio::select! {
                read = self.stream.read_buf(&mut self.buf) => match read {
                    Ok(0) | Err(_) => {
                        self.replayed.eof = true;
                        break;
                    }
                    Ok(_) => {
                        self.decode();
                        active = Instant::now();
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

    fn decode(&mut self) {
        let at = self.now();
        while let Some(frame) = self.codec.decode(&mut self.buf).expect("valid frames") {
            *self.counts.entry(FrameKey::of(&frame)).or_default() += 1;
            self.replayed.received.push(Timed { at, frame });
        }
    }
}
