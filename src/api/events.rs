//! `GET /v1/verifications/{id}/events`: a verification's progress as
//! Server-Sent Events, for a merchant's backend that would rather hear
//! than poll. Each timeline entry is one event (`id:` its number, `event:`
//! what happened, `data:` the entry as in the verification's timeline);
//! `Last-Event-ID` resumes after an entry; a quiet stream sends a
//! heartbeat comment; the stream ends with an `end` event carrying the
//! outcome.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Authed;
use super::path::PathParam;
use super::problem::{PROBLEM_JSON, Problem};
use super::verifications::verification_id;
use crate::service::live::Progress;

/// The media type of an event stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The data of the last event, `end`: the verification is final.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamEnd {
    /// Always `finished`.
    #[schema(example = "finished")]
    pub status: &'static str,
    /// The outcome, as in the verification.
    #[schema(example = "verified")]
    pub outcome: &'static str,
    /// Why, as in the verification.
    pub reason: String,
}

/// A verification's progress, live, as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/v1/verifications/{id}/events", operation_id = "verification_events",
    tag = "verifications",
    params(
        ("id" = String, Path, description = "The verification's id (`vrf_...`)"),
        ("Last-Event-ID" = Option<String>, Header,
         description = "Resume: only the entries after this event id (a stream's `id:`); sent by EventSource when it reconnects.",
         pattern = "^[0-9]{1,18}$")
    ),
    responses(
        (status = 200, content_type = EVENT_STREAM, body = String,
         description = "Server-Sent Events, until the verification is final. Each timeline entry as it happens: `id:` its number (from 1), `event:` what happened (`originated`, `ringing`, `early_media`, `answered`, `segment`, `input`, `key`, `code_heard`, `recorded`, `hung_up`, `unknown`, `reconciled`, `taken_over`, `decided`), `data:` the entry's JSON, as in the verification's `timeline` (an input by its length and result, never its digits). Then `event: end` with a `StreamEnd` as `data:`, and the stream closes. A comment (`:heartbeat`) every `http.events_heartbeat` (15 s) while nothing happens."),
        (status = 400, description = "`invalid_request`: `Last-Event-ID` is not an event id", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such verification of yours", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "`store_unavailable`; retry", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("api_key" = []))
)]
pub async fn events(
    State(state): State<ApiState>,
    auth: Authed,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Response, Problem> {
    let id = verification_id(&id)?;
    let after = last_event_id(&headers)?;
    let progress = state.service.follow(auth.caller(), id, after).await?;
    let events = progress
        .map(|progress| Ok::<_, Infallible>(event(progress)))
        .take_until(state.closing.cancelled_owned());
    let keep_alive = KeepAlive::new()
        .interval(state.events_heartbeat)
        .text("heartbeat");
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    // A stream is one client's, and live: no cache may keep or hold it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The entry a resuming client saw last; 0 without the header.
fn last_event_id(headers: &HeaderMap) -> Result<u64, Problem> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(0);
    };
    value
        .to_str()
        .ok()
        .filter(|text| (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Problem::invalid_request("Last-Event-ID must be an event id of this stream"))
}

fn event(progress: Progress) -> Event {
    match progress {
        Progress::Entry { seq, event, json } => {
            Event::default().id(seq.to_string()).event(event).data(json)
        }
        Progress::End { outcome, reason } => {
            let end = StreamEnd {
                status: "finished",
                outcome: outcome.as_str(),
                reason,
            };
            Event::default()
                .event("end")
                .data(serde_json::to_string(&end).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn last_event_id_is_a_number_or_refused() {
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), 0);
        assert_eq!(last_event_id(&with("7")).unwrap(), 7);
        assert!(last_event_id(&with("")).is_err());
        assert!(last_event_id(&with("-1")).is_err());
        assert!(last_event_id(&with("seven")).is_err());
        assert!(last_event_id(&with("1234567890123456789")).is_err());
    }
}
