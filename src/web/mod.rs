//! The HTTP API served by `unlistd run` (contract: "HTTP API").
//!
//! Every route first checks the `Host` header (`host.rs`, against DNS
//! rebinding). `/healthz` (a cached write check: `health.rs`), `/metrics`
//! (`metrics.rs`) and `/api/v1/openapi.json` are open (bind to loopback,
//! the default); the rest of `/api/v1/*` needs a named token or the
//! trusted proxy's user (`auth.rs`), and each action the role that allows
//! it (`auth::Can`). `/dashboard/*` is the HTML dashboard (`dashboard.rs`),
//! behind a session cookie that any named token obtains. Acting on
//! incidents, silences and takedowns is
//! `crate::ops`, shared with the CLI; errors map to statuses by variant,
//! never by message text.
//!
//! Every route is registered with `utoipa_axum::routes!` from a handler
//! annotated with `#[utoipa::path]`, so the router and the OpenAPI 3.1
//! description (`openapi.rs`) come from the same code.

mod auth;
mod dashboard;
mod health;
mod host;
mod metrics;
mod openapi;
mod paging;
mod people;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, LiveApp};
use crate::ops::{self, Field, OpsError, Reason, SilenceRequest};
use crate::store::{StoreError, blocking};
use crate::wire;

use auth::{ActRole, Can, ReadRole};
use paging::{Cursor, PageQuery};

/// Lets handlers take `State<App>` from a router whose state is the
/// [`LiveApp`]: each request sees the App current when it arrived.
impl axum::extract::FromRef<LiveApp> for App {
    fn from_ref(live: &LiveApp) -> App {
        live.get()
    }
}

/// How `POST /api/v1/reload` asks the daemon to re-read its config (the
/// same channel as `SIGHUP`); `None` when it was not started from a file.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReloadTrigger(pub Option<tokio::sync::mpsc::Sender<()>>);

/// The open routes.
fn public_routes() -> OpenApiRouter<LiveApp> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi::openapi_json))
}

/// The routes behind a token (or the trusted proxy's user).
fn api_routes() -> OpenApiRouter<LiveApp> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(incidents))
        .routes(routes!(history))
        .routes(routes!(sites))
        .routes(routes!(ack))
        .routes(routes!(dismiss))
        .routes(routes!(actions))
        .routes(routes!(silences, add_silence))
        .routes(routes!(end_silence))
        .routes(routes!(people::takedowns, people::takedown))
        .routes(routes!(people::audit))
        .routes(routes!(people::report))
        .routes(routes!(people::reload))
}

/// Every handler sees the App current when its request arrived (a reload
/// swaps it: new tokens, sites, receivers).
pub(crate) fn router(live: LiveApp, reload: ReloadTrigger) -> Router {
    let api = api_routes().route_layer(middleware::from_fn_with_state(
        live.clone(),
        auth::require_token,
    ));
    let (api, _) = public_routes()
        .merge(api)
        .with_state(live.clone())
        .split_for_parts();
    let live_for_host = live.clone();
    let (dash, _) = dashboard::router(live).split_for_parts();
    api.merge(dash)
        .layer(axum::Extension(reload))
        .layer(axum::Extension(health::Health::default()))
        .layer(middleware::from_fn_with_state(
            live_for_host,
            host::require_known_host,
        ))
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

/// The daemon is up and its store takes writes (checked by a small write
/// at most every few seconds: `health.rs`).
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "up, store writable", content_type = "text/plain"),
              (status = 503, description = "store not writable")))]
async fn healthz(
    State(app): State<App>,
    axum::Extension(health): axum::Extension<health::Health>,
) -> Response {
    health.answer(app.store()).await
}

/// Prometheus text; no label carries roster data.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics_text(state: State<App>) -> Response {
    metrics::metrics(state).await
}

/// Roster size, per-site health and coverage, open incidents, receivers,
/// silences, the last reload.
#[utoipa::path(get, path = "/api/v1/status", tag = "read",
    responses((status = 200, body = wire::Status), (status = 401)))]
async fn status(State(app): State<App>, _: Can<ReadRole>) -> Response {
    let a = app.clone();
    match blocking(move || crate::status::of(&a, true)).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => internal(e),
    }
}

/// Per-site status (as in `/api/v1/status`).
#[utoipa::path(get, path = "/api/v1/sites", tag = "read",
    responses((status = 200, description = "{\"sites\": [...]}"), (status = 401)))]
async fn sites(State(app): State<App>, _: Can<ReadRole>) -> Response {
    let a = app.clone();
    match blocking(move || crate::status::of(&a, true)).await {
        Ok(s) => Json(serde_json::json!({ "sites": s.sites })).into_response(),
        Err(e) => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "API request failed.");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct IncidentQuery {
    /// `open` (open or acknowledged) or `all` (the default).
    state: Option<String>,
    /// Items per page: 1 to 1000, default 100.
    limit: Option<String>,
    /// The opaque cursor from the previous page's `Link: <…>; rel="next"`.
    after: Option<String>,
    /// `cohort`: every incident grouped by the entries' cohort, biggest
    /// group first (the `IncidentsByCohort` shape, not paged).
    group: Option<String>,
}

/// Incidents, oldest first, a page at a time (`Link` names the next page);
/// with `group=cohort`, every incident grouped by cohort instead
/// (`{"cohorts": [...]}`).
#[utoipa::path(get, path = "/api/v1/incidents", tag = "read", params(IncidentQuery),
    responses((status = 200, body = wire::Incidents,
               headers(("link" = String, description = "RFC 8288 `<…>; rel=\"next\"` when there is more"))),
              (status = 400), (status = 401)))]
async fn incidents(
    State(app): State<App>,
    _: Can<ReadRole>,
    Query(q): Query<IncidentQuery>,
) -> Response {
    let open_only = match q.state.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "state must be open or all"),
    };
    let page = match PageQuery::parse(q.limit.as_deref(), q.after.as_deref(), "i") {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let store = app.store().clone();
    match q.group.as_deref() {
        None => {}
        Some("cohort") if q.limit.is_some() || q.after.is_some() => {
            return error(
                StatusCode::BAD_REQUEST,
                "group=cohort is not paged: it takes no limit or after",
            );
        }
        Some("cohort") => return incidents_by_cohort(store, open_only).await,
        Some(_) => return error(StatusCode::BAD_REQUEST, "group must be cohort"),
    }
    let limit = page.limit;
    let after = page.after.clone();
    let loaded = blocking(move || {
        let after = after.as_ref().map(|c| (c.time, c.key.as_str()));
        store.incidents_page(open_only, after, limit + 1)
    })
    .await;
    match loaded {
        Ok(mut v) => {
            let next = (v.len() > limit).then(|| {
                v.truncate(limit);
                let last = &v[limit - 1];
                Cursor::new("i", crate::store::ms_of(last.first_seen), &last.id)
            });
            let body = Json(wire::Incidents {
                incidents: v.iter().map(wire::Incident::from).collect(),
            });
            let state = if open_only { "open" } else { "all" };
            let link = next.map(|c| {
                format!(
                    "/api/v1/incidents?state={state}&limit={limit}&after={}",
                    c.encode()
                )
            });
            paging::with_next(body.into_response(), link)
        }
        Err(e) => internal(e),
    }
}

/// `GET /api/v1/incidents?group=cohort`.
async fn incidents_by_cohort(store: crate::store::Store, open_only: bool) -> Response {
    match blocking(move || store.incidents_by_cohort(open_only)).await {
        Ok(v) => Json(wire::IncidentsByCohort {
            cohorts: v.iter().map(wire::CohortIncidents::from).collect(),
        })
        .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Items per page: 1 to 1000, default 100.
    limit: Option<String>,
    /// The opaque cursor from the previous page's `Link`.
    after: Option<String>,
}

/// Every probe of one roster entry, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/entries/{entry_ref}/history", tag = "read",
    params(("entry_ref" = String, Path, description = "the operator's ref"), HistoryQuery),
    responses((status = 200, body = wire::History,
               headers(("link" = String, description = "RFC 8288 `<…>; rel=\"next\"` when there is more"))),
              (status = 400), (status = 401), (status = 404, description = "unknown ref")))]
async fn history(
    State(app): State<App>,
    _: Can<ReadRole>,
    Path(entry_ref): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let page = match PageQuery::parse(q.limit.as_deref(), q.after.as_deref(), "h") {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let after = match &page.after {
        Some(c) => match c.key.parse::<i64>() {
            Ok(id) => Some((c.time, id)),
            Err(_) => return error(StatusCode::BAD_REQUEST, "after: not a cursor of this list"),
        },
        None => None,
    };
    let limit = page.limit;
    let store = app.store().clone();
    let r = entry_ref.clone();
    match blocking(move || store.history_page(&r, after, limit + 1)).await {
        Ok(Some(mut p)) => {
            let next = (p.len() > limit).then(|| {
                p.truncate(limit);
                let (id, last) = &p[limit - 1];
                Cursor::new("h", crate::store::ms_of(last.time), &id.to_string())
            });
            let link = next.map(|c| {
                format!(
                    "/api/v1/entries/{}/history?limit={limit}&after={}",
                    paging::pct(&entry_ref),
                    c.encode()
                )
            });
            let body = Json(wire::History {
                entry_ref,
                probes: p.iter().map(|(_, v)| wire::Probe::from(v)).collect(),
            });
            paging::with_next(body.into_response(), link)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown entry ref"),
        Err(e) => internal(e),
    }
}

/// Body of `POST .../ack` and `.../dismiss`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    reason: String,
    /// A note on who asked; the action is recorded under the token's
    /// name (`alice (by bob)`), never under this alone.
    by: Option<String>,
    /// Dismiss only: withdraw the dismissal.
    #[serde(default)]
    undo: bool,
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// Acknowledges an incident: reminders stop; it still resolves only after
/// clean probes. Needs the `act` role.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "act",
    params(("id" = String, Path)), request_body = ActionBody,
    responses((status = 200, body = wire::ActionResult), (status = 400), (status = 401),
              (status = 403, description = "the token's role may not act"),
              (status = 404), (status = 409)))]
async fn ack(
    State(app): State<App>,
    Can(who, _): Can<ActRole>,
    Path(id): Path<String>,
    body: JsonBody<ActionBody>,
) -> Response {
    act(app, &who, id, body, false).await
}

/// Dismisses an incident's listing as a false positive for that entry
/// (`"undo": true` withdraws it). Needs the `act` role.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/dismiss", tag = "act",
    params(("id" = String, Path)), request_body = ActionBody,
    responses((status = 200, body = wire::ActionResult), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409)))]
async fn dismiss(
    State(app): State<App>,
    Can(who, _): Can<ActRole>,
    Path(id): Path<String>,
    body: JsonBody<ActionBody>,
) -> Response {
    act(app, &who, id, body, true).await
}

/// Ack (`dismiss` false) or dismiss / undismiss an incident.
async fn act(
    app: App,
    who: &auth::Identity,
    id: String,
    body: JsonBody<ActionBody>,
    dismiss: bool,
) -> Response {
    use crate::store::IncidentAction;
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"reason\": \"...\", \"by\": \"...\"}",
        );
    };
    let action = match (dismiss, b.undo) {
        (false, true) => return error(StatusCode::BAD_REQUEST, "undo: only for dismiss"),
        (false, false) => IncidentAction::Ack,
        (true, false) => IncidentAction::Dismiss,
        (true, true) => IncidentAction::Undismiss,
    };
    let reason = match Reason::new(&b.reason) {
        Ok(r) => r,
        Err(e) => return ops_error(e),
    };
    let actor = who.actor(b.by.as_deref());
    match ops::incident_action(app.store(), &id, action, &reason, &actor).await {
        Ok(state) => Json(wire::ActionResult {
            id,
            action: action.as_str(),
            state: state.as_str(),
            by: actor,
            reason: b.reason,
        })
        .into_response(),
        Err(e) => store_error(e),
    }
}

/// A store error as the API answers it: by variant, never by message.
fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(m) => error(StatusCode::NOT_FOUND, &m),
        StoreError::Conflict(m) => error(StatusCode::CONFLICT, &m),
        StoreError::BadInput(m) => error(StatusCode::BAD_REQUEST, &m),
        e => internal(e),
    }
}

/// A refused action: 400 naming the JSON field.
fn ops_error(e: OpsError) -> Response {
    match e {
        OpsError::Invalid { field, message } => {
            let field = match field {
                Field::Site => "site",
                Field::Type => "type",
                Field::Cohort => "cohort",
                Field::Duration => "duration",
                Field::Reason => "reason",
                Field::Via => "via",
            };
            error(StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
        }
        OpsError::Store(e) => store_error(e),
    }
}

/// Who did what to an incident, when and why.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/actions", tag = "read",
    params(("id" = String, Path)),
    responses((status = 200, description = "{\"incident_id\", \"actions\": [...]}"),
              (status = 401), (status = 404)))]
async fn actions(State(app): State<App>, _: Can<ReadRole>, Path(id): Path<String>) -> Response {
    let store = app.store().clone();
    let i = id.clone();
    match blocking(move || {
        if !store.incident_exists(&i)? {
            return Ok(None);
        }
        store.incident_actions(&i).map(Some)
    })
    .await
    {
        Ok(Some(v)) => Json(serde_json::json!({
            "incident_id": id,
            "actions": v.iter().map(wire::Action::from).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown incident"),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SilenceQuery {
    /// Every silence ever, not only those in force.
    #[serde(default)]
    all: bool,
}

/// Silences in force (every one, with `all=true`).
#[utoipa::path(get, path = "/api/v1/silences", tag = "read", params(SilenceQuery),
    responses((status = 200, body = wire::Silences), (status = 401)))]
async fn silences(
    State(app): State<App>,
    _: Can<ReadRole>,
    Query(q): Query<SilenceQuery>,
) -> Response {
    let store = app.store().clone();
    match blocking(move || store.silences(time::OffsetDateTime::now_utc(), q.all)).await {
        Ok(v) => Json(wire::Silences {
            silences: v.iter().map(wire::Silence::from).collect(),
        })
        .into_response(),
        Err(e) => internal(e),
    }
}

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    site: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    cohort: Option<String>,
    /// e.g. "2h".
    duration: String,
    reason: String,
    /// A note; recorded as `<token name> (by <note>)`.
    by: Option<String>,
}

/// Holds back matching alerts until it expires. Needs the `act` role.
#[utoipa::path(post, path = "/api/v1/silences", tag = "act", request_body = SilenceBody,
    responses((status = 201, description = "{\"id\": \"sil_…\"}"), (status = 400),
              (status = 401), (status = 403)))]
async fn add_silence(
    State(app): State<App>,
    Can(who, _): Can<ActRole>,
    body: JsonBody<SilenceBody>,
) -> Response {
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"duration\": \"2h\", \"reason\": \"...\"} with optional site, type, cohort, by",
        );
    };
    let by = who.actor(b.by.as_deref());
    let request = SilenceRequest {
        site: b.site.as_deref(),
        event_type: b.event_type.as_deref(),
        cohort: b.cohort.as_deref(),
        duration: &b.duration,
        reason: &b.reason,
        by: &by,
    };
    match ops::add_silence(app.store(), &app.settings.sites, request).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(e) => ops_error(e),
    }
}

/// Ends a silence early. Needs the `act` role.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "act",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403),
              (status = 404, description = "no such active silence")))]
async fn end_silence(
    State(app): State<App>,
    Can(who, _): Can<ActRole>,
    Path(id): Path<String>,
) -> Response {
    match ops::end_silence(app.store(), &id, &who.name).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such active silence"),
        Err(e) => internal(e),
    }
}
