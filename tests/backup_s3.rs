//! Backups uploaded to S3-compatible storage, against moto's S3 server run
//! as a real process with signature checking on: `shopkeep backup --upload`
//! puts the archive (the bytes listed and downloaded back are the local
//! archive's, and `restore` accepts the download); a wrong secret is refused
//! with S3's reason while the local archive stays; `backup.s3.keep` deletes
//! older uploads; the daily schedule uploads too and the System report says so.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, cli_with_env};
use reqwest::Method;
use serde_json::Value;
use shopkeep::backup::s3::{Client, Object};
use shopkeep::config::{S3Settings, Secret};

const BUCKET: &str = "shop-backups";
const PREFIX: &str = "nightly/";

/// moto's S3 server on a free port. The first three requests (making a user,
/// its policy and access key) are free; every later one must be signed with
/// that key, as real storage demands. Killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (python3 -m pip install 'moto[server]')");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                moto.child.try_wait().unwrap().is_none(),
                "moto exited at start"
            );
            assert!(Instant::now() < deadline, "moto did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        (moto.access_key_id, moto.secret_access_key) = moto.make_access_key();
        moto.client(&moto.secret_access_key)
            .create_bucket()
            .expect("create the bucket with a signed request");
        moto
    }

    /// An IAM user allowed s3:* and its access key, made with boto3 (which
    /// comes with moto) so our own client is checked against another one.
    fn make_access_key(&self) -> (String, String) {
        let script = r#"
import json, sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="shopkeep")
iam.put_user_policy(UserName="shopkeep", PolicyName="backups", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="shopkeep")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
        let output = Command::new("python3")
            .args(["-c", script, &self.endpoint])
            .output()
            .expect("run python3 with boto3");
        assert!(
            output.status.success(),
            "making an access key failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let mut parts = text.split_whitespace();
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    }

    fn settings(&self, secret: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            prefix: PREFIX.into(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: Secret::new(secret),
            path_style: true,
            keep: 30,
        }
    }

    fn client(&self, secret: &str) -> Client {
        Client::new(&self.settings(secret)).unwrap()
    }

    fn objects(&self) -> Vec<Object> {
        // Without the '/': moto checks the signature of an escaped '/' in a
        // query as if it were not escaped (boto3 fails there the same way).
        self.client(&self.secret_access_key)
            .list(PREFIX.trim_end_matches('/'))
            .expect("list the bucket")
    }

    /// The `SHOPKEEP_BACKUP_S3_*` variables for the shop, with `secret` as the key.
    fn env(&self, secret: &str, keep: &str) -> Vec<(String, String)> {
        [
            ("SHOPKEEP_BACKUP_S3_ENDPOINT", self.endpoint.as_str()),
            ("SHOPKEEP_BACKUP_S3_BUCKET", BUCKET),
            ("SHOPKEEP_BACKUP_S3_PREFIX", PREFIX),
            ("SHOPKEEP_BACKUP_S3_ACCESS_KEY_ID", &self.access_key_id),
            ("SHOPKEEP_BACKUP_S3_SECRET_ACCESS_KEY", secret),
            ("SHOPKEEP_BACKUP_S3_KEEP", keep),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn backup_upload(data_dir: &Path, env: &[(String, String)]) -> (bool, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, stdout, stderr) = cli_with_env(data_dir, &["backup", "--upload"], &env);
    (status.success(), stdout, stderr)
}

/// The local archive `backup` reported writing.
fn archive_of(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("backed up to "))
        .unwrap_or_else(|| panic!("no archive in: {stdout}"));
    PathBuf::from(line.split(" (").next().unwrap())
}

fn last_upload(data_dir: &Path) -> Value {
    let text = std::fs::read(data_dir.join("backups/last-upload.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[test]
fn an_uploaded_backup_lists_downloads_as_the_same_bytes_and_restores() {
    let moto = Moto::start();
    let shop = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = backup_upload(shop.path(), &moto.env(&moto.secret_access_key, "30"));
    assert!(ok, "backup --upload failed: {stdout}\n{stderr}");
    let archive = archive_of(&stdout);
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    let key = format!("{PREFIX}{name}");
    assert!(
        stdout.contains(&format!("uploaded to s3://{BUCKET}/{key}")),
        "{stdout}"
    );

    let objects = moto.objects();
    assert_eq!(
        objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        vec![key.as_str()]
    );
    let local = std::fs::read(&archive).unwrap();
    assert_eq!(objects[0].size, local.len() as u64);
    let download = shop.path().join("downloaded.tar.zst");
    moto.client(&moto.secret_access_key)
        .get_to_file(&key, &download)
        .expect("download the upload");
    assert!(
        std::fs::read(&download).unwrap() == local,
        "the download differs from the local archive"
    );

    let restored = tempfile::tempdir().unwrap();
    let (status, out, err) = common::cli(restored.path(), &["restore", download.to_str().unwrap()]);
    assert!(
        status.success(),
        "restore of the download failed: {out}\n{err}"
    );
    assert!(restored.path().join("shopkeep.db").is_file());

    let recorded = last_upload(shop.path());
    assert_eq!(recorded["ok"], true, "{recorded}");
    assert_eq!(recorded["name"], name.as_str());
    assert_eq!(recorded["bytes"], local.len() as u64);
}

#[test]
fn a_wrong_secret_is_refused_with_the_reason_and_the_archive_stays() {
    let moto = Moto::start();
    let shop = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-0123456789";
    let (ok, stdout, stderr) = backup_upload(shop.path(), &moto.env(wrong, "30"));
    assert!(!ok, "an upload with a wrong secret succeeded: {stdout}");
    assert!(stderr.contains("the upload failed"), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
    assert!(!stderr.contains(wrong), "the secret leaked: {stderr}");
    let archive = archive_of(&stdout);
    assert!(archive.is_file(), "the local archive was not kept");
    assert!(moto.objects().is_empty(), "nothing should have been stored");
    let recorded = last_upload(shop.path());
    assert_eq!(recorded["ok"], false);
    assert!(
        recorded["error"]
            .as_str()
            .is_some_and(|e| e.contains("SignatureDoesNotMatch")),
        "{recorded}"
    );
}

#[test]
fn uploads_beyond_the_kept_number_are_deleted_oldest_first() {
    let moto = Moto::start();
    let shop = tempfile::tempdir().unwrap();
    let env = moto.env(&moto.secret_access_key, "2");
    let mut names = Vec::new();
    for round in 0..3 {
        if round > 0 {
            // Archive names and S3's times have whole seconds: keep them apart.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let (ok, stdout, stderr) = backup_upload(shop.path(), &env);
        assert!(ok, "{stdout}\n{stderr}");
        names.push(format!(
            "{PREFIX}{}",
            archive_of(&stdout).file_name().unwrap().to_str().unwrap()
        ));
        if round == 2 {
            assert!(
                stdout.contains(&format!("deleted the older upload {}", names[0])),
                "{stdout}"
            );
        }
    }
    let mut kept: Vec<String> = moto.objects().into_iter().map(|o| o.key).collect();
    kept.sort();
    assert_eq!(kept, names[1..].to_vec());
    assert_eq!(
        std::fs::read_dir(shop.path().join("backups"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".tar.zst"))
            .count(),
        3,
        "remote retention never deletes local archives"
    );
}

#[test]
fn the_daily_backup_uploads_and_the_system_report_shows_it() {
    let moto = Moto::start();
    // The schedule's next minute; the server waits for it (at most a minute).
    let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(65);
    let at = format!("{:02}:{:02}", now.hour(), now.minute());
    let mut env = moto.env(&moto.secret_access_key, "30");
    env.push(("SHOPKEEP_BACKUP_AT".into(), at));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with(&["--no-demo"], &env);
    server.wait_for_log("uploaded the backup", Duration::from_secs(180));
    let objects = moto.objects();
    assert_eq!(objects.len(), 1);
    assert!(objects[0].key.ends_with("-daily.tar.zst"), "{objects:?}");
    let report: Value = server
        .admin(Method::GET, "/api/v1/admin/system")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let upload = &report["last_upload"];
    assert_eq!(upload["ok"], true, "{report}");
    assert_eq!(
        upload["target"],
        format!("s3://{BUCKET}/{}", objects[0].key).as_str()
    );
    assert!(
        report["backups"]["upload_to"]
            .as_str()
            .is_some_and(|t| t.contains(BUCKET)),
        "{report}"
    );
    assert!(
        !report.to_string().contains(&moto.secret_access_key),
        "the report shows the secret"
    );
}
