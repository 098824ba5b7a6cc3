//! Wire formats: the JSON shapes of the contract (`--json`, the HTTP API,
//! the webhook body), converted explicitly from store views.
//!
//! Architecture invariant: these are the only `Serialize` types that carry
//! roster-derived data, and none has a field for a full number, a name or
//! an address. Numbers appear masked at most.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::domain::SiteState;
use crate::store::{EventIncident, IncidentView, ProbeView, Ts};

/// RFC 3339 UTC with second precision, as the contract's examples show.
pub(crate) fn rfc3339(t: Ts) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[derive(Debug, Serialize)]
pub(crate) struct ScanSummary {
    pub probes: u64,
    pub clean: u64,
    pub exposed: u64,
    pub inconclusive: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    /// Incidents open (or acknowledged) after the pass; non-zero → exit 3.
    pub incidents_open: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Incident {
    pub id: String,
    pub site: String,
    pub entry_ref: String,
    pub number_masked: String,
    pub exposed: Vec<&'static str>,
    pub state: &'static str,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_at: Option<String>,
}

impl From<&IncidentView> for Incident {
    fn from(v: &IncidentView) -> Self {
        Incident {
            id: v.id.clone(),
            site: v.site.clone(),
            entry_ref: v.entry_ref.clone(),
            number_masked: v.masked_number.clone(),
            exposed: v.exposed.iter().map(|f| f.as_str()).collect(),
            state: v.state.as_str(),
            first_seen: rfc3339(v.first_seen),
            last_seen: rfc3339(v.last_seen),
            resolved_at: v.resolved_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Incidents {
    pub incidents: Vec<Incident>,
}

/// Incidents grouped by cohort (`incidents --by-cohort`,
/// `GET /api/v1/incidents?group=cohort`), the biggest group first.
#[derive(Debug, Serialize)]
pub(crate) struct IncidentsByCohort {
    pub cohorts: Vec<CohortIncidents>,
}

/// One cohort's incidents: `count` of them (`open` still open or
/// acknowledged), on `sites`; the cohort's active entries and how many of
/// them are exposed now. `cohort` is null for entries without one.
#[derive(Debug, Serialize)]
pub(crate) struct CohortIncidents {
    pub cohort: Option<String>,
    pub count: usize,
    pub open: usize,
    pub cohort_size: u64,
    pub exposed_in_cohort: u64,
    pub sites: Vec<String>,
    pub incidents: Vec<Incident>,
}

impl From<&crate::store::CohortIncidents> for CohortIncidents {
    fn from(g: &crate::store::CohortIncidents) -> Self {
        let mut sites: Vec<String> = g.incidents.iter().map(|i| i.site.clone()).collect();
        sites.sort();
        sites.dedup();
        CohortIncidents {
            cohort: g.cohort.clone(),
            count: g.incidents.len(),
            open: g
                .incidents
                .iter()
                .filter(|i| i.state != crate::domain::incident::IncidentState::Resolved)
                .count(),
            cohort_size: g.cohort_size,
            exposed_in_cohort: g.exposed_in_cohort,
            sites,
            incidents: g.incidents.iter().map(Incident::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Probe {
    pub time: String,
    pub site: String,
    pub outcome: &'static str,
    pub http_status: Option<u16>,
    pub page_sha256: Option<String>,
    pub reason: Option<String>,
    /// For an exposed probe, the parts of the listing that matched the
    /// entry, in a fixed order: `number`, `name`, `street`, `house_number`,
    /// `floor`, `door`, `postcode`, `city`. Names of parts, never values.
    /// Empty for clean and inconclusive probes.
    pub matched: Vec<String>,
}

impl From<&ProbeView> for Probe {
    fn from(p: &ProbeView) -> Self {
        Probe {
            time: rfc3339(p.time),
            site: p.site.clone(),
            outcome: p.outcome.as_str(),
            http_status: p.http_status,
            page_sha256: p.page_sha256.clone(),
            reason: p.reason.clone(),
            matched: p.why.clone(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct History {
    pub entry_ref: String,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Status {
    pub roster: RosterStatus,
    pub incidents: IncidentStatus,
    pub sites: Vec<SiteStatus>,
    pub alerts: Vec<ReceiverStatus>,
    /// Silences in force now.
    pub silences: Vec<Silence>,
    /// The running daemon's last config reload (`SIGHUP`); null before one.
    pub last_reload: Option<LastReload>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LastReload {
    /// `ok` or `error`.
    pub result: &'static str,
    pub time: String,
    /// `FILE:LINE: KEY: message` when it failed.
    pub error: Option<String>,
    /// Changed keys that apply only after a restart.
    pub needs_restart: Vec<String>,
}

impl From<&crate::store::ReloadRecord> for LastReload {
    fn from(r: &crate::store::ReloadRecord) -> Self {
        LastReload {
            result: if r.ok { "ok" } else { "error" },
            time: rfc3339(r.time),
            error: r.error.clone(),
            needs_restart: r.needs_restart.clone(),
        }
    }
}

/// A silence (`unlistd silence list`, `/api/v1/silences`, `status`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Silence {
    pub id: String,
    pub site: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<&'static str>,
    pub cohort: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub ended_at: Option<String>,
}

impl From<&crate::store::SilenceView> for Silence {
    fn from(v: &crate::store::SilenceView) -> Self {
        Silence {
            id: v.id.clone(),
            site: v.site.clone(),
            event_type: v.event_type.map(|e| e.as_str()),
            cohort: v.cohort.clone(),
            reason: v.reason.clone(),
            created_by: v.created_by.clone(),
            created_at: rfc3339(v.created_at),
            expires_at: rfc3339(v.expires_at),
            ended_at: v.ended_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Silences {
    pub silences: Vec<Silence>,
}

/// An analyst's action on an incident, as recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Action {
    pub incident_id: String,
    pub action: &'static str,
    pub by: String,
    pub reason: String,
    pub time: String,
}

impl From<&crate::store::ActionView> for Action {
    fn from(v: &crate::store::ActionView) -> Self {
        Action {
            incident_id: v.incident_id.clone(),
            action: v.action.as_str(),
            by: v.actor.clone(),
            reason: v.reason.clone(),
            time: rfc3339(v.time),
        }
    }
}

/// The answer to ack / dismiss: the incident's state after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ActionResult {
    pub id: String,
    pub action: &'static str,
    pub state: &'static str,
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RosterStatus {
    pub size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct IncidentStatus {
    pub open: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SiteStatus {
    pub name: String,
    pub enabled: bool,
    #[serde(serialize_with = "site_state")]
    #[schema(value_type = String)]
    pub state: SiteState,
    /// Why the site is degraded, when it is.
    pub state_reason: Option<String>,
    /// When the canaries started failing (canary-degraded sites only).
    pub degraded_since: Option<String>,
    pub last_canary_at: Option<String>,
    pub last_canary_ok: Option<bool>,
    pub oldest_probe_age_seconds: Option<u64>,
    pub never_probed: u64,
    pub probes_total: u64,
    /// Share of all probes that were conclusive (clean or exposed).
    pub conclusive_share: Option<f64>,
    /// Configured budget, requests per second.
    pub configured_rate_per_second: f64,
    /// Requests actually sent per second over the last minute (daemon only).
    pub effective_rate_per_second: Option<f64>,
    /// Predicted cycle length at the configured rate: roster size / rate.
    pub predicted_cycle_seconds: f64,
    pub max_staleness_seconds: u64,
    pub robots: RobotsStatus,
    /// The daemon probing the site now (`HOST:PID`), by its lease; none
    /// while no daemon runs (or the holder died and its lease ran out).
    pub held_by: Option<String>,
    /// Since when `held_by` has held the site.
    pub held_since: Option<String>,
}

/// A site's state as the contract words it (`"healthy"`, `"degraded"`).
fn site_state<S: serde::Serializer>(state: &SiteState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// Whether the site's robots.txt is honoured, and why not when it is not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RobotsStatus {
    pub honoured: bool,
    /// The operator's `robots_txt_reason` when not honoured.
    pub reason: Option<String>,
    /// The cached robots.txt's Crawl-delay (daemon only).
    pub crawl_delay_seconds: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReceiverStatus {
    pub receiver: String,
    pub undelivered_events: u64,
    pub pending_messages: u64,
    pub delivered_messages: u64,
    pub failing: bool,
    /// When it was marked failing (and the other receivers told).
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
}

/// The webhook body (contract: "Webhook alerts").
#[derive(Debug, Serialize)]
pub(crate) struct WebhookBody<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub site: &'a str,
    /// Incidents in this message (all of them, up to [`MAX_INCIDENTS_PER_MESSAGE`]).
    pub count: usize,
    pub truncated: bool,
    pub incidents: Vec<WebhookIncident>,
    /// Digest figures or receiver details, for events that carry them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// `exposure.opened`: the message's incidents by cohort, most first
    /// (the root-cause hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<Vec<CohortCount>>,
    /// The site's `takedown_contact`, on exposure events when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takedown_contact: Option<&'a str>,
}

/// One cohort of a message's incidents (contract: "Additions of the
/// second round"): `count` incidents of this message; `cohort_size`
/// active entries in the cohort; `exposed_in_cohort` of them exposed on
/// any site when the message was formed. `cohort` is null for entries
/// without one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CohortCount {
    pub cohort: Option<String>,
    pub count: usize,
    pub cohort_size: u64,
    pub exposed_in_cohort: u64,
}

/// The incidents' cohorts, most incidents first (ties: by tag, the
/// entries without a cohort last).
pub(crate) fn cohort_counts(incidents: &[EventIncident]) -> Vec<CohortCount> {
    let mut out: Vec<CohortCount> = Vec::new();
    for i in incidents {
        match out.iter_mut().find(|c| c.cohort == i.cohort) {
            Some(c) => c.count += 1,
            None => out.push(CohortCount {
                cohort: i.cohort.clone(),
                count: 1,
                cohort_size: i.cohort_size,
                exposed_in_cohort: i.exposed_in_cohort,
            }),
        }
    }
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.cohort.is_none().cmp(&b.cohort.is_none()))
            .then_with(|| a.cohort.cmp(&b.cohort))
    });
    out
}

/// Beyond this a message lists the first incidents and says how many there
/// were; the full list is in the API and reports. Keeps a mass-leak page
/// within what chat tools and webhook receivers accept.
pub(crate) const MAX_INCIDENTS_PER_MESSAGE: usize = 1000;

#[derive(Debug, Serialize)]
pub(crate) struct WebhookIncident {
    pub id: String,
    pub entry_ref: String,
    pub number_masked: String,
    pub exposed: Vec<&'static str>,
    pub first_seen: String,
    pub last_seen: String,
    pub state: &'static str,
    pub resolved_at: Option<String>,
}

impl From<&EventIncident> for WebhookIncident {
    fn from(v: &EventIncident) -> Self {
        WebhookIncident {
            id: v.id.clone(),
            entry_ref: v.entry_ref.clone(),
            number_masked: v.masked_number.clone(),
            exposed: v.exposed.iter().map(|f| f.as_str()).collect(),
            first_seen: rfc3339(v.first_seen),
            last_seen: rfc3339(v.last_seen),
            state: v.state.as_str(),
            resolved_at: v.resolved_at.map(rfc3339),
        }
    }
}

/// A takedown request (`unlistd takedown --json`, the API).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Takedown {
    pub id: i64,
    pub incident_id: String,
    pub via: String,
    pub ticket: Option<String>,
    pub by: String,
    pub requested_at: String,
}

impl From<&crate::store::TakedownView> for Takedown {
    fn from(v: &crate::store::TakedownView) -> Self {
        Takedown {
            id: v.id,
            incident_id: v.incident_id.clone(),
            via: v.via.clone(),
            ticket: v.ticket.clone(),
            by: v.actor.clone(),
            requested_at: rfc3339(v.requested_at),
        }
    }
}

/// One record of the audit feed (`GET /api/v1/audit`): the chain's fields,
/// the payload's SHA-256 and the ids it is about; no roster data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditRecord {
    pub seq: i64,
    pub time: String,
    /// Unix milliseconds, as the chain hashes it.
    pub time_ms: i64,
    pub kind: String,
    pub ref_id: String,
    /// Ids, site, action, actor, outcome: the record's subject.
    #[schema(value_type = Object)]
    pub subject: std::collections::BTreeMap<String, serde_json::Value>,
    pub payload_sha256: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&crate::store::AuditFeedRecord> for AuditRecord {
    fn from(r: &crate::store::AuditFeedRecord) -> Self {
        AuditRecord {
            seq: r.seq,
            time: rfc3339(r.time),
            time_ms: crate::store::ms_of(r.time),
            kind: r.kind.clone(),
            ref_id: r.ref_id.clone(),
            subject: r.subject.clone(),
            payload_sha256: r.payload_sha256.clone(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

/// A page of the audit feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditFeed {
    pub records: Vec<AuditRecord>,
    /// The `after` for the next page (the last `seq` here), null at the end.
    pub next_after: Option<i64>,
}
