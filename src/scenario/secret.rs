//! One-time codes and PINs: kept as keyed digests and argon2id hashes,
//! compared in constant time, never printed.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a code or PIN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not the right number of digits, or not digits.
    #[error("a code or PIN is 4 to 12 digits")]
    Format,
    /// The PIN could not be hashed or the stored hash is unreadable.
    #[error("PIN hash error: {0}")]
    Hash(String),
}

fn digits_ok(value: &str) -> bool {
    (4..=12).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// A one-time code in clear, for the moment it is shown or spoken. `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// A random code of `length` digits (4 to 12).
    pub fn generate(length: usize) -> Code {
        let mut rng = rand::rng();
        Code(
            (0..length.clamp(4, 12))
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect(),
        )
    }

    /// Checks a code given in clear.
    pub fn parse(code: &str) -> Result<Code, SecretError> {
        if digits_ok(code) {
            Ok(Code(code.to_owned()))
        } else {
            Err(SecretError::Format)
        }
    }

    /// The digits.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code(<{} digits>)", self.0.len())
    }
}

/// The server's secret key codes are digested with.
#[derive(Clone)]
pub struct CodeKey(Vec<u8>);

impl CodeKey {
    /// A key from its bytes (at least 32).
    pub fn new(bytes: impl Into<Vec<u8>>) -> CodeKey {
        CodeKey(bytes.into())
    }

    pub(super) fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// The digest stored for `code`: HMAC-SHA256 under this key.
    pub fn digest(&self, code: &Code) -> CodeDigest {
        let mut mac = self.mac();
        mac.update(code.expose().as_bytes());
        CodeDigest(mac.finalize().into_bytes().into())
    }

    /// The code of `length` digits (4 to 12) for `context` (a
    /// verification's id): derived, never stored, so the same code comes
    /// back after a restart or for a replayed request, and only a holder
    /// of this key can compute it.
    pub fn derive_code(&self, context: &str, length: usize) -> Code {
        let mut mac = self.mac();
        mac.update(b"arsgate code\0");
        mac.update(context.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut value = u128::from_be_bytes(bytes[..16].try_into().unwrap_or([0; 16]));
        // 2^128 is so much larger than 10^12 that the modulo bias is nil.
        let length = length.clamp(4, 12);
        let digits = (0..length)
            .map(|_| {
                let digit = (value % 10) as u8;
                value /= 10;
                char::from(b'0' + digit)
            })
            .collect();
        Code(digits)
    }

    /// Whether `input` is the code behind `digest`, compared in constant time.
    pub fn matches(&self, digest: &CodeDigest, input: &str) -> bool {
        let mut mac = self.mac();
        mac.update(input.as_bytes());
        mac.verify_slice(&digest.0).is_ok()
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(***)")
    }
}

/// A code's HMAC-SHA256 digest: what is stored instead of the code.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeDigest([u8; 32]);

impl CodeDigest {
    /// The digest as lower-case hex (for storage).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A digest read back from hex.
    pub fn from_hex(text: &str) -> Option<CodeDigest> {
        let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        Some(CodeDigest(bytes))
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeDigest(***)")
    }
}

/// A PIN as stored: an argon2id hash in PHC format.
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash(String);

impl PinHash {
    /// Hashes `pin` (4 to 12 digits) with argon2id and a fresh salt.
    pub fn hash(pin: &str) -> Result<PinHash, SecretError> {
        if !digits_ok(pin) {
            return Err(SecretError::Format);
        }
        let salt_bytes: [u8; 16] = rand::rng().random();
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| SecretError::Hash(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(pin.as_bytes(), &salt)
            .map_err(|e| SecretError::Hash(e.to_string()))?;
        Ok(PinHash(hash.to_string()))
    }

    /// A stored hash read back.
    pub fn from_phc(phc: &str) -> Result<PinHash, SecretError> {
        PasswordHash::new(phc).map_err(|e| SecretError::Hash(e.to_string()))?;
        Ok(PinHash(phc.to_owned()))
    }

    /// The PHC string to store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Whether `input` is the PIN (argon2 compares in constant time).
    pub fn matches(&self, input: &str) -> bool {
        PasswordHash::new(&self.0).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(input.as_bytes(), &hash)
                .is_ok()
        })
    }
}

impl fmt::Debug for PinHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_digest_only() {
        let key = CodeKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let code = Code::parse("482913").unwrap();
        let digest = key.digest(&code);
        assert!(key.matches(&digest, "482913"));
        assert!(!key.matches(&digest, "482914"));
        assert!(!key.matches(&digest, ""));
        let other = CodeKey::new(b"another key of thirty-two bytes!".to_vec());
        assert!(!other.matches(&digest, "482913"), "the key matters");
        assert_eq!(CodeDigest::from_hex(&digest.to_hex()), Some(digest));
    }

    #[test]
    fn generated_codes_have_the_asked_length() {
        let code = Code::generate(6);
        assert_eq!(code.expose().len(), 6);
        assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn derived_codes_depend_on_the_key_and_the_context_only() {
        let key = CodeKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let other = CodeKey::new(b"another key of thirty-two bytes!".to_vec());
        let code = key.derive_code("vrf_1", 6);
        assert_eq!(code.expose().len(), 6);
        assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(key.derive_code("vrf_1", 6), code, "stable");
        assert_eq!(key.derive_code("vrf_1", 8).expose().len(), 8);
        let distinct: std::collections::HashSet<String> = (0..200)
            .map(|i| key.derive_code(&format!("vrf_{i}"), 6).expose().to_owned())
            .collect();
        assert!(distinct.len() > 190, "codes spread: {}", distinct.len());
        let differ = (0..20)
            .filter(|i| {
                let context = format!("vrf_{i}");
                key.derive_code(&context, 6) != other.derive_code(&context, 6)
            })
            .count();
        assert!(differ >= 19, "the key matters");
    }

    #[test]
    fn pins_verify_against_their_hash() {
        let hash = PinHash::hash("2580").unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(hash.matches("2580"));
        assert!(!hash.matches("2581"));
        assert_eq!(PinHash::from_phc(hash.as_phc()).unwrap(), hash);
        assert!(PinHash::hash("12").is_err());
        assert!(PinHash::from_phc("not a hash").is_err());
    }

    #[test]
    fn nothing_secret_is_printed() {
        let key = CodeKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let code = Code::parse("482913").unwrap();
        let text = format!(
            "{code:?} {key:?} {:?} {:?}",
            key.digest(&code),
            PinHash::hash("2580").unwrap()
        );
        assert!(!text.contains("482913"));
        assert!(!text.contains("2580"));
        assert!(!text.contains("0123456789abcdef"));
    }
}
