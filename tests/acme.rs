//! HTTPS with certificates from ACME, against Debian's pebble (the ACME test
//! server) on loopback, with pebble-challtestsrv as its DNS server so that
//! `shop.test` resolves to 127.0.0.1 and pebble's HTTP-01 validation reaches
//! the real shop binary. curl checks what a browser would: the chain up to
//! pebble's root, the name, HTTP/2, the redirect and HSTS.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::Value;

const DOMAIN: &str = "shop.test";
/// Lifetime pebble gives its certificates here: 10 days, so that
/// `acme.renew_before_days = 1` keeps one and `= 30` renews it.
const VALIDITY_SECS: u64 = 10 * 86_400;
const CERT_TIMEOUT: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// pebble and its DNS server, killed on drop.
struct Pebble {
    processes: Vec<Child>,
    dir: tempfile::TempDir,
    directory: String,
    management: String,
    /// The shop's plain HTTP port, where pebble sends HTTP-01 validations.
    http_port: u16,
}

impl Pebble {
    fn start() -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // pebble's own API certificate, which the shop trusts through acme.ca_file.
        let api = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        std::fs::write(dir.path().join("api.pem"), api.cert.pem()).unwrap();
        std::fs::write(dir.path().join("api.key"), api.signing_key.serialize_pem()).unwrap();
        let (api_port, management_port, http_port) = (free_port(), free_port(), free_port());
        let (dns_port, dns_management_port) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": dir.path().join("api.pem"),
            "privateKey": dir.path().join("api.key"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": VALIDITY_SECS,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{dns_management_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run pebble-challtestsrv (apt-get install pebble)");
        let mut pebble = Pebble {
            processes: vec![dns],
            dir,
            directory: format!("https://127.0.0.1:{api_port}/dir"),
            management: format!("https://127.0.0.1:{management_port}"),
            http_port,
        };
        let server = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run pebble (apt-get install pebble)");
        pebble.processes.push(server);
        for port in [api_port, management_port, dns_management_port] {
            wait_for_port(port);
        }
        pebble
    }

    fn api_certificate(&self) -> PathBuf {
        self.dir.path().join("api.pem")
    }

    /// pebble's root, which changes with every pebble start, from its management API.
    fn root(&self) -> PathBuf {
        let path = self.dir.path().join("root.pem");
        let output = curl(&[
            "--cacert",
            self.api_certificate().to_str().unwrap(),
            &format!("{}/roots/0", self.management),
            "-o",
            path.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "GET /roots/0: {output:?}");
        path
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// curl, bounded in time.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The shop's ports and the settings it starts with.
struct Shop {
    https_port: u16,
    http_port: u16,
    env: Vec<(String, String)>,
}

impl Shop {
    fn new(pebble: &Pebble, renew_before_days: u32) -> Shop {
        Self::with_directory(
            &pebble.directory,
            &pebble.api_certificate(),
            pebble.http_port,
            renew_before_days,
        )
    }

    fn with_directory(directory: &str, ca_file: &Path, http_port: u16, renew: u32) -> Shop {
        let https_port = free_port();
        let env = [
            ("SHOPKEEP_DOMAIN", DOMAIN.to_string()),
            ("SHOPKEEP_TLS_HTTP_PORT", http_port.to_string()),
            ("SHOPKEEP_TLS_HTTPS_PORT", https_port.to_string()),
            ("SHOPKEEP_ACME_DIRECTORY", directory.to_string()),
            ("SHOPKEEP_ACME_CA_FILE", ca_file.display().to_string()),
            ("SHOPKEEP_ACME_EMAIL", "owner@shop.test".to_string()),
            ("SHOPKEEP_ACME_RENEW_BEFORE_DAYS", renew.to_string()),
            ("SHOPKEEP_BACKUP_SCHEDULE", "off".to_string()),
        ];
        Shop {
            https_port,
            http_port,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn start(&self, data_dir: tempfile::TempDir) -> TestServer {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        TestServer::start_in(data_dir, &["--no-demo"], &env)
    }

    fn resolve(&self) -> String {
        format!("{DOMAIN}:{}:127.0.0.1", self.https_port)
    }

    fn https(&self, path: &str) -> String {
        format!("https://{DOMAIN}:{}{path}", self.https_port)
    }

    /// GET over HTTPS, verified against `root`; returns curl's output.
    fn get_verified(&self, root: &Path, path: &str, extra: &[&str]) -> Output {
        let resolve = self.resolve();
        let url = self.https(path);
        let mut args = vec!["--cacert", root.to_str().unwrap(), "--resolve", &resolve];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    }

    /// The leaf certificate the HTTPS listener presents now, as PEM.
    fn served_leaf(&self) -> String {
        let resolve = self.resolve();
        let url = self.https("/healthz");
        let output = curl(&[
            "--insecure",
            "--resolve",
            &resolve,
            "-o",
            "/dev/null",
            "--write-out",
            "%{certs}",
            &url,
        ]);
        assert!(output.status.success(), "{output:?}");
        first_pem(&String::from_utf8_lossy(&output.stdout))
    }
}

/// The first PEM certificate in `text`.
fn first_pem(text: &str) -> String {
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no certificate in {text}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[begin..].find(end_marker).unwrap() + begin + end_marker.len();
    text[begin..end].to_string()
}

fn stored_leaf(data_dir: &Path) -> String {
    let chain = std::fs::read_to_string(data_dir.join(format!("tls/{DOMAIN}.crt"))).unwrap();
    first_pem(&chain)
}

fn readiness(shop: &Shop) -> Value {
    let resolve = shop.resolve();
    let url = shop.https("/readyz");
    let output = curl(&["--insecure", "--resolve", &resolve, &url]);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

/// The port of `bind` (random in tests), the first address the shop announces.
fn bind_port(server: &TestServer) -> u16 {
    let first = server
        .base
        .trim_start_matches("http://")
        .split(',')
        .next()
        .unwrap();
    first.rsplit(':').next().unwrap().parse().unwrap()
}

fn take_data_dir(server: &mut TestServer) -> tempfile::TempDir {
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success(), "the shop stops cleanly: {status:?}");
    std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap())
}

#[test]
fn a_certificate_from_acme_is_served_kept_and_renewed() {
    let pebble = Pebble::start();
    let root = pebble.root();

    // First start: no certificate yet, one is ordered over HTTP-01.
    let shop = Shop::new(&pebble, 1);
    let mut server = shop.start(tempfile::tempdir().unwrap());
    server.wait_for_log("obtained a certificate", CERT_TIMEOUT);

    let output = shop.get_verified(
        &root,
        "/healthz",
        &["--http2", "--write-out", "\n%{http_version}"],
    );
    assert!(
        output.status.success(),
        "HTTPS verified against pebble's root for {DOMAIN}: {output:?}"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("\"ok\""), "{text}");
    assert!(text.ends_with("\n2"), "HTTP/2 negotiated over ALPN: {text}");
    let output = shop.get_verified(
        &root,
        "/healthz",
        &["--http1.1", "--write-out", "\n%{http_version}"],
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).ends_with("\n1.1"),
        "HTTP/1.1 still served"
    );

    let headers = shop.get_verified(&root, "/healthz", &["--head"]);
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );

    // Cookies set over the TLS listener are Secure (the shopper's session here;
    // the dashboard's follows the same scheme check).
    let cart = shop.get_verified(&root, "/api/v1/cart", &["--include"]);
    let cart = String::from_utf8_lossy(&cart.stdout).to_lowercase();
    let cookie = cart
        .lines()
        .find(|l| l.starts_with("set-cookie: shopkeep_session="))
        .unwrap_or_else(|| panic!("a session cookie: {cart}"));
    assert!(cookie.contains("; secure"), "{cookie}");

    let redirect = curl(&[
        "--include",
        "-H",
        &format!("Host: {DOMAIN}"),
        &format!(
            "http://127.0.0.1:{}/api/v1/products?limit=2&q=tea",
            shop.http_port
        ),
    ]);
    let redirect = String::from_utf8_lossy(&redirect.stdout).to_lowercase();
    assert!(redirect.starts_with("http/1.1 308"), "{redirect}");
    let location = format!(
        "location: https://{DOMAIN}:{}/api/v1/products?limit=2&q=tea",
        shop.https_port
    );
    assert!(redirect.contains(&location), "{redirect}");
    assert!(
        !redirect.contains("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
    for port in [shop.http_port, bind_port(&server)] {
        let probe = curl(&[
            "--write-out",
            "\n%{http_code}",
            &format!("http://127.0.0.1:{port}/healthz"),
        ]);
        let probe = String::from_utf8_lossy(&probe.stdout);
        assert!(
            probe.ends_with("\n200"),
            "health probes answer over plain HTTP on {port}: {probe}"
        );
    }
    let redirect = curl(&[
        "--write-out",
        "%{http_code} %{redirect_url}",
        &format!("http://127.0.0.1:{}/admin", bind_port(&server)),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&redirect.stdout),
        format!("308 https://{DOMAIN}:{}/admin", shop.https_port),
        "bind's listener redirects as well"
    );

    let ready = readiness(&shop);
    assert_eq!(ready["tls"]["status"], "ok", "{ready}");
    assert!(
        ready["tls"]["reason"].as_str().unwrap().contains(DOMAIN),
        "{ready}"
    );

    let data = server.data_dir.path().to_path_buf();
    for file in [
        format!("{DOMAIN}.crt"),
        format!("{DOMAIN}.key"),
        "account.key".into(),
    ] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join("tls").join(&file))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{file} is private");
    }
    let first = stored_leaf(&data);
    assert_eq!(
        shop.served_leaf(),
        first,
        "the stored certificate is the one served"
    );
    let expiry =
        shopkeep::tls::certificate_expiry(&data, DOMAIN).expect("expiry of the stored certificate");
    let left = expiry - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::days(9) && left <= time::Duration::days(10),
        "{left}"
    );

    // A restart with the certificate far from its renewal window reuses it.
    let data_dir = take_data_dir(&mut server);
    drop(server);
    let shop = Shop::new(&pebble, 1);
    let mut server = shop.start(data_dir);
    server.wait_for_log("the certificate is not due for renewal", CERT_TIMEOUT);
    assert_eq!(
        shop.served_leaf(),
        first,
        "the same certificate after a restart"
    );
    assert_eq!(stored_leaf(server.data_dir.path()), first, "no new order");

    // Inside the window (30 days before a 10-day certificate's end) the shop
    // renews at start and swaps the new certificate in while it runs.
    let data_dir = take_data_dir(&mut server);
    drop(server);
    let shop = Shop::new(&pebble, 30);
    let server = shop.start(data_dir);
    let pid = server.pid();
    server.wait_for_log("obtained a certificate", CERT_TIMEOUT);
    let renewed = stored_leaf(server.data_dir.path());
    assert_ne!(renewed, first, "a new certificate was stored");
    assert_eq!(
        shop.served_leaf(),
        renewed,
        "and is served without a restart"
    );
    assert_eq!(server.pid(), pid);
    let output = shop.get_verified(&root, "/healthz", &[]);
    assert!(
        output.status.success(),
        "the renewed certificate verifies: {output:?}"
    );
}

#[test]
fn an_unreachable_authority_leaves_the_shop_serving_a_self_signed_certificate() {
    let closed = free_port();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    let stand_in = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(ca_file.path(), stand_in.cert.pem()).unwrap();
    let shop = Shop::with_directory(
        &format!("https://127.0.0.1:{closed}/dir"),
        ca_file.path(),
        free_port(),
        30,
    );
    let server = shop.start(tempfile::tempdir().unwrap());
    server.wait_for_log("could not obtain a certificate", CERT_TIMEOUT);

    let resolve = shop.resolve();
    let output = curl(&["--insecure", "--resolve", &resolve, &shop.https("/healthz")]);
    assert!(output.status.success(), "HTTPS still answers: {output:?}");
    let leaf = shop.served_leaf();
    assert!(!leaf.is_empty());
    let ready = readiness(&shop);
    assert_eq!(
        ready["ready"], true,
        "TLS trouble does not stop the shop: {ready}"
    );
    assert_eq!(ready["tls"]["status"], "degraded", "{ready}");
    let reason = ready["tls"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("self-signed") && reason.contains("cannot reach the ACME server"),
        "{reason}"
    );
    assert!(
        !server
            .data_dir
            .path()
            .join(format!("tls/{DOMAIN}.crt"))
            .exists()
    );
}
