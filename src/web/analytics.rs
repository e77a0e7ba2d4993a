//! Admin sales analytics: `GET /api/v1/admin/analytics?from=&to=`.
//!
//! Parses the date range at the edge (a bad date, a reversed or over-long
//! range is a 400 naming the field) and answers `commerce::analytics::report`
//! with the shop currency, as JSON or as a CSV download of one of its tables
//! (`format=csv&table=days|products|categories`). Holds no SQL and no rule
//! about what the figures mean.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::csv::{Cell, Csv, Format};
use super::problem::Problem;
use crate::catalog::money::{Currency, Money};
use crate::commerce::analytics::{self, DateRange, Figures, SalesReport};

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
    /// json (the default) or csv: a download of one table (also chosen by `Accept: text/csv`).
    format: Option<String>,
    /// With csv only: days (the default; every day of the range), products
    /// or categories (the top ones).
    table: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsResponse {
    /// ISO 4217 code of the shop currency; every `_minor` amount is in its minor units.
    pub currency: &'static str,
    #[serde(flatten)]
    pub report: SalesReport,
}

/// Sales per day, totals, top products and categories, and low stock (admin).
/// As CSV: a header row, then a row per day (`day,orders,revenue,discount,tax,units,average_order_value,cancelled,refunded,refunded_amount`),
/// per top product (`product_id,name,units,revenue`) or per top category
/// (`category,units,revenue`), amounts as decimals in the shop currency; saved
/// as `sales-<from>-<to>.csv` (`sales-products-…`, `sales-categories-…`).
/// Text that a spreadsheet would run as a formula starts with `'`.
#[utoipa::path(get, path = "/api/v1/admin/analytics", tag = "admin", params(AnalyticsParams),
    security(("admin_key" = [])),
    responses((status = 200, description = "The report", content(
            (AnalyticsResponse = "application/json"),
            (String = "text/csv", example = "product_id,name,units,revenue\r\n12,\"'=1+2\",3,7.50\r\n"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn sales_report(
    _admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let (range, answer) = parse_params(params.into_inner(), &req)?;
    let threshold = state.config.commerce.low_stock_threshold;
    let store = state.store.clone();
    let report =
        web::block(move || store.read(|conn| analytics::report(conn, &range, threshold))).await??;
    let currency = state.config.currency;
    Ok(match answer {
        Answer::Json => HttpResponse::Ok().json(AnalyticsResponse {
            currency: currency.code(),
            report,
        }),
        Answer::Csv(table) => {
            let filename = table.filename(&report);
            table.csv(&report, currency).into_download(&filename)
        }
    })
}

/// What a request asked for: the JSON report or one table as CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Json,
    Csv(Table),
}

/// The report's tables a CSV download can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Days,
    Products,
    Categories,
}

impl Table {
    const ALL: [(&'static str, Table); 3] = [
        ("days", Table::Days),
        ("products", Table::Products),
        ("categories", Table::Categories),
    ];

    fn parse(name: &str) -> Result<Table, Problem> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, table)| *table)
            .ok_or_else(|| {
                Problem::invalid_field(
                    "table",
                    format!("{name:?} is not one of days, products, categories"),
                )
            })
    }

    /// Built from the parsed range and the table's own name only.
    fn filename(self, report: &SalesReport) -> String {
        let (from, to) = (&report.from, &report.to);
        match self {
            Table::Days => format!("sales-{from}-{to}.csv"),
            Table::Products => format!("sales-products-{from}-{to}.csv"),
            Table::Categories => format!("sales-categories-{from}-{to}.csv"),
        }
    }

    fn csv(self, report: &SalesReport, currency: Currency) -> Csv {
        match self {
            Table::Days => days_csv(report, currency),
            Table::Products => products_csv(report, currency),
            Table::Categories => categories_csv(report, currency),
        }
    }
}

fn days_csv(report: &SalesReport, currency: Currency) -> Csv {
    let mut csv = Csv::with_header(&[
        "day",
        "orders",
        "revenue",
        "discount",
        "tax",
        "units",
        "average_order_value",
        "cancelled",
        "refunded",
        "refunded_amount",
    ]);
    for day in &report.days {
        let Figures {
            orders,
            revenue_minor,
            discount_minor,
            tax_minor,
            units,
            average_order_value_minor,
            cancelled,
            refunded,
            refunded_minor,
        } = day.figures;
        csv.row(&[
            Cell::text(day.day.as_str()),
            Cell::number(orders),
            amount(currency, revenue_minor),
            amount(currency, discount_minor),
            amount(currency, tax_minor),
            Cell::number(units),
            amount(currency, average_order_value_minor),
            Cell::number(cancelled),
            Cell::number(refunded),
            amount(currency, refunded_minor),
        ]);
    }
    csv
}

fn products_csv(report: &SalesReport, currency: Currency) -> Csv {
    let mut csv = Csv::with_header(&["product_id", "name", "units", "revenue"]);
    for product in &report.top_products {
        csv.row(&[
            Cell::number(product.product_id),
            Cell::text(product.name.as_str()),
            Cell::number(product.units),
            amount(currency, product.revenue_minor),
        ]);
    }
    csv
}

fn categories_csv(report: &SalesReport, currency: Currency) -> Csv {
    let mut csv = Csv::with_header(&["category", "units", "revenue"]);
    for category in &report.top_categories {
        csv.row(&[
            Cell::text(category.category.as_str()),
            Cell::number(category.units),
            amount(currency, category.revenue_minor),
        ]);
    }
    csv
}

/// Minor units as a decimal in major units ("12.50"), as a spreadsheet sums them.
fn amount(currency: Currency, minor: i64) -> Cell {
    let sign = if minor < 0 { "-" } else { "" };
    match Money::from_minor(minor.saturating_abs()) {
        Ok(money) => Cell::number(format!("{sign}{}", currency.format_plain(money))),
        // Past any amount a shop can hold; exact minor units beat a wrong decimal.
        Err(_) => Cell::text(format!("{minor} (minor units)")),
    }
}

fn parse_params(
    params: BTreeMap<String, String>,
    req: &HttpRequest,
) -> Result<(DateRange, Answer), Problem> {
    let (range, mut rest) = range_params(params, &["format", "table"])?;
    let answer = match (Format::requested(&mut rest, req)?, rest.remove("table")) {
        (Format::Json, None) => Answer::Json,
        (Format::Json, Some(_)) => {
            return Err(Problem::invalid_field(
                "table",
                "applies to format=csv only",
            ));
        }
        (Format::Csv, table) => {
            Answer::Csv(table.as_deref().map_or(Ok(Table::Days), Table::parse)?)
        }
    };
    Ok((range, answer))
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
