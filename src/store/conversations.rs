//! Conversation and message rows: create, read, append, and the admin's list.
//!
//! Stores what `assistant` decided; knows nothing of intents or tools.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::StoreError;

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: String,
    pub session_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub summary: String,
    pub summarized_through: i64,
    /// The assistant's working memory, JSON.
    pub state: String,
    pub flag: Option<String>,
    pub flagged_at: Option<String>,
    pub taken_over_by: Option<String>,
    pub mood: f64,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: String,
    pub role: String,
    pub content: String,
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    pub mood: Option<f64>,
    pub tier: Option<String>,
    pub model: Option<String>,
    /// JSON list of the tool calls of an assistant turn.
    pub actions: String,
    pub created_at: String,
}

/// A message to append; the id and time are the store's.
#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub intent: Option<&'a str>,
    pub confidence: Option<f64>,
    pub mood: Option<f64>,
    pub tier: Option<&'a str>,
    pub model: Option<&'a str>,
    pub actions: &'a str,
}

/// One line of the admin's conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationListing {
    pub conversation: ConversationRow,
    pub messages: i64,
    pub last_message: Option<String>,
}

pub(super) const CONVERSATION_COLUMNS: &str = "id, session_id, customer_id, created_at, updated_at, summary, \
     summarized_through, state, flag, flagged_at, taken_over_by, mood";

pub(super) fn conversation_row(row: &Row) -> rusqlite::Result<ConversationRow> {
    Ok(ConversationRow {
        id: row.get(0)?,
        session_id: row.get(1)?,
        customer_id: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        summary: row.get(5)?,
        summarized_through: row.get(6)?,
        state: row.get(7)?,
        flag: row.get(8)?,
        flagged_at: row.get(9)?,
        taken_over_by: row.get(10)?,
        mood: row.get(11)?,
    })
}

pub(super) fn message_row(row: &Row) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        role: row.get(2)?,
        content: row.get(3)?,
        intent: row.get(4)?,
        confidence: row.get(5)?,
        mood: row.get(6)?,
        tier: row.get(7)?,
        model: row.get(8)?,
        actions: row.get(9)?,
        created_at: row.get(10)?,
    })
}

/// Deletes a conversation and its messages (the test console's sandbox).
pub fn delete(tx: &Transaction, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM conversations WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub fn insert(
    tx: &Transaction,
    id: &str,
    session_id: i64,
    customer_id: Option<i64>,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO conversations (id, session_id, customer_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![id, session_id, customer_id, now])?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<ConversationRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1"
        ))?
        .query_row([id], conversation_row)
        .optional()?)
}

/// Records the account of a shopper who signed in since the conversation began.
pub fn set_customer(tx: &Transaction, id: &str, customer_id: i64) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE conversations SET customer_id = ?2 WHERE id = ?1")?
        .execute(params![id, customer_id])?;
    Ok(())
}

/// Moves a guest session's conversations to the session and account that
/// replace it at sign-in.
pub fn adopt_session(
    tx: &Transaction,
    old_session: i64,
    new_session: i64,
    customer_id: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET session_id = ?2, customer_id = ?3 WHERE session_id = ?1",
    )?
    .execute(params![old_session, new_session, customer_id])?;
    Ok(())
}

/// Saves the working memory and the shopper's latest mood after a turn.
pub fn save_turn_state(
    tx: &Transaction,
    id: &str,
    state: &str,
    mood: f64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET state = ?2, mood = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, state, mood, now])?;
    Ok(())
}

pub fn set_summary(
    tx: &Transaction,
    id: &str,
    summary: &str,
    through_message: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET summary = ?2, summarized_through = ?3 WHERE id = ?1",
    )?
    .execute(params![id, summary, through_message])?;
    Ok(())
}

/// Flags a conversation for the admin; an earlier flag and its time are kept.
pub fn flag(tx: &Transaction, id: &str, reason: &str, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET flag = COALESCE(flag, ?2), flagged_at = COALESCE(flagged_at, ?3)
         WHERE id = ?1",
    )?
    .execute(params![id, reason, now])?;
    Ok(())
}

/// Hands the conversation to an admin (`Some`) or back to the assistant
/// (`None`, which also clears the flag: the admin has dealt with it).
pub fn set_takeover(
    tx: &Transaction,
    id: &str,
    admin: Option<&str>,
    now: &str,
) -> Result<bool, StoreError> {
    let sql = if admin.is_some() {
        "UPDATE conversations SET taken_over_by = ?2, updated_at = ?3 WHERE id = ?1"
    } else {
        "UPDATE conversations SET taken_over_by = ?2, flag = NULL, flagged_at = NULL,
         updated_at = ?3 WHERE id = ?1"
    };
    Ok(tx.prepare_cached(sql)?.execute(params![id, admin, now])? == 1)
}

pub fn append(
    tx: &Transaction,
    conversation_id: &str,
    message: &NewMessage,
    now: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO messages (conversation_id, role, content, intent, confidence, mood, tier,
                               model, actions, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        conversation_id,
        message.role,
        message.content,
        message.intent,
        message.confidence,
        message.mood,
        message.tier,
        message.model,
        message.actions,
        now
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("UPDATE conversations SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![conversation_id, now])?;
    Ok(id)
}

/// Messages after message `after` (0 for all), oldest first, at most `limit`.
pub fn messages(
    conn: &Connection,
    conversation_id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, conversation_id, role, content, intent, confidence, mood, tier, model,
                actions, created_at
         FROM messages WHERE conversation_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = statement.query_map(params![conversation_id, after, limit as i64], message_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Conversations, most recently active first; only flagged ones when asked.
pub fn list(
    conn: &Connection,
    flagged_only: bool,
    limit: usize,
) -> Result<Vec<ConversationListing>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS},
                (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
                (SELECT content FROM messages m WHERE m.conversation_id = c.id
                 ORDER BY m.id DESC LIMIT 1)
         FROM conversations c
         WHERE (?1 = 0 OR flag IS NOT NULL OR taken_over_by IS NOT NULL)
         ORDER BY updated_at DESC, id LIMIT ?2"
    ))?;
    let rows = statement.query_map(params![flagged_only, limit as i64], |row| {
        Ok(ConversationListing {
            conversation: conversation_row(row)?,
            messages: row.get(12)?,
            last_message: row.get(13)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Conversation figures for the dashboard's overview.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationCounts {
    /// Conversations started at or after the moment asked about.
    pub started: i64,
    /// Conversations flagged at or after it.
    pub flagged: i64,
    /// Flagged conversations no person has taken over yet, of any day.
    pub waiting: i64,
    /// Conversations a person answers now.
    pub taken_over: i64,
}

/// The overview's conversation figures since `since` (RFC 3339 UTC).
pub fn counts(conn: &Connection, since: &str) -> Result<ConversationCounts, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(created_at >= ?1), 0),
                    COALESCE(SUM(flagged_at >= ?1), 0),
                    COALESCE(SUM(flag IS NOT NULL AND taken_over_by IS NULL), 0),
                    COALESCE(SUM(taken_over_by IS NOT NULL), 0)
             FROM conversations",
        )?
        .query_row([since], |row| {
            Ok(ConversationCounts {
                started: row.get(0)?,
                flagged: row.get(1)?,
                waiting: row.get(2)?,
                taken_over: row.get(3)?,
            })
        })?)
}
