//! The real daemon against the simulated directory and a webhook receiver.

use std::time::Duration;

use crate::common::*;

fn opened(
    r: &[unlistd::alert::receiver::Received],
    kind: &str,
) -> Vec<unlistd::alert::receiver::Received> {
    r.iter()
        .filter(|x| x.event_type() == kind)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn leak_is_one_signed_event_and_removal_resolves_it() {
    let env = Env::new(Knobs {
        group_wait: "2s",
        ..Knobs::default()
    })
    .await;
    // Public listings of other people, including a neighbour at R-01's
    // street and a namesake elsewhere: these must raise nothing.
    env.sim.add(listing(
        "Poul Østergaard Lund",
        "95990001",
        "Ågade 14B, 1. tv",
        "8000 Aarhus C",
    ));
    env.sim.add(listing(
        "Kasper Nørgaard",
        "95990002",
        "Søvej 1",
        "9000 Aalborg",
    ));
    env.import(ROSTER);
    // The receiver refuses the first two attempts: delivery must retry with
    // the same webhook-id.
    env.receiver.fail_next(2, 503, None);
    let daemon = env.spawn_daemon();

    // Wait for a first clean pass, then leak three entries at once.
    assert!(
        eventually(Duration::from_secs(20), || {
            let o = env.cmd(&["--json", "history", "R-06"]);
            json(&o)["probes"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await,
        "no probe recorded: {}",
        daemon.log()
    );
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A, st. tv",
        "2900 Hellerup",
    ));
    env.sim.add(listing(
        "Søren Friis",
        "13 50 00 03",
        "Bøgevej 7",
        "5000 Odense C",
    ));
    env.sim.add(listing(
        "Ida Hjørnholm",
        "+4594500006",
        "Kirkestræde 9, 3. 2",
        "1100 København K",
    ));
    let leaked = ["R-02", "R-03", "R-06"];

    let got = env
        .receiver
        .wait_for(Duration::from_secs(30), |r| {
            !opened(r, "exposure.opened").is_empty()
        })
        .await;
    assert!(got, "no exposure.opened: {}", daemon.log());
    let all = env.receiver.all();
    let events = opened(&env.receiver.accepted(), "exposure.opened");
    assert_eq!(
        events.len(),
        1,
        "one message for the whole leak: {:?}",
        events.iter().map(|e| &e.body).collect::<Vec<_>>()
    );
    let ev = &events[0];
    assert!(ev.signature_ok);
    let mut refs = ev.entry_refs();
    refs.sort();
    assert_eq!(refs, leaked);
    assert_eq!(ev.json["site"], "118.dk");
    for inc in ev.json["incidents"].as_array().unwrap() {
        assert_eq!(inc["exposed"], serde_json::json!(["number"]));
        assert_eq!(inc["state"], "open");
        assert!(inc["first_seen"].as_str().unwrap().ends_with('Z'));
    }
    // The refused attempts carried the same id and body.
    let tries: Vec<_> = all
        .iter()
        .filter(|r| r.event_type() == "exposure.opened")
        .collect();
    assert!(
        tries.len() >= 3,
        "expected 2 refusals then success, got {}",
        tries.len()
    );
    assert!(tries.iter().all(|t| t.id == ev.id && t.body == ev.body));

    let inc = json(&env.cmd(&["--json", "incidents", "--open"]));
    assert_eq!(inc["incidents"].as_array().unwrap().len(), 3);
    let status = env.cmd(&["--json", "status"]);
    assert_eq!(json(&status)["incidents"]["open"].as_u64(), Some(3));

    // Removal: resolution after resolve_after_clean clean probes each.
    for n in ["13500002", "13500003", "94500006"] {
        env.sim.remove_number(n);
    }
    let resolved = env
        .receiver
        .wait_for(Duration::from_secs(30), |r| {
            let mut got: Vec<String> = opened(r, "exposure.resolved")
                .iter()
                .flat_map(|e| e.entry_refs())
                .collect();
            got.sort();
            got == leaked
        })
        .await;
    assert!(resolved, "not resolved: {}", daemon.log());
    for e in opened(&env.receiver.accepted(), "exposure.resolved") {
        assert!(e.signature_ok);
        for i in e.json["incidents"].as_array().unwrap() {
            assert_eq!(i["state"], "resolved");
        }
    }
    let history = json(&env.cmd(&["--json", "history", "R-02"]));
    let outcomes: Vec<&str> = history["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    let last_exposed = outcomes
        .iter()
        .rposition(|o| *o == "exposed")
        .expect("an exposed probe");
    assert!(
        outcomes[last_exposed + 1..]
            .iter()
            .filter(|o| **o == "clean")
            .count()
            >= 2
    );
    // Only the leaked entries were ever exposed: neighbours and namesakes are not.
    let all_inc = json(&env.cmd(&["--json", "incidents"]));
    assert_eq!(all_inc["incidents"].as_array().unwrap().len(), 3);

    let log_path = daemon.log.clone();
    assert_eq!(daemon.stop(), Some(0), "run must exit 0 on SIGTERM");
    let log = std::fs::read_to_string(log_path).unwrap();
    // The roster is secret: no full number in the log or any webhook body.
    for n in roster_numbers() {
        let spaced = format!("{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]);
        let leak = log.lines().find(|l| l.contains(&n) || l.contains(&spaced));
        assert!(leak.is_none(), "log leaks a roster number: {leak:?}");
        for r in env.receiver.all() {
            assert!(!r.body.contains(&n), "webhook body leaks a roster number");
        }
    }
    for name in ["Nørgaard", "Friis", "Hjørnholm", "Strandvejen", "Bøgevej"] {
        assert!(!log.contains(name), "log leaks {name}");
        assert!(env.receiver.all().iter().all(|r| !r.body.contains(name)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_once_reports_counts_and_exit_3_while_exposed() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["probes"].as_u64(), Some(6), "{j}");
    assert_eq!(j["clean"].as_u64(), Some(6));
    // robots.txt once, then 7 searches: R-01 hides its address, so it gets
    // a number search and a name search in its place.
    assert_eq!(env.sim.request_count(), 1 + 7);
    assert_eq!(j["incidents_opened"].as_u64(), Some(0));

    env.sim.add(listing(
        "Mette Kjærsgaard",
        "19500004",
        "Vestergade 21, 1. mf",
        "7100 Vejle",
    ));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3));
    let j = json(&out);
    assert_eq!(
        (j["exposed"].as_u64(), j["incidents_opened"].as_u64()),
        (Some(1), Some(1))
    );
    // scan --once delivers what it raised before exiting.
    let got = env.receiver.accepted();
    assert_eq!(opened(&got, "exposure.opened").len(), 1);
    assert_eq!(opened(&got, "exposure.opened")[0].entry_refs(), ["R-04"]);

    let out = env.cmd(&["check", "19 50 00 04"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let out = env.cmd(&["check", "19 50 00 05"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    env.sim.remove_number("19500004");
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "one clean probe is not enough");
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["incidents_resolved"].as_u64(), Some(1));
    let inc = json(&env.cmd(&["--json", "incidents"]));
    let i = &inc["incidents"][0];
    assert_eq!(i["state"], "resolved");
    assert!(i["resolved_at"].is_string());
}
