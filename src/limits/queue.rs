//! Calls waiting for a channel: first come, first served per merchant and
//! mode, in this process. Only the head of a queue tries to take a lease,
//! so a later call never overtakes an earlier one here. (Replicas each
//! keep their own queues; the leases they take are what they share.)

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::domain::{LimitScope, VerificationId};

/// The queues of every scope.
#[derive(Default)]
pub struct Queues {
    scopes: Mutex<HashMap<LimitScope, Line>>,
}

/// One scope's queue.
#[derive(Default)]
struct Line {
    waiting: VecDeque<VerificationId>,
    /// Woken when the head may have changed or a channel freed up.
    wake: Arc<Notify>,
}

/// Where a queued call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Its scope.
    pub scope: LimitScope,
    /// 1 for the head of the queue.
    pub position: usize,
}

impl Queues {
    fn scopes(&self) -> MutexGuard<'_, HashMap<LimitScope, Line>> {
        self.scopes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `holder` at the back of its scope's queue unless it is in it
    /// already; false (and nothing queued) if `max` are waiting.
    pub fn join(&self, scope: LimitScope, holder: VerificationId, max: usize) -> bool {
        let mut scopes = self.scopes();
        let line = scopes.entry(scope).or_default();
        if line.waiting.contains(&holder) {
            return true;
        }
        if line.waiting.len() >= max {
            return false;
        }
        line.waiting.push_back(holder);
        crate::metrics::queue_moved(1.0);
        true
    }

    /// How many wait in `scope`.
    pub fn depth(&self, scope: LimitScope) -> usize {
        self.scopes()
            .get(&scope)
            .map_or(0, |line| line.waiting.len())
    }

    /// Whether `holder` is at the head of its scope's queue.
    pub fn is_head(&self, scope: LimitScope, holder: VerificationId) -> bool {
        self.scopes()
            .get(&scope)
            .and_then(|line| line.waiting.front())
            == Some(&holder)
    }

    /// Takes `holder` out of its queue and lets the next one try.
    pub fn leave(&self, scope: LimitScope, holder: VerificationId) {
        if let Some(line) = self.scopes().get_mut(&scope) {
            let before = line.waiting.len();
            line.waiting.retain(|h| *h != holder);
            let left = before - line.waiting.len();
            if left > 0 {
                crate::metrics::queue_moved(-(left as f64));
            }
            line.wake.notify_waiters();
        }
    }

    /// Wakes `scope`'s head: a channel may have freed up.
    pub fn wake(&self, scope: LimitScope) {
        if let Some(line) = self.scopes().get(&scope) {
            line.wake.notify_waiters();
        }
    }

    /// What wakes `scope`'s waiters.
    pub fn waker(&self, scope: LimitScope) -> Arc<Notify> {
        Arc::clone(&self.scopes().entry(scope).or_default().wake)
    }

    /// Where `holder` stands, if it is queued.
    pub fn place(&self, holder: VerificationId) -> Option<Place> {
        self.scopes().iter().find_map(|(scope, line)| {
            line.waiting
                .iter()
                .position(|h| *h == holder)
                .map(|index| Place {
                    scope: *scope,
                    position: index + 1,
                })
        })
    }
}
