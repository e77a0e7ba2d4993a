//! Preference profile rows: a customer's learned weights and their summary,
//! and the catalog prices a price band is judged against.
//!
//! Reads and writes what `commerce::profile` computed; it must not decide how
//! weights are learned, decayed or normalised.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// One stored weight: units bought, decayed to `updated_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRow {
    pub kind: String,
    pub value: String,
    pub weight: f64,
    pub updated_at: String,
}

/// The evidence behind a profile: decayed units learned from, and orders.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub units: f64,
    pub orders: i64,
    pub updated_at: String,
}

/// Where a price sits among the active products of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricePosition {
    pub peers: i64,
    pub cheaper: i64,
    pub same: i64,
}

pub fn weights(conn: &Connection, customer_id: i64) -> Result<Vec<WeightRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, value, weight, updated_at FROM profile_weights WHERE customer_id = ?1",
    )?;
    let rows = stmt.query_map([customer_id], |r| {
        Ok(WeightRow {
            kind: r.get(0)?,
            value: r.get(1)?,
            weight: r.get(2)?,
            updated_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn save_weight(tx: &Transaction, customer_id: i64, row: &WeightRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO profile_weights (customer_id, kind, value, weight, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (customer_id, kind, value)
         DO UPDATE SET weight = excluded.weight, updated_at = excluded.updated_at",
    )?
    .execute(params![
        customer_id,
        row.kind,
        row.value,
        row.weight,
        row.updated_at
    ])?;
    Ok(())
}

pub fn delete_weight(
    tx: &Transaction,
    customer_id: i64,
    kind: &str,
    value: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "DELETE FROM profile_weights WHERE customer_id = ?1 AND kind = ?2 AND value = ?3",
    )?
    .execute(params![customer_id, kind, value])?;
    Ok(())
}

pub fn summary(conn: &Connection, customer_id: i64) -> Result<Option<SummaryRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT units, orders, updated_at FROM profile_summaries WHERE customer_id = ?1",
        )?
        .query_row([customer_id], |r| {
            Ok(SummaryRow {
                units: r.get(0)?,
                orders: r.get(1)?,
                updated_at: r.get(2)?,
            })
        })
        .optional()?)
}

pub fn save_summary(
    tx: &Transaction,
    customer_id: i64,
    summary: &SummaryRow,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO profile_summaries (customer_id, units, orders, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (customer_id)
         DO UPDATE SET units = excluded.units, orders = excluded.orders,
                       updated_at = excluded.updated_at",
    )?
    .execute(params![
        customer_id,
        summary.units,
        summary.orders,
        summary.updated_at
    ])?;
    Ok(())
}

/// Forgets everything learned about a customer; true when there was something.
pub fn delete_all(tx: &Transaction, customer_id: i64) -> Result<bool, StoreError> {
    let weights = tx
        .prepare_cached("DELETE FROM profile_weights WHERE customer_id = ?1")?
        .execute([customer_id])?;
    let summaries = tx
        .prepare_cached("DELETE FROM profile_summaries WHERE customer_id = ?1")?
        .execute([customer_id])?;
    Ok(weights + summaries > 0)
}

/// How many active products of `category` cost less than, and the same as,
/// `price_minor` (an index look-up on `products_category`).
pub fn price_position(
    conn: &Connection,
    category: &str,
    price_minor: i64,
) -> Result<PricePosition, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*),
                    coalesce(sum(price_minor < ?2), 0),
                    coalesce(sum(price_minor = ?2), 0)
             FROM products WHERE category = ?1 AND active = 1",
        )?
        .query_row(params![category, price_minor], |r| {
            Ok(PricePosition {
                peers: r.get(0)?,
                cheaper: r.get(1)?,
                same: r.get(2)?,
            })
        })?)
}
