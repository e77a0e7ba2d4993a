//! The local inference engine on the real Qwen2.5 0.5B and Gemma 3 270M GGUF
//! files: coherent text, determinism, sampling, stop strings, the prefix
//! cache, cancellation, JSON-schema constrained tool calls, and clear errors
//! for files that are broken or too big.

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};
use shopkeep::llm::grammar::JsonGrammar;
use shopkeep::llm::local::{
    Completion, Constraint, ConstraintMode, Engine, FinishReason, GenerateRequest, LoadError,
    LoadOptions, TokenSink, load,
};
use shopkeep::llm::sampler::SamplingParams;
use shopkeep::llm::template::{ChatMessage, FunctionSpec, Role, TOOL_CALL_TAGS, ToolSpec};
use shopkeep::llm::transformer::Kernels;

const QWEN: &str = "qwen2.5-coder-0.5b-instruct";
const GEMMA: &str = "gemma-3-270m";

fn options(id: &str) -> LoadOptions {
    LoadOptions {
        id: id.into(),
        context: 2048,
        max_memory_mb: None,
        fallback_tier: "free",
        kernels: Kernels::Fast,
    }
}

/// One loaded engine per model for the whole test binary.
fn engine(id: &'static str) -> &'static Mutex<Engine> {
    static QWEN_ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
    static GEMMA_ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
    let cell = if id == QWEN {
        &QWEN_ENGINE
    } else {
        &GEMMA_ENGINE
    };
    cell.get_or_init(|| {
        let path = common::model_file(id);
        Mutex::new(load(&path, &options(id)).expect("the model loads"))
    })
}

/// Collects text; cancels after `limit` pieces when given one.
#[derive(Default)]
struct Collect {
    text: String,
    pieces: usize,
    cancel_after: Option<usize>,
}

impl TokenSink for Collect {
    fn text(&mut self, text: &str) -> bool {
        self.text.push_str(text);
        self.pieces += 1;
        self.cancel_after.is_none_or(|n| self.pieces < n)
    }

    fn is_cancelled(&self) -> bool {
        self.cancel_after.is_some_and(|n| self.pieces >= n)
    }
}

fn request(prompt: Vec<u32>, sampling: SamplingParams, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt,
        shared_prefix: 0,
        sampling,
        max_tokens,
        stop: Vec::new(),
        constraint: None,
    }
}

fn raw_prompt(engine: &Engine, text: &str) -> Vec<u32> {
    engine
        .frontend()
        .tokenizer
        .encode(text, true, false)
        .expect("tokenizes")
}

fn chat_prompt(engine: &Engine, messages: &[ChatMessage], tools: &[ToolSpec]) -> Vec<u32> {
    let frontend = engine.frontend();
    let text = frontend
        .template
        .render(messages, tools, true)
        .expect("renders");
    frontend
        .tokenizer
        .encode(&text, false, true)
        .expect("tokenizes")
}

fn run(engine: &mut Engine, request: &GenerateRequest) -> (Completion, String) {
    let mut sink = Collect::default();
    let done = engine.generate(request, &mut sink).expect("generates");
    assert_eq!(done.text, sink.text, "streamed text equals the final text");
    (done, sink.text)
}

#[test]
fn qwen_answers_a_question_coherently_and_greedy_is_deterministic() {
    let mut engine = engine(QWEN).lock().unwrap();
    let prompt = chat_prompt(
        &engine,
        &[
            ChatMessage::new(
                Role::System,
                "You are a helpful assistant. Answer in one word.",
            ),
            ChatMessage::new(Role::User, "What is the capital of France?"),
        ],
        &[],
    );
    let (first, text) = run(
        &mut engine,
        &request(prompt.clone(), SamplingParams::greedy(), 8),
    );
    assert!(text.contains("Paris"), "answer: {text:?}");
    assert_eq!(first.finish, FinishReason::Stop, "stops at end of turn");
    engine.clear_prefix_cache();
    let (_, cold) = run(
        &mut engine,
        &request(prompt.clone(), SamplingParams::greedy(), 8),
    );
    // The third run reuses the whole prompt's cache and must not change a thing.
    let (cached, warm) = run(
        &mut engine,
        &request(prompt.clone(), SamplingParams::greedy(), 8),
    );
    assert_eq!(cold, text);
    assert_eq!(warm, text);
    assert_eq!(cached.cached_tokens, prompt.len());
}

#[test]
fn gemma_continues_a_sequence_coherently() {
    let mut engine = engine(GEMMA).lock().unwrap();
    let prompt = raw_prompt(&engine, "1, 2, 3, 4, 5, 6,");
    let (done, text) = run(&mut engine, &request(prompt, SamplingParams::greedy(), 8));
    assert!(text.starts_with(" 7, 8"), "continuation: {text:?}");
    assert_eq!(done.completion_tokens, 8);
    assert_eq!(done.finish, FinishReason::Length);
}

#[test]
fn the_same_seed_gives_the_same_text_and_stop_strings_cut_it() {
    let mut engine = engine(GEMMA).lock().unwrap();
    let prompt = raw_prompt(&engine, "Once upon a time, in a small cheese shop,");
    let sampled = |seed| SamplingParams {
        temperature: 1.0,
        seed,
        ..SamplingParams::default()
    };
    let (_, a) = run(&mut engine, &request(prompt.clone(), sampled(7), 24));
    let (_, b) = run(&mut engine, &request(prompt.clone(), sampled(7), 24));
    let (_, c) = run(&mut engine, &request(prompt.clone(), sampled(8), 24));
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed draws another text");

    let counting = raw_prompt(&engine, "1, 2, 3, 4, 5, 6,");
    let mut stopped = request(counting, SamplingParams::greedy(), 16);
    stopped.stop = vec![" 9".into()];
    let (done, text) = run(&mut engine, &stopped);
    assert_eq!(done.finish, FinishReason::Stop);
    assert!(text.starts_with(" 7, 8"), "{text:?}");
    assert!(
        !text.contains('9'),
        "the stop string and what follows are cut: {text:?}"
    );
}

#[test]
fn a_shared_system_prompt_is_not_computed_twice() {
    let mut engine = engine(QWEN).lock().unwrap();
    engine.clear_prefix_cache();
    let system = "You are the assistant of a small grocery. ".repeat(20);
    let ask = |engine: &Engine, question: &str| {
        let messages = [
            ChatMessage::new(Role::System, system.clone()),
            ChatMessage::new(Role::User, question),
        ];
        let full = chat_prompt(engine, &messages, &[]);
        let frontend = engine.frontend();
        let head = frontend
            .template
            .render(&messages[..1], &[], false)
            .unwrap();
        let head = frontend.tokenizer.encode(&head, false, true).unwrap();
        let shared = head.iter().zip(&full).take_while(|(a, b)| a == b).count();
        (full, shared)
    };
    let (first, shared) = ask(&engine, "Do you sell oat milk?");
    assert!(
        shared > 150,
        "the system prompt is the shared part ({shared} tokens)"
    );
    let mut req = request(first, SamplingParams::greedy(), 1);
    req.shared_prefix = shared;
    let (cold, _) = run(&mut engine, &req);
    assert_eq!(cold.cached_tokens, 0);
    let (second, shared) = ask(&engine, "Is the bakery open on Sunday?");
    let mut req = request(second, SamplingParams::greedy(), 1);
    req.shared_prefix = shared;
    let (warm, _) = run(&mut engine, &req);
    assert!(
        warm.cached_tokens >= shared,
        "reused {} of {shared}",
        warm.cached_tokens
    );
}

#[test]
fn a_client_that_goes_away_cancels_the_generation() {
    let mut engine = engine(GEMMA).lock().unwrap();
    let prompt = raw_prompt(&engine, "A list of cheeses:");
    let mut sink = Collect {
        cancel_after: Some(3),
        ..Collect::default()
    };
    let done = engine
        .generate(&request(prompt, SamplingParams::greedy(), 64), &mut sink)
        .unwrap();
    assert_eq!(done.finish, FinishReason::Cancelled);
    assert!(
        done.completion_tokens < 10,
        "{} tokens",
        done.completion_tokens
    );
}

fn shop_tools() -> Vec<ToolSpec> {
    let tool = |name: &str, description: &str, parameters: Value| ToolSpec {
        kind: "function",
        function: FunctionSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        },
    };
    vec![
        tool(
            "search_products",
            "Search the shop's catalog",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "maxLength": 60},
                "max_price": {"type": "number"},
                "dietary": {"type": "string", "enum": ["vegan", "vegetarian", "gluten-free", "dairy-free", "none"]}
            }, "required": ["query", "dietary"]}),
        ),
        tool(
            "add_to_cart",
            "Put a product in the cart",
            json!({"type": "object", "properties": {
                "product": {"type": "string", "maxLength": 60},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 99}
            }, "required": ["product", "quantity"]}),
        ),
    ]
}

fn tool_call_grammar(tools: &[ToolSpec]) -> JsonGrammar {
    let envelopes: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({"type": "object", "properties": {
                "name": {"const": t.function.name},
                "arguments": t.function.parameters,
            }, "required": ["name", "arguments"]})
        })
        .collect();
    JsonGrammar::compile(&json!({"anyOf": envelopes})).expect("compiles")
}

/// The shape a valid call has: a known tool, and arguments of the right types.
fn check_call(call: &Value) -> Result<(), String> {
    let args = &call["arguments"];
    match call["name"].as_str() {
        Some("search_products") => {
            args["query"].as_str().ok_or("query is not a string")?;
            let dietary = args["dietary"].as_str().ok_or("dietary is not a string")?;
            if !["vegan", "vegetarian", "gluten-free", "dairy-free", "none"].contains(&dietary) {
                return Err(format!("dietary {dietary:?} is not in the enum"));
            }
            if !args["max_price"].is_null() && !args["max_price"].is_number() {
                return Err("max_price is not a number".into());
            }
            Ok(())
        }
        Some("add_to_cart") => {
            args["product"].as_str().ok_or("product is not a string")?;
            let quantity = args["quantity"]
                .as_i64()
                .ok_or("quantity is not an integer")?;
            if !(1..=99).contains(&quantity) {
                return Err(format!("quantity {quantity} is out of range"));
            }
            Ok(())
        }
        other => Err(format!("unknown tool {other:?}")),
    }
}

#[test]
fn constrained_tool_calls_always_parse_100_of_100() {
    let mut engine = engine(QWEN).lock().unwrap();
    let tools = shop_tools();
    let grammar = tool_call_grammar(&tools);
    let items = [
        "oat milk",
        "sourdough",
        "brie",
        "olive oil",
        "espresso beans",
    ];
    let asks = [
        "Find me {} under $12",
        "Add {n} {} to my cart",
        "Do you have vegan {}?",
        "I want {n} packs of {}",
        "Show gluten-free {} please",
    ];
    let system = ChatMessage::new(Role::System, "You are a shop assistant. Use the tools.");
    let mut failures = Vec::new();
    for i in 0..100 {
        let ask = asks[i % asks.len()]
            .replace("{n}", &(i % 5 + 1).to_string())
            .replace("{}", items[(i / asks.len()) % items.len()]);
        let mut text = engine
            .frontend()
            .template
            .render(
                &[system.clone(), ChatMessage::new(Role::User, ask.clone())],
                &tools,
                true,
            )
            .unwrap();
        text.push_str(TOOL_CALL_TAGS.open);
        let prompt = engine
            .frontend()
            .tokenizer
            .encode(&text, false, true)
            .unwrap();
        let mut req = request(
            prompt,
            SamplingParams {
                temperature: 0.8,
                seed: i as u64,
                ..SamplingParams::default()
            },
            96,
        );
        req.constraint = Some(Constraint {
            grammar: grammar.clone(),
            mode: ConstraintMode::ToolCall,
        });
        let (done, _) = run(&mut engine, &req);
        let json = done.tool_call.clone().unwrap_or_default();
        let verdict = serde_json::from_str::<Value>(&json)
            .map_err(|e| e.to_string())
            .and_then(|call| check_call(&call));
        if done.finish != FinishReason::ToolCall {
            failures.push(format!("{ask}: finished {:?} with {json}", done.finish));
        } else if let Err(why) = verdict {
            failures.push(format!("{ask}: {why} in {json}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 100 failed: {failures:#?}",
        failures.len()
    );
}

#[test]
fn broken_files_and_models_that_do_not_fit_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::model_file(GEMMA);
    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(&real).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(
        &garbage,
        b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff",
    )
    .unwrap();
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    for path in [&truncated, &garbage, &empty] {
        match load(path, &options("broken")) {
            Err(LoadError::Corrupt { reason, .. }) => assert!(!reason.is_empty()),
            Err(other) => panic!("{}: unexpected error {other}", path.display()),
            Ok(_) => panic!("{} loaded", path.display()),
        }
    }
    let missing: PathBuf = dir.path().join("missing.gguf");
    assert!(matches!(
        load(&missing, &options("x")),
        Err(LoadError::Open { .. })
    ));

    let tight = LoadOptions {
        max_memory_mb: Some(100),
        ..options(GEMMA)
    };
    let error = load(&real, &tight).err().expect("refused");
    let text = error.to_string();
    assert!(
        matches!(error, LoadError::TooBig { .. })
            && text.contains("free tier")
            && text.contains("100 MB"),
        "{text}"
    );
}
