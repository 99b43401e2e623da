//! The event socket client: one FreeSWITCH node, kept connected.
//!
//! [`Client::connect`] opens the first connection and fails at once if the
//! address, password or ACL is wrong. From then on a supervisor task keeps a
//! connection alive: when it is lost (EOF, socket error, framing error, or
//! `heartbeat_misses` heartbeat periods of silence) it reconnects with
//! exponential backoff and jitter, authenticates again, replays the
//! subscriptions and filters, and publishes the new state, including whether
//! FreeSWITCH restarted meanwhile (a changed Core-UUID). It stops when
//! [`Client::close`] is called or the last [`Client`] handle is dropped.
//!
//! Commands are answered in order on a connection, one reply each, so every
//! command waits in a FIFO for its reply while events keep flowing to
//! [`Events`]. Each command has a time limit; a command that times out still
//! consumes its late reply, so the next command gets its own. When a
//! connection ends, every command and background job waiting on it fails
//! with [`EslError::Disconnected`]; commands issued while reconnecting fail
//! the same way at once rather than being queued for a connection whose
//! future is unknown.
//!
//! Events go to a bounded channel. When the consumer falls behind, new
//! events are dropped and counted ([`ClientStats::events_dropped`]) rather
//! than slowing down the socket reader: FreeSWITCH treats a slow reader far
//! worse (reference section 10).
//!
//! ```no_run
//! # async fn demo() -> Result<(), arsgate::esl::client::EslError> {
//! use arsgate::esl::EventName;
//! use arsgate::esl::client::{Client, ClientConfig};
//!
//! let mut config = ClientConfig::new("127.0.0.1:8021", "ClueCon");
//! config.subscriptions = vec![EventName::ChannelAnswer, EventName::ChannelHangupComplete];
//! let (client, mut events) = Client::connect(config).await?;
//! let status = client.api("status").await?;
//! let job = client.bgapi("originate null/x &park()").await?;
//! if job.is_ok() {
//!     let _channel = job.text();
//! }
//! while let Some(event) = events.recv().await {
//!     let _ = (event.name(), &status);
//! }
//! # Ok(())
//! # }
//! ```

mod backoff;
mod config;
mod connection;
mod error;
mod jobs;
mod pending;
mod state;
mod subscriptions;
mod supervisor;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::DropGuard;
use tracing::{debug, info};
use uuid::Uuid;

use self::connection::{ConnHandle, EventSink};
use self::state::Counters;
use self::supervisor::{Shared, establish, supervise};
use super::command::{Command, EventFormat, SendMsg};
use super::event::Event;
use super::event_name::EventName;
use super::hangup_cause::HangupCause;

pub use self::config::ClientConfig;
pub use self::error::EslError;
pub use self::jobs::JobResult;
pub use self::state::{ClientStats, ConnectionState, DisconnectReason};

/// A handle to one FreeSWITCH node's event socket. Cheap to clone and safe
/// to share between tasks; the connection lives until [`Client::close`] or
/// until the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// Cancels the supervisor when the last handle goes away.
    _stop_on_drop: DropGuard,
}

impl Client {
    /// Connects, authenticates, subscribes to `config.subscriptions` (plus
    /// `BACKGROUND_JOB` and `HEARTBEAT`) and starts keeping the connection
    /// alive. The first attempt is not retried: a wrong address, password or
    /// ACL is reported at once as [`EslError::Connect`],
    /// [`EslError::Timeout`], [`EslError::AuthFailed`] or
    /// [`EslError::AclDenied`].
    ///
    /// Returns the client and the receiving end of its event channel, which
    /// carries events from every connection the client will ever make.
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), EslError> {
        let (sender, receiver) = mpsc::channel(config.event_queue.max(1));
        let counters = Arc::new(Counters::default());
        let events = EventSink::new(sender, Arc::clone(&counters));
        let shared = Arc::new(Shared::new(config, Arc::clone(&counters)));
        let established = establish(&shared, events.clone()).await?;
        info!(
            addr = %shared.config.addr,
            core_uuid = %established.core_uuid,
            "event socket connected"
        );
        shared.state.send_replace(ConnectionState::Connected {
            core_uuid: established.core_uuid.clone(),
            restarted: false,
        });
        tokio::spawn(supervise(Arc::clone(&shared), established, events));
        let client = Client {
            inner: Arc::new(Inner {
                _stop_on_drop: shared.shutdown.clone().drop_guard(),
                shared,
            }),
        };
        Ok((client, Events { receiver, counters }))
    }

    /// Runs `api <command>` and returns its output. An output starting with
    /// `-ERR` is still returned as text: whether it is a failure is for the
    /// caller to decide. `api` blocks the connection on FreeSWITCH's side
    /// (no events, no other replies) until it finishes: use
    /// [`Client::bgapi`] for anything slow. (An `api` still running past the
    /// liveness limit makes the connection look dead, and it is replaced.)
    pub async fn api(&self, command: &str) -> Result<String, EslError> {
        debug!(api = command.split_whitespace().next().unwrap_or(""), "api");
        self.shared()
            .current()?
            .api(command, self.shared().config.command_timeout)
            .await
    }

    /// Runs `bgapi <command>` under a fresh Job-UUID and waits for the job's
    /// result. See [`Client::bgapi_with_id`].
    pub async fn bgapi(&self, command: &str) -> Result<JobResult, EslError> {
        self.bgapi_with_id(command, &Uuid::new_v4().to_string())
            .await
    }

    /// Runs `bgapi <command>` with the caller's `job_uuid` and waits for the
    /// `BACKGROUND_JOB` event carrying that id.
    ///
    /// Only the acknowledgement is bound by the command timeout: a job can
    /// legitimately run for minutes (an originate rings), so bound the whole
    /// call with `tokio::time::timeout` where needed; dropping the future
    /// forgets the job. Fails with [`EslError::Disconnected`] if the
    /// connection ends before the result arrives.
    pub async fn bgapi_with_id(
        &self,
        command: &str,
        job_uuid: &str,
    ) -> Result<JobResult, EslError> {
        debug!(
            bgapi = command.split_whitespace().next().unwrap_or(""),
            job_uuid, "bgapi"
        );
        let conn = self.shared().current()?;
        // Registered before the command is written, so no result can be missed.
        let waiter = conn.jobs().register(job_uuid)?;
        conn.command(
            Command::bgapi(command, job_uuid),
            self.shared().config.command_timeout,
        )
        .await?;
        waiter.result().await
    }

    /// Sends `bgapi <command>` with the caller's `job_uuid` and returns once
    /// FreeSWITCH has accepted it (`+OK Job-UUID`). The result is not
    /// awaited: it arrives on the event channel as the `BACKGROUND_JOB`
    /// event carrying `job_uuid`, in order with the other events — which is
    /// what a caller following a call's events wants.
    pub async fn bgapi_submit(&self, command: &str, job_uuid: &str) -> Result<(), EslError> {
        debug!(
            bgapi = command.split_whitespace().next().unwrap_or(""),
            job_uuid, "bgapi submitted"
        );
        self.shared()
            .current()?
            .command(
                Command::bgapi(command, job_uuid),
                self.shared().config.command_timeout,
            )
            .await
            .map(drop)
    }

    /// Adds event types to the subscription, on this connection and every
    /// later one. While disconnected the names are only remembered (and
    /// `Ok` is returned): they are sent with the next connection's setup.
    /// They stay remembered after a `Timeout` or `Disconnected` too; only a
    /// refusal (`CommandFailed`) forgets them.
    pub async fn subscribe(&self, names: &[EventName]) -> Result<(), EslError> {
        let shared = self.shared();
        let mut subscriptions = shared.subscriptions.lock().await;
        let added = subscriptions.add_events(names);
        if added.is_empty() {
            return Ok(());
        }
        let Some(conn) = self.live()? else {
            return Ok(());
        };
        let command = Command::event(EventFormat::Plain, &added);
        match conn.command(command, shared.config.command_timeout).await {
            Err(EslError::CommandFailed(text)) => {
                subscriptions.remove_events(&added);
                Err(EslError::CommandFailed(text))
            }
            other => other.map(drop),
        }
    }

    /// Adds an event filter (`filter <header> <value>`), on this connection
    /// and every later one; once any filter exists FreeSWITCH only delivers
    /// events that some filter matches. The first filter also lets
    /// `HEARTBEAT` and `BACKGROUND_JOB` through, which the client cannot
    /// live without. While disconnected the filter is only remembered; as
    /// with [`Client::subscribe`], only a refusal forgets it.
    ///
    /// `header` must be one word and `value` non-empty (FreeSWITCH's own
    /// syntax rule); otherwise [`EslError::CommandFailed`].
    pub async fn filter(&self, header: &str, value: &str) -> Result<(), EslError> {
        if header.is_empty() || header.contains(char::is_whitespace) || value.trim().is_empty() {
            return Err(EslError::CommandFailed(format!(
                "invalid filter {header:?} {value:?}"
            )));
        }
        let shared = self.shared();
        let limit = shared.config.command_timeout;
        let mut subscriptions = shared.subscriptions.lock().await;
        let commands = subscriptions.add_filter(header, value);
        if commands.is_empty() {
            return Ok(());
        }
        let Some(conn) = self.live()? else {
            return Ok(());
        };
        for command in commands {
            match conn.command(command, limit).await {
                Ok(_) => {}
                Err(EslError::CommandFailed(text)) => {
                    for undo in subscriptions.remove_filter(header, value) {
                        let _ = conn.command(undo, limit).await;
                    }
                    return Err(EslError::CommandFailed(text));
                }
                // Remembered: the next connection's setup sends it.
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Sends `message` to channel `uuid` (`sendmsg`). `Ok` means FreeSWITCH
    /// queued it on the channel, not that it ran.
    pub async fn sendmsg(&self, uuid: &str, message: SendMsg) -> Result<(), EslError> {
        self.command(Command::sendmsg(uuid, message)).await
    }

    /// Runs dialplan application `app` with `arg` on channel `uuid`, after
    /// whatever it is already running (`event-lock`). Returns the
    /// Application-UUID that the matching `CHANNEL_EXECUTE` and
    /// `CHANNEL_EXECUTE_COMPLETE` events will carry.
    pub async fn execute(&self, uuid: &str, app: &str, arg: &str) -> Result<String, EslError> {
        let app_uuid = Uuid::new_v4().to_string();
        let message = SendMsg::execute(app, arg)
            .event_lock()
            .event_uuid(&app_uuid);
        self.sendmsg(uuid, message).await?;
        Ok(app_uuid)
    }

    /// Hangs channel `uuid` up with `cause`.
    pub async fn hangup(&self, uuid: &str, cause: &HangupCause) -> Result<(), EslError> {
        self.sendmsg(uuid, SendMsg::hangup(cause)).await
    }

    /// Closes the client: sends `exit`, waits briefly for FreeSWITCH to
    /// close its end, and stops reconnecting. Every handle sees
    /// [`EslError::Closed`] afterwards and the event channel ends once
    /// drained.
    pub async fn close(&self) {
        let shared = self.shared();
        shared.shutdown.cancel();
        let mut state = shared.state.subscribe();
        let closed = state.wait_for(|state| *state == ConnectionState::Closed);
        // The supervisor bounds its goodbye; the margin only guards against
        // a supervisor that died.
        let _ = tokio::time::timeout(shared.config.command_timeout.saturating_mul(2), closed).await;
    }

    /// The connection state, as a watch: `borrow()` for now, `changed()` /
    /// `wait_for()` to follow it.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.shared().state.subscribe()
    }

    /// The counters since the client was created.
    pub fn stats(&self) -> ClientStats {
        self.shared().counters.snapshot()
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The live connection if any; `Closed` after close.
    fn live(&self) -> Result<Option<ConnHandle>, EslError> {
        if self.shared().shutdown.is_cancelled() {
            return Err(EslError::Closed);
        }
        Ok(self.shared().live())
    }

    async fn command(&self, command: Command) -> Result<(), EslError> {
        self.shared()
            .current()?
            .command(command, self.shared().config.command_timeout)
            .await
            .map(drop)
    }
}

/// The receiving end of a client's event channel: every event of every
/// connection, in arrival order, job results and heartbeats included.
/// Ends (`None`) once the client is closed and the channel is drained.
#[derive(Debug)]
pub struct Events {
    receiver: mpsc::Receiver<Event>,
    counters: Arc<Counters>,
}

impl Events {
    /// The next event, waiting for one.
    pub async fn recv(&mut self) -> Option<Event> {
        let event = self.receiver.recv().await;
        if event.is_some() {
            self.counters.dequeued();
        }
        event
    }

    /// The next event if one is already queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        let event = self.receiver.try_recv().ok();
        if event.is_some() {
            self.counters.dequeued();
        }
        event
    }
}
