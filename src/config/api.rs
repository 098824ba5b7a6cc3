//! `[api]`'s people: named tokens with roles (`[[api.tokens]]`), the
//! single `[api] token_file` (one admin token named `default`), and the
//! optional identity header of a reverse proxy on loopback.

use super::raw::RawApi;
use super::{ConfigError, Validator};

/// What a caller may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Every `GET`: status, incidents, history, the audit feed.
    Read,
    /// Also acknowledge, dismiss, silence and record takedowns.
    Act,
    /// Also generate reports and reload the config.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Act => "act",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "act" => Some(Role::Act),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// One API token: who presents it and what it may do.
#[derive(Clone)]
pub struct ApiToken {
    /// Recorded as the actor of everything done with it.
    pub name: String,
    pub token: Vec<u8>,
    pub role: Role,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("token", &"[REDACTED]")
            .field("role", &self.role)
            .finish()
    }
}

/// `[api] trusted_user_header`: a reverse proxy on loopback (oauth2-proxy
/// and the like) names the signed-in user in this header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedUser {
    /// Lowercase header name.
    pub header: String,
    /// `[api] trusted_user_role` (default `read`).
    pub role: Role,
}

/// The name `[api] token_file`'s token goes by.
pub const DEFAULT_TOKEN_NAME: &str = "default";

/// A name that can stand in a record, a log line and `name (by note)`
/// without ambiguity.
pub fn valid_actor_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Validator<'_> {
    /// Every token `[api]` names, and the trusted header.
    pub(super) fn api_people(
        &self,
        a: &RawApi,
    ) -> Result<(Vec<ApiToken>, Option<TrustedUser>), ConfigError> {
        let mut tokens: Vec<ApiToken> = Vec::new();
        if let Some(t) = &a.token_file {
            tokens.push(ApiToken {
                name: DEFAULT_TOKEN_NAME.into(),
                token: self.secret("api.token_file", t)?,
                role: Role::Admin,
            });
        }
        for (i, t) in a.tokens.iter().enumerate() {
            let k = |f: &str| format!("api.tokens[{i}].{f}");
            let name = t.name.get_ref().trim();
            if !valid_actor_name(name) {
                return self.err(
                    &k("name"),
                    Some(t.name.span()),
                    "must be 1 to 64 letters, digits or . _ - @",
                );
            }
            if tokens.iter().any(|o| o.name == name) {
                let why = if name == DEFAULT_TOKEN_NAME {
                    "\"default\" is the name of [api] token_file's token"
                } else {
                    "duplicate token name"
                };
                return self.err(&k("name"), Some(t.name.span()), why);
            }
            let Some(role) = Role::parse(t.role.get_ref().trim()) else {
                return self.err(
                    &k("role"),
                    Some(t.role.span()),
                    "expected \"read\", \"act\" or \"admin\"",
                );
            };
            let token = self.secret(&k("token_file"), &t.token_file)?;
            if tokens.iter().any(|o| o.token == token) {
                return self.err(
                    &k("token_file"),
                    Some(t.token_file.span()),
                    "the same token as another one: every name needs its own token",
                );
            }
            tokens.push(ApiToken {
                name: name.to_string(),
                token,
                role,
            });
        }
        let trusted = match &a.trusted_user_header {
            None => {
                if let Some(r) = &a.trusted_user_role {
                    return self.err(
                        "api.trusted_user_role",
                        Some(r.span()),
                        "only applies with trusted_user_header",
                    );
                }
                None
            }
            Some(h) => {
                let name = h.get_ref().trim().to_ascii_lowercase();
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || matches!(
                        name.as_str(),
                        "authorization" | "cookie" | "host" | "content-type"
                    )
                {
                    return self.err(
                        "api.trusted_user_header",
                        Some(h.span()),
                        "expected a header name such as \"X-Forwarded-User\"",
                    );
                }
                let role = match &a.trusted_user_role {
                    None => Role::Read,
                    Some(r) => match Role::parse(r.get_ref().trim()) {
                        Some(role) => role,
                        None => {
                            return self.err(
                                "api.trusted_user_role",
                                Some(r.span()),
                                "expected \"read\", \"act\" or \"admin\"",
                            );
                        }
                    },
                };
                Some(TrustedUser { header: name, role })
            }
        };
        Ok((tokens, trusted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Act) && Role::Admin.allows(Role::Read));
        assert!(Role::Act.allows(Role::Read) && !Role::Act.allows(Role::Admin));
        assert!(!Role::Read.allows(Role::Act));
        for r in [Role::Read, Role::Act, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn actor_names_are_plain() {
        assert!(valid_actor_name("alice") && valid_actor_name("ops.bot-1@dk"));
        for bad in ["", "a b", "a(b)", "sso:x", &"x".repeat(65)] {
            assert!(!valid_actor_name(bad), "{bad}");
        }
    }
}
