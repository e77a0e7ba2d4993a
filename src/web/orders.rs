//! Orders over HTTP: a shopper's own orders (and cancelling a pending one),
//! and the admin's list, detail and status changes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::json::{TotalsJson, decimal, parse_body};
use super::problem::Problem;
use super::shopper::CurrentShopper;
use crate::catalog::Currency;
use crate::commerce::OrderStatus;
use crate::commerce::cart::Totals;
use crate::commerce::order::{self, OrderError, OrderView, StatusChange};
use crate::store::orders::AdminFilter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/orders").route(web::get().to(my_orders)))
        .service(web::resource("/orders/{key}").route(web::get().to(my_order)))
        .service(web::resource("/orders/{key}/cancel").route(web::post().to(cancel_my_order)))
        .service(web::resource("/admin/orders").route(web::get().to(list_orders)))
        .service(web::resource("/admin/orders/{key}").route(web::get().to(admin_order)))
        .service(web::resource("/admin/orders/{key}/status").route(web::post().to(change_status)));
}

#[derive(Debug, Serialize)]
struct OrderLineJson {
    product_id: Option<i64>,
    variant_id: Option<i64>,
    sku: Option<String>,
    name: String,
    variant_title: Option<String>,
    quantity: i64,
    unit_price: String,
    unit_price_minor: i64,
    line_total: String,
    line_total_minor: i64,
}

#[derive(Debug, Serialize)]
struct HistoryJson {
    from: Option<String>,
    to: String,
    actor: String,
    note: Option<String>,
    at: String,
}

/// An order as the API shows it.
#[derive(Debug, Serialize)]
pub struct OrderJson {
    id: i64,
    number: String,
    status: OrderStatus,
    /// The statuses it may move to next.
    next_statuses: Vec<OrderStatus>,
    currency: String,
    #[serde(flatten)]
    totals: TotalsJson,
    voucher_code: Option<String>,
    payment_method: String,
    payment_reference: Option<String>,
    contact: serde_json::Value,
    delivery: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<i64>,
    created_at: String,
    updated_at: String,
    lines: Vec<OrderLineJson>,
    history: Vec<HistoryJson>,
}

impl OrderJson {
    /// `for_admin` adds who placed it.
    pub fn new(view: OrderView, currency: &Currency, for_admin: bool) -> OrderJson {
        let o = view.order;
        OrderJson {
            id: o.id,
            next_statuses: o.status.next().to_vec(),
            status: o.status,
            totals: TotalsJson::new(
                currency,
                &Totals {
                    subtotal_minor: o.subtotal_minor,
                    discount_minor: o.discount_minor,
                    tax_minor: o.tax_minor,
                    total_minor: o.total_minor,
                    tax_inclusive: o.tax_inclusive,
                    tax_rate_basis_points: 0,
                },
            ),
            number: o.number,
            currency: o.currency,
            voucher_code: o.voucher_code,
            payment_method: o.payment_method,
            payment_reference: o.payment_reference,
            contact: serde_json::from_str(&o.contact).unwrap_or_default(),
            delivery: serde_json::from_str(&o.delivery).unwrap_or_default(),
            customer_id: if for_admin { o.customer_id } else { None },
            created_at: o.created_at,
            updated_at: o.updated_at,
            lines: view
                .lines
                .into_iter()
                .map(|l| OrderLineJson {
                    unit_price: decimal(currency, l.unit_price_minor),
                    line_total: decimal(currency, l.line_total_minor),
                    product_id: l.product_id,
                    variant_id: l.variant_id,
                    sku: l.sku,
                    name: l.name,
                    variant_title: l.variant_title,
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                    line_total_minor: l.line_total_minor,
                })
                .collect(),
            history: view
                .events
                .into_iter()
                .map(|e| HistoryJson {
                    from: e.from_status,
                    to: e.to_status,
                    actor: e.actor,
                    note: e.note,
                    at: e.at,
                })
                .collect(),
        }
    }
}

fn order_problem(error: OrderError) -> Problem {
    match error {
        OrderError::NotFound(key) => Problem::not_found(format!("there is no order {key}")),
        OrderError::Transition { .. } => Problem::new(StatusCode::CONFLICT, error.to_string())
            .with_kind("/problems/order-status"),
        OrderError::Store(error) => error.into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    limit: Option<usize>,
}

fn page_size(limit: Option<usize>) -> Result<usize, Problem> {
    match limit.unwrap_or(20) {
        n @ 1..=100 => Ok(n),
        _ => Err(Problem::invalid_field("limit", "must be from 1 to 100")),
    }
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(ListParams), security(("session" = [])),
    responses((status = 200, description = "the shopper's orders")))]
pub async fn my_orders(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    let limit = page_size(params.limit)?;
    let currency = state.config.currency;
    let orders =
        web::block(move || order::list_for_shopper(&state.store, shopper.0, limit)).await??;
    let orders: Vec<OrderJson> = orders
        .into_iter()
        .map(|o| OrderJson::new(o, &currency, false))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orders": orders })))
}

#[utoipa::path(get, path = "/api/v1/orders/{key}", tag = "orders", params(("key" = String, Path, description = "order number or id")), security(("session" = [])),
    responses((status = 200, description = "one of the shopper's orders")))]
pub async fn my_order(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = key.into_inner();
    let currency = state.config.currency;
    let lookup = key.clone();
    let found =
        web::block(move || order::find_for_shopper(&state.store, shopper.0, &lookup)).await??;
    let view = found.ok_or_else(|| Problem::not_found(format!("you have no order {key}")))?;
    Ok(HttpResponse::Ok().json(OrderJson::new(view, &currency, false)))
}

#[utoipa::path(post, path = "/api/v1/orders/{key}/cancel", tag = "orders", params(("key" = String, Path)), security(("session" = [])),
    responses((status = 200, description = "the cancelled order")))]
pub async fn cancel_my_order(
    state: web::Data<AppState>,
    shopper: CurrentShopper,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = key.into_inner();
    let currency = state.config.currency;
    let waker = state.webhooks.clone();
    let view = web::block(move || {
        let actor = order::actor_for(shopper.0);
        let change = StatusChange {
            to: OrderStatus::Cancelled,
            actor: &actor,
            note: Some("cancelled by the shopper"),
            restock: true,
        };
        order::change_status(&state.store, &key, &change, Some(shopper.0))
    })
    .await?
    .map_err(order_problem)?;
    waker.wake();
    Ok(HttpResponse::Ok().json(OrderJson::new(view, &currency, false)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListParams {
    status: Option<String>,
    customer_id: Option<i64>,
    /// YYYY-MM-DD (UTC), inclusive.
    from: Option<String>,
    /// YYYY-MM-DD (UTC), inclusive.
    to: Option<String>,
    /// Orders older than this id (the `next_before` of the previous page).
    before: Option<i64>,
    /// Text the order number, the customer's email or name contains (any case).
    q: Option<String>,
    limit: Option<usize>,
}

/// The longest search text the order list takes.
const MAX_SEARCH_CHARS: usize = 200;

/// The search text, trimmed; none when blank.
fn search_text(q: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(text) = q.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(Problem::invalid_field(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    Ok(Some(text.to_string()))
}

fn day(field: &str, value: &str) -> Result<time::Date, Problem> {
    time::Date::parse(
        value.trim(),
        &time::format_description::well_known::Iso8601::DATE,
    )
    .map_err(|_| Problem::invalid_field(field, "must be a date as YYYY-MM-DD"))
}

fn admin_filter(params: &AdminListParams) -> Result<AdminFilter, Problem> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s.trim()).ok_or_else(|| {
                Problem::invalid_field(
                    "status",
                    "must be pending, paid, fulfilled, cancelled or refunded",
                )
            })
        })
        .transpose()?;
    let from = params.from.as_deref().map(|d| day("from", d)).transpose()?;
    let to = params.to.as_deref().map(|d| day("to", d)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(Problem::invalid_field("from", "must not be after `to`"));
    }
    Ok(AdminFilter {
        status,
        customer_id: params.customer_id,
        from: from.map(|d| format!("{d}T00:00:00Z")),
        to: to
            .and_then(|d| d.next_day())
            .map(|d| format!("{d}T00:00:00Z")),
        before_id: params.before,
        search: search_text(params.q.as_deref())?,
        limit: page_size(params.limit)?,
    })
}

#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "orders", params(AdminListParams), security(("admin_key" = [])),
    responses((status = 200, description = "orders, newest first")))]
pub async fn list_orders(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<AdminListParams>,
) -> Result<HttpResponse, Problem> {
    let filter = admin_filter(&params)?;
    let limit = filter.limit;
    let currency = state.config.currency;
    let orders = web::block(move || order::list(&state.store, &filter)).await??;
    let next_before = (orders.len() == limit)
        .then(|| orders.last().map(|o| o.order.id))
        .flatten();
    let orders: Vec<OrderJson> = orders
        .into_iter()
        .map(|o| OrderJson::new(o, &currency, true))
        .collect();
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "orders": orders, "next_before": next_before })),
    )
}

#[utoipa::path(get, path = "/api/v1/admin/orders/{key}", tag = "orders", params(("key" = String, Path)), security(("admin_key" = [])),
    responses((status = 200, description = "the order")))]
pub async fn admin_order(
    _admin: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = key.into_inner();
    let currency = state.config.currency;
    let lookup = key.clone();
    let found = web::block(move || order::find(&state.store, &lookup)).await??;
    let view = found.ok_or_else(|| Problem::not_found(format!("there is no order {key}")))?;
    Ok(HttpResponse::Ok().json(OrderJson::new(view, &currency, true)))
}

#[derive(Debug, Deserialize, ToSchema)]
struct StatusBody {
    status: String,
    #[serde(default)]
    note: Option<String>,
    /// For refunds: put the goods back in stock.
    #[serde(default)]
    restock: bool,
}

#[utoipa::path(post, path = "/api/v1/admin/orders/{key}/status", tag = "orders", params(("key" = String, Path)), request_body = StatusBody, security(("admin_key" = [])),
    responses((status = 200, description = "the order in its new status")))]
pub async fn change_status(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: StatusBody = parse_body(&req, &body)?;
    let to = OrderStatus::parse(body.status.trim()).ok_or_else(|| {
        Problem::invalid_field(
            "status",
            "must be pending, paid, fulfilled, cancelled or refunded",
        )
    })?;
    if body
        .note
        .as_deref()
        .is_some_and(|n| n.chars().count() > 1000)
    {
        return Err(Problem::invalid_field(
            "note",
            "must be at most 1000 characters",
        ));
    }
    let key = key.into_inner();
    let currency = state.config.currency;
    let waker = state.webhooks.clone();
    let view = web::block(move || {
        let actor = admin.actor();
        let change = StatusChange {
            to,
            actor: &actor,
            note: body.note.as_deref(),
            restock: body.restock,
        };
        order::change_status(&state.store, &key, &change, None)
    })
    .await?
    .map_err(order_problem)?;
    waker.wake();
    Ok(HttpResponse::Ok().json(OrderJson::new(view, &currency, true)))
}
