//! What every request meets before and after its route: limits on its
//! head, and every error answered as `application/problem+json`, including
//! the bare ones of axum's extractors and tower-http's layers.
//!
//! hyper answers by itself, with an empty body, what it cannot parse: a
//! garbage request line (`400`), a head past [`MAX_HEADERS`] × 2 headers
//! or past twice the byte limits below (`431`). The limits here sit below
//! hyper's, so that a client that merely overshoots them is told why.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::body::MAX_BODY_BYTES;
use super::problem::{PROBLEM_JSON, Problem};

/// The longest path and query accepted, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header fields a request may have.
pub const MAX_HEADERS: usize = 100;

/// The most bytes a request's header fields may take (names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The longest plain-text explanation kept from a bare error response.
const MAX_DETAIL_BYTES: usize = 1024;

/// Axum middleware: refuses requests whose head is past the limits and
/// turns every error response that is not already JSON into a problem.
pub async fn guard(request: Request, next: Next) -> Response {
    if let Some(problem) = head_problem(&request) {
        return closing(problem.into_response());
    }
    let response = as_problem(next.run(request).await).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return closing(response);
    }
    response
}

/// `response` with `Connection: close`. It answers a request whose body
/// was left unread: hyper then closes the connection rather than read the
/// rest, and a client that is not told so would send its next request on
/// a connection about to close (reqwest: `IncompleteMessage`).
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Why the request's head is refused, if it is.
fn head_problem(request: &Request) -> Option<Problem> {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the path and query are longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Some(Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("a request has at most {MAX_HEADERS} header fields"),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Some(Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the header fields take more than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    None
}

/// `response` itself, unless it is an error without a JSON body: then the
/// problem its status means, keeping its other headers (`Allow`,
/// `Retry-After`...) and any plain-text explanation as the detail.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_DETAIL_BYTES)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .filter(|text| !text.trim().is_empty());
    let (code, detail) = meaning(status);
    let detail = match text {
        // tower-http's words for it are vaguer than ours.
        Some(_) if status == StatusCode::PAYLOAD_TOO_LARGE => detail,
        Some(text) => text,
        None => detail,
    };
    let problem = Problem::new(status, code, detail).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in problem.headers() {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, Body::new(problem.into_body()))
}

/// Whether the headers announce a JSON body (a problem, or `/readyz`'s
/// report).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == PROBLEM_JSON || value.starts_with("application/json"))
}

/// The code and a default detail of a bare error with `status`.
fn meaning(status: StatusCode) -> (&'static str, String) {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request was not received and answered in time",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                "payload_too_large",
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        status if status.is_server_error() => ("internal_error", "the server failed"),
        _ => ("invalid_request", "the request is malformed"),
    };
    (code, detail.to_owned())
}
