//! Opening the database (files, permissions, pragmas, migrations) and the
//! small conversions every query module shares.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row};
use rusqlite_migration::{M, Migrations};

use super::{StoreError, Ts};
use crate::domain::{Address, E164, Entry, ExposedField};

pub(super) const MIGRATION_LIST: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_init.sql")),
    M::up(include_str!("migrations/0002_site_state.sql")),
    // Rebuilds `entries`: run with foreign keys off, then checked.
    M::up(include_str!("migrations/0003_audit.sql")).foreign_key_check(),
    M::up(include_str!("migrations/0004_people.sql")),
];

/// The schema history; the version lives in `PRAGMA user_version`.
pub(super) const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_LIST);

const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

fn open_err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Creates the missing directories of `dir` at mode 0700 (whatever the
/// umask). Existing directories are left alone.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
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
fn make_private(path: &Path) -> std::io::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates the database file at mode 0600 before SQLite ever sees it, or
/// tightens an existing file's mode.
fn prepare_db_file(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
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

pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent() {
        create_private_dirs(parent)
            .map_err(|e| open_err(path, format!("cannot create directory: {e}")))?;
    }
    prepare_db_file(path).map_err(|e| open_err(path, e.to_string()))?;

    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn =
        Connection::open_with_flags(path, flags).map_err(|e| open_err(path, sql_msg(&e)))?;
    configure(&conn).map_err(|e| open_err(path, e.to_string()))?;
    // A migration that rebuilds a table needs foreign keys off (they cannot
    // be switched inside its transaction); each such migration ends with a
    // foreign key check instead.
    conn.execute_batch("PRAGMA foreign_keys = OFF;")
        .map_err(|e| open_err(path, sql_msg(&e)))?;
    let migrated = MIGRATIONS
        .to_latest(&mut conn)
        .map_err(|e| open_err(path, format!("migration failed: {e}")));
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(|e| open_err(path, sql_msg(&e)))?;
    migrated?;
    super::audit::start_trail(&mut conn).map_err(|e| open_err(path, e.to_string()))?;

    // SQLite gives -wal/-shm the database file's mode; make sure anyway
    // (they exist now: the migration check wrote through the WAL).
    for suffix in ["-wal", "-shm"] {
        let p = sidecar(path, suffix);
        match make_private(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(&p, e.to_string())),
        }
    }
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot switch to WAL journal mode (got {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;",
    )
    .map_err(sql)
}

// ---------------------------------------------------------------- errors

/// A marker error for values read back that the store cannot have written.
#[derive(Debug)]
struct Corrupt(&'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected {} value", self.0)
    }
}

impl std::error::Error for Corrupt {}

/// A conversion error for column `idx` holding an unexpected value. The
/// value itself is never part of the message.
pub(super) fn corrupt(idx: usize, what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Null, Box::new(Corrupt(what)))
}

/// A message for a rusqlite error that can never contain row data.
fn sql_msg(e: &rusqlite::Error) -> String {
    use rusqlite::Error as E;
    match e {
        // SQLite's own messages name constraints and columns, not values
        // (every value is a bound parameter).
        E::SqliteFailure(err, Some(msg)) => format!("{msg} ({:?})", err.code),
        E::SqliteFailure(err, None) => format!("{err}"),
        E::FromSqlConversionFailure(idx, _, inner) if inner.is::<Corrupt>() => {
            format!("column {idx}: {inner}")
        }
        E::FromSqlConversionFailure(idx, ty, _) => {
            format!("column {idx}: cannot convert {ty} value")
        }
        E::IntegralValueOutOfRange(idx, _) => format!("column {idx}: integer out of range"),
        E::Utf8Error(idx, _) => format!("column {idx}: invalid UTF-8"),
        E::InvalidColumnType(idx, name, ty) => {
            format!("column {idx} ({name}): unexpected type {ty}")
        }
        E::QueryReturnedNoRows => "query returned no rows".into(),
        E::QueryReturnedMoreThanOneRow => "query returned more than one row".into(),
        E::InvalidColumnIndex(idx) => format!("invalid column index {idx}"),
        E::InvalidColumnName(name) => format!("invalid column name {name}"),
        E::StatementChangedRows(n) => format!("statement changed {n} rows"),
        E::InvalidParameterCount(given, expected) => {
            format!("{given} parameters given, {expected} expected")
        }
        E::ExecuteReturnedResults => "execute returned results".into(),
        E::MultipleStatement => "multiple statements".into(),
        E::ToSqlConversionFailure(_) => "cannot convert a parameter".into(),
        _ => "database error".into(),
    }
}

pub(super) fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(sql_msg(&e))
}

// ---------------------------------------------------------------- times

pub(super) fn ms(t: Ts) -> i64 {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

pub(super) fn ts_at(ms: i64, idx: usize) -> rusqlite::Result<Ts> {
    Ts::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| corrupt(idx, "time"))
}

pub(super) fn ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Ts> {
    ts_at(row.get(idx)?, idx)
}

pub(super) fn opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Ts>> {
    row.get::<_, Option<i64>>(idx)?
        .map(|v| ts_at(v, idx))
        .transpose()
}

// ---------------------------------------------------------------- values

pub(super) fn u16_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u16>> {
    row.get::<_, Option<i64>>(idx)?
        .map(|v| u16::try_from(v).map_err(|_| corrupt(idx, "status")))
        .transpose()
}

pub(super) fn u32_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<u32> {
    u32::try_from(row.get::<_, i64>(idx)?).map_err(|_| corrupt(idx, "count"))
}

pub(super) fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn bool_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<bool> {
    match row.get::<_, i64>(idx)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(idx, "flag")),
    }
}

pub(super) fn phone_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<E164> {
    let s: String = row.get(idx)?;
    E164::from_e164(&s).ok_or_else(|| corrupt(idx, "phone"))
}

/// What stands for the number of an entry whose roster data was erased.
pub const ERASED: &str = "(erased)";

/// The masked number; [`ERASED`] once the entry's data was erased.
pub(super) fn masked_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<String> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(ERASED.to_string()),
        _ => Ok(phone_col(row, idx)?.masked()),
    }
}

pub(super) fn exposed_text(fields: &[ExposedField]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn exposed_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<ExposedField>> {
    let s: String = row.get(idx)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| ExposedField::parse(p).ok_or_else(|| corrupt(idx, "exposed field")))
        .collect()
}

/// The entry columns, in the order [`entry_at`] reads them.
pub(super) const ENTRY_COLS: &str = "e.ref, e.phone, e.name, e.street, e.house_number, e.floor, \
     e.door, e.postcode, e.city, e.hide_number, e.hide_address, e.cohort";

/// Reads an [`Entry`] from the [`ENTRY_COLS`] columns starting at `at`.
///
/// An address is stored as its six parts; `None` comes back when all six
/// are NULL (so `Some(Address::default())` reads back as `None`).
pub(super) fn entry_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Entry> {
    let part = |i: usize| row.get::<_, Option<String>>(at + i);
    let address = Address {
        street: part(3)?,
        house_number: part(4)?,
        floor: part(5)?,
        door: part(6)?,
        postcode: part(7)?,
        city: part(8)?,
    };
    let has_address = [
        &address.street,
        &address.house_number,
        &address.floor,
        &address.door,
        &address.postcode,
        &address.city,
    ]
    .iter()
    .any(|p| p.is_some());
    Ok(Entry {
        entry_ref: row.get(at)?,
        phone: phone_col(row, at + 1)?,
        name: part(2)?,
        address: has_address.then_some(address),
        hide_number: bool_col(row, at + 9)?,
        hide_address: bool_col(row, at + 10)?,
        cohort: row.get(at + 11)?,
    })
}
