//! The matcher against a labelled corpus, and past fuzz finds.
//!
//! `tests/fixtures/matching/corpus.csv` holds synthetic listing × entry
//! pairs (spare-series numbers, invented names), each labelled with what a
//! security analyst would say the listing exposes: `number`, `address`,
//! `number+address` or `none`. The labels say what the page shows, not what
//! the code does; a disagreement is a matcher bug or a labelling mistake to
//! be argued in review, never a label to flip quietly.
//!
//! Precision and recall are counted over exposed fields (a pair labelled
//! `number+address` is two positives).

use std::collections::BTreeMap;
use std::path::Path;

use unlistd::domain::matcher::assess;
use unlistd::domain::{Address, E164, Entry, ExposedField, ListedAddress, Listing, Outcome};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/matching/corpus.csv"
);

/// One labelled pair.
struct Case {
    line: u64,
    label: String,
    case: String,
    entry: Entry,
    listing: Listing,
}

fn opt(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

fn flag(s: &str, line: u64) -> bool {
    match s {
        "true" => true,
        "false" => false,
        other => panic!("corpus line {line}: bad flag {other:?}"),
    }
}

fn load() -> Vec<Case> {
    let mut rdr = csv::Reader::from_path(CORPUS).expect("corpus readable");
    let headers = rdr.headers().expect("corpus header").clone();
    let mut cases = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.unwrap_or_else(|e| panic!("corpus line {line}: {e}"));
        let get = |name: &str| -> &str {
            let pos = headers
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("corpus has no column {name}"));
            rec.get(pos).unwrap_or("")
        };
        let address = Address {
            street: opt(get("e_street")),
            house_number: opt(get("e_house_number")),
            floor: opt(get("e_floor")),
            door: opt(get("e_door")),
            postcode: opt(get("e_postcode")),
            city: opt(get("e_city")),
        };
        let entry = Entry {
            entry_ref: format!("corpus-{line}"),
            phone: E164::parse_dk(get("e_phone"))
                .unwrap_or_else(|e| panic!("corpus line {line}: e_phone: {e}")),
            name: opt(get("e_name")),
            address: (!address.is_empty()).then_some(address),
            hide_number: flag(get("hide_number"), line),
            hide_address: flag(get("hide_address"), line),
            cohort: None,
        };
        let text = get("l_address");
        let listed = ListedAddress {
            text: text.to_owned(),
            street: opt(get("l_street")),
            house_number: opt(get("l_house_number")),
            floor: opt(get("l_floor")),
            door: opt(get("l_door")),
            postcode: opt(get("l_postcode")),
            city: opt(get("l_city")),
        };
        let has_address = !text.trim().is_empty() || listed.street.is_some();
        let listing = Listing {
            name: opt(get("l_name")),
            phones: get("l_phones")
                .split('|')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            address: has_address.then_some(listed),
        };
        let label = get("label").to_owned();
        assert!(
            matches!(
                label.as_str(),
                "none" | "number" | "address" | "number+address"
            ),
            "corpus line {line}: bad label {label:?}"
        );
        // Fixtures must never match a real subscriber (sites.md §8).
        let national = entry.phone.national();
        assert!(
            ["13", "19", "94", "95"]
                .iter()
                .any(|s| national.starts_with(s)),
            "corpus line {line}: e_phone outside the spare series"
        );
        cases.push(Case {
            line,
            label,
            case: get("case").to_owned(),
            entry,
            listing,
        });
    }
    cases
}

fn label_of(fields: &[ExposedField]) -> &'static str {
    let n = fields.contains(&ExposedField::Number);
    let a = fields.contains(&ExposedField::Address);
    match (n, a) {
        (true, true) => "number+address",
        (true, false) => "number",
        (false, true) => "address",
        (false, false) => "none",
    }
}

fn fields_of(label: &str) -> Vec<ExposedField> {
    label
        .split('+')
        .filter_map(ExposedField::parse)
        .collect::<Vec<_>>()
}

#[test]
fn corpus_precision_and_recall() {
    let cases = load();
    assert!(cases.len() >= 300, "corpus too small: {}", cases.len());
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    // expected label → got label → count
    let mut confusion: BTreeMap<&str, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut wrong: Vec<String> = Vec::new();
    for c in &cases {
        let got_fields = match assess(&c.entry, std::slice::from_ref(&c.listing)) {
            Outcome::Clean => Vec::new(),
            Outcome::Exposed { fields, why } => {
                assert!(!why.is_empty(), "line {}: exposed without why", c.line);
                fields
            }
            Outcome::Inconclusive { reason } => {
                panic!(
                    "line {}: the matcher never answers inconclusive: {reason}",
                    c.line
                )
            }
        };
        let want = fields_of(&c.label);
        for f in [ExposedField::Number, ExposedField::Address] {
            match (want.contains(&f), got_fields.contains(&f)) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        let got = label_of(&got_fields);
        *confusion
            .entry(c.label.as_str())
            .or_default()
            .entry(got)
            .or_default() += 1;
        if got != c.label {
            wrong.push(format!(
                "  line {}: expected {}, got {}: {}",
                c.line, c.label, got, c.case
            ));
        }
    }
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let recall = if tp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    println!(
        "matching corpus: {} pairs, {} exposed fields labelled",
        cases.len(),
        tp + fn_
    );
    println!("  true positives {tp}, false positives {fp}, false negatives {fn_}");
    println!("  precision {precision:.4}, recall {recall:.4}");
    println!("  confusion (expected → got):");
    for (want, gots) in &confusion {
        let row: Vec<String> = gots.iter().map(|(g, n)| format!("{g}: {n}")).collect();
        println!("    {want:<15} → {}", row.join(", "));
    }
    if wrong.is_empty() {
        println!("  misclassified: none");
    } else {
        println!("  misclassified ({}):", wrong.len());
        for w in &wrong {
            println!("{w}");
        }
    }
    assert_eq!(precision, 1.0, "a look-alike was reported as exposed");
    assert!(recall >= 0.99, "recall {recall:.4} < 0.99");
}

/// Hand-made adversarial inputs, and every input a fuzz target ever
/// crashed or hung on (`fuzz/README.md`), replayed on the stable toolchain
/// with the same checks the fuzz targets make.
#[test]
fn past_fuzz_finds_do_not_panic() {
    use unlistd::domain::address::{self, AddressKey};
    use unlistd::domain::matcher::name_matches;
    use unlistd::sites::dk118::Dk118;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let adapter = Dk118::new(None).expect("default selector");
    let mut seen = 0;
    for target in ["parse_dk118", "phone", "address", "roster_csv"] {
        let dir = root.join(target);
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in files {
            let path = f.expect("readable fixture dir").path();
            let bytes = std::fs::read(&path).expect("readable fuzz input");
            let text = String::from_utf8_lossy(&bytes);
            let what = path.display();
            match target {
                "parse_dk118" => {
                    let _ = adapter.parse(&text);
                    let _ = adapter.parse_page(&text, 2);
                }
                "phone" => {
                    let found = E164::numbers_in(&text);
                    if let Ok(n) = E164::parse_dk(&text) {
                        assert!(found.contains(&n), "{what}");
                    }
                    for n in &found {
                        assert_eq!(E164::parse_dk(n.as_str()).as_ref(), Ok(n), "{what}");
                    }
                }
                "address" => {
                    let st = address::normalize_street(&text);
                    assert_eq!(address::normalize_street(&st), st, "{what}");
                    for norm in [
                        address::normalize_house_number,
                        address::normalize_floor,
                        address::normalize_door,
                        address::normalize_postcode,
                        address::normalize_city,
                    ] {
                        if let Some(once) = norm(&text) {
                            assert_eq!(norm(&once), Some(once.clone()), "{what}");
                        }
                    }
                    let a = address::split_address_text(&text);
                    let key = AddressKey::from_entry(&a);
                    let listed = ListedAddress {
                        text: text.to_string(),
                        ..ListedAddress::default()
                    };
                    let _ = key
                        .compare(&AddressKey::from_listed(&listed))
                        .is_same_address();
                    let _ = name_matches(&text, &text);
                }
                "roster_csv" => {
                    if let Ok(rows) = unlistd::roster::reader(bytes.as_slice(), "fuzz.csv") {
                        for _ in rows {}
                    }
                }
                _ => unreachable!(),
            }
            seen += 1;
        }
    }
    println!("replayed {seen} past fuzz inputs");
    assert!(
        seen > 0,
        "no fuzz regression inputs found under {}",
        root.display()
    );
}
