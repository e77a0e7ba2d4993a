//! Catalog import jobs over HTTP against a real server: a real Shopify export
//! imported in the background with progress and the final counts, an export
//! with a damaged row (per-row errors with line and field), a file that is not
//! a catalog (422 at once), and the dashboard's product list filters.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, assert_problem, shopify_exports};
use reqwest::Method;
use serde_json::Value;

/// 354 rows, 56 products (counted in tests/importers.rs).
const EXPORT: &str = "greatoutdoorin-star__greatoutdoor.csv";
const EXPORT_PRODUCTS: u64 = 56;

fn start_job(server: &TestServer, query: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    server
        .admin(Method::POST, &format!("/api/v1/admin/imports{query}"))
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .expect("POST /api/v1/admin/imports")
}

/// Polls the job until it finishes; returns every state seen, the last one finished.
fn follow(server: &TestServer, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let job: Value = server
            .admin(Method::GET, &format!("/api/v1/admin/imports/{id}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let status = job["status"].as_str().unwrap().to_string();
        seen.push(job);
        if status == "done" || status == "failed" {
            return seen;
        }
        assert!(Instant::now() < deadline, "job never finished: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_shopify_export_imports_in_the_background_with_progress_and_counts() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let file = std::fs::read(shopify_exports().join(EXPORT)).unwrap();
    let response = start_job(&server, &format!("?file_name={EXPORT}"), file.clone());
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let job: Value = response.json().unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/admin/imports/{id}"));
    assert!(
        ["queued", "running"].contains(&job["status"].as_str().unwrap()),
        "{job}"
    );
    assert_eq!(job["file_name"], EXPORT);
    assert_eq!(job["format"], "shopify");

    let seen = follow(&server, id);
    let done = seen.last().unwrap();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["rows_total"], EXPORT_PRODUCTS);
    assert_eq!(done["rows_done"], EXPORT_PRODUCTS);
    assert_eq!(done["created"], EXPORT_PRODUCTS);
    assert_eq!(
        (done["updated"].as_u64(), done["skipped"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(done["errors"], serde_json::json!([]));
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    // Progress never runs backwards nor past its total.
    let done_counts: Vec<u64> = seen
        .iter()
        .map(|j| j["rows_done"].as_u64().unwrap())
        .collect();
    assert!(
        done_counts.windows(2).all(|w| w[0] <= w[1]),
        "{done_counts:?}"
    );
    assert!(
        seen.iter()
            .all(|j| j["rows_total"].is_null()
                || j["rows_done"].as_u64() <= j["rows_total"].as_u64())
    );

    let recent: Value = server
        .admin(Method::GET, "/api/v1/admin/imports")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(recent[0]["id"], id);

    // The same file again changes nothing, and says so.
    let again: Value = start_job(&server, "?format=shopify", file).json().unwrap();
    let again = follow(&server, again["id"].as_str().unwrap())
        .pop()
        .unwrap();
    assert_eq!(
        (again["created"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(EXPORT_PRODUCTS))
    );
    let all: Value = server
        .admin(Method::GET, "/api/v1/admin/products?limit=1")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(all["total"], EXPORT_PRODUCTS);
}

/// Appends a product row to a Shopify export whose price is not a number.
fn with_damaged_row(export: &[u8]) -> (Vec<u8>, u64) {
    let mut reader = csv::Reader::from_reader(export);
    let header = reader.headers().unwrap().clone();
    let row: Vec<&str> = header
        .iter()
        .map(|column| match column {
            "Handle" => "broken-lantern",
            "Title" => "Broken Lantern",
            "Variant Price" => "twelve dollars",
            "Published" => "true",
            _ => "",
        })
        .collect();
    let mut damaged = export.to_vec();
    if !damaged.ends_with(b"\n") {
        damaged.push(b'\n');
    }
    let line = damaged.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&row).unwrap();
    damaged.extend(writer.into_inner().unwrap());
    (damaged, line)
}

#[test]
fn bad_rows_are_reported_with_their_line_and_field_and_the_rest_is_imported() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let export = std::fs::read(shopify_exports().join(EXPORT)).unwrap();
    let (damaged, line) = with_damaged_row(&export);
    let job: Value = start_job(&server, "", damaged.clone()).json().unwrap();
    let done = follow(&server, job["id"].as_str().unwrap()).pop().unwrap();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["created"], EXPORT_PRODUCTS);
    assert_eq!(done["skipped"], 1);
    assert_eq!(done["rows_total"], EXPORT_PRODUCTS + 1);
    let error = &done["errors"][0];
    assert_eq!(error["line"], line, "{error}");
    assert_eq!(error["field"], "price", "{error}");
    assert!(
        error["reason"].as_str().unwrap().contains("broken-lantern"),
        "{error}"
    );

    // Strict: the whole file is refused, nothing written, and the job says which row.
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let job: Value = start_job(&server, "?strict=true", damaged).json().unwrap();
    let failed = follow(&server, job["id"].as_str().unwrap()).pop().unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["errors"][0]["line"], line);
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was written")
    );
    let all: Value = server
        .admin(Method::GET, "/api/v1/admin/products")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(all["total"], 0);
}

#[test]
fn a_file_that_is_not_a_catalog_is_refused_at_once() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let sources = std::fs::read(shopify_exports().join("SOURCES.md")).unwrap();
    let problem = assert_problem(start_job(&server, "?file_name=SOURCES.md", sources), 422);
    assert_eq!(problem["type"], "/problems/not-a-catalog");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a catalog file"),
        "{problem}"
    );
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    assert_problem(start_job(&server, "", png), 422);
    let export = std::fs::read(shopify_exports().join(EXPORT)).unwrap();
    let wrong = assert_problem(start_job(&server, "?format=json", export), 422);
    assert!(
        wrong["detail"].as_str().unwrap().contains("line 1"),
        "{wrong}"
    );
    assert_problem(start_job(&server, "", Vec::new()), 400);
    assert_problem(start_job(&server, "?format=excel", b"a,b\n".to_vec()), 400);

    let recent: Value = server
        .admin(Method::GET, "/api/v1/admin/imports")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(recent, serde_json::json!([]), "no job for a refused file");
    assert_problem(
        server
            .admin(Method::GET, "/api/v1/admin/imports/nope")
            .send()
            .unwrap(),
        404,
    );
    assert_problem(server.get("/api/v1/admin/imports"), 401);
}

#[test]
fn the_dashboard_list_filters_by_text_stock_and_publication() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let file = b"handle,name,sku,price,stock,active\n\
        lamp,Desk Lamp,LMP-1,20.00,0,true\n\
        chair,Camp Chair,CHR-9,35.00,2,true\n\
        table,Picnic Table,TBL-3,90.00,40,true\n\
        tent,Old Tent,TNT-1,50.00,10,false\n"
        .to_vec();
    let job: Value = start_job(&server, "?format=csv", file).json().unwrap();
    assert_eq!(
        follow(&server, job["id"].as_str().unwrap()).pop().unwrap()["created"],
        4
    );
    let handles = |query: &str| -> Vec<String> {
        let page: Value = server
            .admin(Method::GET, &format!("/api/v1/admin/products{query}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {page}"))
            .iter()
            .map(|p| p["handle"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(handles(""), ["lamp", "chair", "table", "tent"]);
    assert_eq!(handles("?stock=out"), ["lamp"]);
    assert_eq!(handles("?stock=low"), ["chair"], "threshold 5 by default");
    assert_eq!(handles("?stock=in&published=true"), ["chair", "table"]);
    assert_eq!(handles("?published=false"), ["tent"]);
    assert_eq!(handles("?q=tbl-3"), ["table"]);
    let first: Value = server
        .admin(Method::GET, "/api/v1/admin/products?limit=3")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(first["total"], 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(handles(&format!("?limit=3&cursor={cursor}")), ["tent"]);
    assert_problem(
        server
            .admin(Method::GET, "/api/v1/admin/products?stock=some")
            .send()
            .unwrap(),
        400,
    );
    // Unpublished products are hidden from shoppers but open to the dashboard.
    assert_problem(server.get("/api/v1/products/tent"), 404);
    let tent: Value = server
        .admin(Method::GET, "/api/v1/admin/products/tent")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tent["active"], false);
}
