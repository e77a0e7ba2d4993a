//! Remote model backends over real HTTP: small servers on random ports speak
//! the OpenAI chat-completions and Gemini generateContent wire formats, answer
//! plainly, call tools, and fail on purpose (slow, 429, 500, 401, garbage, cut
//! off). The backends, the circuit breaker and our rate limit are the real ones.

mod common;

use common::model_api::{Answer, KEY, MockApi, gemini_text, openai_text};

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shopkeep::config::{Config, ConfigError, Overrides, Secret};
use shopkeep::llm::remote::{
    BreakerSettings, BreakerState, Guarded, Limits, OpenAiCompatible, RemoteBackend, RemoteError,
    RemoteRequest, TokenUsage,
};
use shopkeep::llm::template::{ChatMessage, FunctionCall, FunctionSpec, Role, ToolCall, ToolSpec};

const TIMEOUT: Duration = Duration::from_secs(5);

fn search_tool() -> ToolSpec {
    ToolSpec {
        kind: "function",
        function: FunctionSpec {
            name: "search_products".into(),
            description: "Search the catalog".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "max_price": {"type": "number"},
                },
                "required": ["query"],
            }),
        },
    }
}

/// A conversation that already went through one tool call and its result.
fn conversation_with_a_tool_round() -> Vec<ChatMessage> {
    let mut call = ChatMessage::new(Role::Assistant, "");
    call.tool_calls.push(ToolCall {
        id: "call_a1".into(),
        kind: "function",
        function: FunctionCall {
            name: "search_products".into(),
            arguments: json!({"query": "oat milk"}),
        },
    });
    let mut result = ChatMessage::new(
        Role::Tool,
        r#"{"products":[{"id":7,"name":"Oat Milk 1L","price":"2.49"}]}"#,
    );
    result.tool_call_id = Some("call_a1".into());
    vec![
        ChatMessage::new(Role::System, "You are the shop assistant."),
        ChatMessage::new(Role::User, "Do you have oat milk?"),
        call,
        result,
        ChatMessage::new(Role::User, "And gluten free pasta under $5?"),
    ]
}

fn request<'a>(messages: &'a [ChatMessage], tools: &'a [ToolSpec]) -> RemoteRequest<'a> {
    RemoteRequest {
        messages,
        tools,
        max_tokens: 256,
        temperature: 0.2,
    }
}

fn hello() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(Role::System, "Be brief."),
        ChatMessage::new(Role::User, "Hello"),
    ]
}

// ---------------------------------------------------------------- OpenAI-compatible

#[test]
fn openai_plain_answer_with_usage_and_cached_tokens() {
    let api = MockApi::always(Answer::json(200, openai_text("Hi! How can I help?")));
    let messages = hello();
    let reply = api
        .openai()
        .chat("gpt-4o-mini", &request(&messages, &[]), TIMEOUT)
        .unwrap();
    assert_eq!(reply.text, "Hi! How can I help?");
    assert!(reply.tool_calls.is_empty());
    assert_eq!(
        reply.usage,
        TokenUsage {
            input: 1200,
            output: 40,
            cached: 1024
        }
    );
    assert_eq!(reply.model, "gpt-4o-mini-2024-07-18");

    let sent = api.request(0);
    assert_eq!(sent.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["max_tokens"], 256);
    assert!((sent.body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])
    );
    assert!(sent.body.get("tools").is_none(), "no tools, no tools key");
}

#[test]
fn openai_without_a_key_sends_no_authorization() {
    let api = MockApi::always(Answer::json(200, openai_text("ok")));
    let backend = OpenAiCompatible::new(&format!("{}/v1/", api.base), Secret::default());
    let messages = hello();
    backend
        .chat("local", &request(&messages, &[]), TIMEOUT)
        .unwrap();
    let sent = api.request(0);
    assert_eq!(sent.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert!(!sent.headers.contains_key("authorization"));
}

#[test]
fn openai_tool_calls_go_out_and_come_back_in_the_wire_shape() {
    let api = MockApi::always(Answer::json(
        200,
        json!({
            "model": "gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_b2", "type": "function",
                "function": {"name": "search_products",
                             "arguments": "{\"query\":\"gluten free pasta\",\"max_price\":5}"}
            }]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20},
        }),
    ));
    let messages = conversation_with_a_tool_round();
    let tools = [search_tool()];
    let reply = api
        .openai()
        .chat("gpt-4o-mini", &request(&messages, &tools), TIMEOUT)
        .unwrap();
    assert_eq!(reply.text, "");
    assert_eq!(
        reply.tool_calls,
        [ToolCall {
            id: "call_b2".into(),
            kind: "function",
            function: FunctionCall {
                name: "search_products".into(),
                arguments: json!({"query": "gluten free pasta", "max_price": 5}),
            },
        }]
    );
    assert_eq!(
        reply.usage,
        TokenUsage {
            input: 300,
            output: 20,
            cached: 0
        }
    );

    let body = api.request(0).body;
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "search_products",
            "description": "Search the catalog",
            "parameters": search_tool().function.parameters,
        }}])
    );
    let sent_call = &body["messages"][2];
    assert_eq!(sent_call["role"], "assistant");
    assert_eq!(sent_call["content"], Value::Null);
    assert_eq!(sent_call["tool_calls"][0]["id"], "call_a1");
    assert_eq!(sent_call["tool_calls"][0]["type"], "function");
    let arguments = sent_call["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .expect("arguments travel as a JSON string");
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"query": "oat milk"})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_a1",
               "content": r#"{"products":[{"id":7,"name":"Oat Milk 1L","price":"2.49"}]}"#})
    );
    assert_eq!(body["messages"][4]["role"], "user");
}

#[test]
fn openai_tool_arguments_that_are_not_json_are_malformed() {
    let api = MockApi::always(Answer::json(
        200,
        json!({"choices": [{"message": {"tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "view_cart", "arguments": "{not json"}}]}}]}),
    ));
    let messages = hello();
    let error = api
        .openai()
        .chat("m", &request(&messages, &[]), TIMEOUT)
        .unwrap_err();
    assert!(
        matches!(&error, RemoteError::Malformed(m) if m.contains("view_cart")),
        "{error:?}"
    );
}

// ---------------------------------------------------------------- Gemini

#[test]
fn gemini_plain_answer_with_usage_and_cached_tokens() {
    let api = MockApi::always(Answer::json(200, gemini_text("Hello there.")));
    let messages = hello();
    let reply = api
        .gemini()
        .chat("gemini-2.5-flash", &request(&messages, &[]), TIMEOUT)
        .unwrap();
    assert_eq!(reply.text, "Hello there.");
    assert_eq!(
        reply.usage,
        TokenUsage {
            input: 900,
            output: 25,
            cached: 512
        }
    );
    assert_eq!(reply.model, "gemini-2.5-flash");

    let sent = api.request(0);
    assert_eq!(
        sent.request_line,
        "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1"
    );
    assert_eq!(sent.headers["x-goog-api-key"], KEY);
    assert!(
        !sent.request_line.contains(KEY),
        "the key is never in the URL"
    );
    assert_eq!(
        sent.body["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        sent.body["contents"],
        json!([{"role": "user", "parts": [{"text": "Hello"}]}])
    );
    assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 256);
    assert!(sent.body.get("tools").is_none());
}

#[test]
fn gemini_function_calls_go_out_and_come_back_in_the_wire_shape() {
    let api = MockApi::always(Answer::json(
        200,
        json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me look."},
                {"functionCall": {"name": "search_products",
                                  "args": {"query": "gluten free pasta", "max_price": 5}}},
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 410, "candidatesTokenCount": 18},
        }),
    ));
    let messages = conversation_with_a_tool_round();
    let tools = [search_tool()];
    let reply = api
        .gemini()
        .chat("gemini-2.5-pro", &request(&messages, &tools), TIMEOUT)
        .unwrap();
    assert_eq!(reply.text, "Let me look.");
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].function.name, "search_products");
    assert_eq!(
        reply.tool_calls[0].function.arguments,
        json!({"query": "gluten free pasta", "max_price": 5})
    );
    assert!(!reply.tool_calls[0].id.is_empty());
    assert_eq!(
        reply.usage,
        TokenUsage {
            input: 410,
            output: 18,
            cached: 0
        }
    );
    assert_eq!(
        reply.model, "gemini-2.5-pro",
        "the asked model when none is named"
    );

    let body = api.request(0).body;
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{
            "name": "search_products",
            "description": "Search the catalog",
            "parameters": search_tool().function.parameters,
        }]}])
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Do you have oat milk?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "search_products", "args": {"query": "oat milk"}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "search_products", "response":
                    {"products": [{"id": 7, "name": "Oat Milk 1L", "price": "2.49"}]}}},
                {"text": "And gluten free pasta under $5?"},
            ]},
        ])
    );
}

// ---------------------------------------------------------------- failures, both providers

/// Both backends against one scripted failure.
fn both(answer: Answer, timeout: Duration) -> Vec<(&'static str, RemoteError, Duration, usize)> {
    let messages = hello();
    let mut outcomes = Vec::new();
    for provider in ["openai", "gemini"] {
        let api = MockApi::always(answer.clone());
        let backend: Box<dyn RemoteBackend> = match provider {
            "openai" => Box::new(api.openai()),
            _ => Box::new(api.gemini()),
        };
        let started = Instant::now();
        let outcome = backend.chat("model-x", &request(&messages, &[]), timeout);
        let elapsed = started.elapsed();
        let error = outcome.expect_err("the scripted failure must be an error");
        assert_eq!(backend.provider(), provider);
        outcomes.push((provider, error, elapsed, api.hits()));
    }
    outcomes
}

#[test]
fn a_server_slower_than_the_timeout_is_a_timeout_within_half_a_second_of_it() {
    let timeout = Duration::from_millis(600);
    let mut slow_head = Answer::json(200, openai_text("late"));
    slow_head.delay = Duration::from_secs(4);
    let mut slow_body = Answer::json(200, gemini_text("late"));
    slow_body.body_delay = Duration::from_secs(4);
    for answer in [slow_head, slow_body] {
        for (provider, error, elapsed, _) in both(answer, timeout) {
            assert_eq!(error, RemoteError::Timeout, "{provider}");
            assert!(
                elapsed < timeout + Duration::from_millis(500),
                "{provider} took {elapsed:?}"
            );
        }
    }
}

#[test]
fn status_429_carries_retry_after() {
    let answer =
        Answer::json(429, json!({"error": {"message": "slow down"}})).header("retry-after", "7");
    for (provider, error, _, _) in both(answer, TIMEOUT) {
        assert_eq!(
            error,
            RemoteError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            },
            "{provider}"
        );
    }
}

#[test]
fn gemini_429_without_the_header_reads_retry_info_from_the_body() {
    let api = MockApi::always(Answer::json(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}}),
    ));
    let messages = hello();
    assert_eq!(
        api.gemini().chat("m", &request(&messages, &[]), TIMEOUT),
        Err(RemoteError::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        })
    );
}

#[test]
fn status_500_is_a_server_error() {
    let answer = Answer::json(500, json!({"error": {"message": "internal"}}));
    for (provider, error, _, hits) in both(answer, TIMEOUT) {
        assert_eq!(error, RemoteError::Server { status: 500 }, "{provider}");
        assert_eq!(hits, 1, "{provider}: no retries inside the backend");
    }
}

#[test]
fn status_401_is_rejected_with_the_message_and_without_the_key() {
    let answer = Answer::json(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error"}}),
    );
    for (provider, error, _, _) in both(answer, TIMEOUT) {
        let RemoteError::Rejected { status, message } = &error else {
            panic!("{provider}: {error:?}");
        };
        assert_eq!(*status, 401);
        assert_eq!(
            message, "Incorrect API key provided: <redacted>",
            "{provider}"
        );
        assert!(!error.to_string().contains(KEY));
        assert!(error.trips_breaker(), "a bad key fails every call");
    }
}

#[test]
fn garbage_truncated_and_empty_bodies_are_malformed() {
    let bodies = [
        "<html><body>502 Bad Gateway</body></html>",
        r#"{"choices":[{"message":{"content":"Hel"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"Hel"#,
        "",
        "{}",
        r#"{"choices":[],"candidates":[]}"#,
    ];
    for body in bodies {
        for (provider, error, _, _) in both(Answer::raw(200, body), TIMEOUT) {
            assert!(
                matches!(error, RemoteError::Malformed(_)),
                "{provider} on {body:?}: {error:?}"
            );
        }
    }
}

#[test]
fn a_connection_cut_mid_body_is_a_transport_error() {
    let mut cut = Answer::json(200, openai_text("a long answer that never arrives whole"));
    cut.cut_at = Some(20);
    for (provider, error, _, _) in both(cut, TIMEOUT) {
        assert!(
            matches!(error, RemoteError::Transport(_)),
            "{provider}: {error:?}"
        );
    }
}

#[test]
fn nobody_listening_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backend = OpenAiCompatible::new(&format!("http://127.0.0.1:{port}/v1"), Secret::new(KEY));
    let messages = hello();
    let error = backend
        .chat("m", &request(&messages, &[]), TIMEOUT)
        .unwrap_err();
    assert!(matches!(error, RemoteError::Transport(_)), "{error:?}");
}

// ---------------------------------------------------------------- breaker and limits

fn guarded(api: &MockApi, failures: u32, cooldown: Duration, limits: Limits) -> Guarded {
    Guarded::new(
        Box::new(api.openai()),
        limits,
        BreakerSettings { failures, cooldown },
    )
}

#[test]
fn the_breaker_opens_fails_fast_probes_after_the_cooldown_and_closes_on_success() {
    // Hits 0-2 fail (the third is the first probe), then the API recovers.
    let api = MockApi::start(|n, _| match n {
        0..=2 => Answer::json(500, json!({"error": {"message": "down"}})),
        _ => Answer::json(200, openai_text("back")),
    });
    let cooldown = Duration::from_millis(400);
    let backend = guarded(&api, 2, cooldown, Limits::UNLIMITED);
    let messages = hello();
    let call = || backend.call("gpt-4o-mini", &request(&messages, &[]), TIMEOUT);
    assert_eq!(backend.provider(), "openai");

    assert_eq!(call().unwrap_err(), RemoteError::Server { status: 500 });
    assert_eq!(backend.state(), BreakerState::Closed);
    assert_eq!(call().unwrap_err(), RemoteError::Server { status: 500 });
    assert!(matches!(backend.state(), BreakerState::Open { .. }));

    let started = Instant::now();
    for _ in 0..5 {
        let error = call().unwrap_err();
        assert!(
            matches!(error, RemoteError::CircuitOpen { retry_in } if retry_in <= cooldown),
            "{error:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "open means no waiting"
    );
    assert_eq!(api.hits(), 2, "no request reaches the API while open");

    std::thread::sleep(cooldown + Duration::from_millis(50));
    assert_eq!(backend.state(), BreakerState::HalfOpen);
    assert_eq!(
        call().unwrap_err(),
        RemoteError::Server { status: 500 },
        "the probe went through"
    );
    assert_eq!(api.hits(), 3);
    assert!(
        matches!(backend.state(), BreakerState::Open { .. }),
        "a failed probe reopens"
    );
    assert!(matches!(call(), Err(RemoteError::CircuitOpen { .. })));
    assert_eq!(api.hits(), 3);

    std::thread::sleep(cooldown + Duration::from_millis(50));
    let (reply, latency) = call().unwrap();
    assert_eq!(reply.text, "back");
    assert!(latency < TIMEOUT);
    assert_eq!(backend.state(), BreakerState::Closed);
    call().unwrap();
    assert_eq!(api.hits(), 5);
}

#[test]
fn timeouts_and_malformed_replies_open_the_breaker_too() {
    let mut slow = Answer::json(200, openai_text("late"));
    slow.delay = Duration::from_secs(3);
    let api = MockApi::start(move |n, _| match n {
        0 => slow.clone(),
        _ => Answer::raw(200, "not json"),
    });
    let backend = guarded(&api, 2, Duration::from_secs(60), Limits::UNLIMITED);
    let messages = hello();
    let call = || backend.call("m", &request(&messages, &[]), Duration::from_millis(300));
    assert_eq!(call().unwrap_err(), RemoteError::Timeout);
    assert!(matches!(call().unwrap_err(), RemoteError::Malformed(_)));
    assert!(matches!(call(), Err(RemoteError::CircuitOpen { .. })));
    assert_eq!(api.hits(), 2);
}

#[test]
fn a_429_retry_after_keeps_the_circuit_open_longer_than_the_cooldown() {
    let api = MockApi::always(
        Answer::json(429, json!({"error": {"message": "quota"}})).header("retry-after", "30"),
    );
    let backend = guarded(&api, 1, Duration::from_millis(100), Limits::UNLIMITED);
    let messages = hello();
    let call = || backend.call("m", &request(&messages, &[]), TIMEOUT);
    assert!(matches!(call(), Err(RemoteError::RateLimited { .. })));
    std::thread::sleep(Duration::from_millis(300));
    let error = call().unwrap_err();
    assert!(
        matches!(error, RemoteError::CircuitOpen { retry_in } if retry_in > Duration::from_secs(25)),
        "{error:?}"
    );
    assert_eq!(api.hits(), 1);
}

#[test]
fn a_bad_request_does_not_open_the_breaker() {
    let api = MockApi::always(Answer::json(
        400,
        json!({"error": {"message": "context too long"}}),
    ));
    let backend = guarded(&api, 1, Duration::from_secs(60), Limits::UNLIMITED);
    let messages = hello();
    for _ in 0..3 {
        let error = backend
            .call("m", &request(&messages, &[]), TIMEOUT)
            .unwrap_err();
        assert_eq!(
            error,
            RemoteError::Rejected {
                status: 400,
                message: "context too long".into()
            }
        );
    }
    assert_eq!(backend.state(), BreakerState::Closed);
    assert_eq!(api.hits(), 3);
}

#[test]
fn our_requests_per_minute_refuse_at_once_without_reaching_the_api() {
    let api = MockApi::always(Answer::json(200, openai_text("ok")));
    let limits = Limits {
        requests_per_minute: 2,
        tokens_per_minute: 0,
    };
    let backend = guarded(&api, 3, Duration::from_secs(30), limits);
    let messages = hello();
    let call = || backend.call("m", &request(&messages, &[]), TIMEOUT);
    call().unwrap();
    call().unwrap();
    let started = Instant::now();
    let error = call().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "never sleeps"
    );
    assert!(
        matches!(error, RemoteError::LimitReached { retry_in }
            if retry_in > Duration::from_secs(20) && retry_in <= Duration::from_secs(30)),
        "{error:?}"
    );
    assert_eq!(api.hits(), 2);
    assert_eq!(
        backend.state(),
        BreakerState::Closed,
        "our own limit is not a failure"
    );
}

#[test]
fn our_tokens_per_minute_count_the_prompt_and_the_reply_budget() {
    let api = MockApi::always(Answer::json(200, openai_text("ok")));
    let limits = Limits {
        requests_per_minute: 0,
        tokens_per_minute: 200,
    };
    let backend = guarded(&api, 3, Duration::from_secs(30), limits);
    let messages = [ChatMessage::new(Role::User, "x".repeat(400))];
    // 100 estimated input tokens + 256 of reply budget is more than the 200 a
    // minute holds: such a call passes only on a full bucket, and empties it.
    backend
        .call("m", &request(&messages, &[]), TIMEOUT)
        .unwrap();
    let error = backend
        .call("m", &request(&messages, &[]), TIMEOUT)
        .unwrap_err();
    assert!(
        matches!(error, RemoteError::LimitReached { .. }),
        "{error:?}"
    );
    assert_eq!(api.hits(), 1);
}

// ---------------------------------------------------------------- keys stay secret

#[test]
fn debug_output_never_shows_api_keys() {
    let api = MockApi::always(Answer::json(200, openai_text("ok")));
    let texts = [
        format!("{:?}", api.openai()),
        format!("{:?}", api.gemini()),
        format!(
            "{:?}",
            guarded(&api, 3, Duration::from_secs(1), Limits::UNLIMITED)
        ),
        format!("{:?}", Secret::new(KEY)),
    ];
    for text in texts {
        assert!(!text.contains(KEY), "{text}");
    }
    assert!(format!("{:?}", api.openai()).contains("redacted"));
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn config_turns_providers_on_and_never_prints_their_keys() {
    let defaults = Config::from_sources(&Overrides::default(), &[]).unwrap();
    assert_eq!(defaults.remote.openai, None, "no base URL, no OpenAI");
    assert_eq!(defaults.remote.gemini, None, "no key, no Gemini");
    assert_eq!(defaults.remote.timeout, Duration::from_millis(8000));
    assert_eq!(defaults.remote.requests_per_minute, 500);
    assert_eq!(defaults.remote.tokens_per_minute, 2_000_000);
    assert_eq!(defaults.remote.breaker_failures, 3);
    assert_eq!(defaults.remote.breaker_cooldown, Duration::from_secs(30));
    for model in [
        "gpt-4o-mini",
        "gpt-4o",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
    ] {
        assert!(
            defaults.remote.prices.price(model).is_some(),
            "{model} has a default price"
        );
    }

    let config = Config::from_sources(
        &Overrides::default(),
        &env(&[
            ("SHOPKEEP_REMOTE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("SHOPKEEP_REMOTE_OPENAI_API_KEY", KEY),
            ("SHOPKEEP_REMOTE_GEMINI_API_KEY", "AIza-gemini-secret"),
            ("SHOPKEEP_REMOTE_GEMINI_STRONG_MODEL", "gemini-2.5-flash"),
        ]),
    )
    .unwrap();
    let openai = config.remote.openai.as_ref().unwrap();
    assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(openai.api_key.expose(), KEY);
    assert_eq!(openai.fast_model, "gpt-4o-mini");
    let gemini = config.remote.gemini.as_ref().unwrap();
    assert_eq!(gemini.base_url, "https://generativelanguage.googleapis.com");
    assert_eq!(gemini.strong_model, "gemini-2.5-flash");

    for shown in [config.describe(), format!("{config:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("AIza-gemini-secret"), "{shown}");
    }
    assert!(
        config
            .describe()
            .contains("remote.openai_api_key = \"<redacted>\"")
    );
    assert!(
        config
            .describe()
            .contains("remote.openai_base_url = \"http://127.0.0.1:9/v1/\"")
    );
}

#[test]
fn config_errors_name_the_remote_key_and_reason() {
    let cases = [
        (
            "SHOPKEEP_REMOTE_OPENAI_BASE_URL",
            "api.example.test/v1",
            "remote.openai_base_url",
            "http",
        ),
        (
            "SHOPKEEP_REMOTE_GEMINI_BASE_URL",
            "",
            "remote.gemini_base_url",
            "URL",
        ),
        (
            "SHOPKEEP_REMOTE_TIMEOUT_MS",
            "soon",
            "remote.timeout_ms",
            "whole number",
        ),
        (
            "SHOPKEEP_REMOTE_BREAKER_FAILURES",
            "0",
            "remote.breaker_failures",
            "from 1",
        ),
        (
            "SHOPKEEP_REMOTE_PRICES",
            "gpt-4o=cheap/1",
            "remote.prices",
            "\"gpt-4o=cheap/1\"",
        ),
    ];
    for (var, value, key, reason) in cases {
        let error = Config::from_sources(&Overrides::default(), &env(&[(var, value)])).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key: k, .. } if k == key),
            "{var}={value}: {error}"
        );
        let text = error.to_string();
        assert!(text.contains(reason), "{text}");
    }
    let no_model = Config::from_sources(
        &Overrides::default(),
        &env(&[
            ("SHOPKEEP_REMOTE_GEMINI_API_KEY", "k"),
            ("SHOPKEEP_REMOTE_GEMINI_FAST_MODEL", " "),
        ]),
    )
    .unwrap_err();
    assert!(
        no_model.to_string().contains("remote.gemini_fast_model"),
        "{no_model}"
    );
}
