//! Alert channels, grouping and delivery that survives receivers going
//! down and the daemon being killed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use unlistd::alert::receiver::{Received, Receiver};

use crate::common::*;

fn of(r: &[Received], kind: &str) -> Vec<Received> {
    r.iter()
        .filter(|x| x.event_type() == kind)
        .cloned()
        .collect()
}

/// A roster of `n` hide_number entries, numbers 13 9x xx xx.
fn big_roster(n: usize) -> String {
    let mut s = String::from("ref,phone,hide_number,hide_address\n");
    for i in 0..n {
        s.push_str(&format!("B-{i:04},139{i:05},true,false\n"));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_teams_and_pagerduty_get_their_native_shapes() {
    let slack = Receiver::start_unsigned().await.unwrap();
    let teams = Receiver::start_unsigned().await.unwrap();
    let pd = Receiver::start_unsigned().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("slack-url"), format!("{}\n", slack.url())).unwrap();
    std::fs::write(env.path("teams-url"), teams.url()).unwrap();
    std::fs::write(env.path("pd-key"), "PDROUTINGKEY000000000000000000\n").unwrap();
    env.write_config(&Knobs {
        extra: format!(
            "[[alerts.slack]]\nurl_file = \"slack-url\"\n[[alerts.teams]]\nurl_file = \"teams-url\"\n\
             [[alerts.pagerduty]]\nrouting_key_file = \"pd-key\"\nurl = \"{}\"\n",
            pd.url()
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A",
        "2900 Hellerup",
    ));
    env.sim.add(r03_listing());
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));

    let s = slack.accepted();
    assert_eq!(s.len(), 1);
    // Both are of cohort batch-a: the headline names it.
    assert_eq!(
        s[0].json["text"],
        "2 protected entries exposed on 118.dk — 2 of 2 in cohort batch-a: likely one cause"
    );
    let detail = s[0].json["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        detail.contains("R-02") && detail.contains("R-03"),
        "{detail}"
    );
    let t = teams.accepted();
    assert_eq!(t.len(), 1);
    let card = &t[0].json["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        card["content"]["body"][0]["text"],
        "2 protected entries exposed on 118.dk — 2 of 2 in cohort batch-a: likely one cause"
    );
    let p = pd.accepted();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].json["event_action"], "trigger");
    assert_eq!(p[0].json["routing_key"], "PDROUTINGKEY000000000000000000");
    assert_eq!(p[0].json["payload"]["severity"], "critical");
    let key = p[0].json["dedup_key"].clone();

    env.sim.remove_number("13500002");
    env.sim.remove_number("13500003");
    env.cmd(&["scan", "--once"]);
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(0));
    let p = pd.accepted();
    assert_eq!(
        p.len(),
        2,
        "{:?}",
        p.iter().map(|x| &x.body).collect::<Vec<_>>()
    );
    assert_eq!(p[1].json["event_action"], "resolve");
    assert_eq!(
        p[1].json["dedup_key"], key,
        "resolve closes the same PagerDuty alert"
    );
    assert_eq!(slack.accepted().len(), 2);
    // No chat or paging body carries a full roster number or a name.
    for r in slack
        .all()
        .iter()
        .chain(teams.all().iter())
        .chain(pd.all().iter())
    {
        for n in roster_numbers() {
            assert!(!r.body.contains(&n));
        }
        assert!(!r.body.contains("Nørgaard") && !r.body.contains("Friis"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_leak_of_500_is_one_message_per_channel() {
    let slack = Receiver::start_unsigned().await.unwrap();
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("slack-url"), slack.url()).unwrap();
    env.write_config(&Knobs {
        rate: "1000/s",
        // Every probe is its own durable (fsync'd) transaction, so 500
        // detections take a few seconds on a loaded 2-core machine.
        group_wait: "20s",
        extra: "[[alerts.slack]]\nurl_file = \"slack-url\"\n".into(),
        site_extra: "concurrency = 8".into(),
        ..Knobs::default()
    });
    env.import(&big_roster(500));
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(30), || {
            json(&env.cmd(&["--json", "status"]))["sites"][0]["never_probed"] == 0
        })
        .await,
        "{}",
        daemon.log()
    );
    let c0 = env.sim.request_count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "steady rate: {} requests/s",
        (env.sim.request_count() - c0) / 2
    );
    let leaked_at = std::time::Instant::now();
    for i in 0..500 {
        env.sim.add(listing(
            &format!("Person {i}"),
            &format!("139{i:05}"),
            "Vej 1",
            "8000 Aarhus C",
        ));
    }
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(60), |r| !of(r, "exposure.opened")
                .is_empty())
            .await,
        "{}",
        daemon.log()
    );
    println!(
        "first exposure.opened {:?} after the leak",
        leaked_at.elapsed()
    );
    // All 500 incidents in the first message means no straggler can form a
    // second one; Slack is formed in the same pass.
    assert!(
        slack
            .wait_for(Duration::from_secs(10), |r| !r.is_empty())
            .await
    );
    let hooks = of(&env.receiver.accepted(), "exposure.opened");
    assert_eq!(hooks.len(), 1, "one webhook message for the whole leak");
    assert_eq!(hooks[0].json["count"], 500);
    assert_eq!(
        hooks[0]
            .entry_refs()
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len(),
        500
    );
    let chats = slack.accepted();
    assert_eq!(chats.len(), 1, "one Slack message for the whole leak");
    assert_eq!(
        chats[0].json["text"],
        "500 protected entries exposed on 118.dk"
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_a_while_gets_everything_in_order() {
    let env = Env::new(Knobs {
        group_wait: "1s",
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    env.receiver.fail_next(u32::MAX, 503, None);
    let daemon = env.spawn_daemon();
    env.sim.add(r03_listing());
    assert!(
        eventually(Duration::from_secs(20), || {
            json(&env.cmd(&["--json", "incidents", "--open"]))["incidents"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        })
        .await
    );
    env.sim.remove_number("13500003");
    assert!(
        eventually(Duration::from_secs(20), || {
            json(&env.cmd(&["--json", "incidents"]))["incidents"][0]["state"] == "resolved"
        })
        .await
    );
    // Both events wait behind the failing receiver, which is visible.
    assert!(
        eventually(Duration::from_secs(20), || {
            let st = json(&env.cmd(&["--json", "status"]));
            st["alerts"][0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("503"))
        })
        .await
    );
    assert!(env.receiver.accepted().is_empty());
    assert!(
        eventually(Duration::from_secs(20), || env.receiver.all().len() >= 2).await,
        "delivery kept retrying"
    );

    env.receiver.fail_next(0, 503, None);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "exposure.resolved")
                .len()
                == 1)
            .await,
        "{}",
        daemon.log()
    );
    let got: Vec<String> = env
        .receiver
        .accepted()
        .iter()
        .map(|r| r.event_type().to_string())
        .collect();
    assert_eq!(
        got,
        ["exposure.opened", "exposure.resolved"],
        "in order per incident"
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_loses_no_event() {
    let env = Env::new(Knobs {
        rate: "200/s",
        group_wait: "1s",
        resolve_after_clean: 1,
        ..Knobs::default()
    })
    .await;
    env.import(&big_roster(40));
    // A flaky receiver: every third request fails, so kills land while
    // messages are pending, formed, mid-retry and mid-send.
    let mut rng_state: u64 = 0x9e3779b97f4a7c15;
    let mut rand = move |n: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % n
    };
    let kills = 50;
    for k in 0..kills {
        // Leaks and removals keep changing while the daemon dies and restarts.
        let i = rand(40);
        let number = format!("139{i:05}");
        if env.sim.remove_number(&number) == 0 {
            env.sim.add(listing(
                &format!("Person {i}"),
                &number,
                "Vej 1",
                "8000 Aarhus C",
            ));
        }
        if k % 3 == 0 {
            env.receiver.fail_next(1, 500, None);
        }
        let mut d = env.spawn_daemon();
        tokio::time::sleep(Duration::from_millis(100 + rand(600))).await;
        let _ = d.child.kill(); // SIGKILL
        let _ = d.child.wait();
    }
    // Let a last daemon run until every event is delivered. It keeps
    // probing, so it can open an incident between the status read that saw
    // nothing pending and its stop: judge by the stopped store, and run it
    // again until a stop leaves nothing undelivered.
    let all_delivered = || {
        let st = json(&env.cmd(&["--json", "status"]));
        st["alerts"][0]["pending_messages"] == 0 && st["alerts"][0]["undelivered_events"] == 0
    };
    for round in 0.. {
        assert!(round < 5, "a stop always left events undelivered");
        let daemon = env.spawn_daemon();
        let delivered = eventually(Duration::from_secs(60), all_delivered).await;
        assert!(delivered, "{}", daemon.log());
        assert_eq!(daemon.stop(), Some(0));
        if all_delivered() {
            break;
        }
    }

    // Every incident change the store committed reached the receiver.
    let incidents = json(&env.cmd(&["--json", "incidents"]));
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for i in incidents["incidents"].as_array().unwrap() {
        let id = i["id"].as_str().unwrap().to_string();
        expected.insert((id.clone(), "exposure.opened".into()));
        if i["state"] == "resolved" {
            expected.insert((id, "exposure.resolved".into()));
        }
    }
    assert!(!expected.is_empty(), "the test leaked nothing");
    let accepted = env.receiver.accepted();
    let mut got: BTreeSet<(String, String)> = BTreeSet::new();
    for r in &accepted {
        for i in r.json["incidents"].as_array().unwrap() {
            got.insert((
                i["id"].as_str().unwrap().to_string(),
                r.event_type().to_string(),
            ));
        }
    }
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "events lost after {kills} kills: {missing:?}"
    );
    // A webhook-id always names the same body: retries after a kill are
    // byte-identical copies, never a different message under an old id.
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for r in env.receiver.all() {
        assert!(r.signature_ok);
        let prev = bodies.entry(r.id.clone()).or_insert_with(|| r.body.clone());
        assert_eq!(*prev, r.body, "webhook-id {} reused for another body", r.id);
    }
    println!(
        "{kills} kills: {} incidents, {} events expected, {} deliveries accepted ({} requests)",
        incidents["incidents"].as_array().unwrap().len(),
        expected.len(),
        accepted.len(),
        env.receiver.all().len()
    );
}
