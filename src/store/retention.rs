//! The SQL of data retention: which conversations and log rows are past
//! their age, reading them for the archive, deleting them, and the page
//! figures VACUUM is judged by.
//!
//! Owns these queries only; the ages, the archive file and the schedule are
//! `crate::maintenance`'s. It never deletes orders or the daily aggregates
//! reports read (`daily_model_usage`, `daily_sales`, `subject_usage`,
//! `monthly_remote_spend`).

use rusqlite::{Connection, Transaction, params};

use super::StoreError;
use super::conversations::{
    CONVERSATION_COLUMNS, ConversationRow, MessageRow, conversation_row, message_row,
};

/// Conversations idle since before ?1 that nobody is waiting on: not taken
/// over by an admin, not flagged for one, and not from a session whose order
/// is still open (the shopper may come back to ask where it is). Orders never
/// point at conversations, so deleting one breaks no reference.
const EXPIRED: &str = "FROM conversations c
     WHERE c.updated_at < ?1
       AND c.taken_over_by IS NULL
       AND c.flag IS NULL
       AND NOT EXISTS (SELECT 1 FROM orders o
                       WHERE o.session_id = c.session_id AND o.status IN ('pending', 'paid'))";

/// Webhook deliveries that are done with (delivered or given up) and older
/// than ?1; pending ones stay whatever their age.
const FINISHED_DELIVERIES: &str =
    "FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND created_at < ?1";

/// A conversation with all its messages, as archived.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredConversation {
    pub conversation: ConversationRow,
    pub messages: Vec<MessageRow>,
}

/// Rows past their age.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub conversations: u64,
    pub messages: u64,
    pub model_calls: u64,
    pub webhook_deliveries: u64,
}

/// Counts what would go: conversations idle since before `conversations_before`,
/// logs from before `logs_before` (`None`: that kind is kept forever).
pub fn count(
    conn: &Connection,
    conversations_before: Option<&str>,
    logs_before: Option<&str>,
) -> Result<Expired, StoreError> {
    let mut expired = Expired::default();
    if let Some(before) = conversations_before {
        expired.conversations = count_rows(conn, &format!("SELECT COUNT(*) {EXPIRED}"), before)?;
        expired.messages = count_rows(
            conn,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE conversation_id IN (SELECT c.id {EXPIRED})"
            ),
            before,
        )?;
    }
    if let Some(before) = logs_before {
        expired.model_calls = count_rows(
            conn,
            "SELECT COUNT(*) FROM model_calls WHERE at < ?1",
            before,
        )?;
        expired.webhook_deliveries = count_rows(
            conn,
            &format!("SELECT COUNT(*) {FINISHED_DELIVERIES}"),
            before,
        )?;
    }
    Ok(expired)
}

fn count_rows(conn: &Connection, sql: &str, before: &str) -> Result<u64, StoreError> {
    Ok(conn.query_row(sql, [before], |row| row.get::<_, i64>(0))? as u64)
}

/// Up to `limit` expired conversations with their messages, oldest first.
pub fn expired_conversations(
    conn: &Connection,
    before: &str,
    limit: usize,
) -> Result<Vec<ExpiredConversation>, StoreError> {
    let columns = CONVERSATION_COLUMNS
        .split(", ")
        .map(|column| format!("c.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {columns} {EXPIRED} ORDER BY c.updated_at, c.id LIMIT ?2"
    ))?;
    let conversations = statement
        .query_map(params![before, limit as i64], conversation_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut messages = conn.prepare_cached(
        "SELECT id, conversation_id, role, content, intent, confidence, mood, tier, model,
                actions, created_at
         FROM messages WHERE conversation_id = ?1 ORDER BY id",
    )?;
    conversations
        .into_iter()
        .map(|conversation| {
            let rows = messages
                .query_map([&conversation.id], message_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ExpiredConversation {
                conversation,
                messages: rows,
            })
        })
        .collect()
}

/// Deletes these conversations (their messages go with them); returns how many.
pub fn delete_conversations(tx: &Transaction, ids: &[&str]) -> Result<u64, StoreError> {
    let mut statement = tx.prepare_cached("DELETE FROM conversations WHERE id = ?1")?;
    let mut deleted = 0;
    for id in ids {
        deleted += statement.execute([id])? as u64;
    }
    Ok(deleted)
}

/// Deletes per-call usage rows and finished webhook deliveries (with their
/// attempts) from before `before`; returns (model calls, deliveries).
pub fn delete_logs(tx: &Transaction, before: &str) -> Result<(u64, u64), StoreError> {
    let calls = tx.execute("DELETE FROM model_calls WHERE at < ?1", [before])? as u64;
    let deliveries = tx.execute(&format!("DELETE {FINISHED_DELIVERIES}"), [before])? as u64;
    Ok((calls, deliveries))
}

/// The database file's size in pages, and how many of them are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PageFacts {
    pub page_size: u64,
    pub page_count: u64,
    pub freelist_count: u64,
}

impl PageFacts {
    pub fn bytes(&self) -> u64 {
        self.page_size * self.page_count
    }
}

pub fn page_facts(conn: &Connection) -> Result<PageFacts, StoreError> {
    let pragma = |name: &str| -> Result<u64, StoreError> {
        Ok(conn.pragma_query_value(None, name, |row| row.get::<_, i64>(0))? as u64)
    };
    Ok(PageFacts {
        page_size: pragma("page_size")?,
        page_count: pragma("page_count")?,
        freelist_count: pragma("freelist_count")?,
    })
}

/// Rebuilds the database file without its free pages, then folds the
/// write-ahead log back so the file on disk shrinks. Must run outside any
/// transaction. Returns the figures before and after.
pub fn vacuum(conn: &Connection) -> Result<(PageFacts, PageFacts), StoreError> {
    let before = page_facts(conn)?;
    conn.execute_batch("VACUUM")?;
    // Busy readers may hold part of the log back; they only delay the shrink.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok((before, page_facts(conn)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conversations;
    use crate::store::scratch;

    fn conversation(store: &crate::store::Store, id: &str, at: &str) {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO sessions (token_hash, created_at, expires_at, last_seen_at)
                     VALUES (?1, ?2, '2999-01-01T00:00:00Z', ?2)",
                    params![format!("hash-{id}"), at],
                )?;
                conversations::insert(tx, id, tx.last_insert_rowid(), None, at)?;
                conversations::append(
                    tx,
                    id,
                    &conversations::NewMessage {
                        role: "shopper",
                        content: "hello",
                        actions: "[]",
                        ..Default::default()
                    },
                    at,
                )?;
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn only_idle_conversations_nobody_waits_on_expire() {
        let (_dir, store) = scratch();
        conversation(&store, "old", "2025-01-01T00:00:00Z");
        conversation(&store, "old-taken", "2025-01-01T00:00:00Z");
        conversation(&store, "old-flagged", "2025-01-01T00:00:00Z");
        conversation(&store, "new", "2026-11-01T00:00:00Z");
        store
            .write(|tx| {
                tx.execute(
                    "UPDATE conversations SET taken_over_by = 'admin' WHERE id = 'old-taken'",
                    [],
                )?;
                tx.execute(
                    "UPDATE conversations SET flag = 'asked_for_human' WHERE id = 'old-flagged'",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let cutoff = "2026-01-01T00:00:00Z";
        let counted = store.read(|c| count(c, Some(cutoff), None)).unwrap();
        assert_eq!((counted.conversations, counted.messages), (1, 1));
        let expired = store
            .read(|c| expired_conversations(c, cutoff, 10))
            .unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].conversation.id, "old");
        assert_eq!(expired[0].messages[0].content, "hello");
        let deleted = store
            .write(|tx| delete_conversations(tx, &["old"]))
            .unwrap();
        assert_eq!(deleted, 1);
        let left: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(left, 3, "the deleted conversation's message went with it");
        assert_eq!(
            store.read(|c| count(c, None, None)).unwrap(),
            Expired::default(),
            "nothing expires when every kind is kept forever"
        );
    }
}
