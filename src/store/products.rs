//! Product and variant rows: insert, upsert, replace, delete, fetch and list.
//!
//! Takes validated `ProductDraft`s and gives back `Product`s. Knows SQL and JSON
//! columns; must not decide what a valid product is.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::de::DeserializeOwned;

use super::{StoreError, now_utc};
use crate::catalog::{Money, ProductDraft, VariantDraft};

/// A catalog product as stored: its draft plus the identity the store gave it.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub draft: ProductDraft,
    pub variant_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// What an upsert did, so importers can report created / updated / unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(i64),
    Updated(i64),
    Unchanged(i64),
}

/// Filters and the page window of a product listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only products with an id greater than this (keyset pagination).
    pub after_id: Option<i64>,
    pub limit: usize,
    /// A category and everything below it.
    pub category: Option<String>,
    /// Case-insensitive substring of the name, brand, SKU or tags.
    pub text: Option<String>,
    pub include_inactive: bool,
}

/// Product counts for metrics and readiness.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogCounts {
    pub total: i64,
    pub active: i64,
    pub variants: i64,
}

const PRODUCT_COLUMNS: &str = "id, handle, sku, name, description, brand, category, tags, dietary, \
     attributes, price_minor, compare_at_minor, stock, images, active, created_at, updated_at";

/// Creates the product or updates the one it names; a draft identical to what is
/// stored writes nothing.
///
/// A product names itself by its handle when the source gave one. When the handle
/// was only derived from the name, the SKU comes first, so a renamed product is
/// still the same product.
pub fn upsert(tx: &Transaction, draft: &ProductDraft) -> Result<Upserted, StoreError> {
    let hash = draft.content_hash();
    let by_sku = || -> Result<Option<(i64, String)>, StoreError> {
        let Some(sku) = draft.sku() else {
            return Ok(None);
        };
        Ok(tx
            .prepare_cached(
                "SELECT id, content_hash FROM products WHERE sku = ?1 ORDER BY id LIMIT 1",
            )?
            .query_row([sku], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    let by_handle = || -> Result<Option<(i64, String)>, StoreError> {
        Ok(tx
            .prepare_cached("SELECT id, content_hash FROM products WHERE handle = ?1")?
            .query_row([draft.handle()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    let existing = if draft.handle_given() {
        by_handle()?
    } else {
        match by_sku()? {
            Some(found) => Some(found),
            None => by_handle()?,
        }
    };
    match existing {
        Some((id, stored_hash)) if stored_hash == hash => Ok(Upserted::Unchanged(id)),
        Some((id, _)) => {
            write_row(tx, Some(id), draft, &hash)?;
            Ok(Upserted::Updated(id))
        }
        None => Ok(Upserted::Created(write_row(tx, None, draft, &hash)?)),
    }
}

/// Creates a new product; a taken handle is a conflict, not an update.
pub fn insert(tx: &Transaction, draft: &ProductDraft) -> Result<i64, StoreError> {
    if handle_owner(tx, draft.handle())?.is_some() {
        return Err(StoreError::Conflict(format!(
            "a product with handle \"{}\" already exists",
            draft.handle()
        )));
    }
    write_row(tx, None, draft, &draft.content_hash())
}

/// Replaces product `id` with `draft`; false when there is no such product.
pub fn replace(tx: &Transaction, id: i64, draft: &ProductDraft) -> Result<bool, StoreError> {
    if !exists(tx, id)? {
        return Ok(false);
    }
    if handle_owner(tx, draft.handle())?.is_some_and(|owner| owner != id) {
        return Err(StoreError::Conflict(format!(
            "handle \"{}\" belongs to another product",
            draft.handle()
        )));
    }
    write_row(tx, Some(id), draft, &draft.content_hash())?;
    Ok(true)
}

/// Deletes product `id` and its variants; false when there was none.
pub fn delete(tx: &Transaction, id: i64) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM products WHERE id = ?1", [id])? > 0)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Product>, StoreError> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([id], read_product)
        .optional()?;
    row.map(|p| with_variants(conn, p?)).transpose()
}

pub fn get_by_handle(conn: &Connection, handle: &str) -> Result<Option<Product>, StoreError> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM products WHERE handle = ?1")?
        .query_row([handle], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => get(conn, id),
        None => Ok(None),
    }
}

/// One page of products in id order.
pub fn list(conn: &Connection, query: &ListQuery) -> Result<Vec<Product>, StoreError> {
    list_filtered(conn, query, &ProductFilter::default())
}

/// How a product's tracked stock stands, for the dashboard's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockFilter {
    /// Untracked, or at least one unit on hand.
    InStock,
    /// Tracked and nothing on hand.
    OutOfStock,
    /// On hand, but the product or one of its variants is at or below the threshold.
    Low,
}

/// Filters the dashboard adds to a listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductFilter {
    pub stock: Option<StockFilter>,
    /// Only published (true) or unpublished (false) products; needs `include_inactive`.
    pub published: Option<bool>,
    /// Units at or below which stock is low.
    pub low_stock_threshold: i64,
}

/// The WHERE clause of a listing, shared by the page and its count;
/// `?6`–`?8` are the stock filter (0 none, 1 in, 2 out, 3 low), the threshold
/// and the published filter.
const LIST_WHERE: &str = "(?2 OR active = 1)
       AND (?3 IS NULL OR category = ?3 OR category LIKE ?4 ESCAPE '\\')
       AND (?5 IS NULL OR lower(name) LIKE ?5 ESCAPE '\\' OR lower(coalesce(brand, '')) LIKE ?5 ESCAPE '\\'
            OR lower(coalesce(sku, '')) LIKE ?5 ESCAPE '\\' OR lower(tags) LIKE ?5 ESCAPE '\\'
            OR EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = products.id
                       AND lower(coalesce(v.sku, '')) LIKE ?5 ESCAPE '\\'))
       AND (?6 = 0
            OR (?6 = 1 AND (stock IS NULL OR stock > 0))
            OR (?6 = 2 AND stock IS NOT NULL AND stock <= 0)
            OR (?6 = 3 AND stock IS NOT NULL AND stock > 0 AND (stock <= ?7
                OR EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = products.id
                           AND v.stock IS NOT NULL AND v.stock <= ?7))))
       AND (?8 IS NULL OR active = ?8)";

/// `list`, with the dashboard's stock and publication filters.
pub fn list_filtered(
    conn: &Connection,
    query: &ListQuery,
    filter: &ProductFilter,
) -> Result<Vec<Product>, StoreError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE id > ?1 AND {LIST_WHERE}
         ORDER BY id
         LIMIT ?9"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let (subtree, pattern) = list_patterns(query);
    let rows = stmt.query_map(
        params![
            query.after_id.unwrap_or(0),
            query.include_inactive,
            query.category,
            subtree,
            pattern,
            stock_code(filter.stock),
            filter.low_stock_threshold,
            filter.published,
            query.limit as i64
        ],
        read_product,
    )?;
    let mut products = Vec::new();
    for row in rows {
        products.push(with_variants(conn, row??)?);
    }
    Ok(products)
}

/// How many products a filtered listing holds in all pages.
pub fn count_filtered(
    conn: &Connection,
    query: &ListQuery,
    filter: &ProductFilter,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM products WHERE ?1 = ?1 AND {LIST_WHERE}");
    let (subtree, pattern) = list_patterns(query);
    Ok(conn.prepare_cached(&sql)?.query_row(
        params![
            0,
            query.include_inactive,
            query.category,
            subtree,
            pattern,
            stock_code(filter.stock),
            filter.low_stock_threshold,
            filter.published,
        ],
        |r| r.get(0),
    )?)
}

/// The LIKE patterns of a listing: the category's subtree and the search text.
fn list_patterns(query: &ListQuery) -> (Option<String>, Option<String>) {
    let subtree = query
        .category
        .as_deref()
        .map(|c| format!("{} > %", escape_like(c)));
    let pattern = query
        .text
        .as_deref()
        .map(|t| format!("%{}%", escape_like(&t.to_lowercase())));
    (subtree, pattern)
}

fn stock_code(stock: Option<StockFilter>) -> i64 {
    match stock {
        None => 0,
        Some(StockFilter::InStock) => 1,
        Some(StockFilter::OutOfStock) => 2,
        Some(StockFilter::Low) => 3,
    }
}

pub fn counts(conn: &Connection) -> Result<CatalogCounts, StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM products),
                (SELECT count(*) FROM products WHERE active = 1),
                (SELECT count(*) FROM product_variants)",
        [],
        |r| {
            Ok(CatalogCounts {
                total: r.get(0)?,
                active: r.get(1)?,
                variants: r.get(2)?,
            })
        },
    )?)
}

fn exists(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM products WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn handle_owner(conn: &Connection, handle: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM products WHERE handle = ?1")?
        .query_row([handle], |r| r.get(0))
        .optional()?)
}

/// Inserts (id = None) or overwrites a product row and rewrites its variants.
fn write_row(
    tx: &Transaction,
    id: Option<i64>,
    draft: &ProductDraft,
    hash: &str,
) -> Result<i64, StoreError> {
    let now = now_utc();
    let values = params![
        draft.handle(),
        draft.sku(),
        draft.name(),
        draft.description(),
        draft.brand(),
        draft.category(),
        to_json(draft.tags()),
        to_json(draft.dietary()),
        to_json(draft.attributes()),
        draft.price().minor(),
        draft.compare_at_price().map(Money::minor),
        draft.stock(),
        to_json(draft.images()),
        draft.active(),
        hash,
        now,
    ];
    let id = match id {
        Some(id) => {
            tx.prepare_cached(
                "UPDATE products SET handle = ?1, sku = ?2, name = ?3, description = ?4, brand = ?5,
                     category = ?6, tags = ?7, dietary = ?8, attributes = ?9, price_minor = ?10,
                     compare_at_minor = ?11, stock = ?12, images = ?13, active = ?14,
                     content_hash = ?15, updated_at = ?16
                 WHERE id = ?17",
            )?
            .execute(rusqlite::params_from_iter(values.iter().copied().chain([&id as &dyn rusqlite::ToSql])))?;
            tx.prepare_cached("DELETE FROM product_variants WHERE product_id = ?1")?
                .execute([id])?;
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO products (handle, sku, name, description, brand, category, tags, dietary,
                     attributes, price_minor, compare_at_minor, stock, images, active, content_hash,
                     created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
            )?
            .execute(values)?;
            tx.last_insert_rowid()
        }
    };
    insert_variants(tx, id, draft.variants())?;
    Ok(id)
}

fn insert_variants(
    tx: &Transaction,
    product_id: i64,
    variants: &[VariantDraft],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO product_variants (product_id, position, sku, title, options, price_minor,
             compare_at_minor, stock, image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (position, v) in variants.iter().enumerate() {
        stmt.execute(params![
            product_id,
            position as i64,
            v.sku(),
            v.title(),
            to_json(v.options()),
            v.price().minor(),
            v.compare_at_price().map(Money::minor),
            v.stock(),
            v.image(),
        ])?;
    }
    Ok(())
}

fn read_product(row: &Row) -> rusqlite::Result<Result<Product, StoreError>> {
    let draft = (|| -> Result<ProductDraft, StoreError> {
        Ok(ProductDraft {
            handle: row.get(1)?,
            handle_given: true,
            sku: row.get(2)?,
            name: row.get(3)?,
            description: row.get(4)?,
            brand: row.get(5)?,
            category: row.get(6)?,
            tags: from_json(&row.get::<_, String>(7)?)?,
            dietary: from_json(&row.get::<_, String>(8)?)?,
            attributes: from_json(&row.get::<_, String>(9)?)?,
            price: money(row.get(10)?)?,
            compare_at_price: row.get::<_, Option<i64>>(11)?.map(money).transpose()?,
            stock: row.get(12)?,
            images: from_json(&row.get::<_, String>(13)?)?,
            active: row.get(14)?,
            variants: Vec::new(),
        })
    })();
    Ok(draft.and_then(|draft| {
        Ok(Product {
            id: row.get(0)?,
            draft,
            variant_ids: Vec::new(),
            created_at: row.get(15)?,
            updated_at: row.get(16)?,
        })
    }))
}

fn with_variants(conn: &Connection, mut product: Product) -> Result<Product, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sku, title, options, price_minor, compare_at_minor, stock, image
         FROM product_variants WHERE product_id = ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query([product.id])?;
    while let Some(row) = rows.next()? {
        product.variant_ids.push(row.get(0)?);
        product.draft.variants.push(VariantDraft {
            sku: row.get(1)?,
            title: row.get(2)?,
            options: from_json(&row.get::<_, String>(3)?)?,
            price: money(row.get(4)?)?,
            compare_at_price: row.get::<_, Option<i64>>(5)?.map(money).transpose()?,
            stock: row.get(6)?,
            image: row.get(7)?,
        });
    }
    Ok(product)
}

fn money(minor: i64) -> Result<Money, StoreError> {
    Money::from_minor(minor).map_err(|e| StoreError::Corrupt(format!("price {minor}: {e}")))
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("JSON column: {e}")))
}

/// Escapes LIKE wildcards so user text matches literally.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, ProductInput};
    use crate::store::{Store, StoreOptions};

    fn draft(handle: &str, price: &str) -> ProductDraft {
        let input = ProductInput {
            handle: Some(handle.into()),
            name: Some(format!("Product {handle}")),
            price: Some(price.into()),
            category: Some("Pantry > Pasta".into()),
            ..Default::default()
        };
        ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap()
    }

    #[test]
    fn upsert_creates_then_skips_then_updates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        let first = store
            .write(|tx| upsert(tx, &draft("penne", "1.00")))
            .unwrap();
        let again = store
            .write(|tx| upsert(tx, &draft("penne", "1.00")))
            .unwrap();
        let changed = store
            .write(|tx| upsert(tx, &draft("penne", "1.10")))
            .unwrap();
        let Upserted::Created(id) = first else {
            panic!("expected a create, got {first:?}")
        };
        assert_eq!(again, Upserted::Unchanged(id));
        assert_eq!(changed, Upserted::Updated(id));
        let stored = store.read(|c| get(c, id)).unwrap().unwrap();
        assert_eq!(
            stored.draft.content_hash(),
            draft("penne", "1.10").content_hash()
        );
    }

    #[test]
    fn listing_pages_and_filters_by_category_subtree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        store
            .write(|tx| {
                for h in ["a", "b", "c"] {
                    upsert(tx, &draft(h, "1.00"))?;
                }
                let mut other = draft("d", "1.00");
                other.category = "Pantry Extras".into();
                upsert(tx, &other)?;
                Ok(())
            })
            .unwrap();
        let query = ListQuery {
            limit: 2,
            category: Some("Pantry".into()),
            ..Default::default()
        };
        let page1 = store.read(|c| list(c, &query)).unwrap();
        let query2 = ListQuery {
            after_id: Some(page1[1].id),
            ..query.clone()
        };
        let page2 = store.read(|c| list(c, &query2)).unwrap();
        let handles: Vec<_> = page1
            .iter()
            .chain(&page2)
            .map(|p| p.draft.handle().to_string())
            .collect();
        assert_eq!(
            handles,
            ["a", "b", "c"],
            "\"Pantry Extras\" is not below \"Pantry\""
        );
    }
}
