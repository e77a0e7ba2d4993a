//! Shopper session rows: find a live one by token hash, create, extend, end.
//!
//! Stores only what `commerce::shopper` decided; knows nothing of cookies.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// A session that has not expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub expires_at: String,
}

/// The live session whose token hashes to `token_hash` at time `now`.
pub fn find_live(
    conn: &Connection,
    token_hash: &str,
    now: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, customer_id, expires_at FROM sessions
             WHERE token_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![token_hash, now], |row| {
            Ok(SessionRow {
                id: row.get(0)?,
                customer_id: row.get(1)?,
                expires_at: row.get(2)?,
            })
        })
        .optional()?)
}

pub fn insert(
    tx: &Transaction,
    token_hash: &str,
    customer_id: Option<i64>,
    now: &str,
    expires_at: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO sessions (token_hash, customer_id, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?3, ?4)",
    )?
    .execute(params![token_hash, customer_id, now, expires_at])?;
    Ok(tx.last_insert_rowid())
}

/// Moves a session's expiry (sliding sessions).
pub fn extend(tx: &Transaction, id: i64, now: &str, expires_at: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1")?
        .execute(params![id, now, expires_at])?;
    Ok(())
}

pub fn delete(tx: &Transaction, id: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Deletes sessions that expired before `now` (their guest carts go with them).
pub fn delete_expired(tx: &Transaction, now: &str) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now])?)
}
