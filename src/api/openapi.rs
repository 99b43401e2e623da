//! The OpenAPI 3 document, generated from the handlers' own annotations so
//! that it cannot drift from them.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::problem::PROBLEM_JSON;
use super::{
    admin, customers, events, freeswitch, health, limits, metrics, usage, verifications, webhooks,
};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "arsgate",
        description = "Phone (ARS) authentication: start a verification call, check codes, read outcomes, fetch consent evidence. Authenticate with `Authorization: Bearer <API key>`; sandbox keys (`ars_test_...`) call the built-in simulator. Errors are `application/problem+json` with a stable `code`. Webhooks are POSTed to `callback_url` with `Arsgate-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook secret, t + \".\" + body)>`; the body is a `WebhookPayload`."
    ),
    paths(
        verifications::create,
        verifications::list,
        verifications::get,
        verifications::check,
        verifications::cancel,
        verifications::evidence,
        verifications::recording,
        events::events,
        customers::put_pin,
        customers::delete_pin,
        usage::usage,
        limits::limits,
        webhooks::list,
        webhooks::redeliver,
        health::healthz,
        health::readyz,
        metrics::metrics,
        admin::nodes,
        admin::drain,
        admin::resume,
        admin::reload,
        freeswitch::dialplan,
    ),
    components(schemas(crate::service::WebhookPayload, events::StreamEnd)),
    modifiers(&BearerKeys, &EdgeResponses),
    tags(
        (name = "verifications", description = "Verification calls and their outcomes"),
        (name = "customers", description = "PINs for `enter_pin`"),
        (name = "usage", description = "Billing"),
        (name = "limits", description = "Your plan: channels, rates, velocity, daily cap"),
        (name = "webhooks", description = "Webhook deliveries"),
        (name = "operations", description = "Health, readiness and Prometheus metrics"),
        (name = "admin", description = "Operators: FreeSWITCH node status, drain and resume; configuration reload. Requires `Authorization: Bearer <admin.token>`; off (404) when no admin token is configured"),
        (name = "freeswitch", description = "The dialplan for FreeSWITCH's mod_xml_curl (basic auth, not an API key)"),
    )
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ars_<live|test>_<id>_<secret>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "xml_curl",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Adds to every operation the answers of the layers in front of every
/// route (`api::edge`, the body limit, the request timeout), which no
/// handler's annotation could know of.
struct EdgeResponses;

impl EdgeResponses {
    /// The answers any request may get, by status.
    const ANY: [(&'static str, &'static str); 4] = [
        (
            "408",
            "`request_timeout`: the request was not received and answered within `http.request_timeout`",
        ),
        (
            "413",
            "`payload_too_large`: the announced or sent body is over 64 KiB",
        ),
        ("414", "`uri_too_long`: the path and query are over 8 KiB"),
        (
            "431",
            "`headers_too_large`: over 100 header fields, or over 16 KiB of them",
        ),
    ];

    fn add(operation: &mut Operation, path: &str) {
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let responses = &mut operation.responses.responses;
        for (status, description) in Self::ANY {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| problem(description).into());
        }
        if path.contains('{') {
            responses.entry("400".to_owned()).or_insert_with(|| {
                problem("`invalid_request`: a path parameter is not UTF-8").into()
            });
        }
    }
}

impl Modify for EdgeResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                Self::add(operation, path);
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
    }

    /// Every operation of the document, with its path and method.
    fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    found.push((path.clone(), method, operation));
                }
            }
        }
        found
    }

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target),
                        _ => refs(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = BTreeSet::new();
        for (path, method, operation) in operations(&doc) {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
        }
        assert_eq!(seen.len(), 22);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{target} is not local"));
            assert!(
                doc.pointer(pointer).is_some(),
                "{target} resolves to nothing"
            );
        }
    }

    #[test]
    fn path_parameters_match_the_templates() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            let templated: BTreeSet<&str> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let inherited = doc["paths"][&path]["parameters"].as_array();
            let declared: Vec<&Value> = operation["parameters"]
                .as_array()
                .into_iter()
                .chain(inherited)
                .flatten()
                .filter(|p| p["in"] == "path")
                .collect();
            for parameter in &declared {
                assert_eq!(parameter["required"], true, "{method} {path}: {parameter}");
            }
            let names: BTreeSet<&str> =
                declared.iter().filter_map(|p| p["name"].as_str()).collect();
            assert_eq!(names, templated, "{method} {path}");
        }
    }

    #[test]
    fn every_operation_lists_the_answers_of_the_edge() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            let responses = &operation["responses"];
            for status in ["408", "413", "414", "431"] {
                assert!(responses[status].is_object(), "{method} {path}: {status}");
            }
            if path.contains('{') {
                assert!(responses["400"].is_object(), "{method} {path}: 400");
            }
            for (status, response) in responses.as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = &response["content"];
                    let problem =
                        content[PROBLEM_JSON]["schema"]["$ref"] == "#/components/schemas/Problem";
                    let readiness = path == "/readyz";
                    assert!(problem || readiness, "{method} {path}: {status} {response}");
                }
            }
        }
    }

    #[test]
    fn constraints_are_described() {
        let doc = document();
        let parameter = |path: &str, method: &str, name: &str| -> Value {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
                .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
        };
        for path in ["/v1/verifications", "/v1/webhooks/deliveries"] {
            let limit = parameter(path, "get", "limit");
            assert_eq!(limit["schema"]["minimum"], 1, "{path}");
            assert_eq!(limit["schema"]["maximum"], 100, "{path}");
        }
        let month = parameter("/v1/usage", "get", "month");
        assert!(month["schema"]["pattern"].is_string());
        let key = parameter("/v1/verifications", "post", "Idempotency-Key");
        assert_eq!(key["schema"]["maxLength"], 255);
        let customer = parameter("/v1/customers/{customer_ref}/pin", "put", "customer_ref");
        assert_eq!(customer["schema"]["maxLength"], 64);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["PinRequest"]["properties"]["pin"]["maxLength"], 12);
        assert_eq!(
            schemas["CheckRequest"]["properties"]["code"]["maxLength"],
            12
        );
        assert!(schemas["CreateVerification"]["properties"]["customer_ref"]["pattern"].is_string());
        let birthdate = &schemas["CreateVerification"]["properties"]["birthdate"];
        assert_eq!(birthdate["format"], "date", "{birthdate}");
        assert_eq!(birthdate["maxLength"], 10, "{birthdate}");
        assert!(birthdate["pattern"].is_string(), "{birthdate}");
    }
}
