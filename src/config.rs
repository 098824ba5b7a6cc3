//! Configuration: TOML text → [`RawConfig`] (shape only) → [`Settings`]
//! (validated, typed, ready to use).
//!
//! Nothing downstream re-validates strings: durations are `Duration`s,
//! rates are [`Rate`]s, URLs are parsed, secrets are read from their files
//! and selectors compiled. Every error names the file, the line where the
//! TOML parser or the offending value sits, and the key, so `unlistd` can
//! exit 2 with a message an operator can act on.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use lettre::message::Mailbox;

use crate::alert::email::{EmailSettings, SmtpLogin, SmtpTls};
use crate::domain::E164;
use crate::domain::incident::EventType;
use crate::domain::route::{Route, Routes};
use crate::fetch::{ProxyUrl, Rate, RobotsPolicy, SecretHeaders, SitePolicy, is_loopback_url};
use crate::sites::declarative::{Declarative, DeclarativeSpec};
use crate::sites::eniro::Eniro;
use crate::sites::{Adapter, dk118::Dk118};
use crate::store::Retention;

/// A configuration problem; `Display` is `FILE:LINE: KEY: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

// ---------------------------------------------------------------------------
// Raw shape, as written by the operator.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    store: Option<RawStore>,
    api: Option<RawApi>,
    scan: Option<RawScan>,
    #[serde(default)]
    sites: Vec<RawSite>,
    alerts: Option<RawAlerts>,
    report: Option<RawReport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Spanned<String>,
    evidence_retention: Option<Spanned<String>>,
    roster_retention: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    signing_key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    max_staleness: Option<Spanned<String>>,
    resolve_after_clean: Option<Spanned<i64>>,
    user_agent: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Spanned<String>,
    adapter: Spanned<String>,
    base_url: Spanned<String>,
    rate: Spanned<String>,
    #[serde(default = "yes")]
    enabled: bool,
    no_results: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<i64>>,
    max_retries: Option<Spanned<i64>>,
    canaries: Option<Spanned<Vec<String>>>,
    absent_canaries: Option<Spanned<Vec<String>>>,
    canary_interval: Option<Spanned<String>>,
    declarative: Option<Spanned<DeclarativeSpec>>,
    headers: Option<Spanned<BTreeMap<String, Spanned<RawHeader>>>>,
    proxy: Option<Spanned<String>>,
    proxy_file: Option<Spanned<String>>,
    robots_txt: Option<Spanned<bool>>,
    robots_txt_reason: Option<Spanned<String>>,
}

/// `[sites.headers] "Name" = { file = "..." }`: the value is a secret, so it
/// only ever comes from a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    file: Spanned<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    group_wait: Option<Spanned<String>>,
    repeat_interval: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
    dashboard_url: Option<Spanned<String>>,
    digest: Option<Spanned<String>>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    slack: Vec<RawChat>,
    #[serde(default)]
    teams: Vec<RawChat>,
    #[serde(default)]
    pagerduty: Vec<RawPagerDuty>,
    #[serde(default)]
    email: Vec<RawEmail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    url_file: Spanned<String>,
    name: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    sites: Option<Spanned<Vec<String>>>,
    cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerDuty {
    routing_key_file: Spanned<String>,
    url: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    sites: Option<Spanned<Vec<String>>>,
    cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp: Spanned<String>,
    starttls: Option<Spanned<String>>,
    from: Spanned<String>,
    /// A list of mailboxes; taken as any value so a wrong type still gets
    /// an error naming the key.
    to: Spanned<toml::Value>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    sites: Option<Spanned<Vec<String>>>,
    cohorts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Spanned<String>,
    secret_file: Spanned<String>,
    name: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    sites: Option<Spanned<Vec<String>>>,
    cohorts: Option<Spanned<Vec<String>>>,
}

// ---------------------------------------------------------------------------
// Validated settings.

/// Everything the daemon and the commands need, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file these settings came from (for messages).
    pub source: PathBuf,
    pub store_path: PathBuf,
    pub api: ApiSettings,
    pub scan: ScanSettings,
    pub sites: Vec<SiteSettings>,
    pub alerts: AlertSettings,
    /// `[store] evidence_retention` and `roster_retention`.
    pub retention: Retention,
    pub report: ReportSettings,
}

/// `[report]`.
#[derive(Clone, Default)]
pub struct ReportSettings {
    /// The HMAC key from `signing_key_file`; without it reports are signed
    /// with a random key kept beside the store (`report-key`, mode 0600).
    pub signing_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for ReportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportSettings")
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Default `[store] evidence_retention`: 400 days.
pub const DEFAULT_EVIDENCE_RETENTION: Duration = Duration::from_secs(400 * 86400);
/// Default `[store] roster_retention`: 30 days.
pub const DEFAULT_ROSTER_RETENTION: Duration = Duration::from_secs(30 * 86400);

#[derive(Clone)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// Bearer token for `/api/v1/*`; without one those routes answer 401.
    pub token: Option<Vec<u8>>,
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub max_staleness: Duration,
    pub resolve_after_clean: u32,
}

#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub name: String,
    pub enabled: bool,
    /// Publicly listed numbers this site must show (else it is degraded).
    pub canaries: Vec<E164>,
    /// Unlisted numbers this site must not show (catches over-matching).
    pub absent_canaries: Vec<E164>,
    pub canary_interval: Duration,
    pub adapter: Adapter,
    pub policy: SitePolicy,
}

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
}

#[derive(Clone)]
pub enum Channel {
    /// The contract's payload, signed per Standard Webhooks.
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

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";
pub const DEFAULT_USER_AGENT: &str = concat!(
    "unlistd/",
    env!("CARGO_PKG_VERSION"),
    " (unlisted-number leak monitor run by the subscriber's telephone operator)"
);

/// The config file to use: `--config`, else `./config.toml`, else
/// `/etc/unlistd/config.toml`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    for candidate in ["config.toml", "/etc/unlistd/config.toml"] {
        let p = PathBuf::from(candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ConfigError {
        file: "config.toml".into(),
        line: None,
        key: "--config".into(),
        message: "no ./config.toml or /etc/unlistd/config.toml; pass --config PATH".into(),
    })
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    parse(&read(path)?, path)
}

/// A config file's text, for [`parse`].
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: None,
        key: "(file)".into(),
        message: format!("cannot read: {e}"),
    })
}

/// Validates config text; `path` names the file in errors and anchors
/// relative paths (store, secret files) to its directory.
pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let v = Validator { text, path };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| v.line_of(s.start));
        let msg = e.message().to_string();
        // serde's "unknown field `x`" already names the key; keep it whole.
        let key = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
            .unwrap_or("(syntax)")
            .to_string();
        ConfigError {
            file: path.display().to_string(),
            line,
            key,
            message: msg,
        }
    })?;
    v.settings(raw)
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        key: &str,
        at: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError {
            file: self.path.display().to_string(),
            line: at.map(|s| self.line_of(s.start)),
            key: key.to_string(),
            message: message.into(),
        })
    }

    fn relative(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            return p;
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    }

    fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => self.err(key, Some(v.span()), "must be a positive duration"),
            Err(e) => self.err(
                key,
                Some(v.span()),
                format!("expected a duration like \"90s\", \"15m\" or \"24h\": {e}"),
            ),
        }
    }

    fn opt_duration(
        &self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            Some(v) => self.duration(key, v),
            None => Ok(default),
        }
    }

    fn positive(&self, key: &str, v: &Spanned<i64>, max: i64) -> Result<u32, ConfigError> {
        let n = *v.get_ref();
        if n < 1 || n > max {
            return self.err(
                key,
                Some(v.span()),
                format!("must be a whole number from 1 to {max}"),
            );
        }
        Ok(n as u32)
    }

    fn rate(&self, key: &str, v: &Spanned<String>) -> Result<Rate, ConfigError> {
        match parse_rate(v.get_ref()) {
            Some(r) => Ok(r),
            None => self.err(
                key,
                Some(v.span()),
                format!(
                    "expected N/s, N/m or N/h with N a positive whole number, got {:?}",
                    v.get_ref()
                ),
            ),
        }
    }

    fn secret(&self, key: &str, v: &Spanned<String>) -> Result<Vec<u8>, ConfigError> {
        let path = self.relative(v.get_ref());
        match read_secret(&path) {
            Ok(s) if !s.is_empty() => Ok(s),
            Ok(_) => self.err(
                key,
                Some(v.span()),
                format!("secret file {} is empty", path.display()),
            ),
            Err(e) => self.err(
                key,
                Some(v.span()),
                format!("cannot read secret file {}: {e}", path.display()),
            ),
        }
    }

    fn url(&self, key: &str, v: &Spanned<String>) -> Result<Url, ConfigError> {
        let url = match Url::parse(v.get_ref().trim()) {
            Ok(u) => u,
            Err(e) => return self.err(key, Some(v.span()), format!("not a URL: {e}")),
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_url(&url) => {}
            "http" => {
                return self.err(
                    key,
                    Some(v.span()),
                    "http:// is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://",
                );
            }
            other => return self.err(key, Some(v.span()), format!("unsupported scheme {other:?}")),
        }
        if url.host().is_none() {
            return self.err(key, Some(v.span()), "URL has no host");
        }
        Ok(url)
    }

    /// A URL kept in a secret file (chat incoming webhooks).
    fn url_from_file(&self, key: &str, v: &Spanned<String>) -> Result<Url, ConfigError> {
        let bytes = self.secret(key, v)?;
        let text = String::from_utf8(bytes).unwrap_or_default();
        // Validate like an inline URL, but never echo it: it is a credential.
        let spanned = Spanned::new(v.span(), text.trim().to_string());
        self.url(key, &spanned).map_err(|mut e| {
            e.message = format!(
                "the file's URL is not usable ({})",
                e.message.split(':').next().unwrap_or("invalid")
            );
            e
        })
    }

    fn add_channel(
        &self,
        channels: &mut Vec<ChannelSettings>,
        key: &str,
        span: std::ops::Range<usize>,
        name: &Option<Spanned<String>>,
        url: Url,
        channel: Channel,
    ) -> Result<(), ConfigError> {
        let kind = channel.kind();
        let receiver = match name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return self.err(key, Some(n.span()), "name must not be empty");
            }
            Some(n) => format!("{kind}:{}", n.get_ref().trim()),
            None => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(url.as_str().as_bytes());
                if let Channel::PagerDuty { routing_key } = &channel {
                    h.update(routing_key.as_bytes());
                }
                // One relay may serve several recipient lists.
                if let Channel::Email(e) = &channel {
                    for to in &e.to {
                        h.update(b"\n");
                        h.update(to.to_string().as_bytes());
                    }
                }
                format!("{kind}:{}", &hex::encode(h.finalize())[..12])
            }
        };
        if channels.iter().any(|o| o.receiver == receiver) {
            return self.err(key, Some(span), "duplicate alert receiver");
        }
        let mut route = Route::all(receiver.clone());
        // A digest is not a page: PagerDuty gets it only if asked (and
        // `route` refuses that).
        if matches!(channel, Channel::PagerDuty { .. }) {
            route.events = Some(
                EventType::ALL
                    .into_iter()
                    .filter(|e| *e != EventType::Digest)
                    .collect(),
            );
        }
        channels.push(ChannelSettings {
            receiver,
            url,
            channel,
            route,
        });
        Ok(())
    }

    /// `[sites.headers]`: names checked as HTTP header names, values read
    /// from their files and checked as header values (never echoed).
    fn site_headers(
        &self,
        key: &str,
        v: &Option<Spanned<BTreeMap<String, Spanned<RawHeader>>>>,
    ) -> Result<SecretHeaders, ConfigError> {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut map = HeaderMap::new();
        let Some(v) = v else {
            return Ok(SecretHeaders::default());
        };
        for (name, h) in v.get_ref() {
            let hk = if name.bytes().all(|b| b.is_ascii_graphic() && b != b'.') {
                format!("{key}.{name}")
            } else {
                format!("{key}.{name:?}")
            };
            let Ok(hn) = HeaderName::from_bytes(name.as_bytes()) else {
                return self.err(
                    &hk,
                    Some(h.span()),
                    "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                );
            };
            if FORBIDDEN_HEADERS.contains(&hn.as_str()) {
                return self.err(
                    &hk,
                    Some(h.span()),
                    format!(
                        "{} is set by unlistd itself or belongs to the connection; it cannot be configured here{}",
                        hn.as_str(),
                        match hn.as_str() {
                            "user-agent" => " (use [scan] user_agent)",
                            "proxy-authorization" => " (put credentials in proxy_file)",
                            _ => "",
                        }
                    ),
                );
            }
            if map.contains_key(&hn) {
                return self.err(
                    &hk,
                    Some(h.span()),
                    "header given twice (names ignore case)",
                );
            }
            let fk = format!("{hk}.file");
            let bytes = self.secret(&fk, &h.get_ref().file)?;
            let Ok(mut hv) = HeaderValue::from_bytes(&bytes) else {
                return self.err(
                    &fk,
                    Some(h.get_ref().file.span()),
                    "the file's content is not a valid header value (one line of visible ASCII; line breaks and control characters are not allowed)",
                );
            };
            hv.set_sensitive(true);
            map.insert(hn, hv);
        }
        Ok(SecretHeaders::new(map))
    }

    /// `proxy` (no credentials) or `proxy_file` (a URL that may carry them).
    fn site_proxy(
        &self,
        k: &dyn Fn(&str) -> String,
        proxy: &Option<Spanned<String>>,
        proxy_file: &Option<Spanned<String>>,
    ) -> Result<Option<ProxyUrl>, ConfigError> {
        let check = |key: &str, span: std::ops::Range<usize>, text: &str, secret: bool| {
            // Messages about a proxy_file URL never quote it: it may hold a
            // password.
            let url = match Url::parse(text.trim()) {
                Ok(u) => u,
                Err(e) if secret => {
                    return self.err(
                        key,
                        Some(span),
                        format!("the file's URL does not parse ({e})"),
                    );
                }
                Err(e) => return self.err(key, Some(span), format!("not a URL: {e}")),
            };
            if !matches!(url.scheme(), "http" | "https") {
                return self.err(
                    key,
                    Some(span),
                    format!(
                        "proxy scheme {:?} is not supported; use http:// or https://",
                        url.scheme()
                    ),
                );
            }
            if url.host().is_none() {
                return self.err(key, Some(span), "proxy URL has no host");
            }
            if !secret && (!url.username().is_empty() || url.password().is_some()) {
                return self.err(
                    key,
                    Some(span),
                    "proxy credentials are secrets: put the whole URL in a file and name it with proxy_file",
                );
            }
            if reqwest::Proxy::all(url.as_str()).is_err() {
                return self.err(key, Some(span), "reqwest cannot use this proxy URL");
            }
            Ok(Some(ProxyUrl::new(url)))
        };
        match (proxy, proxy_file) {
            (Some(_), Some(f)) => self.err(
                &k("proxy_file"),
                Some(f.span()),
                "set proxy or proxy_file, not both",
            ),
            (Some(p), None) => check(&k("proxy"), p.span(), p.get_ref(), false),
            (None, Some(f)) => {
                let bytes = self.secret(&k("proxy_file"), f)?;
                let Ok(text) = String::from_utf8(bytes) else {
                    return self.err(&k("proxy_file"), Some(f.span()), "the file is not UTF-8");
                };
                check(&k("proxy_file"), f.span(), &text, true)
            }
            (None, None) => Ok(None),
        }
    }

    /// `robots_txt` (default true) and the reason an override needs.
    fn site_robots(
        &self,
        k: &dyn Fn(&str) -> String,
        robots_txt: &Option<Spanned<bool>>,
        reason: &Option<Spanned<String>>,
    ) -> Result<RobotsPolicy, ConfigError> {
        let honour = robots_txt.as_ref().is_none_or(|r| *r.get_ref());
        match (honour, reason) {
            (true, None) => Ok(RobotsPolicy::Honour),
            (true, Some(r)) => self.err(
                &k("robots_txt_reason"),
                Some(r.span()),
                "only applies with robots_txt = false",
            ),
            (false, None) => self.err(
                &k("robots_txt_reason"),
                robots_txt.as_ref().map(|r| r.span()),
                "robots_txt = false needs robots_txt_reason = \"...\": write down why this site's robots.txt is not honoured (it is shown in status)",
            ),
            (false, Some(r)) => {
                let text = r.get_ref().trim();
                if text.is_empty() || text.len() > 500 || text.chars().any(char::is_control) {
                    return self.err(
                        &k("robots_txt_reason"),
                        Some(r.span()),
                        "must be 1 to 500 printable characters",
                    );
                }
                Ok(RobotsPolicy::Ignore {
                    reason: text.to_string(),
                })
            }
        }
    }

    /// Applies a receiver's `events`, `sites` and `cohorts` filters to the
    /// channel just added.
    fn route(
        &self,
        channels: &mut [ChannelSettings],
        prefix: &str,
        keys: [&Option<Spanned<Vec<String>>>; 3],
        site_names: &[String],
    ) -> Result<(), ConfigError> {
        let Some(ch) = channels.last_mut() else {
            return Ok(());
        };
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
                if t == EventType::Digest && matches!(ch.channel, Channel::PagerDuty { .. }) {
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
    fn email(&self, i: usize, e: &RawEmail) -> Result<(Url, EmailSettings), ConfigError> {
        let k = |f: &str| format!("alerts.email[{i}].{f}");
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
        let mailbox = |key: &str, at: std::ops::Range<usize>, s: &str| {
            s.trim().parse::<Mailbox>().or_else(|err| {
                self.err(key, Some(at), format!("{s:?} is not a mail address: {err}"))
            })
        };
        let from = mailbox(&k("from"), e.from.span(), e.from.get_ref())?;
        let to_list = match e.to.get_ref() {
            toml::Value::Array(a) => a,
            _ => {
                return self.err(
                    &k("to"),
                    Some(e.to.span()),
                    "expected a list of addresses, e.g. [\"security@example.net\"]",
                );
            }
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
        let login = match (&e.username, &e.password_file) {
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
        };
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

    fn settings(&self, raw: RawConfig) -> Result<Settings, ConfigError> {
        let store_path = match &raw.store {
            Some(s) if s.path.get_ref().trim().is_empty() => {
                return self.err("store.path", Some(s.path.span()), "must not be empty");
            }
            Some(s) => self.relative(s.path.get_ref()),
            None => return self.err("store.path", None, "missing: add [store] path = \"...\""),
        };

        let api = match &raw.api {
            None => ApiSettings {
                listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
                token: None,
            },
            Some(a) => {
                let listen = match &a.listen {
                    None => DEFAULT_LISTEN.parse().expect("constant address parses"),
                    Some(l) => match l.get_ref().parse::<SocketAddr>() {
                        Ok(addr) => addr,
                        Err(_) => {
                            return self.err(
                                "api.listen",
                                Some(l.span()),
                                "expected IP:PORT, e.g. \"127.0.0.1:9477\"",
                            );
                        }
                    },
                };
                let token = match &a.token_file {
                    Some(t) => Some(self.secret("api.token_file", t)?),
                    None => None,
                };
                ApiSettings { listen, token }
            }
        };

        let (scan, user_agent) = {
            let s = raw.scan.as_ref();
            let max_staleness = self.opt_duration(
                "scan.max_staleness",
                &s.and_then(|s| s.max_staleness.clone()),
                Duration::from_secs(24 * 3600),
            )?;
            let resolve_after_clean = match s.and_then(|s| s.resolve_after_clean.as_ref()) {
                Some(v) => self.positive("scan.resolve_after_clean", v, 1000)?,
                None => 3,
            };
            let ua = match s.and_then(|s| s.user_agent.as_ref()) {
                Some(u) if u.get_ref().trim().is_empty() || !u.get_ref().is_ascii() => {
                    return self.err(
                        "scan.user_agent",
                        Some(u.span()),
                        "must be non-empty printable ASCII",
                    );
                }
                Some(u) => u.get_ref().trim().to_string(),
                None => DEFAULT_USER_AGENT.to_string(),
            };
            (
                ScanSettings {
                    max_staleness,
                    resolve_after_clean,
                },
                ua,
            )
        };

        let mut sites = Vec::new();
        for (i, s) in raw.sites.iter().enumerate() {
            let k = |f: &str| format!("sites[{i}].{f}");
            let name = s.name.get_ref().trim().to_string();
            if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_control()) {
                return self.err(
                    &k("name"),
                    Some(s.name.span()),
                    "must be 1 to 100 printable characters",
                );
            }
            if sites.iter().any(|o: &SiteSettings| o.name == name) {
                return self.err(
                    &k("name"),
                    Some(s.name.span()),
                    format!("duplicate site name {name:?}"),
                );
            }
            let no_results = s.no_results.as_ref();
            let adapter = match s.adapter.get_ref().as_str() {
                "dk118" => match Dk118::new(no_results.map(|n| n.get_ref().as_str())) {
                    Ok(a) => Adapter::Dk118(a),
                    Err(e) => {
                        let at = no_results.map(|n| n.span());
                        return self.err(
                            &k("no_results"),
                            at,
                            format!("invalid CSS selector: {e}"),
                        );
                    }
                },
                "eniro" => {
                    if let Some(n) = no_results {
                        return self.err(
                            &k("no_results"),
                            Some(n.span()),
                            "the eniro adapter reads its no-hits signal from the page data; remove no_results",
                        );
                    }
                    match Eniro::new("da") {
                        Ok(a) => Adapter::Eniro(a),
                        Err(e) => return self.err(&k("adapter"), Some(s.adapter.span()), e),
                    }
                }
                "declarative" => {
                    let Some(spec) = &s.declarative else {
                        return self.err(
                            &k("declarative"),
                            Some(s.adapter.span()),
                            "adapter \"declarative\" needs a [sites.declarative] table",
                        );
                    };
                    if let Some(n) = no_results {
                        return self.err(
                            &k("no_results"),
                            Some(n.span()),
                            "set no_results inside [sites.declarative]",
                        );
                    }
                    match Declarative::new(spec.get_ref()) {
                        Ok(a) => Adapter::Declarative(a),
                        Err((field, msg)) => {
                            return self.err(
                                &k(&format!("declarative.{field}")),
                                Some(spec.span()),
                                msg,
                            );
                        }
                    }
                }
                other => {
                    return self.err(
                        &k("adapter"),
                        Some(s.adapter.span()),
                        format!("unknown adapter {other:?}; built-in adapters: dk118, eniro, declarative"),
                    );
                }
            };
            if s.declarative.is_some() && !matches!(adapter, Adapter::Declarative(_)) {
                return self.err(
                    &k("declarative"),
                    s.declarative.as_ref().map(|d| d.span()),
                    "[sites.declarative] only applies with adapter = \"declarative\"",
                );
            }
            let base_url = self.url(&k("base_url"), &s.base_url)?;
            let rate = self.rate(&k("rate"), &s.rate)?;
            let concurrency = match &s.concurrency {
                Some(c) => self.positive(&k("concurrency"), c, 64)?,
                None => 1,
            };
            let total_timeout =
                self.opt_duration(&k("timeout"), &s.timeout, Duration::from_secs(20))?;
            let max_body_bytes = match &s.max_body_bytes {
                Some(m) => self.positive(&k("max_body_bytes"), m, 256 * 1024 * 1024)? as usize,
                None => 2 * 1024 * 1024,
            };
            let max_retries = match &s.max_retries {
                Some(m) if *m.get_ref() == 0 => 0,
                Some(m) => self.positive(&k("max_retries"), m, 10)?,
                None => 2,
            };
            let numbers =
                |key: &str, v: &Option<Spanned<Vec<String>>>| -> Result<Vec<E164>, ConfigError> {
                    let Some(v) = v else { return Ok(Vec::new()) };
                    let mut out = Vec::new();
                    for (j, n) in v.get_ref().iter().enumerate() {
                        match E164::parse_dk(n) {
                            Ok(e) => out.push(e),
                            Err(e) => {
                                return self.err(
                                    &format!("{}[{j}]", k(key)),
                                    Some(v.span()),
                                    e.to_string(),
                                );
                            }
                        }
                    }
                    Ok(out)
                };
            let canaries = numbers("canaries", &s.canaries)?;
            let absent_canaries = numbers("absent_canaries", &s.absent_canaries)?;
            if let Some(c) = canaries.iter().find(|c| absent_canaries.contains(c)) {
                return self.err(
                    &k("absent_canaries"),
                    s.absent_canaries.as_ref().map(|v| v.span()),
                    format!("{} is both a canary and an absent canary", c.masked()),
                );
            }
            let canary_interval = self.opt_duration(
                &k("canary_interval"),
                &s.canary_interval,
                Duration::from_secs(15 * 60),
            )?;
            let headers = self.site_headers(&k("headers"), &s.headers)?;
            let proxy = self.site_proxy(&k, &s.proxy, &s.proxy_file)?;
            let robots = self.site_robots(&k, &s.robots_txt, &s.robots_txt_reason)?;
            sites.push(SiteSettings {
                name: name.clone(),
                enabled: s.enabled,
                canaries,
                absent_canaries,
                canary_interval,
                adapter,
                policy: SitePolicy {
                    name,
                    base_url,
                    rate,
                    concurrency,
                    user_agent: user_agent.clone(),
                    connect_timeout: total_timeout.min(Duration::from_secs(10)),
                    total_timeout,
                    max_body_bytes,
                    max_retries,
                    max_retry_wait: Duration::from_secs(120),
                    headers,
                    proxy,
                    robots,
                },
            });
        }

        let alerts = {
            let a = raw.alerts.as_ref();
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
            let mut channels: Vec<ChannelSettings> = Vec::new();
            let mut dashboard_url = None;
            let site_names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
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
            if let Some(a) = a {
                if let Some(d) = &a.dashboard_url {
                    dashboard_url = Some(self.url("alerts.dashboard_url", d)?);
                }
                for (i, w) in a.webhook.iter().enumerate() {
                    let k = |f: &str| format!("alerts.webhook[{i}].{f}");
                    let url = self.url(&k("url"), &w.url)?;
                    let secret = self.secret(&k("secret_file"), &w.secret_file)?;
                    self.add_channel(
                        &mut channels,
                        &k("url"),
                        w.url.span(),
                        &w.name,
                        url,
                        Channel::Webhook { secret },
                    )?;
                    self.route(
                        &mut channels,
                        &format!("alerts.webhook[{i}]"),
                        [&w.events, &w.sites, &w.cohorts],
                        &site_names,
                    )?;
                }
                for (kind, list) in [("slack", &a.slack), ("teams", &a.teams)] {
                    for (i, c) in list.iter().enumerate() {
                        let k = format!("alerts.{kind}[{i}].url_file");
                        let url = self.url_from_file(&k, &c.url_file)?;
                        let channel = if kind == "slack" {
                            Channel::Slack
                        } else {
                            Channel::Teams
                        };
                        self.add_channel(
                            &mut channels,
                            &k,
                            c.url_file.span(),
                            &c.name,
                            url,
                            channel,
                        )?;
                        self.route(
                            &mut channels,
                            &format!("alerts.{kind}[{i}]"),
                            [&c.events, &c.sites, &c.cohorts],
                            &site_names,
                        )?;
                    }
                }
                for (i, p) in a.pagerduty.iter().enumerate() {
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
                    let span = p.routing_key_file.span();
                    self.add_channel(
                        &mut channels,
                        &k("routing_key_file"),
                        span,
                        &p.name,
                        url,
                        Channel::PagerDuty { routing_key },
                    )?;
                    self.route(
                        &mut channels,
                        &format!("alerts.pagerduty[{i}]"),
                        [&p.events, &p.sites, &p.cohorts],
                        &site_names,
                    )?;
                }
                for (i, e) in a.email.iter().enumerate() {
                    let (url, email) = self.email(i, e)?;
                    let key = format!("alerts.email[{i}].smtp");
                    let channel = Channel::Email(Box::new(email));
                    self.add_channel(&mut channels, &key, e.smtp.span(), &e.name, url, channel)?;
                    self.route(
                        &mut channels,
                        &format!("alerts.email[{i}]"),
                        [&e.events, &e.sites, &e.cohorts],
                        &site_names,
                    )?;
                }
            }
            AlertSettings {
                group_wait,
                repeat_interval,
                max_backoff,
                dashboard_url,
                channels,
                digest_at,
            }
        };

        let retention = {
            let st = raw.store.as_ref();
            Retention {
                evidence: self.opt_duration(
                    "store.evidence_retention",
                    &st.and_then(|s| s.evidence_retention.clone()),
                    DEFAULT_EVIDENCE_RETENTION,
                )?,
                roster: self.opt_duration(
                    "store.roster_retention",
                    &st.and_then(|s| s.roster_retention.clone()),
                    DEFAULT_ROSTER_RETENTION,
                )?,
            }
        };
        let report = match raw
            .report
            .as_ref()
            .and_then(|r| r.signing_key_file.as_ref())
        {
            Some(f) => ReportSettings {
                signing_key: Some(self.secret("report.signing_key_file", f)?),
            },
            None => ReportSettings::default(),
        };

        Ok(Settings {
            source: self.path.to_path_buf(),
            store_path,
            api,
            scan,
            sites,
            alerts,
            retention,
            report,
        })
    }
}

/// Headers `[sites.headers]` may not set: unlistd sets them itself, or they
/// describe the connection rather than the request.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "user-agent",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

/// `N/s`, `N/m` or `N/h`.
pub fn parse_rate(s: &str) -> Option<Rate> {
    let (n, unit) = s.trim().split_once('/')?;
    let count: u32 = n.trim().parse().ok().filter(|&n| n > 0)?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return None,
    };
    Some(Rate { count, per })
}

/// Reads a secret file; one trailing newline (LF or CRLF) is not part of it.
pub fn read_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut v = std::fs::read(path)?;
    if v.ends_with(b"\n") {
        v.pop();
        if v.ends_with(b"\r") {
            v.pop();
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = p(&decl("div").replace("adapter = \"declarative\"", "adapter = \"dk118\""))
            .unwrap_err();
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
}
