//! Pure domain types and rules: no IO, no tokio, no serde.
//!
//! Architecture invariant: nothing in here is `Serialize`. Wire formats
//! (`web`, `alert`, `report`) and rows (`store`) convert explicitly, so a
//! protected value can only leave the process through code that chose to
//! emit it.

pub mod address;
pub mod incident;
pub mod matcher;
pub mod phone;
pub mod pseudonym;
pub mod route;

pub use phone::E164;

/// What `status` says of a site: whether we can see what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteState {
    Healthy,
    /// Its canaries fail, or its last few probes were all inconclusive: we
    /// are blind there, whatever the reason.
    Degraded,
}

impl SiteState {
    /// The contract's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteState::Healthy => "healthy",
            SiteState::Degraded => "degraded",
        }
    }
}

impl std::fmt::Display for SiteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so a column width (`{:<10}`) applies.
        f.pad(self.as_str())
    }
}

/// Internal row id of a roster entry. Stable across imports for one `ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub i64);

/// A protected subscription from the operator's roster.
///
/// `Debug` is implemented by hand so that a stray `{:?}` can never print the
/// number, name or address.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The operator's id for the subscription (never shown publicly).
    pub entry_ref: String,
    pub phone: E164,
    pub name: Option<String>,
    pub address: Option<Address>,
    pub hide_number: bool,
    pub hide_address: bool,
    pub cohort: Option<String>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("entry_ref", &self.entry_ref)
            .field("phone", &self.phone)
            .field("hide_number", &self.hide_number)
            .field("hide_address", &self.hide_address)
            .finish_non_exhaustive()
    }
}

/// A Danish address as the roster gives it. All parts optional because a
/// roster may only know some of them; matching treats a missing part as
/// "unknown", never as "matches anything".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub floor: Option<String>,
    pub door: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        [
            &self.street,
            &self.house_number,
            &self.floor,
            &self.door,
            &self.postcode,
            &self.city,
        ]
        .iter()
        .all(|p| p.as_deref().is_none_or(|s| s.trim().is_empty()))
    }
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Address(..)")
    }
}

/// One person or business as a directory page shows it, before any
/// normalisation. Produced by the sans-IO site parsers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub name: Option<String>,
    /// Phone numbers exactly as shown (`"13 12 34 56"`, `"tel:+4513123456"`).
    pub phones: Vec<String>,
    pub address: Option<ListedAddress>,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Listings are other people's data too: keep them out of debug output.
        f.debug_struct("Listing")
            .field("phones", &self.phones.len())
            .field("has_name", &self.name.is_some())
            .field("has_address", &self.address.is_some())
            .finish()
    }
}

/// An address as a directory prints it: the raw text always, structured
/// parts where the site gives them (Eniro JSON) or the parser could split
/// them reliably.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ListedAddress {
    /// The whole address as one line, e.g. `"Ågade 14B, 2. th, 8000 Aarhus C"`.
    pub text: String,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub floor: Option<String>,
    pub door: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
}

impl std::fmt::Debug for ListedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address may be a protected one: never printed.
        f.debug_struct("ListedAddress").finish_non_exhaustive()
    }
}

/// What a site's page showed of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExposedField {
    Number,
    Address,
}

impl ExposedField {
    pub fn as_str(self) -> &'static str {
        match self {
            ExposedField::Number => "number",
            ExposedField::Address => "address",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "number" => Some(ExposedField::Number),
            "address" => Some(ExposedField::Address),
            _ => None,
        }
    }
}

/// The result of one probe of one entry on one site (contract: "Probe outcomes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The site answered, the page parsed, and the protected data is not there.
    Clean,
    /// The page shows protected data. `fields` is never empty; `why` says
    /// which parts of the listing matched (for analysts).
    Exposed {
        fields: Vec<ExposedField>,
        why: Vec<String>,
    },
    /// Anything else. Never counts as clean.
    Inconclusive { reason: String },
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Clean => OutcomeKind::Clean,
            Outcome::Exposed { .. } => OutcomeKind::Exposed,
            Outcome::Inconclusive { .. } => OutcomeKind::Inconclusive,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Clean,
    Exposed,
    Inconclusive,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Clean => "clean",
            OutcomeKind::Exposed => "exposed",
            OutcomeKind::Inconclusive => "inconclusive",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "clean" => Some(OutcomeKind::Clean),
            "exposed" => Some(OutcomeKind::Exposed),
            "inconclusive" => Some(OutcomeKind::Inconclusive),
            _ => None,
        }
    }
}
