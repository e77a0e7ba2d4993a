//! Backups end to end with the real binary: a damaged archive is refused
//! with its reason and changes nothing; `restore` refuses a running server
//! unless forced; the dashboard's routes back up, download the same bytes,
//! upload, and restore into the running shop. (A backup taken under write
//! load and restored is checked table by table in tests/reliability.rs.)

mod common;

use std::path::{Path, PathBuf};

use common::shop::{Shopper, create_product};
use common::{TestServer, assert_problem, cli};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn orders(server: &TestServer) -> Vec<String> {
    let all: Value = server
        .admin(Method::GET, "/api/v1/admin/orders?limit=100")
        .send()
        .unwrap()
        .json()
        .unwrap();
    all["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_string())
        .collect()
}

fn backup_with_cli(data_dir: &Path, to: &Path) -> String {
    let (status, out, err) = cli(data_dir, &["backup", "--to", to.to_str().unwrap()]);
    assert!(status.success(), "backup failed: {out}{err}");
    assert!(out.contains("backed up to"), "{out}");
    out
}

#[test]
fn a_damaged_archive_is_refused_with_its_reason_and_nothing_changes() {
    let data = tempfile::tempdir().unwrap();
    let good = data.path().join("good.tar.zst");
    backup_with_cli(data.path(), &good);
    let database = data.path().join("shopkeep.db");
    let untouched = sha256(&std::fs::read(&database).unwrap());
    let bytes = std::fs::read(&good).unwrap();

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let cut = bytes[..bytes.len() / 3].to_vec();
    // Where a flipped byte lands decides which check sees it first: the
    // stream's checksum or the database's SHA-256; either names the damage.
    let cases: [(&str, Vec<u8>, &[&str]); 3] = [
        ("flipped.tar.zst", flipped, &["checksum", "corrupt"]),
        ("cut.tar.zst", cut, &["cut short"]),
        (
            "text.tar.zst",
            b"not an archive at all\n".to_vec(),
            &["not a .tar.zst"],
        ),
    ];
    for (name, content, reasons) in cases {
        let path = data.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (status, out, err) = cli(data.path(), &["restore", path.to_str().unwrap()]);
        assert!(!status.success(), "{name} was restored: {out}");
        assert!(
            err.contains("not a usable shopkeep backup"),
            "{name}: {err}"
        );
        assert!(reasons.iter().any(|r| err.contains(r)), "{name}: {err}");
        assert_eq!(
            sha256(&std::fs::read(&database).unwrap()),
            untouched,
            "{name}"
        );
        assert!(
            !data.path().join("shopkeep.db.before-restore").exists(),
            "{name}"
        );
    }
    let leftovers: Vec<PathBuf> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".backup-work")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "scratch folders are cleaned up: {leftovers:?}"
    );
}

#[test]
fn restore_refuses_a_running_server_unless_forced() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let jam = create_product(&server, "plum-jam", "4.00", Some(1000));
    let shopper = Shopper::new(&server);
    shopper.buy(jam, 1);
    let archive_path = server.data_dir.path().join("one-order.tar.zst");
    backup_with_cli(server.data_dir.path(), &archive_path);
    shopper.buy(jam, 1);
    assert_eq!(orders(&server).len(), 2);

    let (status, out, err) = cli(
        server.data_dir.path(),
        &["restore", archive_path.to_str().unwrap()],
    );
    assert!(!status.success(), "restored over a running server: {out}");
    assert!(err.contains(&format!("(pid {})", server.pid())), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(orders(&server).len(), 2, "nothing changed");

    let (status, out, err) = cli(
        server.data_dir.path(),
        &["restore", "--force", archive_path.to_str().unwrap()],
    );
    assert!(status.success(), "forced restore failed: {out}{err}");
    assert!(out.contains("into the running server's database"), "{out}");
    assert_eq!(
        orders(&server).len(),
        1,
        "the running server serves the restored shop"
    );
    assert_eq!(
        shopper.buy(jam, 1)["status"],
        "pending",
        "and keeps taking orders"
    );
}

#[test]
fn the_dashboard_routes_back_up_download_upload_and_restore_live() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let tea = create_product(&server, "black-tea", "5.00", Some(1000));
    let shopper = Shopper::new(&server);
    shopper.buy(tea, 1);

    assert_problem(server.get("/api/v1/admin/backups"), 401);
    let created = server
        .admin(Method::POST, "/api/v1/admin/backups")
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().unwrap();
    let name = created["name"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("shopkeep-") && name.ends_with(".tar.zst"),
        "{name}"
    );
    assert_eq!(created["orders"], 1);

    let listed: Value = server
        .admin(Method::GET, "/api/v1/admin/backups")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed[0]["name"], name.as_str());

    let download = server
        .admin(Method::GET, &format!("/api/v1/admin/backups/{name}"))
        .send()
        .unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment") && disposition.contains(&name),
        "{disposition}"
    );
    let bytes = download.bytes().unwrap();
    let on_disk = std::fs::read(server.data_dir.path().join("backups").join(&name)).unwrap();
    assert_eq!(
        bytes.as_ref(),
        on_disk.as_slice(),
        "the download is the same bytes"
    );
    assert_eq!(sha256(&bytes), created["sha256"].as_str().unwrap());

    for (path, status) in [
        ("/api/v1/admin/backups/..%2Fshopkeep.db", 400),
        ("/api/v1/admin/backups/..%2F..%2Fetc%2Fpasswd.tar.zst", 400),
        ("/api/v1/admin/backups/missing.tar.zst", 404),
    ] {
        assert_problem(server.admin(Method::GET, path).send().unwrap(), status);
    }

    let mut damaged = bytes.to_vec();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    let refused = assert_problem(
        server
            .admin(Method::POST, "/api/v1/admin/backups/upload")
            .body(damaged)
            .send()
            .unwrap(),
        422,
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("not a usable shopkeep backup"),
        "{refused}"
    );
    let uploaded = server
        .admin(Method::POST, "/api/v1/admin/backups/upload")
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let uploaded: Value = uploaded.json().unwrap();
    let upload_name = uploaded["name"].as_str().unwrap().to_string();
    assert_eq!(uploaded["kind"], "uploaded");
    assert_eq!(uploaded["manifest"]["created_at"], created["created_at"]);

    shopper.buy(tea, 1);
    shopper.buy(tea, 1);
    assert_eq!(orders(&server).len(), 3);
    let restored = server
        .admin(
            Method::POST,
            &format!("/api/v1/admin/backups/{upload_name}/restore"),
        )
        .send()
        .unwrap();
    assert_eq!(restored.status(), 200);
    let report: Value = restored.json().unwrap();
    assert_eq!(report["live"], true);
    assert_eq!(orders(&server).len(), 1, "the shop is back to the backup");
    shopper.buy(tea, 1);
    assert_eq!(orders(&server).len(), 2, "and takes orders after it");
    assert!(
        server
            .data_dir
            .path()
            .join("shopkeep.db.before-restore")
            .is_file()
    );
    let search = server.wait_for_search();
    assert!(
        search["search_index"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("1 products indexed"),
        "{search}"
    );

    let system: Value = server
        .admin(Method::GET, "/api/v1/admin/system")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(system["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        system["database"]["schema_version"],
        shopkeep::store::known_schema_version()
    );
    assert!(system["disk"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(system["memory"]["process_rss_bytes"].as_u64().unwrap() > 0);
    assert!(system["last_backup"]["name"].as_str().is_some());
    assert_eq!(system["readiness"]["ready"], true);

    let spec: Value = server.get_json("/api/openapi.json");
    for path in [
        "/api/v1/admin/system",
        "/api/v1/admin/backups",
        "/api/v1/admin/backups/{name}",
        "/api/v1/admin/backups/upload",
        "/api/v1/admin/backups/{name}/restore",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
}
