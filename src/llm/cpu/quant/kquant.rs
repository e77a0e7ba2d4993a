//! K-quant kernels: Q4_K, Q5_K and Q6_K weight rows (raw GGUF bytes) against
//! activations quantized to [`BlockQ8K`], plus Q8_K quantization and k-quant
//! dequantization.
//!
//! It owns the three block layouts and one integer formulation of each dot
//! product, written three times: portable scalar, AVX2+FMA and NEON. Every
//! path sums the same exact integers per block and only differs from the
//! others in the order of its f32 additions. `dot4` decodes each weight
//! block once and multiplies it against four activation rows, which is what
//! makes prompt processing fast.
//!
//! It must not touch anything but `std` and its parent module (the files are
//! also built alone for aarch64), must not allocate in `dot`/`dot4`, and must
//! not know about tensors, threads or models.
//!
//! Block layouts (256 values each; byte offsets):
//! - Q4_K, 144 bytes: `d: f16 @0`, `dmin: f16 @2`, `scales @4..16` (eight
//!   6-bit scales and eight 6-bit mins, packed), `qs @16..144` (nibbles).
//!   Each 64 values take 32 bytes of `qs`: low nibbles are the first 32
//!   values, high nibbles the next 32; value = `d*sc*q - dmin*m`.
//! - Q5_K, 176 bytes: as Q4_K with `qh @16..48` inserted before `qs @48..176`;
//!   bit `k` of `qh[l]` is the fifth bit of value `32*k + l`.
//! - Q6_K, 210 bytes: `ql @0..128`, `qh @128..192`, `scales: i8 @192..208`
//!   (one per 16 values), `d: f16 @208`; value = `d*sc*(q - 32)`.

use super::{BlockQ8K, Isa, WeightType, f16_at};

/// Values per k-quant block.
const QK_K: usize = 256;
const Q4K_BYTES: usize = 144;
const Q5K_BYTES: usize = 176;
const Q6K_BYTES: usize = 210;

/// Quantizes `x` (len = 256 * out.len()) to Q8_K exactly as GGML/candle does
/// (same scale and rounding, so results are bit-identical to candle's BlockQ8K::from_float).
///
/// Per block, with `max` the value of largest magnitude (the first one on
/// ties) and `iscale = -127 / max` in f32: `qs = round(iscale * x)` rounding
/// halves away from zero (candle's `f32::round`; GGML rounds them to even),
/// `d = 1 / iscale`, and `bsums` the sums of each 16 quants. An all-zero
/// block gets `d = 0` and zero quants.
pub fn quantize_q8k(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(
        x.len(),
        out.len() * QK_K,
        "quantize_q8k: {} values for {} blocks",
        x.len(),
        out.len()
    );
    for (xs, y) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        let mut max = 0f32;
        let mut amax = 0f32;
        for &v in xs {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            y.d = 0.0;
            y.qs = [0; QK_K];
            y.bsums = [0; QK_K / 16];
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in y.qs.iter_mut().zip(xs) {
            *q = round_to_i8(iscale * v);
        }
        for (sum, group) in y.bsums.iter_mut().zip(y.qs.chunks_exact(16)) {
            *sum = group.iter().map(|&q| i16::from(q)).sum();
        }
        y.d = 1.0 / iscale;
    }
}

/// `v.round().clamp(-128.0, 127.0) as i8` (halves away from zero, NaN to 0)
/// without `roundf`, which is a library call on baseline x86_64.
#[inline(always)]
pub(super) fn round_to_i8(v: f32) -> i8 {
    // Truncation toward zero saturates and maps NaN to 0; the clamp keeps the
    // ±1 below from overflowing and does not change any result.
    let t = (v as i32).clamp(-129, 128);
    // Exact while |v| < 129 (t and v then share an exponent or t is 0);
    // beyond that the result clamps to ±127/-128 either way.
    let fraction = v - t as f32;
    let rounded = t + i32::from(fraction >= 0.5) - i32::from(fraction <= -0.5);
    rounded.clamp(-128, 127) as i8
}

/// Dot product of one weight row (raw GGUF bytes of `a.len()` blocks of type `kind`, kind ∈ {Q4K, Q5K, Q6K})
/// with the quantized activations `a`.
pub fn dot(isa: Isa, kind: WeightType, w: &[u8], a: &[BlockQ8K]) -> f32 {
    check_row(kind, w, a.len());
    run::<1>(isa, kind, w, [a])[0]
}

/// The same weight row against four activation rows at once, decoding each weight block once
/// (this is what makes prompt processing fast: a micro-kernel that reuses the decoded weights).
pub fn dot4(isa: Isa, kind: WeightType, w: &[u8], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let blocks = a[0].len();
    assert!(
        a.iter().all(|row| row.len() == blocks),
        "dot4: activation rows of different lengths"
    );
    check_row(kind, w, blocks);
    run::<4>(isa, kind, w, a)
}

/// Dequantizes one row of `kind` blocks into `out` (len = 256 * blocks).
pub fn dequantize_row(kind: WeightType, w: &[u8], out: &mut [f32]) {
    check_row(kind, w, out.len() / QK_K);
    assert_eq!(out.len() % QK_K, 0, "dequantize_row: partial block");
    let bytes = kind.block_bytes();
    for (block, y) in w.chunks_exact(bytes).zip(out.chunks_exact_mut(QK_K)) {
        let y: &mut [f32; QK_K] = y.try_into().expect("whole block");
        match kind {
            WeightType::Q4K => dequantize_q45k::<false>(block, y),
            WeightType::Q5K => dequantize_q45k::<true>(block, y),
            WeightType::Q6K => dequantize_q6k(block, y),
            _ => unreachable!("kquant: {kind:?} is not a k-quant"),
        }
    }
}

/// The SIMD paths index `w` by raw pointer; this is what makes them sound.
fn check_row(kind: WeightType, w: &[u8], blocks: usize) {
    assert!(kind.is_k_quant(), "kquant: {kind:?} is not a k-quant");
    assert_eq!(
        w.len(),
        blocks * kind.block_bytes(),
        "kquant: {kind:?} row of {} bytes for {blocks} blocks",
        w.len()
    );
}

/// Runs the kernel for `kind` on `isa`, `N` activation rows at once; the
/// lengths were checked by [`check_row`].
fn run<const N: usize>(isa: Isa, kind: WeightType, w: &[u8], a: [&[BlockQ8K]; N]) -> [f32; N] {
    match isa {
        Isa::Scalar => match kind {
            WeightType::Q4K => scalar::q45k::<N, false>(w, a),
            WeightType::Q5K => scalar::q45k::<N, true>(w, a),
            WeightType::Q6K => scalar::q6k::<N>(w, a),
            _ => unreachable!("kquant: {kind:?} is not a k-quant"),
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // `Isa::Avx2` can be built by anyone; the cached check costs a
            // load, and keeps a wrong one from being undefined behaviour.
            assert!(
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma"),
                "kquant: Isa::Avx2 on a CPU without AVX2 and FMA"
            );
            // SAFETY: the CPU has AVX2 and FMA (checked above) and `w` holds
            // exactly as many blocks as every row of `a` (check_row).
            unsafe {
                match kind {
                    WeightType::Q4K => avx2::q45k::<N, false>(w, a),
                    WeightType::Q5K => avx2::q45k::<N, true>(w, a),
                    WeightType::Q6K => avx2::q6k::<N>(w, a),
                    _ => unreachable!("kquant: {kind:?} is not a k-quant"),
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is part of every aarch64 CPU, and `w` holds exactly as
        // many blocks as every row of `a` (check_row).
        Isa::Neon => unsafe {
            match kind {
                WeightType::Q4K => neon::q45k::<N, false>(w, a),
                WeightType::Q5K => neon::q45k::<N, true>(w, a),
                WeightType::Q6K => neon::q6k::<N>(w, a),
                _ => unreachable!("kquant: {kind:?} is not a k-quant"),
            }
        },
    }
}

/// Unpacks the 12 scale bytes of Q4_K/Q5_K into four little-endian words:
/// scales 0..4, scales 4..8, mins 0..4, mins 4..8 (one byte each, 0..=63).
///
/// Scale and min `j < 4` are the low six bits of bytes `j` and `j + 4`; for
/// `j >= 4` their low four bits are the two nibbles of byte `j + 4` and
/// their top two bits the top bits of bytes `j - 4` and `j`.
#[inline(always)]
fn scales_mins(s: &[u8]) -> [u32; 4] {
    let word = |at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    let (w0, w1, w2) = (word(0), word(4), word(8));
    [
        w0 & 0x3f3f_3f3f,
        (w2 & 0x0f0f_0f0f) | (((w0 >> 6) & 0x0303_0303) << 4),
        w1 & 0x3f3f_3f3f,
        ((w2 >> 4) & 0x0f0f_0f0f) | (((w1 >> 6) & 0x0303_0303) << 4),
    ]
}

/// Scales and mins of a Q4_K/Q5_K block as bytes.
#[inline(always)]
fn scales_mins_bytes(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let w = scales_mins(s);
    let mut scales = [0u8; 8];
    let mut mins = [0u8; 8];
    scales[..4].copy_from_slice(&w[0].to_le_bytes());
    scales[4..].copy_from_slice(&w[1].to_le_bytes());
    mins[..4].copy_from_slice(&w[2].to_le_bytes());
    mins[4..].copy_from_slice(&w[3].to_le_bytes());
    (scales, mins)
}

/// Byte layout of Q4_K (`Q5 = false`) or Q5_K (`Q5 = true`).
const fn q45k_layout(q5: bool) -> (usize, usize) {
    // (block bytes, offset of qs); Q5_K's qh sits at 16..48.
    if q5 { (Q5K_BYTES, 48) } else { (Q4K_BYTES, 16) }
}

/// Dequantizes one Q4_K or Q5_K block with candle's exact float operations.
fn dequantize_q45k<const Q5: bool>(block: &[u8], y: &mut [f32; QK_K]) {
    let (_, qs_at) = q45k_layout(Q5);
    let d = f16_at(block, 0);
    let dmin = f16_at(block, 2);
    let (scales, mins) = scales_mins_bytes(&block[4..16]);
    let qs = &block[qs_at..qs_at + 128];
    for j in 0..4 {
        let (d1, m1) = (d * scales[2 * j] as f32, dmin * mins[2 * j] as f32);
        let (d2, m2) = (d * scales[2 * j + 1] as f32, dmin * mins[2 * j + 1] as f32);
        for l in 0..32 {
            let byte = qs[32 * j + l];
            let (mut low, mut high) = (byte & 0x0f, byte >> 4);
            if Q5 {
                let h = block[16 + l] >> (2 * j);
                low |= (h & 1) << 4;
                high |= (h & 2) << 3;
            }
            y[64 * j + l] = d1 * low as f32 - m1;
            y[64 * j + 32 + l] = d2 * high as f32 - m2;
        }
    }
}

/// Dequantizes one Q6_K block with candle's exact float operations.
fn dequantize_q6k(block: &[u8], y: &mut [f32; QK_K]) {
    let d = f16_at(block, 208);
    let q = q6k_signed(block);
    for (g, (ys, qs)) in y.chunks_exact_mut(16).zip(q.chunks_exact(16)).enumerate() {
        let scale = d * block[192 + g] as i8 as f32;
        for (y, &q) in ys.iter_mut().zip(qs) {
            *y = scale * q as f32;
        }
    }
}

/// The 256 quants of a Q6_K block, minus 32, in value order.
#[inline(always)]
fn q6k_signed(block: &[u8]) -> [i8; QK_K] {
    let mut q = [0i8; QK_K];
    for half in 0..2 {
        let ql = &block[64 * half..64 * half + 64];
        let qh = &block[128 + 32 * half..128 + 32 * half + 32];
        let q = &mut q[128 * half..128 * half + 128];
        for l in 0..32 {
            let h = qh[l];
            q[l] = ((ql[l] & 0x0f) | ((h & 3) << 4)) as i8 - 32;
            q[l + 32] = ((ql[l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) as i8 - 32;
            q[l + 64] = ((ql[l] >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32;
            q[l + 96] = ((ql[l + 32] >> 4) | ((h >> 6) << 4)) as i8 - 32;
        }
    }
    q
}

/// Portable kernels: decode a block once into i16 quants (so the widening
/// of the weights is shared by every row), then exact integer dot products
/// per scale group for each activation row.
mod scalar {
    use super::*;

    /// `sum_g scales[g] * sum_{k in group g} q[k] * y[k]` for groups of `G`.
    /// Not inlined: one compact vectorized body serves one row or four
    /// (fully unrolled over four rows it spills and runs slower).
    #[inline(never)]
    fn scaled_dot<const G: usize>(q: &[i16; QK_K], scales: &[i32], y: &[i8; QK_K]) -> i32 {
        let mut total = 0i32;
        for ((qg, yg), &scale) in q.chunks_exact(G).zip(y.chunks_exact(G)).zip(scales) {
            let dot: i32 = qg.iter().zip(yg).map(|(&q, &y)| q as i32 * y as i32).sum();
            total += scale * dot;
        }
        total
    }

    pub(super) fn q45k<const N: usize, const Q5: bool>(w: &[u8], a: [&[BlockQ8K]; N]) -> [f32; N] {
        let (bytes, qs_at) = q45k_layout(Q5);
        let mut sums = [0f32; N];
        let mut q = [0i16; QK_K];
        for (i, block) in w.chunks_exact(bytes).enumerate() {
            let d = f16_at(block, 0);
            let dmin = f16_at(block, 2);
            let (scales, mins) = scales_mins_bytes(&block[4..16]);
            let scales = scales.map(i32::from);
            let qs = &block[qs_at..qs_at + 128];
            for j in 0..4 {
                let (low, high) = q[64 * j..64 * j + 64].split_at_mut(32);
                for l in 0..32 {
                    let (mut lo, mut hi) = (qs[32 * j + l] & 0x0f, qs[32 * j + l] >> 4);
                    if Q5 {
                        let h = block[16 + l] >> (2 * j);
                        lo |= (h & 1) << 4;
                        hi |= (h & 2) << 3;
                    }
                    low[l] = lo as i16;
                    high[l] = hi as i16;
                }
            }
            for (sum, row) in sums.iter_mut().zip(a) {
                let y = &row[i];
                let isum = scaled_dot::<32>(&q, &scales, &y.qs);
                let mut msum = 0i32;
                for (&m, pair) in mins.iter().zip(y.bsums.chunks_exact(2)) {
                    msum += m as i32 * (pair[0] as i32 + pair[1] as i32);
                }
                *sum += (d * y.d) * isum as f32 - (dmin * y.d) * msum as f32;
            }
        }
        sums
    }

    pub(super) fn q6k<const N: usize>(w: &[u8], a: [&[BlockQ8K]; N]) -> [f32; N] {
        let mut sums = [0f32; N];
        for (i, block) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let d = f16_at(block, 208);
            let q = q6k_signed(block).map(i16::from);
            let scales: [i32; 16] = std::array::from_fn(|g| block[192 + g] as i8 as i32);
            for (sum, row) in sums.iter_mut().zip(a) {
                let y = &row[i];
                *sum += (d * y.d) * scaled_dot::<16>(&q, &scales, &y.qs) as f32;
            }
        }
        sums
    }
}

/// AVX2 kernels, GGML's formulation: `maddubs` of unsigned weight quants by
/// signed activations into i16 pairs (no saturation: |pair| <= 2*63*128),
/// `madd` by the group scale into i32, one f32 FMA per block and row. Q4_K
/// and Q5_K mins multiply the activations' `bsums`; Q6_K's -32 offset is
/// `32 * sum(scale * bsum)`, subtracted from the block's integer sum.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// A by-value field of a packed struct is read with an unaligned load.
    #[repr(C, packed)]
    struct Unaligned<T>(T);

    /// The 32 bytes at `p + offset`, any alignment. Unlike `_mm256_loadu_si256`
    /// (a `copy_nonoverlapping`) and `ptr::add`, this carries no debug-build
    /// UB checks, which made the kernels twice as slow in the test profile.
    ///
    /// # Safety
    /// The 32 bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const u8, offset: usize) -> __m256i {
        unsafe { (*p.wrapping_add(offset).cast::<Unaligned<__m256i>>()).0 }
    }

    /// The 16 bytes at `p + offset`, as [`load`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load128(p: *const u8, offset: usize) -> __m128i {
        unsafe { (*p.wrapping_add(offset).cast::<Unaligned<__m128i>>()).0 }
    }

    /// `_mm256_shuffle_epi8` control repeating i16 `lo` over the low 128-bit
    /// lane and i16 `hi` over the high lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn spread16(lo: usize, hi: usize) -> __m256i {
        let pick = |k: usize| (((2 * k + 1) << 8) | (2 * k)) as i16;
        _mm256_setr_m128i(_mm_set1_epi16(pick(lo)), _mm_set1_epi16(pick(hi)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// The lane sums of four i32 vectors, as one vector.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum4_epi32(v: &[__m256i]) -> __m128i {
        let ab = _mm256_hadd_epi32(v[0], v[1]);
        let cd = _mm256_hadd_epi32(v[2], v[3]);
        let abcd = _mm256_hadd_epi32(ab, cd);
        _mm_add_epi32(
            _mm256_castsi256_si128(abcd),
            _mm256_extracti128_si256::<1>(abcd),
        )
    }

    /// Accumulates one block: `acc[r] += dw * d_r * sumi[r]`, minus
    /// `dmin * d_r * mins[r]` for Q4_K/Q5_K; for four rows, all four in the
    /// lanes of `acc4` instead (two horizontal sums beat eight conversions).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn accumulate<const N: usize>(
        dw: f32,
        ys: &[&BlockQ8K; N],
        sumi: &[__m256i; N],
        mins: Option<(f32, &[__m256i; N])>,
        acc: &mut [__m256; N],
        acc4: &mut __m128,
    ) {
        if N == 4 {
            let da = _mm_setr_ps(ys[0].d, ys[1].d, ys[2].d, ys[3].d);
            let s = _mm_cvtepi32_ps(hsum4_epi32(&sumi[..]));
            *acc4 = _mm_fmadd_ps(s, _mm_mul_ps(_mm_set1_ps(dw), da), *acc4);
            if let Some((dmin, prods)) = mins {
                let m = _mm_cvtepi32_ps(hsum4_epi32(&prods[..]));
                *acc4 = _mm_fnmadd_ps(m, _mm_mul_ps(_mm_set1_ps(dmin), da), *acc4);
            }
        } else {
            for r in 0..N {
                let scale = _mm256_set1_ps(dw * ys[r].d);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sumi[r]), acc[r]);
                if let Some((dmin, prods)) = mins {
                    let scale = _mm256_set1_ps(dmin * ys[r].d);
                    acc[r] = _mm256_fnmadd_ps(scale, _mm256_cvtepi32_ps(prods[r]), acc[r]);
                }
            }
        }
    }

    /// The result of [`accumulate`]'s accumulators.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn finish<const N: usize>(acc: &[__m256; N], acc4: __m128) -> [f32; N] {
        if N == 4 {
            let mut out = [0f32; 4];
            // SAFETY: 4 f32 into a [f32; 4].
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), acc4) };
            std::array::from_fn(|r| out[r])
        } else {
            std::array::from_fn(|r| hsum_ps(acc[r]))
        }
    }

    /// Q4_K (`Q5 = false`) or Q5_K (`Q5 = true`) against `N` rows.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and `w` must hold exactly
    /// `a[r].len()` blocks for every `r`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn q45k<const N: usize, const Q5: bool>(
        w: &[u8],
        a: [&[BlockQ8K]; N],
    ) -> [f32; N] {
        let (bytes, qs_at) = q45k_layout(Q5);
        let m4 = _mm256_set1_epi8(0x0f);
        let bit4 = _mm256_set1_epi8(0x10);
        let mut acc = [_mm256_setzero_ps(); N];
        let mut acc4 = _mm_setzero_ps();
        for (i, block) in w.chunks_exact(bytes).enumerate() {
            let b = block.as_ptr();
            let ys: [&BlockQ8K; N] = std::array::from_fn(|r| &a[r][i]);
            let d = f16_at(block, 0);
            let dmin = f16_at(block, 2);
            let sm = scales_mins(&block[4..16]);
            // i16 scales in the low lane, mins in the high one.
            let scales_mins = _mm256_cvtepu8_epi16(_mm_setr_epi32(
                sm[0] as i32,
                sm[1] as i32,
                sm[2] as i32,
                sm[3] as i32,
            ));
            let scales = _mm256_permute2x128_si256::<0x00>(scales_mins, scales_mins);
            // Each min twice, so that `madd` with the 16 bsums pairs them up.
            let mins = _mm_cvtsi64_si128(((sm[3] as i64) << 32) | sm[2] as i64);
            let mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));

            // SAFETY (all loads): 32 bytes at qs_at + 32 * j <= bytes - 32 of
            // this block, at 16 for qh; 32 bytes at 64 * j (+ 32) of qs (256).
            let mut high_bits = if Q5 {
                unsafe { load(b, 16) }
            } else {
                _mm256_setzero_si256()
            };
            let mut sumi = [_mm256_setzero_si256(); N];
            for j in 0..4 {
                let bits = unsafe { load(b, qs_at + 32 * j) };
                let mut low = _mm256_and_si256(bits, m4);
                let mut high = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
                if Q5 {
                    // Bits 2j and 2j+1 of qh (already shifted down by 2j) go
                    // to bit 4; 16-bit shifts, but the bit stays in its byte.
                    let h_low = _mm256_and_si256(_mm256_slli_epi16::<4>(high_bits), bit4);
                    let h_high = _mm256_and_si256(_mm256_slli_epi16::<3>(high_bits), bit4);
                    low = _mm256_or_si256(low, h_low);
                    high = _mm256_or_si256(high, h_high);
                    high_bits = _mm256_srli_epi16::<2>(high_bits);
                }
                let scale_low = _mm256_shuffle_epi8(scales, spread16(2 * j, 2 * j));
                let scale_high = _mm256_shuffle_epi8(scales, spread16(2 * j + 1, 2 * j + 1));
                for r in 0..N {
                    let q8 = ys[r].qs.as_ptr().cast::<u8>();
                    let (x_low, x_high) = unsafe { (load(q8, 64 * j), load(q8, 64 * j + 32)) };
                    let p_low = _mm256_madd_epi16(scale_low, _mm256_maddubs_epi16(low, x_low));
                    let p_high = _mm256_madd_epi16(scale_high, _mm256_maddubs_epi16(high, x_high));
                    sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(p_low, p_high));
                }
            }
            // Mins: min[g] times the sum of the 32 activations of group g.
            let mut prods = [_mm256_setzero_si256(); N];
            for r in 0..N {
                // SAFETY: bsums is 16 i16 = 32 bytes.
                prods[r] = _mm256_madd_epi16(mins, unsafe { load(ys[r].bsums.as_ptr().cast(), 0) });
            }
            accumulate::<N>(d, &ys, &sumi, Some((dmin, &prods)), &mut acc, &mut acc4);
        }
        finish::<N>(&acc, acc4)
    }

    /// Q6_K against `N` rows.
    ///
    /// # Safety
    /// As [`q45k`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn q6k<const N: usize>(w: &[u8], a: [&[BlockQ8K]; N]) -> [f32; N] {
        let m4 = _mm256_set1_epi8(0x0f);
        let m30 = _mm256_set1_epi8(0x30);
        let mut acc = [_mm256_setzero_ps(); N];
        let mut acc4 = _mm_setzero_ps();
        for (i, block) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let b = block.as_ptr();
            let ys: [&BlockQ8K; N] = std::array::from_fn(|r| &a[r][i]);
            let d = f16_at(block, 208);
            // SAFETY (all loads): ql at 0..128, qh at 128..192 and the
            // scales at 192..208 of this 210-byte block; qs is 256 bytes.
            let scales = _mm256_cvtepi8_epi16(unsafe { load128(b, 192) });
            let mut sumi = [_mm256_setzero_si256(); N];
            for half in 0..2 {
                let half_scales = if half == 0 {
                    _mm256_permute2x128_si256::<0x00>(scales, scales)
                } else {
                    _mm256_permute2x128_si256::<0x11>(scales, scales)
                };
                let (l0, l1, h) = unsafe {
                    (
                        load(b, 64 * half),
                        load(b, 64 * half + 32),
                        load(b, 128 + 32 * half),
                    )
                };
                // Two bits of qh to bits 4..6 of each byte (16-bit shifts;
                // the masked bits never cross a byte).
                let q = [
                    _mm256_or_si256(
                        _mm256_and_si256(l0, m4),
                        _mm256_and_si256(_mm256_slli_epi16::<4>(h), m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(l1, m4),
                        _mm256_and_si256(_mm256_slli_epi16::<2>(h), m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(l0), m4),
                        _mm256_and_si256(h, m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(l1), m4),
                        _mm256_and_si256(_mm256_srli_epi16::<2>(h), m30),
                    ),
                ];
                for (t, &qt) in q.iter().enumerate() {
                    // Values 128*half + 32*t.. are groups 8*half + 2t (low
                    // lane) and 8*half + 2t + 1 (high lane).
                    let scale = _mm256_shuffle_epi8(half_scales, spread16(2 * t, 2 * t + 1));
                    for r in 0..N {
                        let q8 = ys[r].qs.as_ptr().cast::<u8>();
                        let x = unsafe { load(q8, 128 * half + 32 * t) };
                        let p = _mm256_madd_epi16(scale, _mm256_maddubs_epi16(qt, x));
                        sumi[r] = _mm256_add_epi32(sumi[r], p);
                    }
                }
            }
            for r in 0..N {
                // SAFETY: bsums is 16 i16 = 32 bytes.
                let bsums = unsafe { load(ys[r].bsums.as_ptr().cast(), 0) };
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(scales, bsums));
                sumi[r] = _mm256_sub_epi32(sumi[r], offset);
            }
            accumulate::<N>(d, &ys, &sumi, None, &mut acc, &mut acc4);
        }
        finish::<N>(&acc, acc4)
    }
}

/// NEON kernels: a block is decoded once into sixteen 16-lane i8 vectors in
/// value order; each row then takes widening `vmull_s8`/`vmlal_s8` products
/// into i16 (at most four per lane: 4*32*128 fits), pairwise-added into i32
/// per scale group. Q6_K quants are made signed by subtracting 32.
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::*;
    use std::arch::aarch64::*;

    /// A by-value field of a packed struct is read with an unaligned load.
    #[repr(C, packed)]
    struct Unaligned<T>(T);

    /// The vector at `p + offset`, any alignment, without the debug-build
    /// UB checks of `vld1q`'s `read_unaligned` and of `ptr::add`.
    ///
    /// # Safety
    /// The bytes must be readable.
    #[inline(always)]
    unsafe fn ld<T: Copy>(p: *const u8, offset: usize) -> T {
        unsafe { (*p.wrapping_add(offset).cast::<Unaligned<T>>()).0 }
    }

    /// Sum of `w * x` over 32 lanes (two vectors each), as four i32.
    #[inline]
    #[target_feature(enable = "neon")]
    fn dot32(w0: int8x16_t, w1: int8x16_t, x0: int8x16_t, x1: int8x16_t) -> int32x4_t {
        let p = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
        let p = vmlal_high_s8(p, w0, x0);
        let p = vmlal_s8(p, vget_low_s8(w1), vget_low_s8(x1));
        vpaddlq_s16(vmlal_high_s8(p, w1, x1))
    }

    /// Q4_K (`Q5 = false`) or Q5_K (`Q5 = true`) against `N` rows.
    ///
    /// # Safety
    /// `w` must hold exactly `a[r].len()` blocks for every `r`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn q45k<const N: usize, const Q5: bool>(
        w: &[u8],
        a: [&[BlockQ8K]; N],
    ) -> [f32; N] {
        let (bytes, qs_at) = q45k_layout(Q5);
        let m4 = vdupq_n_u8(0x0f);
        let one = vdupq_n_u8(1);
        let mut sums = [0f32; N];
        for (i, block) in w.chunks_exact(bytes).enumerate() {
            let b = block.as_ptr();
            let d = f16_at(block, 0);
            let dmin = f16_at(block, 2);
            let (scales, mins) = scales_mins_bytes(&block[4..16]);
            // SAFETY (all loads): 16 bytes at qs_at + 32 * j + 16 * c and
            // 16 + 16 * c lie within this block; qs is 256 bytes, bsums 16 i16.
            let mut high_bits = if Q5 {
                unsafe { [ld(b, 16), ld(b, 32)] }
            } else {
                [vdupq_n_u8(0); 2]
            };
            let mut q = [vdupq_n_s8(0); 16];
            for j in 0..4 {
                for c in 0..2 {
                    let bits: uint8x16_t = unsafe { ld(b, qs_at + 32 * j + 16 * c) };
                    let mut low = vandq_u8(bits, m4);
                    let mut high = vshrq_n_u8::<4>(bits);
                    if Q5 {
                        let h = high_bits[c];
                        low = vsliq_n_u8::<4>(low, vandq_u8(h, one));
                        high = vsliq_n_u8::<4>(high, vandq_u8(vshrq_n_u8::<1>(h), one));
                        high_bits[c] = vshrq_n_u8::<2>(h);
                    }
                    q[4 * j + c] = vreinterpretq_s8_u8(low);
                    q[4 * j + 2 + c] = vreinterpretq_s8_u8(high);
                }
            }
            let mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(u64::from_le_bytes(mins))));
            for (sum, row) in sums.iter_mut().zip(a) {
                let y = &row[i];
                let x = y.qs.as_ptr().cast::<u8>();
                let mut isum = vdupq_n_s32(0);
                for g in 0..8 {
                    let (x0, x1) = unsafe { (ld(x, 32 * g), ld(x, 32 * g + 16)) };
                    isum = vmlaq_n_s32(
                        isum,
                        dot32(q[2 * g], q[2 * g + 1], x0, x1),
                        scales[g] as i32,
                    );
                }
                let bsums = y.bsums.as_ptr().cast::<u8>();
                let pairs = unsafe { vpaddq_s16(ld(bsums, 0), ld(bsums, 16)) };
                let m = vmull_s16(vget_low_s16(pairs), vget_low_s16(mins));
                let m = vmlal_high_s16(m, pairs, mins);
                *sum += (d * y.d) * vaddvq_s32(isum) as f32 - (dmin * y.d) * vaddvq_s32(m) as f32;
            }
        }
        sums
    }

    /// Q6_K against `N` rows.
    ///
    /// # Safety
    /// As [`q45k`].
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn q6k<const N: usize>(w: &[u8], a: [&[BlockQ8K]; N]) -> [f32; N] {
        let m3 = vdupq_n_u8(3);
        let m32 = vdupq_n_s8(32);
        let mut sums = [0f32; N];
        for (i, block) in w.chunks_exact(Q6K_BYTES).enumerate() {
            let b = block.as_ptr();
            let d = f16_at(block, 208);
            let mut q = [vdupq_n_s8(0); 16];
            for half in 0..2 {
                for c in 0..2 {
                    // SAFETY: ql at 0..128 and qh at 128..192 of this block.
                    let (l0, l1, h): (uint8x16_t, uint8x16_t, uint8x16_t) = unsafe {
                        (
                            ld(b, 64 * half + 16 * c),
                            ld(b, 64 * half + 32 + 16 * c),
                            ld(b, 128 + 32 * half + 16 * c),
                        )
                    };
                    // vsli keeps the low nibble of its first operand.
                    let unsigned = [
                        vsliq_n_u8::<4>(l0, vandq_u8(h, m3)),
                        vsliq_n_u8::<4>(l1, vandq_u8(vshrq_n_u8::<2>(h), m3)),
                        vsliq_n_u8::<4>(vshrq_n_u8::<4>(l0), vandq_u8(vshrq_n_u8::<4>(h), m3)),
                        vsliq_n_u8::<4>(vshrq_n_u8::<4>(l1), vshrq_n_u8::<6>(h)),
                    ];
                    for (t, &u) in unsigned.iter().enumerate() {
                        q[8 * half + 2 * t + c] = vsubq_s8(vreinterpretq_s8_u8(u), m32);
                    }
                }
            }
            for (sum, row) in sums.iter_mut().zip(a) {
                let y = &row[i];
                let x = y.qs.as_ptr().cast::<u8>();
                let mut isum = vdupq_n_s32(0);
                for (g, &qg) in q.iter().enumerate() {
                    // SAFETY: 16 bytes at 16 * g of the 256 quants.
                    let xg: int8x16_t = unsafe { ld(x, 16 * g) };
                    let p = vmull_s8(vget_low_s8(qg), vget_low_s8(xg));
                    let p = vpaddlq_s16(vmlal_high_s8(p, qg, xg));
                    isum = vmlaq_n_s32(isum, p, block[192 + g] as i8 as i32);
                }
                *sum += (d * y.d) * vaddvq_s32(isum) as f32;
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::super::f32_to_f16;
    use super::*;
    use candle_core::Device;
    use candle_core::quantized::ggml_file::qtensor_from_ggml;
    use candle_core::quantized::{GgmlDType, GgmlType, k_quants};

    const KINDS: [WeightType; 3] = [WeightType::Q4K, WeightType::Q5K, WeightType::Q6K];

    use super::super::testing::Rng;

    #[derive(Clone, Copy)]
    enum Fill {
        Random,
        /// Every quant and every scale at its maximum.
        AllMax,
        /// Every quant at its minimum (scales random).
        AllMin,
    }

    fn half(value: f32) -> [u8; 2] {
        f32_to_f16(value).to_le_bytes()
    }

    /// One valid block: finite, modest f16 scales, quants per `fill`.
    fn random_block(kind: WeightType, rng: &mut Rng, fill: Fill) -> Vec<u8> {
        let mut block = vec![0u8; kind.block_bytes()];
        let sign = |rng: &mut Rng| if rng.unit() < 0.15 { -1.0 } else { 1.0 };
        let (quants, scales) = match kind {
            WeightType::Q4K | WeightType::Q5K => {
                let d = sign(rng) * rng.range(1e-3, 4e-2);
                let dmin = sign(rng) * rng.range(1e-3, 4e-2);
                block[0..2].copy_from_slice(&half(d));
                block[2..4].copy_from_slice(&half(dmin));
                (4 + 12..block.len(), 4..16)
            }
            WeightType::Q6K => {
                let d = sign(rng) * rng.range(1e-4, 4e-3);
                block[208..210].copy_from_slice(&half(d));
                (0..192, 192..208)
            }
            _ => unreachable!(),
        };
        rng.bytes(&mut block[scales.clone()]);
        match fill {
            Fill::Random => rng.bytes(&mut block[quants]),
            Fill::AllMax => {
                block[quants].fill(0xff);
                // 0x7f is Q6_K's largest i8 scale; 0xff every 6-bit one.
                let top = if kind == WeightType::Q6K { 0x7f } else { 0xff };
                block[scales].fill(top);
            }
            Fill::AllMin => block[quants].fill(0),
        }
        block
    }

    fn random_row(kind: WeightType, blocks: usize, rng: &mut Rng, fill: Fill) -> Vec<u8> {
        (0..blocks)
            .flat_map(|_| random_block(kind, rng, fill))
            .collect()
    }

    fn ggml_dtype(kind: WeightType) -> GgmlDType {
        match kind {
            WeightType::Q4K => GgmlDType::Q4K,
            WeightType::Q5K => GgmlDType::Q5K,
            WeightType::Q6K => GgmlDType::Q6K,
            _ => unreachable!(),
        }
    }

    /// candle's dequantization of `rows` x `columns` raw weights.
    fn candle_dequantize(kind: WeightType, bytes: &[u8], rows: usize, columns: usize) -> Vec<f32> {
        let tensor = qtensor_from_ggml(ggml_dtype(kind), bytes, vec![rows, columns], &Device::Cpu)
            .expect("candle reads the blocks");
        let values = tensor.dequantize(&Device::Cpu).expect("dequantize");
        values.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// candle's Q8_K quantization, read back field by field from its bytes.
    fn candle_quantize_q8k(x: &[f32]) -> Vec<BlockQ8K> {
        let mut theirs = vec![k_quants::BlockQ8K::zeros(); x.len() / QK_K];
        k_quants::BlockQ8K::from_float(x, &mut theirs);
        assert_eq!(std::mem::size_of::<k_quants::BlockQ8K>(), 292);
        theirs
            .iter()
            .map(|block| {
                // SAFETY: candle's BlockQ8K is repr(C) {f32, [i8; 256], [i16; 16]},
                // 292 bytes without padding (asserted above).
                let bytes: &[u8; 292] = unsafe { &*(block as *const k_quants::BlockQ8K).cast() };
                let mut ours = BlockQ8K {
                    d: f32::from_ne_bytes(bytes[0..4].try_into().unwrap()),
                    ..BlockQ8K::default()
                };
                for (q, &b) in ours.qs.iter_mut().zip(&bytes[4..260]) {
                    *q = b as i8;
                }
                for (s, pair) in ours.bsums.iter_mut().zip(bytes[260..].chunks_exact(2)) {
                    *s = i16::from_ne_bytes([pair[0], pair[1]]);
                }
                ours
            })
            .collect()
    }

    fn quantize(x: &[f32]) -> Vec<BlockQ8K> {
        let mut out = vec![BlockQ8K::default(); x.len() / QK_K];
        quantize_q8k(x, &mut out);
        out
    }

    /// Activations with a per-row magnitude and an occasional outlier.
    fn random_activations(rng: &mut Rng, len: usize) -> Vec<f32> {
        let scale = [0.01, 1.0, 30.0][(rng.next_u64() % 3) as usize];
        (0..len)
            .map(|_| {
                let outlier = if rng.unit() < 0.01 { 20.0 } else { 1.0 };
                rng.normal(scale) * outlier
            })
            .collect()
    }

    /// The exact products the kernels sum, in f64, and the magnitude their
    /// f32 arithmetic is relative to.
    struct Reference {
        value: f64,
        magnitude: f64,
    }

    /// `sum(w * d * q)` from candle's dequantized weights. The magnitude is
    /// `sum(|w * a|)`, except that for Q4_K/Q5_K every weight is
    /// `d*sc*q - dmin*m` and the kernels sum the two parts separately in
    /// f32 before they cancel, so each part counts on its own there:
    /// `|d*sc*q| + |dmin*m| <= |w| + 2*|dmin*m|`.
    fn reference(kind: WeightType, row: &[u8], weights: &[f32], a: &[BlockQ8K]) -> Reference {
        let mut value = 0f64;
        let mut magnitude = 0f64;
        for (i, (ws, y)) in weights.chunks_exact(QK_K).zip(a).enumerate() {
            let block = &row[i * kind.block_bytes()..];
            for (k, (&w, &q)) in ws.iter().zip(&y.qs).enumerate() {
                let x = y.d as f64 * q as f64;
                value += w as f64 * x;
                let min_part = if kind == WeightType::Q6K {
                    0.0
                } else {
                    let (_, mins) = scales_mins_bytes(&block[4..16]);
                    (f16_at(block, 2) as f64 * mins[k / 32] as f64).abs()
                };
                magnitude += ((w as f64).abs() + 2.0 * min_part) * x.abs();
            }
        }
        Reference { value, magnitude }
    }

    /// Kernels differ from the f64 sum only by f32 rounding: the products
    /// `dw * da` and the i32 -> f32 conversions (2^-24 each), and at most a
    /// few dozen f32 additions (block partial sums, lane sums), each off by
    /// 2^-24 of a partial sum bounded by `magnitude`. 1e-5 is ~100x that.
    fn assert_close(got: f32, want: &Reference, what: &str) {
        let tolerance = 1e-5 * want.magnitude + 1e-30;
        let error = (got as f64 - want.value).abs();
        assert!(
            error <= tolerance,
            "{what}: got {got}, want {} (error {error:e} > {tolerance:e})",
            want.value
        );
    }

    #[test]
    fn dequantize_row_matches_candle_bit_for_bit() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for kind in KINDS {
            for (rows, blocks) in [(1, 1), (3, 2), (5, 5), (2, 16)] {
                let columns = blocks * QK_K;
                let mut bytes = Vec::new();
                for r in 0..rows {
                    let fill = [Fill::Random, Fill::AllMax, Fill::AllMin][r % 3];
                    bytes.extend(random_row(kind, blocks, &mut rng, fill));
                }
                let theirs = candle_dequantize(kind, &bytes, rows, columns);
                let row_bytes = kind.row_bytes(columns);
                for r in 0..rows {
                    let mut ours = vec![f32::NAN; columns];
                    dequantize_row(kind, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut ours);
                    for (k, (a, b)) in ours.iter().zip(&theirs[r * columns..]).enumerate() {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "{kind:?} row {r} value {k}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn quantize_q8k_matches_candle_bit_for_bit() {
        let mut rng = Rng(42);
        let mut rows: Vec<Vec<f32>> = (1..=6)
            .map(|blocks| random_activations(&mut rng, blocks * QK_K))
            .collect();
        rows.push(vec![0.0; 2 * QK_K]);
        // One zero block between two live ones.
        let mut mixed = random_activations(&mut rng, 3 * QK_K);
        mixed[QK_K..2 * QK_K].fill(0.0);
        rows.push(mixed);
        // Exact halves (scale 1): rounding must go away from zero.
        let mut ties: Vec<f32> = (0..QK_K).map(|k| k as f32 * 0.5 - 64.25 + 0.25).collect();
        ties[7] = -127.0;
        rows.push(ties);
        // Negative extreme first, equal-magnitude positive later: the first wins.
        let mut signs = random_activations(&mut rng, QK_K);
        signs[3] = -1e3;
        signs[200] = 1e3;
        rows.push(signs);
        // Tiny and huge magnitudes.
        rows.push((0..QK_K).map(|k| (k as f32 - 100.0) * 1e-30).collect());
        rows.push((0..QK_K).map(|k| (k as f32 - 100.0) * 1e30).collect());
        for (n, x) in rows.iter().enumerate() {
            let ours = quantize(x);
            let theirs = candle_quantize_q8k(x);
            for (b, (o, t)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(o.d.to_bits(), t.d.to_bits(), "row {n} block {b}: d");
                assert_eq!(o.qs, t.qs, "row {n} block {b}: qs");
                assert_eq!(o.bsums, t.bsums, "row {n} block {b}: bsums");
            }
        }
    }

    #[test]
    fn dot_and_dot4_match_the_f64_reference_on_every_isa() {
        let mut rng = Rng(7);
        for kind in KINDS {
            for blocks in 1..=5 {
                let columns = blocks * QK_K;
                let rows = 3;
                let fills = [Fill::Random, Fill::Random, Fill::AllMax];
                let bytes: Vec<u8> = (0..rows)
                    .flat_map(|r| random_row(kind, blocks, &mut rng, fills[r]))
                    .collect();
                let weights = candle_dequantize(kind, &bytes, rows, columns);
                let activations: Vec<Vec<BlockQ8K>> = (0..4)
                    .map(|_| quantize(&random_activations(&mut rng, columns)))
                    .collect();
                let four = [0, 1, 2, 3].map(|k| activations[k].as_slice());
                let row_bytes = kind.row_bytes(columns);
                for r in 0..rows {
                    let row = &bytes[r * row_bytes..(r + 1) * row_bytes];
                    let w = &weights[r * columns..(r + 1) * columns];
                    let want: Vec<Reference> =
                        four.iter().map(|a| reference(kind, row, w, a)).collect();
                    for isa in Isa::available() {
                        let what = format!("{kind:?} {} blocks={blocks} row={r}", isa.name());
                        assert_close(
                            dot(isa, kind, row, four[0]),
                            &want[0],
                            &format!("{what} dot"),
                        );
                        let got = dot4(isa, kind, row, four);
                        for k in 0..4 {
                            assert_close(got[k], &want[k], &format!("{what} dot4[{k}]"));
                        }
                    }
                }
            }
        }
    }

    /// Against the unquantized activations: each `d * q` is off from its
    /// `x` by at most `|d|/2` (round to nearest) plus f32 rounding of the
    /// scale, so the dot is off by at most `sum(|w| * (|d|/2 + eps*|x|))`.
    #[test]
    fn dot_is_within_the_q8k_rounding_of_the_f32_activations() {
        let mut rng = Rng(1234);
        for kind in KINDS {
            for blocks in [1, 2, 5] {
                let columns = blocks * QK_K;
                let row = random_row(kind, blocks, &mut rng, Fill::Random);
                let w = candle_dequantize(kind, &row, 1, columns);
                let x = random_activations(&mut rng, columns);
                let a = quantize(&x);
                let mut exact = 0f64;
                let mut bound = 0f64;
                for (k, (&w, &x)) in w.iter().zip(&x).enumerate() {
                    let d = a[k / QK_K].d.abs() as f64;
                    exact += w as f64 * x as f64;
                    bound += (w as f64).abs() * (d / 2.0 * (1.0 + 1e-6) + 1e-6 * (x as f64).abs());
                }
                bound += 1e-5 * reference(kind, &row, &w, &a).magnitude;
                for isa in Isa::available() {
                    let got = dot(isa, kind, &row, &a) as f64;
                    assert!(
                        (got - exact).abs() <= bound,
                        "{kind:?} {} blocks={blocks}: {got} vs {exact}, bound {bound}",
                        isa.name()
                    );
                }
            }
        }
    }

    /// A Q8_K block with every quant `q` (bsums consistent).
    fn constant_activations(q: i8, d: f32) -> BlockQ8K {
        BlockQ8K {
            d,
            qs: [q; QK_K],
            bsums: [16 * q as i16; 16],
        }
    }

    #[test]
    fn extreme_blocks_are_exact_on_every_isa() {
        let mut rng = Rng(99);
        let mut alternating = constant_activations(0, 0.5);
        for (k, q) in alternating.qs.iter_mut().enumerate() {
            *q = if k % 2 == 0 { 127 } else { -128 };
        }
        for (s, g) in alternating
            .bsums
            .iter_mut()
            .zip(alternating.qs.chunks_exact(16))
        {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        let activations = [
            constant_activations(127, 0.25),
            constant_activations(-128, 0.25),
            constant_activations(-128, -3.0),
            alternating,
        ];
        for kind in KINDS {
            for fill in [Fill::AllMax, Fill::AllMin] {
                for blocks in 1..=3 {
                    let row = random_row(kind, blocks, &mut rng, fill);
                    let w = candle_dequantize(kind, &row, 1, blocks * QK_K);
                    let rows: Vec<Vec<BlockQ8K>> =
                        activations.iter().map(|a| vec![*a; blocks]).collect();
                    let four = [0, 1, 2, 3].map(|k| rows[k].as_slice());
                    for isa in Isa::available() {
                        let got4 = dot4(isa, kind, &row, four);
                        for k in 0..4 {
                            let want = reference(kind, &row, &w, four[k]);
                            let what = format!("{kind:?} {} blocks={blocks} act={k}", isa.name());
                            assert_close(dot(isa, kind, &row, four[k]), &want, &what);
                            assert_close(got4[k], &want, &format!("{what} dot4"));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_isa_agrees_with_scalar() {
        let mut rng = Rng(2024);
        for kind in KINDS {
            for blocks in [1, 3, 8, 17] {
                let row = random_row(kind, blocks, &mut rng, Fill::Random);
                let rows: Vec<Vec<BlockQ8K>> = (0..4)
                    .map(|_| quantize(&random_activations(&mut rng, blocks * QK_K)))
                    .collect();
                let four = [0, 1, 2, 3].map(|k| rows[k].as_slice());
                let w = candle_dequantize(kind, &row, 1, blocks * QK_K);
                let scalar = dot4(Isa::Scalar, kind, &row, four);
                for isa in Isa::available() {
                    let got = dot4(isa, kind, &row, four);
                    for k in 0..4 {
                        let magnitude = reference(kind, &row, &w, four[k]).magnitude;
                        let single = dot(isa, kind, &row, four[k]);
                        for (value, what) in [(got[k], "dot4"), (single, "dot")] {
                            let error = (value - scalar[k]).abs() as f64;
                            assert!(
                                error <= 2e-5 * magnitude,
                                "{kind:?} {} {what}[{k}] blocks={blocks}: {value} vs scalar {}",
                                isa.name(),
                                scalar[k]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "row of")]
    fn a_row_of_the_wrong_length_panics() {
        let a = vec![BlockQ8K::default(); 2];
        dot(Isa::Scalar, WeightType::Q4K, &[0u8; 144], &a);
    }
}
