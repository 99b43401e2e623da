//! The domain's types: values that parse rather than validate (once a
//! `PhoneNumber`, always a valid one), ids, and the records the store keeps.
//!
//! - [`phone`]: Korean phone numbers ([`PhoneNumber`]).
//! - [`ids`]: [`MerchantId`], [`VerificationId`], [`ApiKeyId`], [`EventId`].
//! - [`time`]: instants as stored and shown ([`Timestamp`]).
//! - [`merchant`]: merchants, API keys, live and sandbox [`Mode`].
//! - [`verification`]: verifications, their state, evidence, usage.
//! - [`webhook`]: webhook deliveries.
//! - [`limits`]: channel leases and admitted calls, as the store keeps them.

pub mod ids;
pub mod limits;
pub mod merchant;
pub mod phone;
pub mod time;
pub mod verification;
pub mod webhook;

pub use ids::{ApiKeyId, EventId, InvalidId, MerchantId, VerificationId};
pub use limits::{Admission, AdmitCall, LeaseTerms, LimitScope, LimitUsage};
pub use merchant::{ApiKey, Merchant, MerchantSettings, Mode};
pub use phone::{InvalidPhone, PhoneNumber};
pub use time::Timestamp;
pub use verification::{
    Evidence, Finish, NewVerification, Page, Usage, Verification, VerificationFilter,
    VerificationState,
};
pub use webhook::{Delivery, DeliveryState, NewDelivery};
