//! The HTTP API against a real server process: catalog reads, admin writes,
//! authentication, problem+json errors, pagination, OpenAPI, health and metrics.

mod common;

use std::collections::HashSet;

use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

/// Active products in the embedded demo catalog (346 written, 4 discontinued).
const DEMO_ACTIVE: usize = 342;

fn all_pages(server: &TestServer, query: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/products?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = server.get_json(&path);
        let batch = page["items"].as_array().unwrap();
        assert!(batch.len() <= limit);
        items.extend(batch.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    items
}

#[test]
fn demo_catalog_is_served_and_pages_cover_it_exactly_once() {
    let server = TestServer::start();
    let items = all_pages(&server, "", 37);
    assert_eq!(items.len(), DEMO_ACTIVE);
    let ids: HashSet<i64> = items.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids.len(),
        DEMO_ACTIVE,
        "no product appears twice across pages"
    );
    assert!(
        items
            .iter()
            .all(|p| p["active"] == true && p["currency"] == "USD")
    );
    let first = &items[0];
    assert_eq!(
        first["price"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .map(str::len),
        Some(2)
    );
    assert_eq!(
        (first["price"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i64>()
            .unwrap()),
        first["price_minor"].as_i64().unwrap()
    );
    let default_page = server.get_json("/api/v1/products");
    assert_eq!(default_page["items"].as_array().unwrap().len(), 20);
}

#[test]
fn listing_filters_by_category_subtree_and_text() {
    let server = TestServer::start();
    let pantry = all_pages(&server, "&category=Pantry", 100);
    assert!(
        pantry.len() >= 40,
        "the demo pantry is large: {}",
        pantry.len()
    );
    assert!(
        pantry
            .iter()
            .all(|p| p["category"].as_str().unwrap().starts_with("Pantry > "))
    );
    let gluten_free_pasta: Vec<Value> = all_pages(
        &server,
        "&category=Pantry%20%3E%20Pasta%20%26%20Grains&q=gluten",
        100,
    );
    let pasta_any = all_pages(&server, "&q=penne", 100);
    assert!(pasta_any.iter().all(|p| {
        let text =
            format!("{} {} {} {}", p["name"], p["brand"], p["sku"], p["tags"]).to_lowercase();
        text.contains("penne")
    }));
    assert!(!pasta_any.is_empty());
    assert!(
        gluten_free_pasta
            .iter()
            .all(|p| p["category"] == "Pantry > Pasta & Grains")
    );
    let nothing = server.get_json("/api/v1/products?q=zzzz-no-such-thing");
    assert_eq!(nothing["items"], json!([]));
    assert_eq!(nothing["next_cursor"], Value::Null);
}

#[test]
fn bad_listing_parameters_are_problems_naming_the_field() {
    let server = TestServer::start();
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=xyz", "cursor"),
        ("catgory=Bakery", "catgory"),
    ] {
        let body = assert_problem(server.get(&format!("/api/v1/products?{query}")), 400);
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
}

#[test]
fn products_are_fetched_by_id_or_handle_and_unknown_ones_are_404() {
    let server = TestServer::start();
    let first = &server.get_json("/api/v1/products?limit=1")["items"][0];
    let by_id = server.get_json(&format!("/api/v1/products/{}", first["id"]));
    let by_handle = server.get_json(&format!(
        "/api/v1/products/{}",
        first["handle"].as_str().unwrap()
    ));
    assert_eq!(by_id, by_handle);
    assert_problem(server.get("/api/v1/products/999999"), 404);
    assert_problem(server.get("/api/v1/products/no-such-handle"), 404);
}

/// A documented path with every `{parameter}` filled in.
fn concrete_path(path: &str) -> String {
    let mut concrete = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('{') {
        concrete.push_str(before);
        concrete.push('1');
        rest = after.split_once('}').map_or("", |(_, tail)| tail);
    }
    concrete + rest
}

/// Every mutating admin operation in the OpenAPI document, with a concrete path.
fn mutating_routes(server: &TestServer) -> Vec<(Method, String)> {
    let spec = server.get_json("/api/openapi.json");
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            let needs_key = item.get(method).is_some_and(|operation| {
                operation["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get("admin_key").is_some()))
            });
            if needs_key {
                let concrete = concrete_path(path);
                routes.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    concrete,
                ));
            }
        }
    }
    routes
}

#[test]
fn every_mutating_route_refuses_requests_without_a_valid_key() {
    let server = TestServer::start();
    let routes = mutating_routes(&server);
    assert!(
        routes.len() >= 7,
        "POST/PUT/PATCH/DELETE products, import, keys: {routes:?}"
    );
    let forged = format!("shk_{}_{}", "0".repeat(12), "0".repeat(48));
    for (method, path) in &routes {
        for auth in [None, Some("not-a-key"), Some(forged.as_str())] {
            let mut request = server
                .client
                .request(method.clone(), server.url(path))
                .header("content-type", "application/json")
                .body("{}");
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            let response = request.send().unwrap();
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer realm=\"shopkeep\""),
                "{method} {path}"
            );
            assert_problem(response, 401);
        }
    }
    let count = server.get_json("/api/v1/products?limit=100")["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 100, "nothing was deleted by the refused requests");
}

#[test]
fn admin_creates_replaces_patches_and_deletes_a_product() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let created = server
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({
            "handle": "smoked-paprika",
            "sku": "SPI-9",
            "name": "Smoked Paprika 50 g",
            "description": "Oak-smoked pimentón.",
            "category": "Pantry > Spices",
            "tags": ["Spice", "spice", "BBQ"],
            "dietary": ["Plant Based"],
            "price": "3.49",
            "stock": 12
        }))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let product: Value = created.json().unwrap();
    assert_eq!(location, format!("/api/v1/products/{}", product["id"]));
    assert_eq!(product["tags"], json!(["spice", "bbq"]));
    assert_eq!(product["dietary"], json!(["vegan"]));
    assert_eq!(product["price_minor"], 349);

    let duplicate = server
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({"handle": "smoked-paprika", "name": "Again", "price": "1"}))
        .send()
        .unwrap();
    assert_problem(duplicate, 409);

    let replaced: Value = server
        .admin(Method::PUT, &location)
        .json(&json!({"handle": "smoked-paprika", "name": "Smoked Paprika 75 g", "price": 4.25}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(replaced["name"], "Smoked Paprika 75 g");
    assert_eq!(
        replaced["sku"],
        Value::Null,
        "PUT replaces the whole product"
    );
    assert_eq!(replaced["stock"], Value::Null);

    let patched = server
        .admin(Method::PATCH, "/api/v1/products/smoked-paprika")
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"stock": 5, "compare_at_price": "4.99", "attributes": {"origin": "Spain"}}"#)
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().unwrap();
    assert_eq!(
        (
            patched["stock"].clone(),
            patched["compare_at_price"].clone()
        ),
        (json!(5), json!("4.99"))
    );
    assert_eq!(
        patched["name"], "Smoked Paprika 75 g",
        "untouched fields stay"
    );
    assert_eq!(patched["attributes"]["origin"], "Spain");

    let refused_patch = server
        .admin(Method::PATCH, &location)
        .json(&json!({"price": "-1"}))
        .send()
        .unwrap();
    let body = assert_problem(refused_patch, 422);
    assert_eq!(body["errors"][0]["field"], "price");
    assert_eq!(
        server.get_json(&location)["price"],
        "4.25",
        "a refused patch changes nothing"
    );

    assert_eq!(
        server
            .admin(Method::DELETE, &location)
            .send()
            .unwrap()
            .status(),
        204
    );
    assert_problem(server.get(&location), 404);
    assert_problem(server.admin(Method::DELETE, &location).send().unwrap(), 404);
}

#[test]
fn bad_input_gets_problem_details_never_a_500() {
    let server = TestServer::start_with(&["--no-demo"], &[("SHOPKEEP_MAX_BODY_BYTES", "2048")]);
    let post = |body: &str, content_type: &str| {
        server
            .admin(Method::POST, "/api/v1/products")
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .unwrap()
    };
    assert_problem(
        post(r#"{"name": "Oats", "price": "#, "application/json"),
        400,
    );
    assert_problem(post("[1, 2", "application/json"), 400);
    assert_problem(
        post(r#"{"name":"x","price":"1"} trailing"#, "application/json"),
        400,
    );
    assert_problem(post(r#"{"name": "Oats", "price": "1"}"#, "text/plain"), 415);
    let wrong_type = assert_problem(
        post(
            r#"{"name": "Oats", "price": "1", "stock": "many"}"#,
            "application/json",
        ),
        422,
    );
    assert_eq!(wrong_type["errors"][0]["field"], "stock");
    let unknown = assert_problem(
        post(
            r#"{"name": "Oats", "price": "1", "colour": "red"}"#,
            "application/json",
        ),
        422,
    );
    assert!(
        unknown["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let many = assert_problem(
        post(
            r#"{"handle": "Bad Handle", "price": "1.234", "images": ["ftp://x"], "variants": [{"price": "x"}]}"#,
            "application/json",
        ),
        422,
    );
    let fields: Vec<&str> = many["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for expected in ["name", "handle", "images[0]", "variants[0].price"] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    let huge = format!(r#"{{"name": "{}", "price": "1"}}"#, "x".repeat(4096));
    assert_problem(post(&huge, "application/json"), 413);
    assert_problem(server.get("/api/v1/no-such-route"), 404);
    assert_problem(
        server
            .client
            .put(server.url("/api/v1/products"))
            .send()
            .unwrap(),
        405,
    );
    assert_problem(
        server
            .client
            .get(server.url("/api/v1/products/%FF%FE"))
            .send()
            .unwrap(),
        404,
    );
    let metrics = server.get("/metrics").text().unwrap();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("shopkeep_http_requests_total") && l.contains("status=\"500\"")),
        "{metrics}"
    );
}

#[test]
fn admin_keys_can_be_created_used_and_revoked_over_the_api() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let created: Value = server
        .admin(Method::POST, "/api/v1/admin/keys")
        .json(&json!({"name": "dashboard"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let listed: Value = server
        .client
        .get(server.url("/api/v1/admin/keys"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first-start", "dashboard"]);
    assert!(
        !listed.to_string().contains(&key),
        "secrets are never listed"
    );
    let revoke = server
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{}", created["id"]),
        )
        .send()
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let after = server
        .client
        .get(server.url("/api/v1/admin/keys"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_problem(after, 401);
    let bad_name = server
        .admin(Method::POST, "/api/v1/admin/keys")
        .json(&json!({"name": " "}))
        .send()
        .unwrap();
    assert_eq!(assert_problem(bad_name, 422)["errors"][0]["field"], "name");
}

#[test]
fn openapi_document_covers_every_route() {
    let server = TestServer::start();
    let spec = server.get_json("/api/openapi.json");
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut operations: Vec<String> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push(format!("{} {path}", method.to_uppercase()));
            if method != "get" {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} declares the admin key or the shopper session"
                );
            }
        }
    }
    operations.sort();
    let expected = [
        "DELETE /api/v1/account/profile",
        "DELETE /api/v1/admin/keys/{id}",
        "DELETE /api/v1/admin/settings/logo",
        "DELETE /api/v1/admin/vouchers/{code}",
        "DELETE /api/v1/admin/webhooks/{id}",
        "DELETE /api/v1/cart/items/{item_id}",
        "DELETE /api/v1/cart/voucher",
        "DELETE /api/v1/products/{id}",
        "GET /admin/session",
        "GET /api/openapi.json",
        "GET /api/v1/account",
        "GET /api/v1/account/profile",
        "GET /api/v1/admin/ai",
        "GET /api/v1/admin/analytics",
        "GET /api/v1/admin/backups",
        "GET /api/v1/admin/backups/{name}",
        "GET /api/v1/admin/conversations",
        "GET /api/v1/admin/conversations/{id}",
        "GET /api/v1/admin/faq",
        "GET /api/v1/admin/imports",
        "GET /api/v1/admin/imports/{id}",
        "GET /api/v1/admin/keys",
        "GET /api/v1/admin/orders",
        "GET /api/v1/admin/orders/{key}",
        "GET /api/v1/admin/overview",
        "GET /api/v1/admin/products",
        "GET /api/v1/admin/products/{id}",
        "GET /api/v1/admin/settings",
        "GET /api/v1/admin/system",
        "GET /api/v1/admin/usage",
        "GET /api/v1/admin/usage/alerts",
        "GET /api/v1/admin/vouchers",
        "GET /api/v1/admin/vouchers/{code}",
        "GET /api/v1/admin/webhooks",
        "GET /api/v1/admin/webhooks/deliveries",
        "GET /api/v1/cart",
        "GET /api/v1/conversations/{id}",
        "GET /api/v1/conversations/{id}/events",
        "GET /api/v1/orders",
        "GET /api/v1/orders/{key}",
        "GET /api/v1/products",
        "GET /api/v1/products/{id}",
        "GET /api/v1/products/{id}/recommendations",
        "GET /api/v1/recommendations",
        "GET /api/v1/search",
        "GET /api/v1/search/suggest",
        "GET /api/v1/shop",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "PATCH /api/v1/admin/settings",
        "PATCH /api/v1/admin/vouchers/{code}",
        "PATCH /api/v1/cart/items/{item_id}",
        "PATCH /api/v1/products/{id}",
        "POST /admin/login",
        "POST /admin/logout",
        "POST /api/v1/account/login",
        "POST /api/v1/account/logout",
        "POST /api/v1/account/register",
        "POST /api/v1/admin/ai/model",
        "POST /api/v1/admin/ai/test",
        "POST /api/v1/admin/backups",
        "POST /api/v1/admin/backups/upload",
        "POST /api/v1/admin/backups/{name}/restore",
        "POST /api/v1/admin/conversations/{id}/messages",
        "POST /api/v1/admin/conversations/{id}/release",
        "POST /api/v1/admin/conversations/{id}/takeover",
        "POST /api/v1/admin/import",
        "POST /api/v1/admin/imports",
        "POST /api/v1/admin/keys",
        "POST /api/v1/admin/orders/{key}/status",
        "POST /api/v1/admin/recommendations/rebuild",
        "POST /api/v1/admin/vouchers",
        "POST /api/v1/admin/webhooks",
        "POST /api/v1/admin/webhooks/{id}/ping",
        "POST /api/v1/cart/items",
        "POST /api/v1/chat",
        "POST /api/v1/checkout",
        "POST /api/v1/orders/{key}/cancel",
        "POST /api/v1/products",
        "PUT /api/v1/admin/ai",
        "PUT /api/v1/admin/faq",
        "PUT /api/v1/admin/settings",
        "PUT /api/v1/admin/settings/logo",
        "PUT /api/v1/cart/voucher",
        "PUT /api/v1/products/{id}",
    ];
    assert_eq!(operations, expected);
    for operation in expected {
        let (method, path) = operation.split_once(' ').unwrap();
        let concrete = concrete_path(path);
        let response = server
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(&concrete),
            )
            .send()
            .unwrap();
        // A documented route may answer 404 for a missing resource, never for a missing route.
        let status = response.status();
        let detail = response.text().unwrap_or_default();
        assert!(
            status != 404 || !detail.contains("no route for"),
            "{operation} is documented and routed"
        );
        assert_ne!(status, 405, "{operation} is documented and routed");
    }
    assert!(spec["components"]["schemas"]["ProductInput"].is_object());
    assert!(spec["components"]["securitySchemes"]["admin_key"].is_object());
}

#[test]
fn health_readiness_and_metrics_report_the_shop() {
    let server = TestServer::start();
    assert_eq!(server.get_json("/healthz")["status"], "ok");
    let ready = server.get_json("/readyz");
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["database"]["status"], "ok");
    for component in ["search_index", "model"] {
        assert!(["ok", "degraded", "down"].contains(&ready[component]["status"].as_str().unwrap()));
        assert!(!ready[component]["reason"].as_str().unwrap().is_empty());
    }
    assert_eq!(ready["tier"]["active"], "free");
    server.get("/api/v1/products/1");
    let response = server
        .client
        .get(server.url("/api/v1/products?limit=1"))
        .header("x-request-id", "trace-me-42")
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let generated = server.get("/healthz").headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 36, "a UUID when the caller sent none");
    let metrics = server.get("/metrics").text().unwrap();
    assert!(metrics.contains(r#"shopkeep_http_requests_total{method="GET",route="/api/v1/products/{id}",status="200"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"shopkeep_catalog_products{kind="all"} 346"#));
    assert!(metrics.contains(&format!(
        r#"shopkeep_catalog_products{{kind="active"}} {DEMO_ACTIVE}"#
    )));
    assert!(metrics.contains("shopkeep_http_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"shopkeep_db_readers{state="idle"}"#));
    assert!(metrics.contains("shopkeep_process_resident_memory_bytes"));
    for answer_cache in [
        "shopkeep_answer_cache_hits_total 0",
        "shopkeep_answer_cache_misses_total 0",
        "shopkeep_answer_cache_entries 0",
    ] {
        assert!(
            metrics.lines().any(|line| line == answer_cache),
            "{answer_cache}: {metrics}"
        );
    }
}

#[test]
fn configured_tier_that_needs_a_model_is_reported_degraded() {
    let server = TestServer::start_with(&["--no-demo", "--tier", "starter"], &[]);
    let ready = server.get_json("/readyz");
    assert_eq!(ready["tier"]["configured"], "starter");
    assert_eq!(ready["tier"]["active"], "free");
    assert_eq!(ready["tier"]["status"], "degraded");
}
