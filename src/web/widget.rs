//! The embeddable chat widget: `GET /widget.js`, and the CORS check that lets
//! pages on the allowlisted origins (the shop's settings) call the routes the
//! widget needs.
//!
//! Credentials: the widget does not use cookies across sites. A cookie would
//! need `SameSite=None; Secure` (so no plain-http shop, and browsers that
//! block third-party cookies would break it anyway) and would let any
//! allowlisted page act with the shopper's storefront session. Instead the
//! widget keeps its own guest session token in the host page's localStorage
//! and sends it as `X-Session-Id`; responses expose that header and never say
//! `Access-Control-Allow-Credentials`, so a credentialed cross-site read is
//! refused by the browser.
//!
//! Owns `assets/web/widget/` and the CORS headers of the widget's routes; it
//! must not decide who is an admin or touch the storefront's own pages.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

use super::AppState;
use super::problem::Problem;

#[derive(RustEmbed)]
#[folder = "assets/web/widget/"]
struct WidgetFiles;

/// Path prefixes of what the widget loads and calls from another site.
const WIDGET_PATHS: &[&str] = &[
    "/api/v1/chat",
    "/api/v1/conversations/",
    "/api/v1/cart",
    "/api/v1/search",
    "/api/v1/products",
    "/api/v1/shop",
    "/static/chat/",
    "/media/",
];
const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE";
const ALLOWED_HEADERS: &str = "content-type, accept, x-session-id, idempotency-key, last-event-id";
/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/widget.js", web::get().to(widget_script));
}

/// The loader a foreign page includes with one `<script>` tag.
async fn widget_script(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let file = WidgetFiles::get("widget.js")
        .ok_or_else(|| Problem::unavailable("the widget is missing from this build", 60))?;
    let etag = format!("W/\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        // Short, so a shop's upgrade reaches every embedding page within minutes.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("cross-origin-resource-policy", "cross-origin"));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response
        .content_type("text/javascript; charset=utf-8")
        .body(file.data.into_owned()))
}

/// Whether the widget may use `path` from another site.
fn is_widget_path(path: &str) -> bool {
    WIDGET_PATHS.iter().any(|prefix| path.starts_with(prefix))
}

/// How a request with an `Origin` relates to this shop.
#[derive(Debug, PartialEq, Eq)]
enum Caller {
    /// No `Origin`, or this shop's own pages.
    SameSite,
    /// A page on an origin of the allowlist.
    Allowed(String),
    /// Any other page.
    Refused,
}

fn caller(req: &ServiceRequest, state: Option<&AppState>) -> Caller {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return Caller::SameSite;
    };
    // The browser's own word (a page script cannot set it), else the host:
    // behind a proxy that rewrites Host the header still says same-origin.
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    let host = req.connection_info().host().to_ascii_lowercase();
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest.to_ascii_lowercase());
    if fetch_site == Some("same-origin") || authority.as_deref() == Some(host.as_str()) {
        return Caller::SameSite;
    }
    match state {
        Some(state) if state.settings.current().allows_origin(origin) => {
            Caller::Allowed(origin.to_string())
        }
        _ => Caller::Refused,
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// CORS for the widget's routes: allowlisted origins get
/// `Access-Control-Allow-Origin` (their own, exactly) and preflight answers;
/// others get no CORS header, and their state-changing requests and
/// preflights a 403 problem.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !is_widget_path(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let caller = caller(&req, state.as_ref().map(|s| s.get_ref()));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match caller {
        Caller::Refused if preflight || changes_state(req.method()) => {
            let problem = Problem::new(
                StatusCode::FORBIDDEN,
                "this site may not use the shop's chat: its origin is not on the shop's widget allowlist",
            )
            .with_kind("/problems/origin-not-allowed");
            let mut response = req.error_response(problem);
            vary_on_origin(response.headers_mut());
            Ok(response.map_into_right_body())
        }
        Caller::Allowed(origin) if preflight => {
            let mut response = HttpResponse::NoContent().finish();
            let headers = response.headers_mut();
            allow(headers, &origin);
            for (name, value) in [
                (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
                (header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE),
            ] {
                headers.insert(name, HeaderValue::from_static(value));
            }
            Ok(req.into_response(response).map_into_right_body())
        }
        caller => {
            let mut response = next.call(req).await?;
            let headers = response.headers_mut();
            vary_on_origin(headers);
            if let Caller::Allowed(origin) = caller {
                allow(headers, &origin);
            }
            Ok(response.map_into_left_body())
        }
    }
}

fn allow(headers: &mut header::HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-session-id"),
    );
    vary_on_origin(headers);
}

/// The answer depends on `Origin`, so caches must keep one per origin.
fn vary_on_origin(headers: &mut header::HeaderMap) {
    let already = headers
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("origin"));
    if !already {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_widget_paths_are_the_chat_cart_search_and_its_files() {
        for path in [
            "/api/v1/chat",
            "/api/v1/cart/items",
            "/api/v1/search?q=x",
            "/api/v1/conversations/abc/events",
            "/static/chat/chat.js",
        ] {
            assert!(is_widget_path(path), "{path}");
        }
        for path in [
            "/api/v1/admin/settings",
            "/api/v1/orders",
            "/admin",
            "/static/shop/app.js",
        ] {
            assert!(!is_widget_path(path), "{path}");
        }
    }

    #[test]
    fn same_site_requests_are_recognised_by_host_or_fetch_metadata() {
        let no_origin = TestRequest::default().to_srv_request();
        assert_eq!(caller(&no_origin, None), Caller::SameSite);
        let own = TestRequest::default()
            .insert_header((header::HOST, "shop.example:8080"))
            .insert_header((header::ORIGIN, "https://shop.example:8080"))
            .to_srv_request();
        assert_eq!(caller(&own, None), Caller::SameSite);
        let proxied = TestRequest::default()
            .insert_header((header::HOST, "127.0.0.1:8080"))
            .insert_header((header::ORIGIN, "https://shop.example"))
            .insert_header(("sec-fetch-site", "same-origin"))
            .to_srv_request();
        assert_eq!(caller(&proxied, None), Caller::SameSite);
        let foreign = TestRequest::default()
            .insert_header((header::HOST, "shop.example"))
            .insert_header((header::ORIGIN, "https://evil.example"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_srv_request();
        assert_eq!(caller(&foreign, None), Caller::Refused);
    }

    #[test]
    fn vary_is_added_once() {
        let mut headers = header::HeaderMap::new();
        vary_on_origin(&mut headers);
        vary_on_origin(&mut headers);
        assert_eq!(headers.get_all(header::VARY).count(), 1);
    }
}
