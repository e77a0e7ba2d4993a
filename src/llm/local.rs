//! Local inference: a GGUF model loaded with candle-transformers, run on the
//! CPU or a CUDA GPU, with a cache of prompt prefixes and a generation loop
//! that samples, streams, stops and follows a JSON grammar.
//!
//! A model is split in two: the [`Frontend`] (tokenizer, chat template, facts
//! about the model) is shared with request handlers, which render and
//! tokenize prompts on their own threads; the [`Engine`] (weights and caches)
//! belongs to the one worker thread that runs the model. Nothing here knows
//! about HTTP, the store or the shop.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use candle_core::Device;
use candle_core::quantized::gguf_file;

use super::Family;
use super::grammar::{JsonGrammar, JsonMatcher, TokenTrie};
use super::sampler::{Sampler, SamplingParams};
use super::stream::{Release, TextStream};
use super::template::{ChatTemplate, TOOL_CALL_TAGS};
use super::tokenizer::GgufTokenizer;
use super::transformer::{Hparams, Kernels, KvCache, Transformer};

/// Prompts are run through the model in pieces of at most this many tokens,
/// so the attention scores of a long prompt never need more than a few MB.
const PREFILL_CHUNK: usize = 256;
/// How many prompt prefixes keep their KV cache.
const PREFIX_CACHE_ENTRIES: usize = 4;
/// Small models asked to call a tool often answer with a fenced JSON block
/// instead of their trained tags; at the start of a reply it opens a call too.
const FENCED_JSON: &str = "```json";
/// Samples rejected by the grammar before the full token mask is computed.
const GRAMMAR_REJECTIONS_BEFORE_MASK: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot open model file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable GGUF model: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: architecture `{architecture}` is not supported (qwen2, gemma3 and llama are)")]
    Architecture { path: PathBuf, architecture: String },
    #[error(
        "model {model} needs about {needed_mb} MB of memory at a {context}-token context, but only {available_mb} MB are available{limit}; the shop falls back to the {fallback} tier"
    )]
    TooBig {
        model: String,
        needed_mb: u64,
        available_mb: u64,
        context: usize,
        limit: String,
        fallback: &'static str,
    },
    #[error("could not start the compute device: {0}")]
    Device(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "the prompt has {prompt} tokens; with max_tokens {max_tokens} that exceeds the model's context of {context}"
    )]
    ContextExceeded {
        prompt: usize,
        max_tokens: usize,
        context: usize,
    },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("tokenization failed: {0}")]
    Tokenize(String),
}

impl From<candle_core::Error> for GenerateError {
    fn from(error: candle_core::Error) -> Self {
        GenerateError::Inference(error.to_string())
    }
}

/// Facts about a loaded model, for listings, health and usage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub family: Family,
    pub path: PathBuf,
    pub file_bytes: u64,
    pub context: usize,
    pub layers: usize,
    pub device: String,
    pub load_ms: u64,
    pub estimated_memory_mb: u64,
    /// Bytes of KV cache one token of context takes.
    pub kv_bytes_per_token: u64,
}

/// What request handlers need from a model: the tokenizer and chat template.
pub struct Frontend {
    pub info: ModelInfo,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
    trie: OnceLock<TokenTrie>,
}

impl Frontend {
    /// The token trie for grammar masks, built on first use.
    fn trie(&self) -> &TokenTrie {
        self.trie.get_or_init(|| {
            let tokens = (0..self.tokenizer.vocab_size() as u32)
                .filter(|&id| !self.tokenizer.is_control(id))
                .map(|id| (id, self.tokenizer.token_bytes(id).to_vec()));
            TokenTrie::new(tokens)
        })
    }
}

/// Options for loading a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub id: String,
    /// Tokens of context to plan memory for (capped by what the model supports).
    pub context: usize,
    /// The most memory the model may use, in MB; `None` means what the machine has.
    pub max_memory_mb: Option<u64>,
    /// The tier the shop falls back to when the model cannot load (for the error).
    pub fallback_tier: &'static str,
    /// Whose mat-mul kernels run the model (tests pick the reference).
    pub kernels: Kernels,
}

/// A saved model state after a prompt prefix.
struct CachedPrefix {
    tokens: Vec<u32>,
    cache: KvCache,
    logits: Vec<f32>,
    last_used: Instant,
}

/// The weights and caches of one model; owned by its worker thread.
pub struct Engine {
    frontend: Arc<Frontend>,
    model: Transformer,
    prefixes: Vec<CachedPrefix>,
}

/// Loads a GGUF model file: checks it, checks it fits in memory, builds the
/// tokenizer and template, and reads the weights onto the device.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Engine, LoadError> {
    let started = Instant::now();
    let corrupt = |reason: String| LoadError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| LoadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader).map_err(|e| corrupt(e.to_string()))?;
    check_tensors_inside(&content, file_bytes).map_err(corrupt)?;

    let meta = Metadata(&content);
    let architecture = meta.string("general.architecture").unwrap_or_default();
    let family =
        Family::from_architecture(&architecture).ok_or_else(|| LoadError::Architecture {
            path: path.to_path_buf(),
            architecture: architecture.clone(),
        })?;
    let trained_context = meta
        .uint(&format!("{architecture}.context_length"))
        .unwrap_or(2048);
    let context = options.context.min(trained_context);
    let hparams = Hparams::read(&content, family).map_err(corrupt)?;
    let estimated = estimate_memory_bytes(file_bytes, &hparams, context);
    check_fits(estimated, options, context)?;

    let tokenizer = GgufTokenizer::from_gguf(&content).map_err(|e| corrupt(e.to_string()))?;
    let text_of = |id: Option<u32>| {
        id.map(|id| String::from_utf8_lossy(tokenizer.token_bytes(id)).into_owned())
            .unwrap_or_default()
    };
    let bos = text_of(tokenizer.bos());
    let eos = text_of(Some(tokenizer.eos()));
    let (template, why_builtin) = ChatTemplate::for_model(
        meta.string("tokenizer.chat_template").as_deref(),
        family,
        &bos,
        &eos,
    );
    if let Some(why) = why_builtin {
        tracing::info!(model = %options.id, reason = %why, "using the built-in {family} chat template");
    }

    let device = select_device()?;
    let model = Transformer::load(
        &content,
        &mut reader,
        family,
        context,
        &device,
        options.kernels,
    )
    .map_err(corrupt)?;
    let info = ModelInfo {
        id: options.id.clone(),
        family,
        path: path.to_path_buf(),
        file_bytes,
        context,
        layers: hparams.layers,
        device: device_name(&device),
        load_ms: started.elapsed().as_millis() as u64,
        estimated_memory_mb: estimated / 1_000_000,
        kv_bytes_per_token: hparams.kv_bytes_per_token() as u64,
    };
    tracing::info!(model = %info.id, family = %family, device = %info.device, context, load_ms = info.load_ms, "model loaded");
    Ok(Engine {
        frontend: Arc::new(Frontend {
            info,
            tokenizer,
            template,
            trie: OnceLock::new(),
        }),
        model,
        prefixes: Vec::new(),
    })
}

/// Every tensor's bytes must lie inside the file, or the file is truncated.
fn check_tensors_inside(content: &gguf_file::Content, file_bytes: u64) -> Result<(), String> {
    for (name, info) in &content.tensor_infos {
        let blocks = info.shape.elem_count() / info.ggml_dtype.block_size().max(1);
        let bytes = (blocks * info.ggml_dtype.type_size()) as u64;
        let end = content
            .tensor_data_offset
            .saturating_add(info.offset)
            .saturating_add(bytes);
        if end > file_bytes {
            return Err(format!(
                "tensor {name} ends at byte {end} but the file has {file_bytes} bytes (truncated download?)"
            ));
        }
    }
    Ok(())
}

fn select_device() -> Result<Device, LoadError> {
    #[cfg(feature = "cuda")]
    {
        if candle_core::utils::cuda_is_available() {
            return Device::new_cuda(0).map_err(|e| LoadError::Device(e.to_string()));
        }
        tracing::warn!("built with CUDA but no GPU answered; running on the CPU");
    }
    Ok(Device::Cpu)
}

fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => format!(
            "cpu ({} threads, {} kernels)",
            crate::llm::cpu::pool::global().threads(),
            crate::llm::cpu::quant::Isa::best().name()
        ),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal".into(),
    }
}

/// Typed access to GGUF metadata.
struct Metadata<'a>(&'a gguf_file::Content);

impl Metadata<'_> {
    fn string(&self, key: &str) -> Option<String> {
        self.0.metadata.get(key)?.to_string().ok().cloned()
    }

    fn uint(&self, key: &str) -> Option<usize> {
        let value = self.0.metadata.get(key)?;
        value
            .to_u32()
            .map(|v| v as usize)
            .or_else(|_| value.to_u64().map(|v| v as usize))
            .ok()
    }
}

/// Weights (read into memory), the f32 KV cache for `context` tokens, two
/// prefix snapshots of the same size, and working memory for activations.
fn estimate_memory_bytes(file_bytes: u64, hparams: &Hparams, context: usize) -> u64 {
    let kv = (hparams.kv_bytes_per_token() * context) as u64;
    const WORKING_SET: u64 = 150_000_000;
    file_bytes + 3 * kv + WORKING_SET
}

fn check_fits(needed: u64, options: &LoadOptions, context: usize) -> Result<(), LoadError> {
    let machine = available_memory_bytes();
    let (available, limit) = match (options.max_memory_mb, machine) {
        (Some(cap), Some(free)) => (
            (cap * 1_000_000).min(free),
            format!(" (llm.max_memory_mb = {cap})"),
        ),
        (Some(cap), None) => (cap * 1_000_000, format!(" (llm.max_memory_mb = {cap})")),
        (None, Some(free)) => (free, String::new()),
        (None, None) => return Ok(()),
    };
    if needed > available {
        return Err(LoadError::TooBig {
            model: options.id.clone(),
            needed_mb: needed / 1_000_000,
            available_mb: available / 1_000_000,
            context,
            limit,
            fallback: options.fallback_tier,
        });
    }
    Ok(())
}

/// Memory this process may still take: the kernel's MemAvailable, lowered
/// by a cgroup limit (systemd's MemoryMax) when one is set.
fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut available = available_kb * 1024;
    let read_u64 = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    if let (Some(max), Some(current)) = (
        read_u64("/sys/fs/cgroup/memory.max"),
        read_u64("/sys/fs/cgroup/memory.current"),
    ) {
        available = available.min(max.saturating_sub(current));
    }
    Some(available)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Vec<u32>,
    /// How many leading prompt tokens are shared with other requests (system
    /// prompt, tool definitions): their KV cache is kept for reuse.
    pub shared_prefix: usize,
    pub sampling: SamplingParams,
    pub max_tokens: usize,
    pub stop: Vec<String>,
    pub constraint: Option<Constraint>,
}

/// Output that must follow a JSON schema.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub grammar: JsonGrammar,
    pub mode: ConstraintMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintMode {
    /// The whole reply is one JSON value, streamed as text (response_format).
    Json,
    /// The whole reply is a tool call; the caller ended the prompt with the
    /// opening tag (tool_choice "required" or a named function).
    ToolCall,
    /// The model may answer in prose, or open a tool-call tag, after which
    /// the call must follow the grammar.
    AfterToolTag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCall,
    Cancelled,
}

/// How a generation went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Completion {
    /// Prose the model wrote (without stop strings or a tool call).
    pub text: String,
    /// The JSON of a tool call, when the model made one.
    pub tool_call: Option<String>,
    pub finish: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache came from the prefix cache.
    pub cached_tokens: usize,
    pub completion_tokens: usize,
    pub time_to_first_token: Duration,
    pub prefill: Duration,
    pub decode: Duration,
}

/// Where generated text goes; returning `false` cancels the generation
/// (the client went away).
pub trait TokenSink {
    fn text(&mut self, text: &str) -> bool;
    fn is_cancelled(&self) -> bool;
}

impl Engine {
    pub fn frontend(&self) -> Arc<Frontend> {
        Arc::clone(&self.frontend)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.frontend.info
    }

    /// Drops every cached prefix (for benchmarks that measure a cold start).
    pub fn clear_prefix_cache(&mut self) {
        self.prefixes.clear();
    }

    /// Runs one request to the end, streaming text into `sink`.
    pub fn generate(
        &mut self,
        request: &GenerateRequest,
        sink: &mut dyn TokenSink,
    ) -> Result<Completion, GenerateError> {
        let context = self.frontend.info.context;
        if request.prompt.is_empty() {
            return Err(GenerateError::Tokenize("the prompt is empty".into()));
        }
        if request.prompt.len() + request.max_tokens > context {
            return Err(GenerateError::ContextExceeded {
                prompt: request.prompt.len(),
                max_tokens: request.max_tokens,
                context,
            });
        }
        let started = Instant::now();
        let (mut cache, mut logits, cached_tokens) =
            self.prefill(&request.prompt, request.shared_prefix)?;
        let prefill = started.elapsed();
        let mut run = Run::new(self.frontend.as_ref(), request);
        let mut position = request.prompt.len();
        let mut first_token_at = None;
        let decode_started = Instant::now();

        let finish = loop {
            if sink.is_cancelled() {
                break FinishReason::Cancelled;
            }
            if run.generated.len() >= request.max_tokens || position >= context {
                break FinishReason::Length;
            }
            let step = run.next_tokens(&mut logits)?;
            first_token_at.get_or_insert_with(|| started.elapsed());
            let tokens = match step {
                Step::Finished(reason) => break reason,
                Step::Feed(tokens) => tokens,
            };
            if let Some(reason) = run.emit(&tokens, sink) {
                break reason;
            }
            logits = self.model.forward(&tokens, &mut cache)?;
            position += tokens.len();
        };
        let (text, tool_call) = run.finish(sink);
        Ok(Completion {
            text,
            tool_call,
            finish,
            prompt_tokens: request.prompt.len(),
            cached_tokens,
            completion_tokens: run.generated.len(),
            time_to_first_token: first_token_at.unwrap_or_else(|| started.elapsed()),
            prefill,
            decode: decode_started.elapsed(),
        })
    }

    /// Brings the model to the end of the prompt. The cached state that
    /// shares the longest start with the prompt is reused (cut back to the
    /// shared part); the shared system prefix and the whole prompt are kept
    /// for the next request. Returns the cache, the logits after the last
    /// prompt token and how many prompt tokens came from the cache.
    fn prefill(
        &mut self,
        prompt: &[u32],
        shared_prefix: usize,
    ) -> Result<(KvCache, Vec<f32>, usize), GenerateError> {
        let best = self
            .prefixes
            .iter_mut()
            .map(|p| (common_prefix(&p.tokens, prompt), p))
            .filter(|(common, _)| *common > 0)
            .max_by_key(|(common, _)| *common);
        let (mut cache, mut logits, mut done) = match best {
            Some((common, prefix)) if common == prefix.tokens.len() && common == prompt.len() => {
                prefix.last_used = Instant::now();
                (prefix.cache.clone(), prefix.logits.clone(), common)
            }
            Some((common, prefix)) => {
                prefix.last_used = Instant::now();
                // At least one prompt token must run to get fresh logits.
                let keep = common.min(prompt.len() - 1);
                (prefix.cache.truncated(keep)?, Vec::new(), keep)
            }
            None => (self.model.new_cache(), Vec::new(), 0),
        };
        let cached = done;
        if shared_prefix > done && shared_prefix < prompt.len() {
            logits = self.run_chunks(&mut cache, &prompt[done..shared_prefix])?;
            done = shared_prefix;
            self.remember(&prompt[..done], &cache, &logits);
        }
        if done < prompt.len() {
            logits = self.run_chunks(&mut cache, &prompt[done..])?;
            self.remember(prompt, &cache, &logits);
        }
        Ok((cache, logits, cached))
    }

    fn run_chunks(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>, GenerateError> {
        let mut logits = Vec::new();
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            logits = self.model.forward(chunk, cache)?;
        }
        Ok(logits)
    }

    /// Keeps a state for reuse, evicting the least recently used ones beyond
    /// the entry limit or the token budget (two full contexts).
    fn remember(&mut self, tokens: &[u32], cache: &KvCache, logits: &[f32]) {
        if self.prefixes.iter().any(|p| p.tokens == tokens) {
            return;
        }
        let budget = 2 * self.frontend.info.context;
        self.prefixes.push(CachedPrefix {
            tokens: tokens.to_vec(),
            cache: cache.clone(),
            logits: logits.to_vec(),
            last_used: Instant::now(),
        });
        while self.prefixes.len() > PREFIX_CACHE_ENTRIES
            || self.prefixes.iter().map(|p| p.tokens.len()).sum::<usize>() > budget
        {
            let Some(oldest) = self
                .prefixes
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.prefixes.swap_remove(oldest);
        }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// What the loop does next.
enum Step {
    Feed(Vec<u32>),
    Finished(FinishReason),
}

/// The bookkeeping of one generation: sampler, grammar, text and tokens so far.
struct Run<'a> {
    frontend: &'a Frontend,
    sampler: Sampler,
    /// Prompt and generated tokens, for the repetition penalty.
    history: Vec<u32>,
    generated: Vec<u32>,
    stream: TextStream,
    /// How many of the stream's markers are stop strings (the tool tag, when
    /// watched for, comes after them).
    stop_count: usize,
    text: String,
    constraint: Option<&'a Constraint>,
    /// Set once the output is inside the grammar.
    matcher: Option<JsonMatcher>,
    json: Vec<u8>,
    allowed: Vec<bool>,
}

impl<'a> Run<'a> {
    fn new(frontend: &'a Frontend, request: &'a GenerateRequest) -> Run<'a> {
        let mut markers = request.stop.clone();
        let stop_count = markers.iter().filter(|m| !m.is_empty()).count();
        let constraint = request.constraint.as_ref();
        let matcher = match constraint {
            Some(c) if c.mode != ConstraintMode::AfterToolTag => Some(c.grammar.matcher()),
            Some(_) => {
                markers.push(TOOL_CALL_TAGS.open.trim_end().to_string());
                markers.push(FENCED_JSON.to_string());
                None
            }
            None => None,
        };
        Run {
            frontend,
            sampler: Sampler::new(request.sampling.clone()),
            history: request.prompt.clone(),
            generated: Vec::new(),
            stream: TextStream::new(markers),
            stop_count,
            text: String::new(),
            constraint,
            matcher,
            json: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// Chooses what to feed the model next.
    fn next_tokens(&mut self, logits: &mut [f32]) -> Result<Step, GenerateError> {
        let tokenizer = &self.frontend.tokenizer;
        if let Some(matcher) = &self.matcher {
            if matcher.is_complete() {
                return Ok(Step::Finished(self.finish_reason_of_json()));
            }
            let forced = matcher.forced();
            if !forced.is_empty() {
                let text = String::from_utf8_lossy(&forced);
                let tokens = tokenizer
                    .encode(&text, false, false)
                    .map_err(|e| GenerateError::Tokenize(e.to_string()))?;
                if !tokens.is_empty() {
                    return Ok(Step::Feed(tokens));
                }
            }
        }
        self.sampler.penalize(logits, &self.history);
        let token = match &self.matcher {
            Some(_) => self.sample_in_grammar(logits),
            None => self.sampler.sample(logits),
        };
        match token {
            None => Ok(Step::Finished(FinishReason::Stop)),
            Some(t) if self.matcher.is_none() && tokenizer.stop_ids().contains(&t) => {
                Ok(Step::Finished(FinishReason::Stop))
            }
            Some(t) => Ok(Step::Feed(vec![t])),
        }
    }

    fn finish_reason_of_json(&self) -> FinishReason {
        match self.constraint.map(|c| c.mode) {
            Some(ConstraintMode::Json) | None => FinishReason::Stop,
            Some(_) => FinishReason::ToolCall,
        }
    }

    /// Samples, rejecting tokens the grammar refuses; after a few rejections
    /// the exact mask of allowed tokens is computed instead.
    fn sample_in_grammar(&mut self, logits: &mut [f32]) -> Option<u32> {
        let tokenizer = &self.frontend.tokenizer;
        let matcher = self.matcher.as_ref()?;
        for _ in 0..GRAMMAR_REJECTIONS_BEFORE_MASK {
            let token = self.sampler.sample(logits)?;
            let bytes = tokenizer.token_bytes(token);
            if !tokenizer.is_control(token) && !bytes.is_empty() && matcher.accepts(bytes) {
                return Some(token);
            }
            logits[token as usize] = f32::NEG_INFINITY;
        }
        self.allowed.clear();
        self.allowed.resize(logits.len(), false);
        matcher.allowed_tokens(self.frontend.trie(), &mut self.allowed);
        for (logit, allowed) in logits.iter_mut().zip(&self.allowed) {
            if !allowed {
                *logit = f32::NEG_INFINITY;
            }
        }
        self.sampler.sample(logits)
    }

    /// Records fed tokens and streams their text; `Some` ends the generation.
    fn emit(&mut self, tokens: &[u32], sink: &mut dyn TokenSink) -> Option<FinishReason> {
        self.generated.extend_from_slice(tokens);
        self.history.extend_from_slice(tokens);
        let tokenizer = &self.frontend.tokenizer;
        for &token in tokens {
            let bytes = tokenizer.token_bytes(token);
            if let Some(matcher) = self.matcher.as_mut() {
                // Forced and sampled tokens were checked; a failure here means
                // the forced text tokenized oddly, which the grammar reports.
                if matcher.advance(bytes).is_err() {
                    return Some(FinishReason::Stop);
                }
                self.json.extend_from_slice(bytes);
                if self.constraint.map(|c| c.mode) == Some(ConstraintMode::Json) {
                    let shown = String::from_utf8_lossy(bytes).into_owned();
                    self.text.push_str(&shown);
                    if !sink.text(&shown) {
                        return Some(FinishReason::Cancelled);
                    }
                }
                continue;
            }
            match self.stream.push(bytes) {
                Release::Text(text) => {
                    if !text.is_empty() {
                        self.text.push_str(&text);
                        if !sink.text(&text) {
                            return Some(FinishReason::Cancelled);
                        }
                    }
                }
                Release::Marker { before, marker } => {
                    let fenced_in_prose = self.stream.markers()[marker] == FENCED_JSON
                        && !(self.text.trim().is_empty() && before.trim().is_empty());
                    let shown = if fenced_in_prose {
                        // A code block inside an answer is prose, not a call.
                        format!("{before}{FENCED_JSON}")
                    } else {
                        before
                    };
                    if !shown.is_empty() {
                        self.text.push_str(&shown);
                        if !sink.text(&shown) {
                            return Some(FinishReason::Cancelled);
                        }
                    }
                    if marker < self.stop_count {
                        return Some(FinishReason::Stop);
                    }
                    if !fenced_in_prose {
                        // A tool tag opened the reply: from here on it is a call.
                        self.matcher = self.constraint.map(|c| c.grammar.matcher());
                    }
                }
            }
        }
        None
    }

    /// Flushes held text; returns the prose and the tool call JSON.
    fn finish(&mut self, sink: &mut dyn TokenSink) -> (String, Option<String>) {
        let rest = self.stream.finish();
        if !rest.is_empty() && self.matcher.is_none() {
            self.text.push_str(&rest);
            sink.text(&rest);
        }
        let tool_call = match self.constraint.map(|c| c.mode) {
            Some(ConstraintMode::ToolCall) => Some(&self.json),
            Some(ConstraintMode::AfterToolTag) if self.matcher.is_some() => Some(&self.json),
            _ => None,
        }
        .map(|json| String::from_utf8_lossy(json).into_owned());
        (std::mem::take(&mut self.text), tool_call)
    }
}
