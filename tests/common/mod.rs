//! Shared test fixtures: a temp dir with a config, a simulated directory,
//! a webhook receiver, and helpers to run the real binary.

#![allow(dead_code)]

/// A throwaway PostgreSQL cluster (the store's unit tests use it too).
pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use unlistd::alert::receiver::Receiver;
use unlistd::sim::{SimDirectory, SimListing};

pub const BIN: &str = env!("CARGO_BIN_EXE_unlistd");
pub const SECRET: &[u8] = b"test-webhook-secret-0123456789abcdef";
pub const TOKEN: &str = "test-api-token-abcdef0123456789";

/// A roster of synthetic entries (spare series only).
pub const ROSTER: &str = "\
ref,phone,name,street,house_number,floor,door,postcode,city,hide_number,hide_address,cohort
R-01,13 50 00 01,Birthe Østergaard Lund,Ågade,14B,2,th,8000,Aarhus C,true,true,batch-a
R-02,13 50 00 02,Kasper Nørgaard,Strandvejen,123A,st,tv,2900,Hellerup,true,false,batch-a
R-03,13 50 00 03,Søren Friis,Bøgevej,7,,,5000,Odense C,true,false,batch-a
R-04,19 50 00 04,Mette Kjærsgaard,Vestergade,21,1,mf,7100,Vejle,true,false,batch-b
R-05,19 50 00 05,Lars Bækgaard,Møllevej,3,,,4000,Roskilde,true,false,batch-b
R-06,94 50 00 06,Ida Hjørnholm,Kirkestræde,9,3,2,1100,København K,true,false,batch-b
";

/// Every full number of [`ROSTER`], in the digit forms a leak could take.
pub fn roster_numbers() -> Vec<String> {
    [
        "13500001", "13500002", "13500003", "19500004", "19500005", "94500006",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn listing(name: &str, phone: &str, street: &str, post: &str) -> SimListing {
    SimListing {
        name: name.into(),
        phones: vec![phone.into()],
        street_line: Some(street.into()),
        post_line: Some(post.into()),
    }
}

/// R-03 (Søren Friis) as a directory would list him: the leak most tests use.
pub fn r03_listing() -> SimListing {
    listing("Søren Friis", "13500003", "Bøgevej 7", "5000 Odense C")
}

// The SMTP server of the email tests.
pub mod smtp;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sim: SimDirectory,
    pub receiver: Receiver,
    pub api_port: u16,
}

pub struct Knobs {
    pub rate: &'static str,
    pub max_staleness: &'static str,
    pub resolve_after_clean: u32,
    pub group_wait: &'static str,
    pub timeout: &'static str,
    pub max_retries: u32,
    /// Appended to the `[[sites]]` table of the 118.dk site.
    pub site_extra: String,
    /// Appended at the end of the file.
    pub extra: String,
    /// Appended to the `[alerts]` table (e.g. `repeat_interval`, `digest`).
    pub alerts_extra: String,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            rate: "50/s",
            max_staleness: "30s",
            resolve_after_clean: 2,
            group_wait: "1s",
            timeout: "2s",
            max_retries: 1,
            site_extra: String::new(),
            extra: String::new(),
            alerts_extra: String::new(),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Env {
    pub async fn new(k: Knobs) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimDirectory::start().await.unwrap();
        let receiver = Receiver::start(SECRET).await.unwrap();
        let env = Env {
            dir,
            sim,
            receiver,
            api_port: free_port(),
        };
        env.write_config(&k);
        env
    }

    pub fn write_config(&self, k: &Knobs) {
        std::fs::write(self.path("webhook-secret"), SECRET).unwrap();
        std::fs::write(self.path("api-token"), format!("{TOKEN}\n")).unwrap();
        let cfg = format!(
            r#"
[store]
path = "state/unlistd.db"

[api]
listen = "127.0.0.1:{port}"
token_file = "api-token"

[scan]
max_staleness = "{ms}"
resolve_after_clean = {rac}

[[sites]]
name = "118.dk"
adapter = "dk118"
base_url = "{base}"
rate = "{rate}"
timeout = "{timeout}"
max_retries = {retries}
{site_extra}

[alerts]
group_wait = "{gw}"
max_backoff = "1s"
{alerts_extra}

[[alerts.webhook]]
url = "{hook}"
secret_file = "webhook-secret"
{extra}
"#,
            port = self.api_port,
            ms = k.max_staleness,
            rac = k.resolve_after_clean,
            base = self.sim.base_url(),
            rate = k.rate,
            timeout = k.timeout,
            retries = k.max_retries,
            site_extra = k.site_extra,
            gw = k.group_wait,
            hook = self.receiver.url(),
            extra = k.extra,
            alerts_extra = k.alerts_extra,
        );
        std::fs::write(self.config(), cfg).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.path("state/unlistd.db")
    }

    /// Runs `unlistd --config <env> ARGS` to completion.
    pub fn cmd(&self, args: &[&str]) -> Output {
        run_bin(&self.config(), args)
    }

    pub fn import(&self, csv: &str) -> Output {
        let p = self.path("roster.csv");
        std::fs::write(&p, csv).unwrap();
        let out = self.cmd(&["import", p.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `unlistd run` with stderr (the log) captured to a file.
    pub fn spawn_daemon(&self) -> Daemon {
        self.spawn_daemon_with(&[])
    }

    /// [`Env::spawn_daemon`] with extra environment variables.
    pub fn spawn_daemon_with(&self, vars: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let log = self.path("daemon.log");
        let child = Command::new(BIN)
            .args(["--config", self.config().to_str().unwrap(), "run"])
            .envs(vars.iter().copied())
            .env("UNLISTD_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    /// `GET path` on the daemon's API with the test token, as JSON.
    pub async fn api_json(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.api(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Whether a daemon's API answers `/healthz`.
    pub fn api_up(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.api_port)).is_ok()
    }
}

pub fn run_bin(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGHUP: reload the config.
    pub fn hup(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then wait (bounded) for a clean exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..300 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it is true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

/// Logs in with the API token; returns the `name=value` cookie to send.
pub async fn log_in(http: &reqwest::Client, env: &Env) -> String {
    let r = http
        .post(env.api("/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}
