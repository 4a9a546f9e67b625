//! The connectors' one error type.

use datafusion::error::DataFusionError;

/// What went wrong while opening or reading a source.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The source description is wrong: a malformed or unsupported URL, a bad option, a
    /// location with no files, a file that is not of the declared format. The caller's fault.
    #[error("{0}")]
    InvalidSpec(String),
    /// The source would reach something its owner was not granted: a path, bucket, host or
    /// secret outside what admin has granted to the owner jurisdiction. The message reads the
    /// same whether the thing exists or not.
    #[error("{0}")]
    OutOfReach(String),
    /// The source did not answer or failed while being read. The message names the source and
    /// never contains a secret.
    #[error("source {source_name:?} is unavailable: {message}")]
    Unavailable {
        source_name: String,
        message: String,
    },
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidSpec(message.into())
    }

    pub(crate) fn unavailable(source_name: &str, message: impl ToString) -> Self {
        Self::Unavailable {
            source_name: source_name.to_owned(),
            message: message.to_string(),
        }
    }
}

impl From<ConnectorError> for DataFusionError {
    fn from(error: ConnectorError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}
