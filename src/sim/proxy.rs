//! A recording HTTP forward proxy on loopback (tests only: it is compiled
//! with `cfg(test)` or the `testing` feature, never into the release
//! binary).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokio_util::sync::CancellationToken;

use super::{ServerGuard, lock, plain};
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
        Ok(u) if crate::fetch::is_loopback_url(&u) => u,
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
    let Ok(resp) = out.send().await else {
        return plain(StatusCode::BAD_GATEWAY);
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
