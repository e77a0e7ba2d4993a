//! Shopper accounts: register, sign in (merging the guest cart), sign out, who am I.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::json::parse_body;
use super::problem::Problem;
use super::shopper::{CurrentShopper, SessionChange, shopper_problem};
use crate::commerce::shopper::{self, Registration};
use crate::store::customers::Customer;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account").route(web::get().to(me)))
        .service(web::resource("/account/register").route(web::post().to(register)))
        .service(web::resource("/account/login").route(web::post().to(login)))
        .service(web::resource("/account/logout").route(web::post().to(logout)));
}

#[derive(Debug, Deserialize, ToSchema)]
struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct AccountView {
    id: i64,
    email: String,
    name: String,
    class: String,
    created_at: String,
}

impl From<Customer> for AccountView {
    fn from(c: Customer) -> Self {
        AccountView {
            id: c.id,
            email: c.email,
            name: c.name,
            class: c.class,
            created_at: c.created_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/account/register", tag = "account", request_body = RegisterBody, security(("session" = [])),
    responses((status = 200, description = "the new customer, signed in")))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentShopper,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: RegisterBody = parse_body(&req, &body)?;
    let registration =
        Registration::parse(&body.email, &body.password, &body.name).map_err(shopper_problem)?;
    let (customer, grant) = web::block(move || {
        shopper::register(
            &state.store,
            current.0,
            &registration,
            &state.config.commerce,
        )
    })
    .await?
    .map_err(shopper_problem)?;
    signed_in(&req, StatusCode::CREATED, customer, grant.new_token)
}

#[utoipa::path(post, path = "/api/v1/account/login", tag = "account", request_body = LoginBody, security(("session" = [])),
    responses((status = 200, description = "the customer, signed in")))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentShopper,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: LoginBody = parse_body(&req, &body)?;
    let (customer, grant) = web::block(move || {
        shopper::login(
            &state.store,
            current.0,
            &body.email,
            &body.password,
            &state.config.commerce,
        )
    })
    .await?
    .map_err(shopper_problem)?;
    signed_in(&req, StatusCode::OK, customer, grant.new_token)
}

fn signed_in(
    req: &HttpRequest,
    status: StatusCode,
    customer: Customer,
    token: Option<String>,
) -> Result<HttpResponse, Problem> {
    if let Some(token) = token {
        req.extensions_mut().insert(SessionChange::Started(token));
    }
    Ok(HttpResponse::build(status).json(AccountView::from(customer)))
}

#[utoipa::path(post, path = "/api/v1/account/logout", tag = "account", security(("session" = [])),
    responses((status = 204, description = "signed out")))]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentShopper,
) -> Result<HttpResponse, Problem> {
    web::block(move || shopper::logout(&state.store, current.0))
        .await?
        .map_err(shopper_problem)?;
    req.extensions_mut().insert(SessionChange::Ended);
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/account", tag = "account", security(("session" = [])),
    responses((status = 200, description = "the signed-in customer"),
        (status = 401, description = "no customer is signed in on this session")))]
pub async fn me(
    state: web::Data<AppState>,
    current: CurrentShopper,
) -> Result<HttpResponse, Problem> {
    let Some(id) = current.0.customer_id else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "this session is a guest; sign in at /api/v1/account/login",
        ));
    };
    let customer = web::block(move || shopper::customer(&state.store, id))
        .await?
        .map_err(shopper_problem)?
        .ok_or_else(|| Problem::not_found("this account no longer exists"))?;
    Ok(HttpResponse::Ok().json(AccountView::from(customer)))
}
