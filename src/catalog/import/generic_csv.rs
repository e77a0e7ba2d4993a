//! The documented generic CSV layout (see docs/IMPORT.md).
//!
//! One row per product, columns named as in the JSON format (`name`, `price`,
//! `stock`, …; common aliases accepted). `attr:<key>` columns become attributes.
//! A row that fills `variant_*` or `option:<name>` cells is a variant; consecutive
//! variant rows of the same handle (or name) are one product.

use std::collections::BTreeMap;
use std::io::Read;

use super::csv_rows::{CsvRows, Row};
use super::{Emit, Format, ImportError, Item, Record, RowIssue, non_empty, split_list};
use crate::catalog::html::html_to_text;
use crate::catalog::{ProductInput, VariantInput};

struct Columns {
    handle: Option<usize>,
    sku: Option<usize>,
    name: usize,
    description: Option<usize>,
    description_html: Option<usize>,
    brand: Option<usize>,
    category: Option<usize>,
    tags: Option<usize>,
    dietary: Option<usize>,
    price: Option<usize>,
    compare_at: Option<usize>,
    stock: Option<usize>,
    images: Option<usize>,
    active: Option<usize>,
    attributes: Vec<(usize, String)>,
    options: Vec<(usize, String)>,
    variant_sku: Option<usize>,
    variant_title: Option<usize>,
    variant_price: Option<usize>,
    variant_compare_at: Option<usize>,
    variant_stock: Option<usize>,
    variant_image: Option<usize>,
}

impl Columns {
    fn find<R: Read>(rows: &CsvRows<R>) -> Result<Columns, ImportError> {
        let missing = |what: &str| ImportError::WrongLayout {
            format: Format::Csv,
            reason: format!("there is no {what} column"),
        };
        let prefixed = |prefixes: &[&str]| -> Vec<(usize, String)> {
            rows.header()
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    let (prefix, key) = h.split_once(':')?;
                    prefixes
                        .contains(&prefix.trim().to_lowercase().as_str())
                        .then(|| (i, key.trim().to_string()))
                })
                .filter(|(_, key)| !key.is_empty())
                .collect()
        };
        let columns = Columns {
            handle: rows.column_any(&["handle", "slug"]),
            sku: rows.column("sku"),
            name: rows
                .column_any(&["name", "title", "product name"])
                .ok_or_else(|| missing("name"))?,
            description: rows.column_any(&["description", "body"]),
            description_html: rows.column_any(&["description_html", "body_html"]),
            brand: rows.column_any(&["brand", "vendor", "manufacturer"]),
            category: rows.column_any(&["category", "category_path", "product_type"]),
            tags: rows.column_any(&["tags", "keywords"]),
            dietary: rows.column_any(&["dietary", "dietary_tags"]),
            price: rows.column_any(&["price", "unit_price"]),
            compare_at: rows.column_any(&["compare_at_price", "compare_at", "was_price"]),
            stock: rows.column_any(&["stock", "quantity", "inventory", "qty"]),
            images: rows.column_any(&["images", "image", "image_url"]),
            active: rows.column_any(&["active", "published", "status"]),
            attributes: prefixed(&["attr", "attribute"]),
            options: prefixed(&["option"]),
            variant_sku: rows.column("variant_sku"),
            variant_title: rows.column("variant_title"),
            variant_price: rows.column("variant_price"),
            variant_compare_at: rows.column("variant_compare_at_price"),
            variant_stock: rows.column("variant_stock"),
            variant_image: rows.column("variant_image"),
        };
        if columns.price.is_none() && columns.variant_price.is_none() {
            return Err(missing("price"));
        }
        Ok(columns)
    }
}

pub fn read(input: impl Read, emit: &mut Emit) -> Result<u64, ImportError> {
    let mut rows = CsvRows::new(input)?;
    let columns = Columns::find(&rows)?;
    let mut open: Option<(String, Record)> = None;
    while let Some(row) = rows.next_row(emit)? {
        let parsed = product(&columns, &row).and_then(|p| Ok((p, variant(&columns, &row)?)));
        let (product, variant) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                emit(Item::Refused(RowIssue::new(row.line, reason)))?;
                continue;
            }
        };
        let key = product
            .handle
            .clone()
            .or_else(|| product.name.clone())
            .unwrap_or_default();
        match (&mut open, variant) {
            (Some((open_key, record)), Some(variant)) if *open_key == key => {
                record.variant_lines.push(row.line);
                record.input.variants.push(variant);
            }
            (_, variant) => {
                if let Some((_, done)) = open.take() {
                    emit(Item::record(done))?;
                }
                let mut record = Record {
                    line: row.line,
                    variant_lines: Vec::new(),
                    input: product,
                };
                match variant {
                    Some(variant) => {
                        record.variant_lines.push(row.line);
                        record.input.variants.push(variant);
                        open = Some((key, record));
                    }
                    None => emit(Item::record(record))?,
                }
            }
        }
    }
    if let Some((_, done)) = open {
        emit(Item::record(done))?;
    }
    Ok(rows.rows_read())
}

fn product(columns: &Columns, row: &Row) -> Result<ProductInput, String> {
    let list_separator = |cell: &str| if cell.contains('|') { '|' } else { ',' };
    let tags = row.get(columns.tags);
    let dietary = row.get(columns.dietary);
    let images = row.get(columns.images);
    let description = non_empty(row.get(columns.description))
        .or_else(|| non_empty(row.get(columns.description_html)).map(|html| html_to_text(&html)));
    let attributes: BTreeMap<String, String> = columns
        .attributes
        .iter()
        .filter_map(|(i, key)| Some((key.clone(), non_empty(row.get(Some(*i)))?)))
        .collect();
    Ok(ProductInput {
        handle: non_empty(row.get(columns.handle)),
        sku: non_empty(row.get(columns.sku)),
        name: non_empty(row.get(Some(columns.name))),
        description,
        brand: non_empty(row.get(columns.brand)),
        category: non_empty(row.get(columns.category)),
        tags: split_list(tags, list_separator(tags)),
        dietary: split_list(dietary, list_separator(dietary)),
        attributes,
        price: non_empty(row.get(columns.price)).map(|p| p.as_str().into()),
        compare_at_price: non_empty(row.get(columns.compare_at)).map(|p| p.as_str().into()),
        stock: integer("stock", row.get(columns.stock))?,
        images: images
            .split(['|', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        active: boolean("active", row.get(columns.active))?,
        variants: Vec::new(),
    })
}

/// The variant a row describes, or `None` when its variant cells are all empty.
fn variant(columns: &Columns, row: &Row) -> Result<Option<VariantInput>, String> {
    let options: std::collections::BTreeMap<String, String> = columns
        .options
        .iter()
        .filter_map(|(i, name)| Some((name.clone(), non_empty(row.get(Some(*i)))?)))
        .collect();
    let variant_cells = [
        columns.variant_sku,
        columns.variant_title,
        columns.variant_price,
        columns.variant_compare_at,
        columns.variant_stock,
        columns.variant_image,
    ];
    if options.is_empty() && variant_cells.iter().all(|c| row.get(*c).trim().is_empty()) {
        return Ok(None);
    }
    let price =
        non_empty(row.get(columns.variant_price)).or_else(|| non_empty(row.get(columns.price)));
    Ok(Some(VariantInput {
        sku: non_empty(row.get(columns.variant_sku)),
        title: non_empty(row.get(columns.variant_title)),
        options,
        price: price.map(|p| p.as_str().into()),
        compare_at_price: non_empty(row.get(columns.variant_compare_at)).map(|p| p.as_str().into()),
        stock: integer("variant_stock", row.get(columns.variant_stock))?,
        image: non_empty(row.get(columns.variant_image)),
    }))
}

/// An optional whole number; "12.0" from spreadsheets is accepted.
pub(super) fn integer(column: &str, cell: &str) -> Result<Option<i64>, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let whole = cell
        .strip_suffix(".0")
        .or_else(|| cell.strip_suffix(".00"))
        .unwrap_or(cell);
    whole.parse().map(Some).map_err(|_| {
        format!(
            "{column}: \"{}\" is not a whole number",
            cell.chars().take(40).collect::<String>()
        )
    })
}

/// An optional yes/no; several spellings that spreadsheets and shops use.
pub(super) fn boolean(column: &str, cell: &str) -> Result<Option<bool>, String> {
    match cell.trim().to_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" | "y" | "active" | "published" => Ok(Some(true)),
        "0" | "-1" | "false" | "no" | "n" | "draft" | "archived" | "inactive" | "private" => {
            Ok(Some(false))
        }
        other => Err(format!(
            "{column}: \"{}\" is not yes/no (use true or false)",
            other.chars().take(40).collect::<String>()
        )),
    }
}
