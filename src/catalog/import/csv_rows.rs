//! Row reading shared by the CSV layouts: header lookup, text decoding, shape checks.
//!
//! Real exports arrive with a byte-order mark, CRLF line ends, quoted multi-line
//! cells and, now and then, Windows-1252 bytes from a spreadsheet. Rows that are
//! not UTF-8 are decoded as Windows-1252 and reported as a warning; rows with the
//! wrong number of cells are refused with their line number.

use std::collections::HashMap;
use std::io::Read;

use csv::{ByteRecord, ReaderBuilder};

use super::{Emit, ImportError, Item, RowIssue};

pub struct CsvRows<R: Read> {
    reader: csv::Reader<R>,
    header: Vec<String>,
    index: HashMap<String, usize>,
    record: ByteRecord,
}

/// One data row with its cells decoded to text.
pub struct Row {
    pub line: u64,
    cells: Vec<String>,
}

impl Row {
    /// The cell in `column`, or "" when the file has no such column.
    pub fn get(&self, column: Option<usize>) -> &str {
        column
            .and_then(|c| self.cells.get(c))
            .map_or("", |s| s.as_str())
    }
}

impl<R: Read> CsvRows<R> {
    pub fn new(input: R) -> Result<Self, ImportError> {
        let mut reader = ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(input);
        let mut record = ByteRecord::new();
        if !read_record(&mut reader, &mut record)? {
            return Err(ImportError::Malformed {
                line: 1,
                reason: "the file is empty".into(),
            });
        }
        let (mut header, _) = decode(&record);
        if let Some(first) = header.first_mut() {
            *first = first.trim_start_matches('\u{feff}').to_string();
        }
        let index = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_lowercase(), i))
            .rev()
            .collect();
        Ok(CsvRows {
            reader,
            header,
            index,
            record,
        })
    }

    /// The position of a column by name, ignoring case and surrounding spaces.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.index.get(&name.to_lowercase()).copied()
    }

    /// The first of several alternative names the file uses.
    pub fn column_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.column(n))
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next non-blank row; rows of the wrong width are refused and skipped.
    pub fn next_row(&mut self, emit: &mut Emit) -> Result<Option<Row>, ImportError> {
        loop {
            if !read_record(&mut self.reader, &mut self.record)? {
                return Ok(None);
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self
                .record
                .iter()
                .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            if self.record.len() != self.header.len() {
                emit(Item::Refused(RowIssue::new(
                    line,
                    format!(
                        "row has {} cells but the header has {} (a stray quote or delimiter?)",
                        self.record.len(),
                        self.header.len()
                    ),
                )))?;
                continue;
            }
            let (cells, reencoded) = decode(&self.record);
            if reencoded {
                emit(Item::Warning(RowIssue::new(
                    line,
                    "text is not UTF-8; read it as Windows-1252",
                )))?;
            }
            return Ok(Some(Row { line, cells }));
        }
    }
}

fn read_record<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut ByteRecord,
) -> Result<bool, ImportError> {
    reader.read_byte_record(record).map_err(|err| {
        let line = err.position().map_or(0, |p| p.line());
        match err.into_kind() {
            csv::ErrorKind::Io(io) => ImportError::Io(io),
            other => ImportError::Malformed {
                line,
                reason: format!("{other:?}"),
            },
        }
    })
}

/// Cells as text, and whether any needed the Windows-1252 fallback.
fn decode(record: &ByteRecord) -> (Vec<String>, bool) {
    let mut reencoded = false;
    let cells = record
        .iter()
        .map(|cell| match std::str::from_utf8(cell) {
            Ok(text) => text.to_string(),
            Err(_) => {
                reencoded = true;
                encoding_rs::WINDOWS_1252.decode(cell).0.into_owned()
            }
        })
        .collect();
    (cells, reencoded)
}
