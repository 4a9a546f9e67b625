//! The catalog's one error type.

/// What went wrong in the metadata store, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The caller supplied something invalid (a malformed code, an inconsistent tree, a bad name).
    #[error("{0}")]
    Invalid(String),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The name is already taken, or the object is still in use.
    #[error("{0}")]
    Conflict(String),
    /// The database itself failed (disk, corruption, lock): not the caller's fault.
    #[error("catalog storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A stored JSON document could not be read back: the store was changed outside tiaokuai.
    #[error("catalog holds a malformed record: {0}")]
    Corrupt(String),
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

impl CatalogError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
