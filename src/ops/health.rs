//! Readiness: is the database answering, is search usable, which model and tier run.
//!
//! Each component reports ok, degraded or down with a reason a person can act on.
//! The shop is ready when the database is up and it is not shutting down.

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
        Ok(()) => Check::new(Status::Ok, format!("SQLite at {}", store.path().display())),
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
    let tier = tier_report(ai);
    let ready = database.status == Status::Ok && !shutting_down;
    Readiness {
        ready,
        database,
        search_index,
        model,
        remote: remote_check(ai),
        tls: tls_check(tls),
        tier,
    }
}

/// Keyword search is ok once the queue is drained; semantic search once every product is embedded.
fn search_check(status: &SearchStatus) -> Check {
    let semantic = match &status.embedding_model {
        None => "semantic search off (no embedding model installed): keyword mode".to_string(),
        Some(model) if status.embedding_queue > 0 => {
            format!(
                "{model}: {} products embedded, {} waiting",
                status.embedded, status.embedding_queue
            )
        }
        Some(model) => format!("{model}: {} products embedded", status.embedded),
    };
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
        (_, false) => Check::new(Status::Ok, reason),
    }
}

/// The tier that actually runs (see `assistant::router::resolve`): saying
/// so beats pretending.
fn tier_report(ai: &Running) -> TierReport {
    let resolution = &ai.backends.resolution;
    TierReport {
        status: if resolution.degraded {
            Status::Degraded
        } else {
            Status::Ok
        },
        configured: ai.config.tier.as_str().into(),
        active: resolution.active.as_str().into(),
        reason: resolution.reason.clone(),
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
