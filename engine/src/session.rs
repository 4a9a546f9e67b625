//! The per-caller catalog.
//!
//! Every request plans against a catalog built for its caller. A table reference resolves
//! through [`CallerSchema::table`]: for `admin` to the registered table itself, for everyone else
//! to a [`PolicyTable`] built from the caller's decision, and to nothing at all where the
//! decision grants no rows. `system.access_log` resolves, for every caller, to its own
//! access receipts (see `audit::access_log`). Listings (`information_schema`, `SHOW
//! TABLES`, `/v1/tables`) show exactly the tables that resolve. There is no other path from
//! SQL to a table.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, SchemaProvider, TableProvider,
};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::ScalarUDF;
use tiaokuai_policies::{Caller, JURISDICTIONS_TABLE, PolicySnapshot, TableDecision};

use crate::audit::access_log::{ACCESS_LOG_TABLE, AccessLog};
use crate::error::{EngineError, Result};
use crate::policy_view::PolicyTable;
use crate::registry::{TableEntry, TableRegistry};

/// The one catalog name SQL sees.
pub const CATALOG_NAME: &str = "tiaokuai";
/// The default schema: empty, so that a bare table name gets a clear "not found".
pub const DEFAULT_SCHEMA: &str = "public";

/// What resolving tables for one caller needs.
#[derive(Debug, Clone)]
pub struct CallerView {
    pub registry: Arc<TableRegistry>,
    pub caller: Arc<Caller>,
    /// The policy version the query started with: every table it reads is decided by it.
    pub policy: PolicySnapshot,
    pub mask_hash: Arc<ScalarUDF>,
    /// The table functions SQL may call (`generate_series`): bare names that are not tables.
    pub table_functions: Arc<BTreeSet<String>>,
}

impl CallerView {
    /// The caller's decision for a table (cached per policy version).
    pub fn decision(&self, entry: &TableEntry) -> Result<Option<Arc<TableDecision>>> {
        if entry.info.name == JURISDICTIONS_TABLE
            || entry.info.name == ACCESS_LOG_TABLE
            || self.caller.is_admin()
        {
            return Ok(None);
        }
        let sensitive = crate::permission::sensitive_columns(entry);
        let decision = self
            .policy
            .decide(&self.caller, &entry.info.name, &sensitive)
            .map_err(|e| EngineError::Internal(e.to_string().into()))?;
        Ok(Some(decision))
    }

    /// Whether the caller sees the table at all.
    pub fn visible(&self, entry: &TableEntry) -> bool {
        match self.decision(entry) {
            Ok(None) => true,
            Ok(Some(decision)) => decision.visible(),
            Err(error) => {
                tracing::warn!(table = %entry.info.name, %error, "table hidden: its policy cannot be evaluated");
                false
            }
        }
    }

    /// The provider the caller's SQL reads for `entry`, if it may read it.
    pub fn provider(&self, entry: &TableEntry) -> Result<Option<Arc<dyn TableProvider>>> {
        if entry.info.name == ACCESS_LOG_TABLE {
            // every caller reads its own receipts (admin: all), chosen when the table is scanned
            let view = AccessLog::for_caller(
                entry,
                self.caller.clone(),
                self.registry.clone(),
                self.policy.clone(),
            );
            return Ok(view.map(|view| Arc::new(view) as Arc<dyn TableProvider>));
        }
        match self.decision(entry)? {
            None => Ok(Some(entry.provider.clone())),
            Some(decision) => Ok(PolicyTable::build(entry, &decision, &self.mask_hash)?
                .map(|view| Arc::new(view) as Arc<dyn TableProvider>)),
        }
    }

    fn readable(&self) -> impl Iterator<Item = &TableEntry> {
        self.registry.entries().filter(|entry| self.visible(entry))
    }
}

/// The catalog as one caller sees it.
#[derive(Debug)]
pub struct CallerCatalog {
    view: CallerView,
}

impl CallerCatalog {
    pub fn new(view: CallerView) -> Self {
        Self { view }
    }
}

impl CatalogProvider for CallerCatalog {
    fn schema_names(&self) -> Vec<String> {
        let schemas: BTreeSet<&str> = self
            .view
            .readable()
            .filter_map(|entry| entry.info.name.split_once('.').map(|(schema, _)| schema))
            .collect();
        schemas.into_iter().map(str::to_owned).collect()
    }

    /// Every schema name resolves, so that a reference to an unknown table reaches
    /// [`CallerSchema::table`] and gets a precise answer.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(CallerSchema {
            schema: name.to_owned(),
            view: self.view.clone(),
        }))
    }
}

/// One schema as one caller sees it.
#[derive(Debug)]
pub struct CallerSchema {
    schema: String,
    view: CallerView,
}

#[async_trait]
impl SchemaProvider for CallerSchema {
    fn table_names(&self) -> Vec<String> {
        let prefix = format!("{}.", self.schema);
        self.view
            .readable()
            .filter_map(|entry| entry.info.name.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let qualified = format!("{}.{name}", self.schema);
        let found = match self.view.registry.get(&qualified) {
            Some(entry) => self.view.provider(entry)?,
            None => None,
        };
        match found {
            Some(provider) => Ok(Some(provider)),
            // a bare name may be a table function (generate_series), which DataFusion resolves
            // after the tables
            None if self.schema == DEFAULT_SCHEMA && self.view.table_functions.contains(name) => {
                Ok(None)
            }
            None if self.schema == DEFAULT_SCHEMA => Err(EngineError::NotFound(
                format!("table '{name}' (tables are named schema.table, e.g. village.residents)")
                    .into(),
            )
            .into()),
            // a table the caller may not read is indistinguishable from one that does not exist
            None => Err(EngineError::NotFound(format!("table {qualified}").into()).into()),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let qualified = format!("{}.{name}", self.schema);
        self.view
            .registry
            .get(&qualified)
            .is_some_and(|entry| self.view.visible(entry))
    }
}

/// The catalogs one caller's SQL can name: [`CATALOG_NAME`], and for any other name a catalog
/// with nothing in it, so that `other.schema.table` is a precise "not found" too.
#[derive(Debug)]
pub struct CallerCatalogs {
    catalogs: MemoryCatalogProviderList,
}

impl CallerCatalogs {
    pub fn new(view: CallerView) -> Self {
        let catalogs = MemoryCatalogProviderList::new();
        catalogs
            .catalogs
            .insert(CATALOG_NAME.to_owned(), Arc::new(CallerCatalog::new(view)));
        Self { catalogs }
    }
}

impl CatalogProviderList for CallerCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.catalogs.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.catalogs.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        self.catalogs.catalog(name).or_else(|| {
            Some(Arc::new(Nowhere {
                prefix: name.to_owned(),
            }))
        })
    }
}

/// A catalog or schema that holds no tables, named by `prefix`.
#[derive(Debug)]
struct Nowhere {
    prefix: String,
}

impl CatalogProvider for Nowhere {
    fn schema_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(Nowhere {
            prefix: format!("{}.{name}", self.prefix),
        }))
    }
}

#[async_trait]
impl SchemaProvider for Nowhere {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let qualified = format!("{}.{name}", self.prefix);
        Err(EngineError::NotFound(
            format!("table '{qualified}' (tables are named schema.table, e.g. village.residents)")
                .into(),
        )
        .into())
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}
