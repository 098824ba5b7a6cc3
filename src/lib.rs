//! unlistd: proves, continuously, that an operator's unlisted numbers and
//! addresses are not on public directory sites, and alarms when one is.
//!
//! # Layout
//!
//! Top to bottom; a module names only modules below it (the `tidy` test
//! checks it, ARCHITECTURE.md has the table):
//!
//! - [`cli`]: the commands; `main.rs` only calls [`cli::main_with`].
//! - `daemon`: `unlistd run`: schedulers, dispatchers, timers, signals,
//!   the watchdog, and `SIGHUP` reloads without losing in-flight probes.
//! - `web`: the HTTP API, `/metrics` and the dashboard.
//! - `ops`: actions shared by the CLI and the API (silences, ack,
//!   dismiss); `status`: the status view.
//! - `app`: assembly of settings, store, sites, engine and dispatchers.
//! - `engine`: probes entries on sites (the one scheduler); [`alert`]: the
//!   outbox dispatcher and a file per channel; `report`: signed compliance
//!   reports; [`roster`]: the roster CSV reader; [`sim`]: a simulated
//!   directory on loopback for the demo (and, for tests, its faults).
//! - `wire`: the JSON shapes of the contract; [`config`]: TOML →
//!   validated [`config::Settings`].
//! - [`sites`]: sans-IO site adapters; `fetch`: the only code that talks to
//!   sites (per-site politeness gate); `store`: the only code that speaks
//!   SQL.
//! - `audit` (the trail's pure construction), `telemetry` (logging and
//!   counters), [`systemd`] (sd_notify).
//! - [`domain`]: pure types and rules. No IO, no serde.
//!
//! Modules are crate-private unless the binary, the integration tests or
//! `fuzz/` use them.
//!
//! ARCHITECTURE.md holds the longer map and the invariants.

#![warn(unreachable_pub, missing_debug_implementations)]
// From clippy's pedantic set, the ones that keep this codebase's rules. A
// function over 100 lines needs an `allow` with its reason written above
// (tests excepted: a scenario may read best in one piece).
#![cfg_attr(not(test), warn(clippy::too_many_lines))]
#![warn(
    clippy::manual_let_else,
    clippy::semicolon_if_nothing_returned,
    clippy::redundant_else,
    clippy::implicit_clone,
    clippy::unnested_or_patterns,
    clippy::inefficient_to_string
)]

pub mod alert;
pub(crate) mod app;
pub(crate) mod audit;
pub mod cli;
pub mod config;
pub(crate) mod daemon;
pub mod domain;
pub(crate) mod engine;
pub(crate) mod fetch;
pub(crate) mod ops;
pub(crate) mod report;
pub mod roster;
pub mod sim;
pub mod sites;
pub(crate) mod status;
pub(crate) mod store;
pub mod systemd;
pub(crate) mod telemetry;
#[cfg(test)]
mod tidy;
pub(crate) mod web;
pub(crate) mod wire;
