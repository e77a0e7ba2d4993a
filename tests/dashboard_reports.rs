//! The dashboard's report downloads over HTTP against the real server: the
//! usage and sales reports as CSV (`format=csv` or `Accept: text/csv`) with
//! their type, file name, header row and one row per group, day or product,
//! figures equal to the JSON report's; product names that a spreadsheet
//! would run as formulas marked with `'`; bad formats and tables are 400s
//! naming the parameter; and the month's remote spend against the cap.

mod common;

use common::shop::Shopper;
use common::{TestServer, assert_problem};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};
use shopkeep::assistant::budget::{self, CallRecord, ShopperClass};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const USAGE: &str = "/api/v1/admin/usage";
const ALERTS: &str = "/api/v1/admin/usage/alerts";
const SALES: &str = "/api/v1/admin/analytics";

fn day_of(moment: OffsetDateTime) -> String {
    let date = moment.date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The records of a CSV body, read by the `csv` crate (RFC 4180).
fn records(body: &str) -> Vec<Vec<String>> {
    assert!(body.ends_with("\r\n"), "CRLF line ends: {body:?}");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// GETs a CSV download and checks its type and file name; returns its records.
fn download(server: &TestServer, path: &str, filename: &str) -> Vec<Vec<String>> {
    let response = server.admin(Method::GET, path).send().unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(
        header(&response, "content-type"),
        "text/csv; charset=utf-8",
        "{path}"
    );
    assert_eq!(
        header(&response, "content-disposition"),
        format!("attachment; filename=\"{filename}\""),
        "{path}"
    );
    records(&response.text().unwrap())
}

fn json_report(server: &TestServer, path: &str) -> Value {
    let response = server.admin(Method::GET, path).send().unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert!(header(&response, "content-type").starts_with("application/json"));
    response.json().unwrap()
}

/// A shop whose database holds model calls made over the last three days,
/// two of them remote (paid) this month.
fn shop_with_model_calls(now: OffsetDateTime) -> tempfile::TempDir {
    let (dir, store, budgets) = common::store_for_recorded_calls(2_000_000);
    let calls = [
        (0, "qwen2.5-0.5b-instruct", "starter", "local", 0),
        (0, "gpt-4o-mini", "enterprise", "openai", 1_250),
        (1, "qwen2.5-0.5b-instruct", "starter", "local", 0),
        (2, "gpt-4o-mini", "enterprise", "openai", 300),
    ];
    for (n, (days_ago, model, tier, backend, cost_micros)) in calls.into_iter().enumerate() {
        let call = CallRecord {
            conversation_id: None,
            class: ShopperClass::Guest,
            subject: format!("session:{n}"),
            tier,
            backend,
            model: model.to_string(),
            purpose: "chat",
            input_tokens: 400 + n as u64,
            output_tokens: 60,
            cached_tokens: 100,
            latency_ms: 80,
            cost_micros,
            ok: true,
        };
        // The start of today, so "days ago" never crosses into tomorrow.
        let today = OffsetDateTime::parse(&format!("{}T00:00:00Z", day_of(now)), &Rfc3339).unwrap();
        budget::record(&store, &budgets, &call, today - Duration::days(days_ago)).unwrap();
    }
    store.close().unwrap();
    dir
}

#[test]
fn the_usage_report_downloads_as_csv_with_the_figures_of_the_json_report() {
    let now = OffsetDateTime::now_utc();
    let (from, to) = (day_of(now - Duration::days(6)), day_of(now));
    let server = TestServer::start_in(
        shop_with_model_calls(now),
        &["--no-demo"],
        &[("SHOPKEEP_BUDGET_MONTHLY_SPEND_CAP", "3.50")],
    );
    let range = format!("from={from}&to={to}");

    let by_day = download(
        &server,
        &format!("{USAGE}?{range}&format=csv"),
        &format!("usage-{from}-{to}.csv"),
    );
    assert_eq!(
        by_day[0],
        [
            "day",
            "calls",
            "failed",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost"
        ]
    );
    let json = json_report(&server, &format!("{USAGE}?{range}"));
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(by_day.len() - 1, groups.len(), "a row per day of the range");
    assert_eq!(by_day.len() - 1, 7);
    for (row, group) in by_day[1..].iter().zip(groups) {
        assert_eq!(row[0], group["key"].as_str().unwrap());
        assert_eq!(row[1], group["calls"].to_string());
        assert_eq!(row[3], group["input_tokens"].to_string());
        assert_eq!(row[6], group["cost"].as_str().unwrap());
    }
    let calls: u64 = by_day[1..]
        .iter()
        .map(|r| r[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(calls, 4);
    assert_eq!(by_day.last().unwrap()[6], "0.001250", "today's remote call");

    // Accept: text/csv asks for the same; by model the file says so.
    let response = server
        .admin(Method::GET, &format!("{USAGE}?{range}&group_by=model"))
        .header("Accept", "text/csv")
        .send()
        .unwrap();
    assert_eq!(header(&response, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header(&response, "content-disposition"),
        format!("attachment; filename=\"usage-by-model-{from}-{to}.csv\"")
    );
    let by_model = records(&response.text().unwrap());
    assert_eq!(by_model[0][0], "model");
    let models: Vec<&str> = by_model[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(models, ["gpt-4o-mini", "qwen2.5-0.5b-instruct"]);
    assert_eq!(by_model[1][6], "0.001550");

    let refused = server
        .admin(Method::GET, &format!("{USAGE}?format=xml"))
        .send()
        .unwrap();
    assert_eq!(assert_problem(refused, 400)["errors"][0]["field"], "format");
    assert_problem(server.get(&format!("{USAGE}?format=csv")), 401);

    let alerts = json_report(&server, ALERTS);
    let spend = &alerts["spend"];
    assert_eq!(spend["month"], day_of(now)[..7]);
    assert_eq!(spend["cap_micros"], 3_500_000);
    assert_eq!(spend["cap"], "3.500000");
    // Remote calls of this month only: the one three days ago may be last month's.
    let this_month: u64 = [(0, 1_250), (2, 300)]
        .iter()
        .filter(|(days_ago, _)| day_of(now - Duration::days(*days_ago))[..7] == day_of(now)[..7])
        .map(|(_, cost)| cost)
        .sum();
    assert_eq!(spend["spent_micros"], this_month);
}

/// Creates a product named `name`; returns its id.
fn product_named(server: &TestServer, handle: &str, name: &str, price: &str) -> i64 {
    let response = server
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({"handle": handle, "name": name, "category": "Probes", "price": price, "stock": 50}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text());
    response.json::<Value>().unwrap()["id"].as_i64().unwrap()
}

#[test]
fn the_sales_report_downloads_its_days_and_top_products_with_names_kept_as_text() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let formula = product_named(&server, "formula", "=1+2", "2.50");
    let markup = product_named(&server, "markup", "<img src=x onerror=alert(1)>", "4.00");
    let comma = product_named(&server, "comma", "Oat milk, \"barista\" 1 l", "1.25");
    let shopper = Shopper::new(&server);
    shopper.buy(formula, 3);
    shopper.buy(markup, 1);
    shopper.add_ok(comma, 2);
    shopper.buy(formula, 1);

    let today = day_of(OffsetDateTime::now_utc());
    let from = day_of(OffsetDateTime::now_utc() - Duration::days(2));
    let range = format!("from={from}&to={today}");
    let json = json_report(&server, &format!("{SALES}?{range}"));

    let days = download(
        &server,
        &format!("{SALES}?{range}&format=csv"),
        &format!("sales-{from}-{today}.csv"),
    );
    assert_eq!(
        days[0],
        [
            "day",
            "orders",
            "revenue",
            "discount",
            "tax",
            "units",
            "average_order_value",
            "cancelled",
            "refunded",
            "refunded_amount"
        ]
    );
    assert_eq!(days.len() - 1, 3, "a row per day");
    let last = days.last().unwrap();
    assert_eq!(last[0], today);
    assert_eq!(last[1], json["totals"]["orders"].to_string());
    assert_eq!(last[1], "3");
    let revenue = json["totals"]["revenue_minor"].as_i64().unwrap();
    assert_eq!(
        last[2],
        format!("{}.{:02}", revenue / 100, revenue % 100),
        "revenue as a decimal"
    );
    assert!(days[1..days.len() - 1].iter().all(|r| r[1] == "0"));

    let products = download(
        &server,
        &format!("{SALES}?{range}&format=csv&table=products"),
        &format!("sales-products-{from}-{today}.csv"),
    );
    assert_eq!(products[0], ["product_id", "name", "units", "revenue"]);
    let names: Vec<&str> = products[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "'=1+2",
            "<img src=x onerror=alert(1)>",
            "Oat milk, \"barista\" 1 l"
        ]
    );
    assert_eq!(products[1][2], "4");
    assert_eq!(products[1][3], "10.00");
    let raw = server
        .admin(
            Method::GET,
            &format!("{SALES}?{range}&format=csv&table=products"),
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        raw.contains(",\"'=1+2\","),
        "the formula is quoted text: {raw}"
    );
    assert!(!raw.contains(",=1+2"), "{raw}");

    let categories = download(
        &server,
        &format!("{SALES}?{range}&format=csv&table=categories"),
        &format!("sales-categories-{from}-{today}.csv"),
    );
    assert_eq!(categories[1][0], "Probes");

    for (query, field) in [
        ("format=csv&table=orders", "table"),
        ("table=products", "table"),
        ("format=pdf", "format"),
    ] {
        let refused = server
            .admin(Method::GET, &format!("{SALES}?{query}"))
            .send()
            .unwrap();
        assert_eq!(
            assert_problem(refused, 400)["errors"][0]["field"],
            field,
            "{query}"
        );
    }
}
