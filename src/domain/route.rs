//! Which alert receivers get which events.
//!
//! Routing is decided when an event is written (the outbox gets one
//! delivery row per receiver that wants it), so a receiver's routes are
//! part of what was promised at that moment and a later config change does
//! not retract or re-send anything already queued.

use super::incident::EventType;

/// One receiver's filter. `None` means "all".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub receiver: String,
    pub events: Option<Vec<EventType>>,
    pub sites: Option<Vec<String>>,
    /// Applies to exposure events only: site and receiver events concern
    /// every cohort.
    pub cohorts: Option<Vec<String>>,
}

impl Route {
    /// A route that takes everything.
    pub fn all(receiver: impl Into<String>) -> Route {
        Route {
            receiver: receiver.into(),
            events: None,
            sites: None,
            cohorts: None,
        }
    }

    pub fn wants(&self, event: EventType, site: &str, cohort: Option<&str>) -> bool {
        let event_ok = self.events.as_ref().is_none_or(|e| e.contains(&event));
        // Digests and receiver events are about every site.
        let site_ok = site == ALL_SITES
            || self
                .sites
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == site));
        let cohort_ok = !event.is_exposure()
            || self
                .cohorts
                .as_ref()
                .is_none_or(|c| cohort.is_some_and(|k| c.iter().any(|x| x == k)));
        event_ok && site_ok && cohort_ok
    }
}

/// The `site` of events that concern no single site.
pub const ALL_SITES: &str = "*";

/// Every receiver's route, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes(pub Vec<Route>);

impl Routes {
    /// Every receiver takes every event.
    pub fn all<S: AsRef<str>>(receivers: &[S]) -> Routes {
        Routes(receivers.iter().map(|r| Route::all(r.as_ref())).collect())
    }

    /// The receivers that want this event, deduplicated, in order.
    pub fn receivers_for(&self, event: EventType, site: &str, cohort: Option<&str>) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.0 {
            if r.wants(event, site, cohort) && !out.contains(&r.receiver.as_str()) {
                out.push(&r.receiver);
            }
        }
        out
    }

    pub fn receivers(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|r| r.receiver.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(
        events: Option<&[EventType]>,
        sites: Option<&[&str]>,
        cohorts: Option<&[&str]>,
    ) -> Route {
        Route {
            receiver: "r".into(),
            events: events.map(|e| e.to_vec()),
            sites: sites.map(|s| s.iter().map(|x| x.to_string()).collect()),
            cohorts: cohorts.map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }

    #[test]
    fn event_site_and_cohort_filters() {
        let r = route(
            Some(&[EventType::ExposureOpened]),
            Some(&["118.dk"]),
            Some(&["migr-2018"]),
        );
        assert!(r.wants(EventType::ExposureOpened, "118.dk", Some("migr-2018")));
        assert!(!r.wants(EventType::ExposureOpened, "krak.dk", Some("migr-2018")));
        assert!(!r.wants(EventType::ExposureOpened, "118.dk", Some("other")));
        assert!(!r.wants(EventType::ExposureOpened, "118.dk", None));
        assert!(!r.wants(EventType::ExposureResolved, "118.dk", Some("migr-2018")));
    }

    #[test]
    fn cohort_filter_does_not_hide_site_events() {
        let r = route(None, None, Some(&["migr-2018"]));
        assert!(r.wants(EventType::SiteDegraded, "118.dk", None));
        assert!(r.wants(EventType::Digest, ALL_SITES, None));
        assert!(!r.wants(EventType::ExposureReminder, "118.dk", Some("x")));
    }

    #[test]
    fn site_filter_passes_events_about_all_sites() {
        let r = route(None, Some(&["118.dk"]), None);
        assert!(r.wants(EventType::ReceiverFailing, ALL_SITES, None));
        assert!(!r.wants(EventType::SiteDegraded, "krak.dk", None));
    }

    #[test]
    fn receivers_for_dedups_and_keeps_order() {
        let rs = Routes(vec![Route::all("b"), Route::all("a"), Route::all("b")]);
        assert_eq!(
            rs.receivers_for(EventType::Digest, ALL_SITES, None),
            vec!["b", "a"]
        );
    }
}
