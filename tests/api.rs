//! The HTTP API of `unlistd run`.

use std::time::Duration;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn tokens_shapes_and_metrics_without_roster_data() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    let http = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", env.api_port)).is_ok()
        })
        .await,
        "API never came up: {}",
        daemon.log()
    );
    let r = http.get(env.api("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    for path in [
        "/api/v1/status",
        "/api/v1/incidents?state=open",
        "/api/v1/sites",
        "/api/v1/entries/R-01/history",
    ] {
        let r = http.get(env.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        let r = http
            .get(env.api(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
        let r = http
            .get(env.api(path))
            .bearer_auth(format!("{TOKEN}x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a longer token");
    }

    let get = |path: &'static str| {
        let http = http.clone();
        let url = env.api(path);
        async move {
            let r = http.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let opened = eventually(Duration::from_secs(20), || {
        json(&env.cmd(&["--json", "incidents", "--open"]))["incidents"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    assert!(opened, "{}", daemon.log());

    let st = get("/api/v1/status").await;
    assert_eq!(st["roster"]["size"], 6);
    assert_eq!(st["incidents"]["open"], 1);
    assert_eq!(st["sites"][0]["name"], "118.dk");
    assert!(["healthy", "degraded"].contains(&st["sites"][0]["state"].as_str().unwrap()));
    assert!(st["sites"][0].get("oldest_probe_age_seconds").is_some());

    let inc = get("/api/v1/incidents?state=open").await;
    let i = &inc["incidents"][0];
    assert_eq!(
        (
            i["site"].as_str(),
            i["entry_ref"].as_str(),
            i["state"].as_str()
        ),
        (Some("118.dk"), Some("R-03"), Some("open"))
    );
    assert_eq!(i["exposed"], serde_json::json!(["number"]));
    assert!(i["resolved_at"].is_null());
    assert!(i["id"].is_string() && i["first_seen"].is_string() && i["last_seen"].is_string());

    let h = get("/api/v1/entries/R-03/history").await;
    assert_eq!(h["entry_ref"], "R-03");
    let p = &h["probes"][0];
    for k in [
        "time",
        "site",
        "outcome",
        "http_status",
        "page_sha256",
        "reason",
    ] {
        assert!(p.get(k).is_some(), "history probe lacks {k}: {p}");
    }
    let r = http
        .get(env.api("/api/v1/entries/NOPE/history"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let sites = get("/api/v1/sites").await;
    assert_eq!(sites["sites"][0]["name"], "118.dk");

    let metrics = http
        .get(env.api("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("unlistd_probes_total{site=\"118.dk\",outcome=\"exposed\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("unlistd_open_incidents 1"));
    assert!(metrics.contains("unlistd_silences_active 0"), "{metrics}");
    for n in roster_numbers() {
        assert!(!metrics.contains(&n));
    }
    for name in ["Friis", "R-03", "Bøgevej"] {
        assert!(!metrics.contains(name));
    }
    assert_eq!(daemon.stop(), Some(0));
}
