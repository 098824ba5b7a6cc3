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
use crate::engine::{self, blocking};
use crate::roster;
use crate::store::{ImportOutcome, Store};
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
        Failure::operational(e.to_string())
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
    let default = match cli.command {
        Command::Run => "info",
        // The demo narrates on stdout; only trouble goes to stderr.
        Command::Demo => "error",
        _ => "warn",
    };
    let mut filter =
        EnvFilter::try_from_env("UNLISTD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Third-party crates log what they handle: the HTML parser logs page
    // tokens (which echo the searched number) and the HTTP stack logs URLs
    // (which carry it). Whatever the operator's filter, keep them quiet.
    for d in QUIET_CRATES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => b.json().flatten_event(true).try_init(),
        LogFormat::Text => b.try_init(),
    };
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
        Command::Import { file } => import(cli, file).await,
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
        Command::Incidents { open: only_open } => incidents(cli, *only_open).await,
        Command::History { entry_ref } => history(cli, entry_ref).await,
        Command::Demo => crate::demo::run(cli.json).await,
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v).map_err(|e| Failure::operational(e.to_string()))?;
    let _ = writeln!(out);
    Ok(())
}

async fn run(cli: &Cli) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("Cannot install signal handlers.");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received."); return; }
                _ = int.recv() => { tracing::info!("SIGINT received."); return; }
                _ = hup.recv() => {
                    // Cycles already re-read the roster from the store; config
                    // reload arrives with the systemd work.
                    tracing::info!("SIGHUP received: the roster is re-read at each cycle; restart to apply config changes.");
                }
            }
        }
    };
    app.run(shutdown).await?;
    Ok(EXIT_OK)
}

async fn import(cli: &Cli, file: &Path) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let file = file.to_path_buf();
    let json = cli.json;
    tokio::task::spawn_blocking(move || import_blocking(&s, &file, json))
        .await
        .map_err(|e| Failure::operational(e.to_string()))?
}

fn import_blocking(s: &Settings, file: &Path, json: bool) -> Result<u8, Failure> {
    // Read the header before touching the store: a wrong file changes nothing.
    let mut rows = roster::open(file).map_err(|e| Failure::bad_input(e.to_string()))?;
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
        if s.predicted_cycle_seconds > s.max_staleness_seconds as f64 {
            println!("  warning: a full cycle takes longer than max_staleness at this rate");
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
    Ok(EXIT_OK)
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
