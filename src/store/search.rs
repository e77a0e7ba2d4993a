//! The search outbox and stored embeddings.
//!
//! Rows reach the outbox through triggers on `products`; this file only reads
//! and clears them, and keeps the embedding vectors. It must not know how the
//! index or the model work.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// A queued change: the product and the sequence number it was queued with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub product_id: i64,
    pub seq: i64,
}

pub fn pending(conn: &Connection, limit: usize) -> Result<Vec<Queued>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT product_id, seq FROM search_outbox ORDER BY seq LIMIT ?1")?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(Queued {
            product_id: r.get(0)?,
            seq: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn pending_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM search_outbox", [], |r| r.get(0))?)
}

/// Clears entries that were indexed; an entry re-queued since (higher seq) stays.
pub fn mark_indexed(tx: &Transaction, done: &[Queued]) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("DELETE FROM search_outbox WHERE product_id = ?1 AND seq = ?2")?;
    for entry in done {
        stmt.execute(params![entry.product_id, entry.seq])?;
    }
    Ok(())
}

/// Queues every product, for a full rebuild of the index.
pub fn queue_all(tx: &Transaction) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "INSERT OR REPLACE INTO search_outbox (product_id, seq)
         SELECT id, (SELECT coalesce(max(seq), 0) FROM search_outbox) + row_number() OVER (ORDER BY id)
         FROM products",
        [],
    )?)
}

/// The stored text hash of a product's embedding for `model`, if any.
pub fn embedding_hash(
    conn: &Connection,
    product_id: i64,
    model: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT text_hash FROM product_embeddings WHERE product_id = ?1 AND model = ?2",
        )?
        .query_row(params![product_id, model], |r| r.get(0))
        .optional()?)
}

pub fn save_embedding(
    tx: &Transaction,
    product_id: i64,
    model: &str,
    text_hash: &str,
    vector: &[f32],
) -> Result<(), StoreError> {
    let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO product_embeddings (product_id, model, text_hash, vector) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![product_id, model, text_hash, bytes])?;
    Ok(())
}

/// Every stored vector of active products for `model`, as (product id, vector).
pub fn active_embeddings(
    conn: &Connection,
    model: &str,
) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.product_id, e.vector FROM product_embeddings e JOIN products p ON p.id = e.product_id
         WHERE e.model = ?1 AND p.active = 1 ORDER BY e.product_id",
    )?;
    let rows = stmt.query_map([model], |r| {
        let bytes: Vec<u8> = r.get(1)?;
        let vector = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((r.get(0)?, vector))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active products that have no embedding for `model` yet.
pub fn missing_embeddings(conn: &Connection, model: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM products p WHERE active = 1
         AND NOT EXISTS (SELECT 1 FROM product_embeddings e WHERE e.product_id = p.id AND e.model = ?1)
         ORDER BY id",
    )?;
    let rows = stmt.query_map([model], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
