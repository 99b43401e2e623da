//! `/v1/verifications`: create (idempotent), read, list, check a code,
//! cancel, and a consent call's evidence and recording.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Authed;
use super::body::JsonBody;
use super::path::PathParam;
use super::problem::{PROBLEM_JSON, Problem};
use crate::domain::{Timestamp, VerificationFilter, VerificationId, VerificationState};
use crate::service::evidence::EvidenceBundle;
use crate::service::{Checked, CreateVerification, VerificationView};
use crate::store::IdempotentResponse;

/// The most results a page holds.
pub const MAX_PAGE: u32 = 100;

/// A verification just created.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedVerification {
    /// The verification.
    #[serde(flatten)]
    pub verification: VerificationView,
    /// For `enter_code`: the code to show on your page, which the customer
    /// keys in during the call. Absent for every other scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "482913")]
    pub code: Option<String>,
}

/// A code to check.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The digits the customer typed into your page.
    #[schema(
        example = "482913",
        pattern = "^[0-9]{4,12}$",
        min_length = 4,
        max_length = 12
    )]
    pub code: String,
}

/// What a check found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResult {
    /// `approved`, or `rejected` (try again while attempts remain).
    #[schema(example = "approved")]
    pub status: &'static str,
    /// Attempts left after a rejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_remaining: Option<u32>,
}

/// Filters and paging of the verification list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only in this state: `pending`, `calling`, `answered`, `finished`.
    #[param(pattern = "^(pending|calling|answered|finished)$")]
    pub status: Option<String>,
    /// Only of this scenario.
    pub scenario: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    pub created_from: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    pub created_to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Results per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One page of verifications.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationList {
    /// The verifications, newest first.
    pub data: Vec<VerificationView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Reads a path id; an id that cannot exist is simply not found.
pub(super) fn verification_id(text: &str) -> Result<VerificationId, Problem> {
    VerificationId::parse(text)
        .map_err(|_| Problem::not_found(format!("verification {text:?} not found")))
}

/// The page size from a query, 1 to [`MAX_PAGE`].
pub fn page_limit(limit: Option<u32>) -> Result<u32, Problem> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Problem::invalid_request("limit must be 1 to 100")),
    }
}

/// Starts a verification: the call is placed at once.
#[utoipa::path(
    post,
    path = "/v1/verifications", operation_id = "create_verification",
    tag = "verifications",
    request_body = CreateVerification,
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "Makes retries safe: the same key with the same body returns the first response; with another body, `409 idempotency_conflict`. 1 to 255 printable ASCII characters, kept 24 hours.",
         min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")
    ),
    responses(
        (status = 201, description = "Created; the call is being placed, or (plans with `at_limit: queue`) waits for a channel: then `queue` gives its place and an estimate", body = CreatedVerification),
        (status = 400, description = "`invalid_json`: the body is not JSON; `invalid_idempotency_key`", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "No valid API key", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`idempotency_conflict` or `idempotency_in_progress`", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "`recording_not_allowed`: the scenario records and your plan does not include recording", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Body not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_request` (the body is not an object, or a field has the wrong type), `invalid_phone`, `unknown_scenario`, `missing_field`, `invalid_field`, `unknown_field`, `invalid_language`, `invalid_callback_url`, `forbidden_callback_url` (an internal address: loopback, private, link-local, unique-local, metadata...), `invalid_customer_ref`, `missing_customer_ref`, `pin_not_registered`, `missing_birthdate` (`enter_birthdate` without `birthdate`), `birthdate_not_used` (`birthdate` for another scenario), `invalid_birthdate` (not a real date written YYYY-MM-DD), `birthdate_in_future`, `birthdate_too_early` (before 1900-01-01), `invalid_metadata`", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "Your plan's limit: `cps_limit` (calls per second), `channel_limit` (every channel in use, or the queue full), `velocity_limit` (too many calls to this number lately), `daily_cap`; `Retry-After` says when to retry", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "Shutting down or store unavailable; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    auth: Authed,
    headers: HeaderMap,
    body: JsonBody<CreateVerification>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let hash = {
        let mut hasher = Sha256::new();
        hasher.update(b"POST /v1/verifications\n");
        hasher.update(auth.mode.as_str().as_bytes());
        hasher.update(b"\n");
        hasher.update(&body.bytes);
        hex::encode(hasher.finalize())
    };
    let store = state.service.store();
    if let Some(key) = &key {
        let claim = store
            .claim_idempotent(auth.merchant.id, auth.mode, key, &hash, Timestamp::now())
            .await?;
        match claim {
            None => {}
            Some(existing) if existing.request_hash != hash => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with a different request",
                ));
            }
            Some(existing) if existing.status == 0 => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "a request with this Idempotency-Key is still being processed",
                )
                .retry_after(1));
            }
            Some(existing) => return Ok(replay(&state, &auth, existing).await),
        }
    }
    let result = state
        .service
        .create(&auth.merchant, auth.mode, body.value)
        .await;
    let mut retry_after = None;
    let (status, stored, code) = match result {
        Ok(created) => {
            let view = state.service.view(&auth.merchant, &created.verification);
            let body = serde_json::to_string(&CreatedVerification {
                verification: view,
                code: None,
            })
            .unwrap_or_default();
            (StatusCode::CREATED, body, created.code)
        }
        Err(error) => {
            let problem = Problem::from(error);
            retry_after = problem.retry_after;
            let body = serde_json::to_string(&problem).unwrap_or_default();
            (problem.status_code(), body, None)
        }
    };
    if let Some(key) = &key {
        // A refusal that passes with time is not the key's final answer:
        // a retry after `Retry-After` runs afresh.
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            store
                .release_idempotent(auth.merchant.id, auth.mode, key)
                .await?;
        } else {
            let response = IdempotentResponse {
                request_hash: hash,
                status: status.as_u16(),
                body: stored.clone(),
            };
            store
                .save_idempotent(auth.merchant.id, auth.mode, key, &response)
                .await?;
        }
    }
    // The code is never stored, not even in the idempotency record: it is
    // added to the response on its way out.
    let mut response = respond(status, &stored, code.as_ref().map(|c| c.expose()), false);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Ok(response)
}

/// The response for a stored idempotent result.
async fn replay(state: &ApiState, auth: &Authed, stored: IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut code = None;
    if status == StatusCode::CREATED {
        let id = serde_json::from_str::<serde_json::Value>(&stored.body)
            .ok()
            .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
            .and_then(|id| VerificationId::parse(&id).ok());
        if let Some(id) = id
            && let Ok(verification) = state.service.get(auth.caller(), id).await
        {
            code = state.service.shown_code(&verification);
        }
    }
    respond(
        status,
        &stored.body,
        code.as_ref().map(|c| c.expose()),
        true,
    )
}

fn respond(status: StatusCode, body: &str, code: Option<&str>, replayed: bool) -> Response {
    let mut value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut secret = false;
    if let (Some(code), Some(object)) = (code, value.as_object_mut()) {
        object.insert("code".to_owned(), serde_json::Value::from(code));
        secret = true;
    }
    let location = (status == StatusCode::CREATED)
        .then(|| value.get("id").and_then(|id| id.as_str()))
        .flatten()
        .and_then(|id| HeaderValue::from_str(&format!("/v1/verifications/{id}")).ok());
    let content_type = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(location) = location {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if secret {
        // A code is good for one call: no cache on the way may keep it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        .map(|key| Some(key.to_owned()))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            )
        })
}

/// A verification: status, outcome, reason and timeline (no secrets).
#[utoipa::path(
    get,
    path = "/v1/verifications/{id}", operation_id = "get_verification",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id (`vrf_...`)")),
    responses(
        (status = 200, body = VerificationView),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such verification of yours", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
) -> Result<Json<VerificationView>, Problem> {
    let verification = state
        .service
        .get(auth.caller(), verification_id(&id)?)
        .await?;
    Ok(Json(state.service.view(&auth.merchant, &verification)))
}

/// Your verifications, newest first, filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/verifications", operation_id = "list_verifications",
    tag = "verifications",
    params(ListQuery),
    responses(
        (status = 200, body = VerificationList),
        (status = 400, description = "`invalid_request`: a filter or `limit` is malformed; `invalid_cursor`", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    auth: Authed,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<VerificationList>, Problem> {
    let Query(query) = query.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let instant = |name: &str, text: &Option<String>| -> Result<Option<Timestamp>, Problem> {
        text.as_deref()
            .map(|t| {
                Timestamp::parse_rfc3339(t)
                    .ok_or_else(|| Problem::invalid_request(format!("{name} must be RFC 3339")))
            })
            .transpose()
    };
    let state_filter = query
        .status
        .as_deref()
        .map(|s| {
            VerificationState::parse(s).ok_or_else(|| {
                Problem::invalid_request("status must be pending, calling, answered or finished")
            })
        })
        .transpose()?;
    let filter = VerificationFilter {
        mode: None,
        state: state_filter,
        scenario: query.scenario.clone(),
        created_from: instant("created_from", &query.created_from)?,
        created_to: instant("created_to", &query.created_to)?,
    };
    let page = state
        .service
        .list(auth.caller(), filter, query.cursor.as_deref(), limit)
        .await?;
    Ok(Json(VerificationList {
        data: page
            .items
            .iter()
            .map(|v| state.service.view(&auth.merchant, v))
            .collect(),
        next_cursor: page.next,
    }))
}

/// Checks the code the customer heard (`read_code`, `press_then_read`).
#[utoipa::path(
    post,
    path = "/v1/verifications/{id}/check", operation_id = "check_code",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id")),
    request_body = CheckRequest,
    responses(
        (status = 200, description = "Approved or rejected", body = CheckResult),
        (status = 400, description = "`invalid_json`: the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`not_checkable` (the scenario reads no code), `code_used` (a check already matched; counts nothing) or `code_not_delivered` (the call has not read the code out to its end: not answered yet, or ended before it)", body = Problem, content_type = PROBLEM_JSON),
        (status = 410, description = "`code_expired`", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "`payload_too_large`: body over 64 KiB", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "`unsupported_media_type`: body not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`invalid_code`: not 4 to 12 digits; `invalid_request`, `missing_field`, `unknown_field`: the body is not `{\"code\": \"...\"}` (none costs an attempt)", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "`too_many_attempts`: locked", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn check(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
    body: JsonBody<CheckRequest>,
) -> Result<Json<CheckResult>, Problem> {
    let checked = state
        .service
        .check(
            &auth.merchant,
            auth.mode,
            verification_id(&id)?,
            &body.value.code,
        )
        .await?;
    Ok(Json(match checked {
        Checked::Approved => CheckResult {
            status: "approved",
            attempts_remaining: None,
        },
        Checked::Rejected { remaining } => CheckResult {
            status: "rejected",
            attempts_remaining: Some(remaining),
        },
    }))
}

/// Cancels a verification: a live call is hung up; the outcome is `canceled`.
#[utoipa::path(
    post,
    path = "/v1/verifications/{id}/cancel", operation_id = "cancel_verification",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, description = "Canceled", body = VerificationView),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`already_finished`", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`shutting_down` or `store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn cancel(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
) -> Result<Json<VerificationView>, Problem> {
    let verification = state
        .service
        .cancel(&auth.merchant, auth.mode, verification_id(&id)?)
        .await?;
    Ok(Json(state.service.view(&auth.merchant, &verification)))
}

/// A consent call's evidence: consent text, key and when, timeline,
/// numbers, recording digest, and a hash over the whole bundle.
#[utoipa::path(
    get,
    path = "/v1/verifications/{id}/evidence", operation_id = "get_evidence",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, body = EvidenceBundle),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such verification, or it left no evidence", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn evidence(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
) -> Result<Json<EvidenceBundle>, Problem> {
    Ok(Json(
        state
            .service
            .evidence(auth.caller(), verification_id(&id)?)
            .await?,
    ))
}

/// A consent call's recording (WAV), checked against its digest.
#[utoipa::path(
    get,
    path = "/v1/verifications/{id}/recording", operation_id = "get_recording",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id")),
    responses(
        (status = 200, description = "The recording; `Repr-Digest` carries its SHA-256", content_type = "audio/wav", body = Vec<u8>),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such verification, or no recording", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "`recording_altered`: the file no longer matches its digest", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn recording(
    State(state): State<ApiState>,
    auth: Authed,
    PathParam(id): PathParam<String>,
) -> Result<Response, Problem> {
    let id = verification_id(&id)?;
    let recording = state.service.recording(auth.caller(), id).await?;
    let digest = hex::decode(&recording.sha256).unwrap_or_default();
    let digest = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
    let mut response = recording.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.wav\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("sha-256=:{digest}:")) {
        headers.insert("repr-digest", value);
    }
    Ok(response)
}
