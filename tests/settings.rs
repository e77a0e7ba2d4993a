//! The shop's settings over real HTTP: saved from the admin API, live at once
//! in the shop facts, checkout tax and the widget's CORS check, kept across a
//! restart; the logo; and the widget script.

mod common;

use common::shop::{Shopper, create_product};
use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

const BLOG: &str = "http://127.0.0.1:9";
const STRANGER: &str = "https://evil.example";

fn patch(server: &TestServer, body: Value) -> reqwest::blocking::Response {
    server
        .admin(Method::PATCH, "/api/v1/admin/settings")
        .json(&body)
        .send()
        .unwrap()
}

fn patch_ok(server: &TestServer, body: Value) -> Value {
    let response = patch(server, body);
    assert_eq!(response.status(), 200, "{:?}", response.text());
    response.json().unwrap()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn restart(mut server: TestServer, args: &[&str]) -> TestServer {
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success());
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    TestServer::start_in(data_dir, args, &[])
}

#[test]
fn settings_round_trip_and_show_live_in_the_shop_facts() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let shown: Value = server
        .admin(Method::GET, "/api/v1/admin/settings")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(shown["shop_name"], "Corner Larder");
    assert_eq!(shown["assistant_tone"], "friendly");
    assert_eq!(shown["defaults"]["brand_primary"], "#1f5c3d");
    assert_eq!(shown["currency_locked"], false);

    let saved = patch_ok(
        &server,
        json!({"shop_name": "Crumb & Co", "brand_primary": "#7A2E0E", "brand_accent": "#FFD166",
               "assistant_tone": "formal", "assistant_instructions": "Mention that bread is baked daily."}),
    );
    assert_eq!(saved["shop_name"], "Crumb & Co");
    assert_eq!(saved["brand_primary"], "#7a2e0e");
    assert_eq!(saved["defaults"]["shop_name"], "Corner Larder");

    let again: Value = server
        .admin(Method::GET, "/api/v1/admin/settings")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["assistant_tone"], "formal");
    assert_eq!(
        again["assistant_instructions"],
        "Mention that bread is baked daily."
    );
    let shop = server.get_json("/api/v1/shop");
    assert_eq!(shop["name"], "Crumb & Co");
    assert_eq!(shop["brand"]["primary"], "#7a2e0e");
    assert_eq!(shop["brand"]["accent"], "#ffd166");

    // A full replacement needs every field.
    let mut full = again.clone();
    let object = full.as_object_mut().unwrap();
    for extra in [
        "defaults",
        "logo_url",
        "running_currency",
        "currency_locked",
    ] {
        object.remove(extra);
    }
    object.insert("shop_name".into(), json!("Crumb"));
    let replaced = server
        .admin(Method::PUT, "/api/v1/admin/settings")
        .json(&full)
        .send()
        .unwrap();
    assert_eq!(replaced.status(), 200);
    assert_eq!(server.get_json("/api/v1/shop")["name"], "Crumb");
    let partial = server
        .admin(Method::PUT, "/api/v1/admin/settings")
        .json(&json!({"shop_name": "Only this"}))
        .send()
        .unwrap();
    let problem = assert_problem(partial, 422);
    assert!(fields(&problem).contains(&"brand_primary".to_string()));
    assert!(!fields(&problem).contains(&"shop_name".to_string()));
}

#[test]
fn every_bad_field_is_named_and_nothing_is_saved() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let response = patch(
        &server,
        json!({"shop_name": "", "brand_primary": "#fff59d", "brand_accent": "teal",
               "assistant_tone": "sarcastic", "tax_rate_percent": 8.125,
               "assistant_instructions": "x".repeat(1001),
               "widget_allowed_origins": ["https://ok.example", "*"]}),
    );
    let problem = assert_problem(response, 422);
    assert_eq!(
        fields(&problem),
        [
            "shop_name",
            "tax_rate_percent",
            "brand_primary",
            "brand_accent",
            "assistant_tone",
            "assistant_instructions",
            "widget_allowed_origins"
        ]
    );
    let reason = problem["errors"][2]["reason"].as_str().unwrap();
    assert!(reason.contains("contrast"), "{reason}");
    let unknown = assert_problem(patch(&server, json!({"shop_colour": "#000000"})), 422);
    assert!(
        unknown["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("shop_colour"),
        "{unknown}"
    );
    assert_eq!(server.get_json("/api/v1/shop")["name"], "Corner Larder");
    let anonymous = server
        .client
        .patch(server.url("/api/v1/admin/settings"))
        .json(&json!({"shop_name": "Mine now"}))
        .send()
        .unwrap();
    assert_problem(anonymous, 401);
}

#[test]
fn a_new_tax_rate_prices_the_next_checkout_and_the_currency_locks_after_an_order() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let product = create_product(&server, "sourdough", "10.00", Some(20));
    patch_ok(
        &server,
        json!({"tax_rate_percent": 10, "tax_inclusive": false}),
    );
    assert_eq!(server.get_json("/api/v1/shop")["tax_rate_percent"], 10.0);
    let shopper = Shopper::new(&server);
    let cart = shopper.add_ok(product, 2);
    assert_eq!(cart["tax"], "2.00", "{cart}");
    assert_eq!(cart["total"], "22.00");
    let order = shopper.buy(product, 1);
    assert_eq!(order["tax"], "3.00", "{order}");

    let shown: Value = server
        .admin(Method::GET, "/api/v1/admin/settings")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(shown["currency_locked"], true);
    let problem = assert_problem(patch(&server, json!({"currency": "EUR"})), 422);
    assert_eq!(fields(&problem), ["currency"]);
    assert!(
        problem["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already has orders")
    );
}

#[test]
fn saved_settings_and_the_logo_survive_a_restart_and_a_new_currency_applies_then() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let saved = patch_ok(
        &server,
        json!({"shop_name": "Harbour Bakery", "currency": "EUR", "tax_rate_percent": 7}),
    );
    assert_eq!(saved["currency"], "EUR");
    assert_eq!(saved["running_currency"], "USD");
    assert_eq!(server.get_json("/api/v1/shop")["currency"], "USD");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but typed".to_vec();
    let uploaded = server
        .admin(Method::PUT, "/api/v1/admin/settings/logo")
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let logo_url = uploaded.json::<Value>().unwrap()["logo_url"]
        .as_str()
        .unwrap()
        .to_string();

    let server = restart(server, &["--no-demo"]);
    let shop = server.get_json("/api/v1/shop");
    assert_eq!(shop["name"], "Harbour Bakery");
    assert_eq!(shop["currency"], "EUR");
    assert_eq!(shop["tax_rate_percent"], 7.0);
    assert_eq!(shop["brand"]["logo_url"], logo_url.as_str());
    let logo = server.get(&logo_url);
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert!(
        logo.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(logo.bytes().unwrap().to_vec(), png);
}

#[test]
fn logos_are_checked_served_inert_and_removed() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let upload = |body: &[u8]| {
        server
            .admin(Method::PUT, "/api/v1/admin/settings/logo")
            .header("content-type", "image/svg+xml")
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    let scripted =
        upload(br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#);
    let problem = assert_problem(scripted, 422);
    assert_eq!(fields(&problem), ["logo"]);
    let handler = upload(br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#);
    assert_problem(handler, 422);
    let too_big = upload(&vec![b' '; 300 * 1024]);
    assert!(too_big.status() == 422 || too_big.status() == 413);

    let clean = upload(br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#7a2e0e"/></svg>"##);
    assert_eq!(clean.status(), 200);
    let url = clean.json::<Value>().unwrap()["logo_url"]
        .as_str()
        .unwrap()
        .to_string();
    let served = server.get(&url);
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    let policy = served.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("sandbox") && policy.contains("default-src 'none'"));
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");

    let removed = server
        .admin(Method::DELETE, "/api/v1/admin/settings/logo")
        .send()
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(server.get(&url).status(), 404);
    assert_eq!(
        server.get_json("/api/v1/shop")["brand"]["logo_url"],
        Value::Null
    );
    let again = server
        .admin(Method::DELETE, "/api/v1/admin/settings/logo")
        .send()
        .unwrap();
    assert_problem(again, 404);
}

fn from_origin(
    server: &TestServer,
    method: Method,
    path: &str,
    origin: &str,
) -> reqwest::blocking::RequestBuilder {
    server
        .client
        .request(method, server.url(path))
        .header("origin", origin)
}

#[test]
fn only_allowlisted_origins_get_cors_and_the_list_changes_live() {
    let server = TestServer::start_with(
        &[],
        &[(
            "SHOPKEEP_WIDGET_ALLOWED_ORIGINS",
            "https://blog.example, http://localhost:1",
        )],
    );
    let shown: Value = server
        .admin(Method::GET, "/api/v1/admin/settings")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        shown["widget_allowed_origins"],
        json!(["https://blog.example", "http://localhost:1"])
    );

    let allowed = from_origin(&server, Method::GET, "/api/v1/shop", "https://blog.example")
        .send()
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://blog.example"
    );
    assert!(
        allowed.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Origin")
    );
    assert!(
        !allowed
            .headers()
            .contains_key("access-control-allow-credentials")
    );

    let preflight = from_origin(
        &server,
        Method::OPTIONS,
        "/api/v1/cart/items",
        "https://blog.example",
    )
    .header("access-control-request-method", "POST")
    .header(
        "access-control-request-headers",
        "content-type, x-session-id",
    )
    .send()
    .unwrap();
    assert_eq!(preflight.status(), 204);
    let allow_headers = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allow_headers.contains("x-session-id") && allow_headers.contains("content-type"));
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let stranger = from_origin(&server, Method::GET, "/api/v1/shop", STRANGER)
        .send()
        .unwrap();
    assert_eq!(stranger.status(), 200);
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let refused = from_origin(&server, Method::POST, "/api/v1/chat", STRANGER)
        .json(&json!({"message": "hi"}))
        .send()
        .unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let problem = assert_problem(refused, 403);
    assert!(problem["detail"].as_str().unwrap().contains("allowlist"));
    let refused_preflight = from_origin(&server, Method::OPTIONS, "/api/v1/chat", STRANGER)
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert_eq!(refused_preflight.status(), 403);
    assert!(
        !refused_preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );

    // The storefront's own requests (same origin) pass untouched.
    let own = from_origin(&server, Method::POST, "/api/v1/cart/items", &server.base)
        .json(&json!({"product_id": 1, "quantity": 1}))
        .send()
        .unwrap();
    assert_ne!(own.status(), 403);

    // Allowlisting a new origin works at once, without a restart.
    patch_ok(&server, json!({"widget_allowed_origins": [BLOG]}));
    let now_allowed = from_origin(&server, Method::GET, "/static/chat/chat.js", BLOG)
        .send()
        .unwrap();
    assert_eq!(now_allowed.headers()["access-control-allow-origin"], BLOG);
    let dropped = from_origin(&server, Method::GET, "/api/v1/shop", "https://blog.example")
        .send()
        .unwrap();
    assert!(
        !dropped
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[test]
fn a_widget_shopper_keeps_a_session_by_header_across_sites() {
    let server = TestServer::start_with(&[], &[("SHOPKEEP_WIDGET_ALLOWED_ORIGINS", BLOG)]);
    let first = from_origin(&server, Method::POST, "/api/v1/cart/items", BLOG)
        .json(&json!({"product_id": 1, "quantity": 1}))
        .send()
        .unwrap();
    assert_eq!(first.status(), 200, "{:?}", first.text());
    assert!(
        first.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-session-id")
    );
    let token = first.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let cart: Value = from_origin(&server, Method::GET, "/api/v1/cart", BLOG)
        .header("x-session-id", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{cart}");
}

#[test]
fn the_widget_script_and_the_settings_api_are_published() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let script = server.get("/widget.js");
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let text = script.text().unwrap();
    assert!(text.contains("attachShadow") && text.contains("data-shop"));
    assert!(
        text.len() < 8 * 1024,
        "the loader stays small: {}",
        text.len()
    );
    let spec = server.get_json("/api/openapi.json");
    for path in ["/api/v1/admin/settings", "/api/v1/admin/settings/logo"] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(spec["paths"]["/api/v1/admin/settings"]["patch"].is_object());
}
