//! The CPU inference engine's hot path: quantized mat-mul kernels, the
//! persistent thread pool that runs them, the quantized linear layer the
//! transformer calls, and the element-wise steps worth fusing.
//!
//! - `quant`: dot products per GGML block format and instruction set (std only)
//! - `pool`: the threads, spinning briefly between jobs, then sleeping
//! - `linear`: `QLinear`, tiles of weight rows spread over the pool
//! - `ops`: the fused `act(gate) * up` of the feed-forward block
//!
//! It owns how weights sit in memory on the CPU and how the cores share the
//! work. It must not know about tokens, prompts or model families.

pub mod linear;
pub mod ops;
pub mod pool;
pub mod quant;

pub use linear::{PackedMatrix, QLinear, weight_type_of};
