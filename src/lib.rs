//! shopkeep: a self-hosted AI shop assistant in one binary.
//!
//! Data flows one way: `web` → `assistant` → (`search`, `commerce`, `llm`) → `store`;
//! `web` also calls `commerce`, `catalog`, `search`, `llm`, `access` and `ops` directly.
//!
//! - [`config`]: the typed configuration and the only reader of the environment.
//! - [`store`]: SQLite — connections, migrations, queries.
//! - [`catalog`]: products, money, validation and importers.
//! - [`assistant`]: conversations: intents, tools, the free-tier driver,
//!   checkout confirmation, memory and live handoff.
//! - [`commerce`]: sessions, carts, checkout, orders, vouchers, webhooks,
//!   recommendations, profiles and sales analytics.
//! - [`access`]: admin API keys.
//! - [`secrets`]: API keys sealed at rest under a key file outside the database.
//! - [`admin_auth`]: the dashboard's password, sessions, CSRF tokens and lockouts.
//! - [`ops`]: metrics, readiness, systemd notifications, the system report and the one-server-per-data-dir lock.
//! - [`settings`]: the shop's runtime settings (name, tax, brand, assistant voice, widget origins).
//! - [`tls`]: HTTPS certificates from ACME: obtain, store, renew, serve.
//! - [`backup`]: backup archives: create, list, verify, restore, retention, upload to S3 storage.
//! - [`maintenance`]: data retention (old conversations and logs) and VACUUM.
//! - [`search`]: keyword and semantic product search.
//! - [`llm`]: local language models, the model manager and sampling.
//! - [`web`]: the actix-web HTTP API.
//! - [`app`]: start-up and graceful shutdown of the server.
//! - [`bench`]: the measurements behind docs/BENCHMARKS.md.

pub mod access;
pub mod admin_auth;
pub mod app;
pub mod assistant;
pub mod backup;
pub mod bench;
pub mod catalog;
pub mod commerce;
pub mod config;
pub mod llm;
pub mod maintenance;
pub mod ops;
pub mod search;
pub mod secrets;
pub mod session_token;
pub mod settings;
pub mod store;
pub mod tls;
pub mod web;
