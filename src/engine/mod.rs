//! Probing and scheduling.
//!
//! - `probe.rs`: [`probe`] asks one site about one entry and turns what
//!   came back into an [`Outcome`]: fetch failures and pages the adapter
//!   cannot read are `inconclusive`, never `clean`.
//! - `schedule.rs`: the one scheduler, generic over a `Driver`. Passes
//!   over entries at a site's concurrency: cycles over the roster in a
//!   fresh random order, risk entries first, with the escalation lane (the
//!   daemon, `scan --once`), and cohort passes with retries (`verify
//!   --cohort`); canaries at every cycle's start, every `canary_interval`
//!   and after a run of unreadable answers.
//! - `live.rs`: the daemon's `Driver` (the store's queue, fetch, the
//!   recorder) and the `Engine` methods that run the scheduler.
//! - `simulate.rs`: `unlistd simulate`, the same scheduler against an
//!   in-memory queue and directory on tokio's paused clock.
//! - `recorder.rs`: [`Recorder`] group-commits probe results, each in one
//!   store transaction together with its incident step and outbox rows.
//!
//! Here: the configured [`Site`] and the [`Engine`] that probes, records
//! and checks canaries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::config::{ScanSettings, SiteSettings};
use crate::domain::incident::Step;
use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::route::Routes;
use crate::domain::{Address, Entry, EntryId, ExposedField, Outcome};
use crate::fetch::{ClientError, SharedBudget, SiteFetcher};
use crate::store::{NewProbe, Retention, Store, StoreError, blocking};
use crate::telemetry::SiteStats;

mod lease;
mod live;
mod probe;
mod recorder;
mod schedule;
pub(crate) mod simulate;

pub(crate) use lease::site_lease;
pub(crate) use live::log_chain_head;
pub(crate) use probe::{Lens, probe, probe_with};
pub(crate) use recorder::Recorder;
pub(crate) use schedule::{CohortTally, Done, Resume, Slot, Stop};

/// A configured site with its fetcher.
#[derive(Debug)]
pub(crate) struct Site {
    pub settings: SiteSettings,
    pub fetcher: SiteFetcher,
    /// Shared with the site's successor after a reload, so the counters
    /// run on.
    pub stats: Arc<SiteStats>,
    /// Set while the site's canaries fail: its clean results cannot be
    /// trusted, so they are recorded as inconclusive.
    pub degraded: std::sync::atomic::AtomicBool,
    /// When the canaries were last checked.
    last_canary: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Site {
    /// The site with its fetcher, taking its turns from `budget` when
    /// given (the budget every process shares); fails when its HTTP client
    /// cannot be built.
    pub(crate) fn new(
        settings: SiteSettings,
        budget: Option<Arc<dyn SharedBudget>>,
    ) -> Result<Site, ClientError> {
        let fetcher = match budget {
            Some(b) => SiteFetcher::with_budget(settings.policy.clone(), b)?,
            None => SiteFetcher::new(settings.policy.clone())?,
        };
        let stats = Arc::new(SiteStats {
            requests: fetcher.requests().clone(),
            ..SiteStats::default()
        });
        Ok(Site {
            settings,
            fetcher,
            stats,
            degraded: Default::default(),
            last_canary: Default::default(),
        })
    }

    /// Counts on in `old`'s counters (probes, cycles, requests), so that
    /// `/metrics` counters do not reset when a reload replaces a site.
    pub(crate) fn keep_counters_of(&mut self, old: &Site) {
        self.stats = old.stats.clone();
        self.fetcher.count_requests_in(old.stats.requests.clone());
    }

    pub(crate) fn has_canaries(&self) -> bool {
        !self.settings.canaries.is_empty() || !self.settings.absent_canaries.is_empty()
    }

    fn canaries_due(&self) -> bool {
        if !self.has_canaries() {
            return false;
        }
        let last = *self.last_canary.lock().unwrap_or_else(|e| e.into_inner());
        last.is_none_or(|t| t.elapsed() >= self.settings.canary_interval)
    }

    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }
}

/// The scanning side of the daemon.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub store: Store,
    pub sites: Vec<Arc<Site>>,
    pub scan: ScanSettings,
    /// Which alert receivers get which events.
    pub routes: Arc<Routes>,
    pub pseudo: Pseudonymizer,
    /// Woken whenever a probe raised an alert event.
    pub alerts: Arc<Notify>,
    /// Bumped on every recorded probe and idle cycle (systemd watchdog).
    pub progress: Arc<AtomicU64>,
    /// Group-commits probe results (see [`Recorder`]).
    pub recorder: Recorder,
    /// Evidence and roster retention, applied after every cycle.
    pub retention: Retention,
}

impl Engine {
    /// Hands every site's unused shared turns back (the process stops
    /// asking the sites: a command ends, the daemon stops).
    pub(crate) async fn release_turns(&self) {
        for site in &self.sites {
            site.fetcher.release_turns().await;
        }
    }

    /// Probes one entry on one site and records the result with its
    /// incident step and outbox rows, in one transaction. The probe's time
    /// is when its deciding page arrived. While the site's canaries fail,
    /// a clean-looking answer is recorded as inconclusive: the page it came
    /// from cannot be trusted.
    pub(crate) async fn probe_and_record(
        &self,
        site: &Site,
        id: EntryId,
        entry: &Entry,
        slot: Slot,
    ) -> Result<Done, StoreError> {
        let store = self.store.clone();
        let name = site.name().to_string();
        let dismissed = blocking(move || store.dismissed_listings(id, &name)).await?;
        let lens = Lens {
            pseudo: &self.pseudo,
            dismissed: &dismissed,
        };
        let mut r = probe_with(site, entry, Some(lens)).await;
        if matches!(r.outcome, Outcome::Clean) && site.degraded.load(Ordering::SeqCst) {
            r.outcome = Outcome::Inconclusive {
                reason: "site degraded: its canaries fail, so a clean page cannot be trusted"
                    .into(),
            };
        }
        let kind = r.outcome.kind();
        site.stats.count(kind);
        let np = NewProbe {
            entry: id,
            site: site.name().to_string(),
            time: r.decided_at.unwrap_or_else(time::OffsetDateTime::now_utc),
            outcome: r.outcome.clone(),
            http_status: r.http_status,
            page_sha256: r.page_sha256,
            url_masked: r.url_masked,
            body: r.body,
            listing_keys: r.listing_keys,
        };
        let effect = self.recorder.record_after(np, slot).await?;
        self.progress.fetch_add(1, Ordering::Relaxed);
        let who = self.pseudo.number_short(&entry.phone);
        match (&r.outcome, &effect.step) {
            (Outcome::Inconclusive { reason }, _) => {
                tracing::debug!(site = site.name(), entry = %who, %reason, "Probe inconclusive.");
            }
            (_, Step::Open { exposed }) => tracing::warn!(
                site = site.name(),
                entry = %who,
                entry_ref = %entry.entry_ref,
                incident = effect.incident_id.as_deref().unwrap_or(""),
                exposed = %exposed.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","),
                "Exposure opened."
            ),
            (_, Step::Resolve { .. }) => tracing::info!(
                site = site.name(),
                entry = %who,
                entry_ref = %entry.entry_ref,
                incident = effect.incident_id.as_deref().unwrap_or(""),
                "Exposure resolved."
            ),
            _ => {
                tracing::trace!(site = site.name(), entry = %who, outcome = kind.as_str(), "Probe recorded.");
            }
        }
        if effect.step.event().is_some() {
            self.alerts.notify_one();
        }
        Ok(Done {
            kind,
            step: effect.step,
            unreadable: r.unreadable,
        })
    }

    /// Probes the site's canaries: every listed canary must be found (with
    /// its address, where one is named) and every absent canary must come
    /// back clean. Records the result (and a `site.degraded`/
    /// `site.recovered` event on a change). Returns whether the site is
    /// healthy; a site without canaries always is.
    pub(crate) async fn check_canaries(&self, site: &Site) -> Result<bool, StoreError> {
        if !site.has_canaries() {
            return Ok(true);
        }
        *site.last_canary.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        let mut failures: Vec<String> = Vec::new();
        let as_entry = |n: &crate::domain::E164, address: Option<&Address>| Entry {
            entry_ref: String::new(),
            phone: n.clone(),
            name: None,
            address: address.cloned(),
            hide_number: true,
            hide_address: address.is_some(),
            cohort: None,
        };
        for (i, c) in site.settings.canaries.iter().enumerate() {
            match probe(site, &as_entry(&c.number, c.address.as_ref()))
                .await
                .outcome
            {
                Outcome::Exposed { fields, .. }
                    if c.address.is_none() || fields.contains(&ExposedField::Address) => {}
                Outcome::Exposed { .. } => {
                    failures.push(format!("canary {} found without its address", i + 1));
                }
                Outcome::Clean => failures.push(format!("canary {} not found", i + 1)),
                Outcome::Inconclusive { reason } => {
                    failures.push(format!("canary {} unreadable: {reason}", i + 1));
                }
            }
        }
        for (i, n) in site.settings.absent_canaries.iter().enumerate() {
            match probe(site, &as_entry(n, None)).await.outcome {
                Outcome::Clean => {}
                Outcome::Exposed { .. } => {
                    failures.push(format!("absent canary {} reported listed", i + 1));
                }
                Outcome::Inconclusive { reason } => {
                    failures.push(format!("absent canary {} unreadable: {reason}", i + 1));
                }
            }
        }
        let ok = failures.is_empty();
        let reason = (!ok).then(|| failures.join("; "));
        let store = self.store.clone();
        let name = site.name().to_string();
        let routes = self.routes.clone();
        let r2 = reason.clone();
        let event = blocking(move || {
            store.record_canary_check(
                &name,
                time::OffsetDateTime::now_utc(),
                ok,
                r2.as_deref(),
                &routes,
            )
        })
        .await?;
        site.degraded.store(!ok, Ordering::SeqCst);
        self.progress.fetch_add(1, Ordering::Relaxed);
        match event {
            Some(crate::domain::incident::EventType::SiteDegraded) => {
                tracing::warn!(
                    site = site.name(),
                    reason = reason.as_deref().unwrap_or(""),
                    "Site degraded."
                );
                self.alerts.notify_one();
            }
            Some(_) => {
                tracing::info!(site = site.name(), "Site recovered: canaries pass again.");
                self.alerts.notify_one();
            }
            None if !ok => tracing::debug!(site = site.name(), "Site still degraded."),
            None => {}
        }
        Ok(ok)
    }
}
