//! Which backend answers a turn: the deployment tier that runs, the model
//! backends it may use, and the order they are tried in.
//!
//! Enterprise tries the remote providers (fast or strong model by the turn's
//! complexity), then the local model, then the rules; starter and
//! professional try the local model, then the rules; free has only the rules.
//! A spent shopper budget skips every model, the remote spend cap skips the
//! remote ones. Owns that choice and the backends' construction; running a
//! backend is `model`'s, and what a turn does is `rules`'s and `tools`'.

use std::time::Duration;

use super::budget::{Allowance, Budgets};
use crate::config::{Config, TierSetting};
use crate::llm::local::ModelInfo;
use crate::llm::pricing::PriceTable;
use crate::llm::remote::{BreakerSettings, Gemini, Guarded, Limits, OpenAiCompatible};
use crate::llm::worker::ModelWorker;

/// A model file at least this big is a professional-tier model (3B class and
/// up); smaller ones are the starter tier's.
const PROFESSIONAL_MODEL_BYTES: u64 = 1_500_000_000;
/// Below this intent confidence the local model chooses the action itself;
/// above it the pattern classifier's reading stands (it is right far more
/// often than a 0.5B model there, and costs nothing).
const MODEL_PLANS_BELOW: f32 = 0.6;
/// Turns after which a conversation counts as long (strong model).
const LONG_CONVERSATION_TURNS: usize = 10;
/// Words that ask for weighing products against each other (strong model).
const COMPLEX_WORDS: &[&str] = &[
    "compare",
    "comparison",
    "versus",
    " vs ",
    "pros and cons",
    "difference between",
    "differences",
    "better",
    "best",
    "which should",
    "recommend between",
];

/// The tiers, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Free,
    Starter,
    Professional,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Starter => "starter",
            Tier::Professional => "professional",
            Tier::Enterprise => "enterprise",
        }
    }

    pub fn parse(name: &str) -> Option<Tier> {
        [
            Tier::Free,
            Tier::Starter,
            Tier::Professional,
            Tier::Enterprise,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }

    fn of_setting(setting: TierSetting) -> Option<Tier> {
        match setting {
            TierSetting::Auto => None,
            TierSetting::Free => Some(Tier::Free),
            TierSetting::Starter => Some(Tier::Starter),
            TierSetting::Professional => Some(Tier::Professional),
            TierSetting::Enterprise => Some(Tier::Enterprise),
        }
    }
}

/// The tier a loaded local model gives: professional on a GPU or for a big
/// model, starter otherwise.
pub fn local_tier(info: &ModelInfo) -> Tier {
    if info.device.starts_with("cuda") || info.file_bytes >= PROFESSIONAL_MODEL_BYTES {
        Tier::Professional
    } else {
        Tier::Starter
    }
}

/// The tier that runs and why: the one configured, or the highest this
/// machine and configuration support when that is lower or `auto` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub active: Tier,
    /// Whether the configured tier could not be reached.
    pub degraded: bool,
    pub reason: String,
}

pub fn resolve(setting: TierSetting, local: Option<&ModelInfo>, remote: bool) -> Resolution {
    let (available, why) = match (remote, local) {
        (true, _) => (
            Tier::Enterprise,
            "remote model APIs are configured".to_string(),
        ),
        (false, Some(info)) => (
            local_tier(info),
            format!("{} runs on the {}", info.id, info.device),
        ),
        (false, None) => (
            Tier::Free,
            "no remote API configured and no local model loaded".to_string(),
        ),
    };
    match Tier::of_setting(setting) {
        None => Resolution {
            active: available,
            degraded: false,
            reason: format!(
                "auto: {why}, so {} is the highest available",
                available.as_str()
            ),
        },
        Some(wanted) if wanted <= available => Resolution {
            active: wanted,
            degraded: false,
            reason: format!("{} as configured", wanted.as_str()),
        },
        Some(wanted) => Resolution {
            active: available,
            degraded: true,
            reason: format!(
                "{} is configured but {why}; degraded to {}",
                wanted.as_str(),
                available.as_str()
            ),
        },
    }
}

/// A remote provider with its fast and strong models.
pub struct RemoteModel {
    pub guarded: Guarded,
    pub fast: String,
    pub strong: String,
}

/// The local model and the tier it gives.
pub struct LocalModel {
    pub worker: ModelWorker,
    pub tier: Tier,
}

/// One backend to try for a turn.
#[derive(Clone, Copy)]
pub enum Choice<'a> {
    Remote {
        provider: &'a RemoteModel,
        model: &'a str,
    },
    Local(&'a LocalModel),
}

impl Choice<'_> {
    pub fn tier(&self) -> Tier {
        match self {
            Choice::Remote { .. } => Tier::Enterprise,
            Choice::Local(local) => local.tier,
        }
    }
}

/// How hard a turn is, for picking between a fast and a strong model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complexity {
    Simple,
    Complex,
}

/// Complex: comparing or weighing products, a message naming several of
/// them, or a long conversation.
pub fn complexity(message: &str, products_referenced: usize, turns: usize) -> Complexity {
    let lower = format!(" {} ", message.to_lowercase());
    let weighs = COMPLEX_WORDS.iter().any(|w| lower.contains(w));
    if weighs || products_referenced > 2 || turns > LONG_CONVERSATION_TURNS {
        Complexity::Complex
    } else {
        Complexity::Simple
    }
}

/// One of a remote provider's two models.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelSize {
    Fast,
    Strong,
}

/// Which remote model answers turns of each complexity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub simple: ModelSize,
    pub complex: ModelSize,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            simple: ModelSize::Fast,
            complex: ModelSize::Strong,
        }
    }
}

impl Routing {
    fn size_for(self, complexity: Complexity) -> ModelSize {
        match complexity {
            Complexity::Simple => self.simple,
            Complexity::Complex => self.complex,
        }
    }

    /// The rule in words, for the dashboard.
    pub fn explain() -> String {
        format!(
            "A turn is complex when it compares or weighs products (words such as {}), \
             refers to more than two products shown, or comes after more than {LONG_CONVERSATION_TURNS} \
             shopper messages; every other turn is simple.",
            COMPLEX_WORDS
                .iter()
                .take(4)
                .map(|w| format!("\"{}\"", w.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The model backends of the shop and the rules for using them.
pub struct Backends {
    pub resolution: Resolution,
    remote: Vec<RemoteModel>,
    local: Option<LocalModel>,
    /// The longest one remote call may take.
    pub timeout: Duration,
    pub budgets: Budgets,
    pub prices: PriceTable,
    /// Below this intent confidence the local model picks the tool itself.
    pub model_plans_below: f32,
    /// Which remote model answers simple and complex turns.
    pub routing: Routing,
}

impl Backends {
    /// The backends `config` describes, with the local model's worker when one loaded.
    pub fn build(config: &Config, local: Option<ModelWorker>) -> Backends {
        let remote = remote_models(config);
        let local = local.map(|worker| {
            let tier = local_tier(&worker.frontend().info);
            LocalModel { worker, tier }
        });
        let resolution = resolve(
            config.tier,
            local.as_ref().map(|l| &l.worker.frontend().info),
            !remote.is_empty(),
        );
        Backends {
            resolution,
            remote,
            local,
            timeout: config.remote.timeout,
            budgets: Budgets::new(&config.budgets),
            prices: config.remote.prices.clone(),
            model_plans_below: MODEL_PLANS_BELOW,
            routing: Routing::default(),
        }
    }

    /// The local model's worker, whatever the tier (the OpenAI-compatible
    /// endpoint serves it even when the tier does not use it).
    pub fn local_worker(&self) -> Option<&ModelWorker> {
        self.local.as_ref().map(|l| &l.worker)
    }

    /// The tier running now.
    pub fn tier(&self) -> Tier {
        self.resolution.active
    }

    pub fn has_models(&self) -> bool {
        self.tier() > Tier::Free
    }

    pub fn remote(&self) -> &[RemoteModel] {
        &self.remote
    }

    pub fn local(&self) -> Option<&LocalModel> {
        self.local.as_ref().filter(|l| l.tier <= self.tier())
    }

    /// The backends to try for a turn, in order; the rules come after them.
    pub fn chain(&self, allowance: Allowance, complexity: Complexity) -> Vec<Choice<'_>> {
        let mut chain = Vec::new();
        if matches!(allowance, Allowance::OverShopperBudget { .. }) {
            return chain;
        }
        if self.tier() == Tier::Enterprise && allowance == Allowance::Allowed {
            for provider in &self.remote {
                let model = match self.routing.size_for(complexity) {
                    ModelSize::Fast => &provider.fast,
                    ModelSize::Strong => &provider.strong,
                };
                chain.push(Choice::Remote { provider, model });
            }
        }
        if let Some(local) = self.local() {
            chain.push(Choice::Local(local));
        }
        chain
    }
}

/// The remote providers of the configuration, each behind its own breaker
/// and token buckets.
fn remote_models(config: &Config) -> Vec<RemoteModel> {
    let settings = &config.remote;
    let limits = Limits {
        requests_per_minute: settings.requests_per_minute,
        tokens_per_minute: settings.tokens_per_minute,
    };
    let breaker = BreakerSettings {
        failures: settings.breaker_failures,
        cooldown: settings.breaker_cooldown,
    };
    let mut models = Vec::new();
    if let Some(openai) = &settings.openai {
        models.push(RemoteModel {
            guarded: Guarded::new(
                Box::new(OpenAiCompatible::new(
                    &openai.base_url,
                    openai.api_key.clone(),
                )),
                limits,
                breaker,
            ),
            fast: openai.fast_model.clone(),
            strong: openai.strong_model.clone(),
        });
    }
    if let Some(gemini) = &settings.gemini {
        models.push(RemoteModel {
            guarded: Guarded::new(
                Box::new(Gemini::new(&gemini.base_url, gemini.api_key.clone())),
                limits,
                breaker,
            ),
            fast: gemini.fast_model.clone(),
            strong: gemini.strong_model.clone(),
        });
    }
    models
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Family;

    fn info(device: &str, file_bytes: u64) -> ModelInfo {
        ModelInfo {
            id: "m".into(),
            family: Family::Qwen2,
            path: "m.gguf".into(),
            file_bytes,
            context: 4096,
            layers: 24,
            device: device.into(),
            load_ms: 1,
            estimated_memory_mb: 600,
            kv_bytes_per_token: 12_288,
        }
    }

    #[test]
    fn auto_picks_the_highest_tier_available() {
        let small = info("cpu", 491_400_064);
        assert_eq!(resolve(TierSetting::Auto, None, false).active, Tier::Free);
        assert_eq!(
            resolve(TierSetting::Auto, Some(&small), false).active,
            Tier::Starter
        );
        assert_eq!(
            resolve(TierSetting::Auto, Some(&info("cuda:0", 491_400_064)), false).active,
            Tier::Professional
        );
        assert_eq!(
            resolve(TierSetting::Auto, Some(&small), true).active,
            Tier::Enterprise
        );
    }

    #[test]
    fn a_configured_tier_caps_and_an_unreachable_one_degrades() {
        let small = info("cpu", 491_400_064);
        let capped = resolve(TierSetting::Starter, Some(&small), true);
        assert_eq!((capped.active, capped.degraded), (Tier::Starter, false));
        let free = resolve(TierSetting::Free, Some(&small), true);
        assert_eq!(free.active, Tier::Free);
        let missing = resolve(TierSetting::Enterprise, Some(&small), false);
        assert_eq!((missing.active, missing.degraded), (Tier::Starter, true));
        assert!(
            missing.reason.contains("degraded to starter"),
            "{}",
            missing.reason
        );
    }

    #[test]
    fn routing_picks_the_model_size_per_complexity() {
        let default = Routing::default();
        assert_eq!(default.size_for(Complexity::Simple), ModelSize::Fast);
        assert_eq!(default.size_for(Complexity::Complex), ModelSize::Strong);
        let all_strong = Routing {
            simple: ModelSize::Strong,
            complex: ModelSize::Strong,
        };
        assert_eq!(all_strong.size_for(Complexity::Simple), ModelSize::Strong);
        assert!(Routing::explain().contains("\"compare\""));
    }

    #[test]
    fn comparisons_many_products_and_long_talks_are_complex() {
        assert_eq!(complexity("show me coffee", 0, 1), Complexity::Simple);
        assert_eq!(
            complexity("Compare the oat milk and the almond milk", 0, 1),
            Complexity::Complex
        );
        assert_eq!(
            complexity("pros and cons of the granola?", 1, 1),
            Complexity::Complex
        );
        assert_eq!(complexity("add these", 3, 1), Complexity::Complex);
        assert_eq!(complexity("and rice?", 0, 11), Complexity::Complex);
    }
}
