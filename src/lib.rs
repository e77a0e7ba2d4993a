//! shopkeep: a self-hosted AI shop assistant in one binary.
//!
//! Data flows one way: `web` → (`commerce`, `catalog`, `search`, `llm`, `access`, `ops`) → `store`.
//!
//! - [`config`]: the typed configuration and the only reader of the environment.
//! - [`store`]: SQLite — connections, migrations, queries.
//! - [`catalog`]: products, money, validation and importers.
//! - [`commerce`]: sessions, carts, checkout, orders, vouchers, webhooks,
//!   recommendations, profiles and sales analytics.
//! - [`access`]: admin API keys.
//! - [`ops`]: metrics and readiness.
//! - [`search`]: keyword and semantic product search.
//! - [`llm`]: local language models, the model manager and sampling.
//! - [`web`]: the actix-web HTTP API.
//! - [`app`]: start-up and graceful shutdown of the server.
//! - [`bench`]: the measurements behind docs/BENCHMARKS.md.

pub mod access;
pub mod app;
pub mod assistant;
pub mod bench;
pub mod catalog;
pub mod commerce;
pub mod config;
pub mod llm;
pub mod ops;
pub mod search;
pub mod store;
pub mod web;
