//! The dashboard's overview in one request: `GET /api/v1/admin/overview`.
//!
//! Gathers today's sales (`commerce::analytics`), today's conversations and
//! those waiting for a person (`store::conversations`), this month's model
//! usage and remote spend against the cap with the open spend alerts
//! (`assistant::budget`), low stock, and the tier and models serving now
//! (`assistant::router::Backends`). Reads only: it owns no SQL and no rule
//! about what a figure means, and changes nothing.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::problem::Problem;
use crate::assistant::budget::{self, Alert, GroupBy, MonthSpend, UsageFigures};
use crate::assistant::router::Backends;
use crate::commerce::analytics::{self, DateRange, Figures};
use crate::store::conversations::{self, ConversationCounts};
use crate::store::{Store, StoreError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/overview").route(web::get().to(overview)));
}

/// Today's sales, UTC.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodaySales {
    /// YYYY-MM-DD.
    pub day: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Conversations started and flagged today, and those that need a person now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationFigures {
    pub started_today: i64,
    pub flagged_today: i64,
    /// Flagged (frustrated, or asked for a person) and not taken over yet.
    pub waiting: i64,
    pub taken_over: i64,
}

impl From<ConversationCounts> for ConversationFigures {
    fn from(counts: ConversationCounts) -> ConversationFigures {
        ConversationFigures {
            started_today: counts.started,
            flagged_today: counts.flagged,
            waiting: counts.waiting,
            taken_over: counts.taken_over,
        }
    }
}

/// Model usage of the month so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiFigures {
    /// Every model call of the month, local and remote.
    pub usage: UsageFigures,
    /// What paid APIs cost this month, against the cap.
    pub remote_spend: MonthSpend,
    /// This month's spend-cap alerts (80% and 100%).
    pub alerts: Vec<Alert>,
}

/// One model the assistant may use now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServingModel {
    /// `local`, or the remote provider (`openai`, `gemini`).
    pub backend: String,
    pub model: String,
    /// Where a local model runs (`cpu`, `cuda:0`); for a remote one, `fast` or `strong`.
    pub role: String,
}

/// The tier that answers shoppers and the models behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Serving {
    /// The tier running now.
    pub tier: String,
    /// The tier the configuration asks for (`auto` or a tier).
    pub configured: String,
    /// Whether the configured tier could not be reached.
    pub degraded: bool,
    pub reason: String,
    /// Empty on the free tier: intent rules and templates answer.
    pub models: Vec<ServingModel>,
}

/// Products at or under the low-stock threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockFigures {
    pub threshold: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewResponse {
    /// ISO 4217 code of the shop currency; `_minor` amounts are in its minor units.
    pub currency: &'static str,
    pub today: TodaySales,
    pub conversations: ConversationFigures,
    pub ai: AiFigures,
    pub serving: Serving,
    pub low_stock: LowStockFigures,
}

/// Today's sales and conversations, this month's AI use and spend against
/// the cap, the tier and models serving, and what needs attention (admin).
#[utoipa::path(get, path = "/api/v1/admin/overview", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = OverviewResponse),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn overview(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let serving = serving(&state);
    let currency = state.config.currency.code();
    let threshold = state.config.commerce.low_stock_threshold;
    let store = state.store.clone();
    let worker_state = state.clone();
    let figures = web::block(move || {
        read_figures(
            &store,
            &worker_state.ai.current().backends,
            threshold,
            OffsetDateTime::now_utc(),
        )
    })
    .await??;
    Ok(HttpResponse::Ok().json(OverviewResponse {
        currency,
        today: figures.today,
        conversations: figures.conversations,
        ai: figures.ai,
        serving,
        low_stock: figures.low_stock,
    }))
}

/// What the overview reads from the database.
struct StoredFigures {
    today: TodaySales,
    conversations: ConversationFigures,
    ai: AiFigures,
    low_stock: LowStockFigures,
}

fn read_figures(
    store: &Store,
    backends: &Backends,
    low_stock_threshold: i64,
    now: OffsetDateTime,
) -> Result<StoredFigures, Problem> {
    let today = now.date();
    let day = DateRange::parse(Some(&today.to_string()), None, today).map_err(range_problem)?;
    let month = DateRange::parse(Some(&first_of_month(today).to_string()), None, today)
        .map_err(range_problem)?;
    let midnight = format!("{today}T00:00:00Z");
    let figures = store.read(|conn| {
        let sales = analytics::report(conn, &day, low_stock_threshold)?;
        Ok::<_, StoreError>(StoredFigures {
            today: TodaySales {
                day: sales.from,
                figures: sales.totals,
            },
            conversations: conversations::counts(conn, &midnight)?.into(),
            ai: AiFigures {
                usage: budget::report(conn, &month, GroupBy::Day)?.totals,
                remote_spend: budget::month_spend(conn, &backends.budgets, now)?,
                alerts: Vec::new(),
            },
            low_stock: LowStockFigures {
                threshold: sales.low_stock.threshold,
                total: sales.low_stock.total,
            },
        })
    })?;
    let alerts = budget::open_alerts(store)?;
    Ok(StoredFigures {
        ai: AiFigures {
            alerts,
            ..figures.ai
        },
        ..figures
    })
}

fn first_of_month(day: Date) -> Date {
    day.replace_day(1).unwrap_or(day)
}

/// Today's date always makes a valid range; say so plainly if it did not.
fn range_problem(error: analytics::RangeError) -> Problem {
    Problem::new(
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("the overview's date range is invalid: {error}"),
    )
}

fn serving(state: &AppState) -> Serving {
    let running = state.ai.current();
    let backends = &running.backends;
    let mut models: Vec<ServingModel> = backends
        .local()
        .map(|local| {
            let info = &local.worker.frontend().info;
            ServingModel {
                backend: budget::LOCAL_BACKEND.into(),
                model: info.id.clone(),
                role: info.device.clone(),
            }
        })
        .into_iter()
        .collect();
    if backends.tier() == crate::assistant::router::Tier::Enterprise {
        for provider in backends.remote() {
            for (model, role) in [(&provider.fast, "fast"), (&provider.strong, "strong")] {
                models.push(ServingModel {
                    backend: provider.guarded.provider().into(),
                    model: model.clone(),
                    role: role.into(),
                });
            }
        }
    }
    Serving {
        tier: backends.tier().as_str().into(),
        configured: state.config.tier.as_str().into(),
        degraded: backends.resolution.degraded,
        reason: backends.resolution.reason.clone(),
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_starts_on_its_first_day() {
        let day = Date::from_calendar_date(2026, time::Month::February, 28).unwrap();
        assert_eq!(first_of_month(day).to_string(), "2026-02-01");
        let first = Date::from_calendar_date(2026, time::Month::March, 1).unwrap();
        assert_eq!(first_of_month(first), first);
    }
}
