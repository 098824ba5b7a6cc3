//! The conventions a Debian and Prometheus shop expects: Standard Webhooks
//! `whsec_` secrets, metrics named and documented the Prometheus way (and
//! the contrib/ rules and dashboard using only real ones), man pages and
//! completions from the clap definitions, progress of long commands.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use unlistd::alert::receiver::Receiver;

use crate::common::*;

/// A secret as the Standard Webhooks libraries issue them: `whsec_` and the
/// base64 of the key (here 32 bytes, padded, as README's recipe makes).
fn whsec() -> (String, Vec<u8>) {
    let key: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let text = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    (text, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn whsec_secrets_sign_as_the_standard_webhooks_libraries_verify() {
    let (secret, key) = whsec();
    let standard = Receiver::start(secret.as_bytes()).await.unwrap();
    let env = Env::new(Knobs {
        extra: format!(
            "[[alerts.webhook]]\nname = \"standard\"\nurl = \"{}\"\nsecret_file = \"whsec-secret\"\n",
            standard.url()
        ),
        ..Knobs::default()
    })
    .await;
    std::fs::write(env.path("whsec-secret"), format!("{secret}\n")).unwrap();
    env.import(ROSTER);
    env.sim.add(r03_listing());

    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // The raw-bytes secret of the first receiver keeps working.
    let raw = env.receiver.all();
    assert!(
        !raw.is_empty(),
        "nothing delivered to the raw-secret receiver"
    );
    assert!(raw.iter().all(|r| r.signature_ok && r.answered == 204));

    let got = standard.all();
    assert!(!got.is_empty(), "nothing delivered to the whsec_ receiver");
    for r in &got {
        assert!(r.signature_ok, "{}", r.signature);
        // The libraries' algorithm, written out here rather than borrowed
        // from unlistd: HMAC-SHA256 keyed with the decoded bytes over
        // `id.timestamp.body`, base64, `v1,` in front.
        let sign = |k: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(k).unwrap();
            mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            )
        };
        let sigs: Vec<&str> = r.signature.split(' ').collect();
        assert!(sigs.contains(&sign(&key).as_str()), "{sigs:?}");
        // Keyed with the file's text instead, no library would accept it.
        assert!(!sigs.contains(&sign(secret.as_bytes()).as_str()));
    }
    assert!(
        got.iter().any(|r| r.event_type() == "exposure.opened"),
        "{:?}",
        got.iter().map(Received::event_type).collect::<Vec<_>>()
    );

    // A whsec_ secret that is not base64 stops the command, naming the key
    // and not the secret.
    std::fs::write(env.path("whsec-secret"), "whsec_s3cr3t!value\n").unwrap();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("alerts.webhook[1].secret_file"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

use unlistd::alert::receiver::Received;

/// `# TYPE` of every metric family in an exposition.
fn exposed_types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// The `| metric | type | labels | meaning |` rows of README's "Metrics".
fn documented_types() -> BTreeMap<String, String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("README has a Metrics section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `unlistd_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

/// Every `unlistd_…` name a contrib/ file uses, histogram series folded
/// into their family.
fn names_used(text: &str, histograms: &[&String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("unlistd_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let mut name = &tail[..end];
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && histograms.iter().any(|h| h.as_str() == base)
            {
                name = base;
            }
        }
        out.push(name.to_string());
        rest = &tail[end..];
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_is_documented_and_the_ops_kit_uses_only_real_ones() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let daemon = env.spawn_daemon();
    let http = reqwest::Client::new();
    let metrics = async || match http.get(env.api("/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    // Wait until requests to the site were recorded, so that every family
    // has samples, not only its HELP and TYPE.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let t = metrics().await;
        if t.contains("unlistd_site_requests_total{site=\"118.dk\",code=\"200\"}")
            && t.contains("unlistd_probes_conclusive_ratio{site=\"118.dk\"}")
        {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request recorded in /metrics:\n{t}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(daemon.stop(), Some(0));

    let exposed = exposed_types(&text);
    assert_eq!(
        documented_types(),
        exposed,
        "README's metric table and /metrics differ"
    );
    // Prometheus conventions: counters end in _total, nothing else does.
    for (name, kind) in &exposed {
        assert_eq!(name.ends_with("_total"), kind == "counter", "{name} {kind}");
        assert!(
            !name.contains("share") && !name.contains("effective"),
            "{name}"
        );
    }
    let h = "unlistd_site_request_duration_seconds";
    assert!(
        text.contains(&format!("{h}_bucket{{site=\"118.dk\",le=\"+Inf\"}}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{h}_count{{site=\"118.dk\"}}")),
        "{text}"
    );
    assert!(text.contains("unlistd_build_info{version=\""), "{text}");

    // contrib/ names only metrics that exist, and the dashboard shows each.
    let histograms: Vec<&String> = exposed
        .iter()
        .filter(|(_, k)| k.as_str() == "histogram")
        .map(|(n, _)| n)
        .collect();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib");
    let rules = std::fs::read_to_string(format!("{root}/prometheus/unlistd-rules.yml")).unwrap();
    let dashboard =
        std::fs::read_to_string(format!("{root}/grafana/unlistd-dashboard.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    for (file, text) in [("rules", &rules), ("dashboard", &dashboard)] {
        let used = names_used(text, &histograms);
        assert!(!used.is_empty(), "{file} uses no metric");
        for name in used {
            assert!(
                exposed.contains_key(&name),
                "{file} uses {name}, which /metrics lacks"
            );
        }
    }
    let shown = names_used(&dashboard, &histograms);
    for name in exposed.keys() {
        assert!(shown.contains(name), "the dashboard does not show {name}");
    }

    // promtool's own lint of the exposition (Debian's `prometheus`), when
    // it is there; CI installs it.
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            use std::io::Write as _;
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "promtool check metrics:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("promtool is missing (apt-get install prometheus)")
        }
        Err(_) => {
            // Past the harness's capture, so that the skip is seen.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "notice: promtool is not installed; `promtool check metrics` was skipped \
                 (apt-get install prometheus)"
            );
        }
    }
    for n in roster_numbers() {
        assert!(!text.contains(&n));
    }
}

fn gunzip(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    // No time in the gzip header: the same binary writes the same bytes.
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "{}", path.display());
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn man_pages_and_completions_come_from_the_clap_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("generate-assets")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Every command `unlistd --help` lists has its page and completions.
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = stdout(&help);
    let commands: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        // A long description wraps onto lines indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() >= 10 && commands.contains(&"import"),
        "{help}"
    );
    assert!(
        !help.contains("generate-assets"),
        "the packaging command is hidden"
    );
    let man = dir.path().join("man");
    let main = gunzip(&man.join("unlistd.1.gz"));
    assert!(
        main.starts_with(".ie") || main.contains(".TH unlistd 1"),
        "{main}"
    );
    for section in [
        ".SH SYNOPSIS",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
    ] {
        assert!(main.contains(section), "unlistd(1) lacks {section}");
    }
    let bash = std::fs::read_to_string(dir.path().join("completions/unlistd.bash")).unwrap();
    let zsh = std::fs::read_to_string(dir.path().join("completions/_unlistd")).unwrap();
    let fish = std::fs::read_to_string(dir.path().join("completions/unlistd.fish")).unwrap();
    assert!(zsh.starts_with("#compdef unlistd"), "{zsh}");
    for c in &commands {
        let page = gunzip(&man.join(format!("unlistd-{c}.1.gz")));
        assert!(page.contains(&format!(".TH unlistd-{c} 1")), "{page}");
        assert!(
            main.contains(&format!("unlistd\\-{c}(1)")),
            "unlistd(1) lacks {c}"
        );
        for (shell, text) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
            assert!(text.contains(c), "{shell} completion lacks {c}");
            assert!(!text.contains("generate-assets"), "{shell}");
        }
    }
    let import = gunzip(&man.join("unlistd-import.1.gz"));
    assert!(import.contains("\\-\\-encoding"), "{import}");
    assert!(bash.contains("--encoding") && fish.contains("encoding"));

    // The same binary writes the same bytes (reproducible packages).
    let again = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("generate-assets")
        .arg(again.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in [
        "man/unlistd.1.gz",
        "man/unlistd-import.1.gz",
        "completions/_unlistd",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            std::fs::read(again.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_ends_with_a_plain_progress_line_without_a_terminal() {
    let env = Env::new(Knobs::default()).await;
    let out = env.import(ROSTER);
    let file = env.path("roster.csv");
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    let figures = last
        .strip_prefix(&format!("unlistd: import {}: 6 rows in ", file.display()))
        .unwrap_or_else(|| panic!("not the last progress line: {err:?}"));
    assert!(figures.ends_with(" rows/s)"), "{last}");
    // Plain lines only: no bar, no cursor movement, no colour.
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert_no_roster_data(&err);
}

fn assert_no_roster_data(text: &str) {
    for n in roster_numbers() {
        assert!(!text.contains(&n), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_prints_rate_and_time_left_every_few_seconds_without_a_terminal() {
    // Eight entries at one request a second: about 9 s, so at least one
    // progress line (every 5 s) comes before the summary.
    let mut roster = String::from("ref,phone,name,hide_number,hide_address,cohort\n");
    for i in 1..=8 {
        roster.push_str(&format!(
            "S-{i},95 60 00 0{i},Testperson {i},true,false,slow\n"
        ));
    }
    let env = Env::new(Knobs {
        rate: "1/s",
        ..Knobs::default()
    })
    .await;
    env.import(&roster);
    let out = env.cmd(&["verify", "--cohort", "slow"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("unlistd: verify slow: "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {err:?}");
    for l in &lines {
        // `unlistd: verify slow: 62% · 5 probes · 0.9 probes/s · ETA 3s · 118.dk 5/8 (…)`
        assert!(l.contains(" probes/s · ETA "), "{l}");
        assert!(l.contains(" · 118.dk "), "{l}");
        assert!(l.contains("/8 (exposed 0, inconclusive 0)"), "{l}");
    }
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    // The summary stays on stdout.
    assert!(
        stdout(&out).contains("cohort slow: 8 entries"),
        "{}",
        stdout(&out)
    );
}
