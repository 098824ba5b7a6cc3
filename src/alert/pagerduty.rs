//! The PagerDuty channel: Events API v2, one alert per site and concern.

use serde_json::{Value, json};

use super::format::{Context, FIRST_N, detail_str, headline_for};
use crate::domain::incident::EventType;
use crate::store::EventIncident;

/// The dedup key of a site's exposures or of its degradation: one PagerDuty
/// alert per site and concern, so a mass leak pages once and its resolution
/// closes that same alert.
pub fn dedup_key(event: EventType, site: &str, details: Option<&Value>) -> String {
    match event {
        EventType::ExposureOpened
        | EventType::ExposureResolved
        | EventType::ExposureReminder
        | EventType::ExposureOverdue => {
            format!("unlistd/{site}/exposure")
        }
        EventType::SiteDegraded | EventType::SiteRecovered => format!("unlistd/{site}/degraded"),
        EventType::ReceiverFailing | EventType::ReceiverRecovered => {
            format!("unlistd/receiver/{}", detail_str(details, "receiver"))
        }
        EventType::Digest => "unlistd/digest".to_string(),
    }
}

/// The event for a group of incidents (or one figures event).
pub fn body(
    event: EventType,
    site: &str,
    incidents: &[EventIncident],
    ctx: &Context,
    routing_key: &str,
) -> String {
    let details = ctx.details.as_ref();
    let dedup_key = dedup_key(event, site, details);
    let action = match event {
        EventType::ExposureOpened
        | EventType::SiteDegraded
        | EventType::ExposureReminder
        | EventType::ExposureOverdue
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
        _ => headline_for(event, site, incidents, details),
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
