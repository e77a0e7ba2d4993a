//! Request bodies too large to hold in memory (catalog files, backup
//! archives), streamed into a file with a size limit. What the file is for
//! is the caller's business; this module only receives it.

use std::io::Write;

use actix_web::http::StatusCode;
use actix_web::web;
use futures_util::StreamExt;

use super::problem::Problem;

/// Writes the whole body into `file`, refusing it past `limit` bytes (413)
/// or when empty (422). `what` names the upload in the messages ("file",
/// ".tar.zst archive").
pub async fn stream_to_file(
    mut payload: web::Payload,
    file: &std::fs::File,
    limit: usize,
    what: &str,
) -> Result<(), Problem> {
    let mut writer = std::io::BufWriter::new(file);
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Problem::bad_request(format!("the upload broke off: {e}")))?;
        received += chunk.len();
        if received > limit {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the {what} is larger than max_import_bytes ({limit} bytes)"),
            ));
        }
        writer
            .write_all(&chunk)
            .map_err(|e| io_problem("could not store the upload", e))?;
    }
    writer
        .flush()
        .map_err(|e| io_problem("could not store the upload", e))?;
    if received == 0 {
        return Err(Problem::invalid_field(
            "body",
            format!("the upload is empty: send the {what} as the request body"),
        ));
    }
    Ok(())
}

/// A failed file operation: 507 when the disk is full, else a 500 whose
/// details go to the log only.
pub fn io_problem(what: &str, error: std::io::Error) -> Problem {
    Problem::from_io(what, &error)
}
