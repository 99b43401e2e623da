//! `/healthz` (the process answers) and `/readyz` (it can take traffic: the
//! store answers and shutdown has not begun).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::domain::Mode;

/// Liveness.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness, with what it was judged on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Whether the store answered.
    pub store: bool,
    /// Whether shutdown has begun.
    pub stopping: bool,
    /// Webhooks waiting for delivery.
    pub pending_webhooks: Option<u64>,
    /// The live FreeSWITCH nodes and whether each is connected.
    pub nodes: Vec<NodeStatus>,
    /// Whether the sandbox's simulator is connected.
    pub sandbox: bool,
    /// Calls this process is running.
    pub live_calls: usize,
}

/// One node's connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeStatus {
    /// The node's name.
    pub name: String,
    /// Whether its event socket is connected.
    pub connected: bool,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can take traffic (the store answers; not shutting down).
/// Node connections are reported but do not decide readiness: a node being
/// down is a node problem, and taking every replica out of a load balancer
/// would not fix it.
#[utoipa::path(
    get,
    path = "/readyz", operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Readiness>) {
    let pending = state.service.store().pending_deliveries().await.ok();
    let stopping = state.service.is_stopping();
    let ready = pending.is_some() && !stopping;
    let nodes = state
        .service
        .pool(Mode::Live)
        .nodes()
        .iter()
        .map(|node| NodeStatus {
            name: node.name().to_owned(),
            connected: node.is_up(),
        })
        .collect();
    let sandbox = state
        .service
        .pool(Mode::Test)
        .nodes()
        .iter()
        .any(|node| node.is_up());
    let readiness = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store: pending.is_some(),
        stopping,
        pending_webhooks: pending,
        nodes,
        sandbox,
        live_calls: state.service.live_calls(),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
