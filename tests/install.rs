//! `install.sh` end to end in a temporary tree (`--root`): a first install
//! that becomes ready and prints a one-time password, an upgrade that keeps
//! the data, an upgrade to a broken binary that rolls back, an uninstall
//! that keeps the data and a purge that does not. Also: the script is
//! shellcheck-clean and the systemd unit passes `systemd-analyze verify` and
//! scores well on `systemd-analyze security`, and the server speaks the
//! sd_notify protocol the unit's `Type=notify` and `WatchdogSec` rely on.
//!
//! Needs `shellcheck` and `systemd-analyze` (Debian's shellcheck and systemd
//! packages); `.ci/run` installs them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, TestServer};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> Command {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success()),
        "{name} is missing: apt-get install {}",
        if name == "systemd-analyze" {
            "systemd"
        } else {
            name
        }
    );
    Command::new(name)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `install.sh --root ROOT --port PORT ARGS…`, run as a shop owner would.
fn install(root: &Path, port: u16, args: &[&str]) -> Output {
    Command::new("sh")
        .arg(repo().join("install.sh"))
        .arg("--root")
        .arg(root)
        .args(["--port", &port.to_string(), "--ready-timeout", "60"])
        .args(args)
        .output()
        .expect("run install.sh")
}

fn get(port: u16, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}")).unwrap()
}

/// Stops a shop left running from the tree, whatever the test's outcome.
struct Tree {
    root: tempfile::TempDir,
}

impl Tree {
    fn path(&self, inside: &str) -> PathBuf {
        self.root.path().join(inside.trim_start_matches('/'))
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.path("/var/lib/shopkeep/shopkeep.pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

#[test]
fn install_upgrade_rollback_uninstall_and_purge_in_a_temporary_root() {
    let tree = Tree {
        root: tempfile::tempdir().unwrap(),
    };
    let root = tree.root.path();
    let port = free_port();

    let first = install(root, port, &["--binary", BIN, "--tier", "free"]);
    let said = text(&first);
    assert!(first.status.success(), "{said}");
    assert!(said.contains("the shop is ready"), "{said}");
    let password = said
        .lines()
        .find_map(|l| {
            l.split_once("one-time password: ")
                .map(|(_, p)| p.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no password in {said}"));
    assert!(password.len() >= 16, "{password}");
    assert!(said.contains(&format!(":{port}/admin")), "{said}");
    assert_eq!(get(port, "/readyz").status(), 200);

    let config = tree.path("/etc/shopkeep/config.toml");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the configuration is private");
    let secret_key = tree.path("/etc/shopkeep/secret.key");
    let key_meta = std::fs::metadata(&secret_key).unwrap();
    assert_eq!(key_meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        key_meta.len(),
        32,
        "a 32-byte key for sealing saved API keys"
    );
    let config_text = std::fs::read_to_string(&config).unwrap();
    assert!(config_text.contains("tier = \"free\""), "{config_text}");
    let unit = std::fs::read_to_string(tree.path("/etc/systemd/system/shopkeep.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/shopkeep serve"),
        "{unit}"
    );
    assert!(
        unit.contains("MemoryMax=1G"),
        "the free tier's ceiling: {unit}"
    );

    // The password printed once signs in to the dashboard.
    let client = reqwest::blocking::Client::new();
    let login = client
        .post(format!("http://127.0.0.1:{port}/admin/login"))
        .json(&serde_json::json!({"user": "admin", "password": password}))
        .send()
        .unwrap();
    assert_eq!(login.status(), 200);

    // Data written now must survive the upgrade.
    let admin_key = std::fs::read_to_string(tree.path("/var/lib/shopkeep/admin-key")).unwrap();
    let created = client
        .post(format!("http://127.0.0.1:{port}/api/v1/products"))
        .bearer_auth(admin_key.trim())
        .json(&serde_json::json!({"name": "Install Test Jam", "price": "3.50", "stock": 4}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().unwrap());

    let again = install(root, port, &["--binary", BIN]);
    let said = text(&again);
    assert!(again.status.success(), "{said}");
    assert!(said.contains("upgrading"), "{said}");
    assert!(said.contains("keeping the configuration"), "{said}");
    assert!(
        !said.contains("one-time password"),
        "the password is set once: {said}"
    );
    let kept = get(port, "/api/v1/products/install-test-jam");
    assert_eq!(
        kept.status(),
        200,
        "the product made before the upgrade is there"
    );

    // A new binary that never becomes ready is rolled back.
    let broken = root.join("broken-shopkeep");
    std::fs::write(
        &broken,
        "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'shopkeep 9.9.9'; exit 0; }\n\
         [ \"$1\" = config ] && exit 0\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rolled = Command::new("sh")
        .arg(repo().join("install.sh"))
        .arg("--root")
        .arg(root)
        .args(["--port", &port.to_string(), "--ready-timeout", "5"])
        .arg("--binary")
        .arg(&broken)
        .output()
        .unwrap();
    let said = text(&rolled);
    assert!(!rolled.status.success(), "{said}");
    assert!(said.contains("rolled back"), "{said}");
    assert_eq!(
        get(port, "/readyz").status(),
        200,
        "the previous binary serves again"
    );
    let installed = std::fs::read(tree.path("/usr/local/bin/shopkeep")).unwrap();
    assert_eq!(
        installed,
        std::fs::read(BIN).unwrap(),
        "the previous binary is back"
    );

    let removed = install(root, port, &["--uninstall"]);
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!tree.path("/usr/local/bin/shopkeep").exists());
    assert!(!tree.path("/etc/systemd/system/shopkeep.service").exists());
    assert!(
        tree.path("/var/lib/shopkeep/shopkeep.db").exists(),
        "data is kept"
    );
    assert!(config.exists(), "the configuration is kept");
    assert!(get_refused(port), "the shop is stopped");

    let purged = install(root, port, &["--uninstall", "--purge"]);
    assert!(purged.status.success(), "{}", text(&purged));
    assert!(!tree.path("/var/lib/shopkeep").exists());
    assert!(!tree.path("/etc/shopkeep").exists());
}

fn get_refused(port: u16) -> bool {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err()
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    for (args, reason) in [
        (&["--tier", "gold"][..], "--tier must be"),
        (&["--port", "80a"][..], "--port must be a number"),
        (&["--purge"][..], "--purge only goes with --uninstall"),
        (&["--binary", "/nonexistent/shopkeep"][..], "no such file"),
        (&["--frobnicate"][..], "unknown option --frobnicate"),
    ] {
        let output = Command::new("sh")
            .arg(repo().join("install.sh"))
            .arg("--root")
            .arg(root.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let said = text(&output);
        assert!(said.contains(reason), "{args:?}: {said}");
    }
    assert!(
        !root.path().join("usr/local/bin/shopkeep").exists(),
        "nothing is installed by a refused run"
    );
}

#[test]
fn piped_from_the_network_the_script_installs_the_unit_the_binary_carries() {
    let elsewhere = tempfile::tempdir().unwrap();
    let script = elsewhere.path().join("install.sh");
    std::fs::copy(repo().join("install.sh"), &script).unwrap();
    let root = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .arg(&script)
        .arg("--root")
        .arg(root.path())
        .args(["--binary", BIN, "--tier", "free", "--no-start"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("not started (--no-start)"));
    let installed =
        std::fs::read_to_string(root.path().join("etc/systemd/system/shopkeep.service")).unwrap();
    let shipped = std::fs::read_to_string(repo().join("systemd/shopkeep.service"))
        .unwrap()
        .replace("MemoryMax=2G", "MemoryMax=1G");
    assert_eq!(
        installed, shipped,
        "the shipped unit, with the free tier's ceiling"
    );
}

#[test]
fn the_install_script_is_shellcheck_clean() {
    let output = tool("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(repo().join("install.sh"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn the_unit_passes_systemd_analyze_verify_and_scores_well_on_security() {
    let dir = tempfile::tempdir().unwrap();
    // verify looks for ExecStart's binary on this machine: point it at the built one.
    let unit = std::fs::read_to_string(repo().join("systemd/shopkeep.service"))
        .unwrap()
        .replace(
            "ExecStart=/usr/local/bin/shopkeep",
            &format!("ExecStart={BIN}"),
        );
    let path = dir.path().join("shopkeep.service");
    std::fs::write(&path, unit).unwrap();

    let verify = tool("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).trim().is_empty(),
        "no warnings: {}",
        text(&verify)
    );

    let security = tool("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = text(&security);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for shopkeep.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in {report}"));
    println!("systemd-analyze security: exposure {score} (0 is best, 10 worst)");
    assert!(score <= 2.0, "exposure {score}:\n{report}");
}

#[test]
fn the_server_notifies_systemd_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let receive = || {
        let mut buffer = [0u8; 512];
        let n = socket.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let mut server = TestServer::start_with(
        &[],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let ready = receive();
    assert!(
        ready.starts_with("READY=1\nSTATUS=listening on "),
        "{ready}"
    );
    // Half of WatchdogSec: two pings well within a second.
    assert_eq!(receive(), "WATCHDOG=1");
    assert_eq!(receive(), "WATCHDOG=1");
    server.signal("TERM");
    let stopping = loop {
        let message = receive();
        if message != "WATCHDOG=1" {
            break message;
        }
    };
    assert!(stopping.starts_with("STOPPING=1"), "{stopping}");
    let (status, _) = server.wait();
    assert!(status.success());
}
