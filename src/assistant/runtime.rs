//! The AI set-up the shop runs on now, swappable while it serves: the
//! effective configuration (config file + dashboard settings), the backends
//! built from it and the local model. Saving settings or switching the local
//! model builds a new set-up and swaps it in; turns that started keep the one
//! they began with (each holds an `Arc` of it).
//!
//! Owns the swap, loading and switching the local model, the sandboxed test
//! turn and the dashboard's view of it all. Validation is `settings`',
//! sealing `secrets`', rows `store::ai_settings`'. It must not know about HTTP,
//! and never shows or logs a key: only its hint.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use super::budget;
use super::router::{Backends, Routing, Tier};
use super::settings::{
    self, AiUpdate, BudgetForm, GEMINI_KEY, KeyChange, LocalChoice, OPENAI_KEY, ProviderForm,
    Saved, SavedKey, SavedKeys,
};
use super::{Assistant, AssistantError, Services, Usage};
use crate::catalog::FieldError;
use crate::commerce::shopper;
use crate::config::{Config, Secret, TierSetting};
use crate::llm::catalog::{Catalog, Kind, human_bytes};
use crate::llm::local::{LoadOptions, ModelInfo};
use crate::llm::manager::ModelManager;
use crate::llm::transformer::Kernels;
use crate::llm::worker::ModelWorker;
use crate::ops::health::LlmStatus;
use crate::secrets::{Sealed, SecretBox, SecretsError};
use crate::store::ai_settings::{self as rows, SecretRow};
use crate::store::{Store, StoreError, conversations, now_utc, sessions};

/// How long the test console's sandbox session would live if it were not
/// deleted straight after its turn.
const SANDBOX_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid AI settings")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the saved AI settings are unreadable: {0}")]
    Corrupt(String),
    #[error("model {0} is loading; try again once it is done")]
    Busy(String),
    /// The model is unknown or not installed (the admin can fix the request).
    #[error("{0}")]
    NotInstalled(String),
    /// The model is there but did not load (memory, a damaged file).
    #[error("{0}")]
    LoadFailed(String),
}

/// One set-up: what the assistant, `/readyz` and the OpenAI endpoint use.
pub struct Running {
    /// The config file with the dashboard's AI settings in its place.
    pub config: Config,
    pub backends: Backends,
    pub llm_status: LlmStatus,
}

impl Running {
    pub fn chat_model(&self) -> Option<&ModelWorker> {
        self.backends.local_worker()
    }
}

/// The shop's swappable AI set-up.
pub struct AiRuntime {
    file: Config,
    running: RwLock<Arc<Running>>,
    /// The model being loaded, if one is: one load at a time.
    loading: Mutex<Option<String>>,
    /// Held while a new set-up is built and swapped in, so two changes
    /// cannot each swap in a set-up that lacks the other's.
    changing: Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AiRuntime {
    /// The set-up at start: saved settings over the config file, and the
    /// local model they name loaded (or why not, for `/readyz`).
    pub fn start(file: &Config, store: &Store) -> AiRuntime {
        let saved = saved_or_default(store);
        let keys = saved_keys(file, store);
        let config = settings::effective(file, &saved, &keys);
        let (worker, llm_status) = start_chat_model(&config);
        AiRuntime::with(file, &saved, config, worker, llm_status)
    }

    /// A set-up from parts already made (the model worker loaded by the caller).
    pub fn with(
        file: &Config,
        saved: &Saved,
        config: Config,
        worker: Option<ModelWorker>,
        llm_status: LlmStatus,
    ) -> AiRuntime {
        let running = build(config, saved, worker, llm_status);
        AiRuntime {
            file: file.clone(),
            running: RwLock::new(Arc::new(running)),
            loading: Mutex::new(None),
            changing: Mutex::new(()),
        }
    }

    /// The set-up now; hold it for the length of a turn.
    pub fn current(&self) -> Arc<Running> {
        let running = self
            .running
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&running)
    }

    fn install(&self, running: Running) {
        let mut slot = self
            .running
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(running);
    }

    /// Rebuilds the set-up from what is saved now, keeping the local model.
    fn rebuild(&self, store: &Store) -> Result<(), RuntimeError> {
        let current = self.current();
        let saved = load_saved(store)?;
        let keys = saved_keys(&self.file, store);
        let mut config = settings::effective(&self.file, &saved, &keys);
        // The model that is loaded stays loaded whatever is saved about it.
        config.llm.model = current.config.llm.model.clone();
        let worker = current.chat_model().cloned();
        self.install(build(config, &saved, worker, current.llm_status.clone()));
        Ok(())
    }

    /// Validates and saves the dashboard's settings (keys sealed), then puts
    /// them to work at once.
    pub fn save(&self, store: &Store, update: AiUpdate) -> Result<(), RuntimeError> {
        let checked = settings::check(update).map_err(RuntimeError::Invalid)?;
        let _changing = lock(&self.changing);
        let sealed_openai = self.sealed(OPENAI_KEY, &checked.openai_key)?;
        let sealed_gemini = self.sealed(GEMINI_KEY, &checked.gemini_key)?;
        let mut saved = load_saved(store)?;
        saved.form = Some(checked.form);
        let json =
            serde_json::to_string(&saved).map_err(|e| RuntimeError::Corrupt(e.to_string()))?;
        store.write(|tx| {
            let now = now_utc();
            rows::save_settings(tx, &json, &now)?;
            for (name, change, sealed) in [
                (OPENAI_KEY, &checked.openai_key, sealed_openai),
                (GEMINI_KEY, &checked.gemini_key, sealed_gemini),
            ] {
                match (change, sealed) {
                    (KeyChange::Replace(_), Some(row)) => rows::put_secret(tx, &row, &now)?,
                    (KeyChange::Remove, _) => {
                        rows::delete_secret(tx, name)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        })?;
        tracing::info!("saved the AI settings from the dashboard; they apply from the next turn");
        self.rebuild(store)
    }

    /// The row for a key being replaced, sealed under the key file.
    fn sealed(&self, name: &str, change: &KeyChange) -> Result<Option<SecretRow>, RuntimeError> {
        let KeyChange::Replace(key) = change else {
            return Ok(None);
        };
        let secrets = SecretBox::open_or_create(&self.file.secret_key_path())?;
        let Sealed { nonce, ciphertext } = secrets.seal(name, key)?;
        Ok(Some(SecretRow {
            name: name.to_string(),
            nonce,
            ciphertext,
            hint: crate::secrets::hint(key),
        }))
    }

    /// Loads model `id` (or none) and swaps it in; the model that ran keeps
    /// running when the new one fails. Remembered across restarts.
    pub fn switch_model(&self, store: &Store, id: Option<&str>) -> Result<(), RuntimeError> {
        let _loading = self.start_loading(id.unwrap_or("(none)"))?;
        let loaded = match id {
            Some(id) => {
                let mut config = self.current().config.clone();
                config.llm.model = Some(id.to_string());
                let (worker, info) = load_chat_model(&config, id)?;
                Some((worker, info))
            }
            None => None,
        };
        let _changing = lock(&self.changing);
        let mut saved = load_saved(store)?;
        saved.local = Some(LocalChoice {
            id: id.map(str::to_string),
        });
        let json =
            serde_json::to_string(&saved).map_err(|e| RuntimeError::Corrupt(e.to_string()))?;
        store.write(|tx| rows::save_settings(tx, &json, &now_utc()))?;
        let keys = saved_keys(&self.file, store);
        let config = settings::effective(&self.file, &saved, &keys);
        let (worker, status) = match loaded {
            Some((worker, info)) => (Some(worker), LlmStatus::Loaded(info)),
            None => (None, LlmStatus::NotConfigured),
        };
        self.install(build(config, &saved, worker, status));
        tracing::info!(
            model = id.unwrap_or("none"),
            "switched the local chat model"
        );
        // The old worker's thread ends once the last turn holding it lets go.
        Ok(())
    }

    fn start_loading(&self, id: &str) -> Result<LoadingGuard<'_>, RuntimeError> {
        let mut loading = lock(&self.loading);
        if let Some(busy) = loading.as_ref() {
            return Err(RuntimeError::Busy(busy.clone()));
        }
        *loading = Some(id.to_string());
        Ok(LoadingGuard(&self.loading))
    }

    /// The model being loaded now, if any.
    pub fn loading(&self) -> Option<String> {
        lock(&self.loading).clone()
    }

    /// The set-up for a test turn: the one running, or one capped at `tier`.
    pub fn for_test(&self, tier: Option<TierSetting>) -> Arc<Running> {
        let current = self.current();
        let Some(tier) = tier else {
            return current;
        };
        let mut config = current.config.clone();
        config.tier = tier;
        let mut backends = Backends::build(&config, current.chat_model().cloned());
        backends.routing = current.backends.routing;
        Arc::new(Running {
            config,
            backends,
            llm_status: current.llm_status.clone(),
        })
    }

    /// Everything the AI page shows.
    pub fn view(&self, store: &Store) -> Result<AiView, RuntimeError> {
        let running = self.current();
        let saved = load_saved(store)?;
        let form = saved
            .form
            .clone()
            .unwrap_or_else(|| settings::form_of(&self.file, running.backends.routing));
        let resolution = &running.backends.resolution;
        Ok(AiView {
            tier: TierView {
                setting: form.tier.clone(),
                active: resolution.active.as_str(),
                degraded: resolution.degraded,
                reason: resolution.reason.clone(),
            },
            openai: self.provider_view(store, form.openai.as_ref(), OPENAI_KEY, &running)?,
            gemini: self.provider_view(store, form.gemini.as_ref(), GEMINI_KEY, &running)?,
            routing: RoutingView {
                simple: form.routing.simple,
                complex: form.routing.complex,
                rule: Routing::explain(),
            },
            budgets: BudgetView {
                form: form.budgets,
                spent_this_month_micros: budget::remote_spend_this_month(store)?,
            },
            local: self.local_view(&running),
            saved_from_dashboard: saved.form.is_some(),
        })
    }

    fn provider_view(
        &self,
        store: &Store,
        form: Option<&ProviderForm>,
        secret: &str,
        running: &Running,
    ) -> Result<Option<ProviderView>, RuntimeError> {
        let Some(form) = form else {
            return Ok(None);
        };
        let provider = if secret == OPENAI_KEY {
            "openai"
        } else {
            "gemini"
        };
        let saved = store.read(|c| rows::secret(c, secret))?;
        let file_key = match provider {
            "openai" => self.file.remote.openai.as_ref(),
            _ => self.file.remote.gemini.as_ref(),
        }
        .map(|p| &p.api_key)
        .filter(|k| !k.is_empty());
        let problem = match saved_keys(&self.file, store) {
            keys if provider == "openai" => keys.openai,
            keys => keys.gemini,
        };
        let problem = match problem {
            SavedKey::Unusable(reason) => Some(reason),
            SavedKey::None | SavedKey::Open(_) => None,
        };
        let key = match (saved, file_key) {
            (Some(row), _) => Some(KeyView {
                hint: row.hint,
                source: "dashboard",
                problem,
            }),
            (None, Some(key)) => Some(KeyView {
                hint: crate::secrets::hint(key.expose()),
                source: "config file",
                problem: None,
            }),
            (None, None) => None,
        };
        let live = running
            .backends
            .remote()
            .iter()
            .find(|m| m.guarded.provider() == provider);
        let status = match live.map(|m| m.guarded.last_outcome()) {
            None => "off: not in use (no key, or the settings turn it off)".to_string(),
            Some(None) => "not called yet since it was set up".to_string(),
            Some(Some(Ok(()))) => "ok: the last call succeeded".to_string(),
            Some(Some(Err(error))) => format!("failing: {error}"),
        };
        Ok(Some(ProviderView {
            base_url: form.base_url.clone(),
            fast_model: form.fast_model.clone(),
            strong_model: form.strong_model.clone(),
            key,
            status,
        }))
    }

    fn local_view(&self, running: &Running) -> LocalView {
        let loaded = running
            .chat_model()
            .map(|w| LoadedModel::of(&w.frontend().info));
        let loaded_id = loaded.as_ref().map(|m| m.id.clone());
        let models_dir = running.config.models_dir();
        let installed = match Catalog::builtin() {
            Ok(catalog) => installed_models(
                &ModelManager::new(models_dir.clone(), catalog),
                loaded_id.as_deref(),
            ),
            Err(error) => {
                tracing::warn!(%error, "the built-in model catalog is unreadable");
                Vec::new()
            }
        };
        let status = match &running.llm_status {
            LlmStatus::NotConfigured => "no local model loaded".to_string(),
            LlmStatus::Loaded(info) => format!("{} runs on the {}", info.id, info.device),
            LlmStatus::Failed { model, reason } => format!("{model} did not load: {reason}"),
        };
        LocalView {
            loaded,
            loading: self.loading(),
            status,
            models_dir: models_dir.display().to_string(),
            installed,
        }
    }
}

/// Clears the loading mark however the load ends.
struct LoadingGuard<'a>(&'a Mutex<Option<String>>);

impl Drop for LoadingGuard<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

fn build(
    config: Config,
    saved: &Saved,
    worker: Option<ModelWorker>,
    llm_status: LlmStatus,
) -> Running {
    let mut backends = Backends::build(&config, worker);
    if let Some(form) = &saved.form {
        backends.routing = form.routing;
    }
    Running {
        config,
        backends,
        llm_status,
    }
}

/// The configuration the AI set-up would run on, as `AiRuntime::start`
/// computes it (the file's, with the dashboard's saved tier, model, providers
/// and keys over it), without loading or starting anything.
pub fn effective_config(file: &Config, store: &Store) -> Config {
    settings::effective(file, &saved_or_default(store), &saved_keys(file, store))
}

fn saved_or_default(store: &Store) -> Saved {
    load_saved(store).unwrap_or_else(|error| {
        tracing::error!(%error, "ignoring the saved AI settings");
        Saved::default()
    })
}

fn load_saved(store: &Store) -> Result<Saved, RuntimeError> {
    match store.read(rows::settings)? {
        None => Ok(Saved::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| RuntimeError::Corrupt(e.to_string())),
    }
}

/// The keys saved from the dashboard, opened; a key that cannot be opened
/// is logged (by name) and left out, so the shop runs on the tier below.
fn saved_keys(file: &Config, store: &Store) -> SavedKeys {
    let open = |name: &str| -> Result<SavedKey, RuntimeError> {
        let Some(row) = store.read(|c| rows::secret(c, name))? else {
            return Ok(SavedKey::None);
        };
        let secrets = SecretBox::open_existing(&file.secret_key_path())?;
        let sealed = Sealed {
            nonce: row.nonce,
            ciphertext: row.ciphertext,
        };
        Ok(SavedKey::Open(Secret::new(secrets.open(name, &sealed)?)))
    };
    let opened = |name: &str| {
        open(name).unwrap_or_else(|error| {
            tracing::error!(secret = name, %error, "a saved API key cannot be used; its provider stays off");
            SavedKey::Unusable(error.to_string())
        })
    };
    SavedKeys {
        openai: opened(OPENAI_KEY),
        gemini: opened(GEMINI_KEY),
    }
}

/// Loads the configured chat model and starts its worker; a model that
/// cannot load is logged and reported by /readyz, and the shop runs on the
/// tier below rather than not at all.
pub fn start_chat_model(config: &Config) -> (Option<ModelWorker>, LlmStatus) {
    let Some(id) = config.llm.model.clone() else {
        return (None, LlmStatus::NotConfigured);
    };
    match load_chat_model(config, &id) {
        Ok((worker, info)) => (Some(worker), LlmStatus::Loaded(info)),
        Err(error) => {
            let reason = error.to_string();
            tracing::error!(model = %id, %reason, "the local model did not load; running without it");
            (None, LlmStatus::Failed { model: id, reason })
        }
    }
}

/// Loads chat model `id` with `config`'s limits and starts its worker.
pub fn load_chat_model(
    config: &Config,
    id: &str,
) -> Result<(ModelWorker, ModelInfo), RuntimeError> {
    let path =
        crate::llm::locate_model(&config.models_dir(), id).map_err(RuntimeError::NotInstalled)?;
    crate::llm::cpu::pool::configure(config.llm.threads);
    let options = LoadOptions {
        id: id.to_string(),
        context: config.llm.context,
        max_memory_mb: config.llm.max_memory_mb,
        fallback_tier: "free",
        kernels: Kernels::Fast,
    };
    let engine = crate::llm::local::load(&path, &options)
        .map_err(|error| RuntimeError::LoadFailed(error.to_string()))?;
    let info = engine.info().clone();
    let worker = ModelWorker::start(engine, config.llm.queue).map_err(|error| {
        RuntimeError::LoadFailed(format!("cannot start the model worker thread: {error}"))
    })?;
    Ok((worker, info))
}

fn installed_models(manager: &ModelManager, loaded: Option<&str>) -> Vec<InstalledModel> {
    let listing = manager.list();
    let catalog = listing
        .models
        .iter()
        .filter(|s| s.installed && s.model.kind == Kind::Chat)
        .map(|s| InstalledModel {
            id: s.model.id.clone(),
            size: s.model.size.to_string(),
            ram_mb: Some(s.model.ram_mb),
            description: s.model.description.clone(),
            loaded: loaded == Some(s.model.id.as_str()),
        });
    let extra = listing.extra.iter().map(|file| InstalledModel {
        id: file.name.clone(),
        size: human_bytes(file.size),
        ram_mb: None,
        description: "a GGUF file not in the model catalog".to_string(),
        loaded: loaded == Some(file.name.as_str()),
    });
    catalog.chain(extra).collect()
}

/// What a test turn answered and what it cost.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsoleReply {
    pub reply: String,
    /// free, starter, professional or enterprise: what answered.
    pub tier: &'static str,
    pub model: Option<String>,
    #[schema(value_type = Object)]
    pub usage: Usage,
    pub latency_ms: u64,
    /// The tools the turn called (they acted on a sandbox cart, since deleted).
    pub tools: Vec<String>,
    pub products: usize,
}

/// Runs one turn for the test console in a sandbox: a fresh guest session
/// and conversation, deleted (with the cart the turn may have filled)
/// straight after. No answer cache, so a model really answers.
pub fn console_turn(
    store: &Store,
    config: &Config,
    services: Services<'_>,
    message: &str,
) -> Result<ConsoleReply, AssistantError> {
    let sandbox = shopper::resolve(store, None, SANDBOX_TTL)
        .map_err(|error| AssistantError::Tool(error.to_string()))?
        .shopper;
    let assistant = Assistant::new(
        store,
        config,
        Services {
            answers: None,
            ..services
        },
    );
    let started = Instant::now();
    let outcome = assistant.turn(sandbox, None, message, &mut |_| {});
    let latency_ms = started.elapsed().as_millis() as u64;
    let cleanup = |conversation: Option<&str>| {
        store.write(|tx| {
            if let Some(id) = conversation {
                conversations::delete(tx, id)?;
            }
            sessions::delete(tx, sandbox.session_id)
        })
    };
    let reply = match outcome {
        Ok(reply) => reply,
        Err(error) => {
            cleanup(None)?;
            return Err(error);
        }
    };
    cleanup(Some(&reply.conversation_id))?;
    Ok(ConsoleReply {
        reply: reply.reply,
        tier: reply.tier,
        model: reply.model,
        usage: reply.usage,
        latency_ms,
        tools: reply.actions.into_iter().map(|a| a.tool).collect(),
        products: reply.products.len(),
    })
}

// ---- the dashboard's view ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiView {
    pub tier: TierView,
    pub openai: Option<ProviderView>,
    pub gemini: Option<ProviderView>,
    pub routing: RoutingView,
    pub budgets: BudgetView,
    pub local: LocalView,
    /// Whether the dashboard saved settings (else the config file's apply).
    pub saved_from_dashboard: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierView {
    /// What is asked for: auto, free, starter, professional or enterprise.
    pub setting: String,
    /// The tier serving now.
    pub active: &'static str,
    pub degraded: bool,
    /// Why that tier serves (as /readyz says).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// The key's prefix and last four characters, such as sk-…abcd.
    pub hint: String,
    /// "dashboard" (sealed in the database) or "config file".
    pub source: &'static str,
    /// Why a saved key cannot be used (its provider is off until it is saved again).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    pub base_url: String,
    pub fast_model: String,
    pub strong_model: String,
    /// `null` when no key is saved.
    pub key: Option<KeyView>,
    /// How the latest call went.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingView {
    pub simple: super::router::ModelSize,
    pub complex: super::router::ModelSize,
    /// What makes a turn complex.
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    #[serde(flatten)]
    pub form: BudgetForm,
    /// Remote spend of this UTC month so far, in micro-units.
    pub spent_this_month_micros: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoadedModel {
    pub id: String,
    pub device: String,
    pub context: usize,
    pub file_bytes: u64,
    pub load_ms: u64,
    /// The tier this model gives.
    pub tier: &'static str,
}

impl LoadedModel {
    fn of(info: &ModelInfo) -> LoadedModel {
        LoadedModel {
            id: info.id.clone(),
            device: info.device.clone(),
            context: info.context,
            file_bytes: info.file_bytes,
            load_ms: info.load_ms,
            tier: super::router::local_tier(info).as_str(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstalledModel {
    pub id: String,
    pub size: String,
    pub ram_mb: Option<u32>,
    pub description: String,
    pub loaded: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LocalView {
    pub loaded: Option<LoadedModel>,
    /// The model being loaded now, if one is.
    pub loading: Option<String>,
    pub status: String,
    pub models_dir: String,
    /// The chat models installed (what `shopkeep models list` shows as installed).
    pub installed: Vec<InstalledModel>,
}

/// The tier a console request names; `None` for a name that is no tier.
pub fn console_tier(name: &str) -> Option<TierSetting> {
    Tier::parse(name).and_then(|tier| settings::parse_tier(tier.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn runtime(data_dir: &std::path::Path) -> (AiRuntime, Store) {
        let mut config = Config::from_sources(&Overrides::default(), &[]).unwrap();
        config.data_dir = data_dir.to_path_buf();
        let store = Store::open(&config.database_path(), &Default::default()).unwrap();
        (AiRuntime::start(&config, &store), store)
    }

    fn update(key: serde_json::Value) -> AiUpdate {
        serde_json::from_value(serde_json::json!({
            "tier": "auto",
            "openai": {"base_url": "http://127.0.0.1:9/v1", "fast_model": "f", "strong_model": "s", "api_key": key},
            "gemini": null,
            "routing": {"simple": "strong", "complex": "strong"},
            "budgets": {
                "guest": {"daily": 10, "monthly": 100},
                "registered": {"daily": 10, "monthly": 100},
                "premium": {"daily": 10, "monthly": 100},
                "monthly_spend_cap_micros": 1_000_000
            }
        }))
        .unwrap()
    }

    #[test]
    fn saving_swaps_the_backends_in_and_keeps_the_key_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let (runtime, store) = runtime(dir.path());
        let before = runtime.current();
        assert_eq!(before.backends.tier(), Tier::Free);
        runtime
            .save(&store, update(serde_json::json!("sk-secret-value-9876")))
            .unwrap();
        let after = runtime.current();
        assert_eq!(after.backends.tier(), Tier::Enterprise);
        assert_eq!(
            after.backends.routing.simple,
            super::super::router::ModelSize::Strong
        );
        assert_eq!(after.backends.budgets.spend_cap_micros(), 1_000_000);
        assert_eq!(
            before.backends.tier(),
            Tier::Free,
            "a held set-up does not change"
        );
        let row = store
            .read(|c| rows::secret(c, OPENAI_KEY))
            .unwrap()
            .unwrap();
        assert_eq!(row.hint, "sk-…9876");
        assert!(dir.path().join("secret.key").is_file());
        // Left out: kept. Null: removed.
        runtime
            .save(&store, update(serde_json::Value::Null))
            .unwrap();
        assert!(
            store
                .read(|c| rows::secret(c, OPENAI_KEY))
                .unwrap()
                .is_none()
        );
        let view = runtime.view(&store).unwrap();
        assert!(view.openai.unwrap().key.is_none());
    }

    #[test]
    fn a_key_saved_under_another_key_file_is_left_out_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (runtime, store) = runtime(dir.path());
        runtime
            .save(&store, update(serde_json::json!("sk-secret-value-9876")))
            .unwrap();
        std::fs::remove_file(dir.path().join("secret.key")).unwrap();
        std::fs::write(dir.path().join("secret.key"), [9u8; 32]).unwrap();
        let again = AiRuntime::start(&runtime.file, &store);
        assert!(
            again.current().config.remote.openai.is_none(),
            "off without its key"
        );
        assert_eq!(again.current().backends.tier(), Tier::Free);
        let view = again.view(&store).unwrap();
        let problem = view.openai.unwrap().key.unwrap().problem.unwrap();
        assert!(problem.contains("cannot be decrypted"), "{problem}");
    }

    #[test]
    fn an_unknown_model_leaves_the_running_one() {
        let dir = tempfile::tempdir().unwrap();
        let (runtime, store) = runtime(dir.path());
        let error = runtime
            .switch_model(&store, Some("no-such-model"))
            .unwrap_err();
        assert!(matches!(error, RuntimeError::NotInstalled(_)), "{error}");
        assert!(runtime.loading().is_none(), "the busy mark is cleared");
        assert!(runtime.current().chat_model().is_none());
        assert!(
            store.read(rows::settings).unwrap().is_none(),
            "nothing saved"
        );
    }
}
