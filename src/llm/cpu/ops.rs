//! Small element-wise steps of the forward pass fused and spread over the
//! thread pool, where the profile showed them: the gated activation of the
//! feed-forward block (`act(gate) * up`), one pass instead of two and on
//! every core instead of one.

use candle_core::{Device, Result, Tensor};

use super::linear::{Disjoint, with_cpu_slice};
use super::pool;

/// The activation applied to the gate projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// SiLU (Qwen, Llama).
    Silu,
    /// GELU, tanh form (Gemma), as candle computes it.
    Gelu,
}

impl Gate {
    #[inline]
    fn apply(self, v: f32) -> f32 {
        match self {
            Gate::Silu => v / (1.0 + (-v).exp()),
            Gate::Gelu => {
                const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
                0.5 * v * (1.0 + f32::tanh(SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v)))
            }
        }
    }
}

/// `gate(a) * b` for two CPU f32 tensors of one shape.
pub fn gated(activation: Gate, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.shape() != b.shape() {
        candle_core::bail!(
            "gate {:?} and up {:?} differ in shape",
            a.shape(),
            b.shape()
        );
    }
    let (a, b) = (a.contiguous()?, b.contiguous()?);
    let mut out = vec![0f32; a.elem_count()];
    let pool = pool::global();
    let threads = pool.threads();
    let len = out.len();
    let target = Disjoint::new(&mut out);
    with_cpu_slice(&a, |xa| {
        with_cpu_slice(&b, |xb| {
            pool.run(&|t| {
                let range = len * t / threads..len * (t + 1) / threads;
                // SAFETY: the threads' ranges do not overlap.
                let out = unsafe { target.slice(range.clone()) };
                for ((o, &x), &y) in out.iter_mut().zip(&xa[range.clone()]).zip(&xb[range]) {
                    *o = activation.apply(x) * y;
                }
            })
        })
    })??;
    Tensor::from_vec(out, a.shape(), &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same values as candle's own ops, element for element.
    #[test]
    fn fused_gates_equal_candles_unfused_ops() {
        let device = Device::Cpu;
        let a = Tensor::randn(0f32, 3.0, (3, 7, 101), &device).unwrap();
        let b = Tensor::randn(0f32, 1.0, (3, 7, 101), &device).unwrap();
        for (gate, reference) in [
            (Gate::Silu, candle_nn::ops::silu(&a).unwrap()),
            (Gate::Gelu, a.gelu().unwrap()),
        ] {
            let ours: Vec<f32> = gated(gate, &a, &b)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let theirs: Vec<f32> = (reference * &b)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(ours, theirs, "{gate:?}");
        }
        let wrong = Tensor::zeros((3, 7, 100), candle_core::DType::F32, &device).unwrap();
        assert!(gated(Gate::Silu, &a, &wrong).is_err());
    }
}
