//! robots.txt (RFC 9309), per site: what a fetched file means, and how long
//! the answer is good for.
//!
//! The fetching itself happens in [`super::SiteFetcher`], through the site's
//! politeness gate like every other request. This module is the pure part:
//! it classifies the answer and keeps the cache, with the time passed in, so
//! the rules are testable without a clock or a server.
//!
//! The rules, in short:
//! - 2xx: the file's rules for the agent `unlistd` (or `*`), and its
//!   Crawl-delay.
//! - 4xx other than 407, 408 and 429: there is no robots.txt; everything
//!   is allowed.
//! - 407 (from our proxy), 408, 429, 5xx, timeouts, refused connections, cross-origin or looping
//!   redirects, a file over the body cap: unreachable. RFC 9309 §2.3.1.4
//!   says to assume complete disallow then. We do, unless an earlier copy
//!   is cached (§2.4 allows using it while the file is unreachable), and we
//!   try again after [`ROBOTS_RETRY`].
//! - A file the parser rejects: disallow too, and retry. A crawler that
//!   cannot read the site's wishes must not guess them in its own favour.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::{FailKind, Fetched};

/// The product token we look for in `User-agent:` lines.
pub(crate) const AGENT: &str = "unlistd";

/// How long a fetched robots.txt is trusted (RFC 9309 §2.4: "SHOULD NOT use
/// the cached version for more than 24 hours").
pub(crate) const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);

/// After a failed fetch, how long before the next try. Every try costs a
/// request from the site's budget, so not on every probe.
pub(crate) const ROBOTS_RETRY: Duration = Duration::from_secs(300);

/// Crawl-delay values above this are read as this: a day between requests
/// already makes the site useless to us, and `status` shows the rate.
const MAX_CRAWL_DELAY: Duration = Duration::from_secs(24 * 3600);

/// Whether the site's robots.txt is consulted (`robots_txt` in config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsPolicy {
    Honour,
    /// `robots_txt = false`, with the operator's written reason.
    Ignore {
        reason: String,
    },
}

/// What a robots.txt says for us.
pub(crate) enum Rules {
    /// No robots.txt (4xx): nothing is off limits.
    AllowAll,
    Parsed(texting_robots::Robot),
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rules::AllowAll => f.write_str("AllowAll"),
            Rules::Parsed(r) => f
                .debug_struct("Parsed")
                .field("crawl_delay", &r.delay)
                .finish_non_exhaustive(),
        }
    }
}

impl Rules {
    pub(crate) fn allowed(&self, url: &Url) -> bool {
        match self {
            Rules::AllowAll => true,
            Rules::Parsed(r) => r.allowed(url.as_str()),
        }
    }

    /// The Crawl-delay for us, when the file sets a usable one.
    pub(crate) fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Rules::AllowAll => None,
            Rules::Parsed(r) => crawl_delay(r.delay),
        }
    }
}

fn crawl_delay(secs: Option<f32>) -> Option<Duration> {
    let s = secs?;
    if !s.is_finite() || s <= 0.0 {
        return None;
    }
    // f32 seconds: 0.3 would read as 300.000012 ms; milliseconds are plenty.
    let ms = (f64::from(s) * 1000.0)
        .round()
        .min(MAX_CRAWL_DELAY.as_millis() as f64);
    Some(Duration::from_millis(ms as u64).max(Duration::from_millis(1)))
}

/// Reads the answer to `GET /robots.txt`. `Err` is the reason the file
/// counts as unreachable (it becomes the probe's inconclusive reason, so it
/// never quotes the file).
pub(crate) fn classify(f: &Fetched) -> Result<Rules, String> {
    match (&f.failure, f.status, &f.body) {
        (None, _, Some(body)) => texting_robots::Robot::new(AGENT, body.as_bytes())
            .map(Rules::Parsed)
            .map_err(|_| "robots.txt unreadable (the parser rejected it)".to_string()),
        // "Slow down", "try again" and a proxy refusing us say nothing
        // about whether the file exists.
        (Some(FailKind::Status(s @ (407 | 408 | 429))), _, _) => {
            Err(format!("robots.txt unreachable (http status {s})"))
        }
        (Some(FailKind::Status(s)), _, _) if (400..500).contains(s) => Ok(Rules::AllowAll),
        (Some(kind), _, _) => Err(format!("robots.txt unreachable ({kind})")),
        (None, _, None) => Err("robots.txt unreachable (no body)".into()),
    }
}

/// What to do before a request.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Rules to apply (fresh, or the last good copy while the file is
    /// unreachable).
    Use(Arc<Rules>),
    /// No usable copy and a recent failure: refuse, with this reason.
    Refuse(String),
    /// Fetch robots.txt first.
    Fetch,
}

/// One site's cached robots.txt.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// The last file we could read, and when.
    good: Option<(Arc<Rules>, Instant)>,
    /// The last failure since then, and when.
    failed: Option<(String, Instant)>,
}

impl Cache {
    pub(crate) fn lookup(&self, now: Instant) -> Lookup {
        if let Some((rules, at)) = &self.good
            && now.saturating_duration_since(*at) < ROBOTS_TTL
        {
            return Lookup::Use(rules.clone());
        }
        match (&self.failed, &self.good) {
            (Some((_, at)), Some((rules, _)))
                if now.saturating_duration_since(*at) < ROBOTS_RETRY =>
            {
                Lookup::Use(rules.clone())
            }
            (Some((reason, at)), None) if now.saturating_duration_since(*at) < ROBOTS_RETRY => {
                Lookup::Refuse(reason.clone())
            }
            _ => Lookup::Fetch,
        }
    }

    /// Whatever rules are cached, however old; for redirect hops inside a
    /// request whose start URL was just checked.
    pub(crate) fn current(&self) -> Option<Arc<Rules>> {
        self.good.as_ref().map(|(r, _)| r.clone())
    }

    pub(crate) fn store(&mut self, answer: Result<Rules, String>, now: Instant) {
        match answer {
            Ok(rules) => {
                self.good = Some((Arc::new(rules), now));
                self.failed = None;
            }
            Err(reason) => self.failed = Some((reason, now)),
        }
    }

    /// The cached file's Crawl-delay, if it has one.
    pub(crate) fn crawl_delay(&self) -> Option<Duration> {
        self.good.as_ref().and_then(|(r, _)| r.crawl_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(status: u16, failure: Option<FailKind>, body: Option<&str>) -> Fetched {
        Fetched {
            status: Some(status),
            sha256: None,
            body_len: body.map_or(0, str::len),
            body: body.map(str::to_owned),
            failure,
            attempts: 1,
        }
    }

    fn url(p: &str) -> Url {
        Url::parse("https://www.krak.dk").unwrap().join(p).unwrap()
    }

    #[test]
    fn rules_for_our_agent_win_over_the_wildcard() {
        let txt = "User-agent: *\nDisallow: /\n\nUser-agent: unlistd\nDisallow: /_next/\nCrawl-delay: 4\n";
        let r = classify(&fetched(200, None, Some(txt))).unwrap();
        assert!(r.allowed(&url("/13500001/personer")));
        assert!(!r.allowed(&url("/_next/data/b1/da/search/x/persons/2.json")));
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(4)));
        // Our token is matched case-insensitively.
        let r = classify(&fetched(
            200,
            None,
            Some("User-agent: UnListD\nDisallow: /search\n"),
        ))
        .unwrap();
        assert!(!r.allowed(&url("/search/go?what=13500001")));
        assert!(r.allowed(&url("/")));
        // Otherwise the wildcard group applies.
        let r = classify(&fetched(
            200,
            None,
            Some("User-agent: *\nDisallow: /search\n"),
        ))
        .unwrap();
        assert!(!r.allowed(&url("/search/go?what=13500001&page=1")));
        let r = classify(&fetched(
            200,
            None,
            Some("User-agent: otherbot\nDisallow: /\n"),
        ))
        .unwrap();
        assert!(r.allowed(&url("/search/go?what=13500001")));
    }

    /// A site (or a simulated one) that answers every path with its HTML
    /// page has no robots rules: that must allow, not blind the site.
    #[test]
    fn an_html_page_or_empty_file_in_place_of_robots_txt_allows_everything() {
        for body in [
            "<!doctype html><html><head><title>118</title></head><body><p>Søg: navn, nummer</p></body></html>",
            "",
            "\u{feff}# nothing here\n",
        ] {
            let r = classify(&fetched(200, None, Some(body))).unwrap();
            assert!(r.allowed(&url("/13500001/personer")), "{body:?}");
            assert_eq!(r.crawl_delay(), None);
        }
    }

    #[test]
    fn status_codes_follow_rfc_9309() {
        for s in [400, 401, 403, 404, 410, 451] {
            let r = classify(&fetched(s, Some(FailKind::Status(s)), None)).unwrap();
            assert!(r.allowed(&url("/anything")), "{s}");
            assert_eq!(r.crawl_delay(), None);
        }
        for (s, kind) in [
            (407, FailKind::Status(407)),
            (408, FailKind::Status(408)),
            (429, FailKind::Status(429)),
            (500, FailKind::Status(500)),
            (503, FailKind::Status(503)),
            (0, FailKind::Timeout),
            (0, FailKind::Connect),
            (302, FailKind::Redirect),
            (200, FailKind::TooLarge),
        ] {
            let e = classify(&fetched(s, Some(kind.clone()), None)).unwrap_err();
            assert!(e.starts_with("robots.txt unreachable"), "{kind}: {e}");
        }
    }

    #[test]
    fn odd_crawl_delays_are_ignored_or_capped() {
        assert_eq!(crawl_delay(None), None);
        assert_eq!(crawl_delay(Some(0.0)), None);
        assert_eq!(crawl_delay(Some(-3.0)), None);
        assert_eq!(crawl_delay(Some(f32::NAN)), None);
        assert_eq!(crawl_delay(Some(f32::INFINITY)), None);
        assert_eq!(crawl_delay(Some(0.5)), Some(Duration::from_millis(500)));
        assert_eq!(crawl_delay(Some(1e9)), Some(MAX_CRAWL_DELAY));
    }

    #[test]
    fn cache_expires_after_the_ttl_and_retries_failures_later() {
        let t0 = Instant::now();
        let mut c = Cache::default();
        assert!(matches!(c.lookup(t0), Lookup::Fetch));

        // Unreachable with nothing cached: refuse until the retry time.
        c.store(Err("robots.txt unreachable (http status 503)".into()), t0);
        match c.lookup(t0 + Duration::from_secs(1)) {
            Lookup::Refuse(r) => assert!(r.contains("503"), "{r}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.lookup(t0 + ROBOTS_RETRY), Lookup::Fetch));

        // A good copy is used for the TTL, then fetched again.
        let t1 = t0 + ROBOTS_RETRY;
        c.store(Ok(Rules::AllowAll), t1);
        assert!(matches!(
            c.lookup(t1 + ROBOTS_TTL - Duration::from_secs(1)),
            Lookup::Use(_)
        ));
        let t2 = t1 + ROBOTS_TTL;
        assert!(matches!(c.lookup(t2), Lookup::Fetch));

        // The refetch fails: the stale copy stands in until the next try.
        c.store(Err("robots.txt unreachable (timeout)".into()), t2);
        assert!(matches!(c.lookup(t2), Lookup::Use(_)));
        assert!(matches!(c.lookup(t2 + ROBOTS_RETRY), Lookup::Fetch));
        assert!(c.current().is_some());
    }
}
