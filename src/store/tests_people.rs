//! Store tests of the takedown loop, `exposure.overdue`, the API's list
//! pages and the audit feed, on both backends.

use super::*;

fn opened(store: &Store, entry: EntryId, at: Ts) -> String {
    store
        .record_probe(&probe(entry, "118.dk", at, exposed()), 2, &receivers())
        .unwrap()
        .incident_id
        .unwrap()
}

fn takedowns_are_recorded_audited_and_refused_when_resolved(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, vec![entry(0)], t(0)));
    let a = id_of(&store, "r0");
    let id = opened(&store, a, t(1));
    let e = store
        .record_takedown("inc_nope", "form", None, "alice", t(2))
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    let e = store
        .record_takedown(&id, "  ", None, "alice", t(2))
        .unwrap_err();
    assert!(matches!(e, StoreError::BadInput(_)), "{e}");
    let td = store
        .record_takedown(&id, "118.dk removal form", Some(" T-42 "), "alice", t(2))
        .unwrap();
    assert_eq!(
        (td.via.as_str(), td.ticket.as_deref(), td.actor.as_str()),
        ("118.dk removal form", Some("T-42"), "alice")
    );
    assert_eq!(td.requested_at, t(2));
    store
        .record_takedown(&id, "mail to the source feed", None, "bob", t(3))
        .unwrap();
    let list = store.takedowns(&id).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].actor, "alice");
    assert!(kinds(&store).contains(&"incident.takedown".to_string()));
    assert_verified(&store);
    // Resolved: nothing left to take down.
    for s in 4..6 {
        store
            .record_probe(&probe(a, "118.dk", t(s), Outcome::Clean), 2, &receivers())
            .unwrap();
    }
    let e = store
        .record_takedown(&id, "form", None, "alice", t(7))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    // The report of the incident carries the requests.
    let r = store
        .report_incidents(&ReportScope::Incident(id.clone()))
        .unwrap()
        .unwrap();
    assert_eq!(r[0].takedowns.len(), 2);
}

fn overdue_is_raised_once_past_the_sla_and_never_without_a_request(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, vec![entry(0), entry(1)], t(0)));
    let (a, b) = (id_of(&store, "r0"), id_of(&store, "r1"));
    let asked = opened(&store, a, t(1));
    let _unasked = opened(&store, b, t(1));
    store
        .record_takedown(&asked, "form", None, "alice", t(10))
        .unwrap();
    let sla = |_: &str| Some(std::time::Duration::from_secs(100));
    let rx = receivers();
    let overdue = |store: &Store| pending_count(store, "hook", EventType::ExposureOverdue);
    assert_eq!(store.queue_overdue(t(109), &sla, &rx).unwrap(), 0);
    assert_eq!(overdue(&store), 0);
    assert_eq!(store.queue_overdue(t(110), &sla, &rx).unwrap(), 1);
    assert_eq!(overdue(&store), 1);
    // Once per incident.
    assert_eq!(store.queue_overdue(t(500), &sla, &rx).unwrap(), 0);
    // A site without an SLA entry is skipped.
    let none = |_: &str| None;
    assert_eq!(store.queue_overdue(t(900), &none, &rx).unwrap(), 0);
    assert_verified(&store);
}

fn lists_page_by_keyset_without_gaps_or_repeats(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..5).map(entry).collect(), t(0)));
    // Two incidents at the same instant: the id breaks the tie.
    for i in 0..5 {
        let e = id_of(&store, &format!("r{i}"));
        opened(&store, e, t(10 + i64::from(i / 2)));
    }
    let all: Vec<String> = store
        .incidents(false)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut paged = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = store
            .incidents_page(false, after.as_ref().map(|(t, i)| (*t, i.as_str())), 2)
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some((ms_of(last.first_seen), last.id.clone()));
        paged.extend(page.into_iter().map(|i| i.id));
    }
    assert_eq!(paged, all);
    // An entry's probes, likewise, with the probe id as the tie-breaker.
    let a = id_of(&store, "r0");
    for s in 0..3 {
        store
            .record_probe(&probe(a, "118.dk", t(20), Outcome::Clean), 9, &receivers())
            .unwrap();
        store
            .record_probe(
                &probe(a, "118.dk", t(21 + s), inconclusive()),
                9,
                &receivers(),
            )
            .unwrap();
    }
    let whole = store.history("r0").unwrap().unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    while let Some(page) = store.history_page("r0", after, 4).unwrap() {
        if page.is_empty() {
            break;
        }
        let (id, last) = page.last().unwrap();
        after = Some((ms_of(last.time), *id));
        seen.extend(page.into_iter().map(|(_, p)| (p.time, p.outcome)));
    }
    assert_eq!(
        seen,
        whole
            .iter()
            .map(|p| (p.time, p.outcome))
            .collect::<Vec<_>>()
    );
    assert!(store.history_page("nope", None, 4).unwrap().is_none());
}

fn the_audit_feed_pages_in_order_and_holds_no_roster_data(be: &Fresh) {
    let (_d, store) = be.store();
    applied(import(&store, (0..3).map(entry).collect(), t(0)));
    let a = id_of(&store, "r0");
    let id = opened(&store, a, t(1));
    store
        .incident_action(&id, IncidentAction::Ack, "alice", "Person 0 called", t(2))
        .unwrap();
    store
        .record_takedown(&id, "mail about Person 0", None, "alice", t(3))
        .unwrap();
    let head = store.audit_head().unwrap().unwrap();
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_feed(after, 2).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        all.extend(page);
    }
    assert_eq!(all.len() as i64, head.seq);
    assert!(
        all.windows(2)
            .all(|w| w[1].seq == w[0].seq + 1 && w[1].prev_hash == w[0].hash)
    );
    assert_eq!(all.last().unwrap().hash, head.hash);
    let action = all.iter().find(|r| r.kind == "incident.action").unwrap();
    assert_eq!(action.subject["actor"], "alice");
    assert_eq!(action.subject["incident_id"], id.as_str());
    let text = format!("{all:?}");
    for secret in ["Person", "Ågade", "+452", "2000000", "called", "mail about"] {
        assert!(!text.contains(secret), "the feed shows {secret:?}");
    }
}

on_both_backends!(
    takedowns_are_recorded_audited_and_refused_when_resolved,
    overdue_is_raised_once_past_the_sla_and_never_without_a_request,
    lists_page_by_keyset_without_gaps_or_repeats,
    the_audit_feed_pages_in_order_and_holds_no_roster_data,
);
