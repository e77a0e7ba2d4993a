//! Sales aggregate rows: the order ledger, the daily, per-product and
//! per-category figures, the range reads over them, and the low-stock list.
//!
//! Adds the deltas `commerce::analytics` computed and reads ranges back; it
//! must not decide what counts as a sale or when figures change. Every read
//! here is a key-range look-up (the aggregates' primary keys start with the
//! day) or an index look-up (`products_stock`, `product_variants_stock`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// One day's sale figures, or a change to them (fields may then be negative).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub orders: i64,
    pub revenue_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub units: i64,
    pub cancelled: i64,
    pub refunded: i64,
    pub refunded_minor: i64,
}

/// A day that had figures, with the day as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    pub day: String,
    pub figures: DayFigures,
}

/// A product's or category's units and revenue over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedRow<K> {
    pub key: K,
    pub name: String,
    pub units: i64,
    pub revenue_minor: i64,
}

/// An active product or variant at or below the low-stock threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStockRow {
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub handle: String,
    pub name: String,
    pub variant_title: Option<String>,
    pub sku: Option<String>,
    pub stock: i64,
}

/// What the ledger knows of an order: its day and whether it counts as a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub day: String,
    pub is_sale: bool,
}

/// Enters an order in the ledger; false when it was already there.
pub fn enter_order(
    tx: &Transaction,
    order_id: i64,
    day: &str,
    is_sale: bool,
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO sales_ledger (order_id, day, is_sale) VALUES (?1, ?2, ?3)
             ON CONFLICT (order_id) DO NOTHING",
        )?
        .execute(params![order_id, day, is_sale])?;
    Ok(inserted > 0)
}

pub fn ledger_entry(conn: &Connection, order_id: i64) -> Result<Option<LedgerEntry>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT day, is_sale FROM sales_ledger WHERE order_id = ?1")?
        .query_row([order_id], |r| {
            Ok(LedgerEntry {
                day: r.get(0)?,
                is_sale: r.get(1)?,
            })
        })
        .optional()?)
}

pub fn set_sale(tx: &Transaction, order_id: i64, is_sale: bool) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE sales_ledger SET is_sale = ?2 WHERE order_id = ?1")?
        .execute(params![order_id, is_sale])?;
    Ok(())
}

// Each `add_to_*` first makes sure the row exists at zero, then adds: an
// upsert would check the CHECK (>= 0) constraints against the delta itself,
// and a delta that takes a sale back is negative.

/// Adds `delta` to the figures of `day`.
pub fn add_to_day(tx: &Transaction, day: &str, delta: &DayFigures) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO daily_sales (day) VALUES (?1) ON CONFLICT (day) DO NOTHING")?
        .execute([day])?;
    tx.prepare_cached(
        "UPDATE daily_sales SET
             orders = orders + ?2,
             revenue_minor = revenue_minor + ?3,
             discount_minor = discount_minor + ?4,
             tax_minor = tax_minor + ?5,
             units = units + ?6,
             cancelled = cancelled + ?7,
             refunded = refunded + ?8,
             refunded_minor = refunded_minor + ?9
         WHERE day = ?1",
    )?
    .execute(params![
        day,
        delta.orders,
        delta.revenue_minor,
        delta.discount_minor,
        delta.tax_minor,
        delta.units,
        delta.cancelled,
        delta.refunded,
        delta.refunded_minor
    ])?;
    Ok(())
}

/// Adds units and revenue to a product's day; the latest name wins.
pub fn add_to_product(
    tx: &Transaction,
    day: &str,
    product_id: i64,
    name: &str,
    units: i64,
    revenue_minor: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO daily_product_sales (day, product_id, name, units, revenue_minor)
         VALUES (?1, ?2, ?3, 0, 0) ON CONFLICT (day, product_id) DO NOTHING",
    )?
    .execute(params![day, product_id, name])?;
    tx.prepare_cached(
        "UPDATE daily_product_sales
         SET name = ?3, units = units + ?4, revenue_minor = revenue_minor + ?5
         WHERE day = ?1 AND product_id = ?2",
    )?
    .execute(params![day, product_id, name, units, revenue_minor])?;
    Ok(())
}

pub fn add_to_category(
    tx: &Transaction,
    day: &str,
    category: &str,
    units: i64,
    revenue_minor: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO daily_category_sales (day, category, units, revenue_minor)
         VALUES (?1, ?2, 0, 0) ON CONFLICT (day, category) DO NOTHING",
    )?
    .execute(params![day, category])?;
    tx.prepare_cached(
        "UPDATE daily_category_sales
         SET units = units + ?3, revenue_minor = revenue_minor + ?4
         WHERE day = ?1 AND category = ?2",
    )?
    .execute(params![day, category, units, revenue_minor])?;
    Ok(())
}

/// The days from `from` to `to` (inclusive) that have figures, in order.
pub fn days(conn: &Connection, from: &str, to: &str) -> Result<Vec<DayRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, orders, revenue_minor, discount_minor, tax_minor, units,
                cancelled, refunded, refunded_minor
         FROM daily_sales WHERE day BETWEEN ?1 AND ?2 ORDER BY day",
    )?;
    let rows = stmt.query_map([from, to], |r| {
        Ok(DayRow {
            day: r.get(0)?,
            figures: DayFigures {
                orders: r.get(1)?,
                revenue_minor: r.get(2)?,
                discount_minor: r.get(3)?,
                tax_minor: r.get(4)?,
                units: r.get(5)?,
                cancelled: r.get(6)?,
                refunded: r.get(7)?,
                refunded_minor: r.get(8)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The products with the most revenue in the range, best first.
pub fn top_products(
    conn: &Connection,
    from: &str,
    to: &str,
    limit: usize,
) -> Result<Vec<RankedRow<i64>>, StoreError> {
    // With exactly one max() in the select list, SQLite takes the bare `name`
    // from the row holding it: the name on the product's latest day.
    let mut stmt = conn.prepare_cached(
        "SELECT product_id, name, max(day), sum(units), sum(revenue_minor)
         FROM daily_product_sales WHERE day BETWEEN ?1 AND ?2
         GROUP BY product_id HAVING sum(units) > 0
         ORDER BY sum(revenue_minor) DESC, sum(units) DESC, product_id
         LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from, to, limit as i64], |r| {
        Ok(RankedRow {
            key: r.get(0)?,
            name: r.get(1)?,
            units: r.get(3)?,
            revenue_minor: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The categories with the most revenue in the range, best first.
pub fn top_categories(
    conn: &Connection,
    from: &str,
    to: &str,
    limit: usize,
) -> Result<Vec<RankedRow<String>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT category, sum(units), sum(revenue_minor)
         FROM daily_category_sales WHERE day BETWEEN ?1 AND ?2
         GROUP BY category HAVING sum(units) > 0
         ORDER BY sum(revenue_minor) DESC, sum(units) DESC, category
         LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from, to, limit as i64], |r| {
        let category: String = r.get(0)?;
        Ok(RankedRow {
            name: category.clone(),
            key: category,
            units: r.get(1)?,
            revenue_minor: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active products and variants at or below `?1`; a product with variants is
/// listed by the variants that run low, since its own stock is their sum. Each
/// branch ranges over its partial stock index: `stock IS NOT NULL` is spelled
/// out so the partial indexes apply, and the unary `+` keeps the planner off
/// `products_active_id`, which would read every active product.
const LOW_STOCK: &str = "
    SELECT p.id, NULL AS variant_id, p.handle, p.name, NULL AS variant_title, p.sku, p.stock
    FROM products p
    WHERE p.stock IS NOT NULL AND p.stock <= ?1 AND +p.active = 1
      AND NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)
    UNION ALL
    SELECT p.id, v.id, p.handle, p.name, v.title, v.sku, v.stock
    FROM product_variants v JOIN products p ON p.id = v.product_id
    WHERE v.stock IS NOT NULL AND v.stock <= ?1 AND +p.active = 1";

/// Active products and variants whose tracked stock is at or below
/// `threshold`, emptiest first (at most `limit`), and how many there are in all.
pub fn low_stock(
    conn: &Connection,
    threshold: i64,
    limit: usize,
) -> Result<(Vec<LowStockRow>, i64), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM ({LOW_STOCK}) ORDER BY stock, name, id, variant_id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![threshold, limit as i64], |r| {
        Ok(LowStockRow {
            product_id: r.get(0)?,
            variant_id: r.get(1)?,
            handle: r.get(2)?,
            name: r.get(3)?,
            variant_title: r.get(4)?,
            sku: r.get(5)?,
            stock: r.get(6)?,
        })
    })?;
    let items = rows.collect::<Result<_, _>>()?;
    let total = conn
        .prepare_cached(&format!("SELECT count(*) FROM ({LOW_STOCK})"))?
        .query_row([threshold], |r| r.get(0))?;
    Ok((items, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, ProductDraft, ProductInput, VariantInput};
    use crate::store::query_plan as plan;
    use crate::store::{Store, StoreOptions, products};

    fn product(
        store: &Store,
        name: &str,
        stock: Option<i64>,
        active: bool,
        variants: &[(&str, i64)],
    ) {
        let input = ProductInput {
            name: Some(name.into()),
            price: Some("1.00".into()),
            stock,
            active: Some(active),
            variants: variants
                .iter()
                .map(|(title, stock)| VariantInput {
                    title: Some(title.to_string()),
                    price: Some("1.00".into()),
                    stock: Some(*stock),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let draft = ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap();
        store.write(|tx| products::insert(tx, &draft)).unwrap();
    }

    #[test]
    fn low_stock_lists_active_products_and_variants_emptiest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        product(&store, "few", Some(2), true, &[]);
        product(&store, "gone", Some(0), false, &[]);
        product(&store, "plenty", Some(50), true, &[]);
        product(&store, "untracked", None, true, &[]);
        product(&store, "sizes", None, true, &[("S", 1), ("M", 40)]);
        product(&store, "smalls", None, true, &[("A", 1), ("B", 2)]);
        let (items, total) = store.read(|c| low_stock(c, 5, 3)).unwrap();
        let listed: Vec<(&str, Option<&str>, i64)> = items
            .iter()
            .map(|i| (i.name.as_str(), i.variant_title.as_deref(), i.stock))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("sizes", Some("S"), 1),
                ("smalls", Some("A"), 1),
                ("few", None, 2)
            ]
        );
        assert_eq!(total, 4, "smalls B is counted though past the limit");
    }

    #[test]
    fn range_reads_and_the_low_stock_list_use_indexes_not_scans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        store
            .read(|conn| {
                let days = plan(
                    conn,
                    "SELECT * FROM daily_sales WHERE day BETWEEN '2025-01-01' AND '2025-01-31'",
                );
                assert!(days.contains("SEARCH daily_sales"), "{days}");
                let products = plan(
                    conn,
                    "SELECT * FROM daily_product_sales WHERE day BETWEEN '2025-01-01' AND '2025-01-31'",
                );
                assert!(products.contains("SEARCH daily_product_sales"), "{products}");
                let low = plan(conn, &LOW_STOCK.replace("?1", "5"));
                assert!(low.contains("USING INDEX products_stock"), "{low}");
                assert!(
                    low.contains("USING INDEX product_variants_stock"),
                    "{low}"
                );
                Ok(())
            })
            .unwrap();
    }
}
