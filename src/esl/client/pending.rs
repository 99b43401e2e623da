//! The FIFO of commands waiting for their reply.
//!
//! FreeSWITCH answers the commands of one connection in order, one reply
//! each, with no request id (reference section 3): the oldest waiter owns the
//! next `command/reply` or `api/response`, whatever events came in between.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::error::EslError;
use crate::esl::message::Reply;

/// What answers a command.
#[derive(Debug)]
pub(crate) enum Response {
    /// A `command/reply` (every command but `api`, and `api` refused by
    /// userauth restrictions).
    Reply(Reply),
    /// An `api/response` body.
    Api(Bytes),
}

/// Where one command's reply goes.
pub(crate) type ReplySender = oneshot::Sender<Result<Response, EslError>>;

/// The waiters of one connection, oldest first. Once closed (the connection
/// ended) it refuses new waiters, so a command can never wait on a dead
/// connection: dropping a sender is what tells its caller `Disconnected`.
#[derive(Debug, Default)]
pub(crate) struct PendingReplies {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    closed: bool,
    queue: VecDeque<ReplySender>,
}

impl PendingReplies {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the waiter of a command about to be written. Must be called in
    /// the order the commands go on the wire.
    pub(crate) fn push(&self, waiter: ReplySender) {
        let mut inner = self.lock();
        if !inner.closed {
            inner.queue.push_back(waiter);
        }
    }

    /// Hands a reply to the oldest waiter. A waiter that gave up (timed out)
    /// still consumes its reply, which is what keeps later replies matched to
    /// their own commands. Returns false when nothing was waiting.
    pub(crate) fn complete(&self, response: Response) -> bool {
        let Some(waiter) = self.lock().queue.pop_front() else {
            return false;
        };
        // The caller may have timed out and dropped its receiver; the reply
        // is consumed all the same.
        let _ = waiter.send(Ok(response));
        true
    }

    /// Fails every waiter with `Disconnected` and refuses new ones.
    pub(crate) fn close(&self) {
        let drained = {
            let mut inner = self.lock();
            inner.closed = true;
            std::mem::take(&mut inner.queue)
        };
        drop(drained);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

/// Waits for a reply on `receiver`: a dropped sender means the connection
/// went away before the reply came.
pub(crate) async fn reply(
    receiver: oneshot::Receiver<Result<Response, EslError>>,
) -> Result<Response, EslError> {
    receiver.await.unwrap_or(Err(EslError::Disconnected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::frame::Frame;
    use crate::esl::message::Message;

    fn reply_frame(text: &str) -> Response {
        match Message::try_from(Frame::command_reply(text)) {
            Ok(Message::Reply(reply)) => Response::Reply(reply),
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn text(response: Result<Response, EslError>) -> String {
        match response {
            Ok(Response::Reply(reply)) => reply.text().to_owned(),
            Ok(Response::Api(body)) => String::from_utf8_lossy(&body).into_owned(),
            Err(error) => format!("error: {error}"),
        }
    }

    #[tokio::test]
    async fn replies_go_to_waiters_in_order() {
        let pending = PendingReplies::default();
        let (first_tx, first) = oneshot::channel();
        let (second_tx, second) = oneshot::channel();
        pending.push(first_tx);
        pending.push(second_tx);
        assert!(pending.complete(Response::Api(Bytes::from_static(b"UP 0 years"))));
        assert!(pending.complete(reply_frame("+OK accepted")));
        assert_eq!(text(reply(first).await), "UP 0 years");
        assert_eq!(text(reply(second).await), "+OK accepted");
        assert!(!pending.complete(reply_frame("+OK stray")), "nobody waits");
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_still_consumes_its_reply() {
        let pending = PendingReplies::default();
        let (late_tx, late) = oneshot::channel();
        let (next_tx, next) = oneshot::channel();
        pending.push(late_tx);
        pending.push(next_tx);
        drop(late); // timed out
        pending.complete(Response::Api(Bytes::from_static(b"+OK slept")));
        pending.complete(reply_frame("+OK mine"));
        assert_eq!(text(reply(next).await), "+OK mine");
    }

    #[tokio::test]
    async fn closing_fails_waiters_and_refuses_new_ones() {
        let pending = PendingReplies::default();
        let (tx, waiting) = oneshot::channel();
        pending.push(tx);
        pending.close();
        assert!(matches!(reply(waiting).await, Err(EslError::Disconnected)));
        let (tx, late) = oneshot::channel();
        pending.push(tx);
        assert_eq!(pending.len(), 0);
        assert!(matches!(reply(late).await, Err(EslError::Disconnected)));
    }
}
