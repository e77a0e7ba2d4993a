//! The scenario suite: scripted shopper conversations with the tool actions
//! and end states they must reach, run against a fresh demo shop. `shopkeep
//! bench assistant` prints the per-scenario report; the test suite requires
//! the free tier's success rate.
//!
//! A scenario passes when every expectation of every turn holds. Owns the
//! scenario format and the shop it runs in; answering is the engine's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::live::Live;
use super::router::Backends;
use super::{Assistant, Services, TurnEvent, TurnReply};
use crate::catalog::{Currency, demo};
use crate::commerce::payment::Payments;
use crate::commerce::vouchers::{self, VoucherDraft, VoucherInput};
use crate::commerce::{Shopper, order, shopper};
use crate::config::Config;
use crate::llm::worker::ModelWorker;
use crate::search::SearchService;
use crate::store::{Store, StoreOptions};

/// The scenarios shipped with shopkeep.
pub const SCENARIOS: &str = include_str!("scenarios.toml");

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("scenario file: {0}")]
    Parse(String),
    #[error("setting up the demo shop: {0}")]
    Setup(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    scenario: Vec<Scenario>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub turn: Vec<Expect>,
    /// The cart at the end: (name substring, quantity) for every line.
    #[serde(default)]
    pub cart: Option<Vec<(String, i64)>>,
    /// How many orders the shopper has at the end.
    #[serde(default)]
    pub orders: Option<usize>,
}

/// One shopper message and what must be true of the answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub say: String,
    #[serde(default)]
    pub intent: Option<String>,
    /// The successful tool calls, in order (empty list: none).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Each must be a substring of some product shown (case-insensitive).
    #[serde(default)]
    pub products: Vec<String>,
    /// Every product shown must cost at most this (minor units).
    #[serde(default)]
    pub max_price_minor: Option<i64>,
    /// Each must appear in the reply (case-insensitive).
    #[serde(default)]
    pub reply: Vec<String>,
    /// None may appear in the reply (case-insensitive).
    #[serde(default)]
    pub not_reply: Vec<String>,
    /// Whether this turn placed an order.
    #[serde(default)]
    pub placed: Option<bool>,
    #[serde(default)]
    pub flagged: Option<bool>,
}

pub fn parse(text: &str) -> Result<Vec<Scenario>, EvalError> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| EvalError::Parse(e.to_string()))?;
    Ok(file.scenario)
}

/// A demo shop in a temporary directory, as the scenarios expect it.
pub struct EvalShop {
    _dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub search: Arc<SearchService>,
    pub config: Config,
    pub payments: Payments,
    pub live: Live,
    pub backends: Backends,
}

impl EvalShop {
    /// A demo shop answering on the tier `config` and `local` (the local
    /// model's worker, if any) give; the shop's data lives in a temporary
    /// directory whatever `config` says.
    pub fn open(config: Config, local: Option<ModelWorker>) -> Result<EvalShop, EvalError> {
        let setup = |e: &dyn std::fmt::Display| EvalError::Setup(e.to_string());
        let dir = tempfile::tempdir().map_err(|e| setup(&e))?;
        let store = Arc::new(
            Store::open(&dir.path().join("shop.db"), &StoreOptions::default())
                .map_err(|e| setup(&e))?,
        );
        demo::load_if_empty(&store, &config.currency).map_err(|e| setup(&e))?;
        super::faq::seed_demo(&store).map_err(|e| setup(&e))?;
        create_vouchers(&store, &config.currency)?;
        let search = Arc::new(
            SearchService::open(
                Arc::clone(&store),
                config.currency,
                &dir.path().join("index"),
                None,
            )
            .map_err(|e| setup(&e))?,
        );
        search.catch_up().map_err(|e| setup(&e))?;
        Ok(EvalShop {
            _dir: dir,
            store,
            search,
            payments: Payments::default(),
            live: Live::default(),
            backends: Backends::build(&config, local),
            config,
        })
    }

    /// A free-tier demo shop with the default settings.
    pub fn free() -> Result<EvalShop, EvalError> {
        let config = Config::from_sources(&Default::default(), &[])
            .map_err(|e| EvalError::Setup(e.to_string()))?;
        EvalShop::open(config, None)
    }

    fn assistant(&self) -> Assistant<'_> {
        Assistant::new(
            &self.store,
            &self.config,
            Services {
                search: &self.search,
                payments: &self.payments,
                live: &self.live,
                backends: &self.backends,
                webhooks: None,
                answers: None,
            },
        )
    }

    fn new_shopper(&self) -> Result<Shopper, EvalError> {
        shopper::resolve(&self.store, None, self.config.commerce.session_ttl)
            .map(|grant| grant.shopper)
            .map_err(|e| EvalError::Setup(e.to_string()))
    }
}

/// The vouchers scenarios use: 10% off from $20, and $5 off.
fn create_vouchers(store: &Store, currency: &Currency) -> Result<(), EvalError> {
    for input in [
        serde_json::json!({"code": "WELCOME10", "kind": "percent", "value": "10", "minimum_spend": "20.00"}),
        serde_json::json!({"code": "FIVEOFF", "kind": "fixed", "value": "5.00"}),
    ] {
        let input: VoucherInput =
            serde_json::from_value(input).map_err(|e| EvalError::Setup(e.to_string()))?;
        let draft = VoucherDraft::parse(&input, currency)
            .map_err(|e| EvalError::Setup(format!("{e:?}")))?;
        store
            .write(|tx| vouchers::create(tx, &draft).map(|_| ()))
            .map_err(|e| EvalError::Setup(e.to_string()))?;
    }
    Ok(())
}

/// How one scenario went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    /// What failed, empty when the scenario passed.
    pub failures: Vec<String>,
    /// Time of each turn.
    pub turn_times: Vec<Duration>,
    /// Time to the first streamed text of each turn a model answered.
    pub first_token_times: Vec<Duration>,
    /// Turns a model answered (tier other than free).
    pub model_turns: usize,
    /// Prompt tokens of the model calls, and how many of them came from the
    /// prefix cache.
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    /// Each turn: what the shopper said, the tier that answered, the reply.
    pub transcript: Vec<(String, String, String)>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every scenario, each as a new guest.
pub fn run(shop: &EvalShop, scenarios: &[Scenario]) -> Result<Vec<Outcome>, EvalError> {
    scenarios.iter().map(|s| run_one(shop, s)).collect()
}

fn run_one(shop: &EvalShop, scenario: &Scenario) -> Result<Outcome, EvalError> {
    let shopper = shop.new_shopper()?;
    let assistant = shop.assistant();
    let mut conversation: Option<String> = None;
    let mut failures = Vec::new();
    let mut turn_times = Vec::new();
    let mut first_token_times = Vec::new();
    let mut model_turns = 0;
    let mut transcript = Vec::new();
    let (mut prompt_tokens, mut cached_tokens) = (0, 0);
    for (index, expect) in scenario.turn.iter().enumerate() {
        let started = Instant::now();
        let mut first_token = None;
        let result = assistant.turn(
            shopper,
            conversation.as_deref(),
            &expect.say,
            &mut |event| {
                if matches!(event, TurnEvent::Token(_)) && first_token.is_none() {
                    first_token = Some(started.elapsed());
                }
            },
        );
        turn_times.push(started.elapsed());
        match result {
            Ok(reply) => {
                prompt_tokens += reply.usage.input_tokens;
                cached_tokens += reply.usage.cached_tokens;
                if reply.tier != "free" {
                    model_turns += 1;
                    first_token_times.extend(first_token);
                }
                transcript.push((
                    expect.say.clone(),
                    reply.tier.to_string(),
                    reply.reply.clone(),
                ));
                conversation = Some(reply.conversation_id.clone());
                for failure in check_turn(expect, &reply) {
                    failures.push(format!("turn {} {:?}: {failure}", index + 1, expect.say));
                }
            }
            Err(error) => failures.push(format!("turn {}: error {error}", index + 1)),
        }
    }
    failures.extend(check_end(shop, shopper, scenario));
    Ok(Outcome {
        name: scenario.name.clone(),
        failures,
        turn_times,
        first_token_times,
        model_turns,
        prompt_tokens,
        cached_tokens,
        transcript,
    })
}

fn check_turn(expect: &Expect, reply: &TurnReply) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(what);
    if let Some(intent) = &expect.intent
        && reply.intent.intent.as_str() != intent
    {
        fail(format!(
            "intent {} (wanted {intent})",
            reply.intent.intent.as_str()
        ));
    }
    if let Some(tools) = &expect.tools {
        let done: Vec<&str> = reply
            .actions
            .iter()
            .filter(|a| a.ok)
            .map(|a| a.tool.as_str())
            .collect();
        if done != tools.iter().map(String::as_str).collect::<Vec<_>>() {
            fail(format!("tools {done:?} (wanted {tools:?})"));
        }
    }
    let names: Vec<String> = reply
        .products
        .iter()
        .map(|p| p.name.to_lowercase())
        .collect();
    for wanted in &expect.products {
        if !names.iter().any(|n| n.contains(&wanted.to_lowercase())) {
            fail(format!("no product like {wanted:?} in {names:?}"));
        }
    }
    if let Some(max) = expect.max_price_minor
        && let Some(over) = reply.products.iter().find(|p| p.price_minor > max)
    {
        fail(format!(
            "{} costs {} (limit {max})",
            over.name, over.price_minor
        ));
    }
    let text = reply.reply.to_lowercase();
    for wanted in &expect.reply {
        if !text.contains(&wanted.to_lowercase()) {
            fail(format!("reply lacks {wanted:?}: {:?}", reply.reply));
        }
    }
    for unwanted in &expect.not_reply {
        if text.contains(&unwanted.to_lowercase()) {
            fail(format!("reply has {unwanted:?}: {:?}", reply.reply));
        }
    }
    if let Some(placed) = expect.placed
        && reply.order_number.is_some() != placed
    {
        fail(format!(
            "order placed: {} (wanted {placed})",
            reply.order_number.is_some()
        ));
    }
    if let Some(flagged) = expect.flagged
        && reply.flagged != flagged
    {
        fail(format!("flagged: {} (wanted {flagged})", reply.flagged));
    }
    failures
}

fn check_end(shop: &EvalShop, shopper: Shopper, scenario: &Scenario) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(wanted) = &scenario.cart {
        match crate::commerce::cart::view(
            &shop.store,
            shopper,
            &shop.config.commerce,
            &shop.config.currency,
        ) {
            Ok(view) => {
                let lines: Vec<(String, i64)> = view
                    .lines
                    .iter()
                    .map(|l| (l.offer.name.to_lowercase(), l.quantity))
                    .collect();
                let matches = lines.len() == wanted.len()
                    && wanted.iter().all(|(name, quantity)| {
                        lines
                            .iter()
                            .any(|(n, q)| n.contains(&name.to_lowercase()) && q == quantity)
                    });
                if !matches {
                    failures.push(format!("cart {lines:?} (wanted {wanted:?})"));
                }
            }
            Err(error) => failures.push(format!("cart unreadable: {error}")),
        }
    }
    if let Some(wanted) = scenario.orders {
        match order::list_for_shopper(&shop.store, shopper, 100) {
            Ok(orders) if orders.len() == wanted => {}
            Ok(orders) => failures.push(format!("{} orders (wanted {wanted})", orders.len())),
            Err(error) => failures.push(format!("orders unreadable: {error}")),
        }
    }
    failures
}

/// The share of scenarios that passed, 0 to 1.
pub fn success_rate(outcomes: &[Outcome]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes.iter().filter(|o| o.passed()).count() as f64 / outcomes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The free tier (no model) must complete at least 95% of the suite.
    #[test]
    fn the_free_tier_passes_the_scenario_suite() {
        let scenarios = parse(SCENARIOS).unwrap();
        assert!(scenarios.len() >= 60, "{} scenarios", scenarios.len());
        let shop = EvalShop::free().unwrap();
        let outcomes = run(&shop, &scenarios).unwrap();
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| format!("{}: {:?}", o.name, o.failures))
            .collect();
        let rate = success_rate(&outcomes);
        assert!(
            rate >= 0.95,
            "{:.1}% passed; failing:\n{}",
            rate * 100.0,
            failed.join("\n")
        );
    }

    #[test]
    fn a_wrong_expectation_fails_its_scenario() {
        let scenarios = parse(
            r#"
            [[scenario]]
            name = "wrong on purpose"
            orders = 1
            [[scenario.turn]]
            say = "show me vegan cookies"
            tools = ["add_to_cart"]
            products = ["motorcycle helmet"]
            reply = ["this text is not in any reply"]
            "#,
        )
        .unwrap();
        let shop = EvalShop::free().unwrap();
        let outcome = &run(&shop, &scenarios).unwrap()[0];
        assert_eq!(outcome.failures.len(), 4, "{:?}", outcome.failures);
        assert_eq!(success_rate(std::slice::from_ref(outcome)), 0.0);
    }

    #[test]
    fn scenario_files_with_unknown_fields_are_refused() {
        let error = parse("[[scenario]]\nname = \"x\"\nturns = []\n").unwrap_err();
        assert!(error.to_string().contains("turns"), "{error}");
    }
}
