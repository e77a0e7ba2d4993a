//! The admin dashboard in the browser: its pages under `/admin`, the sign-in
//! page and form, sign-out, `GET /admin/session` for scripts, and its static
//! files (`assets/web/admin/`, embedded in the binary, at `/admin/assets/`).
//!
//! Pages take `AdminPage`, which sends a browser without a session to
//! `/admin/login` (303); add new pages in `routes` before the catch-all.
//! Pages are minijinja templates from `assets/web/admin/`, rendered with HTML
//! auto-escaping; only static file types are served from that folder, never
//! the templates. Sign-in rules live in `crate::admin_auth` and sessions are
//! read by `super::auth`; this module speaks HTTP: cookies, forms and JSON.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{ADMIN_COOKIE, AdminPage, DashboardSession, LOGIN_PAGE, is_form, see_other};
use super::json::parse_body;
use super::problem::Problem;
use crate::admin_auth::{self, AdminAuthError, LoginAttempt};

#[derive(RustEmbed)]
#[folder = "assets/web/admin/"]
struct AdminFiles;

/// Pages may not be framed (clickjacking) and load nothing from elsewhere.
const PAGE_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(LOGIN_PAGE)
            .route(web::get().to(login_page))
            .route(web::post().to(login)),
    )
    .service(web::resource("/admin/logout").route(web::post().to(logout)))
    .service(web::resource("/admin/session").route(web::get().to(session)))
    .service(web::resource("/admin/assets/{file:.*}").route(web::get().to(asset)))
    .service(web::resource(["/admin", "/admin/"]).route(web::get().to(overview)))
    // Last: every page needs a session before it can be found or not.
    .service(web::resource("/admin/{page:.*}").route(web::get().to(page)));
}

/// A page of the dashboard: its address under `/admin/` and its title. Each
/// is drawn in the browser by `assets/web/admin/pages/<slug>.js`.
struct DashboardPage {
    slug: &'static str,
    title: &'static str,
}

/// The dashboard's pages, in the order of its navigation.
const PAGES: &[DashboardPage] = &[
    DashboardPage {
        slug: "overview",
        title: "Overview",
    },
    DashboardPage {
        slug: "products",
        title: "Products",
    },
    DashboardPage {
        slug: "orders",
        title: "Orders",
    },
    DashboardPage {
        slug: "conversations",
        title: "Conversations",
    },
    DashboardPage {
        slug: "ai",
        title: "AI",
    },
    DashboardPage {
        slug: "usage",
        title: "Usage and cost",
    },
    DashboardPage {
        slug: "sales",
        title: "Sales",
    },
    DashboardPage {
        slug: "settings",
        title: "Settings",
    },
    DashboardPage {
        slug: "system",
        title: "System",
    },
];

/// The page for an address under `/admin/`: its first segment names it (the
/// rest, such as an order number, is for the page's script to read).
fn find_page(path: &str) -> Option<&'static DashboardPage> {
    let slug = path.split('/').next().unwrap_or_default();
    PAGES.iter().find(|page| page.slug == slug)
}

/// Credentials, as JSON or as the sign-in page's form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    user: String,
    password: String,
}

/// The signed-in admin and what scripts need to act for them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    user: String,
    /// Send it as `X-CSRF-Token` with every request other than GET and HEAD.
    csrf_token: String,
    /// RFC 3339 UTC; the session does not slide.
    expires_at: String,
}

impl SessionView {
    fn new(session: &admin_auth::Session, csrf_token: String) -> SessionView {
        SessionView {
            user: session.user.clone(),
            csrf_token,
            expires_at: session.expires_at.clone(),
        }
    }
}

/// Sign in to the dashboard (JSON or the sign-in form). Sets the
/// `shopkeep_admin` cookie. Five failures for a user name or from an address
/// within 15 minutes refuse further attempts for 15 minutes.
#[utoipa::path(post, path = "/admin/login", tag = "admin",
    request_body(content = LoginBody, description = "as JSON, or as an HTML form (application/x-www-form-urlencoded), which is answered with pages instead"),
    security(()),
    responses(
        (status = 200, body = SessionView, description = "signed in; the session cookie is set"),
        (status = 303, description = "signed in from the form: on to /admin"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "locked out; Retry-After says for how long")))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let from_form = is_form(req.headers());
    let credentials: LoginBody = if from_form {
        serde_urlencoded::from_bytes(&body).map_err(|e| {
            Problem::bad_request(format!("the form needs user and password fields: {e}"))
        })?
    } else {
        parse_body(&req, &body)?
    };
    let typed_user = credentials.user.clone();
    let address = super::guard::client_address(&req, &state.config.trusted_proxies);
    let ttl = state.config.admin.session_ttl;
    let store = state.store.clone();
    let from = address.clone();
    let outcome = web::block(move || {
        let attempt = LoginAttempt {
            user: &credentials.user,
            password: &credentials.password,
            from: &from,
        };
        admin_auth::login(&store, &attempt, ttl, OffsetDateTime::now_utc())
    })
    .await?;
    let signed_in = match outcome {
        Ok(signed_in) => signed_in,
        Err(error) => {
            let retry_after = match &error {
                AdminAuthError::Locked { retry_after } => Some(retry_after.as_secs()),
                _ => None,
            };
            let problem = login_problem(error, &address);
            return if from_form {
                login_form_refused(&state, problem, retry_after, &typed_user).await
            } else {
                Err(problem)
            };
        }
    };
    tracing::info!(user = %signed_in.session.user, %address, "admin signed in");
    let cookie = cookie(&req, &signed_in.token, ttl.as_secs());
    let mut response = if from_form {
        see_other("/admin")
    } else {
        let csrf = admin_auth::csrf_token(&signed_in.token);
        HttpResponse::Ok().json(SessionView::new(&signed_in.session, csrf))
    };
    set_cookie(&mut response, &cookie);
    Ok(response)
}

fn login_problem(error: AdminAuthError, address: &str) -> Problem {
    match error {
        AdminAuthError::BadCredentials => {
            tracing::warn!(%address, "admin sign-in refused: wrong user name or password");
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "the user name or password is not right",
            )
        }
        AdminAuthError::Locked { retry_after } => {
            let minutes = retry_after.as_secs().div_ceil(60);
            Problem::too_many_requests(
                format!("too many failed sign-ins: try again in {minutes} minutes"),
                retry_after.as_secs(),
            )
            .with_kind("/problems/locked-out")
        }
        AdminAuthError::Store(error) => error.into(),
        other => {
            tracing::error!(error = %other, "admin sign-in failed");
            Problem::unavailable("could not check the sign-in right now", 1)
        }
    }
}

/// The sign-in page again, with the reason and the refusal's status.
async fn login_form_refused(
    state: &web::Data<AppState>,
    problem: Problem,
    retry_after_secs: Option<u64>,
    typed_user: &str,
) -> Result<HttpResponse, Problem> {
    let status = match problem.status {
        401 => StatusCode::UNAUTHORIZED,
        429 => StatusCode::TOO_MANY_REQUESTS,
        _ => return Err(problem),
    };
    let page = login_page_html(state, Some(&problem.detail), typed_user).await?;
    let mut response = html(status, page);
    if let Some(seconds) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Ok(response)
}

/// Sign out: ends the session and clears the cookie. Without a live session
/// there is nothing to end, and the cookie is cleared all the same.
#[utoipa::path(post, path = "/admin/logout", tag = "admin",
    security(("admin_session" = [])),
    responses(
        (status = 204, description = "signed out; the cookie is cleared"),
        (status = 303, description = "signed out from a form: on to /admin/login"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "missing or forged CSRF token")))]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: Result<DashboardSession, Problem>,
) -> Result<HttpResponse, Problem> {
    match signed_in {
        Ok(signed_in) => {
            let store = state.store.clone();
            web::block(move || admin_auth::logout(&store, &signed_in.token)).await??;
            tracing::info!(user = %signed_in.session.user, "admin signed out");
        }
        Err(problem) if problem.status == StatusCode::UNAUTHORIZED.as_u16() => {}
        Err(problem) => return Err(problem),
    }
    let mut response = if is_form(req.headers()) {
        see_other(LOGIN_PAGE)
    } else {
        HttpResponse::NoContent().finish()
    };
    set_cookie(&mut response, &cleared_cookie(&req));
    Ok(response)
}

/// The signed-in admin, the CSRF token and when the session ends.
#[utoipa::path(get, path = "/admin/session", tag = "admin",
    security(("admin_session" = [])),
    responses(
        (status = 200, body = SessionView),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn session(signed_in: DashboardSession) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SessionView::new(&signed_in.session, signed_in.csrf_token()))
}

async fn login_page(
    state: web::Data<AppState>,
    signed_in: Option<DashboardSession>,
) -> Result<HttpResponse, Problem> {
    if signed_in.is_some() {
        return Ok(see_other("/admin"));
    }
    let page = login_page_html(&state, None, "").await?;
    Ok(html(StatusCode::OK, page))
}

/// The sign-in page, with why the last attempt was refused and the name it tried.
async fn login_page_html(
    state: &web::Data<AppState>,
    message: Option<&str>,
    user: &str,
) -> Result<String, Problem> {
    let store = state.store.clone();
    let password_set = web::block(move || admin_auth::password_is_set(&store)).await??;
    render(
        "login.html",
        minijinja::context! {
            shop_name => state.settings.current().shop_name.as_str(),
            password_set,
            message,
            user,
        },
    )
}

async fn overview(
    signed_in: AdminPage,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    render_page(&PAGES[0], &signed_in.0, &state)
}

async fn page(
    signed_in: AdminPage,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let Some(page) = find_page(&path) else {
        return Err(Problem::not_found(format!(
            "the dashboard has no page {}",
            req.path()
        )));
    };
    render_page(page, &signed_in.0, &state)
}

/// The dashboard's frame (navigation, who is signed in, sign-out) around an
/// empty page that its script fills in.
fn render_page(
    page: &DashboardPage,
    signed_in: &DashboardSession,
    state: &AppState,
) -> Result<HttpResponse, Problem> {
    let navigation: Vec<_> = PAGES
        .iter()
        .map(|p| minijinja::context! { slug => p.slug, title => p.title })
        .collect();
    let body = render(
        "app.html",
        minijinja::context! {
            shop_name => state.settings.current().shop_name.as_str(),
            user => signed_in.session.user,
            csrf_token => signed_in.csrf_token(),
            page => page.slug,
            title => page.title,
            pages => navigation,
        },
    )?;
    Ok(html(StatusCode::OK, body))
}

/// A static file of the dashboard; templates are not served.
async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let name = file.into_inner();
    let (Some(content_type), Some(found)) = (static_type(&name), AdminFiles::get(&name)) else {
        let missing = Problem::not_found(format!("no dashboard file {name}"));
        return actix_web::ResponseError::error_response(&missing);
    };
    let etag = format!("\"{}\"", hex::encode(found.metadata.sha256_hash()));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        return response.finish();
    }
    response.content_type(content_type);
    match found.data {
        Cow::Borrowed(bytes) => response.body(bytes),
        Cow::Owned(bytes) => response.body(bytes),
    }
}

/// The content type of a file the dashboard may serve as is.
fn static_type(name: &str) -> Option<&'static str> {
    match name.rsplit_once('.')?.1 {
        "css" => Some("text/css; charset=utf-8"),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        "ico" => Some("image/x-icon"),
        "woff2" => Some("font/woff2"),
        _ => None,
    }
}

/// Renders template `name` from `assets/web/admin/`, escaping every value.
fn render(name: &str, context: minijinja::Value) -> Result<String, Problem> {
    let failed = |reason: String| {
        tracing::error!(template = name, %reason, "a dashboard page did not render");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page did not render; the error is in the server log",
        )
    };
    let file = AdminFiles::get(name).ok_or_else(|| failed("missing template".into()))?;
    let source = std::str::from_utf8(&file.data).map_err(|e| failed(e.to_string()))?;
    // `.html` names turn minijinja's HTML auto-escaping on.
    let environment = minijinja::Environment::new();
    environment
        .template_from_named_str(name, source)
        .and_then(|template| template.render(context))
        .map_err(|e| failed(e.to_string()))
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(body)
}

/// The address a sign-in came from: the peer's, which a client cannot forge
/// (a `Forwarded` header could name anyone).
fn cleared_cookie(req: &HttpRequest) -> String {
    cookie(req, "", 0)
}

fn cookie(req: &HttpRequest, value: &str, max_age_secs: u64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{ADMIN_COOKIE}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    )
}

fn set_cookie(response: &mut HttpResponse, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_not_served_as_files_and_pages_escape_values() {
        assert_eq!(static_type("login.html"), None);
        assert_eq!(static_type("admin.css"), Some("text/css; charset=utf-8"));
        assert_eq!(static_type("no-extension"), None);
        let page = render(
            "app.html",
            minijinja::context! {
                shop_name => "<script>alert(1)</script>",
                user => "a\"b",
                csrf_token => "00ff",
                page => "orders",
                title => "Orders",
                pages => vec![minijinja::context! { slug => "orders", title => "Orders" }],
            },
        )
        .unwrap();
        assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("a&quot;b") || page.contains("a&#34;b"),
            "{page}"
        );
        assert!(page.contains("value=\"00ff\""), "{page}");
        assert!(
            page.contains("href=\"/admin/orders\" aria-current=\"page\""),
            "{page}"
        );
    }

    #[test]
    fn a_page_is_found_by_its_first_segment_only() {
        assert_eq!(find_page("orders").map(|p| p.title), Some("Orders"));
        assert_eq!(find_page("orders/SK-1001").map(|p| p.slug), Some("orders"));
        assert!(find_page("order").is_none());
        assert!(find_page("").is_none());
        assert!(find_page("../orders").is_none());
    }

    #[test]
    fn the_login_page_has_a_labelled_form_and_says_when_no_password_is_set() {
        let page = render(
            "login.html",
            minijinja::context! { shop_name => "Shop", password_set => false, user => "" },
        )
        .unwrap();
        for needle in [
            "<label for=\"user\">",
            "<label for=\"password\">",
            "action=\"/admin/login\"",
            "shopkeep admin set-password",
            "/admin/assets/admin.css",
        ] {
            assert!(page.contains(needle), "{needle} missing from {page}");
        }
        let set = render(
            "login.html",
            minijinja::context! { shop_name => "Shop", password_set => true, user => "" },
        )
        .unwrap();
        assert!(!set.contains("set-password"));
    }
}
