//! `shopkeep doctor` with the real binary: a healthy set-up passes, and each
//! broken one yields its fail or warn line with a fix and the right exit code.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{BIN, TestServer};
use serde_json::Value;

const REMOTE_KEY: &str = "sk-doctor-7a1e55c0";

/// A data directory with a private config file, one backup and a free port.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(extra_config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = free_port();
        let config = dir.path().join("shopkeep.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nbind = \"127.0.0.1:{port}\"\ndemo_catalog = false\n{extra_config}\n",
                data.display().to_string()
            ),
        )
        .unwrap();
        set_mode(&config, 0o600);
        let setup = Setup { dir, config };
        let (status, _, stderr) = setup.shopkeep(&["backup"]);
        assert!(status.success(), "backup: {stderr}");
        setup
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn shopkeep(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        let output = std::process::Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .output()
            .expect("run shopkeep");
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs `shopkeep doctor ARGS`; returns its exit code and output.
    fn doctor(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        let (status, stdout, stderr) = self.shopkeep(&all);
        assert!(stderr.is_empty(), "doctor wrote to stderr: {stderr}");
        (status.code().expect("exit code"), stdout)
    }

    fn newest_backup(&self) -> PathBuf {
        std::fs::read_dir(self.data_dir().join("backups"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.zst"))
            .expect("a backup")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The output line of `check`, and the fix line under it if any.
fn line_of<'a>(output: &'a str, check: &str) -> (&'a str, Option<&'a str>) {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{check}: ")))
        })
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{output}"));
    let fix = lines
        .get(at + 1)
        .and_then(|l| l.strip_prefix("      fix: "));
    (lines[at], fix)
}

fn assert_level(output: &str, check: &str, level: &str) -> String {
    let (line, fix) = line_of(output, check);
    assert!(
        line.starts_with(&format!("{level:<4}  ")),
        "{check} should be {level}:\n{output}"
    );
    if level == "ok" {
        assert!(fix.is_none(), "an ok line has no fix:\n{output}");
        return String::new();
    }
    let fix = fix.unwrap_or_else(|| panic!("{check} has no fix line:\n{output}"));
    assert!(!fix.trim().is_empty());
    fix.to_string()
}

#[test]
fn a_healthy_set_up_passes_every_check() {
    let setup = Setup::new("");
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 0, "{output}");
    for check in [
        "config",
        "data dir",
        "config file",
        "model",
        "gpu",
        "remote",
        "port",
        "backups",
    ] {
        assert_level(&output, check, "ok");
    }
    // The free tier needs little: this machine has it.
    assert_level(&output, "memory", "ok");
    assert!(
        output.lines().all(|l| ["ok  ", "warn", "fail", "    "]
            .iter()
            .any(|p| l.starts_with(p))),
        "every line is a finding or a fix:\n{output}"
    );

    let (code, json) = setup.doctor(&["--json"]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json).expect("--json prints JSON");
    assert_eq!(report["ok"], true);
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"backups") && checks.contains(&"port"),
        "{json}"
    );
}

#[test]
fn an_invalid_config_fails_with_the_key() {
    let setup = Setup::new("");
    std::fs::write(&setup.config, "limits.chat_per_minute = \"lots\"\n").unwrap();
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 1, "{output}");
    let (line, _) = line_of(&output, "config");
    assert!(
        line.starts_with("fail") && line.contains("limits.chat_per_minute"),
        "{output}"
    );
    assert_level(&output, "config", "fail");
}

#[test]
fn a_config_file_others_can_read_fails() {
    let setup = Setup::new("");
    set_mode(&setup.config, 0o644);
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 1, "{output}");
    let fix = assert_level(&output, "config file", "fail");
    assert!(fix.contains("chmod 600"), "{fix}");
    assert!(line_of(&output, "config file").0.contains("every user"));

    set_mode(&setup.config, 0o640);
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 0, "group-readable is a warning:\n{output}");
    assert_level(&output, "config file", "warn");
}

/// A catalog with one 16-byte model whose checksum is that of `GOOD_BYTES`.
const GOOD_BYTES: &[u8] = b"sixteen bytes!!\n";

fn write_catalog(setup: &Setup) -> PathBuf {
    use sha2::{Digest, Sha256};
    let sum = hex::encode(Sha256::digest(GOOD_BYTES));
    let path = setup.dir.path().join("catalog.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[model]]
id = "tiny"
kind = "chat"
family = "qwen2"
file = "tiny.gguf"
size = {}
sha256 = "{sum}"
ram_mb = 100
context = 2048
licence = "MIT"
description = "a tiny model"

[[model.sources]]
url = "http://127.0.0.1:1/tiny.gguf"
"#,
            GOOD_BYTES.len()
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_model_file_must_be_there_and_match_its_checksum() {
    let setup = Setup::new("");
    let catalog = write_catalog(&setup);
    let catalog = catalog.to_str().unwrap();
    let args = ["--model", "tiny", "--catalog", catalog];

    let (code, output) = setup.doctor(&args);
    assert_eq!(code, 1, "a missing model fails:\n{output}");
    let fix = assert_level(&output, "model", "fail");
    assert!(fix.contains("shopkeep models pull tiny"), "{fix}");

    let models = setup.data_dir().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("tiny.gguf"), b"sixteen bytes??\n").unwrap();
    let (code, output) = setup.doctor(&args);
    assert_eq!(code, 1, "a wrong checksum fails:\n{output}");
    let fix = assert_level(&output, "model", "fail");
    assert!(
        line_of(&output, "model").0.contains("sha256 mismatch"),
        "{output}"
    );
    assert!(fix.contains("shopkeep models remove tiny"), "{fix}");

    std::fs::write(models.join("tiny.gguf"), GOOD_BYTES).unwrap();
    let (code, output) = setup.doctor(&args);
    assert_eq!(code, 0, "{output}");
    assert_level(&output, "model", "ok");
    assert!(line_of(&output, "model").0.contains("sha256 matches"));
}

#[test]
fn a_port_held_by_another_program_fails_but_a_running_shopkeep_is_fine() {
    let setup = Setup::new("");
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let (code, output) = setup.doctor(&["--bind", &taken]);
    assert_eq!(code, 1, "{output}");
    let fix = assert_level(&output, "port", "fail");
    assert!(
        line_of(&output, "port").0.contains("another program"),
        "{output}"
    );
    assert!(fix.contains("bind"), "{fix}");
    drop(holder);

    let server = TestServer::start();
    let addr = server.base.trim_start_matches("http://").to_string();
    let (code, output) = setup.doctor(&["--bind", &addr]);
    assert_eq!(code, 0, "{output}");
    assert_level(&output, "port", "ok");
    assert!(
        line_of(&output, "port").0.contains("running shopkeep"),
        "{output}"
    );
}

/// A model API that answers every request with `status` and `body`, and
/// records each request head.
struct ModelList {
    base: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ModelList {
    fn start(status: u16, body: &'static str) -> ModelList {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let head = read_head(&stream);
                log.lock().unwrap().push(head);
                answer(stream, status, body);
            }
        });
        ModelList { base, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            return head;
        }
        head.push_str(&line);
    }
}

fn answer(mut stream: TcpStream, status: u16, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn remote_config(base: &str) -> String {
    format!("remote.openai_base_url = \"{base}/v1\"\nremote.openai_api_key = \"{REMOTE_KEY}\"\n")
}

#[test]
fn a_refused_remote_key_fails_without_spending_tokens() {
    let api = ModelList::start(401, r#"{"error":{"message":"Incorrect API key"}}"#);
    let setup = Setup::new(&remote_config(&api.base));
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 1, "{output}");
    let fix = assert_level(&output, "remote openai", "fail");
    assert!(
        line_of(&output, "remote openai").0.contains("key refused"),
        "{output}"
    );
    assert!(fix.contains("remote.openai_api_key"), "{fix}");
    assert!(
        !output.contains(REMOTE_KEY),
        "the key is never printed:\n{output}"
    );
    let heads = api.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with("GET /v1/models "),
        "only the model list: {heads:?}"
    );
    assert!(
        heads[0].to_lowercase().contains(&format!(
            "authorization: bearer {}",
            REMOTE_KEY.to_lowercase()
        )),
        "{heads:?}"
    );
}

#[test]
fn an_accepted_key_passes_and_an_unreachable_api_warns() {
    let api = ModelList::start(
        200,
        r#"{"object":"list","data":[{"id":"gpt-4o-mini"},{"id":"gpt-4o"}]}"#,
    );
    let setup = Setup::new(&remote_config(&api.base));
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 0, "{output}");
    assert_level(&output, "remote openai", "ok");
    assert!(
        line_of(&output, "remote openai").0.contains("2 models"),
        "{output}"
    );

    let closed = format!("http://127.0.0.1:{}", free_port());
    let setup = Setup::new(&remote_config(&closed));
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 0, "unreachable is a warning:\n{output}");
    assert_level(&output, "remote openai", "warn");
}

fn age_file(path: &Path, days: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[test]
fn old_backups_warn_then_fail_and_no_backup_warns_on_a_new_shop() {
    let setup = Setup::new("");
    let backup = setup.newest_backup();

    age_file(&backup, 3);
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 0, "{output}");
    let fix = assert_level(&output, "backups", "warn");
    assert!(fix.contains("shopkeep backup"), "{fix}");
    assert!(
        line_of(&output, "backups").0.contains("3 days old"),
        "{output}"
    );

    age_file(&backup, 10);
    let (code, output) = setup.doctor(&[]);
    assert_eq!(code, 1, "{output}");
    assert_level(&output, "backups", "fail");

    std::fs::remove_file(&backup).unwrap();
    let (code, output) = setup.doctor(&[]);
    assert_eq!(
        code, 0,
        "a shop created today has had no chance to back up:\n{output}"
    );
    assert_level(&output, "backups", "warn");
}

#[test]
fn a_key_saved_from_the_dashboard_is_checked_too() {
    let api = ModelList::start(403, r#"{"error":{"message":"forbidden"}}"#);
    let server = TestServer::start();
    let saved = server
        .admin(reqwest::Method::PUT, "/api/v1/admin/ai")
        .json(&common::enterprise_ai_form(
            &format!("{}/v1", api.base),
            REMOTE_KEY,
        ))
        .send()
        .unwrap();
    assert_eq!(saved.status(), 200);
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .args(["doctor", "--bind", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_level(&stdout, "remote openai", "fail");
    assert!(
        line_of(&stdout, "remote openai")
            .0
            .contains("key refused (HTTP 403)"),
        "{stdout}"
    );
    // The key that seals it is private, and the key itself is never printed.
    assert_level(&stdout, "secret key", "ok");
    assert!(!stdout.contains(REMOTE_KEY));
    assert!(
        api.heads().iter().any(|h| h.contains(REMOTE_KEY)),
        "the saved key was sent"
    );
}
