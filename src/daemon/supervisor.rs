//! `SIGHUP`: re-read the config and apply it without a restart, losing no
//! work in flight.
//!
//! The daemon's long-running work is held by a [`Supervisor`]: one
//! scheduler per enabled site and one dispatcher per alert receiver, each
//! with its own stop tokens under the daemon's `CancellationToken`. A
//! reload:
//!
//! 1. tells systemd `RELOADING=1` (with `MONOTONIC_USEC`, which
//!    `Type=notify-reload` needs), then reads and validates the file the
//!    daemon started with. A bad file changes nothing: the error (file,
//!    line, key) is logged, kept for `status`, counted in `/metrics`, and
//!    the daemon carries on as it was.
//! 2. builds the next [`App`] on the same store. A site whose `[[sites]]`
//!    table and user agent are unchanged keeps its `Site` (fetcher, pacer,
//!    `Retry-After` gate, canary state); a changed one gets a new `Site`
//!    with the old counters. `[store] path` and `[api] listen` cannot move
//!    under a running daemon: a change is logged as needing a restart and
//!    the running values are kept. The API serves the next App at once.
//! 3. drains every scheduler and dispatcher: no new probes or deliveries
//!    start, and those in flight finish and are recorded (for at most
//!    [`DRAIN_TIMEOUT`]; a probe still waiting then is abandoned unrecorded
//!    and its entry handed on, see below).
//! 4. starts the successors: each site's scheduler continues the cycle its
//!    predecessor left (the position is handed over; shuffle keys live in
//!    the store), with entries imported or changed since that cycle began
//!    moved to just after that position, so a roster re-import plus
//!    `SIGHUP` gets the new entries probed next. A changed site's first
//!    request waits for the old fetcher's `Retry-After` gate and one
//!    interval of the slower of the old and new rates, so the switch never
//!    exceeds the politeness budget.
//! 5. tells systemd `READY=1`.
//!
//! Every scheduler restarts, not only the changed ones: the recorder bakes
//! in `resolve_after_clean` and the receiver list (outbox rows per
//! receiver), so an unchanged site must record through the new one too.
//! For an unchanged site that costs one probe's worth of pause.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::timers::Timers;
use crate::app::{App, AppError, LiveApp};
use crate::config::{self, ConfigError, Settings};
use crate::engine::{Resume, Site, Stop};
use crate::store::{ReloadRecord, blocking};
use crate::systemd;

/// Longest a reload waits for in-flight probes and deliveries to finish.
/// Most finish within one request; one still parked in a site's pacer or
/// `Retry-After` gate after this has sent nothing and is redone.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// After aborting an overrunning drain, how long to wait for the task to
/// notice before cutting it off.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// Each site's `[[sites]]` table as written, by name: what tells a changed
/// site from an unchanged one (comments and layout do not count).
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteTables(HashMap<String, toml::Value>);

impl SiteTables {
    /// The tables of `text`, which [`config::parse`] accepted.
    fn of(text: &str) -> SiteTables {
        let mut out = HashMap::new();
        let Ok(doc) = toml::from_str::<toml::Table>(text) else {
            return SiteTables(out);
        };
        for site in doc
            .get("sites")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(name) = site.get("name").and_then(|n| n.as_str()) {
                out.insert(name.trim().to_string(), site.clone());
            }
        }
        SiteTables(out)
    }

    fn same(&self, other: &SiteTables, name: &str) -> bool {
        matches!((self.0.get(name), other.0.get(name)), (Some(a), Some(b)) if a == b)
    }
}

/// A validated config with the site tables it came from (read once, so the
/// two cannot disagree).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub settings: Settings,
    pub sites: SiteTables,
}

/// Reads and validates a config file, like [`config::load`].
pub(crate) fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = config::read(path)?;
    let settings = config::parse(&text, path)?;
    Ok(Loaded {
        settings,
        sites: SiteTables::of(&text),
    })
}

struct Scheduler {
    site: Arc<Site>,
    stop: Stop,
    task: JoinHandle<Option<Resume>>,
}

struct Worker {
    receiver: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The daemon's schedulers and dispatchers, and the reload that replaces
/// them.
pub(crate) struct Supervisor {
    live: LiveApp,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// The file the daemon started with; `None`: reloads are ignored.
    path: Option<PathBuf>,
    /// The tables the running sites were built from.
    tables: SiteTables,
    schedulers: Vec<Scheduler>,
    dispatchers: Vec<Worker>,
}

/// What a reload found to apply.
struct Next {
    app: App,
    tables: SiteTables,
    needs_restart: Vec<&'static str>,
}

impl Supervisor {
    /// Starts a scheduler per enabled site and a dispatcher per receiver of
    /// the live App, all on `tracker` and under `cancel`.
    pub(crate) fn start(
        live: LiveApp,
        path: Option<PathBuf>,
        tables: SiteTables,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Supervisor {
        let app = live.get();
        let mut s = Supervisor {
            live,
            cancel,
            tracker,
            path,
            tables,
            schedulers: Vec::new(),
            dispatchers: Vec::new(),
        };
        for site in app.engine.sites.iter().filter(|s| s.settings.enabled) {
            s.spawn_scheduler(&app, site.clone(), None, Duration::ZERO);
        }
        s.spawn_dispatchers(&app);
        s
    }

    fn spawn_scheduler(
        &mut self,
        app: &App,
        site: Arc<Site>,
        resume: Option<Resume>,
        wait: Duration,
    ) {
        let stop = Stop::under(&self.cancel);
        let engine = app.engine.clone();
        let (s, st) = (site.clone(), stop.clone());
        let task = self.tracker.spawn(async move {
            if !wait.is_zero() {
                tokio::select! {
                    // Drained before it began: hand the position on unchanged.
                    _ = st.drain.cancelled() => return resume,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            engine.schedule(s, resume, st).await
        });
        self.schedulers.push(Scheduler { site, stop, task });
    }

    fn spawn_dispatchers(&mut self, app: &App) {
        for d in app.dispatchers() {
            let stop = self.cancel.child_token();
            let receiver = d.receiver().to_string();
            let task = self
                .tracker
                .spawn(d.run(app.engine.alerts.clone(), stop.clone()));
            self.dispatchers.push(Worker {
                receiver,
                stop,
                task,
            });
        }
        // The reminder pass and the digest only queue events; they restart
        // with the dispatchers so a reload applies `repeat_interval`,
        // `digest` and the routes at once.
        let timers = Timers::of(app);
        let stop = self.cancel.child_token();
        let task = self.tracker.spawn(timers.clone().reminders(stop.clone()));
        self.dispatchers.push(Worker {
            receiver: "(reminders)".into(),
            stop,
            task,
        });
        let stop = self.cancel.child_token();
        let task = self.tracker.spawn(timers.digest(stop.clone()));
        self.dispatchers.push(Worker {
            receiver: "(digest)".into(),
            stop,
            task,
        });
    }

    /// Re-reads the config and applies it (see the module docs). Safe to
    /// drop part way (a SIGTERM): every task it started or stopped is
    /// under the daemon's token.
    pub(crate) async fn reload(&mut self) {
        let Some(path) = self.path.clone() else {
            tracing::warn!("SIGHUP ignored: this daemon has no config file to re-read.");
            return;
        };
        systemd::notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the config",
            systemd::monotonic_usec()
        ));
        tracing::info!(config = %path.display(), "SIGHUP: reloading the config.");
        let old = self.live.get();
        let next = match self.prepare(&path, &old).await {
            Ok(n) => n,
            Err(e) => return self.failed(&old, &e).await,
        };
        for key in &next.needs_restart {
            tracing::warn!(
                key,
                "Changed in the config, but applies only after a restart: keeping the running value."
            );
        }
        self.live.set(next.app.clone());
        let drained = self.drain().await;

        let (mut added, mut changed, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for site in next.app.engine.sites.iter() {
            let name = site.name().to_string();
            let before = drained.get(&name);
            match old.engine.sites.iter().find(|s| s.name() == name) {
                None => added.push(name.clone()),
                Some(o) if Arc::ptr_eq(o, site) => kept.push(name.clone()),
                Some(_) => changed.push(name.clone()),
            }
            if !site.settings.enabled {
                continue;
            }
            let (resume, wait) = match before {
                Some((o, r)) if Arc::ptr_eq(o, site) => (*r, Duration::ZERO),
                Some((o, r)) => (*r, switch_gap(o, site)),
                None => (None, Duration::ZERO),
            };
            self.spawn_scheduler(&next.app, site.clone(), resume, wait);
        }
        let removed: Vec<String> = old
            .engine
            .sites
            .iter()
            .map(|s| s.name().to_string())
            .filter(|n| !next.app.engine.sites.iter().any(|s| s.name() == n))
            .collect();
        self.spawn_dispatchers(&next.app);
        self.report_removed_receivers(&old, &next.app).await;
        self.tables = next.tables;

        next.app.reloads.ok.fetch_add(1, Ordering::Relaxed);
        let record = ReloadRecord {
            time: time::OffsetDateTime::now_utc(),
            ok: true,
            error: None,
            needs_restart: next.needs_restart.iter().map(|k| k.to_string()).collect(),
        };
        let store = next.app.store().clone();
        if let Err(e) = blocking(move || store.set_last_reload(Some(&record))).await {
            tracing::error!(error = %e, "Cannot record the reload in the store.");
        }
        tracing::info!(
            sites_added = ?added,
            sites_changed = ?changed,
            sites_unchanged = ?kept,
            sites_removed = ?removed,
            scanning = self.schedulers.len(),
            receivers = self.dispatchers.len().saturating_sub(2),
            "Config reloaded."
        );
        systemd::notify("READY=1\nSTATUS=scanning");
    }

    /// Reads, validates and builds; changes nothing.
    async fn prepare(&self, path: &Path, old: &App) -> Result<Next, ConfigError> {
        let p = path.to_path_buf();
        let loaded = tokio::task::spawn_blocking(move || load(&p))
            .await
            .map_err(|e| ConfigError {
                file: path.display().to_string(),
                line: None,
                key: "(file)".into(),
                message: format!("reading failed: {e}"),
            })??;
        let mut settings = loaded.settings;
        let mut needs_restart = Vec::new();
        if settings.store_path != old.settings.store_path {
            needs_restart.push("store.path");
            settings.store_path = old.settings.store_path.clone();
        }
        if settings.store_url != old.settings.store_url {
            needs_restart.push("store.url");
            settings.store_url = old.settings.store_url.clone();
        }
        if settings.store_key != old.settings.store_key {
            needs_restart.push("store.encryption_key_file");
            settings.store_key = old.settings.store_key.clone();
        }
        if settings.api.listen != old.settings.api.listen {
            needs_restart.push("api.listen");
            settings.api.listen = old.settings.api.listen;
        }
        let keep = |s: &config::SiteSettings| {
            old.engine
                .sites
                .iter()
                .find(|o| o.name() == s.name)
                .filter(|o| {
                    self.tables.same(&loaded.sites, &s.name)
                        && o.settings.policy.user_agent == s.policy.user_agent
                })
                .cloned()
        };
        let names: Vec<String> = settings.sites.iter().map(|s| s.name.clone()).collect();
        let app = old.successor(settings, keep).map_err(|e| {
            let (key, message) = match e {
                AppError::Site { site, error } => {
                    let i = names.iter().position(|n| *n == site).unwrap_or(0);
                    (format!("sites[{i}]"), error.to_string())
                }
                other => ("(daemon)".to_string(), other.to_string()),
            };
            ConfigError {
                file: path.display().to_string(),
                line: None,
                key,
                message,
            }
        })?;
        Ok(Next {
            app,
            tables: loaded.sites,
            needs_restart,
        })
    }

    async fn failed(&self, old: &App, e: &ConfigError) {
        tracing::error!(
            file = %e.file,
            line = e.line.map(|l| l as u64),
            key = %e.key,
            error = %e,
            "Config reload failed: still running on the previous config."
        );
        old.reloads.error.fetch_add(1, Ordering::Relaxed);
        let record = ReloadRecord {
            time: time::OffsetDateTime::now_utc(),
            ok: false,
            error: Some(e.to_string()),
            needs_restart: Vec::new(),
        };
        let store = old.store().clone();
        if let Err(e) = blocking(move || store.set_last_reload(Some(&record))).await {
            tracing::error!(error = %e, "Cannot record the reload in the store.");
        }
        // systemd has no "reload failed" message: the service is ready, on
        // its old config, and says so in its status line.
        systemd::notify(&format!(
            "READY=1\nSTATUS=scanning; the last config reload failed: {}",
            one_line(&e.to_string())
        ));
    }

    /// Stops every scheduler and dispatcher, letting what is in flight
    /// finish (up to [`DRAIN_TIMEOUT`]). Returns each drained site with
    /// where its successor should continue.
    async fn drain(&mut self) -> HashMap<String, (Arc<Site>, Option<Resume>)> {
        let schedulers = std::mem::take(&mut self.schedulers);
        let dispatchers = std::mem::take(&mut self.dispatchers);
        for s in &schedulers {
            s.stop.drain.cancel();
        }
        for d in &dispatchers {
            d.stop.cancel();
        }
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        let mut out = HashMap::new();
        for mut s in schedulers {
            let resume = match tokio::time::timeout_at(deadline, &mut s.task).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::error!(site = s.site.name(), error = %e, "Scheduler task failed.");
                    None
                }
                Err(_) => {
                    tracing::warn!(
                        site = s.site.name(),
                        timeout_seconds = DRAIN_TIMEOUT.as_secs(),
                        "Probes still waiting after the drain timeout: abandoned unrecorded; the successor probes those entries first."
                    );
                    s.stop.abort.cancel();
                    match tokio::time::timeout(ABORT_GRACE, &mut s.task).await {
                        Ok(Ok(r)) => r,
                        _ => {
                            s.task.abort();
                            None
                        }
                    }
                }
            };
            out.insert(s.site.name().to_string(), (s.site, resume));
        }
        for mut d in dispatchers {
            if tokio::time::timeout_at(deadline, &mut d.task)
                .await
                .is_err()
            {
                // An interrupted delivery is sent again later with the same
                // webhook-id: at least once, as always.
                tracing::warn!(
                    receiver = %d.receiver,
                    "Alert delivery still running after the drain timeout: cut off; it is retried."
                );
                d.task.abort();
            }
        }
        out
    }

    /// A removed receiver's outbox rows stay where they are: nothing is
    /// dropped, and they go out if the receiver comes back.
    async fn report_removed_receivers(&self, old: &App, next: &App) {
        let now = next.settings.alerts.receivers();
        for r in old.settings.alerts.receivers() {
            if now.contains(&r) {
                continue;
            }
            let store = next.store().clone();
            let rr = r.clone();
            match blocking(move || store.outbox_stats(&rr)).await {
                Ok(st) if st.pending_messages + st.undelivered_events > 0 => tracing::warn!(
                    receiver = %r,
                    pending_messages = st.pending_messages,
                    undelivered_events = st.undelivered_events,
                    "Receiver removed from the config: its pending alerts stay undelivered in the outbox (they go out if it is configured again)."
                ),
                Ok(_) => tracing::info!(receiver = %r, "Receiver removed from the config."),
                Err(e) => {
                    tracing::error!(receiver = %r, error = %e, "Cannot read the removed receiver's outbox.");
                }
            }
        }
    }
}

/// How long a changed site's successor waits before its first request:
/// the old fetcher's `Retry-After` gate, then one interval of the slower
/// rate, measured from the drain (by which the old fetcher sent its last).
fn switch_gap(old: &Site, new: &Site) -> Duration {
    let gate = old.fetcher.retry_gate().unwrap_or_default();
    let interval = old
        .settings
        .policy
        .rate
        .interval()
        .max(new.settings.policy.rate.interval());
    gate + interval
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_tables_ignore_layout_and_see_values() {
        let a = SiteTables::of(
            "[[sites]]\nname = \"a\"\nrate = \"1/s\"\n[[sites]]\nname = \" b \"\nrate = \"2/s\"\n",
        );
        let b = SiteTables::of(
            "# comment\n[[sites]]\nrate = \"1/s\"   # same\nname = \"a\"\n\n[[sites]]\nname = \"b\"\nrate = \"3/s\"\n",
        );
        assert!(a.same(&b, "a"));
        assert!(!a.same(&b, "b"), "a changed rate is a change");
        assert!(!a.same(&b, "c"), "an unknown site is never the same");
        assert!(SiteTables::of("not toml [").0.is_empty());
    }
}
