//! People in the loop and noise control: acknowledgements, false-positive
//! dismissals, silences, reminders, routes, the daily digest, and a dead
//! receiver reported through the others.

use std::time::Duration;

use unlistd::alert::receiver::{Received, Receiver};

use crate::common::*;

fn of(r: &[Received], kind: &str) -> Vec<Received> {
    r.iter()
        .filter(|x| x.event_type() == kind)
        .cloned()
        .collect()
}

fn open_incident_of(env: &Env, entry_ref: &str) -> Option<serde_json::Value> {
    json(&env.cmd(&["--json", "incidents", "--open"]))["incidents"]
        .as_array()?
        .iter()
        .find(|i| i["entry_ref"] == entry_ref)
        .cloned()
}

fn incidents_of(env: &Env, entry_ref: &str) -> Vec<serde_json::Value> {
    json(&env.cmd(&["--json", "incidents"]))["incidents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["entry_ref"] == entry_ref)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn webhook(url: &str, name: &str, route: &str) -> String {
    format!(
        "[[alerts.webhook]]\nurl = \"{url}\"\nsecret_file = \"webhook-secret\"\nname = \"{name}\"\n{route}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_repeat_until_acknowledged_and_ack_is_recorded() {
    let env = Env::new(Knobs {
        group_wait: "200ms",
        alerts_extra: "repeat_interval = \"1s\"".into(),
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "exposure.reminder")
                .len()
                >= 2)
            .await,
        "reminders for an open incident: {}",
        daemon.log()
    );
    let inc = open_incident_of(&env, "R-03").expect("open incident");
    let id = inc["id"].as_str().unwrap();
    let reminder = &of(&env.receiver.accepted(), "exposure.reminder")[0];
    assert_eq!(reminder.entry_refs(), vec!["R-03".to_string()]);
    assert!(reminder.signature_ok);

    // Unknown ids and empty reasons are bad input.
    let bad = env.cmd(&["ack", "inc_0000000000000000", "--reason", "x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("no incident"), "{}", stderr(&bad));
    let no_reason = env.cmd(&["ack", id]);
    assert_eq!(no_reason.status.code(), Some(2));

    let out = env.cmd(&[
        "--json",
        "ack",
        id,
        "--reason",
        "customer called, listing removal requested",
        "--by",
        "alice",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let res = json(&out);
    assert_eq!(res["state"], "acknowledged");
    assert_eq!(res["by"], "alice");

    // No more reminders once acknowledged (allow one already in flight).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = of(&env.receiver.accepted(), "exposure.reminder").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = of(&env.receiver.accepted(), "exposure.reminder").len();
    assert_eq!(before, after, "reminders continued after the ack");

    // Acknowledged is not resolved: still listed, still not clean.
    let inc = open_incident_of(&env, "R-03").expect("still unresolved");
    assert_eq!(inc["state"], "acknowledged");

    // Who and when, through the API.
    let actions: serde_json::Value = env
        .api_json(&format!("/api/v1/incidents/{id}/actions"))
        .await;
    let a = &actions["actions"][0];
    assert_eq!(a["action"], "ack");
    assert_eq!(a["by"], "alice");
    assert_eq!(a["reason"], "customer called, listing removal requested");
    assert!(a["time"].as_str().is_some_and(|t| t.ends_with('Z')));

    // The removal resolves it as usual.
    env.sim.remove_number("13500003");
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| !of(r, "exposure.resolved")
                .is_empty())
            .await
    );
    assert_eq!(daemon.stop(), Some(0));
    // The action is in the audit trail, which still verifies.
    let audit = env.cmd(&["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
}

#[tokio::test(flavor = "multi_thread")]
async fn dismissing_a_false_positive_suppresses_that_listing_for_that_entry_only() {
    let env = Env::new(Knobs {
        group_wait: "200ms",
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    // R-02's number shows under a business name: the analyst decides it is
    // not the subscriber's private listing.
    env.sim.add(listing(
        "Nørgaard VVS ApS",
        "13500002",
        "Havnevej 2",
        "2900 Hellerup",
    ));
    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(20), || open_incident_of(&env, "R-02")
            .is_some()
            && open_incident_of(&env, "R-03").is_some())
        .await,
        "{}",
        daemon.log()
    );
    let r02 = open_incident_of(&env, "R-02").unwrap();
    let id = r02["id"].as_str().unwrap().to_string();

    let http = reqwest::Client::new();
    let res = http
        .post(env.api(&format!("/api/v1/incidents/{id}/dismiss")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"reason": "the plumber's shop number, not private", "by": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["state"], "acknowledged");
    // Recorded under the token's name; `by` only adds a note.
    assert_eq!(body["by"], "default (by bob)");
    let again = http
        .post(env.api(&format!("/api/v1/incidents/{id}/dismiss")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"reason": "twice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "already dismissed");
    let unauth = http
        .post(env.api(&format!("/api/v1/incidents/{id}/ack")))
        .json(&serde_json::json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);

    // The listing is still on the site, but it is ignored for R-02: clean
    // probes close the incident.
    assert!(
        eventually(Duration::from_secs(20), || incidents_of(&env, "R-02")
            .iter()
            .any(|i| i["id"] == id.as_str() && i["state"] == "resolved"))
        .await,
        "{}",
        daemon.log()
    );
    // Nothing else is suppressed: R-03 stays open.
    assert_eq!(open_incident_of(&env, "R-03").unwrap()["state"], "open");

    // A different listing with R-02's number is a new finding.
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A",
        "2900 Hellerup",
    ));
    assert!(
        eventually(Duration::from_secs(20), || open_incident_of(&env, "R-02")
            .is_some_and(|i| i["id"] != id.as_str()))
        .await,
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.stop(), Some(0));

    // Reversible, from the CLI too; both actions recorded.
    let undo = env.cmd(&[
        "--json",
        "dismiss",
        &id,
        "--undo",
        "--reason",
        "wrong call",
        "--by",
        "carol",
    ]);
    assert_eq!(undo.status.code(), Some(0), "{}", stderr(&undo));
    let twice = env.cmd(&["dismiss", &id, "--undo", "--reason", "again"]);
    assert_eq!(twice.status.code(), Some(2), "nothing left to undo");
    let audit = env.cmd(&["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silence_holds_alerts_back_until_it_ends_and_shows_in_status() {
    let env = Env::new(Knobs {
        group_wait: "200ms",
        alerts_extra: "repeat_interval = \"1h\"".into(),
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    let add = env.cmd(&[
        "--json",
        "silence",
        "add",
        "--site",
        "118.dk",
        "--for",
        "2h",
        "--reason",
        "site migration weekend",
        "--by",
        "dave",
    ]);
    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    let sid = json(&add)["id"].as_str().unwrap().to_string();
    let bad = env.cmd(&[
        "silence", "add", "--site", "nope.dk", "--for", "1h", "--reason", "x",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--site"), "{}", stderr(&bad));

    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(st["silences"][0]["id"], sid.as_str());
    assert_eq!(st["silences"][0]["reason"], "site migration weekend");
    assert_eq!(st["silences"][0]["site"], "118.dk");
    assert!(stdout(&env.cmd(&["status"])).contains("site migration weekend"));

    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(20), || open_incident_of(&env, "R-03")
            .is_some())
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        env.receiver.all().is_empty(),
        "silenced exposure was delivered"
    );

    // Ending it (through the API) announces what it held back.
    let http = reqwest::Client::new();
    let listed: serde_json::Value = env.api_json("/api/v1/silences").await;
    assert_eq!(listed["silences"][0]["created_by"], "dave");
    let end = http
        .delete(env.api(&format!("/api/v1/silences/{sid}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 204);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "exposure.opened")
                .iter()
                .any(|m| m.entry_refs() == vec!["R-03".to_string()]))
            .await,
        "{}",
        daemon.log()
    );
    assert!(
        json(&env.cmd(&["--json", "status"]))["silences"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_send_each_receiver_only_its_events_and_cohorts() {
    let cohort_b = Receiver::start(SECRET).await.unwrap();
    let site_only = Receiver::start(SECRET).await.unwrap();
    let env = Env::new(Knobs::default()).await;
    let extra = webhook(&cohort_b.url(), "cohort-b", "cohorts = [\"batch-b\"]")
        + &webhook(
            &site_only.url(),
            "site-events",
            "events = [\"site.degraded\", \"site.recovered\"]",
        );
    env.write_config(&Knobs {
        group_wait: "300ms",
        extra,
        ..Knobs::default()
    });
    // A bad route is a config error naming the key.
    std::fs::write(
        env.path("bad.toml"),
        std::fs::read_to_string(env.config())
            .unwrap()
            .replace("site.degraded", "site.exploded"),
    )
    .unwrap();
    let bad = run_bin(&env.path("bad.toml"), &["status"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("alerts.webhook[2].events"),
        "{}",
        stderr(&bad)
    );

    env.import(ROSTER);
    env.sim.add(r03_listing());
    env.sim.add(listing(
        "Mette Kjærsgaard",
        "19500004",
        "Vestergade 21, 1. mf",
        "7100 Vejle",
    ));
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));
    let all = of(&env.receiver.accepted(), "exposure.opened");
    assert_eq!(all.len(), 1);
    let mut refs = all[0].entry_refs();
    refs.sort();
    assert_eq!(refs, ["R-03", "R-04"]);
    let b = of(&cohort_b.accepted(), "exposure.opened");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].entry_refs(), ["R-04"], "only its cohort");
    assert!(site_only.all().is_empty(), "routed to site events only");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_digest_arrives_once_a_day_with_counts_and_the_chain_head() {
    let slack = Receiver::start_unsigned().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("slack-url"), slack.url()).unwrap();
    env.write_config(&Knobs {
        group_wait: "200ms",
        // Already past today, so the first daemon sends today's digest.
        alerts_extra: "digest = \"00:00\"".into(),
        extra: "[[alerts.slack]]\nurl_file = \"slack-url\"\n".into(),
        ..Knobs::default()
    });
    env.import(ROSTER);
    env.sim.add(r03_listing());
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));
    let daemon = env.spawn_daemon();
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| !of(r, "digest").is_empty())
            .await,
        "{}",
        daemon.log()
    );
    let d = &of(&env.receiver.accepted(), "digest")[0];
    let details = &d.json["details"];
    assert_eq!(details["roster_size"], 6);
    assert_eq!(details["open_incidents"], 1);
    assert!(details["probes_24h"].as_u64().unwrap() >= 6);
    assert_eq!(details["sites"][0]["name"], "118.dk");
    assert!(details["sites"][0]["exposed"].as_u64().unwrap() >= 1);
    assert!(details["audit_head"]["hash"].as_str().unwrap().len() == 64);
    for n in roster_numbers() {
        assert!(!d.body.contains(&n));
    }
    assert!(
        slack
            .wait_for(Duration::from_secs(10), |r| r.iter().any(|m| {
                m.json["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("daily digest")
            }))
            .await
    );
    assert_eq!(daemon.stop(), Some(0));

    // A restart the same day sends no second digest.
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(20), || env.api_up()).await,
        "{}",
        daemon.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(of(&env.receiver.accepted(), "digest").len(), 1);
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_answers_4xx_is_reported_through_the_others() {
    let broken = Receiver::start(SECRET).await.unwrap();
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        group_wait: "200ms",
        extra: webhook(&broken.url(), "broken", ""),
        ..Knobs::default()
    });
    broken.fail_next(u32::MAX, 410, None);
    env.import(ROSTER);
    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| !of(r, "receiver.failing")
                .is_empty())
            .await,
        "{}",
        daemon.log()
    );
    let f = &of(&env.receiver.accepted(), "receiver.failing")[0];
    assert_eq!(f.json["details"]["receiver"], "webhook:broken");
    assert!(
        f.json["details"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("410"))
    );
    let st = json(&env.cmd(&["--json", "status"]));
    let b = st["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["receiver"] == "webhook:broken")
        .unwrap()
        .clone();
    assert_eq!(b["failing"], true);
    assert!(b["failing_since"].is_string());
    // Still retried, never dropped: once it accepts, it gets the exposure
    // and the others hear it recovered.
    broken.fail_next(0, 410, None);
    assert!(
        broken
            .wait_for(Duration::from_secs(20), |r| r
                .iter()
                .any(|m| m.answered < 300 && m.event_type() == "exposure.opened"))
            .await,
        "{}",
        daemon.log()
    );
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| !of(r, "receiver.recovered")
                .is_empty())
            .await
    );
    assert!(of(&broken.accepted(), "receiver.failing").is_empty());
    assert_eq!(daemon.stop(), Some(0));
}
