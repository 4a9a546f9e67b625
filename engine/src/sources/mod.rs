//! Sources: what departments register (files on disk, S3 or HTTP; databases), and how they
//! are read, listed and removed.
//!
//! - [`register`]: registration, which connects first and pins what it finds.
//! - [`check`]: connecting again to report latency and schema drift.

mod check;
mod freshness;
mod register;

pub use check::CheckReport;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use tiaokuai_catalog::{Binding, Classification, JurisdictionCode, SourceKind, SourceRecord};
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::permission::require_admin;

/// `POST /v1/sources`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    /// 1 to 128 characters, none of them a control character.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    pub kind: SourceKind,
    /// File kinds: `file:///…`, `s3://bucket/prefix/` or `http(s)://…`; databases:
    /// `postgres://user@host:port/db`, `mysql://…`, `sqlite:///path`. Never credentials.
    pub url: String,
    /// A secret reference (`env:NAME`, `file:/path`), or a value given inline, which the
    /// server seals with its key before storing it. Never returned.
    #[serde(default)]
    pub secret: Option<String>,
    /// The jurisdiction that owns the source.
    #[schema(value_type = JurisdictionCode)]
    pub owner: String,
    #[serde(default)]
    #[schema(schema_with = tiaokuai_connectors::source_options_schema)]
    pub options: Map<String, Value>,
    /// The tables the source shares: at most one for a file source, at least one for a
    /// database.
    #[serde(default)]
    pub tables: Vec<TableRequest>,
}

/// A table a source exposes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableRequest {
    #[schema(value_type = String, schema_with = tiaokuai_catalog::model::table_name_schema)]
    pub name: String,
    /// The table inside a database source; file sources have none.
    #[serde(default)]
    pub remote: Option<String>,
    #[schema(schema_with = Binding::source_schema)]
    pub binding: Binding,
    /// Column name → classification; a column not named is `internal`.
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
        .map_err(|e| EngineError::BadRequest(format!("{what}: {e}").into()))?;
    if !engine.catalog.has_jurisdiction(&code).await? {
        return Err(EngineError::BadRequest(
            format!("{what}: {code} is not in the jurisdiction tree").into(),
        ));
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
            .ok_or_else(|| EngineError::NotFound(format!("source {id:?}").into()))?;
        Ok((source, self.source_state(id)))
    }
}
