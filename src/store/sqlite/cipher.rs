//! Encryption at rest (SQLCipher): keying a connection, telling a
//! plaintext file from an encrypted one before SQLite writes a byte, and
//! moving a store to a new key (or from none) atomically.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::conn::{sql, sql_msg};
use super::{open_err, sidecar};
use crate::store::StoreError;
use crate::store::key::StoreKey;

/// The first 16 bytes of every plaintext SQLite database file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What the first bytes of a store file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// Missing or empty: a new store.
    New,
    Plain,
    /// Not a plaintext SQLite file: encrypted (or something else).
    Opaque,
}

fn file_kind(path: &Path) -> Result<FileKind, StoreError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(FileKind::New),
        Err(e) => return Err(open_err(path, e.to_string())),
    };
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(path, e.to_string())),
        }
    }
    Ok(match got {
        0 => FileKind::New,
        16 if &head == PLAIN_HEADER => FileKind::Plain,
        _ => FileKind::Opaque,
    })
}

fn key_error(path: &Path, config: bool, message: impl Into<String>) -> StoreError {
    StoreError::Key {
        path: path.display().to_string(),
        message: message.into(),
        config,
    }
}

/// Refuses a key for a plaintext store, and no key for an encrypted one,
/// before the file is opened by SQLite (which would happily start a new
/// database's WAL beside a file it cannot read).
pub(super) fn check_key_fits(path: &Path, key: Option<&StoreKey>) -> Result<(), StoreError> {
    match (file_kind(path)?, key) {
        (FileKind::Plain, Some(_)) => Err(key_error(
            path,
            true,
            "the store is not encrypted, but [store] encryption_key_file is set: encrypt it \
             with `unlistd store encrypt` (or remove the key from the config)",
        )),
        (FileKind::Opaque, None) => Err(key_error(
            path,
            true,
            "the store is encrypted (or is not an SQLite database): set [store] \
             encryption_key_file to its key",
        )),
        _ => Ok(()),
    }
}

/// Keys schema `db` of `conn` (`main`, or an attached one). Must come
/// before any other statement on it.
pub(super) fn apply_key(conn: &Connection, db: &str, key: &StoreKey) -> Result<(), StoreError> {
    quiet(conn)?;
    // The key is hex in SQLCipher's raw-key literal; `db` is ours.
    conn.execute_batch(&format!("PRAGMA {db}.key = \"{}\";", key.pragma_value()))
        .map_err(sql)
}

/// SQLCipher writes its own log lines to stderr (a wrong key is "error
/// decrypting page 1"); unlistd reports the problem itself, once.
fn quiet(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(()))
        .map_err(sql)
}

/// The first read, which is where SQLCipher finds a wrong key.
pub(super) fn check_readable(
    conn: &Connection,
    path: &Path,
    keyed: bool,
) -> Result<(), StoreError> {
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if keyed && e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(key_error(
                path,
                false,
                "the key in [store] encryption_key_file does not open this store (wrong key, \
                 or not an unlistd store)",
            ))
        }
        Err(e) => Err(open_err(path, sql_msg(&e))),
    }
}

/// How far [`encrypt_file`] got, for progress lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    /// Bytes of the new file written so far.
    pub written: u64,
    /// Size of the store being copied (the new file ends about this big).
    pub total: u64,
}

/// Copies the store at `path` into a new file encrypted with `new_key`
/// and puts it in the old one's place, atomically: `old_key` opens the
/// store as it is (`None`: plaintext, for `store encrypt`; else `store
/// rekey`). The copy is made beside the store (`PATH.rekey`), synced,
/// checked, and renamed over `path`; the old file's bytes are then
/// overwritten with zeros (best effort: a copy-on-write file system or an
/// SSD may keep old blocks). Refuses while another process has the store
/// open. `progress` is called from another thread about once a second.
pub(crate) fn encrypt_file(
    path: &Path,
    old_key: Option<&StoreKey>,
    new_key: &StoreKey,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), StoreError> {
    super::check_owner(path)?;
    match (file_kind(path)?, old_key) {
        (FileKind::New, _) => return Err(open_err(path, "there is no store here yet")),
        (FileKind::Opaque, None) => {
            return Err(key_error(
                path,
                true,
                "the store is already encrypted: to change its key use `unlistd store rekey`",
            ));
        }
        (FileKind::Plain, Some(_)) => {
            return Err(key_error(
                path,
                true,
                "the store is not encrypted: use `unlistd store encrypt` first",
            ));
        }
        _ => {}
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let src = Connection::open_with_flags(path, flags).map_err(|e| open_err(path, sql_msg(&e)))?;
    if let Some(k) = old_key {
        apply_key(&src, "main", k)?;
    }
    check_readable(&src, path, old_key.is_some())?;
    take_over(&src, path)?;
    let version: i64 = src
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let tmp = sidecar(path, ".rekey");
    remove_if_present(&tmp)?;
    // Created here at 0600 so the copy is never readable by others, even
    // for the instant before SQLite opens it.
    drop(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| open_err(&tmp, e.to_string()))?,
    );
    let copied = with_progress(&tmp, total, progress, || {
        export(&src, &tmp, new_key, version)
    });
    if let Err(e) = copied.and_then(|()| check_copy(&tmp, new_key)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The old file stays open (and locked) until it is replaced, then its
    // inode is zeroed through this handle.
    let old = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_err(path, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| open_err(path, format!("cannot replace: {e}")))?;
    sync_dir(path)?;
    drop(src);
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_present(&sidecar(path, suffix))?;
    }
    zero(old).map_err(|e| {
        open_err(
            path,
            format!("replaced, but the old copy could not be overwritten: {e}"),
        )
    })
}

/// Makes sure nobody else uses the store, and that nobody can start to
/// until it is replaced: leaving WAL mode needs every other connection
/// closed (and folds the WAL into the file), and the exclusive locking
/// mode then keeps the lock this connection takes on its next read.
fn take_over(src: &Connection, path: &Path) -> Result<(), StoreError> {
    let in_use = || open_err(path, "the store is in use (stop `unlistd run` first)");
    let mode: String = match src.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)) {
        Ok(m) => m,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            return Err(in_use());
        }
        Err(e) => return Err(sql(e)),
    };
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(in_use());
    }
    src.execute_batch("PRAGMA locking_mode = EXCLUSIVE;")
        .map_err(sql)?;
    src.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| open_err(path, format!("cannot lock the store: {}", sql_msg(&e))))?;
    Ok(())
}

/// Every table, index and row of `src` into `tmp`, keyed with `key`.
fn export(src: &Connection, tmp: &Path, key: &StoreKey, version: i64) -> Result<(), StoreError> {
    let name = tmp
        .to_str()
        .ok_or_else(|| open_err(tmp, "path is not UTF-8"))?;
    src.execute(
        "ATTACH DATABASE ?1 AS rekeyed KEY ?2",
        [name, &key.pragma_value()],
    )
    .map_err(sql)?;
    let done = src
        .query_row("SELECT sqlcipher_export('rekeyed')", [], |_| Ok(()))
        .map_err(sql)
        .and_then(|()| {
            // Not part of the export: the migrations' version.
            src.execute_batch(&format!("PRAGMA rekeyed.user_version = {version};"))
                .map_err(sql)
        });
    let detached = src.execute_batch("DETACH DATABASE rekeyed;").map_err(sql);
    done.and(detached)
}

/// The copy opens with its key, is whole, and is on disk.
fn check_copy(tmp: &Path, key: &StoreKey) -> Result<(), StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(tmp, flags).map_err(|e| open_err(tmp, sql_msg(&e)))?;
    apply_key(&c, "main", key)?;
    let ok: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| open_err(tmp, format!("the new copy does not check: {}", sql_msg(&e))))?;
    if ok != "ok" {
        return Err(open_err(tmp, "the new copy does not pass quick_check"));
    }
    drop(c);
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| open_err(tmp, e.to_string()))
}

/// Runs `f`, reporting the size of `file` against `total` meanwhile.
fn with_progress<T>(
    file: &Path,
    total: u64,
    progress: &(dyn Fn(Progress) + Sync),
    f: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut ticks = 0u32;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                ticks += 1;
                if ticks.is_multiple_of(10) {
                    let written = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                    progress(Progress { written, total });
                }
            }
        });
        let r = f();
        done.store(true, Ordering::Relaxed);
        let written = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        // Done: the copy is as big as it gets (smaller than the store
        // when the store had free pages).
        progress(Progress {
            written,
            total: written,
        });
        r
    })
}

fn remove_if_present(p: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(open_err(p, format!("cannot remove: {e}"))),
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir: PathBuf = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| open_err(&dir, e.to_string()))
}

/// Overwrites a replaced file's bytes with zeros and syncs them.
fn zero(mut f: File) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(0))?;
    let block = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    // Not needed for the zeros; keeps the mode of what is left 0600.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreError, StoreKey};

    const MARKER: &[u8] = b"CANARY-report-key-0123456789-abc";

    fn key(n: u8) -> StoreKey {
        let hex: String = (0..32u8)
            .map(|i| format!("{:02x}", i.wrapping_mul(31).wrapping_add(n)))
            .collect();
        StoreKey::from_secret(hex.as_bytes()).unwrap()
    }

    /// Every file of the store's directory, concatenated.
    fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            out.extend(std::fs::read(e.unwrap().path()).unwrap_or_default());
        }
        out
    }

    fn holds(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn is_key_error(r: Result<Store, StoreError>, want_config: bool, words: &str) {
        match r {
            Err(StoreError::Key {
                config, message, ..
            }) => {
                assert_eq!(config, want_config, "{message}");
                assert!(message.contains(words), "{message}");
            }
            Err(e) => panic!("not a key error: {e}"),
            Ok(_) => panic!("opened"),
        }
    }

    #[test]
    fn an_encrypted_store_opens_only_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unlistd.db");
        let s = Store::open_with(&path, Some(&key(1))).unwrap();
        assert!(s.adopt_report_key(MARKER).unwrap());
        drop(s);
        assert!(!holds(&all_bytes(dir.path()), MARKER));
        assert!(!holds(&all_bytes(dir.path()), b"SQLite format 3"));

        let before = std::fs::read(&path).unwrap();
        is_key_error(Store::open(&path), true, "encryption_key_file");
        is_key_error(
            Store::open_with(&path, Some(&key(2))),
            false,
            "does not open",
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "refusals write nothing"
        );

        let s = Store::open_with(&path, Some(&key(1))).unwrap();
        assert_eq!(s.report_key(false).unwrap().as_deref(), Some(MARKER));
    }

    #[test]
    fn a_plaintext_store_is_encrypted_then_rekeyed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unlistd.db");
        let s = Store::open(&path).unwrap();
        assert!(s.adopt_report_key(MARKER).unwrap());
        let pseudonym = s.pseudonym_key().unwrap();
        let head = s.audit_head().unwrap();
        is_key_error(
            Store::open_with(&path, Some(&key(1))),
            true,
            "unlistd store encrypt",
        );

        // Refused while the store is open elsewhere.
        let none = |_: super::Progress| {};
        let busy = Store::encrypt_file(&path, None, &key(1), &none).unwrap_err();
        assert!(busy.to_string().contains("in use"), "{busy}");
        drop(s);

        let calls = std::sync::atomic::AtomicU32::new(0);
        let count = |p: super::Progress| {
            assert!(p.total > 0);
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        Store::encrypt_file(&path, None, &key(1), &count).unwrap();
        assert!(calls.into_inner() >= 1, "progress is reported");
        assert!(!holds(&all_bytes(dir.path()), MARKER));
        assert!(!dir.path().join("unlistd.db.rekey").exists());
        is_key_error(
            Store::encrypt_file(&path, None, &key(1), &none).map(|()| unreachable!()),
            true,
            "store rekey",
        );
        let s = Store::open_with(&path, Some(&key(1))).unwrap();
        assert_eq!(s.report_key(false).unwrap().as_deref(), Some(MARKER));
        assert_eq!(s.pseudonym_key().unwrap(), pseudonym);
        assert_eq!(s.audit_head().unwrap(), head);
        assert!(s.audit_verify().unwrap().verified);
        // The shared file beside it (budget turns, leases) was plaintext:
        // it is started afresh under the key, so nothing there is plain.
        s.claim_turns("118.dk", 1_000_000, 2, 100_000).unwrap();
        drop(s);
        assert!(!holds(&all_bytes(dir.path()), b"SQLite format 3"));

        Store::encrypt_file(&path, Some(&key(1)), &key(2), &none).unwrap();
        is_key_error(
            Store::open_with(&path, Some(&key(1))),
            false,
            "does not open",
        );
        let s = Store::open_with(&path, Some(&key(2))).unwrap();
        assert_eq!(s.report_key(false).unwrap().as_deref(), Some(MARKER));
        let turns = s.claim_turns("118.dk", 1_000_000, 1, 100_000).unwrap();
        assert_eq!(
            turns.first_us, 1_000_000,
            "a fresh budget under the new key"
        );
        drop(s);
        assert!(!holds(&all_bytes(dir.path()), MARKER));
        assert!(!holds(&all_bytes(dir.path()), b"SQLite format 3"));
    }
}
