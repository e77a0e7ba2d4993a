//! The HTTP surface's defences against the real binary: per-address rate
//! limits (429 with Retry-After, X-Forwarded-For only from trusted proxies),
//! body and header limits, the security headers, and that no secret ever
//! reaches the log, even at debug level.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, TestServer, assert_problem, cli_with_input};
use reqwest::Method;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

fn chat(server: &TestServer, forwarded_for: Option<&str>) -> Response {
    let mut request = server
        .client
        .post(server.url("/api/v1/chat"))
        .json(&json!({"message": "hello"}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().unwrap()
}

/// Asserts a 429 problem with a `Retry-After` of 1..=`most` seconds.
fn assert_limited(response: Response, most: u64) -> Value {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(
        (1..=most).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let problem = assert_problem(response, 429);
    assert_eq!(problem["type"], "/problems/rate-limited");
    problem
}

#[test]
fn each_budget_refuses_the_request_past_it_with_retry_after() {
    let server = TestServer::start_with(
        &[],
        &[
            ("SHOPKEEP_LIMITS_CHAT_PER_MINUTE", "2"),
            ("SHOPKEEP_LIMITS_LOGIN_PER_MINUTE", "2"),
            ("SHOPKEEP_LIMITS_ACCOUNT_PER_MINUTE", "1"),
            ("SHOPKEEP_LIMITS_CHECKOUT_PER_MINUTE", "1"),
        ],
    );
    for _ in 0..2 {
        assert_eq!(chat(&server, None).status(), 200);
    }
    let problem = assert_limited(chat(&server, None), 30);
    assert!(problem["detail"].as_str().unwrap().contains("assistant"));
    // Reading is not limited, only the POSTs that do the work.
    assert_eq!(server.get("/api/v1/shop").status(), 200);

    let login = || {
        server
            .client
            .post(server.url("/admin/login"))
            .json(&json!({"user": "admin", "password": "wrong-password-1"}))
            .send()
            .unwrap()
    };
    for _ in 0..2 {
        assert_ne!(login().status(), 429);
    }
    assert_limited(login(), 30);

    let register = || {
        server
            .client
            .post(server.url("/api/v1/account/register"))
            .json(&json!({"email": "ann@example.com", "password": "correct horse battery"}))
            .send()
            .unwrap()
    };
    assert_ne!(register().status(), 429);
    assert_limited(register(), 60);

    let checkout = || {
        server
            .client
            .post(server.url("/api/v1/checkout"))
            .json(&json!({}))
            .send()
            .unwrap()
    };
    assert_ne!(checkout().status(), 429);
    assert_limited(checkout(), 60);

    let metrics = server.get("/metrics").text().unwrap();
    for budget in ["chat", "login", "account", "checkout"] {
        let line = format!("shopkeep_rate_limited_total{{budget=\"{budget}\"}} 1");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
}

#[test]
fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let limits = [("SHOPKEEP_LIMITS_CHAT_PER_MINUTE", "1")];
    let direct = TestServer::start_with(&[], &limits);
    assert_eq!(chat(&direct, Some("198.51.100.1")).status(), 200);
    // A client that makes up addresses gets nothing for it.
    assert_limited(chat(&direct, Some("198.51.100.2")), 60);

    let proxied = TestServer::start_with(
        &[],
        &[limits[0], ("SHOPKEEP_TRUSTED_PROXIES", "127.0.0.1, ::1")],
    );
    assert_eq!(chat(&proxied, Some("198.51.100.1")).status(), 200);
    assert_limited(chat(&proxied, Some("198.51.100.1")), 60);
    assert_eq!(
        chat(&proxied, Some("198.51.100.2")).status(),
        200,
        "another client behind the proxy has its own budget"
    );
    // A forged left-most entry does not change who the proxy says it is.
    assert_limited(chat(&proxied, Some("6.6.6.6, 198.51.100.2")), 60);
}

#[test]
fn every_response_carries_the_security_headers_and_routes_keep_their_own_policy() {
    let server = TestServer::start();
    let header = |response: &Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} missing on {}", response.url()))
    };
    for path in [
        "/api/v1/shop",
        "/",
        "/admin/login",
        "/widget.js",
        "/healthz",
        "/no/such/page",
    ] {
        let response = server.get(path);
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let referrer = header(&response, "referrer-policy");
        assert!(
            [
                "strict-origin-when-cross-origin",
                "same-origin",
                "no-referrer"
            ]
            .contains(&referrer.as_str()),
            "{path}: no full URL leaves the site: {referrer}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        assert_eq!(
            header(&response, "cross-origin-opener-policy"),
            "same-origin"
        );
        let policy = header(&response, "content-security-policy");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
    }
    let api = server.get("/api/v1/shop");
    assert!(header(&api, "content-security-policy").contains("script-src 'self'"));
    // The storefront keeps its own, stricter page policy.
    let page = server.get("/");
    assert!(header(&page, "content-security-policy").contains("connect-src 'self'"));
    // Foreign pages still load the widget's script.
    let widget = server.get("/widget.js");
    assert_eq!(widget.status(), 200);
    assert_eq!(
        header(&widget, "cross-origin-resource-policy"),
        "cross-origin"
    );
}

/// Sends raw bytes and returns the status line of the answer.
fn raw_status(server: &TestServer, request: &[u8]) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server may answer and close before it read everything.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn oversized_bodies_and_headers_are_refused_and_the_server_carries_on() {
    let server = TestServer::start_with(&[], &[("SHOPKEEP_MAX_BODY_BYTES", "2048")]);
    let big = json!({"message": "x".repeat(4096)});
    let response = server
        .client
        .post(server.url("/api/v1/chat"))
        .json(&big)
        .send()
        .unwrap();
    assert_problem(response, 413);

    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    assert!(
        raw_status(&server, long_header.as_bytes()).contains(" 431"),
        "a 200 KiB header is refused"
    );
    let many: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many_headers = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    assert!(
        raw_status(&server, many_headers.as_bytes()).contains(" 431"),
        "120 headers are refused"
    );
    assert_eq!(server.get("/healthz").status(), 200, "still serving");
}

/// A server whose stdout and stderr go to files, so that every line it ever
/// logs, from the first, can be searched.
struct LoggedServer {
    child: Child,
    base: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl LoggedServer {
    fn start(data_dir: &Path, logs: &Path, env: &[(&str, &str)]) -> LoggedServer {
        let stdout = logs.join("stdout.log");
        let stderr = logs.join("stderr.log");
        let child = Command::new(BIN)
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(["serve", "--bind", "127.0.0.1:0", "--no-demo"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SHOPKEEP_LOG_FORMAT", "json")
            .env(
                "SHOPKEEP_LOG_LEVEL",
                "trace,tantivy=debug,h2=debug,rustls=debug",
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn shopkeep");
        let mut server = LoggedServer {
            child,
            base: String::new(),
            stdout,
            stderr,
        };
        server.base = server.wait_for_address();
        server
    }

    fn wait_for_address(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            let listening = log
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|e| e["fields"]["message"] == "listening");
            if let Some(event) = listening {
                return format!("http://{}", event["fields"]["addr"].as_str().unwrap());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and returns everything it wrote.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.stdout).unwrap()
            + &std::fs::read_to_string(&self.stderr).unwrap()
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn no_secret_reaches_the_log_even_at_trace_level() {
    const PASSWORD: &str = "Pw-never-logged-83c1e0";
    const WRONG_PASSWORD: &str = "Pw-wrong-guess-5d2f71";
    const CONFIG_OPENAI_KEY: &str = "sk-config-key-0b9e4471";
    const CONFIG_GEMINI_KEY: &str = "AIza-config-key-77aa31";
    const SAVED_KEY: &str = "sk-dashboard-key-c30d18";
    const QUERY_TOKEN: &str = "qtoken-e61b02f9";

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (status, _, stderr) =
        cli_with_input(&data, &["admin", "set-password"], &format!("{PASSWORD}\n"));
    assert!(status.success(), "{stderr}");
    let server = LoggedServer::start(
        &data,
        dir.path(),
        &[
            // Nothing listens there: calls fail, and their errors are logged.
            ("SHOPKEEP_REMOTE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("SHOPKEEP_REMOTE_OPENAI_API_KEY", CONFIG_OPENAI_KEY),
            ("SHOPKEEP_REMOTE_GEMINI_BASE_URL", "http://127.0.0.1:9"),
            ("SHOPKEEP_REMOTE_GEMINI_API_KEY", CONFIG_GEMINI_KEY),
            ("SHOPKEEP_TIER", "enterprise"),
        ],
    );
    let admin_key = std::fs::read_to_string(data.join("admin-key"))
        .unwrap()
        .trim()
        .to_string();
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let admin = |method: Method, path: &str| {
        client
            .request(method, server.url(path))
            .bearer_auth(&admin_key)
    };

    // Dashboard sign-in: a wrong password, then the right one.
    let refused = client
        .post(server.url("/admin/login"))
        .json(&json!({"user": "admin", "password": WRONG_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let signed_in = client
        .post(server.url("/admin/login"))
        .json(&json!({"user": "admin", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session_token = cookie.split_once('=').unwrap().1.to_string();
    let csrf = signed_in.json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    // A provider key saved from the dashboard, with the session and its CSRF token.
    let saved = client
        .put(server.url("/api/v1/admin/ai"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&common::enterprise_ai_form(
            "http://127.0.0.1:9/v1",
            SAVED_KEY,
        ))
        .send()
        .unwrap();
    let saved_status = saved.status();
    assert_eq!(saved_status, 200, "{}", saved.text().unwrap());

    // A webhook endpoint and its signing secret, with the admin API key.
    let hook: Value = admin(Method::POST, "/api/v1/admin/webhooks")
        .json(&json!({"url": "http://127.0.0.1:9/hook", "events": ["order.created"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let webhook_secret = hook["secret"]
        .as_str()
        .expect("a webhook secret")
        .to_string();

    // A shopper's session, a chat turn the remote tier tries (and fails) to
    // answer, and a token in a query string.
    let turn = client
        .post(server.url("/api/v1/chat"))
        .json(&json!({"message": "do you have pasta?"}))
        .send()
        .unwrap();
    let shopper_session = turn
        .headers()
        .get("x-session-id")
        .expect("a shopper session")
        .to_str()
        .unwrap()
        .to_string();
    let _ = client
        .get(server.url("/api/v1/cart"))
        .header("x-session-id", &shopper_session)
        .send()
        .unwrap();
    let _ = client
        .get(server.url(&format!(
            "/api/v1/shop?token={QUERY_TOKEN}&key={QUERY_TOKEN}"
        )))
        .send()
        .unwrap();
    let _ = admin(Method::GET, "/api/v1/admin/ai").send().unwrap();

    let log = server.stop();
    assert!(
        log.contains("admin signed in") && log.contains("\"level\":\"TRACE\""),
        "the log is there and at trace level ({} bytes)",
        log.len()
    );
    let secrets = [
        ("admin password", PASSWORD.to_string()),
        ("a wrong password", WRONG_PASSWORD.to_string()),
        (
            "the OpenAI key from the config",
            CONFIG_OPENAI_KEY.to_string(),
        ),
        (
            "the Gemini key from the config",
            CONFIG_GEMINI_KEY.to_string(),
        ),
        ("the key saved from the dashboard", SAVED_KEY.to_string()),
        ("the dashboard session cookie", session_token),
        ("the CSRF token", csrf),
        ("the admin API key", admin_key),
        ("the webhook secret", webhook_secret),
        ("the shopper session", shopper_session),
        ("a token in a query string", QUERY_TOKEN.to_string()),
    ];
    for (what, secret) in &secrets {
        assert!(!secret.is_empty(), "{what} is known");
        assert!(!log.contains(secret.as_str()), "{what} appears in the log");
    }
}
