//! A probe that did not conclusively show absence is inconclusive: every
//! failure mode of a site, and none of them may resolve an incident.

use std::time::Duration;

use unlistd::sim::Fault;

use crate::common::*;

const SMALL: &str = "\
ref,phone,name,hide_number,hide_address
F-1,13 60 00 01,Asta Mølgaard,true,false
F-2,13 60 00 02,Bjørn Kirkegaard,true,false
";

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_is_inconclusive_and_never_resolves() {
    let env = Env::new(Knobs {
        rate: "100/s",
        timeout: "1s",
        max_retries: 0,
        resolve_after_clean: 1,
        ..Knobs::default()
    })
    .await;
    env.import(SMALL);
    env.sim.add(listing(
        "Asta Mølgaard",
        "13600001",
        "Ågade 1",
        "8000 Aarhus C",
    ));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3));
    env.sim.remove_number("13600001");

    let faults: Vec<(&str, Fault)> = vec![
        ("403 challenge", Fault::Status(403)),
        (
            "429",
            Fault::RetryAfter {
                status: 429,
                seconds: 1,
            },
        ),
        (
            "503",
            Fault::RetryAfter {
                status: 503,
                seconds: 1,
            },
        ),
        ("500", Fault::Status(500)),
        ("404", Fault::Status(404)),
        ("timeout", Fault::Hang),
        (
            "oversized body",
            Fault::Huge {
                bytes: 50 * 1024 * 1024,
            },
        ),
        ("gzip bomb", Fault::GzipBomb),
        ("unparseable page", Fault::Garbage),
        ("layout drift", Fault::Drift),
    ];
    for (what, fault) in faults {
        env.sim.set_fault(fault);
        let started = std::time::Instant::now();
        let out = env.cmd(&["--json", "scan", "--once"]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{what}: the incident must stay open; {}",
            stderr(&out)
        );
        let j = json(&out);
        assert_eq!(j["probes"].as_u64(), Some(2), "{what}");
        assert_eq!(j["inconclusive"].as_u64(), Some(2), "{what}: {j}");
        assert_eq!(j["clean"].as_u64(), Some(0), "{what}: {j}");
        assert_eq!(j["incidents_resolved"].as_u64(), Some(0), "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} took {:?}",
            started.elapsed()
        );
    }
    let h = json(&env.cmd(&["--json", "history", "F-1"]));
    let probes = h["probes"].as_array().unwrap();
    let inconclusive: Vec<_> = probes
        .iter()
        .filter(|p| p["outcome"] == "inconclusive")
        .collect();
    assert_eq!(inconclusive.len(), 10);
    assert!(
        inconclusive
            .iter()
            .all(|p| p["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );
    assert!(inconclusive.iter().any(|p| p["http_status"] == 403));
    // The site is reported degraded, not quietly "healthy with no hits".
    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(st["sites"][0]["state"], "degraded", "{st}");

    // Once the site answers properly again, one clean probe resolves (k = 1).
    env.sim.set_fault(Fault::None);
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["incidents_resolved"].as_u64(), Some(1));
    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(st["sites"][0]["state"], "healthy");
}
