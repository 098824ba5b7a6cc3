//! Sites described in config (`adapter = "declarative"`, contract
//! `[sites.declarative]`), so an operator can add a directory without a
//! release.
//!
//! A [`DeclarativeSpec`] names a search URL template and where the data
//! sits on the result page:
//!
//! - `format = "html"`: `item`, `name`, `phone`, `address`, `street`,
//!   `postcode`, `city`, `no_results` and `next_page` are CSS selectors;
//!   every one but `item`, `no_results` and `next_page` is looked up inside
//!   each item. `phone` may match several elements; a `tel:` link whose
//!   target differs from its text gives both.
//! - `format = "json"`: they are JSON pointers (RFC 6901). `item` points to
//!   the list of listings (from the document root); the others are
//!   relative to each item. `phone` may point to a string, a number or a
//!   list of them; `address` to a string or a list of lines. `no_results`
//!   (from the root) must exist and be an empty list, zero or `true` to
//!   prove "no hits"; `next_page` (from the root) means "more" when it
//!   exists and is not `null`, `false`, `0`, `""` or empty.
//!
//! Templates (`search`, `search_name`) are a path and query relative to the
//! site's `base_url` with placeholders, each value percent-encoded:
//! `{number_national}` (8 digits), `{number_e164}` (`+45…`) in `search`;
//! `{name}`, `{place}` (`"8000 Aarhus C"`), `{postcode}`, `{city}` in
//! `search_name`; `{page}` (1-based) in both. Without `search_name` the site
//! cannot do name probes ([`Declarative::supports`]).
//!
//! Strictness, as for the built-in adapters: zero items is "no hits" only
//! when the configured `no_results` marker is present; without one it is
//! always [`Unparseable`]. Items from which nothing configured can be read,
//! or a page on which no item yields a configured `name` or `phone`, mean
//! the layout drifted: [`Unparseable`]. Items without an address are read
//! as listings without one (conclusive for address protection); a canary
//! that names its address catches a broken address selector. Pagination
//! (`next_page`, `page_size`) needs `{page}` in the templates; without it a
//! page is taken as the only one.

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

use super::common::scan::{self, Simple, Visit};
use super::common::{
    Form, Held, collapse, element_lines, element_phones, listed_address, push_phone,
    render_address, write_value,
};
use super::{Page, Query, Unparseable};
use crate::domain::ListedAddress;
use crate::domain::Listing;
use crate::domain::address::{split_post_line, split_street_line};

/// The `[sites.declarative]` table as written in config. Field names are
/// the config keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarativeSpec {
    /// `"html"` (the default) or `"json"`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Number search, e.g. `"/soeg?q={number_national}&side={page}"`.
    pub search: String,
    /// Name search, e.g. `"/soeg?q={name}&hvor={place}"`.
    pub search_name: Option<String>,
    pub item: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub street: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub no_results: Option<String>,
    pub next_page: Option<String>,
    /// Items on a full page: a page with this many items may continue.
    pub page_size: Option<u32>,
}

fn default_format() -> String {
    "html".to_owned()
}

impl Default for DeclarativeSpec {
    fn default() -> Self {
        DeclarativeSpec {
            format: default_format(),
            search: String::new(),
            search_name: None,
            item: String::new(),
            name: None,
            phone: None,
            address: None,
            street: None,
            postcode: None,
            city: None,
            no_results: None,
            next_page: None,
            page_size: None,
        }
    }
}

/// Fixed reasons for [`Unparseable`]. They never quote the page.
pub mod reason {
    pub const EMPTY_BODY: &str = "empty body";
    pub const CHALLENGE: &str = "bot-protection challenge page";
    pub const NO_MARKER_CONFIGURED: &str = "no positive no-results marker configured";
    pub const NO_ITEMS_NO_MARKER: &str = "no items and no no-results marker";
    pub const NOT_JSON: &str = "body is not valid JSON";
    pub const ITEMS_NOT_LIST: &str = "item pointer does not point to a list";
    pub const NOTHING_READABLE: &str = "items without readable name, phone or address";
    pub const NO_NAME: &str = "no item has a name";
    pub const NO_PHONE: &str = "no item has a phone";
}

/// A placeholder of a search template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    NumberNational,
    NumberE164,
    Name,
    Place,
    Postcode,
    City,
    Page,
}

const VARS: &[(&str, Var)] = &[
    ("number_national", Var::NumberNational),
    ("number_e164", Var::NumberE164),
    ("name", Var::Name),
    ("place", Var::Place),
    ("postcode", Var::Postcode),
    ("city", Var::City),
    ("page", Var::Page),
];

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Var(Var),
}

#[derive(Debug, Clone)]
struct Template(Vec<Part>);

impl Template {
    fn parse(t: &str) -> Result<Template, String> {
        if !t.starts_with('/') || t.starts_with("//") {
            return Err("must be a path starting with a single \"/\"".into());
        }
        if t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err("must not contain whitespace, control characters or \"#\"".into());
        }
        let mut parts = Vec::new();
        let mut rest = t;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Lit(rest.to_owned()));
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Lit(rest[..i].to_owned()));
                    }
                    if rest[i..].starts_with('}') {
                        return Err("unbalanced \"}\"".into());
                    }
                    let after = &rest[i + 1..];
                    let Some(end) = after
                        .find(['{', '}'])
                        .filter(|&e| after[e..].starts_with('}'))
                    else {
                        return Err("unbalanced \"{\"".into());
                    };
                    let name = &after[..end];
                    let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) else {
                        let known: Vec<String> =
                            VARS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                        return Err(format!(
                            "unknown placeholder {{{name}}}; known: {}",
                            known.join(", ")
                        ));
                    };
                    parts.push(Part::Var(*var));
                    rest = &after[end + 1..];
                }
            }
        }
        Ok(Template(parts))
    }

    fn has(&self, v: Var) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Var(x) if *x == v))
    }

    /// The template with each variable's value, written in `form`.
    fn render(&self, form: Form, value: impl Fn(Var) -> (Held, String)) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    let (held, text) = value(*v);
                    out.push_str(&write_value(held, &text, form));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
struct HtmlSpec {
    /// `item` and `no_results` when both are simple enough for the
    /// pre-scan to prove a page empty (see [`Declarative::scanned_empty`]).
    simple: Option<(Simple, Simple)>,
    item: Selector,
    name: Option<Selector>,
    phone: Option<Selector>,
    address: Option<Selector>,
    street: Option<Selector>,
    postcode: Option<Selector>,
    city: Option<Selector>,
    no_results: Option<Selector>,
    next_page: Option<Selector>,
}

#[derive(Debug, Clone)]
struct JsonSpec {
    item: String,
    name: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    street: Option<String>,
    postcode: Option<String>,
    city: Option<String>,
    no_results: Option<String>,
    next_page: Option<String>,
}

#[derive(Debug, Clone)]
enum Format {
    Html(Box<HtmlSpec>),
    Json(Box<JsonSpec>),
}

/// Which fields are configured, for the drift checks.
#[derive(Debug, Clone, Copy)]
struct Configured {
    name: bool,
    phone: bool,
    address: bool,
}

/// A compiled declarative site.
#[derive(Debug, Clone)]
pub struct Declarative {
    search: Template,
    search_name: Option<Template>,
    page_size: Option<u32>,
    configured: Configured,
    format: Format,
}

type SpecError = (String, String);

fn err(field: &str, msg: impl Into<String>) -> SpecError {
    (field.to_owned(), msg.into())
}

fn css(field: &str, s: &str) -> Result<Selector, SpecError> {
    if s.trim().is_empty() {
        return Err(err(field, "must not be empty"));
    }
    Selector::parse(s).map_err(|e| err(field, format!("invalid CSS selector: {e}")))
}

fn opt_css(field: &str, s: &Option<String>) -> Result<Option<Selector>, SpecError> {
    s.as_deref().map(|s| css(field, s)).transpose()
}

fn pointer(field: &str, s: &str, root_ok: bool) -> Result<String, SpecError> {
    if s.is_empty() && root_ok {
        return Ok(String::new());
    }
    if !s.starts_with('/') {
        return Err(err(
            field,
            "must be a JSON pointer starting with \"/\" (RFC 6901)",
        ));
    }
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(err(field, "\"~\" must be followed by 0 or 1 (RFC 6901)"));
        }
    }
    Ok(s.to_owned())
}

fn opt_pointer(field: &str, s: &Option<String>) -> Result<Option<String>, SpecError> {
    s.as_deref().map(|s| pointer(field, s, false)).transpose()
}

impl Declarative {
    /// Validates and compiles a spec. The error names the offending key
    /// (`"item"`, `"search"`, …) and says what is wrong with it. One check
    /// per key of the spec, in its order, hence the length.
    #[allow(clippy::too_many_lines)]
    pub fn new(spec: &DeclarativeSpec) -> Result<Declarative, (String, String)> {
        let search = Template::parse(&spec.search).map_err(|m| err("search", m))?;
        if !(search.has(Var::NumberNational) || search.has(Var::NumberE164)) {
            return Err(err(
                "search",
                "needs a number placeholder: {number_national} or {number_e164}",
            ));
        }
        if [Var::Name, Var::Place, Var::Postcode, Var::City]
            .iter()
            .any(|v| search.has(*v))
        {
            return Err(err(
                "search",
                "a number search can only use {number_national}, {number_e164} and {page}",
            ));
        }
        let search_name = match &spec.search_name {
            None => None,
            Some(t) => {
                let t = Template::parse(t).map_err(|m| err("search_name", m))?;
                if !t.has(Var::Name) {
                    return Err(err("search_name", "needs the {name} placeholder"));
                }
                if t.has(Var::NumberNational) || t.has(Var::NumberE164) {
                    return Err(err(
                        "search_name",
                        "a name search cannot use number placeholders",
                    ));
                }
                Some(t)
            }
        };
        let page_size = match spec.page_size {
            Some(0) => return Err(err("page_size", "must be at least 1")),
            p => p,
        };
        for (key, set) in [
            ("next_page", spec.next_page.is_some()),
            ("page_size", page_size.is_some()),
        ] {
            if !set {
                continue;
            }
            let templates = [
                ("search", Some(&search)),
                ("search_name", search_name.as_ref()),
            ];
            for (t_key, t) in templates {
                if t.is_some_and(|t| !t.has(Var::Page)) {
                    return Err(err(
                        key,
                        format!("pagination needs the {{page}} placeholder in {t_key}"),
                    ));
                }
            }
        }
        let configured = Configured {
            name: spec.name.is_some(),
            phone: spec.phone.is_some(),
            address: spec.address.is_some()
                || spec.street.is_some()
                || spec.postcode.is_some()
                || spec.city.is_some(),
        };
        if !(configured.name || configured.phone || configured.address) {
            return Err(err(
                "phone",
                "configure at least one of name, phone, address (or street, postcode, city)",
            ));
        }
        let format = match spec.format.as_str() {
            "html" => Format::Html(Box::new(HtmlSpec {
                simple: Simple::parse(&spec.item)
                    .filter(Simple::needs_attributes)
                    .zip(spec.no_results.as_deref().and_then(Simple::parse)),
                item: css("item", &spec.item)?,
                name: opt_css("name", &spec.name)?,
                phone: opt_css("phone", &spec.phone)?,
                address: opt_css("address", &spec.address)?,
                street: opt_css("street", &spec.street)?,
                postcode: opt_css("postcode", &spec.postcode)?,
                city: opt_css("city", &spec.city)?,
                no_results: opt_css("no_results", &spec.no_results)?,
                next_page: opt_css("next_page", &spec.next_page)?,
            })),
            "json" => Format::Json(Box::new(JsonSpec {
                item: pointer("item", &spec.item, true)?,
                name: opt_pointer("name", &spec.name)?,
                phone: opt_pointer("phone", &spec.phone)?,
                address: opt_pointer("address", &spec.address)?,
                street: opt_pointer("street", &spec.street)?,
                postcode: opt_pointer("postcode", &spec.postcode)?,
                city: opt_pointer("city", &spec.city)?,
                no_results: spec
                    .no_results
                    .as_deref()
                    .map(|p| pointer("no_results", p, true))
                    .transpose()?,
                next_page: opt_pointer("next_page", &spec.next_page)?,
            })),
            _ => return Err(err("format", "must be \"html\" or \"json\"")),
        };
        Ok(Declarative {
            search,
            search_name,
            page_size,
            configured,
            format,
        })
    }

    /// Number probes always; name probes only with a `search_name`.
    pub fn supports(&self, query: &Query) -> bool {
        match query {
            Query::Number(_) => true,
            Query::NameAt { .. } => self.search_name.is_some(),
        }
    }

    /// The search path for page `page` (1-based; 0 is read as 1). For a
    /// query the site does not [`support`](Declarative::supports) this is
    /// the number template with empty values: never fetch it.
    pub fn request_path(&self, query: &Query, page: u32) -> String {
        self.path(query, page, Form::Sent)
    }

    /// [`Declarative::request_path`] as it is stored: the number's digits
    /// masked, every name and place variable as `•••` (path templates
    /// included: `/s/{name}` is stored as `/s/•••`).
    pub fn stored_path(&self, query: &Query, page: u32) -> String {
        self.path(query, page, Form::Stored)
    }

    fn path(&self, query: &Query, page: u32, form: Form) -> String {
        let page = page.max(1).to_string();
        let none = || (Held::Fixed, String::new());
        match query {
            Query::Number(n) => self.search.render(form, |v| match v {
                Var::NumberNational => (Held::Number, n.national().to_owned()),
                Var::NumberE164 => (Held::Number, n.as_str().to_owned()),
                Var::Page => (Held::Fixed, page.clone()),
                _ => none(),
            }),
            Query::NameAt { name, place } => {
                let Some(t) = &self.search_name else {
                    return self.search.render(form, |v| match v {
                        Var::Page => (Held::Fixed, page.clone()),
                        _ => none(),
                    });
                };
                let place = collapse(place);
                let (postcode, city) = match split_post_line(&place) {
                    (Some(p), c) => (p, c.unwrap_or_default()),
                    (None, _) => (String::new(), place.clone()),
                };
                t.render(form, |v| match v {
                    Var::Name => (Held::Private, collapse(name)),
                    Var::Place => (Held::Private, place.clone()),
                    Var::Postcode => (Held::Private, postcode.clone()),
                    Var::City => (Held::Private, city.clone()),
                    Var::Page => (Held::Fixed, page.clone()),
                    _ => none(),
                })
            }
        }
    }

    /// Reads a 2xx body for result page `page` (1-based).
    /// The page number is not needed: `more` comes from `next_page` and
    /// `page_size`.
    pub fn parse(&self, body: &str, _page: u32) -> Result<Page, Unparseable> {
        if body.trim().is_empty() {
            return Err(Unparseable(reason::EMPTY_BODY.to_owned()));
        }
        let r = match &self.format {
            Format::Html(s) => self.parse_html(s, body),
            Format::Json(s) => self.parse_json(s, body),
        };
        r.map_err(|r| Unparseable(r.to_owned()))
    }

    fn parse_html(&self, s: &HtmlSpec, body: &str) -> Result<Page, &'static str> {
        if let Some(empty) = Self::scanned_empty(s, body) {
            return empty;
        }
        self.parse_html_tree(s, body)
    }

    /// A page without items, read from the pre-scan ([`scan::walk`]): no
    /// start tag could make an item, and the no-results marker is certain
    /// or certainly absent. `None` otherwise (items may be there, or the
    /// scan cannot vouch for the page): the DOM decides. Items are always
    /// read from the DOM: item field selectors are arbitrary CSS, and an
    /// arbitrary selector may reach outside the item's own markup.
    fn scanned_empty(s: &HtmlSpec, body: &str) -> Option<Result<Page, &'static str>> {
        let (item, marker) = s.simple.as_ref()?;
        let (mut items, mut marked, mut maybe_marked) = (false, false, false);
        // `html` and `body` tags merge their attributes into one element:
        // with two of a kind the attributes of two tags could combine.
        let (mut htmls, mut bodies) = (0u32, 0u32);
        scan::walk(body, |tag| {
            items = items || item.matches(tag);
            if marker.matches(tag) {
                if tag.creates_element() {
                    marked = true;
                } else {
                    maybe_marked = true;
                }
            }
            htmls += u32::from(!tag.foreign() && tag.is("html"));
            bodies += u32::from(!tag.foreign() && tag.is("body"));
            Visit::Skip
        })
        .ok()?;
        if items || htmls > 1 || bodies > 1 {
            return None;
        }
        match (marked, maybe_marked) {
            (true, _) => Some(empty_page(Some(true), body)),
            (false, true) => None,
            (false, false) => Some(empty_page(Some(false), body)),
        }
    }

    fn parse_html_tree(&self, s: &HtmlSpec, body: &str) -> Result<Page, &'static str> {
        let doc = Html::parse_document(body);
        let items: Vec<ElementRef<'_>> = doc.select(&s.item).collect();
        if items.is_empty() {
            let marked = s
                .no_results
                .as_ref()
                .map(|m| doc.select(m).next().is_some());
            return empty_page(marked, body);
        }
        let raw: Vec<Raw> = items.iter().map(|i| html_item(s, *i)).collect();
        let more = s
            .next_page
            .as_ref()
            .is_some_and(|n| doc.select(n).next().is_some());
        self.finish(raw, items.len(), more)
    }

    fn parse_json(&self, s: &JsonSpec, body: &str) -> Result<Page, &'static str> {
        let doc: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(_) if super::common::looks_like_challenge(body) => return Err(reason::CHALLENGE),
            Err(_) => return Err(reason::NOT_JSON),
        };
        let marked = s
            .no_results
            .as_ref()
            .map(|p| doc.pointer(p).is_some_and(proves_empty));
        let items = match doc.pointer(&s.item) {
            None => return empty_page(marked, body),
            Some(Value::Array(a)) if a.is_empty() => return empty_page(marked, body),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(reason::ITEMS_NOT_LIST),
        };
        let raw: Vec<Raw> = items.iter().map(|i| json_item(s, i)).collect();
        let more = s
            .next_page
            .as_ref()
            .and_then(|p| doc.pointer(p))
            .is_some_and(truthy);
        self.finish(raw, items.len(), more)
    }

    /// Page-level checks and `more`, shared by both formats.
    fn finish(&self, raw: Vec<Raw>, items: usize, more: bool) -> Result<Page, &'static str> {
        let listings: Vec<Listing> = raw
            .into_iter()
            .map(Raw::into_listing)
            .filter(|l| l.name.is_some() || !l.phones.is_empty() || l.address.is_some())
            .collect();
        if listings.is_empty() {
            return Err(reason::NOTHING_READABLE);
        }
        let c = self.configured;
        if c.name && listings.iter().all(|l| l.name.is_none()) {
            return Err(reason::NO_NAME);
        }
        if c.phone && listings.iter().all(|l| l.phones.is_empty()) {
            return Err(reason::NO_PHONE);
        }
        // No item with an address is an answer, not drift: a number listed
        // without its address is how address protection looks when it
        // works. A broken address selector is caught by a canary that
        // names its address (`canaries = [{ number, address }]`).
        let full = self
            .page_size
            .is_some_and(|n| items >= usize::try_from(n).unwrap_or(usize::MAX));
        Ok(Page::Hits {
            listings,
            more: more || full,
        })
    }
}

/// Zero items: "no hits" only on the configured marker. `marked` is `None`
/// when no marker is configured.
fn empty_page(marked: Option<bool>, body: &str) -> Result<Page, &'static str> {
    match marked {
        Some(true) => Ok(Page::NoHits),
        _ if super::common::looks_like_challenge(body) => Err(reason::CHALLENGE),
        Some(false) => Err(reason::NO_ITEMS_NO_MARKER),
        None => Err(reason::NO_MARKER_CONFIGURED),
    }
}

/// A JSON value that proves an empty result: `[]`, `0`, `true`.
fn proves_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => *b,
        _ => false,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// What one item showed, before it becomes a [`Listing`].
#[derive(Default)]
struct Raw {
    name: Option<String>,
    phones: Vec<String>,
    address_lines: Vec<String>,
    street: Option<String>,
    postcode: Option<String>,
    city: Option<String>,
}

impl Raw {
    fn into_listing(self) -> Listing {
        let mut address = listed_address(&self.address_lines);
        let (st, h, f, d) = self
            .street
            .as_deref()
            .map(split_street_line)
            .unwrap_or_default();
        // A postcode element may hold "8000 Aarhus C".
        let (pc, pc_city) = match self.postcode.as_deref().map(split_post_line) {
            Some((Some(p), c)) => (Some(p), c),
            _ => (self.postcode.clone(), None),
        };
        let city = self.city.or(pc_city);
        let any_part = self.street.is_some() || pc.is_some() || city.is_some();
        if any_part {
            let a = address.get_or_insert_with(ListedAddress::default);
            // The dedicated parts win over what was split from the text.
            if self.street.is_some() {
                if st.is_some() {
                    a.street = st;
                    a.house_number = h;
                    a.floor = f;
                    a.door = d;
                } else {
                    a.street = self.street.clone();
                }
            }
            if pc.is_some() {
                a.postcode = pc;
            }
            if city.is_some() {
                a.city = city;
            }
            if a.text.is_empty() {
                a.text = render_address(
                    a.street.as_deref(),
                    a.house_number.as_deref(),
                    a.floor.as_deref(),
                    a.door.as_deref(),
                    a.postcode.as_deref(),
                    a.city.as_deref(),
                );
            }
        }
        Listing {
            name: self.name,
            phones: self.phones,
            address,
        }
    }
}

fn first_text(item: ElementRef<'_>, sel: &Option<Selector>) -> Option<String> {
    let sel = sel.as_ref()?;
    item.select(sel)
        .map(|e| collapse(&e.text().collect::<String>()))
        .find(|t| !t.is_empty())
}

fn html_item(s: &HtmlSpec, item: ElementRef<'_>) -> Raw {
    let mut phones = Vec::new();
    if let Some(sel) = &s.phone {
        for e in item.select(sel) {
            element_phones(e, &mut phones);
        }
    }
    let address_lines = s
        .address
        .as_ref()
        .and_then(|sel| item.select(sel).map(element_lines).find(|l| !l.is_empty()))
        .unwrap_or_default();
    Raw {
        name: first_text(item, &s.name),
        phones,
        address_lines,
        street: first_text(item, &s.street),
        postcode: first_text(item, &s.postcode),
        city: first_text(item, &s.city),
    }
}

/// A string or number as text; `None` when blank or anything else.
fn scalar(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => collapse(s),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Strings or numbers, from one value or a list of them.
fn scalars(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn json_item(s: &JsonSpec, item: &Value) -> Raw {
    let at = |p: &Option<String>| p.as_deref().and_then(|p| item.pointer(p));
    let mut phones = Vec::new();
    for p in scalars(at(&s.phone)) {
        push_phone(&mut phones, &p);
    }
    let name = {
        let parts = scalars(at(&s.name));
        (!parts.is_empty()).then(|| parts.join(" "))
    };
    let postcode = match at(&s.postcode) {
        // A JSON number loses the leading zero of "0900".
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&n| n < 10_000)
            .map(|n| format!("{n:04}")),
        other => other.and_then(scalar),
    };
    Raw {
        name,
        phones,
        address_lines: scalars(at(&s.address)),
        street: at(&s.street).and_then(scalar),
        postcode,
        city: at(&s.city).and_then(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::E164;
    use crate::sites::testing::{L, Want, assert_page};
    use proptest::prelude::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/declarative/", $name))
        };
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    /// A hitta.se-shaped site (`sites.md` §5), as in the contract example.
    fn hitta_spec() -> DeclarativeSpec {
        DeclarativeSpec {
            search: "/sok?vad={number_national}&sida={page}".into(),
            search_name: s("/sok?vad={name}&var={place}&sida={page}"),
            item: r#"[data-test="person-item"]"#.into(),
            name: s(r#"[data-test="search-result-title"]"#),
            phone: s(r#"[data-test="phone-link"]"#),
            address: s("address"),
            no_results: s(r#"[data-test="no-hits"]"#),
            next_page: s(r#"[data-test="next"]"#),
            ..DeclarativeSpec::default()
        }
    }

    /// A 1881.no-shaped site (`sites.md` §4).
    fn n1881_spec() -> DeclarativeSpec {
        DeclarativeSpec {
            search: "/?query={number_national}&type=person".into(),
            item: ".listing--person".into(),
            name: s(r#"a[data-galog*="Tittel"]"#),
            phone: s(r#".button-call__number, a[href^="tel:"]"#),
            address: s(".listing__address"),
            no_results: s(".no-hits"),
            ..DeclarativeSpec::default()
        }
    }

    /// A JSON API.
    fn json_spec() -> DeclarativeSpec {
        DeclarativeSpec {
            format: "json".into(),
            search: "/api/search?phone={number_e164}&page={page}".into(),
            item: "/result/persons".into(),
            name: s("/displayName"),
            phone: s("/phoneNumbers"),
            street: s("/address/street"),
            postcode: s("/address/zip"),
            city: s("/address/city"),
            no_results: s("/result/total"),
            next_page: s("/result/next"),
            ..DeclarativeSpec::default()
        }
    }

    fn adapter(spec: DeclarativeSpec) -> Declarative {
        Declarative::new(&spec).unwrap_or_else(|(k, m)| panic!("{k}: {m}"))
    }

    fn check(a: &Declarative, body: &str, want: Want<'_>) {
        let got = a.parse(body, 1);
        assert_page(&got, want);
    }

    fn number(n: &str) -> Query {
        Query::Number(E164::parse_dk(n).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn hitta_shaped_site() {
        let a = adapter(hitta_spec());
        check(
            &a,
            fixture!("hitta_hits.html"),
            Want::Hits(
                vec![
                    L(
                        Some("Mette Lykke Kjærgaard"),
                        vec!["13 57 24 68"],
                        Some("Ågade 14B, 2. th, 8000 Aarhus C"),
                    ),
                    L(
                        Some("Søren Ærbøl"),
                        vec!["95 55 44 33", "19 55 44 33"],
                        Some("Strålerup Allé 5, 4. tv, 2100 København Ø"),
                    ),
                ],
                true,
            ),
        );
        let Ok(Page::Hits { listings, .. }) = a.parse(fixture!("hitta_hits.html"), 1) else {
            panic!("hits expected");
        };
        let addr = listings[0].address.clone().unwrap_or_default();
        assert_eq!(addr.street.as_deref(), Some("Ågade"));
        assert_eq!(addr.house_number.as_deref(), Some("14B"));
        assert_eq!(addr.floor.as_deref(), Some("2"));
        assert_eq!(addr.door.as_deref(), Some("th"));
        assert_eq!(addr.postcode.as_deref(), Some("8000"));
        check(&a, fixture!("hitta_no_hits.html"), Want::NoHits);
        check(
            &a,
            fixture!("hitta_drift.html"),
            Want::Unparseable(reason::NO_ITEMS_NO_MARKER),
        );
        check(
            &a,
            fixture!("challenge.html"),
            Want::Unparseable(reason::CHALLENGE),
        );
        // The last page has no next button.
        let last = fixture!("hitta_hits.html").replace(r#"data-test="next""#, "");
        assert!(matches!(
            a.parse(&last, 2),
            Ok(Page::Hits { more: false, .. })
        ));
    }

    fn html_spec(a: &Declarative) -> &HtmlSpec {
        match &a.format {
            Format::Html(s) => s,
            Format::Json(_) => panic!("html spec expected"),
        }
    }

    /// Empty pages go through the pre-scan; pages with items do not.
    #[test]
    fn the_pre_scan_proves_empty_pages() {
        for (spec, body, empty) in [
            (hitta_spec(), fixture!("realistic_hitta_no_hits.html"), true),
            (hitta_spec(), fixture!("hitta_no_hits.html"), true),
            (hitta_spec(), fixture!("hitta_drift.html"), true),
            (n1881_spec(), fixture!("n1881_no_hits.html"), true),
            (hitta_spec(), fixture!("realistic_hitta_hits.html"), false),
            (n1881_spec(), fixture!("n1881_hits.html"), false),
        ] {
            let a = adapter(spec);
            let s = html_spec(&a);
            let fast = Declarative::scanned_empty(s, body);
            assert_eq!(fast.is_some(), empty);
            if let Some(fast) = fast {
                assert_eq!(fast, a.parse_html_tree(s, body));
            }
        }
        // A marker the pre-scan cannot read: always the tree.
        let a = adapter(DeclarativeSpec {
            no_results: s("main > .empty"),
            ..hitta_spec()
        });
        assert!(
            Declarative::scanned_empty(html_spec(&a), fixture!("hitta_no_hits.html")).is_none()
        );
    }

    proptest! {
        #[test]
        fn the_pre_scan_agrees_with_the_tree(
            which in 0usize..3,
            inserts in proptest::collection::vec((any::<usize>(), mutation()), 1..4),
        ) {
            let src = [
                fixture!("realistic_hitta_no_hits.html"),
                fixture!("realistic_hitta_hits.html"),
                fixture!("hitta_no_hits.html"),
            ][which];
            let body = crate::sites::dk118::tests::mutate(src, &inserts);
            let a = adapter(hitta_spec());
            let s = html_spec(&a);
            if let Some(fast) = Declarative::scanned_empty(s, &body) {
                prop_assert_eq!(fast, a.parse_html_tree(s, &body));
            }
        }
    }

    fn mutation() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#"<div data-test="no-hits">x</div>"#.to_owned()),
            Just(r#"<li data-test="person-item"><h2 data-test="search-result-title">Ida</h2><a data-test="phone-link" href="tel:+4519887766">19 88 77 66</a></li>"#.to_owned()),
            Just(r#"<li data-test=person-item>"#.to_owned()),
            Just(r#"<body data-test="no-hits">"#.to_owned()),
            Just(r#"<body data-test="person-item">"#.to_owned()),
            Just(r#"<svg data-test="no-hits"><path d=M0 /></svg>"#.to_owned()),
            Just(r#"<td data-test="no-hits">"#.to_owned()),
            Just(r#"<div data-test="no&#45;hits">"#.to_owned()),
            Just(r#"<div data-test="No-Hits">"#.to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("<script>".to_owned()),
            Just("</script>".to_owned()),
            Just("<template>".to_owned()),
            Just("captcha".to_owned()),
            crate::sites::dk118::tests::mutation(),
        ]
    }

    #[test]
    fn realistic_pages_read_like_the_small_ones() {
        let a = adapter(hitta_spec());
        check(&a, fixture!("realistic_hitta_no_hits.html"), Want::NoHits);
        let mette = Some("Ågade 14B, 2. th, 8000 Aarhus C");
        check(
            &a,
            fixture!("realistic_hitta_hits.html"),
            Want::Hits(
                vec![
                    L(Some("Mette Lykke Kjærgaard"), vec!["13 57 24 68"], mette),
                    L(Some("Mette Lykke Kjærgaard"), vec!["19 57 24 68"], mette),
                    L(
                        Some("Søren Ærbøl Ståhlkjær"),
                        vec!["95 55 44 33", "19 55 44 33"],
                        Some("Strålerup Allé 5, 4. tv, 2100 København Ø"),
                    ),
                ],
                false,
            ),
        );
        let first = |body: &str| match a.parse(body, 1) {
            Ok(Page::Hits { listings, .. }) => listings.into_iter().next(),
            other => panic!("hits expected, got {other:?}"),
        };
        assert_eq!(
            first(fixture!("realistic_hitta_hits.html")),
            first(fixture!("hitta_hits.html"))
        );
        // The chrome names the marker and an item in scripts only.
        let unmarked = fixture!("realistic_hitta_no_hits.html")
            .replace(r#"data-test="no-hits""#, r#"data-test="empty""#);
        assert!(unmarked.contains("person-item") && unmarked.contains("no-hits"));
        check(&a, &unmarked, Want::Unparseable(reason::NO_ITEMS_NO_MARKER));
        let cut = fixture!("realistic_hitta_hits.html");
        let cut = &cut[..cut.find("<main>").unwrap_or(0)];
        check(&a, cut, Want::Unparseable(reason::NO_ITEMS_NO_MARKER));
    }

    #[test]
    fn n1881_shaped_site() {
        let a = adapter(n1881_spec());
        check(
            &a,
            fixture!("n1881_hits.html"),
            Want::Hits(
                vec![
                    L(
                        Some("Birthe Østergaard Nielsen"),
                        vec!["94 12 34 56"],
                        Some("Søndergade 7, 1. th, 7100 Vejle"),
                    ),
                    L(
                        Some("Ole Krogh"),
                        vec!["194 45 566", "tel:+4519445567"],
                        Some("Krogvej 9, 3000 Helsingør"),
                    ),
                    L(Some("Ulla Krogh"), vec!["tel:+4519445568"], None),
                ],
                false,
            ),
        );
        check(&a, fixture!("n1881_no_hits.html"), Want::NoHits);
        check(
            &a,
            fixture!("n1881_drift.html"),
            Want::Unparseable(reason::NOTHING_READABLE),
        );
        // Only the phone markup moved: a number must not pass as absent.
        let no_phone = fixture!("n1881_hits.html")
            .replace("button-call__number", "btn-number")
            .replace("href=\"tel:", "data-x=\"");
        check(&a, &no_phone, Want::Unparseable(reason::NO_PHONE));
        // No item shows an address: listings without one, an answer.
        let no_address = fixture!("n1881_hits.html").replace("listing__address", "listing__gone");
        let Ok(Page::Hits { listings, .. }) = a.parse(&no_address, 1) else {
            panic!("a page without addresses is read");
        };
        assert_eq!(listings.len(), 3);
        assert!(listings.iter().all(|l| l.address.is_none()));
        assert!(listings.iter().all(|l| l.name.is_some()));
    }

    #[test]
    fn json_site() {
        let a = adapter(json_spec());
        check(
            &a,
            fixture!("api_hits.json"),
            Want::Hits(
                vec![
                    L(
                        Some("Mette Lykke Kjærgaard"),
                        vec!["+4513572468", "19 57 24 68"],
                        Some("Ågade 14B, 2. th, 8000 Aarhus C"),
                    ),
                    L(
                        Some("Kjærgaard & Søn ApS"),
                        vec!["13 88 77 66"],
                        Some("Industrivej 42, 0900 København C"),
                    ),
                ],
                true,
            ),
        );
        check(&a, fixture!("api_no_hits.json"), Want::NoHits);
        check(
            &a,
            fixture!("api_drift.json"),
            Want::Unparseable(reason::NO_ITEMS_NO_MARKER),
        );
        check(
            &a,
            "{\"result\":{\"persons\":{}}}",
            Want::Unparseable(reason::ITEMS_NOT_LIST),
        );
        check(
            &a,
            "{\"result\":{\"persons\":[{\"x\":1}]}}",
            Want::Unparseable(reason::NOTHING_READABLE),
        );
        check(&a, "<html>", Want::Unparseable(reason::NOT_JSON));
        check(
            &a,
            fixture!("challenge.html"),
            Want::Unparseable(reason::CHALLENGE),
        );
        // "total" must be zero, not merely present.
        check(
            &a,
            "{\"result\":{\"persons\":[],\"total\":3}}",
            Want::Unparseable(reason::NO_ITEMS_NO_MARKER),
        );
        // An array at the document root.
        let root = adapter(DeclarativeSpec {
            format: "json".into(),
            search: "/api?q={number_national}".into(),
            item: String::new(),
            name: s("/n"),
            phone: s("/p"),
            no_results: s(""),
            ..DeclarativeSpec::default()
        });
        check(
            &root,
            "[{\"n\":\"Ida\",\"p\":[\"19887766\"]}]",
            Want::Hits(vec![L(Some("Ida"), vec!["19887766"], None)], false),
        );
    }

    #[test]
    fn empty_pages_need_a_configured_marker() {
        let a = adapter(DeclarativeSpec {
            no_results: None,
            ..hitta_spec()
        });
        check(
            &a,
            fixture!("hitta_no_hits.html"),
            Want::Unparseable(reason::NO_MARKER_CONFIGURED),
        );
        check(&a, " ", Want::Unparseable(reason::EMPTY_BODY));
        let j = adapter(DeclarativeSpec {
            no_results: None,
            ..json_spec()
        });
        check(
            &j,
            fixture!("api_no_hits.json"),
            Want::Unparseable(reason::NO_MARKER_CONFIGURED),
        );
    }

    #[test]
    fn page_size_means_more() {
        let a = adapter(DeclarativeSpec {
            next_page: None,
            page_size: Some(2),
            ..hitta_spec()
        });
        assert!(matches!(
            a.parse(fixture!("hitta_hits.html"), 1),
            Ok(Page::Hits { more: true, .. })
        ));
        let b = adapter(DeclarativeSpec {
            next_page: None,
            page_size: Some(3),
            ..hitta_spec()
        });
        assert!(matches!(
            b.parse(fixture!("hitta_hits.html"), 1),
            Ok(Page::Hits { more: false, .. })
        ));
    }

    #[test]
    fn request_paths() {
        let a = adapter(hitta_spec());
        let n = number("13 57 24 68");
        assert!(a.supports(&n));
        assert_eq!(a.request_path(&n, 0), "/sok?vad=13572468&sida=1");
        assert_eq!(a.request_path(&n, 3), "/sok?vad=13572468&sida=3");
        let q = Query::NameAt {
            name: "Søren  Ærbøl".into(),
            place: "2100 København Ø".into(),
        };
        assert!(a.supports(&q));
        assert_eq!(
            a.request_path(&q, 1),
            "/sok?vad=S%C3%B8ren%20%C3%86rb%C3%B8l&var=2100%20K%C3%B8benhavn%20%C3%98&sida=1"
        );
        let parts = adapter(DeclarativeSpec {
            search_name: s("/s/{name}?pn={postcode}&by={city}"),
            next_page: None,
            ..hitta_spec()
        });
        assert_eq!(
            parts.request_path(&q, 1),
            "/s/S%C3%B8ren%20%C3%86rb%C3%B8l?pn=2100&by=K%C3%B8benhavn%20%C3%98"
        );
        let city_only = Query::NameAt {
            name: "Ida".into(),
            place: "Aarhus C".into(),
        };
        assert_eq!(
            parts.request_path(&city_only, 1),
            "/s/Ida?pn=&by=Aarhus%20C"
        );
        // Stored: nothing of the number, the name or the place, in the
        // path or the query.
        assert_eq!(parts.stored_path(&city_only, 1), "/s/•••?pn=&by=•••");
        assert_eq!(parts.stored_path(&q, 1), "/s/•••?pn=•••&by=•••");
        assert_eq!(a.stored_path(&n, 3), "/sok?vad=••••••••&sida=3");
        let j = adapter(json_spec());
        assert_eq!(
            j.request_path(&n, 2),
            "/api/search?phone=%2B4513572468&page=2"
        );
        assert_eq!(
            j.stored_path(&n, 2),
            "/api/search?phone=%2B••••••••••&page=2"
        );
        // No search_name: name probes are not supported.
        assert!(!j.supports(&q));
        let adapter = super::super::Adapter::Declarative(j);
        assert!(!adapter.supports(&q) && adapter.supports(&n));
        assert_eq!(
            adapter.search(&n).request(2).path,
            "/api/search?phone=%2B4513572468&page=2"
        );
        assert_eq!(
            adapter.request_path(&n, 1),
            "/api/search?phone=%2B4513572468&page=1"
        );
        assert_eq!(
            adapter.parse(fixture!("api_no_hits.json"), 1),
            Ok(Page::NoHits)
        );
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |spec: DeclarativeSpec, key: &str| {
            match Declarative::new(&spec) {
                Err((k, m)) => {
                    assert_eq!(k, key, "{m}");
                    assert!(!m.is_empty());
                }
                Ok(_) => panic!("{key}: accepted"),
            };
        };
        bad(
            DeclarativeSpec {
                item: "div[".into(),
                ..hitta_spec()
            },
            "item",
        );
        bad(
            DeclarativeSpec {
                item: " ".into(),
                ..hitta_spec()
            },
            "item",
        );
        bad(
            DeclarativeSpec {
                phone: s("a[href^="),
                ..hitta_spec()
            },
            "phone",
        );
        bad(
            DeclarativeSpec {
                no_results: s(":::"),
                ..hitta_spec()
            },
            "no_results",
        );
        bad(
            DeclarativeSpec {
                search: "/sok?vad={nummer}".into(),
                ..hitta_spec()
            },
            "search",
        );
        bad(
            DeclarativeSpec {
                search: "/sok?vad=fixed&sida={page}".into(),
                ..hitta_spec()
            },
            "search",
        );
        bad(
            DeclarativeSpec {
                search: "/sok?vad={name}&n={number_national}&sida={page}".into(),
                ..hitta_spec()
            },
            "search",
        );
        for t in [
            "sok?vad={number_national}",
            "//evil.example/{number_national}",
            "https://x/{number_national}",
            "/sok?vad={number_national",
            "/sok?vad=number_national}",
            "/sok?vad={{number_national}}",
            "/sok?vad= {number_national}",
            "/sok?vad={number_national}#x",
        ] {
            bad(
                DeclarativeSpec {
                    search: t.into(),
                    next_page: None,
                    ..hitta_spec()
                },
                "search",
            );
        }
        bad(
            DeclarativeSpec {
                search_name: s("/sok?vad={place}&sida={page}"),
                ..hitta_spec()
            },
            "search_name",
        );
        bad(
            DeclarativeSpec {
                search_name: s("/sok?vad={name}&n={number_e164}&sida={page}"),
                ..hitta_spec()
            },
            "search_name",
        );
        bad(
            DeclarativeSpec {
                search: "/sok?vad={number_national}".into(),
                ..hitta_spec()
            },
            "next_page",
        );
        bad(
            DeclarativeSpec {
                search_name: s("/sok?vad={name}"),
                next_page: None,
                page_size: Some(25),
                ..hitta_spec()
            },
            "page_size",
        );
        bad(
            DeclarativeSpec {
                page_size: Some(0),
                ..hitta_spec()
            },
            "page_size",
        );
        bad(
            DeclarativeSpec {
                format: "xml".into(),
                ..hitta_spec()
            },
            "format",
        );
        bad(
            DeclarativeSpec {
                name: None,
                phone: None,
                address: None,
                ..hitta_spec()
            },
            "phone",
        );
        bad(
            DeclarativeSpec {
                item: "result/persons".into(),
                ..json_spec()
            },
            "item",
        );
        bad(
            DeclarativeSpec {
                phone: s("phoneNumbers"),
                ..json_spec()
            },
            "phone",
        );
        bad(
            DeclarativeSpec {
                name: s(""),
                ..json_spec()
            },
            "name",
        );
        bad(
            DeclarativeSpec {
                no_results: s("/a~2b"),
                ..json_spec()
            },
            "no_results",
        );
        // Accepted: the minimal contract example.
        let ok = DeclarativeSpec {
            search: "/soeg?q={number_national}".into(),
            item: "[data-test=person-item]".into(),
            name: s("[data-test=search-result-title]"),
            phone: s("[data-test=phone-link]"),
            address: s("address"),
            no_results: s("[data-test=no-hits]"),
            ..DeclarativeSpec::default()
        };
        assert!(Declarative::new(&ok).is_ok());
    }

    #[test]
    fn spec_deserializes_from_the_contract_toml() {
        let toml_text = r#"
format = "html"
search = "/soeg?q={number_national}"
item = "[data-test=person-item]"
name = "[data-test=search-result-title]"
phone = "[data-test=phone-link]"
address = "address"
no_results = "[data-test=no-hits]"
"#;
        let spec: DeclarativeSpec = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.format, "html");
        assert_eq!(spec.search_name, None);
        assert!(Declarative::new(&spec).is_ok());
        let defaulted: DeclarativeSpec =
            toml::from_str("search = \"/q?n={number_national}\"\nitem = \"li\"\nphone = \"a\"\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaulted.format, "html");
        assert!(
            toml::from_str::<DeclarativeSpec>("search = \"/x\"\nitem = \"li\"\nitme = \"x\"\n")
                .is_err()
        );
    }

    #[test]
    fn reasons_never_quote_the_page() {
        let a = adapter(n1881_spec());
        for body in [fixture!("n1881_drift.html"), fixture!("hitta_drift.html")] {
            let Err(Unparseable(r)) = a.parse(body, 1) else {
                panic!("expected unparseable");
            };
            assert!(!r.chars().any(|c| c.is_ascii_digit()), "{r}");
            assert!(r.len() < 80, "{r}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in any::<String>()) {
            let _ = adapter(hitta_spec()).parse(&body, 1);
            let _ = adapter(json_spec()).parse(&body, 1);
        }

        #[test]
        fn parse_never_panics_on_mangled_fixtures(cut in 0usize..4000, junk in ".{0,40}") {
            for (a, src) in [
                (adapter(hitta_spec()), fixture!("hitta_hits.html")),
                (adapter(n1881_spec()), fixture!("n1881_hits.html")),
                (adapter(json_spec()), fixture!("api_hits.json")),
            ] {
                let cut = src.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(src.len());
                let body = format!("{}{junk}{}", &src[..cut], &src[cut..]);
                let _ = a.parse(&body, 1);
            }
        }

        #[test]
        fn templates_never_panic(t in ".{0,40}") {
            let _ = Declarative::new(&DeclarativeSpec { search: t, next_page: None, ..hitta_spec() });
        }

        #[test]
        fn no_hits_only_with_the_marker(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("<li data-test=\"person-item\">".to_owned()),
                    Just("<h2 data-test=\"search-result-title\">".to_owned()),
                    Just("<a data-test=\"phone-link\" href=\"tel:+45".to_owned()),
                    Just("\">".to_owned()),
                    Just("</a>".to_owned()),
                    Just("<address>".to_owned()),
                    Just("<br>".to_owned()),
                    Just("</li>".to_owned()),
                    Just("<div data-test=\"no-hits\">".to_owned()),
                    "[0-9 ,.A-Za-zæøå]{0,12}",
                ],
                0..40,
            )
        ) {
            let body = parts.concat();
            match adapter(hitta_spec()).parse(&body, 1) {
                Ok(Page::Hits { listings, .. }) => prop_assert!(!listings.is_empty()),
                Ok(Page::NoHits) => prop_assert!(body.contains("no-hits")),
                Err(_) => {}
            }
        }
    }
}
