//! How a verification call ends: one outcome with a reason, and the table
//! that turns every FreeSWITCH hangup cause into one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::esl::HangupCause;

/// The final outcome of a verification call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The customer keyed the right code or PIN.
    Verified,
    /// The customer kept keying wrong input until the tries ran out.
    WrongInput,
    /// The customer answered but keyed nothing.
    NoInput,
    /// The customer agreed (consent scenario).
    Consented,
    /// The customer declined (consent scenario).
    Declined,
    /// The call did what it had to (code read out); the check happens on the web.
    Completed,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The callee or the network refused the call.
    Rejected,
    /// The number does not exist or is malformed.
    InvalidNumber,
    /// The network or the switch failed.
    NetworkError,
    /// The customer hung up before the scenario reached an outcome.
    CustomerHungUp,
    /// The merchant canceled the verification.
    Canceled,
    /// The call ran past its deadline.
    Timeout,
    /// arsgate or the switch failed in a way that fits no other outcome.
    Error,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 15] = [
        Outcome::Verified,
        Outcome::WrongInput,
        Outcome::NoInput,
        Outcome::Consented,
        Outcome::Declined,
        Outcome::Completed,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::Rejected,
        Outcome::InvalidNumber,
        Outcome::NetworkError,
        Outcome::CustomerHungUp,
        Outcome::Canceled,
        Outcome::Timeout,
        Outcome::Error,
    ];

    /// The outcome's name on the wire (`wrong_input`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::WrongInput => "wrong_input",
            Outcome::NoInput => "no_input",
            Outcome::Consented => "consented",
            Outcome::Declined => "declined",
            Outcome::Completed => "completed",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Rejected => "rejected",
            Outcome::InvalidNumber => "invalid_number",
            Outcome::NetworkError => "network_error",
            Outcome::CustomerHungUp => "customer_hung_up",
            Outcome::Canceled => "canceled",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }

    /// Whether a scenario may end with this outcome by itself (`result:`);
    /// the others come from what happened to the call.
    pub fn is_scenario_result(self) -> bool {
        matches!(
            self,
            Outcome::Verified
                | Outcome::WrongInput
                | Outcome::NoInput
                | Outcome::Consented
                | Outcome::Declined
                | Outcome::Completed
        )
    }

    /// Whether the outcome is billable: the call reached the scenario's end.
    pub fn reached_scenario_end(self) -> bool {
        self.is_scenario_result()
    }

    /// The outcome of a call that ended with `cause` before the scenario
    /// decided anything. `answered` tells whether the far end had answered:
    /// a normal clearing after answer is the customer hanging up, before
    /// answer it is a network refusal.
    pub fn from_hangup(cause: &HangupCause, answered: bool) -> Outcome {
        use HangupCause as C;
        match cause {
            C::NoAnswer
            | C::NoUserResponse
            | C::ProgressTimeout
            | C::NoPickup
            | C::SubscriberAbsent => Outcome::NoAnswer,
            C::UserBusy | C::BusyEverywhere => Outcome::Busy,
            C::CallRejected
            | C::Decline
            | C::OutgoingCallBarred
            | C::IncomingCallBarred
            | C::FacilityRejected
            | C::Unwanted
            | C::RejectAll
            | C::NotAcceptable
            | C::NoIdentity
            | C::BadIdentityInfo
            | C::UnsupportedCertificate
            | C::InvalidIdentity
            | C::StaleDate => Outcome::Rejected,
            C::UnallocatedNumber
            | C::NoRouteTransitNet
            | C::NoRouteDestination
            | C::NumberChanged
            | C::RedirectionToNewDestination
            | C::InvalidNumberFormat
            | C::DoesNotExistAnywhere
            | C::UserNotRegistered => Outcome::InvalidNumber,
            C::NormalClearing | C::NormalUnspecified | C::Success if answered => {
                Outcome::CustomerHungUp
            }
            C::OriginatorCancel | C::ManagerRequest | C::LoseRace | C::PickedOff => {
                Outcome::Canceled
            }
            // The call's own deadline; MEDIA_TIMEOUT (the audio stopped) is
            // the network's failure.
            C::AllottedTimeout => Outcome::Timeout,
            C::Crash => Outcome::Error,
            _ => Outcome::NetworkError,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hangup_cause_maps_to_an_outcome_the_call_could_have() {
        for cause in HangupCause::ALL {
            for answered in [false, true] {
                let outcome = Outcome::from_hangup(cause, answered);
                assert!(
                    !outcome.is_scenario_result(),
                    "{cause} must not look like a scenario decision"
                );
            }
        }
    }

    #[test]
    fn the_common_failures_map_as_a_merchant_expects() {
        let cases = [
            (HangupCause::NoAnswer, false, Outcome::NoAnswer),
            (HangupCause::NoUserResponse, false, Outcome::NoAnswer),
            (HangupCause::UserBusy, false, Outcome::Busy),
            (HangupCause::CallRejected, false, Outcome::Rejected),
            (
                HangupCause::UnallocatedNumber,
                false,
                Outcome::InvalidNumber,
            ),
            (
                HangupCause::InvalidNumberFormat,
                false,
                Outcome::InvalidNumber,
            ),
            (
                HangupCause::NormalTemporaryFailure,
                false,
                Outcome::NetworkError,
            ),
            (
                HangupCause::RecoveryOnTimerExpire,
                false,
                Outcome::NetworkError,
            ),
            (
                HangupCause::DestinationOutOfOrder,
                false,
                Outcome::NetworkError,
            ),
            (HangupCause::NormalClearing, true, Outcome::CustomerHungUp),
            (HangupCause::NormalClearing, false, Outcome::NetworkError),
            (HangupCause::AllottedTimeout, true, Outcome::Timeout),
            (HangupCause::OriginatorCancel, false, Outcome::Canceled),
            (
                HangupCause::Unknown("FUTURE".into()),
                true,
                Outcome::NetworkError,
            ),
        ];
        for (cause, answered, outcome) in cases {
            assert_eq!(
                Outcome::from_hangup(&cause, answered),
                outcome,
                "{cause} answered={answered}"
            );
        }
    }

    /// Every cause FreeSWITCH defines, in code order, with the outcome of a
    /// call it ends before and after the answer. Written out in full so
    /// that a change to any mapping, or a cause added to the ESL table,
    /// fails here and is decided on purpose.
    #[test]
    fn every_hangup_cause_has_its_pinned_outcome() {
        use HangupCause as C;
        use Outcome as O;
        // (cause, not answered, answered)
        #[rustfmt::skip]
        let table: &[(HangupCause, Outcome, Outcome)] = &[
            (C::None,                        O::NetworkError,  O::NetworkError),
            (C::UnallocatedNumber,           O::InvalidNumber, O::InvalidNumber),
            (C::NoRouteTransitNet,           O::InvalidNumber, O::InvalidNumber),
            (C::NoRouteDestination,          O::InvalidNumber, O::InvalidNumber),
            (C::ChannelUnacceptable,         O::NetworkError,  O::NetworkError),
            (C::CallAwardedDelivered,        O::NetworkError,  O::NetworkError),
            (C::NormalClearing,              O::NetworkError,  O::CustomerHungUp),
            (C::UserBusy,                    O::Busy,          O::Busy),
            (C::NoUserResponse,              O::NoAnswer,      O::NoAnswer),
            (C::NoAnswer,                    O::NoAnswer,      O::NoAnswer),
            (C::SubscriberAbsent,            O::NoAnswer,      O::NoAnswer),
            (C::CallRejected,                O::Rejected,      O::Rejected),
            (C::NumberChanged,               O::InvalidNumber, O::InvalidNumber),
            (C::RedirectionToNewDestination, O::InvalidNumber, O::InvalidNumber),
            (C::ExchangeRoutingError,        O::NetworkError,  O::NetworkError),
            (C::DestinationOutOfOrder,       O::NetworkError,  O::NetworkError),
            (C::InvalidNumberFormat,         O::InvalidNumber, O::InvalidNumber),
            (C::FacilityRejected,            O::Rejected,      O::Rejected),
            (C::ResponseToStatusEnquiry,     O::NetworkError,  O::NetworkError),
            (C::NormalUnspecified,           O::NetworkError,  O::CustomerHungUp),
            (C::NormalCircuitCongestion,     O::NetworkError,  O::NetworkError),
            (C::NetworkOutOfOrder,           O::NetworkError,  O::NetworkError),
            (C::NormalTemporaryFailure,      O::NetworkError,  O::NetworkError),
            (C::SwitchCongestion,            O::NetworkError,  O::NetworkError),
            (C::AccessInfoDiscarded,         O::NetworkError,  O::NetworkError),
            (C::RequestedChanUnavail,        O::NetworkError,  O::NetworkError),
            (C::PreEmpted,                   O::NetworkError,  O::NetworkError),
            (C::FacilityNotSubscribed,       O::NetworkError,  O::NetworkError),
            (C::OutgoingCallBarred,          O::Rejected,      O::Rejected),
            (C::IncomingCallBarred,          O::Rejected,      O::Rejected),
            (C::BearercapabilityNotauth,     O::NetworkError,  O::NetworkError),
            (C::BearercapabilityNotavail,    O::NetworkError,  O::NetworkError),
            (C::ServiceUnavailable,          O::NetworkError,  O::NetworkError),
            (C::BearercapabilityNotimpl,     O::NetworkError,  O::NetworkError),
            (C::ChanNotImplemented,          O::NetworkError,  O::NetworkError),
            (C::FacilityNotImplemented,      O::NetworkError,  O::NetworkError),
            (C::ServiceNotImplemented,       O::NetworkError,  O::NetworkError),
            (C::InvalidCallReference,        O::NetworkError,  O::NetworkError),
            (C::IncompatibleDestination,     O::NetworkError,  O::NetworkError),
            (C::InvalidMsgUnspecified,       O::NetworkError,  O::NetworkError),
            (C::MandatoryIeMissing,          O::NetworkError,  O::NetworkError),
            (C::MessageTypeNonexist,         O::NetworkError,  O::NetworkError),
            (C::WrongMessage,                O::NetworkError,  O::NetworkError),
            (C::IeNonexist,                  O::NetworkError,  O::NetworkError),
            (C::InvalidIeContents,           O::NetworkError,  O::NetworkError),
            (C::WrongCallState,              O::NetworkError,  O::NetworkError),
            (C::RecoveryOnTimerExpire,       O::NetworkError,  O::NetworkError),
            (C::MandatoryIeLengthError,      O::NetworkError,  O::NetworkError),
            (C::ProtocolError,               O::NetworkError,  O::NetworkError),
            (C::Interworking,                O::NetworkError,  O::NetworkError),
            (C::Success,                     O::NetworkError,  O::CustomerHungUp),
            (C::OriginatorCancel,            O::Canceled,      O::Canceled),
            (C::Crash,                       O::Error,         O::Error),
            (C::SystemShutdown,              O::NetworkError,  O::NetworkError),
            (C::LoseRace,                    O::Canceled,      O::Canceled),
            (C::ManagerRequest,              O::Canceled,      O::Canceled),
            (C::BlindTransfer,               O::NetworkError,  O::NetworkError),
            (C::AttendedTransfer,            O::NetworkError,  O::NetworkError),
            (C::AllottedTimeout,             O::Timeout,       O::Timeout),
            (C::UserChallenge,               O::NetworkError,  O::NetworkError),
            (C::MediaTimeout,                O::NetworkError,  O::NetworkError),
            (C::PickedOff,                   O::Canceled,      O::Canceled),
            (C::UserNotRegistered,           O::InvalidNumber, O::InvalidNumber),
            (C::ProgressTimeout,             O::NoAnswer,      O::NoAnswer),
            (C::InvalidGateway,              O::NetworkError,  O::NetworkError),
            (C::GatewayDown,                 O::NetworkError,  O::NetworkError),
            (C::InvalidUrl,                  O::NetworkError,  O::NetworkError),
            (C::InvalidProfile,              O::NetworkError,  O::NetworkError),
            (C::NoPickup,                    O::NoAnswer,      O::NoAnswer),
            (C::SrtpReadError,               O::NetworkError,  O::NetworkError),
            (C::Bowout,                      O::NetworkError,  O::NetworkError),
            (C::BusyEverywhere,              O::Busy,          O::Busy),
            (C::Decline,                     O::Rejected,      O::Rejected),
            (C::DoesNotExistAnywhere,        O::InvalidNumber, O::InvalidNumber),
            (C::NotAcceptable,               O::Rejected,      O::Rejected),
            (C::Unwanted,                    O::Rejected,      O::Rejected),
            (C::NoIdentity,                  O::Rejected,      O::Rejected),
            (C::BadIdentityInfo,             O::Rejected,      O::Rejected),
            (C::UnsupportedCertificate,      O::Rejected,      O::Rejected),
            (C::InvalidIdentity,             O::Rejected,      O::Rejected),
            (C::StaleDate,                   O::Rejected,      O::Rejected),
            (C::RejectAll,                   O::Rejected,      O::Rejected),
        ];
        let listed: Vec<&HangupCause> = table.iter().map(|(cause, _, _)| cause).collect();
        let all: Vec<&HangupCause> = HangupCause::ALL.iter().collect();
        assert_eq!(
            listed, all,
            "the table lists every cause once, in code order"
        );
        let mut wrong = Vec::new();
        for (cause, before, after) in table {
            for (answered, expected) in [(false, before), (true, after)] {
                let got = Outcome::from_hangup(cause, answered);
                if got != *expected {
                    wrong.push(format!(
                        "{cause} answered={answered}: {got}, pinned {expected}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // A cause a newer FreeSWITCH adds is a network error until mapped.
        for answered in [false, true] {
            assert_eq!(
                Outcome::from_hangup(&C::Unknown("SOMETHING_NEW".into()), answered),
                O::NetworkError
            );
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for outcome in Outcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome);
        }
    }
}
