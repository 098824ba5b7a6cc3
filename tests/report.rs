//! Compliance reports through the real binary: a whole story (a clean
//! pass, a leak, detection, removal, resolution) reported in HTML, JSON and
//! CSV; signatures that verify and catch a flipped byte; the HTML looked at
//! in a real browser when one is installed; and `verify --cohort`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use unlistd::sim::Fault;

use crate::common::*;

/// The probes of one entry: (id, outcome, time in ms, page_sha256).
fn probes_of(env: &Env, entry_ref: &str) -> Vec<(i64, String, i64, Option<String>)> {
    let db = rusqlite::Connection::open(env.db()).unwrap();
    let mut s = db
        .prepare(
            "SELECT p.id, p.outcome, p.time, p.page_sha256 FROM probes p
             JOIN entries e ON e.id = p.entry_id WHERE e.ref = ?1 ORDER BY p.id",
        )
        .unwrap();
    s.query_map([entry_ref], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// leak → detect → remove → resolve, with resolve_after_clean = 2.
async fn story() -> (Env, String) {
    let env = Env::new(Knobs {
        resolve_after_clean: 2,
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(0));
    env.sim.add(listing(
        "Mette Kjærsgaard",
        "19500004",
        "Vestergade 21, 1. mf",
        "7100 Vejle",
    ));
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));
    env.sim.remove_number("19500004");
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json(&out)["incidents_resolved"].as_u64(), Some(1));
    let inc = json(&env.cmd(&["--json", "incidents"]));
    let id = inc["incidents"][0]["id"].as_str().unwrap().to_string();
    (env, id)
}

/// No full number, name or address of the roster.
fn assert_no_pii(what: &str, text: &str) {
    for n in roster_numbers() {
        let spaced = format!("{} {} {} {}", &n[0..2], &n[2..4], &n[4..6], &n[6..8]);
        assert!(
            !text.contains(&n) && !text.contains(&spaced),
            "{what} holds a roster number"
        );
    }
    for name in ["Kjærsgaard", "Vestergade", "Vejle", "Mette", "Østergaard"] {
        assert!(!text.contains(name), "{what} holds {name}");
    }
}

fn flip_at(path: &Path, needle: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()));
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolved_incident_is_reported_and_signed_in_every_format() {
    let (env, id) = story().await;
    let probes = probes_of(&env, "R-04");
    let outcomes: Vec<&str> = probes.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(outcomes, ["clean", "exposed", "clean", "clean"]);
    let (before, opened, closing) = (&probes[0], &probes[1], &probes[2..]);

    // JSON.
    let jpath = env.path("incident.json");
    let out = env.cmd(&[
        "report",
        "--incident",
        &id,
        "--format",
        "json",
        "--out",
        jpath.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("report written to"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&jpath).unwrap();
    assert_no_pii("JSON report", &text);
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let incs = j["incidents"].as_array().unwrap();
    assert_eq!(incs.len(), 1);
    let i = &incs[0];
    assert_eq!(i["id"], id.as_str());
    assert_eq!(i["site"], "118.dk");
    assert_eq!(i["entry_ref"], "R-04");
    assert_eq!(i["exposed"], serde_json::json!(["number"]));
    assert_eq!(i["state"], "resolved");
    assert_eq!(i["first_seen"], rfc3339_ms(opened.2).as_str());
    assert_eq!(i["resolved_at"], rfc3339_ms(closing[1].2).as_str());
    let lcb = &i["last_clean_before"];
    assert_eq!(lcb["time"], rfc3339_ms(before.2).as_str());
    assert_eq!(lcb["page_sha256"].as_str(), before.3.as_deref());
    assert_eq!(lcb["probe_id"].as_i64(), Some(before.0));
    let cps = i["closing_probes"].as_array().unwrap();
    assert_eq!(
        cps.iter()
            .map(|p| p["probe_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        closing.iter().map(|p| p.0).collect::<Vec<_>>(),
        "exactly the clean probes that closed it"
    );
    for (p, c) in cps.iter().zip(closing) {
        assert_eq!(p["time"], rfc3339_ms(c.2).as_str());
        assert_eq!(p["site"], "118.dk");
        assert_eq!(p["page_sha256"].as_str(), c.3.as_deref());
        let url = p["url"].as_str().unwrap();
        // Stored redacted by the adapter: no digit of the number.
        assert!(url.contains("what=••••••••&"), "masked request: {url}");
        assert_eq!(p["evidence"], "kept");
    }
    assert_eq!(j["audit"]["verified"], true);
    assert!(j["audit"]["records"].as_u64().unwrap() > 20);
    assert_eq!(j["signature"]["alg"], "hmac-sha256");
    assert_eq!(j["signature"]["key_id"].as_str().map(str::len), Some(16));
    assert!(j["summary"].as_str().unwrap().contains("R-04"));
    assert_eq!(j["coverage"]["complete"], true, "{}", j["coverage"]);

    // CSV: one row, the same facts.
    let cpath = env.path("incident.csv");
    let out = env.cmd(&[
        "report",
        "--incident",
        &id,
        "--out",
        cpath.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&cpath).unwrap();
    assert_no_pii("CSV report", &text);
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let col = |name: &str| {
        let k = header.iter().position(|h| h == name).unwrap();
        rows[0][k].to_string()
    };
    assert_eq!(col("id"), id);
    assert_eq!(col("first_seen"), rfc3339_ms(opened.2));
    assert_eq!(col("last_clean_before_time"), rfc3339_ms(before.2));
    assert_eq!(
        col("last_clean_before_page_sha256"),
        before.3.clone().unwrap()
    );
    assert_eq!(col("closing_probe_count"), "2");
    assert_eq!(
        col("closing_probe_page_sha256"),
        closing
            .iter()
            .map(|c| c.3.clone().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(col("audit_verified"), "true");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("# unlistd-signature: alg=hmac-sha256 key_id=")
    );

    // HTML, to stdout.
    let out = env.cmd(&["report", "--incident", &id, "--format", "html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = stdout(&out);
    assert_no_pii("HTML report", &html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("src=\"http"), "no external resources");
    for needle in [
        id.as_str(),
        "R-04",
        "+45 19 50 •• ••",
        "Summary",
        "Not listed: the last clean check before the exposure",
        "Listed: first seen",
        "Not listed: clean check 1 of 2",
        "Not listed: clean check 2 of 2",
        "the exposure began between those two times",
        "Audit trail verified",
        before.3.as_deref().unwrap(),
    ] {
        assert!(html.contains(needle), "HTML lacks {needle:?}");
    }
    assert!(html.ends_with("-->\n"));
    let hpath = env.path("incident.html");
    std::fs::write(&hpath, &html).unwrap();

    // Every report verifies; one flipped byte makes it fail.
    for p in [&jpath, &cpath, &hpath] {
        let out = env.cmd(&["report", "verify", p.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains("signature valid"), "{}", stdout(&out));
    }
    screenshot(&hpath);
    flip_at(&jpath, &closing[1].3.clone().unwrap()); // a hash digit in the JSON
    flip_at(&cpath, "R-04"); // the entry ref in the CSV row
    flip_at(&hpath, "Summary"); // a heading in the HTML
    for p in [&jpath, &cpath, &hpath] {
        let out = env.cmd(&["report", "verify", p.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("signature INVALID"),
            "{}",
            stdout(&out)
        );
    }
    // Not a report at all: unsigned, exit 2.
    std::fs::write(env.path("plain.csv"), "a,b\n1,2\n").unwrap();
    let out = env.cmd(&["report", "verify", env.path("plain.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd(&[
        "report",
        "verify",
        env.path("missing.html").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));

    // The generated key sits beside the store, private.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(env.path("state/report-key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// Looks at the HTML report in a real browser, when one is installed:
/// a headless screenshot (kept next to the report for a human to open).
fn screenshot(html: &Path) {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        return;
    }
    let png = html.with_extension("png");
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromium did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "empty screenshot ({size} bytes)");
    if let Ok(dir) = std::env::var("UNLISTD_REPORT_SCREENSHOT_DIR") {
        let _ = std::fs::copy(html, Path::new(&dir).join("report.html"));
        let _ = std::fs::copy(&png, Path::new(&dir).join("report.png"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cohort_and_period_reports() {
    let (env, id) = story().await;
    let out = env.cmd(&["--json", "report", "--cohort", "batch-b"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["scope"]["kind"], "cohort");
    assert_eq!(j["incidents"][0]["id"], id.as_str());
    assert_eq!(j["cohort"]["entries"].as_u64(), Some(3));
    assert_eq!(j["cohort"]["entries_exposed"].as_u64(), Some(1));
    assert_eq!(j["cohort"]["exposed_on"][0]["site"], "118.dk");
    assert_eq!(j["cohort"]["all_resolved"], true);
    assert_eq!(j["coverage"]["sites"][0]["entries"].as_u64(), Some(3));
    assert!(j["signature"]["value"].is_string());

    // A cohort without incidents.
    let j = json(&env.cmd(&["--json", "report", "--cohort", "batch-a"]));
    assert_eq!(j["incidents"].as_array().unwrap().len(), 0);
    assert!(j["summary"].as_str().unwrap().starts_with("No exposure"));

    // A period: before any of it, nothing; around it, the incident.
    let j = json(&env.cmd(&[
        "--json",
        "report",
        "--since",
        "2001-01-01",
        "--until",
        "2001-01-02",
    ]));
    assert_eq!(j["incidents"].as_array().unwrap().len(), 0);
    let j = json(&env.cmd(&["--json", "report", "--since", "2001-01-01"]));
    assert_eq!(j["incidents"].as_array().unwrap().len(), 1);
    // Before the roster existed the entries were not due: no gap there.
    assert_eq!(j["coverage"]["complete"], true, "{}", j["coverage"]);

    // A configured key signs instead of the generated one; a report signed
    // with the other key is named as such.
    let old = env.path("old.json");
    let out = env.cmd(&[
        "report",
        "--cohort",
        "batch-b",
        "--out",
        old.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(env.path("report-key"), "configured-report-key-0123456789\n").unwrap();
    env.write_config(&Knobs {
        extra: "[report]\nsigning_key_file = \"report-key\"\n".into(),
        ..Knobs::default()
    });
    let j = json(&env.cmd(&["--json", "report", "--incident", &id]));
    use sha2::Digest;
    let id16 =
        hex::encode(sha2::Sha256::digest(b"configured-report-key-0123456789"))[..16].to_string();
    assert_eq!(j["signature"]["key_id"], id16.as_str());
    let out = env.cmd(&["report", "verify", old.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("another key"), "{}", stdout(&out));

    // Bad input names the flag.
    for (args, flag) in [
        (vec!["report", "--incident", "inc_nope"], "--incident"),
        (vec!["report", "--cohort", "nope"], "--cohort"),
        (vec!["report", "--since", "yesterday"], "--since"),
        (vec!["report"], "report"),
        (
            vec!["report", "--incident", "x", "--cohort", "y"],
            "--incident",
        ),
    ] {
        let out = env.cmd(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_cohort_probes_every_entry_on_every_site() {
    let env = Env::new(Knobs {
        max_retries: 0,
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);

    let out = env.cmd(&["--json", "verify", "--cohort", "batch-b"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["cohort"], "batch-b");
    assert_eq!(j["entries"].as_u64(), Some(3));
    assert_eq!(j["probes"].as_u64(), Some(3));
    assert_eq!(
        (
            j["clean"].as_u64(),
            j["exposed"].as_u64(),
            j["inconclusive"].as_u64()
        ),
        (Some(3), Some(0), Some(0))
    );
    assert_eq!(j["complete"], true);
    // Only the cohort was probed (after robots.txt), and every probe is
    // recorded.
    assert_eq!(env.sim.request_count(), 1 + 3);
    let h = json(&env.cmd(&["--json", "history", "R-05"]));
    assert_eq!(h["probes"].as_array().unwrap().len(), 1);
    let h = json(&env.cmd(&["--json", "history", "R-01"]));
    assert_eq!(h["probes"].as_array().unwrap().len(), 0);

    // Transient failures are probed again until conclusive.
    env.sim.set_fault(Fault::FailFirst(2));
    let out = env.cmd(&["--json", "verify", "--cohort", "batch-b"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let j = json(&out);
    assert_eq!(j["probes"].as_u64(), Some(5), "{j}");
    assert_eq!(j["complete"], true);

    // A site that cannot be read: exit 1, not complete.
    env.sim.set_fault(Fault::Garbage);
    let out = env.cmd(&["--json", "verify", "--cohort", "batch-b", "--retries", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let j = json(&out);
    assert_eq!(j["inconclusive"].as_u64(), Some(3));
    assert_eq!(j["probes"].as_u64(), Some(6));
    assert_eq!(j["complete"], false);
    env.sim.set_fault(Fault::None);

    // An exposure: exit 3, with progress and a summary for humans.
    env.sim.add(listing(
        "Lars Bækgaard",
        "19500005",
        "Møllevej 3",
        "4000 Roskilde",
    ));
    let out = env.cmd(&["verify", "--cohort", "batch-b"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("verifying cohort batch-b: 3 entries on 1 sites"),
        "{text}"
    );
    assert!(text.contains("exposed 1"), "{text}");
    assert_no_pii("verify output", &text);
    let inc = json(&env.cmd(&["--json", "incidents", "--open"]));
    assert_eq!(inc["incidents"][0]["entry_ref"], "R-05");

    let out = env.cmd(&["verify", "--cohort", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cohort"));
}
