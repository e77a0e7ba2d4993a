//! `shopkeep doctor`: the checks an operator runs when something is off, or
//! before going live, without starting the server. Each check says ok, warn
//! or fail, what it found, and for warn and fail how to fix it.
//!
//! Owns the checks and their thresholds. It reads the configuration, the
//! file system, `/proc`, the backups folder and the model catalog, binds the
//! configured port for a moment and lists the remote providers' models (no
//! tokens spent); it must not change the data directory or the database
//! (the writability probe is a temporary file, removed at once).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::{Config, TierSetting};
use crate::llm::catalog::{Catalog, human_bytes};
use crate::llm::manager::{Checksum, ModelManager};
use crate::llm::remote::probe::{self, Probe};

/// Free space under which the data directory's disk is a warning: room for
/// a day of backups and a model download.
pub const DISK_WARN_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Free space under which SQLite's next checkpoint or backup may fail.
pub const DISK_FAIL_BYTES: u64 = 200 * 1024 * 1024;
/// The newest backup is a warning past this age (one scheduled run missed) …
pub const BACKUP_WARN_AGE: Duration = Duration::from_secs(2 * 86_400);
/// … and a failure past this one (a week of orders at risk).
pub const BACKUP_FAIL_AGE: Duration = Duration::from_secs(7 * 86_400);
/// Longest a remote provider's model list may take to come.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The process itself, the search index and SQLite's cache, besides a model.
const BASE_RAM_MB: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub finding: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, finding: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Ok,
            finding: finding.into(),
            fix: None,
        }
    }

    fn warn(check: &'static str, finding: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Warn,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: &'static str, finding: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Fail,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every finding, in the order the checks ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// False when any check failed.
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(findings: Vec<Finding>) -> Report {
        Report {
            ok: findings.iter().all(|f| f.level != Level::Fail),
            findings,
        }
    }

    /// The report when the configuration itself cannot be read.
    pub fn invalid_config(error: &crate::config::ConfigError) -> Report {
        Report::new(vec![Finding::fail(
            "config",
            error.to_string(),
            "correct the value named above (`shopkeep config check` shows every value and where it came from)",
        )])
    }

    /// One line per check, `ok|warn|fail  check: finding`, and an indented
    /// `fix:` line under each warning and failure.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            out.push_str(&format!(
                "{:<4}  {}: {}\n",
                finding.level.as_str(),
                finding.check,
                finding.finding
            ));
            if let Some(fix) = &finding.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        out
    }
}

/// Runs every check against `config`; `catalog` is the model catalog in use.
pub fn run(config: &Config, catalog: &Catalog) -> Report {
    let mut findings = vec![check_config(config)];
    findings.push(check_data_dir(&config.data_dir));
    findings.extend(check_private_files(config));
    findings.push(check_disk(&config.data_dir));
    findings.push(check_memory(config, catalog));
    findings.push(check_model(config, catalog));
    findings.push(check_embeddings(config));
    findings.push(check_gpu());
    findings.extend(check_remote(config));
    findings.push(check_port(config.bind));
    findings.push(check_certificate(config));
    findings.push(check_backups(config));
    Report::new(findings)
}

fn check_config(config: &Config) -> Finding {
    let source = config.config_file.as_ref().map_or_else(
        || "defaults and environment (no config file)".to_string(),
        |path| path.display().to_string(),
    );
    Finding::ok("config", format!("valid ({source})"))
}

fn check_data_dir(dir: &Path) -> Finding {
    const CHECK: &str = "data dir";
    if !dir.exists() {
        return Finding::warn(
            CHECK,
            format!("{} does not exist yet", dir.display()),
            "`shopkeep serve` creates it on first start; or create it with `mkdir -m 700` as the user the service runs as",
        );
    }
    if !dir.is_dir() {
        return Finding::fail(
            CHECK,
            format!("{} is not a directory", dir.display()),
            "point data_dir at a directory",
        );
    }
    let probe = tempfile::Builder::new().prefix(".doctor-").tempfile_in(dir);
    match probe {
        Ok(_) => Finding::ok(CHECK, format!("{} is writable", dir.display())),
        Err(error) => Finding::fail(
            CHECK,
            format!("cannot write in {}: {error}", dir.display()),
            format!(
                "give the service's user the directory: `chown -R USER {}`",
                dir.display()
            ),
        ),
    }
}

/// Files that hold secrets: readable by the service's user only.
fn check_private_files(config: &Config) -> Vec<Finding> {
    let mut files = Vec::new();
    if let Some(path) = &config.config_file {
        files.push(("config file", path.clone()));
    }
    files.push(("secret key", config.secret_key_path()));
    files.push(("admin key", config.admin_key_path()));
    files
        .into_iter()
        .filter_map(|(what, path)| check_private_file(what, &path))
        .collect()
}

#[cfg(unix)]
fn check_private_file(what: &'static str, path: &Path) -> Option<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    let fix = format!("chmod 600 {}", path.display());
    Some(if mode & 0o007 != 0 {
        Finding::fail(
            what,
            format!(
                "{} is readable by every user (mode {mode:04o})",
                path.display()
            ),
            fix,
        )
    } else if mode & 0o070 != 0 {
        Finding::warn(
            what,
            format!(
                "{} is readable by its group (mode {mode:04o})",
                path.display()
            ),
            fix,
        )
    } else {
        Finding::ok(what, format!("{} (mode {mode:04o})", path.display()))
    })
}

#[cfg(not(unix))]
fn check_private_file(_what: &'static str, _path: &Path) -> Option<Finding> {
    None
}

fn check_disk(dir: &Path) -> Finding {
    const CHECK: &str = "disk";
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(dir);
    let Some(space) = super::system::disk_space(existing) else {
        return Finding::warn(
            CHECK,
            format!("cannot read the free space of {}", existing.display()),
            "check it with `df -h`",
        );
    };
    let free = space.free_bytes;
    let finding = format!("{} free on {}", human_bytes(free), existing.display());
    let fix = "free space (old backups in <data_dir>/backups, unused models: `shopkeep models remove ID`) or grow the disk";
    if free < DISK_FAIL_BYTES {
        Finding::fail(
            CHECK,
            format!("{finding}: under {}", human_bytes(DISK_FAIL_BYTES)),
            fix,
        )
    } else if free < DISK_WARN_BYTES {
        Finding::warn(
            CHECK,
            format!("{finding}: under {}", human_bytes(DISK_WARN_BYTES)),
            fix,
        )
    } else {
        Finding::ok(CHECK, finding)
    }
}

/// Memory the configured set-up needs, in MB, and what needs it.
fn needed_memory_mb(config: &Config, catalog: &Catalog) -> (u64, String) {
    if let Some(model) = config.llm.model.as_deref().and_then(|id| catalog.get(id)) {
        return (
            BASE_RAM_MB + u64::from(model.ram_mb),
            format!("the shop with {}", model.id),
        );
    }
    let tier_mb = match config.tier {
        TierSetting::Starter => 2048,
        TierSetting::Professional => 8192,
        TierSetting::Auto | TierSetting::Free | TierSetting::Enterprise => BASE_RAM_MB,
    };
    (tier_mb, format!("the {} tier", config.tier.as_str()))
}

fn check_memory(config: &Config, catalog: &Catalog) -> Finding {
    const CHECK: &str = "memory";
    let (needed_mb, what) = needed_memory_mb(config, catalog);
    let needed = needed_mb * 1024 * 1024;
    let total = super::system::proc_kib("/proc/meminfo", "MemTotal:");
    let available = super::system::proc_kib("/proc/meminfo", "MemAvailable:");
    let (Some(total), Some(available)) = (total, available) else {
        return Finding::warn(
            CHECK,
            "cannot read /proc/meminfo",
            "check the memory with `free -h`",
        );
    };
    let finding = format!(
        "{} total, {} available; {what} needs about {}",
        human_bytes(total),
        human_bytes(available),
        human_bytes(needed)
    );
    if total < needed {
        Finding::fail(
            CHECK,
            finding,
            "choose a lower tier or a smaller model (`shopkeep models list`), or a machine with more memory",
        )
    } else if available < needed {
        Finding::warn(
            CHECK,
            finding,
            "other programs use the memory the shop needs: stop them, or choose a smaller model",
        )
    } else {
        Finding::ok(CHECK, finding)
    }
}

fn check_model(config: &Config, catalog: &Catalog) -> Finding {
    const CHECK: &str = "model";
    let Some(id) = config.llm.model.as_deref() else {
        return Finding::ok(CHECK, "no local chat model configured (llm.model is empty)");
    };
    let manager = ModelManager::new(config.models_dir(), catalog.clone());
    let pull = format!("shopkeep models pull {id}");
    if catalog.get(id).is_none() {
        // Not a catalog id: a GGUF file name in the models directory.
        let path = config.models_dir().join(id);
        return if path.is_file() {
            Finding::ok(
                CHECK,
                format!(
                    "{} present (not in the catalog: no checksum to compare)",
                    path.display()
                ),
            )
        } else {
            Finding::fail(
                CHECK,
                format!(
                    "{id} is neither a catalog model nor a file in {}",
                    config.models_dir().display()
                ),
                format!(
                    "set llm.model to an id from `shopkeep models list`, or put the GGUF file in {}",
                    config.models_dir().display()
                ),
            )
        };
    }
    let verification = match manager.verify(id) {
        Ok(verification) => verification,
        Err(error) => return Finding::fail(CHECK, error.to_string(), pull),
    };
    let details: Vec<String> = verification.files.iter().map(|f| f.describe()).collect();
    if verification.ok() {
        let checked = if verification.fully_checked() {
            "sha256 matches the catalog"
        } else {
            "size checked; the catalog has no checksum for every file"
        };
        return Finding::ok(
            CHECK,
            format!("{id} at {}: {checked}", verification.path.display()),
        );
    }
    let corrupt = verification
        .files
        .iter()
        .any(|f| matches!(f.checksum, Checksum::Mismatch { .. }));
    let fix = if corrupt {
        format!(
            "the file is damaged or not the catalog's: `shopkeep models remove {id}` then `{pull}`"
        )
    } else {
        pull
    };
    Finding::fail(CHECK, format!("{id}: {}", details.join("; ")), fix)
}

/// The sentence-embedding model semantic search loads from the models
/// folder; without it search still works, on keywords alone.
fn check_embeddings(config: &Config) -> Finding {
    use crate::search::embed::{EmbedError, Embedder};
    const CHECK: &str = "embeddings";
    let pull = "shopkeep models pull all-minilm-l6-v2";
    match Embedder::load(&config.models_dir()) {
        Ok(embedder) => Finding::ok(
            CHECK,
            format!(
                "{} loads: search ranks by words and meaning",
                embedder.name()
            ),
        ),
        Err(EmbedError::Missing(dir)) => Finding::warn(
            CHECK,
            format!(
                "no embedding model in {}: search runs on keywords only",
                dir.display()
            ),
            format!("for semantic search: {pull}"),
        ),
        Err(error) => Finding::fail(
            CHECK,
            format!("{error}; search falls back to keywords"),
            format!("fetch it again: {pull} (or models/fetch.sh), then restart"),
        ),
    }
}

fn check_gpu() -> Finding {
    const CHECK: &str = "gpu";
    let nvidia = Path::new("/dev/nvidia0").exists() || Path::new("/dev/nvidiactl").exists();
    let built_for_cuda = cfg!(feature = "cuda");
    match (nvidia, built_for_cuda) {
        (true, true) => Finding::ok(CHECK, "NVIDIA GPU present; this build runs models on it"),
        (true, false) => Finding::ok(
            CHECK,
            "NVIDIA GPU present, but this build runs models on the CPU (build with --features cuda to use it)",
        ),
        (false, false) => Finding::ok(CHECK, "no GPU; models run on the CPU"),
        (false, true) => Finding::warn(
            CHECK,
            "this build is for CUDA but no NVIDIA device is visible (/dev/nvidia*)",
            "install the NVIDIA driver, or give the service access to the device",
        ),
    }
}

fn check_remote(config: &Config) -> Vec<Finding> {
    let timeout = config.remote.timeout.min(PROBE_TIMEOUT);
    let mut findings = Vec::new();
    if let Some(openai) = &config.remote.openai {
        let probe = probe::openai_models(openai, timeout);
        findings.push(remote_finding(
            "remote openai",
            &openai.base_url,
            probe,
            "remote.openai_api_key",
        ));
    }
    if let Some(gemini) = &config.remote.gemini {
        let probe = probe::gemini_models(gemini, timeout);
        findings.push(remote_finding(
            "remote gemini",
            &gemini.base_url,
            probe,
            "remote.gemini_api_key",
        ));
    }
    if findings.is_empty() {
        findings.push(Finding::ok("remote", "no remote model API configured"));
    }
    findings
}

fn remote_finding(check: &'static str, base_url: &str, probe: Probe, key: &str) -> Finding {
    match probe {
        Probe::Accepted { models } => Finding::ok(
            check,
            format!("{base_url} answers and accepts the key ({models} models listed)"),
        ),
        Probe::KeyRefused { status } => Finding::fail(
            check,
            format!("{base_url}: key refused (HTTP {status})"),
            format!(
                "set a valid `{key}` (the provider's console issues keys), or clear it to turn the provider off"
            ),
        ),
        Probe::Unexpected { status } => Finding::warn(
            check,
            format!("{base_url}: listing models answered HTTP {status}"),
            "check the base URL and the provider's status page",
        ),
        Probe::Unreachable(reason) => Finding::warn(
            check,
            format!("{base_url} is unreachable: {reason}"),
            "check DNS, the firewall and outbound HTTPS from this machine; the shop falls back to the tier below meanwhile",
        ),
    }
}

fn check_port(bind: SocketAddr) -> Finding {
    const CHECK: &str = "port";
    if bind.port() == 0 {
        return Finding::ok(CHECK, format!("{bind}: a free port is picked at start"));
    }
    let error = match TcpListener::bind(bind) {
        Ok(_) => return Finding::ok(CHECK, format!("{bind} is free")),
        Err(error) => error,
    };
    if error.kind() == std::io::ErrorKind::AddrInUse {
        return if answers_as_shopkeep(bind) {
            Finding::ok(CHECK, format!("{bind} is in use by a running shopkeep"))
        } else {
            Finding::fail(
                CHECK,
                format!("{bind} is in use by another program"),
                format!(
                    "find it with `ss -ltnp 'sport = :{}'` and stop it, or set bind to another port",
                    bind.port()
                ),
            )
        };
    }
    let fix = if error.kind() == std::io::ErrorKind::PermissionDenied {
        "ports below 1024 need privileges: listen on 127.0.0.1:8080 behind Caddy or nginx, or grant CAP_NET_BIND_SERVICE (the systemd unit does)"
    } else {
        "set bind to an address of this machine"
    };
    Finding::fail(CHECK, format!("cannot listen on {bind}: {error}"), fix)
}

/// Whether what listens on `bind` is a shopkeep: its `/readyz` has
/// shopkeep's shape (ready or not; `/healthz`'s `{"status":"ok"}` is too
/// common to tell).
fn answers_as_shopkeep(bind: SocketAddr) -> bool {
    let host = match bind {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let Ok(mut response) = agent.get(&format!("http://{host}/readyz")).call() else {
        return false;
    };
    response
        .body_mut()
        .read_to_string()
        .is_ok_and(|body| body.contains("\"search_index\"") && body.contains("\"tier\""))
}

fn check_certificate(config: &Config) -> Finding {
    let Some(domain) = &config.tls.domain else {
        return Finding::ok(
            "certificate",
            "no domain set: plain HTTP on bind, HTTPS is up to the proxy in front",
        );
    };
    let expiry = crate::tls::certificate_expiry(&config.data_dir, domain);
    certificate_finding(
        domain,
        expiry,
        time::OffsetDateTime::now_utc(),
        config.tls.acme.renew_before,
    )
}

/// What the stored certificate's expiry means, `now`, for a shop that renews
/// `renew_before` ahead.
fn certificate_finding(
    domain: &str,
    expiry: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
    renew_before: Duration,
) -> Finding {
    const CHECK: &str = "certificate";
    let reachable = format!(
        "DNS for {domain} must point at this machine and port 80 (tls.http_port) must reach it; \
         the log's `acme` lines say what the certificate authority answered"
    );
    let Some(expiry) = expiry else {
        return Finding::warn(
            CHECK,
            format!("no certificate for {domain} yet: the shop serves a temporary self-signed one"),
            format!("start the shop; it orders one over ACME. {reachable}"),
        );
    };
    let left = expiry - now;
    let days = left.whole_days();
    if left.is_negative() {
        Finding::fail(
            CHECK,
            format!("the certificate for {domain} expired on {expiry}"),
            format!("renewal has been failing: {reachable}"),
        )
    } else if left.unsigned_abs() < renew_before {
        Finding::warn(
            CHECK,
            format!(
                "the certificate for {domain} expires in {days} days ({expiry}) and was due for renewal"
            ),
            format!("renewal is retried while the shop runs: {reachable}"),
        )
    } else {
        Finding::ok(
            CHECK,
            format!("certificate for {domain} valid for {days} more days ({expiry})"),
        )
    }
}

fn check_backups(config: &Config) -> Finding {
    const CHECK: &str = "backups";
    let take_one = "take one now with `shopkeep backup`";
    let backups = match crate::backup::list(config) {
        Ok(backups) => backups,
        Err(error) => {
            return Finding::fail(
                CHECK,
                error.to_string(),
                "check the backups folder's permissions",
            );
        }
    };
    let newest = backups
        .iter()
        .filter(|b| b.problem.is_none())
        .filter_map(|b| {
            let path = config.backups_dir().join(&b.name);
            Some((modified_age(&path)?, path))
        })
        .min_by_key(|(age, _)| *age);
    let Some((age, path)) = newest else {
        return no_backup(config, take_one);
    };
    let finding = format!("newest is {} ({} old)", path.display(), human_age(age));
    let fix = if config.backup.daily {
        format!(
            "scheduled backups are not being written: check the log for `backup` errors and free disk; {take_one}"
        )
    } else {
        format!("backup.schedule is off: set it to daily, or {take_one} (from cron)")
    };
    if age > BACKUP_FAIL_AGE {
        Finding::fail(CHECK, finding, fix)
    } else if age > BACKUP_WARN_AGE {
        Finding::warn(CHECK, finding, fix)
    } else {
        Finding::ok(CHECK, finding)
    }
}

/// No backup at all: a failure once scheduled backups should have run.
fn no_backup(config: &Config, take_one: &str) -> Finding {
    const CHECK: &str = "backups";
    let folder = config.backups_dir();
    if !config.backup.daily {
        return Finding::warn(
            CHECK,
            format!("none in {} and backup.schedule is off", folder.display()),
            format!("set backup.schedule = \"daily\", or {take_one} (from cron)"),
        );
    }
    let new_shop = database_age(config).is_none_or(|age| age < BACKUP_WARN_AGE);
    if new_shop {
        Finding::warn(
            CHECK,
            format!(
                "none yet in {}; the first daily one runs at {:02}:{:02} UTC",
                folder.display(),
                config.backup.at.0,
                config.backup.at.1
            ),
            take_one,
        )
    } else {
        Finding::fail(
            CHECK,
            format!("none in {} although daily backups are on", folder.display()),
            format!("check the log for `backup` errors; {take_one}"),
        )
    }
}

/// How long ago the database was created (its birth time where the file
/// system records one); `None` when there is none yet.
fn database_age(config: &Config) -> Option<Duration> {
    let meta = std::fs::metadata(config.database_path()).ok()?;
    let born = meta.created().or_else(|_| meta.modified()).ok()?;
    Some(SystemTime::now().duration_since(born).unwrap_or_default())
}

fn modified_age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

/// "3 h", "2 days".
fn human_age(age: Duration) -> String {
    let hours = age.as_secs() / 3600;
    match hours {
        0 if age.as_secs() < 60 => "under a minute".to_string(),
        0 => format!("{} min", age.as_secs() / 60),
        1..=47 => format!("{hours} h"),
        _ => format!("{} days", hours / 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_one_line_per_check_and_a_fix_under_problems() {
        let report = Report::new(vec![
            Finding::ok("config", "valid"),
            Finding::fail("port", "in use", "stop it"),
        ]);
        assert!(!report.ok);
        assert_eq!(
            report.to_text(),
            "ok    config: valid\nfail  port: in use\n      fix: stop it\n"
        );
    }

    #[test]
    fn the_certificate_is_fine_until_its_renewal_window_and_fails_once_expired() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let renew_before = Duration::from_secs(30 * 86_400);
        let level = |expiry: Option<time::OffsetDateTime>| {
            certificate_finding("shop.example.com", expiry, now, renew_before).level
        };
        assert_eq!(level(Some(now + time::Duration::days(60))), Level::Ok);
        assert_eq!(level(Some(now + time::Duration::days(10))), Level::Warn);
        assert_eq!(level(None), Level::Warn);
        let expired = certificate_finding(
            "shop.example.com",
            Some(now - time::Duration::days(1)),
            now,
            renew_before,
        );
        assert_eq!(expired.level, Level::Fail);
        assert!(expired.finding.contains("expired"), "{}", expired.finding);
        assert!(expired.fix.unwrap().contains("port 80"));
    }

    #[test]
    fn warnings_alone_do_not_fail_the_report() {
        let report = Report::new(vec![Finding::warn("disk", "low", "free some")]);
        assert!(report.ok);
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        assert_eq!(human_age(Duration::from_secs(5)), "under a minute");
        assert_eq!(human_age(Duration::from_secs(600)), "10 min");
        assert_eq!(human_age(Duration::from_secs(5 * 3600)), "5 h");
        assert_eq!(human_age(Duration::from_secs(9 * 86_400)), "9 days");
    }

    #[test]
    fn a_port_held_by_another_program_fails_with_a_fix() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let finding = check_port(holder.local_addr().unwrap());
        assert_eq!(finding.level, Level::Fail, "{finding:?}");
        assert!(finding.fix.unwrap().contains("ss -ltnp"));
    }
}
