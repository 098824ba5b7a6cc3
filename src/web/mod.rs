//! The HTTP API served by `unlistd run` (contract: "HTTP API").
//!
//! `/healthz` and `/metrics` (`metrics.rs`) are open (bind to loopback, the
//! default); `/api/v1/*` needs `Authorization: Bearer <token>` (`auth.rs`).
//! `/dashboard/*` is the HTML dashboard (`dashboard.rs`), behind a session
//! cookie that the same token obtains. Acting on incidents and silences is
//! `crate::ops`, shared with the CLI; errors map to statuses by variant,
//! never by message text.

mod auth;
mod dashboard;
mod metrics;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;

use crate::app::{App, LiveApp};
use crate::ops::{self, Field, OpsError, Reason, SilenceRequest};
use crate::store::{StoreError, blocking};
use crate::wire;

/// Lets handlers take `State<App>` from a router whose state is the
/// [`LiveApp`]: each request sees the App current when it arrived.
impl axum::extract::FromRef<LiveApp> for App {
    fn from_ref(live: &LiveApp) -> App {
        live.get()
    }
}

/// Every handler sees the App current when its request arrived (a reload
/// swaps it: new token, sites, receivers).
pub(crate) fn router(live: LiveApp) -> Router {
    let api = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/entries/{entry_ref}/history", get(history))
        .route("/api/v1/sites", get(sites))
        .route("/api/v1/incidents/{id}/ack", post(ack))
        .route("/api/v1/incidents/{id}/dismiss", post(dismiss))
        .route("/api/v1/incidents/{id}/actions", get(actions))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(end_silence))
        .route_layer(middleware::from_fn_with_state(
            live.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .merge(api)
        .with_state(live.clone())
        .merge(dashboard::router(live))
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

async fn healthz(State(app): State<App>) -> Response {
    let store = app.store().clone();
    match blocking(move || store.ping_write()).await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Health check: store not writable.");
            (StatusCode::SERVICE_UNAVAILABLE, "store not writable\n").into_response()
        }
    }
}

async fn status(State(app): State<App>) -> Response {
    let a = app.clone();
    match blocking(move || crate::status::of(&a, true)).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => internal(e),
    }
}

async fn sites(State(app): State<App>) -> Response {
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

#[derive(Debug, Deserialize)]
struct IncidentQuery {
    state: Option<String>,
    /// `cohort`: grouped by the entries' cohort (a different shape).
    group: Option<String>,
}

async fn incidents(State(app): State<App>, Query(q): Query<IncidentQuery>) -> Response {
    let open_only = match q.state.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "state must be open or all"),
    };
    let store = app.store().clone();
    match q.group.as_deref() {
        None => {}
        Some("cohort") => {
            return match blocking(move || store.incidents_by_cohort(open_only)).await {
                Ok(v) => Json(wire::IncidentsByCohort {
                    cohorts: v.iter().map(wire::CohortIncidents::from).collect(),
                })
                .into_response(),
                Err(e) => internal(e),
            };
        }
        Some(_) => return error(StatusCode::BAD_REQUEST, "group must be cohort"),
    }
    match blocking(move || store.incidents(open_only)).await {
        Ok(v) => Json(wire::Incidents {
            incidents: v.iter().map(wire::Incident::from).collect(),
        })
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn history(State(app): State<App>, Path(entry_ref): Path<String>) -> Response {
    let store = app.store().clone();
    let r = entry_ref.clone();
    match blocking(move || store.history(&r)).await {
        Ok(Some(p)) => Json(wire::History {
            entry_ref,
            probes: p.iter().map(wire::Probe::from).collect(),
        })
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown entry ref"),
        Err(e) => internal(e),
    }
}

/// Body of `POST .../ack` and `.../dismiss`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    reason: String,
    /// Who; recorded as `api:<by>` (just `api` without it).
    by: Option<String>,
    /// Dismiss only: withdraw the dismissal.
    #[serde(default)]
    undo: bool,
}

fn api_actor(by: Option<&str>) -> String {
    match by.map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => format!("api:{b}"),
        None => "api".into(),
    }
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

async fn ack(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<ActionBody>,
) -> Response {
    act(app, id, body, false).await
}

async fn dismiss(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<ActionBody>,
) -> Response {
    act(app, id, body, true).await
}

/// Ack (`dismiss` false) or dismiss / undismiss an incident.
async fn act(app: App, id: String, body: JsonBody<ActionBody>, dismiss: bool) -> Response {
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
    let who = api_actor(b.by.as_deref());
    match ops::incident_action(app.store(), &id, action, &reason, &who).await {
        Ok(state) => Json(wire::ActionResult {
            id,
            action: action.as_str(),
            state: state.as_str(),
            by: who,
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
            };
            error(StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
        }
        OpsError::Store(e) => store_error(e),
    }
}

async fn actions(State(app): State<App>, Path(id): Path<String>) -> Response {
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

#[derive(Debug, Deserialize)]
struct SilenceQuery {
    #[serde(default)]
    all: bool,
}

async fn silences(State(app): State<App>, Query(q): Query<SilenceQuery>) -> Response {
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    site: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    cohort: Option<String>,
    /// e.g. "2h".
    duration: String,
    reason: String,
    by: Option<String>,
}

async fn add_silence(State(app): State<App>, body: JsonBody<SilenceBody>) -> Response {
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"duration\": \"2h\", \"reason\": \"...\"} with optional site, type, cohort, by",
        );
    };
    let by = api_actor(b.by.as_deref());
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

async fn end_silence(State(app): State<App>, Path(id): Path<String>) -> Response {
    match ops::end_silence(app.store(), &id, "api").await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such active silence"),
        Err(e) => internal(e),
    }
}
