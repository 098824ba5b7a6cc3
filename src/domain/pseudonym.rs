//! Keyed pseudonyms for protected values.
//!
//! Danish numbers are only 10^8 candidates, so a plain hash is reversible by
//! enumeration. Logs, metrics and lookups use HMAC-SHA256 under a per-store
//! secret key instead.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::E164;

/// Holds the key; cheap to clone.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer([REDACTED])")
    }
}

impl Pseudonymizer {
    pub fn new(key: &[u8]) -> Self {
        Pseudonymizer { key: key.into() }
    }

    /// Full 64-hex-digit HMAC of the E.164 form (stored, indexed).
    pub fn number(&self, n: &E164) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(n.as_str().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A listing's fingerprint: HMAC of its canonical text (name, numbers,
    /// address; case and spacing folded), so a dismissal can name "this
    /// listing" without storing it, and any change to it is a new listing.
    pub fn listing(&self, l: &super::Listing) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"listing\0");
        mac.update(super::matcher::listing_canonical(l).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Short form for log lines: 16 hex digits are plenty to correlate.
    pub fn number_short(&self, n: &E164) -> String {
        let mut full = self.number(n);
        full.truncate(16);
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_stable() {
        let n = E164::parse_dk("13123456").unwrap();
        let a = Pseudonymizer::new(b"key-a");
        let b = Pseudonymizer::new(b"key-b");
        assert_eq!(a.number(&n), a.number(&n));
        assert_ne!(a.number(&n), b.number(&n));
        assert_eq!(a.number(&n).len(), 64);
        assert!(a.number(&n).starts_with(&a.number_short(&n)));
        assert!(!a.number(&n).contains("13123456"));
    }
}
