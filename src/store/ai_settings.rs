//! AI settings rows: the dashboard's saved AI settings (one JSON row) and the
//! sealed secrets they use.
//!
//! Stores what `assistant::settings` validated and what `secrets` sealed; it
//! holds no rule about tiers, providers or budgets and never sees a secret in
//! plain text.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// A sealed secret as stored, with the hint the dashboard may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub name: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub hint: String,
}

/// The saved settings JSON, if the dashboard ever saved any.
pub fn settings(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT settings FROM ai_settings WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?)
}

pub fn save_settings(tx: &Transaction, json: &str, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO ai_settings (id, settings, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![json, now])?;
    Ok(())
}

pub fn secret(conn: &Connection, name: &str) -> Result<Option<SecretRow>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT name, nonce, ciphertext, hint FROM secrets WHERE name = ?1")?
        .query_row([name], |row| {
            Ok(SecretRow {
                name: row.get(0)?,
                nonce: row.get(1)?,
                ciphertext: row.get(2)?,
                hint: row.get(3)?,
            })
        })
        .optional()?)
}

pub fn put_secret(tx: &Transaction, row: &SecretRow, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO secrets (name, nonce, ciphertext, hint, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             hint = excluded.hint, updated_at = excluded.updated_at",
    )?
    .execute(params![row.name, row.nonce, row.ciphertext, row.hint, now])?;
    Ok(())
}

/// Removes a secret; whether there was one.
pub fn delete_secret(tx: &Transaction, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM secrets WHERE name = ?1")?
        .execute([name])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_secrets_are_replaced_in_place() {
        let (_dir, store) = crate::store::scratch();
        assert_eq!(store.read(settings).unwrap(), None);
        store
            .write(|tx| save_settings(tx, r#"{"tier":"free"}"#, "2026-01-01T00:00:00Z"))
            .unwrap();
        store
            .write(|tx| save_settings(tx, r#"{"tier":"auto"}"#, "2026-01-02T00:00:00Z"))
            .unwrap();
        assert_eq!(
            store.read(settings).unwrap().as_deref(),
            Some(r#"{"tier":"auto"}"#)
        );
        let row = SecretRow {
            name: "remote.openai_api_key".into(),
            nonce: vec![1; 12],
            ciphertext: vec![2; 30],
            hint: "sk-…abcd".into(),
        };
        store.write(|tx| put_secret(tx, &row, "now")).unwrap();
        let replaced = SecretRow {
            hint: "sk-…wxyz".into(),
            ..row.clone()
        };
        store.write(|tx| put_secret(tx, &replaced, "now")).unwrap();
        let found = store.read(|c| secret(c, &row.name)).unwrap();
        assert_eq!(found, Some(replaced));
        assert!(store.write(|tx| delete_secret(tx, &row.name)).unwrap());
        assert!(!store.write(|tx| delete_secret(tx, &row.name)).unwrap());
        assert_eq!(store.read(|c| secret(c, &row.name)).unwrap(), None);
    }
}
