//! What arsgate asks of a switch, and what a call reports back.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::dial::{DialNumber, VarName, VarValue};
use crate::esl::HangupCause;

/// The channel variable a controller keeps its place in (which segment,
/// how many tries), so that the place outlives the process: a controller
/// that takes the call over after a restart reads it back, and every
/// [`CallEvent::Parked`] carries it.
pub const MARK_VAR: &str = "ars_state";

/// The channel variable the dialplan copies [`MARK_VAR`] into right
/// before it parks: a channel parked with both equal is parked at the end
/// of the segment its mark names, not still at the end of an earlier one
/// (a move arsgate asked for but the switch had not made yet).
pub const PARKED_VAR: &str = "ars_parked";

/// A call's id: the channel UUID arsgate chooses before it exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    /// A fresh random id.
    pub fn new() -> CallId {
        CallId(uuid::Uuid::new_v4().to_string())
    }

    /// An id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CallId {
    fn default() -> CallId {
        CallId::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<uuid::Uuid> for CallId {
    fn from(id: uuid::Uuid) -> CallId {
        CallId(id.to_string())
    }
}

/// A call to place: dial `number` and, once answered, run `extension`.
#[derive(Debug, Clone)]
pub struct OriginateSpec {
    /// The call's id.
    pub call: CallId,
    /// Who to call.
    pub number: DialNumber,
    /// The dialplan extension the answered call runs.
    pub extension: String,
    /// How long the phone may ring.
    pub ring_timeout: Duration,
    /// A watchdog on the switch: the call is hung up with
    /// ALLOTTED_TIMEOUT this long after its answer, even if arsgate is
    /// gone.
    pub watchdog: Duration,
    /// Channel variables the call starts with.
    pub vars: Vec<(VarName, VarValue)>,
}

/// Digits a collect or menu gathered. `Debug` never shows them: they may
/// be a code or a PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct CollectedInput {
    /// The digits that passed the format check, if any.
    pub digits: Option<String>,
    /// Whether the last try had input that did not fit the format.
    pub invalid: bool,
}

impl CollectedInput {
    /// What `play_and_get_digits` left in `var`, read as its variables say
    /// (the reference's section 9.3; `lookup` gives a channel variable):
    /// the digits count only when the variable is there and `read_result`
    /// is not `failure`.
    pub fn read(var: &str, lookup: impl Fn(&str) -> Option<String>) -> CollectedInput {
        let value = lookup(var);
        let failed = lookup("read_result").as_deref() == Some("failure");
        let invalid = lookup(&format!("{var}_invalid")).is_some() || (failed && value.is_some());
        CollectedInput {
            digits: value.filter(|_| !failed),
            invalid,
        }
    }

    /// The variables [`CollectedInput::read`] reads for `var`.
    pub fn vars(var: &str) -> [String; 3] {
        let [digits, invalid] = Self::keyed(var);
        [digits, invalid, "read_result".to_owned()]
    }

    /// The variables a collect into `var` leaves the keyed digits in: the
    /// digits that passed, and those that did not (`<var>_invalid`).
    pub fn keyed(var: &str) -> [String; 2] {
        [var.to_owned(), format!("{var}_invalid")]
    }
}

impl fmt::Debug for CollectedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectedInput")
            .field(
                "digits",
                &self
                    .digits
                    .as_ref()
                    .map(|d| format!("<{} digits>", d.len())),
            )
            .field("invalid", &self.invalid)
            .finish()
    }
}

/// Something that happened to a call, in the order the switch reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The switch's verdict on the originate: `Ok` once the call is up,
    /// `Err` with the cause when it could not be placed.
    Originated(Result<(), HangupCause>),
    /// The phone is ringing.
    Ringing,
    /// The far end sent early media.
    EarlyMedia,
    /// The far end answered.
    Answered,
    /// The call parked: the switch waits for arsgate.
    Parked {
        /// The controller's mark on the channel when it parked (see
        /// [`ChannelSnapshot::vars`]), if it carried one: tells a park
        /// already handled from a new one.
        mark: Option<String>,
    },
    /// A collect or menu finished; `var` is the variable it filled.
    Collected {
        /// The channel variable the digits went into.
        var: String,
        /// What was gathered.
        input: CollectedInput,
    },
    /// The dialplan set a channel variable (`set`); only its name is
    /// reported.
    VarSet {
        /// The variable's name.
        name: String,
    },
    /// A recording ended.
    RecordingStopped {
        /// The file, as the switch names it.
        path: String,
        /// How long it is.
        duration: Duration,
    },
    /// The call was hung up.
    HungUp {
        /// Why.
        cause: HangupCause,
    },
    /// The channel is gone; nothing more will be reported.
    Ended,
    /// The node's event socket dropped: until it is back, events of the
    /// call may be missed and its state is unknown.
    Unknown,
    /// The node stayed unreachable for `after`: the call is given up, and
    /// its channel, should the node come back with it, hung up.
    Lost {
        /// How long the node was unreachable.
        after: Duration,
    },
    /// The event socket is back and the node was asked about the call:
    /// `up` if it still carries it (it is followed again), otherwise it
    /// ended while nobody listened and nothing more will be reported.
    Reconciled {
        /// Whether the node still carries the call.
        up: bool,
    },
}

/// A live channel as the switch describes it on request: what a
/// controller taking the call over needs to pick up where the last one
/// left off. `Debug` shows variable names only: a value may be digits the
/// customer keyed.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// Whether the far end has answered.
    pub answered: bool,
    /// Whether the channel is parked, waiting for a decision.
    pub parked: bool,
    /// The dialplan extension the channel was last sent to.
    pub extension: Option<String>,
    /// The channel variables asked for that the channel has.
    pub vars: BTreeMap<String, String>,
}

impl ChannelSnapshot {
    /// What the channel's last collect into `var` gathered (the variables
    /// of [`CollectedInput::vars`] must have been asked for).
    pub fn collected(&self, var: &str) -> CollectedInput {
        CollectedInput::read(var, |name| self.vars.get(name).cloned())
    }
}

impl fmt::Debug for ChannelSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSnapshot")
            .field("answered", &self.answered)
            .field("parked", &self.parked)
            .field("extension", &self.extension)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A call event with the switch's timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    /// When the switch says it happened.
    pub at: SystemTime,
    /// What happened.
    pub event: CallEvent,
}

/// Why a request to the switch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// The switch is not reachable right now.
    #[error("the switch is not connected")]
    Disconnected,
    /// The switch refused the command.
    #[error("the switch refused: {0}")]
    Refused(String),
    /// The call no longer exists on the switch (it just hung up; its
    /// hangup event is on its way).
    #[error("the call no longer exists")]
    NoSuchCall,
    /// No answer in time.
    #[error("the switch did not answer in time")]
    Timeout,
}

/// Which calls arsgate still wants, whichever replica follows them: tells a
/// node's channel that no verification wants any more (its arsgate gave
/// it up or died) from another replica's call. The store answers it.
#[async_trait::async_trait]
pub trait Claims: Send + Sync + 'static {
    /// Of `calls`, those some unfinished verification still wants.
    async fn wanted(&self, calls: &[CallId]) -> Result<std::collections::HashSet<CallId>, String>;
}

/// The clock a switch stamps its events with, as arsgate reads it now. A
/// real FreeSWITCH keeps the wall clock (NTP); the sandbox's simulator
/// runs a clock of its own, `speed` times faster.
#[derive(Clone, Default)]
pub struct SwitchClock(Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>);

impl SwitchClock {
    /// A switch whose time now is what `now` reads.
    pub fn reading(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> SwitchClock {
        SwitchClock(Some(Arc::new(now)))
    }

    /// The switch's time now.
    pub fn now(&self) -> SystemTime {
        self.0.as_ref().map_or_else(SystemTime::now, |now| now())
    }

    /// Whether this is the wall clock itself.
    pub fn is_wall(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for SwitchClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_wall() {
            "SwitchClock(wall)"
        } else {
            "SwitchClock(own)"
        })
    }
}

/// A switch that can run arsgate's calls.
pub trait Backend: Send + Sync + 'static {
    /// The clock the switch's event times ([`Timed::at`]) are on.
    fn clock(&self) -> SwitchClock {
        SwitchClock::default()
    }

    /// Starts following call `call`: its events go to the returned channel,
    /// in order, until [`CallEvent::Ended`]. Call before originating so no
    /// event is missed.
    fn follow(&self, call: &CallId) -> mpsc::UnboundedReceiver<Timed>;

    /// Stops following a call whose channel is gone.
    fn forget(&self, call: &CallId);

    /// Stops following a call given up while its channel may still exist,
    /// or still come to exist (an originate that timed out may yet run):
    /// should the switch show it, it is hung up at once.
    fn abandon(&self, call: &CallId);

    /// Places a call. Returns once the switch accepted the request; the
    /// verdict comes as [`CallEvent::Originated`].
    fn originate(
        &self,
        spec: &OriginateSpec,
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Sets channel variables on a live call.
    fn set_vars(
        &self,
        call: &CallId,
        vars: &[(VarName, VarValue)],
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Removes channel variables from a live call, so that what they held
    /// (digits a customer keyed, say) is in no later event, dump or call
    /// record.
    fn unset_vars(
        &self,
        call: &CallId,
        vars: &[VarName],
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Moves a live call to a dialplan extension.
    fn transfer(
        &self,
        call: &CallId,
        extension: &str,
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Hangs a call up.
    fn hangup(
        &self,
        call: &CallId,
        cause: &HangupCause,
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Describes a live call, with those of `vars` the channel has;
    /// `None` if the switch no longer carries it. A call found this way
    /// counts as placed on this switch from then on (an earlier run placed
    /// it; this one takes it over).
    fn inspect(
        &self,
        call: &CallId,
        vars: &[&str],
    ) -> impl Future<Output = Result<Option<ChannelSnapshot>, SwitchError>> + Send;
}
