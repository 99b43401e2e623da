//! Event names as FreeSWITCH knows them (`EVENT_NAMES` in `switch_event.c`).

use std::fmt;

macro_rules! event_names {
    ($($variant:ident = $name:literal,)*) => {
        /// The name of an event type, as used in `Event-Name` and in
        /// `event`/`nixevent` subscriptions.
        ///
        /// `ALL` is a subscription keyword, not a real event. Names this table
        /// does not list are kept in [`EventName::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventName {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
            /// A name this table does not list, as received.
            Other(String),
        }

        impl EventName {
            /// Every name FreeSWITCH defines, in its own order (`ALL` last).
            pub const KNOWN: &'static [EventName] = &[$(EventName::$variant,)*];

            /// The wire spelling (`CHANNEL_ANSWER`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(EventName::$variant => $name,)*
                    EventName::Other(name) => name,
                }
            }

            fn from_exact(name: &str) -> Option<EventName> {
                match name {
                    $($name => Some(EventName::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_names! {
    Custom = "CUSTOM",
    Clone = "CLONE",
    ChannelCreate = "CHANNEL_CREATE",
    ChannelDestroy = "CHANNEL_DESTROY",
    ChannelState = "CHANNEL_STATE",
    ChannelCallstate = "CHANNEL_CALLSTATE",
    ChannelAnswer = "CHANNEL_ANSWER",
    ChannelHangup = "CHANNEL_HANGUP",
    ChannelHangupComplete = "CHANNEL_HANGUP_COMPLETE",
    ChannelExecute = "CHANNEL_EXECUTE",
    ChannelExecuteComplete = "CHANNEL_EXECUTE_COMPLETE",
    ChannelHold = "CHANNEL_HOLD",
    ChannelUnhold = "CHANNEL_UNHOLD",
    ChannelBridge = "CHANNEL_BRIDGE",
    ChannelUnbridge = "CHANNEL_UNBRIDGE",
    ChannelProgress = "CHANNEL_PROGRESS",
    ChannelProgressMedia = "CHANNEL_PROGRESS_MEDIA",
    ChannelOutgoing = "CHANNEL_OUTGOING",
    ChannelPark = "CHANNEL_PARK",
    ChannelUnpark = "CHANNEL_UNPARK",
    ChannelApplication = "CHANNEL_APPLICATION",
    ChannelOriginate = "CHANNEL_ORIGINATE",
    ChannelUuid = "CHANNEL_UUID",
    Api = "API",
    Log = "LOG",
    InboundChan = "INBOUND_CHAN",
    OutboundChan = "OUTBOUND_CHAN",
    Startup = "STARTUP",
    Shutdown = "SHUTDOWN",
    Publish = "PUBLISH",
    Unpublish = "UNPUBLISH",
    Talk = "TALK",
    Notalk = "NOTALK",
    SessionCrash = "SESSION_CRASH",
    ModuleLoad = "MODULE_LOAD",
    ModuleUnload = "MODULE_UNLOAD",
    Dtmf = "DTMF",
    Message = "MESSAGE",
    PresenceIn = "PRESENCE_IN",
    NotifyIn = "NOTIFY_IN",
    PresenceOut = "PRESENCE_OUT",
    PresenceProbe = "PRESENCE_PROBE",
    MessageWaiting = "MESSAGE_WAITING",
    MessageQuery = "MESSAGE_QUERY",
    Roster = "ROSTER",
    Codec = "CODEC",
    BackgroundJob = "BACKGROUND_JOB",
    DetectedSpeech = "DETECTED_SPEECH",
    DetectedTone = "DETECTED_TONE",
    PrivateCommand = "PRIVATE_COMMAND",
    Heartbeat = "HEARTBEAT",
    Trap = "TRAP",
    AddSchedule = "ADD_SCHEDULE",
    DelSchedule = "DEL_SCHEDULE",
    ExeSchedule = "EXE_SCHEDULE",
    ReSchedule = "RE_SCHEDULE",
    Reloadxml = "RELOADXML",
    Notify = "NOTIFY",
    PhoneFeature = "PHONE_FEATURE",
    PhoneFeatureSubscribe = "PHONE_FEATURE_SUBSCRIBE",
    SendMessage = "SEND_MESSAGE",
    RecvMessage = "RECV_MESSAGE",
    RequestParams = "REQUEST_PARAMS",
    ChannelData = "CHANNEL_DATA",
    General = "GENERAL",
    Command = "COMMAND",
    SessionHeartbeat = "SESSION_HEARTBEAT",
    ClientDisconnected = "CLIENT_DISCONNECTED",
    ServerDisconnected = "SERVER_DISCONNECTED",
    SendInfo = "SEND_INFO",
    RecvInfo = "RECV_INFO",
    RecvRtcpMessage = "RECV_RTCP_MESSAGE",
    SendRtcpMessage = "SEND_RTCP_MESSAGE",
    CallSecure = "CALL_SECURE",
    Nat = "NAT",
    RecordStart = "RECORD_START",
    RecordStop = "RECORD_STOP",
    PlaybackStart = "PLAYBACK_START",
    PlaybackStop = "PLAYBACK_STOP",
    CallUpdate = "CALL_UPDATE",
    Failure = "FAILURE",
    SocketData = "SOCKET_DATA",
    MediaBugStart = "MEDIA_BUG_START",
    MediaBugStop = "MEDIA_BUG_STOP",
    ConferenceDataQuery = "CONFERENCE_DATA_QUERY",
    ConferenceData = "CONFERENCE_DATA",
    CallSetupReq = "CALL_SETUP_REQ",
    CallSetupResult = "CALL_SETUP_RESULT",
    CallDetail = "CALL_DETAIL",
    DeviceState = "DEVICE_STATE",
    Text = "TEXT",
    ShutdownRequested = "SHUTDOWN_REQUESTED",
    CertReload = "CERT_RELOAD",
    All = "ALL",
}

impl EventName {
    /// Interprets an event name from an `Event-Name` header (exact spelling);
    /// unknown names are kept as [`EventName::Other`].
    pub fn from_wire(name: &str) -> EventName {
        EventName::from_exact(name).unwrap_or_else(|| EventName::Other(name.to_owned()))
    }

    /// Interprets a name the way `event`/`nixevent` do: case-insensitive, with
    /// an optional `SWITCH_EVENT_` prefix. `None` for names FreeSWITCH does not
    /// know (it ignores those in a subscription).
    pub fn from_subscription(word: &str) -> Option<EventName> {
        let upper = word.to_ascii_uppercase();
        let bare = upper.strip_prefix("SWITCH_EVENT_").unwrap_or(&upper);
        EventName::from_exact(bare)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_every_freeswitch_event_name() {
        assert_eq!(EventName::KNOWN.len(), 94);
        for name in EventName::KNOWN {
            assert_eq!(&EventName::from_wire(name.as_str()), name);
        }
    }

    #[test]
    fn subscription_words_are_case_insensitive_and_may_carry_the_prefix() {
        assert_eq!(
            EventName::from_subscription("channel_answer"),
            Some(EventName::ChannelAnswer)
        );
        assert_eq!(
            EventName::from_subscription("SWITCH_EVENT_DTMF"),
            Some(EventName::Dtmf)
        );
        assert_eq!(EventName::from_subscription("NOT_AN_EVENT"), None);
    }

    #[test]
    fn unknown_wire_names_are_kept() {
        assert_eq!(
            EventName::from_wire("FUTURE_EVENT"),
            EventName::Other("FUTURE_EVENT".into())
        );
        assert_eq!(
            EventName::from_wire("FUTURE_EVENT").to_string(),
            "FUTURE_EVENT"
        );
    }
}
