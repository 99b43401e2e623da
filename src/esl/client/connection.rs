//! One live event socket connection: a reader task that routes every frame,
//! a writer task that puts commands on the wire in the order their waiters
//! were queued, the reply FIFO and the job map.
//!
//! The reader never waits on anything slow. FreeSWITCH punishes a client
//! that stops draining its socket (it drops events, then kills the listener,
//! and can stall event delivery for every other client meanwhile; reference
//! sections 10 and 12.13), so events go to a bounded channel with `try_send`
//! and are dropped and counted when the consumer falls behind.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace, warn};

use super::config::ClientConfig;
use super::error::EslError;
use super::jobs::JobMap;
use super::pending::{PendingReplies, ReplySender, Response, reply};
use super::state::{Counters, DisconnectReason};
use crate::esl::codec::{ClientCodec, FrameError};
use crate::esl::command::Command;
use crate::esl::event::Event;
use crate::esl::event_name::EventName;
use crate::esl::frame::Frame;
use crate::esl::message::{Message, Reply};

/// Commands waiting for the writer. Callers wait for room, bounded by their
/// own command timeout.
const WRITE_QUEUE: usize = 256;

/// The producing end of the client's event channel, shared by every
/// connection the client ever opens.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    sender: mpsc::Sender<Event>,
    counters: Arc<Counters>,
}

impl EventSink {
    pub(crate) fn new(sender: mpsc::Sender<Event>, counters: Arc<Counters>) -> EventSink {
        EventSink { sender, counters }
    }

    /// Queues an event without waiting; drops and counts it when the
    /// channel is full.
    fn push(&self, event: Event) {
        // Counted before the send so that the consumer, which decrements,
        // can never see the event before its increment.
        Counters::bump(&self.counters.queue_depth);
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.counters.dequeued();
                let dropped = self.counters.events_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per thousand drops: a consumer that fell behind
                // would otherwise flood the log too.
                if dropped == 1 || dropped % 1000 == 0 {
                    warn!(
                        dropped,
                        event = %event.name(),
                        "event channel full, dropping events"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // Nobody consumes events any more; that is the caller's choice.
                self.counters.dequeued();
            }
        }
    }
}

/// The state the reader and the writer share.
#[derive(Debug, Default)]
struct Shared {
    pending: PendingReplies,
    jobs: Arc<JobMap>,
    /// Set by the writer when the socket fails under it, read by the reader
    /// to report why the connection ended.
    write_failure: Mutex<Option<DisconnectReason>>,
}

/// A command on its way to the writer.
struct Request {
    command: Command,
    reply: ReplySender,
}

/// A cheap handle to send commands on one connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl ConnHandle {
    /// Sends `command` and waits for its reply, without a time limit (the
    /// caller applies one). Fails with `Disconnected` if the connection ends
    /// first.
    pub(crate) async fn request(&self, command: Command) -> Result<Response, EslError> {
        let (sender, receiver) = oneshot::channel();
        self.requests
            .send(Request {
                command,
                reply: sender,
            })
            .await
            .map_err(|_| EslError::Disconnected)?;
        reply(receiver).await
    }

    /// Sends `command` and waits at most `limit` for its reply.
    pub(crate) async fn call(
        &self,
        command: Command,
        limit: Duration,
    ) -> Result<Response, EslError> {
        timeout(limit, self.request(command))
            .await
            .map_err(|_| EslError::Timeout)?
    }

    /// Sends a non-`api` command; a `-ERR` reply is an error.
    pub(crate) async fn command(
        &self,
        command: Command,
        limit: Duration,
    ) -> Result<Reply, EslError> {
        match self.call(command, limit).await? {
            Response::Reply(reply) if reply.text().starts_with("-ERR") => {
                Err(EslError::CommandFailed(reply.text().to_owned()))
            }
            Response::Reply(reply) => Ok(reply),
            Response::Api(_) => Err(EslError::Unexpected(
                "api/response to a command other than api".into(),
            )),
        }
    }

    /// Runs `api <command>` and returns its output, `-ERR` text included.
    pub(crate) async fn api(&self, command: &str, limit: Duration) -> Result<String, EslError> {
        match self.call(Command::api(command), limit).await? {
            Response::Api(body) => Ok(String::from_utf8_lossy(&body).into_owned()),
            // FreeSWITCH answers with a command/reply only when it refuses
            // to run the command at all (userauth API restrictions).
            Response::Reply(reply) => Err(EslError::CommandFailed(reply.text().to_owned())),
        }
    }

    /// The connection's job map.
    pub(crate) fn jobs(&self) -> &Arc<JobMap> {
        &self.shared.jobs
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Command arguments may carry secrets; only the verb is shown.
        f.debug_struct("Request")
            .field("verb", &self.command.verb())
            .finish_non_exhaustive()
    }
}

/// An open, greeted (not yet authenticated) connection. Dropping it shuts
/// both tasks down and closes the socket.
#[derive(Debug)]
pub(crate) struct Connection {
    handle: ConnHandle,
    reader: JoinHandle<DisconnectReason>,
    shutdown: CancellationToken,
}

impl Connection {
    /// Connects to `config.addr`, waits for FreeSWITCH's `auth/request`
    /// greeting and starts the reader and writer tasks.
    pub(crate) async fn open(
        config: &ClientConfig,
        events: EventSink,
    ) -> Result<Connection, EslError> {
        let stream = timeout(
            config.connect_timeout,
            TcpStream::connect(config.addr.as_str()),
        )
        .await
        .map_err(|_| EslError::Timeout)?
        .map_err(EslError::Connect)?;
        // Commands are small and latency matters more than packet count.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot set TCP_NODELAY");
        }
        let (read, write) = stream.into_split();
        let mut frames = FramedRead::new(read, ClientCodec::with_max_frame(config.max_frame));
        let greeting = timeout(config.connect_timeout, frames.next())
            .await
            .map_err(|_| EslError::Timeout)?;
        match greeting.map(|frame| frame.map(Message::try_from)) {
            Some(Ok(Ok(Message::AuthRequest))) => {}
            Some(Ok(Ok(Message::RudeRejection(_)))) => return Err(EslError::AclDenied),
            None | Some(Ok(Ok(Message::Disconnect { .. }))) => return Err(EslError::Disconnected),
            Some(Err(error)) => return Err(EslError::Protocol(error)),
            Some(Ok(other)) => {
                return Err(EslError::Unexpected(format!(
                    "expected auth/request, got {other:?}"
                )));
            }
        }

        let shared = Arc::new(Shared::default());
        let shutdown = CancellationToken::new();
        let (requests, queue) = mpsc::channel(WRITE_QUEUE);
        let writer = FramedWrite::new(write, ClientCodec::with_max_frame(config.max_frame));
        tokio::spawn(write_loop(
            writer,
            queue,
            Arc::clone(&shared),
            shutdown.clone(),
        ));
        let router = Router::new(Arc::clone(&shared), events);
        let reader = tokio::spawn(read_loop(
            frames,
            router,
            config.liveness_limit(),
            shutdown.clone(),
        ));
        Ok(Connection {
            handle: ConnHandle { requests, shared },
            reader,
            shutdown,
        })
    }

    /// A handle for sending commands.
    pub(crate) fn handle(&self) -> ConnHandle {
        self.handle.clone()
    }

    /// Waits until the connection ends and says why.
    pub(crate) async fn finished(&mut self) -> DisconnectReason {
        match (&mut self.reader).await {
            Ok(reason) => reason,
            Err(error) => DisconnectReason::Io(format!("reader task failed: {error}")),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Where each frame goes. Synchronous on purpose: routing never waits.
#[derive(Debug)]
struct Router {
    shared: Arc<Shared>,
    events: EventSink,
    /// The text of a final disconnect notice: EOF is expected next.
    notice: Option<String>,
}

impl Router {
    fn new(shared: Arc<Shared>, events: EventSink) -> Router {
        Router {
            shared,
            events,
            notice: None,
        }
    }

    /// Routes one frame; returns a reason when the frame ends the connection.
    fn route(&mut self, frame: Frame) -> Option<DisconnectReason> {
        let message = match Message::try_from(frame) {
            Ok(message) => message,
            Err(error) => {
                // The frame was complete, so the stream is still in step:
                // skip the event rather than the connection.
                Counters::bump(&self.events.counters.malformed_events);
                warn!(%error, "skipping malformed event");
                return None;
            }
        };
        match message {
            Message::Reply(reply) => self.complete(Response::Reply(reply)),
            Message::ApiResponse(body) => self.complete(Response::Api(body)),
            Message::Event(event) => {
                Counters::bump(&self.events.counters.events_received);
                if event.name() == EventName::BackgroundJob {
                    self.shared.jobs.complete(&event);
                }
                self.events.push(event);
            }
            Message::Disconnect { linger: true, .. } => {
                debug!("linger notice; the connection stays open");
            }
            Message::Disconnect {
                linger: false,
                text,
            } => {
                debug!(notice = %text.trim_end(), "disconnect notice, expecting EOF");
                self.notice = Some(text);
            }
            Message::RudeRejection(_) => return Some(DisconnectReason::AclDenied),
            Message::AuthRequest => warn!("unexpected auth/request on an open connection"),
            Message::Log { level, text } => trace!(?level, %text, "FreeSWITCH log line"),
            Message::Other(frame) => {
                debug!(content_type = ?frame.content_type(), "ignoring frame of unknown type");
            }
        }
        None
    }

    fn complete(&self, response: Response) {
        if !self.shared.pending.complete(response) {
            warn!("reply with no command waiting for it; ignored");
        }
    }

    /// Why the stream ended at EOF or on a read error.
    fn end_of_stream(&mut self, error: Option<FrameError>) -> DisconnectReason {
        // After a disconnect notice, anything is just the close: FreeSWITCH
        // may write the notice from another thread, in the middle of a frame
        // (reference section 3.6).
        if let Some(notice) = self.notice.take() {
            return DisconnectReason::ServerClosed(notice);
        }
        match error {
            None => DisconnectReason::ServerClosed(String::new()),
            Some(FrameError::Io(error)) => DisconnectReason::Io(error.to_string()),
            Some(error) => DisconnectReason::Protocol(error.to_string()),
        }
    }
}

async fn read_loop(
    mut frames: FramedRead<OwnedReadHalf, ClientCodec>,
    mut router: Router,
    liveness: Duration,
    shutdown: CancellationToken,
) -> DisconnectReason {
    // Any frame proves the connection alive; HEARTBEAT is only the traffic
    // guaranteed on an idle one. The deadline is re-armed lazily, once per
    // period, instead of on every frame. A zero (or unrepresentably large)
    // limit disables the check.
    let limit = Some(liveness).filter(|limit| !limit.is_zero());
    let deadline_after = |seen: Instant| limit.and_then(|limit| seen.checked_add(limit));
    let mut last_seen = Instant::now();
    let first = deadline_after(last_seen);
    let watching = first.is_some();
    let deadline = sleep_until(first.unwrap_or(last_seen));
    tokio::pin!(deadline);
    let reason = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                let failure = router.shared.write_failure.lock().unwrap_or_else(PoisonError::into_inner).take();
                break failure.unwrap_or_else(|| DisconnectReason::Io("connection shut down".into()));
            }
            frame = frames.next() => match frame {
                Some(Ok(frame)) => {
                    last_seen = Instant::now();
                    if let Some(reason) = router.route(frame) {
                        break reason;
                    }
                }
                Some(Err(error)) => break router.end_of_stream(Some(error)),
                None => break router.end_of_stream(None),
            },
            () = &mut deadline, if watching => match deadline_after(last_seen) {
                Some(next) if next > Instant::now() => deadline.as_mut().reset(next),
                _ => break DisconnectReason::HeartbeatTimeout,
            },
        }
    };
    router.shared.pending.close();
    router.shared.jobs.close();
    shutdown.cancel();
    reason
}

async fn write_loop(
    mut sink: FramedWrite<OwnedWriteHalf, ClientCodec>,
    mut queue: mpsc::Receiver<Request>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            request = queue.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        let written = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            written = write_batch(&mut sink, &mut queue, &shared, request) => written,
        };
        if let Err(error) = written {
            debug!(%error, "event socket write failed");
            *shared
                .write_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner) =
                Some(DisconnectReason::Io(error.to_string()));
            shutdown.cancel();
            break;
        }
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch(
    sink: &mut FramedWrite<OwnedWriteHalf, ClientCodec>,
    queue: &mut mpsc::Receiver<Request>,
    shared: &Shared,
    first: Request,
) -> Result<(), FrameError> {
    let mut next = Some(first);
    while let Some(Request { command, reply }) = next {
        // A caller that already gave up gets nothing written on its behalf.
        if !reply.is_closed() {
            // `feed` encodes into the write buffer (flushing earlier commands
            // if the buffer is full); the waiter is queued before this
            // command's bytes can reach FreeSWITCH, and in wire order.
            match sink.feed(command).await {
                Ok(()) => shared.pending.push(reply),
                Err(FrameError::InvalidCommand(text)) => {
                    let _ = reply.send(Err(EslError::Protocol(FrameError::InvalidCommand(text))));
                }
                Err(error) => return Err(error),
            }
        }
        next = queue.try_recv().ok();
    }
    SinkExt::<Command>::flush(sink).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::headers::Headers;
    use bytes::Bytes;

    fn router(queue: usize) -> (Router, mpsc::Receiver<Event>, Arc<Counters>) {
        let (sender, receiver) = mpsc::channel(queue);
        let counters = Arc::new(Counters::default());
        let sink = EventSink::new(sender, Arc::clone(&counters));
        (
            Router::new(Arc::new(Shared::default()), sink),
            receiver,
            counters,
        )
    }

    fn event_frame(name: &EventName) -> Frame {
        Frame::event_plain(&Event::new(name))
    }

    fn job_frame(id: &str, body: &str) -> Frame {
        let mut event = Event::new(&EventName::BackgroundJob).with("Job-UUID", id);
        event.set_body(body.to_owned());
        Frame::event_plain(&event)
    }

    #[tokio::test]
    async fn replies_reach_the_oldest_waiter_while_events_flow() {
        let (mut router, mut events, counters) = router(16);
        let (first_tx, first) = oneshot::channel();
        let (second_tx, second) = oneshot::channel();
        router.shared.pending.push(first_tx);
        router.shared.pending.push(second_tx);
        assert!(router.route(event_frame(&EventName::Heartbeat)).is_none());
        router.route(Frame::api_response("UP 0 years\n"));
        router.route(event_frame(&EventName::ChannelAnswer));
        router.route(Frame::command_reply("+OK event listener enabled plain"));
        match reply(first).await {
            Ok(Response::Api(body)) => assert_eq!(&body[..], b"UP 0 years\n"),
            other => panic!("{other:?}"),
        }
        match reply(second).await {
            Ok(Response::Reply(reply)) => assert!(reply.is_ok()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events.recv().await.map(|e| e.name()),
            Some(EventName::Heartbeat)
        );
        assert_eq!(
            events.recv().await.map(|e| e.name()),
            Some(EventName::ChannelAnswer)
        );
        assert_eq!(counters.snapshot().events_received, 2);
        assert_eq!(counters.snapshot().queue_depth, 2);
    }

    #[tokio::test]
    async fn job_results_go_to_their_waiter_and_to_the_channel() {
        let (mut router, mut events, _) = router(16);
        let waiter = router.shared.jobs.register("j1").unwrap();
        router.route(job_frame("j2", "+OK other\n"));
        router.route(job_frame("j1", "+OK mine\n"));
        assert_eq!(waiter.result().await.unwrap().text(), "mine");
        assert_eq!(
            events.recv().await.unwrap().job_uuid().as_deref(),
            Some("j2")
        );
        assert_eq!(
            events.recv().await.unwrap().job_uuid().as_deref(),
            Some("j1")
        );
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let (mut router, _events, counters) = router(2);
        for _ in 0..5 {
            router.route(event_frame(&EventName::Dtmf));
        }
        let stats = counters.snapshot();
        assert_eq!(stats.events_received, 5);
        assert_eq!(stats.events_dropped, 3);
        assert_eq!(stats.queue_depth, 2);
    }

    #[test]
    fn malformed_events_are_counted_and_skipped() {
        let (mut router, _events, counters) = router(2);
        let bad = Frame::new(
            Headers::new()
                .with("Content-Type", "text/event-json")
                .with("Content-Length", "1"),
            Some(Bytes::from_static(b"{")),
        );
        assert!(router.route(bad).is_none());
        assert_eq!(counters.snapshot().malformed_events, 1);
        assert_eq!(counters.snapshot().events_received, 0);
    }

    #[test]
    fn notices_and_rejections_end_the_connection_with_their_reason() {
        let (mut router, _events, _) = router(2);
        assert_eq!(
            router.route(Frame::rude_rejection()),
            Some(DisconnectReason::AclDenied)
        );
        assert!(router.route(Frame::disconnect_notice("bye\n")).is_none());
        let truncated = FrameError::InvalidLength("garbage".into());
        assert_eq!(
            router.end_of_stream(Some(truncated)),
            DisconnectReason::ServerClosed("bye\n".into())
        );
        assert_eq!(
            router.end_of_stream(None),
            DisconnectReason::ServerClosed(String::new())
        );
        assert!(matches!(
            router.end_of_stream(Some(FrameError::HeadTooLarge { limit: 1 })),
            DisconnectReason::Protocol(_)
        ));
    }

    #[test]
    fn linger_notices_change_nothing() {
        let (mut router, _events, _) = router(2);
        let linger = Frame::new(
            Headers::new()
                .with("Content-Type", "text/disconnect-notice")
                .with("Content-Disposition", "linger")
                .with("Content-Length", "0"),
            Some(Bytes::new()),
        );
        assert!(router.route(linger).is_none());
        assert_eq!(
            router.end_of_stream(None),
            DisconnectReason::ServerClosed(String::new())
        );
    }
}
