//! Phone numbers arsgate will call: Korean numbers, written nationally
//! (`010-1234-5678`) or in E.164 (`+82 10 1234 5678`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Korean phone number (010-1234-5678 or +821012345678)")]
pub struct InvalidPhone(pub String);

/// A Korean phone number, kept in E.164 (`+821012345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a mobile number (`010`, `011`, `016`–`019`) or a geographic
    /// number with its area code, in national form (leading `0`) or E.164
    /// (`+82` without the `0`). Spaces and hyphens between digits are
    /// allowed; anything else is refused.
    pub fn parse(text: &str) -> Result<PhoneNumber, InvalidPhone> {
        let invalid = || InvalidPhone(text.to_owned());
        let trimmed = text.trim_matches(' ');
        if trimmed.len() > 24 {
            return Err(invalid());
        }
        let (international, body) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if body.starts_with(['-', ' ']) || body.ends_with(['-', ' ']) {
            return Err(invalid());
        }
        if !body
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
        {
            return Err(invalid());
        }
        let digits: String = body.chars().filter(char::is_ascii_digit).collect();
        let national = if international {
            let rest = digits.strip_prefix("82").ok_or_else(invalid)?;
            if rest.starts_with('0') {
                return Err(invalid());
            }
            rest.to_owned()
        } else {
            digits.strip_prefix('0').ok_or_else(invalid)?.to_owned()
        };
        let mobile = ["10", "11", "16", "17", "18", "19"]
            .iter()
            .any(|p| national.starts_with(p));
        let valid = if mobile {
            // 010 is always 8 digits after the prefix; the old 01x ranges 7 or 8.
            let subscriber = national.len() - 2;
            if national.starts_with("10") {
                subscriber == 8
            } else {
                (7..=8).contains(&subscriber)
            }
        } else {
            // Area codes 2 (Seoul) and 31–64, and 070/050x service numbers.
            (8..=10).contains(&national.len())
                && !national.starts_with('1')
                && !national.starts_with('0')
        };
        if valid {
            Ok(PhoneNumber(format!("+82{national}")))
        } else {
            Err(invalid())
        }
    }

    /// The number in E.164 (`+821012345678`).
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The number as dialled inside Korea (`01012345678`), what Korean
    /// carriers' gateways expect.
    pub fn national(&self) -> String {
        format!("0{}", &self.0[3..])
    }

    /// The number with its middle digits hidden, for logs (`+82101234****`).
    pub fn masked(&self) -> String {
        let keep = self.0.len().saturating_sub(4);
        format!("{}****", &self.0[..keep])
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PhoneNumber, D::Error> {
        let text = String::deserialize(deserializer)?;
        PhoneNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_agree() {
        for text in [
            "01012345678",
            "010-1234-5678",
            "010 1234 5678",
            "+821012345678",
            "+82 10-1234-5678",
        ] {
            let phone = PhoneNumber::parse(text).unwrap();
            assert_eq!(phone.e164(), "+821012345678", "{text}");
            assert_eq!(phone.national(), "01012345678");
        }
        assert_eq!(
            PhoneNumber::parse("0212345678").unwrap().e164(),
            "+82212345678"
        );
        assert_eq!(
            PhoneNumber::parse("0161234567").unwrap().national(),
            "0161234567"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "1012345678",
            "+1 415 555 0100",
            "+8201012345678",
            "0101234567",
            "010123456789",
            "010-1234-567a",
            "010--1234",
            "-01012345678",
            "01012345678;",
            "01012345678\n",
            "010 1234 5678 &park()",
            "${uuid}",
            "０１０１２３４５６７８",
        ] {
            assert!(PhoneNumber::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn masking_hides_the_end() {
        assert_eq!(
            PhoneNumber::parse("01012345678").unwrap().masked(),
            "+82101234****"
        );
    }
}
