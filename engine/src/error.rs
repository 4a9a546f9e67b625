//! The engine's one error type, and where every DataFusion error is classified.

use std::time::Duration;

use datafusion::error::DataFusionError;
use tiaokuai_catalog::CatalogError;
use tiaokuai_connectors::ConnectorError;

use crate::session::{CATALOG_NAME, DEFAULT_SCHEMA};

/// What went wrong, by whose fault. The server maps each variant to one HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The SQL does not parse or does not plan (unknown column, type mismatch).
    #[error("{0}")]
    InvalidSql(String),
    /// Anything else malformed in the request, or a query that failed on its own terms
    /// (division by zero, a bad cast).
    #[error("{0}")]
    BadRequest(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A source did not answer or failed. Names the source, never its secret.
    #[error("{0}")]
    SourceUnavailable(String),
    #[error("the query ran past its time limit of {0:?}")]
    Timeout(Duration),
    /// The query needs more memory than the configured limit allows.
    #[error("{0}")]
    ResourcesExhausted(String),
    /// The caller already runs as many queries as it may at once.
    #[error("{0}")]
    Overloaded(String),
    /// A bug. The message goes to the log, not to the client.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// The stable name of whose fault it is, as the API's error `code` says it.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidSql(_) => "invalid_sql",
            EngineError::BadRequest(_) => "bad_request",
            EngineError::PermissionDenied(_) => "permission_denied",
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::SourceUnavailable(_) => "source_unavailable",
            EngineError::Timeout(_) => "timeout",
            EngineError::ResourcesExhausted(_) => "resources_exhausted",
            EngineError::Overloaded(_) => "overloaded",
            EngineError::Internal(_) => "internal",
        }
    }

    /// What may be shown outside the server: everything but the details of a bug, which
    /// belong in the log.
    pub fn public_message(&self) -> String {
        match self {
            EngineError::Internal(_) => "internal error; the details are in the server log".into(),
            other => other.to_string(),
        }
    }
}

impl From<CatalogError> for EngineError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::Invalid(m) => EngineError::BadRequest(m),
            CatalogError::NotFound(m) => EngineError::NotFound(m),
            CatalogError::Conflict(m) => EngineError::Conflict(m),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

impl From<ConnectorError> for EngineError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::InvalidSpec(m) => EngineError::BadRequest(m),
            ConnectorError::OutOfReach(m) => EngineError::PermissionDenied(m),
            unavailable @ ConnectorError::Unavailable { .. } => {
                EngineError::SourceUnavailable(unavailable.to_string())
            }
        }
    }
}

impl From<EngineError> for DataFusionError {
    fn from(error: EngineError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}

impl From<DataFusionError> for EngineError {
    fn from(error: DataFusionError) -> Self {
        classify(&error)
    }
}

/// Decides whose fault a DataFusion error is. Errors raised by our own code travel through
/// DataFusion wrapped as `External` (possibly inside `Context`), so the root is unwrapped first.
pub fn classify(error: &DataFusionError) -> EngineError {
    let root = error.find_root();
    match root {
        DataFusionError::External(inner) => {
            if let Some(engine) = inner.downcast_ref::<EngineError>() {
                return engine.clone();
            }
            if let Some(connector) = inner.downcast_ref::<ConnectorError>() {
                return match connector {
                    ConnectorError::InvalidSpec(m) => EngineError::BadRequest(m.clone()),
                    // at query time, a confined source that reaches outside its grants (a
                    // grant revoked since, a link added) fails as unavailable, naming itself
                    ConnectorError::OutOfReach(m) => EngineError::SourceUnavailable(m.clone()),
                    unavailable => EngineError::SourceUnavailable(unavailable.to_string()),
                };
            }
            EngineError::Internal(root.strip_backtrace())
        }
        DataFusionError::SQL(parser, _) => EngineError::InvalidSql(parser.to_string()),
        DataFusionError::Plan(message) => {
            if message.starts_with("table '") && message.ends_with("not found") {
                let name = message
                    .trim_end_matches(" not found")
                    .trim_start_matches("table ");
                let name = name.replace(&format!("'{CATALOG_NAME}.{DEFAULT_SCHEMA}."), "'");
                EngineError::NotFound(format!(
                    "table {name} (tables are named schema.table, e.g. village.residents)"
                ))
            } else {
                EngineError::InvalidSql(message.clone())
            }
        }
        DataFusionError::SchemaError(..) => EngineError::InvalidSql(root.strip_backtrace()),
        DataFusionError::NotImplemented(message) => {
            EngineError::BadRequest(format!("not supported: {message}"))
        }
        DataFusionError::ResourcesExhausted(message) => EngineError::ResourcesExhausted(format!(
            "the query needs more memory than the server allows: {message}"
        )),
        DataFusionError::ObjectStore(e) => {
            EngineError::SourceUnavailable(format!("a file source failed while being read: {e}"))
        }
        DataFusionError::ParquetError(e) => {
            EngineError::SourceUnavailable(format!("a Parquet file could not be read: {e}"))
        }
        DataFusionError::IoError(e) => {
            EngineError::SourceUnavailable(format!("a source could not be read: {e}"))
        }
        DataFusionError::ArrowError(e, _) => EngineError::BadRequest(format!("query failed: {e}")),
        DataFusionError::Execution(message) => {
            EngineError::BadRequest(format!("query failed: {message}"))
        }
        DataFusionError::Configuration(message) => EngineError::BadRequest(message.clone()),
        _ => EngineError::Internal(root.strip_backtrace()),
    }
}
