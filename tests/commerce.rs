//! The shopper's journey over HTTP against the real binary: cart, checkout,
//! orders and their statuses, accounts, vouchers at the till, idempotent
//! checkout, concurrent checkouts of the last units, and crashes mid-checkout.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::shop::{Shopper, checkout_details, create_product, product_stock, set_status};
use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

fn error_fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_guest_fills_a_cart_checks_out_and_follows_the_order() {
    let server = TestServer::start_with(&[], &[("SHOPKEEP_COMMERCE_TAX_RATE_PERCENT", "8.25")]);
    let oats = create_product(&server, "rolled-oats", "4.00", Some(5));
    let honey = create_product(&server, "wild-honey", "7.50", None);
    let shopper = Shopper::new(&server);

    let first = shopper.add(oats, 2);
    assert_eq!(first.status(), 200);
    let cookie = first
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("shopkeep_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        shopper.token().is_some(),
        "API clients learn their session from X-Session-Id"
    );
    let cart = shopper.add_ok(honey, 1);
    assert_eq!(cart["item_count"], 3);
    assert_eq!(cart["subtotal"], "15.50");
    // 8.25% of 15.50 is 1.27875, rounded half up to 1.28.
    assert_eq!(cart["tax"], "1.28");
    assert_eq!(cart["total"], "16.78");
    assert_eq!(cart["ready_for_checkout"], true);

    let too_many = shopper.add(oats, 4);
    let problem = assert_problem(too_many, 409);
    assert_eq!(problem["type"], "/problems/out-of-stock");
    assert!(
        problem["detail"].as_str().unwrap().contains("only 5"),
        "{problem}"
    );
    assert_eq!(
        error_fields(&assert_problem(shopper.add(oats, 0), 422)),
        ["quantity".to_string()].into()
    );
    assert_eq!(
        error_fields(&assert_problem(shopper.add(999_999, 1), 400)),
        ["product_id".to_string()].into()
    );

    let honey_line = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == honey)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let changed = shopper.send(
        Method::PATCH,
        &format!("/api/v1/cart/items/{honey_line}"),
        Some(json!({"quantity": 2})),
        &[],
    );
    assert_eq!(changed.json::<Value>().unwrap()["subtotal"], "23.00");
    let removed = shopper.send(
        Method::DELETE,
        &format!("/api/v1/cart/items/{honey_line}"),
        None,
        &[],
    );
    assert_eq!(removed.json::<Value>().unwrap()["subtotal"], "8.00");
    assert_problem(
        shopper.send(
            Method::DELETE,
            &format!("/api/v1/cart/items/{honey_line}"),
            None,
            &[],
        ),
        404,
    );

    let missing = shopper.checkout_with(json!({"contact": {"email": "not-an-email"}}), None);
    assert_eq!(
        error_fields(&assert_problem(missing, 422)),
        ["contact.email", "contact.name", "delivery.address"]
            .map(String::from)
            .into()
    );
    let placed = shopper.checkout(None);
    assert_eq!(placed.status(), 201);
    let location = placed.headers()["location"].to_str().unwrap().to_string();
    let order: Value = placed.json().unwrap();
    let number = order["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("SK-"), "{number}");
    assert_eq!(location, format!("/api/v1/orders/{number}"));
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total"], "8.66", "4.00 × 2 plus 8.25% tax");
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(order["contact"]["email"], "ana@example.com");
    assert_eq!(
        product_stock(&server, oats),
        Some(3),
        "stock moved with the order"
    );
    assert_eq!(shopper.cart()["item_count"], 0, "checkout empties the cart");

    let mine = shopper.get("/api/v1/orders").json::<Value>().unwrap();
    assert_eq!(mine["orders"][0]["number"], number.as_str());
    assert_eq!(shopper.get(&location).status(), 200);
    let stranger = Shopper::new(&server);
    assert_problem(stranger.get(&location), 404);

    for status in ["paid", "fulfilled"] {
        assert_eq!(
            set_status(&server, &number, status).status(),
            200,
            "to {status}"
        );
    }
    let followed = shopper.get(&location).json::<Value>().unwrap();
    assert_eq!(followed["status"], "fulfilled");
    let history: Vec<(&str, &str)> = followed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["to"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].0, "pending");
    assert!(history[0].1.starts_with("guest:"));
    assert_eq!((history[1].0, history[2].0), ("paid", "fulfilled"));
    assert!(history[2].1.starts_with("admin:key:"));

    // A shopper may cancel their own pending order; the stock comes back.
    let second = shopper.buy(oats, 3);
    assert_eq!(product_stock(&server, oats), Some(0));
    let cancel = shopper.post(
        &format!(
            "/api/v1/orders/{}/cancel",
            second["number"].as_str().unwrap()
        ),
        json!({}),
    );
    assert_eq!(cancel.json::<Value>().unwrap()["status"], "cancelled");
    assert_eq!(product_stock(&server, oats), Some(3));
}

#[test]
fn every_status_transition_is_allowed_or_refused_by_the_lifecycle() {
    let server = TestServer::start();
    let tea = create_product(&server, "green-tea", "3.00", Some(1000));
    let shopper = Shopper::new(&server);
    let allowed = [
        ("pending", "paid"),
        ("pending", "cancelled"),
        ("paid", "fulfilled"),
        ("paid", "refunded"),
        ("fulfilled", "refunded"),
    ];
    let path_to = |status: &str| -> Vec<&'static str> {
        match status {
            "pending" => vec![],
            "paid" => vec!["paid"],
            "fulfilled" => vec!["paid", "fulfilled"],
            "cancelled" => vec!["cancelled"],
            "refunded" => vec!["paid", "refunded"],
            _ => unreachable!(),
        }
    };
    let statuses = ["pending", "paid", "fulfilled", "cancelled", "refunded"];
    for from in statuses {
        for to in statuses {
            let order = shopper.buy(tea, 1);
            let number = order["number"].as_str().unwrap();
            for step in path_to(from) {
                assert_eq!(set_status(&server, number, step).status(), 200);
            }
            let response = set_status(&server, number, to);
            if allowed.contains(&(from, to)) {
                assert_eq!(response.status(), 200, "{from} -> {to}");
                assert_eq!(response.json::<Value>().unwrap()["status"], to);
            } else {
                let problem = assert_problem(response, 409);
                assert_eq!(problem["type"], "/problems/order-status", "{from} -> {to}");
                assert!(
                    problem["detail"].as_str().unwrap().contains(from),
                    "{problem}"
                );
            }
        }
    }
    let pending = shopper.buy(tea, 1);
    let bad = set_status(&server, pending["number"].as_str().unwrap(), "shipped");
    assert_eq!(
        error_fields(&assert_problem(bad, 400)),
        ["status".to_string()].into()
    );
    assert_problem(set_status(&server, "SK-999999", "paid"), 404);
    let anonymous = server
        .client
        .post(server.url("/api/v1/admin/orders/SK-1001/status"))
        .json(&json!({"status": "paid"}))
        .send()
        .unwrap();
    assert_problem(anonymous, 401);
    let listed: Value = server
        .admin(
            Method::GET,
            "/api/v1/admin/orders?status=cancelled&limit=100",
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let cancelled = listed["orders"].as_array().unwrap();
    assert!(!cancelled.is_empty() && cancelled.iter().all(|o| o["status"] == "cancelled"));
}

#[test]
fn signing_in_merges_the_guest_cart_and_keeps_guest_orders() {
    let server = TestServer::start();
    let bread = create_product(&server, "sourdough", "5.00", Some(50));
    let jam = create_product(&server, "apricot-jam", "3.50", Some(50));

    let customer = Shopper::new(&server);
    customer.get("/api/v1/cart");
    let registered = customer.post(
        "/api/v1/account/register",
        json!({"email": "Lee@Example.com", "password": "long enough pass", "name": "Lee"}),
    );
    assert_eq!(registered.status(), 201);
    assert_eq!(
        registered.json::<Value>().unwrap()["email"],
        "lee@example.com"
    );
    customer.add_ok(bread, 1);
    assert_eq!(
        customer.post("/api/v1/account/logout", json!({})).status(),
        204
    );

    let guest = Shopper::new(&server);
    guest.add_ok(bread, 2);
    guest.add_ok(jam, 1);
    let guest_order = guest.buy(jam, 1);
    guest.add_ok(bread, 2);
    guest.add_ok(jam, 1);
    let guest_token = guest.token().unwrap();
    assert_problem(guest.get("/api/v1/account"), 401);
    let wrong = guest.post(
        "/api/v1/account/login",
        json!({"email": "lee@example.com", "password": "not the password"}),
    );
    assert_problem(wrong, 401);
    let login = guest.post(
        "/api/v1/account/login",
        json!({"email": "LEE@example.com", "password": "long enough pass"}),
    );
    assert_eq!(login.status(), 200);
    assert_ne!(
        guest.token().unwrap(),
        guest_token,
        "signing in starts a new session"
    );
    let cart = guest.cart();
    let quantities: BTreeSet<(i64, i64)> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_i64().unwrap(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        quantities,
        [(bread, 3), (jam, 1)].into(),
        "1 bread from the account + 2 from the guest cart"
    );
    assert_eq!(
        guest.get("/api/v1/account").json::<Value>().unwrap()["name"],
        "Lee"
    );
    let orders = guest.get("/api/v1/orders").json::<Value>().unwrap();
    assert_eq!(
        orders["orders"][0]["number"], guest_order["number"],
        "the guest order belongs to the account now"
    );

    let old_session = Shopper::new(&server);
    old_session.set_token(Some(guest_token));
    assert_eq!(
        old_session.cart()["item_count"],
        0,
        "the pre-login token is worth nothing now"
    );
    let taken = Shopper::new(&server).post(
        "/api/v1/account/register",
        json!({"email": "lee@example.com", "password": "another password"}),
    );
    assert_problem(taken, 409);
    let invalid = Shopper::new(&server).post(
        "/api/v1/account/register",
        json!({"email": "x", "password": "short"}),
    );
    assert_eq!(
        error_fields(&assert_problem(invalid, 422)),
        ["email", "password"].map(String::from).into()
    );
}

#[test]
fn a_changed_price_is_shown_and_must_be_accepted_before_checkout() {
    let server = TestServer::start();
    let coffee = create_product(&server, "coffee-beans", "12.00", Some(10));
    let shopper = Shopper::new(&server);
    shopper.add_ok(coffee, 1);
    let patched = server
        .admin(Method::PATCH, &format!("/api/v1/products/{coffee}"))
        .json(&json!({"price": "13.50"}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    let cart = shopper.cart();
    assert_eq!(cart["items"][0]["previous_unit_price"], "12.00");
    assert_eq!(cart["items"][0]["unit_price"], "13.50");
    assert!(
        cart["notices"][0]
            .as_str()
            .unwrap()
            .contains("changed from $12.00 to $13.50"),
        "{cart}"
    );
    let refused = assert_problem(shopper.checkout(None), 409);
    assert_eq!(refused["type"], "/problems/price-changed");
    assert_eq!(product_stock(&server, coffee), Some(10), "nothing was sold");
    let accepted = shopper.checkout(None);
    assert_eq!(accepted.status(), 201);
    assert_eq!(accepted.json::<Value>().unwrap()["total"], "13.50");
    assert_eq!(
        assert_problem(shopper.checkout(None), 409)["type"],
        "/problems/empty-cart"
    );
}

fn create_voucher(server: &TestServer, body: Value) {
    let response = server
        .admin(Method::POST, "/api/v1/admin/vouchers")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "{body}: {:?}", response.text());
}

fn apply(shopper: &Shopper, code: &str) -> reqwest::blocking::Response {
    shopper.send(
        Method::PUT,
        "/api/v1/cart/voucher",
        Some(json!({ "code": code })),
        &[],
    )
}

#[test]
fn every_voucher_rule_holds_at_the_cart_and_at_checkout() {
    let server = TestServer::start();
    let cheese = create_product(&server, "aged-cheddar", "9.99", Some(100));
    let rules = [
        json!({"code": "SAVE10", "kind": "percent", "value": "10"}),
        json!({"code": "FIVEOFF", "kind": "fixed", "value": "5.00", "minimum_spend": "20.00"}),
        json!({"code": "BIGGER", "kind": "fixed", "value": "50.00"}),
        json!({"code": "OLDCODE", "kind": "percent", "value": "5", "ends_at": "2020-01-01T00:00:00Z"}),
        json!({"code": "SOONER", "kind": "percent", "value": "5", "starts_at": "2099-01-01T00:00:00Z"}),
        json!({"code": "PAUSED", "kind": "percent", "value": "5", "active": false}),
        json!({"code": "ONCEONLY", "kind": "percent", "value": "5", "usage_limit": 1}),
        json!({"code": "ONEEACH", "kind": "percent", "value": "5", "per_customer_limit": 1}),
    ];
    for rule in rules {
        create_voucher(&server, rule);
    }
    let shopper = Shopper::new(&server);
    shopper.add_ok(cheese, 1);
    let refusal = |code: &str| {
        assert_problem(apply(&shopper, code), 422)["type"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(refusal("NOSUCH"), "/problems/voucher/unknown");
    assert_eq!(refusal("OLDCODE"), "/problems/voucher/expired");
    assert_eq!(refusal("SOONER"), "/problems/voucher/not_started");
    assert_eq!(refusal("PAUSED"), "/problems/voucher/inactive");
    let short = assert_problem(apply(&shopper, "FIVEOFF"), 422);
    assert_eq!(short["type"], "/problems/voucher/minimum_spend");
    assert!(
        short["detail"].as_str().unwrap().contains("$20.00"),
        "{short}"
    );
    assert_eq!(short["errors"][0]["field"], "code");

    let percent: Value = apply(&shopper, "save10").json().unwrap();
    assert_eq!(
        percent["discount"], "1.00",
        "10% of 9.99 rounds half up to 1.00"
    );
    assert_eq!(percent["total"], "8.99");
    let capped: Value = apply(&shopper, "BIGGER").json().unwrap();
    assert_eq!(
        capped["discount"], "9.99",
        "a discount never exceeds the subtotal"
    );
    assert_eq!(capped["total"], "0.00");
    shopper.add_ok(cheese, 2);
    let fixed: Value = apply(&shopper, "FIVEOFF").json().unwrap();
    assert_eq!(
        (fixed["subtotal"].as_str(), fixed["discount"].as_str()),
        (Some("29.97"), Some("5.00"))
    );
    // Lowering the cart below the minimum keeps the code but shows why it no longer applies.
    let line = fixed["items"][0]["id"].as_i64().unwrap();
    let lowered: Value = shopper
        .send(
            Method::PATCH,
            &format!("/api/v1/cart/items/{line}"),
            Some(json!({"quantity": 1})),
            &[],
        )
        .json()
        .unwrap();
    assert_eq!(lowered["discount"], "0.00");
    assert_eq!(lowered["voucher_problem"]["kind"], "minimum_spend");
    let at_till = assert_problem(shopper.checkout(None), 422);
    assert_eq!(at_till["type"], "/problems/voucher/minimum_spend");
    shopper.send(Method::DELETE, "/api/v1/cart/voucher", None, &[]);

    apply(&shopper, "ONCEONLY");
    let used = shopper.checkout(None);
    assert_eq!(used.status(), 201);
    assert_eq!(used.json::<Value>().unwrap()["voucher_code"], "ONCEONLY");
    let other = Shopper::new(&server);
    other.add_ok(cheese, 1);
    assert_eq!(
        assert_problem(apply(&other, "ONCEONLY"), 422)["type"],
        "/problems/voucher/used_up"
    );

    other.post(
        "/api/v1/account/register",
        json!({"email": "kim@example.com", "password": "kim's password"}),
    );
    apply(&other, "ONEEACH");
    assert_eq!(other.checkout(None).status(), 201);
    other.add_ok(cheese, 1);
    assert_eq!(
        assert_problem(apply(&other, "ONEEACH"), 422)["type"],
        "/problems/voucher/customer_limit"
    );
    // Cancelling the order that used it gives the customer their use back.
    let orders = other.get("/api/v1/orders").json::<Value>().unwrap();
    let number = orders["orders"][0]["number"].as_str().unwrap().to_string();
    assert_eq!(set_status(&server, &number, "cancelled").status(), 200);
    assert_eq!(apply(&other, "ONEEACH").status(), 200);
}

#[test]
fn replaying_a_checkout_with_the_same_key_returns_the_same_order() {
    let server = TestServer::start();
    let rice = create_product(&server, "arborio-rice", "2.20", Some(20));
    let shopper = Shopper::new(&server);
    shopper.add_ok(rice, 2);
    let first = shopper.checkout(Some("order-attempt-1"));
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first: Value = first.json().unwrap();
    for _ in 0..3 {
        let again = shopper.checkout(Some("order-attempt-1"));
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: Value = again.json().unwrap();
        assert_eq!(again["number"], first["number"]);
        assert_eq!(again["total"], first["total"]);
    }
    assert_eq!(
        product_stock(&server, rice),
        Some(18),
        "stock was taken once"
    );
    let mine = shopper.get("/api/v1/orders").json::<Value>().unwrap();
    assert_eq!(mine["orders"].as_array().unwrap().len(), 1);
    let mut different = checkout_details();
    different["contact"]["name"] = json!("Somebody Else");
    let reused = assert_problem(
        shopper.checkout_with(different, Some("order-attempt-1")),
        422,
    );
    assert_eq!(reused["type"], "/problems/idempotency-key-reused");
    // Another shopper's identical key is theirs alone.
    let neighbour = Shopper::new(&server);
    neighbour.add_ok(rice, 1);
    let theirs: Value = neighbour.checkout(Some("order-attempt-1")).json().unwrap();
    assert_ne!(theirs["number"], first["number"]);
}

/// Load tests send every shopper from 127.0.0.1: the per-address checkout
/// budget (tests/hardening.rs) would refuse most of them.
const NO_CHECKOUT_LIMIT: (&str, &str) = ("SHOPKEEP_LIMITS_CHECKOUT_PER_MINUTE", "0");

#[test]
fn two_hundred_concurrent_checkouts_sell_exactly_the_ten_in_stock() {
    let server = TestServer::start_with(&[], &[("SHOPKEEP_WORKERS", "8"), NO_CHECKOUT_LIMIT]);
    let truffle = create_product(&server, "white-truffle", "99.00", Some(10));
    let shoppers: Vec<Shopper> = (0..200).map(|_| Shopper::new(&server)).collect();
    for shopper in &shoppers {
        shopper.add_ok(truffle, 1);
    }
    let start = Arc::new(Barrier::new(shoppers.len()));
    let outcomes: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shoppers
            .iter()
            .map(|shopper| {
                let start = Arc::clone(&start);
                scope.spawn(move || {
                    start.wait();
                    let response = shopper.checkout(None);
                    (
                        response.status().as_u16(),
                        response.json::<Value>().unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sold: Vec<&Value> = outcomes
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let refused: Vec<&Value> = outcomes
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(sold.len(), 10, "exactly the stock is sold");
    assert_eq!(
        refused.len(),
        190,
        "every other shopper is told: {outcomes:?}"
    );
    for body in refused {
        assert_eq!(body["type"], "/problems/out-of-stock");
        assert!(
            body["detail"].as_str().unwrap().contains("out of stock"),
            "{body}"
        );
    }
    let numbers: BTreeSet<&str> = sold.iter().map(|o| o["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 10);
    assert_eq!(product_stock(&server, truffle), Some(0));
    let all: Value = server
        .admin(Method::GET, "/api/v1/admin/orders?limit=100")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(all["orders"].as_array().unwrap().len(), 10);
}

/// Orders acknowledged to a client during a checkout load, across SIGKILLs.
#[test]
fn a_server_killed_mid_checkout_loses_no_acknowledged_order_and_leaves_no_half_order() {
    const INITIAL_STOCK: i64 = 100_000;
    const ROUNDS: u64 = 4;
    let mut server = TestServer::start_with(&[], &[NO_CHECKOUT_LIMIT]);
    let flour = create_product(&server, "bread-flour", "1.25", Some(INITIAL_STOCK));
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    for round in 0..ROUNDS {
        let deadline = Instant::now() + Duration::from_millis(1500 + 300 * round);
        let killer = std::thread::spawn({
            let pid = server.pid();
            move || {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .unwrap();
            }
        });
        let acked: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let shopper = Shopper::new(&server);
                    scope.spawn(move || load_until_killed(&shopper, flour))
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        killer.join().unwrap();
        let _ = server.wait();
        assert!(
            !acked.is_empty(),
            "round {round} placed orders before the kill"
        );
        acknowledged.extend(acked);
        if round < ROUNDS - 1 {
            let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
            server = TestServer::start_in(data_dir, &[], &[NO_CHECKOUT_LIMIT]);
        }
    }
    // Reopen the database the last kill left behind, as the next start would.
    let db = server.data_dir.path().join("shopkeep.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: BTreeSet<String> = conn
        .prepare("SELECT number FROM orders")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged orders missing after SIGKILL: {lost:?}"
    );
    let half_written: i64 = conn
        .query_row(
            "SELECT count(*) FROM orders o WHERE
               NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)
               OR NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id)
               OR o.subtotal_minor <> (SELECT sum(line_total_minor) FROM order_lines l WHERE l.order_id = o.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        half_written, 0,
        "every order has its lines, totals and first event"
    );
    let (sold, stock): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT coalesce(sum(quantity), 0) FROM order_lines), (SELECT stock FROM products WHERE handle = 'bread-flour')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        sold + stock,
        INITIAL_STOCK,
        "stock moved exactly with the orders that exist"
    );
    assert!(stored.len() >= acknowledged.len());
}

/// Adds and checks out until the server stops answering; returns the order
/// numbers that were acknowledged with 201.
fn load_until_killed(shopper: &Shopper, product: i64) -> Vec<String> {
    let mut acked = Vec::new();
    loop {
        let add = shopper.try_send(
            Method::POST,
            "/api/v1/cart/items",
            Some(json!({"product_id": product, "quantity": 1})),
            &[],
        );
        if add.is_err() {
            return acked;
        }
        let placed = shopper.try_send(
            Method::POST,
            "/api/v1/checkout",
            Some(checkout_details()),
            &[],
        );
        let Ok(placed) = placed else {
            return acked;
        };
        // Acknowledged means the client got the order back in full.
        if placed.status() == 201
            && let Ok(order) = placed.json::<Value>()
        {
            acked.push(order["number"].as_str().unwrap().to_string());
        }
    }
}
