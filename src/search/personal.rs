//! Personal boosts: a signed-in shopper's strong preferences (brands,
//! categories, dietary labels, each weighted 0..1) lift matching products a
//! little in the relevance ranking.
//!
//! The boost multiplies a product's fused 0..1 relevance by at most
//! `1 + MAX_BOOST`, so relevance still decides: a product needs at least
//! 1 / 1.15 ≈ 87% of another's relevance to pass it, and a product that does
//! not match the words is not a candidate at all, so no preference can bring
//! it in. Within each kind only the strongest match counts (a pasta product
//! matches both "Pantry" and "Pantry > Pasta"; that is one preference, not
//! two); kinds combine as independent chances, `1 - Π(1 - w)`, which grows
//! with each kind matched and never passes 1.
//!
//! The weights come from the web layer (out of `commerce::profile`); this
//! module knows facet values and numbers, not shoppers.

/// The largest relative lift a perfectly matching product gets.
pub const MAX_BOOST: f32 = 0.15;

/// Preferred facet values with their 0..1 weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Affinities {
    pub brands: Vec<(String, f32)>,
    /// Category paths ("Pantry > Pasta"); sub-categories match too.
    pub categories: Vec<(String, f32)>,
    pub dietary: Vec<(String, f32)>,
}

impl Affinities {
    pub fn is_empty(&self) -> bool {
        self.brands.is_empty() && self.categories.is_empty() && self.dietary.is_empty()
    }
}

/// The kinds of facet a preference can be about, as indexes into [`Matched`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Brand = 0,
    Category = 1,
    Dietary = 2,
}

/// The strongest matched weight per kind for one product.
pub type Matched = [f32; 3];

/// Records a match of weight `weight` of `kind`, keeping the strongest per kind.
pub fn note(matched: &mut Matched, kind: Kind, weight: f32) {
    let slot = &mut matched[kind as usize];
    *slot = slot.max(weight.clamp(0.0, 1.0));
}

/// How strongly a product is preferred, 0..1: `1 - Π(1 - w)` over kinds.
pub fn affinity(matched: &Matched) -> f32 {
    1.0 - matched
        .iter()
        .map(|w| 1.0 - w.clamp(0.0, 1.0))
        .product::<f32>()
}

/// The relevance after the boost: `score × (1 + MAX_BOOST × affinity)`.
pub fn boosted(score: f32, matched: &Matched) -> f32 {
    score * (1.0 + MAX_BOOST * affinity(matched))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::{Currency, ProductDraft, ProductInput};
    use crate::search::{SearchRequest, SearchService};
    use crate::store::{Store, StoreOptions, products};

    #[test]
    fn the_boost_is_bounded_and_grows_with_each_kind() {
        let mut matched = Matched::default();
        assert_eq!(boosted(0.5, &matched), 0.5, "no match, no change");
        note(&mut matched, Kind::Category, 0.4);
        note(&mut matched, Kind::Category, 0.9);
        note(&mut matched, Kind::Category, 0.2);
        assert_eq!(
            affinity(&matched),
            0.9,
            "the strongest match of a kind counts"
        );
        note(&mut matched, Kind::Brand, 0.5);
        assert!((affinity(&matched) - 0.95).abs() < 1e-6);
        note(&mut matched, Kind::Dietary, 7.0);
        assert_eq!(affinity(&matched), 1.0, "weights are clamped to 1");
        assert!((boosted(0.5, &matched) - 0.575).abs() < 1e-6);
    }

    struct Shop {
        _dir: tempfile::TempDir,
        search: SearchService,
        ids: Vec<i64>,
    }

    /// (handle, name, brand, category, dietary, description)
    type Item<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [&'a str], &'a str);

    fn shop(items: &[Item]) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap());
        let currency = Currency::from_code("USD").unwrap();
        let mut ids = Vec::new();
        for (handle, name, brand, category, dietary, description) in items {
            let input = ProductInput {
                handle: Some(handle.to_string()),
                name: Some(name.to_string()),
                brand: Some(brand.to_string()),
                category: Some(category.to_string()),
                dietary: dietary.iter().map(|d| d.to_string()).collect(),
                description: Some(description.to_string()),
                price: Some("2.00".into()),
                ..Default::default()
            };
            let draft = ProductDraft::parse(&input, &currency).unwrap();
            ids.push(store.write(|tx| products::insert(tx, &draft)).unwrap());
        }
        let search = SearchService::open(store, currency, &dir.path().join("index"), None).unwrap();
        search.catch_up_index().unwrap();
        Shop {
            _dir: dir,
            search,
            ids,
        }
    }

    fn ranked(shop: &Shop, text: &str, affinities: Affinities) -> Vec<(i64, f32)> {
        let mut request = SearchRequest::new(text);
        request.affinities = affinities;
        shop.search
            .search(&request)
            .unwrap()
            .hits
            .iter()
            .map(|h| (h.id, h.score))
            .collect()
    }

    fn order(hits: &[(i64, f32)]) -> Vec<i64> {
        hits.iter().map(|h| h.0).collect()
    }

    fn brand(name: &str, weight: f32) -> Affinities {
        Affinities {
            brands: vec![(name.to_string(), weight)],
            ..Affinities::default()
        }
    }

    const PENNE: &str = "Pantry > Pasta";

    #[test]
    fn two_profiles_order_equally_relevant_hits_differently() {
        let shop = shop(&[
            (
                "alpha-penne",
                "Penne Rigate",
                "Alpha",
                PENNE,
                &["vegan"],
                "",
            ),
            (
                "beta-penne",
                "Penne Rigate",
                "Beta",
                PENNE,
                &["organic"],
                "",
            ),
            (
                "passata",
                "Passata",
                "Gamma",
                "Pantry > Sauces",
                &[],
                "Pour over penne.",
            ),
        ]);
        let [alpha, beta, passata] = shop.ids[..] else {
            panic!("three products")
        };
        let plain = ranked(&shop, "penne", Affinities::default());
        assert_eq!(order(&plain), vec![alpha, beta, passata]);
        assert_eq!(plain[0].1, plain[1].1, "the two penne are equally relevant");
        let likes_beta = ranked(&shop, "penne", brand("Beta", 0.6));
        assert_eq!(order(&likes_beta), vec![beta, alpha, passata]);
        let organic = Affinities {
            dietary: vec![("organic".into(), 0.5)],
            ..Affinities::default()
        };
        assert_eq!(order(&ranked(&shop, "penne", organic))[0], beta);
        let likes_alpha = ranked(&shop, "penne", brand("Alpha", 0.6));
        assert_eq!(order(&likes_alpha), vec![alpha, beta, passata]);
        assert!(
            likes_alpha[0].1 > likes_alpha[1].1,
            "the tie is broken by preference"
        );
    }

    #[test]
    fn preferences_never_lift_a_weak_match_over_a_clearly_relevant_one() {
        let shop = shop(&[
            (
                "penne",
                "Penne Rigate",
                "Alpha",
                PENNE,
                &[],
                "Bronze-cut durum wheat penne.",
            ),
            (
                "passata",
                "Passata",
                "Gamma",
                "Pantry > Sauces",
                &["vegan"],
                "Smooth tomato sauce; pour over penne.",
            ),
            (
                "tablecloth",
                "Linen Tablecloth",
                "Gamma",
                "Home",
                &["vegan"],
                "A long linen cloth for long lunches of penne, salads, bread, cheese and wine outdoors.",
            ),
            (
                "olive-oil",
                "Olive Oil",
                "Gamma",
                "Pantry > Sauces",
                &["vegan"],
                "Cold pressed.",
            ),
        ]);
        let [penne, passata, tablecloth, olive_oil] = shop.ids[..] else {
            panic!("four products")
        };
        let plain = ranked(&shop, "penne", Affinities::default());
        assert_eq!(order(&plain), vec![penne, passata, tablecloth]);
        let everything_gamma = Affinities {
            brands: vec![("Gamma".into(), 1.0)],
            categories: vec![("Pantry".into(), 1.0), ("Pantry > Sauces".into(), 1.0)],
            dietary: vec![("vegan".into(), 1.0)],
        };
        let boosted_hits = ranked(&shop, "penne", everything_gamma);
        assert_eq!(
            order(&boosted_hits),
            vec![penne, passata, tablecloth],
            "the clearly relevant product stays first"
        );
        assert!(
            !order(&boosted_hits).contains(&olive_oil),
            "a product that does not match the words is never brought in"
        );
        let score_of = |hits: &[(i64, f32)], id| hits.iter().find(|h| h.0 == id).unwrap().1;
        let lifted = score_of(&boosted_hits, passata) / score_of(&plain, passata);
        assert!(
            lifted > 1.0 && lifted <= 1.0 + MAX_BOOST + 1e-6,
            "passata was lifted by a bounded factor: {lifted}"
        );
    }
}
