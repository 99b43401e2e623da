//! Whose fault a failed originate was, and so whether the call may be
//! placed again on another node.
//!
//! One rule above all: a customer's phone never rings twice for one
//! verification. A call is only placed again when the first attempt
//! provably never reached the customer: the node refused it before any
//! channel existed for it — the request itself refused, or a `-ERR` job
//! result with a cause the node raises itself (max-sessions, shutdown, a
//! gateway it lacks) and no channel event at all. Once a channel existed,
//! the node sent the INVITE, and whatever came back is the far end's: a
//! far-end `503` ends as `NORMAL_TEMPORARY_FAILURE` exactly like a node's
//! own transient failure (FreeSWITCH's sofia maps 400, 481, 500 and 503
//! to it; capture `arsgate-sessions/X1_unreachable_nosipp` shows the
//! CHANNEL_HANGUP with `variable_sip_term_status: 503` that comes before
//! the job's `-ERR`), so the cause alone cannot tell them apart — the
//! channel can.

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
    /// reported before, `channel` whether the switch reported any event
    /// of the call's channel at all (it existed, so the far end was
    /// invited).
    Ended {
        /// The hangup cause (or the originate's `-ERR` cause).
        cause: &'a HangupCause,
        /// Whether the far end showed any sign of life.
        progressed: bool,
        /// Whether a channel existed for the attempt.
        channel: bool,
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
            cause,
            progressed: false,
            channel: false,
        } if NODE_CAUSES.contains(cause) => Fault::Node,
        Attempt::Ended { .. } => Fault::Customer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(cause: &str, progressed: bool, channel: bool) -> Fault {
        classify(Attempt::Ended {
            cause: &HangupCause::from_name(cause),
            progressed,
            channel,
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
            assert_eq!(ended(cause, false, false), Fault::Node, "{cause}");
            assert_eq!(
                ended(cause, false, true),
                Fault::Customer,
                "{cause} once a channel existed (a far-end status)"
            );
            assert_eq!(
                ended(cause, true, true),
                Fault::Customer,
                "{cause} after ringing"
            );
            assert_eq!(
                ended(cause, true, false),
                Fault::Customer,
                "{cause} after ringing, channel events missed"
            );
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
            for (progressed, channel) in [(false, false), (false, true), (true, true)] {
                assert_eq!(
                    ended(cause, progressed, channel),
                    Fault::Customer,
                    "{cause} {progressed} {channel}"
                );
            }
        }
    }
}
