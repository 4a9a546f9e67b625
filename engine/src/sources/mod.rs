//! Sources: what departments register (files on disk, S3 or HTTP; databases), and how they
//! are read, listed and removed.
//!
//! - [`register`]: registration, which connects first and pins what it finds.
//! - [`check`]: connecting again to report latency and schema drift.

mod check;
mod register;

pub use check::CheckReport;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use tiaokuai_catalog::{Binding, Classification, JurisdictionCode, SourceKind, SourceRecord};
use tiaokuai_policies::Caller;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::permission::require_admin;

/// `POST /v1/sources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    /// A secret reference (`env:NAME`, `file:/path`).
    #[serde(default)]
    pub secret: Option<String>,
    /// The jurisdiction that owns the source.
    pub owner: String,
    #[serde(default)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub tables: Vec<TableRequest>,
}

/// A table a source exposes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRequest {
    pub name: String,
    /// The table inside a database source; file sources have none.
    #[serde(default)]
    pub remote: Option<String>,
    pub binding: Binding,
    #[serde(default)]
    pub classification: BTreeMap<String, Classification>,
}

/// A known node of the jurisdiction tree, or a clear error naming `what` it was for.
pub(crate) async fn known_code(
    engine: &Engine,
    text: &str,
    what: &str,
) -> Result<JurisdictionCode> {
    let code = JurisdictionCode::parse(text)
        .map_err(|e| EngineError::BadRequest(format!("{what}: {e}")))?;
    if !engine.catalog.has_jurisdiction(&code).await? {
        return Err(EngineError::BadRequest(format!(
            "{what}: {code} is not in the jurisdiction tree"
        )));
    }
    Ok(code)
}

impl Engine {
    pub async fn delete_source(&self, caller: &Caller, id: &str) -> Result<()> {
        require_admin(caller, "deleting sources")?;
        self.catalog.delete_source(id, caller.name()).await?;
        self.reload().await
    }
    /// Every registered source (`admin`).
    pub async fn sources(&self, caller: &Caller) -> Result<Vec<SourceRecord>> {
        require_admin(caller, "listing sources")?;
        Ok(self.catalog.sources().await?)
    }

    /// One source (`admin`) with its live state, if it is a database.
    pub async fn source(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(
        SourceRecord,
        Option<tiaokuai_connectors::database::SourceState>,
    )> {
        require_admin(caller, "reading sources")?;
        let source = self
            .catalog
            .source(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("source {id:?}")))?;
        Ok((source, self.source_state(id)))
    }
}
