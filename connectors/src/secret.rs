//! Secret references. A source stores `env:NAME` or `file:/path`, never the secret itself; the
//! value is read when the source is opened and is never put into an error message.

use crate::error::{ConnectorError, Result};

/// Whether `reference` is a form this crate can resolve.
pub fn validate_reference(reference: &str) -> Result<()> {
    match reference.split_once(':') {
        Some(("env", name)) if !name.is_empty() => Ok(()),
        Some(("file", path)) if path.starts_with('/') => Ok(()),
        _ => Err(ConnectorError::invalid(
            "a secret must be a reference: env:NAME or file:/absolute/path",
        )),
    }
}

/// Reads the secret a reference points to.
pub fn resolve(reference: &str) -> Result<String> {
    validate_reference(reference)?;
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
            resolve(&format!("file:{}", path.display())).unwrap(),
            "s3cr3t"
        );
        assert!(resolve("s3cr3t").is_err());
        assert!(resolve("file:relative").is_err());
        let missing = resolve("env:TIAOKUAI_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(missing.to_string().contains("not set"));
    }
}
