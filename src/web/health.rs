//! `/healthz` without a write per request: it is open to anyone who can
//! reach the port, so each answer repeats the result of the last write
//! check, and a new check (a tiny durable write) runs at most every
//! [`FRESH`]. Requests that arrive during a check wait for its result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::Mutex;

use crate::store::{Store, blocking};

/// How long one write check's result is reused.
pub(super) const FRESH: Duration = Duration::from_secs(5);

/// The last write check: when, and whether the store took the write.
#[derive(Debug, Default, Clone)]
pub(super) struct Health(Arc<Mutex<Option<(Instant, bool)>>>);

impl Health {
    /// Whether the store is writable, as of at most [`FRESH`] ago.
    pub(super) async fn writable(&self, store: &Store) -> bool {
        let mut last = self.0.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < FRESH
        {
            return ok;
        }
        let s = store.clone();
        let ok = match blocking(move || s.ping_write()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "Health check: store not writable.");
                false
            }
        };
        *last = Some((Instant::now(), ok));
        ok
    }

    pub(super) async fn answer(&self, store: &Store) -> Response {
        if self.writable(store).await {
            (StatusCode::OK, "ok\n").into_response()
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "store not writable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the heartbeat row exists (each write check sets it).
    fn beat(store: &Store) -> bool {
        store.last_heartbeat().unwrap().is_some()
    }

    #[tokio::test]
    async fn a_burst_of_checks_writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("unlistd.db")).unwrap();
        let h = Health::default();
        assert!(!beat(&store));
        assert!(h.writable(&store).await);
        assert!(beat(&store));
        store.forget_heartbeat().unwrap();
        for _ in 0..50 {
            assert!(h.writable(&store).await);
        }
        assert!(!beat(&store), "no write within {FRESH:?} of the last");
        // Once the result is stale, the next request checks again.
        *h.0.lock().await = Some((Instant::now() - FRESH, true));
        assert!(h.writable(&store).await);
        assert!(beat(&store));
    }
}
