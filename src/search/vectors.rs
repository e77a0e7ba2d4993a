//! Exact nearest-neighbour search over product embeddings held in memory.
//!
//! Vectors sit in one contiguous `Vec<f32>` (row per product) so a query scans
//! memory linearly; the dot product uses AVX2+FMA when the CPU has them,
//! chosen at run time, and plain Rust otherwise. Exact search is simple and
//! fast at shop sizes; docs/BENCHMARKS.md says where an approximate index would pay.

use std::collections::HashMap;

pub struct VectorIndex {
    dims: usize,
    ids: Vec<i64>,
    data: Vec<f32>,
    slots: HashMap<i64, usize>,
}

impl VectorIndex {
    pub fn new(dims: usize) -> VectorIndex {
        VectorIndex {
            dims,
            ids: Vec::new(),
            data: Vec::new(),
            slots: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.slots.contains_key(&id)
    }

    /// Adds or replaces the vector of `id`; vectors of the wrong length are ignored.
    pub fn upsert(&mut self, id: i64, vector: &[f32]) {
        if vector.len() != self.dims {
            return;
        }
        match self.slots.get(&id) {
            Some(&slot) => {
                self.data[slot * self.dims..(slot + 1) * self.dims].copy_from_slice(vector)
            }
            None => {
                self.slots.insert(id, self.ids.len());
                self.ids.push(id);
                self.data.extend_from_slice(vector);
            }
        }
    }

    /// Removes `id` by moving the last row into its place.
    pub fn remove(&mut self, id: i64) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if slot != last {
            let moved = self.ids[last];
            self.ids[slot] = moved;
            self.data
                .copy_within(last * self.dims..(last + 1) * self.dims, slot * self.dims);
            self.slots.insert(moved, slot);
        }
        self.ids.pop();
        self.data.truncate(last * self.dims);
    }

    /// The `k` most similar products with similarity of at least `min_score`, best first.
    pub fn nearest(&self, query: &[f32], k: usize, min_score: f32) -> Vec<(i64, f32)> {
        if query.len() != self.dims || k == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(i64, f32)> = self
            .data
            .chunks_exact(self.dims)
            .zip(&self.ids)
            .map(|(row, id)| (*id, dot(row, query)))
            .filter(|(_, score)| *score >= min_score)
            .collect();
        let k = k.min(scored.len());
        if k < scored.len() {
            scored.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
            scored.truncate(k);
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
    }
}

/// Dot product of two equal-length slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features the function needs were detected just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_scalar(a, b)
}

pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators let the compiler vectorise and keep rounding close to the SIMD path.
    let mut sums = [0f32; 4];
    let chunks = a.len() / 4 * 4;
    for i in (0..chunks).step_by(4) {
        for lane in 0..4 {
            sums[lane] += a[i + lane] * b[i + lane];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    sums.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let len = a.len().min(b.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= len {
        // SAFETY: i + 16 <= len, so both 8-lane loads stay inside the slices.
        unsafe {
            acc0 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                acc0,
            );
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i + 8)),
                _mm256_loadu_ps(b.as_ptr().add(i + 8)),
                acc1,
            );
        }
        i += 16;
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds exactly eight f32s.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let tail: f32 = a[i..len].iter().zip(&b[i..len]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn simd_and_scalar_dot_products_agree_on_odd_lengths() {
        for len in [0, 1, 3, 7, 8, 15, 16, 17, 33, 383, 384, 385] {
            let (a, b) = (pseudo_random(len, 1), pseudo_random(len, 2));
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - exact).abs() < 1e-4, "len {len}");
            assert!(
                (dot_scalar(&a, &b) as f64 - exact).abs() < 1e-4,
                "len {len}"
            );
        }
    }

    #[test]
    fn nearest_finds_the_best_rows_after_updates_and_removals() {
        let mut index = VectorIndex::new(3);
        index.upsert(1, &[1.0, 0.0, 0.0]);
        index.upsert(2, &[0.0, 1.0, 0.0]);
        index.upsert(3, &[0.6, 0.8, 0.0]);
        index.upsert(2, &[0.0, 0.0, 1.0]);
        index.remove(1);
        index.upsert(4, &[1.0, 0.0, 0.0]);
        index.upsert(5, &[1.0, 0.0]);
        let hits = index.nearest(&[1.0, 0.0, 0.0], 2, 0.1);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![4, 3]);
        assert_eq!(index.len(), 3);
        assert!(index.nearest(&[0.0, 1.0, 0.0], 5, 0.9).is_empty());
    }
}
