//! Alert delivery from the transactional outbox.
//!
//! A probe that opens or resolves an incident writes an event and one
//! delivery row per receiver in the same transaction as the probe (see
//! `store::Store::record_probe`). This module turns those rows into
//! messages and delivers them:
//!
//! - **Grouping**: the deliveries of one receiver, site and event type are
//!   formed into one message once the oldest of them is `group_wait` old
//!   (Alertmanager's `group_wait`), so a mass leak is one page.
//! - **Stable identity**: a formed message's id (`webhook-id`) and body are
//!   stored and never change, so every retry is byte-identical and a
//!   receiver can deduplicate.
//! - **At least once, in order**: each receiver's messages are sent oldest
//!   first; a failing head message blocks the ones behind it, so events of
//!   one incident never overtake each other. Retries back off exponentially
//!   (1 s doubling to `max_backoff`, with jitter) and honour `Retry-After`.
//!   Nothing is ever dropped: a 4xx is retried like a 5xx, and the failure
//!   shows in `status`.
//! - **One sender per receiver**: any process with the store may form
//!   messages (one writer forms each group), but only the holder of the
//!   receiver's lease sends. It takes the lease before it sends, renews it
//!   while a send is under way, and gives it up after the pass; a crashed
//!   holder's lease expires after [`LEASE_TTL`]. So two dispatchers (the
//!   daemon and `scan --once`, or two daemons on one PostgreSQL store)
//!   never send the same message at once, and messages keep their order.

pub mod email;
pub mod format;
mod http;
pub mod pagerduty;
pub mod receiver;
pub mod slack;
pub mod teams;
#[cfg(test)]
mod tests;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{AlertSettings, Channel, ChannelSettings};
use crate::domain::incident::EventType;
use crate::domain::route::Routes;
use crate::store::blocking;
use crate::store::{EventIncident, MessageRow, Store, StoreError, Ts};
use crate::telemetry;

/// Longest we ever wait on a receiver's `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How long a receiver's lease lasts unless renewed; renewed every third
/// of it while a send is under way.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// How soon a dispatcher looks again when another one holds the lease.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// Why one delivery attempt failed, on any channel: what the dispatcher
/// records (`error` is shown in `status`, never holds a secret) and how
/// long the receiver asked us to wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    /// The receiver's HTTP status or SMTP reply code, when it answered.
    pub status: Option<u16>,
    pub error: String,
    pub retry_after: Option<Duration>,
}

// The one place that maps a configured channel to its code: adding a
// channel adds a file beside this one and its arm in each match below.

/// The body a channel receives for a group of incidents, formed once and
/// stored with the message.
pub fn body_for(
    channel: &Channel,
    event: EventType,
    site: &str,
    incidents: &[EventIncident],
    ctx: &format::Context,
) -> String {
    match channel {
        Channel::Webhook { .. } => {
            let contact = ctx
                .takedown_contact
                .as_deref()
                .filter(|_| event.is_exposure());
            webhook::body_with_contact(
                event.as_str(),
                site,
                incidents,
                ctx.details.as_ref(),
                contact,
            )
        }
        Channel::Slack => slack::body(event, site, incidents, ctx),
        Channel::Teams => teams::body(event, site, incidents, ctx),
        Channel::PagerDuty { routing_key } => {
            pagerduty::body(event, site, incidents, ctx, routing_key)
        }
        Channel::Email(_) => email::body(event, site, incidents, ctx),
    }
}

/// How a receiver is reached.
#[derive(Debug, Clone)]
enum Sender {
    /// POST JSON, signed for the generic webhook.
    Http(reqwest::Client),
    Mail(Arc<email::Mailer>),
}

impl Sender {
    fn for_channel(channel: &Channel) -> Sender {
        match channel {
            Channel::Email(e) => Sender::Mail(Arc::new(email::Mailer::new(e))),
            Channel::Webhook { .. }
            | Channel::Slack
            | Channel::Teams
            | Channel::PagerDuty { .. } => Sender::Http(http::client()),
        }
    }

    /// One attempt to deliver message `m` to `hook`.
    async fn send(&self, hook: &ChannelSettings, m: &MessageRow) -> Result<u16, Failure> {
        match (self, &hook.channel) {
            (Sender::Mail(mailer), _) => mailer.send(&m.id, m.created_at, &m.body).await,
            (Sender::Http(client), Channel::Webhook { secret }) => {
                let headers = webhook::signature_headers(secret, &m.id, &m.body);
                http::post(client, hook, &m.id, &headers, &m.body).await
            }
            (Sender::Http(client), _) => http::post(client, hook, &m.id, &[], &m.body).await,
        }
    }
}

/// A new message id: `msg_` and 26 random hex digits.
pub fn new_message_id() -> String {
    let b: [u8; 13] = rand::random();
    format!("msg_{}", hex::encode(b))
}

/// Exponential backoff with ±20 % jitter: 1 s, 2 s, 4 s, ... capped.
pub fn backoff(attempts: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = base.min(max);
    let jitter = rand::random_range(0.8..1.2);
    capped.mul_f64(jitter).min(max)
}

fn now() -> Ts {
    time::OffsetDateTime::now_utc()
}

fn after(d: Duration) -> Ts {
    now() + d
}

/// Delivers one receiver's outbox.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    hook: Arc<ChannelSettings>,
    dashboard_url: Option<String>,
    /// HTTP for most channels, SMTP for email.
    sender: Sender,
    group_wait: Duration,
    max_backoff: Duration,
    /// Every receiver's routes: a failing receiver is reported to the others.
    routes: Arc<Routes>,
    /// Who this dispatcher is in the receiver's lease: the process, and a
    /// tag so two dispatchers of one process are two holders.
    holder: String,
    /// Per site: its `takedown_contact`, named in exposure messages.
    contacts: Arc<Vec<(String, String)>>,
}

/// Failed attempts on one message after which its receiver counts as
/// failing (a 4xx counts at once: it will not fix itself).
pub const FAILING_AFTER: u32 = 3;

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassResult {
    pub formed: u64,
    pub delivered: u64,
    pub failed: u64,
}

impl Dispatcher {
    pub fn new(store: Store, hook: ChannelSettings, settings: &AlertSettings) -> Dispatcher {
        Dispatcher {
            store,
            sender: Sender::for_channel(&hook.channel),
            hook: Arc::new(hook),
            dashboard_url: settings.dashboard_url.as_ref().map(|u| u.to_string()),
            group_wait: settings.group_wait,
            max_backoff: settings.max_backoff,
            routes: Arc::new(settings.routes()),
            holder: format!("{}#{:04x}", telemetry::instance_id(), rand::random::<u16>()),
            contacts: Arc::default(),
        }
    }

    fn lease_name(&self) -> String {
        format!("receiver:{}", self.hook.receiver)
    }

    /// Takes or renews the receiver's lease; false while another holds it.
    async fn take_lease(&self) -> Result<bool, StoreError> {
        let (store, name, holder) = (self.store.clone(), self.lease_name(), self.holder.clone());
        blocking(move || store.take_lease(&name, &holder, now(), LEASE_TTL)).await
    }

    /// Renews the lease every third of its life; returns only when it is
    /// lost (taken over, or the store cannot say).
    async fn keep_lease(&self) {
        loop {
            tokio::time::sleep(LEASE_TTL / 3).await;
            match self.take_lease().await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(receiver = %self.hook.receiver, error = %e, "Cannot renew the receiver's lease.");
                    return;
                }
            }
        }
    }

    /// Names each site's takedown contact in its exposure messages.
    pub fn with_takedown_contacts(mut self, contacts: Vec<(String, String)>) -> Dispatcher {
        self.contacts = Arc::new(contacts);
        self
    }

    pub fn receiver(&self) -> &str {
        &self.hook.receiver
    }

    /// Forms messages for groups that are due (all of them with `flush`),
    /// then sends due messages oldest first, stopping at the first failure.
    /// Returns what it did and when it wants to run again.
    pub async fn pass(&self, flush: bool) -> Result<(PassResult, Option<Duration>), StoreError> {
        let mut res = PassResult::default();
        let mut wake: Option<Duration> = None;
        let soonest = |d: Duration, w: &mut Option<Duration>| {
            *w = Some(w.map_or(d, |x| x.min(d)));
        };

        res.formed = self.form(flush, &mut |d| soonest(d, &mut wake)).await?;
        if !self.take_lease().await? {
            // Another dispatcher is sending this receiver's messages.
            tracing::debug!(receiver = %self.hook.receiver, "Another dispatcher holds the receiver; not sending.");
            soonest(LEASE_RETRY, &mut wake);
            return Ok((res, wake));
        }
        let sent = self
            .send_due(&mut res, &mut |d| soonest(d, &mut wake))
            .await;
        let (store, name, holder) = (self.store.clone(), self.lease_name(), self.holder.clone());
        if let Err(e) = blocking(move || store.release_lease(&name, &holder)).await {
            tracing::debug!(receiver = %self.hook.receiver, error = %e, "Cannot give the receiver's lease up; it expires.");
        }
        sent?;
        Ok((res, wake))
    }

    /// Sends due messages oldest first while this dispatcher holds the
    /// receiver's lease, stopping at the first failure; `later` hears when
    /// to try again.
    async fn send_due(
        &self,
        res: &mut PassResult,
        later: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<(), StoreError> {
        loop {
            let store = self.store.clone();
            let receiver = self.hook.receiver.clone();
            let Some(m) = blocking(move || store.next_message(&receiver)).await? else {
                break;
            };
            let due_in: Duration = (m.next_attempt_at - now())
                .try_into()
                .unwrap_or(Duration::ZERO);
            if !due_in.is_zero() {
                later(due_in);
                break;
            }
            // Renewed before each message, and while it is being sent: a
            // send that outlives the lease is abandoned, not finished beside
            // the dispatcher that took over.
            if !self.take_lease().await? {
                later(LEASE_RETRY);
                break;
            }
            let attempt = tokio::select! {
                a = self.sender.send(&self.hook, &m) => a,
                () = self.keep_lease() => {
                    tracing::warn!(receiver = %self.hook.receiver, message = %m.id, "Lost the receiver's lease while sending; another dispatcher goes on.");
                    later(LEASE_RETRY);
                    break;
                }
            };
            let store = self.store.clone();
            let id = m.id.clone();
            match attempt {
                Ok(status) => {
                    blocking(move || store.mark_delivered(&id, now(), status)).await?;
                    res.delivered += 1;
                    self.health(None, &m).await?;
                    tracing::info!(
                        receiver = %self.hook.receiver,
                        message = %m.id,
                        event = m.event_type.as_str(),
                        status,
                        attempts = m.attempts + 1,
                        "Alert delivered."
                    );
                }
                Err(fail) => {
                    let wait = match fail.retry_after {
                        Some(ra) => ra.min(MAX_RETRY_AFTER),
                        None => backoff(m.attempts + 1, self.max_backoff),
                    };
                    let (status, error) = (fail.status, fail.error.clone());
                    blocking(move || {
                        store.mark_attempt_failed(&id, now(), after(wait), status, &error)
                    })
                    .await?;
                    res.failed += 1;
                    let client_error = status.is_some_and(|s| (400..500).contains(&s) && s != 429);
                    if client_error || m.attempts + 1 >= FAILING_AFTER {
                        self.health(Some(&fail.error), &m).await?;
                    }
                    tracing::warn!(
                        receiver = %self.hook.receiver,
                        message = %m.id,
                        error = %fail.error,
                        attempts = m.attempts + 1,
                        retry_in_ms = wait.as_millis() as u64,
                        "Alert delivery failed; will retry."
                    );
                    later(wait);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Forms a message of each group of events that is due (every group
    /// with `flush`); `later` hears when the others are. Returns how many
    /// it formed.
    async fn form(
        &self,
        flush: bool,
        later: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<u64, StoreError> {
        let mut formed_count = 0;
        let store = self.store.clone();
        let receiver = self.hook.receiver.clone();
        let groups = blocking(move || store.pending_groups(&receiver)).await?;
        for g in groups {
            let age = (now() - g.oldest).try_into().unwrap_or(Duration::ZERO);
            if !flush && age < self.group_wait {
                later(self.group_wait - age);
                continue;
            }
            let mut ctx = self.context(&g.site).await?;
            let store = self.store.clone();
            let receiver = self.hook.receiver.clone();
            let id = new_message_id();
            let hook = self.hook.clone();
            let formed = blocking(move || {
                store.form_message(
                    &receiver,
                    &g.site,
                    g.event_type,
                    &id,
                    now(),
                    &mut |incs, payload| {
                        ctx.details = payload.and_then(|p| serde_json::from_str(p).ok());
                        body_for(&hook.channel, g.event_type, &g.site, incs, &ctx)
                    },
                )
            })
            .await?;
            if let Some(m) = formed {
                formed_count += 1;
                tracing::info!(
                    receiver = %self.hook.receiver,
                    message = %m.id,
                    event = m.event_type.as_str(),
                    site = %m.site,
                    "Alert message formed."
                );
            }
        }
        Ok(formed_count)
    }

    /// Records the receiver's health after an attempt; the first failure
    /// after being healthy (and the first success after failing) is an
    /// event for every *other* receiver, so a dead channel never goes
    /// unnoticed.
    async fn health(&self, error: Option<&str>, head: &MessageRow) -> Result<(), StoreError> {
        let store = self.store.clone();
        let receiver = self.hook.receiver.clone();
        let routes = self.routes.clone();
        let failing = error.is_some();
        let error = error.map(str::to_owned);
        let attempts = head.attempts + 1;
        let changed = blocking(move || {
            let stats = store.outbox_stats(&receiver)?;
            let payload = serde_json::json!({
                "receiver": receiver,
                "error": error,
                "attempts": attempts,
                "undelivered_events": stats.undelivered_events,
            })
            .to_string();
            match &error {
                Some(e) => store.receiver_failing(&receiver, e, &payload, now(), &routes),
                None => store.receiver_ok(&receiver, &payload, now(), &routes),
            }
        })
        .await?;
        if changed {
            tracing::warn!(
                receiver = %self.hook.receiver,
                failing,
                "Alert receiver health changed; the other receivers are told."
            );
        }
        Ok(())
    }

    async fn context(&self, site: &str) -> Result<format::Context, StoreError> {
        let remaining_open = if matches!(self.hook.channel, Channel::PagerDuty { .. }) {
            let store = self.store.clone();
            let site = site.to_string();
            blocking(move || store.incidents(true))
                .await?
                .iter()
                .filter(|i| i.site == site)
                .count() as u64
        } else {
            0
        };
        Ok(format::Context {
            dashboard_url: self.dashboard_url.clone(),
            remaining_open,
            details: None,
            takedown_contact: self
                .contacts
                .iter()
                .find(|(s, _)| s == site)
                .map(|(_, c)| c.clone()),
        })
    }

    /// Runs until cancelled, woken by `notify` when new events arrive.
    pub async fn run(self, notify: Arc<Notify>, cancel: CancellationToken) {
        loop {
            let wait = match self.pass(false).await {
                Ok((_, wake)) => wake.unwrap_or(Duration::from_secs(5)),
                Err(e) => {
                    tracing::error!(receiver = %self.hook.receiver, error = %e, "Alert pass failed.");
                    Duration::from_secs(5)
                }
            };
            // A short floor keeps a burst of events from spinning the loop;
            // the cap bounds how late a row formed by another process is seen.
            let wait = wait.clamp(Duration::from_millis(20), Duration::from_secs(5));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
