//! The generic webhook channel: the contract's JSON body, signed per
//! Standard Webhooks.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::store::EventIncident;
use crate::wire::{MAX_INCIDENTS_PER_MESSAGE, WebhookBody, WebhookIncident};

/// The contract's webhook body for a group of incidents.
pub fn body(
    event_type: &str,
    site: &str,
    incidents: &[EventIncident],
    details: Option<&serde_json::Value>,
) -> String {
    body_with_contact(event_type, site, incidents, details, None)
}

/// [`body`] naming the site's takedown contact (exposure events).
pub fn body_with_contact(
    event_type: &str,
    site: &str,
    incidents: &[EventIncident],
    details: Option<&serde_json::Value>,
    takedown_contact: Option<&str>,
) -> String {
    let body = WebhookBody {
        takedown_contact,
        details: details.cloned(),
        event_type,
        site,
        count: incidents.len(),
        truncated: incidents.len() > MAX_INCIDENTS_PER_MESSAGE,
        incidents: incidents
            .iter()
            .take(MAX_INCIDENTS_PER_MESSAGE)
            .map(WebhookIncident::from)
            .collect(),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| "{}".into())
}

/// The Standard Webhooks headers that sign one attempt of `body`.
pub fn signature_headers(secret: &[u8], id: &str, body: &str) -> Vec<(&'static str, String)> {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    vec![
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sign(secret, id, ts, body)),
    ]
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
