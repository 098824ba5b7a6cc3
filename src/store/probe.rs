//! Recording a probe: evidence, incident step and outbox rows in one
//! transaction.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::domain::route::Routes;

use super::db::{exposed_col, exposed_text, ms, sql, u32_col};
use super::{NewProbe, ProbeEffect, StoreError};
use super::{audit, evidence, people};
use crate::domain::incident::{self, ActiveIncident, EventType, IncidentState, Step};
use crate::domain::{Outcome, OutcomeKind};

/// `inc_` followed by 16 random hex digits.
fn new_incident_id() -> String {
    format!("inc_{:016x}", rand::random::<u64>())
}

pub(super) fn record_probe(
    conn: &mut Connection,
    probe: &NewProbe,
    resolve_after_clean: u32,
    routes: &Routes,
) -> Result<ProbeEffect, StoreError> {
    record_probes(
        conn,
        std::slice::from_ref(probe),
        resolve_after_clean,
        routes,
    )
    .map(|mut v| v.remove(0))
}

/// Several probes in ONE transaction (group commit): each probe's row,
/// incident step and outbox rows stay together, and a durable commit is
/// paid once per batch instead of once per probe.
pub(super) fn record_probes(
    conn: &mut Connection,
    probes: &[NewProbe],
    resolve_after_clean: u32,
    routes: &Routes,
) -> Result<Vec<ProbeEffect>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let mut effects = Vec::with_capacity(probes.len());
    for probe in probes {
        effects.push(record_in_tx(&tx, probe, resolve_after_clean, routes)?);
    }
    tx.commit().map_err(sql)?;
    Ok(effects)
}

fn record_in_tx(
    tx: &Transaction<'_>,
    probe: &NewProbe,
    resolve_after_clean: u32,
    routes: &Routes,
) -> Result<ProbeEffect, StoreError> {
    let t = ms(probe.time);
    let entry = probe.entry.0;

    let current: Option<(String, ActiveIncident)> = tx
        .query_row(
            "SELECT id, exposed, consecutive_clean FROM incidents
             WHERE entry_id = ?1 AND site = ?2 AND state != 'resolved'",
            params![entry, probe.site],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ActiveIncident {
                        exposed: exposed_col(r, 1)?,
                        consecutive_clean: u32_col(r, 2)?,
                    },
                ))
            },
        )
        .optional()
        .map_err(sql)?;

    let step = incident::step(
        current.as_ref().map(|(_, a)| a),
        &probe.outcome,
        resolve_after_clean,
    );
    let current_id = || {
        current
            .as_ref()
            .map(|(id, _)| id.clone())
            .ok_or_else(|| StoreError::Corrupt("incident step without an incident".into()))
    };

    let incident_id = match &step {
        Step::Nothing => None,
        Step::Open { exposed } => {
            let id = new_incident_id();
            tx.execute(
                "INSERT INTO incidents (id, entry_id, site, exposed, state, first_seen,
                     last_seen, resolved_at, consecutive_clean)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL, 0)",
                params![
                    id,
                    entry,
                    probe.site,
                    exposed_text(exposed),
                    IncidentState::Open.as_str(),
                    t
                ],
            )
            .map_err(sql)?;
            Some(id)
        }
        Step::SeenAgain { exposed } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET last_seen = max(last_seen, ?2), exposed = ?3,
                     consecutive_clean = 0
                 WHERE id = ?1",
                params![id, t, exposed_text(exposed)],
            )
            .map_err(sql)?;
            Some(id)
        }
        Step::CleanCounted { consecutive_clean } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET consecutive_clean = ?2 WHERE id = ?1",
                params![id, consecutive_clean],
            )
            .map_err(sql)?;
            Some(id)
        }
        Step::Resolve { consecutive_clean } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET consecutive_clean = ?2, state = ?3, resolved_at = ?4
                 WHERE id = ?1",
                params![id, consecutive_clean, IncidentState::Resolved.as_str(), t],
            )
            .map_err(sql)?;
            Some(id)
        }
    };

    let (reason, why) = match &probe.outcome {
        Outcome::Clean => (None, None),
        Outcome::Exposed { why, .. } => (None, Some(why.join(","))),
        Outcome::Inconclusive { reason } => (Some(reason.as_str()), None),
    };
    let kind = probe.outcome.kind();
    let page_size = probe
        .body
        .as_ref()
        .map(|b| i64::try_from(b.len()).unwrap_or(i64::MAX));
    tx.execute(
        "INSERT INTO probes (entry_id, site, time, outcome, http_status, page_sha256, reason,
             url_masked, why, incident_id, page_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            entry,
            probe.site,
            t,
            kind.as_str(),
            probe.http_status,
            probe.page_sha256,
            reason,
            probe.url_masked,
            why,
            incident_id,
            page_size,
        ],
    )
    .map_err(sql)?;
    let probe_id = tx.last_insert_rowid();
    if kind == OutcomeKind::Exposed && !probe.listing_keys.is_empty() {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO probe_listings (probe_id, listing_key) VALUES (?1, ?2)",
            )
            .map_err(sql)?;
        for k in &probe.listing_keys {
            stmt.execute(params![probe_id, k]).map_err(sql)?;
        }
    }

    if let (Step::Open { .. }, Some(id)) = (&step, &incident_id) {
        tx.execute(
            "UPDATE incidents SET opened_probe = ?2 WHERE id = ?1",
            params![id, probe_id],
        )
        .map_err(sql)?;
    }

    // Evidence: the page of every exposed probe, and of every clean probe of
    // an open incident (it may turn out to be one of those that close it).
    let keep_body = match &step {
        Step::Open { .. } | Step::SeenAgain { .. } => true,
        Step::CleanCounted { .. } | Step::Resolve { .. } => true,
        Step::Nothing => kind == OutcomeKind::Exposed,
    };
    if let (true, Some(body)) = (keep_body, &probe.body) {
        evidence::keep(tx, probe_id, body)?;
    }

    // The trail, in the same transaction: the probe, then what it did.
    audit::append_probe(tx, probe_id, t)?;
    match (&step, &incident_id) {
        (Step::Open { .. }, Some(id)) => {
            let payload = audit::open_payload(tx, id)?;
            audit::append(tx, crate::audit::kind::INCIDENT_OPEN, id, &payload, t)?;
        }
        (Step::Resolve { .. }, Some(id)) => {
            let payload = audit::resolve_payload(tx, id)?;
            audit::append(tx, crate::audit::kind::INCIDENT_RESOLVE, id, &payload, t)?;
        }
        (Step::SeenAgain { .. }, Some(id)) => {
            // The clean probes so far will not close it after all.
            evidence::purge_not_closing(tx, id, t)?;
        }
        _ => {}
    }

    if let Some(event) = step.event() {
        insert_event(tx, event, &probe.site, incident_id.as_deref(), t, routes)?;
    }

    let conclusive = kind != OutcomeKind::Inconclusive;
    tx.execute(
        "INSERT INTO probe_state (site, entry_id, shuffle_key, last_probe_at, last_conclusive_at)
         VALUES (?1, ?2, random(), ?3, ?4)
         ON CONFLICT (site, entry_id) DO UPDATE SET
             last_probe_at = CASE
                 WHEN last_probe_at IS NULL OR excluded.last_probe_at > last_probe_at
                 THEN excluded.last_probe_at ELSE last_probe_at END,
             last_conclusive_at = CASE
                 WHEN excluded.last_conclusive_at IS NOT NULL AND (last_conclusive_at IS NULL
                     OR excluded.last_conclusive_at > last_conclusive_at)
                 THEN excluded.last_conclusive_at ELSE last_conclusive_at END",
        params![probe.site, entry, t, conclusive.then_some(t)],
    )
    .map_err(sql)?;
    tx.execute(
        "INSERT INTO site_stats (site, probes_total, probes_conclusive) VALUES (?1, 1, ?2)
         ON CONFLICT (site) DO UPDATE SET
             probes_total = probes_total + 1,
             probes_conclusive = probes_conclusive + excluded.probes_conclusive",
        params![probe.site, i64::from(conclusive)],
    )
    .map_err(sql)?;

    Ok(ProbeEffect {
        probe_id,
        step,
        incident_id,
    })
}

/// An events row and one unformed delivery per receiver that routes it,
/// unless a silence holds it back (then it is recorded as silenced).
pub(super) fn insert_event(
    tx: &Connection,
    event: EventType,
    site: &str,
    incident_id: Option<&str>,
    at_ms: i64,
    routes: &Routes,
) -> Result<i64, StoreError> {
    insert_event_with(tx, event, site, incident_id, None, at_ms, routes)
}

/// [`insert_event`] with a JSON payload (digest figures, receiver details).
pub(super) fn insert_event_with(
    tx: &Connection,
    event: EventType,
    site: &str,
    incident_id: Option<&str>,
    payload: Option<&str>,
    at_ms: i64,
    routes: &Routes,
) -> Result<i64, StoreError> {
    let cohort: Option<String> = match incident_id {
        Some(id) => tx
            .prepare_cached(
                "SELECT e.cohort FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
                 WHERE i.id = ?1",
            )
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(sql)?
            .flatten(),
        None => None,
    };
    let silence = people::silenced_by(tx, event, site, cohort.as_deref(), at_ms)?;
    tx.execute(
        "INSERT INTO events (type, site, incident_id, created_at, payload, silenced_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![event.as_str(), site, incident_id, at_ms, payload, silence],
    )
    .map_err(sql)?;
    let event_id = tx.last_insert_rowid();
    if silence.is_none() {
        let mut stmt = tx
            .prepare_cached("INSERT INTO deliveries (event_id, receiver) VALUES (?1, ?2)")
            .map_err(sql)?;
        for r in routes.receivers_for(event, site, cohort.as_deref()) {
            stmt.execute(params![event_id, r]).map_err(sql)?;
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
        tx.execute(
            "UPDATE incidents SET last_notified_at = ?2 WHERE id = ?1",
            params![id, at_ms],
        )
        .map_err(sql)?;
    }
    Ok(event_id)
}
