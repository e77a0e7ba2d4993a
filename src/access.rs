//! Admin API keys: minting, hashing (argon2id) and checking bearer tokens.
//!
//! A key reads `shk_<prefix>_<secret>`. The prefix is stored in clear to find the
//! row; only an argon2id hash of the whole key is kept. Because argon2id is slow
//! on purpose, keys that verified once are remembered (by their SHA-256) until
//! revoked. This module must not know about HTTP; `web::auth` adapts it.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, api_keys};

const KEY_TAG: &str = "shk";
const PREFIX_BYTES: usize = 6;
const SECRET_BYTES: usize = 24;
/// Upper bound on remembered keys, so a flood of distinct valid keys cannot grow memory.
const VERIFIED_CACHE_LIMIT: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the key is missing, malformed, unknown or revoked")]
    Denied,
    #[error("key name must be 1 to 100 printable characters")]
    BadName,
    #[error("could not hash the key: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A freshly minted key: the only moment its secret exists in clear.
#[derive(Debug)]
pub struct NewKey {
    pub id: i64,
    pub token: String,
}

/// Checks bearer tokens against the store and remembers the ones that passed.
pub struct Access {
    verified: Mutex<HashMap<[u8; 32], i64>>,
}

impl Default for Access {
    fn default() -> Self {
        Self::new()
    }
}

impl Access {
    pub fn new() -> Self {
        Access {
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Mints a key named `name`, stores its hash and returns the token once.
    pub fn create_key(&self, store: &Store, name: &str) -> Result<NewKey, AccessError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AccessError::BadName);
        }
        let prefix = random_hex(PREFIX_BYTES)?;
        let token = format!("{KEY_TAG}_{prefix}_{}", random_hex(SECRET_BYTES)?);
        let salt_bytes = random_bytes::<16>()?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| AccessError::Hash(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(token.as_bytes(), &salt)
            .map_err(|e| AccessError::Hash(e.to_string()))?
            .to_string();
        let id = store.write(|tx| api_keys::insert(tx, name, &prefix, &hash))?;
        Ok(NewKey { id, token })
    }

    /// Returns the id of the live key `token` names, or `Denied`.
    pub fn verify(&self, store: &Store, token: &str) -> Result<i64, AccessError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(id) = self.cached(&fingerprint) {
            return Ok(id);
        }
        let prefix = parse_prefix(token).ok_or(AccessError::Denied)?;
        let (id, stored_hash) = store
            .read(|c| api_keys::find_live(c, prefix))?
            .ok_or(AccessError::Denied)?;
        let parsed =
            PasswordHash::new(&stored_hash).map_err(|e| AccessError::Hash(e.to_string()))?;
        Argon2::default()
            .verify_password(token.as_bytes(), &parsed)
            .map_err(|_| AccessError::Denied)?;
        store.write(|tx| api_keys::touch(tx, id))?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE_LIMIT {
            verified.clear();
        }
        verified.insert(fingerprint, id);
        Ok(id)
    }

    /// Revokes key `id` and forgets every remembered verification of it.
    pub fn revoke(&self, store: &Store, id: i64) -> Result<bool, AccessError> {
        let revoked = store.write(|tx| api_keys::revoke(tx, id))?;
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, key_id| *key_id != id);
        Ok(revoked)
    }

    fn cached(&self, fingerprint: &[u8; 32]) -> Option<i64> {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(fingerprint)
            .copied()
    }
}

/// The prefix of a well-formed token, without touching the store.
fn parse_prefix(token: &str) -> Option<&str> {
    let mut parts = token.split('_');
    let (tag, prefix, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = tag == KEY_TAG
        && parts.next().is_none()
        && prefix.len() == PREFIX_BYTES * 2
        && secret.len() == SECRET_BYTES * 2
        && prefix
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(prefix)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AccessError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Hash(format!("no randomness: {e}")))?;
    Ok(bytes)
}

fn random_hex(len: usize) -> Result<String, AccessError> {
    let bytes = random_bytes::<32>()?;
    Ok(hex::encode(&bytes[..len]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    #[test]
    fn minted_keys_verify_and_revoked_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &StoreOptions::default()).unwrap();
        let access = Access::new();
        let key = access.create_key(&store, "ci").unwrap();
        assert_eq!(access.verify(&store, &key.token).unwrap(), key.id);
        assert_eq!(
            access.verify(&store, &key.token).unwrap(),
            key.id,
            "cached path"
        );
        let mut forged = key.token.clone();
        forged.pop();
        forged.push(if key.token.ends_with('0') { '1' } else { '0' });
        assert!(matches!(
            access.verify(&store, &forged),
            Err(AccessError::Denied)
        ));
        assert!(matches!(
            access.verify(&store, "Bearer nonsense"),
            Err(AccessError::Denied)
        ));
        assert!(access.revoke(&store, key.id).unwrap());
        assert!(matches!(
            access.verify(&store, &key.token),
            Err(AccessError::Denied)
        ));
        let stored: String = store
            .read(|c| Ok(c.query_row("SELECT secret_hash FROM api_keys", [], |r| r.get(0))?))
            .unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains(&key.token));
    }
}
