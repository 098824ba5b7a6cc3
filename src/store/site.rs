//! Per-site health (canaries) and its alert events.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::db::{ms, opt_ts, sql, ts};
use super::probe::insert_event_with;
use super::{SiteHealth, StoreError, Ts};
use crate::domain::incident::EventType;

pub(super) fn site_health(conn: &Connection, site: &str) -> Result<Option<SiteHealth>, StoreError> {
    conn.query_row(
        "SELECT degraded, since, reason, last_canary_at, last_canary_ok FROM site_state WHERE site = ?1",
        [site],
        |r| {
            Ok(SiteHealth {
                degraded: r.get::<_, i64>(0)? != 0,
                since: ts(r, 1)?,
                reason: r.get(2)?,
                last_canary_at: opt_ts(r, 3)?,
                last_canary_ok: r.get::<_, Option<i64>>(4)?.map(|v| v != 0),
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// Records a canary check and, when the site's state flips, the
/// `site.degraded`/`site.recovered` event with one delivery per receiver,
/// all in one transaction. Returns the event raised, if any.
pub(super) fn record_canary_check(
    conn: &mut Connection,
    site: &str,
    now: Ts,
    ok: bool,
    reason: Option<&str>,
    routes: &crate::domain::route::Routes,
) -> Result<Option<EventType>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let t = ms(now);
    let was: Option<bool> = tx
        .query_row(
            "SELECT degraded FROM site_state WHERE site = ?1",
            [site],
            |r| r.get::<_, i64>(0).map(|v| v != 0),
        )
        .optional()
        .map_err(sql)?;
    let degraded = !ok;
    let event = match (was, degraded) {
        (Some(false) | None, true) => Some(EventType::SiteDegraded),
        (Some(true), false) => Some(EventType::SiteRecovered),
        _ => None,
    };
    match was {
        None => {
            tx.execute(
                "INSERT INTO site_state (site, degraded, since, reason, last_canary_at, last_canary_ok)
                 VALUES (?1, ?2, ?3, ?4, ?3, ?5)",
                params![site, i64::from(degraded), t, reason, i64::from(ok)],
            )
            .map_err(sql)?;
        }
        Some(_) if event.is_some() => {
            tx.execute(
                "UPDATE site_state SET degraded = ?2, since = ?3, reason = ?4, last_canary_at = ?3,
                     last_canary_ok = ?5 WHERE site = ?1",
                params![site, i64::from(degraded), t, reason, i64::from(ok)],
            )
            .map_err(sql)?;
        }
        Some(_) => {
            tx.execute(
                "UPDATE site_state SET reason = ?2, last_canary_at = ?3, last_canary_ok = ?4 WHERE site = ?1",
                params![site, reason, t, i64::from(ok)],
            )
            .map_err(sql)?;
        }
    }
    if let Some(ev) = event {
        // Why, for the people paged: which canary failed and how.
        let payload = reason.map(|r| serde_json::json!({ "reason": r }).to_string());
        insert_event_with(&tx, ev, site, None, payload.as_deref(), t, routes)?;
    }
    tx.commit().map_err(sql)?;
    Ok(event)
}
