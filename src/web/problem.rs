//! RFC 9457 problem details: the one shape every error response takes.
//!
//! Handlers return `Problem`; the `normalize` middleware rewrites any other error
//! response (actix's own 404, 405, 413 …) into one, so a client never has to parse
//! two error formats. HTML pages a handler rendered for a browser (a refused
//! sign-in form) are left as they are. Store and import errors map here, and bad
//! input is never a 500.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::FieldError;
use crate::catalog::import::ImportError;
use crate::store::{DiskTrouble, StoreError};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem details object (RFC 9457) with the offending fields for validation errors.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The same error in the shape OpenAI clients read (`/v1/*` routes only).
    #[serde(rename = "error", skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub openai: Option<Box<OpenAiError>>,
    #[serde(skip)]
    // u32 keeps `Problem` small enough to return by value everywhere.
    retry_after: Option<u32>,
}

/// OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAiError {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            openai: None,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    /// 422 with every offending field.
    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the request has invalid fields: {}", fields.join(", ")),
        );
        problem.kind = "/problems/validation".into();
        problem.errors = errors;
        problem
    }

    /// A single bad field, such as a query parameter.
    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Problem {
        let mut problem = Problem::validation(vec![FieldError::new(field, reason)]);
        problem.status = StatusCode::BAD_REQUEST.as_u16();
        problem.title = "Bad Request".into();
        problem
    }

    /// 429 with how long to wait.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Problem {
        let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, detail);
        problem.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
        problem
    }

    /// Adds the OpenAI-shaped `error` member, so OpenAI clients show the reason.
    pub fn for_openai(mut self, param: Option<&str>, code: Option<&'static str>) -> Problem {
        let kind = match self.status {
            401 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        let param = param
            .map(str::to_string)
            .or_else(|| self.errors.first().map(|e| e.field.clone()));
        let mut message = self.detail.clone();
        for error in &self.errors {
            message.push_str(&format!("; {}: {}", error.field, error.reason));
        }
        self.openai = Some(Box::new(OpenAiError {
            message,
            kind,
            param,
            code,
        }));
        self
    }

    /// Names the kind of problem (`/problems/out-of-stock`), so clients can branch on it.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Problem {
        self.kind = kind.into();
        self
    }

    /// Adds the fields (or lines) a problem is about.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }

    /// 507: the server's disk is full (or refuses writes). Nothing was
    /// saved, reading still works, and the same request succeeds once the
    /// disk is fixed.
    pub fn disk(trouble: DiskTrouble) -> Problem {
        let (kind, detail) = match trouble {
            DiskTrouble::Full => (
                "/problems/disk-full",
                "the disk is full: the shop cannot save changes until space is freed on the server",
            ),
            DiskTrouble::WriteRefused => (
                "/problems/disk-write-refused",
                "the server's disk refused the write (a quota or file size limit was reached, or the disk is failing; the error is in the server log)",
            ),
        };
        Problem::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("{detail}; nothing was saved, and browsing still works"),
        )
        .with_kind(kind)
    }

    /// A failed file operation: 507 when the disk is to blame, else a 500
    /// whose details go to the log only.
    pub fn from_io(what: &str, error: &std::io::Error) -> Problem {
        tracing::error!(%error, "{what}");
        match disk_trouble(error) {
            Some(trouble) => Problem::disk(trouble),
            None => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{what}; the error is in the server log"),
            ),
        }
    }

    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Problem {
        let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail);
        problem.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
        problem
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(CONTENT_TYPE);
        if self.status == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"shopkeep\""));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(self).unwrap_or_default())
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Problem {
        match err {
            StoreError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, detail),
            other => {
                tracing::error!(error = %other, "database error");
                match other.disk_trouble() {
                    Some(trouble) => Problem::disk(trouble),
                    None => Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the database failed; the error is in the server log",
                    ),
                }
            }
        }
    }
}

impl From<ImportError> for Problem {
    fn from(err: ImportError) -> Problem {
        match err {
            ImportError::Store(store) => store.into(),
            ImportError::Io(io) => Problem::from_io("could not read the uploaded file back", &io),
            other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for Problem {
    fn from(_: actix_web::error::BlockingError) -> Problem {
        Problem::unavailable("the server is shutting down", 5)
    }
}

/// ENOSPC and EDQUOT (a quota is a full disk to this user) are a full
/// disk; EFBIG (a file size limit) is a refused write.
fn disk_trouble(error: &std::io::Error) -> Option<DiskTrouble> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Some(DiskTrouble::Full),
        ErrorKind::FileTooLarge => Some(DiskTrouble::WriteRefused),
        _ => None,
    }
}

/// Rewrites every error response that is not already problem+json into one.
pub async fn normalize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(req).await?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let is_problem =
        content_type.is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return Ok(response.map_into_left_body());
    }
    let detail = match status {
        StatusCode::NOT_FOUND => format!(
            "no route for {} {}",
            response.request().method(),
            response.request().path()
        ),
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{} is not allowed on {}",
            response.request().method(),
            response.request().path()
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this endpoint accepts".into()
        }
        _ => response
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_else(|| status.to_string()),
    };
    let (request, original) = response.into_parts();
    let mut rewritten = Problem::new(status, detail).error_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(ServiceResponse::new(request, rewritten).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_trouble_is_a_507_with_its_reason_and_other_failures_stay_500() {
        let sqlite = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let full = Problem::from(sqlite(rusqlite::ffi::SQLITE_FULL));
        assert_eq!(
            (full.status, full.kind.as_str()),
            (507, "/problems/disk-full")
        );
        assert!(full.detail.contains("disk is full"), "{full}");
        let refused = Problem::from(sqlite(rusqlite::ffi::SQLITE_IOERR_WRITE));
        assert_eq!(
            (refused.status, refused.kind.as_str()),
            (507, "/problems/disk-write-refused")
        );
        assert_eq!(
            Problem::from(sqlite(rusqlite::ffi::SQLITE_BUSY)).status,
            500
        );

        let io = |errno| {
            let error = std::io::Error::from_raw_os_error(errno);
            Problem::from_io("could not store the upload", &error)
        };
        assert_eq!(io(libc::ENOSPC).kind, "/problems/disk-full");
        assert_eq!(io(libc::EDQUOT).kind, "/problems/disk-full");
        assert_eq!(io(libc::EFBIG).kind, "/problems/disk-write-refused");
        let denied = io(libc::EACCES);
        assert_eq!(denied.status, 500);
        assert!(
            denied.detail.starts_with("could not store the upload"),
            "{denied}"
        );
    }
}
