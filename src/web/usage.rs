//! Admin model usage: `GET /api/v1/admin/usage?from=&to=&group_by=` and
//! `GET /api/v1/admin/usage/alerts`.
//!
//! Parses the range and the grouping at the edge (a bad value or an unknown
//! parameter is a 400 naming it) and answers `assistant::budget`'s report
//! (JSON, or CSV with `format=csv` / `Accept: text/csv`), its alerts and the
//! month's spend against the cap. Holds no SQL and no rule about budgets or
//! what the figures mean.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::csv::{Cell, Csv, Format};
use super::problem::Problem;
use crate::assistant::budget::{self, Alert, GroupBy, MonthSpend, UsageReport};
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
    /// json (the default) or csv: a download with a row per group (also chosen by `Accept: text/csv`).
    format: Option<String>,
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
    /// This month's remote model spend against the monthly cap.
    pub spend: MonthSpend,
}

/// Model calls, tokens and cost over a range of days, grouped (admin).
/// `totals` is exactly the sum of `groups`. As CSV: a header row, then one
/// row per group (`<group_by>,calls,failed,input_tokens,output_tokens,cached_tokens,cost`),
/// saved as `usage-<from>-<to>.csv` (`usage-by-<group_by>-…` when not by day).
#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "admin", params(UsageParams),
    security(("admin_key" = [])),
    responses((status = 200, description = "The report", content(
            (UsageResponse = "application/json"),
            (String = "text/csv", example = "day,calls,failed,input_tokens,output_tokens,cached_tokens,cost\r\n2025-03-01,12,1,5400,900,1200,0.004200\r\n"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn usage_report(
    _admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let (range, group_by, format) = parse_params(params.into_inner(), &req)?;
    let store = state.store.clone();
    let report =
        web::block(move || store.read(|conn| budget::report(conn, &range, group_by))).await??;
    Ok(match format {
        Format::Csv => usage_csv(&report).into_download(&usage_filename(&report)),
        Format::Json => HttpResponse::Ok().json(UsageResponse {
            currency: state.config.currency.code(),
            report,
        }),
    })
}

/// One row per group, in the report's order; cost as the report's decimal.
fn usage_csv(report: &UsageReport) -> Csv {
    let mut csv = Csv::with_header(&[
        report.group_by,
        "calls",
        "failed",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost",
    ]);
    for group in &report.groups {
        let figures = &group.figures;
        csv.row(&[
            Cell::text(group.key.as_str()),
            Cell::number(figures.calls),
            Cell::number(figures.failed),
            Cell::number(figures.input_tokens),
            Cell::number(figures.output_tokens),
            Cell::number(figures.cached_tokens),
            Cell::number(&figures.cost),
        ]);
    }
    csv
}

/// Built from the parsed range and the grouping's own name only.
fn usage_filename(report: &UsageReport) -> String {
    match report.group_by {
        "day" => format!("usage-{}-{}.csv", report.from, report.to),
        group => format!("usage-by-{group}-{}-{}.csv", report.from, report.to),
    }
}

/// The spend-cap alerts (this month's and the latest ones) and the month's
/// remote spend against the cap (admin).
#[utoipa::path(get, path = "/api/v1/admin/usage/alerts", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = AlertsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn usage_alerts(
    _admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let state = state.into_inner();
    let alerts = web::block(move || {
        let now = time::OffsetDateTime::now_utc();
        Ok::<_, crate::store::StoreError>(AlertsResponse {
            open: budget::open_alerts(&store)?,
            recent: budget::recent_alerts(&store, budget::RECENT_ALERTS)?,
            spend: store.read(|conn| {
                budget::month_spend(conn, &state.ai.current().backends.budgets, now)
            })?,
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(alerts))
}

fn parse_params(
    params: BTreeMap<String, String>,
    req: &HttpRequest,
) -> Result<(DateRange, GroupBy, Format), Problem> {
    let (range, mut rest) = super::analytics::range_params(params, &["group_by", "format"])?;
    let format = Format::requested(&mut rest, req)?;
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
    Ok((range, group_by, format))
}
