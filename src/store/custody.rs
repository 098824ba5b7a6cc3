//! Custody of the roster inside the store: erasure that erases (a
//! data-subject request, or `roster_retention` after removal), and the
//! report signing key kept in an encrypted store (never beside it).

use serde_json::json;

use super::audit::append;
use super::events::insert_event;
use super::evidence::{purge_resolved, record_purge};
use super::rows::{ms, ms_before};
use super::sql::{Conn, params};
use super::{PurgeCounts, Retention, StoreError, Ts};
use crate::audit::{kind, redact_url};
use crate::domain::incident::{EventType, IncidentState};
use crate::domain::route::Routes;

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

/// Why entries are erased, as the trail records it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Why<'a> {
    /// `unlistd erase`: a data-subject request, with who and why.
    Request { reason: &'a str, actor: &'a str },
    /// `[store] roster_retention` passed since their removal.
    Retention { removed_before: i64 },
}

/// What erasing did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Erased {
    pub(super) entries: u64,
    pub(super) incidents_withdrawn: Vec<String>,
    pub(super) pages_purged: u64,
}

/// A random value shaped like the keyed hashes it replaces (64 hex digits).
fn random_hash() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Erases entries `ids` inside the caller's writer transaction: their
/// number, name and address; their keyed hash (replaced by a random value,
/// so a guessed number can no longer be confirmed against it); the
/// fingerprints of the listings their probes matched; the kept pages of
/// their probes; and any stored request of theirs written before requests
/// were stored redacted. Their open incidents end `withdrawn`, each
/// announced as `exposure.resolved` with that state (a pager closes its
/// alert; the receiver reads why). Each step is an audit record.
pub(super) fn erase_in_tx(
    tx: &mut dyn Conn,
    ids: &[i64],
    now_ms: i64,
    why: Why<'_>,
    routes: &Routes,
) -> Result<Erased, StoreError> {
    let mut done = Erased::default();
    if ids.is_empty() {
        return Ok(done);
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut purged = Vec::new();
    for &id in &sorted {
        done.incidents_withdrawn
            .extend(withdraw_incidents(tx, id, now_ms, routes)?);
        purged.extend(tx.query_map(
            "UPDATE evidence SET body_gz = NULL, purged_at = ?2
             WHERE body_gz IS NOT NULL
               AND probe_id IN (SELECT id FROM probes WHERE entry_id = ?1)
             RETURNING probe_id",
            params![id, now_ms],
            |r| r.i64(0),
        )?);
        redact_legacy_requests(tx, id)?;
        forget_fingerprints(tx, id)?;
        tx.execute(
            "UPDATE entries SET phone = NULL, name = NULL, street = NULL, house_number = NULL,
                 floor = NULL, door = NULL, postcode = NULL, city = NULL, phone_hmac = ?3,
                 active = 0, removed_at = coalesce(removed_at, ?2), erased_at = ?2
             WHERE id = ?1",
            params![id, now_ms, random_hash()],
        )?;
    }
    done.entries = sorted.len() as u64;
    done.pages_purged = record_purge(
        tx,
        &purged,
        now_ms,
        json!({"reason": "entries erased", "entry_ids": sorted}),
    )?;
    let mut payload = json!({
        "count": sorted.len(),
        "entry_ids": sorted,
        "incidents_withdrawn": done.incidents_withdrawn,
        "pages_purged": done.pages_purged,
    });
    match why {
        Why::Request { reason, actor } => {
            payload["reason"] = json!(reason);
            payload["by"] = json!(actor);
            payload["request"] = json!("erasure");
        }
        Why::Retention { removed_before } => {
            payload["reason"] = json!("removed from the roster");
            payload["removed_before"] = json!(removed_before);
        }
    }
    append(tx, kind::ROSTER_ERASE, "", &payload, now_ms)?;
    Ok(done)
}

/// Ends the entry's open incidents as `withdrawn`, each with its audit
/// record and its `exposure.resolved` event.
fn withdraw_incidents(
    tx: &mut dyn Conn,
    entry_id: i64,
    now_ms: i64,
    routes: &Routes,
) -> Result<Vec<String>, StoreError> {
    let mut open = tx.query_map(
        "UPDATE incidents SET state = ?3, withdrawn_at = ?2
         WHERE entry_id = ?1 AND state IN ('open', 'acknowledged')
         RETURNING id, site",
        params![entry_id, now_ms, IncidentState::Withdrawn.as_str()],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?;
    open.sort();
    for (id, site) in &open {
        append(
            tx,
            kind::INCIDENT_WITHDRAW,
            id,
            &json!({"incident_id": id, "entry_id": entry_id, "withdrawn_at": now_ms}),
            now_ms,
        )?;
        insert_event(
            tx,
            EventType::ExposureResolved,
            site,
            Some(id),
            now_ms,
            routes,
        )?;
    }
    Ok(open.into_iter().map(|(id, _)| id).collect())
}

/// Requests stored before adapters redacted them kept a name search's
/// values: they become what their audit record already shows.
fn redact_legacy_requests(tx: &mut dyn Conn, entry_id: i64) -> Result<(), StoreError> {
    let stored = tx.query_map(
        "SELECT id, url_masked FROM probes WHERE entry_id = ?1",
        params![entry_id],
        |r| Ok((r.i64(0)?, r.text(1)?)),
    )?;
    for (id, url) in stored {
        let redacted = redact_url(&url);
        if redacted != url {
            tx.execute(
                "UPDATE probes SET url_masked = ?2 WHERE id = ?1",
                params![id, redacted],
            )?;
        }
    }
    Ok(())
}

/// The keyed fingerprints of listings matched for the entry (name, numbers
/// and address of whoever was listed) go; a dismissal keeps its row, with
/// a random key that matches nothing.
fn forget_fingerprints(tx: &mut dyn Conn, entry_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM probe_listings
         WHERE probe_id IN (SELECT id FROM probes WHERE entry_id = ?1)",
        params![entry_id],
    )?;
    let dismissals = tx.query_map(
        "SELECT id FROM dismissals WHERE entry_id = ?1",
        params![entry_id],
        |r| r.i64(0),
    )?;
    for d in dismissals {
        tx.execute(
            "UPDATE dismissals SET listing_key = ?2 WHERE id = ?1",
            params![d, random_hash()],
        )?;
    }
    Ok(())
}

/// `unlistd erase REF`: one entry, now, recorded with who and why.
pub(super) fn erase_ref(
    c: &mut dyn Conn,
    entry_ref: &str,
    reason: &str,
    actor: &str,
    now_ms: i64,
    routes: &Routes,
) -> Result<Erased, StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::BadInput("a reason is required".into()));
    }
    c.write(|tx| {
        let row = tx.query_opt(
            "SELECT id, erased_at FROM entries WHERE ref = ?1",
            params![entry_ref],
            |r| Ok((r.i64(0)?, r.opt_i64(1)?)),
        )?;
        match row {
            None => Err(StoreError::NotFound(format!(
                "no entry with ref {entry_ref:?}"
            ))),
            Some((_, Some(_))) => Err(StoreError::Conflict(format!(
                "entry {entry_ref:?} is already erased"
            ))),
            Some((id, None)) => {
                erase_in_tx(tx, &[id], now_ms, Why::Request { reason, actor }, routes)
            }
        }
    })
}

/// The periodic purge (once per daemon cycle), one transaction: evidence
/// of long-resolved incidents, then the erasure of entries removed from
/// the roster more than `roster_retention` ago.
pub(super) fn purge(
    c: &mut dyn Conn,
    now: Ts,
    r: &Retention,
    routes: &Routes,
) -> Result<PurgeCounts, StoreError> {
    c.write(|tx| {
        let evidence = purge_resolved(tx, now, r)?;
        let removed_before = ms_before(now, r.roster);
        let ids = tx.query_map(
            "SELECT id FROM entries
             WHERE active = 0 AND erased_at IS NULL AND removed_at < ?1
             ORDER BY id",
            params![removed_before],
            |r| r.i64(0),
        )?;
        let erased = erase_in_tx(tx, &ids, ms(now), Why::Retention { removed_before }, routes)?;
        Ok(PurgeCounts {
            evidence_purged: evidence + erased.pages_purged,
            entries_erased: erased.entries,
        })
    })
}

/// What tests outside the store look at: the health check's heartbeat.
#[cfg(test)]
impl super::Store {
    pub(crate) fn last_heartbeat(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            c.query_opt(
                "SELECT value FROM meta WHERE key = 'heartbeat'",
                params![],
                |r| r.bytes(0),
            )
        })
    }

    pub(crate) fn forget_heartbeat(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM meta WHERE key = 'heartbeat'", params![])
                .map(|_| ())
        })
    }
}
