//! Quantized dot products for GGML block formats, in plain `std` Rust with
//! SIMD paths chosen at run time.
//!
//! A weight row is kept exactly as GGUF stores it (raw block bytes); the
//! activations it multiplies are quantized once per mat-mul into [`BlockQ8`]
//! (for the 32-value formats) or [`BlockQ8K`] (for the 256-value k-quants),
//! so every dot product is integer arithmetic scaled per block, as in
//! llama.cpp.
//!
//! This module depends on nothing but `std`, so the same files also build
//! for aarch64 on their own and run under an emulator (`tests/emulated/`).
//! It must not know about tensors, threads or models.

pub mod kquant;
pub mod q8;
/// Also built for `tests/emulated/neon.rs`, which passes `--cfg kernel_check`.
#[cfg(any(test, kernel_check))]
pub mod testing;

/// An instruction set the kernels have a path for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust; correct everywhere, used where nothing better is there.
    Scalar,
    /// x86_64 with AVX2, FMA and F16C (every x86 server core since 2013).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// aarch64 Advanced SIMD, part of every 64-bit ARM core.
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Isa {
    /// The fastest instruction set this CPU has a path for.
    pub fn best() -> Isa {
        *Isa::available().last().unwrap_or(&Isa::Scalar)
    }

    /// Every path that can run on this CPU, slowest first; tests run them all.
    pub fn available() -> Vec<Isa> {
        let mut all = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            all.push(Isa::Avx2);
        }
        #[cfg(target_arch = "aarch64")]
        all.push(Isa::Neon);
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2+fma",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "neon",
        }
    }
}

/// The GGML weight formats with kernels here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightType {
    Q8_0,
    Q4_0,
    Q5_0,
    Q4K,
    Q5K,
    Q6K,
}

impl WeightType {
    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            WeightType::Q8_0 | WeightType::Q4_0 | WeightType::Q5_0 => 32,
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => 256,
        }
    }

    /// Bytes per block, as GGUF stores it.
    pub fn block_bytes(self) -> usize {
        match self {
            WeightType::Q8_0 => 34,
            WeightType::Q4_0 => 18,
            WeightType::Q5_0 => 22,
            WeightType::Q4K => 144,
            WeightType::Q5K => 176,
            WeightType::Q6K => 210,
        }
    }

    /// Whether activations are quantized to [`BlockQ8K`] (else [`BlockQ8`]).
    pub fn is_k_quant(self) -> bool {
        self.block_values() == 256
    }

    /// Bytes of one row of `columns` values (`columns` must be whole blocks).
    pub fn row_bytes(self, columns: usize) -> usize {
        columns / self.block_values() * self.block_bytes()
    }
}

/// 32 activations quantized to 8 bits: `x[i] ≈ d * qs[i]`. The scale is kept
/// as f32 but rounded through f16, as GGML's own Q8_0 stores it, so sums
/// match the reference exactly up to float summation order.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct BlockQ8 {
    pub d: f32,
    pub qs: [i8; 32],
}

/// 256 activations quantized to 8 bits for the k-quant formats, with the sum
/// of every 16 quants (the k-quants' minimums multiply those sums).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}

impl Default for BlockQ8K {
    fn default() -> Self {
        BlockQ8K {
            d: 0.0,
            qs: [0; 256],
            bsums: [0; 16],
        }
    }
}

/// IEEE half precision bits to f32 (subnormals, infinities and NaN included).
#[inline(always)]
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits & 0x8000) as u32) << 16;
    let exponent = ((bits >> 10) & 0x1f) as u32;
    let mantissa = (bits & 0x3ff) as u32;
    if exponent != 0 && exponent != 0x1f {
        return f32::from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
    if exponent == 0x1f {
        return f32::from_bits(sign | 0x7f80_0000 | (mantissa << 13));
    }
    // Subnormal or zero: mantissa * 2^-24.
    let magnitude = mantissa as f32 * (1.0 / 16_777_216.0);
    if sign != 0 { -magnitude } else { magnitude }
}

/// f32 to the nearest IEEE half (ties to even), as bits.
pub fn f32_to_f16(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        let nan = if mantissa != 0 { 0x200 } else { 0 };
        return sign | 0x7c00 | nan;
    }
    let unbiased = exponent - 127;
    if unbiased > 15 {
        return sign | 0x7c00;
    }
    if unbiased >= -14 {
        // Normal half: keep 10 mantissa bits, round the 13 dropped ones.
        let half = (((unbiased + 15) as u32) << 10) | (mantissa >> 13);
        let rest = mantissa & 0x1fff;
        let round_up = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
        // A carry out of the mantissa correctly bumps the exponent.
        return sign | (half + u32::from(round_up)) as u16;
    }
    if unbiased < -25 {
        return sign;
    }
    // Subnormal half: the value in units of 2^-24, rounded to even.
    let full = mantissa | 0x80_0000;
    // value = full * 2^(unbiased - 23), so in units of 2^-24 it is full >> shift.
    let shift = (-unbiased - 1) as u32;
    let units = full >> shift;
    let rest = full & ((1 << shift) - 1);
    let halfway = 1 << (shift - 1);
    let round_up = rest > halfway || (rest == halfway && units & 1 == 1);
    sign | (units + u32::from(round_up)) as u16
}

/// `value` rounded to the nearest half and back.
#[inline]
pub fn round_to_f16(value: f32) -> f32 {
    f16_to_f32(f32_to_f16(value))
}

/// Reads the little-endian f16 at `bytes[at..at + 2]` as f32.
#[inline(always)]
pub fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every half value survives a round trip, and f32 → f16 agrees with
    /// exhaustive nearest-value search on a sweep of values between halves.
    #[test]
    fn half_conversions_round_trip_and_round_to_nearest_even() {
        for bits in 0..=u16::MAX {
            let value = f16_to_f32(bits);
            if value.is_nan() {
                assert!(f16_to_f32(f32_to_f16(value)).is_nan());
            } else {
                assert_eq!(f32_to_f16(value), bits, "half {bits:#06x} = {value}");
            }
        }
        // Midpoints between neighbouring positive halves round to the even one.
        for bits in 0..0x7bffu16 {
            let (low, high) = (f16_to_f32(bits) as f64, f16_to_f32(bits + 1) as f64);
            let middle = ((low + high) / 2.0) as f32;
            let expected = if bits % 2 == 0 { bits } else { bits + 1 };
            assert_eq!(f32_to_f16(middle), expected, "between {low} and {high}");
            let nudged = f32::from_bits(middle.to_bits() + 1);
            assert_eq!(f32_to_f16(nudged), bits + 1, "just above {middle}");
        }
    }
}
