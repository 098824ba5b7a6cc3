//! `unlistd takedown INCIDENT --via TEXT [--ticket REF]`: records that
//! removal of the incident's listing was requested.

use super::actions::{actor, ops_failure};
use super::{Cli, EXIT_OK, Failure, open, print_json};
use crate::ops::{self, OpsError};
use crate::store::{StoreError, blocking};
use crate::wire;

pub(super) async fn takedown(
    cli: &Cli,
    id: &str,
    via: &str,
    ticket: Option<&str>,
    by: Option<&str>,
) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let who = actor(by);
    let t = ops::takedown(app.store(), id, via, ticket, &who)
        .await
        .map_err(|e| match e {
            OpsError::Store(StoreError::NotFound(m) | StoreError::Conflict(m)) => {
                Failure::bad_input(format!("ID: {m}"))
            }
            e => ops_failure(e),
        })?;
    let store = app.store().clone();
    let incidents = blocking(move || store.incidents(false)).await?;
    let contact = incidents.into_iter().find(|i| i.id == id).and_then(|i| {
        app.settings
            .sites
            .iter()
            .find(|s| s.name == i.site)
            .and_then(|s| s.takedown_contact.clone())
    });
    let w = wire::Takedown::from(&t);
    if cli.json {
        let mut v = serde_json::to_value(&w).unwrap_or_default();
        v["takedown_contact"] = serde_json::json!(contact);
        print_json(&v)?;
    } else {
        println!(
            "{}: takedown requested via {} by {} at {}{}",
            w.incident_id,
            w.via,
            w.by,
            w.requested_at,
            w.ticket
                .as_deref()
                .map(|t| format!(" (ticket {t})"))
                .unwrap_or_default()
        );
        if let Some(c) = contact {
            println!("takedown contact for this site: {c}");
        }
    }
    Ok(EXIT_OK)
}
