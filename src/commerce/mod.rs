//! Selling: shoppers and their sessions, carts, checkout, orders, vouchers,
//! webhooks, recommendations, preference profiles and sales analytics.
//!
//! Owns the business rules of commerce: what a cart may hold, what a voucher
//! grants, which order status may follow which, when stock moves. SQL lives in
//! `store`, HTTP in `web`; this module must not know about either's details
//! beyond calling `store` functions inside the store's transactions.
//!
//! - [`order`]: order status lifecycle and the facts of a placed order that
//!   the other parts (analytics, profiles, webhooks) learn from.
//! - [`shopper`]: guest sessions and registered customers.
//! - [`cart`]: cart lines, price snapshots, stock checks and totals.
//! - [`checkout`]: turning a cart into an order in one transaction.
//! - [`payment`]: the `PaymentProvider` trait and the built-in manual provider.
//! - [`vouchers`]: discount codes and the reasons one does not apply.
//! - [`webhooks`]: signed event delivery through an outbox, with retries.
//! - [`recommend`]: co-purchase recommendations built by a batch job.
//! - [`profile`]: per-customer preference profiles learned from orders.
//! - [`analytics`]: incrementally maintained sales aggregates.

pub mod analytics;
pub mod cart;
pub mod checkout;
pub mod order;
pub mod payment;
pub mod profile;
pub mod recommend;
pub mod shopper;
pub mod vouchers;
pub mod webhooks;

pub use order::{OrderLine, OrderStatus, PlacedOrder};
pub use shopper::Shopper;
