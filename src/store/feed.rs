//! Who hears of new timeline entries: the live event streams, woken to read
//! what is new from the store. SQLite is one process's, so its writes wake
//! the streams directly; on PostgreSQL an entry one replica writes must
//! wake the streams another holds, so each process keeps one connection
//! that LISTENs to the NOTIFY the insert's trigger sends (V10). A notice
//! carries the verification only: the streams read the entries themselves,
//! so a notice lost (a full channel, a dropped connection) delays an entry
//! until a stream's next poll but never loses it.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::tls::MakeRustls;
use crate::domain::VerificationId;

/// The PostgreSQL channel the trigger notifies on.
pub(super) const CHANNEL: &str = "arsgate_timeline";

/// Notices a slow stream may fall behind by before it misses some (and
/// then rereads at its next poll).
const BACKLOG: usize = 1024;

/// How long the listener waits before connecting again after losing its
/// connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// The verifications that have new timeline entries, told to every
/// subscriber.
#[derive(Debug)]
pub(super) struct Feed {
    sender: broadcast::Sender<VerificationId>,
    /// PostgreSQL only: where to listen, and the listener once started
    /// (on the first subscription, so a store nobody streams from holds
    /// no extra connection).
    listener: Option<Listener>,
}

#[derive(Debug)]
struct Listener {
    config: tokio_postgres::Config,
    /// The store's own TLS settings: the listener connects as it does.
    tls: MakeRustls,
    /// Stops the listener; `None` until it is started.
    running: Mutex<Option<CancellationToken>>,
}

impl Feed {
    /// A feed told by this process's own writes.
    pub(super) fn local() -> Feed {
        Feed {
            sender: broadcast::channel(BACKLOG).0,
            listener: None,
        }
    }

    /// A feed told by the NOTIFY of every process on the database
    /// `config` names, connecting with `tls`.
    pub(super) fn postgres(config: tokio_postgres::Config, tls: MakeRustls) -> Feed {
        Feed {
            sender: broadcast::channel(BACKLOG).0,
            listener: Some(Listener {
                config,
                tls,
                running: Mutex::new(None),
            }),
        }
    }

    /// Tells the subscribers that `id` has a new entry (a local feed's
    /// writer calls it once the entry is committed).
    pub(super) fn tell(&self, id: VerificationId) {
        let _ = self.sender.send(id);
    }

    /// Hears of every new entry from now on. Must run inside a tokio
    /// runtime: on PostgreSQL the first subscription starts the listener.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<VerificationId> {
        let receiver = self.sender.subscribe();
        if let Some(listener) = &self.listener {
            let mut running = listener
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if running.is_none() {
                let stop = CancellationToken::new();
                tokio::spawn(listen(
                    listener.config.clone(),
                    listener.tls.clone(),
                    self.sender.clone(),
                    stop.clone(),
                ));
                *running = Some(stop);
            }
        }
        receiver
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener
            && let Some(stop) = listener
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            stop.cancel();
        }
    }
}

/// LISTENs on [`CHANNEL`] and passes each notice on, connecting again
/// whenever the connection is lost, until `stop`.
async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustls,
    sender: broadcast::Sender<VerificationId>,
    stop: CancellationToken,
) {
    loop {
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            connected = config.connect(tls.clone()) => connected,
        };
        match connected {
            Ok((client, mut connection)) => {
                let statement = format!("LISTEN {CHANNEL}");
                let listening = client.batch_execute(&statement);
                tokio::pin!(listening);
                let mut listened = false;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        done = &mut listening, if !listened => match done {
                            Ok(()) => listened = true,
                            Err(error) => {
                                tracing::warn!(%error, "timeline notices: LISTEN failed");
                                break;
                            }
                        },
                        message = std::future::poll_fn(|cx| connection.poll_message(cx)) => {
                            match message {
                                Some(Ok(AsyncMessage::Notification(notice))) => {
                                    if let Some(id) = verification(notice.payload()) {
                                        let _ = sender.send(id);
                                    }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(error)) => {
                                    tracing::warn!(%error, "timeline notices: connection lost");
                                    break;
                                }
                                None => break,
                            }
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "timeline notices: cannot connect"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

/// The verification a notice's payload (`<uuid> <seq>`) names.
fn verification(payload: &str) -> Option<VerificationId> {
    let (uuid, _) = payload.split_once(' ')?;
    uuid::Uuid::parse_str(uuid)
        .ok()
        .map(VerificationId::from_uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_its_verification() {
        let uuid = uuid::Uuid::new_v4();
        assert_eq!(
            verification(&format!("{uuid} 7")),
            Some(VerificationId::from_uuid(uuid))
        );
        assert_eq!(verification(&uuid.to_string()), None);
        assert_eq!(verification("not-a-uuid 1"), None);
    }
}
