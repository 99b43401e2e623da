//! One channel's state as FreeSWITCH reports it: running state, call state,
//! answer state, the caller profile and the channel variables, serialized
//! into events as `switch_channel_event_set_data` does.

use crate::esl::{Event, HangupCause};

/// The channel's running state (`Channel-State` / `-State-Number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Init,
    Routing,
    Execute,
    ConsumeMedia,
    Hangup,
    Reporting,
    Destroy,
    None,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Init => "CS_INIT",
            RunState::Routing => "CS_ROUTING",
            RunState::Execute => "CS_EXECUTE",
            RunState::ConsumeMedia => "CS_CONSUME_MEDIA",
            RunState::Hangup => "CS_HANGUP",
            RunState::Reporting => "CS_REPORTING",
            RunState::Destroy => "CS_DESTROY",
            RunState::None => "CS_NONE",
        }
    }

    /// The number FreeSWITCH gives the state (`switch_channel_state_t`).
    pub fn number(self) -> u8 {
        match self {
            RunState::Init => 1,
            RunState::Routing => 2,
            RunState::Execute => 4,
            RunState::ConsumeMedia => 7,
            RunState::Hangup => 10,
            RunState::Reporting => 11,
            RunState::Destroy => 12,
            RunState::None => 13,
        }
    }
}

/// The call state (`Channel-Call-State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    Down,
    Ringing,
    Early,
    Active,
    Hangup,
}

impl CallState {
    pub fn name(self) -> &'static str {
        match self {
            CallState::Down => "DOWN",
            CallState::Ringing => "RINGING",
            CallState::Early => "EARLY",
            CallState::Active => "ACTIVE",
            CallState::Hangup => "HANGUP",
        }
    }

    /// The number FreeSWITCH gives the call state (`switch_channel_callstate_t`).
    pub fn number(self) -> u8 {
        match self {
            CallState::Down => 0,
            CallState::Ringing => 2,
            CallState::Early => 3,
            CallState::Active => 4,
            CallState::Hangup => 7,
        }
    }
}

/// Timestamps of the caller profile, microseconds (0 = not yet).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub profile_created: u64,
    pub created: u64,
    pub answered: u64,
    pub progress: u64,
    pub progress_media: u64,
    /// Set by the hangup state, not by the hangup itself.
    pub hangup: u64,
}

/// The caller profile (`Caller-*` headers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Profile {
    pub logical_direction: &'static str,
    pub dialplan: String,
    pub caller_id_name: String,
    pub caller_id_number: String,
    pub orig_caller_id_number: String,
    pub callee_id_name: String,
    pub callee_id_number: String,
    pub network_addr: String,
    pub ani: String,
    pub destination_number: String,
    pub source: &'static str,
    pub transfer_source: String,
    pub context: String,
    pub rdnis: String,
    pub index: u32,
    pub times: Times,
}

/// A channel.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub uuid: String,
    pub name: String,
    /// The state the state machine is running (`Channel-State`).
    pub state: RunState,
    /// The state last asked for (`Channel-State-Number`): FreeSWITCH
    /// reports the number of the state it is about to enter, so a hangup
    /// shows `CS_EXECUTE` with 10 until the state machine gets there.
    pub requested: RunState,
    pub call_state: CallState,
    pub answer_state: &'static str,
    pub hit_dialplan: bool,
    pub hangup_cause: Option<HangupCause>,
    pub codec: bool,
    pub profile: Profile,
    vars: Vec<(String, String)>,
}

impl Channel {
    /// A new outbound channel named `name`.
    pub fn new(uuid: &str, name: &str, profile: Profile) -> Channel {
        Channel {
            uuid: uuid.to_owned(),
            name: name.to_owned(),
            state: RunState::None,
            requested: RunState::None,
            call_state: CallState::Down,
            answer_state: "ringing",
            hit_dialplan: false,
            hangup_cause: None,
            codec: false,
            profile,
            vars: Vec::new(),
        }
    }

    /// The state machine runs `state` (name and number together).
    pub fn set_state(&mut self, state: RunState) {
        self.state = state;
        self.requested = state;
    }

    /// Asks the state machine for `state`; only the number shows it yet.
    pub fn request_state(&mut self, state: RunState) {
        self.requested = state;
    }

    /// Sets a channel variable. As in FreeSWITCH, setting an existing
    /// variable moves it to the end, and an empty value removes it.
    pub fn set_var(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        self.vars.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.vars.push((name.to_owned(), value));
        }
    }

    /// Pushes a value onto a variable, as `SWITCH_STACK_PUSH` does: a
    /// variable that exists becomes (or grows) an `ARRAY::a|:b` in place,
    /// keeping its position; a new one goes last.
    pub fn push_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => {
                let array = old.strip_prefix("ARRAY::").unwrap_or(old);
                *old = format!("ARRAY::{array}|:{value}");
            }
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes a channel variable.
    pub fn unset_var(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    /// A channel variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The values of every variable whose name starts with `prefix` (in any
    /// case), in the channel's order.
    pub fn vars_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.vars
            .iter()
            .filter(|(n, _)| {
                n.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Appends the channel data to an event: state headers, the caller
    /// profile and, when `with_variables`, every `variable_*`.
    pub fn add_data(&self, event: &mut Event, with_variables: bool) {
        event.push("Channel-State", self.state.name());
        event.push("Channel-Call-State", self.call_state.name());
        event.push("Channel-State-Number", self.requested.number().to_string());
        event.push("Channel-Name", self.name.as_str());
        event.push("Unique-ID", self.uuid.as_str());
        event.push("Call-Direction", "outbound");
        event.push("Presence-Call-Direction", "outbound");
        event.push(
            "Channel-HIT-Dialplan",
            if self.hit_dialplan { "true" } else { "false" },
        );
        event.push(
            "Channel-Call-UUID",
            self.var("call_uuid").unwrap_or(&self.uuid),
        );
        event.push("Answer-State", self.answer_state);
        if let Some(cause) = &self.hangup_cause {
            event.push("Hangup-Cause", cause.name());
        }
        if self.codec {
            for (name, value) in CODEC_HEADERS {
                event.push(*name, *value);
            }
        }
        self.add_profile(event);
        if with_variables {
            for (name, value) in &self.vars {
                event.push(format!("variable_{name}"), value.as_str());
            }
        }
    }

    fn add_profile(&self, event: &mut Event) {
        let p = &self.profile;
        let push = |event: &mut Event, name: &str, value: &str| {
            event.push(format!("Caller-{name}"), value)
        };
        // Optional fields appear only once they hold something.
        let push_set = |event: &mut Event, name: &str, value: &str| {
            if !value.is_empty() {
                push(event, name, value);
            }
        };
        push(event, "Direction", "outbound");
        push(event, "Logical-Direction", p.logical_direction);
        push_set(event, "Dialplan", &p.dialplan);
        push_set(event, "Caller-ID-Name", &p.caller_id_name);
        push(event, "Caller-ID-Number", &p.caller_id_number);
        push(event, "Orig-Caller-ID-Number", &p.orig_caller_id_number);
        push_set(event, "Callee-ID-Name", &p.callee_id_name);
        push(event, "Callee-ID-Number", &p.callee_id_number);
        push_set(event, "Network-Addr", &p.network_addr);
        push(event, "ANI", &p.ani);
        push(event, "Destination-Number", &p.destination_number);
        push(event, "Unique-ID", &self.uuid);
        push(event, "Source", p.source);
        push_set(event, "Transfer-Source", &p.transfer_source);
        push(event, "Context", &p.context);
        push_set(event, "RDNIS", &p.rdnis);
        push(event, "Channel-Name", &self.name);
        push(event, "Profile-Index", &p.index.to_string());
        let t = &p.times;
        for (name, value) in [
            ("Profile-Created-Time", t.profile_created),
            ("Channel-Created-Time", t.created),
            ("Channel-Answered-Time", t.answered),
            ("Channel-Progress-Time", t.progress),
            ("Channel-Progress-Media-Time", t.progress_media),
            ("Channel-Hangup-Time", t.hangup),
            // Set on the profile a transfer leaves, never on the current one.
            ("Channel-Transfer-Time", 0),
            ("Channel-Resurrect-Time", 0),
            ("Channel-Bridged-Time", 0),
            ("Channel-Last-Hold", 0),
            ("Channel-Hold-Accum", 0),
        ] {
            push(event, name, &value.to_string());
        }
        push(event, "Screen-Bit", "true");
        push(event, "Privacy-Hide-Name", "false");
        push(event, "Privacy-Hide-Number", "false");
    }
}

/// The codec headers of a PCMU call, present once media is set up.
pub(crate) const CODEC_HEADERS: &[(&str, &str)] = &[
    ("Channel-Read-Codec-Name", "PCMU"),
    ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "64000"),
    ("Channel-Write-Codec-Name", "PCMU"),
    ("Channel-Write-Codec-Rate", "8000"),
    ("Channel-Write-Codec-Bit-Rate", "64000"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_variable_again_moves_it_last_and_empty_removes_it() {
        let mut channel = Channel::new("u1", "sofia/internal/1000", Profile::default());
        channel.set_var("a", "1");
        channel.set_var("b", "2");
        channel.set_var("a", "3");
        let mut event = Event::empty();
        channel.add_data(&mut event, true);
        let vars: Vec<String> = event
            .headers()
            .filter(|(n, _)| n.starts_with("variable_"))
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(vars, ["variable_b=2", "variable_a=3"]);
        channel.set_var("b", "");
        assert_eq!(channel.var("b"), None);
    }

    #[test]
    fn pushing_onto_a_variable_makes_an_array_in_place() {
        let mut channel = Channel::new("u1", "sofia/internal/1000", Profile::default());
        channel.push_var("h", "x");
        channel.set_var("later", "1");
        channel.push_var("h", "y");
        channel.push_var("h", "z");
        assert_eq!(channel.var("h"), Some("ARRAY::x|:y|:z"));
        let mut event = Event::empty();
        channel.add_data(&mut event, true);
        let names: Vec<String> = event
            .headers()
            .filter(|(n, _)| n.starts_with("variable_"))
            .map(|(n, _)| n.into_owned())
            .collect();
        assert_eq!(names, ["variable_h", "variable_later"]);
    }

    #[test]
    fn optional_profile_fields_appear_only_when_set() {
        let mut channel = Channel::new("u1", "sofia/internal/1000", Profile::default());
        let mut event = Event::empty();
        channel.add_data(&mut event, false);
        assert!(event.header("Caller-Caller-ID-Name").is_none());
        assert!(event.header("Caller-Network-Addr").is_none());
        channel.profile.caller_id_name = "Acme".to_owned();
        channel.hangup_cause = Some(HangupCause::UserBusy);
        let mut event = Event::empty();
        channel.add_data(&mut event, false);
        assert_eq!(
            event.header("Caller-Caller-ID-Name").as_deref(),
            Some("Acme")
        );
        assert_eq!(event.header("Hangup-Cause").as_deref(), Some("USER_BUSY"));
    }
}
