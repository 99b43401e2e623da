//! A merchant's webhook deliveries: listed, and put back in the queue (at
//! a bounded rate: each redelivery is a request arsgate sends on the
//! merchant's word).

use std::num::NonZeroU32;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Service, ServiceError};
use crate::domain::{Delivery, EventId, Merchant, MerchantId, Mode, Page, Timestamp};

/// How many redeliveries each merchant may ask for, in this process.
pub(super) struct Redeliveries(DefaultKeyedRateLimiter<MerchantId>);

impl Redeliveries {
    /// `count` a minute, in bursts of up to `count`.
    pub(super) fn per_minute(count: NonZeroU32) -> Redeliveries {
        Redeliveries(RateLimiter::keyed(Quota::per_minute(count)))
    }

    /// Takes one for `merchant`; `Err` holds the seconds until one is free.
    fn take(&self, merchant: MerchantId) -> Result<(), u64> {
        self.0.check_key(&merchant).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.0.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id (`evt_...`), as in the payload.
    pub id: String,
    /// The verification it is about.
    pub verification_id: String,
    /// `verification.finished` or `verification.answered`.
    pub event_type: String,
    /// Where it goes.
    pub url: String,
    /// `pending`, `delivered`, or `dead` (given up after 24 hours).
    pub state: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: Option<String>,
    /// The last HTTP status received.
    pub last_status: Option<u16>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// When it was acknowledged.
    pub delivered_at: Option<String>,
    /// When the event happened.
    pub created_at: String,
}

impl From<&Delivery> for DeliveryView {
    fn from(delivery: &Delivery) -> DeliveryView {
        let pending = delivery.state == crate::domain::DeliveryState::Pending;
        DeliveryView {
            id: delivery.event.id.to_string(),
            verification_id: delivery.event.verification_id.to_string(),
            event_type: delivery.event.event_type.clone(),
            url: delivery.event.url.clone(),
            state: delivery.state.as_str(),
            attempts: delivery.attempts,
            next_attempt_at: pending.then(|| delivery.next_attempt_at.rfc3339()),
            last_status: delivery.last_status,
            last_error: delivery.last_error.clone(),
            delivered_at: delivery.delivered_at.map(Timestamp::rfc3339),
            created_at: delivery.event.created_at.rfc3339(),
        }
    }
}

impl Service {
    /// `merchant`'s deliveries of `mode`, newest first.
    pub async fn deliveries(
        &self,
        merchant: &Merchant,
        mode: Mode,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Delivery>, ServiceError> {
        Ok(self
            .store()
            .list_deliveries(merchant.id, mode, cursor, limit)
            .await?)
    }

    /// Queues a delivery of `mode` again, due now (a dead one included),
    /// within the merchant's rate of redeliveries.
    pub async fn redeliver(
        &self,
        merchant: &Merchant,
        mode: Mode,
        id: EventId,
    ) -> Result<(), ServiceError> {
        self.inner
            .redeliveries
            .take(merchant.id)
            .map_err(|retry_after| ServiceError::TooManyRedeliveries { retry_after })?;
        if self
            .store()
            .redeliver(merchant.id, mode, id, Timestamp::now())
            .await?
        {
            self.inner.webhooks.notify_one();
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("delivery {id}")))
        }
    }
}
