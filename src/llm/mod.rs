//! Language models: local GGUF inference with candle, the model catalog and
//! manager, tokenizers and chat templates built from GGUF metadata, sampling
//! and JSON-schema constrained output.
//!
//! This module owns model files and inference. It must not touch the store,
//! the web layer or commerce: callers hand it prompts and get tokens back.

pub mod tokenizer;
