//! The HTML report: one self-contained, printable page for a reader who is
//! not an engineer (a DPO, an auditor, a regulator). Inline CSS, no
//! scripts, no external resources; every value is escaped. The signature
//! comment is appended by the caller.

use std::fmt::Write;

use super::{
    Report, human_duration, human_time, incident_sentence, removal, removal_stats, svg,
    time_to_removal, timeline_of,
};
use crate::audit::redact_url;
use crate::domain::incident::IncidentState;
use crate::store::{EvidenceProbe, IncidentReport, KeptEvidence, ReportScope};

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root { --ink: #1b1f24; --muted: #5b6470; --line: #d5d9de; --ok: #11693a; --okbg: #e6f4ec;
        --bad: #a3121f; --badbg: #fbe9eb; --warn: #8a5a00; --warnbg: #fff4dc; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 24px auto; background: #fff; padding: 36px 44px;
       border: 1px solid var(--line); border-radius: 6px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 6px; }
p { margin: 6px 0 10px; }
.sub { color: var(--muted); margin: 0; }
.lead { font-size: 17px; }
.verdict { padding: 10px 14px; border-radius: 4px; margin: 12px 0; font-weight: 600; }
.ok { background: var(--okbg); color: var(--ok); border-left: 5px solid var(--ok); }
.bad { background: var(--badbg); color: var(--bad); border-left: 5px solid var(--bad); }
.warn { background: var(--warnbg); color: var(--warn); border-left: 5px solid var(--warn); }
table { width: 100%; border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { background: #f0f2f4; font-weight: 600; }
td.num, th.num { text-align: right; }
.hash, .mono { font-family: "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace;
               font-size: 12px; word-break: break-all; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.pill.resolved { background: var(--okbg); color: var(--ok); }
.pill.open, .pill.acknowledged { background: var(--badbg); color: var(--bad); }
.pill.withdrawn { background: var(--warnbg); color: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 8px 0; }
dt { color: var(--muted); }
dd { margin: 0; }
section.incident { border: 1px solid var(--line); border-radius: 4px; padding: 4px 18px 10px; margin: 16px 0; }
footer { margin-top: 32px; color: var(--muted); font-size: 12.5px; }
.picture { margin: 10px 0 14px; max-width: 100%; overflow: hidden; }
.picture svg { display: block; max-width: 100%; height: auto; }
@page { size: A4; margin: 14mm; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { border: 0; margin: 0; padding: 0; max-width: none; }
  section.incident, table, .verdict, .picture { break-inside: avoid; }
  .picture svg { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  h2 { break-after: avoid; }
}
"#;

fn state_pill(s: IncidentState) -> String {
    format!(r#"<span class="pill {0}">{0}</span>"#, esc(s.as_str()))
}

fn evidence_words(p: &EvidenceProbe) -> String {
    match &p.evidence {
        KeptEvidence::None => "fingerprint only".into(),
        KeptEvidence::Kept { .. } => "page kept".into(),
        KeptEvidence::Purged { at } => format!("page purged {}", human_time(*at)),
    }
}

fn probe_row(out: &mut String, what: &str, p: &EvidenceProbe) {
    let _ = write!(
        out,
        r#"<tr><td>{}</td><td>{}</td><td class="mono">{}</td><td class="hash">{}</td><td>{}</td></tr>"#,
        esc(&human_time(p.time)),
        esc(what),
        esc(&redact_url(&p.url_masked)),
        esc(p.page_sha256.as_deref().unwrap_or("—")),
        esc(&evidence_words(p)),
    );
}

/// Requested → removed, and the time between, for one incident's facts.
fn removal_rows(r: &IncidentReport) -> [(&'static str, String); 3] {
    let (requested, removed) = removal(r);
    [
        (
            "Removal requested",
            requested
                .map(human_time)
                .unwrap_or_else(|| "no request recorded".into()),
        ),
        (
            "Removed (gone by)",
            removed.map(human_time).unwrap_or_else(|| "not yet".into()),
        ),
        (
            "Time to removal",
            time_to_removal(r)
                .map(human_duration)
                .unwrap_or_else(|| "—".into()),
        ),
    ]
}

fn incident_section(out: &mut String, r: &IncidentReport, k: u32, now: crate::store::Ts) {
    let i = &r.incident;
    let _ = write!(
        out,
        r#"<section class="incident"><h3>Incident {} on {} {}</h3><p>{}</p><dl>"#,
        esc(&i.id),
        esc(&i.site),
        state_pill(i.state),
        esc(&incident_sentence(r, k)),
    );
    let exposed: Vec<&str> = i.exposed.iter().map(|f| f.as_str()).collect();
    let rows = [
        ("Entry", i.entry_ref.clone()),
        ("Number (masked)", i.masked_number.clone()),
        ("Cohort", r.cohort.clone().unwrap_or_else(|| "—".into())),
        ("What was shown", exposed.join(" and ")),
        ("First seen", human_time(i.first_seen)),
        ("Last seen", human_time(i.last_seen)),
        (
            "Closed",
            match (i.state, i.resolved_at) {
                (_, Some(at)) => human_time(at),
                (IncidentState::Withdrawn, None) => "withdrawn (entry erased)".into(),
                _ => "not yet".into(),
            },
        ),
        ("Checks that found it", r.exposed_probes.to_string()),
    ];
    let rows: Vec<(&str, String)> = rows.into_iter().chain(removal_rows(r)).collect();
    for (k, v) in rows {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    out.push_str("</dl><div class=\"picture\">");
    out.push_str(&svg::timeline(&timeline_of(r, now)));
    out.push_str("</div>");
    out.push_str(
        "<table><thead><tr><th>When (UTC)</th><th>What the check showed</th><th>Request (masked)</th>\
         <th>Page fingerprint (SHA-256)</th><th>Evidence</th></tr></thead><tbody>",
    );
    match &r.last_clean_before {
        Some(p) => probe_row(
            out,
            "Not listed: the last clean check before the exposure",
            p,
        ),
        None => {
            let _ = write!(
                out,
                r#"<tr><td>—</td><td colspan="4">No clean check before the first sighting</td></tr>"#
            );
        }
    }
    if let Some(p) = &r.opened_by {
        probe_row(out, "Listed: first seen", p);
    }
    if i.last_seen > i.first_seen {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>Listed: last seen</td><td colspan="3"></td></tr>"#,
            esc(&human_time(i.last_seen))
        );
    }
    for t in &r.takedowns {
        let _ = write!(
            out,
            r#"<tr class="takedown"><td>{}</td><td colspan="4">Removal requested via {}{} by {}</td></tr>"#,
            esc(&human_time(t.requested_at)),
            esc(&t.via),
            t.ticket
                .as_deref()
                .map(|x| format!(" (ticket {})", esc(x)))
                .unwrap_or_default(),
            esc(&t.actor)
        );
    }
    let n = r.closing_probes.len();
    for (idx, p) in r.closing_probes.iter().enumerate() {
        probe_row(
            out,
            &format!("Not listed: clean check {} of {}", idx + 1, k.max(n as u32)),
            p,
        );
    }
    closing_row(out, i, n, k);
    out.push_str("</tbody></table></section>");
}

/// The last row of an incident's table: how it ended, or that it has not.
fn closing_row(out: &mut String, i: &crate::store::IncidentView, n: usize, k: u32) {
    match (i.state, i.resolved_at) {
        (IncidentState::Resolved, Some(at)) => {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td colspan="4"><strong>Closed</strong>: the exposure has ended</td></tr>"#,
                esc(&human_time(at))
            );
        }
        (IncidentState::Withdrawn, _) => out.push_str(
            r#"<tr><td>—</td><td colspan="4"><strong>Withdrawn</strong>: the entry was erased, so it is no longer checked; its end was not confirmed</td></tr>"#,
        ),
        _ => {
            let _ = write!(
                out,
                r#"<tr><td>—</td><td colspan="4"><strong>Still open</strong>: {} of {} clean checks so far</td></tr>"#,
                n, k
            );
        }
    }
}

/// The report's page as one template, section by section in the order it
/// prints; the sections that repeat are already functions above.
#[allow(clippy::too_many_lines)]
pub(crate) fn render(r: &Report) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let scope = match &r.scope {
        ReportScope::Incident(id) => format!("incident {id}"),
        ReportScope::Filter {
            cohort: Some(c), ..
        } => format!("cohort {c}"),
        ReportScope::Filter { .. } => "all entries".into(),
    };
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="unlistd {ver}">
<title>Exposure report: {scope}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>Exposure report: {scope}</h1>
<p class="sub">Period {since} to {until} · generated {gen} by unlistd {ver}</p>
</header>
<h2>Summary</h2>
<p class="lead">{summary}</p>
"#,
        ver = esc(env!("CARGO_PKG_VERSION")),
        scope = esc(&scope),
        since = esc(&human_time(r.since)),
        until = esc(&human_time(r.until)),
        gen = esc(&human_time(r.generated_at)),
        summary = esc(&r.summary()),
    );
    let still_open = r.incidents.iter().any(|i| i.incident.state.is_active());
    let (cls, text) = match (r.incidents.is_empty(), r.all_resolved(), still_open) {
        (true, ..) => ("ok", "No exposure recorded in this period.".to_string()),
        (false, true, _) => (
            "ok",
            "Every exposure in this report has ended, each confirmed by consecutive clean checks."
                .to_string(),
        ),
        (false, false, true) => (
            "bad",
            "At least one exposure in this report is still open.".to_string(),
        ),
        (false, false, false) => (
            "warn",
            "No exposure in this report is still open, but at least one was withdrawn: its entry \
             was erased, so its end was not confirmed by clean checks."
                .to_string(),
        ),
    };
    let _ = write!(o, r#"<div class="verdict {cls}">{}</div>"#, esc(&text));
    let _ = write!(
        o,
        r#"<div class="verdict {}">{}</div>"#,
        if r.audit.verified { "ok" } else { "bad" },
        esc(&if r.audit.verified {
            format!(
                "Audit trail verified: all {} records are intact and match the stored checks.",
                r.audit.records
            )
        } else {
            format!(
                "Audit trail NOT verified: {}",
                r.audit
                    .first_broken
                    .as_ref()
                    .map(|b| b.to_string())
                    .unwrap_or_default()
            )
        })
    );

    o.push_str("<h2>How to read this report</h2><p>unlistd checks public directory sites for the operator's \
        unlisted subscribers. Each check either finds the protected data <em>listed</em>, finds it <em>not \
        listed</em> (the site answered and positively showed no such listing), or is inconclusive (blocked, \
        timed out, unreadable), which never counts as not listed. An exposure is closed only after ");
    let _ = write!(
        o,
        "{} consecutive clean checks. The page fingerprint is the SHA-256 hash of the page as the site sent \
         it; where the page was kept, it can be produced and its hash recomputed.</p>",
        r.resolve_after_clean
    );

    if let Some(c) = &r.cohort {
        let _ = write!(
            o,
            "<h2>Cohort {}</h2><dl><dt>Entries</dt><dd>{} ({} on the roster now, {} erased after leaving it)</dd>\
             <dt>Entries exposed</dt><dd>{}</dd><dt>All exposures ended</dt><dd>{}</dd></dl>",
            esc(&c.tag),
            c.entries,
            c.active,
            c.erased,
            c.entries_exposed,
            if c.sites.iter().all(|s| s.open == 0) {
                "yes"
            } else {
                "no"
            }
        );
        if !c.sites.is_empty() {
            o.push_str("<table><thead><tr><th>Site</th><th class=\"num\">Entries exposed</th><th class=\"num\">Incidents</th><th class=\"num\">Still open</th></tr></thead><tbody>");
            for s in &c.sites {
                let _ = write!(
                    o,
                    r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    esc(&s.site),
                    s.entries,
                    s.incidents,
                    s.open
                );
            }
            o.push_str("</tbody></table>");
        }
        let _ = write!(
            o,
            "<h3>Exposures of the cohort over time</h3><div class=\"picture\">{}</div>",
            svg::cohort_chart(
                &c.tag,
                &r.incidents
                    .iter()
                    .map(|i| (i.incident.first_seen, i.incident.resolved_at))
                    .collect::<Vec<_>>(),
                r.since.min(
                    r.incidents
                        .iter()
                        .map(|i| i.incident.first_seen)
                        .min()
                        .unwrap_or(r.since)
                ),
                r.until,
            )
        );
        let st = removal_stats(&r.incidents);
        let _ = write!(
            o,
            "<h3>Takedowns</h3><dl class=\"removal\"><dt>Incidents with a removal request</dt><dd>{}</dd>\
             <dt>Removed since</dt><dd>{}</dd><dt>Median time to removal</dt><dd>{}</dd>\
             <dt>Longest time to removal</dt><dd>{}</dd></dl>",
            st.requested,
            st.removed,
            esc(&st.median.map(human_duration).unwrap_or_else(|| "—".into())),
            esc(&st.longest.map(human_duration).unwrap_or_else(|| "—".into())),
        );
    }

    let _ = write!(o, "<h2>Incidents ({})</h2>", r.incidents.len());
    if r.incidents.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        o.push_str("<table><thead><tr><th>Incident</th><th>Site</th><th>Entry</th><th>Number</th><th>Shown</th>\
            <th>State</th><th>First seen</th><th>Closed</th><th>Time to removal</th></tr></thead><tbody>");
        for ir in &r.incidents {
            let i = &ir.incident;
            let _ = write!(
                o,
                r#"<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(&i.id),
                esc(&i.site),
                esc(&i.entry_ref),
                esc(&i.masked_number),
                esc(&i
                    .exposed
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")),
                state_pill(i.state),
                esc(&human_time(i.first_seen)),
                esc(&i.resolved_at.map(human_time).unwrap_or_else(|| "—".into())),
                esc(&time_to_removal(ir)
                    .map(human_duration)
                    .unwrap_or_else(|| "—".into())),
            );
        }
        o.push_str("</tbody></table>");
        for ir in &r.incidents {
            incident_section(&mut o, ir, r.resolve_after_clean, r.generated_at);
        }
    }

    let _ = write!(
        o,
        "<h2>Coverage</h2><p>Was every entry in scope checked on every site at least every {} from {} to {}?</p>",
        esc(&human_duration(r.max_staleness)),
        esc(&human_time(r.since)),
        esc(&human_time(r.until))
    );
    if r.coverage.is_empty() {
        o.push_str("<p>No coverage to assess for this period.</p>");
    } else {
        let _ = write!(
            o,
            r#"<div class="verdict {}">{}</div>"#,
            if r.coverage_complete() { "ok" } else { "warn" },
            if r.coverage_complete() {
                "Yes: no gaps."
            } else {
                "No: there were gaps, listed below."
            }
        );
        o.push_str("<table><thead><tr><th>Site</th><th class=\"num\">Entries</th><th class=\"num\">Covered throughout</th>\
            <th class=\"num\">Gaps</th><th>Longest gap</th></tr></thead><tbody>");
        for c in &r.coverage {
            let _ = write!(
                o,
                r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                esc(&c.site),
                c.entries,
                c.covered,
                c.gaps,
                esc(&c
                    .longest_gap
                    .map(human_duration)
                    .unwrap_or_else(|| "—".into()))
            );
        }
        o.push_str("</tbody></table>");
        let gaps: Vec<_> = r
            .coverage
            .iter()
            .flat_map(|c| c.examples.iter().map(move |g| (c.site.as_str(), g)))
            .collect();
        if !gaps.is_empty() {
            o.push_str("<h3>Gaps</h3><table><thead><tr><th>Site</th><th>Entry</th><th>No conclusive check from</th><th>until</th></tr></thead><tbody>");
            for (site, g) in gaps {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(site),
                    esc(&g.entry_ref),
                    esc(&human_time(g.from)),
                    esc(&human_time(g.to))
                );
            }
            o.push_str("</tbody></table>");
        }
    }

    o.push_str("<h2>Audit trail</h2><p>Every check, every opening and closing of an incident and every roster \
        import is written to a hash-chained trail in the same transaction as the change itself. Changing or \
        deleting a recorded check afterwards breaks the chain.</p><dl>");
    let _ = write!(
        o,
        "<dt>Result</dt><dd>{}</dd><dt>Records</dt><dd>{}</dd>",
        if r.audit.verified {
            "verified"
        } else {
            "NOT verified"
        },
        r.audit.records
    );
    if let Some(h) = &r.audit.head {
        let _ = write!(
            o,
            r#"<dt>Latest record</dt><dd>{}</dd><dt>Its hash</dt><dd class="hash">{}</dd>"#,
            h.seq,
            esc(&h.hash)
        );
    }
    if let Some(b) = &r.audit.first_broken {
        let _ = write!(o, "<dt>First problem</dt><dd>{}</dd>", esc(&b.to_string()));
    }
    o.push_str(
        "</dl><footer>This report is signed (HMAC-SHA-256, see the comment at the end of the file). \
         Check it with <span class=\"mono\">unlistd report verify FILE</span>; check the trail with \
         <span class=\"mono\">unlistd audit verify</span>. Numbers are masked; names and addresses are \
         never included.</footer>\n</main>\n</body>\n</html>\n",
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x&y")</script> 'z'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; &#39;z&#39;"
        );
    }
}
