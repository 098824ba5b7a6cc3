//! The one scheduler: passes of a site's probes at its concurrency, fed
//! from the store in batches. A cycle is a pass over the whole active
//! roster in a fresh random order (`reliability.md` §3c: a reshuffled
//! round-robin gives both the staleness bound and mass-leak detection
//! within a few hundred probes); the daemon runs cycles back to back, `scan
//! --once` runs one, and `verify --cohort` runs a pass over one cohort with
//! rounds of retries for the inconclusive ones.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::domain::incident::Step;
use crate::domain::{Entry, EntryId, OutcomeKind};
use crate::store::{CycleCursor, Store, StoreError, blocking};

use super::{Engine, Site};

/// Entries fetched from the store per scheduling batch.
const BATCH: usize = 200;

/// Totals of a scan, for `scan --once`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanTotals {
    pub probes: u64,
    pub clean: u64,
    pub exposed: u64,
    pub inconclusive: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
}

impl ScanTotals {
    fn add(&mut self, k: OutcomeKind, step: &Step) {
        self.probes += 1;
        match k {
            OutcomeKind::Clean => self.clean += 1,
            OutcomeKind::Exposed => self.exposed += 1,
            OutcomeKind::Inconclusive => self.inconclusive += 1,
        }
        match step {
            Step::Open { .. } => self.incidents_opened += 1,
            Step::Resolve { .. } => self.incidents_resolved += 1,
            _ => {}
        }
    }

    pub(crate) fn merge(&mut self, o: &ScanTotals) {
        self.probes += o.probes;
        self.clean += o.clean;
        self.exposed += o.exposed;
        self.inconclusive += o.inconclusive;
        self.incidents_opened += o.incidents_opened;
        self.incidents_resolved += o.incidents_resolved;
    }
}

/// How a scheduler is told to end. `drain` makes it take no new probes and
/// let those in flight finish and be recorded (a reload); `abort` abandons
/// them, recording nothing half-done (shutdown, or a drain that overran).
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub drain: CancellationToken,
    pub abort: CancellationToken,
}

impl Stop {
    /// Tokens under `parent`: cancelling it aborts, and aborting drains.
    pub(crate) fn under(parent: &CancellationToken) -> Stop {
        let abort = parent.child_token();
        Stop {
            drain: abort.child_token(),
            abort,
        }
    }

    /// One token for both: stopping abandons what is in flight.
    fn together(cancel: &CancellationToken) -> Stop {
        Stop {
            drain: cancel.clone(),
            abort: cancel.clone(),
        }
    }
}

/// Where a drained scheduler left its cycle: the successor continues after
/// `after` instead of reshuffling, so no entry waits a whole extra cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub after: CycleCursor,
}

/// Final outcomes of `verify --cohort` on one site.
#[derive(Debug, Default, Clone)]
pub(crate) struct CohortTally {
    /// Every probe, retries included.
    pub probes: u64,
    /// Entries with a final result.
    pub done: u64,
    pub clean: u64,
    pub exposed: u64,
    pub inconclusive: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    /// Why the site could not be checked at all (failing canaries).
    pub skipped: Option<String>,
}

/// Where a pass takes its entries from.
enum Entries {
    /// The site's cycle, in `(shuffle_key, entry_id)` order after `cursor`.
    Cycle {
        site: String,
        cursor: Option<CycleCursor>,
    },
    /// A cohort's active entries, by id after `after`.
    Cohort { tag: String, after: Option<EntryId> },
    /// The whole active roster, by id after `after`.
    Roster { after: Option<EntryId> },
    /// These, once (a round of retries).
    Listed(Vec<(EntryId, Entry)>),
}

/// One entry of a pass; `at` is its place in the cycle (cycles only).
struct Item {
    at: Option<CycleCursor>,
    id: EntryId,
    entry: Entry,
}

impl Entries {
    /// The next batch; empty when there is no more.
    async fn next_batch(&mut self, store: &Store) -> Result<Vec<Item>, StoreError> {
        match self {
            Entries::Cycle { site, cursor } => {
                let (store, name, after) = (store.clone(), site.clone(), *cursor);
                let batch = blocking(move || store.cycle_batch(&name, after, BATCH)).await?;
                if let Some(last) = batch.last() {
                    *cursor = Some(last.0);
                }
                Ok(batch
                    .into_iter()
                    .map(|(at, id, entry)| Item {
                        at: Some(at),
                        id,
                        entry,
                    })
                    .collect())
            }
            Entries::Cohort { tag, after } => {
                let (store, tag, from) = (store.clone(), tag.clone(), *after);
                let batch = blocking(move || store.cohort_entries(&tag, from, BATCH)).await?;
                if let Some((id, _)) = batch.last() {
                    *after = Some(*id);
                }
                Ok(batch
                    .into_iter()
                    .map(|(id, entry)| Item {
                        at: None,
                        id,
                        entry,
                    })
                    .collect())
            }
            Entries::Roster { after } => {
                let (store, from) = (store.clone(), *after);
                let batch = blocking(move || store.roster_batch(from, BATCH)).await?;
                if let Some((id, _)) = batch.last() {
                    *after = Some(*id);
                }
                Ok(batch
                    .into_iter()
                    .map(|(id, entry)| Item {
                        at: None,
                        id,
                        entry,
                    })
                    .collect())
            }
            Entries::Listed(list) => Ok(std::mem::take(list)
                .into_iter()
                .map(|(id, entry)| Item {
                    at: None,
                    id,
                    entry,
                })
                .collect()),
        }
    }
}

/// How one probe of a pass ended: `result` is `Ok(None)` when `stop.abort`
/// abandoned it (nothing was recorded).
struct Probed {
    at: Option<CycleCursor>,
    id: EntryId,
    entry: Entry,
    result: Result<Option<(OutcomeKind, Step)>, StoreError>,
}

/// Whether a pass checks the site's canaries as they fall due and stops
/// while they fail (cycles), or not (`verify --cohort` checks them once,
/// before it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Canaries {
    Watch,
    Ignore,
}

impl Engine {
    /// Probes each entry `entries` yields on `site`, at most the site's
    /// concurrency at once, recording each, and hands every ending to
    /// `done` (an error from it ends the pass). It takes no new entries
    /// once `stop.drain` fires (those in flight finish and are recorded)
    /// or watched canaries fail; `stop.abort` abandons those in flight.
    /// Returns the place of the last entry handed to a probe.
    async fn pass(
        &self,
        site: &Arc<Site>,
        mut entries: Entries,
        stop: &Stop,
        canaries: Canaries,
        mut done: impl FnMut(Result<Probed, JoinError>) -> Result<(), StoreError>,
    ) -> Result<Option<CycleCursor>, StoreError> {
        let concurrency = site.settings.policy.concurrency.max(1) as usize;
        let mut inflight = JoinSet::new();
        let mut last_started = None;
        'batches: loop {
            let batch = entries.next_batch(&self.store).await?;
            if batch.is_empty() {
                break;
            }
            for item in batch {
                while inflight.len() >= concurrency {
                    if let Some(r) = inflight.join_next().await {
                        done(r)?;
                    }
                }
                if stop.drain.is_cancelled() {
                    break 'batches;
                }
                if canaries == Canaries::Watch && site.canaries_due() {
                    let healthy = tokio::select! {
                        _ = stop.abort.cancelled() => break 'batches,
                        h = self.check_canaries(site) => h?,
                    };
                    if !healthy {
                        tracing::warn!(site = site.name(), "Canaries failing: cycle stopped.");
                        break 'batches;
                    }
                }
                last_started = item.at;
                let me = self.clone();
                let site = site.clone();
                let abort = stop.abort.clone();
                inflight.spawn(async move {
                    let Item { at, id, entry } = item;
                    let result = tokio::select! {
                        // Abandon cleanly: nothing half-recorded, the entry is
                        // probed again by the successor or next cycle.
                        _ = abort.cancelled() => Ok(None),
                        r = me.probe_and_record(&site, id, &entry) => r.map(Some),
                    };
                    Probed {
                        at,
                        id,
                        entry,
                        result,
                    }
                });
            }
            if stop.drain.is_cancelled()
                || (canaries == Canaries::Watch
                    && site.has_canaries()
                    && site.degraded.load(Ordering::SeqCst))
            {
                break;
            }
        }
        // Draining: what is in flight finishes and is recorded.
        while let Some(r) = inflight.join_next().await {
            done(r)?;
        }
        Ok(last_started)
    }

    /// One pass of `site` over the whole active roster (`scan --once`),
    /// by entry id: it leaves the site's cycle order in the store alone, so
    /// a daemon cycling the site meanwhile carries on where it is. Stops
    /// early (without recording the abandoned probes) when `cancel` fires.
    pub(crate) async fn run_pass(
        &self,
        site: &Arc<Site>,
        cancel: &CancellationToken,
    ) -> Result<ScanTotals, StoreError> {
        let stop = Stop::together(cancel);
        let mut totals = ScanTotals::default();
        let mut abandoned = None;
        let entries = Entries::Roster { after: None };
        self.pass(site, entries, &stop, Canaries::Watch, |r| {
            collect(&mut totals, r, &mut abandoned)
        })
        .await?;
        Ok(totals)
    }

    /// One cycle of `site`: a fresh one, or with `resume` the rest of the
    /// cycle a predecessor was drained from. Returns the totals and, when
    /// `stop` ended the cycle early, where a successor should continue.
    async fn cycle(
        &self,
        site: &Arc<Site>,
        resume: Option<Resume>,
        stop: &Stop,
    ) -> Result<(ScanTotals, Option<Resume>), StoreError> {
        let store = self.store.clone();
        let name = site.name().to_string();
        // No place handed over: the store may know one (this site's cycle
        // was under way in a daemon that stopped or died).
        let resume = match resume {
            Some(r) => Some(r),
            None => {
                let (store, name) = (store.clone(), name.clone());
                blocking(move || store.cycle_resume_point(&name))
                    .await?
                    .map(|after| Resume { after })
            }
        };
        let cursor = match resume {
            None => {
                let n = blocking(move || store.start_cycle(&name)).await?;
                site.stats.cycles.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(site = site.name(), entries = n, "Cycle started.");
                None
            }
            Some(Resume { after }) => {
                // Entries imported (or changed) since the predecessor's cycle
                // began would otherwise wait for the next one.
                let moved = blocking(move || store.join_cycle(&name, after)).await?;
                tracing::debug!(site = site.name(), joined = moved, "Cycle resumed.");
                Some(after)
            }
        };
        let mut totals = ScanTotals::default();
        // The last entry handed to a probe, and the earliest whose probe was
        // abandoned: a successor continues before the latter, else after the
        // former.
        let mut first_abandoned: Option<CycleCursor> = None;
        let entries = Entries::Cycle {
            site: site.name().to_string(),
            cursor,
        };
        let last_started = self
            .pass(site, entries, stop, Canaries::Watch, |r| {
                collect(&mut totals, r, &mut first_abandoned)
            })
            .await?
            .or(cursor);
        let resume = if !stop.drain.is_cancelled() {
            None
        } else if let Some(c) = first_abandoned {
            // Ids are integers, so nothing sorts between (key, id - 1) and
            // (key, id): continuing after the former starts at the latter.
            Some(Resume {
                after: CycleCursor {
                    shuffle_key: c.shuffle_key,
                    entry: EntryId(c.entry.0.saturating_sub(1)),
                },
            })
        } else {
            last_started.map(|after| Resume { after })
        };
        if resume.is_none() {
            let (store, name) = (self.store.clone(), site.name().to_string());
            blocking(move || store.finish_cycle(&name)).await?;
        }
        Ok((totals, resume))
    }

    /// Probes every entry of cohort `tag` (`entries` of them) on `site`,
    /// then the inconclusive ones again, for up to `retries` more rounds,
    /// counting into `tally` as it goes: every probe counts, but an entry's
    /// outcome only once it is final (conclusive, or inconclusive in the
    /// last round). `cancel` stops taking entries and rounds; probes in
    /// flight are recorded. A site whose canaries fail is not checked: its
    /// answers cannot be trusted.
    pub(crate) async fn verify_cohort(
        &self,
        site: &Arc<Site>,
        tag: &str,
        entries: u64,
        retries: u32,
        cancel: &CancellationToken,
        tally: &Mutex<CohortTally>,
    ) -> Result<(), StoreError> {
        let add = |f: &dyn Fn(&mut CohortTally)| {
            f(&mut tally.lock().unwrap_or_else(|e| e.into_inner()));
        };
        if !self.check_canaries(site).await? {
            add(&|t| {
                t.skipped = Some("its canaries fail: its answers cannot be trusted".into());
                t.inconclusive = entries;
                t.done = entries;
            });
            return Ok(());
        }
        // Ctrl-C drains: what was asked is recorded, nothing is abandoned.
        let stop = Stop {
            drain: cancel.clone(),
            abort: CancellationToken::new(),
        };
        let mut source = Entries::Cohort {
            tag: tag.to_string(),
            after: None,
        };
        for round in 0..=retries {
            let last_round = round == retries;
            let mut again = Vec::new();
            self.pass(site, source, &stop, Canaries::Ignore, |r| {
                let Ok(Probed {
                    id, entry, result, ..
                }) = r
                else {
                    return Ok(());
                };
                let Some((kind, step)) = result? else {
                    return Ok(());
                };
                let retry = kind == OutcomeKind::Inconclusive && !last_round;
                add(&|t| t.count(kind, &step, !retry));
                if retry {
                    again.push((id, entry));
                }
                Ok(())
            })
            .await?;
            if cancel.is_cancelled() || again.is_empty() {
                break;
            }
            source = Entries::Listed(again);
        }
        Ok(())
    }

    /// Cycles `site` back to back until `stop.drain` (while this process
    /// holds the site's lease: see `lease.rs`). Each cycle probes
    /// every active entry once at the site's rate, so an entry's probes are
    /// at most one cycle (N / rate) apart; a cycle longer than
    /// `max_staleness` is logged, since coverage then misses its bound.
    /// Starts with the rest of `resume`'s cycle, and on `stop.drain`
    /// returns where it stopped (after the probes in flight were recorded)
    /// for a successor (a reload).
    pub(super) async fn cycles(
        &self,
        site: Arc<Site>,
        mut resume: Option<Resume>,
        stop: Stop,
    ) -> Option<Resume> {
        let mut failures = 0u32;
        while !stop.drain.is_cancelled() {
            let started = tokio::time::Instant::now();
            match self.cycle(&site, resume.take(), &stop).await {
                Ok((_, Some(r))) => return Some(r),
                Ok((t, None)) => {
                    failures = 0;
                    if t.probes > 0 {
                        self.after_cycle().await;
                    }
                    let took = started.elapsed();
                    if took > self.scan.max_staleness {
                        tracing::warn!(
                            site = site.name(),
                            took_seconds = took.as_secs(),
                            max_staleness_seconds = self.scan.max_staleness.as_secs(),
                            "Cycle took longer than max_staleness: raise the site's rate or the bound."
                        );
                    }
                    if site.degraded.load(Ordering::SeqCst) {
                        // Blind: re-check the canaries, not the roster, until
                        // they pass; sparing the budget of a site that blocks us.
                        let wait = site.settings.canary_interval.min(Duration::from_secs(60));
                        tokio::select! {
                            _ = stop.drain.cancelled() => {}
                            _ = tokio::time::sleep(wait) => {}
                        }
                    } else if t.probes == 0 {
                        // An idle cycle is progress too (for the watchdog).
                        self.progress.fetch_add(1, Ordering::Relaxed);
                        // Empty roster: look again soon, without spinning.
                        tokio::select! {
                            _ = stop.drain.cancelled() => {}
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                Err(StoreError::Busy(e)) => {
                    // Another process held the store past the busy timeout;
                    // nothing failed, the cycle starts again when it is free.
                    tracing::warn!(site = site.name(), error = %e, "Store busy; the cycle goes on when it is free.");
                    tokio::select! {
                        _ = stop.drain.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(1u64 << failures.min(6));
                    tracing::error!(site = site.name(), error = %e, retry_in_seconds = wait.as_secs(), "Cycle failed.");
                    tokio::select! {
                        _ = stop.drain.cancelled() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        None
    }

    /// After a cycle: the retention purges, then the audit chain head in
    /// the log (a witness outside the store). Failures are logged, not fatal.
    pub(crate) async fn after_cycle(&self) {
        let store = self.store.clone();
        let retention = self.retention;
        let routes = self.routes.clone();
        let now = time::OffsetDateTime::now_utc();
        match blocking(move || store.purge(now, &retention, &routes)).await {
            Ok(p) if p.evidence_purged + p.entries_erased > 0 => tracing::info!(
                evidence_purged = p.evidence_purged,
                entries_erased = p.entries_erased,
                "Retention purge done."
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "Retention purge failed."),
        }
        log_chain_head(&self.store).await;
    }

    /// One pass of every enabled site, concurrently (`scan --once`).
    pub(crate) async fn scan_once(
        &self,
        cancel: &CancellationToken,
    ) -> Result<ScanTotals, StoreError> {
        let mut set = tokio::task::JoinSet::new();
        for site in self.sites.iter().filter(|s| s.settings.enabled) {
            let me = self.clone();
            let site = site.clone();
            let cancel = cancel.clone();
            set.spawn(async move { me.run_pass(&site, &cancel).await });
        }
        let mut totals = ScanTotals::default();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(t)) => totals.merge(&t),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(StoreError::Unavailable(format!("scan task failed: {e}"))),
            }
        }
        Ok(totals)
    }
}

/// Logs the audit trail's head: `chain head seq=… hash=…`.
pub(crate) async fn log_chain_head(store: &Store) {
    let store = store.clone();
    match blocking(move || store.audit_head()).await {
        Ok(Some(h)) => {
            tracing::info!("chain head seq={} hash={}", h.seq, h.hash);
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "Cannot read the audit chain head."),
    }
}

/// Adds one probe of a cycle to its totals, or notes where it was
/// abandoned.
fn collect(
    totals: &mut ScanTotals,
    r: Result<Probed, JoinError>,
    first_abandoned: &mut Option<CycleCursor>,
) -> Result<(), StoreError> {
    match r {
        Ok(Probed {
            result: Ok(Some((k, step))),
            ..
        }) => {
            totals.add(k, &step);
            Ok(())
        }
        Ok(Probed {
            result: Ok(None),
            at: Some(at),
            ..
        }) => {
            let earlier = first_abandoned
                .is_none_or(|c| (at.shuffle_key, at.entry.0) < (c.shuffle_key, c.entry.0));
            if earlier {
                *first_abandoned = Some(at);
            }
            Ok(())
        }
        Ok(Probed {
            result: Ok(None), ..
        }) => Ok(()),
        Ok(Probed { result: Err(e), .. }) => Err(e),
        Err(e) => {
            // A panicking probe is a bug, but one entry must not stop the scan.
            tracing::error!(
                error = crate::telemetry::task_failure(&e),
                "Probe task failed."
            );
            Ok(())
        }
    }
}

impl CohortTally {
    /// One probe; `last` when its outcome is the entry's final one.
    fn count(&mut self, kind: OutcomeKind, step: &Step, last: bool) {
        self.probes += 1;
        match step {
            Step::Open { .. } => self.incidents_opened += 1,
            Step::Resolve { .. } => self.incidents_resolved += 1,
            _ => {}
        }
        if last {
            self.done += 1;
            match kind {
                OutcomeKind::Clean => self.clean += 1,
                OutcomeKind::Exposed => self.exposed += 1,
                OutcomeKind::Inconclusive => self.inconclusive += 1,
            }
        }
    }
}
