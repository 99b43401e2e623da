//! The operators' API: `GET /admin/nodes` (every live FreeSWITCH node's
//! health, load and limits), `POST /admin/nodes/{name}/drain|resume` and
//! `POST /admin/reload` (the configuration read again, as SIGHUP does).
//!
//! It is guarded by the admin token from the configuration
//! (`admin.token`), sent as `Authorization: Bearer <token>`. Without a
//! configured token the admin API is off: its routes answer `404`, as if
//! they did not exist, so an unconfigured server exposes nothing. With
//! one, a missing or wrong token gets `401`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ApiState;
use super::path::PathParam;
use super::problem::{PROBLEM_JSON, Problem};
use crate::domain::Mode;
use crate::server::reload::{ReloadError, ReloadReport};
use crate::switch::{NodeReport, StatusAnswer};

/// A request that carried the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Whether `given` is the token, in time independent of where they differ
/// (both are hashed first, so lengths leak nothing either).
fn token_matches(given: &str, token: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(token));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl FromRequestParts<ApiState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Admin, Problem> {
        let Some(token) = &state.admin_token else {
            return Err(Problem::not_found("no such route"));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, given) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| given.trim())
            })
            .ok_or_else(|| {
                Problem::unauthorized("send the admin token as `Authorization: Bearer <token>`")
            })?;
        if token_matches(given, token.expose()) {
            Ok(Admin)
        } else {
            Err(Problem::unauthorized("the admin token is wrong"))
        }
    }
}

/// One live node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// The node's name (from the configuration).
    pub name: String,
    /// Whether its event socket is connected.
    pub connected: bool,
    /// Milliseconds since its last HEARTBEAT; absent before the first.
    pub heartbeat_age_ms: Option<u64>,
    /// Whether its last `status` answer said the core is up; absent while
    /// not known (not asked yet, or disconnected).
    pub status_ok: Option<bool>,
    /// Calls arsgate placed there and still follows.
    pub live_channels: u32,
    /// The most calls arsgate places there at once.
    pub max_channels: u32,
    /// The most new calls per second arsgate places there.
    pub cps: u32,
    /// Its share of new calls relative to the other nodes.
    pub weight: u32,
    /// Whether it is draining: it takes no new calls, its live calls finish.
    pub draining: bool,
    /// Where it stands: `up`, `down` (the event socket is not connected),
    /// `silent` (a command timed out and none was answered since: no new
    /// calls), `failing` (its `status` did not say up) or `unknown`.
    pub state: String,
    /// Whether it is passed over for a while after refusing calls itself.
    pub backing_off: bool,
    /// The node's own session count from its last HEARTBEAT (every call on
    /// the switch, whoever placed it); absent before the first.
    pub sessions: Option<u32>,
    /// The node's own `max-sessions`, from its last HEARTBEAT.
    pub max_sessions: Option<u32>,
    /// The FreeSWITCH modules arsgate needs that the node had not loaded
    /// when checked (at its connection; empty: it has them all); absent
    /// before the first check.
    pub missing_modules: Option<Vec<String>>,
}

impl From<NodeReport> for NodeView {
    fn from(report: NodeReport) -> NodeView {
        let state = report.state().as_str().to_owned();
        NodeView {
            name: report.name,
            connected: report.connected,
            heartbeat_age_ms: report
                .heartbeat_age
                .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            status_ok: match report.status {
                StatusAnswer::Up => Some(true),
                StatusAnswer::Failed => Some(false),
                StatusAnswer::Unknown => None,
            },
            live_channels: report.live_channels,
            max_channels: report.max_channels,
            cps: report.cps,
            weight: report.weight,
            draining: report.draining,
            state,
            backing_off: report.backing_off,
            sessions: report.sessions.map(|(count, _)| count),
            max_sessions: report.sessions.map(|(_, max)| max),
            missing_modules: report.missing_modules,
        }
    }
}

/// Every live node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeList {
    /// The nodes, in configuration order.
    pub nodes: Vec<NodeView>,
}

/// The live FreeSWITCH nodes: connection, heartbeat, `status`, load,
/// limits and drain.
#[utoipa::path(
    get,
    path = "/admin/nodes", operation_id = "list_nodes",
    tag = "admin",
    responses(
        (status = 200, body = NodeList),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "The admin API is off (no `admin.token`)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("admin_token" = []))
)]
pub async fn nodes(State(state): State<ApiState>, _admin: Admin) -> Json<NodeList> {
    let nodes = state
        .service
        .pool(Mode::Live)
        .reports()
        .into_iter()
        .map(NodeView::from)
        .collect();
    Json(NodeList { nodes })
}

/// Drains a node: it takes no new calls; its live calls finish. Recorded
/// in the store, so every replica on it follows within seconds and a
/// restart keeps it.
#[utoipa::path(
    post,
    path = "/admin/nodes/{name}/drain", operation_id = "drain_node",
    tag = "admin",
    params(("name" = String, Path, description = "The node's name")),
    responses(
        (status = 200, body = NodeView),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such node, or the admin API is off", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The store is unavailable: nothing changed", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("admin_token" = []))
)]
pub async fn drain(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(name): PathParam<String>,
) -> Result<Json<NodeView>, Problem> {
    let report = state.service.set_node_drained(&name, true).await?;
    Ok(Json(report.into()))
}

/// Ends a node's drain: it takes new calls again (on every replica).
#[utoipa::path(
    post,
    path = "/admin/nodes/{name}/resume", operation_id = "resume_node",
    tag = "admin",
    params(("name" = String, Path, description = "The node's name")),
    responses(
        (status = 200, body = NodeView),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such node, or the admin API is off", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The store is unavailable: nothing changed", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("admin_token" = []))
)]
pub async fn resume(
    State(state): State<ApiState>,
    _admin: Admin,
    PathParam(name): PathParam<String>,
) -> Result<Json<NodeView>, Problem> {
    let report = state.service.set_node_drained(&name, false).await?;
    Ok(Json(report.into()))
}

/// Reads the configuration file again and applies what changed without
/// dropping a call, as SIGHUP does: nodes added, removed (drained) or
/// retuned, plans and merchants' plans, scenarios. Settings that take a
/// restart are listed in `needs_restart` and left as they run. An invalid
/// file changes nothing.
#[utoipa::path(
    post,
    path = "/admin/reload", operation_id = "reload_configuration",
    tag = "admin",
    responses(
        (status = 200, description = "Reloaded: what changed", body = ReloadReport),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "The admin API is off (no `admin.token`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The server was not started from a configuration file", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The configuration or a scenario is invalid: nothing changed", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("admin_token" = []))
)]
pub async fn reload(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Json<ReloadReport>, Problem> {
    state.reloader.reload().await.map(Json).map_err(|error| {
        let (status, code) = match error {
            ReloadError::NoSource => (StatusCode::CONFLICT, "no_configuration_file"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_configuration"),
        };
        Problem::new(status, code, error.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_itself_matches() {
        assert!(token_matches("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdeF", "0123456789abcdef"));
        assert!(!token_matches("", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdef0", "0123456789abcdef"));
    }
}
