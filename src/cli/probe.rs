//! The commands that probe now: `scan --once`, `check` and `verify
//! --cohort`. All three run the engine's scheduling and probes; nothing
//! here decides an outcome.

use crate::telemetry::task_failure;
use std::sync::{Arc, Mutex};

use super::progress::{Progress, Snapshot};
use super::{Cli, EXIT_EXPOSED, EXIT_FAILURE, EXIT_OK, Failure, open, print_json};
use crate::domain::{E164, Entry, Outcome, OutcomeKind};
use crate::engine::{self, CohortTally};
use crate::store::blocking;
use crate::wire;

pub(super) async fn scan_once(cli: &Cli) -> Result<u8, Failure> {
    let app = open(cli).await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    let totals = app.engine.scan_once(&cancel).await;
    app.engine.release_turns().await;
    let totals = totals?;
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

/// The number for `check`, read from standard input (its first line):
/// it never appears in the process list or shell history that way.
pub(super) fn number_from_stdin() -> Result<String, Failure> {
    use std::io::{BufRead, IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("number to check: ");
    }
    let mut line = String::new();
    // A number is short; anything longer is not one (and is not kept).
    stdin
        .lock()
        .take(256)
        .read_line(&mut line)
        .map_err(|e| Failure::bad_input(format!("PHONE: cannot read standard input: {e}")))?;
    let number = line.trim().to_owned();
    if number.is_empty() {
        return Err(Failure::bad_input(
            "PHONE: give the number on standard input (echo 13572468 | unlistd check), or as an argument",
        ));
    }
    Ok(number)
}

pub(super) async fn check(cli: &Cli, phone: &str, record: bool) -> Result<u8, Failure> {
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
                let kind = app
                    .engine
                    .probe_and_record(site, *id, entry, engine::Slot::alone())
                    .await?
                    .kind;
                (kind, None, None, None)
            }
            None => {
                let r = engine::probe(site, &probe_entry).await;
                let reason = match &r.outcome {
                    Outcome::Inconclusive { reason } => Some(reason.clone()),
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
    app.engine.release_turns().await;
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

pub(super) async fn verify_cohort(cli: &Cli, tag: &str, retries: u32) -> Result<u8, Failure> {
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
    // One cohort pass per site, all at once: each runs at its own budget.
    let tallies: Vec<Arc<Mutex<CohortTally>>> = sites
        .iter()
        .map(|_| Arc::new(Mutex::new(CohortTally::default())))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (site, tally) in sites.iter().zip(&tallies) {
        let engine = app.engine.clone();
        let site = site.clone();
        let tally = tally.clone();
        let cancel = cancel.clone();
        let tag = tag.to_string();
        set.spawn(async move {
            engine
                .verify_cohort(&site, &tag, entries, retries, &cancel, &tally)
                .await
        });
    }
    let board = Arc::new(Board {
        names: sites.iter().map(|s| s.name().to_string()).collect(),
        tallies,
        entries,
    });
    let progress = Progress::start(format!("verify {tag}"), "probes", {
        let board = board.clone();
        move || board.snapshot()
    });
    let mut failure = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(Failure::from(e));
                cancel.cancel();
            }
            Err(e) => {
                failure.get_or_insert(Failure::operational(task_failure(&e)));
            }
        }
    }
    app.engine.release_turns().await;
    progress.finish(None);
    if let Some(f) = failure {
        return Err(f);
    }
    for d in app.dispatchers() {
        if let Err(e) = d.pass(true).await {
            tracing::warn!(receiver = d.receiver(), error = %e, "Alert delivery pass failed.");
        }
    }
    board.summary(cli, tag, cancel.is_cancelled())
}

/// The sites' tallies of a `verify --cohort` run, for progress lines and
/// the summary.
struct Board {
    names: Vec<String>,
    tallies: Vec<Arc<Mutex<CohortTally>>>,
    /// The cohort's size.
    entries: u64,
}

impl Board {
    fn now(&self) -> Vec<CohortTally> {
        self.tallies
            .iter()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// `site done/entries (exposed n, inconclusive n) · …`.
    fn per_site(&self, now: &[CohortTally]) -> String {
        self.names
            .iter()
            .zip(now)
            .map(|(n, t)| {
                format!(
                    "{n} {}/{} (exposed {}, inconclusive {})",
                    t.done, self.entries, t.exposed, t.inconclusive
                )
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// Answers against entries × sites, probes (retries included) for the
    /// rate, then `· site done/entries (exposed n, inconclusive n)` per site.
    fn snapshot(&self) -> Snapshot {
        let now = self.now();
        let done: u64 = now.iter().map(|t| t.done).sum();
        let probes = now.iter().map(|t| t.probes).sum();
        let all = self.entries * now.len() as u64;
        let detail = format!(" · {}", self.per_site(&now));
        #[allow(clippy::cast_precision_loss)]
        let fraction = if all == 0 {
            1.0
        } else {
            done as f64 / all as f64
        };
        Snapshot {
            fraction,
            count: probes,
            detail,
        }
    }

    /// Prints the result and returns the exit code: 3 if anything is
    /// exposed, 1 unless every entry has a conclusive answer from every
    /// site, else 0.
    fn summary(&self, cli: &Cli, tag: &str, cancelled: bool) -> Result<u8, Failure> {
        let (names, entries) = (&self.names, self.entries);
        let all = self.now();
        let sum = |f: fn(&CohortTally) -> u64| all.iter().map(f).sum::<u64>();
        let (clean, exposed, inconclusive) = (
            sum(|t| t.clean),
            sum(|t| t.exposed),
            sum(|t| t.inconclusive),
        );
        let complete =
            !cancelled && inconclusive == 0 && sum(|t| t.done) == entries * all.len() as u64;
        if cli.json {
            print_json(&serde_json::json!({
                "cohort": tag,
                "entries": entries,
                "sites": names.len(),
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
            println!("  {}", self.per_site(&all));
            for (n, t) in names.iter().zip(&all) {
                if let Some(why) = &t.skipped {
                    println!("  {n}: not checked: {why}");
                }
            }
            println!(
                "cohort {tag}: {entries} entries × {} sites, {} probes: clean {clean}, exposed {exposed}, inconclusive {inconclusive}; {}",
                names.len(),
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
}
