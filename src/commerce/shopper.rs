//! Shoppers: guest sessions and registered customers.
//!
//! A session is a random bearer token (cookie `shopkeep_session` or header
//! `X-Session-Id`); only its SHA-256 is stored. Sessions slide: use moves their
//! expiry. Signing in starts a fresh session (so a token seen before sign-in is
//! worth nothing after it), moves the guest cart into the customer's and hands
//! the guest's orders to the account. Passwords are hashed with argon2id here;
//! this module knows nothing of HTTP.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use time::OffsetDateTime;

use crate::catalog::FieldError;
use crate::config::CommerceSettings;
use crate::session_token::{self, looks_like_token, token_hash};
use crate::store::customers::{self, Customer};
use crate::store::{Store, StoreError, carts, conversations, orders, sessions, timestamp};

/// Who is shopping: always a session, and a customer once signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shopper {
    pub session_id: i64,
    pub customer_id: Option<i64>,
}

/// A session as the web layer sees it: the shopper, and the token when it is new.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    pub shopper: Shopper,
    /// Set when a new session was started; the client must be told.
    pub new_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShopperError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the email or password is not right")]
    BadCredentials,
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 256;
/// A session's expiry moves at most this often, so reads do not all become writes.
const EXTEND_EVERY: Duration = Duration::from_secs(300);

/// The shopper holding `token`, or a new guest session when the token is
/// missing, unknown or expired.
pub fn resolve(
    store: &Store,
    token: Option<&str>,
    ttl: Duration,
) -> Result<SessionGrant, ShopperError> {
    let now = OffsetDateTime::now_utc();
    if let Some(token) = token.filter(|t| looks_like_token(t)) {
        let hash = token_hash(token);
        let found = store.read(|c| sessions::find_live(c, &hash, &timestamp(now)))?;
        if let Some(session) = found {
            extend_if_due(store, &session, now, ttl)?;
            return Ok(SessionGrant {
                shopper: Shopper {
                    session_id: session.id,
                    customer_id: session.customer_id,
                },
                new_token: None,
            });
        }
    }
    start_session(store, None, now, ttl)
}

fn extend_if_due(
    store: &Store,
    session: &sessions::SessionRow,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<(), ShopperError> {
    let full = timestamp(now + ttl);
    let due = timestamp(now + ttl.saturating_sub(EXTEND_EVERY));
    if session.expires_at < due {
        store.write(|tx| sessions::extend(tx, session.id, &timestamp(now), &full))?;
    }
    Ok(())
}

fn start_session(
    store: &Store,
    customer_id: Option<i64>,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<SessionGrant, ShopperError> {
    let token = new_token()?;
    let hash = token_hash(&token);
    let session_id = store.write(|tx| {
        let id = sessions::insert(
            tx,
            &hash,
            customer_id,
            &timestamp(now),
            &timestamp(now + ttl),
        )?;
        // Expired sessions are swept now and then as new ones start, so the
        // table stays the size of the live shopper base without a timer.
        if id % 128 == 0 {
            sessions::delete_expired(tx, &timestamp(now))?;
        }
        Ok(id)
    })?;
    Ok(SessionGrant {
        shopper: Shopper {
            session_id,
            customer_id,
        },
        new_token: Some(token),
    })
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct Registration {
    email: String,
    password: String,
    name: String,
}

impl Registration {
    pub fn parse(email: &str, password: &str, name: &str) -> Result<Registration, ShopperError> {
        let mut errors = Vec::new();
        let email = email.trim();
        if let Err(reason) = check_email(email) {
            errors.push(FieldError::new("email", reason));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            errors.push(FieldError::new(
                "password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        } else if password.len() > MAX_PASSWORD_BYTES {
            errors.push(FieldError::new(
                "password",
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        let name = name.trim();
        if name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "must be at most 200 printable characters",
            ));
        }
        if !errors.is_empty() {
            return Err(ShopperError::Invalid(errors));
        }
        Ok(Registration {
            email: email.to_lowercase(),
            password: password.to_string(),
            name: name.to_string(),
        })
    }
}

/// Whether `email` looks like a deliverable address; the reason when not.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or("must be an email address such as ana@example.com")?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible
        .then_some(())
        .ok_or("must be an email address such as ana@example.com")
}

/// Creates the account and signs the current session's shopper into it.
pub fn register(
    store: &Store,
    current: Shopper,
    registration: &Registration,
    settings: &CommerceSettings,
) -> Result<(Customer, SessionGrant), ShopperError> {
    let hash = hash_password(&registration.password)?;
    let now = OffsetDateTime::now_utc();
    let id = store
        .write(|tx| {
            customers::insert(
                tx,
                &registration.email,
                &hash,
                &registration.name,
                &timestamp(now),
            )
        })?
        .ok_or(ShopperError::EmailTaken)?;
    sign_in(store, current, id, settings)
}

/// Checks the password and signs the current session's shopper in.
pub fn login(
    store: &Store,
    current: Shopper,
    email: &str,
    password: &str,
    settings: &CommerceSettings,
) -> Result<(Customer, SessionGrant), ShopperError> {
    let found = store.read(|c| customers::find_by_email(c, email.trim()))?;
    let Some((customer, stored_hash)) = found else {
        // Hash anyway so that an unknown email takes as long as a wrong password.
        let _ = hash_password(password);
        return Err(ShopperError::BadCredentials);
    };
    let parsed = PasswordHash::new(&stored_hash).map_err(|e| ShopperError::Hash(e.to_string()))?;
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| ShopperError::BadCredentials)?;
    sign_in(store, current, customer.id, settings)
}

/// Starts a customer session that replaces `current`, bringing its cart and orders along.
fn sign_in(
    store: &Store,
    current: Shopper,
    customer_id: i64,
    settings: &CommerceSettings,
) -> Result<(Customer, SessionGrant), ShopperError> {
    let now = OffsetDateTime::now_utc();
    let grant = start_session(store, Some(customer_id), now, settings.session_ttl)?;
    store.write(|tx| {
        if current.customer_id.is_none() {
            crate::commerce::cart::merge_guest_cart(tx, current.session_id, customer_id, settings)?;
        }
        orders::adopt_session_orders(tx, current.session_id, customer_id)?;
        conversations::adopt_session(
            tx,
            current.session_id,
            grant.shopper.session_id,
            customer_id,
        )?;
        // The new session sees the orders placed as a guest through the account.
        if current.session_id != grant.shopper.session_id {
            sessions::delete(tx, current.session_id)?;
        }
        Ok(())
    })?;
    let customer = store
        .read(|c| customers::get(c, customer_id))?
        .ok_or_else(|| StoreError::Corrupt("the customer vanished while signing in".into()))?;
    Ok((customer, grant))
}

/// Ends the session; the shopper continues as a new guest.
pub fn logout(store: &Store, current: Shopper) -> Result<(), ShopperError> {
    store.write(|tx| {
        if current.customer_id.is_none()
            && let Some(cart) = carts::find(tx, carts::CartOwner::Session(current.session_id))?
        {
            carts::delete(tx, cart.id)?;
        }
        sessions::delete(tx, current.session_id)
    })?;
    Ok(())
}

pub fn customer(store: &Store, id: i64) -> Result<Option<Customer>, ShopperError> {
    Ok(store.read(|c| customers::get(c, id))?)
}

fn hash_password(password: &str) -> Result<String, ShopperError> {
    session_token::hash_password(password).map_err(|failure| match failure {
        session_token::HashFailure::Random(e) => ShopperError::Random(e),
        session_token::HashFailure::Hash(e) => ShopperError::Hash(e),
    })
}

fn new_token() -> Result<String, ShopperError> {
    session_token::new_token().map_err(ShopperError::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::scratch()
    }

    fn settings() -> CommerceSettings {
        crate::config::Config::from_sources(&Default::default(), &[])
            .unwrap()
            .commerce
    }

    #[test]
    fn a_token_finds_its_session_until_it_expires() {
        let (_dir, store) = store();
        let ttl = Duration::from_secs(3600);
        let guest = resolve(&store, None, ttl).unwrap();
        let token = guest.new_token.clone().unwrap();
        let again = resolve(&store, Some(&token), ttl).unwrap();
        assert_eq!(again.shopper, guest.shopper);
        assert!(again.new_token.is_none());
        store
            .write(|tx| {
                Ok(tx.execute(
                    "UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z'",
                    [],
                )?)
            })
            .unwrap();
        let expired = resolve(&store, Some(&token), ttl).unwrap();
        assert_ne!(expired.shopper.session_id, guest.shopper.session_id);
        assert!(expired.new_token.is_some());
        let stored: String = store
            .read(|c| Ok(c.query_row("SELECT token_hash FROM sessions LIMIT 1", [], |r| r.get(0))?))
            .unwrap();
        assert_ne!(stored, token, "only the hash of a token is stored");
    }

    #[test]
    fn registration_refuses_bad_fields_and_login_checks_the_password() {
        let (_dir, store) = store();
        let settings = settings();
        let ttl = settings.session_ttl;
        let Err(ShopperError::Invalid(errors)) = Registration::parse("nope", "short", "") else {
            panic!("bad fields accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password"]);
        let guest = resolve(&store, None, ttl).unwrap().shopper;
        let registration = Registration::parse("Ana@Example.com", "correct horse", "Ana").unwrap();
        let (customer, grant) = register(&store, guest, &registration, &settings).unwrap();
        assert_eq!(customer.email, "ana@example.com");
        assert_eq!(grant.shopper.customer_id, Some(customer.id));
        assert!(matches!(
            register(&store, grant.shopper, &registration, &settings),
            Err(ShopperError::EmailTaken)
        ));
        let guest = resolve(&store, None, ttl).unwrap().shopper;
        assert!(matches!(
            login(&store, guest, "ana@example.com", "wrong horse", &settings),
            Err(ShopperError::BadCredentials)
        ));
        let (again, _) =
            login(&store, guest, "ANA@example.com", "correct horse", &settings).unwrap();
        assert_eq!(again.id, customer.id);
        let hash: String = store
            .read(|c| Ok(c.query_row("SELECT password_hash FROM customers", [], |r| r.get(0))?))
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
    }
}
