//! Catalog import: turns Shopify, WooCommerce, generic CSV, JSON and NDJSON files
//! into upserted products, streaming, with a per-row report.
//!
//! Each format module only reads its layout and emits `Record`s (a `ProductInput`
//! and the line it came from). This driver validates them, writes them in batches
//! through `crate::store`, and collects what was created, updated, unchanged or
//! refused. Formats must not touch the store; the driver must not know layouts.

mod csv_rows;
mod generic_csv;
mod json;

pub use json::error_text as json_error_text;
mod shopify;
mod woocommerce;

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use utoipa::ToSchema;

use super::{Currency, FieldError, ProductDraft, ProductInput};
use crate::store::products::{self, Upserted};
use crate::store::{Store, StoreError};

/// Products written per transaction: large enough to be fast, small enough to bound memory.
const BATCH_SIZE: usize = 500;
/// Row errors kept in the report; the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 1_000;
/// Bytes read to guess a file's format.
const SNIFF_BYTES: usize = 64 * 1024;

/// The file layouts the importer understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Shopify,
    Woocommerce,
    Csv,
    Json,
    Ndjson,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "shopify" => Ok(Format::Shopify),
            "woocommerce" | "woo" => Ok(Format::Woocommerce),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            other => Err(format!(
                "unknown format \"{other}\" (auto, shopify, woocommerce, csv, json, ndjson)"
            )),
        }
    }
}

/// Where the bytes come from; opened once per pass.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

impl Source<'_> {
    fn open(&self, counter: &Arc<AtomicU64>) -> io::Result<Box<dyn BufRead + '_>> {
        let counter = Arc::clone(counter);
        Ok(match self {
            Source::File(path) => Box::new(BufReader::with_capacity(
                256 * 1024,
                CountingReader {
                    inner: File::open(path)?,
                    counter,
                },
            )),
            Source::Bytes(bytes) => Box::new(BufReader::new(CountingReader {
                inner: *bytes,
                counter,
            })),
        })
    }

    fn len(&self) -> Option<u64> {
        match self {
            Source::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Source::Bytes(bytes) => Some(bytes.len() as u64),
        }
    }
}

/// Counts bytes as they are read, for progress bars.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `None` guesses from the content.
    pub format: Option<Format>,
    /// Refuse the whole file, writing nothing, if any row is bad.
    pub strict: bool,
}

/// One product read from a file, not yet validated.
#[derive(Debug)]
pub struct Record {
    /// Line where the product starts.
    pub line: u64,
    /// Lines of each variant, where the format has one row per variant.
    pub variant_lines: Vec<u64>,
    pub input: ProductInput,
}

/// A row that could not be imported, or a note about one that was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowIssue {
    pub line: u64,
    /// The first offending field, where the row was refused for a field's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

impl RowIssue {
    pub fn new(line: u64, reason: impl Into<String>) -> Self {
        RowIssue {
            line,
            field: None,
            reason: reason.into(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl std::fmt::Display for RowIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ImportReport {
    #[schema(value_type = String)]
    pub format: Option<Format>,
    /// Data rows (CSV), lines (NDJSON) or array elements (JSON) read.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    /// The first rows refused, with line numbers and reasons.
    pub errors: Vec<RowIssue>,
    /// Rows imported with a caveat (re-encoded text, ignored values).
    pub warnings: Vec<RowIssue>,
    /// False when the file broke off and its end could not be read.
    pub complete: bool,
}

impl ImportReport {
    /// The closing line of the CLI: "created N, updated M, skipped K, unchanged U".
    pub fn summary(&self) -> String {
        format!(
            "created {}, updated {}, skipped {}, unchanged {}",
            self.created, self.updated, self.skipped, self.unchanged
        )
    }

    fn refuse(&mut self, issue: RowIssue) {
        self.skipped += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(issue);
        }
    }

    fn warn(&mut self, issue: RowIssue) {
        if self.warnings.len() < MAX_REPORTED_ERRORS {
            self.warnings.push(issue);
        }
    }
}

/// How far an import has got, for progress bars and UI events; reported after
/// every entry read and every batch written.
///
/// An entry is what the file's reader hands over: a product (with all its
/// variant rows) or a row refused on its own. Every entry ends up created,
/// updated, unchanged or skipped, so their sum is the entries done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes_read: u64,
    pub total_bytes: Option<u64>,
    /// Products read so far, written or not.
    pub records: u64,
    /// Entries in the whole file, when it was counted first (`count_first`, `strict`).
    pub entries_total: Option<u64>,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

impl Progress {
    /// Entries whose outcome is settled: written (created, updated, unchanged) or skipped.
    pub fn entries_done(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.skipped
    }
}

/// What the writer has stored so far; shared between the batch writer and progress.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    created: u64,
    updated: u64,
    unchanged: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    #[error("the file is not a {format:?} export: {reason}")]
    WrongLayout { format: Format, reason: String },
    #[error("strict import refused the file, nothing was written: {0}")]
    Strict(RowIssue),
    /// A layout check stopped reading at the first entry; `check` never returns it.
    #[error("the read was stopped after the first entry")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a format reader emits: a record, a refused row, or a note about a kept row.
pub enum Item {
    Record(Box<Record>),
    Refused(RowIssue),
    Warning(RowIssue),
}

impl Item {
    pub fn record(record: Record) -> Item {
        Item::Record(Box::new(record))
    }
}

/// Where format readers send what they read; returning an error stops the read.
type Emit<'e> = dyn FnMut(Item) -> Result<(), ImportError> + 'e;

/// Imports `source` into `store`, streaming; see `ImportOptions` for strictness.
/// `progress` hears after every entry and every batch written.
pub fn import(
    store: &Store,
    source: Source,
    options: &ImportOptions,
    currency: &Currency,
    progress: &dyn Fn(Progress),
) -> Result<ImportReport, ImportError> {
    import_with(store, source, options, currency, progress, false)
}

/// `import`, after reading the file once without writing, so every progress
/// report carries the file's total (`Progress::entries_total`) — for progress
/// bars that show a share rather than a count. Strict imports read twice anyway.
pub fn import_counted(
    store: &Store,
    source: Source,
    options: &ImportOptions,
    currency: &Currency,
    progress: &dyn Fn(Progress),
) -> Result<ImportReport, ImportError> {
    import_with(store, source, options, currency, progress, true)
}

fn import_with(
    store: &Store,
    source: Source,
    options: &ImportOptions,
    currency: &Currency,
    progress: &dyn Fn(Progress),
    count_first: bool,
) -> Result<ImportReport, ImportError> {
    let format = match options.format {
        Some(format) => format,
        None => detect(source)?,
    };
    let entries_total = if options.strict || count_first {
        let checked = run(
            source,
            format,
            currency,
            &mut |_| Ok(()),
            &|_| {},
            options.strict,
        )?;
        if let Some(first) = checked.report.errors.first()
            && options.strict
        {
            return Err(ImportError::Strict(first.clone()));
        }
        Some(checked.entries)
    } else {
        None
    };
    let written = Cell::new(Written::default());
    let batch_size = batch_size(entries_total);
    let with_writes = |read: Progress| {
        let w = written.get();
        progress(Progress {
            entries_total,
            created: w.created,
            updated: w.updated,
            unchanged: w.unchanged,
            ..read
        })
    };
    let mut batch: Vec<ProductDraft> = Vec::with_capacity(batch_size);
    let write_batch = |batch: &mut Vec<ProductDraft>| -> Result<(), ImportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let outcomes = store.write(|tx| {
            batch
                .iter()
                .map(|d| products::upsert(tx, d))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut w = written.get();
        for outcome in outcomes {
            match outcome {
                Upserted::Created(_) => w.created += 1,
                Upserted::Updated(_) => w.updated += 1,
                Upserted::Unchanged(_) => w.unchanged += 1,
            }
        }
        written.set(w);
        batch.clear();
        Ok(())
    };
    let mut accept = |draft: ProductDraft| -> Result<(), ImportError> {
        batch.push(draft);
        if batch.len() >= batch_size {
            write_batch(&mut batch)?;
        }
        Ok(())
    };
    let pass = run(
        source,
        format,
        currency,
        &mut accept,
        &with_writes,
        options.strict,
    )?;
    write_batch(&mut batch)?;
    let mut report = pass.report;
    let w = written.get();
    report.created = w.created;
    report.updated = w.updated;
    report.unchanged = w.unchanged;
    with_writes(pass.last);
    Ok(report)
}

/// Products per transaction. With a known total, about fifty batches, so the
/// progress of a small file moves in steps a person can see; otherwise (and
/// never more than) `BATCH_SIZE`.
fn batch_size(entries_total: Option<u64>) -> usize {
    entries_total.map_or(BATCH_SIZE, |total| {
        usize::try_from(total / 50)
            .unwrap_or(BATCH_SIZE)
            .clamp(8, BATCH_SIZE)
    })
}

/// Detects the format (unless given) and reads up to the first entry, writing
/// nothing: a file that is not a catalog of that format fails here, at once.
pub fn check(source: Source, format: Option<Format>) -> Result<Format, ImportError> {
    let format = match format {
        Some(format) => format,
        None => detect(source)?,
    };
    let counter = Arc::new(AtomicU64::new(0));
    let mut stop = |_: Item| -> Result<(), ImportError> { Err(ImportError::Stopped) };
    match read_with(source, format, &counter, &mut stop) {
        Ok(_) | Err(ImportError::Stopped) => Ok(format),
        Err(other) => Err(other),
    }
}

/// What one pass over a file found.
struct Pass {
    report: ImportReport,
    /// Entries read: products and rows refused on their own.
    entries: u64,
    /// The progress reported last.
    last: Progress,
}

/// One pass over the source: validate every record and hand good drafts to `accept`.
fn run(
    source: Source,
    format: Format,
    currency: &Currency,
    accept: &mut dyn FnMut(ProductDraft) -> Result<(), ImportError>,
    progress: &dyn Fn(Progress),
    stop_at_first_error: bool,
) -> Result<Pass, ImportError> {
    let counter = Arc::new(AtomicU64::new(0));
    let total_bytes = source.len();
    let mut report = ImportReport {
        format: Some(format),
        complete: true,
        ..Default::default()
    };
    let mut records = 0u64;
    let mut entries = 0u64;
    let now = |records: u64, skipped: u64| Progress {
        bytes_read: counter.load(Ordering::Relaxed),
        total_bytes,
        records,
        skipped,
        ..Default::default()
    };
    let mut emit = |item: Item| -> Result<(), ImportError> {
        match item {
            Item::Record(record) => {
                records += 1;
                entries += 1;
                match ProductDraft::parse(&record.input, currency) {
                    Ok(draft) => accept(draft)?,
                    Err(fields) => report.refuse(describe(&record, &fields)),
                }
                progress(now(records, report.skipped));
            }
            Item::Refused(issue) => {
                entries += 1;
                report.refuse(issue);
                progress(now(records, report.skipped));
            }
            Item::Warning(issue) => report.warn(issue),
        }
        if stop_at_first_error && report.skipped > 0 {
            return Err(ImportError::Strict(report.errors[0].clone()));
        }
        Ok(())
    };
    let rows = match read_with(source, format, &counter, &mut emit) {
        Err(ImportError::Strict(_)) if stop_at_first_error => records,
        // A break in the middle of a file keeps what came before it, and says where.
        Err(ImportError::Malformed { line, reason }) if !stop_at_first_error && records > 0 => {
            report.refuse(RowIssue::new(
                line,
                format!("{reason}; the rest of the file could not be read"),
            ));
            report.complete = false;
            records
        }
        other => other?,
    };
    report.rows = rows;
    let last = now(records, report.skipped);
    progress(last);
    Ok(Pass {
        report,
        entries,
        last,
    })
}

/// Hands `source` to the reader of `format`; returns the rows it read.
fn read_with(
    source: Source,
    format: Format,
    counter: &Arc<AtomicU64>,
    emit: &mut Emit,
) -> Result<u64, ImportError> {
    match format {
        Format::Shopify => shopify::read(source.open(counter)?, emit),
        Format::Woocommerce => woocommerce::read(|| source.open(counter), emit),
        Format::Csv => generic_csv::read(source.open(counter)?, emit),
        Format::Json => json::read_array(source.open(counter)?, emit),
        Format::Ndjson => json::read_lines(source.open(counter)?, emit),
    }
}

/// One line for a refused record, pointing at the variant's own row where there is one.
fn describe(record: &Record, fields: &[FieldError]) -> RowIssue {
    let line = fields
        .iter()
        .find_map(|f| variant_index(&f.field))
        .and_then(|i| record.variant_lines.get(i).copied())
        .unwrap_or(record.line);
    let reasons: Vec<String> = fields.iter().map(ToString::to_string).collect();
    let name = record
        .input
        .handle
        .as_deref()
        .or(record.input.name.as_deref())
        .unwrap_or("");
    let label = if name.is_empty() {
        String::new()
    } else {
        format!("\"{}\": ", name.chars().take(60).collect::<String>())
    };
    let issue = RowIssue::new(line, format!("{label}{}", reasons.join("; ")));
    match fields.first() {
        Some(first) => issue.with_field(first.field.clone()),
        None => issue,
    }
}

fn variant_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("variants[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// Guesses the format from the first bytes: JSON by its first character, CSV
/// flavours by their header names.
pub fn detect(source: Source) -> Result<Format, ImportError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    source
        .open(&Arc::new(AtomicU64::new(0)))?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let first_line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first_line = &head[..first_line_end];
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => return Ok(Format::Json),
        Some(b'{') => {
            let one_object_per_line =
                serde_json::from_slice::<serde_json::Value>(first_line).is_ok();
            return Ok(if one_object_per_line {
                Format::Ndjson
            } else {
                Format::Json
            });
        }
        None => return Err(ImportError::Empty),
        _ => {}
    }
    let header = String::from_utf8_lossy(first_line).to_ascii_lowercase();
    let has = |name: &str| {
        header
            .split(',')
            .any(|h| h.trim().trim_matches('"') == name)
    };
    if has("handle") && (has("variant price") || has("body (html)")) {
        Ok(Format::Shopify)
    } else if has("type") && (has("regular price") || has("parent")) {
        Ok(Format::Woocommerce)
    } else {
        Ok(Format::Csv)
    }
}

/// Splits a list cell on `separator`, trimming and dropping empty items.
fn split_list(cell: &str, separator: char) -> Vec<String> {
    cell.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A cell as an optional value: empty means absent.
fn non_empty(cell: &str) -> Option<String> {
    let cell = cell.trim();
    (!cell.is_empty()).then(|| cell.to_string())
}
