//! Calls: every live channel of the simulated switch, the per-channel task
//! that runs it (FreeSWITCH's session thread), and the commands other parts
//! of the switch send to it.
//!
//! - `channel`: what a channel reports in events.
//! - `sofia`: the SIP leg's variables and failure causes.
//! - `dial`: parsing `originate` arguments and dial strings.
//! - `session`: the channel's task — origination, applications, DTMF from the
//!   phone, hangup and teardown.
//! - `apps`: the dialplan applications.
//! - `digits`: collecting keys (`read`, `play_and_get_digits`).
//! - `media`: how long prompts last, and recordings written as WAV files.
//! - `sched`: hangups scheduled on the switch's clock (`sched_hangup`).

mod apps;
pub(crate) mod channel;
pub(crate) mod dial;
mod digits;
mod media;
pub(crate) mod sched;
pub(crate) mod session;
pub(crate) mod sofia;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use self::channel::Channel;
use crate::esl::HangupCause;

/// A message queued on a channel (`sendmsg`, `uuid_broadcast`).
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// The headers that open the PRIVATE_COMMAND fired once the message has
    /// been processed: `Command: sendmsg <uuid>` and the message's own
    /// headers, or the whole COMMAND event of a broadcast.
    pub echo: Vec<(String, String)>,
    /// What to do.
    pub action: QueuedAction,
}

/// What a queued message asks for.
#[derive(Debug, Clone)]
pub(crate) enum QueuedAction {
    /// Run an application.
    Execute {
        app: String,
        arg: String,
        event_lock: bool,
        app_uuid: String,
        loops: i64,
        /// Extra wait before running (`lead-frames`).
        lead: std::time::Duration,
    },
    /// Hang up with a cause.
    Hangup(HangupCause),
    /// A call-command the simulator does not act on (it is still echoed).
    Other,
}

/// What other parts of the switch tell a channel's task.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A `sendmsg` for the channel's queue.
    Queued(Queued),
    /// The channel was hung up from outside (`uuid_kill`, `hupall`); the
    /// CHANNEL_HANGUP event has been fired already.
    HungUp,
    /// `uuid_transfer`: leave what you are doing and route to this extension.
    Transfer(Target),
}

/// Where a transfer sends a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The destination number to route.
    pub extension: String,
    /// The dialplan (`XML`).
    pub dialplan: String,
    /// The context to hunt.
    pub context: String,
}

impl Target {
    /// `<extension> [<dialplan>] [<context>]`, the dialplan defaulting to
    /// `XML` and the context to the channel's current one; `None` without
    /// an extension.
    pub fn parse<S: AsRef<str>>(words: &[S], current_context: &str) -> Option<Target> {
        let word = |i: usize| words.get(i).map(|w| w.as_ref().to_owned());
        Some(Target {
            extension: word(0)?,
            dialplan: word(1).unwrap_or_else(|| "XML".to_owned()),
            context: word(2).unwrap_or_else(|| current_context.to_owned()),
        })
    }
}

/// A live channel as the rest of the switch sees it.
#[derive(Debug)]
pub(crate) struct CallHandle {
    pub uuid: String,
    channel: Mutex<Channel>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl CallHandle {
    /// The channel's state, to read or change (variables for `uuid_setvar`).
    pub fn channel(&self) -> MutexGuard<'_, Channel> {
        self.channel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the channel's task a message; false when the task is gone.
    pub fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).is_ok()
    }
}

/// Every live channel, by Unique-ID.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    map: Mutex<HashMap<String, Arc<CallHandle>>>,
    session_ids: AtomicU64,
}

impl Calls {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<CallHandle>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a channel; `None` when its UUID is already live.
    pub fn insert(
        &self,
        channel: Channel,
    ) -> Option<(Arc<CallHandle>, mpsc::UnboundedReceiver<Msg>)> {
        let mut map = self.map();
        if map.contains_key(&channel.uuid) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Arc::new(CallHandle {
            uuid: channel.uuid.clone(),
            channel: Mutex::new(channel),
            tx,
        });
        map.insert(handle.uuid.clone(), Arc::clone(&handle));
        Some((handle, rx))
    }

    /// Forgets a destroyed channel.
    pub fn remove(&self, uuid: &str) {
        self.map().remove(uuid);
    }

    /// A live channel.
    pub fn get(&self, uuid: &str) -> Option<Arc<CallHandle>> {
        self.map().get(uuid).cloned()
    }

    /// Every live channel, oldest first.
    pub fn all(&self) -> Vec<Arc<CallHandle>> {
        let mut calls: Vec<_> = self.map().values().cloned().collect();
        calls.sort_by_key(|c| c.channel().profile.times.created);
        calls
    }

    /// Forgets every channel (a restart).
    pub fn clear(&self) {
        self.map().clear();
    }

    /// The next `session_id` (FreeSWITCH numbers sessions from 1).
    pub fn next_session_id(&self) -> u64 {
        self.session_ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}
