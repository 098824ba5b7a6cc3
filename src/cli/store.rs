//! `store encrypt` and `store rekey`: encryption at rest for the SQLite
//! store, applied to a store that exists, atomically, with progress on
//! stderr.

use crate::telemetry::task_failure;
use std::path::Path;

use super::{Cli, EXIT_OK, Failure, settings};
use crate::config::{Settings, read_secret};
use crate::report::{KEY_FILE, key_path};
use crate::store::{RekeyProgress, Store, StoreKey};

/// `unlistd store encrypt`: the plaintext store becomes encrypted with
/// the config's `encryption_key_file`.
pub(super) async fn encrypt(cli: &Cli) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let Some(key) = s.store_key.clone() else {
        return Err(Failure::bad_input(format!(
            "{}: store.encryption_key_file: not set; point it at the new key first \
             (at least 32 bytes of entropy, e.g. 64 hex characters)",
            s.source.display()
        )));
    };
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || rekey(&s2, None, &key, "store encrypt"))
        .await
        .map_err(|e| Failure::operational(task_failure(&e)))??;
    println!(
        "store {} is encrypted now; every later command opens it with [store] encryption_key_file",
        s.store_path.display()
    );
    Ok(EXIT_OK)
}

/// `unlistd store rekey --new-key-file PATH`: the encrypted store moves
/// from the config's key to the one in PATH.
pub(super) async fn rekey_cmd(cli: &Cli, new_key_file: &Path) -> Result<u8, Failure> {
    let s = settings(cli)?;
    let Some(old) = s.store_key.clone() else {
        return Err(Failure::bad_input(format!(
            "{}: store.encryption_key_file: not set: the store is not encrypted \
             (use `unlistd store encrypt`)",
            s.source.display()
        )));
    };
    let flag = format!("--new-key-file {}", new_key_file.display());
    let secret = read_secret(new_key_file)
        .map_err(|e| Failure::bad_input(format!("{flag}: cannot read: {e}")))?;
    let new =
        StoreKey::from_secret(&secret).map_err(|e| Failure::bad_input(format!("{flag}: {e}")))?;
    if new == old {
        return Err(Failure::bad_input(format!(
            "{flag}: this is the key the store has now"
        )));
    }
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || rekey(&s2, Some(&old), &new, "store rekey"))
        .await
        .map_err(|e| Failure::operational(task_failure(&e)))??;
    println!(
        "store {} now opens with the key in {}; point [store] encryption_key_file at it \
         before the next command or start",
        s.store_path.display(),
        new_key_file.display()
    );
    Ok(EXIT_OK)
}

/// Re-encrypts the store file, then brings a `report-key` file beside it
/// inside (an encrypted store keeps no key readable beside it).
fn rekey(s: &Settings, old: Option<&StoreKey>, new: &StoreKey, what: &str) -> Result<(), Failure> {
    let progress = |p: RekeyProgress| {
        let mb = |b: u64| b as f64 / 1_048_576.0;
        let pct = if p.total == 0 {
            100.0
        } else {
            (p.written as f64 * 100.0 / p.total as f64).min(100.0)
        };
        eprintln!(
            "{what}: {pct:.0}% ({:.1} of {:.1} MB)",
            mb(p.written),
            mb(p.total)
        );
    };
    if s.store_url.is_some() {
        return Err(Failure::bad_input(format!(
            "{what}: only for a SQLite store ([store] path); PostgreSQL encrypts by its own means"
        )));
    }
    // Never beside a daemon: it would go on writing to the old file.
    let _alone = crate::store::lock_exclusive(&s.store_path)
        .map_err(|e| Failure::operational(format!("{what}: {e}")))?;
    Store::encrypt_file(&s.store_path, old, new, &progress)?;
    let store = Store::open_with(&s.store_path, Some(new))?;
    let file = key_path(&s.store_path);
    match std::fs::read(&file) {
        Ok(k) => {
            if !store.adopt_report_key(&k)? {
                eprintln!(
                    "{what}: the store already had a report key; {KEY_FILE} beside it was not used"
                );
            }
            // The key is in the store now: its file goes, overwritten first.
            let _ = std::fs::write(&file, vec![0u8; k.len()]);
            std::fs::remove_file(&file).map_err(|e| {
                Failure::operational(format!("cannot remove {}: {e}", file.display()))
            })?;
            eprintln!("{what}: the report signing key moved into the store");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::operational(format!(
                "cannot read {}: {e}",
                file.display()
            )));
        }
    }
    Ok(())
}
