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
//!   matches, and 404 for any other build id ([`SimDirectory::set_build_id`]
//!   simulates a deploy, [`SimDirectory::deploy_after_next_page`] one that
//!   lands between two pages of a search). Floor and door are folded into `streetNumber`
//!   (`"14B, 2. th"`). A query of 8 digits (optionally `+45`) matches a
//!   phone; otherwise every word must occur in the name or the post line.
//! - **hitta.se-shaped** (`sites.md` §5), for declarative-site tests:
//!   `GET /sok?vad=<q>&var=<place>&sida=<page>` (also `/s%C3%B6k`) renders
//!   `[data-test="person-item"]` cards with `[data-test="search-result-title"]`,
//!   an `<address>` and `[data-test="phone-link"]` links, a
//!   `[data-test="next"]` link when there are more pages, and a
//!   `[data-test="no-hits"]` marker when nothing matches. Matching is as for
//!   118.dk (`vad` like `what`, `var` like `where`), 25 per page.
//!
//! [`Fault::Drift`] renames the Eniro state (`__NEXT_DATA__` script id,
//! `initialState` key) and the hitta `data-test` names as well.
//!
//! Faults ([`Fault`]) apply to every path except `/robots.txt`, so a test
//! can make the site misbehave without the robots check failing first.
//! `/robots.txt` allows everything unless a test sets another file or a
//! status with [`SimDirectory::set_robots`].
//!
//! [`SimDirectory::require_header`] makes every path (robots.txt included)
//! answer 403 unless the request carries that header and value, like a
//! site that admits only a partner's access token.
//!
//! This is production code (the demo serves it), so nothing a client sends
//! can make it panic.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_ENCODING, CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use crate::domain::address::{split_post_line, split_street_line};

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

/// How the directory misbehaves. Set with [`SimDirectory::set_fault`]; stays
/// until replaced, except `FailFirst` and `RetryAfterOnce`, which count itself down to `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    /// This status; a Cloudflare-like challenge page for 403, plain text
    /// otherwise.
    Status(u16),
    /// This status with `Retry-After: seconds`.
    RetryAfter {
        status: u16,
        seconds: u64,
    },
    /// Like `RetryAfter`, for the next request only, then `None`.
    RetryAfterOnce {
        status: u16,
        seconds: u64,
    },
    /// Never answer (until the client gives up or the sim shuts down).
    Hang,
    /// A 200 body of this many bytes, streamed chunked without buffering.
    Huge {
        bytes: u64,
    },
    /// A ~1 MB gzip body (`Content-Encoding: gzip`) that inflates to 1 GiB.
    GzipBomb,
    /// A 200 page with neither result blocks nor the no-results marker.
    Garbage,
    /// A 200 page with the same data under renamed classes and ids.
    Drift,
    /// The next N requests get 503 (no `Retry-After`), then `None`.
    FailFirst(u32),
    /// `302 Found` to this `Location` (absolute or relative).
    Redirect(String),
}

/// What `/robots.txt` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimRobots {
    /// 200 with this body.
    Text(String),
    /// This status with an empty body.
    Status(u16),
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
    fault: Mutex<Fault>,
    /// Every answer waits this long (a slow site: requests stay in flight).
    delay: Mutex<Duration>,
    requests: Mutex<Vec<(Instant, String)>>,
    /// The Eniro-shaped routes' Next.js build id.
    build_id: Mutex<String>,
    /// Deploys that land between two pages of a search: each Eniro HTML
    /// page with a next page takes the first one after it is rendered.
    pending_build_ids: Mutex<std::collections::VecDeque<String>>,
    robots: Mutex<SimRobots>,
    /// A header (lowercase name, value) every request must carry.
    required_header: Mutex<Option<(String, String)>>,
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
            fault: Mutex::new(Fault::None),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            build_id: Mutex::new(DEFAULT_BUILD_ID.to_string()),
            pending_build_ids: Mutex::new(Default::default()),
            robots: Mutex::new(SimRobots::Text(PERMISSIVE_ROBOTS.into())),
            required_header: Mutex::new(None),
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

    pub fn set_fault(&self, f: Fault) {
        *lock(&self.shared.fault) = f;
    }

    /// Makes every answer wait `d` after the request arrives (zero: none).
    pub fn set_delay(&self, d: Duration) {
        *lock(&self.shared.delay) = d;
    }

    /// Simulates a deploy of the Eniro-shaped front end: pages carry the
    /// new build id, and data-route requests with any other id get 404.
    pub fn set_build_id(&self, id: &str) {
        *lock(&self.shared.build_id) = id.to_string();
    }

    /// What `/robots.txt` answers from now on.
    pub fn set_robots(&self, r: SimRobots) {
        *lock(&self.shared.robots) = r;
    }

    /// From now on, every request without `name: value` gets 403.
    pub fn require_header(&self, name: &str, value: &str) {
        *lock(&self.shared.required_header) = Some((name.to_ascii_lowercase(), value.into()));
    }

    /// A deploy between two pages of one search: the next Eniro HTML page
    /// that has a next page still carries the current build id, and right
    /// after it the id becomes `id`, so a data-route request for the next
    /// page with the old id gets 404. Called twice, the second deploy lands
    /// after the following such page.
    pub fn deploy_after_next_page(&self, id: &str) {
        lock(&self.shared.pending_build_ids).push_back(id.to_string());
    }

    /// The Eniro-shaped routes' current build id ([`DEFAULT_BUILD_ID`]
    /// until [`SimDirectory::set_build_id`]).
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

/// A recording HTTP forward proxy on loopback, for tests of `proxy` and
/// `proxy_file`: it takes absolute-form requests (`GET http://host/path`),
/// records them, and forwards them to their target, which must be a
/// loopback address (it never becomes an open proxy). With credentials set
/// it answers 407 to a request without the matching `Proxy-Authorization`.
#[derive(Clone)]
pub struct SimProxy {
    shared: Arc<ProxyShared>,
    /// Stops the server when the last clone drops.
    _guard: Arc<ServerGuard>,
    addr: SocketAddr,
}

impl std::fmt::Debug for SimProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    /// The request target as sent: absolute-form for a proxied request.
    pub target: String,
    /// Header names, lowercase (values are not kept: they may be secrets).
    pub header_names: Vec<String>,
    /// Whether `Proxy-Authorization` matched the configured credentials.
    pub authorised: bool,
}

struct ProxyShared {
    /// `Basic <base64(user:pass)>` expected, if any.
    expect_auth: Option<String>,
    seen: Mutex<Vec<ProxiedRequest>>,
    client: reqwest::Client,
}

impl SimProxy {
    /// Binds `127.0.0.1:0`. With `credentials`, requests must carry them.
    pub async fn start(credentials: Option<(&str, &str)>) -> std::io::Result<SimProxy> {
        use base64::Engine as _;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .no_gzip()
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(ProxyShared {
            expect_auth: credentials.map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
            seen: Mutex::new(Vec::new()),
            client,
        });
        let shutdown = CancellationToken::new();
        let app = Router::new()
            .fallback(proxy_handle)
            .with_state(shared.clone());
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(SimProxy {
            shared,
            _guard: Arc::new(ServerGuard {
                shutdown,
                task: Mutex::new(Some(task)),
            }),
            addr,
        })
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        lock(&self.shared.seen).clone()
    }
}

async fn proxy_handle(State(s): State<Arc<ProxyShared>>, req: Request) -> Response {
    let uri = req.uri().clone();
    let auth = req
        .headers()
        .get("proxy-authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let authorised = match &s.expect_auth {
        None => true,
        Some(want) => auth.as_deref() == Some(want.as_str()),
    };
    lock(&s.seen).push(ProxiedRequest {
        target: uri.to_string(),
        header_names: req
            .headers()
            .keys()
            .map(|k| k.as_str().to_string())
            .collect(),
        authorised,
    });
    if !authorised {
        let mut r = plain(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        r.headers_mut().insert(
            "proxy-authenticate",
            HeaderValue::from_static("Basic realm=\"sim\""),
        );
        return r;
    }
    let target = match url::Url::parse(&uri.to_string()) {
        Ok(u) if crate::config::is_loopback_url(&u) => u,
        // Origin-form (not a proxy request) or a target off this machine.
        _ => return plain(StatusCode::BAD_REQUEST),
    };
    let mut out = s.client.request(req.method().clone(), target);
    for (k, v) in req.headers() {
        let k = k.as_str();
        if !matches!(
            k,
            "host" | "proxy-authorization" | "proxy-connection" | "connection" | "keep-alive"
        ) {
            out = out.header(k, v);
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(_) => return plain(StatusCode::BAD_GATEWAY),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    for (k, v) in &headers {
        if !matches!(
            k.as_str(),
            "transfer-encoding" | "connection" | "content-length"
        ) {
            r.headers_mut().append(k, v.clone());
        }
    }
    r
}

/// What the fault setting makes of one request.
enum Action {
    Serve { drift: bool },
    Respond(Response),
    Hang,
}

impl Shared {
    fn record(&self, path_and_query: String) {
        lock(&self.requests).push((Instant::now(), path_and_query));
    }

    fn action(&self) -> Action {
        let mut f = lock(&self.fault);
        match &mut *f {
            Fault::None => Action::Serve { drift: false },
            Fault::Drift => Action::Serve { drift: true },
            Fault::FailFirst(n) => {
                if *n == 0 {
                    *f = Fault::None;
                    return Action::Serve { drift: false };
                }
                *n -= 1;
                if *n == 0 {
                    *f = Fault::None;
                }
                Action::Respond(plain(StatusCode::SERVICE_UNAVAILABLE))
            }
            Fault::Status(code) => Action::Respond(status_page(*code)),
            Fault::RetryAfter { status, seconds } => {
                let mut r = plain(status_code(*status));
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*seconds));
                Action::Respond(r)
            }
            Fault::RetryAfterOnce { status, seconds } => {
                let mut r = plain(status_code(*status));
                r.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*seconds));
                *f = Fault::None;
                Action::Respond(r)
            }
            Fault::Hang => Action::Hang,
            Fault::Huge { bytes } => Action::Respond(huge(*bytes)),
            Fault::GzipBomb => Action::Respond(gzip_bomb()),
            Fault::Garbage => Action::Respond(html(StatusCode::OK, garbage_page())),
            Fault::Redirect(to) => {
                let mut r = plain(StatusCode::FOUND);
                match HeaderValue::from_str(to) {
                    Ok(v) => {
                        r.headers_mut().insert(LOCATION, v);
                    }
                    Err(_) => *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
                }
                Action::Respond(r)
            }
        }
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

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let uri = req.uri().clone();
    s.record(
        uri.path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
    );
    let delay = *lock(&s.delay);
    if !delay.is_zero() {
        tokio::select! {
            _ = s.shutdown.cancelled() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }
    let has_session = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().starts_with("JSESSIONID=")));

    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    let required = lock(&s.required_header).clone();
    if let Some((name, value)) = required {
        let ok = req
            .headers()
            .get_all(name.as_str())
            .iter()
            .any(|v| v.as_bytes() == value.as_bytes());
        if !ok {
            return status_page(403);
        }
    }
    if uri.path() == "/robots.txt" {
        let robots = lock(&s.robots).clone();
        return match robots {
            SimRobots::Text(t) => {
                ([(CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response()
            }
            SimRobots::Status(code) => plain(status_code(code)),
        };
    }

    let mut resp = match s.action() {
        Action::Respond(r) => r,
        Action::Hang => {
            s.shutdown.cancelled().await;
            plain(StatusCode::SERVICE_UNAVAILABLE)
        }
        Action::Serve { drift } => route(&s, uri.path(), uri.query().unwrap_or(""), drift),
    };
    if !has_session {
        let id: u128 = rand::rng().random();
        if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={id:032X}; Path=/; HttpOnly")) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

fn route(s: &Shared, path: &str, query: &str, drift: bool) -> Response {
    let mut what = String::new();
    let mut where_ = String::new();
    let mut page_size: usize = 25;
    let mut page: usize = 1;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "what" => what = v.into_owned(),
            "where" => where_ = v.into_owned(),
            "pageSize" => page_size = v.trim().parse().unwrap_or(25).clamp(1, 100),
            "page" => page = v.trim().parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let style = if drift { &DRIFT } else { &NORMAL };

    if path == "/search/go" {
        let hits = s.search(&what, &where_);
        let start = (page - 1).saturating_mul(page_size);
        let shown: Vec<_> = hits.iter().skip(start).take(page_size).collect();
        let main = if shown.is_empty() {
            no_results(style, &what)
        } else {
            let mut m = format!(
                "<p class=\"result-count\">{} {}</p>\n",
                hits.len(),
                if hits.len() == 1 {
                    "resultat"
                } else {
                    "resultater"
                }
            );
            for (i, (id, l)) in shown.iter().enumerate() {
                m.push_str(&result_block(style, i, *id, l));
            }
            m.push_str(&pagination(&what, &where_, page_size, page, hits.len()));
            m
        };
        return html(
            StatusCode::OK,
            chrome("Søgeresultater", &what, &where_, &main),
        );
    }
    if let Some(rest) = path.strip_prefix("/person/") {
        let id = rest.split('/').next().and_then(|i| i.parse::<u64>().ok());
        if let Some(l) = id.and_then(|id| s.by_id(id).map(|l| (id, l))) {
            let main = result_block(style, 0, l.0, &l.1);
            return html(StatusCode::OK, chrome(&l.1.name, "", "", &main));
        }
    }
    if path == "/" {
        return html(StatusCode::OK, chrome("Find telefonnumre", "", "", ""));
    }
    if path == "/sok" || path.eq_ignore_ascii_case("/s%C3%B6k") {
        return hitta_search(s, query, drift);
    }
    if let Some(rest) = path.strip_prefix("/_next/data/") {
        return eniro_data(s, rest, drift);
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [q, "personer"] => return eniro_search(s, &decode_segment(q), Some(1), drift),
        [q, "personer", p] => {
            let page = p.parse::<usize>().ok().filter(|p| *p >= 1);
            return eniro_search(s, &decode_segment(q), page, drift);
        }
        [_, id, "person"] => {
            if let Some((id, l)) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| s.by_id(id).map(|l| (id, l)))
            {
                let card = eniro_card(id, &l);
                return html(
                    StatusCode::OK,
                    eniro_chrome(
                        &l.name,
                        "",
                        &format!("<ul class=\"result-list\">\n{card}</ul>\n"),
                        "",
                    ),
                );
            }
        }
        _ => {}
    }
    html(
        StatusCode::NOT_FOUND,
        chrome("Siden findes ikke", "", "", "<h1>Siden findes ikke</h1>\n"),
    )
}

/// Class and id names; `DRIFT` renames them all, as a site redesign would.
struct Style {
    block: &'static str,
    id_prefix: &'static str,
    description: &'static str,
    no_results: &'static str,
}

const NORMAL: Style = Style {
    block: "result-block",
    id_prefix: "listing",
    description: "description-block",
    no_results: "no-results",
};

const DRIFT: Style = Style {
    block: "search-hit",
    id_prefix: "hit",
    description: "hit-details",
    no_results: "empty-state",
};

fn chrome(title: &str, what: &str, where_: &str, main: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<title>{title} | 118.dk</title>
</head>
<body>
<header class="site-header">
<a class="logo" href="/">118.dk</a>
<form class="search-form" action="/search/go" method="get">
<input type="text" name="what" value="{what}" placeholder="Navn, firma eller telefonnummer">
<input type="text" name="where" value="{where_}" placeholder="Adresse, postnummer eller by">
<input type="hidden" name="pageSize" value="25">
<button type="submit">S&oslash;g</button>
</form>
</header>
<main id="content">
{main}</main>
<footer class="site-footer">
<a href="/info/show/FOOTER4">Persondatameddelelse</a>
<a href="/info/show/FOOTER1">Om 118.dk</a>
<span>&copy; Nuuday A/S</span>
</footer>
</body>
</html>
"#,
        title = escape(title),
        what = escape(what),
        where_ = escape(where_),
    )
}

fn result_block(st: &Style, i: usize, id: u64, l: &SimListing) -> String {
    let entities = id % 2 == 1;
    let text = |s: &str| escape_danish(s, entities);
    let mut b = format!(
        "<div class=\"{}\" id=\"{}{i}\">\n<h3><a href=\"/person/{id}/{}\">{}</a></h3>\n<div class=\"{}\">\n",
        st.block,
        st.id_prefix,
        slug(&l.name),
        text(&l.name),
        st.description,
    );
    let lines: Vec<String> = [&l.street_line, &l.post_line]
        .into_iter()
        .flatten()
        .map(|s| text(s))
        .collect();
    if !lines.is_empty() {
        b.push_str(&format!("<address>{}</address>\n", lines.join("<br>")));
    }
    for p in &l.phones {
        let (tel, shown) = match national_digits(p) {
            Some(n) => (format!("+45{n}"), grouped(&n)),
            None => (p.chars().filter(char::is_ascii_digit).collect(), p.clone()),
        };
        b.push_str(&format!(
            "<p><a href=\"tel:{}\">{}</a></p>\n",
            escape(&tel),
            escape(&shown)
        ));
    }
    b.push_str(&format!(
        "</div>\n<a class=\"map-link\" href=\"/kort?id={id}\">se kort</a>\n</div>\n"
    ));
    b
}

fn no_results(st: &Style, what: &str) -> String {
    format!(
        "<div class=\"{}\"><h2>Ingen resultater</h2><p>Vi fandt ingen resultater for &quot;{}&quot;. Pr&oslash;v at s&oslash;ge bredere.</p></div>\n",
        st.no_results,
        escape(what)
    )
}

fn pagination(what: &str, where_: &str, size: usize, page: usize, total: usize) -> String {
    let link = |p: usize| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("what", what)
            .append_pair("where", where_)
            .append_pair("pageSize", &size.to_string())
            .append_pair("page", &p.to_string())
            .finish()
    };
    let mut nav = String::from("<nav class=\"pagination\">\n");
    if page > 1 {
        nav.push_str(&format!(
            "<a class=\"prev\" rel=\"prev\" href=\"/search/go?{}\">Forrige</a>\n",
            escape(&link(page - 1))
        ));
    }
    if page.saturating_mul(size) < total {
        nav.push_str(&format!(
            "<a class=\"next\" rel=\"next\" href=\"/search/go?{}\">N&aelig;ste</a>\n",
            escape(&link(page + 1))
        ));
    }
    nav.push_str("</nav>\n");
    nav
}

/// The Eniro-shaped routes' build id until [`SimDirectory::set_build_id`].
pub const DEFAULT_BUILD_ID: &str = "sim-build-1";

/// Persons per Eniro result page, and cards per hitta page.
const ENIRO_PAGE_SIZE: usize = 25;

/// Percent-decodes one path segment (`+` is a space, as Eniro writes
/// queries); invalid UTF-8 is replaced, never an error.
fn decode_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes JSON for an inline `<script>`: `<`, `>` and `&` can only occur
/// inside JSON strings, where `\uXXXX` means the same.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `"Ågade 14B, 2. th"` → `("Ågade", "14B, 2. th")`: floor and door folded
/// into `streetNumber`, one of the encodings Eniro may use.
fn eniro_street(line: &str) -> (String, String) {
    match split_street_line(line) {
        (Some(street), Some(house), floor, door) => {
            let mut fd: Vec<String> = Vec::new();
            if let Some(f) = floor {
                fd.push(if f.ends_with('.') { f } else { format!("{f}.") });
            }
            fd.extend(door);
            let number = if fd.is_empty() {
                house
            } else {
                format!("{house}, {}", fd.join(" "))
            };
            (street, number)
        }
        _ => (line.trim().to_string(), String::new()),
    }
}

/// A number as the Eniro data shows it: `+45…` on odd ids, grouped on
/// even ones (both forms occur).
fn eniro_phone(id: u64, p: &str) -> String {
    match national_digits(p) {
        Some(n) if id % 2 == 1 => format!("+45{n}"),
        Some(n) => grouped(&n),
        None => p.to_string(),
    }
}

fn eniro_person(id: u64, l: &SimListing) -> serde_json::Value {
    use serde_json::json;
    let words: Vec<&str> = l.name.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    let last = (words.len() > 1).then(|| words[words.len() - 1]);
    let middle = (words.len() > 2).then(|| words[1..words.len() - 1].join(" "));
    let phones: Vec<serde_json::Value> = l
        .phones
        .iter()
        .map(|p| json!({ "number": eniro_phone(id, p), "type": "phone" }))
        .collect();
    let mut addresses = Vec::new();
    if l.street_line.is_some() || l.post_line.is_some() {
        let (street, number) = l
            .street_line
            .as_deref()
            .map(eniro_street)
            .unwrap_or_default();
        let (postcode, area) = match l.post_line.as_deref().map(split_post_line) {
            Some((Some(p), c)) => (p, c.unwrap_or_default()),
            _ => (String::new(), l.post_line.clone().unwrap_or_default()),
        };
        addresses.push(json!({
            "streetName": street,
            "streetNumber": number,
            "postalCode": postcode,
            "postalArea": area,
            "coordinates": [{ "lat": 56.1572, "lon": 10.2107 }],
        }));
    }
    json!({
        "eniroId": id.to_string(),
        "name": { "firstName": first, "middleName": middle, "lastName": last },
        "nameLegal": null,
        "birthDate": null,
        "phones": phones,
        "addresses": addresses,
    })
}

/// `initialState` for one page of Eniro results.
fn eniro_state(
    q: &str,
    page: usize,
    total: usize,
    shown: &[&(u64, SimListing)],
) -> serde_json::Value {
    serde_json::json!({
        "hits": { "persons": total, "companies": 0 },
        "persons": shown.iter().map(|(id, l)| eniro_person(*id, l)).collect::<Vec<_>>(),
        "companies": [],
        "searchPage": { "query": q, "page": page, "limit": ENIRO_PAGE_SIZE, "sortOrder": "default" },
    })
}

fn eniro_card(id: u64, l: &SimListing) -> String {
    let mut c = format!(
        "<li class=\"result-item\"><article>\n<h2><a href=\"/{}/{id}/person\">{}</a></h2>\n",
        slug(&l.name),
        escape(&l.name)
    );
    let lines: Vec<&str> = [&l.street_line, &l.post_line]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !lines.is_empty() {
        c.push_str(&format!(
            "<p class=\"result-address\">{}</p>\n",
            escape(&lines.join(", "))
        ));
    }
    for p in &l.phones {
        if let Some(n) = national_digits(p) {
            c.push_str(&format!(
                "<a class=\"result-phone\" href=\"tel:+45{n}\">{}</a>\n",
                grouped(&n)
            ));
        }
    }
    c.push_str("</article></li>\n");
    c
}

fn eniro_chrome(title: &str, q: &str, main: &str, script: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="da"><head><meta charSet="utf-8"/><title>{title} | Krak</title><script src="/_next/static/chunks/main.js" defer=""></script></head>
<body><div id="__next"><header class="header"><a class="logo" href="/">Krak</a>
<form class="search" action="/search" method="get"><input type="search" name="searchQuery" value="{q}"/><button type="submit">S&oslash;g</button></form></header>
<main>
{main}</main>
<footer class="footer"><a href="/om-krak">Om Krak</a></footer></div>
{script}</body></html>
"#,
        title = escape(title),
        q = escape(q),
    )
}

/// `GET /<q>/personer[/<page>]`.
fn eniro_search(s: &Shared, q: &str, page: Option<usize>, drift: bool) -> Response {
    let Some(page) = page else {
        return html(
            StatusCode::NOT_FOUND,
            eniro_chrome("Siden findes ikke", "", "<h1>Siden findes ikke</h1>\n", ""),
        );
    };
    let hits = s.search_words(q);
    let start = (page - 1).saturating_mul(ENIRO_PAGE_SIZE);
    let shown: Vec<&(u64, SimListing)> = hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
    let build = {
        let mut current = lock(&s.build_id);
        let served = current.clone();
        if page.saturating_mul(ENIRO_PAGE_SIZE) < hits.len()
            && let Some(next) = lock(&s.pending_build_ids).pop_front()
        {
            *current = next;
        }
        served
    };
    let data = serde_json::json!({
        "props": {
            "pageProps": { "initialState": eniro_state(q, page, hits.len(), &shown), "profile": "krak" },
            "__N_SSP": true,
        },
        "page": "/search/[...slug]",
        "query": { "slug": [q, "persons", page.to_string()] },
        "buildId": build,
        "isFallback": false,
        "gssp": true,
        "locale": "da",
    });
    let script = format!(
        "<script id=\"{}\" type=\"application/json\">{}</script>",
        if drift {
            "__APP_DATA__"
        } else {
            "__NEXT_DATA__"
        },
        script_json(&data)
    );
    let mut main = if hits.is_empty() {
        format!(
            "<h1 class=\"result-heading\">Ingen resultater for &quot;{}&quot;</h1>\n",
            escape(q)
        )
    } else {
        format!(
            "<h1 class=\"result-heading\">{} {}</h1>\n",
            hits.len(),
            if hits.len() == 1 {
                "person"
            } else {
                "personer"
            }
        )
    };
    main.push_str("<ul class=\"result-list\">\n");
    for (id, l) in &shown {
        main.push_str(&eniro_card(*id, l));
    }
    main.push_str("</ul>\n");
    if page.saturating_mul(ENIRO_PAGE_SIZE) < hits.len() {
        main.push_str(&format!(
            "<nav class=\"pagination\"><a rel=\"next\" href=\"/{}/personer/{}\">N&aelig;ste</a></nav>\n",
            crate::sites::common::encode_component(q),
            page + 1
        ));
    }
    html(StatusCode::OK, eniro_chrome(q, q, &main, &script))
}

/// `GET /_next/data/<buildId>/da/search/<q>/persons/<page>.json`; `rest`
/// is the part after `/_next/data/`.
fn eniro_data(s: &Shared, rest: &str, drift: bool) -> Response {
    let segs: Vec<&str> = rest.split('/').collect();
    let [build, "da", "search", q, "persons", file] = segs.as_slice() else {
        return plain(StatusCode::NOT_FOUND);
    };
    let page = file
        .strip_suffix(".json")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1);
    let current = lock(&s.build_id).clone();
    let (Some(page), true) = (page, *build == current) else {
        return plain(StatusCode::NOT_FOUND);
    };
    let q = decode_segment(q);
    let hits = s.search_words(&q);
    let body = if hits.is_empty() {
        serde_json::json!({ "pageProps": { "searchQuery": q, "profile": "krak" }, "__N_SSP": true })
    } else {
        let start = (page - 1).saturating_mul(ENIRO_PAGE_SIZE);
        let shown: Vec<&(u64, SimListing)> =
            hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
        let key = if drift { "searchState" } else { "initialState" };
        let mut props = serde_json::Map::new();
        props.insert(key.into(), eniro_state(&q, page, hits.len(), &shown));
        props.insert("profile".into(), "krak".into());
        serde_json::json!({ "pageProps": props, "__N_SSP": true })
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `data-test` names of the hitta-shaped page; drift renames them.
struct HittaStyle {
    item: &'static str,
    title: &'static str,
    phone: &'static str,
    next: &'static str,
    no_hits: &'static str,
}

const HITTA: HittaStyle = HittaStyle {
    item: "person-item",
    title: "search-result-title",
    phone: "phone-link",
    next: "next",
    no_hits: "no-hits",
};

const HITTA_DRIFT: HittaStyle = HittaStyle {
    item: "person-card",
    title: "card-title",
    phone: "call",
    next: "forward",
    no_hits: "empty-result",
};

/// `GET /sok?vad=<q>&var=<place>&sida=<page>`.
fn hitta_search(s: &Shared, query: &str, drift: bool) -> Response {
    let mut vad = String::new();
    let mut var = String::new();
    let mut sida: usize = 1;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "vad" => vad = v.into_owned(),
            "var" => var = v.into_owned(),
            "sida" => sida = v.trim().parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let st = if drift { &HITTA_DRIFT } else { &HITTA };
    let hits = s.search(&vad, &var);
    let start = (sida - 1).saturating_mul(ENIRO_PAGE_SIZE);
    let shown: Vec<_> = hits.iter().skip(start).take(ENIRO_PAGE_SIZE).collect();
    let mut main = String::new();
    if shown.is_empty() {
        main.push_str(&format!(
            "<div class=\"empty\" data-test=\"{}\"><h1>Inga tr&auml;ffar p&aring; &quot;{}&quot;</h1></div>\n",
            st.no_hits,
            escape(&vad)
        ));
    } else {
        main.push_str(&format!(
            "<h1 data-test=\"search-heading\">{} tr&auml;ffar p&aring; personer</h1>\n<ol class=\"result-list\">\n",
            hits.len()
        ));
        for (id, l) in &shown {
            main.push_str(&format!(
                "<li class=\"result-row\" data-test=\"{}\">\n<a class=\"result-link\" href=\"/{}/person/{id}\"><h2 data-test=\"{}\">{}</h2></a>\n",
                st.item,
                slug(&l.name),
                st.title,
                escape(&l.name)
            ));
            let lines: Vec<String> = [&l.street_line, &l.post_line]
                .into_iter()
                .flatten()
                .map(|s| escape(s))
                .collect();
            if !lines.is_empty() {
                main.push_str(&format!("<address>{}</address>\n", lines.join("<br>")));
            }
            for p in &l.phones {
                if let Some(n) = national_digits(p) {
                    main.push_str(&format!(
                        "<a data-test=\"{}\" href=\"tel:+45{n}\">{}</a>\n",
                        st.phone,
                        grouped(&n)
                    ));
                }
            }
            main.push_str("</li>\n");
        }
        main.push_str("</ol>\n");
        if sida.saturating_mul(ENIRO_PAGE_SIZE) < hits.len() {
            let next = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("vad", &vad)
                .append_pair("var", &var)
                .append_pair("sida", &(sida + 1).to_string())
                .finish();
            main.push_str(&format!(
                "<nav class=\"pagination\"><a data-test=\"{}\" href=\"/sok?{}\">N&auml;sta</a></nav>\n",
                st.next,
                escape(&next)
            ));
        }
    }
    html(
        StatusCode::OK,
        format!(
            r#"<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<title>{title} | hitta.se</title>
</head>
<body>
<header class="site-header"><a class="logo" href="/">hitta.se</a>
<form class="search" action="/sok" method="get" role="search"><input type="search" name="vad" value="{title}"><button type="submit">S&ouml;k</button></form>
</header>
<main>
{main}</main>
<footer class="site-footer"><a href="/om-hitta">Om hitta.se</a></footer>
</body>
</html>
"#,
            title = escape(&vad),
        ),
    )
}

fn garbage_page() -> String {
    chrome(
        "Fejl",
        "",
        "",
        "<div class=\"error-page\"><h1>Der opstod en fejl</h1><p>Pr&oslash;v igen om lidt.</p></div>\n",
    )
}

const CHALLENGE_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Just a moment...</title>
<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>
</head>
<body>
<div class="main-wrapper">
<h1>Verifying you are human. This may take a few seconds.</h1>
<div class="cf-turnstile" data-sitekey="0x4AAAAAAAsimulated"></div>
<p>118.dk needs to review the security of your connection before proceeding.</p>
</div>
</body>
</html>
"#;

fn status_page(code: u16) -> Response {
    let status = status_code(code);
    if status == StatusCode::FORBIDDEN {
        return html(status, CHALLENGE_PAGE.to_string());
    }
    plain(status)
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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

fn huge(bytes: u64) -> Response {
    let reader = tokio::io::repeat(b' ').take(bytes);
    let body = Body::from_stream(ReaderStream::with_capacity(reader, 64 * 1024));
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Size of the bomb once inflated.
const BOMB_MIB: usize = 1024;

fn gzip_bomb() -> Response {
    static BOMB: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    match BOMB.get_or_init(|| gzip_zeros(BOMB_MIB)) {
        Some(b) => (
            StatusCode::OK,
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CONTENT_ENCODING, "gzip"),
            ],
            Body::from(Bytes::from_static(b.as_slice())),
        )
            .into_response(),
        None => plain(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// A valid gzip member inflating to 64 KiB + `mib` MiB of zeros, built
/// without compressing them all: after a sync flush with a window full of
/// zeros, the deflate blocks for one more MiB of zeros only refer back into
/// zeros, so the same bytes can be repeated. The CRC is combined the same
/// way. Costs one MiB of compression instead of a GiB.
fn gzip_zeros(mib: usize) -> Option<Vec<u8>> {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    const PREFIX: usize = 64 * 1024;
    let zeros = vec![0u8; 1 << 20];
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
    enc.write_all(&zeros[..PREFIX]).ok()?;
    enc.flush().ok()?;
    let prefix_end = enc.get_ref().len();
    enc.write_all(&zeros).ok()?;
    enc.flush().ok()?;
    let segment_end = enc.get_ref().len();
    let all = enc.finish().ok()?;
    let (prefix, rest) = all.split_at(prefix_end);
    let (segment, tail) = rest.split_at(segment_end - prefix_end);

    let mut crc = flate2::Crc::new();
    crc.update(&zeros[..PREFIX]);
    let mut seg_crc = flate2::Crc::new();
    seg_crc.update(&zeros);
    for _ in 0..mib {
        crc.combine(&seg_crc);
    }
    // ISIZE is the length modulo 2^32 (RFC 1952).
    let isize_mod = (PREFIX as u64 + (mib as u64) * (1 << 20)) as u32;

    let mut out = Vec::with_capacity(prefix.len() + segment.len() * mib + tail.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
    out.extend_from_slice(prefix);
    for _ in 0..mib {
        out.extend_from_slice(segment);
    }
    out.extend_from_slice(tail);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&isize_mod.to_le_bytes());
    Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn anna() -> SimListing {
        SimListing {
            name: "Anna Bøgh Åkesson".into(),
            phones: vec!["33123456".into(), "+45 20 11 22 33".into()],
            street_line: Some("Ågade 14B, 2. th".into()),
            post_line: Some("8000 Aarhus C".into()),
        }
    }

    fn person(name: &str, phone: &str, post: &str) -> SimListing {
        SimListing {
            name: name.into(),
            phones: vec![phone.into()],
            street_line: Some("Vestergade 1".into()),
            post_line: Some(post.into()),
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn get(sim: &SimDirectory, pq: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = client()
            .get(format!("{}{pq}", sim.base_url()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    }

    #[tokio::test]
    async fn reverse_lookup_renders_118_markup() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(person("Bo Jensen", "44556677", "2100 København Ø"));
        sim.add(anna());
        for what in ["33123456", "33+12+34+56", "%2B4533123456", "20112233"] {
            let (status, headers, body) = get(&sim, &format!("/search/go?what={what}")).await;
            assert_eq!(status, 200, "{what}");
            assert!(
                headers
                    .get(SET_COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|c| c.starts_with("JSESSIONID=")),
                "{what}"
            );
            assert_eq!(body.matches("class=\"result-block\"").count(), 1, "{what}");
            assert!(body.contains("id=\"listing0\""));
            assert!(body.contains("<h3><a href=\"/person/2/anna-boegh-aakesson\">"));
            // id 2 is even: æ/ø stay UTF-8, å is always an entity.
            assert!(body.contains("Anna Bøgh &Aring;kesson</a></h3>"));
            assert!(body.contains(
                "<div class=\"description-block\">\n<address>&Aring;gade 14B, 2. th<br>8000 Aarhus C</address>"
            ));
            assert!(body.contains("<p><a href=\"tel:+4533123456\">33 12 34 56</a></p>"));
            assert!(body.contains("<p><a href=\"tel:+4520112233\">20 11 22 33</a></p>"));
            assert!(body.contains("se kort</a>"));
            assert!(!body.contains("no-results"));
            assert!(body.contains("<form class=\"search-form\""));
            assert!(body.contains("<footer"));
        }
        assert_eq!(sim.request_count(), 4);
    }

    #[tokio::test]
    async fn odd_ids_use_entities_for_ae_and_oe() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(person("Søren Æbelø", "44556677", "2100 København Ø"));
        let (_, _, body) = get(&sim, "/search/go?what=44556677").await;
        assert!(body.contains("S&oslash;ren &AElig;bel&oslash;"), "{body}");
    }

    #[tokio::test]
    async fn text_search_where_and_pagination() {
        let sim = SimDirectory::start().await.unwrap();
        for i in 0..30 {
            sim.add(person(
                &format!("Hansen {i}"),
                &format!("{}", 30000000 + i),
                "8000 Aarhus C",
            ));
        }
        sim.add(person("Jens Hansen", "40000000", "5000 Odense C"));
        let (_, _, p1) = get(&sim, "/search/go?what=HANSEN&where=aarhus").await;
        assert_eq!(p1.matches("class=\"result-block\"").count(), 25);
        assert!(p1.contains("30 resultater"));
        assert!(p1.contains("rel=\"next\""));
        assert!(p1.contains("id=\"listing24\""));
        let (_, _, p2) = get(
            &sim,
            "/search/go?what=hansen&where=aarhus&pageSize=25&page=2",
        )
        .await;
        assert_eq!(p2.matches("class=\"result-block\"").count(), 5);
        assert!(p2.contains("id=\"listing0\"") && !p2.contains("id=\"listing5\""));
        assert!(!p2.contains("rel=\"next\""));
        let (_, _, all) = get(&sim, "/search/go?what=hansen&pageSize=100").await;
        assert_eq!(all.matches("class=\"result-block\"").count(), 31);
        let (_, _, past) = get(&sim, "/search/go?what=hansen&page=9").await;
        assert!(past.contains("<div class=\"no-results\"><h2>Ingen resultater</h2>"));
    }

    #[tokio::test]
    async fn no_results_remove_and_clear() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(anna());
        sim.add(person("Bo", "33123456", "2100 København Ø"));
        sim.add(person("Eva", "55555555", "2100 København Ø"));
        assert_eq!(sim.remove_number("33 12 34 56"), 2);
        assert_eq!(sim.remove_number("33123456"), 0);
        let (status, _, body) = get(&sim, "/search/go?what=33123456&pageSize=25&page=1").await;
        assert_eq!(status, 200);
        assert!(body.contains("<div class=\"no-results\"><h2>Ingen resultater</h2><p>"));
        assert!(!body.contains("result-block"));
        sim.clear();
        let (_, _, body) = get(&sim, "/search/go?what=55555555").await;
        assert!(body.contains("no-results"));
    }

    #[tokio::test]
    async fn faults_shape_responses() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(anna());
        sim.set_fault(Fault::Status(403));
        let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, 403);
        assert!(body.contains("challenges.cloudflare.com") && body.contains("cf-turnstile"));
        // robots.txt is exempt from faults.
        let (s, _, body) = get(&sim, "/robots.txt").await;
        assert_eq!((s, body.as_str()), (200, "User-agent: *\nAllow: /\n"));

        sim.set_fault(Fault::Status(500));
        let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, 500);
        assert!(!body.contains("<html"));

        sim.set_fault(Fault::RetryAfter {
            status: 429,
            seconds: 7,
        });
        let (s, h, _) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, 429);
        assert_eq!(h.get(RETRY_AFTER).unwrap(), "7");

        sim.set_fault(Fault::Garbage);
        let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, 200);
        assert!(!body.contains("result-block") && !body.contains("no-results"));

        sim.set_fault(Fault::Drift);
        let (s, _, body) = get(&sim, "/search/go?what=33123456").await;
        assert_eq!(s, 200);
        assert!(!body.contains("result-block") && !body.contains("description-block"));
        assert!(body.contains("search-hit") && body.contains("33 12 34 56"));
        let (_, _, body) = get(&sim, "/search/go?what=99999999").await;
        assert!(!body.contains("no-results") && body.contains("Ingen resultater"));

        sim.set_fault(Fault::FailFirst(2));
        for expect in [503, 503, 200, 200] {
            let (s, _, _) = get(&sim, "/search/go?what=33123456").await;
            assert_eq!(s, expect);
        }

        sim.set_fault(Fault::Redirect("/robots.txt".into()));
        let (s, h, _) = get(&sim, "/search/go?what=1").await;
        assert_eq!(s, 302);
        assert_eq!(h.get(LOCATION).unwrap(), "/robots.txt");
    }

    #[tokio::test]
    async fn odd_requests_do_not_break_the_server() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(anna());
        for pq in [
            "/search/go?what=%FF%FE&where=%00",
            "/search/go?pageSize=-1&page=-5",
            "/search/go?pageSize=99999999999999999999999&page=18446744073709551615",
            "/search/go?what&where&&==&page",
            "/search/go?what=%",
            "/person/abc/def",
            "/person/99999999999999999999999/x",
            "/nowhere",
            "/",
        ] {
            let (s, _, _) = get(&sim, pq).await;
            assert!(s == 200 || s == 404, "{pq}: {s}");
        }
        let (s, _, body) = get(&sim, "/person/1/anna").await;
        assert_eq!(s, 200);
        assert!(body.contains("33 12 34 56"));
        let r = client()
            .post(format!("{}/search/go", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 405);
        // Everything was logged, in order.
        let log = sim.requests();
        assert_eq!(log.len(), 11);
        assert_eq!(log[0].1, "/search/go?what=%FF%FE&where=%00");
        assert!(log.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[tokio::test]
    async fn hang_is_released_by_shutdown() {
        let sim = SimDirectory::start().await.unwrap();
        sim.set_fault(Fault::Hang);
        let url = format!("{}/search/go?what=1", sim.base_url());
        let pending = tokio::spawn(async move { client().get(url).send().await });
        while sim.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t = Instant::now();
        sim.shutdown().await;
        assert!(t.elapsed() < Duration::from_secs(2));
        let r = tokio::time::timeout(Duration::from_secs(2), pending).await;
        assert!(r.is_ok(), "the hanging request was not released");
    }

    #[tokio::test]
    async fn huge_streams_exactly_the_size() {
        let sim = SimDirectory::start().await.unwrap();
        sim.set_fault(Fault::Huge { bytes: 300_000 });
        let (s, h, body) = get(&sim, "/search/go?what=1").await;
        assert_eq!(s, 200);
        assert!(h.get(reqwest::header::CONTENT_LENGTH).is_none());
        assert_eq!(body.len(), 300_000);
    }

    #[test]
    fn gzip_zeros_is_valid_gzip_and_small() {
        let small = gzip_zeros(3).unwrap();
        let mut out = Vec::new();
        // GzDecoder checks CRC and ISIZE, so this validates the hand-built trailer.
        flate2::read::GzDecoder::new(&small[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 64 * 1024 + 3 * (1 << 20));
        assert!(out.iter().all(|&b| b == 0));

        let bomb = gzip_zeros(BOMB_MIB).unwrap();
        assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
        let mut head = vec![0u8; 4 << 20];
        flate2::read::GzDecoder::new(&bomb[..])
            .read_exact(&mut head)
            .unwrap();
        assert!(head.iter().all(|&b| b == 0));
    }

    fn mette() -> SimListing {
        SimListing {
            name: "Mette Lykke Kjærgaard".into(),
            phones: vec!["13572468".into(), "+45 19 57 24 68".into()],
            street_line: Some("Ågade 14B, 2. th".into()),
            post_line: Some("8000 Aarhus C".into()),
        }
    }

    fn eniro() -> crate::sites::eniro::Eniro {
        crate::sites::eniro::Eniro::new("da").unwrap()
    }

    fn number(n: &str) -> crate::sites::Query {
        crate::sites::Query::Number(crate::domain::E164::parse_dk(n).unwrap())
    }

    fn hits(
        p: Result<crate::sites::Page, crate::sites::Unparseable>,
    ) -> (Vec<crate::domain::Listing>, bool) {
        match p {
            Ok(crate::sites::Page::Hits { listings, more }) => (listings, more),
            other => panic!("hits expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn eniro_html_route_reads_with_the_eniro_adapter() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(mette());
        sim.add(person("Bo Jensen", "94556677", "2100 København Ø"));
        let a = eniro();
        let q = number("13572468");
        let (status, _, body) = get(&sim, &a.html_path(&q)).await;
        assert_eq!(status, 200);
        assert!(body.contains("<script id=\"__NEXT_DATA__\" type=\"application/json\">"));
        assert!(body.contains("<a href=\"/mette-lykke-kjaergaard/1/person\">"));
        assert!(body.contains("\"streetNumber\":\"14B, 2. th\""));
        let (build, page) = a.parse_html(&body).unwrap();
        assert_eq!(build.as_deref(), Some(DEFAULT_BUILD_ID));
        let (ls, more) = hits(Ok(page));
        assert!(!more);
        assert_eq!(ls.len(), 1);
        assert_eq!(ls[0].name.as_deref(), Some("Mette Lykke Kjærgaard"));
        // Id 1 is odd: numbers in +45 form.
        assert_eq!(ls[0].phones, ["+4513572468", "+4519572468"]);
        let addr = ls[0].address.clone().unwrap();
        assert_eq!(addr.text, "Ågade 14B, 2. th, 8000 Aarhus C");
        assert_eq!(
            (addr.floor.as_deref(), addr.door.as_deref()),
            (Some("2"), Some("th"))
        );
        // The second number and a name search find the same person.
        let (_, _, body) = get(&sim, "/%2B4519572468/personer").await;
        assert_eq!(hits(a.parse_html(&body).map(|(_, p)| p)).0.len(), 1);
        let name = crate::sites::Query::NameAt {
            name: "Mette Kjærgaard".into(),
            place: "8000 Aarhus C".into(),
        };
        let (_, _, body) = get(&sim, &a.html_path(&name)).await;
        assert_eq!(hits(a.parse_html(&body).map(|(_, p)| p)).0.len(), 1);
        // No hits: a conclusive empty page.
        let (status, _, body) = get(&sim, &a.html_path(&number("13999999"))).await;
        assert_eq!(status, 200);
        assert_eq!(a.parse_html(&body).unwrap().1, crate::sites::Page::NoHits);
        // The person page the cards link to.
        let (status, _, body) = get(&sim, "/mette-lykke-kjaergaard/1/person").await;
        assert_eq!(status, 200);
        assert!(body.contains("13 57 24 68"));
        let (status, _, _) = get(&sim, "/x/99/person").await;
        assert_eq!(status, 404);
        let (status, _, _) = get(&sim, "/13572468/personer/0").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn eniro_data_route_and_deploys() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(mette());
        let a = eniro();
        let q = number("13572468");
        let (status, headers, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
        assert_eq!(status, 200);
        assert_eq!(headers.get(CONTENT_TYPE).unwrap(), "application/json");
        let (ls, more) = hits(a.parse_json(&body, 1));
        assert_eq!((ls.len(), more), (1, false));
        let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &number("13999999"), 1)).await;
        assert!(!body.contains("initialState"));
        assert_eq!(a.parse_json(&body, 1), Ok(crate::sites::Page::NoHits));

        sim.set_build_id("sim-build-2");
        assert_eq!(sim.build_id(), "sim-build-2");
        let (status, _, _) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
        assert!(crate::sites::eniro::stale_build(status));
        let (_, _, body) = get(&sim, &a.html_path(&q)).await;
        let build = a.parse_html(&body).unwrap().0.unwrap();
        assert_eq!(build, "sim-build-2");
        let (status, _, body) = get(&sim, &a.json_path(&build, &q, 1)).await;
        assert_eq!(status, 200);
        assert_eq!(hits(a.parse_json(&body, 1)).0.len(), 1);
        for pq in [
            "/_next/data/sim-build-2/nb/search/13572468/persons/1.json",
            "/_next/data/sim-build-2/da/search/13572468/persons/0.json",
            "/_next/data/sim-build-2/da/search/13572468/persons/x.json",
            "/_next/data/sim-build-2/da/search/13572468/companies/1.json",
            "/_next/data/sim-build-2",
        ] {
            let (status, _, _) = get(&sim, pq).await;
            assert_eq!(status, 404, "{pq}");
        }
    }

    #[tokio::test]
    async fn a_deploy_lands_between_two_pages_of_a_search() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(mette());
        for i in 0..30 {
            sim.add(person(
                &format!("Jens Holm {i}"),
                &format!("950000{i:02}"),
                "7100 Vejle",
            ));
        }
        let a = eniro();
        let one = number("13572468");
        let many = crate::sites::Query::NameAt {
            name: "Jens Holm".into(),
            place: "Vejle".into(),
        };
        sim.deploy_after_next_page("sim-build-3");
        // A single page: no deploy yet.
        let (_, _, body) = get(&sim, &a.html_path(&one)).await;
        assert_eq!(
            a.parse_html(&body).unwrap().0.as_deref(),
            Some(DEFAULT_BUILD_ID)
        );
        assert_eq!(sim.build_id(), DEFAULT_BUILD_ID);
        // Page 1 of two still shows the old id; the deploy lands after it.
        let (_, _, body) = get(&sim, &a.html_path(&many)).await;
        assert_eq!(
            a.parse_html(&body).unwrap().0.as_deref(),
            Some(DEFAULT_BUILD_ID)
        );
        assert_eq!(sim.build_id(), "sim-build-3");
        let (status, _, _) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &many, 2)).await;
        assert_eq!(status, 404);
        let (_, _, body) = get(&sim, &a.html_page_path(&many, 2)).await;
        assert_eq!(
            a.parse_html_page(&body, 2).unwrap().0.as_deref(),
            Some("sim-build-3")
        );
        let (status, _, _) = get(&sim, &a.json_path("sim-build-3", &many, 2)).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn eniro_pagination_through_the_adapter_enum() {
        let sim = SimDirectory::start().await.unwrap();
        for i in 0..30 {
            sim.add(person(
                &format!("Hans Hansen{i}"),
                &format!("{}", 19300000 + i),
                "8000 Aarhus C",
            ));
        }
        sim.add(person("Hans Hansen", "19400000", "5000 Odense C"));
        let adapter = crate::sites::Adapter::Eniro(eniro());
        let q = crate::sites::Query::NameAt {
            name: "Hans Hansen".into(),
            place: "8000".into(),
        };
        let (_, _, p1) = get(&sim, &adapter.request_path(&q, 1)).await;
        let (ls, more) = hits(adapter.parse(&p1, 1));
        assert_eq!((ls.len(), more), (25, true));
        assert!(p1.contains("rel=\"next\" href=\"/Hans%20Hansen%208000/personer/2\""));
        let path2 = adapter.request_path(&q, 2);
        assert_eq!(path2, "/Hans%20Hansen%208000/personer/2");
        let (_, _, p2) = get(&sim, &path2).await;
        let (ls, more) = hits(adapter.parse(&p2, 2));
        assert_eq!((ls.len(), more), (5, false));
        // The data route pages the same way.
        let a = adapter.is_eniro().unwrap();
        let (_, _, j2) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 2)).await;
        assert_eq!(hits(a.parse_json(&j2, 2)), (ls, false));
    }

    #[tokio::test]
    async fn eniro_faults() {
        use crate::sites::eniro::reason;
        let sim = SimDirectory::start().await.unwrap();
        sim.add(mette());
        let a = eniro();
        let q = number("13572468");
        let reason_of = |r: Result<crate::sites::Page, crate::sites::Unparseable>| match r {
            Err(crate::sites::Unparseable(r)) => r,
            Ok(p) => panic!("unparseable expected, got {p:?}"),
        };
        sim.set_fault(Fault::Status(403));
        let (status, _, body) = get(&sim, &a.html_path(&q)).await;
        assert_eq!(status, 403);
        assert_eq!(
            reason_of(a.parse_html(&body).map(|(_, p)| p)),
            reason::CHALLENGE
        );
        let (status, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
        assert_eq!(status, 403);
        assert_eq!(reason_of(a.parse_json(&body, 1)), reason::CHALLENGE);

        sim.set_fault(Fault::Drift);
        let (_, _, body) = get(&sim, &a.html_path(&q)).await;
        assert!(body.contains("13 57 24 68"));
        assert_eq!(
            reason_of(a.parse_html(&body).map(|(_, p)| p)),
            reason::NO_NEXT_DATA
        );
        let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
        assert_eq!(reason_of(a.parse_json(&body, 1)), reason::STRAY_PERSONS);

        sim.set_fault(Fault::Garbage);
        let (status, _, body) = get(&sim, &a.html_path(&q)).await;
        assert_eq!(status, 200);
        assert_eq!(
            reason_of(a.parse_html(&body).map(|(_, p)| p)),
            reason::NO_NEXT_DATA
        );
        let (_, _, body) = get(&sim, &a.json_path(DEFAULT_BUILD_ID, &q, 1)).await;
        assert_eq!(reason_of(a.parse_json(&body, 1)), reason::BAD_JSON);
    }

    fn hitta_adapter() -> crate::sites::Adapter {
        use crate::sites::declarative::{Declarative, DeclarativeSpec};
        let spec = DeclarativeSpec {
            search: "/sok?vad={number_national}&sida={page}".into(),
            search_name: Some("/sok?vad={name}&var={place}&sida={page}".into()),
            item: "[data-test=person-item]".into(),
            name: Some("[data-test=search-result-title]".into()),
            phone: Some("[data-test=phone-link]".into()),
            address: Some("address".into()),
            no_results: Some("[data-test=no-hits]".into()),
            next_page: Some("[data-test=next]".into()),
            ..DeclarativeSpec::default()
        };
        crate::sites::Adapter::Declarative(Declarative::new(&spec).unwrap())
    }

    #[tokio::test]
    async fn hitta_route_reads_with_a_declarative_spec() {
        let sim = SimDirectory::start().await.unwrap();
        sim.add(mette());
        let a = hitta_adapter();
        let q = number("19572468");
        let (status, _, body) = get(&sim, &a.request_path(&q, 1)).await;
        assert_eq!(status, 200);
        let (ls, more) = hits(a.parse(&body, 1));
        assert!(!more);
        assert_eq!(ls.len(), 1);
        assert_eq!(ls[0].name.as_deref(), Some("Mette Lykke Kjærgaard"));
        assert_eq!(ls[0].phones, ["13 57 24 68", "19 57 24 68"]);
        assert_eq!(
            ls[0].address.as_ref().map(|a| a.text.as_str()),
            Some("Ågade 14B, 2. th, 8000 Aarhus C")
        );
        // The Swedish spelling of the path works too.
        let (status, _, body2) = get(&sim, "/s%C3%B6k?vad=19572468").await;
        assert_eq!((status, body2), (200, body));
        let (_, _, body) = get(&sim, &a.request_path(&number("13999999"), 1)).await;
        assert!(body.contains("data-test=\"no-hits\""));
        assert_eq!(a.parse(&body, 1), Ok(crate::sites::Page::NoHits));

        sim.set_fault(Fault::Drift);
        let (_, _, body) = get(&sim, &a.request_path(&q, 1)).await;
        assert!(a.parse(&body, 1).is_err());
        let (_, _, body) = get(&sim, &a.request_path(&number("13999999"), 1)).await;
        assert!(a.parse(&body, 1).is_err());
        sim.set_fault(Fault::Status(403));
        let (status, _, body) = get(&sim, &a.request_path(&q, 1)).await;
        assert_eq!(status, 403);
        assert!(a.parse(&body, 1).is_err());
    }

    #[tokio::test]
    async fn hitta_name_search_and_pagination() {
        let sim = SimDirectory::start().await.unwrap();
        for i in 0..27 {
            sim.add(person(
                &format!("Ida Bøgh {i}"),
                &format!("{}", 94000000 + i),
                "8000 Aarhus C",
            ));
        }
        sim.add(person("Ida Bøgh", "94100000", "5000 Odense C"));
        let a = hitta_adapter();
        let q = crate::sites::Query::NameAt {
            name: "Ida Bøgh".into(),
            place: "8000 Aarhus C".into(),
        };
        let (_, _, p1) = get(&sim, &a.request_path(&q, 1)).await;
        let (ls, more) = hits(a.parse(&p1, 1));
        assert_eq!((ls.len(), more), (25, true));
        let (_, _, p2) = get(&sim, &a.request_path(&q, 2)).await;
        let (ls, more) = hits(a.parse(&p2, 2));
        assert_eq!((ls.len(), more), (2, false));
    }

    #[test]
    fn eniro_helpers() {
        assert_eq!(
            decode_segment("S%C3%B8ren+%C3%86rb%C3%B8l%202100"),
            "Søren Ærbøl 2100"
        );
        assert_eq!(decode_segment("%2B4513572468"), "+4513572468");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%4"), "%4");
        assert_eq!(decode_segment("%zz%FF"), "%zz\u{FFFD}");
        for (line, want) in [
            ("Ågade 14B, 2. th", ("Ågade", "14B, 2. th")),
            ("Strandvejen 123A, st. tv", ("Strandvejen", "123A, st. tv")),
            ("Vestergade 1", ("Vestergade", "1")),
            ("Ågade 14, th", ("Ågade", "14, th")),
            ("Bygaden", ("Bygaden", "")),
        ] {
            let (s, n) = eniro_street(line);
            assert_eq!((s.as_str(), n.as_str()), want, "{line}");
        }
        assert_eq!(eniro_phone(1, "13572468"), "+4513572468");
        assert_eq!(eniro_phone(2, "+45 13572468"), "13 57 24 68");
        let j = script_json(&serde_json::json!({ "n": "</script><b>&" }));
        assert!(!j.contains('<') && !j.contains('>') && !j.contains('&'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&j).unwrap()["n"],
            "</script><b>&"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            national_digits("+45 33 12 34 56").as_deref(),
            Some("33123456")
        );
        assert_eq!(national_digits("004533123456").as_deref(), Some("33123456"));
        assert_eq!(national_digits("3312345"), None);
        assert_eq!(national_digits("Hansen"), None);
        assert_eq!(grouped("33123456"), "33 12 34 56");
        assert_eq!(slug("Anna Bøgh-Åkesson, ApS"), "anna-boegh-aakesson-aps");
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
