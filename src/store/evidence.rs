//! Kept evidence (response bodies) and the retention purges: evidence of
//! long-resolved incidents, and the roster data of entries that left the
//! roster (the right to be forgotten). Every purge is an audit record in
//! the same transaction.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;

use super::audit::append;
use super::db::{ms, sql};
use super::{PurgeCounts, Retention, StoreError, Ts};
use crate::audit::{kind, sha256_hex};

/// Kept bodies never exceed the fetch cap, but a decompression is bounded
/// anyway (a corrupted or planted blob must not exhaust memory).
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

pub(super) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        Compression::default(),
    );
    enc.write_all(body)?;
    enc.finish()
}

pub(super) fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(gz)
        .take(MAX_INFLATED)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Keeps `body` as the evidence of probe `probe_id`.
pub(super) fn keep(conn: &Connection, probe_id: i64, body: &[u8]) -> Result<(), StoreError> {
    let gz =
        gzip(body).map_err(|e| StoreError::Backend(format!("cannot compress evidence: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO evidence (probe_id, body_gz, sha256, size, purged_at)
         VALUES (?1, ?2, ?3, ?4, NULL)",
    )
    .and_then(|mut s| {
        s.execute(params![
            probe_id,
            gz,
            sha256_hex(body),
            i64::try_from(body.len()).unwrap_or(i64::MAX)
        ])
    })
    .map(|_| ())
    .map_err(sql)
}

/// A new exposure reset the clean count of `incident_id`: the bodies of its
/// clean probes so far will not close it, so they go (recorded).
pub(super) fn purge_not_closing(
    conn: &Connection,
    incident_id: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let ids: Vec<i64> = {
        let mut stmt = conn
            .prepare_cached(
                "UPDATE evidence SET body_gz = NULL, purged_at = ?2
                 WHERE body_gz IS NOT NULL AND probe_id IN
                     (SELECT id FROM probes WHERE incident_id = ?1 AND outcome = 'clean')
                 RETURNING probe_id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![incident_id, now_ms], |r| r.get(0))
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)?
    };
    record_purge(
        conn,
        &ids,
        now_ms,
        json!({"reason": "exposed again", "incident_id": incident_id}),
    )
}

fn record_purge(
    conn: &Connection,
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
    append(conn, kind::EVIDENCE_PURGE, "", &payload, now_ms)?;
    Ok(sorted.len() as u64)
}

fn cutoff(now: Ts, keep: std::time::Duration) -> i64 {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    ms(now).saturating_sub(keep_ms)
}

/// The periodic purge (once per daemon cycle): bodies of incidents resolved
/// more than `evidence_retention` ago (never of open incidents), then the
/// name, number and address of entries removed from the roster more than
/// `roster_retention` ago. One transaction; each non-empty purge is an
/// audit record.
pub(super) fn purge(
    conn: &mut Connection,
    now: Ts,
    r: &Retention,
) -> Result<PurgeCounts, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let now_ms = ms(now);

    let evidence_before = cutoff(now, r.evidence);
    let ids: Vec<i64> = {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE evidence SET body_gz = NULL, purged_at = ?1
                 WHERE body_gz IS NOT NULL AND EXISTS (
                     SELECT 1 FROM probes AS p JOIN incidents AS i ON i.id = p.incident_id
                     WHERE p.id = evidence.probe_id AND i.state = 'resolved'
                       AND i.resolved_at < ?2)
                 RETURNING probe_id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![now_ms, evidence_before], |r| r.get(0))
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)?
    };
    let evidence = record_purge(
        &tx,
        &ids,
        now_ms,
        json!({"reason": "retention", "resolved_before": evidence_before}),
    )?;

    let roster_before = cutoff(now, r.roster);
    let mut erased: Vec<i64> = {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE entries SET phone = NULL, name = NULL, street = NULL, house_number = NULL,
                     floor = NULL, door = NULL, postcode = NULL, city = NULL, erased_at = ?1
                 WHERE active = 0 AND erased_at IS NULL AND removed_at < ?2
                 RETURNING id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![now_ms, roster_before], |r| r.get(0))
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)?
    };
    if !erased.is_empty() {
        erased.sort_unstable();
        append(
            &tx,
            kind::ROSTER_ERASE,
            "",
            &json!({
                "reason": "removed from the roster",
                "removed_before": roster_before,
                "count": erased.len(),
                "entry_ids": erased,
            }),
            now_ms,
        )?;
    }
    tx.commit().map_err(sql)?;
    Ok(PurgeCounts {
        evidence_purged: evidence,
        entries_erased: erased.len() as u64,
    })
}

/// The kept body of a probe: `None` when none was kept or it was purged.
pub(super) fn body(conn: &Connection, probe_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let gz: Option<Option<Vec<u8>>> = conn
        .query_row(
            "SELECT body_gz FROM evidence WHERE probe_id = ?1",
            [probe_id],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql)?;
    match gz.flatten() {
        None => Ok(None),
        Some(gz) => gunzip(&gz)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("cannot decompress evidence: {e}"))),
    }
}
