//! Model budgets: whether a shopper's next turn may use a model tier, what
//! every model call used and cost, the admin's alerts, and the usage report.
//!
//! Owns the rules; SQL lives in `store::usage`, HTTP in `web::usage`. It must
//! not pick a tier or call a model: the assistant asks [`allowance`] before a
//! turn and calls [`record`] after every model call, local or remote.
//!
//! **Budgets.** A shopper's budget subject is `customer:<id>` once signed in
//! and `session:<id>` before ([`subject_of`]); their class is guest,
//! registered, or premium for the customers listed in
//! `budget.premium_customers` ([`Budgets::class_of`]). Each class has a
//! budget of tokens per UTC day and per calendar month (UTC); a call spends
//! its input plus output tokens (cached input tokens included: they still
//! fill the model's context). A turn may use a model while its subject is
//! under both budgets, and a turn that starts under budget finishes even if it
//! ends over. A budget of 0 turns model tiers off for that class. Over budget
//! the shopper is served by the tier without a model, so they can still shop.
//!
//! **Spend cap.** Remote (paid API) calls add their cost to the shop's
//! remote spend of the month; once that reaches `budget.monthly_spend_cap`
//! no turn calls a remote API until the next month (local models still may).
//! A cap of 0 allows no remote spending. Costs are integer micro-units of the
//! shop currency, so every sum is exact.
//!
//! **Alerts, and why only these.** The admin acts on shop-wide money, not on
//! one guest's tokens, so:
//! - the month's remote spend reaching 80% and 100% of the cap is an alert: a
//!   `tracing::warn!`, a `usage_alerts` row (the dashboard flag; its key makes
//!   each fire once per month) and, with `budget.alert_webhook`, a
//!   `budget.alert` webhook event, written in the transaction of the call
//!   that reached it;
//! - a subject reaching 100% of its daily or monthly budget is only logged,
//!   once (when its counter crosses the budget): no row and no webhook, since
//!   with many guests per-shopper events would bury the ones that matter.
//!
//! Class totals are not alerted: budgets are per shopper, so a class total
//! has no limit to be compared with.
//!
//! **Why checks are cheap.** [`record`] keeps per-subject day and month token
//! counters, the monthly remote spend and per-day usage figures up to date in
//! the transaction that writes the call, so [`allowance`] is three
//! primary-key look-ups and [`report`] reads only the days of its range,
//! never the call log.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{Connection, Transaction};
use serde::Serialize;
use time::{Date, OffsetDateTime, UtcOffset};
use utoipa::ToSchema;

use crate::commerce::Shopper;
use crate::commerce::analytics::DateRange;
use crate::commerce::webhooks;
use crate::config::{BudgetSettings, TokenBudget};
use crate::store::usage::{self, AlertRow, CallRow, UsageSums};
use crate::store::{Store, StoreError, timestamp};

pub use crate::store::usage::UsageDimension as GroupBy;

/// The backend that runs on this machine; every other backend is a paid remote API.
pub const LOCAL_BACKEND: &str = "local";
/// The scope of the spend-cap alerts.
pub const SPEND_CAP_SCOPE: &str = "spend_cap";
/// Percentages of the spend cap at which the admin is alerted.
const SPEND_THRESHOLDS: [u8; 2] = [80, 100];
/// The percentage a subject's alert reports: it fires when the budget is spent.
const SUBJECT_THRESHOLD: u8 = 100;
/// Alerts the alert list shows besides the open ones.
pub const RECENT_ALERTS: usize = 50;

/// Which budgets a shopper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShopperClass {
    Guest,
    Registered,
    Premium,
}

impl ShopperClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ShopperClass::Guest => "guest",
            ShopperClass::Registered => "registered",
            ShopperClass::Premium => "premium",
        }
    }
}

/// The budgets and spend cap of the configuration, ready for look-ups.
#[derive(Debug, Clone)]
pub struct Budgets {
    guest: TokenBudget,
    registered: TokenBudget,
    premium: TokenBudget,
    premium_customers: HashSet<i64>,
    spend_cap_micros: u64,
    alert_webhook: bool,
}

impl Budgets {
    pub fn new(settings: &BudgetSettings) -> Budgets {
        Budgets {
            guest: settings.guest,
            registered: settings.registered,
            premium: settings.premium,
            premium_customers: settings.premium_customers.iter().copied().collect(),
            spend_cap_micros: settings.monthly_spend_cap_micros,
            alert_webhook: settings.alert_webhook,
        }
    }

    /// Guest before signing in; premium when the customer is listed as such.
    pub fn class_of(&self, shopper: &Shopper) -> ShopperClass {
        match shopper.customer_id {
            None => ShopperClass::Guest,
            Some(id) if self.premium_customers.contains(&id) => ShopperClass::Premium,
            Some(_) => ShopperClass::Registered,
        }
    }

    pub fn tokens_for(&self, class: ShopperClass) -> TokenBudget {
        match class {
            ShopperClass::Guest => self.guest,
            ShopperClass::Registered => self.registered,
            ShopperClass::Premium => self.premium,
        }
    }

    pub fn spend_cap_micros(&self) -> u64 {
        self.spend_cap_micros
    }
}

/// Whose budget a shopper's calls spend: the customer's once signed in, so a
/// new session does not reset it; the session's before.
pub fn subject_of(shopper: &Shopper) -> String {
    match shopper.customer_id {
        Some(id) => format!("customer:{id}"),
        None => format!("session:{}", shopper.session_id),
    }
}

/// One model call, as the assistant reports it. `tier` is starter,
/// professional or enterprise; `backend` local, openai or gemini; `purpose`
/// chat, summary or intent. `input_tokens` counts the whole prompt, cached
/// tokens included; `cost_micros` is in micro-units of the shop currency.
/// A failed call (`ok: false`) counts the tokens it used, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub conversation_id: Option<String>,
    pub class: ShopperClass,
    pub subject: String,
    pub tier: &'static str,
    pub backend: &'static str,
    pub model: String,
    pub purpose: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub latency_ms: u64,
    pub cost_micros: u64,
    pub ok: bool,
}

impl CallRecord {
    /// What the call spends of its subject's budget.
    pub fn budget_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    pub fn is_remote(&self) -> bool {
        self.backend != LOCAL_BACKEND
    }

    fn row<'a>(&'a self, periods: &'a Periods) -> CallRow<'a> {
        CallRow {
            at: &periods.at,
            day: &periods.day,
            month: &periods.month,
            conversation_id: self.conversation_id.as_deref(),
            class: self.class.as_str(),
            subject: &self.subject,
            tier: self.tier,
            backend: self.backend,
            model: &self.model,
            purpose: self.purpose,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            latency_ms: self.latency_ms,
            cost_micros: self.cost_micros,
            ok: self.ok,
        }
    }
}

/// Whether a turn may use a model tier, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Allowed,
    /// The subject spent its budget of the `period`, "day" or "month"; the
    /// turn goes to the tier without a model.
    OverShopperBudget {
        period: &'static str,
    },
    /// The shop's remote spend reached the monthly cap; the turn goes to a local tier.
    OverSpendCap,
}

/// An alert for the admin: `scope` reached `threshold`% of `limit` in `period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Alert {
    /// `spend_cap`, or the budget subject (`customer:<id>`, `session:<id>`).
    pub scope: String,
    /// The month (YYYY-MM) or UTC day (YYYY-MM-DD) it is about.
    pub period: String,
    /// Percent of the limit reached: 80 or 100.
    pub threshold: u8,
    /// Used so far and the limit: micro-units of the shop currency for
    /// `spend_cap`, tokens for a subject.
    pub used: u64,
    pub limit: u64,
    /// When it fired, RFC 3339 UTC.
    pub at: String,
}

impl From<AlertRow> for Alert {
    fn from(row: AlertRow) -> Alert {
        Alert {
            scope: row.scope,
            period: row.period,
            threshold: row.threshold,
            used: row.used,
            limit: row.limit,
            at: row.at,
        }
    }
}

/// The UTC periods a moment falls in, as the store keys them.
struct Periods {
    at: String,
    day: String,
    month: String,
}

impl Periods {
    fn of(now: OffsetDateTime) -> Periods {
        let now = now.to_offset(UtcOffset::UTC);
        Periods {
            at: timestamp(now),
            day: format_day(now.date()),
            month: format_month(now.date()),
        }
    }
}

/// May this shopper's next turn use a model tier? `remote` = the turn would
/// call a paid remote API (the spend cap applies only then). A spent monthly
/// budget is reported before a spent daily one: waiting for tomorrow would
/// not help.
pub fn allowance(
    store: &Store,
    budgets: &Budgets,
    class: ShopperClass,
    subject: &str,
    remote: bool,
    now: OffsetDateTime,
) -> Result<Allowance, StoreError> {
    let periods = Periods::of(now);
    let budget = budgets.tokens_for(class);
    store.read(|conn| {
        if usage::subject_tokens(conn, subject, &periods.month)? >= budget.monthly {
            return Ok(Allowance::OverShopperBudget { period: "month" });
        }
        if usage::subject_tokens(conn, subject, &periods.day)? >= budget.daily {
            return Ok(Allowance::OverShopperBudget { period: "day" });
        }
        if remote && usage::remote_spend(conn, &periods.month)? >= budgets.spend_cap_micros {
            return Ok(Allowance::OverSpendCap);
        }
        Ok(Allowance::Allowed)
    })
}

/// The shop's remote (paid API) spend of the current UTC month, in micro-units.
pub fn remote_spend_this_month(store: &Store) -> Result<u64, StoreError> {
    let periods = Periods::of(OffsetDateTime::now_utc());
    store.read(|conn| usage::remote_spend(conn, &periods.month))
}

/// Records a call, updates aggregates, and fires 80%/100% alerts
/// (tracing::warn!, a row in usage_alerts, and a `budget.alert` webhook event
/// when an endpoint subscribes) in the same transaction. Returns the alerts
/// this call fired, subjects' budget events included; when one went out as a
/// webhook, wake the dispatcher (it would otherwise send it at its next poll).
pub fn record(
    store: &Store,
    budgets: &Budgets,
    call: &CallRecord,
    now: OffsetDateTime,
) -> Result<Vec<Alert>, StoreError> {
    let periods = Periods::of(now);
    let alerts = store.write(|tx| record_in(tx, budgets, call, &periods))?;
    // Logged once committed, so a log line never reports a rolled-back alert.
    for alert in &alerts {
        log_alert(alert);
    }
    Ok(alerts)
}

fn record_in(
    tx: &Transaction,
    budgets: &Budgets,
    call: &CallRecord,
    periods: &Periods,
) -> Result<Vec<Alert>, StoreError> {
    let row = call.row(periods);
    usage::insert_call(tx, &row)?;
    usage::add_to_daily_usage(tx, &row)?;
    let mut alerts = count_subject_tokens(tx, budgets, call, periods)?;
    if call.is_remote() {
        alerts.extend(add_remote_spend(tx, budgets, call.cost_micros, periods)?);
    }
    Ok(alerts)
}

/// Adds the call's tokens to its subject's day and month; an event for each
/// budget this call used up.
fn count_subject_tokens(
    tx: &Transaction,
    budgets: &Budgets,
    call: &CallRecord,
    periods: &Periods,
) -> Result<Vec<Alert>, StoreError> {
    let budget = budgets.tokens_for(call.class);
    let tokens = call.budget_tokens();
    let mut events = Vec::new();
    for (period, limit) in [
        (&periods.day, budget.daily),
        (&periods.month, budget.monthly),
    ] {
        let after = usage::add_subject_tokens(tx, &call.subject, period, tokens)?;
        let before = after.saturating_sub(tokens);
        // Only the call that crosses the budget reports it: once per period.
        if before < limit && after >= limit {
            events.push(Alert {
                scope: call.subject.clone(),
                period: period.clone(),
                threshold: SUBJECT_THRESHOLD,
                used: after,
                limit,
                at: periods.at.clone(),
            });
        }
    }
    Ok(events)
}

/// Adds to the month's remote spend; the spend-cap alerts that fire for the
/// first time this month.
fn add_remote_spend(
    tx: &Transaction,
    budgets: &Budgets,
    cost_micros: u64,
    periods: &Periods,
) -> Result<Vec<Alert>, StoreError> {
    let spent = usage::add_remote_spend(tx, &periods.month, cost_micros)?;
    let cap = budgets.spend_cap_micros;
    let mut fired = Vec::new();
    for threshold in SPEND_THRESHOLDS {
        if !reached(spent, cap, threshold) {
            continue;
        }
        let row = AlertRow {
            scope: SPEND_CAP_SCOPE.to_string(),
            period: periods.month.clone(),
            threshold,
            used: spent,
            limit: cap,
            at: periods.at.clone(),
        };
        if !usage::insert_alert(tx, &row)? {
            continue;
        }
        let alert = Alert::from(row);
        if budgets.alert_webhook {
            webhooks::budget_alert(tx, &alert)?;
        }
        fired.push(alert);
    }
    Ok(fired)
}

/// Whether `used` is at least `percent`% of `limit`. Nothing spent reaches
/// nothing, so a cap of 0 (no remote spending) alerts only if money was spent.
fn reached(used: u64, limit: u64, percent: u8) -> bool {
    used > 0 && u128::from(used) * 100 >= u128::from(limit) * u128::from(percent)
}

fn log_alert(alert: &Alert) {
    if alert.scope == SPEND_CAP_SCOPE {
        tracing::warn!(
            period = %alert.period,
            threshold = alert.threshold,
            spent_micros = alert.used,
            cap_micros = alert.limit,
            "remote model spend reached {}% of the monthly cap",
            alert.threshold
        );
    } else {
        tracing::warn!(
            subject = %alert.scope,
            period = %alert.period,
            tokens = alert.used,
            budget = alert.limit,
            "a shopper used up their model token budget; their turns go to the tier without a model"
        );
    }
}

/// The alerts of the current month: the dashboard's flag.
pub fn open_alerts(store: &Store) -> Result<Vec<Alert>, StoreError> {
    let month = Periods::of(OffsetDateTime::now_utc()).month;
    let rows = store.read(|conn| usage::alerts_of_period(conn, &month))?;
    Ok(rows.into_iter().map(Alert::from).collect())
}

/// The newest `limit` alerts, newest first.
pub fn recent_alerts(store: &Store, limit: usize) -> Result<Vec<Alert>, StoreError> {
    let rows = store.read(|conn| usage::recent_alerts(conn, limit))?;
    Ok(rows.into_iter().map(Alert::from).collect())
}

/// The shop's remote (paid API) model spend this month against its cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthSpend {
    /// The month, YYYY-MM (UTC).
    pub month: String,
    /// Spent so far, micro-units of the shop currency.
    pub spent_micros: u64,
    /// The same as a decimal, six places.
    pub spent: String,
    /// `budget.monthly_spend_cap`: no remote call is made once it is reached.
    pub cap_micros: u64,
    pub cap: String,
}

/// This month's remote spend and the cap it counts against.
pub fn month_spend(
    conn: &Connection,
    budgets: &Budgets,
    now: OffsetDateTime,
) -> Result<MonthSpend, StoreError> {
    let month = Periods::of(now).month;
    let spent_micros = usage::remote_spend(conn, &month)?;
    Ok(MonthSpend {
        month,
        spent_micros,
        spent: micros_decimal(spent_micros),
        cap_micros: budgets.spend_cap_micros,
        cap: micros_decimal(budgets.spend_cap_micros),
    })
}

/// Calls, tokens and cost of a group or of a whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageFigures {
    pub calls: u64,
    /// Calls that failed (their tokens count all the same).
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// How many of the input tokens came from a prompt cache.
    pub cached_tokens: u64,
    /// Micro-units of the shop currency (1.00 is 1000000).
    pub cost_micros: u64,
    /// The same cost as a decimal in the shop currency, six places ("0.001250").
    pub cost: String,
}

impl UsageFigures {
    fn from_sums(sums: &UsageSums) -> UsageFigures {
        UsageFigures {
            calls: sums.calls,
            failed: sums.failed,
            input_tokens: sums.input_tokens,
            output_tokens: sums.output_tokens,
            cached_tokens: sums.cached_tokens,
            cost_micros: sums.cost_micros,
            cost: micros_decimal(sums.cost_micros),
        }
    }
}

/// One value of the `group_by` dimension and its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageGroup {
    /// The day (YYYY-MM-DD), model, tier, class or backend.
    pub key: String,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageReport {
    /// First day, YYYY-MM-DD, UTC.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// day, model, tier, class or backend.
    pub group_by: &'static str,
    /// Ordered by key; by day, every day of the range, those without calls as zeros.
    pub groups: Vec<UsageGroup>,
    /// The sum of the groups.
    pub totals: UsageFigures,
}

/// Model usage over the days of `range`, grouped by one dimension.
pub fn report(
    conn: &Connection,
    range: &DateRange,
    group_by: GroupBy,
) -> Result<UsageReport, StoreError> {
    let (from, to) = (format_day(range.from()), format_day(range.to()));
    let mut stored = usage::grouped_usage(conn, &from, &to, group_by)?;
    if group_by == GroupBy::Day {
        stored = every_day(range, stored);
    }
    let mut totals = UsageSums::default();
    for (_, sums) in &stored {
        add_sums(&mut totals, sums);
    }
    let groups = stored
        .iter()
        .map(|(key, sums)| UsageGroup {
            key: key.clone(),
            figures: UsageFigures::from_sums(sums),
        })
        .collect();
    Ok(UsageReport {
        from,
        to,
        group_by: group_by.as_str(),
        groups,
        totals: UsageFigures::from_sums(&totals),
    })
}

/// Each day of the range with its sums, zeros where nothing was stored.
fn every_day(range: &DateRange, stored: Vec<(String, UsageSums)>) -> Vec<(String, UsageSums)> {
    let mut by_day: BTreeMap<String, UsageSums> = stored.into_iter().collect();
    range
        .days()
        .map(format_day)
        .map(|day| {
            let sums = by_day.remove(&day).unwrap_or_default();
            (day, sums)
        })
        .collect()
}

fn add_sums(sum: &mut UsageSums, more: &UsageSums) {
    sum.calls = sum.calls.saturating_add(more.calls);
    sum.failed = sum.failed.saturating_add(more.failed);
    sum.input_tokens = sum.input_tokens.saturating_add(more.input_tokens);
    sum.output_tokens = sum.output_tokens.saturating_add(more.output_tokens);
    sum.cached_tokens = sum.cached_tokens.saturating_add(more.cached_tokens);
    sum.cost_micros = sum.cost_micros.saturating_add(more.cost_micros);
}

/// 1250 → "0.001250".
pub fn micros_decimal(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

fn format_day(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn format_month(day: Date) -> String {
    format!("{:04}-{:02}", day.year(), u8::from(day.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};
    use serde_json::Value;

    fn at(rfc3339: &str) -> OffsetDateTime {
        OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn settings() -> BudgetSettings {
        BudgetSettings {
            guest: TokenBudget {
                daily: 100,
                monthly: 250,
            },
            registered: TokenBudget {
                daily: 1_000,
                monthly: 10_000,
            },
            premium: TokenBudget {
                daily: 5_000,
                monthly: 50_000,
            },
            premium_customers: vec![7],
            monthly_spend_cap_micros: 1_000_000,
            alert_webhook: true,
        }
    }

    fn budgets() -> Budgets {
        Budgets::new(&settings())
    }

    fn call(class: ShopperClass, subject: &str, tokens: u64) -> CallRecord {
        CallRecord {
            conversation_id: Some("c-1".into()),
            class,
            subject: subject.into(),
            tier: "starter",
            backend: LOCAL_BACKEND,
            model: "qwen2.5-0.5b".into(),
            purpose: "chat",
            input_tokens: tokens - tokens / 4,
            output_tokens: tokens / 4,
            cached_tokens: 0,
            latency_ms: 120,
            cost_micros: 0,
            ok: true,
        }
    }

    fn remote(cost_micros: u64) -> CallRecord {
        CallRecord {
            tier: "enterprise",
            backend: "openai",
            model: "gpt-4o-mini".into(),
            cost_micros,
            ..call(ShopperClass::Registered, "customer:1", 10)
        }
    }

    fn guest_allowance(store: &Store, subject: &str, now: OffsetDateTime) -> Allowance {
        allowance(store, &budgets(), ShopperClass::Guest, subject, false, now).unwrap()
    }

    fn over(period: &'static str) -> Allowance {
        Allowance::OverShopperBudget { period }
    }

    #[test]
    fn a_spent_daily_budget_refuses_until_the_next_utc_day() {
        let (_dir, store) = crate::store::scratch();
        let (budgets, guest) = (budgets(), "session:1");
        let morning = at("2025-03-04T08:00:00Z");
        assert_eq!(guest_allowance(&store, guest, morning), Allowance::Allowed);
        record(
            &store,
            &budgets,
            &call(ShopperClass::Guest, guest, 60),
            morning,
        )
        .unwrap();
        assert_eq!(guest_allowance(&store, guest, morning), Allowance::Allowed);
        record(
            &store,
            &budgets,
            &call(ShopperClass::Guest, guest, 40),
            morning,
        )
        .unwrap();
        assert_eq!(guest_allowance(&store, guest, morning), over("day"));
        assert_eq!(
            guest_allowance(&store, "session:2", morning),
            Allowance::Allowed,
            "budgets are per subject"
        );
        // 23:59:59 UTC is still the 4th; 19:00 on the 4th in UTC-5 is already the 5th in UTC.
        let late = at("2025-03-04T23:59:59Z");
        assert_eq!(guest_allowance(&store, guest, late), over("day"));
        let next_day_elsewhere = at("2025-03-04T19:00:00-05:00");
        assert_eq!(
            guest_allowance(&store, guest, next_day_elsewhere),
            Allowance::Allowed,
            "00:00 UTC on the 5th"
        );
    }

    #[test]
    fn a_spent_monthly_budget_refuses_until_the_next_month() {
        let (_dir, store) = crate::store::scratch();
        let (budgets, guest) = (budgets(), "session:1");
        for day in [1, 2] {
            let day_at = at("2025-03-01T12:00:00Z") + time::Duration::days(day - 1);
            record(
                &store,
                &budgets,
                &call(ShopperClass::Guest, guest, 100),
                day_at,
            )
            .unwrap();
        }
        let third = at("2025-03-03T12:00:00Z");
        assert_eq!(guest_allowance(&store, guest, third), Allowance::Allowed);
        record(
            &store,
            &budgets,
            &call(ShopperClass::Guest, guest, 100),
            third,
        )
        .unwrap();
        assert_eq!(
            guest_allowance(&store, guest, third),
            over("month"),
            "both are spent; the month is the one that matters"
        );
        assert_eq!(
            guest_allowance(&store, guest, at("2025-03-31T23:00:00Z")),
            over("month")
        );
        assert_eq!(
            guest_allowance(&store, guest, at("2025-04-01T00:00:00Z")),
            Allowance::Allowed
        );
    }

    #[test]
    fn each_class_has_its_own_budgets() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        let now = at("2025-03-04T08:00:00Z");
        for (class, subject) in [
            (ShopperClass::Guest, "session:1"),
            (ShopperClass::Registered, "customer:2"),
            (ShopperClass::Premium, "customer:7"),
        ] {
            record(&store, &budgets, &call(class, subject, 1_000), now).unwrap();
        }
        let check = |class, subject| allowance(&store, &budgets, class, subject, false, now);
        assert_eq!(
            check(ShopperClass::Guest, "session:1").unwrap(),
            over("month")
        );
        assert_eq!(
            check(ShopperClass::Registered, "customer:2").unwrap(),
            over("day")
        );
        assert_eq!(
            check(ShopperClass::Premium, "customer:7").unwrap(),
            Allowance::Allowed
        );
    }

    #[test]
    fn shoppers_are_classed_by_account_and_premium_list() {
        let budgets = budgets();
        let guest = Shopper {
            session_id: 4,
            customer_id: None,
        };
        let registered = Shopper {
            session_id: 5,
            customer_id: Some(2),
        };
        let premium = Shopper {
            session_id: 6,
            customer_id: Some(7),
        };
        assert_eq!(budgets.class_of(&guest), ShopperClass::Guest);
        assert_eq!(budgets.class_of(&registered), ShopperClass::Registered);
        assert_eq!(budgets.class_of(&premium), ShopperClass::Premium);
        assert_eq!(subject_of(&guest), "session:4");
        assert_eq!(
            subject_of(&premium),
            "customer:7",
            "a customer's budget follows them across sessions"
        );
    }

    #[test]
    fn the_spend_cap_stops_remote_turns_only() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        let now = at("2025-03-04T08:00:00Z");
        let check = |remote, now| {
            allowance(
                &store,
                &budgets,
                ShopperClass::Registered,
                "customer:1",
                remote,
                now,
            )
            .unwrap()
        };
        record(&store, &budgets, &remote(999_999), now).unwrap();
        assert_eq!(check(true, now), Allowance::Allowed);
        record(&store, &budgets, &remote(1), now).unwrap();
        assert_eq!(check(true, now), Allowance::OverSpendCap);
        assert_eq!(
            check(false, now),
            Allowance::Allowed,
            "local models still may"
        );
        let local_cost = CallRecord {
            cost_micros: 5_000_000,
            ..call(ShopperClass::Guest, "session:9", 10)
        };
        record(&store, &budgets, &local_cost, now).unwrap();
        let spent = store.read(|c| usage::remote_spend(c, "2025-03")).unwrap();
        assert_eq!(spent, 1_000_000, "local calls are not remote spend");
        assert_eq!(check(true, at("2025-04-01T00:00:00Z")), Allowance::Allowed);
    }

    #[test]
    fn zero_budgets_turn_models_off() {
        let (_dir, store) = crate::store::scratch();
        let budgets = Budgets::new(&BudgetSettings {
            guest: TokenBudget {
                daily: 0,
                monthly: 1_000,
            },
            registered: TokenBudget {
                daily: 1_000,
                monthly: 0,
            },
            monthly_spend_cap_micros: 0,
            ..settings()
        });
        let now = at("2025-03-04T08:00:00Z");
        let check = |class, remote| allowance(&store, &budgets, class, "s", remote, now).unwrap();
        assert_eq!(check(ShopperClass::Guest, false), over("day"));
        assert_eq!(check(ShopperClass::Registered, false), over("month"));
        assert_eq!(check(ShopperClass::Premium, true), Allowance::OverSpendCap);
        assert_eq!(check(ShopperClass::Premium, false), Allowance::Allowed);
        let alerts = record(&store, &budgets, &call(ShopperClass::Guest, "s", 10), now).unwrap();
        assert!(alerts.is_empty(), "a zero budget is not news: {alerts:?}");
    }

    fn subscribe(store: &Store) {
        webhooks::create_endpoint(store, "https://hooks.example/", &["budget.alert".into()])
            .unwrap();
    }

    fn budget_events(store: &Store) -> Vec<Value> {
        store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT payload FROM webhook_deliveries
                     WHERE event_type = 'budget.alert' ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
            .iter()
            .map(|payload| serde_json::from_str(payload).unwrap())
            .collect()
    }

    fn thresholds(alerts: &[Alert]) -> Vec<(&str, u8)> {
        alerts
            .iter()
            .map(|a| (a.scope.as_str(), a.threshold))
            .collect()
    }

    #[test]
    fn spend_alerts_fire_once_per_threshold_and_month_with_a_webhook() {
        let (_dir, store) = crate::store::scratch();
        subscribe(&store);
        let budgets = budgets();
        let march = at("2025-03-04T08:00:00Z");
        let fired = |cost, when| {
            thresholds(&record(&store, &budgets, &remote(cost), when).unwrap())
                .into_iter()
                .map(|(_, t)| t)
                .collect::<Vec<_>>()
        };
        assert_eq!(fired(500_000, march), Vec::<u8>::new());
        assert_eq!(fired(300_000, march), vec![80]);
        assert_eq!(fired(100_000, march), Vec::<u8>::new(), "80% already sent");
        assert_eq!(fired(100_000, march), vec![100]);
        assert_eq!(fired(100_000, march), Vec::<u8>::new(), "100% already sent");
        let april = at("2025-04-02T08:00:00Z");
        assert_eq!(
            fired(2_000_000, april),
            vec![80, 100],
            "a new month, a jump past both"
        );

        let events = budget_events(&store);
        let sent: Vec<(&str, u64)> = events
            .iter()
            .map(|e| {
                (
                    e["data"]["period"].as_str().unwrap(),
                    e["data"]["threshold"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            sent,
            vec![
                ("2025-03", 80),
                ("2025-03", 100),
                ("2025-04", 80),
                ("2025-04", 100)
            ]
        );
        assert_eq!(events[0]["type"], "budget.alert");
        assert_eq!(events[0]["data"]["scope"], SPEND_CAP_SCOPE);
        assert_eq!(events[0]["data"]["used"], 800_000);
        assert_eq!(events[0]["data"]["limit"], 1_000_000);
        let stored = store
            .read(|c| usage::alerts_of_period(c, "2025-03"))
            .unwrap();
        assert_eq!(stored.len(), 2);
    }

    #[test]
    fn without_alert_webhook_the_alert_is_stored_but_not_sent() {
        let (_dir, store) = crate::store::scratch();
        subscribe(&store);
        let budgets = Budgets::new(&BudgetSettings {
            alert_webhook: false,
            ..settings()
        });
        let alerts = record(
            &store,
            &budgets,
            &remote(1_000_000),
            at("2025-03-04T08:00:00Z"),
        )
        .unwrap();
        assert_eq!(alerts.len(), 2);
        assert!(budget_events(&store).is_empty());
        assert_eq!(
            store.read(|c| usage::recent_alerts(c, 10)).unwrap().len(),
            2
        );
    }

    #[test]
    fn a_subject_using_up_its_budget_is_reported_once_and_never_stored() {
        let (_dir, store) = crate::store::scratch();
        subscribe(&store);
        let budgets = budgets();
        let now = at("2025-03-04T08:00:00Z");
        let guest = |tokens| {
            record(
                &store,
                &budgets,
                &call(ShopperClass::Guest, "session:3", tokens),
                now,
            )
            .unwrap()
        };
        assert!(guest(80).is_empty());
        let crossed = guest(40);
        assert_eq!(thresholds(&crossed), vec![("session:3", 100)]);
        assert_eq!(
            (
                crossed[0].period.as_str(),
                crossed[0].used,
                crossed[0].limit
            ),
            ("2025-03-04", 120, 100)
        );
        assert!(
            guest(40).is_empty(),
            "the day's budget was reported already"
        );
        let month = guest(100);
        assert_eq!(month.len(), 1);
        assert_eq!((month[0].period.as_str(), month[0].used), ("2025-03", 260));
        assert!(
            store
                .read(|c| usage::recent_alerts(c, 10))
                .unwrap()
                .is_empty()
        );
        assert!(budget_events(&store).is_empty(), "no webhook per shopper");
    }

    #[test]
    fn open_alerts_are_this_months() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        let now = OffsetDateTime::now_utc();
        record(
            &store,
            &budgets,
            &remote(900_000),
            now - time::Duration::days(40),
        )
        .unwrap();
        record(&store, &budgets, &remote(850_000), now).unwrap();
        let open = open_alerts(&store).unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!((open[0].threshold, open[0].used), (80, 850_000));
        let recent = recent_alerts(&store, 10).unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0], open[0], "newest first");
    }

    #[test]
    fn the_month_spend_counts_this_months_remote_calls_only() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        let now = OffsetDateTime::now_utc();
        record(
            &store,
            &budgets,
            &remote(700_000),
            now - time::Duration::days(40),
        )
        .unwrap();
        record(&store, &budgets, &remote(250_000), now).unwrap();
        record(
            &store,
            &budgets,
            &call(ShopperClass::Guest, "session:1", 10),
            now,
        )
        .unwrap();
        let budgets = Budgets {
            spend_cap_micros: 1_000_000,
            ..budgets
        };
        let spend = store.read(|conn| month_spend(conn, &budgets, now)).unwrap();
        assert_eq!(spend.month, format_month(now.date()));
        assert_eq!((spend.spent_micros, spend.cap_micros), (250_000, 1_000_000));
        assert_eq!(
            (spend.spent.as_str(), spend.cap.as_str()),
            ("0.250000", "1.000000")
        );
    }

    #[test]
    fn failed_calls_count_their_tokens_and_aggregates_match_the_call_log() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        let calls = [
            (call(ShopperClass::Guest, "session:1", 40), "2025-03-04"),
            (
                CallRecord {
                    ok: false,
                    cached_tokens: 8,
                    ..call(ShopperClass::Guest, "session:1", 20)
                },
                "2025-03-04",
            ),
            (remote(1_234), "2025-03-04"),
            (remote(4_321), "2025-03-05"),
            (
                CallRecord {
                    backend: "gemini",
                    model: "gemini-2.0-flash".into(),
                    ..remote(77)
                },
                "2025-03-05",
            ),
        ];
        for (record_call, day) in &calls {
            record(
                &store,
                &budgets,
                record_call,
                at(&format!("{day}T10:00:00Z")),
            )
            .unwrap();
        }
        let tokens = store
            .read(|c| usage::subject_tokens(c, "session:1", "2025-03-04"))
            .unwrap();
        assert_eq!(tokens, 60, "the failed call's tokens count");
        let (from_log, from_aggregates): (Vec<Vec<i64>>, Vec<Vec<i64>>) = store
            .read(|c| {
                let sums = |sql: &str| -> Result<Vec<Vec<i64>>, StoreError> {
                    let mut stmt = c.prepare(sql)?;
                    let rows = stmt.query_map([], |r| (0..6).map(|i| r.get(i)).collect())?;
                    Ok(rows.collect::<Result<_, _>>()?)
                };
                Ok((
                    sums(
                        "SELECT count(*), sum(1 - ok), sum(input_tokens), sum(output_tokens),
                                sum(cached_tokens), sum(cost_micros)
                         FROM model_calls GROUP BY day, class, tier, backend, model
                         ORDER BY day, class, tier, backend, model",
                    )?,
                    sums(
                        "SELECT calls, failed, input_tokens, output_tokens, cached_tokens,
                                cost_micros
                         FROM daily_model_usage ORDER BY day, class, tier, backend, model",
                    )?,
                ))
            })
            .unwrap();
        assert_eq!(from_log.len(), 4);
        assert_eq!(from_log, from_aggregates);
        assert_eq!(from_log[0], vec![2, 1, 45, 15, 8, 0]);
    }

    #[test]
    fn a_report_by_day_lists_every_day_and_totals_are_the_sum() {
        let (_dir, store) = crate::store::scratch();
        let budgets = budgets();
        record(&store, &budgets, &remote(1_500), at("2025-03-02T23:59:00Z")).unwrap();
        record(&store, &budgets, &remote(250), at("2025-03-04T00:00:00Z")).unwrap();
        record(&store, &budgets, &remote(9), at("2025-03-06T00:00:00Z")).unwrap();
        let range = DateRange::parse(
            Some("2025-03-01"),
            Some("2025-03-05"),
            at("2025-03-31T00:00:00Z").date(),
        )
        .unwrap();
        let by_day = store.read(|c| report(c, &range, GroupBy::Day)).unwrap();
        let days: Vec<(&str, u64)> = by_day
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.figures.cost_micros))
            .collect();
        assert_eq!(
            days,
            vec![
                ("2025-03-01", 0),
                ("2025-03-02", 1_500),
                ("2025-03-03", 0),
                ("2025-03-04", 250),
                ("2025-03-05", 0)
            ]
        );
        assert_eq!(by_day.totals.cost_micros, 1_750);
        assert_eq!(by_day.totals.cost, "0.001750");
        assert_eq!(by_day.totals.calls, 2);
        let by_backend = store.read(|c| report(c, &range, GroupBy::Backend)).unwrap();
        assert_eq!(by_backend.groups.len(), 1);
        assert_eq!(by_backend.groups[0].key, "openai");
        assert_eq!(by_backend.totals, by_day.totals);
    }

    #[test]
    fn micro_units_print_as_six_place_decimals() {
        assert_eq!(micros_decimal(0), "0.000000");
        assert_eq!(micros_decimal(1_250), "0.001250");
        assert_eq!(micros_decimal(50_000_000), "50.000000");
        assert_eq!(micros_decimal(123_456_789), "123.456789");
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(&Overrides::default(), &env)
    }

    #[test]
    fn budget_settings_come_from_config_with_defaults() {
        let defaults = config(&[]).unwrap().budgets;
        assert_eq!(
            (defaults.guest.daily, defaults.guest.monthly),
            (20_000, 200_000)
        );
        assert_eq!(defaults.premium.monthly, 5_000_000);
        assert_eq!(defaults.monthly_spend_cap_micros, 50_000_000);
        assert!(defaults.premium_customers.is_empty() && defaults.alert_webhook);

        let set = config(&[
            ("SHOPKEEP_BUDGET_PREMIUM_CUSTOMERS", " 12, 40 ,"),
            ("SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP", "0.5"),
            ("SHOPKEEP_BUDGET_GUEST_DAILY_TOKENS", "0"),
        ])
        .unwrap()
        .budgets;
        assert_eq!(set.premium_customers, vec![12, 40]);
        assert_eq!(set.monthly_spend_cap_micros, 500_000);
        assert_eq!(set.guest.daily, 0);
        assert_eq!(
            config(&[("SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP", "0.000001")])
                .unwrap()
                .budgets
                .monthly_spend_cap_micros,
            1
        );
    }

    #[test]
    fn bad_budget_settings_are_refused_by_key() {
        for (var, value, key) in [
            (
                "SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP",
                "-1",
                "budget.monthly_spend_cap",
            ),
            (
                "SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP",
                "1.0000001",
                "budget.monthly_spend_cap",
            ),
            (
                "SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP",
                "$50",
                "budget.monthly_spend_cap",
            ),
            (
                "SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP",
                "99999999999",
                "budget.monthly_spend_cap",
            ),
            (
                "SHOPKEEP_BUDGET_PREMIUM_CUSTOMERS",
                "12,abc",
                "budget.premium_customers",
            ),
            (
                "SHOPKEEP_BUDGET_PREMIUM_CUSTOMERS",
                "0",
                "budget.premium_customers",
            ),
            (
                "SHOPKEEP_BUDGET_GUEST_DAILY_TOKENS",
                "lots",
                "budget.guest_daily_tokens",
            ),
            (
                "SHOPKEEP_BUDGET_ALERT_WEBHOOK",
                "maybe",
                "budget.alert_webhook",
            ),
        ] {
            let err = config(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{var}={value}: {err}");
        }
    }
}
