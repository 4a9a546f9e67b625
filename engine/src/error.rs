//! The engine's one error type, and where every DataFusion error is classified.
//!
//! Each variant says whose fault an error is; its [`Message`] is what the caller is told, and
//! carries the error that caused it (a catalog, connector or DataFusion error) as its
//! [`source`](std::error::Error::source), so the log keeps the whole chain.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use tiaokuai_catalog::CatalogError;
use tiaokuai_connectors::ConnectorError;

/// The cause an error keeps.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// What the caller is told, and what caused it.
#[derive(Clone)]
pub struct Message {
    text: String,
    cause: Option<Cause>,
}

impl Message {
    /// This message, caused by `cause`.
    pub fn caused_by(
        text: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::with_cause(text, Arc::new(cause))
    }

    fn with_cause(text: impl Into<String>, cause: Cause) -> Self {
        Self {
            text: text.into(),
            cause: Some(cause),
        }
    }

    pub fn cause(&self) -> Option<&Cause> {
        self.cause.as_ref()
    }
}

impl std::ops::Deref for Message {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{:?} (caused by {cause:?})", self.text),
            None => write!(f, "{:?}", self.text),
        }
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self { text, cause: None }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

/// What went wrong, by whose fault. The server maps each variant to one HTTP status.
#[derive(Debug, Clone)]
pub enum EngineError {
    /// The SQL does not parse or does not plan (unknown column, type mismatch).
    InvalidSql(Message),
    /// Anything else malformed in the request, or a query that failed on its own terms
    /// (division by zero, a bad cast).
    BadRequest(Message),
    /// Authenticated, but not allowed.
    PermissionDenied(Message),
    /// Names what was not found.
    NotFound(Message),
    Conflict(Message),
    /// A source did not answer or failed. Names the source, never its secret.
    SourceUnavailable(Message),
    Timeout(Duration),
    /// The query needs more memory than the configured limit allows.
    ResourcesExhausted(Message),
    /// The caller already runs as many queries as it may at once.
    Overloaded(Message),
    /// The query's audit record could not be written, so it was not run.
    AuditUnavailable(Message),
    /// The query was cancelled (`DELETE /v1/queries/{id}`).
    Cancelled(Message),
    /// A bug. The message goes to the log, not to the client.
    Internal(Message),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::NotFound(m) => write!(f, "{m} not found"),
            EngineError::Timeout(limit) => {
                write!(f, "the query ran past its time limit of {limit:?}")
            }
            EngineError::InvalidSql(m)
            | EngineError::BadRequest(m)
            | EngineError::PermissionDenied(m)
            | EngineError::Conflict(m)
            | EngineError::SourceUnavailable(m)
            | EngineError::ResourcesExhausted(m)
            | EngineError::Overloaded(m)
            | EngineError::AuditUnavailable(m)
            | EngineError::Cancelled(m)
            | EngineError::Internal(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.message()
            .and_then(Message::cause)
            .map(|cause| cause.as_ref() as &(dyn std::error::Error + 'static))
    }
}

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
            EngineError::AuditUnavailable(_) => "audit_unavailable",
            EngineError::Cancelled(_) => "cancelled",
            EngineError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> Option<&Message> {
        match self {
            EngineError::Timeout(_) => None,
            EngineError::InvalidSql(m)
            | EngineError::BadRequest(m)
            | EngineError::PermissionDenied(m)
            | EngineError::NotFound(m)
            | EngineError::Conflict(m)
            | EngineError::SourceUnavailable(m)
            | EngineError::ResourcesExhausted(m)
            | EngineError::Overloaded(m)
            | EngineError::AuditUnavailable(m)
            | EngineError::Cancelled(m)
            | EngineError::Internal(m) => Some(m),
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

    /// The message and every cause below it, for the log.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

impl From<CatalogError> for EngineError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::Invalid(m) => EngineError::BadRequest(m.into()),
            CatalogError::NotFound(m) => EngineError::NotFound(m.into()),
            CatalogError::Conflict(m) => EngineError::Conflict(m.into()),
            // the store itself failed, or holds what it should not: not the caller's doing
            other => EngineError::Internal(Message::caused_by("the catalog failed", other)),
        }
    }
}

impl From<ConnectorError> for EngineError {
    fn from(error: ConnectorError) -> Self {
        let kind: fn(Message) -> EngineError = match &error {
            ConnectorError::InvalidSpec(_) => EngineError::BadRequest,
            ConnectorError::OutOfReach(_) => EngineError::PermissionDenied,
            ConnectorError::Unavailable { .. } => EngineError::SourceUnavailable,
        };
        kind(Message::caused_by(error.to_string(), error))
    }
}

impl From<EngineError> for DataFusionError {
    fn from(error: EngineError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}

impl From<DataFusionError> for EngineError {
    fn from(error: DataFusionError) -> Self {
        let classified = classify(&error);
        // the engine's own errors travel through DataFusion and come back as they were; any
        // other keeps the DataFusion error it was made from
        let ours = matches!(error.find_root(), DataFusionError::External(inner)
            if inner.downcast_ref::<EngineError>().is_some());
        if ours {
            return classified;
        }
        let cause: Cause = Arc::new(error);
        let with = |m: Message| Message::with_cause(m.text, cause);
        match classified {
            EngineError::InvalidSql(m) => EngineError::InvalidSql(with(m)),
            EngineError::BadRequest(m) => EngineError::BadRequest(with(m)),
            EngineError::SourceUnavailable(m) => EngineError::SourceUnavailable(with(m)),
            EngineError::ResourcesExhausted(m) => EngineError::ResourcesExhausted(with(m)),
            EngineError::Internal(m) => EngineError::Internal(with(m)),
            other => other,
        }
    }
}

/// Decides whose fault a DataFusion error is, by its type. Errors raised by our own code
/// travel through DataFusion wrapped as `External` (possibly inside `Context`), so the root is
/// unwrapped first.
pub fn classify(error: &DataFusionError) -> EngineError {
    let root = error.find_root();
    match root {
        DataFusionError::External(inner) => {
            if let Some(engine) = inner.downcast_ref::<EngineError>() {
                return engine.clone();
            }
            if let Some(connector) = inner.downcast_ref::<ConnectorError>() {
                return match connector {
                    ConnectorError::InvalidSpec(m) => EngineError::BadRequest(m.as_str().into()),
                    // at query time, a confined source that reaches outside its grants (a
                    // grant revoked since, a link added) fails as unavailable, naming itself
                    ConnectorError::OutOfReach(m) => {
                        EngineError::SourceUnavailable(m.as_str().into())
                    }
                    unavailable => EngineError::SourceUnavailable(unavailable.to_string().into()),
                };
            }
            EngineError::Internal(root.strip_backtrace().into())
        }
        DataFusionError::SQL(parser, _) => EngineError::InvalidSql(parser.to_string().into()),
        DataFusionError::Plan(message) => EngineError::InvalidSql(message.as_str().into()),
        DataFusionError::SchemaError(..) => EngineError::InvalidSql(root.strip_backtrace().into()),
        DataFusionError::NotImplemented(message) => {
            EngineError::BadRequest(format!("not supported: {message}").into())
        }
        DataFusionError::ResourcesExhausted(message) => EngineError::ResourcesExhausted(
            format!("the query needs more memory than the server allows: {message}").into(),
        ),
        DataFusionError::ObjectStore(e) => EngineError::SourceUnavailable(
            format!("a file source failed while being read: {e}").into(),
        ),
        DataFusionError::ParquetError(e) => {
            EngineError::SourceUnavailable(format!("a Parquet file could not be read: {e}").into())
        }
        DataFusionError::IoError(e) => {
            EngineError::SourceUnavailable(format!("a source could not be read: {e}").into())
        }
        DataFusionError::ArrowError(e, _) => arrow(e),
        DataFusionError::Execution(message) => {
            EngineError::BadRequest(format!("query failed: {message}").into())
        }
        DataFusionError::Configuration(message) => EngineError::BadRequest(message.as_str().into()),
        _ => EngineError::Internal(root.strip_backtrace().into()),
    }
}

/// An Arrow error: what a value or an argument of the caller's did (a division by zero, a cast
/// that does not fit, an overflow) is its fault; a schema or memory layout that does not fit
/// is a bug.
fn arrow(error: &ArrowError) -> EngineError {
    match error {
        ArrowError::DivideByZero
        | ArrowError::CastError(_)
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::ParseError(_)
        | ArrowError::ComputeError(_)
        | ArrowError::InvalidArgumentError(_)
        | ArrowError::NotYetImplemented(_) => {
            EngineError::BadRequest(format!("query failed: {error}").into())
        }
        ArrowError::MemoryError(message) => EngineError::ResourcesExhausted(
            format!("the query needs more memory than the server allows: {message}").into(),
        ),
        ArrowError::IoError(..) | ArrowError::ExternalError(_) => {
            EngineError::SourceUnavailable(format!("a source could not be read: {error}").into())
        }
        _ => EngineError::Internal(format!("arrow: {error}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bug_in_the_engine_is_internal_and_its_details_stay_in_the_log() {
        let error = EngineError::from(DataFusionError::Internal("a plan lost a column".into()));
        assert!(matches!(error, EngineError::Internal(_)));
        assert!(!error.public_message().contains("a plan lost a column"));
        assert!(
            error.chain().contains("a plan lost a column"),
            "{}",
            error.chain()
        );

        let schema = ArrowError::SchemaError("two columns named a".into());
        let error = EngineError::from(DataFusionError::ArrowError(Box::new(schema), None));
        assert!(matches!(error, EngineError::Internal(_)), "{error:?}");
    }

    #[test]
    fn what_the_callers_values_did_is_theirs() {
        let error = EngineError::from(DataFusionError::ArrowError(
            Box::new(ArrowError::DivideByZero),
            None,
        ));
        assert!(matches!(error, EngineError::BadRequest(_)), "{error:?}");
        let error = EngineError::from(DataFusionError::Plan("no column named x".into()));
        assert!(matches!(error, EngineError::InvalidSql(_)), "{error:?}");
    }

    #[test]
    fn an_error_keeps_the_error_that_caused_it() {
        let storage = CatalogError::Storage(rusqlite::Error::InvalidQuery);
        let error = EngineError::from(storage);
        assert!(matches!(error, EngineError::Internal(_)));
        let cause = std::error::Error::source(&error).expect("a cause");
        assert!(
            cause.to_string().starts_with("catalog storage error"),
            "{cause}"
        );
        assert!(
            cause.downcast_ref::<CatalogError>().is_some(),
            "the cause is the catalog's error itself"
        );

        let datafusion = EngineError::from(DataFusionError::Plan("no column named x".into()));
        let cause = std::error::Error::source(&datafusion).expect("a cause");
        assert!(cause.downcast_ref::<DataFusionError>().is_some());
    }

    #[test]
    fn the_engines_own_errors_come_back_through_datafusion_as_they_were() {
        let ours = EngineError::NotFound("table village.nothing".into());
        let wrapped = DataFusionError::Context(
            "while planning".into(),
            Box::new(DataFusionError::from(ours)),
        );
        let back = EngineError::from(wrapped);
        assert!(matches!(&back, EngineError::NotFound(m) if m == "table village.nothing"));
        assert_eq!(back.to_string(), "table village.nothing not found");
    }
}
