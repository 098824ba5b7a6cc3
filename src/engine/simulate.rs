//! `unlistd simulate`: the real scheduler ([`schedule`]) and the real
//! matcher against an in-memory directory, on tokio's paused clock, so a
//! million-entry roster at one request a second runs its weeks of virtual
//! time in seconds.
//!
//! What is real and what is simulated:
//! - real: `schedule::cycle` and everything under it (the cycle lane, the
//!   escalation lane and its share window, the follow-up that queues an
//!   exposed entry's cohort, the concurrency and stop logic), the matcher
//!   (`domain::matcher::assess`), tokio's timers;
//! - simulated, behind the [`Driver`] trait: the store's cycle queries (a
//!   permutation shuffled lazily per cycle, an escalation queue keyed the
//!   same way), the fetch gate (one request per `1/R` of virtual time) and
//!   the site (a leaked entry's number is listed; any other number gets
//!   the no-results page, which the adapters read as `Page::NoHits`), the
//!   recorder (an incident opens on an entry's first exposure).
//!
//! Each trial leaks its entries at virtual time 0 and starts a fresh cycle
//! (whose order is independent of the leak, as a reshuffled cycle is of a
//! leak at a random time), and stops at the first exposure or, for a
//! cohort, once every leaked entry is found.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::incident::Step;
use crate::domain::{E164, Entry, EntryId, Listing, Outcome, OutcomeKind, matcher};
use crate::store::{CycleCursor, StoreError, Ts};

use super::schedule::{self, Done, Driver, Resume, Slot, Stop};

/// What to simulate.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Roster sizes.
    pub sizes: Vec<u32>,
    /// Requests per second of the one site.
    pub rate: f64,
    /// Trials of each leak fraction; the single entry and the cohort get a
    /// tenth of them, at least 100.
    pub trials: u32,
    pub seed: u64,
    /// `[scan] max_staleness` (it sets the escalation window).
    pub max_staleness: Duration,
    /// `[scan] escalation_share`.
    pub escalation_share: f64,
}

/// One line of the result.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub n: u32,
    pub scenario: String,
    pub leaked: u32,
    pub trials: u32,
    /// Probes until the first exposure was recorded (p50, p99).
    pub probes: Option<(f64, f64)>,
    /// Virtual seconds from the leak to the first exposure (p50, p99).
    pub seconds: Option<(f64, f64)>,
    /// `ln(0.01)/ln(1 − f)`: probes for 99 % with replacement.
    pub theory_p99: Option<f64>,
    /// The exact 99 % point of a shuffled cycle (without replacement).
    pub exact_p99: Option<f64>,
    /// What is compared with its reference: (measured, reference, what).
    pub check: (f64, f64, &'static str),
    /// The goal on measured / reference, and whether it holds.
    pub goal: &'static str,
    pub ok: bool,
}

/// The directory, the queue and the counters of one trial.
struct World {
    n: u32,
    cohort_size: u32,
    interval: Duration,
    share: f64,
    max_staleness: Duration,
    started: Instant,
    st: Mutex<State>,
}

struct State {
    rng: SmallRng,
    /// The cycle order; positions below `shuffled` are this cycle's.
    order: Vec<u32>,
    shuffled: usize,
    leaked: Vec<bool>,
    leaked_list: Vec<u32>,
    leaked_count: u32,
    opened: HashSet<u32>,
    found: u32,
    probes: u64,
    first_open: Option<(u64, Instant)>,
    last_open: Option<Instant>,
    /// The escalation queue, and the entries already probed from it.
    esc: VecDeque<u32>,
    esc_done: HashSet<u32>,
    /// When the cohort was last queued.
    cohort_queued: Option<Instant>,
    next_slot: Instant,
    /// Stop at the first exposure, or once every leaked entry is found.
    until_all: bool,
    /// Every probe's entry in order, when a test asks for it.
    log: Option<Vec<u32>>,
    stop: CancellationToken,
}

#[derive(Clone)]
struct Sim(Arc<World>);

impl World {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entry `ix`: a spare-series number, in the cohort when below
    /// `cohort_size`.
    fn entry(&self, ix: u32) -> Entry {
        Entry {
            entry_ref: format!("S-{ix:07}"),
            phone: E164::from_e164(&format!("+45{}", 13_000_000 + ix))
                .unwrap_or_else(unreachable_number),
            name: None,
            address: None,
            hide_number: true,
            hide_address: false,
            cohort: (ix < self.cohort_size).then(|| "sim-cohort".to_string()),
        }
    }
}

/// Numbers 13000000..13999999 are valid; the roster never exceeds 10^6.
fn unreachable_number() -> E164 {
    E164::from_e164("+4513000000").unwrap_or_else(|| panic!("a valid constant number"))
}

impl Driver for Sim {
    fn site(&self) -> &str {
        "sim"
    }
    fn concurrency(&self) -> usize {
        1
    }
    fn has_canaries(&self) -> bool {
        false
    }
    fn canaries_due(&self) -> bool {
        false
    }
    fn degraded(&self) -> bool {
        false
    }
    fn canary_wait(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn escalation_budget(&self) -> (f64, u64) {
        let w = self.0.max_staleness.as_nanos() / self.0.interval.as_nanos().max(1);
        (self.0.share, u64::try_from(w).unwrap_or(u64::MAX))
    }
    fn max_staleness(&self) -> Duration {
        self.0.max_staleness
    }
    fn now(&self) -> Ts {
        let secs = i64::try_from(self.0.started.elapsed().as_secs()).unwrap_or(0);
        Ts::UNIX_EPOCH + time::Duration::seconds(secs)
    }

    fn start_cycle(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.0.lock().shuffled = 0;
        std::future::ready(Ok(u64::from(self.0.n)))
    }

    fn cycle_batch(
        &self,
        after: Option<CycleCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(CycleCursor, EntryId, Entry)>, StoreError>> + Send {
        let from = after.map_or(0, |c| usize::try_from(c.shuffle_key + 1).unwrap_or(0));
        let mut st = self.0.lock();
        let to = (from + limit).min(st.order.len());
        // Fisher–Yates, lazily: only the positions the cycle reaches are
        // drawn, so a trial that stops early costs what it probed.
        let len = st.order.len();
        while st.shuffled < to {
            let i = st.shuffled;
            let j = st.rng.random_range(i..len);
            st.order.swap(i, j);
            st.shuffled += 1;
        }
        let ixs: Vec<(usize, u32)> = (from..to).map(|p| (p, st.order[p])).collect();
        drop(st);
        let batch = ixs
            .into_iter()
            .map(|(p, ix)| {
                let id = EntryId(i64::from(ix) + 1);
                let at = CycleCursor {
                    shuffle_key: i64::try_from(p).unwrap_or(i64::MAX),
                    entry: id,
                };
                (at, id, self.0.entry(ix))
            })
            .collect();
        std::future::ready(Ok(batch))
    }

    fn join_cycle(
        &self,
        _after: CycleCursor,
        _since: Ts,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        // No imports during a trial.
        std::future::ready(Ok(0))
    }

    fn resume_point(&self) -> impl Future<Output = Result<Option<Resume>, StoreError>> + Send {
        // One process, from the start of every trial.
        std::future::ready(Ok(None))
    }

    fn finish_cycle(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    fn roster_mark(&self) -> impl Future<Output = Result<i64, StoreError>> + Send {
        std::future::ready(Ok(0))
    }

    fn escalate(&self, id: EntryId) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let ix = u32::try_from(id.0 - 1).unwrap_or(u32::MAX);
        let mut st = self.0.lock();
        let quiet = st
            .cohort_queued
            .is_some_and(|t| t.elapsed() < self.0.max_staleness);
        let mut queued = 0;
        // The store's rule: the cohort, unless it was queued within
        // `max_staleness`; the exposed entry itself not again on its own
        // site.
        if ix < self.0.cohort_size && !quiet {
            st.cohort_queued = Some(Instant::now());
            let mut members: Vec<u32> = (0..self.0.cohort_size).filter(|m| *m != ix).collect();
            for i in (1..members.len()).rev() {
                let j = st.rng.random_range(0..=i);
                members.swap(i, j);
            }
            queued = members.len() as u64;
            st.esc_done.clear();
            st.esc.extend(members);
        }
        std::future::ready(Ok(queued))
    }

    fn escalated(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send {
        let mut st = self.0.lock();
        while let Some(front) = st.esc.front().copied() {
            if st.esc_done.remove(&front) {
                st.esc.pop_front();
            } else {
                break;
            }
        }
        let ixs: Vec<u32> = st
            .esc
            .iter()
            .filter(|e| !st.esc_done.contains(e))
            .take(limit)
            .copied()
            .collect();
        drop(st);
        let out = ixs
            .into_iter()
            .map(|ix| (EntryId(i64::from(ix) + 1), self.0.entry(ix)))
            .collect();
        std::future::ready(Ok(out))
    }

    fn escalation_done(&self, id: EntryId) -> impl Future<Output = Result<(), StoreError>> + Send {
        let ix = u32::try_from(id.0 - 1).unwrap_or(u32::MAX);
        self.0.lock().esc_done.insert(ix);
        std::future::ready(Ok(()))
    }

    fn escalation_skipped(
        &self,
        id: EntryId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.escalation_done(id)
    }

    fn cohort_batch(
        &self,
        _tag: &str,
        _after: Option<EntryId>,
        _limit: usize,
    ) -> impl Future<Output = Result<Vec<(EntryId, Entry)>, StoreError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }

    fn probe(
        &self,
        id: EntryId,
        entry: &Entry,
        // Held to the end (with the follow-ups): the simulated record
        // takes no time.
        _slot: Slot,
    ) -> impl Future<Output = Result<Done, StoreError>> + Send {
        let world = self.0.clone();
        let ix = u32::try_from(id.0 - 1).unwrap_or(u32::MAX);
        let entry = entry.clone();
        async move {
            // The fetch gate: evenly spaced, one request per interval.
            let slot = {
                let mut st = world.lock();
                let slot = st.next_slot.max(Instant::now());
                st.next_slot = slot + world.interval;
                slot
            };
            tokio::time::sleep_until(slot).await;
            let listed = world
                .lock()
                .leaked
                .get(ix as usize)
                .copied()
                .unwrap_or(false);
            // The site's answer: the leaked number's listing, else the
            // no-results page (no listings), both through the matcher.
            let listings = if listed {
                vec![Listing {
                    name: None,
                    phones: vec![entry.phone.national().to_string()],
                    address: None,
                }]
            } else {
                Vec::new()
            };
            let outcome = matcher::assess(&entry, &listings);
            let mut st = world.lock();
            st.probes += 1;
            if let Some(log) = st.log.as_mut() {
                log.push(ix);
            }
            let step = match outcome {
                Outcome::Exposed { fields, .. } if st.opened.insert(ix) => {
                    let now = Instant::now();
                    let probes = st.probes;
                    st.first_open.get_or_insert((probes, now));
                    st.last_open = Some(now);
                    st.found += 1;
                    if !st.until_all || st.found >= st.leaked_count {
                        st.stop.cancel();
                    }
                    Step::Open { exposed: fields }
                }
                Outcome::Exposed { fields, .. } => Step::SeenAgain { exposed: fields },
                _ => Step::Nothing,
            };
            let kind = match step {
                Step::Open { .. } | Step::SeenAgain { .. } => OutcomeKind::Exposed,
                _ => OutcomeKind::Clean,
            };
            Ok(Done {
                kind,
                step,
                unreadable: false,
            })
        }
    }

    fn check_canaries(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(true))
    }

    fn after_cycle(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    fn idle(&self) {}
}

/// What one trial measured.
struct Trial {
    probes: u64,
    first_seconds: f64,
    /// First exposure to the last leaked entry found.
    enumeration_seconds: f64,
}

impl Sim {
    fn new(plan: &Plan, n: u32, cohort_size: u32, seed: u64) -> Sim {
        let interval = Duration::from_secs_f64(1.0 / plan.rate);
        Sim(Arc::new(World {
            n,
            cohort_size,
            interval,
            share: plan.escalation_share,
            max_staleness: plan.max_staleness,
            started: Instant::now(),
            st: Mutex::new(State {
                rng: SmallRng::seed_from_u64(seed),
                order: (0..n).collect(),
                shuffled: 0,
                leaked: vec![false; n as usize],
                leaked_list: Vec::new(),
                leaked_count: 0,
                opened: HashSet::new(),
                found: 0,
                probes: 0,
                first_open: None,
                last_open: None,
                esc: VecDeque::new(),
                esc_done: HashSet::new(),
                cohort_queued: None,
                next_slot: Instant::now(),
                until_all: false,
                log: None,
                stop: CancellationToken::new(),
            }),
        }))
    }

    /// Leaks `leaked` (the cohort when `cohort`, else random entries) at
    /// virtual now, and runs cycles from a fresh one until the trial's end.
    async fn trial(&self, leaked: u32, cohort: bool) -> Trial {
        let stop = CancellationToken::new();
        let t0 = {
            let mut st = self.0.lock();
            let old = std::mem::take(&mut st.leaked_list);
            for ix in old {
                st.leaked[ix as usize] = false;
            }
            st.opened.clear();
            let mut chosen = 0;
            while chosen < leaked {
                let ix = if cohort {
                    chosen
                } else {
                    st.rng.random_range(0..self.0.n)
                };
                if !st.leaked[ix as usize] {
                    st.leaked[ix as usize] = true;
                    st.leaked_list.push(ix);
                    chosen += 1;
                }
            }
            st.leaked_count = leaked;
            st.found = 0;
            st.probes = 0;
            st.first_open = None;
            st.last_open = None;
            st.esc.clear();
            st.esc_done.clear();
            st.cohort_queued = None;
            st.until_all = cohort;
            st.stop = stop.clone();
            let now = Instant::now();
            st.next_slot = now;
            now
        };
        // The daemon's loop: cycle after cycle until the trial ends.
        schedule::schedule(self.clone(), None, Stop::together(&stop)).await;
        let st = self.0.lock();
        let (probes, first) = st.first_open.unwrap_or((st.probes, Instant::now()));
        let last = st.last_open.unwrap_or(first);
        Trial {
            probes,
            first_seconds: (first - t0).as_secs_f64(),
            enumeration_seconds: (last - first).as_secs_f64(),
        }
    }

    /// One whole cycle with `leaked` listed from its start, run as `run`:
    /// every probe's entry, in order.
    #[cfg(test)]
    async fn cycle_log(&self, leaked: &[u32], run: schedule::Run) -> Vec<u32> {
        {
            let mut st = self.0.lock();
            for &ix in leaked {
                st.leaked[ix as usize] = true;
            }
            st.leaked_list = leaked.to_vec();
            st.leaked_count = u32::try_from(leaked.len()).unwrap_or(u32::MAX);
            st.until_all = true;
            st.log = Some(Vec::new());
            st.next_slot = Instant::now();
        }
        let cancel = CancellationToken::new();
        let _ = schedule::cycle(self, None, &Stop::together(&cancel), run).await;
        self.0.lock().log.take().unwrap_or_default()
    }

    /// One whole cycle without a leak: its virtual length.
    async fn sweep(&self) -> (u64, f64) {
        {
            let mut st = self.0.lock();
            let old = std::mem::take(&mut st.leaked_list);
            for ix in old {
                st.leaked[ix as usize] = false;
            }
            st.probes = 0;
            st.next_slot = Instant::now();
        }
        let t0 = Instant::now();
        let cancel = CancellationToken::new();
        let _ = schedule::cycle(self, None, &Stop::together(&cancel), schedule::Run::Daemon).await;
        // The last probe's request went out at its slot; the cycle is done
        // when its interval is over (the next request could go then).
        let end = self.0.lock().next_slot;
        (self.0.lock().probes, (end - t0).as_secs_f64())
    }
}

/// The `q` quantile (nearest rank) of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (quantile(&v, 0.5), quantile(&v, 0.99))
}

/// Probes needed for a hit with probability `c`, drawing without
/// replacement from `n` entries of which `k` leaked (a shuffled cycle).
fn exact_probes(n: u32, k: u32, c: f64) -> f64 {
    let (n, k) = (f64::from(n), f64::from(k));
    let mut miss = 1.0;
    let mut i = 0.0;
    // The tolerance keeps an exact 1 % from losing to rounding.
    while miss > 1.0 - c + 1e-12 && i < n {
        miss *= (n - k - i).max(0.0) / (n - i);
        i += 1.0;
    }
    i
}

/// Runs the plan on a current-thread runtime with a paused clock (call
/// from a plain thread, not inside a runtime).
pub(crate) fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start the simulation runtime: {e}"))?;
    Ok(rt.block_on(run_plan(plan)))
}

// One block per roster size, scenario after scenario: the table's rows
// in order, each with its reference figure.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
async fn run_plan(plan: &Plan) -> Vec<Figure> {
    let mut out = Vec::new();
    let few = (plan.trials / 10).max(100);
    for (b, &n) in plan.sizes.iter().enumerate() {
        let seed = plan.seed.wrapping_add(b as u64 * 1_000_003);
        let cohort = (n / 100).max(2);
        let sim = Sim::new(plan, n, cohort, seed);
        let per = 1.0 / plan.rate;

        let (probes, secs) = sim.sweep().await;
        let reference = f64::from(n) * per;
        out.push(Figure {
            n,
            scenario: "sweep (no leak)".into(),
            leaked: 0,
            trials: 1,
            probes: Some((probes as f64, probes as f64)),
            seconds: Some((secs, secs)),
            theory_p99: None,
            exact_p99: None,
            check: (secs, reference, "cycle / (N/R)"),
            goal: "≤ 1.05",
            ok: probes == u64::from(n) && secs <= 1.05 * reference,
        });

        for (label, leaked) in [
            ("leak 10 %", n / 10),
            ("leak 1 %", n / 100),
            ("leak 0.1 %", n / 1000),
            ("single entry", 1),
        ] {
            let leaked = leaked.max(1);
            let trials = if leaked == 1 { few } else { plan.trials };
            let mut probes = Vec::with_capacity(trials as usize);
            let mut secs = Vec::with_capacity(trials as usize);
            for _ in 0..trials {
                let t = sim.trial(leaked, false).await;
                probes.push(t.probes as f64);
                secs.push(t.first_seconds);
            }
            let f = f64::from(leaked) / f64::from(n);
            let theory = 0.01f64.ln() / (1.0 - f).ln();
            let exact = exact_probes(n, leaked, 0.99);
            let (p50, p99) = p50_p99(probes);
            let ratio = p99 / exact;
            out.push(Figure {
                n,
                scenario: label.into(),
                leaked,
                trials,
                probes: Some((p50, p99)),
                seconds: Some(p50_p99(secs)),
                theory_p99: Some(theory),
                exact_p99: Some(exact),
                check: (p99, exact, "p99 / exact p99"),
                goal: "within 10 %",
                ok: (0.9..=1.1).contains(&ratio) && p99 <= theory * 1.1,
            });
        }

        let mut probes = Vec::new();
        let mut first = Vec::new();
        let mut enumeration = Vec::new();
        for _ in 0..few {
            let t = sim.trial(cohort, true).await;
            probes.push(t.probes as f64);
            first.push(t.first_seconds);
            enumeration.push(t.enumeration_seconds);
        }
        let reference = f64::from(cohort) * per;
        let (_, e99) = p50_p99(enumeration.clone());
        let f = f64::from(cohort) / f64::from(n);
        out.push(Figure {
            n,
            scenario: "cohort leak".into(),
            leaked: cohort,
            trials: few,
            probes: Some(p50_p99(probes)),
            seconds: Some(p50_p99(first)),
            theory_p99: Some(0.01f64.ln() / (1.0 - f).ln()),
            exact_p99: Some(exact_probes(n, cohort, 0.99)),
            check: (e99, reference, "enumeration p99 / (C/R)"),
            goal: "≤ 1.1",
            ok: e99 <= 1.1 * reference,
        });
    }
    out
}

/// The figures as a Markdown table (what README shows).
pub(crate) fn table(plan: &Plan, figures: &[Figure]) -> String {
    let mut t = format!(
        "Virtual time on tokio's paused clock, R = {}/s, one site; trials per row as shown.\n\n\
         | N | scenario | leaked | trials | probes to first alert p50 / p99 | time to first alert p50 / p99 | theory p99 ln(0.01)/ln(1−f) | exact p99 (shuffled cycle) | measured / reference | goal |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        plan.rate
    );
    for f in figures {
        let pair = |v: Option<(f64, f64)>, unit: &str| {
            v.map_or("–".into(), |(a, b)| {
                format!("{} / {}{unit}", human(a), human(b))
            })
        };
        let opt = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.1}"));
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} = {:.3} | {} {} |\n",
            human(f64::from(f.n)),
            f.scenario,
            human(f64::from(f.leaked)),
            f.trials,
            pair(f.probes, ""),
            pair(f.seconds, " s"),
            opt(f.theory_p99),
            opt(f.exact_p99),
            f.check.2,
            f.check.0 / f.check.1,
            f.goal,
            if f.ok { "✓" } else { "✗" },
        ));
    }
    t
}

/// `1234567.0` → `"1,234,567"`; fractions keep one decimal.
fn human(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x.fract() != 0.0 && x < 100.0 {
        return format!("{x:.1}");
    }
    #[allow(clippy::cast_possible_truncation)]
    let digits = (x.round() as i64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(trials: u32) -> Plan {
        Plan {
            sizes: vec![2000],
            rate: 1.0,
            trials,
            seed: 7,
            max_staleness: Duration::from_secs(24 * 3600),
            escalation_share: 0.8,
        }
    }

    #[test]
    fn the_exact_figures_match_the_known_values() {
        // reliability.md §3c: 448 probes for 99 % at 1 % of 10,000.
        assert_eq!(exact_probes(10_000, 100, 0.99), 448.0);
        assert_eq!(exact_probes(10_000, 1, 0.99), 9_900.0);
        assert_eq!(human(1_000_000.0), "1,000,000");
        assert_eq!(human(43.7), "43.7");
    }

    /// The simulation runs the real scheduler: a sweep visits every entry
    /// once in N/R, a leak is found near the theory, and a cohort leak is
    /// enumerated at the full rate once its first entry is found.
    #[test]
    fn a_small_simulation_meets_its_goals() {
        let p = plan(300);
        let figures = run(&p).unwrap();
        let table = table(&p, &figures);
        println!("{table}");
        let sweep = &figures[0];
        assert_eq!(sweep.probes, Some((2000.0, 2000.0)));
        assert!(sweep.ok, "{table}");
        let cohort = figures.last().unwrap();
        assert_eq!(cohort.scenario, "cohort leak");
        assert!(cohort.ok, "{table}");
        // 10 % of 2000: found within a few dozen probes.
        let ten = &figures[1];
        let (p50, p99) = ten.probes.unwrap();
        assert!(p50 <= 10.0 && p99 <= 60.0, "{table}");
    }

    /// How often each entry was probed, and the place of each probe of
    /// `ix` in the log.
    fn counts(log: &[u32], n: u32) -> Vec<u32> {
        let mut c = vec![0; n as usize];
        for &ix in log {
            c[ix as usize] += 1;
        }
        c
    }

    /// One cohort member leaked, found by the walk: the rest of the cohort
    /// is probed next (the escalation lane), and the walk does not probe
    /// them again. The daemon re-probes the members its walk had already
    /// probed (that probe may predate the leak); `scan --once` probes every
    /// entry exactly once.
    #[tokio::test(start_paused = true)]
    async fn an_exposure_pulls_its_cohort_forward_and_the_walk_skips_it() {
        const N: u32 = 2000;
        const C: u32 = 40;
        for run in [schedule::Run::Daemon, schedule::Run::Once] {
            let sim = Sim::new(&plan(100), N, C, 11);
            // Member 7 of the cohort (entries 0..C) is listed.
            let log = sim.cycle_log(&[7], run).await;
            let c = counts(&log, N);
            let hit = log.iter().position(|&ix| ix == 7).unwrap();
            let walked_before: Vec<u32> = log[..hit].iter().copied().filter(|&ix| ix < C).collect();
            assert!(!walked_before.is_empty(), "the seed walks members first");
            // Every member not probed before the hit comes right after it.
            let next: HashSet<u32> = log[hit + 1..].iter().take(C as usize).copied().collect();
            for m in (0..C).filter(|m| *m != 7) {
                match run {
                    schedule::Run::Daemon => assert!(next.contains(&m), "{run:?}: member {m}"),
                    schedule::Run::Once if !walked_before.contains(&m) => {
                        assert!(next.contains(&m), "{run:?}: member {m}");
                    }
                    schedule::Run::Once => {}
                }
            }
            // Nobody outside the cohort twice; in a daemon cycle exactly
            // the members walked before the hit twice, in one pass nobody.
            assert!((C..N).all(|ix| c[ix as usize] == 1), "{run:?}");
            let twice: Vec<u32> = (0..C).filter(|&m| c[m as usize] == 2).collect();
            assert!((0..C).all(|m| (1..=2).contains(&c[m as usize])), "{run:?}");
            match run {
                schedule::Run::Daemon => {
                    let mut want = walked_before.clone();
                    want.sort_unstable();
                    assert_eq!(twice, want, "{run:?}");
                    assert_eq!(log.len(), (N as usize) + walked_before.len());
                }
                schedule::Run::Once => {
                    assert!(twice.is_empty(), "{run:?}: {twice:?}");
                    assert_eq!(log.len(), N as usize);
                }
            }
        }
    }
}
