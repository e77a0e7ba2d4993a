//! The HTTP surface's defences that apply across routes: who the client is
//! (the peer address, or `X-Forwarded-For` from a trusted proxy), per-address
//! request budgets on sign-in, chat and checkout (429 with `Retry-After`),
//! and the security headers every response carries.
//!
//! Owns the choice of which requests spend which budget and the default
//! headers; the budget arithmetic lives in `crate::ops::ratelimit`. It must
//! not decide who is signed in, nor override a policy a route set for itself
//! (the storefront's and dashboard's pages, the sandboxed logo).

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use super::AppState;
use super::problem::Problem;
use crate::config::{LimitSettings, ProxyRange};
use crate::ops::ratelimit::{Decision, RateLimiter, retry_after_secs};

/// What a response without a policy of its own may load: only this server,
/// no inline script or style, no plugins, and it may not be framed.
const DEFAULT_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Headers set on every response that does not set them itself.
const DEFAULT_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", DEFAULT_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    // For browsers that predate `frame-ancestors`.
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// A per-address request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Dashboard sign-in.
    Login,
    /// Shopper sign-in and registration.
    Account,
    Chat,
    Checkout,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Login => "login",
            Budget::Account => "account",
            Budget::Chat => "chat",
            Budget::Checkout => "checkout",
        }
    }

    /// The budget a request spends, if any: only the POSTs that do the work
    /// (a CORS preflight or a page load costs nothing).
    pub fn of(method: &Method, path: &str) -> Option<Budget> {
        if method != Method::POST {
            return None;
        }
        match path.trim_end_matches('/') {
            "/admin/login" => Some(Budget::Login),
            "/api/v1/account/login" | "/api/v1/account/register" => Some(Budget::Account),
            "/api/v1/chat" => Some(Budget::Chat),
            "/api/v1/checkout" => Some(Budget::Checkout),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Budget::Login => "sign-in attempts",
            Budget::Account => "sign-ins and registrations",
            Budget::Chat => "messages to the assistant",
            Budget::Checkout => "checkouts",
        }
    }
}

/// The budgets of every address, for the life of the process.
pub struct RateLimits {
    login: RateLimiter,
    account: RateLimiter,
    chat: RateLimiter,
    checkout: RateLimiter,
}

impl RateLimits {
    pub fn new(settings: &LimitSettings) -> RateLimits {
        RateLimits {
            login: RateLimiter::per_minute(settings.login_per_minute),
            account: RateLimiter::per_minute(settings.account_per_minute),
            chat: RateLimiter::per_minute(settings.chat_per_minute),
            checkout: RateLimiter::per_minute(settings.checkout_per_minute),
        }
    }

    fn limiter(&self, budget: Budget) -> &RateLimiter {
        match budget {
            Budget::Login => &self.login,
            Budget::Account => &self.account,
            Budget::Chat => &self.chat,
            Budget::Checkout => &self.checkout,
        }
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` that is not itself a trusted
/// proxy (the left-most entries are whatever the client chose to send).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ProxyRange],
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    let mut client = peer?;
    if !is_trusted(client) {
        return Some(client);
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in forwarded.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// The client address of a request as the log and the lockouts name it.
pub fn client_address(req: &actix_web::HttpRequest, trusted: &[ProxyRange]) -> String {
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// Refuses a request over its address's budget with 429 and `Retry-After`.
pub async fn limit_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = Budget::of(req.method(), req.path()).and_then(|budget| {
        let state = req.app_data::<web::Data<AppState>>()?;
        let ip = client_ip(
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
            &state.config.trusted_proxies,
        )?;
        match state.limits.limiter(budget).check(ip, Instant::now()) {
            Decision::Allowed => None,
            Decision::Limited { retry_after } => {
                state.metrics.count_rate_limited(budget.as_str());
                tracing::warn!(budget = budget.as_str(), client = %ip, "rate limited");
                Some(too_many(budget, retry_after_secs(retry_after)))
            }
        }
    });
    match refusal {
        Some(response) => Ok(req.into_response(response).map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

fn too_many(budget: Budget, retry_after_secs: u64) -> HttpResponse {
    Problem::too_many_requests(
        format!(
            "too many {} from your address; try again in {retry_after_secs} seconds",
            budget.describe()
        ),
        retry_after_secs,
    )
    .with_kind("/problems/rate-limited")
    .error_response()
}

/// Adds the default security headers to every response that lacks them.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    for (name, value) in DEFAULT_HEADERS {
        if !headers.contains_key(*name) {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in forwarded {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<ProxyRange> {
        vec![
            ProxyRange::parse("127.0.0.1").unwrap(),
            ProxyRange::parse("10.0.0.0/8").unwrap(),
        ]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let client = client_ip(Some(ip("203.0.113.9")), &headers(&["1.2.3.4"]), &trusted());
        assert_eq!(client, Some(ip("203.0.113.9")));
        let no_proxies = client_ip(Some(ip("127.0.0.1")), &headers(&["1.2.3.4"]), &[]);
        assert_eq!(no_proxies, Some(ip("127.0.0.1")));
    }

    #[test]
    fn a_trusted_proxy_names_the_nearest_untrusted_hop() {
        // The client forged the first entry; the proxies appended the rest.
        let forwarded = headers(&["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        let client = client_ip(Some(ip("127.0.0.1")), &forwarded, &trusted());
        assert_eq!(client, Some(ip("198.51.100.7")));
    }

    #[test]
    fn a_garbled_hop_stops_the_walk_at_the_last_trusted_one() {
        let forwarded = headers(&["198.51.100.7, unknown"]);
        let client = client_ip(Some(ip("127.0.0.1")), &forwarded, &trusted());
        assert_eq!(client, Some(ip("127.0.0.1")));
    }

    #[test]
    fn only_the_working_posts_spend_a_budget() {
        assert_eq!(
            Budget::of(&Method::POST, "/admin/login"),
            Some(Budget::Login)
        );
        assert_eq!(
            Budget::of(&Method::POST, "/api/v1/account/register"),
            Some(Budget::Account)
        );
        assert_eq!(
            Budget::of(&Method::POST, "/api/v1/chat"),
            Some(Budget::Chat)
        );
        assert_eq!(
            Budget::of(&Method::POST, "/api/v1/checkout/"),
            Some(Budget::Checkout)
        );
        assert_eq!(Budget::of(&Method::GET, "/admin/login"), None);
        assert_eq!(Budget::of(&Method::OPTIONS, "/api/v1/chat"), None);
        assert_eq!(Budget::of(&Method::POST, "/api/v1/cart/items"), None);
    }
}
