//! The OpenAPI 3 document, generated from the handlers' own annotations so
//! that it cannot drift from them.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, customers, freeswitch, health, limits, metrics, usage, verifications, webhooks,
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
        freeswitch::dialplan,
    ),
    components(schemas(crate::service::WebhookPayload)),
    modifiers(&BearerKeys),
    tags(
        (name = "verifications", description = "Verification calls and their outcomes"),
        (name = "customers", description = "PINs for `enter_pin`"),
        (name = "usage", description = "Billing"),
        (name = "limits", description = "Your plan: channels, rates, velocity, daily cap"),
        (name = "webhooks", description = "Webhook deliveries"),
        (name = "operations", description = "Health, readiness and Prometheus metrics"),
        (name = "admin", description = "Operators: FreeSWITCH node status, drain and resume. Requires `Authorization: Bearer <admin.token>`; off (404) when no admin token is configured"),
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

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
