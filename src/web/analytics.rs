//! Admin sales analytics: `GET /api/v1/admin/analytics?from=&to=`.
//!
//! Parses the date range at the edge (a bad date, a reversed or over-long
//! range is a 400 naming the field) and answers `commerce::analytics::report`
//! with the shop currency. Holds no SQL and no rule about what the figures mean.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::problem::Problem;
use crate::commerce::analytics::{self, DateRange, SalesReport};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/analytics").route(web::get().to(sales_report)));
}

/// Query parameters of the report (documentation; parsing is by hand for field errors).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AnalyticsParams {
    /// First day, YYYY-MM-DD (UTC); defaults to 29 days before `to`.
    from: Option<String>,
    /// Last day, included, YYYY-MM-DD (UTC); defaults to today. At most 366 days in all.
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsResponse {
    /// ISO 4217 code of the shop currency; every `_minor` amount is in its minor units.
    pub currency: &'static str,
    #[serde(flatten)]
    pub report: SalesReport,
}

/// Sales per day, totals, top products and categories, and low stock (admin).
#[utoipa::path(get, path = "/api/v1/admin/analytics", tag = "admin", params(AnalyticsParams),
    security(("admin_key" = [])),
    responses((status = 200, body = AnalyticsResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn sales_report(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let range = parse_range(params.into_inner())?;
    let threshold = state.config.commerce.low_stock_threshold;
    let store = state.store.clone();
    let report =
        web::block(move || store.read(|conn| analytics::report(conn, &range, threshold))).await??;
    Ok(HttpResponse::Ok().json(AnalyticsResponse {
        currency: state.config.currency.code(),
        report,
    }))
}

fn parse_range(params: BTreeMap<String, String>) -> Result<DateRange, Problem> {
    range_params(params, &[]).map(|(range, _)| range)
}

/// `from` and `to` as a date range, and the other parameters a route takes
/// (`also`), trimmed, empty ones dropped; any other parameter is refused.
pub(super) fn range_params(
    params: BTreeMap<String, String>,
    also: &[&str],
) -> Result<(DateRange, BTreeMap<String, String>), Problem> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in params {
        if key != "from" && key != "to" && !also.contains(&key.as_str()) {
            let accepted: Vec<&str> = ["from", "to"].iter().chain(also).copied().collect();
            return Err(Problem::invalid_field(
                &key,
                format!("is not a parameter of this route ({})", accepted.join(", ")),
            ));
        }
        let value = value.trim();
        if !value.is_empty() {
            known.insert(key, value.to_string());
        }
    }
    let today = OffsetDateTime::now_utc().date();
    let (from, to) = (known.remove("from"), known.remove("to"));
    let range = DateRange::parse(from.as_deref(), to.as_deref(), today)
        .map_err(|err| Problem::invalid_field(err.field(), err.to_string()))?;
    Ok((range, known))
}
