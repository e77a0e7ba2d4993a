//! Admin voucher routes: create, list, fetch, patch and remove discount codes.
//!
//! Turns HTTP input into `VoucherInput` / merge patches, lets
//! `commerce::vouchers` check and save them (off the executor), and renders
//! `VoucherView`s. It must not hold SQL or voucher rules; shoppers apply codes
//! through the cart and checkout routes, not here.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::commerce::vouchers::{
    self, Discount, Removal, Voucher, VoucherDraft, VoucherInput, VoucherRejection,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/vouchers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/admin/vouchers/{code}")
            .route(web::get().to(fetch))
            .route(web::patch().to(patch))
            .route(web::delete().to(remove)),
    );
}

/// A voucher as the admin API shows it, with how often it was used.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherView {
    /// Upper-case; shoppers may type it in any case.
    pub code: String,
    /// "percent" or "fixed".
    pub kind: &'static str,
    /// As an admin types it: a percentage ("12.5") or an amount ("5.00").
    pub value: String,
    /// For "percent": hundredths of a percent (1250 is 12.5%).
    pub percent_basis_points: Option<i64>,
    /// For "fixed": the amount in minor units.
    pub amount_minor: Option<i64>,
    pub minimum_spend: String,
    pub minimum_spend_minor: i64,
    pub currency: String,
    /// RFC 3339 UTC; `null` when the code works at once.
    pub starts_at: Option<String>,
    /// RFC 3339 UTC, exclusive; `null` when the code never expires.
    pub ends_at: Option<String>,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub active: bool,
    pub description: String,
    /// Orders that used the code and count toward its limits.
    pub uses: i64,
    /// Uses given back by cancelled or refunded orders.
    pub released_uses: i64,
    /// `null` when there is no total limit.
    pub uses_left: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl VoucherView {
    pub fn new(voucher: &Voucher) -> VoucherView {
        let draft = &voucher.draft;
        let currency = draft.currency();
        let input = draft.to_input();
        let (percent_basis_points, amount_minor) = match draft.discount() {
            Discount::Percent { basis_points } => (Some(basis_points), None),
            Discount::Fixed { amount } => (None, Some(amount.minor())),
        };
        VoucherView {
            code: draft.code().into(),
            kind: draft.discount().kind(),
            value: draft.discount().value_text(&currency),
            percent_basis_points,
            amount_minor,
            minimum_spend: currency.format_plain(draft.minimum_spend()),
            minimum_spend_minor: draft.minimum_spend().minor(),
            currency: currency.code().into(),
            // RFC 3339 UTC, exactly as stored.
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            usage_limit: draft.usage_limit(),
            per_customer_limit: draft.per_customer_limit(),
            active: draft.active(),
            description: draft.description().into(),
            uses: voucher.usage.live,
            released_uses: voucher.usage.released,
            uses_left: voucher.uses_left(),
            created_at: voucher.created_at.clone(),
            updated_at: voucher.updated_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherList {
    /// Every voucher, in code order.
    pub items: Vec<VoucherView>,
}

/// What DELETE did: `deleted` when no order ever used the code, otherwise
/// `deactivated` (the orders keep it as history).
#[derive(Debug, Serialize, ToSchema)]
pub struct VoucherRemoved {
    pub code: String,
    /// "deleted" or "deactivated".
    pub outcome: &'static str,
}

/// Create a voucher (admin).
#[utoipa::path(post, path = "/api/v1/admin/vouchers", tag = "admin", request_body = VoucherInput,
    security(("admin_key" = [])),
    responses((status = 201, body = VoucherView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: VoucherInput = parse_body(&req, &body)?;
    let draft = VoucherDraft::parse(&input, &state.config.currency).map_err(Problem::validation)?;
    let store = state.store.clone();
    let voucher = web::block(move || store.write(|tx| vouchers::create(tx, &draft))).await??;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/vouchers/{}", voucher.draft.code()),
        ))
        .json(VoucherView::new(&voucher)))
}

/// List every voucher with its usage (admin).
#[utoipa::path(get, path = "/api/v1/admin/vouchers", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = VoucherList), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let found = web::block(move || store.read(vouchers::list)).await??;
    let items = found.iter().map(VoucherView::new).collect();
    Ok(HttpResponse::Ok().json(VoucherList { items }))
}

/// Fetch one voucher by code, in any letter case (admin).
#[utoipa::path(get, path = "/api/v1/admin/vouchers/{code}", tag = "admin",
    params(("code" = String, Path)), security(("admin_key" = [])),
    responses((status = 200, body = VoucherView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn fetch(
    _admin: Admin,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let voucher = find(&state, code.into_inner()).await?;
    Ok(HttpResponse::Ok().json(VoucherView::new(&voucher)))
}

/// Change some fields of a voucher with a JSON merge patch (RFC 7396): e.g.
/// `{"active": false}`, new limits, or `{"ends_at": null}` to remove the end (admin).
#[utoipa::path(patch, path = "/api/v1/admin/vouchers/{code}", tag = "admin",
    request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("code" = String, Path)), security(("admin_key" = [])),
    responses((status = 200, body = VoucherView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn patch(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let changes: serde_json::Value = parse_body(&req, &body)?;
    let serde_json::Value::Object(changes) = changes else {
        return Err(Problem::invalid_field(
            "body",
            "a merge patch must be a JSON object",
        ));
    };
    let existing = find(&state, code.into_inner()).await?;
    let draft = vouchers::revise(&existing.draft, &changes, &state.config.currency)
        .map_err(Problem::validation)?;
    let store = state.store.clone();
    let code = existing.draft.code().to_string();
    let saved = web::block(move || store.write(|tx| vouchers::update(tx, &code, &draft))).await??;
    let voucher = saved.ok_or_else(no_such_voucher)?;
    Ok(HttpResponse::build(StatusCode::OK).json(VoucherView::new(&voucher)))
}

/// Remove a voucher: deleted when no order ever used it, otherwise deactivated;
/// the answer says which (admin).
#[utoipa::path(delete, path = "/api/v1/admin/vouchers/{code}", tag = "admin",
    params(("code" = String, Path)), security(("admin_key" = [])),
    responses((status = 200, body = VoucherRemoved), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn remove(
    _admin: Admin,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let code = code.into_inner();
    let store = state.store.clone();
    let lookup = code.clone();
    let removal = web::block(move || store.write(|tx| vouchers::remove(tx, &lookup)))
        .await??
        .ok_or_else(no_such_voucher)?;
    let outcome = match removal {
        Removal::Deleted => "deleted",
        Removal::Deactivated => "deactivated",
    };
    Ok(HttpResponse::Ok().json(VoucherRemoved {
        code: vouchers::normalise_code(&code),
        outcome,
    }))
}

/// A code that does not apply, for the cart and checkout routes: 422 whose
/// `type` names the rule (`/problems/voucher/minimum_spend`) and whose
/// `detail` is the reason in the shopper's words, amounts included.
impl From<VoucherRejection> for Problem {
    fn from(rejection: VoucherRejection) -> Problem {
        let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, rejection.to_string());
        problem.kind = format!("/problems/voucher/{}", rejection.code());
        problem
    }
}

async fn find(state: &web::Data<AppState>, code: String) -> Result<Voucher, Problem> {
    let store = state.store.clone();
    web::block(move || store.read(|conn| vouchers::find(conn, &code)))
        .await??
        .ok_or_else(no_such_voucher)
}

fn no_such_voucher() -> Problem {
    Problem::not_found("no voucher has that code")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Currency;

    #[test]
    fn a_rejection_becomes_a_422_naming_its_rule_and_amounts() {
        let rejection = VoucherRejection::MinimumSpend {
            code: "SPEND20".into(),
            currency: Currency::from_code("EUR").unwrap(),
            minimum_minor: 2000,
            subtotal_minor: 1250,
        };
        let problem = Problem::from(rejection);
        assert_eq!(problem.status, 422);
        assert_eq!(problem.kind, "/problems/voucher/minimum_spend");
        assert_eq!(
            problem.detail,
            "the code SPEND20 needs a minimum spend of €20.00; your cart is €7.50 short"
        );
    }
}
