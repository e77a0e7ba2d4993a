//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, health, products, search};

#[derive(OpenApi)]
#[openapi(
    info(title = "shopkeep", description = "Self-hosted AI shop assistant: catalog, import and operations API."),
    paths(
        products::list, products::fetch, products::create, products::replace, products::patch, products::delete,
        search::search,
        search::suggest,
        admin::import_catalog, admin::list_keys, admin::create_key, admin::revoke_key,
        health::healthz, health::readyz, health::metrics, openapi_json,
    ),
    modifiers(&AdminKeyScheme),
    tags((name = "catalog"), (name = "search"), (name = "admin"), (name = "operations"))
)]
pub struct ApiDoc;

struct AdminKeyScheme;

impl Modify for AdminKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("admin API key (shk_…)"))
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
