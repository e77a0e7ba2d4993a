//! The chat API: `POST /api/v1/chat` (JSON, or server-sent events with
//! `"stream": true` or `Accept: text/event-stream`), the shopper's own
//! conversation history and live stream, and the admin's conversation list,
//! transcripts, takeover and FAQ.
//!
//! Handlers translate HTTP to `assistant` calls and back; the turn itself
//! runs on a blocking thread (it reads and writes SQLite and searches).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::cart::cart_json;
use super::json::parse_body;
use super::problem::Problem;
use super::shopper::CurrentShopper;
use crate::assistant::live::LiveEvent;
use crate::assistant::prompt::Voice;
use crate::assistant::router::Backends;
use crate::assistant::{self, Assistant, AssistantError, Services, TurnEvent, TurnReply};
use crate::catalog::FieldError;
use crate::commerce::Shopper;
use crate::config::Config;
use crate::store::conversations::{self, ConversationRow, MessageRow};
use crate::store::{faq, now_utc};

/// Most messages one history request returns.
const MAX_HISTORY: usize = 500;
const MAX_FAQ_ENTRIES: usize = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/chat", web::post().to(chat))
        .route("/conversations/{id}", web::get().to(my_conversation))
        .route("/conversations/{id}/events", web::get().to(live_events))
        .route("/admin/conversations", web::get().to(list_conversations))
        .route("/admin/conversations/{id}", web::get().to(transcript))
        .route(
            "/admin/conversations/{id}/takeover",
            web::post().to(take_over),
        )
        .route("/admin/conversations/{id}/release", web::post().to(release))
        .route(
            "/admin/conversations/{id}/messages",
            web::post().to(admin_message),
        )
        .route("/admin/faq", web::get().to(show_faq))
        .route("/admin/faq", web::put().to(replace_faq));
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    /// Continue this conversation; a new one starts when absent.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Answer as server-sent events (also chosen by `Accept: text/event-stream`).
    #[serde(default)]
    pub stream: bool,
}

pub fn assistant_problem(error: AssistantError) -> Problem {
    match error {
        AssistantError::BadMessage(reason) => Problem::invalid_field("message", reason),
        AssistantError::NoConversation(id) => {
            Problem::not_found(format!("there is no conversation {id}"))
        }
        AssistantError::Store(e) => Problem::from(e),
        AssistantError::Tool(reason) => Problem::unavailable(reason, 1),
    }
}

fn wants_stream(req: &HttpRequest, body: &ChatRequest) -> bool {
    body.stream
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"))
}

/// Runs a turn on a blocking thread, handing each event to `on_event` there.
async fn run_turn(
    state: web::Data<AppState>,
    shopper: Shopper,
    body: ChatRequest,
    mut on_event: impl FnMut(&AppState, TurnEvent) + Send + 'static,
) -> Result<Result<TurnReply, AssistantError>, Problem> {
    Ok(web::block(move || {
        let settings = state.settings.current();
        let config = settings.over_running(&state.config);
        // The set-up this turn started with, even if the admin swaps it meanwhile.
        let running = state.ai.current();
        let assistant = assistant_for(&state, &config, &running.backends).with_voice(Voice {
            tone: settings.assistant_tone.guidance(),
            instructions: settings.assistant_instructions.as_str(),
        });
        assistant.turn(
            shopper,
            body.conversation_id.as_deref(),
            &body.message,
            &mut |event| on_event(&state, event),
        )
    })
    .await?)
}

/// The assistant of `state`'s shop as `config` (the running settings)
/// describes it, on `backends`.
fn assistant_for<'a>(
    state: &'a AppState,
    config: &'a Config,
    backends: &'a Backends,
) -> Assistant<'a> {
    Assistant::new(&state.store, config, services(state, backends))
}

/// What a turn may use besides the store, with the backends it runs on.
pub fn services<'a>(state: &'a AppState, backends: &'a Backends) -> Services<'a> {
    Services {
        search: &state.search,
        payments: &state.payments,
        live: &state.live,
        backends,
        webhooks: Some(&state.webhooks),
        answers: Some(&state.answers),
    }
}

/// One shopper message; the reply as JSON or as a stream of events
/// (`conversation`, `token`, `tool_call`, `tool_result`, `products`, `cart`,
/// `confirmation`, `handoff`, then `done` with the usage, or `error`).
#[utoipa::path(post, path = "/api/v1/chat", tag = "assistant", request_body = ChatRequest,
    security(("session" = [])),
    responses((status = 200, description = "The reply: JSON {conversation_id, reply, actions, products, cart, tier, model, usage}, or text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn chat(
    req: HttpRequest,
    shopper: CurrentShopper,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let request: ChatRequest = parse_body(&req, &body)?;
    if wants_stream(&req, &request) {
        return Ok(stream_turn(state, shopper.0, request));
    }
    let reply = run_turn(state.clone(), shopper.0, request, |_, _| {})
        .await?
        .map_err(assistant_problem)?;
    Ok(HttpResponse::Ok().json(reply_json(&state, reply)))
}

fn reply_json(state: &AppState, reply: TurnReply) -> Value {
    json!({
        "conversation_id": reply.conversation_id,
        "reply": reply.reply,
        "intent": reply.intent,
        "actions": reply.actions,
        "products": reply.products,
        "cart": reply.cart.map(|c| cart_json(c, &state.config.currency)),
        "order_number": reply.order_number,
        "tier": reply.tier,
        "model": reply.model,
        "usage": reply.usage,
        "cached": reply.cached,
        "flagged": reply.flagged,
    })
}

fn sse(event: &str, data: &Value) -> web::Bytes {
    web::Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn event_frame(state: &AppState, event: TurnEvent) -> web::Bytes {
    match event {
        TurnEvent::Conversation(id) => sse("conversation", &json!({"conversation_id": id})),
        TurnEvent::Token(text) => sse("token", &json!({"text": text})),
        TurnEvent::ToolCall { name, arguments } => {
            sse("tool_call", &json!({"name": name, "arguments": arguments}))
        }
        TurnEvent::ToolResult { name, ok, summary } => sse(
            "tool_result",
            &json!({"name": name, "ok": ok, "summary": summary}),
        ),
        TurnEvent::Products(products) => sse("products", &json!({"products": products})),
        TurnEvent::Cart(view) => sse(
            "cart",
            &serde_json::to_value(cart_json(view, &state.config.currency)).unwrap_or(Value::Null),
        ),
        TurnEvent::ConfirmationNeeded => sse("confirmation", &json!({})),
        TurnEvent::Handoff { by } => sse("handoff", &json!({"by": by})),
    }
}

/// Streams the turn's events as they happen; `done` carries the whole reply.
fn stream_turn(state: web::Data<AppState>, shopper: Shopper, request: ChatRequest) -> HttpResponse {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<web::Bytes>();
    let events = sender.clone();
    actix_web::rt::spawn(async move {
        let finished = run_turn(state.clone(), shopper, request, move |state, event| {
            // A client that went away stops reading; the turn still completes.
            let _ = events.send(event_frame(state, event));
        })
        .await;
        let last = match finished {
            Ok(Ok(reply)) => sse("done", &reply_json(&state, reply)),
            Ok(Err(error)) => sse("error", &problem_json(assistant_problem(error))),
            Err(problem) => sse("error", &problem_json(problem)),
        };
        let _ = sender.send(last);
    });
    sse_response(receiver_stream(receiver))
}

fn problem_json(problem: Problem) -> Value {
    serde_json::to_value(&problem).unwrap_or(Value::Null)
}

fn sse_response(body: impl futures_util::Stream<Item = web::Bytes> + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.map(Ok::<_, actix_web::Error>))
}

fn receiver_stream(
    receiver: tokio::sync::mpsc::UnboundedReceiver<web::Bytes>,
) -> impl futures_util::Stream<Item = web::Bytes> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageJson {
    pub id: i64,
    /// `shopper`, `assistant` or `admin`.
    pub role: String,
    pub content: String,
    pub at: String,
    pub tier: Option<String>,
    #[schema(value_type = Object)]
    pub actions: Value,
}

fn message_json(row: MessageRow) -> MessageJson {
    MessageJson {
        id: row.id,
        role: row.role,
        content: row.content,
        at: row.created_at,
        tier: row.tier,
        actions: serde_json::from_str(&row.actions).unwrap_or(Value::Array(Vec::new())),
    }
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    pub after: i64,
}

/// The shopper's own conversation and its messages (after message `after`).
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "assistant",
    params(("id" = String, Path, description = "conversation id"),
        ("after" = Option<i64>, Query, description = "only messages with a larger id")),
    security(("session" = [])),
    responses((status = 200, description = "The conversation and its messages"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn my_conversation(
    shopper: CurrentShopper,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let after = query.after;
    let state2 = state.clone();
    let (conversation, messages) = web::block(move || {
        let running = state2.ai.current();
        assistant_for(&state2, &state2.config, &running.backends).messages(
            shopper.0,
            &id,
            after,
            MAX_HISTORY,
        )
    })
    .await?
    .map_err(assistant_problem)?;
    Ok(HttpResponse::Ok().json(json!({
        "id": conversation.id,
        "created_at": conversation.created_at,
        "taken_over": conversation.taken_over_by.is_some(),
        "messages": messages.into_iter().map(message_json).collect::<Vec<_>>(),
    })))
}

/// Live events of the shopper's conversation (an admin joining, their
/// messages, the hand back), as server-sent events.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/events", tag = "assistant",
    params(("id" = String, Path, description = "conversation id")),
    security(("session" = [])),
    responses((status = 200, description = "text/event-stream of `handoff` and `message` events"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn live_events(
    shopper: CurrentShopper,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let state2 = state.clone();
    let lookup = id.clone();
    let found = web::block(move || {
        let running = state2.ai.current();
        assistant_for(&state2, &state2.config, &running.backends).conversation(shopper.0, &lookup)
    })
    .await??;
    if found.is_none() {
        return Err(Problem::not_found(format!("there is no conversation {id}")));
    }
    let receiver = state.live.subscribe(&id);
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((live_frame(&event), receiver)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let hello = futures_util::stream::once(async { web::Bytes::from_static(b": connected\n\n") });
    Ok(sse_response(hello.chain(events)))
}

fn live_frame(event: &LiveEvent) -> web::Bytes {
    let name = match event {
        LiveEvent::Handoff { .. } => "handoff",
        LiveEvent::Message { .. } => "message",
    };
    sse(name, &serde_json::to_value(event).unwrap_or(Value::Null))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationJson {
    pub id: String,
    pub customer_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// Why the admin should look: `frustrated` or `asked_for_human`.
    pub flag: Option<String>,
    pub flagged_at: Option<String>,
    pub taken_over_by: Option<String>,
    /// The shopper's latest mood, −1 (angry) to 1 (happy).
    pub mood: f64,
    pub summary: String,
}

fn conversation_json(row: ConversationRow) -> ConversationJson {
    ConversationJson {
        id: row.id,
        customer_id: row.customer_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
        flag: row.flag,
        flagged_at: row.flagged_at,
        taken_over_by: row.taken_over_by,
        mood: row.mood,
        summary: row.summary,
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub flagged: bool,
    pub limit: Option<usize>,
}

/// Conversations, most recent first; `flagged=true` for those needing a person.
#[utoipa::path(get, path = "/api/v1/admin/conversations", tag = "admin",
    params(("flagged" = Option<bool>, Query, description = "only flagged or taken-over conversations"),
        ("limit" = Option<usize>, Query, description = "at most this many (default 50, at most 500)")),
    security(("admin_key" = [])),
    responses((status = 200, description = "The conversations"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_conversations(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let flagged = query.flagged;
    let store = state.store.clone();
    let rows = web::block(move || store.read(|c| conversations::list(c, flagged, limit))).await??;
    let listed: Vec<Value> = rows
        .into_iter()
        .map(|l| {
            json!({
                "conversation": conversation_json(l.conversation),
                "messages": l.messages,
                "last_message": l.last_message,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"conversations": listed})))
}

/// A conversation's whole transcript, with intents and moods.
#[utoipa::path(get, path = "/api/v1/admin/conversations/{id}", tag = "admin",
    params(("id" = String, Path, description = "conversation id")),
    security(("admin_key" = [])),
    responses((status = 200, description = "The conversation and every message"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn transcript(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let store = state.store.clone();
    let lookup = id.clone();
    let (conversation, messages) = web::block(move || {
        store.read(|c| {
            Ok((
                conversations::get(c, &lookup)?,
                conversations::messages(c, &lookup, 0, usize::MAX >> 1)?,
            ))
        })
    })
    .await??;
    let conversation =
        conversation.ok_or_else(|| Problem::not_found(format!("there is no conversation {id}")))?;
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let (intent, confidence, mood) = (m.intent.clone(), m.confidence, m.mood);
            let mut value = serde_json::to_value(message_json(m)).unwrap_or(Value::Null);
            value["intent"] = json!(intent);
            value["confidence"] = json!(confidence);
            value["mood"] = json!(mood);
            value
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "conversation": conversation_json(conversation),
        "messages": messages,
    })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeoverRequest {
    /// The name the shopper sees ("Ana from the shop"); "shop staff" when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// A person from the shop answers this conversation; the assistant pauses.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/takeover", tag = "admin",
    params(("id" = String, Path, description = "conversation id")),
    request_body = TakeoverRequest,
    security(("admin_key" = [])),
    responses((status = 204, description = "Taken over"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn take_over(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let request: TakeoverRequest = if body.is_empty() {
        TakeoverRequest::default()
    } else {
        parse_body(&req, &body)?
    };
    let name = request
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "shop staff".into());
    if name.chars().count() > 60 {
        return Err(Problem::invalid_field(
            "name",
            "must be at most 60 characters",
        ));
    }
    set_takeover(state, path.into_inner(), Some(name)).await
}

/// The assistant answers again; the conversation's flag is cleared.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/release", tag = "admin",
    params(("id" = String, Path, description = "conversation id")),
    security(("admin_key" = [])),
    responses((status = 204, description = "Handed back"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn release(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    set_takeover(state, path.into_inner(), None).await
}

async fn set_takeover(
    state: web::Data<AppState>,
    id: String,
    admin: Option<String>,
) -> Result<HttpResponse, Problem> {
    web::block(move || assistant::take_over(&state.store, &state.live, &id, admin.as_deref()))
        .await?
        .map_err(assistant_problem)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminMessage {
    pub text: String,
}

/// A message from the shop to the shopper, shown in their chat at once.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/messages", tag = "admin",
    params(("id" = String, Path, description = "conversation id")),
    request_body = AdminMessage,
    security(("admin_key" = [])),
    responses((status = 201, body = MessageJson),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn admin_message(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let message: AdminMessage = parse_body(&req, &body)?;
    let id = path.into_inner();
    let row =
        web::block(move || assistant::admin_says(&state.store, &state.live, &id, &message.text))
            .await?
            .map_err(|e| match e {
                AssistantError::BadMessage(reason) => Problem::invalid_field("text", reason),
                other => assistant_problem(other),
            })?;
    Ok(HttpResponse::Created().json(message_json(row)))
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    pub question: String,
    pub answer: String,
}

/// The shop's FAQ, which the assistant answers store questions from.
#[utoipa::path(get, path = "/api/v1/admin/faq", tag = "admin",
    security(("admin_key" = [])),
    responses((status = 200, body = Vec<FaqEntry>),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn show_faq(_admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let store = state.store.clone();
    let rows = web::block(move || store.read(faq::list)).await??;
    let entries: Vec<FaqEntry> = rows
        .into_iter()
        .map(|r| FaqEntry {
            question: r.question,
            answer: r.answer,
        })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}

/// Replaces the whole FAQ.
#[utoipa::path(put, path = "/api/v1/admin/faq", tag = "admin", request_body = Vec<FaqEntry>,
    security(("admin_key" = [])),
    responses((status = 200, body = Vec<FaqEntry>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn replace_faq(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let entries: Vec<FaqEntry> = parse_body(&req, &body)?;
    let errors = faq_errors(&entries);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let pairs: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.question.trim().to_string(), e.answer.trim().to_string()))
        .collect();
    let store = state.store.clone();
    web::block(move || store.write(|tx| faq::replace(tx, &pairs, &now_utc()))).await??;
    Ok(HttpResponse::Ok().json(entries))
}

fn faq_errors(entries: &[FaqEntry]) -> Vec<FieldError> {
    if entries.len() > MAX_FAQ_ENTRIES {
        return vec![FieldError::new(
            "",
            format!("at most {MAX_FAQ_ENTRIES} entries"),
        )];
    }
    let mut errors = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        for (field, text, max) in [
            ("question", &entry.question, 500),
            ("answer", &entry.answer, 4000),
        ] {
            let length = text.trim().chars().count();
            if length == 0 || length > max {
                errors.push(FieldError::new(
                    format!("[{i}].{field}"),
                    format!("must be 1 to {max} characters"),
                ));
            }
        }
    }
    errors
}
