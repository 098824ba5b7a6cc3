//! Keyset pages for the API's lists (incidents, an entry's probes, the
//! audit feed) and the dashboard's per-site probe chart. A page is read by
//! its position, never by an offset, so a long list costs the same per
//! page wherever the reader is.

use std::collections::BTreeMap;

use super::queries::{incident_row, probe_row};
use super::rows::{count_col, ms, outcome_col, ts};
use super::sql::{Conn, params};
use super::{AuditFeedRecord, IncidentView, ProbeView, StoreError, Ts};
use crate::domain::OutcomeKind;

/// Incidents after `(first_seen ms, id)` in list order, at most `limit`.
pub(super) fn incidents_page(
    c: &mut dyn Conn,
    open_only: bool,
    after: Option<(i64, &str)>,
    limit: usize,
) -> Result<Vec<IncidentView>, StoreError> {
    let (t, id) = after.unwrap_or((i64::MIN, ""));
    c.query_map(
        "SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen,
             i.last_seen, i.resolved_at
         FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
         WHERE (?1 = 0 OR i.state IN ('open', 'acknowledged'))
           AND (i.first_seen > ?2 OR (i.first_seen = ?2 AND i.id > ?3))
         ORDER BY i.first_seen, i.id
         LIMIT ?4",
        params![open_only, t, id, limit as i64],
        incident_row,
    )
}

/// Probes of entry `entry_ref` after `(time ms, probe id)`, oldest first,
/// at most `limit`, each with its id; `None` for an unknown ref.
pub(super) fn history_page(
    c: &mut dyn Conn,
    entry_ref: &str,
    after: Option<(i64, i64)>,
    limit: usize,
) -> Result<Option<Vec<(i64, ProbeView)>>, StoreError> {
    let id = c.query_opt(
        "SELECT id FROM entries WHERE ref = ?1",
        params![entry_ref],
        |r| r.i64(0),
    )?;
    let Some(id) = id else {
        return Ok(None);
    };
    let (t, pid) = after.unwrap_or((i64::MIN, i64::MIN));
    c.query_map(
        "SELECT time, site, outcome, http_status, page_sha256, reason, why, id
         FROM probes WHERE entry_id = ?1
           AND (time > ?2 OR (time = ?2 AND id > ?3))
         ORDER BY time, id
         LIMIT ?4",
        params![id, t, pid, limit as i64],
        |r| Ok((r.i64(7)?, probe_row(r)?)),
    )
    .map(Some)
}

/// Keys of a record's payload that name what it is about (ids, a site, an
/// action and who took it, an outcome) and never hold roster data or free
/// text: the audit feed passes these and only these.
const SUBJECT_KEYS: &[&str] = &[
    "incident_id",
    "probe_id",
    "entry_id",
    "site",
    "action",
    "actor",
    "outcome",
    "http_status",
    "page_sha256",
    "exposed",
    "added",
    "changed",
    "removed",
    "unchanged",
];

/// Audit records after `seq`, in order, at most `limit`.
pub(super) fn audit_feed(
    c: &mut dyn Conn,
    after: i64,
    limit: usize,
) -> Result<Vec<AuditFeedRecord>, StoreError> {
    c.query_map(
        "SELECT seq, time, kind, ref_id, payload, prev_hash, hash FROM audit
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        params![after, limit as i64],
        |r| {
            let payload = r.text(4)?;
            let v: serde_json::Value = serde_json::from_str(&payload)
                .map_err(|_| StoreError::Corrupt("audit payload".into()))?;
            let subject: BTreeMap<String, serde_json::Value> = SUBJECT_KEYS
                .iter()
                .filter_map(|k| {
                    v.get(*k)
                        .filter(|x| !x.is_null() && !x.is_object())
                        .map(|x| ((*k).to_string(), x.clone()))
                })
                .collect();
            Ok(AuditFeedRecord {
                seq: r.i64(0)?,
                time: ts(r, 1)?,
                kind: r.text(2)?,
                ref_id: r.text(3)?,
                subject,
                payload_sha256: crate::audit::sha256_hex(payload.as_bytes()),
                prev_hash: r.text(5)?,
                hash: r.text(6)?,
            })
        },
    )
}

/// Probes per site, bucket and outcome since `since`: bucket `n` covers
/// `[since + n·bucket, since + (n+1)·bucket)`.
pub(super) fn probe_buckets(
    c: &mut dyn Conn,
    since: Ts,
    bucket: std::time::Duration,
) -> Result<Vec<(String, i64, OutcomeKind, u64)>, StoreError> {
    let width = i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1);
    c.query_map(
        "SELECT site, (time - ?1) / ?2, outcome, count(*) FROM probes
         WHERE time >= ?1
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3",
        params![ms(since), width],
        |r| Ok((r.text(0)?, r.i64(1)?, outcome_col(r, 2)?, count_col(r, 3)?)),
    )
}
