//! The commands that act: `ack`, `dismiss` (and `--undo`), `silence
//! add|list|end`. Validation is `crate::ops`'s, shared with the API; here
//! its errors name the flags.

use super::views::silence_line;
use super::{Cli, EXIT_OK, Failure, SilenceAction, open, print_json};
use crate::ops;
use crate::store::{IncidentAction, StoreError, blocking};
use crate::wire;

/// Who is at the keyboard, for the record.
pub(super) fn actor(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

pub(super) async fn incident_action(
    cli: &Cli,
    id: &str,
    action: IncidentAction,
    reason: &str,
    by: Option<&str>,
) -> Result<u8, Failure> {
    let reason = ops::Reason::new(reason).map_err(ops_failure)?;
    let app = open(cli).await?;
    let who = actor(by);
    let state = ops::incident_action(app.store(), id, action, &reason, &who)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(m) | StoreError::Conflict(m) => {
                Failure::bad_input(format!("ID: {m}"))
            }
            e => e.into(),
        })?;
    let res = wire::ActionResult {
        id: id.to_string(),
        action: action.as_str(),
        state: state.as_str(),
        by: who,
        reason: reason.as_str().to_string(),
    };
    if cli.json {
        print_json(&res)?;
    } else {
        println!(
            "{}: {} by {} ({}); state now {}",
            res.id, res.action, res.by, res.reason, res.state
        );
    }
    Ok(EXIT_OK)
}

/// A refused action, naming the flag at fault.
pub(super) fn ops_failure(e: ops::OpsError) -> Failure {
    match e {
        ops::OpsError::Invalid { field, message } => {
            let flag = match field {
                ops::Field::Site => "site",
                ops::Field::Type => "type",
                ops::Field::Cohort => "cohort",
                ops::Field::Duration => "for",
                ops::Field::Reason => "reason",
                ops::Field::Via => "via",
            };
            Failure::bad_input(format!("--{flag}: {message}"))
        }
        ops::OpsError::Store(e) => e.into(),
    }
}

pub(super) async fn silence(cli: &Cli, action: &SilenceAction) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let now = time::OffsetDateTime::now_utc();
    match action {
        SilenceAction::Add {
            site,
            event_type,
            cohort,
            duration,
            reason,
            by,
        } => {
            let by = actor(by.as_deref());
            let request = ops::SilenceRequest {
                site: site.as_deref(),
                event_type: event_type.as_deref(),
                cohort: cohort.as_deref(),
                duration,
                reason,
                by: &by,
            };
            let id = ops::add_silence(&store, &app.settings.sites, request)
                .await
                .map_err(ops_failure)?;
            if cli.json {
                print_json(&serde_json::json!({ "id": id }))?;
            } else {
                println!("{id}");
            }
        }
        SilenceAction::List { all } => {
            let all = *all;
            let list = blocking(move || store.silences(now, all)).await?;
            let wire = wire::Silences {
                silences: list.iter().map(wire::Silence::from).collect(),
            };
            if cli.json {
                print_json(&wire)?;
            } else if wire.silences.is_empty() {
                println!("no silences");
            } else {
                for s in &wire.silences {
                    println!("{}", silence_line(s));
                }
            }
        }
        SilenceAction::End { id, by } => {
            if !ops::end_silence(&store, id, &actor(by.as_deref())).await? {
                return Err(Failure::bad_input(format!("ID: no active silence {id:?}")));
            }
            println!("{id} ended");
        }
    }
    Ok(EXIT_OK)
}
