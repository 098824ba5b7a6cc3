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

// ------------------------------------------------------- the privacy canary

/// A roster entry with values found nowhere else: invented names, a made-up
/// town, numbers from a spare series.
struct Canary {
    r: &'static str,
    phone: &'static str,
    first: &'static str,
    last: &'static str,
    street: &'static str,
    house: &'static str,
    postcode: &'static str,
    city: &'static str,
    hide_address: bool,
}

/// Leaked by number; stays on the roster.
const LIVE_LEAK: Canary = Canary {
    r: "C-LIVE",
    phone: "95713824",
    first: "Quintessa",
    last: "Vrangbøl",
    street: "Ørkenskrænten",
    house: "42",
    postcode: "4795",
    city: "Zorbakøbing",
    hide_address: false,
};
/// Never leaked: searched by number and by name, found nowhere.
const LIVE_QUIET: Canary = Canary {
    r: "C-QUIET",
    phone: "95713826",
    first: "Bartholomæa",
    last: "Wiggenstrup",
    street: "Kvæsthusmyren",
    house: "9",
    postcode: "4797",
    city: "Snurrelund",
    hide_address: true,
};
/// Address-protected: listed under her name at her address with another
/// number, so only the name search finds it; erased on request.
const ERASED_ON_REQUEST: Canary = Canary {
    r: "C-ASKED",
    phone: "95713825",
    first: "Zenobia",
    last: "Quaxleberg",
    street: "Xylografbuen",
    house: "17",
    postcode: "4796",
    city: "Flimmerup",
    hide_address: true,
};
/// Leaked by number, then removed from the roster and erased by
/// `roster_retention`.
const ERASED_BY_RETENTION: Canary = Canary {
    r: "C-GONE",
    phone: "95713827",
    first: "Gundelinde",
    last: "Pjaskeholm",
    street: "Tvebakkestien",
    house: "3",
    postcode: "4798",
    city: "Knyklerød",
    hide_address: false,
};

impl Canary {
    fn csv_row(&self) -> String {
        format!(
            "{},{} {} {} {},{} {},{},{},,,{},{},true,{},canary\n",
            self.r,
            &self.phone[..2],
            &self.phone[2..4],
            &self.phone[4..6],
            &self.phone[6..],
            self.first,
            self.last,
            self.street,
            self.house,
            self.postcode,
            self.city,
            self.hide_address
        )
    }

    /// Every value of the entry in the written forms a copy could take.
    /// A bare postcode is left out: four digits occur by chance in the
    /// decimal times of any log; it is searched together with the town.
    fn needles(&self) -> Vec<String> {
        let p = self.phone;
        let numbers = [
            p.to_string(),
            format!("{} {} {} {}", &p[..2], &p[2..4], &p[4..6], &p[6..]),
            format!("{} {}", &p[..4], &p[4..]),
            format!("{}-{}-{}-{}", &p[..2], &p[2..4], &p[4..6], &p[6..]),
            format!("+45{p}"),
            format!("0045{p}"),
        ];
        let words = [
            format!("{} {}", self.first, self.last),
            self.first.to_string(),
            self.last.to_string(),
            self.street.to_string(),
            format!("{} {}", self.street, self.house),
            self.city.to_string(),
            format!("{} {}", self.postcode, self.city),
        ];
        let mut out = Vec::new();
        for v in numbers.iter().chain(words.iter()) {
            out.push(v.to_lowercase());
            out.push(percent(v).to_lowercase());
            out.push(percent(v).replace("%20", "+").to_lowercase());
        }
        out.sort();
        out.dedup();
        out
    }
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Named texts searched for roster values.
#[derive(Default)]
struct Haystacks(Vec<(String, Vec<u8>)>);

impl Haystacks {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        let mut b: Vec<u8> = bytes.into();
        b.make_ascii_lowercase();
        // Non-ASCII letters (ø, æ) are compared as written: lowercase them too.
        let text = String::from_utf8_lossy(&b).to_lowercase();
        self.0.push((name.into(), text.into_bytes()));
    }

    fn out(&mut self, name: &str, o: &std::process::Output) {
        self.add(format!("{name} (stdout)"), o.stdout.clone());
        self.add(format!("{name} (stderr)"), o.stderr.clone());
    }

    /// `(haystack, needle)` for every hit of one of `c`'s values.
    fn hits(&self, c: &Canary) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for needle in c.needles() {
            for (name, hay) in &self.0 {
                if hay.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push((name.clone(), needle.clone()));
                }
            }
        }
        found
    }
}

/// Every file of the state directory, as bytes, and every gzip stream
/// inside them inflated (the kept pages).
fn store_files(dir: &std::path::Path) -> Haystacks {
    let mut h = Haystacks::default();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut pages = 0;
        for at in 0..bytes.len().saturating_sub(3) {
            if bytes[at..].starts_with(&[0x1f, 0x8b, 0x08]) {
                let mut text = Vec::new();
                let mut gz = flate2::read::GzDecoder::new(&bytes[at..]);
                if std::io::Read::read_to_end(&mut gz, &mut text).is_ok() && !text.is_empty() {
                    pages += 1;
                    h.add(format!("{name}: kept page at byte {at}"), text);
                }
            }
        }
        h.add(format!("{name} ({} kept pages inside)", pages), bytes);
    }
    h
}

/// The whole story, with or without encryption at rest: import, leaks
/// (one found only by its name search), scans and the daemon at trace
/// level, alerts on every channel, the API and the dashboard, reports in
/// three formats, erasures; then every value of every entry is looked for
/// in every captured line and payload and in every file of the state
/// directory (kept pages inflated), while the daemon runs and after.
#[allow(clippy::too_many_lines)] // One story, read top to bottom.
async fn canary_story(encrypted: bool) {
    use crate::common::{BIN, TOKEN, eventually, json, listing, smtp};
    use std::time::Duration;
    use unlistd::alert::receiver::Receiver;

    let slack = Receiver::start_unsigned().await.unwrap();
    let teams = Receiver::start_unsigned().await.unwrap();
    let pd = Receiver::start_unsigned().await.unwrap();
    let mail = smtp::SmtpSink::start(smtp::SinkOptions::default());
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("slack-url"), slack.url()).unwrap();
    std::fs::write(env.path("teams-url"), teams.url()).unwrap();
    std::fs::write(env.path("pd-key"), "canary-routing-key").unwrap();
    env.write_config(&Knobs {
        extra: format!(
            "[[alerts.slack]]\nurl_file = \"slack-url\"\n\
             [[alerts.teams]]\nurl_file = \"teams-url\"\n\
             [[alerts.pagerduty]]\nrouting_key_file = \"pd-key\"\nurl = \"{}\"\n\
             [[alerts.email]]\nsmtp = \"smtp://127.0.0.1:{}\"\nstarttls = \"never\"\n\
             from = \"unlistd@example.net\"\nto = [\"security@example.net\"]\n",
            pd.url(),
            mail.port
        ),
        ..Knobs::default()
    });
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        text.replacen("[store]\n", "[store]\nroster_retention = \"1s\"\n", 1),
    )
    .unwrap();
    if encrypted {
        write_key(&env, "store-key", 7);
        with_key(&env, "store-key");
    }
    let mut out = Haystacks::default();
    let header = "ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort\n";
    let all = [
        &LIVE_LEAK,
        &LIVE_QUIET,
        &ERASED_ON_REQUEST,
        &ERASED_BY_RETENTION,
    ];
    let roster: String = std::iter::once(header.to_string())
        .chain(all.iter().map(|c| c.csv_row()))
        .collect();

    // A file without its header row: its first line is a subscriber's.
    std::fs::write(env.path("headless.csv"), &roster[header.len()..]).unwrap();
    let o = env.cmd(&["import", env.path("headless.csv").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    out.out("import without header", &o);
    out.out("import", &env.import(&roster));

    // Leaks: two numbers, and the protected address under the name.
    for c in [&LIVE_LEAK, &ERASED_BY_RETENTION] {
        env.sim.add(listing(
            &format!("{} {}", c.first, c.last),
            c.phone,
            &format!("{} {}", c.street, c.house),
            &format!("{} {}", c.postcode, c.city),
        ));
    }
    let a = &ERASED_ON_REQUEST;
    env.sim.add(listing(
        &format!("{} {}", a.first, a.last),
        "94 11 22 33",
        &format!("{} {}", a.street, a.house),
        &format!("{} {}", a.postcode, a.city),
    ));

    let trace = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(env.config())
            .args(args)
            .env("UNLISTD_LOG", "trace")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let o = trace(&["scan", "--once"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    out.out("scan --once", &o);
    let incidents = json(&env.cmd(&["--json", "incidents", "--open"]));
    let refs: Vec<&str> = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entry_ref"].as_str().unwrap())
        .collect();
    for c in [&LIVE_LEAK, &ERASED_ON_REQUEST, &ERASED_BY_RETENTION] {
        assert!(refs.contains(&c.r), "{} leaked: {refs:?}", c.r);
    }
    assert!(!refs.contains(&LIVE_QUIET.r));
    out.out(
        "check (stdin)",
        &check_stdin(&env, &["check"], LIVE_LEAK.phone),
    );

    // The daemon at trace level, its API and dashboard.
    let log = env.path("daemon-trace.log");
    let mut daemon = std::process::Command::new(BIN)
        .arg("--config")
        .arg(env.config())
        .arg("run")
        .env("UNLISTD_LOG", "trace")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || env.api_up()).await);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    for path in [
        "/api/v1/status",
        "/api/v1/incidents?state=all",
        "/api/v1/sites",
        &format!("/api/v1/entries/{}/history", ERASED_ON_REQUEST.r),
        &format!("/api/v1/entries/{}/history", LIVE_LEAK.r),
    ] {
        let r = http
            .get(env.api(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        out.add(format!("API {path}"), r.bytes().await.unwrap().to_vec());
    }
    let r = http.get(env.api("/metrics")).send().await.unwrap();
    out.add("/metrics", r.bytes().await.unwrap().to_vec());
    let r = http
        .post(env.api("/dashboard/login"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "login: {}", r.status());
    for path in [
        "/dashboard",
        "/dashboard/incidents",
        &format!("/dashboard/entries?ref={}", ERASED_ON_REQUEST.r),
    ] {
        let r = http.get(env.api(path)).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        out.add(
            format!("dashboard {path}"),
            r.bytes().await.unwrap().to_vec(),
        );
    }
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    out.add("daemon log (trace)", std::fs::read(&log).unwrap());

    // Reports in every format, before the erasures.
    for fmt in ["html", "json", "csv"] {
        let o = env.cmd(&["report", "--cohort", "canary", "--format", fmt]);
        assert!(o.status.success(), "{}", stderr(&o));
        out.out(&format!("report {fmt}"), &o);
    }
    let before = store_files(&env.path("state"));
    let kept_pages = before
        .0
        .iter()
        .filter(|(n, _)| n.contains("kept page at"))
        .count();
    if encrypted {
        assert_eq!(kept_pages, 0, "an encrypted store shows no gzip stream");
    } else {
        assert!(kept_pages >= 3, "the leaks' pages are kept: {kept_pages}");
        // The search works: the live leak's values are in its kept page.
        assert!(!before.hits(&LIVE_LEAK).is_empty());
        assert!(!before.hits(&ERASED_ON_REQUEST).is_empty());
    }

    // Erasure: one on request, one by retention after leaving the roster.
    let o = env.cmd(&[
        "erase",
        ERASED_ON_REQUEST.r,
        "--reason",
        "data-subject request 2026-42",
        "--by",
        "dpo",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.out("erase", &o);
    // The next export leaves out the one who asked (a ref that comes back
    // is a new entry) and one who left.
    let kept: String = std::iter::once(header.to_string())
        .chain(
            all.iter()
                .filter(|c| ![ERASED_BY_RETENTION.r, ERASED_ON_REQUEST.r].contains(&c.r))
                .map(|c| c.csv_row()),
        )
        .collect();
    out.out("import (one removed)", &env.import(&kept));
    // The daemon erases the one who left (roster_retention = "1s") after a
    // cycle, and goes on: the files are looked at while it runs (WAL and
    // SHM in use) and again after it stopped.
    std::thread::sleep(Duration::from_millis(1100));
    let log2 = env.path("daemon-trace-2.log");
    let mut daemon = std::process::Command::new(BIN)
        .arg("--config")
        .arg(env.config())
        .arg("run")
        .env("UNLISTD_LOG", "trace")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log2).unwrap())
        .spawn()
        .unwrap();
    let gone = |env: &Env| {
        let v = json(&env.cmd(&["--json", "incidents"]));
        v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["entry_ref"] == ERASED_BY_RETENTION.r && i["state"] == "withdrawn")
    };
    assert!(eventually(Duration::from_secs(30), || gone(&env)).await);
    // A cycle more, so the daemon has written after the erasure.
    let probes = |env: &Env| {
        json(&env.cmd(&["--json", "history", LIVE_LEAK.r]))["probes"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let n = probes(&env);
    assert!(eventually(Duration::from_secs(30), || probes(&env) > n + 1).await);
    let running = store_files(&env.path("state"));
    assert!(
        running
            .0
            .iter()
            .any(|(n, _)| n.starts_with("unlistd.db-wal")),
        "the WAL is in use"
    );
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    out.add("daemon log 2 (trace)", std::fs::read(&log2).unwrap());
    for c in [&ERASED_ON_REQUEST, &ERASED_BY_RETENTION] {
        let hits = running.hits(c);
        assert!(
            hits.is_empty(),
            "{} erased, yet in the running store: {hits:?}",
            c.r
        );
    }
    let incidents = json(&env.cmd(&["--json", "incidents"]));
    for i in incidents["incidents"].as_array().unwrap() {
        let r = i["entry_ref"].as_str().unwrap();
        if [ERASED_ON_REQUEST.r, ERASED_BY_RETENTION.r].contains(&r) {
            assert_eq!(i["state"], "withdrawn", "{i}");
            assert_eq!(i["number_masked"], "(erased)", "{i}");
            let o = env.cmd(&["report", "--incident", i["id"].as_str().unwrap()]);
            assert!(stdout(&o).contains("Withdrawn"), "{}", stdout(&o));
            out.out(&format!("report of {r}"), &o);
        }
    }
    for fmt in ["html", "json", "csv"] {
        let o = env.cmd(&["report", "--cohort", "canary", "--format", fmt]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("withdrawn"), "{fmt}");
        out.out(&format!("report {fmt} after erasure"), &o);
    }
    let o = env.cmd(&["audit", "verify"]);
    assert!(
        o.status.success(),
        "audit verify after erasures: {}",
        stdout(&o)
    );
    out.out("audit verify", &o);

    // Every payload that left unlistd.
    for (name, r) in [
        ("webhook", &env.receiver),
        ("slack", &slack),
        ("teams", &teams),
        ("pagerduty", &pd),
    ] {
        let got = r.all();
        assert!(!got.is_empty(), "{name} got alerts");
        for (i, m) in got.iter().enumerate() {
            out.add(format!("{name} #{i}"), m.body.clone());
        }
    }
    let mails = mail.accepted();
    assert!(!mails.is_empty(), "email got alerts");
    for (i, m) in mails.iter().enumerate() {
        out.add(format!("email #{i}"), m.raw_text());
    }

    // The verdicts.
    let store = store_files(&env.path("state"));
    for c in [&ERASED_ON_REQUEST, &ERASED_BY_RETENTION] {
        let mut hits = out.hits(c);
        hits.extend(store.hits(c));
        assert!(hits.is_empty(), "{} was erased, yet: {hits:?}", c.r);
    }
    for c in [&LIVE_LEAK, &LIVE_QUIET] {
        let hits = out.hits(c);
        assert!(hits.is_empty(), "{} outside the store: {hits:?}", c.r);
        if encrypted {
            let hits = store.hits(c);
            assert!(hits.is_empty(), "{} in the encrypted store: {hits:?}", c.r);
        }
    }
    if !encrypted {
        // The live leak is still there: the search would have found the
        // erased ones had they been left.
        assert!(!store.hits(&LIVE_LEAK).is_empty());
    } else {
        // A wrong key and a missing key refuse to open.
        let before = std::fs::read(env.db()).unwrap();
        write_key(&env, "wrong-key", 99);
        let text = std::fs::read_to_string(env.config()).unwrap();
        std::fs::write(env.config(), text.replace("\"store-key\"", "\"wrong-key\"")).unwrap();
        let o = env.cmd(&["status"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let text = std::fs::read_to_string(env.config()).unwrap();
        std::fs::write(
            env.config(),
            text.replace("encryption_key_file = \"wrong-key\"\n", ""),
        )
        .unwrap();
        let o = env.cmd(&["status"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(std::fs::read(env.db()).unwrap(), before);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_canary_plaintext_store() {
    canary_story(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_canary_encrypted_store() {
    canary_story(true).await;
}
