//! Search routes: full product search with filters and facets, and type-ahead.
//!
//! Parses and bounds every parameter at the edge (a 10 kB query or a bad price
//! is a 400 naming the field), then hands a `SearchRequest` to `search`. For a
//! signed-in shopper it adds their strong learned preferences (from
//! `commerce::profile`) as personal boosts, unless `personalize=false`.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::problem::Problem;
use super::shopper::CurrentShopper;
use crate::commerce::profile;
use crate::search::fusion::Fusion;
use crate::search::query::{Boosts, Filters};
use crate::search::{SearchRequest, SearchResults, Sort, Suggestion};

const MAX_QUERY_CHARS: usize = 512;
const MAX_OFFSET: usize = 10_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/search").route(web::get().to(search)))
        .service(web::resource("/search/suggest").route(web::get().to(suggest)));
}

/// Query parameters of `GET /api/v1/search` (documentation; parsing is by hand for field errors).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchParams {
    /// What the shopper typed; empty browses with filters only. At most 512 characters.
    q: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<usize>,
    /// 0 to 10000.
    offset: Option<usize>,
    /// 0 = keyword only, 1 = meaning only; default tuned on the judged sets.
    alpha: Option<f32>,
    /// `relative` (default) or `rrf` (reciprocal-rank fusion).
    fusion: Option<String>,
    /// A category path; sub-categories included.
    category: Option<String>,
    brand: Option<String>,
    /// Decimal, in the shop currency.
    min_price: Option<String>,
    max_price: Option<String>,
    in_stock: Option<bool>,
    /// Comma-separated; all must match.
    tags: Option<String>,
    /// Comma-separated dietary labels; all must match.
    dietary: Option<String>,
    /// `relevance` (default), `price_asc`, `price_desc` or `newest`.
    sort: Option<String>,
    /// `false` skips facet counting (faster when no facets are shown).
    facets: Option<bool>,
    /// Comma-separated brands to lift in the ranking.
    prefer_brand: Option<String>,
    prefer_dietary: Option<String>,
    prefer_category: Option<String>,
    /// `false` turns off the signed-in shopper's personal boosts (on by default).
    personalize: Option<bool>,
}

const KNOWN: &[&str] = &[
    "q",
    "limit",
    "offset",
    "alpha",
    "fusion",
    "category",
    "brand",
    "min_price",
    "max_price",
    "in_stock",
    "tags",
    "dietary",
    "sort",
    "facets",
    "prefer_brand",
    "prefer_dietary",
    "prefer_category",
    "personalize",
];

/// Search products by words and meaning, with filters, facets and sorting.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let (mut request, personalize) = parse_request(params.into_inner(), &state.config.currency)?;
    let customer_id = if personalize {
        signed_in_customer(&req).await
    } else {
        None
    };
    let service = state.search.clone();
    let store = state.store.clone();
    let results = web::block(move || {
        if let Some(customer_id) = customer_id {
            request.affinities =
                profile::search_affinities(&store, customer_id, OffsetDateTime::now_utc());
        }
        service.search(&request)
    })
    .await?
    .map_err(search_problem)?;
    Ok(HttpResponse::Ok().json(results))
}

/// The signed-in customer behind the request, if any. Only a request that
/// already carries a session is looked at, so searching never starts one.
async fn signed_in_customer(req: &HttpRequest) -> Option<i64> {
    let has_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(';')
                .any(|c| c.trim().starts_with("shopkeep_session="))
        });
    if !has_cookie && !req.headers().contains_key("x-session-id") {
        return None;
    }
    let shopper = CurrentShopper::extract(req).await.ok()?;
    shopper.0.customer_id
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
}

/// Type-ahead: product names matching the words typed so far (keyword only).
#[utoipa::path(get, path = "/api/v1/search/suggest", tag = "search",
    params(("q" = String, Query, description = "text typed so far, at most 512 characters")),
    responses((status = 200, body = Suggestions), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn suggest(
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let mut params = params.into_inner();
    let text = query_text(params.remove("q").unwrap_or_default())?;
    if let Some(unknown) = params.keys().next() {
        return Err(Problem::invalid_field(
            unknown,
            "is not a parameter of this route (q)",
        ));
    }
    let service = state.search.clone();
    let suggestions = web::block(move || service.suggest(&text, 8))
        .await?
        .map_err(search_problem)?;
    Ok(HttpResponse::Ok().json(Suggestions { suggestions }))
}

fn search_problem(err: crate::search::SearchError) -> Problem {
    tracing::error!(error = %err, "search failed");
    Problem::unavailable(
        "search is unavailable right now; the error is in the server log",
        2,
    )
}

/// Bounds the text and turns control characters into spaces.
fn query_text(text: String) -> Result<String, Problem> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::invalid_field(
            "q",
            format!("is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect())
}

/// The search request, and whether personal boosts are wanted.
fn parse_request(
    mut raw: BTreeMap<String, String>,
    currency: &crate::catalog::Currency,
) -> Result<(SearchRequest, bool), Problem> {
    if let Some(unknown) = raw.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::invalid_field(unknown, "is not a search parameter"));
    }
    let mut take = |key: &str| {
        raw.remove(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |key: &str, value: Option<String>, max: usize| -> Result<Option<usize>, Problem> {
        value
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| {
                        Problem::invalid_field(key, format!("must be a whole number up to {max}"))
                    })
            })
            .transpose()
    };
    let price = |key: &str, value: Option<String>| -> Result<Option<u64>, Problem> {
        value
            .map(|v| {
                currency
                    .parse_amount(&v)
                    .map(|m| m.minor() as u64)
                    .map_err(|e| Problem::invalid_field(key, e.to_string()))
            })
            .transpose()
    };
    let list = |value: Option<String>| -> Vec<String> {
        value
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut request = SearchRequest::new(&query_text(take("q").unwrap_or_default())?);
    request.limit = number("limit", take("limit"), 100)?.unwrap_or(20);
    if request.limit == 0 {
        return Err(Problem::invalid_field(
            "limit",
            "must be a whole number from 1 to 100",
        ));
    }
    request.offset = number("offset", take("offset"), MAX_OFFSET)?.unwrap_or(0);
    request.alpha = take("alpha")
        .map(|v| {
            v.parse::<f32>()
                .ok()
                .filter(|a| (0.0..=1.0).contains(a))
                .ok_or_else(|| Problem::invalid_field("alpha", "must be a number from 0 to 1"))
        })
        .transpose()?;
    request.fusion = match take("fusion").as_deref() {
        None | Some("relative") => Fusion::RelativeScore,
        Some("rrf") => Fusion::ReciprocalRank,
        Some(_) => return Err(Problem::invalid_field("fusion", "must be relative or rrf")),
    };
    request.sort = match take("sort").as_deref() {
        None | Some("relevance") => Sort::Relevance,
        Some("price_asc") => Sort::PriceAsc,
        Some("price_desc") => Sort::PriceDesc,
        Some("newest") => Sort::Newest,
        Some(_) => {
            return Err(Problem::invalid_field(
                "sort",
                "must be relevance, price_asc, price_desc or newest",
            ));
        }
    };
    let flag = |key: &str, value: Option<String>, default: bool| match value.as_deref() {
        None => Ok(default),
        Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(Problem::invalid_field(key, "must be true or false")),
    };
    let in_stock = flag("in_stock", take("in_stock"), false)?;
    request.facets = flag("facets", take("facets"), true)?;
    let personalize = flag("personalize", take("personalize"), true)?;
    request.filters = Filters {
        category: take("category"),
        brand: take("brand"),
        min_price: price("min_price", take("min_price"))?,
        max_price: price("max_price", take("max_price"))?,
        in_stock,
        tags: list(take("tags")),
        dietary: list(take("dietary")),
    };
    if let (Some(min), Some(max)) = (request.filters.min_price, request.filters.max_price)
        && min > max
    {
        return Err(Problem::invalid_field(
            "min_price",
            "must not be above max_price",
        ));
    }
    request.boosts = Boosts {
        brands: list(take("prefer_brand")),
        dietary: list(take("prefer_dietary")),
        categories: list(take("prefer_category")),
    };
    Ok((request, personalize))
}
