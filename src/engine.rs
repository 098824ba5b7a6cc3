//! Probing and scheduling.
//!
//! [`probe`] asks one site about one entry and turns what came back into an
//! [`Outcome`]: fetch failures and pages the adapter cannot read are
//! `inconclusive`, never `clean`. [`Engine`] runs one scheduler per site:
//! cycles over the roster in a fresh random order each time (see
//! `reliability.md` §3c: a reshuffled round-robin gives both the staleness
//! bound and mass-leak detection within a few hundred probes), each probe
//! recorded in one store transaction together with its incident step and
//! outbox rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{ScanSettings, SiteSettings};
use crate::domain::incident::Step;
use crate::domain::pseudonym::Pseudonymizer;
use crate::domain::route::Routes;
use crate::domain::{Entry, EntryId, Listing, Outcome, OutcomeKind, matcher};
use crate::fetch::{SiteFetcher, mask_number_in_url};
use crate::sites::{Adapter, Page, Query, eniro};
use crate::store::{CycleCursor, NewProbe, Retention, Store, StoreError, blocking};

/// Result pages read per query before giving up as inconclusive: a reverse
/// lookup with more than 100 hits is not an answer we can vouch for.
pub const MAX_PAGES: u32 = 4;

/// Entries fetched from the store per scheduling batch.
const BATCH: usize = 200;

/// A configured site with its fetcher.
#[derive(Debug)]
pub struct Site {
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

/// In-memory counters per site, for `/metrics` and `status`.
#[derive(Debug, Default)]
pub struct SiteStats {
    pub clean: AtomicU64,
    pub exposed: AtomicU64,
    pub inconclusive: AtomicU64,
    pub cycles: AtomicU64,
}

impl SiteStats {
    fn count(&self, k: OutcomeKind) {
        match k {
            OutcomeKind::Clean => &self.clean,
            OutcomeKind::Exposed => &self.exposed,
            OutcomeKind::Inconclusive => &self.inconclusive,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

impl Site {
    pub fn new(settings: SiteSettings) -> Result<Site, String> {
        let fetcher = SiteFetcher::new(settings.policy.clone())?;
        Ok(Site {
            settings,
            fetcher,
            stats: Arc::default(),
            degraded: Default::default(),
            last_canary: Default::default(),
        })
    }

    pub fn has_canaries(&self) -> bool {
        !self.settings.canaries.is_empty() || !self.settings.absent_canaries.is_empty()
    }

    fn canaries_due(&self) -> bool {
        if !self.has_canaries() {
            return false;
        }
        let last = *self.last_canary.lock().unwrap_or_else(|e| e.into_inner());
        last.is_none_or(|t| t.elapsed() >= self.settings.canary_interval)
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }
}

/// What one probe found, ready to record.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    pub url_masked: String,
    /// The deciding page's body (kept by the store as evidence when needed).
    pub body: Option<Vec<u8>>,
    /// Exposed: keyed fingerprints of the listings that matched (empty
    /// when probed without a [`Lens`]).
    pub listing_keys: Vec<String>,
}

/// How the engine looks at listings: fingerprinted with the store's key,
/// minus the ones an analyst dismissed as false positives for this entry.
#[derive(Debug, Clone, Copy)]
pub struct Lens<'a> {
    pub pseudo: &'a Pseudonymizer,
    pub dismissed: &'a [String],
}

/// The queries an entry needs on a site: always its number (a listing found
/// by number shows both the number and any address), plus a name search in
/// its place when the address is protected and a name is known, since a
/// leaked address may sit under another number.
pub fn queries_for(entry: &Entry) -> Vec<Query> {
    let mut q = vec![Query::Number(entry.phone.clone())];
    if entry.hide_address
        && let (Some(name), Some(addr)) = (&entry.name, &entry.address)
    {
        let place = [addr.postcode.as_deref(), addr.city.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let short = search_name(name);
        if !place.is_empty() && !short.is_empty() {
            q.push(Query::NameAt { name: short, place });
        }
    }
    q
}

/// The name to search for: first given name and last surname only, because
/// directories print middle names in many ways ("Birthe Ø. Lund") and every
/// word we send must match. A roster name written surname first ("Lund,
/// Birthe") is turned round, and the comma dropped, since it is not part of
/// any printed name. The matcher then decides on the full name.
fn search_name(name: &str) -> String {
    let (first, last) = match name.split_once(',') {
        Some((surname, given)) => (
            given.split_whitespace().next(),
            surname.split_whitespace().last(),
        ),
        None => {
            let words: Vec<&str> = name.split_whitespace().collect();
            match words.as_slice() {
                [f, .., l] => (Some(*f), Some(*l)),
                [only] => (Some(*only), None),
                [] => (None, None),
            }
        }
    };
    [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One page of one query, fetched and parsed.
struct PageResult {
    page: Result<Page, String>,
    http_status: Option<u16>,
    sha256: Option<String>,
    url_masked: String,
    body: Option<String>,
    /// An Eniro HTML page's `buildId`, for the data route of later pages.
    build_id: Option<String>,
    /// The Eniro data route answered "no such build": a deploy happened.
    stale_build: bool,
}

/// Fetches page `page` of `query`. With `build_id` (Eniro, pages 2+), the
/// page comes from the Next.js data route instead of the HTML route: the
/// same `pageProps`, without the page around them.
async fn fetch_page(
    site: &Site,
    entry_number: &str,
    query: &Query,
    page: u32,
    build_id: Option<&str>,
) -> PageResult {
    let adapter = &site.settings.adapter;
    let (path, data_route) = match (adapter.is_eniro(), build_id) {
        (Some(eniro), Some(b)) => (eniro.json_path(b, query, page), true),
        _ => (adapter.request_path(query, page), false),
    };
    let url_masked = mask_number_in_url(&path, entry_number);
    let fetched = site.fetcher.get(&path).await;
    let stale_build = data_route && fetched.status.is_some_and(eniro::stale_build);
    let parsed = match (&fetched.failure, &fetched.body) {
        (Some(f), _) => Err(f.to_string()),
        (None, None) => Err("no body".to_string()),
        (None, Some(body)) => {
            let adapter = adapter.clone();
            let body = body.clone();
            // Parsing is CPU work on a possibly large page: keep it off the
            // async workers. A panic in a parser must not take the daemon down.
            let parse = move || match &adapter {
                Adapter::Eniro(e) if data_route => e.parse_json(&body, page).map(|p| (None, p)),
                Adapter::Eniro(e) => e.parse_html_page(&body, page),
                other => other.parse(&body, page).map(|p| (None, p)),
            };
            match tokio::task::spawn_blocking(parse).await {
                Ok(Ok(p)) => Ok(p),
                Ok(Err(e)) => Err(format!("unparseable page: {e}")),
                Err(_) => Err("parser failed".to_string()),
            }
        }
    };
    let (page, build_id) = match parsed {
        Ok((b, p)) => (Ok(p), b),
        Err(e) => (Err(e), None),
    };
    PageResult {
        page,
        http_status: fetched.status,
        sha256: fetched.sha256,
        url_masked,
        body: fetched.body,
        build_id,
        stale_build,
    }
}

/// Page `page_no` of `query`. On Eniro, pages 2+ go by the data route with
/// the `buildId` page 1 carried. A 404 there means a deploy since page 1:
/// the page is then read from the HTML route, which also carries the new
/// `buildId`. That happens once per query; a second stale answer leaves the
/// page unread (inconclusive): the site is deploying faster than we read.
async fn fetch_query_page(
    site: &Site,
    entry_number: &str,
    query: &Query,
    page_no: u32,
    build_id: &mut Option<String>,
    refreshed: &mut bool,
) -> PageResult {
    let via_data = if page_no > 1 {
        build_id.as_deref()
    } else {
        None
    };
    let mut r = fetch_page(site, entry_number, query, page_no, via_data).await;
    if r.stale_build {
        if *refreshed {
            r.page = Err("Eniro data route: buildId stale again after re-reading it".into());
        } else {
            *refreshed = true;
            r = fetch_page(site, entry_number, query, page_no, None).await;
        }
    }
    if r.build_id.is_some() {
        *build_id = r.build_id.take();
    }
    r
}

/// Probes `entry` on `site` and decides the outcome.
pub async fn probe(site: &Site, entry: &Entry) -> ProbeResult {
    probe_with(site, entry, None).await
}

/// [`probe`], fingerprinting matched listings and skipping dismissed ones.
/// A page whose only match is a dismissed listing is clean for this entry:
/// the page was read and nothing else on it is ours.
pub async fn probe_with(site: &Site, entry: &Entry, lens: Option<Lens<'_>>) -> ProbeResult {
    let mut last: Option<ProbeResult> = None;
    let mut inconclusive: Option<ProbeResult> = None;
    // A query the site cannot be asked (a declarative site without a name
    // search) is skipped: it adds no evidence either way.
    for query in queries_for(entry)
        .into_iter()
        .filter(|q| site.settings.adapter.supports(q))
    {
        let mut page_no = 1;
        let mut build_id = None;
        let mut refreshed = false;
        loop {
            let r = fetch_query_page(
                site,
                entry.phone.national(),
                &query,
                page_no,
                &mut build_id,
                &mut refreshed,
            )
            .await;
            let base = |outcome: Outcome| ProbeResult {
                outcome,
                http_status: r.http_status,
                page_sha256: r.sha256.clone(),
                url_masked: r.url_masked.clone(),
                body: r.body.as_ref().map(|b| b.as_bytes().to_vec()),
                listing_keys: Vec::new(),
            };
            match &r.page {
                Err(reason) => {
                    inconclusive.get_or_insert(base(Outcome::Inconclusive {
                        reason: reason.clone(),
                    }));
                    break;
                }
                Ok(Page::NoHits) => {
                    last = Some(base(Outcome::Clean));
                    break;
                }
                Ok(Page::Hits { listings, more }) => {
                    // Only an entry with a dismissal pays for filtering.
                    let filtered: Option<Vec<Listing>> = match lens {
                        Some(l) if !l.dismissed.is_empty() => Some(
                            listings
                                .iter()
                                .filter(|x| !l.dismissed.contains(&l.pseudo.listing(x)))
                                .cloned()
                                .collect(),
                        ),
                        _ => None,
                    };
                    let shown: &[Listing] = filtered.as_deref().unwrap_or(listings);
                    let outcome = matcher::assess(entry, shown);
                    if matches!(outcome, Outcome::Exposed { .. }) {
                        let mut res = base(outcome);
                        if let Some(l) = lens {
                            res.listing_keys = shown
                                .iter()
                                .filter(|x| {
                                    matches!(
                                        matcher::assess(entry, std::slice::from_ref(*x)),
                                        Outcome::Exposed { .. }
                                    )
                                })
                                .map(|x| l.pseudo.listing(x))
                                .collect();
                        }
                        // Exposure is conclusive whatever other pages say.
                        return res;
                    }
                    if *more && page_no >= MAX_PAGES {
                        inconclusive.get_or_insert(base(Outcome::Inconclusive {
                            reason: format!("more than {MAX_PAGES} result pages"),
                        }));
                        break;
                    }
                    last = Some(base(Outcome::Clean));
                    if !*more {
                        break;
                    }
                    page_no += 1;
                }
            }
        }
    }
    // Clean only if every query and page was conclusively clean.
    match (inconclusive, last) {
        (Some(i), _) => i,
        (None, Some(c)) => c,
        (None, None) => ProbeResult {
            outcome: Outcome::Inconclusive {
                reason: "no query was answered".into(),
            },
            http_status: None,
            page_sha256: None,
            url_masked: String::new(),
            body: None,
            listing_keys: Vec::new(),
        },
    }
}

/// Totals of a scan, for `scan --once`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanTotals {
    pub probes: u64,
    pub clean: u64,
    pub exposed: u64,
    pub inconclusive: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
}

impl ScanTotals {
    fn add(&mut self, k: OutcomeKind, step: &Step) {
        self.probes += 1;
        match k {
            OutcomeKind::Clean => self.clean += 1,
            OutcomeKind::Exposed => self.exposed += 1,
            OutcomeKind::Inconclusive => self.inconclusive += 1,
        }
        match step {
            Step::Open { .. } => self.incidents_opened += 1,
            Step::Resolve { .. } => self.incidents_resolved += 1,
            _ => {}
        }
    }

    pub fn merge(&mut self, o: &ScanTotals) {
        self.probes += o.probes;
        self.clean += o.clean;
        self.exposed += o.exposed;
        self.inconclusive += o.inconclusive;
        self.incidents_opened += o.incidents_opened;
        self.incidents_resolved += o.incidents_resolved;
    }
}

/// How a scheduler is told to end. `drain` makes it take no new probes and
/// let those in flight finish and be recorded (a reload); `abort` abandons
/// them, recording nothing half-done (shutdown, or a drain that overran).
#[derive(Debug, Clone)]
pub struct Stop {
    pub drain: CancellationToken,
    pub abort: CancellationToken,
}

impl Stop {
    /// Tokens under `parent`: cancelling it aborts, and aborting drains.
    pub fn under(parent: &CancellationToken) -> Stop {
        let abort = parent.child_token();
        Stop {
            drain: abort.child_token(),
            abort,
        }
    }

    /// One token for both: stopping abandons what is in flight.
    fn together(cancel: &CancellationToken) -> Stop {
        Stop {
            drain: cancel.clone(),
            abort: cancel.clone(),
        }
    }
}

/// Where a drained scheduler left its cycle: the successor continues after
/// `after` instead of reshuffling, so no entry waits a whole extra cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub after: CycleCursor,
}

/// The scanning side of the daemon.
#[derive(Debug, Clone)]
pub struct Engine {
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
    /// Probes one entry on one site and records the result with its
    /// incident step and outbox rows, in one transaction.
    pub async fn probe_and_record(
        &self,
        site: &Site,
        id: EntryId,
        entry: &Entry,
    ) -> Result<(OutcomeKind, Step), StoreError> {
        let store = self.store.clone();
        let name = site.name().to_string();
        let dismissed = blocking(move || store.dismissed_listings(id, &name)).await?;
        let lens = Lens {
            pseudo: &self.pseudo,
            dismissed: &dismissed,
        };
        let r = probe_with(site, entry, Some(lens)).await;
        let kind = r.outcome.kind();
        site.stats.count(kind);
        let np = NewProbe {
            entry: id,
            site: site.name().to_string(),
            time: time::OffsetDateTime::now_utc(),
            outcome: r.outcome.clone(),
            http_status: r.http_status,
            page_sha256: r.page_sha256,
            url_masked: r.url_masked,
            body: r.body,
            listing_keys: r.listing_keys,
        };
        let effect = self.recorder.record(np).await?;
        self.progress.fetch_add(1, Ordering::Relaxed);
        let who = self.pseudo.number_short(&entry.phone);
        match (&r.outcome, &effect.step) {
            (Outcome::Inconclusive { reason }, _) => {
                tracing::debug!(site = site.name(), entry = %who, %reason, "Probe inconclusive.")
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
                tracing::trace!(site = site.name(), entry = %who, outcome = kind.as_str(), "Probe recorded.")
            }
        }
        if effect.step.event().is_some() {
            self.alerts.notify_one();
        }
        Ok((kind, effect.step))
    }

    /// Probes the site's canaries: every listed canary must be found and
    /// every absent canary must come back clean. Records the result (and a
    /// `site.degraded`/`site.recovered` event on a change). Returns whether
    /// the site is healthy; a site without canaries always is.
    pub async fn check_canaries(&self, site: &Site) -> Result<bool, StoreError> {
        if !site.has_canaries() {
            return Ok(true);
        }
        *site.last_canary.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        let mut failures: Vec<String> = Vec::new();
        let as_entry = |n: &crate::domain::E164| Entry {
            entry_ref: String::new(),
            phone: n.clone(),
            name: None,
            address: None,
            hide_number: true,
            hide_address: false,
            cohort: None,
        };
        for (i, n) in site.settings.canaries.iter().enumerate() {
            match probe(site, &as_entry(n)).await.outcome {
                Outcome::Exposed { .. } => {}
                Outcome::Clean => failures.push(format!("canary {} not found", i + 1)),
                Outcome::Inconclusive { reason } => {
                    failures.push(format!("canary {} unreadable: {reason}", i + 1))
                }
            }
        }
        for (i, n) in site.settings.absent_canaries.iter().enumerate() {
            match probe(site, &as_entry(n)).await.outcome {
                Outcome::Clean => {}
                Outcome::Exposed { .. } => {
                    failures.push(format!("absent canary {} reported listed", i + 1))
                }
                Outcome::Inconclusive { reason } => {
                    failures.push(format!("absent canary {} unreadable: {reason}", i + 1))
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

    /// One full cycle of `site` over the active roster in a fresh random
    /// order. Stops early (without recording the abandoned probes) when
    /// `cancel` fires.
    pub async fn run_cycle(
        &self,
        site: &Arc<Site>,
        cancel: &CancellationToken,
    ) -> Result<ScanTotals, StoreError> {
        let stop = Stop::together(cancel);
        self.cycle(site, None, &stop).await.map(|(t, _)| t)
    }

    /// One cycle of `site`: a fresh one, or with `resume` the rest of the
    /// cycle a predecessor was drained from. Returns the totals and, when
    /// `stop` ended the cycle early, where a successor should continue.
    async fn cycle(
        &self,
        site: &Arc<Site>,
        resume: Option<Resume>,
        stop: &Stop,
    ) -> Result<(ScanTotals, Option<Resume>), StoreError> {
        let store = self.store.clone();
        let name = site.name().to_string();
        let mut cursor = match resume {
            None => {
                let n = blocking(move || store.start_cycle(&name)).await?;
                site.stats.cycles.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(site = site.name(), entries = n, "Cycle started.");
                None
            }
            Some(Resume { after }) => {
                // Entries imported (or changed) since the predecessor's cycle
                // began would otherwise wait for the next one.
                let moved = blocking(move || store.join_cycle(&name, after)).await?;
                tracing::debug!(site = site.name(), joined = moved, "Cycle resumed.");
                Some(after)
            }
        };
        let mut totals = ScanTotals::default();
        let concurrency = site.settings.policy.concurrency.max(1) as usize;
        let mut inflight = tokio::task::JoinSet::new();
        // The last entry handed to a probe, and the earliest whose probe was
        // abandoned: a successor continues before the latter, else after the
        // former.
        let mut last_started: Option<CycleCursor> = cursor;
        let mut first_abandoned: Option<CycleCursor> = None;
        'batches: loop {
            let store = self.store.clone();
            let name = site.name().to_string();
            let batch = blocking(move || store.cycle_batch(&name, cursor, BATCH)).await?;
            let Some(last) = batch.last() else { break };
            cursor = Some(last.0);
            for (at, id, entry) in batch {
                while inflight.len() >= concurrency {
                    if let Some(r) = inflight.join_next().await {
                        collect(&mut totals, r, &mut first_abandoned)?;
                    }
                }
                if stop.drain.is_cancelled() {
                    break 'batches;
                }
                if site.canaries_due() {
                    let healthy = tokio::select! {
                        _ = stop.abort.cancelled() => break 'batches,
                        h = self.check_canaries(site) => h?,
                    };
                    if !healthy {
                        tracing::warn!(site = site.name(), "Canaries failing: cycle stopped.");
                        break 'batches;
                    }
                }
                let me = self.clone();
                let site = site.clone();
                let abort = stop.abort.clone();
                inflight.spawn(async move {
                    tokio::select! {
                        // Abandon cleanly: nothing half-recorded, the entry is
                        // probed again by the successor or next cycle.
                        _ = abort.cancelled() => (at, Ok(None)),
                        r = me.probe_and_record(&site, id, &entry) => (at, r.map(Some)),
                    }
                });
                last_started = Some(at);
            }
            if stop.drain.is_cancelled()
                || (site.has_canaries() && site.degraded.load(Ordering::SeqCst))
            {
                break;
            }
        }
        // Draining: what is in flight finishes and is recorded.
        while let Some(r) = inflight.join_next().await {
            collect(&mut totals, r, &mut first_abandoned)?;
        }
        let resume = if !stop.drain.is_cancelled() {
            None
        } else if let Some(c) = first_abandoned {
            // Ids are integers, so nothing sorts between (key, id - 1) and
            // (key, id): continuing after the former starts at the latter.
            Some(Resume {
                after: CycleCursor {
                    shuffle_key: c.shuffle_key,
                    entry: EntryId(c.entry.0.saturating_sub(1)),
                },
            })
        } else {
            last_started.map(|after| Resume { after })
        };
        Ok((totals, resume))
    }

    /// Cycles `site` back to back until cancelled. Each cycle probes every
    /// active entry once at the site's rate, so an entry's probes are at
    /// most one cycle (N / rate) apart; a cycle longer than `max_staleness`
    /// is logged, since coverage then misses its bound.
    pub async fn run_site(&self, site: Arc<Site>, cancel: CancellationToken) {
        self.schedule(site, None, Stop::together(&cancel)).await;
    }

    /// [`Engine::run_site`] for a daemon that reloads: starts with the rest
    /// of `resume`'s cycle, and on `stop.drain` returns where it stopped
    /// (after the probes in flight were recorded) for a successor.
    pub async fn schedule(
        &self,
        site: Arc<Site>,
        mut resume: Option<Resume>,
        stop: Stop,
    ) -> Option<Resume> {
        let mut failures = 0u32;
        while !stop.drain.is_cancelled() {
            let started = tokio::time::Instant::now();
            match self.cycle(&site, resume.take(), &stop).await {
                Ok((_, Some(r))) => return Some(r),
                Ok((t, None)) => {
                    failures = 0;
                    if t.probes > 0 {
                        self.after_cycle().await;
                    }
                    let took = started.elapsed();
                    if took > self.scan.max_staleness {
                        tracing::warn!(
                            site = site.name(),
                            took_seconds = took.as_secs(),
                            max_staleness_seconds = self.scan.max_staleness.as_secs(),
                            "Cycle took longer than max_staleness: raise the site's rate or the bound."
                        );
                    }
                    if site.degraded.load(Ordering::SeqCst) {
                        // Blind: re-check the canaries, not the roster, until
                        // they pass; sparing the budget of a site that blocks us.
                        let wait = site.settings.canary_interval.min(Duration::from_secs(60));
                        tokio::select! {
                            _ = stop.drain.cancelled() => {}
                            _ = tokio::time::sleep(wait) => {}
                        }
                    } else if t.probes == 0 {
                        // An idle cycle is progress too (for the watchdog).
                        self.progress.fetch_add(1, Ordering::Relaxed);
                        // Empty roster: look again soon, without spinning.
                        tokio::select! {
                            _ = stop.drain.cancelled() => {}
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(1u64 << failures.min(6));
                    tracing::error!(site = site.name(), error = %e, retry_in_seconds = wait.as_secs(), "Cycle failed.");
                    tokio::select! {
                        _ = stop.drain.cancelled() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        None
    }

    /// After a cycle: the retention purges, then the audit chain head in
    /// the log (a witness outside the store). Failures are logged, not fatal.
    pub async fn after_cycle(&self) {
        let store = self.store.clone();
        let retention = self.retention;
        let now = time::OffsetDateTime::now_utc();
        match blocking(move || store.purge(now, &retention)).await {
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
    pub async fn scan_once(&self, cancel: &CancellationToken) -> Result<ScanTotals, StoreError> {
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
pub async fn log_chain_head(store: &Store) {
    let store = store.clone();
    match blocking(move || store.audit_head()).await {
        Ok(Some(h)) => {
            tracing::info!("chain head seq={} hash={}", h.seq, h.hash)
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "Cannot read the audit chain head."),
    }
}

type ProbeTask =
    Result<(CycleCursor, Result<Option<(OutcomeKind, Step)>, StoreError>), tokio::task::JoinError>;

fn collect(
    totals: &mut ScanTotals,
    r: ProbeTask,
    first_abandoned: &mut Option<CycleCursor>,
) -> Result<(), StoreError> {
    match r {
        Ok((_, Ok(Some((k, step))))) => {
            totals.add(k, &step);
            Ok(())
        }
        Ok((at, Ok(None))) => {
            let earlier = first_abandoned
                .is_none_or(|c| (at.shuffle_key, at.entry.0) < (c.shuffle_key, c.entry.0));
            if earlier {
                *first_abandoned = Some(at);
            }
            Ok(())
        }
        Ok((_, Err(e))) => Err(e),
        Err(e) => {
            // A panicking probe is a bug, but one entry must not stop the scan.
            tracing::error!(error = %e, "Probe task failed.");
            Ok(())
        }
    }
}

struct Job {
    probe: NewProbe,
    reply: tokio::sync::oneshot::Sender<Result<crate::store::ProbeEffect, StoreError>>,
}

/// Group commit for probe results.
///
/// Every probe is recorded durably (WAL, `synchronous=FULL`) together with
/// its incident step and outbox rows. One fsync per probe caps a busy
/// machine at a few dozen probes a second, so probes finishing while a
/// commit is under way queue up and go into the next transaction together:
/// no added latency, and a mass leak of hundreds of entries is recorded in
/// a handful of commits. Each probe stays atomic with its effects.
#[derive(Clone)]
pub struct Recorder {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
    rx: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Job>>>>,
    store: Store,
    resolve_after_clean: u32,
    routes: Arc<Routes>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// Most probes committed in one transaction.
const MAX_BATCH: usize = 256;

impl Recorder {
    pub fn new(store: Store, resolve_after_clean: u32, routes: Arc<Routes>) -> Recorder {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Recorder {
            tx,
            rx: Arc::new(std::sync::Mutex::new(Some(rx))),
            store,
            resolve_after_clean,
            routes,
        }
    }

    /// Records one probe; returns once its transaction has committed.
    pub async fn record(&self, probe: NewProbe) -> Result<crate::store::ProbeEffect, StoreError> {
        // The writer task starts on first use, inside whichever runtime
        // the caller runs on.
        if let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // The writer holds no sender, so it ends once the last clone of
            // this recorder is dropped (a reload replaces the recorder).
            let (store, k, routes) = (
                self.store.clone(),
                self.resolve_after_clean,
                self.routes.clone(),
            );
            tokio::spawn(Recorder::run(store, k, routes, rx));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job { probe, reply })
            .map_err(|_| StoreError::Unavailable("probe recorder stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("probe recorder stopped".into()))?
    }

    async fn run(
        store: Store,
        resolve_after_clean: u32,
        routes: Arc<Routes>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>,
    ) {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let probes: Vec<NewProbe> = jobs.iter().map(|j| j.probe.clone()).collect();
            let (st, k, rs) = (store.clone(), resolve_after_clean, routes.clone());
            match blocking(move || st.record_probes(&probes, k, &rs)).await {
                Ok(effects) => {
                    for (job, effect) in jobs.into_iter().zip(effects) {
                        let _ = job.reply.send(Ok(effect));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::Backend(msg.clone())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Address, E164};

    fn entry(name: &str) -> Entry {
        Entry {
            entry_ref: "R-1".into(),
            phone: E164::parse_dk("13 12 34 56").expect("number"),
            name: Some(name.into()),
            address: Some(Address {
                street: Some("Ågade".into()),
                house_number: Some("14B".into()),
                postcode: Some("8000".into()),
                city: Some("Aarhus C".into()),
                ..Address::default()
            }),
            hide_number: false,
            hide_address: true,
            cohort: None,
        }
    }

    /// An Eniro-shaped site on the simulator, honouring its robots.txt.
    async fn eniro_site(sim: &crate::sim::SimDirectory) -> Site {
        let text = format!(
            "[store]\npath = \"x.db\"\n[[sites]]\nname = \"krak.dk\"\nadapter = \"eniro\"\n\
             base_url = \"{}\"\nrate = \"100/s\"\ntimeout = \"3s\"\nmax_retries = 0\n",
            sim.base_url()
        );
        let s = crate::config::parse(&text, std::path::Path::new("/nonexistent/c.toml")).unwrap();
        Site::new(s.sites[0].clone()).unwrap()
    }

    /// 60 people of one name in one town (three result pages); the entry's
    /// protected address is the 55th, on page 3.
    fn crowd(sim: &crate::sim::SimDirectory) {
        for i in 0..60 {
            let street = if i == 54 {
                "Ågade 14B".to_string()
            } else {
                format!("Vestergade {}", i + 1)
            };
            sim.add(crate::sim::SimListing {
                name: "Birthe Lund".into(),
                phones: vec![format!("950001{i:02}")],
                street_line: Some(street),
                post_line: Some("8000 Aarhus C".into()),
            });
        }
    }

    fn paths(sim: &crate::sim::SimDirectory) -> Vec<String> {
        sim.requests()
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| p != "/robots.txt")
            .collect()
    }

    const NAME_Q: &str = "Birthe%20Lund%208000%20Aarhus%20C";

    #[tokio::test]
    async fn eniro_pages_after_the_first_come_by_the_data_route() {
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        let r = probe(&site, &entry("Birthe Lund")).await;
        assert!(
            matches!(r.outcome, Outcome::Exposed { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(
            paths(&sim),
            [
                "/13123456/personer".to_string(),
                format!("/{NAME_Q}/personer"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/2.json"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/3.json"),
            ]
        );
        assert!(
            r.url_masked.ends_with("/persons/3.json"),
            "{}",
            r.url_masked
        );
    }

    #[tokio::test]
    async fn a_deploy_between_pages_is_recovered_once() {
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        sim.deploy_after_next_page("sim-build-2");
        let r = probe(&site, &entry("Birthe Lund")).await;
        assert!(
            matches!(r.outcome, Outcome::Exposed { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(
            paths(&sim)[1..],
            [
                format!("/{NAME_Q}/personer"),
                format!("/_next/data/sim-build-1/da/search/{NAME_Q}/persons/2.json"),
                // 404: re-read from the HTML route, which names the new build.
                format!("/{NAME_Q}/personer/2"),
                format!("/_next/data/sim-build-2/da/search/{NAME_Q}/persons/3.json"),
            ]
        );

        // Two deploys within one search: the second is not chased.
        let sim = crate::sim::SimDirectory::start().await.unwrap();
        crowd(&sim);
        let site = eniro_site(&sim).await;
        sim.deploy_after_next_page("sim-build-2");
        sim.deploy_after_next_page("sim-build-3");
        let r = probe(&site, &entry("Birthe Lund")).await;
        match &r.outcome {
            Outcome::Inconclusive { reason } => assert!(reason.contains("buildId"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            paths(&sim).last().unwrap(),
            &format!("/_next/data/sim-build-2/da/search/{NAME_Q}/persons/3.json")
        );
        assert_eq!(paths(&sim).len(), 5);
    }

    #[test]
    fn name_queries_use_first_given_and_last_surname() {
        for (name, want) in [
            ("Birthe Østergaard Lund", "Birthe Lund"),
            ("Birthe Lund", "Birthe Lund"),
            ("  Birthe   Lund ", "Birthe Lund"),
            ("Lund, Birthe", "Birthe Lund"),
            ("Lund, Birthe Østergaard", "Birthe Lund"),
            ("Hansen-Nørgaard, Anne-Marie", "Anne-Marie Hansen-Nørgaard"),
            ("Cher", "Cher"),
        ] {
            let q = queries_for(&entry(name));
            let Some(Query::NameAt { name: got, place }) = q.get(1) else {
                panic!("{name:?}: no name query");
            };
            assert_eq!(got, want, "{name:?}");
            assert_eq!(place, "8000 Aarhus C");
        }
        // Nothing usable to search for: the number query only.
        assert_eq!(queries_for(&entry(" , ")).len(), 1);
    }
}
