//! Admin routes of the System page: the system report, and backups —
//! list, create now, download, upload, restore.
//!
//! A restore runs live: `backup::restore::live` copies the verified backup
//! into the open database in one transaction while holding the store's only
//! writer, so requests in flight finish against the old shop or run against
//! the restored one, never a mix; the search index then re-indexes every
//! product. Blocking work goes through `web::block`; the rules live in
//! `crate::backup` and `crate::ops::system`.

use std::io::Read;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::problem::Problem;
use super::upload;
use crate::backup::restore::RestoreReport;
use crate::backup::{self, BackupError, BackupInfo, Created, Manifest};
use crate::ops::system::{self, SystemReport};

/// Bytes read from disk per chunk of a download.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/system").route(web::get().to(system_report)))
        .service(
            web::resource("/admin/backups")
                .route(web::get().to(list_backups))
                .route(web::post().to(create_backup)),
        )
        .service(web::resource("/admin/backups/upload").route(web::post().to(upload_backup)))
        .service(web::resource("/admin/backups/{name}").route(web::get().to(download_backup)))
        .service(
            web::resource("/admin/backups/{name}/restore").route(web::post().to(restore_backup)),
        );
}

impl From<BackupError> for Problem {
    fn from(error: BackupError) -> Problem {
        let status = match &error {
            BackupError::Damaged(_) | BackupError::TooNew { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            BackupError::BadName(_) => StatusCode::BAD_REQUEST,
            BackupError::NotFound(_) => StatusCode::NOT_FOUND,
            BackupError::Busy | BackupError::Running(_) => StatusCode::CONFLICT,
            BackupError::Io { source, .. } => {
                return Problem::from_io(
                    &format!("{error}; the details are in the server log"),
                    source,
                );
            }
            BackupError::Store(store) => {
                tracing::error!(%error, "backup failed");
                if let Some(trouble) = store.disk_trouble() {
                    return Problem::disk(trouble);
                }
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{error}; the details are in the server log"),
                );
            }
        };
        Problem::new(status, error.to_string())
    }
}

/// Version, uptime, disk, memory, CPUs, database, search index, readiness and the last backup (admin).
#[utoipa::path(get, path = "/api/v1/admin/system", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = SystemReport), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn system_report(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let worker_state = state.clone();
    let report = web::block(move || {
        let state = &worker_state;
        system::report(
            &state.store,
            &state.search,
            &state.config,
            &state.ai.current(),
            state.tls_status().as_ref(),
            state
                .shutting_down
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The backups in the data directory's backups folder, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/backups", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = [BackupInfo]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_backups(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let worker_state = state.clone();
    let backups = web::block(move || backup::list(&worker_state.config)).await??;
    Ok(HttpResponse::Ok().json(backups))
}

/// Take a backup now while the shop keeps serving; answers the new backup (admin).
#[utoipa::path(post, path = "/api/v1/admin/backups", tag = "admin", security(("admin_key" = [])),
    responses((status = 201, body = Created), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "another backup or restore is running", body = Problem, content_type = "application/problem+json")))]
pub async fn create_backup(
    admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let worker_state = state.clone();
    let created = web::block(move || {
        let state = &worker_state;
        let dest = backup::default_path(&state.config, false);
        backup::create(&state.store, &state.config, &dest)
    })
    .await??;
    tracing::info!(actor = %admin.actor(), name = %created.info.name, "backup taken");
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/backups/{}", created.info.name),
        ))
        .json(created))
}

/// Download a backup archive as is (admin).
#[utoipa::path(get, path = "/api/v1/admin/backups/{name}", tag = "admin", params(("name" = String, Path)),
    security(("admin_key" = [])),
    responses((status = 200, content_type = "application/zstd", body = Vec<u8>, description = "the .tar.zst archive, as an attachment"),
        (status = 400, description = "not a backup name", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn download_backup(
    _admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let name = name.into_inner();
    let path = backup::locate(&state.config, &name)?;
    let opened = web::block(move || {
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        Ok::<_, std::io::Error>((file, len))
    })
    .await?;
    let (file, len) = opened.map_err(|_| Problem::from(BackupError::NotFound(name.clone())))?;
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buffer = vec![0u8; DOWNLOAD_CHUNK];
            let n = file.read(&mut buffer)?;
            buffer.truncate(n);
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await;
        match read {
            Ok(Ok((_, buffer))) if buffer.is_empty() => None,
            Ok(Ok((file, buffer))) => Some((Ok(web::Bytes::from(buffer)), Some(file))),
            Ok(Err(error)) => Some((Err(actix_web::error::ErrorInternalServerError(error)), None)),
            Err(error) => Some((Err(actix_web::error::ErrorServiceUnavailable(error)), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/zstd")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .no_chunking(len)
        .streaming(chunks))
}

/// An uploaded backup, verified and kept in the backups folder.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    #[serde(flatten)]
    pub info: BackupInfo,
    pub manifest: Manifest,
}

/// Upload a backup archive (the raw .tar.zst as the body); it is verified
/// whole and kept in the backups folder, ready to restore (admin).
#[utoipa::path(post, path = "/api/v1/admin/backups/upload", tag = "admin", security(("admin_key" = [])),
    request_body(description = "a .tar.zst archive from `shopkeep backup`; the archive is read whatever the media type says",
        content((Vec<u8> = "application/zstd"), (Vec<u8> = "application/octet-stream"))),
    responses((status = 201, body = Uploaded), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not a usable backup, with the reason", body = Problem, content_type = "application/problem+json")))]
pub async fn upload_backup(
    admin: Admin,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let folder = state.config.backups_dir();
    let partial = web::block(move || {
        backup::create_private_folder(&folder)?;
        tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(&folder)
            .map_err(|source| BackupError::Io {
                what: "could not store the upload".into(),
                source,
            })
    })
    .await??;
    upload::stream_to_file(
        payload,
        partial.as_file(),
        state.config.max_import_bytes,
        ".tar.zst archive",
    )
    .await?;
    let worker_state = state.clone();
    let uploaded = web::block(move || {
        let config = &worker_state.config;
        let manifest = backup::archive::verify(partial.path(), &config.data_dir)?.manifest;
        let dest = backup::upload_path(config);
        partial.persist(&dest).map_err(|e| BackupError::Io {
            what: "cannot keep the uploaded archive".into(),
            source: e.error,
        })?;
        let info = backup::list(config)?
            .into_iter()
            .find(|b| {
                dest.file_name()
                    .is_some_and(|n| n.to_string_lossy() == b.name)
            })
            .ok_or_else(|| BackupError::NotFound(dest.display().to_string()))?;
        Ok::<_, BackupError>(Uploaded { info, manifest })
    })
    .await??;
    tracing::info!(actor = %admin.actor(), name = %uploaded.info.name, "backup uploaded");
    Ok(HttpResponse::Created().json(uploaded))
}

/// Restore a backup into the running shop (admin). The archive is verified
/// whole first; the replaced database is kept as `shopkeep.db.before-restore`;
/// the copy lands in one transaction while no other write runs; the search
/// index then re-indexes every product. Dashboard sessions are those of the
/// backup: one signed in after it was taken must sign in again.
#[utoipa::path(post, path = "/api/v1/admin/backups/{name}/restore", tag = "admin", params(("name" = String, Path)),
    security(("admin_key" = [])),
    responses((status = 200, body = RestoreReport), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "another backup or restore is running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not a usable backup, with the reason", body = Problem, content_type = "application/problem+json")))]
pub async fn restore_backup(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let path = backup::locate(&state.config, &name)?;
    let worker_state = state.clone();
    let report = web::block(move || {
        let state = &worker_state;
        let verified = backup::archive::verify(&path, &state.config.data_dir)?;
        backup::restore::live(&state.store, &state.config, &verified)
    })
    .await??;
    state.search.nudge();
    tracing::warn!(actor = %admin.actor(), name = %name, "backup restored into the running shop");
    Ok(HttpResponse::Ok().json(report))
}
