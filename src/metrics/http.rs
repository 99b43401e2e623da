//! The API's request durations, labelled by route template (never the
//! concrete path, which holds ids).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::histogram;

use super::HTTP_DURATION;

/// The route label of requests that matched no route (bounded: the path
/// itself is not a label).
const UNMATCHED: &str = "unmatched";

/// Axum middleware timing each request (add with
/// `axum::middleware::from_fn(metrics::http::track)`).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let method = bounded_method(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    histogram!(
        HTTP_DURATION,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; anything else (unbounded: clients may
/// send any token) as `OTHER`.
fn bounded_method(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}
