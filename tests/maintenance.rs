//! Data retention with the real binary on a real database file:
//! `shopkeep maintenance --dry-run` counts and changes nothing; `shopkeep
//! maintenance` archives old conversations (readable JSON lines), deletes
//! them and old model-call rows, keeps recent ones, taken-over ones, ones
//! with an open order, and every order; VACUUM then shrinks the file.

mod common;

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::Value;
use shopkeep::store::{Store, StoreOptions};

const OLD: &str = "2020-01-01T00:00:00Z";
const OLD_CONVERSATIONS: usize = 1500;
const MESSAGES_EACH: usize = 4;

fn now() -> String {
    shopkeep::store::now_utc()
}

/// A shop whose database holds many old conversations and some that must stay.
fn seeded_shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("shopkeep.db"), &StoreOptions::default()).unwrap();
    let recent = now();
    store
        .write(|tx| {
            let text = "a shopper asking about gluten free pasta under five dollars ".repeat(8);
            for n in 0..OLD_CONVERSATIONS {
                conversation(tx, &format!("old-{n}"), None, OLD, &text)?;
            }
            for n in 0..10 {
                conversation(tx, &format!("new-{n}"), None, &recent, "hello")?;
            }
            conversation(tx, "old-taken", None, OLD, "a person please")?;
            tx.execute(
                "UPDATE conversations SET taken_over_by = 'admin' WHERE id = 'old-taken'",
                [],
            )?;
            let open = session(tx, "open")?;
            conversation(tx, "old-open-order", Some(open), OLD, "where is my order")?;
            order(tx, "SK-1", open, "paid")?;
            let done = session(tx, "done")?;
            conversation(tx, "old-done-order", Some(done), OLD, "thanks")?;
            order(tx, "SK-2", done, "fulfilled")?;
            for (n, at) in [OLD, OLD, &recent].into_iter().enumerate() {
                tx.execute(
                    "INSERT INTO model_calls (at, day, month, conversation_id, class, subject, tier,
                         backend, model, purpose, input_tokens, output_tokens, cached_tokens,
                         latency_ms, cost_micros, ok)
                     VALUES (?1, substr(?1, 1, 10), substr(?1, 1, 7), ?2, 'guest', 'session:1',
                         'starter', 'local', 'qwen', 'chat', 10, 5, 0, 100, 0, 1)",
                    params![at, format!("call-{n}")],
                )?;
            }
            Ok(())
        })
        .unwrap();
    store.close().unwrap();
    dir
}

fn session(tx: &rusqlite::Transaction, token: &str) -> Result<i64, shopkeep::store::StoreError> {
    tx.execute(
        "INSERT INTO sessions (token_hash, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?2, '2999-01-01T00:00:00Z')",
        params![token, OLD],
    )?;
    Ok(tx.last_insert_rowid())
}

fn order(
    tx: &rusqlite::Transaction,
    number: &str,
    session: i64,
    status: &str,
) -> Result<(), shopkeep::store::StoreError> {
    tx.execute(
        "INSERT INTO orders (number, session_id, status, currency, subtotal_minor, discount_minor,
             tax_minor, total_minor, tax_inclusive, payment_method, contact, delivery,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, 'USD', 500, 0, 0, 500, 0, 'cash', '{}', '{}', ?4, ?4)",
        params![number, session, status, OLD],
    )?;
    Ok(())
}

fn conversation(
    tx: &rusqlite::Transaction,
    id: &str,
    session: Option<i64>,
    at: &str,
    text: &str,
) -> Result<(), shopkeep::store::StoreError> {
    tx.execute(
        "INSERT INTO conversations (id, session_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![id, session, at],
    )?;
    for n in 0..MESSAGES_EACH {
        tx.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                if n % 2 == 0 { "shopper" } else { "assistant" },
                text,
                at
            ],
        )?;
    }
    Ok(())
}

fn open(dir: &Path) -> Connection {
    Connection::open(dir.join("shopkeep.db")).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

fn ids(conn: &Connection) -> HashSet<String> {
    let mut statement = conn.prepare("SELECT id FROM conversations").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn maintenance(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["maintenance"];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = common::cli(dir, &all);
    assert!(status.success(), "maintenance failed: {stdout}\n{stderr}");
    stdout
}

#[test]
fn a_dry_run_counts_and_changes_nothing() {
    let shop = seeded_shop();
    let before = ids(&open(shop.path()));
    let bytes_before = std::fs::metadata(shop.path().join("shopkeep.db"))
        .unwrap()
        .len();
    let out = maintenance(shop.path(), &["--dry-run"]);
    let expected = OLD_CONVERSATIONS + 1; // and the one whose order is done
    assert!(
        out.contains(&format!(
            "would delete {expected} ({} messages)",
            expected * MESSAGES_EACH
        )),
        "{out}"
    );
    assert!(out.contains("would delete 2 model calls"), "{out}");
    assert!(out.contains("vacuum: not run (dry run)"), "{out}");
    assert_eq!(ids(&open(shop.path())), before);
    assert!(!shop.path().join("archive").exists());
    assert_eq!(
        std::fs::metadata(shop.path().join("shopkeep.db"))
            .unwrap()
            .len(),
        bytes_before
    );
}

#[test]
fn old_conversations_are_archived_and_deleted_and_vacuum_shrinks_the_file() {
    let shop = seeded_shop();
    let pages_before = count(&open(shop.path()), "PRAGMA page_count");
    let out = maintenance(shop.path(), &[]);
    let expected = OLD_CONVERSATIONS + 1;
    assert!(
        out.contains(&format!(
            "deleted {expected} ({} messages), archived to",
            expected * MESSAGES_EACH
        )),
        "{out}"
    );
    assert!(out.contains("deleted 2 model calls"), "{out}");

    let conn = open(shop.path());
    let left = ids(&conn);
    for kept in ["old-taken", "old-open-order", "new-0", "new-9"] {
        assert!(left.contains(kept), "{kept} should stay");
    }
    assert_eq!(left.len(), 12);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM orders"),
        2,
        "orders stay"
    );
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM model_calls"), 1);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM messages"),
        12 * MESSAGES_EACH as i64
    );
    let broken = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(broken, 0, "no reference is left dangling");

    let pages_after = count(&conn, "PRAGMA page_count");
    assert!(
        pages_after * 4 < pages_before,
        "VACUUM should shrink the file: {pages_before} -> {pages_after} pages"
    );
    assert_eq!(count(&conn, "PRAGMA freelist_count"), 0);
    let reclaimed: u64 = out
        .lines()
        .find_map(|l| l.split("reclaimed ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reclaimed bytes in: {out}"));
    assert!(reclaimed > 0, "{out}");

    let archives: Vec<_> = std::fs::read_dir(shop.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let decoded = zstd::decode_all(std::fs::File::open(&archives[0]).unwrap()).unwrap();
    let lines: Vec<Value> = decoded
        .as_slice()
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(lines.len(), expected);
    let archived: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert!(archived.contains("old-0") && archived.contains("old-done-order"));
    assert!(archived.is_disjoint(&left.iter().map(String::as_str).collect()));
    assert_eq!(
        lines[0]["messages"].as_array().unwrap().len(),
        MESSAGES_EACH
    );
    assert!(
        lines[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("gluten free pasta")
    );

    let again = maintenance(shop.path(), &["--no-vacuum"]);
    assert!(again.contains("deleted 0 (0 messages)"), "{again}");
}
