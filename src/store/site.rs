//! Per-site health (canaries) and its alert events.

use super::events::insert_event_with;
use super::rows::{bool_col, ms, opt_ts, ts};
use super::sql::{Conn, params};
use super::{SiteHealth, StoreError, Ts};
use crate::domain::incident::EventType;
use crate::domain::route::Routes;

pub(super) fn site_health(c: &mut dyn Conn, site: &str) -> Result<Option<SiteHealth>, StoreError> {
    c.query_opt(
        "SELECT degraded, since, reason, last_canary_at, last_canary_ok
         FROM site_state WHERE site = ?1",
        params![site],
        |r| {
            Ok(SiteHealth {
                degraded: r.i64(0)? != 0,
                since: ts(r, 1)?,
                reason: r.opt_text(2)?,
                last_canary_at: opt_ts(r, 3)?,
                last_canary_ok: r.opt_i64(4)?.map(|v| v != 0),
            })
        },
    )
}

/// Records a canary check and, when the site's state flips, the
/// `site.degraded`/`site.recovered` event with one delivery per receiver,
/// all in one transaction. Returns the event raised, if any.
pub(super) fn record_canary_check(
    c: &mut dyn Conn,
    site: &str,
    now: Ts,
    ok: bool,
    reason: Option<&str>,
    routes: &Routes,
) -> Result<Option<EventType>, StoreError> {
    c.write(|tx| {
        let t = ms(now);
        let was = tx.query_opt(
            "SELECT degraded FROM site_state WHERE site = ?1",
            params![site],
            |r| bool_col(r, 0),
        )?;
        let degraded = !ok;
        let event = match (was, degraded) {
            (Some(false) | None, true) => Some(EventType::SiteDegraded),
            (Some(true), false) => Some(EventType::SiteRecovered),
            _ => None,
        };
        match was {
            None => tx.execute(
                "INSERT INTO site_state (site, degraded, since, reason, last_canary_at,
                     last_canary_ok)
                 VALUES (?1, ?2, ?3, ?4, ?3, ?5)",
                params![site, degraded, t, reason, ok],
            )?,
            Some(_) if event.is_some() => tx.execute(
                "UPDATE site_state SET degraded = ?2, since = ?3, reason = ?4, last_canary_at = ?3,
                     last_canary_ok = ?5 WHERE site = ?1",
                params![site, degraded, t, reason, ok],
            )?,
            Some(_) => tx.execute(
                "UPDATE site_state SET reason = ?2, last_canary_at = ?3, last_canary_ok = ?4
                 WHERE site = ?1",
                params![site, reason, t, ok],
            )?,
        };
        if let Some(ev) = event {
            // Why, for the people paged: which canary failed and how.
            let payload = reason.map(|r| serde_json::json!({ "reason": r }).to_string());
            insert_event_with(tx, ev, site, None, payload.as_deref(), t, routes)?;
        }
        Ok(event)
    })
}
