//! The one integration-test binary (one link instead of many on 2 cores).
//! Each module drives the real `unlistd` binary or the library against a
//! simulated directory and webhook receiver on loopback.

mod common;

// config.toml example, bad config and bad CSV handling, exit codes.
mod cli;
// Roster exports (delimiters, encodings, flag spellings) and import error lines.
mod roster;
// The daemon end to end: leak → signed alert → removal → resolution.
mod daemon;
// SIGHUP: config and roster changes apply without a restart or a lost probe.
mod reload;
// Every way a site can fail is inconclusive and never resolves an incident.
mod faults;
// The per-site budget holds, retries included; memory stays bounded.
mod politeness;
// One budget per site and one daemon per store, whatever else runs.
mod budget;
// Several daemons on one PostgreSQL store: site leases, failover.
mod multi;
// robots.txt honoured (overrides need a reason), access headers, proxies.
mod access;
// The HTTP API: tokens, JSON shapes, metrics without roster data.
mod api;
// Eniro-shaped and declarative sites end to end.
mod sites;
// Alert channels, grouping, and delivery through outages and SIGKILLs.
mod alerts;
// Canaries: layout drift, challenges and over-matching degrade a site.
mod canaries;
// The matcher against a labelled corpus (precision, recall); past fuzz finds.
mod matching;
// The dashboard in headless Chromium: login, overview, incident timeline.
mod dashboard;
// The tamper-evident trail: edits and deletions behind unlistd's back are named.
mod audit;
// Signed compliance reports (HTML, JSON, CSV) and the post-migration cohort check.
mod report;
// Protected addresses end to end: exposure under the subscriber's name, bait stays quiet.
mod address;
// Ack, dismiss, silences, reminders, routes, digest, receiver health.
mod people;
// Named tokens and roles, paging, OpenAPI, the audit feed, takedowns.
mod people_api;
// Email alerts against a real SMTP server (a Rust sink on loopback): MIME shape,
// AUTH, STARTTLS and certificate checks, retries.
mod email;
// Detection: drift degrades a site within seconds, address-free listings are
// answers, a cohort leak is enumerated at the budget and named in the alert.
mod detection;
// whsec_ webhook secrets, metric names and the ops kit, man pages and
// completions, progress of long commands.
mod conventions;
// Custody of the roster: encryption at rest, erasure, the privacy canary.
mod custody;
