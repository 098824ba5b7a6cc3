//! Who is calling, and what they may do.
//!
//! A bearer token is compared in constant time over SHA-256 digests with
//! every configured token (all of them, whichever matches), so neither a
//! token's content, its length nor its place in the list leaks. The match
//! names the caller ([`Identity`]): `[api] token_file` is `default`
//! (admin), `[[api.tokens]]` have their own names and roles. Optionally a
//! reverse proxy on loopback names a signed-in user in
//! `[api] trusted_user_header`; that user acts as `sso:<name>` with
//! `trusted_user_role`. Without either, every `/api/v1` request is refused.
//!
//! Everything done is recorded under the identity's name; a `by` in a
//! request adds a note (`alice (by bob)`), never replaces it.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::config::{ApiSettings, Role, valid_actor_name};

/// Constant-time token check over digests (length-independent).
pub(crate) fn token_matches(expected: &[u8], presented: &[u8]) -> bool {
    let a = Sha256::digest(expected);
    let b = Sha256::digest(presented);
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The token's name, or `sso:<user>` for the proxy's user.
    pub name: String,
    pub role: Role,
    /// The SHA-256 of the token it presented (`None` for the proxy's user):
    /// a dashboard session lasts only while that token is configured.
    pub token_digest: Option<[u8; 32]>,
}

impl Identity {
    /// The actor recorded for an action: the name, with `by` as a note.
    pub(crate) fn actor(&self, by: Option<&str>) -> String {
        let note: String = by
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let note = note.trim();
        if note.is_empty() || note == self.name {
            self.name.clone()
        } else {
            format!("{} (by {note})", self.name)
        }
    }
}

/// The identity `presented` is the token of, if any. Compares with every
/// token, so the time taken does not tell which one matched.
pub(crate) fn identify_token(api: &ApiSettings, presented: &[u8]) -> Option<Identity> {
    let mut found = None;
    for t in &api.tokens {
        if token_matches(&t.token, presented) && found.is_none() {
            found = Some(Identity {
                name: t.name.clone(),
                role: t.role,
                token_digest: Some(Sha256::digest(&t.token).into()),
            });
        }
    }
    found
}

/// The proxy's user, when a trusted header is configured, the request came
/// from a loopback address and the header names a plain user name.
pub(crate) fn identify_proxy(
    api: &ApiSettings,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<Identity> {
    let trusted = api.trusted_user.as_ref()?;
    if !peer.is_some_and(|p| p.ip().is_loopback()) {
        return None;
    }
    let user = headers.get(trusted.header.as_str())?.to_str().ok()?.trim();
    valid_actor_name(user).then(|| Identity {
        name: format!("sso:{user}"),
        role: trusted.role,
        token_digest: None,
    })
}

fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Bearer token, else the trusted header; the identity goes into the
/// request's extensions for [`Can`].
pub(super) async fn require_token(
    State(app): State<App>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let who = match presented {
        Some(p) => identify_token(&app.settings.api, p.as_bytes()),
        None => identify_proxy(&app.settings.api, req.headers(), peer(&req)),
    };
    match who {
        Some(id) => {
            req.extensions_mut().insert(id);
            next.run(req).await
        }
        None => {
            let mut r = super::error(StatusCode::UNAUTHORIZED, "unauthorized");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

/// A role a handler needs, as a type.
pub(crate) trait Needs {
    const ROLE: Role;
}

#[derive(Debug)]
pub(crate) struct ReadRole;
#[derive(Debug)]
pub(crate) struct ActRole;
#[derive(Debug)]
pub(crate) struct AdminRole;

impl Needs for ReadRole {
    const ROLE: Role = Role::Read;
}
impl Needs for ActRole {
    const ROLE: Role = Role::Act;
}
impl Needs for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// The caller, if their role allows `R`; else the request ends with 403
/// (401 if nobody authenticated, which `require_token` prevents).
#[derive(Debug)]
pub(crate) struct Can<R>(pub Identity, pub PhantomData<R>);

impl<S: Send + Sync, R: Needs> FromRequestParts<S> for Can<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(id) if id.role.allows(R::ROLE) => Ok(Can(id.clone(), PhantomData)),
            Some(id) => {
                tracing::warn!(who = %id.name, role = id.role.as_str(), needs = R::ROLE.as_str(), "API request refused: role too low.");
                Err(super::error(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "{} has the role {}; this needs {}",
                        id.name,
                        id.role.as_str(),
                        R::ROLE.as_str()
                    ),
                ))
            }
            None => Err(StatusCode::UNAUTHORIZED.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiToken, TrustedUser};

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abc", b"abd"));
        assert!(!token_matches(b"abc", b"abcd"));
        assert!(!token_matches(b"abc", b""));
    }

    fn api() -> ApiSettings {
        ApiSettings {
            listen: "127.0.0.1:9477".parse().unwrap(),
            tokens: vec![
                ApiToken {
                    name: "default".into(),
                    token: b"t-admin".to_vec(),
                    role: Role::Admin,
                },
                ApiToken {
                    name: "viewer".into(),
                    token: b"t-read".to_vec(),
                    role: Role::Read,
                },
            ],
            trusted_user: Some(TrustedUser {
                header: "x-forwarded-user".into(),
                role: Role::Act,
            }),
            allow_remote: false,
            hostnames: Vec::new(),
        }
    }

    #[test]
    fn tokens_name_their_caller() {
        let a = api();
        let v = identify_token(&a, b"t-read").unwrap();
        assert_eq!((v.name.as_str(), v.role), ("viewer", Role::Read));
        assert_eq!(identify_token(&a, b"t-admin").unwrap().name, "default");
        assert!(identify_token(&a, b"t-rea").is_none());
        assert!(identify_token(&a, b"").is_none());
    }

    #[test]
    fn the_proxy_header_counts_only_from_loopback() {
        let a = api();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-user", "carol".parse().unwrap());
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let far: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let id = identify_proxy(&a, &h, Some(lo)).unwrap();
        assert_eq!((id.name.as_str(), id.role), ("sso:carol", Role::Act));
        assert!(identify_proxy(&a, &h, Some(far)).is_none());
        assert!(identify_proxy(&a, &h, None).is_none());
        h.insert("x-forwarded-user", "carol (admin)".parse().unwrap());
        assert!(identify_proxy(&a, &h, Some(lo)).is_none());
        let none = ApiSettings {
            trusted_user: None,
            ..api()
        };
        h.insert("x-forwarded-user", "carol".parse().unwrap());
        assert!(identify_proxy(&none, &h, Some(lo)).is_none());
    }

    #[test]
    fn by_is_a_note_never_the_actor() {
        let id = Identity {
            name: "alice".into(),
            role: Role::Act,
            token_digest: None,
        };
        assert_eq!(id.actor(None), "alice");
        assert_eq!(id.actor(Some(" ")), "alice");
        assert_eq!(id.actor(Some("alice")), "alice");
        assert_eq!(id.actor(Some("mallory")), "alice (by mallory)");
        assert_eq!(id.actor(Some("a\nb")), "alice (by ab)");
    }
}
