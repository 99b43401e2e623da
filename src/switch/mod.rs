//! The switches calls go through, seen by the rest of arsgate through one
//! small interface ([`Backend`]) so that another switch (an Asterisk ARI
//! backend, say) can join FreeSWITCH later.
//!
//! - [`backend`]: the interface — place a call into a dialplan extension,
//!   move it, set its per-call data, hang it up — and the [`CallEvent`]s a
//!   call reports.
//! - [`dial`]: typed, escaped pieces of an originate: numbers, dial-string
//!   templates and channel variables, so no request text reaches the switch
//!   unchecked.
//! - [`freeswitch`]: the FreeSWITCH backend over the event socket.
//! - [`pool`]: the configured nodes, their connections, live channels,
//!   limits and drain, and which node takes the next call.
//! - [`choice`]: the choice itself — most weighted headroom wins.
//! - [`health`]: each node's `status` probe and the report operators read.
//! - [`modules`]: whether each node has the FreeSWITCH modules arsgate's
//!   calls need.
//! - `recovery`: a node's calls across a lost event socket — unknown while
//!   it is down, reconciled with the node's channels once it is back.
//! - [`failover`]: whose fault a failed originate was, and so whether the
//!   call may be placed once more on another node.

pub mod backend;
pub mod choice;
pub mod dial;
pub mod failover;
pub mod freeswitch;
pub mod health;
pub mod modules;
pub mod pool;
mod recovery;

pub use backend::{
    Backend, CallEvent, CallId, ChannelSnapshot, Claims, CollectedInput, MARK_VAR, OriginateSpec,
    PARKED_VAR, SwitchClock, SwitchError, Timed,
};
pub use dial::{DialNumber, DialTemplate, VarName, VarValue};
pub use failover::{Attempt, Fault};
pub use freeswitch::FreeSwitch;
pub use health::{NodeReport, NodeState, StatusAnswer};
pub use modules::Needs;
pub use pool::{NoNode, Node, NodeChange, NodeLimits, Pool, Slot, UnknownNode};
