//! Kept pages are stored gzip-compressed; decompression is bounded.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Kept bodies never exceed the fetch cap, but a decompression is bounded
/// anyway (a corrupted or planted blob must not exhaust memory).
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

pub(super) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        Compression::default(),
    );
    enc.write_all(body)?;
    enc.finish()
}

pub(super) fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(gz)
        .take(MAX_INFLATED)
        .read_to_end(&mut out)?;
    Ok(out)
}
