//! Site adapters: how to ask a directory site, and how to read its answer.
//!
//! Architecture invariant: adapters are sans-IO. They build request paths
//! and turn page text into [`Page`]s; they never fetch, sleep or log. That
//! keeps them testable on fixture strings and fuzzable.

pub(crate) mod common;
pub mod declarative;
pub mod dk118;
pub mod eniro;

use crate::domain::{E164, Listing};

/// What we search a site for.
#[derive(Clone, PartialEq, Eq)]
pub enum Query {
    /// Reverse lookup of one number.
    Number(E164),
    /// A name within a place (postcode and/or city), for address probes.
    NameAt { name: String, place: String },
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Query::Number(n) => write!(f, "Number({n:?})"),
            Query::NameAt { .. } => f.write_str("NameAt(..)"),
        }
    }
}

/// A page the adapter understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// One or more listings. `more` is true when the site says there are
    /// further result pages (or the page is full and may continue).
    Hits { listings: Vec<Listing>, more: bool },
    /// The site's positive "no results" marker was present. The only way a
    /// page with zero listings can be conclusive.
    NoHits,
}

/// The page could not be understood: layout drift, a challenge page, an
/// error page served with 200, truncated HTML... Always `inconclusive`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unparseable(pub String);

/// The built-in adapters. An enum rather than a trait object: the set is
/// closed per release, and declarative sites become one more variant.
#[derive(Debug, Clone)]
pub enum Adapter {
    Dk118(dk118::Dk118),
    /// krak.dk / degulesider.dk. Through [`Adapter::request_path`] and
    /// [`Adapter::parse`] it uses the HTML route only (`/<q>/personer`,
    /// `/<q>/personer/<page>`); an engine may use the cheaper JSON data
    /// route through [`Adapter::is_eniro`] (see [`eniro`] for the protocol).
    Eniro(eniro::Eniro),
    /// A site described in config (`[sites.declarative]`).
    Declarative(declarative::Declarative),
}

impl Adapter {
    /// Path and query (relative to the site's `base_url`) for page `page`
    /// (1-based) of `query`. Only meaningful when [`Adapter::supports`]
    /// the query.
    pub fn request_path(&self, query: &Query, page: u32) -> String {
        match self {
            Adapter::Dk118(a) => a.request_path(query, page),
            Adapter::Eniro(a) => a.html_page_path(query, page),
            Adapter::Declarative(a) => a.request_path(query, page),
        }
    }

    /// Reads a 2xx response body for result page `page` (1-based).
    pub fn parse(&self, body: &str, page: u32) -> Result<Page, Unparseable> {
        match self {
            Adapter::Dk118(a) => a.parse_page(body, page),
            Adapter::Eniro(a) => a.parse_html_page(body, page).map(|(_, p)| p),
            Adapter::Declarative(a) => a.parse(body, page),
        }
    }

    /// Whether the site can be asked `query` at all. A declarative site
    /// without a `search_name` template cannot do name probes; the engine
    /// must skip those (never count them as clean).
    pub fn supports(&self, query: &Query) -> bool {
        match self {
            Adapter::Dk118(_) | Adapter::Eniro(_) => true,
            Adapter::Declarative(a) => a.supports(query),
        }
    }

    /// The Eniro adapter, for an engine that drives its JSON data route
    /// (`buildId` from [`eniro::Eniro::parse_html`], pages from
    /// [`eniro::Eniro::json_path`], re-read on [`eniro::stale_build`]).
    pub fn is_eniro(&self) -> Option<&eniro::Eniro> {
        match self {
            Adapter::Eniro(a) => Some(a),
            _ => None,
        }
    }
}

/// Markers of bot-protection interstitials that sites serve instead of
/// results, sometimes with status 200. Shared by every adapter.
pub fn looks_like_challenge(body: &str) -> bool {
    let head: String = body
        .chars()
        .take(64 * 1024)
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "challenges.cloudflare.com",
        "cf-turnstile",
        "turnstile",
        "captcha",
        "cf-challenge",
        "/cdn-cgi/challenge-platform",
    ]
    .iter()
    .any(|m| head.contains(m))
}
