//! The shop's FAQ rows: list them, replace them all.
//!
//! Stores what the admin wrote; matching questions to answers is the
//! assistant's job.

use rusqlite::{Connection, Transaction, params};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqRow {
    pub id: i64,
    pub question: String,
    pub answer: String,
    pub updated_at: String,
}

pub fn list(conn: &Connection) -> Result<Vec<FaqRow>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT id, question, answer, updated_at FROM faq ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok(FaqRow {
            id: row.get(0)?,
            question: row.get(1)?,
            answer: row.get(2)?,
            updated_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces the whole FAQ with `entries` (question, answer), in order.
pub fn replace(
    tx: &Transaction,
    entries: &[(String, String)],
    now: &str,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM faq", [])?;
    let mut insert =
        tx.prepare_cached("INSERT INTO faq (question, answer, updated_at) VALUES (?1, ?2, ?3)")?;
    for (question, answer) in entries {
        insert.execute(params![question, answer, now])?;
    }
    Ok(())
}

pub fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM faq)", [], |r| r.get(0))?)
}
