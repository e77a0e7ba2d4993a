//! Order rows: orders, their lines and status events, stock movements and
//! checkout idempotency keys.
//!
//! Writes exactly what `commerce::checkout` and `commerce::orders` decided;
//! the status rules and totals are theirs.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::StoreError;
use crate::commerce::{OrderLine, OrderStatus};

/// An order row as stored (lines and events are read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: i64,
    pub number: String,
    pub customer_id: Option<i64>,
    pub session_id: Option<i64>,
    pub status: OrderStatus,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub tax_inclusive: bool,
    pub voucher_code: Option<String>,
    pub payment_method: String,
    pub payment_reference: Option<String>,
    /// JSON object text.
    pub contact: String,
    /// JSON object text.
    pub delivery: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A stored order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    pub product_id: Option<i64>,
    pub variant_id: Option<i64>,
    pub sku: Option<String>,
    pub name: String,
    pub variant_title: Option<String>,
    pub category: String,
    pub brand: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

/// One recorded status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub note: Option<String>,
    pub at: String,
}

/// Who may see an order, for the shopper's own listing.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub session_id: i64,
    pub customer_id: Option<i64>,
}

/// Admin listing filters; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<i64>,
    /// Inclusive lower bound on `created_at` (RFC 3339 text).
    pub from: Option<String>,
    /// Exclusive upper bound on `created_at`.
    pub to: Option<String>,
    /// Keyset pagination: orders with a smaller id (newest first).
    pub before_id: Option<i64>,
    /// Text the order number, the contact's email or name contains (any case).
    pub search: Option<String>,
    pub limit: usize,
}

/// Everything needed to write a new order.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub number_prefix: &'a str,
    pub customer_id: Option<i64>,
    pub session_id: i64,
    pub status: OrderStatus,
    pub currency: &'a str,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub tax_inclusive: bool,
    pub voucher_code: Option<&'a str>,
    pub payment_method: &'a str,
    pub payment_reference: Option<&'a str>,
    pub contact: &'a str,
    pub delivery: &'a str,
    pub now: &'a str,
}

const ORDER_COLUMNS: &str = "id, number, customer_id, session_id, status, currency, subtotal_minor,
     discount_minor, tax_minor, total_minor, tax_inclusive, voucher_code, payment_method,
     payment_reference, contact, delivery, created_at, updated_at";

fn read_order(row: &Row) -> rusqlite::Result<Result<OrderRow, StoreError>> {
    let status: String = row.get(4)?;
    let Some(status) = OrderStatus::parse(&status) else {
        return Ok(Err(StoreError::Corrupt(format!(
            "order status {status:?} is not a known status"
        ))));
    };
    Ok(Ok(OrderRow {
        id: row.get(0)?,
        number: row.get(1)?,
        customer_id: row.get(2)?,
        session_id: row.get(3)?,
        status,
        currency: row.get(5)?,
        subtotal_minor: row.get(6)?,
        discount_minor: row.get(7)?,
        tax_minor: row.get(8)?,
        total_minor: row.get(9)?,
        tax_inclusive: row.get::<_, i64>(10)? == 1,
        voucher_code: row.get(11)?,
        payment_method: row.get(12)?,
        payment_reference: row.get(13)?,
        contact: row.get(14)?,
        delivery: row.get(15)?,
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
    }))
}

/// Writes the order row and its lines; returns (id, number).
pub fn insert(
    tx: &Transaction,
    order: &NewOrder,
    lines: &[OrderLine],
) -> Result<(i64, String), StoreError> {
    tx.prepare_cached(
        "INSERT INTO orders (number, customer_id, session_id, status, currency, subtotal_minor,
             discount_minor, tax_minor, total_minor, tax_inclusive, voucher_code, payment_method,
             payment_reference, contact, delivery, created_at, updated_at)
         VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
    )?
    .execute(params![
        order.customer_id,
        order.session_id,
        order.status.as_str(),
        order.currency,
        order.subtotal_minor,
        order.discount_minor,
        order.tax_minor,
        order.total_minor,
        i64::from(order.tax_inclusive),
        order.voucher_code,
        order.payment_method,
        order.payment_reference,
        order.contact,
        order.delivery,
        order.now,
    ])?;
    let id = tx.last_insert_rowid();
    // Numbers count from 1001 so the first order does not look like a test.
    let number = format!("{}{}", order.number_prefix, 1000 + id);
    tx.prepare_cached("UPDATE orders SET number = ?2 WHERE id = ?1")?
        .execute(params![id, number])?;
    let mut insert_line = tx.prepare_cached(
        "INSERT INTO order_lines (order_id, product_id, variant_id, sku, name, variant_title,
             category, brand, quantity, unit_price_minor, line_total_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for line in lines {
        insert_line.execute(params![
            id,
            line.product_id,
            line.variant_id,
            line.sku,
            line.name,
            line.variant_title,
            line.category,
            line.brand,
            line.quantity,
            line.unit_price_minor,
            line.line_total_minor,
        ])?;
    }
    Ok((id, number))
}

pub fn record_event(
    tx: &Transaction,
    order_id: i64,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: &str,
    note: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO order_events (order_id, from_status, to_status, actor, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        order_id,
        from.map(OrderStatus::as_str),
        to.as_str(),
        actor,
        note,
        now
    ])?;
    Ok(())
}

pub fn set_status(
    tx: &Transaction,
    order_id: i64,
    status: OrderStatus,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE orders SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![order_id, status.as_str(), now])?;
    Ok(())
}

/// The order with this number, or with this id when `key` is all digits.
pub fn find(conn: &Connection, key: &str) -> Result<Option<OrderRow>, StoreError> {
    let by_id = key.parse::<i64>().ok();
    conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE number = ?1 OR id = ?2"
    ))?
    .query_row(params![key, by_id], read_order)
    .optional()?
    .transpose()
}

pub fn lines(conn: &Connection, order_id: i64) -> Result<Vec<LineRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT product_id, variant_id, sku, name, variant_title, category, brand, quantity,
                unit_price_minor, line_total_minor
         FROM order_lines WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = statement
        .query_map([order_id], |row| {
            Ok(LineRow {
                product_id: row.get(0)?,
                variant_id: row.get(1)?,
                sku: row.get(2)?,
                name: row.get(3)?,
                variant_title: row.get(4)?,
                category: row.get(5)?,
                brand: row.get(6)?,
                quantity: row.get(7)?,
                unit_price_minor: row.get(8)?,
                line_total_minor: row.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn events(conn: &Connection, order_id: i64) -> Result<Vec<EventRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT from_status, to_status, actor, note, at FROM order_events
         WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = statement
        .query_map([order_id], |row| {
            Ok(EventRow {
                from_status: row.get(0)?,
                to_status: row.get(1)?,
                actor: row.get(2)?,
                note: row.get(3)?,
                at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The shopper's own orders, newest first: those of their customer account
/// and those placed in their current session.
pub fn for_viewer(
    conn: &Connection,
    viewer: Viewer,
    limit: usize,
) -> Result<Vec<OrderRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE session_id = ?1 OR (?2 IS NOT NULL AND customer_id = ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = statement
        .query_map(
            params![viewer.session_id, viewer.customer_id, limit as i64],
            read_order,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().collect()
}

pub fn list(conn: &Connection, filter: &AdminFilter) -> Result<Vec<OrderRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE (?1 IS NULL OR status = ?1)
           AND (?2 IS NULL OR customer_id = ?2)
           AND (?3 IS NULL OR created_at >= ?3)
           AND (?4 IS NULL OR created_at < ?4)
           AND (?5 IS NULL OR id < ?5)
           AND (?7 IS NULL OR number LIKE ?7 ESCAPE '\\'
                OR json_extract(contact, '$.email') LIKE ?7 ESCAPE '\\'
                OR json_extract(contact, '$.name') LIKE ?7 ESCAPE '\\')
         ORDER BY id DESC LIMIT ?6"
    ))?;
    let pattern = filter.search.as_deref().map(contains_pattern);
    let rows = statement
        .query_map(
            params![
                filter.status.map(OrderStatus::as_str),
                filter.customer_id,
                filter.from,
                filter.to,
                filter.before_id,
                filter.limit as i64,
                pattern
            ],
            read_order,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().collect()
}

/// A LIKE pattern matching text that contains `needle` literally: its own
/// `%`, `_` and `\` are escaped, so a search for "50%" is not a wildcard.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// Gives guest orders of a session to the customer who just signed in from it.
pub fn adopt_session_orders(
    tx: &Transaction,
    session_id: i64,
    customer_id: i64,
) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE orders SET customer_id = ?2 WHERE session_id = ?1 AND customer_id IS NULL",
        )?
        .execute(params![session_id, customer_id])?)
}

/// Takes `quantity` units off the shelf; false (and nothing changed) when fewer
/// are left. Untracked stock (NULL) always succeeds. A variant's units count in
/// its product's total too.
pub fn take_stock(
    tx: &Transaction,
    product_id: i64,
    variant_id: Option<i64>,
    quantity: i64,
) -> Result<bool, StoreError> {
    if let Some(variant_id) = variant_id {
        let taken = tx
            .prepare_cached(
                "UPDATE product_variants SET stock = stock - ?2
                 WHERE id = ?1 AND stock IS NOT NULL AND stock >= ?2",
            )?
            .execute(params![variant_id, quantity])?;
        if taken == 0 && variant_stock(tx, variant_id)?.is_some() {
            return Ok(false);
        }
        move_product_stock(tx, product_id, -quantity)?;
        return Ok(true);
    }
    let taken = tx
        .prepare_cached(
            "UPDATE products SET stock = stock - ?2
             WHERE id = ?1 AND stock IS NOT NULL AND stock >= ?2",
        )?
        .execute(params![product_id, quantity])?;
    Ok(taken == 1 || product_stock(tx, product_id)?.is_none())
}

/// Puts units back on the shelf (a cancelled order).
pub fn return_stock(
    tx: &Transaction,
    product_id: i64,
    variant_id: Option<i64>,
    quantity: i64,
) -> Result<(), StoreError> {
    if let Some(variant_id) = variant_id {
        tx.prepare_cached(
            "UPDATE product_variants SET stock = stock + ?2 WHERE id = ?1 AND stock IS NOT NULL",
        )?
        .execute(params![variant_id, quantity])?;
    }
    move_product_stock(tx, product_id, quantity)
}

fn move_product_stock(tx: &Transaction, product_id: i64, delta: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE products SET stock = stock + ?2 WHERE id = ?1 AND stock IS NOT NULL",
    )?
    .execute(params![product_id, delta])?;
    Ok(())
}

/// Units left of a product, or of its variant; `None` when not tracked or unknown.
pub fn stock_left(
    conn: &Connection,
    product_id: i64,
    variant_id: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    match variant_id {
        Some(variant_id) => variant_stock(conn, variant_id),
        None => product_stock(conn, product_id),
    }
}

fn variant_stock(conn: &Connection, variant_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT stock FROM product_variants WHERE id = ?1")?
        .query_row([variant_id], |row| row.get(0))
        .optional()?
        .flatten())
}

fn product_stock(conn: &Connection, product_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT stock FROM products WHERE id = ?1")?
        .query_row([product_id], |row| row.get(0))
        .optional()?
        .flatten())
}

/// The order an idempotency key already produced, with the hash of the request that made it.
pub fn find_idempotent(
    conn: &Connection,
    scope: &str,
    key: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT order_id, request_hash FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
        )?
        .query_row(params![scope, key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

pub fn remember_idempotent(
    tx: &Transaction,
    scope: &str,
    key: &str,
    request_hash: &str,
    order_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (scope, key, request_hash, order_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![scope, key, request_hash, order_id, now])?;
    Ok(())
}
