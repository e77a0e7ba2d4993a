//! Search quality on judged query sets: nDCG@10, MRR and recall@20.
//!
//! A judged set lists queries with graded products (2 = what was asked for,
//! 1 = an acceptable alternative; unlisted = not relevant), keyed by handle.
//! The sets live in `eval/search/` and are written by people, not by the engine.

use std::collections::HashMap;

use serde::Deserialize;

use super::{SearchError, SearchRequest, SearchService};

#[derive(Debug, Clone, Deserialize)]
pub struct JudgedSet {
    pub catalog: String,
    pub queries: Vec<JudgedQuery>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JudgedQuery {
    pub query: String,
    pub kind: String,
    pub judgments: HashMap<String, u8>,
}

/// Mean scores over a set's queries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub ndcg_at_10: f64,
    pub mrr: f64,
    pub recall_at_20: f64,
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nDCG@10 {:.3}  MRR {:.3}  recall@20 {:.3}",
            self.ndcg_at_10, self.mrr, self.recall_at_20
        )
    }
}

/// Scores one ranked list of handles against the judgments of a query.
pub fn score(ranked: &[String], judgments: &HashMap<String, u8>) -> Scores {
    let grade = |handle: &String| f64::from(*judgments.get(handle).unwrap_or(&0));
    let gain = |g: f64| 2f64.powf(g) - 1.0;
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, h)| gain(grade(h)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = judgments.values().map(|g| f64::from(*g)).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| gain(*g) / (i as f64 + 2.0).log2())
        .sum();
    let first_relevant = ranked.iter().position(|h| grade(h) > 0.0);
    let relevant = judgments.values().filter(|g| **g > 0).count();
    let found = ranked.iter().take(20).filter(|h| grade(h) > 0.0).count();
    Scores {
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        mrr: first_relevant.map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0)),
        recall_at_20: if relevant > 0 {
            found as f64 / relevant as f64
        } else {
            0.0
        },
    }
}

/// Runs every query of `set` with the given `alpha` and averages the scores.
pub fn evaluate(
    service: &SearchService,
    set: &JudgedSet,
    alpha: f32,
) -> Result<Scores, SearchError> {
    let mut total = Scores::default();
    for judged in &set.queries {
        let mut request = SearchRequest::new(&judged.query);
        request.limit = 20;
        request.alpha = Some(alpha);
        let ranked: Vec<String> = service
            .search(&request)?
            .hits
            .into_iter()
            .map(|h| h.handle)
            .collect();
        let scores = score(&ranked, &judged.judgments);
        total.ndcg_at_10 += scores.ndcg_at_10;
        total.mrr += scores.mrr;
        total.recall_at_20 += scores.recall_at_20;
    }
    let n = set.queries.len().max(1) as f64;
    Ok(Scores {
        ndcg_at_10: total.ndcg_at_10 / n,
        mrr: total.mrr / n,
        recall_at_20: total.recall_at_20 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_empty_rankings_score_one_and_zero() {
        let judgments: HashMap<String, u8> = [("a".to_string(), 2), ("b".to_string(), 1)].into();
        let perfect = score(&["a".into(), "b".into()], &judgments);
        assert!((perfect.ndcg_at_10 - 1.0).abs() < 1e-9);
        assert_eq!((perfect.mrr, perfect.recall_at_20), (1.0, 1.0));
        let swapped = score(&["x".into(), "b".into(), "a".into()], &judgments);
        assert!(swapped.ndcg_at_10 < 1.0 && swapped.ndcg_at_10 > 0.0);
        assert_eq!(swapped.mrr, 0.5);
        assert_eq!(score(&[], &judgments), Scores::default());
    }
}
