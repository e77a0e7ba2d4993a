//! The OpenAI-compatible API: `POST /v1/chat/completions` (streamed or not,
//! with tools and JSON-schema output), `POST /v1/embeddings` and
//! `GET /v1/models`, so existing tools and SDKs can use the shop's models.
//!
//! Every route needs a bearer key (an admin key from `shopkeep admin
//! create-key`). Handlers translate the wire format into `llm` requests and
//! back; errors are problem+json that also carry OpenAI's `error` object.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::llm::grammar::JsonGrammar;
use crate::llm::local::{
    Completion, Constraint, ConstraintMode, FinishReason, GenerateError, GenerateRequest,
};
use crate::llm::sampler::SamplingParams;
use crate::llm::template::{
    ChatMessage, FunctionCall, FunctionSpec, Role, TOOL_CALL_TAGS, ToolCall, ToolSpec,
    shared_prefix_len, tool_call_schema,
};
use crate::llm::worker::{Event, ModelWorker, SubmitError};

/// Most texts one embeddings request may carry.
const MAX_EMBEDDING_INPUTS: usize = 256;
/// Reply length when the request sets none (and the context allows it).
const DEFAULT_MAX_TOKENS: usize = 512;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/models", web::get().to(list_models))
        .route("/chat/completions", web::post().to(chat_completions))
        .route("/embeddings", web::post().to(embeddings));
}

fn openai_error(problem: Problem) -> Problem {
    problem.for_openai(None, None)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// `GET /v1/models`: the loaded chat model and the embedding model.
pub async fn list_models(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    let mut data = Vec::new();
    if let Some(worker) = state.ai.current().chat_model() {
        data.push(json!({"id": worker.frontend().info.id, "object": "model", "created": 0, "owned_by": "shopkeep"}));
    }
    if let Some(embedder) = state.search.embedder() {
        data.push(
            json!({"id": embedder.name(), "object": "model", "created": 0, "owned_by": "shopkeep"}),
        );
    }
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

// ---- chat completions: the wire format ----

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<usize>,
    min_p: Option<f32>,
    repeat_penalty: Option<f32>,
    seed: Option<u64>,
    stop: Option<OneOrMany>,
    n: Option<u32>,
    #[serde(default)]
    tools: Vec<WireTool>,
    tool_choice: Option<WireToolChoice>,
    response_format: Option<ResponseFormat>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
    tool_call_id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Debug, Deserialize)]
struct WirePart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    kind: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "empty_object_schema")]
    parameters: Value,
}

fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireToolChoice {
    Mode(String),
    Named {
        #[serde(rename = "type")]
        _kind: String,
        function: NamedFunction,
    },
}

#[derive(Debug, Deserialize)]
struct NamedFunction {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Deserialize)]
struct JsonSchemaFormat {
    #[serde(default)]
    name: String,
    schema: Value,
}

/// What the tools of a request ask of the model.
enum ToolPlan {
    None,
    Auto(JsonGrammar),
    Forced(JsonGrammar),
}

/// A validated request, ready for the worker.
struct Prepared {
    request: GenerateRequest,
    stream: bool,
    include_usage: bool,
    model: String,
}

fn field(name: &str, reason: impl Into<String>) -> Problem {
    Problem::invalid_field(name, reason).for_openai(Some(name), None)
}

fn convert_messages(wire: Vec<WireMessage>) -> Result<Vec<ChatMessage>, Problem> {
    if wire.is_empty() {
        return Err(field("messages", "at least one message is needed"));
    }
    wire.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                other => {
                    return Err(field(
                        &format!("messages[{i}].role"),
                        format!("unknown role {other:?} (system, user, assistant or tool)"),
                    ));
                }
            };
            let content = match m.content {
                None => String::new(),
                Some(WireContent::Text(text)) => text,
                Some(WireContent::Parts(parts)) => {
                    let mut text = String::new();
                    for (j, part) in parts.into_iter().enumerate() {
                        if part.kind != "text" {
                            return Err(field(
                                &format!("messages[{i}].content[{j}].type"),
                                format!("only text parts are supported, not {:?}", part.kind),
                            ));
                        }
                        text.push_str(&part.text);
                    }
                    text
                }
            };
            let mut message = ChatMessage::new(role, content);
            message.tool_call_id = m.tool_call_id;
            message.name = m.name;
            for (j, call) in m.tool_calls.into_iter().enumerate() {
                let arguments: Value = if call.function.arguments.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&call.function.arguments).map_err(|e| {
                        field(
                            &format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            format!("not valid JSON: {e}"),
                        )
                    })?
                };
                message.tool_calls.push(ToolCall {
                    id: call.id,
                    kind: "function",
                    function: FunctionCall {
                        name: call.function.name,
                        arguments,
                    },
                });
            }
            Ok(message)
        })
        .collect()
}

fn convert_tools(wire: Vec<WireTool>) -> Result<Vec<ToolSpec>, Problem> {
    wire.into_iter()
        .enumerate()
        .map(|(i, tool)| {
            if tool.kind != "function" {
                return Err(field(
                    &format!("tools[{i}].type"),
                    "only \"function\" tools are supported",
                ));
            }
            if tool.function.name.is_empty() {
                return Err(field(&format!("tools[{i}].function.name"), "is empty"));
            }
            Ok(ToolSpec {
                kind: "function",
                function: FunctionSpec {
                    name: tool.function.name,
                    description: tool.function.description,
                    parameters: tool.function.parameters,
                },
            })
        })
        .collect()
}

fn plan_tools(tools: &[ToolSpec], choice: Option<WireToolChoice>) -> Result<ToolPlan, Problem> {
    let compile = |chosen: Vec<&ToolSpec>| {
        JsonGrammar::compile(&tool_call_schema(&chosen)).map_err(|e| {
            field(
                "tools",
                format!("a tool's parameters use JSON Schema this server cannot enforce: {e}"),
            )
        })
    };
    let all = || tools.iter().collect::<Vec<_>>();
    match choice {
        _ if tools.is_empty() => match choice {
            Some(WireToolChoice::Mode(mode)) if mode == "none" || mode == "auto" => {
                Ok(ToolPlan::None)
            }
            None => Ok(ToolPlan::None),
            Some(_) => Err(field(
                "tool_choice",
                "a tool was required but no tools were given",
            )),
        },
        None => Ok(ToolPlan::Auto(compile(all())?)),
        Some(WireToolChoice::Mode(mode)) => match mode.as_str() {
            "none" => Ok(ToolPlan::None),
            "auto" => Ok(ToolPlan::Auto(compile(all())?)),
            "required" => Ok(ToolPlan::Forced(compile(all())?)),
            other => Err(field(
                "tool_choice",
                format!("unknown mode {other:?} (none, auto or required)"),
            )),
        },
        Some(WireToolChoice::Named { function, .. }) => {
            let chosen: Vec<&ToolSpec> = tools
                .iter()
                .filter(|t| t.function.name == function.name)
                .collect();
            if chosen.is_empty() {
                return Err(field(
                    "tool_choice.function.name",
                    format!("no tool is named {:?}", function.name),
                ));
            }
            Ok(ToolPlan::Forced(compile(chosen)?))
        }
    }
}

fn sampling_of(body: &ChatRequest) -> Result<SamplingParams, Problem> {
    let defaults = SamplingParams::default();
    let params = SamplingParams {
        temperature: body.temperature.unwrap_or(defaults.temperature),
        top_k: body.top_k.unwrap_or(defaults.top_k),
        top_p: body.top_p.unwrap_or(defaults.top_p),
        min_p: body.min_p.unwrap_or(defaults.min_p),
        repeat_penalty: body.repeat_penalty.unwrap_or(defaults.repeat_penalty),
        repeat_last_n: defaults.repeat_last_n,
        // Without a seed each request draws differently, as clients expect.
        seed: body.seed.unwrap_or_else(rand_seed),
    };
    params
        .check()
        .map_err(|(name, reason)| field(name, reason))?;
    Ok(params)
}

fn rand_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return now_secs();
    }
    u64::from_le_bytes(bytes)
}

/// Turns the request into tokens and a generation request.
fn prepare(worker: &ModelWorker, body: ChatRequest) -> Result<Prepared, Problem> {
    let frontend = worker.frontend();
    if body.model != frontend.info.id {
        return Err(Problem::not_found(format!(
            "model {:?} is not loaded here; this server runs {:?} (see GET /v1/models)",
            body.model, frontend.info.id
        ))
        .for_openai(Some("model"), Some("model_not_found")));
    }
    if body.n.is_some_and(|n| n != 1) {
        return Err(field("n", "only one choice per request is supported"));
    }
    let sampling = sampling_of(&body)?;
    let messages = convert_messages(body.messages)?;
    let tools = convert_tools(body.tools)?;
    let plan = plan_tools(&tools, body.tool_choice)?;
    let json_output = match body.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(json!({"type": "object"})),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let _ = json_schema.name;
            Some(json_schema.schema)
        }
    };
    let constraint = match (&plan, json_output) {
        (ToolPlan::Forced(grammar), _) => Some(Constraint {
            grammar: grammar.clone(),
            mode: ConstraintMode::ToolCall,
        }),
        (_, Some(schema)) => Some(Constraint {
            grammar: JsonGrammar::compile(&schema).map_err(|e| {
                field(
                    "response_format.json_schema.schema",
                    format!("cannot be enforced: {e}"),
                )
            })?,
            mode: ConstraintMode::Json,
        }),
        (ToolPlan::Auto(grammar), None) => Some(Constraint {
            grammar: grammar.clone(),
            mode: ConstraintMode::AfterToolTag,
        }),
        (ToolPlan::None, None) => None,
    };

    let render_error = |e: crate::llm::template::TemplateError| field("messages", e.to_string());
    let mut prompt_text = frontend
        .template
        .render(&messages, &tools, true)
        .map_err(render_error)?;
    if matches!(plan, ToolPlan::Forced(_)) {
        prompt_text.push_str(TOOL_CALL_TAGS.open);
    }
    let encode = |text: &str| {
        frontend
            .tokenizer
            .encode(text, false, true)
            .map_err(|e| field("messages", format!("cannot be tokenized: {e}")))
    };
    let prompt = encode(&prompt_text)?;
    let shared_prefix = shared_prefix_len(&messages, &tools, &prompt, |m, t| {
        frontend
            .template
            .render(m, t, false)
            .ok()
            .and_then(|text| encode(&text).ok())
    });

    let context = frontend.info.context;
    let room = context.saturating_sub(prompt.len());
    let max_tokens = match body.max_completion_tokens.or(body.max_tokens) {
        Some(0) => return Err(field("max_tokens", "must be at least 1")),
        Some(n) => n,
        None => DEFAULT_MAX_TOKENS.min(room.max(1)),
    };
    if prompt.len() + max_tokens > context {
        return Err(field(
            "messages",
            format!(
                "the prompt has {} tokens; with max_tokens {max_tokens} that exceeds the model's context of {context}",
                prompt.len()
            ),
        )
        .for_openai(Some("messages"), Some("context_length_exceeded")));
    }
    let stop = match body.stop {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(many)) if many.len() <= 4 => many,
        Some(OneOrMany::Many(_)) => return Err(field("stop", "at most 4 stop strings")),
    };
    Ok(Prepared {
        request: GenerateRequest {
            prompt,
            shared_prefix,
            sampling,
            max_tokens,
            stop,
            constraint,
        },
        stream: body.stream,
        include_usage: body.stream_options.is_some_and(|o| o.include_usage),
        model: frontend.info.id.clone(),
    })
}

fn submit(
    worker: &ModelWorker,
    request: GenerateRequest,
) -> Result<tokio::sync::mpsc::UnboundedReceiver<Event>, Problem> {
    worker.submit(request).map_err(|error| match error {
        SubmitError::Busy {
            retry_after_secs, ..
        } => Problem::too_many_requests(error.to_string(), retry_after_secs)
            .for_openai(None, Some("model_busy")),
        SubmitError::Stopped => openai_error(Problem::unavailable(error.to_string(), 5)),
    })
}

fn generation_problem(error: GenerateError) -> Problem {
    match error {
        GenerateError::ContextExceeded { .. } => field("messages", error.to_string()),
        other => {
            tracing::error!(error = %other, "generation failed");
            openai_error(Problem::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                other.to_string(),
            ))
        }
    }
}

fn finish_reason(done: &Completion) -> &'static str {
    match done.finish {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCall => "tool_calls",
    }
}

fn usage(done: &Completion) -> Value {
    json!({
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": done.cached_tokens},
    })
}

/// The model's tool call as OpenAI's `tool_calls` entry; a call that names
/// no known shape is returned as text instead by the caller.
fn tool_call_json(done: &Completion) -> Option<Value> {
    let raw = done.tool_call.as_ref()?;
    let call: Value = serde_json::from_str(raw).ok()?;
    let name = call.get("name")?.as_str()?.to_string();
    let arguments = call.get("arguments").cloned().unwrap_or_else(|| json!({}));
    Some(json!({
        "id": random_id("call_"),
        "type": "function",
        "function": {"name": name, "arguments": arguments.to_string()},
    }))
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    _: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: ChatRequest = parse_body(&req, &body).map_err(openai_error)?;
    let worker = state.ai.current().chat_model().cloned().ok_or_else(|| {
        Problem::not_found(format!(
            "no chat model is loaded, so model {:?} is not available; start with `serve --model ID`",
            body.model
        ))
        .for_openai(Some("model"), Some("model_not_found"))
    })?;
    let prepared = web::block(move || prepare(&worker, body).map(|p| (p, worker))).await??;
    let (prepared, worker) = prepared;
    let events = submit(&worker, prepared.request.clone())?;
    let id = random_id("chatcmpl-");
    if prepared.stream {
        return Ok(stream_response(id, prepared, events));
    }
    let done = collect(events).await?;
    let mut message = json!({"role": "assistant", "content": done.text});
    if let Some(call) = tool_call_json(&done) {
        message["tool_calls"] = json!([call]);
        if done.text.trim().is_empty() {
            message["content"] = Value::Null;
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "object": "chat.completion",
        "created": now_secs(),
        "model": prepared.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(&done), "logprobs": null}],
        "usage": usage(&done),
    })))
}

async fn collect(
    mut events: tokio::sync::mpsc::UnboundedReceiver<Event>,
) -> Result<Completion, Problem> {
    while let Some(event) = events.recv().await {
        if let Event::Done(result) = event {
            return result.map_err(generation_problem);
        }
    }
    Err(openai_error(Problem::unavailable(
        "the model worker stopped before answering",
        5,
    )))
}

fn sse(value: &Value) -> web::Bytes {
    web::Bytes::from(format!("data: {value}\n\n"))
}

/// Streams chunks as server-sent events; dropping the stream (the client
/// went away) drops the receiver, which cancels the generation.
fn stream_response(
    id: String,
    prepared: Prepared,
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
) -> HttpResponse {
    let created = now_secs();
    let model = prepared.model.clone();
    let include_usage = prepared.include_usage;
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    };
    let first = sse(&chunk(json!({"role": "assistant", "content": ""}), None));
    let body = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(first) }).chain(
        tokio_stream_of(events).flat_map(move |event| {
            let pieces: Vec<web::Bytes> = match event {
                Event::Text(text) => vec![sse(&chunk(json!({"content": text}), None))],
                Event::Done(Ok(done)) => {
                    let mut out = Vec::new();
                    if let Some(call) = tool_call_json(&done) {
                        let mut call = call;
                        call["index"] = json!(0);
                        out.push(sse(&chunk(json!({"tool_calls": [call]}), None)));
                    }
                    out.push(sse(&chunk(json!({}), Some(finish_reason(&done)))));
                    if include_usage {
                        let mut last = chunk(json!({}), None);
                        last["choices"] = json!([]);
                        last["usage"] = usage(&done);
                        out.push(sse(&last));
                    }
                    out.push(web::Bytes::from_static(b"data: [DONE]\n\n"));
                    out
                }
                Event::Done(Err(error)) => {
                    let problem = generation_problem(error);
                    vec![
                        sse(&json!({"error": problem.openai})),
                        web::Bytes::from_static(b"data: [DONE]\n\n"),
                    ]
                }
            };
            futures_util::stream::iter(pieces.into_iter().map(Ok::<_, actix_web::Error>))
        }),
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// A tokio receiver as a stream.
fn tokio_stream_of<T: 'static>(
    receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

// ---- embeddings ----

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: EmbeddingInput,
    #[serde(default)]
    encoding_format: Option<String>,
    dimensions: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<serde::de::IgnoredAny>),
}

/// `POST /v1/embeddings`: the MiniLM sentence embeddings search uses.
pub async fn embeddings(
    _: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let body: EmbeddingsRequest = parse_body(&req, &body).map_err(openai_error)?;
    let Some(embedder) = state.search.embedder() else {
        return Err(Problem::not_found(format!(
            "model {:?} is not available: no embedding model is installed (shopkeep models pull all-minilm-l6-v2)",
            body.model
        ))
        .for_openai(Some("model"), Some("model_not_found")));
    };
    if body.model != embedder.name() {
        return Err(Problem::not_found(format!(
            "model {:?} is not an embedding model here; use {:?}",
            body.model,
            embedder.name()
        ))
        .for_openai(Some("model"), Some("model_not_found")));
    }
    let texts = match body.input {
        EmbeddingInput::One(text) => vec![text],
        EmbeddingInput::Many(texts) => texts,
        EmbeddingInput::Tokens(tokens) => {
            return Err(field(
                "input",
                format!(
                    "token arrays ({} items) are not supported; send text",
                    tokens.len()
                ),
            ));
        }
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(field(
            "input",
            format!("send between 1 and {MAX_EMBEDDING_INPUTS} texts"),
        ));
    }
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(field(&format!("input[{i}]"), "is empty"));
    }
    let dims = embedder.dims();
    if body.dimensions.is_some_and(|d| d != dims) {
        return Err(field(
            "dimensions",
            format!("this model has exactly {dims} dimensions"),
        ));
    }
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(field(
                "encoding_format",
                format!("{other:?} is not float or base64"),
            ));
        }
    };
    let state_for_work = state.clone();
    let (vectors, tokens) = web::block(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        state_for_work
            .search
            .embedder()
            .map(|e| e.embed_with_usage(&refs))
    })
    .await?
    .ok_or_else(|| openai_error(Problem::unavailable("the embedding model went away", 5)))?
    .map_err(|e| {
        openai_error(Problem::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ))
    })?;
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                json!(base64_of_floats(vector))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })))
}

/// Little-endian f32s in standard base64, as OpenAI sends `encoding_format=base64`.
fn base64_of_floats(vector: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        // 1.0f32 = 00 00 80 3f
        assert_eq!(base64_of_floats(&[1.0]), "AACAPw==");
        assert_eq!(base64_of_floats(&[]), "");
        assert_eq!(base64_of_floats(&[1.0, -2.0, 0.5]), "AACAPwAAAMAAAAA/");
    }
}
