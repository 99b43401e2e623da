//! `/v1/customers/{customer_ref}/pin`: the PINs `enter_pin` checks against,
//! registered as argon2id hashes and never returned.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Authed;
use super::body::JsonBody;
use super::path::PathParam;
use super::problem::{PROBLEM_JSON, Problem};

/// A PIN to register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// 4 to 12 digits.
    #[schema(example = "2580")]
    pub pin: String,
}

/// Registers (or replaces) a customer's PIN.
#[utoipa::path(
    put,
    path = "/v1/customers/{customer_ref}/pin",
    tag = "customers",
    params(("customer_ref" = String, Path, description = "Your reference for the customer: 1 to 64 of A-Z a-z 0-9 . _ - : @")),
    request_body = PinRequest,
    responses(
        (status = 204, description = "Registered"),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_pin` or `invalid_customer_ref`", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn put_pin(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(customer_ref): PathParam<String>,
    body: JsonBody<PinRequest>,
) -> Result<StatusCode, Problem> {
    state
        .service
        .set_pin(&auth.merchant, &customer_ref, &body.value.pin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a customer's PIN.
#[utoipa::path(
    delete,
    path = "/v1/customers/{customer_ref}/pin",
    tag = "customers",
    params(("customer_ref" = String, Path, description = "Your reference for the customer")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No PIN registered", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn delete_pin(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(customer_ref): PathParam<String>,
) -> Result<StatusCode, Problem> {
    state
        .service
        .delete_pin(&auth.merchant, &customer_ref)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
