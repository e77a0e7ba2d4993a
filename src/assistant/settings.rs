//! The AI settings an admin saves from the dashboard: the tier, the remote
//! providers (their keys sealed by `secrets`), routing, budgets and the local
//! model, and how they override the config file.
//!
//! Owns validation and the merge onto [`Config`]; the rows are `store::ai_settings`'s,
//! sealing is `secrets`', and putting the result to work is `runtime`'s. It must
//! not know about HTTP, and never returns or logs a key: only its hint.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::router::Routing;
use crate::catalog::FieldError;
use crate::config::{Config, ProviderSettings, Secret, TierSetting, TokenBudget};
use crate::llm::remote::GEMINI_BASE_URL;

/// The secret names of the providers' API keys (also their config keys).
pub const OPENAI_KEY: &str = "remote.openai_api_key";
pub const GEMINI_KEY: &str = "remote.gemini_api_key";
/// Longest model name or key accepted.
const MAX_NAME_CHARS: usize = 200;
const MAX_KEY_CHARS: usize = 1000;
/// Budgets above this are typos, not budgets.
const MAX_TOKENS: u64 = 1_000_000_000_000;

/// One remote provider as saved (its key is kept apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderForm {
    /// The API's base URL; for Gemini, empty means Google's.
    #[serde(default)]
    pub base_url: String,
    pub fast_model: String,
    pub strong_model: String,
}

/// A provider in a PUT: its settings, and what to do with its key.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    /// The API's base URL; for Gemini, empty means Google's.
    #[serde(default)]
    pub base_url: String,
    pub fast_model: String,
    pub strong_model: String,
    /// Absent: keep the saved key. `null`: remove it. A string: replace it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
}

/// Tokens per shopper class per UTC day and month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassBudget {
    pub daily: u64,
    pub monthly: u64,
}

impl From<TokenBudget> for ClassBudget {
    fn from(budget: TokenBudget) -> Self {
        ClassBudget {
            daily: budget.daily,
            monthly: budget.monthly,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetForm {
    pub guest: ClassBudget,
    pub registered: ClassBudget,
    pub premium: ClassBudget,
    /// Remote spend allowed per month, in micro-units of the shop currency.
    pub monthly_spend_cap_micros: u64,
}

/// Everything the AI page saves except the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiForm {
    pub tier: String,
    pub openai: Option<ProviderForm>,
    pub gemini: Option<ProviderForm>,
    pub routing: Routing,
    pub budgets: BudgetForm,
}

/// `PUT /api/v1/admin/ai`: the whole form; a provider that is `null` is off.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiUpdate {
    /// auto, free, starter, professional or enterprise.
    pub tier: String,
    pub openai: Option<ProviderUpdate>,
    pub gemini: Option<ProviderUpdate>,
    pub routing: Routing,
    pub budgets: BudgetForm,
}

/// The local model chosen from the dashboard; `id: None` runs without one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalChoice {
    pub id: Option<String>,
}

/// What the dashboard saved; each part absent until first saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    #[serde(default)]
    pub form: Option<AiForm>,
    #[serde(default)]
    pub local: Option<LocalChoice>,
}

/// A key saved from the dashboard, as far as it could be opened.
#[derive(Debug, Clone, Default)]
pub enum SavedKey {
    #[default]
    None,
    Open(Secret),
    /// Saved but not openable (another key file, an altered row): the
    /// provider stays off rather than being called without its key.
    Unusable(String),
}

/// The keys saved from the dashboard.
#[derive(Debug, Clone, Default)]
pub struct SavedKeys {
    pub openai: SavedKey,
    pub gemini: SavedKey,
}

impl SavedKey {
    /// The key to use: the saved one, else the config file's; `Err` when
    /// the saved one cannot be used.
    fn or_file(&self, file: Option<Secret>) -> Result<Option<Secret>, ()> {
        match self {
            SavedKey::Open(key) => Ok(Some(key.clone())),
            SavedKey::None => Ok(file),
            SavedKey::Unusable(_) => Err(()),
        }
    }
}

/// What to do with one secret when saving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Keep,
    Remove,
    Replace(String),
}

/// A validated update: the form to save and the key changes.
#[derive(Debug, Clone)]
pub struct Checked {
    pub form: AiForm,
    pub openai_key: KeyChange,
    pub gemini_key: KeyChange,
}

/// `Some(value)` for a field that is present, even as `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub fn parse_tier(name: &str) -> Option<TierSetting> {
    [
        TierSetting::Auto,
        TierSetting::Free,
        TierSetting::Starter,
        TierSetting::Professional,
        TierSetting::Enterprise,
    ]
    .into_iter()
    .find(|t| t.as_str() == name.trim())
}

/// Checks an update; every problem is reported, each with its field.
pub fn check(update: AiUpdate) -> Result<Checked, Vec<FieldError>> {
    let mut errors = Vec::new();
    if parse_tier(&update.tier).is_none() {
        errors.push(FieldError::new(
            "tier",
            "expected auto, free, starter, professional or enterprise",
        ));
    }
    let openai = update
        .openai
        .map(|p| check_provider("openai", p, true, &mut errors));
    let gemini = update
        .gemini
        .map(|p| check_provider("gemini", p, false, &mut errors));
    check_budgets(&update.budgets, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let (openai, openai_key) = split(openai);
    let (gemini, gemini_key) = split(gemini);
    Ok(Checked {
        form: AiForm {
            tier: update.tier.trim().to_string(),
            openai,
            gemini,
            routing: update.routing,
            budgets: update.budgets,
        },
        openai_key,
        gemini_key,
    })
}

fn split(checked: Option<(ProviderForm, KeyChange)>) -> (Option<ProviderForm>, KeyChange) {
    match checked {
        Some((form, key)) => (Some(form), key),
        None => (None, KeyChange::Keep),
    }
}

fn check_provider(
    name: &str,
    update: ProviderUpdate,
    url_required: bool,
    errors: &mut Vec<FieldError>,
) -> (ProviderForm, KeyChange) {
    let field = |f: &str| format!("{name}.{f}");
    let raw_url = update.base_url.trim();
    let base_url = if raw_url.is_empty() && !url_required {
        String::new()
    } else {
        crate::config::http_url(raw_url).unwrap_or_else(|reason| {
            errors.push(FieldError::new(field("base_url"), reason));
            String::new()
        })
    };
    let mut model = |f: &str, value: &str| {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > MAX_NAME_CHARS || value.contains('/') {
            errors.push(FieldError::new(
                field(f),
                "a model name of 1 to 200 characters, without '/'",
            ));
        }
        value.to_string()
    };
    let fast_model = model("fast_model", &update.fast_model);
    let strong_model = model("strong_model", &update.strong_model);
    let key = match update.api_key {
        None => KeyChange::Keep,
        Some(None) => KeyChange::Remove,
        Some(Some(key)) => {
            let key = key.trim().to_string();
            let printable = key.chars().all(|c| c.is_ascii_graphic());
            if key.is_empty() || key.len() > MAX_KEY_CHARS || !printable {
                errors.push(FieldError::new(
                    field("api_key"),
                    "an API key of printable characters without spaces (leave it out to keep the saved one)",
                ));
            }
            KeyChange::Replace(key)
        }
    };
    (
        ProviderForm {
            base_url,
            fast_model,
            strong_model,
        },
        key,
    )
}

fn check_budgets(budgets: &BudgetForm, errors: &mut Vec<FieldError>) {
    let classes = [
        ("guest", budgets.guest),
        ("registered", budgets.registered),
        ("premium", budgets.premium),
    ];
    for (class, budget) in classes {
        for (period, tokens) in [("daily", budget.daily), ("monthly", budget.monthly)] {
            if tokens > MAX_TOKENS {
                errors.push(FieldError::new(
                    format!("budgets.{class}.{period}"),
                    "at most 1000000000000 tokens",
                ));
            }
        }
        if budget.daily > budget.monthly {
            errors.push(FieldError::new(
                format!("budgets.{class}.daily"),
                "a day's budget cannot be more than the month's",
            ));
        }
    }
    if budgets.monthly_spend_cap_micros > MAX_TOKENS * 1_000 {
        errors.push(FieldError::new(
            "budgets.monthly_spend_cap_micros",
            "too large to be a spend cap",
        ));
    }
}

/// The form as the config file alone sets it, for a shop that saved none.
pub fn form_of(config: &Config, routing: Routing) -> AiForm {
    let provider = |p: &ProviderSettings| ProviderForm {
        base_url: p.base_url.clone(),
        fast_model: p.fast_model.clone(),
        strong_model: p.strong_model.clone(),
    };
    AiForm {
        tier: config.tier.as_str().to_string(),
        openai: config.remote.openai.as_ref().map(provider),
        gemini: config.remote.gemini.as_ref().map(provider),
        routing,
        budgets: BudgetForm {
            guest: config.budgets.guest.into(),
            registered: config.budgets.registered.into(),
            premium: config.budgets.premium.into(),
            monthly_spend_cap_micros: config.budgets.monthly_spend_cap_micros,
        },
    }
}

/// The configuration the shop runs on: the file's, with what the dashboard
/// saved in its place. A saved provider without a saved key uses the config
/// file's key for it, if any.
pub fn effective(file: &Config, saved: &Saved, keys: &SavedKeys) -> Config {
    let mut config = file.clone();
    if let Some(local) = &saved.local {
        config.llm.model = local.id.clone();
    }
    let Some(form) = &saved.form else {
        return config;
    };
    config.tier = parse_tier(&form.tier).unwrap_or(file.tier);
    let file_key = |p: &Option<ProviderSettings>| p.as_ref().map(|p| p.api_key.clone());
    config.remote.openai = form.openai.as_ref().and_then(|p| {
        let key = keys.openai.or_file(file_key(&file.remote.openai)).ok()?;
        Some(provider_settings(p, None, key.unwrap_or_default()))
    });
    config.remote.gemini = form.gemini.as_ref().and_then(|p| {
        let key = keys.gemini.or_file(file_key(&file.remote.gemini)).ok()??;
        // Gemini is only on with a key: it has no keyless deployments.
        (!key.is_empty()).then(|| provider_settings(p, Some(GEMINI_BASE_URL), key))
    });
    let budgets = &mut config.budgets;
    budgets.guest = token_budget(form.budgets.guest);
    budgets.registered = token_budget(form.budgets.registered);
    budgets.premium = token_budget(form.budgets.premium);
    budgets.monthly_spend_cap_micros = form.budgets.monthly_spend_cap_micros;
    config
}

fn provider_settings(
    form: &ProviderForm,
    default_url: Option<&str>,
    key: Secret,
) -> ProviderSettings {
    let base_url = match (form.base_url.is_empty(), default_url) {
        (true, Some(url)) => url.to_string(),
        _ => form.base_url.clone(),
    };
    ProviderSettings {
        base_url,
        api_key: key,
        fast_model: form.fast_model.clone(),
        strong_model: form.strong_model.clone(),
    }
}

fn token_budget(budget: ClassBudget) -> TokenBudget {
    TokenBudget {
        daily: budget.daily,
        monthly: budget.monthly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn file_config() -> Config {
        Config::from_sources(&Overrides::default(), &[]).unwrap()
    }

    fn update(json: serde_json::Value) -> AiUpdate {
        serde_json::from_value(json).unwrap()
    }

    fn budgets() -> serde_json::Value {
        serde_json::json!({
            "guest": {"daily": 100, "monthly": 1000},
            "registered": {"daily": 200, "monthly": 2000},
            "premium": {"daily": 300, "monthly": 3000},
            "monthly_spend_cap_micros": 5_000_000
        })
    }

    #[test]
    fn a_key_left_out_is_kept_null_removes_and_a_string_replaces() {
        let checked = check(update(serde_json::json!({
            "tier": "enterprise",
            "openai": {"base_url": "http://127.0.0.1:9/v1", "fast_model": "f", "strong_model": "s"},
            "gemini": {"fast_model": "gf", "strong_model": "gs", "api_key": null},
            "routing": {"simple": "fast", "complex": "strong"},
            "budgets": budgets()
        })))
        .unwrap();
        assert_eq!(checked.openai_key, KeyChange::Keep);
        assert_eq!(checked.gemini_key, KeyChange::Remove);
        let replaced = check(update(serde_json::json!({
            "tier": "auto", "openai": null,
            "gemini": {"fast_model": "gf", "strong_model": "gs", "api_key": " AIza-key-1234 "},
            "routing": {"simple": "strong", "complex": "strong"},
            "budgets": budgets()
        })))
        .unwrap();
        assert_eq!(
            replaced.gemini_key,
            KeyChange::Replace("AIza-key-1234".into())
        );
        assert_eq!(replaced.form.openai, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad_budgets = budgets();
        bad_budgets["guest"]["daily"] = serde_json::json!(5000);
        let errors = check(update(serde_json::json!({
            "tier": "platinum",
            "openai": {"base_url": "ftp://x", "fast_model": "", "strong_model": "a/b", "api_key": "has space"},
            "gemini": null,
            "routing": {"simple": "fast", "complex": "strong"},
            "budgets": bad_budgets
        })))
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tier",
                "openai.base_url",
                "openai.fast_model",
                "openai.strong_model",
                "openai.api_key",
                "budgets.guest.daily"
            ]
        );
        assert!(errors.iter().all(|e| !e.reason.contains("has space")));
    }

    #[test]
    fn saved_settings_override_the_file_and_keep_its_keys_as_fallback() {
        let mut file = file_config();
        file.remote.openai = Some(ProviderSettings {
            base_url: "http://file/v1".into(),
            api_key: Secret::new("sk-from-file"),
            fast_model: "a".into(),
            strong_model: "b".into(),
        });
        let checked = check(update(serde_json::json!({
            "tier": "starter",
            "openai": {"base_url": "http://saved/v1", "fast_model": "f", "strong_model": "s"},
            "gemini": {"fast_model": "gf", "strong_model": "gs"},
            "routing": {"simple": "fast", "complex": "strong"},
            "budgets": budgets()
        })))
        .unwrap();
        let saved = Saved {
            form: Some(checked.form),
            local: Some(LocalChoice { id: None }),
        };
        let without_keys = effective(&file, &saved, &SavedKeys::default());
        assert_eq!(without_keys.tier, TierSetting::Starter);
        let openai = without_keys.remote.openai.clone().unwrap();
        assert_eq!(openai.base_url, "http://saved/v1");
        assert_eq!(openai.api_key.expose(), "sk-from-file");
        assert_eq!(without_keys.remote.gemini, None, "Gemini needs a key");
        assert_eq!(without_keys.budgets.registered.monthly, 2000);
        assert_eq!(without_keys.budgets.monthly_spend_cap_micros, 5_000_000);
        assert_eq!(without_keys.llm.model, None);
        let keys = SavedKeys {
            openai: SavedKey::Open(Secret::new("sk-saved")),
            gemini: SavedKey::Open(Secret::new("AIza-saved")),
        };
        let with_keys = effective(&file, &saved, &keys);
        let gemini = with_keys.remote.gemini.unwrap();
        assert_eq!(gemini.base_url, GEMINI_BASE_URL);
        assert_eq!(
            with_keys.remote.openai.unwrap().api_key.expose(),
            "sk-saved"
        );
        let unusable = SavedKeys {
            openai: SavedKey::Unusable("another key file".into()),
            gemini: SavedKey::None,
        };
        let off = effective(&file, &saved, &unusable);
        assert_eq!(off.remote.openai, None, "never called without its key");
    }

    #[test]
    fn nothing_saved_is_the_file_itself() {
        let file = file_config();
        let config = effective(&file, &Saved::default(), &SavedKeys::default());
        assert_eq!(config.tier, file.tier);
        assert_eq!(config.budgets, file.budgets);
        let form = form_of(&file, Routing::default());
        assert_eq!(form.tier, "auto");
        assert_eq!(form.openai, None);
    }
}
