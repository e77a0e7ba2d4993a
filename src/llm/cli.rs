//! `shopkeep models list|pull|verify|rm`: the command-line face of the model
//! manager — argument parsing, the table, progress bars and exit codes.
//!
//! This module owns only presentation. It must not download, hash or delete
//! anything itself (that is [`super::manager`]) nor read the environment (the
//! models directory comes from [`crate::config::Config`]).

use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::catalog::{Catalog, human_bytes};
use super::manager::{Checksum, ModelError, ModelManager, PullEvent};
use crate::config::Config;

/// `shopkeep models ...` arguments.
#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Directory of local models (also `models_dir` in the config file, or SHOPKEEP_MODELS_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<String>,
    /// A model catalog file that replaces the built-in models/catalog.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(subcommand)]
    pub action: ModelsAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsAction {
    /// List the catalog's models, what is installed, and unknown GGUF files in the models directory.
    List,
    /// Download a model from its first working source, check its sha256 and install it.
    Pull { id: String },
    /// Check installed models' size and sha256 (all installed ones when no id is given).
    Verify { id: Option<String> },
    /// Delete an installed model (and any unfinished download of it).
    Rm { id: String },
}

/// Runs a `models` command; exit code 2 for an unknown id or a bad catalog, 1 for other failures.
pub fn run(config: &Config, args: ModelsArgs) -> ExitCode {
    let catalog = match &args.catalog {
        Some(path) => Catalog::load(path),
        None => Catalog::builtin(),
    };
    let catalog = match catalog {
        Ok(catalog) => catalog,
        Err(error) => {
            eprintln!("shopkeep: {error}");
            return ExitCode::from(2);
        }
    };
    let manager = ModelManager::new(config.models_dir(), catalog);
    let result = match args.action {
        ModelsAction::List => {
            list(&manager);
            Ok(true)
        }
        ModelsAction::Pull { id } => pull(&manager, &id),
        ModelsAction::Verify { id } => verify(&manager, id.as_deref()),
        ModelsAction::Rm { id } => manager.remove(&id).map(|path| {
            println!("removed {id} ({})", path.display());
            true
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("shopkeep: {error}");
            if error.is_usage() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn list(manager: &ModelManager) {
    let listing = manager.list();
    let id_width = listing
        .models
        .iter()
        .map(|s| s.model.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:<id_width$}  {:<9}  {:>9}  {:>8}  {:<9}  LICENCE",
        "ID", "KIND", "SIZE", "RAM", "INSTALLED"
    );
    for status in &listing.models {
        let model = status.model;
        let installed = if status.installed { "✓" } else { "–" };
        println!(
            "{:<id_width$}  {:<9}  {:>9}  {:>8}  {:<9}  {}",
            model.id,
            model.kind.as_str(),
            model.size.to_string(),
            format!("{} MB", model.ram_mb),
            installed,
            model.licence
        );
    }
    println!(
        "\nmodels directory: {} (catalog: {})",
        manager.dir().display(),
        manager.catalog().origin()
    );
    for status in listing.models.iter().filter(|s| s.partial.is_some()) {
        println!(
            "unfinished download of {}: {} of {}; `shopkeep models pull {}` resumes",
            status.model.id,
            human_bytes(status.partial.unwrap_or(0)),
            status.model.size,
            status.model.id
        );
    }
    for extra in &listing.extra {
        println!(
            "not in the catalog: {} ({})",
            extra.name,
            human_bytes(extra.size)
        );
    }
}

fn pull(manager: &ModelManager, id: &str) -> Result<bool, ModelError> {
    let model = manager.model(id)?;
    ignore_file_size_signal();
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    eprintln!(
        "pulling {} ({}) into {}",
        model.id,
        model.size,
        manager.dir().display()
    );
    let report = manager.pull(id, &mut |event| match event {
        PullEvent::Trying {
            index,
            count,
            source,
        } => bar.suspend(|| eprintln!("source {index}/{count}: {source}")),
        PullEvent::SourceFailed { source, reason } => {
            bar.suspend(|| eprintln!("  failed ({source}): {reason}"))
        }
        PullEvent::Note(text) => bar.suspend(|| eprintln!("  {text}")),
        PullEvent::Downloading { file, done, total } => {
            bar.set_message(format!("fetching {file}"));
            bar.set_length(total.unwrap_or(done).max(done));
            bar.set_position(done);
        }
        PullEvent::Checking { file, done, total } => {
            bar.set_message(format!("checking {file}"));
            bar.set_length(total);
            bar.set_position(done);
        }
    });
    bar.finish_and_clear();
    let report = report?;
    match &report.source {
        None => println!(
            "{} is already installed and verified: {} ({})",
            report.id,
            report.path.display(),
            human_bytes(report.bytes)
        ),
        Some(source) => {
            println!(
                "installed {} in {} ({}) from {source}",
                report.id,
                report.path.display(),
                human_bytes(report.bytes)
            );
            for failure in &report.failed {
                println!("  (skipped {}: {})", failure.source, failure.reason);
            }
            if !model.fully_checksummed() {
                println!(
                    "  the catalog has no sha256 for {}: its size was checked, its content could not be",
                    report.id
                );
            }
        }
    }
    Ok(true)
}

fn verify(manager: &ModelManager, id: Option<&str>) -> Result<bool, ModelError> {
    let ids: Vec<String> = match id {
        Some(id) => vec![manager.model(id)?.id.clone()],
        None => manager
            .list()
            .models
            .iter()
            .filter(|s| s.installed)
            .map(|s| s.model.id.clone())
            .collect(),
    };
    if ids.is_empty() {
        println!(
            "no catalog models are installed in {}",
            manager.dir().display()
        );
        return Ok(true);
    }
    let mut all_ok = true;
    for id in ids {
        let verification = manager.verify(&id)?;
        let state = if !verification.ok() {
            all_ok = false;
            "FAILED"
        } else if verification.fully_checked() {
            "ok"
        } else {
            "ok (checksum unknown)"
        };
        println!("{id}: {state} ({})", verification.path.display());
        for file in &verification.files {
            if !file.ok() || file.checksum != Checksum::Matches || verification.files.len() > 1 {
                println!("  {}", file.describe());
            }
        }
    }
    if !all_ok {
        eprintln!(
            "shopkeep: some models failed verification; `shopkeep models pull ID` fetches them again"
        );
    }
    Ok(all_ok)
}

/// A write past `ulimit -f` should fail with an error we can report, not kill
/// the process with SIGXFSZ.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler and
    // touches no memory; it is done before any thread of ours writes files.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
