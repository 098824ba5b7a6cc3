//! Actions people take, shared by the CLI and the HTTP API: silences, and
//! ack / dismiss / undismiss of an incident. Each request is validated here,
//! once; the callers only word the errors for their surface (the CLI names
//! its flags, the API its JSON fields and an HTTP status).

use crate::config::SiteSettings;
use crate::domain::incident::{EventType, IncidentState};
use crate::store::{IncidentAction, NewSilence, Store, StoreError, TakedownView, Ts, blocking};

/// The part of a request that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Site,
    Type,
    Cohort,
    /// How long a silence lasts (`--for`, `duration`).
    Duration,
    Reason,
    /// How a takedown was requested (`--via`, `via`).
    Via,
}

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpsError {
    /// A field of the request is wrong; nothing changed.
    #[error("{message}")]
    Invalid { field: Field, message: String },
    /// The store refused (`NotFound`, `Conflict`, `BadInput`) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: Field, message: impl Into<String>) -> OpsError {
    OpsError::Invalid {
        field,
        message: message.into(),
    }
}

/// Why someone acted: recorded with who and when, and in the audit trail.
/// Never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reason(String);

impl Reason {
    pub(crate) fn new(text: &str) -> Result<Reason, OpsError> {
        if text.trim().is_empty() {
            return Err(invalid(Field::Reason, "must not be empty"));
        }
        Ok(Reason(text.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Acknowledges, dismisses or undismisses incident `id` as `by`; returns
/// the incident's state after it. The store's `NotFound` and `Conflict`
/// come back as they are, for the caller to word.
pub(crate) async fn incident_action(
    store: &Store,
    id: &str,
    action: IncidentAction,
    reason: &Reason,
    by: &str,
) -> Result<IncidentState, StoreError> {
    let store = store.clone();
    let (i, r, w) = (id.to_string(), reason.0.clone(), by.to_string());
    blocking(move || store.incident_action(&i, action, &w, &r, Ts::now_utc())).await
}

/// A silence as asked for (CLI flags or an API body), not yet checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SilenceRequest<'a> {
    pub site: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub cohort: Option<&'a str>,
    /// e.g. `2h`, `3d`.
    pub duration: &'a str,
    pub reason: &'a str,
    pub by: &'a str,
}

impl SilenceRequest<'_> {
    /// Checks every field against the configured `sites`; the silence runs
    /// from `now`.
    pub(crate) fn validate(&self, sites: &[SiteSettings], now: Ts) -> Result<NewSilence, OpsError> {
        if let Some(s) = self.site
            && !sites.iter().any(|x| x.name == s)
        {
            return Err(invalid(
                Field::Site,
                format!("no configured site named {s:?}"),
            ));
        }
        let event_type = match self.event_type {
            None => None,
            Some(t) => Some(
                EventType::parse(t)
                    .ok_or_else(|| invalid(Field::Type, format!("unknown event type {t:?}")))?,
            ),
        };
        if self.cohort.is_some_and(|c| c.trim().is_empty()) {
            return Err(invalid(Field::Cohort, "must not be empty"));
        }
        let d = humantime::parse_duration(self.duration.trim()).map_err(|e| {
            invalid(
                Field::Duration,
                format!("not a duration ({e}); e.g. 2h, 3d"),
            )
        })?;
        if d.is_zero() {
            return Err(invalid(Field::Duration, "must be positive"));
        }
        let reason = Reason::new(self.reason)?;
        Ok(NewSilence {
            site: self.site.map(str::to_owned),
            event_type,
            cohort: self.cohort.map(str::to_owned),
            reason: reason.0,
            created_by: self.by.to_string(),
            expires_at: now + d,
        })
    }
}

/// Validates and adds a silence; returns its id.
pub(crate) async fn add_silence(
    store: &Store,
    sites: &[SiteSettings],
    request: SilenceRequest<'_>,
) -> Result<String, OpsError> {
    let now = Ts::now_utc();
    let new = request.validate(sites, now)?;
    let store = store.clone();
    Ok(blocking(move || store.add_silence(&new, now)).await?)
}

/// Ends silence `id` as `by`; `false` when no such silence is in force.
pub(crate) async fn end_silence(store: &Store, id: &str, by: &str) -> Result<bool, StoreError> {
    let store = store.clone();
    let (i, w) = (id.to_string(), by.to_string());
    blocking(move || store.end_silence(&i, &w, Ts::now_utc())).await
}

/// Records that removal of incident `id`'s listing was requested `via`
/// (the directory's form, a mail, the source feed), with an optional
/// ticket, as `by`.
pub(crate) async fn takedown(
    store: &Store,
    id: &str,
    via: &str,
    ticket: Option<&str>,
    by: &str,
) -> Result<TakedownView, OpsError> {
    if via.trim().is_empty() {
        return Err(invalid(
            Field::Via,
            "say how removal was requested, e.g. \"118.dk removal form\"",
        ));
    }
    let store = store.clone();
    let (i, v, t, w) = (
        id.to_string(),
        via.to_string(),
        ticket.map(str::to_owned),
        by.to_string(),
    );
    Ok(blocking(move || store.record_takedown(&i, &v, t.as_deref(), &w, Ts::now_utc())).await?)
}
