//! Webhooks: which events exist, who is subscribed, how an event is put in
//! the outbox, signed, and retried.
//!
//! An event is written to the outbox (`store::webhooks`) by [`enqueue`] inside
//! the transaction of the change it announces, so it exists if and only if
//! that change committed. The [`dispatch`] thread then sends each delivery,
//! signed with the endpoint's secret, and retries failures with exponential
//! backoff until `webhook_max_attempts`.
//!
//! Delivery is at least once: a crash (or a lost response) between a send and
//! its record sends the same event again later. Every retry carries the same
//! body and event id, so receivers dedupe on the envelope's `id`.
//!
//! This module owns the rules (event names, URL and subscription checks, the
//! signature, the retry schedule); SQL is `store::webhooks`' job and HTTP
//! handlers are `web::webhooks`'.

pub mod dispatch;

use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::Transaction;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::order::{OrderStatus, PlacedOrder};
use crate::catalog::FieldError;
use crate::store::webhooks::{self as outbox, EndpointInfo, NewDelivery, Outcome};
use crate::store::{Store, StoreError, now_utc};

pub use dispatch::{Dispatcher, Waker, start};

/// The event of `POST /api/v1/admin/webhooks/{id}/ping`: sent to one endpoint
/// on request, never subscribed to.
pub const PING_EVENT: &str = "webhook.ping";
/// Prefix of endpoint secrets, so one pasted in the wrong place is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";
/// Longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2048;
/// The longest wait between two attempts, unless the configured first wait is longer.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The events an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    OrderCreated,
    OrderStatusChanged,
    StockLow,
    BudgetAlert,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::OrderCreated,
        EventType::OrderStatusChanged,
        EventType::StockLow,
        EventType::BudgetAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderStatusChanged => "order.status_changed",
            EventType::StockLow => "stock.low",
            EventType::BudgetAlert => "budget.alert",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `text` names an event that can appear in the delivery log.
pub fn is_known_event(text: &str) -> bool {
    text == PING_EVENT || EventType::parse(text).is_some()
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook endpoint is not valid")]
    Invalid(Vec<FieldError>),
    #[error("no randomness for the endpoint secret: {0}")]
    Randomness(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new endpoint with its secret, which is shown only this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointInfo,
    /// The signing secret (`whsec_…`). It is shown once and cannot be recovered.
    pub secret: String,
}

/// The event a ping put in the outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pinged {
    pub event_id: String,
    pub delivery_id: i64,
}

/// The facts of an order status change, as `order.status_changed` sends them.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange<'a> {
    pub order_id: i64,
    pub number: &'a str,
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// A product (or variant) whose stock fell to the low-stock threshold, as
/// `stock.low` sends it.
#[derive(Debug, Clone, Serialize)]
pub struct StockLevel<'a> {
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub sku: Option<&'a str>,
    pub name: &'a str,
    pub stock: i64,
    pub threshold: i64,
}

/// Puts `event` in the outbox of every active endpoint subscribed to it.
/// Call it inside the transaction of the change it announces; call the
/// dispatcher's `wake()` once that transaction committed.
pub fn enqueue(tx: &Transaction, event: EventType, data: &Value) -> Result<(), StoreError> {
    let endpoints = outbox::subscribers(tx, event.as_str())?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let envelope = Envelope::new(event.as_str(), data);
    for endpoint_id in endpoints {
        outbox::insert_delivery(tx, &envelope.delivery_to(endpoint_id))?;
    }
    Ok(())
}

/// `order.created` with the order as placed; inside the checkout transaction.
pub fn order_created(tx: &Transaction, order: &PlacedOrder) -> Result<(), StoreError> {
    enqueue(tx, EventType::OrderCreated, &to_data(order)?)
}

/// `order.status_changed`; inside the transaction that changes the status.
pub fn order_status_changed(tx: &Transaction, change: &StatusChange) -> Result<(), StoreError> {
    enqueue(tx, EventType::OrderStatusChanged, &to_data(change)?)
}

/// `stock.low`; inside the transaction that moved the stock, when
/// [`crossed_low_stock`] says this change is the one that made it low.
pub fn stock_low(tx: &Transaction, level: &StockLevel) -> Result<(), StoreError> {
    enqueue(tx, EventType::StockLow, &to_data(level)?)
}

/// `budget.alert` with the alert as the admin sees it; inside the transaction
/// that recorded the model call which reached the threshold.
pub fn budget_alert(tx: &Transaction, alert: &impl Serialize) -> Result<(), StoreError> {
    enqueue(tx, EventType::BudgetAlert, &to_data(alert)?)
}

/// Whether a stock change from `before` to `after` fell to the threshold or
/// below, so `stock.low` goes out once per fall rather than on every sale.
pub fn crossed_low_stock(before: i64, after: i64, threshold: i64) -> bool {
    before > threshold && after <= threshold
}

/// Our own event types serialise to JSON without fail; the error is mapped
/// rather than unwrapped all the same.
fn to_data(value: &impl Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(value)
        .map_err(|err| StoreError::Corrupt(format!("webhook event data: {err}")))
}

/// Registers an endpoint after checking its URL and subscriptions; the answer
/// holds the generated secret.
pub fn create_endpoint(
    store: &Store,
    url: &str,
    events: &[String],
) -> Result<CreatedEndpoint, WebhookError> {
    let (url, events) = match (check_url(url), check_events(events)) {
        (Ok(url), Ok(events)) => (url, events),
        (url, events) => {
            let errors = [url.err(), events.err()].into_iter().flatten().collect();
            return Err(WebhookError::Invalid(errors));
        }
    };
    let secret = new_secret()?;
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let events_json = json!(names).to_string();
    let endpoint = store.write(|tx| outbox::insert_endpoint(tx, &url, &secret, &events_json))?;
    Ok(CreatedEndpoint { endpoint, secret })
}

/// Sends a `webhook.ping` to one endpoint; `None` when there is no such endpoint.
pub fn ping(store: &Store, endpoint_id: i64) -> Result<Option<Pinged>, StoreError> {
    store.write(|tx| {
        if outbox::get_endpoint(tx, endpoint_id)?.is_none() {
            return Ok(None);
        }
        let envelope = Envelope::new(PING_EVENT, &json!({ "endpoint_id": endpoint_id }));
        let delivery_id = outbox::insert_delivery(tx, &envelope.delivery_to(endpoint_id))?;
        Ok(Some(Pinged {
            event_id: envelope.id,
            delivery_id,
        }))
    })
}

/// An http or https URL with a host, trimmed.
fn check_url(raw: &str) -> Result<String, FieldError> {
    let invalid = |reason: &str| FieldError::new("url", reason);
    let url = raw.trim();
    if url.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if url.len() > MAX_URL_LEN {
        return Err(invalid(&format!("is longer than {MAX_URL_LEN} characters")));
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|err| invalid(&format!("is not a valid URL ({err})")))?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if !scheme_ok {
        return Err(invalid("must be an http:// or https:// URL"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    Ok(url.to_string())
}

/// At least one known event type; duplicates collapse, the order is canonical.
fn check_events(names: &[String]) -> Result<Vec<EventType>, FieldError> {
    let known = || {
        EventType::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err(FieldError::new(
            "events",
            format!("name at least one event type: {}", known()),
        ));
    }
    for (index, name) in names.iter().enumerate() {
        if EventType::parse(name).is_none() {
            return Err(FieldError::new(
                format!("events[{index}]"),
                format!("unknown event type {name:?}; known: {}", known()),
            ));
        }
    }
    Ok(EventType::ALL
        .into_iter()
        .filter(|e| names.iter().any(|n| n == e.as_str()))
        .collect())
}

fn new_secret() -> Result<String, WebhookError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| WebhookError::Randomness(err.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// The JSON sent for one event: the same bytes to every endpoint and on every retry.
struct Envelope {
    id: String,
    event_type: String,
    body: String,
    due_at: String,
}

impl Envelope {
    fn new(event_type: &str, data: &Value) -> Envelope {
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "id": id,
            "type": event_type,
            "created_at": now_utc(),
            "data": data,
        })
        .to_string();
        Envelope {
            id,
            event_type: event_type.to_string(),
            body,
            due_at: timestamp(OffsetDateTime::now_utc()),
        }
    }

    /// The outbox row that sends this envelope to one endpoint, due now.
    fn delivery_to(&self, endpoint_id: i64) -> NewDelivery<'_> {
        NewDelivery {
            endpoint_id,
            event_id: &self.id,
            event_type: &self.event_type,
            payload: &self.body,
            due_at: &self.due_at,
        }
    }
}

/// `X-Shopkeep-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
/// The timestamp is signed too, so a receiver can refuse old replays.
pub fn signature_header(secret: &str, unix_seconds: i64, body: &str) -> String {
    let message = format!("{unix_seconds}.{body}");
    format!(
        "t={unix_seconds},v1={}",
        hmac_sha256_hex(secret.as_bytes(), message.as_bytes())
    )
}

fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC takes keys of any length (long ones are hashed first), so this
    // constructor cannot fail; if it ever did, an empty signature fails
    // verification at the receiver instead of panicking here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// How many times a delivery is tried and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based), before jitter:
    /// `backoff * 2^(attempt-1)`, capped at an hour (or at `backoff` when that
    /// is longer, so the cap never shortens the first wait).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let cap = MAX_BACKOFF.max(self.backoff);
        let doubling = 2u32.checked_pow(attempt.saturating_sub(1));
        doubling
            .and_then(|factor| self.backoff.checked_mul(factor))
            .map_or(cap, |delay| delay.min(cap))
    }

    /// What attempt `attempt` (1-based) leaves a delivery in, `now` being
    /// when it ended and `random` any random number (for the jitter).
    pub fn outcome(
        &self,
        attempt: u32,
        succeeded: bool,
        now: OffsetDateTime,
        random: u64,
    ) -> Outcome {
        if succeeded {
            return Outcome::Delivered;
        }
        if attempt >= self.max_attempts {
            return Outcome::Failed;
        }
        let wait = with_jitter(self.delay_after(attempt), random);
        // Rounded up to the next millisecond: the timestamp keeps whole
        // milliseconds and the claim compares against a rounded-down now, so
        // rounding down here could retry up to 1 ms before the wait is over.
        let whole_ms = Duration::from_millis(1).saturating_sub(Duration::from_nanos(1));
        Outcome::Retry {
            next_attempt_at: timestamp(later(now, wait.saturating_add(whole_ms))),
        }
    }
}

/// Adds up to a tenth of `delay`, so endpoints that failed together (a
/// receiver restart) are not all retried in the same instant.
fn with_jitter(delay: Duration, random: u64) -> Duration {
    let tenth_ms = u64::try_from(delay.as_millis() / 10).unwrap_or(u64::MAX);
    let extra_ms = tenth_ms.saturating_mul(random % 1001) / 1000;
    delay.saturating_add(Duration::from_millis(extra_ms))
}

/// `now + wait`, or `now` at the end of the calendar.
fn later(now: OffsetDateTime, wait: Duration) -> OffsetDateTime {
    time::Duration::try_from(wait)
        .ok()
        .and_then(|wait| now.checked_add(wait))
        .unwrap_or(now)
}

/// RFC 3339 UTC with exactly three fraction digits: the outbox compares due
/// times as text, which only orders correctly at one fixed width.
fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::webhooks::DeliveryQuery;

    fn open_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
        (dir, store)
    }

    fn endpoint(store: &Store, events: &[&str]) -> i64 {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        create_endpoint(store, "http://127.0.0.1:9/hook", &events)
            .unwrap()
            .endpoint
            .id
    }

    fn deliveries(store: &Store) -> Vec<outbox::DeliveryInfo> {
        let query = DeliveryQuery {
            limit: 100,
            ..Default::default()
        };
        store.read(|c| outbox::list_deliveries(c, &query)).unwrap()
    }

    fn payload_of(store: &Store, delivery_id: i64) -> Value {
        let text: String = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT payload FROM webhook_deliveries WHERE id = ?1",
                    [delivery_id],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signature_header_signs_timestamp_dot_body() {
        // Expected value computed independently with Python's hmac module.
        let header = signature_header(
            "whsec_0123456789abcdef",
            1_700_000_000,
            r#"{"id":"evt","type":"webhook.ping"}"#,
        );
        assert_eq!(
            header,
            "t=1700000000,v1=c22a6c6d41224fb85a7c6dcf30fb18722656cd79bad383257226d36723c1046b"
        );
        let other_time = signature_header(
            "whsec_0123456789abcdef",
            1_700_000_001,
            r#"{"id":"evt","type":"webhook.ping"}"#,
        );
        assert_ne!(header[13..], other_time[13..], "the timestamp is signed");
    }

    #[test]
    fn backoff_doubles_from_the_configured_wait_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 8,
            backoff: Duration::from_millis(100),
        };
        let schedule: Vec<u128> = (1..=5).map(|a| policy.delay_after(a).as_millis()).collect();
        assert_eq!(schedule, [100, 200, 400, 800, 1600]);
        assert_eq!(policy.delay_after(40), MAX_BACKOFF, "capped, no overflow");
        assert_eq!(policy.delay_after(u32::MAX), MAX_BACKOFF);
        let slow = RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_secs(7200),
        };
        assert_eq!(slow.delay_after(1), Duration::from_secs(7200));
        assert_eq!(slow.delay_after(3), Duration::from_secs(7200));
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        let delay = Duration::from_millis(1000);
        assert_eq!(with_jitter(delay, 0), delay);
        assert_eq!(with_jitter(delay, 1000), Duration::from_millis(1100));
        for random in [1, 999, 12_345, u64::MAX] {
            let jittered = with_jitter(delay, random);
            assert!(jittered >= delay && jittered <= Duration::from_millis(1100));
        }
    }

    #[test]
    fn outcomes_retry_until_the_last_attempt_then_fail() {
        let policy = RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(100),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(policy.outcome(2, true, now, 0), Outcome::Delivered);
        assert_eq!(
            policy.outcome(1, false, now, 0),
            Outcome::Retry {
                next_attempt_at: "2023-11-14T22:13:20.100Z".into()
            }
        );
        assert_eq!(
            policy.outcome(2, false, now, 0),
            Outcome::Retry {
                next_attempt_at: "2023-11-14T22:13:20.200Z".into()
            }
        );
        assert_eq!(policy.outcome(3, false, now, 0), Outcome::Failed);
    }

    #[test]
    fn timestamps_have_one_width_so_text_order_is_time_order() {
        let whole = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let later_by_5ms = later(whole, Duration::from_millis(5));
        assert_eq!(timestamp(whole), "2023-11-14T22:13:20.000Z");
        assert_eq!(timestamp(later_by_5ms), "2023-11-14T22:13:20.005Z");
        assert!(timestamp(whole) < timestamp(later_by_5ms));
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert_eq!(
            check_url("  https://shop.example/hooks?x=1 ").unwrap(),
            "https://shop.example/hooks?x=1"
        );
        assert!(check_url("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "",
            "ftp://x.example/",
            "/relative",
            "shop.example",
            "http://",
            "http://a b/",
        ] {
            let error = check_url(bad).unwrap_err();
            assert_eq!(error.field, "url", "{bad:?}");
        }
        assert!(check_url(&format!("https://x.example/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn subscriptions_name_known_events_only() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_events(&names(&["stock.low", "order.created", "stock.low"])).unwrap(),
            [EventType::OrderCreated, EventType::StockLow]
        );
        assert_eq!(check_events(&[]).unwrap_err().field, "events");
        let unknown = check_events(&names(&["order.created", "order.paid"])).unwrap_err();
        assert_eq!(unknown.field, "events[1]");
        assert!(unknown.reason.contains("order.paid"));
        assert!(
            check_events(&names(&[PING_EVENT])).is_err(),
            "ping is not subscribable"
        );
    }

    #[test]
    fn a_bad_endpoint_reports_every_bad_field() {
        let (_dir, store) = open_store();
        let Err(WebhookError::Invalid(errors)) =
            create_endpoint(&store, "gopher://x", &["nope".to_string()])
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events[0]"]);
    }

    #[test]
    fn enqueue_writes_one_row_per_active_subscribed_endpoint() {
        let (_dir, store) = open_store();
        let orders = endpoint(&store, &["order.created", "order.status_changed"]);
        let stock = endpoint(&store, &["stock.low"]);
        let paused = endpoint(&store, &["order.created"]);
        store
            .write(|tx| {
                tx.execute(
                    "UPDATE webhook_endpoints SET active = 0 WHERE id = ?1",
                    [paused],
                )?;
                Ok(())
            })
            .unwrap();
        let data = json!({"order_id": 7});
        store
            .write(|tx| enqueue(tx, EventType::OrderCreated, &data))
            .unwrap();

        let rows = deliveries(&store);
        assert_eq!(rows.len(), 1, "only the active order endpoint: {rows:?}");
        let row = &rows[0];
        assert_eq!(
            (row.endpoint_id, row.event_type.as_str()),
            (orders, "order.created")
        );
        assert_eq!((row.status.as_str(), row.attempts), ("pending", 0));
        let payload = payload_of(&store, row.id);
        assert_eq!(payload["id"], row.event_id.as_str());
        assert_eq!(payload["type"], "order.created");
        assert_eq!(payload["data"], data);
        assert!(
            payload["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );

        store
            .write(|tx| {
                stock_low(
                    tx,
                    &StockLevel {
                        product_id: 3,
                        variant_id: None,
                        sku: Some("TEA-1"),
                        name: "Tea",
                        stock: 2,
                        threshold: 5,
                    },
                )
            })
            .unwrap();
        let newest = &deliveries(&store)[0];
        assert_eq!(
            (newest.endpoint_id, newest.event_type.as_str()),
            (stock, "stock.low")
        );
        assert_eq!(payload_of(&store, newest.id)["data"]["sku"], "TEA-1");
    }

    #[test]
    fn an_event_exists_only_if_its_transaction_committed() {
        let (_dir, store) = open_store();
        endpoint(&store, &["order.status_changed"]);
        let change = StatusChange {
            order_id: 1,
            number: "SK-1",
            from: OrderStatus::Pending,
            to: OrderStatus::Paid,
        };
        let rolled_back: Result<(), StoreError> = store.write(|tx| {
            order_status_changed(tx, &change)?;
            Err(StoreError::Conflict("the status change was refused".into()))
        });
        assert!(rolled_back.is_err());
        assert!(deliveries(&store).is_empty(), "rolled back with its change");

        store.write(|tx| order_status_changed(tx, &change)).unwrap();
        let rows = deliveries(&store);
        assert_eq!(rows.len(), 1);
        let data = &payload_of(&store, rows[0].id)["data"];
        assert_eq!(
            (data["from"].as_str(), data["to"].as_str()),
            (Some("pending"), Some("paid"))
        );
    }

    #[test]
    fn order_created_sends_the_placed_order() {
        let (_dir, store) = open_store();
        endpoint(&store, &["order.created"]);
        let order = PlacedOrder {
            id: 12,
            number: "SK-12".into(),
            customer_id: None,
            session_id: Some(4),
            status: OrderStatus::Pending,
            currency: "USD".into(),
            subtotal_minor: 1000,
            discount_minor: 0,
            tax_minor: 80,
            total_minor: 1080,
            voucher_code: None,
            created_at: now_utc(),
            lines: Vec::new(),
        };
        store.write(|tx| order_created(tx, &order)).unwrap();
        let rows = deliveries(&store);
        let data = &payload_of(&store, rows[0].id)["data"];
        assert_eq!(data["number"], "SK-12");
        assert_eq!(data["total_minor"], 1080);
    }

    #[test]
    fn low_stock_fires_once_per_fall() {
        assert!(crossed_low_stock(6, 5, 5));
        assert!(crossed_low_stock(10, 0, 5));
        assert!(!crossed_low_stock(5, 4, 5), "already low");
        assert!(!crossed_low_stock(9, 6, 5), "still above");
        assert!(!crossed_low_stock(3, 8, 5), "restocked");
    }

    #[test]
    fn a_ping_goes_to_its_endpoint_only() {
        let (_dir, store) = open_store();
        let first = endpoint(&store, &["order.created"]);
        let second = endpoint(&store, &["order.created"]);
        let pinged = ping(&store, second).unwrap().unwrap();
        let rows = deliveries(&store);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].endpoint_id, rows[0].id),
            (second, pinged.delivery_id)
        );
        assert_eq!(rows[0].event_type, PING_EVENT);
        assert_eq!(rows[0].event_id, pinged.event_id);
        assert_ne!(first, second);
        assert!(ping(&store, 999).unwrap().is_none());
    }

    #[test]
    fn secrets_are_prefixed_random_and_listed_nowhere() {
        let (_dir, store) = open_store();
        let events = vec!["stock.low".to_string()];
        let a = create_endpoint(&store, "https://a.example/", &events).unwrap();
        let b = create_endpoint(&store, "https://b.example/", &events).unwrap();
        assert!(a.secret.starts_with(SECRET_PREFIX));
        assert_eq!(a.secret.len(), SECRET_PREFIX.len() + 64);
        assert_ne!(a.secret, b.secret);
        let listed = serde_json::to_string(&store.read(outbox::list_endpoints).unwrap()).unwrap();
        assert!(!listed.contains(&a.secret) && listed.contains("https://b.example/"));
    }
}
