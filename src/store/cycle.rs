//! Probe cycles: a fresh random order per site and cycle, walked with
//! keyset pagination over the `probe_state_cycle` index.

use super::rows::{ENTRY_COLS, ENTRY_FIELDS, bool_col, count, entry_at};
use super::sql::{Conn, params};
use super::{CycleCursor, CycleEntry, StoreError};
use crate::domain::{Entry, EntryId};

pub(super) fn start_cycle(c: &mut dyn Conn, site: &str) -> Result<u64, StoreError> {
    let n = c.write(|tx| {
        tx.execute(
            "INSERT INTO probe_state (site, entry_id, shuffle_key)
             SELECT ?1, id, 0 FROM entries WHERE active = 1
             ON CONFLICT DO NOTHING",
            params![site],
        )?;
        shuffle(tx, site)?;
        let n = tx.query_i64("SELECT count(*) FROM entries WHERE active = 1", params![])?;
        Ok(count(n))
    })?;
    // Every key changed: the batches that walk them are planned afresh.
    if let Some(analyze) = c.dialect().analyze("probe_state") {
        c.batch(&analyze)?;
    }
    Ok(n)
}

/// Entries whose positions one UPDATE of [`shuffle`] redraws (a handful
/// in the tests, so that they cross chunks).
const SHUFFLE_CHUNK: i64 = if cfg!(test) { 7 } else { 16_384 };

/// A fresh random position for every entry of `site`, a range of entry ids
/// at a time. One UPDATE over a whole site would have SQLite collect every
/// key it changes first (it changes an indexed column), in the in-memory
/// temp store: about 30 MB at 10⁶ entries, the daemon's peak RSS. In
/// chunks the peak stays flat, and it is the same transaction.
fn shuffle(tx: &mut dyn Conn, site: &str) -> Result<(), StoreError> {
    let update = format!(
        "UPDATE probe_state SET shuffle_key = {}
         WHERE site = ?1 AND entry_id > ?2 AND entry_id <= ?3",
        tx.dialect().random_key()
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
        let upto = last.unwrap_or(i64::MAX);
        tx.execute(&update, params![site, after, upto])?;
        match last {
            Some(l) => after = l,
            None => return Ok(()),
        }
    }
}

/// The batch query. The row-value comparison after the `site` equality is
/// a range on the `probe_state_cycle (site, shuffle_key, entry_id)` index,
/// which also yields the ORDER BY: no sort, `limit` index steps per batch
/// (plus one primary-key lookup into `entries` per row). The last column
/// says whether the entry has an active dismissal on the site (one probe
/// of the `dismissals_active` index), so the engine looks the dismissed
/// listings up only for the few entries that have any, instead of one
/// store round trip per probe.
pub(super) fn batch_sql() -> String {
    format!(
        "SELECT ps.shuffle_key, e.id, {ENTRY_COLS},
             EXISTS (SELECT 1 FROM dismissals AS d
                     WHERE d.entry_id = e.id AND d.site = ?1 AND d.revoked_at IS NULL)
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
    Ok(cycle_batch_marked(c, site, after, limit)?
        .into_iter()
        .map(|b| (b.at, b.id, b.entry))
        .collect())
}

pub(super) fn cycle_batch_marked(
    c: &mut dyn Conn,
    site: &str,
    after: Option<CycleCursor>,
    limit: usize,
) -> Result<Vec<CycleEntry>, StoreError> {
    // Entry ids are positive, so (i64::MIN, i64::MIN) is before every row.
    let (key, id) = after.map_or((i64::MIN, i64::MIN), |c| (c.shuffle_key, c.entry.0));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query_map(&batch_sql(), params![site, key, id, limit], |r| {
        let entry = EntryId(r.i64(1)?);
        let at = CycleCursor {
            shuffle_key: r.i64(0)?,
            entry,
        };
        Ok(CycleEntry {
            at,
            id: entry,
            entry: entry_at(r, 2)?,
            dismissals: bool_col(r, 2 + ENTRY_FIELDS)?,
        })
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
