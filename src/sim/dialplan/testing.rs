//! A scripted channel for the dialplan tests.

use std::collections::HashMap;

use super::{HuntChannel, expand_variables};

/// Caller-profile fields and variables in maps; inline `set`, `unset` and
/// `log` run against them, anything else is refused.
#[derive(Debug, Default)]
pub(super) struct TestChannel {
    pub profile: HashMap<String, String>,
    pub variables: HashMap<String, String>,
    /// Inline applications run, in order, with their expanded data.
    pub inline: Vec<(String, String)>,
}

impl TestChannel {
    /// A channel dialling `destination`.
    pub fn dialling(destination: &str) -> TestChannel {
        let mut channel = TestChannel::default();
        channel
            .profile
            .insert("destination_number".into(), destination.into());
        channel
    }

    pub fn with_profile(mut self, name: &str, value: &str) -> TestChannel {
        self.profile.insert(name.into(), value.into());
        self
    }

    pub fn with_var(mut self, name: &str, value: &str) -> TestChannel {
        self.variables
            .insert(name.to_ascii_lowercase(), value.into());
        self
    }
}

impl HuntChannel for TestChannel {
    fn profile_field(&self, name: &str) -> Option<String> {
        self.profile.get(name).cloned()
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.variables
            .get(&name.to_ascii_lowercase())
            .or_else(|| self.profile.get(&name.to_ascii_lowercase()))
            .cloned()
    }

    fn execute_inline(&mut self, application: &str, data: &str) -> bool {
        let data = expand_variables(data, &|name| self.variable(name));
        match application {
            "set" => {
                let (name, value) = data.split_once('=').unwrap_or((&data, ""));
                self.variables
                    .insert(name.to_ascii_lowercase(), value.to_owned());
            }
            "unset" => {
                self.variables.remove(&data.to_ascii_lowercase());
            }
            "log" => {}
            _ => return false,
        }
        self.inline.push((application.to_owned(), data));
        true
    }
}
