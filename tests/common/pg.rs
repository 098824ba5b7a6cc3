//! A throwaway PostgreSQL cluster for tests: one per test process, started
//! on first use, a fresh database per caller.
//!
//! `initdb` and `pg_ctl` run as the `postgres` user (through `runuser`)
//! when the tests run as root, as the current user otherwise, on a
//! private directory under the temp dir, listening on a free loopback
//! port with trust authentication. The cluster is stopped and its
//! directory removed when the process exits (an `atexit` hook, so a
//! panicking test changes nothing), by a `Drop` guard if starting fails
//! half-way, and by a small watchdog if the process is killed.
//!
//! Without PostgreSQL installed, [`cluster`] returns `None` after printing
//! one notice; with `CI` set that is a failure instead.

#![allow(dead_code)] // each test crate uses its part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: AtomicU32,
}

/// Where PostgreSQL's server programs are: `PATH`, then Debian's
/// versioned directories (newest first).
fn find_bin() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    if in_path.is_some() {
        return in_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, mut cmd: Command, what: &str) {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(bin: PathBuf) -> Cluster {
        // SAFETY: geteuid cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!("unlistd-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster directory");
        // From here on, a panic removes what was made (Drop).
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            next_db: AtomicU32::new(0),
        };
        if as_postgres {
            // SAFETY: a NUL-terminated name; the result is read at once.
            let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
            assert!(!pw.is_null(), "no postgres user to run the cluster as");
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid)).expect("chown");
        }
        let mut init = cluster.command("initdb");
        init.args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
        ])
        .arg("-D")
        .arg(cluster.data());
        cluster.run(init, "initdb");
        cluster.write_tls_files();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cluster.port,
            cluster.dir.display(),
            cluster.cert_path().display(),
            cluster.dir.join("server.key").display(),
        );
        let mut start = cluster.command("pg_ctl");
        start
            .arg("-D")
            .arg(cluster.data())
            .args(["-l"])
            .arg(cluster.dir.join("log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"]);
        cluster.run(start, "pg_ctl start");
        cluster.watch_parent();
        cluster
    }

    /// A self-signed certificate for `localhost` (a DNS name only, so a
    /// client checking names must connect as `localhost`, not 127.0.0.1),
    /// and its key, readable by the server only.
    fn write_tls_files(&self) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a test certificate");
        let key = self.dir.join("server.key");
        std::fs::write(self.cert_path(), made.cert.pem()).expect("write the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if self.as_postgres {
            let owner = std::fs::metadata(&self.dir).expect("cluster directory");
            use std::os::unix::fs::MetadataExt;
            for f in [self.cert_path(), key] {
                std::os::unix::fs::chown(&f, Some(owner.uid()), Some(owner.gid())).expect("chown");
            }
        }
    }

    /// The server's certificate, which is its own CA (for `sslrootcert`).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// Stops the cluster and removes its directory should this process be
    /// killed before its exit hook runs.
    fn watch_parent(&self) {
        let stop = format!(
            "{}{} stop -D {} -m immediate",
            if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; \
             rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of `db` as the superuser, without TLS.
    pub fn url(&self, db: &str) -> String {
        self.url_with(db, "127.0.0.1", "sslmode=disable")
    }

    /// The URL of `db` on `host` (which must resolve to 127.0.0.1) with
    /// the query string `query`.
    pub fn url_with(&self, db: &str, host: &str, query: &str) -> String {
        format!("postgresql://postgres@{host}:{}/{db}?{query}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let mut admin = ::postgres::Client::connect(&self.url("postgres"), ::postgres::NoTls)
            .expect("connect to the test cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .expect("CREATE DATABASE");
        self.url(&name)
    }
}

impl Cluster {
    /// Stops the server (immediately: the data is thrown away) and removes
    /// the directory.
    fn shutdown(&self) {
        if self.data().join("postmaster.pid").exists() {
            let mut stop = self.command("pg_ctl");
            stop.arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = stop.status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Only a cluster that failed to start is ever dropped; a running one
/// lives until the exit hook shuts it down.
impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

static CLUSTER: OnceLock<Option<&'static Cluster>> = OnceLock::new();
static NOTICE: Once = Once::new();

extern "C" fn stop_at_exit() {
    if let Some(Some(c)) = CLUSTER.get() {
        c.shutdown();
    }
}

/// The process's cluster, started on first call; `None` (after a notice
/// printed once) where PostgreSQL is not installed, unless `CI` is set.
pub fn cluster() -> Option<&'static Cluster> {
    *CLUSTER.get_or_init(|| {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but PostgreSQL is not installed (apt-get install postgresql)"
            );
            // Straight to stderr: the test harness captures `eprintln!`
            // of passing tests, and this must be seen.
            NOTICE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: PostgreSQL is not installed; the PostgreSQL half of the store \
                     tests is skipped (apt-get install postgresql to run it)"
                );
            });
            return None;
        };
        let cluster: &'static Cluster = Box::leak(Box::new(Cluster::start(bin)));
        // SAFETY: atexit only registers a plain function.
        unsafe { libc::atexit(stop_at_exit) };
        Some(cluster)
    })
}
