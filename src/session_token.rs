//! Credentials shared by shoppers' accounts and the dashboard: bearer tokens
//! for sessions (256 random bits as hex, kept in SQLite only as their
//! SHA-256) and argon2id password hashes.
//!
//! Owns the token and hash formats; what a session grants is its owner's
//! business.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;

/// A fresh random token; fails only when the OS has no randomness to give.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(hex::encode(bytes))
}

/// Whether `token` has the shape `new_token` gives (checked before any lookup).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_BYTES * 2 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a password could not be hashed.
#[derive(Debug)]
pub enum HashFailure {
    /// The OS had no randomness for the salt.
    Random(String),
    Hash(String),
}

/// An argon2id hash of `password` (a PHC string) with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashFailure> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashFailure::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashFailure::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| HashFailure::Hash(e.to_string()))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_have_the_checked_shape_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert!(looks_like_token(&a) && looks_like_token(&b));
        assert_ne!(a, b);
        assert!(!looks_like_token("xyz"));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
