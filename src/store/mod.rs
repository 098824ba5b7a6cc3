//! The store: the only code that speaks SQL.
//!
//! Architecture invariant: no other module contains SQL or sees a
//! `rusqlite` type. Callers pass and get domain types and the small view
//! structs below, so a PostgreSQL backend can implement the same methods.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a committed probe or
//! alert survives power loss), `foreign_keys=ON`, a busy timeout, and the
//! database file (and its -wal/-shm) at mode 0600. All methods are
//! blocking; async callers use `spawn_blocking`. Times are stored as Unix
//! milliseconds (INTEGER) and handed out as [`Ts`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::domain::incident::{EventType, IncidentState, Step};
use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::{Entry, EntryId, ExposedField, Outcome, OutcomeKind};

mod cycle;
mod db;
mod import;
mod outbox;
mod probe;
mod queries;
#[cfg(test)]
mod tests;

pub type Ts = time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open store {path}: {message}")]
    Open { path: String, message: String },
    #[error("store error: {0}")]
    Sql(String),
}

/// One line of the roster file, already validated field by field by `roster`.
#[derive(Debug)]
pub enum RosterRow {
    Valid {
        line: u64,
        entry: Entry,
    },
    Invalid {
        line: u64,
        field: String,
        message: String,
    },
}

/// A problem that rejects an import: `FILE:LINE: FIELD: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    pub unchanged: u64,
}

#[derive(Debug)]
pub enum ImportOutcome {
    Applied(ImportCounts),
    /// Nothing was changed. Problems sorted by line; at most the first 1000.
    Rejected {
        problems: Vec<RowProblem>,
        total: u64,
    },
}

/// Position in a site's shuffled cycle order (keyset pagination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleCursor {
    pub shuffle_key: i64,
    pub entry: EntryId,
}

/// A probe to record.
#[derive(Debug, Clone)]
pub struct NewProbe {
    pub entry: EntryId,
    pub site: String,
    pub time: Ts,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    /// The request URL with the number masked; safe to display.
    pub url_masked: String,
}

/// What recording a probe did.
#[derive(Debug, Clone)]
pub struct ProbeEffect {
    pub probe_id: i64,
    pub step: Step,
    /// The incident the probe touched (opened, seen again, counted, resolved).
    pub incident_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IncidentView {
    pub id: String,
    pub site: String,
    pub entry_ref: String,
    pub masked_number: String,
    pub exposed: Vec<ExposedField>,
    pub state: IncidentState,
    pub first_seen: Ts,
    pub last_seen: Ts,
    pub resolved_at: Option<Ts>,
}

#[derive(Debug, Clone)]
pub struct ProbeView {
    pub time: Ts,
    pub site: String,
    pub outcome: OutcomeKind,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    pub reason: Option<String>,
    /// Exposed probes: which parts of the listing matched the entry
    /// (`number`, `name`, `street`, …), never the values. Empty otherwise.
    pub why: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SiteCoverage {
    /// Age of the least recently *conclusively* probed active entry (an
    /// entry never probed conclusively counts from when it was added);
    /// `None` when the roster is empty.
    pub oldest_probe_age: Option<Duration>,
    /// Active entries never probed conclusively on this site.
    pub never_probed: u64,
    pub probes_total: u64,
    pub probes_conclusive: u64,
    /// Outcomes of the most recent probes, newest first (at most 50).
    pub recent: Vec<OutcomeKind>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGroup {
    pub site: String,
    pub event_type: EventType,
    pub oldest: Ts,
    pub count: u64,
}

/// An incident as an alert message reports it.
#[derive(Debug, Clone)]
pub struct EventIncident {
    pub id: String,
    pub entry_ref: String,
    pub masked_number: String,
    pub exposed: Vec<ExposedField>,
    pub state: IncidentState,
    pub first_seen: Ts,
    pub last_seen: Ts,
    pub resolved_at: Option<Ts>,
}

/// A formed alert message (outbox row). Body and id never change after
/// forming, so every retry carries the same `webhook-id` and bytes.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub receiver: String,
    pub event_type: EventType,
    pub site: String,
    pub body: String,
    pub attempts: u32,
    pub next_attempt_at: Ts,
    pub created_at: Ts,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxStats {
    pub undelivered_events: u64,
    pub pending_messages: u64,
    pub delivered_messages: u64,
    /// Attempts of the oldest pending message (0 when none).
    pub head_attempts: u32,
    pub last_error: Option<String>,
}

/// Handle to the store; cheap to clone.
///
/// One connection behind a mutex: every method locks it for its own
/// (synchronous) duration only.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Runs `f` with the connection locked. A poisoned lock is taken over:
    /// a panicking holder's open transaction was rolled back when it
    /// unwound, so the connection is consistent.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    }

    /// Opens (creating if missing, parent directory included) and migrates.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = db::open(path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The secret key for pseudonyms: 32 random bytes created on first use
    /// and kept in the store.
    pub fn pseudonym_key(&self) -> Result<Vec<u8>, StoreError> {
        self.with(queries::pseudonym_key)
    }

    /// Replaces the roster atomically (see `ImportOutcome`).
    ///
    /// Rows are streamed into a temporary staging table, never collected in
    /// memory. A duplicate `ref` is a problem on the later line ("duplicate
    /// of line N"). Counts: `added` = refs not active before (a removed ref
    /// that comes back is re-activated with its old id), `changed` = active
    /// refs with any field different, `removed` = active refs missing from
    /// the file (deactivated; their incidents and probes stay), the rest
    /// `unchanged`.
    pub fn import_roster(
        &self,
        rows: &mut dyn Iterator<Item = RosterRow>,
        pseudo: &Pseudonymizer,
        now: Ts,
    ) -> Result<ImportOutcome, StoreError> {
        self.with(|c| import::import_roster(c, rows, pseudo, now))
    }

    pub fn roster_size(&self) -> Result<u64, StoreError> {
        self.with(|c| queries::roster_size(c))
    }

    /// Active or removed entries, by the operator's ref.
    ///
    /// An address is stored as its six parts, so an `Address` with every
    /// part `None` reads back as `address: None`.
    pub fn entry_by_ref(&self, entry_ref: &str) -> Result<Option<(EntryId, Entry)>, StoreError> {
        self.with(|c| queries::entry_by_ref(c, entry_ref))
    }

    /// Active entries by number pseudonym (the lowest id if several active
    /// entries share a number).
    pub fn entry_by_number_hmac(&self, hmac: &str) -> Result<Option<(EntryId, Entry)>, StoreError> {
        self.with(|c| queries::entry_by_number_hmac(c, hmac))
    }

    /// Starts a new cycle on `site`: every active entry gets a fresh random
    /// position. Returns the number of entries in the cycle.
    pub fn start_cycle(&self, site: &str) -> Result<u64, StoreError> {
        self.with(|c| cycle::start_cycle(c, site))
    }

    /// The next `limit` active entries after `after` in `site`'s cycle order.
    ///
    /// Entries removed mid-cycle are skipped; entries added mid-cycle join
    /// at the next `start_cycle` (or when a probe of them is recorded).
    pub fn cycle_batch(
        &self,
        site: &str,
        after: Option<CycleCursor>,
        limit: usize,
    ) -> Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError> {
        self.with(|c| cycle::cycle_batch(c, site, after, limit))
    }

    /// In one transaction: the probe row, the incident step, and for an
    /// event-raising step one outbox delivery per receiver.
    ///
    /// The step is [`crate::domain::incident::step`] applied to the (entry,
    /// site)'s unresolved incident. `incident_id` is `None` for
    /// `Step::Nothing` (an inconclusive probe touches no incident).
    pub fn record_probe(
        &self,
        probe: &NewProbe,
        resolve_after_clean: u32,
        receivers: &[String],
    ) -> Result<ProbeEffect, StoreError> {
        self.with(|c| probe::record_probe(c, probe, resolve_after_clean, receivers))
    }

    pub fn incidents(&self, open_only: bool) -> Result<Vec<IncidentView>, StoreError> {
        self.with(|c| queries::incidents(c, open_only))
    }

    /// Open or acknowledged incidents.
    pub fn open_incident_count(&self) -> Result<u64, StoreError> {
        self.with(|c| queries::open_incident_count(c))
    }

    /// `None` when the ref was never on the roster.
    pub fn history(&self, entry_ref: &str) -> Result<Option<Vec<ProbeView>>, StoreError> {
        self.with(|c| queries::history(c, entry_ref))
    }

    pub fn site_coverage(&self, site: &str, now: Ts) -> Result<SiteCoverage, StoreError> {
        self.with(|c| queries::site_coverage(c, site, now))
    }

    /// Outbox deliveries for `receiver` not yet formed into a message,
    /// grouped by (site, type), the group with the oldest event first.
    pub fn pending_groups(&self, receiver: &str) -> Result<Vec<PendingGroup>, StoreError> {
        self.with(|c| outbox::pending_groups(c, receiver))
    }

    /// In one transaction: takes every unformed delivery of (receiver, site,
    /// type), builds the body from their incidents (oldest event first) with
    /// `build_body`, and stores the message with id `message_id`.
    ///
    /// `None` (and `build_body` is not called) when there is nothing to
    /// form. Site events contribute no incident, so a `site.*` message gets
    /// an empty slice. The message starts pending, with 0 attempts and
    /// `next_attempt_at = now`. A reused `message_id` is an error.
    pub fn form_message(
        &self,
        receiver: &str,
        site: &str,
        event_type: EventType,
        message_id: &str,
        now: Ts,
        build_body: &mut dyn FnMut(&[EventIncident]) -> String,
    ) -> Result<Option<MessageRow>, StoreError> {
        self.with(|c| {
            outbox::form_message(c, receiver, site, event_type, message_id, now, build_body)
        })
    }

    /// The oldest undelivered message of `receiver` (delivery is FIFO per
    /// receiver, so events of one incident arrive in order).
    pub fn next_message(&self, receiver: &str) -> Result<Option<MessageRow>, StoreError> {
        self.with(|c| outbox::next_message(c, receiver))
    }

    /// Marks a message delivered; the successful attempt is recorded and
    /// counted. Unknown ids are an error.
    pub fn mark_delivered(&self, message_id: &str, now: Ts, status: u16) -> Result<(), StoreError> {
        self.with(|c| outbox::mark_delivered(c, message_id, now, status))
    }

    /// Records a failed attempt and when to try again. Unknown ids are an
    /// error. `error` is stored and shown as is: keep protected values out.
    pub fn mark_attempt_failed(
        &self,
        message_id: &str,
        now: Ts,
        next_attempt_at: Ts,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            outbox::mark_attempt_failed(c, message_id, now, next_attempt_at, status, error)
        })
    }

    /// `undelivered_events` counts `receiver`'s deliveries not yet in a
    /// delivered message (unformed or pending); `head_attempts` and
    /// `last_error` describe the message `next_message` would return.
    pub fn outbox_stats(&self, receiver: &str) -> Result<OutboxStats, StoreError> {
        self.with(|c| outbox::outbox_stats(c, receiver))
    }

    /// Raises a site-wide event (`site.degraded`, `site.recovered`): an
    /// events row without incident and one outbox delivery per receiver, in
    /// one transaction. `form_message` passes no incident for it.
    pub fn raise_site_event(
        &self,
        site: &str,
        event_type: EventType,
        now: Ts,
        receivers: &[String],
    ) -> Result<(), StoreError> {
        self.with(|c| outbox::raise_site_event(c, site, event_type, now, receivers))
    }

    /// Proves the store is writable (for `/healthz`): a tiny durable write.
    pub fn ping_write(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('heartbeat', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [time::OffsetDateTime::now_utc().unix_timestamp().to_string()],
            )
            .map(|_| ())
            .map_err(db::sql)
        })
    }

    /// Folds the WAL into the main file (at shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(db::sql)
        })
    }
}
