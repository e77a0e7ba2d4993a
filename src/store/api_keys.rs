//! Admin API key rows: the public prefix, the argon2id hash, use and revocation times.
//!
//! Stores and finds keys; generating and verifying secrets is `crate::access`'s job.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::{StoreError, now_utc};

/// A key as listed to admins: never the secret, never the hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub fn insert(
    tx: &Transaction,
    name: &str,
    prefix: &str,
    secret_hash: &str,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO api_keys (name, prefix, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, prefix, secret_hash, now_utc()],
    )?;
    Ok(tx.last_insert_rowid())
}

/// The id and hash of the live (not revoked) key with this prefix.
pub fn find_live(conn: &Connection, prefix: &str) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, secret_hash FROM api_keys WHERE prefix = ?1 AND revoked_at IS NULL",
        )?
        .query_row([prefix], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn count_live(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn list(conn: &Connection) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ApiKeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            created_at: r.get(3)?,
            last_used_at: r.get(4)?,
            revoked_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a key revoked; false when it did not exist or was already revoked.
pub fn revoke(tx: &Transaction, id: i64) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_utc()],
    )? > 0)
}

pub fn touch(tx: &Transaction, id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now_utc()],
    )?;
    Ok(())
}
