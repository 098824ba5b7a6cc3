//! The config file's shape, as written by the operator: serde with
//! `deny_unknown_fields` and spanned values (so errors can name a line).
//! Nothing here is validated; `validate.rs` and its section files turn it
//! into [`super::Settings`]. The `[alerts]` tables are in `alerts.rs`,
//! beside the channels they configure.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::sites::declarative::DeclarativeSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) store: Option<RawStore>,
    pub(super) api: Option<RawApi>,
    pub(super) scan: Option<RawScan>,
    #[serde(default)]
    pub(super) sites: Vec<RawSite>,
    pub(super) alerts: Option<super::alerts::RawAlerts>,
    pub(super) report: Option<RawReport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) path: Option<Spanned<String>>,
    /// PostgreSQL instead of the SQLite file at `path` (one of the two).
    pub(super) url: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) evidence_retention: Option<Spanned<String>>,
    pub(super) roster_retention: Option<Spanned<String>>,
    pub(super) encryption_key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    pub(super) signing_key_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
    /// `[[api.tokens]]`: named tokens with roles (`api.rs`).
    #[serde(default)]
    pub(super) tokens: Vec<RawToken>,
    pub(super) trusted_user_header: Option<Spanned<String>>,
    pub(super) trusted_user_role: Option<Spanned<String>>,
    pub(super) allow_remote: Option<Spanned<bool>>,
    pub(super) hostnames: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScan {
    pub(super) max_staleness: Option<Spanned<String>>,
    pub(super) resolve_after_clean: Option<Spanned<i64>>,
    pub(super) user_agent: Option<Spanned<String>>,
    pub(super) escalation_share: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub(super) name: Spanned<String>,
    pub(super) adapter: Spanned<String>,
    pub(super) base_url: Spanned<String>,
    pub(super) rate: Spanned<String>,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    pub(super) no_results: Option<Spanned<String>>,
    pub(super) concurrency: Option<Spanned<i64>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) max_body_bytes: Option<Spanned<i64>>,
    pub(super) max_retries: Option<Spanned<i64>>,
    pub(super) canaries: Option<Spanned<Vec<RawCanary>>>,
    pub(super) absent_canaries: Option<Spanned<Vec<String>>>,
    pub(super) canary_interval: Option<Spanned<String>>,
    pub(super) declarative: Option<Spanned<DeclarativeSpec>>,
    pub(super) headers: Option<Spanned<BTreeMap<String, Spanned<RawHeader>>>>,
    pub(super) proxy: Option<Spanned<String>>,
    pub(super) proxy_file: Option<Spanned<String>>,
    pub(super) robots_txt: Option<Spanned<bool>>,
    pub(super) robots_txt_reason: Option<Spanned<String>>,
    pub(super) takedown_contact: Option<Spanned<String>>,
    pub(super) takedown_sla: Option<Spanned<String>>,
}

/// A `canaries` entry: a number, or a listing whose address must show too
/// (`{ number = "33 00 00 00", address = "Havnen 1, 8000 Aarhus C" }`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawCanary {
    Number(String),
    Listing(RawCanaryListing),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCanaryListing {
    pub(super) number: String,
    pub(super) address: Option<String>,
}

pub(super) use super::header::RawHeader;

/// `[[api.tokens]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    pub(super) name: Spanned<String>,
    pub(super) token_file: Spanned<String>,
    pub(super) role: Spanned<String>,
}

fn yes() -> bool {
    true
}
