//! Wiring: settings → store → sites → engine → alert dispatchers → API.
//!
//! Owns the daemon's lifetime: every long-running task is spawned on one
//! `TaskTracker` and stops on one `CancellationToken`, which the caller
//! fires (SIGTERM in `main`, anything in tests). A reload (`SIGHUP`, see
//! `crate::reload`) swaps the [`App`] the API serves ([`LiveApp`]) and
//! replaces the schedulers and dispatchers, under the same token.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::Dispatcher;
use crate::config::{Settings, SiteSettings};
use crate::domain::OutcomeKind;
use crate::domain::pseudonym::Pseudonymizer;
use crate::engine::{Engine, Site};
use crate::fetch::RobotsPolicy;
use crate::reload::{ReloadCounters, SiteTables, Supervisor};
use crate::store::blocking;
use crate::store::{Store, StoreError};
use crate::wire;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("site {site}: {message}")]
    Site { site: String, message: String },
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
}

/// A site whose most recent this-many probes were all inconclusive is
/// reported `degraded`: we are blind there, whatever the reason.
pub const DEGRADED_AFTER: usize = 5;

/// What every App of one daemon shares.
struct Shared {
    pseudo: Pseudonymizer,
    alerts: Arc<Notify>,
    progress: Arc<AtomicU64>,
    reloads: Arc<ReloadCounters>,
}

/// The App the daemon runs with now: the API and dashboard read it per
/// request, and a reload swaps it.
#[derive(Debug, Clone)]
pub struct LiveApp(Arc<RwLock<App>>);

impl LiveApp {
    pub fn new(app: App) -> LiveApp {
        LiveApp(Arc::new(RwLock::new(app)))
    }

    pub fn get(&self) -> App {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, app: App) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = app;
    }
}

/// Lets handlers take `State<App>` from a router whose state is the
/// [`LiveApp`]: each request sees the App current when it arrived.
impl axum::extract::FromRef<LiveApp> for App {
    fn from_ref(live: &LiveApp) -> App {
        live.get()
    }
}

/// An opened store with the configured sites.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub engine: Engine,
    /// Reload outcomes, shared by every App of one daemon.
    pub reloads: Arc<ReloadCounters>,
}

impl App {
    pub fn open(settings: Settings) -> Result<App, AppError> {
        let store = Store::open(&settings.store_path)?;
        let pseudo = Pseudonymizer::new(&store.pseudonym_key()?);
        let shared = Shared {
            pseudo,
            alerts: Arc::new(Notify::new()),
            progress: Arc::new(AtomicU64::new(0)),
            reloads: Arc::default(),
        };
        App::assemble(settings, store, shared, |_| None, &[])
    }

    /// The App for reloaded `settings` on this App's store. `keep` returns
    /// the running site to reuse as is for an unchanged site; a changed
    /// one is built anew with the old one's counters. The wake-up for the
    /// dispatchers, the watchdog's progress count and the reload counters
    /// carry over, since tasks of both Apps use them during the switch.
    pub fn successor(
        &self,
        settings: Settings,
        keep: impl Fn(&SiteSettings) -> Option<Arc<Site>>,
    ) -> Result<App, AppError> {
        let shared = Shared {
            pseudo: self.engine.pseudo.clone(),
            alerts: self.engine.alerts.clone(),
            progress: self.engine.progress.clone(),
            reloads: self.reloads.clone(),
        };
        App::assemble(
            settings,
            self.store().clone(),
            shared,
            keep,
            &self.engine.sites,
        )
    }

    fn assemble(
        settings: Settings,
        store: Store,
        shared: Shared,
        keep: impl Fn(&SiteSettings) -> Option<Arc<Site>>,
        old: &[Arc<Site>],
    ) -> Result<App, AppError> {
        let mut sites = Vec::new();
        for s in &settings.sites {
            if let Some(k) = keep(s) {
                sites.push(k);
                continue;
            }
            let mut site = Site::new(s.clone()).map_err(|message| AppError::Site {
                site: s.name.clone(),
                message,
            })?;
            // A changed site's counters run on: `/metrics` counters must not
            // reset on a reload.
            if let Some(o) = old.iter().find(|o| o.name() == s.name) {
                site.stats = o.stats.clone();
            }
            sites.push(Arc::new(site));
        }
        let routes = Arc::new(settings.alerts.routes());
        let recorder = crate::engine::Recorder::new(
            store.clone(),
            settings.scan.resolve_after_clean,
            routes.clone(),
        );
        let engine = Engine {
            recorder,
            store,
            sites,
            scan: settings.scan.clone(),
            routes,
            pseudo: shared.pseudo,
            alerts: shared.alerts,
            progress: shared.progress,
            retention: settings.retention,
        };
        Ok(App {
            settings: Arc::new(settings),
            engine,
            reloads: shared.reloads,
        })
    }

    pub fn store(&self) -> &Store {
        &self.engine.store
    }

    pub fn dispatchers(&self) -> Vec<Dispatcher> {
        self.settings
            .alerts
            .channels
            .iter()
            .map(|w| Dispatcher::new(self.engine.store.clone(), w.clone(), &self.settings.alerts))
            .collect()
    }

    /// The `status` view; `live` adds the fetchers' effective rates (only
    /// meaningful inside the daemon).
    pub fn status(&self, live: bool) -> Result<wire::Status, StoreError> {
        let store = self.store();
        let now = time::OffsetDateTime::now_utc();
        let size = store.roster_size()?;
        let open = store.open_incident_count()?;
        let mut sites = Vec::new();
        for site in &self.engine.sites {
            let s = &site.settings;
            let cov = store.site_coverage(&s.name, now)?;
            let rate = s.policy.rate.count as f64 / s.policy.rate.per.as_secs_f64();
            let health = store.site_health(&s.name)?;
            let blind = cov.recent.len() >= DEGRADED_AFTER
                && cov
                    .recent
                    .iter()
                    .take(DEGRADED_AFTER)
                    .all(|k| *k == OutcomeKind::Inconclusive);
            let canary_degraded =
                site.has_canaries() && health.as_ref().is_some_and(|h| h.degraded);
            let state_reason = if canary_degraded {
                health.as_ref().and_then(|h| h.reason.clone())
            } else if blind {
                Some(format!(
                    "the last {DEGRADED_AFTER} probes were all inconclusive"
                ))
            } else {
                None
            };
            sites.push(wire::SiteStatus {
                name: s.name.clone(),
                enabled: s.enabled,
                state: if canary_degraded || blind {
                    "degraded"
                } else {
                    "healthy"
                },
                state_reason,
                degraded_since: health
                    .as_ref()
                    .filter(|h| h.degraded)
                    .map(|h| wire::rfc3339(h.since)),
                last_canary_at: health
                    .as_ref()
                    .and_then(|h| h.last_canary_at)
                    .map(wire::rfc3339),
                last_canary_ok: health.as_ref().and_then(|h| h.last_canary_ok),
                oldest_probe_age_seconds: cov.oldest_probe_age.map(|d| d.as_secs()),
                never_probed: cov.never_probed,
                probes_total: cov.probes_total,
                conclusive_share: (cov.probes_total > 0)
                    .then(|| cov.probes_conclusive as f64 / cov.probes_total as f64),
                configured_rate_per_second: rate,
                effective_rate_per_second: live.then(|| site.fetcher.effective_rate()),
                // A robots.txt Crawl-delay slows the site below its budget;
                // only the daemon's fetcher knows it.
                predicted_cycle_seconds: if live {
                    size as f64 * site.fetcher.pacing_interval().as_secs_f64()
                } else {
                    size as f64 / rate
                },
                max_staleness_seconds: self.settings.scan.max_staleness.as_secs(),
                robots: wire::RobotsStatus {
                    honoured: s.policy.robots == RobotsPolicy::Honour,
                    reason: match &s.policy.robots {
                        RobotsPolicy::Ignore { reason } => Some(reason.clone()),
                        RobotsPolicy::Honour => None,
                    },
                    crawl_delay_seconds: if live {
                        site.fetcher.robots_crawl_delay().map(|d| d.as_secs_f64())
                    } else {
                        None
                    },
                },
            });
        }
        let mut alerts = Vec::new();
        for r in self.settings.alerts.receivers() {
            let st = store.outbox_stats(&r)?;
            let since = store.receiver_failing_since(&r)?;
            alerts.push(wire::ReceiverStatus {
                failing: since.is_some() || st.head_attempts >= crate::alert::FAILING_AFTER,
                failing_since: since.map(wire::rfc3339),
                receiver: r,
                undelivered_events: st.undelivered_events,
                pending_messages: st.pending_messages,
                delivered_messages: st.delivered_messages,
                last_error: st.last_error,
            });
        }
        Ok(wire::Status {
            roster: wire::RosterStatus { size },
            incidents: wire::IncidentStatus { open },
            sites,
            alerts,
            silences: store
                .silences(now, false)?
                .iter()
                .map(wire::Silence::from)
                .collect(),
            last_reload: store.last_reload()?.as_ref().map(wire::LastReload::from),
        })
    }

    /// Runs the daemon until `shutdown` completes: one scheduler per enabled
    /// site, one dispatcher per receiver, the HTTP API. On shutdown the
    /// in-flight probes are abandoned (nothing half-recorded), and every
    /// task is awaited before returning.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        self.run_reloadable(None, shutdown).await
    }

    /// [`App::run`], plus a reload (see `crate::reload`) of `reload.config`
    /// on every message from `reload.requests`.
    pub async fn run_reloadable(
        self,
        reload: Option<Reloads>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), AppError> {
        let listener = tokio::net::TcpListener::bind(self.settings.api.listen)
            .await
            .map_err(|e| AppError::Listen {
                addr: self.settings.api.listen.to_string(),
                message: e.to_string(),
            })?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let progress = self.engine.progress.clone();
        // A reload result from an earlier run would read as this one's.
        let store = self.engine.store.clone();
        if let Err(e) = blocking(move || store.set_last_reload(None)).await {
            tracing::warn!(error = %e, "Cannot clear the last reload's record.");
        }

        let live = LiveApp::new(self.clone());
        let api = crate::web::router(live.clone());
        let c = cancel.clone();
        tracker.spawn(async move {
            let r = axum::serve(listener, api)
                .with_graceful_shutdown(c.cancelled_owned())
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "API server failed.");
            }
        });

        let (path, tables, mut requests) = match reload {
            Some(r) => (Some(r.config), r.sites, Some(r.requests)),
            None => (None, SiteTables::default(), None),
        };
        let mut supervisor = Supervisor::start(live, path, tables, cancel.clone(), tracker.clone());
        if let Some(every) = crate::systemd::watchdog_interval() {
            let p = progress.clone();
            let c = cancel.clone();
            tracker.spawn(async move { watchdog(every, p, c).await });
        }
        tracker.close();
        crate::engine::log_chain_head(&self.engine.store).await;
        crate::systemd::notify("READY=1\nSTATUS=scanning");
        tracing::info!(
            listen = %self.settings.api.listen,
            sites = self.engine.sites.iter().filter(|s| s.settings.enabled).count(),
            receivers = self.settings.alerts.channels.len(),
            "unlistd running."
        );

        tokio::pin!(shutdown);
        loop {
            let got = tokio::select! {
                _ = &mut shutdown => break,
                got = next_request(&mut requests) => got,
            };
            if got.is_none() {
                requests = None;
                continue;
            }
            // SIGTERM wins over a reload in progress: dropping it leaves
            // every task under `cancel`, fired just below.
            tokio::select! {
                _ = &mut shutdown => break,
                _ = supervisor.reload() => {}
            }
        }
        tracing::info!("Shutting down.");
        crate::systemd::notify("STOPPING=1");
        cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(20), tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("Some tasks did not stop within 20 s.");
        }
        // The store commits every transaction durably (synchronous=FULL);
        // a final checkpoint folds the WAL back so the file stands alone.
        let store = self.engine.store.clone();
        let _ = blocking(move || store.checkpoint()).await;
        tracing::info!("Stopped.");
        Ok(())
    }
}

async fn next_request(requests: &mut Option<tokio::sync::mpsc::Receiver<()>>) -> Option<()> {
    match requests {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Where reload requests come from, and what to re-read.
#[derive(Debug)]
pub struct Reloads {
    /// The config file the daemon started with.
    pub config: PathBuf,
    /// Its site tables, as read at start (with the settings).
    pub sites: SiteTables,
    /// One message per request (`SIGHUP`).
    pub requests: tokio::sync::mpsc::Receiver<()>,
}

/// Feeds the systemd watchdog at half its interval, but only when the
/// schedulers made progress since the last feed: a wedged scheduler stops
/// the pings and systemd restarts the service.
async fn watchdog(every: Duration, progress: Arc<AtomicU64>, cancel: CancellationToken) {
    use std::sync::atomic::Ordering;
    let mut last = progress.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(every / 2);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = progress.load(Ordering::Relaxed);
        if now != last {
            crate::systemd::notify("WATCHDOG=1");
            last = now;
        } else {
            tracing::warn!("No scheduler progress since the last watchdog ping.");
        }
    }
}
