//! A site's politeness budget, shared by every process that uses the
//! store: the daemon, `check`, `scan --once`, `verify --cohort`, and on
//! PostgreSQL the daemons of other hosts.
//!
//! The budget is a "next turn" instant per site. A process claims a run of
//! consecutive turns (`interval` apart) in one short transaction that moves
//! the instant past them, so whatever claims next starts after them: any
//! number of processes together stay evenly spaced at the site's rate. A
//! `Retry-After` (or a 429's backoff) closes the site for everyone until a
//! gate instant, and a robots.txt Crawl-delay longer than the interval
//! stretches every claim while it holds. Times are Unix microseconds.
//!
//! Claims run on the store's side connection (SQLite) or as a row-locking
//! transaction (PostgreSQL): never behind a probe batch or an import.

use super::StoreError;
use super::sql::{Conn, params};

/// Turns claimed: the first at `first_us`, then one every `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnClaim {
    pub first_us: i64,
    pub count: u32,
    pub interval_us: i64,
}

impl TurnClaim {
    /// The instant after the last turn: where the next claim starts.
    pub fn end_us(&self) -> i64 {
        self.first_us
            .saturating_add(self.interval_us.saturating_mul(i64::from(self.count)))
    }
}

/// A site's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Budget {
    pub next_at: i64,
    pub gate_until: i64,
    pub crawl_delay: i64,
    pub crawl_delay_until: i64,
}

/// The claim `count` turns of `interval_us` make at `now_us` on `b`, and
/// the site's next free instant after it. Pure, so the rule is tested
/// without a database: the first turn is not before now, nor before any
/// turn already claimed, nor while the gate is closed; a Crawl-delay that
/// still holds and is longer than the interval spaces the turns instead.
pub(super) fn plan(b: &Budget, now_us: i64, count: u32, interval_us: i64) -> TurnClaim {
    let interval_us = if b.crawl_delay_until > now_us {
        interval_us.max(b.crawl_delay)
    } else {
        interval_us
    }
    .max(1);
    TurnClaim {
        first_us: now_us.max(b.next_at).max(b.gate_until),
        count: count.max(1),
        interval_us,
    }
}

const ENSURE_ROW: &str = "INSERT INTO site_budget (site) VALUES (?1) ON CONFLICT DO NOTHING";

fn read_locked(tx: &mut dyn Conn, site: &str) -> Result<Budget, StoreError> {
    tx.execute(ENSURE_ROW, params![site])?;
    let q = format!(
        "SELECT next_at, gate_until, crawl_delay, crawl_delay_until FROM site_budget
         WHERE site = ?1{}",
        tx.dialect().for_update()
    );
    tx.query_one(&q, params![site], |r| {
        Ok(Budget {
            next_at: r.i64(0)?,
            gate_until: r.i64(1)?,
            crawl_delay: r.i64(2)?,
            crawl_delay_until: r.i64(3)?,
        })
    })
}

pub(super) fn claim(
    c: &mut dyn Conn,
    site: &str,
    now_us: i64,
    count: u32,
    interval_us: i64,
) -> Result<TurnClaim, StoreError> {
    c.write_rows(|tx| {
        let b = read_locked(tx, site)?;
        let claim = plan(&b, now_us, count, interval_us);
        tx.execute(
            "UPDATE site_budget SET next_at = ?2 WHERE site = ?1",
            params![site, claim.end_us()],
        )?;
        Ok(claim)
    })
}

/// Hands back the unclaimed tail `[from_us, end_us)` of a claim, when no
/// claim came after it (else those turns simply pass unused). Returns
/// whether it was taken back.
pub(super) fn give_back(
    c: &mut dyn Conn,
    site: &str,
    from_us: i64,
    end_us: i64,
) -> Result<bool, StoreError> {
    let n = c.write_rows(|tx| {
        tx.execute(
            "UPDATE site_budget SET next_at = ?2 WHERE site = ?1 AND next_at = ?3 AND ?2 < ?3",
            params![site, from_us, end_us],
        )
    })?;
    Ok(n > 0)
}

/// Closes the site for everyone until `until_us`; a later gate stays.
pub(super) fn close(c: &mut dyn Conn, site: &str, until_us: i64) -> Result<(), StoreError> {
    c.write_rows(|tx| {
        tx.execute(ENSURE_ROW, params![site])?;
        tx.execute(
            "UPDATE site_budget SET gate_until = ?2 WHERE site = ?1 AND gate_until < ?2",
            params![site, until_us],
        )
        .map(|_| ())
    })
}

/// Until when the site is closed (0 when it never was).
pub(super) fn gate(c: &mut dyn Conn, site: &str) -> Result<i64, StoreError> {
    Ok(c.query_opt(
        "SELECT gate_until FROM site_budget WHERE site = ?1",
        params![site],
        |r| r.i64(0),
    )?
    .unwrap_or(0))
}

/// Shares a robots.txt Crawl-delay (0: none) until `until_us`.
pub(super) fn crawl_delay(
    c: &mut dyn Conn,
    site: &str,
    delay_us: i64,
    until_us: i64,
) -> Result<(), StoreError> {
    c.write_rows(|tx| {
        tx.execute(ENSURE_ROW, params![site])?;
        tx.execute(
            "UPDATE site_budget SET crawl_delay = ?2, crawl_delay_until = ?3 WHERE site = ?1",
            params![site, delay_us, until_us],
        )
        .map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_starts_after_now_the_last_claim_and_the_gate() {
        let idle = Budget::default();
        let c = plan(&idle, 1_000, 3, 200);
        assert_eq!((c.first_us, c.count, c.interval_us), (1_000, 3, 200));
        assert_eq!(c.end_us(), 1_600);
        // A claim already reaches past now: start where it ends.
        let busy = Budget {
            next_at: 1_600,
            ..idle
        };
        assert_eq!(plan(&busy, 1_100, 1, 200).first_us, 1_600);
        // An old claim does not bank turns: never before now.
        assert_eq!(plan(&busy, 9_000, 1, 200).first_us, 9_000);
        // A closed gate wins over both.
        let gated = Budget {
            gate_until: 5_000,
            ..busy
        };
        assert_eq!(plan(&gated, 1_100, 1, 200).first_us, 5_000);
    }

    #[test]
    fn a_crawl_delay_spaces_claims_only_while_it_holds_and_only_when_longer() {
        let b = Budget {
            crawl_delay: 1_000,
            crawl_delay_until: 10_000,
            ..Budget::default()
        };
        assert_eq!(plan(&b, 0, 2, 200).interval_us, 1_000);
        assert_eq!(plan(&b, 0, 2, 5_000).interval_us, 5_000);
        assert_eq!(plan(&b, 10_000, 2, 200).interval_us, 200, "expired");
        // Nothing degenerate comes out of degenerate input.
        let z = plan(&Budget::default(), 0, 0, 0);
        assert_eq!((z.count, z.interval_us), (1, 1));
    }
}
