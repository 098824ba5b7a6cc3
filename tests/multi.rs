//! Several daemons on one PostgreSQL store: one probes a site at a time
//! (its lease), the site sees one budget from all of them, and when the
//! prober is SIGKILLed the survivor takes the site over within the lease
//! time, continues the cycle, and every leak is announced once.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// How late a request may arrive at the sim after its turn (loopback and
/// scheduling on a loaded 2-core machine).
const ARRIVAL_SLACK: Duration = Duration::from_millis(30);

/// The site lease's lifetime (`engine::lease::SITE_LEASE_TTL`).
const LEASE: Duration = Duration::from_secs(8);

/// 100 entries (spare 95… series), every fifth of which the site will
/// list: a cycle at 5/s takes 20 s, so the kill comes mid-way.
fn roster() -> String {
    let mut s = String::from(
        "ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort\n",
    );
    for i in 0..100 {
        s.push_str(&format!(
            "M-{i:02},95 70 {:02} {:02},Testperson Nr{i},Testvej,{},,,8000,Aarhus C,true,false,multi\n",
            i / 10,
            i % 10,
            i + 1
        ));
    }
    s
}

struct Instance {
    child: Child,
    log: std::path::PathBuf,
}

impl Instance {
    fn start(env: &Env, config: &std::path::Path, name: &str) -> Instance {
        let log = env.path(&format!("{name}.log"));
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("UNLISTD_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Instance { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who holds 118.dk now, as `status` (read from the store) says.
fn holder(env: &Env) -> Option<String> {
    let out = env.cmd(&["--json", "status"]);
    json(&out)["sites"][0]["held_by"].as_str().map(String::from)
}

fn pid_of(holder: &str) -> u32 {
    holder.rsplit(':').next().unwrap().parse().unwrap()
}

/// The most requests the site saw within any window of `span`.
fn most_in_window(reqs: &[(Instant, String)], span: Duration) -> usize {
    (0..reqs.len())
        .map(|i| {
            reqs[i..]
                .iter()
                .take_while(|(t, _)| t.duration_since(reqs[i].0) < span)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Each ref announced as exposed, with the webhook-ids that announced it.
fn announced(env: &Env) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in env.receiver.accepted() {
        if r.event_type() == "exposure.opened" {
            for e in r.entry_refs() {
                m.entry(e).or_default().insert(r.id.clone());
            }
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_on_postgresql_survive_a_sigkill_of_the_prober() {
    // The cluster's set-up blocks: off the async workers.
    let Some(url) = tokio::task::spawn_blocking(|| pg::cluster().map(|c| c.fresh_database()))
        .await
        .unwrap()
    else {
        return;
    };
    let env = Env::new(Knobs {
        rate: "5/s",
        max_staleness: "1h",
        ..Knobs::default()
    })
    .await;
    // Both instances: the same store and sites, their own API port.
    let text = std::fs::read_to_string(env.config())
        .unwrap()
        .replace("path = \"state/unlistd.db\"", &format!("url = \"{url}\""));
    std::fs::write(env.config(), &text).unwrap();
    let port_b = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config_b = env.path("config-b.toml");
    let listen_a = format!("listen = \"127.0.0.1:{}\"", env.api_port);
    assert!(text.contains(&listen_a));
    std::fs::write(
        &config_b,
        text.replace(&listen_a, &format!("listen = \"127.0.0.1:{port_b}\"")),
    )
    .unwrap();
    env.import(&roster());
    let leaked: BTreeSet<String> = (0..100).step_by(5).map(|i| format!("M-{i:02}")).collect();
    for i in (0..100).step_by(5) {
        env.sim.add(listing(
            &format!("Testperson Nr{i}"),
            &format!("9570{:02}{:02}", i / 10, i % 10),
            &format!("Testvej {}", i + 1),
            "8000 Aarhus C",
        ));
    }

    let mut a = Instance::start(&env, &env.config(), "a");
    assert!(
        eventually(Duration::from_secs(20), || env.sim.request_count() >= 3).await,
        "A does not probe: {}",
        a.log()
    );
    let b = Instance::start(&env, &config_b, "b");
    assert!(
        eventually(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            port_b
        ))
        .is_ok())
        .await,
        "B did not come up: {}",
        b.log()
    );
    let first = holder(&env).expect("a daemon holds the site");
    assert_eq!(pid_of(&first), a.child.id(), "A came first and holds it");
    // B waits: a few seconds of A alone on the site with B running.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b.log().contains("waiting for its lease"), "{}", b.log());
    assert!(announced(&env).len() < leaked.len(), "killed mid-way");

    a.kill();
    let killed = Instant::now();
    let reqs_at_kill = env.sim.request_count();
    assert!(
        eventually(Duration::from_secs(20), || env.sim.request_count()
            > reqs_at_kill)
        .await,
        "nobody took the site over: {}",
        b.log()
    );
    let reqs = env.sim.requests();
    let next = reqs[reqs_at_kill].0;
    let failover = next.saturating_duration_since(killed);
    eprintln!("failover: the site's next request came {failover:?} after the SIGKILL");
    assert!(
        failover <= LEASE + Duration::from_secs(2),
        "took {failover:?} (lease {LEASE:?})"
    );
    let log = b.log();
    assert!(log.contains("Took the site over"), "{log}");
    // B went on with A's cycle rather than starting a fresh one.
    let resumed = log.find("Cycle resumed").expect("B resumed A's cycle");
    assert!(
        log.find("Cycle started").is_none_or(|s| s > resumed),
        "{log}"
    );
    let now_held = holder(&env).expect("B holds the site");
    assert_eq!(pid_of(&now_held), b.child.id());
    // B's API says the same, and since when.
    let st: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port_b}/api/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["sites"][0]["held_by"], now_held.as_str(), "{st}");
    let since = st["sites"][0]["held_since"].as_str().unwrap();
    let since =
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).unwrap();
    let age = time::OffsetDateTime::now_utc() - since;
    assert!(age < time::Duration::seconds(30), "held since {since}");

    // Every leaked pair announced, once each.
    assert!(
        eventually(Duration::from_secs(90), || announced(&env).len()
            >= leaked.len())
        .await,
        "announced {:?} of {leaked:?}: {}",
        announced(&env).keys().collect::<Vec<_>>(),
        b.log()
    );
    let got = announced(&env);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), leaked);
    for (r, ids) in &got {
        assert_eq!(ids.len(), 1, "{r} announced under {ids:?}");
    }
    // Exactly one open incident per pair.
    let inc = json(&env.cmd(&["--json", "incidents"]));
    let mut pairs: Vec<(String, String)> = inc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] != "resolved")
        .map(|i| {
            (
                i["entry_ref"].as_str().unwrap().to_owned(),
                i["site"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    let n = pairs.len();
    pairs.dedup();
    assert_eq!(n, pairs.len(), "two open incidents for one pair");
    assert_eq!(n, leaked.len(), "{pairs:?}");

    // Both appended to one audit chain: still one unbroken line.
    let v = json(&env.cmd(&["--json", "audit", "verify"]));
    assert_eq!(v["verified"], true, "{v}");

    // The site never saw more than the rate from both together.
    drop(b);
    let reqs = env.sim.requests();
    let most = most_in_window(&reqs, Duration::from_secs(1) - ARRIVAL_SLACK);
    assert!(most <= 5 + 1, "{most} requests within one second at 5/s");
}
