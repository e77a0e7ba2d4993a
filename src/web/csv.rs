//! CSV downloads of the admin reports: which format a request asks for, the
//! RFC 4180 text (CRLF lines, quoted fields where needed) with cells that a
//! spreadsheet cannot mistake for formulas, and the answer that makes a
//! browser save it as a file.
//!
//! Knows nothing about the reports themselves: each report's handler decides
//! its columns. Must not read the store or format money by its own rules.

use std::collections::BTreeMap;
use std::fmt::Display;

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header;

use super::problem::Problem;

/// The media type of every CSV answer.
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// What a report answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// The `format` parameter (`json` or `csv`) when given, taken out of
    /// `params`; otherwise CSV when the client accepts `text/csv` and not JSON.
    pub fn requested(
        params: &mut BTreeMap<String, String>,
        req: &HttpRequest,
    ) -> Result<Format, Problem> {
        match params.remove("format").as_deref() {
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(Problem::invalid_field(
                "format",
                format!("{other:?} is not one of json, csv"),
            )),
            None if prefers_csv(req) => Ok(Format::Csv),
            None => Ok(Format::Json),
        }
    }
}

/// `Accept: text/csv` asks for CSV; a list that also names JSON (as browsers'
/// `*/*` does not) keeps JSON, the documented default.
fn prefers_csv(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("text/csv") && !accept.contains("application/json")
}

/// One cell. Text is guarded against formula injection; numbers, which the
/// server wrote itself, go in as they are (a negative number stays a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Number(String),
}

impl Cell {
    pub fn text(value: impl Into<String>) -> Cell {
        Cell::Text(value.into())
    }

    pub fn number(value: impl Display) -> Cell {
        Cell::Number(value.to_string())
    }
}

/// A CSV document being written: the header row first, then rows.
#[derive(Debug, Clone)]
pub struct Csv {
    text: String,
}

impl Csv {
    pub fn with_header(columns: &[&str]) -> Csv {
        let mut csv = Csv {
            text: String::new(),
        };
        let header: Vec<Cell> = columns.iter().map(|c| Cell::text(*c)).collect();
        csv.row(&header);
        csv
    }

    /// Appends one record, ended by CRLF as RFC 4180 says.
    pub fn row(&mut self, cells: &[Cell]) {
        for (n, cell) in cells.iter().enumerate() {
            if n > 0 {
                self.text.push(',');
            }
            match cell {
                Cell::Text(value) => push_text(&mut self.text, value),
                Cell::Number(value) => push_field(&mut self.text, value, false),
            }
        }
        self.text.push_str("\r\n");
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A 200 that browsers save as `filename` (the caller builds it from
    /// validated parts only: it goes into a header as written).
    pub fn into_download(self, filename: &str) -> HttpResponse {
        HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ))
            .body(self.text)
    }
}

/// Characters that make a spreadsheet read a cell as a formula (or, for tab
/// and carriage return, that some strip before doing so).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text from users or the catalog: a leading `'` turns a would-be formula
/// into text, and such a cell is always quoted so the mark stays with it.
fn push_text(out: &mut String, value: &str) {
    if value.starts_with(FORMULA_STARTS) {
        push_field(out, &format!("'{value}"), true);
    } else {
        push_field(out, value, false);
    }
}

/// RFC 4180: a field with a comma, quote or line break is quoted, and its
/// quotes doubled.
fn push_field(out: &mut String, value: &str, always_quote: bool) {
    if always_quote || value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// Reads the text back with the `csv` crate, an independent RFC 4180 reader.
    fn parsed(csv: &Csv) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv.as_str().as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn plain_cells_are_written_bare_with_crlf_lines() {
        let mut csv = Csv::with_header(&["day", "orders"]);
        csv.row(&[Cell::text("2025-03-01"), Cell::number(7)]);
        assert_eq!(csv.as_str(), "day,orders\r\n2025-03-01,7\r\n");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted_and_read_back_whole() {
        let awkward = [
            "Oat milk, 1 l",
            "the \"best\" loaf",
            "two\nlines",
            "cr\r\nlf",
        ];
        let mut csv = Csv::with_header(&["name"]);
        for name in awkward {
            csv.row(&[Cell::text(name)]);
        }
        assert!(csv.as_str().contains("\"the \"\"best\"\" loaf\""));
        let rows = parsed(&csv);
        let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(names, awkward);
        // An empty cell stays a cell (reports always have several columns).
        let mut pair = Csv::with_header(&["a", "b"]);
        pair.row(&[Cell::text(""), Cell::number(1)]);
        assert_eq!(parsed(&pair)[1], ["", "1"]);
    }

    #[test]
    fn text_that_a_spreadsheet_would_run_as_a_formula_is_marked_and_quoted() {
        let mut csv = Csv::with_header(&["name"]);
        for name in [
            "=1+2",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "=HYPERLINK(\"http://x\",\"y\")",
        ] {
            csv.row(&[Cell::text(name)]);
        }
        let lines: Vec<&str> = csv.as_str().split("\r\n").collect();
        assert_eq!(
            &lines[1..5],
            ["\"'=1+2\"", "\"'+1\"", "\"'-2+3\"", "\"'@SUM(A1)\""]
        );
        let rows = parsed(&csv);
        assert_eq!(rows[6][0], "'=HYPERLINK(\"http://x\",\"y\")");
        assert!(rows[1..].iter().all(|r| r[0].starts_with('\'')));
    }

    #[test]
    fn numbers_are_never_marked_even_when_negative() {
        let mut csv = Csv::with_header(&["delta"]);
        csv.row(&[Cell::number(-5)]);
        csv.row(&[Cell::number("-0.50")]);
        assert_eq!(csv.as_str(), "delta\r\n-5\r\n-0.50\r\n");
    }

    #[test]
    fn markup_stays_text() {
        let mut csv = Csv::with_header(&["name"]);
        csv.row(&[Cell::text("<img src=x onerror=alert(1)>")]);
        assert_eq!(parsed(&csv)[1][0], "<img src=x onerror=alert(1)>");
    }

    fn format_of(query: &[(&str, &str)], accept: Option<&str>) -> Result<Format, Problem> {
        let mut request = TestRequest::default();
        if let Some(accept) = accept {
            request = request.insert_header((header::ACCEPT, accept));
        }
        let mut params: BTreeMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let format = Format::requested(&mut params, &request.to_http_request());
        assert!(!params.contains_key("format"), "format is taken out");
        format
    }

    #[test]
    fn the_format_parameter_wins_over_the_accept_header() {
        assert_eq!(format_of(&[], None).unwrap(), Format::Json);
        assert_eq!(format_of(&[("format", "csv")], None).unwrap(), Format::Csv);
        assert_eq!(format_of(&[], Some("text/csv")).unwrap(), Format::Csv);
        assert_eq!(
            format_of(&[("format", "json")], Some("text/csv")).unwrap(),
            Format::Json
        );
        assert_eq!(
            format_of(&[], Some("application/json, text/csv;q=0.5")).unwrap(),
            Format::Json
        );
        assert_eq!(format_of(&[], Some("*/*")).unwrap(), Format::Json);
        let refused = format_of(&[("format", "xlsx")], None).unwrap_err();
        assert_eq!(refused.status, 400);
        assert_eq!(refused.errors[0].field, "format");
    }

    #[test]
    fn a_download_names_its_file_and_type() {
        let response = Csv::with_header(&["a"]).into_download("usage-2025-03-01-2025-03-05.csv");
        let headers = response.headers();
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), CONTENT_TYPE);
        assert_eq!(
            headers.get(header::CONTENT_DISPOSITION).unwrap(),
            "attachment; filename=\"usage-2025-03-01-2025-03-05.csv\""
        );
    }
}
