//! Read-side queries: entries, incidents, history, coverage; and the small
//! `meta` values (pseudonym key, last reload, heartbeat).

use std::time::Duration;

use super::rows::{
    ENTRY_COLS, count, entry_at, exposed_col, masked_col, ms, opt_ts, outcome_col, state_col, ts,
    ts_at, u16_col,
};
use super::sql::{Conn, Row, params};
use super::{IncidentView, ProbeView, ReloadRecord, SiteCoverage, StoreError, Ts};
use crate::domain::{Entry, EntryId};

const PSEUDONYM_KEY: &str = "pseudonym_key";
const PSEUDONYM_KEY_LEN: usize = 32;

/// How many recent outcomes `site_coverage` returns.
const RECENT: i64 = 50;

const META_VALUE: &str = "SELECT value FROM meta WHERE key = ?1";

pub(super) fn pseudonym_key(c: &mut dyn Conn) -> Result<Vec<u8>, StoreError> {
    let fresh: [u8; PSEUDONYM_KEY_LEN] = rand::random();
    // The first caller's key wins, on any number of hosts.
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![PSEUDONYM_KEY, &fresh[..]],
    )?;
    let key = c.query_one(META_VALUE, params![PSEUDONYM_KEY], |r| r.bytes(0))?;
    if key.len() != PSEUDONYM_KEY_LEN {
        return Err(StoreError::Corrupt(
            "stored pseudonym key has the wrong length".into(),
        ));
    }
    Ok(key)
}

fn set_meta(c: &mut dyn Conn, key: &str, value: &[u8]) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
}

/// Proves the store is writable (for `/healthz`): a tiny durable write.
pub(super) fn ping_write(c: &mut dyn Conn) -> Result<(), StoreError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    set_meta(c, "heartbeat", now.as_bytes())
}

const LAST_RELOAD: &str = "last_reload";

pub(super) fn set_last_reload(
    c: &mut dyn Conn,
    r: Option<&ReloadRecord>,
) -> Result<(), StoreError> {
    let Some(r) = r else {
        c.execute("DELETE FROM meta WHERE key = ?1", params![LAST_RELOAD])?;
        return Ok(());
    };
    let value = serde_json::json!({
        "time": ms(r.time), "ok": r.ok, "error": r.error, "needs_restart": r.needs_restart,
    })
    .to_string();
    set_meta(c, LAST_RELOAD, value.as_bytes())
}

pub(super) fn last_reload(c: &mut dyn Conn) -> Result<Option<ReloadRecord>, StoreError> {
    let Some(bytes) = c.query_opt(META_VALUE, params![LAST_RELOAD], |r| r.bytes(0))? else {
        return Ok(None);
    };
    let bad = || StoreError::Corrupt("stored last_reload".into());
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let time = v["time"]
        .as_i64()
        .and_then(|t| ts_at(t, 0).ok())
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

pub(super) fn roster_size(c: &mut dyn Conn) -> Result<u64, StoreError> {
    c.query_i64("SELECT count(*) FROM entries WHERE active = 1", params![])
        .map(count)
}

pub(super) fn entry_by_ref(
    c: &mut dyn Conn,
    entry_ref: &str,
) -> Result<Option<(EntryId, Entry)>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT e.id, {ENTRY_COLS} FROM entries AS e WHERE e.ref = ?1 AND e.erased_at IS NULL"
        ),
        params![entry_ref],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
}

pub(super) fn entry_by_number_hmac(
    c: &mut dyn Conn,
    hmac: &str,
) -> Result<Option<(EntryId, Entry)>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT e.id, {ENTRY_COLS} FROM entries AS e
             WHERE e.phone_hmac = ?1 AND e.active = 1 ORDER BY e.id LIMIT 1"
        ),
        params![hmac],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
}

pub(super) fn incidents(
    c: &mut dyn Conn,
    open_only: bool,
) -> Result<Vec<IncidentView>, StoreError> {
    c.query_map(
        "SELECT i.id, i.site, e.ref, e.phone, i.exposed, i.state, i.first_seen,
             i.last_seen, i.resolved_at
         FROM incidents AS i JOIN entries AS e ON e.id = i.entry_id
         WHERE ?1 = 0 OR i.state IN ('open', 'acknowledged')
         ORDER BY i.first_seen, i.id",
        params![open_only],
        incident_row,
    )
}

/// An incident from `id, site, ref, phone, exposed, state, first_seen,
/// last_seen, resolved_at`.
pub(super) fn incident_row(r: &dyn Row) -> Result<IncidentView, StoreError> {
    Ok(IncidentView {
        id: r.text(0)?,
        site: r.text(1)?,
        entry_ref: r.text(2)?,
        masked_number: masked_col(r, 3)?,
        exposed: exposed_col(r, 4)?,
        state: state_col(r, 5)?,
        first_seen: ts(r, 6)?,
        last_seen: ts(r, 7)?,
        resolved_at: opt_ts(r, 8)?,
    })
}

pub(super) fn open_incident_count(c: &mut dyn Conn) -> Result<u64, StoreError> {
    c.query_i64(
        "SELECT count(*) FROM incidents WHERE state IN ('open', 'acknowledged')",
        params![],
    )
    .map(count)
}

pub(super) fn history(
    c: &mut dyn Conn,
    entry_ref: &str,
) -> Result<Option<Vec<ProbeView>>, StoreError> {
    let id = c.query_opt(
        "SELECT id FROM entries WHERE ref = ?1",
        params![entry_ref],
        |r| r.i64(0),
    )?;
    let Some(id) = id else {
        return Ok(None);
    };
    c.query_map(
        "SELECT time, site, outcome, http_status, page_sha256, reason, why
         FROM probes WHERE entry_id = ?1 ORDER BY time, id",
        params![id],
        probe_row,
    )
    .map(Some)
}

/// A probe from `time, site, outcome, http_status, page_sha256, reason, why`.
pub(super) fn probe_row(r: &dyn Row) -> Result<ProbeView, StoreError> {
    Ok(ProbeView {
        time: ts(r, 0)?,
        site: r.text(1)?,
        outcome: outcome_col(r, 2)?,
        http_status: u16_col(r, 3)?,
        page_sha256: r.opt_text(4)?,
        reason: r.opt_text(5)?,
        why: r
            .opt_text(6)?
            .map(|w| {
                w.split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
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
    c: &mut dyn Conn,
    site: &str,
) -> Result<(Option<i64>, i64), StoreError> {
    c.query_one(COVERAGE_SQL, params![site], |r| {
        Ok((r.opt_i64(0)?, r.i64(1)?))
    })
}

pub(super) fn site_coverage(
    c: &mut dyn Conn,
    site: &str,
    now: Ts,
    scan: (Option<i64>, i64),
) -> Result<SiteCoverage, StoreError> {
    let (oldest, never) = scan;
    let oldest_probe_age = oldest.map(|t| {
        let age_ms = ms(now).saturating_sub(t).max(0);
        Duration::from_millis(u64::try_from(age_ms).unwrap_or(0))
    });
    let (total, conclusive) = c
        .query_opt(
            "SELECT probes_total, probes_conclusive FROM site_stats WHERE site = ?1",
            params![site],
            |r| Ok((r.i64(0)?, r.i64(1)?)),
        )?
        .unwrap_or((0, 0));
    let recent = c.query_map(
        "SELECT outcome FROM probes WHERE site = ?1 ORDER BY time DESC, id DESC LIMIT ?2",
        params![site, RECENT],
        |r| outcome_col(r, 0),
    )?;
    Ok(SiteCoverage {
        oldest_probe_age,
        never_probed: count(never),
        probes_total: count(total),
        probes_conclusive: count(conclusive),
        recent,
    })
}
