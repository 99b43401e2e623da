//! `/v1/limits`: the merchant's plan and its usage now.

use axum::Json;
use axum::extract::State;

use super::ApiState;
use super::auth::Authed;
use super::problem::{PROBLEM_JSON, Problem};
use crate::limits::LimitsReport;

/// Your plan (channels, calls per second, per-number velocity, daily cap,
/// recording, what happens at the channel limit) and your usage now, for
/// the key's mode: live channels, calls today, calls queued.
#[utoipa::path(
    get,
    path = "/v1/limits", operation_id = "get_limits",
    tag = "limits",
    responses(
        (status = 200, body = LimitsReport),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "Store unavailable; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn limits(
    State(state): State<ApiState>,
    auth: Authed,
) -> Result<Json<LimitsReport>, Problem> {
    Ok(Json(state.service.limits(&auth.merchant, auth.mode).await?))
}
