//! The storefront and its chat component, embedded in the binary: `GET /` and
//! the storefront's other client-side routes answer the storefront page,
//! `GET /static/shop/…` and `GET /static/chat/…` its scripts, styles and
//! images, and `GET /api/v1/shop` what the page needs to know about the shop.
//!
//! Owns only `assets/web/shop/` and `assets/web/chat/`; it must not serve or
//! route the admin dashboard (`assets/web/admin/`, `/admin`), and it reads
//! the configuration without changing it.

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use rust_embed::{EmbeddedFile, RustEmbed};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::Problem;

#[derive(RustEmbed)]
#[folder = "assets/web/shop/"]
struct ShopFiles;

#[derive(RustEmbed)]
#[folder = "assets/web/chat/"]
struct ChatFiles;

const STOREFRONT_PAGE: &str = "shop/index.html";

/// The paths the storefront routes in the browser (History API); loading or
/// reloading one of them gets the storefront page, which then draws the view.
const STOREFRONT_ROUTES: &[&str] = &[
    "/",
    "/products/{handle}",
    "/checkout",
    "/orders",
    "/orders/{number}",
];

/// Scripts, styles and data only from this server and no inline script, so a
/// catalog value that slipped into the page as markup still could not run.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: https:; connect-src 'self'; media-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Asset URLs carry no version, so browsers revalidate every time (a cheap
/// 304 by `ETag`) and never run a stale script after an upgrade.
const CACHE_POLICY: &str = "no-cache";

/// Registers the storefront routes and `/api/v1/shop`; must come before the
/// `/api/v1` scope, which would otherwise answer that path with a 404.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in STOREFRONT_ROUTES {
        cfg.route(path, web::get().to(storefront));
    }
    // Only these two folders: other `/static/…` paths stay free for other modules.
    cfg.route(
        "/static/{path:(?:shop|chat)/.*}",
        web::get().to(static_file),
    )
    .route("/api/v1/shop", web::get().to(shop));
}

/// The storefront page, whatever client-side route was asked for.
async fn storefront(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let file = embedded(STOREFRONT_PAGE)
        .ok_or_else(|| Problem::unavailable("the storefront is missing from this build", 60))?;
    Ok(file_response(&req, STOREFRONT_PAGE, file))
}

async fn static_file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let path = path.into_inner();
    let file =
        embedded(&path).ok_or_else(|| Problem::not_found(format!("there is no file {path}")))?;
    Ok(file_response(&req, &path, file))
}

/// The embedded file at `path` (`shop/app.js`, `chat/chat.js`), if it is one.
fn embedded(path: &str) -> Option<EmbeddedFile> {
    if !is_plain_relative(path) {
        return None;
    }
    let (folder, rest) = path.split_once('/')?;
    match folder {
        "shop" => ShopFiles::get(rest),
        "chat" => ChatFiles::get(rest),
        _ => None,
    }
}

/// A path of plain names only: debug builds read the folders from disk, so
/// `..`, empty segments, backslashes and drive letters must never reach them.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.contains(['\\', '\0', ':'])
        })
}

fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A validator from the file's content hash. Weak, because the compression
/// middleware may send the same file gzipped: equal content, other bytes.
fn entity_tag(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    format!("W/\"{}\"", hex::encode(&hash[..16]))
}

/// Whether the client's `If-None-Match` already names this version (weak comparison).
fn client_has(req: &HttpRequest, etag: &str) -> bool {
    let ours = opaque_tag(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || opaque_tag(tag) == ours)
}

/// The quoted part of an entity tag, without the weak marker.
fn opaque_tag(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

fn file_response(req: &HttpRequest, path: &str, file: EmbeddedFile) -> HttpResponse {
    let etag = entity_tag(&file);
    let not_modified = client_has(req, &etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, CACHE_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if path.ends_with(".html") {
        page_headers(&mut response);
    }
    if not_modified {
        return response.finish();
    }
    response.content_type(content_type(path));
    match file.data {
        Cow::Borrowed(bytes) => response.body(bytes),
        Cow::Owned(bytes) => response.body(bytes),
    }
}

fn page_headers(response: &mut HttpResponseBuilder) {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
}

/// What the storefront shows about the shop and needs for its forms.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShopInfo {
    pub name: String,
    /// ISO 4217 code; prices are decimal strings in it.
    pub currency: &'static str,
    /// Digits after the decimal point (2 for USD, 0 for JPY).
    pub currency_exponent: u32,
    pub tax_rate_percent: f64,
    /// True when prices already include tax.
    pub tax_inclusive: bool,
    /// Most units of one product a cart line may hold.
    pub max_line_quantity: i64,
    /// The ways to pay a checkout may name in `payment_method`.
    pub payment_methods: Vec<PaymentMethod>,
    /// The shop's colours and logo, from its settings.
    pub brand: BrandInfo,
}

/// The storefront's palette and logo.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandInfo {
    /// `#rrggbb` behind white text: header, buttons, links.
    pub primary: String,
    /// `#rrggbb` behind dark text: highlights.
    pub accent: String,
    /// Where the logo is (a new logo gets a new URL), or null for none.
    pub logo_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethod {
    pub id: &'static str,
    pub description: &'static str,
}

/// The shop's name, currency, tax, ways to pay, colours and logo, for the storefront.
#[utoipa::path(get, path = "/api/v1/shop", tag = "catalog",
    responses((status = 200, body = ShopInfo)))]
pub async fn shop(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(shop_info(&state))
}

fn shop_info(state: &AppState) -> ShopInfo {
    let settings = state.settings.current();
    let commerce = &state.config.commerce;
    let payment_methods = state
        .payments
        .ids()
        .into_iter()
        .filter_map(|id| state.payments.get(id))
        .map(|provider| PaymentMethod {
            id: provider.id(),
            description: provider.description(),
        })
        .collect();
    ShopInfo {
        name: settings.shop_name.as_str().to_string(),
        currency: state.config.currency.code(),
        currency_exponent: state.config.currency.exponent(),
        tax_rate_percent: f64::from(settings.tax_rate_basis_points) / 100.0,
        tax_inclusive: settings.tax_inclusive,
        max_line_quantity: commerce.max_line_quantity,
        payment_methods,
        brand: BrandInfo {
            primary: settings.brand_primary.to_string(),
            accent: settings.brand_accent.to_string(),
            logo_url: settings.logo.as_ref().map(|logo| logo.url()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_plain_relative_paths_reach_the_folders() {
        for good in ["shop/app.js", "chat/chat.css", "shop/img/logo.svg"] {
            assert!(is_plain_relative(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "shop/../../Cargo.toml",
            "shop/./app.js",
            "shop//app.js",
            "shop/..\\Cargo.toml",
            "shop/C:/x",
            "shop/a\0b",
            "shop/",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
            assert!(embedded(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_storefront_and_chat_files_are_embedded_and_the_admin_folder_is_not_served() {
        for path in [
            STOREFRONT_PAGE,
            "shop/app.js",
            "chat/chat.js",
            "chat/chat.css",
        ] {
            assert!(embedded(path).is_some(), "{path}");
        }
        assert!(embedded("admin/index.html").is_none());
        assert!(embedded("shop/no-such-file.js").is_none());
    }

    #[test]
    fn modules_and_styles_get_the_types_browsers_insist_on() {
        assert_eq!(
            content_type("shop/app.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("chat/chat.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("shop/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("shop/icon.svg"), "image/svg+xml");
        assert_eq!(content_type("shop/LICENSE"), "application/octet-stream");
    }

    #[test]
    fn a_known_entity_tag_in_any_form_means_not_modified() {
        let etag = "W/\"abc\"";
        let asks = |value: &str| {
            let req = TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request();
            client_has(&req, etag)
        };
        assert!(asks("\"abc\""));
        assert!(asks("\"old\", W/\"abc\""));
        assert!(asks("W/\"abc\""));
        assert!(asks("*"));
        assert!(!asks("\"abd\""));
        assert!(!client_has(&TestRequest::default().to_http_request(), etag));
    }

    #[test]
    fn the_entity_tag_follows_the_content() {
        let page = embedded(STOREFRONT_PAGE).expect("page");
        let script = embedded("shop/app.js").expect("script");
        assert_ne!(entity_tag(&page), entity_tag(&script));
        assert_eq!(
            entity_tag(&page),
            entity_tag(&embedded(STOREFRONT_PAGE).expect("page"))
        );
    }
}
