//! The intent cache: intents by normalised message, pending refinement or
//! refined by a model.
//!
//! Stores what `assistant` decided; knows nothing of how intents are found.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// A cached intent.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedIntent {
    pub normalized: String,
    pub intent: String,
    pub confidence: f64,
    /// `pending` (the classifier's guess, waiting for a model) or `model`.
    pub source: String,
    pub seen: i64,
}

fn cached_row(row: &rusqlite::Row) -> rusqlite::Result<CachedIntent> {
    Ok(CachedIntent {
        normalized: row.get(0)?,
        intent: row.get(1)?,
        confidence: row.get(2)?,
        source: row.get(3)?,
        seen: row.get(4)?,
    })
}

pub fn get(conn: &Connection, normalized: &str) -> Result<Option<CachedIntent>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT normalized, intent, confidence, source, seen FROM intent_cache
             WHERE normalized = ?1",
        )?
        .query_row([normalized], cached_row)
        .optional()?)
}

/// Queues a message the classifier was unsure about (or counts it again).
pub fn note_pending(
    tx: &Transaction,
    normalized: &str,
    intent: &str,
    confidence: f64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO intent_cache (normalized, intent, confidence, source, updated_at)
         VALUES (?1, ?2, ?3, 'pending', ?4)
         ON CONFLICT (normalized) DO UPDATE SET seen = seen + 1",
    )?
    .execute(params![normalized, intent, confidence, now])?;
    Ok(())
}

/// Messages waiting for a model, most often seen first.
pub fn pending(conn: &Connection, limit: usize) -> Result<Vec<CachedIntent>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT normalized, intent, confidence, source, seen FROM intent_cache
         WHERE source = 'pending' ORDER BY seen DESC, updated_at LIMIT ?1",
    )?;
    let rows = statement.query_map([limit as i64], cached_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a model's answer for a message.
pub fn refine(
    tx: &Transaction,
    normalized: &str,
    intent: &str,
    confidence: f64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE intent_cache SET intent = ?2, confidence = ?3, source = 'model', updated_at = ?4
         WHERE normalized = ?1",
    )?
    .execute(params![normalized, intent, confidence, now])?;
    Ok(())
}
