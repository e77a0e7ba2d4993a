//! Configuration: one typed `Config`, from defaults, a TOML file, `SHOPKEEP_*`
//! environment variables and command-line flags, in that order of precedence.
//!
//! This is the only place that reads the environment. Every key is declared once
//! in `KEYS` (name, default, meaning), which drives parsing, `config check` and
//! the reference in the README. Invalid values are refused at start with the
//! key, the value, where it came from and why.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::Currency;

/// One configuration key: its name, default and what it means.
pub struct KeySpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every key shopkeep understands. `SHOPKEEP_<NAME>` sets it from the environment.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "bind",
        default: "127.0.0.1:8080",
        help: "address and port the HTTP server listens on",
    },
    KeySpec {
        name: "data_dir",
        default: "./shopkeep-data",
        help: "directory for the database, the admin key and imports",
    },
    KeySpec {
        name: "shop_name",
        default: "Corner Larder",
        help: "the shop's name as shoppers see it",
    },
    KeySpec {
        name: "currency",
        default: "USD",
        help: "ISO 4217 code of the shop currency; prices are stored in its minor units",
    },
    KeySpec {
        name: "models_dir",
        default: "",
        help: "directory of local models (all-minilm-l6-v2 turns on semantic search); empty means <data_dir>/models, or ~/.cache/shopkeep/models where models/fetch.sh puts them",
    },
    KeySpec {
        name: "demo_catalog",
        default: "true",
        help: "load the embedded demo catalog on first start when the catalog is empty",
    },
    KeySpec {
        name: "tier",
        default: "auto",
        help: "deployment tier: auto, free, starter, professional or enterprise",
    },
    KeySpec {
        name: "log_format",
        default: "auto",
        help: "auto (JSON when stdout is not a terminal), json or text",
    },
    KeySpec {
        name: "log_level",
        default: "info",
        help: "tracing filter, e.g. info or shopkeep=debug,actix_web=info",
    },
    KeySpec {
        name: "workers",
        default: "0",
        help: "HTTP worker threads; 0 means one per CPU core",
    },
    KeySpec {
        name: "db_readers",
        default: "4",
        help: "read-only SQLite connections in the pool (1-64)",
    },
    KeySpec {
        name: "db_busy_timeout_ms",
        default: "5000",
        help: "how long a query waits for a locked database, in milliseconds",
    },
    KeySpec {
        name: "max_body_bytes",
        default: "1048576",
        help: "largest JSON request body accepted, in bytes",
    },
    KeySpec {
        name: "max_import_bytes",
        default: "268435456",
        help: "largest catalog file accepted by the import endpoint, in bytes",
    },
    KeySpec {
        name: "shutdown_timeout_secs",
        default: "30",
        help: "how long in-flight requests may finish after SIGTERM/SIGINT",
    },
    KeySpec {
        name: "llm.model",
        default: "",
        help: "id of the local chat model to load at start (see `shopkeep models list`); empty runs without one",
    },
    KeySpec {
        name: "llm.context",
        default: "4096",
        help: "tokens of context the local model plans memory for (capped by what the model supports)",
    },
    KeySpec {
        name: "llm.queue",
        default: "8",
        help: "requests that may wait for the local model; more are answered 429 with Retry-After",
    },
    KeySpec {
        name: "llm.max_memory_mb",
        default: "0",
        help: "most memory the local model may use, in MB; 0 means what the machine has available",
    },
    KeySpec {
        name: "llm.threads",
        default: "0",
        help: "CPU threads the local model computes on; 0 means one per physical core",
    },
    KeySpec {
        name: "commerce.tax_rate_percent",
        default: "0",
        help: "sales tax rate in percent, up to two decimals (8.25)",
    },
    KeySpec {
        name: "commerce.tax_inclusive",
        default: "false",
        help: "true when prices already include tax (tax is then shown, not added)",
    },
    KeySpec {
        name: "commerce.session_ttl_hours",
        default: "720",
        help: "hours a shopper session lives after its last request",
    },
    KeySpec {
        name: "commerce.max_line_quantity",
        default: "99",
        help: "most units of one product (or variant) a cart may hold",
    },
    KeySpec {
        name: "commerce.low_stock_threshold",
        default: "5",
        help: "stock at or below which a product is listed as low and `stock.low` is sent",
    },
    KeySpec {
        name: "commerce.webhook_max_attempts",
        default: "8",
        help: "delivery attempts of one webhook event before it is given up",
    },
    KeySpec {
        name: "commerce.webhook_backoff_ms",
        default: "2000",
        help: "wait before the first webhook retry, in milliseconds; doubles with each attempt",
    },
    KeySpec {
        name: "commerce.recommend_rebuild_at",
        default: "03:00",
        help: "UTC time of day (HH:MM) the nightly recommendation batch runs",
    },
    // Remote model providers
    KeySpec {
        name: "remote.openai_base_url",
        default: "",
        help: "base URL of an OpenAI-compatible API up to the version (https://api.openai.com/v1); empty turns it off",
    },
    KeySpec {
        name: "remote.openai_api_key",
        default: "",
        help: "API key of the OpenAI-compatible API (sent as a bearer token; empty sends none); never printed",
    },
    KeySpec {
        name: "remote.openai_fast_model",
        default: "gpt-4o-mini",
        help: "OpenAI-compatible model for simple turns",
    },
    KeySpec {
        name: "remote.openai_strong_model",
        default: "gpt-4o",
        help: "OpenAI-compatible model for complex turns (comparisons, many products, long conversations)",
    },
    KeySpec {
        name: "remote.gemini_base_url",
        default: "https://generativelanguage.googleapis.com",
        help: "base URL of the Gemini API",
    },
    KeySpec {
        name: "remote.gemini_api_key",
        default: "",
        help: "Gemini API key; empty turns Gemini off; never printed",
    },
    KeySpec {
        name: "remote.gemini_fast_model",
        default: "gemini-2.5-flash",
        help: "Gemini model for simple turns",
    },
    KeySpec {
        name: "remote.gemini_strong_model",
        default: "gemini-2.5-pro",
        help: "Gemini model for complex turns",
    },
    KeySpec {
        name: "remote.timeout_ms",
        default: "8000",
        help: "longest a remote model call may take, in milliseconds, before the next tier answers",
    },
    KeySpec {
        name: "remote.rpm",
        default: "500",
        help: "requests per minute we allow ourselves per remote provider",
    },
    KeySpec {
        name: "remote.tpm",
        default: "2000000",
        help: "tokens per minute we allow ourselves per remote provider (input estimated as characters/4 plus the reply budget)",
    },
    KeySpec {
        name: "remote.breaker_failures",
        default: "3",
        help: "consecutive failures (timeouts, 5xx, 429, bad replies, bad key) that switch a remote provider off",
    },
    KeySpec {
        name: "remote.breaker_cooldown_secs",
        default: "30",
        help: "seconds a failing remote provider stays off before one probe call (a longer Retry-After wins)",
    },
    KeySpec {
        name: "remote.prices",
        default: "gpt-4o-mini=0.15/0.60/0.075; gpt-4o=2.50/10.00/1.25; gemini-2.5-flash=0.30/2.50/0.075; gemini-2.5-pro=1.25/10.00/0.31",
        help: "price per million tokens in the shop currency, model=input/output[/cached] separated by `;`",
    },
    // Assistant budgets
    KeySpec {
        name: "budget.guest_daily_tokens",
        default: "20000",
        help: "model tokens (input + output) a guest may use per UTC day; 0 turns model tiers off for guests",
    },
    KeySpec {
        name: "budget.guest_monthly_tokens",
        default: "200000",
        help: "model tokens a guest may use per calendar month",
    },
    KeySpec {
        name: "budget.registered_daily_tokens",
        default: "100000",
        help: "model tokens a signed-in customer may use per UTC day",
    },
    KeySpec {
        name: "budget.registered_monthly_tokens",
        default: "1000000",
        help: "model tokens a signed-in customer may use per calendar month",
    },
    KeySpec {
        name: "budget.premium_daily_tokens",
        default: "500000",
        help: "model tokens a premium customer may use per UTC day",
    },
    KeySpec {
        name: "budget.premium_monthly_tokens",
        default: "5000000",
        help: "model tokens a premium customer may use per calendar month",
    },
    KeySpec {
        name: "budget.premium_customers",
        default: "",
        help: "comma-separated ids of the customers who get the premium budgets",
    },
    KeySpec {
        name: "budget.monthly_spend_cap",
        default: "50.00",
        help: "most the shop spends on remote model APIs per month, in the shop currency; 0 means no remote spending",
    },
    KeySpec {
        name: "budget.alert_webhook",
        default: "true",
        help: "send `budget.alert` webhook events when the spend reaches 80% and 100% of the cap",
    },
    // Assistant
    KeySpec {
        name: "assistant.answer_cache_ttl",
        default: "1h",
        help: "how long an answer to a question that is not personal (store policies, product facts) is reused, as 90s, 30m, 1h or 2d; a catalog or FAQ change drops it sooner; 0 turns the cache off",
    },
    KeySpec {
        name: "assistant.answer_cache_entries",
        default: "1000",
        help: "most answers the answer cache holds (1-100000); the oldest goes first",
    },
    // Chat widget
    KeySpec {
        name: "widget.allowed_origins",
        default: "",
        help: "comma-separated origins (https://blog.example.com) whose pages may embed the chat widget; the dashboard's Settings can change the list",
    },
    // Backups
    KeySpec {
        name: "backup.schedule",
        default: "daily",
        help: "daily takes a backup into <data_dir>/backups every day at backup.at; off takes none (`shopkeep backup` still works)",
    },
    KeySpec {
        name: "backup.at",
        default: "02:30",
        help: "UTC time of day (HH:MM) the daily backup runs",
    },
    KeySpec {
        name: "backup.keep_daily",
        default: "7",
        help: "scheduled backups kept from the most recent days, one per day (0-1000)",
    },
    KeySpec {
        name: "backup.keep_weekly",
        default: "4",
        help: "scheduled backups kept from the most recent weeks, one per ISO week, beyond the daily ones (0-1000)",
    },
    // Request limits per client address
    KeySpec {
        name: "limits.login_per_minute",
        default: "30",
        help: "dashboard sign-in attempts (POST /admin/login) one client address may make per minute, all at once at most; more are answered 429 with Retry-After; 0 turns the limit off",
    },
    KeySpec {
        name: "limits.account_per_minute",
        default: "30",
        help: "shopper sign-ins and registrations (POST /api/v1/account/login, /register) per client address per minute; 0 turns the limit off",
    },
    KeySpec {
        name: "limits.chat_per_minute",
        default: "60",
        help: "assistant turns (POST /api/v1/chat) per client address per minute; 0 turns the limit off",
    },
    KeySpec {
        name: "limits.checkout_per_minute",
        default: "30",
        help: "checkouts (POST /api/v1/checkout) per client address per minute; 0 turns the limit off",
    },
    KeySpec {
        name: "trusted_proxies",
        default: "",
        help: "comma-separated addresses or CIDR ranges (127.0.0.1, ::1, 10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the client; empty trusts none and the peer address is the client",
    },
    // HTTPS with certificates from ACME
    KeySpec {
        name: "domain",
        default: "",
        help: "the shop's public DNS name (shop.example.com): it then serves HTTPS on tls.https_port with a certificate from ACME, and plain HTTP (on bind and tls.http_port) redirects there; empty serves plain HTTP on bind, for use behind a proxy",
    },
    KeySpec {
        name: "tls.http_port",
        default: "80",
        help: "with a domain: port of the plain HTTP listener (on bind's address) that answers ACME HTTP-01 challenges and redirects to HTTPS",
    },
    KeySpec {
        name: "tls.https_port",
        default: "443",
        help: "with a domain: port of the HTTPS listener (on bind's address), HTTP/2 and HTTP/1.1",
    },
    KeySpec {
        name: "acme.email",
        default: "",
        help: "contact address given to the certificate authority for expiry and account notices; empty gives none",
    },
    KeySpec {
        name: "acme.directory",
        default: "https://acme-v02.api.letsencrypt.org/directory",
        help: "directory URL of the ACME certificate authority (the default is Let's Encrypt's production one)",
    },
    KeySpec {
        name: "acme.ca_file",
        default: "",
        help: "PEM file of the root certificate(s) to trust for the ACME server instead of the public roots (a private or test CA); empty uses the public roots",
    },
    KeySpec {
        name: "acme.renew_before_days",
        default: "30",
        help: "renew the certificate when fewer than this many days of validity remain (1-3650); checked at start and daily",
    },
    KeySpec {
        name: "backup.s3.endpoint",
        default: "",
        help: "S3-compatible storage the backups are uploaded to, e.g. https://s3.us-west-004.backblazeb2.com or http://127.0.0.1:9000; empty uploads nothing",
    },
    KeySpec {
        name: "backup.s3.bucket",
        default: "",
        help: "bucket the backups are uploaded to (needed when backup.s3.endpoint is set)",
    },
    KeySpec {
        name: "backup.s3.region",
        default: "us-east-1",
        help: "region the requests are signed for (Backblaze B2: the part of the endpoint such as us-west-004; R2: auto)",
    },
    KeySpec {
        name: "backup.s3.prefix",
        default: "shopkeep/",
        help: "key prefix (folder) of the uploaded archives in the bucket",
    },
    KeySpec {
        name: "backup.s3.access_key_id",
        default: "",
        help: "access key id for the S3-compatible storage",
    },
    KeySpec {
        name: "backup.s3.secret_access_key",
        default: "",
        help: "secret access key for the S3-compatible storage; never logged or shown",
    },
    KeySpec {
        name: "backup.s3.path_style",
        default: "true",
        help: "true addresses the bucket as endpoint/bucket/key (MinIO, B2, R2, moto); false as bucket.endpoint/key (virtual-hosted)",
    },
    KeySpec {
        name: "backup.s3.keep",
        default: "30",
        help: "uploaded archives kept under the prefix, newest first; older ones are deleted after each upload; 0 keeps all (0-100000)",
    },
    // Data retention and database maintenance
    KeySpec {
        name: "retention.conversations_days",
        default: "365",
        help: "conversations not touched for this many days are deleted (archived first when retention.archive); 0 keeps them forever (0-36500)",
    },
    KeySpec {
        name: "retention.logs_days",
        default: "90",
        help: "per-call model usage rows and finished webhook deliveries older than this many days are deleted; daily usage and sales totals stay; 0 keeps them forever (0-36500)",
    },
    KeySpec {
        name: "retention.archive",
        default: "true",
        help: "true writes deleted conversations with their messages to <data_dir>/archive/*.jsonl.zst first; false only deletes",
    },
    KeySpec {
        name: "maintenance.at",
        default: "03:30",
        help: "UTC time of day (HH:MM) the daily maintenance (retention, then VACUUM when due) runs",
    },
    KeySpec {
        name: "maintenance.vacuum",
        default: "weekly",
        help: "when the daily maintenance also runs VACUUM to return freed pages to the disk: weekly (Sundays), daily or off",
    },
    // Admin dashboard
    KeySpec {
        name: "admin.session_ttl",
        default: "12h",
        help: "how long a dashboard sign-in lasts, as 30m, 12h or 7d (at most 30d); it does not slide: the admin signs in again after it",
    },
];

/// Where a value came from, so errors can say which file or variable to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("unknown config key `{key}` in {origin} (known keys: {known})")]
    UnknownKey {
        key: String,
        origin: Origin,
        known: String,
    },
    #[error("invalid value for `{key}`: {value:?} (from {origin}): {reason}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        reason: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// The deployment tier asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierSetting {
    Auto,
    Free,
    Starter,
    Professional,
    Enterprise,
}

impl TierSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            TierSetting::Auto => "auto",
            TierSetting::Free => "free",
            TierSetting::Starter => "starter",
            TierSetting::Professional => "professional",
            TierSetting::Enterprise => "enterprise",
        }
    }
}

/// The local language model settings (`[llm]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Catalog id (or file name in `models_dir`) of the chat model to load.
    pub model: Option<String>,
    pub context: usize,
    pub queue: usize,
    pub max_memory_mb: Option<u64>,
    /// Threads for the CPU kernels; 0 means one per physical core.
    pub threads: usize,
}

/// The shop assistant (`[assistant]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantSettings {
    /// How long a shared answer is reused; zero turns the answer cache off.
    pub answer_cache_ttl: Duration,
    pub answer_cache_entries: usize,
}

/// The admin dashboard (`[admin]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// How long a dashboard session lasts from sign-in.
    pub session_ttl: Duration,
}

/// The embeddable chat widget (`[widget]` in the config file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WidgetSettings {
    /// Origins whose pages may call the shop's API from the widget.
    pub allowed_origins: Vec<crate::settings::WidgetOrigin>,
}

/// Per-address request budgets (`[limits]` in the config file); 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub login_per_minute: u32,
    pub account_per_minute: u32,
    pub chat_per_minute: u32,
    pub checkout_per_minute: u32,
}

/// An address or CIDR range of reverse proxies trusted to say who the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange {
    network: std::net::IpAddr,
    prefix: u8,
}

impl ProxyRange {
    /// "10.0.0.0/8", "::1" or "192.168.1.5".
    pub fn parse(text: &str) -> Result<ProxyRange, String> {
        let text = text.trim();
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: std::net::IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            bits
        } else {
            prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?
        };
        Ok(ProxyRange { network, prefix })
    }

    /// Whether `address` is in this range (an IPv4-mapped IPv6 peer counts as IPv4).
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = address.to_canonical();
        let (network, address, bits) = match (self.network, address) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                (u128::from(n.to_bits()), u128::from(a.to_bits()), 32)
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => (n.to_bits(), a.to_bits(), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        host_bits >= bits || (network >> host_bits) == (address >> host_bits)
    }
}

fn proxy_ranges(value: &str) -> Result<Vec<ProxyRange>, String> {
    value
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(ProxyRange::parse)
        .collect()
}

/// HTTPS for a public domain (`domain`, `[tls]` and `[acme]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The shop's DNS name; `None` serves plain HTTP on `bind`.
    pub domain: Option<String>,
    pub http_port: u16,
    pub https_port: u16,
    pub acme: AcmeSettings,
}

/// Where and how certificates are obtained (`[acme]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    pub email: Option<String>,
    pub directory: String,
    /// Roots to trust for the ACME server instead of the public ones.
    pub ca_file: Option<PathBuf>,
    pub renew_before: Duration,
}

/// Scheduled backups and their retention (`[backup]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// Whether a backup is taken every day.
    pub daily: bool,
    /// (hour, minute) UTC of the daily backup.
    pub at: (u8, u8),
    pub keep_daily: usize,
    pub keep_weekly: usize,
    /// Where backups are uploaded; `None` when no endpoint is set.
    pub s3: Option<S3Settings>,
}

/// S3-compatible storage for uploaded backups (`[backup.s3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host[:port]`, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Key prefix of the archives: empty or ending in `/`.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub path_style: bool,
    /// Uploaded archives kept; 0 keeps all.
    pub keep: usize,
}

impl S3Settings {
    fn from_fields<'a>(
        parse: &impl Fn(&'static str) -> Field<'a>,
    ) -> Result<Option<S3Settings>, ConfigError> {
        let Some(endpoint) = parse("backup.s3.endpoint").with(optional_http_url)? else {
            return Ok(None);
        };
        let required = |key| parse(key).with(|v| non_empty(v).map(str::to_string));
        Ok(Some(S3Settings {
            endpoint,
            bucket: parse("backup.s3.bucket").with(bucket_name)?,
            region: required("backup.s3.region")?,
            prefix: parse("backup.s3.prefix").with(|v| Ok(key_prefix(v)))?,
            access_key_id: required("backup.s3.access_key_id")?,
            secret_access_key: Secret::new(required("backup.s3.secret_access_key")?),
            path_style: parse("backup.s3.path_style").with(boolean)?,
            keep: parse("backup.s3.keep").with(|v| number(v, 0, 100_000))?,
        }))
    }
}

/// An S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'.
fn bucket_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
    if !(3..=63).contains(&value.len()) || !plain {
        return Err("expected a bucket name: 3 to 63 lowercase letters, digits, '.' or '-'".into());
    }
    Ok(value.to_string())
}

/// "backups" → "backups/"; "" stays "" (the bucket's top level).
fn key_prefix(value: &str) -> String {
    let trimmed = value.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// When the daily maintenance also compacts the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VacuumSchedule {
    Off,
    Daily,
    /// On Sundays (UTC).
    Weekly,
}

/// Data retention and the daily maintenance (`[retention]`, `[maintenance]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Conversations idle this many days go; 0 keeps them forever.
    pub conversations_days: u32,
    /// Per-call usage rows and finished webhook deliveries older than this go; 0 keeps them.
    pub logs_days: u32,
    /// Whether deleted conversations are written to `<data_dir>/archive` first.
    pub archive: bool,
    /// (hour, minute) UTC of the daily maintenance.
    pub at: (u8, u8),
    pub vacuum: VacuumSchedule,
}

/// Selling rules (`[commerce]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommerceSettings {
    /// Tax rate in hundredths of a percent (825 is 8.25%).
    pub tax_rate_basis_points: u32,
    pub tax_inclusive: bool,
    pub session_ttl: Duration,
    pub max_line_quantity: i64,
    pub low_stock_threshold: i64,
    pub webhook_max_attempts: u32,
    pub webhook_backoff: Duration,
    /// (hour, minute) UTC of the nightly recommendation rebuild.
    pub recommend_rebuild_at: (u8, u8),
}

/// A secret such as an API key: its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(empty)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

/// One remote provider that is switched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub base_url: String,
    pub api_key: Secret,
    pub fast_model: String,
    pub strong_model: String,
}

/// Remote model providers (`[remote]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// An OpenAI-compatible API; `None` when no base URL is set.
    pub openai: Option<ProviderSettings>,
    /// Gemini; `None` when no API key is set.
    pub gemini: Option<ProviderSettings>,
    pub timeout: Duration,
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    pub prices: crate::llm::pricing::PriceTable,
}

impl RemoteSettings {
    fn from_fields<'a>(parse: impl Fn(&'static str) -> Field<'a>) -> Result<Self, ConfigError> {
        let text = |key| parse(key).with(|v| Ok(v.trim().to_string()));
        let model = |key| parse(key).with(|v| non_empty(v).map(str::to_string));
        let openai_url = parse("remote.openai_base_url").with(optional_http_url)?;
        let gemini_url = parse("remote.gemini_base_url").with(|v| http_url(v.trim()))?;
        let gemini_key = text("remote.gemini_api_key")?;
        Ok(RemoteSettings {
            openai: match openai_url {
                Some(base_url) => Some(ProviderSettings {
                    base_url,
                    api_key: Secret::new(text("remote.openai_api_key")?),
                    fast_model: model("remote.openai_fast_model")?,
                    strong_model: model("remote.openai_strong_model")?,
                }),
                None => None,
            },
            gemini: if gemini_key.is_empty() {
                None
            } else {
                Some(ProviderSettings {
                    base_url: gemini_url,
                    api_key: Secret::new(gemini_key),
                    fast_model: model("remote.gemini_fast_model")?,
                    strong_model: model("remote.gemini_strong_model")?,
                })
            },
            timeout: parse("remote.timeout_ms")
                .with(|v| number(v, 100, 600_000).map(|ms| Duration::from_millis(ms as u64)))?,
            requests_per_minute: parse("remote.rpm")
                .with(|v| number(v, 1, 1_000_000_000).map(|n| n as u64))?,
            tokens_per_minute: parse("remote.tpm")
                .with(|v| number(v, 1, 1_000_000_000_000).map(|n| n as u64))?,
            breaker_failures: parse("remote.breaker_failures")
                .with(|v| number(v, 1, 1000).map(|n| n as u32))?,
            breaker_cooldown: parse("remote.breaker_cooldown_secs")
                .with(|v| number(v, 1, 86_400).map(|s| Duration::from_secs(s as u64)))?,
            prices: parse("remote.prices")
                .with(|v| crate::llm::pricing::PriceTable::parse(v).map_err(|e| e.to_string()))?,
        })
    }
}

impl TlsSettings {
    fn from_fields<'a>(parse: impl Fn(&'static str) -> Field<'a>) -> Result<Self, ConfigError> {
        let port = |key| parse(key).with(|v| number(v, 1, 65_535).map(|n| n as u16));
        let settings = TlsSettings {
            domain: parse("domain").with(optional_domain)?,
            http_port: port("tls.http_port")?,
            https_port: port("tls.https_port")?,
            acme: AcmeSettings {
                email: parse("acme.email").with(optional_email)?,
                directory: parse("acme.directory").with(|v| http_url(v.trim()))?,
                ca_file: parse("acme.ca_file").with(optional_file)?,
                renew_before: parse("acme.renew_before_days")
                    .with(|v| number(v, 1, 3650).map(|d| Duration::from_secs(d as u64 * 86_400)))?,
            },
        };
        if settings.domain.is_some() && settings.http_port == settings.https_port {
            return parse("tls.https_port").with(|_| {
                Err("must differ from tls.http_port: one listener redirects, the other serves HTTPS".into())
            });
        }
        Ok(settings)
    }
}

/// A DNS name a public certificate can be issued for (lowercased), or `None` when empty.
fn optional_domain(value: &str) -> Result<Option<String>, String> {
    let name = value.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Ok(None);
    }
    let fail = || {
        "expected a DNS name such as shop.example.com: letters, digits and hyphens in dot-separated labels, without scheme, port or path".to_string()
    };
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
        return Err(fail());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("an IP address cannot get a certificate here; use the shop's DNS name".into());
    }
    Ok(Some(name))
}

fn optional_email(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.split_once('@') {
        Some((user, host))
            if !user.is_empty() && host.contains('.') && !value.contains(char::is_whitespace) =>
        {
            Ok(Some(value.to_string()))
        }
        _ => Err("expected an email address such as owner@example.com".into()),
    }
}

fn optional_file(value: &str) -> Result<Option<PathBuf>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(value);
    if !path.is_file() {
        return Err("no such file".into());
    }
    Ok(Some(path))
}

/// Keys whose values are secrets: shown as set or empty, never as themselves.
fn is_secret_key(key: &str) -> bool {
    key.ends_with("api_key") || key.ends_with("secret_access_key")
}

/// The values as `config check` may show them: secrets replaced.
fn without_secrets(
    mut values: BTreeMap<&'static str, (String, Origin)>,
) -> BTreeMap<&'static str, (String, Origin)> {
    for (key, (value, _)) in values.iter_mut() {
        if is_secret_key(key) && !value.is_empty() {
            *value = "<redacted>".to_string();
        }
    }
    values
}

/// An http(s) URL with a host, without a trailing slash; the reason when not.
pub fn http_url(value: &str) -> Result<String, String> {
    let uri: ureq::http::Uri = value
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected http(s)://host[:port]/path"))?;
    let http = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if !http || uri.host().is_none_or(str::is_empty) {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn optional_http_url(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    (!value.is_empty()).then(|| http_url(value)).transpose()
}

/// Model token budgets per shopper class and the remote spend cap (`[budget]`
/// in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSettings {
    pub guest: TokenBudget,
    pub registered: TokenBudget,
    pub premium: TokenBudget,
    /// Customers who get the premium budgets.
    pub premium_customers: Vec<i64>,
    /// Micro-units of the shop currency (50.00 is 50_000_000); 0 allows no remote spending.
    pub monthly_spend_cap_micros: u64,
    /// Whether spend alerts also go out as `budget.alert` webhook events.
    pub alert_webhook: bool,
}

/// Model tokens (input + output) one shopper may use; 0 turns model tiers off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBudget {
    pub daily: u64,
    pub monthly: u64,
}

/// Most tokens a budget key accepts: far beyond any real budget, and sums of
/// a year of them still fit SQLite's 64-bit integers.
const MAX_BUDGET_TOKENS: usize = 1_000_000_000_000;

fn token_budget<'a>(
    parse: &impl Fn(&'static str) -> Field<'a>,
    daily: &'static str,
    monthly: &'static str,
) -> Result<TokenBudget, ConfigError> {
    let tokens = |v: &str| number(v, 0, MAX_BUDGET_TOKENS).map(|n| n as u64);
    Ok(TokenBudget {
        daily: parse(daily).with(tokens)?,
        monthly: parse(monthly).with(tokens)?,
    })
}

/// "12, 40" → [12, 40]; empty means none.
fn id_list(value: &str) -> Result<Vec<i64>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| match id.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{id:?} is not a customer id; expected comma-separated positive whole numbers"
            )),
        })
        .collect()
}

/// "50.00" → 50_000_000 micro-units; at most six decimals, at most a billion.
fn micros(value: &str) -> Result<u64, String> {
    let fail = || {
        "expected an amount from 0 to 1000000000 with at most six decimals, such as 50.00"
            .to_string()
    };
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty()
        || whole.len() > 10
        || fraction.len() > 6
        || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(fail());
    }
    let whole: u64 = whole.parse().map_err(|_| fail())?;
    let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| fail())?;
    if whole > 1_000_000_000 || (whole == 1_000_000_000 && fraction > 0) {
        return Err(fail());
    }
    Ok(whole * 1_000_000 + fraction)
}

/// The environment variable naming the secret key file.
pub const SECRET_KEY_FILE_VAR: &str = "SHOPKEEP_SECRET_KEY_FILE";

/// `SHOPKEEP_<KEY>`, with the dots of sectioned keys (`llm.model`) as underscores.
pub fn env_var_name(key: &str) -> String {
    format!("SHOPKEEP_{}", key.replace('.', "_").to_uppercase())
}

/// The validated configuration the whole program runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub shop_name: String,
    pub currency: Currency,
    /// Explicit models directory; see `models_dir()` for the effective one.
    pub models_dir: Option<PathBuf>,
    /// The user's model cache (`$HOME/.cache/shopkeep/models`), where models/fetch.sh installs by default.
    pub user_models_dir: Option<PathBuf>,
    pub demo_catalog: bool,
    pub tier: TierSetting,
    pub log_format: LogFormat,
    pub log_level: String,
    pub workers: usize,
    pub db_readers: usize,
    pub db_busy_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub shutdown_timeout: Duration,
    pub llm: LlmSettings,
    pub commerce: CommerceSettings,
    /// Where each key's value came from, for `config check`.
    pub origins: BTreeMap<&'static str, (String, Origin)>,
    pub remote: RemoteSettings,
    pub budgets: BudgetSettings,
    pub assistant: AssistantSettings,
    pub admin: AdminSettings,
    pub widget: WidgetSettings,
    pub backup: BackupSettings,
    pub limits: LimitSettings,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ProxyRange>,
    pub tls: TlsSettings,
    pub retention: RetentionSettings,
    /// The TOML file the configuration was read from, if any (backups carry a copy).
    pub config_file: Option<PathBuf>,
    /// The key file that seals saved API keys (`SHOPKEEP_SECRET_KEY_FILE`);
    /// see `secret_key_path()` for the effective one.
    pub secret_key_file: Option<PathBuf>,
}

/// Values set on the command line, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub values: Vec<(&'static str, String, &'static str)>,
}

impl Overrides {
    /// Records `--flag value` for `key` when the flag was given.
    pub fn set(&mut self, key: &'static str, flag: &'static str, value: Option<String>) {
        if let Some(value) = value {
            self.values.push((key, value, flag));
        }
    }
}

impl Config {
    /// Builds the configuration from every source; the environment is read here and nowhere else.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SHOPKEEP_") || k == "HOME")
            .collect();
        Self::from_sources(overrides, &env)
    }

    /// Like `load`, with the environment given explicitly (for tests).
    pub fn from_sources(
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut config = Self::from_layers(overrides, env)?;
        config.user_models_dir = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, home)| PathBuf::from(home).join(".cache/shopkeep/models"));
        // Like SHOPKEEP_CONFIG, a path outside the configuration itself: the
        // key must not live in the file or database it protects.
        config.secret_key_file = env
            .iter()
            .find(|(k, v)| k == SECRET_KEY_FILE_VAR && !v.trim().is_empty())
            .map(|(_, v)| PathBuf::from(v.trim()));
        Ok(config)
    }

    fn from_layers(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut values: BTreeMap<&'static str, (String, Origin)> = KEYS
            .iter()
            .map(|k| (k.name, (k.default.to_string(), Origin::Default)))
            .collect();
        let config_file = overrides.config_file.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "SHOPKEEP_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        if let Some(path) = &config_file {
            for (key, value) in read_file(path)? {
                values.insert(key, (value, Origin::File(path.clone())));
            }
        }
        for spec in KEYS {
            let var = env_var_name(spec.name);
            if let Some((_, value)) = env.iter().find(|(k, _)| *k == var) {
                values.insert(spec.name, (value.clone(), Origin::Env(var)));
            }
        }
        for (key, value, flag) in &overrides.values {
            values.insert(key, (value.clone(), Origin::Flag(flag.to_string())));
        }
        let mut config = Self::from_values(values)?;
        config.config_file = config_file;
        Ok(config)
    }

    fn from_values(
        values: BTreeMap<&'static str, (String, Origin)>,
    ) -> Result<Config, ConfigError> {
        let get = |key: &str| -> (&str, &Origin) {
            let (value, origin) = &values[key];
            (value.as_str(), origin)
        };
        let parse = |key: &'static str| Field {
            key,
            value: get(key).0,
            origin: get(key).1,
        };
        let config = Config {
            bind: parse("bind").with(|v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| "expected IP:PORT such as 127.0.0.1:8080 or 0.0.0.0:80".into())
            })?,
            data_dir: parse("data_dir").with(|v| non_empty(v).map(PathBuf::from))?,
            shop_name: parse("shop_name").with(|v| non_empty(v).map(str::to_string))?,
            currency: parse("currency").with(|v| {
                Currency::from_code(v).ok_or_else(|| {
                    format!(
                        "unsupported currency; use one of {}",
                        Currency::supported_codes().join(", ")
                    )
                })
            })?,
            user_models_dir: None,
            models_dir: parse("models_dir")
                .with(|v| Ok((!v.trim().is_empty()).then(|| PathBuf::from(v.trim()))))?,
            demo_catalog: parse("demo_catalog").with(boolean)?,
            tier: parse("tier").with(|v| match v.trim().to_lowercase().as_str() {
                "auto" => Ok(TierSetting::Auto),
                "free" => Ok(TierSetting::Free),
                "starter" => Ok(TierSetting::Starter),
                "professional" => Ok(TierSetting::Professional),
                "enterprise" => Ok(TierSetting::Enterprise),
                _ => Err("expected auto, free, starter, professional or enterprise".into()),
            })?,
            log_format: parse("log_format").with(|v| match v.trim().to_lowercase().as_str() {
                "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                _ => Err("expected auto, json or text".into()),
            })?,
            log_level: parse("log_level").with(|v| {
                tracing_subscriber::EnvFilter::try_new(v)
                    .map(|_| v.to_string())
                    .map_err(|e| format!("not a tracing filter: {e}"))
            })?,
            workers: parse("workers").with(|v| number(v, 0, 256))?,
            db_readers: parse("db_readers").with(|v| number(v, 1, 64))?,
            db_busy_timeout: parse("db_busy_timeout_ms")
                .with(|v| number(v, 0, 600_000).map(|ms| Duration::from_millis(ms as u64)))?,
            max_body_bytes: parse("max_body_bytes").with(|v| number(v, 1024, 64 * 1024 * 1024))?,
            max_import_bytes: parse("max_import_bytes")
                .with(|v| number(v, 1024, 64 * 1024 * 1024 * 1024))?,
            shutdown_timeout: parse("shutdown_timeout_secs")
                .with(|v| number(v, 0, 3600).map(|s| Duration::from_secs(s as u64)))?,
            llm: LlmSettings {
                model: parse("llm.model")
                    .with(|v| Ok((!v.trim().is_empty()).then(|| v.trim().to_string())))?,
                context: parse("llm.context").with(|v| number(v, 256, 1 << 20))?,
                queue: parse("llm.queue").with(|v| number(v, 1, 1024))?,
                max_memory_mb: parse("llm.max_memory_mb")
                    .with(|v| number(v, 0, 1 << 30).map(|mb| (mb > 0).then_some(mb as u64)))?,
                threads: parse("llm.threads").with(|v| number(v, 0, 1024))?,
            },
            commerce: CommerceSettings {
                tax_rate_basis_points: parse("commerce.tax_rate_percent").with(percent)?,
                tax_inclusive: parse("commerce.tax_inclusive").with(boolean)?,
                session_ttl: parse("commerce.session_ttl_hours").with(|v| {
                    number(v, 1, 24 * 366).map(|h| Duration::from_secs(h as u64 * 3600))
                })?,
                max_line_quantity: parse("commerce.max_line_quantity")
                    .with(|v| number(v, 1, 1_000_000).map(|n| n as i64))?,
                low_stock_threshold: parse("commerce.low_stock_threshold")
                    .with(|v| number(v, 0, 1_000_000).map(|n| n as i64))?,
                webhook_max_attempts: parse("commerce.webhook_max_attempts")
                    .with(|v| number(v, 1, 100).map(|n| n as u32))?,
                webhook_backoff: parse("commerce.webhook_backoff_ms").with(|v| {
                    number(v, 1, 86_400_000).map(|ms| Duration::from_millis(ms as u64))
                })?,
                recommend_rebuild_at: parse("commerce.recommend_rebuild_at").with(time_of_day)?,
            },
            origins: without_secrets(values.clone()),
            remote: RemoteSettings::from_fields(parse)?,
            budgets: BudgetSettings {
                guest: token_budget(
                    &parse,
                    "budget.guest_daily_tokens",
                    "budget.guest_monthly_tokens",
                )?,
                registered: token_budget(
                    &parse,
                    "budget.registered_daily_tokens",
                    "budget.registered_monthly_tokens",
                )?,
                premium: token_budget(
                    &parse,
                    "budget.premium_daily_tokens",
                    "budget.premium_monthly_tokens",
                )?,
                premium_customers: parse("budget.premium_customers").with(id_list)?,
                monthly_spend_cap_micros: parse("budget.monthly_spend_cap").with(micros)?,
                alert_webhook: parse("budget.alert_webhook").with(boolean)?,
            },
            assistant: AssistantSettings {
                answer_cache_ttl: parse("assistant.answer_cache_ttl")
                    .with(|v| duration(v, MAX_ANSWER_CACHE_TTL))?,
                answer_cache_entries: parse("assistant.answer_cache_entries")
                    .with(|v| number(v, 1, 100_000))?,
            },
            admin: AdminSettings {
                session_ttl: parse("admin.session_ttl").with(admin_session_ttl)?,
            },
            widget: WidgetSettings {
                allowed_origins: parse("widget.allowed_origins").with(|v| {
                    let items: Vec<&str> = v.split(',').filter(|s| !s.trim().is_empty()).collect();
                    crate::settings::parse_origins(&items)
                })?,
            },
            backup: BackupSettings {
                daily: parse("backup.schedule").with(|v| {
                    match v.trim().to_lowercase().as_str() {
                        "daily" => Ok(true),
                        "off" => Ok(false),
                        _ => Err("expected daily or off".into()),
                    }
                })?,
                at: parse("backup.at").with(time_of_day)?,
                keep_daily: parse("backup.keep_daily").with(|v| number(v, 0, 1000))?,
                keep_weekly: parse("backup.keep_weekly").with(|v| number(v, 0, 1000))?,
                s3: S3Settings::from_fields(&parse)?,
            },
            retention: RetentionSettings {
                conversations_days: parse("retention.conversations_days")
                    .with(|v| number(v, 0, 36_500).map(|d| d as u32))?,
                logs_days: parse("retention.logs_days")
                    .with(|v| number(v, 0, 36_500).map(|d| d as u32))?,
                archive: parse("retention.archive").with(boolean)?,
                at: parse("maintenance.at").with(time_of_day)?,
                vacuum: parse("maintenance.vacuum").with(|v| {
                    match v.trim().to_lowercase().as_str() {
                        "off" => Ok(VacuumSchedule::Off),
                        "daily" => Ok(VacuumSchedule::Daily),
                        "weekly" => Ok(VacuumSchedule::Weekly),
                        _ => Err("expected weekly, daily or off".into()),
                    }
                })?,
            },
            limits: LimitSettings {
                login_per_minute: parse("limits.login_per_minute").with(per_minute)?,
                account_per_minute: parse("limits.account_per_minute").with(per_minute)?,
                chat_per_minute: parse("limits.chat_per_minute").with(per_minute)?,
                checkout_per_minute: parse("limits.checkout_per_minute").with(per_minute)?,
            },
            trusted_proxies: parse("trusted_proxies").with(proxy_ranges)?,
            tls: TlsSettings::from_fields(parse)?,
            config_file: None,
            secret_key_file: None,
        };
        if config.tls.domain.is_some() && config.bind.port() == config.tls.https_port {
            return parse("tls.https_port").with(|_| {
                Err("must differ from bind's port, which serves plain HTTP (redirects and health probes)".into())
            });
        }
        Ok(config)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("shopkeep.db")
    }

    /// Where local models live: `models_dir` if set; otherwise `<data_dir>/models`,
    /// unless only the user's cache (where models/fetch.sh installs) has any.
    pub fn models_dir(&self) -> PathBuf {
        if let Some(explicit) = &self.models_dir {
            return explicit.clone();
        }
        let in_data_dir = self.data_dir.join("models");
        match &self.user_models_dir {
            Some(cache) if !in_data_dir.is_dir() && cache.is_dir() => cache.clone(),
            _ => in_data_dir,
        }
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// Where backups are written and listed: `<data_dir>/backups`.
    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    /// Where retention archives deleted conversations: `<data_dir>/archive`.
    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir.join("archive")
    }

    /// Where the key that seals saved API keys lives: `SHOPKEEP_SECRET_KEY_FILE`
    /// (e.g. /etc/shopkeep/secret.key), else `<data_dir>/secret.key`.
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    pub fn admin_key_path(&self) -> PathBuf {
        self.data_dir.join("admin-key")
    }

    /// The resolved configuration as TOML-like lines with where each value came from.
    pub fn describe(&self) -> String {
        self.origins
            .iter()
            .map(|(key, (value, origin))| format!("{key} = {value:?}  # {origin}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One key's raw value, on its way to a typed value or a precise error.
struct Field<'a> {
    key: &'static str,
    value: &'a str,
    origin: &'a Origin,
}

impl Field<'_> {
    fn with<T>(self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        parse(self.value).map_err(|reason| ConfigError::Invalid {
            key: self.key.to_string(),
            value: self.value.to_string(),
            origin: self.origin.clone(),
            reason,
        })
    }
}

fn non_empty(value: &str) -> Result<&str, String> {
    let value = value.trim();
    if value.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(value)
    }
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn number(value: &str, min: usize, max: usize) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// A request budget per minute: 0 (off) to a million.
fn per_minute(value: &str) -> Result<u32, String> {
    number(value, 0, 1_000_000).map(|n| n as u32)
}

/// "8.25" → 825 hundredths of a percent; at most two decimals, at most 100%.
fn percent(value: &str) -> Result<u32, String> {
    let fail = || {
        "expected a percentage from 0 to 100 with at most two decimals, such as 8.25".to_string()
    };
    let value = value.trim().trim_end_matches('%');
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(fail());
    }
    let whole: u32 = whole.parse().map_err(|_| fail())?;
    let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| fail())?;
    let basis_points = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(fail)?;
    if basis_points > 10_000 {
        return Err(fail());
    }
    Ok(basis_points)
}

/// "03:00" → (3, 0).
fn time_of_day(value: &str) -> Result<(u8, u8), String> {
    let fail = || "expected a UTC time of day as HH:MM, such as 03:00".to_string();
    let (hour, minute) = value.trim().split_once(':').ok_or_else(fail)?;
    let hour: u8 = hour.parse().map_err(|_| fail())?;
    let minute: u8 = minute.parse().map_err(|_| fail())?;
    if hour > 23 || minute > 59 {
        return Err(fail());
    }
    Ok((hour, minute))
}

/// Longest an answer may be cached: past the catalog and FAQ, which invalidate
/// it themselves, what it quotes (opening hours, a season's offer) goes stale too.
const MAX_ANSWER_CACHE_TTL: Duration = Duration::from_secs(30 * 86_400);

/// "90s", "30m", "1h", "2d" (or "0") → a duration of at most `max`.
fn duration(value: &str, max: Duration) -> Result<Duration, String> {
    let fail = || {
        format!(
            "expected a duration as a whole number with a unit s, m, h or d (90s, 30m, 1h), or 0, of at most {}d",
            max.as_secs() / 86_400
        )
    };
    let value = value.trim();
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let unit_at = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(fail)?;
    let (amount, unit) = value.split_at(unit_at);
    let seconds_per_unit = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(fail()),
    };
    let amount: u64 = amount.parse().map_err(|_| fail())?;
    let seconds = amount.checked_mul(seconds_per_unit).ok_or_else(fail)?;
    let parsed = Duration::from_secs(seconds);
    if parsed > max {
        return Err(fail());
    }
    Ok(parsed)
}

/// Longest a dashboard sign-in may last: a stolen cookie should not outlive a month.
const MAX_ADMIN_SESSION_TTL: Duration = Duration::from_secs(30 * 86_400);

/// A dashboard session's lifetime: a duration of at least a minute.
fn admin_session_ttl(value: &str) -> Result<Duration, String> {
    let ttl = duration(value, MAX_ADMIN_SESSION_TTL)?;
    if ttl < Duration::from_secs(60) {
        return Err(
            "a session must last at least a minute (1m); sessions cannot be turned off".into(),
        );
    }
    Ok(ttl)
}

/// `[llm] model = "x"` becomes the key `llm.model`; one level of sections.
fn flatten_sections(table: toml::Table) -> Vec<(String, toml::Value)> {
    let mut flat = Vec::new();
    for (key, value) in table {
        match value {
            // Sections nest: `[backup.s3]` holds `backup.s3.endpoint`.
            toml::Value::Table(section) => flat.extend(
                flatten_sections(section)
                    .into_iter()
                    .map(|(k, v)| (format!("{key}.{k}"), v)),
            ),
            other => flat.push((key, other)),
        }
    }
    flat
}

/// Reads a TOML file of keys (top level or in `[section]`s) into text values;
/// unknown keys are refused.
fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    flatten_sections(table)
        .into_iter()
        .map(|(key, value)| {
            let spec = KEYS.iter().find(|spec| spec.name == key).ok_or_else(|| {
                ConfigError::UnknownKey {
                    key: key.clone(),
                    origin: Origin::File(path.to_path_buf()),
                    known: KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
                }
            })?;
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(ConfigError::Invalid {
                        key,
                        value: other.to_string(),
                        origin: Origin::File(path.to_path_buf()),
                        reason: "expected a single value (string, number or boolean)".into(),
                    });
                }
            };
            Ok((spec.name, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_ranges() {
        let ranges = proxy_ranges("127.0.0.1, 10.0.0.0/8 ,::1").unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = |s: &str| ranges.iter().any(|r| r.contains(ip(s)));
        assert!(trusted("127.0.0.1"));
        assert!(
            trusted("::ffff:127.0.0.1"),
            "IPv4-mapped peers count as IPv4"
        );
        assert!(trusted("10.200.3.4"));
        assert!(trusted("::1"));
        assert!(!trusted("127.0.0.2"));
        assert!(!trusted("11.0.0.1"));
        assert!(!trusted("::2"));
        assert!(
            ProxyRange::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(proxy_ranges("").unwrap().is_empty());
        for bad in ["localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/x"] {
            assert!(proxy_ranges(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn models_fall_back_to_the_user_cache_only_when_the_data_dir_has_none() {
        let home = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut overrides = Overrides::default();
        overrides.set(
            "data_dir",
            "--data-dir",
            Some(data.path().display().to_string()),
        );
        let env = env(&[("HOME", home.path().to_str().unwrap())]);
        let config = Config::from_sources(&overrides, &env).unwrap();
        assert_eq!(
            config.models_dir(),
            data.path().join("models"),
            "no models anywhere"
        );
        std::fs::create_dir_all(home.path().join(".cache/shopkeep/models")).unwrap();
        assert_eq!(
            config.models_dir(),
            home.path().join(".cache/shopkeep/models")
        );
        std::fs::create_dir_all(data.path().join("models")).unwrap();
        assert_eq!(
            config.models_dir(),
            data.path().join("models"),
            "the shop's own models win"
        );
    }

    #[test]
    fn a_domain_turns_on_https_and_a_bad_one_names_its_key() {
        let plain = Config::from_sources(&Overrides::default(), &[]).unwrap();
        assert_eq!(plain.tls.domain, None, "no domain: plain HTTP");
        assert_eq!((plain.tls.http_port, plain.tls.https_port), (80, 443));
        let config = Config::from_sources(
            &Overrides::default(),
            &env(&[
                ("SHOPKEEP_DOMAIN", "Shop.Example.com."),
                ("SHOPKEEP_ACME_RENEW_BEFORE_DAYS", "20"),
            ]),
        )
        .unwrap();
        assert_eq!(config.tls.domain.as_deref(), Some("shop.example.com"));
        assert_eq!(
            config.tls.acme.renew_before,
            Duration::from_secs(20 * 86_400)
        );
        for bad in [
            "https://shop.example.com",
            "shop.example.com:443",
            "localhost",
            "10.0.0.1",
            "-a.example",
        ] {
            let error =
                Config::from_sources(&Overrides::default(), &env(&[("SHOPKEEP_DOMAIN", bad)]))
                    .unwrap_err()
                    .to_string();
            assert!(error.contains("`domain`"), "{bad}: {error}");
        }
        let error = Config::from_sources(
            &Overrides::default(),
            &env(&[
                ("SHOPKEEP_DOMAIN", "shop.example.com"),
                ("SHOPKEEP_TLS_HTTPS_PORT", "80"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`tls.https_port`"), "{error}");
        let error = Config::from_sources(
            &Overrides::default(),
            &env(&[
                ("SHOPKEEP_DOMAIN", "shop.example.com"),
                ("SHOPKEEP_BIND", "0.0.0.0:443"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`tls.https_port`") && error.contains("bind"),
            "{error}"
        );
        let error = Config::from_sources(
            &Overrides::default(),
            &env(&[("SHOPKEEP_ACME_CA_FILE", "/nonexistent/root.pem")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`acme.ca_file`") && error.contains("no such file"),
            "{error}"
        );
    }

    #[test]
    fn the_secret_key_file_is_in_the_data_dir_unless_named() {
        let config = Config::from_sources(&Overrides::default(), &[]).unwrap();
        assert_eq!(
            config.secret_key_path(),
            PathBuf::from("./shopkeep-data/secret.key")
        );
        let env = env(&[(SECRET_KEY_FILE_VAR, "/etc/shopkeep/secret.key")]);
        let named = Config::from_sources(&Overrides::default(), &env).unwrap();
        assert_eq!(
            named.secret_key_path(),
            PathBuf::from("/etc/shopkeep/secret.key")
        );
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::from_sources(&Overrides::default(), &[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./shopkeep-data"));
        assert!(config.demo_catalog);
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shop.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:9000\"\ncurrency = \"EUR\"\ndb_readers = 2\n",
        )
        .unwrap();
        let mut overrides = Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        overrides.set("bind", "--bind", Some("127.0.0.1:7000".into()));
        let config = Config::from_sources(
            &overrides,
            &env(&[
                ("SHOPKEEP_CURRENCY", "GBP"),
                ("SHOPKEEP_BIND", "127.0.0.1:1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.bind.port(), 7000);
        assert_eq!(config.currency.code(), "GBP");
        assert_eq!(config.db_readers, 2);
    }

    #[test]
    fn s3_storage_comes_from_a_nested_section_and_its_secret_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shop.toml");
        std::fs::write(
            &file,
            "[backup.s3]\nendpoint = \"http://127.0.0.1:9000/\"\nbucket = \"shop-backups\"\n\
             prefix = \"/nightly\"\naccess_key_id = \"AKID\"\nsecret_access_key = \"s3cr3t-value\"\n\
             keep = 5\n\n[retention]\nconversations_days = 0\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        let config = Config::from_sources(&overrides, &[]).unwrap();
        let s3 = config.backup.s3.as_ref().expect("an S3 target");
        assert_eq!(s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!(s3.prefix, "nightly/");
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.keep, 5);
        assert!(s3.path_style);
        assert_eq!(s3.secret_access_key.expose(), "s3cr3t-value");
        assert_eq!(config.retention.conversations_days, 0);
        assert_eq!(config.retention.vacuum, VacuumSchedule::Weekly);
        assert!(!config.describe().contains("s3cr3t-value"));
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
        assert!(
            Config::from_sources(&Overrides::default(), &[])
                .unwrap()
                .backup
                .s3
                .is_none()
        );
        let missing_bucket = Config::from_sources(
            &Overrides::default(),
            &env(&[("SHOPKEEP_BACKUP_S3_ENDPOINT", "http://127.0.0.1:9000")]),
        )
        .unwrap_err();
        assert!(missing_bucket.to_string().contains("backup.s3.bucket"));
    }

    #[test]
    fn errors_name_key_value_origin_and_reason() {
        let err = Config::from_sources(
            &Overrides::default(),
            &env(&[("SHOPKEEP_DB_READERS", "lots")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`db_readers`")
                && text.contains("\"lots\"")
                && text.contains("SHOPKEEP_DB_READERS"),
            "{text}"
        );
        assert!(text.contains("whole number from 1 to 64"), "{text}");
    }

    #[test]
    fn the_answer_cache_defaults_to_an_hour_and_a_thousand_answers() {
        let config = Config::from_sources(&Overrides::default(), &[]).unwrap();
        assert_eq!(
            config.assistant,
            AssistantSettings {
                answer_cache_ttl: Duration::from_secs(3600),
                answer_cache_entries: 1000,
            }
        );
    }

    #[test]
    fn answer_cache_ttl_takes_units_and_zero_turns_it_off() {
        let ttl = |value: &str| {
            Config::from_sources(
                &Overrides::default(),
                &env(&[("SHOPKEEP_ASSISTANT_ANSWER_CACHE_TTL", value)]),
            )
            .map(|c| c.assistant.answer_cache_ttl)
        };
        assert_eq!(ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(ttl(" 2d ").unwrap(), Duration::from_secs(2 * 86_400));
        assert_eq!(ttl("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "60",
            "1.5h",
            "-1h",
            "1w",
            "h",
            "31d",
            "99999999999999999999s",
        ] {
            assert!(ttl(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_bad_answer_cache_value_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shop.toml");
        std::fs::write(&file, "[assistant]\nanswer_cache_ttl = \"soon\"\n").unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            ..Default::default()
        };
        let text = Config::from_sources(&overrides, &[])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("`assistant.answer_cache_ttl`")
                && text.contains("\"soon\"")
                && text.contains("shop.toml")
                && text.contains("90s, 30m, 1h"),
            "{text}"
        );
        let text = Config::from_sources(
            &Overrides::default(),
            &env(&[("SHOPKEEP_ASSISTANT_ANSWER_CACHE_ENTRIES", "0")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("`assistant.answer_cache_entries`")
                && text.contains("SHOPKEEP_ASSISTANT_ANSWER_CACHE_ENTRIES")
                && text.contains("from 1 to 100000"),
            "{text}"
        );
    }

    #[test]
    fn admin_sessions_last_twelve_hours_unless_told_and_never_zero() {
        let ttl = |value: &str| {
            Config::from_sources(
                &Overrides::default(),
                &env(&[("SHOPKEEP_ADMIN_SESSION_TTL", value)]),
            )
            .map(|c| c.admin.session_ttl)
        };
        let default = Config::from_sources(&Overrides::default(), &[]).unwrap();
        assert_eq!(default.admin.session_ttl, Duration::from_secs(12 * 3600));
        assert_eq!(ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(ttl("7d").unwrap(), Duration::from_secs(7 * 86_400));
        for bad in ["0", "59s", "31d", "12", "soon"] {
            let text = ttl(bad).unwrap_err().to_string();
            assert!(text.contains("`admin.session_ttl`"), "{bad:?}: {text}");
        }
    }

    #[test]
    fn unknown_file_keys_and_bad_toml_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shop.toml");
        std::fs::write(&file, "bnid = \"x\"\n").unwrap();
        let overrides = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        assert!(
            matches!(Config::from_sources(&overrides, &[]), Err(ConfigError::UnknownKey { key, .. }) if key == "bnid")
        );
        std::fs::write(&file, "bind = \n").unwrap();
        assert!(matches!(
            Config::from_sources(&overrides, &[]),
            Err(ConfigError::Syntax { .. })
        ));
    }
}

#[cfg(test)]
mod readme_tests {
    use super::KEYS;

    /// The README's configuration table is the operator's reference: it must list every key.
    #[test]
    fn readme_documents_every_key_with_its_default() {
        let readme = include_str!("../README.md");
        for key in KEYS {
            let row = format!(
                "| `{}` | `{}` | `{}` |",
                key.name,
                super::env_var_name(key.name),
                key.default
            );
            assert!(
                readme.contains(&row),
                "README.md lacks the row for {}: {row}",
                key.name
            );
        }
    }
}
