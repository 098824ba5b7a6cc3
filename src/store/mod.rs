//! The store: the only code that speaks SQL.
//!
//! Architecture invariant: no other module contains SQL or sees a
//! database type. Callers pass and get domain types and the small view
//! structs below, whichever backend holds the data.
//!
//! Layout: the query modules (`audit`, `cycle`, `events`, `evidence`,
//! `import`, `outbox`, `people`, `probe`, `queries`, `report`, `site`)
//! write their SQL once, in the subset SQLite and PostgreSQL share, against
//! the neutral layer in `sql` (typed parameters, typed row getters, a
//! connection trait with transactions). `sqlite/` and `postgres/` each
//! implement that layer and own their migrations.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a committed probe or
//! alert survives power loss), `foreign_keys=ON`, a busy timeout, and the
//! database file (and its -wal/-shm) at mode 0600. All methods are
//! blocking; async callers use [`blocking`]. Times are stored as Unix
//! milliseconds (64-bit integers) and handed out as [`Ts`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::domain::incident::{EventType, IncidentState, Step};
use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::route::Routes;
use crate::domain::{Entry, EntryId, ExposedField, Outcome, OutcomeKind};

mod audit;
mod budget;
mod codec;
mod cohorts;
mod custody;
mod cycle;
mod events;
mod evidence;
mod import;
mod key;
mod lease;
mod lock;
mod outbox;
mod pages;
mod people;
mod postgres;
mod probe;
mod queries;
mod report;
mod rows;
mod site;
mod sql;
mod sqlite;
mod takedown;
#[cfg(test)]
mod tests;

pub(crate) use key::StoreKey;
use sql::Conn;
use sqlite::Lane;
pub(crate) use sqlite::Progress as RekeyProgress;

pub(crate) use budget::TurnClaim;
pub(crate) use lock::{LockError, StoreLock, lock_exclusive};

pub(crate) type Ts = time::OffsetDateTime;

/// A time as the store keeps it (Unix milliseconds): what list cursors
/// carry.
pub(crate) fn ms_of(t: Ts) -> i64 {
    rows::ms(t)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open store {path}: {message}")]
    Open { path: String, message: String },
    /// The store's encryption and its key disagree: a key for a plaintext
    /// store or none for an encrypted one (`config`: the fix is in the
    /// config, exit 2), or a key that does not open it (exit 1).
    #[error("cannot open store {path}: {message}")]
    Key {
        path: String,
        message: String,
        config: bool,
    },
    /// The database refused or failed a statement (SQL error, I/O, full disk).
    #[error("store error: {0}")]
    Backend(String),
    /// A stored value the store cannot have written (tampering, a bug).
    #[error("store holds a malformed value: {0}")]
    Corrupt(String),
    /// The request names something that does not exist (unknown incident,
    /// silence, message).
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but cannot take this action now (already resolved,
    /// already dismissed, ...).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed (no reason, a silence already over).
    #[error("{0}")]
    BadInput(String),
    /// Another process held the store's write lock for longer than the
    /// busy timeout (SQLite): nothing was done, and trying again is safe.
    #[error("store busy: {0}")]
    Busy(String),
    /// The store's worker is gone (its blocking task panicked, the probe
    /// recorder stopped): the store itself may be fine.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Runs store calls off the async workers: every `Store` method blocks.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Unavailable(format!(
            "store task failed: {}",
            crate::telemetry::task_failure(&e)
        ))),
    }
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

/// The outcome of the daemon's last config reload (`SIGHUP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadRecord {
    pub time: Ts,
    pub ok: bool,
    /// Why it failed (`FILE:LINE: KEY: message`), when it did.
    pub error: Option<String>,
    /// Keys that changed but apply only after a restart.
    pub needs_restart: Vec<String>,
}

/// Position in a site's shuffled cycle order (keyset pagination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleCursor {
    pub shuffle_key: i64,
    pub entry: EntryId,
}

/// A probe to record. Its `Debug` leaves the page out (it shows what was
/// searched for).
#[derive(Clone)]
pub struct NewProbe {
    pub entry: EntryId,
    pub site: String,
    pub time: Ts,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    /// The request URL with the number masked; safe to display.
    pub url_masked: String,
    /// The decoded body of the deciding page, when one was read. Its size is
    /// recorded for every probe; the body itself is kept (compressed) only
    /// as evidence: for exposed probes and clean probes of an open incident.
    pub body: Option<Vec<u8>>,
    /// Exposed probes: keyed fingerprints of the listings that matched
    /// (what a false-positive dismissal refers to).
    pub listing_keys: Vec<String>,
}

impl std::fmt::Debug for NewProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewProbe")
            .field("entry", &self.entry)
            .field("site", &self.site)
            .field("time", &self.time)
            .field("outcome", &self.outcome)
            .field("http_status", &self.http_status)
            .field("page_sha256", &self.page_sha256)
            .field("url_masked", &self.url_masked)
            .field(
                "body",
                &self.body.as_ref().map(|b| format!("[{} bytes]", b.len())),
            )
            .field("listing_keys", &self.listing_keys.len())
            .finish()
    }
}

/// What an analyst did to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    /// Reminders stop; resolution still needs clean probes.
    Ack,
    /// The incident's listing is a false positive for this entry.
    Dismiss,
    /// The dismissal is withdrawn.
    Undismiss,
}

impl IncidentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentAction::Ack => "ack",
            IncidentAction::Dismiss => "dismiss",
            IncidentAction::Undismiss => "undismiss",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" => Some(IncidentAction::Ack),
            "dismiss" => Some(IncidentAction::Dismiss),
            "undismiss" => Some(IncidentAction::Undismiss),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActionView {
    pub incident_id: String,
    pub action: IncidentAction,
    pub actor: String,
    pub reason: String,
    pub time: Ts,
}

/// A silence to create: matching events get no deliveries until it expires.
/// `None` filters match everything.
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub site: Option<String>,
    pub event_type: Option<EventType>,
    pub cohort: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub expires_at: Ts,
}

#[derive(Debug, Clone)]
pub struct SilenceView {
    pub id: String,
    pub site: Option<String>,
    pub event_type: Option<EventType>,
    pub cohort: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub ended_at: Option<Ts>,
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
    /// The entry's cohort tag, and that cohort's figures when the message
    /// was formed: its active entries, and how many of them are exposed
    /// (an open or acknowledged incident on any site).
    pub cohort: Option<String>,
    pub cohort_size: u64,
    pub exposed_in_cohort: u64,
}

/// Incidents of one cohort (`None`: entries without one), with the
/// cohort's figures: `incidents --by-cohort`, `?group=cohort`.
#[derive(Debug, Clone)]
pub struct CohortIncidents {
    pub cohort: Option<String>,
    /// Active entries of the cohort.
    pub cohort_size: u64,
    /// Entries of the cohort with an open or acknowledged incident.
    pub exposed_in_cohort: u64,
    pub incidents: Vec<IncidentView>,
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

/// A site's health as its canaries last showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteHealth {
    pub degraded: bool,
    /// When the current state began.
    pub since: Ts,
    pub reason: Option<String>,
    pub last_canary_at: Option<Ts>,
    pub last_canary_ok: Option<bool>,
}

/// How long evidence and removed entries' data are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Kept pages of incidents resolved longer ago than this are purged
    /// (never those of open incidents).
    pub evidence: Duration,
    /// Entries removed from the roster longer ago than this lose their
    /// name, number and address; `ref` and the number's HMAC stay.
    pub roster: Duration,
}

/// What one purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub evidence_purged: u64,
    pub entries_erased: u64,
}

/// What [`Store::erase`] did besides erasing the entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Incidents of the entry that were open, now `withdrawn`.
    pub incidents_withdrawn: Vec<String>,
    /// Kept pages purged.
    pub pages_purged: u64,
}

/// The newest record of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// The first place the trail does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRecord {
    /// The record's seq; `None` for a row that has no record at all.
    pub seq: Option<i64>,
    pub kind: String,
    pub ref_id: String,
    pub message: String,
}

impl std::fmt::Display for BrokenRecord {
    /// `audit record 42 (probe 17): …`, or `probe 17: …` for a row without
    /// a record.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.ref_id.is_empty() {
            self.kind.clone()
        } else {
            format!("{} {}", self.kind, self.ref_id)
        };
        match self.seq {
            Some(seq) => write!(f, "audit record {seq} ({what}): {}", self.message),
            None => write!(f, "{what}: {}", self.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    pub verified: bool,
    /// Records in the trail.
    pub records: u64,
    pub head: Option<AuditHead>,
    pub first_broken: Option<BrokenRecord>,
}

/// What a compliance report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportScope {
    Incident(String),
    /// Incidents active during `[since, until]` (either end open), of one
    /// cohort or of all entries.
    Filter {
        cohort: Option<String>,
        since: Option<Ts>,
        until: Option<Ts>,
    },
}

/// The page of a probe, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptEvidence {
    /// Only the hash and size were kept.
    None,
    Kept {
        sha256: String,
        size: u64,
    },
    Purged {
        at: Ts,
    },
}

/// A probe as a report cites it.
#[derive(Debug, Clone)]
pub struct EvidenceProbe {
    pub id: i64,
    pub time: Ts,
    pub site: String,
    /// The request, number masked.
    pub url_masked: String,
    pub page_sha256: Option<String>,
    pub http_status: Option<u16>,
    pub page_size: Option<u64>,
    pub evidence: KeptEvidence,
}

/// One incident with the probes that bound it.
#[derive(Debug, Clone)]
pub struct IncidentReport {
    pub incident: IncidentView,
    pub cohort: Option<String>,
    /// Exposed probes recorded for the incident.
    pub exposed_probes: u64,
    /// The probe that opened it.
    pub opened_by: Option<EvidenceProbe>,
    /// The last clean probe of the entry on the site before first seen.
    pub last_clean_before: Option<EvidenceProbe>,
    /// The clean probes after the last exposure (all of them closed it once
    /// it is resolved).
    pub closing_probes: Vec<EvidenceProbe>,
    /// Requests for removal, oldest first.
    pub takedowns: Vec<TakedownView>,
}

#[derive(Debug, Clone)]
pub struct CoverageGap {
    pub entry_ref: String,
    pub from: Ts,
    pub to: Ts,
}

/// Coverage of one site over a report's period.
#[derive(Debug, Clone, Default)]
pub struct SiteCoverageReport {
    pub site: String,
    /// Entries in scope during the period.
    pub entries: u64,
    /// Entries probed conclusively within every `max_staleness`.
    pub covered: u64,
    pub gaps: u64,
    pub longest_gap: Option<Duration>,
    /// The first gaps found (at most 20).
    pub examples: Vec<CoverageGap>,
}

#[derive(Debug, Clone)]
pub struct CohortSite {
    pub site: String,
    pub incidents: u64,
    pub open: u64,
    pub entries: u64,
}

#[derive(Debug, Clone)]
pub struct CohortSummary {
    pub tag: String,
    pub entries: u64,
    pub active: u64,
    pub erased: u64,
    pub entries_exposed: u64,
    pub sites: Vec<CohortSite>,
}

/// A lease in force: `holder` has `name` since `since`, until `expires`
/// unless it renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub name: String,
    pub holder: String,
    pub since: Ts,
    pub expires: Ts,
}

/// A request for removal of an incident's listing.
#[derive(Debug, Clone)]
pub struct TakedownView {
    pub id: i64,
    pub incident_id: String,
    /// How it was asked for (the directory's form, a mail, the source feed).
    pub via: String,
    pub ticket: Option<String>,
    pub actor: String,
    pub requested_at: Ts,
}

/// One audit record as the SIEM feed gives it: the chain's fields, the
/// payload's hash, and only the payload keys that name its subject (ids,
/// site, action, actor, outcome), never roster data or free text.
#[derive(Debug, Clone)]
pub struct AuditFeedRecord {
    pub seq: i64,
    pub time: Ts,
    pub kind: String,
    pub ref_id: String,
    pub subject: std::collections::BTreeMap<String, serde_json::Value>,
    pub payload_sha256: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The database behind a [`Store`].
enum Backend {
    Sqlite(Box<sqlite::Db>),
    Postgres(postgres::Db),
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Backend>,
    /// An erasure's checkpoint did not complete: the next purge retries.
    unforgotten: Arc<AtomicBool>,
    /// Per site: the coverage scan and until when it may be reused.
    coverage: Arc<Mutex<std::collections::HashMap<String, (std::time::Instant, CoverageScan)>>>,
}

/// `queries::coverage_scan`'s result.
type CoverageScan = (Option<i64>, i64);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Store");
        match &*self.db {
            Backend::Sqlite(db) => d.field("path", &db.path()),
            Backend::Postgres(db) => d.field("url", &db.label()),
        };
        d.finish()
    }
}

impl Store {
    /// Runs `f` on a connection (SQLite: the one connection, locked).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.db {
            Backend::Sqlite(db) => db.with(f),
            Backend::Postgres(db) => db.with(f),
        }
    }

    /// Runs `f` on the connection for `lane` (SQLite keeps one per
    /// lane: see `sqlite::Db`); PostgreSQL takes any pooled connection.
    fn on<T>(
        &self,
        lane: Lane,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.db {
            Backend::Sqlite(db) => db.on(lane, f),
            Backend::Postgres(db) => db.with(f),
        }
    }

    fn from_backend(db: Backend) -> Store {
        Store {
            db: Arc::new(db),
            unforgotten: Arc::default(),
            coverage: Arc::default(),
        }
    }

    /// Opens the SQLite store at `path` (creating if missing, parent
    /// directory included), migrates, and starts the audit trail.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, None)
    }

    /// [`Store::open`], encrypted at rest with `key` (SQLCipher) when one
    /// is given. A key for a plaintext store, none for an encrypted one and
    /// the wrong key are [`StoreError::Key`], and nothing is written.
    pub fn open_with(path: &Path, key: Option<&StoreKey>) -> Result<Store, StoreError> {
        let store = Store::from_backend(Backend::Sqlite(Box::new(sqlite::Db::open(path, key)?)));
        store
            .with(audit::start_trail)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(store)
    }

    /// Opens the PostgreSQL store at `url` (`postgresql://user@host:port/db`,
    /// TLS by its `sslmode`: see `store::postgres`), with `password` when
    /// the server asks for one, migrates, and starts the audit trail.
    ///
    /// Blocks: call it from a blocking thread (as [`blocking`] does), never
    /// on an async worker.
    pub fn open_postgres(url: &str, password: Option<&str>) -> Result<Store, StoreError> {
        let db = postgres::Db::open(url, password)?;
        let label = db.label().to_owned();
        let store = Store::from_backend(Backend::Postgres(db));
        store
            .with(audit::start_trail)
            .map_err(|e| StoreError::Open {
                path: label,
                message: e.to_string(),
            })?;
        Ok(store)
    }

    /// Moves the SQLite store at `path` to `new_key` atomically: from
    /// plaintext (`old_key` `None`, `unlistd store encrypt`) or from
    /// `old_key` (`unlistd store rekey`). See `sqlite::cipher`.
    pub(crate) fn encrypt_file(
        path: &Path,
        old_key: Option<&StoreKey>,
        new_key: &StoreKey,
        progress: &(dyn Fn(RekeyProgress) + Sync),
    ) -> Result<(), StoreError> {
        sqlite::encrypt_file(path, old_key, new_key, progress)
    }

    /// The report signing key kept inside the store (an encrypted store
    /// keeps it there rather than beside it); `create` makes one on first
    /// use.
    pub fn report_key(&self, create: bool) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| custody::report_key(c, create))
    }

    /// Takes `key` (a `report-key` file's) as the store's report signing
    /// key unless it has one; true when it is the store's key now.
    pub fn adopt_report_key(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.with(|c| custody::adopt_report_key(c, key))
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

    /// Active or removed entries, by the operator's ref (not those whose
    /// roster data was erased: there is no entry left to return).
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
        self.start_cycle_at(site, time::OffsetDateTime::now_utc())
            .map(|(n, _)| n)
    }

    /// [`Store::start_cycle`] at `now`: the risk entries (added or changed
    /// by the last import, or exposed within 30 days or still) take the
    /// front of the new order. Returns the entries in the cycle and how
    /// many of them are risk entries.
    pub fn start_cycle_at(&self, site: &str, now: Ts) -> Result<(u64, u64), StoreError> {
        self.with(|c| cycle::start_cycle(c, site, now))
    }

    /// Marks `site`'s cycle complete (the next scheduler starts afresh).
    pub fn finish_cycle(&self, site: &str) -> Result<(), StoreError> {
        self.with(|c| cycle::finish_cycle(c, site))
    }

    /// Where `site`'s unfinished cycle continues (see `cycle.rs`), or
    /// `None` when a fresh one should start.
    pub fn cycle_resume_point(&self, site: &str) -> Result<Option<(CycleCursor, Ts)>, StoreError> {
        self.with(|c| cycle::resume_point(c, site))
    }

    /// The next `limit` active entries after `after` in `site`'s cycle order.
    ///
    /// Entries removed mid-cycle are skipped; entries added mid-cycle join
    /// at the next `start_cycle` (or a `join_cycle`).
    pub fn cycle_batch(
        &self,
        site: &str,
        after: Option<CycleCursor>,
        limit: usize,
    ) -> Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError> {
        self.on(Lane::Reader, |c| cycle::cycle_batch(c, site, after, limit))
    }

    /// The next `limit` active entries after `after`, by id (a pass over
    /// the roster that leaves the sites' cycles alone).
    pub fn roster_batch(
        &self,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<Vec<(EntryId, Entry)>, StoreError> {
        self.on(Lane::Reader, |c| cycle::roster_batch(c, after, limit))
    }

    /// Brings entries the rest of `site`'s cycle would miss or reach late
    /// (imported, or added or changed since `since`, the cycle's start, and
    /// not probed since) into it: they are placed, in random order, right
    /// after `after`. Returns how many entries moved.
    pub fn join_cycle(&self, site: &str, after: CycleCursor, since: Ts) -> Result<u64, StoreError> {
        self.with(|c| cycle::join_cycle(c, site, after, since))
    }

    /// Changes whenever an import adds, changes or removes entries (the
    /// roster's newest `updated_at`, Unix ms).
    pub fn roster_mark(&self) -> Result<i64, StoreError> {
        self.on(Lane::Reader, cycle::roster_mark)
    }

    /// After an exposure of `entry` on `exposed_on`: queues the other
    /// active entries of its cohort and import batch on every site of
    /// `sites` (the entry itself too, except on `exposed_on`), unless the
    /// same cause was queued there within `quiet`. Returns the rows queued.
    pub fn escalate(
        &self,
        entry: EntryId,
        exposed_on: &str,
        sites: &[String],
        now: Ts,
        quiet: Duration,
    ) -> Result<u64, StoreError> {
        self.with(|c| cycle::escalate(c, entry, exposed_on, sites, now, quiet))
    }

    /// The next `limit` escalated entries of `site`, in queue order.
    pub fn escalated(&self, site: &str, limit: usize) -> Result<Vec<(EntryId, Entry)>, StoreError> {
        self.on(Lane::Reader, |c| cycle::escalated(c, site, limit))
    }

    /// The entry was probed on `site`: it leaves that site's escalation
    /// queue.
    pub fn escalation_done(&self, site: &str, entry: EntryId) -> Result<(), StoreError> {
        self.with(|c| cycle::escalation_done(c, site, entry))
    }

    /// Escalated entries still queued on `site`.
    pub fn escalations_pending(&self, site: &str) -> Result<u64, StoreError> {
        self.with(|c| cycle::escalations_pending(c, site))
    }

    /// [`Store::record_probe`] for a batch, in one transaction (group
    /// commit). Effects come back in input order.
    pub fn record_probes(
        &self,
        probes: &[NewProbe],
        resolve_after_clean: u32,
        routes: &Routes,
    ) -> Result<Vec<ProbeEffect>, StoreError> {
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        self.on(Lane::Writer, |c| {
            probe::record_probes(c, probes, resolve_after_clean, routes)
        })
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
        routes: &Routes,
    ) -> Result<ProbeEffect, StoreError> {
        self.with(|c| {
            probe::record_probes(c, std::slice::from_ref(probe), resolve_after_clean, routes)
        })?
        .pop()
        .ok_or_else(|| StoreError::Backend("recording a probe had no effect".into()))
    }

    pub fn incidents(&self, open_only: bool) -> Result<Vec<IncidentView>, StoreError> {
        self.with(|c| queries::incidents(c, open_only))
    }

    /// [`Store::incidents`] grouped by the entries' cohort, the cohort with
    /// the most incidents first (ties by tag; entries without a cohort
    /// last among equals).
    pub fn incidents_by_cohort(&self, open_only: bool) -> Result<Vec<CohortIncidents>, StoreError> {
        self.with(|c| cohorts::incidents_by_cohort(c, open_only))
    }

    /// Open or acknowledged incidents.
    pub fn open_incident_count(&self) -> Result<u64, StoreError> {
        self.with(|c| queries::open_incident_count(c))
    }

    /// `None` when the ref was never on the roster.
    pub fn history(&self, entry_ref: &str) -> Result<Option<Vec<ProbeView>>, StoreError> {
        self.with(|c| queries::history(c, entry_ref))
    }

    /// A site's coverage. A roster-wide scan that took 50 ms or more is
    /// reused for 30 times as long as it took (at most a minute), so a
    /// million-entry roster scraped by `/metrics` every 15 s does not hold
    /// the store for seconds on every scrape; small rosters are always
    /// exact.
    pub fn site_coverage(&self, site: &str, now: Ts) -> Result<SiteCoverage, StoreError> {
        let cached = {
            let cache = self.coverage.lock().unwrap_or_else(PoisonError::into_inner);
            cache
                .get(site)
                .filter(|(until, _)| *until > std::time::Instant::now())
                .map(|(_, scan)| *scan)
        };
        let scan = match cached {
            Some(s) => s,
            None => {
                let started = std::time::Instant::now();
                let scan = self.with(|c| queries::coverage_scan(c, site))?;
                let took = started.elapsed();
                if took >= Duration::from_millis(50) {
                    let reuse = (took * 30).min(Duration::from_secs(60));
                    self.coverage
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(site.to_owned(), (std::time::Instant::now() + reuse, scan));
                }
                scan
            }
        };
        self.with(|c| queries::site_coverage(c, site, now, scan))
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
        build_body: &mut dyn FnMut(&[EventIncident], Option<&str>) -> String,
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
        routes: &Routes,
    ) -> Result<(), StoreError> {
        self.with(|c| outbox::raise_site_event(c, site, event_type, now, routes))
    }

    /// The site's canary state; `None` before its first canary check.
    pub fn site_health(&self, site: &str) -> Result<Option<SiteHealth>, StoreError> {
        self.with(|c| site::site_health(c, site))
    }

    /// Records a canary check; on a change of state also the
    /// `site.degraded`/`site.recovered` event and its deliveries, in the same
    /// transaction. The first check ever raises `site.degraded` only if it
    /// fails.
    pub fn record_canary_check(
        &self,
        site: &str,
        now: Ts,
        ok: bool,
        reason: Option<&str>,
        routes: &Routes,
    ) -> Result<Option<EventType>, StoreError> {
        self.with(|c| site::record_canary_check(c, site, now, ok, reason, routes))
    }

    // ------------------------------------------------------------ audit

    /// The newest audit record; `None` only for a trail not yet started.
    pub fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.with(|c| audit::head(c))
    }

    /// Walks the whole trail: sequence, links and hashes, each probe
    /// record against the current `probes` row (and kept page), each
    /// incident record against its row, then rows without a record and
    /// purged pages without a purge record. Stops at the first problem.
    pub fn audit_verify(&self) -> Result<AuditVerification, StoreError> {
        self.with(audit::verify)
    }

    /// The retention purges (see [`Retention`]), each recorded in the
    /// trail; entries past `roster_retention` are erased as by
    /// [`Store::erase`] (their incidents' `exposure.resolved` events are
    /// routed by `routes`). Call once per cycle; cheap when there is
    /// nothing to purge.
    pub fn purge(
        &self,
        now: Ts,
        retention: &Retention,
        routes: &Routes,
    ) -> Result<PurgeCounts, StoreError> {
        let p = self.with(|c| custody::purge(c, now, retention, routes))?;
        if p.entries_erased > 0 || self.unforgotten.load(Ordering::Relaxed) {
            self.forget_freed_pages();
        }
        Ok(p)
    }

    /// Erases one entry now (`unlistd erase`, a data-subject request): its
    /// number, name and address from every table, stored request and kept
    /// page; its keyed hash replaced by a random value; its open incidents
    /// withdrawn. Recorded in the trail with who and why. `NotFound` for an
    /// unknown ref, `Conflict` when already erased, `BadInput` without a
    /// reason.
    pub fn erase(
        &self,
        entry_ref: &str,
        reason: &str,
        actor: &str,
        now: Ts,
        routes: &Routes,
    ) -> Result<Erasure, StoreError> {
        let e =
            self.with(|c| custody::erase_ref(c, entry_ref, reason, actor, rows::ms(now), routes))?;
        self.forget_freed_pages();
        Ok(Erasure {
            incidents_withdrawn: e.incidents_withdrawn,
            pages_purged: e.pages_purged,
        })
    }

    /// After an erasure: the main file still holds the pages as they were
    /// before it (the new ones are in the WAL), and the WAL may hold older
    /// copies, so the WAL is folded into the file (freed space is zeroed:
    /// `secure_delete`) and truncated. A reader in another process can
    /// hold that back beyond the busy timeout; then the next purge tries
    /// again.
    fn forget_freed_pages(&self) {
        let done = match &*self.db {
            Backend::Sqlite(db) => db.checkpoint().unwrap_or(false),
            Backend::Postgres(_) => true,
        };
        self.unforgotten.store(!done, Ordering::Relaxed);
    }

    /// The kept page of a probe, decompressed; `None` when only its hash
    /// was kept or the page was purged.
    pub fn evidence_body(&self, probe_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| evidence::body(c, probe_id))
    }

    // ------------------------------------------------------------ reports

    /// Incidents of a report with their bounding probes, oldest first.
    /// `None` for an unknown incident id.
    pub fn report_incidents(
        &self,
        scope: &ReportScope,
    ) -> Result<Option<Vec<IncidentReport>>, StoreError> {
        self.with(|c| report::report_incidents(c, scope))
    }

    /// When the earliest entry of the scope joined the roster.
    pub fn report_scope_start(&self, scope: &ReportScope) -> Result<Option<Ts>, StoreError> {
        self.with(|c| report::scope_start(c, scope))
    }

    /// Per site: were the scope's entries probed conclusively at least
    /// every `max_staleness` during `[since, until]`, and where not.
    pub fn report_coverage(
        &self,
        scope: &ReportScope,
        sites: &[String],
        since: Ts,
        until: Ts,
        max_staleness: Duration,
    ) -> Result<Vec<SiteCoverageReport>, StoreError> {
        self.with(|c| report::coverage(c, scope, sites, since, until, max_staleness))
    }

    pub fn cohort_summary(&self, tag: &str) -> Result<CohortSummary, StoreError> {
        self.with(|c| report::cohort_summary(c, tag))
    }

    /// Active entries of a cohort after `after`, by id.
    pub fn cohort_entries(
        &self,
        tag: &str,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<Vec<(EntryId, Entry)>, StoreError> {
        self.on(Lane::Reader, |c| {
            report::cohort_entries(c, tag, after, limit)
        })
    }

    /// Active entries of a cohort.
    pub fn cohort_size(&self, tag: &str) -> Result<u64, StoreError> {
        self.with(|c| report::cohort_size(c, tag))
    }

    pub fn incident_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|c| report::incident_exists(c, id))
    }

    /// Proves the store is writable (for `/healthz`): a tiny durable write.
    pub fn ping_write(&self) -> Result<(), StoreError> {
        self.with(queries::ping_write)
    }

    /// Acknowledges, dismisses or un-dismisses an incident, recorded with
    /// who and when (and in the audit trail). `NotFound` for an unknown
    /// incident, `Conflict` for an action its state does not allow.
    pub fn incident_action(
        &self,
        incident_id: &str,
        action: IncidentAction,
        actor: &str,
        reason: &str,
        now: Ts,
    ) -> Result<IncidentState, StoreError> {
        self.with(|c| people::act(c, incident_id, action, actor, reason, now))
    }

    pub fn incident_actions(&self, incident_id: &str) -> Result<Vec<ActionView>, StoreError> {
        self.with(|c| people::actions(c, incident_id))
    }

    /// Listing keys dismissed as false positives for this entry on this site.
    pub fn dismissed_listings(
        &self,
        entry: EntryId,
        site: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.on(Lane::Reader, |c| {
            people::dismissed_listings(c, entry.0, site)
        })
    }

    pub fn add_silence(&self, silence: &NewSilence, now: Ts) -> Result<String, StoreError> {
        self.with(|c| people::add_silence(c, silence, now))
    }

    /// Ends a silence before it expires; false when none such is active.
    pub fn end_silence(&self, id: &str, actor: &str, now: Ts) -> Result<bool, StoreError> {
        self.with(|c| people::end_silence(c, id, actor, now))
    }

    /// Active silences (every silence ever, with `all`).
    pub fn silences(&self, now: Ts, all: bool) -> Result<Vec<SilenceView>, StoreError> {
        self.with(|c| people::silences(c, now, all))
    }

    /// Queues `repeat_interval` reminders that are due; returns how many.
    pub fn queue_reminders(
        &self,
        now: Ts,
        repeat: Duration,
        routes: &Routes,
    ) -> Result<u64, StoreError> {
        self.with(|c| people::queue_reminders(c, now, repeat, routes))
    }

    /// Queues the digest for `day` once; false when that day's was queued.
    pub fn queue_digest(
        &self,
        day: &str,
        payload: &str,
        now: Ts,
        routes: &Routes,
    ) -> Result<bool, StoreError> {
        self.with(|c| people::queue_digest(c, day, payload, now, routes))
    }

    /// The day (`YYYY-MM-DD`) of the last digest queued, if any.
    pub fn last_digest_day(&self) -> Result<Option<String>, StoreError> {
        self.with(|c| people::last_digest_day(c))
    }

    /// (site, outcome, count) of probes since `since`.
    pub fn probe_counts_since(&self, since: Ts) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.with(|c| people::probe_counts_since(c, since))
    }

    /// Marks a receiver failing and tells the others, once.
    pub fn receiver_failing(
        &self,
        receiver: &str,
        error: &str,
        payload: &str,
        now: Ts,
        routes: &Routes,
    ) -> Result<bool, StoreError> {
        self.with(|c| people::set_receiver_health(c, receiver, Some(error), payload, now, routes))
    }

    /// Clears a receiver's failing mark and tells the others, if it was set.
    pub fn receiver_ok(
        &self,
        receiver: &str,
        payload: &str,
        now: Ts,
        routes: &Routes,
    ) -> Result<bool, StoreError> {
        self.with(|c| people::set_receiver_health(c, receiver, None, payload, now, routes))
    }

    pub fn receiver_failing_since(&self, receiver: &str) -> Result<Option<Ts>, StoreError> {
        self.with(|c| people::receiver_failing_since(c, receiver))
    }

    /// Keeps the daemon's last config reload (`None` forgets it, at
    /// start), so `status` in another process can show it.
    pub fn set_last_reload(&self, r: Option<&ReloadRecord>) -> Result<(), StoreError> {
        self.with(|c| queries::set_last_reload(c, r))
    }

    pub fn last_reload(&self) -> Result<Option<ReloadRecord>, StoreError> {
        self.with(|c| queries::last_reload(c))
    }

    // ------------------------------------------------------------ shared budget

    /// Claims `count` turns of at least `interval_us` on `site` for this
    /// process: the first not before `now_us`, every turn after any other
    /// process's and after the site's `Retry-After` gate, spaced by the
    /// shared Crawl-delay when that is longer (see `budget.rs`).
    pub fn claim_turns(
        &self,
        site: &str,
        now_us: i64,
        count: u32,
        interval_us: i64,
    ) -> Result<TurnClaim, StoreError> {
        self.on(Lane::Shared, |c| {
            budget::claim(c, site, now_us, count, interval_us)
        })
    }

    /// Hands back the unused turns `[from_us, end_us)` of this process's
    /// last claim, when nobody claimed after it.
    pub fn give_back_turns(
        &self,
        site: &str,
        from_us: i64,
        end_us: i64,
    ) -> Result<bool, StoreError> {
        self.on(Lane::Shared, |c| {
            budget::give_back(c, site, from_us, end_us)
        })
    }

    /// Closes `site` for every process until `until_us` (a `Retry-After`);
    /// a gate that closes later stays.
    pub fn close_site(&self, site: &str, until_us: i64) -> Result<(), StoreError> {
        self.on(Lane::Shared, |c| budget::close(c, site, until_us))
    }

    /// Until when `site` is closed (0: never was).
    pub fn site_gate(&self, site: &str) -> Result<i64, StoreError> {
        self.on(Lane::Shared, |c| budget::gate(c, site))
    }

    /// Shares the site's robots.txt Crawl-delay (`delay_us`, 0 for none)
    /// until `until_us`.
    pub fn share_crawl_delay(
        &self,
        site: &str,
        delay_us: i64,
        until_us: i64,
    ) -> Result<(), StoreError> {
        self.on(Lane::Shared, |c| {
            budget::crawl_delay(c, site, delay_us, until_us)
        })
    }

    // ------------------------------------------------------------ leases

    /// Takes or renews the lease `name` for `holder` until `now + ttl`;
    /// false while another holder's lease has not expired.
    pub fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Ts,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.on(Lane::Shared, |c| lease::take(c, name, holder, now, ttl))
    }

    /// Gives up `name` if `holder` has it.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.on(Lane::Shared, |c| lease::release(c, name, holder))
    }

    /// Drops every lease whose name starts with `prefix`, whoever holds it
    /// (a daemon that holds a SQLite store's lock knows no other can).
    pub fn clear_leases(&self, prefix: &str) -> Result<(), StoreError> {
        self.on(Lane::Shared, |c| lease::clear(c, prefix))
    }

    /// Gives up every lease `holder` has (a daemon stopping).
    pub fn release_leases_of(&self, holder: &str) -> Result<(), StoreError> {
        self.on(Lane::Shared, |c| lease::release_all(c, holder))
    }

    /// Unexpired leases whose name starts with `prefix`, by name.
    pub fn leases(&self, prefix: &str, now: Ts) -> Result<Vec<LeaseView>, StoreError> {
        self.on(Lane::Shared, |c| lease::current(c, prefix, now))
    }

    // ------------------------------------------------------------ takedowns, pages

    /// Records a takedown request for an incident (audited). `NotFound`
    /// for an unknown incident, `Conflict` for a resolved or withdrawn one.
    pub fn record_takedown(
        &self,
        incident_id: &str,
        via: &str,
        ticket: Option<&str>,
        actor: &str,
        now: Ts,
    ) -> Result<TakedownView, StoreError> {
        self.with(|c| takedown::record(c, incident_id, via, ticket, actor, now))
    }

    /// An incident's takedown requests, oldest first.
    pub fn takedowns(&self, incident_id: &str) -> Result<Vec<TakedownView>, StoreError> {
        self.with(|c| takedown::of_incident(c, incident_id))
    }

    /// Raises `exposure.overdue` once per open or acknowledged incident
    /// whose first takedown request is older than its site's SLA (`sla_of`).
    pub fn queue_overdue(
        &self,
        now: Ts,
        sla_of: &dyn Fn(&str) -> Option<Duration>,
        routes: &Routes,
    ) -> Result<u64, StoreError> {
        self.with(|c| takedown::queue_overdue(c, now, sla_of, routes))
    }

    /// One page of [`Store::incidents`], after `(first_seen ms, id)`.
    pub fn incidents_page(
        &self,
        open_only: bool,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<IncidentView>, StoreError> {
        self.with(|c| pages::incidents_page(c, open_only, after, limit))
    }

    /// One page of [`Store::history`] after `(time ms, probe id)`, each
    /// probe with its id; `None` for an unknown ref.
    pub fn history_page(
        &self,
        entry_ref: &str,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Option<Vec<(i64, ProbeView)>>, StoreError> {
        self.with(|c| pages::history_page(c, entry_ref, after, limit))
    }

    /// Audit records after `seq`, in order.
    pub fn audit_feed(&self, after: i64, limit: usize) -> Result<Vec<AuditFeedRecord>, StoreError> {
        self.with(|c| pages::audit_feed(c, after, limit))
    }

    /// (site, bucket, outcome, probes) since `since` in `bucket`-wide steps.
    pub fn probe_buckets(
        &self,
        since: Ts,
        bucket: Duration,
    ) -> Result<Vec<(String, i64, OutcomeKind, u64)>, StoreError> {
        self.with(|c| pages::probe_buckets(c, since, bucket))
    }

    /// Folds the WAL into the main file (at shutdown; SQLite only).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        match &*self.db {
            Backend::Sqlite(db) => db.checkpoint().map(|_| ()),
            Backend::Postgres(_) => Ok(()),
        }
    }
}
