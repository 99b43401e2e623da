//! What the client asked FreeSWITCH to send: event types and filters. Both
//! are per-connection state on the FreeSWITCH side, so they are remembered
//! here and replayed on every new connection.

use crate::esl::command::{Command, EventFormat};
use crate::esl::event_name::EventName;

/// Events the client itself depends on: job results and liveness.
const ALWAYS: [EventName; 2] = [EventName::BackgroundJob, EventName::Heartbeat];

/// The subscription state to replay.
#[derive(Debug, Clone)]
pub(crate) struct Subscriptions {
    events: Vec<EventName>,
    filters: Vec<(String, String)>,
}

impl Subscriptions {
    /// `BACKGROUND_JOB`, `HEARTBEAT` and `initial`.
    pub(crate) fn new(initial: &[EventName]) -> Subscriptions {
        let mut subscriptions = Subscriptions {
            events: Vec::new(),
            filters: Vec::new(),
        };
        subscriptions.add_events(&ALWAYS);
        subscriptions.add_events(initial);
        subscriptions
    }

    /// Remembers `names`; returns the ones that were new.
    pub(crate) fn add_events(&mut self, names: &[EventName]) -> Vec<EventName> {
        let mut added = Vec::new();
        for name in names {
            if !self.events.contains(name) {
                self.events.push(name.clone());
                added.push(name.clone());
            }
        }
        added
    }

    /// Forgets `names` again (FreeSWITCH refused them).
    pub(crate) fn remove_events(&mut self, names: &[EventName]) {
        self.events
            .retain(|name| ALWAYS.contains(name) || !names.contains(name));
    }

    /// Remembers a filter; returns the commands that establish it on a live
    /// connection (none if it was already there). The first filter comes
    /// with filters letting `HEARTBEAT` and `BACKGROUND_JOB` through, sent
    /// before it: a connection with any filter only delivers what some filter
    /// matches, and without these the client would go deaf to job results
    /// and declare a healthy connection dead (reference section 4).
    pub(crate) fn add_filter(&mut self, header: &str, value: &str) -> Vec<Command> {
        let filter = (header.to_owned(), value.to_owned());
        if self.filters.contains(&filter) {
            return Vec::new();
        }
        let mut commands = Vec::new();
        if self.filters.is_empty() {
            commands.extend(liveness_filters());
        }
        commands.push(Command::filter(header, value));
        self.filters.push(filter);
        commands
    }

    /// Forgets a filter FreeSWITCH refused; returns the commands that undo
    /// the liveness filters if it was the only one.
    pub(crate) fn remove_filter(&mut self, header: &str, value: &str) -> Vec<Command> {
        self.filters
            .retain(|(h, v)| !(h.as_str() == header && v.as_str() == value));
        if self.filters.is_empty() {
            ALWAYS
                .iter()
                .map(|name| Command::filter_delete("Event-Name", Some(name.as_str())))
                .collect()
        } else {
            Vec::new()
        }
    }

    /// Everything to send on a fresh connection, in order.
    pub(crate) fn replay(&self) -> Vec<Command> {
        let mut commands = vec![Command::event(EventFormat::Plain, &self.events)];
        if !self.filters.is_empty() {
            commands.extend(liveness_filters());
        }
        commands.extend(self.filters.iter().map(|(h, v)| Command::filter(h, v)));
        commands
    }
}

fn liveness_filters() -> impl Iterator<Item = Command> {
    ALWAYS
        .iter()
        .map(|name| Command::filter("Event-Name", name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(commands: &[Command]) -> Vec<&str> {
        commands.iter().map(Command::line).collect()
    }

    #[test]
    fn job_results_and_heartbeats_are_always_subscribed() {
        let subscriptions = Subscriptions::new(&[EventName::ChannelAnswer, EventName::Heartbeat]);
        assert_eq!(
            lines(&subscriptions.replay()),
            ["event plain BACKGROUND_JOB HEARTBEAT CHANNEL_ANSWER"]
        );
    }

    #[test]
    fn new_names_only_and_the_essential_ones_stay() {
        let mut subscriptions = Subscriptions::new(&[]);
        let added = subscriptions.add_events(&[EventName::Dtmf, EventName::BackgroundJob]);
        assert_eq!(added, [EventName::Dtmf]);
        subscriptions.remove_events(&[EventName::Dtmf, EventName::Heartbeat]);
        assert_eq!(
            lines(&subscriptions.replay()),
            ["event plain BACKGROUND_JOB HEARTBEAT"]
        );
    }

    #[test]
    fn the_first_filter_brings_the_liveness_filters_first() {
        let mut subscriptions = Subscriptions::new(&[]);
        assert_eq!(
            lines(&subscriptions.add_filter("Unique-ID", "u1")),
            [
                "filter Event-Name BACKGROUND_JOB",
                "filter Event-Name HEARTBEAT",
                "filter Unique-ID u1"
            ]
        );
        assert_eq!(
            lines(&subscriptions.add_filter("Unique-ID", "u2")),
            ["filter Unique-ID u2"]
        );
        assert!(subscriptions.add_filter("Unique-ID", "u2").is_empty());
        assert_eq!(
            lines(&subscriptions.replay()),
            [
                "event plain BACKGROUND_JOB HEARTBEAT",
                "filter Event-Name BACKGROUND_JOB",
                "filter Event-Name HEARTBEAT",
                "filter Unique-ID u1",
                "filter Unique-ID u2"
            ]
        );
    }

    #[test]
    fn removing_the_last_filter_undoes_the_liveness_filters() {
        let mut subscriptions = Subscriptions::new(&[]);
        subscriptions.add_filter("Unique-ID", "u1");
        subscriptions.add_filter("Unique-ID", "u2");
        assert!(subscriptions.remove_filter("Unique-ID", "u2").is_empty());
        assert_eq!(
            lines(&subscriptions.remove_filter("Unique-ID", "u1")),
            [
                "filter delete Event-Name BACKGROUND_JOB",
                "filter delete Event-Name HEARTBEAT"
            ]
        );
        assert_eq!(lines(&subscriptions.replay()).len(), 1);
    }
}
