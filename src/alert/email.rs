//! The email channel: `[[alerts.email]]` over SMTP (lettre, rustls).
//!
//! The outbox stores one formed body per message, so the body here is a
//! small JSON document (`subject`, `text`, `html`) formed once; every
//! attempt turns that same document into the same multipart/alternative
//! mail, with a `Message-ID` and `Date` taken from the outbox row. A mail
//! retried after a crash is therefore recognisably the same mail.
//!
//! Like every channel, a mail names entries by `entry_ref` and masked
//! number only. The SMTP password lives in [`SmtpLogin`], whose `Debug`
//! redacts it, and is scrubbed from every error before it is recorded.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use super::Failure;
use super::format::{Context, detail_lines, headline_for};
pub use crate::config::{EmailSettings, SmtpLogin, SmtpTls};
use crate::domain::incident::EventType;
use crate::store::{EventIncident, Ts};
use crate::wire::rfc3339;

/// Incidents listed one by one in a mail; the rest are counted.
pub const FIRST_N: usize = 50;

/// lettre applies this to the TCP connect only (on tokio).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds a whole attempt: lettre has no read timeout on tokio, so a
/// server that stops answering would otherwise hold the receiver's queue
/// forever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The formed body.

/// `[unlistd] exposure.opened on 118.dk: 500 incidents`.
pub fn subject(event: EventType, site: &str, n: usize) -> String {
    match event {
        EventType::ExposureOpened
        | EventType::ExposureResolved
        | EventType::ExposureReminder
        | EventType::ExposureOverdue => {
            let incidents = if n == 1 { "incident" } else { "incidents" };
            format!("[unlistd] {} on {site}: {n} {incidents}", event.as_str())
        }
        EventType::SiteDegraded | EventType::SiteRecovered => {
            format!("[unlistd] {} on {site}", event.as_str())
        }
        EventType::Digest => "[unlistd] daily digest".to_string(),
        EventType::ReceiverFailing | EventType::ReceiverRecovered => {
            format!("[unlistd] {}", event.as_str())
        }
    }
}

fn exposed(i: &EventIncident) -> String {
    i.exposed
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn more(n: usize) -> Option<String> {
    (n > FIRST_N).then(|| {
        format!(
            "… and {} more (full list in the API and reports)",
            n - FIRST_N
        )
    })
}

fn text(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line(&headline_for(event, site, incidents, ctx.details.as_ref()));
    line("");
    line(&format!("Event:     {}", event.as_str()));
    line(&format!("Site:      {site}"));
    if event.is_exposure() {
        line(&format!("Incidents: {}", incidents.len()));
    }
    if let Some(d) = detail_lines(event, ctx.details.as_ref()) {
        line("");
        for l in d.lines() {
            line(l);
        }
    }
    if !incidents.is_empty() {
        line("");
        for i in incidents.iter().take(FIRST_N) {
            line(&format!(
                "- {}  {}  exposed: {}  state: {}  first seen {}  last seen {}",
                i.entry_ref,
                i.masked_number,
                exposed(i),
                i.state.as_str(),
                rfc3339(i.first_seen),
                rfc3339(i.last_seen),
            ));
        }
        if let Some(m) = more(incidents.len()) {
            line(&m);
        }
    }
    if let Some(url) = &ctx.dashboard_url {
        line("");
        line(&format!("Dashboard: {url}"));
    }
    line("");
    line("-- ");
    line("unlistd names roster entries by reference and masked number only.");
    out
}

fn html(
    event: EventType,
    site: &str,
    incidents: &[EventIncident],
    ctx: &Context,
    subject: &str,
) -> String {
    use maud::{DOCTYPE, html};
    let cell = "border:1px solid #ccc;padding:4px 8px;text-align:left";
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (subject) }
            }
            body style="font-family:sans-serif" {
                p { strong { (headline_for(event, site, incidents, ctx.details.as_ref())) } }
                p {
                    "Event: " code { (event.as_str()) }
                    " · Site: " (site)
                    @if event.is_exposure() {
                        " · Incidents: " (incidents.len())
                    }
                }
                @if let Some(d) = detail_lines(event, ctx.details.as_ref()) {
                    @for l in d.lines() {
                        p { (l) }
                    }
                }
                @if !incidents.is_empty() {
                    table style="border-collapse:collapse" {
                        thead { tr {
                            th style=(cell) { "Entry ref" }
                            th style=(cell) { "Number" }
                            th style=(cell) { "Exposed" }
                            th style=(cell) { "State" }
                            th style=(cell) { "First seen" }
                            th style=(cell) { "Last seen" }
                        } }
                        tbody {
                            @for i in incidents.iter().take(FIRST_N) {
                                tr {
                                    td style=(cell) { code { (i.entry_ref) } }
                                    td style=(cell) { (i.masked_number) }
                                    td style=(cell) { (exposed(i)) }
                                    td style=(cell) { (i.state.as_str()) }
                                    td style=(cell) { (rfc3339(i.first_seen)) }
                                    td style=(cell) { (rfc3339(i.last_seen)) }
                                }
                            }
                        }
                    }
                    @if let Some(m) = more(incidents.len()) {
                        p { (m) }
                    }
                }
                @if let Some(url) = &ctx.dashboard_url {
                    p { a href=(url) { "Open the unlistd dashboard" } }
                }
                p style="color:#666;font-size:small" {
                    "unlistd names roster entries by reference and masked number only."
                }
            }
        }
    }
    .into_string()
}

/// The stored body of one email message: JSON with `subject`, `text` and
/// `html`, formed once so every retry sends the same mail.
pub fn body(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    let subject = subject(event, site, incidents.len());
    json!({
        "subject": subject,
        "text": text(event, site, incidents, ctx),
        "html": html(event, site, incidents, ctx, &subject),
    })
    .to_string()
}

// ---------------------------------------------------------------------------
// Sending.

/// RFC 3834: tells auto-responders (vacation replies) to stay quiet.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Sends one receiver's mails. The transport (and its connection pool) is
/// built on first use, inside the runtime its pool needs.
pub struct Mailer {
    settings: EmailSettings,
    transport: OnceLock<Result<Transport, String>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("tls", &self.settings.tls)
            .finish_non_exhaustive()
    }
}

fn transport(s: &EmailSettings) -> Result<Transport, lettre::transport::smtp::Error> {
    let builder = match s.tls {
        SmtpTls::Implicit => Transport::relay(&s.host)?,
        SmtpTls::Required => Transport::starttls_relay(&s.host)?,
        SmtpTls::Opportunistic => Transport::builder_dangerous(&s.host)
            .tls(Tls::Opportunistic(TlsParameters::new(s.host.clone())?)),
        SmtpTls::Never => Transport::builder_dangerous(&s.host).tls(Tls::None),
    };
    // No idle connections kept: an attempt cut off by ATTEMPT_TIMEOUT
    // leaves its connection mid-dialogue, and the pool would hand that
    // confused connection to the next attempt. Alerts are rare; a fresh
    // connection each time costs little.
    let mut builder = builder
        .port(s.port)
        .timeout(Some(CONNECT_TIMEOUT))
        .pool_config(PoolConfig::new().max_size(0));
    if let Some(l) = &s.login {
        builder = builder.credentials(Credentials::new(l.username.clone(), l.password.clone()));
    }
    Ok(builder.build())
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> Mailer {
        Mailer {
            settings: settings.clone(),
            transport: OnceLock::new(),
        }
    }

    /// Error text fit for logs and `status`: the password never appears,
    /// whatever a server or library chose to echo.
    fn scrub(&self, msg: String) -> String {
        match &self.settings.login {
            Some(l) if !l.password.is_empty() && msg.contains(&l.password) => {
                msg.replace(&l.password, "[REDACTED]")
            }
            _ => msg,
        }
    }

    /// The mail for outbox message `id`, formed at `created_at` with `body`.
    pub fn message(&self, id: &str, created_at: Ts, body: &str) -> Result<Message, String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("stored body: {e}"))?;
        let field = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("stored body has no {k:?}"))
        };
        let (subject, text, html) = (field("subject")?, field("text")?, field("html")?);
        let s = &self.settings;
        let mut b = Message::builder()
            .from(s.from.clone())
            .subject(subject)
            // Derived from the outbox id: every attempt is the same mail.
            .message_id(Some(format!("<{id}@{}>", s.from.email.domain())))
            .date(SystemTime::from(created_at))
            .user_agent(format!("unlistd/{}", env!("CARGO_PKG_VERSION")))
            .header(AutoSubmitted);
        for to in &s.to {
            b = b.to(to.clone());
        }
        // A fixed boundary keeps retries byte-identical; the parts are
        // transfer-encoded, so the boundary text cannot occur inside them.
        let parts = MultiPart::alternative()
            .boundary(format!("unlistd-{id}"))
            .singlepart(SinglePart::plain(text))
            .singlepart(SinglePart::html(html));
        b.multipart(parts)
            .map_err(|e| format!("cannot build the mail: {e}"))
    }

    /// One delivery attempt. `Ok` carries the server's final reply code
    /// (250); every failure, permanent (5xx) or not, is a [`Failure`] the
    /// dispatcher retries with backoff, as for webhooks.
    pub async fn send(&self, id: &str, created_at: Ts, body: &str) -> Result<u16, Failure> {
        let fail = |status: Option<u16>, error: String| Failure {
            status,
            error,
            retry_after: None,
        };
        let msg = self
            .message(id, created_at, body)
            .map_err(|e| fail(None, e))?;
        let transport = self
            .transport
            .get_or_init(|| transport(&self.settings).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| fail(None, format!("SMTP setup: {}", self.scrub(e.clone()))))?;
        match tokio::time::timeout(ATTEMPT_TIMEOUT, transport.send(msg)).await {
            Ok(Ok(resp)) => Ok(u16::from(resp.code())),
            Ok(Err(e)) => Err(fail(
                e.status().map(u16::from),
                self.scrub(format!("SMTP {e}")),
            )),
            Err(_) => Err(fail(
                None,
                format!(
                    "SMTP attempt timed out after {}s",
                    ATTEMPT_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExposedField;
    use crate::domain::incident::IncidentState;

    fn inc(refs: &[&str]) -> Vec<EventIncident> {
        refs.iter()
            .map(|r| EventIncident {
                id: format!("inc_{r}"),
                entry_ref: r.to_string(),
                masked_number: "+45 13 50 •• ••".into(),
                exposed: vec![ExposedField::Number, ExposedField::Address],
                state: IncidentState::Open,
                first_seen: time::OffsetDateTime::UNIX_EPOCH,
                last_seen: time::OffsetDateTime::UNIX_EPOCH,
                resolved_at: None,
                cohort: None,
                cohort_size: 0,
                exposed_in_cohort: 0,
            })
            .collect()
    }

    fn settings() -> EmailSettings {
        EmailSettings {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::Never,
            from: "unlistd <unlistd@example.net>".parse().unwrap(),
            to: vec![
                "security@example.net".parse().unwrap(),
                "noc@example.net".parse().unwrap(),
            ],
            login: Some(SmtpLogin {
                username: "unlistd".into(),
                password: "hunter2-smtp".into(),
            }),
        }
    }

    #[test]
    fn a_digest_mail_carries_the_figures() {
        let ctx = Context {
            details: Some(serde_json::json!({
                "open_incidents": 2, "probes_24h": 900, "roster_size": 10,
                "sites": [{"name": "118.dk", "state": "healthy", "clean": 890, "exposed": 2,
                           "inconclusive": 8, "oldest_probe_age_seconds": 7200}],
                "audit_head": {"seq": 42, "hash": "ab12"},
            })),
            ..Context::default()
        };
        assert_eq!(subject(EventType::Digest, "*", 0), "[unlistd] daily digest");
        let t = text(EventType::Digest, "*", &[], &ctx);
        assert!(t.contains("2 open incident(s), 900 probes"), "{t}");
        assert!(t.contains("118.dk: healthy"), "{t}");
        assert!(t.contains("Audit chain head: #42 ab12"), "{t}");
    }

    #[test]
    fn body_escapes_html_and_counts_the_rest() {
        let ctx = Context {
            dashboard_url: Some("https://unlistd.example.net/dashboard?a=1&b=2".into()),
            remaining_open: 0,
            details: None,
            takedown_contact: None,
        };
        let mut incidents = inc(&["R-<b>&\"x\"", "R-2"]);
        let many: Vec<String> = (0..60).map(|i| format!("B-{i:03}")).collect();
        incidents.extend(inc(&many.iter().map(String::as_str).collect::<Vec<_>>()));
        let v: Value =
            serde_json::from_str(&body(EventType::ExposureOpened, "118.dk", &incidents, &ctx))
                .unwrap();
        assert_eq!(
            v["subject"],
            "[unlistd] exposure.opened on 118.dk: 62 incidents"
        );
        let text = v["text"].as_str().unwrap();
        let html = v["html"].as_str().unwrap();
        // Plain text carries the ref as is; HTML escapes it.
        assert!(text.contains("- R-<b>&\"x\"  +45 13 50 •• ••  exposed: number, address"));
        assert!(html.contains("R-&lt;b&gt;&amp;&quot;x&quot;"), "{html}");
        assert!(!html.contains("<b>&"), "{html}");
        assert!(html.contains("href=\"https://unlistd.example.net/dashboard?a=1&amp;b=2\""));
        assert!(text.contains("Dashboard: https://unlistd.example.net/dashboard?a=1&b=2"));
        // The first FIRST_N are listed, the rest counted, in both parts.
        assert!(text.contains("B-047") && !text.contains("B-048"));
        assert!(html.contains("B-047") && !html.contains("B-048"));
        assert!(text.contains("… and 12 more") && html.contains("… and 12 more"));
        assert!(text.contains("1970-01-01T00:00:00Z"));
        // Numbers appear masked only: no eight digits in a row, spaces or not.
        for part in [text, html] {
            let digits: String = part.chars().filter(|c| *c != ' ').collect();
            let longest = digits
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max();
            assert!(longest < Some(8), "{part}");
        }

        let one = body(
            EventType::ExposureResolved,
            "krak.dk",
            &inc(&["R-1"]),
            &Context::default(),
        );
        let v: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(
            v["subject"],
            "[unlistd] exposure.resolved on krak.dk: 1 incident"
        );
        assert!(!v["text"].as_str().unwrap().contains("Dashboard"));
        let site = body(EventType::SiteDegraded, "118.dk", &[], &Context::default());
        let v: Value = serde_json::from_str(&site).unwrap();
        assert_eq!(v["subject"], "[unlistd] site.degraded on 118.dk");
        assert!(!v["text"].as_str().unwrap().contains("Incidents:"));
    }

    #[test]
    fn the_mail_is_stable_and_carries_no_full_number() {
        let mailer = Mailer::new(&settings());
        let b = body(
            EventType::ExposureOpened,
            "118.dk",
            &inc(&["R-02"]),
            &Context::default(),
        );
        let at = time::macros::datetime!(2026-11-27 21:40:00.123 UTC);
        let raw =
            |id: &str| String::from_utf8(mailer.message(id, at, &b).unwrap().formatted()).unwrap();
        let first = raw("msg_0123456789abcdef0123456789");
        assert_eq!(
            first,
            raw("msg_0123456789abcdef0123456789"),
            "retries are byte-identical"
        );
        assert_ne!(first, raw("msg_ffffffffffffffffffffffffff"));
        assert!(
            first.contains("Message-ID: <msg_0123456789abcdef0123456789@example.net>"),
            "{first}"
        );
        assert!(
            first.contains("Date: Fri, 27 Nov 2026 21:40:00 +0000"),
            "{first}"
        );
        assert!(first.contains("Auto-Submitted: auto-generated"));
        assert!(
            first.contains("To: security@example.net, noc@example.net"),
            "{first}"
        );
        assert!(first.contains("multipart/alternative"));
        assert!(first.contains("text/plain") && first.contains("text/html"));
        // A stored body that is not ours is an error, not a panic.
        assert!(mailer.message("msg_x", at, "not json").is_err());
        assert!(mailer.message("msg_x", at, "{}").is_err());
    }

    #[test]
    fn the_password_stays_out_of_debug_and_errors() {
        let s = settings();
        assert!(!format!("{s:?}").contains("hunter2"));
        let mailer = Mailer::new(&s);
        assert!(!format!("{mailer:?}").contains("hunter2"));
        assert_eq!(
            mailer.scrub("535 bad credentials hunter2-smtp for unlistd".into()),
            "535 bad credentials [REDACTED] for unlistd"
        );
    }
}
