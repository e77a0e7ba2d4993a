//! Importers on real store exports, hand-written fixtures and hostile files,
//! through the library against a real SQLite file.

mod common;

use std::io::Write;

use shopkeep::catalog::Currency;
use shopkeep::catalog::import::{self, Format, ImportError, ImportOptions, ImportReport, Source};
use shopkeep::store::products::{self, ListQuery, Product};
use shopkeep::store::{Store, StoreOptions};

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
    (dir, store)
}

fn import_file(store: &Store, path: &std::path::Path, format: Option<Format>) -> ImportReport {
    let options = ImportOptions {
        format,
        strict: false,
    };
    import::import(store, Source::File(path), &options, &usd(), &|_| {}).unwrap()
}

fn import_bytes(
    store: &Store,
    bytes: &[u8],
    format: Option<Format>,
) -> Result<ImportReport, ImportError> {
    let options = ImportOptions {
        format,
        strict: false,
    };
    import::import(store, Source::Bytes(bytes), &options, &usd(), &|_| {})
}

fn everything(store: &Store) -> Vec<Product> {
    let query = ListQuery {
        limit: 100_000,
        include_inactive: true,
        ..Default::default()
    };
    store.read(|c| products::list(c, &query)).unwrap()
}

fn by_handle(store: &Store, handle: &str) -> Product {
    store
        .read(|c| products::get_by_handle(c, handle))
        .unwrap()
        .unwrap_or_else(|| panic!("{handle} missing"))
}

/// For each export: data rows, products (distinct handles), variants kept (a lone
/// "Default Title" variant is folded into its product), active products (Status
/// column) and products with at least one image. Counted independently of this
/// code with Python's csv module.
const SHOPIFY_EXPORTS: &[(&str, u64, usize, usize, usize, usize)] = &[
    ("ItaloOlivier__ayonne.csv", 227, 133, 23, 102, 133),
    ("JeremyKu0327__Hardware-Retail.csv", 359, 214, 8, 162, 197),
    ("babyheavenhn__baby-heaven.csv", 522, 99, 115, 98, 99),
    ("balancedbitesdev__balancedbites.csv", 79, 65, 4, 29, 34),
    ("donaldfoster-ops__aislerunner.csv", 867, 172, 98, 68, 172),
    ("faridrony55__product-csvs.csv", 565, 84, 443, 82, 84),
    (
        "greatoutdoorin-star__greatoutdoor.csv",
        354,
        56,
        164,
        38,
        54,
    ),
    ("mikelmira__garden-solutions.csv", 1842, 70, 1842, 70, 70),
];

#[test]
fn every_shopify_export_imports_with_the_counted_rows_products_and_variants() {
    let folder = common::shopify_exports();
    let on_disk = std::fs::read_dir(&folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "csv")
        })
        .count();
    assert_eq!(
        on_disk,
        SHOPIFY_EXPORTS.len(),
        "a new export in {} needs its counts here",
        folder.display()
    );
    for &(file, rows, product_count, variant_count, active, with_images) in SHOPIFY_EXPORTS {
        let (_dir, store) = fresh_store();
        let path = folder.join(file);
        let report = import_file(&store, &path, None);
        assert_eq!(
            report.format,
            Some(Format::Shopify),
            "{file} detected as Shopify"
        );
        assert_eq!(report.rows, rows, "{file}: rows");
        assert_eq!(
            (report.created, report.skipped),
            (product_count as u64, 0),
            "{file}: {:?}",
            report.errors
        );
        let all = everything(&store);
        assert_eq!(all.len(), product_count, "{file}: products");
        assert_eq!(
            all.iter().map(|p| p.draft.variants().len()).sum::<usize>(),
            variant_count,
            "{file}: variants"
        );
        assert_eq!(
            all.iter().filter(|p| p.draft.active()).count(),
            active,
            "{file}: active"
        );
        assert_eq!(
            all.iter().filter(|p| !p.draft.images().is_empty()).count(),
            with_images,
            "{file}: images"
        );
        assert!(
            all.iter().all(|p| !p.draft.description().contains("<p>")
                && !p.draft.description().contains("&amp;")),
            "{file}: HTML converted"
        );

        let before: Vec<(String, String)> = all
            .iter()
            .map(|p| (p.draft.content_hash(), p.updated_at.clone()))
            .collect();
        let again = import_file(&store, &path, None);
        assert_eq!(
            (again.created, again.updated, again.unchanged),
            (0, 0, product_count as u64),
            "{file}: re-import"
        );
        let after: Vec<(String, String)> = everything(&store)
            .iter()
            .map(|p| (p.draft.content_hash(), p.updated_at.clone()))
            .collect();
        assert_eq!(
            before, after,
            "{file}: re-import changes nothing, not even timestamps"
        );
    }
}

#[test]
fn shopify_details_survive_import() {
    let (_dir, store) = fresh_store();
    import_file(
        &store,
        &common::shopify_exports().join("greatoutdoorin-star__greatoutdoor.csv"),
        None,
    );
    let chair = by_handle(&store, "honey-textured-armchair");
    let d = &chair.draft;
    assert_eq!(d.name(), "Honey Armchair");
    assert_eq!(d.brand(), Some("Great Outdoor"), "vendor trimmed");
    assert_eq!(
        d.category(),
        "Furniture > Outdoor Furniture > Outdoor Seating > Outdoor Chairs"
    );
    assert_eq!(d.price().minor(), 1_420_000);
    assert_eq!(d.sku(), Some("100"), "spreadsheet apostrophe stripped");
    assert!(d.description().starts_with("Where form meets function"));
    assert_eq!(
        d.attributes().get("Material").map(String::as_str),
        Some("Cane")
    );
    assert!(
        d.attributes()["Product Specifications"].contains("100% Aluminum Frame"),
        "multi-line metafield kept"
    );
    assert!(d.variants().is_empty(), "Default Title is not a variant");

    let (_dir2, store2) = fresh_store();
    import_file(
        &store2,
        &common::shopify_exports().join("babyheavenhn__baby-heaven.csv"),
        None,
    );
    let with_variants = everything(&store2)
        .into_iter()
        .find(|p| p.draft.variants().len() > 1)
        .unwrap();
    let titles: Vec<&str> = with_variants
        .draft
        .variants()
        .iter()
        .map(|v| v.title())
        .collect();
    assert!(titles.iter().all(|t| !t.is_empty()));
    let min = with_variants
        .draft
        .variants()
        .iter()
        .map(|v| v.price())
        .min()
        .unwrap();
    assert_eq!(
        with_variants.draft.price(),
        min,
        "product price is its cheapest variant"
    );
    assert!(
        with_variants
            .draft
            .variants()
            .iter()
            .any(|v| !v.options().is_empty())
    );
    assert!(
        everything(&store2)
            .iter()
            .any(|p| p.draft.stock().is_some()),
        "inventory kept where the export tracks it"
    );
}

#[test]
fn woocommerce_export_with_variations_anywhere_in_the_file() {
    let (_dir, store) = fresh_store();
    let report = import_file(&store, &common::fixture("woocommerce.csv"), None);
    assert_eq!(report.format, Some(Format::Woocommerce));
    assert_eq!(report.rows, 13);
    assert_eq!(
        (report.created, report.skipped),
        (6, 3),
        "{:#?}",
        report.errors
    );
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        [7, 13, 12],
        "grouped, bad price, orphan variation: {:#?}",
        report.errors
    );
    assert!(report.errors[0].reason.contains("grouped"));
    assert!(report.errors[1].reason.contains("\"abc\""));
    assert!(report.errors[2].reason.contains("id:999"));

    let tea = by_handle(&store, "earl-grey-loose-leaf-100-g").draft;
    assert_eq!(
        (
            tea.price().minor(),
            tea.compare_at_price().map(|m| m.minor())
        ),
        (650, Some(795)),
        "sale price sells, regular is struck through"
    );
    assert_eq!(tea.category(), "Drinks > Tea");
    assert_eq!(tea.tags(), ["tea", "organic", "gifts"]);
    assert_eq!(tea.dietary(), ["organic"]);
    assert_eq!(
        tea.description(),
        "Classic Earl Grey with cold-pressed bergamot oil.\n- 100 g tin\n- Makes 40 cups"
    );
    assert_eq!(tea.images().len(), 2);
    assert_eq!(tea.brand(), Some("Hillside Tea Co"));

    let beans = by_handle(&store, "cold-brew-coffee-beans").draft;
    assert_eq!(beans.variants().len(), 2);
    assert_eq!(beans.variants()[0].title(), "Whole bean / 250 g");
    assert_eq!(beans.variants()[1].stock(), Some(0));
    assert_eq!(beans.price().minor(), 800);
    assert_eq!(beans.stock(), Some(12));
    assert_eq!(beans.attributes()["Size"], "250 g, 1 kg");

    let syrup = by_handle(&store, "barista-syrup").draft;
    let skus: Vec<_> = syrup.variants().iter().map(|v| v.sku().unwrap()).collect();
    assert_eq!(
        skus,
        ["CB-SYRUP-S", "CB-SYRUP-L"],
        "a variation listed before its parent is attached by SKU"
    );
    assert_eq!(syrup.dietary(), ["vegan"]);

    assert_eq!(
        by_handle(&store, "gluten-free-penne-500-g").draft.dietary(),
        ["gluten-free"]
    );
    assert_eq!(
        by_handle(&store, "gluten-free-penne-500-g").draft.stock(),
        None,
        "unmanaged stock is untracked"
    );
    let biscuits = by_handle(&store, "discontinued-biscuits").draft;
    assert!(!biscuits.active());
    assert_eq!(
        biscuits.description(),
        "Butter biscuits. Baked in small batches until 2024."
    );

    let again = import_file(&store, &common::fixture("woocommerce.csv"), None);
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 6));
}

#[test]
fn generic_csv_json_and_ndjson_fixtures() {
    let (_dir, store) = fresh_store();
    let csv = import_file(&store, &common::fixture("generic.csv"), None);
    assert_eq!(csv.format, Some(Format::Csv));
    assert_eq!(
        (csv.rows, csv.created, csv.skipped),
        (4, 3, 0),
        "{:?}",
        csv.errors
    );
    let oil = by_handle(&store, "olive-oil").draft;
    assert_eq!(oil.variants().len(), 2);
    assert_eq!((oil.price().minor(), oil.stock()), (990, Some(16)));
    assert_eq!(oil.attributes()["origin"], "Greece");
    let bread = by_handle(&store, "sourdough-loaf").draft;
    assert_eq!(bread.tags(), ["bread", "sourdough"]);
    assert_eq!(bread.dietary(), ["vegan", "dairy-free"]);
    assert_eq!(bread.images(), ["/images/sourdough.jpg"]);
    let cheddar = by_handle(&store, "aged-cheddar").draft;
    assert_eq!(
        cheddar.sku(),
        Some("CHS-1"),
        "no handle given: derived from the name"
    );
    assert!(!cheddar.in_stock());

    let json = import_file(&store, &common::fixture("products.json"), None);
    assert_eq!(json.format, Some(Format::Json));
    assert_eq!((json.rows, json.created, json.skipped), (5, 2, 3));
    let reasons: Vec<&str> = json.errors.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons[0].contains("price: is required"), "{reasons:?}");
    assert!(reasons[1].contains("variants[1].stock"), "{reasons:?}");
    assert!(reasons[2].contains("colour"), "{reasons:?}");
    assert_eq!(
        json.errors[0].line, 14,
        "line where the refused element ends"
    );
    assert_eq!(
        by_handle(&store, "rolled-oats-1kg").draft.price().minor(),
        320,
        "JSON number 3.2 read exactly"
    );

    let ndjson = import_file(&store, &common::fixture("products.ndjson"), None);
    assert_eq!(ndjson.format, Some(Format::Ndjson));
    assert_eq!(
        (ndjson.rows, ndjson.created, ndjson.updated, ndjson.skipped),
        (4, 1, 1, 2),
        "{:?}",
        ndjson.errors
    );
    let lines: Vec<u64> = ndjson.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5]);
    assert!(
        ndjson.errors[0].reason.starts_with("invalid JSON"),
        "{:?}",
        ndjson.errors[0]
    );

    let wrapped = br#"{"note": "Shopify-style envelope", "products": [{"handle": "wrapped", "name": "Wrapped", "price": "2"}]}"#;
    let report = import_bytes(&store, wrapped, Some(Format::Json)).unwrap();
    assert_eq!(report.created, 1);
}

#[test]
fn hostile_csv_rows_are_reported_by_line_and_the_rest_imports() {
    let (_dir, store) = fresh_store();
    let huge = "y".repeat(200_000);
    let mut file = Vec::new();
    file.extend_from_slice(b"\xEF\xBB\xBFhandle,name,description,price,stock\r\n");
    file.extend_from_slice(b"quoted,\"Say \"\"cheese\"\"\",\"line one\r\nline two\",1.50,3\r\n");
    file.extend_from_slice(b"\r\n,,,,\r\n");
    file.extend_from_slice(b"too-many,Too Many,x,1.00,1,surprise\r\n");
    file.extend_from_slice(b"too-few,Too Few\r\n");
    file.extend_from_slice(format!("huge,Huge Field,{huge},1.00,1\r\n").as_bytes());
    file.extend_from_slice(b"latin,Cr\xE8me Br\xFBl\xE9e,caf\xE9,2.00,1\r\n");
    file.extend_from_slice(b"bad-price,Bad Price,,1.2.3,1\r\n");
    file.extend_from_slice(b"bad-stock,Bad Stock,,1.00,lots\r\n");
    file.extend_from_slice(b"no-name,,,1.00,1\r\n");
    file.extend_from_slice(b"last,Last One,,0.99,\r\n");
    let report = import_bytes(&store, &file, None).unwrap();
    assert_eq!(report.format, Some(Format::Csv));
    let refused: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    let lines: Vec<u64> = refused.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [6, 7, 8, 10, 11, 12], "{refused:#?}");
    assert!(refused[0].1.contains("6 cells but the header has 5"));
    assert!(refused[2].1.contains("longer than"), "{}", refused[2].1);
    assert!(refused[4].1.contains("\"lots\" is not a whole number"));
    assert!(refused[5].1.contains("name: is required"));
    assert_eq!((report.created, report.skipped), (3, 6));
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].line, 9);
    let quoted = by_handle(&store, "quoted").draft;
    assert_eq!(quoted.name(), "Say \"cheese\"");
    assert_eq!(quoted.description(), "line one\r\nline two");
    assert_eq!(
        by_handle(&store, "latin").draft.name(),
        "Crème Brûlée",
        "Windows-1252 bytes decoded"
    );
    assert_eq!(by_handle(&store, "last").draft.stock(), None);
}

#[test]
fn files_that_are_not_catalogs_are_refused_whole_with_a_reason() {
    let (_dir, store) = fresh_store();
    let empty = import_bytes(&store, b"", None).unwrap_err();
    assert!(empty.to_string().contains("empty"), "{empty}");
    let no_name = import_bytes(&store, b"sku,price\nA,1\n", None).unwrap_err();
    assert!(no_name.to_string().contains("no name column"), "{no_name}");
    let not_shopify =
        import_bytes(&store, b"name,price\nA,1\n", Some(Format::Shopify)).unwrap_err();
    assert!(not_shopify.to_string().contains("Handle"), "{not_shopify}");
    let broken_json = import_bytes(
        &store,
        b"[{\"name\": \"A\", \"price\": \"1\"},\n {\"name\": ",
        Some(Format::Json),
    )
    .unwrap();
    assert!(!broken_json.complete);
    assert_eq!(
        (broken_json.created, broken_json.skipped),
        (1, 1),
        "products before the break are kept"
    );
    assert_eq!(broken_json.errors[0].line, 2);
    assert!(
        broken_json.errors[0].reason.contains("could not be read"),
        "{:?}",
        broken_json.errors
    );
    let truncated_at_start = import_bytes(&store, b"[{\"name\": ", Some(Format::Json)).unwrap_err();
    assert!(
        matches!(truncated_at_start, ImportError::Malformed { line: 1, .. }),
        "{truncated_at_start}"
    );
    let binary = import_bytes(&store, &[0u8, 159, 146, 150, 0, 1, 2, 10, 200, 201], None);
    match binary {
        Err(err) => assert!(!err.to_string().is_empty()),
        Ok(report) => assert_eq!(report.created, 0),
    }
}

#[test]
fn strict_import_writes_nothing_when_any_row_is_bad() {
    let (_dir, store) = fresh_store();
    let file = b"handle,name,price\ngood,Good,1.00\nbad,Bad,free\nalso-good,Also Good,2.00\n";
    let options = ImportOptions {
        format: None,
        strict: true,
    };
    let err = import::import(&store, Source::Bytes(file), &options, &usd(), &|_| {}).unwrap_err();
    match err {
        ImportError::Strict(issue) => {
            assert_eq!(issue.line, 3);
            assert!(issue.reason.contains("\"free\""));
        }
        other => panic!("expected a strict refusal, got {other}"),
    }
    assert!(everything(&store).is_empty());
    let clean = b"handle,name,price\ngood,Good,1.00\n";
    let report = import::import(&store, Source::Bytes(clean), &options, &usd(), &|_| {}).unwrap();
    assert_eq!(report.created, 1);
}

#[test]
fn a_renamed_product_without_handle_is_matched_by_sku() {
    let (_dir, store) = fresh_store();
    import_bytes(&store, b"sku,name,price\nJAM-1,Strawberry Jam,3.00\n", None).unwrap();
    let report = import_bytes(
        &store,
        b"sku,name,price\nJAM-1,Strawberry Jam 340 g,3.00\n",
        None,
    )
    .unwrap();
    assert_eq!((report.created, report.updated), (0, 1));
    let all = everything(&store);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].draft.handle(), "strawberry-jam-340-g");
}

#[test]
fn large_generated_file_streams_in_bounded_batches() {
    let (dir, store) = fresh_store();
    let path = dir.path().join("big.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "handle,sku,name,description,category,tags,price,stock").unwrap();
    for i in 0..5_000 {
        writeln!(out, "item-{i},SKU-{i},Item {i},Description of item {i},Pantry > Bulk,bulk|tag{},{}.{:02},{}", i % 7, i % 50, i % 100, i % 30).unwrap();
    }
    drop(out);
    let seen = std::sync::Mutex::new(Vec::new());
    let report = import::import(
        &store,
        Source::File(&path),
        &ImportOptions::default(),
        &usd(),
        &|p| seen.lock().unwrap().push(p.records),
    )
    .unwrap();
    assert_eq!((report.rows, report.created), (5_000, 5_000));
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 10, "progress is reported while importing");
    assert_eq!(seen.last(), Some(&5_000));
}

#[test]
fn demo_catalog_is_a_real_grocery_shop() {
    let (_dir, store) = fresh_store();
    let report = shopkeep::catalog::demo::load_if_empty(&store, &usd())
        .unwrap()
        .unwrap();
    assert_eq!(
        (report.skipped, report.created),
        (0, 346),
        "{:?}",
        report.errors
    );
    let all = everything(&store);
    let categories: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|p| p.draft.category().split(" > ").next().unwrap())
        .collect();
    assert!(categories.len() >= 10, "{categories:?}");
    assert!(
        all.iter()
            .filter(|p| p.draft.dietary().iter().any(|d| d == "gluten-free"))
            .count()
            >= 10
    );
    assert!(
        all.iter()
            .filter(|p| !p.draft.variants().is_empty())
            .count()
            >= 20
    );
    assert!(
        all.iter()
            .all(|p| !p.draft.description().is_empty() && p.draft.brand().is_some())
    );
    assert!(
        shopkeep::catalog::demo::load_if_empty(&store, &usd())
            .unwrap()
            .is_none(),
        "never loads over a shop's products"
    );
}
