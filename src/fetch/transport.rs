//! The reqwest side of a fetch: building the per-site client, reading a
//! body under a cap, and turning reqwest errors into [`FailKind`]s whose
//! text cannot carry the requested URL.

use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use url::{Host, Url};

use super::{ClientError, FailKind, SitePolicy};

/// `http://` is only for the simulated directory and local test doubles:
/// anything that leaves the machine must be TLS.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

pub(crate) fn build_client(policy: &SitePolicy) -> Result<reqwest::Client, ClientError> {
    let base = &policy.base_url;
    let loopback = is_loopback(base);
    match base.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ClientError::NotHttps {
                site: policy.name.clone(),
            });
        }
        other => {
            return Err(ClientError::Scheme {
                site: policy.name.clone(),
                scheme: other.to_string(),
            });
        }
    }
    if base.host().is_none() {
        return Err(ClientError::NoHost {
            site: policy.name.clone(),
        });
    }

    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(
            "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
        ),
    );
    // Danish directories localise by Accept-Language; the parsers expect Danish.
    headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("da,en;q=0.5"));
    // The operator's own headers (access tokens) go on every request of
    // this client: pages, robots.txt, retries and redirect hops alike.
    for (name, value) in policy.headers.map() {
        let mut value = value.clone();
        value.set_sensitive(true);
        headers.insert(name.clone(), value);
    }
    let ua = HeaderValue::from_str(&policy.user_agent).map_err(|_| ClientError::UserAgent {
        site: policy.name.clone(),
    })?;

    let mut b = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(ua)
        .cookie_store(true)
        .gzip(true)
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.total_timeout)
        // Redirects are followed by `SiteFetcher` itself, so that every hop
        // passes the politeness gate and the same-origin check.
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!loopback);
    if loopback || policy.proxy.is_some() {
        // A system proxy must never see (or break) requests to the simulator,
        // nor override the proxy the config names.
        b = b.no_proxy();
    }
    if let Some(proxy) = &policy.proxy {
        // Credentials in the URL become Proxy-Authorization (basic). No
        // NoProxy list: every request of this site, loopback included, goes
        // through the proxy the operator named.
        let p = reqwest::Proxy::all(proxy.url().as_str()).map_err(|e| ClientError::Proxy {
            site: policy.name.clone(),
            proxy: proxy.to_string(),
            reason: error_text(&e),
        })?;
        b = b.proxy(p);
    }
    b.build().map_err(|e| ClientError::Build {
        site: policy.name.clone(),
        reason: error_text(&e),
    })
}

/// How one reqwest error ends an attempt, and whether trying again may help.
pub(crate) fn classify(e: &reqwest::Error) -> (FailKind, bool) {
    if e.is_timeout() {
        (FailKind::Timeout, true)
    } else if e.is_connect() {
        (FailKind::Connect, true)
    } else if e.is_redirect() {
        (FailKind::Redirect, false)
    } else if e.is_decode() {
        // A broken gzip stream comes back broken the next time too.
        (FailKind::Transport(error_text(e)), false)
    } else if e.is_request() || e.is_body() {
        // Resets and truncated bodies are usually transient.
        (FailKind::Transport(error_text(e)), true)
    } else {
        (FailKind::Transport(error_text(e)), false)
    }
}

/// The error and its causes as text, without the URL: the URL carries a
/// protected number. Long digit runs are scrubbed as well, in case a cause
/// deeper in the chain echoes part of the request.
pub(crate) fn error_text(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    parts.push(reqwest_kind_text(e));
    while let Some(c) = cur {
        let s = c.to_string();
        if !s.is_empty() && parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = c.source();
    }
    scrub_digits(&parts.join(": "))
}

/// reqwest's own message names the URL; this rebuilds the kind part only.
fn reqwest_kind_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_decode() {
        "error decoding response body"
    } else if e.is_body() {
        "response body error"
    } else if e.is_request() {
        "request failed"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "HTTP error"
    };
    kind.to_string()
}

/// Replaces every run of 6 or more digits: phone numbers are 8, and no
/// legitimate transport message needs such a run (ports have at most 5).
pub(crate) fn scrub_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str("[digits]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// What reading a body produced.
pub(crate) struct Body {
    /// Decoded bytes, kept only when asked (2xx) and within the cap.
    pub bytes: Option<Vec<u8>>,
    /// Decoded length read so far (over the cap when `TooLarge`).
    pub len: usize,
    /// Present only when the whole body was read within the cap.
    pub sha256: Option<String>,
    /// `TooLarge` or a transport error, with whether a retry may help.
    pub failure: Option<(FailKind, bool)>,
}

/// Streams the decoded body, hashing as it goes, and stops as soon as the
/// cap is passed so a 100 MB page or a gzip bomb costs at most `cap` bytes
/// of memory. The buffer is sized once from `Content-Length` (within the
/// cap; a compressed answer's length is only a first guess), so a page
/// costs one allocation instead of a doubling series of copies.
pub(crate) async fn read_capped(resp: &mut reqwest::Response, cap: usize, keep: bool) -> Body {
    let mut hasher = Sha256::new();
    let hint = resp
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(if keep { hint.min(cap) } else { 0 });
    let mut len = 0usize;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                len = len.saturating_add(chunk.len());
                if len > cap {
                    return Body {
                        bytes: None,
                        len,
                        sha256: None,
                        failure: Some((FailKind::TooLarge, false)),
                    };
                }
                hasher.update(&chunk);
                if keep {
                    buf.extend_from_slice(&chunk);
                }
            }
            Ok(None) => {
                return Body {
                    bytes: keep.then_some(buf),
                    len,
                    sha256: Some(hex::encode(hasher.finalize())),
                    failure: None,
                };
            }
            Err(e) => {
                return Body {
                    bytes: None,
                    len,
                    sha256: None,
                    failure: Some(classify(&e)),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for u in [
            "http://127.0.0.1:8080/",
            "http://127.9.9.9/",
            "http://[::1]:9/",
            "http://localhost/",
            "http://LOCALHOST./",
        ] {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.dk/",
            "https://www.118.dk/",
            "http://10.0.0.1/",
        ] {
            assert!(!is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
    }

    #[test]
    fn scrub_removes_long_digit_runs_only() {
        assert_eq!(
            scrub_digits("what=33123456 port 8080"),
            "what=[digits] port 8080"
        );
        assert_eq!(scrub_digits("os error 111"), "os error 111");
        assert_eq!(scrub_digits("4533123456"), "[digits]");
    }
}
