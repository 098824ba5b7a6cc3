//! End-to-end throughput: the real release binary, `unlistd scan --once`,
//! against a local web server that answers every 118.dk search with the
//! 82 KB realistic no-results page (`tests/fixtures/118/realistic_no_results.html`)
//! with the queried number echoed, keep-alive, `TCP_NODELAY`.
//!
//! ```text
//! cargo bench --bench throughput
//! UNLISTD_BENCH_ENTRIES=1000000 cargo bench --bench throughput   # 10⁶ roster
//! UNLISTD_BENCH_CONCURRENCY=1,4,16 UNLISTD_BENCH_SERVER=rust cargo bench --bench throughput
//! UNLISTD_BENCH_BIN=/tmp/unlistd-old cargo bench --bench throughput   # another build, for A/B
//! UNLISTD_BENCH_STORE=plain cargo bench --bench throughput   # one store kind only
//! UNLISTD_BENCH_ENTRIES=1000000 UNLISTD_BENCH_SCAN=0 UNLISTD_BENCH_CONCURRENCY=1 \
//!     cargo bench --bench throughput   # import only
//! UNLISTD_BENCH_SITES=3 cargo bench --bench throughput   # three sites, each the whole roster
//! UNLISTD_BENCH_SECONDS=120 cargo bench --bench throughput   # stop each scan after 120 s
//! UNLISTD_BENCH_PYTHON=3000 cargo bench --bench throughput   # and the Python baseline, 3000 probes
//! ```
//!
//! With `UNLISTD_BENCH_SECONDS` the scan gets SIGINT (as Ctrl-C) after that
//! long: it records what is in flight and prints its totals, and probes/s
//! is the probes recorded over the seconds until the signal (store open,
//! cycle start and the first batch included). That is how a 10⁶ roster is
//! measured without waiting for the whole cycle; CPU and peak RSS are the
//! whole process's.
//!
//! `UNLISTD_BENCH_STORE` (default `plain,encrypted`) runs each
//! concurrency on a plaintext store and on one encrypted at rest (`[store]
//! encryption_key_file`, SQLCipher), so the cost of encryption is the
//! difference between neighbouring rows, import included.
//!
//! For each concurrency it makes a fresh store, imports a generated roster
//! (number-protected entries from the spare 13… series), writes a config
//! with one `dk118` site at an effectively unlimited rate, runs the scan as
//! a child process and prints probes/s, CPU per probe (user + system time
//! of the child, from `wait4`) and the child's peak RSS. The server is
//! Debian's nginx when `/usr/sbin/nginx` exists (`UNLISTD_BENCH_SERVER=rust`
//! forces the built-in one), else a small thread-per-connection server in
//! this process; either way it shares the machine's cores with the scan,
//! as a directory site on loopback would. Figures only: never a CI gate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The page every search is answered with, and the number it was made for.
const PAGE: &str = include_str!("../tests/fixtures/118/realistic_no_results.html");
const PAGE_NUMBER: &str = "19283746";
const PAGE_NUMBER_SPACED: &str = "19 28 37 46";

/// The binary under test: this package's (built by `cargo bench`), or
/// `UNLISTD_BENCH_BIN` to compare another build on the same machine state.
fn bin() -> String {
    std::env::var("UNLISTD_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_unlistd").to_owned())
}

fn main() {
    let entries: usize = env_or("UNLISTD_BENCH_ENTRIES", "10000")
        .parse()
        .expect("UNLISTD_BENCH_ENTRIES: a number");
    assert!(
        (1..=1_000_000).contains(&entries),
        "UNLISTD_BENCH_ENTRIES: 1 to 1000000 (the 13… series holds 10⁶ numbers)"
    );
    let stores: Vec<bool> = env_or("UNLISTD_BENCH_STORE", "plain,encrypted")
        .split(',')
        .map(|k| match k.trim() {
            "plain" => false,
            "encrypted" => true,
            other => panic!("UNLISTD_BENCH_STORE: plain and/or encrypted, not {other:?}"),
        })
        .collect();
    // A 10⁶ import without the scan after it (which would take an hour).
    let import_only = env_or("UNLISTD_BENCH_SCAN", "1") == "0";
    let concurrency: Vec<u32> = env_or("UNLISTD_BENCH_CONCURRENCY", "1,8")
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("UNLISTD_BENCH_CONCURRENCY: e.g. 1,8")
        })
        .collect();
    assert!(
        PAGE.contains(PAGE_NUMBER) && PAGE.contains(PAGE_NUMBER_SPACED),
        "the page echoes its number"
    );
    let sites: usize = env_or("UNLISTD_BENCH_SITES", "1")
        .parse()
        .expect("UNLISTD_BENCH_SITES: a number");
    assert!((1..=9).contains(&sites), "UNLISTD_BENCH_SITES: 1 to 9");
    let limit: Option<Duration> = std::env::var("UNLISTD_BENCH_SECONDS")
        .ok()
        .map(|s| Duration::from_secs(s.parse().expect("UNLISTD_BENCH_SECONDS: whole seconds")));
    // The Python baseline's probes (0: none), after the unlistd rows.
    let python: Option<usize> = match env_or("UNLISTD_BENCH_PYTHON", "0").parse() {
        Ok(0) => None,
        Ok(n) => Some(n),
        Err(_) => panic!("UNLISTD_BENCH_PYTHON: a number of probes"),
    };
    let work = tempfile::tempdir().expect("temp dir");
    let server = Server::start(work.path());
    println!(
        "{} scan --once: {entries} number-protected entries, {sites} dk118 site(s), {} KB page from {}{}",
        bin(),
        PAGE.len() / 1000,
        server.describe(),
        limit.map_or(String::new(), |l| format!(
            ", stopped after {} s",
            l.as_secs()
        ))
    );
    let roster = work.path().join("roster.csv");
    write_roster(&roster, entries);
    println!(
        "| store | concurrency | probes | wall s | probes/s | CPU ms/probe | peak RSS MB | import s | import RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (c, encrypted) in concurrency
        .iter()
        .flat_map(|c| stores.iter().map(move |e| (*c, *e)))
    {
        let kind = if encrypted { "encrypted" } else { "plain" };
        let dir = work.path().join(format!("c{c}-{kind}"));
        std::fs::create_dir_all(&dir).expect("run dir");
        let config = write_config(&dir, &server.base_url(), c, encrypted, sites);
        let import = run(
            &config,
            &["import", roster.to_str().expect("utf-8 path")],
            None,
        );
        assert!(import.ok, "import failed: {}", import.stderr_tail);
        if import_only {
            println!(
                "| {kind} | — | — | — | — | — | — | {:.1} | {:.1} |",
                import.wall.as_secs_f64(),
                import.max_rss_kb as f64 / 1024.0,
            );
            continue;
        }
        let scan = run(&config, &["--json", "scan", "--once"], limit);
        assert!(scan.ok, "scan failed: {}", scan.stderr_tail);
        let summary: serde_json::Value =
            serde_json::from_str(&scan.stdout).expect("scan --json prints JSON");
        let probes = summary["probes"].as_u64().unwrap_or(0);
        let clean = summary["clean"].as_u64().unwrap_or(0);
        // Every page is the conclusive no-results page: anything else means
        // the bench measured errors, not probes.
        let all = (entries * sites) as u64;
        if scan.stopped_after.is_some() {
            assert!(probes > 0 && probes <= all && clean == probes, "{summary}");
        } else {
            assert_eq!((probes, clean), (all, all), "{summary}");
        }
        let secs = scan.stopped_after.unwrap_or(scan.wall).as_secs_f64();
        println!(
            "| {kind} | {c} | {probes} | {secs:.1} | {:.0} | {:.3} | {:.1} | {:.1} | {:.1} |",
            probes as f64 / secs,
            scan.cpu.as_secs_f64() * 1000.0 / probes as f64,
            scan.max_rss_kb as f64 / 1024.0,
            import.wall.as_secs_f64(),
            import.max_rss_kb as f64 / 1024.0,
        );
    }
    if let Some(n) = python {
        python_row(work.path(), &server.base_url(), &roster, n.min(entries));
    }
    drop(server);
}

/// The Python baseline (`benches/python_baseline.py`) on the same pages
/// from the same server: sequential, one commit per probe.
fn python_row(work: &Path, base_url: &str, roster: &Path, count: usize) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python_baseline.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(base_url)
        .arg(roster)
        .arg(work.join("python.db"))
        .arg(count.to_string());
    let r = run_child(cmd, &work.join("python.log"), None);
    assert!(r.ok, "python baseline failed: {}", r.stderr_tail);
    let counts: Vec<usize> = r
        .stdout
        .split_whitespace()
        .map(|n| n.parse().expect("probes and clean"))
        .collect();
    // Every page is the no-results page: the baseline must see that too.
    assert_eq!(counts, [count, count], "python baseline: probes, clean");
    let probes = count as f64;
    let secs = r.wall.as_secs_f64();
    println!(
        "| python baseline | 1 | {probes} | {secs:.1} | {:.0} | {:.3} | {:.1} | — | — |",
        probes / secs,
        r.cpu.as_secs_f64() * 1000.0 / probes,
        r.max_rss_kb as f64 / 1024.0,
    );
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn write_roster(path: &Path, entries: usize) {
    let mut csv = String::with_capacity(entries * 40);
    csv.push_str("ref,phone,hide_number,hide_address\n");
    for i in 0..entries {
        csv.push_str(&format!("B-{i:07},{},true,false\n", 13_000_000 + i));
    }
    std::fs::write(path, csv).expect("roster");
}

fn write_config(
    dir: &Path,
    base_url: &str,
    concurrency: u32,
    encrypted: bool,
    sites: usize,
) -> PathBuf {
    let path = dir.join("config.toml");
    let key = if encrypted {
        use std::os::unix::fs::OpenOptionsExt;
        let file = dir.join("store.key");
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .expect("key file");
        f.write_all(hex.as_bytes()).expect("key file");
        format!("encryption_key_file = \"{}\"\n", file.display())
    } else {
        String::new()
    };
    let mut text = format!("[store]\npath = \"unlistd.db\"\n{key}");
    for i in 0..sites {
        // The same server under other names: the daemon treats them as
        // separate sites (own cycle, client, limiter, counters).
        let name = if i == 0 {
            "118.dk".to_owned()
        } else {
            format!("118-{}.dk", i + 1)
        };
        text.push_str(&format!(
            "\n[[sites]]\nname = \"{name}\"\nadapter = \"dk118\"\nbase_url = \"{base_url}\"\nrate = \"1000000/s\"\nconcurrency = {concurrency}\ntimeout = \"30s\"\n"
        ));
    }
    std::fs::write(&path, text).expect("config");
    path
}

struct Run {
    ok: bool,
    /// When the run was stopped with SIGINT: how long after its start.
    stopped_after: Option<Duration>,
    stdout: String,
    stderr_tail: String,
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
}

/// Runs the binary under test on `config` (see [`run_child`]).
fn run(config: &Path, args: &[&str], limit: Option<Duration>) -> Run {
    let log = config.with_file_name(format!("{}.log", args.join("_").replace(['/', '.'], "")));
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("UNLISTD_LOG", "warn");
    run_child(cmd, &log, limit)
}

/// Runs `cmd` (stdout captured, stderr to `log`) and reaps it with
/// `wait4`, which gives the child's own CPU time and peak RSS (not this
/// process's, which also runs the server). With `limit`, the child gets
/// SIGINT after that long.
#[expect(clippy::zombie_processes, reason = "reaped by wait4, not Child::wait")]
fn run_child(mut cmd: Command, log: &Path, limit: Option<Duration>) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start unlistd");
    let pid = i32::try_from(child.id()).expect("pid");
    let stopper = limit.map(|limit| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // Woken early (disconnected) when the child ends by itself.
            if rx.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                // SAFETY: signalling our own child, not reaped until wait4
                // below, so the pid cannot have been reused.
                unsafe { libc::kill(pid, libc::SIGINT) };
                return Some(started.elapsed());
            }
            None
        });
        (tx, t)
    });
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).expect("child stdout");
    }
    let stopped_after = stopper.and_then(|(tx, t)| {
        drop(tx);
        t.join().expect("stopper thread")
    });
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; the pid is our
    // own unreaped child (std's `Child` is never waited on after this).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(reaped, pid, "wait4");
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    let tail_from = stderr.len().saturating_sub(2000);
    Run {
        // Exit 0: no incident open after the pass (every page says "none").
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stopped_after,
        stdout,
        stderr_tail: stderr.get(tail_from..).unwrap_or("").to_owned(),
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss,
    }
}

/// The page split around the number it echoes, to render for any number.
struct Template(Vec<Piece>);

enum Piece {
    Text(String),
    Number,
    Spaced,
}

impl Template {
    fn new(page: &str) -> Template {
        let mut pieces = Vec::new();
        let mut rest = page;
        loop {
            let a = rest.find(PAGE_NUMBER).map(|i| (i, PAGE_NUMBER.len(), true));
            let b = rest
                .find(PAGE_NUMBER_SPACED)
                .map(|i| (i, PAGE_NUMBER_SPACED.len(), false));
            let next = match (a, b) {
                (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            let Some((at, len, plain)) = next else {
                pieces.push(Piece::Text(rest.to_owned()));
                return Template(pieces);
            };
            pieces.push(Piece::Text(rest[..at].to_owned()));
            pieces.push(if plain { Piece::Number } else { Piece::Spaced });
            rest = &rest[at + len..];
        }
    }

    fn render(&self, number: &str, out: &mut Vec<u8>) {
        let spaced = if number.len() == 8 && number.is_ascii() {
            format!(
                "{} {} {} {}",
                &number[..2],
                &number[2..4],
                &number[4..6],
                &number[6..]
            )
        } else {
            number.to_owned()
        };
        for p in &self.0 {
            out.extend_from_slice(match p {
                Piece::Text(t) => t.as_bytes(),
                Piece::Number => number.as_bytes(),
                Piece::Spaced => spaced.as_bytes(),
            });
        }
    }
}

enum Server {
    Rust {
        port: u16,
    },
    Nginx {
        port: u16,
        child: std::process::Child,
    },
}

impl Server {
    fn start(dir: &Path) -> Server {
        let choice = env_or("UNLISTD_BENCH_SERVER", "auto");
        let nginx = Path::new("/usr/sbin/nginx");
        match choice.as_str() {
            "rust" => Server::rust(),
            "nginx" => Server::nginx(nginx, dir),
            _ if nginx.exists() => Server::nginx(nginx, dir),
            _ => Server::rust(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Server::Rust { .. } => "the bench's own server (thread per connection)".into(),
            Server::Nginx { .. } => "nginx (sub_filter echoes the number)".into(),
        }
    }

    fn base_url(&self) -> String {
        let (Server::Rust { port } | Server::Nginx { port, .. }) = self;
        format!("http://127.0.0.1:{port}")
    }

    fn rust() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let template = Arc::new(Template::new(PAGE));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let t = template.clone();
                std::thread::spawn(move || serve(stream, &t));
            }
        });
        Server::Rust { port }
    }

    fn nginx(bin: &Path, dir: &Path) -> Server {
        let root = dir.join("nginx");
        std::fs::create_dir_all(root.join("tmp")).expect("nginx dir");
        std::fs::write(root.join("page.html"), PAGE).expect("page");
        // A free port, released for nginx to take (loopback, short window).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let r = root.display();
        let conf = format!(
            "daemon off;\nworker_processes auto;\nuser root;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {r}/tmp; proxy_temp_path {r}/tmp; fastcgi_temp_path {r}/tmp; uwsgi_temp_path {r}/tmp; scgi_temp_path {r}/tmp;\n  tcp_nodelay on;\n  keepalive_requests 10000000;\n  keepalive_timeout 120s;\n  map $arg_what $spaced {{ \"~^(\\d\\d)(\\d\\d)(\\d\\d)(\\d\\d)$\" \"$1 $2 $3 $4\"; default $arg_what; }}\n  server {{\n    listen 127.0.0.1:{port};\n    location = /search/go {{\n      alias {r}/page.html;\n      default_type text/html;\n      charset utf-8;\n      add_header Set-Cookie \"JSESSIONID=3F9A1C0E7B2D4A6F8E1B3C5D7F9A0B2C.node2; Path=/; HttpOnly\";\n      sub_filter_once off;\n      sub_filter \"{PAGE_NUMBER}\" \"$arg_what\";\n      sub_filter \"{PAGE_NUMBER_SPACED}\" \"$spaced\";\n    }}\n    location / {{ return 404; }}\n  }}\n}}\n"
        );
        let conf_path = root.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let server = Server::Nginx { port, child };
        server.wait_ready();
        server
    }

    /// Until the page answers with the number echoed.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(body) = get(&self.base_url(), "/search/go?what=13000001")
                && body.contains("13000001")
                && body.contains("13 00 00 01")
                && !body.contains(PAGE_NUMBER)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the web server did not serve the page with the number echoed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Nginx { child, .. } = self {
            // SIGTERM, not SIGKILL: the master stops its workers on the way
            // out; killed outright, it would orphan them.
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let _ = child.wait();
        }
    }
}

/// One plain GET (readiness check only).
fn get(base: &str, path: &str) -> Option<String> {
    let addr = base.strip_prefix("http://")?;
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// HTTP/1.1 with keep-alive for one connection: the search route answers
/// the page for `what`, anything else (robots.txt included) is a 404.
fn serve(stream: TcpStream, page: &Template) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut line = String::new();
    let mut body = Vec::with_capacity(PAGE.len() + 64);
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
            let h = h.to_ascii_lowercase();
            close |= h.starts_with("connection:") && h.contains("close");
        }
        body.clear();
        let what = target
            .strip_prefix("/search/go?")
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("what=")));
        let head = match what {
            Some(n) => {
                page.render(n, &mut body);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nSet-Cookie: JSESSIONID=3F9A1C0E7B2D4A6F8E1B3C5D7F9A0B2C.node2; Path=/; HttpOnly\r\n\r\n",
                    body.len()
                )
            }
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
        };
        // One write per answer, as a static server's sendfile would do.
        let answer = [head.as_bytes(), &body].concat();
        if writer.write_all(&answer).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}
