//! Group commit for probe results (see [`Recorder`]).

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::schedule::Slot;
use crate::domain::route::Routes;
use crate::store::{NewProbe, ProbeEffect, Store, StoreError, blocking};

struct Job {
    probe: NewProbe,
    reply: tokio::sync::oneshot::Sender<Result<ProbeEffect, StoreError>>,
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
pub(crate) struct Recorder {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
    rx: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Job>>>>,
    store: Store,
    resolve_after_clean: u32,
    routes: Arc<Routes>,
    /// KiB of page bodies waiting for their commit (see [`Recorder::record_after`]).
    uncommitted: Arc<Semaphore>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// Most probes committed in one transaction.
const MAX_BATCH: usize = 256;

/// KiB of page bodies that may wait for their commit at once: 8 MiB,
/// several seconds of probing at hundreds a second on real pages. Past it
/// a probe keeps its request slot until there is room, so the site waits.
const UNCOMMITTED_KIB: usize = 8 * 1024;

impl Recorder {
    pub(crate) fn new(store: Store, resolve_after_clean: u32, routes: Arc<Routes>) -> Recorder {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Recorder {
            tx,
            rx: Arc::new(std::sync::Mutex::new(Some(rx))),
            store,
            resolve_after_clean,
            routes,
            uncommitted: Arc::new(Semaphore::new(UNCOMMITTED_KIB)),
        }
    }

    /// Records one probe whose request `slot` is still held: once there
    /// is room for its body among those waiting for a commit, the slot is
    /// let go (the next request need not wait for this commit), then it
    /// is recorded as [`Recorder::record`] does. Returns once committed.
    pub(crate) async fn record_after(
        &self,
        probe: NewProbe,
        slot: Slot,
    ) -> Result<ProbeEffect, StoreError> {
        let kib = (probe.body.as_ref().map_or(0, Vec::len) / 1024 + 1).min(UNCOMMITTED_KIB);
        let room = self
            .uncommitted
            .clone()
            .acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX))
            .await
            .map_err(|_| StoreError::Unavailable("probe recorder stopped".into()))?;
        slot.release();
        let recorded = self.record(probe).await;
        drop(room);
        recorded
    }

    /// Records one probe; returns once its transaction has committed.
    pub(crate) async fn record(&self, probe: NewProbe) -> Result<ProbeEffect, StoreError> {
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
            // The probes (bodies included) move to the store, not copied:
            // a retry shares them.
            let (probes, replies): (Vec<NewProbe>, Vec<_>) =
                jobs.into_iter().map(|j| (j.probe, j.reply)).unzip();
            let probes = Arc::new(probes);
            let recorded = loop {
                let (st, k, rs, p) = (
                    store.clone(),
                    resolve_after_clean,
                    routes.clone(),
                    probes.clone(),
                );
                match blocking(move || st.record_probes(&p, k, &rs)).await {
                    // Another process held the write lock past the busy
                    // timeout (nothing was written): wait on, never fail
                    // a cycle for it.
                    Err(StoreError::Busy(e)) => {
                        tracing::warn!(error = %e, "Store busy; recording the probes when it is free.");
                    }
                    other => break other,
                }
            };
            match recorded {
                Ok(effects) => {
                    for (reply, effect) in replies.into_iter().zip(effects) {
                        let _ = reply.send(Ok(effect));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Backend(msg.clone())));
                    }
                }
            }
        }
    }
}
