//! One prober per site, whatever number of daemons share the store: the
//! daemon that schedules a site holds its lease (`site:<name>`), renewed
//! while it probes. Another daemon waits for the lease, and takes the
//! site over once the holder stops renewing (it died, or lost the store)
//! and the lease has expired. The cycle continues where it stood: its
//! position is derived from the store (`Store::cycle_resume_point`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{StoreError, blocking};

use super::schedule::{Resume, Stop};
use super::{Engine, Site};

/// A site's lease lasts this long unless renewed (at most 10 s, so a dead
/// holder's site is taken over within that).
pub(crate) const SITE_LEASE_TTL: Duration = Duration::from_secs(8);

/// The holder renews this often: a renewal or two may fail (a busy store)
/// before the lease runs out.
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// A daemon without the lease asks again this often.
const ASK_EVERY: Duration = Duration::from_secs(1);

/// The lease's name for `site`.
pub(crate) fn site_lease(site: &str) -> String {
    format!("site:{site}")
}

impl Engine {
    /// Takes or renews `site`'s lease for this process: `Some(false)`
    /// while another holds it, `None` when a SQLite store stayed locked by
    /// another writer (an import) past its busy timeout: nobody else can
    /// have taken the lease meanwhile. Any other store error counts as not
    /// held.
    async fn try_hold_site(&self, site: &str) -> Option<bool> {
        let (store, name, holder) = (
            self.store.clone(),
            site_lease(site),
            crate::telemetry::instance_id(),
        );
        let now = time::OffsetDateTime::now_utc();
        match blocking(move || store.take_lease(&name, &holder, now, SITE_LEASE_TTL)).await {
            Ok(held) => Some(held),
            Err(StoreError::Busy(e)) => {
                tracing::debug!(site, error = %e, "Store busy; the site's lease is renewed when it is free.");
                None
            }
            Err(e) => {
                tracing::warn!(site, error = %e, "Cannot take or renew the site's lease.");
                Some(false)
            }
        }
    }

    async fn hold_site(&self, site: &str) -> bool {
        self.try_hold_site(site).await == Some(true)
    }

    /// Cycles `site` while this process holds its lease, until
    /// `stop.drain`: waits for the lease, probes while it renews it, and
    /// goes back to waiting when it is lost (probes in flight are
    /// recorded; the new holder continues the cycle from the store).
    /// Returns where a drained cycle stopped, for a successor in this
    /// process (a reload), which holds the lease under the same name.
    pub(crate) async fn schedule(
        &self,
        site: Arc<Site>,
        mut resume: Option<Resume>,
        stop: Stop,
    ) -> Option<Resume> {
        let mut waited = false;
        while !stop.drain.is_cancelled() {
            if !self.hold_site(site.name()).await {
                if !waited {
                    tracing::info!(
                        site = site.name(),
                        "Another unlistd probes this site; waiting for its lease."
                    );
                    waited = true;
                }
                // A successor's place is the holder's business now.
                resume = None;
                tokio::select! {
                    _ = stop.drain.cancelled() => {}
                    _ = tokio::time::sleep(ASK_EVERY) => {}
                }
                continue;
            }
            if waited {
                tracing::info!(site = site.name(), "Took the site over.");
                waited = false;
            }
            let lost = CancellationToken::new();
            let held = Stop {
                drain: stop.drain.child_token(),
                abort: stop.abort.clone(),
            };
            let keeper = {
                let (me, name, lost, drain) = (
                    self.clone(),
                    site.name().to_string(),
                    lost.clone(),
                    held.drain.clone(),
                );
                tokio::spawn(async move {
                    me.keep_site(&name, &drain).await;
                    lost.cancel();
                    drain.cancel();
                })
            };
            let left = self.cycles(site.clone(), resume.take(), held.clone()).await;
            keeper.abort();
            if stop.drain.is_cancelled() {
                return left;
            }
            if lost.is_cancelled() {
                tracing::warn!(
                    site = site.name(),
                    "Lost the site's lease; another unlistd goes on with its cycle."
                );
                waited = true;
            }
        }
        None
    }

    /// Renews `site`'s lease every [`RENEW_EVERY`] until `drain` fires
    /// (returns quietly) or the lease is lost: taken by another, or not
    /// renewed for as long as it lasts (the store cannot be reached).
    async fn keep_site(&self, site: &str, drain: &CancellationToken) {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = drain.cancelled() => return,
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
            let held = self.try_hold_site(site).await;
            if held.is_none_or(|h| h) {
                // A busy SQLite store blocks every other writer too: no
                // other daemon could have renewed or taken the lease.
                renewed = tokio::time::Instant::now();
            } else if renewed.elapsed() + RENEW_EVERY >= SITE_LEASE_TTL {
                // Another may take it before our next renewal: stop first.
                return;
            } else {
                let (store, name) = (self.store.clone(), site_lease(site));
                let now = time::OffsetDateTime::now_utc();
                let me = crate::telemetry::instance_id();
                let ours = blocking(move || store.leases(&name, now))
                    .await
                    .map(|l| l.iter().all(|l| l.holder == me))
                    .unwrap_or(true);
                if !ours {
                    return;
                }
            }
        }
    }
}
