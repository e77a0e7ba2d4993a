//! Putting a verified backup back in place, two ways:
//!
//! - **offline** (`shopkeep restore` with no server running): the restored
//!   database is written beside the live one, synced and renamed over it, so
//!   the path always holds one whole database; the replaced one stays as
//!   `shopkeep.db.before-restore`; the search index folder is removed, and
//!   the next start rebuilds it from SQLite.
//! - **live** (the dashboard, or `shopkeep restore --force` beside a running
//!   server): SQLite's online backup API copies the snapshot into the open
//!   database in one write transaction while the single writer is held, so
//!   no request writes in between and readers see the old shop or the
//!   restored one, never a mix; the replaced database is first saved as
//!   `.before-restore`, and every product is queued for the search index.
//!
//! The config file a backup carries is written beside the live one as
//! `config.restored.toml` (0600), never over it: it may hold another
//! machine's addresses and secrets, and the operator decides.
//!
//! Owns these file moves. SQL stays in `store`; nothing here speaks HTTP.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use utoipa::ToSchema;

use super::BackupError;
use super::archive::{self, Verified};
use crate::config::Config;
use crate::ops::instance::{InstanceLock, LockError};
use crate::store::{Store, StoreOptions, snapshot};

pub const BEFORE_RESTORE_SUFFIX: &str = ".before-restore";
pub const RESTORED_CONFIG: &str = "config.restored.toml";

/// What a restore did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RestoreReport {
    /// When the restored backup was taken.
    pub backup_created_at: String,
    pub schema_version: usize,
    /// Where the replaced database was kept.
    pub before_restore: String,
    /// Where the backup's config file was written, if it carried one.
    pub restored_config: Option<String>,
    /// True when it was copied into a running server's database.
    pub live: bool,
    /// What happens to the search index.
    pub search_index: String,
}

/// `shopkeep restore FILE [--force]`: verifies the archive, then restores
/// offline, or live into a running server's database with `force`.
pub fn from_cli(
    config: &Config,
    archive: &Path,
    force: bool,
) -> Result<RestoreReport, BackupError> {
    let verified = archive::verify(archive, &config.data_dir)?;
    let _one_at_a_time = super::exclusive()?;
    match InstanceLock::acquire(&config.data_dir) {
        Ok(_lock) => offline(config, &verified),
        Err(held @ LockError::Held { .. }) if !force => Err(BackupError::Running(held)),
        Err(LockError::Held { .. }) => {
            let options = StoreOptions {
                readers: 1,
                busy_timeout: config.db_busy_timeout,
            };
            let store = Store::open(&config.database_path(), &options)?;
            let report = live_locked(&store, config, &verified);
            store.close()?;
            report
        }
        Err(LockError::Io { path, source }) => Err(BackupError::Io {
            what: format!("cannot use the lock file {}", path.display()),
            source,
        }),
    }
}

/// Restores into the database this process serves (the dashboard's restore).
pub fn live(
    store: &Store,
    config: &Config,
    verified: &Verified,
) -> Result<RestoreReport, BackupError> {
    let _one_at_a_time = super::exclusive()?;
    live_locked(store, config, verified)
}

fn live_locked(
    store: &Store,
    config: &Config,
    verified: &Verified,
) -> Result<RestoreReport, BackupError> {
    let before = before_restore_path(config);
    keep_current_live(store, config, &before)?;
    store.replace_with(&verified.database())?;
    let restored_config = keep_config(config, verified)?;
    tracing::info!(
        backup = %verified.manifest.created_at,
        before_restore = %before.display(),
        "restored a backup into the running database"
    );
    Ok(report(
        verified,
        before,
        restored_config,
        true,
        "every product is queued: the running server re-indexes them now",
    ))
}

/// A consistent copy of the live database, written beside and renamed.
fn keep_current_live(store: &Store, config: &Config, before: &Path) -> Result<(), BackupError> {
    let work = super::scratch_dir(&config.data_dir)?;
    let copy = work.path().join(archive::DATABASE);
    store.snapshot_to(&copy)?;
    fs::rename(&copy, before).map_err(BackupError::io(format!(
        "cannot keep the current database as {}",
        before.display()
    )))?;
    archive::sync_dir(&config.data_dir);
    Ok(())
}

/// With no server running (the caller holds the instance lock).
fn offline(config: &Config, verified: &Verified) -> Result<RestoreReport, BackupError> {
    let live = config.database_path();
    let before = before_restore_path(config);
    if live.is_file() {
        // Fold the write-ahead log into the file first: a WAL left beside
        // the restored file would be replayed onto it. A database too broken
        // to open is what restores are for: its log goes along, below.
        if let Err(error) = snapshot::fold_wal(&live) {
            tracing::warn!(%error, "could not fold the write-ahead log of the replaced database");
        }
        remove_if_present(&before)?;
        // A second name for the current file: the path stays whole throughout.
        if fs::hard_link(&live, &before).is_err() {
            fs::copy(&live, &before).map_err(BackupError::io(format!(
                "cannot keep the current database as {}",
                before.display()
            )))?;
        }
    }
    for leftover in ["-wal", "-shm"] {
        let log = with_suffix(&live, leftover);
        if log.exists() {
            let kept = with_suffix(&before, leftover);
            fs::rename(&log, &kept).map_err(BackupError::io(format!(
                "cannot move {} aside to {}",
                log.display(),
                kept.display()
            )))?;
        }
    }
    fs::rename(verified.database(), &live).map_err(BackupError::io(format!(
        "cannot move the restored database to {}",
        live.display()
    )))?;
    archive::sync_dir(&config.data_dir);
    let index = config.index_dir();
    if index.exists() {
        fs::remove_dir_all(&index).map_err(BackupError::io(format!(
            "restored the database, but cannot remove the old search index {}; remove it before starting",
            index.display()
        )))?;
    }
    let restored_config = keep_config(config, verified)?;
    Ok(report(
        verified,
        before,
        restored_config,
        false,
        "removed: the next start rebuilds it from the database",
    ))
}

fn keep_config(config: &Config, verified: &Verified) -> Result<Option<PathBuf>, BackupError> {
    let Some(source) = verified.config() else {
        return Ok(None);
    };
    let dest = config.data_dir.join(RESTORED_CONFIG);
    remove_if_present(&dest)?;
    fs::copy(&source, &dest)
        .map_err(BackupError::io(format!("cannot write {}", dest.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).map_err(BackupError::io(
            format!("cannot protect {}", dest.display()),
        ))?;
    }
    Ok(Some(dest))
}

fn report(
    verified: &Verified,
    before: PathBuf,
    restored_config: Option<PathBuf>,
    live: bool,
    search_index: &str,
) -> RestoreReport {
    RestoreReport {
        backup_created_at: verified.manifest.created_at.clone(),
        schema_version: verified.manifest.schema_version,
        before_restore: before.display().to_string(),
        restored_config: restored_config.map(|p| p.display().to_string()),
        live,
        search_index: search_index.to_string(),
    }
}

fn before_restore_path(config: &Config) -> PathBuf {
    with_suffix(&config.database_path(), BEFORE_RESTORE_SUFFIX)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(BackupError::io(format!("cannot remove {}", path.display()))(error)),
    }
}
