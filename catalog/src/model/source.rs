//! Registered sources: what kind each is, and what it holds by kind.
//!
//! A source is files (one pinned schema, at most one table of its own) or a database (the
//! tables it shares, each with its own pinned schema). [`SourceContent`] says which, so no
//! code asks a file source for database tables or the other way round. The API keeps one
//! flat form for both (`kind`, `table`, `columns`, `tables`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{Binding, Classification, ColumnDef};
use crate::error::CatalogError;
use crate::jurisdiction::JurisdictionCode;

/// The file formats a source may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
}

/// The databases a source may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseEngine {
    Postgres,
    Mysql,
    Sqlite,
}

/// The kind of a source, written `parquet`, `csv`, `postgres`, `mysql` or `sqlite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Files(FileFormat),
    Database(DatabaseEngine),
}

impl SourceKind {
    const ALL: [SourceKind; 5] = [
        SourceKind::Files(FileFormat::Parquet),
        SourceKind::Files(FileFormat::Csv),
        SourceKind::Database(DatabaseEngine::Postgres),
        SourceKind::Database(DatabaseEngine::Mysql),
        SourceKind::Database(DatabaseEngine::Sqlite),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Files(FileFormat::Parquet) => "parquet",
            SourceKind::Files(FileFormat::Csv) => "csv",
            SourceKind::Database(DatabaseEngine::Postgres) => "postgres",
            SourceKind::Database(DatabaseEngine::Mysql) => "mysql",
            SourceKind::Database(DatabaseEngine::Sqlite) => "sqlite",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                CatalogError::invalid(format!(
                    "unknown source kind {s:?}: expected parquet, csv, postgres, mysql or sqlite"
                ))
            })
    }
}

impl Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SourceKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialSchema for SourceKind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.map(SourceKind::as_str)))
            .into()
    }
}

impl ToSchema for SourceKind {}

/// The SQL table a source exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TableDef {
    /// `schema.table`.
    pub name: String,
    pub binding: Binding,
    /// Classified columns; a column not named here is [`Classification::DEFAULT`].
    #[serde(default)]
    pub classification: BTreeMap<String, Classification>,
}

/// A remote column a database table has but tiaokuai does not serve, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkippedColumn {
    pub column: String,
    pub remote_type: String,
    pub reason: String,
}

/// One table of a database source, with its pinned schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteTableDef {
    #[serde(flatten)]
    pub table: TableDef,
    /// The table's name inside the database (`schema.table` or `table`).
    pub remote: String,
    pub columns: Vec<ColumnDef>,
    /// Columns left out because no Arrow type maps them.
    #[serde(default)]
    pub skipped: Vec<SkippedColumn>,
    /// Each served column's type as the database names it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote_types: BTreeMap<String, String>,
}

/// What a source holds, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceContent {
    Files {
        format: FileFormat,
        /// The files' pinned schema.
        columns: Vec<ColumnDef>,
        /// The table the files serve by themselves; `None` for a source that only serves as
        /// a member of union datasets.
        table: Option<TableDef>,
    },
    Database {
        engine: DatabaseEngine,
        /// The tables it shares, each with its own pinned schema; never empty.
        tables: Vec<RemoteTableDef>,
    },
}

impl SourceContent {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceContent::Files { format, .. } => SourceKind::Files(*format),
            SourceContent::Database { engine, .. } => SourceKind::Database(*engine),
        }
    }

    /// The tables the source serves under its own name.
    pub fn tables(&self) -> Vec<&TableDef> {
        match self {
            SourceContent::Files { table, .. } => table.iter().collect(),
            SourceContent::Database { tables, .. } => tables.iter().map(|t| &t.table).collect(),
        }
    }

    /// The schema the source has as one table, as a union member reads it: a file source's,
    /// or the only table's of a database source that shares one.
    pub fn single_schema(&self) -> Option<&[ColumnDef]> {
        match self {
            SourceContent::Files { columns, .. } => Some(columns),
            SourceContent::Database { tables, .. } => match tables.as_slice() {
                [only] => Some(&only.columns),
                _ => None,
            },
        }
    }
}

/// A source to be registered.
#[derive(Debug, Clone)]
pub struct NewSource {
    /// Chosen by the caller (see [`crate::token::new_id`]), because opening a source before it
    /// is stored already needs a stable key for it.
    pub id: String,
    pub name: String,
    pub url: String,
    /// Non-secret connection options (endpoint, region, partition columns, …).
    pub options: serde_json::Map<String, serde_json::Value>,
    /// A secret *reference* (`env:NAME`, `file:/path`) or a sealed value, never a plain secret.
    pub secret: Option<String>,
    pub owner: JurisdictionCode,
    pub content: SourceContent,
    pub created_by: String,
    /// Registered by a non-admin: the source reaches only what admin granted its owner.
    pub confined: bool,
}

/// A registered source.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub id: String,
    pub name: String,
    pub url: String,
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Never shown.
    pub secret: Option<String>,
    pub owner: JurisdictionCode,
    pub content: SourceContent,
    pub created_by: String,
    /// Registered by a non-admin: the source reaches only what admin granted its owner.
    pub confined: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl SourceRecord {
    pub fn kind(&self) -> SourceKind {
        self.content.kind()
    }
}

/// A registered source as the API shows it: one flat form for every kind.
#[derive(Serialize, ToSchema)]
#[schema(as = SourceRecord)]
struct SourceView<'a> {
    id: &'a str,
    name: &'a str,
    kind: SourceKind,
    url: &'a str,
    #[schema(value_type = Object)]
    options: &'a serde_json::Map<String, serde_json::Value>,
    owner: &'a JurisdictionCode,
    /// A file source's own table.
    #[schema(value_type = Option<TableDef>)]
    table: Option<&'a TableDef>,
    /// A file source's pinned schema; empty for a database.
    #[schema(value_type = Vec<ColumnDef>)]
    columns: &'a [ColumnDef],
    /// The tables of a database source; absent for a file source.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<RemoteTableDef>)]
    tables: &'a [RemoteTableDef],
    created_by: &'a str,
    confined: bool,
    created_at: &'a str,
    updated_at: &'a str,
}

impl Serialize for SourceRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (table, columns, tables): (_, &[ColumnDef], &[RemoteTableDef]) = match &self.content {
            SourceContent::Files { columns, table, .. } => (table.as_ref(), columns, &[]),
            SourceContent::Database { tables, .. } => (None, &[], tables),
        };
        SourceView {
            id: &self.id,
            name: &self.name,
            kind: self.kind(),
            url: &self.url,
            options: &self.options,
            owner: &self.owner,
            table,
            columns,
            tables,
            created_by: &self.created_by,
            confined: self.confined,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
        }
        .serialize(serializer)
    }
}

impl PartialSchema for SourceRecord {
    fn schema() -> RefOr<Schema> {
        SourceView::schema()
    }
}

impl ToSchema for SourceRecord {
    fn name() -> std::borrow::Cow<'static, str> {
        SourceView::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        SourceView::schemas(schemas)
    }
}
