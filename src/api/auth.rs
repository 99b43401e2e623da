//! Bearer API keys: every `/v1` route runs as the merchant (and in the
//! mode) of the key it was called with.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::ApiState;
use super::problem::Problem;
use crate::domain::{Merchant, Mode};
use crate::service::Caller;
use crate::service::keys;

/// The merchant a request runs as, from its `Authorization: Bearer` key.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The key's merchant.
    pub merchant: Merchant,
    /// Live or sandbox, from the key.
    pub mode: Mode,
}

impl Authed {
    /// Whose records the request may see.
    pub fn caller(&self) -> Caller {
        Caller {
            merchant: self.merchant.id,
            mode: self.mode,
        }
    }
}

impl FromRequestParts<ApiState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthorized("send your API key as `Authorization: Bearer <key>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be `Bearer <key>`")
            })?;
        let (merchant, mode) = keys::authenticate(&**state.service.store(), token).await?;
        Ok(Authed { merchant, mode })
    }
}
