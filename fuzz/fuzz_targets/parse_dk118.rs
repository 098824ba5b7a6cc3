//! The 118.dk result-page parser on arbitrary bodies: it must answer
//! `Hits`, `NoHits` or `Unparseable`, never panic; and whatever listings it
//! returns, the matcher must digest them without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unlistd::domain::matcher::{assess, number_shown};
use unlistd::domain::{Address, E164, Entry};
use unlistd::sites::Page;
use unlistd::sites::dk118::Dk118;

fn adapter() -> &'static Dk118 {
    static A: OnceLock<Dk118> = OnceLock::new();
    A.get_or_init(|| Dk118::new(None).expect("default selector"))
}

fn entry() -> Entry {
    Entry {
        entry_ref: "fuzz".into(),
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

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let a = adapter();
    for page in [a.parse(&body), a.parse_page(&body, 2)] {
        if let Ok(Page::Hits { listings, .. }) = page {
            let e = entry();
            let _ = assess(&e, &listings);
            let _ = number_shown(&e.phone, &listings);
        }
    }
});
