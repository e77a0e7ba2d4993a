//! The content version: counters of the catalog and the FAQ that triggers bump
//! on every change (migration 0011), so a shared answer can tell whether what
//! it was built from has changed since.
//!
//! Reads the counters; it must not bump them itself (the triggers do, on
//! every write path) nor know what is cached under them.

use rusqlite::Connection;

use super::StoreError;

/// Where the catalog and the FAQ stood at one moment; equal versions mean
/// neither changed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContentVersion {
    /// Bumped by any insert, update or delete of a product or variant row.
    pub catalog: i64,
    /// Bumped by any insert, update or delete of an FAQ row.
    pub faq: i64,
}

/// The current content version.
pub fn version(conn: &Connection) -> Result<ContentVersion, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT catalog, faq FROM content_version WHERE id = 1")?;
    Ok(statement.query_row([], |row| {
        Ok(ContentVersion {
            catalog: row.get(0)?,
            faq: row.get(1)?,
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, ProductDraft, ProductInput};
    use crate::store::{Store, faq, products, scratch};

    fn pasta() -> ProductDraft {
        let input: ProductInput = serde_json::from_value(serde_json::json!({
            "handle": "penne",
            "name": "Penne",
            "price": "2.50",
            "stock": 10,
            "variants": [{"title": "500 g", "price": "2.50", "stock": 4}],
        }))
        .unwrap();
        ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap()
    }

    fn current(store: &Store) -> ContentVersion {
        store.read(version).unwrap()
    }

    #[test]
    fn catalog_changes_bump_the_catalog_and_leave_the_faq() {
        let (_dir, store) = scratch();
        let start = current(&store);
        let id = store.write(|tx| products::insert(tx, &pasta())).unwrap();
        let inserted = current(&store);
        assert!(inserted.catalog > start.catalog, "{start:?} → {inserted:?}");
        assert_eq!(inserted.faq, start.faq);

        store
            .write(
                |tx| Ok(tx.execute("UPDATE products SET price_minor = 199 WHERE id = ?1", [id])?),
            )
            .unwrap();
        let repriced = current(&store);
        assert!(repriced.catalog > inserted.catalog);

        let changed = store
            .write(|tx| {
                Ok(tx.execute(
                    "UPDATE product_variants SET stock = stock - 1 WHERE product_id = ?1",
                    [id],
                )?)
            })
            .unwrap();
        assert_eq!(changed, 1, "the variant's stock changed");
        let sold = current(&store);
        assert!(sold.catalog > repriced.catalog, "a stock change counts");
        assert_eq!(sold.faq, start.faq);
    }

    #[test]
    fn replacing_the_faq_bumps_the_faq_and_leaves_the_catalog() {
        let (_dir, store) = scratch();
        let start = current(&store);
        let entries = vec![("Do you deliver?".to_string(), "Yes, daily.".to_string())];
        store
            .write(|tx| faq::replace(tx, &entries, "2026-01-01T00:00:00Z"))
            .unwrap();
        let replaced = current(&store);
        assert!(replaced.faq > start.faq, "{start:?} → {replaced:?}");
        assert_eq!(replaced.catalog, start.catalog);

        let reworded = vec![("Do you deliver?".to_string(), "On weekdays.".to_string())];
        store
            .write(|tx| faq::replace(tx, &reworded, "2026-01-02T00:00:00Z"))
            .unwrap();
        assert!(current(&store).faq > replaced.faq);
    }

    #[test]
    fn reads_leave_the_version_alone() {
        let (_dir, store) = scratch();
        let id = store.write(|tx| products::insert(tx, &pasta())).unwrap();
        let entries = vec![("Returns?".to_string(), "Within 30 days.".to_string())];
        store
            .write(|tx| faq::replace(tx, &entries, "2026-01-01T00:00:00Z"))
            .unwrap();
        let before = current(&store);
        let product = store.read(|c| products::get(c, id)).unwrap();
        assert!(product.is_some());
        assert_eq!(store.read(faq::list).unwrap().len(), 1);
        assert_eq!(store.read(products::counts).unwrap().total, 1);
        assert_eq!(current(&store), before);
    }
}
