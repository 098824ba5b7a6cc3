//! Kept evidence (response bodies) and its purges: pages that did not
//! close an incident, and pages of long-resolved incidents (the roster
//! side of the retention purge, erasure, is `custody`). Every purge is an
//! audit record in the same transaction.

use serde_json::json;

use super::audit::append;
use super::codec::{gunzip, gzip};
use super::rows::{ms, ms_before};
use super::sql::{Conn, params};
use super::{Retention, StoreError, Ts};
use crate::audit::{kind, sha256_hex};

/// Keeps `body` as the evidence of probe `probe_id`.
pub(super) fn keep(c: &mut dyn Conn, probe_id: i64, body: &[u8]) -> Result<(), StoreError> {
    let gz =
        gzip(body).map_err(|e| StoreError::Backend(format!("cannot compress evidence: {e}")))?;
    c.execute(
        "INSERT INTO evidence (probe_id, body_gz, sha256, size, purged_at)
         VALUES (?1, ?2, ?3, ?4, NULL)",
        params![
            probe_id,
            gz,
            sha256_hex(body),
            i64::try_from(body.len()).unwrap_or(i64::MAX)
        ],
    )
    .map(|_| ())
}

/// A new exposure reset the clean count of `incident_id`: the bodies of its
/// clean probes so far will not close it, so they go (recorded).
pub(super) fn purge_not_closing(
    c: &mut dyn Conn,
    incident_id: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let ids = c.query_map(
        "UPDATE evidence SET body_gz = NULL, purged_at = ?2
         WHERE body_gz IS NOT NULL AND probe_id IN
             (SELECT id FROM probes WHERE incident_id = ?1 AND outcome = 'clean')
         RETURNING probe_id",
        params![incident_id, now_ms],
        |r| r.i64(0),
    )?;
    record_purge(
        c,
        &ids,
        now_ms,
        json!({"reason": "exposed again", "incident_id": incident_id}),
    )
}

pub(super) fn record_purge(
    c: &mut dyn Conn,
    ids: &[i64],
    now_ms: i64,
    mut payload: serde_json::Value,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    payload["count"] = json!(sorted.len());
    payload["probe_ids"] = json!(sorted);
    append(c, kind::EVIDENCE_PURGE, "", &payload, now_ms)?;
    Ok(sorted.len() as u64)
}

/// The evidence part of the periodic purge, inside the caller's writer
/// transaction: bodies of incidents resolved more than
/// `evidence_retention` ago (never of open incidents), recorded.
pub(super) fn purge_resolved(tx: &mut dyn Conn, now: Ts, r: &Retention) -> Result<u64, StoreError> {
    let now_ms = ms(now);
    let evidence_before = ms_before(now, r.evidence);
    let ids = tx.query_map(
        "UPDATE evidence SET body_gz = NULL, purged_at = ?1
         WHERE body_gz IS NOT NULL AND EXISTS (
             SELECT 1 FROM probes AS p JOIN incidents AS i ON i.id = p.incident_id
             WHERE p.id = evidence.probe_id AND i.state = 'resolved'
               AND i.resolved_at < ?2)
         RETURNING probe_id",
        params![now_ms, evidence_before],
        |r| r.i64(0),
    )?;
    record_purge(
        tx,
        &ids,
        now_ms,
        json!({"reason": "retention", "resolved_before": evidence_before}),
    )
}

/// The kept body of a probe: `None` when none was kept or it was purged.
pub(super) fn body(c: &mut dyn Conn, probe_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let gz = c.query_opt(
        "SELECT body_gz FROM evidence WHERE probe_id = ?1",
        params![probe_id],
        |r| r.opt_bytes(0),
    )?;
    match gz.flatten() {
        None => Ok(None),
        Some(gz) => gunzip(&gz)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("cannot decompress evidence: {e}"))),
    }
}
