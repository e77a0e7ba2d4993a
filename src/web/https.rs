//! HTTPS-only serving when the shop has a domain: on the plain HTTP listeners,
//! ACME HTTP-01 challenge answers, the health probes (install.sh and
//! monitors poll them on loopback) and a redirect to HTTPS for everything
//! else; on the HTTPS listener, HSTS.
//!
//! Without a domain (plain HTTP behind a proxy) it lets every request through
//! untouched. The certificate itself is `crate::tls`'s business.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;

/// Browsers go straight to HTTPS for a year after seeing this.
const HSTS: &str = "max-age=31536000";
const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
/// Answered over plain HTTP too: they hold nothing HTTPS must protect, and
/// probes that predate the domain keep working.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

pub async fn https_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(tls) = state.as_ref().and_then(|s| s.tls.as_ref()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    // The listener's own flag: a client's X-Forwarded-Proto cannot claim HTTPS.
    if req.app_config().secure() {
        let mut response = next.call(req).await?;
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
        return Ok(response.map_into_left_body());
    }
    if PROBES.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let response = match req.path().strip_prefix(CHALLENGE_PREFIX) {
        Some(token) => match tls.challenges().answer(token) {
            Some(key_authorization) => HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(key_authorization),
            None => HttpResponse::NotFound().finish(),
        },
        None => {
            let https_port = state.as_ref().map_or(443, |s| s.config.tls.https_port);
            let target = https_url(tls.domain(), https_port, req.uri());
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, target))
                .finish()
        }
    };
    Ok(req.into_response(response).map_into_right_body())
}

/// The same path and query on the shop's HTTPS address (the port only when not 443).
fn https_url(domain: &str, port: u16, uri: &actix_web::http::Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if port == 443 {
        format!("https://{domain}{path}")
    } else {
        format!("https://{domain}:{port}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_path_and_query() {
        let uri: actix_web::http::Uri = "/products/tea?size=2&q=%C3%A9".parse().unwrap();
        assert_eq!(
            https_url("shop.example.com", 443, &uri),
            "https://shop.example.com/products/tea?size=2&q=%C3%A9"
        );
        assert_eq!(
            https_url("shop.example.com", 8443, &"/".parse().unwrap()),
            "https://shop.example.com:8443/"
        );
    }
}
