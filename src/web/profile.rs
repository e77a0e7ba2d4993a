//! The signed-in customer's preference profile: `GET` to see what the shop
//! learned from their orders, `DELETE` to make it forget.
//!
//! Guests have no profile (401). Holds no SQL and no learning rule; those are
//! `commerce::profile`'s.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use time::OffsetDateTime;

use super::AppState;
use super::problem::Problem;
use super::shopper::CurrentShopper;
use crate::commerce::profile::{self, Profile};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/profile")
            .route(web::get().to(show_profile))
            .route(web::delete().to(reset_profile)),
    );
}

/// The customer's learned preferences, strongest first within each kind.
#[utoipa::path(get, path = "/api/v1/account/profile", tag = "account", security(("session" = [])),
    responses((status = 200, body = Profile),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn show_profile(
    shopper: CurrentShopper,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let customer_id = signed_in(&shopper)?;
    let store = state.store.clone();
    let profile = web::block(move || {
        store.read(|conn| profile::for_customer(conn, customer_id, OffsetDateTime::now_utc()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(profile))
}

/// Forget everything learned about the customer; their orders stay.
#[utoipa::path(delete, path = "/api/v1/account/profile", tag = "account", security(("session" = [])),
    responses((status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn reset_profile(
    shopper: CurrentShopper,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let customer_id = signed_in(&shopper)?;
    let store = state.store.clone();
    web::block(move || store.write(|tx| profile::reset(tx, customer_id))).await??;
    Ok(HttpResponse::NoContent().finish())
}

fn signed_in(shopper: &CurrentShopper) -> Result<i64, Problem> {
    shopper
        .0
        .customer_id
        .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "sign in to have a profile"))
}
