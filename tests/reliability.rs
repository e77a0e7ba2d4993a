//! The reliability suite (issue 9): what production does to a shop, done to
//! the real binary on a real data directory.
//!
//! - SIGKILL at a random moment under mixed load (search, product pages,
//!   cart, checkout, chat), again and again: after every restart each order
//!   the server acknowledged is there and SQLite's `integrity_check` is ok.
//! - A backup taken while orders are placed restores to the same row count
//!   and checksum in every table, checked here with the suite's own reading
//!   of the archive's database, not only the manifest the server wrote.
//! - A full disk: writes fail with a clear 507, reads go on, the process
//!   stays up, and once space is freed writes work and nothing is lost.
//! - A broken local model, a broken embedding model and an unreachable
//!   remote API: the shop starts, answers, and `/readyz` says why.
//!
//! Every part is bounded in time and prints the figures it measured (run
//! with `--nocapture` to see them).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::shop::{Chat, Shopper, checkout_details, create_product};
use common::{TestServer, cli, cli_with_env};
use reqwest::Method;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shopkeep::backup::archive;
use shopkeep::store::snapshot;

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// A small xorshift generator: the kill moments vary from run to run, and the
/// seed is printed so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn from_clock() -> Dice {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(nanos | 1);
        println!("reliability: seed {seed} (set RELIABILITY_SEED to replay)");
        Dice(seed)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

/// Waits (bounded) until `/readyz` says ready; returns the report.
/// The load here comes from one address: the per-address limits of chat
/// and checkout would refuse most of it.
const UNLIMITED: &[(&str, &str)] = &[
    ("SHOPKEEP_LIMITS_CHECKOUT_PER_MINUTE", "0"),
    ("SHOPKEEP_LIMITS_CHAT_PER_MINUTE", "0"),
];

fn wait_until_ready(server: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = server.client.get(server.url("/readyz")).send()
            && let Ok(ready) = response.json::<Value>()
            && ready["ready"] == true
        {
            return ready;
        }
        assert!(Instant::now() < deadline, "the server never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens the shop's database read-only beside the running server (WAL lets
/// another process read while it writes).
fn open_read_only(data_dir: &Path) -> Connection {
    open_read_only_file(&data_dir.join("shopkeep.db"))
}

fn open_read_only_file(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", path.display()))
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}

fn stored_orders(conn: &Connection) -> BTreeSet<String> {
    conn.prepare("SELECT number FROM orders")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Orders missing their lines or with a subtotal their lines do not add up to.
fn half_written_orders(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM orders o WHERE
           NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)
           OR o.subtotal_minor <> (SELECT sum(line_total_minor) FROM order_lines l WHERE l.order_id = o.id)",
        [],
        |row| row.get(0),
    )
    .unwrap()
}

fn assert_order_served(server: &TestServer, number: &str) {
    let response = server
        .admin(Method::GET, &format!("/api/v1/admin/orders/{number}"))
        .send()
        .expect("GET order");
    assert_eq!(
        response.status(),
        200,
        "acknowledged order {number} is served after the restart"
    );
}

// ---------------------------------------------------------------------------
// 1. SIGKILL loop under mixed load
// ---------------------------------------------------------------------------

/// What the shoppers saw during one stretch of load.
#[derive(Default)]
struct LoadLog {
    acknowledged: Mutex<Vec<String>>,
    /// Successful (2xx) answers by kind of request.
    answered: Mutex<BTreeMap<&'static str, usize>>,
    /// Failures while the server was meant to be up (5xx, dropped connections).
    failures: Mutex<Vec<String>>,
}

impl LoadLog {
    /// Records a response; None once the server is gone.
    fn note(
        &self,
        what: &'static str,
        sent: reqwest::Result<reqwest::blocking::Response>,
        killed: &AtomicBool,
    ) -> Option<reqwest::blocking::Response> {
        match sent {
            Ok(response) => {
                if response.status().is_success() {
                    *self.answered.lock().unwrap().entry(what).or_default() += 1;
                }
                if response.status().is_server_error() && !killed.load(Ordering::SeqCst) {
                    self.failures
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {}", response.status()));
                }
                Some(response)
            }
            Err(error) => {
                if !killed.load(Ordering::SeqCst) {
                    self.failures
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {error}"));
                }
                None
            }
        }
    }
}

const SEARCHES: [&str; 4] = ["pasta", "gluten free", "coffee beans", "olive oil"];
const CHATS: [&str; 3] = [
    "do you have pasta?",
    "what is in my cart",
    "show me something for breakfast",
];

/// One shopper's mix of browsing, buying and chatting until the kill.
fn shop_until_killed(
    shopper: &Shopper,
    worker: usize,
    flour: i64,
    browse: &[i64],
    killed: &AtomicBool,
    log: &LoadLog,
) {
    let mut chat = Chat::new(shopper);
    for step in worker.. {
        if killed.load(Ordering::SeqCst) {
            return;
        }
        let alive = match step % 4 {
            0 => {
                let q = SEARCHES[step % SEARCHES.len()];
                let sent =
                    shopper.try_send(Method::GET, &format!("/api/v1/search?q={q}"), None, &[]);
                log.note("search", sent, killed).is_some()
            }
            1 => {
                let id = browse[step % browse.len()];
                let sent =
                    shopper.try_send(Method::GET, &format!("/api/v1/products/{id}"), None, &[]);
                log.note("product page", sent, killed).is_some()
            }
            2 => buy(shopper, flour, killed, log),
            _ => {
                let mut body = json!({"message": CHATS[step % CHATS.len()]});
                if let Some(id) = &chat.conversation {
                    body["conversation_id"] = json!(id);
                }
                let sent = shopper.try_send(Method::POST, "/api/v1/chat", Some(body), &[]);
                match log.note("chat", sent, killed) {
                    Some(response) => {
                        if let Ok(reply) = response.json::<Value>() {
                            chat.conversation =
                                reply["conversation_id"].as_str().map(str::to_string);
                        }
                        true
                    }
                    None => false,
                }
            }
        };
        if !alive {
            return;
        }
    }
}

/// Adds to the cart and checks out; records the order number on a 201.
fn buy(shopper: &Shopper, flour: i64, killed: &AtomicBool, log: &LoadLog) -> bool {
    let sent = shopper.try_send(
        Method::POST,
        "/api/v1/cart/items",
        Some(json!({"product_id": flour, "quantity": 1})),
        &[],
    );
    if log.note("add to cart", sent, killed).is_none() {
        return false;
    }
    let sent = shopper.try_send(
        Method::POST,
        "/api/v1/checkout",
        Some(checkout_details()),
        &[],
    );
    let Some(response) = log.note("checkout", sent, killed) else {
        return false;
    };
    if response.status() == 201 {
        // Only a body read in full is an acknowledgement the client saw.
        if let Ok(order) = response.json::<Value>()
            && let Some(number) = order["number"].as_str()
        {
            log.acknowledged.lock().unwrap().push(number.to_string());
        }
    }
    true
}

/// Runs four shoppers against `server` and SIGKILLs it after `after`.
fn load_then_kill(server: &TestServer, flour: i64, browse: &[i64], after: Duration) -> LoadLog {
    let log = LoadLog::default();
    let killed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let shopper = Shopper::new(server);
            let (killed, log) = (&killed, &log);
            scope.spawn(move || shop_until_killed(&shopper, worker, flour, browse, killed, log));
        }
        std::thread::sleep(after);
        killed.store(true, Ordering::SeqCst);
        server.signal("KILL");
    });
    log
}

fn browsable_products(server: &TestServer) -> Vec<i64> {
    server.get_json("/api/v1/products?limit=20")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn sigkill_under_mixed_load_loses_no_acknowledged_order_and_leaves_a_sound_database() {
    const CYCLES: usize = 8;
    let mut dice = Dice::from_clock();
    let suite_started = Instant::now();
    let mut server = TestServer::start_with(&[], UNLIMITED);
    wait_until_ready(&server);
    let flour = create_product(&server, "reliability-flour", "1.25", Some(1_000_000));
    let browse = browsable_products(&server);
    assert!(
        !browse.is_empty(),
        "the demo catalog has products to browse"
    );

    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut restart_ms: Vec<u128> = Vec::new();
    let mut answered: BTreeMap<&'static str, usize> = BTreeMap::new();
    for cycle in 0..CYCLES {
        let after = Duration::from_millis(dice.between(300, 1500));
        let log = load_then_kill(&server, flour, &browse, after);
        let _ = server.wait();
        let failures = log.failures.into_inner().unwrap();
        assert!(
            failures.is_empty(),
            "cycle {cycle}: requests failed while the server was up: {failures:?}"
        );
        let acked = log.acknowledged.into_inner().unwrap();
        for (kind, count) in log.answered.into_inner().unwrap() {
            *answered.entry(kind).or_default() += count;
        }

        let restarting = Instant::now();
        let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
        server = TestServer::start_in(data_dir, &[], UNLIMITED);
        wait_until_ready(&server);
        restart_ms.push(restarting.elapsed().as_millis());

        for number in &acked {
            assert_order_served(&server, number);
        }
        acknowledged.extend(acked);
        let conn = open_read_only(server.data_dir.path());
        assert_eq!(integrity(&conn), "ok", "cycle {cycle}: integrity_check");
        let stored = stored_orders(&conn);
        let lost: Vec<&String> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "cycle {cycle}: acknowledged orders lost: {lost:?}"
        );
        assert_eq!(
            half_written_orders(&conn),
            0,
            "cycle {cycle}: no half order"
        );
    }
    for number in &acknowledged {
        assert_order_served(&server, number);
    }
    for kind in ["search", "product page", "add to cart", "checkout", "chat"] {
        assert!(
            answered.get(kind).is_some_and(|n| *n > 0),
            "the mix ran {kind}: {answered:?}"
        );
    }
    restart_ms.sort_unstable();
    println!(
        "reliability: kill -9 loop: {CYCLES} cycles, answered {answered:?}, {} orders acknowledged and all present, \
         restart to ready min {} ms / median {} ms / max {} ms, {:.1} s in all",
        acknowledged.len(),
        restart_ms[0],
        restart_ms[restart_ms.len() / 2],
        restart_ms[restart_ms.len() - 1],
        suite_started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// 2. Backup under write load
// ---------------------------------------------------------------------------

/// Places orders from two shoppers until told to stop; counts them.
struct OrderLoad {
    stop: Arc<AtomicBool>,
    placed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl OrderLoad {
    fn start(server: &TestServer, product: i64) -> OrderLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let placed = Arc::new(AtomicUsize::new(0));
        let threads = (0..2)
            .map(|_| {
                let shopper = Shopper::new(server);
                let (stop, placed) = (stop.clone(), placed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        shopper.buy(product, 1);
                        placed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        OrderLoad {
            stop,
            placed,
            threads,
        }
    }

    fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.placed.load(Ordering::Relaxed) < count {
            assert!(Instant::now() < deadline, "orders stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for thread in std::mem::take(&mut self.threads) {
            thread.join().expect("the order load ran without a failure");
        }
        self.placed.load(Ordering::Relaxed)
    }
}

impl Drop for OrderLoad {
    fn drop(&mut self) {
        // A failed assertion must not leave the shoppers running.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Each value with a type tag and a length, so ("ab", "c") and ("a", "bc") differ.
fn hash_value(hasher: &mut Sha256, value: ValueRef<'_>) {
    let bytes: Vec<u8> = match value {
        ValueRef::Null => Vec::new(),
        ValueRef::Integer(i) => i.to_le_bytes().to_vec(),
        ValueRef::Real(f) => f.to_le_bytes().to_vec(),
        ValueRef::Text(t) => t.to_vec(),
        ValueRef::Blob(b) => b.to_vec(),
    };
    let tag = match value {
        ValueRef::Null => 0u8,
        ValueRef::Integer(_) => 1,
        ValueRef::Real(_) => 2,
        ValueRef::Text(_) => 3,
        ValueRef::Blob(_) => 4,
    };
    hasher.update([tag]);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
}

/// Row count and SHA-256 of every table of the database file at `path`, read
/// in one transaction. Rows are hashed in the order of all their columns:
/// VACUUM INTO may renumber the rowids of tables without an INTEGER PRIMARY
/// KEY, and the suite's figure must not depend on the server's own
/// (`snapshot::table_facts`), which it checks.
fn table_digests(path: &Path) -> BTreeMap<String, (u64, String)> {
    let conn = open_read_only_file(path);
    assert_eq!(integrity(&conn), "ok", "{}", path.display());
    conn.execute_batch("BEGIN").unwrap();
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut digests = BTreeMap::new();
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let columns: usize = conn
            .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
            .unwrap()
            .column_count();
        let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM {quoted} ORDER BY {}",
                order.join(", ")
            ))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut hasher = Sha256::new();
        let mut count = 0u64;
        while let Some(row) = rows.next().unwrap() {
            for index in 0..columns {
                hash_value(&mut hasher, row.get_ref(index).unwrap());
            }
            count += 1;
        }
        digests.insert(name, (count, hex::encode(hasher.finalize())));
    }
    conn.execute_batch("COMMIT").unwrap();
    digests
}

/// Unpacks the archive's database file into `dir` with the tar and zstd
/// crates directly, not through the server's restore code.
fn unpack_database(archive_path: &Path, dir: &Path) -> PathBuf {
    let file = std::fs::File::open(archive_path).unwrap();
    let mut tar = tar::Archive::new(zstd::stream::read::Decoder::new(file).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().as_os_str() == archive::DATABASE {
            let dest = dir.join("from-archive.db");
            entry.unpack(&dest).unwrap();
            return dest;
        }
    }
    panic!("{} holds no {}", archive_path.display(), archive::DATABASE);
}

#[test]
fn a_backup_taken_under_write_load_restores_to_identical_rows_and_checksums() {
    let mut server = TestServer::start_with(&["--no-demo"], UNLIMITED);
    let bread = create_product(&server, "rye-bread", "3.50", Some(100_000));
    let load = OrderLoad::start(&server, bread);
    load.wait_for(5);
    let outside = tempfile::tempdir().unwrap();
    let archive_path = outside.path().join("under-load.tar.zst");
    let (status, printed, err) = cli(
        server.data_dir.path(),
        &["backup", "--to", archive_path.to_str().unwrap()],
    );
    assert!(status.success(), "backup failed: {printed}{err}");
    assert!(printed.contains("backed up to"), "{printed}");
    load.wait_for(load.placed.load(Ordering::Relaxed) + 5);
    let placed = load.finish();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the archive is private");
    }
    let digest = hex::encode(Sha256::digest(std::fs::read(&archive_path).unwrap()));
    assert!(
        printed.contains(&digest),
        "the CLI prints the archive's SHA-256: {printed}"
    );
    let manifest = archive::read_manifest(&archive_path).unwrap();
    assert_eq!(
        manifest.schema_version,
        shopkeep::store::known_schema_version()
    );
    assert!(manifest.search_index.contains("rebuilt"));

    // The archive's own database, read independently of the server's code.
    let backed_up = unpack_database(&archive_path, outside.path());
    let in_archive = table_digests(&backed_up);
    for table in &manifest.tables {
        assert_eq!(
            in_archive.get(&table.name).map(|(rows, _)| *rows),
            Some(table.rows),
            "the manifest's row count of {}",
            table.name
        );
    }
    let orders_backed_up = in_archive["orders"].0 as usize;
    assert!(
        orders_backed_up >= 5 && orders_backed_up < placed,
        "the snapshot caught the shop mid-load: {orders_backed_up} of {placed} orders"
    );
    assert_eq!(
        half_written_orders(&open_read_only_file(&backed_up)),
        0,
        "no half order in the snapshot"
    );

    server.signal("TERM");
    assert!(server.wait().0.success());
    let data_dir = server.data_dir.path();
    assert!(data_dir.join("index").is_dir());
    let (status, out, err) = cli(data_dir, &["restore", archive_path.to_str().unwrap()]);
    assert!(status.success(), "restore failed: {out}{err}");
    assert!(out.contains("into place"), "{out}");

    let restored_path = data_dir.join("shopkeep.db");
    let restored = table_digests(&restored_path);
    assert_eq!(
        restored, in_archive,
        "every table restored to the backup's row count and checksum"
    );
    let facts = snapshot::inspect(&restored_path).unwrap();
    assert_eq!(facts.integrity, "ok");
    assert_eq!(
        facts.tables, manifest.tables,
        "and to the manifest's own checksums"
    );
    let replaced = table_digests(&data_dir.join("shopkeep.db.before-restore"));
    assert_eq!(
        replaced["orders"].0 as usize, placed,
        "the replaced database is kept whole"
    );
    assert!(
        !data_dir.join("index").exists(),
        "the index is left to be rebuilt"
    );
    assert!(!data_dir.join("shopkeep.db-wal").exists());
    println!(
        "reliability: backup under load: {} tables, {orders_backed_up} of {placed} orders in the snapshot, \
         rows and checksums equal after restore",
        in_archive.len()
    );
}

// ---------------------------------------------------------------------------
// 3. Full disk
// ---------------------------------------------------------------------------

/// How the test takes the data directory's space away.
///
/// A tmpfs of a few MiB mounted over the data directory and filled with a
/// file is the real thing: the kernel answers ENOSPC, SQLite reports
/// SQLITE_FULL, and deleting the file gives the space back. Mounting needs
/// root (CAP_SYS_ADMIN), which CI has. Where it is refused, RLIMIT_FSIZE on
/// the running server (set with prlimit(2)) stands in: writes past 1 KiB
/// into any file fail with EFBIG, which SQLite reports as SQLITE_IOERR_WRITE
/// (a refused write, also a 507), and lifting the limit gives the space
/// back. It caps file length rather than the file system, so /readyz's disk
/// figure is checked only on the tmpfs.
enum Squeeze {
    Tmpfs {
        mount_point: PathBuf,
        filler: PathBuf,
    },
    FileSizeLimit,
}

const TMPFS_MB: u64 = 48;
/// Past this many bytes into a file the server's writes stop: room for the
/// write-ahead log's header, not for one page, so every change is refused.
const FILE_SIZE_LIMIT: u64 = 1024;

impl Squeeze {
    /// Mounts a tmpfs on `dir` when this machine lets us, else readies the
    /// fallback; call before the server starts.
    fn prepare(dir: &Path) -> Squeeze {
        // RELIABILITY_SQUEEZE=rlimit runs the fallback on a machine that could mount.
        let rlimit_asked = std::env::var("RELIABILITY_SQUEEZE").is_ok_and(|v| v == "rlimit");
        let mounted = !rlimit_asked
            && std::process::Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={TMPFS_MB}m,mode=0700"),
                    "tmpfs",
                ])
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
        if mounted {
            return Squeeze::Tmpfs {
                mount_point: dir.to_path_buf(),
                filler: dir.join("filler"),
            };
        }
        // Ignoring SIGXFSZ is inherited by the server started next, so a
        // write past the limit fails instead of killing it.
        // SAFETY: setting a signal's disposition to "ignore" runs no handler.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        Squeeze::FileSizeLimit
    }

    fn name(&self) -> String {
        match self {
            Squeeze::Tmpfs { .. } => format!("a {TMPFS_MB} MiB tmpfs filled to the last byte"),
            Squeeze::FileSizeLimit => {
                format!("RLIMIT_FSIZE of {FILE_SIZE_LIMIT} bytes on the server")
            }
        }
    }

    /// Takes the space away from the server `pid`.
    fn fill(&self, pid: u32) {
        match self {
            Squeeze::Tmpfs { filler, .. } => {
                assert!(fill_disk(filler) > 0, "the filler took space");
            }
            Squeeze::FileSizeLimit => set_file_size_limit(pid, FILE_SIZE_LIMIT),
        }
    }

    /// Gives the space back to the server `pid`.
    fn free(&self, pid: u32) {
        match self {
            Squeeze::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            Squeeze::FileSizeLimit => set_file_size_limit(pid, libc::RLIM_INFINITY),
        }
    }

    /// The problem type and the words a refused write must come with.
    fn expected_problem(&self) -> (&'static str, &'static str) {
        match self {
            Squeeze::Tmpfs { .. } => ("/problems/disk-full", "the disk is full"),
            Squeeze::FileSizeLimit => ("/problems/disk-write-refused", "file size limit"),
        }
    }

    fn is_a_real_disk(&self) -> bool {
        matches!(self, Squeeze::Tmpfs { .. })
    }
}

impl Drop for Squeeze {
    fn drop(&mut self) {
        if let Squeeze::Tmpfs { mount_point, .. } = self {
            // Lazy: the server may still hold files open while it is killed.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&*mount_point)
                .status();
            let _ = std::fs::remove_dir(&*mount_point);
        }
    }
}

fn set_file_size_limit(pid: u32, bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit for a process this test started; no old value wanted.
    let done = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Writes zeros to `path` until the file system refuses; returns the bytes written.
fn fill_disk(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let zeros = vec![0u8; chunk];
        while let Ok(n) = file.write(&zeros) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
    }
    let _ = file.sync_all();
    written
}

/// Folds the write-ahead log into the database and truncates it, so the next
/// write has to take new space (otherwise SQLite reuses the log's pages and
/// a full disk goes unnoticed for a while, which is right but slow to show).
fn truncate_wal(data_dir: &Path) {
    let conn = Connection::open(data_dir.join("shopkeep.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint ran to the end");
}

fn assert_refused_for_disk(response: reqwest::blocking::Response, squeeze: &Squeeze, what: &str) {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body = response.text().unwrap_or_default();
    assert_eq!(status, 507, "{what}: {body}");
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{what}"
    );
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 507, "{what}: {problem}");
    let (kind, words) = squeeze.expected_problem();
    assert_eq!(problem["type"], kind, "{what}: {problem}");
    assert_eq!(
        problem["title"], "Insufficient Storage",
        "{what}: {problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(words), "{what}: {problem}");
    assert!(detail.contains("nothing was saved"), "{what}: {problem}");
}

#[test]
fn a_full_disk_gives_clear_errors_keeps_reads_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Declared first, dropped last: unmounted once the server is gone.
    let squeeze = Squeeze::prepare(dir.path());
    let server = TestServer::start_in(dir, &["--no-demo"], UNLIMITED);
    let data_dir = server.data_dir.path().to_path_buf();
    let jam = create_product(&server, "plum-jam", "4.00", Some(10_000));
    let shopper = Shopper::new(&server);
    let before = shopper.buy(jam, 1)["number"].as_str().unwrap().to_string();
    shopper.add_ok(jam, 1);
    server.wait_for_search();

    truncate_wal(&data_dir);
    squeeze.fill(server.pid());
    let refused_at = Instant::now();
    assert_refused_for_disk(shopper.checkout(None), &squeeze, "checkout");
    assert_refused_for_disk(shopper.add(jam, 1), &squeeze, "add to cart");
    let catalog = std::fs::read(common::fixture("products.json")).unwrap();
    let import = |catalog: Vec<u8>| {
        server
            .admin(Method::POST, "/api/v1/admin/import?format=json")
            .body(catalog)
            .send()
            .unwrap()
    };
    assert_refused_for_disk(import(catalog.clone()), &squeeze, "import");
    let refusals_took = refused_at.elapsed();

    assert_eq!(
        server.get_json("/healthz")["status"],
        "ok",
        "the process is up"
    );
    assert_eq!(
        server.get_json(&format!("/api/v1/products/{jam}"))["id"],
        jam,
        "reads still work"
    );
    assert_eq!(shopper.cart()["item_count"], 1, "the cart is as it was");
    let ready = server.get("/readyz");
    assert_eq!(
        ready.status(),
        200,
        "a full disk does not take the shop out of rotation"
    );
    if squeeze.is_a_real_disk() {
        let ready: Value = ready.json().unwrap();
        assert_eq!(ready["database"]["status"], "degraded", "{ready}");
        let reason = ready["database"]["reason"].as_str().unwrap();
        assert!(reason.contains("disk is full"), "{ready}");
    }

    squeeze.free(server.pid());
    let response = shopper.checkout(None);
    assert_eq!(
        response.status(),
        201,
        "writes work once space is freed: {:?}",
        response.text()
    );
    let after = response.json::<Value>().unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let imported = import(catalog);
    assert_eq!(
        imported.status(),
        200,
        "import after freeing: {:?}",
        imported.text()
    );
    let ready: Value = server.get_json("/readyz");
    assert_eq!(ready["database"]["status"], "ok", "{ready}");

    let conn = open_read_only(&data_dir);
    assert_eq!(integrity(&conn), "ok");
    let stored = stored_orders(&conn);
    assert!(
        stored.contains(&before) && stored.contains(&after),
        "{stored:?}"
    );
    assert_eq!(half_written_orders(&conn), 0);
    println!(
        "reliability: full disk ({}): checkout, cart and import refused with 507 in {} ms; \
         reads and /readyz answered; writes resumed once freed; integrity ok; {} orders kept",
        squeeze.name(),
        refusals_took.as_millis(),
        stored.len()
    );
}

// ---------------------------------------------------------------------------
// 4. Degraded start
// ---------------------------------------------------------------------------

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A models directory whose every model is broken: the chat model is the
/// first MiB of the real GGUF (a download cut short), the embedding model has
/// its tokenizer and config but weights of random bytes.
fn broken_models(dir: &Path) {
    use std::io::Read;
    let real_gguf = common::model_file("gemma-3-270m");
    let mut head = vec![0u8; 1 << 20];
    std::fs::File::open(&real_gguf)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    std::fs::write(dir.join(real_gguf.file_name().unwrap()), &head).unwrap();

    let real_embedder = common::models_dir().join("all-minilm-l6-v2");
    let embedder = dir.join("all-minilm-l6-v2");
    std::fs::create_dir_all(&embedder).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(real_embedder.join(file), embedder.join(file)).unwrap();
    }
    let mut dice = Dice(0x5eed);
    let noise: Vec<u8> = (0..64 * 1024).map(|_| dice.between(0, 256) as u8).collect();
    std::fs::write(embedder.join("model.safetensors"), noise).unwrap();
}

/// Searches until the index has caught up with the catalog (bounded).
fn search_until_found(server: &TestServer, q: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = server.get_json(&format!("/api/v1/search?q={q}"));
        if !found["hits"].as_array().unwrap().is_empty() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "search never found {q:?}: {found}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_shop_with_broken_models_and_an_unreachable_api_starts_degraded_and_says_why() {
    let models = tempfile::tempdir().unwrap();
    broken_models(models.path());
    let models_dir = models.path().to_str().unwrap().to_string();
    let api = format!("http://127.0.0.1:{}/v1", closed_port());
    let server = TestServer::start_with(
        &[],
        &[
            ("SHOPKEEP_MODELS_DIR", models_dir.as_str()),
            ("SHOPKEEP_LLM_MODEL", "gemma-3-270m"),
            ("SHOPKEEP_TIER", "enterprise"),
            UNLIMITED[0],
            UNLIMITED[1],
            ("SHOPKEEP_REMOTE_OPENAI_BASE_URL", api.as_str()),
            ("SHOPKEEP_REMOTE_OPENAI_API_KEY", "sk-reliability-0000"),
        ],
    );
    let ready = server.get("/readyz");
    assert_eq!(ready.status(), 200, "degraded is still ready");
    let ready: Value = ready.json().unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["database"]["status"], "ok", "{ready}");

    assert_eq!(ready["model"]["status"], "degraded", "{ready}");
    let model = ready["model"]["reason"].as_str().unwrap();
    assert!(
        model.contains("gemma-3-270m")
            && model.contains("did not load")
            && model.contains("gemma-3-270m-q4_k_m.gguf"),
        "the reason names the model and its file: {model}"
    );

    let search = ready["search_index"]["reason"].as_str().unwrap();
    assert_eq!(ready["search_index"]["status"], "degraded", "{ready}");
    assert!(
        search.contains("model.safetensors") && search.contains("keyword"),
        "the reason names the broken file and the fallback: {search}"
    );
    let found = search_until_found(&server, "pasta");
    assert_eq!(found["mode"], "keyword", "{found}");

    let reply = Chat::new(&Shopper::new(&server)).say("do you have pasta?");
    assert_eq!(reply["tier"], "free", "the free tier answered: {reply}");
    assert!(!reply["reply"].as_str().unwrap().is_empty());
    let ready = server.get_json("/readyz");
    assert_eq!(ready["remote"]["status"], "degraded", "{ready}");
    let remote = ready["remote"]["reason"].as_str().unwrap();
    assert!(
        remote.contains("openai: failing") && remote.contains("could not reach"),
        "{remote}"
    );
    assert!(!remote.contains("sk-reliability-0000"), "no key in /readyz");
    assert_eq!(ready["tier"]["configured"], "enterprise");
    assert_eq!(ready["tier"]["status"], "degraded", "{ready}");
    println!(
        "reliability: degraded start: model: {model} | search: {search} | remote: {remote} | tier: {}",
        ready["tier"]["reason"]
    );

    // doctor, on the same set-up before any turn was tried, says the same.
    let (status, out, err) = cli_with_env(
        server.data_dir.path(),
        &["doctor"],
        &[
            ("SHOPKEEP_MODELS_DIR", models_dir.as_str()),
            ("SHOPKEEP_LLM_MODEL", "gemma-3-270m"),
            ("SHOPKEEP_TIER", "enterprise"),
            ("SHOPKEEP_REMOTE_OPENAI_BASE_URL", api.as_str()),
            ("SHOPKEEP_REMOTE_OPENAI_API_KEY", "sk-reliability-0000"),
        ],
    );
    assert!(
        !status.success(),
        "a broken model fails doctor:\n{out}{err}"
    );
    let line = |check: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {check}:")))
            .unwrap_or_else(|| panic!("no {check} line:\n{out}"))
            .to_string()
    };
    let model = line("model");
    assert!(
        model.starts_with("fail") && model.contains("gemma-3-270m"),
        "{model}"
    );
    let embeddings = line("embeddings");
    assert!(
        embeddings.starts_with("fail") && embeddings.contains("model.safetensors"),
        "{embeddings}"
    );
    let remote = out
        .lines()
        .find(|l| l.contains("openai"))
        .unwrap_or_else(|| panic!("no remote line:\n{out}"));
    assert!(
        remote.starts_with("warn"),
        "an unreachable API warns: {remote}"
    );
    assert!(
        !out.contains("sk-reliability-0000"),
        "no key in doctor's output"
    );
}
