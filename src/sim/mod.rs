//! A simulated 118.dk-shaped directory on loopback, for the integration
//! tests and `unlistd demo`.
//!
//! It renders the markup `sites.md` §9 describes for 118.dk: page chrome
//! (a header with the search form, which echoes the query the way real
//! directories do, and a footer), `div.result-block#listing{i}` hits with an
//! `h3 > a` name, a `div.description-block` holding `<address>` and one
//! `<p><a href="tel:…">` per number, a trailing "se kort" link, and the
//! project's no-results marker `div.no-results`. Text is HTML-escaped; `å`
//! is always sent as `&aring;` and `æ`/`ø` as entities on odd listing ids,
//! because real pages mix entity and UTF-8 forms.
//!
//! The same listings are also served in two more shapes:
//!
//! - **Eniro** (krak.dk / degulesider.dk, `sites.md` §2 and §9):
//!   `GET /<q>/personer` and `/<q>/personer/<page>` render HTML with visible
//!   cards linking `/<slug>/<eniroId>/person` and a `script#__NEXT_DATA__`
//!   holding `buildId` and `props.pageProps.initialState` (`hits`,
//!   `persons`); `GET /_next/data/<buildId>/da/search/<q>/persons/<page>.json`
//!   answers `{ "pageProps": … }`, without `initialState` when nothing
//!   matches, and 404 for any other build id (tests simulate a deploy with
//!   `SimDirectory::set_build_id`, and one that lands between two pages of
//!   a search with `SimDirectory::deploy_after_next_page`). Floor and door
//!   are folded into `streetNumber` (`"14B, 2. th"`). A query of 8 digits (optionally `+45`) matches a
//!   phone; otherwise every word must occur in the name or the post line.
//! - **hitta.se-shaped** (`sites.md` §5), for declarative-site tests:
//!   `GET /sok?vad=<q>&var=<place>&sida=<page>` (also `/s%C3%B6k`) renders
//!   `[data-test="person-item"]` cards with `[data-test="search-result-title"]`,
//!   an `<address>` and `[data-test="phone-link"]` links, a
//!   `[data-test="next"]` link when there are more pages, and a
//!   `[data-test="no-hits"]` marker when nothing matches. Matching is as for
//!   118.dk (`vad` like `what`, `var` like `where`), 25 per page.
//!
//! `Fault::Drift` renames the Eniro state (`__NEXT_DATA__` script id,
//! `initialState` key) and the hitta `data-test` names as well.
//!
//! Faults (`Fault`, in `faults.rs`) apply to every path except
//! `/robots.txt`, so a test can make the site misbehave without the robots
//! check failing first. `/robots.txt` allows everything unless a test sets
//! another file or a status with `SimDirectory::set_robots`.
//! `SimDirectory::require_header` makes every path (robots.txt included)
//! answer 403 unless the request carries that header and value, like a
//! site that admits only a partner's access token.
//!
//! The fault switches (`faults.rs`) and the recording forward proxy
//! `SimProxy` (`proxy.rs`) exist only for tests: they are compiled with
//! `cfg(test)` or the `testing` feature (which the integration tests turn
//! on through the crate's dev-dependency on itself), never into the release
//! binary. The rest is production code (`unlistd demo` serves it), so
//! nothing a client sends can make it panic.

/// `renamed` while a test's drift fault is on, else `normal`; without the
/// test switches, `normal` only (the renamed markup is not compiled in).
macro_rules! drifted {
    ($drift:expr, $normal:expr, $renamed:expr) => {{
        #[cfg(any(test, feature = "testing"))]
        let chosen = if $drift { $renamed } else { $normal };
        #[cfg(not(any(test, feature = "testing")))]
        let chosen = {
            let _ = $drift;
            $normal
        };
        chosen
    }};
}

mod dk118;
mod eniro;
#[cfg(any(test, feature = "testing"))]
mod faults;
mod hitta;
#[cfg(any(test, feature = "testing"))]
mod proxy;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use eniro::DEFAULT_BUILD_ID;
#[cfg(any(test, feature = "testing"))]
pub use faults::{Fault, SimRobots};
#[cfg(any(test, feature = "testing"))]
pub use proxy::{ProxiedRequest, SimProxy};

/// One person (or business) in the simulated directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimListing {
    pub name: String,
    /// 8-digit national numbers (separators and `+45` are tolerated).
    pub phones: Vec<String>,
    /// `"Ågade 14B, 2. th"`.
    pub street_line: Option<String>,
    /// `"8000 Aarhus C"`.
    pub post_line: Option<String>,
}

/// The default: everything allowed.
pub const PERMISSIVE_ROBOTS: &str = "User-agent: *\nAllow: /\n";

/// Handle to a running simulated directory. Clones share the server; it
/// stops when [`SimDirectory::shutdown`] is called or the last clone drops.
#[derive(Clone)]
pub struct SimDirectory {
    shared: Arc<Shared>,
    guard: Arc<ServerGuard>,
    addr: SocketAddr,
}

impl std::fmt::Debug for SimDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDirectory")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    listings: Mutex<Vec<(u64, SimListing)>>,
    next_id: AtomicU64,
    requests: Mutex<Vec<(Instant, String)>>,
    /// The Eniro-shaped routes' Next.js build id.
    build_id: Mutex<String>,
    #[cfg(any(test, feature = "testing"))]
    faults: faults::Faults,
    /// Releases requests held by the test switches (a delay, a hang).
    #[cfg(any(test, feature = "testing"))]
    shutdown: CancellationToken,
}

struct ServerGuard {
    shutdown: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
    }
}

/// A poisoned lock only means a handler panicked mid-update; the sim keeps
/// serving what it has rather than failing every later request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimDirectory {
    /// Binds `127.0.0.1:0` and serves until shut down.
    pub async fn start() -> std::io::Result<SimDirectory> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            listings: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            requests: Mutex::new(Vec::new()),
            build_id: Mutex::new(DEFAULT_BUILD_ID.to_string()),
            #[cfg(any(test, feature = "testing"))]
            faults: faults::Faults::default(),
            #[cfg(any(test, feature = "testing"))]
            shutdown: shutdown.clone(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            // An accept error ends the sim; the tests then fail on connect,
            // which names the problem better than a panic here would.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(SimDirectory {
            shared,
            guard: Arc::new(ServerGuard {
                shutdown,
                task: Mutex::new(Some(task)),
            }),
            addr,
        })
    }

    /// `"http://127.0.0.1:PORT"`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, l: SimListing) {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.listings).push((id, l));
    }

    /// Removes every listing that shows this number; returns how many.
    pub fn remove_number(&self, digits8: &str) -> usize {
        let Some(n) = national_digits(digits8) else {
            return 0;
        };
        let mut g = lock(&self.shared.listings);
        let before = g.len();
        g.retain(|(_, l)| !l.phones.iter().any(|p| same_number(p, &n)));
        before - g.len()
    }

    pub fn clear(&self) {
        lock(&self.shared.listings).clear();
    }

    /// The Eniro-shaped routes' current build id ([`DEFAULT_BUILD_ID`]
    /// until a test simulates a deploy).
    pub fn build_id(&self) -> String {
        lock(&self.shared.build_id).clone()
    }

    /// Every request received (any path, `/robots.txt` included), in
    /// arrival order, as path and query.
    pub fn requests(&self) -> Vec<(Instant, String)> {
        lock(&self.shared.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Stops accepting, releases hanging requests, and waits briefly for
    /// open connections to close before cutting them off.
    pub async fn shutdown(self) {
        self.guard.shutdown.cancel();
        let task = lock(&self.guard.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Shared {
    fn record(&self, path_and_query: String) {
        lock(&self.requests).push((Instant::now(), path_and_query));
    }

    /// Listings matching a search, in insertion order.
    fn search(&self, what: &str, where_: &str) -> Vec<(u64, SimListing)> {
        let all = lock(&self.listings);
        if let Some(n) = national_digits(what) {
            return all
                .iter()
                .filter(|(_, l)| l.phones.iter().any(|p| same_number(p, &n)))
                .cloned()
                .collect();
        }
        let what = what.trim().to_lowercase();
        let where_ = where_.trim().to_lowercase();
        if what.is_empty() && where_.is_empty() {
            return Vec::new();
        }
        // Like a directory's free-text search: every word of the query must
        // appear in the name, in any order.
        let words: Vec<&str> = what.split_whitespace().collect();
        all.iter()
            .filter(|(_, l)| {
                let name = l.name.to_lowercase();
                words.iter().all(|w| name.contains(w))
            })
            .filter(|(_, l)| {
                where_.is_empty()
                    || l.post_line
                        .as_deref()
                        .is_some_and(|p| p.to_lowercase().contains(&where_))
            })
            .cloned()
            .collect()
    }

    /// Eniro-style free-text search: a number matches a phone; otherwise
    /// every word must occur in the name or the post line.
    fn search_words(&self, q: &str) -> Vec<(u64, SimListing)> {
        let all = lock(&self.listings);
        if let Some(n) = national_digits(q) {
            return all
                .iter()
                .filter(|(_, l)| l.phones.iter().any(|p| same_number(p, &n)))
                .cloned()
                .collect();
        }
        let q = q.to_lowercase();
        let words: Vec<&str> = q.split_whitespace().collect();
        if words.is_empty() {
            return Vec::new();
        }
        all.iter()
            .filter(|(_, l)| {
                let name = l.name.to_lowercase();
                let post = l.post_line.as_deref().unwrap_or("").to_lowercase();
                words.iter().all(|w| name.contains(w) || post.contains(w))
            })
            .cloned()
            .collect()
    }

    fn by_id(&self, id: u64) -> Option<SimListing> {
        lock(&self.listings)
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, l)| l.clone())
    }
}

impl Shared {
    /// The build id an Eniro page is rendered with. With a next page, a
    /// deploy a test queued lands right after it.
    fn page_build_id(&self, has_next: bool) -> String {
        #[cfg(any(test, feature = "testing"))]
        {
            let mut current = lock(&self.build_id);
            let served = current.clone();
            if has_next && let Some(next) = self.faults.next_deploy() {
                *current = next;
            }
            served
        }
        #[cfg(not(any(test, feature = "testing")))]
        {
            let _ = has_next;
            lock(&self.build_id).clone()
        }
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let uri = req.uri().clone();
    s.record(
        uri.path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
    );
    #[cfg(any(test, feature = "testing"))]
    s.faults.delay(&s.shutdown).await;
    let has_session = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().starts_with("JSESSIONID=")));

    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    #[cfg(any(test, feature = "testing"))]
    if let Some(refused) = s.faults.refuse(req.headers()) {
        return refused;
    }
    if uri.path() == "/robots.txt" {
        #[cfg(any(test, feature = "testing"))]
        return s.faults.robots();
        #[cfg(not(any(test, feature = "testing")))]
        return (
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            PERMISSIVE_ROBOTS,
        )
            .into_response();
    }

    let mut resp = serve(&s, uri.path(), uri.query().unwrap_or("")).await;
    if !has_session {
        let id: u128 = rand::rng().random();
        if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={id:032X}; Path=/; HttpOnly")) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

/// The answer to a GET of `path`, after the test switches had their say.
async fn serve(s: &Shared, path: &str, query: &str) -> Response {
    #[cfg(any(test, feature = "testing"))]
    let drift = match s.faults.action() {
        faults::Action::Serve { drift } => drift,
        faults::Action::Respond(r) => return r,
        faults::Action::Hang => {
            s.shutdown.cancelled().await;
            return plain(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    #[cfg(not(any(test, feature = "testing")))]
    let drift = false;
    route(s, path, query, drift)
}

fn route(s: &Shared, path: &str, query: &str, drift: bool) -> Response {
    if let Some(r) = dk118::route(s, path, query, drift) {
        return r;
    }
    if path == "/sok" || path.eq_ignore_ascii_case("/s%C3%B6k") {
        return hitta::hitta_search(s, query, drift);
    }
    if let Some(rest) = path.strip_prefix("/_next/data/") {
        return eniro::eniro_data(s, rest, drift);
    }
    eniro::route(s, path, drift).unwrap_or_else(dk118::not_found)
}

fn plain(status: StatusCode) -> Response {
    let text = status.canonical_reason().unwrap_or("Error");
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{} {text}\n", status.as_u16()),
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// 8 national digits from `"33 12 34 56"`, `"+45 33123456"`, `"004533123456"`.
fn national_digits(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    let n = compact
        .strip_prefix("+45")
        .or_else(|| compact.strip_prefix("0045"))
        .unwrap_or(&compact);
    (n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_string())
}

fn same_number(listed: &str, national: &str) -> bool {
    national_digits(listed).is_some_and(|n| n == national)
}

/// `"33123456"` → `"33 12 34 56"`, as 118.dk prints numbers.
fn grouped(n: &str) -> String {
    n.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn slug(name: &str) -> String {
    let mut s = String::new();
    for ch in name.chars().flat_map(char::to_lowercase) {
        match ch {
            'æ' => s.push_str("ae"),
            'ø' => s.push_str("oe"),
            'å' => s.push_str("aa"),
            c if c.is_ascii_alphanumeric() => s.push(c),
            _ if !s.ends_with('-') => s.push('-'),
            _ => {}
        }
    }
    s.trim_matches('-').to_string()
}

fn escape(s: &str) -> String {
    escape_danish(s, false)
}

/// HTML-escapes; `å` always as an entity, `æ`/`ø` too when `entities`.
fn escape_danish(s: &str, entities: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            'å' => out.push_str("&aring;"),
            'Å' => out.push_str("&Aring;"),
            'æ' if entities => out.push_str("&aelig;"),
            'Æ' if entities => out.push_str("&AElig;"),
            'ø' if entities => out.push_str("&oslash;"),
            'Ø' if entities => out.push_str("&Oslash;"),
            c => out.push(c),
        }
    }
    out
}
