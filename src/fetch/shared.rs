//! The part of a site's politeness gate that other processes share: every
//! `unlistd` process that asks the site (the daemon, `check`, `scan
//! --once`, `verify --cohort`, other daemons on one PostgreSQL store) takes
//! its turns from one budget, so together they stay within the site's
//! `rate`, evenly spaced, and a `Retry-After` one of them is told holds
//! back all of them.
//!
//! The budget itself is kept elsewhere ([`SharedBudget`]: the app wires it
//! to the store); `fetch` never names the store. A turn is an instant: a
//! request may go out at it, or a little after ([`Held::late`]), never
//! before and never twice. A process claims a run of consecutive turns per
//! round trip: one at a time at low rates, up to a quarter second's worth
//! at high ones (doubling while it uses them all, halving while most pass
//! unused), so claims stay a few per second. A rate whose interval is
//! under [`SHARED_FROM`] is no budget a site agreed to (benchmarks, tests):
//! it is paced by the process alone and never costs a round trip.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A site's budget as every process sees it. Blocking calls (the fetcher
/// runs them off the async workers). Times are Unix microseconds.
pub(crate) trait SharedBudget: Send + Sync {
    /// Claims `count` consecutive turns at least `interval_us` apart: the
    /// first not before `now_us`, after every turn claimed so far, and
    /// after the site's gate.
    fn claim(&self, site: &str, now_us: i64, count: u32, interval_us: i64)
    -> Result<Turns, String>;
    /// Hands back the turns `[from_us, end_us)` of this process's claim,
    /// if nobody claimed after it.
    fn give_back(&self, site: &str, from_us: i64, end_us: i64) -> Result<(), String>;
    /// Closes the site for everyone until `until_us` (a later gate stays).
    fn close(&self, site: &str, until_us: i64) -> Result<(), String>;
    /// Until when the site is closed (0 or the past: open).
    fn gate(&self, site: &str) -> Result<i64, String>;
    /// Shares the robots.txt Crawl-delay (0: none) until `until_us`.
    fn share_crawl_delay(&self, site: &str, delay_us: i64, until_us: i64) -> Result<(), String>;
}

/// Turns claimed: the first at `first_us`, then one every `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turns {
    pub first_us: i64,
    pub count: u32,
    pub interval_us: i64,
}

/// Pacing intervals below this (rates of 1000/s and more) are not shared.
pub(crate) const SHARED_FROM: Duration = Duration::from_millis(1);

/// How far ahead one claim reaches at most: few claims a second, and
/// little held back from other processes at once.
const CLAIM_SPAN_US: i64 = 250_000;

/// A gate read this recently (µs) is not read again before a request.
const GATE_FRESH_US: i64 = 10_000;

/// However short the interval, a turn may be this late (µs): the timers
/// that wake a request are not finer.
const LATE_FLOOR_US: i64 = 2_000;

/// Wall time in Unix microseconds. Shared turns are instants every
/// process reads the same way, so they are wall-clock, not monotonic.
pub(crate) type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) fn system_clock() -> WallClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    })
}

/// An interval in whole microseconds, rounded up: rounding down would let
/// `N` turns fit in slightly less than the rate's unit.
pub(crate) fn micros_up(d: Duration) -> i64 {
    let us = d.as_nanos().div_ceil(1000);
    i64::try_from(us).unwrap_or(i64::MAX).max(1)
}

/// This process's claimed turns (bookkeeping only: time is passed in).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Held {
    next: i64,
    end: i64,
    interval: i64,
    /// Turns in the last claim, used from it, and passed unused.
    size: u32,
    used: u32,
    missed: u32,
}

impl Held {
    /// How late a turn may still be used. Under an interval, so two
    /// requests are never closer than half of one, and any window of the
    /// rate's unit holds at most one request more than the rate.
    fn late(&self) -> i64 {
        (self.interval / 2).max(LATE_FLOOR_US)
    }

    /// The next turn still usable at `now`; those too far past are
    /// dropped (they are nobody's any more).
    pub(super) fn take(&mut self, now: i64) -> Option<i64> {
        while self.next < self.end {
            let t = self.next;
            self.next = self.next.saturating_add(self.interval);
            if t.saturating_add(self.late()) >= now {
                self.used += 1;
                return Some(t);
            }
            self.missed += 1;
        }
        None
    }

    /// How many turns to claim next at `interval_us`: doubling while
    /// every turn of the last claim went out, halving while most passed
    /// unused, within a quarter second's worth.
    pub(super) fn next_size(&self, interval_us: i64) -> u32 {
        let most = u32::try_from((CLAIM_SPAN_US / interval_us.max(1)).clamp(1, 1000)).unwrap_or(1);
        let size = if self.size == 0 {
            1
        } else if self.missed == 0 && self.used == self.size {
            self.size.saturating_mul(2)
        } else if self.used.saturating_mul(2) < self.size {
            self.size / 2
        } else {
            self.size
        };
        size.clamp(1, most)
    }

    pub(super) fn refill(&mut self, t: Turns) {
        *self = Held {
            next: t.first_us,
            end: t
                .first_us
                .saturating_add(t.interval_us.saturating_mul(i64::from(t.count))),
            interval: t.interval_us.max(1),
            size: t.count,
            used: 0,
            missed: 0,
        };
    }

    /// The turns not used yet, `[from, end)`, if any lie ahead of `now`.
    pub(super) fn unused(&self, now: i64) -> Option<(i64, i64)> {
        (self.next < self.end && self.end > now).then_some((self.next, self.end))
    }
}

/// What a request's turn came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// Send now.
    Go,
    /// Another process closed the site until then (Unix µs): wait.
    Closed { until_us: i64 },
}

/// One site's shared turns in this process.
pub(super) struct SharedTurns {
    budget: Arc<dyn SharedBudget>,
    site: String,
    clock: WallClock,
    held: tokio::sync::Mutex<Held>,
    /// When the gate was last read (our clock, µs) and what it said.
    gate_seen: Mutex<(i64, i64)>,
}

impl std::fmt::Debug for SharedTurns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTurns")
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

/// Runs a budget call on the blocking pool; a panic there is an error.
async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("budget task failed: {e}")))
}

impl SharedTurns {
    pub(super) fn new(budget: Arc<dyn SharedBudget>, site: &str, clock: WallClock) -> Self {
        SharedTurns {
            budget,
            site: site.to_string(),
            clock,
            held: tokio::sync::Mutex::new(Held::default()),
            gate_seen: Mutex::new((i64::MIN, 0)),
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Waits for this process's next turn at `interval`, claiming more
    /// when its turns are used up, then checks the site's shared gate.
    /// Cancel-safe: dropped while waiting, the turn passes unused.
    pub(super) async fn turn(&self, interval: Duration) -> Turn {
        let iv = micros_up(interval);
        loop {
            let (turn, late) = self.next_turn(iv).await;
            let wait = turn.saturating_sub(self.now());
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
            }
            let now = self.now();
            if turn.saturating_add(late) < now {
                // Woken too late (a loaded machine): that turn has passed.
                continue;
            }
            let until = self.gate(now).await;
            return if until > now {
                Turn::Closed { until_us: until }
            } else {
                Turn::Go
            };
        }
    }

    /// Takes the next held turn, claiming a new run when none is left.
    /// Returns it with how late it may still go out.
    async fn next_turn(&self, iv: i64) -> (i64, i64) {
        let mut held = self.held.lock().await;
        loop {
            if let Some(t) = held.take(self.now()) {
                return (t, held.late());
            }
            let count = held.next_size(iv);
            let (budget, site, clock) =
                (self.budget.clone(), self.site.clone(), self.clock.clone());
            // "Now" as late as possible: a turn claimed for an instant the
            // claim itself took to pass would go out late.
            let claimed = off_worker(move || {
                let now = clock();
                budget.claim(&site, now, count, iv).map(|t| (t, now))
            })
            .await;
            match claimed {
                Ok((turns, now)) => {
                    held.refill(turns);
                    // The claim read the gate: none before its first turn.
                    *self
                        .gate_seen
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = (now, 0);
                }
                Err(e) => {
                    // Never send without a turn: wait and claim again.
                    tracing::warn!(site = %self.site, error = %e, "Cannot claim turns from the shared budget; retrying in 1 s.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The site's shared gate, read again unless read within
    /// [`GATE_FRESH_US`]. A failed read keeps what was last seen.
    async fn gate(&self, now: i64) -> i64 {
        let (read_at, until) = *self
            .gate_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(read_at) < GATE_FRESH_US {
            return until;
        }
        let (budget, site) = (self.budget.clone(), self.site.clone());
        match off_worker(move || budget.gate(&site)).await {
            Ok(until) => {
                *self
                    .gate_seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = (now, until);
                until
            }
            Err(e) => {
                tracing::warn!(site = %self.site, error = %e, "Cannot read the shared Retry-After gate.");
                until
            }
        }
    }

    /// Closes the site for every process for `wait` from now.
    pub(super) async fn close_for(&self, wait: Duration) {
        let now = self.now();
        let until = now.saturating_add(micros_up(wait));
        {
            let mut seen = self
                .gate_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *seen = (now, seen.1.max(until));
        }
        let (budget, site) = (self.budget.clone(), self.site.clone());
        if let Err(e) = off_worker(move || budget.close(&site, until)).await {
            tracing::warn!(site = %self.site, error = %e, "Cannot share a Retry-After with the other processes.");
        }
    }

    /// Shares robots.txt's Crawl-delay (or its absence) for `ttl`.
    pub(super) async fn share_crawl_delay(&self, delay: Option<Duration>, ttl: Duration) {
        let now = self.now();
        let delay_us = delay.map_or(0, micros_up);
        let until = now.saturating_add(micros_up(ttl));
        let (budget, site) = (self.budget.clone(), self.site.clone());
        if let Err(e) = off_worker(move || budget.share_crawl_delay(&site, delay_us, until)).await {
            tracing::warn!(site = %self.site, error = %e, "Cannot share the robots.txt Crawl-delay.");
        }
    }

    /// Hands the turns this process holds but will not use back to the
    /// budget (when it stops asking the site).
    pub(super) async fn release(&self) {
        let mut held = self.held.lock().await;
        let unused = held.unused(self.now());
        *held = Held {
            size: held.size,
            ..Held::default()
        };
        drop(held);
        if let Some((from, end)) = unused {
            let (budget, site) = (self.budget.clone(), self.site.clone());
            if let Err(e) = off_worker(move || budget.give_back(&site, from, end)).await {
                tracing::debug!(site = %self.site, error = %e, "Cannot hand unused turns back.");
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The store's rule in memory: what several "processes" (several
    /// [`SharedTurns`]) share in the tests. Counts claims.
    #[derive(Debug, Default)]
    pub(in crate::fetch) struct FakeBudget {
        pub state: Mutex<(i64, i64)>,
        pub claims: std::sync::atomic::AtomicU32,
    }

    impl SharedBudget for FakeBudget {
        fn claim(&self, _: &str, now: i64, count: u32, iv: i64) -> Result<Turns, String> {
            self.claims
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut st = self.state.lock().unwrap();
            let first = now.max(st.0).max(st.1);
            st.0 = first + iv * i64::from(count);
            Ok(Turns {
                first_us: first,
                count,
                interval_us: iv,
            })
        }
        fn give_back(&self, _: &str, from: i64, end: i64) -> Result<(), String> {
            let mut st = self.state.lock().unwrap();
            if st.0 == end {
                st.0 = from;
            }
            Ok(())
        }
        fn close(&self, _: &str, until: i64) -> Result<(), String> {
            let mut st = self.state.lock().unwrap();
            st.1 = st.1.max(until);
            Ok(())
        }
        fn gate(&self, _: &str) -> Result<i64, String> {
            Ok(self.state.lock().unwrap().1)
        }
        fn share_crawl_delay(&self, _: &str, _: i64, _: i64) -> Result<(), String> {
            Ok(())
        }
    }

    /// Wall time that follows tokio's (paused) clock.
    fn paused_clock() -> WallClock {
        let base = tokio::time::Instant::now();
        Arc::new(move || 1_700_000_000_000_000 + base.elapsed().as_micros() as i64)
    }

    /// `processes` × `tasks` senders at `rate_per_s` for `secs` seconds of
    /// paused time; returns every send instant (µs) and the budget.
    async fn run_senders(
        processes: usize,
        tasks: usize,
        rate_per_s: u32,
        secs: u64,
    ) -> (Vec<i64>, Arc<FakeBudget>) {
        let budget = Arc::new(FakeBudget::default());
        let clock = paused_clock();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let interval = Duration::from_secs(1) / rate_per_s;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..processes {
            let turns = Arc::new(SharedTurns::new(budget.clone(), "s", clock.clone()));
            for _ in 0..tasks {
                let (turns, sent, clock) = (turns.clone(), sent.clone(), clock.clone());
                set.spawn(async move {
                    while tokio::time::Instant::now() < deadline {
                        if turns.turn(interval).await == Turn::Go {
                            sent.lock().unwrap().push(clock());
                        }
                    }
                });
            }
        }
        while set.join_next().await.is_some() {}
        let mut v = sent.lock().unwrap().clone();
        v.sort_unstable();
        (v, budget)
    }

    /// The most sends in any window of `span` µs.
    fn most_in_window(sent: &[i64], span: i64) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|&&t| t - sent[i] < span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn three_processes_share_one_evenly_spaced_rate() {
        let (sent, budget) = run_senders(3, 2, 5, 20).await;
        let iv = 200_000;
        for w in sent.windows(2) {
            assert!(
                w[1] - w[0] >= iv,
                "two sends {} µs apart at 5/s",
                w[1] - w[0]
            );
        }
        assert!(most_in_window(&sent, 1_000_000) <= 5);
        // And the budget is used, not wasted: about 5 a second overall.
        assert!(sent.len() >= 95, "{} sends in 20 s", sent.len());
        // One claim per turn at this rate.
        let claims = budget.claims.load(std::sync::atomic::Ordering::SeqCst);
        assert!(claims as usize >= sent.len());
    }

    #[tokio::test(start_paused = true)]
    async fn at_high_rates_turns_are_claimed_in_runs_and_still_evenly_spaced() {
        let (sent, budget) = run_senders(2, 4, 100, 10).await;
        for w in sent.windows(2) {
            assert!(w[1] - w[0] >= 10_000, "{} µs apart at 100/s", w[1] - w[0]);
        }
        assert!(most_in_window(&sent, 1_000_000) <= 100);
        assert!(sent.len() >= 950, "{} sends in 10 s", sent.len());
        let claims = budget.claims.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            claims * 10 <= sent.len() as u32,
            "{claims} claims for {} sends: runs should be long",
            sent.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_one_process_closes_holds_back_the_others() {
        let budget = Arc::new(FakeBudget::default());
        let clock = paused_clock();
        let a = SharedTurns::new(budget.clone(), "s", clock.clone());
        let b = SharedTurns::new(budget.clone(), "s", clock.clone());
        let iv = Duration::from_millis(100);
        assert_eq!(a.turn(iv).await, Turn::Go);
        let told = clock();
        // A was told Retry-After: 2; B's next request waits it out.
        a.close_for(Duration::from_secs(2)).await;
        let mut b_sent = None;
        for _ in 0..50 {
            match b.turn(iv).await {
                Turn::Go => {
                    b_sent = Some(clock());
                    break;
                }
                Turn::Closed { until_us } => {
                    tokio::time::sleep(Duration::from_micros((until_us - clock()).max(0) as u64))
                        .await;
                }
            }
        }
        let waited = b_sent.expect("B sends after the gate") - told;
        assert!(waited >= 2_000_000, "B sent {waited} µs after the 429");
        assert!(waited < 2_200_000, "B waited {waited} µs");
    }

    #[tokio::test(start_paused = true)]
    async fn unused_turns_go_back_when_a_process_stops() {
        let budget = Arc::new(FakeBudget::default());
        let clock = paused_clock();
        let a = SharedTurns::new(budget.clone(), "s", clock.clone());
        let iv = Duration::from_millis(10);
        // Used fully, the runs grow: 1, 2, 4 turns.
        for _ in 0..4 {
            assert_eq!(a.turn(iv).await, Turn::Go);
        }
        let held_until = budget.state.lock().unwrap().0;
        let now = clock();
        assert!(held_until > now + 10_000, "A holds turns ahead");
        a.release().await;
        // The next claim, by anyone, starts right away.
        let next = budget.state.lock().unwrap().0;
        assert!(next <= now + 10_000, "given back: {next} vs {now}");
    }

    fn turns(first_us: i64, count: u32, interval_us: i64) -> Turns {
        Turns {
            first_us,
            count,
            interval_us,
        }
    }

    #[test]
    fn held_turns_go_in_order_and_stale_ones_are_dropped() {
        let mut h = Held::default();
        assert_eq!(h.take(0), None, "nothing held at first");
        h.refill(turns(1_000_000, 4, 100_000));
        assert_eq!(h.take(0), Some(1_000_000), "early: the first turn");
        // 50 ms (half an interval) late is still the turn's.
        assert_eq!(h.take(1_150_000), Some(1_100_000));
        // More than that: dropped, the next one is taken.
        assert_eq!(h.take(1_260_000), Some(1_300_000));
        assert_eq!((h.used, h.missed), (3, 1));
        assert_eq!(h.take(1_300_000), None, "all four gone");
        assert_eq!(h.unused(0), None);
    }

    #[test]
    fn claims_grow_while_used_and_shrink_while_wasted() {
        let iv = 20_000; // 50/s: at most 12 turns (240 ms) per claim
        let mut h = Held::default();
        let mut sizes = vec![];
        for _ in 0..6 {
            let n = h.next_size(iv);
            sizes.push(n);
            h.refill(turns(0, n, iv));
            while h.take(0).is_some() {}
        }
        assert_eq!(sizes, [1, 2, 4, 8, 12, 12]);
        // A process that cannot keep up lets most turns pass.
        h.refill(turns(0, 12, iv));
        h.take(0);
        while h.take(i64::MAX / 2).is_some() {}
        assert_eq!(h.next_size(iv), 6);
        // At 1/s one turn per claim, whatever happened.
        assert_eq!(h.next_size(1_000_000), 1);
    }

    #[test]
    fn unused_turns_are_those_ahead() {
        let mut h = Held::default();
        h.refill(turns(100, 3, 10));
        h.take(100);
        assert_eq!(h.unused(105), Some((110, 130)));
        assert_eq!(h.unused(130), None, "all past");
    }

    #[test]
    fn intervals_round_up_to_whole_microseconds() {
        assert_eq!(micros_up(Duration::from_secs(1) / 3), 333_334);
        assert_eq!(micros_up(Duration::from_millis(200)), 200_000);
        assert_eq!(micros_up(Duration::ZERO), 1);
    }
}
