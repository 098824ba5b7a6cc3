//! Assembly: settings → store → sites → engine → alert dispatchers, as one
//! [`App`]. Running it is the daemon's job, serving it the web module's. A
//! reload (`SIGHUP`, `daemon::supervisor`) builds the next App with
//! [`App::successor`] and swaps the one the API serves ([`LiveApp`]).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::Notify;

use crate::alert::Dispatcher;
use crate::config::{Settings, SiteSettings};
use crate::domain::pseudonym::Pseudonymizer;
use crate::engine::{Engine, Recorder, Site};
use crate::fetch::{ClientError, SharedBudget, Turns};
use crate::store::{Store, StoreError};
use crate::telemetry::ReloadCounters;

/// Why an App cannot be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A site's HTTP client cannot be built.
    #[error("site {site}: {error}")]
    Site { site: String, error: ClientError },
}

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
pub(crate) struct LiveApp(Arc<RwLock<App>>);

impl LiveApp {
    pub(crate) fn new(app: App) -> LiveApp {
        LiveApp(Arc::new(RwLock::new(app)))
    }

    pub(crate) fn get(&self) -> App {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, app: App) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = app;
    }
}

/// An opened store with the configured sites.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub settings: Arc<Settings>,
    pub engine: Engine,
    /// Reload outcomes, shared by every App of one daemon.
    pub reloads: Arc<ReloadCounters>,
}

impl App {
    pub(crate) fn open(settings: Settings) -> Result<App, AppError> {
        let store = open_store(&settings)?;
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
    pub(crate) fn successor(
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
            let budget: Arc<dyn SharedBudget> = Arc::new(StoreBudget(store.clone()));
            let mut site = Site::new(s.clone(), Some(budget)).map_err(|error| AppError::Site {
                site: s.name.clone(),
                error,
            })?;
            // A changed site's counters run on: `/metrics` counters must not
            // reset on a reload.
            if let Some(o) = old.iter().find(|o| o.name() == s.name) {
                site.keep_counters_of(o);
            }
            sites.push(Arc::new(site));
        }
        let routes = Arc::new(settings.alerts.routes());
        let recorder = Recorder::new(
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

    pub(crate) fn store(&self) -> &Store {
        &self.engine.store
    }

    pub(crate) fn dispatchers(&self) -> Vec<Dispatcher> {
        let contacts: Vec<(String, String)> = self
            .settings
            .sites
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.takedown_contact.clone()?)))
            .collect();
        self.settings
            .alerts
            .channels
            .iter()
            .map(|w| {
                Dispatcher::new(self.engine.store.clone(), w.clone(), &self.settings.alerts)
                    .with_takedown_contacts(contacts.clone())
            })
            .collect()
    }
}

/// The store `[store]` names: the SQLite file at `path`, or PostgreSQL at
/// `url`. Blocks (call it from a blocking thread).
pub(crate) fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    match &settings.store_url {
        None => Store::open_with(&settings.store_path, settings.store_key.as_ref()),
        Some(u) => Store::open_postgres(&u.url, u.password.as_deref()),
    }
}

/// The sites' shared politeness budget, kept in the store: what `fetch`
/// asks for every request's turn (it never names the store itself).
#[derive(Debug)]
struct StoreBudget(Store);

impl SharedBudget for StoreBudget {
    fn claim(
        &self,
        site: &str,
        now_us: i64,
        count: u32,
        interval_us: i64,
    ) -> Result<Turns, String> {
        let c = self
            .0
            .claim_turns(site, now_us, count, interval_us)
            .map_err(|e| e.to_string())?;
        Ok(Turns {
            first_us: c.first_us,
            count: c.count,
            interval_us: c.interval_us,
        })
    }

    fn give_back(&self, site: &str, from_us: i64, end_us: i64) -> Result<(), String> {
        self.0
            .give_back_turns(site, from_us, end_us)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn close(&self, site: &str, until_us: i64) -> Result<(), String> {
        self.0.close_site(site, until_us).map_err(|e| e.to_string())
    }

    fn gate(&self, site: &str) -> Result<i64, String> {
        self.0.site_gate(site).map_err(|e| e.to_string())
    }

    fn share_crawl_delay(&self, site: &str, delay_us: i64, until_us: i64) -> Result<(), String> {
        self.0
            .share_crawl_delay(site, delay_us, until_us)
            .map_err(|e| e.to_string())
    }
}
