//! The daily backup and the retention of scheduled backups: the newest
//! backup of each of the last `keep_daily` days and of each of the last
//! `keep_weekly` ISO weeks stay, older scheduled ones are deleted. Backups
//! taken by hand or uploaded are never pruned.
//!
//! Owns only which scheduled archives to delete; it must not touch others.

use std::collections::HashSet;
use std::fs;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{BackupError, BackupInfo};
use crate::config::Config;
use crate::store::Store;

/// The scheduled job: a backup, its upload when S3 storage is configured,
/// then pruning. Errors are logged, not raised: the scheduler runs it again
/// tomorrow, and a failed upload keeps the local archive.
pub fn scheduled_backup(store: &Store, config: &Config) {
    let dest = super::default_path(config, true);
    match super::create(store, config, &dest) {
        Ok(created) => {
            tracing::info!(path = %created.path, bytes = created.info.bytes, "took the daily backup");
            if config.backup.s3.is_some() {
                super::remote::upload_logged(config, &dest);
            }
        }
        Err(error) => {
            tracing::error!(%error, "the daily backup failed");
            return;
        }
    }
    match prune(config) {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(removed = ?removed, "pruned old daily backups")
        }
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "could not prune old daily backups"),
    }
}

/// Deletes the scheduled backups retention no longer keeps; returns their names.
pub fn prune(config: &Config) -> Result<Vec<String>, BackupError> {
    let scheduled: Vec<BackupInfo> = super::list(config)?
        .into_iter()
        .filter(|b| b.kind == "daily")
        .collect();
    let doomed = to_prune(
        &scheduled,
        config.backup.keep_daily,
        config.backup.keep_weekly,
    );
    for name in &doomed {
        let path = config.backups_dir().join(name);
        fs::remove_file(&path)
            .map_err(BackupError::io(format!("cannot remove {}", path.display())))?;
    }
    Ok(doomed)
}

/// The names to delete among `scheduled` backups.
fn to_prune(scheduled: &[BackupInfo], keep_daily: usize, keep_weekly: usize) -> Vec<String> {
    let mut dated: Vec<(&str, OffsetDateTime)> = scheduled
        .iter()
        .filter_map(|b| {
            OffsetDateTime::parse(&b.created_at, &Rfc3339)
                .ok()
                .map(|at| (b.name.as_str(), at))
        })
        .collect();
    dated.sort_by_key(|b| std::cmp::Reverse(b.1));
    let mut keep: HashSet<&str> = HashSet::new();
    let mut days = HashSet::new();
    let mut weeks = HashSet::new();
    for (name, at) in &dated {
        if days.len() < keep_daily && days.insert(at.date()) {
            keep.insert(name);
        }
        let (year, week, _) = at.date().to_iso_week_date();
        if weeks.len() < keep_weekly && weeks.insert((year, week)) {
            keep.insert(name);
        }
    }
    // A backup whose date cannot be read is left alone rather than guessed at.
    dated
        .iter()
        .filter(|(name, _)| !keep.contains(name))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(name: &str, created_at: &str) -> BackupInfo {
        BackupInfo {
            name: name.into(),
            bytes: 1,
            created_at: created_at.into(),
            kind: "daily".into(),
            schema_version: Some(1),
            app_version: None,
            orders: None,
            products: None,
            problem: None,
        }
    }

    #[test]
    fn keeps_the_newest_per_day_and_per_week_and_prunes_the_rest() {
        // 2026-11-02 is a Monday; one backup a day for three weeks, two on the last day.
        let mut all = Vec::new();
        for day in 2..=22 {
            all.push(backup(
                &format!("d{day:02}"),
                &format!("2026-11-{day:02}T02:30:00Z"),
            ));
        }
        all.push(backup("d22-late", "2026-11-22T18:00:00Z"));
        let doomed = to_prune(&all, 3, 3);
        let kept: Vec<&str> = all
            .iter()
            .map(|b| b.name.as_str())
            .filter(|n| !doomed.iter().any(|d| d == n))
            .collect();
        // Days: 22 (late one), 21, 20. Weeks: 16–22 (d22-late), 9–15 (d15), 2–8 (d08).
        assert_eq!(kept, vec!["d08", "d15", "d20", "d21", "d22-late"]);
        assert!(
            doomed.contains(&"d22".to_string()),
            "the earlier one of a day goes"
        );
        assert!(
            to_prune(&all, 0, 0).len() == all.len(),
            "keeping none prunes all"
        );
    }
}
