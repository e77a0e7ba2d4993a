//! JSON imports: an array of products (`[...]` or `{"products": [...]}`), or NDJSON.
//!
//! Products use the same shape as the HTTP API's `ProductInput`. Arrays are
//! streamed element by element through serde's sequence access, so a large file
//! is never held whole; a bad element is refused with its position, the rest go on.

use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, Read};
use std::rc::Rc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize as _, Deserializer as _};

use super::{Emit, ImportError, Item, Record, RowIssue};
use crate::catalog::ProductInput;

/// Longest NDJSON line accepted; longer ones are refused instead of buffered.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// NDJSON: one product object per line; blank lines are ignored.
pub fn read_lines(mut input: impl BufRead, emit: &mut Emit) -> Result<u64, ImportError> {
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut objects = 0u64;
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(objects);
        }
        number += 1;
        if line.len() > MAX_LINE_BYTES && !line.ends_with(b"\n") {
            emit(Item::Refused(RowIssue::new(
                number,
                format!("line is longer than {MAX_LINE_BYTES} bytes"),
            )))?;
            input.skip_until(b'\n')?;
            continue;
        }
        let text = if number == 1 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
        } else {
            &line
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        objects += 1;
        emit(
            match parse_product(&mut serde_json::Deserializer::from_slice(text)) {
                Ok(input) => Item::record(Record {
                    line: number,
                    variant_lines: Vec::new(),
                    input,
                }),
                Err(reason) => Item::Refused(RowIssue::new(number, reason)),
            },
        )?;
    }
}

/// A JSON array of products, or an object whose `products` member is one.
pub fn read_array(input: impl Read, emit: &mut Emit) -> Result<u64, ImportError> {
    let lines = Rc::new(Cell::new(1u64));
    let counted = LineCounter {
        inner: input,
        lines: Rc::clone(&lines),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counted);
    let mut failure: Option<ImportError> = None;
    let mut elements = 0u64;
    let top = TopLevel {
        emit,
        lines: &lines,
        failure: &mut failure,
        elements: &mut elements,
    };
    let result = deserializer
        .deserialize_any(top)
        .and_then(|()| deserializer.end());
    if let Some(stop) = failure {
        return Err(stop);
    }
    result.map_err(|err| ImportError::Malformed {
        line: err.line() as u64,
        reason: format!("invalid JSON: {err}"),
    })?;
    Ok(elements)
}

fn parse_product<'de, D: serde::Deserializer<'de, Error = serde_json::Error>>(
    deserializer: D,
) -> Result<ProductInput, String> {
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let reason = error_text(err.inner());
        if path == "." || err.inner().is_syntax() || err.inner().is_eof() {
            reason
        } else {
            format!("{path}: {reason}")
        }
    })
}

/// A serde_json error without its "at line L column C" suffix, which points into
/// one record rather than the file; broken JSON says so plainly.
pub fn error_text(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    };
    if err.is_syntax() || err.is_eof() {
        format!("invalid JSON: {message}")
    } else {
        message
    }
}

/// Counts newlines as serde_json pulls bytes, to give array elements a line number.
struct LineCounter<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        Ok(n)
    }
}

struct TopLevel<'a, 'e> {
    emit: &'a mut Emit<'e>,
    lines: &'a Rc<Cell<u64>>,
    failure: &'a mut Option<ImportError>,
    elements: &'a mut u64,
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of products or an object with a \"products\" array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(parsed) = seq.next_element_seed(Element)? {
            let line = self.lines.get();
            let item = match parsed {
                Ok(input) => Item::record(Record {
                    line,
                    variant_lines: Vec::new(),
                    input,
                }),
                Err(reason) => Item::Refused(RowIssue::new(
                    line,
                    format!("product #{}: {reason}", index + 1),
                )),
            };
            if let Err(stop) = (self.emit)(item) {
                *self.failure = Some(stop);
                return Err(serde::de::Error::custom("import stopped"));
            }
            index += 1;
            *self.elements = index;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        let mut this = Some(self);
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), this.take()) {
                ("products", Some(visitor)) => {
                    map.next_value_seed(ProductsMember(visitor))?;
                    found = true;
                }
                (_, visitor) => {
                    this = visitor;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if found {
            Ok(())
        } else {
            Err(serde::de::Error::missing_field("products"))
        }
    }
}

struct ProductsMember<'a, 'e>(TopLevel<'a, 'e>);

impl<'de> DeserializeSeed<'de> for ProductsMember<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self.0)
    }
}

/// One array element: parsed as a generic value first so a bad product does not end the stream.
struct Element;

impl<'de> DeserializeSeed<'de> for Element {
    type Value = Result<ProductInput, String>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(parse_product(value))
    }
}
