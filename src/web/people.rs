//! The API of the second round: takedown requests, the audit feed for a
//! SIEM, and what the `admin` role adds (reports, reloads).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;

use super::auth::{ActRole, AdminRole, Can, ReadRole};
use super::paging::{parse_limit, with_next};
use super::{ReloadTrigger, error, internal, ops_error};
use crate::app::App;
use crate::store::{ReportScope, blocking};
use crate::{ops, report, wire};

/// Body of `POST /api/v1/incidents/{id}/takedown`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TakedownBody {
    /// How removal was requested, e.g. "118.dk removal form".
    via: String,
    /// The directory's or your own ticket reference.
    ticket: Option<String>,
    /// A note; recorded as `<token name> (by <note>)`.
    by: Option<String>,
}

/// Records that removal of the incident's listing was requested. Needs the
/// `act` role.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/takedown", tag = "act",
    params(("id" = String, Path)), request_body = TakedownBody,
    responses((status = 201, body = wire::Takedown), (status = 400), (status = 401),
              (status = 403), (status = 404), (status = 409, description = "already resolved")))]
pub(super) async fn takedown(
    State(app): State<App>,
    Can(who, _): Can<ActRole>,
    Path(id): Path<String>,
    body: super::JsonBody<TakedownBody>,
) -> Response {
    let Ok(axum::Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be JSON {\"via\": \"...\"} with optional ticket, by",
        );
    };
    let actor = who.actor(b.by.as_deref());
    match ops::takedown(app.store(), &id, &b.via, b.ticket.as_deref(), &actor).await {
        Ok(t) => (StatusCode::CREATED, Json(wire::Takedown::from(&t))).into_response(),
        Err(e) => ops_error(e),
    }
}

/// The incident's takedown requests, oldest first, and its site's contact.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/takedown", tag = "read",
    params(("id" = String, Path)),
    responses((status = 200, description = "{\"incident_id\", \"takedown_contact\", \"takedown_sla_seconds\", \"takedowns\": [...]}"),
              (status = 401), (status = 404)))]
pub(super) async fn takedowns(
    State(app): State<App>,
    _: Can<ReadRole>,
    Path(id): Path<String>,
) -> Response {
    let store = app.store().clone();
    let i = id.clone();
    let found = blocking(move || {
        let Some(inc) = store.incidents(false)?.into_iter().find(|x| x.id == i) else {
            return Ok(None);
        };
        Ok(Some((inc.site, store.takedowns(&i)?)))
    })
    .await;
    match found {
        Ok(Some((site, list))) => {
            let s = app.settings.sites.iter().find(|s| s.name == site);
            Json(serde_json::json!({
                "incident_id": id,
                "takedown_contact": s.and_then(|s| s.takedown_contact.clone()),
                "takedown_sla_seconds": s.map(|s| s.takedown_sla.as_secs()),
                "takedowns": list.iter().map(wire::Takedown::from).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown incident"),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Records after this sequence number (0, the default, from the start).
    after: Option<String>,
    /// Records per page: 1 to 1000, default 100.
    limit: Option<String>,
}

/// The audit trail in order, for pull-based ingestion (a SIEM): sequence,
/// time, kind, subject ids and hashes; no roster data and no free text.
#[utoipa::path(get, path = "/api/v1/audit", tag = "read", params(AuditQuery),
    responses((status = 200, body = wire::AuditFeed,
               headers(("link" = String, description = "RFC 8288 `<…>; rel=\"next\"` when there is more"))),
              (status = 400), (status = 401)))]
pub(super) async fn audit(
    State(app): State<App>,
    _: Can<ReadRole>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let limit = match parse_limit(q.limit.as_deref()) {
        Ok(l) => l,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(a) => match a.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "after: must be a sequence number (0 or more)",
                );
            }
        },
    };
    let store = app.store().clone();
    match blocking(move || store.audit_feed(after, limit + 1)).await {
        Ok(mut v) => {
            let more = v.len() > limit;
            v.truncate(limit);
            let next_after = v.last().map(|r| r.seq);
            let link = next_after
                .filter(|_| more)
                .map(|n| format!("/api/v1/audit?after={n}&limit={limit}"));
            let body = Json(wire::AuditFeed {
                records: v.iter().map(wire::AuditRecord::from).collect(),
                next_after: next_after.filter(|_| more),
            });
            with_next(body.into_response(), link)
        }
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportQuery {
    /// One incident's report.
    incident: Option<String>,
    /// A cohort's report.
    cohort: Option<String>,
    /// `html` (default), `json` or `csv`.
    format: Option<String>,
}

/// A signed compliance report of one incident or one cohort, as
/// `unlistd report` writes it. Needs the `admin` role.
#[utoipa::path(get, path = "/api/v1/report", tag = "admin", params(ReportQuery),
    responses((status = 200, description = "the signed report (HTML, JSON or CSV)"),
              (status = 400), (status = 401), (status = 403), (status = 404)))]
pub(super) async fn report(
    State(app): State<App>,
    Can(who, _): Can<AdminRole>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let (format, ctype) = match q.format.as_deref() {
        None | Some("html") => (report::Format::Html, "text/html; charset=utf-8"),
        Some("json") => (report::Format::Json, "application/json"),
        Some("csv") => (report::Format::Csv, "text/csv; charset=utf-8"),
        Some(_) => return error(StatusCode::BAD_REQUEST, "format must be html, json or csv"),
    };
    let scope = match (q.incident, q.cohort) {
        (Some(i), None) => ReportScope::Incident(i),
        (None, Some(c)) => ReportScope::Filter {
            cohort: Some(c),
            since: None,
            until: None,
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "name exactly one of incident or cohort",
            );
        }
    };
    let s = app.settings.clone();
    let req = report::Request::now(&s, scope);
    let store = app.store().clone();
    let built = blocking(move || {
        let Some(rep) = report::build(&store, &req)? else {
            return Ok(None);
        };
        // An encrypted store keeps the generated key inside, as the CLI does.
        let home = if s.store_key.is_some() {
            report::KeyHome::Store(&store, &s.store_path)
        } else {
            report::KeyHome::Beside(&s.store_path)
        };
        let key = report::signing_key(s.report.signing_key.as_deref(), &s.source, home, true)
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))?;
        Ok(Some(report::render(&rep, format, &key)))
    })
    .await;
    match built {
        Ok(Some(bytes)) => {
            tracing::info!(who = %who.name, "Report generated through the API.");
            let mut r = bytes.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            r
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown incident"),
        Err(e) => internal(e),
    }
}

/// Re-reads the config file, as `SIGHUP` does (`GET /api/v1/status`
/// shows the result in `last_reload`). Needs the `admin` role.
#[utoipa::path(post, path = "/api/v1/reload", tag = "admin",
    responses((status = 202, description = "reload requested"), (status = 401), (status = 403),
              (status = 409, description = "this daemon cannot reload (not started from a file)")))]
pub(super) async fn reload(
    Can(who, _): Can<AdminRole>,
    axum::Extension(trigger): axum::Extension<ReloadTrigger>,
) -> Response {
    match &trigger.0 {
        Some(tx) => {
            // A full channel means a reload is already pending: it will
            // read the file as it is then, which is what was asked.
            let _ = tx.try_send(());
            tracing::info!(who = %who.name, "Config reload requested through the API.");
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"reload": "requested"})),
            )
                .into_response()
        }
        None => error(
            StatusCode::CONFLICT,
            "this daemon was not started from a config file",
        ),
    }
}
