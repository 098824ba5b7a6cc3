//! Detection as fast as the budget allows, and never falsely blind: a
//! layout change degrades the site within seconds and records no clean
//! probe; a listing without an address is an answer (and a canary that
//! names its address catches a broken address selector); a cohort leak is
//! enumerated at the budget once its first entry is found, on every site,
//! and the alert names the cohort.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use unlistd::sim::{Fault, SimDirectory, SimListing};

use crate::common::*;

/// `n` entries protecting their number, from the spare series 137…; the
/// first `cohort` of them in cohort `migration-b2`, the rest in `crm-2019`.
fn roster(n: u32, cohort: u32) -> String {
    let mut csv = String::from("ref,phone,name,hide_number,hide_address,cohort\n");
    for i in 0..n {
        let tag = if i < cohort {
            "migration-b2"
        } else {
            "crm-2019"
        };
        csv.push_str(&format!(
            "D-{i:04},{},Testperson Nummer{i},true,false,{tag}\n",
            13_700_000 + i
        ));
    }
    csv
}

fn number(i: u32) -> String {
    (13_700_000 + i).to_string()
}

fn of(env: &Env, kind: &str) -> usize {
    env.receiver
        .accepted()
        .iter()
        .filter(|r| r.event_type() == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_degrades_the_site_within_seconds_and_records_no_clean_probe() {
    const N: u32 = 60;
    // 60 entries at 5/s: a cycle takes 12 s, and the canary interval is
    // the default 15 minutes, so neither a new cycle nor the interval is
    // what catches the drift: the unreadable answers are.
    let env = Env::new(Knobs {
        rate: "5/s",
        max_retries: 0,
        site_extra: "canaries = [\"95 00 00 01\"]".into(),
        group_wait: "1s",
        ..Knobs::default()
    })
    .await;
    env.sim.add(listing(
        "Eksempel Telecom A/S",
        "95000001",
        "Havnen 1",
        "8000 Aarhus C",
    ));
    env.import(&roster(N, 0));
    let daemon = env.spawn_daemon();
    let healthy = eventually(Duration::from_secs(20), || {
        let st = json(&env.cmd(&["--json", "status"]));
        st["sites"][0]["last_canary_ok"] == true
            && st["sites"][0]["probes_total"].as_u64() >= Some(10)
    })
    .await;
    assert!(healthy, "{}", daemon.log());

    // The layout changes mid-cycle.
    let drift_wall = OffsetDateTime::now_utc();
    let drift = Instant::now();
    env.sim.set_fault(Fault::Drift);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(15), |r| r
                .iter()
                .any(|x| x.event_type() == "site.degraded"))
            .await,
        "{}",
        daemon.log()
    );
    let took = drift.elapsed();
    // Five unreadable answers at 5/s, the canary, `group_wait`, delivery.
    assert!(
        took < Duration::from_secs(8),
        "site.degraded {took:?} after the drift"
    );
    assert!(
        daemon
            .log()
            .contains("Answers unreadable: checking the canaries now."),
        "the run of unreadable answers triggered the check"
    );
    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(st["sites"][0]["state"], "degraded", "{st}");
    assert!(
        st["sites"][0]["state_reason"]
            .as_str()
            .is_some_and(|r| r.contains("canary 1 unreadable")),
        "{st}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // What every drifted page hashes to: a clean probe of one of these
    // would be a real false clean.
    let http = reqwest::Client::new();
    let mut drifted = std::collections::HashSet::new();
    for i in 0..N {
        let body = http
            .get(format!(
                "{}/search/go?what={}&pageSize=25&page=1",
                env.sim.base_url(),
                number(i)
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        drifted.insert(hex::encode(Sha256::digest(&body)));
    }
    // Every probe of the roster, to the millisecond.
    let drift_ms = drift_wall.unix_timestamp() * 1000 + i64::from(drift_wall.millisecond());
    let rows: Vec<(String, i64, String, Option<String>)> = {
        let db = rusqlite::Connection::open(env.db()).unwrap();
        let mut q = db
            .prepare(
                "SELECT e.ref, p.time, p.outcome, p.page_sha256 FROM probes p
                 JOIN entries e ON e.id = p.entry_id ORDER BY p.time",
            )
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(
        rows.iter()
            .any(|(_, t, o, _)| *t > drift_ms && o == "inconclusive"),
        "the drift was probed before the site was degraded"
    );
    for (r, t, o, sha) in &rows {
        if o != "clean" {
            continue;
        }
        assert!(
            !drifted.contains(sha.as_deref().unwrap_or("")),
            "{r}: a drifted page was recorded clean at {t}"
        );
        // A probe's time is when its deciding page arrived: a page read
        // before the change is stamped before it (give or take the page
        // in flight at that moment).
        assert!(
            *t <= drift_ms + 500,
            "{r}: clean probe stamped {} ms after the drift",
            t - drift_ms
        );
    }
    // The history shows the same probes.
    let h = json(&env.cmd(&["--json", "history", &rows[0].0]));
    assert!(h["probes"].as_array().is_some_and(|p| !p.is_empty()), "{h}");
    assert_eq!(of(&env, "site.degraded"), 1);
    assert_eq!(daemon.stop(), Some(0));
}

/// A hitta-shaped site described in TOML, with a canary that names the
/// address its listing must show; `address` is the address selector.
fn declarative_site(sim: &SimDirectory, address: &str) -> String {
    format!(
        r#"
[[sites]]
name = "hitta.example"
adapter = "declarative"
base_url = "{}"
rate = "50/s"
timeout = "2s"
canaries = ["95 00 00 02", {{ number = "95 00 00 01", address = "Havnen 1, 8000 Aarhus C" }}]
[sites.declarative]
format = "html"
search = "/sok?vad={{number_national}}&sida={{page}}"
search_name = "/sok?vad={{name}}&var={{place}}&sida={{page}}"
item = '[data-test="person-item"]'
name = '[data-test="search-result-title"]'
phone = '[data-test="phone-link"]'
address = "{address}"
no_results = '[data-test="no-hits"]'
next_page = '[data-test="next"]'
"#,
        sim.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_without_an_address_is_an_answer_and_a_canary_guards_the_selector() {
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: declarative_site(&env.sim, "address"),
        ..Knobs::default()
    });
    // A-1 hides its address; its number is listed, legitimately, with no
    // address at all. A-2 hides its number, which is not listed.
    env.import(
        "ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort\n\
         A-1,13 80 00 01,Birthe Lund,Ågade,14B,2,th,8000,Aarhus C,false,true,\n\
         A-2,13 80 00 02,Kasper Nørgaard,,,,,,,true,false,\n",
    );
    env.sim.add(SimListing {
        name: "Birthe Lund".into(),
        phones: vec!["13800001".into()],
        street_line: None,
        post_line: None,
    });
    for (name, phone) in [
        ("Eksempel Telecom A/S", "95000001"),
        ("Eksempel Kundeservice", "95000002"),
    ] {
        env.sim
            .add(listing(name, phone, "Havnen 1", "8000 Aarhus C"));
    }
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["inconclusive"].as_u64(), Some(0), "{j}");
    assert_eq!(j["clean"].as_u64(), Some(4), "2 entries × 2 sites: {j}");
    let h = json(&env.cmd(&["--json", "history", "A-1"]));
    let on_hitta: Vec<_> = h["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["site"] == "hitta.example")
        .collect();
    assert_eq!(on_hitta.len(), 1, "{h}");
    assert_eq!(on_hitta[0]["outcome"], "clean", "{h}");
    assert!(on_hitta[0]["reason"].is_null(), "{h}");
    let st = json(&env.cmd(&["--json", "status"]));
    let hitta = &st["sites"][1];
    assert_eq!(hitta["name"], "hitta.example");
    assert_eq!(hitta["state"], "healthy", "{st}");
    assert_eq!(hitta["last_canary_ok"], true, "{st}");

    // The address selector breaks (a redesign moved the address): every
    // listing now looks address-free, which would read as clean. The
    // canary that names its address is what says the site is blind.
    env.write_config(&Knobs {
        extra: declarative_site(&env.sim, "address.moved"),
        ..Knobs::default()
    });
    let out = env.cmd(&["--json", "scan", "--once"]);
    let j = json(&out);
    assert_eq!(j["probes"].as_u64(), Some(2), "only 118.dk is probed: {j}");
    let st = json(&env.cmd(&["--json", "status"]));
    let hitta = &st["sites"][1];
    assert_eq!(hitta["state"], "degraded", "{st}");
    let reason = hitta["state_reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("canary 2 found without its address") && !reason.contains("canary 1"),
        "{st}"
    );
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(10), |r| r
                .iter()
                .any(
                    |x| x.event_type() == "site.degraded" && x.json["site"] == "hitta.example"
                ))
            .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cohort_leak_is_enumerated_within_the_bound_and_the_alert_names_the_cohort() {
    const N: u32 = 1000;
    const C: u32 = 100;
    const RATE: f64 = 20.0;
    let mirror = SimDirectory::start().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    // Two sites at 20/s each: a sweep of 1000 takes 50 s there; the cohort
    // of 100 at the budget takes 5 s (two probes in flight, so a slow
    // commit does not eat into the budget).
    env.write_config(&Knobs {
        rate: "20/s",
        max_staleness: "10m",
        site_extra: "concurrency = 2".into(),
        extra: format!(
            "[[sites]]\nname = \"mirror\"\nadapter = \"dk118\"\nbase_url = \"{}\"\nrate = \"20/s\"\nconcurrency = 2\ntimeout = \"2s\"\n",
            mirror.base_url()
        ),
        ..Knobs::default()
    });
    env.import(&roster(N, C));
    // The whole cohort leaked to 118.dk (not to the mirror).
    for i in 0..C {
        env.sim.add(listing(
            &format!("Testperson Nummer{i}"),
            &number(i),
            "Vestergade 1",
            "7100 Vejle",
        ));
    }
    let daemon = env.spawn_daemon();
    let db = || rusqlite::Connection::open(env.db()).unwrap();
    let opened = || -> i64 {
        db().query_row(
            "SELECT count(*) FROM incidents WHERE site = '118.dk'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let all = eventually(Duration::from_secs(40), || opened() >= i64::from(C)).await;
    assert!(all, "{} of {C} found: {}", opened(), daemon.log());
    let (first, last): (i64, i64) = db()
        .query_row(
            "SELECT min(first_seen), max(first_seen) FROM incidents WHERE site = '118.dk'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // The budget it took: probes of 118.dk from the first hit to the last
    // (1.1 × C at most: the bound itself, in the site's budget), and the
    // time (1.1 × C/R, plus two seconds for commits on a machine loaded by
    // the rest of the suite, where the probes fall behind the rate). The
    // sweep alone would need most of a cycle, about 50 s.
    let spent: i64 = db()
        .query_row(
            "SELECT count(*) FROM probes WHERE site = '118.dk' AND time >= ?1 AND time <= ?2",
            [first, last],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        spent as f64 <= 1.1 * f64::from(C),
        "{spent} probes from the first hit to the last (bound 1.1 × C = {})",
        1.1 * f64::from(C)
    );
    let bound_ms = (1.1 * f64::from(C) / RATE * 1000.0) as i64;
    assert!(
        last - first <= bound_ms + 2000,
        "the cohort took {} ms after its first hit (bound 1.1 × C/R = {bound_ms} ms)",
        last - first
    );
    // The other site got the cohort first too, at its own budget, once
    // its lane saw the queue (within a second): every member probed
    // there, where its sweep alone would reach about a tenth.
    let until = first + bound_ms + 2000;
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(until - now_ms).unwrap_or(0) + 300,
    ))
    .await;
    let mirrored: i64 = db()
        .query_row(
            "SELECT count(DISTINCT p.entry_id) FROM probes p JOIN entries e ON e.id = p.entry_id
             WHERE p.site = 'mirror' AND e.cohort = 'migration-b2' AND p.time <= ?1",
            [until],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mirrored, i64::from(C));

    // The first alert names the cohort, first in `cohorts`.
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(10), |r| r
                .iter()
                .any(|x| x.event_type() == "exposure.opened"))
            .await
    );
    let first_alert = env
        .receiver
        .accepted()
        .into_iter()
        .find(|r| r.event_type() == "exposure.opened")
        .unwrap();
    let lead = &first_alert.json["cohorts"][0];
    assert_eq!(lead["cohort"], "migration-b2", "{}", first_alert.body);
    assert_eq!(lead["cohort_size"], C, "{}", first_alert.body);
    assert_eq!(
        lead["count"].as_u64(),
        first_alert.json["count"].as_u64(),
        "every incident of the first message is of the cohort: {}",
        first_alert.body
    );
    assert!(lead["exposed_in_cohort"].as_u64() >= lead["count"].as_u64());

    // Grouped views: the CLI and the API.
    let g = json(&env.cmd(&["--json", "incidents", "--by-cohort"]));
    assert_eq!(g["cohorts"][0]["cohort"], "migration-b2", "{g}");
    assert_eq!(g["cohorts"][0]["count"], C, "{g}");
    assert_eq!(g["cohorts"][0]["exposed_in_cohort"], C, "{g}");
    assert_eq!(
        g["cohorts"][0]["sites"],
        serde_json::json!(["118.dk"]),
        "{g}"
    );
    assert_eq!(g["cohorts"].as_array().map(Vec::len), Some(1), "{g}");
    let api: serde_json::Value = env
        .api_json("/api/v1/incidents?group=cohort&state=open")
        .await;
    assert_eq!(api["cohorts"][0]["cohort"], "migration-b2", "{api}");
    assert_eq!(
        api["cohorts"][0]["incidents"].as_array().map(Vec::len),
        Some(C as usize)
    );
    let plain: serde_json::Value = env.api_json("/api/v1/incidents?state=open").await;
    assert_eq!(
        plain["incidents"].as_array().map(Vec::len),
        Some(C as usize),
        "the ungrouped shape stays"
    );
    // And the dashboard: one table for the cohort, with its share exposed.
    let login = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = log_in(&login, &env).await;
    let page = login
        .get(env.api("/dashboard/incidents?group=cohort&state=open"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert_eq!(page.matches("Cohort migration-b2").count(), 1, "{page}");
    assert!(
        page.contains(&format!("{C} of {C} entries of the cohort exposed now")),
        "{page}"
    );
    assert!(!page.contains("No cohort"), "{page}");
    assert_eq!(daemon.stop(), Some(0));
}

/// `scan --once` is one pass: an exposure pulls its cohort forward, but
/// the members the pass had probed already are not probed again, and
/// their queue rows go (none is left behind to block the queue's head).
#[tokio::test(flavor = "multi_thread")]
async fn scan_once_probes_each_entry_once_and_leaves_no_escalation_behind() {
    const N: u32 = 200;
    let env = Env::new(Knobs {
        rate: "200/s",
        max_staleness: "10m",
        ..Knobs::default()
    })
    .await;
    env.import(&roster(N, N));
    // One member of the cohort is listed; where the walk meets it is
    // random, so some members were probed before it and some were not.
    env.sim.add(listing(
        "Testperson Nummer150",
        &number(150),
        "Vestergade 1",
        "7100 Vejle",
    ));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["probes"].as_u64(), Some(u64::from(N)), "{j}");
    assert_eq!(j["exposed"].as_u64(), Some(1), "{j}");
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let most: i64 = db
        .query_row(
            "SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM probes GROUP BY entry_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(most, 1, "an entry was probed twice in one pass");
    let left: i64 = db
        .query_row("SELECT count(*) FROM escalations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "escalations left in the queue after the pass");
}
