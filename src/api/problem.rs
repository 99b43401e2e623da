//! Errors as `application/problem+json` (RFC 9457) with a stable `code`
//! merchants can branch on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;
use crate::service::keys::AuthError;
use crate::store::StoreError;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:arsgate:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The stable machine-readable code (`invalid_phone`, `not_found` ...).
    pub code: String,
    /// Seconds to wait before retrying, for `503`s and `429`s.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:arsgate:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            retry_after: None,
        }
    }

    /// The same problem, asking the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// `401 unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// `404 not_found`.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// `400 invalid_request` for a malformed body, path or query.
    pub fn invalid_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"arsgate\""),
            );
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Problem {
        let status = match &error {
            ServiceError::NotFound(_) | ServiceError::Store(StoreError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            ServiceError::NotCheckable(_)
            | ServiceError::CodeUsed
            | ServiceError::CodeNotDelivered { .. }
            | ServiceError::AlreadyFinished
            | ServiceError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            ServiceError::CodeExpired => StatusCode::GONE,
            ServiceError::Store(StoreError::InvalidCursor(_)) => StatusCode::BAD_REQUEST,
            ServiceError::TooManyAttempts
            | ServiceError::TooManyRedeliveries { .. }
            | ServiceError::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::RecordingNotAllowed { .. } => StatusCode::FORBIDDEN,
            ServiceError::RecordingAltered => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::ShuttingDown
            | ServiceError::NoCapacity(_)
            | ServiceError::Store(
                StoreError::Database(_) | StoreError::Unavailable(_) | StoreError::Corrupt(_),
            ) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let detail = match &error {
            // Database messages can name tables and hosts: keep them in the log.
            ServiceError::Store(
                StoreError::Database(_) | StoreError::Unavailable(_) | StoreError::Corrupt(_),
            ) => {
                tracing::error!(%error, "store failure");
                "the store is unavailable; retry shortly".to_owned()
            }
            _ => error.to_string(),
        };
        let problem = Problem::new(status, error.code(), detail);
        match error.retry_after() {
            Some(seconds) => problem.retry_after(seconds),
            None if status == StatusCode::SERVICE_UNAVAILABLE => problem.retry_after(5),
            None => problem,
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Problem {
        Problem::from(ServiceError::Store(error))
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Problem {
        match error {
            AuthError::Invalid => Problem::unauthorized("the API key is not valid"),
            AuthError::Store(error) => Problem::from(error),
        }
    }
}
