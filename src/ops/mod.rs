//! Operations: metrics, readiness, the system report and the checks an operator relies on.
//!
//! Owns what the process reports about itself. It reads the store and the
//! configuration; it must not change either (backups and restores, which do,
//! live in `crate::backup`).

pub mod doctor;
pub mod health;
pub mod instance;
pub mod metrics;
pub mod ratelimit;
pub mod scheduler;
pub mod system;
pub mod systemd;
