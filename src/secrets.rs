//! Secrets at rest: API keys the dashboard saves are sealed with
//! ChaCha20-Poly1305 under a 32-byte key kept in a file outside the database
//! (`<data_dir>/secret.key` unless `SHOPKEEP_SECRET_KEY_FILE` names another),
//! created with mode 0600 the first time a secret is sealed.
//!
//! Owns the key file, sealing and opening. It must not touch the store (the
//! caller keeps the sealed bytes) nor log a secret: errors name the secret,
//! never its value.
//!
//! Every seal draws a fresh 96-bit nonce from the operating system's random
//! source; with the handful of secrets a shop keeps, a repeat is out of
//! reach. The secret's name is the associated data, so a sealed value copied
//! into another secret's row does not open.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Bytes of the key in the key file.
pub const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read or create the secret key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key file {path} holds {found} bytes, not 32; restore the right file")]
    KeyFileSize { path: PathBuf, found: usize },
    #[error("the cipher refused its key or input")]
    Cipher,
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    #[error(
        "the saved secret {name} cannot be decrypted: the secret key file is not the one it was saved with, or the database was altered; save the secret again"
    )]
    Undecryptable { name: String },
}

/// A secret as stored: the nonce and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The key that seals and opens the shop's secrets.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

impl SecretBox {
    pub fn from_key(bytes: &[u8; KEY_BYTES]) -> Result<SecretBox, SecretsError> {
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| SecretsError::Cipher)?;
        Ok(SecretBox {
            key: LessSafeKey::new(unbound),
        })
    }

    /// The key in `path`, created (0600, random) when the file does not exist yet.
    pub fn open_or_create(path: &Path) -> Result<SecretBox, SecretsError> {
        let fail = |source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        match fs::read(path) {
            Ok(bytes) => key_from_file(path, &bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<KEY_BYTES>()?;
                create_key_file(path, &key).map_err(fail)?;
                tracing::info!(path = %path.display(), "created the secret key file (mode 0600); back it up with the database");
                SecretBox::from_key(&key)
            }
            Err(error) => Err(fail(error)),
        }
    }

    /// The key in `path`, which must exist: opening what was sealed under a
    /// lost key file must fail, not quietly start a new key.
    pub fn open_existing(path: &Path) -> Result<SecretBox, SecretsError> {
        let bytes = fs::read(path).map_err(|source| SecretsError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        key_from_file(path, &bytes)
    }

    /// Seals `plaintext` as the secret called `name`.
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<Sealed, SecretsError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut in_out = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(name.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SecretsError::Cipher)?;
        Ok(Sealed {
            nonce: nonce_bytes.to_vec(),
            ciphertext: in_out,
        })
    }

    /// The secret called `name` from its sealed form; fails for another key,
    /// another name or any changed byte.
    pub fn open(&self, name: &str, sealed: &Sealed) -> Result<String, SecretsError> {
        let undecryptable = || SecretsError::Undecryptable {
            name: name.to_string(),
        };
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| undecryptable())?;
        let mut in_out = sealed.ciphertext.clone();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut in_out)
            .map_err(|_| undecryptable())?;
        String::from_utf8(plain.to_vec()).map_err(|_| undecryptable())
    }
}

/// What the dashboard shows of a secret: its first characters up to a dash
/// (`sk-`) and its last four, never more than half of a short one.
pub fn hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 8 {
        return "…".to_string();
    }
    let prefix: String = match secret.find('-') {
        Some(dash) if dash < 4 => secret[..=dash].to_string(),
        _ => String::new(),
    };
    let last4: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{last4}")
}

fn key_from_file(path: &Path, bytes: &[u8]) -> Result<SecretBox, SecretsError> {
    let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| SecretsError::KeyFileSize {
        path: path.to_path_buf(),
        found: bytes.len(),
    })?;
    warn_if_others_can_read(path);
    SecretBox::from_key(&key)
}

#[cfg(unix)]
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the secret key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_: &Path) {}

fn create_key_file(path: &Path, key: &[u8; KEY_BYTES]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    // create_new: two starts racing must not each write a different key.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key)?;
    file.sync_all()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SecretsError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SecretsError::Random(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const NAME: &str = "remote.openai_api_key";

    fn boxed(fill: u8) -> SecretBox {
        SecretBox::from_key(&[fill; KEY_BYTES]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_again() {
        let secrets = boxed(7);
        let sealed = secrets.seal(NAME, "sk-live-abcdef123456").unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert!(
            !sealed
                .ciphertext
                .windows(6)
                .any(|w| w == b"abcdef" || w == b"sk-liv"),
            "the ciphertext must not carry the plaintext"
        );
        assert_eq!(secrets.open(NAME, &sealed).unwrap(), "sk-live-abcdef123456");
    }

    #[test]
    fn another_key_fails_clearly() {
        let sealed = boxed(7).seal(NAME, "sk-live-abcdef123456").unwrap();
        let error = boxed(8).open(NAME, &sealed).unwrap_err();
        assert!(matches!(error, SecretsError::Undecryptable { .. }));
        let text = error.to_string();
        assert!(
            text.contains(NAME) && text.contains("secret key file"),
            "{text}"
        );
        assert!(!text.contains("abcdef"), "{text}");
    }

    #[test]
    fn a_changed_byte_or_another_name_fails() {
        let secrets = boxed(7);
        let sealed = secrets.seal(NAME, "sk-live-abcdef123456").unwrap();
        for at in [0, sealed.ciphertext.len() / 2, sealed.ciphertext.len() - 1] {
            let mut tampered = sealed.clone();
            tampered.ciphertext[at] ^= 0x01;
            assert!(secrets.open(NAME, &tampered).is_err(), "byte {at}");
        }
        let mut nonce_changed = sealed.clone();
        nonce_changed.nonce[0] ^= 0x80;
        assert!(secrets.open(NAME, &nonce_changed).is_err());
        assert!(secrets.open("remote.gemini_api_key", &sealed).is_err());
        let mut short = sealed.clone();
        short.nonce.pop();
        assert!(secrets.open(NAME, &short).is_err());
    }

    #[test]
    fn nonces_are_never_reused() {
        let secrets = boxed(7);
        let mut nonces = HashSet::new();
        let mut ciphertexts = HashSet::new();
        for _ in 0..2000 {
            let sealed = secrets.seal(NAME, "the same key every time").unwrap();
            assert!(nonces.insert(sealed.nonce.clone()), "nonce repeated");
            ciphertexts.insert(sealed.ciphertext);
        }
        assert_eq!(ciphertexts.len(), 2000, "equal plaintexts sealed alike");
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/shopkeep/secret.key");
        let first = SecretBox::open_or_create(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let sealed = first.seal(NAME, "sk-abc-12345678").unwrap();
        let again = SecretBox::open_or_create(&path).unwrap();
        assert_eq!(again.open(NAME, &sealed).unwrap(), "sk-abc-12345678");
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        fs::write(&path, b"too short").unwrap();
        let error = SecretBox::open_or_create(&path).unwrap_err();
        assert!(matches!(error, SecretsError::KeyFileSize { found: 9, .. }));
    }

    #[test]
    fn hints_show_only_the_prefix_and_last_four() {
        assert_eq!(hint("sk-test-4f9d2c81"), "sk-…2c81");
        assert_eq!(hint("AIzaSyD-0123456789abcd"), "…abcd");
        assert_eq!(hint("short"), "…");
    }
}
