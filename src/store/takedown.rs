//! The takedown loop: requests for removal of an incident's listing (with
//! who asked, how and under which ticket, audited like every action), and
//! `exposure.overdue` for a listing still up past its site's SLA.

use std::time::Duration;

use serde_json::json;

use super::audit;
use super::events::insert_event;
use super::rows::{ms, ts};
use super::sql::{Conn, params};
use super::{StoreError, TakedownView, Ts};
use crate::domain::incident::{EventType, IncidentState};
use crate::domain::route::Routes;

const TAKEDOWN_COLS: &str = "id, incident_id, via, ticket, actor, requested_at";

fn takedown_row(r: &dyn super::sql::Row) -> Result<TakedownView, StoreError> {
    Ok(TakedownView {
        id: r.i64(0)?,
        incident_id: r.text(1)?,
        via: r.text(2)?,
        ticket: r.opt_text(3)?,
        actor: r.text(4)?,
        requested_at: ts(r, 5)?,
    })
}

/// Records that removal of incident `incident_id`'s listing was requested.
/// `NotFound` for an unknown incident, `Conflict` for a resolved one,
/// `BadInput` without `via`.
pub(super) fn record(
    c: &mut dyn Conn,
    incident_id: &str,
    via: &str,
    ticket: Option<&str>,
    actor: &str,
    now: Ts,
) -> Result<TakedownView, StoreError> {
    if via.trim().is_empty() {
        return Err(StoreError::BadInput(
            "how removal was requested (via) is required".into(),
        ));
    }
    let ticket = ticket.map(str::trim).filter(|t| !t.is_empty());
    c.write(|tx| {
        let state = tx.query_opt(
            "SELECT state FROM incidents WHERE id = ?1",
            params![incident_id],
            |r| r.text(0),
        )?;
        let Some(state) = state else {
            return Err(StoreError::NotFound(format!("no incident {incident_id}")));
        };
        match IncidentState::parse(&state) {
            Some(IncidentState::Resolved) => {
                return Err(StoreError::Conflict(format!(
                    "incident {incident_id} is already resolved"
                )));
            }
            Some(IncidentState::Withdrawn) => {
                return Err(StoreError::Conflict(format!(
                    "incident {incident_id} is withdrawn (its entry was erased)"
                )));
            }
            _ => {}
        }
        let t = ms(now);
        let id = tx.query_i64(
            "INSERT INTO takedowns (incident_id, via, ticket, actor, requested_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING id",
            params![incident_id, via.trim(), ticket, actor, t],
        )?;
        let payload = json!({
            "incident_id": incident_id,
            "via": via.trim(),
            "ticket": ticket,
            "actor": actor,
            "requested_at": t,
        });
        audit::append(
            tx,
            crate::audit::kind::INCIDENT_TAKEDOWN,
            &id.to_string(),
            &payload,
            t,
        )?;
        tx.query_one(
            &format!("SELECT {TAKEDOWN_COLS} FROM takedowns WHERE id = ?1"),
            params![id],
            takedown_row,
        )
    })
}

/// The takedown requests of an incident, oldest first.
pub(super) fn of_incident(
    c: &mut dyn Conn,
    incident_id: &str,
) -> Result<Vec<TakedownView>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {TAKEDOWN_COLS} FROM takedowns WHERE incident_id = ?1
             ORDER BY requested_at, id"
        ),
        params![incident_id],
        takedown_row,
    )
}

/// Raises `exposure.overdue` once for each open or acknowledged incident whose first
/// takedown request is older than its site's SLA (`sla_of`; sites it
/// returns `None` for are skipped). Returns how many it raised.
pub(super) fn queue_overdue(
    c: &mut dyn Conn,
    now: Ts,
    sla_of: &dyn Fn(&str) -> Option<Duration>,
    routes: &Routes,
) -> Result<u64, StoreError> {
    const CANDIDATES: &str = "SELECT i.id, i.site, min(t.requested_at)
        FROM incidents AS i JOIN takedowns AS t ON t.incident_id = i.id
        WHERE i.state IN ('open', 'acknowledged') AND i.overdue_at IS NULL
        GROUP BY i.id, i.site
        ORDER BY i.id";
    let t = ms(now);
    let due = |rows: Vec<(String, String, i64)>| -> Vec<(String, String)> {
        rows.into_iter()
            .filter(|(_, site, asked)| {
                sla_of(site).is_some_and(|sla| {
                    asked.saturating_add(i64::try_from(sla.as_millis()).unwrap_or(i64::MAX)) <= t
                })
            })
            .map(|(id, site, _)| (id, site))
            .collect()
    };
    // This runs every few seconds and almost never finds anything: look
    // without taking the write lock first.
    let read = |r: &dyn super::sql::Row| Ok((r.text(0)?, r.text(1)?, r.i64(2)?));
    if due(c.query_map(CANDIDATES, params![], read)?).is_empty() {
        return Ok(0);
    }
    c.write(|tx| {
        let mut raised = 0;
        for (id, site) in due(tx.query_map(CANDIDATES, params![], read)?) {
            tx.execute(
                "UPDATE incidents SET overdue_at = ?2 WHERE id = ?1",
                params![id, t],
            )?;
            insert_event(tx, EventType::ExposureOverdue, &site, Some(&id), t, routes)?;
            raised += 1;
        }
        Ok(raised)
    })
}
