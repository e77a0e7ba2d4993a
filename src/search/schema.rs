//! The Tantivy schema: which product fields are searched, filtered, faceted, sorted.
//!
//! Text fields use English stemming for matching words ("cookies" finds
//! "cookie"); one extra `plain` field keeps unstemmed lower-case words of the
//! short fields, because typo tolerance and type-ahead prefixes must compare
//! what the shopper typed, not stems. Filters and facets use facet fields.

use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

use crate::store::products::Product;

pub const STEMMED: &str = "shopkeep_en";
pub const PLAIN: &str = "shopkeep_plain";

/// Price buckets for facet counts, in major units: (label, upper bound exclusive).
pub const PRICE_BUCKETS: &[(&str, Option<u64>)] = &[
    ("0-5", Some(5)),
    ("5-10", Some(10)),
    ("10-20", Some(20)),
    ("20-50", Some(50)),
    ("50+", None),
];

#[derive(Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub handle: Field,
    pub name: Field,
    pub brand: Field,
    pub category: Field,
    pub tags: Field,
    pub attributes: Field,
    pub description: Field,
    pub plain: Field,
    pub category_facet: Field,
    pub brand_facet: Field,
    pub tag_facet: Field,
    pub dietary_facet: Field,
    pub price_facet: Field,
    pub price: Field,
    pub in_stock: Field,
    pub created: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |tokenizer: &str, stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        handle: b.add_text_field("handle", STRING | STORED),
        name: b.add_text_field("name", text(STEMMED, true)),
        brand: b.add_text_field("brand", text(STEMMED, true)),
        category: b.add_text_field("category", text(STEMMED, false)),
        tags: b.add_text_field("tags", text(STEMMED, false)),
        attributes: b.add_text_field("attributes", text(STEMMED, false)),
        description: b.add_text_field("description", text(STEMMED, true)),
        plain: b.add_text_field("plain", text(PLAIN, false)),
        category_facet: b.add_facet_field("category_facet", FacetOptions::default()),
        brand_facet: b.add_facet_field("brand_facet", FacetOptions::default()),
        tag_facet: b.add_facet_field("tag_facet", FacetOptions::default()),
        dietary_facet: b.add_facet_field("dietary_facet", FacetOptions::default()),
        price_facet: b.add_facet_field("price_facet", FacetOptions::default()),
        price: b.add_u64_field("price", INDEXED | STORED | FAST),
        in_stock: b.add_u64_field("in_stock", INDEXED | STORED | FAST),
        created: b.add_i64_field("created", FAST),
    };
    (b.build(), fields)
}

/// Registers the analyzers the schema names; must run on every opened index.
pub fn register_tokenizers(index: &Index) {
    let stemmed = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(tantivy::tokenizer::Language::English))
        .build();
    let plain = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    index.tokenizers().register(STEMMED, stemmed);
    index.tokenizers().register(PLAIN, plain);
}

/// The facet path of a category ("Pantry > Pasta" → /Pantry/Pasta).
pub fn category_facet(category: &str) -> Option<Facet> {
    let levels: Vec<&str> = category
        .split(" > ")
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (!levels.is_empty()).then(|| Facet::from_path(levels))
}

pub fn single_facet(value: &str) -> Facet {
    Facet::from_path([value.trim()])
}

pub fn price_bucket(major_units: u64) -> &'static str {
    PRICE_BUCKETS
        .iter()
        .find(|(_, upper)| upper.is_none_or(|u| major_units < u))
        .map_or("50+", |(label, _)| label)
}

/// The document of an active product; the caller skips inactive ones.
pub fn document(fields: &Fields, product: &Product, minor_per_major: u64) -> TantivyDocument {
    let d = &product.draft;
    let mut doc = TantivyDocument::default();
    doc.add_u64(fields.id, product.id as u64);
    doc.add_text(fields.handle, d.handle());
    doc.add_text(fields.name, d.name());
    doc.add_text(fields.description, d.description());
    let mut plain = vec![d.name().to_string(), d.category().to_string()];
    if let Some(brand) = d.brand() {
        doc.add_text(fields.brand, brand);
        doc.add_facet(fields.brand_facet, single_facet(brand));
        plain.push(brand.to_string());
    }
    doc.add_text(fields.category, d.category());
    if let Some(facet) = category_facet(d.category()) {
        doc.add_facet(fields.category_facet, facet);
    }
    for tag in d.tags() {
        doc.add_text(fields.tags, tag);
        doc.add_facet(fields.tag_facet, single_facet(tag));
        plain.push(tag.clone());
    }
    for label in d.dietary() {
        doc.add_text(fields.tags, label.replace('-', " "));
        doc.add_facet(fields.dietary_facet, single_facet(label));
        plain.push(label.clone());
    }
    for (key, value) in d.attributes() {
        let text = format!("{key} {value}");
        doc.add_text(fields.attributes, &text);
        plain.push(text);
    }
    for variant in d.variants() {
        doc.add_text(fields.attributes, variant.title());
        plain.push(variant.title().to_string());
    }
    if let Some(sku) = d.sku() {
        plain.push(sku.to_string());
    }
    doc.add_text(fields.plain, plain.join(" \n "));
    let price = d.price().minor() as u64;
    doc.add_u64(fields.price, price);
    doc.add_facet(
        fields.price_facet,
        single_facet(price_bucket(price / minor_per_major.max(1))),
    );
    doc.add_u64(fields.in_stock, u64::from(d.in_stock()));
    let created = time::OffsetDateTime::parse(
        &product.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_or(0, |t| t.unix_timestamp());
    doc.add_i64(fields.created, created);
    doc
}
