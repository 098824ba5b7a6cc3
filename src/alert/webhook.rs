//! The generic webhook channel: Standard Webhooks signing and one attempt.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::{Channel, ChannelSettings};

/// One reqwest client for webhook delivery: no redirects (a 3xx is a
/// failure per Standard Webhooks), bounded timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .user_agent(crate::config::DEFAULT_USER_AGENT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the secret.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Checks a `webhook-signature` header (which may carry several
/// space-separated signatures) in constant time.
pub fn verify(secret: &[u8], id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    let expected = sign(secret, id, timestamp, body);
    header.split_whitespace().any(|sig| {
        use subtle::ConstantTimeEq;
        sig.len() == expected.len() && bool::from(sig.as_bytes().ct_eq(expected.as_bytes()))
    })
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub status: Option<u16>,
    pub error: String,
    pub retry_after: Option<Duration>,
}

/// One delivery attempt on any HTTP channel. `Ok(status)` only for 2xx. Only
/// the generic webhook is signed; every channel gets the stable
/// `webhook-id` so receivers (and our tests) can deduplicate.
pub async fn send(
    client: &reqwest::Client,
    hook: &ChannelSettings,
    id: &str,
    body: &str,
) -> Result<u16, Failure> {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut req = client
        .post(hook.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", id);
    if let Channel::Webhook { secret } = &hook.channel {
        req = req
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(secret, id, ts, body));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks spec's example (secret bytes are the
        // base64-decoded `whsec_` value there).
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
            &format!("v1,bogus {sig}")
        ));
        assert!(!verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265331,
            r#"{"test": 2432232314}"#,
            &sig
        ));
    }
}
