//! WooCommerce product CSV exports (WooCommerce → Products → Export).
//!
//! Simple and variable products are rows of their own; each variation is a row
//! whose `Parent` names the variable product (`id:123` or its SKU), and may come
//! anywhere in the file. A first pass keeps only the variations (small); the
//! second pass streams the products and attaches them, so memory grows with the
//! number of variations, never with descriptions.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead};

use super::csv_rows::{CsvRows, Row};
use super::generic_csv::{boolean, integer};
use super::{Emit, Format, ImportError, Item, Record, RowIssue, non_empty, split_list};
use crate::catalog::html::html_to_text;
use crate::catalog::{ProductInput, VariantInput, dietary};

struct Columns {
    id: Option<usize>,
    kind: usize,
    sku: Option<usize>,
    name: Option<usize>,
    published: Option<usize>,
    short_description: Option<usize>,
    description: Option<usize>,
    in_stock: Option<usize>,
    stock: Option<usize>,
    sale_price: Option<usize>,
    regular_price: Option<usize>,
    categories: Option<usize>,
    tags: Option<usize>,
    images: Option<usize>,
    parent: Option<usize>,
    brands: Option<usize>,
    attributes: Vec<(usize, usize)>,
}

impl Columns {
    fn find<R: io::Read>(rows: &CsvRows<R>) -> Result<Columns, ImportError> {
        let kind = rows
            .column("Type")
            .ok_or_else(|| ImportError::WrongLayout {
                format: Format::Woocommerce,
                reason: "there is no Type column".into(),
            })?;
        let attributes = (1..=50)
            .map_while(|n| {
                Some((
                    rows.column(&format!("Attribute {n} name"))?,
                    rows.column(&format!("Attribute {n} value(s)"))?,
                ))
            })
            .collect();
        Ok(Columns {
            id: rows.column("ID"),
            kind,
            sku: rows.column("SKU"),
            name: rows.column("Name"),
            published: rows.column("Published"),
            short_description: rows.column("Short description"),
            description: rows.column("Description"),
            in_stock: rows.column("In stock?"),
            stock: rows.column("Stock"),
            sale_price: rows.column("Sale price"),
            regular_price: rows.column("Regular price"),
            categories: rows.column("Categories"),
            tags: rows.column("Tags"),
            images: rows.column("Images"),
            parent: rows.column("Parent"),
            brands: rows.column_any(&["Brands", "Brand"]),
            attributes,
        })
    }
}

/// Variations waiting for their parent, keyed by "id:<ID>" or the parent's SKU.
type Orphans = HashMap<String, Vec<(u64, VariantInput)>>;

pub fn read<'s>(
    open: impl Fn() -> io::Result<Box<dyn BufRead + 's>>,
    emit: &mut Emit,
) -> Result<u64, ImportError> {
    let mut orphans = collect_variations(open()?, emit)?;
    let mut rows = CsvRows::new(open()?)?;
    let columns = Columns::find(&rows)?;
    while let Some(row) = rows.next_row(&mut |_| Ok(()))? {
        let kind = row.get(Some(columns.kind)).to_lowercase();
        if kind.contains("variation") {
            continue;
        }
        if kind.contains("grouped") {
            emit(Item::Refused(RowIssue::new(
                row.line,
                "grouped products have no price or stock of their own; their member products are imported on their own rows",
            )))?;
            continue;
        }
        let mut record = match product(&columns, &row) {
            Ok(input) => Record {
                line: row.line,
                variant_lines: Vec::new(),
                input,
            },
            Err(reason) => {
                emit(Item::Refused(RowIssue::new(row.line, reason)))?;
                continue;
            }
        };
        let keys = [
            non_empty(row.get(columns.id)).map(|id| format!("id:{id}")),
            non_empty(row.get(columns.sku)),
        ];
        let mut variations: Vec<(u64, VariantInput)> = keys
            .into_iter()
            .flatten()
            .flat_map(|key| orphans.remove(&key).unwrap_or_default())
            .collect();
        variations.sort_by_key(|(line, _)| *line);
        for (line, variant) in variations {
            record.variant_lines.push(line);
            record.input.variants.push(variant);
        }
        emit(Item::record(record))?;
    }
    let mut left: Vec<(u64, String)> = orphans
        .into_iter()
        .flat_map(|(parent, variants)| {
            variants
                .into_iter()
                .map(move |(line, _)| (line, parent.clone()))
        })
        .collect();
    left.sort();
    for (line, parent) in left {
        emit(Item::Refused(RowIssue::new(
            line,
            format!("variation of \"{parent}\", which is not in this file"),
        )))?;
    }
    Ok(rows.rows_read())
}

/// First pass: every variation row, grouped by the parent it names.
fn collect_variations(input: impl io::Read, emit: &mut Emit) -> Result<Orphans, ImportError> {
    let mut rows = CsvRows::new(input)?;
    let columns = Columns::find(&rows)?;
    let mut orphans = Orphans::new();
    while let Some(row) = rows.next_row(emit)? {
        if !row
            .get(Some(columns.kind))
            .to_lowercase()
            .contains("variation")
        {
            continue;
        }
        let Some(parent) = non_empty(row.get(columns.parent)) else {
            emit(Item::Refused(RowIssue::new(
                row.line,
                "variation has no Parent",
            )))?;
            continue;
        };
        match variation(&columns, &row) {
            Ok(variant) => orphans.entry(parent).or_default().push((row.line, variant)),
            Err(reason) => emit(Item::Refused(RowIssue::new(row.line, reason)))?,
        }
    }
    Ok(orphans)
}

fn product(columns: &Columns, row: &Row) -> Result<ProductInput, String> {
    let mut paths = row
        .get(columns.categories)
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let category = paths.next().map(str::to_string);
    let mut tags = split_list(row.get(columns.tags), ',');
    tags.extend(
        paths
            .filter_map(|p| p.rsplit('>').next())
            .map(|leaf| leaf.trim().to_string()),
    );
    let description = [columns.description, columns.short_description]
        .iter()
        .map(|c| html_to_text(&row.get(*c).replace("\\n", "\n")))
        .find(|text| !text.is_empty());
    let attributes: BTreeMap<String, String> = columns
        .attributes
        .iter()
        .filter_map(|(name, values)| {
            Some((
                non_empty(row.get(Some(*name)))?,
                non_empty(row.get(Some(*values)))?,
            ))
        })
        .collect();
    let (price, compare_at_price) = prices(columns, row);
    Ok(ProductInput {
        handle: None,
        sku: non_empty(row.get(columns.sku)),
        name: non_empty(row.get(columns.name)),
        description,
        brand: non_empty(row.get(columns.brands)),
        category,
        dietary: dietary::from_tags(tags.iter().map(String::as_str)),
        tags,
        attributes,
        price,
        compare_at_price,
        stock: stock(columns, row)?,
        images: split_list(row.get(columns.images), ','),
        active: Some(boolean("Published", row.get(columns.published))?.unwrap_or(true)),
        variants: Vec::new(),
    })
}

fn variation(columns: &Columns, row: &Row) -> Result<VariantInput, String> {
    let options = columns
        .attributes
        .iter()
        .filter_map(|(name, value)| {
            Some((
                non_empty(row.get(Some(*name)))?,
                non_empty(row.get(Some(*value)))?,
            ))
        })
        .collect();
    let (price, compare_at_price) = prices(columns, row);
    Ok(VariantInput {
        sku: non_empty(row.get(columns.sku)),
        title: None,
        options,
        price,
        compare_at_price,
        stock: stock(columns, row)?,
        image: split_list(row.get(columns.images), ',').into_iter().next(),
    })
}

/// The selling price and, when on sale, the regular price to show struck through.
fn prices(
    columns: &Columns,
    row: &Row,
) -> (
    Option<crate::catalog::product::DecimalInput>,
    Option<crate::catalog::product::DecimalInput>,
) {
    let regular = non_empty(row.get(columns.regular_price));
    match non_empty(row.get(columns.sale_price)) {
        Some(sale) => (
            Some(sale.as_str().into()),
            regular.map(|r| r.as_str().into()),
        ),
        None => (regular.map(|r| r.as_str().into()), None),
    }
}

/// A managed stock count, 0 when marked out of stock, otherwise untracked.
fn stock(columns: &Columns, row: &Row) -> Result<Option<i64>, String> {
    match integer("Stock", row.get(columns.stock))? {
        Some(count) => Ok(Some(count)),
        None if row.get(columns.in_stock).trim() == "0" => Ok(Some(0)),
        None => Ok(None),
    }
}
