//! krak.dk and degulesider.dk (Eniro Danmark), `sites.md` §2, §3 and §9.
//!
//! The current front end is Next.js. Results reach us two ways:
//!
//! 1. **HTML route** `GET /<query>/personer` (page 1) and
//!    `/<query>/personer/<page>`: the page carries its data in
//!    `<script id="__NEXT_DATA__">{ buildId, props: { pageProps } }</script>`.
//! 2. **Data route** `GET /_next/data/<buildId>/<locale>/search/<query>/persons/<page>.json`:
//!    `{ "pageProps": { … } }`, the same `pageProps`. Cheaper, but the
//!    `buildId` changes with every deploy and a stale one answers 404.
//!
//! # Protocol
//!
//! [`super::Adapter::request_path`]/[`super::Adapter::parse`] drive the HTML
//! route only (one request per page), which is always correct. A search
//! ([`super::Search`], which the engine drives without knowing the site)
//! uses the data route for later pages, with [`DataRoute`] as its memory:
//!
//! 1. page 1: GET [`Eniro::html_path`], read it with [`Eniro::parse_html`],
//!    which also returns the `buildId`;
//! 2. page N > 1 with a known `buildId`: GET [`Eniro::json_path`] and read it
//!    with [`Eniro::parse_json`];
//! 3. when that GET answers a status for which [`stale_build`] is true
//!    (404), GET [`Eniro::html_page_path`] for the same page instead, read
//!    it with [`Eniro::parse_html_page`] and take the new `buildId` from it.
//!    That happens once per search; a second stale answer leaves the page
//!    unread ([`STALE_AGAIN`]), and the probe inconclusive.
//!
//! # Reading `pageProps`
//!
//! Persons are `pageProps.initialState.persons[]`, 25 per page, with the
//! total in `initialState.hits.persons`; `more` is `page × 25 < total`.
//! "No hits" needs a positive signal: `pageProps` without `initialState`
//! (what Eniro serves for an unknown number), or an `initialState` with an
//! empty `persons` list and `hits.persons == 0`. Anything else is
//! [`Unparseable`]: error or redirect props, `persons` anywhere except
//! under `initialState` (a renamed state key must not read as "no hits"),
//! persons without the `phones` or `addresses` lists (a renamed phone key
//! must not hide a number), phone or address entries without known keys.
//!
//! Floor and door: the real encoding is unknown, so both are read: folded
//! into `streetNumber` (`"14B, 2. th"`, split with the address helpers) and
//! as separate `floor`/`door` keys (which win when both are present).

use std::borrow::Cow;

use scraper::{Html, Selector};
use serde_json::{Map, Value};

use super::common::scan;
use super::common::{
    Form, Held, collapse, encode_component, push_phone, render_address, write_value,
};
use super::{Page, Query, Unparseable};
use crate::domain::address::split_street_line;
use crate::domain::{ListedAddress, Listing};

/// Persons per result page (fixed by the site).
pub const PAGE_SIZE: u32 = 25;

/// The locale segment of the Danish sites' data route.
pub const DEFAULT_LOCALE: &str = "da";

/// Fixed reasons for [`Unparseable`]. They never quote the page.
pub mod reason {
    pub const EMPTY_BODY: &str = "empty body";
    pub const CHALLENGE: &str = "bot-protection challenge page";
    pub const NO_NEXT_DATA: &str = "no __NEXT_DATA__ script";
    pub const BAD_JSON: &str = "page data is not valid JSON";
    pub const NO_PAGE_PROPS: &str = "no pageProps object in page data";
    pub const ERROR_PAGE: &str = "page data describes an error or redirect";
    pub const STRAY_PERSONS: &str = "persons outside initialState";
    pub const STATE_WITHOUT_PERSONS: &str = "initialState without persons list";
    pub const PERSONS_NOT_LIST: &str = "persons is not a list";
    pub const EMPTY_WITHOUT_COUNT: &str = "no persons and no zero hit count";
    pub const EMPTY_WITH_HITS: &str = "no persons but a positive hit count";
    pub const BAD_PERSON: &str = "person entry is not an object";
    pub const NO_PHONES_LIST: &str = "person without phones list";
    pub const NO_ADDRESSES_LIST: &str = "person without addresses list";
    pub const PERSON_UNREADABLE: &str = "person without readable name, phone or address";
    pub const PHONE_UNREADABLE: &str = "phone entry without a number";
    pub const ADDRESS_UNREADABLE: &str = "address entry without known fields";
}

/// Whether a data-route answer with this status means the `buildId` is
/// stale (a deploy happened): re-read it from the HTML route.
pub fn stale_build(status: u16) -> bool {
    status == 404
}

/// The Eniro adapter (`adapter = "eniro"`).
#[derive(Debug, Clone)]
pub struct Eniro {
    locale: String,
    next_data: Selector,
}

impl Eniro {
    /// `locale` is the data route's locale segment: `"da"` for krak.dk and
    /// degulesider.dk ([`DEFAULT_LOCALE`]). 1 to 10 ASCII letters, digits
    /// or hyphens.
    pub fn new(locale: &str) -> Result<Eniro, String> {
        let ok = (1..=10).contains(&locale.len())
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err("locale must be 1 to 10 ASCII letters, digits or hyphens".into());
        }
        let next_data = Selector::parse("script#__NEXT_DATA__").map_err(|e| e.to_string())?;
        Ok(Eniro {
            locale: locale.to_owned(),
            next_data,
        })
    }

    pub fn locale(&self) -> &str {
        &self.locale
    }

    /// The search text: the 8 national digits for a number, `"name place"`
    /// for a name probe.
    pub fn query_text(query: &Query) -> String {
        match query {
            Query::Number(n) => n.national().to_owned(),
            Query::NameAt { name, place } => collapse(&format!("{name} {place}")),
        }
    }

    /// The query's path segment in `form` (stored: `••••••••`, or `•••`
    /// for a name probe).
    fn query_segment(query: &Query, form: Form) -> String {
        let held = match query {
            Query::Number(_) => Held::Number,
            Query::NameAt { .. } => Held::Private,
        };
        write_value(held, &Self::query_text(query), form)
    }

    /// `/<query>/personer`: page 1 of the HTML route.
    pub fn html_path(&self, query: &Query) -> String {
        self.html_page_path_in(query, 1, Form::Sent)
    }

    /// `/<query>/personer` for page 1 (and 0), `/<query>/personer/<page>`
    /// after that.
    pub fn html_page_path(&self, query: &Query, page: u32) -> String {
        self.html_page_path_in(query, page, Form::Sent)
    }

    /// [`Eniro::html_page_path`] to send or to store.
    pub(crate) fn html_page_path_in(&self, query: &Query, page: u32, form: Form) -> String {
        let first = format!("/{}/personer", Self::query_segment(query, form));
        if page <= 1 {
            first
        } else {
            format!("{first}/{page}")
        }
    }

    /// `/_next/data/<buildId>/<locale>/search/<query>/persons/<page>.json`.
    /// Page 0 is read as 1.
    pub fn json_path(&self, build_id: &str, query: &Query, page: u32) -> String {
        self.json_path_in(build_id, query, page, Form::Sent)
    }

    /// [`Eniro::json_path`] to send or to store.
    pub(crate) fn json_path_in(
        &self,
        build_id: &str,
        query: &Query,
        page: u32,
        form: Form,
    ) -> String {
        format!(
            "/_next/data/{}/{}/search/{}/persons/{}.json",
            encode_component(build_id),
            encode_component(&self.locale),
            Self::query_segment(query, form),
            page.max(1)
        )
    }

    /// Reads page 1 of the HTML route: the `buildId` (if the page has a
    /// usable one) and the results.
    pub fn parse_html(&self, body: &str) -> Result<(Option<String>, Page), Unparseable> {
        self.parse_html_page(body, 1)
    }

    /// Reads page `page` (1-based) of the HTML route.
    pub fn parse_html_page(
        &self,
        body: &str,
        page: u32,
    ) -> Result<(Option<String>, Page), Unparseable> {
        self.html_inner(body, page.max(1))
            .map_err(|r| Unparseable(r.to_owned()))
    }

    /// Reads page `page` (1-based) of the data route.
    pub fn parse_json(&self, body: &str, page: u32) -> Result<Page, Unparseable> {
        json_inner(body, page.max(1)).map_err(|r| Unparseable(r.to_owned()))
    }

    fn html_inner(&self, body: &str, page: u32) -> Result<(Option<String>, Page), &'static str> {
        if body.trim().is_empty() {
            return Err(reason::EMPTY_BODY);
        }
        // The pre-scan finds the script without building the DOM; where it
        // cannot vouch for the page, the whole tree is built.
        let script = match scan::only_script_text(body, "__NEXT_DATA__") {
            Ok(found) => found,
            Err(scan::Unsure) => self.next_data_from_tree(body).map(Cow::Owned),
        };
        let text = match script {
            Some(t) => t,
            None if super::common::looks_like_challenge(body) => return Err(reason::CHALLENGE),
            None => return Err(reason::NO_NEXT_DATA),
        };
        let data: Value = serde_json::from_str(&text).map_err(|_| reason::BAD_JSON)?;
        let Some(top) = data.as_object() else {
            return Err(reason::BAD_JSON);
        };
        if top.contains_key("err")
            || top
                .get("page")
                .and_then(Value::as_str)
                .is_some_and(|p| matches!(p, "/_error" | "/404" | "/500"))
        {
            return Err(reason::ERROR_PAGE);
        }
        let build_id = top
            .get("buildId")
            .and_then(Value::as_str)
            .filter(|b| valid_build_id(b))
            .map(str::to_owned)
            .or_else(|| build_id_from_manifest(body));
        let props = data
            .pointer("/props/pageProps")
            .ok_or(reason::NO_PAGE_PROPS)?;
        Ok((build_id, page_props(props, page)?))
    }
}

impl Eniro {
    /// The text of the first `script#__NEXT_DATA__`, from the whole DOM.
    fn next_data_from_tree(&self, body: &str) -> Option<String> {
        let doc = Html::parse_document(body);
        let script = doc.select(&self.next_data).next()?;
        Some(script.text().collect::<String>())
    }
}

fn json_inner(body: &str, page: u32) -> Result<Page, &'static str> {
    if body.trim().is_empty() {
        return Err(reason::EMPTY_BODY);
    }
    let data: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) if super::common::looks_like_challenge(body) => return Err(reason::CHALLENGE),
        Err(_) => return Err(reason::BAD_JSON),
    };
    let Some(top) = data.as_object() else {
        return Err(reason::NO_PAGE_PROPS);
    };
    if top
        .get("notFound")
        .is_some_and(|v| v != &Value::Bool(false))
    {
        return Err(reason::ERROR_PAGE);
    }
    page_props(top.get("pageProps").ok_or(reason::NO_PAGE_PROPS)?, page)
}

/// A `buildId` we are willing to put into a path.
fn valid_build_id(b: &str) -> bool {
    (1..=128).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The `buildId` from `/_next/static/<buildId>/_buildManifest.js`, for a
/// page whose `__NEXT_DATA__` lacks one.
fn build_id_from_manifest(body: &str) -> Option<String> {
    const PREFIX: &str = "/_next/static/";
    let mut rest = body;
    while let Some(at) = rest.find(PREFIX) {
        rest = &rest[at + PREFIX.len()..];
        if let Some((id, after)) = rest.split_once('/')
            && after.starts_with("_buildManifest.js")
            && valid_build_id(id)
        {
            return Some(id.to_owned());
        }
    }
    None
}

/// Error and redirect markers of Next.js page props.
const ERROR_KEYS: &[&str] = &[
    "__N_REDIRECT",
    "__N_REDIRECT_STATUS",
    "statusCode",
    "err",
    "error",
    "errors",
];

fn page_props(props: &Value, page: u32) -> Result<Page, &'static str> {
    let Some(obj) = props.as_object() else {
        return Err(reason::NO_PAGE_PROPS);
    };
    let set = |k: &str| {
        obj.get(k)
            .is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)))
    };
    if ERROR_KEYS.iter().any(|k| set(k)) || set("notFound") {
        return Err(reason::ERROR_PAGE);
    }
    let state = match obj.get("initialState") {
        None | Some(Value::Null) => {
            // The no-hit signal, unless the persons moved elsewhere.
            return if has_key_deep(props, "persons") {
                Err(reason::STRAY_PERSONS)
            } else {
                Ok(Page::NoHits)
            };
        }
        Some(Value::Object(s)) => s,
        Some(_) => return Err(reason::STATE_WITHOUT_PERSONS),
    };
    let total = hit_count(state);
    let persons = match state.get("persons") {
        None | Some(Value::Null) => {
            return if total == Some(0) {
                Ok(Page::NoHits)
            } else {
                Err(reason::STATE_WITHOUT_PERSONS)
            };
        }
        Some(Value::Array(a)) => a,
        Some(_) => return Err(reason::PERSONS_NOT_LIST),
    };
    if persons.is_empty() {
        return match total {
            Some(0) => Ok(Page::NoHits),
            Some(_) => Err(reason::EMPTY_WITH_HITS),
            None => Err(reason::EMPTY_WITHOUT_COUNT),
        };
    }
    let mut listings = Vec::with_capacity(persons.len());
    for p in persons {
        listings.extend(person_listings(p)?);
    }
    let shown = u64::from(page).saturating_mul(u64::from(PAGE_SIZE));
    let more = match total {
        Some(t) => shown < t,
        // No count: a full page may continue.
        None => persons.len() >= PAGE_SIZE as usize,
    };
    Ok(Page::Hits { listings, more })
}

/// `initialState.hits.persons` (or a bare `hits` number), as a number or a
/// numeric string.
fn hit_count(state: &Map<String, Value>) -> Option<u64> {
    let v = match state.get("hits")? {
        Value::Object(h) => h.get("persons")?,
        other => other,
    };
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `key` occurs as an object key anywhere in `v` (bounded work).
fn has_key_deep(v: &Value, key: &str) -> bool {
    let mut stack = vec![v];
    let mut budget = 100_000usize;
    while let Some(v) = stack.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            // Too big to be a no-hit page: say "found" so it is not one.
            return true;
        }
        match v {
            Value::Object(m) => {
                if m.contains_key(key) {
                    return true;
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    false
}

/// A string or number field, trimmed; `None` when absent or blank.
fn text_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => collapse(s),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn first_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text_of(obj.get(*k)))
}

/// `"Mette Lykke Kjærgaard"` from a plain string or from
/// `{ firstName, middleName, lastName }`.
fn name_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(m) => {
            let n = ["firstName", "middleName", "lastName"]
                .iter()
                .filter_map(|k| text_of(m.get(*k)))
                .collect::<Vec<_>>()
                .join(" ");
            (!n.is_empty()).then_some(n)
        }
        other => text_of(Some(other)),
    }
}

/// One listing per address of the person (one without an address when it
/// has none), so a protected address in second place is still seen.
fn person_listings(p: &Value) -> Result<Vec<Listing>, &'static str> {
    let Some(obj) = p.as_object() else {
        return Err(reason::BAD_PERSON);
    };
    let name = name_of(obj.get("name")).or_else(|| name_of(obj.get("nameLegal")));
    let mut phones = Vec::new();
    match obj.get("phones") {
        Some(Value::Array(list)) => {
            for entry in list {
                let number = match entry {
                    Value::Object(m) => {
                        if !(m.contains_key("number") || m.contains_key("phoneNumber")) {
                            return Err(reason::PHONE_UNREADABLE);
                        }
                        first_text(m, &["number", "phoneNumber"])
                    }
                    Value::String(_) | Value::Number(_) => text_of(Some(entry)),
                    _ => return Err(reason::PHONE_UNREADABLE),
                };
                if let Some(n) = number {
                    push_phone(&mut phones, &n);
                }
            }
        }
        Some(Value::Null) => {}
        _ => return Err(reason::NO_PHONES_LIST),
    }
    let mut addresses = Vec::new();
    match obj.get("addresses") {
        Some(Value::Array(list)) => {
            for entry in list {
                let Some(m) = entry.as_object() else {
                    return Err(reason::ADDRESS_UNREADABLE);
                };
                addresses.push(address_of(m)?);
            }
        }
        Some(Value::Null) => {}
        _ => return Err(reason::NO_ADDRESSES_LIST),
    }
    if name.is_none() && phones.is_empty() && addresses.is_empty() {
        return Err(reason::PERSON_UNREADABLE);
    }
    let listing = |address: Option<ListedAddress>| Listing {
        name: name.clone(),
        phones: phones.clone(),
        address,
    };
    if addresses.is_empty() {
        return Ok(vec![listing(None)]);
    }
    Ok(addresses.into_iter().map(|a| listing(Some(a))).collect())
}

fn address_of(m: &Map<String, Value>) -> Result<ListedAddress, &'static str> {
    let street = first_text(m, &["streetName", "street"]);
    let number = first_text(m, &["streetNumber", "houseNumber"]);
    let floor_key = first_text(m, &["floor", "etage"]);
    let door_key = first_text(m, &["door", "dør", "doer", "side"]);
    let postcode = match m.get("postalCode").or_else(|| m.get("postCode")) {
        // A JSON number loses the leading zero of "0900".
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&n| n < 10_000)
            .map(|n| format!("{n:04}"))
            .or_else(|| text_of(Some(&Value::Number(n.clone())))),
        other => text_of(other),
    };
    let city = first_text(m, &["postalArea", "postArea", "city"]);
    if [&street, &number, &floor_key, &door_key, &postcode, &city]
        .iter()
        .all(|p| p.is_none())
    {
        return Err(reason::ADDRESS_UNREADABLE);
    }
    // "14B, 2. th" → 14B / 2 / th. A number the splitter does not
    // recognise is kept whole: unknown beats wrong.
    let (house, floor, door) = match &number {
        Some(n) => {
            let (_, h, f, d) = split_street_line(&format!("Vej {n}"));
            match h {
                Some(h) => (Some(h), f, d),
                None => (Some(n.clone()), None, None),
            }
        }
        None => (None, None, None),
    };
    let floor = floor_key.or(floor);
    let door = door_key.or(door);
    let text = render_address(
        street.as_deref(),
        house.as_deref(),
        floor.as_deref(),
        door.as_deref(),
        postcode.as_deref(),
        city.as_deref(),
    );
    Ok(ListedAddress {
        text,
        street,
        house_number: house,
        floor,
        door,
        postcode,
        city,
    })
}

// ---------------------------------------------------------------------------
// The data-route protocol, as a per-search state machine (see the module
// docs, "Protocol"); `super::Search` drives it.

/// Which route a request of a search goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/<q>/personer[/<page>]`: HTML with `__NEXT_DATA__` (and a `buildId`).
    Html,
    /// `/_next/data/<buildId>/…/<page>.json`.
    Data,
}

/// One search's memory: the `buildId` an HTML page carried, and whether a
/// stale one was already re-read (that happens once per search).
#[derive(Debug, Clone, Default)]
pub struct DataRoute {
    build_id: Option<String>,
    refreshed: bool,
}

/// Why a page is left unread when the data route goes stale twice in one
/// search: the site is deploying faster than we read.
pub const STALE_AGAIN: &str = "Eniro data route: buildId stale again after re-reading it";

impl DataRoute {
    /// Page 1 (and any page before a `buildId` is known) by the HTML
    /// route; later pages by the data route.
    pub fn request(&self, eniro: &Eniro, query: &Query, page: u32) -> (String, Route) {
        self.request_in(eniro, query, page, Form::Sent)
    }

    /// [`DataRoute::request`] to send or to store.
    pub(crate) fn request_in(
        &self,
        eniro: &Eniro,
        query: &Query,
        page: u32,
        form: Form,
    ) -> (String, Route) {
        match (&self.build_id, page > 1) {
            (Some(b), true) => (eniro.json_path_in(b, query, page, form), Route::Data),
            _ => (eniro.html_page_path_in(query, page, form), Route::Html),
        }
    }

    /// A data-route answer whose status says the `buildId` is stale: the
    /// same page again by the HTML route (`Ok`), or, the second time in a
    /// search, give up (`Err`). `None`: read the answer.
    pub fn on_status(
        &mut self,
        eniro: &Eniro,
        query: &Query,
        page: u32,
        route: Route,
        status: Option<u16>,
    ) -> Option<Result<String, &'static str>> {
        if route != Route::Data || !status.is_some_and(stale_build) {
            return None;
        }
        if self.refreshed {
            return Some(Err(STALE_AGAIN));
        }
        self.refreshed = true;
        Some(Ok(eniro.html_page_path(query, page)))
    }

    /// Reads an answer; an HTML page's `buildId` is kept for later pages.
    pub fn read(
        &mut self,
        eniro: &Eniro,
        route: Route,
        body: &str,
        page: u32,
    ) -> Result<Page, Unparseable> {
        match route {
            Route::Data => eniro.parse_json(body, page),
            Route::Html => {
                let (build_id, p) = eniro.parse_html_page(body, page)?;
                if build_id.is_some() {
                    self.build_id = build_id;
                }
                Ok(p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::E164;
    use crate::sites::testing::{L, Want, assert_page};
    use proptest::prelude::*;

    fn adapter() -> Eniro {
        Eniro::new(DEFAULT_LOCALE).unwrap_or_else(|e| panic!("{e}"))
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/eniro/", $name))
        };
    }

    /// Which route a fixture is for: HTML (with the build id it should
    /// yield) or JSON, and the page it answers.
    enum Route<'a> {
        Html(Option<&'a str>, u32),
        Json(u32),
    }

    fn parse(body: &str, route: &Route<'_>) -> Result<Page, Unparseable> {
        let a = adapter();
        match route {
            Route::Html(want_build, page) => a.parse_html_page(body, *page).map(|(b, p)| {
                assert_eq!(b.as_deref(), *want_build, "buildId");
                p
            }),
            Route::Json(page) => a.parse_json(body, *page),
        }
    }

    fn check(body: &str, route: Route<'_>, want: Want<'_>) {
        let got = parse(body, &route);
        assert_page(&got, want);
    }

    fn listings(body: &str, route: Route<'_>) -> Vec<Listing> {
        match parse(body, &route) {
            Ok(Page::Hits { listings, .. }) => listings,
            other => panic!("hits expected, got {other:?}"),
        }
    }

    const BUILD: Option<&str> = Some("k3Rk-bUiLd_2024a");

    #[test]
    fn html_hits() {
        check(
            fixture!("hits.html"),
            Route::Html(BUILD, 1),
            Want::Hits(
                vec![
                    L(
                        Some("Mette Lykke Kjærgaard"),
                        vec!["+4513572468", "19 57 24 68"],
                        Some("Ågade 14B, 2. th, 8000 Aarhus C"),
                    ),
                    L(
                        Some("Søren Ærbøl Ståhlkjær"),
                        vec!["95 55 44 33"],
                        Some("Strålerup Allé 5, 4. tv, 2100 København Ø"),
                    ),
                    L(Some("Birthe Østergaard"), vec!["94 12 34 56"], None),
                ],
                false,
            ),
        );
        let ls = listings(fixture!("hits.html"), Route::Html(BUILD, 1));
        let a = ls[0].address.clone().unwrap_or_default();
        assert_eq!(a.street.as_deref(), Some("Ågade"));
        assert_eq!(a.house_number.as_deref(), Some("14B"));
        assert_eq!(a.floor.as_deref(), Some("2"));
        assert_eq!(a.door.as_deref(), Some("th"));
        assert_eq!(a.postcode.as_deref(), Some("8000"));
        assert_eq!(a.city.as_deref(), Some("Aarhus C"));
        // parse_html is page 1.
        let (b, p) = adapter()
            .parse_html(fixture!("hits.html"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.as_deref(), BUILD);
        assert!(matches!(p, Page::Hits { more: false, .. }));
    }

    #[test]
    fn floor_and_door_in_both_encodings() {
        for (body, route) in [
            (fixture!("floor_door_folded.json"), Route::Json(1)),
            (fixture!("floor_door_keys.json"), Route::Json(1)),
        ] {
            let ls = listings(body, route);
            assert_eq!(ls.len(), 2);
            let a = ls[0].address.clone().unwrap_or_default();
            assert_eq!(a.text, "Strandvejen 123A, st. tv, 2900 Hellerup");
            assert_eq!(a.street.as_deref(), Some("Strandvejen"));
            assert_eq!(a.house_number.as_deref(), Some("123A"));
            assert_eq!(a.floor.as_deref(), Some("st"));
            assert_eq!(a.door.as_deref(), Some("tv"));
            assert_eq!(a.postcode.as_deref(), Some("2900"));
            let b = ls[1].address.clone().unwrap_or_default();
            assert_eq!(b.text, "Bredgade 3, 1. mf, 5000 Odense C");
            assert_eq!(b.house_number.as_deref(), Some("3"));
            assert_eq!(b.floor.as_deref(), Some("1"));
            assert_eq!(b.door.as_deref(), Some("mf"));
        }
    }

    #[test]
    fn person_without_address_and_with_two_addresses() {
        check(
            fixture!("addresses.json"),
            Route::Json(1),
            Want::Hits(
                vec![
                    L(Some("Ida Bøgh"), vec!["19 88 77 66"], None),
                    L(
                        Some("Poul Erik Dahl"),
                        vec!["95 12 12 12"],
                        Some("Skovbrynet 33, st. th, 9000 Aalborg"),
                    ),
                    L(
                        Some("Poul Erik Dahl"),
                        vec!["95 12 12 12"],
                        Some("Sommerhusvej 7, 9480 Løkken"),
                    ),
                    // Plain-string name, postcode as a JSON number.
                    L(
                        Some("Kjærgaard & Søn Tømrer ApS"),
                        vec!["13 88 77 66"],
                        Some("Industrivej 42, 0900 København C"),
                    ),
                ],
                false,
            ),
        );
    }

    #[test]
    fn several_pages() {
        let ls = listings(fixture!("page1.html"), Route::Html(BUILD, 1));
        assert_eq!(ls.len(), 25);
        assert!(
            ls.iter()
                .all(|l| l.phones.len() == 1 && l.address.is_some())
        );
        assert!(matches!(
            parse(fixture!("page1.html"), &Route::Html(BUILD, 1)),
            Ok(Page::Hits { more: true, .. })
        ));
        check(
            fixture!("page2.json"),
            Route::Json(2),
            Want::Hits(
                vec![
                    L(
                        Some("Hans Hansen"),
                        vec!["19 30 00 26"],
                        Some("Hansensvej 26, 8000 Aarhus C"),
                    ),
                    L(
                        Some("Hans Hansen"),
                        vec!["19 30 00 27"],
                        Some("Hansensvej 27, 8000 Aarhus C"),
                    ),
                    L(
                        Some("Hans Hansen"),
                        vec!["19 30 00 28"],
                        Some("Hansensvej 28, 8000 Aarhus C"),
                    ),
                ],
                false,
            ),
        );
        // The same data read as page 1 would continue (28 > 25).
        assert!(matches!(
            parse(fixture!("page2.json"), &Route::Json(1)),
            Ok(Page::Hits { more: true, .. })
        ));
    }

    #[test]
    fn no_hits_on_both_routes() {
        check(
            fixture!("no_hits.html"),
            Route::Html(BUILD, 1),
            Want::NoHits,
        );
        check(
            fixture!("no_hits_no_state.html"),
            Route::Html(BUILD, 1),
            Want::NoHits,
        );
        check(fixture!("no_hits.json"), Route::Json(1), Want::NoHits);
    }

    #[test]
    fn build_id_falls_back_to_the_manifest_path_or_none() {
        let no_field = fixture!("no_hits.html").replace("\"buildId\":\"k3Rk-bUiLd_2024a\",", "");
        check(&no_field, Route::Html(BUILD, 1), Want::NoHits);
        let neither = no_field.replace("_buildManifest.js", "main.js");
        check(&neither, Route::Html(None, 1), Want::NoHits);
        // A build id that is not a safe path segment is not used.
        let odd = fixture!("no_hits.html").replace("k3Rk-bUiLd_2024a\"", "../x\"");
        check(&odd, Route::Html(BUILD, 1), Want::NoHits);
    }

    #[test]
    fn not_understood_pages_are_unparseable() {
        use reason::*;
        for (body, route, why) in [
            (fixture!("challenge.html"), Route::Html(None, 1), CHALLENGE),
            (fixture!("challenge.html"), Route::Json(1), CHALLENGE),
            (
                fixture!("drift_no_next_data.html"),
                Route::Html(None, 1),
                NO_NEXT_DATA,
            ),
            (
                fixture!("drift_no_page_props.html"),
                Route::Html(None, 1),
                NO_PAGE_PROPS,
            ),
            (
                fixture!("drift_renamed_state.json"),
                Route::Json(1),
                STRAY_PERSONS,
            ),
            (
                fixture!("drift_person_keys.json"),
                Route::Json(1),
                NO_PHONES_LIST,
            ),
            (
                fixture!("drift_phone_key.json"),
                Route::Json(1),
                PHONE_UNREADABLE,
            ),
            (
                fixture!("drift_address_keys.json"),
                Route::Json(1),
                ADDRESS_UNREADABLE,
            ),
            (fixture!("redirect.json"), Route::Json(1), ERROR_PAGE),
            (
                fixture!("error_page.html"),
                Route::Html(None, 1),
                ERROR_PAGE,
            ),
            (
                fixture!("empty_with_hits.json"),
                Route::Json(2),
                EMPTY_WITH_HITS,
            ),
            ("", Route::Html(None, 1), EMPTY_BODY),
            (" \n", Route::Json(1), EMPTY_BODY),
            ("{\"pageProps\":", Route::Json(1), BAD_JSON),
            ("[1,2]", Route::Json(1), NO_PAGE_PROPS),
            ("{\"props\":{}}", Route::Json(1), NO_PAGE_PROPS),
            ("{\"notFound\":true}", Route::Json(1), ERROR_PAGE),
            ("{\"pageProps\":[]}", Route::Json(1), NO_PAGE_PROPS),
            (
                "{\"pageProps\":{\"initialState\":{}}}",
                Route::Json(1),
                STATE_WITHOUT_PERSONS,
            ),
            (
                "{\"pageProps\":{\"initialState\":{\"persons\":[]}}}",
                Route::Json(1),
                EMPTY_WITHOUT_COUNT,
            ),
            (
                "{\"pageProps\":{\"initialState\":{\"persons\":{}}}}",
                Route::Json(1),
                PERSONS_NOT_LIST,
            ),
            (
                "{\"pageProps\":{\"initialState\":{\"persons\":[7]}}}",
                Route::Json(1),
                BAD_PERSON,
            ),
            (
                "{\"pageProps\":{\"initialState\":{\"persons\":[{\"phones\":[],\"addresses\":[]}]}}}",
                Route::Json(1),
                PERSON_UNREADABLE,
            ),
            (
                "<html><body><script id=\"__NEXT_DATA__\" type=\"application/json\">{oops</script></body></html>",
                Route::Html(None, 1),
                BAD_JSON,
            ),
            (
                "<html><body><p>Ingen forbindelse</p></body></html>",
                Route::Html(None, 1),
                NO_NEXT_DATA,
            ),
        ] {
            check(body, route, Want::Unparseable(why));
        }
    }

    #[test]
    fn reasons_never_quote_the_page() {
        for (body, json) in [
            (fixture!("drift_person_keys.json"), true),
            (fixture!("drift_phone_key.json"), true),
            (fixture!("drift_address_keys.json"), true),
            (fixture!("challenge.html"), false),
            (fixture!("drift_no_page_props.html"), false),
        ] {
            let r = if json {
                adapter().parse_json(body, 1).err()
            } else {
                adapter().parse_html(body).err()
            };
            let Some(Unparseable(r)) = r else {
                panic!("expected unparseable");
            };
            assert!(!r.chars().any(|c| c.is_ascii_digit()), "{r}");
            assert!(r.len() < 80, "{r}");
        }
    }

    #[test]
    fn paths() {
        let a = adapter();
        let n = Query::Number(E164::parse_dk("+45 13 57 24 68").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(a.html_path(&n), "/13572468/personer");
        assert_eq!(a.html_page_path(&n, 0), "/13572468/personer");
        assert_eq!(a.html_page_path(&n, 1), "/13572468/personer");
        assert_eq!(a.html_page_path(&n, 3), "/13572468/personer/3");
        assert_eq!(
            a.json_path("abc_1-2", &n, 2),
            "/_next/data/abc_1-2/da/search/13572468/persons/2.json"
        );
        assert_eq!(
            a.json_path("abc", &n, 0),
            "/_next/data/abc/da/search/13572468/persons/1.json"
        );
        let q = Query::NameAt {
            name: " Søren  Ærbøl ".into(),
            place: "2100 København Ø".into(),
        };
        assert_eq!(
            a.html_page_path(&q, 2),
            "/S%C3%B8ren%20%C3%86rb%C3%B8l%202100%20K%C3%B8benhavn%20%C3%98/personer/2"
        );
        assert_eq!(
            a.json_path("../x", &q, 1),
            "/_next/data/..%2Fx/da/search/S%C3%B8ren%20%C3%86rb%C3%B8l%202100%20K%C3%B8benhavn%20%C3%98/persons/1.json"
        );
        // Stored: nothing of the number, the name or the place.
        assert_eq!(
            a.html_page_path_in(&n, 3, Form::Stored),
            "/••••••••/personer/3"
        );
        assert_eq!(
            a.json_path_in("abc", &q, 2, Form::Stored),
            "/_next/data/abc/da/search/•••/persons/2.json"
        );
        assert!(Eniro::new("").is_err());
        assert!(Eniro::new("da/../x").is_err());
        assert_eq!(
            Eniro::new("nb").map(|e| e.locale().to_owned()),
            Ok("nb".into())
        );
        assert!(stale_build(404));
        assert!(!stale_build(200) && !stale_build(403) && !stale_build(500));
    }

    #[test]
    fn adapter_enum_drives_the_html_route() {
        let a = super::super::Adapter::Eniro(adapter());
        let n = Query::Number(E164::parse_dk("13572468").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(a.search(&n).request(1).path, "/13572468/personer");
        assert!(a.supports(&n));
        assert_eq!(a.request_path(&n, 1), "/13572468/personer");
        assert_eq!(a.request_path(&n, 2), "/13572468/personer/2");
        assert!(matches!(
            a.parse(fixture!("page1.html"), 1),
            Ok(Page::Hits { more: true, .. })
        ));
        assert_eq!(a.parse(fixture!("no_hits.html"), 1), Ok(Page::NoHits));
        assert!(a.parse(fixture!("challenge.html"), 1).is_err());
    }

    fn mutation() -> impl Strategy<Value = String> {
        let real = r#"<script id="__NEXT_DATA__" type="application/json">"#;
        prop_oneof![
            Just(format!("{real}{{\"props\":{{}}}}</script>")),
            Just(real.to_owned()),
            Just("<script id=__NEXT_DATA__>".to_owned()),
            Just("<SCRIPT ID='__NEXT_DATA__'>[]</SCRIPT>".to_owned()),
            Just("<div id=\"__NEXT_DATA__\"></div>".to_owned()),
            Just("</script>".to_owned()),
            Just("<script>".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("<noscript>".to_owned()),
            Just("<textarea>".to_owned()),
            Just("<table>".to_owned()),
            Just("<svg>".to_owned()),
            Just("\r\n".to_owned()),
            Just("\"".to_owned()),
            Just("<".to_owned()),
            crate::sites::dk118::tests::mutation(),
        ]
    }

    /// The realistic pages go through the pre-scan.
    #[test]
    fn the_pre_scan_finds_the_data_script() {
        for body in [
            fixture!("realistic_no_hits.html"),
            fixture!("realistic_hits.html"),
            fixture!("hits.html"),
            fixture!("no_hits.html"),
            fixture!("page1.html"),
        ] {
            let found = scan::only_script_text(body, "__NEXT_DATA__");
            assert_eq!(
                found.map(|f| f.map(Cow::into_owned)),
                Ok(adapter().next_data_from_tree(body))
            );
        }
    }

    #[test]
    fn realistic_pages_read_like_the_small_ones() {
        let build = fixture!("realistic_no_hits.html")
            .split("\"buildId\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned);
        assert!(build.as_deref().is_some_and(|b| b.starts_with("k3Rk-")));
        let build = build.as_deref();
        check(
            fixture!("realistic_no_hits.html"),
            Route::Html(build, 1),
            Want::NoHits,
        );
        let mette = Some("Ågade 14B, 2. th, 8000 Aarhus C");
        check(
            fixture!("realistic_hits.html"),
            Route::Html(build, 1),
            Want::Hits(
                vec![
                    L(Some("Mette Lykke Kjærgaard"), vec!["+4513572468"], mette),
                    L(Some("Mette Lykke Kjærgaard"), vec!["+4519572468"], mette),
                    L(
                        Some("Søren Ærbøl Ståhlkjær"),
                        vec!["+4595554433", "+4519554433"],
                        Some("Strålerup Allé 5, 4. tv, 2100 København Ø"),
                    ),
                ],
                false,
            ),
        );
        // The same person as on the small page (which lists her second
        // number on the same card), address parts included.
        let small = listings(fixture!("hits.html"), Route::Html(BUILD, 1));
        let big = listings(fixture!("realistic_hits.html"), Route::Html(build, 1));
        assert_eq!(big[0].name, small[0].name);
        assert!(big[0].address == small[0].address);
        assert_eq!(big[0].phones[..], small[0].phones[..1]);
    }

    /// `__NEXT_DATA__` named in a comment, a string or raw text is not the
    /// data script; the first real one is.
    #[test]
    fn only_a_real_next_data_script_counts() {
        let page = fixture!("realistic_no_hits.html");
        let real = "<script id=\"__NEXT_DATA__\" type=\"application/json\">";
        assert!(page.contains(real));
        let renamed = page.replace(
            real,
            "<script id=\"__NEXT_STATE__\" type=\"application/json\">",
        );
        check(
            &renamed,
            Route::Html(None, 1),
            Want::Unparseable(reason::NO_NEXT_DATA),
        );
        let decoy_data = "{\"props\":{\"pageProps\":{}}}";
        for decoy in [
            format!("<!-- {real}{decoy_data}</script> -->"),
            format!("<noscript>{real}{decoy_data}</script></noscript>"),
            format!("<textarea>{real}{decoy_data}</script></textarea>"),
            format!("<script>var s = '{real}{decoy_data}';</script>"),
            format!("<div title='{real}{decoy_data}'></div>"),
        ] {
            // Before the renamed script: never taken for it.
            let body = renamed.replacen("<main>", &format!("{decoy}<main>"), 1);
            check(
                &body,
                Route::Html(None, 1),
                Want::Unparseable(reason::NO_NEXT_DATA),
            );
            // Before the real one: the real one is read.
            let body = page.replacen("<main>", &format!("{decoy}<main>"), 1);
            assert_eq!(
                adapter().parse_html(&body).map(|(_, p)| p),
                Ok(Page::NoHits),
                "{decoy}"
            );
        }
        // Two real scripts: the first in document order wins.
        let first = format!("{real}{{\"props\":{{}}}}</script>");
        let body = page.replacen("<main>", &format!("{first}<main>"), 1);
        check(
            &body,
            Route::Html(None, 1),
            Want::Unparseable(reason::NO_PAGE_PROPS),
        );
        // Attribute spelling does not matter; CRLF inside is whitespace.
        let odd = page.replace(real, "<SCRIPT type=application/json ID=__NEXT_DATA__>\r\n");
        assert_eq!(adapter().parse_html(&odd).map(|(_, p)| p), Ok(Page::NoHits));
        // Truncated inside the data: not JSON.
        let cut = page.len() - 200;
        check(
            &page[..cut],
            Route::Html(None, 1),
            Want::Unparseable(reason::BAD_JSON),
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in any::<String>()) {
            let a = adapter();
            let _ = a.parse_html(&body);
            let _ = a.parse_json(&body, 1);
        }

        /// Wherever the pre-scan finds the data script (or proves there is
        /// none), the DOM agrees.
        #[test]
        fn the_pre_scan_finds_the_script_the_tree_finds(
            which in 0usize..3,
            inserts in proptest::collection::vec((any::<usize>(), mutation()), 1..4),
        ) {
            let src = [
                fixture!("realistic_no_hits.html"),
                fixture!("realistic_hits.html"),
                fixture!("hits.html"),
            ][which];
            let body = crate::sites::dk118::tests::mutate(src, &inserts);
            if let Ok(found) = scan::only_script_text(&body, "__NEXT_DATA__") {
                prop_assert_eq!(found.map(Cow::into_owned), adapter().next_data_from_tree(&body));
            }
        }

        #[test]
        fn parse_never_panics_on_mangled_fixtures(cut in 0usize..6000, junk in ".{0,40}") {
            let a = adapter();
            for src in [fixture!("hits.html"), fixture!("floor_door_keys.json")] {
                let cut = src.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(src.len());
                let body = format!("{}{junk}{}", &src[..cut], &src[cut..]);
                let _ = a.parse_html(&body);
                let _ = a.parse_json(&body, 1);
            }
        }

        #[test]
        fn json_soup_never_reads_as_no_hits_with_persons(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("{".to_owned()),
                    Just("}".to_owned()),
                    Just("[".to_owned()),
                    Just("]".to_owned()),
                    Just(",".to_owned()),
                    Just("\"pageProps\":".to_owned()),
                    Just("\"initialState\":".to_owned()),
                    Just("\"persons\":".to_owned()),
                    Just("\"hits\":".to_owned()),
                    Just("\"phones\":".to_owned()),
                    Just("\"addresses\":".to_owned()),
                    Just("\"number\":".to_owned()),
                    Just("\"streetNumber\":".to_owned()),
                    Just("0".to_owned()),
                    Just("null".to_owned()),
                    "\"[0-9 ,.A-Za-zæøå]{0,12}\"",
                ],
                0..40,
            )
        ) {
            let body = parts.concat();
            match adapter().parse_json(&body, 1) {
                Ok(Page::Hits { listings, .. }) => prop_assert!(!listings.is_empty()),
                Ok(Page::NoHits) => prop_assert!(body.contains("pageProps")),
                Err(_) => {}
            }
        }
    }
}
