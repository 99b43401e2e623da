//! Whose fault a failed originate was, and so whether the call may be
//! placed again on another node.
//!
//! One rule above all: a customer's phone never rings twice for one
//! verification. A call is only placed again when the first attempt
//! provably never reached the customer — the node refused it before it
//! existed, or it failed with a cause the node raises itself and no
//! ringing, early media or answer was ever seen. Anything the customer (or
//! the customer's network) decided is final.

use super::backend::SwitchError;
use crate::esl::HangupCause;

/// How a call attempt that did not succeed ended, as far as arsgate saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// The switch never took the originate: the request failed with this
    /// error before it was acknowledged.
    NotAccepted(&'a SwitchError),
    /// The switch took the originate and the call ended with `cause`;
    /// `progressed` says whether ringing, early media or an answer was
    /// reported before.
    Ended {
        /// The hangup cause (or the originate's `-ERR` cause).
        cause: &'a HangupCause,
        /// Whether the far end showed any sign of life.
        progressed: bool,
    },
}

/// What to do about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The node failed before the call reached anyone: place it once more
    /// on another node.
    Node,
    /// The outcome belongs to the customer (busy, no answer, rejected, a
    /// dead number) or the call may have reached them: never retried.
    Customer,
}

/// Causes a node raises by itself when it cannot create or route the
/// session: its `max-sessions` or `sessions-per-second` limit ("Over
/// Session Limit", "Throttle Error"), a pause, a shutdown, a gateway or
/// profile it does not have, or a transient local failure.
const NODE_CAUSES: &[HangupCause] = &[
    HangupCause::DestinationOutOfOrder,
    HangupCause::NormalTemporaryFailure,
    HangupCause::SwitchCongestion,
    HangupCause::GatewayDown,
    HangupCause::InvalidGateway,
    HangupCause::InvalidProfile,
    HangupCause::ChanNotImplemented,
    HangupCause::SystemShutdown,
];

/// Classifies a failed attempt.
pub fn classify(attempt: Attempt<'_>) -> Fault {
    match attempt {
        // Lost or refused before the acknowledgement: no call exists.
        Attempt::NotAccepted(SwitchError::Disconnected | SwitchError::Refused(_)) => Fault::Node,
        // A timed-out request may have been taken: the phone may ring.
        Attempt::NotAccepted(SwitchError::Timeout | SwitchError::NoSuchCall) => Fault::Customer,
        Attempt::Ended {
            progressed: true, ..
        } => Fault::Customer,
        Attempt::Ended {
            cause,
            progressed: false,
        } if NODE_CAUSES.contains(cause) => Fault::Node,
        Attempt::Ended { .. } => Fault::Customer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(cause: &str, progressed: bool) -> Fault {
        classify(Attempt::Ended {
            cause: &HangupCause::from_name(cause),
            progressed,
        })
    }

    /// The whole table: every row is a case the classification must keep.
    #[test]
    fn the_table() {
        let not_accepted = |error: SwitchError| classify(Attempt::NotAccepted(&error));
        assert_eq!(not_accepted(SwitchError::Disconnected), Fault::Node);
        assert_eq!(
            not_accepted(SwitchError::Refused("-ERR no reply".into())),
            Fault::Node
        );
        assert_eq!(not_accepted(SwitchError::Timeout), Fault::Customer);
        for cause in [
            "DESTINATION_OUT_OF_ORDER",
            "NORMAL_TEMPORARY_FAILURE",
            "SWITCH_CONGESTION",
            "GATEWAY_DOWN",
            "INVALID_GATEWAY",
            "INVALID_PROFILE",
            "CHAN_NOT_IMPLEMENTED",
            "SYSTEM_SHUTDOWN",
        ] {
            assert_eq!(ended(cause, false), Fault::Node, "{cause}");
            assert_eq!(ended(cause, true), Fault::Customer, "{cause} after ringing");
        }
        for cause in [
            "NO_ANSWER",
            "USER_BUSY",
            "CALL_REJECTED",
            "UNALLOCATED_NUMBER",
            "NO_USER_RESPONSE",
            "NO_ROUTE_DESTINATION",
            "INVALID_NUMBER_FORMAT",
            "RECOVERY_ON_TIMER_EXPIRE",
            "ORIGINATOR_CANCEL",
            "NORMAL_CLEARING",
            "ALLOTTED_TIMEOUT",
            "NETWORK_OUT_OF_ORDER",
        ] {
            assert_eq!(ended(cause, false), Fault::Customer, "{cause}");
            assert_eq!(ended(cause, true), Fault::Customer, "{cause}");
        }
    }
}
