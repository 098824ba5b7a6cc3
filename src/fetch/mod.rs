//! The only code that talks to directory sites.
//!
//! Architecture invariant: every outbound request to a site goes through
//! [`SiteFetcher::get`], which passes the site's politeness gate (the
//! evenly spaced rate limiter, the `Retry-After` gate and the concurrency
//! semaphore) for *every attempt*, retries included. Redirects are followed
//! here rather than by reqwest, so each hop is a request that passes the
//! gate and the same-origin check too.
//!
//! robots.txt is honoured by default ([`robots`]): it is fetched through
//! the same gate (so it counts against the budget), cached per site, and a
//! URL it disallows is never requested. Its Crawl-delay stretches the
//! pacer's interval when it is longer than the configured one.
//!
//! Failures never carry the URL: it contains a protected number. What is
//! shown and stored of a request is the adapter's redacted form
//! (`sites::Request::stored`).

mod politeness;
pub(crate) mod robots;
mod shared;
mod transport;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use governor::clock::MonotonicClock;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::telemetry::{RequestCode, RequestStats};
use politeness::{Backoff, MAX_RETRY_AFTER, NotBefore, Pacer, SendLog};
pub(crate) use robots::RobotsPolicy;
use robots::{Lookup, Rules};
pub(crate) use shared::{SHARED_FROM, SharedBudget, Turns};
use shared::{SharedTurns, Turn};
use transport::{Body, build_client, classify, read_capped};

/// `N` requests per `per`, evenly spaced (burst 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The minimum spacing between two requests.
    pub fn interval(&self) -> Duration {
        self.per / self.count.max(1)
    }
}

/// Everything `fetch` needs to know about one site; built from config.
#[derive(Debug, Clone)]
pub struct SitePolicy {
    /// The configured site name, used in logs and errors.
    pub name: String,
    pub base_url: Url,
    pub rate: Rate,
    /// Requests in flight at once (>= 1).
    pub concurrency: u32,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request including reading the body.
    pub total_timeout: Duration,
    /// Cap on the *decoded* body; larger bodies are cut and fail as `TooLarge`.
    pub max_body_bytes: usize,
    /// Attempts after the first, for 429/503/5xx/timeouts/connection errors.
    pub max_retries: u32,
    /// A `Retry-After` longer than this is not waited for within the probe:
    /// the gate is still set for later requests, the probe ends inconclusive.
    pub max_retry_wait: Duration,
    /// Extra headers sent with every request to the site (`[sites.headers]`).
    pub headers: SecretHeaders,
    /// Forward proxy for every request to the site (`proxy`/`proxy_file`).
    pub proxy: Option<ProxyUrl>,
    pub robots: RobotsPolicy,
}

/// Request headers whose values are secrets (access tokens). Every value is
/// marked sensitive, and `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct SecretHeaders(HeaderMap);

impl SecretHeaders {
    pub fn new(mut map: HeaderMap) -> Self {
        for v in map.values_mut() {
            v.set_sensitive(true);
        }
        SecretHeaders(map)
    }

    pub fn map(&self) -> &HeaderMap {
        &self.0
    }
}

impl std::fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| k.as_str()))
            .finish()
    }
}

/// A proxy URL, which may carry credentials. `Debug` and `Display` show
/// the scheme, host and port only.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    pub fn new(url: Url) -> Self {
        ProxyUrl(url)
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = &self.0;
        let creds = if u.username().is_empty() && u.password().is_none() {
            ""
        } else {
            "[credentials]@"
        };
        write!(f, "{}://{creds}{}", u.scheme(), u.host_str().unwrap_or(""))?;
        if let Some(p) = u.port() {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// Why a fetch did not produce a usable 2xx body. Messages never name the
/// URL: it carries the number or the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FailKind {
    /// Non-2xx final status (403, 404, 429, 5xx, ...).
    #[error("http status {0}")]
    Status(u16),
    #[error("timeout")]
    Timeout,
    #[error("connection failed")]
    Connect,
    /// Redirect to another host, or more than 3 hops.
    #[error("redirect refused")]
    Redirect,
    /// Decoded body larger than `max_body_bytes`.
    #[error("response body over the size cap")]
    TooLarge,
    /// Content decoding failed (bad gzip) or other transport error.
    #[error("transport error: {0}")]
    Transport(String),
    /// The site's robots.txt disallows the URL for us; nothing was sent.
    #[error("robots.txt disallows this URL for unlistd")]
    RobotsDisallowed,
    /// robots.txt could not be read, so everything counts as disallowed
    /// (RFC 9309); nothing was sent. Holds the reason.
    #[error("{0}")]
    RobotsUnavailable(String),
}

/// Why a site's HTTP client cannot be built. Each message names the site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("site {site}: base_url must be https (http is allowed only for loopback hosts)")]
    NotHttps { site: String },
    #[error("site {site}: base_url scheme {scheme:?} is not http(s)")]
    Scheme { site: String, scheme: String },
    #[error("site {site}: base_url has no host")]
    NoHost { site: String },
    #[error("site {site}: user_agent is not a valid header value")]
    UserAgent { site: String },
    /// `proxy` is the URL as [`ProxyUrl`] shows it (without credentials).
    #[error("site {site}: proxy {proxy} is not usable: {reason}")]
    Proxy {
        site: String,
        proxy: String,
        reason: String,
    },
    #[error("site {site}: cannot build HTTP client: {reason}")]
    Build { site: String, reason: String },
}

/// The result of one logical fetch (after retries). Its `Debug` leaves
/// the body out: a result page shows the number or the name searched for.
#[derive(Clone)]
pub(crate) struct Fetched {
    /// Final HTTP status, if any response arrived.
    pub status: Option<u16>,
    /// Lowercase hex SHA-256 of the decoded body, when a body was read whole.
    pub sha256: Option<String>,
    /// Decoded body length in bytes (as far as read); the tests check the
    /// size cap with it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub body_len: usize,
    /// The body as text (lossy UTF-8), present only for 2xx.
    pub body: Option<String>,
    /// `None` on success (2xx with a body within the cap).
    pub failure: Option<FailKind>,
    /// Attempts made (1 + retries).
    pub attempts: u32,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("status", &self.status)
            .field("sha256", &self.sha256)
            .field("body_len", &self.body_len)
            .field("body", &self.body.as_ref().map(|_| "[REDACTED]"))
            .field("failure", &self.failure)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// Redirect hops followed within one attempt (sites use one or two for
/// session setup; more is a loop or a hijack).
const MAX_REDIRECT_HOPS: u32 = 3;

/// What the retry loop should do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Done,
    /// 429/503 with a `Retry-After`: the site said how long.
    RetryAfter(Duration),
    /// 429/503 without one: the site said "slow down" but not how much.
    Throttled,
    /// 5xx, timeouts, connection errors: worth another try after a pause.
    Backoff,
}

/// One site's HTTP client and politeness gate. Cheap to share behind `Arc`.
pub(crate) struct SiteFetcher {
    policy: SitePolicy,
    /// Own cookie jar per site, so a session on one site never leaks to another.
    client: reqwest::Client,
    permits: Semaphore,
    pacer: Pacer<MonotonicClock>,
    not_before: NotBefore,
    sends: SendLog,
    robots: std::sync::Mutex<robots::Cache>,
    /// One robots.txt fetch at a time: probes arriving meanwhile wait for
    /// its answer instead of fetching it again.
    robots_fetch: tokio::sync::Mutex<()>,
    /// The turns every process takes from the site's one budget; `None`
    /// for a fetcher on its own (tests, tools).
    shared: Option<SharedTurns>,
    /// Every request sent, by status and duration (`/metrics`).
    requests: Arc<RequestStats>,
}

impl std::fmt::Debug for SiteFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteFetcher")
            .field("site", &self.policy.name)
            .field("interval", &self.pacer.interval())
            .field("retry_gate", &self.not_before.remaining())
            .field("robots", &self.policy.robots)
            .finish_non_exhaustive()
    }
}

impl SiteFetcher {
    /// Builds the site's client. Fails (with a message naming the site) on
    /// a non-https `base_url` outside loopback or an unusable user agent.
    pub(crate) fn new(policy: SitePolicy) -> Result<Self, ClientError> {
        Self::build(policy, None)
    }

    /// [`SiteFetcher::new`], taking every request's turn from `budget`,
    /// which every other process asking this site shares.
    pub(crate) fn with_budget(
        policy: SitePolicy,
        budget: std::sync::Arc<dyn SharedBudget>,
    ) -> Result<Self, ClientError> {
        let turns = SharedTurns::new(budget, &policy.name, shared::system_clock());
        Self::build(policy, Some(turns))
    }

    fn build(policy: SitePolicy, shared: Option<SharedTurns>) -> Result<Self, ClientError> {
        let client = build_client(&policy)?;
        let permits = usize::try_from(policy.concurrency.max(1)).unwrap_or(1);
        Ok(SiteFetcher {
            client,
            permits: Semaphore::new(permits),
            pacer: Pacer::with_clock(policy.rate.interval(), MonotonicClock),
            not_before: NotBefore::default(),
            sends: SendLog::new(),
            robots: Default::default(),
            robots_fetch: tokio::sync::Mutex::new(()),
            shared,
            requests: Arc::default(),
            policy,
        })
    }

    /// The counters every request sent is recorded in.
    pub(crate) fn requests(&self) -> &Arc<RequestStats> {
        &self.requests
    }

    /// Records into `requests` from now on: the counters of the site this
    /// fetcher replaces after a reload, so they run on.
    pub(crate) fn count_requests_in(&mut self, requests: Arc<RequestStats>) {
        self.requests = requests;
    }

    #[cfg(test)]
    pub(crate) fn policy(&self) -> &SitePolicy {
        &self.policy
    }

    /// GET `path_and_query` (relative to `base_url`). Never panics, never
    /// returns an error type: every failure is a [`Fetched`] with `failure`.
    /// Error strings never contain the URL (it carries a protected number).
    ///
    /// May wait long before sending: for the pacer, for free concurrency,
    /// and for a `Retry-After` another probe received (up to an hour). Check
    /// [`SiteFetcher::retry_gate`] first to skip a closed site; dropping the
    /// future cancels cleanly.
    pub(crate) async fn get(&self, path_and_query: &str) -> Fetched {
        let url = match self.resolve(path_and_query) {
            Ok(u) => u,
            Err(kind) => return failed(None, kind, 0),
        };
        if let Err(kind) = self.robots_gate(&url).await {
            // Nothing is sent, but the refusal still takes its turn at the
            // gate: a site that refuses us is cycled at its normal pace
            // instead of spinning through the roster, recording thousands
            // of inconclusive probes a second.
            self.pass_gate().await;
            return failed(None, kind, 0);
        }
        self.fetch(&url, true).await
    }

    /// The retry loop around [`SiteFetcher::attempt`]. `check_robots` is
    /// false only for robots.txt itself.
    async fn fetch(&self, url: &Url, check_robots: bool) -> Fetched {
        let mut backoff = Backoff::new();
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            let (mut fetched, next) = self.attempt(url, check_robots).await;
            fetched.attempts = attempts;
            let retries_left = attempts <= self.policy.max_retries;
            match next {
                Next::Done => return fetched,
                Next::RetryAfter(wait) => {
                    // The gate is set even when we give up: other probes of
                    // this site, in this process and in every other, must
                    // respect it too.
                    let wait = wait.min(MAX_RETRY_AFTER);
                    self.not_before.push(wait);
                    self.close_shared(wait).await;
                    if !retries_left || wait > self.policy.max_retry_wait {
                        return fetched;
                    }
                }
                Next::Throttled => {
                    // Site-wide, not just this probe: every request to the
                    // site counts towards whatever limit it enforces.
                    let wait = backoff.next_delay();
                    self.not_before.push(wait);
                    self.close_shared(wait).await;
                    if !retries_left {
                        return fetched;
                    }
                }
                Next::Backoff => {
                    if !retries_left {
                        return fetched;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Whether robots.txt lets us request `url`, fetching the file first
    /// when the cached copy is missing or too old.
    async fn robots_gate(&self, url: &Url) -> Result<(), FailKind> {
        if self.policy.robots != RobotsPolicy::Honour {
            return Ok(());
        }
        let decide = |l: Lookup| match l {
            Lookup::Use(rules) if rules.allowed(url) => Some(Ok(())),
            Lookup::Use(_) => Some(Err(FailKind::RobotsDisallowed)),
            Lookup::Refuse(reason) => Some(Err(FailKind::RobotsUnavailable(reason))),
            Lookup::Fetch => None,
        };
        if let Some(v) = decide(self.robots_lookup()) {
            return v;
        }
        let _one = self.robots_fetch.lock().await;
        // Another probe may have fetched it while we waited for the lock.
        if let Some(v) = decide(self.robots_lookup()) {
            return v;
        }
        let Ok(robots_url) = self.policy.base_url.join("/robots.txt") else {
            return Err(FailKind::RobotsUnavailable("robots.txt URL invalid".into()));
        };
        let answer = robots::classify(&self.fetch(&robots_url, false).await);
        match &answer {
            Ok(rules) => tracing::info!(
                site = %self.policy.name,
                crawl_delay_seconds = rules.crawl_delay().map(|d| d.as_secs_f64()),
                "robots.txt read."
            ),
            Err(reason) => tracing::warn!(
                site = %self.policy.name,
                %reason,
                retry_in_seconds = robots::ROBOTS_RETRY.as_secs(),
                "robots.txt unreadable: every request to the site counts as disallowed until it is read."
            ),
        }
        let crawl_delay = {
            let mut cache = lock_robots(&self.robots);
            cache.store(answer, Instant::now());
            cache.crawl_delay()
        };
        let configured = self.policy.rate.interval();
        self.pacer
            .set_interval(crawl_delay.map_or(configured, |d| d.max(configured)));
        if let Some(shared) = &self.shared {
            shared
                .share_crawl_delay(crawl_delay, robots::ROBOTS_TTL)
                .await;
        }
        decide(self.robots_lookup())
            .unwrap_or_else(|| Err(FailKind::RobotsUnavailable("robots.txt unreachable".into())))
    }

    fn robots_lookup(&self) -> Lookup {
        lock_robots(&self.robots).lookup(Instant::now())
    }

    /// For a redirect hop: the cached rules (just checked for the first
    /// URL of the request).
    fn robots_allow_hop(&self, url: &Url) -> bool {
        if self.policy.robots != RobotsPolicy::Honour {
            return true;
        }
        lock_robots(&self.robots)
            .current()
            .is_some_and(|r: std::sync::Arc<Rules>| r.allowed(url))
    }

    /// The spacing the pacer enforces now: the configured interval, or the
    /// robots.txt Crawl-delay when that is longer.
    pub(crate) fn pacing_interval(&self) -> Duration {
        self.pacer.interval()
    }

    /// The Crawl-delay of the cached robots.txt, if it sets one.
    pub(crate) fn robots_crawl_delay(&self) -> Option<Duration> {
        lock_robots(&self.robots).crawl_delay()
    }

    /// Requests actually sent per second over the last minute (for status).
    pub(crate) fn effective_rate(&self) -> f64 {
        self.sends.rate()
    }

    /// How long until the site's `Retry-After`/backoff gate opens, when it
    /// is closed. A scheduler can use this to skip the site instead of
    /// parking probes in [`SiteFetcher::get`].
    pub(crate) fn retry_gate(&self) -> Option<Duration> {
        self.not_before.remaining()
    }

    fn resolve(&self, path_and_query: &str) -> Result<Url, FailKind> {
        let url = self
            .policy
            .base_url
            .join(path_and_query)
            .map_err(|_| FailKind::Transport("invalid request path".into()))?;
        // "//other.host/..." or an absolute URL would escape the site.
        if url.origin() != self.policy.base_url.origin() {
            return Err(FailKind::Transport("request path leaves the site".into()));
        }
        Ok(url)
    }

    /// The `Retry-After` gate, then this request's turn of the budget every
    /// process shares, then the pacer (the caller holds a permit). The
    /// pacer goes last so this process's own requests stay a whole
    /// interval apart even when a turn went out a little late.
    async fn pass_gate(&self) {
        loop {
            self.not_before.wait().await;
            let interval = self.pacer.interval();
            if let Some(shared) = self.shared.as_ref().filter(|_| interval >= SHARED_FROM)
                && let Turn::Closed { until_us } = shared.turn(interval).await
            {
                // Another process was told to wait: so are we.
                let now = shared::system_clock()();
                let wait = until_us.saturating_sub(now).max(0).unsigned_abs();
                self.not_before.push(Duration::from_micros(wait));
                continue;
            }
            self.pacer.until_ready_with(tokio::time::sleep).await;
            // Another in-flight probe may have got a 429 while we waited for
            // the pacer; sending now would ignore that Retry-After.
            if self.not_before.remaining().is_none() {
                return;
            }
        }
    }

    /// Closes the site for every process sharing its budget.
    async fn close_shared(&self, wait: Duration) {
        if let Some(shared) = &self.shared {
            shared.close_for(wait).await;
        }
    }

    /// Hands back the shared turns this process holds but will not use:
    /// call it when this fetcher stops asking the site (a command ends, the
    /// daemon stops), so other processes need not wait for them.
    pub(crate) async fn release_turns(&self) {
        if let Some(shared) = &self.shared {
            shared.release().await;
        }
    }

    /// One attempt: up to `MAX_REDIRECT_HOPS` same-origin redirects, each
    /// hop through the gate. The permit is held for the whole attempt but
    /// not across the retry backoff, so a sleeping probe blocks nobody.
    /// Kept whole (just over 100 lines): every exit of the redirect loop
    /// releases the permit and reports the same way, which is easiest to
    /// check in one place.
    #[allow(clippy::too_many_lines)]
    async fn attempt(&self, start: &Url, check_robots: bool) -> (Fetched, Next) {
        let Ok(_permit) = self.permits.acquire().await else {
            return (
                failed(None, FailKind::Transport("fetcher closed".into()), 0),
                Next::Done,
            );
        };
        let mut url = start.clone();
        let mut hops = 0u32;
        loop {
            self.pass_gate().await;
            self.sends.record();
            let sent = Instant::now();
            // reqwest's own timeout covers the same span; this one also
            // bounds our body loop and cannot be lost in a builder change.
            let deadline = sent + self.policy.total_timeout;
            let mut resp = match tokio::time::timeout_at(
                deadline,
                self.client.get(url.clone()).send(),
            )
            .await
            {
                Err(_) => {
                    self.requests.record(RequestCode::Timeout, sent.elapsed());
                    return (failed(None, FailKind::Timeout, 0), Next::Backoff);
                }
                Ok(Err(e)) => {
                    let (kind, retry) = classify(&e);
                    self.requests.record(request_code(&kind), sent.elapsed());
                    return (failed(None, kind, 0), retry_or_done(retry));
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            let code = status.as_u16();

            if matches!(code, 301 | 302 | 303 | 307 | 308) {
                self.requests
                    .record(RequestCode::Status(code), sent.elapsed());
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| url.join(loc).ok());
                match next {
                    Some(next)
                        if hops < MAX_REDIRECT_HOPS
                            && next.origin() == self.policy.base_url.origin() =>
                    {
                        if check_robots && !self.robots_allow_hop(&next) {
                            return (
                                failed(Some(code), FailKind::RobotsDisallowed, 0),
                                Next::Done,
                            );
                        }
                        hops += 1;
                        url = next;
                        continue;
                    }
                    _ => return (failed(Some(code), FailKind::Redirect, 0), Next::Done),
                }
            }

            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let ok = status.is_success();
            let body = match tokio::time::timeout_at(
                deadline,
                read_capped(&mut resp, self.policy.max_body_bytes, ok),
            )
            .await
            {
                Ok(b) => b,
                Err(_) => Body {
                    bytes: None,
                    len: 0,
                    sha256: None,
                    failure: Some((FailKind::Timeout, true)),
                },
            };
            self.requests
                .record(RequestCode::Status(code), sent.elapsed());

            let mut fetched = Fetched {
                status: Some(code),
                sha256: body.sha256,
                body_len: body.len,
                body: None,
                failure: None,
                attempts: 0,
            };
            if ok {
                return match body.failure {
                    Some((kind, retry)) => {
                        fetched.failure = Some(kind);
                        (fetched, retry_or_done(retry))
                    }
                    None => {
                        fetched.body = body.bytes.map(lossy_utf8);
                        (fetched, Next::Done)
                    }
                };
            }
            fetched.failure = Some(FailKind::Status(code));
            let next = match code {
                429 | 503 => retry_after.map_or(Next::Throttled, Next::RetryAfter),
                500..=599 => Next::Backoff,
                _ => Next::Done,
            };
            return (fetched, next);
        }
    }
}

/// A poisoned lock only means a task panicked while holding it; the cache
/// is still meaningful, and the fetcher must never panic.
fn lock_robots(m: &std::sync::Mutex<robots::Cache>) -> std::sync::MutexGuard<'_, robots::Cache> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `code` label of a request that got no answer.
fn request_code(kind: &FailKind) -> RequestCode {
    match kind {
        FailKind::Timeout => RequestCode::Timeout,
        FailKind::Connect => RequestCode::Connect,
        _ => RequestCode::Error,
    }
}

fn retry_or_done(retry: bool) -> Next {
    if retry { Next::Backoff } else { Next::Done }
}

fn failed(status: Option<u16>, kind: FailKind, attempts: u32) -> Fetched {
    Fetched {
        status,
        sha256: None,
        body_len: 0,
        body: None,
        failure: Some(kind),
        attempts,
    }
}

fn lossy_utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Parses `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
/// relative to `now`. A date in the past gives `Some(ZERO)` (retry now);
/// negative or unparseable values give `None`. Not capped here: the caller
/// decides how long it is willing to honour.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit is still "a very long time", not garbage.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`):
/// the only hosts plain `http://` is accepted for.
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
