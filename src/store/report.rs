//! Read-side queries for compliance reports and the cohort check: an
//! incident with its bounding evidence, coverage gaps over a period, cohort
//! summaries and cohort entries.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::db::{
    ENTRY_COLS, count, entry_at, exposed_col, masked_col, ms, opt_ts, sql, ts, u16_col,
};
use super::queries::state_col;
use super::{
    CohortSite, CohortSummary, CoverageGap, EvidenceProbe, IncidentReport, IncidentView,
    KeptEvidence, ReportScope, SiteCoverageReport, StoreError, Ts,
};
use crate::domain::{Entry, EntryId};

/// Gap examples kept per site (all are counted).
const GAP_EXAMPLES: usize = 20;

const PROBE_COLS: &str = "p.id, p.time, p.site, p.url_masked, p.page_sha256, p.http_status,
    p.page_size, ev.sha256, ev.size, ev.purged_at, ev.probe_id";

fn probe_at(r: &Row<'_>) -> rusqlite::Result<EvidenceProbe> {
    let evidence = match r.get::<_, Option<i64>>(10)? {
        None => KeptEvidence::None,
        Some(_) => match opt_ts(r, 9)? {
            Some(at) => KeptEvidence::Purged { at },
            None => KeptEvidence::Kept {
                sha256: r.get(7)?,
                size: count(r.get(8)?),
            },
        },
    };
    Ok(EvidenceProbe {
        id: r.get(0)?,
        time: ts(r, 1)?,
        site: r.get(2)?,
        url_masked: r.get(3)?,
        page_sha256: r.get(4)?,
        http_status: u16_col(r, 5)?,
        page_size: r.get::<_, Option<i64>>(6)?.map(count),
        evidence,
    })
}

fn probes(
    conn: &Connection,
    where_: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<Vec<EvidenceProbe>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PROBE_COLS} FROM probes AS p LEFT JOIN evidence AS ev ON ev.probe_id = p.id
             WHERE {where_}"
        ))
        .map_err(sql)?;
    let rows = stmt.query_map(p, probe_at).map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

const INCIDENT_SQL: &str = "
    SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen, i.last_seen,
           i.resolved_at, e.cohort, i.entry_id, i.opened_probe,
           (SELECT count(*) FROM probes AS p WHERE p.incident_id = i.id AND p.outcome = 'exposed')
    FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id";

fn incident_at(conn: &Connection, r: &Row<'_>) -> Result<IncidentReport, StoreError> {
    let row = || -> rusqlite::Result<_> {
        Ok((
            IncidentView {
                id: r.get(0)?,
                site: r.get(1)?,
                entry_ref: r.get(2)?,
                masked_number: masked_col(r, 3)?,
                exposed: exposed_col(r, 4)?,
                state: state_col(r, 5)?,
                first_seen: ts(r, 6)?,
                last_seen: ts(r, 7)?,
                resolved_at: opt_ts(r, 8)?,
            },
            r.get::<_, Option<String>>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, Option<i64>>(11)?,
            r.get::<_, i64>(12)?,
        ))
    };
    let (incident, cohort, entry_id, opened, exposed_probes) = row().map_err(sql)?;
    let opened_by = match opened {
        Some(id) => probes(conn, "p.id = ?1", &[&id])?.pop(),
        None => None,
    };
    // The last clean probe of the same entry on the same site before the
    // exposure was first seen: the exposure began after it.
    let first_ms = ms(incident.first_seen);
    let before_id = opened.unwrap_or(i64::MAX);
    let last_clean_before = probes(
        conn,
        "p.entry_id = ?1 AND p.site = ?2 AND p.outcome = 'clean' AND p.time <= ?3 AND p.id < ?4
         ORDER BY p.time DESC, p.id DESC LIMIT 1",
        &[&entry_id, &incident.site, &first_ms, &before_id],
    )?
    .pop();
    let closing_probes = probes(
        conn,
        "p.incident_id = ?1 AND p.outcome = 'clean'
           AND p.id > coalesce((SELECT max(x.id) FROM probes AS x
                                WHERE x.incident_id = ?1 AND x.outcome = 'exposed'), 0)
         ORDER BY p.id",
        &[&incident.id],
    )?;
    Ok(IncidentReport {
        incident,
        cohort,
        exposed_probes: count(exposed_probes),
        opened_by,
        last_clean_before,
        closing_probes,
    })
}

/// `None` for an unknown incident id.
pub(super) fn report_incidents(
    conn: &Connection,
    scope: &ReportScope,
) -> Result<Option<Vec<IncidentReport>>, StoreError> {
    let (where_, args): (String, Vec<Box<dyn rusqlite::ToSql>>) = match scope {
        ReportScope::Incident(id) => ("i.id = ?1".into(), vec![Box::new(id.clone())]),
        ReportScope::Filter {
            cohort,
            since,
            until,
        } => {
            let mut w = vec!["1 = 1".to_string()];
            let mut a: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            if let Some(c) = cohort {
                a.push(Box::new(c.clone()));
                w.push(format!("e.cohort = ?{}", a.len()));
            }
            if let Some(u) = until {
                a.push(Box::new(ms(*u)));
                w.push(format!("i.first_seen <= ?{}", a.len()));
            }
            if let Some(s) = since {
                a.push(Box::new(ms(*s)));
                w.push(format!(
                    "(i.state != 'resolved' OR i.resolved_at >= ?{})",
                    a.len()
                ));
            }
            (w.join(" AND "), a)
        }
    };
    let mut stmt = conn
        .prepare(&format!(
            "{INCIDENT_SQL} WHERE {where_} ORDER BY i.first_seen, i.id"
        ))
        .map_err(sql)?;
    let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let mut rows = stmt.query(params.as_slice()).map_err(sql)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(sql)? {
        out.push(incident_at(conn, r)?);
    }
    if out.is_empty() && matches!(scope, ReportScope::Incident(_)) {
        return Ok(None);
    }
    Ok(Some(out))
}

/// An entry in a report's scope: `(id, ref, added_at, removed_at)`.
type ScopeEntry = (i64, String, i64, Option<i64>);

/// The entries a scope covers, by id.
fn scope_entries(conn: &Connection, scope: &ReportScope) -> Result<Vec<ScopeEntry>, StoreError> {
    let (where_, arg): (&str, Option<String>) = match scope {
        ReportScope::Incident(id) => (
            "e.id = (SELECT entry_id FROM incidents WHERE id = ?1)",
            Some(id.clone()),
        ),
        ReportScope::Filter {
            cohort: Some(c), ..
        } => ("e.cohort = ?1", Some(c.clone())),
        ReportScope::Filter { cohort: None, .. } => ("?1 IS NULL", None),
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT e.id, e.ref, e.added_at, CASE WHEN e.active = 0 THEN e.removed_at END
             FROM entries AS e WHERE {where_} ORDER BY e.id"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map([arg], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// When the scope's entries joined the roster (the earliest), if any.
pub(super) fn scope_start(
    conn: &Connection,
    scope: &ReportScope,
) -> Result<Option<Ts>, StoreError> {
    let first = scope_entries(conn, scope)?
        .iter()
        .map(|(_, _, added, _)| *added)
        .min();
    first
        .map(|m| super::db::ts_at(m, 0).map_err(sql))
        .transpose()
}

/// Coverage of the scope's entries on `sites` over `[since, until]`: a gap
/// is a stretch longer than `max_staleness` without a conclusive probe,
/// counted from the last conclusive probe before it (or from when the
/// entry joined the roster or the period began), up to when the entry left
/// the roster or the period ended.
pub(super) fn coverage(
    conn: &Connection,
    scope: &ReportScope,
    sites: &[String],
    since: Ts,
    until: Ts,
    max_staleness: Duration,
) -> Result<Vec<SiteCoverageReport>, StoreError> {
    let entries = scope_entries(conn, scope)?;
    let (since, until) = (ms(since), ms(until));
    let limit = i64::try_from(max_staleness.as_millis()).unwrap_or(i64::MAX);
    let mut before = conn
        .prepare_cached(
            "SELECT max(time) FROM probes
             WHERE entry_id = ?1 AND site = ?2 AND outcome != 'inconclusive' AND time < ?3",
        )
        .map_err(sql)?;
    let mut within = conn
        .prepare_cached(
            "SELECT time FROM probes
             WHERE entry_id = ?1 AND site = ?2 AND outcome != 'inconclusive'
               AND time >= ?3 AND time <= ?4
             ORDER BY time",
        )
        .map_err(sql)?;
    let mut out = Vec::new();
    for site in sites {
        let mut rep = SiteCoverageReport {
            site: site.clone(),
            ..Default::default()
        };
        let mut longest: i64 = 0;
        for (id, entry_ref, added, removed) in &entries {
            let start = since.max(*added);
            let end = until.min(removed.unwrap_or(i64::MAX));
            if start >= end {
                continue;
            }
            rep.entries += 1;
            let prev: Option<i64> = before
                .query_row(params![id, site, start], |r| r.get(0))
                .map_err(sql)?;
            let mut last = prev.unwrap_or(start);
            let mut times: Vec<i64> = within
                .query_map(params![id, site, start, end], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            times.push(end);
            let mut gaps = 0u64;
            for t in times {
                if t - last > limit {
                    gaps += 1;
                    longest = longest.max(t - last);
                    if rep.examples.len() < GAP_EXAMPLES {
                        rep.examples.push(CoverageGap {
                            entry_ref: entry_ref.clone(),
                            from: super::db::ts_at(last, 0).map_err(sql)?,
                            to: super::db::ts_at(t, 0).map_err(sql)?,
                        });
                    }
                }
                last = last.max(t);
            }
            rep.gaps += gaps;
            if gaps == 0 {
                rep.covered += 1;
            }
        }
        rep.longest_gap = (longest > 0).then(|| Duration::from_millis(longest as u64));
        out.push(rep);
    }
    Ok(out)
}

pub(super) fn cohort_summary(conn: &Connection, tag: &str) -> Result<CohortSummary, StoreError> {
    let (entries, active, erased, exposed): (i64, i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE active = 1),
                    count(*) FILTER (WHERE erased_at IS NOT NULL),
                    count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incidents AS i
                                                  WHERE i.entry_id = entries.id))
             FROM entries WHERE cohort = ?1",
            [tag],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(sql)?;
    let mut stmt = conn
        .prepare(
            "SELECT i.site, count(*), count(*) FILTER (WHERE i.state != 'resolved'),
                    count(DISTINCT i.entry_id)
             FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
             WHERE e.cohort = ?1 GROUP BY i.site ORDER BY i.site",
        )
        .map_err(sql)?;
    let sites = stmt
        .query_map([tag], |r| {
            Ok(CohortSite {
                site: r.get(0)?,
                incidents: count(r.get(1)?),
                open: count(r.get(2)?),
                entries: count(r.get(3)?),
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(CohortSummary {
        tag: tag.to_string(),
        entries: count(entries),
        active: count(active),
        erased: count(erased),
        entries_exposed: count(exposed),
        sites,
    })
}

/// Active entries of a cohort after `after`, by id (keyset pagination).
pub(super) fn cohort_entries(
    conn: &Connection,
    tag: &str,
    after: Option<EntryId>,
    limit: usize,
) -> Result<Vec<(EntryId, Entry)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT e.id, {ENTRY_COLS} FROM entries AS e
             WHERE e.cohort = ?1 AND e.active = 1 AND e.id > ?2
             ORDER BY e.id LIMIT ?3"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(
            params![
                tag,
                after.map_or(0, |a| a.0),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| Ok((EntryId(r.get(0)?), entry_at(r, 1)?)),
        )
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

pub(super) fn cohort_size(conn: &Connection, tag: &str) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM entries WHERE cohort = ?1 AND active = 1",
        [tag],
        |r| r.get::<_, i64>(0),
    )
    .map(count)
    .map_err(sql)
}

pub(super) fn incident_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.query_row("SELECT 1 FROM incidents WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(sql)
}
