//! Product and variant types: what may enter the catalog and what it holds.
//!
//! `ProductInput` is the untrusted shape that arrives from the API, JSON files and
//! importers; `ProductDraft::parse` turns it into a `ProductDraft` that is valid by
//! construction, or into the list of offending fields. A `Product` is a draft the
//! store has given an id and timestamps. This module must not touch storage or HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::dietary;
use super::money::{Currency, Money};

const MAX_NAME_CHARS: usize = 500;
const MAX_DESCRIPTION_CHARS: usize = 100_000;
const MAX_SHORT_TEXT_CHARS: usize = 255;
const MAX_ATTRIBUTE_VALUE_CHARS: usize = 10_000;
const MAX_LIST_ITEMS: usize = 250;
const MAX_URL_CHARS: usize = 2_048;
const MAX_VARIANTS: usize = 2_048;
const MAX_CATEGORY_DEPTH: usize = 10;
const MAX_STOCK: i64 = 1_000_000_000;

/// A price as it arrives: a decimal string ("4.99") or a JSON number (4.99).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DecimalInput {
    Text(String),
    #[schema(value_type = f64)]
    Number(serde_json::Number),
}

impl DecimalInput {
    fn as_text(&self) -> String {
        match self {
            DecimalInput::Text(text) => text.clone(),
            DecimalInput::Number(number) => number.to_string(),
        }
    }
}

impl From<&str> for DecimalInput {
    fn from(text: &str) -> Self {
        DecimalInput::Text(text.to_string())
    }
}

/// A product as submitted by a client or an importer, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// URL slug, unique in the shop; derived from the name when absent.
    pub handle: Option<String>,
    pub sku: Option<String>,
    pub name: Option<String>,
    /// Plain text. Importers convert HTML before it gets here.
    pub description: Option<String>,
    pub brand: Option<String>,
    /// Category path, levels separated by " > " ("Pantry > Pasta").
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Dietary and feature labels ("vegan", "gluten-free"); synonyms are normalised.
    #[serde(default)]
    pub dietary: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Price in the shop currency's major units; the lowest variant price when variants exist.
    pub price: Option<DecimalInput>,
    pub compare_at_price: Option<DecimalInput>,
    /// Units in stock; absent or null when inventory is not tracked.
    pub stock: Option<i64>,
    #[serde(default)]
    pub images: Vec<String>,
    /// Whether shoppers see it; defaults to true.
    pub active: Option<bool>,
    #[serde(default)]
    pub variants: Vec<VariantInput>,
}

/// One purchasable variant of a product (a size, a colour), not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub sku: Option<String>,
    /// Shown to shoppers; joined from the option values when absent.
    pub title: Option<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub price: Option<DecimalInput>,
    pub compare_at_price: Option<DecimalInput>,
    pub stock: Option<i64>,
    pub image: Option<String>,
}

/// One reason a field was refused, addressed by its path ("variants[1].price").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A product that passed validation: every field holds a value the shop can use.
///
/// Fields are crate-private so that outside code can only get one through `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductDraft {
    pub(crate) handle: String,
    /// False when the handle was derived from the name: then the SKU identifies the product.
    #[serde(skip)]
    pub(crate) handle_given: bool,
    pub(crate) sku: Option<String>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) brand: Option<String>,
    pub(crate) category: String,
    pub(crate) tags: Vec<String>,
    pub(crate) dietary: Vec<String>,
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) price: Money,
    pub(crate) compare_at_price: Option<Money>,
    pub(crate) stock: Option<i64>,
    pub(crate) images: Vec<String>,
    pub(crate) active: bool,
    pub(crate) variants: Vec<VariantDraft>,
}

/// A variant that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantDraft {
    pub(crate) sku: Option<String>,
    pub(crate) title: String,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) price: Money,
    pub(crate) compare_at_price: Option<Money>,
    pub(crate) stock: Option<i64>,
    pub(crate) image: Option<String>,
}

/// Collects field errors while a draft is being checked.
struct Checker<'a> {
    currency: &'a Currency,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(FieldError::new(field, reason));
    }

    fn text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        if value.chars().count() > max {
            self.fail(field, format!("is longer than {max} characters"));
            return None;
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.fail(field, "contains control characters");
            return None;
        }
        Some(value.to_string())
    }

    fn one_line(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let text = self.text(field, value, max)?;
        Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn price(&mut self, field: &str, value: Option<&DecimalInput>) -> Option<Money> {
        let text = value?.as_text();
        match self.currency.parse_amount(&text) {
            Ok(money) => Some(money),
            Err(err) => {
                self.fail(field, err.to_string());
                None
            }
        }
    }

    fn stock(&mut self, field: &str, value: Option<i64>) -> Option<i64> {
        let stock = value?;
        if !(-MAX_STOCK..=MAX_STOCK).contains(&stock) {
            self.fail(
                field,
                format!("must be between -{MAX_STOCK} and {MAX_STOCK}"),
            );
            return None;
        }
        Some(stock)
    }

    fn url(&mut self, field: &str, value: &str) -> Option<String> {
        let value = value.trim();
        let acceptable = value.starts_with("https://")
            || value.starts_with("http://")
            || (value.starts_with('/') && !value.starts_with("//"));
        if !acceptable {
            self.fail(field, "must be an http(s) URL or a path starting with '/'");
            return None;
        }
        if value.len() > MAX_URL_CHARS || value.chars().any(char::is_whitespace) {
            self.fail(
                field,
                format!("must be at most {MAX_URL_CHARS} characters without spaces"),
            );
            return None;
        }
        Some(value.to_string())
    }

    fn list_len<T>(&mut self, field: &str, items: &[T], max: usize) -> bool {
        if items.len() > max {
            self.fail(
                field,
                format!("has {} items; at most {max} are allowed", items.len()),
            );
            return false;
        }
        true
    }
}

impl ProductDraft {
    /// Checks untrusted input against the shop's currency; all problems are reported at once.
    pub fn parse(
        input: &ProductInput,
        currency: &Currency,
    ) -> Result<ProductDraft, Vec<FieldError>> {
        let mut check = Checker {
            currency,
            errors: Vec::new(),
        };
        let name = check.one_line("name", input.name.as_deref(), MAX_NAME_CHARS);
        if name.is_none() && input.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            check.fail("name", "is required");
        }
        let given_handle = input
            .handle
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let handle = match given_handle {
            Some(handle) => parse_handle(handle)
                .map_err(|reason| check.fail("handle", reason))
                .ok(),
            None => name.as_deref().and_then(slugify),
        };
        let sku = check.one_line("sku", input.sku.as_deref(), MAX_SHORT_TEXT_CHARS);
        let description = check
            .text(
                "description",
                input.description.as_deref(),
                MAX_DESCRIPTION_CHARS,
            )
            .unwrap_or_default();
        let brand = check.one_line("brand", input.brand.as_deref(), MAX_SHORT_TEXT_CHARS);
        let category = parse_category(input.category.as_deref().unwrap_or(""))
            .map_err(|reason| check.fail("category", reason))
            .unwrap_or_default();
        let tags = labels(&mut check, "tags", &input.tags);
        let dietary = dietary_labels(&mut check, &input.dietary);
        let attributes = attributes(&mut check, &input.attributes);
        let images = if check.list_len("images", &input.images, MAX_LIST_ITEMS) {
            input
                .images
                .iter()
                .enumerate()
                .filter(|(_, url)| !url.trim().is_empty())
                .filter_map(|(i, url)| check.url(&format!("images[{i}]"), url))
                .collect()
        } else {
            Vec::new()
        };
        let variants = if check.list_len("variants", &input.variants, MAX_VARIANTS) {
            input
                .variants
                .iter()
                .enumerate()
                .filter_map(|(i, v)| parse_variant(&mut check, &format!("variants[{i}]"), v))
                .collect::<Vec<_>>()
        } else {
            Vec::new()
        };
        let own_price = check.price("price", input.price.as_ref());
        let compare_at_price = check.price("compare_at_price", input.compare_at_price.as_ref());
        let own_stock = check.stock("stock", input.stock);
        let (price, stock) = if variants.is_empty() {
            if own_price.is_none() && input.price.is_none() {
                check.fail("price", "is required");
            }
            (own_price, own_stock)
        } else {
            (
                variants.iter().map(|v| v.price).min(),
                total_stock(&variants),
            )
        };
        if !check.errors.is_empty() {
            return Err(check.errors);
        }
        let (Some(handle), Some(name), Some(price)) = (handle, name, price) else {
            return Err(vec![FieldError::new(
                "handle",
                "could not be derived from the name",
            )]);
        };
        Ok(ProductDraft {
            handle,
            handle_given: given_handle.is_some(),
            sku,
            name,
            description,
            brand,
            category,
            tags,
            dietary,
            attributes,
            price,
            compare_at_price,
            stock,
            images,
            active: input.active.unwrap_or(true),
            variants,
        })
    }

    /// The input that would produce this draft again: used to store, compare and patch.
    pub fn to_input(&self, currency: &Currency) -> ProductInput {
        let decimal = |m: Money| DecimalInput::Text(currency.format_plain(m));
        ProductInput {
            handle: Some(self.handle.clone()),
            sku: self.sku.clone(),
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            brand: self.brand.clone(),
            category: Some(self.category.clone()),
            tags: self.tags.clone(),
            dietary: self.dietary.clone(),
            attributes: self.attributes.clone(),
            price: Some(decimal(self.price)),
            compare_at_price: self.compare_at_price.map(decimal),
            stock: self.stock,
            images: self.images.clone(),
            active: Some(self.active),
            variants: self
                .variants
                .iter()
                .map(|v| VariantInput {
                    sku: v.sku.clone(),
                    title: Some(v.title.clone()),
                    options: v.options.clone(),
                    price: Some(decimal(v.price)),
                    compare_at_price: v.compare_at_price.map(decimal),
                    stock: v.stock,
                    image: v.image.clone(),
                })
                .collect(),
        }
    }

    /// A digest of everything the draft holds, so an unchanged re-import writes nothing.
    pub fn content_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }

    pub fn handle(&self) -> &str {
        &self.handle
    }
    pub fn handle_given(&self) -> bool {
        self.handle_given
    }
    pub fn sku(&self) -> Option<&str> {
        self.sku.as_deref()
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    pub fn brand(&self) -> Option<&str> {
        self.brand.as_deref()
    }
    pub fn category(&self) -> &str {
        &self.category
    }
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    pub fn dietary(&self) -> &[String] {
        &self.dietary
    }
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }
    pub fn price(&self) -> Money {
        self.price
    }
    pub fn compare_at_price(&self) -> Option<Money> {
        self.compare_at_price
    }
    /// Units in stock, `None` when inventory is not tracked.
    pub fn stock(&self) -> Option<i64> {
        self.stock
    }
    pub fn in_stock(&self) -> bool {
        available(self.stock)
    }
    pub fn images(&self) -> &[String] {
        &self.images
    }
    pub fn active(&self) -> bool {
        self.active
    }
    pub fn variants(&self) -> &[VariantDraft] {
        &self.variants
    }
}

impl VariantDraft {
    pub fn sku(&self) -> Option<&str> {
        self.sku.as_deref()
    }
    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }
    pub fn price(&self) -> Money {
        self.price
    }
    pub fn compare_at_price(&self) -> Option<Money> {
        self.compare_at_price
    }
    pub fn stock(&self) -> Option<i64> {
        self.stock
    }
    pub fn in_stock(&self) -> bool {
        available(self.stock)
    }
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }
}

/// Untracked inventory is always available; tracked inventory needs a unit on hand.
fn available(stock: Option<i64>) -> bool {
    stock.is_none_or(|units| units > 0)
}

/// Stock of a product with variants: the sum, or untracked if any variant is.
fn total_stock(variants: &[VariantDraft]) -> Option<i64> {
    variants.iter().map(|v| v.stock).sum()
}

fn parse_variant(check: &mut Checker, field: &str, input: &VariantInput) -> Option<VariantDraft> {
    let before = check.errors.len();
    let sku = check.one_line(
        &format!("{field}.sku"),
        input.sku.as_deref(),
        MAX_SHORT_TEXT_CHARS,
    );
    let mut options = BTreeMap::new();
    for (name, value) in &input.options {
        let name = check.one_line(
            &format!("{field}.options"),
            Some(name),
            MAX_SHORT_TEXT_CHARS,
        );
        let value = check.one_line(
            &format!("{field}.options.{}", name.as_deref().unwrap_or("")),
            Some(value),
            MAX_SHORT_TEXT_CHARS,
        );
        if let (Some(name), Some(value)) = (name, value) {
            options.insert(name, value);
        }
    }
    let title = check
        .one_line(
            &format!("{field}.title"),
            input.title.as_deref(),
            MAX_SHORT_TEXT_CHARS,
        )
        .or_else(|| {
            (!options.is_empty()).then(|| options.values().cloned().collect::<Vec<_>>().join(" / "))
        })
        .or_else(|| sku.clone());
    if title.is_none() {
        check.fail(
            format!("{field}.title"),
            "is required when a variant has no options or SKU",
        );
    }
    let price = check.price(&format!("{field}.price"), input.price.as_ref());
    if input.price.is_none() {
        check.fail(format!("{field}.price"), "is required");
    }
    let compare_at_price = check.price(
        &format!("{field}.compare_at_price"),
        input.compare_at_price.as_ref(),
    );
    let stock = check.stock(&format!("{field}.stock"), input.stock);
    let image = input
        .image
        .as_deref()
        .filter(|i| !i.trim().is_empty())
        .and_then(|i| check.url(&format!("{field}.image"), i));
    if check.errors.len() > before {
        return None;
    }
    Some(VariantDraft {
        sku,
        title: title?,
        options,
        price: price?,
        compare_at_price,
        stock,
        image,
    })
}

/// Lower-cased, de-duplicated labels, each one line of bounded length.
fn labels(check: &mut Checker, field: &str, values: &[String]) -> Vec<String> {
    if !check.list_len(field, values, MAX_LIST_ITEMS) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        if let Some(label) =
            check.one_line(&format!("{field}[{i}]"), Some(value), MAX_SHORT_TEXT_CHARS)
        {
            let label = label.to_lowercase();
            if !out.contains(&label) {
                out.push(label);
            }
        }
    }
    out
}

/// Dietary labels mapped onto the shared vocabulary where they name one of its words.
fn dietary_labels(check: &mut Checker, values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels(check, "dietary", values) {
        let label = dietary::canonical(&label)
            .map(str::to_string)
            .unwrap_or(label);
        if !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

fn attributes(check: &mut Checker, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    if values.len() > MAX_LIST_ITEMS {
        check.fail(
            "attributes",
            format!(
                "has {} entries; at most {MAX_LIST_ITEMS} are allowed",
                values.len()
            ),
        );
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for (key, value) in values {
        let Some(key) = check.one_line("attributes", Some(key), MAX_SHORT_TEXT_CHARS) else {
            continue;
        };
        if let Some(value) = check.text(
            &format!("attributes.{key}"),
            Some(value),
            MAX_ATTRIBUTE_VALUE_CHARS,
        ) {
            out.insert(key, value);
        }
    }
    out
}

/// Checks a handle given by the user: a URL path segment that is not a bare number.
pub fn parse_handle(handle: &str) -> Result<String, String> {
    let handle = handle.trim().to_lowercase();
    if handle.chars().count() > MAX_SHORT_TEXT_CHARS {
        return Err(format!("is longer than {MAX_SHORT_TEXT_CHARS} characters"));
    }
    if let Some(bad) = handle
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "may only hold letters, digits, '-', '_' and '.' (found {bad:?})"
        ));
    }
    if handle.chars().all(|c| c.is_ascii_digit()) {
        return Err("must not be only digits (those are product ids)".into());
    }
    Ok(handle)
}

/// A handle made from a name: "Crème Fraîche 200g" becomes "crème-fraîche-200g".
pub fn slugify(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(200).collect();
    if slug.is_empty() {
        return None;
    }
    if slug.chars().all(|c| c.is_ascii_digit()) {
        slug.insert_str(0, "product-");
    }
    Some(slug.trim_end_matches('-').to_string())
}

/// Normalises "Pantry>Pasta >  Dried" to "Pantry > Pasta > Dried".
pub fn parse_category(path: &str) -> Result<String, String> {
    let levels: Vec<&str> = path
        .split('>')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if levels.len() > MAX_CATEGORY_DEPTH {
        return Err(format!(
            "has {} levels; at most {MAX_CATEGORY_DEPTH} are allowed",
            levels.len()
        ));
    }
    if let Some(long) = levels
        .iter()
        .find(|l| l.chars().count() > MAX_SHORT_TEXT_CHARS)
    {
        return Err(format!(
            "level \"{}…\" is longer than {MAX_SHORT_TEXT_CHARS} characters",
            long.chars().take(20).collect::<String>()
        ));
    }
    Ok(levels.join(" > "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    fn input(name: &str, price: &str) -> ProductInput {
        ProductInput {
            name: Some(name.into()),
            price: Some(price.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_minimal_product_gets_a_handle_and_defaults() {
        let draft = ProductDraft::parse(&input("Crème Fraîche 200g", "2.49"), &usd()).unwrap();
        assert_eq!(draft.handle(), "crème-fraîche-200g");
        assert_eq!(draft.price().minor(), 249);
        assert!(draft.active());
        assert!(draft.in_stock(), "untracked inventory counts as available");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = ProductInput {
            handle: Some("has space".into()),
            price: Some("1.999".into()),
            stock: Some(5_000_000_000),
            images: vec!["javascript:alert(1)".into()],
            ..Default::default()
        };
        let errors = ProductDraft::parse(&bad, &usd()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["name", "handle", "images[0]", "price", "stock"]
        );
    }

    #[test]
    fn variants_set_price_and_stock() {
        let mut product = input("Coffee Beans", "9.00");
        product.variants = vec![
            VariantInput {
                options: [("Size".into(), "1 kg".into())].into(),
                price: Some("24.00".into()),
                stock: Some(3),
                ..Default::default()
            },
            VariantInput {
                options: [("Size".into(), "250 g".into())].into(),
                price: Some("7.50".into()),
                stock: Some(10),
                ..Default::default()
            },
        ];
        let draft = ProductDraft::parse(&product, &usd()).unwrap();
        assert_eq!(draft.price().minor(), 750);
        assert_eq!(draft.stock(), Some(13));
        assert_eq!(draft.variants()[0].title(), "1 kg");
    }

    #[test]
    fn round_trip_through_input_is_stable() {
        let mut product = input("Oat Milk", "2.10");
        product.tags = vec!["Breakfast".into(), "breakfast".into()];
        product.dietary = vec!["Plant Based".into(), "vegan".into()];
        product.category = Some("Dairy & Eggs>Plant milk".into());
        let draft = ProductDraft::parse(&product, &usd()).unwrap();
        assert_eq!(draft.tags(), ["breakfast"]);
        assert_eq!(draft.dietary(), ["vegan"]);
        assert_eq!(draft.category(), "Dairy & Eggs > Plant milk");
        let again = ProductDraft::parse(&draft.to_input(&usd()), &usd()).unwrap();
        assert_eq!(again.to_input(&usd()), draft.to_input(&usd()));
        assert_eq!(again.content_hash(), draft.content_hash());
    }

    #[test]
    fn numeric_handles_are_refused_and_numeric_names_prefixed() {
        assert!(parse_handle("12345").is_err());
        assert_eq!(slugify("2024").as_deref(), Some("product-2024"));
        assert_eq!(slugify("!!!"), None);
    }
}
