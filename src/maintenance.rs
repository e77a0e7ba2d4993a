//! Data retention and database upkeep: conversations idle longer than
//! `retention.conversations_days` and log rows older than
//! `retention.logs_days` are deleted (conversations first written, with
//! their messages, to a compressed JSON-lines archive under
//! `<data_dir>/archive` when `retention.archive`), then VACUUM gives the
//! freed pages back to the disk. Runs daily on the scheduler and from
//! `shopkeep maintenance`.
//!
//! Owns the ages, the archive files and when VACUUM is due; the SQL is
//! `store::retention`'s. It must not delete orders or the daily totals
//! reports read, and must not speak HTTP.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use time::{OffsetDateTime, Weekday};

use crate::config::{Config, VacuumSchedule};
use crate::store::retention::{self, Expired, ExpiredConversation, PageFacts};
use crate::store::{Store, StoreError};

/// Conversations archived and deleted per transaction: the writer is held
/// briefly, and memory stays bounded whatever the backlog.
const BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the conversation archive {path}: {source}")]
    Archive {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a run removed (or, on a dry run, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceReport {
    pub dry_run: bool,
    /// Conversations idle since before this moment went; null: kept forever.
    pub conversations_before: Option<String>,
    /// Log rows from before this moment went; null: kept forever.
    pub logs_before: Option<String>,
    pub conversations: u64,
    pub messages: u64,
    pub model_calls: u64,
    pub webhook_deliveries: u64,
    /// The archive the deleted conversations were written to.
    pub archive: Option<String>,
    pub vacuum: Option<VacuumReport>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct VacuumReport {
    pub before: PageFacts,
    pub after: PageFacts,
    pub reclaimed_bytes: u64,
}

/// Runs retention now, then VACUUM when `vacuum`; a dry run only counts.
pub fn run(
    store: &Store,
    config: &Config,
    dry_run: bool,
    vacuum: bool,
) -> Result<MaintenanceReport, MaintenanceError> {
    let now = OffsetDateTime::now_utc();
    let conversations_before = cutoff(now, config.retention.conversations_days);
    let logs_before = cutoff(now, config.retention.logs_days);
    let mut report = MaintenanceReport {
        dry_run,
        conversations_before: conversations_before.clone(),
        logs_before: logs_before.clone(),
        conversations: 0,
        messages: 0,
        model_calls: 0,
        webhook_deliveries: 0,
        archive: None,
        vacuum: None,
    };
    if dry_run {
        let expired = store.read(|conn| {
            retention::count(
                conn,
                conversations_before.as_deref(),
                logs_before.as_deref(),
            )
        })?;
        report.add(expired);
        return Ok(report);
    }
    if let Some(before) = &conversations_before {
        let archive = config
            .retention
            .archive
            .then(|| archive_path(&config.archive_dir(), now));
        let (conversations, messages) = remove_conversations(store, before, archive.as_deref())?;
        report.conversations = conversations;
        report.messages = messages;
        report.archive = archive
            .filter(|path| path.exists())
            .map(|path| path.display().to_string());
    }
    if let Some(before) = &logs_before {
        let (calls, deliveries) = store.write(|tx| retention::delete_logs(tx, before))?;
        report.model_calls = calls;
        report.webhook_deliveries = deliveries;
    }
    if vacuum {
        let (before, after) = store.vacuum()?;
        report.vacuum = Some(VacuumReport {
            before,
            after,
            reclaimed_bytes: before.bytes().saturating_sub(after.bytes()),
        });
    }
    Ok(report)
}

/// The daily job: retention, and VACUUM when `maintenance.vacuum` says it is
/// due. Errors are logged, not raised: it runs again tomorrow.
pub fn scheduled(store: &Store, config: &Config) {
    let vacuum = vacuum_due(config.retention.vacuum, OffsetDateTime::now_utc().weekday());
    match run(store, config, false, vacuum) {
        Ok(report) => tracing::info!(
            conversations = report.conversations,
            messages = report.messages,
            model_calls = report.model_calls,
            webhook_deliveries = report.webhook_deliveries,
            archive = ?report.archive,
            reclaimed_bytes = report.vacuum.map(|v| v.reclaimed_bytes),
            "maintenance done"
        ),
        Err(error) => tracing::error!(%error, "maintenance failed"),
    }
}

fn vacuum_due(schedule: VacuumSchedule, today: Weekday) -> bool {
    match schedule {
        VacuumSchedule::Off => false,
        VacuumSchedule::Daily => true,
        VacuumSchedule::Weekly => today == Weekday::Sunday,
    }
}

/// `days` before `now` as a stored timestamp; `None` when 0 (keep forever).
fn cutoff(now: OffsetDateTime, days: u32) -> Option<String> {
    (days > 0).then(|| crate::store::timestamp(now - time::Duration::days(i64::from(days))))
}

fn archive_path(dir: &Path, now: OffsetDateTime) -> PathBuf {
    let stamp = crate::store::timestamp(now).replace([':', '-'], "");
    dir.join(format!("conversations-{stamp}.jsonl.zst"))
}

/// Archives (when `archive` is given) and deletes expired conversations a
/// batch at a time. Each batch is appended to the archive as one complete
/// zstd frame and synced before its delete commits, so an interrupted run
/// never loses a conversation it did not archive.
fn remove_conversations(
    store: &Store,
    before: &str,
    archive: Option<&Path>,
) -> Result<(u64, u64), MaintenanceError> {
    let mut file: Option<File> = None;
    let (mut conversations, mut messages) = (0, 0);
    loop {
        let removed = store.write_with(|tx| -> Result<(u64, u64), MaintenanceError> {
            let batch = retention::expired_conversations(tx, before, BATCH)?;
            if batch.is_empty() {
                return Ok((0, 0));
            }
            if let Some(path) = archive {
                if file.is_none() {
                    file = Some(open_archive(path)?);
                }
                if let Some(file) = file.as_mut() {
                    append_frame(file, path, &batch)?;
                }
            }
            let ids: Vec<&str> = batch.iter().map(|c| c.conversation.id.as_str()).collect();
            let deleted = retention::delete_conversations(tx, &ids)?;
            let lines: u64 = batch.iter().map(|c| c.messages.len() as u64).sum();
            Ok((deleted, lines))
        })?;
        if removed.0 == 0 {
            return Ok((conversations, messages));
        }
        conversations += removed.0;
        messages += removed.1;
    }
}

/// A new private archive file in a private folder: it holds what shoppers wrote.
fn open_archive(path: &Path) -> Result<File, MaintenanceError> {
    let failed = |source| MaintenanceError::Archive {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(failed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(failed)?;
        }
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(failed)
}

fn append_frame(
    file: &mut File,
    path: &Path,
    batch: &[ExpiredConversation],
) -> Result<(), MaintenanceError> {
    let failed = |source| MaintenanceError::Archive {
        path: path.to_path_buf(),
        source,
    };
    let mut lines = Vec::new();
    for expired in batch {
        serde_json::to_writer(&mut lines, &archive_line(expired))
            .map_err(|e| failed(std::io::Error::other(e)))?;
        lines.push(b'\n');
    }
    let frame = zstd::encode_all(lines.as_slice(), 3).map_err(failed)?;
    file.write_all(&frame).map_err(failed)?;
    file.sync_data().map_err(failed)
}

/// One conversation and its messages as one JSON object.
fn archive_line(expired: &ExpiredConversation) -> serde_json::Value {
    let c = &expired.conversation;
    let messages: Vec<serde_json::Value> = expired
        .messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "intent": m.intent,
                "confidence": m.confidence,
                "mood": m.mood,
                "tier": m.tier,
                "model": m.model,
                "actions": serde_json::from_str::<serde_json::Value>(&m.actions)
                    .unwrap_or_else(|_| json!(m.actions)),
                "created_at": m.created_at,
            })
        })
        .collect();
    json!({
        "id": c.id,
        "session_id": c.session_id,
        "customer_id": c.customer_id,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "summary": c.summary,
        "mood": c.mood,
        "messages": messages,
    })
}

impl MaintenanceReport {
    fn add(&mut self, expired: Expired) {
        self.conversations += expired.conversations;
        self.messages += expired.messages;
        self.model_calls += expired.model_calls;
        self.webhook_deliveries += expired.webhook_deliveries;
    }

    /// What happened, one line per kind, for the CLI.
    pub fn describe(&self) -> String {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        match &self.conversations_before {
            Some(before) => line(format!(
                "conversations idle since before {before}: {verb} {} ({} messages){}",
                self.conversations,
                self.messages,
                self.archive
                    .as_ref()
                    .map(|a| format!(", archived to {a}"))
                    .unwrap_or_default()
            )),
            None => line("conversations: kept forever (retention.conversations_days = 0)".into()),
        }
        match &self.logs_before {
            Some(before) => line(format!(
                "logs from before {before}: {verb} {} model calls, {} webhook deliveries",
                self.model_calls, self.webhook_deliveries
            )),
            None => line("logs: kept forever (retention.logs_days = 0)".into()),
        }
        match &self.vacuum {
            Some(v) => line(format!(
                "vacuum: {} -> {} pages ({} -> {} free), reclaimed {} bytes",
                v.before.page_count,
                v.after.page_count,
                v.before.freelist_count,
                v.after.freelist_count,
                v.reclaimed_bytes
            )),
            None if self.dry_run => line("vacuum: not run (dry run)".into()),
            None => line("vacuum: not run".into()),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn cutoffs_count_back_whole_days_and_zero_keeps_forever() {
        let now = OffsetDateTime::parse("2026-11-24T07:30:00Z", &Rfc3339).unwrap();
        assert_eq!(cutoff(now, 30).as_deref(), Some("2026-10-25T07:30:00Z"));
        assert_eq!(cutoff(now, 0), None);
        assert!(
            archive_path(Path::new("/d"), now)
                .ends_with("conversations-20261124T073000Z.jsonl.zst")
        );
    }

    #[test]
    fn weekly_vacuum_runs_on_sundays_only() {
        assert!(vacuum_due(VacuumSchedule::Weekly, Weekday::Sunday));
        assert!(!vacuum_due(VacuumSchedule::Weekly, Weekday::Monday));
        assert!(vacuum_due(VacuumSchedule::Daily, Weekday::Monday));
        assert!(!vacuum_due(VacuumSchedule::Off, Weekday::Sunday));
    }
}
