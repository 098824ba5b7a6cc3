//! Probe cycles: a fresh random order per site and cycle, walked with
//! keyset pagination over the `probe_state_cycle` index.

use super::rows::{ENTRY_COLS, count, entry_at};
use super::sql::{Conn, params};
use super::{CycleCursor, StoreError};
use crate::domain::{Entry, EntryId};

pub(super) fn start_cycle(c: &mut dyn Conn, site: &str, now: i64) -> Result<u64, StoreError> {
    let n = c.write(|tx| {
        // Where the cycle stands is derived from this instant (see
        // `resume_point`), written with the shuffle it dates.
        tx.execute(
            "INSERT INTO site_cycle (site, started_at, done) VALUES (?1, ?2, 0)
             ON CONFLICT (site) DO UPDATE SET started_at = excluded.started_at, done = 0",
            params![site, now],
        )?;
        tx.execute(
            "INSERT INTO probe_state (site, entry_id, shuffle_key)
             SELECT ?1, id, 0 FROM entries WHERE active = 1
             ON CONFLICT DO NOTHING",
            params![site],
        )?;
        let shuffle = format!(
            "UPDATE probe_state SET shuffle_key = {} WHERE site = ?1",
            tx.dialect().random_key()
        );
        tx.execute(&shuffle, params![site])?;
        let n = tx.query_i64("SELECT count(*) FROM entries WHERE active = 1", params![])?;
        Ok(count(n))
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

/// Brings the active entries this cycle would miss into its rest: new ones
/// (no position on `site` yet), and those behind `after` not probed since
/// they (re)joined the roster or changed. They go to random positions just
/// after `after`, so they are probed next rather than a cycle later.
/// Entries still ahead of `after` are left where they are: the cycle gets
/// to them, and reads them fresh when it does.
pub(super) fn join_cycle(
    c: &mut dyn Conn,
    site: &str,
    after: CycleCursor,
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
                 OR ((ps.shuffle_key, ps.entry_id) <= (?4, ?5)
                     AND (ps.last_probe_at IS NULL OR ps.last_probe_at < e.updated_at)))
             ON CONFLICT (site, entry_id) DO UPDATE SET shuffle_key = excluded.shuffle_key",
            tx.dialect().random_below("?3")
        );
        tx.execute(
            &join,
            params![site, lo, spread, after.shuffle_key, after.entry.0],
        )
    })
}

/// Active entries after `after`, by id: a one-off pass over the roster
/// (`scan --once`) that leaves every site's cycle order as it is.
pub(super) fn roster_batch(
    c: &mut dyn Conn,
    after: Option<EntryId>,
    limit: usize,
) -> Result<Vec<(EntryId, Entry)>, StoreError> {
    c.query_map(
        &format!(
            "SELECT e.id, {ENTRY_COLS} FROM entries AS e
             WHERE e.id > ?1 AND e.active = 1
             ORDER BY e.id LIMIT ?2"
        ),
        params![
            after.map_or(0, |a| a.0),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| Ok((EntryId(r.i64(0)?), entry_at(r, 1)?)),
    )
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
/// entry probed): then a fresh one starts.
pub(super) fn resume_point(
    c: &mut dyn Conn,
    site: &str,
) -> Result<Option<CycleCursor>, StoreError> {
    c.snapshot(|tx| {
        let Some(started) = tx.query_opt(
            "SELECT started_at FROM site_cycle WHERE site = ?1 AND done = 0",
            params![site],
            |r| r.i64(0),
        )?
        else {
            return Ok(None);
        };
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
                Ok(CycleCursor {
                    shuffle_key: r.i64(0)?,
                    entry: EntryId(r.i64(1)?.saturating_sub(1)),
                })
            },
        )
    })
}
