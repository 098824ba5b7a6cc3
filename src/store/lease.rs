//! Leases: one holder at a time for a named piece of work (a receiver's
//! deliveries, a site's prober), until an expiry the holder keeps pushing
//! forward while it works. A holder that dies stops renewing, and the
//! lease is free once it expires. Times are Unix milliseconds.

use super::rows::{ms, ts};
use super::sql::{Conn, params};
use super::{LeaseView, StoreError, Ts};

/// Takes `name` for `holder` until `now + ttl`, or renews it: succeeds
/// when nobody else holds it or their lease has expired. One statement, so
/// two takers never both win (PostgreSQL serialises the upsert on the row;
/// SQLite, the whole writer).
pub(super) fn take(
    c: &mut dyn Conn,
    name: &str,
    holder: &str,
    now: Ts,
    ttl: std::time::Duration,
) -> Result<bool, StoreError> {
    let now = ms(now);
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let n = c.write_rows(|tx| {
        tx.execute(
            "INSERT INTO leases AS l (name, holder, since, expires) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET
                 since = CASE WHEN l.holder = excluded.holder AND l.expires > ?3
                     THEN l.since ELSE excluded.since END,
                 holder = excluded.holder, expires = excluded.expires
             WHERE l.holder = excluded.holder OR l.expires <= ?3",
            params![name, holder, now, now.saturating_add(ttl)],
        )
    })?;
    Ok(n > 0)
}

/// Gives `name` up, if `holder` still has it.
pub(super) fn release(c: &mut dyn Conn, name: &str, holder: &str) -> Result<(), StoreError> {
    c.write_rows(|tx| {
        tx.execute(
            "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        )
        .map(|_| ())
    })
}

/// Gives up every lease `holder` has.
pub(super) fn release_all(c: &mut dyn Conn, holder: &str) -> Result<(), StoreError> {
    c.write_rows(|tx| {
        tx.execute("DELETE FROM leases WHERE holder = ?1", params![holder])
            .map(|_| ())
    })
}

/// Drops the leases whose name starts with `prefix`, whoever holds them.
pub(super) fn clear(c: &mut dyn Conn, prefix: &str) -> Result<(), StoreError> {
    // Names are few: matched here, so `%` or `_` in one needs no escaping.
    let names = c.query_map("SELECT name FROM leases", params![], |r| r.text(0))?;
    c.write_rows(|tx| {
        for n in names.iter().filter(|n| n.starts_with(prefix)) {
            tx.execute("DELETE FROM leases WHERE name = ?1", params![n.as_str()])?;
        }
        Ok(())
    })
}

/// Leases whose name starts with `prefix` and that have not expired at
/// `now`, by name.
pub(super) fn current(
    c: &mut dyn Conn,
    prefix: &str,
    now: Ts,
) -> Result<Vec<LeaseView>, StoreError> {
    // Few rows (one per site and receiver): filtered here, so a name
    // holding `%` or `_` needs no escaping.
    let all = c.query_map(
        "SELECT name, holder, since, expires FROM leases WHERE expires > ?1 ORDER BY name",
        params![ms(now)],
        |r| {
            Ok(LeaseView {
                name: r.text(0)?,
                holder: r.text(1)?,
                since: ts(r, 2)?,
                expires: ts(r, 3)?,
            })
        },
    )?;
    Ok(all
        .into_iter()
        .filter(|l| l.name.starts_with(prefix))
        .collect())
}
