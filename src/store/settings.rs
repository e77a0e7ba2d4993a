//! The shop's saved settings and logo: read them, write them.
//!
//! Stores the overrides document and the logo bytes the `settings` module has
//! validated; it must not judge their content.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// The logo as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoRow {
    pub content_type: String,
    pub data: Vec<u8>,
    pub hash: String,
}

/// The saved overrides (a JSON object), if any were ever saved.
pub fn overrides(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT overrides FROM shop_settings WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?)
}

/// Replaces the saved overrides with `json`.
pub fn save_overrides(tx: &Transaction, json: &str, now: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO shop_settings (id, overrides, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET overrides = excluded.overrides, updated_at = excluded.updated_at",
        params![json, now],
    )?;
    Ok(())
}

/// The logo's type and hash, without its bytes.
pub fn logo_info(conn: &Connection) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT content_type, hash FROM shop_logo WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// The logo with its bytes.
pub fn logo(conn: &Connection) -> Result<Option<LogoRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT content_type, data, hash FROM shop_logo WHERE id = 1",
            [],
            |row| {
                Ok(LogoRow {
                    content_type: row.get(0)?,
                    data: row.get(1)?,
                    hash: row.get(2)?,
                })
            },
        )
        .optional()?)
}

pub fn save_logo(tx: &Transaction, logo: &LogoRow, now: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO shop_logo (id, content_type, data, hash, updated_at) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data,
             hash = excluded.hash, updated_at = excluded.updated_at",
        params![logo.content_type, logo.data, logo.hash, now],
    )?;
    Ok(())
}

/// Removes the logo; false when there was none.
pub fn delete_logo(tx: &Transaction) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM shop_logo WHERE id = 1", [])? > 0)
}

/// Whether any order was ever placed (the currency is fixed from then on).
pub fn any_orders(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM orders)", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::content;
    use crate::store::scratch;

    #[test]
    fn overrides_round_trip_and_saving_makes_shared_answers_stale() {
        let (_dir, store) = scratch();
        assert_eq!(store.read(overrides).unwrap(), None);
        let before = store.read(content::version).unwrap();
        store
            .write(|tx| save_overrides(tx, r#"{"shop_name":"A"}"#, "2025-01-01T00:00:00Z"))
            .unwrap();
        store
            .write(|tx| save_overrides(tx, r#"{"shop_name":"B"}"#, "2025-01-02T00:00:00Z"))
            .unwrap();
        assert_eq!(
            store.read(overrides).unwrap().as_deref(),
            Some(r#"{"shop_name":"B"}"#)
        );
        assert_eq!(store.read(content::version).unwrap().faq, before.faq + 2);
    }

    #[test]
    fn a_non_object_document_is_refused_by_the_table() {
        let (_dir, store) = scratch();
        assert!(store.write(|tx| save_overrides(tx, "[1]", "now")).is_err());
        assert!(store.write(|tx| save_overrides(tx, "{", "now")).is_err());
    }

    #[test]
    fn the_logo_is_replaced_and_deleted() {
        let (_dir, store) = scratch();
        let logo = LogoRow {
            content_type: "image/png".into(),
            data: vec![1, 2, 3],
            hash: "abc".into(),
        };
        store.write(|tx| save_logo(tx, &logo, "now")).unwrap();
        assert_eq!(
            store.read(logo_info).unwrap(),
            Some(("image/png".into(), "abc".into()))
        );
        assert_eq!(store.read(super::logo).unwrap(), Some(logo));
        assert!(store.write(delete_logo).unwrap());
        assert!(!store.write(delete_logo).unwrap());
        assert_eq!(store.read(super::logo).unwrap(), None);
        assert!(!store.read(any_orders).unwrap());
    }
}
