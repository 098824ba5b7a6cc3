//! Scheduled alert events: `repeat_interval` reminders and the daily
//! digest. Both only *queue* events (in one transaction each); the
//! dispatchers deliver them like any other, so they inherit grouping,
//! routing, silences and at-least-once delivery.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Settings;
use crate::domain::incident::IncidentState;
use crate::domain::route::Routes;
use crate::engine::Site;
use crate::store::{Store, StoreError, blocking};

/// What the timers read: the store, the running sites and the settings
/// (the digest's figures are the status view's), the routes, and the
/// dispatchers' wake-up. Not the App.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    pub store: Store,
    pub sites: Vec<Arc<Site>>,
    pub settings: Arc<Settings>,
    pub routes: Arc<Routes>,
    /// Woken when an event was queued.
    pub notify: Arc<Notify>,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// How often to look for due reminders: a fraction of the interval, so a
/// reminder is at most that late, but never busier than 4 times a second,
/// and at least every 5 s so an exposure whose silence just ended is
/// announced promptly (the query is an index range scan).
pub(crate) fn reminder_tick(repeat: Duration) -> Duration {
    (repeat / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

impl Timers {
    /// The timers of `app`.
    pub(crate) fn of(app: &App) -> Timers {
        Timers {
            store: app.store().clone(),
            sites: app.engine.sites.clone(),
            settings: app.settings.clone(),
            routes: app.engine.routes.clone(),
            notify: app.engine.alerts.clone(),
        }
    }

    /// Queues due reminders until cancelled.
    pub(crate) async fn reminders(self, cancel: CancellationToken) {
        let repeat = self.settings.alerts.repeat_interval;
        let routes = self.routes.clone();
        let mut tick = tokio::time::interval(reminder_tick(repeat));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let store = self.store.clone();
            let routes = routes.clone();
            match blocking(move || store.queue_reminders(now(), repeat, &routes)).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(incidents = n, "Reminders queued for incidents still open.");
                    self.notify.notify_waiters();
                }
                Err(e) => tracing::error!(error = %e, "Queueing reminders failed."),
            }
            self.overdue().await;
        }
    }

    /// Raises `exposure.overdue` for listings still up past their site's
    /// `takedown_sla` after removal was requested (on the reminders' tick).
    async fn overdue(&self) {
        let store = self.store.clone();
        let routes = self.routes.clone();
        let slas: Vec<(String, Duration)> = self
            .settings
            .sites
            .iter()
            .map(|s| (s.name.clone(), s.takedown_sla))
            .collect();
        let sla_of = move |site: &str| slas.iter().find(|(n, _)| n == site).map(|(_, d)| *d);
        match blocking(move || store.queue_overdue(now(), &sla_of, &routes)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    incidents = n,
                    "Takedowns overdue: listings still up past the site's takedown_sla."
                );
                self.notify.notify_waiters();
            }
            Err(e) => tracing::error!(error = %e, "Checking overdue takedowns failed."),
        }
    }

    /// Queues one digest a day at `[alerts] digest` (UTC) until cancelled. A
    /// daemon started after that time sends that day's at once; a restart
    /// never sends a second one for the same day.
    pub(crate) async fn digest(self, cancel: CancellationToken) {
        let Some(at) = self.settings.alerts.digest_at else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(day) = digest_day(now(), at) else {
                continue;
            };
            let t = self.clone();
            let queued = blocking(move || {
                // Cheap check first: the figures cost a coverage scan per site.
                if t.store.last_digest_day()?.as_deref() == Some(day.as_str()) {
                    return Ok(false);
                }
                let payload = digest_payload(&t.store, &t.sites, &t.settings, &day)?.to_string();
                t.store.queue_digest(&day, &payload, now(), &t.routes)
            })
            .await;
            match queued {
                Ok(true) => {
                    tracing::info!("Daily digest queued.");
                    self.notify.notify_waiters();
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "Queueing the digest failed."),
            }
        }
    }
}

/// The day whose digest is due at `at`, if the digest time has passed.
pub(crate) fn digest_day(at: time::OffsetDateTime, digest_at: time::Time) -> Option<String> {
    (at.time() >= digest_at).then(|| at.date().to_string())
}

/// The digest's figures: counts of the last 24 h, coverage and state per
/// site, open incidents, silences, failing receivers, the audit chain head.
/// Refs and numbers never appear: it is counts only.
pub(crate) fn digest_payload(
    store: &Store,
    sites: &[Arc<Site>],
    settings: &Settings,
    day: &str,
) -> Result<Value, StoreError> {
    let t = now();
    let status = crate::status::view(store, sites, settings, false)?;
    let counts = store.probe_counts_since(t - Duration::from_secs(86400))?;
    let open = store.incidents(true)?;
    let acknowledged = open
        .iter()
        .filter(|i| i.state == IncidentState::Acknowledged)
        .count();
    let per = |site: &str, outcome: &str| -> u64 {
        counts
            .iter()
            .filter(|(s, o, _)| s == site && o == outcome)
            .map(|(_, _, n)| *n)
            .sum()
    };
    let sites: Vec<Value> = status
        .sites
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "state": s.state.as_str(),
                "oldest_probe_age_seconds": s.oldest_probe_age_seconds,
                "never_probed": s.never_probed,
                "clean": per(&s.name, "clean"),
                "exposed": per(&s.name, "exposed"),
                "inconclusive": per(&s.name, "inconclusive"),
                "open_incidents": open.iter().filter(|i| i.site == s.name).count(),
            })
        })
        .collect();
    let head = store.audit_head()?;
    Ok(json!({
        "day": day,
        "roster_size": status.roster.size,
        "open_incidents": open.len(),
        "acknowledged_incidents": acknowledged,
        "probes_24h": counts.iter().map(|(_, _, n)| *n).sum::<u64>(),
        "active_silences": status.silences.len(),
        "failing_receivers": status.alerts.iter().filter(|r| r.failing).map(|r| r.receiver.clone()).collect::<Vec<_>>(),
        "sites": sites,
        "audit_head": head.map(|h| json!({"seq": h.seq, "hash": h.hash})),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_due_from_its_time_of_day() {
        let at = time::macros::time!(08:00);
        assert_eq!(
            digest_day(time::macros::datetime!(2026-11-28 07:59 UTC), at),
            None
        );
        assert_eq!(
            digest_day(time::macros::datetime!(2026-11-28 08:00 UTC), at).as_deref(),
            Some("2026-11-28")
        );
        assert_eq!(
            digest_day(time::macros::datetime!(2026-11-28 23:59 UTC), at).as_deref(),
            Some("2026-11-28")
        );
    }

    #[test]
    fn reminder_tick_is_bounded() {
        assert_eq!(
            reminder_tick(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            reminder_tick(Duration::from_secs(86400)),
            Duration::from_secs(5)
        );
        assert_eq!(
            reminder_tick(Duration::from_millis(10)),
            Duration::from_millis(250)
        );
    }
}
