//! The shopper's cart and checkout over HTTP.
//!
//! `/api/v1/cart` (view, add, change, remove, voucher) and `POST /api/v1/checkout`
//! with the `Idempotency-Key` header. Amounts appear twice: as decimal strings
//! in the shop currency and in minor units.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::json::{TotalsJson, decimal, parse_body};
use super::orders::OrderJson;
use super::problem::Problem;
use super::shopper::CurrentShopper;
use crate::catalog::{Currency, FieldError};
use crate::commerce::cart::{self, CartError, CartLine, CartView, NewLine};
use crate::commerce::checkout::{
    self, CheckoutContext, CheckoutDetails, CheckoutError, CheckoutInput,
};
use crate::commerce::vouchers::VoucherRejection;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/cart").route(web::get().to(show)))
        .service(web::resource("/cart/items").route(web::post().to(add_item)))
        .service(
            web::resource("/cart/items/{item_id}")
                .route(web::patch().to(update_item))
                .route(web::delete().to(remove_item)),
        )
        .service(
            web::resource("/cart/voucher")
                .route(web::put().to(apply_voucher))
                .route(web::delete().to(remove_voucher)),
        )
        .service(web::resource("/checkout").route(web::post().to(place_order)));
}

#[derive(Debug, Serialize)]
struct LineJson {
    id: i64,
    product_id: i64,
    variant_id: Option<i64>,
    handle: String,
    name: String,
    variant_title: Option<String>,
    sku: Option<String>,
    quantity: i64,
    unit_price: String,
    unit_price_minor: i64,
    line_total: String,
    line_total_minor: i64,
    /// Set when the price changed since the line was added.
    previous_unit_price: Option<String>,
    /// Units on hand; null when the shop does not track stock for it.
    available: Option<i64>,
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct VoucherJson {
    code: String,
    description: String,
    discount: String,
    discount_minor: i64,
}

#[derive(Debug, Serialize)]
struct VoucherProblemJson {
    code: String,
    reason: String,
    kind: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct CartJson {
    currency: &'static str,
    items: Vec<LineJson>,
    item_count: i64,
    #[serde(flatten)]
    totals: TotalsJson,
    tax_rate_percent: f64,
    voucher: Option<VoucherJson>,
    voucher_problem: Option<VoucherProblemJson>,
    notices: Vec<String>,
    ready_for_checkout: bool,
}

fn line_json(line: CartLine, currency: &Currency) -> LineJson {
    LineJson {
        id: line.item_id,
        product_id: line.offer.product_id,
        variant_id: line.offer.variant_id,
        handle: line.offer.handle,
        name: line.offer.name,
        variant_title: line.offer.variant_title,
        sku: line.offer.sku,
        quantity: line.quantity,
        unit_price: decimal(currency, line.unit_price_minor),
        unit_price_minor: line.unit_price_minor,
        line_total: decimal(currency, line.line_total_minor),
        line_total_minor: line.line_total_minor,
        previous_unit_price: line.previous_unit_price_minor.map(|p| decimal(currency, p)),
        available: line.offer.stock.map(|s| s.max(0)),
        problem: line.problem,
    }
}

pub(super) fn cart_json(view: CartView, currency: &Currency) -> CartJson {
    let item_count = view.item_count();
    let ready = view.ready_for_checkout();
    let t = view.totals;
    CartJson {
        currency: currency.code(),
        item_count,
        totals: TotalsJson::new(currency, &t),
        tax_rate_percent: f64::from(t.tax_rate_basis_points) / 100.0,
        voucher: view.voucher.map(|v| VoucherJson {
            discount: decimal(currency, v.discount_minor),
            discount_minor: v.discount_minor,
            code: v.code,
            description: v.description,
        }),
        voucher_problem: view
            .voucher_problem
            .map(|(code, rejection)| VoucherProblemJson {
                code,
                reason: rejection.to_string(),
                kind: rejection.code(),
            }),
        notices: view.notices,
        ready_for_checkout: ready,
        items: view
            .lines
            .into_iter()
            .map(|l| line_json(l, currency))
            .collect(),
    }
}

/// A voucher refusal, naming the `code` field it is about.
fn voucher_problem(rejection: VoucherRejection) -> Problem {
    let reason = rejection.to_string();
    Problem::from(rejection).with_errors(vec![FieldError::new("code", reason)])
}

fn cart_problem(error: CartError) -> Problem {
    match error {
        CartError::Invalid(errors) => Problem::validation(errors),
        CartError::UnknownProduct(id) => {
            Problem::invalid_field("product_id", format!("there is no product {id}"))
                .with_kind("/problems/unknown-product")
        }
        CartError::UnknownItem(id) => {
            Problem::not_found(format!("there is no line {id} in this cart"))
        }
        CartError::NotForSale { .. } => Problem::new(StatusCode::CONFLICT, error.to_string())
            .with_kind("/problems/not-for-sale"),
        CartError::OutOfStock { .. } => Problem::new(StatusCode::CONFLICT, error.to_string())
            .with_kind("/problems/out-of-stock"),
        CartError::Voucher(rejection) => voucher_problem(rejection),
        CartError::Store(error) => error.into(),
    }
}

#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("session" = [])),
    responses((status = 200, description = "the cart, priced now")))]
pub async fn show(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
) -> Result<HttpResponse, Problem> {
    cart_response(state, move |state| {
        cart::view(
            &state.store,
            shopper.0,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

/// Runs a cart operation off the executor and answers with the cart as it is after.
async fn cart_response(
    state: web::Data<AppState>,
    operation: impl FnOnce(&AppState) -> Result<CartView, CartError> + Send + 'static,
) -> Result<HttpResponse, Problem> {
    let currency = state.config.currency;
    let view = web::block(move || operation(&state))
        .await?
        .map_err(cart_problem)?;
    Ok(HttpResponse::Ok().json(cart_json(view, &currency)))
}

#[derive(Debug, Deserialize, ToSchema)]
struct AddBody {
    product_id: i64,
    #[serde(default)]
    variant_id: Option<i64>,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", request_body = AddBody, security(("session" = [])),
    responses((status = 200, description = "the cart after adding")))]
pub async fn add_item(
    req: HttpRequest,
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: AddBody = parse_body(&req, &body)?;
    let line = NewLine {
        product_id: body.product_id,
        variant_id: body.variant_id,
        quantity: body.quantity,
    };
    cart_response(state, move |state| {
        cart::add(
            &state.store,
            shopper.0,
            line,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct QuantityBody {
    quantity: i64,
}

#[utoipa::path(patch, path = "/api/v1/cart/items/{item_id}", tag = "cart", params(("item_id" = i64, Path)), request_body = QuantityBody, security(("session" = [])),
    responses((status = 200, description = "the cart after the change")))]
pub async fn update_item(
    req: HttpRequest,
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    item_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: QuantityBody = parse_body(&req, &body)?;
    let item_id = item_id.into_inner();
    cart_response(state, move |state| {
        cart::set_quantity(
            &state.store,
            shopper.0,
            item_id,
            body.quantity,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/cart/items/{item_id}", tag = "cart", params(("item_id" = i64, Path)), security(("session" = [])),
    responses((status = 200, description = "the cart without the line")))]
pub async fn remove_item(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    item_id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let item_id = item_id.into_inner();
    cart_response(state, move |state| {
        cart::remove(
            &state.store,
            shopper.0,
            item_id,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct VoucherBody {
    code: String,
}

#[utoipa::path(put, path = "/api/v1/cart/voucher", tag = "cart", request_body = VoucherBody, security(("session" = [])),
    responses((status = 200, description = "the cart with the voucher applied")))]
pub async fn apply_voucher(
    req: HttpRequest,
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: VoucherBody = parse_body(&req, &body)?;
    cart_response(state, move |state| {
        cart::apply_voucher(
            &state.store,
            shopper.0,
            &body.code,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/cart/voucher", tag = "cart", security(("session" = [])),
    responses((status = 200, description = "the cart without a voucher")))]
pub async fn remove_voucher(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
) -> Result<HttpResponse, Problem> {
    cart_response(state, move |state| {
        cart::remove_voucher(
            &state.store,
            shopper.0,
            &state.commerce(),
            &state.config.currency,
        )
    })
    .await
}

fn checkout_problem(error: CheckoutError, currency: &Currency) -> Problem {
    let conflict =
        |kind: &str, detail: String| Problem::new(StatusCode::CONFLICT, detail).with_kind(kind);
    match error {
        CheckoutError::Invalid(errors) => Problem::validation(errors),
        CheckoutError::EmptyCart => conflict(
            "/problems/empty-cart",
            "the cart is empty; add something before checking out".into(),
        ),
        CheckoutError::Unavailable(problems) => {
            let detail = problems
                .iter()
                .map(|p| p.reason.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let errors = problems
                .iter()
                .map(|p| FieldError::new(format!("items.{}.quantity", p.item_id), p.reason.clone()))
                .collect();
            conflict("/problems/out-of-stock", detail).with_errors(errors)
        }
        CheckoutError::PricesChanged(changes) => conflict(
            "/problems/price-changed",
            format!(
                "{} The cart now shows the new prices; check out again to accept them.",
                changes.join(" ")
            ),
        ),
        CheckoutError::Voucher(rejection) => voucher_problem(rejection),
        CheckoutError::KeyReused => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
                .with_kind("/problems/idempotency-key-reused")
                .with_errors(vec![FieldError::new(
                    "Idempotency-Key",
                    "was used for a different request; use a new key for a new checkout",
                )])
        }
        CheckoutError::Payment(error) => {
            tracing::warn!(error = %error, currency = %currency, "payment provider refused");
            Problem::new(StatusCode::PAYMENT_REQUIRED, error.to_string())
        }
        CheckoutError::Store(error) => error.into(),
    }
}

#[utoipa::path(post, path = "/api/v1/checkout", tag = "cart", request_body = CheckoutInput, security(("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat the same checkout safely")),
    responses((status = 201, description = "the order placed"), (status = 200, description = "the order an earlier request with this key placed")))]
pub async fn place_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CheckoutInput = parse_body(&req, &body)?;
    let details = CheckoutDetails::parse(&input, &state.payments).map_err(Problem::validation)?;
    let key = match req.headers().get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| Problem::invalid_field("Idempotency-Key", "must be printable ASCII"))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let currency = state.config.currency;
    let waker = state.webhooks.clone();
    let placed = web::block(move || {
        let context = CheckoutContext {
            settings: &state.commerce(),
            currency: &state.config.currency,
            payments: &state.payments,
        };
        checkout::checkout(&state.store, shopper.0, &details, key.as_deref(), &context)
    })
    .await?
    .map_err(|e| checkout_problem(e, &currency))?;
    waker.wake();
    let status = if placed.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("/api/v1/orders/{}", placed.order.order.number);
    Ok(HttpResponse::build(status)
        .insert_header(("Location", location))
        .insert_header(("Idempotent-Replayed", placed.replayed.to_string()))
        .json(OrderJson::new(placed.order, &currency, false)))
}
