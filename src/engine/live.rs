//! The daemon's [`Driver`]: the store's cycle queries and escalation
//! queue (on the blocking pool), and probes through the site's fetcher,
//! its adapter, the matcher and the recorder. The `Engine` methods that run
//! the scheduler (`unlistd run`, `scan --once`, `verify --cohort`) are here.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{Entry, EntryId};
use crate::store::{CycleCursor, Store, StoreError, Ts, blocking};

use super::schedule::{self, CohortTally, Done, Driver, Resume, ScanTotals, Slot, Stop};
use super::{Engine, Site};

/// One site of the engine, as the scheduler drives it.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    engine: Engine,
    site: Arc<Site>,
    /// `scan --once`: the pass walks the roster by id and leaves the
    /// site's cycle order in the store alone, so a daemon cycling the site
    /// meanwhile (another process) carries on with its walk undisturbed.
    by_id: bool,
}

impl Live {
    pub(crate) fn new(engine: &Engine, site: &Arc<Site>) -> Live {
        Live {
            engine: engine.clone(),
            site: site.clone(),
            by_id: false,
        }
    }

    fn one_pass(engine: &Engine, site: &Arc<Site>) -> Live {
        Live {
            by_id: true,
            ..Live::new(engine, site)
        }
    }

    fn store(&self) -> Store {
        self.engine.store.clone()
    }

    fn name(&self) -> String {
        self.site.name().to_string()
    }
}

impl Driver for Live {
    fn site(&self) -> &str {
        self.site.name()
    }

    fn concurrency(&self) -> usize {
        self.site.settings.policy.concurrency.max(1) as usize
    }

    fn has_canaries(&self) -> bool {
        self.site.has_canaries()
    }

    fn canaries_due(&self) -> bool {
        self.site.canaries_due()
    }

    fn degraded(&self) -> bool {
        self.site.degraded.load(Ordering::SeqCst)
    }

    fn canary_wait(&self) -> Duration {
        self.site
            .settings
            .canary_interval
            .min(Duration::from_secs(60))
    }

    fn escalation_budget(&self) -> (f64, u64) {
        let interval = self.site.settings.policy.rate.interval();
        let window = self.engine.scan.max_staleness.as_nanos() / interval.as_nanos().max(1);
        (
            self.engine.scan.escalation_share,
            u64::try_from(window).unwrap_or(u64::MAX),
        )
    }

    fn max_staleness(&self) -> Duration {
        self.engine.scan.max_staleness
    }

    fn now(&self) -> Ts {
        time::OffsetDateTime::now_utc()
    }

    fn start_cycle(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let (store, name, site, by_id) = (self.store(), self.name(), self.site.clone(), self.by_id);
        async move {
            if by_id {
                return blocking(move || store.roster_size()).await;
            }
            let (n, risk) =
                blocking(move || store.start_cycle_at(&name, time::OffsetDateTime::now_utc()))
                    .await?;
            site.stats.cycles.fetch_add(1, Ordering::Relaxed);
            if risk > 0 {
                tracing::debug!(
                    site = site.name(),
                    risk,
                    "Risk entries (last import, recent exposures) go first."
                );
            }
            Ok(n)
        }
    }

    fn cycle_batch(
        &self,
        after: Option<CycleCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError>> + Send {
        let (store, name, by_id) = (self.store(), self.name(), self.by_id);
        async move {
            if !by_id {
                return blocking(move || store.cycle_batch(&name, after, limit)).await;
            }
            // By id: the cursor's key is unused (always 0).
            let batch = blocking(move || store.roster_batch(after.map(|c| c.entry), limit)).await?;
            Ok(batch
                .into_iter()
                .map(|(id, entry)| {
                    (
                        CycleCursor {
                            shuffle_key: 0,
                            entry: id,
                        },
                        id,
                        entry,
                    )
                })
                .collect())
        }
    }

    fn join_cycle(
        &self,
        after: CycleCursor,
        since: Ts,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        blocking(move || store.join_cycle(&name, after, since))
    }

    fn resume_point(&self) -> impl Future<Output = Result<Option<Resume>, StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        async move {
            let at = blocking(move || store.cycle_resume_point(&name)).await?;
            Ok(at.map(|(after, since)| Resume { after, since }))
        }
    }

    fn finish_cycle(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        blocking(move || store.finish_cycle(&name))
    }

    fn roster_mark(&self) -> impl Future<Output = Result<i64, StoreError>> + Send {
        let store = self.store();
        blocking(move || store.roster_mark())
    }

    fn escalate(&self, id: EntryId) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        // Every enabled site: the leak may have reached the other
        // directories too (the 2018 case did).
        let sites: Vec<String> = self
            .engine
            .sites
            .iter()
            .filter(|s| s.settings.enabled)
            .map(|s| s.name().to_string())
            .collect();
        // Once per cohort and `max_staleness`: the exposures the escalation
        // itself finds must not queue the cohort again.
        let quiet = self.engine.scan.max_staleness;
        blocking(move || store.escalate(id, &name, &sites, time::OffsetDateTime::now_utc(), quiet))
    }

    fn escalated(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        blocking(move || store.escalated(&name, limit))
    }

    fn escalation_done(&self, _id: EntryId) -> impl Future<Output = Result<(), StoreError>> + Send {
        // Recording the probe took it off the queue, in the same
        // transaction (no second commit per escalated probe).
        std::future::ready(Ok(()))
    }

    fn escalation_skipped(
        &self,
        id: EntryId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let (store, name) = (self.store(), self.name());
        blocking(move || store.escalation_done(&name, id))
    }

    fn cohort_batch(
        &self,
        tag: &str,
        after: Option<EntryId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send {
        let (store, tag) = (self.store(), tag.to_string());
        blocking(move || store.cohort_entries(&tag, after, limit))
    }

    fn probe(
        &self,
        id: EntryId,
        entry: &Entry,
        slot: Slot,
    ) -> impl Future<Output = Result<Done, StoreError>> + Send {
        self.engine.probe_and_record(&self.site, id, entry, slot)
    }

    fn check_canaries(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.engine.check_canaries(&self.site)
    }

    fn after_cycle(&self) -> impl Future<Output = ()> + Send {
        self.engine.after_cycle()
    }

    fn idle(&self) {
        self.engine.progress.fetch_add(1, Ordering::Relaxed);
    }
}

impl Engine {
    /// One full cycle of `site` over the active roster in a fresh random
    /// order. Stops early (without recording the abandoned probes) when
    /// `cancel` fires.
    pub(crate) async fn run_cycle(
        &self,
        site: &Arc<Site>,
        cancel: &CancellationToken,
    ) -> Result<ScanTotals, StoreError> {
        let stop = Stop::together(cancel);
        schedule::cycle(
            &Live::one_pass(self, site),
            None,
            &stop,
            schedule::Run::Once,
        )
        .await
        .map(|(t, _)| t)
    }

    /// Cycles `site` back to back until `stop.drain` (see
    /// [`schedule::schedule`]); returns where it stopped for a successor.
    /// Only while this process holds the site's lease (`lease.rs`).
    pub(super) async fn cycles(
        &self,
        site: Arc<Site>,
        resume: Option<Resume>,
        stop: Stop,
    ) -> Option<Resume> {
        schedule::schedule(Live::new(self, &site), resume, stop).await
    }

    /// `verify --cohort` on one site (see [`schedule::verify_cohort`]).
    pub(crate) async fn verify_cohort(
        &self,
        site: &Arc<Site>,
        tag: &str,
        entries: u64,
        retries: u32,
        cancel: &CancellationToken,
        tally: &Mutex<CohortTally>,
    ) -> Result<(), StoreError> {
        let live = Live::new(self, site);
        schedule::verify_cohort(&live, tag, entries, retries, cancel, tally).await
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
            set.spawn(async move { me.run_cycle(&site, &cancel).await });
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
