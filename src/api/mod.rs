//! The merchant-facing REST API (axum): `/v1` routes authenticated with
//! bearer API keys, errors as `application/problem+json`, the OpenAPI
//! document, health and readiness. It knows the verification service, not
//! how calls are placed.
//!
//! - [`verifications`]: create, read, list, check, cancel, evidence.
//! - [`events`]: a verification's progress live, as Server-Sent Events.
//! - [`customers`]: registering and removing PINs.
//! - [`usage`]: monthly usage.
//! - [`limits`]: the plan and its usage now.
//! - [`webhooks`]: webhook deliveries.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: `/metrics` for Prometheus.
//! - [`admin`]: the operators' `/admin/nodes` (status, drain, resume) and
//!   `/admin/reload`, behind the admin token.
//! - [`freeswitch`]: the dialplan for FreeSWITCH's mod_xml_curl.
//! - [`openapi`]: the OpenAPI document at `/openapi.json`.
//! - [`auth`], [`body`], [`path`], [`problem`]: keys, JSON bodies, path
//!   parameters, error responses.
//! - [`edge`]: limits on every request's head; every error a problem.

pub mod admin;
pub mod auth;
pub mod body;
pub mod customers;
pub mod edge;
pub mod events;
pub mod freeswitch;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod path;
pub mod problem;
pub mod usage;
pub mod verifications;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post, put};
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Secret;
use crate::service::Service;
use problem::Problem;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The verification service.
    pub service: Service,
    /// The token the admin API requires; `None`: the admin API is off.
    pub admin_token: Option<Arc<Secret>>,
    /// The dialplan served to mod_xml_curl.
    pub freeswitch: freeswitch::DialplanServer,
    /// Reads the nodes and the outbox when `/metrics` is scraped.
    pub metrics: Arc<crate::metrics::Collector>,
    /// Time allowed for a whole request, body included, and its answer
    /// (an event stream's answer is its head: the stream then runs on).
    pub request_timeout: Duration,
    /// Reloads the configuration (`POST /admin/reload`).
    pub reloader: Arc<crate::server::reload::Reloader>,
    /// How often a quiet event stream sends a heartbeat comment.
    pub events_heartbeat: Duration,
    /// Set when the server stops: event streams end (their clients resume
    /// elsewhere with `Last-Event-ID`), so that the graceful shutdown
    /// does not wait for calls followed on another replica.
    pub closing: CancellationToken,
}

/// The API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    let request_timeout = state.request_timeout;
    Router::new()
        .route(
            "/v1/verifications",
            post(verifications::create).get(verifications::list),
        )
        .route("/v1/verifications/{id}", get(verifications::get))
        .route("/v1/verifications/{id}/check", post(verifications::check))
        .route("/v1/verifications/{id}/cancel", post(verifications::cancel))
        .route("/v1/verifications/{id}/events", get(events::events))
        .route(
            "/v1/verifications/{id}/evidence",
            get(verifications::evidence),
        )
        .route(
            "/v1/verifications/{id}/recording",
            get(verifications::recording),
        )
        .route(
            "/v1/customers/{customer_ref}/pin",
            put(customers::put_pin).delete(customers::delete_pin),
        )
        .route("/v1/usage", get(usage::usage))
        .route("/v1/limits", get(limits::limits))
        .route("/v1/webhooks/deliveries", get(webhooks::list))
        .route(
            "/v1/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/admin/nodes", get(admin::nodes))
        .route("/admin/nodes/{name}/drain", post(admin::drain))
        .route("/admin/nodes/{name}/resume", post(admin::resume))
        .route("/admin/reload", post(admin::reload))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/freeswitch/dialplan", post(freeswitch::dialplan))
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        // Refuses at once a body whose announced length is too long,
        // rather than reading 64 KiB of it first.
        .layer(RequestBodyLimitLayer::new(body::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn(edge::guard))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn(crate::metrics::http::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
