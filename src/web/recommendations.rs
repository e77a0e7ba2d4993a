//! Recommendation routes: "frequently bought together" for a product, picks
//! for the current shopper, and the admin's on-demand rebuild.
//!
//! Parses and bounds the parameters, calls `commerce::recommend` off the
//! executor and renders products in the product list's shape plus a score
//! and a reason. No SQL and no ranking rules here.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::problem::Problem;
use super::products::ProductView;
use super::shopper::CurrentShopper;
use crate::catalog::Currency;
use crate::commerce::recommend::{
    self, MAX_LIMIT, Reason, RebuildReport, RecommendError, Recommendation,
};
use crate::store::products;

const DEFAULT_LIMIT: usize = 10;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/products/{id}/recommendations").route(web::get().to(for_product)))
        .service(web::resource("/recommendations").route(web::get().to(for_shopper)))
        .service(web::resource("/admin/recommendations/rebuild").route(web::post().to(rebuild)));
}

/// A recommended product: the product as the list shows it, plus why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendedProduct {
    #[serde(flatten)]
    pub product: ProductView,
    /// Strength of the recommendation, comparable only between items with the
    /// same reason; the list is already in order.
    pub score: f64,
    pub reason: Reason,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    pub items: Vec<RecommendedProduct>,
}

/// Products frequently bought together with this one; best sellers of its
/// category (then of the shop) when it has no co-purchases yet.
#[utoipa::path(get, path = "/api/v1/products/{id}/recommendations", tag = "recommendations",
    params(("id" = String, Path, description = "numeric id or handle"),
        ("limit" = Option<usize>, Query, description = "1 to 50 (default 10)")),
    responses((status = 200, body = Recommendations), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn for_product(
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let limit = parse_limit(params.into_inner())?;
    let key = id.into_inner();
    let store = state.store.clone();
    let found = web::block(move || {
        store.read(|c| {
            let id = match key.parse::<i64>() {
                Ok(id) => Some(id),
                Err(_) => products::get_by_handle(c, &key.to_lowercase())?.map(|p| p.id),
            };
            match id {
                Some(id) => recommend::for_product(c, id, limit),
                None => Ok(None),
            }
        })
    })
    .await??;
    let found = found.ok_or_else(|| Problem::not_found("no such product"))?;
    Ok(HttpResponse::Ok().json(render(found, &state.config.currency)))
}

/// Picks for the current shopper from their cart and past orders, never
/// what is already in the cart; best sellers when there is nothing to go on.
#[utoipa::path(get, path = "/api/v1/recommendations", tag = "recommendations", security(("session" = [])),
    params(("limit" = Option<usize>, Query, description = "1 to 50 (default 10)")),
    responses((status = 200, body = Recommendations), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn for_shopper(
    CurrentShopper(shopper): CurrentShopper,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let limit = parse_limit(params.into_inner())?;
    let store = state.store.clone();
    let found =
        web::block(move || store.read(|c| recommend::for_shopper(c, shopper, limit))).await??;
    Ok(HttpResponse::Ok().json(render(found, &state.config.currency)))
}

/// Rebuild the recommendations from the orders now, instead of waiting for
/// the nightly run (admin).
#[utoipa::path(post, path = "/api/v1/admin/recommendations/rebuild", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = RebuildReport), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn rebuild(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let report = web::block(move || recommend::rebuild(&store, OffsetDateTime::now_utc()))
        .await?
        .map_err(rebuild_problem)?;
    tracing::info!(
        orders = report.orders_seen,
        pairs_kept = report.pairs_kept,
        "recommendations rebuilt on request"
    );
    Ok(HttpResponse::Ok().json(report))
}

fn rebuild_problem(error: RecommendError) -> Problem {
    match error {
        RecommendError::Store(store) => store.into(),
        other => {
            tracing::error!(error = %other, "recommendation rebuild failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the rebuild failed; the error is in the server log",
            )
        }
    }
}

fn render(found: Vec<Recommendation>, currency: &Currency) -> Recommendations {
    Recommendations {
        items: found
            .into_iter()
            .map(|r| RecommendedProduct {
                product: ProductView::new(&r.product, currency),
                score: r.score,
                reason: r.reason,
            })
            .collect(),
    }
}

/// `limit` is the only parameter; a typo is refused rather than ignored.
fn parse_limit(mut raw: BTreeMap<String, String>) -> Result<usize, Problem> {
    let limit = match raw.remove("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::invalid_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    if let Some(unknown) = raw.keys().next() {
        return Err(Problem::invalid_field(
            unknown,
            "is not a parameter of this route (limit)",
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_are_bounded_and_unknown_parameters_refused() {
        assert_eq!(parse_limit(params(&[])).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(params(&[("limit", "50")])).unwrap(), 50);
        for bad in ["0", "51", "-1", "ten", ""] {
            let problem = parse_limit(params(&[("limit", bad)])).unwrap_err();
            assert_eq!(problem.status, 400, "limit={bad}");
            assert_eq!(problem.errors[0].field, "limit");
        }
        let typo = parse_limit(params(&[("limt", "5")])).unwrap_err();
        assert_eq!(typo.errors[0].field, "limt");
    }
}
