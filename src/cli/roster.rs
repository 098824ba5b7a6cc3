//! `import`: replace the roster with a CSV file, atomically.

use crate::telemetry::task_failure;
use std::path::Path;

use super::{Cli, EXIT_OK, Failure, open_store, print_json, settings};
use crate::config::Settings;
use crate::domain::pseudonym::Pseudonymizer;
use crate::roster;
use crate::store::ImportOutcome;

pub(super) async fn import(
    cli: &Cli,
    file: &Path,
    encoding: roster::Encoding,
) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let file = file.to_path_buf();
    let json = cli.json;
    tokio::task::spawn_blocking(move || import_blocking(&s, &file, encoding, json))
        .await
        .map_err(|e| Failure::operational(task_failure(&e)))?
}

fn import_blocking(
    s: &Settings,
    file: &Path,
    encoding: roster::Encoding,
    json: bool,
) -> Result<u8, Failure> {
    // Read the header before touching the store: a wrong file changes nothing.
    let mut rows = roster::open(file, encoding).map_err(|e| {
        // One format for header and row problems, without a program prefix.
        for line in e.lines() {
            eprintln!("{line}");
        }
        Failure::bad_input(format!(
            "{}: import rejected ({} problems); the roster is unchanged",
            file.display(),
            e.problems.len()
        ))
    })?;
    let store = open_store(s)?;
    let pseudo = Pseudonymizer::new(&store.pseudonym_key()?);
    let outcome = store.import_roster(&mut rows, &pseudo, time::OffsetDateTime::now_utc())?;
    match outcome {
        ImportOutcome::Applied(c) => {
            if json {
                print_json(&serde_json::json!({
                    "added": c.added, "changed": c.changed, "removed": c.removed,
                    "unchanged": c.unchanged, "warnings": rows.warnings, "rows": rows.rows,
                }))?;
            } else {
                println!(
                    "imported {} rows: added {}, changed {}, removed {}, unchanged {}, warnings {}",
                    rows.rows, c.added, c.changed, c.removed, c.unchanged, rows.warnings
                );
                if rows.warnings > 0 {
                    println!(
                        "warnings: {} numbers lie outside the ranges the numbering plan has assigned (accepted)",
                        rows.warnings
                    );
                }
            }
            Ok(EXIT_OK)
        }
        ImportOutcome::Rejected { problems, total } => {
            let name = file.display();
            for p in &problems {
                eprintln!("{name}:{}: {}: {}", p.line, p.field, p.message);
            }
            if total > problems.len() as u64 {
                eprintln!("... and {} more problems", total - problems.len() as u64);
            }
            Err(Failure::bad_input(format!(
                "{name}: import rejected ({total} problems); the roster is unchanged"
            )))
        }
    }
}
