//! Turns what a shopper typed, plus filters and boosts, into a Tantivy query.
//!
//! Each word matches its stem in the weighted text fields (name first); words of
//! 4+ letters also match within one typo (two for 8+) in the unstemmed `plain`
//! field; the last word also matches as a prefix (search-as-you-type), and while
//! it is still being typed it is matched only as typed, never as a typo; several
//! words in order in a name score extra (phrase boost). Words match with OR so a
//! product with more of them ranks higher.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{Facet, IndexRecordOption};
use tantivy::tokenizer::TokenStream;
use tantivy::{Index, Term};

use super::personal::{Affinities, Kind};
use super::schema::{Fields, PLAIN, STEMMED, category_facet, single_facet};

/// Words that carry no product meaning in a query ("something for a picnic").
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "any",
    "are",
    "for",
    "from",
    "i",
    "in",
    "is",
    "it",
    "me",
    "my",
    "need",
    "of",
    "on",
    "or",
    "some",
    "something",
    "the",
    "to",
    "want",
    "with",
    "looking",
    "please",
];

/// Weighted text fields: the name matters most, the description least.
fn weighted(fields: &Fields) -> [(tantivy::schema::Field, f32); 6] {
    [
        (fields.name, 3.0),
        (fields.brand, 2.0),
        (fields.tags, 2.0),
        (fields.category, 1.5),
        (fields.attributes, 1.0),
        (fields.description, 0.5),
    ]
}

/// Restrictions every hit must satisfy. Prices are in minor units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub category: Option<String>,
    pub brand: Option<String>,
    pub min_price: Option<u64>,
    pub max_price: Option<u64>,
    pub in_stock: bool,
    pub tags: Vec<String>,
    pub dietary: Vec<String>,
}

/// Preferences that lift matching products without excluding others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Boosts {
    pub brands: Vec<String>,
    pub dietary: Vec<String>,
    pub categories: Vec<String>,
}

impl Boosts {
    pub fn is_empty(&self) -> bool {
        self.brands.is_empty() && self.dietary.is_empty() && self.categories.is_empty()
    }
}

/// Runs `text` through a registered analyzer.
pub fn analyze(index: &Index, analyzer: &str, text: &str) -> Vec<String> {
    let Some(mut analyzer) = index.tokenizers().get(analyzer) else {
        return Vec::new();
    };
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    tokens
}

/// The words of a query worth matching, unstemmed and stemmed, stop words dropped
/// unless nothing else is left.
pub fn query_words(index: &Index, text: &str) -> Vec<(String, String)> {
    let plain = analyze(index, PLAIN, text);
    let stemmed = analyze(index, STEMMED, text);
    let words: Vec<(String, String)> = plain.into_iter().zip(stemmed).collect();
    let content: Vec<(String, String)> = words
        .iter()
        .filter(|(p, _)| !STOP_WORDS.contains(&p.as_str()))
        .cloned()
        .collect();
    if content.is_empty() { words } else { content }
}

/// How the last word is treated: as finished (typos forgiven) or still being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastWord {
    Finished,
    BeingTyped,
}

/// The relevance part of a query, or `None` when the text has no words.
pub fn text_query(
    index: &Index,
    fields: &Fields,
    text: &str,
    last_word: LastWord,
) -> Option<Box<dyn Query>> {
    let words = query_words(index, text);
    let last = words.len().checked_sub(1)?;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (i, (plain, stem)) in words.iter().enumerate() {
        let mut alternatives: Vec<Box<dyn Query>> = weighted(fields)
            .iter()
            .map(|(field, boost)| {
                boosted(
                    TermQuery::new(
                        Term::from_field_text(*field, stem),
                        IndexRecordOption::WithFreqs,
                    ),
                    *boost,
                )
            })
            .collect();
        let length = plain.chars().count();
        let being_typed = i == last && last_word == LastWord::BeingTyped;
        if length >= 4 && !being_typed {
            let distance = if length >= 8 { 2 } else { 1 };
            alternatives.push(boosted(
                FuzzyTermQuery::new(Term::from_field_text(fields.plain, plain), distance, true),
                0.8,
            ));
        }
        if i == last && length >= 2 {
            let weight = if being_typed { 2.0 } else { 0.6 };
            alternatives.push(boosted(
                FuzzyTermQuery::new_prefix(Term::from_field_text(fields.plain, plain), 0, true),
                weight,
            ));
        }
        clauses.push((Occur::Should, Box::new(BooleanQuery::union(alternatives))));
    }
    if words.len() >= 2 {
        let terms = words
            .iter()
            .map(|(_, stem)| Term::from_field_text(fields.name, stem))
            .collect();
        clauses.push((Occur::Should, boosted(PhraseQuery::new(terms), 2.0)));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// The full query: relevance (or everything) and the filters that must hold.
pub fn full_query(
    relevance: Option<Box<dyn Query>>,
    fields: &Fields,
    filters: &Filters,
) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, relevance.unwrap_or_else(|| Box::new(AllQuery)))];
    clauses.extend(filter_clauses(fields, filters));
    Box::new(BooleanQuery::new(clauses))
}

/// Products matching any of the caller's preferences (brand, dietary label, category).
pub fn preference_query(fields: &Fields, boosts: &Boosts) -> Box<dyn Query> {
    let brands = boosts
        .brands
        .iter()
        .map(|b| facet_term(fields.brand_facet, &single_facet(b)));
    let dietary = boosts
        .dietary
        .iter()
        .map(|d| facet_term(fields.dietary_facet, &single_facet(&d.to_lowercase())));
    let categories = boosts
        .categories
        .iter()
        .filter_map(|c| category_facet(c))
        .map(|f| facet_term(fields.category_facet, &f));
    Box::new(BooleanQuery::union(
        brands.chain(dietary).chain(categories).collect(),
    ))
}

/// One facet query per preferred value, with its kind and weight.
pub fn affinity_queries(
    fields: &Fields,
    affinities: &Affinities,
) -> Vec<(Kind, Box<dyn Query>, f32)> {
    let brands = affinities.brands.iter().map(|(b, w)| {
        (
            Kind::Brand,
            facet_term(fields.brand_facet, &single_facet(b)),
            *w,
        )
    });
    let dietary = affinities.dietary.iter().map(|(d, w)| {
        let facet = single_facet(&d.to_lowercase());
        (Kind::Dietary, facet_term(fields.dietary_facet, &facet), *w)
    });
    let categories = affinities.categories.iter().filter_map(|(c, w)| {
        category_facet(c).map(|f| (Kind::Category, facet_term(fields.category_facet, &f), *w))
    });
    brands.chain(dietary).chain(categories).collect()
}

/// Only the filters, for checking candidates found another way (vector search).
pub fn filter_query(fields: &Fields, filters: &Filters) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(AllQuery))];
    clauses.extend(filter_clauses(fields, filters));
    Box::new(BooleanQuery::new(clauses))
}

fn facet_term(field: tantivy::schema::Field, facet: &Facet) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_facet(field, facet),
        IndexRecordOption::Basic,
    ))
}

fn filter_clauses(fields: &Fields, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(facet) = filters.category.as_deref().and_then(category_facet) {
        clauses.push((Occur::Must, facet_term(fields.category_facet, &facet)));
    }
    if let Some(brand) = &filters.brand {
        clauses.push((
            Occur::Must,
            facet_term(fields.brand_facet, &single_facet(brand)),
        ));
    }
    for tag in &filters.tags {
        clauses.push((
            Occur::Must,
            facet_term(fields.tag_facet, &single_facet(&tag.to_lowercase())),
        ));
    }
    for label in &filters.dietary {
        clauses.push((
            Occur::Must,
            facet_term(fields.dietary_facet, &single_facet(&label.to_lowercase())),
        ));
    }
    if filters.min_price.is_some() || filters.max_price.is_some() {
        let bound = |value: Option<u64>| {
            value.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(fields.price, v))
            })
        };
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                bound(filters.min_price),
                bound(filters.max_price),
            )),
        ));
    }
    if filters.in_stock {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_u64(fields.in_stock, 1),
                IndexRecordOption::Basic,
            )),
        ));
    }
    clauses
}

fn boosted(query: impl Query, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(Box::new(query), boost))
}
