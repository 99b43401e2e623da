//! Which events one connection receives: its `event`/`nixevent`
//! subscriptions, CUSTOM subclasses, `filter`s and `myevents`, decided the
//! way mod_event_socket decides them when an event is queued.

use std::collections::HashSet;

use regex::Regex;

use crate::esl::{Event, EventFormat, EventName};

/// One connection's event selection.
#[derive(Debug, Default)]
pub(crate) struct Subscription {
    /// Whether `event`/`nixevent` enabled delivery at all.
    enabled: bool,
    /// `event ... ALL` (cleared by a later `nixevent` of one name, which
    /// turns into every name but that one).
    all: bool,
    names: HashSet<String>,
    /// CUSTOM subclasses subscribed (every one after `ALL`).
    subclasses: HashSet<String>,
    all_subclasses: bool,
    /// Filters in the order they were added: header name and raw value.
    filters: Vec<(String, String)>,
    /// `myevents <uuid>`: only that channel's events.
    pub myevents: Option<String>,
    /// The serialization this connection asked for.
    pub format: EventFormat,
}

impl Subscription {
    /// Applies `event [<format>] <names...>`; returns FreeSWITCH's reply.
    pub fn subscribe(&mut self, args: &str) -> String {
        let mut key_count = 0;
        let mut custom = false;
        for (index, word) in args.split(' ').filter(|w| !w.is_empty()).enumerate() {
            if index == 0
                && let Some(format) = EventFormat::parse(word)
            {
                self.format = format;
                continue;
            }
            if custom {
                self.subclasses.insert(word.to_owned());
                continue;
            }
            let Some(name) = EventName::from_subscription(word) else {
                continue;
            };
            key_count += 1;
            match name {
                EventName::All => {
                    self.all = true;
                    self.all_subclasses = true;
                }
                EventName::Custom => {
                    custom = true;
                    self.names.insert(name.as_str().to_owned());
                }
                other => {
                    self.names.insert(other.as_str().to_owned());
                }
            }
        }
        if key_count == 0 {
            return "-ERR no keywords supplied".to_owned();
        }
        self.enabled = true;
        format!("+OK event listener enabled {}", self.format)
    }

    /// Applies `myevents`: exactly the events of one channel's life that
    /// mod_event_socket subscribes a controlling connection to, for `uuid`
    /// (`None`: an unknown uuid given without a format, which FreeSWITCH
    /// accepts and then matches every channel).
    pub fn control(&mut self, uuid: Option<String>, format: Option<EventFormat>) {
        const MYEVENTS: &[EventName] = &[
            EventName::ChannelAnswer,
            EventName::ChannelApplication,
            EventName::ChannelBridge,
            EventName::ChannelCreate,
            EventName::ChannelData,
            EventName::ChannelDestroy,
            EventName::ChannelExecute,
            EventName::ChannelExecuteComplete,
            EventName::ChannelHangup,
            EventName::ChannelHangupComplete,
            EventName::ChannelOriginate,
            EventName::ChannelUuid,
            EventName::ChannelOutgoing,
            EventName::ChannelPark,
            EventName::ChannelProgress,
            EventName::ChannelProgressMedia,
            EventName::ChannelState,
            EventName::ChannelUnbridge,
            EventName::ChannelUnpark,
            EventName::DetectedSpeech,
            EventName::Dtmf,
            EventName::Notalk,
            EventName::Talk,
        ];
        self.enabled = true;
        self.names
            .extend(MYEVENTS.iter().map(|n| n.as_str().to_owned()));
        self.myevents = uuid;
        if let Some(format) = format {
            self.format = format;
        }
    }

    /// Applies `nixevent <names...>`; returns FreeSWITCH's reply.
    pub fn unsubscribe(&mut self, args: &str) -> String {
        let mut key_count = 0;
        let mut custom = false;
        for word in args.split(' ').filter(|w| !w.is_empty()) {
            if custom {
                self.subclasses.remove(word);
                continue;
            }
            let Some(name) = EventName::from_subscription(word) else {
                continue;
            };
            key_count += 1;
            match name {
                EventName::Custom => custom = true,
                EventName::All => {
                    self.all = false;
                    self.names.clear();
                }
                other => {
                    if self.all {
                        // FreeSWITCH expands ALL into every single name first.
                        self.all = false;
                        self.names = EventName::KNOWN
                            .iter()
                            .filter(|n| **n != EventName::All)
                            .map(|n| n.as_str().to_owned())
                            .collect();
                    }
                    self.names.remove(other.as_str());
                }
            }
        }
        if key_count == 0 {
            return "-ERR no keywords supplied".to_owned();
        }
        self.enabled = true;
        "+OK events nixed".to_owned()
    }

    /// Applies `noevents`; returns FreeSWITCH's reply.
    pub fn clear(&mut self) -> String {
        if !self.enabled {
            return "-ERR not listening for events".to_owned();
        }
        self.enabled = false;
        self.all = false;
        self.all_subclasses = false;
        self.names.clear();
        self.subclasses.clear();
        "+OK no longer listening for events".to_owned()
    }

    /// Applies `filter ...`; returns FreeSWITCH's reply.
    pub fn filter(&mut self, args: &str) -> String {
        let args = args.trim_start_matches(' ');
        let (name, value) = match args.split_once(' ') {
            Some((name, value)) => (name, Some(value)),
            None => (args, None),
        };
        match (name, value) {
            (delete, Some(rest)) if delete.eq_ignore_ascii_case("delete") => {
                let (header, value) = match rest.split_once(' ') {
                    Some((header, value)) => (header, Some(value)),
                    None => (rest, None),
                };
                if header.eq_ignore_ascii_case("all") {
                    self.filters.clear();
                } else {
                    self.filters.retain(|(h, v)| {
                        !(h.eq_ignore_ascii_case(header) && value.is_none_or(|value| v == value))
                    });
                }
                format!("+OK filter deleted. [{header}][{}]", value.unwrap_or(""))
            }
            (add, Some(rest)) => {
                let (header, value) = if add.eq_ignore_ascii_case("add") {
                    match rest.split_once(' ') {
                        Some((header, value)) => (header, value),
                        None => (rest, ""),
                    }
                } else {
                    (add, rest)
                };
                self.filters.push((header.to_owned(), value.to_owned()));
                format!("+OK filter added. [{header}]=[{value}]")
            }
            _ => "-ERR invalid syntax".to_owned(),
        }
    }

    /// Whether `event` should be queued for this connection.
    pub fn wants(&self, event: &Event) -> bool {
        if !self.enabled {
            return false;
        }
        let name = event.header("Event-Name");
        let name = name.as_deref().unwrap_or("");
        let mut send = if self.all {
            true
        } else if self.names.contains(name) {
            name != "CUSTOM"
                || event
                    .subclass()
                    .is_none_or(|s| self.all_subclasses || self.subclasses.contains(s.as_ref()))
        } else {
            false
        };
        if send && !self.filters.is_empty() {
            send = self.passes_filters(event);
        }
        if send && let Some(uuid) = &self.myevents {
            send = event.unique_id().is_some_and(|u| u == uuid.as_str());
        }
        send
    }

    /// mod_event_socket's filter walk: a filter on a header the event lacks
    /// is ignored; once a positive filter matched, later positive ones are
    /// skipped; a matching negative filter rejects the event.
    fn passes_filters(&self, event: &Event) -> bool {
        let mut send = false;
        for (header, raw) in &self.filters {
            let Some(value) = event.header(header) else {
                continue;
            };
            let trimmed = raw.trim_start_matches(['+', '-', ' ']);
            // The last sign before the value decides: `+` positive, `-` negative.
            let positive = raw[..raw.len() - trimmed.len()]
                .chars()
                .rev()
                .find(|&c| c != ' ')
                != Some('-');
            if send && positive {
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
            let matched = if raw.starts_with('/') {
                let pattern = trimmed.trim_start_matches('/').trim_end_matches('/');
                Regex::new(pattern).is_ok_and(|re| re.is_match(&value))
            } else {
                value.eq_ignore_ascii_case(trimmed)
            };
            if matched {
                if positive {
                    send = true;
                } else {
                    return false;
                }
            }
        }
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, extra: &[(&str, &str)]) -> Event {
        let mut event = Event::empty().with("Event-Name", name);
        for (n, v) in extra {
            event.push(*n, *v);
        }
        event
    }

    #[test]
    fn subscribing_answers_like_freeswitch() {
        let mut sub = Subscription::default();
        assert_eq!(sub.subscribe("plain"), "-ERR no keywords supplied");
        assert_eq!(sub.subscribe("json bogus"), "-ERR no keywords supplied");
        assert_eq!(sub.format, EventFormat::Json, "the format switches anyway");
        assert_eq!(
            sub.subscribe("plain heartbeat BACKGROUND_JOB"),
            "+OK event listener enabled plain"
        );
        assert!(sub.wants(&event("HEARTBEAT", &[])));
        assert!(!sub.wants(&event("CHANNEL_ANSWER", &[])));
    }

    #[test]
    fn all_then_nixevent_keeps_everything_else() {
        let mut sub = Subscription::default();
        sub.subscribe("plain ALL");
        assert!(sub.wants(&event("CUSTOM", &[("Event-Subclass", "sofia::register")])));
        assert_eq!(sub.unsubscribe("DTMF"), "+OK events nixed");
        assert!(!sub.wants(&event("DTMF", &[])));
        assert!(sub.wants(&event("CHANNEL_ANSWER", &[])));
        assert_eq!(sub.unsubscribe(""), "-ERR no keywords supplied");
    }

    #[test]
    fn custom_subclasses_must_be_named() {
        let mut sub = Subscription::default();
        sub.subscribe("plain CUSTOM sofia::register my::thing");
        assert!(sub.wants(&event("CUSTOM", &[("Event-Subclass", "my::thing")])));
        assert!(!sub.wants(&event("CUSTOM", &[("Event-Subclass", "other::thing")])));
    }

    #[test]
    fn noevents_stops_delivery() {
        let mut sub = Subscription::default();
        assert_eq!(sub.clear(), "-ERR not listening for events");
        sub.subscribe("plain ALL");
        assert_eq!(sub.clear(), "+OK no longer listening for events");
        assert!(!sub.wants(&event("HEARTBEAT", &[])));
    }

    #[test]
    fn filter_replies_match_the_captures() {
        let mut sub = Subscription::default();
        assert_eq!(
            sub.filter("Event-Name HEARTBEAT"),
            "+OK filter added. [Event-Name]=[HEARTBEAT]"
        );
        assert_eq!(
            sub.filter("delete Event-Name HEARTBEAT"),
            "+OK filter deleted. [Event-Name][HEARTBEAT]"
        );
        assert_eq!(sub.filter("delete all"), "+OK filter deleted. [all][]");
        assert_eq!(sub.filter("Unique-ID"), "-ERR invalid syntax");
        assert_eq!(
            sub.filter("add Unique-ID u1"),
            "+OK filter added. [Unique-ID]=[u1]"
        );
    }

    #[test]
    fn filters_select_and_reject() {
        let mut sub = Subscription::default();
        sub.subscribe("plain ALL");
        sub.filter("Unique-ID u1");
        assert!(sub.wants(&event("CHANNEL_ANSWER", &[("Unique-ID", "u1")])));
        assert!(!sub.wants(&event("CHANNEL_ANSWER", &[("Unique-ID", "u2")])));
        assert!(
            !sub.wants(&event("HEARTBEAT", &[])),
            "the trap: no Unique-ID, no delivery"
        );
        sub.filter("Event-Name HEARTBEAT");
        assert!(sub.wants(&event("HEARTBEAT", &[])));
        sub.filter("Event-Name -CHANNEL_ANSWER");
        assert!(!sub.wants(&event("CHANNEL_ANSWER", &[("Unique-ID", "u1")])));
        assert!(sub.wants(&event("DTMF", &[("Unique-ID", "u1")])));
    }

    #[test]
    fn regex_filters_and_case_insensitive_values() {
        let mut sub = Subscription::default();
        sub.subscribe("plain ALL");
        sub.filter("Event-Name /^CHANNEL_/");
        assert!(sub.wants(&event("CHANNEL_PARK", &[])));
        assert!(!sub.wants(&event("DTMF", &[])));
        let mut sub = Subscription::default();
        sub.subscribe("plain ALL");
        sub.filter("Event-Name dtmf");
        assert!(sub.wants(&event("DTMF", &[])));
    }

    #[test]
    fn myevents_keeps_one_channel() {
        let mut sub = Subscription::default();
        sub.subscribe("plain ALL");
        sub.myevents = Some("u1".to_owned());
        assert!(sub.wants(&event("DTMF", &[("Unique-ID", "u1")])));
        assert!(!sub.wants(&event("DTMF", &[("Unique-ID", "u2")])));
    }
}
