//! SQLite storage: connections, migrations and the queries of every table family.
//!
//! Owns the database file. One writer connection serialises every change; a
//! small pool of read-only connections serves queries in parallel (WAL mode).
//! All calls block: async callers wrap them in `web::block`/`spawn_blocking`.
//! It must not validate business rules; it stores what `catalog` has validated.

pub mod admin_users;
pub mod ai_settings;
pub mod analytics;
pub mod api_keys;
pub mod carts;
pub mod content;
pub mod conversations;
pub mod customers;
pub mod faq;
pub mod intents;
pub mod orders;
pub mod products;
pub mod profiles;
pub mod recommendations;
pub mod retention;
pub mod search;
pub mod sessions;
pub mod settings;
pub mod snapshot;
pub mod usage;
pub mod vouchers;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_catalog.sql"),
    include_str!("migrations/0002_api_keys.sql"),
    include_str!("migrations/0003_search.sql"),
    include_str!("migrations/0004_commerce.sql"),
    include_str!("migrations/0005_vouchers.sql"),
    include_str!("migrations/0006_webhooks.sql"),
    include_str!("migrations/0007_recommendations.sql"),
    include_str!("migrations/0008_profiles_analytics.sql"),
    include_str!("migrations/0009_assistant.sql"),
    include_str!("migrations/0010_usage.sql"),
    include_str!("migrations/0011_content_version.sql"),
    include_str!("migrations/0012_admin_users.sql"),
    include_str!("migrations/0014_shop_settings.sql"),
    include_str!("migrations/0015_ai_settings.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database migration {version} failed: {source}")]
    Migration {
        version: usize,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer shopkeep (schema {found}, this build knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Why SQLite could not save a change, when the disk is to blame: the
/// caller can say so plainly, and the same change works once it is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskTrouble {
    /// No space left on the file system (SQLITE_FULL).
    Full,
    /// The system refused the write (SQLITE_IOERR_WRITE): a quota or a
    /// file size limit reached, or a failing disk.
    WriteRefused,
}

impl StoreError {
    pub fn disk_trouble(&self) -> Option<DiskTrouble> {
        let source = match self {
            StoreError::Open { source, .. } | StoreError::Migration { source, .. } => source,
            StoreError::Sqlite(source) => source,
            _ => return None,
        };
        let rusqlite::Error::SqliteFailure(failure, _) = source else {
            return None;
        };
        if failure.code == rusqlite::ErrorCode::DiskFull {
            Some(DiskTrouble::Full)
        } else if failure.extended_code == rusqlite::ffi::SQLITE_IOERR_WRITE {
            Some(DiskTrouble::WriteRefused)
        } else {
            None
        }
    }
}

/// How the store's connections are set up.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub readers: usize,
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters the metrics endpoint reports about the reader pool.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub readers_total: AtomicU64,
    pub readers_busy: AtomicU64,
    pub reader_waits: AtomicU64,
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_returned: Condvar,
    stats: PoolStats,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_error)?;
        configure(&writer, options.busy_timeout).map_err(open_error)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        migrate(&mut writer, path)?;
        let readers = (0..options.readers.max(1))
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
                configure(&conn, options.busy_timeout).map_err(open_error)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let stats = PoolStats::default();
        stats
            .readers_total
            .store(readers.len() as u64, Ordering::Relaxed);
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            reader_returned: Condvar::new(),
            stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// Runs `f` on a read-only connection from the pool, waiting for one if all are busy.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.take_reader();
        self.stats.readers_busy.fetch_add(1, Ordering::Relaxed);
        let result = f(&conn);
        self.stats.readers_busy.fetch_sub(1, Ordering::Relaxed);
        lock(&self.readers).push(conn);
        self.reader_returned.notify_one();
        result
    }

    fn take_reader(&self) -> Connection {
        let mut idle = lock(&self.readers);
        loop {
            if let Some(conn) = idle.pop() {
                return conn;
            }
            self.stats.reader_waits.fetch_add(1, Ordering::Relaxed);
            idle = self
                .reader_returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Runs `f` in one immediate transaction on the single writer; commits when it returns Ok.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_with(f)
    }

    /// Like `write`, for callers whose rules can refuse with their own error
    /// type: an `Err` rolls everything back.
    pub fn write_with<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut writer = lock(&self.writer);
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Checks that the database answers, for readiness probes.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .map(|_| ())
    }

    /// Writes a consistent, compacted copy of the database to `dest` (which
    /// must not exist yet) from a reader: the shop keeps writing meanwhile.
    pub fn snapshot_to(&self, dest: &Path) -> Result<(), StoreError> {
        self.read(|conn| snapshot::vacuum_into(conn, dest))
    }

    /// Replaces the whole database with the snapshot file at `source` while
    /// the shop runs: the single writer is held throughout, so no change
    /// interleaves; the copy lands in one transaction, so readers see the old
    /// database or the restored one, never a mix. An older snapshot is then
    /// migrated, every product old or new is queued for the search index, and
    /// the content counters move past both databases' (cached answers).
    /// Returns how many products were queued.
    pub fn replace_with(&self, source: &Path) -> Result<usize, StoreError> {
        let mut writer = lock(&self.writer);
        let before = snapshot::before_restore(&writer)?;
        snapshot::copy_into(&mut writer, source)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        migrate(&mut writer, &self.path)?;
        snapshot::follow_restore(&writer, &before)
    }

    /// VACUUMs the database on the writer (no write interleaves) and shrinks
    /// the file; returns its page figures before and after.
    pub fn vacuum(&self) -> Result<(retention::PageFacts, retention::PageFacts), StoreError> {
        retention::vacuum(&lock(&self.writer))
    }

    /// Folds the write-ahead log into the database file and closes every connection.
    pub fn close(self) -> Result<(), StoreError> {
        drop(self.readers.into_inner().unwrap_or_else(|p| p.into_inner()));
        let writer = self.writer.into_inner().unwrap_or_else(|p| p.into_inner());
        writer.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")?;
        writer.close().map_err(|(_, err)| StoreError::Sqlite(err))
    }
}

/// The schema version this build migrates databases up to; a database (or
/// backup) with a higher one was written by a newer shopkeep.
pub fn known_schema_version() -> usize {
    MIGRATIONS.len()
}

/// A poisoned lock only means another thread panicked mid-query; the connection is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        let failed = |source| StoreError::Migration { version, source };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

/// A store in a fresh temporary directory, for unit tests; the directory
/// lives as long as the returned guard.
#[cfg(test)]
pub fn scratch() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store =
        Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).expect("open store");
    (dir, store)
}

/// SQLite's plan for `sql`, one step per line, for tests that check a query
/// uses an index rather than a scan.
#[cfg(test)]
pub fn query_plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("a query to plan");
    let details: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .expect("the plan")
        .map(|step| step.expect("a plan step"))
        .collect();
    details.join("\n")
}

/// `at` as RFC 3339 UTC to the second ("2026-11-23T20:45:07Z"): fixed width,
/// so such columns compare and sort correctly as text.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The current time as RFC 3339 UTC, the format every timestamp column uses.
pub fn now_utc() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_pragmas_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        Store::open(&path, &StoreOptions::default())
            .unwrap()
            .close()
            .unwrap();
        let store = Store::open(&path, &StoreOptions::default()).unwrap();
        let (version, fk, mode): (usize, i64, String) = store
            .read(|c| {
                Ok((
                    c.pragma_query_value(None, "user_version", |r| r.get(0))?,
                    c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
                    c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        assert_eq!(fk, 1);
        assert_eq!(mode, "wal");
    }

    #[test]
    fn readers_cannot_write_and_strict_tables_refuse_wrong_types() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
        let from_reader = store.read(|c| Ok(c.execute("DELETE FROM products", [])?));
        assert!(from_reader.is_err(), "reader connections are read-only");
        let wrong_type = store.write(|tx| {
            Ok(tx.execute(
                "INSERT INTO products (handle, name, price_minor, content_hash, created_at, updated_at)
                 VALUES ('x', 'X', 'cheap', '', '', '')",
                [],
            )?)
        });
        assert!(
            wrong_type.is_err(),
            "STRICT refuses text in an INTEGER column"
        );
    }

    #[test]
    fn disk_trouble_is_recognised_and_other_errors_are_not() {
        let failure = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        use rusqlite::ffi::{SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR_READ, SQLITE_IOERR_WRITE};
        assert_eq!(failure(SQLITE_FULL).disk_trouble(), Some(DiskTrouble::Full));
        assert_eq!(
            failure(SQLITE_IOERR_WRITE).disk_trouble(),
            Some(DiskTrouble::WriteRefused)
        );
        assert_eq!(failure(SQLITE_IOERR_READ).disk_trouble(), None);
        assert_eq!(failure(SQLITE_BUSY).disk_trouble(), None);
        assert_eq!(StoreError::Conflict("taken".into()).disk_trouble(), None);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Store::open(&path, &StoreOptions::default()),
            Err(StoreError::TooNew { .. })
        ));
    }
}
