//! Keeping a connection: connect, authenticate, subscribe, learn the
//! Core-UUID, and after a loss do it again with backoff, forever, until the
//! client is closed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::config::ClientConfig;
use super::connection::{ConnHandle, Connection, EventSink};
use super::error::EslError;
use super::state::{ConnectionState, Counters, DisconnectReason};
use super::subscriptions::Subscriptions;
use crate::esl::command::Command;

/// Longest wait for FreeSWITCH's goodbye when closing.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What every client handle and the supervisor share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    /// The connection commands go to; `None` while (re)connecting.
    current: Mutex<Option<ConnHandle>>,
    /// Held while subscriptions change and while a new connection replays
    /// them, so a change can never fall between a replay and the moment the
    /// connection is published.
    pub(crate) subscriptions: tokio::sync::Mutex<Subscriptions>,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn new(config: ClientConfig, counters: Arc<Counters>) -> Shared {
        let subscriptions = Subscriptions::new(&config.subscriptions);
        Shared {
            config,
            current: Mutex::new(None),
            subscriptions: tokio::sync::Mutex::new(subscriptions),
            state: watch::Sender::new(ConnectionState::Connecting { attempt: 1 }),
            counters,
            shutdown: CancellationToken::new(),
        }
    }

    /// The live connection: `Closed` after close, `Disconnected` while
    /// reconnecting (commands are not queued across connections: their
    /// callers are better placed to decide whether to retry).
    pub(crate) fn current(&self) -> Result<ConnHandle, EslError> {
        if self.shutdown.is_cancelled() {
            return Err(EslError::Closed);
        }
        self.lock_current().clone().ok_or(EslError::Disconnected)
    }

    /// Like [`Shared::current`], `None` when there is no live connection.
    pub(crate) fn live(&self) -> Option<ConnHandle> {
        self.lock_current().clone()
    }

    fn publish(&self, handle: Option<ConnHandle>) {
        *self.lock_current() = handle;
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<ConnHandle>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection ready for commands.
#[derive(Debug)]
pub(crate) struct Established {
    connection: Connection,
    pub(crate) core_uuid: String,
}

/// Opens a connection, authenticates, replays subscriptions and filters,
/// reads the Core-UUID and publishes the connection for commands.
pub(crate) async fn establish(shared: &Shared, events: EventSink) -> Result<Established, EslError> {
    let config = &shared.config;
    let limit = config.command_timeout;
    let connection = Connection::open(config, events).await?;
    let conn = connection.handle();
    match conn.command(Command::auth(&config.password), limit).await {
        Ok(_) => {}
        Err(EslError::CommandFailed(_)) => return Err(EslError::AuthFailed),
        Err(error) => return Err(error),
    }
    let subscriptions = shared.subscriptions.lock().await;
    for command in subscriptions.replay() {
        conn.command(command, limit).await?;
    }
    let core_uuid = conn.api("global_getvar core_uuid", limit).await?;
    let core_uuid = core_uuid.trim();
    if core_uuid.is_empty() || core_uuid.starts_with("-ERR") {
        return Err(EslError::CommandFailed(format!(
            "global_getvar core_uuid: {core_uuid}"
        )));
    }
    shared.publish(Some(conn));
    drop(subscriptions);
    Ok(Established {
        connection,
        core_uuid: core_uuid.to_owned(),
    })
}

/// Watches the connection and replaces it when it ends, until shutdown.
pub(crate) async fn supervise(shared: Arc<Shared>, established: Established, events: EventSink) {
    let config = &shared.config;
    let mut backoff = Backoff::new(
        config.reconnect_initial,
        config.reconnect_max,
        config.reconnect_jitter,
    );
    let mut core_uuid = established.core_uuid;
    let mut connection = established.connection;
    loop {
        let lost = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => None,
            reason = connection.finished() => Some(reason),
        };
        let Some(reason) = lost else {
            say_goodbye(&shared, connection).await;
            break;
        };
        shared.publish(None);
        drop(connection);
        warn!(%reason, addr = %config.addr, "event socket connection lost");
        if retry_slowly(&reason) {
            backoff.saturate();
        }
        shared
            .state
            .send_replace(ConnectionState::Disconnected { reason });

        let Some(next) = reconnect(&shared, &mut backoff, &events).await else {
            break;
        };
        backoff.reset();
        Counters::bump(&shared.counters.reconnects);
        let restarted = next.core_uuid != core_uuid;
        if restarted {
            warn!(
                old = %core_uuid,
                new = %next.core_uuid,
                "FreeSWITCH restarted (Core-UUID changed): its calls are gone"
            );
        }
        info!(addr = %config.addr, core_uuid = %next.core_uuid, "event socket reconnected");
        core_uuid.clone_from(&next.core_uuid);
        connection = next.connection;
        shared.state.send_replace(ConnectionState::Connected {
            core_uuid: next.core_uuid,
            restarted,
        });
    }
    shared.publish(None);
    shared.state.send_replace(ConnectionState::Closed);
    info!(addr = %config.addr, "event socket client closed");
}

/// Retries until a connection is established; `None` on shutdown.
async fn reconnect(
    shared: &Shared,
    backoff: &mut Backoff,
    events: &EventSink,
) -> Option<Established> {
    let mut attempt = 0u32;
    loop {
        let delay = backoff.next_delay();
        debug!(?delay, "waiting before reconnecting");
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return None,
            () = sleep(delay) => {}
        }
        attempt = attempt.saturating_add(1);
        shared
            .state
            .send_replace(ConnectionState::Connecting { attempt });
        let result = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return None,
            result = establish(shared, events.clone()) => result,
        };
        match result {
            Ok(established) => return Some(established),
            Err(error) => {
                let reason = reason_for(&error);
                if retry_slowly(&reason) {
                    backoff.saturate();
                }
                warn!(attempt, %reason, addr = %shared.config.addr, "event socket reconnect failed");
                shared
                    .state
                    .send_replace(ConnectionState::Disconnected { reason });
            }
        }
    }
}

/// Sends `exit` and waits briefly for FreeSWITCH to close its end.
async fn say_goodbye(shared: &Shared, mut connection: Connection) {
    shared.publish(None);
    let conn = connection.handle();
    let limit = shared.config.command_timeout.min(CLOSE_GRACE);
    let goodbye = async {
        if let Err(error) = conn.command(Command::exit(), limit).await {
            debug!(%error, "exit not acknowledged");
            return;
        }
        // +OK bye, then the disconnect notice, then EOF.
        connection.finished().await;
    };
    if timeout(limit, goodbye).await.is_err() {
        debug!("FreeSWITCH did not close the connection after exit");
    }
}

/// Failures only a configuration change can fix: retried at the slowest pace.
fn retry_slowly(reason: &DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::AuthFailed | DisconnectReason::AclDenied
    )
}

/// How a failed connection attempt is reported in the state.
fn reason_for(error: &EslError) -> DisconnectReason {
    match error {
        EslError::Connect(error) => DisconnectReason::ConnectFailed(error.to_string()),
        EslError::Timeout => DisconnectReason::Timeout,
        EslError::AuthFailed => DisconnectReason::AuthFailed,
        EslError::AclDenied => DisconnectReason::AclDenied,
        EslError::Disconnected | EslError::Closed => DisconnectReason::ServerClosed(String::new()),
        EslError::CommandFailed(text) => DisconnectReason::SetupFailed(text.clone()),
        EslError::Protocol(error) => DisconnectReason::Protocol(error.to_string()),
        EslError::Unexpected(text) => DisconnectReason::Protocol(text.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn configuration_failures_are_retried_slowly_and_the_rest_quickly() {
        let cases = [
            (EslError::AuthFailed, DisconnectReason::AuthFailed, true),
            (EslError::AclDenied, DisconnectReason::AclDenied, true),
            (EslError::Timeout, DisconnectReason::Timeout, false),
            (
                EslError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused)),
                DisconnectReason::ConnectFailed("connection refused".into()),
                false,
            ),
            (
                EslError::CommandFailed("-ERR invalid syntax".into()),
                DisconnectReason::SetupFailed("-ERR invalid syntax".into()),
                false,
            ),
            (
                EslError::Disconnected,
                DisconnectReason::ServerClosed(String::new()),
                false,
            ),
        ];
        for (error, reason, slow) in cases {
            assert_eq!(reason_for(&error), reason, "{error}");
            assert_eq!(retry_slowly(&reason), slow, "{error}");
        }
    }

    #[tokio::test]
    async fn no_connection_means_disconnected_until_closed() {
        let shared = Shared::new(
            ClientConfig::new("127.0.0.1:1", "pw"),
            Arc::new(Counters::default()),
        );
        assert!(matches!(shared.current(), Err(EslError::Disconnected)));
        shared.shutdown.cancel();
        assert!(matches!(shared.current(), Err(EslError::Closed)));
        assert_eq!(
            *shared.state.borrow(),
            ConnectionState::Connecting { attempt: 1 }
        );
    }
}
