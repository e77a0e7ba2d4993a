//! Language models: local GGUF inference with candle, the model catalog and
//! manager, tokenizers and chat templates built from GGUF metadata, sampling
//! and JSON-schema constrained output; remote model APIs (OpenAI-compatible
//! and Gemini) behind circuit breakers and rate limits, and their price table.
//!
//! This module owns model files, inference and the remote wire formats. It must not touch the store,
//! the web layer or commerce: callers hand it prompts and get tokens back.

pub mod catalog;
pub mod cli;
pub mod cpu;
pub mod grammar;
pub mod local;
pub mod manager;
pub mod pricing;
pub mod remote;
pub mod sampler;
pub mod stream;
pub mod template;
pub mod tokenizer;
pub mod transformer;
pub mod worker;

pub use catalog::{Catalog, CatalogModel};
pub use manager::ModelManager;

use std::fmt;

/// The model architectures the local engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Qwen2,
    Gemma3,
    Llama,
}

impl Family {
    /// From a GGUF file's `general.architecture`.
    pub fn from_architecture(architecture: &str) -> Option<Family> {
        match architecture {
            "qwen2" => Some(Family::Qwen2),
            "gemma3" => Some(Family::Gemma3),
            "llama" => Some(Family::Llama),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Qwen2 => "qwen2",
            Family::Gemma3 => "gemma3",
            Family::Llama => "llama",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The GGUF file for a chat model id: an installed model of the catalog, or
/// a GGUF file name (or path) in the models directory.
pub fn locate_model(models_dir: &std::path::Path, id: &str) -> Result<std::path::PathBuf, String> {
    if let Ok(catalog) = Catalog::builtin()
        && catalog.get(id).is_some()
    {
        let manager = ModelManager::new(models_dir.to_path_buf(), catalog);
        return manager.path_of(id).filter(|p| p.is_file()).ok_or_else(|| {
            format!(
                "model {id:?} is not installed in {} (shopkeep models pull {id})",
                models_dir.display()
            )
        });
    }
    let direct = models_dir.join(id);
    if direct.is_file() {
        return Ok(direct);
    }
    let with_extension = models_dir.join(format!("{id}.gguf"));
    if with_extension.is_file() {
        return Ok(with_extension);
    }
    Err(format!(
        "model {id:?} is neither in the model catalog nor a file in {} (see shopkeep models list)",
        models_dir.display()
    ))
}
