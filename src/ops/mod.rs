//! Operations: metrics, readiness and the checks an operator relies on.
//!
//! Owns what the process reports about itself. It reads the store and the
//! configuration; it must not change either.

pub mod health;
pub mod metrics;
pub mod scheduler;
pub mod systemd;
