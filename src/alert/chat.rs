//! Message bodies for the chat and paging channels: Slack and Teams
//! incoming webhooks, PagerDuty Events API v2.
//!
//! Like the webhook body, they carry refs and masked numbers only. A mass
//! leak is one message naming the count and the first [`FIRST_N`] refs.

use serde_json::{Value, json};

use crate::domain::incident::EventType;
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
}

fn detail_str<'a>(details: Option<&'a Value>, key: &str) -> &'a str {
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

/// The body text below the headline: incident lines or event figures.
fn text(event: EventType, incidents: &[EventIncident], ctx: &Context) -> Option<String> {
    if !incidents.is_empty() {
        Some(lines(incidents))
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
                "• {} ({}) exposed: {}",
                i.entry_ref,
                i.masked_number,
                i.exposed
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
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

pub fn slack(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    let head = headline(event, site, incidents.len(), ctx.details.as_ref());
    let icon = match event {
        EventType::ExposureOpened
        | EventType::SiteDegraded
        | EventType::ExposureReminder
        | EventType::ReceiverFailing => ":rotating_light:",
        EventType::Digest => ":clipboard:",
        _ => ":white_check_mark:",
    };
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *{head}*")}}),
    ];
    if let Some(t) = text(event, incidents, ctx) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}));
    }
    if let Some(url) = &ctx.dashboard_url {
        blocks.push(json!({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open dashboard"}, "url": url}
        ]}));
    }
    json!({"text": head, "blocks": blocks}).to_string()
}

pub fn teams(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    let head = headline(event, site, incidents.len(), ctx.details.as_ref());
    let mut body = vec![
        json!({"type": "TextBlock", "text": head, "weight": "Bolder", "size": "Medium", "wrap": true}),
    ];
    if let Some(t) = text(event, incidents, ctx) {
        body.push(json!({"type": "TextBlock", "text": t, "wrap": true}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = &ctx.dashboard_url {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open dashboard", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]
    })
    .to_string()
}

/// The dedup key of a site's exposures or of its degradation: one PagerDuty
/// alert per site and concern, so a mass leak pages once and its resolution
/// closes that same alert.
pub fn pagerduty_dedup_key(event: EventType, site: &str, details: Option<&Value>) -> String {
    match event {
        EventType::ExposureOpened | EventType::ExposureResolved | EventType::ExposureReminder => {
            format!("unlistd/{site}/exposure")
        }
        EventType::SiteDegraded | EventType::SiteRecovered => format!("unlistd/{site}/degraded"),
        EventType::ReceiverFailing | EventType::ReceiverRecovered => {
            format!("unlistd/receiver/{}", detail_str(details, "receiver"))
        }
        EventType::Digest => "unlistd/digest".to_string(),
    }
}

pub fn pagerduty(
    event: EventType,
    site: &str,
    incidents: &[EventIncident],
    ctx: &Context,
    routing_key: &str,
) -> String {
    let details = ctx.details.as_ref();
    let dedup_key = pagerduty_dedup_key(event, site, details);
    let action = match event {
        EventType::ExposureOpened
        | EventType::SiteDegraded
        | EventType::ExposureReminder
        | EventType::ReceiverFailing
        | EventType::Digest => "trigger",
        EventType::ReceiverRecovered => "resolve",
        // Resolve only when nothing on the site is still exposed; otherwise
        // update the open alert's summary.
        EventType::ExposureResolved if ctx.remaining_open == 0 => "resolve",
        EventType::ExposureResolved => "trigger",
        EventType::SiteRecovered => "resolve",
    };
    let summary = match (event, action) {
        (EventType::ExposureResolved, "trigger") => {
            format!(
                "{} protected entries still exposed on {site}",
                ctx.remaining_open
            )
        }
        _ => headline(event, site, incidents.len(), details),
    };
    let mut v: Value = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
    });
    if action == "trigger" {
        v["payload"] = json!({
            "summary": summary,
            "source": "unlistd",
            "severity": match event {
                EventType::SiteDegraded | EventType::ReceiverFailing => "warning",
                EventType::Digest => "info",
                _ => "critical",
            },
            "component": site,
            "class": event.as_str(),
            "custom_details": {
                "count": incidents.len(),
                "entry_refs": incidents.iter().take(FIRST_N).map(|i| i.entry_ref.clone()).collect::<Vec<_>>(),
            },
        });
        if let Some(url) = &ctx.dashboard_url {
            v["links"] = json!([{"href": url, "text": "unlistd dashboard"}]);
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExposedField;
    use crate::domain::incident::IncidentState;

    fn inc(n: usize) -> Vec<EventIncident> {
        (0..n)
            .map(|i| EventIncident {
                id: format!("inc_{i}"),
                entry_ref: format!("R-{i}"),
                masked_number: "+45 13 50 •• ••".into(),
                exposed: vec![ExposedField::Number],
                state: IncidentState::Open,
                first_seen: time::OffsetDateTime::UNIX_EPOCH,
                last_seen: time::OffsetDateTime::UNIX_EPOCH,
                resolved_at: None,
            })
            .collect()
    }

    #[test]
    fn slack_and_teams_name_the_count_and_the_first_refs() {
        let ctx = Context {
            dashboard_url: Some("https://unlistd.example.net/dashboard".into()),
            remaining_open: 0,
            details: None,
        };
        let s: Value =
            serde_json::from_str(&slack(EventType::ExposureOpened, "118.dk", &inc(500), &ctx))
                .unwrap();
        assert_eq!(s["text"], "500 protected entries exposed on 118.dk");
        let text = s["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(text.contains("R-19") && !text.contains("R-20") && text.contains("480 more"));
        assert_eq!(
            s["blocks"][2]["elements"][0]["url"],
            "https://unlistd.example.net/dashboard"
        );
        let t: Value =
            serde_json::from_str(&teams(EventType::ExposureOpened, "118.dk", &inc(3), &ctx))
                .unwrap();
        assert_eq!(
            t["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(t["attachments"][0]["content"]["type"], "AdaptiveCard");
    }

    #[test]
    fn pagerduty_triggers_and_resolves_one_alert_per_site() {
        let ctx = Context::default();
        let open: Value = serde_json::from_str(&pagerduty(
            EventType::ExposureOpened,
            "118.dk",
            &inc(2),
            &ctx,
            "k",
        ))
        .unwrap();
        assert_eq!(open["event_action"], "trigger");
        assert_eq!(open["payload"]["severity"], "critical");
        let partial = Context {
            remaining_open: 1,
            ..Context::default()
        };
        let upd: Value = serde_json::from_str(&pagerduty(
            EventType::ExposureResolved,
            "118.dk",
            &inc(1),
            &partial,
            "k",
        ))
        .unwrap();
        assert_eq!(upd["event_action"], "trigger");
        assert_eq!(upd["dedup_key"], open["dedup_key"]);
        let res: Value = serde_json::from_str(&pagerduty(
            EventType::ExposureResolved,
            "118.dk",
            &inc(1),
            &ctx,
            "k",
        ))
        .unwrap();
        assert_eq!(res["event_action"], "resolve");
        assert_eq!(res["dedup_key"], open["dedup_key"]);
        assert!(res.get("payload").is_none());
    }
}
