//! A verification's progress as it happens, for the live event stream
//! (`GET /v1/verifications/{id}/events`). The process running the call
//! appends each timeline entry to the store as the call reports it; a
//! follower, in this process or another replica, wakes on the store's
//! feed (or its own poll, should a notice be missed), reads the entries
//! after the last it gave, and ends with the outcome once the verification
//! is final. The call's process writes every entry before the outcome, so a
//! follower that sees the outcome has every entry there is to read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::{Caller, Inner, Service, ServiceError};
use crate::domain::VerificationId;
use crate::scenario::Outcome;
use crate::scenario::timeline::Entry;
use crate::store::{Store, TimelineRecord};

/// How often a follower reads the store even when no notice came: the
/// bound on the delay of an entry whose notice was lost.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Entries read at a time.
const BATCH: u32 = 100;

/// What a follower hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A timeline entry.
    Entry {
        /// Its number in the timeline, from 1.
        seq: u64,
        /// What happened (`ringing`, `input`...): the entry's `event`.
        event: String,
        /// The entry, as JSON text (as in the verification's timeline).
        json: String,
    },
    /// The verification is final: nothing follows.
    End {
        /// Its outcome.
        outcome: Outcome,
        /// Why.
        reason: String,
    },
}

impl Service {
    /// Follows `caller`'s verification `id` from after entry `after` (0:
    /// from the start) to its outcome. `NotFound` as for
    /// [`Service::get`]: another merchant's, or of the other mode.
    pub async fn follow(
        &self,
        caller: Caller,
        id: VerificationId,
        after: u64,
    ) -> Result<impl Stream<Item = Progress> + Send + 'static, ServiceError> {
        // Subscribed before the first read: no entry written meanwhile
        // goes unnoticed.
        let feed = self.inner.store.timeline_feed();
        self.inner.get(caller, id).await?;
        let follower = Follower {
            store: Arc::clone(&self.inner.store),
            id,
            last: after,
            feed: Some(feed),
            ready: VecDeque::new(),
            ended: false,
        };
        Ok(futures_util::stream::unfold(follower, Follower::next))
    }
}

/// One follower's state.
struct Follower {
    store: Arc<dyn Store>,
    id: VerificationId,
    /// The number of the last entry given.
    last: u64,
    /// `None` once the feed closed: then the poll alone.
    feed: Option<broadcast::Receiver<VerificationId>>,
    /// Read, not given yet.
    ready: VecDeque<Progress>,
    /// The end is read: nothing more to read.
    ended: bool,
}

impl Follower {
    async fn next(mut self) -> Option<(Progress, Follower)> {
        loop {
            if let Some(progress) = self.ready.pop_front() {
                return Some((progress, self));
            }
            if self.ended {
                return None;
            }
            if !self.read().await {
                self.wait().await;
            }
        }
    }

    /// Reads what is new; true if there may be more to read at once.
    async fn read(&mut self) -> bool {
        // The state first: once final, every entry is already stored.
        let verification = match self.store.verification_by_id(self.id).await {
            Ok(Some(verification)) => verification,
            Ok(None) => {
                self.ended = true;
                return false;
            }
            Err(error) => {
                tracing::debug!(verification = %self.id, %error, "event stream: read later");
                return false;
            }
        };
        let records = match self.store.timeline_after(self.id, self.last, BATCH).await {
            Ok(records) => records,
            Err(error) => {
                tracing::debug!(verification = %self.id, %error, "event stream: read later");
                return false;
            }
        };
        let full = records.len() >= BATCH as usize;
        for TimelineRecord { seq, entry } in records {
            self.last = seq;
            self.ready.push_back(Progress::Entry {
                seq,
                event: event_name(&entry),
                json: entry,
            });
        }
        if full {
            return true;
        }
        if let (true, Some(outcome)) = (verification.is_final(), verification.outcome) {
            self.ready.push_back(Progress::End {
                outcome,
                reason: verification.reason.unwrap_or_default(),
            });
            self.ended = true;
        }
        false
    }

    /// Waits for a notice about this verification, or the next poll.
    async fn wait(&mut self) {
        let poll = tokio::time::sleep(POLL_EVERY);
        tokio::pin!(poll);
        loop {
            let Some(feed) = &mut self.feed else {
                poll.await;
                return;
            };
            tokio::select! {
                () = &mut poll => return,
                notice = feed.recv() => match notice {
                    Ok(id) if id == self.id => return,
                    Ok(_) => {}
                    // Notices missed: one of them may be this one's.
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => self.feed = None,
                },
            }
        }
    }
}

/// The `event` of an entry's JSON.
fn event_name(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|value| value.get("event")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "entry".to_owned())
}

/// Appends a call's entries to its live timeline, in order. A failed
/// append (the store unreachable) stops it for the rest of the call, so
/// that an outage costs the call's progress one wait rather than one per
/// entry; the entries stay in the record the outcome writes.
pub(super) struct Publisher {
    id: VerificationId,
    on: bool,
}

impl Publisher {
    /// Publishes `id`'s entries.
    pub(super) fn new(id: VerificationId) -> Publisher {
        Publisher { id, on: true }
    }

    /// Appends `entry`, unless an earlier append failed.
    pub(super) async fn publish(&mut self, inner: &Inner, entry: &Entry) {
        if !self.on {
            return;
        }
        let json = serde_json::to_string(entry).unwrap_or_default();
        if let Err(error) = inner.store.append_timeline(self.id, &json).await {
            tracing::warn!(verification = %self.id, %error, "live timeline stopped: the event stream misses the rest of the call");
            self.on = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_named_by_its_event() {
        assert_eq!(
            event_name(r#"{"at":1,"event":"hung_up","cause":"NORMAL_CLEARING"}"#),
            "hung_up"
        );
        assert_eq!(event_name("{}"), "entry");
    }
}
