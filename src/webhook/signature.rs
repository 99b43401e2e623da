//! Webhook signatures: `Arsgate-Signature: t=<unix seconds>,v1=<hex>`,
//! where the hex is HMAC-SHA256 under the merchant's webhook secret of
//! `t`, a `.`, and the exact body. The timestamp inside the signed text
//! stops replays of an old webhook; several `v1=` entries are accepted so
//! that a receiver can check across a secret rotation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const HEADER: &str = "Arsgate-Signature";

/// How far a signature's timestamp may be from the receiver's clock.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=...,v1=...`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The timestamp is further than [`TOLERANCE`] from now.
    #[error("the signature's timestamp is too old or in the future")]
    Stale,
    /// No `v1` matches the body under the secret.
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks `header` for `body` at `now`: the timestamp within [`TOLERANCE`]
/// and one `v1` matching, compared in constant time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some(("v1", value)) => {
                signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            // Other schemes may join later; they are skipped, not refused.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.abs_diff(timestamp) > TOLERANCE.as_secs() {
        return Err(SignatureError::Stale);
    }
    let matched = signatures
        .iter()
        .any(|candidate| mac(secret, timestamp, body).verify_slice(candidate).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign(SECRET, 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn the_signed_body_verifies_and_nothing_else_does() {
        let header = sign(SECRET, 1_700_000_000, b"body");
        assert_eq!(verify(SECRET, &header, b"body", at(1_700_000_010)), Ok(()));
        assert_eq!(
            verify(SECRET, &header, b"bodx", at(1_700_000_010)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other", &header, b"body", at(1_700_000_010)),
            Err(SignatureError::Mismatch)
        );
        let shifted = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(
            verify(SECRET, &shifted, b"body", at(1_700_000_010)),
            Err(SignatureError::Mismatch),
            "the timestamp is signed too"
        );
    }

    #[test]
    fn old_and_future_timestamps_are_refused() {
        let header = sign(SECRET, 1_700_000_000, b"body");
        assert_eq!(
            verify(SECRET, &header, b"body", at(1_700_000_000 + 301)),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, &header, b"body", at(1_700_000_000 - 301)),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(SECRET, &header, b"body", at(1_700_000_300)), Ok(()));
    }

    #[test]
    fn any_v1_may_match_and_malformed_headers_are_refused() {
        let good = sign(SECRET, 1_700_000_000, b"body");
        let v1 = good.split_once(",v1=").unwrap().1;
        let rotated = format!("t=1700000000,v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify(SECRET, &rotated, b"body", at(1_700_000_000)), Ok(()));
        for header in [
            "",
            "t=1700000000",
            "v1=00",
            "t=x,v1=00",
            "t=1700000000,v1=zz",
            "garbage",
        ] {
            assert_eq!(
                verify(SECRET, header, b"body", at(1_700_000_000)),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
    }
}
