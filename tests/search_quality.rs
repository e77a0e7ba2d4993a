//! Search quality on the judged query sets in eval/search/, with the real
//! MiniLM weights: hybrid must do at least as well as keyword search on each.

mod common;

use std::path::Path;

#[test]
fn hybrid_search_beats_keyword_search_on_every_judged_set() {
    let models = common::models_dir();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, path) in shopkeep::bench::JUDGED_SETS {
        let row = shopkeep::bench::quality_of_set(
            &repo.join(path),
            &common::shopify_exports(),
            &models,
            shopkeep::search::DEFAULT_ALPHA,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name} ({} queries)\n  keyword {}\n  vector  {}\n  hybrid  {}",
            row.queries, row.keyword, row.vector, row.hybrid
        );
        assert!(
            row.queries >= 40,
            "{name}: judged sets need at least 40 queries"
        );
        assert!(
            row.hybrid.ndcg_at_10 >= row.keyword.ndcg_at_10,
            "{name}: hybrid nDCG@10 {:.3} is below keyword {:.3}",
            row.hybrid.ndcg_at_10,
            row.keyword.ndcg_at_10
        );
        assert!(
            row.keyword.ndcg_at_10 > 0.5,
            "{name}: keyword search is broken: {}",
            row.keyword
        );
    }
}
