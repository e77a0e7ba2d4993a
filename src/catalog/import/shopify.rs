//! Shopify product CSV exports: one product spread over several rows.
//!
//! The first row of a handle carries the product; further rows with the same
//! handle add variants (option values, SKU, price, inventory) or images. Older
//! exports name the type columns differently and some carry no inventory column
//! (inventory then counts as untracked). Metafield columns become attributes.

use std::collections::BTreeMap;
use std::io::Read;

use super::csv_rows::{CsvRows, Row};
use super::{Emit, ImportError, Item, Record, non_empty, split_list};
use crate::catalog::html::html_to_text;
use crate::catalog::{ProductInput, VariantInput, dietary};

/// Metafield columns that point at other products rather than describe this one.
const IGNORED_METAFIELDS: &[&str] = &[
    "complementary products",
    "related products",
    "related products settings",
    "search product boosts",
];

/// Whether a metafield column describes the product (and becomes an attribute).
/// Sales-channel settings such as Google Shopping flags do not.
fn describes_product(label: &str, namespace: &str) -> bool {
    let label = label.to_lowercase();
    !IGNORED_METAFIELDS.contains(&label.as_str())
        && !label.starts_with("google")
        && !namespace.contains("google")
}

/// Column positions of the layout, looked up once from the header.
struct Columns {
    handle: usize,
    title: Option<usize>,
    body: Option<usize>,
    vendor: Option<usize>,
    category: Option<usize>,
    kind: Option<usize>,
    tags: Option<usize>,
    published: Option<usize>,
    status: Option<usize>,
    option_names: [Option<usize>; 3],
    option_values: [Option<usize>; 3],
    sku: Option<usize>,
    tracker: Option<usize>,
    quantity: Option<usize>,
    price: Option<usize>,
    compare_at: Option<usize>,
    image_src: Option<usize>,
    image_position: Option<usize>,
    variant_image: Option<usize>,
    metafields: Vec<(usize, String)>,
}

impl Columns {
    fn find<R: Read>(rows: &CsvRows<R>) -> Result<Columns, ImportError> {
        let handle = rows
            .column("Handle")
            .ok_or_else(|| ImportError::WrongLayout {
                format: super::Format::Shopify,
                reason: "there is no Handle column".into(),
            })?;
        let metafields = rows
            .header()
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let (label, rest) = name.split_once(" (")?;
                let label = label.trim();
                let namespace = rest.strip_prefix("product.metafields.")?;
                describes_product(label, namespace).then(|| (i, label.to_string()))
            })
            .collect();
        Ok(Columns {
            handle,
            title: rows.column("Title"),
            body: rows.column("Body (HTML)"),
            vendor: rows.column("Vendor"),
            category: rows.column_any(&["Product Category", "Standard Product Type"]),
            kind: rows.column_any(&["Type", "Custom Product Type"]),
            tags: rows.column("Tags"),
            published: rows.column("Published"),
            status: rows.column("Status"),
            option_names: [1, 2, 3].map(|n| rows.column(&format!("Option{n} Name"))),
            option_values: [1, 2, 3].map(|n| rows.column(&format!("Option{n} Value"))),
            sku: rows.column("Variant SKU"),
            tracker: rows.column("Variant Inventory Tracker"),
            quantity: rows.column("Variant Inventory Qty"),
            price: rows.column("Variant Price"),
            compare_at: rows.column("Variant Compare At Price"),
            image_src: rows.column("Image Src"),
            image_position: rows.column("Image Position"),
            variant_image: rows.column("Variant Image"),
            metafields,
        })
    }
}

/// The rows of one handle, folded as they arrive.
struct Group {
    line: u64,
    input: ProductInput,
    option_names: [String; 3],
    images: Vec<(u32, String)>,
    variant_lines: Vec<u64>,
}

pub fn read(input: impl Read, emit: &mut Emit) -> Result<u64, ImportError> {
    let mut rows = CsvRows::new(input)?;
    let columns = Columns::find(&rows)?;
    let mut current: Option<(String, Group)> = None;
    while let Some(row) = rows.next_row(emit)? {
        let handle = row.get(Some(columns.handle)).trim().to_string();
        if handle.is_empty() {
            emit(Item::Refused(super::RowIssue::new(
                row.line,
                "Handle is empty",
            )))?;
            continue;
        }
        match &mut current {
            Some((open, group)) if *open == handle => add_row(group, &columns, &row),
            _ => {
                if let Some((_, done)) = current.take() {
                    emit(Item::record(finish(done)))?;
                }
                current = Some((handle.clone(), start(&handle, &columns, &row)));
            }
        }
    }
    if let Some((_, done)) = current {
        emit(Item::record(finish(done)))?;
    }
    Ok(rows.rows_read())
}

fn start(handle: &str, columns: &Columns, row: &Row) -> Group {
    let tags = split_list(row.get(columns.tags), ',');
    let category = non_empty(row.get(columns.category));
    let kind = non_empty(row.get(columns.kind));
    let mut attributes: BTreeMap<String, String> = columns
        .metafields
        .iter()
        .filter_map(|(i, label)| Some((label.clone(), non_empty(row.get(Some(*i)))?)))
        .collect();
    if let (Some(_), Some(kind)) = (&category, &kind) {
        attributes.insert("Type".into(), kind.clone());
    }
    let status = row.get(columns.status).trim().to_lowercase();
    let active = if status.is_empty() {
        !row.get(columns.published)
            .trim()
            .eq_ignore_ascii_case("false")
    } else {
        status == "active"
    };
    let mut group = Group {
        line: row.line,
        input: ProductInput {
            handle: Some(handle.to_string()),
            name: non_empty(row.get(columns.title)),
            description: Some(html_to_text(row.get(columns.body))),
            brand: non_empty(row.get(columns.vendor)),
            category: category.or(kind),
            dietary: dietary::from_tags(tags.iter().map(String::as_str)),
            tags,
            attributes,
            active: Some(active),
            ..Default::default()
        },
        option_names: columns.option_names.map(|c| row.get(c).trim().to_string()),
        images: Vec::new(),
        variant_lines: Vec::new(),
    };
    add_row(&mut group, columns, row);
    group
}

/// Adds what a row carries: a variant, an image, or both.
fn add_row(group: &mut Group, columns: &Columns, row: &Row) {
    if let Some(src) = non_empty(row.get(columns.image_src)) {
        let position = row
            .get(columns.image_position)
            .trim()
            .parse()
            .unwrap_or(u32::MAX);
        group.images.push((position, src));
    }
    let is_variant = [columns.sku, columns.price, columns.option_values[0]]
        .iter()
        .any(|c| !row.get(*c).trim().is_empty());
    if !is_variant {
        return;
    }
    let options = group
        .option_names
        .iter()
        .zip(columns.option_values)
        .filter_map(|(name, value)| Some((non_empty(name)?, non_empty(row.get(value))?)))
        .collect();
    let tracked = columns.quantity.is_some() && !row.get(columns.tracker).trim().is_empty();
    group.variant_lines.push(row.line);
    group.input.variants.push(VariantInput {
        sku: non_empty(row.get(columns.sku).trim_start_matches('\'')),
        title: None,
        options,
        price: non_empty(row.get(columns.price)).map(|p| p.as_str().into()),
        compare_at_price: non_empty(row.get(columns.compare_at))
            .filter(|p| {
                p.trim_start_matches(['0', '.'])
                    .chars()
                    .any(|c| c.is_ascii_digit())
            })
            .map(|p| p.as_str().into()),
        stock: if tracked {
            row.get(columns.quantity).trim().parse().ok()
        } else {
            None
        },
        image: non_empty(row.get(columns.variant_image)),
    });
}

/// A product with only Shopify's "Default Title" variant has no real variants.
fn finish(mut group: Group) -> Record {
    group.images.sort_by_key(|(position, _)| *position);
    for (_, src) in group.images {
        if !group.input.images.contains(&src) {
            group.input.images.push(src);
        }
    }
    let default_only = group.input.variants.len() == 1
        && group.input.variants[0]
            .options
            .values()
            .all(|v| v == "Default Title");
    if default_only {
        let only = group.input.variants.remove(0);
        group.input.sku = only.sku;
        group.input.price = only.price;
        group.input.compare_at_price = only.compare_at_price;
        group.input.stock = only.stock;
        if let Some(image) = only.image.filter(|i| !group.input.images.contains(i)) {
            group.input.images.push(image);
        }
    }
    let variant_lines = if default_only {
        Vec::new()
    } else {
        group.variant_lines
    };
    Record {
        line: group.line,
        variant_lines,
        input: group.input,
    }
}
