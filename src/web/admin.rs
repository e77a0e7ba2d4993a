//! Admin routes: catalog import uploads and admin API key management.
//!
//! Uploads are streamed to a temporary file in the data directory (bounded by
//! `max_import_bytes`), then imported off the executor; memory stays flat
//! whatever the file size.

use std::io::Write;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::catalog::import::{self, Format, ImportOptions, ImportReport, Source};
use crate::store::api_keys::{self, ApiKeyInfo};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/import").route(web::post().to(import_catalog)))
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

/// Import a catalog file sent as the raw request body (admin).
#[utoipa::path(post, path = "/api/v1/admin/import", tag = "admin", params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "the export file, as is"),
    security(("admin_key" = [])),
    responses((status = 200, body = ImportReport), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn import_catalog(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<ImportParams>,
    mut payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let format = match params.format.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(name) => Some(
            name.parse::<Format>()
                .map_err(|reason| Problem::invalid_field("format", reason))?,
        ),
    };
    let options = ImportOptions {
        format,
        strict: params.strict.unwrap_or(false),
    };
    let folder = state.config.data_dir.join("imports");
    let upload = web::block(move || {
        std::fs::create_dir_all(&folder)?;
        tempfile::NamedTempFile::new_in(&folder)
    })
    .await?
    .map_err(|e| io_problem("could not create a temporary file for the upload", e))?;
    let (file, path) = upload.into_parts();
    let mut file = std::io::BufWriter::new(file);
    let limit = state.config.max_import_bytes;
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Problem::bad_request(format!("the upload broke off: {e}")))?;
        received += chunk.len();
        if received > limit {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the file is larger than max_import_bytes ({limit} bytes)"),
            ));
        }
        file.write_all(&chunk)
            .map_err(|e| io_problem("could not store the upload", e))?;
    }
    file.flush()
        .map_err(|e| io_problem("could not store the upload", e))?;
    drop(file);
    if received == 0 {
        return Err(Problem::invalid_field(
            "body",
            "the upload is empty: send the file as the request body",
        ));
    }
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

fn io_problem(what: &str, err: std::io::Error) -> Problem {
    tracing::error!(error = %err, "{what}");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what}; the error is in the server log"),
    )
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
