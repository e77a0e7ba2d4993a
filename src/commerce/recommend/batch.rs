//! The rebuild batch: order baskets in, damped co-purchase neighbours and
//! recency-weighted popularity out, swapped in by one write transaction.
//!
//! Reads orders through `store::recommendations` on a reader connection (so
//! checkouts are not blocked while it counts) and holds only sparse counts:
//! one counter per product and one per pair of products ever bought together,
//! then at most `neighbours_kept` candidates per product. Memory grows with
//! the distinct pairs, not with products squared or with orders.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{RecommendError, sale_statuses};
use crate::store::recommendations::{self as rows, NeighbourRow, PopularityRow, RunRecord};
use crate::store::{Store, now_utc};

/// The knobs of the batch. The defaults are the ones chosen from the
/// measurements in docs/BENCHMARKS.md ("Recommendations"): plain cosine
/// (alpha 0.5), no shrinkage, pairs seen once dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Only orders this many days before `now` count.
    pub window_days: u32,
    /// Neighbours stored per product.
    pub neighbours_kept: usize,
    /// Popularity damping: the recommended item's basket count is raised to
    /// `alpha`, the seed's to `1 - alpha`. 0 ranks by raw co-counts, so items
    /// in every basket (milk, bananas) top every list; 0.5 is plain cosine.
    /// Measured: 0.3 wins about a point of hit-rate but gives a quarter of
    /// every list to the same ten best sellers (0.5: a sixth); 0.7 and up
    /// lose four points and more.
    pub alpha: f64,
    /// Shrinkage: a pair's score is multiplied by `co / (co + shrinkage)`, so
    /// two rare items seen together a few times do not outrank a pair seen a
    /// hundred times. Measured, it only pays together with strong damping
    /// (alpha 0.9); at 0.5 it costs a little, so it is off by default.
    pub shrinkage: f64,
    /// Pairs seen in fewer baskets than this are not kept: one shared basket
    /// is chance, and dropping those keeps the table small at no measured cost.
    pub min_co_count: u32,
    /// Baskets with more distinct products than this (bulk or wholesale
    /// orders) are left out of the similarity: they say little about what goes
    /// together and would add the square of their size in pairs.
    pub max_basket: usize,
    /// Popularity: a unit sold this many days ago counts half as much as one sold now.
    pub half_life_days: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            window_days: 365,
            neighbours_kept: 20,
            alpha: 0.5,
            shrinkage: 0.0,
            min_co_count: 2,
            max_basket: 50,
            half_life_days: 45.0,
        }
    }
}

/// What one rebuild did; also written to the run log.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RebuildReport {
    pub run_id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub window_days: u32,
    /// Sold orders in the window (cancelled and refunded ones do not count).
    pub orders_seen: u64,
    /// Orders with at least two distinct products, the ones pairs come from.
    pub baskets_paired: u64,
    /// Distinct product pairs bought together at least once.
    pub pairs_counted: u64,
    /// Neighbour rows stored (directional).
    pub pairs_kept: u64,
    pub products_with_neighbours: u64,
    /// Products with a popularity score.
    pub products_ranked: u64,
}

/// Rebuilds the stored recommendations from the orders of the last
/// `window_days` before `now`, with the default tuning.
pub fn rebuild(store: &Store, now: OffsetDateTime) -> Result<RebuildReport, RecommendError> {
    rebuild_with(store, now, &Tuning::default())
}

/// Like [`rebuild`], with explicit knobs (the evaluation compares several).
pub fn rebuild_with(
    store: &Store,
    now: OffsetDateTime,
    tuning: &Tuning,
) -> Result<RebuildReport, RecommendError> {
    let clock = Instant::now();
    let started_at = now_utc();
    let window_start = now - time::Duration::days(i64::from(tuning.window_days));
    // Text bounds are a coarse prefilter with a day's margin; `Learner`
    // compares parsed instants, as offsets and fractions make text order
    // differ from time order.
    let from = rfc3339(window_start - time::Duration::DAY)?;
    let until = rfc3339(now + time::Duration::DAY)?;
    let learned = store.read(|conn| {
        let mut learner = Learner::new(window_start, now, tuning);
        rows::for_each_sold_line(conn, &sale_statuses(), &from, &until, |line| {
            learner.add_line(line)
        })?;
        Ok(learner.finish())
    })?;
    // The active set is read inside the write so that a product deleted while
    // the batch counted is not referenced by a new row.
    Ok(store.write(|tx| {
        let active: HashSet<i64> = rows::active_product_ids(tx)?.into_iter().collect();
        let neighbours = learned.neighbours(&active, tuning);
        let popularity = learned.popularity(&active);
        let run = RunRecord {
            started_at: started_at.clone(),
            finished_at: now_utc(),
            window_days: i64::from(tuning.window_days),
            orders_seen: learned.orders_seen as i64,
            baskets_paired: learned.baskets_paired as i64,
            pairs_counted: learned.pairs.len() as i64,
            pairs_kept: neighbours.len() as i64,
            products_ranked: popularity.len() as i64,
        };
        let run_id = rows::replace_all(tx, &neighbours, &popularity, &run, RUNS_KEPT)?;
        Ok(RebuildReport {
            run_id,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_ms: clock.elapsed().as_millis() as u64,
            window_days: tuning.window_days,
            orders_seen: learned.orders_seen,
            baskets_paired: learned.baskets_paired,
            pairs_counted: learned.pairs.len() as u64,
            pairs_kept: neighbours.len() as u64,
            products_with_neighbours: count_distinct(neighbours.iter().map(|n| n.product_id)),
            products_ranked: popularity.len() as u64,
        })
    })?)
}

/// The nightly job: rebuilds and logs the outcome. A failed run leaves the
/// previous recommendations in place, so it only logs.
pub fn scheduled_rebuild(store: &Store) {
    match rebuild(store, OffsetDateTime::now_utc()) {
        Ok(report) => tracing::info!(
            orders = report.orders_seen,
            pairs_kept = report.pairs_kept,
            products_ranked = report.products_ranked,
            duration_ms = report.duration_ms,
            "recommendations rebuilt"
        ),
        Err(error) => tracing::error!(
            %error,
            "recommendation rebuild failed; the previous recommendations stay"
        ),
    }
}

/// A nightly run keeps a bit over three months of history.
const RUNS_KEPT: usize = 100;

fn rfc3339(at: OffsetDateTime) -> Result<String, RecommendError> {
    at.format(&Rfc3339).map_err(RecommendError::Clock)
}

fn count_distinct(ids: impl Iterator<Item = i64>) -> u64 {
    ids.collect::<HashSet<_>>().len() as u64
}

/// Sparse counts gathered from a stream of order lines (grouped by order).
struct Learner<'a> {
    tuning: &'a Tuning,
    window: (OffsetDateTime, OffsetDateTime),
    /// Dense index of each product id seen, so pair keys fit in a u64.
    index: HashMap<i64, u32>,
    ids: Vec<i64>,
    /// Baskets (among those used for similarity) holding each product.
    baskets_with: Vec<u32>,
    /// Baskets holding both products of a pair, keyed `low << 32 | high`.
    pairs: HashMap<u64, u32>,
    popularity: HashMap<i64, (f64, i64)>,
    current: Option<OpenBasket>,
    orders_seen: u64,
    baskets_paired: u64,
}

struct OpenBasket {
    order_id: i64,
    /// Recency weight, or `None` when the order is outside the window.
    weight: Option<f64>,
    products: Vec<u32>,
}

/// What a finished pass over the orders learned.
struct Learned {
    ids: Vec<i64>,
    baskets_with: Vec<u32>,
    pairs: HashMap<u64, u32>,
    popularity: HashMap<i64, (f64, i64)>,
    orders_seen: u64,
    baskets_paired: u64,
}

impl<'a> Learner<'a> {
    fn new(from: OffsetDateTime, until: OffsetDateTime, tuning: &'a Tuning) -> Self {
        Learner {
            tuning,
            window: (from, until),
            index: HashMap::new(),
            ids: Vec::new(),
            baskets_with: Vec::new(),
            pairs: HashMap::new(),
            popularity: HashMap::new(),
            current: None,
            orders_seen: 0,
            baskets_paired: 0,
        }
    }

    fn add_line(&mut self, line: rows::SoldLine) {
        if self
            .current
            .as_ref()
            .is_none_or(|b| b.order_id != line.order_id)
        {
            self.close_basket();
            self.current = Some(OpenBasket {
                order_id: line.order_id,
                weight: self.recency_weight(&line.created_at),
                products: Vec::new(),
            });
        }
        let Some(basket) = self.current.as_mut() else {
            return;
        };
        let Some(weight) = basket.weight else {
            return;
        };
        let entry = self.popularity.entry(line.product_id).or_default();
        entry.0 += weight * line.quantity as f64;
        entry.1 += line.quantity;
        let next = self.ids.len() as u32;
        let index = *self.index.entry(line.product_id).or_insert(next);
        if index == next {
            self.ids.push(line.product_id);
            self.baskets_with.push(0);
        }
        basket.products.push(index);
    }

    /// 0.5^(age / half-life) for an order inside the window; `None` outside it
    /// or when its timestamp is unreadable (such an order is skipped, not fatal).
    fn recency_weight(&self, created_at: &str) -> Option<f64> {
        let at = OffsetDateTime::parse(created_at, &Rfc3339).ok()?;
        let (from, until) = self.window;
        if at < from || at >= until {
            return None;
        }
        let age_days = (until - at).as_seconds_f64() / 86_400.0;
        Some(0.5f64.powf(age_days / self.tuning.half_life_days))
    }

    fn close_basket(&mut self) {
        let Some(mut basket) = self.current.take() else {
            return;
        };
        if basket.weight.is_none() {
            return;
        }
        self.orders_seen += 1;
        basket.products.sort_unstable();
        basket.products.dedup();
        if basket.products.len() > self.tuning.max_basket {
            return;
        }
        for &p in &basket.products {
            self.baskets_with[p as usize] += 1;
        }
        if basket.products.len() >= 2 {
            self.baskets_paired += 1;
        }
        for (i, &low) in basket.products.iter().enumerate() {
            for &high in &basket.products[i + 1..] {
                *self.pairs.entry(pair_key(low, high)).or_default() += 1;
            }
        }
    }

    fn finish(mut self) -> Learned {
        self.close_basket();
        Learned {
            ids: self.ids,
            baskets_with: self.baskets_with,
            pairs: self.pairs,
            popularity: self.popularity,
            orders_seen: self.orders_seen,
            baskets_paired: self.baskets_paired,
        }
    }
}

fn pair_key(low: u32, high: u32) -> u64 {
    (u64::from(low) << 32) | u64::from(high)
}

impl Learned {
    /// The best `neighbours_kept` neighbours of every active product, both
    /// ends of a pair active.
    fn neighbours(&self, active: &HashSet<i64>, tuning: &Tuning) -> Vec<NeighbourRow> {
        let mut best: HashMap<u32, TopK> = HashMap::new();
        let keep = tuning.neighbours_kept;
        if keep == 0 {
            return Vec::new();
        }
        for (&key, &co) in &self.pairs {
            if co < tuning.min_co_count {
                continue;
            }
            let (a, b) = ((key >> 32) as u32, key as u32);
            if !active.contains(&self.ids[a as usize]) || !active.contains(&self.ids[b as usize]) {
                continue;
            }
            for (seed, other) in [(a, b), (b, a)] {
                let score = similarity(
                    co,
                    self.baskets_with[seed as usize],
                    self.baskets_with[other as usize],
                    tuning,
                );
                best.entry(seed)
                    .or_insert_with(|| TopK::new(keep))
                    .offer(Candidate {
                        score,
                        index: other,
                        co,
                    });
            }
        }
        let mut out = Vec::new();
        for (seed, top) in best {
            out.extend(top.into_sorted().into_iter().map(|c| NeighbourRow {
                product_id: self.ids[seed as usize],
                neighbour_id: self.ids[c.index as usize],
                score: c.score,
                co_count: i64::from(c.co),
            }));
        }
        out
    }

    /// Recency-weighted units of every active product sold in the window.
    fn popularity(&self, active: &HashSet<i64>) -> Vec<PopularityRow> {
        self.popularity
            .iter()
            .filter(|(id, _)| active.contains(id))
            .map(|(&product_id, &(score, units))| PopularityRow {
                product_id,
                score,
                units,
            })
            .collect()
    }
}

/// Damped cosine of recommending `other` to someone holding `seed`:
/// co / (n_seed^(1-α) · n_other^α), shrunk by co / (co + λ).
fn similarity(co: u32, n_seed: u32, n_other: u32, tuning: &Tuning) -> f64 {
    let co = f64::from(co);
    let denominator =
        f64::from(n_seed).powf(1.0 - tuning.alpha) * f64::from(n_other).powf(tuning.alpha);
    (co / denominator) * (co / (co + tuning.shrinkage))
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f64,
    index: u32,
    co: u32,
}

/// Greater is better: a higher score, then the lower index, so ties resolve
/// the same way on every run.
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.index.cmp(&self.index))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The `k` best candidates offered, in O(k) memory (a min-heap of the kept ones).
struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Candidate>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, candidate: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(Reverse(candidate));
        } else if self
            .heap
            .peek()
            .is_some_and(|Reverse(worst)| candidate > *worst)
        {
            self.heap.pop();
            self.heap.push(Reverse(candidate));
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<Candidate> {
        let mut kept: Vec<Candidate> = self.heap.into_iter().map(|Reverse(c)| c).collect();
        kept.sort_by(|a, b| b.cmp(a));
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(baskets: &[&[i64]], tuning: &Tuning) -> Learned {
        let now = OffsetDateTime::now_utc();
        let mut learner = Learner::new(now - time::Duration::days(30), now, tuning);
        let at = rfc3339(now - time::Duration::HOUR).unwrap();
        for (order_id, basket) in baskets.iter().enumerate() {
            for &product_id in *basket {
                learner.add_line(rows::SoldLine {
                    order_id: order_id as i64,
                    created_at: at.clone(),
                    product_id,
                    quantity: 1,
                });
            }
        }
        learner.finish()
    }

    fn neighbours_of(learned: &Learned, product: i64, tuning: &Tuning) -> Vec<(i64, f64)> {
        let active: HashSet<i64> = learned.ids.iter().copied().collect();
        let mut found: Vec<_> = learned
            .neighbours(&active, tuning)
            .into_iter()
            .filter(|n| n.product_id == product)
            .map(|n| (n.neighbour_id, n.score))
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found
    }

    #[test]
    fn plain_cosine_is_co_count_over_the_root_of_both_counts() {
        let tuning = Tuning {
            alpha: 0.5,
            shrinkage: 0.0,
            min_co_count: 1,
            ..Tuning::default()
        };
        // 1 and 2 together twice; 1 alone once; 2 with 3 once.
        let learned = learn(&[&[1, 2], &[1, 2], &[1], &[2, 3]], &tuning);
        let expected = 2.0 / (3.0f64 * 3.0).sqrt();
        let got = neighbours_of(&learned, 1, &tuning);
        assert_eq!(got.len(), 1);
        assert!((got[0].1 - expected).abs() < 1e-12, "{got:?}");
        assert_eq!(learned.orders_seen, 4);
        assert_eq!(learned.baskets_paired, 3);
    }

    #[test]
    fn damping_lets_a_specific_partner_beat_an_item_in_every_basket() {
        // Product 1 is bought with its partner 2 in 20 baskets and with 9
        // (which is in every basket) in 25; 9 is in 200 baskets in all.
        let mut baskets: Vec<Vec<i64>> = Vec::new();
        baskets.extend((0..20).map(|_| vec![1, 2, 9]));
        baskets.extend((0..5).map(|_| vec![1, 9]));
        baskets.extend((0..175).map(|i| vec![9, 100 + i % 7]));
        let refs: Vec<&[i64]> = baskets.iter().map(Vec::as_slice).collect();
        let undamped = Tuning {
            alpha: 0.0,
            shrinkage: 0.0,
            ..Tuning::default()
        };
        let damped = Tuning {
            alpha: 0.5,
            shrinkage: 0.0,
            ..Tuning::default()
        };
        let by_co_count = neighbours_of(&learn(&refs, &undamped), 1, &undamped);
        let by_cosine = neighbours_of(&learn(&refs, &damped), 1, &damped);
        assert_eq!(by_co_count[0].0, 9, "raw co-counts favour the staple");
        assert_eq!(by_cosine[0].0, 2, "cosine favours the real partner");
    }

    #[test]
    fn shrinkage_ranks_strong_evidence_above_a_lucky_rare_pair() {
        // 1+2 seen 3 times (both rare); 1+3 seen 30 times, 3 sold 630 times.
        let mut baskets: Vec<Vec<i64>> = vec![vec![1, 2]; 3];
        baskets.extend((0..30).map(|_| vec![1, 3]));
        baskets.extend((0..600).map(|_| vec![3]));
        let refs: Vec<&[i64]> = baskets.iter().map(Vec::as_slice).collect();
        let raw = Tuning {
            shrinkage: 0.0,
            ..Tuning::default()
        };
        let shrunk = Tuning {
            shrinkage: 10.0,
            ..Tuning::default()
        };
        assert_eq!(neighbours_of(&learn(&refs, &raw), 2, &raw)[0].0, 1);
        let for_one_raw = neighbours_of(&learn(&refs, &raw), 1, &raw);
        let for_one_shrunk = neighbours_of(&learn(&refs, &shrunk), 1, &shrunk);
        assert_eq!(for_one_raw[0].0, 2, "without shrinkage the rare pair wins");
        assert_eq!(for_one_shrunk[0].0, 3, "with shrinkage the evidence wins");
    }

    #[test]
    fn only_the_best_k_are_kept_and_rare_pairs_dropped() {
        let tuning = Tuning {
            neighbours_kept: 2,
            min_co_count: 2,
            ..Tuning::default()
        };
        let mut baskets: Vec<Vec<i64>> = Vec::new();
        for (partner, times) in [(2, 5), (3, 4), (4, 3), (5, 1)] {
            baskets.extend((0..times).map(|_| vec![1, partner]));
        }
        let refs: Vec<&[i64]> = baskets.iter().map(Vec::as_slice).collect();
        let learned = learn(&refs, &tuning);
        let kept: Vec<i64> = neighbours_of(&learned, 1, &tuning)
            .iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(kept, [2, 3]);
        assert!(neighbours_of(&learned, 5, &tuning).is_empty());
    }

    #[test]
    fn huge_baskets_and_orders_outside_the_window_are_left_out() {
        let tuning = Tuning {
            max_basket: 3,
            min_co_count: 1,
            ..Tuning::default()
        };
        let now = OffsetDateTime::now_utc();
        let mut learner = Learner::new(now - time::Duration::days(10), now, &tuning);
        let line = |order_id, product_id, at: OffsetDateTime| rows::SoldLine {
            order_id,
            created_at: rfc3339(at).unwrap(),
            product_id,
            quantity: 3,
        };
        for p in 1..=4 {
            learner.add_line(line(1, p, now - time::Duration::DAY));
        }
        learner.add_line(line(2, 5, now - time::Duration::days(11)));
        learner.add_line(line(2, 6, now - time::Duration::days(11)));
        learner.add_line(line(3, 7, now + time::Duration::DAY));
        let learned = learner.finish();
        assert!(learned.pairs.is_empty());
        assert_eq!(learned.orders_seen, 1);
        assert_eq!(learned.popularity.len(), 4, "a big basket still sells");
        let (score, units) = learned.popularity[&1];
        assert_eq!(units, 3);
        assert!(
            score < 3.0 && score > 2.0,
            "a day-old unit counts a bit less: {score}"
        );
    }
}
