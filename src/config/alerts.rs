//! `[alerts]`: timings, the digest, and one table per receiver
//! (`[[alerts.webhook]]`, `slack`, `teams`, `pagerduty`, `email`), each
//! with its route filters. This file owns every channel's settings
//! ([`Channel`], [`EmailSettings`]), so `alert` reads them and `config`
//! never reaches up into `alert`.
//!
//! Adding a channel here: a variant of [`Channel`] (with [`Channel::kind`]),
//! its table in `RawAlerts` and a function that validates it into a
//! [`Table`], all in this file.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{ConfigError, Validator};
use crate::domain::incident::EventType;
use crate::domain::route::{Route, Routes};

#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub group_wait: Duration,
    pub repeat_interval: Duration,
    pub max_backoff: Duration,
    /// Linked from chat messages, when set.
    pub dashboard_url: Option<Url>,
    pub channels: Vec<ChannelSettings>,
    /// `[alerts] digest = "HH:MM"`: a daily digest at that time (UTC).
    pub digest_at: Option<time::Time>,
}

impl AlertSettings {
    /// Receiver ids, in configuration order (outbox rows are keyed by them).
    pub fn receivers(&self) -> Vec<String> {
        self.channels.iter().map(|w| w.receiver.clone()).collect()
    }

    /// Which receiver gets which events.
    pub fn routes(&self) -> Routes {
        Routes(self.channels.iter().map(|c| c.route.clone()).collect())
    }
}

pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One alert destination.
#[derive(Clone)]
pub struct ChannelSettings {
    /// Stable outbox key: `<kind>:<name>` or `<kind>:<hash of the URL>`,
    /// so reordering the config does not orphan pending messages.
    pub receiver: String,
    /// Where to POST. For Slack and Teams the URL itself is the secret.
    pub url: Url,
    pub channel: Channel,
    /// Which events this receiver gets (`events`, `sites`, `cohorts`).
    pub route: Route,
    /// Extra request headers read from secret files (`[alerts.webhook.headers]`,
    /// e.g. Splunk's `Authorization`); values never show in `Debug`.
    pub headers: crate::fetch::SecretHeaders,
}

#[derive(Clone)]
pub enum Channel {
    /// The contract's payload, signed per Standard Webhooks. `secret` is
    /// the HMAC key: a `whsec_` secret file's decoded bytes
    /// ([`super::webhook_key`]).
    Webhook { secret: Vec<u8> },
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams incoming webhook (Adaptive Card).
    Teams,
    /// PagerDuty Events API v2.
    PagerDuty { routing_key: String },
    /// SMTP; `url` is the `smtp` URL as configured.
    Email(Box<EmailSettings>),
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::PagerDuty { .. } => "pagerduty",
            Channel::Email(_) => "email",
        }
    }

    /// Whether the receiver may get the daily digest: a digest is not a
    /// page, so PagerDuty never does (and its default route leaves it out).
    pub fn takes_digest(&self) -> bool {
        !matches!(self, Channel::PagerDuty { .. })
    }

    /// What, besides the URL, tells two unnamed receivers of this kind
    /// apart in their receiver id.
    fn identity(&self) -> Vec<u8> {
        match self {
            Channel::PagerDuty { routing_key } => routing_key.as_bytes().to_vec(),
            // One relay may serve several recipient lists.
            Channel::Email(e) => {
                e.to.iter()
                    .flat_map(|to| {
                        let mut v = b"\n".to_vec();
                        v.extend_from_slice(to.to_string().as_bytes());
                        v
                    })
                    .collect()
            }
            Channel::Webhook { .. } | Channel::Slack | Channel::Teams => Vec::new(),
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets, routing keys and SMTP logins stay out of logs.
        f.debug_tuple("Channel").field(&self.kind()).finish()
    }
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Chat webhook URLs and keys are credentials: print neither.
        f.debug_struct("ChannelSettings")
            .field("receiver", &self.receiver)
            .field("kind", &self.channel.kind())
            .finish_non_exhaustive()
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `starttls = "required"`: no STARTTLS, no mail (and no credentials).
    Required,
    /// `starttls = "opportunistic"`: STARTTLS when offered, else in clear.
    Opportunistic,
    /// `starttls = "never"`: in clear; configuration allows it only for a
    /// loopback host.
    Never,
}

/// `username` and the contents of `password_file`.
#[derive(Clone)]
pub struct SmtpLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SmtpLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpLogin")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// One validated `[[alerts.email]]`.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Host name or IP address (no brackets), as given in `smtp`.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: Mailbox,
    /// Never empty.
    pub to: Vec<Mailbox>,
    pub login: Option<SmtpLogin>,
}

// ---------------------------------------------------------------------------
// The tables as written (shape only; see `raw.rs`).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub(super) group_wait: Option<Spanned<String>>,
    pub(super) repeat_interval: Option<Spanned<String>>,
    pub(super) max_backoff: Option<Spanned<String>>,
    pub(super) dashboard_url: Option<Spanned<String>>,
    pub(super) digest: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) webhook: Vec<RawWebhook>,
    #[serde(default)]
    pub(super) slack: Vec<RawChat>,
    #[serde(default)]
    pub(super) teams: Vec<RawChat>,
    #[serde(default)]
    pub(super) pagerduty: Vec<RawPagerDuty>,
    #[serde(default)]
    pub(super) email: Vec<RawEmail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChat {
    pub(super) url_file: Spanned<String>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<String>>>,
    pub(super) sites: Option<Spanned<Vec<String>>>,
    pub(super) cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPagerDuty {
    pub(super) routing_key_file: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<String>>>,
    pub(super) sites: Option<Spanned<Vec<String>>>,
    pub(super) cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    pub(super) smtp: Spanned<String>,
    pub(super) starttls: Option<Spanned<String>>,
    pub(super) from: Spanned<String>,
    /// A list of mailboxes; taken as any value so a wrong type still gets
    /// an error naming the key.
    pub(super) to: Spanned<toml::Value>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<String>>>,
    pub(super) sites: Option<Spanned<Vec<String>>>,
    pub(super) cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) url: Spanned<String>,
    pub(super) secret_file: Spanned<String>,
    /// `headers = { Authorization = { file = "..." } }`, like a site's.
    pub(super) headers:
        Option<Spanned<std::collections::BTreeMap<String, Spanned<super::header::RawHeader>>>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<String>>>,
    pub(super) sites: Option<Spanned<Vec<String>>>,
    pub(super) cohorts: Option<Spanned<Vec<String>>>,
}

/// One receiver table, validated, before it joins the list.
struct Table<'r> {
    /// `alerts.<kind>[i]`, for the filters' keys.
    prefix: String,
    /// The key a duplicate receiver is reported at, and where it sits.
    key: String,
    span: Range<usize>,
    name: &'r Option<Spanned<String>>,
    url: Url,
    channel: Channel,
    /// `events`, `sites`, `cohorts`.
    filters: [&'r Option<Spanned<Vec<String>>>; 3],
    headers: crate::fetch::SecretHeaders,
}

impl Validator<'_> {
    /// `[alerts]`; `site_names` are the configured sites (for `sites`
    /// filters).
    pub(super) fn alerts(
        &self,
        a: Option<&RawAlerts>,
        site_names: &[String],
    ) -> Result<AlertSettings, ConfigError> {
        let group_wait = self.opt_duration(
            "alerts.group_wait",
            &a.and_then(|a| a.group_wait.clone()),
            Duration::from_secs(30),
        )?;
        let repeat_interval = self.opt_duration(
            "alerts.repeat_interval",
            &a.and_then(|a| a.repeat_interval.clone()),
            Duration::from_secs(24 * 3600),
        )?;
        let max_backoff = self.opt_duration(
            "alerts.max_backoff",
            &a.and_then(|a| a.max_backoff.clone()),
            Duration::from_secs(300),
        )?;
        let digest_at = match a.and_then(|a| a.digest.as_ref()) {
            None => None,
            Some(d) => {
                let fmt = time::macros::format_description!("[hour]:[minute]");
                match time::Time::parse(d.get_ref().trim(), &fmt) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        return self.err(
                            "alerts.digest",
                            Some(d.span()),
                            "expected a time of day HH:MM (UTC), e.g. \"08:00\"",
                        );
                    }
                }
            }
        };
        let mut channels: Vec<ChannelSettings> = Vec::new();
        let mut dashboard_url = None;
        if let Some(a) = a {
            if let Some(d) = &a.dashboard_url {
                dashboard_url = Some(self.url("alerts.dashboard_url", d)?);
            }
            for (i, w) in a.webhook.iter().enumerate() {
                self.add(&mut channels, self.webhook(i, w)?, site_names)?;
            }
            for (kind, list) in [("slack", &a.slack), ("teams", &a.teams)] {
                for (i, c) in list.iter().enumerate() {
                    self.add(&mut channels, self.chat(kind, i, c)?, site_names)?;
                }
            }
            for (i, p) in a.pagerduty.iter().enumerate() {
                self.add(&mut channels, self.pagerduty(i, p)?, site_names)?;
            }
            for (i, e) in a.email.iter().enumerate() {
                self.add(&mut channels, self.email(i, e)?, site_names)?;
            }
        }
        Ok(AlertSettings {
            group_wait,
            repeat_interval,
            max_backoff,
            dashboard_url,
            channels,
            digest_at,
        })
    }

    /// `[[alerts.webhook]]`.
    fn webhook<'r>(&self, i: usize, w: &'r RawWebhook) -> Result<Table<'r>, ConfigError> {
        let k = |f: &str| format!("alerts.webhook[{i}].{f}");
        let url = self.url(&k("url"), &w.url)?;
        let secret = self.secret(&k("secret_file"), &w.secret_file)?;
        let secret = match super::webhook_key(&secret) {
            Ok(key) => key,
            Err(why) => {
                let path = self.relative(w.secret_file.get_ref());
                let message = format!("secret file {} {why}", path.display());
                return self.err(&k("secret_file"), Some(w.secret_file.span()), message);
            }
        };
        let headers = self.site_headers(&k("headers"), &w.headers)?;
        // The signature and the body's type are unlistd's to set.
        if let (Some(h), Some(name)) = (
            &w.headers,
            headers.map().keys().find(|n| {
                matches!(
                    n.as_str(),
                    "content-type" | "webhook-id" | "webhook-timestamp" | "webhook-signature"
                )
            }),
        ) {
            return self.err(
                &format!("{}.{}", k("headers"), name.as_str()),
                Some(h.span()),
                format!("{} is set by unlistd itself", name.as_str()),
            );
        }
        Ok(Table {
            headers,
            prefix: format!("alerts.webhook[{i}]"),
            key: k("url"),
            span: w.url.span(),
            name: &w.name,
            url,
            channel: Channel::Webhook { secret },
            filters: [&w.events, &w.sites, &w.cohorts],
        })
    }

    /// `[[alerts.slack]]` and `[[alerts.teams]]`: the URL is the secret.
    fn chat<'r>(&self, kind: &str, i: usize, c: &'r RawChat) -> Result<Table<'r>, ConfigError> {
        let key = format!("alerts.{kind}[{i}].url_file");
        let url = self.url_from_file(&key, &c.url_file)?;
        Ok(Table {
            prefix: format!("alerts.{kind}[{i}]"),
            key,
            span: c.url_file.span(),
            name: &c.name,
            url,
            channel: if kind == "slack" {
                Channel::Slack
            } else {
                Channel::Teams
            },
            filters: [&c.events, &c.sites, &c.cohorts],
            headers: Default::default(),
        })
    }

    /// `[[alerts.pagerduty]]`.
    fn pagerduty<'r>(&self, i: usize, p: &'r RawPagerDuty) -> Result<Table<'r>, ConfigError> {
        let k = |f: &str| format!("alerts.pagerduty[{i}].{f}");
        let routing_key = self.secret(&k("routing_key_file"), &p.routing_key_file)?;
        let routing_key = String::from_utf8(routing_key)
            .ok()
            .filter(|r| r.bytes().all(|b| b.is_ascii_graphic()));
        let Some(routing_key) = routing_key else {
            return self.err(
                &k("routing_key_file"),
                Some(p.routing_key_file.span()),
                "routing key must be printable ASCII",
            );
        };
        let url = match &p.url {
            Some(u) => self.url(&k("url"), u)?,
            None => Url::parse(PAGERDUTY_URL).expect("constant URL parses"),
        };
        Ok(Table {
            prefix: format!("alerts.pagerduty[{i}]"),
            key: k("routing_key_file"),
            span: p.routing_key_file.span(),
            name: &p.name,
            url,
            channel: Channel::PagerDuty { routing_key },
            filters: [&p.events, &p.sites, &p.cohorts],
            headers: Default::default(),
        })
    }

    /// `[[alerts.email]]`.
    fn email<'r>(&self, i: usize, e: &'r RawEmail) -> Result<Table<'r>, ConfigError> {
        let (url, email) = self.email_settings(i, e)?;
        Ok(Table {
            prefix: format!("alerts.email[{i}]"),
            key: format!("alerts.email[{i}].smtp"),
            span: e.smtp.span(),
            name: &e.name,
            url,
            channel: Channel::Email(Box::new(email)),
            filters: [&e.events, &e.sites, &e.cohorts],
            headers: Default::default(),
        })
    }

    /// Names the receiver, refuses a duplicate, applies the route filters
    /// and appends it.
    fn add(
        &self,
        channels: &mut Vec<ChannelSettings>,
        t: Table<'_>,
        site_names: &[String],
    ) -> Result<(), ConfigError> {
        let kind = t.channel.kind();
        let receiver = match t.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return self.err(&t.key, Some(n.span()), "name must not be empty");
            }
            Some(n) => format!("{kind}:{}", n.get_ref().trim()),
            None => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(t.url.as_str().as_bytes());
                h.update(t.channel.identity());
                format!("{kind}:{}", &hex::encode(h.finalize())[..12])
            }
        };
        if channels.iter().any(|o| o.receiver == receiver) {
            return self.err(&t.key, Some(t.span), "duplicate alert receiver");
        }
        let mut route = Route::all(receiver.clone());
        if !t.channel.takes_digest() {
            route.events = Some(
                EventType::ALL
                    .into_iter()
                    .filter(|e| *e != EventType::Digest)
                    .collect(),
            );
        }
        let mut ch = ChannelSettings {
            receiver,
            url: t.url,
            channel: t.channel,
            route,
            headers: t.headers,
        };
        self.route(&mut ch, &t.prefix, t.filters, site_names)?;
        channels.push(ch);
        Ok(())
    }

    /// Applies a receiver's `events`, `sites` and `cohorts` filters.
    fn route(
        &self,
        ch: &mut ChannelSettings,
        prefix: &str,
        keys: [&Option<Spanned<Vec<String>>>; 3],
        site_names: &[String],
    ) -> Result<(), ConfigError> {
        let [events, sites, cohorts] = keys;
        if let Some(ev) = events {
            let key = format!("{prefix}.events");
            let mut list = Vec::new();
            for e in ev.get_ref() {
                let Some(t) = EventType::parse(e) else {
                    let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                    return self.err(
                        &key,
                        Some(ev.span()),
                        format!("unknown event type {e:?} (known: {})", known.join(", ")),
                    );
                };
                if t == EventType::Digest && !ch.channel.takes_digest() {
                    return self.err(
                        &key,
                        Some(ev.span()),
                        "a digest is not a page: PagerDuty cannot take \"digest\"",
                    );
                }
                list.push(t);
            }
            if list.is_empty() {
                return self.err(&key, Some(ev.span()), "must name at least one event type");
            }
            ch.route.events = Some(list);
        }
        if let Some(ss) = sites {
            let key = format!("{prefix}.sites");
            for n in ss.get_ref() {
                if !site_names.contains(n) {
                    return self.err(&key, Some(ss.span()), format!("no [[sites]] named {n:?}"));
                }
            }
            if ss.get_ref().is_empty() {
                return self.err(&key, Some(ss.span()), "must name at least one site");
            }
            ch.route.sites = Some(ss.get_ref().clone());
        }
        if let Some(cs) = cohorts {
            let key = format!("{prefix}.cohorts");
            if cs.get_ref().is_empty() || cs.get_ref().iter().any(|c| c.trim().is_empty()) {
                return self.err(&key, Some(cs.span()), "must list non-empty cohort tags");
            }
            ch.route.cohorts = Some(cs.get_ref().clone());
        }
        Ok(())
    }

    /// One `[[alerts.email]]`: the SMTP URL (for the receiver id) and the
    /// settings the mailer needs.
    fn email_settings(&self, i: usize, e: &RawEmail) -> Result<(Url, EmailSettings), ConfigError> {
        let k = |f: &str| format!("alerts.email[{i}].{f}");
        let (url, host, port, tls) = self.smtp_endpoint(&k, e)?;
        let mailbox = |key: &str, at: std::ops::Range<usize>, s: &str| {
            s.trim().parse::<Mailbox>().or_else(|err| {
                self.err(key, Some(at), format!("{s:?} is not a mail address: {err}"))
            })
        };
        let from = mailbox(&k("from"), e.from.span(), e.from.get_ref())?;
        let toml::Value::Array(to_list) = e.to.get_ref() else {
            return self.err(
                &k("to"),
                Some(e.to.span()),
                "expected a list of addresses, e.g. [\"security@example.net\"]",
            );
        };
        if to_list.is_empty() {
            return self.err(&k("to"), Some(e.to.span()), "needs at least one address");
        }
        let mut to = Vec::new();
        for v in to_list {
            match v.as_str() {
                Some(s) => to.push(mailbox(&k("to"), e.to.span(), s)?),
                None => return self.err(&k("to"), Some(e.to.span()), "addresses must be strings"),
            }
        }
        let login = self.smtp_login(&k, e)?;
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if let (SmtpTls::Opportunistic, Some(_), false, Some(v)) =
            (tls, &login, loopback, &e.starttls)
        {
            // A server (or anyone on the path) that does not offer STARTTLS
            // would get the password in clear.
            return self.err(
                &k("starttls"),
                Some(v.span()),
                "\"opportunistic\" with username and password_file would send the password in \
                 clear to a server that does not offer STARTTLS: use \"required\" (allowed only \
                 for a loopback smtp host)",
            );
        }
        Ok((
            url,
            EmailSettings {
                host,
                port,
                tls,
                from,
                to,
                login,
            },
        ))
    }

    /// `smtp` and `starttls`: the URL, host, port and how the connection is
    /// protected.
    fn smtp_endpoint(
        &self,
        k: &dyn Fn(&str) -> String,
        e: &RawEmail,
    ) -> Result<(Url, String, u16, SmtpTls), ConfigError> {
        let smtp = &e.smtp;
        let url = match Url::parse(smtp.get_ref().trim()) {
            Ok(u) => u,
            Err(err) => {
                return self.err(&k("smtp"), Some(smtp.span()), format!("not a URL: {err}"));
            }
        };
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return self.err(
                    &k("smtp"),
                    Some(smtp.span()),
                    format!("unsupported scheme {other:?}; use smtp:// (STARTTLS) or smtps:// (implicit TLS)"),
                );
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL: it holds a credential.
            return self.err(
                &k("smtp"),
                Some(smtp.span()),
                "credentials do not belong in the URL; use username and password_file",
            );
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return self.err(
                &k("smtp"),
                Some(smtp.span()),
                "expected smtp[s]://HOST[:PORT] and nothing more",
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() && !d.contains('%') => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return self.err(&k("smtp"), Some(smtp.span()), "URL has no usable host"),
        };
        let port = match url.port() {
            Some(0) => return self.err(&k("smtp"), Some(smtp.span()), "port must not be 0"),
            Some(p) => p,
            None if implicit => 465,
            None => 587,
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let tls = match (&e.starttls, implicit) {
            (None, true) => SmtpTls::Implicit,
            (None, false) => SmtpTls::Required,
            (Some(v), _) => {
                match (v.get_ref().trim(), implicit) {
                    ("required", true) => SmtpTls::Implicit,
                    (_, true) => {
                        return self.err(
                            &k("starttls"),
                            Some(v.span()),
                            "smtps:// is TLS from the start; starttls applies to smtp:// only",
                        );
                    }
                    ("required", false) => SmtpTls::Required,
                    ("opportunistic", false) => SmtpTls::Opportunistic,
                    ("never", false) if loopback => SmtpTls::Never,
                    ("never", false) => {
                        return self.err(
                        &k("starttls"),
                        Some(v.span()),
                        "\"never\" sends mail and credentials in clear: allowed only for a loopback smtp host (127.0.0.0/8, ::1, localhost); use \"required\"",
                    );
                    }
                    (other, false) => {
                        return self.err(
                        &k("starttls"),
                        Some(v.span()),
                        format!("expected \"required\", \"opportunistic\" or \"never\", got {other:?}"),
                    );
                    }
                }
            }
        };
        Ok((url, host, port, tls))
    }

    /// `username` and `password_file`: both or neither.
    fn smtp_login(
        &self,
        k: &dyn Fn(&str) -> String,
        e: &RawEmail,
    ) -> Result<Option<SmtpLogin>, ConfigError> {
        Ok(match (&e.username, &e.password_file) {
            (None, None) => None,
            (Some(u), None) => {
                return self.err(
                    &k("password_file"),
                    Some(u.span()),
                    "username needs password_file (the SMTP password is read from a file)",
                );
            }
            (None, Some(p)) => {
                return self.err(
                    &k("username"),
                    Some(p.span()),
                    "password_file needs a username",
                );
            }
            (Some(u), Some(p)) => {
                if u.get_ref().trim().is_empty() {
                    return self.err(&k("username"), Some(u.span()), "must not be empty");
                }
                let Ok(password) = String::from_utf8(self.secret(&k("password_file"), p)?) else {
                    return self.err(
                        &k("password_file"),
                        Some(p.span()),
                        "the password must be UTF-8 text",
                    );
                };
                Some(SmtpLogin {
                    username: u.get_ref().trim().to_string(),
                    password,
                })
            }
        })
    }
}
