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
    /// `/<q>/personer/<page>`); a [`Search`] also uses the cheaper JSON data
    /// route (see [`eniro`] for the protocol).
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

    /// [`Adapter::request_path`] as it is stored: redacted (the number's
    /// digits as `•`, a name, street, postcode or city as `•••`). Nothing
    /// else of a request is ever kept.
    pub fn stored_path(&self, query: &Query, page: u32) -> String {
        match self {
            Adapter::Dk118(a) => a.stored_path(query, page),
            Adapter::Eniro(a) => a.html_page_path_in(query, page, common::Form::Stored),
            Adapter::Declarative(a) => a.stored_path(query, page),
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

/// A request a [`Search`] wants sent. Its `Debug` shows the stored form
/// only: the path carries the number or the name searched for.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Path and query, relative to the site's `base_url`.
    pub path: String,
    /// The same request as it is stored and shown: redacted by the adapter
    /// (see [`Adapter::stored_path`]).
    pub stored: String,
    /// The result page (1-based) it reads.
    pub page: u32,
    route: Route,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("stored", &self.stored)
            .field("page", &self.page)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// How a request's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// [`Adapter::parse`].
    Page,
    Eniro(eniro::Route),
}

/// What an answer's status means, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Read it (a failed fetch is then the fetcher's to report).
    Read,
    /// Send this request for the same page instead.
    Retry(Request),
    /// The page cannot be had; the reason, for an inconclusive outcome.
    GiveUp(&'static str),
}

/// One query's conversation with its site, page by page, without IO: the
/// engine asks for the request that reads page N, sends it, tells the
/// search the answer's status ([`Search::verdict`]: read it, or send
/// another request first), and hands it the body ([`Search::read`]). Each
/// adapter keeps its own protocol here (Eniro's `buildId` and data route),
/// so the engine never needs to know which site it talks to.
#[derive(Debug, Clone)]
pub struct Search {
    adapter: Adapter,
    query: Query,
    protocol: Protocol,
}

/// Per-adapter memory of a search.
#[derive(Debug, Clone)]
enum Protocol {
    /// One request per page, by [`Adapter::request_path`].
    OneRoute,
    Eniro(eniro::DataRoute),
}

impl Adapter {
    /// A search for `query` (which the adapter [`Adapter::supports`]).
    pub fn search(&self, query: &Query) -> Search {
        let protocol = match self {
            Adapter::Eniro(_) => Protocol::Eniro(eniro::DataRoute::default()),
            Adapter::Dk118(_) | Adapter::Declarative(_) => Protocol::OneRoute,
        };
        Search {
            adapter: self.clone(),
            query: query.clone(),
            protocol,
        }
    }
}

impl Search {
    /// The first request for result page `page` (1-based).
    pub fn request(&self, page: u32) -> Request {
        match (&self.adapter, &self.protocol) {
            (Adapter::Eniro(e), Protocol::Eniro(d)) => {
                let (path, route) = d.request(e, &self.query, page);
                let (stored, _) = d.request_in(e, &self.query, page, common::Form::Stored);
                Request {
                    path,
                    stored,
                    page,
                    route: Route::Eniro(route),
                }
            }
            (a, _) => Request {
                path: a.request_path(&self.query, page),
                stored: a.stored_path(&self.query, page),
                page,
                route: Route::Page,
            },
        }
    }

    /// What the status of `req`'s answer (`None`: no answer) means.
    pub fn verdict(&mut self, req: &Request, status: Option<u16>) -> Verdict {
        let (Adapter::Eniro(e), Protocol::Eniro(d), Route::Eniro(route)) =
            (&self.adapter, &mut self.protocol, req.route)
        else {
            return Verdict::Read;
        };
        match d.on_status(e, &self.query, req.page, route, status) {
            None => Verdict::Read,
            // A stale build: the same page again by the HTML route.
            Some(Ok(path)) => Verdict::Retry(Request {
                path,
                stored: e.html_page_path_in(&self.query, req.page, common::Form::Stored),
                page: req.page,
                route: Route::Eniro(eniro::Route::Html),
            }),
            Some(Err(reason)) => Verdict::GiveUp(reason),
        }
    }

    /// Reads a 2xx body answering `req`. CPU work on a possibly large page:
    /// call it off the async workers.
    pub fn read(&mut self, req: &Request, body: &str) -> Result<Page, Unparseable> {
        match (&self.adapter, &mut self.protocol, req.route) {
            (Adapter::Eniro(e), Protocol::Eniro(d), Route::Eniro(route)) => {
                d.read(e, route, body, req.page)
            }
            (a, _, _) => a.parse(body, req.page),
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

#[cfg(test)]
mod search_tests {
    use super::*;

    /// The Eniro protocol as a state machine, without IO: HTML route for
    /// page 1, the data route with its `buildId` after that, one re-read by
    /// the HTML route on a stale build, and no second chase.
    #[test]
    fn eniro_search_goes_by_the_data_route_and_recovers_once() {
        let adapter = Adapter::Eniro(eniro::Eniro::new("da").unwrap_or_else(|e| panic!("{e}")));
        let q = Query::Number(E164::parse_dk("13572468").unwrap_or_else(|e| panic!("{e}")));
        let mut s = adapter.search(&q);
        let r1 = s.request(1);
        assert_eq!(r1.path, "/13572468/personer");
        // A failing HTML page is read (and reported) as such.
        assert_eq!(s.verdict(&r1, Some(404)), Verdict::Read);
        let page1 = include_str!("../../tests/fixtures/eniro/page1.html");
        assert!(matches!(
            s.read(&r1, page1),
            Ok(Page::Hits { more: true, .. })
        ));
        let r2 = s.request(2);
        assert_eq!(
            r2.path,
            "/_next/data/k3Rk-bUiLd_2024a/da/search/13572468/persons/2.json"
        );
        assert_eq!(s.verdict(&r2, Some(200)), Verdict::Read);
        let Verdict::Retry(again) = s.verdict(&r2, Some(404)) else {
            panic!("a stale build is re-read by the HTML route");
        };
        assert_eq!(again.path, "/13572468/personer/2");
        assert_eq!(
            s.verdict(&r2, Some(404)),
            Verdict::GiveUp(eniro::STALE_AGAIN)
        );
        // Other adapters page by `request_path` alone.
        let dk = Adapter::Dk118(Dk118::new(None).unwrap_or_else(|e| panic!("{e}")));
        let mut s = dk.search(&q);
        let r = s.request(2);
        assert_eq!(r.path, dk.request_path(&q, 2));
        assert_eq!(s.verdict(&r, Some(404)), Verdict::Read);
    }
}

#[cfg(test)]
mod stored_form_tests {
    use super::*;
    use proptest::prelude::*;

    fn adapters() -> Vec<Adapter> {
        let spec = |search: &str, search_name: &str| declarative::DeclarativeSpec {
            search: search.into(),
            search_name: Some(search_name.into()),
            item: ".p".into(),
            name: Some(".n".into()),
            ..Default::default()
        };
        let mut v = vec![
            Adapter::Dk118(Dk118::new(None).unwrap_or_else(|e| panic!("{e}"))),
            Adapter::Eniro(eniro::Eniro::new("da").unwrap_or_else(|e| panic!("{e}"))),
        ];
        for (search, search_name) in [
            (
                "/sok?vad={number_national}&sida={page}",
                "/sok?vad={name}&var={place}",
            ),
            (
                "/n/{number_e164}/{page}",
                "/s/{name}/{postcode}/{city}?p={page}",
            ),
        ] {
            v.push(Adapter::Declarative(
                declarative::Declarative::new(&spec(search, search_name))
                    .unwrap_or_else(|(k, m)| panic!("{k}: {m}")),
            ));
        }
        v
    }

    /// Every written form of `value` a stored path could hold.
    fn forms(value: &str) -> Vec<String> {
        let enc = |s: &str| common::encode_component(s);
        vec![
            value.to_owned(),
            enc(value),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        ]
    }

    proptest! {
        /// Whatever is searched for, the stored request holds no digit of
        /// the number and no word of the name or the place, in any form,
        /// on every adapter, for every page and route.
        #[test]
        fn stored_requests_hold_nothing_searched_for(
            digits in "(13|19|94|95)[0-9]{6}",
            first in "[A-ZÆØÅ][a-zæøå]{2,9}",
            last in "[A-ZÆØÅ][a-zæøå]{2,11}",
            postcode in "[1-9][0-9]{3}",
            city in "[A-ZÆØÅ][a-zæøå]{2,9}( [A-Z])?",
            page in 1u32..5,
        ) {
            let number = Query::Number(E164::parse_dk(&digits).unwrap_or_else(|e| panic!("{e}")));
            let name = Query::NameAt {
                name: format!("{first} {last}"),
                place: format!("{postcode} {city}"),
            };
            for a in adapters() {
                let n = a.search(&number).request(page).stored;
                for i in 0..=digits.len() - 3 {
                    prop_assert!(!n.contains(&digits[i..i + 3]), "{n}");
                }
                let q = a.search(&name).request(page).stored;
                let needles = [&first, &last, &postcode, &city];
                for needle in needles {
                    for f in forms(needle) {
                        prop_assert!(!q.contains(&f), "{q} holds {f}");
                    }
                }
                prop_assert!(q.contains(common::REDACTED), "{q}");
            }
        }
    }
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
