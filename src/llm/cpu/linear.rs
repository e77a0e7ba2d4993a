//! The quantized linear layer of the CPU path: GGUF weight rows kept as
//! stored, activations quantized once per call, the output split across the
//! thread pool.
//!
//! Decoding (one activation row) streams each weight row once through a
//! mat-vec; prompt processing walks the weights in cache-sized tiles of rows
//! and runs each tile against the activations four rows at a time, so a
//! tile is read from memory once per call instead of once per token.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{Device, Storage, Tensor};

use super::pool;
use super::quant::{BlockQ8, BlockQ8K, Isa, WeightType, kquant, q8};

/// A weight matrix in a GGML block format: `rows` output features, each a
/// row of `columns` input weights.
#[derive(Debug)]
pub struct PackedMatrix {
    kind: WeightType,
    rows: usize,
    columns: usize,
    row_bytes: usize,
    bytes: Vec<u8>,
}

impl PackedMatrix {
    /// Checks that `bytes` holds exactly `rows` rows of `columns` values.
    pub fn new(
        kind: WeightType,
        rows: usize,
        columns: usize,
        bytes: Vec<u8>,
    ) -> Result<PackedMatrix, String> {
        if columns == 0 || !columns.is_multiple_of(kind.block_values()) {
            return Err(format!(
                "{columns} columns are not whole {kind:?} blocks of {}",
                kind.block_values()
            ));
        }
        let row_bytes = kind.row_bytes(columns);
        if bytes.len() != rows * row_bytes {
            return Err(format!(
                "a {rows}x{columns} {kind:?} matrix takes {} bytes, not {}",
                rows * row_bytes,
                bytes.len()
            ));
        }
        Ok(PackedMatrix {
            kind,
            rows,
            columns,
            row_bytes,
            bytes,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn columns(&self) -> usize {
        self.columns
    }

    fn row(&self, index: usize) -> &[u8] {
        &self.bytes[index * self.row_bytes..(index + 1) * self.row_bytes]
    }

    /// Row `index` as f32 values (`out.len() == columns()`).
    pub fn dequantize_row(&self, index: usize, out: &mut [f32]) {
        let row = self.row(index);
        if self.kind.is_k_quant() {
            kquant::dequantize_row(self.kind, row, out);
        } else {
            q8::dequantize_row(self.kind, row, out);
        }
    }
}

/// `y = x Wᵀ + b` with a quantized `W`.
pub struct QLinear {
    weight: Arc<PackedMatrix>,
    bias: Option<Vec<f32>>,
    isa: Isa,
}

impl QLinear {
    pub fn new(weight: Arc<PackedMatrix>, bias: Option<Vec<f32>>) -> Result<QLinear, String> {
        if let Some(bias) = &bias
            && bias.len() != weight.rows
        {
            return Err(format!(
                "a bias of {} values for {} outputs",
                bias.len(),
                weight.rows
            ));
        }
        Ok(QLinear {
            weight,
            bias,
            isa: Isa::best(),
        })
    }

    /// The same layer computed with another instruction set (tests compare them).
    pub fn with_isa(mut self, isa: Isa) -> QLinear {
        self.isa = isa;
        self
    }

    /// Applies the layer to the last dimension of a CPU f32 tensor.
    pub fn forward_tensor(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        let mut dims = x.dims().to_vec();
        if dims.last() != Some(&self.weight.columns) {
            candle_core::bail!(
                "input of shape {dims:?} for a layer of {} inputs",
                self.weight.columns
            );
        }
        let inputs = x.elem_count() / self.weight.columns;
        let mut out = vec![0f32; inputs * self.weight.rows];
        with_cpu_slice(&x, |x| self.forward(x, &mut out))?;
        if let Some(last) = dims.last_mut() {
            *last = self.weight.rows;
        }
        Tensor::from_vec(out, dims, &Device::Cpu)
    }

    /// `x` holds whole rows of the layer's inputs; `out` gets the layer's
    /// outputs for each. Panics when the lengths do not fit the layer.
    pub fn forward(&self, x: &[f32], out: &mut [f32]) {
        if self.weight.kind.is_k_quant() {
            self.forward_with::<BlockQ8K>(x, out);
        } else {
            self.forward_with::<BlockQ8>(x, out);
        }
    }

    fn forward_with<A: Activation>(&self, x: &[f32], out: &mut [f32]) {
        let w = &*self.weight;
        let inputs = x.len() / w.columns;
        // Real checks: the tiles write `out` through a raw pointer.
        assert!(
            x.len() == inputs * w.columns && out.len() == inputs * w.rows,
            "{} inputs and {} outputs for a {}x{} layer",
            x.len(),
            out.len(),
            w.rows,
            w.columns
        );
        let blocks = w.columns / A::VALUES;
        let pool = pool::global();
        A::with_scratch(inputs * blocks, |quantized| {
            quantize_rows(pool, x, quantized, blocks);
            let quantized = &*quantized;
            let tile = tile_rows(w, inputs, pool.threads());
            let tiles = w.rows.div_ceil(tile);
            let next = AtomicUsize::new(0);
            let out = Disjoint::new(out);
            pool.run(&|_| {
                loop {
                    let t = next.fetch_add(1, Ordering::Relaxed);
                    if t >= tiles {
                        break;
                    }
                    let rows = t * tile..((t + 1) * tile).min(w.rows);
                    self.tile::<A>(rows, quantized, blocks, inputs, &out);
                }
            });
        });
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(w.rows) {
                for (value, b) in row.iter_mut().zip(bias) {
                    *value += b;
                }
            }
        }
    }

    /// Output columns `rows` for every input row: the weight tile stays in
    /// cache while the inputs stream past it four at a time.
    fn tile<A: Activation>(
        &self,
        rows: std::ops::Range<usize>,
        quantized: &[A],
        blocks: usize,
        inputs: usize,
        out: &Disjoint<f32>,
    ) {
        let w = &*self.weight;
        let input = |i: usize| &quantized[i * blocks..(i + 1) * blocks];
        // SAFETY: each (input, output column) pair belongs to one tile, and
        // each tile to one thread.
        let store = |i: usize, r: usize, value: f32| unsafe { out.write(i * w.rows + r, value) };
        let mut i = 0;
        while i + 4 <= inputs {
            let group = [i, i + 1, i + 2, i + 3].map(input);
            for r in rows.clone() {
                let four = A::dot4(self.isa, w.kind, w.row(r), group);
                for (k, value) in four.into_iter().enumerate() {
                    store(i + k, r, value);
                }
            }
            i += 4;
        }
        for i in i..inputs {
            let mut r = rows.start;
            while r + 4 <= rows.end {
                let four = A::dot_rows4(
                    self.isa,
                    w.kind,
                    [r, r + 1, r + 2, r + 3].map(|r| w.row(r)),
                    input(i),
                );
                for (k, value) in four.into_iter().enumerate() {
                    store(i, r + k, value);
                }
                r += 4;
            }
            for r in r..rows.end {
                store(i, r, A::dot(self.isa, w.kind, w.row(r), input(i)));
            }
        }
    }
}

/// Weight rows per unit of work. One input: enough tiles for the threads to
/// balance (a slow core takes fewer). Several: a tile of about 16 KiB, which
/// stays in L1/L2 while every input passes.
fn tile_rows(w: &PackedMatrix, inputs: usize, threads: usize) -> usize {
    if inputs == 1 {
        (w.rows / (threads * 8)).clamp(4, 256)
    } else {
        (16 * 1024 / w.row_bytes).clamp(4, 64)
    }
}

/// Quantizes every input row, spread over the pool when there are many.
fn quantize_rows<A: Activation>(pool: &pool::Pool, x: &[f32], quantized: &mut [A], blocks: usize) {
    let columns = blocks * A::VALUES;
    let inputs = x.len() / columns;
    if inputs < 8 {
        A::quantize(x, quantized);
        return;
    }
    let threads = pool.threads();
    let target = Disjoint::new(quantized);
    pool.run(&|t| {
        let rows = inputs * t / threads..inputs * (t + 1) / threads;
        // SAFETY: the row ranges of different threads do not overlap.
        let out = unsafe { target.slice(rows.start * blocks..rows.end * blocks) };
        A::quantize(&x[rows.start * columns..rows.end * columns], out);
    });
}

/// Runs `f` on the f32 values of a contiguous CPU tensor, in place.
pub(super) fn with_cpu_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("the CPU kernels got a tensor on another device");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("input is not contiguous");
    };
    Ok(f(&cpu.as_slice::<f32>()?[start..end]))
}

/// An activation block format and its kernels.
trait Activation: Copy + Default + Send + Sync + 'static {
    const VALUES: usize;
    fn quantize(x: &[f32], out: &mut [Self]);
    fn dot(isa: Isa, kind: WeightType, w: &[u8], a: &[Self]) -> f32;
    fn dot4(isa: Isa, kind: WeightType, w: &[u8], a: [&[Self]; 4]) -> [f32; 4];
    fn dot_rows4(isa: Isa, kind: WeightType, w: [&[u8]; 4], a: &[Self]) -> [f32; 4] {
        w.map(|row| Self::dot(isa, kind, row, a))
    }
    /// Runs `f` on a per-thread buffer of `len` blocks, reused across calls
    /// so the hot path does not allocate.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

thread_local! {
    static Q8_SCRATCH: RefCell<Vec<BlockQ8>> = const { RefCell::new(Vec::new()) };
    static Q8K_SCRATCH: RefCell<Vec<BlockQ8K>> = const { RefCell::new(Vec::new()) };
}

fn scratch<A: Default + Clone, R>(
    cell: &RefCell<Vec<A>>,
    len: usize,
    f: impl FnOnce(&mut [A]) -> R,
) -> R {
    let mut buffer = cell.borrow_mut();
    if buffer.len() < len {
        buffer.resize(len, A::default());
    }
    f(&mut buffer[..len])
}

impl Activation for BlockQ8 {
    const VALUES: usize = 32;
    fn quantize(x: &[f32], out: &mut [Self]) {
        q8::quantize_q8(x, out);
    }
    fn dot(isa: Isa, kind: WeightType, w: &[u8], a: &[Self]) -> f32 {
        q8::dot(isa, kind, w, a)
    }
    fn dot4(isa: Isa, kind: WeightType, w: &[u8], a: [&[Self]; 4]) -> [f32; 4] {
        q8::dot4(isa, kind, w, a)
    }
    fn dot_rows4(isa: Isa, kind: WeightType, w: [&[u8]; 4], a: &[Self]) -> [f32; 4] {
        q8::dot_rows4(isa, kind, w, a)
    }
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        Q8_SCRATCH.with(|cell| scratch(cell, len, f))
    }
}

impl Activation for BlockQ8K {
    const VALUES: usize = 256;
    fn quantize(x: &[f32], out: &mut [Self]) {
        kquant::quantize_q8k(x, out);
    }
    fn dot(isa: Isa, kind: WeightType, w: &[u8], a: &[Self]) -> f32 {
        kquant::dot(isa, kind, w, a)
    }
    fn dot4(isa: Isa, kind: WeightType, w: &[u8], a: [&[Self]; 4]) -> [f32; 4] {
        kquant::dot4(isa, kind, w, a)
    }
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        Q8K_SCRATCH.with(|cell| scratch(cell, len, f))
    }
}

/// A mutable slice shared by pool threads that each write their own,
/// non-overlapping parts.
pub(super) struct Disjoint<T> {
    start: *mut T,
    len: usize,
}

// SAFETY: callers only touch disjoint elements from different threads (see
// `write` and `slice`), so sharing the pointer is sound for `Send` data.
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    pub(super) fn new(slice: &mut [T]) -> Disjoint<T> {
        Disjoint {
            start: slice.as_mut_ptr(),
            len: slice.len(),
        }
    }

    /// # Safety
    /// No other thread reads or writes element `index` meanwhile.
    unsafe fn write(&self, index: usize, value: T) {
        debug_assert!(index < self.len);
        // SAFETY: in bounds, and exclusive by the caller's promise.
        unsafe { self.start.add(index).write(value) };
    }

    /// # Safety
    /// No other thread touches `range` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds, and exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.start.add(range.start), range.len()) }
    }
}

/// The kernel format of a GGML type, or `None` when it has no kernels here
/// (the caller then leaves that tensor to candle).
pub fn weight_type_of(dtype: candle_core::quantized::GgmlDType) -> Option<WeightType> {
    use candle_core::quantized::GgmlDType as G;
    Some(match dtype {
        G::Q8_0 => WeightType::Q8_0,
        G::Q4_0 => WeightType::Q4_0,
        G::Q5_0 => WeightType::Q5_0,
        G::Q4K => WeightType::Q4K,
        G::Q5K => WeightType::Q5K,
        G::Q6K => WeightType::Q6K,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Module, Tensor};

    /// The layer against candle's quantized matmul on the same weights, for
    /// decode (one row), a few rows (no group of four) and prompt-sized
    /// inputs with a ragged tail, output counts that are not multiples of
    /// any tile, and a bias.
    #[test]
    fn the_layer_matches_candles_quantized_matmul() {
        let device = Device::Cpu;
        for (dtype, columns) in [
            (GgmlDType::Q8_0, 96),
            (GgmlDType::Q4_0, 64),
            // candle's own Q5_0 kernel needs an even number of blocks.
            (GgmlDType::Q5_0, 192),
            (GgmlDType::Q4K, 512),
            (GgmlDType::Q6K, 256),
            (GgmlDType::Q5K, 256),
        ] {
            let rows = 37;
            let w = Tensor::randn(0f32, 0.5, (rows, columns), &device).unwrap();
            let quantized = QTensor::quantize(&w, dtype).unwrap();
            let kind = weight_type_of(dtype).unwrap();
            let packed =
                PackedMatrix::new(kind, rows, columns, quantized.data().unwrap().to_vec()).unwrap();
            let bias: Vec<f32> = (0..rows).map(|r| r as f32 * 0.01).collect();
            let reference = QMatMul::from_qtensor(quantized).unwrap();
            for isa in Isa::available() {
                let layer = QLinear::new(Arc::new(packed_clone(&packed)), Some(bias.clone()))
                    .unwrap()
                    .with_isa(isa);
                for inputs in [1, 3, 4, 13, 40] {
                    let x = Tensor::randn(0f32, 1.0, (1, inputs, columns), &device).unwrap();
                    let ours: Vec<f32> = layer
                        .forward_tensor(&x)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1()
                        .unwrap();
                    let theirs = reference.forward(&x).unwrap();
                    let bias_t = Tensor::new(bias.as_slice(), &device).unwrap();
                    let theirs: Vec<f32> = theirs
                        .broadcast_add(&bias_t)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1()
                        .unwrap();
                    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
                    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                        // Same quantized integers on both sides: only the
                        // order of f32 additions differs.
                        assert!(
                            (a - b).abs() <= 1e-4 * scale,
                            "{dtype:?} {} inputs {inputs} at {k}: {a} vs {b}",
                            isa.name()
                        );
                    }
                }
            }
        }
    }

    fn packed_clone(p: &PackedMatrix) -> PackedMatrix {
        PackedMatrix::new(p.kind, p.rows, p.columns, p.bytes.clone()).unwrap()
    }

    #[test]
    fn malformed_matrices_and_biases_are_refused() {
        assert!(PackedMatrix::new(WeightType::Q8_0, 2, 33, vec![0; 68]).is_err());
        assert!(PackedMatrix::new(WeightType::Q8_0, 2, 32, vec![0; 67]).is_err());
        let ok = PackedMatrix::new(WeightType::Q8_0, 2, 32, vec![0; 68]).unwrap();
        assert!(QLinear::new(Arc::new(ok), Some(vec![0.0; 3])).is_err());
    }
}
