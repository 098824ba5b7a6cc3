//! The key that encrypts a SQLite store at rest (`[store]
//! encryption_key_file`, SQLCipher).
//!
//! The file holds the secret as the operator made it (64 hex characters,
//! base64 of 32 random bytes, or 32 raw random bytes). unlistd derives the
//! 256-bit page key from it with SHA-256 under a fixed label and hands
//! SQLCipher that raw key (`x'…'`), so opening a store costs no PBKDF2
//! round: the file already carries the entropy, and a CLI command that
//! opens the store many times a day should not pay a passphrase's
//! stretching each time.

use sha2::{Digest, Sha256};

/// Bits of entropy the key file must carry at least (32 bytes).
pub(crate) const MIN_KEY_BITS: f64 = 256.0;

/// A store encryption key, ready for SQLCipher. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey {
    raw: [u8; 32],
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([REDACTED])")
    }
}

/// Why a key file cannot be a store key; the message never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WeakKey(pub(crate) String);

impl StoreKey {
    /// The key from a key file's contents (one trailing newline already
    /// removed by the caller). Refuses a secret with less than
    /// [`MIN_KEY_BITS`] by a conservative estimate: hex digits count 4 bits
    /// each, the base64 alphabet 6, anything else 8 per byte only when it is
    /// not printable text (typed text counts 4); and the file must not be
    /// one short pattern repeated.
    pub(crate) fn from_secret(secret: &[u8]) -> Result<StoreKey, WeakKey> {
        let bits = estimated_bits(secret);
        if bits < MIN_KEY_BITS {
            return Err(WeakKey(format!(
                "the key must hold at least 32 bytes of entropy (about {bits:.0} bits found); \
                 make one with `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'` \
                 (64 hex characters)"
            )));
        }
        let mut h = Sha256::new();
        h.update(b"unlistd store key v1\n");
        h.update(secret);
        Ok(StoreKey {
            raw: h.finalize().into(),
        })
    }

    /// The value of `PRAGMA key` / `ATTACH … KEY`: SQLCipher's raw-key form.
    pub(crate) fn pragma_value(&self) -> String {
        format!("x'{}'", hex::encode_upper(self.raw))
    }
}

/// A conservative estimate of the entropy in `s`, in bits.
fn estimated_bits(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let per_symbol = if s.iter().all(u8::is_ascii_hexdigit) {
        4.0
    } else if s
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
    {
        6.0
    } else if s.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        // A typed passphrase: far less than its byte count suggests.
        4.0
    } else {
        8.0
    };
    let by_alphabet = per_symbol * s.len() as f64;
    // A repeated pattern ("aaaa…", "abab…") has the alphabet's count but
    // no entropy: cap by the observed symbol spread (Shannon, per symbol,
    // times the length), which a random file of this length reaches.
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    let shannon: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    // The observed spread underestimates short random strings (32 random
    // bytes show ~4.9 of 8 bits per byte): allow for it before capping.
    by_alphabet.min(shannon * n * 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_keys_pass_and_weak_ones_are_refused_without_echo() {
        let hex64: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
            .collect();
        assert!(StoreKey::from_secret(hex64.as_bytes()).is_ok());
        let raw: Vec<u8> = (0..32u32).map(|i| ((i * 97 + 13) % 256) as u8).collect();
        assert!(StoreKey::from_secret(&raw).is_ok());
        let b64 = "q83vEjRWeJq83vEjRWeJq8Zm9vYmFyYmF6cXV4Y29yZ2U=";
        assert!(StoreKey::from_secret(b64.as_bytes()).is_ok());
        for weak in [
            &b""[..],
            b"hunter2",
            &hex64.as_bytes()[..40],
            &[b'a'; 128][..],
            b"abababababababababababababababababababababababababababababababababab",
            b"correct horse battery staple",
        ] {
            let err = StoreKey::from_secret(weak).unwrap_err().to_string();
            assert!(err.contains("32 bytes of entropy"), "{err}");
            if !weak.is_empty() {
                assert!(
                    !err.contains(std::str::from_utf8(weak).unwrap_or("\u{0}")),
                    "{err}"
                );
            }
        }
        // Same secret, same key; another secret, another key.
        let a = StoreKey::from_secret(hex64.as_bytes()).unwrap();
        assert_eq!(a, StoreKey::from_secret(hex64.as_bytes()).unwrap());
        assert_ne!(a, StoreKey::from_secret(&raw).unwrap());
        assert_eq!(format!("{a:?}"), "StoreKey([REDACTED])");
        assert!(a.pragma_value().starts_with("x'") && a.pragma_value().len() == 67);
    }
}
