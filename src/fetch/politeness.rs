//! The pieces of a site's politeness gate that keep time: the evenly spaced
//! pacer, the `Retry-After` "not before" gate, the retry backoff and the log
//! of send instants behind `effective_rate`.
//!
//! The concurrency semaphore lives in [`super::SiteFetcher`] itself: it needs
//! no clock.

use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

/// Longest wait a `Retry-After` may impose: a site that asks for a day is
/// broken or hostile, and the scheduler must still be able to try again.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// How far back `effective_rate` looks.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Bounds the send log even at absurd configured rates.
const RATE_LOG_CAP: usize = 100_000;

/// A poisoned lock only means another task panicked while holding it; the
/// data (instants) is still meaningful, and the fetcher must never panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One cell per interval, burst 1: requests are evenly spaced, never bunched.
///
/// Generic over governor's clock so tests can drive it with
/// `FakeRelativeClock`: governor does not read tokio's clock, so
/// `tokio::time::pause()` would not help.
///
/// The interval can change at run time (a robots.txt Crawl-delay), which
/// swaps the limiter for a new one.
pub(crate) struct Pacer<C: Clock> {
    state: Mutex<PacerState<C>>,
    clock: C,
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct PacerState<C: Clock> {
    limiter: std::sync::Arc<Limiter<C>>,
    interval: Duration,
}

impl<C: Clock + Clone> Pacer<C> {
    pub(crate) fn with_clock(interval: Duration, clock: C) -> Self {
        let (limiter, interval) = Self::limiter(interval, &clock);
        Pacer {
            state: Mutex::new(PacerState {
                limiter: std::sync::Arc::new(limiter),
                interval,
            }),
            clock,
        }
    }

    fn limiter(interval: Duration, clock: &C) -> (Limiter<C>, Duration) {
        // A zero interval would make governor refuse the quota; config
        // validation should prevent it, but the fetcher must not panic.
        let interval = interval.max(Duration::from_nanos(1));
        let quota = match Quota::with_period(interval) {
            Some(q) => q.allow_burst(NonZeroU32::MIN),
            None => Quota::per_second(NonZeroU32::MIN),
        };
        (
            RateLimiter::direct_with_clock(quota, clock.clone()),
            interval,
        )
    }

    pub(crate) fn interval(&self) -> Duration {
        lock(&self.state).interval
    }

    /// Changes the spacing from now on. The new limiter starts with its one
    /// cell taken, so the next request waits a whole new interval: the old
    /// limiter's last send is not known to it, and a fresh cell could
    /// otherwise go out right behind that send.
    pub(crate) fn set_interval(&self, interval: Duration) {
        let mut st = lock(&self.state);
        if st.interval == interval.max(Duration::from_nanos(1)) {
            return;
        }
        let (limiter, interval) = Self::limiter(interval, &self.clock);
        let _ = limiter.check();
        *st = PacerState {
            limiter: std::sync::Arc::new(limiter),
            interval,
        };
    }

    /// Takes the cell if it is free, else says how long until it is.
    pub(crate) fn try_acquire(&self) -> Result<(), Duration> {
        let limiter = lock(&self.state).limiter.clone();
        limiter
            .check()
            .map(|_| ())
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Waits, with the given sleep, until a cell is taken. The loop re-checks
    /// after every sleep because concurrent waiters race for the same cell
    /// (and the interval may have changed meanwhile).
    pub(crate) async fn until_ready_with<F, Fut>(&self, mut sleep: F)
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        while let Err(wait) = self.try_acquire() {
            sleep(wait).await;
        }
    }
}

/// Site-wide "not before" instant, pushed forward by `Retry-After` and by
/// backoff after 429/503. Only ever moves later: a short `Retry-After` must
/// not cut a longer one short.
#[derive(Debug, Default)]
pub(crate) struct NotBefore {
    until: Mutex<Option<Instant>>,
}

impl NotBefore {
    pub(crate) fn push(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut g = lock(&self.until);
        if g.is_none_or(|t| t < until) {
            *g = Some(until);
        }
    }

    /// Time left before requests may go out again, if any.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let until = (*lock(&self.until))?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Loops because the gate may be pushed further while we sleep.
    pub(crate) async fn wait(&self) {
        loop {
            let until = *lock(&self.until);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half the step is fixed, half is
/// random, so retries from several probes do not fall into lockstep while
/// each still waits at least half the nominal step.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            next: BACKOFF_START,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(BACKOFF_CAP);
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }
}

/// Instants of requests actually sent, for the effective rate.
#[derive(Debug)]
pub(crate) struct SendLog {
    started: Instant,
    sends: Mutex<VecDeque<Instant>>,
}

impl SendLog {
    pub(crate) fn new() -> Self {
        SendLog {
            started: Instant::now(),
            sends: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn record(&self) {
        let now = Instant::now();
        let mut g = lock(&self.sends);
        Self::prune(&mut g, now);
        if g.len() >= RATE_LOG_CAP {
            g.pop_front();
        }
        g.push_back(now);
    }

    /// Sends per second over the last minute, or over the fetcher's lifetime
    /// when that is shorter (a fresh fetcher would otherwise under-report).
    pub(crate) fn rate(&self) -> f64 {
        let now = Instant::now();
        let mut g = lock(&self.sends);
        Self::prune(&mut g, now);
        let window = (now - self.started).min(RATE_WINDOW).as_secs_f64();
        if g.is_empty() || window <= 0.0 {
            return 0.0;
        }
        // Below a second of history, a single send would read as a huge rate.
        g.len() as f64 / window.max(1.0)
    }

    fn prune(g: &mut VecDeque<Instant>, now: Instant) {
        while g
            .front()
            .is_some_and(|t| now.duration_since(*t) > RATE_WINDOW)
        {
            g.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[tokio::test]
    async fn pacer_spaces_requests_on_a_fake_clock() {
        let clock = FakeRelativeClock::default();
        let interval = Duration::from_millis(50);
        let pacer = Pacer::with_clock(interval, clock.clone());
        let mut sent = Vec::new();
        for _ in 0..200 {
            let c = clock.clone();
            pacer
                .until_ready_with(move |d| {
                    c.advance(d);
                    std::future::ready(())
                })
                .await;
            sent.push(clock.now());
        }
        for w in sent.windows(2) {
            let gap = Duration::from_nanos(w[1].saturating_sub(w[0]).as_u64());
            assert!(gap >= interval, "gap {gap:?} shorter than {interval:?}");
        }
        // And no slower than asked: the pacer is the only wait here.
        let total = Duration::from_nanos(sent[199].saturating_sub(sent[0]).as_u64());
        assert_eq!(total, interval * 199);
    }

    #[test]
    fn pacer_allows_no_burst() {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(Duration::from_secs(1), clock.clone());
        assert!(pacer.try_acquire().is_ok());
        let wait = pacer.try_acquire().unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        clock.advance(Duration::from_millis(999));
        assert!(pacer.try_acquire().is_err());
        clock.advance(Duration::from_millis(1));
        assert!(pacer.try_acquire().is_ok());
        // Idle time does not bank cells.
        clock.advance(Duration::from_secs(3600));
        assert!(pacer.try_acquire().is_ok());
        assert!(pacer.try_acquire().is_err());
    }

    #[test]
    fn a_longer_interval_applies_at_once_and_from_the_change() {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(Duration::from_secs(1), clock.clone());
        assert!(pacer.try_acquire().is_ok());
        clock.advance(Duration::from_millis(400));
        pacer.set_interval(Duration::from_secs(5));
        assert_eq!(pacer.interval(), Duration::from_secs(5));
        // A whole new interval from the change, not from the last send.
        assert_eq!(pacer.try_acquire().unwrap_err(), Duration::from_secs(5));
        clock.advance(Duration::from_secs(5));
        assert!(pacer.try_acquire().is_ok());
        assert_eq!(pacer.try_acquire().unwrap_err(), Duration::from_secs(5));
        // Setting the same interval again changes nothing.
        clock.advance(Duration::from_secs(5));
        pacer.set_interval(Duration::from_secs(5));
        assert!(pacer.try_acquire().is_ok());
        // And back to the configured spacing.
        pacer.set_interval(Duration::from_secs(1));
        assert_eq!(pacer.try_acquire().unwrap_err(), Duration::from_secs(1));
    }

    #[test]
    fn pacer_survives_zero_interval() {
        let pacer = Pacer::with_clock(Duration::ZERO, FakeRelativeClock::default());
        assert!(pacer.try_acquire().is_ok());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_cap() {
        let mut b = Backoff::new();
        let mut nominal = BACKOFF_START;
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= nominal / 2 && d <= nominal, "{d:?} vs {nominal:?}");
            nominal = (nominal * 2).min(BACKOFF_CAP);
        }
    }

    #[tokio::test]
    async fn not_before_only_moves_later_and_is_capped() {
        let g = NotBefore::default();
        assert!(g.remaining().is_none());
        g.push(Duration::from_secs(10));
        g.push(Duration::from_secs(1));
        assert!(g.remaining().unwrap() > Duration::from_secs(9));
        g.push(Duration::from_secs(10 * 3600));
        assert!(g.remaining().unwrap() <= MAX_RETRY_AFTER);
    }
}
