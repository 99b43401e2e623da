//! `POST /freeswitch/dialplan`: the dialplan arsgate runs with, served to
//! FreeSWITCH's mod_xml_curl so that nodes need no copied files.
//!
//! mod_xml_curl POSTs `application/x-www-form-urlencoded` fields: its own
//! `hostname`, `section`, `tag_name`, `key_name` and `key_value` (the last
//! three empty for the dialplan), then every header of the channel's
//! `REQUEST_PARAMS` event (`Event-Name`, `Core-UUID`, `Channel-*`,
//! `Caller-*`, and the caller profile being routed as `Hunt-*`, among them
//! `Hunt-Context` and `Hunt-Destination-Number`). A name can come twice:
//! `fs_cli -x "xml_locate dialplan"` puts `section` (and `tag`, ...) in the
//! event too, so `section` follows mod_xml_curl's own fields again; the
//! first value, mod_xml_curl's, is the one that counts (mod_xml_curl.c,
//! `xml_url_fetch` writes its fields first, then
//! `switch_event_build_param_string` appends the event's; mod_commands.c,
//! `xml_locate_function` adds `section` to that event). It reads the reply only
//! on `200`; a document whose `result` section says `not found` sends
//! FreeSWITCH on to its next binding and finally its own files. Not a
//! merchant route: no `/v1`, no API key, but HTTP basic auth with the
//! `xml_curl` credentials (`gateway-credentials` in xml_curl.conf.xml).

use std::sync::{Arc, RwLock};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ApiState;
use super::problem::{PROBLEM_JSON, Problem};
use crate::config::XmlCurlConfig;
use crate::scenario::Catalog;
use crate::scenario::render::{CONTEXT, document};

/// The reply that sends FreeSWITCH on to its own files, as mod_xml_curl
/// documents it.
pub const NOT_FOUND: &str = "<document type=\"freeswitch/xml\">\n  <section name=\"result\">\n    <result status=\"not found\"/>\n  </section>\n</document>\n";

/// The media type of the replies.
const TEXT_XML: &str = "text/xml";

/// The dialplan document and the credentials that may fetch it; nothing
/// when the route is off.
#[derive(Clone, Default)]
pub struct DialplanServer(Option<Arc<Served>>);

struct Served {
    /// SHA-256 of `username:password`: comparing digests leaks nothing
    /// useful through timing, and the password is not kept.
    credentials: [u8; 32],
    /// The `arsgate` context as one document, rendered at start and again
    /// by each reload that changes the scenarios.
    document: RwLock<Arc<str>>,
}

impl DialplanServer {
    /// Serves `catalog`'s dialplan as `config` says (nothing when disabled).
    pub fn new(config: &XmlCurlConfig, catalog: &Catalog) -> DialplanServer {
        let served = match (&config.password, config.enabled) {
            (Some(password), true) => Some(Arc::new(Served {
                credentials: digest(&format!("{}:{}", config.username, password.expose())),
                document: RwLock::new(document(&catalog.definitions()).into()),
            })),
            _ => None,
        };
        DialplanServer(served)
    }

    /// Serves `catalog`'s dialplan from now on (a reload changed its
    /// scenarios); nothing when the route is off.
    pub fn refresh(&self, catalog: &Catalog) {
        if let Some(served) = &self.0 {
            let next: Arc<str> = document(&catalog.dialplan_definitions()).into();
            *served.document.write().unwrap_or_else(|e| e.into_inner()) = next;
        }
    }

    /// Whether the route is on.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

impl Served {
    /// Whether the request carries the configured basic-auth credentials.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        STANDARD
            .decode(encoded.trim())
            .is_ok_and(|decoded| Sha256::digest(&decoded).as_slice() == self.credentials)
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The fields of mod_xml_curl's request that decide the reply; the many
/// others it sends are ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DialplanFetch {
    /// The configuration section wanted: `dialplan` (anything else gets
    /// the not-found document).
    pub section: String,
    /// The name of the FreeSWITCH switch asking.
    pub hostname: Option<String>,
    /// The tag looked up by name, `context` for `fs_cli -x "xml_locate
    /// dialplan context name arsgate"` (empty when a call is routed).
    pub tag_name: Option<String>,
    /// The attribute the tag is looked up by (`name`).
    pub key_name: Option<String>,
    /// Its value: the context asked for when no channel is routed.
    pub key_value: Option<String>,
    /// The context being routed (`arsgate` for arsgate's calls).
    #[serde(rename = "Hunt-Context")]
    pub hunt_context: Option<String>,
    /// The extension being routed, e.g. `read_code__start`.
    #[serde(rename = "Hunt-Destination-Number")]
    pub hunt_destination_number: Option<String>,
    /// The channel's context, used when `Hunt-Context` is missing.
    #[serde(rename = "Caller-Context")]
    pub caller_context: Option<String>,
    /// The channel's destination, used when `Hunt-Destination-Number` is
    /// missing.
    #[serde(rename = "Caller-Destination-Number")]
    pub caller_destination_number: Option<String>,
}

impl DialplanFetch {
    /// Reads the form's fields in the order sent, the first value of a
    /// repeated name winning.
    fn from_fields(fields: Vec<(String, String)>) -> Result<DialplanFetch, String> {
        let mut first = serde_json::Map::new();
        for (name, value) in fields {
            first
                .entry(name)
                .or_insert(serde_json::Value::String(value));
        }
        serde_json::from_value(serde_json::Value::Object(first)).map_err(|error| error.to_string())
    }

    /// The context being asked for: the one routed, else the channel's,
    /// else the one an `xml_locate` names.
    fn context(&self) -> Option<&str> {
        let located = || {
            (self.tag_name.as_deref() == Some("context")
                && self.key_name.as_deref() == Some("name"))
            .then_some(self.key_value.as_deref())
            .flatten()
        };
        self.hunt_context
            .as_deref()
            .or(self.caller_context.as_deref())
            .or_else(located)
    }
}

/// The dialplan for FreeSWITCH's mod_xml_curl: the `arsgate` context
/// (the same extensions as the rendered `dialplan/` files) when the
/// `dialplan` section of that context is asked for, else the not-found
/// document so that FreeSWITCH falls back to its own files.
#[utoipa::path(
    post,
    path = "/freeswitch/dialplan", operation_id = "freeswitch_dialplan",
    tag = "freeswitch",
    request_body(content = DialplanFetch, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A `freeswitch/xml` document: the `arsgate` context, or `<result status=\"not found\"/>`", body = String, content_type = "text/xml"),
        (status = 400, description = "`invalid_request`: not a mod_xml_curl form", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Missing or wrong basic-auth credentials", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "The route is disabled (`xml_curl.enabled`)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("xml_curl" = []))
)]
pub async fn dialplan(
    State(state): State<ApiState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Some(served) = state.freeswitch.0.as_deref() else {
        return Problem::not_found("the mod_xml_curl dialplan is disabled (xml_curl.enabled)")
            .into_response();
    };
    if !served.admits(&headers) {
        let mut response =
            Problem::unauthorized("this route takes HTTP basic auth with the xml_curl credentials")
                .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"arsgate\", charset=\"UTF-8\""),
        );
        return response;
    }
    let fetch = match form
        .map_err(|rejection| rejection.body_text())
        .and_then(|Form(fields)| DialplanFetch::from_fields(fields))
    {
        Ok(fetch) => fetch,
        Err(problem) => return Problem::invalid_request(problem).into_response(),
    };
    let context = fetch.context();
    let destination = fetch
        .hunt_destination_number
        .as_ref()
        .or(fetch.caller_destination_number.as_ref());
    let ours =
        fetch.section == "dialplan" && context.is_some_and(|c| c.eq_ignore_ascii_case(CONTEXT));
    tracing::debug!(
        section = %fetch.section,
        context,
        destination = destination.map(String::as_str),
        switch = fetch.hostname.as_deref(),
        served = ours,
        "mod_xml_curl fetch"
    );
    let body = if ours {
        served
            .document
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .to_string()
    } else {
        NOT_FOUND.to_owned()
    };
    ([(header::CONTENT_TYPE, TEXT_XML)], body).into_response()
}
