//! The HTTP API served by `unlistd run` (contract: "HTTP API").
//!
//! `/healthz` and `/metrics` are open (bind to loopback, the default);
//! `/api/v1/*` needs `Authorization: Bearer <token>`, compared in constant
//! time over SHA-256 digests so neither content nor length leaks. Without a
//! configured token every `/api/v1` request is refused. `/dashboard/*` is
//! the HTML dashboard (`crate::dashboard`), behind a session cookie that
//! the same token obtains.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::{App, LiveApp};
use crate::store::blocking;
use crate::wire;

/// Every handler sees the App current when its request arrived (a reload
/// swaps it: new token, sites, receivers).
pub fn router(live: LiveApp) -> Router {
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
        .route_layer(middleware::from_fn_with_state(live.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(live.clone())
        .merge(crate::dashboard::router(live))
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Constant-time token check over digests (length-independent).
pub fn token_matches(expected: &[u8], presented: &[u8]) -> bool {
    let a = Sha256::digest(expected);
    let b = Sha256::digest(presented);
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

async fn require_token(State(app): State<App>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match (&app.settings.api.token, presented) {
        (Some(expected), Some(p)) if token_matches(expected, p.as_bytes()) => next.run(req).await,
        _ => {
            let mut r = error(StatusCode::UNAUTHORIZED, "unauthorized");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
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
    match blocking(move || a.status(true)).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => internal(e),
    }
}

async fn sites(State(app): State<App>) -> Response {
    let a = app.clone();
    match blocking(move || a.status(true)).await {
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
}

async fn incidents(State(app): State<App>, Query(q): Query<IncidentQuery>) -> Response {
    let open_only = match q.state.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "state must be open or all"),
    };
    let store = app.store().clone();
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
    if b.reason.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "reason: must not be empty");
    }
    let who = api_actor(b.by.as_deref());
    let store = app.store().clone();
    let (i, r, w) = (id.clone(), b.reason.clone(), who.clone());
    match blocking(move || {
        store.incident_action(&i, action, &w, &r, time::OffsetDateTime::now_utc())
    })
    .await
    {
        Ok(state) => Json(wire::ActionResult {
            id,
            action: action.as_str(),
            state: state.as_str(),
            by: who,
            reason: b.reason,
        })
        .into_response(),
        Err(crate::store::StoreError::NotFound(m)) => error(StatusCode::NOT_FOUND, &m),
        Err(crate::store::StoreError::Conflict(m)) => error(StatusCode::CONFLICT, &m),
        Err(crate::store::StoreError::BadInput(m)) => error(StatusCode::BAD_REQUEST, &m),
        Err(e) => internal(e),
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
    let now = time::OffsetDateTime::now_utc();
    let new = match crate::cli::new_silence(
        &app,
        b.site.as_deref(),
        b.event_type.as_deref(),
        b.cohort.as_deref(),
        &b.duration,
        &b.reason,
        &api_actor(b.by.as_deref()),
        now,
    ) {
        Ok(n) => n,
        Err((field, m)) => {
            let field = if field == "for" { "duration" } else { field };
            return error(StatusCode::BAD_REQUEST, &format!("{field}: {m}"));
        }
    };
    let store = app.store().clone();
    match blocking(move || store.add_silence(&new, now)).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(crate::store::StoreError::BadInput(m)) => error(StatusCode::BAD_REQUEST, &m),
        Err(e) => internal(e),
    }
}

async fn end_silence(State(app): State<App>, Path(id): Path<String>) -> Response {
    let store = app.store().clone();
    match blocking(move || store.end_silence(&id, "api", time::OffsetDateTime::now_utc())).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such active silence"),
        Err(e) => internal(e),
    }
}

/// Prometheus text. Labels come only from configuration (site names,
/// outcome classes, receiver ids), never from the roster.
async fn metrics(State(app): State<App>) -> Response {
    let a = app.clone();
    let loaded = blocking(move || {
        let st = a.status(true)?;
        let mut outbox = Vec::new();
        for r in a.settings.alerts.receivers() {
            let stats = a.store().outbox_stats(&r)?;
            outbox.push((r, stats));
        }
        Ok((st, outbox))
    })
    .await;
    let (st, outbox) = match loaded {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let mut out = String::new();
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str("# HELP unlistd_probes_total Probes since start, by site and outcome.\n# TYPE unlistd_probes_total counter\n");
    for site in &app.engine.sites {
        for (outcome, v) in [
            ("clean", &site.stats.clean),
            ("exposed", &site.stats.exposed),
            ("inconclusive", &site.stats.inconclusive),
        ] {
            let _ = writeln!(
                out,
                "unlistd_probes_total{{site=\"{}\",outcome=\"{outcome}\"}} {}",
                esc(site.name()),
                v.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# HELP unlistd_cycles_total Scan cycles started, by site.\n# TYPE unlistd_cycles_total counter\n");
    for site in &app.engine.sites {
        let _ = writeln!(
            out,
            "unlistd_cycles_total{{site=\"{}\"}} {}",
            esc(site.name()),
            site.stats.cycles.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP unlistd_oldest_probe_age_seconds Age of the least recently conclusively probed entry.\n# TYPE unlistd_oldest_probe_age_seconds gauge\n");
    out.push_str("# HELP unlistd_site_degraded 1 when the site is degraded.\n# TYPE unlistd_site_degraded gauge\n");
    out.push_str("# HELP unlistd_effective_rate_per_second Requests sent per second over the last minute.\n# TYPE unlistd_effective_rate_per_second gauge\n");
    for s in &st.sites {
        let n = esc(&s.name);
        if let Some(age) = s.oldest_probe_age_seconds {
            let _ = writeln!(
                out,
                "unlistd_oldest_probe_age_seconds{{site=\"{n}\"}} {age}"
            );
        }
        let _ = writeln!(
            out,
            "unlistd_site_degraded{{site=\"{n}\"}} {}",
            u8::from(s.state == "degraded")
        );
        let _ = writeln!(
            out,
            "unlistd_effective_rate_per_second{{site=\"{n}\"}} {}",
            s.effective_rate_per_second.unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP unlistd_open_incidents Open or acknowledged incidents.\n# TYPE unlistd_open_incidents gauge\nunlistd_open_incidents {}",
        st.incidents.open
    );
    let _ = writeln!(
        out,
        "# HELP unlistd_roster_entries Active roster entries.\n# TYPE unlistd_roster_entries gauge\nunlistd_roster_entries {}",
        st.roster.size
    );
    out.push_str("# HELP unlistd_conclusive_share Share of all recorded probes that were conclusive (clean or exposed).\n# TYPE unlistd_conclusive_share gauge\n");
    for s in &st.sites {
        if let Some(share) = s.conclusive_share {
            let _ = writeln!(
                out,
                "unlistd_conclusive_share{{site=\"{}\"}} {share}",
                esc(&s.name)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP unlistd_silences_active Silences in force (alerts they match are held back).\n# TYPE unlistd_silences_active gauge\nunlistd_silences_active {}",
        st.silences.len()
    );
    // Per receiver, from the outbox (so they survive restarts).
    type Gauge = fn(&wire::ReceiverStatus) -> u64;
    let receiver_metrics: [(&str, &str, &str, Gauge); 4] = [
        (
            "unlistd_alert_pending_messages",
            "gauge",
            "Formed alert messages not yet delivered.",
            |r| r.pending_messages,
        ),
        (
            "unlistd_alert_delivered_messages_total",
            "counter",
            "Alert messages delivered (acknowledged with a 2xx), ever.",
            |r| r.delivered_messages,
        ),
        (
            "unlistd_alert_undelivered_events",
            "gauge",
            "Alert events not yet in a delivered message.",
            |r| r.undelivered_events,
        ),
        (
            "unlistd_alert_receiver_failing",
            "gauge",
            "1 when the receiver is failing (3 failed attempts in a row, or a 4xx).",
            |r| u64::from(r.failing),
        ),
    ];
    for (name, kind, help, value) in receiver_metrics {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for r in &st.alerts {
            let _ = writeln!(
                out,
                "{name}{{receiver=\"{}\"}} {}",
                esc(&r.receiver),
                value(r)
            );
        }
    }
    let reloads = [
        ("ok", app.reloads.ok.load(Ordering::Relaxed)),
        ("error", app.reloads.error.load(Ordering::Relaxed)),
    ];
    out.push_str("# HELP unlistd_config_reloads_total Config reloads (SIGHUP) since start, by result.\n# TYPE unlistd_config_reloads_total counter\n");
    for (result, n) in reloads {
        let _ = writeln!(
            out,
            "unlistd_config_reloads_total{{result=\"{result}\"}} {n}"
        );
    }
    let last_ok = st.last_reload.as_ref().is_none_or(|r| r.result == "ok");
    let _ = writeln!(
        out,
        "# HELP unlistd_config_last_reload_successful 0 when the last reload failed (the daemon runs on the config before it).\n# TYPE unlistd_config_last_reload_successful gauge\nunlistd_config_last_reload_successful {}",
        u8::from(last_ok)
    );
    out.push_str("# HELP unlistd_alert_failed_attempts Failed delivery attempts of the oldest pending message (0 when none is pending).\n# TYPE unlistd_alert_failed_attempts gauge\n");
    for (r, stats) in &outbox {
        let _ = writeln!(
            out,
            "unlistd_alert_failed_attempts{{receiver=\"{}\"}} {}",
            esc(r),
            stats.head_attempts
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abc", b"abd"));
        assert!(!token_matches(b"abc", b"abcd"));
        assert!(!token_matches(b"abc", b""));
    }
}
