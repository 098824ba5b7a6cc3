//! unlistd: proves, continuously, that an operator's unlisted numbers and
//! addresses are not on public directory sites, and alarms when one is.
//!
//! # Layout
//!
//! - [`domain`]: pure types and rules (E.164 numbers, addresses, matching,
//!   the incident lifecycle). No IO, no serde.
//! - [`sites`]: sans-IO site adapters: request paths out, page text in,
//!   listings out.
//! - [`fetch`]: the only code that talks to sites; per-site politeness gate.
//! - [`store`]: the only code that speaks SQL.
//! - [`audit`]: the tamper-evident trail's construction (canonical JSON,
//!   hash chain); [`report`]: signed compliance reports.
//! - [`roster`]: the roster CSV reader (streaming, line-numbered errors).
//! - [`config`]: TOML → validated [`config::Settings`].
//! - [`engine`]: probes entries on sites and schedules cycles.
//! - [`alert`]: the outbox dispatcher and its channels (webhook, chat,
//!   PagerDuty, email).
//! - [`web`]: the HTTP API; [`dashboard`]: its HTML pages.
//! - [`sim`]: a simulated directory on loopback for tests and the demo.
//! - [`reload`]: `SIGHUP` re-reads the config and swaps it in without
//!   losing in-flight probes.
//! - [`cli`]: the commands; `main.rs` only maps their result to an exit code.
//!
//! ARCHITECTURE.md holds the longer map and the invariants.

pub mod alert;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod engine;
pub mod fetch;
pub mod ops;
pub mod report;
pub mod roster;
pub mod sim;
pub mod sites;
pub mod status;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod web;
pub mod wire;
