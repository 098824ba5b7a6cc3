//! How unlistd reaches a site: robots.txt honoured (and overridden only with
//! a written reason), access headers from secret files, a forward proxy.

use std::process::{Command, Stdio};
use std::time::Duration;

use unlistd::sim::{SimDirectory, SimProxy, SimRobots};

use crate::common::*;

/// `unlistd ARGS` with debug logging, so tests can check what the log
/// holds; returns (exit code, stdout, stderr).
fn run_logged(env: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(env.config())
        .args(args)
        .env("UNLISTD_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), stdout(&out), stderr(&out))
}

fn paths(sim: &SimDirectory) -> Vec<String> {
    sim.requests().into_iter().map(|(_, p)| p).collect()
}

fn reasons(env: &Env, entry_ref: &str) -> Vec<String> {
    let h = json(&env.cmd(&["--json", "history", entry_ref]));
    h["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disallowed_search_is_inconclusive_and_never_requested() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    // Our own group wins over the permissive wildcard.
    env.sim.set_robots(SimRobots::Text(
        "User-agent: *\nAllow: /\n\nUser-agent: unlistd\nDisallow: /search\n".into(),
    ));
    // A leak that unlistd must not go and look at.
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A",
        "2900 Hellerup",
    ));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["inconclusive"].as_u64(),
            j["clean"].as_u64(),
            j["exposed"].as_u64()
        ),
        (Some(6), Some(0), Some(0)),
        "{j}"
    );
    assert_eq!(paths(&env.sim), ["/robots.txt"], "no search went out");
    let r = reasons(&env, "R-02");
    assert_eq!(r.len(), 1);
    assert!(r[0].starts_with("robots.txt disallows"), "{r:?}");
    // `check` says it could not read the site: exit 1, never "not listed".
    let out = env.cmd(&["check", "13 50 00 02"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_robots_txt_counts_as_disallow_all() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    env.sim.set_robots(SimRobots::Status(503));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["inconclusive"].as_u64(), Some(6));
    // One fetch and its one retry (max_retries = 1), then nothing more.
    assert_eq!(paths(&env.sim), ["/robots.txt", "/robots.txt"]);
    assert_eq!(
        reasons(&env, "R-03"),
        ["robots.txt unreachable (http status 503)"]
    );

    // No robots.txt at all (404) allows everything.
    env.sim.set_robots(SimRobots::Status(404));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(json(&out)["clean"].as_u64(), Some(6), "{}", stderr(&out));
}

const REASON: &str = "Written agreement with the site operator, ref. 2026-114";

#[tokio::test(flavor = "multi_thread")]
async fn an_override_with_a_reason_probes_and_status_shows_it() {
    let env = Env::new(Knobs {
        site_extra: format!("robots_txt = false\nrobots_txt_reason = \"{REASON}\""),
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    env.sim
        .set_robots(SimRobots::Text("User-agent: *\nDisallow: /\n".into()));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["clean"].as_u64(), Some(6));
    assert!(!paths(&env.sim).contains(&"/robots.txt".to_string()));

    let st = json(&env.cmd(&["--json", "status"]));
    assert_eq!(
        st["sites"][0]["robots"],
        serde_json::json!({"honoured": false, "reason": REASON, "crawl_delay_seconds": null})
    );
    let text = stdout(&env.cmd(&["status"]));
    assert!(
        text.contains(&format!("robots.txt not honoured: {REASON}")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_override_without_a_reason_is_a_config_error() {
    let env = Env::new(Knobs {
        site_extra: "robots_txt = false".into(),
        ..Knobs::default()
    })
    .await;
    for args in [&["status"][..], &["run"][..]] {
        let out = env.cmd(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{}:20: sites[0].robots_txt_reason:",
                env.config().display()
            )),
            "{err}"
        );
    }
}

/// The daemon's view: Crawl-delay slows the site below its budget (and the
/// predicted cycle says so), while an overridden site shows its reason.
#[tokio::test(flavor = "multi_thread")]
async fn crawl_delay_and_overrides_in_the_api() {
    let other = SimDirectory::start().await.unwrap();
    other.set_robots(SimRobots::Text("User-agent: *\nDisallow: /\n".into()));
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: format!(
            "[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\nbase_url = \"{}\"\nrate = \"50/s\"\n\
             robots_txt = false\nrobots_txt_reason = \"{REASON}\"\n",
            other.base_url()
        ),
        ..Knobs::default()
    });
    env.sim.set_robots(SimRobots::Text(
        "User-agent: unlistd\nCrawl-delay: 4\nAllow: /\n".into(),
    ));
    env.import(ROSTER);
    let daemon = env.spawn_daemon();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let sites = || async {
        let r = http
            .get(env.api("/api/v1/sites"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        r.json::<serde_json::Value>().await.ok()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let j = loop {
        if let Some(j) = sites().await
            && j["sites"][0]["robots"]["crawl_delay_seconds"].is_number()
        {
            break j;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "robots.txt never read: {}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let s = &j["sites"][0];
    assert_eq!(
        s["robots"],
        serde_json::json!({"honoured": true, "reason": null, "crawl_delay_seconds": 4.0})
    );
    // 50/s configured, but 1 request per 4 s: 6 entries take 24 s a cycle.
    assert_eq!(s["configured_rate_per_second"], 50.0);
    assert_eq!(s["predicted_cycle_seconds"], 24.0);
    let k = &j["sites"][1];
    assert_eq!(k["robots"]["honoured"], false);
    assert_eq!(k["robots"]["reason"], REASON);
    let st: serde_json::Value = env.api_json("/api/v1/status").await;
    assert_eq!(st["sites"][1]["robots"]["reason"], REASON);
    // The overridden site is probed although its robots.txt says no.
    assert!(
        eventually(Duration::from_secs(20), || other
            .requests()
            .iter()
            .any(|(_, p)| p.ends_with("/personer")))
        .await
    );
    assert!(!paths(&other).contains(&"/robots.txt".to_string()));
    // The paced site: robots.txt, then searches at least 4 s apart, so at
    // most two requests so far.
    assert!(env.sim.request_count() <= 3, "{:?}", paths(&env.sim));
    daemon.stop();
}

const SITE_TOKEN: &str = "tok-4f9a2c7e1b83d605";

#[tokio::test(flavor = "multi_thread")]
async fn an_access_header_from_a_secret_file_reaches_the_site() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    env.sim.require_header("X-Access-Token", SITE_TOKEN);

    // Without the header: 403 everywhere, robots.txt included.
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(json(&out)["inconclusive"].as_u64(), Some(6));

    std::fs::write(env.path("krak-token"), format!("{SITE_TOKEN}\n")).unwrap();
    env.write_config(&Knobs {
        site_extra: "[sites.headers]\n\"X-Access-Token\" = { file = \"krak-token\" }".into(),
        ..Knobs::default()
    });
    let (code, out, log) = run_logged(&env, &["--json", "scan", "--once"]);
    assert_eq!(code, Some(0), "{log}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["clean"].as_u64(), Some(6), "{j}");
    assert!(!log.contains(SITE_TOKEN) && !out.contains(SITE_TOKEN));

    // A bad header name is a config error naming the key.
    env.write_config(&Knobs {
        site_extra: "[sites.headers]\n\"X Access Token\" = { file = \"krak-token\" }".into(),
        ..Knobs::default()
    });
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(":21: sites[0].headers.\"X Access Token\": not a valid HTTP header name"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_goes_through_the_configured_proxy() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let proxy = SimProxy::start(Some(("unlistd", "pr0xy-s3cret")))
        .await
        .unwrap();
    let with_creds = proxy
        .url()
        .replace("http://", "http://unlistd:pr0xy-s3cret@");
    std::fs::write(env.path("proxy-url"), format!("{with_creds}\n")).unwrap();
    env.write_config(&Knobs {
        site_extra: "proxy_file = \"proxy-url\"".into(),
        ..Knobs::default()
    });
    let (code, out, log) = run_logged(&env, &["--json", "scan", "--once"]);
    assert_eq!(code, Some(0), "{log}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["clean"].as_u64(), Some(6), "{j}");
    // Every request the site saw came through the proxy, authenticated, in
    // absolute form, robots.txt first.
    let seen = proxy.requests();
    let base = env.sim.base_url();
    let via: Vec<String> = seen
        .iter()
        .map(|r| {
            r.target
                .strip_prefix(&base)
                .unwrap_or(&r.target)
                .to_string()
        })
        .collect();
    assert_eq!(via, paths(&env.sim));
    assert_eq!(via[0], "/robots.txt");
    assert_eq!(via.len(), 1 + 7);
    assert!(
        seen.iter()
            .all(|r| r.authorised && r.target.starts_with(&base))
    );
    assert!(!log.contains("pr0xy-s3cret"), "{log}");

    // A wrong password: the proxy refuses, so nothing is conclusive.
    std::fs::write(
        env.path("proxy-url"),
        proxy.url().replace("http://", "http://unlistd:wrong@"),
    )
    .unwrap();
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(json(&out)["inconclusive"].as_u64(), Some(6));
    // And a credential inline in `proxy` is refused outright.
    env.write_config(&Knobs {
        site_extra: format!("proxy = \"{with_creds}\""),
        ..Knobs::default()
    });
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sites[0].proxy:"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("pr0xy-s3cret"), "{}", stderr(&out));
}
