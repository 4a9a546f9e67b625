//! Registering sources. Registration connects first: the location is listed and its schema
//! read before anything is stored, and the schema is pinned in the catalog. A failure at any
//! step leaves the catalog as it was. A registrant other than admin is held to its owner's
//! grants ([`crate::reach`]) and needs `register_source` on every table it shares.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tiaokuai_catalog::{
    Binding, ColumnDef, DatabaseEngine, FileFormat, JurisdictionCode, NewSource, RemoteTableDef,
    SkippedColumn, SourceContent, SourceKind, SourceRecord, TableDef, token,
};
use tiaokuai_connectors::database::DatabaseSource;
use tiaokuai_connectors::{probe, secret};
use tiaokuai_policies::{Action, Caller};

use super::{SourceRequest, TableRequest, known_code};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::reach::Confinement;
use crate::registry::{database_spec, file_spec};
use crate::schema;

/// How long registration waits for a source to answer.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

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
                .map_err(|e| EngineError::Internal(e.to_string().into()))?;
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
                return Err(EngineError::Conflict(
                    format!("a source named {:?} already exists", request.name).into(),
                ));
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
            .map_err(|e| EngineError::BadRequest(format!("owner: {e}").into()))?;
        self.check_registrant(caller, &request, &owner)?;
        self.check_names(caller, &request, &owner).await?;
        let owner = known_code(self, &request.owner, "owner").await?;
        let confinement = self.confinement().await?;
        let confined = !caller.is_admin();
        if confined && let Some(given) = &request.secret {
            confinement.reach(&owner).given_secret(given)?;
        }
        match request.kind {
            SourceKind::Database(engine) => {
                self.store_database(caller, request, engine, owner, &confinement)
                    .await
            }
            SourceKind::Files(format) => {
                self.store_files(caller, request, format, owner, &confinement)
                    .await
            }
        }
    }

    /// Registers files: lists them, reads and pins their schema, and checks the table.
    async fn store_files(
        &self,
        caller: &Caller,
        request: SourceRequest,
        format: FileFormat,
        owner: JurisdictionCode,
        confinement: &Confinement,
    ) -> Result<SourceRecord> {
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
        let record = draft(caller, &request, &owner, &secret, &id);
        let spec = file_spec(&record, format, self.seal_key.as_ref(), confinement)?;
        if let Some(reach) = &spec.reach {
            tiaokuai_connectors::stores::check_reach(&spec, reach).await?;
        }
        let found = tokio::time::timeout(PROBE_TIMEOUT, probe(&spec, &self.base))
            .await
            .map_err(|_| {
                EngineError::BadRequest(
                    format!("{} did not answer within {PROBE_TIMEOUT:?}", request.url).into(),
                )
            })??;
        let columns = schema::to_columns(&found.schema)?;
        let table = match table {
            Some(table) => Some(self.check_table(table, &columns, &owner).await?),
            None => None,
        };
        let content = SourceContent::Files {
            format,
            columns,
            table,
        };
        Ok(self.catalog.insert_source(stored(record, content)).await?)
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
        engine: DatabaseEngine,
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
        let record = draft(caller, &request, &owner, &secret, &id);
        let spec = database_spec(&record, engine, self.seal_key.as_ref(), confinement)?;
        spec.check_reach()?;
        let database = Arc::new(DatabaseSource::new(spec));
        let mut seen = HashSet::new();
        let mut tables = Vec::with_capacity(request.tables.len());
        for table in request.tables {
            tiaokuai_catalog::store::validate_table_name(&table.name)?;
            if !seen.insert(table.name.clone()) {
                return Err(EngineError::BadRequest(
                    format!("table {:?} is listed twice", table.name).into(),
                ));
            }
            let remote = table.remote.clone().ok_or_else(|| {
                EngineError::BadRequest(
                    format!(
                        "table {:?} needs \"remote\": its name in the database",
                        table.name
                    )
                    .into(),
                )
            })?;
            let found = database.table_schema(&remote).await.map_err(|e| match e {
                refused @ tiaokuai_connectors::ConnectorError::OutOfReach(_) => refused.into(),
                other => EngineError::BadRequest(format!("registration failed: {other}").into()),
            })?;
            let columns = schema::to_columns(&found.schema)?;
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
        let content = SourceContent::Database { engine, tables };
        Ok(self.catalog.insert_source(stored(record, content)).await?)
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
                    EngineError::BadRequest(
                        format!("binding column {name:?} is not a column of the source").into(),
                    )
                })?;
                let data_type = schema::column_type(found)?;
                if !schema::is_text(&data_type) {
                    return Err(EngineError::BadRequest(format!(
                        "binding column {name:?} is {data_type}; division codes must be text (for a CSV source, set options.column_types to {{\"{name}\": \"Utf8\"}})"
                    ).into()));
                }
            }
            Binding::Fixed { fixed } => {
                if !self.catalog.has_jurisdiction(fixed).await? {
                    return Err(EngineError::BadRequest(
                        format!("binding: {fixed} is not in the jurisdiction tree").into(),
                    ));
                }
                if !owner.covers(fixed) {
                    return Err(EngineError::BadRequest(
                        format!("binding: {fixed} lies outside the owner's jurisdiction {owner}")
                            .into(),
                    ));
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
                return Err(EngineError::BadRequest(
                    format!("classification names {name:?}, which is not a column").into(),
                ));
            };
            // the ID-card, phone and name masks cut text; they cannot fit another type
            let data_type = schema::column_type(found)?;
            if class.pii.is_some() && !schema::is_text(&data_type) {
                return Err(EngineError::BadRequest(
                    format!("column {name:?} is {data_type}; a {class} column must be text").into(),
                ));
            }
        }
        Ok(TableDef {
            name: table.name,
            binding: table.binding,
            classification: table.classification,
        })
    }
}

/// The source a request describes, before anything about it is known: what opening it needs.
/// Its content is empty until registration has read the source.
fn draft(
    caller: &Caller,
    request: &SourceRequest,
    owner: &JurisdictionCode,
    secret: &Option<String>,
    id: &str,
) -> SourceRecord {
    let content = match request.kind {
        SourceKind::Files(format) => SourceContent::Files {
            format,
            columns: Vec::new(),
            table: None,
        },
        SourceKind::Database(engine) => SourceContent::Database {
            engine,
            tables: Vec::new(),
        },
    };
    SourceRecord {
        id: id.to_owned(),
        name: request.name.clone(),
        url: request.url.clone(),
        options: request.options.clone(),
        secret: secret.clone(),
        owner: owner.clone(),
        content,
        created_by: caller.name().to_owned(),
        confined: !caller.is_admin(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// What the catalog stores of a draft, once registration has read what it holds.
fn stored(record: SourceRecord, content: SourceContent) -> NewSource {
    NewSource {
        id: record.id,
        name: record.name,
        url: record.url,
        options: record.options,
        secret: record.secret,
        owner: record.owner,
        content,
        created_by: record.created_by,
        confined: record.confined,
    }
}

fn registration_denied(caller: &Caller, object: &str, owner: &JurisdictionCode) -> EngineError {
    EngineError::PermissionDenied(
        format!(
            "{} may not register {object} for sources owned by {owner}",
            caller.name()
        )
        .into(),
    )
}
