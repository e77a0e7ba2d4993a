//! Admin dashboard rows: the admin account, its sessions, failed sign-ins and lockouts.
//!
//! Stores what `crate::admin_auth` decided (hashes, expiry times, when to lock);
//! it holds no rule about passwords, tokens or how many failures are too many,
//! and knows nothing of cookies or HTTP.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// The admin account with its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
}

/// A dashboard session that has not expired, with its user's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub user: String,
    pub expires_at: String,
}

/// What a failed sign-in or a lockout is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// The user name that was tried.
    User,
    /// The address the attempt came from.
    Ip,
}

impl LockScope {
    fn as_str(self) -> &'static str {
        match self {
            LockScope::User => "user",
            LockScope::Ip => "ip",
        }
    }
}

/// The admin account, if a password was ever set.
pub fn user(conn: &Connection) -> Result<Option<AdminUser>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, name, password_hash FROM admin_users WHERE id = 1")?
        .query_row([], |row| {
            Ok(AdminUser {
                id: row.get(0)?,
                name: row.get(1)?,
                password_hash: row.get(2)?,
            })
        })
        .optional()?)
}

/// Creates or replaces the one admin account.
pub fn save_user(
    tx: &Transaction,
    name: &str,
    password_hash: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO admin_users (id, name, password_hash, updated_at) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = ?1, password_hash = ?2, updated_at = ?3",
    )?
    .execute(params![name, password_hash, now])?;
    Ok(())
}

pub fn insert_session(
    tx: &Transaction,
    token_hash: &str,
    user_id: i64,
    now: &str,
    expires_at: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![token_hash, user_id, now, expires_at])?;
    Ok(tx.last_insert_rowid())
}

/// The live session whose token hashes to `token_hash` at time `now`.
pub fn find_live_session(
    conn: &Connection,
    token_hash: &str,
    now: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id, u.name, s.expires_at
             FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )?
        .query_row(params![token_hash, now], |row| {
            Ok(SessionRow {
                id: row.get(0)?,
                user: row.get(1)?,
                expires_at: row.get(2)?,
            })
        })
        .optional()?)
}

/// Ends one session; false when there was none with this token.
pub fn delete_session(tx: &Transaction, token_hash: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM admin_sessions WHERE token_hash = ?1")?
        .execute([token_hash])?
        > 0)
}

/// Ends every session (a new password signs everyone out).
pub fn delete_all_sessions(tx: &Transaction) -> Result<usize, StoreError> {
    Ok(tx.execute("DELETE FROM admin_sessions", [])?)
}

pub fn delete_expired_sessions(tx: &Transaction, now: &str) -> Result<usize, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM admin_sessions WHERE expires_at <= ?1")?
        .execute([now])?)
}

/// When the lockout of `subject` ends, if it is locked at `now`.
pub fn locked_until(
    conn: &Connection,
    scope: LockScope,
    subject: &str,
    now: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT locked_until FROM admin_lockouts
             WHERE scope = ?1 AND subject = ?2 AND locked_until > ?3",
        )?
        .query_row(params![scope.as_str(), subject, now], |row| row.get(0))
        .optional()?)
}

pub fn insert_failure(
    tx: &Transaction,
    scope: LockScope,
    subject: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO admin_login_failures (scope, subject, failed_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![scope.as_str(), subject, now])?;
    Ok(())
}

/// Failed sign-ins counted against `subject` at or after `since`.
pub fn failures_since(
    tx: &Transaction,
    scope: LockScope,
    subject: &str,
    since: &str,
) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT count(*) FROM admin_login_failures
             WHERE scope = ?1 AND subject = ?2 AND failed_at >= ?3",
        )?
        .query_row(params![scope.as_str(), subject, since], |row| row.get(0))?)
}

/// Forgets the failures counted against `subject`.
pub fn clear_failures(tx: &Transaction, scope: LockScope, subject: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM admin_login_failures WHERE scope = ?1 AND subject = ?2")?
        .execute(params![scope.as_str(), subject])?;
    Ok(())
}

/// Forgets failures older than `before` and lockouts that ended by then.
pub fn sweep(tx: &Transaction, before: &str, now: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM admin_login_failures WHERE failed_at < ?1")?
        .execute([before])?;
    tx.prepare_cached("DELETE FROM admin_lockouts WHERE locked_until <= ?1")?
        .execute([now])?;
    Ok(())
}

/// Refuses `subject` until `until`.
pub fn lock(
    tx: &Transaction,
    scope: LockScope,
    subject: &str,
    until: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO admin_lockouts (scope, subject, locked_until) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, subject) DO UPDATE SET locked_until = ?3",
    )?
    .execute(params![scope.as_str(), subject, until])?;
    Ok(())
}

/// Lifts every lockout and forgets every failure (a new password is a fresh start).
pub fn clear_lockouts(tx: &Transaction) -> Result<(), StoreError> {
    tx.execute_batch("DELETE FROM admin_lockouts; DELETE FROM admin_login_failures;")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lookups_use_the_subject_index() {
        let (_dir, store) = crate::store::scratch();
        let plan = store
            .read(|c| {
                Ok(crate::store::query_plan(
                    c,
                    "SELECT count(*) FROM admin_login_failures
                     WHERE scope = 'ip' AND subject = '127.0.0.1' AND failed_at >= '2026'",
                ))
            })
            .unwrap();
        assert!(plan.contains("admin_login_failures_subject"), "{plan}");
    }

    #[test]
    fn saving_the_user_twice_keeps_one_row_and_sessions_need_their_user() {
        let (_dir, store) = crate::store::scratch();
        store
            .write(|tx| save_user(tx, "admin", "h1", "2026-01-01T00:00:00Z"))
            .unwrap();
        store
            .write(|tx| save_user(tx, "owner", "h2", "2026-01-02T00:00:00Z"))
            .unwrap();
        let saved = store.read(user).unwrap().unwrap();
        assert_eq!((saved.id, saved.name.as_str()), (1, "owner"));
        assert_eq!(saved.password_hash, "h2");
        let orphan = store
            .write(|tx| insert_session(tx, "x", 2, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"));
        assert!(orphan.is_err(), "a session must belong to the admin user");
    }
}
