//! The incident lifecycle as a pure state machine.
//!
//! An incident is one roster entry exposed on one site. It opens on the
//! first `exposed` probe and resolves only after `resolve_after_clean`
//! consecutive *clean* probes after the last exposure. An `inconclusive`
//! probe is no evidence either way: it neither counts towards resolution
//! nor resets the count (a site that blocks us must never close an incident,
//! and a flapping block must not keep one open forever either).

use super::{ExposedField, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
    /// The entry was erased (a data-subject request or `roster_retention`):
    /// no longer watched, so it neither resolves nor reminds.
    Withdrawn,
}

impl IncidentState {
    /// Still open or acknowledged: watched, reminded, counted as exposed.
    pub fn is_active(self) -> bool {
        matches!(self, IncidentState::Open | IncidentState::Acknowledged)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
            IncidentState::Withdrawn => "withdrawn",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(IncidentState::Open),
            "acknowledged" => Some(IncidentState::Acknowledged),
            "resolved" => Some(IncidentState::Resolved),
            "withdrawn" => Some(IncidentState::Withdrawn),
            _ => None,
        }
    }
}

/// What the lifecycle needs to know of the current, unresolved incident of
/// one (entry, site), if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveIncident {
    pub exposed: Vec<ExposedField>,
    pub consecutive_clean: u32,
}

/// What a probe does to the incident of its (entry, site).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No incident and nothing exposed, or an inconclusive probe: no change.
    Nothing,
    /// Open a new incident exposing these fields.
    Open { exposed: Vec<ExposedField> },
    /// Still exposed: bump `last_seen`, reset the clean count, widen the
    /// exposed fields to the union (a widening is not a new alert).
    SeenAgain { exposed: Vec<ExposedField> },
    /// A clean probe that does not yet resolve.
    CleanCounted { consecutive_clean: u32 },
    /// The `resolve_after_clean`-th consecutive clean probe.
    Resolve { consecutive_clean: u32 },
}

impl Step {
    /// The alert event this step raises, if any.
    pub fn event(&self) -> Option<EventType> {
        match self {
            Step::Open { .. } => Some(EventType::ExposureOpened),
            Step::Resolve { .. } => Some(EventType::ExposureResolved),
            _ => None,
        }
    }
}

pub fn step(current: Option<&ActiveIncident>, outcome: &Outcome, resolve_after_clean: u32) -> Step {
    match (current, outcome) {
        (_, Outcome::Inconclusive { .. }) => Step::Nothing,
        (None, Outcome::Clean) => Step::Nothing,
        (None, Outcome::Exposed { fields, .. }) => Step::Open {
            exposed: normalised(fields.clone()),
        },
        (Some(inc), Outcome::Exposed { fields, .. }) => {
            let mut all = inc.exposed.clone();
            all.extend(fields.iter().copied());
            Step::SeenAgain {
                exposed: normalised(all),
            }
        }
        (Some(inc), Outcome::Clean) => {
            let n = inc.consecutive_clean.saturating_add(1);
            if n >= resolve_after_clean.max(1) {
                Step::Resolve {
                    consecutive_clean: n,
                }
            } else {
                Step::CleanCounted {
                    consecutive_clean: n,
                }
            }
        }
    }
}

fn normalised(mut v: Vec<ExposedField>) -> Vec<ExposedField> {
    v.sort();
    v.dedup();
    v
}

/// Alert event types (contract: "Webhook alerts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    ExposureOpened,
    ExposureResolved,
    SiteDegraded,
    SiteRecovered,
    /// `repeat_interval` reminder for incidents still open and not
    /// acknowledged (also the first notice of one whose opening was silenced).
    ExposureReminder,
    /// The daily heartbeat: counts, coverage, open incidents, chain head.
    Digest,
    /// An alert receiver keeps failing (told to the other receivers).
    ReceiverFailing,
    ReceiverRecovered,
    /// A listing still up past its site's `takedown_sla` after removal was
    /// requested.
    ExposureOverdue,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ExposureOpened => "exposure.opened",
            EventType::ExposureResolved => "exposure.resolved",
            EventType::SiteDegraded => "site.degraded",
            EventType::SiteRecovered => "site.recovered",
            EventType::ExposureReminder => "exposure.reminder",
            EventType::Digest => "digest",
            EventType::ReceiverFailing => "receiver.failing",
            EventType::ReceiverRecovered => "receiver.recovered",
            EventType::ExposureOverdue => "exposure.overdue",
        }
    }

    /// Every event type, for validating routes.
    pub const ALL: [EventType; 9] = [
        EventType::ExposureOpened,
        EventType::ExposureResolved,
        EventType::SiteDegraded,
        EventType::SiteRecovered,
        EventType::ExposureReminder,
        EventType::Digest,
        EventType::ReceiverFailing,
        EventType::ReceiverRecovered,
        EventType::ExposureOverdue,
    ];

    /// Events about incidents (they carry incidents and an entry cohort).
    pub fn is_exposure(self) -> bool {
        matches!(
            self,
            EventType::ExposureOpened
                | EventType::ExposureResolved
                | EventType::ExposureReminder
                | EventType::ExposureOverdue
        )
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exposure.opened" => Some(EventType::ExposureOpened),
            "exposure.resolved" => Some(EventType::ExposureResolved),
            "site.degraded" => Some(EventType::SiteDegraded),
            "site.recovered" => Some(EventType::SiteRecovered),
            "exposure.reminder" => Some(EventType::ExposureReminder),
            "digest" => Some(EventType::Digest),
            "receiver.failing" => Some(EventType::ReceiverFailing),
            "receiver.recovered" => Some(EventType::ReceiverRecovered),
            "exposure.overdue" => Some(EventType::ExposureOverdue),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed() -> Outcome {
        Outcome::Exposed {
            fields: vec![ExposedField::Number],
            why: vec!["number".into()],
        }
    }
    fn inconclusive() -> Outcome {
        Outcome::Inconclusive {
            reason: "http 429".into(),
        }
    }

    #[test]
    fn full_lifecycle_with_inconclusive_probes_in_between() {
        let mut cur: Option<ActiveIncident> = None;
        let mut events = vec![];
        let outcomes = [
            Outcome::Clean,
            exposed(),
            exposed(),
            Outcome::Clean,
            inconclusive(),
            Outcome::Clean,
            exposed(),
            Outcome::Clean,
            inconclusive(),
            inconclusive(),
            Outcome::Clean,
            Outcome::Clean,
            Outcome::Clean,
        ];
        for o in &outcomes {
            let s = step(cur.as_ref(), o, 3);
            if let Some(e) = s.event() {
                events.push(e);
            }
            cur = match s {
                Step::Nothing => cur,
                Step::Open { exposed } | Step::SeenAgain { exposed } => Some(ActiveIncident {
                    exposed,
                    consecutive_clean: 0,
                }),
                Step::CleanCounted { consecutive_clean } => Some(ActiveIncident {
                    consecutive_clean,
                    ..cur.unwrap()
                }),
                Step::Resolve { .. } => None,
            };
        }
        assert_eq!(
            events,
            vec![EventType::ExposureOpened, EventType::ExposureResolved]
        );
        assert!(cur.is_none());
    }

    #[test]
    fn inconclusive_never_resolves() {
        let inc = ActiveIncident {
            exposed: vec![ExposedField::Number],
            consecutive_clean: 2,
        };
        for _ in 0..100 {
            assert_eq!(step(Some(&inc), &inconclusive(), 3), Step::Nothing);
        }
        assert_eq!(
            step(Some(&inc), &Outcome::Clean, 3),
            Step::Resolve {
                consecutive_clean: 3
            }
        );
    }

    #[test]
    fn exposure_widens_fields() {
        let inc = ActiveIncident {
            exposed: vec![ExposedField::Number],
            consecutive_clean: 1,
        };
        let o = Outcome::Exposed {
            fields: vec![ExposedField::Address, ExposedField::Number],
            why: vec![],
        };
        assert_eq!(
            step(Some(&inc), &o, 3),
            Step::SeenAgain {
                exposed: vec![ExposedField::Number, ExposedField::Address]
            }
        );
    }
}
