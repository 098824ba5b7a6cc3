//! The alert outbox: events → per-receiver deliveries → formed messages →
//! attempts.

use std::collections::HashSet;

use super::events::insert_event;
use super::rows::{
    count_col, event_type_col, exposed_col, masked_col, ms, opt_ts, state_col, ts, ts_at, u32_col,
};
use super::sql::{Conn, Row, params};
use super::{EventIncident, MessageRow, OutboxStats, PendingGroup, StoreError, Ts};
use crate::domain::incident::EventType;
use crate::domain::route::Routes;

pub(super) fn raise_site_event(
    c: &mut dyn Conn,
    site: &str,
    event_type: EventType,
    now: Ts,
    routes: &Routes,
) -> Result<(), StoreError> {
    c.write(|tx| insert_event(tx, event_type, site, None, ms(now), routes).map(|_| ()))
}

/// Unformed deliveries of `receiver` grouped by (site, type), oldest first.
pub(super) const PENDING_SQL: &str = "
    SELECT ev.site, ev.type, min(ev.created_at), count(*)
    FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id
    WHERE d.receiver = ?1 AND d.message_id IS NULL
    GROUP BY ev.site, ev.type
    ORDER BY min(ev.created_at), min(ev.id)";

pub(super) fn pending_groups(
    c: &mut dyn Conn,
    receiver: &str,
) -> Result<Vec<PendingGroup>, StoreError> {
    c.query_map(PENDING_SQL, params![receiver], |r| {
        Ok(PendingGroup {
            site: r.text(0)?,
            event_type: event_type_col(r, 1)?,
            oldest: ts(r, 2)?,
            count: count_col(r, 3)?,
        })
    })
}

/// Unformed deliveries of (receiver, site, type) with their incidents;
/// site events have none (NULL incident columns).
pub(super) const FORM_SQL: &str = "
    SELECT d.id, i.id, e.ref, e.phone, i.exposed, i.state, i.first_seen, i.last_seen,
        i.resolved_at, ev.payload, e.cohort
    FROM deliveries AS d
    JOIN events AS ev ON ev.id = d.event_id
    LEFT JOIN incidents AS i ON i.id = ev.incident_id
    LEFT JOIN entries AS e ON e.id = i.entry_id
    WHERE d.receiver = ?1 AND d.message_id IS NULL AND ev.site = ?2 AND ev.type = ?3
    ORDER BY ev.id, d.id";

/// What goes into one message: the deliveries it takes, their incidents
/// (each once), and the newest event payload.
#[derive(Default)]
struct Group {
    deliveries: Vec<i64>,
    incidents: Vec<EventIncident>,
    payload: Option<String>,
}

fn unformed_group(
    tx: &mut dyn Conn,
    receiver: &str,
    site: &str,
    event_type: EventType,
) -> Result<Group, StoreError> {
    let mut g = Group::default();
    let mut seen: HashSet<String> = HashSet::new();
    tx.query_each(
        FORM_SQL,
        params![receiver, site, event_type.as_str()],
        &mut |r| {
            g.deliveries.push(r.i64(0)?);
            // Events with a payload (digest, receiver health): the newest
            // wins, as it supersedes older figures of the same kind.
            if let Some(p) = r.opt_text(9)? {
                g.payload = Some(p);
            }
            // Site events carry no incident. The same incident twice in one
            // message (a receiver listed twice) is reported once.
            if let Some(id) = r.opt_text(1)?
                && seen.insert(id.clone())
            {
                g.incidents.push(event_incident(r, id)?);
            }
            Ok(())
        },
    )?;
    // The cohorts' figures, once per cohort: the root-cause hint.
    let mut figures: std::collections::HashMap<Option<String>, (u64, u64)> = Default::default();
    for i in &mut g.incidents {
        if !figures.contains_key(&i.cohort) {
            let f = super::cohorts::figures(tx, i.cohort.as_deref())?;
            figures.insert(i.cohort.clone(), f);
        }
        (i.cohort_size, i.exposed_in_cohort) = figures[&i.cohort];
    }
    Ok(g)
}

pub(super) fn form_message(
    c: &mut dyn Conn,
    receiver: &str,
    site: &str,
    event_type: EventType,
    message_id: &str,
    now: Ts,
    build_body: &mut dyn FnMut(&[EventIncident], Option<&str>) -> String,
) -> Result<Option<MessageRow>, StoreError> {
    c.write(|tx| {
        let g = unformed_group(tx, receiver, site, event_type)?;
        if g.deliveries.is_empty() {
            return Ok(None);
        }
        let body = build_body(&g.incidents, g.payload.as_deref());
        let now_ms = ms(now);
        tx.execute(
            "INSERT INTO messages (id, receiver, type, site, body, created_at, state, attempts,
                 next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?6)",
            params![
                message_id,
                receiver,
                event_type.as_str(),
                site,
                body,
                now_ms
            ],
        )?;
        for d in &g.deliveries {
            tx.execute(
                "UPDATE deliveries SET message_id = ?1 WHERE id = ?2",
                params![message_id, d],
            )?;
        }
        Ok(Some(MessageRow {
            id: message_id.to_owned(),
            receiver: receiver.to_owned(),
            event_type,
            site: site.to_owned(),
            body,
            attempts: 0,
            next_attempt_at: ts_at(now_ms, 0)?,
            created_at: ts_at(now_ms, 0)?,
        }))
    })
}

/// Columns 2.. of the `form_message` query.
fn event_incident(r: &dyn Row, id: String) -> Result<EventIncident, StoreError> {
    Ok(EventIncident {
        id,
        entry_ref: r.text(2)?,
        masked_number: masked_col(r, 3)?,
        exposed: exposed_col(r, 4)?,
        state: state_col(r, 5)?,
        first_seen: ts(r, 6)?,
        last_seen: ts(r, 7)?,
        resolved_at: opt_ts(r, 8)?,
        cohort: r.opt_text(10)?,
        cohort_size: 0,
        exposed_in_cohort: 0,
    })
}

fn message_row(r: &dyn Row) -> Result<MessageRow, StoreError> {
    Ok(MessageRow {
        id: r.text(0)?,
        receiver: r.text(1)?,
        event_type: event_type_col(r, 2)?,
        site: r.text(3)?,
        body: r.text(4)?,
        attempts: u32_col(r, 5)?,
        next_attempt_at: ts(r, 6)?,
        created_at: ts(r, 7)?,
    })
}

/// The head of a receiver's queue: delivery is FIFO, by when a message was
/// formed and then by its insertion order `n`.
pub(super) const NEXT_SQL: &str = "
    SELECT id, receiver, type, site, body, attempts, next_attempt_at, created_at, last_error
    FROM messages
    WHERE receiver = ?1 AND state = 'pending'
    ORDER BY created_at, n LIMIT 1";

pub(super) fn next_message(
    c: &mut dyn Conn,
    receiver: &str,
) -> Result<Option<MessageRow>, StoreError> {
    c.query_opt(NEXT_SQL, params![receiver], message_row)
}

fn unknown_message() -> StoreError {
    StoreError::NotFound("no such message".into())
}

pub(super) fn mark_delivered(
    c: &mut dyn Conn,
    message_id: &str,
    now: Ts,
    status: u16,
) -> Result<(), StoreError> {
    record_attempt(c, message_id, ms(now), None, Some(status), None)
}

pub(super) fn mark_attempt_failed(
    c: &mut dyn Conn,
    message_id: &str,
    now: Ts,
    next_attempt_at: Ts,
    status: Option<u16>,
    error: &str,
) -> Result<(), StoreError> {
    record_attempt(
        c,
        message_id,
        ms(now),
        Some(ms(next_attempt_at)),
        status,
        Some(error),
    )
}

/// One delivery attempt: a success (`retry_at` None) marks the message
/// delivered; a failure counts it and sets when to try again.
fn record_attempt(
    c: &mut dyn Conn,
    message_id: &str,
    now: i64,
    retry_at: Option<i64>,
    status: Option<u16>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    c.write(|tx| {
        let n = match retry_at {
            None => tx.execute(
                "UPDATE messages SET state = 'delivered', delivered_at = ?2, last_status = ?3,
                     last_error = NULL, attempts = attempts + 1
                 WHERE id = ?1",
                params![message_id, now, status],
            )?,
            Some(at) => tx.execute(
                "UPDATE messages SET attempts = attempts + 1, next_attempt_at = ?2,
                     last_status = ?3, last_error = ?4
                 WHERE id = ?1",
                params![message_id, at, status, error],
            )?,
        };
        if n == 0 {
            return Err(unknown_message());
        }
        tx.execute(
            "INSERT INTO attempts (message_id, time, status, error) VALUES (?1, ?2, ?3, ?4)",
            params![message_id, now, status, error],
        )?;
        Ok(())
    })
}

pub(super) fn outbox_stats(c: &mut dyn Conn, receiver: &str) -> Result<OutboxStats, StoreError> {
    let mut one = |q: &str| -> Result<u64, StoreError> {
        c.query_one(q, params![receiver], |r| count_col(r, 0))
    };
    let undelivered_events = one(
        "SELECT count(*) FROM deliveries AS d LEFT JOIN messages AS m ON m.id = d.message_id
         WHERE d.receiver = ?1 AND (d.message_id IS NULL OR m.state = 'pending')",
    )?;
    let pending_messages =
        one("SELECT count(*) FROM messages WHERE receiver = ?1 AND state = 'pending'")?;
    let delivered_messages =
        one("SELECT count(*) FROM messages WHERE receiver = ?1 AND state = 'delivered'")?;
    let head = c.query_opt(NEXT_SQL, params![receiver], |r| {
        Ok((u32_col(r, 5)?, r.opt_text(8)?))
    })?;
    let (head_attempts, last_error) = head.unwrap_or((0, None));
    Ok(OutboxStats {
        undelivered_events,
        pending_messages,
        delivered_messages,
        head_attempts,
        last_error,
    })
}
