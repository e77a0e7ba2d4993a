//! The admin dashboard's sign-in against the real binary: `shopkeep admin
//! set-password`, the session cookie, CSRF on the admin API, the lockout
//! (across a restart), the redirect of pages to the sign-in page, signing out,
//! and a server log that never holds a password.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use common::{TestServer, assert_problem, cli_with_input};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const PASSWORD: &str = "tall tomatoes grow slowly";
const WRONG: &str = "short beans grow fast";

/// Runs `shopkeep admin set-password` with `stdin` piped in.
fn set_password(data_dir: &Path, args: &[&str], stdin: &str) -> (ExitStatus, String, String) {
    let mut full = vec!["admin", "set-password"];
    full.extend_from_slice(args);
    cli_with_input(data_dir, &full, stdin)
}

/// A server whose admin password was set from the CLI before it started.
fn server_with_password() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr) = set_password(dir.path(), &[], &format!("{PASSWORD}\n"));
    assert!(status.success(), "{stderr}");
    TestServer::start_in(dir, &["--no-demo"], &[])
}

/// A client that shows redirects instead of following them, from `address`.
fn browser(address: &str) -> Client {
    Client::builder()
        .redirect(Policy::none())
        .local_address(address.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn login(client: &Client, server: &TestServer, user: &str, password: &str) -> Response {
    client
        .post(server.url("/admin/login"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .unwrap()
}

fn set_cookie(response: &Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string()
}

/// Signs in as `admin`; returns the `name=value` cookie pair and the CSRF token.
fn sign_in(client: &Client, server: &TestServer) -> (String, String) {
    let response = login(client, server, "admin", PASSWORD);
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response);
    let pair = cookie.split(';').next().unwrap().to_string();
    let body: Value = response.json().unwrap();
    (pair, body["csrf_token"].as_str().unwrap().to_string())
}

fn location(response: &Response) -> Option<&str> {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap())
}

#[test]
fn set_password_reads_stdin_or_a_file_but_never_an_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr) = set_password(dir.path(), &[], "too short\n");
    assert!(!status.success());
    assert!(stderr.contains("at least 10 characters"), "{stderr}");
    let (status, _, stderr) = set_password(dir.path(), &["--password", PASSWORD], "");
    assert!(
        !status.success(),
        "a password on the command line is refused"
    );
    assert!(stderr.contains("--password"), "{stderr}");
    let file = dir.path().join("owner-password");
    std::fs::write(&file, format!("{PASSWORD}\r\n")).unwrap();
    let (status, stdout, stderr) = set_password(
        dir.path(),
        &["--user", "owner", "--password-file", file.to_str().unwrap()],
        "",
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("\"owner\""), "{stdout}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));

    let server = TestServer::start_in(dir, &["--no-demo"], &[]);
    let client = browser("127.0.0.1");
    assert_eq!(login(&client, &server, "owner", PASSWORD).status(), 200);
    assert_problem(login(&client, &server, "admin", PASSWORD), 401);
}

#[test]
fn signing_in_sets_a_strict_http_only_cookie_and_a_wrong_password_is_401() {
    let server = server_with_password();
    let client = browser("127.0.0.1");

    let wrong = assert_problem(login(&client, &server, "admin", WRONG), 401);
    assert!(wrong["detail"].as_str().unwrap().contains("not right"));

    let response = login(&client, &server, "admin", PASSWORD);
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response);
    let attributes: Vec<&str> = cookie.split("; ").collect();
    assert!(attributes[0].starts_with("shopkeep_admin=") && attributes[0].len() == 15 + 64);
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP: {cookie}");
    let body: Value = response.json().unwrap();
    assert_eq!(body["user"], "admin");
    let csrf = body["csrf_token"].as_str().unwrap();
    assert_eq!(csrf.len(), 64);

    let session: Value = client
        .get(server.url("/admin/session"))
        .header("cookie", attributes[0])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        session, body,
        "the session says who, its CSRF token and its end"
    );

    let over_tls = client
        .post(server.url("/admin/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"user": "admin", "password": PASSWORD}))
        .send()
        .unwrap();
    assert!(set_cookie(&over_tls).split("; ").any(|a| a == "Secure"));

    // With a cookie already, the form's body is read ahead for a CSRF field
    // and must still reach the handler whole.
    let form = client
        .post(server.url("/admin/login"))
        .header("cookie", attributes[0])
        .form(&[("user", "admin"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(form.status(), 303);
    assert_eq!(location(&form), Some("/admin"));
    let form_cookie = set_cookie(&form);
    let page = client
        .get(server.url("/admin"))
        .header("cookie", form_cookie.split(';').next().unwrap())
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let overview = page.text().unwrap();
    assert!(overview.contains("<h1>Overview</h1>"), "{overview}");
    assert!(overview.contains("data-page=\"overview\""), "{overview}");
    let unknown = client
        .get(server.url("/admin/nowhere"))
        .header("cookie", form_cookie.split(';').next().unwrap())
        .send()
        .unwrap();
    assert_problem(unknown, 404);

    let refused = client
        .post(server.url("/admin/login"))
        .form(&[("user", "admin"), ("password", WRONG)])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    let refused_page = refused.text().unwrap();
    assert!(refused_page.contains("role=\"alert\"") && refused_page.contains("not right"));

    let mut server = server;
    server.signal("TERM");
    let (_, log) = server.wait();
    assert!(
        log.iter().any(|line| line.contains("admin signed in")),
        "the sign-ins are logged: {log:?}"
    );
    for line in &log {
        assert!(
            !line.contains(PASSWORD) && !line.contains(WRONG),
            "a password reached the log: {line}"
        );
    }
}

#[test]
fn the_admin_api_takes_the_session_cookie_with_its_csrf_token() {
    let server = server_with_password();
    let client = browser("127.0.0.1");
    let (cookie, csrf) = sign_in(&client, &server);

    let usage = client
        .get(server.url("/api/v1/admin/usage"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(usage.status(), 200, "a GET needs no CSRF token");

    let create = |csrf: Option<&str>| {
        let mut request = client
            .post(server.url("/api/v1/admin/keys"))
            .header("cookie", &cookie)
            .json(&json!({"name": "from the dashboard"}));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send().unwrap()
    };
    let missing = assert_problem(create(None), 403);
    assert!(missing["detail"].as_str().unwrap().contains("X-CSRF-Token"));
    let forged = "0".repeat(64);
    assert_problem(create(Some(&forged)), 403);
    assert_problem(create(Some("not even hex")), 403);
    let keys: Value = server
        .admin(reqwest::Method::GET, "/api/v1/admin/keys")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        keys.as_array().unwrap().len(),
        1,
        "nothing was created: {keys}"
    );
    assert_eq!(create(Some(&csrf)).status(), 201);

    let bearer = server
        .admin(reqwest::Method::POST, "/api/v1/admin/keys")
        .json(&json!({"name": "from a script"}))
        .send()
        .unwrap();
    assert_eq!(bearer.status(), 201, "an admin key needs no CSRF token");

    let other_session = sign_in(&client, &server).1;
    assert_ne!(other_session, csrf);
    assert_problem(create(Some(&other_session)), 403);

    let by_form = client
        .post(server.url("/admin/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(by_form.status(), 303, "the token may come as a form field");
    assert_eq!(location(&by_form), Some("/admin/login"));
    let after = client
        .get(server.url("/api/v1/admin/usage"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_problem(after, 401);
}

#[test]
fn admin_pages_send_a_browser_without_a_session_to_the_sign_in_page() {
    let server = server_with_password();
    let client = browser("127.0.0.1");
    let stale = format!("shopkeep_admin={}", "ab".repeat(32));
    for path in ["/admin", "/admin/", "/admin/orders", "/admin/ai/models"] {
        for cookie in [None, Some(stale.as_str())] {
            let mut request = client.get(server.url(path));
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request.send().unwrap();
            assert_eq!(response.status(), 303, "{path} with {cookie:?}");
            assert_eq!(location(&response), Some("/admin/login"), "{path}");
        }
    }
    assert_problem(
        client.get(server.url("/admin/session")).send().unwrap(),
        401,
    );

    let page = client.get(server.url("/admin/login")).send().unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().unwrap();
    for needle in [
        "<form method=\"post\" action=\"/admin/login\"",
        "<label for=\"user\">",
        "<label for=\"password\">",
        "type=\"password\"",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    assert!(!html.contains("set-password"), "a password is set");
    let css = client
        .get(server.url("/admin/assets/admin.css"))
        .send()
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.text().unwrap().contains(":focus-visible"));
    let template = client
        .get(server.url("/admin/assets/login.html"))
        .send()
        .unwrap();
    assert_problem(template, 404);

    let (cookie, _) = sign_in(&client, &server);
    let back = client
        .get(server.url("/admin/login"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(location(&back), Some("/admin"), "signed in already");
    let unknown = client
        .get(server.url("/admin/no-such-page"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_problem(unknown, 404);
}

#[test]
fn the_sign_in_page_says_how_to_set_a_password_when_none_is() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let html = server.get("/admin/login").text().unwrap();
    assert!(html.contains("shopkeep admin set-password"), "{html}");
    let client = browser("127.0.0.1");
    assert_problem(login(&client, &server, "admin", PASSWORD), 401);
    let refused = client
        .post(server.url("/admin/login"))
        .form(&[("user", "<b>admin</b>"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let page = refused.text().unwrap();
    assert!(page.contains("shopkeep admin set-password"), "{page}");
    assert!(
        page.contains("value=\"&lt;b&gt;admin&lt;") && !page.contains("<b>admin"),
        "the name tried comes back escaped: {page}"
    );
}

#[test]
fn signing_out_ends_the_session() {
    let server = server_with_password();
    let client = browser("127.0.0.1");
    let (cookie, csrf) = sign_in(&client, &server);
    let logout = |csrf: &str| {
        client
            .post(server.url("/admin/logout"))
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .send()
            .unwrap()
    };
    assert_problem(logout(&"f".repeat(64)), 403);
    let still = client
        .get(server.url("/admin/session"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(still.status(), 200, "a forged sign-out ends nothing");

    let out = logout(&csrf);
    assert_eq!(out.status(), 204);
    let cleared = set_cookie(&out);
    assert!(
        cleared.starts_with("shopkeep_admin=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let session = client
        .get(server.url("/admin/session"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_problem(session, 401);
    let api = client
        .get(server.url("/api/v1/admin/usage"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_problem(api, 401);
    let page = client
        .get(server.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(location(&page), Some("/admin/login"));
    assert_eq!(logout(&csrf).status(), 204, "signing out twice is harmless");
}

#[test]
fn five_failures_lock_a_name_or_an_address_and_a_restart_keeps_the_lock() {
    let server = server_with_password();

    // From one address, five different names: the address is locked, not the name.
    let sprayer = browser("127.0.0.3");
    for name in ["ana", "ben", "cy", "dee", "eve"] {
        assert_problem(login(&sprayer, &server, name, WRONG), 401);
    }
    let refused = login(&sprayer, &server, "admin", PASSWORD);
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429);
    assert_eq!(
        login(&browser("127.0.0.4"), &server, "admin", PASSWORD).status(),
        200,
        "admin from elsewhere is not locked"
    );

    // One name from five addresses: the name is locked wherever it comes from.
    for last in 5..10 {
        let from = browser(&format!("127.0.0.{last}"));
        assert_problem(login(&from, &server, "admin", WRONG), 401);
    }
    let elsewhere = browser("127.0.0.10");
    let locked = login(&elsewhere, &server, "admin", PASSWORD);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((850..=900).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(locked, 429);
    assert!(problem["detail"].as_str().unwrap().contains("15 minutes"));
    let by_form = elsewhere
        .post(server.url("/admin/login"))
        .form(&[("user", "admin"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(by_form.status(), 429);
    assert!(by_form.headers().contains_key("retry-after"));
    assert!(by_form.text().unwrap().contains("too many failed sign-ins"));

    let mut server = server;
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success());
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let again = TestServer::start_in(data_dir, &["--no-demo"], &[]);
    let after_restart = login(&elsewhere, &again, "admin", PASSWORD);
    assert_problem(after_restart, 429);
    assert_problem(login(&sprayer, &again, "someone", PASSWORD), 429);
}
