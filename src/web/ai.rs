//! The dashboard's AI settings: `GET/PUT /api/v1/admin/ai` (tier, remote
//! providers and keys, routing, budgets), `POST /api/v1/admin/ai/model` (load
//! or switch the local model at run time) and `POST /api/v1/admin/ai/test`
//! (one assistant turn in a sandbox).
//!
//! Translates HTTP to `assistant::runtime` and back; holds no rule about what
//! is valid and never echoes a key (answers carry only its hint).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::chat::{assistant_problem, services};
use super::json::parse_body;
use super::problem::Problem;
use crate::assistant::runtime::{self, AiView, ConsoleReply, RuntimeError};
use crate::assistant::settings::AiUpdate;
use crate::catalog::FieldError;

/// Seconds a client should wait while another model loads.
const LOADING_RETRY_SECS: u64 = 5;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/ai")
            .route(web::get().to(show))
            .route(web::put().to(save)),
    )
    .route("/admin/ai/model", web::post().to(switch_model))
    .route("/admin/ai/test", web::post().to(test_turn));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    /// An installed chat model (see GET /api/v1/admin/ai `local.installed`); `null` unloads it.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleRequest {
    pub message: String,
    /// Cap the turn at this tier (free, starter, professional, enterprise); the running tier when absent.
    #[serde(default)]
    pub tier: Option<String>,
}

fn runtime_problem(error: RuntimeError) -> Problem {
    match error {
        RuntimeError::Invalid(errors) => Problem::validation(errors),
        RuntimeError::NotInstalled(reason) => {
            Problem::validation(vec![FieldError::new("id", reason)])
        }
        RuntimeError::LoadFailed(reason) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, reason),
        busy @ RuntimeError::Busy(_) => Problem::unavailable(busy.to_string(), LOADING_RETRY_SECS),
        RuntimeError::Store(error) => Problem::from(error),
        other => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn current_view(state: web::Data<AppState>) -> Result<AiView, Problem> {
    web::block(move || state.ai.view(&state.store))
        .await?
        .map_err(runtime_problem)
}

/// The AI settings and what runs now: tier (asked for, serving, why),
/// remote providers (keys only as hints such as sk-…abcd), routing and its
/// rule, budgets with this month's spend, and the local models (admin).
#[utoipa::path(get, path = "/api/v1/admin/ai", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = AiView),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn show(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(current_view(state).await?))
}

/// Saves the AI settings; they override the config file and apply from the
/// next turn, without a restart. A provider's `api_key` left out keeps the
/// saved key, `null` removes it; keys are stored encrypted (admin).
#[utoipa::path(put, path = "/api/v1/admin/ai", tag = "admin", request_body = AiUpdate,
    security(("admin_key" = [])),
    responses((status = 200, body = AiView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn save(
    _admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let update: AiUpdate = parse_body(&req, &body)?;
    let worker_state = state.clone();
    web::block(move || worker_state.ai.save(&worker_state.store, update))
        .await?
        .map_err(runtime_problem)?;
    Ok(HttpResponse::Ok().json(current_view(state).await?))
}

/// Loads an installed chat model and swaps it in at run time (or unloads
/// with `null`). The model that ran keeps running when the new one fails:
/// 422 for a model that is not installed, 503 for one that did not load or
/// while another loads (admin).
#[utoipa::path(post, path = "/api/v1/admin/ai/model", tag = "admin", request_body = ModelChoice,
    security(("admin_key" = [])),
    responses((status = 200, body = AiView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn switch_model(
    _admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let choice: ModelChoice = parse_body(&req, &body)?;
    let worker_state = state.clone();
    web::block(move || {
        worker_state
            .ai
            .switch_model(&worker_state.store, choice.id.as_deref().map(str::trim))
    })
    .await?
    .map_err(runtime_problem)?;
    Ok(HttpResponse::Ok().json(current_view(state).await?))
}

/// Runs one assistant turn in a throwaway sandbox (a new guest session and
/// conversation, deleted afterwards; no answer cache) and answers the reply
/// with its tier, model, tokens, cost and latency (admin).
#[utoipa::path(post, path = "/api/v1/admin/ai/test", tag = "admin", request_body = ConsoleRequest,
    security(("admin_key" = [])),
    responses((status = 200, body = ConsoleReply),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn test_turn(
    _admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let request: ConsoleRequest = parse_body(&req, &body)?;
    let tier = match request.tier.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(runtime::console_tier(name).ok_or_else(|| {
            Problem::validation(vec![FieldError::new(
                "tier",
                "expected free, starter, professional or enterprise",
            )])
        })?),
    };
    let reply = web::block(move || {
        let running = state.ai.for_test(tier);
        runtime::console_turn(
            &state.store,
            &state.config,
            services(&state, &running.backends),
            &request.message,
        )
    })
    .await?
    .map_err(assistant_problem)?;
    Ok(HttpResponse::Ok().json(reply))
}
