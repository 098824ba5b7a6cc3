//! The command line (contract: "CLI"). Glue only: parse flags, load
//! config, call the library, print, and return the exit code. `main.rs`
//! does nothing else.
//!
//! - `exit.rs`: exit codes and [`Failure`];
//! - one file per command group: `roster.rs` (import), `probe.rs` (scan,
//!   check, verify), `views.rs` (status, incidents, history), `actions.rs`
//!   (ack, dismiss, silence), `compliance.rs` (report, audit), `demo.rs`.

mod actions;
mod assets;
mod compliance;
mod demo;
mod erase;
mod exit;
mod probe;
mod progress;
mod roster;
mod simulate;
mod store;
mod takedown;
mod views;

use crate::telemetry::task_failure;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use exit::{EXIT_BAD_INPUT, EXIT_EXPOSED, EXIT_FAILURE, EXIT_OK, Failure};

use crate::app::App;
use crate::config::{self, Settings};
use crate::store::IncidentAction;
use compliance::ReportArgs;

#[derive(Debug, Parser)]
#[command(
    name = "unlistd",
    version,
    about = "Proves, continuously, that unlisted numbers and addresses are not on public directory sites."
)]
pub struct Cli {
    /// Config file (default: $UNLISTD_CONFIG, else /etc/unlistd/config.toml;
    /// never one in the working directory).
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
        encoding: crate::roster::Encoding,
    },
    /// One full pass over every entry on every enabled site, then exit.
    Scan {
        /// Required: run a single pass (the daemon is `unlistd run`).
        #[arg(long)]
        once: bool,
    },
    /// Probe every enabled site for one number now and show what each shows.
    Check {
        /// A Danish number in any common form. Without it, or with `-`, the
        /// number is read from standard input: an argument is visible to
        /// every user of the machine in the process list and is kept in
        /// shell history.
        phone: Option<PhoneArg>,
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
        /// Grouped by the entries' cohort, the biggest group first, with
        /// each cohort's size and how much of it is exposed.
        #[arg(long)]
        by_cohort: bool,
    },
    /// Every probe of one roster entry.
    History {
        /// The entry's ref from the roster.
        entry_ref: String,
    },
    /// A self-contained demonstration on a simulated directory.
    Demo,
    /// Detection figures of the real scheduler in virtual time: leaks of
    /// 10 %, 1 %, 0.1 % and one entry, a cohort leak, a sweep (exit 1 when
    /// a goal is missed).
    Simulate {
        /// Roster sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        sizes: Vec<u32>,
        /// The site's budget, requests per second.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Trials per leak fraction (the single entry and the cohort get a
        /// tenth, at least 100).
        #[arg(long, default_value_t = 2000)]
        trials: u32,
        /// Seed of the simulation's random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `[scan] max_staleness` (sets the escalation window).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        max_staleness: std::time::Duration,
        /// `[scan] escalation_share`.
        #[arg(long, default_value_t = crate::config::DEFAULT_ESCALATION_SHARE)]
        escalation_share: f64,
    },
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
    /// Erase one roster entry now (a data-subject request): its number, name
    /// and address leave every table, stored request and kept page; its
    /// open incidents are withdrawn.
    Erase {
        /// The entry's ref from the roster.
        entry_ref: String,
        /// Why (recorded with who and when in the audit trail).
        #[arg(long)]
        reason: String,
        /// Who (default: $SUDO_USER, else $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Record that removal of an incident's listing was requested (from
    /// the directory, or at the source feed): the site's takedown_sla runs
    /// from the first request, and reports show the time to removal.
    Takedown {
        /// The incident id (`unlistd incidents`).
        id: String,
        /// How removal was requested, e.g. "118.dk removal form".
        #[arg(long)]
        via: String,
        /// The directory's or your own ticket reference.
        #[arg(long, value_name = "REF")]
        ticket: Option<String>,
        /// Who (default: $SUDO_USER, else $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Encryption at rest of the SQLite store: encrypt it, or change its key.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Encrypt a plaintext store with [store] encryption_key_file
    /// (atomically; stop `unlistd run` first).
    Encrypt,
    /// Move an encrypted store to a new key (atomically; stop `unlistd run`
    /// first), then point encryption_key_file at the new key file.
    Rekey {
        /// The new key (at least 32 bytes of entropy, e.g. 64 hex characters).
        #[arg(long, value_name = "PATH")]
        new_key_file: PathBuf,
    },
}

/// The `check` command's number as typed. Its `Debug` (and so `Cli`'s)
/// never shows it.
#[derive(Clone)]
pub struct PhoneArg(String);

impl std::str::FromStr for PhoneArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<PhoneArg, Self::Err> {
        Ok(PhoneArg(s.to_owned()))
    }
}

impl std::fmt::Debug for PhoneArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneArg([REDACTED])")
    }
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

/// Parses arguments, runs the command, returns the process exit code.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    // Outside the clap definitions, so that neither --help nor the man
    // pages and completions it writes show it.
    if args.get(1).is_some_and(|a| a == assets::COMMAND) {
        return assets::main(&args[2..]);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors
            // to stderr (exit 2), matching the contract's "bad flag → 2".
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let default_level = match cli.command {
        Command::Run => "info",
        // The demo narrates on stdout; only trouble goes to stderr.
        Command::Demo => "error",
        _ => "warn",
    };
    crate::telemetry::init_logging(default_level, cli.log_format == LogFormat::Json);
    crate::telemetry::install_panic_hook();
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

fn settings(cli: &Cli) -> Result<Settings, Failure> {
    let path = config::locate(cli.config.as_deref())?;
    Ok(config::load(&path)?)
}

/// The configured store: SQLite (encrypted when the config names a key)
/// or PostgreSQL.
fn open_store(s: &Settings) -> Result<crate::store::Store, crate::store::StoreError> {
    crate::app::open_store(s)
}

async fn open(cli: &Cli) -> Result<App, Failure> {
    let s = settings(cli)?;
    Ok(tokio::task::spawn_blocking(move || App::open(s))
        .await
        .map_err(|e| Failure::operational(task_failure(&e)))??)
}

async fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Run => run(cli).await,
        Command::Import { file, encoding } => roster::import(cli, file, *encoding).await,
        Command::Scan { once } => {
            if !once {
                return Err(Failure::bad_input(
                    "scan: --once is required (the continuous scanner is `unlistd run`)",
                ));
            }
            probe::scan_once(cli).await
        }
        Command::Check { phone, record } => {
            let phone = match phone {
                Some(PhoneArg(p)) if p != "-" => p.clone(),
                _ => probe::number_from_stdin()?,
            };
            probe::check(cli, &phone, *record).await
        }
        Command::Status => views::status(cli).await,
        Command::Ack { id, reason, by } => {
            actions::incident_action(cli, id, IncidentAction::Ack, reason, by.as_deref()).await
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
            actions::incident_action(cli, id, action, reason, by.as_deref()).await
        }
        Command::Silence { action } => actions::silence(cli, action).await,
        Command::Takedown {
            id,
            via,
            ticket,
            by,
        } => takedown::takedown(cli, id, via, ticket.as_deref(), by.as_deref()).await,
        Command::Incidents {
            open: only_open,
            by_cohort: true,
        } => views::incidents_by_cohort(cli, *only_open).await,
        Command::Incidents {
            open: only_open, ..
        } => views::incidents(cli, *only_open).await,
        Command::History { entry_ref } => views::history(cli, entry_ref).await,
        Command::Demo => demo::run(cli.json).await,
        Command::Simulate { .. } => simulate::from_cli(cli),
        Command::Report {
            action: Some(ReportAction::Verify { file }),
            ..
        } => compliance::report_verify(cli, file).await,
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
            compliance::report(cli, args).await
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => compliance::audit_verify(cli).await,
        Command::Verify { cohort, retries } => probe::verify_cohort(cli, cohort, *retries).await,
        Command::Erase {
            entry_ref,
            reason,
            by,
        } => erase::erase(cli, entry_ref, reason, by.as_deref()).await,
        Command::Store { action } => match action {
            StoreAction::Encrypt => store::encrypt(cli).await,
            StoreAction::Rekey { new_key_file } => store::rekey_cmd(cli, new_key_file).await,
        },
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
    crate::daemon::run_file(&path).await?;
    Ok(EXIT_OK)
}
