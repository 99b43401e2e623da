//! `/metrics`: the Prometheus text exposition, unauthenticated like
//! `/healthz` (scrapers sit inside the operator's network; no label holds
//! a secret or a customer's data).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::ApiState;

/// The content type of Prometheus' text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every arsgate metric, in Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics", operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    state.metrics.collect(&state.service).await;
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        crate::metrics::render(),
    )
}
