//! The whole HTTP API fuzzed from its own OpenAPI document by schemathesis
//! (installed from the Python package index by `.ci/run`): valid and invalid
//! requests to every operation, as an admin, at least 2,000 of them. No
//! answer may be a server error, and every status code, media type and body
//! must be what `/api/openapi.json` says. The server's own request counter
//! shows how many requests it really answered.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::TestServer;

/// Requests the server answered, by status class, from its `/metrics`.
fn answered(server: &TestServer) -> (u64, u64) {
    let text = server.get("/metrics").text().unwrap();
    let mut all = 0;
    let mut server_errors = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("shopkeep_http_requests_total{") else {
            continue;
        };
        let count: u64 = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap() as u64;
        all += count;
        if rest.contains("status=\"5") {
            server_errors += count;
        }
    }
    (all, server_errors)
}

/// The schemathesis command: on PATH, or where the python3 that installed
/// it puts scripts (a user install writes to ~/.local/bin, often not on PATH).
fn schemathesis() -> PathBuf {
    let on_path = Command::new("schemathesis").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return PathBuf::from("schemathesis");
    }
    let folders = Command::new("python3")
        .args([
            "-c",
            "import os, sysconfig; print(sysconfig.get_path('scripts')); \
             print(sysconfig.get_path('scripts', os.name + '_user'))",
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&folders.stdout)
        .lines()
        .map(|folder| PathBuf::from(folder).join("schemathesis"))
        .find(|command| command.is_file())
        .expect(
            "schemathesis is installed (`python3 -m pip install schemathesis`; .ci/run does it)",
        )
}

#[test]
fn two_thousand_generated_requests_get_no_server_error_and_match_the_document() {
    let server = TestServer::start_with(&["--tier", "free"], &[]);
    server.wait_for_search();
    let work = tempfile::tempdir().unwrap();
    let (before, _) = answered(&server);
    let output = Command::new(schemathesis())
        .current_dir(work.path())
        .args([
            "run",
            &server.url("/api/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {}", server.admin_key),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            // One worker: the Python parser hypothesis uses is not safe across threads.
            "--workers",
            "1",
            "--seed",
            "20261124",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            // Revoking keys at random would revoke the one this run signs in with.
            "--exclude-path",
            "/api/v1/admin/keys/{id}",
            "--no-color",
        ])
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    println!("{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (after, server_errors) = answered(&server);
    let requests = after - before;
    println!("the server answered {requests} requests from schemathesis");
    assert!(requests >= 2_000, "only {requests} requests were generated");
    assert_eq!(server_errors, 0, "the server answered with 5xx");
    let ready: serde_json::Value = server.get_json("/readyz");
    assert_eq!(ready["ready"], true, "not ready after fuzzing: {ready}");
}
