//! Admin model usage: `GET /api/v1/admin/usage?from=&to=&group_by=` and
//! `GET /api/v1/admin/usage/alerts`.
//!
//! Parses the range and the grouping at the edge (a bad value or an unknown
//! parameter is a 400 naming it) and answers `assistant::budget`'s report and
//! alerts. Holds no SQL and no rule about budgets or what the figures mean.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::problem::Problem;
use crate::assistant::budget::{self, Alert, GroupBy, UsageReport};
use crate::commerce::analytics::DateRange;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/usage").route(web::get().to(usage_report)))
        .service(web::resource("/admin/usage/alerts").route(web::get().to(usage_alerts)));
}

/// Query parameters of the report (documentation; parsing is by hand for field errors).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UsageParams {
    /// First day, YYYY-MM-DD (UTC); defaults to 29 days before `to`.
    from: Option<String>,
    /// Last day, included, YYYY-MM-DD (UTC); defaults to today. At most 366 days in all.
    to: Option<String>,
    /// day (the default), model, tier, class or backend.
    group_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// ISO 4217 code of the shop currency, the one every cost is in.
    pub currency: &'static str,
    #[serde(flatten)]
    pub report: UsageReport,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsResponse {
    /// This month's alerts: while there are any, the dashboard shows a flag.
    pub open: Vec<Alert>,
    /// The latest alerts of any month, newest first.
    pub recent: Vec<Alert>,
}

/// Model calls, tokens and cost over a range of days, grouped (admin).
/// `totals` is exactly the sum of `groups`.
#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "admin", params(UsageParams),
    security(("admin_key" = [])),
    responses((status = 200, body = UsageResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn usage_report(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let (range, group_by) = parse_params(params.into_inner())?;
    let store = state.store.clone();
    let report =
        web::block(move || store.read(|conn| budget::report(conn, &range, group_by))).await??;
    Ok(HttpResponse::Ok().json(UsageResponse {
        currency: state.config.currency.code(),
        report,
    }))
}

/// The spend-cap alerts: this month's and the latest ones (admin).
#[utoipa::path(get, path = "/api/v1/admin/usage/alerts", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = AlertsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn usage_alerts(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let alerts = web::block(move || {
        Ok::<_, crate::store::StoreError>(AlertsResponse {
            open: budget::open_alerts(&store)?,
            recent: budget::recent_alerts(&store, budget::RECENT_ALERTS)?,
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(alerts))
}

fn parse_params(params: BTreeMap<String, String>) -> Result<(DateRange, GroupBy), Problem> {
    let (range, mut rest) = super::analytics::range_params(params, &["group_by"])?;
    let group_by = rest.remove("group_by");
    let group_by = match group_by {
        None => GroupBy::Day,
        Some(name) => GroupBy::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
            Problem::invalid_field(
                "group_by",
                format!("{name:?} is not one of {}", known.join(", ")),
            )
        })?,
    };
    Ok((range, group_by))
}
