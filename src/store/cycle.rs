//! Probe cycles: a fresh random order per site and cycle, risk entries
//! first, walked with keyset pagination over the `probe_state_cycle`
//! index; and the escalation queue that puts an exposed entry's cohort and
//! import batch ahead of the cycle (the scheduler decides how much of the
//! budget it gets).

use super::rows::{ENTRY_COLS, count, entry_at, ms};
use super::sql::{Conn, Param, params};
use super::{CycleCursor, StoreError, Ts};
use crate::domain::{Entry, EntryId};

/// Half the key space: the rest of a cycle takes keys in `[0, 2^62)`,
/// risk entries in `[-2^62, 0)`, so they come first.
const HALF: i64 = 1 << 62;

/// How long an exposure keeps an entry among the risk entries.
pub(super) const RISK_WINDOW: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Entries whose positions one UPDATE of [`shuffle`] redraws (fewer in
/// the tests, so that they cross chunks).
const SHUFFLE_CHUNK: i64 = if cfg!(test) { 64 } else { 16_384 };

/// A fresh random key in `[0, 2^62)` for every entry of `site`, a range of
/// entry ids at a time. One UPDATE over a whole site would have SQLite
/// collect every key it changes first (it changes an indexed column), in
/// the in-memory temp store: about 30 MB at 10⁶ entries, the daemon's
/// peak RSS. In chunks the peak stays flat, and it is the same
/// transaction.
fn shuffle(tx: &mut dyn Conn, site: &str) -> Result<(), StoreError> {
    let half = HALF.to_string();
    let draw = format!(
        "UPDATE probe_state SET shuffle_key = {}
         WHERE site = ?1 AND entry_id > ?2 AND entry_id <= ?3",
        tx.dialect().random_below(&half)
    );
    let mut after = i64::MIN;
    loop {
        // The chunk's last id: SHUFFLE_CHUNK steps along the primary key.
        let last = tx.query_opt(
            "SELECT entry_id FROM probe_state WHERE site = ?1 AND entry_id > ?2
             ORDER BY entry_id LIMIT 1 OFFSET ?3",
            params![site, after, SHUFFLE_CHUNK - 1],
            |r| r.i64(0),
        )?;
        tx.execute(&draw, params![site, after, last.unwrap_or(i64::MAX)])?;
        match last {
            Some(l) => after = l,
            None => return Ok(()),
        }
    }
}

/// A new cycle on `site`: every active entry gets a fresh random key, the
/// risk entries (added or changed by the last import, or exposed within
/// [`RISK_WINDOW`] or still) one below every other. Returns the number of
/// entries in the cycle and how many of them are risk entries.
pub(super) fn start_cycle(c: &mut dyn Conn, site: &str, now: Ts) -> Result<(u64, u64), StoreError> {
    let recent = ms(now).saturating_sub(i64::try_from(RISK_WINDOW.as_millis()).unwrap_or(0));
    let n = c.write(|tx| {
        // Where the cycle stands is derived from this instant (see
        // `resume_point`), written with the shuffle it dates.
        tx.execute(
            "INSERT INTO site_cycle (site, started_at, done) VALUES (?1, ?2, 0)
             ON CONFLICT (site) DO UPDATE SET started_at = excluded.started_at, done = 0",
            params![site, ms(now)],
        )?;
        tx.execute(
            "INSERT INTO probe_state (site, entry_id, shuffle_key)
             SELECT ?1, id, 0 FROM entries WHERE active = 1
             ON CONFLICT DO NOTHING",
            params![site],
        )?;
        shuffle(tx, site)?;
        // Risk entries are few once their import has been cycled through
        // (after a fresh import, every entry is one), so one UPDATE does.
        let risk = tx.execute(
            &format!(
                "UPDATE probe_state SET shuffle_key = shuffle_key - {HALF}
                 WHERE site = ?1 AND entry_id IN (
                     SELECT id FROM entries
                     WHERE active = 1 AND updated_at = (SELECT max(updated_at) FROM entries)
                     UNION
                     SELECT entry_id FROM incidents
                     WHERE resolved_at IS NULL OR last_seen >= ?2)"
            ),
            params![site, recent],
        )?;
        // Entries that left the roster leave the escalation queue too.
        tx.execute(
            "DELETE FROM escalations WHERE site = ?1
             AND entry_id IN (SELECT id FROM entries WHERE active = 0)",
            params![site],
        )?;
        let n = tx.query_i64("SELECT count(*) FROM entries WHERE active = 1", params![])?;
        Ok((count(n), risk))
    })?;
    // Every key changed: the batches that walk them are planned afresh.
    if let Some(analyze) = c.dialect().analyze("probe_state") {
        c.batch(&analyze)?;
    }
    Ok(n)
}

/// The batch query. The row-value comparison after the `site` equality is
/// a range on the `probe_state_cycle (site, shuffle_key, entry_id)` index,
/// which also yields the ORDER BY: no sort, `limit` index steps per batch
/// (plus one primary-key lookup into `entries` per row).
pub(super) fn batch_sql() -> String {
    format!(
        "SELECT ps.shuffle_key, e.id, {ENTRY_COLS}
         FROM probe_state AS ps JOIN entries AS e ON e.id = ps.entry_id
         WHERE ps.site = ?1 AND (ps.shuffle_key, ps.entry_id) > (?2, ?3) AND e.active = 1
         ORDER BY ps.shuffle_key, ps.entry_id
         LIMIT ?4"
    )
}

pub(super) fn cycle_batch(
    c: &mut dyn Conn,
    site: &str,
    after: Option<CycleCursor>,
    limit: usize,
) -> Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError> {
    // Entry ids are positive, so (i64::MIN, i64::MIN) is before every row.
    let (key, id) = after.map_or((i64::MIN, i64::MIN), |c| (c.shuffle_key, c.entry.0));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query_map(&batch_sql(), params![site, key, id, limit], |r| {
        let entry = EntryId(r.i64(1)?);
        let cursor = CycleCursor {
            shuffle_key: r.i64(0)?,
            entry,
        };
        Ok((cursor, entry, entry_at(r, 2)?))
    })
}

/// How far past the cursor joined entries are spread: wide enough to keep
/// their order random, narrow enough (against 2^64 keys) that they come
/// before the rest of the cycle.
const JOIN_SPREAD: i64 = 1 << 20;

/// Brings the active entries this cycle would miss, or reach late, into
/// its front: new ones (no position on `site` yet), and those added or
/// changed since the cycle began (`since`) and not probed since, wherever
/// they are. They go to random positions just after `after`, so they are
/// probed next rather than when the walk gets to them or a cycle later.
pub(super) fn join_cycle(
    c: &mut dyn Conn,
    site: &str,
    after: CycleCursor,
    since: Ts,
) -> Result<u64, StoreError> {
    let lo = after.shuffle_key.saturating_add(1);
    let spread = JOIN_SPREAD.min(i64::MAX.saturating_sub(lo)).max(1);
    c.write(|tx| {
        let join = format!(
            "INSERT INTO probe_state (site, entry_id, shuffle_key)
             SELECT ?1, e.id, ?2 + {}
             FROM entries AS e
             LEFT JOIN probe_state AS ps ON ps.site = ?1 AND ps.entry_id = e.id
             WHERE e.active = 1 AND (ps.entry_id IS NULL
                 OR (e.updated_at >= ?4
                     AND (ps.last_probe_at IS NULL OR ps.last_probe_at < e.updated_at)))
             ON CONFLICT (site, entry_id) DO UPDATE SET shuffle_key = excluded.shuffle_key",
            tx.dialect().random_below("?3")
        );
        tx.execute(&join, params![site, lo, spread, ms(since)])
    })
}

/// What changes when an import adds or changes entries: the newest
/// `updated_at` of the roster (removals count too).
pub(super) fn roster_mark(c: &mut dyn Conn) -> Result<i64, StoreError> {
    c.query_i64(
        "SELECT coalesce(max(updated_at), 0) FROM entries",
        params![],
    )
}

/// Queues, on each of `sites`, the other active entries of `entry`'s
/// cohort and of its import batch (the entries the same import added or
/// changed, unless that was the roster's first import: then the batch is
/// the roster, which the sweep covers). On the site that saw the exposure
/// the entry itself is left out; on the others it is queued too. A cause
/// queued on a site within `quiet` is not queued there again. Returns the
/// rows queued.
pub(super) fn escalate(
    c: &mut dyn Conn,
    entry: EntryId,
    exposed_on: &str,
    sites: &[String],
    now: Ts,
    quiet: std::time::Duration,
) -> Result<u64, StoreError> {
    let recent = ms(now).saturating_sub(i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX));
    let Some((cohort, batch)) = c.query_opt(
        "SELECT cohort, updated_at FROM entries WHERE id = ?1",
        params![entry.0],
        |r| Ok((r.opt_text(0)?, r.i64(1)?)),
    )?
    else {
        return Ok(0);
    };
    let first_import = c.query_i64(
        "SELECT coalesce(min(added_at), 0) FROM entries WHERE active = 1",
        params![],
    )?;
    let mut causes: Vec<(String, &str, Param<'_>)> = Vec::new();
    if let Some(tag) = cohort.as_deref() {
        causes.push((format!("cohort:{tag}"), "e.cohort = ?5", Param::Text(tag)));
    }
    if batch > first_import {
        causes.push((
            format!("batch:{batch}"),
            "e.updated_at = ?5",
            Param::Int(batch),
        ));
    }
    // Most exposures of a mass leak find their cause queued already: that
    // is read without a write transaction (no commit per exposure).
    let mut todo: Vec<(&String, &(String, &str, Param<'_>))> = Vec::new();
    for site in sites {
        for cause in &causes {
            if !queued_since(c, site, &cause.0, recent)? {
                todo.push((site, cause));
            }
        }
    }
    if todo.is_empty() {
        return Ok(0);
    }
    c.write(|tx| {
        let key = tx.dialect().random_key();
        let mut queued = 0;
        for (site, (cause, filter, value)) in todo {
            // Checked again inside the transaction: another scheduler may
            // have queued it meanwhile.
            if queued_since(tx, site, cause, recent)? {
                continue;
            }
            tx.execute(
                "INSERT INTO escalation_causes (site, cause, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (site, cause) DO UPDATE SET at = excluded.at",
                params![site, cause, ms(now)],
            )?;
            let insert = format!(
                "INSERT INTO escalations (site, entry_id, cause, sort_key, since)
                 SELECT ?1, e.id, ?2, {key}, ?3 FROM entries AS e
                 WHERE e.active = 1 AND {filter} AND NOT (e.id = ?4 AND ?1 = ?6)
                 ON CONFLICT (site, entry_id) DO NOTHING"
            );
            queued += tx.execute(
                &insert,
                &[
                    Param::Text(site),
                    Param::Text(cause),
                    Param::Int(ms(now)),
                    Param::Int(entry.0),
                    *value,
                    Param::Text(exposed_on),
                ],
            )?;
        }
        Ok(queued)
    })
}

/// Whether `cause` was queued on `site` at or after `since` (Unix ms).
fn queued_since(c: &mut dyn Conn, site: &str, cause: &str, since: i64) -> Result<bool, StoreError> {
    Ok(c.query_opt(
        "SELECT 1 FROM escalation_causes WHERE site = ?1 AND cause = ?2 AND at >= ?3",
        params![site, cause, since],
        |_| Ok(()),
    )?
    .is_some())
}

/// The next `limit` queued escalations of `site` (active entries only).
pub(super) fn escalated(
    c: &mut dyn Conn,
    site: &str,
    limit: usize,
) -> Result<Vec<(EntryId, Entry)>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query_map(
        &format!(
            "SELECT e.id, {ENTRY_COLS}
             FROM escalations AS x JOIN entries AS e ON e.id = x.entry_id
             WHERE x.site = ?1 AND e.active = 1
             ORDER BY x.sort_key, x.entry_id
             LIMIT ?2"
        ),
        params![site, limit],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
}

/// The roster batch query. `+e.active` keeps it a range on the primary
/// key, `limit` rows per batch: SQLite keeps no statistics here, so it
/// would otherwise take the `entries_active` index for the equality and
/// sort every active entry for each batch (at 10⁶ entries, most of a
/// pass's time).
pub(super) fn roster_batch_sql() -> String {
    format!(
        "SELECT e.id, {ENTRY_COLS} FROM entries AS e
         WHERE e.id > ?1 AND +e.active = 1
         ORDER BY e.id LIMIT ?2"
    )
}

/// Active entries after `after`, by id: `scan --once`'s pass over the
/// roster, which leaves every site's cycle order (a daemon's walk) as it is.
pub(super) fn roster_batch(
    c: &mut dyn Conn,
    after: Option<EntryId>,
    limit: usize,
) -> Result<Vec<(EntryId, Entry)>, StoreError> {
    c.query_map(
        &roster_batch_sql(),
        params![
            after.map_or(0, |a| a.0),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
}

/// The entry has been probed on `site`: its escalation is done.
pub(super) fn escalation_done(
    c: &mut dyn Conn,
    site: &str,
    entry: EntryId,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM escalations WHERE site = ?1 AND entry_id = ?2",
        params![site, entry.0],
    )
    .map(|_| ())
}

/// Escalations still queued on `site`.
pub(super) fn escalations_pending(c: &mut dyn Conn, site: &str) -> Result<u64, StoreError> {
    c.query_i64(
        "SELECT count(*) FROM escalations AS x JOIN entries AS e ON e.id = x.entry_id
         WHERE x.site = ?1 AND e.active = 1",
        params![site],
    )
    .map(count)
}

/// Marks `site`'s current cycle complete: whoever schedules the site next
/// starts a fresh one.
pub(super) fn finish_cycle(c: &mut dyn Conn, site: &str) -> Result<(), StoreError> {
    c.write_rows(|tx| {
        tx.execute(
            "UPDATE site_cycle SET done = 1 WHERE site = ?1",
            params![site],
        )
        .map(|_| ())
    })
}

/// Where an unfinished cycle of `site` continues: just before the first
/// active entry, in cycle order, not probed since the cycle started.
/// `None` when no cycle is under way (never started, finished, or every
/// entry probed): then a fresh one starts. With the cursor, when the
/// cycle started.
pub(super) fn resume_point(
    c: &mut dyn Conn,
    site: &str,
) -> Result<Option<(CycleCursor, Ts)>, StoreError> {
    c.snapshot(|tx| {
        let Some(started) = tx.query_opt(
            "SELECT started_at FROM site_cycle WHERE site = ?1 AND done = 0",
            params![site],
            |r| r.i64(0),
        )?
        else {
            return Ok(None);
        };
        let began = super::rows::ts_at(started, 0)?;
        // The `probe_state_cycle` index gives the order; the scan stops at
        // the first row not probed since, so it reads what the cycle did.
        tx.query_opt(
            "SELECT ps.shuffle_key, ps.entry_id
             FROM probe_state AS ps JOIN entries AS e ON e.id = ps.entry_id
             WHERE ps.site = ?1 AND e.active = 1
                 AND (ps.last_probe_at IS NULL OR ps.last_probe_at < ?2)
             ORDER BY ps.shuffle_key, ps.entry_id
             LIMIT 1",
            params![site, started],
            |r| {
                // Ids are integers: nothing sorts between (key, id - 1) and
                // (key, id), so continuing after the former starts here.
                let at = CycleCursor {
                    shuffle_key: r.i64(0)?,
                    entry: EntryId(r.i64(1)?.saturating_sub(1)),
                };
                Ok((at, began))
            },
        )
    })
}
