//! People in the loop: acknowledgements, false-positive dismissals,
//! silences; and the alert pipeline's scheduled events (reminders, the
//! daily digest, receiver health). Every analyst action is recorded with
//! who and when, and appended to the audit trail in the same transaction.

use serde_json::json;

use super::audit;
use super::events::{insert_event, insert_event_with, silenced_by};
use super::rows::{count_col, ms, opt_ts, ts};
use super::sql::{Conn, Row, corrupt, params};
use super::{ActionView, IncidentAction, NewSilence, SilenceView, StoreError, Ts};
use crate::domain::incident::{EventType, IncidentState};
use crate::domain::route::{ALL_SITES, Routes};

fn conflict(m: impl Into<String>) -> StoreError {
    StoreError::Conflict(m.into())
}

/// Records `action` on an incident. Returns the incident's state after it.
pub(super) fn act(
    c: &mut dyn Conn,
    incident_id: &str,
    action: IncidentAction,
    actor: &str,
    reason: &str,
    now: Ts,
) -> Result<IncidentState, StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::BadInput("a reason is required".into()));
    }
    c.write(|tx| {
        let row = tx.query_opt(
            "SELECT entry_id, site, state FROM incidents WHERE id = ?1",
            params![incident_id],
            |r| Ok((r.i64(0)?, r.text(1)?, r.text(2)?)),
        )?;
        let Some((entry_id, site, state)) = row else {
            return Err(StoreError::NotFound(format!("no incident {incident_id}")));
        };
        let state = IncidentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt("incident state".into()))?;
        if state == IncidentState::Withdrawn {
            return Err(conflict(format!(
                "incident {incident_id} is withdrawn (its entry was erased)"
            )));
        }
        let t = ms(now);
        let mut listing_keys: Vec<String> = Vec::new();
        let new_state = match action {
            IncidentAction::Ack => ack(tx, incident_id, state, t)?,
            IncidentAction::Dismiss => {
                listing_keys = incident_listing_keys(tx, incident_id)?;
                dismiss(tx, incident_id, state, entry_id, &site, &listing_keys, t)?
            }
            IncidentAction::Undismiss => undismiss(tx, incident_id, state, t)?,
        };
        let action_id = tx.query_i64(
            "INSERT INTO incident_actions (incident_id, action, actor, reason, time)
             VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING id",
            params![incident_id, action.as_str(), actor, reason, t],
        )?;
        let payload = json!({
            "incident_id": incident_id,
            "action": action.as_str(),
            "actor": actor,
            "reason": reason,
            "time": t,
            "listing_keys": listing_keys,
        });
        audit::append(
            tx,
            crate::audit::kind::INCIDENT_ACTION,
            &action_id.to_string(),
            &payload,
            t,
        )?;
        Ok(new_state)
    })
}

fn ack(
    tx: &mut dyn Conn,
    incident_id: &str,
    state: IncidentState,
    t: i64,
) -> Result<IncidentState, StoreError> {
    if state == IncidentState::Resolved {
        return Err(conflict(format!(
            "incident {incident_id} is already resolved"
        )));
    }
    set_state(tx, incident_id, IncidentState::Acknowledged, Some(t))?;
    Ok(IncidentState::Acknowledged)
}

fn dismiss(
    tx: &mut dyn Conn,
    incident_id: &str,
    state: IncidentState,
    entry_id: i64,
    site: &str,
    listing_keys: &[String],
    t: i64,
) -> Result<IncidentState, StoreError> {
    if listing_keys.is_empty() {
        return Err(conflict(format!(
            "incident {incident_id} has no recorded listing to dismiss"
        )));
    }
    let already = tx.query_i64(
        "SELECT count(*) FROM dismissals WHERE incident_id = ?1 AND revoked_at IS NULL",
        params![incident_id],
    )?;
    if already > 0 {
        return Err(conflict(format!(
            "incident {incident_id} is already dismissed"
        )));
    }
    for k in listing_keys {
        tx.execute(
            "INSERT INTO dismissals (entry_id, site, listing_key, incident_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![entry_id, site, k, incident_id, t],
        )?;
    }
    // No more reminders about a false positive; it still resolves only
    // through clean probes (which now skip that listing).
    if state == IncidentState::Open {
        set_state(tx, incident_id, IncidentState::Acknowledged, Some(t))?;
        Ok(IncidentState::Acknowledged)
    } else {
        Ok(state)
    }
}

fn undismiss(
    tx: &mut dyn Conn,
    incident_id: &str,
    state: IncidentState,
    t: i64,
) -> Result<IncidentState, StoreError> {
    let n = tx.execute(
        "UPDATE dismissals SET revoked_at = ?2
         WHERE incident_id = ?1 AND revoked_at IS NULL",
        params![incident_id, t],
    )?;
    if n == 0 {
        return Err(conflict(format!("incident {incident_id} is not dismissed")));
    }
    let acked = tx.query_i64(
        "SELECT count(*) FROM incident_actions WHERE incident_id = ?1 AND action = 'ack'",
        params![incident_id],
    )?;
    // The dismissal was the only reason it was quiet: it is a live
    // exposure again.
    if state == IncidentState::Acknowledged && acked == 0 {
        set_state(tx, incident_id, IncidentState::Open, None)?;
        Ok(IncidentState::Open)
    } else {
        Ok(state)
    }
}

fn set_state(
    tx: &mut dyn Conn,
    id: &str,
    state: IncidentState,
    acknowledged_at: Option<i64>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE incidents SET state = ?2, acknowledged_at = ?3 WHERE id = ?1",
        params![id, state.as_str(), acknowledged_at],
    )
    .map(|_| ())
}

fn incident_listing_keys(tx: &mut dyn Conn, incident_id: &str) -> Result<Vec<String>, StoreError> {
    tx.query_map(
        "SELECT DISTINCT pl.listing_key FROM probes AS p
         JOIN probe_listings AS pl ON pl.probe_id = p.id
         WHERE p.incident_id = ?1 AND p.outcome = 'exposed'
         ORDER BY pl.listing_key",
        params![incident_id],
        |r| r.text(0),
    )
}

/// The actions taken on an incident, oldest first.
pub(super) fn actions(c: &mut dyn Conn, incident_id: &str) -> Result<Vec<ActionView>, StoreError> {
    c.query_map(
        "SELECT incident_id, action, actor, reason, time FROM incident_actions
         WHERE incident_id = ?1 ORDER BY time, id",
        params![incident_id],
        |r| {
            Ok(ActionView {
                incident_id: r.text(0)?,
                action: IncidentAction::parse(&r.text(1)?)
                    .ok_or_else(|| corrupt(1, "incident action"))?,
                actor: r.text(2)?,
                reason: r.text(3)?,
                time: ts(r, 4)?,
            })
        },
    )
}

/// Listing keys dismissed for this entry on this site.
pub(super) fn dismissed_listings(
    c: &mut dyn Conn,
    entry_id: i64,
    site: &str,
) -> Result<Vec<String>, StoreError> {
    c.query_map(
        "SELECT listing_key FROM dismissals
         WHERE entry_id = ?1 AND site = ?2 AND revoked_at IS NULL",
        params![entry_id, site],
        |r| r.text(0),
    )
}

// ------------------------------------------------------------------ silences

/// `sil_` followed by 12 random hex digits.
fn new_silence_id() -> String {
    format!("sil_{:012x}", rand::random::<u64>() >> 16)
}

pub(super) fn add_silence(c: &mut dyn Conn, s: &NewSilence, now: Ts) -> Result<String, StoreError> {
    if s.reason.trim().is_empty() {
        return Err(StoreError::BadInput("a reason is required".into()));
    }
    if s.expires_at <= now {
        return Err(StoreError::BadInput(
            "the silence would already have expired".into(),
        ));
    }
    c.write(|tx| {
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
        )?;
        let payload = json!({
            "site": s.site, "event_type": s.event_type.map(|e| e.as_str()), "cohort": s.cohort,
            "reason": s.reason, "created_by": s.created_by, "expires_at": ms(s.expires_at),
        });
        audit::append(tx, crate::audit::kind::SILENCE_ADD, &id, &payload, t)?;
        Ok(id)
    })
}

/// Ends a silence early. False when there is no such active silence.
pub(super) fn end_silence(
    c: &mut dyn Conn,
    id: &str,
    actor: &str,
    now: Ts,
) -> Result<bool, StoreError> {
    c.write(|tx| {
        let t = ms(now);
        let n = tx.execute(
            "UPDATE silences SET ended_at = ?2
             WHERE id = ?1 AND ended_at IS NULL AND expires_at > ?2",
            params![id, t],
        )?;
        if n == 0 {
            return Ok(false);
        }
        let payload = json!({"actor": actor, "ended_at": t});
        audit::append(tx, crate::audit::kind::SILENCE_END, id, &payload, t)?;
        Ok(true)
    })
}

fn silence_row(r: &dyn Row) -> Result<SilenceView, StoreError> {
    Ok(SilenceView {
        id: r.text(0)?,
        site: r.opt_text(1)?,
        event_type: match r.opt_text(2)? {
            Some(e) => Some(EventType::parse(&e).ok_or_else(|| corrupt(2, "event type"))?),
            None => None,
        },
        cohort: r.opt_text(3)?,
        reason: r.text(4)?,
        created_by: r.text(5)?,
        created_at: ts(r, 6)?,
        expires_at: ts(r, 7)?,
        ended_at: opt_ts(r, 8)?,
    })
}

/// Silences in force at `now` (all of them, history included, with `all`).
pub(super) fn silences(
    c: &mut dyn Conn,
    now: Ts,
    all: bool,
) -> Result<Vec<SilenceView>, StoreError> {
    c.query_map(
        "SELECT id, site, event_type, cohort, reason, created_by, created_at, expires_at,
             ended_at
         FROM silences
         WHERE ?1 = 1 OR (ended_at IS NULL AND expires_at > ?2)
         ORDER BY created_at, id",
        params![all, ms(now)],
        silence_row,
    )
}

// ----------------------------------------------------------------- reminders

/// Queues a reminder for each incident still `open` (not acknowledged) and
/// not announced for `repeat`; an incident whose opening was silenced and
/// is no longer silenced is announced as `exposure.opened`. Returns how
/// many events were queued.
pub(super) fn queue_reminders(
    c: &mut dyn Conn,
    now: Ts,
    repeat: std::time::Duration,
    routes: &Routes,
) -> Result<u64, StoreError> {
    let t = ms(now);
    let cutoff = super::rows::ms_before(now, repeat);
    const DUE: &str = "SELECT count(*) FROM incidents WHERE state = 'open'
                 AND (last_notified_at IS NULL OR last_notified_at <= ?1)";
    // This runs every few seconds and almost never finds anything: look
    // without taking the write lock first.
    if c.query_i64(DUE, params![cutoff])? == 0 {
        return Ok(0);
    }
    c.write(|tx| {
        let due = tx.query_map(
            "SELECT i.id, i.site, e.cohort, i.last_notified_at
             FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
             WHERE i.state = 'open'
               AND (i.last_notified_at IS NULL OR i.last_notified_at <= ?1)
             ORDER BY i.first_seen, i.id",
            params![cutoff],
            |r| Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?, r.opt_i64(3)?)),
        )?;
        let mut queued = 0;
        for (id, site, cohort, last) in due {
            let event = if last.is_none() {
                EventType::ExposureOpened
            } else {
                EventType::ExposureReminder
            };
            // Still silenced: leave it for a later pass rather than pile up
            // silenced events every tick.
            if silenced_by(tx, event, &site, cohort.as_deref(), t)?.is_some() {
                continue;
            }
            insert_event(tx, event, &site, Some(&id), t, routes)?;
            queued += 1;
        }
        Ok(queued)
    })
}

// -------------------------------------------------------------------- digest

const DIGEST_DAY: &str = "SELECT value FROM meta WHERE key = 'digest_day'";

/// Queues the digest for `day` (e.g. "2026-11-28") unless one was queued
/// for that day already. True when queued.
pub(super) fn queue_digest(
    c: &mut dyn Conn,
    day: &str,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    c.write(|tx| {
        let last = tx.query_opt(DIGEST_DAY, params![], |r| r.bytes(0))?;
        if last.as_deref() == Some(day.as_bytes()) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('digest_day', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![day.as_bytes()],
        )?;
        insert_event_with(
            tx,
            EventType::Digest,
            ALL_SITES,
            None,
            Some(payload),
            ms(now),
            routes,
        )?;
        Ok(true)
    })
}

/// The day of the last digest queued, if any.
pub(super) fn last_digest_day(c: &mut dyn Conn) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(DIGEST_DAY, params![], |r| r.bytes(0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Probe counts by outcome since `since`, per site.
pub(super) fn probe_counts_since(
    c: &mut dyn Conn,
    since: Ts,
) -> Result<Vec<(String, String, u64)>, StoreError> {
    c.query_map(
        "SELECT site, outcome, count(*) FROM probes WHERE time >= ?1
         GROUP BY site, outcome ORDER BY site, outcome",
        params![ms(since)],
        |r| Ok((r.text(0)?, r.text(1)?, count_col(r, 2)?)),
    )
}

// ------------------------------------------------------------ receiver state

/// Records a receiver failing (`error`) or healthy; only a change is an
/// event, for every other receiver (`receiver.failing` the first time until
/// it recovers, then `receiver.recovered`). True then.
pub(super) fn set_receiver_health(
    c: &mut dyn Conn,
    receiver: &str,
    error: Option<&str>,
    payload: &str,
    now: Ts,
    routes: &Routes,
) -> Result<bool, StoreError> {
    // Read first, outside a write transaction: this runs after every
    // delivery and is almost always "no change".
    let failing = receiver_failing_since(c, receiver)?.is_some();
    if failing == error.is_some() {
        return Ok(false);
    }
    c.write(|tx| {
        // Another writer may have recorded the change meanwhile.
        if receiver_failing_since(tx, receiver)?.is_some() == error.is_some() {
            return Ok(false);
        }
        let t = ms(now);
        let failing_since = error.map(|_| t);
        tx.execute(
            "INSERT INTO receiver_state (receiver, failing_since, error) VALUES (?1, ?2, ?3)
             ON CONFLICT (receiver) DO UPDATE SET failing_since = ?2, error = ?3",
            params![receiver, failing_since, error],
        )?;
        let event = if error.is_some() {
            EventType::ReceiverFailing
        } else {
            EventType::ReceiverRecovered
        };
        let others = without(routes, receiver);
        insert_event_with(tx, event, ALL_SITES, None, Some(payload), t, &others)?;
        Ok(true)
    })
}

/// When `receiver` was marked failing, if it is.
pub(super) fn receiver_failing_since(
    c: &mut dyn Conn,
    receiver: &str,
) -> Result<Option<Ts>, StoreError> {
    Ok(c.query_opt(
        "SELECT failing_since FROM receiver_state WHERE receiver = ?1",
        params![receiver],
        |r| opt_ts(r, 0),
    )?
    .flatten())
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
