//! DNS rebinding: a page on another site can make a browser on the
//! operator's machine send requests to the API under the page's own host
//! name (resolved to 127.0.0.1), and read the answers. The API therefore
//! answers only requests whose `Host` names its listen address, `localhost`
//! (for a loopback listener), or one of `[api] hostnames`; anything else
//! gets 421 Misdirected Request before any route runs.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;

pub(super) async fn require_known_host(
    State(app): State<App>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let api = &app.settings.api;
    match host {
        Some(h) if allowed(h, api.listen, &api.hostnames) => next.run(req).await,
        _ => (
            StatusCode::MISDIRECTED_REQUEST,
            "unknown Host: use the API's address, or add the name to [api] hostnames\n",
        )
            .into_response(),
    }
}

/// Whether a `Host` value (`name`, `name:port`, `1.2.3.4:port`,
/// `[::1]:port`) names this API. The port is not compared: a reverse proxy
/// may forward its own.
fn allowed(host: &str, listen: SocketAddr, names: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: `[addr]` or `[addr]:port`.
        Some(rest) => match rest.split_once(']') {
            Some((addr, tail)) if tail.is_empty() || tail.starts_with(':') => addr,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
            Some(_) => return false,
            None => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = name.parse::<IpAddr>() {
        // A literal address cannot be rebound; it must be one this
        // listener answers on.
        return ip == listen.ip()
            || listen.ip().is_unspecified()
            || (ip.is_loopback() && listen.ip().is_loopback());
    }
    (name == "localhost" && listen.ip().is_loopback()) || names.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_the_listen_address_localhost_and_configured_names() {
        let lo: std::net::SocketAddr = "127.0.0.1:9477".parse().unwrap();
        let names = vec!["unlistd.example.net".to_string()];
        for ok in [
            "127.0.0.1:9477",
            "127.0.0.1",
            "localhost:9477",
            "LOCALHOST",
            "[::1]:9477",
            "unlistd.example.net",
            "Unlistd.Example.Net.:443",
        ] {
            assert!(allowed(ok, lo, &names), "{ok}");
        }
        for bad in [
            "attacker.example:9477",
            "rebind.attacker.example",
            "10.0.0.5:9477",
            "localhost.attacker.example",
            "",
            "127.0.0.1:x",
            "[::1",
            "unlistd.example.net.evil",
        ] {
            assert!(!allowed(bad, lo, &names), "{bad}");
        }
        let any: std::net::SocketAddr = "0.0.0.0:9477".parse().unwrap();
        assert!(allowed("10.0.0.5:9477", any, &[]));
        assert!(!allowed("localhost", any, &[]), "0.0.0.0 is not loopback");
        assert!(!allowed("host.example", any, &[]));
        let lan: std::net::SocketAddr = "192.0.2.7:9477".parse().unwrap();
        assert!(allowed("192.0.2.7:9477", lan, &[]));
        assert!(!allowed("127.0.0.1:9477", lan, &[]));
    }
}
