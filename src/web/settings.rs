//! The shop's settings over HTTP: `GET/PUT/PATCH /api/v1/admin/settings`,
//! `PUT/DELETE /api/v1/admin/settings/logo`, and the logo itself at
//! `GET /media/logo/{hash}`.
//!
//! Translates requests into `crate::settings` calls and their errors into
//! problem+json; it holds no rule about what a valid setting is.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::settings::{self, Change, SettingsError, SettingsInput, ShopSettings};
use crate::store::settings as saved;

/// A logo URL names its content, so browsers may keep it for good.
const LOGO_CACHE: &str = "public, max-age=31536000, immutable";
/// An SVG opened on its own (not through <img>) is a document that could run
/// script; this policy sandboxes it (no script, no plugins, an opaque origin)
/// and lets it load nothing, so even markup the upload check missed is inert.
const LOGO_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/settings")
            .route(web::get().to(show))
            .route(web::put().to(replace))
            .route(web::patch().to(change)),
    )
    .service(
        web::resource("/admin/settings/logo")
            .route(web::put().to(upload_logo))
            .route(web::delete().to(remove_logo)),
    );
}

/// The public logo route; outside `/api/v1`.
pub fn media_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/media/logo/{hash}", web::get().to(logo));
}

/// The settings in force, with what the dashboard needs to show beside them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: SettingsInput,
    /// The configuration file's values, which a field falls back to.
    pub defaults: SettingsInput,
    pub logo_url: Option<String>,
    /// The currency prices are read in now; a saved new one applies from the next start.
    pub running_currency: &'static str,
    /// Whether the currency can still change (no order was placed yet).
    pub currency_locked: bool,
}

fn view(state: &AppState, current: &ShopSettings, currency_locked: bool) -> SettingsView {
    SettingsView {
        settings: current.to_input(),
        defaults: state.settings.defaults().to_input(),
        logo_url: current.logo.as_ref().map(|logo| logo.url()),
        running_currency: state.config.currency.code(),
        currency_locked,
    }
}

async fn respond(
    state: web::Data<AppState>,
    current: &ShopSettings,
) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let locked = web::block(move || store.read(saved::any_orders)).await??;
    Ok(HttpResponse::Ok().json(view(&state, current, locked)))
}

fn settings_problem(error: SettingsError) -> Problem {
    match error {
        SettingsError::Invalid(errors) => Problem::validation(errors),
        SettingsError::Logo(reason) => {
            Problem::validation(vec![crate::catalog::FieldError::new("logo", reason)])
        }
        SettingsError::Store(error) => error.into(),
    }
}

/// The shop's settings: name, currency, tax, brand, assistant and widget origins (admin).
#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = SettingsView),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn show(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let current = state.settings.current();
    respond(state, &current).await
}

/// Replace every setting at once; each bad field is named (admin).
#[utoipa::path(put, path = "/api/v1/admin/settings", tag = "admin", request_body = SettingsInput,
    security(("admin_key" = [])),
    responses((status = 200, body = SettingsView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn replace(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    save(req, state, body, Change::Replace).await
}

/// Change some settings; fields left out keep their values (admin).
#[utoipa::path(patch, path = "/api/v1/admin/settings", tag = "admin", request_body = SettingsInput,
    security(("admin_key" = [])),
    responses((status = 200, body = SettingsView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn change(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    save(req, state, body, Change::Merge).await
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    change: Change,
) -> Result<HttpResponse, Problem> {
    let input: SettingsInput = parse_body(&req, &body)?;
    let worker = state.clone();
    let current =
        web::block(move || settings::save(&worker.store, &worker.settings, &input, change))
            .await?
            .map_err(settings_problem)?;
    respond(state, &current).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoSaved {
    pub logo_url: String,
    pub content_type: String,
}

/// Upload the logo as the raw body: PNG, WebP or SVG, at most 256 kB (admin).
#[utoipa::path(put, path = "/api/v1/admin/settings/logo", tag = "admin",
    request_body(content = Vec<u8>, content_type = "image/png"),
    security(("admin_key" = [])),
    responses((status = 200, body = LogoSaved),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_logo(
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let worker = state.clone();
    let logo =
        web::block(move || settings::save_logo(&worker.store, &worker.settings, body.to_vec()))
            .await?
            .map_err(settings_problem)?;
    Ok(HttpResponse::Ok().json(LogoSaved {
        logo_url: logo.url(),
        content_type: logo.content_type,
    }))
}

/// Remove the logo; the storefront shows its default icon again (admin).
#[utoipa::path(delete, path = "/api/v1/admin/settings/logo", tag = "admin", security(("admin_key" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn remove_logo(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let worker = state.clone();
    let deleted = web::block(move || settings::delete_logo(&worker.store, &worker.settings))
        .await?
        .map_err(settings_problem)?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Problem::not_found("the shop has no logo"))
    }
}

/// The logo named by its hash; an old hash is gone (404), never a stale picture.
async fn logo(
    state: web::Data<AppState>,
    hash: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let hash = hash.into_inner();
    let store = state.store.clone();
    let row = web::block(move || store.read(saved::logo))
        .await??
        .filter(|row| row.hash == hash)
        .ok_or_else(|| Problem::not_found("there is no such logo"))?;
    let extension = match row.content_type.as_str() {
        "image/svg+xml" => "svg",
        "image/webp" => "webp",
        _ => "png",
    };
    Ok(HttpResponse::build(StatusCode::OK)
        .content_type(row.content_type)
        .insert_header((header::CACHE_CONTROL, LOGO_CACHE))
        .insert_header((header::CONTENT_SECURITY_POLICY, LOGO_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"logo.{extension}\""),
        ))
        // The widget shows the logo on other sites' pages.
        .insert_header(("cross-origin-resource-policy", "cross-origin"))
        .body(row.data))
}
