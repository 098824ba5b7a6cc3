//! `/metrics`: every metric's name, help, type and labels, in Prometheus
//! text. The in-memory counters it reads live in `telemetry` (the engine
//! and the daemon increment them); the rest comes from the status view and
//! the outbox, so it survives restarts. Labels come only from configuration
//! (site names, outcome classes, receiver ids), never from the roster.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::domain::SiteState;
use crate::store::{OutboxStats, blocking};
use crate::wire;

/// One exposition being written.
struct Text(String);

impl Text {
    /// `# HELP` and `# TYPE` of `name`.
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample; `labels` is `key="value"` text, empty for none.
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }
}

/// A label value, escaped as the text format requires.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) async fn metrics(State(app): State<App>) -> Response {
    let a = app.clone();
    let loaded = blocking(move || {
        let st = crate::status::of(&a, true)?;
        let mut outbox = Vec::new();
        for r in a.settings.alerts.receivers() {
            let stats = a.store().outbox_stats(&r)?;
            outbox.push((r, stats));
        }
        Ok((st, outbox))
    })
    .await;
    let (st, outbox) = match loaded {
        Ok(x) => x,
        Err(e) => return super::internal(e),
    };
    let mut out = Text(String::new());
    build_info(&mut out, &app);
    counters(&mut out, &app);
    requests(&mut out, &app);
    sites(&mut out, &st);
    totals(&mut out, &st);
    receivers(&mut out, &st);
    reloads(&mut out, &app, &st);
    failed_attempts(&mut out, &outbox);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out.0,
    )
        .into_response()
}

/// The running version, and the staleness bound the coverage alert
/// compares with.
fn build_info(out: &mut Text, app: &App) {
    out.head(
        "unlistd_build_info",
        "gauge",
        "Always 1; the version of the running unlistd in a label.",
    );
    out.sample(
        "unlistd_build_info",
        &format!("version=\"{}\"", esc(env!("CARGO_PKG_VERSION"))),
        1,
    );
    out.head(
        "unlistd_max_staleness_seconds",
        "gauge",
        "The configured max_staleness: every entry is to be probed on every site at least this often.",
    );
    out.sample(
        "unlistd_max_staleness_seconds",
        "",
        app.settings.scan.max_staleness.as_secs(),
    );
}

/// Probes and cycles since start (`telemetry::SiteStats`).
fn counters(out: &mut Text, app: &App) {
    out.head(
        "unlistd_probes_total",
        "counter",
        "Probes since start, by site and outcome.",
    );
    for site in &app.engine.sites {
        for (outcome, v) in [
            ("clean", &site.stats.clean),
            ("exposed", &site.stats.exposed),
            ("inconclusive", &site.stats.inconclusive),
        ] {
            out.sample(
                "unlistd_probes_total",
                &format!("site=\"{}\",outcome=\"{outcome}\"", esc(site.name())),
                v.load(Ordering::Relaxed),
            );
        }
    }
    out.head(
        "unlistd_cycles_total",
        "counter",
        "Scan cycles started, by site.",
    );
    for site in &app.engine.sites {
        out.sample(
            "unlistd_cycles_total",
            &format!("site=\"{}\"", esc(site.name())),
            site.stats.cycles.load(Ordering::Relaxed),
        );
    }
}

/// Every request sent to each site since start, by status, and how long
/// they took (`telemetry::RequestStats`, recorded by `fetch`).
fn requests(out: &mut Text, app: &App) {
    out.head(
        "unlistd_site_requests_total",
        "counter",
        "Requests sent to the site since start (retries, redirect hops and robots.txt included), by HTTP status, or timeout/connect/error when none came.",
    );
    for site in &app.engine.sites {
        for (code, n) in site.stats.requests.codes() {
            out.sample(
                "unlistd_site_requests_total",
                &format!("site=\"{}\",code=\"{code}\"", esc(site.name())),
                n,
            );
        }
    }
    let name = "unlistd_site_request_duration_seconds";
    out.head(
        name,
        "histogram",
        "Time from sending a request to the site to the last byte of its answer (or its failure).",
    );
    for site in &app.engine.sites {
        let h = site.stats.requests.histogram();
        let site = format!("site=\"{}\"", esc(site.name()));
        for (le, n) in &h.buckets {
            out.sample(&format!("{name}_bucket"), &format!("{site},le=\"{le}\""), n);
        }
        out.sample(
            &format!("{name}_bucket"),
            &format!("{site},le=\"+Inf\""),
            h.count,
        );
        out.sample(&format!("{name}_sum"), &site, h.sum_seconds);
        out.sample(&format!("{name}_count"), &site, h.count);
    }
}

/// Per-site gauges of the status view.
fn sites(out: &mut Text, st: &wire::Status) {
    out.head(
        "unlistd_oldest_probe_age_seconds",
        "gauge",
        "Age of the least recently conclusively probed entry.",
    );
    out.head(
        "unlistd_site_degraded",
        "gauge",
        "1 when the site is degraded.",
    );
    out.head(
        "unlistd_site_requests_per_second",
        "gauge",
        "Requests sent to the site per second over the last minute.",
    );
    for s in &st.sites {
        let site = format!("site=\"{}\"", esc(&s.name));
        if let Some(age) = s.oldest_probe_age_seconds {
            out.sample("unlistd_oldest_probe_age_seconds", &site, age);
        }
        out.sample(
            "unlistd_site_degraded",
            &site,
            u8::from(s.state == SiteState::Degraded),
        );
        out.sample(
            "unlistd_site_requests_per_second",
            &site,
            s.effective_rate_per_second.unwrap_or(0.0),
        );
    }
}

/// Incidents, roster, conclusive ratio, silences.
fn totals(out: &mut Text, st: &wire::Status) {
    out.head(
        "unlistd_open_incidents",
        "gauge",
        "Open or acknowledged incidents.",
    );
    out.sample("unlistd_open_incidents", "", st.incidents.open);
    out.head("unlistd_roster_entries", "gauge", "Active roster entries.");
    out.sample("unlistd_roster_entries", "", st.roster.size);
    out.head(
        "unlistd_probes_conclusive_ratio",
        "gauge",
        "Share (0 to 1) of all recorded probes that were conclusive (clean or exposed).",
    );
    for s in &st.sites {
        if let Some(share) = s.conclusive_share {
            out.sample(
                "unlistd_probes_conclusive_ratio",
                &format!("site=\"{}\"", esc(&s.name)),
                share,
            );
        }
    }
    out.head(
        "unlistd_silences_active",
        "gauge",
        "Silences in force (alerts they match are held back).",
    );
    out.sample("unlistd_silences_active", "", st.silences.len());
}

/// Per receiver, from the outbox (so they survive restarts).
fn receivers(out: &mut Text, st: &wire::Status) {
    type Gauge = fn(&wire::ReceiverStatus) -> u64;
    let receiver_metrics: [(&str, &str, &str, Gauge); 4] = [
        (
            "unlistd_alert_pending_messages",
            "gauge",
            "Formed alert messages not yet delivered.",
            |r| r.pending_messages,
        ),
        (
            "unlistd_alert_delivered_messages_total",
            "counter",
            "Alert messages delivered (acknowledged with a 2xx), ever.",
            |r| r.delivered_messages,
        ),
        (
            "unlistd_alert_undelivered_events",
            "gauge",
            "Alert events not yet in a delivered message.",
            |r| r.undelivered_events,
        ),
        (
            "unlistd_alert_receiver_failing",
            "gauge",
            "1 when the receiver is failing (3 failed attempts in a row, or a 4xx).",
            |r| u64::from(r.failing),
        ),
    ];
    for (name, kind, help, value) in receiver_metrics {
        out.head(name, kind, help);
        for r in &st.alerts {
            out.sample(
                name,
                &format!("receiver=\"{}\"", esc(&r.receiver)),
                value(r),
            );
        }
    }
}

/// Config reloads since start (`telemetry::ReloadCounters`) and the last
/// one's result.
fn reloads(out: &mut Text, app: &App, st: &wire::Status) {
    out.head(
        "unlistd_config_reloads_total",
        "counter",
        "Config reloads (SIGHUP) since start, by result.",
    );
    for (result, n) in [
        ("ok", app.reloads.ok.load(Ordering::Relaxed)),
        ("error", app.reloads.error.load(Ordering::Relaxed)),
    ] {
        out.sample(
            "unlistd_config_reloads_total",
            &format!("result=\"{result}\""),
            n,
        );
    }
    let last_ok = st.last_reload.as_ref().is_none_or(|r| r.result == "ok");
    out.head(
        "unlistd_config_last_reload_successful",
        "gauge",
        "0 when the last reload failed (the daemon runs on the config before it).",
    );
    out.sample(
        "unlistd_config_last_reload_successful",
        "",
        u8::from(last_ok),
    );
}

/// The oldest pending message's failed attempts, per receiver.
fn failed_attempts(out: &mut Text, outbox: &[(String, OutboxStats)]) {
    out.head(
        "unlistd_alert_failed_attempts",
        "gauge",
        "Failed delivery attempts of the oldest pending message (0 when none is pending).",
    );
    for (r, stats) in outbox {
        out.sample(
            "unlistd_alert_failed_attempts",
            &format!("receiver=\"{}\"", esc(r)),
            stats.head_attempts,
        );
    }
}
