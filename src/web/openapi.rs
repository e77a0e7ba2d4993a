//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AllOf, Schema};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, ai, analytics, assets, cart, chat, dashboard, health, orders, overview,
    products, profile, recommendations, search, settings, system, usage, vouchers, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "shopkeep", description = "Self-hosted AI shop assistant: catalog, search, accounts, cart, checkout, orders and operations API."),
    paths(
        products::list, products::fetch, products::create, products::replace, products::patch, products::delete,
        products::admin_list, products::admin_fetch,
        search::search,
        search::suggest,
        assets::shop,
        admin::import_catalog, admin::start_import_job, admin::list_import_jobs, admin::import_job, admin::list_keys, admin::create_key, admin::revoke_key,
        account::me, account::register, account::login, account::logout,
        profile::show_profile, profile::reset_profile,
        cart::show, cart::add_item, cart::update_item, cart::remove_item, cart::apply_voucher, cart::remove_voucher,
        cart::place_order,
        orders::my_orders, orders::my_order, orders::cancel_my_order,
        orders::list_orders, orders::admin_order, orders::change_status,
        vouchers::create, vouchers::list, vouchers::fetch, vouchers::patch, vouchers::remove,
        webhooks::create_endpoint, webhooks::list_endpoints, webhooks::delete_endpoint, webhooks::ping_endpoint,
        webhooks::list_deliveries,
        analytics::sales_report,
        chat::chat, chat::my_conversation, chat::live_events,
        chat::list_conversations, chat::transcript, chat::take_over, chat::release, chat::admin_message,
        chat::show_faq, chat::replace_faq,
        settings::show, settings::replace, settings::change, settings::upload_logo, settings::remove_logo,
        usage::usage_report, usage::usage_alerts,
        overview::overview,
        ai::show, ai::save, ai::switch_model, ai::test_turn,
        recommendations::for_product, recommendations::for_shopper, recommendations::rebuild,
        system::system_report, system::list_backups, system::create_backup, system::download_backup,
        system::upload_backup, system::restore_backup,
        dashboard::login, dashboard::logout, dashboard::session,
        health::healthz, health::readyz, health::metrics, openapi_json,
    ),
    modifiers(&AdminKeyScheme, &SessionOrKey, &ErrorResponses, &OpenFlattenedParts),
    tags((name = "catalog"), (name = "search"), (name = "account"), (name = "cart"), (name = "orders"), (name = "recommendations"), (name = "assistant"),
        (name = "admin"), (name = "operations"))
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
        components.add_security_scheme(
            "admin_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "shopkeep_admin",
                "dashboard session cookie from POST /admin/login; requests other than GET and HEAD \
                 also send the session's CSRF token (GET /admin/session) in X-CSRF-Token",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Session-Id",
                "shopper session token (or the shopkeep_session cookie); a request without one starts a guest session",
            ))),
        );
    }
}

/// Every route that takes an admin key also takes a dashboard session: the
/// `Admin` extractor accepts either, so the document says so once, here,
/// instead of on every handler.
struct SessionOrKey;

impl Modify for SessionOrKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let key = SecurityRequirement::new("admin_key", Vec::<String>::new());
        let session = SecurityRequirement::new("admin_session", Vec::<String>::new());
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if let Some(requirements) = operation.security.as_mut()
                    && requirements.contains(&key)
                    && !requirements.contains(&session)
                {
                    requirements.push(session.clone());
                }
            }
        }
    }
}

/// The errors every route can answer with, whatever its handler: the
/// extractors refuse unreadable query strings and bodies (400), oversized
/// bodies (413), other media types (415) and invalid values (422), a path
/// naming nothing gives 404, the admin routes 401 without credentials, and
/// the rate-limited routes 429, and whatever writes 507 when the disk is full.
/// Documented here once, so the document matches what clients really get.
struct ErrorResponses;

impl ErrorResponses {
    fn expected(
        method: &actix_web::http::Method,
        path: &str,
        operation: &Operation,
    ) -> Vec<(&'static str, &'static str)> {
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let in_path = parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path));
        let with_body = operation.request_body.is_some();
        let admin = operation.security.as_ref().is_some_and(|requirements| {
            requirements.contains(&SecurityRequirement::new("admin_key", Vec::<String>::new()))
        });
        let mut expected = Vec::new();
        if with_body || !parameters.is_empty() {
            expected.push(("400", "the request could not be read"));
            expected.push(("422", "a value is not valid; `errors` names the field"));
        }
        if with_body {
            expected.push(("413", "the body is larger than the limit"));
            expected.push(("415", "the body is not in a media type this route reads"));
        }
        if in_path {
            expected.push(("404", "nothing exists at this path"));
        }
        if admin {
            expected.push(("401", "no valid admin key or dashboard session"));
        }
        if *method != actix_web::http::Method::GET {
            expected.push((
                "507",
                "the disk is full: nothing was saved, reading still works",
            ));
        }
        if super::guard::Budget::of(method, path).is_some() {
            expected.push((
                "429",
                "too many from this address; Retry-After says when to retry",
            ));
        }
        expected
    }
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use actix_web::http::Method;
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                for (status, description) in Self::expected(&method, path, operation) {
                    let problem = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build();
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem)
                                .into()
                        });
                }
            }
        }
    }
}

/// A response that flattens a request type (`#[serde(flatten)]`) is drawn as
/// `allOf` with that type, whose `deny_unknown_fields` closes it: read
/// literally, no answer with the extra fields could match. In such an
/// `allOf` the part is inlined without the closing rule; the request type
/// itself stays closed where requests use it.
struct OpenFlattenedParts;

impl OpenFlattenedParts {
    fn opened(components: &Components, part: &RefOr<Schema>) -> Option<RefOr<Schema>> {
        let RefOr::Ref(reference) = part else {
            return None;
        };
        let name = reference.ref_location.rsplit('/').next()?;
        match components.schemas.get(name)? {
            RefOr::T(Schema::Object(object)) if object.additional_properties.is_some() => {
                let mut open = object.clone();
                open.additional_properties = None;
                Some(RefOr::T(Schema::Object(open)))
            }
            _ => None,
        }
    }
}

impl Modify for OpenFlattenedParts {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let names: Vec<String> = components.schemas.keys().cloned().collect();
        for name in names {
            let Some(RefOr::T(Schema::AllOf(all_of))) = components.schemas.get(&name) else {
                continue;
            };
            let items = all_of
                .items
                .iter()
                .map(|part| Self::opened(components, part).unwrap_or_else(|| part.clone()))
                .collect();
            let opened = AllOf {
                items,
                ..all_of.clone()
            };
            components
                .schemas
                .insert(name, RefOr::T(Schema::AllOf(opened)));
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
