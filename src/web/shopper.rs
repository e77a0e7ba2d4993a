//! Shopper sessions over HTTP: the `CurrentShopper` extractor and the
//! middleware that hands a new session token to the client.
//!
//! A session token comes in the `shopkeep_session` cookie (browsers) or the
//! `X-Session-Id` header (API clients). A request without a live one gets a new
//! guest session; `session_cookie` then sends its token back both as the cookie
//! and as an `X-Session-Id` response header.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::AppState;
use super::problem::Problem;
use crate::commerce::Shopper;
use crate::commerce::shopper::{self, ShopperError};

pub const COOKIE: &str = "shopkeep_session";
pub const HEADER: &str = "x-session-id";

/// The shopper behind a request; a guest without a session gets a new one.
#[derive(Debug, Clone, Copy)]
pub struct CurrentShopper(pub Shopper);

/// What the response must tell the client about its session.
#[derive(Debug, Clone)]
pub enum SessionChange {
    Started(String),
    Ended,
}

impl FromRequest for CurrentShopper {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentShopper, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = presented_token(req);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| Problem::unavailable("server state missing", 1))?;
            let ttl = state.config.commerce.session_ttl;
            let grant = web::block(move || shopper::resolve(&state.store, token.as_deref(), ttl))
                .await?
                .map_err(shopper_problem)?;
            if let Some(token) = grant.new_token {
                req.extensions_mut().insert(SessionChange::Started(token));
            }
            Ok(CurrentShopper(grant.shopper))
        })
    }
}

fn presented_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| cookie_value(req, COOKIE))
}

/// The value of cookie `name` from the `Cookie` headers.
pub(super) fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Sends a started session's token back (cookie and header), or clears the
/// cookie of an ended one.
pub async fn session_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let secure = req.connection_info().scheme() == "https";
    let mut response = next.call(req).await?;
    let change = response
        .request()
        .extensions()
        .get::<SessionChange>()
        .cloned();
    let Some(change) = change else {
        return Ok(response);
    };
    let cookie = match &change {
        SessionChange::Started(token) => {
            let ttl = response
                .request()
                .app_data::<web::Data<AppState>>()
                .map_or(0, |s| s.config.commerce.session_ttl.as_secs());
            format!("{COOKIE}={token}; Path=/; Max-Age={ttl}; HttpOnly; SameSite=Lax")
        }
        SessionChange::Ended => format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    };
    let cookie = if secure { cookie + "; Secure" } else { cookie };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, value);
    }
    if let SessionChange::Started(token) = &change
        && let Ok(value) = HeaderValue::from_str(token)
    {
        headers.insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}

/// Shopper errors as problem+json.
pub fn shopper_problem(error: ShopperError) -> Problem {
    use actix_web::http::StatusCode;
    match error {
        ShopperError::Invalid(errors) => Problem::validation(errors),
        ShopperError::EmailTaken => Problem::new(
            StatusCode::CONFLICT,
            "an account with this email already exists; sign in instead",
        ),
        ShopperError::BadCredentials => Problem::new(
            StatusCode::UNAUTHORIZED,
            "the email or password is not right",
        ),
        ShopperError::Store(error) => error.into(),
        other => {
            tracing::error!(error = %other, "session or account operation failed");
            Problem::unavailable("could not complete this right now", 1)
        }
    }
}
