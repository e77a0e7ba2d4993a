//! The webhook dispatcher: one thread that sends due deliveries from the
//! outbox and records what each attempt gave.
//!
//! Each round claims one due delivery in a short write transaction (moving its
//! due time a lease ahead), sends it with no transaction open, then records
//! the attempt in another. A crash mid-send leaves the lease to expire and the
//! delivery goes out again: at least once, never lost. It sleeps until the
//! next delivery falls due, at most `IDLE_POLL`, or until `wake()`.
//!
//! It owns the HTTP client of outgoing webhooks and nothing else: the retry
//! schedule and the signature come from its parent module, SQL from `store`.

use std::io;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{RetryPolicy, signature_header, timestamp};
use crate::config::CommerceSettings;
use crate::store::webhooks::{self as outbox, AttemptRecord, ClaimedDelivery, Outcome};
use crate::store::{Store, StoreError};

pub const EVENT_HEADER: &str = "X-Shopkeep-Event";
pub const DELIVERY_HEADER: &str = "X-Shopkeep-Delivery";
pub const SIGNATURE_HEADER: &str = "X-Shopkeep-Signature";

/// Longest sleep with nothing due, so a delivery enqueued without a `wake()`
/// still goes out soon.
const IDLE_POLL: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole attempt, from connecting to the status line.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How far a claim moves a delivery's due time: longer than any attempt takes.
const LEASE: Duration = Duration::from_secs(60);
/// How much of a non-2xx answer's body the log keeps, to say why.
const ERROR_BODY_BYTES: u64 = 200;

/// Rings the dispatcher's bell. Cheap to clone and to call; a wake with
/// nothing to send costs one indexed query.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Signal>);

#[derive(Debug, Default)]
struct Signal {
    rung: Mutex<bool>,
    bell: Condvar,
    stopping: AtomicBool,
}

impl Waker {
    /// Sends due deliveries now rather than at the next poll; call it after
    /// the transaction that enqueued an event committed.
    pub fn wake(&self) {
        *self.0.rung.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0.bell.notify_one();
    }

    /// Sleeps up to `timeout` or until woken.
    fn wait(&self, timeout: Duration) {
        let rung = self.0.rung.lock().unwrap_or_else(|p| p.into_inner());
        let (mut rung, _) = self
            .0
            .bell
            .wait_timeout_while(rung, timeout, |rung| !*rung)
            .unwrap_or_else(|p| p.into_inner());
        *rung = false;
    }

    fn stopping(&self) -> bool {
        self.0.stopping.load(Ordering::Relaxed)
    }
}

/// The running dispatcher thread.
pub struct Dispatcher {
    waker: Waker,
    thread: JoinHandle<()>,
}

impl Dispatcher {
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// A handle that wakes this dispatcher, for those who enqueue events.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Stops after the attempt in flight (at most `ATTEMPT_TIMEOUT`) and joins.
    pub fn stop(self) {
        self.waker.0.stopping.store(true, Ordering::Relaxed);
        self.waker.wake();
        if self.thread.join().is_err() {
            tracing::warn!(
                "the webhook dispatcher stopped abnormally; pending deliveries are sent on next start"
            );
        }
    }
}

/// Starts the dispatcher thread on `store` with the retry settings of `settings`.
pub fn start(store: Arc<Store>, settings: &CommerceSettings) -> io::Result<Dispatcher> {
    let waker = Waker::default();
    let worker = Worker {
        store,
        policy: RetryPolicy {
            max_attempts: settings.webhook_max_attempts,
            backoff: settings.webhook_backoff,
        },
        agent: http_agent(),
        waker: waker.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("webhook-dispatcher".into())
        .spawn(move || worker.run())?;
    Ok(Dispatcher { waker, thread })
}

struct Worker {
    store: Arc<Store>,
    policy: RetryPolicy,
    agent: ureq::Agent,
    waker: Waker,
}

impl Worker {
    fn run(&self) {
        while !self.waker.stopping() {
            match self.deliver_next() {
                Ok(true) => {}
                Ok(false) => self.waker.wait(self.idle_wait()),
                Err(err) => {
                    tracing::warn!(error = %err, "webhook dispatch failed; retrying shortly");
                    self.waker.wait(IDLE_POLL);
                }
            }
        }
    }

    /// Sends the earliest due delivery; false when none is due.
    fn deliver_next(&self) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let (due_by, lease_until) = (timestamp(now), timestamp(super::later(now, LEASE)));
        let Some(delivery) = self
            .store
            .write(|tx| outbox::claim_due(tx, &due_by, &lease_until))?
        else {
            return Ok(false);
        };
        let attempt = delivery.attempts.saturating_add(1);
        let sent = send(&self.agent, &delivery);
        let ended = OffsetDateTime::now_utc();
        let random = getrandom::u64().unwrap_or(0);
        let record = AttemptRecord {
            delivery_id: delivery.id,
            attempt,
            at: timestamp(ended),
            status_code: sent.status_code,
            error: sent.error,
            duration_ms: u64::try_from(sent.duration.as_millis()).unwrap_or(u64::MAX),
            outcome: self.policy.outcome(attempt, sent.succeeded, ended, random),
        };
        log_attempt(&delivery, &record);
        self.store.write(|tx| outbox::record_attempt(tx, &record))?;
        Ok(true)
    }

    /// Until the next delivery falls due, at most `IDLE_POLL`.
    fn idle_wait(&self) -> Duration {
        let next_due = match self.store.read(outbox::next_due_at) {
            Ok(Some(text)) => OffsetDateTime::parse(&text, &Rfc3339).ok(),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the webhook outbox");
                None
            }
        };
        next_due.map_or(IDLE_POLL, |due| {
            let wait = due - OffsetDateTime::now_utc();
            Duration::try_from(wait).map_or(Duration::ZERO, |wait| wait.min(IDLE_POLL))
        })
    }
}

fn log_attempt(delivery: &ClaimedDelivery, record: &AttemptRecord) {
    let outcome = match &record.outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Failed => "failed",
    };
    tracing::info!(
        delivery = delivery.id,
        endpoint = delivery.endpoint_id,
        event = %delivery.event_type,
        event_id = %delivery.event_id,
        attempt = record.attempt,
        status = record.status_code,
        error = record.error.as_deref().unwrap_or(""),
        outcome,
        "webhook attempt"
    );
}

/// What one POST gave.
#[derive(Debug)]
struct Sent {
    succeeded: bool,
    status_code: Option<u16>,
    error: Option<String>,
    duration: Duration,
}

/// POSTs the delivery's envelope, signed now. Any 2xx is success; anything
/// else, including redirects, is a failure to retry.
fn send(agent: &ureq::Agent, delivery: &ClaimedDelivery) -> Sent {
    let started = Instant::now();
    let signature = signature_header(
        &delivery.secret,
        OffsetDateTime::now_utc().unix_timestamp(),
        &delivery.payload,
    );
    let answer = agent
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header(EVENT_HEADER, &delivery.event_type)
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(SIGNATURE_HEADER, signature)
        .send(delivery.payload.as_bytes());
    let (succeeded, status_code, error) = match answer {
        Ok(mut response) => {
            let status = response.status();
            let error = (!status.is_success()).then(|| {
                let body = body_start(response.body_mut());
                format!("HTTP {}{}", status.as_u16(), body)
            });
            (status.is_success(), Some(status.as_u16()), error)
        }
        Err(err) => (false, None, Some(err.to_string())),
    };
    Sent {
        succeeded,
        status_code,
        error,
        duration: started.elapsed(),
    }
}

/// `": <first bytes of the body>"`, or nothing for an empty or unreadable body.
fn body_start(body: &mut ureq::Body) -> String {
    let mut bytes = Vec::new();
    let read = body
        .as_reader()
        .take(ERROR_BODY_BYTES)
        .read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if read.is_err() || text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// No redirects (a receiver that moved must be re-registered, not followed
/// with the signature), no status-as-error, short timeouts.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(ATTEMPT_TIMEOUT))
        .user_agent(format!("shopkeep-webhooks/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn claimed(url: String) -> ClaimedDelivery {
        ClaimedDelivery {
            id: 5,
            endpoint_id: 1,
            url,
            secret: "whsec_test".into(),
            event_id: "evt".into(),
            event_type: "webhook.ping".into(),
            payload: r#"{"id":"evt"}"#.into(),
            attempts: 0,
        }
    }

    /// Answers one request with `status_line` and returns the request's head.
    fn answer_once(
        status_line: &'static str,
        body: &'static str,
    ) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            head
        });
        (url, server)
    }

    #[test]
    fn a_2xx_is_success_and_the_headers_are_sent() {
        let (url, server) = answer_once("204 No Content", "");
        let sent = send(&http_agent(), &claimed(url));
        assert!(sent.succeeded, "{sent:?}");
        assert_eq!((sent.status_code, sent.error), (Some(204), None));
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /hook "), "{head}");
        assert!(head.contains("x-shopkeep-event: webhook.ping"));
        assert!(head.contains("x-shopkeep-delivery: 5"));
        assert!(head.contains("x-shopkeep-signature: t="));
        assert!(head.contains("content-type: application/json"));
    }

    #[test]
    fn a_non_2xx_fails_with_the_start_of_its_body() {
        let (url, server) = answer_once("302 Found", "moved elsewhere");
        let sent = send(&http_agent(), &claimed(url));
        server.join().unwrap();
        assert!(!sent.succeeded, "redirects are not followed");
        assert_eq!(sent.status_code, Some(302));
        assert_eq!(sent.error.as_deref(), Some("HTTP 302: moved elsewhere"));
    }

    #[test]
    fn a_refused_connection_fails_without_a_status() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sent = send(&http_agent(), &claimed(format!("http://127.0.0.1:{port}/")));
        assert!(!sent.succeeded);
        assert_eq!(sent.status_code, None);
        assert!(sent.error.is_some_and(|e| !e.is_empty()));
    }

    fn store_with_endpoint(url: &str) -> (tempfile::TempDir, Arc<Store>, i64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db");
        let store = Arc::new(Store::open(&path, &Default::default()).unwrap());
        let events = ["order.created".to_string()];
        let id = super::super::create_endpoint(&store, url, &events)
            .unwrap()
            .endpoint
            .id;
        (dir, store, id)
    }

    fn worker(store: &Arc<Store>, max_attempts: u32) -> Worker {
        Worker {
            store: Arc::clone(store),
            policy: RetryPolicy {
                max_attempts,
                backoff: Duration::from_secs(10),
            },
            agent: http_agent(),
            waker: Waker::default(),
        }
    }

    fn only_delivery(store: &Store) -> outbox::DeliveryInfo {
        let query = outbox::DeliveryQuery {
            limit: 10,
            ..Default::default()
        };
        let mut rows = store.read(|c| outbox::list_deliveries(c, &query)).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows.remove(0)
    }

    #[test]
    fn a_delivered_event_is_recorded_and_not_sent_again() {
        let (url, server) = answer_once("200 OK", "thanks");
        let (_dir, store, endpoint) = store_with_endpoint(&url);
        super::super::ping(&store, endpoint).unwrap().unwrap();
        let worker = worker(&store, 3);
        assert!(worker.deliver_next().unwrap());
        assert!(!worker.deliver_next().unwrap(), "nothing else is due");
        server.join().unwrap();
        let delivery = only_delivery(&store);
        assert_eq!(
            (delivery.status.as_str(), delivery.attempts),
            ("delivered", 1)
        );
        assert_eq!(delivery.next_attempt_at, None);
        assert!(delivery.delivered_at.is_some());
        assert_eq!(delivery.attempt_log.len(), 1);
        assert_eq!(delivery.attempt_log[0].status_code, Some(200));
    }

    #[test]
    fn a_failure_waits_for_its_retry_and_the_last_failure_gives_up() {
        let (url, server) = answer_once("500 Internal Server Error", "boom");
        let (_dir, store, endpoint) = store_with_endpoint(&url);
        super::super::ping(&store, endpoint).unwrap().unwrap();
        let worker = worker(&store, 2);
        let before = timestamp(OffsetDateTime::now_utc() + Duration::from_secs(9));
        assert!(worker.deliver_next().unwrap());
        server.join().unwrap();
        let first = only_delivery(&store);
        assert_eq!((first.status.as_str(), first.attempts), ("pending", 1));
        assert_eq!(first.last_error.as_deref(), Some("HTTP 500: boom"));
        assert!(
            first
                .next_attempt_at
                .as_deref()
                .is_some_and(|t| t > before.as_str())
        );
        assert!(!worker.deliver_next().unwrap(), "the retry is not due yet");

        // Make the retry due; the receiver is gone, so it is refused.
        store
            .write(|tx| {
                tx.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01T00:00:00.000Z'",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        assert!(worker.deliver_next().unwrap());
        let last = only_delivery(&store);
        assert_eq!((last.status.as_str(), last.attempts), ("failed", 2));
        assert_eq!((last.last_status_code, last.next_attempt_at), (None, None));
        let codes: Vec<Option<u16>> = last.attempt_log.iter().map(|a| a.status_code).collect();
        assert_eq!(codes, [Some(500), None]);
    }

    #[test]
    fn a_claim_hides_the_delivery_until_its_lease_ends() {
        let (_dir, store, endpoint) = store_with_endpoint("http://127.0.0.1:9/");
        super::super::ping(&store, endpoint).unwrap().unwrap();
        let now = OffsetDateTime::now_utc();
        let claim = |at: OffsetDateTime| {
            let lease = timestamp(super::super::later(at, LEASE));
            store.write(|tx| outbox::claim_due(tx, &timestamp(at), &lease))
        };
        let first = claim(now).unwrap();
        assert!(first.is_some_and(|d| d.attempts == 0 && d.secret.starts_with("whsec_")));
        assert!(claim(now).unwrap().is_none(), "leased");
        let after_lease = now + LEASE + Duration::from_secs(1);
        assert!(
            claim(after_lease).unwrap().is_some(),
            "a crashed send is retried"
        );
    }

    #[test]
    fn a_wake_ends_the_wait_at_once_and_is_consumed() {
        let waker = Waker::default();
        waker.wake();
        let started = Instant::now();
        waker.wait(Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(30));
        let started = Instant::now();
        waker.wait(Duration::from_millis(50));
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "the wake was used up"
        );
    }
}
