//! Listing × entry → outcome.
//!
//! The contract's test for "exposed": the page shows the protected number,
//! or the protected address together with this subscriber (by name or
//! number). An address alone is not enough: neighbours and family members
//! share it legitimately. Fetch and parse failures never reach this module;
//! the caller turns them into `inconclusive`.

use unicode_normalization::UnicodeNormalization;

use super::address::{AddressKey, fold, loose};
use super::{E164, Entry, ExposedField, Listing, Outcome};

/// The order in which `why` lists matched parts, so the same page always
/// gives the same explanation.
const WHY_ORDER: &[&str] = &[
    "number",
    "name",
    "street",
    "house_number",
    "floor",
    "door",
    "postcode",
    "city",
];

/// Whether the listing shows `number` in any of its phone strings, read
/// with [`E164::numbers_in`] (labels, notes, several numbers per field).
/// Text that holds no Danish number is skipped: it cannot be ours.
fn carries(listing: &Listing, number: &E164) -> bool {
    listing
        .phones
        .iter()
        .any(|p| E164::numbers_in(p).contains(number))
}

/// A listing as one canonical string: what its fingerprint is taken of.
/// Numbers are read as E.164 (however the site formats them), text is
/// lower-cased with spacing collapsed.
pub fn listing_canonical(l: &Listing) -> String {
    let norm = |s: &str| {
        s.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut numbers: Vec<String> = l
        .phones
        .iter()
        .flat_map(|p| {
            let found = E164::numbers_in(p);
            if found.is_empty() {
                vec![norm(p)]
            } else {
                found.iter().map(|n| n.as_str().to_string()).collect()
            }
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    let address = l
        .address
        .as_ref()
        .map(|a| norm(&a.text))
        .unwrap_or_default();
    format!(
        "{}\u{1f}{}\u{1f}{}",
        l.name.as_deref().map(norm).unwrap_or_default(),
        numbers.join(","),
        address
    )
}

/// Whether any listing shows `number` (the `check` command's question).
pub fn number_shown(number: &E164, listings: &[Listing]) -> bool {
    listings.iter().any(|l| carries(l, number))
}

/// Decides what `listings` expose of `entry`. Returns `Clean` or `Exposed`,
/// never `Inconclusive`.
pub fn assess(entry: &Entry, listings: &[Listing]) -> Outcome {
    let mut fields: Vec<ExposedField> = Vec::new();
    let mut why: Vec<&'static str> = Vec::new();
    let protected_address = entry
        .address
        .as_ref()
        .filter(|a| entry.hide_address && !a.is_empty())
        .map(AddressKey::from_entry);

    for listing in listings {
        let has_number = carries(listing, &entry.phone);
        if entry.hide_number && has_number {
            fields.push(ExposedField::Number);
            why.push("number");
        }
        let (Some(protected), Some(shown)) = (&protected_address, &listing.address) else {
            continue;
        };
        let m = protected.compare(&AddressKey::from_listed(shown));
        if !m.is_same_address() {
            continue;
        }
        let has_name = match (&entry.name, &listing.name) {
            (Some(ours), Some(theirs)) => name_matches(ours, theirs),
            _ => false,
        };
        if has_number || has_name {
            fields.push(ExposedField::Address);
            if has_number {
                why.push("number");
            }
            if has_name {
                why.push("name");
            }
            why.extend(m.matched_parts());
        }
    }

    if fields.is_empty() {
        return Outcome::Clean;
    }
    fields.sort();
    fields.dedup();
    let why = WHY_ORDER
        .iter()
        .filter(|w| why.contains(w))
        .map(|w| (*w).to_owned())
        .collect();
    Outcome::Exposed { fields, why }
}

/// One word of a name: its loose folded form, and whether it was written
/// as an initial (one letter, usually with a period: `B.`, `Ø.`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct NameWord {
    key: String,
    initial: bool,
}

/// Words of a name. Initials are told apart before folding, because a
/// Danish initial folds to two letters (`Ø.` → `oe`, `Å.` → `aa`). Keys are
/// [`loose`], so `Søren`, `Soeren` and `Soren` are one word.
fn name_words(s: &str) -> Vec<NameWord> {
    // "O'Neill" is one word, not an initial and a word. (Dropped before
    // NFKC, which would turn `´` into a space and an accent.)
    let composed: String = s
        .chars()
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{b4}'))
        .nfkc()
        .collect();
    let mut out = Vec::new();
    for raw in composed.split(|c: char| !c.is_alphanumeric()) {
        let initial = raw.chars().count() == 1 && raw.chars().all(char::is_alphabetic);
        for w in fold(raw).split(' ').filter(|w| !w.is_empty()) {
            out.push(NameWord {
                key: loose(w),
                initial,
            });
        }
    }
    out
}

/// Whether `listed` names the subscriber called `protected`.
///
/// Deliberately conservative, because it decides between "the subscriber's
/// address is public" and "someone else lives there": the protected first
/// given name and every part of the last surname (hyphenated surnames
/// split) must appear in the listing, in any order. A listed initial stands
/// for the given name only when every other given name the listing shows
/// is one of ours, so "K. Hansen" or "Karen J. Hansen" is not "Jens Hansen".
/// Spellings agree through [`fold`] and [`loose`]: case, `ø`/`oe`/`o`,
/// `å`/`aa`/`a`, `æ`/`ae`, accents and hyphens do not matter.
pub fn name_matches(protected: &str, listed: &str) -> bool {
    // "Hansen, Jens" is surname first.
    let (given_src, surname_src) = match protected.split_once(',') {
        Some((surname, given)) => (
            given.split_whitespace().next().unwrap_or(""),
            surname.split_whitespace().last().unwrap_or(""),
        ),
        None => {
            let mut ws = protected.split_whitespace();
            let first = ws.next().unwrap_or("");
            (first, ws.last().unwrap_or(first))
        }
    };
    let given = name_words(given_src);
    let surname = name_words(surname_src);
    let ours = name_words(protected);
    let theirs = name_words(listed);
    if surname.is_empty() || theirs.is_empty() {
        return false;
    }
    let spelled = |key: &str| theirs.iter().any(|w| !w.initial && w.key == key);
    if !surname.iter().all(|s| !s.initial && spelled(&s.key)) {
        return false;
    }
    let other_given: Vec<&NameWord> = theirs
        .iter()
        .filter(|w| w.initial || !surname.iter().any(|s| s.key == w.key))
        .collect();
    let only_our_given_names = other_given.iter().all(|w| {
        w.initial
            || ours
                .iter()
                .any(|o| (!o.initial && o.key == w.key) || (o.initial && w.key.starts_with(&o.key)))
    });
    given.iter().all(|g| {
        if !g.initial && spelled(&g.key) {
            return true;
        }
        if g.initial {
            // The roster itself only knows an initial.
            return other_given.iter().any(|w| w.key.starts_with(&g.key));
        }
        only_our_given_names
            && other_given
                .iter()
                .any(|w| w.initial && g.key.starts_with(&w.key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Address, ListedAddress};
    use proptest::prelude::*;

    fn entry(
        phone: &str,
        name: &str,
        address: Option<Address>,
        hide_number: bool,
        hide_address: bool,
    ) -> Entry {
        Entry {
            entry_ref: "R-1".into(),
            phone: E164::parse_dk(phone).expect("test number"),
            name: (!name.is_empty()).then(|| name.to_owned()),
            address,
            hide_number,
            hide_address,
            cohort: None,
        }
    }

    fn aagade() -> Address {
        Address {
            street: Some("Ågade".into()),
            house_number: Some("14B".into()),
            floor: Some("2".into()),
            door: Some("th".into()),
            postcode: Some("8000".into()),
            city: Some("Aarhus C".into()),
        }
    }

    fn listing(name: &str, phones: &[&str], address: &str) -> Listing {
        Listing {
            name: (!name.is_empty()).then(|| name.to_owned()),
            phones: phones.iter().map(|p| (*p).to_owned()).collect(),
            address: (!address.is_empty()).then(|| ListedAddress {
                text: address.to_owned(),
                ..ListedAddress::default()
            }),
        }
    }

    /// `expected`: `None` for clean, else the exposed fields.
    fn check(e: &Entry, listings: &[Listing], expected: Option<&[ExposedField]>) {
        let got = assess(e, listings);
        match (expected, &got) {
            (None, Outcome::Clean) => {}
            (Some(want), Outcome::Exposed { fields, why }) => {
                assert_eq!(fields.as_slice(), want, "why: {why:?}");
                assert!(!why.is_empty());
            }
            _ => panic!("expected {expected:?}, got {got:?}"),
        }
    }

    use ExposedField::{Address as A, Number as N};

    #[test]
    fn number_exposure_in_every_printed_form() {
        let e = entry("94 12 34 56", "Jens Hansen", None, true, false);
        for shown in [
            "94 12 34 56",
            "94123456",
            "+45 94 12 34 56",
            "+4594123456",
            "0045 9412 3456",
            "tel:+4594123456",
        ] {
            check(&e, &[listing("Someone Else", &[shown], "")], Some(&[N]));
        }
        // Off by one digit, too short, or not a number: clean.
        check(
            &e,
            &[listing(
                "",
                &["94 12 34 57", "9412345", "CVR 94123456x", ""],
                "",
            )],
            None,
        );
        // Allowed to be listed when only the address is protected.
        let e2 = entry("94 12 34 56", "Jens Hansen", Some(aagade()), false, true);
        check(
            &e2,
            &[listing(
                "Jens Hansen",
                &["94 12 34 56"],
                "Bredgade 1, 8000 Aarhus C",
            )],
            None,
        );
        assert!(number_shown(
            &e.phone,
            &[listing("", &["+45 94 12 34 56"], "")]
        ));
        assert!(!number_shown(
            &e.phone,
            &[listing("", &["94 12 34 65"], "")]
        ));
        assert!(!number_shown(&e.phone, &[]));
    }

    #[test]
    fn address_exposure_in_several_spellings() {
        let e = entry(
            "94 12 34 56",
            "Jens Peter Hansen",
            Some(aagade()),
            false,
            true,
        );
        for (name, addr) in [
            ("Jens Peter Hansen", "Ågade 14B, 2. th, 8000 Aarhus C"),
            ("Jens Hansen", "Aagade 14B, 2.th, 8000 Århus C"),
            ("HANSEN JENS", "ÅGADE 14 B 2 TH 8000 AARHUS C"),
            ("J. Hansen", "Ågade 14B, 8000 Aarhus C"),
            ("J. P. Hansen", "Ågade 14b, 2. th., 8000 Aarhus C"),
            ("Jens P. Hansen", "Ågade 14B, 2. th, 8000 Aarhus C"),
        ] {
            check(&e, &[listing(name, &["13 00 00 01"], addr)], Some(&[A]));
        }
        // Our number at our address exposes the address even under another name.
        check(
            &e,
            &[listing(
                "Firma ApS",
                &["9412 3456"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            )],
            Some(&[A]),
        );
        // Abbreviated street.
        let mut nb = aagade();
        nb.street = Some("Nørrebrogade".into());
        let e_nb = entry("94 12 34 56", "Jens Hansen", Some(nb), false, true);
        check(
            &e_nb,
            &[listing(
                "Jens Hansen",
                &[],
                "Nørrebrog. 14B, 2 TH, 8000 Aarhus C",
            )],
            Some(&[A]),
        );
        check(
            &e_nb,
            &[listing(
                "Jens Hansen",
                &[],
                "Noerrebrogade 14 B, 2. th, 8000 Aarhus C",
            )],
            Some(&[A]),
        );
    }

    #[test]
    fn look_alikes_do_not_match() {
        let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), true, true);
        let other = &["13 00 00 01"];
        for (name, phones, addr) in [
            ("Jens Hansen", other, "Bredgade 3, 8000 Aarhus C"), // same name, other address
            ("Jens Hansen", other, "Ågade 16B, 2. th, 8000 Aarhus C"), // other house number
            ("Jens Hansen", other, "Ågade 14B, 3. th, 8000 Aarhus C"), // other floor
            ("Jens Hansen", other, "Ågade 14B, 2. tv, 8000 Aarhus C"), // other door
            ("Jens Hansen", other, "Ågade 14B, 2. th, 8200 Aarhus N"), // other postcode
            ("Karen Hansen", other, "Ågade 14B, 2. th, 8000 Aarhus C"), // family member
            ("Karen J. Hansen", other, "Ågade 14B, 2. th, 8000 Aarhus C"),
            ("K. Hansen", other, "Ågade 14B, 2. th, 8000 Aarhus C"),
            ("Jens Jensen", other, "Ågade 14B, 2. th, 8000 Aarhus C"), // other surname
            ("", other, "Ågade 14B, 2. th, 8000 Aarhus C"),            // no name shown
            ("Jens Hansen", &["94 12 34 57"], "Bredgade 3"),           // off by one digit
        ] {
            check(&e, &[listing(name, phones, addr)], None);
        }
    }

    #[test]
    fn both_fields_are_deduplicated_and_ordered() {
        let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), true, true);
        let page = [
            listing(
                "Jens Hansen",
                &["13 00 00 01"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            ),
            listing(
                "Jens Hansen",
                &["94 12 34 56"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            ),
            listing("", &["+4594123456"], ""),
        ];
        match assess(&e, &page) {
            Outcome::Exposed { fields, why } => {
                assert_eq!(fields, [N, A]);
                assert_eq!(
                    why,
                    [
                        "number",
                        "name",
                        "street",
                        "house_number",
                        "floor",
                        "door",
                        "postcode",
                        "city"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn why_never_carries_values() {
        let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), true, true);
        let got = assess(
            &e,
            &[listing(
                "Jens Hansen",
                &["94 12 34 56"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            )],
        );
        let Outcome::Exposed { why, .. } = got else {
            panic!("{got:?}")
        };
        for w in &why {
            assert!(WHY_ORDER.contains(&w.as_str()), "{w}");
        }
    }

    #[test]
    fn unprotected_or_empty_address_is_never_an_address_exposure() {
        let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), false, false);
        check(
            &e,
            &[listing(
                "Jens Hansen",
                &["94 12 34 56"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            )],
            None,
        );
        let e2 = entry(
            "94 12 34 56",
            "Jens Hansen",
            Some(Address::default()),
            false,
            true,
        );
        check(
            &e2,
            &[listing(
                "Jens Hansen",
                &["94 12 34 56"],
                "Ågade 14B, 2. th, 8000 Aarhus C",
            )],
            None,
        );
        check(&e2, &[], None);
    }

    #[test]
    fn names() {
        for (ours, theirs, want) in [
            ("Jens Hansen", "Jens Hansen", true),
            ("Jens Hansen", "Hansen Jens", true),
            ("Jens Hansen", "Hansen, Jens", true),
            ("Hansen, Jens", "Jens Hansen", true),
            ("Jens Hansen", "J. Hansen", true),
            ("Jens Peter Hansen", "J. Peter Hansen", true),
            ("Søren Ærø", "Soeren Aeroe", true),
            (
                "Anne-Marie Hansen-Nørgaard",
                "Anne Marie Hansen Nørgaard",
                true,
            ),
            ("Jens Hansen-Nørgaard", "Jens Hansen-Nørgaard", true),
            ("J. Hansen", "Jens Hansen", true),
            ("Jens Hansen-Nørgaard", "Jens Nørgaard", false),
            ("Jens Hansen", "Karen Hansen", false),
            ("Jens Hansen", "Karen J. Hansen", false),
            ("Jens Hansen", "K. Hansen", false),
            ("Jens Hansen", "Jens Jensen", false),
            ("Jens Hansen", "Hansen", false),
            ("Jens Hansen", "", false),
            ("", "Jens Hansen", false),
        ] {
            assert_eq!(name_matches(ours, theirs), want, "{ours:?} vs {theirs:?}");
        }
    }

    /// Regressions found with the labelled corpus (`tests/matching.rs`).
    #[test]
    fn names_danish_initials_stripped_letters_and_apostrophes() {
        for (ours, theirs, want) in [
            // A Danish initial folds to two letters and is still an initial.
            ("Birthe Østergaard Lund", "B. Ø. Lund", true),
            ("Åse Møller", "Å. Møller", true),
            ("Ida Ærbøl Friis", "I. Æ. Friis", true),
            ("Torben Ø. Mikkelsen", "T. Østergård Mikkelsen", true),
            ("Åse Møller", "Åge Møller", false),
            ("Åse Møller", "Ole Møller", false),
            // Letters stripped rather than transcribed.
            ("Søren Bækgaard", "Soren Baekgard", true),
            ("Åse Møller", "Ase Moller", true),
            ("Karl Aagaard", "Karl Agard", true),
            ("Åse Møller", "Åse Müller", false),
            // Apostrophes join, they do not make initials.
            ("Sean O'Neill", "Sean O'Neill", true),
            ("Sean O'Neill", "Sean O\u{2019}Neill", true),
            ("Sean O'Neill", "Sean ONeill", true),
            ("Sean O'Neill", "S. O'Neill", true),
            ("Sean O'Neill", "Sinéad O'Neill", false),
            ("Sean O'Neill", "Sean O'Neal", false),
            // Glued initials and couple listings.
            ("Hans Christian Dalgaard", "H.C. Dalgaard", true),
            ("Birthe Lund", "Birthe og Poul Lund", true),
            ("Birthe Lund", "Poul og Karen Lund", false),
        ] {
            assert_eq!(name_matches(ours, theirs), want, "{ours:?} vs {theirs:?}");
        }
    }

    #[test]
    fn labelled_and_shared_phone_fields_expose_the_number() {
        let e = entry("94 12 34 56", "Jens Hansen", None, true, false);
        for shown in [
            "Tlf. 94 12 34 56",
            "Mobil: +45 94 12 34 56",
            "94 12 34 56 (privat)",
            "13 00 00 01 / 94 12 34 56",
        ] {
            check(&e, &[listing("", &[shown], "")], Some(&[N]));
        }
        check(&e, &[listing("", &["CVR 94123456"], "")], None);
    }

    #[test]
    fn dotted_doors_and_stripped_street_letters() {
        let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), false, true);
        let me = |addr: &str| [listing("Jens Hansen", &["13 00 00 01"], addr)];
        check(&e, &me("Ågade 14B, 2. t.h., 8000 Aarhus C"), Some(&[A]));
        check(&e, &me("Agade 14B, 2. th, 8000 Arhus C"), Some(&[A]));
        check(&e, &me("Ågade 14-B, 2. th, DK-8000 Aarhus C"), Some(&[A]));
        check(&e, &me("Ågade 14B, 2. th, Aarhus C"), Some(&[A]));
        check(&e, &me("Ågade 14B, 2. t.v., 8000 Aarhus C"), None);
        check(&e, &me("Ågade 14B, 2. th, Odense C"), None);
    }

    proptest! {
        #[test]
        fn danish_number_forms_normalise_to_one_e164(n in 10_000_000u32..100_000_000) {
            let d = n.to_string();
            let (a, b, c, e) = (&d[0..2], &d[2..4], &d[4..6], &d[6..8]);
            let want = E164::parse_dk(&d).expect("8 digits");
            for form in [
                format!("{a} {b} {c} {e}"),
                format!("+45{d}"),
                format!("0045 {a}{b} {c}{e}"),
                format!("+45 {a} {b} {c} {e}"),
                format!("tel:+45{d}"),
            ] {
                prop_assert_eq!(E164::parse_dk(&form), Ok(want.clone()), "{}", form);
                prop_assert!(number_shown(&want, &[listing("", &[&form], "")]));
            }
        }

        #[test]
        fn a_name_matches_itself_in_other_spellings(
            given in "[A-ZÆØÅ][a-zæøå]{1,9}",
            middle in proptest::option::of("[A-ZÆØÅ][a-zæøå]{1,9}"),
            surname in "[A-ZÆØÅ][a-zæøå]{1,11}",
        ) {
            let full = match &middle {
                Some(m) => format!("{given} {m} {surname}"),
                None => format!("{given} {surname}"),
            };
            let initial: String = given.chars().take(1).collect();
            for shown in [
                full.clone(),
                full.to_uppercase(),
                format!("{surname}, {given}"),
                format!("{initial}. {surname}"),
                format!("{given} {}", surname.replace('ø', "oe").replace('å', "aa").replace('æ', "ae")),
                format!("{given} {}", surname.replace('ø', "o").replace('å', "a")),
            ] {
                prop_assert!(name_matches(&full, &shown), "{:?} vs {:?}", full, shown);
            }
        }

        #[test]
        fn assess_never_panics(name in any::<String>(), phone in any::<String>(), addr in any::<String>()) {
            let e = entry("94 12 34 56", "Jens Hansen", Some(aagade()), true, true);
            let _ = assess(&e, &[listing(&name, &[&phone], &addr)]);
            let _ = name_matches(&name, &addr);
        }
    }
}
