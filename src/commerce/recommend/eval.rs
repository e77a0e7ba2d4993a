//! Offline evaluation of recommendations with a time-based hold-out.
//!
//! Loads the demo catalog into a fresh SQLite file, writes a synthetic order
//! history ([`super::synthetic`]) into it, rebuilds on the first 80% of the
//! orders by time, then for each later basket with two or more products hides
//! one and asks the real read path ([`super::from_seeds`]) for ten products
//! from the rest. Hit-rate@10 is the share of baskets whose hidden product is
//! among the ten. The baseline is the ten best sellers of the training window
//! not already in the basket. Nothing here runs in normal operation.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::batch::{RebuildReport, Tuning, rebuild_with};
use super::synthetic::{self, CatalogItem, HistoryOptions, Rng, SyntheticOrder};
use super::{RecommendError, Seed, from_seeds};
use crate::catalog::Currency;
use crate::catalog::import::ImportError;
use crate::store::recommendations::{HistoryLine, HistoryOrder, insert_history_order};
use crate::store::{Store, StoreError, StoreOptions, products};

/// The list length hit-rate is measured at.
pub const CUTOFF_RANK: usize = 10;
/// The share of orders, latest by time, held out for testing.
const HELD_OUT: f64 = 0.2;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot load the demo catalog: {0}")]
    Catalog(#[from] ImportError),
    #[error(transparent)]
    Recommend(#[from] RecommendError),
    #[error("the catalog has no available products to generate orders from")]
    EmptyCatalog,
}

/// A configuration of the batch to score.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub tuning: Tuning,
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub orders: usize,
    pub seed: u64,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone)]
pub struct VariantResult {
    pub variant: Variant,
    pub hits: usize,
    pub hit_rate: f64,
    /// Share of all recommended places taken by the ten best sellers of the
    /// training window: how much the lists are "milk and bananas" for everyone.
    pub best_seller_share: f64,
    /// Distinct products recommended over all queries, a share of the catalog.
    pub coverage: f64,
    pub rebuild: RebuildReport,
}

#[derive(Debug, Clone)]
pub struct EvalReport {
    pub catalog_products: usize,
    pub missions: usize,
    pub orders: usize,
    pub training_orders: usize,
    /// The hold-out boundary: training orders are before it.
    pub cutoff: OffsetDateTime,
    /// Just after the last generated order.
    pub history_end: OffsetDateTime,
    pub queries: usize,
    pub baseline_hits: usize,
    pub baseline_hit_rate: f64,
    pub variants: Vec<VariantResult>,
}

impl EvalReport {
    /// The result of the variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&VariantResult> {
        self.variants.iter().find(|v| v.variant.name == name)
    }
}

/// The default tuning and the reference points it is compared with.
pub fn standard_variants() -> Vec<Variant> {
    let default = Tuning::default();
    let named = |name: &str, tuning: Tuning| Variant {
        name: name.to_string(),
        tuning,
    };
    let mut variants = vec![
        named("co-purchase (default tuning)", default),
        named(
            "default, with pairs seen once kept",
            Tuning {
                min_co_count: 1,
                ..default
            },
        ),
        named(
            "raw co-counts (alpha 0, no shrinkage)",
            Tuning {
                alpha: 0.0,
                shrinkage: 0.0,
                ..default
            },
        ),
        named(
            "category popularity alone (no co-purchase)",
            Tuning {
                neighbours_kept: 0,
                ..default
            },
        ),
    ];
    for alpha in [0.3, 0.5, 0.7, 0.9] {
        for shrinkage in [0.0, 5.0, 20.0] {
            variants.push(named(
                &format!("alpha {alpha}, shrinkage {shrinkage}"),
                Tuning {
                    alpha,
                    shrinkage,
                    ..default
                },
            ));
        }
    }
    variants
}

/// One held-out basket: what the shopper had, and the product hidden from it.
struct Query {
    seeds: Vec<i64>,
    hidden: i64,
}

/// Runs the evaluation in `dir`, which keeps the database as `shopkeep.db`:
/// a data directory the CLI can open afterwards.
pub fn evaluate(dir: &Path, options: &EvalOptions) -> Result<EvalReport, EvalError> {
    let store = Store::open(&dir.join("shopkeep.db"), &StoreOptions::default())?;
    let currency = Currency::from_code("USD").ok_or(EvalError::EmptyCatalog)?;
    crate::catalog::demo::load_if_empty(&store, &currency)?;
    let catalog = available_catalog(&store)?;
    if catalog.is_empty() {
        return Err(EvalError::EmptyCatalog);
    }
    // A fixed year (2025-01-01 on), so the recorded numbers do not depend on the run's date.
    let start =
        OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let history = synthetic::generate(
        &catalog,
        &HistoryOptions {
            orders: options.orders,
            seed: options.seed,
            start,
            days: 365,
        },
    );
    write_history(&store, &catalog, &history, &currency)?;
    let split = ((history.len() as f64) * (1.0 - HELD_OUT)) as usize;
    let cutoff = history.get(split).map_or(start, |o| o.created_at);
    let history_end = history
        .last()
        .map_or(start, |o| o.created_at + time::Duration::SECOND);
    let (training, held_out): (Vec<_>, Vec<_>) =
        history.iter().partition(|o| o.created_at < cutoff);
    let queries = held_out_queries(&catalog, &held_out, options.seed);
    let best_sellers = best_sellers(&catalog, &training);
    let baseline_hits = queries
        .iter()
        .filter(|q| baseline_top(&best_sellers, &q.seeds).contains(&q.hidden))
        .count();
    let mut variants = Vec::new();
    for variant in &options.variants {
        let rebuild = rebuild_with(&store, cutoff, &variant.tuning)?;
        let lists = store.read(|conn| {
            let mut lists = Vec::with_capacity(queries.len());
            for q in &queries {
                let seeds: Vec<Seed> = q
                    .seeds
                    .iter()
                    .map(|&product_id| Seed {
                        product_id,
                        weight: 1.0,
                    })
                    .collect();
                let exclude: HashSet<i64> = q.seeds.iter().copied().collect();
                let top = from_seeds(conn, &seeds, &exclude, CUTOFF_RANK)?;
                lists.push(top.into_iter().map(|s| s.product_id).collect::<Vec<_>>());
            }
            Ok(lists)
        })?;
        variants.push(score_lists(
            variant,
            rebuild,
            &queries,
            &lists,
            &best_sellers,
            catalog.len(),
        ));
    }
    store.close()?;
    Ok(EvalReport {
        catalog_products: catalog.len(),
        missions: synthetic::missions_for(&catalog).len(),
        orders: history.len(),
        training_orders: training.len(),
        cutoff,
        history_end,
        queries: queries.len(),
        baseline_hits,
        baseline_hit_rate: rate(baseline_hits, queries.len()),
        variants,
    })
}

/// Hit-rate, best-seller share and coverage of one variant's lists.
fn score_lists(
    variant: &Variant,
    rebuild: RebuildReport,
    queries: &[Query],
    lists: &[Vec<i64>],
    best_sellers: &[i64],
    catalog_size: usize,
) -> VariantResult {
    let top: HashSet<i64> = best_sellers.iter().take(CUTOFF_RANK).copied().collect();
    let hits = queries
        .iter()
        .zip(lists)
        .filter(|(q, list)| list.contains(&q.hidden))
        .count();
    let places: usize = lists.iter().map(Vec::len).sum();
    let staples = lists.iter().flatten().filter(|id| top.contains(id)).count();
    let distinct: HashSet<i64> = lists.iter().flatten().copied().collect();
    VariantResult {
        variant: variant.clone(),
        hits,
        hit_rate: rate(hits, queries.len()),
        best_seller_share: rate(staples, places),
        coverage: rate(distinct.len(), catalog_size),
        rebuild,
    }
}

fn rate(hits: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

/// Every active product with stock (or untracked stock), as the generator sees it.
fn available_catalog(store: &Store) -> Result<Vec<CatalogItem>, StoreError> {
    let mut items = Vec::new();
    let mut after_id = None;
    loop {
        let query = products::ListQuery {
            after_id,
            limit: 500,
            ..Default::default()
        };
        let page = store.read(|c| products::list(c, &query))?;
        let Some(last) = page.last() else {
            return Ok(items);
        };
        after_id = Some(last.id);
        items.extend(
            page.iter()
                .filter(|p| p.draft.active() && p.draft.in_stock())
                .map(|p| CatalogItem {
                    id: p.id,
                    name: p.draft.name().to_string(),
                    category: p.draft.category().to_string(),
                    tags: p.draft.tags().to_vec(),
                    dietary: p.draft.dietary().to_vec(),
                    price_minor: p.draft.price().minor(),
                }),
        );
    }
}

/// Writes the generated orders (customers as sessions) in one transaction.
fn write_history(
    store: &Store,
    catalog: &[CatalogItem],
    history: &[SyntheticOrder],
    currency: &Currency,
) -> Result<(), EvalError> {
    let mut orders = Vec::with_capacity(history.len());
    for (n, order) in history.iter().enumerate() {
        orders.push(HistoryOrder {
            number: format!("SYN-{n:07}"),
            customer_id: None,
            session_id: Some(i64::from(order.customer) + 1),
            status: order.status.as_str().to_string(),
            currency: currency.code().to_string(),
            created_at: order
                .created_at
                .format(&Rfc3339)
                .map_err(RecommendError::Clock)?,
            lines: order
                .lines
                .iter()
                .map(|&(item, quantity)| HistoryLine {
                    product_id: catalog[item].id,
                    name: catalog[item].name.clone(),
                    category: catalog[item].category.clone(),
                    quantity,
                    unit_price_minor: catalog[item].price_minor,
                })
                .collect(),
        });
    }
    store.write(|tx| {
        for order in &orders {
            insert_history_order(tx, order)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// For each held-out sale with two or more products, one product hidden at random.
fn held_out_queries(
    catalog: &[CatalogItem],
    held_out: &[&SyntheticOrder],
    seed: u64,
) -> Vec<Query> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    held_out
        .iter()
        .filter(|o| o.status.is_sale() && o.lines.len() >= 2)
        .map(|o| {
            let mut products: Vec<i64> = o.lines.iter().map(|&(i, _)| catalog[i].id).collect();
            let hidden = products.swap_remove(rng.below(products.len()));
            Query {
                seeds: products,
                hidden,
            }
        })
        .collect()
}

/// Product ids by units sold in the training sales, best first.
fn best_sellers(catalog: &[CatalogItem], training: &[&SyntheticOrder]) -> Vec<i64> {
    let mut units: HashMap<i64, i64> = HashMap::new();
    for order in training.iter().filter(|o| o.status.is_sale()) {
        for &(item, quantity) in &order.lines {
            *units.entry(catalog[item].id).or_default() += quantity;
        }
    }
    let mut ranked: Vec<(i64, i64)> = units.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().map(|(id, _)| id).collect()
}

fn baseline_top(best_sellers: &[i64], seeds: &[i64]) -> Vec<i64> {
    best_sellers
        .iter()
        .filter(|id| !seeds.contains(id))
        .take(CUTOFF_RANK)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_purchase_beats_the_popularity_baseline_on_a_held_out_month() {
        let dir = tempfile::tempdir().unwrap();
        let options = EvalOptions {
            orders: 5000,
            seed: 11,
            variants: vec![
                Variant {
                    name: "default".into(),
                    tuning: Tuning::default(),
                },
                Variant {
                    name: "fallback only".into(),
                    tuning: Tuning {
                        neighbours_kept: 0,
                        ..Tuning::default()
                    },
                },
            ],
        };
        let report = evaluate(dir.path(), &options).unwrap();
        assert!(
            dir.path().join("shopkeep.db").is_file(),
            "a real SQLite file"
        );
        assert_eq!(report.orders, 5000);
        assert!(report.queries > 500, "{} held-out baskets", report.queries);
        let model = report.variant("default").unwrap();
        assert!(model.rebuild.pairs_kept > 1000, "{:?}", model.rebuild);
        let fallback = report.variant("fallback only").unwrap();
        assert_eq!(fallback.rebuild.pairs_kept, 0);
        // Co-purchase must win clearly: by half again over popularity, and by
        // ten points. A similarity computed wrongly (or not at all, as the
        // fallback-only run shows) lands near the baseline.
        assert!(
            model.hit_rate > 1.5 * report.baseline_hit_rate
                && model.hit_rate > report.baseline_hit_rate + 0.10,
            "co-purchase {:.3} vs popularity {:.3}",
            model.hit_rate,
            report.baseline_hit_rate
        );
        assert!(
            model.hit_rate > fallback.hit_rate + 0.10,
            "co-purchase {:.3} vs its own fallback alone {:.3}",
            model.hit_rate,
            fallback.hit_rate
        );
    }
}
