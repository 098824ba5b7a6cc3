//! Store tests: each on a fresh database in a temporary directory.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use super::sql::{Dialect, params};
use super::*;
use crate::domain::incident::{EventType, IncidentState, Step};
use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::route::Routes;
use crate::domain::{Address, E164, Entry, EntryId, ExposedField, Outcome, OutcomeKind};

// ---------------------------------------------------------------- helpers

fn t(secs: i64) -> Ts {
    Ts::from_unix_timestamp(1_700_000_000 + secs).unwrap()
}

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("unlistd.db")).unwrap();
    (dir, store)
}

/// What a test's store lives in: a temporary directory (removed when this
/// is dropped), or a database of the test cluster (which lives as long as
/// the cluster).
enum Keep {
    Dir(tempfile::TempDir),
    Database(String),
}

impl Keep {
    /// Another handle on the same store, with its own connection: what a
    /// second daemon or a CLI command would open.
    fn open_again(&self) -> Store {
        match self {
            Keep::Dir(d) => Store::open(&d.path().join("unlistd.db")).unwrap(),
            Keep::Database(url) => Store::open_postgres(url, None).unwrap(),
        }
    }
}

/// Where a parametrised test gets its stores: each call a fresh one.
enum Fresh {
    Sqlite,
    Postgres(&'static pg::Cluster),
}

impl Fresh {
    fn store(&self) -> (Keep, Store) {
        match self {
            Fresh::Sqlite => {
                let (d, s) = new_store();
                (Keep::Dir(d), s)
            }
            Fresh::Postgres(cluster) => {
                let url = cluster.fresh_database();
                let store = Store::open_postgres(&url, None).unwrap();
                (Keep::Database(url), store)
            }
        }
    }
}

/// The throwaway PostgreSQL cluster shared with the integration tests.
#[path = "../../tests/common/pg.rs"]
#[allow(unreachable_pub)] // Public for the integration tests, which share it.
mod pg;

/// Runs each named test body (`fn name(be: &Fresh)`) once per backend:
/// `store::tests::sqlite::name` and `store::tests::postgres::name`. The
/// PostgreSQL half skips (with one notice) where PostgreSQL is not
/// installed, and fails instead when `CI` is set.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Fresh::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(c) = super::pg::cluster() {
                    super::$name(&super::Fresh::Postgres(c))
                }
            })*
        }
    };
}

fn pseudo(store: &Store) -> Pseudonymizer {
    Pseudonymizer::new(&store.pseudonym_key().unwrap())
}

fn entry(i: u32) -> Entry {
    Entry {
        entry_ref: format!("r{i}"),
        phone: E164::from_e164(&format!("+452{i:07}")).unwrap(),
        name: Some(format!("Person {i}")),
        address: i.is_multiple_of(2).then(|| Address {
            street: Some("Ågade".into()),
            house_number: Some(format!("{}", i % 90 + 1)),
            floor: Some("2".into()),
            door: Some("th".into()),
            postcode: Some("8000".into()),
            city: Some("Aarhus C".into()),
        }),
        hide_number: true,
        hide_address: i.is_multiple_of(2),
        cohort: i.is_multiple_of(3).then(|| "batch-1".to_owned()),
    }
}

fn valid_rows(entries: Vec<Entry>) -> impl Iterator<Item = RosterRow> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| RosterRow::Valid {
            line: i as u64 + 2,
            entry,
        })
}

fn import(store: &Store, entries: Vec<Entry>, now: Ts) -> ImportOutcome {
    let p = pseudo(store);
    store
        .import_roster(&mut valid_rows(entries), &p, now)
        .unwrap()
}

fn applied(o: ImportOutcome) -> ImportCounts {
    match o {
        ImportOutcome::Applied(c) => c,
        ImportOutcome::Rejected { problems, total } => {
            panic!(
                "import rejected: {total} problems, first {:?}",
                problems.first()
            )
        }
    }
}

fn id_of(store: &Store, r: &str) -> EntryId {
    store.entry_by_ref(r).unwrap().unwrap().0
}

fn exposed() -> Outcome {
    Outcome::Exposed {
        fields: vec![ExposedField::Number],
        why: vec!["number".into(), "name".into()],
    }
}

fn inconclusive() -> Outcome {
    Outcome::Inconclusive {
        reason: "http 429".into(),
    }
}

fn probe(entry: EntryId, site: &str, time: Ts, outcome: Outcome) -> NewProbe {
    NewProbe {
        entry,
        site: site.into(),
        time,
        outcome,
        http_status: Some(200),
        page_sha256: Some("ab".repeat(32)),
        url_masked: "https://example.test/search?q=2000••••".into(),
        body: Some(format!("<html>{time}</html>").into_bytes()),
        listing_keys: Vec::new(),
    }
}

fn receivers() -> Routes {
    Routes::all(&["hook", "mail"])
}

fn scalar(store: &Store, q: &str) -> i64 {
    store.with(|c| c.query_i64(q, params![])).unwrap()
}

fn text_of(store: &Store, q: &str) -> String {
    store
        .with(|c| c.query_one(q, params![], |r| r.text(0)))
        .unwrap()
}

fn dialect(store: &Store) -> Dialect {
    store.with(|c| Ok(c.dialect())).unwrap()
}

/// Staging tables left behind by an import (on any connection).
fn staging_tables(store: &Store) -> i64 {
    scalar(
        store,
        match dialect(store) {
            Dialect::Sqlite => {
                "SELECT count(*) FROM temp.sqlite_master WHERE name = 'import_stage'"
            }
            Dialect::Postgres => "SELECT count(*) FROM pg_class WHERE relname = 'import_stage'",
        },
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Sets the process umask for the guard's lifetime. 0o022 is the usual
/// default, so other tests running meanwhile see nothing unusual.
struct Umask(libc::mode_t);

impl Umask {
    fn set(mask: libc::mode_t) -> Umask {
        // SAFETY: umask(2) cannot fail and only swaps the process mask.
        Umask(unsafe { libc::umask(mask) })
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::umask(self.0) };
    }
}

// ---------------------------------------------------------------- opening

#[test]
fn migrations_validate() {
    crate::store::sqlite::MIGRATIONS.validate().unwrap();
}

#[test]
fn open_creates_private_files_and_sets_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/sub/unlistd.db");
    let store = {
        // With a lenient umask a naive create would give 0755/0644.
        let _umask = Umask::set(0o022);
        Store::open(&path).unwrap()
    };
    store.pseudonym_key().unwrap(); // a write: -wal and -shm exist now
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/sub")), 0o700);
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let p = crate::store::sqlite::sidecar(&path, suffix);
        assert_eq!(mode(&p), 0o600, "{suffix}");
    }

    assert_eq!(text_of(&store, "PRAGMA journal_mode"), "wal");
    assert_eq!(scalar(&store, "PRAGMA synchronous"), 2, "FULL");
    assert_eq!(scalar(&store, "PRAGMA foreign_keys"), 1);
    assert_eq!(scalar(&store, "PRAGMA secure_delete"), 1);
    assert_eq!(scalar(&store, "PRAGMA busy_timeout"), 30_000);
    assert_eq!(
        scalar(&store, "PRAGMA user_version"),
        crate::store::sqlite::MIGRATION_LIST.len() as i64
    );

    // A second opener (the store is still open, so -wal/-shm exist) fixes
    // loosened modes of all three files.
    for suffix in ["", "-wal", "-shm"] {
        let p = crate::store::sqlite::sidecar(&path, suffix);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let again = Store::open(&path).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = crate::store::sqlite::sidecar(&path, suffix);
        assert_eq!(mode(&p), 0o600, "reopen {suffix:?}");
    }
    // Same key from both handles: the schema was not re-created.
    assert_eq!(
        again.pseudonym_key().unwrap(),
        store.pseudonym_key().unwrap()
    );
}

#[test]
fn open_reports_the_path_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("unlistd.db")).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'j'; 4096]).unwrap();
    let err = Store::open(&junk).unwrap_err();
    assert!(err.to_string().contains("junk.db"), "{err}");
}

#[test]
fn pseudonym_key_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let key = Store::open(&path).unwrap().pseudonym_key().unwrap();
    assert_eq!(key.len(), 32);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pseudonym_key().unwrap(), key);
    assert_eq!(store.pseudonym_key().unwrap(), key);
    let (_d, other) = new_store();
    assert_ne!(other.pseudonym_key().unwrap(), key);
}

// ---------------------------------------------------------------- roster

fn import_counts_across_imports(be: &Fresh) {
    let (_d, store) = be.store();
    let c = applied(import(&store, (0..10).map(entry).collect(), t(0)));
    assert_eq!(
        c,
        ImportCounts {
            added: 10,
            changed: 0,
            removed: 0,
            unchanged: 0
        }
    );
    assert_eq!(store.roster_size().unwrap(), 10);

    // r0..r2 dropped, r3 changed (name), r4 changed (address gone), r10/r11 new.
    let mut next: Vec<Entry> = (3..12).map(entry).collect();
    next[0].name = Some("Someone Else".into());
    next[1].address = None;
    let c = applied(import(&store, next.clone(), t(10)));
    assert_eq!(
        c,
        ImportCounts {
            added: 2,
            changed: 2,
            removed: 3,
            unchanged: 5
        }
    );
    assert_eq!(store.roster_size().unwrap(), 9);
    assert_eq!(store.entry_by_ref("r3").unwrap().unwrap().1, next[0]);
    assert_eq!(store.entry_by_ref("r4").unwrap().unwrap().1.address, None);

    // Same file again: all unchanged.
    let c = applied(import(&store, next, t(20)));
    assert_eq!(
        c,
        ImportCounts {
            added: 0,
            changed: 0,
            removed: 0,
            unchanged: 9
        }
    );
    assert_eq!(staging_tables(&store), 0, "staging table dropped");

    // An empty roster removes everyone.
    let c = applied(import(&store, vec![], t(30)));
    assert_eq!((c.removed, c.added, c.unchanged), (9, 0, 0));
    assert_eq!(store.roster_size().unwrap(), 0);
}

fn entries_round_trip_and_lookup_by_pseudonym(be: &Fresh) {
    let (_d, store) = be.store();
    let p = pseudo(&store);
    applied(import(&store, (0..4).map(entry).collect(), t(0)));
    for i in 0..4 {
        let e = entry(i);
        let (id, got) = store.entry_by_ref(&e.entry_ref).unwrap().unwrap();
        assert_eq!(got, e);
        let (id2, got2) = store
            .entry_by_number_hmac(&p.number(&e.phone))
            .unwrap()
            .unwrap();
        assert_eq!((id2, got2), (id, e));
    }
    assert!(store.entry_by_ref("nope").unwrap().is_none());
    // The stored pseudonym is the full keyed HMAC, not the number.
    let stored = text_of(&store, "SELECT phone_hmac FROM entries WHERE ref = 'r1'");
    assert_eq!(stored, p.number(&entry(1).phone));

    // Removed entries: still found by ref, not by pseudonym.
    applied(import(&store, vec![entry(0)], t(5)));
    assert!(store.entry_by_ref("r1").unwrap().is_some());
    assert!(
        store
            .entry_by_number_hmac(&p.number(&entry(1).phone))
            .unwrap()
            .is_none()
    );
}

fn snapshot(store: &Store) -> Vec<(i64, String, i64, i64, Option<i64>)> {
    store
        .with(|c| {
            c.query_map(
                "SELECT id, ref, active, updated_at, removed_at FROM entries ORDER BY id",
                params![],
                |r| Ok((r.i64(0)?, r.text(1)?, r.i64(2)?, r.i64(3)?, r.opt_i64(4)?)),
            )
        })
        .unwrap()
}

fn rejected_import_changes_nothing(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..5).map(entry).collect(), t(0)));
    let before = snapshot(&store);

    let p = pseudo(&store);
    let mut rows = vec![
        RosterRow::Valid {
            line: 2,
            entry: entry(7),
        },
        RosterRow::Invalid {
            line: 4,
            field: "phone".into(),
            message: "expected 8 digits".into(),
        },
        RosterRow::Valid {
            line: 3,
            entry: entry(8),
        },
        RosterRow::Invalid {
            line: 3,
            field: "hide_number".into(),
            message: "expected true or false".into(),
        },
    ]
    .into_iter();
    let out = store.import_roster(&mut rows, &p, t(10)).unwrap();
    let ImportOutcome::Rejected { problems, total } = out else {
        panic!("expected rejection");
    };
    assert_eq!(total, 2);
    assert_eq!(
        problems.iter().map(|p| p.line).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(problems[0].field, "hide_number");
    assert_eq!(snapshot(&store), before);
    assert_eq!(store.roster_size().unwrap(), 5);
    assert!(store.entry_by_ref("r7").unwrap().is_none());
    // No staging data left behind.
    assert_eq!(staging_tables(&store), 0);
}

fn duplicate_ref_names_both_lines(be: &Fresh) {
    let (_d, store) = be.store();
    let p = pseudo(&store);
    let mut dup = entry(9);
    dup.entry_ref = "r1".into();
    let mut rows = valid_rows(vec![entry(0), entry(1), entry(2), dup]);
    let out = store.import_roster(&mut rows, &p, t(0)).unwrap();
    let ImportOutcome::Rejected { problems, total } = out else {
        panic!("expected rejection");
    };
    assert_eq!(total, 1);
    assert_eq!(
        problems,
        vec![RowProblem {
            line: 5,
            field: "ref".into(),
            message: "duplicate of line 3".into()
        }]
    );
    assert_eq!(store.roster_size().unwrap(), 0);
}

fn many_problems_keep_the_first_thousand_sorted(be: &Fresh) {
    let (_d, store) = be.store();
    let p = pseudo(&store);
    // 2500 invalid rows in reverse line order.
    let mut rows = (0..2500u64).rev().map(|i| RosterRow::Invalid {
        line: i + 2,
        field: "phone".into(),
        message: "bad".into(),
    });
    let ImportOutcome::Rejected { problems, total } =
        store.import_roster(&mut rows, &p, t(0)).unwrap()
    else {
        panic!("expected rejection");
    };
    assert_eq!(total, 2500);
    assert_eq!(problems.len(), 1000);
    assert!(problems.windows(2).all(|w| w[0].line < w[1].line));
    assert_eq!(problems[0].line, 2);
    assert_eq!(problems[999].line, 1001);
}

fn removed_entry_keeps_incidents_and_history_and_comes_back_with_its_id(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    store
        .record_probe(&probe(id, "118.dk", t(1), exposed()), 3, &receivers())
        .unwrap();
    store
        .record_probe(&probe(id, "118.dk", t(2), Outcome::Clean), 3, &receivers())
        .unwrap();

    let c = applied(import(&store, vec![entry(0), entry(2)], t(10)));
    assert_eq!(c.removed, 1);
    assert_eq!(store.roster_size().unwrap(), 2);
    let incs = store.incidents(false).unwrap();
    assert_eq!(incs.len(), 1);
    assert_eq!(incs[0].entry_ref, "r1");
    assert_eq!(store.history("r1").unwrap().unwrap().len(), 2);
    assert!(store.history("never").unwrap().is_none());

    // Back on the roster: counted as added, same id, evidence intact.
    let c = applied(import(&store, (0..3).map(entry).collect(), t(20)));
    assert_eq!((c.added, c.unchanged), (1, 2));
    assert_eq!(id_of(&store, "r1"), id);
    assert_eq!(store.history("r1").unwrap().unwrap().len(), 2);
    let removed_at: Option<i64> = store
        .with(|c| {
            c.query_one(
                "SELECT removed_at FROM entries WHERE ref = 'r1'",
                params![],
                |r| r.opt_i64(0),
            )
        })
        .unwrap();
    assert_eq!(removed_at, None);
}

fn import_of_100k_rows_streams_in_reasonable_time(be: &Fresh) {
    let (_d, store) = be.store();
    let p = pseudo(&store);
    let n = 100_000u32;
    let rows = || {
        (0..n).map(|i| RosterRow::Valid {
            line: u64::from(i) + 2,
            entry: entry(i),
        })
    };
    let start = Instant::now();
    let c = applied(store.import_roster(&mut rows(), &p, t(0)).unwrap());
    let first = start.elapsed();
    assert_eq!(c.added, u64::from(n));
    let start = Instant::now();
    let c = applied(store.import_roster(&mut rows(), &p, t(1)).unwrap());
    let second = start.elapsed();
    assert_eq!(c.unchanged, u64::from(n));
    let start = Instant::now();
    assert_eq!(store.start_cycle("118.dk").unwrap(), u64::from(n));
    let cycle = start.elapsed();
    let start = Instant::now();
    let batch = store.cycle_batch("118.dk", None, 100).unwrap();
    let batch_time = start.elapsed();
    assert_eq!(batch.len(), 100);
    let start = Instant::now();
    let cov = store.site_coverage("118.dk", t(5)).unwrap();
    let cov_time = start.elapsed();
    assert_eq!(cov.never_probed, u64::from(n));
    let start = Instant::now();
    let again = store.site_coverage("118.dk", t(6)).unwrap();
    let again_time = start.elapsed();
    assert_eq!(again.never_probed, u64::from(n));
    println!(
        "100k rows: first import {first:?}, re-import {second:?}, start_cycle {cycle:?}, \
         one batch {batch_time:?}, site_coverage {cov_time:?}, again {again_time:?} \
         (the scan is reused when it took 50 ms or more)"
    );
}

// ---------------------------------------------------------------- cycles

fn whole_cycle(store: &Store, site: &str, batch: usize) -> Vec<EntryId> {
    rest_of_cycle(store, site, batch, None)
}

fn rest_of_cycle(
    store: &Store,
    site: &str,
    batch: usize,
    mut cursor: Option<CycleCursor>,
) -> Vec<EntryId> {
    let mut out = Vec::new();
    loop {
        let b = store.cycle_batch(site, cursor, batch).unwrap();
        let Some(last) = b.last() else { break };
        cursor = Some(last.0);
        for (c, id, e) in &b {
            assert_eq!(c.entry, *id);
            assert!(e.entry_ref.starts_with('r'));
            out.push(*id);
        }
    }
    out
}

fn every_active_entry_once_per_cycle_in_a_fresh_order(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..200).map(entry).collect(), t(0)));
    let all: HashSet<EntryId> = (0..200).map(|i| id_of(&store, &format!("r{i}"))).collect();

    assert_eq!(store.start_cycle("118.dk").unwrap(), 200);
    let first = whole_cycle(&store, "118.dk", 17);
    assert_eq!(first.len(), 200);
    assert_eq!(first.iter().copied().collect::<HashSet<_>>(), all);

    assert_eq!(store.start_cycle("118.dk").unwrap(), 200);
    let second = whole_cycle(&store, "118.dk", 200);
    assert_eq!(second.len(), 200);
    assert_eq!(second.iter().copied().collect::<HashSet<_>>(), all);
    assert_ne!(first, second, "a new cycle reshuffles");

    // Another site has its own order (and its own rows).
    assert_eq!(store.start_cycle("krak.dk").unwrap(), 200);
    assert_eq!(whole_cycle(&store, "krak.dk", 64).len(), 200);

    // Removed entries are skipped, mid-cycle too.
    let batch = store.cycle_batch("118.dk", None, 10).unwrap();
    applied(import(&store, (0..150).map(entry).collect(), t(10)));
    let rest = rest_of_cycle(&store, "118.dk", 7, batch.last().map(|b| b.0));
    let active: HashSet<EntryId> = (0..150).map(|i| id_of(&store, &format!("r{i}"))).collect();
    assert!(rest.iter().all(|id| active.contains(id)));
    let done: HashSet<EntryId> = batch.iter().map(|b| b.1).collect();
    let expected: HashSet<EntryId> = active.difference(&done).copied().collect();
    assert_eq!(rest.len(), expected.len());
    assert_eq!(rest.iter().copied().collect::<HashSet<_>>(), expected);
    assert_eq!(store.start_cycle("118.dk").unwrap(), 150);
    let third = whole_cycle(&store, "118.dk", 50);
    assert_eq!(third.iter().copied().collect::<HashSet<_>>(), active);
    assert_eq!(third.len(), 150);
    assert!(store.cycle_batch("nowhere", None, 10).unwrap().is_empty());
}

fn a_resumed_cycle_takes_new_and_changed_entries_next(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..100).map(entry).collect(), t(0)));
    // First cycle (begun at t(5)), 30 entries in: the 70 still ahead are
    // never probed yet, and stay where they are.
    let since = t(5);
    store.start_cycle("118.dk").unwrap();
    let done = store.cycle_batch("118.dk", None, 30).unwrap();
    for (_, id, _) in &done {
        store
            .record_probe(
                &probe(*id, "118.dk", t(10), Outcome::Clean),
                3,
                &Routes::default(),
            )
            .unwrap();
    }
    let at = done.last().unwrap().0;
    let ahead = rest_of_cycle(&store, "118.dk", 100, Some(at));
    assert_eq!(store.join_cycle("118.dk", at, since).unwrap(), 0);
    assert_eq!(rest_of_cycle(&store, "118.dk", 100, Some(at)), ahead);

    // A re-import adds five entries and changes one already probed and
    // one still ahead: all seven go next, the changed one ahead included
    // (it was added or changed after the cycle began).
    let ix = |id: EntryId| -> usize {
        (0..100)
            .find(|i| id_of(&store, &format!("r{i}")) == id)
            .unwrap()
    };
    let (behind, before) = (ix(done[3].1), ix(ahead[10]));
    let mut next: Vec<Entry> = (0..105).map(entry).collect();
    next[behind].name = Some("Renamed Behind".into());
    next[before].name = Some("Renamed Ahead".into());
    applied(import(&store, next.clone(), t(20)));
    assert_eq!(store.roster_mark().unwrap(), t(20).unix_timestamp() * 1000);

    assert_eq!(store.join_cycle("118.dk", at, since).unwrap(), 7);
    let rest = rest_of_cycle(&store, "118.dk", 7, Some(at));
    let joined: HashSet<EntryId> = (100..105)
        .map(|i| id_of(&store, &format!("r{i}")))
        .chain([done[3].1, ahead[10]])
        .collect();
    assert_eq!(
        rest[..7].iter().copied().collect::<HashSet<_>>(),
        joined,
        "the joined entries come first"
    );
    let kept: Vec<EntryId> = ahead
        .iter()
        .copied()
        .filter(|id| *id != ahead[10])
        .collect();
    assert_eq!(&rest[7..], &kept[..], "the rest keeps its order");
    // Probed since: nothing left to join.
    for id in &joined {
        store
            .record_probe(
                &probe(*id, "118.dk", t(30), Outcome::Clean),
                3,
                &Routes::default(),
            )
            .unwrap();
    }
    assert_eq!(store.join_cycle("118.dk", at, since).unwrap(), 0);
    // Entries changed before the cycle began are where the cycle put them.
    assert_eq!(store.join_cycle("118.dk", at, t(25)).unwrap(), 0);
    // The top and bottom of the key space cannot overflow.
    next.push(entry(105));
    applied(import(&store, next.clone(), t(40)));
    let top = CycleCursor {
        shuffle_key: i64::MAX,
        entry: EntryId(i64::MAX),
    };
    assert_eq!(store.join_cycle("118.dk", top, since).unwrap(), 1);
    next.push(entry(106));
    applied(import(&store, next, t(50)));
    let bottom = CycleCursor {
        shuffle_key: i64::MIN,
        entry: EntryId(0),
    };
    // The new one, and the one joined at the top (never probed since).
    assert_eq!(store.join_cycle("118.dk", bottom, since).unwrap(), 2);
    assert_eq!(
        rest_of_cycle(&store, "118.dk", 100, Some(bottom)).len(),
        107
    );
}

fn the_last_reload_is_kept_and_forgotten(be: &Fresh) {
    let (_d, store) = be.store();
    assert_eq!(store.last_reload().unwrap(), None);
    let r = ReloadRecord {
        time: t(5),
        ok: false,
        error: Some("config.toml:3: sites[0].rate: expected N/s".into()),
        needs_restart: vec!["api.listen".into()],
    };
    store.set_last_reload(Some(&r)).unwrap();
    assert_eq!(store.last_reload().unwrap(), Some(r));
    store.set_last_reload(None).unwrap();
    assert_eq!(store.last_reload().unwrap(), None);
}

fn plan(store: &Store, sql: &str, params: &[sql::Param<'_>]) -> Vec<String> {
    store
        .with(|c| c.query_map(&format!("EXPLAIN QUERY PLAN {sql}"), params, |r| r.text(3)))
        .unwrap()
}

#[test]
fn hot_queries_are_index_driven() {
    let (_d, store) = new_store();
    applied(import(&store, (0..50).map(entry).collect(), t(0)));
    store.start_cycle("118.dk").unwrap();
    // Before any ANALYZE, as a store is: a pass by id reads `limit` rows
    // of the primary key per batch, it does not sort the roster.
    let p = plan(&store, &cycle::roster_batch_sql(), params![0i64, 100i64]);
    assert!(
        p.iter().any(|d| d.contains("e USING INTEGER PRIMARY KEY")),
        "{p:?}"
    );
    assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "{p:?}");
    store.with(|c| c.batch("ANALYZE")).unwrap();

    let p = plan(
        &store,
        &cycle::batch_sql(),
        params!["118.dk", 0i64, 0i64, 100i64],
    );
    println!("cycle_batch plan: {p:?}");
    assert!(p.iter().any(|d| d.contains("probe_state_cycle")), "{p:?}");
    assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "{p:?}");
    assert!(
        p.iter().any(|d| d.contains("e USING INTEGER PRIMARY KEY")),
        "{p:?}"
    );

    let p = plan(
        &store,
        "SELECT id FROM incidents WHERE entry_id = ?1 AND site = ?2
         AND state IN ('open', 'acknowledged')",
        params![1i64, "118.dk"],
    );
    assert!(p.iter().any(|d| d.contains("incidents_active")), "{p:?}");

    let p = plan(
        &store,
        "SELECT time FROM probes WHERE entry_id = ?1 ORDER BY time, id",
        params![1i64],
    );
    assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "{p:?}");
    let p = plan(
        &store,
        "SELECT outcome FROM probes WHERE site = ?1 ORDER BY time DESC, id DESC LIMIT 50",
        params!["118.dk"],
    );
    assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "{p:?}");
    let p = plan(&store, queries::COVERAGE_SQL, params!["118.dk"]);
    println!("site_coverage plan: {p:?}");
    assert!(
        p.iter()
            .any(|d| d.contains("COVERING INDEX entries_active")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|d| d.contains("ps USING PRIMARY KEY")),
        "{p:?}"
    );
    let p = plan(
        &store,
        outbox::FORM_SQL,
        params!["hook", "118.dk", "exposure.opened"],
    );
    println!("form_message plan: {p:?}");
    assert!(p.iter().any(|d| d.contains("deliveries_receiver")), "{p:?}");
    let p = plan(&store, outbox::PENDING_SQL, params!["hook"]);
    println!("pending_groups plan: {p:?}");
    assert!(p.iter().any(|d| d.contains("deliveries_receiver")), "{p:?}");

    let p = plan(
        &store,
        "SELECT id FROM messages WHERE receiver = ?1 AND state = 'pending'
         ORDER BY created_at, n LIMIT 1",
        params!["hook"],
    );
    assert!(p.iter().all(|d| !d.contains("TEMP B-TREE")), "{p:?}");
}

// ---------------------------------------------------------------- probes

fn pending_count(store: &Store, receiver: &str, ty: EventType) -> u64 {
    store
        .pending_groups(receiver)
        .unwrap()
        .iter()
        .filter(|g| g.event_type == ty)
        .map(|g| g.count)
        .sum()
}

// Long on purpose: one incident's whole life, each step checked where it
// happens, reads better as one story than split into fixtures.
fn incident_lifecycle_through_record_probe(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let rx = receivers();
    let site = "118.dk";

    // Clean with no incident: nothing.
    let e = store
        .record_probe(&probe(id, site, t(1), Outcome::Clean), 3, &rx)
        .unwrap();
    assert_eq!((e.step, e.incident_id), (Step::Nothing, None));

    // Exposed: opens, one delivery per receiver.
    let e = store
        .record_probe(&probe(id, site, t(2), exposed()), 3, &rx)
        .unwrap();
    assert!(matches!(e.step, Step::Open { .. }));
    let inc = e.incident_id.unwrap();
    assert!(inc.starts_with("inc_") && inc.len() == 20, "{inc}");
    assert!(inc[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(pending_count(&store, "hook", EventType::ExposureOpened), 1);
    assert_eq!(pending_count(&store, "mail", EventType::ExposureOpened), 1);
    assert_eq!(store.open_incident_count().unwrap(), 1);
    let v = &store.incidents(true).unwrap()[0];
    assert_eq!(v.id, inc);
    assert_eq!(v.state, IncidentState::Open);
    assert_eq!(v.masked_number, "+45 20 00 •• ••");
    assert_eq!(
        (v.first_seen, v.last_seen, v.resolved_at),
        (t(2), t(2), None)
    );

    // Seen again with the address too: widens, no new event.
    let wider = Outcome::Exposed {
        fields: vec![ExposedField::Address],
        why: vec!["address".into()],
    };
    let e = store
        .record_probe(&probe(id, site, t(3), wider), 3, &rx)
        .unwrap();
    assert!(matches!(e.step, Step::SeenAgain { .. }));
    assert_eq!(e.incident_id.as_deref(), Some(inc.as_str()));
    let v = &store.incidents(true).unwrap()[0];
    assert_eq!(v.exposed, vec![ExposedField::Number, ExposedField::Address]);
    assert_eq!(v.last_seen, t(3));
    assert_eq!(pending_count(&store, "hook", EventType::ExposureOpened), 1);

    // k-1 clean probes, with inconclusive ones in between: no resolve.
    let steps: Vec<Step> = [
        Outcome::Clean,
        inconclusive(),
        Outcome::Clean,
        inconclusive(),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, o)| {
        store
            .record_probe(&probe(id, site, t(10 + i as i64), o), 3, &rx)
            .unwrap()
            .step
    })
    .collect();
    assert_eq!(
        steps,
        vec![
            Step::CleanCounted {
                consecutive_clean: 1
            },
            Step::Nothing,
            Step::CleanCounted {
                consecutive_clean: 2
            },
            Step::Nothing,
        ]
    );
    assert_eq!(store.open_incident_count().unwrap(), 1);
    // Another site's probes don't touch this incident.
    let e = store
        .record_probe(&probe(id, "krak.dk", t(15), Outcome::Clean), 3, &rx)
        .unwrap();
    assert_eq!(e.step, Step::Nothing);

    // k-th clean resolves and raises the resolved event.
    let e = store
        .record_probe(&probe(id, site, t(20), Outcome::Clean), 3, &rx)
        .unwrap();
    assert_eq!(
        e.step,
        Step::Resolve {
            consecutive_clean: 3
        }
    );
    assert_eq!(e.incident_id.as_deref(), Some(inc.as_str()));
    assert_eq!(store.open_incident_count().unwrap(), 0);
    assert!(store.incidents(true).unwrap().is_empty());
    let v = &store.incidents(false).unwrap()[0];
    assert_eq!(v.state, IncidentState::Resolved);
    assert_eq!(v.resolved_at, Some(t(20)));
    assert_eq!(
        pending_count(&store, "hook", EventType::ExposureResolved),
        1
    );
    assert_eq!(
        pending_count(&store, "mail", EventType::ExposureResolved),
        1
    );

    // A later exposure is a new incident.
    let e = store
        .record_probe(&probe(id, site, t(30), exposed()), 3, &rx)
        .unwrap();
    assert!(matches!(e.step, Step::Open { .. }));
    let second = e.incident_id.unwrap();
    assert_ne!(second, inc);
    let all = store.incidents(false).unwrap();
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec![inc.as_str(), second.as_str()]
    );
    assert_eq!(store.open_incident_count().unwrap(), 1);
    assert_eq!(pending_count(&store, "hook", EventType::ExposureOpened), 2);

    // History: every probe of the entry, oldest first, all sites.
    let h = store.history("r1").unwrap().unwrap();
    assert_eq!(h.len(), 10);
    assert!(h.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(h[1].outcome, OutcomeKind::Exposed);
    assert_eq!(h[4].outcome, OutcomeKind::Inconclusive);
    assert_eq!(h[4].reason.as_deref(), Some("http 429"));
    assert_eq!(h[3].reason, None);
    assert_eq!(h[7].site, "krak.dk");
    assert_eq!(h[0].http_status, Some(200));
    assert!(store.history("r0").unwrap().unwrap().is_empty());

    // The opening probe and the incident point at each other; `why` kept.
    let (opened, why): (i64, String) = store
        .with(|c| {
            c.query_one(
                "SELECT i.opened_probe, p.why FROM incidents i JOIN probes p ON p.id = i.opened_probe
                 WHERE i.id = ?1 AND p.incident_id = i.id",
                params![inc],
                |r| Ok((r.i64(0)?, r.text(1)?)),
            )
        })
        .unwrap();
    assert!(opened > 0);
    assert_eq!(why, "number,name");
}

fn record_probe_for_unknown_entry_fails_without_side_effects(be: &Fresh) {
    let (_d, store) = be.store();
    let err = store
        .record_probe(
            &probe(EntryId(42), "118.dk", t(0), exposed()),
            3,
            &receivers(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert_eq!(scalar(&store, "SELECT count(*) FROM incidents"), 0);
    assert_eq!(scalar(&store, "SELECT count(*) FROM probes"), 0);
    assert_eq!(scalar(&store, "SELECT count(*) FROM deliveries"), 0);
}

fn site_coverage_tracks_conclusive_probes(be: &Fresh) {
    let (_d, store) = be.store();
    let site = "118.dk";
    assert_eq!(
        store.site_coverage(site, t(0)).unwrap().oldest_probe_age,
        None
    );
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let ids: Vec<EntryId> = (0..3).map(|i| id_of(&store, &format!("r{i}"))).collect();

    let c = store.site_coverage(site, t(100)).unwrap();
    assert_eq!(c.oldest_probe_age, Some(Duration::from_secs(100)));
    assert_eq!((c.never_probed, c.probes_total), (3, 0));
    assert!(c.recent.is_empty());

    let rx = receivers();
    store
        .record_probe(&probe(ids[0], site, t(50), Outcome::Clean), 3, &rx)
        .unwrap();
    store
        .record_probe(&probe(ids[1], site, t(60), exposed()), 3, &rx)
        .unwrap();
    store
        .record_probe(&probe(ids[2], site, t(70), inconclusive()), 3, &rx)
        .unwrap();
    store
        .record_probe(&probe(ids[2], "krak.dk", t(70), Outcome::Clean), 3, &rx)
        .unwrap();
    let c = store.site_coverage(site, t(100)).unwrap();
    // r2 was only probed inconclusively here: it still counts from t(0).
    assert_eq!(c.oldest_probe_age, Some(Duration::from_secs(100)));
    assert_eq!(c.never_probed, 1);
    assert_eq!((c.probes_total, c.probes_conclusive), (3, 2));
    assert_eq!(
        c.recent,
        vec![
            OutcomeKind::Inconclusive,
            OutcomeKind::Exposed,
            OutcomeKind::Clean
        ]
    );

    store
        .record_probe(&probe(ids[2], site, t(80), Outcome::Clean), 3, &rx)
        .unwrap();
    let c = store.site_coverage(site, t(100)).unwrap();
    assert_eq!(c.oldest_probe_age, Some(Duration::from_secs(50)));
    assert_eq!(c.never_probed, 0);
    // Clock behind the data: no negative age.
    let c = store.site_coverage(site, t(0)).unwrap();
    assert_eq!(c.oldest_probe_age, Some(Duration::ZERO));
}

// ---------------------------------------------------------------- outbox

// Long on purpose: a message's whole life (grouping, forming, retries,
// delivery, FIFO), each step checked where it happens.
fn outbox_groups_incidents_into_one_message_and_delivers_fifo(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..4).map(entry).collect(), t(0)));
    let rx = Routes::all(&["hook"]);
    let mut opened = Vec::new();
    for i in 0..3 {
        let id = id_of(&store, &format!("r{i}"));
        let e = store
            .record_probe(&probe(id, "118.dk", t(10 + i), exposed()), 3, &rx)
            .unwrap();
        opened.push(e.incident_id.unwrap());
    }
    let id3 = id_of(&store, "r3");
    store
        .record_probe(&probe(id3, "krak.dk", t(5), exposed()), 3, &rx)
        .unwrap();

    let groups = store.pending_groups("hook").unwrap();
    assert_eq!(
        groups,
        vec![
            PendingGroup {
                site: "krak.dk".into(),
                event_type: EventType::ExposureOpened,
                oldest: t(5),
                count: 1
            },
            PendingGroup {
                site: "118.dk".into(),
                event_type: EventType::ExposureOpened,
                oldest: t(10),
                count: 3
            },
        ]
    );
    assert!(store.pending_groups("other").unwrap().is_empty());

    let mut calls = Vec::new();
    let msg = store
        .form_message(
            "hook",
            "118.dk",
            EventType::ExposureOpened,
            "msg_1",
            t(100),
            &mut |incs: &[EventIncident], _: Option<&str>| {
                calls.push(incs.iter().map(|i| i.id.clone()).collect::<Vec<_>>());
                assert!(incs.iter().all(|i| i.masked_number.ends_with("•• ••")));
                assert!(incs.iter().all(|i| i.state == IncidentState::Open));
                format!("{{\"n\":{}}}", incs.len())
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(calls, vec![opened.clone()], "build_body once, event order");
    assert_eq!(msg.body, "{\"n\":3}");
    assert_eq!(
        (msg.attempts, msg.next_attempt_at, msg.created_at),
        (0, t(100), t(100))
    );
    assert_eq!(store.pending_groups("hook").unwrap().len(), 1);

    // Nothing left to form for that group: None, and no body built.
    let mut called = false;
    let none = store
        .form_message(
            "hook",
            "118.dk",
            EventType::ExposureOpened,
            "msg_x",
            t(101),
            &mut |_: &[EventIncident], _: Option<&str>| {
                called = true;
                String::new()
            },
        )
        .unwrap();
    assert!(none.is_none() && !called);

    let msg2 = store
        .form_message(
            "hook",
            "krak.dk",
            EventType::ExposureOpened,
            "msg_2",
            t(102),
            &mut |incs: &[EventIncident], _: Option<&str>| format!("{}", incs.len()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(msg2.body, "1");
    assert!(store.pending_groups("hook").unwrap().is_empty());

    // FIFO: the older message first, through failures too.
    assert_eq!(store.next_message("hook").unwrap().unwrap().id, "msg_1");
    store
        .mark_attempt_failed("msg_1", t(110), t(170), Some(503), "http 503")
        .unwrap();
    store
        .mark_attempt_failed("msg_1", t(170), t(400), None, "timeout")
        .unwrap();
    let head = store.next_message("hook").unwrap().unwrap();
    assert_eq!((head.id.as_str(), head.attempts), ("msg_1", 2));
    assert_eq!(head.next_attempt_at, t(400));
    assert_eq!(head.body, msg.body);
    let s = store.outbox_stats("hook").unwrap();
    assert_eq!(
        (
            s.undelivered_events,
            s.pending_messages,
            s.delivered_messages
        ),
        (4, 2, 0)
    );
    assert_eq!(s.head_attempts, 2);
    assert_eq!(s.last_error.as_deref(), Some("timeout"));

    store.mark_delivered("msg_1", t(401), 204).unwrap();
    assert_eq!(store.next_message("hook").unwrap().unwrap().id, "msg_2");
    let s = store.outbox_stats("hook").unwrap();
    assert_eq!(
        (
            s.undelivered_events,
            s.pending_messages,
            s.delivered_messages
        ),
        (1, 1, 1)
    );
    assert_eq!((s.head_attempts, s.last_error), (0, None));
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM attempts WHERE message_id = 'msg_1'"
        ),
        3
    );
    store.mark_delivered("msg_2", t(402), 200).unwrap();
    assert!(store.next_message("hook").unwrap().is_none());
    let s = store.outbox_stats("hook").unwrap();
    assert_eq!((s.undelivered_events, s.pending_messages), (0, 0));

    assert!(store.mark_delivered("nope", t(403), 200).is_err());
    assert!(
        store
            .mark_attempt_failed("nope", t(403), t(404), None, "x")
            .is_err()
    );
    // A message id is never reused.
    assert!(
        store
            .raise_site_event("118.dk", EventType::SiteDegraded, t(500), &rx)
            .is_ok()
    );
    assert!(
        store
            .form_message(
                "hook",
                "118.dk",
                EventType::SiteDegraded,
                "msg_1",
                t(501),
                &mut |_: &[EventIncident], _: Option<&str>| String::new()
            )
            .is_err()
    );
}

fn site_events_form_messages_without_incidents(be: &Fresh) {
    let (_d, store) = be.store();
    let rx = Routes::all(&["hook", "mail"]);
    store
        .raise_site_event("118.dk", EventType::SiteDegraded, t(1), &rx)
        .unwrap();
    store
        .raise_site_event("118.dk", EventType::SiteRecovered, t(2), &rx)
        .unwrap();
    let groups = store.pending_groups("mail").unwrap();
    assert_eq!(
        groups.iter().map(|g| g.event_type).collect::<Vec<_>>(),
        vec![EventType::SiteDegraded, EventType::SiteRecovered]
    );
    let mut seen = None;
    let m = store
        .form_message(
            "mail",
            "118.dk",
            EventType::SiteDegraded,
            "m1",
            t(3),
            &mut |incs: &[EventIncident], _: Option<&str>| {
                seen = Some(incs.len());
                "degraded".into()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(seen, Some(0));
    assert_eq!(m.event_type, EventType::SiteDegraded);
    // The other receiver's delivery is untouched.
    assert_eq!(store.pending_groups("hook").unwrap().len(), 2);
}

fn store_is_shareable_across_threads(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..20).map(entry).collect(), t(0)));
    let ids: Vec<EntryId> = (0..20).map(|i| id_of(&store, &format!("r{i}"))).collect();
    let handles: Vec<_> = ids
        .chunks(5)
        .map(|chunk| {
            let store = store.clone();
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for (n, id) in chunk.into_iter().enumerate() {
                    store
                        .record_probe(
                            &probe(id, "118.dk", t(n as i64), Outcome::Clean),
                            3,
                            &Routes::default(),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        store.site_coverage("118.dk", t(100)).unwrap().probes_total,
        20
    );
}

fn corrupt_values_read_back_are_errors_without_the_value(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, vec![entry(1)], t(0)));
    store
        .with(|c| c.batch("UPDATE entries SET phone = '20000001x'"))
        .unwrap();
    let err = store.entry_by_ref("r1").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("phone"), "{msg}");
    assert!(!msg.contains("20000001"), "{msg}");
}

// ---------------------------------------------------------------- audit trail

fn exec(store: &Store, q: &str) -> u64 {
    store.with(|c| c.execute(q, params![])).unwrap()
}

fn texts(store: &Store, q: &str) -> Vec<String> {
    store
        .with(|c| c.query_map(q, params![], |r| r.text(0)))
        .unwrap()
}

fn kinds(store: &Store) -> Vec<String> {
    texts(store, "SELECT kind FROM audit ORDER BY seq")
}

fn audit_seq_of(store: &Store, kind: &str, ref_id: &str) -> i64 {
    store
        .with(|c| {
            c.query_i64(
                "SELECT seq FROM audit WHERE kind = ?1 AND ref_id = ?2",
                params![kind, ref_id],
            )
        })
        .unwrap()
}

fn broken(store: &Store) -> BrokenRecord {
    let v = store.audit_verify().unwrap();
    assert!(!v.verified);
    v.first_broken.expect("a broken record")
}

fn assert_verified(store: &Store) {
    let v = store.audit_verify().unwrap();
    assert!(v.verified, "{:?}", v.first_broken.map(|b| b.to_string()));
    assert_eq!(v.first_broken, None);
}

/// Records the outcomes in order, one second apart from `from`; returns
/// the probe ids.
fn story(store: &Store, id: EntryId, from: i64, outcomes: Vec<Outcome>, k: u32) -> Vec<i64> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            store
                .record_probe(&probe(id, "118.dk", t(from + i as i64), o), k, &receivers())
                .unwrap()
                .probe_id
        })
        .collect()
}

fn every_change_appends_a_chained_record(be: &Fresh) {
    let (_d, store) = be.store();
    assert_eq!(kinds(&store), ["trail.start"]);
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    use Outcome::Clean;
    story(
        &store,
        id,
        1,
        vec![Clean, exposed(), inconclusive(), Clean, Clean],
        2,
    );
    assert_eq!(
        kinds(&store),
        [
            "trail.start",
            "roster.import",
            "probe",
            "probe",
            "incident.open",
            "probe",
            "probe",
            "probe",
            "incident.resolve"
        ]
    );
    let v = store.audit_verify().unwrap();
    assert!(v.verified);
    assert_eq!(v.records, 9);
    let head = store.audit_head().unwrap().unwrap();
    assert_eq!(v.head.as_ref(), Some(&head));
    assert_eq!(head.seq, 9);

    // The hash is the documented construction over the stored fields.
    let (prev, payload, kind, time, hash): (String, String, String, i64, String) = store
        .with(|c| {
            c.query_one(
                "SELECT prev_hash, payload, kind, time, hash FROM audit WHERE seq = 9",
                params![],
                |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.i64(3)?, r.text(4)?)),
            )
        })
        .unwrap();
    assert_eq!(
        crate::audit::chain_hash(&prev, &payload, &kind, time, 9),
        hash
    );
    let p: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(p["consecutive_clean"], 2);
    assert_eq!(p["closing_probes"].as_array().unwrap().len(), 2);

    // Payloads carry ids, counts and hashes, never roster data.
    let all = texts(&store, "SELECT payload FROM audit ORDER BY seq").join(" ");
    for secret in ["2000000", "2000001", "Person", "Ågade", "8000"] {
        assert!(!all.contains(secret), "audit payload holds {secret}: {all}");
    }
    let import: serde_json::Value = serde_json::from_str(&text_of(
        &store,
        "SELECT payload FROM audit WHERE kind = 'roster.import'",
    ))
    .unwrap();
    assert_eq!(import["added"], 2);

    // The resolution is vouched for: its instant cannot move unseen.
    exec(&store, "UPDATE incidents SET resolved_at = resolved_at + 1");
    let b = broken(&store);
    assert_eq!(b.kind, "incident.resolve");
    assert!(b.message.contains("resolved_at differs"), "{}", b.message);
}

fn editing_or_deleting_rows_behind_the_stores_back_is_detected(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let ids = story(
        &store,
        id,
        1,
        vec![Outcome::Clean, exposed(), Outcome::Clean],
        3,
    );
    assert_verified(&store);
    let exposed_id = ids[1];
    let seq = audit_seq_of(&store, "probe", &exposed_id.to_string());

    // A probe's outcome edited.
    exec(
        &store,
        &format!("UPDATE probes SET outcome = 'clean' WHERE id = {exposed_id}"),
    );
    let b = broken(&store);
    assert_eq!(
        (b.seq, b.kind.as_str(), b.ref_id.clone()),
        (Some(seq), "probe", exposed_id.to_string())
    );
    assert!(b.message.contains("outcome"), "{}", b.message);
    assert!(
        b.to_string()
            .starts_with(&format!("audit record {seq} (probe {exposed_id}): ")),
        "{b}"
    );
    exec(
        &store,
        &format!("UPDATE probes SET outcome = 'exposed' WHERE id = {exposed_id}"),
    );
    assert_verified(&store);

    // The page hash swapped.
    exec(
        &store,
        &format!("UPDATE probes SET page_sha256 = 'cd' WHERE id = {exposed_id}"),
    );
    let b = broken(&store);
    assert_eq!(b.seq, Some(seq));
    assert!(b.message.contains("page_sha256"), "{}", b.message);
    exec(
        &store,
        &format!(
            "UPDATE probes SET page_sha256 = '{}' WHERE id = {exposed_id}",
            "ab".repeat(32)
        ),
    );
    assert_verified(&store);

    // The incident's first sighting moved.
    let inc = store.incidents(false).unwrap()[0].id.clone();
    exec(
        &store,
        "UPDATE incidents SET first_seen = first_seen + 1000",
    );
    let b = broken(&store);
    assert_eq!(
        (b.kind.as_str(), b.ref_id.as_str()),
        ("incident.open", inc.as_str())
    );
    exec(
        &store,
        "UPDATE incidents SET first_seen = first_seen - 1000",
    );
    assert_verified(&store);

    // A record's payload edited: its hash no longer matches.
    exec(
        &store,
        &format!(
            "UPDATE audit SET payload = replace(payload, 'exposed', 'clean') WHERE seq = {seq}"
        ),
    );
    let b = broken(&store);
    assert_eq!(b.seq, Some(seq));
    assert!(b.message.contains("hash"), "{}", b.message);
}

fn deleted_records_and_rows_are_named(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let ids = story(
        &store,
        id,
        1,
        vec![Outcome::Clean, Outcome::Clean, Outcome::Clean],
        3,
    );

    // A probe row deleted: its record names it.
    let seq = audit_seq_of(&store, "probe", &ids[1].to_string());
    exec(&store, &format!("DELETE FROM probes WHERE id = {}", ids[1]));
    let b = broken(&store);
    assert_eq!((b.seq, b.ref_id.clone()), (Some(seq), ids[1].to_string()));
    assert!(b.message.contains("missing"), "{}", b.message);

    // An audit record deleted from the middle: the next one says so.
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let ids = story(
        &store,
        id,
        1,
        vec![Outcome::Clean, Outcome::Clean, Outcome::Clean],
        3,
    );
    let seq = audit_seq_of(&store, "probe", &ids[1].to_string());
    exec(&store, &format!("DELETE FROM audit WHERE seq = {seq}"));
    let b = broken(&store);
    assert_eq!(b.seq, Some(seq + 1));
    assert!(
        b.message
            .contains(&format!("record {seq} before it is missing")),
        "{b}"
    );

    // The record and its row deleted together in the middle: still a gap.
    // A probe added without a record: named as such.
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    story(&store, id, 1, vec![Outcome::Clean], 3);
    exec(
        &store,
        &format!(
            "INSERT INTO probes (id, entry_id, site, time, outcome, url_masked)
             VALUES (999, {}, '118.dk', 0, 'clean', '/x')",
            id.0
        ),
    );
    let b = broken(&store);
    assert_eq!(
        (b.seq, b.kind.as_str(), b.ref_id.as_str()),
        (None, "probe", "999")
    );
    assert!(b.to_string().starts_with("probe 999: "), "{b}");
}

fn evidence_rows(store: &Store) -> Vec<(i64, bool)> {
    store
        .with(|c| {
            c.query_map(
                "SELECT probe_id, CASE WHEN body_gz IS NOT NULL THEN 1 ELSE 0 END
                 FROM evidence ORDER BY probe_id",
                params![],
                |r| Ok((r.i64(0)?, r.i64(1)? == 1)),
            )
        })
        .unwrap()
}

// Long on purpose: which pages a story of probes keeps, then how a report
// and the audit see them, on the same data.
fn evidence_is_kept_for_exposures_and_the_probes_that_close_them(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    use Outcome::Clean;
    let ids = story(
        &store,
        id,
        1,
        vec![
            Clean,          // 0: no incident: hash and size only
            exposed(),      // 1: kept
            Clean,          // 2: kept, then purged by 4
            inconclusive(), // 3: nothing
            exposed(),      // 4: kept; resets the count
            Clean,          // 5..7: kept, close it
            Clean,
            Clean,
            Clean, // 8: after resolution: hash only
        ],
        3,
    );
    assert_eq!(
        evidence_rows(&store),
        vec![
            (ids[1], true),
            (ids[2], false),
            (ids[4], true),
            (ids[5], true),
            (ids[6], true),
            (ids[7], true)
        ]
    );
    assert_eq!(
        store.evidence_body(ids[5]).unwrap().unwrap(),
        format!("<html>{}</html>", t(6)).into_bytes()
    );
    assert_eq!(store.evidence_body(ids[2]).unwrap(), None);
    assert_eq!(store.evidence_body(ids[0]).unwrap(), None);
    // Every probe keeps its page size.
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM probes WHERE page_size IS NOT NULL"
        ),
        9
    );
    assert!(kinds(&store).contains(&"evidence.purge".to_string()));
    assert_verified(&store);

    // The report's view: bounded by the first clean probe, closed by 5..7.
    let r = store
        .report_incidents(&ReportScope::Filter {
            cohort: None,
            since: None,
            until: None,
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.last_clean_before.as_ref().map(|p| p.id), Some(ids[0]));
    assert_eq!(r.opened_by.as_ref().map(|p| p.id), Some(ids[1]));
    assert_eq!(
        r.closing_probes.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[5..8]
    );
    assert_eq!(r.exposed_probes, 2);
    assert!(matches!(
        r.closing_probes[0].evidence,
        KeptEvidence::Kept { .. }
    ));
    let inc = r.incident.id.clone();
    assert!(
        store
            .report_incidents(&ReportScope::Incident(inc))
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .report_incidents(&ReportScope::Incident("inc_nope".into()))
            .unwrap()
            .is_none()
    );

    // A kept page replaced: detected at its probe's record.
    let seq = audit_seq_of(&store, "probe", &ids[5].to_string());
    let other = super::codec::gzip(b"<html>forged</html>").unwrap();
    store
        .with(|c| {
            c.execute(
                "UPDATE evidence SET body_gz = ?1 WHERE probe_id = ?2",
                params![other, ids[5]],
            )
        })
        .unwrap();
    let b = broken(&store);
    assert_eq!(b.seq, Some(seq));
    assert!(b.message.contains("kept page"), "{b}");
    // A kept page dropped without a purge record.
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let ids = story(&store, id, 1, vec![exposed()], 3);
    exec(
        &store,
        &format!(
            "UPDATE evidence SET body_gz = NULL, purged_at = 1 WHERE probe_id = {}",
            ids[0]
        ),
    );
    assert_eq!(broken(&store).kind, "evidence");
}

const DAY: i64 = 86400;

fn purge_honours_retention_and_never_touches_open_incidents(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    use Outcome::Clean;
    // r0: resolved at t(12). r1: still open.
    let resolved = story(&store, a, 10, vec![exposed(), Clean, Clean], 2);
    let open = story(&store, b, 10, vec![exposed(), Clean], 2);
    let retention = Retention {
        evidence: std::time::Duration::from_secs(400 * DAY as u64),
        roster: std::time::Duration::from_secs(30 * DAY as u64),
    };
    let live = |s: &Store| evidence_rows(s).iter().filter(|(_, l)| *l).count();
    assert_eq!(live(&store), 5);

    assert_eq!(
        store
            .purge(t(12 + 399 * DAY), &retention, &receivers())
            .unwrap(),
        PurgeCounts::default()
    );
    assert_eq!(live(&store), 5);
    let p = store
        .purge(t(12 + 401 * DAY), &retention, &receivers())
        .unwrap();
    assert_eq!(p.evidence_purged, 3);
    assert_eq!(
        evidence_rows(&store),
        vec![
            (resolved[0], false),
            (resolved[1], false),
            (resolved[2], false),
            (open[0], true),
            (open[1], true)
        ]
    );
    // Idempotent, and the purge is in the trail: the trail still verifies.
    assert_eq!(
        store
            .purge(t(12 + 900 * DAY), &retention, &receivers())
            .unwrap(),
        PurgeCounts::default()
    );
    assert_verified(&store);
    let r = store
        .report_incidents(&ReportScope::Filter {
            cohort: None,
            since: None,
            until: None,
        })
        .unwrap()
        .unwrap();
    let r0 = r.iter().find(|i| i.incident.entry_ref == "r0").unwrap();
    assert!(matches!(
        r0.closing_probes[0].evidence,
        KeptEvidence::Purged { .. }
    ));
}

fn removed_entries_are_forgotten_after_roster_retention(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    story(&store, id, 1, vec![exposed()], 2);
    let hmac_before = text_of(&store, "SELECT phone_hmac FROM entries WHERE ref = 'r1'");
    // r1 leaves the roster at t(10).
    applied(import(&store, vec![entry(0), entry(2)], t(10)));
    let retention = Retention {
        evidence: std::time::Duration::from_secs(400 * DAY as u64),
        roster: std::time::Duration::from_secs(30 * DAY as u64),
    };
    assert_eq!(
        store
            .purge(t(10 + 29 * DAY), &retention, &receivers())
            .unwrap()
            .entries_erased,
        0
    );
    assert!(store.entry_by_ref("r1").unwrap().is_some());
    assert_eq!(
        store
            .purge(t(10 + 31 * DAY), &retention, &receivers())
            .unwrap()
            .entries_erased,
        1
    );

    let row: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    ) = store
        .with(|c| {
            c.query_one(
                "SELECT phone, name, street, postcode, phone_hmac FROM entries WHERE ref = 'r1'",
                params![],
                |r| {
                    Ok((
                        r.opt_text(0)?,
                        r.opt_text(1)?,
                        r.opt_text(2)?,
                        r.opt_text(3)?,
                        r.text(4)?,
                    ))
                },
            )
        })
        .unwrap();
    let (phone, name, street, postcode, hmac) = row;
    assert_eq!((phone, name, street, postcode), (None, None, None, None));
    // The keyed hash is replaced by a random one of the same shape: a
    // guessed number can no longer be confirmed against it.
    assert_ne!(hmac, hmac_before);
    assert_eq!(hmac.len(), 64);
    // Incidents keep the ref; the number is gone even masked; the open
    // one is withdrawn, its page purged.
    let inc = &store.incidents(false).unwrap()[0];
    assert_eq!(inc.entry_ref, "r1");
    assert_eq!(inc.masked_number, rows::ERASED);
    assert_eq!(inc.state, IncidentState::Withdrawn);
    assert!(evidence_rows(&store).iter().all(|(_, live)| !live));
    assert!(store.entry_by_ref("r1").unwrap().is_none());
    assert_eq!(store.history("r1").unwrap().unwrap().len(), 1);
    // Active entries are never erased, however old.
    assert_eq!(
        store
            .purge(t(10 + 9000 * DAY), &retention, &receivers())
            .unwrap()
            .entries_erased,
        0
    );
    assert!(kinds(&store).contains(&"roster.erase".to_string()));
    assert_verified(&store);

    // Back on the roster: restored whole.
    let c = applied(import(
        &store,
        (0..3).map(entry).collect(),
        t(20 + 40 * DAY),
    ));
    assert_eq!(c.added, 1);
    assert_eq!(store.entry_by_ref("r1").unwrap().unwrap().1, entry(1));
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM entries WHERE erased_at IS NOT NULL"
        ),
        0
    );
}

#[test]
fn a_store_from_before_the_trail_is_backfilled_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        rusqlite_migration::Migrations::from_slice(&crate::store::sqlite::MIGRATION_LIST[..2])
            .to_latest(&mut c)
            .unwrap();
        c.execute_batch(
            "INSERT INTO entries (id, ref, phone, phone_hmac, hide_number, hide_address, active,
                 added_at, updated_at)
             VALUES (1, 'old-1', '+4513500001', 'h1', 1, 0, 1, 0, 0);
             INSERT INTO incidents (id, entry_id, site, exposed, state, first_seen, last_seen,
                 resolved_at, consecutive_clean)
             VALUES ('inc_old', 1, '118.dk', 'number', 'resolved', 1000, 1000, 3000, 2);
             INSERT INTO probes (id, entry_id, site, time, outcome, url_masked, incident_id)
             VALUES (1, 1, '118.dk', 1000, 'exposed', '/q', 'inc_old'),
                    (2, 1, '118.dk', 2000, 'clean', '/q', 'inc_old'),
                    (3, 1, '118.dk', 3000, 'clean', '/q', 'inc_old');
             UPDATE incidents SET opened_probe = 1;
             INSERT INTO messages (id, receiver, type, site, body, created_at, state,
                 next_attempt_at)
             VALUES ('m_b', 'hook', 'exposure.opened', '118.dk', 'b', 5000, 'pending', 5000),
                    ('m_a', 'hook', 'exposure.opened', '118.dk', 'a', 5000, 'pending', 5000);
             INSERT INTO events (id, type, site, incident_id, created_at)
             VALUES (1, 'exposure.opened', '118.dk', 'inc_old', 1000);
             INSERT INTO deliveries (event_id, receiver, message_id) VALUES (1, 'hook', 'm_b');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        kinds(&store),
        [
            "trail.start",
            "probe",
            "probe",
            "probe",
            "incident.open",
            "incident.resolve"
        ]
    );
    assert_verified(&store);
    // The rebuilt entries table kept its rows and constraints.
    assert_eq!(
        store.entry_by_ref("old-1").unwrap().unwrap().1.entry_ref,
        "old-1"
    );
    assert_eq!(scalar(&store, "PRAGMA foreign_keys"), 1);
    let _ = Store::open(&path).unwrap();
    assert_eq!(kinds(&store).len(), 6, "the backfill runs once");
    // Messages kept their order across the rebuild of version 5 (same
    // created_at: the older row first, whatever the ids).
    assert_eq!(store.next_message("hook").unwrap().unwrap().id, "m_b");
    store.mark_delivered("m_b", t(1), 200).unwrap();
    assert_eq!(store.next_message("hook").unwrap().unwrap().id, "m_a");
    assert_eq!(store.outbox_stats("hook").unwrap().delivered_messages, 1);
}

// ------------------------------------------------------- people and noise

fn exposed_with(keys: &[&str]) -> impl Fn(EntryId, Ts) -> NewProbe {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    move |id, at| NewProbe {
        listing_keys: keys.clone(),
        ..probe(id, "118.dk", at, exposed())
    }
}

fn deliveries(store: &Store, receiver: &str, kind: &str) -> i64 {
    scalar(
        store,
        &format!(
            "SELECT count(*) FROM deliveries AS d JOIN events AS e ON e.id = d.event_id
             WHERE d.receiver = '{receiver}' AND e.type = '{kind}'"
        ),
    )
}

fn dismissal_names_the_listings_and_undo_reopens_a_quiet_incident(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    let rx = receivers();
    let e = store
        .record_probe(&exposed_with(&["k1", "k2"])(a, t(1)), 3, &rx)
        .unwrap();
    store
        .record_probe(&exposed_with(&["k1"])(b, t(1)), 3, &rx)
        .unwrap();
    let id = e.incident_id.unwrap();

    let err = store
        .incident_action(&id, IncidentAction::Dismiss, "alice", "  ", t(2))
        .unwrap_err();
    assert!(matches!(err, StoreError::BadInput(_)));
    let st = store
        .incident_action(&id, IncidentAction::Dismiss, "alice", "shop number", t(2))
        .unwrap();
    assert_eq!(st, IncidentState::Acknowledged);
    let mut keys = store.dismissed_listings(a, "118.dk").unwrap();
    keys.sort();
    assert_eq!(keys, ["k1", "k2"]);
    // That entry on that site only.
    assert!(store.dismissed_listings(b, "118.dk").unwrap().is_empty());
    assert!(store.dismissed_listings(a, "krak.dk").unwrap().is_empty());

    let st = store
        .incident_action(&id, IncidentAction::Undismiss, "bob", "wrong call", t(3))
        .unwrap();
    assert_eq!(st, IncidentState::Open, "the dismissal was its only ack");
    assert!(store.dismissed_listings(a, "118.dk").unwrap().is_empty());
    let acts = store.incident_actions(&id).unwrap();
    assert_eq!(
        acts.iter()
            .map(|x| (x.action, x.actor.as_str()))
            .collect::<Vec<_>>(),
        [
            (IncidentAction::Dismiss, "alice"),
            (IncidentAction::Undismiss, "bob")
        ]
    );
    assert!(store.audit_verify().unwrap().verified);
}

fn ack_refuses_resolved_and_unknown_incidents(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, vec![entry(0)], t(0)));
    let a = id_of(&store, "r0");
    let rx = receivers();
    let id = store
        .record_probe(&probe(a, "118.dk", t(1), exposed()), 1, &rx)
        .unwrap()
        .incident_id
        .unwrap();
    store
        .record_probe(&probe(a, "118.dk", t(2), Outcome::Clean), 1, &rx)
        .unwrap();
    let e = store
        .incident_action(&id, IncidentAction::Ack, "a", "r", t(3))
        .unwrap_err();
    assert!(e.to_string().contains("already resolved"), "{e}");
    let e = store
        .incident_action("inc_nope", IncidentAction::Ack, "a", "r", t(3))
        .unwrap_err();
    assert!(e.to_string().contains("no incident"), "{e}");
    // Without a recorded listing there is nothing to dismiss.
    let e = store
        .incident_action(&id, IncidentAction::Dismiss, "a", "r", t(3))
        .unwrap_err();
    assert!(e.to_string().contains("no recorded listing"), "{e}");
}

fn reminders_skip_acknowledged_and_respect_the_interval(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let rx = receivers();
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    store
        .record_probe(&probe(a, "118.dk", t(10), exposed()), 3, &rx)
        .unwrap();
    let ib = store
        .record_probe(&probe(b, "118.dk", t(10), exposed()), 3, &rx)
        .unwrap()
        .incident_id
        .unwrap();
    store
        .incident_action(&ib, IncidentAction::Ack, "a", "on it", t(11))
        .unwrap();
    let hour = Duration::from_secs(3600);
    assert_eq!(
        store.queue_reminders(t(100), hour, &rx).unwrap(),
        0,
        "not due"
    );
    assert_eq!(
        store.queue_reminders(t(3610), hour, &rx).unwrap(),
        1,
        "only the open one"
    );
    assert_eq!(
        store.queue_reminders(t(3620), hour, &rx).unwrap(),
        0,
        "counts from the reminder"
    );
    assert_eq!(store.queue_reminders(t(7210), hour, &rx).unwrap(), 1);
    assert_eq!(deliveries(&store, "hook", "exposure.reminder"), 2);
}

fn silences_match_site_type_and_cohort_and_hold_back_deliveries(be: &Fresh) {
    let (_d, store) = be.store();
    let mut es: Vec<Entry> = (0..3).map(entry).collect();
    es[0].cohort = Some("migr".into());
    applied(import(&store, es, t(0)));
    let rx = receivers();
    let sil = store
        .add_silence(
            &NewSilence {
                site: Some("118.dk".into()),
                event_type: Some(EventType::ExposureOpened),
                cohort: Some("migr".into()),
                reason: "known".into(),
                created_by: "dave".into(),
                expires_at: t(1000),
            },
            t(1),
        )
        .unwrap();
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    store
        .record_probe(&probe(a, "118.dk", t(10), exposed()), 3, &rx)
        .unwrap();
    store
        .record_probe(&probe(b, "118.dk", t(10), exposed()), 3, &rx)
        .unwrap();
    store
        .record_probe(&probe(a, "krak.dk", t(10), exposed()), 3, &rx)
        .unwrap();
    // r0 on 118.dk is held back; r1 (other cohort) and krak.dk are not.
    assert_eq!(deliveries(&store, "hook", "exposure.opened"), 2);
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM events WHERE silenced_by IS NOT NULL"
        ),
        1
    );
    assert_eq!(store.silences(t(500), false).unwrap().len(), 1);
    // While silenced it is not announced by the reminder pass either ...
    let hour = Duration::from_secs(3600);
    assert_eq!(store.queue_reminders(t(500), hour, &rx).unwrap(), 0);
    // ... and once the silence is over it is, as an opening.
    assert!(store.end_silence(&sil, "dave", t(600)).unwrap());
    assert!(!store.end_silence(&sil, "dave", t(601)).unwrap());
    assert!(store.silences(t(601), false).unwrap().is_empty());
    assert_eq!(store.silences(t(601), true).unwrap().len(), 1);
    assert_eq!(store.queue_reminders(t(700), hour, &rx).unwrap(), 1);
    assert_eq!(deliveries(&store, "hook", "exposure.opened"), 3);
    let e = store
        .add_silence(
            &NewSilence {
                site: None,
                event_type: None,
                cohort: None,
                reason: "x".into(),
                created_by: "d".into(),
                expires_at: t(5),
            },
            t(10),
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::BadInput(_)));
}

fn digest_is_queued_once_per_day_and_receiver_health_tells_the_others(be: &Fresh) {
    let (_d, store) = be.store();
    let rx = receivers();
    assert_eq!(store.last_digest_day().unwrap(), None);
    assert!(
        store
            .queue_digest("2026-11-28", "{\"n\":1}", t(1), &rx)
            .unwrap()
    );
    assert_eq!(
        store.last_digest_day().unwrap().as_deref(),
        Some("2026-11-28")
    );
    assert!(
        !store
            .queue_digest("2026-11-28", "{\"n\":2}", t(2), &rx)
            .unwrap()
    );
    assert!(
        store
            .queue_digest("2026-11-29", "{\"n\":3}", t(3), &rx)
            .unwrap()
    );
    assert_eq!(deliveries(&store, "hook", "digest"), 2);

    assert!(
        store
            .receiver_failing("hook", "answered 410", "{}", t(5), &rx)
            .unwrap()
    );
    assert!(
        !store
            .receiver_failing("hook", "answered 410", "{}", t(6), &rx)
            .unwrap(),
        "once"
    );
    assert!(store.receiver_failing_since("hook").unwrap().is_some());
    // Told to the others, not to itself.
    assert_eq!(deliveries(&store, "mail", "receiver.failing"), 1);
    assert_eq!(deliveries(&store, "hook", "receiver.failing"), 0);
    assert!(store.receiver_ok("hook", "{}", t(7), &rx).unwrap());
    assert!(!store.receiver_ok("hook", "{}", t(8), &rx).unwrap());
    assert_eq!(deliveries(&store, "mail", "receiver.recovered"), 1);
    assert!(store.receiver_failing_since("hook").unwrap().is_none());
}

// ------------------------------------------------------- reports, cohorts

fn reports_and_cohorts_read_the_same_on_every_backend(be: &Fresh) {
    let (_k, store) = be.store();
    // r0 and r3 are the cohort "batch-1".
    applied(import(&store, (0..6).map(entry).collect(), t(0)));
    let (r0, r1, r3) = (
        id_of(&store, "r0"),
        id_of(&store, "r1"),
        id_of(&store, "r3"),
    );
    let rx = receivers();
    for (id, site, at, o) in [
        (r0, "118.dk", 100, Outcome::Clean),
        (r1, "118.dk", 150, Outcome::Clean),
        (r3, "118.dk", 200, exposed()),
        (r3, "krak.dk", 250, exposed()),
        (r0, "118.dk", 400, Outcome::Clean),
        (r1, "118.dk", 450, inconclusive()),
    ] {
        store
            .record_probe(&probe(id, site, t(at), o), 3, &rx)
            .unwrap();
    }
    assert_eq!(store.cohort_size("batch-1").unwrap(), 2);
    let page = store.cohort_entries("batch-1", None, 10).unwrap();
    assert_eq!(page.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [r0, r3]);
    assert_eq!(page[1].1, entry(3));
    let rest = store.cohort_entries("batch-1", Some(r0), 10).unwrap();
    assert_eq!(rest.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [r3]);

    let sum = store.cohort_summary("batch-1").unwrap();
    assert_eq!(
        (sum.entries, sum.active, sum.erased, sum.entries_exposed),
        (2, 2, 0, 1)
    );
    let sites: Vec<_> = sum
        .sites
        .iter()
        .map(|s| (s.site.as_str(), s.incidents, s.open, s.entries))
        .collect();
    assert_eq!(sites, [("118.dk", 1, 1, 1), ("krak.dk", 1, 1, 1)]);

    let cohort = ReportScope::Filter {
        cohort: Some("batch-1".into()),
        since: None,
        until: None,
    };
    assert_eq!(store.report_scope_start(&cohort).unwrap(), Some(t(0)));
    let everyone = ReportScope::Filter {
        cohort: None,
        since: None,
        until: None,
    };
    assert_eq!(store.report_scope_start(&everyone).unwrap(), Some(t(0)));
    let inc = store.incidents(true).unwrap()[0].id.clone();
    assert!(store.incident_exists(&inc).unwrap());
    assert!(!store.incident_exists("inc_nope").unwrap());
    assert_eq!(
        store
            .report_scope_start(&ReportScope::Incident(inc))
            .unwrap(),
        Some(t(0))
    );

    assert_eq!(
        store.probe_counts_since(t(0)).unwrap(),
        [
            ("118.dk".to_string(), "clean".to_string(), 3),
            ("118.dk".to_string(), "exposed".to_string(), 1),
            ("118.dk".to_string(), "inconclusive".to_string(), 1),
            ("krak.dk".to_string(), "exposed".to_string(), 1),
        ]
    );
    assert_eq!(store.probe_counts_since(t(300)).unwrap().len(), 2);

    // r0: conclusive at 100 and 400 (a 300 s gap); r3: at 200 only (gaps
    // of 200 s and 300 s up to the end of the period).
    let cov = store
        .report_coverage(
            &cohort,
            &["118.dk".to_string()],
            t(0),
            t(500),
            Duration::from_secs(150),
        )
        .unwrap();
    assert_eq!(cov.len(), 1);
    let c = &cov[0];
    assert_eq!((c.entries, c.covered, c.gaps), (2, 0, 3));
    assert_eq!(c.longest_gap, Some(Duration::from_secs(300)));
    assert_eq!(c.examples.len(), 3);
    assert_eq!(
        (
            c.examples[0].entry_ref.as_str(),
            c.examples[0].from,
            c.examples[0].to
        ),
        ("r0", t(100), t(400))
    );
    // Everyone, over a period r1 was probed conclusively once: one gap.
    let all = store
        .report_coverage(
            &everyone,
            &["118.dk".to_string()],
            t(0),
            t(500),
            Duration::from_secs(1000),
        )
        .unwrap();
    assert_eq!((all[0].entries, all[0].covered, all[0].gaps), (6, 6, 0));
}

// ------------------------------------------------------- PostgreSQL only

#[test]
fn postgres_cycle_batches_walk_the_cycle_index_right_after_a_big_import() {
    let Some(c) = pg::cluster() else { return };
    let (_k, store) = Fresh::Postgres(c).store();
    applied(import(&store, (0..5000).map(entry).collect(), t(0)));
    store.start_cycle("118.dk").unwrap();
    let sql = cycle::batch_sql();
    let plan = store
        .with(|c| {
            c.query_map(
                &format!("EXPLAIN {sql}"),
                params!["118.dk", 0i64, 0i64, 100i64],
                |r| r.text(0),
            )
        })
        .unwrap()
        .join("\n");
    assert!(plan.contains("probe_state_cycle"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

#[test]
fn postgres_open_failures_name_the_server_but_never_the_password() {
    let Some(c) = pg::cluster() else { return };
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://postgres:hunter2@127.0.0.1:{port}/x?sslmode=disable");
    let err = Store::open_postgres(&url, Some("swordfish")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}/x")), "{msg}");
    assert!(
        !msg.contains("hunter2") && !msg.contains("swordfish"),
        "{msg}"
    );
    // A database that does not exist is the server's refusal, named.
    let url = c.url("no_such_db");
    let msg = Store::open_postgres(&url, None).unwrap_err().to_string();
    assert!(msg.contains("no_such_db"), "{msg}");
    // Two stores opened on one database share it: the schema is
    // migrated once, the pseudonym key is the first opener's.
    let url = c.fresh_database();
    let a = Store::open_postgres(&url, None).unwrap();
    let b = Store::open_postgres(&url, None).unwrap();
    assert_eq!(a.pseudonym_key().unwrap(), b.pseudonym_key().unwrap());
    assert_eq!(kinds(&b), ["trail.start"]);
    assert_eq!(
        format!("{a:?}"),
        format!(
            "Store {{ url: \"postgresql://postgres@127.0.0.1:{}/{}\" }}",
            c.port(),
            url.rsplit('/').next().unwrap().split('?').next().unwrap()
        )
    );
}

#[test]
fn postgres_tls_follows_sslmode() {
    let Some(c) = pg::cluster() else { return };
    let url = c.fresh_database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let root = c.cert_path();
    let root = root.display();
    let encrypted = |store: &Store| {
        scalar(
            store,
            "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
    };
    let open = |host: &str, query: &str| Store::open_postgres(&c.url_with(db, host, query), None);
    // libpq's meanings: require encrypts without checking the server ...
    assert_eq!(encrypted(&open("127.0.0.1", "sslmode=require").unwrap()), 1);
    assert_eq!(encrypted(&open("127.0.0.1", "sslmode=disable").unwrap()), 0);
    // ... verify-full checks the chain and the name ...
    let full = format!("sslmode=verify-full&sslrootcert={root}");
    assert_eq!(encrypted(&open("localhost", &full).unwrap()), 1);
    let wrong_name = open("127.0.0.1", &full).unwrap_err();
    assert!(
        matches!(wrong_name, StoreError::Open { .. }),
        "{wrong_name}"
    );
    assert!(
        wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );
    let unknown_ca = open("localhost", "sslmode=verify-full").unwrap_err();
    assert!(
        matches!(unknown_ca, StoreError::Open { .. }),
        "{unknown_ca}"
    );
    // ... verify-ca the chain only; and a root cert makes require check it.
    let ca = format!("sslmode=verify-ca&sslrootcert={root}");
    assert_eq!(encrypted(&open("127.0.0.1", &ca).unwrap()), 1);
    assert!(open("127.0.0.1", "sslmode=verify-ca").is_err());
    let require = format!("sslmode=require&sslrootcert={root}");
    assert_eq!(encrypted(&open("127.0.0.1", &require).unwrap()), 1);
}

// ------------------------------------------------------- several writers

/// Four handles (four connections, as four daemons would have) record the
/// same entries on the same site at once, and analysts act meanwhile: the
/// writers are serialised, so the trail stays one gapless chain and each
/// (entry, site) gets exactly one incident.
fn concurrent_writers_keep_one_chain_and_one_incident_per_pair(be: &Fresh) {
    let (keep, store) = be.store();
    applied(import(&store, (0..8).map(entry).collect(), t(0)));
    let ids: Vec<EntryId> = (0..8).map(|i| id_of(&store, &format!("r{i}"))).collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = keep.open_again();
            let ids = ids.clone();
            std::thread::spawn(move || {
                for round in 0..10i64 {
                    let batch: Vec<NewProbe> = ids
                        .iter()
                        .map(|id| {
                            let o = if round % 3 == 2 {
                                Outcome::Clean
                            } else {
                                exposed()
                            };
                            probe(*id, "118.dk", t(1 + round * 10 + w), o)
                        })
                        .collect();
                    // Never resolved (k is out of reach), so each pair opens once.
                    s.record_probes(&batch, 1000, &receivers()).unwrap();
                    s.add_silence(
                        &NewSilence {
                            site: None,
                            event_type: Some(EventType::Digest),
                            cohort: None,
                            reason: format!("writer {w}"),
                            created_by: "test".into(),
                            expires_at: t(100_000),
                        },
                        t(1),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_verified(&store);
    let records = scalar(&store, "SELECT count(*) FROM audit");
    assert_eq!(scalar(&store, "SELECT max(seq) FROM audit"), records);
    let of_kind = |k: &str| {
        store
            .with(|c| c.query_i64("SELECT count(*) FROM audit WHERE kind = ?1", params![k]))
            .unwrap()
    };
    assert_eq!(of_kind("probe"), 4 * 10 * 8);
    assert_eq!(of_kind("incident.open"), 8);
    assert_eq!(of_kind("silence.add"), 4 * 10);
    assert_eq!(scalar(&store, "SELECT count(*) FROM incidents"), 8);
    assert_eq!(store.open_incident_count().unwrap(), 8);
    assert_eq!(deliveries(&store, "hook", "exposure.opened"), 8);
}

fn erasure_withdraws_purges_and_still_verifies(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    let hmac_before = text_of(&store, "SELECT phone_hmac FROM entries WHERE ref = 'r0'");
    // r0: exposed (a listing fingerprint kept), acknowledged, still open.
    let mut p = probe(a, "118.dk", t(10), exposed());
    p.listing_keys = vec!["listing-key-of-r0".into()];
    let inc = store
        .record_probe(&p, 2, &receivers())
        .unwrap()
        .incident_id
        .unwrap();
    story(&store, a, 11, vec![Outcome::Clean], 2);
    store
        .incident_action(&inc, IncidentAction::Ack, "bob", "looking", t(12))
        .unwrap();
    store
        .record_takedown(&inc, "118.dk removal form", None, "bob", t(13))
        .unwrap();
    // r1: resolved; its pages stay until r1 itself is erased.
    story(
        &store,
        b,
        10,
        vec![exposed(), Outcome::Clean, Outcome::Clean],
        2,
    );
    let live = |s: &Store| evidence_rows(s).iter().filter(|(_, l)| *l).count();
    assert_eq!(live(&store), 5);

    assert!(matches!(
        store.erase("r0", " ", "alice", t(20), &receivers()),
        Err(StoreError::BadInput(_))
    ));
    assert!(matches!(
        store.erase("nope", "subject request", "alice", t(20), &receivers()),
        Err(StoreError::NotFound(_))
    ));
    let e = store
        .erase("r0", "subject request 118", "alice", t(20), &receivers())
        .unwrap();
    assert_eq!(e.incidents_withdrawn, vec![inc.clone()]);
    assert_eq!(e.pages_purged, 2);
    assert_eq!(live(&store), 3, "r1's pages are kept");
    assert!(matches!(
        store.erase("r0", "again", "alice", t(21), &receivers()),
        Err(StoreError::Conflict(_))
    ));

    let nulls = scalar(
        &store,
        "SELECT count(*) FROM entries WHERE ref = 'r0' AND phone IS NULL AND name IS NULL
             AND street IS NULL AND house_number IS NULL AND floor IS NULL AND door IS NULL
             AND postcode IS NULL AND city IS NULL AND active = 0 AND erased_at IS NOT NULL",
    );
    assert_eq!(nulls, 1);
    assert_ne!(
        text_of(&store, "SELECT phone_hmac FROM entries WHERE ref = 'r0'"),
        hmac_before
    );
    assert_eq!(scalar(&store, "SELECT count(*) FROM probe_listings"), 0);
    let v = store.incidents(false).unwrap();
    let w = v.iter().find(|i| i.id == inc).unwrap();
    assert_eq!(w.state, IncidentState::Withdrawn);
    assert_eq!(w.masked_number, rows::ERASED);
    assert!(store.incidents(true).unwrap().is_empty());
    assert!(store.incidents_page(true, None, 10).unwrap().is_empty());
    assert_eq!(store.incidents_page(false, None, 10).unwrap().len(), 2);
    assert_eq!(store.open_incident_count().unwrap(), 0);
    // Nobody acts on it any more, and its takedown never goes overdue.
    for action in [IncidentAction::Ack, IncidentAction::Dismiss] {
        assert!(matches!(
            store.incident_action(&inc, action, "bob", "late", t(22)),
            Err(StoreError::Conflict(m)) if m.contains("withdrawn")
        ));
    }
    assert!(matches!(
        store.record_takedown(&inc, "118.dk removal form", None, "bob", t(22)),
        Err(StoreError::Conflict(m)) if m.contains("withdrawn")
    ));
    let sla = |_: &str| Some(std::time::Duration::from_secs(1));
    assert_eq!(
        store
            .queue_overdue(t(9000 * DAY), &sla, &receivers())
            .unwrap(),
        0
    );
    // Announced as ended, with the state that says why; no reminder.
    assert_eq!(
        scalar(
            &store,
            &format!(
                "SELECT count(*) FROM events AS ev JOIN deliveries AS d ON d.event_id = ev.id
                 WHERE ev.type = 'exposure.resolved' AND ev.incident_id = '{inc}'"
            )
        ),
        2
    );
    assert_eq!(
        store
            .queue_reminders(
                t(9000 * DAY),
                std::time::Duration::from_secs(60),
                &receivers()
            )
            .unwrap(),
        0
    );
    let erase = text_of(
        &store,
        "SELECT payload FROM audit WHERE kind = 'roster.erase'",
    );
    assert!(erase.contains("\"by\":\"alice\""), "{erase}");
    assert!(erase.contains("subject request 118"), "{erase}");
    assert!(kinds(&store).contains(&"incident.withdraw".to_string()));
    assert_verified(&store);

    // Back on the roster: a new exposure opens a new incident.
    applied(import(&store, (0..3).map(entry).collect(), t(30)));
    let again = store
        .record_probe(
            &probe(id_of(&store, "r0"), "118.dk", t(31), exposed()),
            2,
            &receivers(),
        )
        .unwrap();
    assert!(matches!(again.step, Step::Open { .. }));
    assert_verified(&store);

    // The withdrawal is vouched for like a resolution.
    exec(
        &store,
        &format!("UPDATE incidents SET withdrawn_at = withdrawn_at + 1 WHERE id = '{inc}'"),
    );
    assert_eq!(broken(&store).kind, "incident.withdraw");
}

fn legacy_request_hashes_verify_before_and_after_erasure(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..2).map(entry).collect(), t(0)));
    let a = id_of(&store, "r0");
    // A name search stored the way unlistd stored it before requests came
    // redacted, with its record written the old way (`url_sha256` of
    // the request as stored): the newest record, so it can be rewritten.
    let legacy = "/search/go?what=Person+0&where=8000+Aarhus+C&pageSize=25&page=1";
    let mut p = probe(a, "118.dk", t(5), inconclusive());
    p.url_masked = legacy.into();
    let id = store.record_probe(&p, 2, &receivers()).unwrap().probe_id;
    let (seq, prev, time, payload) = store
        .with(|c| {
            c.query_one(
                "SELECT seq, prev_hash, time, payload FROM audit ORDER BY seq DESC LIMIT 1",
                params![],
                |r| Ok((r.i64(0)?, r.text(1)?, r.i64(2)?, r.text(3)?)),
            )
        })
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["probe_id"], serde_json::json!(id));
    v["url"] = serde_json::json!(crate::audit::redact_url(legacy));
    v["url_sha256"] = serde_json::json!(crate::audit::sha256_hex(legacy.as_bytes()));
    let payload = crate::audit::canonical_json(&v);
    let hash = crate::audit::chain_hash(&prev, &payload, "probe", time, seq);
    store
        .with(|c| {
            c.execute(
                "UPDATE audit SET payload = ?1, hash = ?2 WHERE seq = ?3",
                params![payload, hash, seq],
            )
        })
        .unwrap();
    assert_verified(&store);

    store
        .erase("r0", "subject request", "alice", t(9), &receivers())
        .unwrap();
    let stored = text_of(
        &store,
        &format!("SELECT url_masked FROM probes WHERE id = {id}"),
    );
    assert_eq!(stored, "/search/go?what=•••&where=•••&pageSize=25&page=1");
    assert_verified(&store);
    // Anything else in its place is still caught.
    exec(
        &store,
        &format!("UPDATE probes SET url_masked = '/search/go?what=Other' WHERE id = {id}"),
    );
    assert!(
        broken(&store).message.contains("url"),
        "{:?}",
        broken(&store)
    );
}

on_both_backends!(
    a_new_cycle_redraws_every_position,
    concurrent_writers_keep_one_chain_and_one_incident_per_pair,
    reports_and_cohorts_read_the_same_on_every_backend,
    import_counts_across_imports,
    entries_round_trip_and_lookup_by_pseudonym,
    rejected_import_changes_nothing,
    duplicate_ref_names_both_lines,
    many_problems_keep_the_first_thousand_sorted,
    removed_entry_keeps_incidents_and_history_and_comes_back_with_its_id,
    import_of_100k_rows_streams_in_reasonable_time,
    every_active_entry_once_per_cycle_in_a_fresh_order,
    a_resumed_cycle_takes_new_and_changed_entries_next,
    the_last_reload_is_kept_and_forgotten,
    incident_lifecycle_through_record_probe,
    record_probe_for_unknown_entry_fails_without_side_effects,
    site_coverage_tracks_conclusive_probes,
    outbox_groups_incidents_into_one_message_and_delivers_fifo,
    site_events_form_messages_without_incidents,
    store_is_shareable_across_threads,
    corrupt_values_read_back_are_errors_without_the_value,
    every_change_appends_a_chained_record,
    editing_or_deleting_rows_behind_the_stores_back_is_detected,
    deleted_records_and_rows_are_named,
    evidence_is_kept_for_exposures_and_the_probes_that_close_them,
    purge_honours_retention_and_never_touches_open_incidents,
    removed_entries_are_forgotten_after_roster_retention,
    dismissal_names_the_listings_and_undo_reopens_a_quiet_incident,
    ack_refuses_resolved_and_unknown_incidents,
    reminders_skip_acknowledged_and_respect_the_interval,
    silences_match_site_type_and_cohort_and_hold_back_deliveries,
    digest_is_queued_once_per_day_and_receiver_health_tells_the_others,
    erasure_withdraws_purges_and_still_verifies,
    legacy_request_hashes_verify_before_and_after_erasure,
);

// What processes sharing one store share: budgets, leases, imports.
mod shared;
// Takedowns, the overdue alarm, list pages and the audit feed (issue 16).
#[path = "tests_people.rs"]
mod people_tests;

fn a_new_cycle_redraws_every_position(be: &Fresh) {
    let (_d, store) = be.store();
    // 150 entries: the shuffle's chunks (64 in the tests) and a short last one.
    applied(import(&store, (0..150).map(entry).collect(), t(0)));
    let keys = |store: &Store| -> std::collections::HashMap<i64, i64> {
        store
            .cycle_batch("118.dk", None, 200)
            .unwrap()
            .into_iter()
            .map(|(at, id, _)| (id.0, at.shuffle_key))
            .collect()
    };
    assert_eq!(store.start_cycle("118.dk").unwrap(), 150);
    let first = keys(&store);
    assert_eq!(first.len(), 150);
    assert_eq!(store.start_cycle("118.dk").unwrap(), 150);
    let second = keys(&store);
    assert_eq!(second.len(), 150);
    // Random 64-bit keys: a repeat means the entry was not redrawn.
    for (id, k) in &first {
        assert_ne!(second.get(id), Some(k), "entry {id} kept its position");
    }
}

/// A store written by the release that shipped takedowns as its sixth
/// migration upgrades in place: the migrations that came later run after
/// it, and the incident rebuild keeps the takedown columns.
#[test]
fn a_store_with_takedowns_as_the_sixth_migration_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("released.db");
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        rusqlite_migration::Migrations::from_slice(&crate::store::sqlite::MIGRATION_LIST[..6])
            .to_latest(&mut c)
            .unwrap();
        c.execute_batch(
            "INSERT INTO entries (id, ref, phone, phone_hmac, hide_number, hide_address, active,
                 added_at, updated_at)
             VALUES (1, 'old-1', '+4513500001', 'h1', 1, 0, 1, 0, 0);
             INSERT INTO incidents (id, entry_id, site, exposed, state, first_seen, last_seen,
                 consecutive_clean, overdue_at)
             VALUES ('inc_old', 1, '118.dk', 'number', 'open', 1000, 1000, 0, 4000);
             INSERT INTO takedowns (incident_id, via, ticket, actor, requested_at)
             VALUES ('inc_old', 'site', 'T-1', 'ops', 2000);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        scalar(
            &store,
            "SELECT overdue_at FROM incidents WHERE id = 'inc_old'"
        ),
        4000
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM takedowns WHERE incident_id = 'inc_old'"
        ),
        1
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM pragma_table_info('incidents') WHERE name = 'withdrawn_at'"
        ),
        1
    );
    assert_eq!(scalar(&store, "PRAGMA foreign_keys"), 1);
}

// Risk entries first and the escalation queue (issue 14).
#[path = "tests_detection.rs"]
mod detection_tests;
