//! The Slack channel: an incoming webhook, Block Kit body.

use serde_json::json;

use super::format::{Context, escape_chat, headline_for, text};
use crate::domain::incident::EventType;
use crate::store::EventIncident;

/// The body for a group of incidents (or one figures event).
pub fn body(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    // Refs and site names are the operator's text: in mrkdwn, `<…>` would
    // be a link or a mention and `&` an entity.
    let head = escape_chat(&headline_for(event, site, incidents, ctx.details.as_ref()));
    let icon = match event {
        EventType::ExposureOpened
        | EventType::SiteDegraded
        | EventType::ExposureReminder
        | EventType::ExposureOverdue
        | EventType::ReceiverFailing => ":rotating_light:",
        EventType::Digest => ":clipboard:",
        _ => ":white_check_mark:",
    };
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *{head}*")}}),
    ];
    if let Some(t) = text(event, incidents, ctx) {
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape_chat(&t)}}));
    }
    if let Some(url) = &ctx.dashboard_url {
        blocks.push(json!({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open dashboard"}, "url": url}
        ]}));
    }
    json!({"text": head, "blocks": blocks}).to_string()
}
