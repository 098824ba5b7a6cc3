//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description, generated from
//! the same `routes!` registrations the router is built from (the API's
//! and the dashboard's), so a route cannot be served without being
//! described.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "unlistd",
        description = "Watches public directory sites for a telephone operator's unlisted numbers \
            and addresses. Named bearer tokens carry a role: read (every GET), act (also ack, \
            dismiss, silences, takedowns), admin (also reports and reloads). Lists page with \
            `limit` and `after` and an RFC 8288 `Link: <…>; rel=\"next\"` header."
    ),
    tags(
        (name = "health", description = "open: liveness and metrics"),
        (name = "read", description = "any token"),
        (name = "act", description = "tokens with the act or admin role"),
        (name = "admin", description = "tokens with the admin role"),
        (name = "dashboard", description = "server-rendered HTML pages behind a session cookie"),
    ),
    modifiers(&Security)
)]
struct ApiDoc;

/// The bearer scheme every `/api/v1` route but this one uses.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The whole description: the API's routes and the dashboard's.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::public_routes().into_openapi());
    doc.merge(super::api_routes().into_openapi());
    doc.merge(super::dashboard::routes().into_openapi());
    doc
}

/// The OpenAPI 3.1 description of this API (JSON).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
pub(super) async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_pretty_json().unwrap_or_else(|_| "{}".into()));
    let mut r = body.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the router is in the description: the router is
    /// built only from `routes!` (checked in the sources below), and each
    /// path the README documents is here with its method.
    #[test]
    fn the_description_covers_every_route() {
        let doc = document();
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        let paths = v["paths"].as_object().unwrap();
        let want: &[(&str, &str)] = &[
            ("/healthz", "get"),
            ("/metrics", "get"),
            ("/api/v1/openapi.json", "get"),
            ("/api/v1/status", "get"),
            ("/api/v1/incidents", "get"),
            ("/api/v1/entries/{entry_ref}/history", "get"),
            ("/api/v1/sites", "get"),
            ("/api/v1/incidents/{id}/ack", "post"),
            ("/api/v1/incidents/{id}/dismiss", "post"),
            ("/api/v1/incidents/{id}/actions", "get"),
            ("/api/v1/incidents/{id}/takedown", "get"),
            ("/api/v1/incidents/{id}/takedown", "post"),
            ("/api/v1/silences", "get"),
            ("/api/v1/silences", "post"),
            ("/api/v1/silences/{id}", "delete"),
            ("/api/v1/audit", "get"),
            ("/api/v1/report", "get"),
            ("/api/v1/reload", "post"),
            ("/dashboard", "get"),
            ("/dashboard/login", "get"),
            ("/dashboard/login", "post"),
            ("/dashboard/logout", "post"),
            ("/dashboard/incidents", "get"),
            ("/dashboard/incidents/{id}", "get"),
            ("/dashboard/incidents/{id}/act", "post"),
            ("/dashboard/silences", "post"),
            ("/dashboard/silences/{id}/end", "post"),
            ("/dashboard/entries", "get"),
        ];
        for (p, m) in want {
            assert!(
                paths.get(*p).and_then(|x| x.get(*m)).is_some(),
                "{m} {p} is not described"
            );
        }
        // The grouped view is a parameter of the incidents route.
        let params = &paths["/api/v1/incidents"]["get"]["parameters"];
        assert!(
            params
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["name"] == "group")),
            "{params}"
        );
        let described: usize = paths.values().map(|m| m.as_object().unwrap().len()).sum();
        assert_eq!(described, want.len(), "a route is missing from this list");
    }

    /// The router has no route that bypasses `routes!` (and so the
    /// description): no plain route, route_service, nest or nest_service call in
    /// `src/web/`.
    #[test]
    fn every_route_is_registered_through_routes_macro() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        for f in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap();
            for name in ["route", "route_service", "nest", "nest_service"] {
                let bad = format!(".{name}(");
                assert!(
                    !text.contains(bad.as_str()),
                    "{} registers a route with {bad}: use routes!(handler) so it is described",
                    f.path().display()
                );
            }
        }
    }
}
