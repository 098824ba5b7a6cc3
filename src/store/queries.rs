//! Read-side queries: entries, incidents, history, coverage, and the
//! pseudonym key.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::db::{
    ENTRY_COLS, count, entry_at, exposed_col, masked_col, ms, opt_ts, sql, ts, u16_col,
};
use super::{IncidentView, ProbeView, ReloadRecord, SiteCoverage, StoreError, Ts};
use crate::domain::incident::IncidentState;
use crate::domain::{Entry, EntryId, OutcomeKind};

const PSEUDONYM_KEY: &str = "pseudonym_key";
const PSEUDONYM_KEY_LEN: usize = 32;

/// How many recent outcomes `site_coverage` returns.
const RECENT: i64 = 50;

pub(super) fn pseudonym_key(conn: &mut Connection) -> Result<Vec<u8>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let fresh: [u8; PSEUDONYM_KEY_LEN] = rand::random();
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![PSEUDONYM_KEY, &fresh[..]],
    )
    .map_err(sql)?;
    let key: Vec<u8> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [PSEUDONYM_KEY],
            |r| r.get(0),
        )
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    if key.len() != PSEUDONYM_KEY_LEN {
        return Err(StoreError::Corrupt(
            "stored pseudonym key has the wrong length".into(),
        ));
    }
    Ok(key)
}

const LAST_RELOAD: &str = "last_reload";

pub(super) fn set_last_reload(
    conn: &Connection,
    r: Option<&ReloadRecord>,
) -> Result<(), StoreError> {
    let Some(r) = r else {
        conn.execute("DELETE FROM meta WHERE key = ?1", [LAST_RELOAD])
            .map_err(sql)?;
        return Ok(());
    };
    let value = serde_json::json!({
        "time": ms(r.time), "ok": r.ok, "error": r.error, "needs_restart": r.needs_restart,
    })
    .to_string();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![LAST_RELOAD, value],
    )
    .map_err(sql)?;
    Ok(())
}

pub(super) fn last_reload(conn: &Connection) -> Result<Option<ReloadRecord>, StoreError> {
    let Some(text) = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [LAST_RELOAD],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(sql)?
    else {
        return Ok(None);
    };
    let bad = || StoreError::Corrupt("stored last_reload".into());
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
    let time = v["time"]
        .as_i64()
        .and_then(|t| Ts::from_unix_timestamp_nanos(i128::from(t) * 1_000_000).ok())
        .ok_or_else(bad)?;
    Ok(Some(ReloadRecord {
        time,
        ok: v["ok"].as_bool().ok_or_else(bad)?,
        error: v["error"].as_str().map(str::to_owned),
        needs_restart: v["needs_restart"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

pub(super) fn roster_size(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row("SELECT count(*) FROM entries WHERE active = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(count)
    .map_err(sql)
}

pub(super) fn entry_by_ref(
    conn: &Connection,
    entry_ref: &str,
) -> Result<Option<(EntryId, Entry)>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT e.id, {ENTRY_COLS} FROM entries AS e WHERE e.ref = ?1 AND e.erased_at IS NULL"
    ))
    .and_then(|mut s| {
        s.query_row([entry_ref], |r| Ok((EntryId(r.get(0)?), entry_at(r, 1)?)))
            .optional()
    })
    .map_err(sql)
}

pub(super) fn entry_by_number_hmac(
    conn: &Connection,
    hmac: &str,
) -> Result<Option<(EntryId, Entry)>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT e.id, {ENTRY_COLS} FROM entries AS e
         WHERE e.phone_hmac = ?1 AND e.active = 1 ORDER BY e.id LIMIT 1"
    ))
    .and_then(|mut s| {
        s.query_row([hmac], |r| Ok((EntryId(r.get(0)?), entry_at(r, 1)?)))
            .optional()
    })
    .map_err(sql)
}

pub(super) fn incidents(
    conn: &Connection,
    open_only: bool,
) -> Result<Vec<IncidentView>, StoreError> {
    let filter = if open_only {
        "WHERE i.state != 'resolved'"
    } else {
        ""
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen,
                 i.last_seen, i.resolved_at
             FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
             {filter}
             ORDER BY i.first_seen, i.id"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(IncidentView {
                id: r.get(0)?,
                site: r.get(1)?,
                entry_ref: r.get(2)?,
                masked_number: masked_col(r, 3)?,
                exposed: exposed_col(r, 4)?,
                state: state_col(r, 5)?,
                first_seen: ts(r, 6)?,
                last_seen: ts(r, 7)?,
                resolved_at: opt_ts(r, 8)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

pub(super) fn state_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<IncidentState> {
    let s: String = r.get(idx)?;
    IncidentState::parse(&s).ok_or_else(|| super::db::corrupt(idx, "incident state"))
}

fn outcome_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<OutcomeKind> {
    let s: String = r.get(idx)?;
    OutcomeKind::parse(&s).ok_or_else(|| super::db::corrupt(idx, "outcome"))
}

pub(super) fn open_incident_count(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM incidents WHERE state != 'resolved'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(count)
    .map_err(sql)
}

pub(super) fn history(
    conn: &Connection,
    entry_ref: &str,
) -> Result<Option<Vec<ProbeView>>, StoreError> {
    let id: Option<i64> = conn
        .query_row("SELECT id FROM entries WHERE ref = ?1", [entry_ref], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    let Some(id) = id else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT time, site, outcome, http_status, page_sha256, reason, why
             FROM probes WHERE entry_id = ?1 ORDER BY time, id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([id], |r| {
            Ok(ProbeView {
                time: ts(r, 0)?,
                site: r.get(1)?,
                outcome: outcome_col(r, 2)?,
                http_status: u16_col(r, 3)?,
                page_sha256: r.get(4)?,
                reason: r.get(5)?,
                why: r
                    .get::<_, Option<String>>(6)?
                    .map(|w| {
                        w.split(',')
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map(Some).map_err(sql)
}

/// One pass over the active entries (the covering `entries_active (active,
/// added_at)` index), each with a primary-key lookup into probe_state.
pub(super) const COVERAGE_SQL: &str = "
    SELECT min(coalesce(ps.last_conclusive_at, e.added_at)),
           count(*) FILTER (WHERE ps.last_conclusive_at IS NULL)
    FROM entries AS e
    LEFT JOIN probe_state AS ps ON ps.site = ?1 AND ps.entry_id = e.id
    WHERE e.active = 1";

/// The roster-wide part of a site's coverage: the oldest conclusive probe
/// (or addition) time and how many active entries were never probed
/// conclusively. It reads every active entry, so callers may cache it.
pub(super) fn coverage_scan(
    conn: &Connection,
    site: &str,
) -> Result<(Option<i64>, i64), StoreError> {
    conn.query_row(COVERAGE_SQL, [site], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql)
}

pub(super) fn site_coverage(
    conn: &Connection,
    site: &str,
    now: Ts,
    scan: (Option<i64>, i64),
) -> Result<SiteCoverage, StoreError> {
    let (oldest, never) = scan;
    let oldest_probe_age = oldest.map(|t| {
        let age_ms = ms(now).saturating_sub(t).max(0);
        Duration::from_millis(u64::try_from(age_ms).unwrap_or(0))
    });

    let (total, conclusive): (i64, i64) = conn
        .query_row(
            "SELECT probes_total, probes_conclusive FROM site_stats WHERE site = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?
        .unwrap_or((0, 0));

    let mut stmt = conn
        .prepare_cached(
            "SELECT outcome FROM probes WHERE site = ?1 ORDER BY time DESC, id DESC LIMIT ?2",
        )
        .map_err(sql)?;
    let recent = stmt
        .query_map(params![site, RECENT], |r| outcome_col(r, 0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;

    Ok(SiteCoverage {
        oldest_probe_age,
        never_probed: count(never),
        probes_total: count(total),
        probes_conclusive: count(conclusive),
        recent,
    })
}
