//! Kernels for the 32-value formats: Q8_0, Q4_0 and Q5_0 weight rows against
//! activations quantized to [`BlockQ8`].
//!
//! Every weight block is first widened to 32 signed bytes (`q - 8` for Q4_0,
//! `q - 16` for Q5_0), so one integer dot product serves all three formats.
//! It owns those formats' arithmetic only; choosing rows and threads is the
//! caller's job.

use super::{BlockQ8, Isa, WeightType, f16_at, round_to_f16};

/// Quantizes `x` (32 values per block of `out`) as GGML's Q8_0 does: scale
/// `max|x| / 127` (stored rounded through f16), values rounded half away
/// from zero.
pub fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    debug_assert_eq!(x.len(), out.len() * 32);
    for (block, values) in out.iter_mut().zip(x.chunks_exact(32)) {
        let amax = values.iter().fold(0f32, |max, v| max.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = round_to_f16(d);
        for (q, &v) in block.qs.iter_mut().zip(values) {
            *q = super::kquant::round_to_i8(v * inverse);
        }
    }
}

/// Dot product of one weight row of `kind` (Q8_0, Q4_0 or Q5_0) with `a`.
pub fn dot(isa: Isa, kind: WeightType, w: &[u8], a: &[BlockQ8]) -> f32 {
    debug_assert_eq!(w.len(), a.len() * kind.block_bytes());
    match isa {
        Isa::Scalar => scalar::dot(kind, w, a),
        // SAFETY: `Isa::Avx2` is only produced after detecting AVX2, FMA and F16C.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot(kind, w, a) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => neon::dot(kind, w, a),
    }
}

/// One weight row against four activation rows, widening each weight block
/// once: the micro-kernel of prompt processing.
pub fn dot4(isa: Isa, kind: WeightType, w: &[u8], a: [&[BlockQ8]; 4]) -> [f32; 4] {
    debug_assert!(
        a.iter()
            .all(|row| w.len() == row.len() * kind.block_bytes())
    );
    match isa {
        // SAFETY: as in `dot`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot4(kind, w, a) },
        _ => a.map(|row| dot(isa, kind, w, row)),
    }
}

/// Four weight rows against one activation row: the mat-vec of decoding.
/// Four independent rows keep four memory streams and accumulators in
/// flight, and each activation block is loaded once for all of them.
pub fn dot_rows4(isa: Isa, kind: WeightType, w: [&[u8]; 4], a: &[BlockQ8]) -> [f32; 4] {
    debug_assert!(
        w.iter()
            .all(|row| row.len() == a.len() * kind.block_bytes())
    );
    match isa {
        // SAFETY: as in `dot`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot_rows4(kind, w, a) },
        _ => w.map(|row| dot(isa, kind, row, a)),
    }
}

/// Dequantizes one row of `kind` blocks into `out` (32 values per block).
pub fn dequantize_row(kind: WeightType, w: &[u8], out: &mut [f32]) {
    let bytes = kind.block_bytes();
    for (block, values) in w.chunks_exact(bytes).zip(out.chunks_exact_mut(32)) {
        let d = f16_at(block, 0);
        let quants = scalar::widen(kind, block);
        for (v, q) in values.iter_mut().zip(quants) {
            *v = d * q as f32;
        }
    }
}

mod scalar {
    use super::*;

    /// A block's 32 values as signed integers (before scaling).
    pub fn widen(kind: WeightType, block: &[u8]) -> [i8; 32] {
        let mut q = [0i8; 32];
        match kind {
            WeightType::Q8_0 => {
                for (q, &b) in q.iter_mut().zip(&block[2..34]) {
                    *q = b as i8;
                }
            }
            WeightType::Q4_0 => {
                for (j, &b) in block[2..18].iter().enumerate() {
                    q[j] = (b & 0x0f) as i8 - 8;
                    q[j + 16] = (b >> 4) as i8 - 8;
                }
            }
            WeightType::Q5_0 => {
                let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                let bit = |j: usize| (((high >> j) & 1) as u8) << 4;
                for (j, &b) in block[6..22].iter().enumerate() {
                    q[j] = ((b & 0x0f) | bit(j)) as i8 - 16;
                    q[j + 16] = ((b >> 4) | bit(j + 16)) as i8 - 16;
                }
            }
            _ => unreachable!("{kind:?} is not a 32-value format"),
        }
        q
    }

    pub fn dot(kind: WeightType, w: &[u8], a: &[BlockQ8]) -> f32 {
        let mut sum = 0f32;
        for (block, act) in w.chunks_exact(kind.block_bytes()).zip(a) {
            let q = widen(kind, block);
            let integer: i32 = q
                .iter()
                .zip(&act.qs)
                .map(|(&x, &y)| x as i32 * y as i32)
                .sum();
            sum += integer as f32 * (f16_at(block, 0) * act.d);
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// How one 32-value format widens a block to 32 signed bytes; one
    /// implementation per format, so the hot loops hold no format branch.
    trait Widen {
        const BYTES: usize;
        /// # Safety
        /// `block` points at a whole block; AVX2 is available.
        unsafe fn widen(block: *const u8) -> __m256i;
    }

    struct Q8_0;
    struct Q4_0;
    struct Q5_0;

    impl Widen for Q8_0 {
        const BYTES: usize = 34;
        #[inline(always)]
        unsafe fn widen(block: *const u8) -> __m256i {
            unsafe { _mm256_loadu_si256(block.add(2) as *const __m256i) }
        }
    }

    impl Widen for Q4_0 {
        const BYTES: usize = 18;
        #[inline(always)]
        unsafe fn widen(block: *const u8) -> __m256i {
            unsafe { _mm256_sub_epi8(nibbles(block.add(2)), _mm256_set1_epi8(8)) }
        }
    }

    impl Widen for Q5_0 {
        const BYTES: usize = 22;
        #[inline(always)]
        unsafe fn widen(block: *const u8) -> __m256i {
            unsafe {
                let nibbles = nibbles(block.add(6));
                let high = (block.add(2) as *const u32).read_unaligned();
                // 0xF0 where the fifth bit is clear: `nibble | 0xF0` is
                // `nibble - 16` as a signed byte; with the bit set the value
                // `nibble + 16 - 16` is the nibble itself.
                let clear = _mm256_andnot_si256(bit_mask(high), _mm256_set1_epi8(-16));
                _mm256_or_si256(nibbles, clear)
            }
        }
    }

    /// 16 bytes of nibble pairs as 32 bytes: low nibbles, then high nibbles.
    #[inline(always)]
    unsafe fn nibbles(at: *const u8) -> __m256i {
        unsafe {
            let packed = _mm_loadu_si128(at as *const __m128i);
            let low_mask = _mm_set1_epi8(0x0f);
            let low = _mm_and_si128(packed, low_mask);
            let high = _mm_and_si128(_mm_srli_epi16(packed, 4), low_mask);
            _mm256_set_m128i(high, low)
        }
    }

    /// Byte `i` is 0xFF where bit `i` of `bits` is set, else 0.
    #[inline(always)]
    unsafe fn bit_mask(bits: u32) -> __m256i {
        unsafe {
            // Spread byte k of `bits` over bytes 8k..8k+8, then set every bit
            // but bit (i % 8) of each byte: the byte is all ones exactly when
            // its own bit was set.
            let spread = _mm256_shuffle_epi8(
                _mm256_set1_epi32(bits as i32),
                _mm256_set_epi64x(
                    0x0303_0303_0303_0303,
                    0x0202_0202_0202_0202,
                    0x0101_0101_0101_0101,
                    0,
                ),
            );
            let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
            _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1))
        }
    }

    /// The block's f16 scale times the activation's, via F16C.
    #[inline(always)]
    unsafe fn scale(block: *const u8, activation: f32) -> __m256 {
        unsafe {
            let bits = (block as *const u16).read_unaligned();
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)));
            _mm256_set1_ps(d * activation)
        }
    }

    /// Eight lanes of `sum(w * a)` over 32 signed bytes, as floats.
    #[inline(always)]
    unsafe fn products(abs_w: __m256i, w: __m256i, a: __m256i) -> __m256 {
        unsafe {
            // maddubs multiplies unsigned by signed bytes: move w's sign onto
            // a. |w| ≤ 128 and |a| ≤ 127, so pair sums stay within i16.
            let pairs = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(a, w));
            _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }

    #[inline(always)]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        unsafe {
            let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
        }
    }

    #[inline(always)]
    unsafe fn load(act: &BlockQ8) -> __m256i {
        // SAFETY: `qs` is 32 bytes.
        unsafe { _mm256_loadu_si256(act.qs.as_ptr() as *const __m256i) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_of<W: Widen>(w: &[u8], a: &[BlockQ8]) -> f32 {
        assert!(w.len() >= a.len() * W::BYTES);
        let base = w.as_ptr();
        // Two accumulators, so consecutive blocks' FMAs do not wait on each
        // other's latency.
        let mut acc = [_mm256_setzero_ps(); 2];
        // SAFETY: block `i` lies inside `w` (asserted above).
        unsafe {
            for (i, act) in a.iter().enumerate() {
                let block = base.add(i * W::BYTES);
                let q = W::widen(block);
                let sum = products(_mm256_sign_epi8(q, q), q, load(act));
                acc[i & 1] = _mm256_fmadd_ps(sum, scale(block, act.d), acc[i & 1]);
            }
            horizontal_sum(_mm256_add_ps(acc[0], acc[1]))
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot4_of<W: Widen>(w: &[u8], a: [&[BlockQ8]; 4]) -> [f32; 4] {
        let blocks = a[0].len();
        assert!(w.len() >= blocks * W::BYTES && a.iter().all(|row| row.len() == blocks));
        let base = w.as_ptr();
        let mut acc = [_mm256_setzero_ps(); 4];
        // SAFETY: block `i` lies inside `w` and every row (asserted above).
        unsafe {
            for i in 0..blocks {
                let block = base.add(i * W::BYTES);
                let q = W::widen(block);
                let abs_q = _mm256_sign_epi8(q, q);
                let bits = (block as *const u16).read_unaligned();
                let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)));
                for (acc, row) in acc.iter_mut().zip(a) {
                    let act = row.get_unchecked(i);
                    let scale = _mm256_set1_ps(d * act.d);
                    *acc = _mm256_fmadd_ps(products(abs_q, q, load(act)), scale, *acc);
                }
            }
            horizontal_sums(acc)
        }
    }

    /// How far ahead of the current block the bytes are requested. Rows of
    /// a tile lie back to back, so this runs a few rows ahead; measured on a
    /// 145 MB matrix, 4 KiB took Q5_0 decode from 3.7 to 6.2 GB/s per core.
    const PREFETCH: usize = 4096;

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn dot_rows4_of<W: Widen>(w: [&[u8]; 4], a: &[BlockQ8]) -> [f32; 4] {
        assert!(w.iter().all(|row| row.len() >= a.len() * W::BYTES));
        let bases = w.map(|row| row.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        // SAFETY: block `i` lies inside every row (asserted above).
        unsafe {
            for (i, act) in a.iter().enumerate() {
                let y = load(act);
                for (acc, base) in acc.iter_mut().zip(bases) {
                    let block = base.add(i * W::BYTES);
                    _mm_prefetch::<_MM_HINT_T0>(block.wrapping_add(PREFETCH) as *const i8);
                    let q = W::widen(block);
                    let sum = products(_mm256_sign_epi8(q, q), q, y);
                    *acc = _mm256_fmadd_ps(sum, scale(block, act.d), *acc);
                }
            }
            horizontal_sums(acc)
        }
    }

    /// The horizontal sums of four vectors at once.
    #[inline(always)]
    unsafe fn horizontal_sums(v: [__m256; 4]) -> [f32; 4] {
        unsafe {
            let pairs01 = _mm256_hadd_ps(v[0], v[1]);
            let pairs23 = _mm256_hadd_ps(v[2], v[3]);
            let quads = _mm256_hadd_ps(pairs01, pairs23);
            let sums = _mm_add_ps(
                _mm256_castps256_ps128(quads),
                _mm256_extractf128_ps(quads, 1),
            );
            let mut out = [0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), sums);
            out
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C are available.
    pub unsafe fn dot_rows4(kind: WeightType, w: [&[u8]; 4], a: &[BlockQ8]) -> [f32; 4] {
        unsafe {
            match kind {
                WeightType::Q8_0 => dot_rows4_of::<Q8_0>(w, a),
                WeightType::Q4_0 => dot_rows4_of::<Q4_0>(w, a),
                WeightType::Q5_0 => dot_rows4_of::<Q5_0>(w, a),
                _ => unreachable!("{kind:?} is not a 32-value format"),
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C are available.
    pub unsafe fn dot(kind: WeightType, w: &[u8], a: &[BlockQ8]) -> f32 {
        unsafe {
            match kind {
                WeightType::Q8_0 => dot_of::<Q8_0>(w, a),
                WeightType::Q4_0 => dot_of::<Q4_0>(w, a),
                WeightType::Q5_0 => dot_of::<Q5_0>(w, a),
                _ => unreachable!("{kind:?} is not a 32-value format"),
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C are available.
    pub unsafe fn dot4(kind: WeightType, w: &[u8], a: [&[BlockQ8]; 4]) -> [f32; 4] {
        unsafe {
            match kind {
                WeightType::Q8_0 => dot4_of::<Q8_0>(w, a),
                WeightType::Q4_0 => dot4_of::<Q4_0>(w, a),
                WeightType::Q5_0 => dot4_of::<Q5_0>(w, a),
                _ => unreachable!("{kind:?} is not a 32-value format"),
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use std::arch::aarch64::*;

    /// A weight block's 32 values as two vectors of signed bytes.
    #[inline]
    fn widen(kind: WeightType, block: &[u8]) -> (int8x16_t, int8x16_t) {
        // SAFETY: every load reads inside `block`, a whole block of `kind`.
        unsafe {
            match kind {
                WeightType::Q8_0 => (
                    vld1q_s8(block.as_ptr().add(2) as *const i8),
                    vld1q_s8(block.as_ptr().add(18) as *const i8),
                ),
                WeightType::Q4_0 => {
                    let (low, high) = nibbles(block.as_ptr().add(2));
                    let eight = vdupq_n_s8(8);
                    (
                        vsubq_s8(vreinterpretq_s8_u8(low), eight),
                        vsubq_s8(vreinterpretq_s8_u8(high), eight),
                    )
                }
                _ => {
                    let (low, high) = nibbles(block.as_ptr().add(6));
                    let bits: [u8; 8] = [1, 2, 4, 8, 16, 32, 64, 128];
                    let bits = vld1q_u8([bits, bits].as_flattened().as_ptr());
                    let set = |first: u8, second: u8| {
                        vtstq_u8(vcombine_u8(vdup_n_u8(first), vdup_n_u8(second)), bits)
                    };
                    let sixteen = vdupq_n_u8(0xf0);
                    // As on x86: OR 0xF0 into the nibbles whose fifth bit is clear.
                    let low = vorrq_u8(low, vbicq_u8(sixteen, set(block[2], block[3])));
                    let high = vorrq_u8(high, vbicq_u8(sixteen, set(block[4], block[5])));
                    (vreinterpretq_s8_u8(low), vreinterpretq_s8_u8(high))
                }
            }
        }
    }

    /// 16 bytes of nibble pairs: the low nibbles, then the high nibbles.
    #[inline]
    unsafe fn nibbles(at: *const u8) -> (uint8x16_t, uint8x16_t) {
        unsafe {
            let packed = vld1q_u8(at);
            (vandq_u8(packed, vdupq_n_u8(0x0f)), vshrq_n_u8(packed, 4))
        }
    }

    #[inline]
    fn integer_dot(q: (int8x16_t, int8x16_t), act: &BlockQ8) -> i32 {
        // SAFETY: `qs` is 32 bytes.
        unsafe {
            let y0 = vld1q_s8(act.qs.as_ptr());
            let y1 = vld1q_s8(act.qs.as_ptr().add(16));
            let mut sum = vpaddlq_s16(vmull_s8(vget_low_s8(q.0), vget_low_s8(y0)));
            sum = vpadalq_s16(sum, vmull_high_s8(q.0, y0));
            sum = vpadalq_s16(sum, vmull_s8(vget_low_s8(q.1), vget_low_s8(y1)));
            sum = vpadalq_s16(sum, vmull_high_s8(q.1, y1));
            vaddvq_s32(sum)
        }
    }

    pub fn dot(kind: WeightType, w: &[u8], a: &[BlockQ8]) -> f32 {
        let mut sum = 0f32;
        for (block, act) in w.chunks_exact(kind.block_bytes()).zip(a) {
            let integer = integer_dot(widen(kind, block), act);
            sum += integer as f32 * (f16_at(block, 0) * act.d);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::super::f32_to_f16;
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor, ggml_file};
    use candle_core::{Device, Tensor};

    const FORMATS: [(WeightType, GgmlDType); 3] = [
        (WeightType::Q8_0, GgmlDType::Q8_0),
        (WeightType::Q4_0, GgmlDType::Q4_0),
        (WeightType::Q5_0, GgmlDType::Q5_0),
    ];

    use super::super::testing::Rng;

    /// Random blocks with finite scales; every third block of a row uses the
    /// extreme quants (all bytes 0x00 or 0xFF) to reach the kernels' edges.
    fn random_weights(kind: WeightType, rows: usize, blocks: usize, rng: &mut Rng) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(rows * blocks * kind.block_bytes());
        for b in 0..rows * blocks {
            let scale = 0.001 + 0.05 * rng.unit();
            bytes.extend_from_slice(&f32_to_f16(scale).to_le_bytes());
            let fill = match b % 6 {
                2 => Some(0x00),
                5 => Some(0xff),
                _ => None,
            };
            for _ in 2..kind.block_bytes() {
                bytes.push(fill.unwrap_or(rng.next_u64() as u8));
            }
        }
        bytes
    }

    fn candle_values(
        kind: (WeightType, GgmlDType),
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Vec<f32> {
        let tensor =
            ggml_file::qtensor_from_ggml(kind.1, bytes, vec![rows, cols], &Device::Cpu).unwrap();
        let values: Tensor = tensor.dequantize(&Device::Cpu).unwrap();
        values.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn random_activations(len: usize, rng: &mut Rng) -> Vec<f32> {
        (0..len)
            .map(|i| rng.range(-1.0, 1.0) * if i % 7 == 0 { 4.0 } else { 1.0 })
            .collect()
    }

    #[test]
    fn dequantized_rows_equal_candles() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for format in FORMATS {
            let (rows, blocks) = (3, 5);
            let bytes = random_weights(format.0, rows, blocks, &mut rng);
            let mut ours = vec![0f32; rows * blocks * 32];
            let row_bytes = format.0.row_bytes(blocks * 32);
            for (row, out) in bytes
                .chunks_exact(row_bytes)
                .zip(ours.chunks_exact_mut(blocks * 32))
            {
                dequantize_row(format.0, row, out);
            }
            assert_eq!(
                ours,
                candle_values(format, &bytes, rows, blocks * 32),
                "{:?}",
                format.0
            );
        }
    }

    #[test]
    fn activations_quantize_bit_identically_to_candle() {
        let mut rng = Rng(42);
        let mut x = random_activations(32 * 9, &mut rng);
        x[32..64].fill(0.0);
        x[64] = 1e-30;
        let mut ours = vec![BlockQ8::default(); 9];
        quantize_q8(&x, &mut ours);
        let tensor = Tensor::from_vec(x, (9, 32), &Device::Cpu).unwrap();
        let theirs = QTensor::quantize(&tensor, GgmlDType::Q8_0).unwrap();
        let theirs = theirs.data().unwrap();
        for (a, b) in ours.iter().zip(theirs.chunks_exact(34)) {
            assert_eq!(f32_to_f16(a.d).to_le_bytes(), b[..2]);
            assert_eq!(a.qs.map(|q| q as u8), b[2..]);
        }
    }

    /// Every path against the reference: dequantized weights times the
    /// dequantized activations, summed in f64. Only f32 rounding of the block
    /// scales' products and of the running sum differs, so the error is a
    /// few ulps of the sum of |terms|: 1e-5 of it is generous yet would
    /// catch any wrong value (one wrong quant moves the sum by ≥ d·|a|,
    /// far above that). Against the unquantized activations the error is
    /// bounded by Q8 rounding: each activation is off by at most d/2.
    #[test]
    fn every_path_matches_the_reference_on_odd_shapes() {
        let mut rng = Rng(7);
        for format in FORMATS {
            for blocks in [1, 2, 3, 5, 9, 28] {
                let (rows, cols) = (7, blocks * 32);
                let weights = random_weights(format.0, rows, blocks, &mut rng);
                let w = candle_values(format, &weights, rows, cols);
                let x: Vec<Vec<f32>> = (0..4).map(|_| random_activations(cols, &mut rng)).collect();
                let quantized: Vec<Vec<BlockQ8>> = x
                    .iter()
                    .map(|x| {
                        let mut q = vec![BlockQ8::default(); blocks];
                        quantize_q8(x, &mut q);
                        q
                    })
                    .collect();
                let row_bytes = format.0.row_bytes(cols);
                for isa in Isa::available() {
                    for r in 0..rows {
                        let w_row = &weights[r * row_bytes..(r + 1) * row_bytes];
                        let w_values = &w[r * cols..(r + 1) * cols];
                        let four = dot4(
                            isa,
                            format.0,
                            w_row,
                            [0, 1, 2, 3].map(|i| quantized[i].as_slice()),
                        );
                        for i in 0..4 {
                            let one = dot(isa, format.0, w_row, &quantized[i]);
                            let (exact, magnitude, bound) =
                                reference(w_values, &quantized[i], &x[i]);
                            let what = format!(
                                "{:?} {} row {r} act {i} blocks {blocks}",
                                format.0,
                                isa.name()
                            );
                            assert!(
                                (one as f64 - exact).abs() <= 1e-5 * magnitude + 1e-6,
                                "{what}: {one} vs {exact}"
                            );
                            assert!(
                                (four[i] as f64 - exact).abs() <= 1e-5 * magnitude + 1e-6,
                                "{what}: dot4 {} vs {exact}",
                                four[i]
                            );
                            let unquantized: f64 = w_values
                                .iter()
                                .zip(&x[i])
                                .map(|(&w, &x)| w as f64 * x as f64)
                                .sum();
                            assert!(
                                (one as f64 - unquantized).abs() <= bound * 1.001 + 1e-5,
                                "{what}: {one} vs f32 {unquantized}, bound {bound}"
                            );
                        }
                    }
                    for i in 0..4 {
                        let picked = [0, 2, 3, 6];
                        let rows = picked.map(|r| &weights[r * row_bytes..(r + 1) * row_bytes]);
                        let four = dot_rows4(isa, format.0, rows, &quantized[i]);
                        for (k, r) in picked.into_iter().enumerate() {
                            let w_values = &w[r * cols..(r + 1) * cols];
                            let (exact, magnitude, _) = reference(w_values, &quantized[i], &x[i]);
                            assert!(
                                (four[k] as f64 - exact).abs() <= 1e-5 * magnitude + 1e-6,
                                "{:?} {} rows4 row {r}: {} vs {exact}",
                                format.0,
                                isa.name(),
                                four[k]
                            );
                        }
                    }
                }
            }
        }
    }

    /// (exact sum with quantized activations, sum of |terms|, bound of the
    /// error against unquantized activations).
    fn reference(w: &[f32], a: &[BlockQ8], x: &[f32]) -> (f64, f64, f64) {
        let (mut exact, mut magnitude, mut bound) = (0f64, 0f64, 0f64);
        for (block, (w, x)) in a.iter().zip(w.chunks_exact(32).zip(x.chunks_exact(32))) {
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
            for (j, &w) in w.iter().enumerate() {
                let term = w as f64 * block.d as f64 * block.qs[j] as f64;
                exact += term;
                magnitude += term.abs();
                // The f16 scale may round by 2^-11 relative: quants can then
                // be off by a half step plus that share of 127 steps.
                bound += (w as f64).abs() * (block.d as f64 / 2.0 + amax * 1e-3);
            }
        }
        (exact, magnitude, bound)
    }
}
