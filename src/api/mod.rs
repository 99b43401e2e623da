//! The merchant-facing REST API (axum): `/v1` routes authenticated with
//! bearer API keys, errors as `application/problem+json`, the OpenAPI
//! document, health and readiness. It knows the verification service, not
//! how calls are placed.
//!
//! - [`verifications`]: create, read, list, check, cancel, evidence.
//! - [`customers`]: registering and removing PINs.
//! - [`usage`]: monthly usage.
//! - [`limits`]: the plan and its usage now.
//! - [`webhooks`]: webhook deliveries.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: `/metrics` for Prometheus.
//! - [`admin`]: the operators' `/admin/nodes` (status, drain, resume),
//!   behind the admin token.
//! - [`freeswitch`]: the dialplan for FreeSWITCH's mod_xml_curl.
//! - [`openapi`]: the OpenAPI document at `/openapi.json`.
//! - [`auth`], [`body`], [`problem`]: keys, JSON bodies, error responses.

pub mod admin;
pub mod auth;
pub mod body;
pub mod customers;
pub mod freeswitch;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod usage;
pub mod verifications;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
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
}

/// The API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v1/verifications",
            post(verifications::create).get(verifications::list),
        )
        .route("/v1/verifications/{id}", get(verifications::get))
        .route("/v1/verifications/{id}/check", post(verifications::check))
        .route("/v1/verifications/{id}/cancel", post(verifications::cancel))
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
        .layer(axum::middleware::from_fn(crate::metrics::http::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
