//! One delivery attempt over HTTP, for every channel that POSTs JSON
//! (webhook, Slack, Teams, PagerDuty).

use std::time::Duration;

use super::Failure;
use crate::config::ChannelSettings;

/// One reqwest client for every HTTP channel: no redirects (a 3xx is a
/// failure per Standard Webhooks), bounded timeouts.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .user_agent(crate::config::DEFAULT_USER_AGENT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// POSTs `body` to the receiver's URL with its configured secret headers
/// and `headers` (a signature, say). `Ok(status)` only for 2xx. Every
/// channel gets the stable `webhook-id`, so receivers (and our tests) can
/// deduplicate.
pub(super) async fn post(
    client: &reqwest::Client,
    hook: &ChannelSettings,
    id: &str,
    headers: &[(&'static str, String)],
    body: &str,
) -> Result<u16, Failure> {
    let mut req = client
        .post(hook.url.clone())
        .headers(hook.headers.map().clone())
        .header("content-type", "application/json")
        .header("webhook-id", id);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let res = req.body(body.to_owned()).send().await;
    match res {
        Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::fetch::parse_retry_after(v, std::time::SystemTime::now()));
            Err(Failure {
                status: Some(status),
                error: format!("receiver answered {status}"),
                retry_after,
            })
        }
        Err(e) => Err(Failure {
            status: None,
            // The URL may itself be a secret (chat webhooks): never log it.
            error: e.without_url().to_string(),
            retry_after: None,
        }),
    }
}
