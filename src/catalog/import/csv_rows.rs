//! Row reading shared by the CSV layouts: header lookup, text decoding, shape checks.
//!
//! Real exports arrive with a byte-order mark, CRLF line ends, quoted multi-line
//! cells and, now and then, Windows-1252 bytes from a spreadsheet. Rows that are
//! not UTF-8 are decoded as Windows-1252 and reported as a warning; rows with the
//! wrong number of cells are refused with their line number.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::rc::Rc;

use csv::{ByteRecord, ReaderBuilder};

use super::{Emit, ImportError, Item, RowIssue};

pub struct CsvRows<R: Read> {
    reader: csv::Reader<NewlineIndexer<R>>,
    newlines: Rc<RefCell<NewlineIndex>>,
    header: Vec<String>,
    index: HashMap<String, usize>,
    record: ByteRecord,
    rows_read: u64,
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
        let newlines = Rc::new(RefCell::new(NewlineIndex::default()));
        let input = NewlineIndexer {
            inner: input,
            index: Rc::clone(&newlines),
            offset: 0,
        };
        let mut reader = ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(input);
        let mut record = ByteRecord::new();
        if !read_record(&mut reader, &mut record)? {
            return Err(ImportError::Empty);
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
            newlines,
            header,
            index,
            record,
            rows_read: 0,
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

    /// Non-blank data rows read so far, refused ones included.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
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
            // csv's record position is the end of the previous record; the reader's
            // position is just past this record's terminator byte. So the start line
            // is the terminator's line less the newlines quoted inside the record.
            let end = self.reader.position().byte().saturating_sub(1);
            let inside = self
                .record
                .iter()
                .flatten()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            let line = self.newlines.borrow_mut().line_at(end) - inside;
            if self
                .record
                .iter()
                .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            self.rows_read += 1;
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

/// Newline offsets seen by the reader but not yet passed by a record.
///
/// csv's own line counter skips blank lines and miscounts CRLF files, so lines are
/// derived from byte offsets instead. Only the offsets inside csv's
/// read-ahead window are kept, so memory does not grow with the file.
#[derive(Default)]
struct NewlineIndex {
    pending: VecDeque<u64>,
    passed: u64,
}

impl NewlineIndex {
    /// The 1-based line of the byte at `offset`; offsets must not decrease.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self
            .pending
            .front()
            .is_some_and(|&newline| newline < offset)
        {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

struct NewlineIndexer<R> {
    inner: R,
    index: Rc<RefCell<NewlineIndex>>,
    offset: u64,
}

impl<R: Read> Read for NewlineIndexer<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut index = self.index.borrow_mut();
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            index.pending.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Line of the first refused row in `file`, whose wide row is refused.
    fn refused_line(file: &[u8]) -> u64 {
        let mut rows = CsvRows::new(file).unwrap();
        let mut lines = Vec::new();
        let mut emit = |item: Item| {
            if let Item::Refused(issue) = item {
                lines.push(issue.line);
            }
            Ok(())
        };
        while rows.next_row(&mut emit).unwrap().is_some() {}
        lines[0]
    }

    #[test]
    fn line_numbers_count_blank_lines_crlf_and_quoted_newlines() {
        assert_eq!(refused_line(b"name,price\n\nA,1,2\n"), 3);
        assert_eq!(refused_line(b"name,price\r\n\r\nA,1,2\r\n"), 3);
        assert_eq!(refused_line(b"name,price\n\"x\ny\",1\nA,1,2\n"), 4);
        assert_eq!(refused_line(b"name,price\r\n\"x\r\ny\",1\r\nA,1,2"), 4);
        assert_eq!(refused_line(b"name,price\nA,1,2"), 2);
        assert_eq!(refused_line(b"name,price\n\"a,\nb\nc\",1,2\n"), 2);
    }
}
