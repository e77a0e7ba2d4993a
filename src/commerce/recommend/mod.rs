//! Recommendations: "frequently bought together" from co-purchase similarity,
//! with category popularity as the cold-start fallback.
//!
//! Owns the rules: which orders teach (sales only), how pairs are scored
//! ([`batch`]), how a shopper's cart and history become seeds, what may be
//! shown (active, in stock, not already in the cart) and how the list is
//! filled when co-purchases run short. SQL is `store::recommendations`', HTTP
//! `web::recommendations`'; this module must not write orders or carts.
//!
//! - [`batch`]: the rebuild job (nightly, `shopkeep recommend rebuild`, admin route).
//! - [`synthetic`]: a generated order history with real co-purchase structure.
//! - [`eval`]: time-based hold-out evaluation against a popularity baseline.

pub mod batch;
pub mod eval;
pub mod synthetic;

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde::Serialize;

pub use batch::{RebuildReport, Tuning, rebuild, rebuild_with, scheduled_rebuild};

use super::{OrderStatus, Shopper};
use crate::store::StoreError;
use crate::store::products::{self, Product};
use crate::store::recommendations::{self as rows, Ranked};

/// The most results one request may ask for.
pub const MAX_LIMIT: usize = 50;

/// How many stored neighbours of each seed are considered.
const NEIGHBOURS_PER_SEED: usize = 20;

/// What is in the cart is what the shopper is after now; past orders say what
/// they like but not what they need today, so they count half.
const CART_WEIGHT: f64 = 1.0;
const HISTORY_WEIGHT: f64 = 0.5;

/// Past purchases used as seeds: the products bought most often.
const HISTORY_SEEDS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the rebuild's time window is out of range: {0}")]
    Clock(#[from] time::error::Format),
}

/// Why a product is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Bought in the same baskets as the product (or cart, or past orders).
    BoughtTogether,
    /// A best seller in the category of the product (or of the cart's items).
    PopularInCategory,
    /// A best seller of the whole shop.
    Popular,
}

/// A product to recommend, with its score (comparable within one reason only;
/// the list is already in order) and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub product_id: i64,
    pub score: f64,
    pub reason: Reason,
}

/// A recommended product, loaded for display.
#[derive(Debug, Clone)]
pub struct Recommendation {
    pub product: Product,
    pub score: f64,
    pub reason: Reason,
}

/// A product the recommendations start from, and how much it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    pub product_id: i64,
    pub weight: f64,
}

/// The order statuses that count as sales, for the batch and for history.
pub(crate) fn sale_statuses() -> Vec<&'static str> {
    OrderStatus::ALL
        .into_iter()
        .filter(|s| s.is_sale())
        .map(OrderStatus::as_str)
        .collect()
}

/// "Frequently bought together" for one product; `None` when there is no such
/// active product. Falls back to best sellers of its category, then of the shop.
pub fn for_product(
    conn: &Connection,
    product_id: i64,
    limit: usize,
) -> Result<Option<Vec<Recommendation>>, StoreError> {
    if rows::is_active(conn, product_id)? != Some(true) {
        return Ok(None);
    }
    let seeds = [Seed {
        product_id,
        weight: 1.0,
    }];
    let scored = from_seeds(conn, &seeds, &HashSet::from([product_id]), limit)?;
    load(conn, scored).map(Some)
}

/// Recommendations for a shopper: from the cart and past orders, never what
/// is already in the cart; best sellers when there is nothing to go on.
pub fn for_shopper(
    conn: &Connection,
    shopper: Shopper,
    limit: usize,
) -> Result<Vec<Recommendation>, StoreError> {
    let (seeds, in_cart) = shopper_seeds(conn, shopper)?;
    let scored = from_seeds(conn, &seeds, &in_cart, limit)?;
    load(conn, scored)
}

/// The shopper's seeds (cart items, then past purchases not in the cart) and
/// the cart's products.
fn shopper_seeds(
    conn: &Connection,
    shopper: Shopper,
) -> Result<(Vec<Seed>, HashSet<i64>), StoreError> {
    let cart = rows::cart_product_ids(conn, shopper.customer_id, shopper.session_id)?;
    let history = rows::ordered_product_ids(
        conn,
        shopper.customer_id,
        shopper.session_id,
        &sale_statuses(),
        HISTORY_SEEDS,
    )?;
    let in_cart: HashSet<i64> = cart.iter().copied().collect();
    let seeds = cart
        .iter()
        .map(|&product_id| Seed {
            product_id,
            weight: CART_WEIGHT,
        })
        .chain(
            history
                .into_iter()
                .filter(|id| !in_cart.contains(id))
                .map(|product_id| Seed {
                    product_id,
                    weight: HISTORY_WEIGHT,
                }),
        )
        .collect();
    Ok((seeds, in_cart))
}

/// Up to `limit` products (at most [`MAX_LIMIT`]) for these seeds, none of
/// them in `exclude`: co-purchase neighbours with their weighted scores
/// summed over the seeds, then best sellers of the seeds' categories, then of
/// the shop. Only available (active, in stock) products.
pub fn from_seeds(
    conn: &Connection,
    seeds: &[Seed],
    exclude: &HashSet<i64>,
    limit: usize,
) -> Result<Vec<Scored>, StoreError> {
    let limit = limit.min(MAX_LIMIT);
    let mut picked = bought_together(conn, seeds, exclude, limit)?;
    if picked.len() < limit && !seeds.is_empty() {
        let ids: Vec<i64> = seeds.iter().map(|s| s.product_id).collect();
        let categories = rows::categories_of(conn, &ids)?;
        let want = limit + exclude.len() + picked.len();
        let popular = rows::popular_in_categories(conn, &categories, want)?;
        fill(
            &mut picked,
            popular,
            exclude,
            limit,
            Reason::PopularInCategory,
        );
    }
    if picked.len() < limit {
        let popular = rows::popular(conn, limit + exclude.len() + picked.len())?;
        fill(&mut picked, popular, exclude, limit, Reason::Popular);
    }
    Ok(picked)
}

fn bought_together(
    conn: &Connection,
    seeds: &[Seed],
    exclude: &HashSet<i64>,
    limit: usize,
) -> Result<Vec<Scored>, StoreError> {
    let mut summed: HashMap<i64, f64> = HashMap::new();
    for seed in seeds {
        for n in rows::available_neighbours(conn, seed.product_id, NEIGHBOURS_PER_SEED)? {
            if !exclude.contains(&n.product_id) {
                *summed.entry(n.product_id).or_default() += seed.weight * n.score;
            }
        }
    }
    let mut ranked: Vec<Scored> = summed
        .into_iter()
        .map(|(product_id, score)| Scored {
            product_id,
            score,
            reason: Reason::BoughtTogether,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.product_id.cmp(&b.product_id))
    });
    ranked.truncate(limit);
    Ok(ranked)
}

/// Appends candidates not excluded nor already picked until `limit`.
fn fill(
    picked: &mut Vec<Scored>,
    candidates: Vec<Ranked>,
    exclude: &HashSet<i64>,
    limit: usize,
    reason: Reason,
) {
    for candidate in candidates {
        if picked.len() >= limit {
            return;
        }
        let taken = picked.iter().any(|p| p.product_id == candidate.product_id);
        if !taken && !exclude.contains(&candidate.product_id) {
            picked.push(Scored {
                product_id: candidate.product_id,
                score: candidate.score,
                reason,
            });
        }
    }
}

/// Loads the products for display; one deleted meanwhile is left out.
fn load(conn: &Connection, scored: Vec<Scored>) -> Result<Vec<Recommendation>, StoreError> {
    let mut out = Vec::with_capacity(scored.len());
    for s in scored {
        if let Some(product) = products::get(conn, s.product_id)? {
            out.push(Recommendation {
                product,
                score: s.score,
                reason: s.reason,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
