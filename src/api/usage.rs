//! `/v1/usage`: what a month cost, in the brochure's units.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiState;
use super::auth::Authed;
use super::problem::{PROBLEM_JSON, Problem};
use crate::service::usage::{UsageReport, current_month};

/// Which month.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `YYYY-MM` in Korean Standard Time (default: this month).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", min_length = 7, max_length = 7)]
    pub month: Option<String>,
}

/// A month's billable authentications per scenario, calls and minutes, for
/// the key's mode.
#[utoipa::path(
    get,
    path = "/v1/usage", operation_id = "get_usage",
    tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 400, description = "`invalid_request`: an unknown query parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_field`: month is not YYYY-MM", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn usage(
    State(state): State<ApiState>,
    auth: Authed,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageReport>, Problem> {
    let Query(query) = query.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let month = query.month.unwrap_or_else(current_month);
    Ok(Json(state.service.usage(auth.caller(), &month).await?))
}
