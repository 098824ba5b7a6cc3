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
use dk118::Dk118;

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

/// The built-in adapters, by the name `[[sites]] adapter` takes.
pub const ADAPTERS: [&str; 3] = ["dk118", "eniro", "declarative"];

/// What a `[[sites]]` table says about its adapter.
#[derive(Debug, Clone, Copy)]
pub struct AdapterSpec<'a> {
    /// `adapter`: one of [`ADAPTERS`].
    pub adapter: &'a str,
    /// `no_results`: the no-results marker's selector (118.dk only).
    pub no_results: Option<&'a str>,
    /// `[sites.declarative]`.
    pub declarative: Option<&'a declarative::DeclarativeSpec>,
}

/// Why an adapter cannot be built: `key` is the key of the site's table
/// at fault (`adapter`, `no_results`, `declarative`, `declarative.<field>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct AdapterError {
    pub key: String,
    pub message: String,
}

impl Adapter {
    /// The adapter a `[[sites]]` table asks for. Adding an adapter means a
    /// variant of [`Adapter`], its name in [`ADAPTERS`] and its arm here;
    /// the config reads nothing else about it.
    pub fn build(spec: &AdapterSpec<'_>) -> Result<Adapter, AdapterError> {
        let fail = |key: &str, message: String| AdapterError {
            key: key.to_string(),
            message,
        };
        let adapter = match spec.adapter {
            "dk118" => Dk118::new(spec.no_results)
                .map(Adapter::Dk118)
                .map_err(|e| fail("no_results", format!("invalid CSS selector: {e}")))?,
            "eniro" => {
                if spec.no_results.is_some() {
                    return Err(fail(
                        "no_results",
                        "the eniro adapter reads its no-hits signal from the page data; remove no_results".into(),
                    ));
                }
                eniro::Eniro::new(eniro::DEFAULT_LOCALE)
                    .map(Adapter::Eniro)
                    .map_err(|e| fail("adapter", e))?
            }
            "declarative" => {
                let Some(d) = spec.declarative else {
                    return Err(fail(
                        "declarative",
                        "adapter \"declarative\" needs a [sites.declarative] table".into(),
                    ));
                };
                if spec.no_results.is_some() {
                    return Err(fail(
                        "no_results",
                        "set no_results inside [sites.declarative]".into(),
                    ));
                }
                declarative::Declarative::new(d)
                    .map(Adapter::Declarative)
                    .map_err(|(field, msg)| fail(&format!("declarative.{field}"), msg))?
            }
            other => {
                return Err(fail(
                    "adapter",
                    format!(
                        "unknown adapter {other:?}; built-in adapters: {}",
                        ADAPTERS.join(", ")
                    ),
                ));
            }
        };
        if spec.declarative.is_some() && !matches!(adapter, Adapter::Declarative(_)) {
            return Err(fail(
                "declarative",
                "[sites.declarative] only applies with adapter = \"declarative\"".into(),
            ));
        }
        Ok(adapter)
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

/// What the adapters' fixture tests share: a listing reduced to what they
/// compare, and the expected page.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Page, Unparseable};
    use crate::domain::Listing;

    /// A listing as the tests expect it: name, phones, address text.
    #[derive(Debug, PartialEq)]
    pub(crate) struct L<'a>(pub Option<&'a str>, pub Vec<&'a str>, pub Option<&'a str>);

    fn summary(l: &Listing) -> L<'_> {
        L(
            l.name.as_deref(),
            l.phones.iter().map(String::as_str).collect(),
            l.address.as_ref().map(|a| a.text.as_str()),
        )
    }

    pub(crate) enum Want<'a> {
        Hits(Vec<L<'a>>, bool),
        NoHits,
        Unparseable(&'a str),
    }

    pub(crate) fn assert_page(got: &Result<Page, Unparseable>, want: Want<'_>) {
        match (want, got) {
            (Want::Hits(ls, more), Ok(Page::Hits { listings, more: m })) => {
                let got: Vec<L<'_>> = listings.iter().map(summary).collect();
                assert_eq!(got, ls);
                assert_eq!(*m, more, "more");
            }
            (Want::NoHits, Ok(Page::NoHits)) => {}
            (Want::Unparseable(r), Err(Unparseable(g))) => assert_eq!(g, r),
            (_, got) => panic!("unexpected {got:?}"),
        }
    }
}
