//! The SQLite backend: opening the file (directories 0700, files 0600),
//! pragmas, migrations (`PRAGMA user_version`), and the one connection
//! every call shares. Everything rusqlite-specific lives here.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::StoreError;
use super::key::StoreKey;
use super::sql::Conn;

mod cipher;
mod conn;

pub(crate) use cipher::{Progress, encrypt_file};
pub(crate) use conn::SqliteConn;
use conn::{sql, sql_msg};

pub(super) const MIGRATION_LIST: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_init.sql")),
    M::up(include_str!("migrations/0002_site_state.sql")),
    // Rebuilds `entries`: run with foreign keys off, then checked.
    M::up(include_str!("migrations/0003_audit.sql")).foreign_key_check(),
    M::up(include_str!("migrations/0004_people.sql")),
    // Rebuilds `messages`: likewise.
    M::up(include_str!("migrations/0005_message_order.sql")).foreign_key_check(),
    // The version is the position in this list, not the file's number (the
    // numbers were reserved per feature): takedowns shipped sixth, so it
    // stays sixth and later migrations follow it whatever their number.
    M::up(include_str!("migrations/0009_takedowns.sql")),
    // Rebuilds `incidents`: likewise.
    M::up(include_str!("migrations/0006_custody.sql")).foreign_key_check(),
    // Unreleased when they met: in number order after custody.
    M::up(include_str!("migrations/0007_budget.sql")),
    M::up(include_str!("migrations/0008_detection.sql")),
    M::up(include_str!("migrations/0010_site_cycle.sql")),
    M::up(include_str!("migrations/0011_shared_file.sql")),
];

/// The schema history; the version lives in `PRAGMA user_version`.
pub(super) const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_LIST);

/// How long a call waits for another process's write lock before it fails
/// (the recorder and the scheduler then wait on, a CLI command gives up):
/// longer than an import's apply of a million-row roster takes.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Statements cached per connection: every statement of the store fits, so
/// the hot path never re-prepares.
const STATEMENT_CACHE: usize = 256;

fn open_err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Creates the missing directories of `dir` at mode 0700 (whatever the
/// umask). Existing directories are left alone.
pub(super) fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.iter().rev() {
        match DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => fs::set_permissions(d, Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes group/other permission bits from an existing file.
pub(super) fn make_private(path: &Path) -> std::io::Result<()> {
    let m = fs::symlink_metadata(path)?;
    if m.file_type().is_symlink() {
        return Err(std::io::Error::other(
            "is a symbolic link (unlistd does not follow one)",
        ));
    }
    let mode = m.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The store file must be a regular file, not a symbolic link, and belong
/// to the user unlistd runs as: another user's file (or a link to one)
/// could make unlistd write where that user chose. Root may also open a
/// store that belongs to another user when it lies inside a directory only
/// root can enter (systemd's `/var/lib/private` of a `DynamicUser`
/// service), which no other user could have put it in; SQLite then opens
/// its -wal and -shm without following links and gives them the store's
/// owner.
fn check_owner(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let m = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(open_err(path, e.to_string())),
    };
    if m.file_type().is_symlink() {
        return Err(open_err(
            path,
            "is a symbolic link: give the path of the store file itself",
        ));
    }
    if !m.is_file() {
        return Err(open_err(path, "is not a regular file"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() == me || (me == 0 && behind_root_only_dir(path)) {
        return Ok(());
    }
    Err(open_err(
        path,
        format!(
            "belongs to another user (uid {}), not to the user unlistd runs as (uid {me}): \
             run unlistd as that user",
            m.uid()
        ),
    ))
}

/// Whether some directory above `path` is root's and closed to everyone
/// else (mode 0700 or tighter).
fn behind_root_only_dir(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(real) = fs::canonicalize(path) else {
        return false;
    };
    real.ancestors()
        .skip(1)
        .any(|d| fs::metadata(d).is_ok_and(|m| m.is_dir() && m.uid() == 0 && m.mode() & 0o077 == 0))
}

/// Creates the database file at mode 0600 before SQLite ever sees it, or
/// tightens an existing file's mode. Never through a symbolic link.
fn prepare_db_file(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => {
            drop(f);
            // The mode above is filtered by the umask; set it exactly.
            fs::set_permissions(path, Permissions::from_mode(0o600))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => make_private(path),
        Err(e) => Err(e),
    }
}

/// SQLite gives -wal/-shm the database file's mode; make sure anyway.
fn wal_files_private(db: &Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm"] {
        let p = sidecar(db, suffix);
        match make_private(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(&p, e.to_string())),
        }
    }
    Ok(())
}

pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// An open SQLite store: a connection per kind of work, each behind its
/// own mutex and locked for one (synchronous) call at a time.
///
/// - `conn` carries everything else (the CLI, the API, the alerts).
/// - `reader` carries the reads a probe needs (the cycle's next entries,
///   the escalation queue, dismissed listings) and is `query_only`: in WAL
///   mode a reader never waits for a writer, so probing reads on while
///   another process (an import's apply) or `conn` holds the write lock.
/// - `writer` carries the recorder's group commits only: while it waits
///   for another process's write lock (busy timeout), no read queues
///   behind it.
/// - `side` is a separate small database file beside the store
///   (`PATH-shared`) for what every process shares many times a second
///   (budget turns, leases), committed with `synchronous = NORMAL`: a
///   long write transaction on the store (an import of a million rows)
///   never holds back a request's turn or lets a lease lapse.
pub(super) struct Db {
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
    writer: Mutex<Connection>,
    side: Mutex<Connection>,
    path: PathBuf,
}

/// Which of [`Db`]'s connections a call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    Main,
    /// The probe path's reads.
    Reader,
    /// The recorder's commits.
    Writer,
    /// The shared file: budget turns, leases.
    Shared,
}

/// The file beside the store that holds what every process shares (no
/// roster data: site names, instants, lease holders), encrypted with the
/// store's key when it has one.
const SHARED_SUFFIX: &str = "-shared";

/// The shared file's schema (Unix microseconds for turns: rates of
/// hundreds a second need finer steps than milliseconds; leases in ms).
const SHARED_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS site_budget (
        site              TEXT PRIMARY KEY NOT NULL,
        next_at           INTEGER NOT NULL DEFAULT 0,
        gate_until        INTEGER NOT NULL DEFAULT 0,
        crawl_delay       INTEGER NOT NULL DEFAULT 0,
        crawl_delay_until INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS leases (
        name    TEXT PRIMARY KEY NOT NULL,
        holder  TEXT NOT NULL,
        since   INTEGER NOT NULL,
        expires INTEGER NOT NULL
    ) WITHOUT ROWID;";

/// Opens the shared file beside the store (0600, never through a link,
/// the store's owner), creating its tables when missing. What it holds
/// lasts seconds (turns, gates, leases), so one a key change left under
/// another key (`store encrypt`, `store rekey`) is started afresh.
fn open_shared(store: &Path, key: Option<&StoreKey>) -> Result<Connection, StoreError> {
    let path = sidecar(store, SHARED_SUFFIX);
    check_owner(&path)?;
    let fits = cipher::check_key_fits(&path, key).and_then(|()| {
        prepare_db_file(&path).map_err(|e| open_err(&path, e.to_string()))?;
        connect(&path, key)
    });
    let conn = match fits {
        Ok(c) => c,
        Err(StoreError::Key { .. }) => {
            for suffix in ["", "-wal", "-shm"] {
                match fs::remove_file(sidecar(&path, suffix)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(open_err(&path, e.to_string())),
                }
            }
            prepare_db_file(&path).map_err(|e| open_err(&path, e.to_string()))?;
            connect(&path, key)?
        }
        Err(e) => return Err(e),
    };
    configure(&conn).map_err(|e| open_err(&path, e.to_string()))?;
    // What a power cut can lose here is a few budget turns and lease
    // renewals (both expire within seconds anyway); its commits cost
    // microseconds instead of an fsync each.
    conn.execute_batch(&format!("PRAGMA synchronous = NORMAL; {SHARED_SCHEMA}"))
        .map_err(|e| open_err(&path, sql_msg(&e)))?;
    wal_files_private(&path)?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if missing, parent directory included) and migrates.
    /// Migrations write through the WAL, so -wal and -shm exist after.
    /// With `key` the store is encrypted (SQLCipher); a plaintext file with
    /// a key, an encrypted one without, or the wrong key is refused before
    /// anything is written.
    pub(super) fn open(path: &Path, key: Option<&StoreKey>) -> Result<Db, StoreError> {
        if let Some(parent) = path.parent() {
            create_private_dirs(parent)
                .map_err(|e| open_err(path, format!("cannot create directory: {e}")))?;
        }
        check_owner(path)?;
        cipher::check_key_fits(path, key)?;
        prepare_db_file(path).map_err(|e| open_err(path, e.to_string()))?;

        let mut conn = connect(path, key)?;
        configure(&conn).map_err(|e| open_err(path, e.to_string()))?;
        migrate(&mut conn).map_err(|e| open_err(path, e))?;
        let second = || -> Result<Connection, StoreError> {
            let c = connect(path, key)?;
            configure(&c).map_err(|e| open_err(path, e.to_string()))?;
            Ok(c)
        };
        let reader = second()?;
        reader
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| open_err(path, sql_msg(&e)))?;
        let writer = second()?;
        let side = open_shared(path, key)?;
        // (They exist now: the migration check wrote through the WAL.)
        wal_files_private(path)?;
        Ok(Db {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            side: Mutex::new(side),
            path: path.to_path_buf(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection locked. A poisoned lock is taken over:
    /// a panicking holder's open transaction was rolled back when it
    /// unwound, so the connection is consistent.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.on(Lane::Main, f)
    }

    /// [`Db::with`] on the connection for `lane`.
    pub(super) fn on<T>(
        &self,
        lane: Lane,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match lane {
            Lane::Main => &self.conn,
            Lane::Reader => &self.reader,
            Lane::Writer => &self.writer,
            Lane::Shared => &self.side,
        };
        let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut SqliteConn(&conn))
    }

    /// Folds the WAL into the main file and truncates it (at shutdown, and
    /// after an erasure). False when a reader kept it from completing
    /// within the busy timeout.
    pub(super) fn checkpoint(&self) -> Result<bool, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(sql)?;
        Ok(busy == 0)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), String> {
    // A migration that rebuilds a table needs foreign keys off (they cannot
    // be switched inside its transaction); each such migration ends with a
    // foreign key check instead.
    conn.execute_batch("PRAGMA foreign_keys = OFF;")
        .map_err(|e| sql_msg(&e))?;
    let migrated = MIGRATIONS
        .to_latest(conn)
        .map_err(|e| format!("migration failed: {e}"));
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(|e| sql_msg(&e))?;
    migrated
}

/// A connection to `path`, keyed before anything else touches the file,
/// and proven readable (SQLCipher only finds a wrong key on the first read).
fn connect(path: &Path, key: Option<&StoreKey>) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_err(path, sql_msg(&e)))?;
    if let Some(k) = key {
        cipher::apply_key(&conn, "main", k).map_err(|e| open_err(path, e.to_string()))?;
    }
    cipher::check_readable(&conn, path, key.is_some())?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot switch to WAL journal mode (got {mode})"
        )));
    }
    // temp_store: the import's staging table (the whole roster) and large
    // sorts stay in memory; a temp file would be a plaintext copy of
    // roster values outside the store, left to the file system to forget.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(sql)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::store::{Store, StoreError};

    fn refused(r: Result<Store, StoreError>, words: &str) {
        match r {
            Err(e) => assert!(e.to_string().contains(words), "{e}"),
            Ok(_) => panic!("opened"),
        }
    }

    #[test]
    fn the_store_is_no_link_and_belongs_to_its_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unlistd.db");
        let s = Store::open(&path).unwrap();
        let temp: i64 = s
            .with(|c| c.query_i64("PRAGMA temp_store", crate::store::sql::params![]))
            .unwrap();
        assert_eq!(temp, 2, "temp_store = MEMORY");
        drop(s);

        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        refused(Store::open(&link), "symbolic link");
        let dangling = dir.path().join("dangling.db");
        std::os::unix::fs::symlink(dir.path().join("nowhere.db"), &dangling).unwrap();
        refused(Store::open(&dangling), "symbolic link");
        assert!(
            !dir.path().join("nowhere.db").exists(),
            "nothing created through it"
        );

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            // Only root can hand a file to another user.
            return;
        }
        let other = 4242;
        std::os::unix::fs::chown(&path, Some(other), Some(other)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        refused(Store::open(&path), "belongs to another user (uid 4242)");
        // Inside a directory only root can enter (a DynamicUser service's
        // state): root may open it, and the files it adds stay the owner's.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let s = Store::open(&path).unwrap();
        s.pseudonym_key().unwrap();
        use std::os::unix::fs::MetadataExt;
        let wal = super::sidecar(&path, "-wal");
        assert_eq!(std::fs::metadata(&wal).unwrap().uid(), other);
    }
}
