//! Parquet and CSV sources as listing tables with a pinned schema.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

use crate::error::{ConnectorError, Result};
use crate::spec::{FileFormatKind, FileSourceSpec};
use crate::stores;

/// A file source as a table. Scans go to DataFusion's `ListingTable`; before each scan the
/// source is checked to still hold files, so a source whose files vanished fails with its name
/// instead of quietly answering with no rows.
#[derive(Debug)]
pub struct FileTable {
    source_name: String,
    listing: Arc<ListingTable>,
    urls: Vec<ListingTableUrl>,
    display_urls: Vec<String>,
}

/// What a probe of a source found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The file columns followed by the partition columns.
    pub schema: SchemaRef,
    pub files: usize,
    pub bytes: u64,
    pub latency: Duration,
}

fn listing_options(spec: &FileSourceSpec) -> ListingOptions {
    let format: Arc<dyn FileFormat> = match spec.format {
        FileFormatKind::Parquet => Arc::new(ParquetFormat::default()),
        FileFormatKind::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(spec.has_header)
                .with_delimiter(spec.delimiter),
        ),
    };
    ListingOptions::new(format)
        .with_file_extension(spec.file_extension.clone())
        .with_table_partition_cols(
            spec.partition_columns
                .iter()
                .map(|c| (c.clone(), DataType::Utf8))
                .collect(),
        )
}

/// Connects to a source, counts its files and reads its schema: the registration-time check.
/// Every failure is the caller's to fix (`InvalidSpec`), with the reason.
/// How fresh a file source is: how many files it holds now, and when the newest of them was
/// last changed (RFC 3339, UTC). Lists, and reads nothing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub files: usize,
    pub last_modified: Option<String>,
}

/// The files of one listing URL, as a query would find them.
async fn files_at(
    state: &dyn Session,
    url: &ListingTableUrl,
    store: &dyn object_store::ObjectStore,
    spec: &FileSourceSpec,
    shown: &url::Url,
) -> Result<Vec<object_store::ObjectMeta>> {
    let failed = |e: DataFusionError| {
        ConnectorError::invalid(format!("cannot list {shown}: {}", e.strip_backtrace()))
    };
    url.list_all_files(state, store, &spec.file_extension)
        .await
        .map_err(failed)?
        .try_collect()
        .await
        .map_err(failed)
}

/// Lists a file source's files, as a query would find them.
pub async fn list(spec: &FileSourceSpec, state: &dyn Session) -> Result<Listed> {
    stores::register(spec, state.runtime_env())?;
    let urls = stores::listing_urls(spec)?;
    let mut files = 0;
    let mut newest: Option<chrono::DateTime<chrono::Utc>> = None;
    for (url, shown) in urls.iter().zip(&spec.urls) {
        let store = state
            .runtime_env()
            .object_store(url)
            .map_err(|e| ConnectorError::invalid(format!("{shown}: {e}")))?;
        let found = files_at(state, url, store.as_ref(), spec, shown).await?;
        files += found.len();
        newest = found
            .iter()
            .map(|meta| meta.last_modified)
            .chain(newest)
            .max();
    }
    Ok(Listed {
        files,
        last_modified: newest.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    })
}

pub async fn probe(spec: &FileSourceSpec, state: &dyn Session) -> Result<Probe> {
    let started = Instant::now();
    stores::register(spec, state.runtime_env())?;
    let urls = stores::listing_urls(spec)?;
    let options = listing_options(spec);
    let mut files = 0;
    let mut bytes = 0;
    for (url, shown) in urls.iter().zip(&spec.urls) {
        let store = state
            .runtime_env()
            .object_store(url)
            .map_err(|e| ConnectorError::invalid(format!("{shown}: {e}")))?;
        // a URL that does not end in '/' names one object: it must exist as such (object
        // stores would otherwise quietly treat it as a prefix)
        if !url.is_collection() {
            match store.head(url.prefix()).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(ConnectorError::invalid(format!(
                        "no file at {shown} (a folder or prefix URL ends with '/')"
                    )));
                }
                Err(e) => {
                    return Err(ConnectorError::invalid(format!(
                        "cannot reach {shown}: {e}"
                    )));
                }
            }
        }
        let found = files_at(state, url, store.as_ref(), spec, shown).await?;
        if found.is_empty() {
            return Err(ConnectorError::invalid(format!(
                "no {} files found at {shown}",
                spec.format.name()
            )));
        }
        files += found.len();
        bytes += found.iter().map(|meta| meta.size).sum::<u64>();
    }
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(state)
        .await
        .map_err(|e| {
            ConnectorError::invalid(format!(
                "cannot read a {} schema from {}: {}",
                spec.format.name(),
                spec.urls[0],
                e.strip_backtrace()
            ))
        })?;
    let file_schema = config
        .file_schema
        .clone()
        .ok_or_else(|| ConnectorError::invalid("no schema was inferred"))?;
    if file_schema.fields().is_empty() {
        return Err(ConnectorError::invalid(format!(
            "{} has no columns",
            spec.urls[0]
        )));
    }
    let mut fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (column, data_type) in &spec.column_types {
        let field = fields
            .iter_mut()
            .find(|f| f.name() == column)
            .ok_or_else(|| {
                ConnectorError::invalid(format!(
                    "column_types names {column:?}, which is not a column of {}",
                    spec.urls[0]
                ))
            })?;
        *field = field.clone().with_data_type(data_type.clone());
    }
    for column in &spec.partition_columns {
        if fields.iter().any(|f| f.name() == column) {
            return Err(ConnectorError::invalid(format!(
                "partition column {column:?} is also a column inside the files"
            )));
        }
        fields.push(Field::new(column, DataType::Utf8, false));
    }
    Ok(Probe {
        schema: Arc::new(Schema::new(fields)),
        files,
        bytes,
        latency: started.elapsed(),
    })
}

impl FileTable {
    /// Opens a source with its pinned schema (file columns, then partition columns). This does
    /// no I/O: files are listed and read only when a query scans the table.
    pub fn open(spec: &FileSourceSpec, pinned: SchemaRef, runtime: &RuntimeEnv) -> Result<Self> {
        stores::register(spec, runtime)?;
        let urls = stores::listing_urls(spec)?;
        let file_fields: Vec<_> = pinned
            .fields()
            .iter()
            .filter(|f| !spec.partition_columns.contains(f.name()))
            .cloned()
            .collect();
        let config = ListingTableConfig::new_with_multi_paths(urls.clone())
            .with_listing_options(listing_options(spec))
            .with_schema(Arc::new(Schema::new(file_fields)));
        let listing = ListingTable::try_new(config)
            .map_err(|e| ConnectorError::invalid(format!("source {:?}: {e}", spec.name)))?;
        Ok(Self {
            source_name: spec.name.clone(),
            listing: Arc::new(listing),
            urls,
            display_urls: spec.urls.iter().map(|u| u.to_string()).collect(),
        })
    }

    /// Fails, naming the source, unless every location still holds at least one object. Goes
    /// to the store directly so that no listing cache can hide a vanished folder.
    async fn ensure_present(&self, state: &dyn Session) -> Result<()> {
        for (url, shown) in self.urls.iter().zip(&self.display_urls) {
            let store = state
                .runtime_env()
                .object_store(url)
                .map_err(|e| ConnectorError::unavailable(&self.source_name, e))?;
            let present = if url.is_collection() {
                match store.list(Some(url.prefix())).next().await {
                    Some(Ok(_)) => true,
                    Some(Err(e)) => return Err(ConnectorError::unavailable(&self.source_name, e)),
                    None => false,
                }
            } else {
                match store.head(url.prefix()).await {
                    Ok(_) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(e) => return Err(ConnectorError::unavailable(&self.source_name, e)),
                }
            };
            if !present {
                return Err(ConnectorError::unavailable(
                    &self.source_name,
                    format!("no files at {shown}"),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TableProvider for FileTable {
    fn schema(&self) -> SchemaRef {
        self.listing.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.listing.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.ensure_present(state).await?;
        self.listing
            .scan(state, projection, filters, limit)
            .await
            .map_err(|e| match e {
                DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => {
                    ConnectorError::unavailable(&self.source_name, e.strip_backtrace()).into()
                }
                other => other,
            })
    }
}
