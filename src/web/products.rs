//! Catalog routes: list, fetch, create, replace, patch and delete products.
//!
//! Converts HTTP input into `ProductInput`, lets `catalog` validate it and
//! `store` persist it (off the executor), and renders `ProductView`s.

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::json::parse_body;
use super::problem::Problem;
use crate::catalog::{Currency, ProductDraft, ProductInput};
use crate::store::products::{self, ListQuery, Product, ProductFilter, StockFilter};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(fetch))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/admin/products").route(web::get().to(admin_list)))
    .service(web::resource("/admin/products/{id}").route(web::get().to(admin_fetch)));
}

/// A product as the API shows it; prices as decimal strings and in minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub handle: String,
    pub sku: Option<String>,
    pub name: String,
    pub description: String,
    pub brand: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub dietary: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// Decimal in major units, e.g. "4.99".
    pub price: String,
    pub price_minor: i64,
    pub compare_at_price: Option<String>,
    pub currency: String,
    /// `null` when inventory is not tracked.
    pub stock: Option<i64>,
    pub in_stock: bool,
    pub images: Vec<String>,
    pub active: bool,
    pub variants: Vec<VariantView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    pub id: i64,
    pub sku: Option<String>,
    pub title: String,
    pub options: BTreeMap<String, String>,
    pub price: String,
    pub price_minor: i64,
    pub compare_at_price: Option<String>,
    pub stock: Option<i64>,
    pub in_stock: bool,
    pub image: Option<String>,
}

impl ProductView {
    pub fn new(product: &Product, currency: &Currency) -> ProductView {
        let d = &product.draft;
        ProductView {
            id: product.id,
            handle: d.handle().into(),
            sku: d.sku().map(Into::into),
            name: d.name().into(),
            description: d.description().into(),
            brand: d.brand().map(Into::into),
            category: d.category().into(),
            tags: d.tags().to_vec(),
            dietary: d.dietary().to_vec(),
            attributes: d.attributes().clone(),
            price: currency.format_plain(d.price()),
            price_minor: d.price().minor(),
            compare_at_price: d.compare_at_price().map(|m| currency.format_plain(m)),
            currency: currency.code().into(),
            stock: d.stock(),
            in_stock: d.in_stock(),
            images: d.images().to_vec(),
            active: d.active(),
            variants: d
                .variants()
                .iter()
                .zip(&product.variant_ids)
                .map(|(v, id)| VariantView {
                    id: *id,
                    sku: v.sku().map(Into::into),
                    title: v.title().into(),
                    options: v.options().clone(),
                    price: currency.format_plain(v.price()),
                    price_minor: v.price().minor(),
                    compare_at_price: v.compare_at_price().map(|m| currency.format_plain(m)),
                    stock: v.stock(),
                    in_stock: v.in_stock(),
                    image: v.image().map(Into::into),
                })
                .collect(),
            created_at: product.created_at.clone(),
            updated_at: product.updated_at.clone(),
        }
    }
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 20).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// A category path; its sub-categories are included.
    category: Option<String>,
    /// Case-insensitive text in the name, brand, SKU or tags.
    q: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// List active products, a page at a time.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog", params(ListParams),
    responses((status = 200, body = ProductPage), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, Problem> {
    let params = list_params(params.into_inner())?;
    let window = page_window(params.limit.as_deref(), params.cursor.as_deref())?;
    let query = ListQuery {
        category: params
            .category
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
        text: trimmed(params.q),
        ..window.query(false)
    };
    let store = state.store.clone();
    let found = web::block(move || store.read(|c| products::list(c, &query))).await??;
    let (items, next_cursor) = window.page(found, &state.config.currency);
    Ok(HttpResponse::Ok().json(ProductPage { items, next_cursor }))
}

/// The page size and where a page starts, from `limit` and `cursor`.
struct PageWindow {
    limit: usize,
    after_id: Option<i64>,
}

impl PageWindow {
    /// A query for one more product than the page holds, to tell whether another page follows.
    fn query(&self, include_inactive: bool) -> ListQuery {
        ListQuery {
            after_id: self.after_id,
            limit: self.limit + 1,
            include_inactive,
            ..Default::default()
        }
    }

    /// The page's products as views, and the cursor of the next page.
    fn page(
        &self,
        mut found: Vec<Product>,
        currency: &Currency,
    ) -> (Vec<ProductView>, Option<String>) {
        let next_cursor = (found.len() > self.limit).then(|| {
            found.truncate(self.limit);
            encode_cursor(found[self.limit - 1].id)
        });
        let items = found
            .iter()
            .map(|p| ProductView::new(p, currency))
            .collect();
        (items, next_cursor)
    }
}

fn page_window(limit: Option<&str>, cursor: Option<&str>) -> Result<PageWindow, Problem> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Problem::invalid_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after_id = cursor
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                Problem::invalid_field("cursor", "is not a cursor this API returned")
            })
        })
        .transpose()?;
    Ok(PageWindow { limit, after_id })
}

fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminListParams {
    /// Page size, 1 to 100 (default 20).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Case-insensitive text in the name, brand, SKU (also a variant's) or tags.
    q: Option<String>,
    /// `in` (untracked or on hand), `out` (none on hand) or `low` (at or below
    /// the shop's low-stock threshold, the product or one of its variants).
    stock: Option<String>,
    /// `true` for published products only, `false` for unpublished only; both when absent.
    published: Option<String>,
}

/// A page of the dashboard's product list, with how many match in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminProductPage {
    pub items: Vec<ProductView>,
    pub next_cursor: Option<String>,
    /// Products matching the filters, on every page.
    pub total: i64,
    /// Units at or below which stock counts as low.
    pub low_stock_threshold: i64,
}

/// List products, published or not, with stock and publication filters (admin).
#[utoipa::path(get, path = "/api/v1/admin/products", tag = "admin", params(AdminListParams),
    security(("admin_key" = [])),
    responses((status = 200, body = AdminProductPage), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn admin_list(
    _admin: Admin,
    state: web::Data<AppState>,
    params: web::Query<AdminListParams>,
) -> Result<HttpResponse, Problem> {
    let params = params.into_inner();
    let window = page_window(params.limit.as_deref(), params.cursor.as_deref())?;
    let threshold = state.config.commerce.low_stock_threshold;
    let filter = ProductFilter {
        stock: trimmed(params.stock)
            .map(|s| stock_filter(&s))
            .transpose()?,
        published: trimmed(params.published)
            .map(|p| match p.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Problem::invalid_field("published", "must be true or false")),
            })
            .transpose()?,
        low_stock_threshold: threshold,
    };
    let query = ListQuery {
        text: trimmed(params.q),
        ..window.query(true)
    };
    let store = state.store.clone();
    let (found, total) = web::block(move || {
        store.read(|c| {
            let found = products::list_filtered(c, &query, &filter)?;
            Ok((found, products::count_filtered(c, &query, &filter)?))
        })
    })
    .await??;
    let (items, next_cursor) = window.page(found, &state.config.currency);
    Ok(HttpResponse::Ok().json(AdminProductPage {
        items,
        next_cursor,
        total,
        low_stock_threshold: threshold,
    }))
}

fn stock_filter(text: &str) -> Result<StockFilter, Problem> {
    match text {
        "in" => Ok(StockFilter::InStock),
        "out" => Ok(StockFilter::OutOfStock),
        "low" => Ok(StockFilter::Low),
        _ => Err(Problem::invalid_field("stock", "must be in, out or low")),
    }
}

/// Fetch one product by id or handle, published or not (admin).
#[utoipa::path(get, path = "/api/v1/admin/products/{id}", tag = "admin",
    params(("id" = String, Path, description = "numeric id or handle")), security(("admin_key" = [])),
    responses((status = 200, body = ProductView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn admin_fetch(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let product = find(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProductView::new(&product, &state.config.currency)))
}

/// Unknown query parameters are refused so a typo ("catgory") is not silently ignored.
fn list_params(mut raw: BTreeMap<String, String>) -> Result<ListParams, Problem> {
    let params = ListParams {
        limit: raw.remove("limit"),
        cursor: raw.remove("cursor"),
        category: raw.remove("category"),
        q: raw.remove("q"),
    };
    if let Some(unknown) = raw.keys().next() {
        return Err(Problem::invalid_field(
            unknown,
            "is not a parameter of this route (limit, cursor, category, q)",
        ));
    }
    Ok(params)
}

/// Cursors are opaque to clients; today they carry the last id seen.
fn encode_cursor(id: i64) -> String {
    format!("p{id:x}")
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    i64::from_str_radix(cursor.strip_prefix('p')?, 16)
        .ok()
        .filter(|id| *id >= 0)
}

/// Fetch one product by id or handle.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = String, Path, description = "numeric id or handle")),
    responses((status = 200, body = ProductView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn fetch(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let product = find(&state, id.into_inner()).await?;
    if !product.draft.active() {
        return Err(Problem::not_found("no such product"));
    }
    Ok(HttpResponse::Ok().json(ProductView::new(&product, &state.config.currency)))
}

/// Create a product (admin).
#[utoipa::path(post, path = "/api/v1/products", tag = "catalog", request_body = ProductInput,
    security(("admin_key" = [])),
    responses((status = 201, body = ProductView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: ProductInput = parse_body(&req, &body)?;
    let draft = ProductDraft::parse(&input, &state.config.currency).map_err(Problem::validation)?;
    let store = state.store.clone();
    let product = web::block(move || {
        let id = store.write(|tx| products::insert(tx, &draft))?;
        store.read(|c| products::get(c, id))
    })
    .await??
    .ok_or_else(|| Problem::not_found("the product vanished right after it was created"))?;
    state.search.nudge();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/products/{}", product.id)))
        .json(ProductView::new(&product, &state.config.currency)))
}

/// Replace a product entirely (admin).
#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "catalog", request_body = ProductInput,
    params(("id" = String, Path, description = "numeric id or handle")), security(("admin_key" = [])),
    responses((status = 200, body = ProductView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn replace(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let existing = find(&state, id.into_inner()).await?;
    let input: ProductInput = parse_body(&req, &body)?;
    save(&state, existing.id, &input).await
}

/// Change some fields of a product with a JSON merge patch (RFC 7396) (admin).
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "catalog",
    request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("id" = String, Path, description = "numeric id or handle")), security(("admin_key" = [])),
    responses((status = 200, body = ProductView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn patch(
    _admin: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let existing = find(&state, id.into_inner()).await?;
    let changes: serde_json::Value = parse_body(&req, &body)?;
    if !changes.is_object() {
        return Err(Problem::invalid_field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let current = existing.draft.to_input(&state.config.currency);
    let mut merged =
        serde_json::to_value(current).map_err(|e| Problem::bad_request(e.to_string()))?;
    merge_patch(&mut merged, &changes);
    let input: ProductInput = serde_path_to_error::deserialize(merged).map_err(|err| {
        Problem::validation(vec![crate::catalog::FieldError::new(
            err.path().to_string(),
            err.inner().to_string(),
        )])
    })?;
    save(&state, existing.id, &input).await
}

/// Delete a product and its variants (admin).
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = String, Path, description = "numeric id or handle")), security(("admin_key" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    _admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let existing = find(&state, id.into_inner()).await?;
    let store = state.store.clone();
    web::block(move || store.write(|tx| products::delete(tx, existing.id))).await??;
    state.search.nudge();
    Ok(HttpResponse::NoContent().finish())
}

async fn save(
    state: &web::Data<AppState>,
    id: i64,
    input: &ProductInput,
) -> Result<HttpResponse, Problem> {
    let draft = ProductDraft::parse(input, &state.config.currency).map_err(Problem::validation)?;
    let store = state.store.clone();
    let product = web::block(move || {
        store.write(|tx| products::replace(tx, id, &draft))?;
        store.read(|c| products::get(c, id))
    })
    .await??
    .ok_or_else(|| Problem::not_found("no such product"))?;
    Ok(
        HttpResponse::build(StatusCode::OK)
            .json(ProductView::new(&product, &state.config.currency)),
    )
}

/// Looks a product up by numeric id or by handle, active or not.
async fn find(state: &web::Data<AppState>, key: String) -> Result<Product, Problem> {
    let store = state.store.clone();
    let found = web::block(move || {
        store.read(|c| match key.parse::<i64>() {
            Ok(id) => products::get(c, id),
            Err(_) => products::get_by_handle(c, &key.to_lowercase()),
        })
    })
    .await??;
    found.ok_or_else(|| Problem::not_found("no such product"))
}

/// RFC 7396: objects merge recursively, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    if let serde_json::Value::Object(fields) = target {
        for (key, value) in changes {
            if value.is_null() {
                fields.remove(key);
            } else {
                merge_patch(
                    fields.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(12345)), Some(12345));
        assert_eq!(decode_cursor("12345"), None);
        assert_eq!(decode_cursor("pzz"), None);
    }
}
