//! How long a running daemon's probing pauses while a large roster is
//! re-imported beside it (README, "Running the CLI beside the daemon").
//!
//! ```text
//! cargo bench --bench import_pause                              # 10⁶ rows
//! UNLISTD_BENCH_ROWS=100000 cargo bench --bench import_pause
//! UNLISTD_BENCH_STORE=postgres cargo bench --bench import_pause  # on PostgreSQL
//! ```
//!
//! With `UNLISTD_BENCH_STORE=postgres` the store is a database of a
//! throwaway PostgreSQL cluster the bench starts from Debian's packages
//! (as the tests do), instead of the SQLite file.
//!
//! It imports a generated roster of `UNLISTD_BENCH_ROWS` entries (default
//! 10⁶, spare 95… series, names and addresses), starts `unlistd run` on it
//! against the simulated directory at `rate = "20/s"`, waits until the
//! daemon probes, then re-imports the roster with 5 % of the rows removed
//! and 10 % changed while the daemon goes on. It prints the import's
//! duration, the longest gap between two requests the site saw during the
//! import (and before it, for comparison), the pause (that gap less the
//! 50 ms interval), how many cycles the daemon logged as failed, and how
//! many probes the store holds against the requests the site saw.
//! Figures only: never a CI gate.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unlistd::sim::SimDirectory;

#[path = "../tests/common/pg.rs"]
mod pg;

const BIN: &str = env!("CARGO_BIN_EXE_unlistd");
const RATE_PER_S: u64 = 20;

fn main() {
    let rows: usize = std::env::var("UNLISTD_BENCH_ROWS")
        .unwrap_or_else(|_| "1000000".into())
        .parse()
        .expect("UNLISTD_BENCH_ROWS: a number");
    assert!(
        (100..=1_000_000).contains(&rows),
        "UNLISTD_BENCH_ROWS: 100 to 1000000 (the 95… series holds 10⁶ numbers)"
    );
    let postgres = match std::env::var("UNLISTD_BENCH_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("UNLISTD_BENCH_STORE: sqlite or postgres, not {other:?}"),
    };
    let store = if postgres {
        let url = pg::cluster()
            .expect("PostgreSQL is not installed (apt-get install postgresql)")
            .fresh_database();
        format!("url = \"{url}\"")
    } else {
        "path = \"unlistd.db\"".to_owned()
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let sim = rt
        .block_on(SimDirectory::start())
        .expect("the simulated site");
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("config.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[store]\n{store}\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [[sites]]\nname = \"118.dk\"\nadapter = \"dk118\"\nbase_url = \"{}\"\n\
             rate = \"{RATE_PER_S}/s\"\ntimeout = \"5s\"\n",
            sim.base_url()
        ),
    )
    .unwrap();

    let first = dir.path().join("roster.csv");
    write_roster(&first, rows, |_| Some(Row::Same));
    let took = import(&config, &first);
    println!("initial import: {rows} rows in {:.1} s", took.as_secs_f64());

    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("unlistd run");
    // Probing at its rate (the first cycle's shuffle of the whole roster
    // comes first).
    let started = Instant::now();
    while sim.request_count() < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the daemon does not probe: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));

    let second = dir.path().join("roster2.csv");
    write_roster(&second, rows, |i| match i % 20 {
        0 => None,                   // 5 % removed
        1 | 2 => Some(Row::Changed), // 10 % changed
        _ => Some(Row::Same),
    });
    let before_start = Instant::now() - Duration::from_secs(3);
    let import_start = Instant::now();
    let took = import(&config, &second);
    let import_end = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();

    let reqs: Vec<Instant> = sim.requests().into_iter().map(|(t, _)| t).collect();
    let interval = Duration::from_millis(1000 / RATE_PER_S);
    let before = longest_gap(&reqs, before_start, import_start);
    let during = longest_gap(&reqs, import_start, import_end + interval);
    let probes_during = reqs
        .iter()
        .filter(|t| **t >= import_start && **t <= import_end)
        .count();
    let recorded = if postgres {
        "(not counted on PostgreSQL)".to_owned()
    } else {
        rusqlite::Connection::open(dir.path().join("unlistd.db"))
            .and_then(|c| c.query_row("SELECT count(*) FROM probes", [], |r| r.get::<_, i64>(0)))
            .expect("the store's probes")
            .to_string()
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let failed = text.matches("Cycle failed").count();
    let locked = text.matches("database is locked").count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "re-import: {rows} rows (5 % removed, 10 % changed) in {:.1} s beside the daemon",
        took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "requests at {RATE_PER_S}/s: longest gap {:.0} ms before the import, {:.0} ms during it \
         (probe pause {:.0} ms); {probes_during} requests during the import",
        before.as_secs_f64() * 1000.0,
        during.as_secs_f64() * 1000.0,
        during.saturating_sub(interval).as_secs_f64() * 1000.0
    );
    let _ = writeln!(
        out,
        "daemon log: {failed} \"Cycle failed\", {locked} \"database is locked\""
    );
    let _ = writeln!(
        out,
        "probes recorded: {recorded}; requests the site saw: {} (robots.txt, and a second \
         search for each entry whose address is protected)",
        reqs.len()
    );
    print!("{out}");
}

#[derive(Clone, Copy)]
enum Row {
    Same,
    Changed,
}

fn write_roster(path: &Path, rows: usize, pick: impl Fn(usize) -> Option<Row>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    use std::io::Write;
    writeln!(
        w,
        "ref,phone,name,street,house_number,postcode,city,hide_number,hide_address,cohort"
    )
    .unwrap();
    for i in 0..rows {
        let Some(row) = pick(i) else { continue };
        let name = match row {
            Row::Same => format!("Person {i}"),
            Row::Changed => format!("Person {i} Nielsen"),
        };
        writeln!(
            w,
            "R-{i:07},95{i:06},{name},Ågade,{},8000,Aarhus C,true,{},batch-{}",
            i % 200 + 1,
            i % 3 == 0,
            i % 7
        )
        .unwrap();
    }
}

fn import(config: &Path, csv: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "import"])
        .arg(csv)
        .env("UNLISTD_LOG", "unlistd::store=debug")
        .output()
        .expect("unlistd import");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed: {log}");
    // The import's own account of its steps (only the last one locks).
    for line in log.lines().filter(|l| l.contains("Import applied")) {
        println!("  import steps: {}", line.trim());
    }
    t.elapsed()
}

/// The longest time without a request within `[from, to]` (the window's
/// edges count as requests).
fn longest_gap(reqs: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut last = from;
    let mut most = Duration::ZERO;
    for t in reqs.iter().filter(|t| **t > from && **t < to) {
        most = most.max(t.duration_since(last));
        last = *t;
    }
    most.max(to.saturating_duration_since(last))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
