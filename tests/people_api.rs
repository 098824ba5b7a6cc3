//! People, not one shared token (issue 16), through the real daemon's API:
//! roles, actions recorded under the token's name, paging with `Link`,
//! the OpenAPI description, the audit feed, takedowns with their deadline
//! alarm, and a webhook receiver's secret header.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const READ_TOKEN: &str = "read-token-0123456789abcdef";
const ACT_TOKEN: &str = "act-token-0123456789abcdef";
const HOOK_AUTH: &str = "Splunk 0f5e7c1a-hec-token";
const CONTACT: &str = "fjernelse@118.example (removal form: https://118.example/fjern)";

/// The `rel="next"` target of a `Link` header, if any.
fn next_link(r: &reqwest::Response) -> Option<String> {
    let v = r.headers().get("link")?.to_str().ok()?;
    let (target, params) = v.split_once(';')?;
    params.contains("rel=\"next\"").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    })
}

struct Api<'e> {
    env: &'e Env,
    http: reqwest::Client,
}

impl Api<'_> {
    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.env.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.env.api(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn open_incidents(env: &Env) -> Vec<Value> {
    json(&env.cmd(&["--json", "incidents", "--open"]))["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_names_pages_openapi_audit_and_takedowns() {
    let env = Env::new(Knobs {
        group_wait: "200ms",
        site_extra: format!("takedown_contact = \"{CONTACT}\"\ntakedown_sla = \"3s\""),
        extra: ("headers = { Authorization = { file = \"hook-auth\" } }\n\n\
             [[api.tokens]]\nname = \"viewer\"\ntoken_file = \"read-token\"\nrole = \"read\"\n\n\
             [[api.tokens]]\nname = \"alice\"\ntoken_file = \"act-token\"\nrole = \"act\"\n")
            .into(),
        ..Knobs::default()
    })
    .await;
    std::fs::write(env.path("read-token"), READ_TOKEN).unwrap();
    std::fs::write(env.path("act-token"), format!("{ACT_TOKEN}\n")).unwrap();
    std::fs::write(env.path("hook-auth"), HOOK_AUTH).unwrap();
    env.import(ROSTER);
    env.sim.add(r03_listing());
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A",
        "2900 Hellerup",
    ));
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(20), || open_incidents(&env).len() == 2).await,
        "two incidents: {}",
        daemon.log()
    );
    let api = Api {
        env: &env,
        http: reqwest::Client::new(),
    };
    let r03 = open_incidents(&env)
        .into_iter()
        .find(|i| i["entry_ref"] == "R-03")
        .unwrap();
    let id = r03["id"].as_str().unwrap().to_string();

    // --- A read token reads, and may not act.
    for path in [
        "/api/v1/status",
        "/api/v1/incidents?state=open",
        "/api/v1/entries/R-03/history",
        "/api/v1/sites",
        "/api/v1/silences",
        "/api/v1/audit",
        &format!("/api/v1/incidents/{id}/actions"),
        &format!("/api/v1/incidents/{id}/takedown"),
    ] {
        assert_eq!(api.get(READ_TOKEN, path).await.status(), 200, "{path}");
    }
    let r = api
        .post(
            READ_TOKEN,
            &format!("/api/v1/incidents/{id}/ack"),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(r.status(), 403, "a read token acknowledged");
    let msg: Value = r.json().await.unwrap();
    assert!(msg["error"].as_str().unwrap().contains("viewer"), "{msg}");
    for (path, body) in [
        (
            format!("/api/v1/incidents/{id}/takedown"),
            json!({"via": "form"}),
        ),
        (
            "/api/v1/silences".to_string(),
            json!({"duration": "1h", "reason": "x"}),
        ),
    ] {
        assert_eq!(
            api.post(READ_TOKEN, &path, body).await.status(),
            403,
            "{path}"
        );
    }
    assert_eq!(
        api.get(ACT_TOKEN, &format!("/api/v1/report?incident={id}"))
            .await
            .status(),
        403,
        "reports are admin's"
    );
    assert_eq!(
        api.post(READ_TOKEN, "/api/v1/reload", json!({}))
            .await
            .status(),
        403
    );
    assert_eq!(api.get("nobody", "/api/v1/status").await.status(), 401);

    // --- An act token's ack is recorded under its name, whatever `by` says.
    let r = api
        .post(
            ACT_TOKEN,
            &format!("/api/v1/incidents/{id}/ack"),
            json!({"reason": "customer called", "by": "mallory"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let res: Value = r.json().await.unwrap();
    assert_eq!(res["by"], "alice (by mallory)");
    let actions: Value = api
        .get(READ_TOKEN, &format!("/api/v1/incidents/{id}/actions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(actions["actions"][0]["by"], "alice (by mallory)");
    assert!(
        actions["actions"][0]["by"]
            .as_str()
            .unwrap()
            .starts_with("alice")
    );

    // --- Paging: one item and a Link to the next, which leads to it.
    let r = api.get(READ_TOKEN, "/api/v1/incidents?limit=1").await;
    assert_eq!(r.status(), 200);
    let next = next_link(&r).expect("a Link rel=next");
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["incidents"].as_array().unwrap().len(), 1);
    let r = api.get(READ_TOKEN, &next).await;
    assert_eq!(r.status(), 200);
    assert!(next_link(&r).is_none(), "two incidents, two pages");
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["incidents"].as_array().unwrap().len(), 1);
    assert_ne!(second["incidents"][0]["id"], first["incidents"][0]["id"]);
    let both: Vec<Value> = [&first, &second]
        .iter()
        .map(|p| p["incidents"][0]["id"].clone())
        .collect();
    let all: Value = api
        .get(READ_TOKEN, "/api/v1/incidents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect::<Vec<_>>(),
        both
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            json(&env.cmd(&["--json", "history", "R-03"]))["probes"]
                .as_array()
                .is_some_and(|p| p.len() >= 2)
        })
        .await
    );
    let r = api
        .get(READ_TOKEN, "/api/v1/entries/R-03/history?limit=1")
        .await;
    let next = next_link(&r).expect("history pages too");
    assert!(next.starts_with("/api/v1/entries/R-03/history?"), "{next}");
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["entry_ref"], "R-03");
    assert_eq!(h["probes"].as_array().unwrap().len(), 1);
    for bad in [
        "/api/v1/incidents?limit=0",
        "/api/v1/incidents?limit=1001",
        "/api/v1/incidents?after=garbage",
    ] {
        assert_eq!(api.get(READ_TOKEN, bad).await.status(), 400, "{bad}");
    }

    // --- Takedown: recorded under the token's name; shows the contact.
    let r = api
        .post(
            ACT_TOKEN,
            &format!("/api/v1/incidents/{id}/takedown"),
            json!({"via": "118.dk removal form", "ticket": "T-7"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        (t["by"].as_str(), t["ticket"].as_str()),
        (Some("alice"), Some("T-7"))
    );
    let td: Value = api
        .get(READ_TOKEN, &format!("/api/v1/incidents/{id}/takedown"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(td["takedown_contact"], CONTACT);
    assert_eq!(td["takedowns"][0]["via"], "118.dk removal form");
    // Still listed past the 3 s SLA: exposure.overdue, naming the contact,
    // with the receiver's secret header.
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(20), |r| r
                .iter()
                .any(|m| m.event_type() == "exposure.overdue"))
            .await,
        "no exposure.overdue: {}",
        daemon.log()
    );
    let overdue = env
        .receiver
        .accepted()
        .into_iter()
        .find(|m| m.event_type() == "exposure.overdue")
        .unwrap();
    assert_eq!(overdue.entry_refs(), vec!["R-03".to_string()]);
    assert_eq!(overdue.json["takedown_contact"], CONTACT);
    assert!(overdue.signature_ok);
    assert!(
        env.receiver
            .accepted()
            .iter()
            .all(|m| m.authorization.as_deref() == Some(HOOK_AUTH)),
        "every delivery carries the configured Authorization header"
    );

    // --- The OpenAPI description covers every route the router serves.
    let r = reqwest::get(env.api("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(r.status(), 200, "the description is open");
    let spec: Value = r.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/api/v1/status",
        "/api/v1/incidents",
        "/api/v1/entries/{entry_ref}/history",
        "/api/v1/audit",
        "/api/v1/incidents/{id}/takedown",
        "/dashboard/incidents/{id}/act",
    ] {
        assert!(paths.contains_key(p), "{p} is not in openapi.json");
    }
    // Each described path is a route (a method it lacks gets 405, an
    // unknown path 404).
    let http = reqwest::Client::new();
    let probe = |path: String| {
        let http = http.clone();
        let url = env.api(&path);
        async move {
            http.request(reqwest::Method::TRACE, url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(probe("/api/v1/no-such-route".into()).await, 404);
    for p in paths.keys() {
        let concrete = p.replace("{entry_ref}", "R-03").replace("{id}", &id);
        let status = probe(concrete.clone()).await;
        assert_ne!(status, 404, "{p} is described but not routed");
    }

    // --- The audit feed: in order, a page at a time, no roster data.
    let mut url = "/api/v1/audit?limit=5".to_string();
    let mut records: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let r = api.get(READ_TOKEN, &url).await;
        assert_eq!(r.status(), 200);
        let next = next_link(&r);
        let text = r.text().await.unwrap();
        for n in roster_numbers() {
            assert!(!text.contains(&n), "the audit feed holds a number");
        }
        for name in [
            "Friis",
            "Nørgaard",
            "Bøgevej",
            "Strandvejen",
            "customer called",
        ] {
            assert!(!text.contains(name), "the audit feed holds {name:?}");
        }
        let page: Value = serde_json::from_str(&text).unwrap();
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        pages += 1;
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    assert!(pages > 1, "the feed paged");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
        if i > 0 {
            assert_eq!(r["prev_hash"], records[i - 1]["hash"]);
        }
    }
    let ack = records
        .iter()
        .find(|r| r["kind"] == "incident.action")
        .expect("the ack is in the feed");
    assert_eq!(ack["subject"]["actor"], "alice (by mallory)");
    assert!(records.iter().any(|r| r["kind"] == "incident.takedown"));

    // --- The CLI records takedowns too, and prints the contact.
    let r02 = open_incidents(&env)
        .into_iter()
        .find(|i| i["entry_ref"] == "R-02")
        .unwrap();
    let r02 = r02["id"].as_str().unwrap();
    let out = env.cmd(&[
        "--json",
        "takedown",
        r02,
        "--via",
        "mail to the source feed",
        "--by",
        "carol",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = json(&out);
    assert_eq!(
        (t["by"].as_str(), t["ticket"].as_str()),
        (Some("carol"), None)
    );
    assert_eq!(t["takedown_contact"], CONTACT);
    let out = env.cmd(&["takedown", r02, "--via", "phone", "--ticket", "T-9"]);
    assert!(stdout(&out).contains(CONTACT), "{}", stdout(&out));
    let out = env.cmd(&["takedown", "inc_0000000000000000", "--via", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.cmd(&["takedown", r02, "--via", " "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--via"), "{}", stderr(&out));

    // --- Removal: the admin's report shows requested → removed.
    env.sim.remove_number("13500003");
    assert!(
        eventually(Duration::from_secs(30), || !open_incidents(&env)
            .iter()
            .any(|i| i["id"] == id.as_str()))
        .await,
        "{}",
        daemon.log()
    );
    let r = api
        .get(TOKEN, &format!("/api/v1/report?incident={id}&format=json"))
        .await;
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    let removal = &rep["incidents"][0]["removal"];
    assert!(removal["requested_at"].is_string(), "{rep}");
    assert!(removal["removed_at"].is_string(), "{rep}");
    assert!(removal["time_to_removal_seconds"].is_u64(), "{rep}");
    let html = api
        .get(TOKEN, &format!("/api/v1/report?incident={id}"))
        .await
        .text()
        .await
        .unwrap();
    for want in [
        "Time to removal",
        "class=\"timeline-svg\"",
        "m-takedown",
        "m-resolved",
    ] {
        assert!(html.contains(want), "the HTML report lacks {want}");
    }
    let out = env.cmd(&["takedown", &id, "--via", "too late"]);
    assert_eq!(out.status.code(), Some(2), "resolved: {}", stderr(&out));
    assert!(
        stderr(&out).contains("already resolved"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        api.post(TOKEN, "/api/v1/reload", json!({})).await.status(),
        202
    );
    assert_eq!(daemon.stop(), Some(0));
    let audit = env.cmd(&["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
}

#[test]
fn token_names_and_roles_are_checked_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t1"), "tok-Zq9x").unwrap();
    std::fs::write(dir.path().join("t2"), "tok-Zq9x").unwrap();
    let base = "[store]\npath = \"db\"\n[api]\ntoken_file = \"t1\"\n";
    for (extra, key) in [
        (
            "[[api.tokens]]\nname = \"a b\"\ntoken_file = \"t2\"\nrole = \"read\"\n",
            "api.tokens[0].name",
        ),
        (
            "[[api.tokens]]\nname = \"default\"\ntoken_file = \"t2\"\nrole = \"read\"\n",
            "api.tokens[0].name",
        ),
        (
            "[[api.tokens]]\nname = \"x\"\ntoken_file = \"t2\"\nrole = \"root\"\n",
            "api.tokens[0].role",
        ),
        (
            "[[api.tokens]]\nname = \"x\"\ntoken_file = \"t2\"\nrole = \"read\"\n",
            "api.tokens[0].token_file",
        ),
    ] {
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, format!("{base}{extra}")).unwrap();
        let out = run_bin(&cfg, &["status"]);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(key), "{extra}: {}", stderr(&out));
        assert!(!stderr(&out).contains("Zq9x"), "a token is quoted");
    }
}

/// A single-sign-on proxy on loopback names the user in a header: the API
/// and the dashboard take them as `sso:<name>` with the configured role.
#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_header_names_the_user() {
    let env = Env::new(Knobs::default()).await;
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    let cfg = cfg.replacen(
        "token_file = \"api-token\"\n",
        "token_file = \"api-token\"\ntrusted_user_header = \"X-Forwarded-User\"\n\
         trusted_user_role = \"act\"\n",
        1,
    );
    std::fs::write(env.config(), cfg).unwrap();
    env.import(ROSTER);
    env.sim.add(r03_listing());
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(20), || open_incidents(&env).len() == 1).await,
        "{}",
        daemon.log()
    );
    let id = open_incidents(&env)[0]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let as_user = |user: &'static str, path: String| {
        http.get(env.api(&path)).header("X-Forwarded-User", user)
    };
    assert_eq!(
        as_user("carol", "/api/v1/status".into())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for bad in ["carol smith", "sso:carol", ""] {
        let r = as_user(bad, "/api/v1/status".into()).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad:?}");
    }
    let r = http
        .post(env.api(&format!("/api/v1/incidents/{id}/ack")))
        .header("X-Forwarded-User", "carol")
        .json(&json!({"reason": "seen in the SSO session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let res: Value = r.json().await.unwrap();
    assert_eq!(res["by"], "sso:carol");
    // The dashboard needs no login for them, and names them.
    let r = as_user("carol", "/dashboard".into()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("sso:carol") && html.contains("id=\"silence-form\""));
    let r = http.get(env.api("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 303, "without the header: the login form");
    assert_eq!(daemon.stop(), Some(0));
}
