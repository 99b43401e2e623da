//! Environment overrides: `ARSGATE_<KEY>__<KEY>...=<value>` replaces one
//! setting of the YAML tree before it is deserialized.
//!
//! Keys are the YAML keys in upper case, `__` steps into a section, and inside
//! a list of named entries a key picks the entry by name, with `-` written as
//! `_`: `ARSGATE_NODES__FS_A__PASSWORD` sets `password` of the node `fs-a`.
//! Values are read as YAML, exactly as if written after the key in the file.

use std::fmt::Write as _;

use serde_norway::{Mapping, Value};

use super::{ConfigError, YamlError};

const PREFIX: &str = "ARSGATE_";
const SEPARATOR: &str = "__";

/// An environment variable that set a value in the tree, and where.
#[derive(Debug)]
pub(super) struct Override {
    var: String,
    /// Where in the tree, written as serde_path_to_error writes paths.
    path: String,
}

impl Override {
    /// Whether a deserialization error at `path` is in the value this variable
    /// set, so the error is the variable's fault and should carry its name.
    fn covers(&self, path: &str) -> bool {
        path.strip_prefix(&self.path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    }
}

/// Applies every `ARSGATE_` variable of `env` to `tree`, in name order so that
/// a section (`ARSGATE_ESL`) is set before a field inside it.
pub(super) fn apply<I, K, V>(tree: &mut Value, env: I) -> Result<Vec<Override>, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(key, _)| key.as_ref().starts_with(PREFIX))
        .map(|(key, value)| (key.as_ref().to_owned(), value.as_ref().to_owned()))
        .collect();
    vars.sort();
    vars.into_iter()
        .map(
            |(var, value)| match set(tree, &var[PREFIX.len()..], &value) {
                Ok(path) => Ok(Override { var, path }),
                Err(reason) => Err(ConfigError::Env { var, reason }),
            },
        )
        .collect()
}

/// Turns a deserialization error inside a value that a variable set into an
/// error naming that variable: the file is not at fault, and a typo in a
/// variable's name shows up as an unknown field under the path it made.
pub(super) fn blame(error: YamlError, overrides: &[Override]) -> ConfigError {
    if let YamlError::Field { path, message, .. } = &error {
        // The last match is the most specific: children sort after parents.
        if let Some(applied) = overrides.iter().rev().find(|o| o.covers(path)) {
            return ConfigError::Env {
                var: applied.var.clone(),
                reason: format!("{path}: {message}"),
            };
        }
    }
    error.into()
}

/// Sets the value `name` points to; returns its path.
fn set(tree: &mut Value, name: &str, value: &str) -> Result<String, String> {
    let keys: Vec<String> = name.split(SEPARATOR).map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err(
            "names no setting: write keys joined by `__`, as in ARSGATE_ESL__HEARTBEAT_INTERVAL"
                .to_owned(),
        );
    }
    let value: Value =
        serde_norway::from_str(value).map_err(|error| format!("value is not YAML: {error}"))?;
    let mut path = String::new();
    let mut slot = tree;
    for key in &keys {
        slot = step(slot, key, &mut path)?;
    }
    *slot = value;
    Ok(path)
}

/// The slot under `key` in `node`, created in a mapping if missing.
fn step<'a>(node: &'a mut Value, key: &str, path: &mut String) -> Result<&'a mut Value, String> {
    // An absent or empty section (`esl:` with nothing under it) is an empty mapping.
    if node.is_null() {
        *node = Value::Mapping(Mapping::new());
    }
    match node {
        Value::Mapping(map) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            Ok(map
                .entry(Value::String(key.to_owned()))
                .or_insert(Value::Null))
        }
        Value::Sequence(items) => {
            let index = find_named(items, key, path)?;
            // Writing to a String cannot fail.
            let _ = write!(path, "[{index}]");
            Ok(&mut items[index])
        }
        _ => Err(format!("`{path}` is a single value, not a section")),
    }
}

/// The index of the entry whose `name`, with `-` as `_`, is `key`.
fn find_named(items: &[Value], key: &str, path: &str) -> Result<usize, String> {
    let mut matches = items.iter().enumerate().filter(|(_, item)| {
        item.get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| name.replace('-', "_") == key)
    });
    match (matches.next(), matches.next()) {
        (Some((index, _)), None) => Ok(index),
        (None, _) => Err(format!("`{path}` has no entry named `{key}`")),
        (Some(_), Some(_)) => Err(format!(
            "`{key}` names several entries of `{path}` (`-` and `_` look alike in variable names)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Value {
        serde_norway::from_str(yaml).expect("test YAML")
    }

    fn reason(result: Result<Vec<Override>, ConfigError>) -> String {
        match result {
            Err(ConfigError::Env { reason, .. }) => reason,
            other => panic!("expected an Env error, got {other:?}"),
        }
    }

    #[test]
    fn sets_nested_keys_creating_sections() {
        let mut value = Value::Null;
        let applied = apply(&mut value, [("ARSGATE_ESL__RECONNECT__MAX", "1m")]).expect("applies");
        assert_eq!(value, tree("esl: {reconnect: {max: 1m}}"));
        assert_eq!(applied[0].path, "esl.reconnect.max");
    }

    #[test]
    fn values_are_read_as_yaml() {
        let mut value = tree("nodes: [{name: fs1}]");
        apply(&mut value, [("ARSGATE_NODES__FS1__PORT", "8022")]).expect("applies");
        assert_eq!(value, tree("nodes: [{name: fs1, port: 8022}]"));
    }

    #[test]
    fn entries_are_found_by_name_with_dashes_as_underscores() {
        let mut value = tree("nodes: [{name: fs1}, {name: fs-b}]");
        let applied =
            apply(&mut value, [("ARSGATE_NODES__FS_B__HOST", "10.0.0.2")]).expect("applies");
        assert_eq!(applied[0].path, "nodes[1].host");
        assert_eq!(
            value,
            tree("nodes: [{name: fs1}, {name: fs-b, host: 10.0.0.2}]")
        );
    }

    #[test]
    fn a_missing_entry_is_an_error() {
        let mut value = tree("nodes: [{name: fs1}]");
        let reason = reason(apply(&mut value, [("ARSGATE_NODES__FS9__PORT", "1")]));
        assert!(reason.contains("no entry named `fs9`"), "{reason}");
    }

    #[test]
    fn an_ambiguous_entry_is_an_error() {
        let mut value = tree("nodes: [{name: fs-a}, {name: fs_a}]");
        let reason = reason(apply(&mut value, [("ARSGATE_NODES__FS_A__PORT", "1")]));
        assert!(reason.contains("several entries"), "{reason}");
    }

    #[test]
    fn a_key_inside_a_scalar_is_an_error() {
        let mut value = tree("listen: 127.0.0.1:8080");
        let reason = reason(apply(&mut value, [("ARSGATE_LISTEN__PORT", "1")]));
        assert!(reason.contains("`listen` is a single value"), "{reason}");
    }

    #[test]
    fn empty_keys_are_an_error() {
        for var in ["ARSGATE_", "ARSGATE_ESL____X", "ARSGATE_ESL__"] {
            let mut value = Value::Null;
            assert!(
                reason(apply(&mut value, [(var, "1")])).contains("names no setting"),
                "{var}"
            );
        }
    }

    #[test]
    fn other_variables_are_ignored_and_order_is_by_name() {
        let mut value = Value::Null;
        apply(
            &mut value,
            [
                ("ARSGATE_ESL__HEARTBEAT_MISSES", "5"),
                ("PATH", "/bin"),
                ("ARSGATE_ESL", "{heartbeat_misses: 2, connect_timeout: 1s}"),
            ],
        )
        .expect("applies");
        assert_eq!(
            value,
            tree("esl: {heartbeat_misses: 5, connect_timeout: 1s}")
        );
    }

    #[test]
    fn covers_its_path_and_below_only() {
        let applied = Override {
            var: "ARSGATE_NODES__FS1__PORT".to_owned(),
            path: "nodes[0].port".to_owned(),
        };
        assert!(applied.covers("nodes[0].port"));
        assert!(applied.covers("nodes[0].port.x"));
        assert!(!applied.covers("nodes[0].portal"));
        assert!(!applied.covers("nodes[0]"));
    }
}
