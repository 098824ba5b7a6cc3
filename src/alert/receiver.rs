//! A webhook receiver on loopback that verifies Standard Webhooks
//! signatures and records what arrives. Used by `unlistd demo` and the
//! tests; it is the counterpart an operator's endpoint would implement.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature_ok: bool,
    /// The `webhook-signature` header as received.
    pub signature: String,
    pub body: String,
    pub json: serde_json::Value,
    /// The status we answered.
    pub answered: u16,
    /// The `Authorization` header, when one was sent (a receiver's secret
    /// header, `[[alerts.webhook]] headers`).
    pub authorization: Option<String>,
}

impl Received {
    pub fn event_type(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }
    pub fn entry_refs(&self) -> Vec<String> {
        self.json["incidents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["entry_ref"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Inner {
    all: Vec<Received>,
    /// Answer this status to the next `fail_next` requests.
    fail_next: u32,
    fail_status: u16,
    retry_after: Option<String>,
    /// Every answer waits this long (a slow endpoint: sends overlap).
    delay: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    secret: Arc<Option<Vec<u8>>>,
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    addr: std::net::SocketAddr,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves `POST /hook`, refusing (400) any
    /// request whose Standard Webhooks signature does not verify. `secret`
    /// is what a secret file holds: `whsec_` + base64, or the key's raw
    /// bytes ([`crate::config::webhook_key`]).
    pub async fn start(secret: &[u8]) -> std::io::Result<Receiver> {
        let key = crate::config::webhook_key(secret)
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        Self::start_with(Some(&key)).await
    }

    /// A receiver for unsigned channels (Slack, Teams, PagerDuty shapes):
    /// accepts any JSON body.
    pub async fn start_unsigned() -> std::io::Result<Receiver> {
        Self::start_with(None).await
    }

    async fn start_with(secret: Option<&[u8]>) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let notify = Arc::new(Notify::new());
        let secret = Arc::new(secret.map(<[u8]>::to_vec));
        let state = (secret.clone(), inner.clone(), notify.clone());
        let app = Router::new().route("/hook", post(handle)).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            secret,
            inner,
            notify,
            addr,
            task: Arc::new(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The HMAC key signatures are checked with.
    pub fn secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }

    /// Answer `status` (with an optional `Retry-After`) to the next `n` requests.
    pub fn fail_next(&self, n: u32, status: u16, retry_after: Option<&str>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.fail_next = n;
        g.fail_status = status;
        g.retry_after = retry_after.map(String::from);
    }

    /// Answer every request only after `d` (a slow endpoint).
    pub fn set_delay(&self, d: std::time::Duration) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).delay = d;
    }

    /// Every request so far, failed ones included.
    pub fn all(&self) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .all
            .clone()
    }

    /// Requests we acknowledged with 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.answered < 300)
            .collect()
    }

    /// Waits until `pred` holds over the accepted requests, or `timeout`.
    pub async fn wait_for(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if pred(&self.accepted()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.accepted());
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

type St = (Arc<Option<Vec<u8>>>, Arc<Mutex<Inner>>, Arc<Notify>);

async fn handle(
    State((secret, inner, notify)): State<St>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let id = h("webhook-id");
    let timestamp: i64 = h("webhook-timestamp").parse().unwrap_or(0);
    let body = String::from_utf8_lossy(&body).into_owned();
    let signature = h("webhook-signature");
    let signature_ok = match secret.as_deref() {
        Some(secret) => super::webhook::verify(secret, &id, timestamp, &body, &signature),
        None => false,
    };
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    let delay = inner.lock().unwrap_or_else(|e| e.into_inner()).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut out = HeaderMap::new();
    let status = {
        let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
        let status = if secret.is_some() && !signature_ok {
            400
        } else if g.fail_next > 0 {
            g.fail_next -= 1;
            if let Some(ra) = g.retry_after.as_deref().and_then(|v| v.parse().ok()) {
                out.insert("retry-after", ra);
            }
            g.fail_status
        } else {
            204
        };
        g.all.push(Received {
            id,
            timestamp,
            signature_ok,
            signature,
            body,
            json,
            answered: status,
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        status
    };
    notify.notify_waiters();
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        out,
    )
}
