//! The HTTP layer: actix-web routes, middleware, errors and the OpenAPI document.
//!
//! Handlers turn requests into calls on `catalog`, `store`, `access`, `ops` and `llm`
//! (blocking work through `web::block`) and answers into JSON or problem+json.
//! Nothing below this module knows about HTTP.

pub mod account;
pub mod admin;
pub mod ai;
pub mod analytics;
pub mod assets;
pub mod auth;
pub mod cart;
pub mod chat;
pub mod csv;
pub mod dashboard;
pub mod guard;
pub mod health;
pub mod https;
pub mod json;
pub mod observe;
pub mod openai;
pub mod openapi;
pub mod orders;
pub mod overview;
pub mod problem;
pub mod products;
pub mod profile;
pub mod recommendations;
pub mod search;
pub mod settings;
pub mod shopper;
pub mod system;
pub mod upload;
pub mod usage;
pub mod vouchers;
pub mod webhooks;
pub mod widget;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpResponse, web};

use crate::access::Access;
use crate::commerce::payment::Payments;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::search::SearchService;
use crate::store::Store;

/// Everything a handler may use, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub store: Arc<Store>,
    pub search: Arc<SearchService>,
    pub access: Access,
    pub metrics: Metrics,
    pub shutting_down: AtomicBool,
    /// The ways to pay this shop offers.
    pub payments: Payments,
    /// Wakes the webhook dispatcher once a transaction that enqueued events committed.
    pub webhooks: crate::commerce::webhooks::Waker,
    /// Open chat streams waiting for an admin's messages.
    pub live: crate::assistant::live::Live,
    /// The AI set-up running now (tier, backends, local model and its
    /// status), swapped when the dashboard saves settings or switches model.
    pub ai: crate::assistant::runtime::AiRuntime,
    /// Replies to questions that are the same for every shopper.
    pub answers: std::sync::Arc<crate::assistant::cache::AnswerCache>,
    /// Catalog imports running in the background, and the last ones done.
    pub import_jobs: Arc<crate::catalog::jobs::ImportJobs>,
    /// The shop's settings as saved from the dashboard, over `config`'s defaults.
    pub settings: crate::settings::LiveSettings,
    /// Per-address budgets of sign-ins, chat turns and checkouts.
    pub limits: guard::RateLimits,
    /// The HTTPS certificate and its challenges, when `domain` is set.
    pub tls: Option<crate::tls::Tls>,
}

impl AppState {
    /// The selling rules in force now: the configuration's, with the saved tax.
    pub fn commerce(&self) -> crate::config::CommerceSettings {
        self.settings.current().commerce_over(&self.config.commerce)
    }

    pub fn tls_status(&self) -> Option<crate::tls::TlsStatus> {
        self.tls.as_ref().map(crate::tls::Tls::status)
    }

    /// The configuration as the saved settings change it while running (name and tax).
    pub fn running_config(&self) -> Config {
        self.settings.current().over_running(&self.config)
    }
}

/// Registers every route and middleware on an app; used by the server and by tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let body_limit = state.config.max_body_bytes;
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                problem::Problem::bad_request(format!("invalid query string: {err}")).into()
            }))
            .configure(health::routes)
            .configure(assets::routes)
            .configure(widget::routes)
            .configure(settings::media_routes)
            .route("/api/openapi.json", web::get().to(openapi::openapi_json))
            .configure(dashboard::routes)
            .service(web::scope("/v1").configure(openai::routes))
            .service(
                web::scope("/api/v1")
                    .configure(products::routes)
                    .configure(search::routes)
                    .configure(admin::routes)
                    .configure(ai::routes)
                    .configure(account::routes)
                    .configure(cart::routes)
                    .configure(orders::routes)
                    .configure(vouchers::routes)
                    .configure(webhooks::routes)
                    .configure(recommendations::routes)
                    .configure(profile::routes)
                    .configure(analytics::routes)
                    .configure(chat::routes)
                    .configure(usage::routes)
                    .configure(overview::routes)
                    .configure(settings::routes)
                    .configure(system::routes),
            );
    }
}

/// The application with its middleware, ready for `HttpServer::new`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .default_service(web::to(HttpResponse::NotFound))
        .wrap(from_fn(auth::form_csrf))
        .wrap(from_fn(shopper::session_cookie))
        .wrap(from_fn(problem::normalize))
        // Inside CORS, so that the widget can read a 429 on another site.
        .wrap(from_fn(guard::limit_requests))
        .wrap(from_fn(widget::cors))
        .wrap(from_fn(guard::security_headers))
        .wrap(Compress::default())
        .wrap(from_fn(https::https_only))
        .wrap(from_fn(observe::observe))
}
