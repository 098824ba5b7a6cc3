//! The one scheduler: passes of a site's probes at its concurrency, fed
//! from the site's queue in batches. A cycle is a pass over the whole active
//! roster in a fresh random order, risk entries first (`reliability.md`
//! §3c: a reshuffled round-robin gives both the staleness bound and
//! mass-leak detection within a few hundred probes); the daemon runs
//! cycles back to back, `scan --once` runs one, and `verify --cohort` runs
//! a pass over one cohort with rounds of retries for the inconclusive ones.
//!
//! Within a cycle two lanes share the budget. After an exposure the other
//! entries of the exposed entry's cohort and import batch are queued on
//! every site (the escalation lane), and they go first, but escalations
//! take at most `escalation_share` of any stretch of probes one
//! `max_staleness` long ([`ShareWindow`]), so the sweep of everyone else
//! goes on. Entries an import adds or changes while the cycle runs are
//! moved to its front (checked every few seconds, not only on a reload).
//!
//! Canaries are checked at the start of every cycle, every
//! `canary_interval`, and at once after [`UNREADABLE_RUN`] answers in a
//! row that could not be read: a layout change is `site.degraded` within
//! seconds, and the sweep pauses until the canaries pass again.
//!
//! Everything here is generic over a [`Driver`]: the daemon's
//! (`live.rs`: the store's cycle queries, fetch, the adapters, the
//! recorder) and the virtual-time simulation's (`simulate.rs`: the same
//! queries and the directory in memory). So the ordering the simulation
//! measures is the ordering the daemon runs.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::incident::Step;
use crate::domain::{Entry, EntryId, OutcomeKind};
use crate::store::{CycleCursor, StoreError, Ts};

/// Entries fetched from the queue per scheduling batch.
const BATCH: usize = 200;
/// Escalated entries fetched at a time.
const ESCALATION_BATCH: usize = 50;
/// How often an idle escalation lane looks for new work (at once after an
/// exposure this scheduler recorded).
const ESCALATION_POLL: Duration = Duration::from_secs(1);
/// How often a cycle looks for an import made while it runs.
const ROSTER_POLL: Duration = Duration::from_secs(5);
/// Probes of a pass that have let go of the site but whose results are
/// not committed yet, at most (the driver may bound them tighter, by the
/// bytes they hold).
const UNCOMMITTED: usize = 4096;
/// Answers in a row that could not be read (unparseable, a challenge, an
/// error status, no answer) after which the canaries are checked at once.
pub(crate) const UNREADABLE_RUN: u32 = 5;

/// What the scheduler needs from the world: the site's facts, its queue
/// (the cycle order and the escalations, kept in the store), and probing
/// (fetch, the adapter, the matcher and the recorder). The daemon's is
/// `live::Live`; the simulation bench's keeps all of it in memory.
pub(crate) trait Driver: Clone + Send + Sync + 'static {
    fn site(&self) -> &str;
    /// Probes in flight at once (at least 1).
    fn concurrency(&self) -> usize;
    fn has_canaries(&self) -> bool;
    /// `canary_interval` has passed since the last check.
    fn canaries_due(&self) -> bool;
    /// The canaries failed at their last check.
    fn degraded(&self) -> bool;
    /// How long a degraded site waits before it checks its canaries again.
    fn canary_wait(&self) -> Duration;
    /// The share of the budget escalations may take, and the stretch of
    /// probes it is measured over.
    fn escalation_budget(&self) -> (f64, u64);
    fn max_staleness(&self) -> Duration;
    /// Wall-clock now (the simulation's is virtual).
    fn now(&self) -> Ts;

    /// A fresh cycle, risk entries first; the entries in it.
    fn start_cycle(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn cycle_batch(
        &self,
        after: Option<CycleCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError>> + Send;
    /// Moves entries added or changed since `since` (and new ones) to just
    /// after `after`.
    fn join_cycle(
        &self,
        after: CycleCursor,
        since: Ts,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Where an unfinished cycle of this site continues, when one is
    /// under way in the store (a daemon that stopped or died, or lost the
    /// site's lease, left it): the cursor and when that cycle began.
    fn resume_point(&self) -> impl Future<Output = Result<Option<Resume>, StoreError>> + Send;
    /// The cycle is complete: whoever schedules the site next starts a
    /// fresh one.
    fn finish_cycle(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Changes when an import changes the roster.
    fn roster_mark(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Queues the cohort and import batch of an exposed entry, on every
    /// site, at most once per cohort (or batch) and `max_staleness`.
    fn escalate(&self, id: EntryId) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn escalated(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send;
    fn escalation_done(&self, id: EntryId) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Takes an entry off the queue without probing it (a one-pass scan
    /// had probed it already).
    fn escalation_skipped(
        &self,
        id: EntryId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Active entries of a cohort after `after`, by id (`verify --cohort`).
    fn cohort_batch(
        &self,
        tag: &str,
        after: Option<EntryId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send;

    /// Probes one entry and records the result with its effects. `slot`
    /// is one of the site's concurrent requests: drop it as soon as the
    /// site's answer is read, before the record.
    fn probe(
        &self,
        id: EntryId,
        entry: &Entry,
        slot: Slot,
    ) -> impl Future<Output = Result<Done, StoreError>> + Send;
    /// Probes the canaries and records the result; whether they pass.
    fn check_canaries(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// After a complete cycle with probes (retention, the chain head).
    fn after_cycle(&self) -> impl Future<Output = ()> + Send;
    /// An idle cycle is progress too (the watchdog).
    fn idle(&self);
}

/// A probe's hold on one of the site's `concurrency` requests. It is let
/// go once the probe no longer talks to the site, before its result is
/// committed: the next request waits for a free request, not for a
/// commit, which a long write by another process (an import's apply) can
/// hold up for seconds. What waits to be committed is bounded apart
/// ([`UNCOMMITTED`], and the driver's own bound).
#[derive(Debug, Clone)]
pub(crate) struct Slot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Slot {
    fn held(permit: OwnedSemaphorePermit) -> Slot {
        Slot(Arc::new(Mutex::new(Some(permit))))
    }

    /// A probe outside any pass (`check --record`): nothing waits for it.
    pub(crate) fn alone() -> Slot {
        Slot(Arc::default())
    }

    /// The site is done with: the next request may go. A probe that never
    /// says so holds its slot until it has ended, follow-ups included.
    pub(crate) fn release(&self) {
        drop(self.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// One recorded probe.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub kind: OutcomeKind,
    pub step: Step,
    /// Inconclusive because the answer could not be read (see
    /// `ProbeResult::unreadable`).
    pub unreadable: bool,
}

/// Totals of a scan, for `scan --once`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanTotals {
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

    pub(crate) fn merge(&mut self, o: &ScanTotals) {
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
pub(crate) struct Stop {
    pub drain: CancellationToken,
    pub abort: CancellationToken,
}

impl Stop {
    /// Tokens under `parent`: cancelling it aborts, and aborting drains.
    pub(crate) fn under(parent: &CancellationToken) -> Stop {
        let abort = parent.child_token();
        Stop {
            drain: abort.child_token(),
            abort,
        }
    }

    /// One token for both: stopping abandons what is in flight.
    pub(crate) fn together(cancel: &CancellationToken) -> Stop {
        Stop {
            drain: cancel.clone(),
            abort: cancel.clone(),
        }
    }
}

/// Where a drained scheduler left its cycle: the successor continues after
/// `after` instead of reshuffling, so no entry waits a whole extra cycle;
/// `since` is when that cycle began (entries changed after it go first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub after: CycleCursor,
    pub since: Ts,
}

/// Final outcomes of `verify --cohort` on one site.
#[derive(Debug, Default, Clone)]
pub(crate) struct CohortTally {
    /// Every probe, retries included.
    pub probes: u64,
    /// Entries with a final result.
    pub done: u64,
    pub clean: u64,
    pub exposed: u64,
    pub inconclusive: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    /// Why the site could not be checked at all (failing canaries).
    pub skipped: Option<String>,
}

impl CohortTally {
    /// One probe; `last` when its outcome is the entry's final one.
    fn count(&mut self, kind: OutcomeKind, step: &Step, last: bool) {
        self.probes += 1;
        match step {
            Step::Open { .. } => self.incidents_opened += 1,
            Step::Resolve { .. } => self.incidents_resolved += 1,
            _ => {}
        }
        if last {
            self.done += 1;
            match kind {
                OutcomeKind::Clean => self.clean += 1,
                OutcomeKind::Exposed => self.exposed += 1,
                OutcomeKind::Inconclusive => self.inconclusive += 1,
            }
        }
    }
}

/// At most `share` of any `window` consecutive probe slots of a site go to
/// escalations. The window is one `max_staleness` at the site's rate, so a
/// cohort of up to `share × window` entries is enumerated at the full rate,
/// a bigger one at `share` of it, and the sweep keeps at least `1 − share`
/// of every such stretch. Counted in [`CHUNKS`] chunks, so the window is
/// rounded up to whole chunks and exact to one chunk.
#[derive(Debug)]
pub(crate) struct ShareWindow {
    allowed: u64,
    chunk: u64,
    ring: VecDeque<u64>,
    filled: u64,
    current: u64,
    total: u64,
}

const CHUNKS: usize = 64;

impl ShareWindow {
    pub(crate) fn new(share: f64, window: u64) -> ShareWindow {
        // The window as counted: whole chunks, at least the one asked for.
        let chunk = window.max(1).div_ceil(CHUNKS as u64);
        let window = chunk.saturating_mul(CHUNKS as u64);
        // Floating point only here, once: a share in [0, 1] of a window
        // of at most a few billion probes.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let allowed = if share >= 1.0 {
            u64::MAX
        } else {
            (share.max(0.0) * window as f64).floor() as u64
        };
        ShareWindow {
            allowed,
            chunk,
            ring: VecDeque::with_capacity(CHUNKS + 1),
            filled: 0,
            current: 0,
            total: 0,
        }
    }

    /// Whether the next slot may go to an escalation.
    pub(crate) fn allows(&self) -> bool {
        self.total < self.allowed
    }

    /// One slot used, by an escalation or by the sweep.
    pub(crate) fn count(&mut self, escalated: bool) {
        self.filled += 1;
        if escalated {
            self.current += 1;
            self.total += 1;
        }
        if self.filled >= self.chunk {
            self.ring.push_back(self.current);
            self.filled = 0;
            self.current = 0;
            if self.ring.len() > CHUNKS {
                self.total -= self.ring.pop_front().unwrap_or(0);
            }
        }
    }
}

/// What a cycle is for. Either way an entry the escalation lane probed is
/// not probed again when the cycle's walk reaches it (it was probed after
/// the exposure that queued it, in this cycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// The daemon's cycles, back to back: an escalation re-probes an
    /// entry even when this cycle's walk already probed it, since that
    /// probe may predate the leak and the next cycle may be days away.
    Daemon,
    /// `scan --once`: one pass, every entry once on every site. An
    /// exposure still pulls its cohort forward, but only the entries the
    /// pass has not probed yet (the queue keeps the rest for the daemon).
    Once,
}

/// One entry of a pass: `at` is its place in the cycle (cycle lane only).
struct Item {
    at: Option<CycleCursor>,
    id: EntryId,
    entry: Entry,
    escalated: bool,
}

/// How one probe of a pass ended: `result` is `Ok(None)` when `stop.abort`
/// abandoned it (nothing was recorded).
pub(crate) struct Probed {
    pub at: Option<CycleCursor>,
    pub id: EntryId,
    pub entry: Entry,
    pub escalated: bool,
    pub result: Result<Option<Done>, StoreError>,
}

/// The cycle's two lanes and what they remember.
struct Lanes {
    /// Where the pass began in the cycle (`None`: at its start).
    start: Option<CycleCursor>,
    /// The last cycle entry fetched.
    cursor: Option<CycleCursor>,
    buf: VecDeque<(CycleCursor, EntryId, Entry)>,
    exhausted: bool,
    /// When the cycle began: entries changed after it go first.
    since: Ts,
    mark: i64,
    mark_checked: Instant,
    esc: VecDeque<(EntryId, Entry)>,
    esc_inflight: HashSet<EntryId>,
    esc_checked: Option<Instant>,
    esc_now: bool,
    share: ShareWindow,
    run: Run,
    /// Entries the escalation lane handed out this cycle: the walk skips
    /// them.
    esc_taken: HashSet<EntryId>,
    /// With [`Run::Once`], entries the walk handed out: the escalation
    /// lane skips them.
    walk_taken: IdSet,
}

/// A set of entry ids as a bitmap: ids are the store's dense row ids, so a
/// million-entry pass costs about 125 KiB, not a hash set's tens of MiB.
/// An id too large for a sensible bitmap goes to a hash set instead.
#[derive(Debug, Default)]
struct IdSet {
    bits: Vec<u64>,
    outliers: HashSet<EntryId>,
}

/// Ids below this are bits (a bitmap of at most 32 MiB).
const ID_BITS: i64 = 1 << 28;

impl IdSet {
    fn slot(id: EntryId) -> Option<(usize, u64)> {
        if !(0..ID_BITS).contains(&id.0) {
            return None;
        }
        let i = usize::try_from(id.0).ok()?;
        Some((i / 64, 1 << (i % 64)))
    }

    fn insert(&mut self, id: EntryId) {
        match Self::slot(id) {
            Some((word, bit)) => {
                if word >= self.bits.len() {
                    self.bits.resize(word + 1, 0);
                }
                self.bits[word] |= bit;
            }
            None => {
                self.outliers.insert(id);
            }
        }
    }

    fn contains(&self, id: EntryId) -> bool {
        match Self::slot(id) {
            Some((word, bit)) => self.bits.get(word).is_some_and(|w| w & bit != 0),
            None => self.outliers.contains(&id),
        }
    }
}

/// Where a pass takes its entries from.
enum Source {
    /// The site's cycle (after a cursor) with the escalation lane.
    Cycle(Box<Lanes>),
    /// A cohort's active entries, by id after `after`.
    Cohort {
        tag: String,
        after: Option<EntryId>,
        buf: VecDeque<(EntryId, Entry)>,
        exhausted: bool,
    },
    /// These, once (a round of retries).
    Listed(VecDeque<(EntryId, Entry)>),
}

/// Before every entry: a cursor no cycle entry sorts before.
const BEFORE_ALL: CycleCursor = CycleCursor {
    shuffle_key: i64::MIN,
    entry: EntryId(i64::MIN),
};

impl Source {
    /// The next entry to probe; `None` when the pass is done.
    async fn next<D: Driver>(
        &mut self,
        d: &D,
        last_started: Option<CycleCursor>,
    ) -> Result<Option<Item>, StoreError> {
        match self {
            Source::Cycle(l) => l.next(d, last_started).await,
            Source::Cohort {
                tag,
                after,
                buf,
                exhausted,
            } => {
                if buf.is_empty() && !*exhausted {
                    let batch = d.cohort_batch(tag, *after, BATCH).await?;
                    *exhausted = batch.is_empty();
                    if let Some((id, _)) = batch.last() {
                        *after = Some(*id);
                    }
                    buf.extend(batch);
                }
                Ok(buf.pop_front().map(|(id, entry)| Item {
                    at: None,
                    id,
                    entry,
                    escalated: false,
                }))
            }
            Source::Listed(list) => Ok(list.pop_front().map(|(id, entry)| Item {
                at: None,
                id,
                entry,
                escalated: false,
            })),
        }
    }

    /// A probe of the pass ended.
    fn ended(&mut self, p: &Probed) {
        if let Source::Cycle(l) = self {
            if p.escalated {
                l.esc_inflight.remove(&p.id);
            }
            if let Ok(Some(Done {
                step: Step::Open { .. },
                ..
            })) = &p.result
            {
                // Its cohort was just queued: serve it without waiting for
                // the next poll.
                l.esc_now = true;
            }
        }
    }
}

impl Lanes {
    fn new<D: Driver>(d: &D, cursor: Option<CycleCursor>, since: Ts, mark: i64, run: Run) -> Lanes {
        let (share, window) = d.escalation_budget();
        Lanes {
            start: cursor,
            cursor,
            buf: VecDeque::new(),
            exhausted: false,
            since,
            mark,
            mark_checked: Instant::now(),
            esc: VecDeque::new(),
            esc_inflight: HashSet::new(),
            esc_checked: None,
            esc_now: false,
            share: ShareWindow::new(share, window),
            run,
            esc_taken: HashSet::new(),
            walk_taken: IdSet::default(),
        }
    }

    async fn next<D: Driver>(
        &mut self,
        d: &D,
        last_started: Option<CycleCursor>,
    ) -> Result<Option<Item>, StoreError> {
        // An import while the cycle runs: its new and changed entries go
        // to the front now, not at the next cycle.
        if self.mark_checked.elapsed() >= ROSTER_POLL {
            self.mark_checked = Instant::now();
            let mark = d.roster_mark().await?;
            if mark != self.mark {
                self.mark = mark;
                let at = last_started.or(self.start).unwrap_or(BEFORE_ALL);
                let moved = d.join_cycle(at, self.since).await?;
                tracing::debug!(
                    site = d.site(),
                    joined = moved,
                    "Roster changed: new and changed entries go first."
                );
                if moved > 0 {
                    self.buf.clear();
                    self.cursor = (at != BEFORE_ALL).then_some(at);
                    self.exhausted = false;
                }
            }
        }
        if self.esc.is_empty()
            && (self.esc_now
                || self
                    .esc_checked
                    .is_none_or(|t| t.elapsed() >= ESCALATION_POLL))
        {
            self.esc_now = false;
            self.esc_checked = Some(Instant::now());
            let inflight = &self.esc_inflight;
            let got = d.escalated(ESCALATION_BATCH).await?;
            // A full batch: more are waiting, fetch them as soon as these
            // are out.
            self.esc_now = got.len() >= ESCALATION_BATCH;
            self.esc
                .extend(got.into_iter().filter(|(id, _)| !inflight.contains(id)));
        }
        while self.share.allows()
            && let Some((id, entry)) = self.esc.pop_front()
        {
            if self.walk_taken.contains(id) {
                // One pass probes an entry once: leave the queue as if
                // probed, or the next fetch would return it again.
                d.escalation_skipped(id).await?;
                continue;
            }
            self.share.count(true);
            self.esc_inflight.insert(id);
            self.esc_taken.insert(id);
            return Ok(Some(Item {
                at: None,
                id,
                entry,
                escalated: true,
            }));
        }
        loop {
            if self.buf.is_empty() && !self.exhausted {
                let batch = d.cycle_batch(self.cursor, BATCH).await?;
                self.exhausted = batch.is_empty();
                if let Some(last) = batch.last() {
                    self.cursor = Some(last.0);
                }
                self.buf.extend(batch);
            }
            let Some((at, id, entry)) = self.buf.pop_front() else {
                return Ok(None);
            };
            if self.esc_taken.contains(&id) {
                continue;
            }
            if self.run == Run::Once {
                self.walk_taken.insert(id);
            }
            self.share.count(false);
            return Ok(Some(Item {
                at: Some(at),
                id,
                entry,
                escalated: false,
            }));
        }
    }
}

/// Whether a pass checks the site's canaries as they fall due and stops
/// while they fail (cycles), or not (`verify --cohort` checks them once,
/// before it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Canaries {
    Watch,
    Ignore,
}

/// Probes each entry `source` yields, at most the site's concurrency at
/// once, recording each, and hands every ending to `done` (an error from
/// it ends the pass). It takes no new entries once `stop.drain` fires
/// (those in flight finish and are recorded) or watched canaries fail;
/// `stop.abort` abandons those in flight. An exposure queues the entry's
/// cohort and import batch. Returns the place of the last cycle entry
/// handed to a probe.
async fn pass<D: Driver>(
    d: &D,
    mut source: Source,
    stop: &Stop,
    canaries: Canaries,
    mut done: impl FnMut(Result<Probed, JoinError>) -> Result<(), StoreError>,
) -> Result<Option<CycleCursor>, StoreError> {
    let concurrency = d.concurrency().max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut inflight: JoinSet<Probed> = JoinSet::new();
    let mut last_started = None;
    let mut unreadable: u32 = 0;
    let mut ended = |r: Result<Probed, JoinError>,
                     source: &mut Source,
                     unreadable: &mut u32|
     -> Result<(), StoreError> {
        if let Ok(p) = &r {
            source.ended(p);
            if let Ok(Some(x)) = &p.result {
                if x.unreadable {
                    *unreadable += 1;
                } else if x.kind != OutcomeKind::Inconclusive {
                    *unreadable = 0;
                }
            }
        }
        done(r)
    };
    loop {
        // A free request, and whatever ended meanwhile first: what the
        // probes found decides what comes next (an exposure's cohort,
        // unreadable answers).
        let slot = loop {
            let room = inflight.len() < concurrency + UNCOMMITTED;
            tokio::select! {
                biased;
                Some(r) = inflight.join_next(), if !inflight.is_empty() => {
                    ended(r, &mut source, &mut unreadable)?;
                }
                p = slots.clone().acquire_owned(), if room => {
                    // Never closed: the pass owns the semaphore.
                    break Slot::held(p.map_err(|_| StoreError::Unavailable("the pass ended".into()))?);
                }
            }
        };
        while let Some(r) = inflight.try_join_next() {
            ended(r, &mut source, &mut unreadable)?;
        }
        if stop.drain.is_cancelled() {
            break;
        }
        if canaries == Canaries::Watch && d.has_canaries() {
            if d.degraded() {
                break;
            }
            if d.canaries_due() || unreadable >= UNREADABLE_RUN {
                if unreadable >= UNREADABLE_RUN {
                    tracing::info!(
                        site = d.site(),
                        answers = unreadable,
                        "Answers unreadable: checking the canaries now."
                    );
                }
                unreadable = 0;
                let healthy = tokio::select! {
                    _ = stop.abort.cancelled() => break,
                    h = d.check_canaries() => h?,
                };
                if !healthy {
                    tracing::warn!(site = d.site(), "Canaries failing: cycle stopped.");
                    break;
                }
            }
        }
        let Some(item) = source.next(d, last_started).await? else {
            // What is still in flight may queue more (an exposure's
            // cohort, once its probe is committed): the pass ends only
            // when nothing is.
            match inflight.join_next().await {
                Some(r) => {
                    ended(r, &mut source, &mut unreadable)?;
                    continue;
                }
                None => break,
            }
        };
        if item.at.is_some() {
            last_started = item.at;
        }
        inflight.spawn(probe_one(d.clone(), item, slot, stop.abort.clone()));
    }
    // Draining: what is in flight finishes and is recorded.
    while let Some(r) = inflight.join_next().await {
        ended(r, &mut source, &mut unreadable)?;
    }
    Ok(last_started)
}

/// One probe of a pass, its follow-ups, then its slot let go (if the
/// driver has not let go of it sooner).
async fn probe_one<D: Driver>(d: D, item: Item, slot: Slot, abort: CancellationToken) -> Probed {
    let Item {
        at,
        id,
        entry,
        escalated,
    } = item;
    let held = slot.clone();
    let result = tokio::select! {
        // Abandon cleanly: nothing half-recorded, the entry is probed
        // again by the successor or next cycle.
        _ = abort.cancelled() => Ok(None),
        r = d.probe(id, &entry, slot) => r.map(Some),
    };
    if let Ok(Some(x)) = &result {
        follow_up(&d, id, x, escalated).await;
    }
    held.release();
    Probed {
        at,
        id,
        entry,
        escalated,
        result,
    }
}

/// After a recorded probe: an escalated entry leaves the queue, and a new
/// exposure queues its cohort and import batch. Failures are logged: the
/// probe itself is recorded, and the sweep still gets to those entries.
async fn follow_up<D: Driver>(d: &D, id: EntryId, x: &Done, escalated: bool) {
    if escalated && let Err(e) = d.escalation_done(id).await {
        tracing::error!(site = d.site(), error = %e, "Cannot dequeue an escalation.");
    }
    if matches!(x.step, Step::Open { .. }) {
        match d.escalate(id).await {
            Ok(n) if n > 0 => tracing::info!(
                site = d.site(),
                queued = n,
                "Exposure: its cohort and import batch go to the front of every site's queue."
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(site = d.site(), error = %e, "Cannot escalate an exposure."),
        }
    }
}

/// One cycle: a fresh one (canaries first), or with `resume` the rest of
/// the cycle a predecessor was drained from. Returns the totals and, when
/// `stop` ended the cycle early, where a successor should continue.
pub(crate) async fn cycle<D: Driver>(
    d: &D,
    resume: Option<Resume>,
    stop: &Stop,
    run: Run,
) -> Result<(ScanTotals, Option<Resume>), StoreError> {
    let mark = d.roster_mark().await?;
    // No place handed over: the store may know one. `scan --once` always
    // makes its own pass.
    let resume = match resume {
        None if run == Run::Daemon => d.resume_point().await?,
        r => r,
    };
    let (cursor, since) = match resume {
        None => {
            let since = d.now();
            if d.has_canaries() {
                // At the start of every cycle: a site that changed while
                // the last one ran is caught before its first probe.
                let healthy = tokio::select! {
                    _ = stop.abort.cancelled() => return Ok((ScanTotals::default(), None)),
                    h = d.check_canaries() => h?,
                };
                if !healthy {
                    tracing::warn!(site = d.site(), "Canaries failing: cycle not started.");
                    return Ok((ScanTotals::default(), None));
                }
            }
            let n = d.start_cycle().await?;
            tracing::debug!(site = d.site(), entries = n, "Cycle started.");
            (None, since)
        }
        Some(Resume { after, since }) => {
            // Entries imported (or changed) since the predecessor's cycle
            // began would otherwise wait for the walk or the next cycle.
            let moved = d.join_cycle(after, since).await?;
            tracing::debug!(site = d.site(), joined = moved, "Cycle resumed.");
            (Some(after), since)
        }
    };
    let mut totals = ScanTotals::default();
    // The last entry handed to a probe, and the earliest whose probe was
    // abandoned: a successor continues before the latter, else after the
    // former.
    let mut first_abandoned: Option<CycleCursor> = None;
    let source = Source::Cycle(Box::new(Lanes::new(d, cursor, since, mark, run)));
    let last_started = pass(d, source, stop, Canaries::Watch, |r| {
        collect(&mut totals, r, &mut first_abandoned)
    })
    .await?
    .or(cursor);
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
            since,
        })
    } else {
        last_started.map(|after| Resume { after, since })
    };
    if resume.is_none() && run == Run::Daemon {
        d.finish_cycle().await?;
    }
    Ok((totals, resume))
}

/// Cycles back to back until `stop.drain`. Each cycle probes every active
/// entry once at the site's rate (escalations besides), so an entry's
/// probes are at most one cycle apart; a cycle longer than
/// `max_staleness` is logged, since coverage then misses its bound.
/// Starts with the rest of `resume`'s cycle, and on `stop.drain` returns
/// where it stopped (after the probes in flight were recorded) for a
/// successor (a reload).
pub(crate) async fn schedule<D: Driver>(
    d: D,
    mut resume: Option<Resume>,
    stop: Stop,
) -> Option<Resume> {
    let mut failures = 0u32;
    while !stop.drain.is_cancelled() {
        let started = Instant::now();
        match cycle(&d, resume.take(), &stop, Run::Daemon).await {
            Ok((_, Some(r))) => return Some(r),
            Ok((t, None)) => {
                failures = 0;
                if t.probes > 0 {
                    d.after_cycle().await;
                }
                let took = started.elapsed();
                if took > d.max_staleness() {
                    tracing::warn!(
                        site = d.site(),
                        took_seconds = took.as_secs(),
                        max_staleness_seconds = d.max_staleness().as_secs(),
                        "Cycle took longer than max_staleness: raise the site's rate or the bound."
                    );
                }
                if d.has_canaries() && d.degraded() {
                    // Blind: re-check the canaries, not the roster, until
                    // they pass; sparing the budget of a site that blocks us.
                    tokio::select! {
                        _ = stop.drain.cancelled() => {}
                        _ = tokio::time::sleep(d.canary_wait()) => {}
                    }
                } else if t.probes == 0 {
                    d.idle();
                    // Empty roster: look again soon, without spinning.
                    tokio::select! {
                        _ = stop.drain.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
            Err(StoreError::Busy(e)) => {
                // Another process held the store past the busy timeout;
                // nothing failed, the cycle goes on when it is free.
                tracing::warn!(site = d.site(), error = %e, "Store busy; the cycle goes on when it is free.");
                tokio::select! {
                    _ = stop.drain.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = Duration::from_secs(1u64 << failures.min(6));
                tracing::error!(site = d.site(), error = %e, retry_in_seconds = wait.as_secs(), "Cycle failed.");
                tokio::select! {
                    _ = stop.drain.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    None
}

/// Probes every entry of cohort `tag` (`entries` of them), then the
/// inconclusive ones again, for up to `retries` more rounds, counting into
/// `tally` as it goes: every probe counts, but an entry's outcome only once
/// it is final (conclusive, or inconclusive in the last round). `cancel`
/// stops taking entries and rounds; probes in flight are recorded. A site
/// whose canaries fail is not checked: its answers cannot be trusted.
pub(crate) async fn verify_cohort<D: Driver>(
    d: &D,
    tag: &str,
    entries: u64,
    retries: u32,
    cancel: &CancellationToken,
    tally: &Mutex<CohortTally>,
) -> Result<(), StoreError> {
    let add = |f: &dyn Fn(&mut CohortTally)| {
        f(&mut tally.lock().unwrap_or_else(|e| e.into_inner()));
    };
    if d.has_canaries() && !d.check_canaries().await? {
        add(&|t| {
            t.skipped = Some("its canaries fail: its answers cannot be trusted".into());
            t.inconclusive = entries;
            t.done = entries;
        });
        return Ok(());
    }
    // Ctrl-C drains: what was asked is recorded, nothing is abandoned.
    let stop = Stop {
        drain: cancel.clone(),
        abort: CancellationToken::new(),
    };
    let mut source = Source::Cohort {
        tag: tag.to_string(),
        after: None,
        buf: VecDeque::new(),
        exhausted: false,
    };
    for round in 0..=retries {
        let last_round = round == retries;
        let mut again = VecDeque::new();
        pass(d, source, &stop, Canaries::Ignore, |r| {
            let Ok(Probed {
                id, entry, result, ..
            }) = r
            else {
                return Ok(());
            };
            let Some(x) = result? else {
                return Ok(());
            };
            let retry = x.kind == OutcomeKind::Inconclusive && !last_round;
            add(&|t| t.count(x.kind, &x.step, !retry));
            if retry {
                again.push_back((id, entry));
            }
            Ok(())
        })
        .await?;
        if cancel.is_cancelled() || again.is_empty() {
            break;
        }
        source = Source::Listed(again);
    }
    Ok(())
}

/// Adds one probe of a cycle to its totals, or notes where it was
/// abandoned.
fn collect(
    totals: &mut ScanTotals,
    r: Result<Probed, JoinError>,
    first_abandoned: &mut Option<CycleCursor>,
) -> Result<(), StoreError> {
    match r {
        Ok(Probed {
            result: Ok(Some(x)),
            ..
        }) => {
            totals.add(x.kind, &x.step);
            Ok(())
        }
        Ok(Probed {
            result: Ok(None),
            at: Some(at),
            ..
        }) => {
            let earlier = first_abandoned
                .is_none_or(|c| (at.shuffle_key, at.entry.0) < (c.shuffle_key, c.entry.0));
            if earlier {
                *first_abandoned = Some(at);
            }
            Ok(())
        }
        Ok(Probed {
            result: Ok(None), ..
        }) => Ok(()),
        Ok(Probed { result: Err(e), .. }) => Err(e),
        Err(e) => {
            // A panicking probe is a bug, but one entry must not stop the scan.
            tracing::error!(
                error = crate::telemetry::task_failure(&e),
                "Probe task failed."
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_window_bounds_escalations_and_lets_a_burst_through() {
        // 80 % of a 1000-probe window (counted as 64 chunks of 16: 1024).
        let mut w = ShareWindow::new(0.8, 1000);
        let mut burst = 0;
        while w.allows() {
            w.count(true);
            burst += 1;
        }
        assert_eq!(burst, 819, "a burst up to the share goes at full rate");
        // Then the sweep gets the slots until the window moves on.
        let mut sweep = 0;
        while !w.allows() {
            w.count(false);
            sweep += 1;
        }
        // 205 slots, plus up to two chunks of rounding.
        assert!((205..=240).contains(&sweep), "{sweep}");
        // Over a long run with escalations always waiting, at most the
        // share of the slots goes to them.
        let mut w = ShareWindow::new(0.8, 1000);
        let (mut esc, total) = (0u64, 100_000u64);
        for _ in 0..total {
            let e = w.allows();
            w.count(e);
            esc += u64::from(e);
        }
        // At most the share, and not much less (the chunking rounds the
        // window up by at most a chunk).
        assert!(esc <= total * 8 / 10, "{esc}");
        assert!(esc >= total * 78 / 100, "{esc}");
        // Share 0: never; share 1: always.
        assert!(!ShareWindow::new(0.0, 1000).allows());
        let mut w = ShareWindow::new(1.0, 10);
        for _ in 0..100 {
            assert!(w.allows());
            w.count(true);
        }
    }
}
