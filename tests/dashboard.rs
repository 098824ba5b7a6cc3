//! The dashboard in a real browser: headless Chromium driven over the
//! DevTools protocol (a WebSocket, spoken with `tungstenite`), against the
//! real daemon with an open incident. Also the login's HTTP contract and the
//! alert/coverage metrics.
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`; `.ci/run` installs
//! it). Without it the test fails under CI (`CI` set) and is skipped with a
//! notice elsewhere. `UNLISTD_CHROMIUM=PATH` picks another browser binary;
//! `UNLISTD_KEEP_SCREENSHOTS=DIR` copies the screenshots out of the temp dir.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::common::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(20);

/// The browser to use, or `None` (skip) outside CI when it is missing.
fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("UNLISTD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: the dashboard browser test needs Chromium \
             (apt-get install -y chromium; .ci/run does this)",
            p.display()
        );
    }
    // Straight to stderr: the harness captures `eprintln!` of a passing
    // test, and whoever runs `cargo test` must see that this was skipped.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: skipping the dashboard browser test: {} is missing \
         (apt-get install -y chromium)",
        p.display()
    );
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_login_overview_and_incident_timeline_in_chromium() {
    let Some(browser_bin) = chromium() else {
        return;
    };
    let env = Env::new(Knobs {
        site_extra: "takedown_contact = \"fjernelse@118.example\"".into(),
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    env.sim.add(listing(
        "Søren Friis",
        "13500003",
        "Bøgevej 7",
        "5000 Odense C",
    ));
    let daemon = env.spawn_daemon();
    assert!(
        eventually(WAIT, || {
            TcpStream::connect(("127.0.0.1", env.api_port)).is_ok()
        })
        .await,
        "API never came up: {}",
        daemon.log()
    );

    // --- The login's HTTP contract (no browser needed).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/dashboard",
        "/dashboard/incidents",
        "/dashboard/entries?ref=R-03",
    ] {
        let r = http.get(env.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path} without a session");
        assert_eq!(r.headers()["location"], "/dashboard/login", "{path}");
    }
    let r = http
        .get(env.api("/dashboard"))
        .header("cookie", "unlistd_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a forged session id");
    let login = |token: String| {
        let http = http.clone();
        let url = env.api("/dashboard/login");
        async move {
            http.post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap()
        }
    };
    let r = login("wrong".into()).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let r = login(format!("{TOKEN}x")).await;
    assert_eq!(r.status(), 401);
    let r = login(TOKEN.into()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    assert!(!cookie.contains(TOKEN), "the token travels in the cookie");
    let session = cookie.split(';').next().unwrap().to_string();
    let r = http
        .get(env.api("/dashboard"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let r = http
        .post(env.api("/dashboard/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = http
        .get(env.api("/dashboard"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the session survived logout");

    // --- Wait for the incident (and its alert) through the API.
    let mut incident_id = String::new();
    let opened = eventually(WAIT, || {
        let v = json(&env.cmd(&["--json", "incidents", "--open"]));
        match v["incidents"].as_array() {
            Some(a) if a.len() == 1 => {
                incident_id = a[0]["id"].as_str().unwrap().to_string();
                true
            }
            _ => false,
        }
    })
    .await;
    assert!(opened, "no incident opened: {}", daemon.log());

    // --- Metrics: conclusive share and alert delivery per receiver.
    let deadline = Instant::now() + WAIT;
    let (delivered, metrics) = {
        loop {
            let metrics = http
                .get(env.api("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let ok = metrics.lines().any(|l| {
                l.starts_with("unlistd_alert_delivered_messages_total{receiver=")
                    && l.ends_with(" 1")
            });
            if ok || Instant::now() > deadline {
                break (ok, metrics);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert!(delivered, "no delivered alert in /metrics:\n{metrics}");
    for needle in [
        "unlistd_probes_conclusive_ratio{site=\"118.dk\"} ",
        "# TYPE unlistd_alert_delivered_messages_total counter",
        "unlistd_alert_failed_attempts{receiver=",
        "unlistd_alert_pending_messages{receiver=",
        "unlistd_alert_receiver_failing{receiver=",
    ] {
        assert!(
            metrics.contains(needle),
            "/metrics lacks {needle}:\n{metrics}"
        );
    }
    for n in roster_numbers() {
        assert!(!metrics.contains(&n));
    }

    // --- The browser.
    let base = env.api("");
    let shots = env.path("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let id = incident_id.clone();
    let profile = env.path("chromium-profile");
    let out = tokio::task::spawn_blocking(move || {
        browse(&browser_bin, &profile, &base, &id, &shots);
        shots
    })
    .await;
    let shots = match out {
        Ok(s) => s,
        Err(e) => {
            eprintln!("daemon log:\n{}", daemon.log());
            std::panic::resume_unwind(e.into_panic());
        }
    };

    // --- A forged POST (no CSRF token, or a wrong one) is refused, even
    // with a good session, and changes nothing.
    let session = log_in(&http, &env).await;
    // What a forged form could change: the incidents' states.
    let states = || -> Vec<(Value, Value)> {
        json(&env.cmd(&["--json", "incidents"]))["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["id"].clone(), i["state"].clone()))
            .collect()
    };
    let before = states();
    for body in [
        "action=dismiss&reason=forged".to_string(),
        "action=dismiss&reason=forged&csrf=not-the-token".to_string(),
    ] {
        let r = http
            .post(env.api(&format!("/dashboard/incidents/{incident_id}/act")))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{body}");
        assert!(r.text().await.unwrap().contains("CSRF"));
    }
    let r = http
        .post(env.api("/dashboard/silences"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("duration=1h&reason=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a silence without the CSRF token");
    assert_eq!(states(), before);
    let silences: Value = env.api_json("/api/v1/silences").await;
    assert_eq!(
        silences["silences"],
        json!([]),
        "a forged silence was added"
    );
    let actions: Value = env
        .api_json(&format!("/api/v1/incidents/{incident_id}/actions"))
        .await;
    assert_eq!(
        actions["actions"].as_array().unwrap().len(),
        1,
        "only the ack from the form: {actions}"
    );
    assert_eq!(actions["actions"][0]["by"], "default");

    // --- The listing goes; the report of the resolved incident shows the
    // takedown, the time to removal and its timeline.
    env.sim.remove_number("13500003");
    let resolved = eventually(WAIT, || {
        json(&env.cmd(&["--json", "incidents"]))["incidents"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|i| i["id"] == incident_id.as_str() && i["state"] == "resolved")
            })
    })
    .await;
    assert!(resolved, "never resolved: {}", daemon.log());
    let report = env.path("report.html");
    let out = env.cmd(&[
        "report",
        "--incident",
        &incident_id,
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Time to removal") && html.contains("m-takedown"));
    let browser_bin = chromium().unwrap();
    let profile = env.path("chromium-profile-2");
    let out = tokio::task::spawn_blocking(move || {
        view_report(&browser_bin, &profile, &report, &shots);
        shots
    })
    .await;
    let shots = match out {
        Ok(s) => s,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Some(keep) = std::env::var_os("UNLISTD_KEEP_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for f in std::fs::read_dir(&shots).unwrap().flatten() {
            std::fs::copy(f.path(), Path::new(&keep).join(f.file_name())).unwrap();
        }
    }
    assert_eq!(daemon.stop(), Some(0));
}

/// What analysts and ops now do elsewhere shows on the pages: an ack from
/// the CLI (on the incident, in its actions and its timeline), a silence, a
/// failing receiver, a failed reload, a robots.txt override. Everything
/// people typed comes back escaped, and no roster data appears. Plain HTTP,
/// so it runs without a browser.
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_shows_actions_silences_reload_and_overrides() {
    const ROBOTS_REASON: &str = "written consent, ticket <OPS-7>";
    let env = Env::new(Knobs {
        site_extra: format!("robots_txt = false\nrobots_txt_reason = \"{ROBOTS_REASON}\""),
        ..Knobs::default()
    })
    .await;
    // A 4xx other than 429 marks the receiver failing at once.
    env.receiver.fail_next(u32::MAX, 410, None);
    env.import(ROSTER);
    env.sim.add(listing(
        "Søren Friis",
        "13500003",
        "Bøgevej 7",
        "5000 Odense C",
    ));
    let daemon = env.spawn_daemon();
    let mut id = String::new();
    let opened = eventually(WAIT, || {
        let v = json(&env.cmd(&["--json", "incidents", "--open"]));
        match v["incidents"].as_array() {
            Some(a) if a.len() == 1 => {
                id = a[0]["id"].as_str().unwrap().to_string();
                true
            }
            _ => false,
        }
    })
    .await;
    assert!(opened, "no incident opened: {}", daemon.log());

    let out = env.cmd(&[
        "ack",
        &id,
        "--reason",
        "customer called <i>today</i>",
        "--by",
        "alice & bob",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.cmd(&[
        "--json", "silence", "add", "--for", "1h", "--reason", "<b>x</b>", "--by", "dave",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let silence_id = json(&out)["id"].as_str().unwrap().to_string();
    assert!(
        eventually(WAIT, || json(&env.cmd(&["--json", "status"]))["alerts"][0]
            ["failing_since"]
            .is_string())
        .await,
        "the receiver never failed: {}",
        daemon.log()
    );

    // A reload with a bad rate: the daemon runs on, and says so.
    let good = std::fs::read_to_string(env.config()).unwrap();
    assert_eq!(good.matches("rate = \"50/s\"").count(), 1);
    std::fs::write(
        env.config(),
        good.replace("rate = \"50/s\"", "rate = \"fast\""),
    )
    .unwrap();
    daemon.hup();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let st: Value = env.api_json("/api/v1/status").await;
        if st["last_reload"]["result"] == "error" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed reload in status: {st}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let session = log_in(&http, &env).await;
    let get = |path: String| {
        let (http, session) = (http.clone(), session.clone());
        let url = env.api(&path);
        async move {
            let r = http
                .get(url)
                .header("cookie", session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };

    // --- The overview.
    let html = get("/dashboard".into()).await;
    assert_no_pii(&html, "overview");
    let reload = element(&html, "id=\"last-reload\"", "</div>");
    assert!(
        reload.contains("class=\"callout failed\"") && reload.contains("FAILED"),
        "{reload}"
    );
    assert!(
        reload.contains("config.toml:") && reload.contains("sites[0].rate"),
        "{reload}"
    );
    let silences = element(&html, "id=\"silences\"", "</table>");
    for want in [silence_id.as_str(), "dave", "&lt;b&gt;x&lt;/b&gt;", ">any<"] {
        assert!(
            silences.contains(want),
            "silences lack {want:?}: {silences}"
        );
    }
    assert!(!html.contains("<b>x</b>"), "a reason went out unescaped");
    let receivers = element(&html, "class=\"receivers\"", "</table>");
    assert!(
        receivers.contains(">failing<")
            && receivers.contains("<td class=\"failing-since\"><span class=\"mono\">20"),
        "{receivers}"
    );
    let sites = element(&html, "class=\"sites\"", "</table>");
    assert!(sites.contains("not honoured"), "{sites}");
    assert!(
        sites.contains("written consent, ticket &lt;OPS-7&gt;"),
        "{sites}"
    );

    // --- The incident.
    let html = get(format!("/dashboard/incidents/{id}")).await;
    assert_no_pii(&html, "incident");
    assert!(
        html.contains("<dd id=\"incident-state\"><span class=\"badge s-acknowledged\""),
        "not shown acknowledged: {html}"
    );
    let actions = element(&html, "id=\"actions\"", "</table>");
    for want in [
        "acknowledged",
        "alice &amp; bob",
        "customer called &lt;i&gt;today&lt;/i&gt;",
    ] {
        assert!(actions.contains(want), "actions lack {want:?}: {actions}");
    }
    let timeline = element(&html, "id=\"timeline\"", "</table>");
    let opened_at = timeline
        .find("first seen: incident opened")
        .expect("the opening mark");
    let acked_at = timeline
        .find("<tr class=\"action\">")
        .expect("the ack in the timeline");
    assert!(
        opened_at < acked_at,
        "the ack precedes the opening: {timeline}"
    );
    assert!(
        timeline[acked_at..].contains("alice &amp; bob"),
        "{timeline}"
    );
    assert!(!html.contains("<i>today"), "a reason went out unescaped");

    assert_eq!(daemon.stop(), Some(0));
}

/// The markup from the tag holding the first `start` (an attribute) up to
/// the next `end` that follows it.
fn element<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page: {html}"));
    let from = html[..at].rfind('<').unwrap_or(at);
    let rest = &html[from..];
    &rest[..rest.find(end).map_or(rest.len(), |i| i + end.len())]
}

/// What one browser session checks, start to end.
fn browse(bin: &Path, profile: &Path, base: &str, incident_id: &str, shots: &Path) {
    let browser = Browser::launch(bin, profile);
    let mut page = browser.new_page();
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );

    // Unauthenticated: redirected to the login form.
    page.goto(&format!("{base}/dashboard"));
    page.wait_path("/dashboard/login");

    // A wrong token is refused on the form.
    page.click("#token");
    page.type_text("not-the-token");
    page.click("button[type=submit]");
    page.wait_for(
        "the error message",
        "document.querySelector('p.error') !== null",
    );
    assert!(page.text("p.error").contains("not a configured token"));

    // The right token lands on the overview.
    page.click("#token");
    page.type_text(TOKEN);
    page.click("section.login button[type=submit]");
    page.wait_path("/dashboard");
    assert_eq!(page.text("h1"), "Overview");
    assert_eq!(page.text("#who-name"), "default", "who is logged in");
    assert_eq!(page.text("#who-role"), "admin");
    assert_eq!(page.text("#open-count"), "1");
    assert_eq!(page.text("#roster-size"), "6");
    let row = page.text("table.incidents tbody tr");
    for want in [
        incident_id,
        "118.dk",
        "R-03",
        "+45 13 50 •• ••",
        "number",
        "open",
    ] {
        assert!(
            row.contains(want),
            "overview incident row lacks {want:?}: {row}"
        );
    }
    assert!(page.text("table.sites").contains("118.dk"));
    assert!(
        page.count("table.sites .strip span") > 0,
        "no recent outcomes"
    );
    assert_eq!(page.text("table.sites td.robots"), "honoured");
    assert!(page.text("#no-silences").starts_with("None in force"));
    assert_eq!(page.count("#last-reload"), 0, "no reload happened");
    assert_no_pii(&page.html(), "overview");
    // The charts: per site, probes by outcome per 15 minutes and the
    // oldest probe's age against max_staleness.
    assert_eq!(
        page.count("figure.site-chart[data-site='118.dk'] svg.probe-chart"),
        1
    );
    assert!(
        page.count("svg.probe-chart rect.bar.o-exposed") >= 1
            && page.count("svg.probe-chart rect.bar.o-clean") >= 1,
        "the chart lacks the probes of the last minutes"
    );
    assert_eq!(page.count("svg.staleness line.bound"), 1);
    assert_fits(&mut page, "overview");
    page.screenshot(&shots.join("overview.png"));
    page.screenshot_of("#charts", &shots.join("overview-charts.png"));

    // The session cookie as the browser keeps it.
    let cookies = page.call("Network.getCookies", json!({}));
    let c = cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "unlistd_session")
        .expect("the session cookie");
    assert_eq!(c["httpOnly"], true);
    assert_eq!(c["sameSite"], "Strict");
    assert!(!c["value"].as_str().unwrap().contains(TOKEN));

    // Click through to the incident's timeline.
    page.click(&format!(
        "table.incidents a[href='/dashboard/incidents/{incident_id}']"
    ));
    page.wait_path(&format!("/dashboard/incidents/{incident_id}"));
    assert_eq!(page.text("#incident-id"), incident_id);
    assert_eq!(page.text("#incident-state"), "open");
    assert_eq!(page.text("#incident-number"), "+45 13 50 •• ••");
    assert_eq!(page.text("#incident-exposed"), "number");
    assert!(page.count("#timeline tr.probe") >= 1, "no probe row");
    assert!(
        page.text("#timeline").contains("probe exposed"),
        "no exposed probe in the timeline: {}",
        page.text("#timeline")
    );
    assert!(
        page.text("#timeline")
            .contains("first seen: incident opened")
    );
    assert!(page.text("#no-actions").starts_with("Nobody has"));
    assert_no_pii(&page.html(), "incident");
    assert_eq!(
        page.count("#exposure-window svg.timeline-svg .m-first-seen"),
        1
    );
    assert_eq!(
        page.count("#exposure-window svg.timeline-svg .m-takedown"),
        0
    );

    // Acknowledge it from the page.
    page.click("#action-reason");
    page.type_text("customer called <today>");
    page.click("#ack-button");
    page.wait_for("the notice", "document.querySelector('#flash') !== null");
    assert!(page.text("#flash").starts_with("Acknowledged"));
    assert_eq!(page.text("#incident-state"), "acknowledged");
    let actions = page.text("#actions");
    assert!(
        actions.contains("default") && actions.contains("customer called <today>"),
        "{actions}"
    );

    // Record a takedown request from the page.
    assert!(
        page.text("#takedown-contact")
            .contains("fjernelse@118.example")
    );
    page.click("#takedown-via");
    page.type_text("118.dk removal form");
    page.click("#takedown-ticket");
    page.type_text("T-118-7");
    page.click("#takedown-form button[type=submit]");
    page.wait_for(
        "the takedown notice",
        "document.querySelector('#flash') !== null && document.querySelector('#takedowns') !== null",
    );
    assert!(page.text("#flash").contains("Takedown request recorded"));
    let td = page.text("#takedowns");
    assert!(
        td.contains("118.dk removal form") && td.contains("T-118-7") && td.contains("default"),
        "{td}"
    );
    assert_eq!(
        page.count("#exposure-window svg.timeline-svg .m-takedown"),
        1
    );
    assert!(page.text("#timeline").contains("takedown requested"));
    assert_fits(&mut page, "incident");
    page.screenshot(&shots.join("incident.png"));

    // The entry's history through the search form.
    page.click("a[href='/dashboard/entries']");
    page.wait_path("/dashboard/entries");
    page.click("#ref-input");
    page.type_text("R-03");
    page.click("form.search button[type=submit]");
    page.wait_for(
        "the history",
        "document.querySelector('#entry-ref') !== null",
    );
    assert_eq!(page.text("#entry-ref"), "R-03");
    assert!(page.count("table.history tbody tr") >= 1);
    assert_no_pii(&page.html(), "history");

    // Logging out ends the session.
    page.click("header form button[type=submit]");
    page.wait_path("/dashboard/login");
    page.goto(&format!("{base}/dashboard"));
    page.wait_path("/dashboard/login");

    for f in ["overview.png", "overview-charts.png", "incident.png"] {
        let png = std::fs::read(shots.join(f)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{f} is not a PNG");
        assert!(png.len() > 10_000, "{f} is suspiciously small");
    }
    browser.close(page);
}

/// Nothing is wider than the page: no horizontal scrolling, and every
/// picture ends inside the viewport.
fn assert_fits(page: &mut Cdp, what: &str) {
    let wide = page.eval(
        "(() => { const w = document.documentElement.clientWidth; \
         const over = [...document.querySelectorAll('svg, table, figure')] \
           .filter(e => e.getBoundingClientRect().right > w + 1); \
         return [document.documentElement.scrollWidth - w, over.length, \
           over.map(e => e.tagName + '.' + e.getAttribute('class') + ':' + \
             Math.round(e.getBoundingClientRect().right)).join(' ')]; })()",
    );
    assert_eq!(wide[0].as_i64(), Some(0), "{what} scrolls sideways: {wide}");
    assert_eq!(
        wide[1].as_i64(),
        Some(0),
        "{what} has elements past the page width: {wide}"
    );
}

/// The signed HTML report of the resolved incident: its timeline has
/// every mark, nothing overflows (at a wide and a narrow window), and a
/// screenshot is taken.
fn view_report(bin: &Path, profile: &Path, report: &Path, shots: &Path) {
    let browser = Browser::launch(bin, profile);
    let mut page = browser.new_page();
    for (width, shot) in [(1280, "report.png"), (720, "report-narrow.png")] {
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        page.goto(&format!("file://{}", report.display()));
        page.wait_for(
            "the report",
            "document.querySelector('svg.timeline-svg') !== null",
        );
        // Listed from the first check: no clean check before it to mark.
        for mark in ["m-first-seen", "m-closing", "m-resolved", "m-takedown"] {
            assert!(
                page.count(&format!("svg.timeline-svg .{mark}")) >= 1,
                "the report's timeline lacks {mark}"
            );
        }
        assert!(page.count("svg.timeline-svg rect.uncertain") >= 1);
        assert!(page.text("body").contains("Time to removal"));
        assert_fits(&mut page, "the report");
        page.screenshot(&shots.join(shot));
    }
    let png = std::fs::read(shots.join("report.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    browser.close(page);
}

fn assert_no_pii(html: &str, what: &str) {
    for n in roster_numbers() {
        let spaced = format!("{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]);
        assert!(!html.contains(&n), "{what} shows a full number");
        assert!(!html.contains(&spaced), "{what} shows a full number");
    }
    for name in [
        "Friis",
        "Søren",
        "Bøgevej",
        "Odense",
        "Østergaard",
        "Nørgaard",
    ] {
        assert!(!html.contains(name), "{what} shows roster data ({name})");
    }
}

// ------------------------------------------------------------ a tiny CDP client

/// Headless Chromium in its own process group (so its helpers die with it).
struct Browser {
    child: Child,
    port: u16,
    ws_path: String,
}

impl Browser {
    fn launch(bin: &Path, profile: &Path) -> Browser {
        use std::os::unix::process::CommandExt as _;
        std::fs::create_dir_all(profile).unwrap();
        let log = std::fs::File::create(profile.with_extension("log")).unwrap();
        let child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut b = Browser {
            child,
            port: 0,
            ws_path: String::new(),
        };
        // Chromium writes the port it picked and the browser endpoint here.
        let active = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = std::fs::read_to_string(&active) {
                let mut lines = s.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    b.port = port.trim().parse().unwrap();
                    b.ws_path = path.trim().to_string();
                    break;
                }
            }
            if let Ok(Some(st)) = b.child.try_wait() {
                panic!(
                    "chromium exited ({st}) before listening: {}",
                    std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port within 30 s: {}",
                std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        b
    }

    fn connect(&self, path: &str) -> Cdp {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://127.0.0.1:{}{path}", self.port);
        let (ws, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("DevTools handshake with {url}: {e}"));
        Cdp { ws, next_id: 0 }
    }

    /// A fresh tab, driven through its own page endpoint.
    fn new_page(&self) -> Cdp {
        let mut b = self.connect(&self.ws_path);
        let t = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let id = t["targetId"].as_str().unwrap().to_string();
        let mut p = self.connect(&format!("/devtools/page/{id}"));
        p.call("Page.enable", json!({}));
        p.call("Network.enable", json!({}));
        p
    }

    fn close(mut self, page: Cdp) {
        drop(page);
        let mut b = self.connect(&self.ws_path.clone());
        let _ = b.send("Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The whole group: the browser and its renderer/zygote helpers.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// One DevTools connection: commands out, their answers in (events skipped).
struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl Cdp {
    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let msg = json!({"id": self.next_id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        self.next_id
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|err| panic!("{method} failed: {err}"))
    }

    /// [`Cdp::call`], with the protocol's error as a value (a page that
    /// navigates while it is asked something answers with one).
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send(method, params);
        loop {
            let msg = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("{method}: no answer: {e}"));
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"].as_u64() != Some(id) {
                continue; // an event, or a late answer
            }
            if let Some(err) = v.get("error") {
                return Err(err.clone());
            }
            return Ok(v["result"].clone());
        }
    }

    /// Evaluates `expr` in the page and returns its (JSON) value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    fn goto(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({"url": url}));
        if let Some(e) = r.get("errorText") {
            panic!("navigating to {url}: {e}");
        }
    }

    fn wait_for(&mut self, what: &str, cond: &str) {
        let expr = format!("document.readyState === 'complete' && ({cond})");
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            // Mid-navigation the page cannot answer: that is "not yet".
            let r = self.try_call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            );
            if r.is_ok_and(|r| r["result"]["value"] == Value::Bool(true)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "waited in vain for {what} at {}: {}",
            self.eval("location.href"),
            self.eval("document.body ? document.body.innerText : ''")
        );
    }

    fn wait_path(&mut self, path: &str) {
        let cond = format!("location.pathname === {}", json!(path));
        self.wait_for(&format!("the page {path}"), &cond);
    }

    /// A real mouse click in the middle of the element.
    fn click(&mut self, selector: &str) {
        let expr = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            sel = json!(selector)
        );
        let at = self.eval(&expr);
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            panic!(
                "nothing to click at {selector} on {}",
                self.eval("location.href")
            );
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Types into the focused element.
    fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    fn text(&mut self, selector: &str) -> String {
        let expr = format!(
            "(() => {{ const e = document.querySelector({sel}); \
             return e ? e.innerText.trim() : null; }})()",
            sel = json!(selector)
        );
        match self.eval(&expr) {
            Value::String(s) => s,
            _ => panic!(
                "no element {selector} on {}: {}",
                self.eval("location.href"),
                self.eval("document.body.innerText")
            ),
        }
    }

    fn count(&mut self, selector: &str) -> u64 {
        let expr = format!("document.querySelectorAll({}).length", json!(selector));
        self.eval(&expr).as_u64().unwrap()
    }

    fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A screenshot of one element (scrolled into view).
    fn screenshot_of(&mut self, selector: &str, to: &Path) {
        let r = self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.scrollIntoView(); \
             const r = e.getBoundingClientRect(); \
             return [r.x + window.scrollX, r.y + window.scrollY, r.width, r.height]; }})()",
            json!(selector)
        ));
        let clip = json!({"x": r[0], "y": r[1], "width": r[2], "height": r[3], "scale": 1});
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "clip": clip, "captureBeyondViewport": true}),
        );
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .unwrap();
        std::fs::write(to, png).unwrap();
    }

    fn screenshot(&mut self, to: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let data = r["data"].as_str().expect("screenshot data");
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        std::fs::write(to, png).unwrap();
    }
}
