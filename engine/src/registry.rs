//! The tables the engine serves: every source that exposes a table, every union dataset,
//! `system.jurisdictions`, and the governance tables the engine adds. The registry is immutable; a change builds a new one from the
//! catalog and swaps it in, so a running query keeps the snapshot it started with.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnv;
use serde::Serialize;
use tiaokuai_catalog::{
    Binding, Catalog, Classification, DatabaseEngine, DatasetRecord, FileFormat, GrantRecord,
    Jurisdiction, RemoteTableDef, SourceContent, SourceRecord,
};
use tiaokuai_connectors::database::{
    DatabaseKind, DatabaseSource, DatabaseSpec, RemoteName, RemoteTable,
};
use tiaokuai_connectors::secret::SealKey;
use tiaokuai_connectors::{
    FileFormatKind, FileSourceSpec, FileTable, JURISDICTION_COLUMN, UnavailableTable, UnionMember,
    UnionTable,
};
use tiaokuai_policies::JURISDICTIONS_TABLE;

use crate::error::{EngineError, Result};
use crate::reach::Confinement;
use crate::schema;

/// What a table is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Source,
    Dataset,
    System,
}

/// A column as `/v1/tables` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub classification: Classification,
}

/// A table as `/v1/tables` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TableInfo {
    pub name: String,
    pub kind: TableKind,
    pub columns: Vec<ColumnInfo>,
    pub binding: Option<Binding>,
    /// The source or dataset id behind the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What the served tables are built from, read from the catalog in one go before the build
/// (which DataFusion's synchronous planning then reads from memory).
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    pub jurisdictions: Vec<Jurisdiction>,
    pub sources: Vec<SourceRecord>,
    pub datasets: Vec<DatasetRecord>,
    pub grants: Vec<GrantRecord>,
}

impl CatalogSnapshot {
    pub async fn load(catalog: &dyn Catalog) -> Result<Self> {
        Ok(Self {
            jurisdictions: catalog.jurisdictions().await?,
            sources: catalog.sources().await?,
            datasets: catalog.datasets().await?,
            grants: catalog.grants().await?,
        })
    }
}

/// One served table.
#[derive(Debug, Clone)]
pub struct TableEntry {
    pub info: TableInfo,
    pub provider: Arc<dyn TableProvider>,
    /// Whether the table lives in a database, which can evaluate a caller's view of it.
    pub remote: bool,
}

/// All served tables, by `schema.table`.
#[derive(Debug, Default)]
pub struct TableRegistry {
    tables: BTreeMap<String, TableEntry>,
    /// Open database sources by source id, with the registration they were opened from: a
    /// rebuild keeps the pools of the sources that did not change.
    databases: HashMap<String, (String, Arc<DatabaseSource>)>,
}

impl TableRegistry {
    pub fn get(&self, name: &str) -> Option<&TableEntry> {
        self.tables.get(name)
    }

    pub fn entries(&self) -> impl Iterator<Item = &TableEntry> {
        self.tables.values()
    }

    /// The same registry, also serving `extra` (tables the engine keeps across rebuilds).
    pub fn serving(mut self, extra: &[TableEntry]) -> Self {
        for entry in extra {
            self.tables.insert(entry.info.name.clone(), entry.clone());
        }
        self
    }

    /// Every open database source.
    pub fn databases(&self) -> impl Iterator<Item = &Arc<DatabaseSource>> {
        self.databases.values().map(|(_, source)| source)
    }

    /// The open database source with this id.
    pub fn database(&self, id: &str) -> Option<&Arc<DatabaseSource>> {
        self.databases.get(id).map(|(_, source)| source)
    }

    /// Builds the registry from the catalog. Opening a source does no I/O, so this is cheap
    /// even with hundreds of sources. A source that cannot be opened is left out and logged:
    /// one broken registration must not take every other table down with it.
    pub fn build(
        snapshot: &CatalogSnapshot,
        runtime: &RuntimeEnv,
        seal_key: Option<&SealKey>,
        private_paths: &[std::path::PathBuf],
        previous: Option<&TableRegistry>,
    ) -> Result<Self> {
        let confinement = &Confinement::new(snapshot.grants.clone(), private_paths);
        let mut tables = BTreeMap::new();
        let jurisdictions = jurisdictions_table(&snapshot.jurisdictions)?;
        tables.insert(JURISDICTIONS_TABLE.to_owned(), jurisdictions);

        let mut providers: HashMap<String, Arc<dyn TableProvider>> = HashMap::new();
        let mut databases = HashMap::new();
        for source in &snapshot.sources {
            match &source.content {
                SourceContent::Database {
                    engine,
                    tables: shared,
                } => {
                    let kept = previous.and_then(|p| p.databases.get(&source.id));
                    let opened =
                        open_database(source, *engine, shared, seal_key, confinement, kept);
                    if let Some(database) = &opened.database {
                        databases
                            .insert(source.id.clone(), (opened.print.clone(), database.clone()));
                    }
                    if let [(_, only)] = opened.tables.as_slice() {
                        providers.insert(source.id.clone(), only.provider.clone());
                    }
                    tables.extend(opened.tables);
                }
                SourceContent::Files {
                    format,
                    columns,
                    table,
                } => {
                    let pinned = schema::to_schema(columns)?;
                    let provider = open_files(
                        source,
                        *format,
                        &pinned,
                        runtime,
                        seal_key,
                        confinement,
                    )
                    .unwrap_or_else(|error| {
                        // one broken registration must not take every other table down,
                        // nor disappear: it answers "source unavailable" naming itself
                        tracing::warn!(source = %source.name, %error, "source cannot be opened");
                        Arc::new(UnavailableTable::new(&source.name, pinned.clone(), &error))
                    });
                    if let Some(table) = table {
                        let info = TableInfo {
                            name: table.name.clone(),
                            kind: TableKind::Source,
                            columns: column_infos(columns, &table.classification, None),
                            binding: Some(table.binding.clone()),
                            id: Some(source.id.clone()),
                        };
                        let entry = TableEntry {
                            info,
                            provider: provider.clone(),
                            remote: false,
                        };
                        tables.insert(table.name.clone(), entry);
                    }
                    providers.insert(source.id.clone(), provider);
                }
            }
        }

        for dataset in &snapshot.datasets {
            let member_schema = schema::to_schema(&dataset.columns)?;
            let mut members = Vec::with_capacity(dataset.members.len());
            for member in &dataset.members {
                match providers.get(&member.source) {
                    Some(provider) => members.push(UnionMember {
                        jurisdiction: member.jurisdiction.to_string(),
                        provider: provider.clone(),
                    }),
                    None => {
                        tracing::warn!(dataset = %dataset.name, source = %member.source, "union member left out: its source cannot be opened")
                    }
                }
            }
            let info = TableInfo {
                name: dataset.name.clone(),
                kind: TableKind::Dataset,
                columns: column_infos(
                    &dataset.columns,
                    &dataset.classification,
                    Some(JURISDICTION_COLUMN),
                ),
                binding: Some(Binding::Union {
                    union: JURISDICTION_COLUMN.to_owned(),
                }),
                id: Some(dataset.id.clone()),
            };
            let provider = Arc::new(UnionTable::new(&member_schema, members));
            tables.insert(
                dataset.name.clone(),
                TableEntry {
                    info,
                    provider,
                    remote: false,
                },
            );
        }
        Ok(Self { tables, databases })
    }
}

fn column_infos(
    columns: &[tiaokuai_catalog::ColumnDef],
    classification: &BTreeMap<String, Classification>,
    added: Option<&str>,
) -> Vec<ColumnInfo> {
    let added = added.map(|name| ColumnInfo {
        name: name.to_owned(),
        data_type: DataType::Utf8.to_string(),
        classification: Classification::DEFAULT,
    });
    added
        .into_iter()
        .chain(columns.iter().map(|c| ColumnInfo {
            name: c.name.clone(),
            data_type: c.data_type.to_string(),
            classification: classification.get(&c.name).copied().unwrap_or_default(),
        }))
        .collect()
}

/// The file-source description of a stored source, held to its owner's grants if a
/// non-admin registered it.
pub fn file_spec(
    source: &SourceRecord,
    format: FileFormat,
    seal_key: Option<&SealKey>,
    confinement: &Confinement,
) -> Result<FileSourceSpec> {
    let reach = confinement.of(source)?;
    let format = match format {
        FileFormat::Parquet => FileFormatKind::Parquet,
        FileFormat::Csv => FileFormatKind::Csv,
    };
    let mut spec = FileSourceSpec::parse(
        &source.name,
        &source.id,
        format,
        &source.url,
        &source.options,
        source.secret.as_deref(),
        seal_key,
    )?;
    spec.reach = reach;
    Ok(spec)
}

fn open_files(
    source: &SourceRecord,
    format: FileFormat,
    pinned: &SchemaRef,
    runtime: &RuntimeEnv,
    seal_key: Option<&SealKey>,
    confinement: &Confinement,
) -> Result<Arc<dyn TableProvider>> {
    let spec = file_spec(source, format, seal_key, confinement)?;
    Ok(Arc::new(FileTable::open(&spec, pinned.clone(), runtime)?))
}

/// What a database source's pool depends on: a change to any of it opens a new pool. A
/// confined source's grants are part of it, so a revoked grant closes its pool.
fn fingerprint(source: &SourceRecord, confinement: &Confinement) -> String {
    let reach = if source.confined {
        format!("{:?}", confinement.reach(&source.owner))
    } else {
        String::new()
    };
    format!(
        "{}|{}|{}|{}|{reach}",
        source.url,
        serde_json::Value::Object(source.options.clone()),
        source.secret.as_deref().unwrap_or(""),
        source.kind().as_str()
    )
}

fn database_kind(engine: DatabaseEngine) -> DatabaseKind {
    match engine {
        DatabaseEngine::Postgres => DatabaseKind::Postgres,
        DatabaseEngine::Mysql => DatabaseKind::Mysql,
        DatabaseEngine::Sqlite => DatabaseKind::Sqlite,
    }
}

/// The connection description of a stored database source, held to its owner's grants if a
/// non-admin registered it. The secret is checked against them before it is resolved.
pub fn database_spec(
    source: &SourceRecord,
    engine: DatabaseEngine,
    seal_key: Option<&SealKey>,
    confinement: &Confinement,
) -> Result<DatabaseSpec> {
    let kind = database_kind(engine);
    let reach = confinement.of(source)?;
    let mut spec = DatabaseSpec::parse(
        &source.name,
        kind,
        &source.url,
        &source.options,
        source.secret.as_deref(),
        seal_key,
    )?;
    spec.reach = reach;
    Ok(spec)
}

struct OpenedDatabase {
    /// What the pool was opened from ([`fingerprint`]).
    print: String,
    database: Option<Arc<DatabaseSource>>,
    tables: Vec<(String, TableEntry)>,
}

/// The tables of a database source. Nothing connects here; a source whose description no
/// longer parses (its secret is gone) serves tables that fail naming it.
fn open_database(
    source: &SourceRecord,
    engine: DatabaseEngine,
    shared: &[RemoteTableDef],
    seal_key: Option<&SealKey>,
    confinement: &Confinement,
    kept: Option<&(String, Arc<DatabaseSource>)>,
) -> OpenedDatabase {
    let print = fingerprint(source, confinement);
    let database = match kept {
        Some((kept_print, database)) if *kept_print == print => Ok(database.clone()),
        _ => database_spec(source, engine, seal_key, confinement)
            .map(|spec| Arc::new(DatabaseSource::new(spec))),
    };
    if let Err(error) = &database {
        tracing::warn!(source = %source.name, %error, "source cannot be opened");
    }
    let tables = shared
        .iter()
        .map(|table| {
            let provider = database
                .as_ref()
                .map_err(|e| e.to_string())
                .and_then(|database| {
                    let name = RemoteName::parse(database.kind(), &table.remote)
                        .map_err(|e| e.to_string())?;
                    let pinned = schema::to_schema(&table.columns).map_err(|e| e.to_string())?;
                    Ok(RemoteTable::provider(
                        database.clone(),
                        name,
                        pinned,
                        &table.remote_types,
                    ))
                })
                .unwrap_or_else(|reason| {
                    let pinned = schema::to_schema(&table.columns)
                        .unwrap_or_else(|_| Arc::new(Schema::empty()));
                    Arc::new(UnavailableTable::new(&source.name, pinned, reason))
                });
            let info = TableInfo {
                name: table.table.name.clone(),
                kind: TableKind::Source,
                columns: column_infos(&table.columns, &table.table.classification, None),
                binding: Some(table.table.binding.clone()),
                id: Some(source.id.clone()),
            };
            let entry = TableEntry {
                info,
                provider,
                remote: true,
            };
            (table.table.name.clone(), entry)
        })
        .collect();
    OpenedDatabase {
        print,
        database: database.ok(),
        tables,
    }
}

fn jurisdictions_table(nodes: &[Jurisdiction]) -> Result<TableEntry> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("parent", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                nodes.iter().map(|n| n.code.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                nodes.iter().map(|n| n.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                nodes.iter().map(|n| n.level.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                nodes.iter().map(|n| n.parent.as_ref().map(|p| p.as_str())),
            )),
        ],
    )
    .map_err(|e| EngineError::Internal(e.to_string().into()))?;
    let provider = MemTable::try_new(schema.clone(), vec![vec![batch]])?;
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            // the division-code tree is public information
            classification: Classification {
                sensitivity: tiaokuai_catalog::model::Sensitivity::Public,
                pii: None,
            },
        })
        .collect();
    Ok(TableEntry {
        info: TableInfo {
            name: JURISDICTIONS_TABLE.to_owned(),
            kind: TableKind::System,
            columns,
            binding: None,
            id: None,
        },
        provider: Arc::new(provider),
        remote: false,
    })
}
