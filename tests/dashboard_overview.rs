//! What the dashboard's Overview and Orders pages read over HTTP:
//! `GET /api/v1/admin/overview` (today's sales and conversations, AI spend
//! against the cap, the tier serving, low stock) and the order list's text
//! search (`q`), against the real binary.

mod common;

use common::shop::{Chat, Shopper, create_product};
use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

fn overview(server: &TestServer) -> Value {
    let response = server
        .admin(Method::GET, "/api/v1/admin/overview")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

fn orders(server: &TestServer, query: &str) -> reqwest::blocking::Response {
    server
        .admin(Method::GET, &format!("/api/v1/admin/orders?{query}"))
        .send()
        .unwrap()
}

fn numbers(response: reqwest::blocking::Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_overview_counts_todays_orders_conversations_and_low_stock() {
    let server = TestServer::start_with(&[], &[("SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP", "25")]);
    assert_problem(server.get("/api/v1/admin/overview"), 401);

    let before = overview(&server);
    assert_eq!(before["currency"], "USD");
    assert_eq!(before["today"]["orders"], 0);
    assert_eq!(before["today"]["revenue_minor"], 0);
    assert_eq!(before["conversations"]["started_today"], 0);
    assert_eq!(before["ai"]["remote_spend"]["spent_micros"], 0);
    assert_eq!(before["ai"]["remote_spend"]["cap_micros"], 25_000_000);
    assert_eq!(before["ai"]["remote_spend"]["cap"], "25.000000");
    assert!(before["ai"]["alerts"].as_array().unwrap().is_empty());
    // The test server runs no model: the rules answer, and the overview says so.
    assert_eq!(before["serving"]["tier"], "free");
    assert!(before["serving"]["models"].as_array().unwrap().is_empty());
    assert!(!before["serving"]["reason"].as_str().unwrap().is_empty());
    let low_before = before["low_stock"]["total"].as_i64().unwrap();

    let scarce = create_product(&server, "last-jar-of-honey", "7.50", Some(3));
    let shopper = Shopper::new(&server);
    let order = shopper.buy(scarce, 2);

    let mut chat = Chat::new(&shopper);
    chat.say("I want to talk to a person please");
    let conversation = chat.conversation.clone().unwrap();

    let after = overview(&server);
    assert_eq!(after["today"]["orders"], 1);
    assert_eq!(after["today"]["revenue_minor"], order["total_minor"]);
    assert_eq!(after["today"]["units"], 2);
    assert_eq!(after["conversations"]["started_today"], 1);
    assert_eq!(after["conversations"]["flagged_today"], 1);
    assert_eq!(after["conversations"]["waiting"], 1);
    assert_eq!(after["conversations"]["taken_over"], 0);
    // One unit of honey left: it is low now.
    assert_eq!(
        after["low_stock"]["total"].as_i64().unwrap(),
        low_before + 1
    );

    let taken = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/conversations/{conversation}/takeover"),
        )
        .json(&json!({"name": "Ana"}))
        .send()
        .unwrap();
    assert_eq!(taken.status(), 204);
    let handled = overview(&server);
    assert_eq!(handled["conversations"]["waiting"], 0);
    assert_eq!(handled["conversations"]["taken_over"], 1);
    assert_eq!(handled["conversations"]["flagged_today"], 1);

    let document: Value = server.get_json("/api/openapi.json");
    let operation = &document["paths"]["/api/v1/admin/overview"]["get"];
    assert_eq!(operation["tags"][0], "admin");
    assert!(
        document["components"]["schemas"]["OverviewResponse"].is_object(),
        "the response is documented"
    );
}

#[test]
fn the_order_list_finds_orders_by_number_email_or_name() {
    let server = TestServer::start();
    let product = create_product(&server, "plain-biscuits", "3.00", Some(50));
    let ana = Shopper::new(&server);
    let first = ana.buy(product, 1);
    let bo = Shopper::new(&server);
    bo.add_ok(product, 1);
    let placed = bo.checkout_with(
        json!({
            "contact": {"name": "Bo Lindqvist", "email": "bo.l@example.org"},
            "delivery": {"method": "pickup"},
            "payment_method": "manual"
        }),
        None,
    );
    assert_eq!(placed.status(), 201, "{:?}", placed.text());
    let second: Value = placed.json().unwrap();
    let (first, second) = (
        first["number"].as_str().unwrap().to_string(),
        second["number"].as_str().unwrap().to_string(),
    );

    assert_eq!(
        numbers(orders(&server, "q=LINDQVIST")),
        vec![second.clone()]
    );
    assert_eq!(
        numbers(orders(&server, "q=ana%40example")),
        vec![first.clone()]
    );
    assert_eq!(
        numbers(orders(&server, &format!("q={first}"))),
        vec![first.clone()]
    );
    assert_eq!(
        numbers(orders(&server, "q=%20%20")).len(),
        2,
        "blank is no filter"
    );
    // Wildcards are searched for literally.
    assert!(numbers(orders(&server, "q=%25")).is_empty());
    assert!(numbers(orders(&server, "q=_")).is_empty());
    // The search narrows the other filters and pages like them.
    assert!(numbers(orders(&server, "q=lindqvist&status=paid")).is_empty());
    assert_eq!(
        numbers(orders(&server, "q=example&limit=1")),
        vec![second.clone()]
    );

    let long = "x".repeat(201);
    let problem = assert_problem(orders(&server, &format!("q={long}")), 400);
    assert_eq!(problem["errors"][0]["field"], "q");
}
