//! Test harness: runs the real `shopkeep` binary on a random port against a
//! temporary data directory, and talks to it over HTTP.

#![allow(dead_code)]

pub mod http;
pub mod model_api;
pub mod shop;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_shopkeep");

/// Folder of the real store exports shared beside the repository.
pub fn shopify_exports() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/shopify")
}

/// Where test models live: $SHOPKEEP_MODELS_DIR, else the user cache.
fn models_root() -> PathBuf {
    std::env::var_os("SHOPKEEP_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
                .join(".cache/shopkeep/models")
        })
}

/// Installs model `name` (a models/fetch.sh NAME) in `dir`.
fn fetch_model(dir: &Path, name: &str) {
    // One download at a time: tests in one binary run in parallel.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fetch.sh");
    let status = Command::new("sh")
        .arg(script)
        .arg("--dest")
        .arg(dir)
        .arg(name)
        .status()
        .expect("run models/fetch.sh");
    assert!(
        status.success(),
        "models/fetch.sh could not install {name} in {}",
        dir.display()
    );
}

/// The models directory with all-minilm-l6-v2, fetched with models/fetch.sh on
/// first use when it is not there yet ($SHOPKEEP_MODELS_DIR, else the user cache).
pub fn models_dir() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = models_root();
            if !dir.join("all-minilm-l6-v2/model.safetensors").is_file() {
                fetch_model(&dir, "all-minilm-l6-v2");
            }
            dir
        })
        .clone()
}

/// The GGUF file of a chat model of models/fetch.sh (`qwen2.5-coder-0.5b-instruct`
/// or `gemma-3-270m`), fetched on first use when it is not there yet.
pub fn model_file(name: &str) -> PathBuf {
    let file = match name {
        "qwen2.5-coder-0.5b-instruct" => "qwen2.5-coder-0.5b-instruct-q5_0.gguf",
        "gemma-3-270m" => "gemma-3-270m-q4_k_m.gguf",
        other => panic!("no GGUF file known for model {other}"),
    };
    let dir = models_root();
    let path = dir.join(file);
    if !path.is_file() {
        fetch_model(&dir, name);
    }
    path
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub struct TestServer {
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub admin_key: String,
    child: Option<Child>,
    log: mpsc::Receiver<String>,
    pub client: reqwest::blocking::Client,
}

impl TestServer {
    /// Starts `shopkeep serve` with the demo catalog.
    pub fn start() -> TestServer {
        Self::start_with(&[], &[])
    }

    /// Starts `shopkeep serve` with extra flags and environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, args, env)
    }

    pub fn start_in(
        data_dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut command = Command::new(BIN);
        command
            .args([
                "--data-dir",
                data_dir.path().to_str().unwrap(),
                "serve",
                "--bind",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SHOPKEEP_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn shopkeep");
        let (tx, log) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let err_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let mut seen = Vec::new();
        let addr = loop {
            let line = log
                // Loading a language model in a debug build takes a while.
                .recv_timeout(Duration::from_secs(180))
                .unwrap_or_else(|_| {
                    panic!(
                        "server did not report listening; output so far:\n{}",
                        seen.join("\n")
                    )
                });
            seen.push(line.clone());
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["fields"]["message"] == "listening"
            {
                break event["fields"]["addr"].as_str().unwrap().to_string();
            }
        };
        let admin_key = std::fs::read_to_string(data_dir.path().join("admin-key"))
            .unwrap_or_default()
            .trim()
            .to_string();
        TestServer {
            base: format!("http://{addr}"),
            data_dir,
            admin_key,
            child: Some(child),
            log,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// Waits until a log line contains `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no log line with {needle:?} within {timeout:?}"),
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client.get(self.url(path)).send().expect("GET")
    }

    pub fn get_json(&self, path: &str) -> Value {
        let response = self.get(path);
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().expect("JSON body")
    }

    /// Waits until the search index (and embeddings, when a model is loaded) caught up.
    pub fn wait_for_search(&self) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let ready: Value = self.get("/readyz").json().unwrap();
            if ready["search_index"]["status"] == "ok" {
                return ready;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "search never caught up: {ready}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A request builder carrying the admin key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_key)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal by name (TERM, INT) to the server.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its status and remaining output;
    /// the data directory stays until the server value is dropped.
    pub fn wait(&mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let rest = self.log.try_iter().collect();
        (status, rest)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Asserts a response is RFC 9457 problem+json with `status`, and returns its body.
pub fn assert_problem(response: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = response.json().expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    body
}

/// Runs the CLI with a data dir and returns (status, stdout, stderr).
pub fn cli(data_dir: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    cli_with_env(data_dir, args, &[])
}

/// `cli` with these environment variables set (and no others but PATH).
pub fn cli_with_env(
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String, String) {
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run shopkeep");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `cli` with `stdin` piped to the command (a password prompt, a file).
pub fn cli_with_input(data_dir: &Path, args: &[&str], stdin: &str) -> (ExitStatus, String, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shopkeep");
    // A command that fails before reading closes its input: not our failure.
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes());
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A new shop database in a temporary data directory, with budgets roomy
/// enough that no recorded model call is refused and `spend_cap_micros` as
/// the shop's monthly cap: for tests that record calls (through
/// `budget::record`, as the assistant does) before the server starts on it.
pub fn store_for_recorded_calls(
    spend_cap_micros: u64,
) -> (
    tempfile::TempDir,
    shopkeep::store::Store,
    shopkeep::assistant::budget::Budgets,
) {
    use shopkeep::config::{BudgetSettings, TokenBudget};
    let dir = tempfile::tempdir().unwrap();
    let store = shopkeep::store::Store::open(
        &dir.path().join("shopkeep.db"),
        &shopkeep::store::StoreOptions::default(),
    )
    .unwrap();
    let plenty = TokenBudget {
        daily: 1_000_000,
        monthly: 10_000_000,
    };
    let budgets = shopkeep::assistant::budget::Budgets::new(&BudgetSettings {
        guest: plenty,
        registered: plenty,
        premium: plenty,
        premium_customers: Vec::new(),
        monthly_spend_cap_micros: spend_cap_micros,
        alert_webhook: false,
    });
    (dir, store, budgets)
}

/// The dashboard's AI form (`PUT /api/v1/admin/ai`): the enterprise tier on
/// one OpenAI-compatible provider at `base_url` with `api_key`, default
/// routing and budgets.
pub fn enterprise_ai_form(base_url: &str, api_key: &str) -> Value {
    serde_json::json!({
        "tier": "enterprise",
        "openai": {
            "base_url": base_url,
            "api_key": api_key,
            "fast_model": "gpt-4o-mini",
            "strong_model": "gpt-4o",
        },
        "gemini": null,
        "routing": {"simple": "fast", "complex": "strong"},
        "budgets": {
            "guest": {"daily": 20_000, "monthly": 200_000},
            "registered": {"daily": 100_000, "monthly": 1_000_000},
            "premium": {"daily": 500_000, "monthly": 5_000_000},
            "monthly_spend_cap_micros": 50_000_000
        },
    })
}
