//! The per-site budget as the site sees it, and bounded memory.

use std::time::Duration;

use unlistd::sim::Fault;

use crate::common::*;

/// What the spacing check forgives: the sim timestamps arrivals after the
/// kernel and hyper hand them over, which can shift one arrival relative to
/// the previous by a few milliseconds on a loaded 2-core machine.
const TIMING_TOLERANCE: Duration = Duration::from_millis(15);

#[tokio::test(flavor = "multi_thread")]
async fn rate_is_never_exceeded_retries_included() {
    let env = Env::new(Knobs {
        rate: "10/s",
        max_retries: 2,
        ..Knobs::default()
    })
    .await;
    env.import(ROSTER);
    // The first four requests fail: retries must queue behind the same gate.
    env.sim.set_fault(Fault::FailFirst(4));
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = env.sim.requests();
    // robots.txt first (the sim never fails it), through the same gate.
    // Then one probe fails three times (1 + 2 retries, inconclusive), the
    // next fails once and succeeds on its retry: 7 first attempts + 3 retries.
    assert_eq!(reqs[0].1, "/robots.txt");
    assert_eq!(reqs.len(), 1 + 7 + 3, "robots.txt + 7 requests + 3 retries");
    let interval = Duration::from_millis(100);
    for w in reqs.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(
            gap + TIMING_TOLERANCE >= interval,
            "two requests {gap:?} apart at 10/s"
        );
    }
    // At most 10 in any one-second window.
    for (i, (t0, _)) in reqs.iter().enumerate() {
        let n = reqs[i..]
            .iter()
            .take_while(|(t, _)| t.duration_since(*t0) < Duration::from_secs(1))
            .count();
        assert!(n <= 10, "{n} requests within one second");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured() {
    let env = Env::new(Knobs {
        rate: "50/s",
        max_retries: 2,
        ..Knobs::default()
    })
    .await;
    env.import("ref,phone,hide_number,hide_address\nX,13700001,true,false\n");
    env.sim.set_fault(Fault::RetryAfterOnce {
        status: 429,
        seconds: 2,
    });
    let out = env.cmd(&["--json", "scan", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["clean"].as_u64(), Some(1));
    let reqs = env.sim.requests();
    assert_eq!(reqs.len(), 1 + 2, "robots.txt, the 429 and the retry");
    let gap = reqs[2].0.duration_since(reqs[1].0);
    assert!(
        gap + TIMING_TOLERANCE >= Duration::from_secs(2),
        "retried after {gap:?}, asked for 2 s"
    );
    assert!(gap < Duration::from_secs(4), "waited {gap:?}");
}

/// Runs `unlistd check` and returns (exit code, peak RSS in KiB).
// The child is reaped by `wait4`, which also reports its peak RSS.
#[allow(clippy::zombie_processes)]
fn check_peak_rss(env: &Env, phone: &str) -> (i32, i64) {
    let mut child = std::process::Command::new(BIN)
        .args(["--config", env.config().to_str().unwrap(), "check", phone])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Not the child's rusage: until its exec the child runs on the test
    // process's memory (vfork), and the kernel counts that high-water mark
    // too, so a big test process would fail this test. VmHWM of the exec'd
    // program's own memory is monotonic: the last reading before it exits
    // holds its peak.
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0i64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(peak_kib > 0, "never read the child's VmHWM");
    (status.code().unwrap_or(-1), peak_kib)
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_bounded_with_huge_bodies_and_gzip_bombs() {
    let env = Env::new(Knobs {
        timeout: "30s",
        max_retries: 0,
        ..Knobs::default()
    })
    .await;
    for fault in [
        Fault::Huge {
            bytes: 100 * 1024 * 1024,
        },
        Fault::GzipBomb,
    ] {
        env.sim.set_fault(fault);
        let (code, rss_kib) = check_peak_rss(&env, "13 80 00 01");
        assert_eq!(code, 1, "an unreadable answer is inconclusive: exit 1");
        assert!(rss_kib < 256 * 1024, "peak RSS {} MiB", rss_kib / 1024);
        println!("peak RSS {} MiB", rss_kib / 1024);
    }
}
