//! One daemon per SQLite store: an exclusive `flock` on a lock file beside
//! the database (`unlistd.db.lock`). The kernel drops the lock when its
//! holder exits in any way, SIGKILL included, so a dead holder never
//! blocks the next one. The file holds the holder's pid, for the message
//! a second one gets. Commands that only write through SQLite (`import`,
//! `ack`, `dismiss`, `silence`, `erase`, `check --record`) do not take it:
//! SQLite serialises their writes with the daemon's. `store encrypt` and
//! `rekey`, which replace the file, do.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::sqlite::{create_private_dirs, make_private, sidecar};

/// Why the lock cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it (its pid, when it wrote one).
    #[error("another unlistd{} holds {store}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held { pid: Option<u32>, store: String },
    #[error("cannot lock {path}: {message}")]
    Io { path: String, message: String },
}

/// The exclusive hold on a store; released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of the store at `db`.
fn lock_path(db: &Path) -> PathBuf {
    sidecar(db, ".lock")
}

/// Takes the exclusive lock on the SQLite store at `db` without waiting:
/// [`LockError::Held`] when another process has it. For the daemon and for
/// maintenance that must not run beside one (re-keying the database, …).
/// Creates the store's directory (0700) and the lock file (0600) when
/// missing.
pub(crate) fn lock_exclusive(db: &Path) -> Result<StoreLock, LockError> {
    let path = lock_path(db);
    let io = |e: std::io::Error| LockError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = db.parent() {
        create_private_dirs(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    make_private(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                pid: text.trim().parse().ok(),
                store: db.display().to_string(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Ours now: say who holds it.
    let pid = std::process::id();
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{pid}"))
        .and_then(|()| file.flush())
        .map_err(io)?;
    Ok(StoreLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new/unlistd.db");
        let held = lock_exclusive(&db).unwrap();
        assert_eq!(
            std::fs::read_to_string(held.path()).unwrap().trim(),
            std::process::id().to_string()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(held.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // flock locks belong to the open file: a second open, even in this
        // process, is refused as another daemon would be.
        let err = lock_exclusive(&db).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "another unlistd (pid {}) holds {}",
                std::process::id(),
                db.display()
            )
        );
        drop(held);
        lock_exclusive(&db).unwrap();
    }
}
