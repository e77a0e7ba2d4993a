//! The binary as an operator meets it: configuration errors, first start,
//! CLI import and key creation, HTTP import, restart and graceful shutdown.

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use common::{BIN, TestServer, assert_problem, cli, fixture, shopify_exports};
use reqwest::Method;
use serde_json::Value;

#[test]
fn invalid_configuration_is_refused_with_key_value_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .args([
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "serve",
        ])
        .env("SHOPKEEP_BIND", "localhost-ish")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`bind`")
            && stderr.contains("\"localhost-ish\"")
            && stderr.contains("SHOPKEEP_BIND"),
        "{stderr}"
    );
    assert!(stderr.contains("IP:PORT"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the config is valid"
    );

    let config = dir.path().join("shop.toml");
    std::fs::write(&config, "currency = \"XYZ\"\n").unwrap();
    let (status, _, stderr) = cli(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("`currency`")
            && stderr.contains("unsupported currency")
            && stderr.contains("shop.toml"),
        "{stderr}"
    );

    std::fs::write(&config, "currency = \"EUR\"\nshop_name = \"Bakery Bea\"\n").unwrap();
    let (status, stdout, _) = cli(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert!(status.success());
    assert!(
        stdout.contains("currency = \"EUR\"") && stdout.contains("shop.toml"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("configuration is valid"));
}

#[test]
fn first_start_creates_a_private_admin_key_and_restarts_keep_everything() {
    let server = TestServer::start();
    let key_file = server.data_dir.path().join("admin-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(server.admin_key.starts_with("shk_"));
    let created = server
        .admin(Method::POST, "/api/v1/products")
        .json(&serde_json::json!({"handle": "house-blend", "name": "House Blend", "price": "9.00"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let first_key = server.admin_key.clone();
    let data_dir = std::mem::replace(&mut { server }.data_dir, tempfile::tempdir().unwrap());

    let again = TestServer::start_in(data_dir, &[], &[]);
    assert_eq!(
        again.admin_key, first_key,
        "the key is made once, not on every start"
    );
    assert_eq!(
        again.get_json("/api/v1/products/house-blend")["price"],
        "9.00"
    );
    let metrics = again.get("/metrics").text().unwrap();
    assert!(
        metrics.contains(r#"shopkeep_catalog_products{kind="all"} 347"#),
        "demo loaded once plus ours: {metrics}"
    );
}

#[test]
fn no_demo_starts_an_empty_shop() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let page = server.get_json("/api/v1/products");
    assert_eq!(page["items"], serde_json::json!([]));
}

#[test]
fn cli_import_reports_progress_errors_and_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = shopify_exports().join("balancedbitesdev__balancedbites.csv");
    let (status, stdout, stderr) = cli(dir.path(), &["import", file.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("created 65, updated 0, skipped 0, unchanged 0")
    );
    let (_, stdout, _) = cli(
        dir.path(),
        &["import", file.to_str().unwrap(), "--format", "shopify"],
    );
    assert_eq!(
        stdout.lines().last(),
        Some("created 0, updated 0, skipped 0, unchanged 65")
    );

    let (status, stdout, stderr) = cli(
        dir.path(),
        &["import", fixture("woocommerce.csv").to_str().unwrap()],
    );
    assert!(status.success());
    assert_eq!(
        stdout.lines().last(),
        Some("created 6, updated 0, skipped 3, unchanged 0")
    );
    assert!(
        stderr.contains("skipped: line 13: \"Mispriced Crackers\": price"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,price\nFine,1.00\nBroken,one\n").unwrap();
    let (status, stdout, stderr) = cli(dir.path(), &["import", bad.to_str().unwrap(), "--strict"]);
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("line 3") && stderr.contains("nothing was written"),
        "{stderr}"
    );

    let (status, _, stderr) = cli(dir.path(), &["import", "/no/such/file.csv"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("no such file"), "{stderr}");
    let (status, _, stderr) = cli(
        dir.path(),
        &["import", bad.to_str().unwrap(), "--format", "xml"],
    );
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("unknown format"), "{stderr}");
}

#[test]
fn cli_created_key_is_the_last_line_and_opens_the_admin_api() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let (status, stdout, _) = cli(
        server.data_dir.path(),
        &["admin", "create-key", "--name", "ci"],
    );
    assert!(status.success());
    let key = stdout.lines().last().unwrap();
    let keys: Value = server
        .client
        .get(server.url("/api/v1/admin/keys"))
        .bearer_auth(key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let (status, _, stderr) = cli(
        server.data_dir.path(),
        &["admin", "create-key", "--name", ""],
    );
    assert!(!status.success());
    assert!(stderr.contains("key name"), "{stderr}");
}

#[test]
fn http_import_accepts_real_exports_and_strict_refusals_write_nothing() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let body = std::fs::read(shopify_exports().join("JeremyKu0327__Hardware-Retail.csv")).unwrap();
    let upload = |query: &str, body: Vec<u8>| {
        server
            .admin(Method::POST, &format!("/api/v1/admin/import{query}"))
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .unwrap()
    };
    let report: Value = upload("", body.clone()).json().unwrap();
    assert_eq!(
        (
            report["format"].as_str(),
            report["rows"].as_u64(),
            report["created"].as_u64()
        ),
        (Some("shopify"), Some(359), Some(214))
    );
    let again: Value = upload("?format=shopify", body).json().unwrap();
    assert_eq!(
        (again["created"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(214))
    );

    let refused = assert_problem(
        upload(
            "?strict=true",
            b"handle,name,price\nnew-one,New,1.00\nbad,Bad,nope\n".to_vec(),
        ),
        422,
    );
    assert!(
        refused["detail"].as_str().unwrap().contains("line 3"),
        "{refused}"
    );
    assert_problem(server.get("/api/v1/products/new-one"), 404);
    assert_eq!(
        assert_problem(upload("?format=xml", b"x".to_vec()), 400)["errors"][0]["field"],
        "format"
    );
    assert_problem(upload("", Vec::new()), 400);
    let wrong = assert_problem(
        upload("?format=woocommerce", b"name,price\nA,1\n".to_vec()),
        422,
    );
    assert!(
        wrong["detail"].as_str().unwrap().contains("Type column"),
        "{wrong}"
    );
    let leftovers = std::fs::read_dir(server.data_dir.path().join("imports"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "uploads are removed after import");
}

#[test]
fn import_uploads_over_the_limit_are_413() {
    let server = TestServer::start_with(&["--no-demo"], &[("SHOPKEEP_MAX_IMPORT_BYTES", "4096")]);
    let body =
        std::fs::read(shopify_exports().join("balancedbitesdev__balancedbites.csv")).unwrap();
    let response = server
        .admin(Method::POST, "/api/v1/admin/import")
        .body(body)
        .send()
        .unwrap();
    assert_problem(response, 413);
}

/// A request body that sends half, tells the test, waits, then sends the rest.
struct SlowBody {
    data: Vec<u8>,
    sent: usize,
    paused: bool,
    halfway: mpsc::Sender<()>,
}

impl Read for SlowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let half = self.data.len() / 2;
        if self.sent >= half && !self.paused {
            self.paused = true;
            let _ = self.halfway.send(());
            std::thread::sleep(Duration::from_millis(1500));
        }
        let end = if self.paused { self.data.len() } else { half };
        let n = buf.len().min(end - self.sent).min(4096);
        buf[..n].copy_from_slice(&self.data[self.sent..self.sent + n]);
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn sigterm_lets_an_in_flight_import_finish_then_closes_sqlite_cleanly() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let data = std::fs::read(shopify_exports().join("mikelmira__garden-solutions.csv")).unwrap();
    let (halfway_tx, halfway) = mpsc::channel();
    let url = server.url("/api/v1/admin/import");
    let key = server.admin_key.clone();
    let upload = std::thread::spawn(move || {
        let len = data.len() as u64;
        let body = reqwest::blocking::Body::sized(
            SlowBody {
                data,
                sent: 0,
                paused: false,
                halfway: halfway_tx,
            },
            len,
        );
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        client
            .post(url)
            .bearer_auth(key)
            .body(body)
            .send()
            .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()))
    });
    halfway
        .recv_timeout(Duration::from_secs(30))
        .expect("upload started");
    // Half the body can sit in the socket buffer before the server has read
    // the request head; a connection whose head is unread is not in flight
    // yet and a graceful stop may close it. Give a busy machine a moment.
    std::thread::sleep(Duration::from_millis(400));
    server.signal("TERM");
    let (status, body) = upload
        .join()
        .unwrap()
        .expect("the in-flight request got its answer");
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["created"], 70);

    let mut server = server;
    let data_dir = server.data_dir.path().to_path_buf();
    let (exit, log) = server.wait();
    assert!(exit.success(), "exit status {exit:?}; log: {log:?}");
    assert!(log.iter().any(|l| l.contains("stopped cleanly")), "{log:?}");
    let wal = data_dir.join("shopkeep.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL checkpointed on close"
    );
    let conn = rusqlite_count(&data_dir.join("shopkeep.db"));
    assert_eq!(conn, 70);
}

#[test]
fn sigint_stops_the_server_too() {
    let mut server = TestServer::start_with(&["--no-demo"], &[]);
    assert_eq!(server.get("/healthz").status(), 200);
    server.signal("INT");
    let (exit, log) = server.wait();
    assert!(exit.success());
    assert!(log.iter().any(|l| l.contains("SIGINT")), "{log:?}");
}

/// Counts products with the library's own store, opened after the server has gone.
fn rusqlite_count(path: &std::path::Path) -> i64 {
    let store = shopkeep::store::Store::open(path, &Default::default()).unwrap();
    store.read(shopkeep::store::products::counts).unwrap().total
}

#[test]
fn import_benchmark_runs_the_real_importer_against_its_reference() {
    let output = std::process::Command::new(BIN)
        .args(["bench", "import", "--products", "2000"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("created 2000, updated 0, skipped 0, unchanged 0"),
        "{report}"
    );
    assert!(report.contains("unchanged 2000"), "{report}");
    assert!(report.contains("import / reference time ratio"), "{report}");
}
