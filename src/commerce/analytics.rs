//! Sales analytics: daily revenue, orders, average order value, top products
//! and categories, and the low-stock list.
//!
//! Owns the rules of the figures: an order counts on the UTC day it was placed;
//! while its status is a sale (pending, paid, fulfilled) it adds its total,
//! discount, tax and units to that day; when it is cancelled or refunded its
//! sale leaves that same day and it is counted as cancelled / refunded there
//! instead. Product and category revenue are line totals, before order-level
//! discounts, which belong to no single line. Revenue is the order total, tax
//! included. SQL lives in `store::analytics`; this module must not know HTTP.
//!
//! Why no full scan of orders is ever needed: the checkout calls
//! [`record_order`] and [`record_status_change`] inside the transaction that
//! writes the order or its status, so the aggregates (`daily_sales`,
//! `daily_product_sales`, `daily_category_sales`) change in the same commit as
//! the orders they summarise and can never drift from them. A report reads
//! only the aggregate rows of its days (their keys start with the day, so a
//! range is one index range) — at most a year of days, whatever the number of
//! orders — and the low-stock list reads the partial stock indexes. A ledger
//! of recorded orders (`sales_ledger`) makes each hook exactly-once and
//! remembers the day an order was placed on, so a status change never has to
//! look the order up.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, Month, OffsetDateTime};
use utoipa::ToSchema;

use super::{OrderStatus, PlacedOrder};
use crate::store::StoreError;
use crate::store::analytics::{self, DayFigures};

/// Days a report covers when no range is given (today included).
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// The longest range a report may cover, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Products and categories listed in a report.
pub const TOP_LIMIT: usize = 10;
/// Low-stock items listed in a report; `low_stock.total` counts them all.
pub const LOW_STOCK_LIMIT: usize = 100;
/// How a sale without a category is labelled.
const UNCATEGORISED: &str = "Uncategorised";

/// Why a report range was refused; `field` names the query parameter to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("must be a date written YYYY-MM-DD")]
    BadDate { field: &'static str },
    #[error("must not be after `to`")]
    Reversed,
    #[error("the range is longer than {MAX_RANGE_DAYS} days")]
    TooLong,
}

impl RangeError {
    pub fn field(&self) -> &'static str {
        match self {
            RangeError::BadDate { field } => field,
            RangeError::Reversed | RangeError::TooLong => "from",
        }
    }
}

/// Days from `from` to `to`, both included, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    from: Date,
    to: Date,
}

impl DateRange {
    /// Parses `from` / `to` (YYYY-MM-DD, either may be absent). `to` defaults
    /// to `today`, `from` to the [`DEFAULT_RANGE_DAYS`] ending at `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
    ) -> Result<DateRange, RangeError> {
        let to = match to {
            Some(text) => parse_day(text).ok_or(RangeError::BadDate { field: "to" })?,
            None => today,
        };
        let from = match from {
            Some(text) => parse_day(text).ok_or(RangeError::BadDate { field: "from" })?,
            None => to - Duration::days(DEFAULT_RANGE_DAYS - 1),
        };
        if from > to {
            return Err(RangeError::Reversed);
        }
        if (to - from).whole_days() + 1 > MAX_RANGE_DAYS {
            return Err(RangeError::TooLong);
        }
        Ok(DateRange { from, to })
    }

    pub fn from(&self) -> Date {
        self.from
    }

    pub fn to(&self) -> Date {
        self.to
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> + use<> {
        let to = self.to;
        std::iter::successors(Some(self.from), move |day| {
            day.next_day().filter(|next| *next <= to)
        })
    }
}

/// Sale figures of a day or a range; money in minor units of the shop currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// Orders that still count as sales.
    pub orders: i64,
    /// Their totals, tax included, after discounts.
    pub revenue_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub units: i64,
    /// Revenue per order, rounded; 0 when there were no orders.
    pub average_order_value_minor: i64,
    /// Orders placed in the period and cancelled since.
    pub cancelled: i64,
    /// Orders placed in the period and refunded since, and what was refunded.
    pub refunded: i64,
    pub refunded_minor: i64,
}

impl Figures {
    fn from_stored(stored: &DayFigures) -> Figures {
        Figures {
            orders: stored.orders,
            revenue_minor: stored.revenue_minor,
            discount_minor: stored.discount_minor,
            tax_minor: stored.tax_minor,
            units: stored.units,
            average_order_value_minor: average(stored.revenue_minor, stored.orders),
            cancelled: stored.cancelled,
            refunded: stored.refunded,
            refunded_minor: stored.refunded_minor,
        }
    }
}

/// One day of the series; days without sales are there with zeros.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DaySales {
    /// YYYY-MM-DD, UTC.
    pub day: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TopProduct {
    pub product_id: i64,
    /// The name on the latest order line, so deleted products keep a label.
    pub name: String,
    pub units: i64,
    /// Line totals before order-level discounts.
    pub revenue_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TopCategory {
    /// The category path as it was on the order lines.
    pub category: String,
    pub units: i64,
    pub revenue_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LowStockItem {
    pub product_id: i64,
    /// Set when the low stock is a variant's.
    pub variant_id: Option<i64>,
    pub handle: String,
    pub name: String,
    pub variant_title: Option<String>,
    pub sku: Option<String>,
    pub stock: i64,
}

/// Active products and variants at or below the threshold, emptiest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LowStock {
    pub threshold: i64,
    /// How many there are; `items` holds at most [`LOW_STOCK_LIMIT`].
    pub total: i64,
    pub items: Vec<LowStockItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesReport {
    /// First day, YYYY-MM-DD, UTC.
    pub from: String,
    /// Last day, included.
    pub to: String,
    pub totals: Figures,
    pub days: Vec<DaySales>,
    pub top_products: Vec<TopProduct>,
    pub top_categories: Vec<TopCategory>,
    pub low_stock: LowStock,
}

/// Adds a placed order to the figures of its day, inside the checkout's
/// transaction. Recording the same order again changes nothing.
pub fn record_order(tx: &rusqlite::Transaction, order: &PlacedOrder) -> Result<(), StoreError> {
    let day = order_day(order)?;
    let is_sale = order.status.is_sale();
    if !analytics::enter_order(tx, order.id, &day, is_sale)? {
        return Ok(());
    }
    if is_sale {
        apply_sale(tx, &day, order, 1)?;
    } else {
        analytics::add_to_day(tx, &day, &outcome_delta(order, order.status, 1))?;
    }
    Ok(())
}

/// Keeps the figures right when an order changes status, inside the
/// transaction that changes it: a cancelled or refunded order's sale leaves
/// the day it was placed on, and the day counts the cancellation or refund.
/// An order the figures never saw is first recorded as it stood (`from`).
pub fn record_status_change(
    tx: &rusqlite::Transaction,
    order: &PlacedOrder,
    from: OrderStatus,
    to: OrderStatus,
) -> Result<(), StoreError> {
    let entry = match analytics::ledger_entry(tx, order.id)? {
        Some(entry) => entry,
        None => {
            record_order(tx, &with_status(order, from))?;
            analytics::ledger_entry(tx, order.id)?.ok_or_else(|| {
                StoreError::Corrupt(format!("order {} missing from the sales ledger", order.id))
            })?
        }
    };
    if entry.is_sale == to.is_sale() {
        return Ok(());
    }
    if to.is_sale() {
        // Not a move the lifecycle allows today; undone symmetrically all the same.
        analytics::add_to_day(tx, &entry.day, &outcome_delta(order, from, -1))?;
        apply_sale(tx, &entry.day, order, 1)?;
    } else {
        apply_sale(tx, &entry.day, order, -1)?;
        analytics::add_to_day(tx, &entry.day, &outcome_delta(order, to, 1))?;
    }
    analytics::set_sale(tx, order.id, to.is_sale())
}

/// The report for `range`, with the low-stock list at `low_stock_threshold`.
pub fn report(
    conn: &rusqlite::Connection,
    range: &DateRange,
    low_stock_threshold: i64,
) -> Result<SalesReport, StoreError> {
    let (from, to) = (format_day(range.from), format_day(range.to));
    let stored: HashMap<String, DayFigures> = analytics::days(conn, &from, &to)?
        .into_iter()
        .map(|row| (row.day, row.figures))
        .collect();
    let mut sum = DayFigures::default();
    let mut days = Vec::new();
    for day in range.days().map(format_day) {
        let figures = stored.get(&day).cloned().unwrap_or_default();
        add(&mut sum, &figures, 1);
        days.push(DaySales {
            day,
            figures: Figures::from_stored(&figures),
        });
    }
    let top_products = analytics::top_products(conn, &from, &to, TOP_LIMIT)?
        .into_iter()
        .map(|row| TopProduct {
            product_id: row.key,
            name: row.name,
            units: row.units,
            revenue_minor: row.revenue_minor,
        })
        .collect();
    let top_categories = analytics::top_categories(conn, &from, &to, TOP_LIMIT)?
        .into_iter()
        .map(|row| TopCategory {
            category: category_label(&row.key),
            units: row.units,
            revenue_minor: row.revenue_minor,
        })
        .collect();
    Ok(SalesReport {
        from,
        to,
        totals: Figures::from_stored(&sum),
        days,
        top_products,
        top_categories,
        low_stock: low_stock(conn, low_stock_threshold)?,
    })
}

fn low_stock(conn: &rusqlite::Connection, threshold: i64) -> Result<LowStock, StoreError> {
    let (rows, total) = analytics::low_stock(conn, threshold, LOW_STOCK_LIMIT)?;
    Ok(LowStock {
        threshold,
        total,
        items: rows
            .into_iter()
            .map(|row| LowStockItem {
                product_id: row.product_id,
                variant_id: row.variant_id,
                handle: row.handle,
                name: row.name,
                variant_title: row.variant_title,
                sku: row.sku,
                stock: row.stock,
            })
            .collect(),
    })
}

/// Adds (`sign` 1) or takes back (`sign` -1) an order's sale on `day`: the
/// day's figures, each product's and each category's.
fn apply_sale(
    tx: &rusqlite::Transaction,
    day: &str,
    order: &PlacedOrder,
    sign: i64,
) -> Result<(), StoreError> {
    let units: i64 = order.lines.iter().map(|l| l.quantity).sum();
    let delta = DayFigures {
        orders: 1,
        revenue_minor: order.total_minor,
        discount_minor: order.discount_minor,
        tax_minor: order.tax_minor,
        units,
        ..DayFigures::default()
    };
    let mut scaled = DayFigures::default();
    add(&mut scaled, &delta, sign);
    analytics::add_to_day(tx, day, &scaled)?;
    for line in &order.lines {
        // Every line has a product when it is placed; the id only goes away
        // when the product is deleted later, and then nothing is recorded.
        if let Some(product_id) = line.product_id {
            analytics::add_to_product(
                tx,
                day,
                product_id,
                &line.name,
                sign * line.quantity,
                sign * line.line_total_minor,
            )?;
        }
    }
    let mut categories: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for line in &order.lines {
        let entry = categories.entry(line.category.trim()).or_default();
        entry.0 += line.quantity;
        entry.1 += line.line_total_minor;
    }
    for (category, (units, revenue)) in categories {
        analytics::add_to_category(tx, day, category, sign * units, sign * revenue)?;
    }
    Ok(())
}

/// The cancelled / refunded count an order in `status` adds, times `sign`.
fn outcome_delta(order: &PlacedOrder, status: OrderStatus, sign: i64) -> DayFigures {
    match status {
        OrderStatus::Cancelled => DayFigures {
            cancelled: sign,
            ..DayFigures::default()
        },
        OrderStatus::Refunded => DayFigures {
            refunded: sign,
            refunded_minor: sign * order.total_minor,
            ..DayFigures::default()
        },
        _ => DayFigures::default(),
    }
}

fn add(sum: &mut DayFigures, delta: &DayFigures, sign: i64) {
    sum.orders += sign * delta.orders;
    sum.revenue_minor += sign * delta.revenue_minor;
    sum.discount_minor += sign * delta.discount_minor;
    sum.tax_minor += sign * delta.tax_minor;
    sum.units += sign * delta.units;
    sum.cancelled += sign * delta.cancelled;
    sum.refunded += sign * delta.refunded;
    sum.refunded_minor += sign * delta.refunded_minor;
}

fn with_status(order: &PlacedOrder, status: OrderStatus) -> PlacedOrder {
    PlacedOrder {
        status,
        ..order.clone()
    }
}

/// Revenue per order, rounded half up; 0 without orders.
fn average(revenue_minor: i64, orders: i64) -> i64 {
    if orders <= 0 {
        0
    } else {
        (revenue_minor + orders / 2) / orders
    }
}

fn category_label(category: &str) -> String {
    if category.is_empty() {
        UNCATEGORISED.to_string()
    } else {
        category.to_string()
    }
}

/// The UTC day an order was placed on.
fn order_day(order: &PlacedOrder) -> Result<String, StoreError> {
    let placed = OffsetDateTime::parse(&order.created_at, &Rfc3339).map_err(|e| {
        StoreError::Corrupt(format!(
            "order {} placed at {:?}: {e}",
            order.id, order.created_at
        ))
    })?;
    Ok(format_day(placed.to_offset(time::UtcOffset::UTC).date()))
}

fn format_day(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Strict YYYY-MM-DD.
fn parse_day(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::OrderLine;
    use crate::store::Store;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::scratch()
    }

    fn line(product_id: i64, category: &str, quantity: i64, unit_price_minor: i64) -> OrderLine {
        OrderLine {
            product_id: Some(product_id),
            variant_id: None,
            sku: None,
            name: format!("Product {product_id}"),
            variant_title: None,
            category: category.into(),
            brand: None,
            dietary: Vec::new(),
            quantity,
            unit_price_minor,
            line_total_minor: quantity * unit_price_minor,
        }
    }

    /// An order with a 10% tax and a 100 discount on its lines.
    fn order(id: i64, at: &str, lines: Vec<OrderLine>) -> PlacedOrder {
        let subtotal: i64 = lines.iter().map(|l| l.line_total_minor).sum();
        let discount = 100.min(subtotal);
        let tax = (subtotal - discount) / 10;
        PlacedOrder {
            id,
            number: format!("SK-{id}"),
            customer_id: None,
            session_id: None,
            status: OrderStatus::Pending,
            currency: "USD".into(),
            subtotal_minor: subtotal,
            discount_minor: discount,
            tax_minor: tax,
            total_minor: subtotal - discount + tax,
            voucher_code: None,
            created_at: at.into(),
            lines,
        }
    }

    fn day(text: &str) -> Date {
        parse_day(text).unwrap()
    }

    fn report_for(store: &Store, from: &str, to: &str) -> SalesReport {
        let range = DateRange::parse(Some(from), Some(to), day(to)).unwrap();
        store.read(|c| report(c, &range, 5)).unwrap()
    }

    #[test]
    fn orders_add_up_per_utc_day_and_days_without_sales_are_zeros() {
        let (_dir, store) = store();
        let first = order(1, "2025-01-02T23:30:00Z", vec![line(1, "Pantry", 2, 500)]);
        // 00:30 in UTC+02:00 is still the 2nd in UTC.
        let second = order(
            2,
            "2025-01-03T00:30:00+02:00",
            vec![line(2, "Deli", 1, 1100)],
        );
        let third = order(3, "2025-01-04T09:00:00Z", vec![line(1, "Pantry", 1, 500)]);
        store
            .write(|tx| {
                [&first, &second, &third]
                    .iter()
                    .try_for_each(|o| record_order(tx, o))
            })
            .unwrap();
        let report = report_for(&store, "2025-01-01", "2025-01-05");
        let days: Vec<(&str, i64, i64)> = report
            .days
            .iter()
            .map(|d| (d.day.as_str(), d.figures.orders, d.figures.revenue_minor))
            .collect();
        // (1000 - 100) * 1.1 = 990; (1100 - 100) * 1.1 = 1100; (500 - 100) * 1.1 = 440.
        assert_eq!(
            days,
            vec![
                ("2025-01-01", 0, 0),
                ("2025-01-02", 2, 2090),
                ("2025-01-03", 0, 0),
                ("2025-01-04", 1, 440),
                ("2025-01-05", 0, 0),
            ]
        );
        assert_eq!(report.days[1].figures.average_order_value_minor, 1045);
        assert_eq!(report.days[1].figures.units, 3);
        assert_eq!(report.days[0].figures.average_order_value_minor, 0);
        assert_eq!(report.totals.orders, 3);
        assert_eq!(report.totals.revenue_minor, 2530);
        assert_eq!(report.totals.discount_minor, 300);
        assert_eq!(report.totals.tax_minor, 230);
        assert_eq!(report.totals.average_order_value_minor, 843);
    }

    #[test]
    fn a_cancelled_order_leaves_the_day_it_was_placed_on() {
        let (_dir, store) = store();
        let kept = order(1, "2025-01-02T10:00:00Z", vec![line(1, "Pantry", 1, 600)]);
        let cancelled = order(2, "2025-01-02T11:00:00Z", vec![line(2, "Deli", 3, 400)]);
        let refunded = order(3, "2025-01-02T12:00:00Z", vec![line(2, "Deli", 1, 400)]);
        store
            .write(|tx| {
                for o in [&kept, &cancelled, &refunded] {
                    record_order(tx, o)?;
                }
                record_status_change(tx, &cancelled, OrderStatus::Pending, OrderStatus::Cancelled)?;
                record_status_change(tx, &refunded, OrderStatus::Pending, OrderStatus::Paid)?;
                record_status_change(tx, &refunded, OrderStatus::Paid, OrderStatus::Refunded)
            })
            .unwrap();
        let report = report_for(&store, "2025-01-01", "2025-01-03");
        let jan2 = &report.days[1].figures;
        assert_eq!(jan2.orders, 1);
        assert_eq!(jan2.revenue_minor, kept.total_minor);
        assert_eq!(jan2.units, 1);
        assert_eq!((jan2.cancelled, jan2.refunded), (1, 1));
        assert_eq!(jan2.refunded_minor, refunded.total_minor);
        assert!(
            report.top_products.iter().all(|p| p.product_id != 2),
            "product 2 sold nothing that still counts: {:?}",
            report.top_products
        );
        assert_eq!(report.top_categories.len(), 1);
        assert_eq!(report.top_categories[0].category, "Pantry");
    }

    #[test]
    fn hooks_replayed_change_nothing() {
        let (_dir, store) = store();
        let placed = order(1, "2025-01-02T10:00:00Z", vec![line(1, "Pantry", 2, 600)]);
        store
            .write(|tx| {
                record_order(tx, &placed)?;
                record_order(tx, &placed)?;
                record_status_change(tx, &placed, OrderStatus::Pending, OrderStatus::Cancelled)?;
                record_status_change(tx, &placed, OrderStatus::Pending, OrderStatus::Cancelled)
            })
            .unwrap();
        let jan2 = report_for(&store, "2025-01-02", "2025-01-02").totals;
        assert_eq!((jan2.orders, jan2.revenue_minor, jan2.cancelled), (0, 0, 1));
    }

    #[test]
    fn a_status_change_of_an_order_never_recorded_backfills_it_first() {
        let (_dir, store) = store();
        let old = order(7, "2024-12-30T10:00:00Z", vec![line(1, "Pantry", 1, 600)]);
        let paid = order(8, "2024-12-30T11:00:00Z", vec![line(1, "Pantry", 1, 600)]);
        store
            .write(|tx| {
                record_status_change(tx, &old, OrderStatus::Paid, OrderStatus::Refunded)?;
                record_status_change(tx, &paid, OrderStatus::Pending, OrderStatus::Paid)
            })
            .unwrap();
        let dec30 = report_for(&store, "2024-12-30", "2024-12-30").totals;
        assert_eq!((dec30.orders, dec30.refunded), (1, 1));
        assert_eq!(dec30.revenue_minor, paid.total_minor);
    }

    #[test]
    fn top_products_and_categories_are_ordered_by_revenue() {
        let (_dir, store) = store();
        let orders = [
            order(
                1,
                "2025-01-02T10:00:00Z",
                vec![line(1, "Pantry", 10, 100), line(2, "Deli", 1, 2500)],
            ),
            order(
                2,
                "2025-01-03T10:00:00Z",
                vec![line(3, "Bakery", 2, 700), line(1, "Pantry", 1, 100)],
            ),
            // Outside the range: must not count.
            order(3, "2025-01-09T10:00:00Z", vec![line(1, "Pantry", 50, 100)]),
        ];
        store
            .write(|tx| orders.iter().try_for_each(|o| record_order(tx, o)))
            .unwrap();
        let report = report_for(&store, "2025-01-01", "2025-01-05");
        let products: Vec<(i64, i64, i64)> = report
            .top_products
            .iter()
            .map(|p| (p.product_id, p.units, p.revenue_minor))
            .collect();
        assert_eq!(products, vec![(2, 1, 2500), (3, 2, 1400), (1, 11, 1100)]);
        assert_eq!(report.top_products[0].name, "Product 2");
        let categories: Vec<&str> = report
            .top_categories
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        assert_eq!(categories, vec!["Deli", "Bakery", "Pantry"]);
    }

    #[test]
    fn ranges_default_to_thirty_days_and_refuse_bad_input_by_field() {
        let today = day("2025-03-31");
        let default = DateRange::parse(None, None, today).unwrap();
        assert_eq!((default.from(), default.to()), (day("2025-03-02"), today));
        assert_eq!(default.days().count(), 30);
        let one = DateRange::parse(Some("2024-02-29"), Some("2024-02-29"), today).unwrap();
        assert_eq!(one.days().count(), 1);
        let refused = |from: Option<&str>, to: Option<&str>| {
            DateRange::parse(from, to, today).unwrap_err().field()
        };
        assert_eq!(refused(Some("2025-02-30"), None), "from");
        assert_eq!(refused(Some("2025-1-01"), None), "from");
        assert_eq!(refused(None, Some("yesterday")), "to");
        assert_eq!(refused(Some("+025-01-01"), None), "from");
        assert_eq!(refused(Some("2025-03-02"), Some("2025-03-01")), "from");
        assert_eq!(
            DateRange::parse(Some("2024-01-01"), Some("2025-01-01"), today),
            Err(RangeError::TooLong),
            "367 days"
        );
        assert!(DateRange::parse(Some("2024-01-02"), Some("2025-01-01"), today).is_ok());
    }
}
