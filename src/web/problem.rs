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
use crate::store::StoreError;

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
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the database failed; the error is in the server log",
                )
            }
        }
    }
}

impl From<ImportError> for Problem {
    fn from(err: ImportError) -> Problem {
        match err {
            ImportError::Store(store) => store.into(),
            ImportError::Io(io) => {
                tracing::error!(error = %io, "import file unreadable");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not read the uploaded file back",
                )
            }
            other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for Problem {
    fn from(_: actix_web::error::BlockingError) -> Problem {
        Problem::unavailable("the server is shutting down", 5)
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
