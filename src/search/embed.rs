//! Sentence embeddings with all-MiniLM-L6-v2 through candle's BERT, on the CPU.
//!
//! Texts are tokenized as a batch (padded to the longest), run through the
//! encoder, mean-pooled over real tokens and L2-normalised, so a dot product of
//! two vectors is their cosine similarity. Loading reads the safetensors file
//! memory-mapped; a missing or broken model directory is an error the caller
//! turns into keyword-only search.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The folder name of the model inside the models directory.
pub const MODEL_NAME: &str = "all-minilm-l6-v2";
/// Longest text, in tokens, that is embedded; longer texts are truncated.
const MAX_TOKENS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model not found in {0} (run `sh models/fetch.sh` to install it)")]
    Missing(PathBuf),
    #[error("embedding model in {path} is unusable: {reason}")]
    Broken { path: PathBuf, reason: String },
    #[error("embedding failed: {0}")]
    Compute(String),
}

pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
}

impl Embedder {
    /// Loads the model from `models_dir/all-minilm-l6-v2`.
    pub fn load(models_dir: &Path) -> Result<Embedder, EmbedError> {
        let dir = models_dir.join(MODEL_NAME);
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(EmbedError::Missing(dir));
        }
        let broken = |reason: String| EmbedError::Broken {
            path: dir.clone(),
            reason,
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| broken(format!("config.json: {e}")))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| broken(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| broken(format!("tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| broken(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let device = Device::Cpu;
        // The file is mapped read-only and not modified while mapped.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| broken(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| broken(format!("weights do not fit BERT: {e}")))?;
        Ok(Embedder {
            model,
            tokenizer,
            device,
            dims: config.hidden_size,
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn name(&self) -> &'static str {
        MODEL_NAME
    }

    /// One normalised vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_with_usage(texts).map(|(vectors, _)| vectors)
    }

    /// The vectors and how many tokens the texts came to (after truncation).
    pub fn embed_with_usage(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, usize), EmbedError> {
        if texts.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let compute = |e: &dyn std::fmt::Display| EmbedError::Compute(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| compute(&e))?;
        let width = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(texts.len() * width);
        let mut mask = Vec::with_capacity(texts.len() * width);
        let tokens: usize = encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count())
            .sum();
        for encoding in &encodings {
            ids.extend(encoding.get_ids().iter().map(|&id| id as i64));
            mask.extend(encoding.get_attention_mask().iter().map(|&m| m as i64));
        }
        let shape = (texts.len(), width);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(|e| compute(&e))?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(|e| compute(&e))?;
        let token_types = ids.zeros_like().map_err(|e| compute(&e))?;
        let pooled = (|| -> candle_core::Result<Tensor> {
            let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
            let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
            let counts = weights.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norms)
        })()
        .map_err(|e| compute(&e))?;
        let vectors = pooled.to_vec2::<f32>().map_err(|e| compute(&e))?;
        Ok((vectors, tokens))
    }
}
