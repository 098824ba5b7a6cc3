//! What the human-readable channels (Slack, Teams, PagerDuty, email) say:
//! the headline, the incident lines and the figures of events that carry
//! figures rather than incidents.
//!
//! Like the webhook body, they carry refs and masked numbers only. A mass
//! leak is one message naming the count and the first [`FIRST_N`] refs.

use serde_json::Value;

use crate::domain::incident::{EventType, IncidentState};
use crate::store::EventIncident;

/// Refs listed by name in a chat message; the rest are counted.
pub const FIRST_N: usize = 20;

/// What a body needs besides the incidents.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub dashboard_url: Option<String>,
    /// Open incidents left on the site after this event (PagerDuty decides
    /// between `resolve` and an updated `trigger` with it).
    pub remaining_open: u64,
    /// The event's payload (digest figures, receiver failure details).
    pub details: Option<Value>,
    /// The site's `takedown_contact`, for exposure events.
    pub takedown_contact: Option<String>,
}

pub(crate) fn detail_str<'a>(details: Option<&'a Value>, key: &str) -> &'a str {
    details
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .unwrap_or("?")
}

fn detail_u64(details: Option<&Value>, key: &str) -> u64 {
    details
        .and_then(|d| d.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Extra lines for events that carry figures rather than incidents.
pub fn detail_lines(event: EventType, details: Option<&Value>) -> Option<String> {
    let d = details?;
    match event {
        EventType::Digest => {
            let mut out = vec![format!(
                "Roster: {} entries · open incidents: {} ({} acknowledged) · active silences: {}",
                detail_u64(Some(d), "roster_size"),
                detail_u64(Some(d), "open_incidents"),
                detail_u64(Some(d), "acknowledged_incidents"),
                detail_u64(Some(d), "active_silences"),
            )];
            for s in d
                .get("sites")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let age = s
                    .get("oldest_probe_age_seconds")
                    .and_then(Value::as_u64)
                    .map(|a| format!("{:.1} h", a as f64 / 3600.0))
                    .unwrap_or_else(|| "-".into());
                out.push(format!(
                    "• {}: {} · probes 24 h: {} clean, {} exposed, {} inconclusive · oldest probe {}",
                    detail_str(Some(s), "name"),
                    detail_str(Some(s), "state"),
                    detail_u64(Some(s), "clean"),
                    detail_u64(Some(s), "exposed"),
                    detail_u64(Some(s), "inconclusive"),
                    age,
                ));
            }
            if let Some(h) = d.get("audit_head").filter(|h| !h.is_null()) {
                out.push(format!(
                    "Audit chain head: #{} {}",
                    detail_u64(Some(h), "seq"),
                    detail_str(Some(h), "hash")
                ));
            }
            Some(out.join("\n"))
        }
        EventType::SiteDegraded => Some(format!("Why: {}", detail_str(Some(d), "reason"))),
        EventType::ReceiverFailing => Some(format!(
            "Last error: {} · attempts on the oldest message: {} · undelivered events: {}",
            detail_str(Some(d), "error"),
            detail_u64(Some(d), "attempts"),
            detail_u64(Some(d), "undelivered_events"),
        )),
        _ => None,
    }
}

/// One-line headline, e.g. "3 protected entries exposed on 118.dk".
pub fn headline(event: EventType, site: &str, n: usize, details: Option<&Value>) -> String {
    let entries = if n == 1 { "entry" } else { "entries" };
    match event {
        EventType::ExposureReminder => {
            format!("Reminder: {n} protected {entries} still exposed on {site}")
        }
        EventType::ExposureOverdue => format!(
            "Takedown overdue: {n} protected {entries} still listed on {site} past the removal deadline"
        ),
        EventType::Digest => format!(
            "unlistd daily digest: {} open incident(s), {} probes in the last 24 h",
            detail_u64(details, "open_incidents"),
            detail_u64(details, "probes_24h"),
        ),
        EventType::ReceiverFailing => format!(
            "Alert receiver {} is failing: its alerts are not getting through",
            detail_str(details, "receiver")
        ),
        EventType::ReceiverRecovered => format!(
            "Alert receiver {} delivers again",
            detail_str(details, "receiver")
        ),
        EventType::ExposureOpened => format!("{n} protected {entries} exposed on {site}"),
        EventType::ExposureResolved => {
            format!("{n} exposure(s) on {site} resolved: no longer shown")
        }
        EventType::SiteDegraded => {
            format!("{site} degraded: unlistd cannot currently see what it shows")
        }
        EventType::SiteRecovered => format!("{site} recovered: canaries pass again"),
    }
}

/// The headline of a message about `incidents`: [`headline`]; an
/// `exposure.resolved` whose incidents were withdrawn (their entries were
/// erased) says so rather than "no longer shown", which nobody checked;
/// for `exposure.opened` the root-cause hint when one cohort holds most of
/// the message ("57 protected entries exposed on 118.dk — 57 of 57 in
/// cohort migration-b2: likely one cause").
pub fn headline_for(
    event: EventType,
    site: &str,
    incidents: &[EventIncident],
    details: Option<&Value>,
) -> String {
    let n = incidents.len();
    let withdrawn = incidents
        .iter()
        .filter(|i| i.state == IncidentState::Withdrawn)
        .count();
    match event {
        EventType::ExposureResolved if withdrawn > 0 && withdrawn == n => format!(
            "{n} exposure(s) on {site} withdrawn: the entries were erased and are no longer checked"
        ),
        EventType::ExposureResolved if withdrawn > 0 => format!(
            "{n} exposure(s) on {site} ended: {} no longer shown, {withdrawn} withdrawn (entries \
             erased, no longer checked)",
            n - withdrawn
        ),
        _ => {
            let head = headline(event, site, n, details);
            match cohort_hint(event, incidents) {
                Some(hint) => format!("{head} — {hint}"),
                None => head,
            }
        }
    }
}

/// Escapes what Slack's mrkdwn and Teams' text read as markup (`<…>` makes
/// a link or a mention, `&` an entity) in a value the operator or a site
/// chose (an entry ref, a site name).
pub fn escape_chat(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "57 of 57 in cohort migration-b2: likely one cause", when the leading
/// cohort of an `exposure.opened` message of two or more incidents holds
/// more than half of them.
pub fn cohort_hint(event: EventType, incidents: &[EventIncident]) -> Option<String> {
    let n = incidents.len();
    if event != EventType::ExposureOpened || n < 2 {
        return None;
    }
    let lead = crate::wire::cohort_counts(incidents).into_iter().next()?;
    let tag = lead.cohort?;
    (lead.count * 2 > n).then(|| format!("{} of {n} in cohort {tag}: likely one cause", lead.count))
}

/// The body text below the headline: incident lines or event figures.
pub(crate) fn text(event: EventType, incidents: &[EventIncident], ctx: &Context) -> Option<String> {
    if !incidents.is_empty() {
        let mut t = lines(incidents);
        if let Some(c) = ctx
            .takedown_contact
            .as_deref()
            .filter(|_| event.is_exposure())
        {
            t.push_str(&format!("\nTakedown contact: {c}"));
        }
        Some(t)
    } else {
        detail_lines(event, ctx.details.as_ref())
    }
}

pub(crate) fn lines(incidents: &[EventIncident]) -> String {
    let mut out: Vec<String> = incidents
        .iter()
        .take(FIRST_N)
        .map(|i| {
            format!(
                "• {} ({}) exposed: {}{}",
                i.entry_ref,
                i.masked_number,
                i.exposed
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if i.state == IncidentState::Withdrawn {
                    " (withdrawn: entry erased)"
                } else {
                    ""
                }
            )
        })
        .collect();
    if incidents.len() > FIRST_N {
        out.push(format!(
            "… and {} more (full list in the API and reports)",
            incidents.len() - FIRST_N
        ));
    }
    out.join("\n")
}
