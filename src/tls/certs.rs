//! The certificate the HTTPS listener serves: its files in `<data_dir>/tls`,
//! the resolver rustls asks on every handshake, and a temporary self-signed
//! one for when none could be obtained yet.
//!
//! Owns the files and the in-memory certificate; it does not talk to the
//! certificate authority (see `acme`) nor decide when to renew (see `tls`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The files of one data directory's certificates.
pub struct TlsDir(PathBuf);

impl TlsDir {
    pub fn new(data_dir: &Path) -> TlsDir {
        TlsDir(data_dir.join("tls"))
    }

    pub fn account_key(&self) -> PathBuf {
        self.0.join("account.key")
    }

    /// The chain the authority issued for `domain`, leaf first.
    pub fn certificate(&self, domain: &str) -> PathBuf {
        self.0.join(format!("{domain}.crt"))
    }

    pub fn private_key(&self, domain: &str) -> PathBuf {
        self.0.join(format!("{domain}.key"))
    }

    /// Writes both files of a certificate, the key first: a crash between the
    /// two leaves a pair that does not match, which `load` refuses, so the
    /// next start orders a new certificate rather than serving a broken one.
    pub fn save(&self, domain: &str, chain_pem: &str, key_pem: &str) -> Result<(), CertError> {
        write_private(&self.private_key(domain), key_pem.as_bytes())?;
        write_private(&self.certificate(domain), chain_pem.as_bytes())
    }

    /// The stored certificate for `domain`, if there is a usable one.
    pub fn load(&self, domain: &str) -> Result<Option<Served>, CertError> {
        let Some(chain) = read_if_present(&self.certificate(domain))? else {
            return Ok(None);
        };
        let Some(key) = read_if_present(&self.private_key(domain))? else {
            return Ok(None);
        };
        Served::from_pem(&chain, &key).map(Some)
    }
}

/// A certificate ready to serve, with when it expires.
#[derive(Clone)]
pub struct Served {
    pub key: Arc<CertifiedKey>,
    pub not_after: OffsetDateTime,
}

impl Served {
    /// Builds the rustls key from a PEM chain (leaf first) and a PEM private key.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Served, CertError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertError::Invalid(format!("certificate chain: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| CertError::Invalid("no certificate in the chain file".into()))?;
        let not_after = not_after(leaf).ok_or_else(|| {
            CertError::Invalid("cannot read the certificate's expiry date".into())
        })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| CertError::Invalid(format!("private key: {e}")))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| CertError::Invalid(format!("private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signer);
        certified
            .keys_match()
            .map_err(|e| CertError::Invalid(format!("certificate and key: {e}")))?;
        Ok(Served {
            key: Arc::new(certified),
            not_after,
        })
    }

    /// A certificate for `domain` signed by itself: browsers warn, but the
    /// shop answers on HTTPS while a real one is being obtained.
    pub fn self_signed(domain: &str) -> Result<Served, CertError> {
        let generated = rcgen::generate_simple_self_signed(vec![domain.to_string()])
            .map_err(|e| CertError::Invalid(format!("self-signed certificate: {e}")))?;
        Served::from_pem(
            generated.cert.pem().as_bytes(),
            generated.signing_key.serialize_pem().as_bytes(),
        )
    }
}

/// Hands rustls the current certificate; `replace` swaps it for the next
/// handshakes while open connections keep theirs.
#[derive(Debug)]
pub struct Resolver(RwLock<Arc<CertifiedKey>>);

impl Resolver {
    pub fn new(key: Arc<CertifiedKey>) -> Resolver {
        Resolver(RwLock::new(key))
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        match self.0.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }

    fn current(&self) -> Arc<CertifiedKey> {
        match self.0.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The end of a DER certificate's validity (RFC 5280 §4.1.2.5), read with a
/// few steps of DER rather than a full X.509 parser.
pub fn not_after(certificate: &[u8]) -> Option<OffsetDateTime> {
    const SEQUENCE: u8 = 0x30;
    let (tag, certificate, _) = der_item(certificate)?;
    let (tbs_tag, tbs, _) = der_item(certificate)?;
    if tag != SEQUENCE || tbs_tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    // The optional [0] version comes first.
    if rest.first() == Some(&0xA0) {
        rest = der_item(rest)?.2;
    }
    for _serial_signature_issuer in 0..3 {
        rest = der_item(rest)?.2;
    }
    let (validity_tag, validity, _) = der_item(rest)?;
    if validity_tag != SEQUENCE {
        return None;
    }
    let after_not_before = der_item(validity)?.2;
    let (time_tag, time, _) = der_item(after_not_before)?;
    der_time(time_tag, time)
}

/// One DER element: (tag, contents, what follows).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7F);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (bytes, rest) = rest.split_at(octets);
        let length = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

/// UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn der_time(tag: u8, text: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let short: i32 = text.get(..2)?.parse().ok()?;
            (
                if short >= 50 {
                    1900 + short
                } else {
                    2000 + short
                },
                &text[2..],
            )
        }
        (0x18, 14) => (text.get(..4)?.parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| rest.get(at..at + 2)?.parse::<u8>().ok();
    let month = time::Month::try_from(field(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, field(2)?).ok()?;
    let clock = time::Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
    Some(date.with_time(clock).assume_utc())
}

/// A file's bytes, `None` when it is not there.
pub fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `bytes` readable by the owner only, through a temporary file and a
/// rename so a reader never sees half a key.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    let fail = |action| {
        move |source| CertError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail("create the folder of"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(fail("restrict the folder of"))?;
        }
    }
    let temporary = path.with_extension("partial");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(fail("write"))?;
    file.write_all(bytes).map_err(fail("write"))?;
    file.sync_all().map_err(fail("write"))?;
    fs::rename(&temporary, path).map_err(fail("replace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued_until(not_after: OffsetDateTime) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["shop.example.com".into()]).unwrap();
        params.not_after = not_after;
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn the_expiry_is_read_from_the_certificate() {
        for text in [
            "2031-07-04T12:30:45Z",
            "2049-12-31T23:59:59Z",
            "2051-01-02T03:04:05Z",
        ] {
            let expected =
                OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            let (chain, key) = issued_until(expected);
            let served = Served::from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
            assert_eq!(served.not_after, expected, "{text}");
        }
        assert_eq!(
            not_after(b"\x30\x03\x02\x01\x01"),
            None,
            "not a certificate"
        );
        assert_eq!(
            not_after(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            None,
            "truncated"
        );
    }

    #[test]
    fn stored_certificates_are_private_and_a_mismatched_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsDir::new(dir.path());
        assert!(files.load("shop.example.com").unwrap().is_none());
        let (chain, key) = issued_until(OffsetDateTime::now_utc() + time::Duration::days(60));
        files.save("shop.example.com", &chain, &key).unwrap();
        assert!(files.load("shop.example.com").unwrap().is_some());
        assert!(
            files.load("other.example.com").unwrap().is_none(),
            "per domain"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for path in [
                files.certificate("shop.example.com"),
                files.private_key("shop.example.com"),
            ] {
                let mode = fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }
        let (_, other_key) = issued_until(OffsetDateTime::now_utc() + time::Duration::days(60));
        write_private(&files.private_key("shop.example.com"), other_key.as_bytes()).unwrap();
        assert!(
            files.load("shop.example.com").is_err(),
            "key of another certificate"
        );
    }

    #[test]
    fn the_resolver_serves_the_latest_certificate() {
        let first = Served::self_signed("shop.example.com").unwrap();
        let second = Served::self_signed("shop.example.com").unwrap();
        let resolver = Resolver::new(Arc::clone(&first.key));
        assert!(Arc::ptr_eq(&resolver.current(), &first.key));
        resolver.replace(Arc::clone(&second.key));
        assert!(Arc::ptr_eq(&resolver.current(), &second.key));
    }
}
