//! Voucher and voucher-redemption rows: insert, update, fetch, list, count uses.
//!
//! Stores what `commerce::vouchers` has validated, as plain column values, and
//! counts live (unreleased) uses for its limit checks. It must not decide
//! whether a voucher applies, what it is worth, or when it may be deleted.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{StoreError, now_utc};

/// The columns of a voucher that its owner sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherRow {
    pub code: String,
    /// "percent" or "fixed".
    pub kind: String,
    /// Basis points for "percent", minor units for "fixed".
    pub value: i64,
    pub minimum_spend_minor: i64,
    pub currency: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub usage_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub active: bool,
    pub description: String,
}

/// A voucher row with the identity and timestamps the store gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVoucher {
    pub id: i64,
    pub row: VoucherRow,
    pub created_at: String,
    pub updated_at: String,
}

/// How often a voucher was used: `live` uses count toward limits, `released`
/// ones belong to cancelled or refunded orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub live: i64,
    pub released: i64,
}

impl Usage {
    pub fn ever_used(&self) -> bool {
        self.live + self.released > 0
    }
}

/// One use of a voucher by an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRedemption {
    pub voucher_id: i64,
    pub order_id: i64,
    pub customer_id: Option<i64>,
    pub session_id: i64,
    pub created_at: String,
}

const VOUCHER_COLUMNS: &str = "id, code, kind, value, minimum_spend_minor, currency, starts_at, \
     ends_at, usage_limit, per_customer_limit, active, description, created_at, updated_at";

/// Creates a voucher; a code already taken (in any letter case) is a conflict.
pub fn insert(tx: &Transaction, row: &VoucherRow) -> Result<i64, StoreError> {
    if find_by_code(tx, &row.code)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "a voucher with code \"{}\" already exists",
            row.code
        )));
    }
    tx.prepare_cached(
        "INSERT INTO vouchers (code, kind, value, minimum_spend_minor, currency, starts_at, ends_at,
             usage_limit, per_customer_limit, active, description, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        row.code,
        row.kind,
        row.value,
        row.minimum_spend_minor,
        row.currency,
        row.starts_at,
        row.ends_at,
        row.usage_limit,
        row.per_customer_limit,
        row.active,
        row.description,
        now_utc(),
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Overwrites voucher `id` with `row`; false when there is no such voucher.
pub fn update(tx: &Transaction, id: i64, row: &VoucherRow) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE vouchers SET code = ?2, kind = ?3, value = ?4, minimum_spend_minor = ?5,
                 currency = ?6, starts_at = ?7, ends_at = ?8, usage_limit = ?9,
                 per_customer_limit = ?10, active = ?11, description = ?12, updated_at = ?13
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            row.code,
            row.kind,
            row.value,
            row.minimum_spend_minor,
            row.currency,
            row.starts_at,
            row.ends_at,
            row.usage_limit,
            row.per_customer_limit,
            row.active,
            row.description,
            now_utc(),
        ])?;
    Ok(changed > 0)
}

/// Deletes voucher `id`; false when there was none. Fails while redemptions
/// reference it (the schema restricts that).
pub fn delete(tx: &Transaction, id: i64) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM vouchers WHERE id = ?1", [id])? > 0)
}

/// Turns voucher `id` off; false when there is no such voucher.
pub fn deactivate(tx: &Transaction, id: i64) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE vouchers SET active = 0, updated_at = ?2 WHERE id = ?1",
        params![id, now_utc()],
    )? > 0)
}

/// The voucher with this code, compared without regard to letter case.
pub fn find_by_code(conn: &Connection, code: &str) -> Result<Option<StoredVoucher>, StoreError> {
    let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([code], read_voucher)
        .optional()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<StoredVoucher>, StoreError> {
    let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], read_voucher)
        .optional()?)
}

/// Every voucher in code order, each with its usage.
pub fn list(conn: &Connection) -> Result<Vec<(StoredVoucher, Usage)>, StoreError> {
    let sql = format!(
        "SELECT {VOUCHER_COLUMNS},
                (SELECT count(*) FROM voucher_redemptions r
                  WHERE r.voucher_id = vouchers.id AND r.released_at IS NULL),
                (SELECT count(*) FROM voucher_redemptions r
                  WHERE r.voucher_id = vouchers.id AND r.released_at IS NOT NULL)
         FROM vouchers
         ORDER BY code"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], |r| {
        let usage = Usage {
            live: r.get(14)?,
            released: r.get(15)?,
        };
        Ok((read_voucher(r)?, usage))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn usage(conn: &Connection, voucher_id: i64) -> Result<Usage, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE released_at IS NULL),
                    count(*) FILTER (WHERE released_at IS NOT NULL)
             FROM voucher_redemptions WHERE voucher_id = ?1",
        )?
        .query_row([voucher_id], |r| {
            Ok(Usage {
                live: r.get(0)?,
                released: r.get(1)?,
            })
        })?)
}

/// Live uses of a voucher by a signed-in customer: their own, plus guest uses
/// made in `session_id` before they signed in (the same person).
pub fn live_uses_by_customer(
    conn: &Connection,
    voucher_id: i64,
    customer_id: i64,
    session_id: i64,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM voucher_redemptions
             WHERE voucher_id = ?1 AND released_at IS NULL
               AND (customer_id = ?2 OR (customer_id IS NULL AND session_id = ?3))",
        )?
        .query_row(params![voucher_id, customer_id, session_id], |r| r.get(0))?)
}

/// Live uses of a voucher made in one session.
pub fn live_uses_by_session(
    conn: &Connection,
    voucher_id: i64,
    session_id: i64,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM voucher_redemptions
             WHERE voucher_id = ?1 AND released_at IS NULL AND session_id = ?2",
        )?
        .query_row(params![voucher_id, session_id], |r| r.get(0))?)
}

/// Records a use; an order that already used a voucher is a conflict.
pub fn insert_redemption(tx: &Transaction, redemption: &NewRedemption) -> Result<(), StoreError> {
    let taken: Option<i64> = tx
        .prepare_cached("SELECT voucher_id FROM voucher_redemptions WHERE order_id = ?1")?
        .query_row([redemption.order_id], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "order {} already used a voucher",
            redemption.order_id
        )));
    }
    tx.prepare_cached(
        "INSERT INTO voucher_redemptions (voucher_id, order_id, customer_id, session_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        redemption.voucher_id,
        redemption.order_id,
        redemption.customer_id,
        redemption.session_id,
        redemption.created_at,
    ])?;
    Ok(())
}

/// Marks the live use of `order_id` released; false when it had none.
pub fn release_redemption(tx: &Transaction, order_id: i64) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE voucher_redemptions SET released_at = ?2
             WHERE order_id = ?1 AND released_at IS NULL",
        )?
        .execute(params![order_id, now_utc()])?
        > 0)
}

fn read_voucher(r: &Row) -> rusqlite::Result<StoredVoucher> {
    Ok(StoredVoucher {
        id: r.get(0)?,
        row: VoucherRow {
            code: r.get(1)?,
            kind: r.get(2)?,
            value: r.get(3)?,
            minimum_spend_minor: r.get(4)?,
            currency: r.get(5)?,
            starts_at: r.get(6)?,
            ends_at: r.get(7)?,
            usage_limit: r.get(8)?,
            per_customer_limit: r.get(9)?,
            active: r.get(10)?,
            description: r.get(11)?,
        },
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}
