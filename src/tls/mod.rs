//! HTTPS for a shop with a public domain: a certificate from an ACME
//! certificate authority (HTTP-01), kept in `<data_dir>/tls`, renewed before
//! it expires and swapped into the running server without a restart.
//!
//! Owns the certificate's life: obtaining, storing, renewing, handing it to
//! rustls and saying how it goes (for `/readyz` and `doctor`). It must not
//! touch the database or HTTP routing: `web::https` answers the challenges
//! this module publishes and redirects plain HTTP.

pub mod acme;
pub mod certs;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;

pub use acme::Challenges;
use certs::{Resolver, Served, TlsDir};

use crate::config::AcmeSettings;

/// How often a certificate that is not due yet is looked at again.
pub const CHECK_EVERY: Duration = Duration::from_secs(86_400);
/// The first retry after a failed attempt; each further failure doubles it, up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Acme(#[from] acme::AcmeError),
    #[error(transparent)]
    Certificate(#[from] certs::CertError),
    #[error("cannot make the certificate request: {0}")]
    Request(#[from] rcgen::Error),
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the certificate being served came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Issued by the certificate authority, valid until then.
    Issued { not_after: OffsetDateTime },
    /// A temporary one signed by itself, until the authority issues one.
    SelfSigned,
}

/// The certificate's state, as `/readyz` reports it.
#[derive(Debug, Clone)]
pub struct TlsStatus {
    pub domain: String,
    pub serving: Serving,
    /// Why the latest attempt to obtain or renew failed, while it keeps failing.
    pub last_error: Option<String>,
}

/// The shop's certificate and its renewal; cheap to clone, shared by the
/// server, the renewal schedule and the readiness check.
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    domain: String,
    acme: AcmeSettings,
    files: TlsDir,
    resolver: Arc<Resolver>,
    challenges: Challenges,
    progress: Mutex<Progress>,
}

struct Progress {
    serving: Serving,
    last_error: Option<String>,
    failures: u32,
}

impl Tls {
    /// The stored certificate for `domain`, or a self-signed one until the
    /// authority issues one. Does not reach the network: `renew_if_due` does.
    pub fn load(domain: &str, acme: &AcmeSettings, data_dir: &Path) -> Result<Tls, TlsError> {
        // Only ring is compiled in; installing it makes that explicit to
        // every rustls user in the process (ureq included).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let files = TlsDir::new(data_dir);
        let stored = files.load(domain).unwrap_or_else(|error| {
            tracing::warn!(%error, domain, "the stored certificate is unusable; ordering a new one");
            None
        });
        let (served, serving) = match stored {
            Some(served) => {
                tracing::info!(domain, not_after = %served.not_after, "using the stored certificate");
                let not_after = served.not_after;
                (served, Serving::Issued { not_after })
            }
            None => {
                tracing::info!(
                    domain,
                    "no certificate yet: serving a temporary self-signed one while ordering one"
                );
                (Served::self_signed(domain)?, Serving::SelfSigned)
            }
        };
        Ok(Tls(Arc::new(Inner {
            domain: domain.to_string(),
            acme: acme.clone(),
            files,
            resolver: Arc::new(Resolver::new(served.key)),
            challenges: Challenges::default(),
            progress: Mutex::new(Progress {
                serving,
                last_error: None,
                failures: 0,
            }),
        })))
    }

    /// The rustls configuration of the HTTPS listener: ring, TLS 1.2 and 1.3,
    /// the certificate from the resolver (actix adds the h2 and http/1.1 ALPN).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&self.0.resolver) as _))
    }

    pub fn domain(&self) -> &str {
        &self.0.domain
    }

    /// Answers to the challenges in progress, for the plain HTTP listener.
    pub fn challenges(&self) -> &Challenges {
        &self.0.challenges
    }

    pub fn status(&self) -> TlsStatus {
        let progress = self.progress();
        TlsStatus {
            domain: self.0.domain.clone(),
            serving: progress.serving,
            last_error: progress.last_error.clone(),
        }
    }

    /// The renewal job: obtains a certificate when there is none from the
    /// authority or the current one is within `acme.renew_before_days` of
    /// expiring, and swaps it in. Returns how long to wait before the next
    /// check: a day, or a growing back-off after a failure.
    pub fn renew_if_due(&self) -> Duration {
        if !self.due(OffsetDateTime::now_utc()) {
            tracing::info!(domain = %self.0.domain, "the certificate is not due for renewal");
            return CHECK_EVERY;
        }
        match self.obtain() {
            Ok(served) => {
                tracing::info!(domain = %self.0.domain, not_after = %served.not_after, "obtained a certificate");
                self.0.resolver.replace(served.key);
                let mut progress = self.progress();
                progress.serving = Serving::Issued {
                    not_after: served.not_after,
                };
                progress.last_error = None;
                progress.failures = 0;
                CHECK_EVERY
            }
            Err(error) => {
                let mut progress = self.progress();
                progress.failures = progress.failures.saturating_add(1);
                let wait = retry_after(progress.failures);
                tracing::warn!(domain = %self.0.domain, %error, retry_in_secs = wait.as_secs(), "could not obtain a certificate");
                progress.last_error = Some(error.to_string());
                wait
            }
        }
    }

    fn due(&self, now: OffsetDateTime) -> bool {
        match self.progress().serving {
            Serving::SelfSigned => true,
            Serving::Issued { not_after } => not_after - now < self.0.acme.renew_before,
        }
    }

    /// One order from start to finish: account, new key, CSR, challenge, download, save.
    fn obtain(&self) -> Result<Served, TlsError> {
        let account = self.account_key()?;
        let roots = match &self.0.acme.ca_file {
            Some(path) => certs::read_if_present(path)?,
            None => None,
        };
        let mut client = acme::Client::connect(&self.0.acme.directory, roots.as_deref(), &account)?;
        client.register(self.0.acme.email.as_deref())?;
        let key = rcgen::KeyPair::generate()?;
        let mut request = rcgen::CertificateParams::new(vec![self.0.domain.clone()])?;
        request.distinguished_name = rcgen::DistinguishedName::new();
        request
            .distinguished_name
            .push(rcgen::DnType::CommonName, self.0.domain.as_str());
        let csr = request.serialize_request(&key)?;
        let chain = client.order_certificate(&self.0.domain, csr.der(), &self.0.challenges)?;
        let key_pem = key.serialize_pem();
        let served = Served::from_pem(chain.as_bytes(), key_pem.as_bytes())?;
        self.0.files.save(&self.0.domain, &chain, &key_pem)?;
        Ok(served)
    }

    /// The account key from `<data_dir>/tls/account.key`, made on first use.
    fn account_key(&self) -> Result<acme::AccountKey, TlsError> {
        let path = self.0.files.account_key();
        if let Some(pem) = certs::read_if_present(&path)? {
            let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem)
                .map_err(|e| certs::CertError::Invalid(format!("{}: {e}", path.display())))?;
            return Ok(acme::AccountKey::from_pkcs8(der.secret_pkcs8_der())?);
        }
        let key = acme::AccountKey::generate()?;
        certs::write_private(&path, pem_private_key(key.pkcs8()).as_bytes())?;
        Ok(key)
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// When the stored certificate for `domain` in `data_dir` expires; `None`
/// when there is no usable one. For `shopkeep doctor`.
pub fn certificate_expiry(data_dir: &Path, domain: &str) -> Option<OffsetDateTime> {
    TlsDir::new(data_dir)
        .load(domain)
        .ok()
        .flatten()
        .map(|served| served.not_after)
}

/// 5 s, 10 s, 20 s … up to an hour.
fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_FIRST.saturating_mul(1 << doublings).min(RETRY_MAX)
}

fn pem_private_key(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(renew_before_days: u64) -> AcmeSettings {
        AcmeSettings {
            email: None,
            directory: "https://127.0.0.1:9/directory".into(),
            ca_file: None,
            renew_before: Duration::from_secs(renew_before_days * 86_400),
        }
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_after(1), Duration::from_secs(5));
        assert_eq!(retry_after(2), Duration::from_secs(10));
        assert_eq!(retry_after(4), Duration::from_secs(40));
        assert_eq!(retry_after(40), Duration::from_secs(3600));
    }

    #[test]
    fn a_certificate_is_due_inside_the_renewal_window_only() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::load("shop.example.com", &settings(30), dir.path()).unwrap();
        assert_eq!(tls.status().serving, Serving::SelfSigned);
        assert!(
            tls.due(OffsetDateTime::now_utc()),
            "self-signed is always due"
        );
        let expiry = OffsetDateTime::now_utc() + time::Duration::days(60);
        tls.progress().serving = Serving::Issued { not_after: expiry };
        assert!(!tls.due(expiry - time::Duration::days(31)));
        assert!(tls.due(expiry - time::Duration::days(29)));
    }

    #[test]
    fn an_unreachable_authority_is_reported_and_retried_soon() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::load("shop.example.com", &settings(30), dir.path()).unwrap();
        assert_eq!(tls.renew_if_due(), RETRY_FIRST);
        let status = tls.status();
        assert_eq!(status.serving, Serving::SelfSigned);
        let reason = status.last_error.unwrap();
        assert!(reason.contains("cannot reach the ACME server"), "{reason}");
        assert_eq!(tls.renew_if_due(), RETRY_FIRST * 2);
        let key = std::fs::read(dir.path().join("tls/account.key")).unwrap();
        assert!(key.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        assert!(certificate_expiry(dir.path(), "shop.example.com").is_none());
    }

    #[test]
    fn the_account_key_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::load("shop.example.com", &settings(30), dir.path()).unwrap();
        let first = tls.account_key().unwrap();
        let again = tls.account_key().unwrap();
        assert_eq!(first.pkcs8(), again.pkcs8());
    }
}
