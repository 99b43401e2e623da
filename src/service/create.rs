//! A merchant's request for a verification, checked field by field into
//! the record arsgate stores. Nothing from the request goes further
//! unchecked: the phone number becomes a [`PhoneNumber`], each field is held
//! to its scenario's rules, free text is bounded.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ServiceError;
use crate::domain::{Merchant, MerchantId, Mode, NewVerification, PhoneNumber, Timestamp};
use crate::domain::{VerificationId, phone::InvalidPhone};
use crate::scenario::birthdate::{Birthdate, BirthdateDigests};
use crate::scenario::secret::{Code, CodeKey};
use crate::scenario::{Language, Runnable};
use crate::webhook::Egress;

/// The most bytes the metadata may take as JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The most bytes a callback URL may have.
pub const MAX_URL_BYTES: usize = 2048;

/// How many digits a one-time code has.
pub const CODE_LENGTH: usize = 6;

/// The code every sandbox verification uses, so that tests can check it.
pub const SANDBOX_CODE: &str = "123456";

/// A request for a verification, as the merchant sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVerification {
    /// The number to call: Korean, national (`010-1234-5678`) or E.164
    /// (`+821012345678`).
    #[schema(example = "010-1234-5678")]
    pub phone: String,
    /// The scenario to run (`read_code`, `press_then_read`, `enter_code`,
    /// `enter_pin`, `consent_record`, `event_optin`, or one of your own).
    #[schema(example = "enter_code")]
    pub scenario: String,
    /// Where webhooks about this verification are posted: `http` or
    /// `https` to a public address (internal ones are refused unless the
    /// operator allows their network).
    #[schema(example = "https://merchant.example/arsgate/webhook")]
    pub callback_url: Option<String>,
    /// Also post a webhook when the customer answers.
    #[serde(default)]
    pub notify_answered: bool,
    /// The prompts' language: `ko` or `en` (default from the configuration).
    #[schema(example = "ko")]
    pub language: Option<String>,
    /// Values the scenario's texts use (the consent scenario's bank,
    /// holder name, masked account number and purpose).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Your reference for the customer; `enter_pin` looks the PIN up by it.
    /// 1 to 64 of A-Z a-z 0-9 . _ - : @.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:@-]{1,64}$")]
    pub customer_ref: Option<String>,
    /// The customer's birth date, `YYYY-MM-DD`: required by
    /// `enter_birthdate` (the customer keys it as `YYYYMMDD` or `YYMMDD`),
    /// refused by every other scenario. A real calendar date from
    /// 1900-01-01 to today in Korea. Kept only as HMACs under the server's
    /// secret while the verification runs; never sent to the switch.
    #[schema(format = Date, example = "1990-01-31", min_length = 10, max_length = 10,
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub birthdate: Option<String>,
    /// Your own data (a JSON object up to 4 KiB), returned as given.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// A validated request, ready to store, with the code in clear (it is
/// never stored).
#[derive(Debug)]
pub struct Prepared {
    /// The record to store.
    pub new: NewVerification,
    /// The code in clear, for scenarios that use one.
    pub code: Option<Code>,
}

/// Checks `request` for `merchant` against its scenario.
pub fn prepare(
    request: CreateVerification,
    merchant: &Merchant,
    mode: Mode,
    runnable: &Runnable,
    default_language: Language,
    code_key: &CodeKey,
    egress: &Egress,
) -> Result<Prepared, ServiceError> {
    let phone = PhoneNumber::parse(&request.phone)
        .map_err(|InvalidPhone(_)| ServiceError::InvalidPhone(invalid_phone_message()))?;
    let language = match request.language.as_deref() {
        None => default_language,
        Some("ko") => Language::Ko,
        Some("en") => Language::En,
        Some(other) => return Err(ServiceError::InvalidLanguage(truncated(other))),
    };
    let callback_url = request
        .callback_url
        .as_deref()
        .map(|url| callback_url(url, egress))
        .transpose()?;
    let customer_ref = request
        .customer_ref
        .as_deref()
        .map(customer_ref)
        .transpose()?;
    if runnable.checks_pin() && customer_ref.is_none() {
        return Err(ServiceError::MissingCustomerRef(
            runnable.scenario.name().to_owned(),
        ));
    }
    let metadata = metadata(request.metadata)?;
    let fields = fields(runnable, request.fields)?;
    let now = Timestamp::now();
    let birthdate = birthdate(runnable, request.birthdate.as_deref(), now)?;
    let id = VerificationId::new();
    let code = runnable.uses_code().then(|| code_for(code_key, mode, id));
    let new = NewVerification {
        id,
        merchant_id: merchant.id,
        mode,
        scenario: runnable.scenario.name().to_owned(),
        phone,
        language,
        callback_url,
        notify_answered: request.notify_answered,
        customer_ref,
        metadata,
        fields,
        code_digest: code.as_ref().map(|c| code_key.digest(c).to_hex()),
        code_expires_at: code.as_ref().map(|_| now.plus(merchant.settings.code_ttl)),
        birthdate_digest: birthdate
            .map(|date| BirthdateDigests::new(code_key, &id.to_string(), &date).to_stored()),
        max_check_attempts: merchant.settings.max_check_attempts,
        created_at: now,
    };
    Ok(Prepared { new, code })
}

/// The one-time code of verification `id`: the fixed [`SANDBOX_CODE`] in
/// the sandbox, else derived from the server's key and the id (so it is
/// never stored, yet the same after a restart or for a replayed request).
pub fn code_for(code_key: &CodeKey, mode: Mode, id: VerificationId) -> Code {
    match mode {
        Mode::Test => Code::parse(SANDBOX_CODE)
            .unwrap_or_else(|_| code_key.derive_code(&id.to_string(), CODE_LENGTH)),
        Mode::Live => code_key.derive_code(&id.to_string(), CODE_LENGTH),
    }
}

/// The request's birth date, checked against its scenario: required where
/// the call checks one, refused elsewhere (so that it is never taken, and
/// held, for nothing), a real date from 1900 to today in Korea.
fn birthdate(
    runnable: &Runnable,
    given: Option<&str>,
    now: Timestamp,
) -> Result<Option<Birthdate>, ServiceError> {
    let scenario = || runnable.scenario.name().to_owned();
    match (given, runnable.checks_birthdate()) {
        (None, false) => Ok(None),
        (None, true) => Err(ServiceError::MissingBirthdate(scenario())),
        (Some(_), false) => Err(ServiceError::BirthdateNotUsed(scenario())),
        (Some(text), true) => Birthdate::parse(text, korean_date(now))
            .map(Some)
            .map_err(ServiceError::InvalidBirthdate),
    }
}

/// The date in Korea (UTC+9, no daylight saving) at `now`.
fn korean_date(now: Timestamp) -> NaiveDate {
    const KST_OFFSET_MILLIS: i64 = 9 * 3600 * 1000;
    chrono::DateTime::from_timestamp_millis(now.millis() + KST_OFFSET_MILLIS)
        .unwrap_or_default()
        .date_naive()
}

fn invalid_phone_message() -> String {
    "phone must be a Korean number: 010-1234-5678 or +821012345678".to_owned()
}

/// At most 64 characters of a refused value, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Checks a webhook URL: `http` or `https`, with a host, no credentials, at
/// most [`MAX_URL_BYTES`], and not aimed at an internal address `egress`
/// refuses (judged here from the text; the address a name resolves to is
/// judged again at each delivery).
pub fn callback_url(text: &str, egress: &Egress) -> Result<String, ServiceError> {
    let invalid = |why: &str| ServiceError::InvalidCallbackUrl(format!("callback_url {why}"));
    if text.len() > MAX_URL_BYTES {
        return Err(invalid("is longer than 2048 bytes"));
    }
    let url = reqwest::Url::parse(text).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("may not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid("may not have a fragment"));
    }
    if let Some(host) = url.host_str() {
        // The parsed host: `0x7f.1` and `2130706433` read as 127.0.0.1.
        egress
            .check_host(host)
            .map_err(ServiceError::ForbiddenCallbackUrl)?;
    }
    Ok(url.to_string())
}

/// Checks a customer reference: 1 to 64 of `A-Z a-z 0-9 . _ - : @`.
pub fn customer_ref(text: &str) -> Result<String, ServiceError> {
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:@".contains(&b));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(ServiceError::InvalidCustomerRef)
    }
}

fn metadata(value: Option<serde_json::Value>) -> Result<serde_json::Value, ServiceError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(serde_json::json!({})),
        Some(value @ serde_json::Value::Object(_)) => {
            let size = serde_json::to_string(&value).map_or(usize::MAX, |text| text.len());
            if size > MAX_METADATA_BYTES {
                Err(ServiceError::InvalidMetadata(format!(
                    "metadata takes {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}"
                )))
            } else {
                Ok(value)
            }
        }
        Some(_) => Err(ServiceError::InvalidMetadata(
            "metadata must be a JSON object".to_owned(),
        )),
    }
}

/// The scenario's fields from the request: every field it uses present and
/// valid, no other.
fn fields(
    runnable: &Runnable,
    mut given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ServiceError> {
    let mut fields = BTreeMap::new();
    for spec in runnable.scenario.fields() {
        let value = given
            .remove(spec.name())
            .ok_or_else(|| ServiceError::MissingField(spec.name().to_owned()))?;
        spec.check(&value)
            .map_err(|error| ServiceError::InvalidField(error.to_string()))?;
        fields.insert(spec.name().to_owned(), value);
    }
    if let Some(name) = given.into_keys().next() {
        return Err(ServiceError::UnknownField(truncated(&name)));
    }
    Ok(fields)
}

/// Whose verification a lookup is for: the merchant and the key's mode
/// (sandbox keys see sandbox verifications only, live keys live ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The merchant.
    pub merchant: MerchantId,
    /// The key's mode.
    pub mode: Mode,
}
