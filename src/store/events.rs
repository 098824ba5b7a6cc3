//! Alert events: the one place events get deliveries (routed per receiver
//! when written, invariant 15) and are held back by a matching silence.

use super::StoreError;
use super::sql::{Conn, params};
use crate::domain::incident::EventType;
use crate::domain::route::Routes;

/// An events row and one unformed delivery per receiver that routes it,
/// unless a silence holds it back (then it is recorded as silenced).
pub(super) fn insert_event(
    c: &mut dyn Conn,
    event: EventType,
    site: &str,
    incident_id: Option<&str>,
    at_ms: i64,
    routes: &Routes,
) -> Result<i64, StoreError> {
    insert_event_with(c, event, site, incident_id, None, at_ms, routes)
}

/// [`insert_event`] with a JSON payload (digest figures, receiver details).
pub(super) fn insert_event_with(
    c: &mut dyn Conn,
    event: EventType,
    site: &str,
    incident_id: Option<&str>,
    payload: Option<&str>,
    at_ms: i64,
    routes: &Routes,
) -> Result<i64, StoreError> {
    let cohort: Option<String> = match incident_id {
        Some(id) => c
            .query_opt(
                "SELECT e.cohort FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
                 WHERE i.id = ?1",
                params![id],
                |r| r.opt_text(0),
            )?
            .flatten(),
        None => None,
    };
    let silence = silenced_by(c, event, site, cohort.as_deref(), at_ms)?;
    let event_id = c.query_i64(
        "INSERT INTO events (type, site, incident_id, created_at, payload, silenced_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         RETURNING id",
        params![event.as_str(), site, incident_id, at_ms, payload, silence],
    )?;
    if silence.is_none() {
        for r in routes.receivers_for(event, site, cohort.as_deref()) {
            c.execute(
                "INSERT INTO deliveries (event_id, receiver) VALUES (?1, ?2)",
                params![event_id, r],
            )?;
        }
    }
    // Reminders count from the last announcement; a silenced opening
    // stays unannounced (NULL) so it is announced once the silence ends.
    if let (Some(id), None) = (incident_id, &silence)
        && matches!(
            event,
            EventType::ExposureOpened | EventType::ExposureReminder
        )
    {
        c.execute(
            "UPDATE incidents SET last_notified_at = ?2 WHERE id = ?1",
            params![id, at_ms],
        )?;
    }
    Ok(event_id)
}

/// The silence holding back an event like this at `at_ms`, if any.
pub(super) fn silenced_by(
    c: &mut dyn Conn,
    event: EventType,
    site: &str,
    cohort: Option<&str>,
    at_ms: i64,
) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT id FROM silences
         WHERE ended_at IS NULL AND created_at <= ?1 AND expires_at > ?1
           AND (site IS NULL OR site = ?2)
           AND (event_type IS NULL OR event_type = ?3)
           AND (cohort IS NULL OR cohort = ?4)
         ORDER BY created_at, id LIMIT 1",
        params![at_ms, site, event.as_str(), cohort],
        |r| r.text(0),
    )
}
