//! The email channel against a real SMTP server: the Rust sink of
//! `tests/common/smtp.rs` on a loopback port, which speaks the protocol to
//! the `unlistd` binary's SMTP client and parses every mail it accepts.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use unlistd::config::Channel;

use crate::common::smtp::{Mail, SinkOptions, SmtpSink, TestCa};
use crate::common::*;

/// An `[[alerts.email]]` table for the test server.
fn email_table(port: u16, extra: &str) -> String {
    format!(
        "[[alerts.email]]\nsmtp = \"smtp://127.0.0.1:{port}\"\n\
         from = \"unlistd <unlistd@example.net>\"\n\
         to = [\"security@example.net\", \"Night Shift <noc@example.net>\"]\n{extra}\n"
    )
}

/// The status entry of the (first) email receiver, or one by name.
fn email_status(env: &Env, receiver: &str) -> Value {
    let st = json(&env.cmd(&["--json", "status"]));
    st["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["receiver"]
                .as_str()
                .is_some_and(|n| n.starts_with(receiver))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {receiver} receiver in {st}"))
}

fn leak_two(env: &Env) {
    env.sim.add(listing(
        "Kasper Nørgaard",
        "13500002",
        "Strandvejen 123A",
        "2900 Hellerup",
    ));
    env.sim.add(r03_listing());
}

fn subjects(mails: &[Mail]) -> Vec<String> {
    mails.iter().map(Mail::subject).collect()
}

/// On every connection, nothing but EHLO went before STARTTLS and nothing
/// followed it in clear (a connection cut short by a stopping daemon may
/// end sooner).
fn assert_only_ehlo_and_starttls_in_clear(smtp: &SmtpSink) {
    let seen = smtp.commands();
    let mut conns: Vec<u32> = seen.iter().map(|c| c.conn).collect();
    conns.sort_unstable();
    conns.dedup();
    assert!(!conns.is_empty(), "no connection");
    for conn in conns {
        let clear: Vec<&str> = seen
            .iter()
            .filter(|c| c.conn == conn && !c.over_tls)
            .map(|c| c.verb.as_str())
            .collect();
        assert!(
            ["EHLO", "STARTTLS"].starts_with(&clear),
            "connection {conn} in clear: {clear:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leak_is_one_multipart_mail_naming_refs_but_no_number() {
    let smtp = SmtpSink::start(SinkOptions::default());
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: email_table(smtp.port, "starttls = \"never\""),
        ..Knobs::default()
    });
    let cfg = std::fs::read_to_string(env.config()).unwrap().replace(
        "max_backoff = \"1s\"",
        "max_backoff = \"1s\"\ndashboard_url = \"https://unlistd.example.net/dashboard\"",
    );
    std::fs::write(env.config(), cfg).unwrap();
    env.import(ROSTER);
    leak_two(&env);
    let scan = env.cmd(&["scan", "--once"]);
    assert_eq!(scan.status.code(), Some(3), "{}", stderr(&scan));

    let mails = smtp.accepted();
    assert_eq!(mails.len(), 1, "one mail for the whole group: {mails:?}");
    let m = &mails[0];
    assert_eq!(
        m.subject(),
        "[unlistd] exposure.opened on 118.dk: 2 incidents"
    );
    assert_eq!(m.mail_from, "unlistd@example.net");
    assert_eq!(m.rcpt_to, ["security@example.net", "noc@example.net"]);
    assert_eq!(m.content_type(), "multipart/alternative");
    let types: Vec<String> = m.parts().into_iter().map(|(t, _)| t).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let id = m.header("message-id").unwrap();
    assert!(
        id.starts_with("<msg_") && id.ends_with("@example.net>") && id.len() == 44,
        "{id}"
    );
    let date = m.header("date").unwrap();
    assert!(date.ends_with("+0000"), "{date}");
    assert_eq!(m.date_offset_minutes(), Some(0), "{date}");
    assert_eq!(m.header("auto-submitted").unwrap(), "auto-generated");

    let text = m.part("text/plain");
    let html = m.part("text/html");
    for body in [&text, &html] {
        assert!(body.contains("R-02") && body.contains("R-03"), "{body}");
        assert!(body.contains("+45 13 50 •• ••"), "{body}");
        assert!(
            body.contains("https://unlistd.example.net/dashboard"),
            "{body}"
        );
    }
    assert!(
        text.contains("2 protected entries exposed on 118.dk"),
        "{text}"
    );
    assert!(html.contains("<table"), "{html}");
    // Neither the raw mail nor its decoded parts carry a full number,
    // a name or an address.
    let raw = m.raw_text();
    for hay in [&raw, &text, &html] {
        for n in roster_numbers() {
            assert!(!hay.contains(&n), "full number {n} in a mail");
        }
        for secret in ["13 50 00 02", "Nørgaard", "Friis", "Strandvejen", "Bøgevej"] {
            assert!(!hay.contains(secret), "{secret} in a mail");
        }
    }
    // The webhook got the same event: the channels share the outbox.
    assert_eq!(env.receiver.accepted().len(), 1);

    // Resolution is a second mail, with its own Message-ID.
    env.sim.remove_number("13500002");
    env.sim.remove_number("13500003");
    env.cmd(&["scan", "--once"]);
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(0));
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].subject(),
        "[unlistd] exposure.resolved on 118.dk: 2 incidents"
    );
    assert_ne!(mails[1].header("message-id"), mails[0].header("message-id"));
    let st = email_status(&env, "email:");
    assert_eq!(st["delivered_messages"], 2, "{st}");
    assert_eq!(st["pending_messages"], 0, "{st}");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_uses_the_password_file_and_a_wrong_one_is_retried_not_dropped() {
    const RIGHT: &str = "c0rrect-h0rse-smtp";
    const WRONG: &str = "wr0ng-battery-smtp";
    let smtp = SmtpSink::start(SinkOptions {
        login: Some(("unlistd".into(), RIGHT.into())),
        ..SinkOptions::default()
    });
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("smtp-password"), format!("{WRONG}\n")).unwrap();
    env.write_config(&Knobs {
        extra: email_table(
            smtp.port,
            "starttls = \"never\"\nusername = \"unlistd\"\npassword_file = \"smtp-password\"",
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    leak_two(&env);
    let daemon = env.spawn_daemon();
    // Refused, retried with backoff, and shown as failing.
    assert!(
        eventually(Duration::from_secs(40), || {
            let st = email_status(&env, "email:");
            st["failing"] == true
                && st["last_error"].as_str().is_some_and(|e| e.contains("535"))
                && smtp.auth_attempts().len() >= 3
        })
        .await,
        "status: {}\nauth: {:?}\n{}",
        email_status(&env, "email:"),
        smtp.auth_attempts(),
        daemon.log()
    );
    // The user name and the file's password (its newline dropped) were
    // offered, and refused each time.
    assert!(
        smtp.auth_attempts()
            .iter()
            .all(|a| !a.ok && a.user == "unlistd"),
        "{:?}",
        smtp.auth_attempts()
    );
    assert!(smtp.accepted().is_empty());
    // Nothing was sent without AUTH: no MAIL ever reached the server.
    assert!(!smtp.commands().iter().any(|c| c.verb == "MAIL"));
    let st = email_status(&env, "email:");
    assert_eq!(st["delivered_messages"], 0, "{st}");
    assert!(st["pending_messages"].as_u64() >= Some(1), "{st}");
    assert_eq!(daemon.stop(), Some(0));
    let log = std::fs::read_to_string(env.path("daemon.log")).unwrap();
    let status_text = stdout(&env.cmd(&["status"]));
    for hay in [&log, &status_text, &st.to_string()] {
        assert!(!hay.contains(WRONG), "the SMTP password leaked");
    }

    // The right password: the waiting mail goes out, nothing was dropped.
    std::fs::write(env.path("smtp-password"), format!("{RIGHT}\n")).unwrap();
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(30), || smtp.accepted().len() == 1).await,
        "{}",
        daemon.log()
    );
    assert!(smtp.auth_attempts().last().is_some_and(|a| a.ok));
    let mail = &smtp.accepted()[0];
    assert_eq!(mail.user.as_deref(), Some("unlistd"));
    assert_eq!(
        mail.subject(),
        "[unlistd] exposure.opened on 118.dk: 2 incidents"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let st = email_status(&env, "email:");
            st["delivered_messages"] == 1 && st["pending_messages"] == 0
        })
        .await
    );
    assert_eq!(daemon.stop(), Some(0));
    assert!(
        !std::fs::read_to_string(env.path("daemon.log"))
            .unwrap()
            .contains(RIGHT)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_required_never_falls_back_to_clear_text() {
    // One server without STARTTLS, two receivers on it: "required" must
    // refuse to send, while "opportunistic" shows the server would accept.
    let smtp = SmtpSink::start(SinkOptions::default());
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: format!(
            "{}{}",
            email_table(smtp.port, "starttls = \"required\"\nname = \"strict\""),
            email_table(
                smtp.port,
                "starttls = \"opportunistic\"\nname = \"lenient\""
            )
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    leak_two(&env);
    assert_eq!(env.cmd(&["scan", "--once"]).status.code(), Some(3));
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 1, "only the opportunistic receiver sent");
    assert_eq!(
        subjects(&mails),
        ["[unlistd] exposure.opened on 118.dk: 2 incidents"]
    );
    assert!(!mails[0].over_tls);
    // The strict receiver's connection ended after EHLO: one MAIL in all.
    let mail_commands = smtp.commands().iter().filter(|c| c.verb == "MAIL").count();
    assert_eq!(mail_commands, 1, "{:?}", smtp.commands());
    let strict = email_status(&env, "email:strict");
    assert_eq!(strict["delivered_messages"], 0, "{strict}");
    assert_eq!(strict["pending_messages"], 1, "kept for a retry: {strict}");
    assert!(
        strict["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("STARTTLS")),
        "{strict}"
    );
    let lenient = email_status(&env, "email:lenient");
    assert_eq!(lenient["delivered_messages"], 1, "{lenient}");
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_checks_the_certificate_and_sends_credentials_only_inside_tls() {
    // The server offers STARTTLS with a certificate from a test CA. The
    // client checks it against the trust store (SSL_CERT_FILE replaces the
    // system one): first a store holding another CA, then the right one.
    // Both modes that use STARTTLS are on it: "opportunistic" too must not
    // carry on in clear once STARTTLS was offered and failed.
    // One test for both phases (hence its length): the second shows the
    // first failed for the certificate alone, on the same server and outbox.
    let ca = TestCa::new();
    let ca_pem = ca.ca_pem.clone();
    let smtp = SmtpSink::start(SinkOptions {
        login: Some(("unlistd".into(), "tls-only-smtp-pass".into())),
        starttls: Some(ca),
        ..SinkOptions::default()
    });
    let env = Env::new(Knobs::default()).await;
    std::fs::write(env.path("smtp-password"), "tls-only-smtp-pass\n").unwrap();
    std::fs::write(env.path("wrong-ca.pem"), TestCa::new().ca_pem).unwrap();
    std::fs::write(env.path("right-ca.pem"), ca_pem).unwrap();
    let login = "username = \"unlistd\"\npassword_file = \"smtp-password\"";
    env.write_config(&Knobs {
        extra: format!(
            "{}{}",
            email_table(
                smtp.port,
                &format!("starttls = \"required\"\nname = \"strict\"\n{login}")
            ),
            email_table(
                smtp.port,
                &format!("starttls = \"opportunistic\"\nname = \"lenient\"\n{login}")
            ),
        ),
        ..Knobs::default()
    });
    env.import(ROSTER);
    leak_two(&env);

    let wrong = env.path("wrong-ca.pem");
    let daemon = env.spawn_daemon_with(&[("SSL_CERT_FILE", wrong.as_os_str())]);
    let receivers = ["email:strict", "email:lenient"];
    assert!(
        eventually(Duration::from_secs(40), || {
            // A mail accepted here is a failure, reported below.
            !smtp.accepted().is_empty()
                || smtp.tls_failures().len() >= 4
                    && receivers
                        .iter()
                        .all(|r| email_status(&env, r)["last_error"].is_string())
        })
        .await,
        "tls: {:?}\n{}",
        smtp.tls_failures(),
        daemon.log()
    );
    assert_eq!(daemon.stop(), Some(0));
    for r in receivers {
        let st = email_status(&env, r);
        assert!(
            st["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("certificate")),
            "{st}"
        );
        assert_eq!(st["delivered_messages"], 0, "{st}");
        assert!(st["pending_messages"].as_u64() >= Some(1), "{st}");
    }
    // An untrusted certificate is not a reason to carry on in clear: no
    // AUTH, no MAIL, nothing after STARTTLS.
    assert!(smtp.accepted().is_empty());
    assert!(
        smtp.auth_attempts().is_empty(),
        "{:?}",
        smtp.auth_attempts()
    );
    assert_only_ehlo_and_starttls_in_clear(&smtp);

    // The right CA: the waiting mails go out inside TLS (one per
    // receiver, plus any receiver.failing news one sent about the other),
    // and the password only ever crossed a TLS session.
    let right = env.path("right-ca.pem");
    let daemon = env.spawn_daemon_with(&[("SSL_CERT_FILE", right.as_os_str())]);
    assert!(
        eventually(Duration::from_secs(30), || {
            let opened = "[unlistd] exposure.opened on 118.dk: 2 incidents";
            subjects(&smtp.accepted())
                .iter()
                .filter(|s| *s == opened)
                .count()
                == 2
        })
        .await,
        "tls: {:?}\n{}",
        smtp.tls_failures(),
        daemon.log()
    );
    assert_eq!(daemon.stop(), Some(0));
    for mail in smtp.accepted() {
        assert!(mail.over_tls, "{}", mail.subject());
        assert_eq!(mail.user.as_deref(), Some("unlistd"));
    }
    let auth = smtp.auth_attempts();
    assert!(
        auth.len() >= 2 && auth.iter().all(|a| a.ok && a.over_tls),
        "{auth:?}"
    );
    assert_only_ehlo_and_starttls_in_clear(&smtp);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_mail_is_retried_as_the_same_mail() {
    let smtp = SmtpSink::start(SinkOptions {
        refuse_first: 1,
        ..SinkOptions::default()
    });
    let env = Env::new(Knobs::default()).await;
    env.write_config(&Knobs {
        extra: email_table(smtp.port, "starttls = \"never\""),
        ..Knobs::default()
    });
    env.import(ROSTER);
    leak_two(&env);
    let daemon = env.spawn_daemon();
    assert!(
        eventually(Duration::from_secs(40), || smtp.accepted().len() == 1).await,
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.stop(), Some(0));
    let rejected = smtp.rejected();
    assert_eq!(rejected.len(), 1);
    let (first, retry) = (&rejected[0], &smtp.accepted()[0]);
    // Same Message-ID, Date and bytes: a receiver can tell it is one mail.
    assert_eq!(first.raw_text(), retry.raw_text());
    assert_eq!(first.raw, retry.raw);
    let id = retry.header("message-id").unwrap();
    let outbox_id: String = rusqlite::Connection::open(env.db())
        .unwrap()
        .query_row(
            "SELECT id FROM messages WHERE receiver LIKE 'email:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(id, format!("<{outbox_id}@example.net>"));
    let st = email_status(&env, "email:");
    assert_eq!(st["delivered_messages"], 1, "{st}");
    assert!(st["last_error"].is_null(), "{st}");
}

#[test]
fn email_config_is_validated_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(dir.path().join("pw"), "s3cret-smtp-pass\n").unwrap();
    let parse = |email: &str| {
        let text = format!("[store]\npath = \"x.db\"\n\n[[alerts.email]]\n{email}\n");
        unlistd::config::parse(&text, &path)
    };
    let base = "from = \"unlistd@example.net\"\nto = [\"security@example.net\"]\n";
    let err = |email: &str| {
        parse(email)
            .map(|_| ())
            .expect_err(&format!("accepted: {email}"))
    };

    // Non-loopback "never" is refused, naming the key and its line.
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net:25\"\n{base}starttls = \"never\""
    ));
    assert_eq!(
        (e.key.as_str(), e.line),
        ("alerts.email[0].starttls", Some(8))
    );
    assert!(e.to_string().contains("loopback"), "{e}");
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}starttls = \"maybe\""
    ));
    assert_eq!(e.key, "alerts.email[0].starttls");
    let e = err(&format!(
        "smtp = \"smtps://mail.example.net\"\n{base}starttls = \"never\""
    ));
    assert_eq!(e.key, "alerts.email[0].starttls");
    // username and password_file come together.
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}username = \"unlistd\""
    ));
    assert_eq!(
        (e.key.as_str(), e.line),
        ("alerts.email[0].password_file", Some(8))
    );
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}password_file = \"pw\""
    ));
    assert_eq!(e.key, "alerts.email[0].username");
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}username = \"u\"\npassword_file = \"missing\""
    ));
    assert_eq!(e.key, "alerts.email[0].password_file");
    // Addresses, URLs, unknown and inline-secret keys.
    let bad_to = [
        "to = []",
        "to = \"security@example.net\"",
        "to = [\"not an address\"]",
        "to = [42]",
    ];
    for to in bad_to {
        let e = err(&format!(
            "smtp = \"smtp://mail.example.net\"\nfrom = \"unlistd@example.net\"\n{to}"
        ));
        assert_eq!(e.key, "alerts.email[0].to", "{to}: {e}");
    }
    let e = err("smtp = \"smtp://mail.example.net\"\nfrom = \"nobody\"\nto = [\"a@example.net\"]");
    assert_eq!(e.key, "alerts.email[0].from");
    for smtp in [
        "https://mail.example.net",
        "smtp://",
        "smtp://mail.example.net/path",
        "not a url",
    ] {
        let e = err(&format!("smtp = \"{smtp}\"\n{base}"));
        assert_eq!(e.key, "alerts.email[0].smtp", "{smtp}: {e}");
    }
    let e = err(&format!(
        "smtp = \"smtp://u:inline-pass@mail.example.net\"\n{base}"
    ));
    assert_eq!(e.key, "alerts.email[0].smtp");
    assert!(!e.to_string().contains("inline-pass"), "{e}");
    let e = err(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}password = \"x\""
    ));
    assert_eq!(e.key, "password");
    let e = err(base);
    assert_eq!(e.key, "smtp");

    // Good tables: default ports, loopback "never", stable receiver ids,
    // and the password never in Debug.
    let settings = |email: &str| {
        let s = parse(email).unwrap_or_else(|e| panic!("{email}: {e}"));
        let c = s.alerts.channels[0].clone();
        let Channel::Email(e) = &c.channel else {
            panic!("not an email channel")
        };
        let dbg = format!("{:?}", s.alerts);
        assert!(!dbg.contains("s3cret"), "{dbg}");
        (c.receiver.clone(), e.port, e.tls, e.login.is_some())
    };
    use unlistd::alert::email::SmtpTls;
    let (r1, port, tls, login) = settings(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}username = \"u\"\npassword_file = \"pw\""
    ));
    assert_eq!((port, tls, login), (587, SmtpTls::Required, true));
    assert!(
        r1.starts_with("email:") && r1.len() == "email:".len() + 12,
        "{r1}"
    );
    let (r2, ..) = settings(&format!("smtp = \"smtp://mail.example.net\"\n{base}"));
    assert_eq!(
        r1, r2,
        "the receiver id depends on where mail goes, not on the login"
    );
    let (r3, ..) = settings(
        "smtp = \"smtp://mail.example.net\"\nfrom = \"unlistd@example.net\"\nto = [\"noc@example.net\"]",
    );
    assert_ne!(r1, r3, "another recipient list is another receiver");
    let (_, port, tls, _) = settings(&format!("smtp = \"smtps://mail.example.net\"\n{base}"));
    assert_eq!((port, tls), (465, SmtpTls::Implicit));
    for host in ["127.0.0.1:2525", "localhost", "[::1]:25"] {
        let (_, _, tls, _) = settings(&format!(
            "smtp = \"smtp://{host}\"\n{base}starttls = \"never\""
        ));
        assert_eq!(tls, SmtpTls::Never, "{host}");
    }
    let (r, ..) = settings(&format!(
        "smtp = \"smtp://mail.example.net\"\n{base}starttls = \"opportunistic\"\nname = \"sec\""
    ));
    assert_eq!(r, "email:sec");

    // The binary exits 2 with FILE:LINE: KEY.
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"x.db\"\n\n[[alerts.email]]\nsmtp = \"smtp://mail.example.net\"\n{base}starttls = \"never\"\n"
        ),
    )
    .unwrap();
    let out = run_bin(&path, &["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!("{}:8: alerts.email[0].starttls:", path.display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn the_example_email_block_is_valid_but_for_its_missing_password_file() {
    // Uncommented, every key of config.toml's email example validates; only
    // the credential file (absent on a test machine) is missing.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config.toml")).unwrap();
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "# [[alerts.email]]")
        .take_while(|l| l.starts_with("# "))
        .map(|l| &l[2..])
        .collect();
    assert!(block.len() >= 7, "no email example in config.toml");
    let e = unlistd::config::parse(
        &format!("{text}\n{}\n", block.join("\n")),
        &root.join("config.toml"),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(e.key, "alerts.email[0].password_file", "{e}");
    assert!(e.message.contains("cannot read secret file"), "{e}");
}

/// The sink's own dialogue, spoken by hand: what lettre does not exercise
/// (sequence errors, RSET, dot-unstuffing, AUTH LOGIN, STARTTLS injection).
mod sink {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    use crate::common::smtp::{AuthAttempt, SinkOptions, SmtpSink, TestCa};

    struct Client(BufReader<TcpStream>);

    impl Client {
        /// Connects and returns the greeting.
        async fn connect(sink: &SmtpSink) -> (Client, String) {
            let tcp = TcpStream::connect(("127.0.0.1", sink.port)).await.unwrap();
            let mut c = Client(BufReader::new(tcp));
            let greeting = c.reply().await;
            (c, greeting)
        }

        /// One whole reply; continuation lines (`250-`) joined by `\n`.
        async fn reply(&mut self) -> String {
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                self.0.read_line(&mut line).await.unwrap();
                assert!(line.ends_with("\r\n"), "cut reply: {lines:?} {line:?}");
                let line = line.trim_end().to_string();
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line);
                if last {
                    return lines.join("\n");
                }
            }
        }

        async fn send(&mut self, line: &str) -> String {
            self.0
                .get_mut()
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
            self.reply().await
        }

        async fn code(&mut self, line: &str) -> u16 {
            let r = self.send(line).await;
            r[..3].parse().unwrap_or_else(|_| panic!("{line}: {r}"))
        }
    }

    #[tokio::test]
    async fn the_sink_speaks_smtp_requires_auth_and_refuses_the_first_mail() {
        let sink = SmtpSink::start(SinkOptions {
            login: Some(("unlistd".into(), "sink-pass".into())),
            refuse_first: 1,
            ..SinkOptions::default()
        });
        let (mut c, greeting) = Client::connect(&sink).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert_eq!(c.code("MAIL FROM:<a@example.net>").await, 503);
        let ehlo = c.send("EHLO client.test").await;
        assert!(ehlo.starts_with("250-") && ehlo.contains("\n250-AUTH PLAIN LOGIN"));
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(c.code("STARTTLS").await, 502);
        assert_eq!(c.code("MAIL FROM:<a@example.net>").await, 530);

        let plain = B64.encode("\0unlistd\0wrong-pass");
        assert_eq!(c.code(&format!("AUTH PLAIN {plain}")).await, 535);
        assert_eq!(c.code("AUTH CRAM-MD5").await, 504);
        assert_eq!(c.send("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
        assert_eq!(c.send(&B64.encode("unlistd")).await, "334 UGFzc3dvcmQ6");
        assert_eq!(c.code(&B64.encode("sink-pass")).await, 235);
        assert_eq!(c.code(&format!("AUTH PLAIN {plain}")).await, 503);

        assert_eq!(c.code("RCPT TO:<b@example.net>").await, 503);
        assert_eq!(c.code("MAIL FROM:<a@example.net>").await, 250);
        assert_eq!(c.code("MAIL FROM:<a@example.net>").await, 503);
        assert_eq!(c.code("RSET").await, 250);
        assert_eq!(c.code("DATA").await, 503, "RSET ends the transaction");
        assert_eq!(c.code("MAIL FROM a@example.net").await, 501);

        for (subject, code) in [("one", 451), ("two", 250)] {
            assert_eq!(c.code("MAIL FROM:<a@example.net> BODY=8BITMIME").await, 250);
            assert_eq!(c.code("RCPT TO:<b@example.net>").await, 250);
            assert_eq!(c.code("rcpt to:<c@example.net>").await, 250);
            assert_eq!(c.code("DATA").await, 354);
            let body = format!("Subject: {subject}\r\n\r\n..leading dot\r\n.");
            assert_eq!(c.code(&body).await, code, "{subject}");
        }
        assert_eq!(c.code("NOOP").await, 250);
        assert_eq!(c.code("WHAT").await, 500);
        assert_eq!(c.code("QUIT").await, 221);

        let [rejected] = &sink.rejected()[..] else {
            panic!("{:?}", sink.rejected())
        };
        assert_eq!(rejected.raw, b"Subject: one\r\n\r\n.leading dot\r\n");
        let [accepted] = &sink.accepted()[..] else {
            panic!("{:?}", sink.accepted())
        };
        assert_eq!(accepted.subject(), "two");
        assert_eq!(accepted.part("text/plain"), ".leading dot\r\n");
        assert_eq!(accepted.mail_from, "a@example.net");
        assert_eq!(accepted.rcpt_to, ["b@example.net", "c@example.net"]);
        assert_eq!(accepted.user.as_deref(), Some("unlistd"));
        assert!(!accepted.over_tls);
        let attempt = |mechanism: &str, ok| AuthAttempt {
            mechanism: mechanism.into(),
            user: "unlistd".into(),
            ok,
            over_tls: false,
        };
        assert_eq!(
            sink.auth_attempts(),
            [attempt("PLAIN", false), attempt("LOGIN", true)]
        );
    }

    #[tokio::test]
    async fn the_sink_drops_clear_text_sent_after_starttls() {
        let sink = SmtpSink::start(SinkOptions {
            starttls: Some(TestCa::new()),
            ..SinkOptions::default()
        });
        let (mut c, _) = Client::connect(&sink).await;
        assert_eq!(c.code("STARTTLS").await, 503, "EHLO first");
        let ehlo = c.send("EHLO client.test").await;
        assert!(ehlo.contains("\n250-STARTTLS"), "{ehlo}");
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        assert_eq!(c.code("AUTH PLAIN AHUAcA==").await, 502);
        // One write: the MAIL line is in the server's buffer before the
        // handshake would start, so it must not be taken as protected.
        c.0.get_mut()
            .write_all(b"STARTTLS\r\nMAIL FROM:<a@example.net>\r\n")
            .await
            .unwrap();
        assert!(c.reply().await.starts_with("220 "));
        let mut rest = Vec::new();
        c.0.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert_eq!(sink.tls_failures(), ["clear text pipelined after STARTTLS"]);
        let verbs: Vec<String> = sink.commands().into_iter().map(|c| c.verb).collect();
        assert_eq!(verbs, ["STARTTLS", "EHLO", "AUTH", "STARTTLS"]);
    }
}
