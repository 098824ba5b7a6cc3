//! The roster CSV reader on arbitrary bytes, in every encoding: it either
//! rejects the header or yields one row per record (valid or with
//! problems), never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unlistd::roster::{Encoding, reader_with};

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::Utf8, Encoding::Windows1252] {
        if let Ok(rows) = reader_with(data, "fuzz.csv", encoding) {
            for row in rows {
                let _ = format!("{row:?}");
            }
        }
    }
});
