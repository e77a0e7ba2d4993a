//! Recommendations over HTTP and the CLI: orders planted straight into the
//! data directory's SQLite file, `shopkeep recommend rebuild`, then the real
//! server on a random port.

mod common;

use std::path::Path;

use common::{TestServer, assert_problem, cli};
use reqwest::Method;
use serde_json::Value;
use shopkeep::catalog::{Currency, demo};
use shopkeep::store::recommendations::{HistoryLine, HistoryOrder, insert_history_order};
use shopkeep::store::{Store, StoreOptions, products};

const SOURDOUGH: &str = "country-sourdough-loaf-800g";
const BUTTER: &str = "salted-cultured-butter-250g";
const JAM: &str = "strawberry-jam-340g";
const MILK: &str = "whole-milk-2l";
/// Same category as the sourdough (Bakery > Bread), never ordered.
const RYE: &str = "seeded-rye-tin-loaf-700g";

fn open_store(data_dir: &Path) -> Store {
    Store::open(&data_dir.join("shopkeep.db"), &StoreOptions::default()).unwrap()
}

fn id_of(store: &Store, handle: &str) -> i64 {
    store
        .read(|c| products::get_by_handle(c, handle))
        .unwrap()
        .unwrap_or_else(|| panic!("demo product {handle}"))
        .id
}

/// Writes `times` paid orders of the given products, a day old.
fn plant(store: &Store, times: usize, handles: &[&str]) {
    let ids: Vec<i64> = handles.iter().map(|h| id_of(store, h)).collect();
    let at = time::OffsetDateTime::now_utc() - time::Duration::DAY;
    let created_at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    store
        .write(|tx| {
            let existing: i64 = tx.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
            for n in 0..times {
                let order = HistoryOrder {
                    number: format!("PLANTED-{}", existing + n as i64 + 1),
                    customer_id: None,
                    session_id: Some(1),
                    status: "paid".into(),
                    currency: "USD".into(),
                    created_at: created_at.clone(),
                    lines: ids
                        .iter()
                        .map(|&product_id| HistoryLine {
                            product_id,
                            name: "planted".into(),
                            category: String::new(),
                            quantity: 1,
                            unit_price_minor: 100,
                        })
                        .collect(),
                };
                insert_history_order(tx, &order)?;
            }
            Ok(())
        })
        .unwrap();
}

/// The demo catalog with sourdough bought with butter (6×) and jam (2×), and
/// milk in 15 baskets of its own.
fn planted_shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    demo::load_if_empty(&store, &Currency::from_code("USD").unwrap()).unwrap();
    plant(&store, 6, &[SOURDOUGH, BUTTER]);
    plant(&store, 2, &[SOURDOUGH, JAM]);
    plant(&store, 15, &[MILK]);
    store.close().unwrap();
    dir
}

fn items(body: &Value) -> Vec<(String, String)> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["handle"].as_str().unwrap().to_string(),
                i["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn rebuild_says_clearly_when_there_are_no_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = cli(dir.path(), &["recommend", "rebuild"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("no orders"), "{stdout}");
}

#[test]
fn frequently_bought_together_over_http() {
    let dir = planted_shop();
    let (status, stdout, stderr) = cli(dir.path(), &["recommend", "rebuild"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("learned from 23 orders"), "{stdout}");

    let server = TestServer::start_in(dir, &[], &[]);
    let store = open_store(server.data_dir.path());
    let sourdough = id_of(&store, SOURDOUGH);

    let body = server.get_json(&format!("/api/v1/products/{sourdough}/recommendations"));
    let got = items(&body);
    assert_eq!(got[0], (BUTTER.into(), "bought_together".into()), "{got:?}");
    assert_eq!(got[1], (JAM.into(), "bought_together".into()), "{got:?}");
    assert!(got.iter().all(|(h, _)| h != SOURDOUGH), "never itself");
    let first = &body["items"][0];
    assert!(first["score"].as_f64().unwrap() > body["items"][1]["score"].as_f64().unwrap());
    for field in ["id", "name", "price", "price_minor", "category", "in_stock"] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }

    let by_handle = server.get_json(&format!(
        "/api/v1/products/{SOURDOUGH}/recommendations?limit=1"
    ));
    assert_eq!(
        items(&by_handle),
        [(BUTTER.into(), "bought_together".into())]
    );

    // Cold start: rye has no co-purchases; the best-selling bread comes first.
    let cold = items(&server.get_json(&format!("/api/v1/products/{RYE}/recommendations")));
    assert_eq!(
        cold[0],
        (SOURDOUGH.into(), "popular_in_category".into()),
        "{cold:?}"
    );
    assert_eq!(cold[1], (MILK.into(), "popular".into()), "{cold:?}");
    assert!(cold.iter().all(|(_, reason)| reason != "bought_together"));

    assert_problem(server.get("/api/v1/products/999999/recommendations"), 404);
    assert_problem(
        server.get("/api/v1/products/no-such-thing/recommendations"),
        404,
    );
    let bad = assert_problem(
        server.get(&format!(
            "/api/v1/products/{sourdough}/recommendations?limit=500"
        )),
        400,
    );
    assert_eq!(bad["errors"][0]["field"], "limit");

    // New orders show up after an admin rebuild, without a restart: jam
    // overtakes butter.
    plant(&store, 10, &[SOURDOUGH, JAM]);
    let path = "/api/v1/admin/recommendations/rebuild";
    assert_problem(server.client.post(server.url(path)).send().unwrap(), 401);
    let response = server.admin(Method::POST, path).send().unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().unwrap();
    assert_eq!(report["orders_seen"], 33, "{report}");
    assert!(report["pairs_kept"].as_u64().unwrap() >= 4, "{report}");
    let after = items(&server.get_json(&format!("/api/v1/products/{sourdough}/recommendations")));
    assert_eq!(
        after[0],
        (JAM.into(), "bought_together".into()),
        "{after:?}"
    );
}
