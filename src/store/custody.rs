//! Custody of the roster inside the store: the report signing key kept in
//! an encrypted store (never beside it).

use super::StoreError;
use super::sql::{Conn, params};

const REPORT_KEY: &str = "report_key";
const REPORT_KEY_LEN: usize = 32;

/// The report signing key kept in the store; `create` makes one (32
/// random bytes) when there is none. `None` without `create` and without
/// a key.
pub(super) fn report_key(c: &mut dyn Conn, create: bool) -> Result<Option<Vec<u8>>, StoreError> {
    if create {
        let fresh: [u8; REPORT_KEY_LEN] = rand::random();
        adopt_report_key(c, &fresh)?;
    }
    c.query_opt(
        "SELECT value FROM meta WHERE key = ?1",
        params![REPORT_KEY],
        |r| r.bytes(0),
    )
}

/// Keeps `key` as the store's report signing key unless it has one (the
/// `report-key` file of a store that was just encrypted). True when `key`
/// is the store's key now.
pub(super) fn adopt_report_key(c: &mut dyn Conn, key: &[u8]) -> Result<bool, StoreError> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![REPORT_KEY, key],
    )?;
    let now = c.query_one(
        "SELECT value FROM meta WHERE key = ?1",
        params![REPORT_KEY],
        |r| r.bytes(0),
    )?;
    Ok(now == key)
}
