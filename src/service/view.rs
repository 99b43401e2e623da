//! Verifications as merchants see them, in API responses and webhooks
//! alike: everything they asked for and what happened, never a secret.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{EventId, Timestamp, Verification, VerificationState};
use crate::limits::QueueView;
use crate::scenario::Outcome;

/// A verification as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VerificationView {
    /// Its id (`vrf_...`).
    #[schema(value_type = String, example = "vrf_3f2a0c9e8b7d4f6a9c1e2b3d4f5a6b7c")]
    pub id: String,
    /// `live`, or `test` for the sandbox.
    #[schema(example = "test")]
    pub mode: &'static str,
    /// Where the call stands: `pending`, `calling`, `answered`, `finished`.
    #[schema(value_type = String, example = "finished")]
    pub status: VerificationState,
    /// How it ended, once finished: `verified`, `wrong_input`, `no_input`,
    /// `consented`, `declined`, `completed`, `no_answer`, `busy`, `rejected`,
    /// `invalid_number`, `network_error`, `customer_hung_up`, `canceled`,
    /// `timeout`, `error`.
    #[schema(value_type = Option<String>, example = "verified")]
    pub outcome: Option<Outcome>,
    /// Why, in words.
    pub reason: Option<String>,
    /// The scenario.
    pub scenario: String,
    /// The number called, in E.164.
    #[schema(example = "+821012345678")]
    pub phone: String,
    /// The prompts' language.
    #[schema(example = "ko")]
    pub language: &'static str,
    /// Where webhooks go.
    pub callback_url: Option<String>,
    /// Whether a webhook is posted on answer too.
    pub notify_answered: bool,
    /// The customer reference given.
    pub customer_ref: Option<String>,
    /// The fields given.
    pub fields: BTreeMap<String, String>,
    /// The metadata given.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// For scenarios whose code the merchant checks.
    pub check: Option<CheckView>,
    /// What happened on the call, in order (inputs by length and result,
    /// never their digits).
    #[schema(value_type = Vec<Object>)]
    pub timeline: serde_json::Value,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When the customer answered.
    pub answered_at: Option<String>,
    /// When the call ended.
    pub finished_at: Option<String>,
    /// While the call waits for a free channel of your plan (`at_limit:
    /// queue`): its place and an estimate of when it is placed. Shown by
    /// the arsgate replica that queued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueView>,
}

/// Where the checking of a spoken code stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CheckView {
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Until when the code may be checked.
    pub expires_at: Option<String>,
    /// When a check matched, if one did.
    pub approved_at: Option<String>,
    /// When the call read the code out to its end; until then a check is
    /// refused (`409 code_not_delivered`).
    pub code_heard_at: Option<String>,
}

impl VerificationView {
    /// The view of `verification`; `checkable` says whether the scenario's
    /// code is checked through the API.
    pub fn new(verification: &Verification, checkable: bool) -> Self {
        let request = &verification.request;
        VerificationView {
            id: request.id.to_string(),
            mode: request.mode.as_str(),
            status: verification.state,
            outcome: verification.outcome,
            reason: verification.reason.clone(),
            scenario: request.scenario.clone(),
            phone: request.phone.e164().to_owned(),
            language: request.language.code(),
            callback_url: request.callback_url.clone(),
            notify_answered: request.notify_answered,
            customer_ref: request.customer_ref.clone(),
            fields: request.fields.clone(),
            metadata: request.metadata.clone(),
            check: checkable.then(|| CheckView {
                attempts: verification.check_attempts,
                max_attempts: request.max_check_attempts,
                expires_at: request.code_expires_at.map(Timestamp::rfc3339),
                approved_at: verification.checked_at.map(Timestamp::rfc3339),
                code_heard_at: verification.code_heard_at.map(Timestamp::rfc3339),
            }),
            timeline: verification.timeline.clone(),
            created_at: request.created_at.rfc3339(),
            answered_at: verification.answered_at.map(Timestamp::rfc3339),
            finished_at: verification.finished_at.map(Timestamp::rfc3339),
            queue: None,
        }
    }
}

/// What a webhook says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// The customer answered (only if the request asked for it).
    Answered,
    /// The verification has its outcome.
    Finished,
}

impl WebhookKind {
    /// The event type in the payload (`verification.finished`).
    pub fn event_type(self) -> &'static str {
        match self {
            WebhookKind::Answered => "verification.answered",
            WebhookKind::Finished => "verification.finished",
        }
    }
}

/// A webhook's body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookPayload {
    /// The event's id: the same on every retry of this event, so the
    /// receiver can drop duplicates.
    #[schema(value_type = String, example = "evt_9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e")]
    pub id: EventId,
    /// `verification.finished` or `verification.answered`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the event happened (RFC 3339).
    pub created_at: String,
    /// The verification as `GET /v1/verifications/{id}` shows it then.
    pub data: VerificationView,
}
