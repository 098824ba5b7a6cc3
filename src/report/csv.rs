//! The CSV report: one row per incident with the JSON report's fields;
//! lists (the closing probes) are space-separated within their cells. The
//! signature line is appended by the caller.

use super::Report;
use crate::audit::redact_url;
use crate::store::EvidenceProbe;
use crate::wire::rfc3339;

pub(crate) const COLUMNS: &[&str] = &[
    "id",
    "site",
    "entry_ref",
    "number_masked",
    "cohort",
    "exposed",
    "state",
    "first_seen",
    "last_seen",
    "resolved_at",
    "last_clean_before_time",
    "last_clean_before_page_sha256",
    "last_clean_before_url",
    "closing_probe_count",
    "closing_probe_times",
    "closing_probe_sites",
    "closing_probe_urls",
    "closing_probe_page_sha256",
    "audit_verified",
    "audit_records",
    "takedown_requested_at",
    "removed_at",
    "time_to_removal_seconds",
];

/// A spreadsheet would run a cell starting with `=`, `+`, `-` or `@` as a
/// formula: such cells get a leading `'`.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn list(ps: &[EvidenceProbe], f: impl Fn(&EvidenceProbe) -> String) -> String {
    ps.iter().map(f).collect::<Vec<_>>().join(" ")
}

pub(crate) fn render(r: &Report) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for ir in &r.incidents {
        let i = &ir.incident;
        let before = ir.last_clean_before.as_ref();
        let row = [
            i.id.clone(),
            i.site.clone(),
            i.entry_ref.clone(),
            i.masked_number.clone(),
            ir.cohort.clone().unwrap_or_default(),
            i.exposed
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            i.state.as_str().to_string(),
            rfc3339(i.first_seen),
            rfc3339(i.last_seen),
            i.resolved_at.map(rfc3339).unwrap_or_default(),
            before.map(|p| rfc3339(p.time)).unwrap_or_default(),
            before
                .and_then(|p| p.page_sha256.clone())
                .unwrap_or_default(),
            before
                .map(|p| redact_url(&p.url_masked))
                .unwrap_or_default(),
            ir.closing_probes.len().to_string(),
            list(&ir.closing_probes, |p| rfc3339(p.time)),
            list(&ir.closing_probes, |p| p.site.clone()),
            list(&ir.closing_probes, |p| redact_url(&p.url_masked)),
            list(&ir.closing_probes, |p| {
                p.page_sha256.clone().unwrap_or_else(|| "-".into())
            }),
            r.audit.verified.to_string(),
            r.audit.records.to_string(),
            super::removal(ir).0.map(rfc3339).unwrap_or_default(),
            super::removal(ir).1.map(rfc3339).unwrap_or_default(),
            super::time_to_removal(ir)
                .map(|d| d.as_secs().to_string())
                .unwrap_or_default(),
        ];
        let _ = w.write_record(row.iter().map(|c| cell(c)));
    }
    let mut out = w.into_inner().unwrap_or_default();
    out.extend_from_slice(
        format!(
            "# unlistd compliance report generated {} for {} to {}; audit trail {} ({} records)\n",
            rfc3339(r.generated_at),
            rfc3339(r.since),
            rfc3339(r.until),
            if r.audit.verified {
                "verified"
            } else {
                "NOT verified"
            },
            r.audit.records
        )
        .as_bytes(),
    );
    out
}
