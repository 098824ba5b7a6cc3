//! The generic webhook channel: the contract's JSON body, signed per
//! Standard Webhooks.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::store::EventIncident;
use crate::wire::{MAX_INCIDENTS_PER_MESSAGE, WebhookBody, WebhookIncident, cohort_counts};

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
        // Over every incident of the message, the truncated ones too.
        cohorts: (event_type == "exposure.opened").then(|| cohort_counts(incidents)),
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
    use crate::config::webhook_key;

    /// The test vectors of the Standard Webhooks libraries
    /// (standard-webhooks/standard-webhooks, `libraries/javascript/src/
    /// webhook.test.ts` "sign function works" and `libraries/rust/src/lib.rs`
    /// `test_sign`): the secret as the libraries issue it, `whsec_` and all.
    const VECTORS: [(&str, &str, i64, &str, &str); 2] = [
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ];

    #[test]
    fn standard_webhooks_test_vectors() {
        for (secret, id, ts, body, expected) in VECTORS {
            let key = webhook_key(secret.as_bytes()).unwrap();
            assert_eq!(sign(&key, id, ts, body), expected, "{id}");
            assert!(verify(&key, id, ts, body, &format!("v1,bogus {expected}")));
            assert!(!verify(&key, id, ts + 1, body, expected));
            // Keyed with the file's raw bytes (what unlistd did before
            // `whsec_` was decoded), no library would accept it.
            assert!(!verify(secret.as_bytes(), id, ts, body, expected));
        }
    }

    #[test]
    fn raw_secrets_sign_with_their_bytes() {
        assert_eq!(webhook_key(b"s3cret").unwrap(), b"s3cret");
        assert_eq!(
            webhook_key(b"MfKQ9r8GKYqrTwjU").unwrap(),
            b"MfKQ9r8GKYqrTwjU"
        );
    }
}
