//! Product search over HTTP against a real server with real MiniLM weights:
//! typo tolerance, filters, facets, sorting, type-ahead, bad input, and the
//! index staying consistent with SQLite through writes, re-imports and kill -9.

mod common;

use std::io::Write;

use common::{TestServer, assert_problem, cli, models_dir};
use reqwest::Method;
use serde_json::{Value, json};

fn semantic_server() -> TestServer {
    let models = models_dir();
    let server = TestServer::start_with(&[], &[("SHOPKEEP_MODELS_DIR", models.to_str().unwrap())]);
    server.wait_for_search();
    server
}

fn handles(results: &Value) -> Vec<String> {
    results["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["handle"].as_str().unwrap().to_string())
        .collect()
}

fn search(server: &TestServer, query: &str) -> Value {
    server.get_json(&format!("/api/v1/search?{query}"))
}

#[test]
fn shoppers_words_typos_and_meaning_find_the_right_products() {
    let server = semantic_server();
    let ready = server.get_json("/readyz");
    assert!(
        ready["search_index"]["reason"]
            .as_str()
            .unwrap()
            .contains("342 products embedded"),
        "{ready}"
    );

    let cookies = search(&server, "q=choclate%20chip%20cookies&limit=5");
    assert_eq!(cookies["mode"], "hybrid");
    assert!(
        handles(&cookies)
            .iter()
            .take(3)
            .all(|h| h.contains("cookie")),
        "{:?}",
        handles(&cookies)
    );

    let pasta = search(&server, "q=gluten%20free%20pasta&limit=5");
    for hit in pasta["hits"].as_array().unwrap().iter().take(3) {
        let product = server.get_json(&format!("/api/v1/products/{}", hit["id"]));
        assert!(
            product["dietary"]
                .as_array()
                .unwrap()
                .contains(&json!("gluten-free")),
            "{product}"
        );
        assert!(
            product["category"].as_str().unwrap().starts_with("Pantry"),
            "{product}"
        );
    }

    let keyword_only = search(&server, "q=something%20for%20a%20picnic&alpha=0");
    let hybrid = search(&server, "q=something%20for%20a%20picnic");
    assert_eq!(keyword_only["mode"], "keyword");
    assert!(hybrid["total"].as_u64() >= keyword_only["total"].as_u64());
    let rrf = search(&server, "q=something%20for%20a%20picnic&fusion=rrf&limit=5");
    assert_eq!(rrf["mode"], "hybrid");
    assert_eq!(rrf["hits"].as_array().unwrap().len(), 5);

    let plain = search(&server, "q=cheese&limit=10");
    let last_brand = plain["hits"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|h| h["brand"].as_str())
        .unwrap()
        .to_string();
    assert_ne!(plain["hits"][0]["brand"], last_brand.as_str());
    let preferred = search(
        &server,
        &format!(
            "q=cheese&limit=10&prefer_brand={}",
            last_brand.replace(' ', "%20").replace('&', "%26")
        ),
    );
    let rank_of = |results: &Value| {
        results["hits"]
            .as_array()
            .unwrap()
            .iter()
            .position(|h| h["brand"] == last_brand.as_str())
    };
    assert!(
        rank_of(&preferred) < rank_of(&plain),
        "a preferred brand moves up: {:?} -> {:?}",
        rank_of(&plain),
        rank_of(&preferred)
    );

    let highlighted = search(&server, "q=sourdough&limit=1");
    assert!(
        highlighted["hits"][0]["highlights"][0]
            .as_str()
            .unwrap()
            .contains("<b>"),
        "{highlighted}"
    );
}

#[test]
fn filters_facets_and_sorting_hold_for_every_hit() {
    let server = semantic_server();
    let all = search(&server, "q=&limit=1");
    assert_eq!(all["mode"], "browse");
    assert_eq!(all["total"], 342);
    let category_sum: u64 = all["facets"]["category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        category_sum, 342,
        "every product sits in one top-level category"
    );

    let filtered = search(
        &server,
        "q=cheese&category=Deli&max_price=10&in_stock=true&limit=100",
    );
    assert!(filtered["total"].as_u64().unwrap() > 0);
    assert_eq!(
        filtered["total"].as_u64().unwrap() as usize,
        filtered["hits"].as_array().unwrap().len()
    );
    for hit in filtered["hits"].as_array().unwrap() {
        assert!(
            hit["price_minor"].as_u64().unwrap() <= 1000 && hit["in_stock"] == true,
            "{hit}"
        );
        let product = server.get_json(&format!("/api/v1/products/{}", hit["id"]));
        assert!(
            product["category"].as_str().unwrap().starts_with("Deli > "),
            "{product}"
        );
    }
    let vegan = search(&server, "q=breakfast&dietary=vegan,gluten-free&limit=100");
    for hit in vegan["hits"].as_array().unwrap() {
        let product = server.get_json(&format!("/api/v1/products/{}", hit["id"]));
        let labels = product["dietary"].as_array().unwrap();
        assert!(
            labels.contains(&json!("vegan")) && labels.contains(&json!("gluten-free")),
            "{product}"
        );
    }
    let by_price = search(&server, "q=coffee&sort=price_asc&limit=50");
    let prices: Vec<u64> = by_price["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["price_minor"].as_u64().unwrap())
        .collect();
    assert!(
        prices.len() > 3 && prices.windows(2).all(|w| w[0] <= w[1]),
        "{prices:?}"
    );
    let desc = search(&server, "q=coffee&sort=price_desc&limit=1");
    assert_eq!(
        desc["hits"][0]["price_minor"].as_u64(),
        prices
            .iter()
            .max()
            .copied()
            .filter(|_| by_price["total"].as_u64() <= Some(50))
            .or(desc["hits"][0]["price_minor"].as_u64())
    );
    let brand = filtered["facets"]["brand"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let one_brand = search(
        &server,
        &format!(
            "q=cheese&brand={}&limit=100",
            brand.replace(' ', "%20").replace('&', "%26")
        ),
    );
    assert!(
        one_brand["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["brand"] == brand.as_str())
    );
    let buckets: Vec<&str> = all["facets"]["price"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["value"].as_str().unwrap())
        .collect();
    assert_eq!(buckets.first(), Some(&"0-5"));
    let bare = search(
        &server,
        "q=cheese&category=Deli&max_price=10&in_stock=true&limit=100&facets=false",
    );
    assert_eq!(bare["total"], filtered["total"]);
    assert_eq!(handles(&bare), handles(&filtered));
    assert_eq!(
        bare["facets"]["brand"],
        json!([]),
        "facets=false skips the counting"
    );
    let page2 = search(&server, "q=tea&limit=2&offset=2");
    let page1 = search(&server, "q=tea&limit=4");
    assert_eq!(handles(&page2), handles(&page1)[2..4].to_vec());
}

#[test]
fn type_ahead_and_absurd_queries() {
    let server = TestServer::start();
    server.wait_for_search();
    let suggestions = server.get_json("/api/v1/search/suggest?q=sourd");
    let names: Vec<&str> = suggestions["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names[0].to_lowercase().contains("sourdough"), "{names:?}");
    assert!(
        names
            .iter()
            .filter(|n| n.to_lowercase().contains("sourdough"))
            .count()
            >= 3,
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("Sour Cream")),
        "a word being typed is not a typo: {names:?}"
    );
    let keyword = search(&server, "q=oat%20milk");
    assert_eq!(
        keyword["mode"], "keyword",
        "without the model search says keyword and works"
    );
    assert!(keyword["total"].as_u64().unwrap() > 0);

    let long = "a".repeat(10_000);
    assert_eq!(
        assert_problem(server.get(&format!("/api/v1/search?q={long}")), 400)["errors"][0]["field"],
        "q"
    );
    assert_problem(server.get(&format!("/api/v1/search/suggest?q={long}")), 400);
    let punctuation = search(&server, "q=%21%3F%2E%2C%3B%3A");
    assert_eq!(
        (
            punctuation["total"].as_u64(),
            punctuation["hits"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let control = search(&server, "q=%00%01%07bread%1B");
    assert!(
        control["total"].as_u64().unwrap() > 0,
        "control characters are dropped: {control}"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("alpha=2", "alpha"),
        ("min_price=abc", "min_price"),
        ("min_price=5&max_price=1", "min_price"),
        ("sort=cheapest", "sort"),
        ("fusion=magic", "fusion"),
        ("in_stock=maybe", "in_stock"),
        ("facets=perhaps", "facets"),
        ("colour=red", "colour"),
    ] {
        let body = assert_problem(server.get(&format!("/api/v1/search?q=tea&{query}")), 400);
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    assert_eq!(search(&server, "q=tea&fusion=rrf")["mode"], "keyword");
}

#[test]
fn index_follows_creates_updates_deletes_and_reimports() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let created: Value = server
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({"handle": "saffron-threads", "name": "Saffron Threads 1 g", "price": "7.90", "category": "Pantry > Spices"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let found = |q: &str| {
        server.wait_for_search();
        handles(&search(&server, &format!("q={q}")))
    };
    assert_eq!(found("saffron"), ["saffron-threads"]);
    server
        .admin(
            Method::PATCH,
            &format!("/api/v1/products/{}", created["id"]),
        )
        .json(&json!({"name": "Persian Saffron 1 g"}))
        .send()
        .unwrap();
    assert_eq!(found("persian"), ["saffron-threads"]);
    server
        .admin(Method::PATCH, "/api/v1/products/saffron-threads")
        .json(&json!({"active": false}))
        .send()
        .unwrap();
    assert!(
        found("saffron").is_empty(),
        "inactive products leave the index"
    );
    server
        .admin(Method::DELETE, "/api/v1/products/saffron-threads")
        .send()
        .unwrap();
    assert!(found("saffron").is_empty());

    let file = common::shopify_exports().join("balancedbitesdev__balancedbites.csv");
    for _ in 0..2 {
        let (status, _, _) = cli(server.data_dir.path(), &["import", file.to_str().unwrap()]);
        assert!(status.success());
        server.wait_for_search();
        assert_eq!(
            search(&server, "q=&limit=1")["total"],
            29,
            "active products of the export, once"
        );
    }
}

#[test]
fn kill_9_during_indexing_leaves_an_index_that_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(out, "handle,sku,name,description,price,stock").unwrap();
    for i in 0..20_000 {
        writeln!(
            out,
            "bulk-{i},BULK-{i:05},Bulk Lentils Lot {i},Green lentils in a paper sack,2.{:02},5",
            i % 100
        )
        .unwrap();
    }
    drop(out);
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let (status, _, _) = cli(server.data_dir.path(), &["import", csv.to_str().unwrap()]);
    assert!(status.success());
    server.get("/api/v1/products?limit=1");
    let ready: Value = server.get("/readyz").json().unwrap();
    server.signal("KILL");
    let at_kill = ready["search_index"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    let waiting: u64 = at_kill
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        waiting > 0,
        "the kill must land while changes are still waiting: {at_kill}"
    );
    let mut server = server;
    let (exit, _) = server.wait();
    assert!(!exit.success(), "killed, not stopped");
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());

    let server = TestServer::start_in(data_dir, &["--no-demo"], &[]);
    server.wait_for_search();
    let lentils = search(&server, "q=lentils&limit=1");
    assert_eq!(
        lentils["total"], 20_000,
        "every product indexed exactly once after the kill ({at_kill})"
    );
    assert_eq!(handles(&search(&server, "q=BULK-04321"))[0], "bulk-4321");
}

#[test]
fn every_shared_store_export_is_searchable_after_import() {
    use shopkeep::catalog::Currency;
    use shopkeep::catalog::import::{self, ImportOptions, Source};
    use shopkeep::search::{SearchRequest, SearchService};
    use shopkeep::store::{Store, StoreOptions, products};

    let currency = Currency::from_code("USD").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(common::shopify_exports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8);
    for file in files {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap(),
        );
        import::import(
            &store,
            Source::File(&file),
            &ImportOptions::default(),
            &currency,
            &|_| {},
        )
        .unwrap();
        let service =
            SearchService::open(store.clone(), currency, &dir.path().join("index"), None).unwrap();
        service.catch_up_index().unwrap();
        let listed = store
            .read(|c| {
                products::list(
                    c,
                    &products::ListQuery {
                        limit: 1000,
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(
            service.status().unwrap().indexed as usize,
            listed.len(),
            "{}: every active product indexed",
            file.display()
        );
        let mut found_first = 0;
        for product in listed.iter().take(15) {
            let mut request = SearchRequest::new(product.draft.name());
            request.limit = 10;
            let hits = service.search(&request).unwrap().hits;
            let position = hits.iter().position(|h| h.id == product.id);
            assert!(
                position.is_some(),
                "{}: \"{}\" not in the top 10 for its own name",
                file.display(),
                product.draft.name()
            );
            found_first += usize::from(position == Some(0) || hits[0].name == product.draft.name());
        }
        assert!(
            found_first >= 12,
            "{}: a product's own name should usually rank it first ({found_first}/15)",
            file.display()
        );
    }
}

#[test]
fn index_rebuild_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::shopify_exports().join("ItaloOlivier__ayonne.csv");
    let (status, _, _) = cli(dir.path(), &["import", file.to_str().unwrap()]);
    assert!(status.success());
    std::fs::remove_dir_all(dir.path().join("index")).ok();
    let (status, stdout, stderr) = cli(dir.path(), &["index", "rebuild"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout
            .trim_end()
            .ends_with("indexed 102 products; no embedding model: keyword search only"),
        "{stdout}"
    );
    let server = TestServer::start_in(dir, &["--no-demo"], &[]);
    let ready = server.wait_for_search();
    assert!(
        ready["search_index"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("102 products indexed, 0 changes waiting"),
        "{ready}"
    );
    assert!(search(&server, "q=serum")["total"].as_u64().unwrap() > 0);
}
