//! 118.dk (TDC/Nuuday), `sites.md` §1 and §9.
//!
//! Server-rendered HTML. Each hit is a `div.result-block` (ids `listing0…`)
//! with the name in `h3 a` and address and phone links in
//! `div.description-block`. The selectors were read from third-party
//! scrapers, not the live site, so the parser is strict: anything it does
//! not recognise is [`Unparseable`] (inconclusive), never an empty result.

use scraper::{ElementRef, Html, Selector};

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
        let fail = |r: &str| Err(Unparseable(r.to_owned()));
        if body.trim().is_empty() {
            return fail(reason::EMPTY_BODY);
        }
        if super::looks_like_challenge(body) {
            return fail(reason::CHALLENGE);
        }
        let doc = Html::parse_document(body);
        let blocks: Vec<ElementRef<'_>> = doc.select(&self.sel.block).collect();
        if blocks.is_empty() {
            return if doc.select(&self.no_results).next().is_some() {
                Ok(Page::NoHits)
            } else {
                fail(reason::NO_BLOCKS_NO_MARKER)
            };
        }
        let mut listings = Vec::with_capacity(blocks.len());
        for block in &blocks {
            listings.push(
                self.listing(*block)
                    .map_err(|r| Unparseable(r.to_owned()))?,
            );
        }
        let page = page.unwrap_or_else(|| self.current_page(&doc));
        let more = blocks.len() >= PAGE_SIZE as usize || self.links_onward(&doc, page);
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
        doc.select(&self.sel.href).any(|a| {
            let href = a.attr("href").unwrap_or("");
            let Some((_, query)) = href.split_once('?') else {
                return false;
            };
            let query = query.split('#').next().unwrap_or("");
            url::form_urlencoded::parse(query.as_bytes())
                .any(|(k, v)| k == "page" && v.trim().parse::<u32>().ok() == Some(want))
        })
    }
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
mod tests {
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

    proptest! {
        #[test]
        fn parse_never_panics(body in any::<String>()) {
            let _ = adapter().parse(&body);
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
