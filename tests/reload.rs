//! `SIGHUP`: the daemon re-reads its config (and the roster's changes)
//! without a restart and without losing a probe in flight.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use unlistd::sim::SimDirectory;

use crate::common::*;

/// One `[[sites]]` table of the configs these tests write.
struct SiteCfg {
    name: &'static str,
    base: String,
    rate: &'static str,
    enabled: bool,
}

fn site_a(env: &Env, rate: &'static str, enabled: bool) -> SiteCfg {
    SiteCfg {
        name: "118.dk",
        base: env.sim.base_url(),
        rate,
        enabled,
    }
}

fn site_b(sim: &SimDirectory) -> SiteCfg {
    SiteCfg {
        name: "sim-b",
        base: sim.base_url(),
        rate: "20/s",
        enabled: true,
    }
}

/// Rewrites the env's config with these sites (secrets as `Env` wrote them).
fn write_config(env: &Env, api_port: u16, sites: &[SiteCfg]) {
    let mut cfg = format!(
        r#"
[store]
path = "state/unlistd.db"

[api]
listen = "127.0.0.1:{api_port}"
token_file = "api-token"

[scan]
max_staleness = "60s"
resolve_after_clean = 2
"#
    );
    for s in sites {
        cfg.push_str(&format!(
            r#"
[[sites]]
name = "{}"
adapter = "dk118"
base_url = "{}"
rate = "{}"
enabled = {}
timeout = "30s"
max_retries = 0
# These tests count requests against recorded probes; robots.txt is
# covered by tests/access.rs.
robots_txt = false
robots_txt_reason = "test: every request must be a probe"
"#,
            s.name, s.base, s.rate, s.enabled
        ));
    }
    cfg.push_str(&format!(
        r#"
[alerts]
group_wait = "1s"
max_backoff = "1s"

[[alerts.webhook]]
url = "{}"
secret_file = "webhook-secret"
"#,
        env.receiver.url()
    ));
    std::fs::write(env.config(), cfg).unwrap();
}

/// A roster of `n` number-only entries (one request per probe): refs
/// `{prefix}-i`, numbers `{series}0000 + i` (spare series only).
fn roster(prefix: &str, series: &str, range: std::ops::Range<u32>) -> String {
    let mut csv = String::from("ref,phone,hide_number,hide_address\n");
    for i in range {
        csv.push_str(&format!("{prefix}-{i},{series}{i:04},true,false\n"));
    }
    csv
}

/// The sd_notify socket systemd would listen on.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

/// Starts the daemon with a notify socket and waits for its READY=1.
async fn start_ready(env: &Env) -> (NotifySocket, Daemon) {
    let notify = NotifySocket::bind(env);
    let daemon = env.spawn_daemon_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(20))
            .await
            .is_some(),
        "{}",
        daemon.log()
    );
    (notify, daemon)
}

impl NotifySocket {
    fn bind(env: &Env) -> NotifySocket {
        let path = env.path("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        NotifySocket { sock, path }
    }

    /// The next message that contains `what` (others are skipped), within
    /// `timeout`.
    async fn wait_for(&self, what: &'static str, timeout: Duration) -> Option<String> {
        let sock = self.sock.try_clone().unwrap();
        tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + timeout;
            let mut buf = [0u8; 4096];
            loop {
                let left = deadline.checked_duration_since(std::time::Instant::now())?;
                sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .unwrap();
                let n = sock.recv(&mut buf).ok()?;
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.lines().any(|l| l == what) {
                    return Some(msg);
                }
            }
        })
        .await
        .unwrap()
    }
}

fn field<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    msg.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Waits until a new request reaches `sim`: with a delay set, it is then in
/// flight for a while.
async fn a_request_in_flight(sim: &SimDirectory) -> bool {
    let n = sim.request_count();
    eventually(Duration::from_secs(10), || sim.request_count() > n).await
}

async fn api_json(port: u16, path: &str, token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

async fn metrics(env: &Env) -> String {
    reqwest::get(env.api("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn site<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["sites"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

fn assert_no_roster_numbers(log: &str, numbers: &[String]) {
    for n in numbers {
        let leak = log.lines().find(|l| l.contains(n.as_str()));
        assert!(leak.is_none(), "log leaks a roster number: {leak:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_adds_a_site_changes_another_and_loses_no_probe() {
    let env = Env::new(Knobs::default()).await;
    let sim_b = SimDirectory::start().await.unwrap();
    env.import(&roster("A", "1351", 0..4));
    // A slow site: each request stays in flight 600 ms, so the reloads
    // below always catch one.
    env.sim.set_delay(Duration::from_millis(600));
    write_config(&env, env.api_port, &[site_a(&env, "4/s", true)]);
    let (notify, mut daemon) = start_ready(&env).await;

    // Rewrite: A's rate changes, B joins, the API token rotates, and the
    // listen address moves (which needs a restart).
    assert!(a_request_in_flight(&env.sim).await, "{}", daemon.log());
    let rotated = "rotated-token-0123456789abcdef";
    std::fs::write(env.path("api-token"), format!("{rotated}\n")).unwrap();
    let moved = if env.api_port == 1 { 2 } else { 1 };
    write_config(&env, moved, &[site_a(&env, "2/s", true), site_b(&sim_b)]);
    let before = unlistd::systemd::monotonic_usec();
    daemon.hup();
    let reloading = notify
        .wait_for("RELOADING=1", Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no RELOADING=1: {}", daemon.log()));
    let usec: u64 = field(&reloading, "MONOTONIC_USEC")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(
        usec >= before && usec <= unlistd::systemd::monotonic_usec(),
        "MONOTONIC_USEC is CLOCK_MONOTONIC at the reload"
    );
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(30))
            .await
            .is_some(),
        "no READY=1 after the reload: {}",
        daemon.log()
    );
    assert!(
        eventually(Duration::from_secs(10), || sim_b.request_count() > 0).await,
        "the added site is not probed: {}",
        daemon.log()
    );

    // Same address, new token, new settings.
    let (code, _) = api_json(env.api_port, "/api/v1/status", TOKEN).await;
    assert_eq!(code, 401, "the old token is refused after the rotation");
    let (code, st) = api_json(env.api_port, "/api/v1/status", rotated).await;
    assert_eq!(code, 200);
    assert_eq!(site(&st, "sim-b").unwrap()["enabled"], true, "{st}");
    assert_eq!(
        site(&st, "118.dk").unwrap()["configured_rate_per_second"].as_f64(),
        Some(2.0),
        "{st}"
    );
    assert_eq!(st["last_reload"]["result"], "ok", "{st}");
    assert_eq!(
        st["last_reload"]["needs_restart"],
        serde_json::json!(["api.listen"])
    );
    assert!(
        daemon.log().contains("applies only after a restart"),
        "{}",
        daemon.log()
    );

    // Disable A while one of its probes is in flight: it is drained and
    // not restarted.
    assert!(a_request_in_flight(&env.sim).await, "{}", daemon.log());
    write_config(&env, moved, &[site_a(&env, "2/s", false), site_b(&sim_b)]);
    daemon.hup();
    assert!(
        notify
            .wait_for("RELOADING=1", Duration::from_secs(10))
            .await
            .is_some()
    );
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(30))
            .await
            .is_some(),
        "{}",
        daemon.log()
    );
    let served = env.sim.request_count();
    // B keeps going; A gets nothing more.
    let b = sim_b.request_count();
    assert!(eventually(Duration::from_secs(10), || sim_b.request_count() >= b + 10).await);
    assert_eq!(
        env.sim.request_count(),
        served,
        "a disabled site is left alone"
    );
    // Every request A received, the two in flight at the reloads included,
    // is a recorded probe: none was dropped half-way.
    let (_, st) = api_json(env.api_port, "/api/v1/status", rotated).await;
    let a = site(&st, "118.dk").unwrap();
    assert_eq!(a["enabled"], false);
    assert_eq!(a["probes_total"].as_u64(), Some(served as u64), "{st}");
    let m = metrics(&env).await;
    assert!(
        m.contains("unlistd_config_reloads_total{result=\"ok\"} 2"),
        "{m}"
    );
    assert!(m.contains("unlistd_config_reloads_total{result=\"error\"} 0"));
    assert!(m.contains("unlistd_config_last_reload_successful 1"));

    assert!(daemon.alive());
    let log = daemon.log.clone();
    assert_eq!(daemon.stop(), Some(0), "run must exit 0 on SIGTERM");
    let log = std::fs::read_to_string(log).unwrap();
    let numbers: Vec<String> = (0..4).map(|i| format!("1351{i:04}")).collect();
    assert_no_roster_numbers(&log, &numbers);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_on_reload_changes_nothing_and_is_reported() {
    let env = Env::new(Knobs::default()).await;
    let sim_b = SimDirectory::start().await.unwrap();
    env.import(ROSTER);
    let (notify, mut daemon) = start_ready(&env).await;
    assert!(eventually(Duration::from_secs(10), || env.sim.request_count() > 0).await);

    // Valid TOML with one bad value, and a new site that must not start.
    write_config(
        &env,
        env.api_port,
        &[site_a(&env, "fast", true), site_b(&sim_b)],
    );
    daemon.hup();
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no READY=1 after a failed reload: {}", daemon.log()));
    assert!(
        field(&ready, "STATUS").is_some_and(|s| s.contains("config reload failed")),
        "{ready:?}"
    );
    let (code, st) = api_json(env.api_port, "/api/v1/status", TOKEN).await;
    assert_eq!(code, 200);
    assert_eq!(st["last_reload"]["result"], "error", "{st}");
    let err = st["last_reload"]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("config.toml:") && err.contains("sites[0].rate"),
        "names file, line and key: {err}"
    );
    assert_eq!(st["sites"].as_array().map(Vec::len), Some(1), "{st}");
    assert!(daemon.log().contains("Config reload failed"));

    // Still probing, on the old config.
    let n = env.sim.request_count();
    assert!(
        eventually(Duration::from_secs(10), || env.sim.request_count() > n + 5).await,
        "{}",
        daemon.log()
    );
    assert_eq!(
        sim_b.request_count(),
        0,
        "the bad config's new site never started"
    );

    // A config file that is gone fails the same way.
    std::fs::remove_file(env.config()).unwrap();
    daemon.hup();
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(20))
            .await
            .is_some()
    );
    let m = metrics(&env).await;
    assert!(
        m.contains("unlistd_config_reloads_total{result=\"error\"} 2"),
        "{m}"
    );
    assert!(m.contains("unlistd_config_reloads_total{result=\"ok\"} 0"));
    assert!(m.contains("unlistd_config_last_reload_successful 0"));

    // With a readable config again (not reloaded), the CLI shows the
    // daemon's last reload too.
    env.write_config(&Knobs::default());
    let out = env.cmd(&["status"]);
    assert!(
        stdout(&out).contains("last config reload: FAILED"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("cannot read"), "{}", stdout(&out));
    let j = json(&env.cmd(&["--json", "status"]));
    assert_eq!(j["last_reload"]["result"], "error");

    let n = env.sim.request_count();
    assert!(eventually(Duration::from_secs(10), || env.sim.request_count() > n).await);
    assert!(daemon.alive());
    assert_eq!(daemon.stop(), Some(0), "run must exit 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reimport_and_sighup_get_new_entries_probed_next() {
    let env = Env::new(Knobs::default()).await;
    // 60 entries at 4/s: a 15 s cycle.
    env.import(&roster("A", "1351", 0..60));
    write_config(&env, env.api_port, &[site_a(&env, "4/s", true)]);
    let (notify, daemon) = start_ready(&env).await;
    assert!(eventually(Duration::from_secs(10), || env.sim.request_count() >= 3).await);

    // Two new entries, imported mid-cycle.
    let mut csv = roster("A", "1351", 0..60);
    csv.push_str(
        &roster("N", "1352", 1..3)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    csv.push('\n');
    env.import(&csv);
    daemon.hup();
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(20))
            .await
            .is_some(),
        "{}",
        daemon.log()
    );
    // Without the reload they would wait for the cycle's end, ~13 s away.
    let probed = |r: &str| {
        let o = env.cmd(&["--json", "history", r]);
        json(&o)["probes"].as_array().is_some_and(|p| !p.is_empty())
    };
    assert!(
        eventually(Duration::from_secs(6), || probed("N-1") && probed("N-2")).await,
        "new entries not probed promptly: {}",
        daemon.log()
    );
    // The cycle went on from where it was: it was not started over.
    let m = metrics(&env).await;
    assert!(m.contains("unlistd_cycles_total{site=\"118.dk\"} 1"), "{m}");

    let log = daemon.log.clone();
    assert_eq!(daemon.stop(), Some(0));
    let log = std::fs::read_to_string(log).unwrap();
    let mut numbers: Vec<String> = (0..60).map(|i| format!("1351{i:04}")).collect();
    numbers.extend((1..3).map(|i| format!("1352{i:04}")));
    assert_no_roster_numbers(&log, &numbers);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_reload_stops_at_once() {
    let env = Env::new(Knobs::default()).await;
    env.import(&roster("A", "1351", 0..4));
    // Each answer takes 15 s, so the reload's drain would wait that long.
    env.sim.set_delay(Duration::from_secs(15));
    write_config(&env, env.api_port, &[site_a(&env, "4/s", true)]);
    let (notify, daemon) = start_ready(&env).await;
    // The first request is in flight (for 15 s).
    assert!(
        eventually(Duration::from_secs(10), || env.sim.request_count() == 1).await,
        "{}",
        daemon.log()
    );
    write_config(&env, env.api_port, &[site_a(&env, "2/s", true)]);
    daemon.hup();
    assert!(
        notify
            .wait_for("RELOADING=1", Duration::from_secs(10))
            .await
            .is_some()
    );
    let log = daemon.log.clone();
    let asked = std::time::Instant::now();
    assert_eq!(daemon.stop(), Some(0), "run must exit 0 on SIGTERM");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "stopping took {took:?}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
