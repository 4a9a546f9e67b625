//! Registering, checking and removing sources and union datasets.
//!
//! Registration connects first: the location is listed and its schema read before anything is
//! stored, and the schema is pinned in the catalog. A failure at any step leaves the catalog as
//! it was.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use tiaokuai_catalog::jurisdiction::RawJurisdiction;
use tiaokuai_catalog::{
    Binding, Classification, ColumnDef, DatasetMember, DatasetRecord, JurisdictionCode, NewDataset,
    NewSource, RemoteTableDef, SkippedColumn, SourceKind, SourceRecord, TableDef, token,
};
use tiaokuai_connectors::database::DatabaseSource;
use tiaokuai_connectors::{JURISDICTION_COLUMN, probe, secret};
use tiaokuai_policies::{Action, Caller};
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::reach::Confinement;
use crate::registry::{database_spec, file_spec};
use crate::schema;

/// How long registration waits for a source to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// `POST /v1/datasets`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRequest {
    #[schema(value_type = String, schema_with = tiaokuai_catalog::model::table_name_schema)]
    pub name: String,
    /// Sources of one schema, each with the jurisdiction its rows belong to.
    #[schema(min_items = 1)]
    pub members: Vec<MemberRequest>,
    #[serde(default)]
    pub classification: BTreeMap<String, Classification>,
}

/// One member of a requested dataset.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// The member source's id.
    pub source: String,
    #[schema(value_type = JurisdictionCode)]
    pub jurisdiction: String,
}

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

fn require_admin(caller: &Caller, what: &str) -> Result<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(EngineError::PermissionDenied(format!(
            "{what} is reserved for admin"
        )))
    }
}

async fn known_code(engine: &Engine, text: &str, what: &str) -> Result<JurisdictionCode> {
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
    /// Registers a source after connecting to it and reading its schema.
    pub async fn register_source(
        &self,
        caller: &Caller,
        request: SourceRequest,
    ) -> Result<SourceRecord> {
        let stored = self.store_source(caller, request).await?;
        self.reload().await?;
        Ok(stored)
    }

    /// Registers many sources and rebuilds the served tables once. Stops at the first failure;
    /// the sources stored before it stay registered.
    pub async fn register_sources(
        &self,
        caller: &Caller,
        requests: Vec<SourceRequest>,
    ) -> Result<Vec<SourceRecord>> {
        let mut stored = Vec::with_capacity(requests.len());
        let mut outcome = Ok(());
        for request in requests {
            match self.store_source(caller, request).await {
                Ok(record) => stored.push(record),
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        self.reload().await?;
        outcome.map(|()| stored)
    }

    /// `register_source` on every table the request shares (or on `*` for a source that only
    /// serves as a union member), in the owner's jurisdiction.
    fn check_registrant(
        &self,
        caller: &Caller,
        request: &SourceRequest,
        owner: &JurisdictionCode,
    ) -> Result<()> {
        let objects: Vec<&str> = match request.tables.as_slice() {
            [] => vec!["*"],
            tables => tables.iter().map(|t| t.name.as_str()).collect(),
        };
        for object in objects {
            let allowed = self
                .policies
                .allows(caller, object, Action::RegisterSource, owner)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            if !allowed {
                return Err(registration_denied(caller, object, owner));
            }
        }
        Ok(())
    }

    /// Names already taken. A table the caller cannot see is refused exactly as a name it
    /// may not register is, never with a conflict that would tell it exists; admin, who sees
    /// everything, is told of any source of the same name (others only of their own).
    async fn check_names(
        &self,
        caller: &Caller,
        request: &SourceRequest,
        owner: &JurisdictionCode,
    ) -> Result<()> {
        if caller.is_admin() {
            if self.catalog.has_source_named(&request.name).await? {
                return Err(EngineError::Conflict(format!(
                    "a source named {:?} already exists",
                    request.name
                )));
            }
            return Ok(());
        }
        let view = self.view_for(caller);
        for table in &request.tables {
            if let Some(entry) = view.registry.get(&table.name)
                && !view.visible(entry)
            {
                return Err(registration_denied(caller, &table.name, owner));
            }
        }
        Ok(())
    }

    async fn store_source(&self, caller: &Caller, request: SourceRequest) -> Result<SourceRecord> {
        let owner = JurisdictionCode::parse(&request.owner)
            .map_err(|e| EngineError::BadRequest(format!("owner: {e}")))?;
        self.check_registrant(caller, &request, &owner)?;
        self.check_names(caller, &request, &owner).await?;
        let owner = known_code(self, &request.owner, "owner").await?;
        let confinement = self.confinement().await?;
        let confined = !caller.is_admin();
        if confined && let Some(given) = &request.secret {
            confinement.reach(&owner).given_secret(given)?;
        }
        if !request.kind.is_file() {
            return self
                .store_database(caller, request, owner, &confinement)
                .await;
        }
        if request.tables.len() > 1 {
            return Err(EngineError::BadRequest(
                "a file source exposes at most one table".into(),
            ));
        }
        let table = request.tables.first().cloned();
        if let Some(table) = &table {
            if table.remote.is_some() {
                return Err(EngineError::BadRequest(
                    "file sources take no \"remote\" table name".into(),
                ));
            }
            tiaokuai_catalog::store::validate_table_name(&table.name)?;
        }
        let secret = self.sealed(request.secret.clone())?;
        let id = token::new_id("src");
        let mut record = draft(caller, &request, &owner, &secret, &id);
        let spec = file_spec(&record, self.seal_key.as_ref(), &confinement)?;
        if let Some(reach) = &spec.reach {
            tiaokuai_connectors::stores::check_reach(&spec, reach).await?;
        }
        let found = tokio::time::timeout(PROBE_TIMEOUT, probe(&spec, &self.base))
            .await
            .map_err(|_| {
                EngineError::BadRequest(format!(
                    "{} did not answer within {PROBE_TIMEOUT:?}",
                    request.url
                ))
            })??;
        record.columns = schema::to_columns(&found.schema);
        record.table = match table {
            Some(table) => Some(self.check_table(table, &record.columns, &owner).await?),
            None => None,
        };
        Ok(self.catalog.insert_source(stored(record)).await?)
    }

    /// A secret given inline is sealed with the server's key before anything stores it.
    fn sealed(&self, given: Option<String>) -> Result<Option<String>> {
        match given {
            Some(value) if !secret::is_reference(&value) => {
                let key = self.seal_key.as_ref().ok_or_else(|| {
                    EngineError::BadRequest(
                        "this server has no key to seal a secret given inline; give a reference (env:NAME, file:/path)"
                            .into(),
                    )
                })?;
                Ok(Some(secret::seal(key, &value)))
            }
            other => Ok(other),
        }
    }

    /// Registers a database: connects, reads and pins each listed table's schema, and stores
    /// the source only if every table checks out.
    async fn store_database(
        &self,
        caller: &Caller,
        request: SourceRequest,
        owner: JurisdictionCode,
        confinement: &Confinement,
    ) -> Result<SourceRecord> {
        if request.tables.is_empty() {
            return Err(EngineError::BadRequest(
                "a database source lists the tables it shares".into(),
            ));
        }
        let secret = self.sealed(request.secret.clone())?;
        let id = token::new_id("src");
        let mut record = draft(caller, &request, &owner, &secret, &id);
        let spec = database_spec(&record, self.seal_key.as_ref(), confinement)?;
        spec.check_reach()?;
        let database = Arc::new(DatabaseSource::new(spec));
        let mut seen = HashSet::new();
        let mut tables = Vec::with_capacity(request.tables.len());
        for table in request.tables {
            tiaokuai_catalog::store::validate_table_name(&table.name)?;
            if !seen.insert(table.name.clone()) {
                return Err(EngineError::BadRequest(format!(
                    "table {:?} is listed twice",
                    table.name
                )));
            }
            let remote = table.remote.clone().ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "table {:?} needs \"remote\": its name in the database",
                    table.name
                ))
            })?;
            let found = database.table_schema(&remote).await.map_err(|e| match e {
                refused @ tiaokuai_connectors::ConnectorError::OutOfReach(_) => refused.into(),
                other => EngineError::BadRequest(format!("registration failed: {other}")),
            })?;
            let columns = schema::to_columns(&found.schema);
            let skipped = found
                .skipped
                .into_iter()
                .map(|s| SkippedColumn {
                    column: s.column,
                    remote_type: s.remote_type,
                    reason: s.reason,
                })
                .collect::<Vec<_>>();
            for column in &skipped {
                tracing::warn!(source = %request.name, table = %remote, column = %column.column, remote_type = %column.remote_type, "column left out: its type has no Arrow mapping");
            }
            let table = self.check_table(table, &columns, &owner).await?;
            tables.push(RemoteTableDef {
                table,
                remote,
                columns,
                skipped,
                remote_types: found.remote_types,
            });
        }
        record.tables = tables;
        Ok(self.catalog.insert_source(stored(record)).await?)
    }

    /// Checks a requested table against the schema found.
    async fn check_table(
        &self,
        table: TableRequest,
        columns: &[ColumnDef],
        owner: &JurisdictionCode,
    ) -> Result<TableDef> {
        let column = |name: &str| columns.iter().find(|c| c.name == name);
        match &table.binding {
            Binding::Column { column: name } => {
                let found = column(name).ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "binding column {name:?} is not a column of the source"
                    ))
                })?;
                let data_type = schema::column_type(found)?;
                if !schema::is_text(&data_type) {
                    return Err(EngineError::BadRequest(format!(
                        "binding column {name:?} is {data_type}; division codes must be text (for a CSV source, set options.column_types to {{\"{name}\": \"Utf8\"}})"
                    )));
                }
            }
            Binding::Fixed { fixed } => {
                if !self.catalog.has_jurisdiction(fixed).await? {
                    return Err(EngineError::BadRequest(format!(
                        "binding: {fixed} is not in the jurisdiction tree"
                    )));
                }
                if !owner.covers(fixed) {
                    return Err(EngineError::BadRequest(format!(
                        "binding: {fixed} lies outside the owner's jurisdiction {owner}"
                    )));
                }
            }
            Binding::Union { .. } => {
                return Err(EngineError::BadRequest(
                    "a union binding belongs to datasets (POST /v1/datasets), not to a source"
                        .into(),
                ));
            }
        }
        for (name, class) in &table.classification {
            let Some(found) = column(name) else {
                return Err(EngineError::BadRequest(format!(
                    "classification names {name:?}, which is not a column"
                )));
            };
            // the ID-card, phone and name masks cut text; they cannot fit another type
            let data_type = schema::column_type(found)?;
            if class.pii.is_some() && !schema::is_text(&data_type) {
                return Err(EngineError::BadRequest(format!(
                    "column {name:?} is {data_type}; a {class} column must be text"
                )));
            }
        }
        Ok(TableDef {
            name: table.name,
            binding: table.binding,
            classification: table.classification,
        })
    }

    /// Connects to a source again and compares what it finds with the pinned schema.
    pub async fn check_source(&self, caller: &Caller, id: &str) -> Result<CheckReport> {
        require_admin(caller, "checking sources")?;
        let source = self
            .catalog
            .source(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("source {id:?}")))?;
        if !source.kind.is_file() {
            return Ok(self.check_database(&source).await);
        }
        let spec = file_spec(&source, self.seal_key.as_ref(), &self.confinement().await?)?;
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
        let columns = schema::to_columns(&found.schema);
        let names =
            |cols: &[ColumnDef]| cols.iter().map(|c| c.name.clone()).collect::<HashSet<_>>();
        let (old, new) = (names(&source.columns), names(&columns));
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
        let needed: Vec<&String> = source
            .table
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
        let repinned = columns != source.columns && !is_member && lost.is_empty();
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
    async fn check_database(&self, source: &SourceRecord) -> CheckReport {
        // the source's own pool (and state) when it is open; a new one when it could not be
        let open = self.registry().database(&source.id).cloned();
        let database = match open {
            Some(open) => Ok(open),
            None => match self.confinement().await {
                Ok(confinement) => database_spec(source, self.seal_key.as_ref(), &confinement)
                    .map(|spec| Arc::new(DatabaseSource::new(spec))),
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
        for table in &source.tables {
            match database.table_schema(&table.remote).await {
                Ok(found) => {
                    let now = schema::to_columns(&found.schema);
                    for c in &now {
                        if !table.columns.iter().any(|p| p.name == c.name) {
                            added.push(format!("{}.{}", table.table.name, c.name));
                        }
                    }
                    for c in &table.columns {
                        if !now
                            .iter()
                            .any(|n| n.name == c.name && n.data_type == c.data_type)
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
            columns: source
                .tables
                .iter()
                .flat_map(|t| t.columns.clone())
                .collect(),
            added_columns: added,
            removed_columns: removed,
            repinned: false,
            message: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }

    pub async fn delete_source(&self, caller: &Caller, id: &str) -> Result<()> {
        require_admin(caller, "deleting sources")?;
        self.catalog.delete_source(id, caller.name()).await?;
        self.reload().await
    }

    /// Creates a union dataset over sources of one schema.
    pub async fn create_dataset(
        &self,
        caller: &Caller,
        request: DatasetRequest,
    ) -> Result<DatasetRecord> {
        require_admin(caller, "creating datasets")?;
        tiaokuai_catalog::store::validate_table_name(&request.name)?;
        if request.members.is_empty() {
            return Err(EngineError::BadRequest(
                "a dataset needs at least one member".into(),
            ));
        }
        let mut seen = HashSet::new();
        let mut members = Vec::with_capacity(request.members.len());
        let mut columns: Option<(String, Vec<ColumnDef>)> = None;
        for member in &request.members {
            if !seen.insert(member.source.clone()) {
                return Err(EngineError::BadRequest(format!(
                    "source {:?} is listed twice",
                    member.source
                )));
            }
            let source = self.catalog.source(&member.source).await?.ok_or_else(|| {
                EngineError::BadRequest(format!("member source {:?} does not exist", member.source))
            })?;
            let jurisdiction = known_code(
                self,
                &member.jurisdiction,
                &format!("member {:?}", source.name),
            )
            .await?;
            if source.columns.iter().any(|c| c.name == JURISDICTION_COLUMN) {
                return Err(EngineError::BadRequest(format!(
                    "member {:?} already has a {JURISDICTION_COLUMN} column, which the dataset adds",
                    source.name
                )));
            }
            let source_columns = match (source.kind.is_file(), source.tables.as_slice()) {
                (true, _) => source.columns.clone(),
                (false, [only]) => only.columns.clone(),
                (false, _) => {
                    return Err(EngineError::BadRequest(format!(
                        "member {:?} is a database with several tables; register the member table as a source of its own",
                        source.name
                    )));
                }
            };
            if source_columns.iter().any(|c| c.name == JURISDICTION_COLUMN) {
                return Err(EngineError::BadRequest(format!(
                    "member {:?} already has a {JURISDICTION_COLUMN} column, which the dataset adds",
                    source.name
                )));
            }
            match &columns {
                None => columns = Some((source.name.clone(), source_columns)),
                Some((first, expected)) if !same_columns(expected, &source_columns) => {
                    return Err(EngineError::BadRequest(format!(
                        "member {:?} has a different schema from member {first:?}",
                        source.name
                    )));
                }
                Some(_) => {}
            }
            members.push(DatasetMember {
                source: source.id,
                jurisdiction,
            });
        }
        let (_, columns) = columns.expect("at least one member");
        if let Some(unknown) = request
            .classification
            .keys()
            .find(|name| !columns.iter().any(|c| &&c.name == name))
        {
            return Err(EngineError::BadRequest(format!(
                "classification names {unknown:?}, which is not a column"
            )));
        }
        // nullability may differ between members; the union is nullable wherever any member is
        let columns = columns
            .into_iter()
            .map(|c| ColumnDef {
                nullable: true,
                ..c
            })
            .collect();
        let stored = self
            .catalog
            .insert_dataset(NewDataset {
                name: request.name,
                members,
                classification: request.classification,
                columns,
                created_by: caller.name().to_owned(),
            })
            .await?;
        self.reload().await?;
        Ok(stored)
    }

    pub async fn delete_dataset(&self, caller: &Caller, id: &str) -> Result<()> {
        require_admin(caller, "deleting datasets")?;
        self.catalog.delete_dataset(id, caller.name()).await?;
        self.reload().await
    }

    /// Adds or updates jurisdiction nodes; `system.jurisdictions` shows them to the next query.
    pub async fn upsert_jurisdictions(
        &self,
        caller: &Caller,
        batch: &[RawJurisdiction],
    ) -> Result<usize> {
        require_admin(caller, "changing the jurisdiction tree")?;
        let count = self
            .catalog
            .upsert_jurisdictions(batch, caller.name())
            .await?;
        self.reload().await?;
        Ok(count)
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

    /// Every union dataset (`admin`).
    pub async fn datasets(&self, caller: &Caller) -> Result<Vec<DatasetRecord>> {
        require_admin(caller, "listing datasets")?;
        Ok(self.catalog.datasets().await?)
    }

    pub async fn dataset(&self, caller: &Caller, id: &str) -> Result<DatasetRecord> {
        require_admin(caller, "reading datasets")?;
        self.catalog
            .dataset(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("dataset {id:?}")))
    }

    /// Catalog changes that need admin and no engine work: principals and tokens.
    pub fn require_admin(&self, caller: &Caller, what: &str) -> Result<()> {
        require_admin(caller, what)
    }
}

/// Whether two members have the same columns; text is text however it is stored (Parquet's
/// string views, a database's strings), and the union reads every member as its own type.
/// The source a request describes, before anything about it is known: what opening it needs.
fn draft(
    caller: &Caller,
    request: &SourceRequest,
    owner: &JurisdictionCode,
    secret: &Option<String>,
    id: &str,
) -> SourceRecord {
    SourceRecord {
        id: id.to_owned(),
        name: request.name.clone(),
        kind: request.kind,
        url: request.url.clone(),
        options: request.options.clone(),
        secret: secret.clone(),
        owner: owner.clone(),
        table: None,
        columns: Vec::new(),
        tables: Vec::new(),
        created_by: caller.name().to_owned(),
        confined: !caller.is_admin(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// What the catalog stores of a checked draft.
fn stored(record: SourceRecord) -> NewSource {
    NewSource {
        id: record.id,
        name: record.name,
        kind: record.kind,
        url: record.url,
        options: record.options,
        secret: record.secret,
        owner: record.owner,
        table: record.table,
        columns: record.columns,
        tables: record.tables,
        created_by: record.created_by,
        confined: record.confined,
    }
}

fn registration_denied(caller: &Caller, object: &str, owner: &JurisdictionCode) -> EngineError {
    EngineError::PermissionDenied(format!(
        "{} may not register {object} for sources owned by {owner}",
        caller.name()
    ))
}

fn same_columns(a: &[ColumnDef], b: &[ColumnDef]) -> bool {
    let alike =
        |x: &ColumnDef, y: &ColumnDef| match (schema::column_type(x), schema::column_type(y)) {
            (Ok(s), Ok(t)) => s == t || (schema::is_text(&s) && schema::is_text(&t)),
            _ => false,
        };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && alike(x, y))
}

fn unavailable(source: &SourceRecord, message: String) -> CheckReport {
    CheckReport {
        source: source.id.clone(),
        status: "unavailable",
        latency_ms: 0,
        files: 0,
        bytes: 0,
        columns: source.columns.clone(),
        added_columns: Vec::new(),
        removed_columns: Vec::new(),
        repinned: false,
        message: Some(message),
    }
}
