//! The alert outbox: events → per-receiver deliveries → formed messages →
//! attempts.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::db::{count, exposed_col, masked_col, ms, opt_ts, sql, ts, u32_col};
use super::probe::insert_event;
use super::queries::state_col;
use super::{EventIncident, MessageRow, OutboxStats, PendingGroup, StoreError, Ts};
use crate::domain::incident::EventType;

fn event_type_col(r: &Row<'_>, idx: usize) -> rusqlite::Result<EventType> {
    let s: String = r.get(idx)?;
    EventType::parse(&s).ok_or_else(|| super::db::corrupt(idx, "event type"))
}

pub(super) fn raise_site_event(
    conn: &mut Connection,
    site: &str,
    event_type: EventType,
    now: Ts,
    routes: &crate::domain::route::Routes,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    insert_event(&tx, event_type, site, None, ms(now), routes)?;
    tx.commit().map_err(sql)
}

/// Unformed deliveries of `receiver` grouped by (site, type), oldest first.
pub(super) const PENDING_SQL: &str = "
    SELECT ev.site, ev.type, min(ev.created_at), count(*)
    FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id
    WHERE d.receiver = ?1 AND d.message_id IS NULL
    GROUP BY ev.site, ev.type
    ORDER BY min(ev.created_at), min(ev.id)";

pub(super) fn pending_groups(
    conn: &Connection,
    receiver: &str,
) -> Result<Vec<PendingGroup>, StoreError> {
    let mut stmt = conn.prepare_cached(PENDING_SQL).map_err(sql)?;
    let rows = stmt
        .query_map([receiver], |r| {
            Ok(PendingGroup {
                site: r.get(0)?,
                event_type: event_type_col(r, 1)?,
                oldest: ts(r, 2)?,
                count: count(r.get(3)?),
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Unformed deliveries of (receiver, site, type) with their incidents;
/// site events have none (NULL incident columns).
pub(super) const FORM_SQL: &str = "
    SELECT d.id, i.id, e.ref, e.phone, i.exposed, i.state, i.first_seen, i.last_seen,
        i.resolved_at, ev.payload
    FROM deliveries AS d
    JOIN events AS ev ON ev.id = d.event_id
    LEFT JOIN incidents AS i ON i.id = ev.incident_id
    LEFT JOIN entries AS e ON e.id = i.entry_id
    WHERE d.receiver = ?1 AND d.message_id IS NULL AND ev.site = ?2 AND ev.type = ?3
    ORDER BY ev.id, d.id";

pub(super) fn form_message(
    conn: &mut Connection,
    receiver: &str,
    site: &str,
    event_type: EventType,
    message_id: &str,
    now: Ts,
    build_body: &mut dyn FnMut(&[EventIncident], Option<&str>) -> String,
) -> Result<Option<MessageRow>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let mut deliveries: Vec<i64> = Vec::new();
    let mut incidents: Vec<EventIncident> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Events with a payload (digest, receiver health): the newest wins, as
    // it supersedes older figures of the same kind.
    let mut payload: Option<String> = None;
    {
        let mut stmt = tx.prepare_cached(FORM_SQL).map_err(sql)?;
        let mut rows = stmt
            .query(params![receiver, site, event_type.as_str()])
            .map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            deliveries.push(r.get(0).map_err(sql)?);
            if let Some(p) = r.get::<_, Option<String>>(9).map_err(sql)? {
                payload = Some(p);
            }
            // Site events carry no incident.
            let Some(id) = r.get::<_, Option<String>>(1).map_err(sql)? else {
                continue;
            };
            // The same incident twice in one message (a receiver listed
            // twice) is reported once.
            if seen.insert(id.clone()) {
                incidents.push(event_incident(r, id).map_err(sql)?);
            }
        }
    }
    if deliveries.is_empty() {
        return Ok(None);
    }

    let body = build_body(&incidents, payload.as_deref());
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
    )
    .map_err(sql)?;
    {
        let mut stmt = tx
            .prepare_cached("UPDATE deliveries SET message_id = ?1 WHERE id = ?2")
            .map_err(sql)?;
        for d in &deliveries {
            stmt.execute(params![message_id, d]).map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)?;
    Ok(Some(MessageRow {
        id: message_id.to_owned(),
        receiver: receiver.to_owned(),
        event_type,
        site: site.to_owned(),
        body,
        attempts: 0,
        next_attempt_at: super::db::ts_at(now_ms, 0).map_err(sql)?,
        created_at: super::db::ts_at(now_ms, 0).map_err(sql)?,
    }))
}

/// Columns 2.. of the `form_message` query.
fn event_incident(r: &Row<'_>, id: String) -> rusqlite::Result<EventIncident> {
    Ok(EventIncident {
        id,
        entry_ref: r.get(2)?,
        masked_number: masked_col(r, 3)?,
        exposed: exposed_col(r, 4)?,
        state: state_col(r, 5)?,
        first_seen: ts(r, 6)?,
        last_seen: ts(r, 7)?,
        resolved_at: opt_ts(r, 8)?,
    })
}

const MESSAGE_COLS: &str = "id, receiver, type, site, body, attempts, next_attempt_at, created_at";

fn message_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        receiver: r.get(1)?,
        event_type: event_type_col(r, 2)?,
        site: r.get(3)?,
        body: r.get(4)?,
        attempts: u32_col(r, 5)?,
        next_attempt_at: ts(r, 6)?,
        created_at: ts(r, 7)?,
    })
}

pub(super) fn next_message(
    conn: &Connection,
    receiver: &str,
) -> Result<Option<MessageRow>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE receiver = ?1 AND state = 'pending'
         ORDER BY created_at, rowid LIMIT 1"
    ))
    .and_then(|mut s| s.query_row([receiver], message_row).optional())
    .map_err(sql)
}

fn unknown_message() -> StoreError {
    StoreError::NotFound("no such message".into())
}

pub(super) fn mark_delivered(
    conn: &mut Connection,
    message_id: &str,
    now: Ts,
    status: u16,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let now = ms(now);
    let n = tx
        .execute(
            "UPDATE messages SET state = 'delivered', delivered_at = ?2, last_status = ?3,
                 last_error = NULL, attempts = attempts + 1
             WHERE id = ?1",
            params![message_id, now, status],
        )
        .map_err(sql)?;
    if n == 0 {
        return Err(unknown_message());
    }
    tx.execute(
        "INSERT INTO attempts (message_id, time, status, error) VALUES (?1, ?2, ?3, NULL)",
        params![message_id, now, status],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

pub(super) fn mark_attempt_failed(
    conn: &mut Connection,
    message_id: &str,
    now: Ts,
    next_attempt_at: Ts,
    status: Option<u16>,
    error: &str,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let now = ms(now);
    let n = tx
        .execute(
            "UPDATE messages SET attempts = attempts + 1, next_attempt_at = ?2,
                 last_status = ?3, last_error = ?4
             WHERE id = ?1",
            params![message_id, ms(next_attempt_at), status, error],
        )
        .map_err(sql)?;
    if n == 0 {
        return Err(unknown_message());
    }
    tx.execute(
        "INSERT INTO attempts (message_id, time, status, error) VALUES (?1, ?2, ?3, ?4)",
        params![message_id, now, status, error],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

pub(super) fn outbox_stats(conn: &Connection, receiver: &str) -> Result<OutboxStats, StoreError> {
    let one = |q: &str| -> Result<u64, StoreError> {
        conn.query_row(q, [receiver], |r| r.get::<_, i64>(0))
            .map(count)
            .map_err(sql)
    };
    let undelivered_events = one(
        "SELECT count(*) FROM deliveries AS d LEFT JOIN messages AS m ON m.id = d.message_id
         WHERE d.receiver = ?1 AND (d.message_id IS NULL OR m.state = 'pending')",
    )?;
    let pending_messages =
        one("SELECT count(*) FROM messages WHERE receiver = ?1 AND state = 'pending'")?;
    let delivered_messages =
        one("SELECT count(*) FROM messages WHERE receiver = ?1 AND state = 'delivered'")?;
    let head: Option<(u32, Option<String>)> = conn
        .query_row(
            "SELECT attempts, last_error FROM messages
             WHERE receiver = ?1 AND state = 'pending'
             ORDER BY created_at, rowid LIMIT 1",
            [receiver],
            |r| Ok((u32_col(r, 0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    let (head_attempts, last_error) = head.unwrap_or((0, None));
    Ok(OutboxStats {
        undelivered_events,
        pending_messages,
        delivered_messages,
        head_attempts,
        last_error,
    })
}
