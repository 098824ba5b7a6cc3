//! `erase REF --reason TEXT`: a data-subject request, carried out now.

use super::actions::actor;
use super::{Cli, EXIT_OK, Failure, open_store, print_json, settings};
use crate::store::StoreError;
use crate::telemetry::task_failure;

pub(super) async fn erase(
    cli: &Cli,
    entry_ref: &str,
    reason: &str,
    by: Option<&str>,
) -> Result<u8, Failure> {
    if reason.trim().is_empty() {
        return Err(Failure::bad_input("--reason: a reason is required"));
    }
    let s = settings(cli)?;
    let who = actor(by);
    let (r, why, w) = (entry_ref.to_string(), reason.to_string(), who.clone());
    let erased = tokio::task::spawn_blocking(move || {
        let routes = s.alerts.routes();
        open_store(&s)?.erase(&r, &why, &w, time::OffsetDateTime::now_utc(), &routes)
    })
    .await
    .map_err(|e| Failure::operational(task_failure(&e)))?
    .map_err(|e| match e {
        StoreError::NotFound(m) | StoreError::Conflict(m) => {
            Failure::bad_input(format!("REF: {m}"))
        }
        e => e.into(),
    })?;
    if cli.json {
        print_json(&serde_json::json!({
            "ref": entry_ref,
            "erased": true,
            "by": who,
            "reason": reason,
            "incidents_withdrawn": erased.incidents_withdrawn,
            "pages_purged": erased.pages_purged,
        }))?;
    } else {
        println!(
            "{entry_ref}: erased by {who} ({reason}): number, name and address removed; \
             incidents withdrawn: {}; kept pages purged: {}",
            if erased.incidents_withdrawn.is_empty() {
                "none".to_string()
            } else {
                erased.incidents_withdrawn.join(", ")
            },
            erased.pages_purged
        );
    }
    Ok(EXIT_OK)
}
