//! Custody of the roster: encryption at rest, erasure that erases, and no
//! stray copies of a roster value anywhere (the privacy canary).

use crate::common::{Env, Knobs, ROSTER, stderr, stdout};

/// A 64-hex-digit key file (32 bytes of entropy).
fn write_key(env: &Env, name: &str, seed: u8) -> std::path::PathBuf {
    let hex: String = (0..32u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(73).wrapping_add(seed)))
        .collect();
    let p = env.path(name);
    std::fs::write(&p, format!("{hex}\n")).unwrap();
    p
}

fn with_key(env: &Env, key_file: &str) {
    let text = std::fs::read_to_string(env.config()).unwrap();
    let text = text.replacen(
        "[store]\n",
        &format!("[store]\nencryption_key_file = \"{key_file}\"\n"),
        1,
    );
    std::fs::write(env.config(), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_store_is_encrypted_and_refuses_a_wrong_or_missing_key() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    // A report signs with the key beside the plaintext store.
    let report = env.path("r.json");
    let report = report.to_str().unwrap();
    let out = env.cmd(&["report", "--cohort", "batch-a", "--out", report]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.path("state/report-key").exists());

    write_key(&env, "store-key", 1);
    with_key(&env, "store-key");
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unlistd store encrypt"),
        "{}",
        stderr(&out)
    );

    let out = env.cmd(&["store", "encrypt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("store encrypt: 100%"),
        "{}",
        stderr(&out)
    );
    assert!(
        !env.path("state/report-key").exists(),
        "the report key moved into the store"
    );
    let out = env.cmd(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("roster: 6 entries"),
        "{}",
        stdout(&out)
    );
    let out = env.cmd(&["report", "verify", report]);
    assert!(
        out.status.success(),
        "the moved key still verifies: {}",
        stdout(&out)
    );

    // A second encrypt is refused; rekey moves it to a new key.
    let out = env.cmd(&["store", "encrypt"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("store rekey"), "{}", stderr(&out));
    let new = write_key(&env, "store-key-2", 2);
    let out = env.cmd(&["store", "rekey", "--new-key-file", new.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The old key is wrong now (exit 1); no key at all is a config
    // problem (exit 2); neither writes anything.
    let before = std::fs::read(env.db()).unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not open"), "{}", stderr(&out));
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        text.replace("encryption_key_file = \"store-key\"\n", ""),
    )
    .unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("encryption_key_file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
    with_key(&env, "store-key-2");
    let out = env.cmd(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A weak key is refused naming the key.
    std::fs::write(env.path("weak-key"), "hunter2\n").unwrap();
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        text.replace("\"store-key-2\"", "\"weak-key\""),
    )
    .unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("store.encryption_key_file: the key must hold at least 32 bytes"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn erase_withdraws_the_incident_and_reports_say_withdrawn() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    env.sim.add(crate::common::r03_listing());
    let out = env.cmd(&["scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = env.cmd(&["--json", "incidents", "--open"]);
    let v = crate::common::json(&out);
    let inc = v["incidents"][0]["id"].as_str().unwrap().to_string();

    let out = env.cmd(&["erase", "R-99", "--reason", "subject request"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("REF: no entry"), "{}", stderr(&out));
    let out = env.cmd(&["erase", "R-03"]);
    assert_eq!(out.status.code(), Some(2), "--reason is required");
    let out = env.cmd(&[
        "--json",
        "erase",
        "R-03",
        "--reason",
        "data-subject request 2026-118",
        "--by",
        "alice",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = crate::common::json(&out);
    assert_eq!(v["incidents_withdrawn"][0], inc.as_str());
    assert!(v["pages_purged"].as_u64().unwrap() >= 1);
    let out = env.cmd(&["erase", "R-03", "--reason", "again"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already erased"), "{}", stderr(&out));

    let out = env.cmd(&["--json", "incidents"]);
    let v = crate::common::json(&out);
    assert_eq!(v["incidents"][0]["state"], "withdrawn");
    assert_eq!(v["incidents"][0]["number_masked"], "(erased)");
    let out = env.cmd(&["incidents", "--open"]);
    assert!(stdout(&out).contains("no incidents"), "{}", stdout(&out));
    let out = env.cmd(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stdout(&out));

    for (fmt, want) in [
        ("json", "\"withdrawn\""),
        ("csv", "withdrawn"),
        ("html", "Withdrawn"),
    ] {
        let out = env.cmd(&["report", "--incident", &inc, "--format", fmt]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(want), "{fmt}: {text}");
        assert!(text.contains("erased"), "{fmt}: {text}");
    }
}

/// `unlistd check` with the number on standard input (no argument, or `-`).
fn check_stdin(env: &Env, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::common::BIN)
        .arg("--config")
        .arg(env.config())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reads_the_number_from_standard_input() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    env.sim.add(crate::common::r03_listing());
    for args in [&["check"][..], &["check", "-"][..]] {
        let out = check_stdin(&env, args, "13 50 00 03\n");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("+45 13 50 •• ••"), "{}", stdout(&out));
        assert!(stdout(&out).contains("listed"), "{}", stdout(&out));
    }
    let out = check_stdin(&env, &["check"], "19 50 00 05\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = check_stdin(&env, &["check"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PHONE:"), "{}", stderr(&out));
    let out = check_stdin(&env, &["check"], "1350\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("1350"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_only_its_own_host_names() {
    let env = Env::new(Knobs {
        extra: String::new(),
        ..Knobs::default()
    })
    .await;
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        text.replacen(
            "[api]\n",
            "[api]\nhostnames = [\"unlistd.example.net\"]\n",
            1,
        ),
    )
    .unwrap();
    let daemon = env.spawn_daemon();
    assert!(crate::common::eventually(std::time::Duration::from_secs(20), || env.api_up()).await);
    let http = reqwest::Client::new();
    let get = |host: &'static str| {
        let http = http.clone();
        let url = env.api("/healthz");
        async move {
            http.get(url)
                .header(reqwest::header::HOST, host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("unlistd.example.net").await, 200);
    assert_eq!(get("localhost").await, 200);
    // A rebound name is refused on every route, before authentication.
    assert_eq!(get("rebind.attacker.example").await, 421);
    let r = http
        .get(env.api("/api/v1/status"))
        .header(reqwest::header::HOST, "rebind.attacker.example:9477")
        .bearer_auth(crate::common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 421);
    let r = http
        .get(env.api("/api/v1/status"))
        .bearer_auth(crate::common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the listen address itself");
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_comes_from_the_flag_the_environment_or_etc_only() {
    let env = Env::new(Knobs::default()).await;
    // A config.toml in the working directory is never used.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::copy(env.config(), cwd.path().join("config.toml")).unwrap();
    let run = |vars: &[(&str, &std::path::Path)]| {
        std::process::Command::new(crate::common::BIN)
            .arg("status")
            .current_dir(cwd.path())
            .env_remove("UNLISTD_CONFIG")
            .envs(vars.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    if !std::path::Path::new("/etc/unlistd/config.toml").exists() {
        let out = run(&[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("/etc/unlistd/config.toml: --config: no /etc/unlistd/config.toml; pass --config PATH or set UNLISTD_CONFIG"),
            "{}",
            stderr(&out)
        );
        assert!(!cwd.path().join("state").exists(), "no store was made here");
    }
    let out = run(&[("UNLISTD_CONFIG", &env.config())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = std::process::Command::new(crate::common::BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(stdout(&out).contains("/etc/unlistd/config.toml"));
    assert!(!stdout(&out).contains("./config.toml"), "{}", stdout(&out));
}
