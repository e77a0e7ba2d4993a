//! Whole-database copies: consistent snapshots for backups, the facts a
//! backup's manifest records (schema version, rows and a checksum per
//! table), and copying a snapshot back into a live database.
//!
//! Owns the SQL of those copies only. It must not know about archives,
//! manifests or files other than the SQLite files it is handed.

use std::path::Path;

use rusqlite::backup::Backup;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::StoreError;

/// One table's size and content fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TableFacts {
    pub name: String,
    pub rows: u64,
    /// SHA-256 over the table's rows, independent of their physical order.
    pub sha256: String,
}

/// Writes a compacted, consistent copy of the database `conn` reads to
/// `dest` (which must not exist). One statement, one read transaction: in WAL
/// mode writers carry on meanwhile.
pub fn vacuum_into(conn: &Connection, dest: &Path) -> Result<(), StoreError> {
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::Conflict(format!("{} is not a UTF-8 path", dest.display())))?;
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// The schema version (`PRAGMA user_version`) of a database.
pub fn schema_version(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Rows and checksum of every table, by name, read in one transaction so the
/// figures agree with each other.
pub fn table_facts(conn: &Connection) -> Result<Vec<TableFacts>, StoreError> {
    conn.execute_batch("BEGIN")?;
    let facts = tables(conn).and_then(|names| {
        names
            .into_iter()
            .map(|name| facts_of(conn, name))
            .collect::<Result<Vec<_>, _>>()
    });
    conn.execute_batch("COMMIT")?;
    facts
}

fn tables(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'
         ORDER BY name",
    )?;
    let names = stmt.query_map([], |row| row.get(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

/// Hashes each row, sorts the row hashes and hashes them together: the same
/// rows give the same checksum whatever order VACUUM left them in.
fn facts_of(conn: &Connection, name: String) -> Result<TableFacts, StoreError> {
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let mut stmt = conn.prepare(&format!("SELECT * FROM {quoted}"))?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut digests: Vec<[u8; 32]> = Vec::new();
    while let Some(row) = rows.next()? {
        let mut hasher = Sha256::new();
        for index in 0..columns {
            hash_value(&mut hasher, row.get_ref(index)?);
        }
        digests.push(hasher.finalize().into());
    }
    digests.sort_unstable();
    let mut table = Sha256::new();
    for digest in &digests {
        table.update(digest);
    }
    Ok(TableFacts {
        name,
        rows: digests.len() as u64,
        sha256: hex::encode(table.finalize()),
    })
}

/// Each value with a type tag and a length, so ("ab", "c") and ("a", "bc") differ.
fn hash_value(hasher: &mut Sha256, value: ValueRef<'_>) {
    let (tag, bytes): (u8, Vec<u8>) = match value {
        ValueRef::Null => (0, Vec::new()),
        ValueRef::Integer(i) => (1, i.to_le_bytes().to_vec()),
        ValueRef::Real(f) => (2, f.to_le_bytes().to_vec()),
        ValueRef::Text(t) => (3, t.to_vec()),
        ValueRef::Blob(b) => (4, b.to_vec()),
    };
    hasher.update([tag]);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
}

/// What a database file holds, for a backup's manifest and its verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// What `PRAGMA integrity_check` says: "ok" when the file is sound.
    pub integrity: String,
    pub schema_version: usize,
    pub tables: Vec<TableFacts>,
}

/// Reads the facts of the database file at `path` without changing it.
pub fn inspect(path: &Path) -> Result<FileFacts, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check(1)", [], |row| row.get(0))?;
    Ok(FileFacts {
        integrity,
        schema_version: schema_version(&conn)?,
        tables: table_facts(&conn)?,
    })
}

/// Folds the write-ahead log of the database file at `path` into it and
/// closes, which removes the log; no other process may have it open.
pub fn fold_wal(path: &Path) -> Result<(), StoreError> {
    let conn = Connection::open(path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, error)| StoreError::Sqlite(error))
}

/// Replaces everything in `dest` with the database file at `source`, in one
/// write transaction: readers of `dest` see the old contents or the new,
/// never a mix. The caller holds the only writer.
pub fn copy_into(dest: &mut Connection, source: &Path) -> Result<(), StoreError> {
    let source = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let backup = Backup::new(&source, dest)?;
    // -1: every page in one step, so the destination changes in one transaction.
    backup.step(-1)?;
    Ok(())
}

/// What the live database held just before a restore that the restored one
/// must account for.
#[derive(Debug, Clone)]
pub struct BeforeRestore {
    /// Every product id: their index entries must go if the restored database lacks them.
    product_ids: Vec<i64>,
    /// The content counters: cached answers were keyed on them.
    version: super::content::ContentVersion,
}

pub fn before_restore(conn: &Connection) -> Result<BeforeRestore, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM products")?;
    let ids = stmt.query_map([], |row| row.get(0))?;
    Ok(BeforeRestore {
        product_ids: ids.collect::<Result<_, _>>()?,
        version: super::content::version(conn)?,
    })
}

/// Brings the restored database's bookkeeping past the replaced one's:
/// every product old and new is queued for the search index (which then
/// drops products the restored database lacks), and the content counters
/// move beyond both, so no answer cached before the restore is served after.
/// Returns how many products now stored were queued.
pub fn follow_restore(conn: &Connection, before: &BeforeRestore) -> Result<usize, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let queued = super::search::queue_all(&tx)?;
    let mut stmt = tx.prepare(
        "INSERT OR IGNORE INTO search_outbox (product_id, seq)
         SELECT ?1, (SELECT coalesce(max(seq), 0) + 1 FROM search_outbox)",
    )?;
    for id in &before.product_ids {
        stmt.execute([id])?;
    }
    drop(stmt);
    tx.execute(
        "UPDATE content_version SET catalog = max(catalog, ?1) + 1, faq = max(faq, ?2) + 1 WHERE id = 1",
        [before.version.catalog, before.version.faq],
    )?;
    tx.commit()?;
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn add_product(store: &Store, handle: &str) {
        store
            .write(|tx| {
                Ok(tx.execute(
                    "INSERT INTO products (handle, name, price_minor, content_hash, created_at, updated_at)
                     VALUES (?1, ?1, 100, '', '', '')",
                    [handle],
                )?)
            })
            .unwrap();
    }

    fn facts(store: &Store) -> Vec<TableFacts> {
        store.read(table_facts).unwrap()
    }

    #[test]
    fn a_snapshot_has_the_same_facts_and_copies_back_in_one_go() {
        let (dir, store) = crate::store::scratch();
        add_product(&store, "bread");
        add_product(&store, "butter");
        let snapshot = dir.path().join("snap.db");
        store.read(|c| vacuum_into(c, &snapshot)).unwrap();
        let inspected = inspect(&snapshot).unwrap();
        assert_eq!(inspected.integrity, "ok");
        assert_eq!(inspected.schema_version, super::super::MIGRATIONS.len());
        assert_eq!(inspected.tables, facts(&store));

        add_product(&store, "jam");
        let changed = facts(&store);
        let products = |f: &[TableFacts]| f.iter().find(|t| t.name == "products").unwrap().rows;
        assert_eq!(products(&changed), 3);
        store.replace_with(&snapshot).unwrap();
        let restored = facts(&store);
        assert_eq!(
            products(&restored),
            2,
            "the jam added after the snapshot is gone"
        );
        let queued: Vec<i64> = store
            .read(|c| {
                let mut stmt =
                    c.prepare("SELECT product_id FROM search_outbox ORDER BY product_id")?;
                let ids = stmt.query_map([], |r| r.get(0))?;
                Ok(ids.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(
            queued.len(),
            3,
            "the index hears of all three, jam to be dropped: {queued:?}"
        );
    }

    #[test]
    fn checksums_tell_content_apart_whatever_the_row_order() {
        let (_dir, store) = crate::store::scratch();
        add_product(&store, "a");
        add_product(&store, "b");
        let first = facts(&store);
        store
            .write(|tx| Ok(tx.execute("UPDATE products SET name = 'B' WHERE handle = 'b'", [])?))
            .unwrap();
        let second = facts(&store);
        let sum = |f: &[TableFacts]| {
            f.iter()
                .find(|t| t.name == "products")
                .unwrap()
                .sha256
                .clone()
        };
        assert_ne!(sum(&first), sum(&second));
        let mut hasher_a = Sha256::new();
        hash_value(&mut hasher_a, ValueRef::Text(b"ab"));
        hash_value(&mut hasher_a, ValueRef::Text(b"c"));
        let mut hasher_b = Sha256::new();
        hash_value(&mut hasher_b, ValueRef::Text(b"a"));
        hash_value(&mut hasher_b, ValueRef::Text(b"bc"));
        assert_ne!(hasher_a.finalize(), hasher_b.finalize());
    }
}
