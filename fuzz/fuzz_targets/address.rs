//! The address normalisers and splitters, and name matching, on arbitrary
//! text: no panic, normalisers idempotent, and an address always matches
//! itself once it has a street, a house number and a place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unlistd::domain::ListedAddress;
use unlistd::domain::address::{
    AddressKey, fold, loose, normalize_city, normalize_door, normalize_floor,
    normalize_house_number, normalize_postcode, normalize_street, split_address_text,
    split_post_line, split_street_line,
};
use unlistd::domain::matcher::name_matches;

fuzz_target!(|s: &str| {
    let f = fold(s);
    assert_eq!(fold(&f), f, "fold not idempotent");
    let l = loose(&f);
    assert_eq!(loose(&l), l, "loose not idempotent");
    let st = normalize_street(s);
    assert_eq!(normalize_street(&st), st, "normalize_street not idempotent");
    for norm in [
        normalize_house_number,
        normalize_floor,
        normalize_door,
        normalize_postcode,
        normalize_city,
    ] {
        if let Some(once) = norm(s) {
            assert_eq!(norm(&once), Some(once.clone()), "normaliser not idempotent");
        }
    }
    let _ = split_street_line(s);
    let _ = split_post_line(s);
    let parts = split_address_text(s);
    let key = AddressKey::from_entry(&parts);
    let listed = AddressKey::from_listed(&ListedAddress {
        text: s.to_owned(),
        ..ListedAddress::default()
    });
    let m = key.compare(&listed);
    let _ = m.is_same_address();
    let _ = m.matched_parts();
    // The same parts compared with themselves never disagree.
    let same = key.compare(&key);
    if key.street.is_some() && key.house_number.is_some() && key.postcode.is_some() {
        assert!(same.is_same_address(), "an address does not match itself");
    }
    // Names: split the input in two at a char boundary.
    let mid = s
        .char_indices()
        .nth(s.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let (a, b) = s.split_at(mid);
    let _ = name_matches(a, b);
    let _ = name_matches(s, s);
});
