//! Fault switches of the simulated directory: status codes, `Retry-After`,
//! hangs, huge and gzip-bomb bodies, garbage and drifted markup,
//! redirects, a slow site, a restrictive robots.txt, a required access
//! header and Eniro deploys. Tests only: compiled with `cfg(test)` or the
//! `testing` feature, so none of it is in the release binary (`unlistd
//! demo` needs none of it).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use super::dk118::chrome;
use super::{PERMISSIVE_ROBOTS, SimDirectory, html, lock, plain};

/// How the directory misbehaves. Set with [`SimDirectory::set_fault`]; stays
/// until replaced, except `FailFirst` and `RetryAfterOnce`, which count
/// themselves down to `None`, and `DriftAfter`, which counts down to `Drift`.
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
    /// The next N answers as usual, then `Drift` from then on: a layout
    /// change that lands between two pages or two queries of one probe.
    DriftAfter(u32),
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

/// The switches' state, shared by the server's handlers.
pub(super) struct Faults {
    fault: Mutex<Fault>,
    /// Every answer waits this long (a slow site: requests stay in flight).
    delay: Mutex<Duration>,
    /// Deploys that land between two pages of a search: each Eniro HTML
    /// page with a next page takes the first one after it is rendered.
    pending_build_ids: Mutex<VecDeque<String>>,
    robots: Mutex<SimRobots>,
    /// A header (lowercase name, value) every request must carry.
    required_header: Mutex<Option<(String, String)>>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fault: Mutex::new(Fault::None),
            delay: Mutex::new(Duration::ZERO),
            pending_build_ids: Mutex::default(),
            robots: Mutex::new(SimRobots::Text(PERMISSIVE_ROBOTS.into())),
            required_header: Mutex::new(None),
        }
    }
}

/// What the fault setting makes of one request.
pub(super) enum Action {
    Serve { drift: bool },
    Respond(Response),
    Hang,
}

impl Faults {
    /// Waits the configured delay (released early by `shutdown`).
    pub(super) async fn delay(&self, shutdown: &CancellationToken) {
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// The 403 challenge page for a request without the required header.
    pub(super) fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        let (name, value) = lock(&self.required_header).clone()?;
        let ok = headers
            .get_all(name.as_str())
            .iter()
            .any(|v| v.as_bytes() == value.as_bytes());
        (!ok).then(|| status_page(403))
    }

    /// What `/robots.txt` answers now.
    pub(super) fn robots(&self) -> Response {
        let robots = lock(&self.robots).clone();
        match robots {
            SimRobots::Text(t) => {
                ([(CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response()
            }
            SimRobots::Status(code) => plain(status_code(code)),
        }
    }

    /// The build id a deploy between two pages switches to, if one is due.
    pub(super) fn next_deploy(&self) -> Option<String> {
        lock(&self.pending_build_ids).pop_front()
    }

    pub(super) fn action(&self) -> Action {
        let mut f = lock(&self.fault);
        match &mut *f {
            Fault::None => Action::Serve { drift: false },
            Fault::Drift => Action::Serve { drift: true },
            Fault::DriftAfter(n) => {
                if *n == 0 {
                    *f = Fault::Drift;
                    return Action::Serve { drift: true };
                }
                *n -= 1;
                Action::Serve { drift: false }
            }
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
}

impl SimDirectory {
    pub fn set_fault(&self, f: Fault) {
        *lock(&self.shared.faults.fault) = f;
    }

    /// Makes every answer wait `d` after the request arrives (zero: none).
    pub fn set_delay(&self, d: Duration) {
        *lock(&self.shared.faults.delay) = d;
    }

    /// Simulates a deploy of the Eniro-shaped front end: pages carry the
    /// new build id, and data-route requests with any other id get 404.
    pub fn set_build_id(&self, id: &str) {
        *lock(&self.shared.build_id) = id.to_string();
    }

    /// What `/robots.txt` answers from now on.
    pub fn set_robots(&self, r: SimRobots) {
        *lock(&self.shared.faults.robots) = r;
    }

    /// From now on, every request without `name: value` gets 403.
    pub fn require_header(&self, name: &str, value: &str) {
        *lock(&self.shared.faults.required_header) =
            Some((name.to_ascii_lowercase(), value.into()));
    }

    /// A deploy between two pages of one search: the next Eniro HTML page
    /// that has a next page still carries the current build id, and right
    /// after it the id becomes `id`, so a data-route request for the next
    /// page with the old id gets 404. Called twice, the second deploy lands
    /// after the following such page.
    pub fn deploy_after_next_page(&self, id: &str) {
        lock(&self.shared.faults.pending_build_ids).push_back(id.to_string());
    }
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

pub(super) fn status_page(code: u16) -> Response {
    let status = status_code(code);
    if status == StatusCode::FORBIDDEN {
        return html(status, CHALLENGE_PAGE.to_string());
    }
    plain(status)
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
pub(super) const BOMB_MIB: usize = 1024;

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
pub(super) fn gzip_zeros(mib: usize) -> Option<Vec<u8>> {
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
