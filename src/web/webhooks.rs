//! Admin routes of webhooks: register, list and delete endpoints, ping one,
//! and read the delivery log.
//!
//! Turns requests into calls on `commerce::webhooks` and `store::webhooks`
//! (off the executor) and answers JSON or problem+json. It must not hold SQL
//! or webhook rules; after anything is enqueued it wakes the dispatcher.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::commerce::webhooks::{
    self as hooks, CreatedEndpoint, DeliveryStatus, Pinged, WebhookError,
};
use crate::store::webhooks::{self as outbox, DeliveryInfo, DeliveryQuery, EndpointInfo};

const DEFAULT_LOG_LIMIT: usize = 50;
const MAX_LOG_LIMIT: usize = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The fixed `deliveries` path goes before `{id}`, which would otherwise take it.
    cfg.service(
        web::resource("/admin/webhooks")
            .route(web::get().to(list_endpoints))
            .route(web::post().to(create_endpoint)),
    )
    .service(web::resource("/admin/webhooks/deliveries").route(web::get().to(list_deliveries)))
    .service(web::resource("/admin/webhooks/{id}").route(web::delete().to(delete_endpoint)))
    .service(web::resource("/admin/webhooks/{id}/ping").route(web::post().to(ping_endpoint)));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointRequest {
    /// Where to POST events: an http:// or https:// URL.
    pub url: String,
    /// Event types to send: order.created, order.status_changed, stock.low, budget.alert.
    pub events: Vec<String>,
}

/// Register a webhook endpoint; the answer holds its signing secret, once (admin).
#[utoipa::path(post, path = "/api/v1/admin/webhooks", tag = "admin", request_body = NewEndpointRequest,
    security(("admin_key" = [])),
    responses((status = 201, body = CreatedEndpoint), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_endpoint(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let request: NewEndpointRequest = parse_body(&req, &body)?;
    let store = state.store.clone();
    let created =
        web::block(move || hooks::create_endpoint(&store, &request.url, &request.events)).await?;
    match created {
        Ok(endpoint) => Ok(HttpResponse::Created().json(endpoint)),
        Err(WebhookError::Invalid(errors)) => Err(Problem::validation(errors)),
        Err(WebhookError::Store(err)) => Err(err.into()),
        Err(other @ WebhookError::Randomness(_)) => {
            tracing::error!(error = %other, "cannot create a webhook secret");
            Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not generate a secret; the error is in the server log",
            ))
        }
    }
}

/// List webhook endpoints, never their secrets (admin).
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = [EndpointInfo]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_endpoints(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let endpoints = web::block(move || store.read(outbox::list_endpoints)).await??;
    Ok(HttpResponse::Ok().json(endpoints))
}

/// Delete a webhook endpoint and its delivery log; nothing more is sent to it (admin).
#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{id}", tag = "admin", params(("id" = i64, Path)),
    security(("admin_key" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete_endpoint(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = endpoint_id(&id)?;
    let store = state.store.clone();
    let deleted = web::block(move || store.write(|tx| outbox::delete_endpoint(tx, id))).await??;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_such_endpoint(id))
    }
}

/// Send a `webhook.ping` event to one endpoint, to check it receives and verifies (admin).
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/ping", tag = "admin", params(("id" = i64, Path)),
    security(("admin_key" = [])),
    responses((status = 202, body = Pinged), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn ping_endpoint(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = endpoint_id(&id)?;
    let store = state.store.clone();
    let pinged = web::block(move || hooks::ping(&store, id)).await??;
    let pinged = pinged.ok_or_else(|| no_such_endpoint(id))?;
    state.webhooks.wake();
    Ok(HttpResponse::Accepted().json(pinged))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// pending, delivered or failed.
    status: Option<String>,
    /// An event type, e.g. order.created or webhook.ping.
    event: Option<String>,
    /// How many deliveries, newest first (1–200, default 50).
    limit: Option<usize>,
}

/// The delivery log: each delivery's status, attempts, last answer and next attempt (admin).
#[utoipa::path(get, path = "/api/v1/admin/webhooks/deliveries", tag = "admin", params(DeliveryParams),
    security(("admin_key" = [])),
    responses((status = 200, body = [DeliveryInfo]), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_deliveries(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<DeliveryParams>,
) -> Result<HttpResponse, Problem> {
    let params = params.into_inner();
    let status = params
        .status
        .as_deref()
        .map(|text| {
            DeliveryStatus::parse(text)
                .ok_or_else(|| Problem::invalid_field("status", "use pending, delivered or failed"))
        })
        .transpose()?;
    if let Some(event) = params
        .event
        .as_deref()
        .filter(|e| !hooks::is_known_event(e))
    {
        return Err(Problem::invalid_field(
            "event",
            format!("unknown event type {event:?}"),
        ));
    }
    let limit = params.limit.unwrap_or(DEFAULT_LOG_LIMIT);
    if !(1..=MAX_LOG_LIMIT).contains(&limit) {
        return Err(Problem::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LOG_LIMIT}"),
        ));
    }
    let store = state.store.clone();
    let deliveries = web::block(move || {
        let query = DeliveryQuery {
            status: status.map(DeliveryStatus::as_str),
            event_type: params.event.as_deref(),
            limit,
        };
        store.read(|conn| outbox::list_deliveries(conn, &query))
    })
    .await??;
    Ok(HttpResponse::Ok().json(deliveries))
}

/// Ids are numbers; anything else names no endpoint.
fn endpoint_id(text: &str) -> Result<i64, Problem> {
    text.parse()
        .map_err(|_| Problem::not_found(format!("no webhook endpoint {text:?}")))
}

fn no_such_endpoint(id: i64) -> Problem {
    Problem::not_found(format!("no webhook endpoint {id}"))
}
