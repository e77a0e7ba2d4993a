//! Shoppers: guest sessions and registered customers.
//!
//! A session is a random bearer token (cookie `shopkeep_session` or header
//! `X-Session-Id`); only its SHA-256 is stored. Sessions slide: each request
//! moves their expiry. Signing in moves the guest cart into the customer's.
//! Password hashing (argon2id) happens here; HTTP does not.

/// Who is shopping: always a session, and a customer once signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shopper {
    pub session_id: i64,
    pub customer_id: Option<i64>,
}
