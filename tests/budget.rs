//! One budget per site and one writer per store, whatever runs: the
//! daemon, `verify --cohort`, `check` and `scan --once` take their turns
//! from one budget the site sees; a `Retry-After` one of them is told
//! holds back all; a second daemon on one store is refused; deliveries
//! are sent once whoever dispatches them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use unlistd::sim::Fault;

use crate::common::*;

/// How late a request may arrive at the sim relative to its turn and the
/// previous request (loopback and scheduling on a loaded 2-core machine).
const ARRIVAL_SLACK: Duration = Duration::from_millis(30);

/// A roster of `n` entries of cohort `legacy-crm` (spare 95… series).
fn cohort_roster(n: usize) -> String {
    let mut s = String::from("ref,phone,hide_number,hide_address,cohort\n");
    for i in 0..n {
        s.push_str(&format!("L-{i:03},9560{i:04},true,false,legacy-crm\n"));
    }
    s
}

/// `unlistd --config <env> ARGS` started in the background.
fn start(env: &Env, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(env.config())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
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

async fn wait_api(env: &Env, daemon: &Daemon) {
    assert!(
        eventually(Duration::from_secs(20), || env.api_up()).await,
        "the daemon did not come up: {}",
        daemon.log()
    );
}

/// The daemon at 5/s, `verify --cohort` and two `check`s at once: the
/// site never sees more than 5 (+1) requests in any second, and every one
/// of them gets its answers.
#[tokio::test(flavor = "multi_thread")]
async fn daemon_verify_and_checks_share_one_budget() {
    let env = Env::new(Knobs {
        rate: "5/s",
        ..Knobs::default()
    })
    .await;
    env.import(&cohort_roster(12));
    let daemon = env.spawn_daemon();
    wait_api(&env, &daemon).await;
    // The daemon is probing at its full budget before the others start.
    assert!(eventually(Duration::from_secs(10), || env.sim.request_count() >= 4).await);
    let from = env.sim.request_count();
    let verify = start(&env, &["--json", "verify", "--cohort", "legacy-crm"]);
    let checks = [
        start(&env, &["--json", "check", "13 80 00 01"]),
        start(&env, &["--json", "check", "13 80 00 02"]),
    ];
    let verify = verify.wait_with_output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let v = json(&verify);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["clean"].as_u64(), Some(12));
    for c in checks {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(json(&out)["sites"][0]["result"], "not_listed");
    }
    let upto = env.sim.request_count();
    drop(daemon);
    let reqs = env.sim.requests();
    let during = &reqs[from.saturating_sub(1)..upto];
    // 12 probes of verify, 2 of the checks, 3 robots.txt, and the daemon's.
    assert!(during.len() >= 17, "{} requests", during.len());
    let most = most_in_window(during, Duration::from_secs(1));
    assert!(most <= 5 + 1, "{most} requests within one second at 5/s");
    // A turn goes out at most half an interval late: no two requests
    // closer than that, whoever sent them.
    for w in during.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(
            gap + ARRIVAL_SLACK >= Duration::from_millis(100),
            "two requests {gap:?} apart at 5/s"
        );
    }
    // And the budget was used, not left idle while they queued.
    let span = during[during.len() - 1].0.duration_since(during[0].0);
    let rate = (during.len() - 1) as f64 / span.as_secs_f64();
    assert!(rate > 3.0, "only {rate:.1} requests/s of 5/s used");
}

/// A 429 with `Retry-After: 3` served to one process holds back the
/// daemon and `verify --cohort` alike until it has passed.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_told_to_one_holds_back_all() {
    let env = Env::new(Knobs {
        rate: "5/s",
        max_retries: 2,
        ..Knobs::default()
    })
    .await;
    env.import(&cohort_roster(20));
    let daemon = env.spawn_daemon();
    wait_api(&env, &daemon).await;
    let verify = start(&env, &["--json", "verify", "--cohort", "legacy-crm"]);
    // Both are asking the site (each fetched its robots.txt) by now.
    assert!(
        eventually(Duration::from_secs(10), || {
            env.sim
                .requests()
                .iter()
                .filter(|(_, p)| p == "/robots.txt")
                .count()
                >= 2
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = env.sim.request_count();
    env.sim.set_fault(Fault::RetryAfterOnce {
        status: 429,
        seconds: 3,
    });
    let verify = verify.wait_with_output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    drop(daemon);
    let reqs = env.sim.requests();
    let i = (before..reqs.len())
        .find(|&i| reqs[i].1 != "/robots.txt")
        .expect("the 429 was served");
    let told = reqs[i].0;
    let next = reqs.get(i + 1).expect("requests went on after the 429");
    let held = next.0.duration_since(told);
    assert!(
        held + ARRIVAL_SLACK >= Duration::from_secs(3),
        "the next request came {held:?} after a Retry-After: 3"
    );
    assert!(held < Duration::from_secs(5), "held back {held:?}");
}

/// One daemon per store: a second exits 1 naming the holder; after a
/// SIGKILL the next starts at once; CLI writers work beside a daemon.
#[tokio::test(flavor = "multi_thread")]
async fn one_daemon_per_store_and_cli_writers_beside_it() {
    let env = Env::new(Knobs::default()).await;
    env.import(ROSTER);
    let mut first = env.spawn_daemon();
    wait_api(&env, &first).await;
    let pid = first.child.id();

    let second = env.cmd(&["run"]);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let db = env.db();
    assert!(
        stderr(&second).contains(&format!(
            "another unlistd (pid {pid}) holds {}",
            db.display()
        )),
        "{}",
        stderr(&second)
    );
    assert!(first.alive(), "the first daemon goes on");

    // Writers beside the daemon: import, silences.
    let mut more = ROSTER.to_string();
    more.push_str("R-07,95 50 00 07,Ny Person,,,,,,,true,false,batch-c\n");
    let out = env.import(&more);
    assert!(stdout(&out).contains("added 1"), "{}", stdout(&out));
    let out = env.cmd(&[
        "silence",
        "add",
        "--for",
        "1h",
        "--reason",
        "maintenance window",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.cmd(&["erase", "R-07", "--reason", "data-subject request"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(first.alive(), "the daemon goes on beside the writers");

    // SIGKILL leaves the lock file behind, but not the lock.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = first.child.wait();
    assert!(!first.alive());
    assert!(env.path("state/unlistd.db.lock").exists());
    let started = Instant::now();
    let next = env.spawn_daemon();
    wait_api(&env, &next).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(!next.log().contains("another unlistd"), "{}", next.log());
    let code = next.stop();
    assert_eq!(code, Some(0));
}

/// Probes the daemon has recorded (a second connection, as any process).
fn recorded(db: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.query_row("SELECT count(*) FROM probes", [], |r| r.get(0))
        .unwrap()
}

/// Another process holds the store's write lock for 6 s, as the apply of
/// a large re-import does: the daemon's requests go on at its rate (its
/// turns come from the shared file, its reads do not wait for writers),
/// what they found is committed once the lock is free, no cycle fails,
/// and a CLI writer waits for the lock instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_write_beside_the_daemon_does_not_pause_probing() {
    let env = Env::new(Knobs {
        rate: "20/s",
        ..Knobs::default()
    })
    .await;
    // 20 s of probing per cycle: no pause between cycles in the window.
    env.import(&cohort_roster(400));
    let daemon = env.spawn_daemon();
    wait_api(&env, &daemon).await;
    assert!(eventually(Duration::from_secs(10), || recorded(&env.db()) >= 10).await);

    let db = env.db();
    // Longer than SQLite's default 5 s busy timeout, shorter than ours.
    let hold = Duration::from_secs(6);
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (from, at_start) = (Instant::now(), recorded(&db));
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        // Nothing could be committed meanwhile: the lock was real.
        let at_end = recorded(&db);
        let to = Instant::now();
        c.execute_batch("ROLLBACK").unwrap();
        (from, to, at_start, at_end)
    });
    // A CLI writer meanwhile waits for the lock rather than failing.
    locked.recv().unwrap();
    let asked = Instant::now();
    let silence = env.cmd(&["silence", "add", "--for", "1h", "--reason", "maintenance"]);
    assert_eq!(silence.status.code(), Some(0), "{}", stderr(&silence));
    assert!(
        asked.elapsed() >= hold - Duration::from_secs(1),
        "the silence was written under another's write lock"
    );
    let (from, to, at_start, at_end) = tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        at_start, at_end,
        "a probe was committed under another's write lock"
    );

    let reqs: Vec<Instant> = env
        .sim
        .requests()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| *t >= from && *t <= to)
        .collect();
    let mut longest = Duration::ZERO;
    let mut last = from;
    for t in reqs.iter().copied().chain([to]) {
        longest = longest.max(t.duration_since(last));
        last = t;
    }
    assert!(
        longest < Duration::from_millis(500),
        "the site saw no request for {longest:?} while the store was locked"
    );
    assert!(reqs.len() >= 80, "{} requests in 6 s at 20/s", reqs.len());
    // What the daemon found meanwhile is recorded once the lock is free.
    let want = at_end + i64::try_from(reqs.len()).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || recorded(&env.db()) >= want).await,
        "{} recorded, {want} wanted: {}",
        recorded(&env.db()),
        daemon.log()
    );
    assert!(!daemon.log().contains("Cycle failed"), "{}", daemon.log());
    assert_eq!(daemon.stop(), Some(0));
}

/// The daemon and `scan --once` both dispatch from one outbox to a slow
/// receiver: every message arrives once (one `webhook-id`, one request).
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_and_scan_once_deliver_each_message_once() {
    let env = Env::new(Knobs {
        group_wait: "1s",
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    env.receiver.set_delay(Duration::from_millis(700));
    let daemon = env.spawn_daemon();
    wait_api(&env, &daemon).await;
    // Leaks one after another: several messages, several sends in flight.
    for (name, phone, street, post) in [
        ("Søren Friis", "13500003", "Bøgevej 7", "5000 Odense C"),
        (
            "Kasper Nørgaard",
            "13500002",
            "Strandvejen 123A",
            "2900 Hellerup",
        ),
        ("Lars Bækgaard", "19500005", "Møllevej 3", "4000 Roskilde"),
    ] {
        env.sim.add(listing(name, phone, street, post));
        for _ in 0..2 {
            let out = env.cmd(&["--json", "scan", "--once"]);
            assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        }
    }
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(30), |r| {
                let refs: std::collections::BTreeSet<String> =
                    r.iter().flat_map(|x| x.entry_refs()).collect();
                ["R-02", "R-03", "R-05"].iter().all(|x| refs.contains(*x))
            })
            .await,
        "not every leak was announced: {}",
        daemon.log()
    );
    // Let anything still in flight land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(daemon);
    let all = env.receiver.all();
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message was sent twice: {ids:?}");
}
