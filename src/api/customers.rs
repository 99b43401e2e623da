//! `/v1/customers/{customer_ref}/pin`: the PINs `enter_pin` checks against,
//! one per customer and mode (a sandbox key never touches the PIN live
//! calls ask for), registered as argon2id hashes and never returned.

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
    #[schema(
        example = "2580",
        pattern = "^[0-9]{4,12}$",
        min_length = 4,
        max_length = 12
    )]
    pub pin: String,
}

/// Registers (or replaces) a customer's PIN for the `enter_pin` calls of the
/// key's mode: a sandbox key's PINs are checked by sandbox calls only, a
/// live key's by live calls only.
#[utoipa::path(
    put,
    path = "/v1/customers/{customer_ref}/pin", operation_id = "put_pin",
    tag = "customers",
    params(("customer_ref" = String, Path,
        description = "Your reference for the customer: 1 to 64 of A-Z a-z 0-9 . _ - : @",
        min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:@-]{1,64}$")),
    request_body = PinRequest,
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "`invalid_json`: the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "`payload_too_large`: body over 64 KiB", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "`unsupported_media_type`: body not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_pin`, `invalid_customer_ref`; `invalid_request`, `missing_field`, `unknown_field`: the body is not `{\"pin\": \"...\"}`", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
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
        .set_pin(&auth.merchant, auth.mode, &customer_ref, &body.value.pin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a customer's PIN of the key's mode (the other mode's stays).
#[utoipa::path(
    delete,
    path = "/v1/customers/{customer_ref}/pin", operation_id = "delete_pin",
    tag = "customers",
    params(("customer_ref" = String, Path,
        description = "Your reference for the customer: 1 to 64 of A-Z a-z 0-9 . _ - : @",
        min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:@-]{1,64}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "`not_found`: no PIN registered", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_customer_ref`", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
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
        .delete_pin(&auth.merchant, auth.mode, &customer_ref)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
