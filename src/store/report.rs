//! Read-side queries for compliance reports and the cohort check: an
//! incident with its bounding evidence, coverage gaps over a period, cohort
//! summaries and cohort entries.

use std::time::Duration;

use super::rows::{
    ENTRY_COLS, count, count_col, entry_at, exposed_col, masked_col, ms, opt_ts, state_col, ts,
    ts_at, u16_col,
};
use super::sql::{Conn, Param, Row, Value, params};
use super::{
    CohortSite, CohortSummary, CoverageGap, EvidenceProbe, IncidentReport, IncidentView,
    KeptEvidence, ReportScope, SiteCoverageReport, StoreError, Ts,
};
use crate::domain::{Entry, EntryId};

/// Gap examples kept per site (all are counted).
const GAP_EXAMPLES: usize = 20;

const PROBE_COLS: &str = "p.id, p.time, p.site, p.url_masked, p.page_sha256, p.http_status,
    p.page_size, ev.sha256, ev.size, ev.purged_at, ev.probe_id";

fn probe_at(r: &dyn Row) -> Result<EvidenceProbe, StoreError> {
    let evidence = match r.opt_i64(10)? {
        None => KeptEvidence::None,
        Some(_) => match opt_ts(r, 9)? {
            Some(at) => KeptEvidence::Purged { at },
            None => KeptEvidence::Kept {
                sha256: r.text(7)?,
                size: count_col(r, 8)?,
            },
        },
    };
    Ok(EvidenceProbe {
        id: r.i64(0)?,
        time: ts(r, 1)?,
        site: r.text(2)?,
        url_masked: r.text(3)?,
        page_sha256: r.opt_text(4)?,
        http_status: u16_col(r, 5)?,
        page_size: r.opt_i64(6)?.map(count),
        evidence,
    })
}

fn probes(
    c: &mut dyn Conn,
    where_: &str,
    p: &[Param<'_>],
) -> Result<Vec<EvidenceProbe>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {PROBE_COLS} FROM probes AS p LEFT JOIN evidence AS ev ON ev.probe_id = p.id
             WHERE {where_}"
        ),
        p,
        probe_at,
    )
}

const INCIDENT_SQL: &str = "
    SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen, i.last_seen,
           i.resolved_at, e.cohort, i.entry_id, i.opened_probe,
           (SELECT count(*) FROM probes AS p WHERE p.incident_id = i.id AND p.outcome = 'exposed')
    FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id";

/// The incident columns of [`INCIDENT_SQL`]; the bounding probes are read
/// after the incident query is done (one statement at a time).
struct IncidentRow {
    incident: IncidentView,
    cohort: Option<String>,
    entry_id: i64,
    opened: Option<i64>,
    exposed_probes: i64,
}

fn incident_row(r: &dyn Row) -> Result<IncidentRow, StoreError> {
    Ok(IncidentRow {
        incident: IncidentView {
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
        cohort: r.opt_text(9)?,
        entry_id: r.i64(10)?,
        opened: r.opt_i64(11)?,
        exposed_probes: r.i64(12)?,
    })
}

fn with_bounds(c: &mut dyn Conn, row: IncidentRow) -> Result<IncidentReport, StoreError> {
    let IncidentRow {
        incident,
        cohort,
        entry_id,
        opened,
        exposed_probes,
    } = row;
    let opened_by = match opened {
        Some(id) => probes(c, "p.id = ?1", params![id])?.pop(),
        None => None,
    };
    // The last clean probe of the same entry on the same site before the
    // exposure was first seen: the exposure began after it.
    let first_ms = ms(incident.first_seen);
    let before_id = opened.unwrap_or(i64::MAX);
    let last_clean_before = probes(
        c,
        "p.entry_id = ?1 AND p.site = ?2 AND p.outcome = 'clean' AND p.time <= ?3 AND p.id < ?4
         ORDER BY p.time DESC, p.id DESC LIMIT 1",
        params![entry_id, incident.site, first_ms, before_id],
    )?
    .pop();
    let closing_probes = probes(
        c,
        "p.incident_id = ?1 AND p.outcome = 'clean'
           AND p.id > coalesce((SELECT max(x.id) FROM probes AS x
                                WHERE x.incident_id = ?1 AND x.outcome = 'exposed'), 0)
         ORDER BY p.id",
        params![incident.id],
    )?;
    let takedowns = super::takedown::of_incident(c, &incident.id)?;
    Ok(IncidentReport {
        incident,
        cohort,
        exposed_probes: count(exposed_probes),
        opened_by,
        last_clean_before,
        closing_probes,
        takedowns,
    })
}

/// `None` for an unknown incident id.
pub(super) fn report_incidents(
    c: &mut dyn Conn,
    scope: &ReportScope,
) -> Result<Option<Vec<IncidentReport>>, StoreError> {
    let (where_, args): (String, Vec<Value>) = match scope {
        ReportScope::Incident(id) => ("i.id = ?1".into(), vec![Value::Text(id.clone())]),
        ReportScope::Filter {
            cohort,
            since,
            until,
        } => {
            let mut w = vec!["1 = 1".to_string()];
            let mut a: Vec<Value> = Vec::new();
            if let Some(cohort) = cohort {
                a.push(Value::Text(cohort.clone()));
                w.push(format!("e.cohort = ?{}", a.len()));
            }
            if let Some(u) = until {
                a.push(Value::Int(ms(*u)));
                w.push(format!("i.first_seen <= ?{}", a.len()));
            }
            if let Some(s) = since {
                a.push(Value::Int(ms(*s)));
                w.push(format!(
                    "(i.state IN ('open', 'acknowledged') \
                     OR coalesce(i.resolved_at, i.withdrawn_at) >= ?{})",
                    a.len()
                ));
            }
            (w.join(" AND "), a)
        }
    };
    let params: Vec<Param<'_>> = args.iter().map(Value::param).collect();
    let rows = c.query_map(
        &format!("{INCIDENT_SQL} WHERE {where_} ORDER BY i.first_seen, i.id"),
        &params,
        incident_row,
    )?;
    if rows.is_empty() && matches!(scope, ReportScope::Incident(_)) {
        return Ok(None);
    }
    rows.into_iter()
        .map(|r| with_bounds(c, r))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// An entry in a report's scope: `(id, ref, added_at, removed_at)`.
type ScopeEntry = (i64, String, i64, Option<i64>);

/// The entries a scope covers, by id.
fn scope_entries(c: &mut dyn Conn, scope: &ReportScope) -> Result<Vec<ScopeEntry>, StoreError> {
    let (where_, arg): (&str, Option<&str>) = match scope {
        ReportScope::Incident(id) => (
            "e.id = (SELECT entry_id FROM incidents WHERE id = ?1)",
            Some(id.as_str()),
        ),
        ReportScope::Filter {
            cohort: Some(cohort),
            ..
        } => ("e.cohort = ?1", Some(cohort.as_str())),
        ReportScope::Filter { cohort: None, .. } => ("?1 IS NULL", None),
    };
    c.query_map(
        &format!(
            "SELECT e.id, e.ref, e.added_at, CASE WHEN e.active = 0 THEN e.removed_at END
             FROM entries AS e WHERE {where_} ORDER BY e.id"
        ),
        params![arg],
        |r| Ok((r.i64(0)?, r.text(1)?, r.i64(2)?, r.opt_i64(3)?)),
    )
}

/// When the scope's entries joined the roster (the earliest), if any.
pub(super) fn scope_start(c: &mut dyn Conn, scope: &ReportScope) -> Result<Option<Ts>, StoreError> {
    let first = scope_entries(c, scope)?
        .iter()
        .map(|(_, _, added, _)| *added)
        .min();
    first.map(|m| ts_at(m, 0)).transpose()
}

/// One entry's coverage of one site over `[start, end]`: the stretches
/// longer than `limit` without a conclusive probe.
struct EntryGaps {
    count: u64,
    longest: i64,
}

fn entry_gaps(
    c: &mut dyn Conn,
    (id, entry_ref): (i64, &str),
    site: &str,
    (start, end): (i64, i64),
    limit: i64,
    examples: &mut Vec<CoverageGap>,
) -> Result<EntryGaps, StoreError> {
    let prev = c.query_one(
        "SELECT max(time) FROM probes
         WHERE entry_id = ?1 AND site = ?2 AND outcome != 'inconclusive' AND time < ?3",
        params![id, site, start],
        |r| r.opt_i64(0),
    )?;
    let mut times = c.query_map(
        "SELECT time FROM probes
         WHERE entry_id = ?1 AND site = ?2 AND outcome != 'inconclusive'
           AND time >= ?3 AND time <= ?4
         ORDER BY time",
        params![id, site, start, end],
        |r| r.i64(0),
    )?;
    times.push(end);
    let mut last = prev.unwrap_or(start);
    let mut gaps = EntryGaps {
        count: 0,
        longest: 0,
    };
    for t in times {
        if t - last > limit {
            gaps.count += 1;
            gaps.longest = gaps.longest.max(t - last);
            if examples.len() < GAP_EXAMPLES {
                examples.push(CoverageGap {
                    entry_ref: entry_ref.to_owned(),
                    from: ts_at(last, 0)?,
                    to: ts_at(t, 0)?,
                });
            }
        }
        last = last.max(t);
    }
    Ok(gaps)
}

/// Coverage of the scope's entries on `sites` over `[since, until]`: a gap
/// is a stretch longer than `max_staleness` without a conclusive probe,
/// counted from the last conclusive probe before it (or from when the
/// entry joined the roster or the period began), up to when the entry left
/// the roster or the period ended.
pub(super) fn coverage(
    c: &mut dyn Conn,
    scope: &ReportScope,
    sites: &[String],
    since: Ts,
    until: Ts,
    max_staleness: Duration,
) -> Result<Vec<SiteCoverageReport>, StoreError> {
    let entries = scope_entries(c, scope)?;
    let (since, until) = (ms(since), ms(until));
    let limit = i64::try_from(max_staleness.as_millis()).unwrap_or(i64::MAX);
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
            let gaps = entry_gaps(
                c,
                (*id, entry_ref),
                site,
                (start, end),
                limit,
                &mut rep.examples,
            )?;
            longest = longest.max(gaps.longest);
            rep.gaps += gaps.count;
            if gaps.count == 0 {
                rep.covered += 1;
            }
        }
        rep.longest_gap = (longest > 0).then(|| Duration::from_millis(longest as u64));
        out.push(rep);
    }
    Ok(out)
}

pub(super) fn cohort_summary(c: &mut dyn Conn, tag: &str) -> Result<CohortSummary, StoreError> {
    let (entries, active, erased, exposed) = c.query_one(
        "SELECT count(*), count(*) FILTER (WHERE active = 1),
                count(*) FILTER (WHERE erased_at IS NOT NULL),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incidents AS i
                                              WHERE i.entry_id = entries.id))
         FROM entries WHERE cohort = ?1",
        params![tag],
        |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?)),
    )?;
    let sites = c.query_map(
        "SELECT i.site, count(*), count(*) FILTER (WHERE i.state IN ('open', 'acknowledged')),
                count(DISTINCT i.entry_id)
         FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
         WHERE e.cohort = ?1 GROUP BY i.site ORDER BY i.site",
        params![tag],
        |r| {
            Ok(CohortSite {
                site: r.text(0)?,
                incidents: count_col(r, 1)?,
                open: count_col(r, 2)?,
                entries: count_col(r, 3)?,
            })
        },
    )?;
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
    c: &mut dyn Conn,
    tag: &str,
    after: Option<EntryId>,
    limit: usize,
) -> Result<Vec<(EntryId, Entry)>, StoreError> {
    c.query_map(
        &format!(
            "SELECT e.id, {ENTRY_COLS} FROM entries AS e
             WHERE e.cohort = ?1 AND e.active = 1 AND e.id > ?2
             ORDER BY e.id LIMIT ?3"
        ),
        params![
            tag,
            after.map_or(0, |a| a.0),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
}

pub(super) fn cohort_size(c: &mut dyn Conn, tag: &str) -> Result<u64, StoreError> {
    c.query_i64(
        "SELECT count(*) FROM entries WHERE cohort = ?1 AND active = 1",
        params![tag],
    )
    .map(count)
}

pub(super) fn incident_exists(c: &mut dyn Conn, id: &str) -> Result<bool, StoreError> {
    Ok(c.query_i64("SELECT count(*) FROM incidents WHERE id = ?1", params![id])? > 0)
}
