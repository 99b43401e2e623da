//! Typed pieces of an originate. Everything that ends up in an originate
//! string or a channel variable passes through these types, which refuse
//! what FreeSWITCH would read as syntax: spaces, quotes, braces, commas,
//! `$`, line breaks.

use std::fmt;

/// Why a value cannot go into an originate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Not a phone number the switch can dial.
    #[error("{0:?} is not a dialable number (digits, optionally a leading +, 3 to 20 digits)")]
    Number(String),
    /// A channel variable name outside `[a-z0-9_]`.
    #[error("{0:?} is not a channel variable name")]
    VarName(String),
    /// A channel variable value with characters FreeSWITCH would interpret.
    #[error("channel variable value {0:?} holds a character FreeSWITCH would interpret")]
    VarValue(String),
    /// A dial-string template without exactly one `{number}`, or with
    /// characters FreeSWITCH would interpret.
    #[error(
        "dial-string template {0:?} must hold {{number}} once and no spaces, quotes, braces or commas"
    )]
    Template(String),
}

/// A number to dial: digits with an optional leading `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialNumber(String);

impl DialNumber {
    /// Checks `number`.
    pub fn parse(number: &str) -> Result<DialNumber, DialError> {
        let digits = number.strip_prefix('+').unwrap_or(number);
        if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(DialNumber(number.to_owned()))
        } else {
            Err(DialError::Number(number.to_owned()))
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A dial-string template such as `sofia/gateway/kt/{number}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTemplate(String);

impl DialTemplate {
    /// Checks `template`.
    pub fn parse(template: &str) -> Result<DialTemplate, DialError> {
        let forbidden = |c: char| c.is_whitespace() || "'\"{}[],|$\\".contains(c);
        let rest = template.replacen("{number}", "", 1);
        if template.matches("{number}").count() != 1 || rest.chars().any(forbidden) {
            return Err(DialError::Template(template.to_owned()));
        }
        Ok(DialTemplate(template.to_owned()))
    }

    /// The dial string for `number`.
    pub fn render(&self, number: &DialNumber) -> String {
        self.0.replacen("{number}", number.as_str(), 1)
    }
}

/// A channel variable name (`ars_lang`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName(String);

impl VarName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<VarName, DialError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(VarName(name.to_owned()))
        } else {
            Err(DialError::VarName(name.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel variable value. Letters of any script, digits, spaces and
/// plain punctuation are allowed; what FreeSWITCH would expand or split on
/// (`$ { } [ ] ' " \ , ; | ^` and control characters) is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarValue(String);

impl VarValue {
    /// Checks `value`.
    pub fn parse(value: &str) -> Result<VarValue, DialError> {
        let forbidden = |c: char| c.is_control() || "${}[]'\"\\,;|^".contains(c);
        if value.len() > 1024 || value.chars().any(forbidden) {
            return Err(DialError::VarValue(value.to_owned()));
        }
        Ok(VarValue(value.to_owned()))
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as it goes inside `{...}` of a dial string: single-quoted
    /// when it holds spaces (FreeSWITCH splits words on them otherwise).
    pub fn in_dial_string(&self) -> String {
        if self.0.contains(' ') || self.0.is_empty() {
            format!("'{}'", self.0)
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_digits_with_an_optional_plus() {
        assert!(DialNumber::parse("01012345678").is_ok());
        assert!(DialNumber::parse("+821012345678").is_ok());
        for hostile in [
            "",
            "12",
            "010-1234-5678",
            "0101234 &park()",
            "1000@evil",
            "+",
            "0".repeat(21).as_str(),
            "010\n",
        ] {
            assert!(DialNumber::parse(hostile).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn templates_take_the_number_once_and_nothing_interpretable() {
        let template = DialTemplate::parse("sofia/gateway/kt/{number}").unwrap();
        let number = DialNumber::parse("01012345678").unwrap();
        assert_eq!(template.render(&number), "sofia/gateway/kt/01012345678");
        for bad in [
            "sofia/gateway/kt/",
            "{number}{number}",
            "{a=b}sofia/{number}",
            "sofia/{number} &park()",
            "a,b/{number}",
        ] {
            assert!(DialTemplate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn variable_values_refuse_what_freeswitch_would_interpret() {
        assert_eq!(
            VarValue::parse("Acme Bank").unwrap().in_dial_string(),
            "'Acme Bank'"
        );
        assert_eq!(VarValue::parse("홍길동 님").unwrap().as_str(), "홍길동 님");
        for hostile in ["${system(rm)}", "a,b", "it's", "x}y", "a\nb", "a|b", "x;y"] {
            assert!(VarValue::parse(hostile).is_err(), "{hostile:?}");
        }
        assert!(VarName::parse("ars_lang").is_ok());
        assert!(VarName::parse("Ars Lang").is_err());
    }
}
