//! Webhook rows: endpoints, the delivery outbox and the per-attempt log.
//!
//! Stores what `commerce::webhooks` decided: which endpoints exist, which
//! deliveries are due, what an attempt gave. It must not decide anything
//! itself: not which events exist, not when to retry, not how to sign.
//! Timestamps come in from the caller already formatted, so due comparisons
//! are plain text comparisons on the fixed-width format the migration names.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::{StoreError, now_utc};

/// An endpoint as listed to admins: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointInfo {
    pub id: i64,
    pub url: String,
    /// The event types it subscribes to.
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: String,
}

/// One outbox row to write.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub endpoint_id: i64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The whole envelope, exactly as it will be sent.
    pub payload: &'a str,
    pub due_at: &'a str,
}

/// A due delivery, leased to the dispatcher, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Where a delivery stands after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry { next_attempt_at: String },
    Failed,
}

/// One attempt and what it left the delivery in.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub attempt: u32,
    pub at: String,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub outcome: Outcome,
}

/// Filters of the delivery log, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery<'a> {
    pub status: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub limit: usize,
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptInfo {
    pub attempt: u32,
    pub at: String,
    /// The HTTP status the receiver answered; absent when none came.
    pub status_code: Option<u16>,
    /// Why the attempt failed when there was no answer, or the start of the body of a non-2xx one.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A delivery as the admin log shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryInfo {
    pub id: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// Every attempt, first to last.
    pub attempt_log: Vec<AttemptInfo>,
}

const ENDPOINT_COLUMNS: &str = "id, url, events, active, created_at";

pub fn insert_endpoint(
    tx: &Transaction,
    url: &str,
    secret: &str,
    events_json: &str,
) -> Result<EndpointInfo, StoreError> {
    tx.execute(
        "INSERT INTO webhook_endpoints (url, secret, events, active, created_at)
         VALUES (?1, ?2, ?3, 1, ?4)",
        params![url, secret, events_json, now_utc()],
    )?;
    let id = tx.last_insert_rowid();
    get_endpoint(tx, id)?.ok_or_else(|| StoreError::Corrupt(format!("endpoint {id} vanished")))
}

pub fn get_endpoint(conn: &Connection, id: i64) -> Result<Option<EndpointInfo>, StoreError> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], read_endpoint)
        .optional()?
        .transpose()
}

pub fn list_endpoints(conn: &Connection) -> Result<Vec<EndpointInfo>, StoreError> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], read_endpoint)?;
    rows.map(|row| row?).collect()
}

/// Deletes an endpoint and its deliveries; false when there was none.
pub fn delete_endpoint(tx: &Transaction, id: i64) -> Result<bool, StoreError> {
    Ok(tx.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [id])? > 0)
}

/// The active endpoints whose subscriptions list `event_type`.
pub fn subscribers(conn: &Connection, event_type: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM webhook_endpoints
         WHERE active = 1 AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?1)
         ORDER BY id",
    )?;
    let rows = stmt.query_map([event_type], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_delivery(tx: &Transaction, delivery: &NewDelivery) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries
             (endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6)",
    )?
    .execute(params![
        delivery.endpoint_id,
        delivery.event_id,
        delivery.event_type,
        delivery.payload,
        delivery.due_at,
        now_utc()
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Takes the earliest delivery due at `now` (of an active endpoint) and moves
/// its due time to `lease_until`, so a crash mid-send retries it after the lease.
pub fn claim_due(
    tx: &Transaction,
    now: &str,
    lease_until: &str,
) -> Result<Option<ClaimedDelivery>, StoreError> {
    let claimed = tx
        .prepare_cached(
            "SELECT d.id, d.endpoint_id, e.url, e.secret, d.event_id, d.event_type, d.payload, d.attempts
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND e.active = 1
             ORDER BY d.next_attempt_at, d.id
             LIMIT 1",
        )?
        .query_row([now], |r| {
            Ok(ClaimedDelivery {
                id: r.get(0)?,
                endpoint_id: r.get(1)?,
                url: r.get(2)?,
                secret: r.get(3)?,
                event_id: r.get(4)?,
                event_type: r.get(5)?,
                payload: r.get(6)?,
                attempts: r.get(7)?,
            })
        })
        .optional()?;
    if let Some(delivery) = &claimed {
        tx.prepare_cached("UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1")?
            .execute(params![delivery.id, lease_until])?;
    }
    Ok(claimed)
}

/// When the next pending delivery of an active endpoint falls due, if any.
pub fn next_due_at(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT d.next_attempt_at
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND e.active = 1
             ORDER BY d.next_attempt_at
             LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// Logs an attempt and moves its delivery on; false when the delivery is gone
/// (its endpoint was deleted while the attempt ran).
pub fn record_attempt(tx: &Transaction, record: &AttemptRecord) -> Result<bool, StoreError> {
    let (status, next_attempt_at, delivered_at) = match &record.outcome {
        Outcome::Delivered => ("delivered", None, Some(record.at.as_str())),
        Outcome::Retry { next_attempt_at } => ("pending", Some(next_attempt_at.as_str()), None),
        Outcome::Failed => ("failed", None, None),
    };
    let updated = tx
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET status = ?2, attempts = ?3, next_attempt_at = ?4, last_status_code = ?5,
                 last_error = ?6, delivered_at = ?7
             WHERE id = ?1",
        )?
        .execute(params![
            record.delivery_id,
            status,
            record.attempt,
            next_attempt_at,
            record.status_code,
            record.error,
            delivered_at
        ])?;
    if updated == 0 {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        record.delivery_id,
        record.attempt,
        record.at,
        record.status_code,
        record.error,
        record.duration_ms
    ])?;
    Ok(true)
}

/// The delivery log, newest first, each with its attempts.
pub fn list_deliveries(
    conn: &Connection,
    query: &DeliveryQuery,
) -> Result<Vec<DeliveryInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.endpoint_id, e.url, d.event_id, d.event_type, d.status, d.attempts,
                d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.delivered_at
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE (?1 IS NULL OR d.status = ?1) AND (?2 IS NULL OR d.event_type = ?2)
         ORDER BY d.id DESC
         LIMIT ?3",
    )?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![query.status, query.event_type, limit],
        read_delivery,
    )?;
    let mut deliveries = rows.collect::<Result<Vec<_>, _>>()?;
    for delivery in &mut deliveries {
        delivery.attempt_log = attempts_of(conn, delivery.id)?;
    }
    Ok(deliveries)
}

fn attempts_of(conn: &Connection, delivery_id: i64) -> Result<Vec<AttemptInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, at, status_code, error, duration_ms
         FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    let rows = stmt.query_map([delivery_id], |r| {
        Ok(AttemptInfo {
            attempt: r.get(0)?,
            at: r.get(1)?,
            status_code: r.get(2)?,
            error: r.get(3)?,
            duration_ms: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn read_endpoint(row: &Row) -> rusqlite::Result<Result<EndpointInfo, StoreError>> {
    let id: i64 = row.get(0)?;
    let events_json: String = row.get(2)?;
    let events = match serde_json::from_str(&events_json) {
        Ok(events) => events,
        Err(err) => {
            return Ok(Err(StoreError::Corrupt(format!(
                "webhook endpoint {id} events: {err}"
            ))));
        }
    };
    Ok(Ok(EndpointInfo {
        id,
        url: row.get(1)?,
        events,
        active: row.get(3)?,
        created_at: row.get(4)?,
    }))
}

fn read_delivery(row: &Row) -> rusqlite::Result<DeliveryInfo> {
    Ok(DeliveryInfo {
        id: row.get(0)?,
        endpoint_id: row.get(1)?,
        url: row.get(2)?,
        event_id: row.get(3)?,
        event_type: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        last_status_code: row.get(8)?,
        last_error: row.get(9)?,
        created_at: row.get(10)?,
        delivered_at: row.get(11)?,
        attempt_log: Vec::new(),
    })
}
