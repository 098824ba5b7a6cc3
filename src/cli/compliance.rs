//! Compliance: `report` (signed HTML/JSON/CSV), `report verify`, `audit
//! verify`.

use crate::telemetry::task_failure;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Cli, EXIT_FAILURE, EXIT_OK, Failure, ReportFormat, open_store, print_json, settings};
use crate::config::Settings;
use crate::report::{self, Format, KeyHome, Verdict};
use crate::store::{ReportScope, Store, Ts};

/// `report`'s flags.
pub(super) struct ReportArgs {
    pub(super) incident: Option<String>,
    pub(super) cohort: Option<String>,
    pub(super) since: Option<String>,
    pub(super) until: Option<String>,
    pub(super) format: Option<ReportFormat>,
    pub(super) out: Option<PathBuf>,
}

/// `--since`/`--until`: RFC 3339, or a date (midnight UTC; for `--until`
/// the end of that day).
fn parse_time(flag: &str, s: &str, end_of_day: bool) -> Result<Ts, Failure> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s.trim(), &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s.trim(), &fmt) {
        Ok(d) => {
            let t = d.midnight().assume_utc();
            Ok(if end_of_day {
                t + time::Duration::days(1)
            } else {
                t
            })
        }
        Err(_) => Err(Failure::bad_input(format!(
            "{flag}: expected an RFC 3339 time (2026-11-27T21:40:00Z) or a date (2026-11-27)"
        ))),
    }
}

pub(super) async fn report(cli: &Cli, a: ReportArgs) -> Result<u8, Failure> {
    let scope = scope(&a)?;
    let format = match (a.format, a.out.as_deref().and_then(Format::from_path)) {
        (Some(ReportFormat::Html), _) => Format::Html,
        (Some(ReportFormat::Json), _) => Format::Json,
        (Some(ReportFormat::Csv), _) => Format::Csv,
        (None, Some(f)) => f,
        (None, None) if cli.json => Format::Json,
        (None, None) => Format::Html,
    };
    let s = settings(cli)?;
    let req = report::Request::now(&s, scope);
    let built = tokio::task::spawn_blocking(move || build(&s, &req, format))
        .await
        .map_err(|e| Failure::operational(task_failure(&e)))?;
    let (rep, key, bytes) = built?;
    if !rep.audit.verified {
        eprintln!(
            "unlistd: warning: the audit trail does not verify; the report says so ({})",
            rep.audit
                .first_broken
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_default()
        );
    }
    let Some(path) = &a.out else {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|_| out.flush())
            .map_err(|e| Failure::operational(format!("cannot write the report: {e}")))?;
        return Ok(EXIT_OK);
    };
    write_file_atomically(path, &bytes)
        .map_err(|e| Failure::operational(format!("cannot write {}: {e}", path.display())))?;
    let fmt = match format {
        Format::Html => "html",
        Format::Json => "json",
        Format::Csv => "csv",
    };
    if cli.json {
        print_json(&serde_json::json!({
            "out": path.display().to_string(), "format": fmt,
            "incidents": rep.incidents.len(), "audit_verified": rep.audit.verified,
            "key_id": key.id,
        }))?;
    } else {
        println!(
            "report written to {} ({fmt}): {} incidents; audit trail {}; signed with key {}",
            path.display(),
            rep.incidents.len(),
            if rep.audit.verified {
                "verified"
            } else {
                "NOT verified"
            },
            key.id
        );
    }
    Ok(EXIT_OK)
}

/// What the flags ask a report of: one incident, or a cohort and/or
/// period.
fn scope(a: &ReportArgs) -> Result<ReportScope, Failure> {
    let scope = match (&a.incident, &a.cohort, &a.since, &a.until) {
        (Some(id), None, None, None) => ReportScope::Incident(id.clone()),
        (Some(_), ..) => {
            return Err(Failure::bad_input(
                "report: --incident cannot be combined with --cohort, --since or --until",
            ));
        }
        (None, None, None, None) => {
            return Err(Failure::bad_input(
                "report: give --incident ID, --cohort TAG, or a period with --since/--until",
            ));
        }
        (None, cohort, since, until) => ReportScope::Filter {
            cohort: cohort.clone(),
            since: since
                .as_deref()
                .map(|s| parse_time("--since", s, false))
                .transpose()?,
            until: until
                .as_deref()
                .map(|s| parse_time("--until", s, true))
                .transpose()?,
        },
    };
    if let ReportScope::Filter {
        since: Some(s),
        until: Some(u),
        ..
    } = &scope
        && u <= s
    {
        return Err(Failure::bad_input("report: --until must be after --since"));
    }
    Ok(scope)
}

/// Builds, signs and renders the report (blocking: it reads the store).
fn build(
    s: &Settings,
    req: &report::Request,
    format: Format,
) -> Result<(report::Report, report::SigningKey, Vec<u8>), Failure> {
    let store = open_store(s)?;
    if let ReportScope::Filter {
        cohort: Some(c), ..
    } = &req.scope
        && store.cohort_summary(c)?.entries == 0
    {
        return Err(Failure::bad_input(format!(
            "--cohort: no roster entry has cohort {c:?}"
        )));
    }
    let Some(rep) = report::build(&store, req)? else {
        return Err(Failure::bad_input(format!(
            "--incident: unknown incident {:?}",
            match &req.scope {
                ReportScope::Incident(id) => id.as_str(),
                _ => "",
            }
        )));
    };
    let key = report::signing_key(
        s.report.signing_key.as_deref(),
        &s.source,
        key_home(s, &store),
        true,
    )
    .map_err(|e| Failure::operational(e.to_string()))?;
    let bytes = report::render(&rep, format, &key);
    Ok((rep, key, bytes))
}

/// Where the generated report key lives: inside an encrypted store,
/// beside a plaintext one.
fn key_home<'a>(s: &'a Settings, store: &'a Store) -> KeyHome<'a> {
    if s.store_key.is_some() {
        KeyHome::Store(store, &s.store_path)
    } else {
        KeyHome::Beside(&s.store_path)
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: a reader never sees half a report.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(super) async fn report_verify(cli: &Cli, file: &Path) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::bad_input(format!("{}: cannot read: {e}", file.display())))?;
    // An encrypted store keeps the generated key inside: open it then.
    let store = match (&s.report.signing_key, &s.store_key) {
        (None, Some(_)) => Some(open_store(&s)?),
        _ => None,
    };
    let home = match &store {
        Some(st) => key_home(&s, st),
        None => KeyHome::Beside(&s.store_path),
    };
    let key = report::signing_key(s.report.signing_key.as_deref(), &s.source, home, false)
        .map_err(|e| Failure::bad_input(e.to_string()))?;
    let verdict = report::verify(&bytes, &key);
    let name = file.display();
    match verdict {
        Verdict::Valid { key_id } => {
            if cli.json {
                print_json(
                    &serde_json::json!({"file": name.to_string(), "valid": true, "key_id": key_id}),
                )?;
            } else {
                println!("{name}: signature valid (key {key_id})");
            }
            Ok(EXIT_OK)
        }
        Verdict::Invalid { reason } => {
            if cli.json {
                print_json(
                    &serde_json::json!({"file": name.to_string(), "valid": false, "reason": reason}),
                )?;
            } else {
                println!("{name}: signature INVALID: {reason}");
            }
            Ok(EXIT_FAILURE)
        }
        Verdict::Unsigned { reason } => Err(Failure::bad_input(format!(
            "{name}: not a signed unlistd report: {reason}"
        ))),
    }
}

pub(super) async fn audit_verify(cli: &Cli) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let v = tokio::task::spawn_blocking(move || -> Result<_, Failure> {
        Ok(open_store(&s)?.audit_verify()?)
    })
    .await
    .map_err(|e| Failure::operational(task_failure(&e)))??;
    if cli.json {
        print_json(&serde_json::json!({
            "verified": v.verified,
            "records": v.records,
            "head": v.head.as_ref().map(|h| serde_json::json!({"seq": h.seq, "hash": h.hash})),
            "first_broken": v.first_broken.as_ref().map(|b| serde_json::json!({
                "seq": b.seq, "kind": b.kind, "ref_id": b.ref_id, "message": b.message,
            })),
        }))?;
    } else if v.verified {
        match &v.head {
            Some(h) => println!(
                "audit trail verified: {} records; chain head seq={} hash={}",
                v.records, h.seq, h.hash
            ),
            None => println!("audit trail verified: {} records", v.records),
        }
    } else if let Some(b) = &v.first_broken {
        println!("{b}");
    }
    if v.verified {
        Ok(EXIT_OK)
    } else {
        eprintln!("unlistd: the audit trail does not verify");
        Ok(EXIT_FAILURE)
    }
}
