//! The only code that talks to directory sites.
//!
//! Architecture invariant: every outbound request to a site goes through
//! [`SiteFetcher::get`], which passes the site's politeness gate (the
//! evenly spaced rate limiter, the `Retry-After` gate and the concurrency
//! semaphore) for *every attempt*, retries included.

use std::time::Duration;

use url::Url;

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
}

/// Why a fetch did not produce a usable 2xx body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailKind {
    /// Non-2xx final status (403, 404, 429, 5xx, ...).
    Status(u16),
    Timeout,
    Connect,
    /// Redirect to another host, or more than 3 hops.
    Redirect,
    /// Decoded body larger than `max_body_bytes`.
    TooLarge,
    /// Content decoding failed (bad gzip) or other transport error.
    Transport(String),
}

impl std::fmt::Display for FailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailKind::Status(s) => write!(f, "http status {s}"),
            FailKind::Timeout => f.write_str("timeout"),
            FailKind::Connect => f.write_str("connection failed"),
            FailKind::Redirect => f.write_str("redirect refused"),
            FailKind::TooLarge => f.write_str("response body over the size cap"),
            FailKind::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

/// The result of one logical fetch (after retries).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Final HTTP status, if any response arrived.
    pub status: Option<u16>,
    /// Lowercase hex SHA-256 of the decoded body, when a body was read whole.
    pub sha256: Option<String>,
    /// Decoded body length in bytes (as far as read).
    pub body_len: usize,
    /// The body as text (lossy UTF-8), present only for 2xx.
    pub body: Option<String>,
    /// `None` on success (2xx with a body within the cap).
    pub failure: Option<FailKind>,
    /// Attempts made (1 + retries).
    pub attempts: u32,
}

/// One site's HTTP client and politeness gate. Cheap to share behind `Arc`.
#[derive(Debug)]
pub struct SiteFetcher {
    policy: SitePolicy,
}

impl SiteFetcher {
    pub fn new(policy: SitePolicy) -> Result<Self, String> {
        let _ = &policy;
        todo!("helper")
    }

    pub fn policy(&self) -> &SitePolicy {
        &self.policy
    }

    /// GET `path_and_query` (relative to `base_url`). Never panics, never
    /// returns an error type: every failure is a [`Fetched`] with `failure`.
    /// Error strings never contain the URL (it carries a protected number).
    pub async fn get(&self, path_and_query: &str) -> Fetched {
        let _ = path_and_query;
        todo!("helper")
    }

    /// Requests actually sent per second over the last minute (for status).
    pub fn effective_rate(&self) -> f64 {
        todo!("helper")
    }
}

/// Parses `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
/// relative to `now`. Negative or unparseable values give `None`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let _ = (value, now);
    todo!("helper")
}

/// Replaces the 8 digits with `NNNN••••` for display and storage.
pub fn mask_number_in_url(path_and_query: &str, national: &str) -> String {
    let _ = (path_and_query, national);
    todo!("helper")
}
