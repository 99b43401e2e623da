//! The opaque cursor of a listing page: the last item's `(created_at, id)`,
//! the key listings are ordered by (newest first, id breaking ties), so the
//! next page starts strictly after it whatever was inserted meanwhile.
//!
//! On the wire it is hex: one byte naming the listing, the instant's
//! milliseconds (big-endian) and the id's 16 bytes. Hex keeps it URL-safe;
//! the kind byte keeps a verification cursor out of a delivery listing.

use uuid::Uuid;

use super::StoreError;
use crate::domain::Timestamp;

/// Which listing a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// `list_verifications`.
    Verifications,
    /// `list_deliveries`.
    Deliveries,
}

impl Listing {
    fn tag(self) -> u8 {
        match self {
            Listing::Verifications => b'v',
            Listing::Deliveries => b'd',
        }
    }
}

/// A position in a listing: items strictly older than it come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The last item's creation instant.
    pub created_at: Timestamp,
    /// The last item's id.
    pub id: Uuid,
}

const LEN: usize = 1 + 8 + 16;

impl Cursor {
    /// The cursor's text for `listing`.
    pub fn encode(self, listing: Listing) -> String {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.push(listing.tag());
        bytes.extend_from_slice(&self.created_at.millis().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        hex::encode(bytes)
    }

    /// Reads a cursor of `listing`; `InvalidCursor` for anything the store
    /// did not hand out for that listing.
    pub fn decode(text: &str, listing: Listing) -> Result<Cursor, StoreError> {
        let invalid =
            || StoreError::InvalidCursor(format!("{text:?} is not a cursor of this listing"));
        let bytes = hex::decode(text).map_err(|_| invalid())?;
        if bytes.len() != LEN || bytes[0] != listing.tag() {
            return Err(invalid());
        }
        let (millis, id) = bytes[1..].split_at(8);
        let millis = i64::from_be_bytes(millis.try_into().map_err(|_| invalid())?);
        let id = Uuid::from_slice(id).map_err(|_| invalid())?;
        Ok(Cursor {
            created_at: Timestamp::from_millis(millis),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_including_negative_instants() {
        for millis in [0, 1_795_930_754_123, -5, i64::MAX, i64::MIN] {
            let cursor = Cursor {
                created_at: Timestamp::from_millis(millis),
                id: Uuid::new_v4(),
            };
            let text = cursor.encode(Listing::Deliveries);
            assert_eq!(Cursor::decode(&text, Listing::Deliveries).unwrap(), cursor);
        }
    }

    #[test]
    fn foreign_and_malformed_cursors_are_refused() {
        let text = Cursor {
            created_at: Timestamp::from_millis(7),
            id: Uuid::new_v4(),
        }
        .encode(Listing::Verifications);
        assert!(matches!(
            Cursor::decode(&text, Listing::Deliveries),
            Err(StoreError::InvalidCursor(_))
        ));
        for bad in ["", "zz", &text[..text.len() - 2], &format!("{text}00")] {
            assert!(
                matches!(
                    Cursor::decode(bad, Listing::Verifications),
                    Err(StoreError::InvalidCursor(_))
                ),
                "{bad:?}"
            );
        }
    }
}
