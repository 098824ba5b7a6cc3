//! Parse + match per adapter, on the realistic fixture pages (50–300 KB of
//! site chrome, `tests/fixtures/*/realistic_*`) and on the small ones for
//! comparison: what one probe costs in CPU once the body has arrived.
//!
//! `cargo bench --bench parse` prints the figures; they are not a CI gate.
//! One iteration is one probe's parse (`Adapter::parse`, the path the
//! engine takes for page 1) plus, for a hit page, the matcher's verdict.

use unlistd::domain::matcher::assess;
use unlistd::domain::{Address, E164, Entry};
use unlistd::sites::declarative::{Declarative, DeclarativeSpec};
use unlistd::sites::dk118::Dk118;
use unlistd::sites::eniro::Eniro;
use unlistd::sites::{Adapter, Page};

fn main() {
    divan::main();
}

macro_rules! page {
    ($path:literal) => {
        include_str!(concat!("../tests/fixtures/", $path))
    };
}

/// The protected entry every probe is matched against: the number the hit
/// pages show, with its address hidden too (so the address matcher runs).
fn entry() -> Entry {
    Entry {
        entry_ref: "bench".into(),
        phone: E164::parse_dk("13 57 24 68").expect("number"),
        name: Some("Mette Lykke Kjærgaard".into()),
        address: Some(Address {
            street: Some("Ågade".into()),
            house_number: Some("14B".into()),
            floor: Some("2".into()),
            door: Some("th".into()),
            postcode: Some("8000".into()),
            city: Some("Aarhus C".into()),
        }),
        hide_number: true,
        hide_address: true,
        cohort: None,
    }
}

fn hitta() -> Adapter {
    let s = |v: &str| Some(v.to_owned());
    let spec = DeclarativeSpec {
        search: "/sok?vad={number_national}&sida={page}".into(),
        item: r#"[data-test="person-item"]"#.into(),
        name: s(r#"[data-test="search-result-title"]"#),
        phone: s(r#"[data-test="phone-link"]"#),
        address: s("address"),
        no_results: s(r#"[data-test="no-hits"]"#),
        next_page: s(r#"[data-test="next"]"#),
        ..DeclarativeSpec::default()
    };
    Adapter::Declarative(Declarative::new(&spec).expect("spec"))
}

/// One probe: parse page 1 and, on hits, decide what they expose. Panics
/// when the page does not read as `want_hits` says, so a bench never
/// measures a parser that gave up early.
fn probe(adapter: &Adapter, body: &str, entry: &Entry, want_hits: bool) -> usize {
    match adapter.parse(body, 1) {
        Ok(Page::Hits { listings, .. }) if want_hits => {
            let outcome = assess(entry, &listings);
            divan::black_box(outcome);
            listings.len()
        }
        Ok(Page::NoHits) if !want_hits => 0,
        other => panic!("unexpected page: {other:?}"),
    }
}

const DK118: &[(&str, &str, bool)] = &[
    ("small_no_results", page!("118/no_results.html"), false),
    ("small_one_hit", page!("118/one_hit.html"), true),
    (
        "realistic_no_results",
        page!("118/realistic_no_results.html"),
        false,
    ),
    ("realistic_hits", page!("118/realistic_hits.html"), true),
];

const ENIRO: &[(&str, &str, bool)] = &[
    ("small_no_hits", page!("eniro/no_hits.html"), false),
    ("small_hits", page!("eniro/hits.html"), true),
    (
        "realistic_no_hits",
        page!("eniro/realistic_no_hits.html"),
        false,
    ),
    ("realistic_hits", page!("eniro/realistic_hits.html"), true),
];

const HITTA: &[(&str, &str, bool)] = &[
    (
        "small_no_hits",
        page!("declarative/hitta_no_hits.html"),
        false,
    ),
    ("small_hits", page!("declarative/hitta_hits.html"), true),
    (
        "realistic_no_hits",
        page!("declarative/realistic_hitta_no_hits.html"),
        false,
    ),
    (
        "realistic_hits",
        page!("declarative/realistic_hitta_hits.html"),
        true,
    ),
];

fn run(bencher: divan::Bencher<'_, '_>, adapter: Adapter, case: &(&str, &str, bool)) {
    let e = entry();
    let (_, body, hits) = *case;
    bencher
        .counter(divan::counter::BytesCount::of_str(body))
        .bench(|| probe(&adapter, divan::black_box(body), &e, hits));
}

#[divan::bench(args = DK118.iter().map(|c| c.0))]
fn dk118(bencher: divan::Bencher<'_, '_>, name: &str) {
    let case = DK118.iter().find(|c| c.0 == name).expect("case");
    run(
        bencher,
        Adapter::Dk118(Dk118::new(None).expect("adapter")),
        case,
    );
}

#[divan::bench(args = ENIRO.iter().map(|c| c.0))]
fn eniro(bencher: divan::Bencher<'_, '_>, name: &str) {
    let case = ENIRO.iter().find(|c| c.0 == name).expect("case");
    run(
        bencher,
        Adapter::Eniro(Eniro::new("da").expect("adapter")),
        case,
    );
}

#[divan::bench(args = HITTA.iter().map(|c| c.0))]
fn declarative_hitta(bencher: divan::Bencher<'_, '_>, name: &str) {
    let case = HITTA.iter().find(|c| c.0 == name).expect("case");
    run(bencher, hitta(), case);
}
