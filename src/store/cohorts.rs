//! Incidents by cohort: the root-cause hint of alert messages (a mass
//! leak is usually one migration or export gone wrong) and the grouped
//! views (`incidents --by-cohort`, `GET /api/v1/incidents?group=cohort`).

use std::collections::HashMap;

use super::rows::{count, exposed_col, masked_col, opt_ts, state_col, ts};
use super::sql::{Conn, params};
use super::{CohortIncidents, IncidentView, StoreError};

/// A cohort's active entries, and how many of them have an open or
/// acknowledged incident on any site. `None` is the entries without a
/// cohort.
pub(super) fn figures(c: &mut dyn Conn, cohort: Option<&str>) -> Result<(u64, u64), StoreError> {
    let (size, exposed) = match cohort {
        Some(tag) => (
            c.query_i64(
                "SELECT count(*) FROM entries WHERE active = 1 AND cohort = ?1",
                params![tag],
            )?,
            c.query_i64(
                "SELECT count(DISTINCT i.entry_id) FROM incidents AS i
                 JOIN entries AS e ON e.id = i.entry_id
                 WHERE e.cohort = ?1 AND i.state IN ('open', 'acknowledged')",
                params![tag],
            )?,
        ),
        None => (
            c.query_i64(
                "SELECT count(*) FROM entries WHERE active = 1 AND cohort IS NULL",
                params![],
            )?,
            c.query_i64(
                "SELECT count(DISTINCT i.entry_id) FROM incidents AS i
                 JOIN entries AS e ON e.id = i.entry_id
                 WHERE e.cohort IS NULL AND i.state IN ('open', 'acknowledged')",
                params![],
            )?,
        ),
    };
    Ok((count(size), count(exposed)))
}

pub(super) fn incidents_by_cohort(
    c: &mut dyn Conn,
    open_only: bool,
) -> Result<Vec<CohortIncidents>, StoreError> {
    let rows = c.query_map(
        "SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen,
             i.last_seen, i.resolved_at, e.cohort
         FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
         WHERE ?1 = 0 OR i.state != 'resolved'
         ORDER BY i.first_seen, i.id",
        params![open_only],
        |r| {
            Ok((
                r.opt_text(9)?,
                IncidentView {
                    id: r.text(0)?,
                    site: r.text(1)?,
                    entry_ref: r.text(2)?,
                    masked_number: masked_col(r, 3)?,
                    exposed: exposed_col(r, 4)?,
                    state: state_col(r, 5)?,
                    first_seen: ts(r, 6)?,
                    last_seen: ts(r, 7)?,
                    resolved_at: opt_ts(r, 8)?,
                },
            ))
        },
    )?;
    let mut groups: Vec<CohortIncidents> = Vec::new();
    let mut at: HashMap<Option<String>, usize> = HashMap::new();
    for (cohort, incident) in rows {
        let i = *at.entry(cohort.clone()).or_insert_with(|| {
            groups.push(CohortIncidents {
                cohort,
                cohort_size: 0,
                exposed_in_cohort: 0,
                incidents: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].incidents.push(incident);
    }
    for g in &mut groups {
        (g.cohort_size, g.exposed_in_cohort) = figures(c, g.cohort.as_deref())?;
    }
    groups.sort_by(|a, b| {
        b.incidents
            .len()
            .cmp(&a.incidents.len())
            .then_with(|| a.cohort.is_none().cmp(&b.cohort.is_none()))
            .then_with(|| a.cohort.cmp(&b.cohort))
    });
    Ok(groups)
}
