//! The system report behind the dashboard's System page: version, uptime,
//! the data directory's disk, memory, CPUs, the database and the search
//! index, readiness, the backup schedule and the last backup.
//!
//! Owns reading those facts from the process and the operating system
//! (`/proc`, `statvfs`); every figure the system cannot give is `null`
//! rather than a guess. It must not change anything.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use super::health::{self, Readiness};
use crate::backup::remote::UploadStatus;
use crate::backup::{self, BackupInfo};
use crate::config::Config;
use crate::search::{SearchService, SearchStatus};
use crate::store::{Store, snapshot};

/// When `shopkeep serve` started, for the uptime.
static STARTED: OnceLock<(Instant, String)> = OnceLock::new();

/// Records the start of the server (the first call wins).
pub fn mark_started() {
    STARTED.get_or_init(|| {
        (
            Instant::now(),
            crate::store::timestamp(time::OffsetDateTime::now_utc()),
        )
    });
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemReport {
    pub version: String,
    /// RFC 3339 UTC; null when the server's start was not recorded.
    pub started_at: Option<String>,
    pub uptime_secs: u64,
    pub data_dir: String,
    /// The file system holding the data directory.
    pub disk: Option<DiskSpace>,
    pub memory: MemoryReport,
    pub cpus: usize,
    pub database: DatabaseReport,
    /// The search index; null when it cannot be read.
    pub search: Option<SearchStatus>,
    pub readiness: Readiness,
    pub backups: BackupSchedule,
    pub last_backup: Option<BackupInfo>,
    /// How the last upload to S3 storage went; null when none was tried.
    pub last_upload: Option<UploadStatus>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct DiskSpace {
    pub total_bytes: u64,
    /// What an unprivileged process may still write.
    pub free_bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MemoryReport {
    /// Resident memory of this process.
    pub process_rss_bytes: Option<u64>,
    pub system_total_bytes: Option<u64>,
    pub system_available_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatabaseReport {
    pub path: String,
    /// The database file and its write-ahead log.
    pub bytes: u64,
    pub schema_version: usize,
    /// The newest schema this build knows.
    pub known_schema_version: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupSchedule {
    /// "daily" or "off".
    pub schedule: String,
    /// UTC time of day of the daily backup, HH:MM.
    pub at: String,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    pub folder: String,
    /// Where backups are uploaded (s3://bucket/prefix at the endpoint); null when not.
    pub upload_to: Option<String>,
}

/// Gathers the report now (blocking: call it off the async executor).
pub fn report(
    store: &Store,
    search: &SearchService,
    config: &Config,
    ai: &crate::assistant::runtime::Running,
    tls: Option<&crate::tls::TlsStatus>,
    shutting_down: bool,
) -> SystemReport {
    let (uptime_secs, started_at) = STARTED.get().map_or((0, None), |(at, stamp)| {
        (at.elapsed().as_secs(), Some(stamp.clone()))
    });
    let database_path = store.path();
    let schema_version = store.read(snapshot::schema_version).unwrap_or_default();
    let backups = backup::list(config).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot list the backups");
        Vec::new()
    });
    SystemReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        uptime_secs,
        data_dir: config.data_dir.display().to_string(),
        disk: disk_space(&config.data_dir),
        memory: MemoryReport {
            process_rss_bytes: proc_kib("/proc/self/status", "VmRSS:"),
            system_total_bytes: proc_kib("/proc/meminfo", "MemTotal:"),
            system_available_bytes: proc_kib("/proc/meminfo", "MemAvailable:"),
        },
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        database: DatabaseReport {
            path: database_path.display().to_string(),
            bytes: file_len(database_path) + file_len(&with_suffix(database_path, "-wal")),
            schema_version,
            known_schema_version: crate::store::known_schema_version(),
        },
        search: search.status().ok(),
        readiness: health::readiness(store, search, ai, tls, shutting_down),
        backups: BackupSchedule {
            schedule: if config.backup.daily { "daily" } else { "off" }.to_string(),
            at: format!("{:02}:{:02}", config.backup.at.0, config.backup.at.1),
            keep_daily: config.backup.keep_daily,
            keep_weekly: config.backup.keep_weekly,
            folder: config.backups_dir().display().to_string(),
            upload_to: config
                .backup
                .s3
                .as_ref()
                .map(|s3| format!("s3://{}/{} at {}", s3.bucket, s3.prefix, s3.endpoint)),
        },
        last_backup: backups.into_iter().find(|b| b.problem.is_none()),
        last_upload: backup::remote::last_upload(config),
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// A `Key:   1234 kB` line of a /proc file, in bytes.
pub fn proc_kib(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Size and free space of the file system holding `path`; None where the
/// system cannot say.
#[cfg(unix)]
pub fn disk_space(path: &Path) -> Option<DiskSpace> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs struct this function owns.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some(DiskSpace {
        total_bytes: (stat.f_blocks as u64).saturating_mul(block),
        free_bytes: (stat.f_bavail as u64).saturating_mul(block),
    })
}

#[cfg(not(unix))]
pub fn disk_space(_path: &Path) -> Option<DiskSpace> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_disk_of_this_machine() {
        let rss = proc_kib("/proc/self/status", "VmRSS:").expect("VmRSS on Linux");
        assert!(
            rss > 1024 * 1024,
            "a test process has over a MiB resident: {rss}"
        );
        let total = proc_kib("/proc/meminfo", "MemTotal:").unwrap();
        let available = proc_kib("/proc/meminfo", "MemAvailable:").unwrap();
        assert!(available <= total);
        let disk = disk_space(Path::new(".")).expect("statvfs of the working directory");
        assert!(disk.total_bytes > 0 && disk.free_bytes <= disk.total_bytes);
        assert!(disk_space(Path::new("/no/such/folder")).is_none());
    }
}
