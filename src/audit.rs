//! The tamper-evident trail: canonical JSON and the hash chain, as pure
//! functions (the SQL side is `store::audit`).
//!
//! Every change that matters as evidence (a probe row, an incident opening
//! or resolving, a roster import, an evidence purge, a roster erasure)
//! appends one record to the `audit` table in the same transaction as the
//! change itself. A record is `(seq, time, kind, ref_id, payload, prev_hash,
//! hash)`:
//!
//! - `seq`: 1, 2, 3, … without gaps;
//! - `time`: Unix milliseconds (UTC) of the change;
//! - `kind`: `trail.start`, `probe`, `incident.open`, `incident.resolve`,
//!   `roster.import`, `evidence.purge`, `roster.erase`, …;
//! - `ref_id`: what the record is about (probe id, incident id, …);
//! - `payload`: the record's content as canonical JSON ([`canonical_json`]);
//!   never a full number, a name or an address — entry ids, masked URLs,
//!   counts and hashes only;
//! - `prev_hash`: the previous record's `hash` ([`GENESIS`] for seq 1);
//! - `hash`: [`chain_hash`]:
//!
//! ```text
//! hash = lowercase hex SHA-256( prev_hash ‖ "\n" ‖ payload ‖ "\n" ‖ kind ‖ "\n"
//!                               ‖ decimal(time) ‖ "\n" ‖ decimal(seq) )
//! ```
//!
//! The separators make the encoding unambiguous: `prev_hash` is 64 hex
//! digits, canonical JSON never contains a raw newline (JSON escapes it in
//! strings), and `kind` is a fixed ASCII word.
//!
//! A `probe` record's payload is a pure function of the `probes` row (and
//! its `evidence` row), so `audit verify` recomputes it from the current
//! row: editing a probe behind unlistd's back breaks its record even when
//! the chain itself is left alone. What the chain cannot show on its own is
//! a truncated tail (the last records and their rows deleted together);
//! the daemon logs the head (`chain head seq=… hash=…`) at start and after
//! every cycle so the journal holds witnesses to compare against.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings escaped as `serde_json` does, integers in decimal. Floats are
/// never put into audited or signed documents (their text form is not
/// canonical); should one appear it is written as `serde_json` prints it.
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            // serde_json's own text for scalars is already canonical.
            out.push_str(&serde_json::to_string(v).unwrap_or_default());
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// The hash of one record (see the module docs for the construction).
pub(crate) fn chain_hash(
    prev_hash: &str,
    payload: &str,
    kind: &str,
    time_ms: i64,
    seq: i64,
) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    h.update(b"\n");
    h.update(kind.as_bytes());
    h.update(b"\n");
    h.update(time_ms.to_string().as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A stored request URL (path and query, the number already masked) as
/// reports and audit payloads show it: a name search carries the
/// subscriber's name and place in its query, so every query value holding
/// a letter becomes `•••`, and so does every path segment holding an
/// encoded character (`%`, `+`). Masked numbers, page numbers and the
/// adapter's fixed words stay readable.
pub(crate) fn redact_url(path_and_query: &str) -> String {
    let has_letter = |s: &str| {
        let decoded = s.replace('+', " ");
        let decoded = percent_decode(&decoded);
        decoded.chars().any(char::is_alphabetic)
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path = path
        .split('/')
        .map(|seg| {
            if seg.contains('%') || seg.contains('+') {
                "•••"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    match query {
        None => path,
        Some(q) => {
            let q = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if has_letter(v) => format!("{k}=•••"),
                    _ => pair.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{q}")
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("x"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Record kinds.
pub(crate) mod kind {
    pub(crate) const TRAIL_START: &str = "trail.start";
    pub(crate) const PROBE: &str = "probe";
    pub(crate) const INCIDENT_OPEN: &str = "incident.open";
    pub(crate) const INCIDENT_RESOLVE: &str = "incident.resolve";
    /// An incident of an erased entry, withdrawn (ref: the incident id).
    pub(crate) const INCIDENT_WITHDRAW: &str = "incident.withdraw";
    /// An analyst's ack / dismiss / undismiss (ref: the action row id).
    pub(crate) const INCIDENT_ACTION: &str = "incident.action";
    /// A takedown request (ref: the takedown row id).
    pub(crate) const INCIDENT_TAKEDOWN: &str = "incident.takedown";
    pub(crate) const SILENCE_ADD: &str = "silence.add";
    pub(crate) const SILENCE_END: &str = "silence.end";
    pub(crate) const ROSTER_IMPORT: &str = "roster.import";
    pub(crate) const EVIDENCE_PURGE: &str = "evidence.purge";
    pub(crate) const ROSTER_ERASE: &str = "roster.erase";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let v = json!({"b": 1, "a": {"z": [1, "x\ny", null], "c": true}, "é": "ø"});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":true,"z":[1,"x\ny",null]},"b":1,"é":"ø"}"#
        );
        assert!(!canonical_json(&v).contains('\n'));
    }

    #[test]
    fn redact_url_keeps_masked_numbers_and_hides_names() {
        assert_eq!(
            redact_url("/search/go?what=1350••••&pageSize=25&page=2"),
            "/search/go?what=1350••••&pageSize=25&page=2"
        );
        assert_eq!(
            redact_url("/search/go?what=Birthe+Lund&where=8000+Aarhus+C&page=1"),
            "/search/go?what=•••&where=•••&page=1"
        );
        assert_eq!(redact_url("/s?q=S%C3%B8ren&n=%20"), "/s?q=•••&n=%20");
        assert_eq!(
            redact_url("/person/S%C3%B8ren+Friis/5000"),
            "/person/•••/5000"
        );
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn chain_hash_is_the_documented_construction() {
        let expect = sha256_hex(format!("{GENESIS}\n{{}}\nprobe\n1700000000000\n1").as_bytes());
        assert_eq!(
            chain_hash(GENESIS, "{}", "probe", 1_700_000_000_000, 1),
            expect
        );
        // Every input matters.
        let base = chain_hash(GENESIS, "{}", "probe", 1, 1);
        assert_ne!(base, chain_hash(GENESIS, "{}", "probe", 1, 2));
        assert_ne!(base, chain_hash(GENESIS, "{}", "probe", 2, 1));
        assert_ne!(base, chain_hash(GENESIS, "{}", "probf", 1, 1));
        assert_ne!(base, chain_hash(GENESIS, "{ }", "probe", 1, 1));
        assert_ne!(base, chain_hash(&"1".repeat(64), "{}", "probe", 1, 1));
    }
}
