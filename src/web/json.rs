//! JSON request bodies with errors that name the field.
//!
//! actix's `Json` extractor reports a failed field only as a message; parsing the
//! raw bytes with `serde_path_to_error` gives clients "variants[0].price" instead.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::catalog::FieldError;
use crate::catalog::import::json_error_text;

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
