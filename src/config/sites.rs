//! `[[sites]]`: each table becomes a [`SiteSettings`]: the adapter (built by
//! `sites::Adapter::build`, so a new adapter needs nothing here), the
//! politeness policy the fetcher enforces, canaries, secret headers, the
//! proxy and the robots.txt policy.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::raw::{RawCanary, RawHeader, RawSite};
use super::{ConfigError, Validator};
use crate::domain::address::{split_post_line, split_street_line};
use crate::domain::{Address, E164};
use crate::fetch::{ProxyUrl, RobotsPolicy, SecretHeaders, SitePolicy};
use crate::sites::{Adapter, AdapterSpec};

#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub name: String,
    pub enabled: bool,
    /// Publicly listed numbers this site must show (else it is degraded),
    /// some with the address the listing must show too.
    pub canaries: Vec<Canary>,
    /// Unlisted numbers this site must not show (catches over-matching).
    pub absent_canaries: Vec<E164>,
    pub canary_interval: Duration,
    pub adapter: Adapter,
    pub policy: SitePolicy,
    /// Where removal is asked for (shown on the incident page and in alerts).
    pub takedown_contact: Option<String>,
    /// How long after a takedown request a listing may stay up before
    /// `exposure.overdue` (default [`DEFAULT_TAKEDOWN_SLA`]).
    pub takedown_sla: Duration,
}

/// A listing a site must show: its number, and with `address` that
/// address too (so a broken address selector degrades the site instead of
/// making every listing look address-free, which counts as clean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub number: E164,
    pub address: Option<Address>,
}

/// Default `takedown_sla`: 48 hours.
pub const DEFAULT_TAKEDOWN_SLA: Duration = Duration::from_secs(48 * 3600);

impl Validator<'_> {
    /// Every `[[sites]]` table, in order; names are unique.
    pub(super) fn sites(
        &self,
        raw: &[RawSite],
        user_agent: &str,
    ) -> Result<Vec<SiteSettings>, ConfigError> {
        let mut sites: Vec<SiteSettings> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let k = |f: &str| format!("sites[{i}].{f}");
            let name = s.name.get_ref().trim().to_string();
            if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_control()) {
                return self.err(
                    &k("name"),
                    Some(s.name.span()),
                    "must be 1 to 100 printable characters",
                );
            }
            if sites.iter().any(|o| o.name == name) {
                return self.err(
                    &k("name"),
                    Some(s.name.span()),
                    format!("duplicate site name {name:?}"),
                );
            }
            let adapter = self.site_adapter(&k, s)?;
            let policy = self.site_policy(&k, s, name.clone(), user_agent)?;
            let canaries = self.canaries(&k("canaries"), &s.canaries)?;
            let absent_canaries = self.numbers(&k("absent_canaries"), &s.absent_canaries)?;
            if let Some(c) = canaries
                .iter()
                .find(|c| absent_canaries.contains(&c.number))
            {
                return self.err(
                    &k("absent_canaries"),
                    s.absent_canaries.as_ref().map(|v| v.span()),
                    format!(
                        "{} is both a canary and an absent canary",
                        c.number.masked()
                    ),
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
            let takedown_contact = match &s.takedown_contact {
                Some(c) => {
                    let text = c.get_ref().trim();
                    if text.is_empty() || text.len() > 300 || text.chars().any(char::is_control) {
                        return self.err(
                            &k("takedown_contact"),
                            Some(c.span()),
                            "must be 1 to 300 printable characters (an address, a form's URL, a phone line)",
                        );
                    }
                    Some(text.to_string())
                }
                None => None,
            };
            let takedown_sla =
                self.opt_duration(&k("takedown_sla"), &s.takedown_sla, DEFAULT_TAKEDOWN_SLA)?;
            sites.push(SiteSettings {
                takedown_contact,
                takedown_sla,
                name,
                enabled: s.enabled,
                canaries,
                absent_canaries,
                canary_interval,
                adapter,
                policy: SitePolicy {
                    headers,
                    proxy,
                    robots,
                    ..policy
                },
            });
        }
        Ok(sites)
    }

    /// `adapter`, `no_results` and `[sites.declarative]`, by
    /// `sites::Adapter::build`; its errors name a key of this table.
    fn site_adapter(
        &self,
        k: &dyn Fn(&str) -> String,
        s: &RawSite,
    ) -> Result<Adapter, ConfigError> {
        let spec = AdapterSpec {
            adapter: s.adapter.get_ref(),
            no_results: s.no_results.as_ref().map(|n| n.get_ref().as_str()),
            declarative: s.declarative.as_ref().map(|d| d.get_ref()),
        };
        Adapter::build(&spec).or_else(|e| {
            let at = match e.key.as_str() {
                "no_results" => s.no_results.as_ref().map(|n| n.span()),
                "adapter" => Some(s.adapter.span()),
                // A missing table is pointed at by its `adapter` key.
                _ => s
                    .declarative
                    .as_ref()
                    .map(|d| d.span())
                    .or(Some(s.adapter.span())),
            };
            self.err(&k(&e.key), at, e.message)
        })
    }

    /// The budget and limits the site's fetcher enforces; headers, proxy
    /// and robots.txt policy are filled in by the caller.
    fn site_policy(
        &self,
        k: &dyn Fn(&str) -> String,
        s: &RawSite,
        name: String,
        user_agent: &str,
    ) -> Result<SitePolicy, ConfigError> {
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
        Ok(SitePolicy {
            name,
            base_url,
            rate,
            concurrency,
            user_agent: user_agent.to_string(),
            connect_timeout: total_timeout.min(Duration::from_secs(10)),
            total_timeout,
            max_body_bytes,
            max_retries,
            max_retry_wait: Duration::from_secs(120),
            headers: SecretHeaders::default(),
            proxy: None,
            robots: RobotsPolicy::Honour,
        })
    }

    /// `canaries`: numbers, or `{ number, address }` tables.
    fn canaries(
        &self,
        key: &str,
        v: &Option<Spanned<Vec<RawCanary>>>,
    ) -> Result<Vec<Canary>, ConfigError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (j, c) in v.get_ref().iter().enumerate() {
            let (number, address) = match c {
                RawCanary::Number(n) => (n, None),
                RawCanary::Listing(l) => (&l.number, l.address.as_deref()),
            };
            let number = match E164::parse_dk(number) {
                Ok(e) => e,
                Err(e) => return self.err(&format!("{key}[{j}]"), Some(v.span()), e.to_string()),
            };
            let address = match address.map(canary_address) {
                None => None,
                Some(Some(a)) => Some(a),
                Some(None) => {
                    return self.err(
                        &format!("{key}[{j}].address"),
                        Some(v.span()),
                        "expected \"street house number[, floor door], postcode city\", \
                         e.g. \"Havnen 1, 8000 Aarhus C\"",
                    );
                }
            };
            out.push(Canary { number, address });
        }
        Ok(out)
    }

    /// A list of Danish numbers (`canaries`, `absent_canaries`).
    fn numbers(
        &self,
        key: &str,
        v: &Option<Spanned<Vec<String>>>,
    ) -> Result<Vec<E164>, ConfigError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (j, n) in v.get_ref().iter().enumerate() {
            match E164::parse_dk(n) {
                Ok(e) => out.push(e),
                Err(e) => return self.err(&format!("{key}[{j}]"), Some(v.span()), e.to_string()),
            }
        }
        Ok(out)
    }

    pub(super) fn site_headers(
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

/// `"Havnen 1, 8000 Aarhus C"` (floor and door may follow the house
/// number): street and house number, and a postcode or a town. `None` when
/// any of those is missing, since the matcher could not compare it.
fn canary_address(text: &str) -> Option<Address> {
    let (street_line, post_line) = text.rsplit_once(',')?;
    let (street, house_number, floor, door) = split_street_line(street_line);
    let (postcode, city) = split_post_line(post_line);
    let city = city.or_else(|| {
        let t = post_line.trim();
        (postcode.is_none() && !t.is_empty()).then(|| t.to_string())
    });
    let a = Address {
        street: Some(street?),
        house_number: Some(house_number?),
        floor,
        door,
        postcode,
        city,
    };
    (a.postcode.is_some() || a.city.is_some()).then_some(a)
}
