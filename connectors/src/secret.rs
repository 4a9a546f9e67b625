//! Secrets. A source stores a reference (`env:NAME`, `file:/path`) or, for a secret given inline,
//! the secret sealed with the server's key (`enc:v1:…`, ChaCha20-Poly1305). The value is
//! recovered only when the source is opened, and never put into an error message or a log line.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::error::{ConnectorError, Result};

/// The prefix of a secret sealed by this server.
pub const SEALED: &str = "enc:v1:";

/// The server's key for secrets given inline.
#[derive(Clone)]
pub struct SealKey(Key);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// A key from 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(ConnectorError::invalid("the secret key must be 32 bytes"));
        }
        Ok(Self(*Key::from_slice(bytes)))
    }
}

/// Whether `secret` is a reference (as opposed to a value given inline).
pub fn is_reference(secret: &str) -> bool {
    secret.starts_with("env:") || secret.starts_with("file:") || secret.starts_with(SEALED)
}

/// Seals an inline secret for storage.
pub fn seal(key: &SealKey, plaintext: &str) -> String {
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = ChaCha20Poly1305::new(&key.0)
        .encrypt(&nonce, plaintext.as_bytes())
        .expect("sealing in memory cannot fail");
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    format!("{SEALED}{}", STANDARD.encode(bytes))
}

/// Whether `reference` is a form this crate can resolve.
pub fn validate_reference(reference: &str) -> Result<()> {
    match reference.split_once(':') {
        Some(("env", name)) if !name.is_empty() => Ok(()),
        Some(("file", path)) if path.starts_with('/') => Ok(()),
        _ if reference.starts_with(SEALED) => Ok(()),
        _ => Err(ConnectorError::invalid(
            "a secret must be a reference (env:NAME or file:/absolute/path) or a value given inline",
        )),
    }
}

/// Reads the secret a reference points to, or unseals an inline one.
pub fn resolve(reference: &str, key: Option<&SealKey>) -> Result<String> {
    validate_reference(reference)?;
    if let Some(sealed) = reference.strip_prefix(SEALED) {
        let unreadable = || {
            ConnectorError::invalid("the stored secret cannot be unsealed with this server's key")
        };
        let key = key.ok_or_else(unreadable)?;
        let bytes = STANDARD.decode(sealed).map_err(|_| unreadable())?;
        if bytes.len() < 12 {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = ChaCha20Poly1305::new(&key.0)
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| unreadable())?;
        return String::from_utf8(plain).map_err(|_| unreadable());
    }
    match reference.split_once(':') {
        Some(("env", name)) => std::env::var(name).map_err(|_| {
            ConnectorError::invalid(format!(
                "secret reference env:{name} names an environment variable that is not set"
            ))
        }),
        Some(("file", path)) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| {
                ConnectorError::invalid(format!(
                    "secret reference file:{path} cannot be read: {}",
                    e.kind()
                ))
            }),
        _ => unreachable!("validated above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_without_echoing_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        assert_eq!(
            resolve(&format!("file:{}", path.display()), None).unwrap(),
            "s3cr3t"
        );
        assert!(resolve("s3cr3t", None).is_err());
        assert!(resolve("file:relative", None).is_err());
        let missing = resolve("env:TIAOKUAI_SURELY_UNSET_VARIABLE", None).unwrap_err();
        assert!(missing.to_string().contains("not set"));
    }

    #[test]
    fn inline_secrets_are_sealed() {
        let key = SealKey::new(&[7u8; 32]).unwrap();
        let sealed = seal(&key, "p@ss word 密码");
        assert!(sealed.starts_with(SEALED));
        assert!(!sealed.contains("p@ss"));
        assert_ne!(
            seal(&key, "p@ss word 密码"),
            sealed,
            "a fresh nonce every time"
        );
        assert_eq!(resolve(&sealed, Some(&key)).unwrap(), "p@ss word 密码");
        let other = SealKey::new(&[8u8; 32]).unwrap();
        let error = resolve(&sealed, Some(&other)).unwrap_err().to_string();
        assert!(!error.contains("p@ss"), "{error}");
        assert!(resolve(&sealed, None).is_err());
        assert!(resolve("enc:v1:!!!", Some(&key)).is_err());
        assert!(format!("{key:?}") == "SealKey(..)");
    }
}
