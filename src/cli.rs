//! The command line (contract: "CLI"). Glue only: parse flags, load
//! config, call the library, print, and return the exit code. `main.rs`
//! does nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::App;
use crate::config::{self, Settings};
use crate::domain::{E164, Entry, OutcomeKind};
use crate::engine;
use crate::roster;
use crate::store::blocking;
use crate::store::{ImportOutcome, IncidentAction, NewSilence, Store};
use crate::wire;

/// Exit codes (contract).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_EXPOSED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "unlistd",
    version,
    about = "Proves, continuously, that unlisted numbers and addresses are not on public directory sites."
)]
pub struct Cli {
    /// Config file (default ./config.toml, then /etc/unlistd/config.toml).
    #[arg(long, global = true, env = "UNLISTD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log line format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "UNLISTD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scan on schedule, send alerts, serve the HTTP API.
    Run,
    /// Replace the protected roster with a CSV file, atomically.
    Import {
        /// The roster CSV.
        file: PathBuf,
        /// The file's character encoding (a byte-order mark overrides it).
        #[arg(long, value_enum, default_value_t)]
        encoding: roster::Encoding,
    },
    /// One full pass over every entry on every enabled site, then exit.
    Scan {
        /// Required: run a single pass (the daemon is `unlistd run`).
        #[arg(long)]
        once: bool,
    },
    /// Probe every enabled site for one number now and show what each shows.
    Check {
        /// A Danish number in any common form.
        phone: String,
        /// Record the probes as evidence (the number must be on the roster).
        #[arg(long)]
        record: bool,
    },
    /// Roster size, per-site health and rate, coverage, open incidents.
    Status,
    /// List incidents.
    Incidents {
        /// Only open (or acknowledged) incidents.
        #[arg(long)]
        open: bool,
    },
    /// Every probe of one roster entry.
    History {
        /// The entry's ref from the roster.
        entry_ref: String,
    },
    /// A self-contained demonstration on a simulated directory.
    Demo,
    /// A signed compliance report: an incident, a cohort or a period
    /// (`report verify FILE` checks a report's signature).
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        action: Option<ReportAction>,
        /// One incident, by id.
        #[arg(long, value_name = "ID")]
        incident: Option<String>,
        /// Every incident of a cohort (with --since/--until: within them).
        #[arg(long, value_name = "TAG")]
        cohort: Option<String>,
        /// Start of the period: RFC 3339 time or YYYY-MM-DD (midnight UTC).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// End of the period: RFC 3339 time or YYYY-MM-DD (the end of that day, UTC).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Output format (default: from --out's extension, else json with
        /// --json, else html).
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Write the report to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Probe every entry of a cohort on every enabled site now, as fast as
    /// the budgets allow (the post-migration check).
    Verify {
        /// The cohort tag from the roster.
        #[arg(long, value_name = "TAG")]
        cohort: String,
        /// Rounds of re-probing for inconclusive results.
        #[arg(long, default_value_t = 2, value_name = "N")]
        retries: u32,
    },
    /// Acknowledge an incident: reminders stop; it still resolves only
    /// after clean probes.
    Ack {
        /// The incident id (`unlistd incidents`).
        id: String,
        /// Why (recorded with who and when, and in the audit trail).
        #[arg(long)]
        reason: String,
        /// Who (default: $SUDO_USER, else $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Mark an incident's listing a false positive for that entry: that one
    /// listing is ignored for that entry on that site from now on
    /// (`--undo` reverses it).
    Dismiss {
        /// The incident id (`unlistd incidents`).
        id: String,
        /// Why (recorded with who and when, and in the audit trail).
        #[arg(long)]
        reason: String,
        /// Who (default: $SUDO_USER, else $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Withdraw the dismissal.
        #[arg(long)]
        undo: bool,
    },
    /// Silences: hold back alerts for a site, event type or cohort until
    /// they expire (e.g. a site known to be down).
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Add a silence; matching events are recorded but not delivered.
    Add {
        /// Only events of this site (default: every site).
        #[arg(long)]
        site: Option<String>,
        /// Only this event type, e.g. site.degraded (default: every type).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// Only exposure events of this cohort (default: every cohort).
        #[arg(long)]
        cohort: Option<String>,
        /// How long, e.g. 2h, 3d.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why (required; shown in status).
        #[arg(long)]
        reason: String,
        /// Who (default: $SUDO_USER, else $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Silences in force (with --all: every silence ever).
    List {
        #[arg(long)]
        all: bool,
    },
    /// End a silence before it expires.
    End {
        id: String,
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Check a report's signature: exit 0 valid, 1 invalid, 2 unsigned or unreadable.
    Verify {
        /// The report (HTML, JSON or CSV).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the whole trail: exit 0 intact, 1 naming the first broken record.
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
    Csv,
}

/// A failure with its exit code; the message goes to stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn bad_input(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_BAD_INPUT,
            message: m.into(),
        }
    }
    fn operational(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            message: m.into(),
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::bad_input(e.to_string())
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(m)
            | crate::store::StoreError::Conflict(m)
            | crate::store::StoreError::BadInput(m) => Failure::bad_input(m),
            e => Failure::operational(e.to_string()),
        }
    }
}

impl From<crate::app::AppError> for Failure {
    fn from(e: crate::app::AppError) -> Self {
        Failure::operational(e.to_string())
    }
}

/// Parses arguments, runs the command, returns the process exit code.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors
            // to stderr (exit 2), matching the contract's "bad flag → 2".
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("unlistd: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(dispatch(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("unlistd: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let default = match cli.command {
        Command::Run => "info",
        // The demo narrates on stdout; only trouble goes to stderr.
        Command::Demo => "error",
        _ => "warn",
    };
    let filter = || {
        let mut filter =
            EnvFilter::try_from_env("UNLISTD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
        // Third-party crates log what they handle: the HTML parser logs page
        // tokens (which echo the searched number) and the HTTP stack logs
        // URLs (which carry it). Whatever the operator's filter, and
        // whichever sink, keep them quiet.
        for d in QUIET_CRATES {
            if let Ok(d) = d.parse() {
                filter = filter.add_directive(d);
            }
        }
        filter
    };
    // Under systemd with stderr connected to the journal, log natively
    // (structured fields, priorities). Not both: that would duplicate lines.
    let mut journal_error = None;
    if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier("unlistd".to_string());
                if tracing_subscriber::registry()
                    .with(layer.with_filter(filter()))
                    .try_init()
                    .is_ok()
                {
                    return;
                }
            }
            Err(e) => journal_error = Some(e.to_string()),
        }
    }
    use std::io::IsTerminal as _;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => b.json().flatten_event(true).try_init(),
        LogFormat::Text => b.try_init(),
    };
    if let Some(error) = journal_error {
        tracing::info!(%error, "The journal socket is not usable; logging to stderr.");
    }
}

/// True when stderr is the journal stream systemd set up for this service:
/// `JOURNAL_STREAM` holds `DEVICE:INODE` of that stream (systemd.exec(5)).
/// Comparing it with stderr, not just testing the variable, keeps a shell
/// that inherited it (a terminal in a desktop session) on plain stderr.
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Log directives that always apply (see `init_logging`).
pub const QUIET_CRATES: &[&str] = &[
    "html5ever=off",
    "markup5ever=off",
    "selectors=off",
    "scraper=off",
    "cssparser=off",
    "hyper=error",
    "hyper_util=error",
    "reqwest=error",
    "h2=error",
    "rustls=error",
    "tower=error",
    "tower_http=error",
    "axum=error",
    "cookie_store=error",
];

fn settings(cli: &Cli) -> Result<Settings, Failure> {
    let path = config::locate(cli.config.as_deref())?;
    Ok(config::load(&path)?)
}

async fn open(cli: &Cli) -> Result<App, Failure> {
    let s = settings(cli)?;
    Ok(tokio::task::spawn_blocking(move || App::open(s))
        .await
        .map_err(|e| Failure::operational(e.to_string()))??)
}

async fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Run => run(cli).await,
        Command::Import { file, encoding } => import(cli, file, *encoding).await,
        Command::Scan { once } => {
            if !once {
                return Err(Failure::bad_input(
                    "scan: --once is required (the continuous scanner is `unlistd run`)",
                ));
            }
            scan_once(cli).await
        }
        Command::Check { phone, record } => check(cli, phone, *record).await,
        Command::Status => status(cli).await,
        Command::Ack { id, reason, by } => {
            incident_action(cli, id, IncidentAction::Ack, reason, by.as_deref()).await
        }
        Command::Dismiss {
            id,
            reason,
            by,
            undo,
        } => {
            let action = if *undo {
                IncidentAction::Undismiss
            } else {
                IncidentAction::Dismiss
            };
            incident_action(cli, id, action, reason, by.as_deref()).await
        }
        Command::Silence { action } => silence(cli, action).await,
        Command::Incidents { open: only_open } => incidents(cli, *only_open).await,
        Command::History { entry_ref } => history(cli, entry_ref).await,
        Command::Demo => crate::demo::run(cli.json).await,
        Command::Report {
            action: Some(ReportAction::Verify { file }),
            ..
        } => report_verify(cli, file).await,
        Command::Report {
            action: None,
            incident,
            cohort,
            since,
            until,
            format,
            out,
        } => {
            let args = ReportArgs {
                incident: incident.clone(),
                cohort: cohort.clone(),
                since: since.clone(),
                until: until.clone(),
                format: *format,
                out: out.clone(),
            };
            report(cli, args).await
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => audit_verify(cli).await,
        Command::Verify { cohort, retries } => verify_cohort(cli, cohort, *retries).await,
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v).map_err(|e| Failure::operational(e.to_string()))?;
    let _ = writeln!(out);
    Ok(())
}

async fn run(cli: &Cli) -> Result<u8, Failure> {
    let path = config::locate(cli.config.as_deref())?;
    let loaded = crate::reload::load(&path)?;
    let s = loaded.settings;
    let app = tokio::task::spawn_blocking(move || App::open(s))
        .await
        .map_err(|e| Failure::operational(e.to_string()))??;
    // One pending request is enough: a reload reads the file as it is then.
    let (reload_tx, requests) = tokio::sync::mpsc::channel(1);
    // Installed now, before READY=1 is sent: a SIGHUP that arrived before
    // the first poll of `shutdown` would otherwise kill the daemon (the
    // default action), and a SIGTERM would skip the graceful stop.
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return Err(Failure::operational("cannot install signal handlers"));
    };
    let shutdown = async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received."); return; }
                _ = int.recv() => { tracing::info!("SIGINT received."); return; }
                _ = hup.recv() => { let _ = reload_tx.try_send(()); }
            }
        }
    };
    let reloads = crate::app::Reloads {
        config: path,
        sites: loaded.sites,
        requests,
    };
    app.run_reloadable(Some(reloads), shutdown).await?;
    Ok(EXIT_OK)
}

async fn import(cli: &Cli, file: &Path, encoding: roster::Encoding) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let file = file.to_path_buf();
    let json = cli.json;
    tokio::task::spawn_blocking(move || import_blocking(&s, &file, encoding, json))
        .await
        .map_err(|e| Failure::operational(e.to_string()))?
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
    let store = Store::open(&s.store_path)?;
    let pseudo = crate::domain::pseudonym::Pseudonymizer::new(&store.pseudonym_key()?);
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

async fn scan_once(cli: &Cli) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    let totals = app.engine.scan_once(&cancel).await?;
    // Retention purges and the chain head, as after a daemon cycle.
    app.engine.after_cycle().await;
    // Deliver what the pass raised now rather than after group_wait: the
    // pass is complete, so the group is too. Undelivered messages stay in
    // the outbox for the daemon.
    for d in app.dispatchers() {
        if let Err(e) = d.pass(true).await {
            tracing::warn!(receiver = d.receiver(), error = %e, "Alert delivery pass failed.");
        }
    }
    let store = app.store().clone();
    let open = blocking(move || store.open_incident_count()).await?;
    let summary = wire::ScanSummary {
        probes: totals.probes,
        clean: totals.clean,
        exposed: totals.exposed,
        inconclusive: totals.inconclusive,
        incidents_opened: totals.incidents_opened,
        incidents_resolved: totals.incidents_resolved,
        incidents_open: open,
    };
    if cli.json {
        print_json(&summary)?;
    } else {
        println!(
            "probes {}: clean {}, exposed {}, inconclusive {}; incidents opened {}, resolved {}, open now {}",
            summary.probes,
            summary.clean,
            summary.exposed,
            summary.inconclusive,
            summary.incidents_opened,
            summary.incidents_resolved,
            open
        );
    }
    Ok(if open > 0 { EXIT_EXPOSED } else { EXIT_OK })
}

async fn check(cli: &Cli, phone: &str, record: bool) -> Result<u8, Failure> {
    let number = E164::parse_dk(phone).map_err(|e| Failure::bad_input(format!("PHONE: {e}")))?;
    let app = open(cli).await?;
    let rostered = if record {
        let store = app.store().clone();
        let h = app.engine.pseudo.number(&number);
        match blocking(move || store.entry_by_number_hmac(&h)).await? {
            Some(e) => Some(e),
            None => {
                return Err(Failure::bad_input(
                    "PHONE: --record needs a number on the roster; this one is not",
                ));
            }
        }
    } else {
        None
    };
    // Without --record, ask as if the number were protected and nothing else.
    let probe_entry = Entry {
        entry_ref: String::new(),
        phone: number.clone(),
        name: None,
        address: None,
        hide_number: true,
        hide_address: false,
        cohort: None,
    };
    let mut rows = Vec::new();
    let (mut shown, mut blind) = (false, false);
    for site in app.engine.sites.iter().filter(|s| s.settings.enabled) {
        let (kind, status, sha, reason) = match &rostered {
            Some((id, entry)) => {
                let (kind, _) = app.engine.probe_and_record(site, *id, entry).await?;
                (kind, None, None, None)
            }
            None => {
                let r = engine::probe(site, &probe_entry).await;
                let reason = match &r.outcome {
                    crate::domain::Outcome::Inconclusive { reason } => Some(reason.clone()),
                    _ => None,
                };
                (r.outcome.kind(), r.http_status, r.page_sha256, reason)
            }
        };
        shown |= kind == OutcomeKind::Exposed;
        blind |= kind == OutcomeKind::Inconclusive;
        let word = match kind {
            OutcomeKind::Exposed => "listed",
            OutcomeKind::Clean => "not listed",
            OutcomeKind::Inconclusive => "inconclusive",
        };
        rows.push((site.name().to_string(), word, status, sha, reason));
    }
    if cli.json {
        let sites: Vec<_> = rows
            .iter()
            .map(|(s, w, st, sha, r)| {
                serde_json::json!({"site": s, "result": w.replace(' ', "_"), "http_status": st, "page_sha256": sha, "reason": r})
            })
            .collect();
        print_json(
            &serde_json::json!({"number_masked": number.masked(), "recorded": record, "sites": sites}),
        )?;
    } else {
        println!("{}", number.masked());
        for (s, w, st, _, r) in &rows {
            let extra = match (st, r) {
                (_, Some(r)) => format!(" ({r})"),
                (Some(st), None) => format!(" (http {st})"),
                _ => String::new(),
            };
            println!("  {s:<24} {w}{extra}");
        }
    }
    Ok(if shown {
        EXIT_EXPOSED
    } else if blind {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}

fn age(secs: Option<u64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86400),
    }
}

async fn status(cli: &Cli) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let a = app.clone();
    let st = blocking(move || a.status(false)).await?;
    if cli.json {
        print_json(&st)?;
        return Ok(EXIT_OK);
    }
    println!(
        "roster: {} entries   open incidents: {}",
        st.roster.size, st.incidents.open
    );
    println!();
    println!(
        "{:<24} {:<9} {:<10} {:>12} {:>11} {:>10} {:>12}",
        "SITE", "ENABLED", "STATE", "OLDEST PROBE", "CONCLUSIVE", "RATE/s", "CYCLE"
    );
    for s in &st.sites {
        println!(
            "{:<24} {:<9} {:<10} {:>12} {:>11} {:>10.2} {:>12}",
            s.name,
            if s.enabled { "yes" } else { "no" },
            s.state,
            age(s.oldest_probe_age_seconds),
            s.conclusive_share
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or("-".into()),
            s.configured_rate_per_second,
            age(Some(s.predicted_cycle_seconds as u64)),
        );
        if let Some(r) = &s.state_reason {
            println!("  {r}");
        }
        if !s.robots.honoured {
            println!(
                "  robots.txt not honoured: {}",
                s.robots.reason.as_deref().unwrap_or("-")
            );
        }
        if s.predicted_cycle_seconds > s.max_staleness_seconds as f64 {
            println!("  warning: a full cycle takes longer than max_staleness at this rate");
        }
    }
    if let Some(r) = &st.last_reload {
        println!();
        match &r.error {
            None => println!("last config reload: ok at {}", r.time),
            Some(e) => println!(
                "last config reload: FAILED at {} (running on the config before it): {e}",
                r.time
            ),
        }
        if !r.needs_restart.is_empty() {
            println!(
                "  changed, applies after a restart: {}",
                r.needs_restart.join(", ")
            );
        }
    }
    if !st.alerts.is_empty() {
        println!();
        println!(
            "{:<28} {:>8} {:>10} {:>8}  LAST ERROR",
            "RECEIVER", "PENDING", "DELIVERED", "FAILING"
        );
        for r in &st.alerts {
            println!(
                "{:<28} {:>8} {:>10} {:>8}  {}",
                r.receiver,
                r.pending_messages + r.undelivered_events,
                r.delivered_messages,
                if r.failing { "yes" } else { "no" },
                r.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    if !st.silences.is_empty() {
        println!();
        println!("silences in force:");
        for s in &st.silences {
            println!("  {}", silence_line(s));
        }
    }
    Ok(EXIT_OK)
}

/// Who is at the keyboard, for the record.
pub fn actor(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

async fn incident_action(
    cli: &Cli,
    id: &str,
    action: IncidentAction,
    reason: &str,
    by: Option<&str>,
) -> Result<u8, Failure> {
    if reason.trim().is_empty() {
        return Err(Failure::bad_input("--reason: must not be empty"));
    }
    let app = open(cli).await?;
    let store = app.store().clone();
    let who = actor(by);
    let (i, r, w) = (id.to_string(), reason.to_string(), who.clone());
    let state = blocking(move || {
        store.incident_action(&i, action, &w, &r, time::OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| match e {
        crate::store::StoreError::NotFound(m) | crate::store::StoreError::Conflict(m) => {
            Failure::bad_input(format!("ID: {m}"))
        }
        e => e.into(),
    })?;
    let res = wire::ActionResult {
        id: id.to_string(),
        action: action.as_str(),
        state: state.as_str(),
        by: who,
        reason: reason.to_string(),
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

async fn silence(cli: &Cli, action: &SilenceAction) -> Result<u8, Failure> {
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
            let new = new_silence(
                &app,
                site.as_deref(),
                event_type.as_deref(),
                cohort.as_deref(),
                duration,
                reason,
                &actor(by.as_deref()),
                now,
            )
            .map_err(|(field, m)| Failure::bad_input(format!("--{field}: {m}")))?;
            let id = blocking(move || store.add_silence(&new, now)).await?;
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
            let (i, who) = (id.clone(), actor(by.as_deref()));
            if !blocking(move || store.end_silence(&i, &who, now)).await? {
                return Err(Failure::bad_input(format!("ID: no active silence {id:?}")));
            }
            println!("{id} ended");
        }
    }
    Ok(EXIT_OK)
}

/// One silence as a line of text.
pub fn silence_line(s: &wire::Silence) -> String {
    format!(
        "{}  site={} type={} cohort={}  until {}{}  by {}: {}",
        s.id,
        s.site.as_deref().unwrap_or("*"),
        s.event_type.unwrap_or("*"),
        s.cohort.as_deref().unwrap_or("*"),
        s.expires_at,
        s.ended_at
            .as_deref()
            .map(|e| format!(" (ended {e})"))
            .unwrap_or_default(),
        s.created_by,
        s.reason
    )
}

/// Validates a silence request (CLI flags or API body); errors name the
/// field.
#[allow(clippy::too_many_arguments)]
pub fn new_silence(
    app: &App,
    site: Option<&str>,
    event_type: Option<&str>,
    cohort: Option<&str>,
    duration: &str,
    reason: &str,
    by: &str,
    now: time::OffsetDateTime,
) -> Result<NewSilence, (&'static str, String)> {
    if let Some(s) = site
        && !app.settings.sites.iter().any(|x| x.name == s)
    {
        return Err(("site", format!("no configured site named {s:?}")));
    }
    let event_type = match event_type {
        None => None,
        Some(t) => Some(
            crate::domain::incident::EventType::parse(t)
                .ok_or_else(|| ("type", format!("unknown event type {t:?}")))?,
        ),
    };
    if cohort.is_some_and(|c| c.trim().is_empty()) {
        return Err(("cohort", "must not be empty".into()));
    }
    let d = humantime::parse_duration(duration.trim())
        .map_err(|e| ("for", format!("not a duration ({e}); e.g. 2h, 3d")))?;
    if d.is_zero() {
        return Err(("for", "must be positive".into()));
    }
    if reason.trim().is_empty() {
        return Err(("reason", "must not be empty".into()));
    }
    Ok(NewSilence {
        site: site.map(str::to_owned),
        event_type,
        cohort: cohort.map(str::to_owned),
        reason: reason.to_string(),
        created_by: by.to_string(),
        expires_at: now + d,
    })
}

async fn incidents(cli: &Cli, only_open: bool) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let v = blocking(move || store.incidents(only_open)).await?;
    let wire = wire::Incidents {
        incidents: v.iter().map(wire::Incident::from).collect(),
    };
    if cli.json {
        print_json(&wire)?;
        return Ok(EXIT_OK);
    }
    if wire.incidents.is_empty() {
        println!("no incidents");
        return Ok(EXIT_OK);
    }
    println!(
        "{:<22} {:<16} {:<16} {:<15} {:<13} {:<21} {:<21} RESOLVED",
        "ID", "SITE", "ENTRY REF", "EXPOSED", "STATE", "FIRST SEEN", "LAST SEEN"
    );
    for i in &wire.incidents {
        println!(
            "{:<22} {:<16} {:<16} {:<15} {:<13} {:<21} {:<21} {}",
            i.id,
            i.site,
            i.entry_ref,
            i.exposed.join(","),
            i.state,
            i.first_seen,
            i.last_seen,
            i.resolved_at.as_deref().unwrap_or("-")
        );
    }
    Ok(EXIT_OK)
}

async fn history(cli: &Cli, entry_ref: &str) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let store = app.store().clone();
    let r = entry_ref.to_string();
    let Some(probes) = blocking(move || store.history(&r)).await? else {
        return Err(Failure::bad_input(format!(
            "REF: unknown entry ref {entry_ref:?}"
        )));
    };
    let wire = wire::History {
        entry_ref: entry_ref.to_string(),
        probes: probes.iter().map(wire::Probe::from).collect(),
    };
    if cli.json {
        print_json(&wire)?;
        return Ok(EXIT_OK);
    }
    println!("{} probes of {}", wire.probes.len(), wire.entry_ref);
    println!(
        "{:<21} {:<24} {:<13} {:>5}  REASON / MATCHED",
        "TIME", "SITE", "OUTCOME", "HTTP"
    );
    for p in &wire.probes {
        let detail = match (&p.reason, p.matched.is_empty()) {
            (Some(r), _) => r.clone(),
            (None, false) => format!("matched: {}", p.matched.join(", ")),
            (None, true) => String::new(),
        };
        println!(
            "{:<21} {:<24} {:<13} {:>5}  {}",
            p.time,
            p.site,
            p.outcome,
            p.http_status.map(|s| s.to_string()).unwrap_or("-".into()),
            detail
        );
    }
    Ok(EXIT_OK)
}

// ---------------------------------------------------------------- compliance

struct ReportArgs {
    incident: Option<String>,
    cohort: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: Option<ReportFormat>,
    out: Option<PathBuf>,
}

/// `--since`/`--until`: RFC 3339, or a date (midnight UTC; for `--until`
/// the end of that day).
fn parse_time(flag: &str, s: &str, end_of_day: bool) -> Result<crate::store::Ts, Failure> {
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

async fn report(cli: &Cli, a: ReportArgs) -> Result<u8, Failure> {
    use crate::report::{self, Format};
    use crate::store::ReportScope;
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
    let format = match (a.format, a.out.as_deref().and_then(Format::from_path)) {
        (Some(ReportFormat::Html), _) => Format::Html,
        (Some(ReportFormat::Json), _) => Format::Json,
        (Some(ReportFormat::Csv), _) => Format::Csv,
        (None, Some(f)) => f,
        (None, None) if cli.json => Format::Json,
        (None, None) => Format::Html,
    };
    let s = settings(cli)?;
    let req = report::Request {
        scope: scope.clone(),
        sites: s
            .sites
            .iter()
            .filter(|x| x.enabled)
            .map(|x| x.name.clone())
            .collect(),
        max_staleness: s.scan.max_staleness,
        resolve_after_clean: s.scan.resolve_after_clean,
        now: time::OffsetDateTime::now_utc(),
    };
    let built = tokio::task::spawn_blocking(move || -> Result<_, Failure> {
        let store = Store::open(&s.store_path)?;
        if let ReportScope::Filter {
            cohort: Some(c), ..
        } = &req.scope
            && store.cohort_summary(c)?.entries == 0
        {
            return Err(Failure::bad_input(format!(
                "--cohort: no roster entry has cohort {c:?}"
            )));
        }
        let Some(rep) = report::build(&store, &req)? else {
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
            &s.store_path,
            true,
        )
        .map_err(|e| Failure::operational(e.to_string()))?;
        let bytes = report::render(&rep, format, &key);
        Ok((rep, key, bytes))
    })
    .await
    .map_err(|e| Failure::operational(e.to_string()))?;
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
    match &a.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|_| out.flush())
                .map_err(|e| Failure::operational(format!("cannot write the report: {e}")))?;
        }
        Some(path) => {
            write_file_atomically(path, &bytes).map_err(|e| {
                Failure::operational(format!("cannot write {}: {e}", path.display()))
            })?;
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
        }
    }
    Ok(EXIT_OK)
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

async fn report_verify(cli: &Cli, file: &Path) -> Result<u8, Failure> {
    use crate::report::{self, Verdict};
    let s = settings(cli)?;
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::bad_input(format!("{}: cannot read: {e}", file.display())))?;
    let key = report::signing_key(
        s.report.signing_key.as_deref(),
        &s.source,
        &s.store_path,
        false,
    )
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

async fn audit_verify(cli: &Cli) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let v = tokio::task::spawn_blocking(move || -> Result<_, Failure> {
        Ok(Store::open(&s.store_path)?.audit_verify()?)
    })
    .await
    .map_err(|e| Failure::operational(e.to_string()))??;
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

/// Final outcomes of `verify --cohort` on one site.
#[derive(Debug, Default, Clone)]
struct CohortTally {
    probes: u64,
    done: u64,
    clean: u64,
    exposed: u64,
    inconclusive: u64,
    incidents_opened: u64,
    incidents_resolved: u64,
    /// Why the site could not be checked at all (failing canaries).
    skipped: Option<String>,
}

/// Entries fetched per batch in `verify --cohort`.
const VERIFY_BATCH: usize = 200;

async fn verify_cohort(cli: &Cli, tag: &str, retries: u32) -> Result<u8, Failure> {
    use std::sync::{Arc, Mutex};

    use crate::domain::incident::Step;

    let app = open(cli).await?;
    let store = app.store().clone();
    let t = tag.to_string();
    let entries = blocking(move || store.cohort_size(&t)).await?;
    if entries == 0 {
        return Err(Failure::bad_input(format!(
            "--cohort: no entry on the roster has cohort {tag:?}"
        )));
    }
    let sites: Vec<_> = app
        .engine
        .sites
        .iter()
        .filter(|s| s.settings.enabled)
        .cloned()
        .collect();
    if sites.is_empty() {
        return Err(Failure::bad_input(
            "verify: no site is enabled in the config",
        ));
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    if !cli.json {
        println!(
            "verifying cohort {tag}: {entries} entries on {} sites",
            sites.len()
        );
    }
    let tallies: Vec<Arc<Mutex<CohortTally>>> = sites
        .iter()
        .map(|_| Arc::new(Mutex::new(CohortTally::default())))
        .collect();
    let lock = |m: &Mutex<CohortTally>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();

    let mut set = tokio::task::JoinSet::new();
    for (site, tally) in sites.iter().zip(&tallies) {
        let engine = app.engine.clone();
        let site = site.clone();
        let tally = tally.clone();
        let cancel = cancel.clone();
        let tag = tag.to_string();
        set.spawn(async move {
            let add = |f: &dyn Fn(&mut CohortTally)| {
                f(&mut tally.lock().unwrap_or_else(|e| e.into_inner()));
            };
            if !engine.check_canaries(&site).await? {
                add(&|t| {
                    t.skipped = Some("its canaries fail: its answers cannot be trusted".into());
                    t.inconclusive = entries;
                    t.done = entries;
                });
                return Ok::<(), crate::store::StoreError>(());
            }
            let concurrency = site.settings.policy.concurrency.max(1) as usize;
            // Pending (entry, round); inconclusive ones come back for
            // another round until `retries` is spent.
            let mut after = None;
            let mut again: Vec<(crate::domain::EntryId, Entry)> = Vec::new();
            let mut round = 0u32;
            loop {
                let batch = if round == 0 {
                    let store = engine.store.clone();
                    let tag = tag.clone();
                    let b =
                        blocking(move || store.cohort_entries(&tag, after, VERIFY_BATCH)).await?;
                    if b.is_empty() {
                        round = 1;
                        continue;
                    }
                    after = b.last().map(|(id, _)| *id);
                    b
                } else if round <= retries && !again.is_empty() {
                    round += 1;
                    std::mem::take(&mut again)
                } else {
                    break;
                };
                let last_round = round > retries || (round == 0 && retries == 0);
                let mut inflight = tokio::task::JoinSet::new();
                let mut results = Vec::new();
                for (id, entry) in batch {
                    if cancel.is_cancelled() {
                        break;
                    }
                    while inflight.len() >= concurrency {
                        if let Some(r) = inflight.join_next().await {
                            results.push(r);
                        }
                    }
                    let engine = engine.clone();
                    let site = site.clone();
                    inflight.spawn(async move {
                        let r = engine.probe_and_record(&site, id, &entry).await;
                        (id, entry, r)
                    });
                }
                while let Some(r) = inflight.join_next().await {
                    results.push(r);
                }
                for r in results {
                    let Ok((id, entry, r)) = r else { continue };
                    let (kind, step) = r?;
                    let retry = kind == OutcomeKind::Inconclusive && !last_round;
                    add(&|t| {
                        t.probes += 1;
                        match step {
                            Step::Open { .. } => t.incidents_opened += 1,
                            Step::Resolve { .. } => t.incidents_resolved += 1,
                            _ => {}
                        }
                        if !retry {
                            t.done += 1;
                            match kind {
                                OutcomeKind::Clean => t.clean += 1,
                                OutcomeKind::Exposed => t.exposed += 1,
                                OutcomeKind::Inconclusive => t.inconclusive += 1,
                            }
                        }
                    });
                    if retry {
                        again.push((id, entry));
                    }
                }
                if cancel.is_cancelled() {
                    break;
                }
            }
            Ok(())
        });
    }

    // Progress, every two seconds, while the sites work.
    let names: Vec<String> = sites.iter().map(|s| s.name().to_string()).collect();
    let progress = |tallies: &[Arc<Mutex<CohortTally>>]| {
        names
            .iter()
            .zip(tallies)
            .map(|(n, t)| {
                let t = lock(t);
                format!(
                    "{n} {}/{entries} (exposed {}, inconclusive {})",
                    t.done, t.exposed, t.inconclusive
                )
            })
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.tick().await;
    let mut failure = None;
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => { failure.get_or_insert(Failure::from(e)); cancel.cancel(); }
                Some(Err(e)) => { failure.get_or_insert(Failure::operational(e.to_string())); }
            },
            _ = tick.tick() => if !cli.json { println!("  {}", progress(&tallies)); },
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    for d in app.dispatchers() {
        if let Err(e) = d.pass(true).await {
            tracing::warn!(receiver = d.receiver(), error = %e, "Alert delivery pass failed.");
        }
    }
    let all: Vec<CohortTally> = tallies.iter().map(|t| lock(t)).collect();
    let sum = |f: fn(&CohortTally) -> u64| all.iter().map(f).sum::<u64>();
    let (clean, exposed, inconclusive) = (
        sum(|t| t.clean),
        sum(|t| t.exposed),
        sum(|t| t.inconclusive),
    );
    let complete = !cancel.is_cancelled()
        && inconclusive == 0
        && sum(|t| t.done) == entries * all.len() as u64;
    if cli.json {
        print_json(&serde_json::json!({
            "cohort": tag,
            "entries": entries,
            "sites": sites.len(),
            "probes": sum(|t| t.probes),
            "clean": clean,
            "exposed": exposed,
            "inconclusive": inconclusive,
            "complete": complete,
            "incidents_opened": sum(|t| t.incidents_opened),
            "incidents_resolved": sum(|t| t.incidents_resolved),
            "by_site": names.iter().zip(&all).map(|(n, t)| serde_json::json!({
                "site": n, "clean": t.clean, "exposed": t.exposed,
                "inconclusive": t.inconclusive, "skipped": t.skipped,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        println!("  {}", progress(&tallies));
        for (n, t) in names.iter().zip(&all) {
            if let Some(why) = &t.skipped {
                println!("  {n}: not checked: {why}");
            }
        }
        println!(
            "cohort {tag}: {entries} entries × {} sites, {} probes: clean {clean}, exposed {exposed}, inconclusive {inconclusive}; {}",
            sites.len(),
            sum(|t| t.probes),
            if complete {
                "complete: every entry has a conclusive answer from every site"
            } else {
                "NOT complete"
            }
        );
    }
    Ok(if exposed > 0 {
        EXIT_EXPOSED
    } else if inconclusive > 0 || !complete {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}
