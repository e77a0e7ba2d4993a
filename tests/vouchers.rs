//! Admin voucher routes over HTTP against the real binary: authentication,
//! validation, conflicts, and the list / get / patch / delete round trip.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, assert_problem};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const VOUCHERS: &str = "/api/v1/admin/vouchers";

fn post(server: &TestServer, body: &Value) -> Response {
    server
        .admin(Method::POST, VOUCHERS)
        .json(body)
        .send()
        .unwrap()
}

fn patch(server: &TestServer, code: &str, body: &Value) -> Response {
    server
        .admin(Method::PATCH, &format!("{VOUCHERS}/{code}"))
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .unwrap()
}

fn admin_json(server: &TestServer, method: Method, path: &str) -> Value {
    let response = server.admin(method.clone(), path).send().unwrap();
    assert_eq!(response.status(), 200, "{method} {path}");
    response.json().unwrap()
}

/// The field names of a 422 answer.
fn refused_fields(response: Response) -> BTreeSet<String> {
    let problem = assert_problem(response, 422);
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Writes, straight into the server's database, the order and voucher use a
/// checkout would: checkout is another part's route.
fn record_use(server: &TestServer, code: &str) {
    let db = rusqlite::Connection::open(server.data_dir.path().join("shopkeep.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO orders (number, session_id, status, currency, subtotal_minor, discount_minor,
             tax_minor, total_minor, tax_inclusive, payment_method, contact, delivery, created_at, updated_at)
         VALUES ('T-1', 1, 'paid', 'USD', 1000, 125, 0, 875, 0, 'manual', '{}', '{}', '', '')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO voucher_redemptions (voucher_id, order_id, session_id, created_at)
         SELECT id, last_insert_rowid(), 1, '' FROM vouchers WHERE code = ?1",
        [code],
    )
    .unwrap();
}

#[test]
fn every_voucher_route_needs_an_admin_key() {
    let server = TestServer::start();
    let one = format!("{VOUCHERS}/SPRING");
    let routes = [
        (Method::GET, VOUCHERS),
        (Method::POST, VOUCHERS),
        (Method::GET, one.as_str()),
        (Method::PATCH, one.as_str()),
        (Method::DELETE, one.as_str()),
    ];
    for (method, path) in routes {
        let anonymous = server
            .client
            .request(method.clone(), server.url(path))
            .json(&json!({"code": "SPRING", "kind": "fixed", "value": "1"}))
            .send()
            .unwrap();
        assert_problem(anonymous, 401);
        let wrong_key = server
            .client
            .request(method.clone(), server.url(path))
            .bearer_auth("shk_not-a-key")
            .json(&json!({"code": "SPRING", "kind": "fixed", "value": "1"}))
            .send()
            .unwrap();
        assert_problem(wrong_key, 401);
    }
    let listed = admin_json(&server, Method::GET, VOUCHERS);
    assert_eq!(
        listed["items"],
        json!([]),
        "nothing was created without a key"
    );
}

#[test]
fn each_bad_field_is_named_in_a_422() {
    let server = TestServer::start();
    let everything_wrong = json!({"code": "a b", "kind": "percent", "value": "100.5",
        "minimum_spend": "1,000", "starts_at": "next week", "ends_at": "2025-02-30T00:00:00Z",
        "usage_limit": 0, "per_customer_limit": -1, "description": "x".repeat(501)});
    assert_eq!(
        refused_fields(post(&server, &everything_wrong)),
        fields(&[
            "code",
            "value",
            "minimum_spend",
            "starts_at",
            "ends_at",
            "usage_limit",
            "per_customer_limit",
            "description"
        ])
    );
    let cases = [
        (json!({}), &["code", "kind"][..]),
        (
            json!({"code": "OK1", "kind": "half", "value": "5"}),
            &["kind"],
        ),
        (json!({"code": "OK1", "kind": "percent"}), &["value"]),
        (
            json!({"code": "OK1", "kind": "percent", "value": 0}),
            &["value"],
        ),
        (
            json!({"code": "OK1", "kind": "fixed", "value": "0.00"}),
            &["value"],
        ),
        (
            json!({"code": "OK1", "kind": "fixed", "value": "1.234"}),
            &["value"],
        ),
        (
            json!({"code": "OK", "kind": "fixed", "value": "1"}),
            &["code"],
        ),
        (
            json!({"code": "OK1", "kind": "fixed", "value": "1",
                "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-06-01T00:00:00Z"}),
            &["ends_at"],
        ),
        (
            json!({"code": "OK1", "kind": "fixed", "value": "1", "usage_limit": "ten"}),
            &["usage_limit"],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            refused_fields(post(&server, &body)),
            fields(expected),
            "{body}"
        );
    }
    let unknown_field = post(
        &server,
        &json!({"code": "OK1", "kind": "fixed", "value": "1", "colour": "red"}),
    );
    let problem = assert_problem(unknown_field, 422);
    assert!(problem.to_string().contains("colour"), "{problem}");
    let not_json = server
        .admin(Method::POST, VOUCHERS)
        .header("content-type", "application/json")
        .body("{code")
        .send()
        .unwrap();
    assert_problem(not_json, 400);
    let listed = admin_json(&server, Method::GET, VOUCHERS);
    assert_eq!(listed["items"], json!([]), "no bad voucher was saved");
}

#[test]
fn vouchers_are_created_listed_fetched_patched_and_removed() {
    let server = TestServer::start();
    let created = post(
        &server,
        &json!({"code": "spring-sale", "kind": "percent", "value": "12.5",
            "minimum_spend": "20", "usage_limit": 100, "description": "Spring sale"}),
    );
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.headers()["location"],
        "/api/v1/admin/vouchers/SPRING-SALE"
    );
    let spring: Value = created.json().unwrap();
    assert_eq!(spring["code"], "SPRING-SALE");
    assert_eq!(spring["kind"], "percent");
    assert_eq!(spring["value"], "12.5");
    assert_eq!(spring["percent_basis_points"], 1250);
    assert_eq!(spring["amount_minor"], Value::Null);
    assert_eq!(spring["minimum_spend"], "20.00");
    assert_eq!(spring["minimum_spend_minor"], 2000);
    assert_eq!(spring["currency"], "USD");
    assert_eq!(spring["active"], true);
    assert_eq!(spring["uses"], 0);
    assert_eq!(spring["uses_left"], 100);

    let duplicate = post(
        &server,
        &json!({"code": "Spring-Sale", "kind": "fixed", "value": "1"}),
    );
    let problem = assert_problem(duplicate, 409);
    assert!(problem["detail"].as_str().unwrap().contains("SPRING-SALE"));

    let five = post(
        &server,
        &json!({"code": "FIVE", "kind": "fixed", "value": 5,
            "starts_at": "2025-06-01T02:00:00+02:00", "ends_at": "2030-01-01T00:00:00Z"}),
    );
    assert_eq!(five.status(), 201);
    let five: Value = five.json().unwrap();
    assert_eq!(five["value"], "5.00");
    assert_eq!(five["amount_minor"], 500);
    assert_eq!(five["starts_at"], "2025-06-01T00:00:00Z");

    let listed = admin_json(&server, Method::GET, VOUCHERS);
    let codes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["FIVE", "SPRING-SALE"]);

    let fetched = admin_json(&server, Method::GET, &format!("{VOUCHERS}/spring-sale"));
    assert_eq!(fetched["description"], "Spring sale");
    assert_problem(
        server
            .admin(Method::GET, &format!("{VOUCHERS}/NOPE"))
            .send()
            .unwrap(),
        404,
    );

    let patched = patch(
        &server,
        "SPRING-SALE",
        &json!({"active": false, "usage_limit": 3, "per_customer_limit": 1,
            "ends_at": "2031-01-01T00:00:00Z"}),
    );
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().unwrap();
    assert_eq!(patched["active"], false);
    assert_eq!(patched["usage_limit"], 3);
    assert_eq!(patched["per_customer_limit"], 1);
    assert_eq!(patched["ends_at"], "2031-01-01T00:00:00Z");
    assert_eq!(patched["value"], "12.5", "fields not in the patch stay");
    let reopened: Value = patch(&server, "spring-sale", &json!({"ends_at": null}))
        .json()
        .unwrap();
    assert_eq!(reopened["ends_at"], Value::Null, "null removes the end");
    let fetched = admin_json(&server, Method::GET, &format!("{VOUCHERS}/SPRING-SALE"));
    assert_eq!(fetched["active"], false, "the patch was saved");
    assert_eq!(
        refused_fields(patch(&server, "FIVE", &json!({"code": "SIX"}))),
        fields(&["code"])
    );
    assert_eq!(
        refused_fields(patch(&server, "FIVE", &json!({"kind": "percent"}))),
        fields(&["value"])
    );
    assert_eq!(
        refused_fields(patch(
            &server,
            "FIVE",
            &json!({"starts_at": "2030-06-01T00:00:00Z"})
        )),
        fields(&["ends_at"])
    );
    assert_problem(patch(&server, "FIVE", &json!([1, 2])), 400);
    assert_problem(patch(&server, "NOPE", &json!({"active": false})), 404);

    let deleted = admin_json(&server, Method::DELETE, &format!("{VOUCHERS}/five"));
    assert_eq!(deleted, json!({"code": "FIVE", "outcome": "deleted"}));
    assert_problem(
        server
            .admin(Method::GET, &format!("{VOUCHERS}/FIVE"))
            .send()
            .unwrap(),
        404,
    );

    record_use(&server, "SPRING-SALE");
    let used = admin_json(&server, Method::GET, &format!("{VOUCHERS}/SPRING-SALE"));
    assert_eq!(
        (used["uses"].as_i64(), used["uses_left"].as_i64()),
        (Some(1), Some(2))
    );
    let reactivated = patch(&server, "SPRING-SALE", &json!({"active": true}));
    assert_eq!(reactivated.status(), 200);
    let deactivated = admin_json(&server, Method::DELETE, &format!("{VOUCHERS}/SPRING-SALE"));
    assert_eq!(
        deactivated,
        json!({"code": "SPRING-SALE", "outcome": "deactivated"})
    );
    let kept = admin_json(&server, Method::GET, &format!("{VOUCHERS}/SPRING-SALE"));
    assert_eq!(kept["active"], false, "a used code stays, switched off");
    assert_problem(
        server
            .admin(Method::DELETE, &format!("{VOUCHERS}/FIVE"))
            .send()
            .unwrap(),
        404,
    );
}
