//! The PostgreSQL backend: the URL (with `sslmode` and the password the
//! caller passes), a small r2d2 pool of synchronous `postgres` clients,
//! and migrations. Everything `postgres`-specific lives here.
//!
//! Why this client: store methods are synchronous and always run on
//! blocking threads, so the synchronous `postgres` crate (tokio-postgres
//! under its own small runtime per connection) fits without making the
//! store async; `r2d2` is the maintained pool for it; TLS goes through
//! rustls like every other connection unlistd makes. `sqlx` would bring a
//! second SQL toolkit, async-only APIs and its own SQLite driver next to
//! rusqlite.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ::postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::sql::Conn;

mod conn;
mod tls;

use conn::{PgConn, StmtCache, pg, pg_msg};
use tls::TlsChoice;

/// The schema history, applied in order; each version once, recorded in
/// `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_custody.sql")),
    (3, include_str!("migrations/0003_budget.sql")),
    (4, include_str!("migrations/0004_detection.sql")),
    (5, include_str!("migrations/0005_takedowns.sql")),
    (6, include_str!("migrations/0006_site_cycle.sql")),
];

/// Held (session-scoped) while migrating, so daemons starting together do
/// not migrate twice.
const MIGRATE_LOCK: i64 = 0x756e_6c69_7374_6402;

/// Connections per store: the daemon's blocking calls rarely overlap more.
const POOL_SIZE: u32 = 4;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One pooled connection: the client and the statements prepared on it.
pub(super) struct Session {
    client: Client,
    cache: StmtCache,
}

struct Manager {
    config: Config,
    tls: MakeRustlsConnect,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Session;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<Session, Self::Error> {
        Ok(Session {
            client: self.config.connect(self.tls.clone())?,
            cache: HashMap::new(),
        })
    }

    fn is_valid(&self, s: &mut Session) -> Result<(), Self::Error> {
        s.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, s: &mut Session) -> bool {
        s.client.is_closed()
    }
}

/// An open PostgreSQL store.
pub(super) struct Db {
    pool: r2d2::Pool<Manager>,
    /// `postgresql://user@host:port/db`: for messages, without secrets.
    label: String,
}

/// The parts of a connection URL: what `postgres::Config` takes, and the
/// TLS parameters it does not know (`verify-*`, `sslrootcert`).
fn parse_url(url: &str) -> Result<(Config, TlsChoice), String> {
    let mut u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "postgresql" | "postgres") {
        return Err("the URL must start with postgresql://".into());
    }
    let mut sslmode = None;
    let mut root = None;
    let mut rest: Vec<(String, String)> = Vec::new();
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "sslmode" => sslmode = Some(v.into_owned()),
            "sslrootcert" => root = Some(PathBuf::from(v.as_ref())),
            _ => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    if rest.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(rest);
    }
    let tls = TlsChoice::parse(sslmode.as_deref(), root)?;
    let mut config: Config = u.as_str().parse().map_err(|e| format!("{e}"))?;
    config.ssl_mode(tls.mode);
    Ok((config, tls))
}

/// `postgresql://user@host:port/db`, never the password.
fn label_of(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => h.clone(),
        Some(::postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgresql://{user}{host}:{port}/{db}")
}

impl Db {
    /// Connects, migrates, and builds the pool. Must run on a blocking
    /// thread (the client drives its own runtime).
    pub(super) fn open(url: &str, password: Option<&str>) -> Result<Db, StoreError> {
        let open_err = |label: &str, message: String| StoreError::Open {
            path: label.to_owned(),
            message,
        };
        // The URL itself may hold a password: never echo it.
        let (mut config, tls) = parse_url(url).map_err(|m| open_err("the store URL", m))?;
        let label = label_of(&config);
        if let Some(p) = password {
            config.password(p);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("unlistd");
        let tls = tls.connector().map_err(|m| open_err(&label, m))?;
        let manager = Manager { config, tls };
        // One connection first, so a refused login or a failed migration
        // is reported as itself rather than as a pool timeout.
        let mut first =
            r2d2::ManageConnection::connect(&manager).map_err(|e| open_err(&label, pg_msg(&e)))?;
        migrate(&mut first.client).map_err(|e| match e {
            StoreError::Backend(m) => open_err(&label, m),
            other => open_err(&label, other.to_string()),
        })?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(CONNECT_TIMEOUT * 3)
            .build_unchecked(manager);
        drop(first);
        Ok(Db { pool, label })
    }

    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// Runs `f` on a pooled connection.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self
            .pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))?;
        let Session { client, cache } = &mut *session;
        f(&mut PgConn::new(client, cache))
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .map_err(pg)?;
    let result = apply_migrations(client);
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .map_err(pg);
    result.and(unlocked.map(|_| ()))
}

fn apply_migrations(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .map_err(pg)?;
    let applied: Vec<i64> = client
        .query("SELECT version FROM schema_migrations", &[])
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let current = applied.iter().copied().max().unwrap_or(0);
    let latest = MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if current > latest {
        return Err(StoreError::Backend(format!(
            "the database's schema (version {current}) is newer than this unlistd knows \
             ({latest})"
        )));
    }
    // Every migration not yet applied, not only those above the highest:
    // parallel branches land numbers out of order (a database made before
    // 4 landed may already be at 5).
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
        let mut tx = client.transaction().map_err(pg)?;
        tx.batch_execute(sql)
            .map_err(|e| StoreError::Backend(format!("migration {version} failed: {}", pg(e))))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &now],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_tls_parameters_and_never_show_the_password() {
        let (c, tls) =
            parse_url("postgresql://u:secret@db.example:6543/unlistd?sslmode=verify-full").unwrap();
        assert_eq!(label_of(&c), "postgresql://u@db.example:6543/unlistd");
        assert_eq!(tls.verify, tls::Verify::ChainAndName);
        let (_, tls) = parse_url(
            "postgres://u@h/d?sslmode=require&sslrootcert=/etc/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            tls.verify,
            tls::Verify::Chain,
            "libpq: a root cert makes require verify"
        );
        let (_, tls) = parse_url("postgresql://u@h/d").unwrap();
        assert_eq!(tls.verify, tls::Verify::Nothing, "prefer by default");
        assert!(parse_url("postgresql://u@h/d?sslmode=allow").is_err());
        assert!(parse_url("mysql://u@h/d").is_err());
        let Err(err) = Db::open("postgresql://u:hunter2@h/d?sslmode=bogus", None) else {
            panic!("a bogus sslmode opened");
        };
        let err = err.to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
