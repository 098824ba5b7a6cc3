//! People in the loop: acknowledgements, false-positive dismissals,
//! silences; and the alert pipeline's scheduled events (reminders, the
//! daily digest, receiver health). Every analyst action is recorded with
//! who and when, and appended to the audit trail in the same transaction.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::json;

use super::audit;
use super::db::{ms, opt_ts, sql, ts};
use super::probe::{insert_event, insert_event_with};
use super::{ActionView, IncidentAction, NewSilence, SilenceView, StoreError, Ts};
use crate::domain::incident::{EventType, IncidentState};
use crate::domain::route::{ALL_SITES, Routes};

fn conflict(m: impl Into<String>) -> StoreError {
    StoreError::Conflict(m.into())
}

fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)
}

/// Records `action` on an incident. Returns the incident's state after it.
pub(super) fn act(
    conn: &mut Connection,
    incident_id: &str,
    action: IncidentAction,
    actor: &str,
    reason: &str,
    now: Ts,
) -> Result<IncidentState, StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::BadInput("a reason is required".into()));
    }
    let tx = immediate(conn)?;
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT entry_id, site, state FROM incidents WHERE id = ?1",
            [incident_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
    let Some((entry_id, site, state)) = row else {
        return Err(StoreError::NotFound(format!("no incident {incident_id}")));
    };
    let state =
        IncidentState::parse(&state).ok_or_else(|| StoreError::Corrupt("incident state".into()))?;
    let t = ms(now);
    let mut listing_keys: Vec<String> = Vec::new();
    let new_state = match action {
        IncidentAction::Ack => {
            if state == IncidentState::Resolved {
                return Err(conflict(format!(
                    "incident {incident_id} is already resolved"
                )));
            }
            set_state(&tx, incident_id, IncidentState::Acknowledged, Some(t))?;
            IncidentState::Acknowledged
        }
        IncidentAction::Dismiss => {
            listing_keys = incident_listing_keys(&tx, incident_id)?;
            if listing_keys.is_empty() {
                return Err(conflict(format!(
                    "incident {incident_id} has no recorded listing to dismiss"
                )));
            }
            let already: i64 = tx
                .query_row(
                    "SELECT count(*) FROM dismissals WHERE incident_id = ?1 AND revoked_at IS NULL",
                    [incident_id],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            if already > 0 {
                return Err(conflict(format!(
                    "incident {incident_id} is already dismissed"
                )));
            }
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO dismissals (entry_id, site, listing_key, incident_id, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sql)?;
            for k in &listing_keys {
                stmt.execute(params![entry_id, site, k, incident_id, t])
                    .map_err(sql)?;
            }
            // No more reminders about a false positive; it still resolves
            // only through clean probes (which now skip that listing).
            if state == IncidentState::Open {
                set_state(&tx, incident_id, IncidentState::Acknowledged, Some(t))?;
                IncidentState::Acknowledged
            } else {
                state
            }
        }
        IncidentAction::Undismiss => {
            let n = tx
                .execute(
                    "UPDATE dismissals SET revoked_at = ?2
                     WHERE incident_id = ?1 AND revoked_at IS NULL",
                    params![incident_id, t],
                )
                .map_err(sql)?;
            if n == 0 {
                return Err(conflict(format!("incident {incident_id} is not dismissed")));
            }
            let acked: i64 = tx
                .query_row(
                    "SELECT count(*) FROM incident_actions WHERE incident_id = ?1 AND action = 'ack'",
                    [incident_id],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            // The dismissal was the only reason it was quiet: it is a live
            // exposure again.
            if state == IncidentState::Acknowledged && acked == 0 {
                set_state(&tx, incident_id, IncidentState::Open, None)?;
                IncidentState::Open
            } else {
                state
            }
        }
    };
    tx.execute(
        "INSERT INTO incident_actions (incident_id, action, actor, reason, time)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![incident_id, action.as_str(), actor, reason, t],
    )
    .map_err(sql)?;
    let action_id = tx.last_insert_rowid();
    let payload = json!({
        "incident_id": incident_id,
        "action": action.as_str(),
        "actor": actor,
        "reason": reason,
        "time": t,
        "listing_keys": listing_keys,
    });
    audit::append(
        &tx,
        crate::audit::kind::INCIDENT_ACTION,
        &action_id.to_string(),
        &payload,
        t,
    )?;
    tx.commit().map_err(sql)?;
    Ok(new_state)
}

fn set_state(
    tx: &Transaction<'_>,
    id: &str,
    state: IncidentState,
    acknowledged_at: Option<i64>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET state = ?2, acknowledged_at = ?3 WHERE id = ?1",
        params![id, state.as_str(), acknowledged_at],
    )
    .map_err(sql)
    .map(|_| ())
}

fn incident_listing_keys(
    tx: &Transaction<'_>,
    incident_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT DISTINCT pl.listing_key FROM probes AS p
             JOIN probe_listings AS pl ON pl.probe_id = p.id
             WHERE p.incident_id = ?1 AND p.outcome = 'exposed'
             ORDER BY pl.listing_key",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([incident_id], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// The actions taken on an incident, oldest first.
pub(super) fn actions(conn: &Connection, incident_id: &str) -> Result<Vec<ActionView>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT incident_id, action, actor, reason, time FROM incident_actions
             WHERE incident_id = ?1 ORDER BY time, id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([incident_id], |r| {
            let a: String = r.get(1)?;
            Ok(ActionView {
                incident_id: r.get(0)?,
                action: IncidentAction::parse(&a)
                    .ok_or_else(|| super::db::corrupt(1, "incident action"))?,
                actor: r.get(2)?,
                reason: r.get(3)?,
                time: ts(r, 4)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Listing keys dismissed for this entry on this site.
pub(super) fn dismissed_listings(
    conn: &Connection,
    entry_id: i64,
    site: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT listing_key FROM dismissals
             WHERE entry_id = ?1 AND site = ?2 AND revoked_at IS NULL",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![entry_id, site], |r| r.get::<_, String>(0))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

// ------------------------------------------------------------------ silences

/// `sil_` followed by 12 random hex digits.
fn new_silence_id() -> String {
    format!("sil_{:012x}", rand::random::<u64>() >> 16)
}

pub(super) fn add_silence(
    conn: &mut Connection,
    s: &NewSilence,
    now: Ts,
) -> Result<String, StoreError> {
    if s.reason.trim().is_empty() {
        return Err(StoreError::BadInput("a reason is required".into()));
    }
    if s.expires_at <= now {
        return Err(StoreError::BadInput(
            "the silence would already have expired".into(),
        ));
    }
    let tx = immediate(conn)?;
    let id = new_silence_id();
    let t = ms(now);
    tx.execute(
        "INSERT INTO silences (id, site, event_type, cohort, reason, created_by, created_at,
             expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            s.site,
            s.event_type.map(|e| e.as_str()),
            s.cohort,
            s.reason,
            s.created_by,
            t,
            ms(s.expires_at)
        ],
    )
    .map_err(sql)?;
    let payload = json!({
        "site": s.site, "event_type": s.event_type.map(|e| e.as_str()), "cohort": s.cohort,
        "reason": s.reason, "created_by": s.created_by, "expires_at": ms(s.expires_at),
    });
    audit::append(&tx, crate::audit::kind::SILENCE_ADD, &id, &payload, t)?;
    tx.commit().map_err(sql)?;
    Ok(id)
}

/// Ends a silence early. False when there is no such active silence.
pub(super) fn end_silence(
    conn: &mut Connection,
    id: &str,
    actor: &str,
    now: Ts,
) -> Result<bool, StoreError> {
    let tx = immediate(conn)?;
    let t = ms(now);
    let n = tx
        .execute(
            "UPDATE silences SET ended_at = ?2
             WHERE id = ?1 AND ended_at IS NULL AND expires_at > ?2",
            params![id, t],
        )
        .map_err(sql)?;
    if n == 0 {
        return Ok(false);
    }
    let payload = json!({"actor": actor, "ended_at": t});
    audit::append(&tx, crate::audit::kind::SILENCE_END, id, &payload, t)?;
    tx.commit().map_err(sql)?;
    Ok(true)
}

fn silence_row(r: &Row<'_>) -> rusqlite::Result<SilenceView> {
    let ev: Option<String> = r.get(2)?;
    Ok(SilenceView {
        id: r.get(0)?,
        site: r.get(1)?,
        event_type: match ev {
            Some(e) => {
                Some(EventType::parse(&e).ok_or_else(|| super::db::corrupt(2, "event type"))?)
            }
            None => None,
        },
        cohort: r.get(3)?,
        reason: r.get(4)?,
        created_by: r.get(5)?,
        created_at: ts(r, 6)?,
        expires_at: ts(r, 7)?,
        ended_at: opt_ts(r, 8)?,
    })
}

/// Silences in force at `now` (all of them, history included, with `all`).
pub(super) fn silences(
    conn: &Connection,
    now: Ts,
    all: bool,
) -> Result<Vec<SilenceView>, StoreError> {
    let filter = if all {
        ""
    } else {
        "WHERE ended_at IS NULL AND expires_at > ?1"
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id, site, event_type, cohort, reason, created_by, created_at, expires_at,
                 ended_at
             FROM silences {filter} ORDER BY created_at, id"
        ))
        .map_err(sql)?;
    let rows = if all {
        stmt.query_map([], silence_row)
    } else {
        stmt.query_map([ms(now)], silence_row)
    }
    .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// The silence holding back an event like this at `at_ms`, if any.
pub(super) fn silenced_by(
    conn: &Connection,
    event: EventType,
    site: &str,
    cohort: Option<&str>,
    at_ms: i64,
) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(
        "SELECT id FROM silences
         WHERE ended_at IS NULL AND created_at <= ?1 AND expires_at > ?1
           AND (site IS NULL OR site = ?2)
           AND (event_type IS NULL OR event_type = ?3)
           AND (cohort IS NULL OR cohort = ?4)
         ORDER BY created_at LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![at_ms, site, event.as_str(), cohort], |r| r.get(0))
            .optional()
    })
    .map_err(sql)
}

// ----------------------------------------------------------------- reminders

/// Queues a reminder for each incident still `open` (not acknowledged) and
/// not announced for `repeat`; an incident whose opening was silenced and
/// is no longer silenced is announced as `exposure.opened`. Returns how
/// many events were queued.
pub(super) fn queue_reminders(
    conn: &mut Connection,
    now: Ts,
    repeat: std::time::Duration,
    routes: &Routes,
) -> Result<u64, StoreError> {
    let t = ms(now);
    let cutoff = t.saturating_sub(i64::try_from(repeat.as_millis()).unwrap_or(i64::MAX));
    // This runs every few seconds and almost never finds anything: look
    // without taking the write lock first.
    let any: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE state = 'open'
                 AND (last_notified_at IS NULL OR last_notified_at <= ?1))",
        )
        .and_then(|mut s| s.query_row([cutoff], |r| r.get(0)))
        .map_err(sql)?;
    if !any {
        return Ok(0);
    }
    let tx = immediate(conn)?;
    let due: Vec<(String, String, Option<String>, Option<i64>)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT i.id, i.site, e.cohort, i.last_notified_at
                 FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
                 WHERE i.state = 'open'
                   AND (i.last_notified_at IS NULL OR i.last_notified_at <= ?1)
                 ORDER BY i.first_seen, i.id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([cutoff], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)?
    };
    let mut queued = 0;
    for (id, site, cohort, last) in due {
        let event = if last.is_none() {
            EventType::ExposureOpened
        } else {
            EventType::ExposureReminder
        };
        // Still silenced: leave it for a later pass rather than pile up
        // silenced events every tick.
        if silenced_by(&tx, event, &site, cohort.as_deref(), t)?.is_some() {
            continue;
        }
        insert_event(&tx, event, &site, Some(&id), t, routes)?;
        queued += 1;
    }
    tx.commit().map_err(sql)?;
    Ok(queued)
}

// -------------------------------------------------------------------- digest

/// Queues the digest for `day` (e.g. "2026-11-28") unless one was queued
/// for that day already. True when queued.
pub(super) fn queue_digest(
    conn: &mut Connection,
    day: &str,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    let tx = immediate(conn)?;
    let last: Option<Vec<u8>> = tx
        .query_row("SELECT value FROM meta WHERE key = 'digest_day'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    if last.as_deref() == Some(day.as_bytes()) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('digest_day', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [day.as_bytes()],
    )
    .map_err(sql)?;
    insert_event_with(
        &tx,
        EventType::Digest,
        ALL_SITES,
        None,
        Some(payload),
        ms(now),
        routes,
    )?;
    tx.commit().map_err(sql)?;
    Ok(true)
}

/// The day of the last digest queued, if any.
pub(super) fn last_digest_day(conn: &Connection) -> Result<Option<String>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = 'digest_day'", [], |r| {
        r.get::<_, Vec<u8>>(0)
    })
    .optional()
    .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    .map_err(sql)
}

/// Probe counts by outcome since `since`, per site.
pub(super) fn probe_counts_since(
    conn: &Connection,
    since: Ts,
) -> Result<Vec<(String, String, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT site, outcome, count(*) FROM probes WHERE time >= ?1
             GROUP BY site, outcome ORDER BY site, outcome",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([ms(since)], |r| {
            Ok((r.get(0)?, r.get(1)?, super::db::count(r.get(2)?)))
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

// ------------------------------------------------------------ receiver state

/// Marks `receiver` failing; the first time (until it recovers) a
/// `receiver.failing` event goes to every *other* receiver. True then.
pub(super) fn receiver_failing(
    conn: &mut Connection,
    receiver: &str,
    error: &str,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    set_receiver_health(conn, receiver, Some(error), payload, now, routes)
}

/// Clears `receiver`'s failing mark; if it was set, a
/// `receiver.recovered` event goes to the others. True then.
pub(super) fn receiver_ok(
    conn: &mut Connection,
    receiver: &str,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    set_receiver_health(conn, receiver, None, payload, now, routes)
}

/// Records a receiver failing (`error`) or healthy; only a change is an
/// event, for every other receiver. True then.
fn set_receiver_health(
    conn: &mut Connection,
    receiver: &str,
    error: Option<&str>,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    // Read first, outside a write transaction: this runs after every
    // delivery and is almost always "no change".
    let failing = receiver_failing_since(conn, receiver)?.is_some();
    if failing == error.is_some() {
        return Ok(false);
    }
    let tx = immediate(conn)?;
    let t = ms(now);
    let failing_since = error.map(|_| t);
    tx.execute(
        "INSERT INTO receiver_state (receiver, failing_since, error) VALUES (?1, ?2, ?3)
         ON CONFLICT (receiver) DO UPDATE SET failing_since = ?2, error = ?3",
        params![receiver, failing_since, error],
    )
    .map_err(sql)?;
    let event = if error.is_some() {
        EventType::ReceiverFailing
    } else {
        EventType::ReceiverRecovered
    };
    let others = without(routes, receiver);
    insert_event_with(&tx, event, ALL_SITES, None, Some(payload), t, &others)?;
    tx.commit().map_err(sql)?;
    Ok(true)
}

/// When `receiver` was marked failing, if it is.
pub(super) fn receiver_failing_since(
    conn: &Connection,
    receiver: &str,
) -> Result<Option<Ts>, StoreError> {
    conn.query_row(
        "SELECT failing_since FROM receiver_state WHERE receiver = ?1",
        [receiver],
        |r| opt_ts(r, 0),
    )
    .optional()
    .map(Option::flatten)
    .map_err(sql)
}

fn without(routes: &Routes, receiver: &str) -> Routes {
    Routes(
        routes
            .0
            .iter()
            .filter(|r| r.receiver != receiver)
            .cloned()
            .collect(),
    )
}
