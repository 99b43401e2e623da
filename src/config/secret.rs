//! A configuration value that must never reach a log line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A secret such as an ESL password: printing it, with `{}` or `{:?}`, gives
/// `***`, and so does serializing it, so a logged or printed configuration
/// cannot leak it. [`Secret::expose`] is the one way to read it, which makes
/// every use easy to find.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret that did not come from a configuration file.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_string(SecretVisitor)
    }
}

struct SecretVisitor;

impl Visitor<'_> for SecretVisitor {
    type Value = Secret;

    // YAML reads `123456` or `yes`-like values as other types; turning them back
    // into text could change them (`0x1F` would become `31`), so they are refused
    // with a hint instead.
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string (quote a secret that YAML would read as a number, boolean or null)")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Secret, E> {
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_stars() {
        let secret = Secret::new("ClueCon");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "ClueCon");
    }

    #[test]
    fn deserializes_from_a_string() {
        let secret: Secret = serde_norway::from_str("\"0123\"").expect("a quoted string");
        assert_eq!(secret.expose(), "0123");
    }

    #[test]
    fn refuses_a_number_with_a_hint() {
        let value = serde_norway::Value::from(123_456);
        let error = serde_norway::from_value::<Secret>(value).expect_err("a number");
        assert!(error.to_string().contains("quote a secret"), "{error}");
    }
}
