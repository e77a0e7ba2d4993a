//! Sales analytics over HTTP against the real server: the admin key is
//! required, bad ranges are 400s naming the field, an empty shop answers the
//! full shape with zero days, and the low-stock list matches the demo catalog.
//! (Order-driven figures are unit-tested in `commerce::analytics`; checkout
//! over HTTP adds them here once it exists.)

mod common;

use std::path::Path;

use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::Value;

const ROUTE: &str = "/api/v1/admin/analytics";

fn report(server: &TestServer, query: &str) -> Value {
    let response = server
        .admin(Method::GET, &format!("{ROUTE}{query}"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "GET {ROUTE}{query}");
    response.json().unwrap()
}

fn utc_today() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// What the low-stock list must hold for the demo catalog at `threshold`:
/// (stock, product name, variant title), from the catalog file itself.
fn demo_low_stock(threshold: i64) -> Vec<(i64, String, Option<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/catalog.ndjson");
    let mut low = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let product: Value = serde_json::from_str(line).unwrap();
        if product["active"] == false {
            continue;
        }
        let name = product["name"].as_str().unwrap().to_string();
        let variants = product["variants"].as_array().unwrap();
        if variants.is_empty() {
            if let Some(stock) = product["stock"].as_i64().filter(|s| *s <= threshold) {
                low.push((stock, name, None));
            }
            continue;
        }
        for variant in variants {
            if let Some(stock) = variant["stock"].as_i64().filter(|s| *s <= threshold) {
                let title = variant["title"].as_str().map(str::to_string);
                low.push((stock, name.clone(), title));
            }
        }
    }
    low.sort();
    low
}

#[test]
fn analytics_needs_the_admin_key() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    assert_problem(server.get(ROUTE), 401);
    let wrong = server
        .client
        .get(server.url(ROUTE))
        .bearer_auth("shk_not-a-key")
        .send()
        .unwrap();
    assert_problem(wrong, 401);
}

#[test]
fn bad_ranges_are_400s_that_name_the_field() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let cases = [
        ("?from=2025-02-30", "from"),
        ("?from=01/02/2025", "from"),
        ("?to=yesterday", "to"),
        ("?from=2025-03-02&to=2025-03-01", "from"),
        ("?from=2024-01-01&to=2025-01-01", "from"),
        ("?from=2025-01-01&days=7", "days"),
    ];
    for (query, field) in cases {
        let response = server
            .admin(Method::GET, &format!("{ROUTE}{query}"))
            .send()
            .unwrap();
        let problem = assert_problem(response, 400);
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        assert!(
            problem["errors"][0]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{problem}"
        );
    }
}

#[test]
fn an_empty_shop_answers_every_day_with_zeros() {
    let server = TestServer::start_with(
        &["--no-demo"],
        &[("SHOPKEEP_COMMERCE_LOW_STOCK_THRESHOLD", "9")],
    );
    let default = report(&server, "");
    assert_eq!(default["currency"], "USD");
    assert_eq!(default["to"], utc_today().as_str(), "{default}");
    let days = default["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "the last 30 days by default");
    assert_eq!(days[0]["day"], default["from"]);
    assert_eq!(days[29]["day"], default["to"]);
    for day in days {
        for figure in ["orders", "revenue_minor", "units", "cancelled", "refunded"] {
            assert_eq!(day[figure], 0, "{day}");
        }
        assert_eq!(day["average_order_value_minor"], 0, "{day}");
    }
    for figure in [
        "orders",
        "revenue_minor",
        "discount_minor",
        "tax_minor",
        "units",
        "average_order_value_minor",
        "cancelled",
        "refunded",
        "refunded_minor",
    ] {
        assert_eq!(default["totals"][figure], 0, "{figure}: {default}");
    }
    assert_eq!(default["top_products"], serde_json::json!([]));
    assert_eq!(default["top_categories"], serde_json::json!([]));
    assert_eq!(default["low_stock"]["threshold"], 9);
    assert_eq!(default["low_stock"]["total"], 0);
    assert_eq!(default["low_stock"]["items"], serde_json::json!([]));

    let leap_year = report(&server, "?from=2024-01-01&to=2024-12-31");
    let days = leap_year["days"].as_array().unwrap();
    assert_eq!(days.len(), 366, "a leap year is the longest range allowed");
    assert_eq!(days[59]["day"], "2024-02-29");
    assert_eq!(
        (leap_year["from"].as_str(), leap_year["to"].as_str()),
        (Some("2024-01-01"), Some("2024-12-31"))
    );
}

#[test]
fn the_low_stock_list_matches_the_demo_catalog() {
    let server = TestServer::start();
    let expected = demo_low_stock(5);
    assert!(!expected.is_empty(), "the demo catalog has low stock");
    let body = report(&server, "?from=2025-01-01&to=2025-01-07");
    let low = &body["low_stock"];
    assert_eq!(low["threshold"], 5);
    assert_eq!(low["total"], expected.len() as u64, "{low}");
    let items = low["items"].as_array().unwrap();
    let listed: Vec<(i64, String, Option<String>)> = items
        .iter()
        .map(|i| {
            (
                i["stock"].as_i64().unwrap(),
                i["name"].as_str().unwrap().to_string(),
                i["variant_title"].as_str().map(str::to_string),
            )
        })
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert!(
        listed.windows(2).all(|w| w[0].0 <= w[1].0),
        "emptiest first: {listed:?}"
    );
    for item in items {
        let product = server.get_json(&format!("/api/v1/products/{}", item["product_id"]));
        assert_eq!(product["handle"], item["handle"]);
        assert_eq!(product["active"], true);
    }
}

/// The search side of profiles: the flag that turns personal boosts off is
/// a known parameter, and a bad value is a 400 naming it.
#[test]
fn search_takes_a_personalize_flag() {
    let server = TestServer::start();
    server.wait_for_search();
    let off = server.get_json("/api/v1/search?q=sourdough&personalize=false");
    let on = server.get_json("/api/v1/search?q=sourdough");
    assert!(!off["hits"].as_array().unwrap().is_empty());
    assert_eq!(
        off["hits"], on["hits"],
        "a guest's results are the same either way"
    );
    let problem = assert_problem(
        server.get("/api/v1/search?q=sourdough&personalize=maybe"),
        400,
    );
    assert_eq!(problem["errors"][0]["field"], "personalize");
}

#[test]
fn orders_move_the_sales_figures_and_teach_the_buyer_profile() {
    use common::shop::{Shopper, create_product, set_status};
    use serde_json::json;
    let server = TestServer::start();
    let olive_oil = create_product(&server, "olive-oil", "11.00", Some(40));
    let capers = create_product(&server, "capers", "2.50", Some(40));
    let buyer = Shopper::new(&server);
    assert_problem(buyer.get("/api/v1/account/profile"), 401);
    let registered = buyer.post(
        "/api/v1/account/register",
        json!({"email": "mia@example.com", "password": "mia's password"}),
    );
    assert_eq!(registered.status(), 201);
    buyer.buy(olive_oil, 2);
    let second = buyer.buy(capers, 4);
    let guest = Shopper::new(&server);
    let cancelled = guest.buy(olive_oil, 1);
    assert_eq!(
        set_status(&server, cancelled["number"].as_str().unwrap(), "cancelled").status(),
        200
    );

    let report: Value = server
        .admin(Method::GET, "/api/v1/admin/analytics")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let totals = &report["totals"];
    assert_eq!(
        totals["orders"], 2,
        "the cancelled order left the figures: {report}"
    );
    assert_eq!(
        totals["revenue_minor"],
        2200 + second["total_minor"].as_i64().unwrap()
    );
    assert_eq!(totals["cancelled"], 1);
    assert_eq!(report["top_products"][0]["product_id"], olive_oil);
    assert_eq!(report["top_products"][0]["units"], 2);

    let profile: Value = buyer.get("/api/v1/account/profile").json().unwrap();
    assert_eq!(profile["orders"], 2, "{profile}");
    assert!(
        !profile["categories"].as_array().unwrap().is_empty(),
        "what the customer bought shapes the profile: {profile}"
    );
    let reset = buyer.send(Method::DELETE, "/api/v1/account/profile", None, &[]);
    assert!(reset.status().is_success());
    let emptied: Value = buyer.get("/api/v1/account/profile").json().unwrap();
    assert_eq!(emptied["orders"], 0, "{emptied}");
}
