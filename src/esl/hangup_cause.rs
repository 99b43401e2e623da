//! Hangup causes as FreeSWITCH names them on the wire (`switch_types.h`),
//! with their numeric codes.
//!
//! Codes up to 127 are ITU-T Q.850 cause values; larger ones are
//! FreeSWITCH-internal and are reported as Q.850 16 (normal clearing) in
//! `variable_hangup_cause_q850`.

use std::fmt;
use std::str::FromStr;

macro_rules! hangup_causes {
    ($($variant:ident = ($name:literal, $code:literal),)*) => {
        /// Why a channel ended (or why an originate failed).
        ///
        /// Every cause FreeSWITCH defines has its own variant; a name this
        /// version does not know (FreeSWITCH adds causes in minor releases) is
        /// kept in [`HangupCause::Unknown`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HangupCause {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), ").")]
                $variant,
            )*
            /// A cause name this table does not list, as received.
            Unknown(String),
        }

        impl HangupCause {
            /// Every known cause, in code order.
            pub const ALL: &'static [HangupCause] = &[$(HangupCause::$variant,)*];

            /// The name FreeSWITCH uses on the wire (`NORMAL_CLEARING`).
            pub fn name(&self) -> &str {
                match self {
                    $(HangupCause::$variant => $name,)*
                    HangupCause::Unknown(name) => name,
                }
            }

            /// FreeSWITCH's numeric code for the cause; `None` for unknown causes.
            pub fn code(&self) -> Option<u16> {
                match self {
                    $(HangupCause::$variant => Some($code),)*
                    HangupCause::Unknown(_) => None,
                }
            }

            /// Looks a cause up by its exact wire name.
            pub fn from_name(name: &str) -> HangupCause {
                match name {
                    $($name => HangupCause::$variant,)*
                    other => HangupCause::Unknown(other.to_owned()),
                }
            }

            /// Looks a cause up by its numeric code.
            pub fn from_code(code: u16) -> Option<HangupCause> {
                match code {
                    $($code => Some(HangupCause::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

hangup_causes! {
    None = ("NONE", 0),
    UnallocatedNumber = ("UNALLOCATED_NUMBER", 1),
    NoRouteTransitNet = ("NO_ROUTE_TRANSIT_NET", 2),
    NoRouteDestination = ("NO_ROUTE_DESTINATION", 3),
    ChannelUnacceptable = ("CHANNEL_UNACCEPTABLE", 6),
    CallAwardedDelivered = ("CALL_AWARDED_DELIVERED", 7),
    NormalClearing = ("NORMAL_CLEARING", 16),
    UserBusy = ("USER_BUSY", 17),
    NoUserResponse = ("NO_USER_RESPONSE", 18),
    NoAnswer = ("NO_ANSWER", 19),
    SubscriberAbsent = ("SUBSCRIBER_ABSENT", 20),
    CallRejected = ("CALL_REJECTED", 21),
    NumberChanged = ("NUMBER_CHANGED", 22),
    RedirectionToNewDestination = ("REDIRECTION_TO_NEW_DESTINATION", 23),
    ExchangeRoutingError = ("EXCHANGE_ROUTING_ERROR", 25),
    DestinationOutOfOrder = ("DESTINATION_OUT_OF_ORDER", 27),
    InvalidNumberFormat = ("INVALID_NUMBER_FORMAT", 28),
    FacilityRejected = ("FACILITY_REJECTED", 29),
    ResponseToStatusEnquiry = ("RESPONSE_TO_STATUS_ENQUIRY", 30),
    NormalUnspecified = ("NORMAL_UNSPECIFIED", 31),
    NormalCircuitCongestion = ("NORMAL_CIRCUIT_CONGESTION", 34),
    NetworkOutOfOrder = ("NETWORK_OUT_OF_ORDER", 38),
    NormalTemporaryFailure = ("NORMAL_TEMPORARY_FAILURE", 41),
    SwitchCongestion = ("SWITCH_CONGESTION", 42),
    AccessInfoDiscarded = ("ACCESS_INFO_DISCARDED", 43),
    RequestedChanUnavail = ("REQUESTED_CHAN_UNAVAIL", 44),
    PreEmpted = ("PRE_EMPTED", 45),
    FacilityNotSubscribed = ("FACILITY_NOT_SUBSCRIBED", 50),
    OutgoingCallBarred = ("OUTGOING_CALL_BARRED", 52),
    IncomingCallBarred = ("INCOMING_CALL_BARRED", 54),
    BearercapabilityNotauth = ("BEARERCAPABILITY_NOTAUTH", 57),
    BearercapabilityNotavail = ("BEARERCAPABILITY_NOTAVAIL", 58),
    ServiceUnavailable = ("SERVICE_UNAVAILABLE", 63),
    BearercapabilityNotimpl = ("BEARERCAPABILITY_NOTIMPL", 65),
    ChanNotImplemented = ("CHAN_NOT_IMPLEMENTED", 66),
    FacilityNotImplemented = ("FACILITY_NOT_IMPLEMENTED", 69),
    ServiceNotImplemented = ("SERVICE_NOT_IMPLEMENTED", 79),
    InvalidCallReference = ("INVALID_CALL_REFERENCE", 81),
    IncompatibleDestination = ("INCOMPATIBLE_DESTINATION", 88),
    InvalidMsgUnspecified = ("INVALID_MSG_UNSPECIFIED", 95),
    MandatoryIeMissing = ("MANDATORY_IE_MISSING", 96),
    MessageTypeNonexist = ("MESSAGE_TYPE_NONEXIST", 97),
    WrongMessage = ("WRONG_MESSAGE", 98),
    IeNonexist = ("IE_NONEXIST", 99),
    InvalidIeContents = ("INVALID_IE_CONTENTS", 100),
    WrongCallState = ("WRONG_CALL_STATE", 101),
    RecoveryOnTimerExpire = ("RECOVERY_ON_TIMER_EXPIRE", 102),
    MandatoryIeLengthError = ("MANDATORY_IE_LENGTH_ERROR", 103),
    ProtocolError = ("PROTOCOL_ERROR", 111),
    Interworking = ("INTERWORKING", 127),
    Success = ("SUCCESS", 142),
    OriginatorCancel = ("ORIGINATOR_CANCEL", 487),
    Crash = ("CRASH", 700),
    SystemShutdown = ("SYSTEM_SHUTDOWN", 701),
    LoseRace = ("LOSE_RACE", 702),
    ManagerRequest = ("MANAGER_REQUEST", 703),
    BlindTransfer = ("BLIND_TRANSFER", 800),
    AttendedTransfer = ("ATTENDED_TRANSFER", 801),
    AllottedTimeout = ("ALLOTTED_TIMEOUT", 802),
    UserChallenge = ("USER_CHALLENGE", 803),
    MediaTimeout = ("MEDIA_TIMEOUT", 804),
    PickedOff = ("PICKED_OFF", 805),
    UserNotRegistered = ("USER_NOT_REGISTERED", 806),
    ProgressTimeout = ("PROGRESS_TIMEOUT", 807),
    InvalidGateway = ("INVALID_GATEWAY", 808),
    GatewayDown = ("GATEWAY_DOWN", 809),
    InvalidUrl = ("INVALID_URL", 810),
    InvalidProfile = ("INVALID_PROFILE", 811),
    NoPickup = ("NO_PICKUP", 812),
    SrtpReadError = ("SRTP_READ_ERROR", 813),
    Bowout = ("BOWOUT", 814),
    BusyEverywhere = ("BUSY_EVERYWHERE", 815),
    Decline = ("DECLINE", 816),
    DoesNotExistAnywhere = ("DOES_NOT_EXIST_ANYWHERE", 817),
    NotAcceptable = ("NOT_ACCEPTABLE", 818),
    Unwanted = ("UNWANTED", 819),
    NoIdentity = ("NO_IDENTITY", 820),
    BadIdentityInfo = ("BAD_IDENTITY_INFO", 821),
    UnsupportedCertificate = ("UNSUPPORTED_CERTIFICATE", 822),
    InvalidIdentity = ("INVALID_IDENTITY", 823),
    StaleDate = ("STALE_DATE", 824),
    RejectAll = ("REJECT_ALL", 825),
}

impl HangupCause {
    /// The Q.850 cause value FreeSWITCH reports for this cause
    /// (`variable_hangup_cause_q850`): the code itself up to 127, 16 for
    /// FreeSWITCH-internal causes and for unknown ones.
    pub fn q850(&self) -> u8 {
        match self.code() {
            Some(code) if code <= 127 => code as u8,
            _ => 16,
        }
    }

    /// Parses what `hangup-cause:`, the `hangup` app and `uuid_kill` accept: a
    /// cause name (case-insensitive) or its number. `None` when neither.
    pub fn parse_lenient(text: &str) -> Option<HangupCause> {
        let text = text.trim();
        if let Ok(code) = text.parse::<u16>() {
            return HangupCause::from_code(code);
        }
        match HangupCause::from_name(&text.to_ascii_uppercase()) {
            HangupCause::Unknown(_) => None,
            known => Some(known),
        }
    }
}

impl fmt::Display for HangupCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HangupCause {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(HangupCause::from_name(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_cause_of_switch_types_h() {
        assert_eq!(HangupCause::ALL.len(), 82);
        let mut codes: Vec<u16> = HangupCause::ALL
            .iter()
            .filter_map(HangupCause::code)
            .collect();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "codes are unique and sorted");
    }

    #[test]
    fn names_and_codes_round_trip() {
        for cause in HangupCause::ALL {
            assert_eq!(&HangupCause::from_name(cause.name()), cause);
            assert_eq!(
                HangupCause::from_code(cause.code().unwrap()).as_ref(),
                Some(cause)
            );
        }
    }

    #[test]
    fn q850_values() {
        assert_eq!(HangupCause::UserBusy.q850(), 17);
        assert_eq!(HangupCause::NormalClearing.q850(), 16);
        assert_eq!(HangupCause::RecoveryOnTimerExpire.q850(), 102);
        assert_eq!(HangupCause::AllottedTimeout.q850(), 16);
        assert_eq!(HangupCause::OriginatorCancel.code(), Some(487));
        assert_eq!(HangupCause::Unknown("NEW_CAUSE".into()).q850(), 16);
    }

    #[test]
    fn unknown_names_are_kept() {
        let cause: HangupCause = "SOMETHING_NEW".parse().unwrap();
        assert_eq!(cause, HangupCause::Unknown("SOMETHING_NEW".into()));
        assert_eq!(cause.to_string(), "SOMETHING_NEW");
        assert_eq!(cause.code(), None);
    }

    #[test]
    fn lenient_parsing_accepts_numbers_and_any_case() {
        assert_eq!(
            HangupCause::parse_lenient("17"),
            Some(HangupCause::UserBusy)
        );
        assert_eq!(
            HangupCause::parse_lenient("user_busy"),
            Some(HangupCause::UserBusy)
        );
        assert_eq!(HangupCause::parse_lenient("4242"), None);
        assert_eq!(HangupCause::parse_lenient("bogus"), None);
    }
}
