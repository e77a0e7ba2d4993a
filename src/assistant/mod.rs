//! The shop assistant: conversations that find products, fill the cart,
//! place orders after confirmation and report order status.
//!
//! A turn runs: find or start the shopper's conversation → store their
//! message with its intent and mood → unless a person from the shop has
//! taken over, let a driver answer with the tools → store the reply, the
//! actions and the working memory. Events stream out as they happen (tool
//! calls, products, cart, reply text) for the chat UI.
//!
//! - [`intent`], [`slots`], [`sentiment`]: what a message asks for, its
//!   quantities, prices, dietary words and references, and its mood.
//! - [`tools`]: the shop actions, bound to one shopper.
//! - [`rules`]: the free tier's driver (no model).
//! - [`router`], [`model`], [`prompt`]: the tier that runs, the backends a
//!   turn tries in order (remote → local → rules), and the model drivers.
//! - [`checkout`]: placing an order only after a confirmation turn.
//! - [`state`], [`memory`]: working memory, history and running summary.
//! - [`refine`]: the background job that has a model label the messages the
//!   pattern classifier was unsure of.
//! - [`faq`]: answers from the shop's FAQ.
//! - [`cache`]: answers that are the same for every shopper, reused until
//!   they expire or the catalog or FAQ changes.
//! - [`budget`]: token budgets per shopper class, the remote spend cap, usage
//!   records and alerts.
//! - [`live`]: events for shoppers' open streams (an admin's messages).
//! - [`settings`], [`runtime`]: the AI settings saved from the dashboard over
//!   the config file, and the swappable set-up (backends, local model) they
//!   give, with the dashboard's sandboxed test turn.
//!
//! Data flows web → assistant → (search, commerce, llm) → store. This module
//! must not know about HTTP; product, FAQ and tool text is data it shows,
//! never instructions it follows.

pub mod budget;
pub mod cache;
pub mod checkout;
pub mod eval;
pub mod faq;
pub mod intent;
pub mod live;
pub mod memory;
pub mod model;
pub mod prompt;
pub mod refine;
pub mod router;
pub mod rules;
pub mod runtime;
pub mod sentiment;
pub mod settings;
pub mod slots;
pub mod state;
pub mod tools;

use serde::Serialize;

use crate::commerce::Shopper;
use crate::commerce::cart::CartView;
use crate::commerce::payment::Payments;
use crate::commerce::webhooks::Waker;
use crate::config::Config;
use crate::search::SearchService;
use crate::store::content::{self, ContentVersion};
use crate::store::conversations::{self, ConversationRow, MessageRow, NewMessage};
use crate::store::{Store, StoreError, intents, now_utc};
use cache::{AnswerCache, CachedAnswer};
use intent::{Classified, Intent};
use live::{Live, LiveEvent};
use memory::History;
use model::{DriveError, Driven, ModelTurn};
use router::{Backends, Choice, Tier};
use state::WorkingMemory;
use tools::{ProductCard, Shop, ToolError, Toolbox};

/// Longest shopper message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Below this confidence a message is queued for the model to classify later.
const REFINE_BELOW: f32 = 0.6;
/// Words per streamed text event when the reply is not generated token by token.
const STREAM_CHUNK_WORDS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("message: {0}")]
    BadMessage(&'static str),
    #[error("there is no conversation {0}")]
    NoConversation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Tool(String),
}

impl From<ToolError> for AssistantError {
    fn from(error: ToolError) -> Self {
        match error {
            ToolError::Store(e) => AssistantError::Store(e),
            other => AssistantError::Tool(other.to_string()),
        }
    }
}

/// A tool call of a turn and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Action {
    pub tool: String,
    pub arguments: serde_json::Value,
    pub ok: bool,
    pub summary: String,
}

/// Something that happened during a turn, in order, for a streaming client.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// The conversation the turn belongs to (first, so a new one is known at once).
    Conversation(String),
    /// A piece of the reply text.
    Token(String),
    ToolCall {
        name: String,
        arguments: serde_json::Value,
    },
    ToolResult {
        name: String,
        ok: bool,
        summary: String,
    },
    Products(Vec<ProductCard>),
    Cart(CartView),
    /// A checkout summary is waiting for the shopper's yes or no.
    ConfirmationNeeded,
    /// A person from the shop answers this conversation now.
    Handoff {
        by: String,
    },
}

/// Token counts and cost of a turn's model calls (zero when no model ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_micros: u64,
}

/// A finished turn.
#[derive(Debug)]
pub struct TurnReply {
    pub conversation_id: String,
    pub reply: String,
    pub actions: Vec<Action>,
    pub products: Vec<ProductCard>,
    pub cart: Option<CartView>,
    pub intent: Classified,
    /// "free" for the rules, a model tier when a model answered, "human" while taken over.
    pub tier: &'static str,
    pub model: Option<String>,
    pub usage: Usage,
    pub order_number: Option<String>,
    /// Whether the conversation is flagged for the admin after this turn.
    pub flagged: bool,
    /// Whether the reply came from the answer cache (no model ran).
    pub cached: bool,
}

/// One shopper message, with what the engine worked out about it.
pub struct Turn<'a> {
    pub conversation_id: &'a str,
    pub message: &'a str,
    /// The stored message's id: later messages have larger ids.
    pub message_id: i64,
    pub intent: Intent,
    pub confidence: f32,
    pub slots: slots::Slots,
    pub shop_name: &'a str,
    /// The tone and instructions the shop chose for its assistant.
    pub voice: prompt::Voice<'a>,
}

impl Turn<'_> {
    /// The same message read as `intent` (a model's choice, or a tool a model called).
    pub fn with_intent(&self, intent: Intent) -> Turn<'_> {
        Turn {
            intent,
            slots: self.slots.clone(),
            ..*self
        }
    }
}

/// The assistant, for one request.
pub struct Assistant<'a> {
    pub shop: Shop<'a>,
    pub shop_name: &'a str,
    pub voice: prompt::Voice<'a>,
    pub live: &'a Live,
    pub backends: &'a Backends,
    /// Woken when a budget alert went out as a webhook.
    pub webhooks: Option<&'a Waker>,
    pub answers: Option<&'a AnswerCache>,
}

/// The services a turn may use besides the store.
pub struct Services<'a> {
    pub search: &'a SearchService,
    pub payments: &'a Payments,
    pub live: &'a Live,
    pub backends: &'a Backends,
    pub webhooks: Option<&'a Waker>,
    /// The shared answer cache; `None` answers every question afresh.
    pub answers: Option<&'a AnswerCache>,
}

impl<'a> Assistant<'a> {
    /// The assistant of the shop that `config` describes.
    pub fn new(store: &'a Store, config: &'a Config, services: Services<'a>) -> Assistant<'a> {
        Assistant {
            shop: Shop {
                store,
                search: services.search,
                settings: &config.commerce,
                currency: &config.currency,
                payments: services.payments,
            },
            shop_name: &config.shop_name,
            voice: prompt::Voice::default(),
            live: services.live,
            backends: services.backends,
            webhooks: services.webhooks,
            answers: services.answers,
        }
    }

    /// The assistant speaking in `voice` (the shop's tone and instructions).
    pub fn with_voice(self, voice: prompt::Voice<'a>) -> Assistant<'a> {
        Assistant { voice, ..self }
    }

    /// Answers one shopper message.
    pub fn turn(
        &self,
        shopper: Shopper,
        conversation_id: Option<&str>,
        message: &str,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<TurnReply, AssistantError> {
        let message = check_message(message)?;
        let conversation = self.open(shopper, conversation_id)?;
        emit(TurnEvent::Conversation(conversation.id.clone()));
        let classified = self.classify(message)?;
        let mood = sentiment::mood(message);
        let message_id = self.shop.store.write(|tx| {
            conversations::append(
                tx,
                &conversation.id,
                &NewMessage {
                    role: "shopper",
                    content: message,
                    intent: Some(classified.intent.as_str()),
                    confidence: Some(f64::from(classified.confidence)),
                    mood: Some(f64::from(mood.score)),
                    actions: "[]",
                    ..NewMessage::default()
                },
                &now_utc(),
            )
        })?;
        let flag = if classified.intent == Intent::Human {
            Some("asked_for_human")
        } else if mood.frustrated {
            Some("frustrated")
        } else {
            None
        };
        if let Some(reason) = flag {
            self.shop
                .store
                .write(|tx| conversations::flag(tx, &conversation.id, reason, &now_utc()))?;
        }
        if let Some(admin) = &conversation.taken_over_by {
            emit(TurnEvent::Handoff { by: admin.clone() });
            return Ok(TurnReply {
                conversation_id: conversation.id,
                reply: String::new(),
                actions: Vec::new(),
                products: Vec::new(),
                cart: None,
                intent: classified,
                tier: "human",
                model: None,
                usage: Usage::default(),
                order_number: None,
                flagged: true,
                cached: false,
            });
        }
        let turn = Turn {
            conversation_id: &conversation.id,
            message,
            message_id,
            intent: classified.intent,
            confidence: classified.confidence,
            slots: slots::extract(message, self.shop.currency.exponent()),
            shop_name: self.shop_name,
            voice: self.voice,
        };
        let mut memory = WorkingMemory::from_json(&conversation.state);
        let summarize = |notes: &str| self.summarize(shopper, &conversation.id, notes);
        let history = memory::history(self.shop.store, &conversation, &summarize)?;
        let tools = Toolbox {
            shop: self.shop,
            shopper,
        };
        let answered = self.answer(&tools, &turn, &history, &mut memory, emit)?;
        let response = answered.response;
        stream_text(&response.reply[answered.streamed..], emit);
        let tier = answered.tier.as_str();
        let actions = serde_json::to_string(&response.actions).unwrap_or_else(|_| "[]".into());
        self.shop.store.write(|tx| {
            let now = now_utc();
            conversations::append(
                tx,
                &conversation.id,
                &NewMessage {
                    role: "assistant",
                    content: &response.reply,
                    tier: Some(tier),
                    model: answered.model.as_deref(),
                    actions: &actions,
                    ..NewMessage::default()
                },
                &now,
            )?;
            conversations::save_turn_state(
                tx,
                &conversation.id,
                &memory.to_json(),
                f64::from(mood.score),
                &now,
            )
        })?;
        let intent = match answered.chosen {
            Some(intent) => Classified {
                intent,
                confidence: model::MODEL_CONFIDENCE as f32,
            },
            None => classified,
        };
        Ok(TurnReply {
            conversation_id: conversation.id,
            reply: response.reply,
            actions: response.actions,
            products: response.products,
            cart: response.cart,
            intent,
            tier,
            model: answered.model,
            usage: answered.usage,
            order_number: response.order_number,
            cached: answered.cached,
            flagged: flag.is_some() || conversation.flag.is_some(),
        })
    }

    /// Answers with the first backend that can: the models the tier and the
    /// shopper's budget allow, in order, then the rules. A checkout waiting
    /// for contact details and every yes or no to a summary go to the rules
    /// directly: what confirms an order is never a model's reading.
    fn answer(
        &self,
        tools: &Toolbox,
        turn: &Turn,
        history: &History,
        memory: &mut WorkingMemory,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<Driven, AssistantError> {
        let slot = self.cache_slot(turn, memory)?;
        if let Some((key, version)) = &slot
            && let Some(hit) = self.answers.and_then(|a| a.get(key, *version))
        {
            return Ok(from_cache(hit, memory, emit));
        }
        let driven = self.answer_afresh(tools, turn, history, memory, emit)?;
        if let (Some((key, version)), Some(answers)) = (slot, self.answers) {
            let focus = (turn.intent == Intent::ProductQuestion)
                .then(|| memory.focus.clone())
                .flatten();
            answers.put(
                &key,
                version,
                CachedAnswer {
                    reply: driven.response.reply.clone(),
                    tier: driven.tier.as_str().to_string(),
                    model: driven.model.clone(),
                    focus,
                    products: driven.response.products.clone(),
                },
            );
        }
        Ok(driven)
    }

    /// The cache key and content version of a turn whose answer is the same
    /// for every shopper; `None` for anything personal, or while a checkout
    /// waits for the shopper.
    fn cache_slot(
        &self,
        turn: &Turn,
        memory: &WorkingMemory,
    ) -> Result<Option<(String, ContentVersion)>, StoreError> {
        let enabled = self.answers.is_some_and(AnswerCache::is_enabled);
        if !enabled || memory.awaiting.is_some() || memory.pending_checkout.is_some() {
            return Ok(None);
        }
        let Some(key) = cache::key_for(turn.message) else {
            return Ok(None);
        };
        let version = self.shop.store.read(content::version)?;
        Ok(Some((key, version)))
    }

    fn answer_afresh(
        &self,
        tools: &Toolbox,
        turn: &Turn,
        history: &History,
        memory: &mut WorkingMemory,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<Driven, AssistantError> {
        let rules_decide =
            memory.awaiting.is_some() || matches!(turn.intent, Intent::Confirm | Intent::Decline);
        if !rules_decide && self.backends.has_models() {
            let subject = budget::subject_of(&tools.shopper);
            let ctx = ModelTurn {
                tools,
                turn,
                history,
                backends: self.backends,
                caller: self.caller(&tools.shopper, turn.conversation_id, &subject),
            };
            if let Some(driven) = self.drive(&ctx, memory, emit)? {
                return Ok(driven);
            }
        }
        Ok(Driven {
            response: rules::respond(tools, memory, turn, emit)?,
            tier: Tier::Free,
            model: None,
            usage: Usage::default(),
            streamed: 0,
            chosen: None,
            cached: false,
        })
    }

    /// A model's summary of older turns, where a remote model runs and the
    /// shopper's budget allows; the local 0.5B model's would be worse than
    /// the extractive notes, so it is not asked.
    fn summarize(&self, shopper: Shopper, conversation_id: &str, notes: &str) -> Option<String> {
        if self.backends.tier() != Tier::Enterprise {
            return None;
        }
        let subject = budget::subject_of(&shopper);
        let caller = self.caller(&shopper, conversation_id, &subject);
        let allowed = caller.allowance(true).ok()? == budget::Allowance::Allowed;
        allowed
            .then(|| model::summarize_remotely(&caller, notes))
            .flatten()
    }

    /// Whose budget this shopper's model calls spend.
    fn caller<'c>(
        &'c self,
        shopper: &Shopper,
        conversation_id: &'c str,
        subject: &'c str,
    ) -> model::Caller<'c> {
        model::Caller {
            store: self.shop.store,
            backends: self.backends,
            conversation_id: Some(conversation_id),
            class: self.backends.budgets.class_of(shopper),
            subject,
            webhooks: self.webhooks,
        }
    }

    /// Tries each model backend in turn; `None` when none answered.
    fn drive(
        &self,
        ctx: &ModelTurn,
        memory: &mut WorkingMemory,
        emit: &mut dyn FnMut(TurnEvent),
    ) -> Result<Option<Driven>, AssistantError> {
        let allowance = ctx
            .caller
            .allowance(self.backends.tier() == Tier::Enterprise)?;
        let referenced = match ctx.turn.slots.reference {
            Some(slots::Reference::Those) => memory.last_results.len(),
            _ => 0,
        };
        let turns = ctx
            .history
            .recent
            .iter()
            .filter(|m| m.role == "shopper")
            .count();
        let complexity = router::complexity(ctx.turn.message, referenced, turns);
        for choice in self.backends.chain(allowance, complexity) {
            let outcome = match choice {
                Choice::Remote { provider, model } => {
                    model::remote(ctx, provider, model, memory, emit)
                }
                Choice::Local(local) => model::local(ctx, local, memory, emit),
            };
            match outcome {
                Ok(driven) => return Ok(Some(driven)),
                Err(DriveError::Unavailable(reason)) => tracing::warn!(
                    tier = choice.tier().as_str(),
                    %reason,
                    "a model backend could not answer; trying the next"
                ),
                Err(DriveError::Tool(error)) => return Err(error.into()),
            }
        }
        Ok(None)
    }

    /// The shopper's conversation `id`, or a new one. Someone else's is as
    /// good as missing.
    fn open(&self, shopper: Shopper, id: Option<&str>) -> Result<ConversationRow, AssistantError> {
        let now = now_utc();
        let Some(id) = id else {
            let id = uuid::Uuid::new_v4().to_string();
            self.shop.store.write(|tx| {
                conversations::insert(tx, &id, shopper.session_id, shopper.customer_id, &now)
            })?;
            return self
                .conversation(shopper, &id)?
                .ok_or(AssistantError::NoConversation(id));
        };
        let found = self
            .conversation(shopper, id)?
            .ok_or_else(|| AssistantError::NoConversation(id.to_string()))?;
        if let (None, Some(customer_id)) = (found.customer_id, shopper.customer_id) {
            self.shop
                .store
                .write(|tx| conversations::set_customer(tx, id, customer_id))?;
        }
        Ok(found)
    }

    /// A conversation the shopper may see: started in their session, or
    /// belonging to their account.
    pub fn conversation(
        &self,
        shopper: Shopper,
        id: &str,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let found = self.shop.store.read(|c| conversations::get(c, id))?;
        Ok(found.filter(|c| {
            c.session_id == Some(shopper.session_id)
                || (shopper.customer_id.is_some() && c.customer_id == shopper.customer_id)
        }))
    }

    /// The pattern classifier's answer, unless a model refined this message
    /// before; unsure answers are queued for the model.
    fn classify(&self, message: &str) -> Result<Classified, StoreError> {
        let normalized = intent::normalize(message);
        let cached = self.shop.store.read(|c| intents::get(c, &normalized))?;
        if let Some(refined) = cached.as_ref().filter(|c| c.source == "model")
            && let Some(intent) = Intent::parse(&refined.intent)
        {
            return Ok(Classified {
                intent,
                confidence: refined.confidence as f32,
            });
        }
        let classified = intent::classify(message);
        if classified.confidence < REFINE_BELOW && !normalized.is_empty() {
            self.shop.store.write(|tx| {
                intents::note_pending(
                    tx,
                    &normalized,
                    classified.intent.as_str(),
                    f64::from(classified.confidence),
                    &now_utc(),
                )
            })?;
        }
        Ok(classified)
    }

    /// Messages of the shopper's conversation after message `after`.
    pub fn messages(
        &self,
        shopper: Shopper,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<(ConversationRow, Vec<MessageRow>), AssistantError> {
        let conversation = self
            .conversation(shopper, id)?
            .ok_or_else(|| AssistantError::NoConversation(id.to_string()))?;
        let messages = self
            .shop
            .store
            .read(|c| conversations::messages(c, id, after, limit))?;
        Ok((conversation, messages))
    }
}

/// Hands a conversation to an admin (`Some(name)`) or back to the assistant.
pub fn take_over(
    store: &Store,
    live: &Live,
    id: &str,
    admin: Option<&str>,
) -> Result<(), AssistantError> {
    let changed = store.write(|tx| conversations::set_takeover(tx, id, admin, &now_utc()))?;
    if !changed {
        return Err(AssistantError::NoConversation(id.to_string()));
    }
    live.publish(
        id,
        LiveEvent::Handoff {
            by: admin.map(str::to_string),
        },
    );
    Ok(())
}

/// An admin's message to the shopper, stored and sent to their open stream.
pub fn admin_says(
    store: &Store,
    live: &Live,
    id: &str,
    text: &str,
) -> Result<MessageRow, AssistantError> {
    let text = check_message(text)?;
    let exists = store.read(|c| conversations::get(c, id))?.is_some();
    if !exists {
        return Err(AssistantError::NoConversation(id.to_string()));
    }
    let now = now_utc();
    let message_id = store.write(|tx| {
        conversations::append(
            tx,
            id,
            &NewMessage {
                role: "admin",
                content: text,
                actions: "[]",
                ..NewMessage::default()
            },
            &now,
        )
    })?;
    let row = store
        .read(|c| conversations::messages(c, id, message_id - 1, 1))?
        .into_iter()
        .next()
        .ok_or_else(|| AssistantError::NoConversation(id.to_string()))?;
    live.publish(
        id,
        LiveEvent::Message {
            id: row.id,
            role: row.role.clone(),
            content: row.content.clone(),
            at: row.created_at.clone(),
        },
    );
    Ok(row)
}

/// A turn answered from the cache: the reply, its products, and the product
/// it was about in focus again.
fn from_cache(
    hit: CachedAnswer,
    memory: &mut WorkingMemory,
    emit: &mut dyn FnMut(TurnEvent),
) -> Driven {
    if hit.focus.is_some() {
        memory.focus = hit.focus;
    }
    if !hit.products.is_empty() {
        emit(TurnEvent::Products(hit.products.clone()));
    }
    Driven {
        response: rules::Response {
            reply: hit.reply,
            products: hit.products,
            ..rules::Response::default()
        },
        tier: Tier::parse(&hit.tier).unwrap_or(Tier::Free),
        model: hit.model,
        usage: Usage::default(),
        streamed: 0,
        chosen: None,
        cached: true,
    }
}

fn check_message(message: &str) -> Result<&str, AssistantError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(AssistantError::BadMessage("must not be empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AssistantError::BadMessage(
            "must be at most 2000 characters",
        ));
    }
    Ok(message)
}

/// Streams a finished reply a few words at a time, so clients render every
/// tier the same way.
fn stream_text(text: &str, emit: &mut dyn FnMut(TurnEvent)) {
    let mut chunk = String::new();
    let mut words = 0;
    for piece in text.split_inclusive([' ', '\n']) {
        chunk.push_str(piece);
        words += 1;
        if words == STREAM_CHUNK_WORDS {
            emit(TurnEvent::Token(std::mem::take(&mut chunk)));
            words = 0;
        }
    }
    if !chunk.is_empty() {
        emit(TurnEvent::Token(chunk));
    }
}
