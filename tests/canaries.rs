//! Canaries keep a site from going quietly blind.

use std::time::Duration;

use unlistd::alert::receiver::Received;
use unlistd::sim::Fault;

use crate::common::*;

fn of(r: &[Received], kind: &str) -> usize {
    r.iter().filter(|x| x.event_type() == kind).count()
}

fn clean_probes(env: &Env) -> usize {
    clean_times(env).len()
}

/// When each clean probe's deciding page arrived.
fn clean_times(env: &Env) -> Vec<time::OffsetDateTime> {
    ["R-01", "R-02", "R-03", "R-04", "R-05", "R-06"]
        .iter()
        .flat_map(|r| {
            json(&env.cmd(&["--json", "history", r]))["probes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["outcome"] == "clean")
        .filter_map(|p| {
            time::OffsetDateTime::parse(
                p["time"].as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_and_challenges_degrade_the_site_and_nothing_counts_as_clean() {
    let env = Env::new(Knobs {
        rate: "20/s",
        max_retries: 0,
        site_extra: "canaries = [\"95 00 00 01\"]\nabsent_canaries = [\"95 00 00 02\"]\ncanary_interval = \"1s\"".into(),
        group_wait: "1s",
        ..Knobs::default()
    })
    .await;
    // The operator's own switchboard: public, must be found.
    env.sim.add(listing(
        "Eksempel Telecom A/S",
        "95000001",
        "Havnen 1",
        "8000 Aarhus C",
    ));
    env.import(ROSTER);
    let daemon = env.spawn_daemon();
    let healthy = eventually(Duration::from_secs(20), || {
        let st = json(&env.cmd(&["--json", "status"]));
        st["sites"][0]["last_canary_ok"] == true && clean_probes(&env) >= 6
    })
    .await;
    assert!(healthy, "{}", daemon.log());
    assert_eq!(of(&env.receiver.accepted(), "site.degraded"), 0);

    // Layout drift: the same data under renamed classes.
    let drift_at = time::OffsetDateTime::now_utc();
    env.sim.set_fault(Fault::Drift);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "site.degraded") == 1)
            .await,
        "{}",
        daemon.log()
    );
    let degraded = env
        .receiver
        .accepted()
        .into_iter()
        .find(|r| r.event_type() == "site.degraded")
        .unwrap();
    assert!(
        degraded.json["details"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("canary 1")),
        "the page says why: {}",
        degraded.body
    );
    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(st["sites"][0]["state"], "degraded", "{st}");
    assert!(
        st["sites"][0]["state_reason"]
            .as_str()
            .unwrap()
            .contains("canary 1")
    );
    assert!(st["sites"][0]["degraded_since"].is_string());
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Zero clean outcomes while drifting. A probe's time is when its
    // deciding page arrived, so the probe in flight when the drift began
    // (its page read before it, its commit perhaps later) is stamped
    // before the drift; history shows whole seconds.
    let late: Vec<_> = clean_times(&env)
        .into_iter()
        .filter(|t| *t > drift_at + time::Duration::seconds(1))
        .collect();
    assert!(
        late.is_empty(),
        "a drifted site produced clean outcomes: {late:?} (drift at {drift_at})"
    );
    assert_eq!(
        of(&env.receiver.accepted(), "site.degraded"),
        1,
        "degraded is sent once"
    );

    env.sim.set_fault(Fault::None);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "site.recovered") == 1)
            .await,
        "{}",
        daemon.log()
    );
    // A challenge page is blindness too.
    env.sim.set_fault(Fault::Status(403));
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "site.degraded") == 2)
            .await
    );
    env.sim.set_fault(Fault::None);
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "site.recovered") == 2)
            .await
    );
    // Over-matching: the number known to be unlisted shows up as listed.
    env.sim
        .add(listing("Nogen Andre", "95000002", "Vej 2", "8000 Aarhus C"));
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| of(r, "site.degraded") == 3)
            .await
    );
    let st = json(&env.cmd(&["--json", "status"]));
    assert!(
        st["sites"][0]["state_reason"]
            .as_str()
            .unwrap()
            .contains("absent canary"),
        "{st}"
    );
    for r in env.receiver.accepted() {
        assert!(r.signature_ok);
        assert_eq!(r.json["site"], "118.dk");
    }
    assert_eq!(daemon.stop(), Some(0));
}
