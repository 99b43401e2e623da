//! Path parameters, refused as problems: axum's own extractor answers a
//! path that is not UTF-8 (`/v1/verifications/%FF%FE`) in plain text.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// A route's path parameter(s), as [`Path`] extracts them.
#[derive(Debug, Clone)]
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParam(value))
            .map_err(|rejection| Problem::invalid_request(rejection.body_text()))
    }
}
