//! Backups: one archive holding a consistent snapshot of the database taken
//! while the shop runs, a copy of the config file and a manifest; listing,
//! verifying and restoring them; the daily schedule's retention.
//!
//! The archive is a tar stream compressed with zstd (`.tar.zst`): tar keeps
//! file names and modes in a format every system can open (`tar --zstd -xf`),
//! zstd compresses SQLite pages well and fast and carries a checksum of the
//! whole stream, which is verified on every read. `manifest.json` comes first
//! and holds the SHA-256 of every other file, the schema version and each
//! table's row count and checksum. The search index is not copied: it is
//! rebuilt from the database after a restore.
//!
//! When `backup.s3.endpoint` is set, archives are also copied to
//! S3-compatible storage (`remote`, over the small signed client in `s3`).
//!
//! Owns the files under `<data_dir>/backups` and the archive format. SQL stays
//! in `store::snapshot`; this module must not speak HTTP to browsers (its
//! only HTTP is the storage client's).

pub mod archive;
pub mod remote;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod sigv4;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, TryLockError};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::config::Config;
use crate::store::snapshot::TableFacts;
use crate::store::{Store, StoreError};

/// The manifest's `format`; a reader refuses other versions.
pub const FORMAT: u32 = 1;
pub const EXTENSION: &str = ".tar.zst";
/// Scheduled backups end so; only they are pruned by retention.
pub const SCHEDULED_SUFFIX: &str = "-daily";
const SEARCH_INDEX_NOTE: &str =
    "not included: the search index is rebuilt from the database after a restore";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the archive is not a usable shopkeep backup: {0}")]
    Damaged(String),
    #[error(
        "the backup's database has schema version {found}, newer than this shopkeep knows ({known}): \
         restore it with the shopkeep version that made it ({app_version}) or a newer one"
    )]
    TooNew {
        found: usize,
        known: usize,
        app_version: String,
    },
    #[error(
        "{0}: stop it first (`systemctl stop shopkeep`), restore from the dashboard's System page, \
         or pass --force to restore into the running server's database"
    )]
    Running(crate::ops::instance::LockError),
    #[error("{0:?} is not a backup name (letters, digits, '.', '-' and '_', ending in .tar.zst)")]
    BadName(String),
    #[error("no backup named {0:?}")]
    NotFound(String),
    #[error("another backup or restore is in progress; try again when it is done")]
    Busy,
}

impl BackupError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let what = what.into();
        move |source| BackupError::Io { what, source }
    }
}

/// One file inside the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup holds, written first into every archive.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    pub format: u32,
    /// The shopkeep version that took it.
    pub app_version: String,
    /// The database's schema version (migrations applied).
    pub schema_version: usize,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub files: Vec<FileEntry>,
    /// Rows and checksum of every table of the snapshot.
    pub tables: Vec<TableFacts>,
    pub search_index: String,
}

/// A backup in `<data_dir>/backups`, as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupInfo {
    pub name: String,
    pub bytes: u64,
    /// When it was taken (from its manifest; the file's time if unreadable), RFC 3339 UTC.
    pub created_at: String,
    /// manual, daily (scheduled) or uploaded.
    pub kind: String,
    pub schema_version: Option<usize>,
    pub app_version: Option<String>,
    /// Rows in the orders and products tables, for recognising a backup.
    pub orders: Option<u64>,
    pub products: Option<u64>,
    /// Why the archive cannot be used, when its manifest is unreadable.
    pub problem: Option<String>,
}

/// A backup just written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Created {
    #[serde(flatten)]
    pub info: BackupInfo,
    pub path: String,
    /// SHA-256 of the archive file itself, to compare after copying it elsewhere.
    pub sha256: String,
}

/// One backup or restore at a time in this process: two snapshots at once
/// would only double the I/O, and a restore must not race a snapshot.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

pub(crate) fn exclusive() -> Result<MutexGuard<'static, ()>, BackupError> {
    match EXCLUSIVE.try_lock() {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(BackupError::Busy),
    }
}

/// Checks a name that came from outside (a URL): one plain file name in the
/// backups folder, never a path.
pub fn validate_name(name: &str) -> Result<&str, BackupError> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let stem_len = name.len().saturating_sub(EXTENSION.len());
    if !plain
        || name.starts_with('.')
        || !name.ends_with(EXTENSION)
        || stem_len == 0
        || name.len() > 120
    {
        return Err(BackupError::BadName(name.to_string()));
    }
    Ok(name)
}

/// The path of an existing backup in the backups folder.
pub fn locate(config: &Config, name: &str) -> Result<PathBuf, BackupError> {
    let path = config.backups_dir().join(validate_name(name)?);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BackupError::NotFound(name.to_string()))
    }
}

/// `shopkeep-20261123-204507` (UTC) with a suffix, and `-2`, `-3`… when taken
/// twice in one second.
fn free_name(dir: &Path, prefix: &str, suffix: &str, at: OffsetDateTime) -> PathBuf {
    let stamp = format!(
        "{prefix}-{:04}{:02}{:02}-{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let mut candidate = dir.join(format!("{stamp}{suffix}{EXTENSION}"));
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{stamp}{suffix}-{n}{EXTENSION}"));
        n += 1;
    }
    candidate
}

/// Where `shopkeep backup` without `--to` writes: `<data_dir>/backups/shopkeep-YYYYMMDD-HHMMSS.tar.zst`.
pub fn default_path(config: &Config, scheduled: bool) -> PathBuf {
    let suffix = if scheduled { SCHEDULED_SUFFIX } else { "" };
    free_name(
        &config.backups_dir(),
        "shopkeep",
        suffix,
        OffsetDateTime::now_utc(),
    )
}

/// Where an uploaded archive is kept once it verified.
pub fn upload_path(config: &Config) -> PathBuf {
    free_name(
        &config.backups_dir(),
        "upload",
        "",
        OffsetDateTime::now_utc(),
    )
}

/// Takes a backup of the running (or stopped) shop into `dest`.
pub fn create(store: &Store, config: &Config, dest: &Path) -> Result<Created, BackupError> {
    let _one_at_a_time = exclusive()?;
    let folder = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_folder(folder)?;
    let work = scratch_dir(&config.data_dir)?;
    let snapshot = work.path().join(archive::DATABASE);
    store.snapshot_to(&snapshot)?;
    let manifest = archive::write(&snapshot, config.config_file.as_deref(), dest)?;
    let sha256 = archive::file_sha256(dest)?;
    let info = info_from(dest, Ok(manifest))?;
    Ok(Created {
        info,
        path: dest.display().to_string(),
        sha256,
    })
}

/// Creates `folder` if needed; a new one is private (0700): archives hold
/// the whole shop and the config's secrets.
pub fn create_private_folder(folder: &Path) -> Result<(), BackupError> {
    let existed = folder.is_dir();
    fs::create_dir_all(folder).map_err(BackupError::io(format!(
        "cannot create the folder {}",
        folder.display()
    )))?;
    #[cfg(unix)]
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(folder, fs::Permissions::from_mode(0o700)).map_err(BackupError::io(
            format!("cannot make {} private", folder.display()),
        ))?;
    }
    Ok(())
}

/// A private scratch folder inside the data directory: on the same file
/// system as the database, so a restore can rename into place.
pub(crate) fn scratch_dir(data_dir: &Path) -> Result<tempfile::TempDir, BackupError> {
    fs::create_dir_all(data_dir).map_err(BackupError::io(format!(
        "cannot create the data directory {}",
        data_dir.display()
    )))?;
    tempfile::Builder::new()
        .prefix(".backup-work-")
        .tempdir_in(data_dir)
        .map_err(BackupError::io(
            "cannot create a scratch folder in the data directory",
        ))
}

/// Every backup in the backups folder, newest first.
pub fn list(config: &Config) -> Result<Vec<BackupInfo>, BackupError> {
    let dir = config.backups_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(BackupError::io(format!("cannot read {}", dir.display()))(
                error,
            ));
        }
    };
    let mut backups = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| validate_name(n).is_ok());
        if named && path.is_file() {
            backups.push(info_from(&path, archive::read_manifest(&path))?);
        }
    }
    backups.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.name.cmp(&a.name)));
    Ok(backups)
}

fn info_from(
    path: &Path,
    manifest: Result<Manifest, BackupError>,
) -> Result<BackupInfo, BackupError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta =
        fs::metadata(path).map_err(BackupError::io(format!("cannot read {}", path.display())))?;
    let kind = if name.starts_with("upload-") {
        "uploaded"
    } else if name.trim_end_matches(EXTENSION).contains(SCHEDULED_SUFFIX) {
        "daily"
    } else {
        "manual"
    };
    let modified = meta
        .modified()
        .map(OffsetDateTime::from)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let rows =
        |m: &Manifest, table: &str| m.tables.iter().find(|t| t.name == table).map(|t| t.rows);
    let (created_at, schema_version, app_version, orders, products, problem) = match manifest {
        Ok(m) => (
            m.created_at.clone(),
            Some(m.schema_version),
            Some(m.app_version.clone()),
            rows(&m, "orders"),
            rows(&m, "products"),
            None,
        ),
        Err(error) => (
            crate::store::timestamp(modified),
            None,
            None,
            None,
            None,
            Some(error.to_string()),
        ),
    };
    Ok(BackupInfo {
        name,
        bytes: meta.len(),
        created_at,
        kind: kind.to_string(),
        schema_version,
        app_version,
        orders,
        products,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_outside_are_plain_file_names_of_archives() {
        for good in [
            "shopkeep-20261123-204507.tar.zst",
            "upload-x_1.tar.zst",
            "a.tar.zst",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "../shopkeep.db",
            "../../etc/passwd.tar.zst",
            "..tar.zst",
            ".tar.zst",
            "a/b.tar.zst",
            "a\\b.tar.zst",
            "shopkeep.db",
            "%2e%2e.tar.zst",
            "",
        ] {
            assert!(
                matches!(validate_name(bad), Err(BackupError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_in_one_second_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let first = free_name(dir.path(), "shopkeep", "", at);
        assert!(
            first.ends_with("shopkeep-20261118-110640.tar.zst"),
            "{}",
            first.display()
        );
        fs::write(&first, b"x").unwrap();
        let second = free_name(dir.path(), "shopkeep", "", at);
        assert!(
            second.ends_with("shopkeep-20261118-110640-2.tar.zst"),
            "{}",
            second.display()
        );
    }
}
