//! The decoder-only transformer behind every local model family, built from
//! candle tensors; its mat-muls run on our CPU kernels (`llm::cpu`) or, on a
//! GPU and for the reference path, candle's quantized matrix multiplication.
//!
//! One definition covers Qwen2 (biased q/k/v projections, NeoX rotary
//! embedding), Llama (interleaved rotary embedding, as GGUF stores it) and
//! Gemma 3 (normalised queries and keys, extra norms around attention and
//! feed-forward, GELU, scaled embeddings, sliding-window layers). The KV
//! cache lives outside the weights in a [`KvCache`] value, so a prompt
//! prefix's cache can be kept, cloned and cut back to any shorter prefix.
//!
//! This module reads tensors and computes logits; it knows nothing of tokens'
//! meaning, sampling or requests.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, ggml_file, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::ops::{rms_norm, silu, softmax_last_dim};
use candle_nn::rotary_emb::{rope, rope_i};

use super::Family;
use super::cpu::ops::{Gate, gated};
use super::cpu::{PackedMatrix, QLinear, weight_type_of};

/// The shape of a model, read from GGUF metadata.
#[derive(Debug, Clone)]
pub struct Hparams {
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub embedding: usize,
    pub norm_eps: f64,
    pub rope_base: f32,
    /// Gemma 3: rotary base of the sliding-window layers.
    pub rope_base_local: f32,
    /// Gemma 3: how far back a sliding-window layer looks.
    pub sliding_window: Option<usize>,
    /// Gemma 3: every n-th layer is global, the others slide.
    pub sliding_pattern: usize,
}

impl Hparams {
    pub fn read(
        content: &gguf_file::Content,
        family: Family,
    ) -> std::result::Result<Hparams, String> {
        let arch = family.name();
        let get = |key: &str| content.metadata.get(&format!("{arch}.{key}"));
        let uint = |key: &str| -> Option<usize> {
            let v = get(key)?;
            v.to_u32()
                .map(|v| v as usize)
                .or_else(|_| v.to_u64().map(|v| v as usize))
                .ok()
        };
        let float = |key: &str| get(key).and_then(|v| v.to_f32().ok());
        let need =
            |key: &str| uint(key).ok_or_else(|| format!("metadata key {arch}.{key} is missing"));
        let layers = need("block_count")?;
        let heads = need("attention.head_count")?;
        let embedding = need("embedding_length")?;
        if heads == 0 || layers == 0 || embedding == 0 {
            return Err("metadata gives a model with no layers, heads or width".into());
        }
        let kv_heads = uint("attention.head_count_kv").unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(format!(
                "{heads} heads cannot share {kv_heads} key/value heads"
            ));
        }
        let head_dim = uint("attention.key_length").unwrap_or(embedding / heads);
        let gemma = family == Family::Gemma3;
        Ok(Hparams {
            layers,
            heads,
            kv_heads,
            head_dim,
            embedding,
            norm_eps: float("attention.layer_norm_rms_epsilon").unwrap_or(1e-6) as f64,
            rope_base: float("rope.freq_base").unwrap_or(if gemma {
                1_000_000.0
            } else {
                10_000.0
            }),
            rope_base_local: float("rope.local_freq_base").unwrap_or(10_000.0),
            sliding_window: if gemma {
                uint("attention.sliding_window")
            } else {
                None
            },
            sliding_pattern: uint("attention.sliding_window_pattern").unwrap_or(6).max(1),
        })
    }

    /// Bytes of KV cache (f32) per token of context.
    pub fn kv_bytes_per_token(&self) -> usize {
        self.layers * 2 * self.kv_heads * self.head_dim * 4
    }
}

/// The cached keys and values of every layer for the tokens seen so far.
/// Cloning shares the tensors (they are never modified in place).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of the first `len` tokens only.
    pub fn truncated(&self, len: usize) -> Result<KvCache> {
        if len >= self.len {
            return Ok(self.clone());
        }
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Some((k, v)) if len > 0 => Ok(Some((
                    k.narrow(2, 0, len)?.contiguous()?,
                    v.narrow(2, 0, len)?.contiguous()?,
                ))),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, len })
    }
}

/// Which mat-mul code runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// shopkeep's own CPU kernels (`llm::cpu`) where the weight format has
    /// them; candle's otherwise and on a GPU.
    Fast,
    /// candle's quantized matmul throughout: the reference the fast path is
    /// tested against.
    Reference,
}

/// A linear layer: quantized weights and an optional f32 bias.
enum Linear {
    /// Our CPU kernels; the bias is added inside.
    Fast(QLinear),
    Candle {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Fast(layer) => layer.forward_tensor(x),
            Linear::Candle { weight, bias } => {
                let y = weight.forward(x)?;
                match bias {
                    Some(bias) => y.broadcast_add(bias),
                    None => Ok(y),
                }
            }
        }
    }
}

struct Layer {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    post_attn_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
    post_ffn_norm: Option<Tensor>,
    /// Sliding-window size for this layer (Gemma 3 local layers).
    window: Option<usize>,
    /// Index into the model's rotary tables.
    rope: usize,
}

/// Rotary embedding tables for positions `0..len`.
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(head_dim: usize, base: f32, len: usize, device: &Device) -> Result<Rope> {
        let inv_freq: Vec<f32> = (0..head_dim / 2)
            .map(|i| 1.0 / base.powf(2.0 * i as f32 / head_dim as f32))
            .collect();
        let inv_freq = Tensor::new(inv_freq.as_slice(), device)?.unsqueeze(0)?;
        let positions = Tensor::arange(0u32, len as u32, device)?
            .to_dtype(DType::F32)?
            .unsqueeze(1)?;
        let angles = positions.broadcast_mul(&inv_freq)?;
        Ok(Rope {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }
}

/// Token embeddings kept quantized; rows are dequantized as they are looked
/// up, which saves the hundreds of MB a full f32 table of a 150k vocabulary
/// takes. The table stays on the CPU whatever the device.
enum Embeddings {
    /// A format with kernels here; shared with a tied output projection.
    Packed(Arc<PackedMatrix>),
    /// Any other format, through candle's dequantization.
    Candle {
        table: QTensor,
        row_bytes: usize,
        width: usize,
        rows: usize,
    },
}

impl Embeddings {
    fn rows(&self) -> usize {
        match self {
            Embeddings::Packed(table) => table.rows(),
            Embeddings::Candle { rows, .. } => *rows,
        }
    }

    fn lookup(&self, tokens: &[u32], device: &Device) -> Result<Tensor> {
        let rows = self.rows();
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= rows) {
            candle_core::bail!("token id {token} is outside the vocabulary of {rows}");
        }
        let values = match self {
            Embeddings::Packed(table) => {
                let width = table.columns();
                let mut values = vec![0f32; tokens.len() * width];
                for (&token, out) in tokens.iter().zip(values.chunks_exact_mut(width)) {
                    table.dequantize_row(token as usize, out);
                }
                Tensor::from_vec(values, (tokens.len(), width), &Device::Cpu)?
            }
            Embeddings::Candle {
                table,
                row_bytes,
                width,
                ..
            } => {
                let raw = table.data()?;
                let mut bytes = Vec::with_capacity(tokens.len() * row_bytes);
                for &token in tokens {
                    let row = token as usize;
                    bytes.extend_from_slice(&raw[row * row_bytes..(row + 1) * row_bytes]);
                }
                let dtype = table.dtype();
                ggml_file::qtensor_from_ggml(
                    dtype,
                    &bytes,
                    vec![tokens.len(), *width],
                    &Device::Cpu,
                )?
                .dequantize(&Device::Cpu)?
            }
        };
        values.to_device(device)
    }
}

/// Reads a model's tensors from its GGUF file, as our packed CPU matrices
/// where the kernels allow, as candle tensors otherwise.
struct Loader<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    fast: bool,
}

impl<R: Read + Seek> Loader<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.content.tensor(self.reader, name, self.device)
    }

    /// A norm weight or bias, as f32 on the device.
    fn vector(&mut self, name: &str) -> Result<Tensor> {
        self.tensor(name)?.dequantize(self.device)
    }

    fn optional_vector(&mut self, name: &str) -> Result<Option<Tensor>> {
        if self.has(name) {
            self.vector(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The tensor's GGUF bytes as a packed matrix, when its format has
    /// kernels here.
    fn packed(&mut self, name: &str) -> Result<Option<Arc<PackedMatrix>>> {
        let Some(info) = self.content.tensor_infos.get(name) else {
            candle_core::bail!("tensor {name} is missing");
        };
        let Some(kind) = weight_type_of(info.ggml_dtype) else {
            return Ok(None);
        };
        let (rows, columns) = info.shape.dims2()?;
        let dtype = info.ggml_dtype;
        let size = info.shape.elem_count() / dtype.block_size() * dtype.type_size();
        let mut bytes = vec![0u8; size];
        self.reader.seek(SeekFrom::Start(
            self.content.tensor_data_offset + info.offset,
        ))?;
        self.reader.read_exact(&mut bytes)?;
        let matrix = PackedMatrix::new(kind, rows, columns, bytes)
            .map_err(|e| candle_core::Error::msg(format!("{name}: {e}")))?;
        Ok(Some(Arc::new(matrix)))
    }

    /// `{prefix}.weight` with `{prefix}.bias` when the file has one.
    fn linear(&mut self, prefix: &str) -> Result<Linear> {
        let weight_name = format!("{prefix}.weight");
        let bias_name = format!("{prefix}.bias");
        let bias = self.optional_vector(&bias_name)?;
        if self.fast
            && let Some(packed) = self.packed(&weight_name)?
        {
            let bias = bias.map(|b| b.to_vec1::<f32>()).transpose()?;
            let layer = QLinear::new(packed, bias)
                .map_err(|e| candle_core::Error::msg(format!("{prefix}: {e}")))?;
            return Ok(Linear::Fast(layer));
        }
        let weight = matmul_of(self.tensor(&weight_name)?, self.device)?;
        Ok(Linear::Candle { weight, bias })
    }

    fn embeddings(&mut self, width: usize) -> Result<Embeddings> {
        let name = "token_embd.weight";
        let embeddings = match self.packed(name)? {
            Some(table) => Embeddings::Packed(table),
            None => {
                let table = self.content.tensor(self.reader, name, &Device::Cpu)?;
                let (rows, _) = table.shape().dims2()?;
                let dtype = table.dtype();
                Embeddings::Candle {
                    row_bytes: width / dtype.block_size() * dtype.type_size(),
                    table,
                    width,
                    rows,
                }
            }
        };
        let columns = match &embeddings {
            Embeddings::Packed(table) => table.columns(),
            Embeddings::Candle { table, .. } => table.shape().dims2()?.1,
        };
        if columns != width {
            candle_core::bail!("token_embd has {columns} columns, the model is {width} wide");
        }
        Ok(embeddings)
    }

    /// The output projection: its own tensor, or the embedding table (tied).
    fn output(&mut self, embeddings: &Embeddings) -> Result<Linear> {
        if self.has("output.weight") {
            return self.linear("output");
        }
        match embeddings {
            Embeddings::Packed(table) if self.fast => Ok(Linear::Fast(
                QLinear::new(Arc::clone(table), None).map_err(candle_core::Error::msg)?,
            )),
            _ => Ok(Linear::Candle {
                weight: QMatMul::from_qtensor(self.tensor("token_embd.weight")?)?,
                bias: None,
            }),
        }
    }
}

/// A loaded model.
pub struct Transformer {
    family: Family,
    hparams: Hparams,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    ropes: Vec<Rope>,
    max_positions: usize,
    device: Device,
    /// Our fused CPU ops run the small steps too (the `Kernels::Fast` path).
    fast: bool,
}

impl Transformer {
    /// Reads the weights of `content` from `reader` onto `device`, with
    /// rotary tables for `max_positions` tokens.
    pub fn load<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        family: Family,
        max_positions: usize,
        device: &Device,
        kernels: Kernels,
    ) -> std::result::Result<Transformer, String> {
        let mut loader = Loader {
            content,
            reader,
            device,
            fast: kernels == Kernels::Fast && device.is_cpu(),
        };
        Self::load_inner(&mut loader, family, max_positions).map_err(|e| e.to_string())
    }

    fn load_inner<R: Read + Seek>(
        loader: &mut Loader<'_, R>,
        family: Family,
        max_positions: usize,
    ) -> Result<Transformer> {
        let hparams = Hparams::read(loader.content, family).map_err(candle_core::Error::msg)?;
        let embeddings = loader.embeddings(hparams.embedding)?;
        let output = loader.output(&embeddings)?;
        let norm = loader.vector("output_norm.weight")?;
        let gemma = family == Family::Gemma3;
        let mut layers = Vec::with_capacity(hparams.layers);
        for i in 0..hparams.layers {
            let p = format!("blk.{i}");
            let sliding = gemma && (i + 1) % hparams.sliding_pattern != 0;
            layers.push(Layer {
                attn_norm: loader.vector(&format!("{p}.attn_norm.weight"))?,
                q: loader.linear(&format!("{p}.attn_q"))?,
                k: loader.linear(&format!("{p}.attn_k"))?,
                v: loader.linear(&format!("{p}.attn_v"))?,
                o: loader.linear(&format!("{p}.attn_output"))?,
                q_norm: loader.optional_vector(&format!("{p}.attn_q_norm.weight"))?,
                k_norm: loader.optional_vector(&format!("{p}.attn_k_norm.weight"))?,
                post_attn_norm: loader
                    .optional_vector(&format!("{p}.post_attention_norm.weight"))?,
                ffn_norm: loader.vector(&format!("{p}.ffn_norm.weight"))?,
                gate: loader.linear(&format!("{p}.ffn_gate"))?,
                up: loader.linear(&format!("{p}.ffn_up"))?,
                down: loader.linear(&format!("{p}.ffn_down"))?,
                post_ffn_norm: loader.optional_vector(&format!("{p}.post_ffw_norm.weight"))?,
                window: if sliding {
                    hparams.sliding_window
                } else {
                    None
                },
                rope: usize::from(sliding),
            });
        }
        let device = loader.device;
        let mut ropes = vec![Rope::new(
            hparams.head_dim,
            hparams.rope_base,
            max_positions,
            device,
        )?];
        if gemma {
            ropes.push(Rope::new(
                hparams.head_dim,
                hparams.rope_base_local,
                max_positions,
                device,
            )?);
        }
        Ok(Transformer {
            family,
            hparams,
            embeddings,
            layers,
            norm,
            output,
            ropes,
            max_positions,
            device: device.clone(),
            fast: loader.fast,
        })
    }

    pub fn hparams(&self) -> &Hparams {
        &self.hparams
    }

    pub fn vocab_size(&self) -> usize {
        self.embeddings.rows()
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
            len: 0,
        }
    }

    /// Runs `tokens` after the cached ones and returns the last token's logits.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let hidden = self.hidden(tokens, cache)?;
        let last = hidden.i((.., tokens.len() - 1, ..))?.contiguous()?;
        self.logits(&last)?.squeeze(0)?.to_vec1()
    }

    /// Runs `tokens` after the cached ones and returns the logits after every
    /// one of them (what perplexity needs).
    pub fn forward_all(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        let hidden = self.hidden(tokens, cache)?;
        self.logits(&hidden)?.squeeze(0)?.to_vec2()
    }

    fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let normed = rms_norm(hidden, &self.norm, self.hparams.norm_eps as f32)?;
        self.output.forward(&normed)?.to_dtype(DType::F32)
    }

    /// The last layer's output (before the final norm) for every token.
    fn hidden(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let start = cache.len;
        let seq = tokens.len();
        if seq == 0 {
            candle_core::bail!("nothing to run");
        }
        if start + seq > self.max_positions {
            candle_core::bail!(
                "position {} is past the {}-token context",
                start + seq,
                self.max_positions
            );
        }
        if cache.layers.len() != self.layers.len() {
            *cache = self.new_cache();
        }
        let mut x = self.embeddings.lookup(tokens, &self.device)?.unsqueeze(0)?;
        if self.family == Family::Gemma3 {
            x = (x * (self.hparams.embedding as f64).sqrt())?;
        }
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = self.block(layer, &x, start, slot)?;
        }
        cache.len = start + seq;
        Ok(x)
    }

    fn block(
        &self,
        layer: &Layer,
        x: &Tensor,
        start: usize,
        slot: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let eps = self.hparams.norm_eps as f32;
        let h = rms_norm(x, &layer.attn_norm, eps)?;
        let mut attended = self.attention(layer, &h, start, slot)?;
        if let Some(norm) = &layer.post_attn_norm {
            attended = rms_norm(&attended, norm, eps)?;
        }
        let x = (x + attended)?;
        let h = rms_norm(&x, &layer.ffn_norm, eps)?;
        let (gate, up) = (layer.gate.forward(&h)?, layer.up.forward(&h)?);
        let activation = if self.family == Family::Gemma3 {
            Gate::Gelu
        } else {
            Gate::Silu
        };
        let gated = if self.fast {
            gated(activation, &gate, &up)?
        } else {
            let gate = match activation {
                Gate::Gelu => gate.gelu()?,
                Gate::Silu => silu(&gate)?,
            };
            (gate * up)?
        };
        let mut ffn = layer.down.forward(&gated)?;
        if let Some(norm) = &layer.post_ffn_norm {
            ffn = rms_norm(&ffn, norm, eps)?;
        }
        x + ffn
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        start: usize,
        slot: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let hp = &self.hparams;
        let (batch, seq, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((batch, seq, n, hp.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let mut q = heads(layer.q.forward(x)?, hp.heads)?;
        let mut k = heads(layer.k.forward(x)?, hp.kv_heads)?;
        let v = heads(layer.v.forward(x)?, hp.kv_heads)?;
        let eps = hp.norm_eps as f32;
        if let Some(norm) = &layer.q_norm {
            q = rms_norm(&q, norm, eps)?;
        }
        if let Some(norm) = &layer.k_norm {
            k = rms_norm(&k, norm, eps)?;
        }
        let table = &self.ropes[layer.rope.min(self.ropes.len() - 1)];
        let cos = table.cos.narrow(0, start, seq)?;
        let sin = table.sin.narrow(0, start, seq)?;
        let rotate = |t: &Tensor| match self.family {
            Family::Llama => rope_i(t, &cos, &sin),
            Family::Qwen2 | Family::Gemma3 => rope(t, &cos, &sin),
        };
        let q = rotate(&q)?;
        let k = rotate(&k)?;
        let (k, v) = match slot.take() {
            Some((k_cache, v_cache)) => (
                Tensor::cat(&[&k_cache, &k], 2)?,
                Tensor::cat(&[&v_cache, &v], 2)?,
            ),
            None => (k, v),
        };
        *slot = Some((k.clone(), v.clone()));
        let total = k.dim(2)?;
        let group = hp.heads / hp.kv_heads;
        // Grouped-query attention: each key/value head serves `group` query
        // heads, done as one matmul over (kv_heads, group * seq) rows.
        let q = q.reshape((batch, hp.kv_heads, group * seq, hp.head_dim))?;
        let scale = 1.0 / (hp.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match attention_mask(seq, start, total, layer.window, group, &self.device)? {
            Some(mask) => scores.broadcast_add(&mask)?,
            None => scores,
        };
        let weights = softmax_last_dim(&scores)?;
        let out = weights.matmul(&v)?;
        let out = out
            .reshape((batch, hp.heads, seq, hp.head_dim))?
            .transpose(1, 2)?
            .reshape((batch, seq, hp.heads * hp.head_dim))?;
        layer.o.forward(&out)
    }
}

/// Additive mask (0 or -inf) of shape (group * seq, total): query `i` (at
/// position `start + i`) sees keys up to its own position, and no further
/// back than the sliding window. `None` when nothing is masked.
fn attention_mask(
    seq: usize,
    start: usize,
    total: usize,
    window: Option<usize>,
    group: usize,
    device: &Device,
) -> Result<Option<Tensor>> {
    let window_bites = window.is_some_and(|w| total > w);
    if seq == 1 && !window_bites {
        return Ok(None);
    }
    let mut mask = Vec::with_capacity(group * seq * total);
    for _ in 0..group {
        for i in 0..seq {
            let position = start + i;
            mask.extend((0..total).map(|j| {
                let future = j > position;
                let too_old = window.is_some_and(|w| position >= j + w);
                if future || too_old {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            }));
        }
    }
    Ok(Some(Tensor::from_vec(mask, (group * seq, total), device)?))
}

/// A quantized weight ready for matmul. Q5_0 blocks are rewritten as Q8_0
/// first: every Q5_0 value is `d * (q - 16)` with `q` in 0..32, which Q8_0
/// holds exactly with the same scale, and candle's CPU code has SIMD dot
/// products for Q8_0 but not for Q5_0.
fn matmul_of(weight: QTensor, device: &Device) -> Result<QMatMul> {
    if weight.dtype() != GgmlDType::Q5_0 || !device.is_cpu() {
        return QMatMul::from_qtensor(weight);
    }
    let dims = weight.shape().dims().to_vec();
    let q8 = q5_0_to_q8_0(&weight.data()?)?;
    QMatMul::from_qtensor(ggml_file::qtensor_from_ggml(
        GgmlDType::Q8_0,
        &q8,
        dims,
        device,
    )?)
}

/// Byte layout of GGML blocks of 32 values: Q5_0 is an f16 scale, 32 high
/// bits, then 16 bytes of low nibbles; Q8_0 is an f16 scale then 32 i8.
const Q5_0_BLOCK: usize = 22;
const Q8_0_BLOCK: usize = 34;

fn q5_0_to_q8_0(q5: &[u8]) -> Result<Vec<u8>> {
    if !q5.len().is_multiple_of(Q5_0_BLOCK) {
        candle_core::bail!("Q5_0 data of {} bytes is not whole blocks", q5.len());
    }
    let mut q8 = Vec::with_capacity(q5.len() / Q5_0_BLOCK * Q8_0_BLOCK);
    for block in q5.chunks_exact(Q5_0_BLOCK) {
        let (scale, rest) = block.split_at(2);
        let (high, low) = rest.split_at(4);
        let high = u32::from_le_bytes([high[0], high[1], high[2], high[3]]);
        q8.extend_from_slice(scale);
        let value = |nibble: u8, bit: usize| {
            let q = nibble | ((((high >> bit) & 1) as u8) << 4);
            (q as i8 - 16) as u8
        };
        q8.extend(low.iter().enumerate().map(|(j, b)| value(b & 0x0F, j)));
        q8.extend(low.iter().enumerate().map(|(j, b)| value(b >> 4, j + 16)));
    }
    Ok(q8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random Q5_0 blocks dequantize to exactly the same values after the
    /// rewrite to Q8_0.
    #[test]
    fn q5_0_to_q8_0_is_lossless() {
        let mut seed = 0x1234_5678_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let blocks = 64;
        let mut raw = Vec::with_capacity(blocks * Q5_0_BLOCK);
        for _ in 0..blocks {
            // f16 bits of a small positive normal number (exponent well below 31).
            let scale = 0x2000u16 + (next() % 0x1000) as u16;
            raw.extend_from_slice(&scale.to_le_bytes());
            raw.extend((0..20).map(|_| next() as u8));
        }
        let shape = vec![4, blocks * 32 / 4];
        let q5 = ggml_file::qtensor_from_ggml(GgmlDType::Q5_0, &raw, shape.clone(), &Device::Cpu)
            .unwrap();
        let q8 = ggml_file::qtensor_from_ggml(
            GgmlDType::Q8_0,
            &q5_0_to_q8_0(&raw).unwrap(),
            shape,
            &Device::Cpu,
        )
        .unwrap();
        let values = |t: &QTensor| -> Vec<f32> {
            let all = t.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
            all.to_vec1().unwrap()
        };
        let (a, b) = (values(&q5), values(&q8));
        assert_eq!(a, b);
    }

    #[test]
    fn the_mask_hides_the_future_and_what_slid_out_of_the_window() {
        let mask = attention_mask(2, 3, 5, Some(3), 1, &Device::Cpu)
            .unwrap()
            .unwrap();
        let rows: Vec<Vec<f32>> = mask.to_vec2().unwrap();
        let inf = f32::NEG_INFINITY;
        // Position 3 sees keys 1..=3; position 4 sees keys 2..=4.
        assert_eq!(rows[0], vec![inf, 0.0, 0.0, 0.0, inf]);
        assert_eq!(rows[1], vec![inf, inf, 0.0, 0.0, 0.0]);
        assert!(
            attention_mask(1, 9, 10, None, 2, &Device::Cpu)
                .unwrap()
                .is_none()
        );
    }
}
