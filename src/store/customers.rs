//! Registered customer rows: create and find by email or id.
//!
//! Holds only the password's argon2id hash, which `commerce::shopper` makes.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::StoreError;

/// A registered customer, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub class: String,
    pub created_at: String,
}

const COLUMNS: &str = "id, email, name, class, created_at";

fn read(row: &Row) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        class: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// Inserts a customer; `None` when the email is already registered.
pub fn insert(
    tx: &Transaction,
    email: &str,
    password_hash: &str,
    name: &str,
    now: &str,
) -> Result<Option<i64>, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO customers (email, password_hash, name, created_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (email) DO NOTHING",
        )?
        .execute(params![email, password_hash, name, now])?;
    Ok((inserted == 1).then(|| tx.last_insert_rowid()))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Customer>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM customers WHERE id = ?1"))?
        .query_row([id], read)
        .optional()?)
}

/// The customer with this email (case-insensitive) and their password hash.
pub fn find_by_email(
    conn: &Connection,
    email: &str,
) -> Result<Option<(Customer, String)>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, password_hash FROM customers WHERE email = ?1"
        ))?
        .query_row([email], |row| Ok((read(row)?, row.get(5)?)))
        .optional()?)
}
