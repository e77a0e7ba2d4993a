//! Admin routes: catalog import uploads (at once, or as background jobs to
//! poll) and admin API key management.
//!
//! Uploads are streamed to a temporary file in the data directory (bounded by
//! `max_import_bytes`), then imported off the executor; memory stays flat
//! whatever the file size. Jobs are kept and run by `crate::catalog::jobs`.

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use super::upload::{self, io_problem};
use crate::catalog::import::{self, Format, ImportError, ImportOptions, ImportReport, Source};
use crate::catalog::jobs::ImportJob;
use crate::store::api_keys::{self, ApiKeyInfo};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/import").route(web::post().to(import_catalog)))
        .service(
            web::resource("/admin/imports")
                .route(web::get().to(list_import_jobs))
                .route(web::post().to(start_import_job)),
        )
        .service(web::resource("/admin/imports/{id}").route(web::get().to(import_job)))
        .service(
            web::resource("/admin/keys")
                .route(web::get().to(list_keys))
                .route(web::post().to(create_key)),
        )
        .service(web::resource("/admin/keys/{id}").route(web::delete().to(revoke_key)));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// auto (default), shopify, woocommerce, csv, json or ndjson.
    format: Option<String>,
    /// When true, any bad row refuses the whole file and nothing is written.
    strict: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportJobParams {
    /// auto (default), shopify, woocommerce, csv, json or ndjson.
    format: Option<String>,
    /// When true, any bad row refuses the whole file and nothing is written.
    strict: Option<bool>,
    /// The file's name, shown with the job (the body carries only its bytes).
    file_name: Option<String>,
}

/// The importer's options from the query's `format` and `strict`.
fn import_options(format: Option<&str>, strict: Option<bool>) -> Result<ImportOptions, Problem> {
    let format = match format.map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(name) => Some(
            name.parse::<Format>()
                .map_err(|reason| Problem::invalid_field("format", reason))?,
        ),
    };
    Ok(ImportOptions {
        format,
        strict: strict.unwrap_or(false),
    })
}

/// Import a catalog file sent as the raw request body and answer when it is done (admin).
#[utoipa::path(post, path = "/api/v1/admin/import", tag = "admin", params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "the export file, as is"),
    security(("admin_key" = [])),
    responses((status = 200, body = ImportReport), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn import_catalog(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<ImportParams>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let options = import_options(params.format.as_deref(), params.strict)?;
    let path = receive_upload(&state, payload).await?;
    let store = state.store.clone();
    let currency = state.config.currency;
    let report = web::block(move || {
        let report = import::import(&store, Source::File(&path), &options, &currency, &|_| {});
        drop(path);
        report
    })
    .await??;
    tracing::info!(summary = %report.summary(), "catalog imported over HTTP");
    state.search.nudge();
    Ok(HttpResponse::Ok().json(report))
}

/// Start importing a catalog file sent as the raw request body; answers at
/// once with the job to poll. A file that is not a catalog is refused here (admin).
#[utoipa::path(post, path = "/api/v1/admin/imports", tag = "admin", params(ImportJobParams),
    request_body(content = String, content_type = "text/csv", description = "the export file, as is"),
    security(("admin_key" = [])),
    responses((status = 202, body = ImportJob, headers(("location" = String, description = "the job's address"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn start_import_job(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<ImportJobParams>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let options = import_options(params.format.as_deref(), params.strict)?;
    let path = receive_upload(&state, payload).await?;
    let (path, checked) = web::block(move || {
        let checked = import::check(Source::File(&path), options.format);
        (path, checked)
    })
    .await?;
    let format = checked.map_err(|err| not_a_catalog(err, options.format.is_none()))?;
    let job = state
        .import_jobs
        .enqueue(params.file_name.as_deref(), &options, format)
        .map_err(|busy| Problem::unavailable(busy.to_string(), 10))?;
    let worker = state.clone();
    let id = job.id.clone();
    let options = ImportOptions {
        format: Some(format),
        ..options
    };
    actix_web::rt::spawn(async move {
        let state = worker.clone();
        let ran = web::block(move || {
            let store = Arc::clone(&worker.store);
            let currency = worker.config.currency;
            worker
                .import_jobs
                .run(&id, &store, Source::File(&path), &options, &currency);
            drop(path);
        })
        .await;
        if ran.is_err() {
            tracing::error!("an import job could not run: the server is shutting down");
        }
        state.search.nudge();
    });
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/imports/{}", job.id),
        ))
        .json(job))
}

/// A refusal that says what was expected; with an auto-detected format, the
/// guess was "some CSV", so the file matched none of the known layouts.
fn not_a_catalog(err: ImportError, guessed: bool) -> Problem {
    match err {
        ImportError::WrongLayout { reason, .. } if guessed => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "this is not a catalog file: it is neither JSON nor a Shopify, WooCommerce \
                 or shopkeep CSV export ({reason})"
            ),
        )
        .with_kind("/problems/not-a-catalog"),
        ImportError::WrongLayout { .. } | ImportError::Malformed { .. } | ImportError::Empty => {
            Problem::from(err).with_kind("/problems/not-a-catalog")
        }
        other => other.into(),
    }
}

/// The recent import jobs, newest first (the last 20) (admin).
#[utoipa::path(get, path = "/api/v1/admin/imports", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = [ImportJob]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_import_jobs(_admin: Admin, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.import_jobs.recent())
}

/// One import job: its progress while it runs, its counts and row errors after (admin).
#[utoipa::path(get, path = "/api/v1/admin/imports/{id}", tag = "admin", params(("id" = String, Path)),
    security(("admin_key" = [])),
    responses((status = 200, body = ImportJob), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn import_job(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let job = state
        .import_jobs
        .get(&id)
        .ok_or_else(|| Problem::not_found("no such import job (only the last 20 are kept)"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(job))
}

/// Streams the request body into a temporary file in the data directory,
/// refusing it past `max_import_bytes`; the file goes when the path is dropped.
async fn receive_upload(
    state: &web::Data<AppState>,
    payload: web::Payload,
) -> Result<tempfile::TempPath, Problem> {
    let folder = state.config.data_dir.join("imports");
    let upload = web::block(move || {
        std::fs::create_dir_all(&folder)?;
        tempfile::NamedTempFile::new_in(&folder)
    })
    .await?
    .map_err(|e| io_problem("could not create a temporary file for the upload", e))?;
    let (file, path) = upload.into_parts();
    upload::stream_to_file(payload, &file, state.config.max_import_bytes, "file").await?;
    Ok(path)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// Who or what the key is for, e.g. "ci" or "dashboard".
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyResponse {
    pub id: i64,
    pub name: String,
    /// The secret key. It is shown once and cannot be recovered.
    pub key: String,
}

/// List admin keys (never their secrets) (admin).
#[utoipa::path(get, path = "/api/v1/admin/keys", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = [ApiKeyInfo]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_keys(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let keys = web::block(move || store.read(api_keys::list)).await??;
    Ok(HttpResponse::Ok().json(keys))
}

/// Create an admin key; the response holds the secret once (admin).
#[utoipa::path(post, path = "/api/v1/admin/keys", tag = "admin", request_body = NewKeyRequest, security(("admin_key" = [])),
    responses((status = 201, body = NewKeyResponse), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_key(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let request: NewKeyRequest = parse_body(&req, &body)?;
    let name = request.name.trim().to_string();
    let worker_state = state.clone();
    let key_name = name.clone();
    let created = web::block(move || {
        worker_state
            .access
            .create_key(&worker_state.store, &key_name)
    })
    .await?;
    let key = created.map_err(|err| match err {
        crate::access::AccessError::BadName => {
            Problem::validation(vec![crate::catalog::FieldError::new(
                "name",
                err.to_string(),
            )])
        }
        other => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    Ok(HttpResponse::Created().json(NewKeyResponse {
        id: key.id,
        name,
        key: key.token,
    }))
}

/// Revoke an admin key; it stops working at once (admin).
#[utoipa::path(delete, path = "/api/v1/admin/keys/{id}", tag = "admin", params(("id" = i64, Path)), security(("admin_key" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id: i64 = id.parse().map_err(|_| Problem::not_found("no such key"))?;
    let worker_state = state.clone();
    let revoked = web::block(move || worker_state.access.revoke(&worker_state.store, id))
        .await?
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found("no such live key"))
    }
}
