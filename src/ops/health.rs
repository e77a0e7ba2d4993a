//! Readiness: is the database answering, is search usable, which model and tier run.
//!
//! Each component reports ok, degraded or down with a reason a person can act on.
//! The shop is ready when the database answers and it is not shutting down: a
//! degraded database (its disk full, so changes fail while reading works)
//! keeps serving, and says why.

use serde::Serialize;
use utoipa::ToSchema;

use crate::assistant::runtime::Running;
use crate::llm::local::ModelInfo;
use crate::search::{SearchService, SearchStatus};
use crate::store::Store;
use crate::tls::{Serving, TlsStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Down,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    pub status: Status,
    pub reason: String,
}

impl Check {
    fn new(status: Status, reason: impl Into<String>) -> Check {
        Check {
            status,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: Check,
    pub search_index: Check,
    pub model: Check,
    /// The remote model APIs in use and how their latest calls went.
    pub remote: Check,
    /// The HTTPS certificate when a domain is set: degraded while a
    /// self-signed one stands in or renewal keeps failing.
    pub tls: Check,
    pub tier: TierReport,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierReport {
    pub status: Status,
    /// The tier asked for (the config file's, or the dashboard's when saved there).
    pub configured: String,
    /// The tier actually running.
    pub active: String,
    pub reason: String,
}

/// What became of the configured local chat model.
#[derive(Debug, Clone)]
pub enum LlmStatus {
    /// None configured (`llm.model` empty).
    NotConfigured,
    Loaded(ModelInfo),
    /// Configured but could not load; the reason says why and what to do.
    Failed {
        model: String,
        reason: String,
    },
}

/// Evaluates every component now, against the AI set-up running now.
pub fn readiness(
    store: &Store,
    search: &SearchService,
    ai: &Running,
    tls: Option<&TlsStatus>,
    shutting_down: bool,
) -> Readiness {
    let llm = &ai.llm_status;
    let database = match store.ping() {
        Ok(()) => database_check(store.path()),
        Err(err) => Check::new(Status::Down, err.to_string()),
    };
    let search_index = match search.status() {
        Ok(status) => search_check(&status),
        Err(err) => Check::new(Status::Down, err.to_string()),
    };
    let model = match llm {
        LlmStatus::NotConfigured => Check::new(
            Status::Degraded,
            "no language model configured (llm.model): the assistant runs without one",
        ),
        LlmStatus::Loaded(info) => Check::new(
            Status::Ok,
            format!(
                "{} ({}) on {}, {}-token context, loaded in {} ms",
                info.id, info.family, info.device, info.context, info.load_ms
            ),
        ),
        LlmStatus::Failed { model, reason } => {
            Check::new(Status::Degraded, format!("{model} did not load: {reason}"))
        }
    };
    let remote = remote_check(ai);
    let tier = tier_report(ai, every_remote_failing(ai));
    let ready = database.status != Status::Down && !shutting_down;
    Readiness {
        ready,
        database,
        search_index,
        model,
        remote,
        tls: tls_check(tls),
        tier,
    }
}

/// Below this much free space the database's disk is reported degraded: a
/// checkout needs a few pages, an import or a backup much more.
const LOW_DISK_BYTES: u64 = 16 << 20;

/// The database answers; degraded when the disk under it is (almost) full,
/// since every change will then fail while reading still works.
fn database_check(path: &std::path::Path) -> Check {
    let free = path
        .parent()
        .and_then(crate::ops::system::disk_space)
        .map(|disk| disk.free_bytes);
    disk_verdict(format!("SQLite at {}", path.display()), free)
}

/// `free`: bytes left on the database's file system, when the system says.
fn disk_verdict(at: String, free: Option<u64>) -> Check {
    match free {
        Some(free) if free < LOW_DISK_BYTES => Check::new(
            Status::Degraded,
            format!(
                "{at}: the disk is full or nearly ({} KiB free): orders and other changes fail until space is freed; reading works",
                free / 1024
            ),
        ),
        _ => Check::new(Status::Ok, at),
    }
}

/// Keyword search is ok once the queue is drained; semantic search once every product is embedded.
fn search_check(status: &SearchStatus) -> Check {
    let semantic = match (&status.embedding_model, &status.embedding_error) {
        (None, Some(error)) => format!("semantic search off ({error}): keyword mode"),
        (None, None) => {
            "semantic search off (no embedding model installed): keyword mode".to_string()
        }
        (Some(model), _) if status.embedding_queue > 0 => {
            format!(
                "{model}: {} products embedded, {} waiting",
                status.embedded, status.embedding_queue
            )
        }
        (Some(model), _) => format!("{model}: {} products embedded", status.embedded),
    };
    // An embedding model that is there but does not load is a fault to fix;
    // one never installed is a choice (keyword search is the free tier's).
    let broken = status.embedding_error.is_some();
    let catching_up = status.pending > 0 || status.embedding_queue > 0;
    let reason = format!(
        "{} products indexed, {} changes waiting; {semantic}",
        status.indexed, status.pending
    );
    match (&status.last_error, catching_up) {
        (Some(error), true) => {
            Check::new(Status::Degraded, format!("{reason}; last error: {error}"))
        }
        (_, true) => Check::new(Status::Degraded, reason),
        (_, false) if broken => Check::new(Status::Degraded, reason),
        (_, false) => Check::new(Status::Ok, reason),
    }
}

/// The tier that actually runs (see `assistant::router::resolve`): saying
/// so beats pretending. The enterprise tier is degraded at run time too,
/// while all its remote APIs fail and turns fall through to the tiers below.
fn tier_report(ai: &Running, remote_failing: bool) -> TierReport {
    let resolution = &ai.backends.resolution;
    let falling_back =
        remote_failing && resolution.active == crate::assistant::router::Tier::Enterprise;
    let mut reason = resolution.reason.clone();
    if falling_back {
        reason.push_str(
            "; its remote APIs are failing (see remote), so turns fall back to the local model or the free tier",
        );
    }
    TierReport {
        status: if resolution.degraded || falling_back {
            Status::Degraded
        } else {
            Status::Ok
        },
        configured: ai.config.tier.as_str().into(),
        active: resolution.active.as_str().into(),
        reason,
    }
}

/// The certificate being served and, while it fails, why obtaining one does.
fn tls_check(tls: Option<&TlsStatus>) -> Check {
    let Some(tls) = tls else {
        return Check::new(
            Status::Ok,
            "plain HTTP (no domain set): HTTPS is up to a proxy in front",
        );
    };
    let domain = &tls.domain;
    let failing = tls.last_error.as_deref();
    match (tls.serving, failing) {
        (Serving::Issued { not_after }, None) => Check::new(
            Status::Ok,
            format!("certificate for {domain} valid until {not_after}"),
        ),
        (Serving::Issued { not_after }, Some(error)) => Check::new(
            Status::Degraded,
            format!(
                "certificate for {domain} valid until {not_after}; renewal failing (retrying): {error}"
            ),
        ),
        (Serving::SelfSigned, error) => Check::new(
            Status::Degraded,
            format!(
                "serving a temporary self-signed certificate for {domain}: {}",
                error.map_or(
                    "ordering one from the certificate authority".to_string(),
                    |e| { format!("no certificate yet (retrying): {e}") }
                )
            ),
        ),
    }
}

/// Whether every remote provider's latest call failed (none configured: no).
fn every_remote_failing(ai: &Running) -> bool {
    let providers = ai.backends.remote();
    !providers.is_empty()
        && providers
            .iter()
            .all(|model| matches!(model.guarded.last_outcome(), Some(Err(_))))
}

/// Each remote provider with its latest call: degraded while one is failing
/// (a bad key or URL shows here after the first turn that tried it).
fn remote_check(ai: &Running) -> Check {
    let providers = ai.backends.remote();
    if providers.is_empty() {
        return Check::new(Status::Ok, "no remote model API configured");
    }
    let mut failing = false;
    let lines: Vec<String> = providers
        .iter()
        .map(|model| {
            let name = model.guarded.provider();
            match model.guarded.last_outcome() {
                None => format!("{name}: not called yet"),
                Some(Ok(())) => format!("{name}: ok"),
                Some(Err(error)) => {
                    failing = true;
                    format!("{name}: failing: {error}")
                }
            }
        })
        .collect();
    let status = if failing {
        Status::Degraded
    } else {
        Status::Ok
    };
    Check::new(status, lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caught_up(embedding_model: Option<&str>, embedding_error: Option<&str>) -> SearchStatus {
        SearchStatus {
            indexed: 12,
            pending: 0,
            embedding_model: embedding_model.map(str::to_string),
            embedded: if embedding_model.is_some() { 12 } else { 0 },
            embedding_queue: 0,
            last_error: None,
            embedding_error: embedding_error.map(str::to_string),
        }
    }

    #[test]
    fn a_broken_embedding_model_degrades_search_and_a_missing_one_does_not() {
        let broken = search_check(&caught_up(
            None,
            Some(
                "embedding model in /m/all-minilm-l6-v2 is unusable: model.safetensors: bad header",
            ),
        ));
        assert_eq!(broken.status, Status::Degraded);
        assert!(
            broken.reason.contains("model.safetensors: bad header")
                && broken.reason.contains("keyword mode"),
            "{}",
            broken.reason
        );
        let never_installed = search_check(&caught_up(None, None));
        assert_eq!(never_installed.status, Status::Ok);
        assert!(
            never_installed
                .reason
                .contains("no embedding model installed")
        );
        let semantic = search_check(&caught_up(Some("all-minilm-l6-v2"), None));
        assert_eq!(semantic.status, Status::Ok);
        assert!(semantic.reason.contains("12 products embedded"));
    }

    #[test]
    fn a_full_disk_degrades_the_database_and_says_so() {
        let full = disk_verdict("SQLite at /d/shopkeep.db".into(), Some(300 * 1024));
        assert_eq!(full.status, Status::Degraded);
        assert!(
            full.reason
                .contains("disk is full or nearly (300 KiB free)"),
            "{}",
            full.reason
        );
        let roomy = disk_verdict("SQLite at /d/shopkeep.db".into(), Some(1 << 30));
        assert_eq!(
            (roomy.status, roomy.reason.as_str()),
            (Status::Ok, "SQLite at /d/shopkeep.db")
        );
        let unknown = disk_verdict("SQLite at /d/shopkeep.db".into(), None);
        assert_eq!(unknown.status, Status::Ok);
    }
}
