//! `E164::parse_dk` and `E164::numbers_in` on arbitrary text: no panic,
//! and every number they return is a well-formed E.164 that parses back to
//! itself (normalisation is idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use unlistd::domain::E164;

fuzz_target!(|s: &str| {
    let parsed = E164::parse_dk(s);
    let found = E164::numbers_in(s);
    if let Ok(n) = &parsed {
        assert!(found.contains(n), "numbers_in misses what parse_dk reads");
    }
    for n in parsed.iter().chain(found.iter()) {
        assert_eq!(n.as_str().len(), 11);
        assert_eq!(E164::parse_dk(n.as_str()).as_ref(), Ok(n));
        assert_eq!(E164::parse_dk(n.national()).as_ref(), Ok(n));
        assert_eq!(E164::from_e164(n.as_str()).as_ref(), Some(n));
        let _ = n.masked();
    }
});
