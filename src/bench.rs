//! Measurement harnesses behind `shopkeep bench`, whose results go in
//! docs/BENCHMARKS.md. Each compares against a reference measured in the same run.
//!
//! - `import`: a generated catalog through the real importer, against reading the
//!   same CSV and inserting its raw cells with plain SQL (no validation, no hashing).
//! - `startup`: cold and warm start of `shopkeep serve` to a ready `/readyz`, and
//!   its resident memory while idle, against the cost of starting the process at all.
//! - `recommend`: hit-rate@10 of recommendations on a synthetic order history,
//!   against a best-seller baseline, and a rebuild against reading its lines.
//!
//! Nothing here runs in normal operation.

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::catalog::Currency;
use crate::catalog::import::{self, Format, ImportOptions, Source};
use crate::config::Config;
use crate::store::{Store, StoreOptions};

const ADJECTIVES: &[&str] = &[
    "Organic",
    "Smoked",
    "Roasted",
    "Wholegrain",
    "Spiced",
    "Aged",
    "Fresh",
    "Wild",
    "Salted",
    "Honeyed",
];
const FOODS: &[&str] = &[
    "Almonds",
    "Cheddar",
    "Penne",
    "Oat Drink",
    "Coffee Beans",
    "Rye Bread",
    "Tomato Sauce",
    "Granola",
    "Olive Oil",
    "Dark Chocolate",
];
const CATEGORIES: &[&str] = &[
    "Pantry > Pasta",
    "Deli > Cheese",
    "Snacks > Nuts",
    "Beverages > Coffee",
    "Bakery > Bread",
    "Breakfast > Cereal",
];

/// A deterministic pseudo-random sequence, so every run imports the same file.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below
    }
}

/// Writes a generic-layout CSV of `count` products with realistic field sizes.
pub fn generate_catalog(path: &Path, count: usize) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "handle,sku,name,description,brand,category,tags,dietary,price,stock"
    )?;
    let mut rng = Lcg(42);
    for i in 0..count {
        let adjective = ADJECTIVES[rng.next(ADJECTIVES.len())];
        let food = FOODS[rng.next(FOODS.len())];
        writeln!(
            out,
            "item-{i},SKU-{i:06},{adjective} {food} No. {i},\"{adjective} {food} from our suppliers, packed by hand. Keeps for weeks in a cool, dry place; lovely with bread, in salads or straight from the jar.\",Brand {},{},\"{},{}\",vegetarian,{}.{:02},{}",
            rng.next(400),
            CATEGORIES[rng.next(CATEGORIES.len())],
            food.to_lowercase(),
            adjective.to_lowercase(),
            rng.next(40) + 1,
            rng.next(100),
            rng.next(200),
        )?;
    }
    out.flush()
}

/// Peak resident memory since the last reset, from /proc (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak-RSS mark so the next phase is measured on its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| {
        format!("{:.1} MB", b as f64 / 1_048_576.0)
    })
}

/// Runs the import benchmark and returns its report as Markdown-ready lines.
pub fn import_benchmark(products: usize) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let csv_path = dir.path().join("catalog.csv");
    let started = Instant::now();
    generate_catalog(&csv_path, products).map_err(|e| e.to_string())?;
    let generated_in = started.elapsed();
    let size = std::fs::metadata(&csv_path)
        .map_err(|e| e.to_string())?
        .len();

    reset_peak_rss();
    let started = Instant::now();
    bare_insert(&csv_path, &dir.path().join("reference.db")).map_err(|e| e.to_string())?;
    let reference = started.elapsed();
    let reference_peak = peak_rss_bytes();

    let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let currency = Currency::from_code("USD").ok_or("no USD")?;
    let options = ImportOptions {
        format: Some(Format::Csv),
        strict: false,
    };
    let timed_import = || {
        let started = Instant::now();
        import::import(
            &store,
            Source::File(&csv_path),
            &options,
            &currency,
            &|_| {},
        )
        .map(|report| (report, started.elapsed()))
        .map_err(|e| e.to_string())
    };
    reset_peak_rss();
    let (report, elapsed) = timed_import()?;
    let peak = peak_rss_bytes();
    let (again, reimport) = timed_import()?;
    store.close().map_err(|e| e.to_string())?;

    let rate = |d: Duration| products as f64 / d.as_secs_f64();
    Ok(format!(
        "generated {products} products ({:.1} MB CSV) in {:.2} s\n\
         reference (csv read + plain INSERT, no validation): {:.2} s, {:.0} products/s, peak RSS {}\n\
         shopkeep import: {:.2} s, {:.0} products/s, peak RSS {} ({})\n\
         re-import of the same file: {:.2} s, {:.0} products/s ({})\n\
         import / reference time ratio: {:.2}",
        size as f64 / 1_048_576.0,
        generated_in.as_secs_f64(),
        reference.as_secs_f64(),
        rate(reference),
        megabytes(reference_peak),
        elapsed.as_secs_f64(),
        rate(elapsed),
        megabytes(peak),
        report.summary(),
        reimport.as_secs_f64(),
        rate(reimport),
        again.summary(),
        elapsed.as_secs_f64() / reference.as_secs_f64(),
    ))
}

/// The reference: the same rows read with csv and inserted as raw text in batches.
fn bare_insert(csv_path: &Path, db_path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = rusqlite::Connection::open(db_path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE raw (handle TEXT, sku TEXT, name TEXT, description TEXT, brand TEXT,
         category TEXT, tags TEXT, dietary TEXT, price TEXT, stock TEXT)",
    )?;
    let mut reader = csv::Reader::from_path(csv_path)?;
    let mut records = reader.records();
    loop {
        let tx = conn.transaction()?;
        let mut inserted = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO raw VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for record in records.by_ref().take(500) {
                let record = record?;
                stmt.execute(rusqlite::params_from_iter(record.iter()))?;
                inserted += 1;
            }
        }
        tx.commit()?;
        if inserted < 500 {
            return Ok(());
        }
    }
}

/// One plain HTTP/1.1 GET; returns the status code.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Starts `shopkeep serve` on `data_dir` on a free port, without an embedding
/// model whatever the user's cache holds, and returns it with its address.
fn spawn_server(
    exe: &Path,
    data_dir: &Path,
    extra: &[&str],
) -> Result<(std::process::Child, String), String> {
    let mut child = Command::new(exe)
        .args([
            "--data-dir",
            &data_dir.to_string_lossy(),
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("SHOPKEEP_LOG_FORMAT", "json")
        .env("SHOPKEEP_LOG_LEVEL", "warn,shopkeep::app=info")
        .env("SHOPKEEP_MODELS_DIR", data_dir.join("no-models"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    loop {
        let Some(line) = lines.next() else {
            let _ = child.kill();
            return Err("server exited before listening".into());
        };
        let event: serde_json::Value =
            serde_json::from_str(&line.map_err(|e| e.to_string())?).unwrap_or_default();
        if event["fields"]["message"] == "listening" {
            let addr = event["fields"]["addr"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, addr));
        }
    }
}

/// Starts `shopkeep serve` on `data_dir` and returns (time to ready, idle RSS).
fn start_and_measure(exe: &Path, data_dir: &Path) -> Result<(Duration, Option<u64>), String> {
    let started = Instant::now();
    let (mut child, addr) = spawn_server(exe, data_dir, &[])?;
    while http_status(&addr, "/readyz") != Some(200) {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err("not ready after 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ready = started.elapsed();
    for _ in 0..50 {
        http_status(&addr, "/api/v1/products?limit=20");
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .to_string();
            line.split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
                .map(|kb| kb * 1024)
        });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Ok((ready, rss))
}

/// Runs the start-up benchmark and returns its report.
pub fn startup_benchmark(runs: usize) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    for _ in 0..runs {
        Command::new(&exe)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
    }
    let spawn = started.elapsed() / runs as u32;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (first, first_rss) = start_and_measure(&exe, dir.path())?;
        let (second, second_rss) = start_and_measure(&exe, dir.path())?;
        cold.push(first);
        warm.push(second);
        rss.extend(first_rss.into_iter().chain(second_rss));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (cold, warm) = (median(&mut cold), median(&mut warm));
    let max_rss = rss.iter().max().copied();
    Ok(format!(
        "reference: process start (`shopkeep --version`): {:.1} ms\n\
         cold start to ready (empty data dir: migrations, demo catalog, first admin key): median {:.0} ms of {runs} runs, {:.1}x the reference, {:.2} of the 1 s budget\n\
         warm start to ready (existing data dir): median {:.0} ms, {:.1}x the reference\n\
         idle RSS after 50 listing requests, demo catalog loaded: max {} over {} starts ({:.2} of the 50 MB budget)",
        spawn.as_secs_f64() * 1000.0,
        cold.as_secs_f64() * 1000.0,
        cold.as_secs_f64() / spawn.as_secs_f64(),
        cold.as_secs_f64(),
        warm.as_secs_f64() * 1000.0,
        warm.as_secs_f64() / spawn.as_secs_f64(),
        megabytes(max_rss),
        rss.len(),
        max_rss.map_or(0.0, |b| b as f64 / (50.0 * 1_048_576.0)),
    ))
}

/// The judged query sets and where their catalogs come from.
pub const JUDGED_SETS: &[(&str, &str)] = &[
    ("demo", "eval/search/demo.json"),
    ("ayonne", "eval/search/ayonne.json"),
    ("hardware-retail", "eval/search/hardware-retail.json"),
];

/// Keyword, vector and hybrid scores of one judged set.
pub struct QualityRow {
    pub set: String,
    pub queries: usize,
    pub keyword: crate::search::eval::Scores,
    pub vector: crate::search::eval::Scores,
    pub hybrid: crate::search::eval::Scores,
}

/// Builds the set's catalog in a temporary shop, indexes and embeds it, and scores it.
pub fn quality_of_set(
    set_path: &Path,
    exports_dir: &Path,
    models_dir: &Path,
    alpha: f32,
) -> Result<QualityRow, String> {
    use crate::search::{SearchService, eval};
    let text =
        std::fs::read_to_string(set_path).map_err(|e| format!("{}: {e}", set_path.display()))?;
    let set: eval::JudgedSet =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", set_path.display()))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = std::sync::Arc::new(
        Store::open(&dir.path().join("shop.db"), &StoreOptions::default())
            .map_err(|e| e.to_string())?,
    );
    let currency = Currency::from_code("USD").ok_or("no USD")?;
    if set.catalog == "demo" {
        crate::catalog::demo::load_if_empty(&store, &currency).map_err(|e| e.to_string())?;
    } else {
        let export = exports_dir.join(&set.catalog);
        import::import(
            &store,
            Source::File(&export),
            &ImportOptions::default(),
            &currency,
            &|_| {},
        )
        .map_err(|e| format!("{}: {e}", export.display()))?;
    }
    let service = SearchService::open(store, currency, &dir.path().join("index"), Some(models_dir))
        .map_err(|e| e.to_string())?;
    service.catch_up().map_err(|e| e.to_string())?;
    if !service.has_vectors() {
        return Err(format!(
            "no embedding model in {}: run `sh models/fetch.sh`",
            models_dir.display()
        ));
    }
    let run = |alpha: f32| eval::evaluate(&service, &set, alpha).map_err(|e| e.to_string());
    Ok(QualityRow {
        set: set.catalog.clone(),
        queries: set.queries.len(),
        keyword: run(0.0)?,
        vector: run(1.0)?,
        hybrid: run(alpha)?,
    })
}

/// Scores every judged set; the report compares keyword, vector and hybrid.
pub fn quality_benchmark(
    repo: &Path,
    exports_dir: &Path,
    models_dir: &Path,
    alpha: f32,
) -> Result<String, String> {
    let mut lines = vec![format!("hybrid alpha = {alpha}")];
    for (name, path) in JUDGED_SETS {
        let row = quality_of_set(&repo.join(path), exports_dir, models_dir, alpha)?;
        lines.push(format!("{name} ({} queries)", row.queries));
        lines.push(format!("  keyword  {}", row.keyword));
        lines.push(format!("  vector   {}", row.vector));
        lines.push(format!("  hybrid   {}", row.hybrid));
    }
    Ok(lines.join("\n"))
}

/// Latency percentiles of a list of durations, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// Distinct shopper-like queries over the generated catalog's vocabulary, a few with typos.
fn bench_queries() -> Vec<String> {
    let mut queries = Vec::new();
    for adjective in ADJECTIVES {
        for food in FOODS {
            queries.push(format!(
                "{} {}",
                adjective.to_lowercase(),
                food.to_lowercase()
            ));
        }
    }
    for (i, food) in FOODS.iter().enumerate() {
        queries.push(food.to_lowercase());
        let typo: String = food
            .to_lowercase()
            .chars()
            .enumerate()
            .filter(|(j, _)| *j != 2 + i % 2)
            .map(|(_, c)| c)
            .collect();
        queries.push(typo);
        queries.push(format!("{} for breakfast", food.to_lowercase()));
    }
    queries
}

/// One GET returning the status; the body is read and dropped.
fn timed_get(addr: &str, path: &str) -> Option<Duration> {
    let started = Instant::now();
    (http_status(addr, path) == Some(200)).then(|| started.elapsed())
}

/// The search benchmark at one catalog size.
fn search_speed_at(size: usize, models_dir: &Path, exe: &Path) -> Result<String, String> {
    use crate::search::{SearchRequest, SearchService};
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| err(&e))?;
    let csv_path = dir.path().join("catalog.csv");
    generate_catalog(&csv_path, size).map_err(|e| err(&e))?;
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| err(&e))?;
    let store = std::sync::Arc::new(
        Store::open(&data_dir.join("shopkeep.db"), &StoreOptions::default())
            .map_err(|e| err(&e))?,
    );
    let currency = Currency::from_code("USD").ok_or("no USD")?;
    import::import(
        &store,
        Source::File(&csv_path),
        &ImportOptions::default(),
        &currency,
        &|_| {},
    )
    .map_err(|e| err(&e))?;

    let fts = fts5_reference(&csv_path, &dir.path().join("fts.db")).map_err(|e| e.to_string())?;
    let service = SearchService::open(
        store.clone(),
        currency,
        &data_dir.join("index"),
        Some(models_dir),
    )
    .map_err(|e| err(&e))?;
    let started = Instant::now();
    service.catch_up_index().map_err(|e| err(&e))?;
    let index_time = started.elapsed();
    let embedder = service
        .embedder()
        .ok_or("no embedding model: run `sh models/fetch.sh`")?;
    let dims = embedder.dims();
    let mut rng = Lcg(7);
    let synthetic = (1..=size as i64).map(|id| {
        let mut v: Vec<f32> = (0..dims)
            .map(|_| rng.next(2000) as f32 / 1000.0 - 1.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter_mut().for_each(|x| *x /= norm);
        (id, v)
    });
    service.add_vectors(synthetic);

    let queries = bench_queries();
    let run_with = |alpha: f32, facets: bool| -> Result<Vec<Duration>, String> {
        queries
            .iter()
            .map(|q| {
                let mut request = SearchRequest::new(q);
                request.alpha = Some(alpha);
                request.facets = facets;
                let started = Instant::now();
                service.search(&request).map_err(|e| err(&e))?;
                Ok(started.elapsed())
            })
            .collect()
    };
    let run = |alpha: f32| run_with(alpha, true);
    run(0.0)?;
    let keyword = percentiles(run(0.0)?);
    let keyword_bare = percentiles(run_with(0.0, false)?);
    let hybrid_cold = percentiles(run(0.5)?);
    let hybrid_cached = percentiles(run(0.5)?);
    drop(service);
    let scan = vector_scan(size, dims);

    let http = http_latency(exe, &data_dir, &queries)?;
    Ok(format!(
        "| {size} | {:.0} products/s ({:.1} s) | {:.0} products/s | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.1}x |",
        size as f64 / index_time.as_secs_f64(),
        index_time.as_secs_f64(),
        size as f64 / fts.index_time.as_secs_f64(),
        keyword.0,
        keyword.1,
        keyword_bare.0,
        keyword_bare.1,
        fts.latency.0,
        fts.latency.1,
        hybrid_cold.0,
        hybrid_cold.1,
        hybrid_cached.0,
        hybrid_cached.1,
        scan.0,
        scan.1,
        http.0,
        http.1,
        fts.latency.1 / keyword.1,
    ))
}

/// The exact vector scan on its own: `size` random unit vectors, 100 random queries.
fn vector_scan(size: usize, dims: usize) -> (f64, f64) {
    let mut rng = Lcg(11);
    let mut unit = || {
        let v: Vec<f32> = (0..dims)
            .map(|_| rng.next(2000) as f32 / 1000.0 - 1.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let mut index = crate::search::vectors::VectorIndex::new(dims);
    for id in 0..size as i64 {
        index.upsert(id, &unit());
    }
    let samples = (0..100)
        .map(|_| {
            let query = unit();
            let started = Instant::now();
            std::hint::black_box(index.nearest(&query, 100, 0.0));
            started.elapsed()
        })
        .collect();
    percentiles(samples)
}

struct Fts5 {
    index_time: Duration,
    latency: (f64, f64),
}

/// The reference: the same rows in an SQLite FTS5 table, queried by bm25, top 20.
fn fts5_reference(csv_path: &Path, db_path: &Path) -> Result<Fts5, Box<dyn std::error::Error>> {
    let mut conn = rusqlite::Connection::open(db_path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE VIRTUAL TABLE products USING fts5(name, brand, category, tags, description, tokenize = 'porter unicode61');",
    )?;
    let started = Instant::now();
    let mut reader = csv::Reader::from_path(csv_path)?;
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for record in reader.records() {
            let r = record?;
            stmt.execute([&r[2], &r[4], &r[5], &r[6], &r[3]])?;
        }
    }
    tx.commit()?;
    let index_time = started.elapsed();
    let mut stmt = conn.prepare(
        "SELECT rowid FROM products WHERE products MATCH ?1 ORDER BY bm25(products, 3.0, 2.0, 1.5, 2.0, 0.5) LIMIT 20",
    )?;
    let mut samples = Vec::new();
    for round in 0..2 {
        for query in bench_queries() {
            let expression = query
                .split_whitespace()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" OR ");
            let started = Instant::now();
            let hits: Vec<i64> = stmt
                .query_map([&expression], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            std::hint::black_box(hits);
            if round == 1 {
                samples.push(started.elapsed());
            }
        }
    }
    Ok(Fts5 {
        index_time,
        latency: percentiles(samples),
    })
}

/// Keyword search over HTTP through a real `shopkeep serve` on the same data.
fn http_latency(exe: &Path, data_dir: &Path, queries: &[String]) -> Result<(f64, f64), String> {
    let (mut child, addr) = spawn_server(exe, data_dir, &["--no-demo"])?;
    let encode = |q: &str| q.replace(' ', "%20");
    let mut samples = Vec::new();
    for round in 0..2 {
        for query in queries {
            let took = timed_get(
                &addr,
                &format!("/api/v1/search?q={}&alpha=0", encode(query)),
            )
            .ok_or("search over HTTP failed")?;
            if round == 1 {
                samples.push(took);
            }
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Ok(percentiles(samples))
}

/// Product embeddings per second on real demo products, batches of 32.
fn embedding_throughput(models_dir: &Path) -> Result<String, String> {
    let embedder = crate::search::embed::Embedder::load(models_dir).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let currency = Currency::from_code("USD").ok_or("no USD")?;
    crate::catalog::demo::load_if_empty(&store, &currency).map_err(|e| e.to_string())?;
    let query = crate::store::products::ListQuery {
        limit: 1000,
        ..Default::default()
    };
    let products = store
        .read(|c| crate::store::products::list(c, &query))
        .map_err(|e| e.to_string())?;
    let texts: Vec<String> = products
        .iter()
        .map(|p| crate::search::embedding_text(&p.draft))
        .collect();
    let started = Instant::now();
    for batch in texts.chunks(32) {
        embedder
            .embed(&batch.iter().map(String::as_str).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    Ok(format!(
        "embedding throughput: {} demo products in {:.1} s = {:.0} products/s (batches of 32, all cores)",
        texts.len(),
        elapsed.as_secs_f64(),
        texts.len() as f64 / elapsed.as_secs_f64()
    ))
}

/// Runs the search speed benchmark at each size and returns a Markdown table.
pub fn search_speed_benchmark(sizes: &[usize], models_dir: &Path) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut lines = vec![
        "| products | shopkeep indexing | FTS5 indexing | keyword p50 / p99 | keyword, no facets p50 / p99 | FTS5 p50 / p99 | hybrid, new query p50 / p99 | hybrid, cached query p50 / p99 | exact vector scan alone p50 / p99 | keyword over HTTP p50 / p99 | FTS5 p99 / keyword p99 |".to_string(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    for size in sizes {
        lines.push(search_speed_at(*size, models_dir, &exe)?);
    }
    lines.push(String::new());
    lines.push(embedding_throughput(models_dir)?);
    Ok(lines.join("\n"))
}

/// A generation sink that keeps nothing (benchmarks measure time, not text).
struct Discard;

impl crate::llm::local::TokenSink for Discard {
    fn text(&mut self, _: &str) -> bool {
        true
    }

    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A shop's house rules, long enough to make a system prompt of about
/// `tokens` tokens: the shape of prompt the prefix cache exists for.
fn long_system_prompt(tokenizer: &crate::llm::tokenizer::GgufTokenizer, tokens: usize) -> String {
    let rules = [
        "Orders placed before 2 pm ship the same working day from our shop.",
        "Fresh produce is delivered in insulated boxes with ice packs.",
        "Customers may return unopened dry goods within 30 days for a refund.",
        "Allergens are listed on every product page; ask if unsure.",
        "Vouchers cannot be combined, and each applies once per customer.",
        "Delivery is free above fifty dollars, otherwise it costs five dollars.",
        "We never recommend a product that is out of stock.",
        "Answer briefly, in the shopper's language, and quote prices exactly.",
    ];
    let mut text =
        String::from("You are the assistant of Corner Larder, a small grocery and deli.\n");
    let mut i = 0;
    while tokenizer
        .encode(&text, false, false)
        .map_or(0, |ids| ids.len())
        < tokens
    {
        text.push_str(&format!("Rule {}: {}\n", i + 1, rules[i % rules.len()]));
        i += 1;
    }
    text
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Prefill and decode tokens/s of llama.cpp's `llama-bench` on `model`.
fn run_llama_bench(
    llama_bench: &Path,
    model: &Path,
    threads: usize,
    prompt: usize,
) -> Result<(f64, f64), String> {
    let output = std::process::Command::new(llama_bench)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string(), "-p", &prompt.to_string()])
        .args(["-n", "64", "-r", "3", "-o", "json"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", llama_bench.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            llama_bench.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("llama-bench printed no JSON list of runs: {e}"))?;
    let speed = |generating: bool| {
        runs.iter()
            .find(|run| (run["n_gen"].as_u64().unwrap_or(0) > 0) == generating)
            .and_then(|run| run["avg_ts"].as_f64())
            .ok_or_else(|| "llama-bench output lacks avg_ts".to_string())
    };
    Ok((speed(false)?, speed(true)?))
}

/// Load time, prefill and decode speed, time to first token with and without
/// the prefix cache, and peak memory of a local model.
///
/// With `llama_bench` (the path of llama.cpp's `llama-bench`), the same file
/// is measured by llama.cpp in the same run with the same thread count, and
/// the ratios are printed.
pub fn llm_benchmark(
    models_dir: &Path,
    id: &str,
    context: usize,
    llama_bench: Option<&Path>,
) -> Result<String, String> {
    use crate::llm::local::{GenerateRequest, LoadOptions, load};
    use crate::llm::sampler::SamplingParams;
    use crate::llm::template::{ChatMessage, Role};
    use crate::llm::transformer::Kernels;

    let path = crate::llm::locate_model(models_dir, id)?;
    let options = LoadOptions {
        id: id.to_string(),
        context,
        max_memory_mb: None,
        fallback_tier: "free",
        kernels: Kernels::Fast,
    };
    let started = Instant::now();
    let mut engine = load(&path, &options).map_err(|e| e.to_string())?;
    let load_time = started.elapsed();
    let frontend = engine.frontend();
    let encode = |text: &str| {
        frontend
            .tokenizer
            .encode(text, false, true)
            .map_err(|e| e.to_string())
    };
    let request = |prompt: Vec<u32>, shared_prefix: usize, max_tokens: usize| GenerateRequest {
        prompt,
        shared_prefix,
        sampling: SamplingParams::greedy(),
        max_tokens,
        stop: Vec::new(),
        constraint: None,
    };
    let mut out = format!(
        "model {id} ({}), {} MB file, device {}\nload: {:.2} s\n",
        frontend.info.family,
        frontend.info.file_bytes / 1_000_000,
        frontend.info.device,
        load_time.as_secs_f64()
    );

    // Prefill: a 200-token prompt, no cache; decode: 64 tokens after it.
    // The median of three runs of each.
    let system = long_system_prompt(&frontend.tokenizer, 200);
    let mut prompt = encode(&system)?;
    prompt.truncate(200);
    let story = encode("Write a long story about a grocer who loves cheese.\n")?;
    reset_peak_rss();
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        engine.clear_prefix_cache();
        let done = engine
            .generate(&request(prompt.clone(), 0, 1), &mut Discard)
            .map_err(|e| e.to_string())?;
        prefill.push(prompt.len() as f64 / done.prefill.as_secs_f64());
        engine.clear_prefix_cache();
        let done = engine
            .generate(&request(story.clone(), 0, 64), &mut Discard)
            .map_err(|e| e.to_string())?;
        decode.push(done.completion_tokens as f64 / done.decode.as_secs_f64());
    }
    let generation_peak = peak_rss_bytes();
    let (prefill, decode) = (median(&mut prefill), median(&mut decode));
    out.push_str(&format!(
        "prefill: {} tokens, {prefill:.1} tokens/s (median of 3)\ndecode: 64 tokens, {decode:.1} tokens/s (median of 3)\n",
        prompt.len()
    ));
    let info = &frontend.info;
    let budget = info.file_bytes + info.kv_bytes_per_token * info.context as u64;
    if let Some(peak) = generation_peak {
        out.push_str(&format!(
            "peak RSS while generating: {} MB = {:.2}x (model file + {}-token KV cache = {} MB)\n",
            peak / 1_000_000,
            peak as f64 / budget as f64,
            info.context,
            budget / 1_000_000
        ));
    }
    if let Some(llama_bench) = llama_bench {
        let threads = crate::llm::cpu::pool::global().threads();
        let (their_prefill, their_decode) =
            run_llama_bench(llama_bench, &info.path, threads, prompt.len())?;
        out.push_str(&format!(
            "llama.cpp llama-bench, same file, {threads} threads: prefill {their_prefill:.1} tokens/s, decode {their_decode:.1} tokens/s\n\
             ratio to llama.cpp: prefill {:.2}x, decode {:.2}x\n",
            prefill / their_prefill,
            decode / their_decode
        ));
    }

    // Time to first token for two chats sharing a ~1,000-token system prompt.
    engine.clear_prefix_cache();
    let system = long_system_prompt(&frontend.tokenizer, 1000);
    let chat = |question: &str| -> Result<(Vec<u32>, usize), String> {
        let messages = [
            ChatMessage::new(Role::System, system.clone()),
            ChatMessage::new(Role::User, question),
        ];
        let full = frontend
            .template
            .render(&messages, &[], true)
            .map_err(|e| e.to_string())?;
        let head = frontend
            .template
            .render(&messages[..1], &[], false)
            .map_err(|e| e.to_string())?;
        let full = encode(&full)?;
        let head = encode(&head)?;
        let shared = head.iter().zip(&full).take_while(|(a, b)| a == b).count();
        Ok((full, shared))
    };
    let (first_prompt, shared) = chat("Do you deliver on Sundays?")?;
    let first = engine
        .generate(&request(first_prompt.clone(), shared, 1), &mut Discard)
        .map_err(|e| e.to_string())?;
    let (second_prompt, shared) = chat("Can I return an opened jar of honey?")?;
    let second = engine
        .generate(&request(second_prompt.clone(), shared, 1), &mut Discard)
        .map_err(|e| e.to_string())?;
    let ttft = |d: Duration| d.as_secs_f64() * 1000.0;
    out.push_str(&format!(
        "time to first token, {}-token prompt with a {shared}-token shared system prompt:\n  first request (cold): {:.0} ms\n  second request (prefix cached, {} tokens reused): {:.0} ms\n  speed-up: {:.1}x\n",
        first_prompt.len(),
        ttft(first.time_to_first_token),
        second.cached_tokens,
        ttft(second.time_to_first_token),
        first.time_to_first_token.as_secs_f64() / second.time_to_first_token.as_secs_f64()
    ));
    Ok(out)
}

/// Recommendation quality on a synthetic history (hit-rate@10 of each tuning
/// against the best-seller baseline), then the time and peak memory of a
/// rebuild over the whole history, against reading its order lines.
pub fn recommend_benchmark(orders: usize, seed: u64) -> Result<String, String> {
    use crate::commerce::recommend::{self, eval};
    use std::ffi::OsStr;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let options = eval::EvalOptions {
        orders,
        seed,
        variants: eval::standard_variants(),
    };
    let report = eval::evaluate(dir.path(), &options).map_err(|e| e.to_string())?;
    let mut out = format!(
        "synthetic history: {} orders over 365 days (seed {seed}) on the demo catalog ({} available products, {} missions)\n\
         hold-out: orders from {} on ({} of them; {} training orders before); {} held-out baskets with 2+ products, one product hidden in each\n\
         hit-rate@{}:\n  {:<62} {:.3} ({}/{})\n",
        report.orders,
        report.catalog_products,
        report.missions,
        report.cutoff,
        report.orders - report.training_orders,
        report.training_orders,
        report.queries,
        eval::CUTOFF_RANK,
        "popularity baseline (training-window best sellers)",
        report.baseline_hit_rate,
        report.baseline_hits,
        report.queries,
    );
    for v in &report.variants {
        out.push_str(&format!(
            "  {:<62} {:.3} ({}/{}) {:.2}x the baseline; best sellers {:.0}% of places, coverage {:.0}%\n",
            v.variant.name,
            v.hit_rate,
            v.hits,
            report.queries,
            v.hit_rate / report.baseline_hit_rate.max(f64::MIN_POSITIVE),
            v.best_seller_share * 100.0,
            v.coverage * 100.0,
        ));
    }
    out.push_str(&format!(
        "evaluation took {:.1} s\n",
        started.elapsed().as_secs_f64()
    ));

    let store = Store::open(&dir.path().join("shopkeep.db"), &StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let scan_started = Instant::now();
    let mut lines = 0u64;
    store
        .read(|c| {
            crate::store::recommendations::for_each_sold_line(
                c,
                &recommend::sale_statuses(),
                "",
                "~",
                |_| lines += 1,
            )
        })
        .map_err(|e| e.to_string())?;
    let scan = scan_started.elapsed();
    store.close().map_err(|e| e.to_string())?;
    out.push_str(&format!(
        "reading all {lines} sold order lines in-process (reference): {:.0} ms\n",
        scan.as_secs_f64() * 1000.0
    ));
    // The rebuild runs in a fresh process so its peak memory is its own, not
    // the evaluation's. The reference is the same command on the same
    // database as of a day before any order: process, SQLite and an empty pass.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let rebuild_as_of = |at: time::OffsetDateTime| -> Result<(String, Option<u64>), String> {
        let as_of = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        let args = [
            OsStr::new("--data-dir"),
            dir.path().as_os_str(),
            OsStr::new("recommend"),
            OsStr::new("rebuild"),
            OsStr::new("--as-of"),
            OsStr::new(&as_of),
        ];
        child_run(&exe, &args)
    };
    let (_, floor) = rebuild_as_of(report.history_end - time::Duration::days(400))?;
    let (printed, peak) = rebuild_as_of(report.history_end)?;
    out.push_str(&format!(
        "`shopkeep recommend rebuild` over the whole history, fresh process: {}\n\
         peak RSS of that process {} (the same command with no orders in its window: {})",
        printed.trim(),
        megabytes(peak),
        megabytes(floor),
    ));
    Ok(out)
}

/// Runs the program to completion; returns its stdout and its peak RSS.
///
/// The peak is the child's own `VmHWM`, sampled every millisecond while it runs
/// (the mark only grows, so only the last millisecond can be missed). `getrusage` would
/// not do: Linux carries the parent's high-water mark into a child across
/// exec when it was spawned with vfork, as `Command` does.
fn child_run(exe: &Path, args: &[&std::ffi::OsStr]) -> Result<(String, Option<u64>), String> {
    let mut child = Command::new(exe)
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        {
            peak = Some(kb * 1024);
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).map_err(|e| e.to_string())?;
    }
    if !status.success() {
        return Err(format!("{} failed: {stderr}", exe.display()));
    }
    Ok((stdout, peak))
}

/// How `shopkeep bench assistant` runs.
pub struct AssistantBench<'a> {
    /// free, starter, professional or enterprise.
    pub tier: &'a str,
    /// The local model for starter and professional (default: the configured one).
    pub model: Option<&'a str>,
    pub scenarios: Option<&'a Path>,
    pub verbose: bool,
    /// Let the local model choose the action of every turn, not only the
    /// turns the pattern classifier is unsure of.
    pub model_plans_all: bool,
}

/// The default local model of the starter tier's benchmark.
const STARTER_MODEL: &str = "qwen2.5-coder-0.5b-instruct";

/// Runs the assistant's scenario suite on a fresh demo shop and reports each
/// scenario, the success rate and the turn latency.
pub fn assistant_benchmark(config: &Config, bench: &AssistantBench) -> Result<String, String> {
    use crate::assistant::eval;
    use crate::config::TierSetting;
    let mut config = config.clone();
    config.tier = match bench.tier {
        "free" => TierSetting::Free,
        "starter" => TierSetting::Starter,
        "professional" => TierSetting::Professional,
        "enterprise" => TierSetting::Enterprise,
        other => {
            return Err(format!(
                "unknown tier {other:?}: free, starter, professional or enterprise"
            ));
        }
    };
    let local = if config.tier == TierSetting::Free {
        None
    } else {
        config.llm.model = bench
            .model
            .map(str::to_string)
            .or(config.llm.model)
            .or_else(|| (config.tier != TierSetting::Enterprise).then(|| STARTER_MODEL.into()));
        match crate::app::start_chat_model(&config) {
            (Some(worker), _) => Some(worker),
            (None, crate::ops::health::LlmStatus::Failed { model, reason }) => {
                return Err(format!("the local model {model} did not load: {reason}"));
            }
            (None, _) => None,
        }
    };
    let text = match bench.scenarios {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => eval::SCENARIOS.to_string(),
    };
    let scenarios = eval::parse(&text).map_err(|e| e.to_string())?;
    let mut shop = eval::EvalShop::open(config, local).map_err(|e| e.to_string())?;
    let running = shop.backends.tier().as_str();
    if running != bench.tier {
        return Err(format!(
            "tier {} cannot run here: {}",
            bench.tier, shop.backends.resolution.reason
        ));
    }
    if bench.model_plans_all {
        shop.backends.model_plans_below = f32::INFINITY;
    }
    let outcomes = eval::run(&shop, &scenarios).map_err(|e| e.to_string())?;
    let verbose = bench.verbose;
    let tier = bench.tier;
    let mut out = String::new();
    for outcome in &outcomes {
        let mark = if outcome.passed() { "pass" } else { "FAIL" };
        out.push_str(&format!("{mark}  {}\n", outcome.name));
        if verbose {
            for (said, tier, reply) in &outcome.transcript {
                out.push_str(&format!(
                    "        > {said}\n        [{tier}] {}\n",
                    reply.replace('\n', "\n          ")
                ));
            }
        }
        for failure in &outcome.failures {
            out.push_str(&format!("        {failure}\n"));
        }
    }
    let mut times: Vec<f64> = outcomes
        .iter()
        .flat_map(|o| o.turn_times.iter().map(|t| t.as_secs_f64() * 1000.0))
        .collect();
    times.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p) as usize)
            .copied()
    };
    out.push_str(&format!(
        "tier {tier}: {}/{} scenarios passed ({:.1}%), {} turns, turn latency p50 {:.1} ms, p95 {:.1} ms",
        outcomes.iter().filter(|o| o.passed()).count(),
        outcomes.len(),
        eval::success_rate(&outcomes) * 100.0,
        times.len(),
        percentile(0.5).unwrap_or(0.0),
        percentile(0.95).unwrap_or(0.0),
    ));
    let mut first_tokens: Vec<f64> = outcomes
        .iter()
        .flat_map(|o| o.first_token_times.iter().map(|t| t.as_secs_f64() * 1000.0))
        .collect();
    if !first_tokens.is_empty() {
        first_tokens.sort_by(f64::total_cmp);
        let prompt: u64 = outcomes.iter().map(|o| o.prompt_tokens).sum();
        let cached: u64 = outcomes.iter().map(|o| o.cached_tokens).sum();
        out.push_str(&format!(
            "\nmodel turns: {}, time to first token p50 {:.0} ms, p95 {:.0} ms, prompt tokens {prompt} of which {cached} ({:.0}%) reused from the prefix cache",
            outcomes.iter().map(|o| o.model_turns).sum::<usize>(),
            first_tokens[(first_tokens.len() - 1) / 2],
            first_tokens[((first_tokens.len() - 1) as f64 * 0.95) as usize],
            cached as f64 * 100.0 / prompt.max(1) as f64,
        ));
    }
    Ok(out)
}
