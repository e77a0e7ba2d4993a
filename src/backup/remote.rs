//! Copies of the backups on S3-compatible storage: upload an archive under
//! `backup.s3.prefix`, keep the newest `backup.s3.keep` there and delete the
//! older ones, and remember how the last upload went for the System page.
//!
//! Owns the remote copies and `<data_dir>/backups/last-upload.json`; it never
//! deletes a local archive (a failed upload leaves it where it was) and
//! never touches objects whose names are not shopkeep backups.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::s3::{Client, Object, S3Error};
use crate::config::{Config, S3Settings};

const STATUS_FILE: &str = "last-upload.json";

/// How the last upload went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadStatus {
    /// When it finished, RFC 3339 UTC.
    pub at: String,
    pub ok: bool,
    /// The local archive's file name.
    pub name: String,
    /// Where it went: s3://bucket/key.
    pub target: String,
    pub bytes: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Older uploaded archives deleted by `backup.s3.keep`.
    pub pruned: Vec<String>,
    /// Why pruning failed, when the upload itself worked.
    pub prune_error: Option<String>,
}

/// Uploads `archive`, prunes older remote copies, and records the outcome.
/// The error is the upload's; a pruning failure is only recorded.
pub fn upload(config: &Config, archive: &Path) -> Result<UploadStatus, UploadError> {
    let settings = config
        .backup
        .s3
        .as_ref()
        .ok_or(UploadError::NotConfigured)?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = format!("{}{name}", settings.prefix);
    let client = Client::new(settings)?;
    let bytes = fs::metadata(archive).map(|m| m.len()).unwrap_or(0);
    let mut status = UploadStatus {
        at: String::new(),
        ok: false,
        name,
        target: client.describe(&key),
        bytes,
        error: None,
        pruned: Vec::new(),
        prune_error: None,
    };
    let uploaded = client.put_file(&key, archive);
    match &uploaded {
        Ok(()) => {
            status.ok = true;
            match prune(&client, settings) {
                Ok(pruned) => status.pruned = pruned,
                Err(error) => status.prune_error = Some(error.to_string()),
            }
        }
        Err(error) => status.error = Some(error.to_string()),
    }
    status.at = crate::store::now_utc();
    record(config, &status);
    uploaded.map(|()| status).map_err(UploadError::S3)
}

/// The scheduled job's upload: logged, never raised (the archive stays local).
pub fn upload_logged(config: &Config, archive: &Path) {
    match upload(config, archive) {
        Ok(status) => {
            tracing::info!(target = %status.target, bytes = status.bytes, pruned = ?status.pruned, "uploaded the backup");
            if let Some(error) = status.prune_error {
                tracing::warn!(%error, "could not delete older uploaded backups");
            }
        }
        Err(error) => tracing::warn!(
            %error,
            archive = %archive.display(),
            "the backup could not be uploaded; it is kept locally"
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(
        "no S3 storage is configured: set backup.s3.endpoint, bucket, access_key_id and secret_access_key"
    )]
    NotConfigured,
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// Deletes uploaded archives beyond the newest `keep`; returns their keys.
fn prune(client: &Client, settings: &S3Settings) -> Result<Vec<String>, S3Error> {
    if settings.keep == 0 {
        return Ok(Vec::new());
    }
    // Listed without the prefix's closing '/': servers differ in how they
    // check a signed query holding an escaped '/' (moto compares it still
    // escaped, so a correct signature fails there); the keys are filtered
    // by the whole prefix below.
    let listed = client.list(settings.prefix.trim_end_matches('/'))?;
    let doomed = beyond_keep(listed, &settings.prefix, settings.keep);
    for key in &doomed {
        client.delete(key)?;
    }
    Ok(doomed)
}

/// The keys of our archives directly under `prefix`, newest first, past the first `keep`.
fn beyond_keep(listed: Vec<Object>, prefix: &str, keep: usize) -> Vec<String> {
    let mut ours: Vec<Object> = listed
        .into_iter()
        .filter(|object| {
            object
                .key
                .strip_prefix(prefix)
                .is_some_and(|name| super::validate_name(name).is_ok())
        })
        .collect();
    ours.sort_by(|a, b| {
        b.last_modified
            .cmp(&a.last_modified)
            .then(b.key.cmp(&a.key))
    });
    ours.into_iter()
        .skip(keep)
        .map(|object| object.key)
        .collect()
}

/// Saves the outcome beside the archives: the CLI and the server are
/// different processes, and the System page shows it.
fn record(config: &Config, status: &UploadStatus) {
    let dir = config.backups_dir();
    let saved = serde_json::to_vec_pretty(status)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            let partial = dir.join(format!("{STATUS_FILE}.partial"));
            fs::write(&partial, json)?;
            fs::rename(&partial, dir.join(STATUS_FILE))
        });
    if let Err(error) = saved {
        tracing::warn!(%error, "cannot record how the upload went");
    }
}

/// How the last upload went, if one was tried.
pub fn last_upload(config: &Config) -> Option<UploadStatus> {
    let text = fs::read(config.backups_dir().join(STATUS_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, at: &str) -> Object {
        Object {
            key: key.into(),
            last_modified: at.into(),
            size: 1,
        }
    }

    #[test]
    fn keeps_the_newest_of_our_archives_and_ignores_other_objects() {
        let listed = vec![
            object("p/shopkeep-1.tar.zst", "2026-11-20T02:30:00.000Z"),
            object("p/shopkeep-3.tar.zst", "2026-11-22T02:30:00.000Z"),
            object("p/shopkeep-2.tar.zst", "2026-11-21T02:30:00.000Z"),
            object("p/notes.txt", "2026-11-01T00:00:00.000Z"),
            object("p/deeper/shopkeep-0.tar.zst", "2026-11-01T00:00:00.000Z"),
            object("other/shopkeep-0.tar.zst", "2026-11-01T00:00:00.000Z"),
        ];
        assert_eq!(
            beyond_keep(listed.clone(), "p/", 2),
            vec!["p/shopkeep-1.tar.zst".to_string()]
        );
        assert_eq!(beyond_keep(listed.clone(), "p/", 3), Vec::<String>::new());
        assert_eq!(beyond_keep(listed, "p/", 1).len(), 2);
    }
}
