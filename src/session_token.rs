//! Bearer tokens for sessions (shoppers' and the dashboard's): 256 random
//! bits as hex, kept in SQLite only as their SHA-256.
//!
//! Owns the token format; what a session grants is its owner's business.

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
