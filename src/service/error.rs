//! Why a merchant's request was refused, with a stable code for each reason.

use crate::limits::Refusal;
use crate::scenario::birthdate::BirthdateError;
use crate::store::StoreError;

/// Why a verification operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The phone number is not a Korean number arsgate can call.
    #[error("{0}")]
    InvalidPhone(String),
    /// No scenario has this name.
    #[error("there is no scenario named {0:?}")]
    UnknownScenario(String),
    /// A field the scenario needs is absent.
    #[error("field `{0}` is required by the scenario")]
    MissingField(String),
    /// A field the scenario does not use was given.
    #[error("field `{0}` is not used by the scenario")]
    UnknownField(String),
    /// A field's value breaks its rules.
    #[error("{0}")]
    InvalidField(String),
    /// Not a language prompts exist in.
    #[error("language {0:?} is not available (ko, en)")]
    InvalidLanguage(String),
    /// The callback URL cannot receive webhooks.
    #[error("{0}")]
    InvalidCallbackUrl(String),
    /// The callback URL names an address webhooks may not reach
    /// (loopback, private, link-local, metadata...).
    #[error("callback_url: {0}")]
    ForbiddenCallbackUrl(crate::webhook::egress::Refused),
    /// A customer reference is empty, too long or has odd characters.
    #[error("customer_ref must be 1 to 64 letters, digits or . _ - : @")]
    InvalidCustomerRef,
    /// The scenario checks a PIN, so the request must name the customer.
    #[error("scenario {0:?} checks a registered PIN: customer_ref is required")]
    MissingCustomerRef(String),
    /// The customer has no PIN registered.
    #[error("customer {0:?} has no PIN registered")]
    PinNotRegistered(String),
    /// A PIN is not 4 to 12 digits.
    #[error("a PIN is 4 to 12 digits")]
    InvalidPin,
    /// The scenario checks a birth date, and the request gave none.
    #[error("scenario {0:?} checks a birth date: birthdate is required")]
    MissingBirthdate(String),
    /// A birth date was given for a scenario that does not check one.
    #[error("scenario {0:?} does not check a birth date: leave birthdate out")]
    BirthdateNotUsed(String),
    /// The birth date is not a real date, is in the future or before 1900.
    #[error(transparent)]
    InvalidBirthdate(BirthdateError),
    /// The metadata is not a JSON object or is too big.
    #[error("{0}")]
    InvalidMetadata(String),
    /// No such record for this merchant (another merchant's records are
    /// reported the same way).
    #[error("{0} not found")]
    NotFound(String),
    /// The verification's scenario has no code to check.
    #[error("scenario {0:?} does not read a code out; there is nothing to check")]
    NotCheckable(String),
    /// The code is not 4 to 12 digits.
    #[error("a code is 4 to 12 digits")]
    InvalidCode,
    /// The code's time to be checked is over.
    #[error("the code has expired")]
    CodeExpired,
    /// Every allowed check attempt was used.
    #[error("too many attempts: the verification is locked")]
    TooManyAttempts,
    /// The merchant asked for more redeliveries than its rate allows.
    #[error("too many redeliveries; retry in {retry_after} s")]
    TooManyRedeliveries {
        /// Seconds until one more is allowed.
        retry_after: u64,
    },
    /// The code was already checked successfully; a code is good once.
    #[error("the code was already used")]
    CodeUsed,
    /// The call has not read the code out to its end (not answered yet,
    /// or `ended`: never will), so nobody can have heard it from the
    /// phone.
    #[error(
        "{}",
        if *ended {
            "the call ended without reading the code out; start a new verification"
        } else {
            "the call has not read the code out yet"
        }
    )]
    CodeNotDelivered {
        /// Whether the call is over.
        ended: bool,
    },
    /// The verification already has its outcome.
    #[error("the verification is already finished")]
    AlreadyFinished,
    /// The recording no longer matches the digest taken when the call
    /// ended: it was altered on disk.
    #[error("the recording no longer matches its digest; it was altered after the call")]
    RecordingAltered,
    /// The merchant's plan does not include recording, which the
    /// scenario does.
    #[error("scenario {scenario:?} records the call, and plan {plan:?} does not include recording")]
    RecordingNotAllowed {
        /// The scenario.
        scenario: String,
        /// The merchant's plan.
        plan: String,
    },
    /// The merchant's plan refused the call (rate, channels, velocity,
    /// daily cap).
    #[error(transparent)]
    Limit(Refusal),
    /// No FreeSWITCH node has room for the call now, and the merchant's
    /// plan does not queue.
    #[error("no capacity: {0}")]
    NoCapacity(crate::switch::NoNode),
    /// arsgate is shutting down and takes no new calls.
    #[error("arsgate is shutting down")]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// The stable, machine-readable code merchants branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::InvalidPhone(_) => "invalid_phone",
            ServiceError::UnknownScenario(_) => "unknown_scenario",
            ServiceError::MissingField(_) => "missing_field",
            ServiceError::UnknownField(_) => "unknown_field",
            ServiceError::InvalidField(_) => "invalid_field",
            ServiceError::InvalidLanguage(_) => "invalid_language",
            ServiceError::InvalidCallbackUrl(_) => "invalid_callback_url",
            ServiceError::ForbiddenCallbackUrl(_) => "forbidden_callback_url",
            ServiceError::InvalidCustomerRef => "invalid_customer_ref",
            ServiceError::MissingCustomerRef(_) => "missing_customer_ref",
            ServiceError::PinNotRegistered(_) => "pin_not_registered",
            ServiceError::InvalidPin => "invalid_pin",
            ServiceError::MissingBirthdate(_) => "missing_birthdate",
            ServiceError::BirthdateNotUsed(_) => "birthdate_not_used",
            ServiceError::InvalidBirthdate(BirthdateError::Invalid) => "invalid_birthdate",
            ServiceError::InvalidBirthdate(BirthdateError::Future) => "birthdate_in_future",
            ServiceError::InvalidBirthdate(BirthdateError::TooEarly) => "birthdate_too_early",
            ServiceError::InvalidMetadata(_) => "invalid_metadata",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::NotCheckable(_) => "not_checkable",
            ServiceError::InvalidCode => "invalid_code",
            ServiceError::CodeExpired => "code_expired",
            ServiceError::TooManyAttempts => "too_many_attempts",
            ServiceError::TooManyRedeliveries { .. } => "too_many_redeliveries",
            ServiceError::CodeUsed => "code_used",
            ServiceError::CodeNotDelivered { .. } => "code_not_delivered",
            ServiceError::AlreadyFinished => "already_finished",
            ServiceError::RecordingAltered => "recording_altered",
            ServiceError::RecordingNotAllowed { .. } => "recording_not_allowed",
            ServiceError::Limit(refusal) => refusal.code(),
            ServiceError::NoCapacity(_) => "no_capacity",
            ServiceError::ShuttingDown => "shutting_down",
            ServiceError::Store(error) => store_code(error),
        }
    }

    /// Seconds the merchant should wait before retrying, for refusals that
    /// pass with time.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ServiceError::Limit(refusal) => refusal.retry_after_secs(),
            // A node's channel frees up as soon as any call ends.
            ServiceError::NoCapacity(_) => Some(1),
            ServiceError::TooManyRedeliveries { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The code of a store failure.
fn store_code(error: &StoreError) -> &'static str {
    match error {
        StoreError::NotFound(_) => "not_found",
        StoreError::Conflict(_) => "conflict",
        StoreError::InvalidCursor(_) => "invalid_cursor",
        _ => "store_unavailable",
    }
}

impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> ServiceError {
        match refusal {
            Refusal::Store(error) => ServiceError::Store(error),
            refusal => ServiceError::Limit(refusal),
        }
    }
}
