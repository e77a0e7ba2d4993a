//! Turns answered with a model: the remote providers with native tool calls,
//! and the local model, which chooses the action under a JSON-schema
//! constraint when the pattern classifier is unsure and writes the reply's
//! opening sentence token by token.
//!
//! Every model call is recorded with its tokens, latency and cost against the
//! shopper's budget. A backend that fails before anything was done hands the
//! turn to the next one ([`DriveError::Unavailable`]); once a tool has acted,
//! the turn finishes with what was done rather than doing it twice. Checkout
//! from a model only shows the summary (through the rules' checkout step);
//! placing the order stays with the confirmation rule of `checkout`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::budget::{self, Allowance, CallRecord, ShopperClass};
use super::intent::Intent;
use super::memory::History;
use super::router::{Backends, LocalModel, RemoteModel, Tier};
use super::rules::{self, Response};
use super::state::{ProductRef, WorkingMemory};
use super::tools::{ToolError, Toolbox};
use super::{Action, Turn, TurnEvent, Usage, prompt};
use crate::commerce::webhooks::Waker;
use crate::llm::grammar::JsonGrammar;
use crate::llm::local::{Completion, Constraint, ConstraintMode, GenerateRequest};
use crate::llm::remote::{RemoteError, RemoteRequest, TokenUsage};
use crate::llm::sampler::SamplingParams;
use crate::llm::template::{ChatMessage, FunctionCall, Role};
use crate::llm::worker::Event;
use crate::store::{Store, StoreError};

/// Rounds of tool calls a remote model may make in one turn.
const MAX_TOOL_ROUNDS: usize = 4;
/// Output tokens a remote model may write per call.
const REMOTE_MAX_TOKENS: usize = 500;
const REMOTE_TEMPERATURE: f32 = 0.3;
/// Output tokens of a conversation summary.
const SUMMARY_MAX_TOKENS: usize = 300;
/// Output tokens of the local model's opening sentence.
const LEAD_MAX_TOKENS: usize = 40;
/// Output tokens of the local model's action choice (the JSON is short).
const ACTION_MAX_TOKENS: usize = 24;
/// Confidence a model-chosen intent is stored with.
pub const MODEL_CONFIDENCE: f64 = 0.9;

/// Why a backend did not answer.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// Nothing was done: the next backend may answer the turn.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Tool(#[from] ToolError),
}

/// A turn a model backend answered.
#[derive(Debug)]
pub struct Driven {
    pub response: Response,
    pub tier: Tier,
    pub model: Option<String>,
    pub usage: Usage,
    /// Bytes at the start of the reply already streamed as tokens.
    pub streamed: usize,
    /// The intent the local model chose, when it chose one.
    pub chosen: Option<Intent>,
    /// Whether the reply came from the answer cache.
    pub cached: bool,
}

/// Whose budget a model call spends and where it is recorded.
pub struct Caller<'a> {
    pub store: &'a Store,
    pub backends: &'a Backends,
    pub conversation_id: Option<&'a str>,
    pub class: ShopperClass,
    pub subject: &'a str,
    /// Woken when a budget alert went out as a webhook.
    pub webhooks: Option<&'a Waker>,
}

impl Caller<'_> {
    /// Records one call against the budget.
    pub fn record(&self, call: Called) {
        let record = CallRecord {
            conversation_id: self.conversation_id.map(str::to_string),
            class: self.class,
            subject: self.subject.to_string(),
            tier: call.tier.as_str(),
            backend: call.backend,
            model: call.model.to_string(),
            purpose: call.purpose,
            input_tokens: call.usage.input,
            output_tokens: call.usage.output,
            cached_tokens: call.usage.cached,
            latency_ms: u64::try_from(call.latency.as_millis()).unwrap_or(u64::MAX),
            cost_micros: self.backends.prices.cost_micros(call.model, call.usage),
            ok: call.ok,
        };
        match budget::record(
            self.store,
            &self.backends.budgets,
            &record,
            OffsetDateTime::now_utc(),
        ) {
            Ok(alerts) if !alerts.is_empty() => {
                if let Some(waker) = self.webhooks {
                    waker.wake();
                }
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "could not record a model call"),
        }
    }

    /// May this caller use a model now; `remote`: a paid API.
    pub fn allowance(&self, remote: bool) -> Result<Allowance, StoreError> {
        budget::allowance(
            self.store,
            &self.backends.budgets,
            self.class,
            self.subject,
            remote,
            OffsetDateTime::now_utc(),
        )
    }
}

/// What a model turn needs besides the backend.
pub struct ModelTurn<'a> {
    pub tools: &'a Toolbox<'a>,
    pub turn: &'a Turn<'a>,
    pub history: &'a History,
    pub backends: &'a Backends,
    pub caller: Caller<'a>,
}

impl ModelTurn<'_> {
    fn record(&self, call: Called) {
        self.caller.record(call);
    }
}

/// One model call, for the usage log.
pub struct Called<'a> {
    pub tier: Tier,
    pub backend: &'static str,
    pub model: &'a str,
    /// chat, summary or intent.
    pub purpose: &'static str,
    pub usage: TokenUsage,
    pub latency: Duration,
    pub ok: bool,
}

fn add_usage(total: &mut Usage, usage: TokenUsage, cost_micros: u64) {
    total.input_tokens += usage.input;
    total.output_tokens += usage.output;
    total.cached_tokens += usage.cached;
    total.cost_micros += cost_micros;
}

// ------------------------------------------------------------------ remote

/// A remote provider answers with native tool calls, up to a few rounds.
pub fn remote(
    ctx: &ModelTurn,
    provider: &RemoteModel,
    model: &str,
    memory: &mut WorkingMemory,
    emit: &mut dyn FnMut(TurnEvent),
) -> Result<Driven, DriveError> {
    let specs = super::tools::specs();
    let mut messages = vec![ChatMessage::new(
        Role::System,
        prompt::remote_system(ctx.turn.shop_name, ctx.turn.voice, ctx.history, memory),
    )];
    messages.extend(prompt::conversation(ctx.history));
    let mut run = RemoteRun {
        response: Response::default(),
        usage: Usage::default(),
        answered_by: None,
    };
    for _ in 0..MAX_TOOL_ROUNDS {
        let request = RemoteRequest {
            messages: &messages,
            tools: &specs,
            max_tokens: REMOTE_MAX_TOKENS,
            temperature: REMOTE_TEMPERATURE,
        };
        let reply = match run.call(ctx, provider, model, &request) {
            Ok(reply) => reply,
            Err(error) if run.response.actions.is_empty() => {
                return Err(DriveError::Unavailable(error.to_string()));
            }
            Err(_) => return Ok(run.finish_with_actions(ctx, model)),
        };
        if reply.tool_calls.is_empty() {
            run.response.reply = reply.text;
            return Ok(run.finish(model));
        }
        messages.push(ChatMessage {
            tool_calls: reply.tool_calls.clone(),
            ..ChatMessage::new(Role::Assistant, reply.text)
        });
        for call in &reply.tool_calls {
            if call.function.name == "checkout" {
                return run.checkout(ctx, memory, model, emit);
            }
            let result = run.act(ctx, memory, &call.function, emit)?;
            messages.push(ChatMessage {
                tool_call_id: Some(call.id.clone()),
                name: Some(call.function.name.clone()),
                ..ChatMessage::new(Role::Tool, result.to_string())
            });
        }
    }
    Ok(run.finish_with_actions(ctx, model))
}

struct RemoteRun {
    response: Response,
    usage: Usage,
    /// The model name the provider reported.
    answered_by: Option<String>,
}

impl RemoteRun {
    fn call(
        &mut self,
        ctx: &ModelTurn,
        provider: &RemoteModel,
        model: &str,
        request: &RemoteRequest,
    ) -> Result<crate::llm::remote::RemoteReply, RemoteError> {
        let started = Instant::now();
        let outcome = provider.guarded.call(model, request, ctx.backends.timeout);
        let (usage, latency, ok) = match &outcome {
            Ok((reply, latency)) => (reply.usage, *latency, true),
            Err(_) => (TokenUsage::default(), started.elapsed(), false),
        };
        let refused_before_sending = matches!(
            outcome,
            Err(RemoteError::CircuitOpen { .. } | RemoteError::LimitReached { .. })
        );
        if !refused_before_sending {
            ctx.record(Called {
                tier: Tier::Enterprise,
                backend: provider.guarded.provider(),
                model,
                purpose: "chat",
                usage,
                latency,
                ok,
            });
        }
        add_usage(
            &mut self.usage,
            usage,
            ctx.backends.prices.cost_micros(model, usage),
        );
        outcome.map(|(reply, _)| {
            self.answered_by = Some(reply.model.clone());
            reply
        })
    }

    /// Runs one tool the model called; the compact result it reads next.
    fn act(
        &mut self,
        ctx: &ModelTurn,
        memory: &mut WorkingMemory,
        call: &FunctionCall,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<Value, ToolError> {
        emit(TurnEvent::ToolCall {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        });
        let (ok, summary, value) = match ctx.tools.call(&call.name, &call.arguments) {
            Ok(output) => {
                if !output.products.is_empty() {
                    memory.last_results = output
                        .products
                        .iter()
                        .map(|p| ProductRef {
                            id: p.id,
                            name: p.name.clone(),
                        })
                        .collect();
                    emit(TurnEvent::Products(output.products.clone()));
                    self.response.products = output.products;
                }
                if let Some(cart) = output.cart {
                    emit(TurnEvent::Cart(cart.clone()));
                    self.response.cart = Some(cart);
                }
                (true, summarize(&call.name, &output.value), output.value)
            }
            Err(ToolError::Store(error)) => return Err(ToolError::Store(error)),
            Err(error) => {
                let text = error.to_string();
                (false, text.clone(), json!({"error": text}))
            }
        };
        emit(TurnEvent::ToolResult {
            name: call.name.clone(),
            ok,
            summary: summary.clone(),
        });
        self.response.actions.push(Action {
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            ok,
            summary,
        });
        Ok(value)
    }

    /// The model asked to check out: the rules' checkout step shows the
    /// summary (or asks for contact details); the shopper confirms later.
    fn checkout(
        mut self,
        ctx: &ModelTurn,
        memory: &mut WorkingMemory,
        model: &str,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<Driven, DriveError> {
        let turn = ctx.turn.with_intent(Intent::Checkout);
        let step = rules::respond(ctx.tools, memory, &turn, emit)?;
        self.response.actions.extend(step.actions);
        self.response.reply = step.reply;
        self.response.cart = step.cart.or(self.response.cart);
        Ok(self.finish(model))
    }

    /// The reply when the model stopped answering after tools had acted:
    /// what was done, in the tools' own words.
    fn finish_with_actions(mut self, ctx: &ModelTurn, model: &str) -> Driven {
        let done: Vec<String> = self
            .response
            .actions
            .iter()
            .map(|a| format!("- {}", a.summary))
            .collect();
        self.response.reply = format!(
            "Here is what I did for you in {}:\n{}",
            ctx.turn.shop_name,
            done.join("\n")
        );
        self.finish(model)
    }

    fn finish(self, model: &str) -> Driven {
        Driven {
            response: self.response,
            tier: Tier::Enterprise,
            model: Some(self.answered_by.unwrap_or_else(|| model.to_string())),
            usage: self.usage,
            streamed: 0,
            chosen: None,
            cached: false,
        }
    }
}

/// A remote model's summary of the conversation's older turns (given as
/// the extractive notes); `None` when no provider answered.
pub fn summarize_remotely(caller: &Caller, notes: &str) -> Option<String> {
    let messages = [
        ChatMessage::new(Role::System, prompt::summary_system()),
        ChatMessage::new(Role::User, notes),
    ];
    let request = RemoteRequest {
        messages: &messages,
        tools: &[],
        max_tokens: SUMMARY_MAX_TOKENS,
        temperature: 0.0,
    };
    for provider in caller.backends.remote() {
        let started = Instant::now();
        let outcome = provider
            .guarded
            .call(&provider.fast, &request, caller.backends.timeout);
        caller.record(Called {
            tier: Tier::Enterprise,
            backend: provider.guarded.provider(),
            model: &provider.fast,
            purpose: "summary",
            usage: outcome.as_ref().map(|(r, _)| r.usage).unwrap_or_default(),
            latency: started.elapsed(),
            ok: outcome.is_ok(),
        });
        match outcome {
            Ok((reply, _)) if !reply.text.trim().is_empty() => return Some(reply.text),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not summarise with this provider"),
        }
    }
    None
}

/// A one-line account of a tool result for the action log and stream.
fn summarize(tool: &str, value: &Value) -> String {
    match value {
        Value::Array(items) => format!("{tool}: {} results", items.len()),
        Value::Object(map) if map.contains_key("items") => format!(
            "{tool}: {} items, total {}",
            map["items"].as_array().map_or(0, Vec::len),
            map["total"].as_str().unwrap_or("?")
        ),
        Value::Null => format!("{tool}: nothing found"),
        _ => format!("{tool}: done"),
    }
}

// ------------------------------------------------------------------- local

/// The local model: chooses the action when the classifier is unsure, the
/// rules act on it, and the model opens the reply with a sentence of its own.
pub fn local(
    ctx: &ModelTurn,
    local: &LocalModel,
    memory: &mut WorkingMemory,
    emit: &mut dyn FnMut(TurnEvent),
) -> Result<Driven, DriveError> {
    let mut usage = Usage::default();
    let model = local.worker.frontend().info.id.clone();
    let chosen = if ctx.turn.confidence < ctx.backends.model_plans_below {
        let (intent, completion) = choose_action(ctx, local)
            .map_err(|reason| DriveError::Unavailable(format!("{model}: {reason}")))?;
        add_usage(&mut usage, tokens_of(&completion), 0);
        remember_choice(ctx, intent);
        Some(intent)
    } else {
        None
    };
    let turn = chosen.map(|intent| ctx.turn.with_intent(intent));
    let mut response = rules::respond(ctx.tools, memory, turn.as_ref().unwrap_or(ctx.turn), emit)?;
    let lead = match write_lead(ctx, local, &response.reply, emit) {
        Ok((lead, completion)) => {
            add_usage(&mut usage, tokens_of(&completion), 0);
            lead
        }
        Err(reason) => {
            tracing::warn!(%model, %reason, "the local model could not write the reply; the rules' words stand");
            String::new()
        }
    };
    let streamed = if lead.is_empty() { 0 } else { lead.len() + 1 };
    if !lead.is_empty() {
        response.reply = format!("{lead}\n{}", response.reply);
    }
    Ok(Driven {
        response,
        tier: if lead.is_empty() && chosen.is_none() {
            Tier::Free
        } else {
            local.tier
        },
        model: (!lead.is_empty() || chosen.is_some()).then_some(model),
        usage,
        streamed,
        chosen,
        cached: false,
    })
}

pub fn tokens_of(done: &Completion) -> TokenUsage {
    TokenUsage {
        input: done.prompt_tokens as u64,
        output: done.completion_tokens as u64,
        cached: done.cached_tokens as u64,
    }
}

/// The model's intent goes into the intent cache, so the next shopper who
/// writes the same thing gets it from the cache.
fn remember_choice(ctx: &ModelTurn, intent: Intent) {
    let normalized = super::intent::normalize(ctx.turn.message);
    if normalized.is_empty() {
        return;
    }
    let now = crate::store::now_utc();
    let stored = ctx.tools.shop.store.write(|tx| {
        crate::store::intents::note_pending(tx, &normalized, intent.as_str(), 0.0, &now)?;
        crate::store::intents::refine(tx, &normalized, intent.as_str(), MODEL_CONFIDENCE, &now)
    });
    if let Err(error) = stored {
        tracing::warn!(%error, "could not store the model's intent");
    }
}

/// Asks the local model which action serves the message, as
/// `{"action": "<one of LOCAL_ACTIONS>"}` enforced by a grammar.
fn choose_action(ctx: &ModelTurn, local: &LocalModel) -> Result<(Intent, Completion), String> {
    let previous = ctx
        .history
        .recent
        .iter()
        .rev()
        .find(|m| m.role == "assistant")
        .map(|m| m.content.as_str());
    let started = Instant::now();
    let outcome = classify_locally(local, ctx.turn.shop_name, previous, ctx.turn.message);
    ctx.record(Called {
        tier: local.tier,
        backend: budget::LOCAL_BACKEND,
        model: &local.worker.frontend().info.id,
        purpose: "intent",
        usage: outcome
            .as_ref()
            .map(|(_, c)| tokens_of(c))
            .unwrap_or_default(),
        latency: started.elapsed(),
        ok: outcome.is_ok(),
    });
    outcome
}

/// The intent the local model reads in `message` (after the assistant's
/// `previous` words, if any), chosen under a grammar.
pub fn classify_locally(
    local: &LocalModel,
    shop_name: &str,
    previous: Option<&str>,
    message: &str,
) -> Result<(Intent, Completion), String> {
    let messages = [
        ChatMessage::new(Role::System, prompt::local_classifier_system(shop_name)),
        ChatMessage::new(
            Role::User,
            prompt::local_classifier_message(previous, message),
        ),
    ];
    let names: Vec<&str> = prompt::LOCAL_ACTIONS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let constraint = json_constraint("action", &names)?;
    let completion = run_local(
        local,
        &messages,
        ACTION_MAX_TOKENS,
        Some(constraint),
        &mut |_| {},
    )?;
    let action = choice_in(&completion.text, "action", &names)?;
    let intent = prompt::LOCAL_ACTIONS
        .iter()
        .find(|(name, _)| *name == action)
        .map_or(Intent::Other, |(_, intent)| *intent);
    Ok((intent, completion))
}

/// The reply's opening, chosen by the model from the shop's phrasebook and
/// streamed to the shopper as soon as it is chosen.
fn write_lead(
    ctx: &ModelTurn,
    local: &LocalModel,
    result: &str,
    emit: &mut dyn FnMut(TurnEvent),
) -> Result<(String, Completion), String> {
    let messages = prompt::local_phrase_messages(ctx.turn.shop_name, ctx.turn.message, result);
    let ask = LocalAsk {
        messages: &messages,
        max_tokens: LEAD_MAX_TOKENS,
        constraint: Some(json_constraint("opening", prompt::OPENINGS)?),
        purpose: "chat",
    };
    let completion = generate(ctx, local, ask, &mut |_| {})?;
    let lead = choice_in(&completion.text, "opening", prompt::OPENINGS)?.to_string();
    emit(TurnEvent::Token(format!("{lead}\n")));
    Ok((lead, completion))
}

/// A grammar for `{"<key>": <one of choices>}`.
fn json_constraint(key: &str, choices: &[&str]) -> Result<Constraint, String> {
    let schema = json!({
        "type": "object",
        "properties": {key: {"enum": choices}},
        "required": [key],
        "additionalProperties": false,
    });
    let grammar = JsonGrammar::compile(&schema).map_err(|e| e.to_string())?;
    Ok(Constraint {
        grammar,
        mode: ConstraintMode::Json,
    })
}

/// The choice the model's JSON names, checked against `choices`.
fn choice_in<'c>(text: &str, key: &str, choices: &[&'c str]) -> Result<&'c str, String> {
    let parsed: Value = serde_json::from_str(text)
        .map_err(|e| format!("the model's answer is not JSON ({e}): {text:?}"))?;
    let chosen = parsed[key].as_str().unwrap_or_default();
    choices
        .iter()
        .find(|c| **c == chosen)
        .copied()
        .ok_or_else(|| format!("the model chose {chosen:?}, which is not on offer"))
}

/// What to ask the local model for.
struct LocalAsk<'a> {
    messages: &'a [ChatMessage],
    max_tokens: usize,
    constraint: Option<Constraint>,
    /// "intent" or "chat", for the usage log.
    purpose: &'static str,
}

/// Runs one generation on the local worker, handing text pieces to
/// `on_text`, and records the call.
fn generate(
    ctx: &ModelTurn,
    local: &LocalModel,
    ask: LocalAsk,
    on_text: &mut dyn FnMut(&str),
) -> Result<Completion, String> {
    let started = Instant::now();
    let outcome = run_local(local, ask.messages, ask.max_tokens, ask.constraint, on_text);
    let info = &local.worker.frontend().info;
    ctx.record(Called {
        tier: local.tier,
        backend: budget::LOCAL_BACKEND,
        model: &info.id,
        purpose: ask.purpose,
        usage: outcome.as_ref().map(tokens_of).unwrap_or_default(),
        latency: started.elapsed(),
        ok: outcome.is_ok(),
    });
    outcome
}

fn run_local(
    local: &LocalModel,
    messages: &[ChatMessage],
    max_tokens: usize,
    constraint: Option<Constraint>,
    on_text: &mut dyn FnMut(&str),
) -> Result<Completion, String> {
    let frontend = local.worker.frontend();
    let encode = |text: &str| {
        frontend
            .tokenizer
            .encode(text, false, true)
            .map_err(|e| e.to_string())
    };
    let text = frontend
        .template
        .render(messages, &[], true)
        .map_err(|e| e.to_string())?;
    let prompt = encode(&text)?;
    // Everything before the last message is the same for every turn.
    let fixed = &messages[..messages.len().saturating_sub(1)];
    let shared_prefix = frontend
        .template
        .render(fixed, &[], false)
        .ok()
        .and_then(|text| encode(&text).ok())
        .map_or(0, |fixed| common_prefix(&fixed, &prompt));
    let request = GenerateRequest {
        prompt,
        shared_prefix,
        sampling: SamplingParams::greedy(),
        max_tokens,
        stop: Vec::new(),
        constraint,
    };
    let mut events = local.worker.submit(request).map_err(|e| e.to_string())?;
    while let Some(event) = events.blocking_recv() {
        match event {
            Event::Text(text) => on_text(&text),
            Event::Done(result) => return result.map_err(|e| e.to_string()),
        }
    }
    Err("the model worker stopped before answering".to_string())
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_are_summarized_in_one_line() {
        assert_eq!(
            summarize("search_products", &json!([{"id": 1}, {"id": 2}])),
            "search_products: 2 results"
        );
        assert_eq!(
            summarize("view_cart", &json!({"items": [{}], "total": "$3.00"})),
            "view_cart: 1 items, total $3.00"
        );
        assert_eq!(
            summarize("order_status", &Value::Null),
            "order_status: nothing found"
        );
    }

    #[test]
    fn choices_are_read_from_the_json_and_checked() {
        let choices = ["a b", "c"];
        assert_eq!(choice_in(r#"{"k": "c"}"#, "k", &choices), Ok("c"));
        assert!(choice_in(r#"{"k": "d"}"#, "k", &choices).is_err());
        assert!(choice_in("not json", "k", &choices).is_err());
        assert!(json_constraint("k", &choices).is_ok());
    }
}
