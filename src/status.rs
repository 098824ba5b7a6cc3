//! The status view (`unlistd status`, `GET /api/v1/status`, the
//! dashboard, `/metrics`, the digest): roster size, per-site health,
//! coverage and rate, receivers, silences, the last reload. It reads the
//! store, the running sites and the settings, nothing more.

use std::sync::Arc;

use crate::alert::FAILING_AFTER;
use crate::app::App;
use crate::config::Settings;
use crate::domain::{OutcomeKind, SiteState};
use crate::engine::Site;
use crate::fetch::RobotsPolicy;
use crate::store::{Store, StoreError};
use crate::wire;

/// A site whose most recent this-many probes were all inconclusive is
/// reported `degraded`: we are blind there, whatever the reason.
pub(crate) const DEGRADED_AFTER: usize = 5;

/// [`view`] of an App's store, sites and settings.
pub(crate) fn of(app: &App, live: bool) -> Result<wire::Status, StoreError> {
    view(app.store(), &app.engine.sites, &app.settings, live)
}

/// The `status` view; `live` adds the fetchers' effective rates (only
/// meaningful inside the daemon).
pub(crate) fn view(
    store: &Store,
    running: &[Arc<Site>],
    settings: &Settings,
    live: bool,
) -> Result<wire::Status, StoreError> {
    let now = time::OffsetDateTime::now_utc();
    let size = store.roster_size()?;
    let open = store.open_incident_count()?;
    let mut sites = Vec::new();
    for site in running {
        sites.push(site_status(store, site, settings, size, live, now)?);
    }
    let mut alerts = Vec::new();
    for r in settings.alerts.receivers() {
        alerts.push(receiver_status(store, r)?);
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

/// One site's line of the view; `size` is the roster's.
fn site_status(
    store: &Store,
    site: &Site,
    settings: &Settings,
    size: u64,
    live: bool,
    now: time::OffsetDateTime,
) -> Result<wire::SiteStatus, StoreError> {
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
    let holder = store
        .leases(&crate::engine::site_lease(&s.name), now)?
        .into_iter()
        .find(|l| l.name == crate::engine::site_lease(&s.name));
    let canary_degraded = site.has_canaries() && health.as_ref().is_some_and(|h| h.degraded);
    let state_reason = if canary_degraded {
        health.as_ref().and_then(|h| h.reason.clone())
    } else if blind {
        Some(format!(
            "the last {DEGRADED_AFTER} probes were all inconclusive"
        ))
    } else {
        None
    };
    Ok(wire::SiteStatus {
        name: s.name.clone(),
        enabled: s.enabled,
        state: if canary_degraded || blind {
            SiteState::Degraded
        } else {
            SiteState::Healthy
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
        max_staleness_seconds: settings.scan.max_staleness.as_secs(),
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
        held_since: holder.as_ref().map(|l| wire::rfc3339(l.since)),
        held_by: holder.map(|l| l.holder),
    })
}

/// One receiver's line of the view.
fn receiver_status(store: &Store, r: String) -> Result<wire::ReceiverStatus, StoreError> {
    let st = store.outbox_stats(&r)?;
    let since = store.receiver_failing_since(&r)?;
    Ok(wire::ReceiverStatus {
        failing: since.is_some() || st.head_attempts >= FAILING_AFTER,
        failing_since: since.map(wire::rfc3339),
        receiver: r,
        undelivered_events: st.undelivered_events,
        pending_messages: st.pending_messages,
        delivered_messages: st.delivered_messages,
        last_error: st.last_error,
    })
}
