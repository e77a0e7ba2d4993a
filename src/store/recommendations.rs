//! Recommendation tables: the order lines the batch learns from, the
//! neighbours and popularity it stores, its run log, and the look-ups the
//! read side makes (a product's neighbours, popular products, a shopper's
//! cart and past purchases).
//!
//! Knows SQL only. Which orders count as sales, how similarity is computed and
//! how results are mixed is `commerce::recommend`'s business; callers pass the
//! sale statuses in. It must not write orders except `insert_history_order`,
//! which loads orders that happened elsewhere (bootstrapping, evaluation).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// One product line of a sold order, as the batch reads it.
#[derive(Debug, Clone)]
pub struct SoldLine {
    pub order_id: i64,
    /// RFC 3339, as stored.
    pub created_at: String,
    pub product_id: i64,
    pub quantity: i64,
}

/// A stored "bought together" edge: `neighbour_id` recommended for `product_id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighbourRow {
    pub product_id: i64,
    pub neighbour_id: i64,
    pub score: f64,
    pub co_count: i64,
}

/// A product's recency-weighted sales, for the cold-start fallback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopularityRow {
    pub product_id: i64,
    pub score: f64,
    pub units: i64,
}

/// The log entry of one batch run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub started_at: String,
    pub finished_at: String,
    pub window_days: i64,
    pub orders_seen: i64,
    pub baskets_paired: i64,
    pub pairs_counted: i64,
    pub pairs_kept: i64,
    pub products_ranked: i64,
}

/// A product id with a score, as the read side ranks them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub product_id: i64,
    pub score: f64,
}

/// An order placed outside this shop's checkout, with its lines.
#[derive(Debug, Clone)]
pub struct HistoryOrder {
    pub number: String,
    pub customer_id: Option<i64>,
    pub session_id: Option<i64>,
    pub status: String,
    pub currency: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub lines: Vec<HistoryLine>,
}

#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub product_id: i64,
    pub name: String,
    pub category: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

/// Available means what the storefront may offer: active, and either untracked
/// inventory or at least one unit on hand (as `catalog`'s `in_stock`).
const AVAILABLE: &str = "p.active = 1 AND (p.stock IS NULL OR p.stock > 0)";

/// Calls `each` for every product line of orders whose status is one of
/// `statuses`, created in `[from, until)` compared as text, in order-id order
/// so lines of one order arrive together. Lines of deleted products are skipped.
pub fn for_each_sold_line(
    conn: &Connection,
    statuses: &[&str],
    from: &str,
    until: &str,
    mut each: impl FnMut(SoldLine),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT o.id, o.created_at, ol.product_id, ol.quantity
         FROM orders o JOIN order_lines ol ON ol.order_id = o.id
         WHERE o.status IN (SELECT value FROM json_each(?1))
           AND o.created_at >= ?2 AND o.created_at < ?3
           AND ol.product_id IS NOT NULL
         ORDER BY o.id",
    )?;
    let mut rows = stmt.query(params![json_list(statuses), from, until])?;
    while let Some(row) = rows.next()? {
        each(SoldLine {
            order_id: row.get(0)?,
            created_at: row.get(1)?,
            product_id: row.get(2)?,
            quantity: row.get(3)?,
        });
    }
    Ok(())
}

/// Ids of every active product.
pub fn active_product_ids(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM products WHERE active = 1")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Replaces every neighbour and popularity row with the given ones and logs the
/// run, keeping the newest `keep_runs` log entries. Returns the run's id.
pub fn replace_all(
    tx: &Transaction,
    neighbours: &[NeighbourRow],
    popularity: &[PopularityRow],
    run: &RunRecord,
    keep_runs: usize,
) -> Result<i64, StoreError> {
    tx.execute("DELETE FROM product_neighbours", [])?;
    tx.execute("DELETE FROM product_popularity", [])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO product_neighbours (product_id, neighbour_id, score, co_count)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for n in neighbours {
        insert.execute(params![n.product_id, n.neighbour_id, n.score, n.co_count])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO product_popularity (product_id, score, units) VALUES (?1, ?2, ?3)",
    )?;
    for p in popularity {
        insert.execute(params![p.product_id, p.score, p.units])?;
    }
    tx.execute(
        "INSERT INTO recommendation_runs (started_at, finished_at, window_days, orders_seen,
             baskets_paired, pairs_counted, pairs_kept, products_ranked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            run.started_at,
            run.finished_at,
            run.window_days,
            run.orders_seen,
            run.baskets_paired,
            run.pairs_counted,
            run.pairs_kept,
            run.products_ranked,
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "DELETE FROM recommendation_runs WHERE id NOT IN
             (SELECT id FROM recommendation_runs ORDER BY id DESC LIMIT ?1)",
        [keep_runs as i64],
    )?;
    Ok(id)
}

/// The newest run of the batch, if it ever ran.
pub fn last_run(conn: &Connection) -> Result<Option<RunRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT started_at, finished_at, window_days, orders_seen, baskets_paired,
                    pairs_counted, pairs_kept, products_ranked
             FROM recommendation_runs ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| {
            Ok(RunRecord {
                started_at: r.get(0)?,
                finished_at: r.get(1)?,
                window_days: r.get(2)?,
                orders_seen: r.get(3)?,
                baskets_paired: r.get(4)?,
                pairs_counted: r.get(5)?,
                pairs_kept: r.get(6)?,
                products_ranked: r.get(7)?,
            })
        })
        .optional()?)
}

/// Whether product `id` is active; `None` when there is no such product.
pub fn is_active(conn: &Connection, id: i64) -> Result<Option<bool>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT active FROM products WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Distinct categories of the given products, in no particular order.
pub fn categories_of(conn: &Connection, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT category FROM products WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([json_list(ids)], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The stored neighbours of `product_id` that are available, best first.
pub fn available_neighbours(
    conn: &Connection,
    product_id: i64,
    limit: usize,
) -> Result<Vec<Ranked>, StoreError> {
    let sql = format!(
        "SELECT n.neighbour_id, n.score FROM product_neighbours n
         JOIN products p ON p.id = n.neighbour_id
         WHERE n.product_id = ?1 AND {AVAILABLE}
         ORDER BY n.score DESC, n.neighbour_id LIMIT ?2"
    );
    ranked(conn, &sql, params![product_id, limit as i64])
}

/// The most popular available products in any of `categories`, best first.
pub fn popular_in_categories(
    conn: &Connection,
    categories: &[String],
    limit: usize,
) -> Result<Vec<Ranked>, StoreError> {
    let sql = format!(
        "SELECT pp.product_id, pp.score FROM product_popularity pp
         JOIN products p ON p.id = pp.product_id
         WHERE p.category IN (SELECT value FROM json_each(?1)) AND {AVAILABLE}
         ORDER BY pp.score DESC, pp.product_id LIMIT ?2"
    );
    ranked(conn, &sql, params![json_list(categories), limit as i64])
}

/// The most popular available products of the whole shop, best first.
pub fn popular(conn: &Connection, limit: usize) -> Result<Vec<Ranked>, StoreError> {
    let sql = format!(
        "SELECT pp.product_id, pp.score FROM product_popularity pp
         JOIN products p ON p.id = pp.product_id
         WHERE {AVAILABLE}
         ORDER BY pp.score DESC, pp.product_id LIMIT ?1"
    );
    ranked(conn, &sql, params![limit as i64])
}

/// Products in the shopper's cart: the customer's cart when `customer_id` is
/// given, else the session's.
pub fn cart_product_ids(
    conn: &Connection,
    customer_id: Option<i64>,
    session_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT ci.product_id FROM carts c JOIN cart_items ci ON ci.cart_id = c.id
         WHERE CASE WHEN ?1 IS NOT NULL THEN c.customer_id = ?1 ELSE c.session_id = ?2 END
         ORDER BY ci.product_id",
    )?;
    let rows = stmt.query_map(params![customer_id, session_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Products the shopper bought before (orders of the customer, or of the
/// session), in orders whose status is one of `statuses`: the ones bought in
/// the most orders first, then the most recent.
pub fn ordered_product_ids(
    conn: &Connection,
    customer_id: Option<i64>,
    session_id: i64,
    statuses: &[&str],
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ol.product_id FROM orders o JOIN order_lines ol ON ol.order_id = o.id
         WHERE (o.customer_id = ?1 OR o.session_id = ?2)
           AND o.status IN (SELECT value FROM json_each(?3))
           AND ol.product_id IS NOT NULL
         GROUP BY ol.product_id
         ORDER BY count(DISTINCT o.id) DESC, max(o.id) DESC
         LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![customer_id, session_id, json_list(statuses), limit as i64],
        |r| r.get(0),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes an order that happened elsewhere, with its lines; totals are the sum
/// of the lines, with no discount or tax. Returns the new order's id.
pub fn insert_history_order(tx: &Transaction, order: &HistoryOrder) -> Result<i64, StoreError> {
    let subtotal: i64 = order
        .lines
        .iter()
        .map(|l| l.quantity * l.unit_price_minor)
        .sum();
    tx.prepare_cached(
        "INSERT INTO orders (number, customer_id, session_id, status, currency, subtotal_minor,
             discount_minor, tax_minor, total_minor, tax_inclusive, payment_method, contact,
             delivery, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?6, 0, 'history', '{}', '{}', ?7, ?7)",
    )?
    .execute(params![
        order.number,
        order.customer_id,
        order.session_id,
        order.status,
        order.currency,
        subtotal,
        order.created_at,
    ])?;
    let order_id = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached(
        "INSERT INTO order_lines (order_id, product_id, name, category, quantity,
             unit_price_minor, line_total_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for line in &order.lines {
        insert.execute(params![
            order_id,
            line.product_id,
            line.name,
            line.category,
            line.quantity,
            line.unit_price_minor,
            line.quantity * line.unit_price_minor,
        ])?;
    }
    Ok(order_id)
}

fn ranked(
    conn: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<Ranked>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(values, |r| {
        Ok(Ranked {
            product_id: r.get(0)?,
            score: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A JSON array of the values, for `IN (SELECT value FROM json_each(?))`: one
/// statement whatever the list's length.
fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, ProductDraft, ProductInput};
    use crate::store::{Store, StoreOptions, products};

    fn product(store: &Store, handle: &str, category: &str, stock: Option<i64>) -> i64 {
        let input = ProductInput {
            handle: Some(handle.into()),
            name: Some(handle.into()),
            price: Some("1.00".into()),
            category: Some(category.into()),
            stock,
            ..Default::default()
        };
        let draft = ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap();
        store.write(|tx| products::insert(tx, &draft)).unwrap()
    }

    fn order(status: &str, at: &str, products: &[i64]) -> HistoryOrder {
        HistoryOrder {
            number: format!("T-{at}-{products:?}"),
            customer_id: None,
            session_id: Some(7),
            status: status.into(),
            currency: "USD".into(),
            created_at: at.into(),
            lines: products
                .iter()
                .map(|&product_id| HistoryLine {
                    product_id,
                    name: "x".into(),
                    category: "c".into(),
                    quantity: 2,
                    unit_price_minor: 150,
                })
                .collect(),
        }
    }

    #[test]
    fn sold_lines_follow_the_statuses_and_window_given() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        let a = product(&store, "a", "Bakery", None);
        let b = product(&store, "b", "Bakery", None);
        store
            .write(|tx| {
                insert_history_order(tx, &order("paid", "2026-03-01T10:00:00Z", &[a, b]))?;
                insert_history_order(tx, &order("cancelled", "2026-03-02T10:00:00Z", &[a]))?;
                insert_history_order(tx, &order("paid", "2025-01-01T10:00:00Z", &[b]))?;
                Ok(())
            })
            .unwrap();
        let mut seen = Vec::new();
        store
            .read(|c| {
                for_each_sold_line(
                    c,
                    &["paid"],
                    "2026-01-01T00:00:00Z",
                    "2027-01-01T00:00:00Z",
                    |l| seen.push((l.product_id, l.quantity)),
                )
            })
            .unwrap();
        assert_eq!(seen, [(a, 2), (b, 2)]);
        let total: i64 = store
            .read(|c| Ok(c.query_row("SELECT sum(total_minor) FROM orders", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(total, 3 * 300 + 300, "totals are the sum of the lines");
    }

    #[test]
    fn readers_skip_unavailable_products_and_rebuilds_replace_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        let a = product(&store, "a", "Bakery", None);
        let sold_out = product(&store, "b", "Bakery", Some(0));
        let c = product(&store, "c", "Dairy", Some(3));
        let run = RunRecord {
            started_at: "s".into(),
            finished_at: "f".into(),
            window_days: 365,
            orders_seen: 1,
            baskets_paired: 1,
            pairs_counted: 2,
            pairs_kept: 2,
            products_ranked: 3,
        };
        let edge = |n, score| NeighbourRow {
            product_id: a,
            neighbour_id: n,
            score,
            co_count: 1,
        };
        let pop = |product_id, score| PopularityRow {
            product_id,
            score,
            units: 1,
        };
        store
            .write(|tx| {
                replace_all(tx, &[edge(sold_out, 0.9)], &[pop(a, 9.0)], &run, 2)?;
                replace_all(
                    tx,
                    &[edge(sold_out, 0.9), edge(c, 0.5)],
                    &[pop(a, 1.0), pop(sold_out, 5.0), pop(c, 2.0)],
                    &run,
                    2,
                )?;
                replace_all(
                    tx,
                    &[edge(sold_out, 0.9), edge(c, 0.5)],
                    &[pop(a, 1.0), pop(sold_out, 5.0), pop(c, 2.0)],
                    &run,
                    2,
                )
            })
            .unwrap();
        let ids = |v: Vec<Ranked>| v.into_iter().map(|r| r.product_id).collect::<Vec<_>>();
        store
            .read(|conn| {
                assert_eq!(ids(available_neighbours(conn, a, 10)?), [c]);
                assert_eq!(ids(popular(conn, 10)?), [c, a]);
                assert_eq!(
                    ids(popular_in_categories(conn, &["Bakery".into()], 10)?),
                    [a]
                );
                let runs: i64 =
                    conn.query_row("SELECT count(*) FROM recommendation_runs", [], |r| r.get(0))?;
                assert_eq!(runs, 2, "only the newest runs are kept");
                assert_eq!(last_run(conn)?, Some(run.clone()));
                Ok(())
            })
            .unwrap();
    }
}
