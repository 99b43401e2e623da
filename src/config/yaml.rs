//! Reading YAML documents into typed values, with errors that name the file
//! and the field that was wrong.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_norway::Value;
use serde_norway::with::singleton_map_recursive;
use serde_path_to_error::Track;
use thiserror::Error;

/// Why a YAML document could not be read into its typed model.
#[derive(Debug, Error)]
pub enum YamlError {
    /// The file could not be read at all.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The text is not YAML, or a value does not fit the model.
    #[error("{origin}: {}", located(path, message))]
    Field {
        /// The file name, or whatever the caller named the text.
        origin: String,
        /// Where in the document, as `nodes[1].port`; `.` is the whole document.
        path: String,
        /// What was wrong there.
        message: String,
    },
}

fn located(path: &str, message: &str) -> String {
    if path == "." {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// Reads a whole file as text.
pub(crate) fn read(path: &Path) -> Result<String, YamlError> {
    fs::read_to_string(path).map_err(|error| YamlError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Deserializes YAML text straight into `T`.
///
/// Plain scalars then take the type the model asks for, so `digits: 0123` is the
/// string `0123`, and the error message keeps its line and column.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    deserialize(serde_norway::Deserializer::from_str(text), origin)
}

/// Parses YAML text into an untyped tree, for callers that edit it before
/// [`from_value`].
pub(crate) fn parse(text: &str, origin: &str) -> Result<Value, YamlError> {
    serde_norway::from_str(text).map_err(|error| YamlError::Field {
        origin: origin.to_owned(),
        path: ".".to_owned(),
        message: error.to_string(),
    })
}

/// Deserializes an untyped tree into `T`.
pub(crate) fn from_value<T: DeserializeOwned>(value: Value, origin: &str) -> Result<T, YamlError> {
    deserialize(value, origin)
}

/// Deserializes with the field path tracked, and with enums written the way
/// people write them by hand: `busy` for a unit variant, `fail: 480` or
/// `answer: {...}` for one with data (serde_norway alone wants `!fail 480`).
fn deserialize<'de, D, T>(deserializer: D, origin: &str) -> Result<T, YamlError>
where
    D: Deserializer<'de, Error = serde_norway::Error>,
    T: Deserialize<'de>,
{
    let mut track = Track::new();
    singleton_map_recursive::deserialize(serde_path_to_error::Deserializer::new(
        deserializer,
        &mut track,
    ))
    .map_err(|error| {
        let path = track.path().to_string();
        YamlError::Field {
            origin: origin.to_owned(),
            message: without_parser_path(error.to_string(), &path),
            path,
        }
    })
}

/// `message` without the path that the text parser writes in front of it: the
/// path of the value it was reading, which is `path` or one of its parents.
fn without_parser_path(message: String, path: &str) -> String {
    // The parser writes an index into the root as `.[0]`, where `path` has `[0]`.
    let parser_path = if path.starts_with('[') {
        format!(".{path}")
    } else {
        path.to_owned()
    };
    let ends: Vec<usize> = parser_path
        .match_indices(['.', '['])
        .map(|(end, _)| end)
        .chain([parser_path.len()])
        .collect();
    let rest = ends.iter().rev().find_map(|&end| {
        message
            .strip_prefix(&parser_path[..end])
            .and_then(|rest| rest.strip_prefix(": "))
    });
    match rest {
        Some(rest) => rest.to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn field_errors_name_origin_and_path() {
        let error = from_str::<BTreeMap<String, Vec<u16>>>("a:\n  - 1\n  - 70000\n", "x.yaml")
            .expect_err("70000 is no u16");
        let YamlError::Field { origin, path, .. } = &error else {
            panic!("unexpected {error:?}");
        };
        assert_eq!((origin.as_str(), path.as_str()), ("x.yaml", "a[1]"));
        assert_eq!(
            error.to_string(),
            "x.yaml: a[1]: invalid value: integer `70000`, expected u16 at line 3 column 5"
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Dot,
        Circle { radius: u8 },
    }

    #[test]
    fn enums_are_written_as_a_name_or_a_one_key_map() {
        let shapes: Vec<Shape> =
            from_str("[dot, {circle: {radius: 2}}]", "x.yaml").expect("both forms");
        assert_eq!(shapes, [Shape::Dot, Shape::Circle { radius: 2 }]);
        let error = from_str::<Vec<Shape>>("[{circle: {radius: 300}}]", "x.yaml")
            .expect_err("radius is no u8");
        assert!(
            error
                .to_string()
                .starts_with("x.yaml: [0].circle.radius: invalid value"),
            "{error}"
        );
    }

    #[test]
    fn whole_document_errors_have_no_path_prefix() {
        let error = from_str::<Vec<u16>>("a: 1", "x.yaml").expect_err("not a list");
        assert!(
            error.to_string().starts_with("x.yaml: invalid type"),
            "{error}"
        );
    }

    #[test]
    fn the_parser_path_is_not_repeated() {
        assert_eq!(without_parser_path("a.b: bad".to_owned(), "a.b"), "bad");
        assert_eq!(without_parser_path("a: bad".to_owned(), "a.b[2].c"), "bad");
        assert_eq!(
            without_parser_path(".[1].a: bad".to_owned(), "[1].a"),
            "bad"
        );
        assert_eq!(without_parser_path("x: bad".to_owned(), "a.b"), "x: bad");
        assert_eq!(
            without_parser_path("invalid value: 3".to_owned(), "invalid"),
            "invalid value: 3"
        );
    }

    #[test]
    fn read_names_the_missing_file() {
        let error = read(Path::new("/nonexistent/arsgate.yaml")).expect_err("no such file");
        assert!(error.to_string().contains("/nonexistent/arsgate.yaml"));
    }
}
