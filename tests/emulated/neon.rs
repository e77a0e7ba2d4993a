//! The NEON kernels against the portable ones, built on its own for aarch64
//! and run under an emulator by `tests/neon.rs` (the kernels depend only on
//! `std`, so this file pulls them in by path, without the crate).
//!
//! The portable (scalar) kernels are checked against candle on x86_64 by the
//! unit tests; agreeing with them here checks the NEON paths transitively.
//! Prints the number of comparisons and exits non-zero on the first mismatch.
//! Build with `--cfg kernel_check` (for the shared test generator).

#[path = "../../src/llm/cpu/quant/mod.rs"]
#[allow(dead_code)]
mod quant;

use quant::testing::Rng;
use quant::{BlockQ8, BlockQ8K, Isa, WeightType, f32_to_f16, kquant, q8};


/// Random blocks with finite f16 scales at the places each format keeps
/// them; `fill` sets every other byte to 0x00 or 0xFF for the extremes.
fn weights(kind: WeightType, rows: usize, blocks: usize, fill: Option<u8>, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rows * blocks {
        let mut block: Vec<u8> = (0..kind.block_bytes())
            .map(|_| fill.unwrap_or(rng.next_u64() as u8))
            .collect();
        let mut scale = |at: usize, rng: &mut Rng| {
            let value = rng.range(0.001, 0.041);
            block[at..at + 2].copy_from_slice(&f32_to_f16(value).to_le_bytes());
        };
        match kind {
            WeightType::Q6K => scale(208, rng),
            WeightType::Q4K | WeightType::Q5K => {
                scale(0, rng);
                scale(2, rng);
            }
            _ => scale(0, rng),
        }
        bytes.extend(block);
    }
    bytes
}

fn activations(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|i| rng.range(-1.0, 1.0) * if i % 5 == 0 { 8.0 } else { 1.0 }).collect()
}

struct Check {
    count: usize,
}

impl Check {
    fn close(&mut self, what: &str, neon: f32, scalar: f32, magnitude: f32) {
        self.count += 1;
        let tolerance = 1e-5 * magnitude + 1e-6;
        if (neon - scalar).abs() > tolerance {
            eprintln!("MISMATCH {what}: neon {neon} scalar {scalar} (tolerance {tolerance})");
            std::process::exit(1);
        }
    }
}

/// Sum of |w·x| over the row: the scale the tolerance is relative to.
fn magnitude(kind: WeightType, row: &[u8], x: &[f32]) -> f32 {
    let mut values = vec![0f32; x.len()];
    if kind.is_k_quant() {
        kquant::dequantize_row(kind, row, &mut values);
    } else {
        q8::dequantize_row(kind, row, &mut values);
    }
    values.iter().zip(x).map(|(w, x)| (w * x).abs()).sum::<f32>() + 1.0
}

fn main() {
    assert_eq!(Isa::best(), Isa::Neon, "this check must run on aarch64");
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut check = Check { count: 0 };
    let kinds = [
        WeightType::Q8_0,
        WeightType::Q4_0,
        WeightType::Q5_0,
        WeightType::Q4K,
        WeightType::Q5K,
        WeightType::Q6K,
    ];
    for kind in kinds {
        for blocks in [1, 2, 3, 5] {
            for fill in [None, Some(0x00), Some(0xff)] {
                let columns = blocks * kind.block_values();
                let row_bytes = kind.row_bytes(columns);
                let w = weights(kind, 4, blocks, fill, &mut rng);
                let rows: Vec<&[u8]> = w.chunks_exact(row_bytes).collect();
                let xs: Vec<Vec<f32>> = (0..4).map(|_| activations(columns, &mut rng)).collect();
                let what = |op: &str, r: usize, i: usize| format!("{kind:?} {op} blocks {blocks} fill {fill:?} row {r} input {i}");
                if kind.is_k_quant() {
                    let a: Vec<Vec<BlockQ8K>> = xs
                        .iter()
                        .map(|x| {
                            let mut a = vec![BlockQ8K::default(); blocks];
                            kquant::quantize_q8k(x, &mut a);
                            a
                        })
                        .collect();
                    let group = [0, 1, 2, 3].map(|i| a[i].as_slice());
                    for (r, row) in rows.iter().enumerate() {
                        let neon4 = kquant::dot4(Isa::Neon, kind, row, group);
                        let scalar4 = kquant::dot4(Isa::Scalar, kind, row, group);
                        for i in 0..4 {
                            let m = magnitude(kind, row, &xs[i]);
                            let neon = kquant::dot(Isa::Neon, kind, row, &a[i]);
                            let scalar = kquant::dot(Isa::Scalar, kind, row, &a[i]);
                            check.close(&what("dot", r, i), neon, scalar, m);
                            check.close(&what("dot4", r, i), neon4[i], scalar4[i], m);
                        }
                    }
                } else {
                    let a: Vec<Vec<BlockQ8>> = xs
                        .iter()
                        .map(|x| {
                            let mut a = vec![BlockQ8::default(); blocks];
                            q8::quantize_q8(x, &mut a);
                            a
                        })
                        .collect();
                    let group = [0, 1, 2, 3].map(|i| a[i].as_slice());
                    let four_rows = [0, 1, 2, 3].map(|r| rows[r]);
                    for i in 0..4 {
                        let neon_rows = q8::dot_rows4(Isa::Neon, kind, four_rows, &a[i]);
                        for (r, row) in rows.iter().enumerate() {
                            let m = magnitude(kind, row, &xs[i]);
                            let scalar = q8::dot(Isa::Scalar, kind, row, &a[i]);
                            check.close(&what("dot", r, i), q8::dot(Isa::Neon, kind, row, &a[i]), scalar, m);
                            check.close(&what("dot4", r, i), q8::dot4(Isa::Neon, kind, row, group)[i], scalar, m);
                            check.close(&what("dot_rows4", r, i), neon_rows[r], scalar, m);
                        }
                    }
                }
            }
        }
    }
    println!("neon kernels agree with the portable ones: {} comparisons", check.count);
}
