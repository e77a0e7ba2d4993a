//! The `shopkeep` command line: serve the shop, import catalogs, manage keys, check config.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use shopkeep::access::Access;
use shopkeep::app;
use shopkeep::catalog::import::{self, Format, ImportOptions, Source};
use shopkeep::config::{Config, LogFormat, Overrides};
use shopkeep::search::SearchService;

#[derive(Parser)]
#[command(
    name = "shopkeep",
    version,
    about = "A self-hosted AI shop assistant in one binary"
)]
struct Cli {
    /// TOML configuration file (also SHOPKEEP_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory holding the database and the admin key (default ./shopkeep-data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the shop's HTTP server until SIGTERM/SIGINT.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Do not load the demo catalog into an empty shop.
        #[arg(long)]
        no_demo: bool,
        /// Deployment tier: auto, free, starter, professional or enterprise.
        #[arg(long)]
        tier: Option<String>,
        /// Local chat model to load (id from `shopkeep models list`); sets `llm.model`.
        #[arg(long, value_name = "ID")]
        model: Option<String>,
    },
    /// Import a catalog file (Shopify, WooCommerce, CSV, JSON or NDJSON).
    Import {
        file: PathBuf,
        /// auto, shopify, woocommerce, csv, json or ndjson.
        #[arg(long, default_value = "auto")]
        format: String,
        /// Refuse the whole file, writing nothing, if any row is bad.
        #[arg(long)]
        strict: bool,
    },
    /// Back up the shop while it runs: a consistent snapshot of the database,
    /// the config file and a manifest, in one checksummed .tar.zst archive.
    Backup {
        /// Write the archive here instead of <data_dir>/backups/shopkeep-YYYYMMDD-HHMMSS.tar.zst.
        #[arg(long, value_name = "FILE")]
        to: Option<PathBuf>,
        /// Also upload the archive to the S3-compatible storage of
        /// `backup.s3.*` and delete uploads beyond `backup.s3.keep`; the local
        /// archive stays either way.
        #[arg(long)]
        upload: bool,
    },
    /// Data retention and upkeep now: delete (archiving first, see
    /// `retention.*`) conversations and logs past their age, then VACUUM the
    /// database; prints what went and the bytes given back.
    Maintenance {
        /// Only count what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Skip the VACUUM.
        #[arg(long)]
        no_vacuum: bool,
    },
    /// Restore a backup archive: verifies it whole, keeps the replaced
    /// database as shopkeep.db.before-restore, and rebuilds the search index.
    Restore {
        file: PathBuf,
        /// Restore even though a server is running on the data directory:
        /// the backup is copied into its open database in one transaction.
        #[arg(long)]
        force: bool,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Administration tools.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Search index tools.
    Index {
        #[command(subcommand)]
        action: IndexAction,
    },
    /// Recommendation tools.
    Recommend {
        #[command(subcommand)]
        action: RecommendAction,
    },
    /// Local models: list the catalog, pull, verify, remove (see models/catalog.toml).
    Models(shopkeep::llm::cli::ModelsArgs),
    /// Check the set-up without starting the server: config, permissions,
    /// disk, memory, model files, GPU, remote APIs, port and backups. Exits 1
    /// when a check fails.
    Doctor {
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
        /// Address the server would listen on (as `serve --bind`).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Deployment tier (as `serve --tier`).
        #[arg(long)]
        tier: Option<String>,
        /// Local chat model (as `serve --model`).
        #[arg(long, value_name = "ID")]
        model: Option<String>,
        /// A model catalog file that replaces the built-in models/catalog.toml.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// Measure performance (results belong in docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
}

#[derive(Subcommand)]
enum IndexAction {
    /// Rebuild the search index (and missing embeddings) from the database; stop the server first.
    Rebuild,
}

#[derive(Subcommand)]
enum RecommendAction {
    /// Rebuild "frequently bought together" and best sellers from the orders now.
    Rebuild {
        /// Rebuild as of this RFC 3339 moment instead of now (orders after it
        /// are ignored), to replay a past history.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchAction {
    /// Import a generated catalog, against a plain-SQL reference.
    Import {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
    },
    /// Cold and warm start to ready, and idle memory, of `shopkeep serve`.
    Startup {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Search latency and indexing speed at several catalog sizes, against SQLite FTS5.
    Search {
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        sizes: Vec<usize>,
    },
    /// nDCG@10, MRR and recall@20 of keyword, vector and hybrid search on the judged sets.
    SearchQuality {
        /// Folder of the Shopify exports the judged sets refer to.
        #[arg(long, default_value = "../shared/data/shopify")]
        exports: PathBuf,
        #[arg(long, default_value_t = shopkeep::search::DEFAULT_ALPHA)]
        alpha: f32,
    },
    /// Load time, prefill/decode speed, time to first token with and without the prefix cache.
    Llm {
        /// Model id (see `shopkeep models list`) or GGUF file name in models_dir.
        #[arg(long)]
        model: String,
        #[arg(long, default_value_t = 4096)]
        context: usize,
        /// CPU threads (0: one per physical core, as `llm.threads`).
        #[arg(long)]
        threads: Option<usize>,
        /// llama.cpp's `llama-bench`, to measure the same file beside ours.
        #[arg(long)]
        llama_bench: Option<std::path::PathBuf>,
    },
    /// The assistant's scripted shopper conversations: per-scenario report and success rate.
    Assistant {
        /// Which tier answers: free (rules, no model), starter or professional
        /// (the local model), enterprise (the configured remote APIs).
        #[arg(long, default_value = "free")]
        tier: String,
        /// The local model (default: llm.model, else Qwen2.5-Coder 0.5B for starter).
        #[arg(long)]
        model: Option<String>,
        /// Let the local model choose every turn's action, not only the unsure ones.
        #[arg(long)]
        model_plans_all: bool,
        /// A scenario file instead of the built-in suite.
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Print every turn: the message, the tier that answered and the reply.
        #[arg(long)]
        verbose: bool,
    },
    /// Hit-rate@10 of recommendations on a synthetic order history, against best sellers.
    Recommend {
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate the configuration and print every value with its origin.
    Check,
    /// Print the systemd unit that install.sh installs (systemd/shopkeep.service).
    SystemdUnit,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create an admin API key; the key is the last line of the output.
    CreateKey {
        #[arg(long)]
        name: String,
    },
    /// Set the dashboard's admin password, read from standard input or a file
    /// (never from the command line); signs every dashboard session out.
    SetPassword {
        /// The name the admin signs in with.
        #[arg(long, default_value = shopkeep::admin_auth::DEFAULT_USER)]
        user: String,
        /// Read the password from the first line of this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        config_file: cli.config.clone(),
        ..Default::default()
    };
    overrides.set("data_dir", "--data-dir", cli.data_dir.clone());
    if let Command::Serve {
        bind,
        no_demo,
        tier,
        model,
    } = &cli.command
    {
        overrides.set("bind", "--bind", bind.clone());
        overrides.set("llm.model", "--model", model.clone());
        overrides.set("tier", "--tier", tier.clone());
        overrides.set(
            "demo_catalog",
            "--no-demo",
            no_demo.then(|| "false".to_string()),
        );
    }
    if let Command::Doctor {
        bind, tier, model, ..
    } = &cli.command
    {
        overrides.set("bind", "--bind", bind.clone());
        overrides.set("llm.model", "--model", model.clone());
        overrides.set("tier", "--tier", tier.clone());
    }
    if let Command::Models(args) = &cli.command {
        overrides.set("models_dir", "--models-dir", args.models_dir.clone());
    }
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(err) if matches!(cli.command, Command::Doctor { .. }) => {
            let json = matches!(cli.command, Command::Doctor { json: true, .. });
            return print_doctor(&shopkeep::ops::doctor::Report::invalid_config(&err), json);
        }
        Err(err) => {
            eprintln!("shopkeep: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve { .. } => {
            init_logging(&config);
            app::serve(config).map_err(|e| e.to_string())
        }
        Command::Import {
            file,
            format,
            strict,
        } => run_import(&config, &file, &format, strict),
        Command::Backup { to, upload } => take_backup(&config, to, upload),
        Command::Maintenance { dry_run, no_vacuum } => {
            run_maintenance(&config, dry_run, !no_vacuum)
        }
        Command::Restore { file, force } => restore_backup(&config, &file, force),
        Command::Config {
            action: ConfigAction::Check,
        } => {
            println!("{}", config.describe());
            println!("configuration is valid");
            Ok(())
        }
        Command::Config {
            action: ConfigAction::SystemdUnit,
        } => {
            print!("{}", include_str!("../systemd/shopkeep.service"));
            Ok(())
        }
        Command::Admin {
            action: AdminAction::CreateKey { name },
        } => create_key(&config, &name),
        Command::Admin {
            action:
                AdminAction::SetPassword {
                    user,
                    password_file,
                },
        } => set_admin_password(&config, &user, password_file.as_deref()),
        Command::Index {
            action: IndexAction::Rebuild,
        } => rebuild_index(&config),
        Command::Recommend {
            action: RecommendAction::Rebuild { as_of },
        } => rebuild_recommendations(&config, as_of.as_deref()),
        Command::Models(args) => return shopkeep::llm::cli::run(&config, args),
        Command::Doctor { json, catalog, .. } => return doctor(&config, catalog.as_deref(), json),
        Command::Bench { action } => {
            let report = match action {
                BenchAction::Import { products } => {
                    shopkeep::bench::import_benchmark(products.max(1))
                }
                BenchAction::Startup { runs } => shopkeep::bench::startup_benchmark(runs.max(1)),
                BenchAction::Search { sizes } => {
                    shopkeep::bench::search_speed_benchmark(&sizes, &config.models_dir())
                }
                BenchAction::SearchQuality { exports, alpha } => {
                    shopkeep::bench::quality_benchmark(
                        std::path::Path::new("."),
                        &exports,
                        &config.models_dir(),
                        alpha,
                    )
                }
                BenchAction::Llm {
                    model,
                    context,
                    threads,
                    llama_bench,
                } => {
                    shopkeep::llm::cpu::pool::configure(threads.unwrap_or(config.llm.threads));
                    shopkeep::bench::llm_benchmark(
                        &config.models_dir(),
                        &model,
                        context,
                        llama_bench.as_deref(),
                    )
                }
                BenchAction::Recommend { orders, seed } => {
                    shopkeep::bench::recommend_benchmark(orders.max(100), seed)
                }
                BenchAction::Assistant {
                    tier,
                    model,
                    model_plans_all,
                    scenarios,
                    verbose,
                } => {
                    shopkeep::llm::cpu::pool::configure(config.llm.threads);
                    shopkeep::bench::assistant_benchmark(
                        &config,
                        &shopkeep::bench::AssistantBench {
                            tier: &tier,
                            model: model.as_deref(),
                            scenarios: scenarios.as_deref(),
                            verbose,
                            model_plans_all,
                        },
                    )
                }
            };
            report.map(|text| println!("{text}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shopkeep: {message}");
            ExitCode::FAILURE
        }
    }
}

fn doctor(config: &Config, catalog: Option<&std::path::Path>, json: bool) -> ExitCode {
    let catalog = match catalog {
        Some(path) => shopkeep::llm::catalog::Catalog::load(path),
        None => shopkeep::llm::catalog::Catalog::builtin(),
    };
    match catalog {
        Ok(catalog) => print_doctor(
            &shopkeep::ops::doctor::run(&with_saved_ai_settings(config), &catalog),
            json,
        ),
        Err(error) => {
            eprintln!("shopkeep: {error}");
            ExitCode::from(2)
        }
    }
}

/// The configuration with what the dashboard saved (tier, model, remote
/// providers and their keys) over it, as the server would run; the file's
/// alone when there is no database yet or it cannot be opened.
fn with_saved_ai_settings(config: &Config) -> Config {
    if !config.database_path().is_file() {
        return config.clone();
    }
    let Ok(store) = app::open_store(config) else {
        return config.clone();
    };
    let effective = shopkeep::assistant::runtime::effective_config(config, &store);
    let _ = store.close();
    effective
}

fn print_doctor(report: &shopkeep::ops::doctor::Report, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("shopkeep: {error}"),
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log_level);
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

fn run_import(config: &Config, file: &PathBuf, format: &str, strict: bool) -> Result<(), String> {
    let format = match format {
        "auto" => None,
        name => Some(name.parse::<Format>()?),
    };
    if !file.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let options = ImportOptions { format, strict };
    let report = import::import(
        &store,
        Source::File(file),
        &options,
        &config.currency,
        &|p| {
            bar.set_position(p.bytes_read);
            bar.set_message(format!("{} products", p.records));
        },
    );
    bar.finish_and_clear();
    let report = report.map_err(|e| e.to_string())?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for error in &report.errors {
        eprintln!("skipped: {error}");
    }
    if report.skipped as usize > report.errors.len() {
        eprintln!(
            "… and {} more skipped rows",
            report.skipped as usize - report.errors.len()
        );
    }
    store.close().map_err(|e| e.to_string())?;
    println!("{}", report.summary());
    Ok(())
}

fn rebuild_index(config: &Config) -> Result<(), String> {
    let store = std::sync::Arc::new(app::open_store(config).map_err(|e| e.to_string())?);
    let search = SearchService::open(
        store.clone(),
        config.currency,
        &config.index_dir(),
        Some(&config.models_dir()),
    )
    .map_err(|e| format!("{e} (is the server running? stop it first)"))?;
    let queued = search.rebuild().map_err(|e| e.to_string())? as u64;
    let bar = ProgressBar::new(queued);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    while search.step().map_err(|e| e.to_string())? {
        let status = search.status().map_err(|e| e.to_string())?;
        bar.set_position(queued.saturating_sub(status.pending as u64));
        bar.set_message(format!(
            "{} embedded, {} to embed",
            status.embedded, status.embedding_queue
        ));
    }
    bar.finish_and_clear();
    let status = search.status().map_err(|e| e.to_string())?;
    drop(search);
    if let Ok(store) = std::sync::Arc::try_unwrap(store) {
        store.close().map_err(|e| e.to_string())?;
    }
    let semantic = match (status.embedding_model, status.embedding_error) {
        (Some(model), _) => format!("{} products embedded with {model}", status.embedded),
        (None, Some(error)) => format!("semantic search off ({error}): keyword search only"),
        (None, None) => "no embedding model: keyword search only".to_string(),
    };
    println!("indexed {} products; {semantic}", status.indexed);
    Ok(())
}

fn rebuild_recommendations(config: &Config, as_of: Option<&str>) -> Result<(), String> {
    let now = match as_of {
        None => time::OffsetDateTime::now_utc(),
        Some(text) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("--as-of {text:?} is not an RFC 3339 time: {e}"))?
        }
    };
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    let report = shopkeep::commerce::recommend::rebuild(&store, now).map_err(|e| e.to_string())?;
    store.close().map_err(|e| e.to_string())?;
    if report.orders_seen == 0 {
        println!(
            "no orders in the last {} days to learn from (cancelled and refunded ones do not count): \
             nothing to recommend yet; the nightly run and `shopkeep recommend rebuild` pick them up once there are",
            report.window_days
        );
        return Ok(());
    }
    println!(
        "learned from {} orders ({} with two or more products) in {} ms: \
         {} product pairs bought together, {} neighbours kept for {} products, {} products ranked by sales",
        report.orders_seen,
        report.baskets_paired,
        report.duration_ms,
        report.pairs_counted,
        report.pairs_kept,
        report.products_with_neighbours,
        report.products_ranked
    );
    Ok(())
}

fn take_backup(config: &Config, to: Option<PathBuf>, upload: bool) -> Result<(), String> {
    if upload && config.backup.s3.is_none() {
        return Err(shopkeep::backup::remote::UploadError::NotConfigured.to_string());
    }
    let dest = to.unwrap_or_else(|| shopkeep::backup::default_path(config, false));
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    let created = shopkeep::backup::create(&store, config, &dest).map_err(|e| e.to_string());
    store.close().map_err(|e| e.to_string())?;
    let created = created?;
    let info = &created.info;
    println!(
        "backed up to {} ({} bytes; schema {}; {} products, {} orders)",
        created.path,
        info.bytes,
        info.schema_version.unwrap_or_default(),
        info.products.unwrap_or_default(),
        info.orders.unwrap_or_default()
    );
    println!("sha256 {}", created.sha256);
    if upload {
        let status = shopkeep::backup::remote::upload(config, &dest).map_err(|e| {
            format!(
                "the upload failed; the backup is kept at {}: {e}",
                created.path
            )
        })?;
        println!("uploaded to {} ({} bytes)", status.target, status.bytes);
        for key in &status.pruned {
            println!("deleted the older upload {key}");
        }
        if let Some(error) = &status.prune_error {
            eprintln!("warning: could not delete older uploads: {error}");
        }
    }
    Ok(())
}

fn run_maintenance(config: &Config, dry_run: bool, vacuum: bool) -> Result<(), String> {
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    let report = shopkeep::maintenance::run(&store, config, dry_run, vacuum);
    store.close().map_err(|e| e.to_string())?;
    let report = report.map_err(|e| e.to_string())?;
    print!("{}", report.describe());
    Ok(())
}

fn restore_backup(config: &Config, file: &std::path::Path, force: bool) -> Result<(), String> {
    if !file.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    let report =
        shopkeep::backup::restore::from_cli(config, file, force).map_err(|e| e.to_string())?;
    let how = if report.live {
        "into the running server's database"
    } else {
        "into place"
    };
    println!(
        "restored the backup of {} (schema {}) {how}",
        report.backup_created_at, report.schema_version
    );
    println!("the replaced database is kept as {}", report.before_restore);
    if let Some(config_copy) = &report.restored_config {
        println!("the backup's config file is at {config_copy}; the active one was left as it is");
    }
    println!("search index: {}", report.search_index);
    Ok(())
}

fn create_key(config: &Config, name: &str) -> Result<(), String> {
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    let key = Access::new()
        .create_key(&store, name)
        .map_err(|e| e.to_string())?;
    store.close().map_err(|e| e.to_string())?;
    println!(
        "created admin key {} named {name:?}; it is shown only once:",
        key.id
    );
    println!("{}", key.token);
    Ok(())
}

fn set_admin_password(
    config: &Config,
    user: &str,
    password_file: Option<&std::path::Path>,
) -> Result<(), String> {
    let password = shopkeep::admin_auth::cli::read_new_password(password_file)?;
    let store = app::open_store(config).map_err(|e| e.to_string())?;
    shopkeep::admin_auth::set_password(&store, user, &password).map_err(|e| e.to_string())?;
    store.close().map_err(|e| e.to_string())?;
    println!(
        "set the dashboard password of admin user {:?}; every dashboard session was signed out",
        user.trim()
    );
    Ok(())
}
