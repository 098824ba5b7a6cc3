//! Recording a probe: evidence, incident step and outbox rows in one
//! transaction (invariant 6).

use super::rows::{exposed_col, exposed_text, ms, u32_col};
use super::sql::{Conn, params};
use super::{NewProbe, ProbeEffect, StoreError};
use super::{audit, events, evidence};
use crate::domain::incident::{self, ActiveIncident, IncidentState, Step};
use crate::domain::route::Routes;
use crate::domain::{Outcome, OutcomeKind};

/// `inc_` followed by 16 random hex digits.
fn new_incident_id() -> String {
    format!("inc_{:016x}", rand::random::<u64>())
}

/// Several probes in ONE transaction (group commit): each probe's row,
/// incident step and outbox rows stay together, and a durable commit is
/// paid once per batch instead of once per probe.
pub(super) fn record_probes(
    c: &mut dyn Conn,
    probes: &[NewProbe],
    resolve_after_clean: u32,
    routes: &Routes,
) -> Result<Vec<ProbeEffect>, StoreError> {
    c.write(|tx| {
        probes
            .iter()
            .map(|p| record_in_tx(tx, p, resolve_after_clean, routes))
            .collect()
    })
}

/// One probe, inside the batch's transaction: the incident step, the probe
/// row, its kept page, the trail, the event, and the cycle bookkeeping.
fn record_in_tx(
    tx: &mut dyn Conn,
    probe: &NewProbe,
    resolve_after_clean: u32,
    routes: &Routes,
) -> Result<ProbeEffect, StoreError> {
    let t = ms(probe.time);
    let current = unresolved_incident(tx, probe)?;
    let step = incident::step(
        current.as_ref().map(|(_, a)| a),
        &probe.outcome,
        resolve_after_clean,
    );
    let incident_id = apply_step(tx, probe, &step, current.map(|(id, _)| id), t)?;
    let probe_id = insert_probe(tx, probe, incident_id.as_deref(), t)?;
    if let (Step::Open { .. }, Some(id)) = (&step, &incident_id) {
        tx.execute(
            "UPDATE incidents SET opened_probe = ?2 WHERE id = ?1",
            params![id, probe_id],
        )?;
    }
    keep_evidence(tx, probe, &step, probe_id)?;
    record_trail(tx, &step, incident_id.as_deref(), probe_id, t)?;
    if let Some(event) = step.event() {
        events::insert_event(tx, event, &probe.site, incident_id.as_deref(), t, routes)?;
    }
    update_cycle_state(tx, probe, t)?;
    Ok(ProbeEffect {
        probe_id,
        step,
        incident_id,
    })
}

/// The (entry, site)'s unresolved incident, if any.
fn unresolved_incident(
    tx: &mut dyn Conn,
    probe: &NewProbe,
) -> Result<Option<(String, ActiveIncident)>, StoreError> {
    tx.query_opt(
        "SELECT id, exposed, consecutive_clean FROM incidents
         WHERE entry_id = ?1 AND site = ?2 AND state IN ('open', 'acknowledged')",
        params![probe.entry.0, probe.site],
        |r| {
            Ok((
                r.text(0)?,
                ActiveIncident {
                    exposed: exposed_col(r, 1)?,
                    consecutive_clean: u32_col(r, 2)?,
                },
            ))
        },
    )
}

/// Applies the incident step; returns the incident it touched (`None` for
/// `Step::Nothing`).
fn apply_step(
    tx: &mut dyn Conn,
    probe: &NewProbe,
    step: &Step,
    current: Option<String>,
    t: i64,
) -> Result<Option<String>, StoreError> {
    let current_id = || {
        current
            .clone()
            .ok_or_else(|| StoreError::Corrupt("incident step without an incident".into()))
    };
    match step {
        Step::Nothing => Ok(None),
        Step::Open { exposed } => {
            let id = new_incident_id();
            tx.execute(
                "INSERT INTO incidents (id, entry_id, site, exposed, state, first_seen,
                     last_seen, resolved_at, consecutive_clean)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL, 0)",
                params![
                    id,
                    probe.entry.0,
                    probe.site,
                    exposed_text(exposed),
                    IncidentState::Open.as_str(),
                    t
                ],
            )?;
            Ok(Some(id))
        }
        Step::SeenAgain { exposed } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET
                     last_seen = CASE WHEN last_seen > ?2 THEN last_seen ELSE ?2 END,
                     exposed = ?3, consecutive_clean = 0
                 WHERE id = ?1",
                params![id, t, exposed_text(exposed)],
            )?;
            Ok(Some(id))
        }
        Step::CleanCounted { consecutive_clean } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET consecutive_clean = ?2 WHERE id = ?1",
                params![id, consecutive_clean],
            )?;
            Ok(Some(id))
        }
        Step::Resolve { consecutive_clean } => {
            let id = current_id()?;
            tx.execute(
                "UPDATE incidents SET consecutive_clean = ?2, state = ?3, resolved_at = ?4
                 WHERE id = ?1",
                params![id, consecutive_clean, IncidentState::Resolved.as_str(), t],
            )?;
            Ok(Some(id))
        }
    }
}

/// The probe row and, for an exposure, the fingerprints of its listings.
fn insert_probe(
    tx: &mut dyn Conn,
    probe: &NewProbe,
    incident_id: Option<&str>,
    t: i64,
) -> Result<i64, StoreError> {
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
    let probe_id = tx.query_i64(
        "INSERT INTO probes (entry_id, site, time, outcome, http_status, page_sha256, reason,
             url_masked, why, incident_id, page_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         RETURNING id",
        params![
            probe.entry.0,
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
    )?;
    if kind == OutcomeKind::Exposed {
        for k in &probe.listing_keys {
            tx.execute(
                "INSERT INTO probe_listings (probe_id, listing_key) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![probe_id, k],
            )?;
        }
    }
    Ok(probe_id)
}

/// Evidence: the page of every exposed probe, and of every clean probe of
/// an open incident (it may turn out to be one of those that close it).
fn keep_evidence(
    tx: &mut dyn Conn,
    probe: &NewProbe,
    step: &Step,
    probe_id: i64,
) -> Result<(), StoreError> {
    let keep_body = match step {
        Step::Open { .. } | Step::SeenAgain { .. } => true,
        Step::CleanCounted { .. } | Step::Resolve { .. } => true,
        Step::Nothing => probe.outcome.kind() == OutcomeKind::Exposed,
    };
    match (keep_body, &probe.body) {
        (true, Some(body)) => evidence::keep(tx, probe_id, body),
        _ => Ok(()),
    }
}

/// The trail, in the same transaction: the probe, then what it did.
fn record_trail(
    tx: &mut dyn Conn,
    step: &Step,
    incident_id: Option<&str>,
    probe_id: i64,
    t: i64,
) -> Result<(), StoreError> {
    audit::append_probe(tx, probe_id, t)?;
    match (step, incident_id) {
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
    Ok(())
}

/// The entry's probe times on the site (its cycle position is kept; a
/// first probe gets a random one), its escalation done, and the site's
/// running counters.
fn update_cycle_state(tx: &mut dyn Conn, probe: &NewProbe, t: i64) -> Result<(), StoreError> {
    let conclusive = probe.outcome.kind() != OutcomeKind::Inconclusive;
    tx.execute(
        "INSERT INTO probe_state (site, entry_id, shuffle_key, last_probe_at, last_conclusive_at)
         VALUES (?1, ?2, ?5, ?3, ?4)
         ON CONFLICT (site, entry_id) DO UPDATE SET
             last_probe_at = CASE
                 WHEN probe_state.last_probe_at IS NULL
                     OR excluded.last_probe_at > probe_state.last_probe_at
                 THEN excluded.last_probe_at ELSE probe_state.last_probe_at END,
             last_conclusive_at = CASE
                 WHEN excluded.last_conclusive_at IS NOT NULL
                     AND (probe_state.last_conclusive_at IS NULL
                         OR excluded.last_conclusive_at > probe_state.last_conclusive_at)
                 THEN excluded.last_conclusive_at ELSE probe_state.last_conclusive_at END",
        params![
            probe.site,
            probe.entry.0,
            t,
            conclusive.then_some(t),
            rand::random::<i64>()
        ],
    )?;
    // Probed on this site, by the cycle or as an escalation: it leaves the
    // site's escalation queue with the probe.
    tx.execute(
        "DELETE FROM escalations WHERE site = ?1 AND entry_id = ?2",
        params![probe.site, probe.entry.0],
    )?;
    tx.execute(
        "INSERT INTO site_stats (site, probes_total, probes_conclusive) VALUES (?1, 1, ?2)
         ON CONFLICT (site) DO UPDATE SET
             probes_total = site_stats.probes_total + 1,
             probes_conclusive = site_stats.probes_conclusive + excluded.probes_conclusive",
        params![probe.site, conclusive],
    )?;
    Ok(())
}
