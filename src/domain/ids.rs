//! Identifiers the API hands out: a type prefix and 32 hex digits of a
//! random UUID (`vrf_3f2a...`), so an id says what it is and cannot be
//! guessed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid id")]
pub struct InvalidId(pub String);

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// The id's prefix.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn new() -> $name {
                $name(uuid::Uuid::new_v4())
            }

            /// Reads an id in its text form.
            pub fn parse(text: &str) -> Result<$name, InvalidId> {
                let hex = text
                    .strip_prefix($prefix)
                    .filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
                    .ok_or_else(|| InvalidId(text.to_owned()))?;
                uuid::Uuid::parse_str(hex).map($name).map_err(|_| InvalidId(text.to_owned()))
            }

            /// The UUID inside.
            pub fn uuid(&self) -> uuid::Uuid {
                self.0
            }

            /// An id from its UUID.
            pub fn from_uuid(uuid: uuid::Uuid) -> $name {
                $name(uuid)
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A merchant (`mch_...`).
    MerchantId, "mch_"
);
prefixed_id!(
    /// A verification (`vrf_...`).
    VerificationId, "vrf_"
);
prefixed_id!(
    /// An API key's public part (`key_...`).
    ApiKeyId, "key_"
);
prefixed_id!(
    /// A webhook event, the receiver's de-duplication key (`evt_...`).
    EventId, "evt_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = VerificationId::new();
        let text = id.to_string();
        assert!(text.starts_with("vrf_") && text.len() == 36);
        assert_eq!(VerificationId::parse(&text), Ok(id));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<VerificationId>(&json).unwrap(), id);
    }

    #[test]
    fn foreign_or_malformed_ids_are_refused() {
        let merchant = MerchantId::new().to_string();
        assert!(VerificationId::parse(&merchant).is_err());
        for text in [
            "vrf_",
            "vrf_xyz",
            "vrf_00000000000000000000000000000000a",
            "VRF_00000000000000000000000000000000",
            "vrf_0000000000000000000000000000000G",
        ] {
            assert!(VerificationId::parse(text).is_err(), "{text}");
        }
    }
}
