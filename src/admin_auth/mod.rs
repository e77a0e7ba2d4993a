//! The admin dashboard's sign-in: the admin password, browser sessions, CSRF
//! tokens and the lockout after repeated failures.
//!
//! The password is kept as an argon2id hash. A session is a random 256-bit
//! token of which only the SHA-256 is stored; it ends at a fixed time and does
//! not slide. Its CSRF token is an HMAC of the session token, so it needs no
//! storage and is worth nothing without the cookie. Five failed sign-ins for
//! one user name, or from one address, within fifteen minutes refuse further
//! attempts for fifteen minutes; failures and lockouts live in SQLite so a
//! restart does not lift them.
//!
//! This module must not know about HTTP or cookies (`web::auth` and
//! `web::dashboard` adapt it) and holds no SQL (`store::admin_users` does).

pub mod cli;

use std::sync::Mutex;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::session_token::{self, looks_like_token, token_hash};
use crate::store::admin_users::{self, AdminUser, LockScope};
use crate::store::{Store, StoreError, timestamp};

/// The user name `set-password` uses unless told otherwise.
pub const DEFAULT_USER: &str = "admin";
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_USER_CHARS: usize = 64;
/// Failed sign-ins within `FAILURE_WINDOW` that lock a user name or an address.
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Binds CSRF tokens to this one use of the session token.
const CSRF_PURPOSE: &[u8] = b"shopkeep admin csrf v1";

/// One sign-in is checked at a time, process-wide: the failures counted before
/// a check are those written after the previous one, so parallel guesses
/// cannot slip past the limit, and argon2id (slow on purpose) cannot be made
/// to run on every core at once.
static LOGIN_GATE: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum AdminAuthError {
    #[error("the user name must be 1 to {MAX_USER_CHARS} printable characters")]
    BadUserName,
    #[error(
        "the password must be at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
    )]
    WeakPassword,
    #[error("the user name or password is not right")]
    BadCredentials,
    #[error("too many failed sign-ins; try again in {} seconds", retry_after.as_secs())]
    Locked { retry_after: Duration },
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A live dashboard session: its id, its user's name and when it ends (RFC 3339 UTC).
pub use crate::store::admin_users::SessionRow as Session;

/// A session just started: the only moment its token exists in clear.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub session: Session,
}

/// A sign-in as it arrived: who, with what, and from which address.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub from: &'a str,
}

/// Sets the admin account's name and password, signs every session out and
/// lifts every lockout (an operator at the server is a fresh start).
pub fn set_password(store: &Store, user: &str, password: &str) -> Result<(), AdminAuthError> {
    let user = check_user_name(user)?;
    check_password(password)?;
    let hash = hash_password(password)?;
    let now = timestamp(OffsetDateTime::now_utc());
    store.write(|tx| {
        admin_users::save_user(tx, user, &hash, &now)?;
        admin_users::delete_all_sessions(tx)?;
        admin_users::clear_lockouts(tx)
    })?;
    Ok(())
}

/// Whether `set-password` ever ran, so the sign-in page can say what to do.
pub fn password_is_set(store: &Store) -> Result<bool, StoreError> {
    Ok(store.read(admin_users::user)?.is_some())
}

/// Checks an attempt against lockouts and the password; starts a session of
/// `ttl` when it passes and counts a failure when it does not.
pub fn login(
    store: &Store,
    attempt: &LoginAttempt,
    ttl: Duration,
    now: OffsetDateTime,
) -> Result<SignedIn, AdminAuthError> {
    // Longer names cannot be right; capping them bounds what a failure stores.
    let user: String = attempt
        .user
        .trim()
        .chars()
        .take(MAX_USER_CHARS + 1)
        .collect();
    let subjects = [
        (LockScope::User, user.as_str()),
        (LockScope::Ip, attempt.from),
    ];
    // Refused without queueing for the gate, and checked again once through it.
    refuse_if_locked(store, &subjects, now)?;
    let _one_at_a_time = LOGIN_GATE.lock().unwrap_or_else(|p| p.into_inner());
    refuse_if_locked(store, &subjects, now)?;
    match verify(store, &user, attempt.password)? {
        Some(account) => start_session(store, &account, attempt.from, ttl, now),
        None => {
            record_failure(store, &subjects, now)?;
            Err(AdminAuthError::BadCredentials)
        }
    }
}

/// The live session a token names at `now`, if any.
pub fn session(
    store: &Store,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<Session>, StoreError> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    store.read(|c| admin_users::find_live_session(c, &token_hash(token), &timestamp(now)))
}

/// Ends the session a token names; false when there was none.
pub fn logout(store: &Store, token: &str) -> Result<bool, StoreError> {
    store.write(|tx| admin_users::delete_session(tx, &token_hash(token)))
}

/// The CSRF token that goes with a session token.
pub fn csrf_token(session_token: &str) -> String {
    csrf_mac(session_token)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `presented` is the CSRF token of this session (compared in constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let (Some(mac), Ok(bytes)) = (csrf_mac(session_token), hex::decode(presented.trim())) else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

fn csrf_mac(session_token: &str) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length, so this cannot fail; if it ever did, no
    // token would match rather than the server panicking.
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes()).ok()?;
    mac.update(CSRF_PURPOSE);
    Some(mac)
}

fn check_user_name(user: &str) -> Result<&str, AdminAuthError> {
    let user = user.trim();
    let fits = !user.is_empty()
        && user.chars().count() <= MAX_USER_CHARS
        && !user.chars().any(char::is_control);
    fits.then_some(user).ok_or(AdminAuthError::BadUserName)
}

fn check_password(password: &str) -> Result<(), AdminAuthError> {
    let fits =
        password.chars().count() >= MIN_PASSWORD_CHARS && password.len() <= MAX_PASSWORD_BYTES;
    fits.then_some(()).ok_or(AdminAuthError::WeakPassword)
}

/// The account when `user` and `password` are right.
fn verify(store: &Store, user: &str, password: &str) -> Result<Option<AdminUser>, AdminAuthError> {
    let account = store.read(admin_users::user)?.filter(|a| a.name == user);
    let Some(account) = account else {
        // Hash anyway, so that a wrong name takes as long as a wrong password.
        let _ = hash_password(password);
        return Ok(None);
    };
    let parsed = PasswordHash::new(&account.password_hash)
        .map_err(|e| AdminAuthError::Hash(e.to_string()))?;
    let right = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(right.then_some(account))
}

fn refuse_if_locked(
    store: &Store,
    subjects: &[(LockScope, &str)],
    now: OffsetDateTime,
) -> Result<(), AdminAuthError> {
    let at = timestamp(now);
    let latest = store.read(|c| {
        let mut latest: Option<String> = None;
        for &(scope, subject) in subjects {
            let until = admin_users::locked_until(c, scope, subject, &at)?;
            latest = latest.max(until);
        }
        Ok(latest)
    })?;
    let Some(until) = latest else {
        return Ok(());
    };
    let until = OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("lockout time {until:?}: {e}")))?;
    // Stored times are whole seconds: round the wait up, so it is never short.
    let left = until - now;
    let seconds = (left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0)).max(1) as u64;
    Err(AdminAuthError::Locked {
        retry_after: Duration::from_secs(seconds),
    })
}

fn record_failure(
    store: &Store,
    subjects: &[(LockScope, &str)],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = timestamp(now);
    let window_start = timestamp(now - FAILURE_WINDOW);
    let until = timestamp(now + LOCKOUT);
    let locked = store.write(|tx| {
        admin_users::sweep(tx, &window_start, &at)?;
        let mut locked = Vec::new();
        for &(scope, subject) in subjects {
            admin_users::insert_failure(tx, scope, subject, &at)?;
            if admin_users::failures_since(tx, scope, subject, &window_start)? >= MAX_FAILURES {
                admin_users::lock(tx, scope, subject, &until)?;
                // The count starts again once the lockout is over.
                admin_users::clear_failures(tx, scope, subject)?;
                locked.push((scope, subject));
            }
        }
        Ok(locked)
    })?;
    let minutes = LOCKOUT.as_secs() / 60;
    for (scope, subject) in locked {
        match scope {
            // The name tried is never logged: people type passwords into name fields.
            LockScope::User => tracing::warn!(
                minutes,
                "too many failed admin sign-ins for one user name; it is locked"
            ),
            LockScope::Ip => tracing::warn!(
                address = subject,
                minutes,
                "too many failed admin sign-ins from one address; it is locked"
            ),
        }
    }
    Ok(())
}

fn start_session(
    store: &Store,
    account: &AdminUser,
    from: &str,
    ttl: Duration,
    now: OffsetDateTime,
) -> Result<SignedIn, AdminAuthError> {
    let token = new_token()?;
    let at = timestamp(now);
    let expires_at = timestamp(now + ttl);
    let id = store.write(|tx| {
        admin_users::clear_failures(tx, LockScope::User, &account.name)?;
        admin_users::clear_failures(tx, LockScope::Ip, from)?;
        admin_users::delete_expired_sessions(tx, &at)?;
        admin_users::insert_session(tx, &token_hash(&token), account.id, &at, &expires_at)
    })?;
    Ok(SignedIn {
        token,
        session: Session {
            id,
            user: account.name.clone(),
            expires_at,
        },
    })
}

fn hash_password(password: &str) -> Result<String, AdminAuthError> {
    session_token::hash_password(password).map_err(|failure| match failure {
        session_token::HashFailure::Random(e) => AdminAuthError::Random(e),
        session_token::HashFailure::Hash(e) => AdminAuthError::Hash(e),
    })
}

fn new_token() -> Result<String, AdminAuthError> {
    session_token::new_token().map_err(AdminAuthError::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery";
    const TTL: Duration = Duration::from_secs(12 * 3600);

    fn shop() -> (tempfile::TempDir, Store) {
        let (dir, store) = crate::store::scratch();
        set_password(&store, "admin", PASSWORD).unwrap();
        (dir, store)
    }

    fn attempt<'a>(user: &'a str, password: &'a str, from: &'a str) -> LoginAttempt<'a> {
        LoginAttempt {
            user,
            password,
            from,
        }
    }

    fn retry_after(result: Result<SignedIn, AdminAuthError>) -> Duration {
        match result {
            Err(AdminAuthError::Locked { retry_after }) => retry_after,
            other => panic!("expected a lockout, got {other:?}"),
        }
    }

    #[test]
    fn set_password_refuses_short_passwords_and_bad_names_and_stores_only_a_hash() {
        let (_dir, store) = crate::store::scratch();
        assert!(matches!(
            set_password(&store, "admin", "nine char"),
            Err(AdminAuthError::WeakPassword)
        ));
        assert!(matches!(
            set_password(&store, " \t", PASSWORD),
            Err(AdminAuthError::BadUserName)
        ));
        assert!(!password_is_set(&store).unwrap());
        set_password(&store, " owner ", PASSWORD).unwrap();
        let account = store.read(admin_users::user).unwrap().unwrap();
        assert_eq!(account.name, "owner");
        assert!(account.password_hash.starts_with("$argon2id$"));
        assert!(!account.password_hash.contains(PASSWORD));
    }

    #[test]
    fn a_session_lives_until_it_expires_or_signs_out() {
        let (_dir, store) = shop();
        let now = OffsetDateTime::now_utc();
        let signed_in = login(&store, &attempt(" admin ", PASSWORD, "10.0.0.1"), TTL, now).unwrap();
        assert_eq!(signed_in.session.user, "admin");
        assert_eq!(signed_in.token.len(), 64);
        let found = session(&store, &signed_in.token, now).unwrap();
        assert_eq!(found.as_ref(), Some(&signed_in.session));
        let stored: Vec<String> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT token_hash FROM admin_sessions")?;
                let hashes = stmt.query_map([], |r| r.get(0))?;
                Ok(hashes.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert!(
            !stored.is_empty() && !stored.contains(&signed_in.token),
            "only hashes are stored"
        );
        let later = now + TTL + Duration::from_secs(1);
        assert_eq!(session(&store, &signed_in.token, later).unwrap(), None);
        assert!(logout(&store, &signed_in.token).unwrap());
        assert_eq!(session(&store, &signed_in.token, now).unwrap(), None);
        assert!(!logout(&store, &signed_in.token).unwrap(), "already ended");
    }

    #[test]
    fn a_new_password_signs_every_session_out() {
        let (_dir, store) = shop();
        let now = OffsetDateTime::now_utc();
        let signed_in = login(&store, &attempt("admin", PASSWORD, "10.0.0.1"), TTL, now).unwrap();
        set_password(&store, "admin", "another long password").unwrap();
        assert_eq!(session(&store, &signed_in.token, now).unwrap(), None);
        assert!(matches!(
            login(&store, &attempt("admin", PASSWORD, "10.0.0.1"), TTL, now),
            Err(AdminAuthError::BadCredentials)
        ));
    }

    #[test]
    fn five_failures_for_a_name_lock_it_for_fifteen_minutes_from_anywhere() {
        let (_dir, store) = shop();
        let start = OffsetDateTime::now_utc();
        for i in 0..MAX_FAILURES {
            let from = format!("10.0.0.{i}");
            let at = start + Duration::from_secs(60 * i as u64);
            assert!(matches!(
                login(&store, &attempt("admin", "wrong password", &from), TTL, at),
                Err(AdminAuthError::BadCredentials)
            ));
        }
        let locked_at = start + Duration::from_secs(60 * (MAX_FAILURES - 1) as u64);
        let wait = retry_after(login(
            &store,
            &attempt("admin", PASSWORD, "10.9.9.9"),
            TTL,
            locked_at,
        ));
        assert_eq!(
            wait, LOCKOUT,
            "the right password does not get past a lockout"
        );
        let almost = locked_at + LOCKOUT - Duration::from_secs(1);
        assert_eq!(
            retry_after(login(
                &store,
                &attempt("admin", PASSWORD, "10.9.9.9"),
                TTL,
                almost
            )),
            Duration::from_secs(1)
        );
        let after = locked_at + LOCKOUT;
        assert!(login(&store, &attempt("admin", PASSWORD, "10.9.9.9"), TTL, after).is_ok());
    }

    #[test]
    fn five_failures_from_an_address_lock_it_whatever_the_name() {
        let (_dir, store) = shop();
        let now = OffsetDateTime::now_utc();
        for name in ["a", "b", "c", "d", "e"] {
            let _ = login(&store, &attempt(name, PASSWORD, "10.0.0.7"), TTL, now);
        }
        retry_after(login(
            &store,
            &attempt("admin", PASSWORD, "10.0.0.7"),
            TTL,
            now,
        ));
        assert!(
            login(&store, &attempt("admin", PASSWORD, "10.0.0.8"), TTL, now).is_ok(),
            "another address and the name itself are not locked"
        );
    }

    #[test]
    fn old_failures_and_a_success_reset_the_count() {
        let (_dir, store) = shop();
        let start = OffsetDateTime::now_utc();
        let fail = |at| {
            login(
                &store,
                &attempt("admin", "wrong password", "10.0.0.1"),
                TTL,
                at,
            )
        };
        for _ in 0..MAX_FAILURES - 1 {
            assert!(fail(start).is_err());
        }
        let later = start + FAILURE_WINDOW + Duration::from_secs(1);
        assert!(matches!(fail(later), Err(AdminAuthError::BadCredentials)));
        assert!(login(&store, &attempt("admin", PASSWORD, "10.0.0.1"), TTL, later).is_ok());
        for _ in 0..MAX_FAILURES - 1 {
            assert!(matches!(fail(later), Err(AdminAuthError::BadCredentials)));
        }
        assert!(
            login(&store, &attempt("admin", PASSWORD, "10.0.0.1"), TTL, later).is_ok(),
            "a success forgot the failures before it"
        );
    }

    #[test]
    fn a_new_password_lifts_a_lockout() {
        let (_dir, store) = shop();
        let now = OffsetDateTime::now_utc();
        for _ in 0..MAX_FAILURES {
            let _ = login(
                &store,
                &attempt("admin", "wrong password", "10.0.0.1"),
                TTL,
                now,
            );
        }
        retry_after(login(
            &store,
            &attempt("admin", PASSWORD, "10.0.0.1"),
            TTL,
            now,
        ));
        set_password(&store, "admin", PASSWORD).unwrap();
        assert!(login(&store, &attempt("admin", PASSWORD, "10.0.0.1"), TTL, now).is_ok());
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let one = "a".repeat(64);
        let two = "b".repeat(64);
        let token = csrf_token(&one);
        assert_eq!(token.len(), 64);
        assert!(csrf_matches(&one, &token));
        assert!(
            csrf_matches(&one, &token.to_uppercase()),
            "hex in either case"
        );
        assert!(!csrf_matches(&two, &token));
        assert!(!csrf_matches(&one, ""));
        assert!(!csrf_matches(&one, "not hex"));
        assert!(!csrf_matches(&one, &token[..62]));
    }
}
