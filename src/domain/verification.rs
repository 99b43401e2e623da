//! Verifications: what a merchant asked for, where its call stands, how it
//! ended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{MerchantId, VerificationId};
use super::merchant::Mode;
use super::phone::PhoneNumber;
use super::time::Timestamp;
use crate::scenario::{Language, Outcome};

/// Where a verification's call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    /// Accepted; the call is not placed yet.
    Pending,
    /// The call is being placed (ringing).
    Calling,
    /// The customer answered; the scenario runs.
    Answered,
    /// The call is over and the outcome known. Final.
    Finished,
}

impl VerificationState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationState::Pending => "pending",
            VerificationState::Calling => "calling",
            VerificationState::Answered => "answered",
            VerificationState::Finished => "finished",
        }
    }

    /// Reads a state's name.
    pub fn parse(text: &str) -> Option<VerificationState> {
        match text {
            "pending" => Some(VerificationState::Pending),
            "calling" => Some(VerificationState::Calling),
            "answered" => Some(VerificationState::Answered),
            "finished" => Some(VerificationState::Finished),
            _ => None,
        }
    }
}

/// A verification to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVerification {
    /// Its id.
    pub id: VerificationId,
    /// Whose it is.
    pub merchant_id: MerchantId,
    /// Live or sandbox (the key's mode).
    pub mode: Mode,
    /// The scenario's name.
    pub scenario: String,
    /// Who to call.
    pub phone: PhoneNumber,
    /// The prompts' language.
    pub language: Language,
    /// Where webhooks go.
    pub callback_url: Option<String>,
    /// Whether the merchant wants a webhook when the customer answers too.
    pub notify_answered: bool,
    /// The merchant's reference for the customer (PIN lookup).
    pub customer_ref: Option<String>,
    /// Opaque merchant data, returned as given.
    pub metadata: serde_json::Value,
    /// The scenario's request fields, validated.
    pub fields: BTreeMap<String, String>,
    /// The code's HMAC-SHA256 digest (hex), for code scenarios.
    pub code_digest: Option<String>,
    /// Until when the code may be checked.
    pub code_expires_at: Option<Timestamp>,
    /// For birth-date scenarios, the birth date's digests in their stored
    /// form ([`BirthdateDigests`](crate::scenario::birthdate::BirthdateDigests)):
    /// held while the verification runs, erased when it finishes.
    pub birthdate_digest: Option<String>,
    /// How many `check` attempts the code allows: the merchant's setting
    /// when the verification was created, kept so that a later change of
    /// the setting neither unlocks a locked code nor locks an open one.
    pub max_check_attempts: u32,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A verification as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// What was asked for.
    pub request: NewVerification,
    /// Where the call stands.
    pub state: VerificationState,
    /// How the call ended, once it has.
    pub outcome: Option<Outcome>,
    /// Why, in words.
    pub reason: Option<String>,
    /// `check` attempts so far.
    pub check_attempts: u32,
    /// When a `check` matched the code.
    pub checked_at: Option<Timestamp>,
    /// When the call read the code out to its end (never, for scenarios
    /// that show the code instead).
    pub code_heard_at: Option<Timestamp>,
    /// The call's id, once placed.
    pub call_id: Option<String>,
    /// The switch node that carries the call.
    pub node: Option<String>,
    /// The call's timeline (a JSON array).
    pub timeline: serde_json::Value,
    /// When the customer answered.
    pub answered_at: Option<Timestamp>,
    /// When the call ended.
    pub finished_at: Option<Timestamp>,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl Verification {
    /// A verification just created from `request`: pending, nothing
    /// happened yet.
    pub fn pending(request: NewVerification) -> Verification {
        let updated_at = request.created_at;
        Verification {
            request,
            state: VerificationState::Pending,
            outcome: None,
            reason: None,
            check_attempts: 0,
            checked_at: None,
            code_heard_at: None,
            call_id: None,
            node: None,
            timeline: serde_json::Value::Array(Vec::new()),
            answered_at: None,
            finished_at: None,
            updated_at,
        }
    }

    /// The verification's id.
    pub fn id(&self) -> VerificationId {
        self.request.id
    }

    /// Whether the verification reached its final state.
    pub fn is_final(&self) -> bool {
        self.state == VerificationState::Finished
    }
}

/// How a call ended, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// The call's timeline (a JSON array).
    pub timeline: serde_json::Value,
    /// When the call ended.
    pub finished_at: Timestamp,
}

/// What a consent call leaves as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The consent text as spoken.
    pub consent_text: Option<String>,
    /// The key pressed.
    pub key: Option<String>,
    /// When it was pressed.
    pub key_at: Option<Timestamp>,
    /// The recording as the switch named it.
    pub recording_path: Option<String>,
    /// The recording as arsgate reads it.
    pub local_path: Option<String>,
    /// The recording's SHA-256 (hex).
    pub recording_sha256: Option<String>,
    /// The recording's length in milliseconds.
    pub recording_ms: Option<u64>,
}

/// Filters for listing verifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerificationFilter {
    /// Only live or only sandbox ones.
    pub mode: Option<Mode>,
    /// Only in this state.
    pub state: Option<VerificationState>,
    /// Only of this scenario.
    pub scenario: Option<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
}

/// One page of a listing; `next` continues it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// An opaque cursor for the next page, if there is one.
    pub next: Option<String>,
}

/// A month's usage for a merchant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Billable authentications (calls that reached their scenario's
    /// outcome), per scenario.
    pub billable: BTreeMap<String, u64>,
    /// Calls placed.
    pub calls: u64,
    /// Answered call time, in seconds.
    pub answered_seconds: u64,
}
