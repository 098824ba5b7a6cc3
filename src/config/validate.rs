//! The validator's common checks (durations, rates, secrets, URLs) and
//! the sections that need no file of their own (`[store]`, `[api]`,
//! `[scan]`, `[report]`). `[[sites]]` is in `sites.rs`, `[alerts]` in
//! `alerts.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::raw::{RawApi, RawConfig, RawReport, RawScan, RawStore};
use super::{
    ApiSettings, ConfigError, DEFAULT_EVIDENCE_RETENTION, DEFAULT_LISTEN, DEFAULT_ROSTER_RETENTION,
    DEFAULT_USER_AGENT, ReportSettings, ScanSettings, Settings, StoreUrl, Validator, parse_rate,
    read_secret,
};
use crate::fetch::{Rate, is_loopback_url};
use crate::store::{Retention, StoreKey};

impl Validator<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(super) fn err<T>(
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

    pub(super) fn relative(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            return p;
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    }

    pub(super) fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
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

    pub(super) fn opt_duration(
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

    pub(super) fn positive(
        &self,
        key: &str,
        v: &Spanned<i64>,
        max: i64,
    ) -> Result<u32, ConfigError> {
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

    pub(super) fn rate(&self, key: &str, v: &Spanned<String>) -> Result<Rate, ConfigError> {
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

    pub(super) fn secret(&self, key: &str, v: &Spanned<String>) -> Result<Vec<u8>, ConfigError> {
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

    pub(super) fn url(&self, key: &str, v: &Spanned<String>) -> Result<Url, ConfigError> {
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
    pub(super) fn url_from_file(&self, key: &str, v: &Spanned<String>) -> Result<Url, ConfigError> {
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

    /// The whole file, section by section, in the order the errors of a
    /// file with several are reported.
    pub(super) fn settings(&self, raw: RawConfig) -> Result<Settings, ConfigError> {
        let (store_path, store_url) = self.store(raw.store.as_ref())?;
        let store_key = self.store_key(raw.store.as_ref())?;
        if let (Some(_), Some(f)) = (
            &store_url,
            raw.store
                .as_ref()
                .and_then(|s| s.encryption_key_file.as_ref()),
        ) {
            return self.err(
                "store.encryption_key_file",
                Some(f.span()),
                "only for a SQLite store (path); PostgreSQL encrypts with its own means",
            );
        }
        let api = self.api(raw.api.as_ref())?;
        let (scan, user_agent) = self.scan(raw.scan.as_ref())?;
        let sites = self.sites(&raw.sites, &user_agent)?;
        let site_names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
        let alerts = self.alerts(raw.alerts.as_ref(), &site_names)?;
        let retention = self.retention(raw.store.as_ref())?;
        let report = self.report(raw.report.as_ref())?;
        Ok(Settings {
            source: self.path.to_path_buf(),
            store_path,
            store_url,
            store_key,
            api,
            scan,
            sites,
            alerts,
            retention,
            report,
        })
    }

    /// `[store]`: `path` (SQLite) or `url` (PostgreSQL, with an optional
    /// `password_file`), exactly one of them.
    fn store(&self, st: Option<&RawStore>) -> Result<(PathBuf, Option<StoreUrl>), ConfigError> {
        let Some(s) = st else {
            return self.err("store.path", None, "missing: add [store] path = \"...\"");
        };
        match (&s.path, &s.url) {
            (Some(p), Some(_)) => self.err(
                "store.url",
                Some(p.span()),
                "set either path (SQLite) or url (PostgreSQL), not both",
            ),
            (None, None) => self.err(
                "store.path",
                None,
                "missing: add [store] path = \"...\" (or url = \"postgresql://...\")",
            ),
            (Some(p), None) => {
                if let Some(pf) = &s.password_file {
                    return self.err(
                        "store.password_file",
                        Some(pf.span()),
                        "only for a PostgreSQL store (url)",
                    );
                }
                if p.get_ref().trim().is_empty() {
                    return self.err("store.path", Some(p.span()), "must not be empty");
                }
                Ok((self.relative(p.get_ref()), None))
            }
            (None, Some(u)) => {
                let url = self.store_url(u)?;
                let password = match &s.password_file {
                    None => None,
                    Some(pf) => {
                        let bytes = self.secret("store.password_file", pf)?;
                        let Ok(text) = String::from_utf8(bytes) else {
                            return self.err(
                                "store.password_file",
                                Some(pf.span()),
                                "the password is not UTF-8",
                            );
                        };
                        Some(text.trim_end_matches(['\r', '\n']).to_string())
                    }
                };
                // Files kept "beside the store" (the report key) go beside
                // the config instead.
                Ok((
                    self.relative("postgresql"),
                    Some(StoreUrl { url, password }),
                ))
            }
        }
    }

    /// `[store] url`: `postgresql://` or `postgres://`, a host, a
    /// database, and no password in it (that goes in `password_file`).
    fn store_url(&self, u: &Spanned<String>) -> Result<String, ConfigError> {
        let text = u.get_ref().trim();
        let bad = |m: &str| self.err("store.url", Some(u.span()), m.to_string());
        let Ok(parsed) = url::Url::parse(text) else {
            return bad("expected postgresql://user@host:port/database");
        };
        if !matches!(parsed.scheme(), "postgresql" | "postgres") {
            return bad("expected postgresql://user@host:port/database");
        }
        if parsed.password().is_some() {
            return bad("credentials do not belong in the URL; use password_file");
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return bad("the URL names no host");
        }
        if parsed.path().trim_start_matches('/').is_empty() {
            return bad("the URL names no database");
        }
        Ok(text.to_string())
    }

    /// `[store] encryption_key_file`: a secret with at least 32 bytes of
    /// entropy.
    fn store_key(&self, st: Option<&RawStore>) -> Result<Option<StoreKey>, ConfigError> {
        let Some(f) = st.and_then(|s| s.encryption_key_file.as_ref()) else {
            return Ok(None);
        };
        let secret = self.secret("store.encryption_key_file", f)?;
        match StoreKey::from_secret(&secret) {
            Ok(k) => Ok(Some(k)),
            Err(e) => self.err("store.encryption_key_file", Some(f.span()), e.to_string()),
        }
    }

    /// `[api]`.
    fn api(&self, a: Option<&RawApi>) -> Result<ApiSettings, ConfigError> {
        let Some(a) = a else {
            return Ok(ApiSettings {
                listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
                tokens: Vec::new(),
                trusted_user: None,
                allow_remote: false,
                hostnames: Vec::new(),
            });
        };
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
        let allow_remote = a.allow_remote.as_ref().is_some_and(|b| *b.get_ref());
        if !listen.ip().is_loopback() && !allow_remote {
            return self.err(
                "api.listen",
                a.listen.as_ref().map(Spanned::span),
                "listens beyond this machine (the API and the dashboard would face the \
                 network): set [api] allow_remote = true to confirm, and put TLS in front",
            );
        }
        let (tokens, trusted_user) = self.api_people(a)?;
        let mut hostnames = Vec::new();
        if let Some(h) = &a.hostnames {
            for name in h.get_ref() {
                let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
                let ok = !n.is_empty()
                    && n.len() <= 253
                    && n.split('.').all(|l| {
                        !l.is_empty()
                            && !l.starts_with('-')
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if !ok {
                    return self.err(
                        "api.hostnames",
                        Some(h.span()),
                        format!("{name:?} is not a host name (give names like \"unlistd.example.net\", without port or scheme)"),
                    );
                }
                hostnames.push(n);
            }
        }
        Ok(ApiSettings {
            listen,
            tokens,
            trusted_user,
            allow_remote,
            hostnames,
        })
    }

    /// `[scan]`, and the user agent every site's fetcher sends.
    fn scan(&self, s: Option<&RawScan>) -> Result<(ScanSettings, String), ConfigError> {
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
        let escalation_share = match s.and_then(|s| s.escalation_share.as_ref()) {
            Some(v) if !(0.0..=1.0).contains(v.get_ref()) => {
                return self.err(
                    "scan.escalation_share",
                    Some(v.span()),
                    "must be a share between 0 and 1 (e.g. 0.8)",
                );
            }
            Some(v) => *v.get_ref(),
            None => super::DEFAULT_ESCALATION_SHARE,
        };
        Ok((
            ScanSettings {
                max_staleness,
                resolve_after_clean,
                escalation_share,
            },
            ua,
        ))
    }

    /// `[store] evidence_retention` and `roster_retention`.
    fn retention(&self, st: Option<&RawStore>) -> Result<Retention, ConfigError> {
        Ok(Retention {
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
        })
    }

    /// `[report]`.
    fn report(&self, r: Option<&RawReport>) -> Result<ReportSettings, ConfigError> {
        Ok(match r.and_then(|r| r.signing_key_file.as_ref()) {
            Some(f) => ReportSettings {
                signing_key: Some(self.secret("report.signing_key_file", f)?),
            },
            None => ReportSettings::default(),
        })
    }
}
