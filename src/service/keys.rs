//! API keys: issued once in clear, stored as a SHA-256 hash, found again by
//! the public id they carry.
//!
//! A key reads `ars_<mode>_<id>_<secret>`: the mode (`live` or `test`), the
//! key's public id (32 hex digits, shown as `key_<id>` in listings) and 64
//! hex digits (256 bits) of secret.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::domain::{ApiKey, ApiKeyId, Merchant, MerchantSettings, Mode, Timestamp};
use crate::store::{Store, StoreError};

/// A key just issued: the only time its text exists outside the client.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key as stored.
    pub key: ApiKey,
    /// The key in clear, to hand to the merchant.
    pub text: String,
}

/// Why a bearer token was refused (deliberately vague towards the caller).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a key, unknown, revoked, or its secret does not match.
    #[error("the API key is not valid")]
    Invalid,
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a new key of `mode` for `merchant`.
pub async fn issue(
    store: &dyn Store,
    merchant: &Merchant,
    mode: Mode,
) -> Result<IssuedKey, StoreError> {
    let id = ApiKeyId::new();
    let secret: [u8; 32] = rand::rng().random();
    let text = format!(
        "ars_{}_{}_{}",
        mode.as_str(),
        id.uuid().simple(),
        hex::encode(secret)
    );
    let key = ApiKey {
        id,
        merchant_id: merchant.id,
        mode,
        hash: hash(&text),
        created_at: Timestamp::now(),
        revoked_at: None,
    };
    store.create_api_key(&key).await?;
    Ok(IssuedKey { key, text })
}

/// The merchant named `name`, created with default settings and a fresh
/// webhook secret if it does not exist yet; `true` if it was created.
pub async fn merchant_named(store: &dyn Store, name: &str) -> Result<(Merchant, bool), StoreError> {
    if let Some(merchant) = store.merchant_by_name(name).await? {
        return Ok((merchant, false));
    }
    let secret: [u8; 32] = rand::rng().random();
    let webhook_secret = format!("whsec_{}", hex::encode(secret));
    match store
        .create_merchant(name, &webhook_secret, &MerchantSettings::default())
        .await
    {
        Ok(merchant) => Ok((merchant, true)),
        // Created meanwhile by another process.
        Err(StoreError::Conflict(_)) => store
            .merchant_by_name(name)
            .await?
            .map(|m| (m, false))
            .ok_or_else(|| StoreError::NotFound(format!("merchant {name:?}"))),
        Err(error) => Err(error),
    }
}

/// The merchant and mode of a bearer token.
pub async fn authenticate(store: &dyn Store, token: &str) -> Result<(Merchant, Mode), AuthError> {
    let (mode, id) = parse(token).ok_or(AuthError::Invalid)?;
    let key = store.api_key(id).await?.ok_or(AuthError::Invalid)?;
    let matches = constant_time_eq(hash(token).as_bytes(), key.hash.as_bytes());
    if !matches || key.revoked_at.is_some() || key.mode != mode {
        return Err(AuthError::Invalid);
    }
    let merchant = store
        .merchant(key.merchant_id)
        .await?
        .ok_or(AuthError::Invalid)?;
    Ok((merchant, mode))
}

/// The key an operator names: its public id (`key_...`) or the whole key
/// text (whose id is then read, the secret part ignored).
pub fn named_id(text: &str) -> Option<ApiKeyId> {
    ApiKeyId::parse(text)
        .ok()
        .or_else(|| parse(text).map(|(_, id)| id))
}

/// The mode and id a key's text claims (checked against the store later).
fn parse(token: &str) -> Option<(Mode, ApiKeyId)> {
    let mut parts = token.strip_prefix("ars_")?.split('_');
    let mode = Mode::parse(parts.next()?)?;
    let id = ApiKeyId::parse(&format!("{}{}", ApiKeyId::PREFIX, parts.next()?)).ok()?;
    let secret = parts.next()?;
    let ok = parts.next().is_none()
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some((mode, id))
}

fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_mode_and_id() {
        let id = ApiKeyId::new();
        let text = format!("ars_test_{}_{}", id.uuid().simple(), "ab".repeat(32));
        assert_eq!(parse(&text), Some((Mode::Test, id)));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let id = ApiKeyId::new().uuid().simple().to_string();
        let secret = "ab".repeat(32);
        for text in [
            String::new(),
            format!("ars_prod_{id}_{secret}"),
            format!("ars_test_{id}"),
            format!("ars_test_{id}_{}", &secret[1..]),
            format!("ars_test_{id}_{secret}_x"),
            format!("ars_test_{}_{secret}", &id[1..]),
            format!("sk_test_{id}_{secret}"),
        ] {
            assert_eq!(parse(&text), None, "{text}");
        }
    }

    #[test]
    fn an_operator_names_a_key_by_id_or_by_its_text() {
        let id = ApiKeyId::new();
        let text = format!("ars_live_{}_{}", id.uuid().simple(), "cd".repeat(32));
        assert_eq!(named_id(&id.to_string()), Some(id));
        assert_eq!(named_id(&text), Some(id));
        assert_eq!(named_id(&id.uuid().simple().to_string()), None);
        assert_eq!(named_id("key_nope"), None);
    }

    #[test]
    fn equal_hashes_compare_equal_and_others_do_not() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
