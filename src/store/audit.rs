//! The audit trail's SQL side: appending records inside the caller's
//! transaction, and verifying the whole trail against the rows it vouches
//! for. The construction itself (canonical JSON, hash) is `crate::audit`.

use serde_json::{Value, json};

use super::codec::gunzip;
use super::rows::ms;
use super::sql::{Conn, Row, ValueRef, params};
use super::{AuditHead, AuditVerification, BrokenRecord, StoreError};
use crate::audit::{GENESIS, canonical_json, chain_hash, kind, sha256_hex};

/// The schema version the trail started at (recorded in `trail.start`).
const SCHEMA_AT_START: i64 = 3;

/// Records read per step of `verify`'s walk (keyset pages keep memory flat
/// on a trail of millions).
const VERIFY_PAGE: i64 = 1000;

pub(super) fn head(c: &mut dyn Conn) -> Result<Option<AuditHead>, StoreError> {
    c.query_opt(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        params![],
        |r| {
            Ok(AuditHead {
                seq: r.i64(0)?,
                hash: r.text(1)?,
            })
        },
    )
}

/// Appends one record. Must run inside the [`TxMode::Write`] transaction
/// of the change it describes: writers are serialised (SQLite's
/// `BEGIN IMMEDIATE`, PostgreSQL's writer lock), so reading the head and
/// appending after it keeps the chain one line with several writers.
///
/// [`TxMode::Write`]: super::sql::TxMode::Write
pub(super) fn append(
    c: &mut dyn Conn,
    kind: &str,
    ref_id: &str,
    payload: &Value,
    time_ms: i64,
) -> Result<AuditHead, StoreError> {
    let (prev_seq, prev_hash) = match head(c)? {
        Some(h) => (h.seq, h.hash),
        None => (0, GENESIS.to_string()),
    };
    let seq = prev_seq + 1;
    let payload = canonical_json(payload);
    let hash = chain_hash(&prev_hash, &payload, kind, time_ms, seq);
    c.execute(
        "INSERT INTO audit (seq, time, kind, ref_id, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, time_ms, kind, ref_id, payload, prev_hash, hash],
    )?;
    Ok(AuditHead { seq, hash })
}

/// A column value as JSON, whatever its stored type: the payload must
/// change if a value is replaced by one of another type.
fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Int(i) => json!(i),
        ValueRef::Real(f) => json!({ "real": f.to_string() }),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => json!(s),
            Err(_) => json!({ "bytes": hex::encode(t) }),
        },
        ValueRef::Blob(b) => json!({ "blob": hex::encode(b) }),
    }
}

const PROBE_PAYLOAD_SQL: &str = "
    SELECT p.entry_id, p.site, p.time, p.outcome, p.http_status, p.page_sha256, p.page_size,
           p.reason, p.url_masked, p.why, p.incident_id, ev.sha256, ev.size, ev.probe_id
    FROM probes AS p LEFT JOIN evidence AS ev ON ev.probe_id = p.id
    WHERE p.id = ?1";

/// A probe row's payload, and its stored request as stored.
fn probe_payload_of(r: &dyn Row, probe_id: i64) -> Result<(Value, Value), StoreError> {
    let c = |i: usize| r.value(i).map(json_of);
    let evidence = match r.value(13)? {
        ValueRef::Null => Value::Null,
        _ => json!({ "sha256": c(11)?, "size": c(12)? }),
    };
    let url = r.value(8)?;
    let payload = json!({
        "probe_id": probe_id,
        "entry_id": c(0)?,
        "site": c(1)?,
        "time": c(2)?,
        "outcome": c(3)?,
        "http_status": c(4)?,
        "page_sha256": c(5)?,
        "page_size": c(6)?,
        "reason": c(7)?,
        // Adapters hand the request over redacted (no name or place, the
        // number's digits masked), so the trail vouches for it exactly as
        // stored.
        "url": json_of(url),
        "why": c(9)?,
        "incident_id": c(10)?,
        "evidence": evidence,
    });
    Ok((payload, json_of(url)))
}

/// The payload of a `probe` record, computed from the current `probes` row
/// and its `evidence` row (hash and size only: purging a body keeps both).
/// `None` when the row does not exist.
pub(super) fn probe_payload(c: &mut dyn Conn, probe_id: i64) -> Result<Option<Value>, StoreError> {
    Ok(probe_row(c, probe_id)?.map(|(p, _)| p))
}

fn probe_row(c: &mut dyn Conn, probe_id: i64) -> Result<Option<(Value, Value)>, StoreError> {
    c.query_opt(PROBE_PAYLOAD_SQL, params![probe_id], |r| {
        probe_payload_of(r, probe_id)
    })
}

/// What a record written before requests were stored redacted vouches
/// for: it also holds `url_sha256`, the SHA-256 of the request as stored
/// then (a name search with the subscriber's name in it). Once an erasure
/// has replaced that request by exactly the redacted form the record shows
/// (`url`), the row holds nothing the record does not, and the hash of what
/// was erased cannot be recomputed: the recorded one stands. Any other
/// stored request must still hash to it.
fn with_legacy_hash(now: &mut Value, stored: &Value, recorded: &Value) {
    let Some(old) = recorded.get("url_sha256") else {
        return;
    };
    let (url, hash) = match stored {
        Value::String(_) if recorded.get("url") == Some(stored) => (stored.clone(), old.clone()),
        Value::String(u) => (
            json!(crate::audit::redact_url(u)),
            json!(sha256_hex(u.as_bytes())),
        ),
        other => (other.clone(), other.clone()),
    };
    now["url"] = url;
    now["url_sha256"] = hash;
}

/// Appends the `probe` record of a probe row just written.
pub(super) fn append_probe(
    c: &mut dyn Conn,
    probe_id: i64,
    time_ms: i64,
) -> Result<(), StoreError> {
    let payload = probe_payload(c, probe_id)?
        .ok_or_else(|| StoreError::Corrupt("audit: probe row vanished".into()))?;
    append(c, kind::PROBE, &probe_id.to_string(), &payload, time_ms).map(|_| ())
}

/// The immutable facts of an incident's opening.
pub(super) fn open_payload(c: &mut dyn Conn, incident_id: &str) -> Result<Value, StoreError> {
    c.query_one(
        "SELECT entry_id, site, first_seen, opened_probe, exposed FROM incidents WHERE id = ?1",
        params![incident_id],
        |r| {
            Ok(json!({
                "incident_id": incident_id,
                "entry_id": json_of(r.value(0)?),
                "site": json_of(r.value(1)?),
                "first_seen": json_of(r.value(2)?),
                "probe_id": json_of(r.value(3)?),
                "exposed": json_of(r.value(4)?),
            }))
        },
    )
}

/// The clean probes after the incident's last exposed probe, oldest first:
/// for a resolved incident, exactly the ones that closed it.
pub(super) fn closing_probe_ids(
    c: &mut dyn Conn,
    incident_id: &str,
) -> Result<Vec<i64>, StoreError> {
    c.query_map(
        "SELECT id FROM probes
         WHERE incident_id = ?1 AND outcome = 'clean'
           AND id > coalesce((SELECT max(id) FROM probes
                              WHERE incident_id = ?1 AND outcome = 'exposed'), 0)
         ORDER BY id",
        params![incident_id],
        |r| r.i64(0),
    )
}

pub(super) fn resolve_payload(c: &mut dyn Conn, incident_id: &str) -> Result<Value, StoreError> {
    let (resolved_at, consecutive) = c.query_one(
        "SELECT resolved_at, consecutive_clean FROM incidents WHERE id = ?1",
        params![incident_id],
        |r| Ok((r.opt_i64(0)?, r.i64(1)?)),
    )?;
    Ok(json!({
        "incident_id": incident_id,
        "resolved_at": resolved_at,
        "consecutive_clean": consecutive,
        "closing_probes": closing_probe_ids(c, incident_id)?,
    }))
}

const TRAIL_EXISTS: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM audit) THEN 1 ELSE 0 END";

/// On first open of a store (audit empty): the `trail.start` record, then
/// records for every probe and incident that predate the trail, so they are
/// covered from now on. One transaction; a no-op once the trail exists.
pub(super) fn start_trail(c: &mut dyn Conn) -> Result<(), StoreError> {
    if c.query_i64(TRAIL_EXISTS, params![])? == 1 {
        return Ok(());
    }
    c.write(|tx| {
        // Another opener may have started it meanwhile.
        if tx.query_i64(TRAIL_EXISTS, params![])? == 1 {
            return Ok(());
        }
        let probes = tx.query_i64("SELECT count(*) FROM probes", params![])?;
        let incidents = tx.query_i64("SELECT count(*) FROM incidents", params![])?;
        let now = ms(time::OffsetDateTime::now_utc());
        append(
            tx,
            kind::TRAIL_START,
            "",
            &json!({
                "schema": SCHEMA_AT_START,
                "unlistd": env!("CARGO_PKG_VERSION"),
                "existing_probes": probes,
                "existing_incidents": incidents,
            }),
            now,
        )?;
        backfill(tx)
    })
}

/// Records for the probes and incidents of a store older than its trail.
fn backfill(tx: &mut dyn Conn) -> Result<(), StoreError> {
    let ids = tx.query_map("SELECT id, time FROM probes ORDER BY id", params![], |r| {
        Ok((r.i64(0)?, r.i64(1)?))
    })?;
    for (id, t) in ids {
        append_probe(tx, id, t)?;
    }
    let incidents = tx.query_map(
        "SELECT id, first_seen, CASE WHEN state = 'resolved' THEN resolved_at END
         FROM incidents ORDER BY first_seen, id",
        params![],
        |r| Ok((r.text(0)?, r.i64(1)?, r.opt_i64(2)?)),
    )?;
    for (id, first_seen, resolved_at) in incidents {
        let payload = open_payload(tx, &id)?;
        append(tx, kind::INCIDENT_OPEN, &id, &payload, first_seen)?;
        if let Some(at) = resolved_at {
            let payload = resolve_payload(tx, &id)?;
            append(tx, kind::INCIDENT_RESOLVE, &id, &payload, at)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- verify

struct Record {
    seq: i64,
    time: i64,
    kind: String,
    ref_id: String,
    payload: String,
    prev_hash: String,
    hash: String,
}

impl Record {
    /// Any stored value is taken as text, so a tampered column is reported
    /// as a broken record rather than failing the walk.
    fn read(r: &dyn Row) -> Result<Record, StoreError> {
        let text = |i: usize| -> Result<String, StoreError> {
            Ok(match r.value(i)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
        };
        Ok(Record {
            seq: r.i64(0)?,
            time: r.i64(1)?,
            kind: text(2)?,
            ref_id: text(3)?,
            payload: text(4)?,
            prev_hash: text(5)?,
            hash: text(6)?,
        })
    }

    fn broken(&self, message: impl Into<String>) -> BrokenRecord {
        BrokenRecord {
            seq: Some(self.seq),
            kind: self.kind.clone(),
            ref_id: self.ref_id.clone(),
            message: message.into(),
        }
    }
}

/// A probe record against the current row; `Some(message)` when they
/// disagree.
fn check_probe(
    c: &mut dyn Conn,
    r: &Record,
    recorded: &Value,
) -> Result<Option<String>, StoreError> {
    let Ok(id) = r.ref_id.parse::<i64>() else {
        return Ok(Some("ref_id is not a probe id".into()));
    };
    let Some((mut now, stored)) = probe_row(c, id)? else {
        return Ok(Some(format!("probe {id} is missing from the probes table")));
    };
    with_legacy_hash(&mut now, &stored, recorded);
    if canonical_json(&now) != r.payload {
        let fields: Vec<&str> = match (&now, recorded) {
            (Value::Object(a), Value::Object(b)) => a
                .iter()
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.as_str())
                .collect(),
            _ => vec![],
        };
        return Ok(Some(format!(
            "probe {id} was changed after it was recorded ({} differs)",
            if fields.is_empty() {
                "content".to_string()
            } else {
                fields.join(", ")
            }
        )));
    }
    check_evidence_body(c, id)
}

/// Checks one record against the rows it vouches for; `Some(message)` when
/// they disagree.
fn check_against_rows(
    c: &mut dyn Conn,
    r: &Record,
    recorded: &Value,
) -> Result<Option<String>, StoreError> {
    match r.kind.as_str() {
        kind::PROBE => check_probe(c, r, recorded),
        kind::INCIDENT_OPEN => {
            let exists = c.query_i64(
                "SELECT count(*) FROM incidents WHERE id = ?1",
                params![r.ref_id],
            )?;
            if exists == 0 {
                return Ok(Some(format!("incident {} is missing", r.ref_id)));
            }
            let now = open_payload(c, &r.ref_id)?;
            // `exposed` may widen while the incident is open; the rest is fixed.
            for k in ["entry_id", "site", "first_seen", "probe_id"] {
                if now.get(k) != recorded.get(k) {
                    return Ok(Some(format!(
                        "incident {} was changed after it opened ({k} differs)",
                        r.ref_id
                    )));
                }
            }
            Ok(None)
        }
        kind::INCIDENT_RESOLVE => ended_as_recorded(c, r, recorded, "resolved", "resolved_at"),
        kind::INCIDENT_WITHDRAW => ended_as_recorded(c, r, recorded, "withdrawn", "withdrawn_at"),
        _ => Ok(None),
    }
}

/// An ended incident (`state`) must still be in that state, ended at the
/// recorded instant (`column`).
fn ended_as_recorded(
    c: &mut dyn Conn,
    r: &Record,
    recorded: &Value,
    state: &str,
    column: &str,
) -> Result<Option<String>, StoreError> {
    let row = c.query_opt(
        &format!("SELECT state, {column} FROM incidents WHERE id = ?1"),
        params![r.ref_id],
        |x| Ok((x.text(0)?, x.opt_i64(1)?)),
    )?;
    Ok(match row {
        None => Some(format!("incident {} is missing", r.ref_id)),
        Some((now, at)) if now != state || recorded.get(column) != Some(&json!(at)) => {
            Some(format!(
                "incident {} was changed after it was {state} (state or {column} differs)",
                r.ref_id
            ))
        }
        Some(_) => None,
    })
}

/// A kept body must still hash to what the probe's record vouches for.
fn check_evidence_body(c: &mut dyn Conn, probe_id: i64) -> Result<Option<String>, StoreError> {
    let row = c.query_opt(
        "SELECT body_gz, sha256, size FROM evidence WHERE probe_id = ?1",
        params![probe_id],
        |r| Ok((r.opt_bytes(0)?, r.text(1)?, r.i64(2)?)),
    )?;
    let Some((Some(gz), sha, size)) = row else {
        return Ok(None);
    };
    match gunzip(&gz) {
        Ok(body) if sha256_hex(&body) == sha && body.len() as i64 == size => Ok(None),
        Ok(_) => Ok(Some(format!(
            "the kept page of probe {probe_id} does not match its recorded hash"
        ))),
        Err(_) => Ok(Some(format!(
            "the kept page of probe {probe_id} cannot be decompressed"
        ))),
    }
}

/// Verifies in one read snapshot, so the trail and the rows it vouches
/// for are seen at one instant even while the daemon keeps writing.
pub(super) fn verify(c: &mut dyn Conn) -> Result<AuditVerification, StoreError> {
    c.snapshot(verify_in)
}

/// How far the walk over the chain got.
enum Walk {
    Broken(BrokenRecord),
    /// Every record holds; the purges the trail records.
    Whole {
        purges_recorded: i64,
    },
}

/// Walks the chain in pages: sequence, links, hashes, and each record
/// against the rows it vouches for. Stops at the first problem.
fn walk_chain(c: &mut dyn Conn) -> Result<Walk, StoreError> {
    let (mut prev_seq, mut prev_hash) = (0i64, GENESIS.to_string());
    let mut purges_recorded = 0i64;
    let mut after = i64::MIN;
    loop {
        let page = c.query_map(
            "SELECT seq, time, kind, ref_id, payload, prev_hash, hash FROM audit
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![after, VERIFY_PAGE],
            Record::read,
        )?;
        let Some(last) = page.last() else {
            return Ok(Walk::Whole { purges_recorded });
        };
        after = last.seq;
        for r in page {
            let recorded: Option<Value> = serde_json::from_str(&r.payload).ok();
            let problem = if r.seq != prev_seq + 1 {
                Some(if r.seq == prev_seq + 2 {
                    format!("record {} before it is missing", prev_seq + 1)
                } else if r.seq > prev_seq {
                    format!(
                        "records {} to {} before it are missing",
                        prev_seq + 1,
                        r.seq - 1
                    )
                } else {
                    "out of sequence".to_string()
                })
            } else if r.prev_hash != prev_hash {
                Some(if prev_seq == 0 {
                    "does not start the chain".to_string()
                } else {
                    format!("does not link to record {prev_seq} (previous hash differs)")
                })
            } else if chain_hash(&r.prev_hash, &r.payload, &r.kind, r.time, r.seq) != r.hash {
                Some("its hash does not match its contents (record edited)".to_string())
            } else {
                match &recorded {
                    None => Some("payload is not JSON".to_string()),
                    Some(v) => check_against_rows(c, &r, v)?,
                }
            };
            if let Some(m) = problem {
                return Ok(Walk::Broken(r.broken(m)));
            }
            if r.kind == kind::EVIDENCE_PURGE {
                let n = recorded.as_ref().and_then(|v| v["count"].as_i64());
                purges_recorded = purges_recorded.saturating_add(n.unwrap_or(0));
            }
            prev_seq = r.seq;
            prev_hash = r.hash;
        }
    }
}

/// Rows the trail should vouch for but does not.
fn find_orphan(c: &mut dyn Conn) -> Result<Option<BrokenRecord>, StoreError> {
    let checks: [(&str, &str, &str); 4] = [
        (
            kind::PROBE,
            "SELECT CAST(p.id AS TEXT) FROM probes AS p WHERE NOT EXISTS (SELECT 1 FROM audit AS a
                 WHERE a.kind = 'probe' AND a.ref_id = CAST(p.id AS TEXT)) ORDER BY p.id LIMIT 1",
            "probe {} has no audit record (added behind unlistd's back?)",
        ),
        (
            kind::INCIDENT_OPEN,
            "SELECT i.id FROM incidents AS i WHERE NOT EXISTS (SELECT 1 FROM audit AS a
                 WHERE a.kind = 'incident.open' AND a.ref_id = i.id) ORDER BY i.first_seen LIMIT 1",
            "incident {} has no audit record of its opening",
        ),
        (
            kind::INCIDENT_RESOLVE,
            "SELECT i.id FROM incidents AS i WHERE i.state = 'resolved' AND NOT EXISTS
                 (SELECT 1 FROM audit AS a WHERE a.kind = 'incident.resolve' AND a.ref_id = i.id)
             ORDER BY i.first_seen LIMIT 1",
            "incident {} is resolved without an audit record of its resolution",
        ),
        (
            kind::INCIDENT_WITHDRAW,
            "SELECT i.id FROM incidents AS i WHERE i.state = 'withdrawn' AND NOT EXISTS
                 (SELECT 1 FROM audit AS a WHERE a.kind = 'incident.withdraw' AND a.ref_id = i.id)
             ORDER BY i.first_seen LIMIT 1",
            "incident {} is withdrawn without an audit record of its withdrawal",
        ),
    ];
    for (k, q, msg) in checks {
        let id = c.query_opt(q, params![], |r| {
            Ok(match r.value(0)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            })
        })?;
        if let Some(id) = id {
            return Ok(Some(BrokenRecord {
                seq: None,
                kind: k.to_string(),
                ref_id: id.clone(),
                message: msg.replace("{}", &id),
            }));
        }
    }
    Ok(None)
}

fn verify_in(c: &mut dyn Conn) -> Result<AuditVerification, StoreError> {
    let records = c.query_i64("SELECT count(*) FROM audit", params![])?;
    let mut result = AuditVerification {
        verified: false,
        records: super::rows::count(records),
        head: head(c)?,
        first_broken: None,
    };
    let purges_recorded = match walk_chain(c)? {
        Walk::Broken(b) => {
            result.first_broken = Some(b);
            return Ok(result);
        }
        Walk::Whole { purges_recorded } => purges_recorded,
    };
    if let Some(b) = find_orphan(c)? {
        result.first_broken = Some(b);
        return Ok(result);
    }
    // Every purged body is accounted for by an `evidence.purge` record.
    let purged = c.query_i64(
        "SELECT count(*) FROM evidence WHERE body_gz IS NULL",
        params![],
    )?;
    if purged != purges_recorded {
        result.first_broken = Some(BrokenRecord {
            seq: None,
            kind: "evidence".into(),
            ref_id: String::new(),
            message: format!(
                "{purged} kept pages are purged but the trail records {purges_recorded} purges"
            ),
        });
        return Ok(result);
    }
    result.verified = true;
    Ok(result)
}
