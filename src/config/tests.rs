use super::*;
use crate::domain::incident::EventType;
use crate::fetch::RobotsPolicy;
use crate::sites::Adapter;

fn p(text: &str) -> Result<Settings, ConfigError> {
    parse(text, Path::new("/nonexistent/unlistd.toml"))
}

const MIN: &str = "[store]\npath = \"x.db\"\n";

#[test]
fn minimal_config_gets_defaults() {
    let s = p(MIN).unwrap();
    assert_eq!(s.store_path, PathBuf::from("/nonexistent/x.db"));
    assert_eq!(s.scan.max_staleness, Duration::from_secs(86400));
    assert_eq!(s.scan.resolve_after_clean, 3);
    assert_eq!(s.api.listen.to_string(), DEFAULT_LISTEN);
    assert!(s.sites.is_empty());
}

#[test]
fn unknown_key_names_key_and_line() {
    let e = p("[store]\npath = \"x.db\"\n\n[scan]\nmax_stalenes = \"1h\"\n").unwrap_err();
    assert_eq!(e.key, "max_stalenes");
    assert_eq!(e.line, Some(5));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/unlistd.toml:5: max_stalenes:"),
        "{e}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let site = |rate: &str, url: &str| {
        format!(
            "{MIN}[[sites]]\nname = \"118.dk\"\nadapter = \"dk118\"\nbase_url = \"{url}\"\nrate = \"{rate}\"\n"
        )
    };
    let e = p(&site("fast", "https://www.118.dk")).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("sites[0].rate", Some(7)));
    let e = p(&site("0/s", "https://www.118.dk")).unwrap_err();
    assert_eq!(e.key, "sites[0].rate");
    let e = p(&site("1/s", "http://www.118.dk")).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("sites[0].base_url", Some(6)));
    assert!(p(&site("1/s", "http://127.0.0.1:8080")).is_ok());
    assert!(p(&site("30/m", "http://localhost:8080")).is_ok());
    let e = p(&format!("{MIN}[scan]\nmax_staleness = \"soon\"\n")).unwrap_err();
    assert_eq!(e.key, "scan.max_staleness");
    let e = p(&format!("{MIN}[scan]\nmax_staleness = \"0s\"\n")).unwrap_err();
    assert_eq!(e.key, "scan.max_staleness");
    let e = p(&format!("{MIN}[scan]\nresolve_after_clean = 0\n")).unwrap_err();
    assert_eq!(e.key, "scan.resolve_after_clean");
    let e = p(&format!("{MIN}[api]\nlisten = \"localhost\"\n")).unwrap_err();
    assert_eq!(e.key, "api.listen");
}

#[test]
fn secrets_come_from_files_without_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wh"), "s3cret\n").unwrap();
    let text = format!(
        "{MIN}[[alerts.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_file = \"wh\"\n"
    );
    let s = parse(&text, &dir.path().join("c.toml")).unwrap();
    match &s.alerts.channels[0].channel {
        Channel::Webhook { secret } => assert_eq!(secret, b"s3cret"),
        _ => panic!("not a webhook"),
    }
    assert!(!format!("{:?}", s.alerts).contains("s3cret"));
    let e = parse(
        &text.replace("\"wh\"", "\"missing\""),
        &dir.path().join("c.toml"),
    )
    .unwrap_err();
    assert_eq!(e.key, "alerts.webhook[0].secret_file");
    let e = parse(
        &text.replace("http://127.0.0.1:9", "http://hooks.example.net"),
        &dir.path().join("c.toml"),
    )
    .unwrap_err();
    assert_eq!(e.key, "alerts.webhook[0].url");
}

#[test]
fn chat_and_paging_channels_keep_their_urls_and_keys_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slack"),
        "https://hooks.slack.example/T000/B000/XXXX\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("teams"), "http://127.0.0.1:9/teams").unwrap();
    std::fs::write(dir.path().join("pd"), "R0UTINGKEY0123456789\n").unwrap();
    let text = format!(
        "{MIN}[alerts]\ndashboard_url = \"https://unlistd.example.net/dashboard\"\n\
         [[alerts.slack]]\nurl_file = \"slack\"\n[[alerts.teams]]\nurl_file = \"teams\"\n\
         [[alerts.pagerduty]]\nrouting_key_file = \"pd\"\n"
    );
    let s = parse(&text, &dir.path().join("c.toml")).unwrap();
    let kinds: Vec<&str> = s.alerts.channels.iter().map(|c| c.channel.kind()).collect();
    assert_eq!(kinds, ["slack", "teams", "pagerduty"]);
    assert_eq!(s.alerts.channels[2].url.as_str(), PAGERDUTY_URL);
    let dbg = format!("{:?}", s.alerts);
    assert!(
        !dbg.contains("XXXX") && !dbg.contains("R0UTINGKEY"),
        "{dbg}"
    );
    std::fs::write(
        dir.path().join("slack"),
        "http://hooks.slack.example/secret-path",
    )
    .unwrap();
    let e = parse(&text, &dir.path().join("c.toml")).unwrap_err();
    assert_eq!(e.key, "alerts.slack[0].url_file");
    assert!(!e.to_string().contains("secret-path"), "{e}");
}

#[test]
fn eniro_and_declarative_sites_load_and_bad_selectors_name_the_key() {
    let eniro = format!(
        "{MIN}[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\nbase_url = \"https://www.krak.dk\"\nrate = \"30/m\"\n"
    );
    assert!(matches!(
        p(&eniro).unwrap().sites[0].adapter,
        Adapter::Eniro(_)
    ));
    let decl = |item: &str| {
        format!(
            "{MIN}[[sites]]\nname = \"hitta\"\nadapter = \"declarative\"\nbase_url = \"https://www.hitta.example\"\nrate = \"10/m\"\n\
             [sites.declarative]\nformat = \"html\"\nsearch = \"/sok?vad={{number_national}}\"\n\
             item = '{item}'\nname = '[data-test=\"search-result-title\"]'\n\
             phone = '[data-test=\"phone-link\"]'\nno_results = '[data-test=\"no-hits\"]'\n"
        )
    };
    let s = p(&decl("[data-test=\"person-item\"]")).unwrap();
    assert!(matches!(s.sites[0].adapter, Adapter::Declarative(_)));
    let e = p(&decl("[[[")).unwrap_err();
    assert_eq!(e.key, "sites[0].declarative.item", "{e}");
    let e =
        p(&decl("div").replace("adapter = \"declarative\"", "adapter = \"dk118\"")).unwrap_err();
    assert_eq!(e.key, "sites[0].declarative");
}

#[test]
fn report_key_file_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rk"), "report-key-bytes\n").unwrap();
    let c = |extra: &str| parse(&format!("{MIN}{extra}"), &dir.path().join("c.toml"));
    let s = c("").unwrap();
    assert!(s.report.signing_key.is_none());
    assert_eq!(s.retention.evidence, DEFAULT_EVIDENCE_RETENTION);
    assert_eq!(s.retention.roster, DEFAULT_ROSTER_RETENTION);
    let s = c("[report]\nsigning_key_file = \"rk\"\n").unwrap();
    assert_eq!(
        s.report.signing_key.as_deref(),
        Some(&b"report-key-bytes"[..])
    );
    assert!(!format!("{:?}", s.report).contains("report-key-bytes"));
    let e = c("[report]\nsigning_key_file = \"missing\"\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("report.signing_key_file", Some(4))
    );
    let e = c("[report]\nsigning_key = \"inline\"\n").unwrap_err();
    assert_eq!(e.key, "signing_key");
    let s = parse(
        "[store]\npath = \"x.db\"\nevidence_retention = \"30d\"\nroster_retention = \"12h\"\n",
        &dir.path().join("c.toml"),
    )
    .unwrap();
    assert_eq!(s.retention.evidence, Duration::from_secs(30 * 86400));
    assert_eq!(s.retention.roster, Duration::from_secs(12 * 3600));
    let e = parse(
        "[store]\npath = \"x.db\"\nevidence_retention = \"forever\"\n",
        &dir.path().join("c.toml"),
    )
    .unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("store.evidence_retention", Some(3))
    );
}

fn site_with(dir: &Path, extra: &str) -> Result<Settings, ConfigError> {
    parse(
        &format!(
            "{MIN}[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\nbase_url = \"https://www.krak.dk\"\nrate = \"30/m\"\n{extra}"
        ),
        &dir.join("c.toml"),
    )
}

#[test]
fn header_values_come_from_files_and_stay_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), "tok-1234567890\n").unwrap();
    let s = site_with(
        dir.path(),
        "[sites.headers]\n\"X-Access-Token\" = { file = \"tok\" }\n",
    )
    .unwrap();
    let h = s.sites[0].policy.headers.map();
    let v = h.get("x-access-token").unwrap();
    assert_eq!(v.as_bytes(), b"tok-1234567890");
    assert!(v.is_sensitive());
    let dbg = format!("{:?}", s.sites[0]);
    assert!(
        !dbg.contains("tok-1234567890") && dbg.contains("x-access-token"),
        "{dbg}"
    );

    let e = site_with(
        dir.path(),
        "[sites.headers]\n\"X Token\" = { file = \"tok\" }\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("sites[0].headers.\"X Token\"", Some(9)),
        "{e}"
    );
    let e = site_with(
        dir.path(),
        "[sites.headers]\nUser-Agent = { file = \"tok\" }\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "sites[0].headers.User-Agent");
    assert!(e.message.contains("scan] user_agent"), "{e}");
    let e = site_with(
        dir.path(),
        "[sites.headers]\nX-Token = { file = \"tok\" }\nx-token = { file = \"tok\" }\n",
    )
    .unwrap_err();
    assert!(e.key.starts_with("sites[0].headers."), "{e}");
    let e = site_with(
        dir.path(),
        "[sites.headers]\nX-Token = { file = \"missing\" }\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "sites[0].headers.X-Token.file");
    // Inline values are not accepted: secrets live in files.
    let e = site_with(
        dir.path(),
        "[sites.headers]\nX-Token = { value = \"tok\" }\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "value", "{e}");
    std::fs::write(dir.path().join("two-lines"), "tok-1\nsecond-line-secret\n").unwrap();
    let e = site_with(
        dir.path(),
        "[sites.headers]\nX-Token = { file = \"two-lines\" }\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "sites[0].headers.X-Token.file");
    assert!(!e.to_string().contains("second-line-secret"), "{e}");
}

#[test]
fn proxies_inline_without_credentials_or_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = site_with(dir.path(), "proxy = \"http://127.0.0.1:3128\"\n").unwrap();
    assert_eq!(
        s.sites[0].policy.proxy.as_ref().unwrap().url().as_str(),
        "http://127.0.0.1:3128/"
    );
    let e = site_with(
        dir.path(),
        "proxy = \"http://ops:pw@proxy.example.net:3128\"\n",
    )
    .unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("sites[0].proxy", Some(8)));
    assert!(e.message.contains("proxy_file"), "{e}");
    let e = site_with(dir.path(), "proxy = \"socks5://127.0.0.1:1080\"\n").unwrap_err();
    assert_eq!(e.key, "sites[0].proxy");

    std::fs::write(
        dir.path().join("px"),
        "http://ops:s3cr3t-pw@proxy.example.net:3128\n",
    )
    .unwrap();
    let s = site_with(dir.path(), "proxy_file = \"px\"\n").unwrap();
    let dbg = format!("{:?}", s.sites[0]);
    assert!(!dbg.contains("s3cr3t-pw") && !dbg.contains("ops:"), "{dbg}");
    assert!(dbg.contains("proxy.example.net:3128"), "{dbg}");
    let e = site_with(
        dir.path(),
        "proxy_file = \"px\"\nproxy = \"http://127.0.0.1:1\"\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "sites[0].proxy_file");
    std::fs::write(
        dir.path().join("px"),
        "ftp://ops:s3cr3t-pw@proxy.example.net\n",
    )
    .unwrap();
    let e = site_with(dir.path(), "proxy_file = \"px\"\n").unwrap_err();
    assert_eq!(e.key, "sites[0].proxy_file");
    assert!(!e.to_string().contains("s3cr3t-pw"), "{e}");
}

#[test]
fn ignoring_robots_txt_needs_a_written_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = site_with(dir.path(), "").unwrap();
    assert_eq!(s.sites[0].policy.robots, RobotsPolicy::Honour);
    let s = site_with(
        dir.path(),
        "robots_txt = false\nrobots_txt_reason = \" Written agreement with the site, ref. 2026-114 \"\n",
    )
    .unwrap();
    assert_eq!(
        s.sites[0].policy.robots,
        RobotsPolicy::Ignore {
            reason: "Written agreement with the site, ref. 2026-114".into()
        }
    );
    let e = site_with(dir.path(), "robots_txt = false\n").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("sites[0].robots_txt_reason", Some(8))
    );
    let e = site_with(
        dir.path(),
        "robots_txt = false\nrobots_txt_reason = \"  \"\n",
    )
    .unwrap_err();
    assert_eq!(e.key, "sites[0].robots_txt_reason");
    let e = site_with(dir.path(), "robots_txt_reason = \"because\"\n").unwrap_err();
    assert_eq!(e.key, "sites[0].robots_txt_reason");
    let e = site_with(dir.path(), "robots_txt = \"no\"\n").unwrap_err();
    assert!(e.to_string().contains(":8:"), "{e}");
}

#[test]
fn rates() {
    assert_eq!(
        parse_rate("1/s").unwrap().interval(),
        Duration::from_secs(1)
    );
    assert_eq!(
        parse_rate("30/m").unwrap().interval(),
        Duration::from_secs(2)
    );
    assert_eq!(
        parse_rate(" 3600/h ").unwrap().interval(),
        Duration::from_secs(1)
    );
    for bad in ["", "1", "1/d", "-1/s", "1.5/s", "/s", "x/s"] {
        assert!(parse_rate(bad).is_none(), "{bad}");
    }
}

#[test]
fn routes_and_digest_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pd-key"), "KEY0123\n").unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    let cfg = |alerts: &str, channel: &str| {
        format!(
            "[store]\npath = \"x.db\"\n[[sites]]\nname = \"118.dk\"\nadapter = \"dk118\"\n\
             base_url = \"http://127.0.0.1:1\"\nrate = \"1/s\"\n[alerts]\n{alerts}\n{channel}"
        )
    };
    let at = dir.path().join("c.toml");
    let parse_at = |t: String| parse(&t, &at);
    let pd = "[[alerts.pagerduty]]\nrouting_key_file = \"pd-key\"\n";
    let ok = parse_at(cfg("digest = \"07:30\"", pd)).unwrap();
    assert_eq!(ok.alerts.digest_at, Some(time::macros::time!(07:30)));
    // PagerDuty gets everything but the digest by default...
    let r = &ok.alerts.channels[0].route;
    assert!(!r.wants(EventType::Digest, "*", None));
    assert!(r.wants(EventType::ExposureOpened, "118.dk", None));
    // ... and cannot be asked for it.
    let e = parse_at(cfg("", &format!("{pd}events = [\"digest\"]\n"))).unwrap_err();
    assert_eq!(e.key, "alerts.pagerduty[0].events");
    let e = parse_at(cfg("digest = \"25:00\"", pd)).unwrap_err();
    assert_eq!(e.key, "alerts.digest");
    let hook = "[[alerts.webhook]]\nurl = \"http://127.0.0.1:9/h\"\nsecret_file = \"secret\"\n";
    let e = parse_at(cfg("", &format!("{hook}sites = [\"krak.dk\"]\n"))).unwrap_err();
    assert_eq!(e.key, "alerts.webhook[0].sites");
    assert!(e.message.contains("krak.dk"), "{e}");
    let e = parse_at(cfg("", &format!("{hook}cohorts = []\n"))).unwrap_err();
    assert_eq!(e.key, "alerts.webhook[0].cohorts");
    let ok = parse_at(cfg(
        "",
        &format!(
            "{hook}sites = [\"118.dk\"]\ncohorts = [\"migr\"]\nevents = [\"exposure.opened\"]\n"
        ),
    ))
    .unwrap();
    let r = &ok.alerts.channels[0].route;
    assert!(r.wants(EventType::ExposureOpened, "118.dk", Some("migr")));
    assert!(!r.wants(EventType::ExposureResolved, "118.dk", Some("migr")));
}

#[test]
fn store_is_a_path_or_a_postgresql_url_never_both() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("unlistd.toml");
    std::fs::write(dir.path().join("pgpass"), "s3cret\n").unwrap();
    let q = |text: &str| parse(text, &cfg);
    let s = q(
        "[store]\nurl = \"postgresql://unlistd@db.example:5432/unlistd?sslmode=require\"\n\
               password_file = \"pgpass\"\n",
    )
    .unwrap();
    let u = s.store_url.clone().unwrap();
    assert_eq!(
        u.url,
        "postgresql://unlistd@db.example:5432/unlistd?sslmode=require"
    );
    assert_eq!(u.password.as_deref(), Some("s3cret"));
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "the password is never shown"
    );
    assert!(q("[store]\npath = \"x.db\"\n").unwrap().store_url.is_none());
    let e = q("[store]\npath = \"x.db\"\nurl = \"postgresql://u@h/d\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("store.url", Some(2)));
    let e = q("[store]\nevidence_retention = \"30d\"\n").unwrap_err();
    assert_eq!(e.key, "store.path");
    let e = q("[store]\npath = \"x.db\"\npassword_file = \"pgpass\"\n").unwrap_err();
    assert_eq!(e.key, "store.password_file");
    for bad in [
        "mysql://u@h/d",
        "postgresql://u:hunter2@h/d",
        "postgresql://u@h",
        "not a url",
    ] {
        let e = q(&format!("[store]\nurl = \"{bad}\"\n")).unwrap_err();
        assert_eq!(e.key, "store.url", "{bad}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    let e = q("[store]\nurl = \"postgresql://u@h/d\"\npassword_file = \"missing\"\n").unwrap_err();
    assert_eq!(e.key, "store.password_file");
    std::fs::write(dir.path().join("key"), "k".repeat(64)).unwrap();
    let e =
        q("[store]\nurl = \"postgresql://u@h/d\"\nencryption_key_file = \"key\"\n").unwrap_err();
    assert_eq!(e.key, "store.encryption_key_file");
}

#[test]
fn whsec_webhook_secrets_are_decoded_and_raw_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{MIN}[[alerts.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_file = \"wh\"\n"
    );
    let key = |content: &str| {
        std::fs::write(dir.path().join("wh"), content).unwrap();
        parse(&text, &dir.path().join("c.toml")).map(|s| match &s.alerts.channels[0].channel {
            Channel::Webhook { secret } => secret.clone(),
            _ => panic!("not a webhook"),
        })
    };
    // The Standard Webhooks form: base64 after the prefix, padded or not.
    assert_eq!(key("whsec_AAEC/w==\n").unwrap(), [0, 1, 2, 255]);
    assert_eq!(key("whsec_AAEC/w").unwrap(), [0, 1, 2, 255]);
    // Anything else is the key itself, as before.
    assert_eq!(key("AAEC/w==").unwrap(), b"AAEC/w==");
    assert_eq!(key("WHSEC_AAEC").unwrap(), b"WHSEC_AAEC");
    for bad in ["whsec_not base64!", "whsec_", "whsec_A"] {
        let e = key(bad).unwrap_err();
        assert_eq!(e.key, "alerts.webhook[0].secret_file", "{bad}");
        assert!(e.message.contains("whsec_"), "{e}");
        assert!(!e.message.contains("base64!"), "quotes the secret: {e}");
    }
}

#[test]
fn the_config_is_never_taken_from_the_working_directory() {
    // The tests run in the crate's directory, which holds a config.toml.
    assert!(Path::new("config.toml").is_file());
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("config.toml");
    let e = super::locate_in(None, &system).unwrap_err();
    assert_eq!(e.key, "--config");
    assert!(e.message.contains("UNLISTD_CONFIG"), "{e}");
    std::fs::write(&system, "").unwrap();
    assert_eq!(super::locate_in(None, &system).unwrap(), system);
    let given = Path::new("/elsewhere/c.toml");
    assert_eq!(super::locate_in(Some(given), &system).unwrap(), given);
}

#[test]
fn api_beyond_loopback_needs_allow_remote_and_hostnames_are_names() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("c.toml");
    let p = |api: &str| parse(&format!("[store]\npath = \"x.db\"\n[api]\n{api}"), &at);
    let e = p("listen = \"0.0.0.0:9477\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("api.listen", Some(4)));
    assert!(e.message.contains("allow_remote = true"), "{e}");
    let ok = p("listen = \"0.0.0.0:9477\"\nallow_remote = true\n").unwrap();
    assert!(ok.api.allow_remote);
    let ok = p("hostnames = [\"Unlistd.Example.Net\", \"ops.example.net.\"]\n").unwrap();
    assert_eq!(ok.api.hostnames, ["unlistd.example.net", "ops.example.net"]);
    for bad in ["https://x.example", "x.example:443", "", "a b"] {
        let e = p(&format!("hostnames = [\"{bad}\"]\n")).unwrap_err();
        assert_eq!(e.key, "api.hostnames", "{bad}");
    }
}

#[test]
fn opportunistic_starttls_with_a_password_is_refused_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("c.toml");
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    let p = |host: &str| {
        parse(
            &format!(
                "[store]\npath = \"x.db\"\n[[alerts.email]]\nsmtp = \"smtp://{host}\"\n\
                 from = \"u@example.net\"\nto = [\"sec@example.net\"]\n\
                 starttls = \"opportunistic\"\nusername = \"u\"\npassword_file = \"pw\"\n"
            ),
            &at,
        )
    };
    let e = p("mail.example.net").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.line),
        ("alerts.email[0].starttls", Some(7))
    );
    assert!(e.message.contains("in clear"), "{e}");
    assert!(p("127.0.0.1:2525").is_ok());
}
