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
//! Faults ([`Fault`]) apply to every path except `/robots.txt`, so a test
//! can make the site misbehave without the robots check failing first.
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
    requests: Mutex<Vec<(Instant, String)>>,
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
            requests: Mutex::new(Vec::new()),
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
    let has_session = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|c| c.trim().starts_with("JSESSIONID=")));

    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    if uri.path() == "/robots.txt" {
        return (
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "User-agent: *\nAllow: /\n",
        )
            .into_response();
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
