//! Webhook deliveries: the outbox a merchant's events wait in until their
//! endpoint acknowledges them.

use super::ids::{EventId, MerchantId, VerificationId};
use super::time::Timestamp;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Acknowledged with a 2xx.
    Delivered,
    /// Given up on after the retry window.
    Dead,
}

impl DeliveryState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// Reads a state's name.
    pub fn parse(text: &str) -> Option<DeliveryState> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

/// A webhook event to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The event's id (the receiver de-duplicates on it).
    pub id: EventId,
    /// Whose event it is.
    pub merchant_id: MerchantId,
    /// The verification it is about.
    pub verification_id: VerificationId,
    /// Where it goes.
    pub url: String,
    /// The event type (`verification.finished`).
    pub event_type: String,
    /// The exact JSON body to send (signed as is).
    pub payload: String,
    /// When it was created (and first due).
    pub created_at: Timestamp,
}

/// A webhook delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// What to deliver.
    pub event: NewDelivery,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: Timestamp,
    /// The last HTTP status received, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// When it was acknowledged.
    pub delivered_at: Option<Timestamp>,
}
