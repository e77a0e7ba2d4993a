//! Cart rows: one cart per guest session or customer, its lines, and the
//! current product facts each line is checked against.
//!
//! Stores and reads; the quantity, stock and price rules are `commerce::cart`'s.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// Whose cart: a guest session's or a signed-in customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartOwner {
    Session(i64),
    Customer(i64),
}

impl CartOwner {
    fn column(self) -> (&'static str, i64) {
        match self {
            CartOwner::Session(id) => ("session_id", id),
            CartOwner::Customer(id) => ("customer_id", id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartRow {
    pub id: i64,
    pub voucher_code: Option<String>,
}

/// What a product (or one of its variants) is sold as right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub name: String,
    pub handle: String,
    pub variant_title: Option<String>,
    pub sku: Option<String>,
    pub category: String,
    pub brand: Option<String>,
    /// JSON array text, as stored.
    pub dietary: String,
    pub active: bool,
    pub price_minor: i64,
    /// `None` when inventory is not tracked.
    pub stock: Option<i64>,
}

/// A cart line with the product as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub id: i64,
    pub quantity: i64,
    /// The price when the line was added or last confirmed.
    pub snapshot_price_minor: i64,
    pub offer: Offer,
}

pub fn find(conn: &Connection, owner: CartOwner) -> Result<Option<CartRow>, StoreError> {
    let (column, id) = owner.column();
    Ok(conn
        .prepare_cached(&format!(
            "SELECT id, voucher_code FROM carts WHERE {column} = ?1"
        ))?
        .query_row([id], |row| {
            Ok(CartRow {
                id: row.get(0)?,
                voucher_code: row.get(1)?,
            })
        })
        .optional()?)
}

/// The owner's cart, created empty when there is none.
pub fn ensure(tx: &Transaction, owner: CartOwner, now: &str) -> Result<CartRow, StoreError> {
    if let Some(cart) = find(tx, owner)? {
        return Ok(cart);
    }
    let (column, id) = owner.column();
    tx.prepare_cached(&format!(
        "INSERT INTO carts ({column}, updated_at) VALUES (?1, ?2)"
    ))?
    .execute(params![id, now])?;
    Ok(CartRow {
        id: tx.last_insert_rowid(),
        voucher_code: None,
    })
}

const OFFER_SELECT: &str = "SELECT p.id, v.id, p.name, p.handle, v.title, coalesce(v.sku, p.sku),
        p.category, p.brand, p.dietary, p.active,
        coalesce(v.price_minor, p.price_minor),
        CASE WHEN v.id IS NULL THEN p.stock ELSE v.stock END";

fn read_offer(row: &rusqlite::Row, at: usize) -> rusqlite::Result<Offer> {
    Ok(Offer {
        product_id: row.get(at)?,
        variant_id: row.get(at + 1)?,
        name: row.get(at + 2)?,
        handle: row.get(at + 3)?,
        variant_title: row.get(at + 4)?,
        sku: row.get(at + 5)?,
        category: row.get(at + 6)?,
        brand: row.get(at + 7)?,
        dietary: row.get(at + 8)?,
        active: row.get::<_, i64>(at + 9)? == 1,
        price_minor: row.get(at + 10)?,
        stock: row.get(at + 11)?,
    })
}

/// The offer for a product, or one of its variants; `None` when either id is unknown
/// or the variant belongs to another product.
pub fn offer(
    conn: &Connection,
    product_id: i64,
    variant_id: Option<i64>,
) -> Result<Option<Offer>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{OFFER_SELECT} FROM products p
             LEFT JOIN product_variants v ON v.product_id = p.id AND v.id = ?2
             WHERE p.id = ?1 AND (?2 IS NULL OR v.id IS NOT NULL)"
        ))?
        .query_row(params![product_id, variant_id], |row| read_offer(row, 0))
        .optional()?)
}

/// The variant ids of a product, in catalog order.
pub fn variant_ids(conn: &Connection, product_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id FROM product_variants WHERE product_id = ?1 ORDER BY position",
    )?;
    let ids = statement
        .query_map([product_id], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(ids)
}

/// The lines of a cart in the order they were added.
pub fn items(conn: &Connection, cart_id: i64) -> Result<Vec<ItemRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT i.id, i.quantity, i.unit_price_minor, {} FROM cart_items i
         JOIN products p ON p.id = i.product_id
         LEFT JOIN product_variants v ON v.id = i.variant_id
         WHERE i.cart_id = ?1 ORDER BY i.id",
        OFFER_SELECT.trim_start_matches("SELECT ")
    ))?;
    let rows = statement
        .query_map([cart_id], |row| {
            Ok(ItemRow {
                id: row.get(0)?,
                quantity: row.get(1)?,
                snapshot_price_minor: row.get(2)?,
                offer: read_offer(row, 3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The quantity of a product (variant) already in the cart.
pub fn quantity_of(
    conn: &Connection,
    cart_id: i64,
    product_id: i64,
    variant_id: Option<i64>,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT quantity FROM cart_items
             WHERE cart_id = ?1 AND product_id = ?2 AND coalesce(variant_id, 0) = coalesce(?3, 0)",
        )?
        .query_row(params![cart_id, product_id, variant_id], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Sets the quantity of a product (variant) in the cart, adding the line if
/// needed; the price snapshot is (re)taken at `price_minor`.
pub fn put(
    tx: &Transaction,
    cart_id: i64,
    offer: &Offer,
    quantity: i64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO cart_items (cart_id, product_id, variant_id, quantity, unit_price_minor, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (cart_id, product_id, coalesce(variant_id, 0))
         DO UPDATE SET quantity = excluded.quantity, unit_price_minor = excluded.unit_price_minor",
    )?
    .execute(params![
        cart_id,
        offer.product_id,
        offer.variant_id,
        quantity,
        offer.price_minor,
        now
    ])?;
    touch(tx, cart_id, now)
}

/// The line `item_id` of cart `cart_id`, if it is there.
pub fn item(conn: &Connection, cart_id: i64, item_id: i64) -> Result<Option<ItemRow>, StoreError> {
    Ok(items(conn, cart_id)?.into_iter().find(|i| i.id == item_id))
}

pub fn remove(tx: &Transaction, cart_id: i64, item_id: i64) -> Result<bool, StoreError> {
    let removed = tx
        .prepare_cached("DELETE FROM cart_items WHERE cart_id = ?1 AND id = ?2")?
        .execute(params![cart_id, item_id])?;
    Ok(removed == 1)
}

/// Empties a cart and drops its voucher.
pub fn clear(tx: &Transaction, cart_id: i64, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM cart_items WHERE cart_id = ?1")?
        .execute([cart_id])?;
    set_voucher(tx, cart_id, None, now)
}

pub fn set_voucher(
    tx: &Transaction,
    cart_id: i64,
    code: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE carts SET voucher_code = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![cart_id, code, now])?;
    Ok(())
}

/// Takes the current price of every line as its new snapshot (the shopper has seen it).
pub fn confirm_prices(tx: &Transaction, cart_id: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE cart_items SET unit_price_minor = (
             SELECT coalesce(v.price_minor, p.price_minor) FROM products p
             LEFT JOIN product_variants v ON v.id = cart_items.variant_id
             WHERE p.id = cart_items.product_id)
         WHERE cart_id = ?1",
    )?
    .execute([cart_id])?;
    Ok(())
}

/// Deletes a cart and its lines.
pub fn delete(tx: &Transaction, cart_id: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM carts WHERE id = ?1")?
        .execute([cart_id])?;
    Ok(())
}

fn touch(tx: &Transaction, cart_id: i64, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE carts SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![cart_id, now])?;
    Ok(())
}
