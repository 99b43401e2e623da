//! `/v1/webhooks/deliveries`: every webhook sent or waiting, and a way to
//! send one again.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Authed;
use super::path::PathParam;
use super::problem::{PROBLEM_JSON, Problem};
use super::verifications::page_limit;
use crate::domain::EventId;
use crate::service::deliveries::DeliveryView;

/// Paging of the delivery list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Results per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One page of deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    /// The deliveries, newest first.
    pub data: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Your webhook deliveries of the key's mode (a sandbox key sees the
/// sandbox's, a live key the live ones), newest first: pending, delivered
/// and dead.
#[utoipa::path(
    get,
    path = "/v1/webhooks/deliveries", operation_id = "list_deliveries",
    tag = "webhooks",
    params(DeliveryQuery),
    responses(
        (status = 200, body = DeliveryList),
        (status = 400, description = "`invalid_request`: `limit` or a parameter is malformed; `invalid_cursor`", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    auth: Authed,
    query: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, Problem> {
    let Query(query) = query.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let page = state
        .service
        .deliveries(&auth.merchant, auth.mode, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(DeliveryList {
        data: page.items.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next,
    }))
}

/// Queues a delivery again, due now (dead ones too). The event keeps its id,
/// so a receiver that already has it can drop it. Only the key's mode's
/// deliveries: the other mode's are `404`. Rate-limited per merchant.
#[utoipa::path(
    post,
    path = "/v1/webhooks/deliveries/{id}/redeliver", operation_id = "redeliver",
    tag = "webhooks",
    params(("id" = String, Path, description = "The event's id (`evt_...`)")),
    responses(
        (status = 202, description = "Queued"),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "`too_many_redeliveries`: over the merchant's rate (`webhooks.redeliveries_per_minute`); see `Retry-After`", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn redeliver(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, Problem> {
    let id = EventId::parse(&id)
        .map_err(|_| Problem::not_found(format!("delivery {id:?} not found")))?;
    state
        .service
        .redeliver(&auth.merchant, auth.mode, id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
