//! The operator's dashboard: server-rendered HTML under `/dashboard`, served
//! by `unlistd run` beside the API (no JavaScript at all).
//!
//! - `GET /dashboard`: the last config reload, sites (health, coverage, a
//!   24-hour chart of probes by outcome, the oldest probe's age against
//!   `max_staleness`, robots.txt overrides), open incidents, the latest
//!   probes of exposed entries, silences in force (with a form to add one),
//!   alert receivers.
//! - `GET /dashboard/incidents?state=open|all` and
//!   `GET /dashboard/incidents/{id}`: one incident with its exposure-window
//!   picture, takedown contact and requests, the analysts' actions, forms
//!   to act, and its timeline.
//! - `POST /dashboard/incidents/{id}/act` (ack, dismiss, undismiss,
//!   takedown), `POST /dashboard/silences`, `POST /dashboard/silences/{id}/end`:
//!   HTML forms, each with the session's CSRF token.
//! - `GET /dashboard/entries?ref=REF`: one entry's probe history.
//! - `GET|POST /dashboard/login`, `POST /dashboard/logout`.
//!
//! Login takes any configured token (compared in constant time, like the
//! API), and the page header names who is logged in. A good token gets a
//! random session id in an `HttpOnly; SameSite=Strict` cookie; the server
//! keeps only the SHA-256 of live ids, in memory, with the token's name and
//! a random CSRF token, so a restart logs everyone out and the token itself
//! never travels again. Behind a trusted proxy on loopback
//! (`[api] trusted_user_header`) the proxy's user needs no login; their
//! CSRF token is an HMAC of their name under a key of this process. Without
//! either every page redirects to the login form. Actions need the `act`
//! role: a `read` token sees no forms, and a POST from it gets 403.
//!
//! Secrecy: pages show entry refs and masked numbers at most, as the store's
//! views carry nothing more; every value is HTML-escaped by `maud`, which
//! matters most for what people type: reasons, actor names, and error
//! messages that quote a config file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Extension, Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, LiveApp};
use crate::config::{ApiSettings, Role};
use crate::domain::incident::IncidentState;
use crate::domain::{OutcomeKind, SiteState};
use crate::report::svg;
use crate::store::blocking;
use crate::store::{
    ActionView, IncidentAction, IncidentView, ProbeView, SilenceView, SiteCoverage, StoreError,
    TakedownView, Ts,
};
use crate::wire::{self, rfc3339};

use super::auth::{identify_proxy, identify_token};

/// The session cookie's name.
pub(super) const COOKIE: &str = "unlistd_session";
/// A session lasts this long from login, whatever the activity.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Live sessions kept at most; the oldest is dropped beyond this.
const MAX_SESSIONS: usize = 256;
/// Rows of a timeline or history shown at most (the newest ones).
const MAX_ROWS: usize = 500;
/// Open incidents listed on the overview at most.
const OVERVIEW_INCIDENTS: usize = 50;
/// Slows down wrong-token guesses a little.
const LOGIN_FAILURE_DELAY: Duration = Duration::from_millis(300);
/// The overview's chart: 24 hours in 15-minute bars.
const CHART_BUCKET: Duration = Duration::from_secs(15 * 60);
const CHART_BUCKETS: usize = 96;

/// Who is looking at a page, with what role, and the CSRF token their
/// forms must carry.
#[derive(Debug, Clone)]
struct Viewer {
    name: String,
    role: Role,
    csrf: String,
}

impl Viewer {
    fn can_act(&self) -> bool {
        self.role.allows(Role::Act)
    }
}

/// One live session.
#[derive(Debug, Clone)]
struct Session {
    expires: Instant,
    /// The SHA-256 of the token that opened it: the session is good only
    /// while that token is still configured under the same name, so a
    /// token rotated or removed by a reload ends the sessions it opened.
    token_digest: [u8; 32],
    name: String,
    csrf: String,
}

/// Live sessions: SHA-256 of the cookie value → [`Session`]; and the key
/// the proxy's users' CSRF tokens are derived with.
#[derive(Debug)]
struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
    csrf_key: [u8; 32],
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            live: Mutex::default(),
            csrf_key: rand::random(),
        }
    }
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    fn key(id: &str) -> [u8; 32] {
        Sha256::digest(id.as_bytes()).into()
    }

    /// A new random session id (256 bits) for the token named `name`
    /// (whose SHA-256 is `token_digest`), remembered until [`SESSION_TTL`].
    fn create(&self, name: &str, token_digest: [u8; 32]) -> String {
        let id = random_id();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, s| s.expires > now);
        while live.len() >= MAX_SESSIONS {
            let Some(oldest) = live.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) else {
                break;
            };
            live.remove(&oldest);
        }
        live.insert(
            Self::key(&id),
            Session {
                expires: now + SESSION_TTL,
                token_digest,
                name: name.to_string(),
                csrf: random_id(),
            },
        );
        id
    }

    /// The viewer of a live session whose token is still configured (with
    /// its role as configured now).
    fn viewer(&self, id: Option<&str>, api: &ApiSettings) -> Option<Viewer> {
        let id = id?;
        let s = {
            let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.get(&Self::key(id))
                .filter(|s| s.expires > Instant::now())
                .cloned()?
        };
        let t = api.tokens.iter().find(|t| {
            let d: [u8; 32] = Sha256::digest(&t.token).into();
            t.name == s.name && d == s.token_digest
        })?;
        Some(Viewer {
            name: s.name,
            role: t.role,
            csrf: s.csrf,
        })
    }

    /// The proxy's user, whose CSRF token is bound to their name.
    fn proxy_viewer(
        &self,
        api: &ApiSettings,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Option<Viewer> {
        let id = identify_proxy(api, headers, peer)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.csrf_key).expect("HMAC takes any key length");
        mac.update(id.name.as_bytes());
        Some(Viewer {
            csrf: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(mac.finalize().into_bytes()),
            name: id.name,
            role: id.role,
        })
    }

    fn remove(&self, id: Option<&str>) {
        if let Some(id) = id {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.remove(&Self::key(id));
        }
    }
}

/// What a handler sees: the App current when its request arrived.
#[derive(Debug, Clone)]
struct Dash {
    app: App,
    sessions: Arc<Sessions>,
}

/// The router's state; each request takes a [`Dash`] from it.
#[derive(Debug, Clone)]
pub(super) struct DashState {
    live: LiveApp,
    sessions: Arc<Sessions>,
}

impl axum::extract::FromRef<DashState> for Dash {
    fn from_ref(s: &DashState) -> Dash {
        Dash {
            app: s.live.get(),
            sessions: s.sessions.clone(),
        }
    }
}

/// The pages behind a session (or the trusted proxy's user).
fn protected_routes() -> OpenApiRouter<DashState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(incidents))
        .routes(routes!(incident))
        .routes(routes!(incident_act))
        .routes(routes!(silence_add))
        .routes(routes!(silence_end))
        .routes(routes!(entry))
}

/// The login and logout forms.
fn open_routes() -> OpenApiRouter<DashState> {
    OpenApiRouter::new()
        .routes(routes!(login_form, login))
        .routes(routes!(logout))
}

/// Every dashboard route, for the OpenAPI description.
pub(super) fn routes() -> OpenApiRouter<DashState> {
    open_routes().merge(protected_routes())
}

/// The `/dashboard` routes, ready to merge into the API router.
pub(super) fn router(live: LiveApp) -> OpenApiRouter {
    let dash = DashState {
        live,
        sessions: Arc::new(Sessions::default()),
    };
    let protected = protected_routes().route_layer(middleware::from_fn_with_state(
        dash.clone(),
        require_session,
    ));
    open_routes().merge(protected).with_state(dash)
}

// ---------------------------------------------------------------- sessions

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
}

/// `Secure` only when a TLS-terminating proxy says the browser used https:
/// the daemon itself speaks plain HTTP on loopback.
fn cookie_attrs(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if https {
        "; Path=/dashboard; HttpOnly; SameSite=Strict; Secure"
    } else {
        "; Path=/dashboard; HttpOnly; SameSite=Strict"
    }
}

fn peer(req_ext: &axum::http::Extensions) -> Option<SocketAddr> {
    req_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The viewer of this request: its session, else the trusted proxy's user.
fn viewer_of(d: &Dash, headers: &HeaderMap, ext: &axum::http::Extensions) -> Option<Viewer> {
    let api = &d.app.settings.api;
    d.sessions
        .viewer(session_cookie(headers), api)
        .or_else(|| d.sessions.proxy_viewer(api, headers, peer(ext)))
}

async fn require_session(State(d): State<Dash>, mut req: Request, next: Next) -> Response {
    if let Some(v) = viewer_of(&d, req.headers(), req.extensions()) {
        req.extensions_mut().insert(v);
        next.run(req).await
    } else {
        let mut r = Redirect::to("/dashboard/login").into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// The login form (a session already open goes to the overview).
#[utoipa::path(get, path = "/dashboard/login", tag = "dashboard",
    responses((status = 200, description = "HTML form", content_type = "text/html"),
              (status = 303, description = "already logged in")))]
async fn login_form(State(d): State<Dash>, req: Request) -> Response {
    if viewer_of(&d, req.headers(), req.extensions()).is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    let configured = !d.app.settings.api.tokens.is_empty();
    page(
        StatusCode::OK,
        "Log in",
        None,
        None,
        login_body(configured, None),
    )
}

/// Starts a session for any configured token.
#[utoipa::path(post, path = "/dashboard/login", tag = "dashboard",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "logged in: the session cookie is set"),
              (status = 401, description = "not a configured token")))]
async fn login(State(d): State<Dash>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let presented = f.token.trim();
    let Some(id) = identify_token(&d.app.settings.api, presented.as_bytes()) else {
        tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
        tracing::warn!("Dashboard login refused: not a configured token.");
        let configured = !d.app.settings.api.tokens.is_empty();
        return page(
            StatusCode::UNAUTHORIZED,
            "Log in",
            None,
            None,
            login_body(configured, Some("That is not a configured token.")),
        );
    };
    let digest = id.token_digest.unwrap_or_default();
    let sid = d.sessions.create(&id.name, digest);
    tracing::info!(who = %id.name, role = id.role.as_str(), "Dashboard login.");
    let cookie = format!(
        "{COOKIE}={sid}; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        cookie_attrs(&headers)
    );
    let mut r = Redirect::to("/dashboard").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Ends the session.
#[utoipa::path(post, path = "/dashboard/logout", tag = "dashboard",
    responses((status = 303, description = "to the login form")))]
async fn logout(State(d): State<Dash>, headers: HeaderMap) -> Response {
    d.sessions.remove(session_cookie(&headers));
    let cookie = format!("{COOKIE}=; Max-Age=0{}", cookie_attrs(&headers));
    let mut r = Redirect::to("/dashboard/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn login_body(configured: bool, error: Option<&str>) -> Markup {
    html! {
        section.login {
            h1 { "unlistd" }
            @if !configured {
                p.warn { "No API token is configured (" code { "[api] token_file" } " or " code { "[[api.tokens]]" } "), so nobody can log in." }
            }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/dashboard/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Log in" }
            }
        }
    }
}

// ---------------------------------------------------------------- pages

const CSS: &str = r#"
:root { --ok: #1b7f3b; --bad: #b3261e; --warn: #8a5a00; --muted: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #fff; }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; border-bottom: 1px solid var(--line); background: #f6f8fa; }
header .brand { font-weight: 700; }
header nav a { margin-right: 1rem; color: #0b57d0; text-decoration: none; }
header nav a.active { font-weight: 700; color: #1f2328; }
header .session { margin-left: auto; display: flex; gap: .8rem; align-items: center; }
main { padding: 1rem 1.5rem 2rem; max-width: 88rem; }
h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { text-align: left; padding: .3rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .85em; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.s-open, .s-exposed, .s-degraded, .s-stale { color: var(--bad); }
.s-acknowledged, .s-inconclusive, .s-overridden { color: var(--warn); }
.badge.s-acknowledged { border-style: dashed; }
.s-resolved, .s-clean, .s-healthy { color: var(--ok); }
.s-withdrawn { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; margin: .5rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: .4rem; padding: .6rem 1rem; min-width: 11rem; }
.card .v { font-size: 1.6rem; font-weight: 700; }
.strip { display: flex; flex-wrap: wrap; gap: 2px; max-width: 15rem; }
.strip span { width: 9px; height: 16px; display: inline-block; border: 1px solid #0002; }
.strip .o-clean { background: #8fd19e; }
.strip .o-exposed { background: #e57373; }
.strip .o-inconclusive { background: #ffd54f; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 36rem)); gap: 1rem 2rem; margin: .5rem 0 1rem; }
figure.site-chart { margin: 0; min-width: 0; }
figure.site-chart svg, .picture svg { display: block; max-width: 100%; height: auto; }
.picture { max-width: 100%; overflow: hidden; margin: .5rem 0 1rem; }
.legend-clean { color: #2e9e55; } .legend-inconclusive { color: #a77a00; } .legend-exposed { color: #d93f3f; }
form.act { border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .9rem; margin: .4rem 0 .8rem; display: flex; flex-wrap: wrap; gap: .5rem .8rem; align-items: end; }
form.act label { display: flex; flex-direction: column; font-size: .9em; color: var(--muted); }
form.act input, form.act select { font: inherit; padding: .25rem .4rem; min-width: 12rem; }
form.inline { display: inline; }
.flash { border-left: 4px solid var(--ok); padding: .4rem .8rem; background: #e6f4ec; margin: .5rem 0 1rem; }
tr.mark td { background: #fff4e5; font-weight: 600; }
tr.action td { background: #eef3fc; }
.callout { border-left: 4px solid var(--line); padding: .4rem .8rem; margin: .5rem 0 1rem; background: #f6f8fa; }
.callout.failed { border-left-color: var(--bad); color: var(--bad); background: #fdecea; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.2rem; margin: .5rem 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
form.search input { padding: .3rem .5rem; font: inherit; min-width: 16rem; }
button { font: inherit; padding: .3rem .9rem; cursor: pointer; }
section.login { max-width: 24rem; margin: 4rem auto; }
section.login label { display: block; margin: .5rem 0 .2rem; }
section.login input { width: 100%; padding: .4rem; font: inherit; margin-bottom: .8rem; }
.error { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); }
footer { padding: 0 1.5rem 1.5rem; color: var(--muted); font-size: .85em; }
@media print {
  header nav, header form, form.search, form.act, .noprint { display: none !important; }
  header { background: none; border-bottom: 2px solid #000; }
  body { font-size: 11pt; color: #000; }
  a { color: #000; text-decoration: none; }
  th { background: none; }
  main { max-width: none; padding: 0; }
  table { page-break-inside: auto; } tr { page-break-inside: avoid; }
  .strip span, svg { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  .charts { display: block; } figure.site-chart { break-inside: avoid; margin-bottom: 1rem; }
}
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nav {
    Overview,
    Incidents,
    Entries,
}

/// A whole page with the security headers every dashboard answer carries.
fn page(
    status: StatusCode,
    title: &str,
    nav: Option<Nav>,
    who: Option<&Viewer>,
    body: Markup,
) -> Response {
    let now = rfc3339(Ts::now_utc());
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · unlistd" }
                style { (PreEscaped(CSS)) }
            }
            body {
                @if let Some(active) = nav {
                    header {
                        span.brand { "unlistd" }
                        nav {
                            a href="/dashboard" .active[active == Nav::Overview] { "Overview" }
                            a href="/dashboard/incidents" .active[active == Nav::Incidents] { "Incidents" }
                            a href="/dashboard/entries" .active[active == Nav::Entries] { "Entry history" }
                        }
                        div.session {
                            @if let Some(v) = who {
                                span #who { "Logged in as " strong #who-name { (v.name) } " (" span #who-role { (v.role.as_str()) } ")" }
                            }
                            form method="post" action="/dashboard/logout" {
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
                @if nav.is_some() {
                    footer { "Generated " (now) ". Numbers are masked; entries are named by their ref only." }
                }
            }
        }
    };
    let mut r = (status, doc).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn failed(e: StoreError) -> Response {
    tracing::error!(error = %e, "Dashboard request failed.");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        None,
        None,
        html! { h1 { "Internal error" } p { "The store could not be read; see the daemon's log." } },
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a
/// value placed in a path segment or a query.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn incident_href(id: &str) -> String {
    format!("/dashboard/incidents/{}", pct(id))
}

fn entry_href(entry_ref: &str) -> String {
    format!("/dashboard/entries?ref={}", pct(entry_ref))
}

/// "3d 4h", "12m 5s", "42s".
pub(super) fn age(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

fn since(t: Ts) -> String {
    let secs = (Ts::now_utc() - t).whole_seconds().max(0) as u64;
    format!("{} ago", age(secs))
}

fn time_cell(t: Ts) -> Markup {
    html! { span.mono title=(since(t)) { (rfc3339(t)) } }
}

fn state_badge(s: IncidentState) -> Markup {
    html! { span class={"badge s-" (s.as_str())} title=(state_hint(s)) { (s.as_str()) } }
}

/// An acknowledged incident is still an exposure; the hint keeps anyone
/// from reading the quieter badge as "handled".
fn state_hint(s: IncidentState) -> &'static str {
    match s {
        IncidentState::Open => "exposed, nobody has acknowledged it",
        IncidentState::Acknowledged => {
            "acknowledged: no more reminders, but it resolves only after clean probes"
        }
        IncidentState::Resolved => "resolved by clean probes",
        IncidentState::Withdrawn => {
            "withdrawn: the entry was erased, so it is no longer watched (not resolved)"
        }
    }
}

fn outcome_badge(k: OutcomeKind) -> Markup {
    html! { span class={"badge s-" (k.as_str())} { (k.as_str()) } }
}

fn exposed(v: &IncidentView) -> String {
    v.exposed
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn incidents_table(list: &[IncidentView]) -> Markup {
    html! {
        table.incidents {
            thead { tr {
                th { "Incident" } th { "Site" } th { "Entry ref" } th { "Number" }
                th { "Exposed" } th { "State" } th { "First seen" } th { "Last seen" } th { "Resolved" }
            } }
            tbody {
                @for i in list {
                    tr {
                        td { a.mono href=(incident_href(&i.id)) { (i.id) } }
                        td { (i.site) }
                        td { a href=(entry_href(&i.entry_ref)) { (i.entry_ref) } }
                        td.mono { (i.masked_number) }
                        td.exposed { (exposed(i)) }
                        td.state { (state_badge(i.state)) }
                        td { (time_cell(i.first_seen)) }
                        td { (time_cell(i.last_seen)) }
                        td { @match i.resolved_at { Some(t) => (time_cell(t)), None => span.muted { "—" } } }
                    }
                }
            }
        }
    }
}

fn sha_cell(sha: Option<&str>) -> Markup {
    html! {
        @match sha {
            Some(s) => span.mono title=(s) { (s.get(..12).unwrap_or(s)) "…" },
            None => span.muted { "—" },
        }
    }
}

fn action_label(a: IncidentAction) -> &'static str {
    match a {
        IncidentAction::Ack => "acknowledged",
        IncidentAction::Dismiss => "dismissed as a false positive",
        IncidentAction::Undismiss => "dismissal withdrawn",
    }
}

/// The dismissal in force, if any: the latest dismiss that no later
/// undismiss withdrew. The state alone cannot tell, since a dismissed
/// incident reads `acknowledged`.
fn dismissal_in_force(actions: &[ActionView]) -> Option<&ActionView> {
    actions
        .iter()
        .rev()
        .find(|a| a.action != IncidentAction::Ack)
        .filter(|a| a.action == IncidentAction::Dismiss)
}

fn actions_table(actions: &[ActionView]) -> Markup {
    html! {
        table.actions #actions {
            thead { tr { th { "Time" } th { "Action" } th { "By" } th { "Reason" } } }
            tbody {
                @for a in actions {
                    tr {
                        td { (time_cell(a.time)) }
                        td class={"a-" (a.action.as_str())} { (action_label(a.action)) }
                        td.actor { (a.actor) }
                        td.reason { (a.reason) }
                    }
                }
            }
        }
    }
}

/// "in 1h 59m" for a silence still in force.
fn remaining(until: Ts, now: Ts) -> String {
    let secs = (until - now).whole_seconds();
    if secs > 0 {
        format!("in {}", age(secs as u64))
    } else {
        "ending".to_string()
    }
}

/// An unset silence filter matches everything.
fn any(v: Option<&str>) -> Markup {
    html! {
        @match v {
            Some(x) => (x),
            None => span.muted { "any" },
        }
    }
}

/// Silences in force; with `csrf` (a viewer who may act) each row has an
/// "End now" button.
fn silences_table(list: &[SilenceView], now: Ts, csrf: Option<&str>) -> Markup {
    html! {
        table.silences #silences {
            thead { tr {
                th { "Silence" } th { "Site" } th { "Event type" } th { "Cohort" }
                th { "Until" } th { "By" } th { "Reason" }
                @if csrf.is_some() { th.noprint { "" } }
            } }
            tbody {
                @for s in list {
                    tr {
                        td.mono { (s.id) }
                        td { (any(s.site.as_deref())) }
                        td { (any(s.event_type.map(|e| e.as_str()))) }
                        td { (any(s.cohort.as_deref())) }
                        td {
                            span.mono { (rfc3339(s.expires_at)) }
                            " " span.muted { "(" (remaining(s.expires_at, now)) ")" }
                        }
                        td.actor { (s.created_by) }
                        td.reason { (s.reason) }
                        @if let Some(token) = csrf {
                            td.noprint {
                                form.inline.end-silence method="post" action={"/dashboard/silences/" (pct(&s.id)) "/end"} {
                                    input type="hidden" name="csrf" value=(token);
                                    button type="submit" { "End now" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds a silence (act role).
fn silence_form(csrf: &str, sites: &[&str]) -> Markup {
    html! {
        form.act #silence-form method="post" action="/dashboard/silences" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Site" select name="site" { option value="" { "any" } @for s in sites { option value=(s) { (s) } } } }
            label { "Event type" select name="type" {
                option value="" { "any" }
                @for e in crate::domain::incident::EventType::ALL { option value=(e.as_str()) { (e.as_str()) } }
            } }
            label { "Cohort" input type="text" name="cohort" placeholder="any"; }
            label { "For" input type="text" name="duration" value="2h" required; }
            label { "Reason" input type="text" name="reason" required; }
            button type="submit" { "Add silence" }
        }
    }
}

/// A failed reload is easy to miss: the daemon carries on with the config
/// before it, and nothing else on the page changes.
fn reload_notice(r: &wire::LastReload) -> Markup {
    let failed = r.result != "ok";
    html! {
        div #last-reload .callout .failed[failed] role=[failed.then_some("alert")] {
            @if failed {
                strong { "Last config reload FAILED" } " at " span.mono { (r.time) }
                "; the daemon runs on the config before it."
                @if let Some(e) = &r.error {
                    br;
                    span.mono.reload-error { (e) }
                }
            } @else {
                "Last config reload: ok at " span.mono { (r.time) } "."
            }
            @if !r.needs_restart.is_empty() {
                br;
                "Changed, but applies only after a restart: "
                @for (i, k) in r.needs_restart.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (k) }
                }
            }
        }
    }
}

/// "4 s", "1.5 s": a Crawl-delay as the site's robots.txt wrote it, near
/// enough.
fn seconds(d: f64) -> String {
    let r = (d * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{r:.0} s")
    } else {
        format!("{r} s")
    }
}

/// Honouring robots.txt is the default and says nothing; an override is
/// shown with the operator's written reason, since it is a decision someone
/// must be able to answer for.
fn robots_cell(r: &wire::RobotsStatus) -> Markup {
    html! {
        @if r.honoured {
            span.muted { "honoured" }
        } @else {
            span.badge.s-overridden { "not honoured" }
            @if let Some(why) = &r.reason {
                br;
                span.robots-reason { (why) }
            }
        }
        @if let Some(d) = r.crawl_delay_seconds {
            br;
            span.crawl-delay { "Crawl-delay " (seconds(d)) }
        }
    }
}

fn receivers_table(list: &[wire::ReceiverStatus]) -> Markup {
    html! {
        table.receivers {
            thead { tr {
                th { "Receiver" } th.num { "Delivered" } th.num { "Pending" } th.num { "Undelivered events" }
                th { "State" } th { "Failing since" } th { "Last error" }
            } }
            tbody {
                @for r in list {
                    tr {
                        td.mono { (r.receiver) }
                        td.num { (r.delivered_messages) }
                        td.num { (r.pending_messages) }
                        td.num { (r.undelivered_events) }
                        td { @if r.failing { span.badge.s-degraded { "failing" } } @else { span.badge.s-healthy { "ok" } } }
                        td.failing-since { @match &r.failing_since { Some(t) => span.mono { (t) }, None => span.muted { "—" } } }
                        td { @match &r.last_error { Some(e) => span.mono { (e) }, None => span.muted { "—" } } }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- overview

struct Overview {
    status: wire::Status,
    coverage: Vec<(String, SiteCoverage)>,
    open: Vec<IncidentView>,
    /// Latest probes of entries with an open incident: (ref, probe).
    recent: Vec<(String, ProbeView)>,
    silences: Vec<SilenceView>,
    /// Per site: probes by outcome (clean, inconclusive, exposed) per
    /// [`CHART_BUCKET`] over the last 24 hours, oldest first.
    charts: HashMap<String, Vec<[u64; 3]>>,
    /// When the chart's first bucket began.
    chart_start: Ts,
    now: Ts,
}

fn load_overview(app: &App) -> Result<Overview, StoreError> {
    let status = crate::status::of(app, true)?;
    let now = Ts::now_utc();
    let mut coverage = Vec::new();
    for site in &app.engine.sites {
        let name = site.settings.name.clone();
        let cov = app.store().site_coverage(&name, now)?;
        coverage.push((name, cov));
    }
    let open = app.store().incidents(true)?;
    let mut recent = Vec::new();
    let mut refs: Vec<&str> = open.iter().map(|i| i.entry_ref.as_str()).collect();
    refs.sort_unstable();
    refs.dedup();
    for r in refs.into_iter().take(10) {
        if let Some(h) = app.store().history(r)? {
            let start = h.len().saturating_sub(20);
            recent.extend(h[start..].iter().map(|p| (r.to_string(), p.clone())));
        }
    }
    recent.sort_by_key(|p| std::cmp::Reverse(p.1.time));
    recent.truncate(20);
    // The store's views rather than `status.silences`: typed times, for
    // how long each still holds.
    let silences = app.store().silences(now, false)?;
    let chart_start = now - CHART_BUCKET * CHART_BUCKETS as u32;
    let mut charts: HashMap<String, Vec<[u64; 3]>> = HashMap::new();
    for (site, bucket, outcome, n) in app.store().probe_buckets(chart_start, CHART_BUCKET)? {
        let bars = charts
            .entry(site)
            .or_insert_with(|| vec![[0; 3]; CHART_BUCKETS]);
        let Some(bar) = usize::try_from(bucket).ok().and_then(|b| bars.get_mut(b)) else {
            continue;
        };
        bar[match outcome {
            OutcomeKind::Clean => 0,
            OutcomeKind::Inconclusive => 1,
            OutcomeKind::Exposed => 2,
        }] += n;
    }
    Ok(Overview {
        status,
        coverage,
        open,
        recent,
        silences,
        charts,
        chart_start,
        now,
    })
}

/// The overview page as one maud template, read top to bottom like the
/// page; its tables are functions above.
#[allow(clippy::too_many_lines)]
#[utoipa::path(get, path = "/dashboard", tag = "dashboard",
    responses((status = 200, description = "HTML", content_type = "text/html"),
              (status = 303, description = "no session: to the login form")))]
async fn overview(State(d): State<Dash>, Extension(who): Extension<Viewer>) -> Response {
    let app = d.app.clone();
    let o = match blocking(move || load_overview(&app)).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let st = &o.status;
    let degraded = st
        .sites
        .iter()
        .filter(|s| s.state == SiteState::Degraded)
        .count();
    let oldest = st
        .sites
        .iter()
        .filter(|s| s.enabled)
        .filter_map(|s| s.oldest_probe_age_seconds)
        .max();
    let body = html! {
        h1 { "Overview" }
        @if let Some(r) = &st.last_reload {
            (reload_notice(r))
        }
        div.cards {
            div.card { div.muted { "Protected entries" } div.v #roster-size { (st.roster.size) } }
            div.card {
                div.muted { "Open incidents" }
                div.v #open-count .s-open[st.incidents.open > 0] { (st.incidents.open) }
            }
            div.card {
                div.muted { "Sites degraded" }
                div.v .s-degraded[degraded > 0] { (degraded) " / " (st.sites.len()) }
            }
            div.card {
                div.muted { "Oldest probe" }
                div.v { @match oldest { Some(a) => (age(a)), None => "—" } }
            }
        }

        h2 { "Sites" }
        table.sites {
            thead { tr {
                th { "Site" } th { "State" } th.num { "Oldest probe" } th.num { "Never probed" }
                th.num { "Probes" } th.num { "Conclusive" } th.num { "Rate (conf. / eff.)" }
                th.num { "Cycle" } th { "robots.txt" } th { "Recent outcomes (newest left)" }
            } }
            tbody {
                @for s in &st.sites {
                    @let stale = s.oldest_probe_age_seconds.is_some_and(|a| a > s.max_staleness_seconds);
                    @let recent = o.coverage.iter().find(|(n, _)| *n == s.name).map(|(_, c)| c.recent.as_slice()).unwrap_or(&[]);
                    tr {
                        td {
                            (s.name) @if !s.enabled { " " span.muted { "(disabled)" } }
                            @if let (Some(by), Some(since)) = (&s.held_by, &s.held_since) {
                                br; span.muted title={"since " (since)} { "probed by " (by) }
                            }
                        }
                        td {
                            span class={"badge s-" (s.state)} { (s.state) }
                            @if let Some(r) = &s.state_reason { br; span.muted { (r) } }
                        }
                        td.num {
                            @match s.oldest_probe_age_seconds {
                                Some(a) => span .s-stale[stale] title={"max_staleness " (age(s.max_staleness_seconds))} { (age(a)) },
                                None => span.muted { "—" },
                            }
                        }
                        td.num { (s.never_probed) }
                        td.num { (s.probes_total) }
                        td.num { @match s.conclusive_share { Some(c) => (format!("{:.1} %", c * 100.0)), None => "—" } }
                        td.num {
                            (format!("{:.2}", s.configured_rate_per_second)) " / "
                            @match s.effective_rate_per_second { Some(r) => (format!("{r:.2}")), None => "—" } " /s"
                        }
                        td.num { (age(s.predicted_cycle_seconds.round() as u64)) }
                        td.robots { (robots_cell(&s.robots)) }
                        td {
                            div.strip {
                                @for k in recent {
                                    span class={"o-" (k.as_str())} title=(k.as_str()) {}
                                }
                            }
                        }
                    }
                }
            }
        }

        h2 { "The last 24 hours" }
        div.charts #charts {
            @for s in &st.sites {
                @let bars = o.charts.get(&s.name).cloned().unwrap_or_else(|| vec![[0; 3]; CHART_BUCKETS]);
                figure.site-chart data-site=(s.name) {
                    figcaption {
                        strong { (s.name) } " · probes per 15 minutes by outcome"
                        span.muted { " (" span.legend-clean { "clean" } ", " span.legend-inconclusive { "inconclusive" } ", " span.legend-exposed { "exposed" } ")" }
                    }
                    (PreEscaped(svg::probe_chart(&s.name, o.chart_start, 15, &bars)))
                    div.muted {
                        "Oldest probe: "
                        @match s.oldest_probe_age_seconds { Some(a) => (age(a)), None => "—" }
                        " against max_staleness " (age(s.max_staleness_seconds))
                    }
                    (PreEscaped(svg::staleness_bar(&s.name, s.oldest_probe_age_seconds, s.max_staleness_seconds)))
                }
            }
        }

        h2 { "Open incidents" }
        @if o.open.is_empty() {
            p.muted #no-open { "No open incidents." }
        } @else {
            (incidents_table(&o.open[..o.open.len().min(OVERVIEW_INCIDENTS)]))
            @if o.open.len() > OVERVIEW_INCIDENTS {
                p { a href="/dashboard/incidents?state=open" { "All " (o.open.len()) " open incidents" } }
            }
        }

        @if !o.recent.is_empty() {
            h2 { "Latest probes of exposed entries" }
            table.probes {
                thead { tr { th { "Time" } th { "Site" } th { "Entry ref" } th { "Outcome" } th.num { "HTTP" } th { "Page SHA-256" } } }
                tbody {
                    @for (r, p) in &o.recent {
                        tr {
                            td { (time_cell(p.time)) }
                            td { (p.site) }
                            td { a href=(entry_href(r)) { (r) } }
                            td { (outcome_badge(p.outcome)) }
                            td.num { @match p.http_status { Some(s) => (s), None => "—" } }
                            td { (sha_cell(p.page_sha256.as_deref())) }
                        }
                    }
                }
            }
        }

        h2 { "Silences" }
        @if o.silences.is_empty() {
            p.muted #no-silences { "None in force: every alert is delivered." }
        } @else {
            (silences_table(&o.silences, o.now, who.can_act().then_some(who.csrf.as_str())))
        }
        @if who.can_act() {
            (silence_form(&who.csrf, &st.sites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()))
        }

        h2 { "Alert receivers" }
        @if st.alerts.is_empty() {
            p.muted { "No receivers configured." }
        } @else {
            (receivers_table(&st.alerts))
        }
    };
    page(
        StatusCode::OK,
        "Overview",
        Some(Nav::Overview),
        Some(&who),
        body,
    )
}

// ---------------------------------------------------------------- incidents

#[derive(Debug, Deserialize)]
struct StateQuery {
    state: Option<String>,
    /// `cohort`: grouped by the entries' cohort.
    group: Option<String>,
}

#[utoipa::path(get, path = "/dashboard/incidents", tag = "dashboard",
    params(("state" = Option<String>, Query, description = "open, or all (default)"),
           ("group" = Option<String>, Query, description = "cohort: grouped by the entries' cohort")),
    responses((status = 200, description = "HTML", content_type = "text/html"), (status = 303)))]
async fn incidents(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Query(q): Query<StateQuery>,
) -> Response {
    let open_only = q.state.as_deref() == Some("open");
    if q.group.as_deref() == Some("cohort") {
        return incidents_by_cohort(d, &who, open_only).await;
    }
    let store = d.app.store().clone();
    let list = match blocking(move || store.incidents(open_only)).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let body = html! {
        h1 { @if open_only { "Open incidents" } @else { "All incidents" } }
        p.noprint {
            @if open_only { a href="/dashboard/incidents" { "Show all" } }
            @else { a href="/dashboard/incidents?state=open" { "Show open only" } }
            " · "
            a href={ "/dashboard/incidents?group=cohort" (if open_only { "&state=open" } else { "" }) } { "By cohort" }
        }
        @if list.is_empty() {
            p.muted { "No incidents." }
        } @else {
            (incidents_table(&list))
        }
    };
    page(
        StatusCode::OK,
        "Incidents",
        Some(Nav::Incidents),
        Some(&who),
        body,
    )
}

/// `/dashboard/incidents?group=cohort`: one table per cohort, the biggest
/// first, each with how much of the cohort is exposed (a mass leak is
/// usually one migration or export).
async fn incidents_by_cohort(d: Dash, who: &Viewer, open_only: bool) -> Response {
    let store = d.app.store().clone();
    let groups = match blocking(move || store.incidents_by_cohort(open_only)).await {
        Ok(g) => g,
        Err(e) => return failed(e),
    };
    let body = html! {
        h1 { @if open_only { "Open incidents by cohort" } @else { "All incidents by cohort" } }
        p.noprint {
            a href={ "/dashboard/incidents" (if open_only { "?state=open" } else { "" }) } { "Ungrouped" }
            " · "
            @if open_only { a href="/dashboard/incidents?group=cohort" { "Show all" } }
            @else { a href="/dashboard/incidents?group=cohort&state=open" { "Show open only" } }
        }
        @if groups.is_empty() {
            p.muted { "No incidents." }
        }
        @for g in &groups {
            h2 {
                @match &g.cohort { Some(c) => { "Cohort " (c) }, None => "No cohort" }
                " — " (g.incidents.len()) " incident(s); "
                (g.exposed_in_cohort) " of " (g.cohort_size) " entries of the cohort exposed now"
            }
            (incidents_table(&g.incidents))
        }
    };
    page(
        StatusCode::OK,
        "Incidents by cohort",
        Some(Nav::Incidents),
        Some(who),
        body,
    )
}

/// One row of an incident's timeline: a probe, a lifecycle mark, or what
/// an analyst did.
enum Row<'a> {
    Probe(&'a ProbeView),
    Mark(Ts, &'static str),
    Action(&'a ActionView),
}

impl Row<'_> {
    /// At one instant: the probe, then what it caused, then what people
    /// did about it.
    fn key(&self) -> (Ts, u8) {
        match self {
            Row::Probe(p) => (p.time, 0),
            Row::Mark(t, _) => (*t, 1),
            Row::Action(a) => (a.time, 2),
        }
    }
}

/// One incident's page as one maud template (its timeline merges three
/// sources in place), read top to bottom like the page.
#[allow(clippy::too_many_lines)]
#[utoipa::path(get, path = "/dashboard/incidents/{id}", tag = "dashboard",
    params(("id" = String, Path), ("done" = Option<String>, Query, description = "what the last form did (a notice)")),
    responses((status = 200, description = "HTML", content_type = "text/html"), (status = 303),
              (status = 404, description = "unknown incident")))]
async fn incident(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Path(id): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Response {
    let store = d.app.store().clone();
    let wanted = id.clone();
    let found = blocking(move || {
        let Some(inc) = store.incidents(false)?.into_iter().find(|i| i.id == wanted) else {
            return Ok(None);
        };
        let probes: Vec<ProbeView> = store
            .history(&inc.entry_ref)?
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.site == inc.site)
            .collect();
        let actions = store.incident_actions(&inc.id)?;
        let takedowns = store.takedowns(&inc.id)?;
        Ok(Some((inc, probes, actions, takedowns)))
    })
    .await;
    let (inc, probes, actions, takedowns) = match found {
        Ok(Some(x)) => x,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "Unknown incident",
                Some(Nav::Incidents),
                Some(&who),
                html! { h1 { "Unknown incident" } p { "No incident has that id." } },
            );
        }
        Err(e) => return failed(e),
    };
    let hidden = probes.len().saturating_sub(MAX_ROWS);
    let shown = &probes[hidden..];
    // The last clean probe before the exposure bounds when it began.
    let last_clean_before = probes
        .iter()
        .rev()
        .find(|p| p.time < inc.first_seen && p.outcome == OutcomeKind::Clean);
    let mut rows: Vec<Row<'_>> = shown.iter().map(Row::Probe).collect();
    // Every action, even those older than the probes shown: there are few,
    // and each is a decision the timeline must not hide.
    rows.extend(actions.iter().map(Row::Action));
    rows.push(Row::Mark(inc.first_seen, "first seen: incident opened"));
    if inc.last_seen != inc.first_seen {
        rows.push(Row::Mark(inc.last_seen, "last seen exposed"));
    }
    if let Some(t) = inc.resolved_at {
        rows.push(Row::Mark(t, "resolved"));
    }
    for t in &takedowns {
        rows.push(Row::Mark(t.requested_at, "takedown requested"));
    }
    rows.sort_by_key(Row::key);
    let dismissal = dismissal_in_force(&actions);
    let counts = |k: OutcomeKind| probes.iter().filter(|p| p.outcome == k).count();
    let site = d.app.settings.sites.iter().find(|s| s.name == inc.site);
    let contact = site.and_then(|s| s.takedown_contact.clone());
    let sla = site.map_or(crate::config::DEFAULT_TAKEDOWN_SLA, |s| s.takedown_sla);
    let picture = svg::timeline(&timeline_of(&inc, &probes, &takedowns, last_clean_before));
    let body = html! {
        h1 { "Incident " span.mono #incident-id { (inc.id) } }
        @if let Some(msg) = done.message() {
            p.flash #flash role="status" { (msg) }
        }
        div.picture #exposure-window { (PreEscaped(picture)) }
        dl.facts {
            dt { "State" } dd #incident-state { (state_badge(inc.state)) }
            @if let Some(d) = dismissal {
                dt { "False positive" } dd #incident-dismissal {
                    "dismissed " (time_cell(d.time)) " by " span.actor { (d.actor) }
                    "; that listing is ignored for this entry on this site"
                }
            }
            dt { "Site" } dd { (inc.site) }
            dt { "Entry ref" } dd { a href=(entry_href(&inc.entry_ref)) { (inc.entry_ref) } }
            dt { "Number" } dd.mono #incident-number { (inc.masked_number) }
            dt { "Exposed" } dd #incident-exposed { (exposed(&inc)) }
            dt { "First seen" } dd { (time_cell(inc.first_seen)) }
            dt { "Last seen" } dd { (time_cell(inc.last_seen)) }
            dt { "Resolved" } dd { @match inc.resolved_at { Some(t) => (time_cell(t)), None => span.muted { "not yet" } } }
            dt { "Last clean probe before" } dd {
                @match last_clean_before {
                    Some(p) => { (time_cell(p.time)) " " (sha_cell(p.page_sha256.as_deref())) },
                    None => span.muted { "none recorded" },
                }
            }
            dt { "Probes on this site" } dd {
                (probes.len()) " (" (counts(OutcomeKind::Clean)) " clean, "
                (counts(OutcomeKind::Exposed)) " exposed, "
                (counts(OutcomeKind::Inconclusive)) " inconclusive)"
            }
            dt { "Takedown contact" } dd #takedown-contact {
                @match &contact {
                    Some(c) => (c),
                    None => span.muted { "not configured (" code { "takedown_contact" } " in the site's table)" },
                }
            }
            dt { "Takedown deadline" } dd { (age(sla.as_secs())) " after the first request (" code { "takedown_sla" } ")" }
        }
        h2 { "Takedown requests" }
        @if takedowns.is_empty() {
            p.muted #no-takedowns { "Nobody has recorded a request for removal yet." }
        } @else {
            (takedowns_table(&takedowns))
        }
        @if who.can_act() && matches!(inc.state, IncidentState::Open | IncidentState::Acknowledged) {
            (takedown_form(&who.csrf, &inc.id))
        }
        h2 { "Actions" }
        @if actions.is_empty() {
            p.muted #no-actions { "Nobody has acknowledged or dismissed this incident." }
        } @else {
            (actions_table(&actions))
        }
        @if who.can_act() && matches!(inc.state, IncidentState::Open | IncidentState::Acknowledged) {
            (action_form(&who.csrf, &inc, dismissal.is_some()))
        }
        h2 { "Timeline" }
        @if hidden > 0 {
            p.muted { (hidden) " earlier probes are not shown; " code { "unlistd history " (inc.entry_ref) } " lists them all." }
        }
        table.timeline #timeline {
            thead { tr { th { "Time" } th { "Event" } th.num { "HTTP" } th { "Page SHA-256" } th { "Reason" } } }
            tbody {
                @for r in &rows {
                    @match r {
                        Row::Probe(p) => tr.probe {
                            td { (time_cell(p.time)) }
                            td { "probe " (outcome_badge(p.outcome)) }
                            td.num { @match p.http_status { Some(s) => (s), None => "—" } }
                            td { (sha_cell(p.page_sha256.as_deref())) }
                            td { @match &p.reason { Some(x) => (x), None => span.muted { "—" } } }
                        },
                        Row::Mark(t, what) => tr.mark {
                            td { (time_cell(*t)) }
                            td colspan="4" { (what) }
                        },
                        Row::Action(a) => tr.action {
                            td { (time_cell(a.time)) }
                            td colspan="4" {
                                (action_label(a.action)) " by " span.actor { (a.actor) }
                                ": " span.reason { (a.reason) }
                            }
                        },
                    }
                }
            }
        }
    };
    page(
        StatusCode::OK,
        &format!("Incident {}", inc.id),
        Some(Nav::Incidents),
        Some(&who),
        body,
    )
}

// ---------------------------------------------------------------- acting

/// `?done=…` after a form: which notice to show (never echoed text).
#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

impl DoneQuery {
    fn message(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "ack" => "Acknowledged: reminders stop; it resolves only after clean probes.",
            "dismiss" => "Dismissed as a false positive for this entry on this site.",
            "undismiss" => "Dismissal withdrawn: it is a live exposure again.",
            "takedown" => "Takedown request recorded.",
            _ => return None,
        })
    }
}

/// The exposure-window picture's input from what the incident page holds:
/// the clean probes after the last sighting close it.
fn timeline_of(
    inc: &IncidentView,
    probes: &[ProbeView],
    takedowns: &[TakedownView],
    last_clean_before: Option<&ProbeView>,
) -> svg::Timeline {
    let closing = probes
        .iter()
        .filter(|p| p.outcome == OutcomeKind::Clean && p.time > inc.last_seen)
        .filter(|p| inc.resolved_at.is_none_or(|r| p.time <= r))
        .map(|p| p.time)
        .collect();
    svg::Timeline {
        last_clean_before: last_clean_before.map(|p| p.time),
        first_seen: inc.first_seen,
        last_seen: inc.last_seen,
        closing,
        resolved_at: inc.resolved_at,
        takedowns: takedowns.iter().map(|t| t.requested_at).collect(),
        now: Ts::now_utc(),
    }
}

fn takedowns_table(list: &[TakedownView]) -> Markup {
    html! {
        table.takedowns #takedowns {
            thead { tr { th { "Requested" } th { "Via" } th { "Ticket" } th { "By" } } }
            tbody {
                @for t in list {
                    tr {
                        td { (time_cell(t.requested_at)) }
                        td.via { (t.via) }
                        td.ticket { @match &t.ticket { Some(x) => (x), None => span.muted { "—" } } }
                        td.actor { (t.actor) }
                    }
                }
            }
        }
    }
}

fn takedown_form(csrf: &str, id: &str) -> Markup {
    html! {
        form.act #takedown-form method="post" action={"/dashboard/incidents/" (pct(id)) "/act"} {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="action" value="takedown";
            label { "Requested via" input #takedown-via type="text" name="via" placeholder="the site's removal form" required; }
            label { "Ticket" input #takedown-ticket type="text" name="ticket" placeholder="optional"; }
            button type="submit" { "Record takedown request" }
        }
    }
}

/// Ack, and dismiss or its undo, with a reason.
fn action_form(csrf: &str, inc: &IncidentView, dismissed: bool) -> Markup {
    html! {
        form.act #action-form method="post" action={"/dashboard/incidents/" (pct(&inc.id)) "/act"} {
            input type="hidden" name="csrf" value=(csrf);
            label { "Reason" input #action-reason type="text" name="reason" required; }
            @if inc.state == IncidentState::Open {
                button #ack-button type="submit" name="action" value="ack" { "Acknowledge" }
            }
            @if dismissed {
                button #undismiss-button type="submit" name="action" value="undismiss" { "Withdraw dismissal" }
            } @else {
                button #dismiss-button type="submit" name="action" value="dismiss" { "Dismiss as false positive" }
            }
        }
    }
}

/// Whether a form's CSRF token is the viewer's (constant time).
fn csrf_ok(who: &Viewer, presented: Option<&str>) -> bool {
    let Some(p) = presented else { return false };
    let a = Sha256::digest(who.csrf.as_bytes());
    let b = Sha256::digest(p.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// The refusal of a form without the right CSRF token, or from a viewer
/// whose role may not act; `None` when it may go ahead.
fn refusal(who: &Viewer, csrf: Option<&str>) -> Option<Response> {
    if !csrf_ok(who, csrf) {
        tracing::warn!(who = %who.name, "Dashboard form refused: missing or wrong CSRF token.");
        return Some(refused(
            who,
            "This form is out of date or did not come from this dashboard (CSRF token). Reload the page and try again.",
        ));
    }
    if !who.can_act() {
        return Some(refused(
            who,
            "Your token's role is read: it may look, not act.",
        ));
    }
    None
}

fn refused(who: &Viewer, why: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Refused",
        Some(Nav::Incidents),
        Some(who),
        html! { h1 { "Refused" } p.error #refused role="alert" { (why) } },
    )
}

/// What a form asked for could not be done (bad input, a state that does
/// not allow it).
fn not_done(who: &Viewer, status: StatusCode, why: &str, back: &str) -> Response {
    page(
        status,
        "Not done",
        Some(Nav::Incidents),
        Some(who),
        html! {
            h1 { "Not done" }
            p.error #not-done role="alert" { (why) }
            p { a href=(back) { "Back" } }
        },
    )
}

fn store_refusal(who: &Viewer, e: StoreError, back: &str) -> Response {
    match e {
        StoreError::NotFound(m) => not_done(who, StatusCode::NOT_FOUND, &m, back),
        StoreError::Conflict(m) => not_done(who, StatusCode::CONFLICT, &m, back),
        StoreError::BadInput(m) => not_done(who, StatusCode::BAD_REQUEST, &m, back),
        e => failed(e),
    }
}

fn ops_refusal(who: &Viewer, e: crate::ops::OpsError, back: &str) -> Response {
    match e {
        crate::ops::OpsError::Invalid { message, field } => not_done(
            who,
            StatusCode::BAD_REQUEST,
            &format!("{field:?}: {message}").to_lowercase(),
            back,
        ),
        crate::ops::OpsError::Store(e) => store_refusal(who, e, back),
    }
}

/// The incident forms' fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ActForm {
    csrf: Option<String>,
    /// `ack`, `dismiss`, `undismiss` or `takedown`.
    action: String,
    reason: Option<String>,
    via: Option<String>,
    ticket: Option<String>,
}

/// Ack, dismiss, undismiss or record a takedown from the incident page
/// (act role, CSRF token); then back to the incident.
#[utoipa::path(post, path = "/dashboard/incidents/{id}/act", tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = ActForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "done: back to the incident"),
              (status = 400), (status = 403, description = "no or a wrong CSRF token, or a read role"),
              (status = 404), (status = 409)))]
async fn incident_act(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    if let Some(r) = refusal(&who, f.csrf.as_deref()) {
        return r;
    }
    let back = incident_href(&id);
    let store = d.app.store();
    let done = match f.action.as_str() {
        "takedown" => crate::ops::takedown(
            store,
            &id,
            f.via.as_deref().unwrap_or(""),
            f.ticket.as_deref(),
            &who.name,
        )
        .await
        .map(|_| "takedown")
        .map_err(|e| ops_refusal(&who, e, &back)),
        a => {
            let Some(action) = IncidentAction::parse(a) else {
                return not_done(&who, StatusCode::BAD_REQUEST, "unknown action", &back);
            };
            let reason = match crate::ops::Reason::new(f.reason.as_deref().unwrap_or("")) {
                Ok(r) => r,
                Err(e) => return ops_refusal(&who, e, &back),
            };
            crate::ops::incident_action(store, &id, action, &reason, &who.name)
                .await
                .map(|_| action.as_str())
                .map_err(|e| store_refusal(&who, e, &back))
        }
    };
    match done {
        Ok(what) => {
            tracing::info!(who = %who.name, incident = %id, action = what, "Dashboard action.");
            Redirect::to(&format!("{back}?done={what}")).into_response()
        }
        Err(r) => r,
    }
}

/// The silence form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SilenceForm {
    csrf: Option<String>,
    site: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    cohort: Option<String>,
    duration: String,
    reason: String,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Adds a silence from the overview (act role, CSRF token).
#[utoipa::path(post, path = "/dashboard/silences", tag = "dashboard",
    request_body(content = SilenceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "added: back to the overview"), (status = 400),
              (status = 403)))]
async fn silence_add(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Form(f): Form<SilenceForm>,
) -> Response {
    if let Some(r) = refusal(&who, f.csrf.as_deref()) {
        return r;
    }
    let request = crate::ops::SilenceRequest {
        site: non_empty(&f.site),
        event_type: non_empty(&f.event_type),
        cohort: non_empty(&f.cohort),
        duration: &f.duration,
        reason: &f.reason,
        by: &who.name,
    };
    match crate::ops::add_silence(d.app.store(), &d.app.settings.sites, request).await {
        Ok(_) => Redirect::to("/dashboard#silences").into_response(),
        Err(e) => ops_refusal(&who, e, "/dashboard"),
    }
}

/// The end-silence button's field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CsrfForm {
    csrf: Option<String>,
}

/// Ends a silence early (act role, CSRF token).
#[utoipa::path(post, path = "/dashboard/silences/{id}/end", tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "ended: back to the overview"), (status = 403),
              (status = 404)))]
async fn silence_end(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = refusal(&who, f.csrf.as_deref()) {
        return r;
    }
    match crate::ops::end_silence(d.app.store(), &id, &who.name).await {
        Ok(true) => Redirect::to("/dashboard#silences").into_response(),
        Ok(false) => not_done(
            &who,
            StatusCode::NOT_FOUND,
            "No such silence in force.",
            "/dashboard",
        ),
        Err(e) => store_refusal(&who, e, "/dashboard"),
    }
}

// ---------------------------------------------------------------- entries

#[derive(Debug, Deserialize)]
struct RefQuery {
    #[serde(rename = "ref")]
    entry_ref: Option<String>,
}

/// One entry's page as one maud template (the search form, its incidents,
/// its probes), read top to bottom like the page.
#[allow(clippy::too_many_lines)]
#[utoipa::path(get, path = "/dashboard/entries", tag = "dashboard",
    params(("ref" = Option<String>, Query, description = "the entry's ref")),
    responses((status = 200, description = "HTML", content_type = "text/html"), (status = 303),
              (status = 404, description = "unknown ref")))]
async fn entry(
    State(d): State<Dash>,
    Extension(who): Extension<Viewer>,
    Query(q): Query<RefQuery>,
) -> Response {
    let wanted = q
        .entry_ref
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let form = |value: &str| {
        html! {
            form.search method="get" action="/dashboard/entries" {
                label for="ref-input" { "Entry ref " }
                input #ref-input type="search" name="ref" value=(value) required;
                " "
                button type="submit" { "Show history" }
            }
        }
    };
    let Some(r) = wanted else {
        let body = html! {
            h1 { "Entry history" }
            (form(""))
            p.muted { "Every probe of one roster entry, by the operator's ref." }
        };
        return page(
            StatusCode::OK,
            "Entry history",
            Some(Nav::Entries),
            Some(&who),
            body,
        );
    };
    let store = d.app.store().clone();
    let rr = r.clone();
    let loaded = blocking(move || {
        let Some(h) = store.history(&rr)? else {
            return Ok(None);
        };
        let incs: Vec<IncidentView> = store
            .incidents(false)?
            .into_iter()
            .filter(|i| i.entry_ref == rr)
            .collect();
        Ok(Some((h, incs)))
    })
    .await;
    let (probes, incs) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => {
            let body = html! {
                h1 { "Entry history" }
                (form(&r))
                p.error { "No entry has the ref " code { (r) } "." }
            };
            return page(
                StatusCode::NOT_FOUND,
                "Entry history",
                Some(Nav::Entries),
                Some(&who),
                body,
            );
        }
        Err(e) => return failed(e),
    };
    let hidden = probes.len().saturating_sub(MAX_ROWS);
    let body = html! {
        h1 { "Entry " code #entry-ref { (r) } }
        (form(&r))
        @if !incs.is_empty() {
            h2 { "Incidents" }
            (incidents_table(&incs))
        }
        h2 { "Probes (" (probes.len()) ", newest first)" }
        @if hidden > 0 {
            p.muted { (hidden) " older probes are not shown; " code { "unlistd history " (r) } " lists them all." }
        }
        @if probes.is_empty() {
            p.muted { "Not probed yet." }
        } @else {
            table.history {
                thead { tr { th { "Time" } th { "Site" } th { "Outcome" } th.num { "HTTP" } th { "Page SHA-256" } th { "Reason" } } }
                tbody {
                    @for p in probes[hidden..].iter().rev() {
                        tr {
                            td { (time_cell(p.time)) }
                            td { (p.site) }
                            td { (outcome_badge(p.outcome)) }
                            td.num { @match p.http_status { Some(s) => (s), None => "—" } }
                            td { (sha_cell(p.page_sha256.as_deref())) }
                            td { @match &p.reason { Some(x) => (x), None => span.muted { "—" } } }
                        }
                    }
                }
            }
        }
    };
    page(
        StatusCode::OK,
        "Entry history",
        Some(Nav::Entries),
        Some(&who),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m 1s");
        assert_eq!(age(3 * 3600 + 120), "3h 2m");
        assert_eq!(age(2 * 86_400 + 5 * 3600), "2d 5h");
    }

    #[test]
    fn refs_are_encoded_in_links() {
        assert_eq!(entry_href("R-03"), "/dashboard/entries?ref=R-03");
        assert_eq!(
            entry_href("a b&c=\"<x>\""),
            "/dashboard/entries?ref=a%20b%26c%3D%22%3Cx%3E%22"
        );
        assert_eq!(incident_href("inc_1/2"), "/dashboard/incidents/inc_1%2F2");
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; unlistd_session=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    fn api_with(tokens: &[(&str, &[u8], Role)]) -> ApiSettings {
        ApiSettings {
            listen: "127.0.0.1:9477".parse().unwrap(),
            tokens: tokens
                .iter()
                .map(|(n, t, r)| crate::config::ApiToken {
                    name: (*n).into(),
                    token: t.to_vec(),
                    role: *r,
                })
                .collect(),
            trusted_user: None,
            allow_remote: false,
            hostnames: Vec::new(),
        }
    }

    #[test]
    fn sessions_name_their_viewer_and_end_with_their_token() {
        let s = Sessions::default();
        let api = api_with(&[("alice", b"t-a", Role::Act), ("viewer", b"t-r", Role::Read)]);
        let id = s.create("alice", Sha256::digest(b"t-a").into());
        let v = s.viewer(Some(&id), &api).unwrap();
        assert_eq!((v.name.as_str(), v.role), ("alice", Role::Act));
        assert!(v.can_act() && v.csrf.len() >= 40);
        assert!(s.viewer(Some("nope"), &api).is_none());
        assert!(s.viewer(None, &api).is_none());
        // The role is the one configured now.
        let demoted = api_with(&[("alice", b"t-a", Role::Read)]);
        assert!(!s.viewer(Some(&id), &demoted).unwrap().can_act());
        // A rotated (or removed) token ends the sessions it opened.
        let rotated = api_with(&[("alice", b"t-new", Role::Act)]);
        assert!(s.viewer(Some(&id), &rotated).is_none());
        assert!(s.viewer(Some(&id), &api_with(&[])).is_none());
        // Each session has its own CSRF token.
        let other = s.create("alice", Sha256::digest(b"t-a").into());
        assert_ne!(s.viewer(Some(&other), &api).unwrap().csrf, v.csrf);
        assert!(csrf_ok(&v, Some(&v.csrf)));
        assert!(!csrf_ok(&v, Some("forged")) && !csrf_ok(&v, None));
        s.remove(Some(&id));
        assert!(s.viewer(Some(&id), &api).is_none());
        // The table stays bounded.
        for _ in 0..MAX_SESSIONS + 10 {
            s.create("alice", [0; 32]);
        }
        assert!(s.live.lock().unwrap().len() <= MAX_SESSIONS);
    }

    const T0: Ts = time::macros::datetime!(2026-11-27 21:40:00 UTC);

    fn act(action: IncidentAction, actor: &str, reason: &str, min: i64) -> ActionView {
        ActionView {
            incident_id: "inc_1".into(),
            action,
            actor: actor.into(),
            reason: reason.into(),
            time: T0 + time::Duration::minutes(min),
        }
    }

    #[test]
    fn acknowledged_looks_different_from_open() {
        let open = state_badge(IncidentState::Open).into_string();
        let acked = state_badge(IncidentState::Acknowledged).into_string();
        assert!(open.contains("s-open") && !open.contains("s-acknowledged"));
        assert!(acked.contains("s-acknowledged") && acked.contains(">acknowledged<"));
        assert!(acked.contains("only after clean probes"), "{acked}");
        assert!(CSS.contains(".badge.s-acknowledged { border-style: dashed; }"));
    }

    #[test]
    fn only_an_unwithdrawn_dismissal_is_in_force() {
        use IncidentAction::*;
        assert!(dismissal_in_force(&[]).is_none());
        assert!(dismissal_in_force(&[act(Ack, "a", "r", 0)]).is_none());
        let d = [act(Dismiss, "bob", "r", 0), act(Ack, "a", "r", 1)];
        assert_eq!(
            dismissal_in_force(&d).map(|a| a.actor.as_str()),
            Some("bob")
        );
        let withdrawn = [act(Dismiss, "bob", "r", 0), act(Undismiss, "eve", "r", 1)];
        assert!(dismissal_in_force(&withdrawn).is_none());
        let again = [
            act(Dismiss, "bob", "r", 0),
            act(Undismiss, "eve", "r", 1),
            act(Dismiss, "dan", "r", 2),
        ];
        assert_eq!(
            dismissal_in_force(&again).map(|a| a.actor.as_str()),
            Some("dan")
        );
    }

    #[test]
    fn actions_are_listed_escaped() {
        let h = actions_table(&[
            act(IncidentAction::Ack, "alice & <bob>", "<b>on it</b>", 0),
            act(IncidentAction::Dismiss, "carol", "a namesake", 5),
        ])
        .into_string();
        assert!(h.contains("alice &amp; &lt;bob&gt;"), "{h}");
        assert!(h.contains("&lt;b&gt;on it&lt;/b&gt;"), "{h}");
        assert!(!h.contains("<b>"), "{h}");
        assert!(h.contains(">acknowledged<") && h.contains(">dismissed as a false positive<"));
        assert!(h.contains("2026-11-27T21:45:00Z"), "{h}");
    }

    #[test]
    fn timeline_rows_sort_probe_then_mark_then_action() {
        let p = ProbeView {
            time: T0,
            site: "118.dk".into(),
            outcome: OutcomeKind::Exposed,
            http_status: Some(200),
            page_sha256: None,
            reason: None,
            why: vec![],
        };
        let a = act(IncidentAction::Ack, "a", "r", 0);
        let early = act(IncidentAction::Ack, "a", "r", -1);
        let mut rows = [
            Row::Action(&a),
            Row::Mark(T0, "first seen: incident opened"),
            Row::Probe(&p),
            Row::Action(&early),
        ];
        rows.sort_by_key(Row::key);
        let kinds: Vec<&str> = rows
            .iter()
            .map(|r| match r {
                Row::Probe(_) => "probe",
                Row::Mark(..) => "mark",
                Row::Action(a) if a.time < T0 => "early action",
                Row::Action(_) => "action",
            })
            .collect();
        assert_eq!(kinds, ["early action", "probe", "mark", "action"]);
    }

    #[test]
    fn silences_show_scope_expiry_and_escaped_reason() {
        let s = SilenceView {
            id: "sil_1".into(),
            site: Some("118.dk".into()),
            event_type: None,
            cohort: None,
            reason: "<b>x</b>".into(),
            created_by: "dave".into(),
            created_at: T0,
            expires_at: T0 + time::Duration::hours(2),
            ended_at: None,
        };
        let h = silences_table(&[s], T0 + time::Duration::minutes(1), None).into_string();
        assert!(h.contains("<td>118.dk</td>"), "{h}");
        assert_eq!(h.matches(">any<").count(), 2, "{h}");
        assert!(
            h.contains("2026-11-27T23:40:00Z") && h.contains("(in 1h 59m)"),
            "{h}"
        );
        assert!(
            h.contains("&lt;b&gt;x&lt;/b&gt;") && !h.contains("<b>"),
            "{h}"
        );
        assert_eq!(remaining(T0, T0), "ending");
        assert_eq!(remaining(T0 + time::Duration::seconds(90), T0), "in 1m 30s");
    }

    #[test]
    fn a_failed_reload_is_red_with_its_error() {
        let failed = reload_notice(&wire::LastReload {
            result: "error",
            time: "2026-11-27T21:40:00Z".into(),
            error: Some("config.toml:20: sites[0].rate: expected N/s, found \"<fast>\"".into()),
            needs_restart: vec![],
        })
        .into_string();
        assert!(failed.contains("class=\"callout failed\"") && failed.contains("role=\"alert\""));
        assert!(failed.contains("FAILED"));
        assert!(
            failed.contains("sites[0].rate: expected N/s, found &quot;&lt;fast&gt;&quot;"),
            "{failed}"
        );
        let ok = reload_notice(&wire::LastReload {
            result: "ok",
            time: "2026-11-27T21:40:00Z".into(),
            error: None,
            needs_restart: vec!["api.listen".into(), "store.path".into()],
        })
        .into_string();
        assert!(!ok.contains("failed") && !ok.contains("role="), "{ok}");
        assert!(
            ok.contains("<code>api.listen</code>, <code>store.path</code>"),
            "{ok}"
        );
    }

    #[test]
    fn robots_overrides_show_their_reason_and_delay() {
        let honoured = robots_cell(&wire::RobotsStatus {
            honoured: true,
            reason: None,
            crawl_delay_seconds: None,
        })
        .into_string();
        assert!(honoured.contains("honoured") && !honoured.contains("not honoured"));
        let paced = robots_cell(&wire::RobotsStatus {
            honoured: true,
            reason: None,
            crawl_delay_seconds: Some(4.0),
        })
        .into_string();
        assert!(paced.contains("Crawl-delay 4 s"), "{paced}");
        let over = robots_cell(&wire::RobotsStatus {
            honoured: false,
            reason: Some("contract §4 & <written> consent".into()),
            crawl_delay_seconds: None,
        })
        .into_string();
        assert!(over.contains("not honoured"), "{over}");
        assert!(
            over.contains("contract §4 &amp; &lt;written&gt; consent"),
            "{over}"
        );
        assert_eq!(seconds(1.5), "1.5 s");
        assert_eq!(seconds(0.25), "0.25 s");
        assert_eq!(seconds(10.0), "10 s");
    }

    #[test]
    fn receivers_show_since_when_they_fail() {
        let r = |since: Option<&str>| wire::ReceiverStatus {
            receiver: "webhook:ops".into(),
            undelivered_events: 0,
            pending_messages: 1,
            delivered_messages: 0,
            failing: since.is_some(),
            failing_since: since.map(String::from),
            last_error: since.map(|_| "http 410".into()),
        };
        let h = receivers_table(&[r(Some("2026-11-27T21:40:00Z")), r(None)]).into_string();
        assert!(
            h.contains(
                "<td class=\"failing-since\"><span class=\"mono\">2026-11-27T21:40:00Z</span></td>"
            ),
            "{h}"
        );
        assert!(h.contains(">failing<") && h.contains(">ok<"), "{h}");
    }

    #[test]
    fn values_are_escaped() {
        let m = html! { td { ("<script>alert(1)</script>") } };
        assert_eq!(
            m.into_string(),
            "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
        );
    }
}
