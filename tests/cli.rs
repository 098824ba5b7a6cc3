//! Config and roster input handling through the real binary.

use crate::common::*;

#[test]
fn example_config_loads_and_documents_every_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let s =
        unlistd::config::load(&root.join("config.toml")).expect("config.toml must load as shipped");
    assert_eq!(s.sites.len(), 1);
    assert_eq!(s.sites[0].name, "118.dk");
    assert!(
        s.api.listen.ip().is_loopback(),
        "the example binds loopback"
    );
    let text = std::fs::read_to_string(root.join("config.toml")).unwrap();
    for key in [
        "max_staleness",
        "resolve_after_clean",
        "rate",
        "group_wait",
        "max_backoff",
        "token_file",
        "secret_file",
        "repeat_interval",
        "digest",
        "cohorts",
    ] {
        assert!(text.contains(key), "config.toml does not document {key}");
    }
}

#[test]
fn every_command_of_the_contract_is_in_help() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    for c in [
        "run",
        "import",
        "scan",
        "check",
        "status",
        "incidents",
        "history",
        "demo",
        "ack",
        "dismiss",
        "silence",
    ] {
        assert!(help.contains(c), "--help lacks {c}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_exits_2_naming_file_line_and_key() {
    let env = Env::new(Knobs::default()).await;
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    let bad = cfg.replace("rate = \"50/s\"", "rate = \"lots\"");
    std::fs::write(env.config(), &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("lots")).unwrap() + 1;
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let want = format!("{}:{line}: sites[0].rate:", env.config().display());
    assert!(err.contains(&want), "wanted {want:?} in {err:?}");

    std::fs::write(
        env.config(),
        cfg.replace("[scan]", "[scan]\ncolour = \"red\""),
    )
    .unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));
    assert!(!env.db().exists(), "a bad config must not create the store");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_counts_then_bad_csv_changes_nothing() {
    let env = Env::new(Knobs::default()).await;
    let out = env.cmd(&["--json", "import", &write(&env, "r1.csv", ROSTER)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (j["added"].as_u64(), j["removed"].as_u64()),
        (Some(6), Some(0))
    );
    // The roster file is secret: the database must not be world-readable.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Change one, drop one, add one, keep four.
    let mut lines: Vec<String> = ROSTER.lines().map(String::from).collect();
    lines[1] = lines[1].replace("Østergaard Lund", "Østergaard-Lund");
    lines.remove(6);
    lines.push("R-07,95 50 00 07,,,,,,,,true,false,".into());
    let out = env.cmd(&[
        "--json",
        "import",
        &write(&env, "r2.csv", &(lines.join("\r\n") + "\r\n")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(
        (
            j["added"].as_u64(),
            j["changed"].as_u64(),
            j["removed"].as_u64(),
            j["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(4))
    );

    let bad = "ref,phone,hide_number,hide_address\nA,13500001,true,false\nB,1350000,true,false\nA,13500003,true,false\nC,13500004,maybe,false\n";
    let file = write(&env, "bad.csv", bad);
    let out = env.cmd(&["import", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        format!("{file}:3: phone:"),
        format!("{file}:4: ref:"),
        format!("{file}:5: hide_number:"),
    ] {
        assert!(err.contains(&want), "wanted {want:?} in {err}");
    }
    assert!(
        !err.contains("1350000"),
        "the number must not be echoed: {err}"
    );
    // The roster is exactly as before: re-importing the last good file
    // changes nothing.
    let out = env.cmd(&["--json", "import", &env.path("r2.csv").to_string_lossy()]);
    let j = json(&out);
    assert_eq!(
        (
            j["added"].as_u64(),
            j["changed"].as_u64(),
            j["removed"].as_u64(),
            j["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(6))
    );

    let out = env.cmd(&[
        "import",
        &write(
            &env,
            "hdr.csv",
            "ref,phone,hide_number,hide_address,colour\n",
        ),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(":1: column 5:"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ref_and_bad_flags_exit_2() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let out = env.cmd(&["history", "NOPE"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd(&["--json", "history", "R-01"]);
    assert_eq!(out.status.code(), Some(0));
    let j = json(&out);
    assert_eq!(j["entry_ref"], "R-01");
    assert!(j["probes"].as_array().unwrap().is_empty());
    assert_eq!(env.cmd(&["status", "--bogus"]).status.code(), Some(2));
    assert_eq!(env.cmd(&["scan"]).status.code(), Some(2));
    assert_eq!(env.cmd(&["check", "12 34"]).status.code(), Some(2));
    let out = run_bin(&env.path("missing.toml"), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"));
}

fn write(env: &Env, name: &str, text: &str) -> String {
    let p = env.path(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}
