//! Reading a remote table's columns: which of them tiaokuai can serve, as which Arrow types,
//! and which it leaves out (and why).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::TableReference;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::get_schema;
use futures::StreamExt;

use super::name::RemoteName;
use super::open::{Backend, sqlite_file};
use super::spec::DatabaseSpec;
use super::types::{Skipped, mysql_type, served_type};
use super::{sqlite, statement};
use crate::error::ConnectorError;

/// PostgreSQL types (as `information_schema.columns.data_type` names them) whose values the
/// reader converts; columns of other types are left out at registration.
const POSTGRES_READABLE: [&str; 20] = [
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double precision",
    "boolean",
    "text",
    "character varying",
    "character",
    "date",
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "interval",
    "bytea",
    "json",
    "uuid",
    "USER-DEFINED",
    "ARRAY",
];

/// A remote table's columns as read from the database.
#[derive(Debug, Clone)]
pub struct RemoteSchema {
    pub schema: SchemaRef,
    pub skipped: Vec<Skipped>,
    /// Each served column's type as the database names it.
    pub remote_types: BTreeMap<String, String>,
}

/// Reads the columns of `reference` (`remote` as registered) from the opened source.
pub async fn read(
    spec: &DatabaseSpec,
    backend: &Backend,
    reference: &RemoteName,
    remote: &str,
) -> Result<RemoteSchema, ConnectorError> {
    match backend {
        Backend::Sqlite(path) => {
            let path = sqlite_file(spec, path)?;
            let table = reference.table.clone();
            let timeout = spec.limits.connect_timeout;
            let (schema, skipped) = tokio::task::spawn_blocking(move || {
                let connection = sqlite::open(&path, timeout)?;
                sqlite::table_schema(&connection, &table)
            })
            .await
            .map_err(|e| spec.unavailable(e))?
            .map_err(|e| missing_or_unavailable(spec, remote, e))?;
            Ok(RemoteSchema {
                schema: Arc::new(schema),
                skipped,
                remote_types: Default::default(),
            })
        }
        backend => server_table_schema(spec, backend, reference).await,
    }
}

fn missing_or_unavailable(spec: &DatabaseSpec, remote: &str, message: String) -> ConnectorError {
    if message.contains("does not exist") {
        ConnectorError::invalid(format!(
            "table {remote:?} does not exist in source {:?}",
            spec.name
        ))
    } else {
        spec.unavailable(message)
    }
}

async fn server_table_schema(
    spec: &DatabaseSpec,
    backend: &Backend,
    reference: &RemoteName,
) -> Result<RemoteSchema, ConnectorError> {
    // every column the database has, to tell which ones the reader left out
    let dialect = spec.kind.dialect();
    let listing = dialect
        .columns_query(reference.schema.as_deref(), &reference.table)
        .ok_or_else(|| {
            spec.unavailable(format!(
                "{} tables are not listed through SQL",
                dialect.label()
            ))
        })?;
    let listed = collect(spec, backend, &listing).await?;
    let mut columns = Vec::new();
    for batch in &listed {
        let names = strings(batch, 0)?;
        let types = strings(batch, 1)?;
        for (name, remote_type) in names.into_iter().zip(types) {
            columns.push((name, remote_type));
        }
    }
    if columns.is_empty() {
        return Err(ConnectorError::invalid(format!(
            "table {:?} does not exist in source {:?}",
            reference.display(),
            spec.name
        )));
    }
    let table_ref = match &reference.schema {
        Some(schema) => TableReference::partial(schema.as_str(), reference.table.as_str()),
        None => TableReference::bare(reference.table.as_str()),
    };
    let schema = match backend {
        Backend::Postgres(pool) => {
            let connection = pool.connect().await.map_err(|e| spec.unavailable(e))?;
            let read = get_schema(connection, &table_ref)
                .await
                .map_err(|e| spec.unavailable(e))?;
            // only types whose values the reader converts (it maps some, such as inet,
            // that it then fails to read)
            let readable = |name: &str| {
                columns
                    .iter()
                    .any(|(c, t)| c == name && POSTGRES_READABLE.contains(&t.as_str()))
            };
            Arc::new(Schema::new(
                read.fields()
                    .iter()
                    .filter(|f| readable(f.name()))
                    .map(|f| {
                        f.as_ref()
                            .clone()
                            .with_data_type(served_type(f.data_type()))
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        // the MySQL reader rejects a whole table for one column it cannot map; the types
        // are read here column by column instead, as that reader reads their values
        Backend::Mysql(_) => Arc::new(Schema::new(
            columns
                .iter()
                .filter_map(|(name, declared)| {
                    mysql_type(declared).map(|t| Field::new(name.as_str(), t, true))
                })
                .collect::<Vec<_>>(),
        )),
        Backend::Sqlite(_) => unreachable!("SQLite schemas are read directly"),
    };
    let remote_types = columns
        .iter()
        .filter(|(name, _)| schema.field_with_name(name).is_ok())
        .cloned()
        .collect();
    let skipped = columns
        .into_iter()
        .filter(|(name, _)| schema.field_with_name(name).is_err())
        .map(|(column, remote_type)| Skipped {
            column,
            remote_type,
            reason: "no Arrow type maps this database type".into(),
        })
        .collect();
    Ok(RemoteSchema {
        schema,
        skipped,
        remote_types,
    })
}

/// Runs a statement whose columns are all text, for catalog lookups.
async fn collect(
    spec: &DatabaseSpec,
    backend: &Backend,
    statement: &str,
) -> Result<Vec<RecordBatch>, ConnectorError> {
    let stream = statement::run(spec, backend, statement.to_owned(), None).await?;
    stream
        .map(|batch| batch.map_err(|e| spec.unavailable(e)))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn strings(batch: &RecordBatch, index: usize) -> Result<Vec<String>, ConnectorError> {
    let column = datafusion::arrow::compute::cast(batch.column(index), &DataType::Utf8)
        .map_err(|e| ConnectorError::invalid(e.to_string()))?;
    let column = column
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    Ok((0..column.len())
        .map(|i| column.value(i).to_owned())
        .collect())
}
