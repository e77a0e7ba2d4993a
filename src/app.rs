//! Start-up and shutdown of `shopkeep serve`.
//!
//! Opens the data directory and the store, seeds the demo catalog and the first
//! admin key, runs the HTTP server until SIGTERM or SIGINT, lets in-flight
//! requests finish, then checkpoints and closes SQLite.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpServer, web};

use crate::access::Access;
use crate::assistant::cache::AnswerCache;
use crate::assistant::refine;
use crate::assistant::runtime::AiRuntime;
use crate::catalog::demo;
use crate::commerce::webhooks;
use crate::config::Config;
use crate::llm::worker::ModelWorker;
use crate::ops::health::LlmStatus;
use crate::ops::metrics::Metrics;
use crate::ops::scheduler::Scheduler;
use crate::ops::systemd::{self, Notifier};
use crate::search::SearchService;
use crate::store::{Store, StoreOptions, api_keys};
use crate::tls::Tls;
use crate::web::{self as http, AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot load the demo catalog: {0}")]
    Demo(#[from] crate::catalog::import::ImportError),
    #[error("cannot create the first admin key: {0}")]
    Key(#[from] crate::access::AccessError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot open the search index: {0}")]
    Search(#[from] crate::search::SearchError),
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot read the saved settings: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error(
        "{0}: one server per data directory (stop the other, or give this one its own --data-dir)"
    )]
    Locked(#[from] crate::ops::instance::LockError),
    #[error("cannot prepare HTTPS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("server stopped with an error: {0}")]
    Server(std::io::Error),
}

/// The store once every other holder has let go. actix's worker threads drop
/// their copy of the app state a moment after the server future ends (later
/// on a busy machine), so wait a little rather than skip the clean close.
fn sole_owner(mut store: Arc<Store>, patience: Duration) -> Result<Store, Arc<Store>> {
    let deadline = Instant::now() + patience;
    loop {
        match Arc::try_unwrap(store) {
            Ok(store) => return Ok(store),
            Err(shared) if Instant::now() < deadline => {
                store = shared;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(shared) => return Err(shared),
        }
    }
}

/// Loads the configured chat model and starts its worker (see
/// `assistant::runtime::start_chat_model`).
pub fn start_chat_model(config: &Config) -> (Option<ModelWorker>, LlmStatus) {
    crate::assistant::runtime::start_chat_model(config)
}

/// Opens the store inside the data directory, creating both if needed.
pub fn open_store(config: &Config) -> Result<Store, StartError> {
    create_private_dir(&config.data_dir)?;
    let options = StoreOptions {
        readers: config.db_readers,
        busy_timeout: config.db_busy_timeout,
    };
    Ok(Store::open(&config.database_path(), &options)?)
}

/// Runs the shop until a termination signal; returns once SQLite is closed.
pub fn serve(config: Config) -> Result<(), StartError> {
    let started = Instant::now();
    crate::ops::system::mark_started();
    create_private_dir(&config.data_dir)?;
    let _one_server = crate::ops::instance::InstanceLock::acquire(&config.data_dir)?;
    let store = Arc::new(open_store(&config)?);
    // What the admin saved overrides the configuration file from here on.
    let settings = crate::settings::load(&store, &config)?;
    let config = settings.current().at_start(&config);
    if config.demo_catalog
        && let Some(report) = demo::load_if_empty(&store, &config.currency)?
    {
        tracing::info!(summary = %report.summary(), "loaded the demo catalog (start with --no-demo to skip it)");
        if crate::assistant::faq::seed_demo(&store)? {
            tracing::info!("loaded the demo shop's FAQ");
        }
    }
    let access = Access::new();
    ensure_first_key(&store, &access, &config.admin_key_path())?;
    let search = Arc::new(SearchService::open(
        Arc::clone(&store),
        config.currency,
        &config.index_dir(),
        Some(&config.models_dir()),
    )?);
    let indexer = search.start().map_err(|source| StartError::Thread {
        what: "search indexer",
        source,
    })?;
    let nightly_store = Arc::clone(&store);
    let nightly = Scheduler::daily(
        "recommendations",
        config.commerce.recommend_rebuild_at,
        move || crate::commerce::recommend::scheduled_rebuild(&nightly_store),
    )
    .map_err(|source| StartError::Thread {
        what: "recommendation scheduler",
        source,
    })?;
    let backups = start_backup_schedule(&store, &config)?;
    let maintenance = start_maintenance_schedule(&store, &config)?;
    let ai = AiRuntime::start(&config, &store);
    let webhooks = webhooks::start(Arc::clone(&store), &config.commerce).map_err(|source| {
        StartError::Thread {
            what: "webhook dispatcher",
            source,
        }
    })?;
    let tls = match &config.tls.domain {
        Some(domain) => Some(Tls::load(domain, &config.tls.acme, &config.data_dir)?),
        None => None,
    };
    let state = web::Data::new(AppState {
        store: Arc::clone(&store),
        search: Arc::clone(&search),
        access,
        metrics: Metrics::new()?,
        shutting_down: AtomicBool::new(false),
        payments: Default::default(),
        live: Default::default(),
        ai,
        webhooks: webhooks.waker(),
        answers: Arc::new(AnswerCache::new(
            config.assistant.answer_cache_ttl,
            config.assistant.answer_cache_entries,
        )),
        import_jobs: Default::default(),
        limits: http::guard::RateLimits::new(&config.limits),
        config: config.clone(),
        settings,
        tls: tls.clone(),
    });
    let refine_state = state.clone();
    let refiner = Scheduler::every("intent refinement", refine::EVERY, move || {
        let state = &refine_state;
        let running = state.ai.current();
        if let Err(error) =
            refine::refine_pending(&state.store, &running.backends, &state.config.shop_name)
        {
            tracing::error!(%error, "intent refinement failed");
        }
    })
    .map_err(|source| StartError::Thread {
        what: "intent refinement scheduler",
        source,
    })?;
    let workers = if config.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        config.workers
    };
    let server_state = state.clone();
    let watched_store = Arc::clone(&store);
    let state_for_stop = state.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || http::app(server_state.clone()))
            .workers(workers)
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            .disable_signals();
        let server = server.bind(config.bind).map_err(bind_error(config.bind))?;
        // With a domain, also the HTTPS port and the HTTP one (challenges,
        // redirects) on bind's address; bind itself then redirects too.
        let server = match &tls {
            None => server,
            Some(tls) => {
                let https = SocketAddr::new(config.bind.ip(), config.tls.https_port);
                let server = server
                    .bind_rustls_0_23(https, tls.server_config()?)
                    .map_err(bind_error(https))?;
                let http = SocketAddr::new(config.bind.ip(), config.tls.http_port);
                if http == config.bind {
                    server
                } else {
                    server.bind(http).map_err(bind_error(http))?
                }
            }
        };
        let addrs: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
        let running = server.run();
        let handle = running.handle();
        tracing::info!(
            addr = %addrs.join(","),
            shop = %config.shop_name,
            startup_ms = started.elapsed().as_millis() as u64,
            "listening"
        );
        let systemd = Arc::new(Notifier::from_env());
        systemd.ready(&format!("listening on {}", addrs.join(",")));
        // Started once the listeners are up (the authority's challenge
        // request must find the HTTP one), and after "listening" is logged.
        let renewal = tls.map(start_renewal).transpose()?;
        if let Some(every) = systemd::watchdog_interval() {
            actix_web::rt::spawn(ping_watchdog(Arc::clone(&systemd), watched_store, every));
        }
        actix_web::rt::spawn(async move {
            let signal = termination_signal().await;
            tracing::info!(signal, "shutting down: finishing in-flight requests");
            systemd.stopping();
            state.shutting_down.store(true, Ordering::Relaxed);
            handle.stop(true).await;
        });
        let stopped = running.await.map_err(StartError::Server);
        if let Some(renewal) = renewal {
            renewal.stop();
        }
        stopped
    })?;
    refiner.stop();
    if let Some(worker) = state_for_stop.ai.current().chat_model().cloned() {
        worker.stop();
    }
    drop(state_for_stop);
    webhooks.stop();
    nightly.stop();
    if let Some(backups) = backups {
        backups.stop();
    }
    if let Some(maintenance) = maintenance {
        maintenance.stop();
    }
    search.stop();
    if indexer.join().is_err() {
        tracing::warn!(
            "search indexer stopped abnormally; queued changes are replayed on next start"
        );
    }
    drop(search);
    match sole_owner(store, Duration::from_secs(5)) {
        Ok(store) => store.close()?,
        Err(_) => tracing::warn!(
            "database still in use at exit; SQLite will recover the WAL on next start"
        ),
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// What a failed bind says: the address that could not be listened on.
fn bind_error(addr: SocketAddr) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Bind {
        addr: addr.to_string(),
        source,
    }
}

/// Checks the certificate now and daily, sooner after a failure.
fn start_renewal(tls: Tls) -> Result<Scheduler, StartError> {
    Scheduler::paced("certificate renewal", move || tls.renew_if_due()).map_err(|source| {
        StartError::Thread {
            what: "certificate renewal",
            source,
        }
    })
}

/// Pings systemd's watchdog while the database answers; a server whose
/// database hangs stops pinging and is restarted.
async fn ping_watchdog(systemd: Arc<Notifier>, store: Arc<Store>, every: Duration) {
    let mut ticks = actix_web::rt::time::interval(every);
    loop {
        ticks.tick().await;
        let probe = Arc::clone(&store);
        let answered = web::block(move || probe.ping())
            .await
            .is_ok_and(|outcome| outcome.is_ok());
        if answered {
            systemd.alive();
        } else {
            tracing::warn!("the database did not answer; not pinging systemd's watchdog");
        }
    }
}

/// The daily backup with its retention, unless `backup.schedule = off`.
fn start_backup_schedule(
    store: &Arc<Store>,
    config: &Config,
) -> Result<Option<Scheduler>, StartError> {
    if !config.backup.daily {
        return Ok(None);
    }
    let store = Arc::clone(store);
    let job_config = config.clone();
    Scheduler::daily("backup", config.backup.at, move || {
        crate::backup::retention::scheduled_backup(&store, &job_config)
    })
    .map(Some)
    .map_err(|source| StartError::Thread {
        what: "backup scheduler",
        source,
    })
}

/// The daily retention and VACUUM, unless nothing is ever due.
fn start_maintenance_schedule(
    store: &Arc<Store>,
    config: &Config,
) -> Result<Option<Scheduler>, StartError> {
    let retention = &config.retention;
    let idle = retention.conversations_days == 0
        && retention.logs_days == 0
        && retention.vacuum == crate::config::VacuumSchedule::Off;
    if idle {
        return Ok(None);
    }
    let store = Arc::clone(store);
    let job_config = config.clone();
    Scheduler::daily("maintenance", retention.at, move || {
        crate::maintenance::scheduled(&store, &job_config)
    })
    .map(Some)
    .map_err(|source| StartError::Thread {
        what: "maintenance scheduler",
        source,
    })
}

/// Waits for SIGTERM or SIGINT and names the one that came.
async fn termination_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            std::future::pending::<()>().await;
            return "none";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

/// On the very first start there is no way in: mint a key and leave it in the data dir.
fn ensure_first_key(store: &Store, access: &Access, path: &Path) -> Result<(), StartError> {
    if store.read(api_keys::count_live)? > 0 {
        return Ok(());
    }
    let key = access.create_key(store, "first-start")?;
    write_private_file(path, &format!("{}\n", key.token))?;
    tracing::info!(path = %path.display(), "created the first admin key; it is in this file (mode 0600)");
    Ok(())
}

fn create_private_dir(path: &Path) -> Result<(), StartError> {
    let fail = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    fs::create_dir_all(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(fail)?.permissions().mode();
        if mode & 0o077 != 0 && path.read_dir().map_err(fail)?.next().is_none() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    Ok(())
}

fn write_private_file(path: &Path, contents: &str) -> Result<(), StartError> {
    let fail = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}
