//! Import jobs: catalog imports that run in the background while someone
//! watches their progress (the dashboard polls them).
//!
//! Owns the registry of recent jobs and the running of one job through
//! `import::import_counted`, which reports every entry as it goes. Jobs live in
//! memory, the last `KEPT_JOBS` of them: a job's life is its process's (a
//! restart ends any running import anyway), progress changes on every row and
//! would otherwise be write traffic on the one SQLite writer the import itself
//! needs, and the lasting record of an import is the catalog it wrote.
//! Imports run one at a time; later ones wait as `queued`. This module knows
//! nothing of HTTP and reaches the database only through the importer.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::Currency;
use super::import::{
    self, Format, ImportError, ImportOptions, ImportReport, Progress, RowIssue, Source,
};
use crate::store::{Store, timestamp};

/// Jobs remembered; the oldest finished one makes room for a new one.
pub const KEPT_JOBS: usize = 20;
/// Longest file name kept for a job, in characters.
const MAX_FILE_NAME: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for the import before it to finish.
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    fn finished(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }
}

/// One import as it stands: its progress while it runs, its outcome after.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub status: JobStatus,
    /// The name the file was uploaded under, if the client gave one.
    pub file_name: Option<String>,
    #[schema(value_type = String)]
    pub format: Format,
    pub strict: bool,
    /// Entries in the file (a product with all its variant rows is one entry;
    /// so is a row refused on its own); `null` until the file has been counted.
    pub rows_total: Option<u64>,
    /// Entries settled so far: written or skipped.
    pub rows_done: u64,
    pub created: u64,
    pub updated: u64,
    /// Products the file holds exactly as they already were.
    pub unchanged: u64,
    pub skipped: u64,
    /// Rows refused, with their line and (where there is one) the offending field.
    pub errors: Vec<RowIssue>,
    /// Rows imported with a caveat.
    pub warnings: Vec<RowIssue>,
    /// Why the job failed, for `failed` jobs.
    pub detail: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl ImportJob {
    fn progressed(&mut self, progress: &Progress) {
        self.rows_total = progress.entries_total;
        self.rows_done = progress.entries_done();
        self.created = progress.created;
        self.updated = progress.updated;
        self.unchanged = progress.unchanged;
        self.skipped = progress.skipped;
    }

    fn finished_with(&mut self, outcome: Result<ImportReport, ImportError>) {
        self.finished_at = Some(now());
        match outcome {
            Ok(report) => {
                self.status = JobStatus::Done;
                self.created = report.created;
                self.updated = report.updated;
                self.unchanged = report.unchanged;
                self.skipped = report.skipped;
                self.rows_done =
                    report.created + report.updated + report.unchanged + report.skipped;
                // A file that broke off has more settled rows than entries counted.
                self.rows_total = Some(self.rows_total.unwrap_or(0).max(self.rows_done));
                self.errors = report.errors;
                self.warnings = report.warnings;
            }
            Err(error) => {
                self.status = JobStatus::Failed;
                if let ImportError::Strict(issue) = &error {
                    self.errors = vec![issue.clone()];
                }
                self.detail = Some(failure_text(&error));
            }
        }
    }
}

/// What a person can act on; database and file errors go to the log instead.
fn failure_text(error: &ImportError) -> String {
    match error {
        ImportError::Store(_) | ImportError::Io(_) => {
            tracing::error!(%error, "import job failed");
            "the import failed on the server; the error is in the server log".into()
        }
        other => other.to_string(),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error(
        "{} imports are already waiting or running; try again when one has finished",
        KEPT_JOBS
    )]
    Busy,
}

#[derive(Default)]
struct Registry {
    /// Oldest first.
    jobs: VecDeque<ImportJob>,
}

/// The recent import jobs of this process.
#[derive(Default)]
pub struct ImportJobs {
    registry: Mutex<Registry>,
    /// Held by the job that is running, so imports write one after another.
    runner: Mutex<()>,
}

impl ImportJobs {
    pub fn new() -> ImportJobs {
        ImportJobs::default()
    }

    /// Registers a queued job; `run` it next. Forgets the oldest finished job
    /// when `KEPT_JOBS` are kept, and refuses when none of them has finished.
    pub fn enqueue(
        &self,
        file_name: Option<&str>,
        options: &ImportOptions,
        format: Format,
    ) -> Result<ImportJob, JobError> {
        let mut registry = self.registry();
        if registry.jobs.len() >= KEPT_JOBS {
            let oldest_finished = registry
                .jobs
                .iter()
                .position(|job| job.status.finished())
                .ok_or(JobError::Busy)?;
            registry.jobs.remove(oldest_finished);
        }
        let job = ImportJob {
            id: uuid::Uuid::new_v4().simple().to_string(),
            status: JobStatus::Queued,
            file_name: file_name.map(clean_file_name).filter(|n| !n.is_empty()),
            format,
            strict: options.strict,
            rows_total: None,
            rows_done: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            skipped: 0,
            errors: Vec::new(),
            warnings: Vec::new(),
            detail: None,
            queued_at: now(),
            started_at: None,
            finished_at: None,
        };
        registry.jobs.push_back(job.clone());
        Ok(job)
    }

    /// Runs the job `id` (blocking: call it off the async executor) once the
    /// import before it is done, recording its progress as it goes.
    pub fn run(
        &self,
        id: &str,
        store: &Store,
        source: Source,
        options: &ImportOptions,
        currency: &Currency,
    ) {
        let _turn = self.runner.lock().unwrap_or_else(PoisonError::into_inner);
        self.update(id, |job| {
            job.status = JobStatus::Running;
            job.started_at = Some(now());
        });
        let outcome = import::import_counted(store, source, options, currency, &|progress| {
            self.update(id, |job| job.progressed(&progress));
        });
        if let Ok(report) = &outcome {
            tracing::info!(job = id, summary = %report.summary(), "import job done");
        }
        self.update(id, |job| job.finished_with(outcome));
    }

    pub fn get(&self, id: &str) -> Option<ImportJob> {
        self.registry()
            .jobs
            .iter()
            .find(|job| job.id == id)
            .cloned()
    }

    /// The jobs kept, newest first.
    pub fn recent(&self) -> Vec<ImportJob> {
        self.registry().jobs.iter().rev().cloned().collect()
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut ImportJob)) {
        if let Some(job) = self.registry().jobs.iter_mut().find(|job| job.id == id) {
            change(job);
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic elsewhere while holding the lock leaves plain data, still readable.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The last part of a path, without control characters, at most `MAX_FILE_NAME` long.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME)
        .collect::<String>()
        .trim()
        .to_string()
}

fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn options() -> ImportOptions {
        ImportOptions {
            format: Some(Format::Csv),
            strict: false,
        }
    }

    #[test]
    fn a_job_reports_every_row_and_ends_with_the_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
        let usd = Currency::from_code("USD").unwrap();
        let file = b"handle,name,price\na,A,1.00\nb,B,free\nc,C,3.00\n";
        let jobs = ImportJobs::new();
        let job = jobs
            .enqueue(Some("C:\\exports\\cat.csv"), &options(), Format::Csv)
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.file_name.as_deref(), Some("cat.csv"));
        jobs.run(&job.id, &store, Source::Bytes(file), &options(), &usd);
        let done = jobs.get(&job.id).unwrap();
        assert_eq!(done.status, JobStatus::Done, "{:?}", done.detail);
        assert_eq!((done.rows_total, done.rows_done), (Some(3), 3));
        assert_eq!((done.created, done.skipped), (2, 1));
        assert_eq!(done.errors[0].line, 3);
        assert_eq!(done.errors[0].field.as_deref(), Some("price"));
        assert!(done.started_at.is_some() && done.finished_at.is_some());
    }

    #[test]
    fn the_registry_keeps_the_last_jobs_and_refuses_when_all_are_unfinished() {
        let jobs = ImportJobs::new();
        let first = jobs.enqueue(None, &options(), Format::Csv).unwrap();
        for _ in 1..KEPT_JOBS {
            jobs.enqueue(None, &options(), Format::Csv).unwrap();
        }
        assert_eq!(
            jobs.enqueue(None, &options(), Format::Csv).unwrap_err(),
            JobError::Busy
        );
        jobs.update(&first.id, |job| job.status = JobStatus::Done);
        let newest = jobs.enqueue(None, &options(), Format::Csv).unwrap();
        assert!(jobs.get(&first.id).is_none(), "the finished job made room");
        assert_eq!(jobs.recent().len(), KEPT_JOBS);
        assert_eq!(jobs.recent()[0].id, newest.id);
    }
}
