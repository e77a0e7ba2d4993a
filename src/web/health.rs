//! Liveness, readiness and metrics endpoints for load balancers and Prometheus.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::ops::health::{self, Readiness};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The process is alive and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Whether the shop can serve: database, search index, model and tier, each with a reason.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let worker_state = state.clone();
    let report = web::block(move || {
        health::readiness(
            &worker_state.store,
            &worker_state.search,
            &worker_state.ai.current(),
            worker_state.tls_status().as_ref(),
            worker_state.shutting_down.load(Ordering::Relaxed),
        )
    })
    .await;
    match report {
        Ok(report) if report.ready => HttpResponse::Ok().json(report),
        Ok(report) => HttpResponse::ServiceUnavailable().json(report),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"ready": false, "reason": "shutting down"})),
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let worker_state = state.clone();
    let text = web::block(move || {
        let answers = worker_state.answers.stats();
        worker_state.metrics.render(&worker_state.store, &answers)
    })
    .await
    .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
