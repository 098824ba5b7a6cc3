//! The roster CSV reader on arbitrary bytes: it either rejects the header
//! or yields one row per record (valid or with problems), never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = unlistd::roster::reader(data, "fuzz.csv") {
        for row in rows {
            let _ = format!("{row:?}");
        }
    }
});
