//! What processes sharing one store share: the sites' budgets, leases, and
//! a store that imports without stopping the others.

use std::time::Duration;

use super::*;

/// Turns of `site` claimed by `n` handles (separate connections, as
/// separate processes have), from `threads` threads at once, one turn per
/// claim, all at the same `now`: they must line up one interval apart.
fn claims_from_many_handles_line_up_one_interval_apart(be: &Fresh) {
    let (keep, store) = be.store();
    let iv = 200_000;
    let now = 1_700_000_000_000_000;
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = if i == 0 {
                store.clone()
            } else {
                keep.open_again()
            };
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| s.claim_turns("118.dk", now, 1, iv).unwrap().first_us)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut firsts: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    firsts.sort_unstable();
    let expected: Vec<i64> = (0..40).map(|k| now + k * iv).collect();
    assert_eq!(firsts, expected, "every turn once, evenly spaced");
    // Another site has its own budget.
    assert_eq!(
        store.claim_turns("krak.dk", now, 3, iv).unwrap().first_us,
        now
    );
}

fn a_run_of_turns_holds_back_the_next_claim_and_comes_back_unused(be: &Fresh) {
    let (keep, a) = be.store();
    let b = keep.open_again();
    let now = 1_000_000_000;
    let run = a.claim_turns("s", now, 5, 10_000).unwrap();
    assert_eq!((run.first_us, run.count, run.interval_us), (now, 5, 10_000));
    assert_eq!(run.end_us(), now + 50_000);
    // Two used; the rest handed back: the next claim starts right after.
    assert!(a.give_back_turns("s", now + 20_000, run.end_us()).unwrap());
    assert_eq!(
        b.claim_turns("s", now, 1, 10_000).unwrap().first_us,
        now + 20_000
    );
    // Once someone claimed after a run, its tail is theirs to wait behind.
    let mine = a.claim_turns("s", now, 2, 10_000).unwrap();
    let theirs = b.claim_turns("s", now, 1, 10_000).unwrap();
    assert_eq!(theirs.first_us, mine.end_us());
    assert!(
        !a.give_back_turns("s", mine.first_us, mine.end_us())
            .unwrap()
    );
    assert_eq!(
        a.claim_turns("s", now, 1, 10_000).unwrap().first_us,
        theirs.end_us()
    );
}

fn a_closed_gate_and_a_crawl_delay_hold_for_every_handle(be: &Fresh) {
    let (keep, a) = be.store();
    let b = keep.open_again();
    let now = 5_000_000;
    assert_eq!(b.site_gate("s").unwrap(), 0, "never closed");
    a.close_site("s", now + 2_000_000).unwrap();
    // A shorter Retry-After does not cut the longer one short.
    a.close_site("s", now + 1_000_000).unwrap();
    assert_eq!(b.site_gate("s").unwrap(), now + 2_000_000);
    assert_eq!(
        b.claim_turns("s", now, 1, 100_000).unwrap().first_us,
        now + 2_000_000
    );
    // A Crawl-delay longer than the interval spaces claims while it holds.
    a.share_crawl_delay("s", 1_000_000, now + 10_000_000)
        .unwrap();
    let c = b.claim_turns("s", now, 2, 100_000).unwrap();
    assert_eq!(c.interval_us, 1_000_000);
    let later = now + 20_000_000;
    assert_eq!(
        b.claim_turns("s", later, 1, 100_000).unwrap().interval_us,
        100_000
    );
}

fn leases_have_one_holder_until_they_expire(be: &Fresh) {
    let (keep, a) = be.store();
    let b = keep.open_again();
    let ttl = Duration::from_secs(10);
    assert!(a.take_lease("receiver:x", "host-a:1", t(0), ttl).unwrap());
    assert!(!b.take_lease("receiver:x", "host-b:2", t(5), ttl).unwrap());
    // Renewing keeps `since` and pushes the expiry.
    assert!(a.take_lease("receiver:x", "host-a:1", t(8), ttl).unwrap());
    assert!(!b.take_lease("receiver:x", "host-b:2", t(12), ttl).unwrap());
    let held = b.leases("receiver:", t(12)).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].holder.as_str(), held[0].since, held[0].expires),
        ("host-a:1", t(0), t(18))
    );
    // Expired: the next taker gets it, from then on.
    assert!(b.take_lease("receiver:x", "host-b:2", t(18), ttl).unwrap());
    let held = a.leases("", t(19)).unwrap();
    assert_eq!(
        (held[0].holder.as_str(), held[0].since),
        ("host-b:2", t(18))
    );
    assert!(a.leases("site:", t(19)).unwrap().is_empty(), "by prefix");
    // Released by its holder only.
    a.release_lease("receiver:x", "host-a:1").unwrap();
    assert!(!a.take_lease("receiver:x", "host-a:1", t(20), ttl).unwrap());
    b.release_lease("receiver:x", "host-b:2").unwrap();
    assert!(a.take_lease("receiver:x", "host-a:1", t(20), ttl).unwrap());
    assert!(
        b.leases("", t(40)).unwrap().is_empty(),
        "expired ones are not listed"
    );
}

/// Many takers at once: exactly one wins.
fn one_of_many_simultaneous_takers_wins(be: &Fresh) {
    let (keep, _store) = be.store();
    let takers: Vec<_> = (0..6)
        .map(|i| {
            let s = keep.open_again();
            std::thread::spawn(move || {
                s.take_lease(
                    "site:118.dk",
                    &format!("h{i}"),
                    t(0),
                    Duration::from_secs(10),
                )
                .unwrap()
            })
        })
        .collect();
    let wins = takers
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

/// While an import reads, stages and compares its rows, another handle
/// records a probe: it must not wait for the import (only the short
/// apply step holds the write lock).
fn an_import_stages_and_compares_without_the_write_lock(be: &Fresh) {
    let (keep, store) = be.store();
    applied(import(&store, (0..100).map(entry).collect(), t(0)));
    let id = id_of(&store, "r1");
    let other = keep.open_again();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let wrote = std::cell::Cell::new(false);
    let mut rows = valid_rows((0..3000).map(entry).collect()).inspect(|r| {
        if let RosterRow::Valid { line: 1500, .. } = r {
            // Midway through staging: a probe is recorded meanwhile.
            let (other, tx) = (other.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let r = other.record_probe(
                    &probe(id, "118.dk", t(1), Outcome::Clean),
                    3,
                    &Routes::default(),
                );
                let _ = tx.send(r.map(|_| ()));
            });
            let got = done_rx.recv_timeout(Duration::from_secs(3));
            assert!(
                matches!(got, Ok(Ok(()))),
                "the probe waited for the import: {got:?}"
            );
            wrote.set(true);
        }
    });
    let p = pseudo(&store);
    let counts = applied(store.import_roster(&mut rows, &p, t(2)).unwrap());
    assert!(wrote.get());
    assert_eq!((counts.added, counts.unchanged), (2900, 100));
    assert_eq!(store.roster_size().unwrap(), 3000);
    let q = match dialect(&store) {
        Dialect::Sqlite => "SELECT count(*) FROM temp.sqlite_master WHERE name LIKE 'import_%'",
        Dialect::Postgres => "SELECT count(*) FROM pg_class WHERE relname LIKE 'import_%'",
    };
    assert_eq!(scalar(&store, q), 0, "no stage or comparison left behind");
}

/// A re-import counts and applies only what changed, and a second import
/// in a row sees the first one's result.
fn a_reimport_applies_the_difference(be: &Fresh) {
    let (_keep, store) = be.store();
    applied(import(&store, (0..1000).map(entry).collect(), t(0)));
    // 50 removed (950..1000), 100 changed (0..100 get a new name), 20 new.
    let mut next: Vec<Entry> = (0..950).map(entry).collect();
    for e in next.iter_mut().take(100) {
        e.name = Some(format!("{} Jr.", e.name.as_deref().unwrap_or("")));
    }
    next.extend((2000..2020).map(entry));
    let c = applied(import(&store, next.clone(), t(10)));
    assert_eq!(
        (c.added, c.changed, c.removed, c.unchanged),
        (20, 100, 50, 850)
    );
    assert_eq!(store.roster_size().unwrap(), 970);
    let c = applied(import(&store, next, t(20)));
    assert_eq!((c.added, c.changed, c.removed, c.unchanged), (0, 0, 0, 970));
    // Removed entries come back with their id.
    let gone = id_of(&store, "r999");
    applied(import(&store, (0..1000).map(entry).collect(), t(30)));
    assert_eq!(id_of(&store, "r999"), gone);
}

/// A cycle's position outlives the process that walked it: another
/// handle (another daemon) finds where it stood, after the entries
/// probed since it started; a finished cycle has none.
fn a_cycle_continues_where_it_stood_from_another_handle(be: &Fresh) {
    let (keep, a) = be.store();
    let b = keep.open_again();
    applied(import(&a, (0..10).map(entry).collect(), t(0)));
    assert_eq!(b.cycle_resume_point("118.dk").unwrap(), None, "none begun");
    assert_eq!(a.start_cycle("118.dk").unwrap(), 10);
    let order = a.cycle_batch("118.dk", None, 100).unwrap();
    assert_eq!(order.len(), 10);
    // Nothing probed yet: continue before the first.
    let first = b.cycle_resume_point("118.dk").unwrap().unwrap().0;
    assert_eq!(
        a.cycle_batch("118.dk", Some(first), 1).unwrap()[0].1,
        order[0].1
    );
    // The first four probed (the fourth out of order, as concurrency does).
    let now = time::OffsetDateTime::now_utc() + Duration::from_secs(1);
    for (_, id, _) in order.iter().take(4) {
        a.record_probe(
            &probe(*id, "118.dk", now, Outcome::Clean),
            3,
            &Routes::default(),
        )
        .unwrap();
    }
    let at = b.cycle_resume_point("118.dk").unwrap().unwrap().0;
    let rest = b.cycle_batch("118.dk", Some(at), 100).unwrap();
    let rest: Vec<_> = rest.iter().map(|(_, id, _)| *id).collect();
    let expected: Vec<_> = order.iter().skip(4).map(|(_, id, _)| *id).collect();
    assert_eq!(rest, expected, "the rest of the cycle, in its order");
    // Another site's cycle is its own.
    assert_eq!(b.cycle_resume_point("krak.dk").unwrap(), None);
    // Finished: the next scheduler starts afresh.
    a.finish_cycle("118.dk").unwrap();
    assert_eq!(b.cycle_resume_point("118.dk").unwrap(), None);
}

/// A daemon that knows it is alone clears stale site leases; a stopping
/// one gives up its own and only its own.
fn leases_are_cleared_by_prefix_and_released_by_holder(be: &Fresh) {
    let (_keep, s) = be.store();
    let ttl = Duration::from_secs(10);
    assert!(s.take_lease("site:118.dk", "h1", t(0), ttl).unwrap());
    assert!(s.take_lease("site:krak.dk", "h2", t(0), ttl).unwrap());
    assert!(s.take_lease("receiver:x", "h1", t(0), ttl).unwrap());
    s.release_leases_of("h1").unwrap();
    let left: Vec<_> = s
        .leases("", t(1))
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, ["site:krak.dk"]);
    assert!(s.take_lease("receiver:x", "h3", t(1), ttl).unwrap());
    s.clear_leases("site:").unwrap();
    let left: Vec<_> = s
        .leases("", t(1))
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, ["receiver:x"]);
    assert!(s.take_lease("site:krak.dk", "h1", t(1), ttl).unwrap());
}

on_both_backends!(
    a_cycle_continues_where_it_stood_from_another_handle,
    leases_are_cleared_by_prefix_and_released_by_holder,
    claims_from_many_handles_line_up_one_interval_apart,
    a_run_of_turns_holds_back_the_next_claim_and_comes_back_unused,
    a_closed_gate_and_a_crawl_delay_hold_for_every_handle,
    leases_have_one_holder_until_they_expire,
    one_of_many_simultaneous_takers_wins,
    an_import_stages_and_compares_without_the_write_lock,
    a_reimport_applies_the_difference,
);
