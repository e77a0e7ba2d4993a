//! Webhooks over real HTTP: the real server sends signed events to a real
//! receiver (a TcpListener thread) that fails on purpose, retries with backoff,
//! and shows every attempt in the admin delivery log.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestServer, assert_problem};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

/// One request as the receiver saw it.
struct Received {
    at: Instant,
    request_line: String,
    /// Header names in lower case.
    headers: HashMap<String, String>,
    body: String,
}

/// A real HTTP receiver on a random port. `status_for(n)` is the status it
/// answers to its n-th request (0-based).
struct Receiver {
    url: String,
    requests: mpsc::Receiver<Received>,
}

impl Receiver {
    fn start(status_for: impl Fn(usize) -> u16 + Send + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/shop", listener.local_addr().unwrap());
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                if let Some(request) = answer(stream, status_for(n)) {
                    let _ = tx.send(request);
                }
            }
        });
        Receiver { url, requests }
    }

    fn next(&self) -> Received {
        self.requests
            .recv_timeout(Duration::from_secs(30))
            .expect("the receiver got no request within 30 s")
    }

    fn nothing_more_within(&self, wait: Duration) -> bool {
        self.requests.recv_timeout(wait).is_err()
    }
}

/// Reads one request (head and Content-Length body) and answers `status`.
fn answer(stream: TcpStream, status: u16) -> Option<Received> {
    let at = Instant::now();
    let raw = common::http::read_request(&stream)?;
    let reply = if status == 200 { "ok" } else { "try later" };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )
    .ok()?;
    Some(Received {
        at,
        request_line: raw.request_line,
        headers: raw.headers,
        body: String::from_utf8(raw.body).ok()?,
    })
}

/// Checks `t=<unix>,v1=<hex>` the way a receiver would: HMAC-SHA256 of
/// "<t>.<body>" with the secret, and a timestamp close to now.
fn assert_signed(request: &Received, secret: &str) {
    let header = &request.headers["x-shopkeep-signature"];
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("malformed signature header {header:?}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", request.body).as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the endpoint secret");
    let sent_at: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - sent_at).abs() < 300,
        "t={t} is not close to now ({now})"
    );
}

fn server_with(max_attempts: &str) -> TestServer {
    TestServer::start_with(
        &[],
        &[
            ("SHOPKEEP_COMMERCE_WEBHOOK_BACKOFF_MS", "100"),
            ("SHOPKEEP_COMMERCE_WEBHOOK_MAX_ATTEMPTS", max_attempts),
        ],
    )
}

/// Registers an endpoint; returns (id, secret).
fn register(server: &TestServer, url: &str, events: &[&str]) -> (i64, String) {
    let response = server
        .admin(Method::POST, "/api/v1/admin/webhooks")
        .json(&json!({"url": url, "events": events}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["url"], url);
    assert_eq!(created["active"], true);
    (created["id"].as_i64().unwrap(), secret)
}

/// Pings an endpoint; returns (event id, delivery id).
fn ping(server: &TestServer, endpoint: i64) -> (String, i64) {
    let path = format!("/api/v1/admin/webhooks/{endpoint}/ping");
    let response = server.admin(Method::POST, &path).send().unwrap();
    assert_eq!(response.status(), 202);
    let pinged: Value = response.json().unwrap();
    (
        pinged["event_id"].as_str().unwrap().to_string(),
        pinged["delivery_id"].as_i64().unwrap(),
    )
}

/// The log entry of delivery `id` once it has left `pending`.
fn settled_delivery(server: &TestServer, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log: Value = server
            .admin(
                Method::GET,
                "/api/v1/admin/webhooks/deliveries?event=webhook.ping",
            )
            .send()
            .unwrap()
            .json()
            .unwrap();
        let entry = log
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("delivery {id} is not in the log: {log}"));
        if entry["status"] != "pending" {
            return entry;
        }
        assert!(Instant::now() < deadline, "still pending: {entry}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn attempt_codes(delivery: &Value) -> Vec<Value> {
    delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect()
}

#[test]
fn a_receiver_that_fails_twice_gets_the_same_signed_event_until_it_answers_200() {
    let server = server_with("8");
    let receiver = Receiver::start(|n| if n < 2 { 500 } else { 200 });
    let (endpoint, secret) = register(&server, &receiver.url, &["order.created"]);
    let (event_id, delivery_id) = ping(&server, endpoint);

    let attempts: Vec<Received> = (0..3).map(|_| receiver.next()).collect();
    for request in &attempts {
        assert_eq!(request.request_line, "POST /hooks/shop HTTP/1.1");
        assert_signed(request, &secret);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["x-shopkeep-event"], "webhook.ping");
        assert_eq!(
            request.headers["x-shopkeep-delivery"],
            delivery_id.to_string()
        );
        let envelope: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            envelope["id"],
            event_id.as_str(),
            "the same event every time"
        );
        assert_eq!(envelope["type"], "webhook.ping");
        assert_eq!(envelope["data"]["endpoint_id"], endpoint);
        assert!(envelope["created_at"].is_string());
        assert_eq!(
            request.body, attempts[0].body,
            "retries resend the same bytes"
        );
    }
    // Backoff of 100 ms doubling: a retry never comes before its wait.
    assert!(attempts[1].at - attempts[0].at >= Duration::from_millis(100));
    assert!(attempts[2].at - attempts[1].at >= Duration::from_millis(200));

    let delivery = settled_delivery(&server, delivery_id);
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["event_id"], event_id.as_str());
    assert_eq!(delivery["last_status_code"], 200);
    assert!(delivery["last_error"].is_null() && delivery["next_attempt_at"].is_null());
    assert!(delivery["delivered_at"].is_string());
    assert_eq!(
        attempt_codes(&delivery),
        [json!(500), json!(500), json!(200)]
    );
    assert!(receiver.nothing_more_within(Duration::from_millis(500)));
}

#[test]
fn a_receiver_that_always_fails_ends_failed_after_max_attempts() {
    let server = server_with("4");
    let receiver = Receiver::start(|_| 503);
    let (endpoint, secret) = register(&server, &receiver.url, &["stock.low"]);
    let (event_id, delivery_id) = ping(&server, endpoint);

    for _ in 0..4 {
        let request = receiver.next();
        assert_signed(&request, &secret);
        let envelope: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(envelope["id"], event_id.as_str());
    }
    let delivery = settled_delivery(&server, delivery_id);
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(delivery["last_status_code"], 503);
    assert_eq!(delivery["last_error"], "HTTP 503: try later");
    assert!(delivery["next_attempt_at"].is_null() && delivery["delivered_at"].is_null());
    assert_eq!(attempt_codes(&delivery), vec![json!(503); 4]);
    assert!(
        receiver.nothing_more_within(Duration::from_millis(1000)),
        "a failed delivery is not tried again"
    );

    let failed: Value = server
        .admin(
            Method::GET,
            "/api/v1/admin/webhooks/deliveries?status=failed&limit=5",
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    let delivered: Value = server
        .admin(
            Method::GET,
            "/api/v1/admin/webhooks/deliveries?status=delivered",
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(delivered, json!([]));
}

#[test]
fn endpoints_are_validated_listed_without_secrets_and_deleted() {
    let mut server = server_with("8");
    let unauthenticated = server
        .client
        .get(server.url("/api/v1/admin/webhooks"))
        .send()
        .unwrap();
    assert_problem(unauthenticated, 401);

    let bad = server
        .admin(Method::POST, "/api/v1/admin/webhooks")
        .json(&json!({"url": "ftp://files.example/in", "events": ["order.created", "order.paid"]}))
        .send()
        .unwrap();
    let problem = assert_problem(bad, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "events[1]"], "{problem}");
    let missing_events = server
        .admin(Method::POST, "/api/v1/admin/webhooks")
        .json(&json!({"url": "https://shop.example/hook"}))
        .send()
        .unwrap();
    assert_problem(missing_events, 422);

    let (id, secret) = register(
        &server,
        "https://shop.example/hook",
        &["stock.low", "order.created"],
    );
    let listed: Value = server
        .admin(Method::GET, "/api/v1/admin/webhooks")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["events"], json!(["order.created", "stock.low"]));
    assert!(
        !listed.to_string().contains(&secret),
        "secrets are shown once"
    );

    for (query, field) in [
        ("status=lost", "status"),
        ("event=order.paid", "event"),
        ("limit=0", "limit"),
    ] {
        let path = format!("/api/v1/admin/webhooks/deliveries?{query}");
        let problem = assert_problem(server.admin(Method::GET, &path).send().unwrap(), 400);
        assert_eq!(problem["errors"][0]["field"], field);
    }

    let path = format!("/api/v1/admin/webhooks/{id}");
    let deleted = server.admin(Method::DELETE, &path).send().unwrap();
    assert_eq!(deleted.status(), 204);
    assert_problem(server.admin(Method::DELETE, &path).send().unwrap(), 404);
    let ping_path = format!("/api/v1/admin/webhooks/{id}/ping");
    assert_problem(server.admin(Method::POST, &ping_path).send().unwrap(), 404);
    assert_problem(
        server
            .admin(Method::DELETE, "/api/v1/admin/webhooks/abc")
            .send()
            .unwrap(),
        404,
    );

    // The dispatcher stops with the server.
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success(), "{status:?}");
}

#[test]
fn orders_and_low_stock_are_announced_signed_as_they_happen() {
    use common::shop::{Shopper, create_product, set_status};
    let server = server_with("8");
    let receiver = Receiver::start(|_| 200);
    let (_, secret) = register(
        &server,
        &receiver.url,
        &["order.created", "order.status_changed", "stock.low"],
    );
    // Six on the shelf and a threshold of five: selling one crosses it.
    let saffron = create_product(&server, "saffron-threads", "8.00", Some(6));
    let shopper = Shopper::new(&server);
    let order = shopper.buy(saffron, 1);
    let number = order["number"].as_str().unwrap();
    assert_eq!(set_status(&server, number, "paid").status(), 200);

    let mut events: HashMap<String, Value> = HashMap::new();
    for _ in 0..3 {
        let request = receiver.next();
        assert_signed(&request, &secret);
        let envelope: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            request.headers["x-shopkeep-event"],
            envelope["type"].as_str().unwrap()
        );
        events.insert(
            envelope["type"].as_str().unwrap().to_string(),
            envelope["data"].clone(),
        );
    }
    assert_eq!(events["order.created"]["number"], number);
    assert_eq!(events["order.created"]["total_minor"], 800);
    assert_eq!(events["order.created"]["lines"][0]["product_id"], saffron);
    assert_eq!(events["order.status_changed"]["status"], "paid");
    assert_eq!(events["order.status_changed"]["previous_status"], "pending");
    assert_eq!(events["stock.low"]["product_id"], saffron);
    assert_eq!(events["stock.low"]["stock"], 5);
    assert!(
        receiver.nothing_more_within(Duration::from_millis(500)),
        "stock.low is sent once, when the threshold is crossed"
    );
}
