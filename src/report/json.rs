//! The JSON report (contract: "Compliance report"), signed over its
//! canonical form without the `signature` field.

use serde_json::{Map, Value, json};

use super::{ALG, Report, SigningKey, Verdict, invalid};
use crate::audit::{canonical_json, redact_url};
use crate::store::{EvidenceProbe, IncidentReport, KeptEvidence, ReportScope};
use crate::wire::rfc3339;

fn probe(p: &EvidenceProbe) -> Value {
    let (evidence, evidence_sha256) = match &p.evidence {
        KeptEvidence::None => ("hash only".to_string(), None),
        KeptEvidence::Kept { sha256, .. } => ("kept".to_string(), Some(sha256.clone())),
        KeptEvidence::Purged { at } => (format!("purged {}", rfc3339(*at)), None),
    };
    json!({
        "probe_id": p.id,
        "time": rfc3339(p.time),
        "site": p.site,
        "url": redact_url(&p.url_masked),
        "page_sha256": p.page_sha256,
        "http_status": p.http_status,
        "page_size": p.page_size,
        "evidence": evidence,
        "evidence_sha256": evidence_sha256,
    })
}

fn incident(r: &IncidentReport, k: u32) -> Value {
    let i = &r.incident;
    let mut v = json!({
        "id": i.id,
        "site": i.site,
        "entry_ref": i.entry_ref,
        "number_masked": i.masked_number,
        "cohort": r.cohort,
        "exposed": i.exposed.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "state": i.state.as_str(),
        "first_seen": rfc3339(i.first_seen),
        "last_seen": rfc3339(i.last_seen),
        "resolved_at": i.resolved_at.map(rfc3339),
        "exposed_probes": r.exposed_probes,
        "first_seen_probe": r.opened_by.as_ref().map(probe),
        "last_clean_before": r.last_clean_before.as_ref().map(|c| {
            let mut v = probe(c);
            v["time"] = json!(rfc3339(c.time));
            v
        }),
        "closing_probes": r.closing_probes.iter().map(probe).collect::<Vec<_>>(),
        "summary": super::incident_sentence(r, k),
    });
    // The exposure window as bounds: it began after `began_after` (the last
    // clean probe) and by first_seen; it ended after last_seen and by the
    // first closing probe.
    let ended_by = match (i.resolved_at, r.closing_probes.first()) {
        (Some(_), Some(p)) => Some(rfc3339(p.time)),
        _ => None,
    };
    let (requested, removed) = super::removal(r);
    v["takedowns"] = json!(
        r.takedowns
            .iter()
            .map(|t| json!({
                "requested_at": rfc3339(t.requested_at),
                "via": t.via,
                "ticket": t.ticket,
                "by": t.actor,
            }))
            .collect::<Vec<_>>()
    );
    v["removal"] = json!({
        "requested_at": requested.map(rfc3339),
        "removed_at": removed.map(rfc3339),
        "time_to_removal_seconds": super::time_to_removal(r).map(|d| d.as_secs()),
    });
    v["exposure_window"] = json!({
        "began_after": r.last_clean_before.as_ref().map(|c| rfc3339(c.time)),
        "began_by": rfc3339(i.first_seen),
        "ended_after": rfc3339(i.last_seen),
        "ended_by": ended_by,
    });
    v
}

/// The report as a JSON value, without signature.
pub(crate) fn value(r: &Report) -> Value {
    let (kind, incident_id, cohort) = match &r.scope {
        ReportScope::Incident(id) => ("incident", Some(id.clone()), None),
        ReportScope::Filter {
            cohort: Some(c), ..
        } => ("cohort", None, Some(c.clone())),
        ReportScope::Filter { .. } => ("period", None, None),
    };
    let coverage_sites: Vec<Value> = r
        .coverage
        .iter()
        .map(|c| {
            json!({
                "site": c.site,
                "entries": c.entries,
                "covered": c.covered,
                "gaps": c.gaps,
                "longest_gap_seconds": c.longest_gap.map(|d| d.as_secs()),
                "gaps_shown": c.examples.iter().map(|g| json!({
                    "entry_ref": g.entry_ref,
                    "from": rfc3339(g.from),
                    "to": rfc3339(g.to),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let st = super::removal_stats(&r.incidents);
    let cohort_summary = r.cohort.as_ref().map(|c| {
        json!({
            "tag": c.tag,
            "entries": c.entries,
            "active": c.active,
            "erased": c.erased,
            "entries_exposed": c.entries_exposed,
            "exposed_on": c.sites.iter().map(|s| json!({
                "site": s.site,
                "entries": s.entries,
                "incidents": s.incidents,
                "open": s.open,
            })).collect::<Vec<_>>(),
            "all_resolved": c.sites.iter().all(|s| s.open == 0),
            "takedowns": {
                "requested": st.requested,
                "removed": st.removed,
                "median_time_to_removal_seconds": st.median.map(|d| d.as_secs()),
                "longest_time_to_removal_seconds": st.longest.map(|d| d.as_secs()),
            },
        })
    });
    json!({
        "report": "unlistd compliance report",
        "generator": concat!("unlistd ", env!("CARGO_PKG_VERSION")),
        "generated_at": rfc3339(r.generated_at),
        "scope": {
            "kind": kind,
            "incident": incident_id,
            "cohort": cohort,
            "since": rfc3339(r.since),
            "until": rfc3339(r.until),
        },
        "summary": r.summary(),
        "resolve_after_clean": r.resolve_after_clean,
        "incidents": r.incidents.iter().map(|i| incident(i, r.resolve_after_clean)).collect::<Vec<_>>(),
        "all_resolved": r.all_resolved(),
        "cohort": cohort_summary,
        "coverage": {
            "since": rfc3339(r.since),
            "until": rfc3339(r.until),
            "max_staleness_seconds": r.max_staleness.as_secs(),
            "complete": r.coverage_complete(),
            "sites": coverage_sites,
        },
        "audit": {
            "verified": r.audit.verified,
            "records": r.audit.records,
            "head": r.audit.head.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
            "first_broken": r.audit.first_broken.as_ref().map(|b| json!({
                "seq": b.seq,
                "kind": b.kind,
                "ref_id": b.ref_id,
                "message": b.message,
            })),
        },
    })
}

/// The signed document, pretty-printed (whitespace is not signed: the
/// signature covers the canonical form).
pub(crate) fn render(r: &Report, key: &SigningKey) -> Vec<u8> {
    let mut v = value(r);
    let sig = key.sign(canonical_json(&v).as_bytes());
    v["signature"] = json!({"alg": ALG, "key_id": key.id, "value": sig});
    let mut out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    out.push(b'\n');
    out
}

pub(super) fn verify(bytes: &[u8], key: &SigningKey) -> Verdict {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            // A report that no longer parses was altered (or cut off).
            return invalid(format!("not valid JSON any more ({e})"));
        }
    };
    let Value::Object(mut map) = v else {
        return Verdict::Unsigned {
            reason: "not a JSON object".into(),
        };
    };
    let Some(sig) = map.remove("signature") else {
        return Verdict::Unsigned {
            reason: "no \"signature\" field".into(),
        };
    };
    let field = |k: &str| sig.get(k).and_then(Value::as_str).unwrap_or("");
    let (alg, key_id, value) = (field("alg"), field("key_id"), field("value"));
    let signed = canonical_json(&Value::Object(Map::from_iter(map)));
    super::check_fields(key, signed.as_bytes(), alg, key_id, value)
}
