//! Running one statement on an opened source, as a stream of the rows it answers: through
//! the PostgreSQL or MySQL pool, or on a blocking thread for a SQLite file.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::postgresconn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::{
    DbConnection, query_arrow,
};

use super::held::held;
use super::open::{Backend, sqlite_file};
use super::spec::DatabaseSpec;
use super::sqlite;
use crate::error::ConnectorError;

/// Sends `statement` and streams its rows as the database sends them; a SQLite statement
/// reads them into `schema`, which it needs.
pub async fn run(
    spec: &DatabaseSpec,
    backend: &Backend,
    statement: String,
    schema: Option<SchemaRef>,
) -> Result<SendableRecordBatchStream, ConnectorError> {
    match backend {
        Backend::Postgres(pool) => {
            let connection = connected(spec, pool.connect()).await?;
            let rows = match connection.as_async() {
                Some(statements) => statements
                    .query_arrow(&statement, &[], None)
                    .await
                    .map_err(|e| spec.unavailable(e))?,
                None => return Err(spec.unavailable("no asynchronous connection")),
            };
            let limit = spec.limits.connect_timeout;
            Ok(held(rows, connection, move |connection| {
                end_postgres_statement(connection, limit)
            }))
        }
        Backend::Mysql(pool) => {
            let connection = connected(spec, pool.connect()).await?;
            query_arrow(connection, statement, None)
                .await
                .map_err(|e| spec.unavailable(e))
        }
        Backend::Sqlite(path) => {
            let schema = schema
                .ok_or_else(|| spec.unavailable("a SQLite statement needs its expected columns"))?;
            Ok(sqlite_stream(
                spec,
                sqlite_file(spec, path)?,
                statement,
                schema,
            ))
        }
    }
}

/// A pooled connection, within the source's connect time limit.
async fn connected<T, E: fmt::Display>(
    spec: &DatabaseSpec,
    connecting: impl Future<Output = Result<T, E>>,
) -> Result<T, ConnectorError> {
    let limit = spec.limits.connect_timeout;
    match tokio::time::timeout(limit, connecting).await {
        Ok(result) => result.map_err(|e| spec.unavailable(e)),
        Err(_) => Err(spec.unavailable(format!("no connection within {limit:?}"))),
    }
}

fn sqlite_stream(
    spec: &DatabaseSpec,
    path: PathBuf,
    statement: String,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch, String>>(2);
    let timeout = spec.limits.connect_timeout;
    let schema = sqlite::reading_schema(&schema);
    let expected = schema.clone();
    tokio::task::spawn_blocking(move || {
        let outcome = sqlite::open(&path, timeout).and_then(|connection| {
            sqlite::run(&connection, &statement, &expected, &mut |batch| {
                sender.blocking_send(Ok(batch)).is_ok()
            })
        });
        if let Err(message) = outcome {
            let _ = sender.blocking_send(Err(message));
        }
    });
    let stream = async_stream::stream! {
        while let Some(item) = receiver.recv().await {
            yield item.map_err(DataFusionError::Execution);
        }
    };
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}

/// Ends a PostgreSQL statement whose rows are no longer wanted (its query was cancelled or its
/// response cut) and only then lets its connection go back to the pool: the database stops
/// sending, and the next query that draws the connection does not queue behind the rest.
fn end_postgres_statement<C: DbConnectionAny + Send + 'static>(connection: C, limit: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        if let Some(postgres) = connection.postgres() {
            let ended = async {
                let _ = postgres
                    .conn
                    .cancel_token()
                    .cancel_query(tokio_postgres::NoTls)
                    .await;
                // answered once the cancelled statement is over
                let _ = postgres.conn.simple_query("").await;
            };
            let _ = tokio::time::timeout(limit, ended).await;
        }
        drop(connection);
    });
}

/// The PostgreSQL connection inside a pooled connection, whatever its generic types.
trait DbConnectionAny {
    fn postgres(&self) -> Option<&PostgresConnection>;
}

impl<T: 'static, P: 'static> DbConnectionAny for Box<dyn DbConnection<T, P>> {
    fn postgres(&self) -> Option<&PostgresConnection> {
        self.as_any().downcast_ref::<PostgresConnection>()
    }
}
