//! 118.dk (TDC/Nuuday), `sites.md` §1 and §9.
//!
//! Server-rendered HTML. Each hit is a `div.result-block` (ids `listing0…`)
//! with the name in `h3 a` and address and phone links in
//! `div.description-block`. The selectors were read from third-party
//! scrapers, not the live site, so the parser is strict: anything it does
//! not recognise is [`Unparseable`] (inconclusive), never an empty result.

use scraper::{ElementRef, Html, Selector};

use super::common::scan::{self, Simple, Tag, Visit};
use super::common::{Form, Held, collapse, digits, element_lines, listed_address, write_value};
use super::{Page, Query, Unparseable};
use crate::domain::{E164, ListedAddress, Listing};

/// The adapter's default no-results marker (`sites.md` §9: the project's
/// convention, overridable per site with `no_results`).
pub const DEFAULT_NO_RESULTS: &str = "div.no-results";

/// Results per page we ask for.
pub const PAGE_SIZE: u32 = 25;

/// Fixed reasons for [`Unparseable`]. They never quote the page: a page may
/// hold protected data, and reasons end up in logs and the store.
pub mod reason {
    pub const EMPTY_BODY: &str = "empty body";
    pub const CHALLENGE: &str = "bot-protection challenge page";
    pub const NO_BLOCKS_NO_MARKER: &str = "no result blocks and no no-results marker";
    pub const NO_DESCRIPTION: &str = "result block without description block";
    pub const NOTHING_READABLE: &str = "result block without readable name, phone or address";
    pub const NO_PHONE: &str = "result block without a phone link";
}

/// Selectors compiled once per adapter, so parsing has no failure path of
/// its own and no panicking `expect` on constant strings.
#[derive(Debug, Clone)]
struct Selectors {
    block: Selector,
    name_link: Selector,
    heading: Selector,
    description: Selector,
    address: Selector,
    link: Selector,
    tel: Selector,
    next: Selector,
    href: Selector,
    current: Selector,
}

impl Selectors {
    fn new() -> Result<Self, String> {
        let s = |css: &str| Selector::parse(css).map_err(|e| e.to_string());
        Ok(Selectors {
            block: s("div.result-block")?,
            name_link: s("h3 a")?,
            heading: s("h3")?,
            description: s("div.description-block")?,
            address: s("address")?,
            link: s("a")?,
            tel: s(r#"a[href^="tel:" i]"#)?,
            next: s(r#"a[rel~="next"], link[rel~="next"]"#)?,
            href: s("a[href]")?,
            current: s(r#"[aria-current="page"], .pagination .active, .pagination .current"#)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Dk118 {
    no_results: Selector,
    /// The same marker, when it is simple enough for the pre-scan
    /// (`div.no-results`, `#ingen-hits`); otherwise every page is parsed
    /// fully.
    no_results_simple: Option<Simple>,
    sel: Selectors,
}

impl Dk118 {
    /// `no_results` is a CSS selector; `None` takes [`DEFAULT_NO_RESULTS`].
    /// Errors name the selector problem as text (selector errors are not Send).
    pub fn new(no_results: Option<&str>) -> Result<Self, String> {
        let sel = no_results.unwrap_or(DEFAULT_NO_RESULTS);
        let no_results = Selector::parse(sel).map_err(|e| e.to_string())?;
        Ok(Dk118 {
            no_results,
            no_results_simple: Simple::parse(sel),
            sel: Selectors::new()?,
        })
    }

    /// `/search/go?what=…&pageSize=25&page=N`; `where` is added for name
    /// probes. Page 0 is read as 1 (pages are 1-based).
    pub fn request_path(&self, query: &Query, page: u32) -> String {
        Self::path(query, page, Form::Sent)
    }

    /// [`Dk118::request_path`] as it is stored: the number's digits masked,
    /// name and place as `•••`.
    pub fn stored_path(&self, query: &Query, page: u32) -> String {
        Self::path(query, page, Form::Stored)
    }

    fn path(query: &Query, page: u32, form: Form) -> String {
        let page = page.max(1).to_string();
        let size = PAGE_SIZE.to_string();
        let mut pairs: Vec<(&str, Held, &str)> = Vec::with_capacity(4);
        match query {
            Query::Number(n) => pairs.push(("what", Held::Number, n.national())),
            Query::NameAt { name, place } => {
                pairs.push(("what", Held::Private, name.trim()));
                pairs.push(("where", Held::Private, place.trim()));
            }
        }
        pairs.push(("pageSize", Held::Fixed, &size));
        pairs.push(("page", Held::Fixed, &page));
        let query = match form {
            // The site's own form encoding (`+` for a space).
            Form::Sent => {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                for (k, _, v) in &pairs {
                    q.append_pair(k, v);
                }
                q.finish()
            }
            Form::Stored => pairs
                .iter()
                .map(|(k, held, v)| format!("{k}={}", write_value(*held, v, form)))
                .collect::<Vec<_>>()
                .join("&"),
        };
        format!("/search/go?{query}")
    }

    /// Reads a 2xx body without knowing which page was asked for: the
    /// current page is read from the pagination (page 1 if there is none).
    pub fn parse(&self, body: &str) -> Result<Page, Unparseable> {
        self.parse_inner(body, None)
    }

    /// Like [`Dk118::parse`] for a caller that knows it asked for `page`,
    /// which makes the "link to page N+1" test exact.
    pub fn parse_page(&self, body: &str, page: u32) -> Result<Page, Unparseable> {
        self.parse_inner(body, Some(page.max(1)))
    }

    fn parse_inner(&self, body: &str, page: Option<u32>) -> Result<Page, Unparseable> {
        if body.trim().is_empty() {
            return Err(Unparseable(reason::EMPTY_BODY.to_owned()));
        }
        if super::common::looks_like_challenge(body) {
            return Err(Unparseable(reason::CHALLENGE.to_owned()));
        }
        // The pre-scan needs the page number for `more`; without it the
        // pagination's current marker is read from the full tree.
        if let Some(p) = page
            && let Some(read) = self.scanned(body, p)
        {
            return read;
        }
        self.full(body, page)
    }

    /// The page read from the whole DOM (html5ever): always right, and
    /// about 1 ms for an 82 KB page.
    fn full(&self, body: &str, page: Option<u32>) -> Result<Page, Unparseable> {
        let doc = Html::parse_document(body);
        let blocks: Vec<ElementRef<'_>> = doc.select(&self.sel.block).collect();
        if blocks.is_empty() {
            return if doc.select(&self.no_results).next().is_some() {
                Ok(Page::NoHits)
            } else {
                Err(Unparseable(reason::NO_BLOCKS_NO_MARKER.to_owned()))
            };
        }
        let page = page.unwrap_or_else(|| self.current_page(&doc));
        self.read_blocks(&blocks, || self.links_onward(&doc, page))
    }

    /// The page read from the pre-scan ([`scan::walk`]): a page without
    /// result blocks needs no tree at all, and a well-formed page with
    /// blocks needs only the blocks' markup parsed. `None` where the scan
    /// cannot vouch for the page: then [`Dk118::full`] decides.
    fn scanned(&self, body: &str, page: u32) -> Option<Result<Page, Unparseable>> {
        let marker = self.no_results_simple.as_ref()?;
        let want = page.saturating_add(1);
        let (mut marked, mut maybe_marked, mut onward) = (false, false, false);
        let outline = scan::walk(body, |tag| {
            if marker.matches(tag) {
                if tag.creates_element() {
                    marked = true;
                } else {
                    maybe_marked = true;
                }
            }
            onward = onward || links_onward_tag(tag, want);
            if !tag.foreign() && tag.is("div") && tag.has_class("result-block") {
                Visit::Keep
            } else {
                Visit::Skip
            }
        })
        .ok()?;
        if outline.kept.is_empty() {
            return match (marked, maybe_marked) {
                (true, _) => Some(Ok(Page::NoHits)),
                (false, true) => None,
                (false, false) => Some(Err(Unparseable(reason::NO_BLOCKS_NO_MARKER.to_owned()))),
            };
        }
        let readable = outline.strict
            && outline
                .kept
                .iter()
                .all(|k| k.span.is_some() && (k.nested || k.safe_ancestors));
        if !readable {
            return None;
        }
        let mut markup = String::new();
        for k in outline.kept.iter().filter(|k| !k.nested) {
            markup.push_str(body.get(k.span.clone()?)?);
            markup.push('\n');
        }
        let doc = Html::parse_fragment(&markup);
        let blocks: Vec<ElementRef<'_>> = doc.select(&self.sel.block).collect();
        if blocks.len() != outline.kept.len() {
            return None;
        }
        Some(self.read_blocks(&blocks, || onward))
    }

    /// Listings from the result blocks; `onward` says whether the page
    /// links to the next one.
    fn read_blocks(
        &self,
        blocks: &[ElementRef<'_>],
        onward: impl FnOnce() -> bool,
    ) -> Result<Page, Unparseable> {
        let mut listings = Vec::with_capacity(blocks.len());
        for block in blocks {
            listings.push(
                self.listing(*block)
                    .map_err(|r| Unparseable(r.to_owned()))?,
            );
        }
        let more = blocks.len() >= PAGE_SIZE as usize || onward();
        Ok(Page::Hits { listings, more })
    }

    /// One hit. Every 118.dk listing is a number subscription, so a block
    /// without a phone link means the markup moved: reporting it as a
    /// listing without phones would let a shown number pass as absent.
    fn listing(&self, block: ElementRef<'_>) -> Result<Listing, &'static str> {
        let name = block
            .select(&self.sel.name_link)
            .next()
            .or_else(|| block.select(&self.sel.heading).next())
            .map(|e| collapse(&e.text().collect::<String>()))
            .filter(|n| !n.is_empty());
        let phones = self.phones(block);
        let descriptions: Vec<ElementRef<'_>> = block.select(&self.sel.description).collect();
        let address = self.address(&descriptions);
        if name.is_none() && phones.is_empty() && address.is_none() {
            return Err(reason::NOTHING_READABLE);
        }
        if descriptions.is_empty() {
            return Err(reason::NO_DESCRIPTION);
        }
        if phones.is_empty() {
            return Err(reason::NO_PHONE);
        }
        Ok(Listing {
            name,
            phones,
            address,
        })
    }

    /// Visible text of every `tel:` link, plus the link target when it is a
    /// different number (a page could show one number and dial another).
    fn phones(&self, block: ElementRef<'_>) -> Vec<String> {
        let mut phones: Vec<String> = Vec::new();
        let mut push = |p: String| {
            if !p.is_empty() && !phones.contains(&p) {
                phones.push(p);
            }
        };
        for a in block.select(&self.sel.tel) {
            let text = collapse(&a.text().collect::<String>());
            let href = a.attr("href").map(str::trim).unwrap_or("");
            let target = href.get(4..).map(str::trim).unwrap_or("");
            let same = match (E164::parse_dk(&text), E164::parse_dk(target)) {
                (Ok(a), Ok(b)) => a == b,
                _ => digits(&text) == digits(target),
            };
            let text_empty = text.is_empty();
            push(text);
            if (text_empty || !same) && !target.is_empty() {
                push(href.to_owned());
            }
        }
        phones
    }

    /// The `address` element, or for the older markup the first link in the
    /// description that is neither a phone link nor a marker ("se kort").
    fn address(&self, descriptions: &[ElementRef<'_>]) -> Option<ListedAddress> {
        let modern = descriptions
            .iter()
            .find_map(|d| d.select(&self.sel.address).next());
        let lines = match modern {
            Some(el) => address_lines(el),
            None => descriptions
                .iter()
                .flat_map(|d| d.select(&self.sel.link))
                .filter(|a| {
                    !a.attr("href")
                        .is_some_and(|h| h.trim().to_ascii_lowercase().starts_with("tel:"))
                })
                .map(address_lines)
                .find(|lines| !lines.is_empty())?,
        };
        listed_address(&lines)
    }

    /// The page the pagination marks as current, else 1.
    fn current_page(&self, doc: &Html) -> u32 {
        doc.select(&self.sel.current)
            .find_map(|e| collapse(&e.text().collect::<String>()).parse::<u32>().ok())
            .unwrap_or(1)
    }

    /// A `rel=next` link, or any link whose query asks for page `page + 1`.
    fn links_onward(&self, doc: &Html, page: u32) -> bool {
        if doc.select(&self.sel.next).next().is_some() {
            return true;
        }
        let want = page.saturating_add(1);
        doc.select(&self.sel.href)
            .any(|a| asks_for_page(a.attr("href").unwrap_or(""), want))
    }
}

/// Whether a link's query asks for page `want`.
fn asks_for_page(href: &str, want: u32) -> bool {
    let Some((_, query)) = href.split_once('?') else {
        return false;
    };
    let query = query.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "page" && v.trim().parse::<u32>().ok() == Some(want))
}

/// [`Dk118::links_onward`] for one start tag of the pre-scan: `a` or
/// `link` with `rel~="next"` (ASCII case-insensitive in HTML, as selectors
/// compare `rel`), or an `a` with an `href` asking for page `want`.
fn links_onward_tag(tag: &Tag<'_, '_>, want: u32) -> bool {
    if tag.foreign() || !(tag.is("a") || tag.is("link")) {
        return false;
    }
    let next = tag.attr("rel").is_some_and(|r| {
        r.split_ascii_whitespace()
            .any(|p| p.eq_ignore_ascii_case("next"))
    });
    // Only a query that says "page" (perhaps percent-encoded) can ask for
    // one; most links of the chrome do not, and parsing theirs is waste.
    next || (tag.is("a")
        && tag
            .attr("href")
            .is_some_and(|h| (h.contains("page") || h.contains('%')) && asks_for_page(&h, want)))
}

/// Lines that are labels or links next to the address, not part of it.
fn is_marker_line(line: &str) -> bool {
    let l = line.to_lowercase();
    l.starts_with("reklamebeskyt")
        || l.starts_with("reklame-beskyt")
        || l == "se kort"
        || l == "vis kort"
        || l.strip_prefix("cvr")
            .is_some_and(|r| r.is_empty() || r.starts_with(|c: char| !c.is_alphabetic()))
}

/// The address element's text lines (see [`element_lines`]), without the
/// labels and links 118.dk prints beside an address.
fn address_lines(el: ElementRef<'_>) -> Vec<String> {
    let mut lines = element_lines(el);
    lines.retain(|l| !is_marker_line(l));
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sites::testing::{L, Want, assert_page};
    use proptest::prelude::*;

    fn adapter() -> Dk118 {
        Dk118::new(None).expect("default selector")
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/118/", $name, ".html"))
        };
    }

    fn check(body: &str, want: Want<'_>) {
        let got = adapter().parse(body);
        assert_page(&got, want);
    }

    #[test]
    fn one_hit() {
        check(
            fixture!("one_hit"),
            Want::Hits(
                vec![L(
                    Some("Mette Lykke Kjærgaard"),
                    vec!["13 57 24 68"],
                    Some("Ågade 14B, 2. th, 8000 Aarhus C"),
                )],
                false,
            ),
        );
        let Ok(Page::Hits { listings, .. }) = adapter().parse(fixture!("one_hit")) else {
            panic!("hits expected");
        };
        let a = listings[0].address.clone().expect("address");
        assert_eq!(a.street.as_deref(), Some("Ågade"));
        assert_eq!(a.house_number.as_deref(), Some("14B"));
        assert_eq!(a.floor.as_deref(), Some("2"));
        assert_eq!(a.door.as_deref(), Some("th"));
        assert_eq!(a.postcode.as_deref(), Some("8000"));
        assert_eq!(a.city.as_deref(), Some("Aarhus C"));
    }

    #[test]
    fn several_hits() {
        check(
            fixture!("several_hits"),
            Want::Hits(
                vec![
                    L(
                        Some("Jens Peter Hansen"),
                        vec!["19 20 30 40"],
                        Some("Strandvejen 123A, st. tv, 2900 Hellerup"),
                    ),
                    L(
                        Some("Karen Hansen"),
                        vec!["19 20 30 41"],
                        Some("Strandvejen 123A, st. tv, 2900 Hellerup"),
                    ),
                    L(
                        Some("Jens Hansen"),
                        vec!["94 00 11 22"],
                        Some("Bredgade 3, 1. mf, 5000 Odense C"),
                    ),
                ],
                false,
            ),
        );
    }

    #[test]
    fn one_person_with_mobile_and_landline() {
        let addr = Some("Søndergade 7, 1. th, 7100 Vejle");
        check(
            fixture!("mobile_landline"),
            Want::Hits(
                vec![
                    L(Some("Birthe Østergaard Nielsen"), vec!["94 12 34 56"], addr),
                    L(Some("Birthe Østergaard Nielsen"), vec!["13 12 34 56"], addr),
                ],
                false,
            ),
        );
    }

    #[test]
    fn entity_encoded_letters_come_out_as_utf8() {
        check(
            fixture!("entities"),
            Want::Hits(
                vec![L(
                    Some("Søren Ærbøl Ståhlkjær"),
                    vec!["95 55 44 33"],
                    Some("Strålerup Allé 5, 4. tv, 2100 København Ø"),
                )],
                false,
            ),
        );
    }

    #[test]
    fn company_with_cvr_and_reklamebeskyttet() {
        check(
            fixture!("company_cvr"),
            Want::Hits(
                vec![
                    L(
                        Some("Kjærgaard & Søn Tømrer ApS"),
                        vec!["13 88 77 66"],
                        Some("Industrivej 42, 8600 Silkeborg"),
                    ),
                    L(
                        Some("Ida Bøgh"),
                        vec!["19 88 77 66"],
                        Some("Torvet 1, 2. 3, 8600 Silkeborg"),
                    ),
                ],
                false,
            ),
        );
        // The CVR number is not a phone, whatever shape it has.
        let Ok(Page::Hits { listings, .. }) = adapter().parse(fixture!("company_cvr")) else {
            panic!("hits expected");
        };
        assert!(
            listings
                .iter()
                .all(|l| l.phones.iter().all(|p| !digits(p).contains("13577531")))
        );
    }

    #[test]
    fn tel_target_that_differs_from_the_text_is_kept_too() {
        check(
            fixture!("tel_mismatch"),
            Want::Hits(
                vec![L(
                    Some("Lone Dam"),
                    vec!["13 24 35 46", "tel:+4513243547", "tel:+4513243546"],
                    Some("Vestergade 2, 6000 Kolding"),
                )],
                false,
            ),
        );
    }

    #[test]
    fn no_results_page() {
        check(fixture!("no_results"), Want::NoHits);
    }

    #[test]
    fn no_results_marker_is_configurable() {
        let a = Dk118::new(Some("section#ingen-hits")).expect("selector");
        let custom = fixture!("no_results").replace(
            r#"<div class="no-results">"#,
            r#"<section id="ingen-hits">"#,
        );
        assert_eq!(a.parse(&custom), Ok(Page::NoHits));
        // The default marker no longer proves anything for that adapter.
        assert!(a.parse(fixture!("no_results")).is_err());
        assert!(Dk118::new(Some("div[")).is_err());
    }

    #[test]
    fn not_understood_pages_are_unparseable() {
        let full = fixture!("one_hit");
        let truncated = &full[..full.find(r#"<div class="result-block""#).unwrap_or(0)];
        for (body, why) in [
            (fixture!("drift_result_card"), reason::NO_BLOCKS_NO_MARKER),
            (fixture!("drift_inner"), reason::NOTHING_READABLE),
            (fixture!("drift_no_phone"), reason::NO_PHONE),
            (fixture!("challenge"), reason::CHALLENGE),
            (fixture!("empty"), reason::EMPTY_BODY),
            ("  \n\t ", reason::EMPTY_BODY),
            (fixture!("error_200"), reason::NO_BLOCKS_NO_MARKER),
            (
                "<html><body><p>Ingen forbindelse</p></body></html>",
                reason::NO_BLOCKS_NO_MARKER,
            ),
            // Truncated mid-page: the blocks never arrived.
            (truncated, reason::NO_BLOCKS_NO_MARKER),
        ] {
            check(body, Want::Unparseable(why));
        }
    }

    #[test]
    fn reasons_never_quote_the_page() {
        for body in [
            fixture!("drift_inner"),
            fixture!("drift_no_phone"),
            fixture!("challenge"),
            fixture!("error_200"),
        ] {
            let Err(Unparseable(r)) = adapter().parse(body) else {
                panic!("expected unparseable");
            };
            assert!(!r.chars().any(|c| c.is_ascii_digit()), "{r}");
            assert!(r.len() < 80, "{r}");
        }
    }

    #[test]
    fn full_page_has_more() {
        let Ok(Page::Hits { listings, more }) = adapter().parse(fixture!("full_page")) else {
            panic!("hits expected");
        };
        assert_eq!(listings.len(), 25);
        assert!(more);
        assert!(
            listings
                .iter()
                .all(|l| l.phones.len() == 1 && l.address.is_some())
        );
        // Without the rel=next link a full page still says "maybe more".
        let no_next = fixture!("full_page").replace(r#"rel="next""#, "");
        assert!(matches!(
            adapter().parse(&no_next),
            Ok(Page::Hits { more: true, .. })
        ));
    }

    #[test]
    fn a_link_to_the_next_page_means_more() {
        // Page 1 of 2, found from the pagination's current marker.
        check(
            fixture!("page_link"),
            Want::Hits(
                vec![
                    L(
                        Some("Ole Krogh"),
                        vec!["19 44 55 66"],
                        Some("Krogvej 9, 3000 Helsingør"),
                    ),
                    L(
                        Some("Ulla Krogh"),
                        vec!["19 44 55 67"],
                        Some("Krogvej 11, 3000 Helsingør"),
                    ),
                ],
                true,
            ),
        );
        // Asked as page 2, the same links point backwards only.
        let a = adapter();
        assert!(matches!(
            a.parse_page(fixture!("page_link"), 1),
            Ok(Page::Hits { more: true, .. })
        ));
        assert!(matches!(
            a.parse_page(fixture!("page_link"), 2),
            Ok(Page::Hits { more: false, .. })
        ));
    }

    #[test]
    fn older_markup_with_address_in_a_link() {
        check(
            fixture!("older_markup"),
            Want::Hits(
                vec![L(
                    Some("Poul Erik Dahl"),
                    vec!["95 12 12 12"],
                    Some("Skovbrynet 33, st. th, 9000 Aalborg"),
                )],
                false,
            ),
        );
    }

    #[test]
    fn marker_lines_are_recognised_without_eating_streets() {
        for l in [
            "Reklamebeskyttet",
            "REKLAMEBESKYTTET",
            "se kort",
            "CVR 13577531",
            "CVR-nr.: 13577531",
            "CVR",
        ] {
            assert!(is_marker_line(l), "{l}");
        }
        for l in ["Reklamevej 3", "Cvrvej 3", "Se Kortvej 1", "8000 Aarhus C"] {
            assert!(!is_marker_line(l), "{l}");
        }
    }

    #[test]
    fn request_paths() {
        let a = adapter();
        let n = Query::Number(E164::parse_dk("+45 13 57 24 68").expect("number"));
        assert_eq!(
            a.request_path(&n, 1),
            "/search/go?what=13572468&pageSize=25&page=1"
        );
        assert_eq!(
            a.request_path(&n, 0),
            "/search/go?what=13572468&pageSize=25&page=1"
        );
        assert_eq!(
            a.request_path(&n, 3),
            "/search/go?what=13572468&pageSize=25&page=3"
        );
        let q = Query::NameAt {
            name: "Søren Ærbøl & Co".into(),
            place: "2100 København Ø".into(),
        };
        assert_eq!(
            a.request_path(&q, 2),
            "/search/go?what=S%C3%B8ren+%C3%86rb%C3%B8l+%26+Co&where=2100+K%C3%B8benhavn+%C3%98&pageSize=25&page=2"
        );
        // Stored: nothing of the number, the name or the place.
        assert_eq!(
            a.stored_path(&n, 3),
            "/search/go?what=••••••••&pageSize=25&page=3"
        );
        assert_eq!(
            a.stored_path(&q, 2),
            "/search/go?what=•••&where=•••&pageSize=25&page=2"
        );
    }

    /// The marker and blocks of the realistic pages (`common::pages`).
    const MARKER: &str = "<div class=\"no-results\">\n<h2>Ingen resultater</h2>";

    #[test]
    fn realistic_pages_read_like_the_small_ones() {
        let a = adapter();
        check(fixture!("realistic_no_results"), Want::NoHits);
        let mette = Some("Ågade 14B, 2. th, 8000 Aarhus C");
        check(
            fixture!("realistic_hits"),
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
        // The same listing as on the 2 KB page, parts included.
        let first = |body: &str| match a.parse_page(body, 1) {
            Ok(Page::Hits { listings, .. }) => listings.into_iter().next(),
            other => panic!("hits expected, got {other:?}"),
        };
        assert_eq!(
            first(fixture!("realistic_hits")),
            first(fixture!("one_hit"))
        );
        assert_eq!(
            a.parse_page(fixture!("realistic_no_results"), 1),
            a.parse_page(fixture!("no_results"), 1)
        );
    }

    /// The chrome of the realistic pages names the marker and the result
    /// blocks in scripts, a template, `noscript` and a comment. None of
    /// those is markup: without the real marker the page stays unreadable.
    #[test]
    fn markers_in_scripts_comments_and_attributes_do_not_count() {
        let page = fixture!("realistic_no_results");
        assert!(page.contains(MARKER));
        let unmarked = page.replace(
            MARKER,
            "<div class=\"empty-state\">\n<h2>Ingen resultater</h2>",
        );
        for needle in ["<div class=\"no-results\">", "<div class=\"result-block\""] {
            assert!(unmarked.contains(needle), "the chrome mentions {needle}");
        }
        check(&unmarked, Want::Unparseable(reason::NO_BLOCKS_NO_MARKER));
        // The results container gone altogether.
        let start = page.find("<div class=\"search-result\">").unwrap_or(0);
        let end = page.find("<aside class=\"ads\">").unwrap_or(0);
        let gone = format!("{}{}", &page[..start], &page[end..]);
        check(&gone, Want::Unparseable(reason::NO_BLOCKS_NO_MARKER));
        // The marker only as text of elements that hold raw text, or inside
        // an attribute value or a comment.
        for wrapped in [
            "<textarea name=\"t\"><div class=\"no-results\">x</div></textarea>",
            "<title><div class=\"no-results\">x</div></title>",
            "<noscript><div class=\"no-results\">x</div></noscript>",
            "<style>/* <div class=\"no-results\"> */</style>",
            "<script>var x = '</div><div class=\"no-results\">';</script>",
            "<xmp><div class=\"no-results\">x</div></xmp>",
            "<iframe><div class=\"no-results\">x</div></iframe>",
            "<a title='<div class=\"no-results\">x</div>' href=\"/\">x</a>",
            "<a data-x=<div class=no-results>x</a>",
            "<!-- <div class=\"no-results\">x</div> -->",
            "<!--> <div class=\"no-results\" hidden>x</div> -->",
            "<div data-class=\"no-results\">x</div>",
            "<div class=\"no-results-banner\">x</div>",
            "<div class=\"No-Results\">x</div>",
        ] {
            let body = unmarked.replace("<div class=\"empty-state\">", &format!("{wrapped}<div>"));
            let got = adapter().parse_page(&body, 1);
            // `<!-->` closes at once, so the marker after it is real markup.
            if wrapped.starts_with("<!-->") {
                assert_eq!(got, Ok(Page::NoHits), "{wrapped}");
            } else {
                assert_page(&got, Want::Unparseable(reason::NO_BLOCKS_NO_MARKER));
            }
        }
        // Cut before the results arrived.
        let hits = fixture!("realistic_hits");
        let cut = hits.find("<div class=\"result-block\"").unwrap_or(0);
        check(&hits[..cut], Want::Unparseable(reason::NO_BLOCKS_NO_MARKER));
    }

    #[test]
    fn marker_and_blocks_are_found_whatever_the_attribute_spelling() {
        let page = fixture!("realistic_no_results");
        for marker in [
            "<div id=\"empty\" class=\"no-results\">",
            "<DIV CLASS=\"no-results\">",
            "<div class='big no-results'>",
            "<div class=no-results>",
            "<div\nclass=\"\tno-results\n\">",
            "<div class=\"no&#45;results\">",
            "<div class=\"no&#x2D;results\" class=\"other\">",
        ] {
            let body = page.replace(
                "<div class=\"no-results\">\n<h2>",
                &format!("{marker}\n<h2>"),
            );
            assert_eq!(adapter().parse_page(&body, 1), Ok(Page::NoHits), "{marker}");
        }
        // A second class attribute is ignored (the first one wins).
        let body = page.replace(
            "<div class=\"no-results\">\n<h2>",
            "<div class=\"empty\" class=\"no-results\">\n<h2>",
        );
        check(&body, Want::Unparseable(reason::NO_BLOCKS_NO_MARKER));
        // A result block spelled oddly is still a result block.
        let hits = fixture!("realistic_hits").replace(
            "<div class=\"result-block\" id=\"listing1\"",
            "<DIV data-x='>' CLASS='result-block' id=listing1",
        );
        let Ok(Page::Hits { listings, .. }) = adapter().parse_page(&hits, 1) else {
            panic!("hits expected");
        };
        assert_eq!(listings.len(), 3);
    }

    /// Markup that makes or breaks hits, markers and pagination, or that
    /// the pre-scan must see through (or give up on).
    pub(crate) fn mutation() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("<div class=\"no-results\"><h2>Ingen resultater</h2></div>".to_owned()),
            Just("<div class=\"result-block\" id=\"listing9\"><h3><a href=\"/p\">Ida Bøgh</a></h3><div class=\"description-block\"><address>Torvet 1<br>8600 Silkeborg</address><p><a href=\"tel:+4519887766\">19 88 77 66</a></p></div></div>".to_owned()),
            Just("<div class=result-block><h3>Ole</h3><div class=description-block><a href=tel:+4519445566>19 44 55 66</a></div></div>".to_owned()),
            Just("<a rel=\"next\" href=\"?page=2\">2</a>".to_owned()),
            Just("<a href=\"/search/go?what=1&amp;page=2\">2</a>".to_owned()),
            Just("<a href=\"/search/go?what=1&amp;p%61ge=2\">2</a>".to_owned()),
            Just("<link rel=NEXT href=x>".to_owned()),
            Just("<div class=\"no-results\">".to_owned()),
            Just("<div class=\"result-block\">".to_owned()),
            Just("</div>".to_owned()),
            Just("<p>".to_owned()),
            Just("</p>".to_owned()),
            Just("<h3>".to_owned()),
            Just("<b>".to_owned()),
            Just("<a href=x>".to_owned()),
            Just("<li>".to_owned()),
            Just("<table>".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("<!-->".to_owned()),
            Just("<script>".to_owned()),
            Just("</script>".to_owned()),
            Just("<textarea>".to_owned()),
            Just("<noscript>".to_owned()),
            Just("<template>".to_owned()),
            Just("<svg><path d=M0 /></svg>".to_owned()),
            Just("<svg>".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("<".to_owned()),
            Just(">".to_owned()),
            Just("&amp;".to_owned()),
            "[a-zæøå 0-9]{0,6}",
        ]
    }

    /// `body` with `inserts` placed at character positions (taken modulo
    /// the length, so any number is a position).
    pub(crate) fn mutate(body: &str, inserts: &[(usize, String)]) -> String {
        let mut out = body.to_owned();
        for (at, piece) in inserts {
            let n = out.chars().count() + 1;
            let at = out
                .char_indices()
                .map(|(i, _)| i)
                .nth(at % n)
                .unwrap_or(out.len());
            out.insert_str(at, piece);
        }
        out
    }

    /// The pre-scan answers the fixture pages, and answers them as the
    /// full parse does.
    #[test]
    fn the_pre_scan_reads_the_fixtures_like_the_tree() {
        let a = adapter();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/118");
        let mut seen = 0;
        for f in std::fs::read_dir(dir).expect("fixtures") {
            let path = f.expect("entry").path();
            let body = std::fs::read_to_string(&path).expect("fixture");
            if body.trim().is_empty() || super::super::looks_like_challenge(&body) {
                continue;
            }
            for page in [1, 2] {
                let fast = a.scanned(&body, page);
                assert!(fast.is_some(), "{path:?}: the pre-scan gave up");
                assert_eq!(fast, Some(a.full(&body, Some(page))), "{path:?}");
            }
            seen += 1;
        }
        assert!(seen >= 15, "{seen}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in any::<String>()) {
            let _ = adapter().parse(&body);
        }

        /// Wherever the pre-scan answers, it answers what the full parse
        /// answers, on realistic and small pages with markup inserted.
        #[test]
        fn the_pre_scan_agrees_with_the_tree(
            which in 0usize..4,
            inserts in proptest::collection::vec((any::<usize>(), mutation()), 1..4),
            page in 1u32..3,
        ) {
            let src = [
                fixture!("realistic_no_results"),
                fixture!("realistic_hits"),
                fixture!("several_hits"),
                fixture!("page_link"),
            ][which];
            let body = mutate(src, &inserts);
            let a = adapter();
            if let Some(fast) = a.scanned(&body, page) {
                prop_assert_eq!(fast, a.full(&body, Some(page)));
            }
        }

        #[test]
        fn parse_never_panics_on_mangled_fixtures(cut in 0usize..4000, junk in ".{0,40}") {
            let src = fixture!("several_hits");
            let cut = src.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(src.len());
            let body = format!("{}{junk}{}", &src[..cut], &src[cut..]);
            let _ = adapter().parse(&body);
        }

        #[test]
        fn parse_never_panics_on_tag_soup(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("<div class=\"result-block\">".to_owned()),
                    Just("<div class=\"description-block\">".to_owned()),
                    Just("<address>".to_owned()),
                    Just("<br>".to_owned()),
                    Just("</div>".to_owned()),
                    Just("<h3><a href=\"/x\">".to_owned()),
                    Just("<a href=\"tel:+45".to_owned()),
                    Just("\">".to_owned()),
                    Just("</a>".to_owned()),
                    Just("<div class=\"no-results\">".to_owned()),
                    "[0-9 ,.A-Za-zæøå]{0,12}",
                ],
                0..40,
            )
        ) {
            let body = parts.concat();
            match adapter().parse(&body) {
                Ok(Page::Hits { listings, .. }) => prop_assert!(!listings.is_empty()),
                // A conclusive empty page needs the marker, always.
                Ok(Page::NoHits) => prop_assert!(body.contains("no-results")),
                Err(_) => {}
            }
        }
    }
}
