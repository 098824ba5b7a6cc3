//! The Microsoft Teams channel: an incoming webhook, an Adaptive Card.

use serde_json::json;

use super::format::{Context, escape_chat, headline_for, text};
use crate::domain::incident::EventType;
use crate::store::EventIncident;

/// The body for a group of incidents (or one figures event).
pub fn body(event: EventType, site: &str, incidents: &[EventIncident], ctx: &Context) -> String {
    // Refs and site names are the operator's text: Teams renders a subset
    // of markdown and HTML entities in a TextBlock.
    let head = escape_chat(&headline_for(event, site, incidents, ctx.details.as_ref()));
    let mut body = vec![
        json!({"type": "TextBlock", "text": head, "weight": "Bolder", "size": "Medium", "wrap": true}),
    ];
    if let Some(t) = text(event, incidents, ctx) {
        body.push(json!({"type": "TextBlock", "text": escape_chat(&t), "wrap": true}));
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
