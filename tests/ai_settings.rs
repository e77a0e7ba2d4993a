//! The dashboard's AI settings over HTTP against the real binary and the
//! stand-in model APIs: a provider saved at run time answers the next turn,
//! its key is sealed (not in the database file, not in answers, not in the
//! log), a bad key or URL shows in /readyz, saved budgets are enforced, the
//! test console runs a sandboxed turn, and the local model switches at run time.

mod common;

use common::model_api::{Answer, KEY, MockApi, openai_text};
use common::shop::{Chat, Shopper};
use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

fn budgets(guest_daily: u64, cap_micros: u64) -> Value {
    json!({
        "guest": {"daily": guest_daily, "monthly": 1_000_000},
        "registered": {"daily": 20_000, "monthly": 1_000_000},
        "premium": {"daily": 50_000, "monthly": 2_000_000},
        "monthly_spend_cap_micros": cap_micros
    })
}

fn settings(openai: Value, gemini: Value, budgets: Value) -> Value {
    json!({
        "tier": "auto",
        "openai": openai,
        "gemini": gemini,
        "routing": {"simple": "fast", "complex": "strong"},
        "budgets": budgets,
    })
}

fn openai(base: &str, key: Option<Value>) -> Value {
    let mut provider = json!({
        "base_url": format!("{base}/v1"),
        "fast_model": "gpt-4o-mini",
        "strong_model": "gpt-4o",
    });
    if let Some(key) = key {
        provider["api_key"] = key;
    }
    provider
}

fn put(server: &TestServer, body: &Value) -> reqwest::blocking::Response {
    server
        .admin(Method::PUT, "/api/v1/admin/ai")
        .json(body)
        .send()
        .unwrap()
}

fn put_ok(server: &TestServer, body: &Value) -> (Value, String) {
    let response = put(server, body);
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

fn ai(server: &TestServer) -> (Value, String) {
    let response = server
        .admin(Method::GET, "/api/v1/admin/ai")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_provider_saved_at_run_time_answers_the_next_turn_and_its_key_stays_sealed() {
    let api = MockApi::always(Answer::json(
        200,
        openai_text("Hello from the saved provider!"),
    ));
    let mut server = TestServer::start();
    let shopper = Shopper::new(&server);
    assert_eq!(Chat::new(&shopper).say("hello")["tier"], "free");
    let (before, _) = ai(&server);
    assert_eq!(before["tier"]["active"], "free");
    assert_eq!(before["saved_from_dashboard"], false);

    let (saved, text) = put_ok(
        &server,
        &settings(
            openai(&api.base, Some(json!(KEY))),
            Value::Null,
            budgets(20_000, 50_000_000),
        ),
    );
    assert!(!text.contains(KEY), "the answer must not carry the key");
    assert_eq!(saved["openai"]["key"]["hint"], "sk-…2c81");
    assert_eq!(saved["openai"]["key"]["source"], "dashboard");
    assert_eq!(saved["tier"]["active"], "enterprise", "{saved}");
    assert!(saved["tier"]["reason"].as_str().unwrap().contains("remote"));

    let reply = Chat::new(&shopper).say("hello again");
    assert_eq!(reply["tier"], "enterprise", "{reply}");
    assert_eq!(reply["reply"], "Hello from the saved provider!");
    assert_eq!(api.hits(), 1);
    assert_eq!(
        api.request(0).headers["authorization"],
        format!("Bearer {KEY}")
    );
    assert_eq!(api.request(0).body["model"], "gpt-4o-mini");
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["remote"]["status"], "ok", "{ready}");
    assert_eq!(ready["tier"]["active"], "enterprise");

    // Left out, the key stays; the page never gets it back in full.
    let (kept, text) = put_ok(
        &server,
        &settings(
            openai(&api.base, None),
            Value::Null,
            budgets(20_000, 50_000_000),
        ),
    );
    assert_eq!(kept["openai"]["key"]["hint"], "sk-…2c81");
    assert!(!text.contains(KEY) && !ai(&server).1.contains(KEY));
    assert_eq!(
        Chat::new(&shopper).say("still there?")["tier"],
        "enterprise"
    );

    // Sealed at rest: not in the database or its log, and the key file is private.
    let data = server.data_dir.path().to_path_buf();
    for file in ["shopkeep.db", "shopkeep.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(!contains(&bytes, KEY), "{file} holds the key in plain text");
        assert!(!contains(&bytes, "4f9d2c81"), "{file} holds the key's tail");
    }
    let key_file = data.join("secret.key");
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // An explicit null removes it.
    let (removed, _) = put_ok(
        &server,
        &settings(
            openai(&api.base, Some(Value::Null)),
            Value::Null,
            budgets(20_000, 50_000_000),
        ),
    );
    assert!(removed["openai"]["key"].is_null(), "{removed}");

    // And the server never logged it.
    server.signal("TERM");
    let (status, rest) = server.wait();
    assert!(status.success());
    assert!(
        rest.iter()
            .any(|line| line.contains("saved the AI settings")),
        "the log was read"
    );
    for line in &rest {
        assert!(!line.contains(KEY), "logged the key: {line}");
    }
}

#[test]
fn the_key_survives_a_restart_and_another_key_file_cannot_open_it() {
    let api = MockApi::always(Answer::json(200, openai_text("Still here.")));
    let mut server = TestServer::start();
    put_ok(
        &server,
        &settings(
            openai(&api.base, Some(json!(KEY))),
            Value::Null,
            budgets(20_000, 50_000_000),
        ),
    );
    server.signal("TERM");
    assert!(server.wait().0.success());
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let restarted = TestServer::start_in(data_dir, &[], &[]);
    let reply = Chat::new(&Shopper::new(&restarted)).say("hello");
    assert_eq!(reply["tier"], "enterprise", "{reply}");
    assert_eq!(
        api.request(0).headers["authorization"],
        format!("Bearer {KEY}")
    );

    // Under another key file the sealed key does not open: the shop says
    // why in the log and runs without it.
    let elsewhere = tempfile::tempdir().unwrap();
    let other_key = elsewhere.path().join("other.key");
    std::fs::write(&other_key, [7u8; 32]).unwrap();
    let mut restarted = restarted;
    restarted.signal("TERM");
    assert!(restarted.wait().0.success());
    let data_dir = std::mem::replace(&mut restarted.data_dir, tempfile::tempdir().unwrap());
    let other = TestServer::start_in(
        data_dir,
        &[],
        &[("SHOPKEEP_SECRET_KEY_FILE", other_key.to_str().unwrap())],
    );
    let (view, text) = ai(&other);
    let problem = view["openai"]["key"]["problem"]
        .as_str()
        .unwrap_or_default();
    assert!(problem.contains("cannot be decrypted"), "{view}");
    assert!(!text.contains(KEY));
    assert_eq!(
        Chat::new(&Shopper::new(&other)).say("hello")["tier"],
        "free"
    );
    assert_eq!(api.hits(), 1, "no call went out without the key");
}

#[test]
fn a_bad_key_and_an_unreachable_url_show_in_readyz() {
    let refusing = MockApi::always(Answer::json(
        401,
        json!({"error": {"message": "Incorrect API key provided"}}),
    ));
    let server = TestServer::start();
    let gemini = json!({
        "base_url": "http://127.0.0.1:9",
        "fast_model": "gemini-2.5-flash",
        "strong_model": "gemini-2.5-pro",
        "api_key": "AIza-fake-key-0001",
    });
    put_ok(
        &server,
        &settings(
            openai(&refusing.base, Some(json!("sk-wrong-key-0000"))),
            gemini,
            budgets(20_000, 50_000_000),
        ),
    );
    let before: Value = server.get("/readyz").json().unwrap();
    assert!(
        before["remote"]["reason"]
            .as_str()
            .unwrap()
            .contains("not called yet"),
        "{before}"
    );
    let reply = Chat::new(&Shopper::new(&server)).say("hello");
    assert_eq!(reply["tier"], "free", "both providers failed: {reply}");
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["remote"]["status"], "degraded", "{ready}");
    let reason = ready["remote"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("openai: failing") && reason.contains("401"),
        "{reason}"
    );
    assert!(
        reason.contains("gemini: failing") && reason.contains("could not reach"),
        "{reason}"
    );
    assert!(!reason.contains("sk-wrong-key-0000"));
    let (view, _) = ai(&server);
    assert!(
        view["openai"]["status"]
            .as_str()
            .unwrap()
            .starts_with("failing"),
        "{view}"
    );
    assert_eq!(view["gemini"]["key"]["hint"], "…0001");
}

#[test]
fn saved_budgets_and_spend_cap_are_enforced() {
    let api = MockApi::always(Answer::json(200, openai_text("Happy to help!")));
    let server = TestServer::start();
    // Each call is 1,200 + 40 tokens: the third crosses 3,000.
    put_ok(
        &server,
        &settings(
            openai(&api.base, Some(json!(KEY))),
            Value::Null,
            budgets(3000, 50_000_000),
        ),
    );
    let shopper = Shopper::new(&server);
    let mut chat = Chat::new(&shopper);
    let tiers: Vec<String> = (0..4)
        .map(|_| chat.say("hello")["tier"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tiers, ["enterprise", "enterprise", "enterprise", "free"]);
    assert_eq!(api.hits(), 3);
    let (view, _) = ai(&server);
    assert_eq!(view["budgets"]["guest"]["daily"], 3000);
    assert!(view["budgets"]["spent_this_month_micros"].as_u64().unwrap() > 0);

    // A spend cap of 0 allows no remote call, whoever asks.
    put_ok(
        &server,
        &settings(openai(&api.base, None), Value::Null, budgets(20_000, 0)),
    );
    let other = Shopper::new(&server);
    assert_eq!(Chat::new(&other).say("hello")["tier"], "free");
    assert_eq!(api.hits(), 3);
}

#[test]
fn bad_settings_are_refused_field_by_field_and_change_nothing() {
    let server = TestServer::start();
    let mut body = settings(
        json!({"base_url": "ftp://nowhere", "fast_model": "", "strong_model": "gpt-4o", "api_key": "sk-with space"}),
        Value::Null,
        budgets(20_000, 50_000_000),
    );
    body["tier"] = json!("platinum");
    let problem = assert_problem(put(&server, &body), 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "tier",
            "openai.base_url",
            "openai.fast_model",
            "openai.api_key"
        ]
    );
    assert!(!problem.to_string().contains("sk-with space"));
    assert_eq!(ai(&server).0["saved_from_dashboard"], false);
    let unknown = server
        .admin(Method::PUT, "/api/v1/admin/ai")
        .json(&json!({"tier": "auto", "bogus": 1}))
        .send()
        .unwrap();
    assert!(unknown.status().is_client_error());
    let anonymous = server
        .client
        .get(server.url("/api/v1/admin/ai"))
        .send()
        .unwrap();
    assert_problem(anonymous, 401);
    let doc: Value = server.get("/api/openapi.json").json().unwrap();
    for path in [
        "/api/v1/admin/ai",
        "/api/v1/admin/ai/model",
        "/api/v1/admin/ai/test",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} undocumented");
    }
}

#[test]
fn the_test_console_runs_one_sandboxed_turn() {
    let api = MockApi::always(Answer::json(200, openai_text("Console says hi.")));
    let server = TestServer::start();
    server.wait_for_search();
    let console = |body: Value| {
        server
            .admin(Method::POST, "/api/v1/admin/ai/test")
            .json(&body)
            .send()
            .unwrap()
    };
    let free = console(json!({"message": "add some coffee to my cart", "tier": "free"}));
    assert_eq!(free.status(), 200);
    let free: Value = free.json().unwrap();
    assert_eq!(free["tier"], "free", "{free}");
    assert!(!free["reply"].as_str().unwrap().is_empty());
    assert!(free["latency_ms"].is_u64());

    put_ok(
        &server,
        &settings(
            openai(&api.base, Some(json!(KEY))),
            Value::Null,
            budgets(20_000, 50_000_000),
        ),
    );
    let remote: Value = console(json!({"message": "hello"})).json().unwrap();
    assert_eq!(remote["tier"], "enterprise", "{remote}");
    assert_eq!(remote["reply"], "Console says hi.");
    assert_eq!(remote["usage"]["input_tokens"], 1200);
    assert_eq!(remote["usage"]["output_tokens"], 40);
    assert!(remote["usage"]["cost_micros"].as_u64().unwrap() > 0);
    let capped: Value = console(json!({"message": "hello", "tier": "free"}))
        .json()
        .unwrap();
    assert_eq!(capped["tier"], "free");
    assert_eq!(api.hits(), 1, "the free tier calls no model");

    // Nothing is left behind: no conversation, no cart, no order.
    let conversations: Value = server
        .admin(Method::GET, "/api/v1/admin/conversations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        conversations["conversations"].as_array().map(Vec::len),
        Some(0),
        "{conversations}"
    );
    let orders: Value = server
        .admin(Method::GET, "/api/v1/admin/orders")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(0),
        "{orders}"
    );

    assert_problem(console(json!({"message": "hi", "tier": "gold"})), 422);
    assert_problem(console(json!({"message": "  "})), 400);
}

#[test]
fn the_local_model_switches_at_run_time_and_a_failed_switch_keeps_the_old_one() {
    let gguf = common::model_file("gemma-3-270m");
    let models = gguf.parent().unwrap().to_str().unwrap().to_string();
    let server = TestServer::start_with(&[], &[("SHOPKEEP_MODELS_DIR", models.as_str())]);
    let switch = |id: Value| {
        server
            .admin(Method::POST, "/api/v1/admin/ai/model")
            .json(&json!({"id": id}))
            .send()
            .unwrap()
    };
    let (before, _) = ai(&server);
    assert!(before["local"]["loaded"].is_null());
    let installed: Vec<&str> = before["local"]["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(installed.contains(&"gemma-3-270m"), "{installed:?}");

    let loaded = switch(json!("gemma-3-270m"));
    assert_eq!(loaded.status(), 200);
    let loaded: Value = loaded.json().unwrap();
    assert_eq!(loaded["local"]["loaded"]["id"], "gemma-3-270m", "{loaded}");
    assert_eq!(loaded["tier"]["active"], loaded["local"]["loaded"]["tier"]);
    let ready: Value = server.get("/readyz").json().unwrap();
    assert_eq!(ready["model"]["status"], "ok", "{ready}");
    let listed: Value = server
        .admin(Method::GET, "/v1/models")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(listed.to_string().contains("gemma-3-270m"), "{listed}");

    // A model that is not there: 422, and the loaded one stays.
    let problem = assert_problem(switch(json!("no-such-model")), 422);
    assert_eq!(problem["errors"][0]["field"], "id");
    assert_eq!(ai(&server).0["local"]["loaded"]["id"], "gemma-3-270m");

    let unloaded: Value = switch(Value::Null).json().unwrap();
    assert!(unloaded["local"]["loaded"].is_null());
    assert_eq!(unloaded["tier"]["active"], "free");
}
