//! Background jobs: `bgapi` waiters keyed by Job-UUID, resolved by the
//! `BACKGROUND_JOB` event that carries the same id.
//!
//! The waiter is registered before the command is written, so our own
//! results cannot outrun it. Results for ids nobody waits for yet are kept
//! for a short grace period all the same (reference section 12.4): it costs
//! little and closes the race for any future caller that registers late.
//! FreeSWITCH broadcasts every job result to every subscriber, so most
//! unclaimed results belong to other clients; the buffer is therefore small,
//! bounded and short-lived.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::EslError;
use crate::esl::event::Event;

/// How long an unclaimed job result is kept.
const EARLY_GRACE: Duration = Duration::from_secs(5);
/// How many unclaimed job results are kept at most (oldest evicted first).
const EARLY_CAPACITY: usize = 256;

/// The outcome of a background job: the body of its `BACKGROUND_JOB` event,
/// which is what `api` would have returned for the same command.
#[derive(Debug, Clone)]
pub struct JobResult {
    event: Event,
}

impl JobResult {
    /// The job's id.
    pub fn job_uuid(&self) -> Cow<'_, str> {
        self.event.job_uuid().unwrap_or_default()
    }

    /// The whole result text (`+OK a1b2...\n`, `-ERR USER_BUSY\n`).
    pub fn body(&self) -> Cow<'_, str> {
        self.event.body_text().unwrap_or_default()
    }

    /// Whether the result starts with `+OK`.
    pub fn is_ok(&self) -> bool {
        self.body().starts_with("+OK")
    }

    /// The result without its `+OK`/`-ERR` marker and trailing line break:
    /// the channel UUID of a successful originate, the hangup cause of a
    /// failed one.
    pub fn text(&self) -> String {
        let body = self.body();
        let body = body.trim_end_matches(['\n', '\r']);
        body.strip_prefix("+OK")
            .or_else(|| body.strip_prefix("-ERR"))
            .unwrap_or(body)
            .trim_start()
            .to_owned()
    }

    /// The `BACKGROUND_JOB` event itself (`Job-Command`, `Job-Command-Arg`...).
    pub fn event(&self) -> &Event {
        &self.event
    }
}

/// The job waiters of one connection.
#[derive(Debug, Default)]
pub(crate) struct JobMap {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    closed: bool,
    waiting: HashMap<String, oneshot::Sender<JobResult>>,
    /// Results nobody waited for, oldest first.
    early: VecDeque<(Instant, String, Event)>,
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        while self
            .early
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > EARLY_GRACE)
        {
            self.early.pop_front();
        }
    }
}

impl JobMap {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts waiting for job `id`. Fails with `Disconnected` once the
    /// connection is gone, and with `CommandFailed` if `id` is already
    /// awaited (two callers cannot share a Job-UUID).
    pub(crate) fn register(self: &Arc<Self>, id: &str) -> Result<JobWaiter, EslError> {
        let (sender, receiver) = oneshot::channel();
        let mut inner = self.lock();
        if inner.closed {
            return Err(EslError::Disconnected);
        }
        if inner.waiting.get(id).is_some_and(|s| !s.is_closed()) {
            return Err(EslError::CommandFailed(format!(
                "Job-UUID {id} is already in use"
            )));
        }
        inner.prune(Instant::now());
        match inner.early.iter().position(|(_, early, _)| early == id) {
            Some(index) => {
                if let Some((_, _, event)) = inner.early.remove(index) {
                    let _ = sender.send(JobResult { event });
                }
            }
            None => {
                inner.waiting.insert(id.to_owned(), sender);
            }
        }
        Ok(JobWaiter {
            receiver: Some(receiver),
            jobs: Arc::clone(self),
            id: id.to_owned(),
        })
    }

    /// Routes a `BACKGROUND_JOB` event to its waiter, or keeps it briefly.
    pub(crate) fn complete(&self, event: &Event) {
        let Some(id) = event.job_uuid() else {
            return;
        };
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        if let Some(waiter) = inner.waiting.remove(id.as_ref()) {
            let _ = waiter.send(JobResult {
                event: event.clone(),
            });
            return;
        }
        let now = Instant::now();
        inner.prune(now);
        if inner.early.len() >= EARLY_CAPACITY {
            inner.early.pop_front();
        }
        inner.early.push_back((now, id.into_owned(), event.clone()));
    }

    /// Fails every waiter with `Disconnected` and refuses new ones.
    pub(crate) fn close(&self) {
        let (waiting, early) = {
            let mut inner = self.lock();
            inner.closed = true;
            (
                std::mem::take(&mut inner.waiting),
                std::mem::take(&mut inner.early),
            )
        };
        drop((waiting, early));
    }

    /// Stops waiting for `id` if its waiter is gone.
    fn forget(&self, id: &str) {
        let mut inner = self.lock();
        if inner.waiting.get(id).is_some_and(|s| s.is_closed()) {
            inner.waiting.remove(id);
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.waiting.len(), inner.early.len())
    }
}

/// One registered job. Dropping it (a caller that stopped waiting) removes
/// the registration, so abandoned jobs do not accumulate.
#[derive(Debug)]
pub(crate) struct JobWaiter {
    receiver: Option<oneshot::Receiver<JobResult>>,
    jobs: Arc<JobMap>,
    id: String,
}

impl JobWaiter {
    /// The job's result; `Disconnected` if the connection ends first.
    pub(crate) async fn result(mut self) -> Result<JobResult, EslError> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.await.map_err(|_| EslError::Disconnected),
            None => Err(EslError::Disconnected),
        }
    }
}

impl Drop for JobWaiter {
    fn drop(&mut self) {
        // Close the receiver first: `forget` only removes a closed waiter, so
        // a newer registration of the same id is left alone.
        drop(self.receiver.take());
        self.jobs.forget(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::event_name::EventName;

    fn job_event(id: &str, body: &str) -> Event {
        let mut event = Event::new(&EventName::BackgroundJob).with("Job-UUID", id);
        event.set_body(body.to_owned());
        event
    }

    #[tokio::test]
    async fn a_result_resolves_its_own_waiter() {
        let jobs = Arc::new(JobMap::default());
        let slow = jobs.register("slow").unwrap();
        let fast = jobs.register("fast").unwrap();
        jobs.complete(&job_event("fast", "+OK fast\n"));
        jobs.complete(&job_event("slow", "-ERR USER_BUSY\n"));
        let fast = fast.result().await.unwrap();
        assert!(fast.is_ok());
        assert_eq!(fast.text(), "fast");
        assert_eq!(fast.job_uuid(), "fast");
        let slow = slow.result().await.unwrap();
        assert!(!slow.is_ok());
        assert_eq!(slow.text(), "USER_BUSY");
        assert_eq!(slow.body(), "-ERR USER_BUSY\n");
        assert_eq!(jobs.counts(), (0, 0));
    }

    #[tokio::test]
    async fn an_early_result_waits_for_its_registration() {
        let jobs = Arc::new(JobMap::default());
        jobs.complete(&job_event("early", "+OK done\n"));
        assert_eq!(jobs.counts(), (0, 1));
        let result = jobs.register("early").unwrap().result().await.unwrap();
        assert_eq!(result.text(), "done");
        assert_eq!(jobs.counts(), (0, 0));
    }

    #[test]
    fn unclaimed_results_are_bounded() {
        let jobs = Arc::new(JobMap::default());
        for n in 0..EARLY_CAPACITY + 10 {
            jobs.complete(&job_event(&format!("foreign-{n}"), "+OK\n"));
        }
        assert_eq!(jobs.counts(), (0, EARLY_CAPACITY));
        let mut inner = jobs.lock();
        inner.prune(Instant::now() + EARLY_GRACE + Duration::from_millis(1));
        assert!(inner.early.is_empty(), "expired results are dropped");
    }

    #[tokio::test]
    async fn closing_fails_waiters_and_refuses_new_ones() {
        let jobs = Arc::new(JobMap::default());
        let waiter = jobs.register("j1").unwrap();
        jobs.close();
        assert!(matches!(waiter.result().await, Err(EslError::Disconnected)));
        assert!(matches!(jobs.register("j2"), Err(EslError::Disconnected)));
    }

    #[test]
    fn abandoned_waiters_are_removed_and_ids_cannot_be_shared() {
        let jobs = Arc::new(JobMap::default());
        let waiter = jobs.register("j1").unwrap();
        assert!(matches!(
            jobs.register("j1"),
            Err(EslError::CommandFailed(_))
        ));
        drop(waiter);
        assert_eq!(jobs.counts(), (0, 0));
        let _again = jobs.register("j1").unwrap();
        assert_eq!(jobs.counts(), (1, 0));
    }

    #[test]
    fn events_without_a_job_uuid_are_ignored() {
        let jobs = Arc::new(JobMap::default());
        jobs.complete(&Event::new(&EventName::BackgroundJob));
        assert_eq!(jobs.counts(), (0, 0));
    }
}
