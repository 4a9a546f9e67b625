//! The per-caller catalog.
//!
//! Every request plans against a catalog built for its caller. Table references resolve through
//! [`CallerSchema::table`], which answers with the table, with "permission denied" for a table
//! that exists but that the caller may not read, or with "not found". Listings
//! (`information_schema`, `SHOW TABLES`) show only what the caller may read. There is no other
//! path from SQL to a table.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result as DfResult;

use crate::error::EngineError;
use crate::registry::TableRegistry;
use tiaokuai_policies::Caller;

/// The one catalog name SQL sees.
pub const CATALOG_NAME: &str = "tiaokuai";
/// The default schema: empty, so that a bare table name gets a clear "not found".
pub const DEFAULT_SCHEMA: &str = "public";

/// The catalog as one caller sees it.
#[derive(Debug)]
pub struct CallerCatalog {
    registry: Arc<TableRegistry>,
    caller: Arc<Caller>,
}

impl CallerCatalog {
    pub fn new(registry: Arc<TableRegistry>, caller: Arc<Caller>) -> Self {
        Self { registry, caller }
    }

    fn readable(&self) -> impl Iterator<Item = &str> {
        self.registry
            .entries()
            .map(|entry| entry.info.name.as_str())
            .filter(|name| self.caller.may_read_table(name))
    }
}

impl CatalogProvider for CallerCatalog {
    fn schema_names(&self) -> Vec<String> {
        let schemas: BTreeSet<&str> = self
            .readable()
            .filter_map(|name| name.split_once('.').map(|(schema, _)| schema))
            .collect();
        schemas.into_iter().map(str::to_owned).collect()
    }

    /// Every schema name resolves, so that a reference to an unknown table reaches
    /// [`CallerSchema::table`] and gets a precise answer.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(CallerSchema {
            schema: name.to_owned(),
            registry: self.registry.clone(),
            caller: self.caller.clone(),
        }))
    }
}

/// One schema as one caller sees it.
#[derive(Debug)]
pub struct CallerSchema {
    schema: String,
    registry: Arc<TableRegistry>,
    caller: Arc<Caller>,
}

impl CallerSchema {
    fn qualified(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }
}

#[async_trait]
impl SchemaProvider for CallerSchema {
    fn table_names(&self) -> Vec<String> {
        let prefix = format!("{}.", self.schema);
        self.registry
            .entries()
            .map(|entry| entry.info.name.as_str())
            .filter(|name| self.caller.may_read_table(name))
            .filter_map(|name| name.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let qualified = self.qualified(name);
        match self.registry.get(&qualified) {
            Some(entry) if self.caller.may_read_table(&qualified) => {
                Ok(Some(entry.provider.clone()))
            }
            Some(_) => Err(EngineError::PermissionDenied(format!(
                "{} may not read table {qualified}",
                self.caller.name()
            ))
            .into()),
            // a bare name may still be a table function (generate_series); DataFusion itself
            // reports a bare name that is neither
            None if self.schema == DEFAULT_SCHEMA => Ok(None),
            None => Err(EngineError::NotFound(format!("table {qualified}")).into()),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let qualified = self.qualified(name);
        self.registry.get(&qualified).is_some() && self.caller.may_read_table(&qualified)
    }
}
