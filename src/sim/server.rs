//! The simulator as a running server: the accept loop, the core's
//! background tasks, and the handle tests and the CLI drive it with.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bus::Kill;
use super::clock::SimClock;
use super::config::SimConfig;
use super::connection;
use super::engine::Engine;
use super::heartbeat;
use crate::esl::HangupCause;

/// What FreeSWITCH says to its listeners when it shuts down.
const SHUTDOWN_NOTICE: &str = "The system is being shut down.\n";

/// How often a shutdown looks whether the last channel is gone, simulated.
const LINGER_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` and starts serving in the background. The
    /// returned handle controls the simulator; dropping every clone of it
    /// does not stop it — call [`SimHandle::shutdown`].
    pub async fn start(config: SimConfig) -> io::Result<SimHandle> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let engine = Engine::new(config);
        engine
            .reload_dialplan()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(run_until(
            stop.clone(),
            heartbeat::heartbeats(Arc::clone(&engine)),
        ));
        tasks.spawn(accept_loop(
            listener,
            Arc::clone(&engine),
            stop.clone(),
            tasks.clone(),
        ));
        tracing::info!(%addr, "FreeSWITCH simulator listening");
        Ok(SimHandle {
            inner: Arc::new(Inner {
                engine,
                addr,
                stop,
                tasks,
            }),
        })
    }
}

async fn run_until(stop: CancellationToken, work: impl Future<Output = ()>) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = work => {}
    }
}

async fn accept_loop(
    listener: TcpListener,
    engine: Arc<Engine>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tasks.spawn(connection::serve(Arc::clone(&engine), stream, peer));
            }
            Err(error) => tracing::warn!(%error, "simulator accept failed"),
        }
    }
}

struct Inner {
    engine: Arc<Engine>,
    addr: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// Controls a running simulator (cheap to clone).
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl SimHandle {
    /// Reads the dialplan directory again, as `reloadxml` does; a
    /// directory that fails to load leaves the previous dialplan.
    pub fn reload_dialplan(&self) -> Result<(), String> {
        self.inner.engine.reload_dialplan()
    }

    /// Where the event socket listens.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The running instance's `Core-UUID`.
    pub fn core_uuid(&self) -> String {
        self.inner.engine.core_uuid()
    }

    /// The simulator's clock.
    pub fn clock(&self) -> &SimClock {
        &self.inner.engine.clock
    }

    /// How many event-socket connections are open.
    pub fn connections(&self) -> usize {
        self.inner.engine.bus.len()
    }

    /// Turns HEARTBEAT events on or off (off: a liveness test's silent switch).
    pub fn set_heartbeats(&self, enabled: bool) {
        self.inner
            .engine
            .faults
            .heartbeats
            .store(enabled, Ordering::Relaxed);
    }

    /// Writes every frame one byte at a time (on) or whole (off).
    pub fn set_byte_writes(&self, enabled: bool) {
        self.inner
            .engine
            .faults
            .byte_writes
            .store(enabled, Ordering::Relaxed);
    }

    /// Freezes the switch as a SIGSTOP does: no connection reads or
    /// writes, new connections are accepted (by the kernel) but never
    /// greeted. Commands clients write meanwhile stay in their sockets and
    /// are executed on [`SimHandle::thaw`], even when the client has
    /// closed its end since — FreeSWITCH reads a closed socket's buffered
    /// commands before it sees the end (the `bgapi originate`s arsgate
    /// had given up on rang customers a minute late on a real switch).
    /// The calls' own timing goes on.
    pub fn freeze(&self) {
        self.inner.engine.set_frozen(true);
    }

    /// Ends a [`SimHandle::freeze`]: every connection reads what waited
    /// in its socket, in order, and the events held back are written.
    pub fn thaw(&self) {
        self.inner.engine.set_frozen(false);
    }

    /// A silent network partition between the switch and its clients: the
    /// calls go on (prompts play, digits are collected, calls park), but
    /// the open connections hear none of it and nothing they send arrives;
    /// connections made meanwhile are never greeted.
    pub fn partition(&self) {
        self.inner.engine.partition();
    }

    /// Ends a [`SimHandle::partition`]: the connections it cut off are
    /// closed (their clients gave them up long ago); new ones work.
    pub fn heal(&self) {
        self.inner.engine.heal();
    }

    /// Cuts every connection in the middle of a frame.
    pub fn drop_connections_mid_frame(&self) {
        self.inner.engine.bus.kill_all(&Kill::MidFrame);
    }

    /// Sends every connection a disconnect notice with `text`, then closes it.
    pub fn disconnect_all(&self, text: &str) {
        self.inner
            .engine
            .bus
            .kill_all(&Kill::Notice(text.to_owned()));
    }

    /// Scripts what the phone reached as `key` does (a number such as
    /// `01000000001`, or `user@host:port` for a SIP URI).
    pub fn set_phone(&self, key: &str, script: crate::sim::phone::PhoneScript) {
        self.inner.engine.set_phone(key, script);
    }

    /// What the TTS application `speak` said on channel `uuid`, in order.
    pub fn spoken(&self, uuid: &str) -> Vec<String> {
        self.inner.engine.spoken(uuid)
    }

    /// The destination of every outbound call the switch placed (a
    /// channel created, the far end invited), oldest first: the calls a
    /// phone saw. Refused originates are not in it.
    pub fn dialled(&self) -> Vec<String> {
        self.inner.engine.dialled()
    }

    /// Every command the event-socket clients sent once authenticated
    /// (`api ...`, `bgapi ...` with its headers, `sendmsg` with its
    /// headers and body, ...), oldest first, across all connections: what
    /// the switch was told, byte for byte as decoded.
    pub fn commands(&self) -> Vec<crate::esl::Command> {
        self.inner.engine.commands()
    }

    /// How many channels are up.
    pub fn channels(&self) -> usize {
        self.inner.engine.calls.all().len()
    }

    /// Simulates a crash and restart: every connection is cut without a
    /// word, every session is forgotten, and the switch comes back with a
    /// new Core-UUID on the same address.
    pub fn restart(&self) {
        self.inner.engine.bus.kill_all(&Kill::Abrupt);
        self.inner.engine.reboot();
    }

    /// Simulates the process being killed: every connection is cut
    /// without a word and the listener closes; nothing answers any more.
    /// (A [`SimHandle::shutdown`] instead hangs the calls up and says
    /// goodbye.)
    pub fn kill(&self) {
        self.inner.engine.bus.kill_all(&Kill::Abrupt);
        self.inner.stop.cancel();
        self.inner.tasks.close();
    }

    /// Stops the simulator as FreeSWITCH shuts down gracefully: every
    /// channel is hung up with SYSTEM_SHUTDOWN; once they are all gone the
    /// event socket stays open for [`SimConfig::shutdown_linger`] (about
    /// 1.2 s on FreeSWITCH 1.10.12), still answering commands but refusing
    /// every originate with `-ERR CHAN_NOT_IMPLEMENTED` and no channel;
    /// then connections get the shutdown notice, the listener closes and
    /// background work ends. A second call while one is lingering ends the
    /// linger at once.
    ///
    /// [`SimConfig::shutdown_linger`]: super::SimConfig::shutdown_linger
    pub async fn shutdown(&self) {
        let engine = &self.inner.engine;
        if !engine.shutting_down.swap(true, Ordering::Relaxed) {
            super::api::calls::hang_up_all(engine, &HangupCause::SystemShutdown);
            while !engine.calls.all().is_empty() {
                engine.clock.sleep(LINGER_POLL).await;
            }
            engine.clock.sleep(engine.config.shutdown_linger).await;
        }
        engine
            .bus
            .kill_all(&Kill::Notice(SHUTDOWN_NOTICE.to_owned()));
        self.inner.stop.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
