//! The daemon (`unlistd run`): one scheduler per enabled site, one
//! dispatcher per alert receiver, the reminder and digest timers, the HTTP
//! API, the systemd watchdog, and signals (`SIGTERM`/`SIGINT` stop it,
//! `SIGHUP` reloads the config).
//!
//! Every long-running task is spawned on one `TaskTracker` and stops on one
//! `CancellationToken`, which [`run`] fires when its `shutdown` future
//! completes (a signal in [`run_file`], anything in tests and the demo).
//!
//! - `supervisor.rs`: holds the schedulers and dispatchers and reloads
//!   them (`SIGHUP`);
//! - `timers.rs`: the reminder pass and the daily digest.

pub(crate) mod supervisor;
pub(crate) mod timers;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, AppError, LiveApp};
use crate::config::ConfigError;
use crate::engine::log_chain_head;
use crate::store::{LockError, StoreLock, blocking, lock_exclusive};
use crate::{systemd, web};
use supervisor::{SiteTables, Supervisor};

/// Why the daemon could not start, or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config file does not load (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("cannot install signal handlers")]
    Signals,
    /// Another daemon holds the store (exit 1).
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Opening the store on the blocking pool failed to complete.
    #[error("{0}")]
    Task(String),
}

/// `unlistd run`: loads `path`, opens the store, and runs until `SIGTERM`
/// or `SIGINT`; `SIGHUP` re-reads `path`.
pub(crate) async fn run_file(path: &Path) -> Result<(), DaemonError> {
    let loaded = supervisor::load(path)?;
    // One daemon per store, taken before the store is even opened; held
    // until this function returns (the kernel drops it if we die).
    // On PostgreSQL several daemons share the store by design: each site
    // is held by one of them at a time through a lease (see `engine`).
    let lock: Option<StoreLock> = match loaded.settings.store_url {
        None => Some(lock_exclusive(&loaded.settings.store_path)?),
        Some(_) => None,
    };
    if let Some(l) = &lock {
        tracing::debug!(lock = %l.path().display(), "This daemon holds the store.");
    }
    let s = loaded.settings;
    let held = lock.is_some();
    let app = tokio::task::spawn_blocking(move || -> Result<App, AppError> {
        let app = App::open(s)?;
        if held {
            // The only daemon on this store: a site lease left by one that
            // died is stale, and need not be waited out.
            if let Err(e) = app.engine.store.clear_leases("site:") {
                tracing::warn!(error = %e, "Cannot clear stale site leases; they expire.");
            }
        }
        Ok(app)
    })
    .await
    .map_err(|e| DaemonError::Task(crate::telemetry::task_failure(&e)))??;
    // One pending request is enough: a reload reads the file as it is then.
    let (reload_tx, requests) = tokio::sync::mpsc::channel(1);
    let api_reload_tx = reload_tx.clone();
    // Installed now, before READY=1 is sent: a SIGHUP that arrived before
    // the first poll of `shutdown` would otherwise kill the daemon (the
    // default action), and a SIGTERM would skip the graceful stop.
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return Err(DaemonError::Signals);
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
    let reloads = Reloads {
        config: path.to_path_buf(),
        sites: loaded.sites,
        requests,
        trigger: api_reload_tx,
    };
    run(app, Some(reloads), shutdown).await
}

/// Runs `app` until `shutdown` completes: one scheduler per enabled site,
/// one dispatcher per receiver, the HTTP API, and with `reload` a reload
/// (`supervisor.rs`) of `reload.config` on every message from
/// `reload.requests`. On shutdown the in-flight probes are abandoned
/// (nothing half-recorded), and every task is awaited before returning.
pub(crate) async fn run(
    app: App,
    reload: Option<Reloads>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let listener = tokio::net::TcpListener::bind(app.settings.api.listen)
        .await
        .map_err(|e| DaemonError::Listen {
            addr: app.settings.api.listen.to_string(),
            message: e.to_string(),
        })?;
    if !app.settings.api.listen.ip().is_loopback() {
        // Confirmed by `allow_remote`, and still worth a line in the journal.
        tracing::warn!(
            listen = %app.settings.api.listen,
            "The API and the dashboard listen beyond this machine ([api] allow_remote = true); \
             keep TLS and a firewall in front of them."
        );
    }
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let progress = app.engine.progress.clone();
    // A reload result from an earlier run would read as this one's.
    let store = app.engine.store.clone();
    if let Err(e) = blocking(move || store.set_last_reload(None)).await {
        tracing::warn!(error = %e, "Cannot clear the last reload's record.");
    }

    let live = LiveApp::new(app.clone());
    let trigger = web::ReloadTrigger(reload.as_ref().map(|r| r.trigger.clone()));
    let api = web::router(live.clone(), trigger);
    let c = cancel.clone();
    tracker.spawn(async move {
        // The peer address tells the trusted proxy (loopback) from others.
        let api = api.into_make_service_with_connect_info::<std::net::SocketAddr>();
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
    let mut supervisor =
        Supervisor::start(live.clone(), path, tables, cancel.clone(), tracker.clone());
    if let Some(every) = systemd::watchdog_interval() {
        let p = progress.clone();
        let c = cancel.clone();
        tracker.spawn(async move { watchdog(every, p, c).await });
    }
    tracker.close();
    log_chain_head(&app.engine.store).await;
    systemd::notify("READY=1\nSTATUS=scanning");
    tracing::info!(
        listen = %app.settings.api.listen,
        sites = app.engine.sites.iter().filter(|s| s.settings.enabled).count(),
        receivers = app.settings.alerts.channels.len(),
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
    systemd::notify("STOPPING=1");
    cancel.cancel();
    if tokio::time::timeout(Duration::from_secs(20), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("Some tasks did not stop within 20 s.");
    }
    // Turns held but not used go back to the other processes at once.
    live.get().engine.release_turns().await;
    // Sites and receivers this daemon held are free for another at once.
    let store = app.engine.store.clone();
    let me = crate::telemetry::instance_id();
    if let Err(e) = blocking(move || store.release_leases_of(&me)).await {
        tracing::debug!(error = %e, "Cannot give the leases up; they expire.");
    }
    // The store commits every transaction durably (synchronous=FULL);
    // a final checkpoint folds the WAL back so the file stands alone.
    let store = app.engine.store.clone();
    let _ = blocking(move || store.checkpoint()).await;
    tracing::info!("Stopped.");
    Ok(())
}

async fn next_request(requests: &mut Option<tokio::sync::mpsc::Receiver<()>>) -> Option<()> {
    match requests {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Where reload requests come from, and what to re-read.
#[derive(Debug)]
pub(crate) struct Reloads {
    /// The config file the daemon started with.
    pub config: PathBuf,
    /// Its site tables, as read at start (with the settings).
    pub sites: SiteTables,
    /// One message per request (`SIGHUP`, `POST /api/v1/reload`).
    pub requests: tokio::sync::mpsc::Receiver<()>,
    /// What the API sends a request with.
    pub trigger: tokio::sync::mpsc::Sender<()>,
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
            systemd::notify("WATCHDOG=1");
            last = now;
        } else {
            tracing::warn!("No scheduler progress since the last watchdog ping.");
        }
    }
}
