//! Compliance reports: what was exposed where, when it began (bounded by
//! the last clean probe before it), when it ended (the clean probes that
//! closed it), whether coverage held, and whether the audit trail verifies.
//!
//! [`build`] reads a [`Report`] from the store (blocking); `json`, `html`
//! and `csv` render it; every rendering is signed with HMAC-SHA256
//! ([`SigningKey`]) and [`verify`] checks a rendered file:
//!
//! - JSON: a top-level `"signature": {"alg": "hmac-sha256", "key_id": …,
//!   "value": …}` over the canonical JSON (`crate::audit::canonical_json`)
//!   of the document without its `signature` field;
//! - HTML: a trailing `<!-- unlistd-signature: alg=hmac-sha256 key_id=…
//!   value=… -->` line over every byte before it;
//! - CSV: a final `# unlistd-signature: alg=hmac-sha256 key_id=… value=…`
//!   line over every byte before it.
//!
//! Reports carry entry refs and masked numbers only: no full number, name
//! or address (request URLs are shown with `crate::audit::redact_url`).

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::ExposedField;
use crate::domain::incident::IncidentState;
use crate::store::{
    AuditVerification, CohortSummary, IncidentReport, ReportScope, SiteCoverageReport, Store,
    StoreError, Ts,
};

pub(crate) mod csv;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod svg;

/// The signature algorithm every report names.
pub(crate) const ALG: &str = "hmac-sha256";
/// The file beside the store holding the generated key.
pub(crate) const KEY_FILE: &str = "report-key";
const MARKER: &str = "unlistd-signature:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
    Csv,
}

impl Format {
    /// From a file name's extension (`.html`/`.htm`, `.json`, `.csv`).
    pub(crate) fn from_path(p: &Path) -> Option<Format> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(Format::Html),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// What to report on, and the settings a report states.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub scope: ReportScope,
    /// Sites whose coverage is checked (the enabled ones).
    pub sites: Vec<String>,
    pub max_staleness: Duration,
    pub resolve_after_clean: u32,
    pub now: Ts,
}

impl Request {
    /// A report as of now over the enabled sites, with the staleness and
    /// resolution settings it states taken from `s` (the CLI and the API
    /// build the same request).
    pub(crate) fn now(s: &crate::config::Settings, scope: ReportScope) -> Request {
        Request {
            scope,
            sites: s
                .sites
                .iter()
                .filter(|x| x.enabled)
                .map(|x| x.name.clone())
                .collect(),
            max_staleness: s.scan.max_staleness,
            resolve_after_clean: s.scan.resolve_after_clean,
            now: time::OffsetDateTime::now_utc(),
        }
    }
}

/// Everything a report states, read from the store.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub generated_at: Ts,
    pub scope: ReportScope,
    /// The period covered: for an incident, from the last clean probe
    /// before it (or first seen) to its resolution (or now).
    pub since: Ts,
    pub until: Ts,
    pub incidents: Vec<IncidentReport>,
    pub cohort: Option<CohortSummary>,
    pub coverage: Vec<SiteCoverageReport>,
    pub max_staleness: Duration,
    pub resolve_after_clean: u32,
    pub audit: AuditVerification,
}

impl Report {
    /// Every entry was probed conclusively on every site within
    /// `max_staleness` throughout the period.
    pub(crate) fn coverage_complete(&self) -> bool {
        self.coverage.iter().all(|c| c.gaps == 0)
    }

    pub(crate) fn all_resolved(&self) -> bool {
        self.incidents
            .iter()
            .all(|i| i.incident.state == IncidentState::Resolved)
    }

    /// One sentence a non-engineer can read first.
    pub(crate) fn summary(&self) -> String {
        let audit = if self.audit.verified {
            format!("The audit trail verifies ({} records).", self.audit.records)
        } else {
            "The audit trail does NOT verify: see the audit section.".to_string()
        };
        let scope = match &self.scope {
            ReportScope::Incident(_) => String::new(),
            ReportScope::Filter {
                cohort: Some(c), ..
            } => format!(" for cohort {c}"),
            ReportScope::Filter { .. } => String::new(),
        };
        let period = format!(
            "between {} and {}",
            human_time(self.since),
            human_time(self.until)
        );
        let body = match (&self.scope, self.incidents.as_slice()) {
            (ReportScope::Incident(_), [one]) => short_sentence(one, self.resolve_after_clean),
            (_, []) => format!("No exposure was recorded{scope} {period}."),
            (_, many) => {
                let open = many.iter().filter(|i| i.incident.state.is_active()).count();
                let withdrawn = many
                    .iter()
                    .filter(|i| i.incident.state == IncidentState::Withdrawn)
                    .count();
                let entries = {
                    let mut refs: Vec<&str> =
                        many.iter().map(|i| i.incident.entry_ref.as_str()).collect();
                    refs.sort_unstable();
                    refs.dedup();
                    refs.len()
                };
                let state = match (open, withdrawn) {
                    (0, 0) => {
                        "all of them are resolved, each confirmed by consecutive clean checks"
                            .into()
                    }
                    (0, w) => format!(
                        "{w} withdrawn (their entries were erased, so they are no longer \
                         checked), the rest resolved"
                    ),
                    (o, 0) => format!("{o} still open"),
                    (o, w) => format!(
                        "{o} still open, {w} withdrawn (their entries were erased, so they \
                         are no longer checked)"
                    ),
                };
                format!(
                    "{} exposures of {} entries were recorded{scope} {period}; {state}.",
                    many.len(),
                    entries
                )
            }
        };
        let coverage = if self.coverage.is_empty() {
            String::new()
        } else if self.coverage_complete() {
            " Every entry was checked on every site at least every ".to_string()
                + &human_duration(self.max_staleness)
                + " throughout."
        } else {
            let gaps: u64 = self.coverage.iter().map(|c| c.gaps).sum();
            format!(
                " Coverage had {gaps} gaps longer than {}.",
                human_duration(self.max_staleness)
            )
        };
        format!("{body}{coverage} {audit}")
    }
}

fn exposed_words(fields: &[ExposedField]) -> &'static str {
    match (
        fields.contains(&ExposedField::Number),
        fields.contains(&ExposedField::Address),
    ) {
        (true, true) => "number and address",
        (false, true) => "address",
        _ => "number",
    }
}

/// What a report says of a withdrawn incident.
const WITHDRAWN: &str = "The incident was withdrawn: the entry was erased from unlistd (a \
    data-subject request, or its removal from the roster longer ago than the retention), so it \
    is no longer checked. Its end was not confirmed by clean checks.";

/// One incident in one or two sentences (the report's summary).
fn short_sentence(r: &IncidentReport, k: u32) -> String {
    let i = &r.incident;
    let head = format!(
        "The {} of entry {} ({}) was shown on {}, first seen at {}.",
        exposed_words(&i.exposed),
        i.entry_ref,
        i.masked_number,
        i.site,
        human_time(i.first_seen)
    );
    match (i.state, i.resolved_at, r.closing_probes.first()) {
        (IncidentState::Resolved, Some(at), Some(first)) => format!(
            "{head} The exposure has ended: it was gone by {}, confirmed by {} consecutive clean checks (closed at {}).",
            human_time(first.time),
            r.closing_probes.len(),
            human_time(at)
        ),
        (IncidentState::Resolved, Some(at), None) => {
            format!("{head} The incident was closed at {}.", human_time(at))
        }
        (IncidentState::Withdrawn, ..) => format!("{head} {WITHDRAWN}"),
        _ => format!(
            "{head} It is still open (last seen at {}; {} of {} clean checks so far).",
            human_time(i.last_seen),
            r.closing_probes.len(),
            k
        ),
    }
}

/// The exposure window of one incident in words.
pub(crate) fn incident_sentence(r: &IncidentReport, resolve_after_clean: u32) -> String {
    let i = &r.incident;
    let mut s = format!(
        "The {} of entry {} ({}) was shown on {}.",
        exposed_words(&i.exposed),
        i.entry_ref,
        i.masked_number,
        i.site
    );
    match &r.last_clean_before {
        Some(c) => {
            s += &format!(
                " A check at {} found nothing, and the next check, at {}, found it listed: the exposure began between those two times.",
                human_time(c.time),
                human_time(i.first_seen)
            );
        }
        None => {
            s += &format!(
                " It was first seen at {}; no earlier clean check exists, so it may have begun before that.",
                human_time(i.first_seen)
            );
        }
    }
    if i.last_seen > i.first_seen {
        s += &format!(" It was last seen at {}.", human_time(i.last_seen));
    }
    match (i.state, i.resolved_at, r.closing_probes.first()) {
        (IncidentState::Resolved, Some(at), Some(first)) => {
            s += &format!(
                " A check at {} found it gone, and {} consecutive clean checks confirmed it; the incident was closed at {}.",
                human_time(first.time),
                r.closing_probes.len(),
                human_time(at)
            );
            if let Some(c) = &r.last_clean_before {
                let most = between(c.time, first.time);
                s += &if most.as_secs() == 0 {
                    " In all, it was visible for less than a second".to_string()
                } else {
                    format!(
                        " In all, it was visible for at most {}",
                        human_duration(most)
                    )
                };
                s += &if i.last_seen > i.first_seen {
                    format!(
                        " and for at least {} (from the first to the last sighting).",
                        human_duration(between(i.first_seen, i.last_seen))
                    )
                } else {
                    " (a single check saw it).".to_string()
                };
            }
        }
        (IncidentState::Resolved, Some(at), None) => {
            s += &format!(" The incident was closed at {}.", human_time(at));
        }
        (IncidentState::Withdrawn, ..) => {
            s += " ";
            s += WITHDRAWN;
        }
        _ => {
            s += &format!(
                " It is still open: {} of the {} consecutive clean checks needed to close it so far.",
                r.closing_probes.len(),
                resolve_after_clean
            );
        }
    }
    s
}

/// When removal was first asked for, and when the listing was gone (the
/// first of the clean checks that closed the incident): `None` for either
/// that is not known (no request; not resolved).
pub(crate) fn removal(r: &IncidentReport) -> (Option<Ts>, Option<Ts>) {
    let requested = r.takedowns.first().map(|t| t.requested_at);
    let removed = match (r.incident.resolved_at, r.closing_probes.first()) {
        (Some(_), Some(p)) => Some(p.time),
        _ => None,
    };
    (requested, removed)
}

/// Time from the first takedown request to the removal, when both are
/// known (zero when it was gone before anyone asked).
pub(crate) fn time_to_removal(r: &IncidentReport) -> Option<Duration> {
    match removal(r) {
        (Some(a), Some(b)) => Some(between(a, b)),
        _ => None,
    }
}

/// Over a report's incidents with a takedown request: how many, how many
/// removed, and the median and longest time to removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemovalStats {
    pub requested: usize,
    pub removed: usize,
    pub median: Option<Duration>,
    pub longest: Option<Duration>,
}

pub(crate) fn removal_stats(incidents: &[IncidentReport]) -> RemovalStats {
    let requested = incidents.iter().filter(|i| !i.takedowns.is_empty()).count();
    let mut times: Vec<Duration> = incidents.iter().filter_map(time_to_removal).collect();
    times.sort();
    RemovalStats {
        requested,
        removed: times.len(),
        median: (!times.is_empty()).then(|| times[times.len() / 2]),
        longest: times.last().copied(),
    }
}

/// The timeline picture's input for one incident.
pub(crate) fn timeline_of(r: &IncidentReport, now: Ts) -> svg::Timeline {
    svg::Timeline {
        last_clean_before: r.last_clean_before.as_ref().map(|p| p.time),
        first_seen: r.incident.first_seen,
        last_seen: r.incident.last_seen,
        closing: r.closing_probes.iter().map(|p| p.time).collect(),
        resolved_at: r.incident.resolved_at,
        takedowns: r.takedowns.iter().map(|t| t.requested_at).collect(),
        now,
    }
}

fn between(a: Ts, b: Ts) -> Duration {
    let d = b - a;
    Duration::try_from(d).unwrap_or_default()
}

/// `27 November 2026, 21:40:05 UTC`.
pub(crate) fn human_time(t: Ts) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {}, {:02}:{:02}:{:02} UTC",
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `3 days 4 hours`, `2 minutes 5 seconds`: the two largest units.
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "less than a second".into();
    }
    let units = [
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
        }
        if parts.len() == 2 || (!parts.is_empty() && n == 0) {
            break;
        }
    }
    parts.join(" ")
}

/// Reads everything a report states. `None` for an unknown incident id.
pub(crate) fn build(store: &Store, req: &Request) -> Result<Option<Report>, StoreError> {
    let Some(incidents) = store.report_incidents(&req.scope)? else {
        return Ok(None);
    };
    let (since, until) = match &req.scope {
        ReportScope::Incident(_) => {
            let i = &incidents[0];
            (
                i.last_clean_before
                    .as_ref()
                    .map_or(i.incident.first_seen, |c| c.time),
                i.incident.resolved_at.unwrap_or(req.now),
            )
        }
        ReportScope::Filter { since, until, .. } => (
            match since {
                Some(s) => *s,
                None => store.report_scope_start(&req.scope)?.unwrap_or(req.now),
            },
            until.unwrap_or(req.now),
        ),
    };
    let mut sites = req.sites.clone();
    if let ReportScope::Incident(_) = &req.scope {
        let s = &incidents[0].incident.site;
        if !sites.contains(s) {
            sites.push(s.clone());
        }
    }
    let coverage = if until > since {
        store.report_coverage(&req.scope, &sites, since, until, req.max_staleness)?
    } else {
        Vec::new()
    };
    let cohort = match &req.scope {
        ReportScope::Filter {
            cohort: Some(c), ..
        } => Some(store.cohort_summary(c)?),
        _ => None,
    };
    Ok(Some(Report {
        generated_at: req.now,
        scope: req.scope.clone(),
        since,
        until,
        incidents,
        cohort,
        coverage,
        max_staleness: req.max_staleness,
        resolve_after_clean: req.resolve_after_clean,
        audit: store.audit_verify()?,
    }))
}

/// Renders and signs.
pub(crate) fn render(report: &Report, format: Format, key: &SigningKey) -> Vec<u8> {
    match format {
        Format::Json => json::render(report, key),
        Format::Html => sign_trailing(html::render(report).into_bytes(), key, "<!-- ", " -->\n"),
        Format::Csv => sign_trailing(csv::render(report), key, "# ", "\n"),
    }
}

// ---------------------------------------------------------------- signing

/// An HMAC-SHA256 key with its public id (first 16 hex digits of its
/// SHA-256), which lets `report verify` tell "another key" from "altered".
#[derive(Clone)]
pub(crate) struct SigningKey {
    key: Vec<u8>,
    pub id: String,
    /// Where it came from (for messages).
    pub source: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub(crate) fn new(key: Vec<u8>, source: PathBuf) -> SigningKey {
        let mut id = crate::audit::sha256_hex(&key);
        id.truncate(16);
        SigningKey { key, id, source }
    }

    fn mac(&self, bytes: &[u8]) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(bytes);
        m
    }

    /// Lowercase hex HMAC-SHA256 of `bytes`.
    pub(crate) fn sign(&self, bytes: &[u8]) -> String {
        hex::encode(self.mac(bytes).finalize().into_bytes())
    }

    /// Constant-time check of a hex signature.
    pub(crate) fn check(&self, bytes: &[u8], hex_sig: &str) -> bool {
        match hex::decode(hex_sig) {
            Ok(sig) => self.mac(bytes).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error(
        "no report signing key at {0}: no report was signed here yet (or set [report] signing_key_file)"
    )]
    Missing(PathBuf),
    #[error("report signing key {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// The generated key's path: `report-key` beside the store.
pub(crate) fn key_path(store_path: &Path) -> PathBuf {
    match store_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(KEY_FILE),
        _ => PathBuf::from(KEY_FILE),
    }
}

/// Where the generated key lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyHome<'a> {
    /// `report-key` beside the SQLite store at this path.
    Beside(&'a Path),
    /// Inside the store: an encrypted store keeps it there, so no key is
    /// readable beside it. The path names it in messages.
    Store(&'a Store, &'a Path),
}

/// The configured key, else the generated one; `create` makes that one
/// (32 random bytes; beside the store at mode 0600, or inside it) on first
/// use.
pub(crate) fn signing_key(
    configured: Option<&[u8]>,
    config_source: &Path,
    home: KeyHome<'_>,
    create: bool,
) -> Result<SigningKey, KeyError> {
    if let Some(k) = configured {
        return Ok(SigningKey::new(k.to_vec(), config_source.to_path_buf()));
    }
    let store_path = match home {
        KeyHome::Beside(p) => p,
        KeyHome::Store(store, p) => {
            let inside = PathBuf::from(format!("{} (inside the store)", p.display()));
            return match store.report_key(create) {
                Ok(Some(k)) => Ok(SigningKey::new(k, inside)),
                Ok(None) => Err(KeyError::Missing(inside)),
                Err(e) => Err(KeyError::Io {
                    path: inside,
                    message: e.to_string(),
                }),
            };
        }
    };
    let path = key_path(store_path);
    let io = |e: std::io::Error| KeyError::Io {
        path: path.clone(),
        message: e.to_string(),
    };
    if create {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                let key: [u8; 32] = rand::random();
                f.write_all(&key).map_err(io)?;
                f.sync_all().map_err(io)?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
                return Ok(SigningKey::new(key.to_vec(), path));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    // Never through a symbolic link: whoever owns the store's directory
    // must not be able to point root's key read elsewhere.
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .and_then(|mut f| {
            let mut k = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut k).map(|_| k)
        });
    match read {
        Ok(k) if k.len() >= 16 => Ok(SigningKey::new(k, path)),
        Ok(_) => Err(KeyError::Io {
            path: path.clone(),
            message: "too short to be a key (fewer than 16 bytes)".into(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(KeyError::Missing(path)),
        Err(e) => Err(io(e)),
    }
}

/// Appends `<open>unlistd-signature: alg=… key_id=… value=…<close>` over
/// every byte before it.
fn sign_trailing(mut bytes: Vec<u8>, key: &SigningKey, open: &str, close: &str) -> Vec<u8> {
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let value = key.sign(&bytes);
    bytes.extend_from_slice(
        format!(
            "{open}{MARKER} alg={ALG} key_id={} value={value}{close}",
            key.id
        )
        .as_bytes(),
    );
    bytes
}

/// What `report verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Valid {
        key_id: String,
    },
    Invalid {
        reason: String,
    },
    /// No signature found (not a report, or cut off).
    Unsigned {
        reason: String,
    },
}

fn invalid(r: impl Into<String>) -> Verdict {
    Verdict::Invalid { reason: r.into() }
}

/// A field of the file being verified, as a message may show it: quoted,
/// control and invisible characters escaped, cut at 64 characters (the
/// file may be hostile, and the message goes to a terminal).
fn shown(field: &str) -> String {
    let mut out: String = field
        .chars()
        .take(64)
        .flat_map(char::escape_debug)
        .collect();
    if field.chars().count() > 64 {
        out.push('…');
    }
    format!("\"{out}\"")
}

fn check_fields(key: &SigningKey, signed: &[u8], alg: &str, key_id: &str, value: &str) -> Verdict {
    if alg != ALG {
        return invalid(format!("unknown algorithm {}", shown(alg)));
    }
    if key_id != key.id {
        return invalid(format!(
            "signed with another key (key_id {}; the key at {} has key_id {})",
            shown(key_id),
            key.source.display(),
            key.id
        ));
    }
    if key.check(signed, value) {
        Verdict::Valid {
            key_id: key_id.to_string(),
        }
    } else {
        invalid("the content does not match its signature (altered)")
    }
}

/// Checks a rendered report (any format) against `key`.
pub(crate) fn verify(bytes: &[u8], key: &SigningKey) -> Verdict {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    if bytes.get(start) == Some(&b'{') {
        return json::verify(bytes, key);
    }
    // HTML and CSV: the last marker line signs everything before it.
    let text_marker = MARKER.as_bytes();
    let Some(at) = bytes
        .windows(text_marker.len())
        .rposition(|w| w == text_marker)
    else {
        return Verdict::Unsigned {
            reason: "no unlistd signature found".into(),
        };
    };
    let line_start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let close = match &bytes[line_start..at] {
        b"<!-- " => " -->",
        b"# " => "",
        _ => return invalid("the signature line is malformed"),
    };
    let Ok(rest) = std::str::from_utf8(&bytes[at + text_marker.len()..]) else {
        return invalid("the signature line is not text");
    };
    // Exactly ` alg=… key_id=… value=…` + close + an optional final newline.
    let rest = rest.strip_suffix('\n').unwrap_or(rest);
    let Some(fields) = rest.strip_suffix(close).and_then(|f| f.strip_prefix(' ')) else {
        return invalid("the signature line is malformed");
    };
    let parts: Vec<&str> = fields.split(' ').collect();
    let (Some(alg), Some(key_id), Some(value), 3) = (
        parts.first().and_then(|p| p.strip_prefix("alg=")),
        parts.get(1).and_then(|p| p.strip_prefix("key_id=")),
        parts.get(2).and_then(|p| p.strip_prefix("value=")),
        parts.len(),
    ) else {
        return invalid("the signature line is malformed");
    };
    check_fields(key, &bytes[..line_start], alg, key_id, value)
}

/// A small report for renderer tests, with hostile values where the
/// operator controls the text (entry refs, cohort tags, site names).
#[cfg(test)]
pub(crate) fn sample_report() -> Report {
    use crate::store::{AuditHead, EvidenceProbe, IncidentView, KeptEvidence, SiteCoverageReport};
    let t = |s: i64| Ts::from_unix_timestamp(1_795_815_600 + s).unwrap();
    let probe = |id: i64, s: i64| EvidenceProbe {
        id,
        time: t(s),
        site: "118.dk".into(),
        url_masked: "/search/go?what=Birthe+Lund&where=8000&page=1".into(),
        page_sha256: Some(format!("{id:064x}")),
        http_status: Some(200),
        page_size: Some(10),
        evidence: KeptEvidence::Kept {
            sha256: "ab".into(),
            size: 10,
        },
    };
    Report {
        generated_at: t(100),
        scope: ReportScope::Filter {
            cohort: Some("<i>batch</i>".into()),
            since: None,
            until: None,
        },
        since: t(0),
        until: t(100),
        incidents: vec![IncidentReport {
            incident: IncidentView {
                id: "inc_1".into(),
                site: "118.dk".into(),
                entry_ref: "=HYPERLINK(\"x\")<script>alert(1)</script>".into(),
                masked_number: "+45 13 50 •• ••".into(),
                exposed: vec![ExposedField::Number, ExposedField::Address],
                state: IncidentState::Resolved,
                first_seen: t(10),
                last_seen: t(20),
                resolved_at: Some(t(40)),
            },
            cohort: Some("<i>batch</i>".into()),
            exposed_probes: 2,
            opened_by: Some(probe(2, 10)),
            last_clean_before: Some(probe(1, 5)),
            closing_probes: vec![probe(3, 30), probe(4, 40)],
            takedowns: vec![crate::store::TakedownView {
                id: 1,
                incident_id: "inc_1".into(),
                via: "118.dk <form>".into(),
                ticket: Some("T-1".into()),
                actor: "alice".into(),
                requested_at: t(15),
            }],
        }],
        cohort: None,
        coverage: vec![SiteCoverageReport {
            site: "118.dk".into(),
            entries: 1,
            covered: 1,
            ..Default::default()
        }],
        max_staleness: Duration::from_secs(60),
        resolve_after_clean: 2,
        audit: AuditVerification {
            verified: true,
            records: 9,
            head: Some(AuditHead {
                seq: 9,
                hash: "cd".repeat(32),
            }),
            first_broken: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_escapes_and_redacts_and_round_trips() {
        let r = sample_report();
        let key = SigningKey::new(b"k".repeat(32), "k".into());
        for f in [Format::Html, Format::Json, Format::Csv] {
            let bytes = render(&r, f, &key);
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(
                !text.contains("Birthe"),
                "{f:?}: the name search URL is redacted"
            );
            assert!(text.contains("what=•••"), "{f:?}");
            assert_eq!(
                verify(&bytes, &key),
                Verdict::Valid {
                    key_id: key.id.clone()
                },
                "{f:?}"
            );
            match f {
                Format::Html => {
                    assert!(!text.contains("<script>"));
                    assert!(!text.contains("<i>batch"));
                    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
                    assert!(text.contains("at most 25 seconds and for at least 10 seconds"));
                }
                Format::Csv => assert!(text.contains("'=HYPERLINK"), "formula cells are defused"),
                Format::Json => {
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(
                        v["incidents"][0]["exposure_window"]["began_after"],
                        "2026-11-27T21:40:05Z"
                    );
                    assert_eq!(
                        v["incidents"][0]["exposure_window"]["ended_by"],
                        "2026-11-27T21:40:30Z"
                    );
                }
            }
        }
    }

    #[test]
    fn takedowns_give_the_time_to_removal_per_incident_and_cohort() {
        let r = sample_report();
        let i = &r.incidents[0];
        // Requested at +15 s; the first closing clean check at +30 s.
        assert_eq!(time_to_removal(i), Some(Duration::from_secs(15)));
        let mut open = i.clone();
        open.incident.state = IncidentState::Resolved;
        open.incident.resolved_at = None;
        assert_eq!(time_to_removal(&open), None, "not removed yet");
        let mut unasked = i.clone();
        unasked.takedowns.clear();
        assert_eq!(time_to_removal(&unasked), None, "never requested");
        let st = removal_stats(&[i.clone(), unasked, open]);
        assert_eq!((st.requested, st.removed), (2, 1));
        assert_eq!(st.median, Some(Duration::from_secs(15)));
        let mut with_cohort = r.clone();
        with_cohort.cohort = Some(CohortSummary {
            tag: "b".into(),
            entries: 1,
            active: 1,
            erased: 0,
            entries_exposed: 1,
            sites: vec![],
        });
        let html = html::render(&with_cohort);
        for want in [
            "Time to removal",
            "15 seconds",
            "class=\"timeline-svg\"",
            "m-takedown",
            "class=\"cohort-chart\"",
            "Median time to removal",
            "Removal requested via 118.dk &lt;form&gt; (ticket T-1) by alice",
        ] {
            assert!(html.contains(want), "the HTML lacks {want}");
        }
        let v = json::value(&with_cohort);
        assert_eq!(v["incidents"][0]["removal"]["time_to_removal_seconds"], 15);
        assert_eq!(
            v["cohort"]["takedowns"]["median_time_to_removal_seconds"],
            15
        );
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(human_duration(Duration::from_secs(0)), "less than a second");
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(
            human_duration(Duration::from_secs(125)),
            "2 minutes 5 seconds"
        );
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 86400 + 4 * 3600 + 59)),
            "3 days 4 hours"
        );
        assert_eq!(human_duration(Duration::from_secs(86400 + 30)), "1 day");
        let t = Ts::from_unix_timestamp(1_795_815_605).unwrap();
        assert_eq!(human_time(t), "27 November 2026, 21:40:05 UTC");
    }

    #[test]
    fn trailing_signatures_verify_and_catch_any_change() {
        let key = SigningKey::new(b"k".repeat(32), "k".into());
        for (open, close) in [("<!-- ", " -->\n"), ("# ", "\n")] {
            let signed = sign_trailing(b"<p>hello</p>\n".to_vec(), &key, open, close);
            assert_eq!(
                verify(&signed, &key),
                Verdict::Valid {
                    key_id: key.id.clone()
                }
            );
            for i in 0..signed.len() {
                let mut bad = signed.clone();
                bad[i] ^= 0x01;
                assert!(
                    !matches!(verify(&bad, &key), Verdict::Valid { .. }),
                    "flip at {i} went unnoticed"
                );
            }
            let other = SigningKey::new(b"x".repeat(32), "x".into());
            assert!(
                matches!(verify(&signed, &other), Verdict::Invalid { reason } if reason.contains("another key"))
            );
            let mut extra = signed.clone();
            extra.extend_from_slice(b"<p>added</p>\n");
            assert!(!matches!(verify(&extra, &key), Verdict::Valid { .. }));
        }
        assert!(matches!(
            verify(b"a,b\n1,2\n", &key),
            Verdict::Unsigned { .. }
        ));
    }

    #[test]
    fn a_hostile_files_fields_are_shown_escaped() {
        let key = SigningKey::new(b"k".repeat(32), "k".into());
        let csv = format!(
            "x\n# unlistd-signature: alg=hmac-sha256 key_id=\u{1b}[2J\u{202e}{} value=00",
            "a".repeat(100)
        );
        let Verdict::Invalid { reason } = verify(csv.as_bytes(), &key) else {
            panic!("not invalid");
        };
        assert!(
            !reason.contains('\u{1b}') && !reason.contains('\u{202e}'),
            "{reason}"
        );
        assert!(reason.contains("\\u{1b}[2J\\u{202e}"), "{reason}");
        assert!(reason.contains('…') && reason.len() < 300, "{reason}");
        let json = r#"{"a":1,"signature":{"alg":"\u001b]0;pwned\u0007","key_id":"x","value":"y"}}"#;
        let Verdict::Invalid { reason } = verify(json.as_bytes(), &key) else {
            panic!("not invalid");
        };
        assert!(
            !reason.contains('\u{1b}') && !reason.contains('\u{7}'),
            "{reason}"
        );
    }

    #[test]
    fn generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("unlistd.db");
        assert!(matches!(
            signing_key(None, Path::new("c"), KeyHome::Beside(&store), false),
            Err(KeyError::Missing(_))
        ));
        let a = signing_key(None, Path::new("c"), KeyHome::Beside(&store), true).unwrap();
        let b = signing_key(None, Path::new("c"), KeyHome::Beside(&store), true).unwrap();
        let c = signing_key(None, Path::new("c"), KeyHome::Beside(&store), false).unwrap();
        assert_eq!((a.id.len(), &a.id, &a.id), (16, &b.id, &c.id));
        let meta = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let configured = signing_key(
            Some(b"configured-key"),
            Path::new("c"),
            KeyHome::Beside(&store),
            true,
        )
        .unwrap();
        assert_ne!(configured.id, a.id);
    }

    #[test]
    fn a_key_kept_in_the_store_leaves_no_file_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unlistd.db");
        let store = Store::open(&path).unwrap();
        let home = KeyHome::Store(&store, &path);
        assert!(matches!(
            signing_key(None, Path::new("c"), home, false),
            Err(KeyError::Missing(_))
        ));
        let a = signing_key(None, Path::new("c"), home, true).unwrap();
        let b = signing_key(None, Path::new("c"), home, false).unwrap();
        assert_eq!(a.id, b.id);
        assert!(!dir.path().join(KEY_FILE).exists());
        // A key file adopted later does not replace the store's key.
        assert!(
            !store
                .adopt_report_key(b"another-key-of-32-bytes-xxxxxxxx")
                .unwrap()
        );
        assert_eq!(
            signing_key(None, Path::new("c"), home, false).unwrap().id,
            a.id
        );
    }
}
