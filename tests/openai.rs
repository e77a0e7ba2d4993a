//! The OpenAI-compatible API on a real server with the real Qwen model: the
//! official `openai` Python client's view (tests/python/openai_client.py),
//! plus what a client library cannot easily show — a full queue answering
//! 429 with Retry-After, a client that hangs up cancelling its generation,
//! and a model that does not fit falling back to the free tier.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};

const MODEL: &str = "qwen2.5-coder-0.5b-instruct";

fn start(extra_env: &[(&str, &str)]) -> TestServer {
    let models = common::models_dir();
    common::model_file(MODEL);
    let mut env = vec![("SHOPKEEP_MODELS_DIR", models.to_str().unwrap())];
    env.extend_from_slice(extra_env);
    TestServer::start_with(&["--model", MODEL], &env)
}

fn slow_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

fn chat(server: &TestServer, body: Value) -> reqwest::blocking::Response {
    slow_client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&server.admin_key)
        .json(&body)
        .send()
        .unwrap()
}

#[test]
fn the_official_openai_python_client_works_against_the_server() {
    let server = start(&[]);
    server.wait_for_search();
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/openai_client.py"
        ))
        .env("SHOPKEEP_BASE", server.url("/v1"))
        .env("SHOPKEEP_KEY", &server.admin_key)
        .env("SHOPKEEP_MODEL", MODEL)
        .output()
        .expect("python3 runs (the openai package is installed by .ci/run)");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openai client tests failed:\n{report}"
    );
    assert!(report.contains("OK"), "{report}");
}

#[test]
fn readiness_reports_the_model_and_the_starter_tier() {
    let server = start(&[]);
    let ready = server.get_json("/readyz");
    assert_eq!(ready["model"]["status"], "ok", "{ready}");
    assert!(ready["model"]["reason"].as_str().unwrap().contains(MODEL));
    assert_eq!(ready["tier"]["active"], "starter", "{ready}");
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_a_hang_up_cancels() {
    let server = start(&[("SHOPKEEP_LLM_QUEUE", "1")]);
    let long = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a long poem about bread."}],
        "max_tokens": 400, "temperature": 0, "stream": true,
    });
    // The first request runs, the second waits in the one queue slot.
    let running = slow_client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&server.admin_key)
        .json(&long)
        .send()
        .unwrap();
    assert_eq!(running.status(), 200);
    let mut lines = BufReader::new(running).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("data: "), "{first}");
    let waiting = {
        let url = server.url("/v1/chat/completions");
        let key = server.admin_key.clone();
        let body = long.clone();
        std::thread::spawn(move || {
            slow_client()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .map(|r| r.status().as_u16())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let refused = chat(
        &server,
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    // Hang up on the running stream: its generation stops long before 400 tokens.
    drop(lines);
    let cancelled = server.wait_for_log("generation cancelled", Duration::from_secs(120));
    let event: Value = serde_json::from_str(&cancelled).unwrap();
    assert!(event["fields"]["tokens"].as_u64().unwrap() < 400, "{event}");
    drop(waiting);
}

#[test]
fn a_model_that_does_not_fit_leaves_the_shop_on_the_free_tier() {
    let server = start(&[("SHOPKEEP_LLM_MAX_MEMORY_MB", "100")]);
    let ready = server.get_json("/readyz");
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["model"]["status"], "degraded");
    let reason = ready["model"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("100 MB") && reason.contains("free tier"),
        "{reason}"
    );
    assert_eq!(ready["tier"]["active"], "free");
    let response = chat(
        &server,
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let problem = common::assert_problem(response, 404);
    assert_eq!(problem["error"]["code"], "model_not_found", "{problem}");
}
