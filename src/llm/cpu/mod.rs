//! The CPU inference engine's hot path: quantized mat-mul kernels, the
//! persistent thread pool that runs them, and the quantized linear layer the
//! transformer calls.
//!
//! It owns how weights sit in memory on the CPU and how the cores share the
//! work. It must not know about tokens, prompts or model families.

pub mod linear;
pub mod ops;
pub mod pool;
pub mod quant;

pub use linear::{PackedMatrix, QLinear, weight_type_of};
