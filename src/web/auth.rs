//! Who may use admin routes, as extractors: `Admin` (an admin API key or a
//! dashboard session), `DashboardSession` (a session alone) and `AdminPage`
//! (a session, or a redirect to the sign-in page, for HTML pages).
//!
//! An API key comes as `Authorization: Bearer <key>` and is checked with
//! `crate::access` off the async executor (argon2id is deliberately slow); a
//! request that sends one is judged by it alone. A dashboard session comes as
//! the `shopkeep_admin` cookie and is checked with `crate::admin_auth`; with
//! it, every request other than GET and HEAD must carry the session's CSRF
//! token in `X-CSRF-Token` or in a `csrf_token` form field (`form_csrf` lifts
//! the field out of form bodies). Missing or wrong credentials → 401 problem;
//! a missing or forged CSRF token → 403 problem. This module holds no rule
//! about passwords, tokens or lockouts.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, dev::Payload, web};
use time::OffsetDateTime;

use super::AppState;
use super::problem::Problem;
use super::shopper::cookie_value;
use crate::access::AccessError;
use crate::admin_auth::{self, Session};

/// The dashboard session cookie.
pub const ADMIN_COOKIE: &str = "shopkeep_admin";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";
/// Where a browser without a session is sent.
pub const LOGIN_PAGE: &str = "/admin/login";

/// Proof that the request came from an admin, and how.
#[derive(Debug, Clone)]
pub enum Admin {
    /// A live admin API key, by id.
    Key { key_id: i64 },
    /// A dashboard session of this admin user.
    Session { user: String },
}

impl Admin {
    /// Who acted, for audit trails: `admin:key:<id>` or `admin:user:<name>`.
    pub fn actor(&self) -> String {
        match self {
            Admin::Key { key_id } => format!("admin:key:{key_id}"),
            Admin::Session { user } => format!("admin:user:{user}"),
        }
    }
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let presented = presented_session(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| Problem::unavailable("server state missing", 1))?;
            if let Some(token) = token {
                return verify_key(state, token).await;
            }
            let presented = presented.ok_or_else(|| {
                unauthorized(
                    "this route needs an admin key (send `Authorization: Bearer <key>`) \
                     or a dashboard session (sign in at /admin/login)",
                )
            })?;
            let signed_in = check_session(&state, presented).await?;
            Ok(Admin::Session {
                user: signed_in.session.user,
            })
        })
    }
}

async fn verify_key(state: web::Data<AppState>, token: String) -> Result<Admin, Problem> {
    let verified = web::block(move || state.access.verify(&state.store, &token)).await?;
    match verified {
        Ok(key_id) => Ok(Admin::Key { key_id }),
        Err(AccessError::Denied) => Err(unauthorized(
            "the admin key is not valid (unknown, revoked or mistyped)",
        )),
        Err(other) => {
            tracing::error!(error = %other, "admin key check failed");
            Err(Problem::unavailable(
                "could not check the admin key right now",
                1,
            ))
        }
    }
}

/// A live dashboard session, CSRF-checked when the method changes state.
#[derive(Debug, Clone)]
pub struct DashboardSession {
    /// The cookie's token; never leaves this process but back in the cookie.
    pub token: String,
    pub session: Session,
}

impl DashboardSession {
    /// The token state-changing requests of this session must carry.
    pub fn csrf_token(&self) -> String {
        admin_auth::csrf_token(&self.token)
    }
}

impl FromRequest for DashboardSession {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<DashboardSession, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented_session(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| Problem::unavailable("server state missing", 1))?;
            let presented = presented
                .ok_or_else(|| unauthorized("no dashboard session: sign in at /admin/login"))?;
            check_session(&state, presented).await
        })
    }
}

/// A dashboard page's admin: a browser without a live session is sent to the
/// sign-in page (303) instead of getting a 401.
#[derive(Debug, Clone)]
pub struct AdminPage(pub DashboardSession);

impl FromRequest for AdminPage {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<AdminPage, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = DashboardSession::from_request(req, payload);
        Box::pin(async move {
            match session.await {
                Ok(session) => Ok(AdminPage(session)),
                Err(problem) if problem.status == StatusCode::UNAUTHORIZED.as_u16() => {
                    Err(actix_web::error::InternalError::from_response(
                        "sign in first",
                        see_other(LOGIN_PAGE),
                    )
                    .into())
                }
                Err(problem) => Err(problem.into()),
            }
        })
    }
}

/// A 303 to `location`: after a form post or for a page that needs a session.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// What a request offers as a dashboard session, read before its body is.
struct PresentedSession {
    token: String,
    csrf: Option<String>,
    needs_csrf: bool,
}

fn presented_session(req: &HttpRequest) -> Option<PresentedSession> {
    let token = cookie_value(req, ADMIN_COOKIE)?;
    let csrf = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.extensions().get::<FormCsrf>().map(|f| f.0.clone()));
    Some(PresentedSession {
        token,
        csrf,
        needs_csrf: changes_state(req.method()),
    })
}

async fn check_session(
    state: &web::Data<AppState>,
    presented: PresentedSession,
) -> Result<DashboardSession, Problem> {
    let store = state.store.clone();
    let token = presented.token.clone();
    let session =
        web::block(move || admin_auth::session(&store, &token, OffsetDateTime::now_utc()))
            .await??
            .ok_or_else(|| {
                unauthorized(
                    "the dashboard session has ended or is unknown: sign in again at /admin/login",
                )
            })?;
    let csrf_ok = presented
        .csrf
        .is_some_and(|csrf| admin_auth::csrf_matches(&presented.token, &csrf));
    if presented.needs_csrf && !csrf_ok {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "this request needs the session's CSRF token in the X-CSRF-Token header \
             (or a csrf_token form field); GET /admin/session gives it",
        )
        .with_kind("/problems/csrf"));
    }
    Ok(DashboardSession {
        token: presented.token,
        session,
    })
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// Whether a body is an HTML form post.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The `csrf_token` field of a form body, lifted out by `form_csrf`.
#[derive(Debug, Clone)]
struct FormCsrf(String);

/// Reads the `csrf_token` field of a form posted with a dashboard cookie and
/// puts the body back for the handler: an extractor cannot read a body that
/// the handler reads after it.
pub async fn form_csrf(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if carries_form_csrf(&req) {
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(error) => {
                let status = error.as_response_error().status_code();
                let problem = Problem::new(status, format!("could not read the form: {error}"));
                return Ok(req.error_response(problem).map_into_right_body());
            }
        };
        if let Some(token) = form_field(&body, CSRF_FIELD) {
            req.extensions_mut().insert(FormCsrf(token));
        }
        req.set_payload(body.into());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn carries_form_csrf(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    changes_state(req.method())
        && is_form(headers)
        && !headers.contains_key(CSRF_HEADER)
        && !headers.contains_key(header::AUTHORIZATION)
        && cookie_value(req.request(), ADMIN_COOKIE).is_some()
}

/// The first value of field `name` in a form body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded_and_found_by_name() {
        let body = b"user=ana&csrf_token=ab%2Bcd&csrf_token=second";
        assert_eq!(form_field(body, "csrf_token").as_deref(), Some("ab+cd"));
        assert_eq!(form_field(body, "missing"), None);
        assert_eq!(form_field(b"%%%=", "x"), None);
    }

    #[test]
    fn only_get_and_head_are_free_of_csrf() {
        assert!(!changes_state(&Method::GET));
        assert!(!changes_state(&Method::HEAD));
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(changes_state(&method), "{method}");
        }
    }
}
