//! Checking a registered source again: it connects, reports latency and schema drift, and
//! re-pins the schema of a file source that no dataset uses.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use tiaokuai_catalog::{
    Binding, ColumnDef, DatabaseEngine, RemoteTableDef, SourceContent, SourceRecord,
};
use tiaokuai_connectors::database::DatabaseSource;
use tiaokuai_connectors::probe;
use tiaokuai_policies::Caller;
use utoipa::ToSchema;

use super::register::PROBE_TIMEOUT;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::permission::require_admin;
use crate::registry::{database_spec, file_spec};
use crate::schema;

/// What `POST /v1/sources/{id}/check` found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckReport {
    pub source: String,
    #[schema(value_type = String, schema_with = check_status_schema)]
    pub status: &'static str,
    pub latency_ms: u64,
    pub files: usize,
    pub bytes: u64,
    pub columns: Vec<ColumnDef>,
    pub added_columns: Vec<String>,
    pub removed_columns: Vec<String>,
    /// Whether the pinned schema was replaced by the one found. A dataset member keeps its
    /// pinned schema (the dataset needs its members alike); the drift is only reported.
    pub repinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn check_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["ok", "unavailable"]))
        .build()
}

impl Engine {
    /// Connects to a source again and compares what it finds with the pinned schema.
    pub async fn check_source(&self, caller: &Caller, id: &str) -> Result<CheckReport> {
        require_admin(caller, "checking sources")?;
        let source = self
            .catalog
            .source(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("source {id:?}").into()))?;
        let (format, pinned, table) = match &source.content {
            SourceContent::Database { engine, tables } => {
                return Ok(self.check_database(&source, *engine, tables).await);
            }
            SourceContent::Files {
                format,
                columns,
                table,
            } => (*format, columns, table),
        };
        let confinement = self.confinement().await?;
        let spec = file_spec(&source, format, self.seal_key.as_ref(), &confinement)?;
        let probed = tokio::time::timeout(PROBE_TIMEOUT, probe(&spec, &self.base)).await;
        let found = match probed {
            Ok(Ok(found)) => found,
            Ok(Err(error)) => return Ok(unavailable(&source, error.to_string())),
            Err(_) => {
                return Ok(unavailable(
                    &source,
                    format!("did not answer within {PROBE_TIMEOUT:?}"),
                ));
            }
        };
        let columns = match schema::to_columns(&found.schema) {
            Ok(columns) => columns,
            Err(error) => return Ok(unavailable(&source, error.to_string())),
        };
        let names =
            |cols: &[ColumnDef]| cols.iter().map(|c| c.name.clone()).collect::<HashSet<_>>();
        let (old, new) = (names(pinned), names(&columns));
        let mut added: Vec<String> = new.difference(&old).cloned().collect();
        let mut removed: Vec<String> = old.difference(&new).cloned().collect();
        added.sort();
        removed.sort();
        let is_member = self
            .catalog
            .datasets()
            .await?
            .iter()
            .any(|d| d.members.iter().any(|m| m.source == source.id));
        // a schema that lost a column the policy depends on is reported, not pinned: the table
        // keeps its last good schema (and fails its queries, naming the source, until fixed)
        let needed: Vec<&String> = table
            .iter()
            .flat_map(|t| {
                let binding = match &t.binding {
                    Binding::Column { column } => Some(column),
                    _ => None,
                };
                binding.into_iter().chain(t.classification.keys())
            })
            .collect();
        let lost: Vec<&String> = needed.into_iter().filter(|c| !new.contains(*c)).collect();
        let repinned = columns != *pinned && !is_member && lost.is_empty();
        let message = (!lost.is_empty()).then(|| {
            format!("not re-pinned: the policy depends on {lost:?}, which the source no longer has")
        });
        if repinned {
            self.catalog
                .update_source_columns(&source.id, &columns, caller.name())
                .await?;
            self.reload().await?;
        }
        Ok(CheckReport {
            source: source.id,
            status: "ok",
            latency_ms: found.latency.as_millis() as u64,
            files: found.files,
            bytes: found.bytes,
            columns,
            added_columns: added,
            removed_columns: removed,
            repinned,
            message,
        })
    }

    /// Connects to a database source, and compares each table with its pinned schema. Drift
    /// is reported; the pinned schema stays until the source is registered again.
    async fn check_database(
        &self,
        source: &SourceRecord,
        engine: DatabaseEngine,
        tables: &[RemoteTableDef],
    ) -> CheckReport {
        // the source's own pool (and state) when it is open; a new one when it could not be
        let open = self.registry().database(&source.id).cloned();
        let database = match open {
            Some(open) => Ok(open),
            None => match self.confinement().await {
                Ok(confinement) => {
                    database_spec(source, engine, self.seal_key.as_ref(), &confinement)
                        .map(|spec| Arc::new(DatabaseSource::new(spec)))
                }
                Err(error) => Err(error),
            },
        };
        let database = match database {
            Ok(database) => database,
            Err(error) => return unavailable(source, error.to_string()),
        };
        let latency = match database.ping().await {
            Ok(latency) => latency,
            Err(error) => return unavailable(source, error.to_string()),
        };
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut notes = Vec::new();
        for table in tables {
            match database.table_schema(&table.remote).await {
                Ok(found) => {
                    let now = match schema::to_columns(&found.schema) {
                        Ok(now) => now,
                        Err(error) => return unavailable(source, error.to_string()),
                    };
                    for c in &now {
                        if !table.columns.iter().any(|p| p.name == c.name) {
                            added.push(format!("{}.{}", table.table.name, c.name));
                        }
                    }
                    for c in &table.columns {
                        if !now
                            .iter()
                            .any(|n| n.name == c.name && n.column_type == c.column_type)
                        {
                            removed.push(format!("{}.{}", table.table.name, c.name));
                        }
                    }
                    for s in &found.skipped {
                        notes.push(format!(
                            "{}.{} ({}) is left out: {}",
                            table.table.name, s.column, s.remote_type, s.reason
                        ));
                    }
                }
                Err(error) => return unavailable(source, error.to_string()),
            }
        }
        CheckReport {
            source: source.id.clone(),
            status: "ok",
            latency_ms: latency.as_millis() as u64,
            files: 0,
            bytes: 0,
            columns: tables.iter().flat_map(|t| t.columns.clone()).collect(),
            added_columns: added,
            removed_columns: removed,
            repinned: false,
            message: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }
}

fn unavailable(source: &SourceRecord, message: String) -> CheckReport {
    CheckReport {
        source: source.id.clone(),
        status: "unavailable",
        latency_ms: 0,
        files: 0,
        bytes: 0,
        // a database's tables each have their own columns; only a check that reached it
        // lists them
        columns: match &source.content {
            SourceContent::Files { columns, .. } => columns.clone(),
            SourceContent::Database { .. } => Vec::new(),
        },
        added_columns: Vec::new(),
        removed_columns: Vec::new(),
        repinned: false,
        message: Some(message),
    }
}
