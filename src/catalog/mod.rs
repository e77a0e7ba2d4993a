//! The product catalog: domain types, validation, HTML clean-up and importers.
//!
//! Owns what a product is and how outside data becomes one. It reaches the
//! database only through `crate::store`, and knows nothing of HTTP.

pub mod demo;
pub mod dietary;
pub mod html;
pub mod import;
pub mod jobs;
pub mod money;
pub mod product;

pub use money::{Currency, Money};
pub use product::{FieldError, ProductDraft, ProductInput, VariantDraft, VariantInput};
