//! The storefront as a browser sees it: the embedded pages and files over
//! HTTP (types, validators, 404s, no way out of the asset folders), and the
//! whole shopping journey in Debian's Chromium driven by playwright-core
//! (`tests/browser/run.mjs`), which also saves screenshots under
//! `target/screenshots/`.
//!
//! The browser suite needs Node.js 18+, `/usr/bin/chromium` and
//! `npm ci --prefix tests/browser`; `.ci/run` installs them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, assert_problem};
use serde_json::Value;
use shopkeep::assistant::budget::{self, CallRecord, ShopperClass};
use time::{Duration as Days, OffsetDateTime};

/// The longest the browser suite may take before it counts as hung.
const SUITE_LIMIT: Duration = Duration::from_secs(600);

/// Screenshots the suite must leave behind (`target/screenshots/NAME.png`).
const SCREENSHOTS: &[&str] = &[
    "storefront",
    "storefront-phone",
    "product-page",
    "cart",
    "checkout",
    "order-confirmation",
    "my-orders",
    "chat",
    "chat-confirmation",
    "chat-phone",
    "admin-overview",
    "admin-orders",
    "admin-order-detail",
    "admin-conversations",
    "admin-conversation",
    "chat-human-joined",
    "admin-phone",
    "admin-products",
    "admin-import",
    "admin-product-edit",
    "admin-usage",
    "admin-sales",
    "admin-settings",
    "widget",
    "widget-chat",
    "admin-system",
    "admin-ai",
];

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Sends `path` exactly as written (an HTTP client would tidy up `..`) and returns the raw answer.
fn raw_get(server: &TestServer, path: &str) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_storefront_page_and_its_files_are_served_with_types_and_validators() {
    let server = TestServer::start_with(
        &[],
        &[
            ("SHOPKEEP_SHOP_NAME", "Bakery Bea"),
            ("SHOPKEEP_CURRENCY", "EUR"),
        ],
    );

    let page = server.get("/");
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let etag = header(&page, "etag");
    assert!(etag.starts_with("W/\"") && etag.len() > 10, "{etag}");
    let html = page.text().unwrap();
    assert!(html.contains("/static/shop/app.js") && html.contains("<shopkeep-chat>"));

    // Client-side routes load the same page, so reloads and shared links work.
    for route in [
        "/products/country-sourdough-loaf-800g",
        "/checkout",
        "/orders",
        "/orders/SK-1001",
    ] {
        let response = server.get(route);
        assert_eq!(response.status(), 200, "{route}");
        assert_eq!(header(&response, "etag"), etag, "{route}");
    }

    for (path, kind) in [
        ("/static/shop/app.js", "text/javascript; charset=utf-8"),
        ("/static/shop/shop.css", "text/css; charset=utf-8"),
        ("/static/shop/icon.svg", "image/svg+xml"),
        ("/static/chat/chat.js", "text/javascript; charset=utf-8"),
        ("/static/chat/chat.css", "text/css; charset=utf-8"),
    ] {
        let response = server.get(path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), kind, "{path}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let tag = header(&response, "etag");
        let again = server
            .client
            .get(server.url(path))
            .header("If-None-Match", &tag)
            .send()
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), tag, "{path}");
        assert!(again.bytes().unwrap().is_empty());
    }

    let missing = assert_problem(server.get("/static/shop/no-such-file.js"), 404);
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-file.js")
    );
    assert_problem(server.get("/static/shop/"), 404);
    // Other folders are not this route's: they are left to whoever serves them.
    let admin = assert_problem(server.get("/static/admin/index.html"), 404);
    assert!(
        admin["detail"].as_str().unwrap().contains("no route"),
        "{admin}"
    );

    for escape in [
        "/static/shop/../../Cargo.toml",
        "/static/shop/%2e%2e/%2e%2e/Cargo.toml",
        "/static/shop/..%2f..%2fCargo.toml",
        "/static/shop/..%5c..%5cCargo.toml",
        "/static/chat/%2e%2e/%2e%2e/src/lib.rs",
    ] {
        let answer = raw_get(&server, escape);
        assert!(
            answer.starts_with("HTTP/1.1 404") || answer.starts_with("HTTP/1.1 400"),
            "{escape}: {answer}"
        );
        assert!(!answer.contains("[package]") && !answer.contains("pub mod"));
    }

    let shop: Value = server.get_json("/api/v1/shop");
    assert_eq!(shop["name"], "Bakery Bea");
    assert_eq!(shop["currency"], "EUR");
    assert_eq!(shop["currency_exponent"], 2);
    assert_eq!(shop["payment_methods"][0]["id"], "manual");
    assert!(shop["max_line_quantity"].as_i64().unwrap() > 0);
}

const ADMIN_USER: &str = "owner";
const ADMIN_PASSWORD: &str = "a long browser-suite passphrase";

/// Gives the dashboard a password with `shopkeep admin set-password`, as an owner would.
fn set_admin_password(server: &TestServer) {
    let (status, _, stderr) = common::cli_with_input(
        server.data_dir.path(),
        &["admin", "set-password", "--user", ADMIN_USER],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(status.success(), "set-password: {stderr}");
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Says what is missing for the browser suite, if anything.
fn missing_prerequisite() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} is missing: install Debian's chromium (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing: install Node.js 18 or newer".into());
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        return Some("playwright-core is missing: run `npm ci --prefix tests/browser`".into());
    }
    None
}

#[test]
fn the_storefront_the_widget_and_the_dashboard_work_in_a_real_browser() {
    if let Some(missing) = missing_prerequisite() {
        panic!("the browser suite cannot run: {missing}");
    }
    let server = TestServer::start_in(shop_with_model_usage(), &[], &[]);
    server.wait_for_search();
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    // Start clean, so what is there afterwards is this run's.
    for entry in std::fs::read_dir(&screenshots).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    set_admin_password(&server);
    let log_path = server.data_dir.path().join("browser.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut node = Command::new("node")
        .arg(browser_dir().join("run.mjs"))
        .arg(&server.base)
        .env("SHOPKEEP_ADMIN_KEY", &server.admin_key)
        .env("SHOPKEEP_ADMIN_USER", ADMIN_USER)
        .env("SHOPKEEP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SHOPIFY_EXPORTS", common::shopify_exports())
        .env("SCREENSHOT_DIR", &screenshots)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SUITE_LIMIT {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("{output}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("the browser suite failed ({status}):\n{output}"),
        None => panic!("the browser suite ran past {SUITE_LIMIT:?}:\n{output}"),
    }
    // SUITES=name,… (for working on one suite) runs only those, so only a
    // full run can be held to every screenshot.
    if std::env::var_os("SUITES").is_some() {
        return;
    }
    for name in SCREENSHOTS {
        let file = screenshots.join(format!("{name}.png"));
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} was saved ({size} bytes)", file.display());
    }
}

/// A data directory whose shop made model calls over the last two weeks, so
/// the usage page has figures to chart: the suite's own chat turns run on
/// the tier without a model, which records none. Recorded the way the
/// assistant records them, through `budget::record`.
fn shop_with_model_usage() -> tempfile::TempDir {
    // The configuration's default cap, so alerts match what the server enforces.
    let (dir, store, budgets) = common::store_for_recorded_calls(50_000_000);
    let now = OffsetDateTime::now_utc();
    for n in 0..60u64 {
        let remote = n % 3 == 0;
        let input_tokens = 300 + (n * 97) % 700;
        let call = CallRecord {
            conversation_id: None,
            class: [ShopperClass::Guest, ShopperClass::Registered][(n % 2) as usize],
            subject: format!("session:{}", n % 7),
            tier: if remote { "enterprise" } else { "starter" },
            backend: if remote { "openai" } else { "local" },
            model: if remote {
                "gpt-4o-mini"
            } else {
                "qwen2.5-0.5b-instruct"
            }
            .to_string(),
            purpose: "chat",
            input_tokens,
            output_tokens: 40 + (n * 31) % 160,
            cached_tokens: input_tokens / 3,
            latency_ms: 200,
            cost_micros: if remote { 900 + n * 40 } else { 0 },
            ok: n % 11 != 5,
        };
        let at = now - Days::hours((n % 14 * 24 + n % 5) as i64);
        budget::record(&store, &budgets, &call, at).unwrap();
    }
    store.close().unwrap();
    dir
}
