//! Blending keyword and vector rankings.
//!
//! BM25 scores and cosine similarities live on different scales, so each list
//! is min-max normalised to 0..1 before mixing with `alpha` (0 = keyword only,
//! 1 = vector only), as Weaviate's relative-score fusion does; reciprocal-rank
//! fusion ignores scores and uses positions only.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    RelativeScore,
    ReciprocalRank,
}

/// The RRF constant from the original paper; damps the head of each list.
const RRF_K: f32 = 60.0;

/// Merges two rankings (best first) into one, best first.
pub fn fuse(
    keyword: &[(i64, f32)],
    vector: &[(i64, f32)],
    alpha: f32,
    fusion: Fusion,
) -> Vec<(i64, f32)> {
    let mut scores: HashMap<i64, f32> = HashMap::new();
    match fusion {
        Fusion::RelativeScore => {
            for (id, score) in normalise(keyword) {
                *scores.entry(id).or_default() += (1.0 - alpha) * score;
            }
            for (id, score) in normalise(vector) {
                *scores.entry(id).or_default() += alpha * score;
            }
        }
        Fusion::ReciprocalRank => {
            for (rank, (id, _)) in keyword.iter().enumerate() {
                *scores.entry(*id).or_default() += (1.0 - alpha) / (RRF_K + rank as f32 + 1.0);
            }
            for (rank, (id, _)) in vector.iter().enumerate() {
                *scores.entry(*id).or_default() += alpha / (RRF_K + rank as f32 + 1.0);
            }
        }
    }
    let mut fused: Vec<(i64, f32)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

/// Scales scores to 0..1; a list whose scores are all equal maps to 1.
fn normalise(list: &[(i64, f32)]) -> Vec<(i64, f32)> {
    let max = list.iter().map(|(_, s)| *s).fold(f32::MIN, f32::max);
    let min = list.iter().map(|(_, s)| *s).fold(f32::MAX, f32::min);
    let span = max - min;
    list.iter()
        .map(|(id, s)| {
            (
                *id,
                if span > f32::EPSILON {
                    (s - min) / span
                } else {
                    1.0
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_moves_between_the_two_rankings() {
        let keyword = [(1, 12.0), (2, 6.0), (3, 0.5)];
        let vector = [(3, 0.9), (4, 0.8), (1, 0.1)];
        let order = |alpha| {
            fuse(&keyword, &vector, alpha, Fusion::RelativeScore)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(0.0)[0], 1);
        assert_eq!(order(1.0)[0], 3);
        let rrf = fuse(&keyword, &vector, 0.5, Fusion::ReciprocalRank);
        assert_eq!(
            rrf[0].0, 1,
            "first in one list and third in the other beats one appearance"
        );
        assert_eq!(rrf.len(), 4);
    }
}
