//! A shopper for integration tests: keeps its session token between requests
//! the way an API client does (the `X-Session-Id` header).

use std::sync::Mutex;

use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::TestServer;

pub struct Shopper {
    base: String,
    client: reqwest::blocking::Client,
    token: Mutex<Option<String>>,
}

impl Shopper {
    pub fn new(server: &TestServer) -> Shopper {
        Shopper {
            base: server.base.clone(),
            client: server.client.clone(),
            token: Mutex::new(None),
        }
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.lock().unwrap() = token;
    }

    /// Sends a request in this shopper's session and keeps a new token if one comes back.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.try_send(method, path, body, headers).expect("request")
    }

    /// `send` for a server that may be gone.
    pub fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<Response> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token() {
            request = request.header("X-Session-Id", token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send()?;
        if let Some(token) = response.headers().get("x-session-id") {
            self.set_token(Some(token.to_str().unwrap().to_string()));
        }
        Ok(response)
    }

    pub fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, &[])
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body), &[])
    }

    pub fn cart(&self) -> Value {
        let response = self.get("/api/v1/cart");
        assert_eq!(response.status(), 200);
        response.json().unwrap()
    }

    pub fn add(&self, product_id: i64, quantity: i64) -> Response {
        self.post(
            "/api/v1/cart/items",
            json!({"product_id": product_id, "quantity": quantity}),
        )
    }

    /// Adds and asserts it worked; returns the cart.
    pub fn add_ok(&self, product_id: i64, quantity: i64) -> Value {
        let response = self.add(product_id, quantity);
        assert_eq!(
            response.status(),
            200,
            "add {product_id}: {:?}",
            response.text()
        );
        self.cart()
    }

    pub fn checkout(&self, key: Option<&str>) -> Response {
        self.checkout_with(checkout_details(), key)
    }

    pub fn checkout_with(&self, details: Value, key: Option<&str>) -> Response {
        let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
        self.send(Method::POST, "/api/v1/checkout", Some(details), &headers)
    }

    /// Places an order for `quantity` of `product_id`; returns the order.
    pub fn buy(&self, product_id: i64, quantity: i64) -> Value {
        self.add_ok(product_id, quantity);
        let response = self.checkout(None);
        assert_eq!(response.status(), 201, "checkout: {:?}", response.text());
        response.json().unwrap()
    }
}

/// Contact and delivery details that pass validation.
pub fn checkout_details() -> Value {
    json!({
        "contact": {"name": "Ana Pereira", "email": "ana@example.com", "phone": "+1 555 0100"},
        "delivery": {"method": "delivery", "address": {
            "line1": "12 Harbour Street", "city": "Portland", "postal_code": "04101", "country": "US"}},
        "payment_method": "manual"
    })
}

/// Creates a product through the admin API; returns its id.
pub fn create_product(server: &TestServer, handle: &str, price: &str, stock: Option<i64>) -> i64 {
    let response = server
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({
            "handle": handle,
            "name": handle.replace('-', " "),
            "category": "Test > Goods",
            "price": price,
            "stock": stock,
        }))
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "create {handle}: {:?}",
        response.text()
    );
    response.json::<Value>().unwrap()["id"].as_i64().unwrap()
}

pub fn product_stock(server: &TestServer, id: i64) -> Option<i64> {
    server.get_json(&format!("/api/v1/products/{id}"))["stock"].as_i64()
}

/// Moves an order to `status` as the admin; returns the response.
pub fn set_status(server: &TestServer, number: &str, status: &str) -> Response {
    server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/orders/{number}/status"),
        )
        .json(&json!({"status": status, "note": format!("to {status} in a test")}))
        .send()
        .unwrap()
}

/// A shopper chatting in one conversation.
pub struct Chat<'a> {
    shopper: &'a Shopper,
    pub conversation: Option<String>,
}

impl<'a> Chat<'a> {
    pub fn new(shopper: &'a Shopper) -> Chat<'a> {
        Chat {
            shopper,
            conversation: None,
        }
    }

    pub fn say(&mut self, message: &str) -> Value {
        let mut body = json!({"message": message});
        if let Some(id) = &self.conversation {
            body["conversation_id"] = json!(id);
        }
        let response = self.shopper.post("/api/v1/chat", body);
        assert_eq!(response.status(), 200, "chat {message:?}");
        let reply: Value = response.json().unwrap();
        self.conversation = reply["conversation_id"].as_str().map(str::to_string);
        reply
    }
}

pub fn tools(reply: &Value) -> Vec<String> {
    reply["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tool"].as_str().unwrap().to_string())
        .collect()
}
