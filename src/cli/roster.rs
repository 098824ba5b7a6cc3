//! `import`: replace the roster with a CSV file, atomically.

use crate::telemetry::task_failure;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::progress::{self, Progress, Snapshot};
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
    let read = Arc::new(AtomicU64::new(0));
    let mut rows = roster::open_counted(file, encoding, read.clone()).map_err(|e| {
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
    let size = std::fs::metadata(file).map_or(0, |m| m.len());
    let (counted, ended) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let progress = Progress::start(format!("import {}", file.display()), "rows", {
        let (counted, ended) = (counted.clone(), ended.clone());
        move || import_snapshot(&read, size, &counted, &ended)
    });
    let started = Instant::now();
    let mut counting = rows
        .by_ref()
        .inspect(|_| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        // Polled once the file is read: the store compares and applies next.
        .chain(std::iter::from_fn(|| {
            ended.store(true, Ordering::Relaxed);
            None
        }));
    let outcome = store.import_roster(&mut counting, &pseudo, time::OffsetDateTime::now_utc())?;
    let last = matches!(outcome, ImportOutcome::Applied(_)).then(|| {
        let took = started.elapsed();
        #[allow(clippy::cast_precision_loss)]
        let rate = rows.rows as f64 / took.as_secs_f64().max(1e-3);
        format!(
            "{} rows in {} ({rate:.0} rows/s)",
            rows.rows,
            progress::short(took)
        )
    });
    // Problems and the summary come after the last progress line.
    progress.finish(last);
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

/// The file read so far against its size; once every row is read the
/// store is still comparing and applying them.
fn import_snapshot(read: &AtomicU64, size: u64, rows: &AtomicU64, ended: &AtomicBool) -> Snapshot {
    let read = read.load(Ordering::Relaxed);
    let ended = ended.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let fraction = if ended || size == 0 {
        1.0
    } else {
        (read as f64 / size as f64).min(0.999)
    };
    let detail = if ended {
        " · applying the changes".to_string()
    } else {
        format!(" · {} of {}", megabytes(read), megabytes(size))
    };
    Snapshot {
        fraction,
        count: rows.load(Ordering::Relaxed),
        detail,
    }
}

fn megabytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mb = n as f64 / 1e6;
    format!("{mb:.1} MB")
}
