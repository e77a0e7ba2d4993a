//! "Instant answer now, model-refined later": the background job that sends
//! the messages the pattern classifier was unsure of to a model, in batches,
//! and stores the model's intent so the next shopper who writes the same
//! thing gets it straight from the intent cache.
//!
//! A remote model labels a whole batch in one call; the local model labels
//! each message under a grammar. Calls are recorded as usage of the shop
//! itself (subject `system:intents`, the guest budgets), so the job cannot
//! spend more than one guest may. Owns the batching; the intents are
//! `store::intents`', the model calls `model`'s and `llm`'s.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::budget::{self, ShopperClass};
use super::intent::Intent;
use super::model::{self, Called, Caller};
use super::prompt;
use super::router::{Backends, Choice, Complexity, LocalModel, RemoteModel, Tier};
use crate::llm::remote::{RemoteRequest, TokenUsage};
use crate::llm::template::{ChatMessage, Role};
use crate::store::{Store, StoreError, intents, now_utc};

/// Messages one run refines at most.
pub const BATCH: usize = 20;
/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(600);
/// Whose budget the job's calls spend.
pub const SUBJECT: &str = "system:intents";
/// Confidence a model's label is stored with.
const REFINED_CONFIDENCE: f64 = 0.9;
/// Output tokens a remote model may use to label a batch.
const BATCH_MAX_TOKENS: usize = 400;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refined {
    pub refined: usize,
    pub unanswered: usize,
    /// The tier that labelled them.
    pub tier: Option<&'static str>,
}

/// Labels up to [`BATCH`] pending messages with the first model backend that
/// answers; nothing happens on the free tier or with nothing pending.
pub fn refine_pending(
    store: &Store,
    backends: &Backends,
    shop_name: &str,
) -> Result<Refined, StoreError> {
    if !backends.has_models() {
        return Ok(Refined::default());
    }
    let pending = store.read(|c| intents::pending(c, BATCH))?;
    if pending.is_empty() {
        return Ok(Refined::default());
    }
    let job = Job {
        store,
        backends,
        shop_name,
    };
    let allowance = job
        .caller()
        .allowance(backends.tier() == Tier::Enterprise)?;
    let texts: Vec<&str> = pending.iter().map(|p| p.normalized.as_str()).collect();
    for choice in backends.chain(allowance, Complexity::Simple) {
        let labels = match choice {
            Choice::Remote { provider, model } => job.remotely(provider, model, &texts),
            Choice::Local(local) => job.locally(local, &texts),
        };
        match labels {
            Ok(labels) => return job.store_labels(&texts, &labels, choice.tier()),
            Err(reason) => tracing::warn!(
                tier = choice.tier().as_str(),
                %reason,
                "could not refine intents with this backend; trying the next"
            ),
        }
    }
    Ok(Refined {
        unanswered: texts.len(),
        ..Refined::default()
    })
}

struct Job<'a> {
    store: &'a Store,
    backends: &'a Backends,
    shop_name: &'a str,
}

impl Job<'_> {
    /// One call for the whole batch; labels that are missing or unknown stay pending.
    fn remotely(
        &self,
        provider: &RemoteModel,
        model: &str,
        texts: &[&str],
    ) -> Result<Vec<Option<Intent>>, String> {
        let messages = [
            ChatMessage::new(
                Role::System,
                prompt::batch_classifier_system(self.shop_name),
            ),
            ChatMessage::new(Role::User, prompt::batch_classifier_message(texts)),
        ];
        let request = RemoteRequest {
            messages: &messages,
            tools: &[],
            max_tokens: BATCH_MAX_TOKENS,
            temperature: 0.0,
        };
        let started = Instant::now();
        let outcome = provider
            .guarded
            .call(model, &request, self.backends.timeout);
        let usage = outcome.as_ref().map(|(r, _)| r.usage).unwrap_or_default();
        self.record(
            provider.guarded.provider(),
            model,
            Tier::Enterprise,
            usage,
            started,
            outcome.is_ok(),
        );
        let (reply, _) = outcome.map_err(|e| e.to_string())?;
        parse_batch(&reply.text, texts.len())
    }

    /// One grammar-constrained call per message.
    fn locally(&self, local: &LocalModel, texts: &[&str]) -> Result<Vec<Option<Intent>>, String> {
        let id = local.worker.frontend().info.id.clone();
        let mut labels = Vec::with_capacity(texts.len());
        for text in texts {
            let started = Instant::now();
            let outcome = model::classify_locally(local, self.shop_name, None, text);
            let usage = outcome
                .as_ref()
                .map(|(_, c)| model::tokens_of(c))
                .unwrap_or_default();
            self.record(
                budget::LOCAL_BACKEND,
                &id,
                local.tier,
                usage,
                started,
                outcome.is_ok(),
            );
            labels.push(outcome.ok().map(|(intent, _)| intent));
        }
        if labels.iter().all(Option::is_none) {
            return Err(format!("{id} labelled none of {} messages", texts.len()));
        }
        Ok(labels)
    }

    fn record(
        &self,
        backend: &'static str,
        model: &str,
        tier: Tier,
        usage: TokenUsage,
        started: Instant,
        ok: bool,
    ) {
        self.caller().record(Called {
            tier,
            backend,
            model,
            purpose: "intent",
            usage,
            latency: started.elapsed(),
            ok,
        });
    }

    /// The job spends the shop's own budget, as a guest would.
    fn caller(&self) -> Caller<'_> {
        Caller {
            store: self.store,
            backends: self.backends,
            conversation_id: None,
            class: ShopperClass::Guest,
            subject: SUBJECT,
            webhooks: None,
        }
    }

    fn store_labels(
        &self,
        texts: &[&str],
        labels: &[Option<Intent>],
        tier: Tier,
    ) -> Result<Refined, StoreError> {
        let now = now_utc();
        let refined = self.store.write(|tx| {
            let mut refined = 0;
            for (text, label) in texts.iter().zip(labels) {
                if let Some(intent) = label {
                    intents::refine(tx, text, intent.as_str(), REFINED_CONFIDENCE, &now)?;
                    refined += 1;
                }
            }
            Ok(refined)
        })?;
        tracing::info!(refined, tier = tier.as_str(), "refined unsure intents");
        Ok(Refined {
            refined,
            unanswered: texts.len() - refined,
            tier: Some(tier.as_str()),
        })
    }
}

/// Reads `{"actions": [...]}` from a model's text (code fences and words
/// around it allowed); one label per message, `None` where it is missing or
/// not an action we know.
fn parse_batch(text: &str, expected: usize) -> Result<Vec<Option<Intent>>, String> {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err(format!("no JSON object in the model's answer: {text:?}"));
    };
    let parsed: Value = serde_json::from_str(text.get(start..=end).unwrap_or_default())
        .map_err(|e| format!("the model's answer is not JSON ({e})"))?;
    let actions = parsed["actions"]
        .as_array()
        .ok_or("the model's answer has no \"actions\" list")?;
    Ok((0..expected)
        .map(|n| {
            let action = actions.get(n)?.as_str()?;
            prompt::LOCAL_ACTIONS
                .iter()
                .find(|(name, _)| *name == action)
                .map(|(_, intent)| *intent)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_are_read_in_order_and_unknown_labels_stay_pending() {
        let labels = parse_batch(
            "```json\n{\"actions\": [\"store_info\", \"dance\", \"search_products\"]}\n```",
            4,
        )
        .unwrap();
        assert_eq!(
            labels,
            [Some(Intent::StorePolicy), None, Some(Intent::Search), None]
        );
        assert!(parse_batch("no idea", 1).is_err());
        assert!(parse_batch("{\"labels\": []}", 1).is_err());
    }

    #[test]
    fn the_free_tier_refines_nothing_and_leaves_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &Default::default()).unwrap();
        store
            .write(|tx| intents::note_pending(tx, "asdf", "other", 0.4, "2026-01-01T00:00:00Z"))
            .unwrap();
        let config = crate::config::Config::from_sources(&Default::default(), &[]).unwrap();
        let backends = Backends::build(&config, None);
        let done = refine_pending(&store, &backends, "Shop").unwrap();
        assert_eq!(done, Refined::default());
        assert_eq!(store.read(|c| intents::pending(c, 10)).unwrap().len(), 1);
    }
}
