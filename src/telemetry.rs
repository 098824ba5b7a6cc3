//! What the daemon tells about itself: the log subscriber, and the
//! in-memory counters behind `/metrics` (`web/metrics.rs` owns their
//! exposition). The counters live down here, with no dependencies, because
//! the engine and the daemon increment them and neither may name `web`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::OutcomeKind;

/// In-memory counters per site, for `/metrics` and `status`.
#[derive(Debug, Default)]
pub(crate) struct SiteStats {
    pub clean: AtomicU64,
    pub exposed: AtomicU64,
    pub inconclusive: AtomicU64,
    pub cycles: AtomicU64,
    /// Every request sent to the site (`fetch` records them).
    pub requests: Arc<RequestStats>,
}

impl SiteStats {
    /// One probe with outcome `k`.
    pub(crate) fn count(&self, k: OutcomeKind) {
        match k {
            OutcomeKind::Clean => &self.clean,
            OutcomeKind::Exposed => &self.exposed,
            OutcomeKind::Inconclusive => &self.inconclusive,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// This process's name where several processes share a store: who holds
/// a lease, in `status` and in the log. `HOST:PID`.
pub(crate) fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Upper bounds, in seconds, of the request-duration histogram's buckets:
/// from a quick answer to past the default 20 s timeout.
pub(crate) const REQUEST_BUCKETS: [f64; 10] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0];

/// How a request to a site ended: its HTTP status, or no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RequestCode {
    Status(u16),
    /// No answer within the site's timeout.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// Any other failure before an answer (TLS, protocol).
    Error,
}

impl std::fmt::Display for RequestCode {
    /// The `code` label's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestCode::Status(s) => write!(f, "{s}"),
            RequestCode::Timeout => f.write_str("timeout"),
            RequestCode::Connect => f.write_str("connect"),
            RequestCode::Error => f.write_str("error"),
        }
    }
}

/// Requests sent to one site since start: counts by [`RequestCode`] and a
/// histogram of their durations (send to last byte read).
#[derive(Debug, Default)]
pub(crate) struct RequestStats {
    codes: Mutex<BTreeMap<RequestCode, u64>>,
    /// Per bucket of [`REQUEST_BUCKETS`] (not cumulative), then the
    /// overflow past the last bound.
    buckets: [AtomicU64; REQUEST_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A snapshot of a [`RequestStats`] histogram, cumulative as Prometheus
/// wants it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// `(le, requests that took at most le seconds)`, one per bound.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl RequestStats {
    /// One request that ended as `code` after `took`.
    pub(crate) fn record(&self, code: RequestCode, took: Duration) {
        *self
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_insert(0) += 1;
        let secs = took.as_secs_f64();
        let i = REQUEST_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(REQUEST_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests by code, in code order.
    pub(crate) fn codes(&self) -> Vec<(RequestCode, u64)> {
        let codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.iter().map(|(c, n)| (*c, *n)).collect()
    }

    pub(crate) fn histogram(&self) -> Histogram {
        let mut seen = 0;
        let buckets = REQUEST_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&le, n)| {
                seen += n.load(Ordering::Relaxed);
                (le, seen)
            })
            .collect();
        // Read after the buckets so that +Inf (the count) is never below
        // the last bucket while requests are being recorded.
        let count = self.count.load(Ordering::Relaxed).max(seen);
        #[allow(clippy::cast_precision_loss)]
        let sum_seconds = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        Histogram {
            buckets,
            sum_seconds,
            count,
        }
    }
}

/// Reload outcomes since the daemon started (`/metrics`).
#[derive(Debug, Default)]
pub(crate) struct ReloadCounters {
    pub ok: AtomicU64,
    pub error: AtomicU64,
}

/// Installs the log subscriber: the journal under systemd, else stderr as
/// text or JSON lines. `default` is the level unless `UNLISTD_LOG` says
/// otherwise; [`QUIET_CRATES`] apply whatever it says.
pub(crate) fn init_logging(default: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = || {
        let mut filter =
            EnvFilter::try_from_env("UNLISTD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
        // Third-party crates log what they handle: the HTML parser logs page
        // tokens (which echo the searched number) and the HTTP stack logs
        // URLs (which carry it). Whatever the operator's filter, and
        // whichever sink, keep them quiet.
        for d in QUIET_CRATES {
            if let Ok(d) = d.parse() {
                filter = filter.add_directive(d);
            }
        }
        filter
    };
    // Under systemd with stderr connected to the journal, log natively
    // (structured fields, priorities). Not both: that would duplicate lines.
    let mut journal_error = None;
    if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier("unlistd".to_string());
                if tracing_subscriber::registry()
                    .with(layer.with_filter(filter()))
                    .try_init()
                    .is_ok()
                {
                    return;
                }
            }
            Err(e) => journal_error = Some(e.to_string()),
        }
    }
    use std::io::IsTerminal as _;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
    if let Some(error) = journal_error {
        tracing::info!(%error, "The journal socket is not usable; logging to stderr.");
    }
}

/// True when stderr is the journal stream systemd set up for this service:
/// `JOURNAL_STREAM` holds `DEVICE:INODE` of that stream (systemd.exec(5)).
/// Comparing it with stderr, not just testing the variable, keeps a shell
/// that inherited it (a terminal in a desktop session) on plain stderr.
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Replaces the default panic message (which would print the payload: a
/// parser's panic can quote the page it read, and that page shows what was
/// searched for) by one log line with the location only.
pub(crate) fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map_or_else(|| "unknown".to_string(), ToString::to_string);
        tracing::error!(%location, "Panic (its message is withheld: it may quote protected data).");
    }));
}

/// A failed task as text: whether it panicked or was cancelled, never its
/// panic message (tokio's `JoinError` shows it; it may quote a page or a
/// roster cell).
pub(crate) fn task_failure(e: &tokio::task::JoinError) -> String {
    if e.is_panic() {
        "the task panicked (its message is withheld)".to_string()
    } else {
        "the task was cancelled".to_string()
    }
}

/// Log directives that always apply (see [`init_logging`]).
pub(crate) const QUIET_CRATES: &[&str] = &[
    "html5ever=off",
    "markup5ever=off",
    "selectors=off",
    "scraper=off",
    "cssparser=off",
    "hyper=error",
    "hyper_util=error",
    "reqwest=error",
    "h2=error",
    "rustls=error",
    "tower=error",
    "tower_http=error",
    "axum=error",
    "cookie_store=error",
];
