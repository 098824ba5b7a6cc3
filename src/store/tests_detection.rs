//! Store tests of detection (issue 14), on both backends: the risk entries
//! a fresh cycle puts first, and the escalation queue.

use super::*;

const DAY: i64 = 86_400;

fn ids(store: &Store, refs: &[u32]) -> HashSet<EntryId> {
    refs.iter()
        .map(|i| id_of(store, &format!("r{i}")))
        .collect()
}

fn risk_entries_come_first_in_a_fresh_cycle(be: &Fresh) {
    let (_d, store) = be.store();
    let site = "118.dk";
    applied(import(&store, (0..100).map(entry).collect(), t(0)));
    // r10 was exposed on day 1 and resolved then: long ago, not a risk.
    // r20 was exposed on day 40 and resolved: recent. r30 is exposed now.
    let exposure = |r: u32, at: i64, clean: bool| {
        let id = id_of(&store, &format!("r{r}"));
        store
            .record_probe(&probe(id, site, t(at), exposed()), 2, &receivers())
            .unwrap();
        if clean {
            for s in 1..=2 {
                store
                    .record_probe(&probe(id, site, t(at + s), Outcome::Clean), 2, &receivers())
                    .unwrap();
            }
        }
    };
    exposure(10, DAY, true);
    exposure(20, 40 * DAY, true);
    exposure(30, 44 * DAY, false);
    // The latest import changes r40 and r41 and adds r100 and r101.
    let mut next: Vec<Entry> = (0..102).map(entry).collect();
    next[40].name = Some("Renamed Forty".into());
    next[41].cohort = Some("moved".into());
    applied(import(&store, next, t(45 * DAY - 100)));

    let (n, risk) = store.start_cycle_at(site, t(45 * DAY)).unwrap();
    assert_eq!((n, risk), (102, 6));
    let order = whole_cycle(&store, site, 7);
    assert_eq!(order.len(), 102);
    let first: HashSet<EntryId> = order[..6].iter().copied().collect();
    assert_eq!(first, ids(&store, &[20, 30, 40, 41, 100, 101]));
    assert!(!first.contains(&id_of(&store, "r10")));
    // The rest follows in a fresh order; a later cycle reshuffles the risk
    // entries too but keeps them first.
    store.start_cycle_at(site, t(45 * DAY + 10)).unwrap();
    let again = whole_cycle(&store, site, 50);
    assert_eq!(again[..6].iter().copied().collect::<HashSet<_>>(), first);
}

fn escalations_queue_the_cohort_and_batch_once_per_quiet_period(be: &Fresh) {
    let (_d, store) = be.store();
    let sites = ["118.dk".to_string(), "krak.dk".to_string()];
    let quiet = std::time::Duration::from_secs(600);
    // entry(i) is in cohort batch-1 when i is a multiple of 3: r0..r29 has
    // ten of them. The second import changes r1 and r2 (its batch).
    applied(import(&store, (0..30).map(entry).collect(), t(0)));
    assert_eq!(
        store
            .escalate(id_of(&store, "r4"), "118.dk", &sites, t(5), quiet)
            .unwrap(),
        0,
        "no cohort, and the first import's batch is the roster"
    );
    let mut next: Vec<Entry> = (0..30).map(entry).collect();
    next[1].name = Some("Renamed One".into());
    next[2].name = Some("Renamed Two".into());
    applied(import(&store, next, t(10)));

    // r3 (batch-1) is exposed on 118.dk: the other nine there, all ten on
    // krak.dk.
    let r3 = id_of(&store, "r3");
    assert_eq!(
        store.escalate(r3, "118.dk", &sites, t(20), quiet).unwrap(),
        19
    );
    let cohort: HashSet<EntryId> = ids(&store, &(0..30).step_by(3).collect::<Vec<_>>());
    let on = |site: &str| -> HashSet<EntryId> {
        store
            .escalated(site, 100)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let mut others = cohort.clone();
    others.remove(&r3);
    assert_eq!(on("118.dk"), others);
    assert_eq!(on("krak.dk"), cohort);
    // Another member's exposure within the quiet period queues nothing.
    let r6 = id_of(&store, "r6");
    assert_eq!(
        store.escalate(r6, "118.dk", &sites, t(30), quiet).unwrap(),
        0
    );
    // r2's exposure queues its import batch (r1, r2) but not its cohort
    // (it has none).
    let r2 = id_of(&store, "r2");
    assert_eq!(
        store.escalate(r2, "118.dk", &sites, t(40), quiet).unwrap(),
        3
    );
    assert!(on("118.dk").contains(&id_of(&store, "r1")));
    assert!(!on("118.dk").contains(&r2));
    assert!(on("krak.dk").contains(&r2));

    // A probe of a queued entry takes it off that site's queue; so does
    // escalation_done.
    store
        .record_probe(&probe(r6, "118.dk", t(50), Outcome::Clean), 2, &receivers())
        .unwrap();
    assert!(!on("118.dk").contains(&r6));
    assert!(on("krak.dk").contains(&r6));
    store.escalation_done("krak.dk", r6).unwrap();
    assert!(!on("krak.dk").contains(&r6));
    assert_eq!(store.escalations_pending("118.dk").unwrap(), 9);

    // Past the quiet period the cohort can be queued again.
    assert!(
        store
            .escalate(r6, "118.dk", &sites, t(20 + 601), quiet)
            .unwrap()
            > 0
    );
}

on_both_backends!(
    risk_entries_come_first_in_a_fresh_cycle,
    escalations_queue_the_cohort_and_batch_once_per_quiet_period,
);
