//! One FreeSWITCH node of the cluster: where it is, how to log in, how much
//! traffic it takes and how it reaches the phone network.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Secret, ValidationError};

/// A FreeSWITCH node arsgate places calls through.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique name used in logs, metrics, the CLI and environment overrides.
    pub name: NodeName,
    /// Host name or IP address of the node's Event Socket.
    pub host: String,
    /// Event Socket port. Default `8021`.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Event Socket password (`password` in event_socket.conf.xml).
    pub password: Secret,
    /// Most concurrent calls arsgate places on this node.
    pub max_channels: NonZeroU32,
    /// Most new calls per second arsgate places on this node. Default `30`,
    /// FreeSWITCH's own `sessions-per-second` default.
    #[serde(default = "default_cps")]
    pub cps: NonZeroU32,
    /// Share of new calls this node gets relative to the others. Default `1`.
    #[serde(default = "default_weight")]
    pub weight: NonZeroU32,
    /// How the node dials a number, e.g. `sofia/gateway/kt/{number}`.
    pub dial_string: DialString,
}

pub(super) fn default_port() -> u16 {
    8021
}

pub(super) fn default_cps() -> NonZeroU32 {
    const { NonZeroU32::new(30).unwrap() }
}

pub(super) fn default_weight() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// Checks what no single node can check alone: there is a node, and names
/// are unique.
pub(super) fn validate_nodes(nodes: &[NodeConfig]) -> Result<(), ValidationError> {
    if nodes.is_empty() {
        return Err(ValidationError::NoNodes);
    }
    let mut seen = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        if node.host.trim().is_empty() {
            return Err(ValidationError::EmptyHost { index });
        }
        if let Some(&first) = seen.get(&node.name) {
            return Err(ValidationError::DuplicateNodeName {
                name: node.name.clone(),
                first,
                index,
            });
        }
        seen.insert(&node.name, index);
    }
    Ok(())
}

/// A node name: a lowercase letter or digit, then lowercase letters, digits,
/// `_` or `-`. Safe in metric labels, file names and environment variable
/// names (where `-` is written `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub struct NodeName(String);

/// A string that is not a valid [`NodeName`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "`{0}` is not a valid node name: use lowercase letters, digits, `_` and `-`, starting with a letter or digit"
)]
pub struct InvalidNodeName(String);

impl NodeName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeName {
    type Error = InvalidNodeName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok {
            Ok(Self(name))
        } else {
            Err(InvalidNodeName(name))
        }
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A FreeSWITCH dial string with one `{number}` placeholder, such as
/// `sofia/gateway/kt/{number}`.
///
/// It holds only the endpoint: arsgate adds the channel variables (`{...}` or
/// `[...]` in front) itself, so the template may not, and it may hold nothing
/// that would break out of the originate command (spaces, quotes, braces).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DialString {
    template: String,
    placeholder_at: usize,
}

/// Why a dial string template was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DialStringError {
    /// It starts with `{` or `[`, which FreeSWITCH reads as channel variables.
    #[error("`{0}` starts with channel variables; arsgate adds those itself")]
    ChannelVariables(String),
    /// `{number}` is missing or appears more than once.
    #[error("`{template}` must contain `{{number}}` exactly once, not {count} times")]
    Placeholder {
        /// The refused template.
        template: String,
        /// How many times `{number}` appears.
        count: usize,
    },
    /// It contains a character that could end or rewrite the originate command.
    #[error("`{template}` contains {found:?}; whitespace, quotes and braces are not allowed")]
    Forbidden {
        /// The refused template.
        template: String,
        /// The first offending character.
        found: char,
    },
}

const PLACEHOLDER: &str = "{number}";

impl DialString {
    /// The dial string for `number`, which the caller has already checked to be
    /// a plain phone number.
    pub fn render(&self, number: &str) -> String {
        let (before, after) = self.template.split_at(self.placeholder_at);
        format!("{before}{number}{}", &after[PLACEHOLDER.len()..])
    }

    /// The template as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.template
    }
}

impl Serialize for DialString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.template)
    }
}

impl TryFrom<String> for DialString {
    type Error = DialStringError;

    fn try_from(template: String) -> Result<Self, Self::Error> {
        if template.starts_with(['{', '[']) {
            return Err(DialStringError::ChannelVariables(template));
        }
        let count = template.matches(PLACEHOLDER).count();
        let Some(placeholder_at) = template.find(PLACEHOLDER).filter(|_| count == 1) else {
            return Err(DialStringError::Placeholder { template, count });
        };
        let forbidden = template
            .replacen(PLACEHOLDER, "", 1)
            .chars()
            .find(|&c| c.is_whitespace() || matches!(c, '{' | '}' | '\'' | '"'));
        if let Some(found) = forbidden {
            return Err(DialStringError::Forbidden { template, found });
        }
        Ok(Self {
            template,
            placeholder_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(template: &str) -> Result<DialString, DialStringError> {
        DialString::try_from(template.to_owned())
    }

    #[test]
    fn dial_string_renders_the_number_in_place() {
        let dial = dial("sofia/gateway/kt/{number}@10.0.0.1").expect("valid");
        assert_eq!(
            dial.render("01012345678"),
            "sofia/gateway/kt/01012345678@10.0.0.1"
        );
        assert_eq!(dial.as_str(), "sofia/gateway/kt/{number}@10.0.0.1");
    }

    #[test]
    fn dial_string_needs_exactly_one_placeholder() {
        for (template, count) in [
            ("sofia/gateway/kt/", 0),
            ("sofia/gateway/kt/{num}", 0),
            ("sofia/gateway/kt/{number}{number}", 2),
        ] {
            assert_eq!(
                dial(template),
                Err(DialStringError::Placeholder {
                    template: template.to_owned(),
                    count
                })
            );
        }
    }

    #[test]
    fn dial_string_refuses_whitespace_braces_and_quotes() {
        for (template, found) in [
            ("sofia/gateway/kt/{number} &park", ' '),
            ("sofia/gateway/kt/{number}\t", '\t'),
            ("sofia/gateway/{gw}/{number}", '{'),
            ("sofia/gateway/kt/{number}}", '}'),
            ("sofia/gateway/kt/{number}'", '\''),
        ] {
            assert_eq!(
                dial(template),
                Err(DialStringError::Forbidden {
                    template: template.to_owned(),
                    found
                }),
                "{template}"
            );
        }
    }

    #[test]
    fn dial_string_refuses_leading_channel_variables() {
        for template in [
            "{origination_caller_id_number=1588}sofia/gateway/kt/{number}",
            "[leg_timeout=5]sofia/gateway/kt/{number}",
            "{number}@kt",
        ] {
            assert!(
                matches!(dial(template), Err(DialStringError::ChannelVariables(_))),
                "{template}"
            );
        }
    }

    #[test]
    fn node_names_follow_the_pattern() {
        for good in ["fs1", "0", "fs-a_2"] {
            assert!(NodeName::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "FS1", "-fs", "_fs", "fs 1", "fs.1", "노드"] {
            assert!(NodeName::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
