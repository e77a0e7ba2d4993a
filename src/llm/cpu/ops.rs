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
    /// GELU, tanh form (Gemma).
    Gelu,
}

impl Gate {
    #[inline]
    fn apply(self, v: f32) -> f32 {
        match self {
            Gate::Silu => v / (1.0 + (-v).exp()),
            Gate::Gelu => {
                // tanh through one exp: libm's tanhf cost Gemma 10% of its
                // prompt time. The formula keeps candle's (and llama.cpp's)
                // `0.5·v·(1 + tanh z)`, cancellation where tanh z nears -1
                // included, so values differ from theirs by rounding only.
                const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
                let z = SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v);
                let tanh = 1.0 - 2.0 / ((2.0 * z).exp() + 1.0);
                0.5 * v * (1.0 + tanh)
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

    /// SiLU gives candle's values exactly, GELU within a few f32 roundings
    /// of them (tanh comes from an exp here, from libm's tanhf there).
    #[test]
    fn fused_gates_equal_candles_unfused_ops() {
        let device = Device::Cpu;
        let a = Tensor::randn(0f32, 3.0, (3, 7, 101), &device).unwrap();
        let b = Tensor::randn(0f32, 1.0, (3, 7, 101), &device).unwrap();
        let values = |t: &Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
        let silu = (candle_nn::ops::silu(&a).unwrap() * &b).unwrap();
        assert_eq!(values(&gated(Gate::Silu, &a, &b).unwrap()), values(&silu));
        let gelu = values(&(a.gelu().unwrap() * &b).unwrap());
        let ours = values(&gated(Gate::Gelu, &a, &b).unwrap());
        for ((&v, &expected), got) in values(&a).iter().zip(&gelu).zip(ours) {
            // The error of 1 + tanh z is absolute (about one ulp of 1), so
            // the bound scales with |v|, not with the result.
            let bound = 4.0 * f32::EPSILON * (v.abs() + expected.abs());
            assert!(
                (got - expected).abs() <= bound,
                "gelu({v}): {got} vs {expected}"
            );
        }
        let wrong = Tensor::zeros((3, 7, 100), candle_core::DType::F32, &device).unwrap();
        assert!(gated(Gate::Silu, &a, &wrong).is_err());
    }
}
