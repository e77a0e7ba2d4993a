//! JSON request bodies with errors that name the field.
//!
//! actix's `Json` extractor reports a failed field only as a message; parsing the
//! raw bytes with `serde_path_to_error` gives clients "variants[0].price" instead.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::catalog::import::json_error_text;
use crate::catalog::{Currency, FieldError, Money};

/// Parses a JSON body: 415 for another media type, 400 for broken JSON, 422 for wrong fields.
pub fn parse_body<T: DeserializeOwned>(req: &HttpRequest, body: &web::Bytes) -> Result<T, Problem> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(Problem::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the body as application/json (got {:?})", content_type),
        ));
    }
    // Well-formedness first, so broken JSON is a 400 whatever shape it started with.
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| Problem::bad_request(format!("the body is not valid JSON: {err}")))?;
    let value = serde_path_to_error::deserialize(document).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        Problem::validation(vec![FieldError::new(field, json_error_text(err.inner()))])
    })?;
    Ok(value)
}

/// A decimal amount in the shop currency ("4.99").
pub fn decimal(currency: &Currency, minor: i64) -> String {
    match Money::from_minor(minor) {
        Ok(money) => currency.format_plain(money),
        Err(_) => minor.to_string(),
    }
}

/// The money lines of a cart or order, each as a decimal and in minor units.
#[derive(Debug, serde::Serialize)]
pub struct TotalsJson {
    subtotal: String,
    subtotal_minor: i64,
    discount: String,
    discount_minor: i64,
    tax: String,
    tax_minor: i64,
    total: String,
    total_minor: i64,
    tax_inclusive: bool,
}

impl TotalsJson {
    pub fn new(currency: &Currency, totals: &crate::commerce::cart::Totals) -> TotalsJson {
        TotalsJson {
            subtotal: decimal(currency, totals.subtotal_minor),
            subtotal_minor: totals.subtotal_minor,
            discount: decimal(currency, totals.discount_minor),
            discount_minor: totals.discount_minor,
            tax: decimal(currency, totals.tax_minor),
            tax_minor: totals.tax_minor,
            total: decimal(currency, totals.total_minor),
            total_minor: totals.total_minor,
            tax_inclusive: totals.tax_inclusive,
        }
    }
}
