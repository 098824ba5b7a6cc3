//! Configuration: TOML text → [`RawConfig`] (shape only) → [`Settings`]
//! (validated, typed, ready to use).
//!
//! Nothing downstream re-validates strings: durations are `Duration`s,
//! rates are [`Rate`]s, URLs are parsed, secrets are read from their files
//! and selectors compiled. Every error names the file, the line where the
//! TOML parser or the offending value sits, and the key, so `unlistd` can
//! exit 2 with a message an operator can act on.
//!
//! - `raw.rs`: the file's shape (serde, spanned values);
//! - `validate.rs`: the common checks and the small sections;
//! - `sites.rs`: `[[sites]]` → [`SiteSettings`];
//! - `alerts.rs`: `[alerts]` → [`AlertSettings`], and every channel's
//!   settings ([`Channel`], [`EmailSettings`]).

mod alerts;
mod api;
mod header;
mod raw;
mod sites;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use alerts::{
    AlertSettings, Channel, ChannelSettings, EmailSettings, PAGERDUTY_URL, SmtpLogin, SmtpTls,
};
pub use api::{ApiToken, DEFAULT_TOKEN_NAME, Role, TrustedUser, valid_actor_name};
pub use sites::{Canary, DEFAULT_TAKEDOWN_SLA, SiteSettings};

use crate::fetch::Rate;
use crate::store::{Retention, StoreKey};
use raw::RawConfig;

/// A configuration problem; `Display` is `FILE:LINE: KEY: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Everything the daemon and the commands need, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file these settings came from (for messages).
    pub source: PathBuf,
    /// The SQLite file; with `store_url`, where files that live "beside
    /// the store" go instead (the report key): the config's directory.
    pub store_path: PathBuf,
    /// `[store] url`: PostgreSQL instead of the SQLite file.
    pub store_url: Option<StoreUrl>,
    /// `[store] encryption_key_file`: the SQLite store is encrypted at rest.
    pub store_key: Option<StoreKey>,
    pub api: ApiSettings,
    pub scan: ScanSettings,
    pub sites: Vec<SiteSettings>,
    pub alerts: AlertSettings,
    /// `[store] evidence_retention` and `roster_retention`.
    pub retention: Retention,
    pub report: ReportSettings,
}

/// `[store] url` and the password read from `password_file`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub url: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries no password (refused at load); the file's is secret.
        f.debug_struct("StoreUrl")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish()
    }
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
    /// Bearer tokens for `/api/v1/*` and the dashboard: `[api] token_file`
    /// (admin, named `default`) and `[[api.tokens]]`. Without any, those
    /// routes answer 401.
    pub tokens: Vec<ApiToken>,
    /// `[api] trusted_user_header`, from a reverse proxy on loopback.
    pub trusted_user: Option<TrustedUser>,
    /// `allow_remote`: a `listen` address beyond loopback was confirmed.
    pub allow_remote: bool,
    /// `hostnames`: names (lowercase) the API answers to besides its
    /// listen address and `localhost` (a reverse proxy's name).
    pub hostnames: Vec<String>,
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("listen", &self.listen)
            .field("tokens", &self.tokens)
            .field("trusted_user", &self.trusted_user)
            .field("allow_remote", &self.allow_remote)
            .field("hostnames", &self.hostnames)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub max_staleness: Duration,
    pub resolve_after_clean: u32,
    /// The share of a site's budget that cohort escalation may take over
    /// any stretch of one `max_staleness` (0 to 1; default 0.8).
    pub escalation_share: f64,
}

/// `[scan] escalation_share` without the key.
pub const DEFAULT_ESCALATION_SHARE: f64 = 0.8;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";
pub const DEFAULT_USER_AGENT: &str = concat!(
    "unlistd/",
    env!("CARGO_PKG_VERSION"),
    " (unlisted-number leak monitor run by the subscriber's telephone operator)"
);

/// The config file when neither `--config` nor `UNLISTD_CONFIG` names one.
pub const SYSTEM_CONFIG: &str = "/etc/unlistd/config.toml";

/// The config file to use: `--config` (or `UNLISTD_CONFIG`, which clap
/// reads into the same flag), else [`SYSTEM_CONFIG`]. Never a file in the
/// working directory: `sudo unlistd import` run in a directory someone
/// else controls must not be pointed at their store.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    locate_in(explicit, Path::new(SYSTEM_CONFIG))
}

fn locate_in(explicit: Option<&Path>, system: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if system.is_file() {
        return Ok(system.to_path_buf());
    }
    Err(ConfigError {
        file: system.display().to_string(),
        line: None,
        key: "--config".into(),
        message: format!(
            "no {}; pass --config PATH or set UNLISTD_CONFIG",
            system.display()
        ),
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

/// Turns the raw shape into settings; every error names the file, the
/// line and the key.
struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

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

/// The HMAC key a webhook secret file's content stands for. The Standard
/// Webhooks libraries issue secrets as `whsec_` + base64 and sign with the
/// decoded bytes, so such a secret is decoded; any other content is the key
/// itself, byte for byte. The message of an error never quotes the secret.
pub fn webhook_key(secret: &[u8]) -> Result<Vec<u8>, &'static str> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let Some(encoded) = secret.strip_prefix(b"whsec_") else {
        return Ok(secret.to_vec());
    };
    // The libraries' own secrets carry no padding (24 bytes); `base64` of
    // 32 random bytes does. Either is the same key.
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    match engine.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) => Err("holds nothing after the whsec_ prefix"),
        Err(_) => Err("starts with whsec_ but what follows is not standard base64"),
    }
}
