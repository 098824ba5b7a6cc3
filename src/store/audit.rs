//! The audit trail's SQL side: appending records inside the caller's
//! transaction, and verifying the whole trail against the rows it vouches
//! for. The construction itself (canonical JSON, hash) is `crate::audit`.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};

use super::db::{ms, sql};
use super::{AuditHead, AuditVerification, BrokenRecord, StoreError};
use crate::audit::{GENESIS, canonical_json, chain_hash, kind, sha256_hex};

/// The schema version the trail started at (recorded in `trail.start`).
const SCHEMA_AT_START: i64 = 3;

pub(super) fn head(conn: &Connection) -> Result<Option<AuditHead>, StoreError> {
    conn.prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok(AuditHead {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .optional()
        })
        .map_err(sql)
}

/// Appends one record. Must run inside the transaction of the change it
/// describes (the caller's IMMEDIATE transaction serialises appends).
pub(super) fn append(
    conn: &Connection,
    kind: &str,
    ref_id: &str,
    payload: &Value,
    time_ms: i64,
) -> Result<AuditHead, StoreError> {
    let (prev_seq, prev_hash) = match head(conn)? {
        Some(h) => (h.seq, h.hash),
        None => (0, GENESIS.to_string()),
    };
    let seq = prev_seq + 1;
    let payload = canonical_json(payload);
    let hash = chain_hash(&prev_hash, &payload, kind, time_ms, seq);
    conn.prepare_cached(
        "INSERT INTO audit (seq, time, kind, ref_id, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq, time_ms, kind, ref_id, payload, prev_hash, hash
        ])
    })
    .map_err(sql)?;
    Ok(AuditHead { seq, hash })
}

/// A column value as JSON, whatever its SQLite type: the payload must
/// change if a value is replaced by one of another type.
fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
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

/// The payload of a `probe` record, computed from the current `probes` row
/// and its `evidence` row (hash and size only: purging a body keeps both).
/// `None` when the row does not exist.
pub(super) fn probe_payload(conn: &Connection, probe_id: i64) -> Result<Option<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(PROBE_PAYLOAD_SQL).map_err(sql)?;
    stmt.query_row([probe_id], |r| {
        let c = |i: usize| r.get_ref(i).map(json_of);
        let evidence = match r.get_ref(13)? {
            ValueRef::Null => Value::Null,
            _ => json!({ "sha256": c(11)?, "size": c(12)? }),
        };
        Ok(json!({
            "probe_id": probe_id,
            "entry_id": c(0)?,
            "site": c(1)?,
            "time": c(2)?,
            "outcome": c(3)?,
            "http_status": c(4)?,
            "page_sha256": c(5)?,
            "page_size": c(6)?,
            "reason": c(7)?,
            // The stored URL of a name search holds the subscriber's name:
            // the payload has its redacted form and its hash.
            "url": match r.get_ref(8)? {
                ValueRef::Text(t) => json!(crate::audit::redact_url(&String::from_utf8_lossy(t))),
                other => json_of(other),
            },
            "url_sha256": match r.get_ref(8)? {
                ValueRef::Text(t) => json!(sha256_hex(t)),
                other => json_of(other),
            },
            "why": c(9)?,
            "incident_id": c(10)?,
            "evidence": evidence,
        }))
    })
    .optional()
    .map_err(sql)
}

/// Appends the `probe` record of a probe row just written.
pub(super) fn append_probe(
    conn: &Connection,
    probe_id: i64,
    time_ms: i64,
) -> Result<(), StoreError> {
    let payload = probe_payload(conn, probe_id)?
        .ok_or_else(|| StoreError::Corrupt("audit: probe row vanished".into()))?;
    append(conn, kind::PROBE, &probe_id.to_string(), &payload, time_ms).map(|_| ())
}

/// The immutable facts of an incident's opening.
pub(super) fn open_payload(conn: &Connection, incident_id: &str) -> Result<Value, StoreError> {
    conn.query_row(
        "SELECT entry_id, site, first_seen, opened_probe, exposed FROM incidents WHERE id = ?1",
        [incident_id],
        |r| {
            Ok(json!({
                "incident_id": incident_id,
                "entry_id": json_of(r.get_ref(0)?),
                "site": json_of(r.get_ref(1)?),
                "first_seen": json_of(r.get_ref(2)?),
                "probe_id": json_of(r.get_ref(3)?),
                "exposed": json_of(r.get_ref(4)?),
            }))
        },
    )
    .map_err(sql)
}

/// The clean probes after the incident's last exposed probe, oldest first:
/// for a resolved incident, exactly the ones that closed it.
pub(super) fn closing_probe_ids(
    conn: &Connection,
    incident_id: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id FROM probes
             WHERE incident_id = ?1 AND outcome = 'clean'
               AND id > coalesce((SELECT max(id) FROM probes
                                  WHERE incident_id = ?1 AND outcome = 'exposed'), 0)
             ORDER BY id",
        )
        .map_err(sql)?;
    let rows = stmt.query_map([incident_id], |r| r.get(0)).map_err(sql)?;
    rows.collect::<Result<Vec<i64>, _>>().map_err(sql)
}

pub(super) fn resolve_payload(conn: &Connection, incident_id: &str) -> Result<Value, StoreError> {
    let (resolved_at, consecutive): (Option<i64>, i64) = conn
        .query_row(
            "SELECT resolved_at, consecutive_clean FROM incidents WHERE id = ?1",
            [incident_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    Ok(json!({
        "incident_id": incident_id,
        "resolved_at": resolved_at,
        "consecutive_clean": consecutive,
        "closing_probes": closing_probe_ids(conn, incident_id)?,
    }))
}

/// On first open of a store (audit empty): the `trail.start` record, then
/// records for every probe and incident that predate the trail, so they are
/// covered from now on. One transaction; a no-op once the trail exists.
pub(super) fn start_trail(conn: &mut Connection) -> Result<(), StoreError> {
    let exists: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM audit)", [], |r| r.get(0))
        .map_err(sql)?;
    if exists {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let exists: bool = tx
        .query_row("SELECT EXISTS (SELECT 1 FROM audit)", [], |r| r.get(0))
        .map_err(sql)?;
    if exists {
        return Ok(());
    }
    let count = |q: &str| tx.query_row(q, [], |r| r.get::<_, i64>(0)).map_err(sql);
    let probes = count("SELECT count(*) FROM probes")?;
    let incidents = count("SELECT count(*) FROM incidents")?;
    let now = ms(time::OffsetDateTime::now_utc());
    append(
        &tx,
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
    if probes > 0 {
        let ids: Vec<(i64, i64)> = {
            let mut s = tx
                .prepare("SELECT id, time FROM probes ORDER BY id")
                .map_err(sql)?;
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?
        };
        for (id, t) in ids {
            append_probe(&tx, id, t)?;
        }
    }
    if incidents > 0 {
        let rows: Vec<(String, i64, Option<i64>)> = {
            let mut s = tx
                .prepare(
                    "SELECT id, first_seen, CASE WHEN state = 'resolved' THEN resolved_at END
                     FROM incidents ORDER BY first_seen, id",
                )
                .map_err(sql)?;
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?
        };
        for (id, first_seen, resolved_at) in rows {
            append(
                &tx,
                kind::INCIDENT_OPEN,
                &id,
                &open_payload(&tx, &id)?,
                first_seen,
            )?;
            if let Some(at) = resolved_at {
                append(
                    &tx,
                    kind::INCIDENT_RESOLVE,
                    &id,
                    &resolve_payload(&tx, &id)?,
                    at,
                )?;
            }
        }
    }
    tx.commit().map_err(sql)
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

fn broken(r: &Record, message: impl Into<String>) -> BrokenRecord {
    BrokenRecord {
        seq: Some(r.seq),
        kind: r.kind.clone(),
        ref_id: r.ref_id.clone(),
        message: message.into(),
    }
}

/// Checks one record against the rows it vouches for; `Some(message)` when
/// they disagree.
fn check_against_rows(conn: &Connection, r: &Record) -> Result<Option<String>, StoreError> {
    let recorded: Value = match serde_json::from_str(&r.payload) {
        Ok(v) => v,
        Err(_) => return Ok(Some("payload is not JSON".into())),
    };
    match r.kind.as_str() {
        kind::PROBE => {
            let Ok(id) = r.ref_id.parse::<i64>() else {
                return Ok(Some("ref_id is not a probe id".into()));
            };
            let Some(now) = probe_payload(conn, id)? else {
                return Ok(Some(format!("probe {id} is missing from the probes table")));
            };
            if canonical_json(&now) != r.payload {
                let fields: Vec<&str> = match (&now, &recorded) {
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
            check_evidence_body(conn, id)
        }
        kind::INCIDENT_OPEN => {
            let exists: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = ?1)",
                    [&r.ref_id],
                    |x| x.get(0),
                )
                .map_err(sql)?;
            if !exists {
                return Ok(Some(format!("incident {} is missing", r.ref_id)));
            }
            let now = open_payload(conn, &r.ref_id)?;
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
        kind::INCIDENT_RESOLVE => {
            let row: Option<(String, Option<i64>)> = conn
                .query_row(
                    "SELECT state, resolved_at FROM incidents WHERE id = ?1",
                    [&r.ref_id],
                    |x| Ok((x.get(0)?, x.get(1)?)),
                )
                .optional()
                .map_err(sql)?;
            match row {
                None => Ok(Some(format!("incident {} is missing", r.ref_id))),
                Some((state, at))
                    if state != "resolved" || recorded.get("resolved_at") != Some(&json!(at)) =>
                {
                    Ok(Some(format!(
                        "incident {} was changed after it resolved (state or resolved_at differs)",
                        r.ref_id
                    )))
                }
                Some(_) => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// A kept body must still hash to what the probe's record vouches for.
fn check_evidence_body(conn: &Connection, probe_id: i64) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<Vec<u8>>, String, i64)> = conn
        .prepare_cached("SELECT body_gz, sha256, size FROM evidence WHERE probe_id = ?1")
        .and_then(|mut s| {
            s.query_row([probe_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(sql)?;
    let Some((Some(gz), sha, size)) = row else {
        return Ok(None);
    };
    match super::evidence::gunzip(&gz) {
        Ok(body) if sha256_hex(&body) == sha && body.len() as i64 == size => Ok(None),
        Ok(_) => Ok(Some(format!(
            "the kept page of probe {probe_id} does not match its recorded hash"
        ))),
        Err(_) => Ok(Some(format!(
            "the kept page of probe {probe_id} cannot be decompressed"
        ))),
    }
}

/// Verifies in one read transaction, so the trail and the rows it vouches
/// for are seen at one instant even while the daemon keeps writing.
pub(super) fn verify(conn: &mut Connection) -> Result<AuditVerification, StoreError> {
    let tx = conn.transaction().map_err(sql)?;
    let result = verify_in(&tx);
    drop(tx);
    result
}

fn verify_in(conn: &Connection) -> Result<AuditVerification, StoreError> {
    let records: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .map_err(sql)?;
    let mut result = AuditVerification {
        verified: false,
        records: super::db::count(records),
        head: head(conn)?,
        first_broken: None,
    };

    let mut stmt = conn
        .prepare("SELECT seq, time, kind, ref_id, payload, prev_hash, hash FROM audit ORDER BY seq")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let (mut prev_seq, mut prev_hash) = (0i64, GENESIS.to_string());
    while let Some(row) = rows.next().map_err(sql)? {
        let text = |i: usize| -> rusqlite::Result<String> {
            Ok(match row.get_ref(i)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
        };
        let r = Record {
            seq: row.get(0).map_err(sql)?,
            time: row.get(1).map_err(sql)?,
            kind: text(2).map_err(sql)?,
            ref_id: text(3).map_err(sql)?,
            payload: text(4).map_err(sql)?,
            prev_hash: text(5).map_err(sql)?,
            hash: text(6).map_err(sql)?,
        };
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
            check_against_rows(conn, &r)?
        };
        if let Some(m) = problem {
            result.first_broken = Some(broken(&r, m));
            return Ok(result);
        }
        prev_seq = r.seq;
        prev_hash = r.hash;
    }
    drop(rows);

    // Rows the trail should vouch for but does not.
    let orphan = |q: &str| -> Result<Option<String>, StoreError> {
        conn.query_row(q, [], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Integer(i) => i.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            })
        })
        .optional()
        .map_err(sql)
    };
    let checks: [(&str, &str, &str); 3] = [
        (
            kind::PROBE,
            "SELECT p.id FROM probes AS p WHERE NOT EXISTS (SELECT 1 FROM audit AS a
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
    ];
    for (k, q, msg) in checks {
        if let Some(id) = orphan(q)? {
            result.first_broken = Some(BrokenRecord {
                seq: None,
                kind: k.to_string(),
                ref_id: id.clone(),
                message: msg.replace("{}", &id),
            });
            return Ok(result);
        }
    }
    // Every purged body is accounted for by an `evidence.purge` record.
    let (purged, recorded): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM evidence WHERE body_gz IS NULL),
                    (SELECT coalesce(sum(json_extract(payload, '$.count')), 0) FROM audit
                     WHERE kind = 'evidence.purge')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    if purged != recorded {
        result.first_broken = Some(BrokenRecord {
            seq: None,
            kind: "evidence".into(),
            ref_id: String::new(),
            message: format!(
                "{purged} kept pages are purged but the trail records {recorded} purges"
            ),
        });
        return Ok(result);
    }
    result.verified = true;
    Ok(result)
}
