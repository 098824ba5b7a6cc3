//! `SiteFetcher` against the simulated directory on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::*;
use crate::sim::{Fault, SimDirectory, SimListing, SimRobots};

/// Slack for timing assertions made on the simulator's arrival instants.
/// The client paces *sends*; arrivals can bunch by the loopback connect and
/// scheduling latency on a loaded 2-core CI machine. A burst would show as
/// gaps of ~0 ms, so this still tells paced from bursty traffic apart.
const TIMING_TOLERANCE: Duration = Duration::from_millis(20);

const NUMBER: &str = "33123456";
const SEARCH: &str = "/search/go?what=33123456&pageSize=25&page=1";

fn policy(base: &str) -> SitePolicy {
    SitePolicy {
        name: "sim".into(),
        base_url: Url::parse(base).unwrap(),
        rate: Rate {
            count: 100,
            per: Duration::from_secs(1),
        },
        concurrency: 1,
        user_agent: "unlistd-test/0 (ops@example.net)".into(),
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(3),
        max_body_bytes: 2 << 20,
        max_retries: 2,
        max_retry_wait: Duration::from_secs(3),
        headers: SecretHeaders::default(),
        proxy: None,
        // Most tests here count requests to the search path; the robots
        // tests below switch it on.
        robots: RobotsPolicy::Ignore {
            reason: "unit tests of the gate".into(),
        },
    }
}

async fn sim_with_listing() -> SimDirectory {
    let sim = SimDirectory::start().await.unwrap();
    sim.add(SimListing {
        name: "Anna Åkesson".into(),
        phones: vec![NUMBER.into()],
        street_line: Some("Ågade 14B, 2. th".into()),
        post_line: Some("8000 Aarhus C".into()),
    });
    sim
}

fn fetcher(sim: &SimDirectory, tweak: impl FnOnce(&mut SitePolicy)) -> SiteFetcher {
    let mut p = policy(&sim.base_url());
    tweak(&mut p);
    SiteFetcher::new(p).unwrap()
}

/// Nothing a failure says may carry the number it was looking for.
fn assert_no_number(f: &Fetched) {
    if let Some(kind) = &f.failure {
        assert!(!kind.to_string().contains(NUMBER), "{kind}");
    }
    if f.body.is_none() {
        assert!(!format!("{f:?}").contains(NUMBER), "{f:?}");
    }
}

async fn wait_for_requests(sim: &SimDirectory, n: usize) {
    while sim.request_count() < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn gap(reqs: &[(Instant, String)], i: usize) -> Duration {
    reqs[i + 1].0.duration_since(reqs[i].0)
}

#[tokio::test]
async fn normal_fetch_returns_body_hash_and_status() {
    let sim = sim_with_listing().await;
    let f = fetcher(&sim, |_| {});
    let got = f.get(SEARCH).await;
    assert_eq!(got.failure, None);
    assert_eq!(got.status, Some(200));
    assert_eq!(got.attempts, 1);
    let body = got.body.as_deref().unwrap();
    assert!(body.contains("33 12 34 56"));
    assert_eq!(got.body_len, body.len());
    let expect = hex::encode(Sha256::digest(body.as_bytes()));
    assert_eq!(got.sha256.as_deref(), Some(expect.as_str()));
    assert_eq!(sim.requests()[0].1, SEARCH);
    assert!(f.effective_rate() > 0.0);
}

#[tokio::test]
async fn forbidden_is_not_retried() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::Status(403));
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Status(403)));
    assert_eq!(got.status, Some(403));
    assert_eq!(got.attempts, 1);
    assert!(got.body.is_none());
    // The challenge page is still hashed, as evidence of what the site said.
    assert_eq!(got.sha256.as_ref().map(String::len), Some(64));
    assert_eq!(sim.request_count(), 1);
    assert_no_number(&got);

    sim.set_fault(Fault::Status(404));
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Status(404)));
    assert_eq!(sim.request_count(), 2);
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::FailFirst(2));
    let got = fetcher(&sim, |p| p.max_retries = 2).get(SEARCH).await;
    assert_eq!(got.failure, None);
    assert_eq!(got.attempts, 3);
    assert_eq!(sim.request_count(), 3);

    // Out of retries: the last failure is what the probe reports.
    sim.set_fault(Fault::Status(502));
    let got = fetcher(&sim, |p| p.max_retries = 1).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Status(502)));
    assert_eq!(got.attempts, 2);
}

#[tokio::test]
async fn retry_after_is_waited_for_within_the_probe() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::RetryAfter {
        status: 429,
        seconds: 1,
    });
    let f = Arc::new(fetcher(&sim, |_| {}));
    let probe = tokio::spawn({
        let f = f.clone();
        async move { f.get(SEARCH).await }
    });
    wait_for_requests(&sim, 1).await;
    sim.set_fault(Fault::None);
    let got = probe.await.unwrap();
    assert_eq!(got.failure, None);
    assert_eq!(got.attempts, 2);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    let g = gap(&reqs, 0);
    assert!(g + TIMING_TOLERANCE >= Duration::from_secs(1), "{g:?}");
    // The retry's own backoff is not added on top of Retry-After.
    assert!(g < Duration::from_millis(1500), "{g:?}");
}

#[tokio::test]
async fn long_retry_after_fails_at_once_and_closes_the_site() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::RetryAfter {
        status: 503,
        seconds: 1,
    });
    let f = fetcher(&sim, |p| p.max_retry_wait = Duration::from_millis(200));
    let t = Instant::now();
    let got = f.get(SEARCH).await;
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(got.failure, Some(FailKind::Status(503)));
    assert_eq!(got.attempts, 1);
    assert!(
        f.retry_gate()
            .is_some_and(|d| d > Duration::from_millis(500))
    );

    sim.set_fault(Fault::None);
    let got = f.get(SEARCH).await;
    assert_eq!(got.failure, None);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    let g = gap(&reqs, 0);
    assert!(g + TIMING_TOLERANCE >= Duration::from_secs(1), "{g:?}");
    assert!(f.retry_gate().is_none());
}

#[tokio::test]
async fn hanging_site_times_out() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::Hang);
    let f = fetcher(&sim, |p| {
        p.total_timeout = Duration::from_millis(500);
        p.max_retries = 0;
    });
    let t = Instant::now();
    let got = f.get(SEARCH).await;
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(got.failure, Some(FailKind::Timeout));
    assert_eq!(got.status, None);
    assert_no_number(&got);
}

#[tokio::test]
async fn huge_body_is_cut_at_the_cap() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::Huge { bytes: 100_000_000 });
    let t = Instant::now();
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(got.failure, Some(FailKind::TooLarge));
    assert_eq!(got.status, Some(200));
    assert!(got.body.is_none() && got.sha256.is_none());
    assert!(got.body_len > 2 << 20 && got.body_len < 4 << 20);
    assert_eq!(got.attempts, 1);
    assert_no_number(&got);
}

#[tokio::test]
async fn gzip_bomb_is_cut_at_the_cap() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::GzipBomb);
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::TooLarge));
    assert!(got.body.is_none() && got.sha256.is_none());
    // Counted after decoding: the compressed bomb is under the cap.
    assert!(got.body_len > 2 << 20);
    assert_eq!(got.attempts, 1);
}

#[tokio::test]
async fn requests_are_evenly_spaced_including_retries() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::FailFirst(2));
    let f = Arc::new(fetcher(&sim, |p| {
        p.rate = Rate {
            count: 20,
            per: Duration::from_secs(1),
        };
        p.concurrency = 4;
        p.max_retries = 3;
    }));
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let f = f.clone();
        probes.spawn(async move { f.get(SEARCH).await });
    }
    while let Some(done) = probes.join_next().await {
        assert_eq!(done.unwrap().failure, None);
    }
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 12, "10 probes plus 2 retries");
    let interval = Duration::from_millis(50);
    for i in 0..reqs.len() - 1 {
        let g = gap(&reqs, i);
        assert!(g + TIMING_TOLERANCE >= interval, "gap {i}: {g:?}");
    }
}

#[tokio::test]
async fn redirect_to_another_host_is_refused() {
    let sim = sim_with_listing().await;
    let port = sim.base_url().rsplit(':').next().unwrap().to_string();
    // Same port, different host name: still another origin. Never connected.
    sim.set_fault(Fault::Redirect(format!(
        "http://localhost:{port}/search/go"
    )));
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Redirect));
    assert_eq!(got.attempts, 1);
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test]
async fn redirect_loop_stops_after_three_hops() {
    let sim = sim_with_listing().await;
    sim.set_fault(Fault::Redirect(SEARCH.into()));
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Redirect));
    assert_eq!(sim.request_count(), 4, "the first request and three hops");
    assert_no_number(&got);
}

#[tokio::test]
async fn same_origin_redirect_is_followed_through_the_gate() {
    let sim = sim_with_listing().await;
    // The sim serves robots.txt even under a fault, so this is one hop.
    sim.set_fault(Fault::Redirect("/robots.txt".into()));
    let got = fetcher(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, None);
    assert!(got.body.unwrap().starts_with("User-agent"));
    assert_eq!(sim.request_count(), 2);
}

#[tokio::test]
async fn paths_cannot_leave_the_site() {
    let sim = sim_with_listing().await;
    let f = fetcher(&sim, |_| {});
    for p in ["//localhost/x", "http://localhost/x", "https://www.118.dk/"] {
        let got = f.get(p).await;
        assert!(matches!(got.failure, Some(FailKind::Transport(_))), "{p}");
        assert_eq!(got.attempts, 0);
    }
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test]
async fn connection_errors_are_classified_without_the_url() {
    // A port that was just free: connection refused on loopback.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let f = SiteFetcher::new(SitePolicy {
        max_retries: 0,
        ..policy(&format!("http://127.0.0.1:{port}"))
    })
    .unwrap();
    let got = f.get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Connect));
    assert_no_number(&got);
}

#[test]
fn plain_http_only_for_loopback() {
    for ok in [
        "http://127.0.0.1:1",
        "http://localhost:1",
        "http://[::1]:1",
        "https://www.118.dk",
    ] {
        assert!(SiteFetcher::new(policy(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "http://www.118.dk",
        "http://10.0.0.1",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
    ] {
        assert!(SiteFetcher::new(policy(bad)).is_err(), "{bad}");
    }
    let mut p = policy("https://www.118.dk");
    p.user_agent = "bad\nagent".into();
    assert!(SiteFetcher::new(p).is_err());
}

#[test]
fn retry_after_both_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(
        parse_retry_after(&later, now),
        Some(Duration::from_secs(90))
    );
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    for bad in ["", "-5", "1.5", "soon", "Wed, 99 Foo 2024 00:00:00 GMT"] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
    assert_eq!(
        parse_retry_after("99999999999999999999999", now),
        Some(Duration::from_secs(u64::MAX))
    );
}

fn honouring(sim: &SimDirectory, tweak: impl FnOnce(&mut SitePolicy)) -> SiteFetcher {
    fetcher(sim, |p| {
        p.robots = RobotsPolicy::Honour;
        tweak(p);
    })
}

fn paths(sim: &SimDirectory) -> Vec<String> {
    sim.requests().into_iter().map(|(_, p)| p).collect()
}

#[tokio::test]
async fn robots_txt_is_read_once_through_the_gate_then_cached() {
    let sim = sim_with_listing().await;
    let f = honouring(&sim, |p| {
        p.rate = Rate {
            count: 10,
            per: Duration::from_secs(1),
        };
    });
    assert_eq!(f.get(SEARCH).await.failure, None);
    assert_eq!(f.get(SEARCH).await.failure, None);
    assert_eq!(paths(&sim), ["/robots.txt", SEARCH, SEARCH]);
    // robots.txt took its turn at the pacer like any request.
    let reqs = sim.requests();
    for i in 0..2 {
        let g = gap(&reqs, i);
        assert!(
            g + TIMING_TOLERANCE >= Duration::from_millis(100),
            "{i}: {g:?}"
        );
    }
    assert_eq!(f.robots_crawl_delay(), None);
    assert_eq!(f.pacing_interval(), Duration::from_millis(100));
}

#[tokio::test]
async fn a_disallowed_url_is_never_requested() {
    let sim = sim_with_listing().await;
    sim.set_robots(SimRobots::Text(
        "User-agent: *\nAllow: /\n\nUser-agent: unlistd\nDisallow: /search\n".into(),
    ));
    let f = honouring(&sim, |_| {});
    for _ in 0..2 {
        let got = f.get(SEARCH).await;
        assert_eq!(got.failure, Some(FailKind::RobotsDisallowed));
        assert_eq!((got.status, got.attempts), (None, 0));
        let why = got.failure.unwrap().to_string();
        assert!(why.starts_with("robots.txt disallows"), "{why}");
        assert!(!why.contains(NUMBER), "{why}");
    }
    // Other paths of the site are still fine.
    assert_eq!(f.get("/").await.failure, None);
    assert_eq!(paths(&sim), ["/robots.txt", "/"]);
}

#[tokio::test]
async fn a_redirect_into_a_disallowed_path_is_not_followed() {
    let sim = sim_with_listing().await;
    sim.set_robots(SimRobots::Text(
        "User-agent: *\nDisallow: /private\n".into(),
    ));
    sim.set_fault(Fault::Redirect("/private/x".into()));
    let got = honouring(&sim, |_| {}).get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::RobotsDisallowed));
    assert_eq!(got.status, Some(302));
    assert_eq!(paths(&sim), ["/robots.txt", SEARCH]);
}

#[tokio::test]
async fn a_missing_robots_txt_allows_everything() {
    for code in [404, 410, 403] {
        let sim = sim_with_listing().await;
        sim.set_robots(SimRobots::Status(code));
        let got = honouring(&sim, |_| {}).get(SEARCH).await;
        assert_eq!(got.failure, None, "{code}");
        assert_eq!(paths(&sim), ["/robots.txt", SEARCH], "{code}");
    }
}

#[tokio::test]
async fn an_unreachable_robots_txt_refuses_everything_and_is_retried_later() {
    let sim = sim_with_listing().await;
    sim.set_robots(SimRobots::Status(503));
    let f = honouring(&sim, |p| p.max_retries = 1);
    for _ in 0..3 {
        let got = f.get(SEARCH).await;
        let why = got.failure.as_ref().map(ToString::to_string);
        assert!(
            matches!(got.failure, Some(FailKind::RobotsUnavailable(_))),
            "{why:?}"
        );
        assert_eq!(
            why.as_deref(),
            Some("robots.txt unreachable (http status 503)")
        );
    }
    // One fetch and its retry, not one per probe; the search never went out.
    assert_eq!(paths(&sim), ["/robots.txt", "/robots.txt"]);
}

#[tokio::test]
async fn crawl_delay_stretches_the_pacing_interval() {
    let sim = sim_with_listing().await;
    // Longer than the configured 10 ms: it wins.
    sim.set_robots(SimRobots::Text(
        "User-agent: *\nCrawl-delay: 0.3\nAllow: /\n".into(),
    ));
    let f = honouring(&sim, |_| {});
    assert_eq!(f.pacing_interval(), Duration::from_millis(10));
    assert_eq!(f.get(SEARCH).await.failure, None);
    assert_eq!(f.robots_crawl_delay(), Some(Duration::from_millis(300)));
    assert_eq!(f.pacing_interval(), Duration::from_millis(300));
    let reqs = sim.requests();
    let g = gap(&reqs, 0);
    assert!(g + TIMING_TOLERANCE >= Duration::from_millis(300), "{g:?}");

    // Shorter than the configured interval: the configured one stays.
    let sim = sim_with_listing().await;
    sim.set_robots(SimRobots::Text("User-agent: *\nCrawl-delay: 0.05\n".into()));
    let f = honouring(&sim, |p| {
        p.rate = Rate {
            count: 10,
            per: Duration::from_secs(1),
        }
    });
    assert_eq!(f.get(SEARCH).await.failure, None);
    assert_eq!(f.robots_crawl_delay(), Some(Duration::from_millis(50)));
    assert_eq!(f.pacing_interval(), Duration::from_millis(100));
}

fn token_headers(value: &str) -> SecretHeaders {
    let mut m = reqwest::header::HeaderMap::new();
    m.insert(
        "x-access-token",
        reqwest::header::HeaderValue::from_str(value).unwrap(),
    );
    SecretHeaders::new(m)
}

#[tokio::test]
async fn configured_headers_go_on_every_request_robots_txt_included() {
    const TOKEN: &str = "tok-9f8e7d6c5b4a";
    let sim = sim_with_listing().await;
    sim.require_header("X-Access-Token", TOKEN);
    // robots.txt disallows the search: only a client that can read robots.txt
    // (with the token) knows.
    sim.set_robots(SimRobots::Text("User-agent: *\nDisallow: /search\n".into()));

    let without = honouring(&sim, |_| {});
    let got = without.get(SEARCH).await;
    // robots.txt answered 403 (no file: allow all), then the search 403.
    assert_eq!(got.failure, Some(FailKind::Status(403)));

    let with = honouring(&sim, |p| p.headers = token_headers(TOKEN));
    let got = with.get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::RobotsDisallowed));
    let with = fetcher(&sim, |p| p.headers = token_headers(TOKEN));
    assert_eq!(with.get(SEARCH).await.failure, None);
    // Redirect hops are the same client: the hop carries the token too.
    sim.set_fault(Fault::Redirect("/robots.txt".into()));
    let got = with.get(SEARCH).await;
    assert_eq!(got.failure, None);
    assert!(got.body.unwrap().contains("Disallow: /search"));

    let dbg = format!("{with:?} {:?}", with.policy());
    assert!(!dbg.contains(TOKEN), "{dbg}");
    assert!(dbg.contains("x-access-token"), "{dbg}");
}

#[tokio::test]
async fn a_configured_proxy_carries_every_request_even_to_loopback() {
    use crate::sim::SimProxy;
    let sim = sim_with_listing().await;
    let proxy = SimProxy::start(Some(("ops", "pr0xy-pass"))).await.unwrap();
    let with_creds = |user: &str| {
        let mut u = Url::parse(&proxy.url()).unwrap();
        u.set_username(user).unwrap();
        u.set_password(Some("pr0xy-pass")).unwrap();
        ProxyUrl::new(u)
    };
    let f = honouring(&sim, |p| {
        p.proxy = Some(with_creds("ops"));
        p.headers = token_headers("tok-1");
    });
    let got = f.get(SEARCH).await;
    assert_eq!(got.failure, None);
    assert!(got.body.unwrap().contains("33 12 34 56"));
    let seen = proxy.requests();
    let base = sim.base_url();
    let targets: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [format!("{base}/robots.txt"), format!("{base}{SEARCH}")]
    );
    assert!(seen.iter().all(|r| r.authorised));
    assert!(
        seen.iter()
            .all(|r| r.header_names.iter().any(|h| h == "x-access-token"))
    );
    // And the site saw them come from the proxy (same paths, nothing direct).
    assert_eq!(paths(&sim), ["/robots.txt", SEARCH]);

    // Wrong credentials: the proxy says 407, which is a failure, not a page.
    let f = fetcher(&sim, |p| p.proxy = Some(with_creds("intruder")));
    let got = f.get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Status(407)));
    let dbg = format!("{:?}", f.policy());
    assert!(
        !dbg.contains("pr0xy-pass") && dbg.contains("[credentials]@"),
        "{dbg}"
    );
}

// ------------------------------------------------------------ shared budget

/// Two fetchers of one site, as two processes have, sharing one budget.
fn sharing(
    sim: &SimDirectory,
    budget: &Arc<super::shared::tests::FakeBudget>,
    tweak: impl Fn(&mut SitePolicy),
) -> [Arc<SiteFetcher>; 2] {
    [0, 1].map(|_| {
        let mut p = policy(&sim.base_url());
        tweak(&mut p);
        let b: Arc<dyn SharedBudget> = budget.clone();
        Arc::new(SiteFetcher::with_budget(p, b).unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fetchers_sharing_a_budget_stay_within_one_rate() {
    let sim = sim_with_listing().await;
    let budget = Arc::new(super::shared::tests::FakeBudget::default());
    let fetchers = sharing(&sim, &budget, |p| {
        p.rate = Rate {
            count: 20,
            per: Duration::from_secs(1),
        };
        p.concurrency = 2;
    });
    let mut probes = tokio::task::JoinSet::new();
    for f in &fetchers {
        for _ in 0..12 {
            let f = f.clone();
            probes.spawn(async move { f.get(SEARCH).await });
        }
    }
    while let Some(done) = probes.join_next().await {
        assert_eq!(done.unwrap().failure, None);
    }
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 24);
    // Each fetcher alone would pace itself at 20/s; together they must too.
    let interval = Duration::from_millis(50);
    for i in 0..reqs.len() - 1 {
        let g = gap(&reqs, i);
        assert!(g + TIMING_TOLERANCE >= interval, "gap {i}: {g:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_one_fetcher_is_told_holds_back_the_other() {
    let sim = sim_with_listing().await;
    let budget = Arc::new(super::shared::tests::FakeBudget::default());
    let [a, b] = sharing(&sim, &budget, |p| p.max_retries = 0);
    sim.set_fault(Fault::RetryAfterOnce {
        status: 429,
        seconds: 1,
    });
    let got = a.get(SEARCH).await;
    assert_eq!(got.failure, Some(FailKind::Status(429)));
    // `b` never saw the 429; it waits anyway.
    assert_eq!(b.get(SEARCH).await.failure, None);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    let g = gap(&reqs, 0);
    assert!(g + TIMING_TOLERANCE >= Duration::from_secs(1), "{g:?}");
    assert!(g < Duration::from_millis(1500), "{g:?}");
}

#[tokio::test]
async fn every_request_sent_is_counted_by_status_and_timed() {
    use crate::telemetry::RequestCode;
    let sim = sim_with_listing().await;
    // Two failures and the retry that succeeds: three requests.
    sim.set_fault(Fault::FailFirst(2));
    let f = fetcher(&sim, |p| {
        p.max_retries = 2;
        p.total_timeout = Duration::from_millis(300);
    });
    assert_eq!(f.get(SEARCH).await.failure, None);
    // A redirect hop is a request of its own.
    sim.set_fault(Fault::Redirect("/robots.txt".into()));
    assert_eq!(f.get(SEARCH).await.failure, None);
    // No answer at all: counted as a timeout, after about the timeout.
    sim.set_fault(Fault::Hang);
    let mut f2 = fetcher(&sim, |p| {
        p.max_retries = 0;
        p.total_timeout = Duration::from_millis(300);
    });
    // The same counters, as after a reload that replaced the fetcher.
    f2.count_requests_in(f.requests().clone());
    assert_eq!(f2.get(SEARCH).await.failure, Some(FailKind::Timeout));

    let codes = f.requests().codes();
    let n = |c: RequestCode| codes.iter().find(|(k, _)| *k == c).map_or(0, |(_, n)| *n);
    assert_eq!(n(RequestCode::Status(503)), 2, "{codes:?}");
    assert_eq!(n(RequestCode::Status(200)), 2, "{codes:?}");
    assert_eq!(n(RequestCode::Status(302)), 1, "{codes:?}");
    assert_eq!(n(RequestCode::Timeout), 1, "{codes:?}");
    let total: u64 = codes.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, sim.request_count());

    let h = f.requests().histogram();
    assert_eq!(h.count, total);
    // The hung request took the timeout; the others were quick loopback.
    let at_most = |le: f64| h.buckets.iter().find(|(b, _)| *b == le).unwrap().1;
    assert_eq!(at_most(0.25), total - 1, "{h:?}");
    assert_eq!(at_most(0.5), total, "{h:?}");
    assert!(h.sum_seconds >= 0.3, "{h:?}");
}
