//! One registered database: its connection pool (opened on first use, one per source, shared
//! by all its tables), a cap on the queries it runs at once, and the time limits.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_table_providers::UnsupportedTypeAction;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::postgresconn::PostgresConnection;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::{
    DbConnection, get_schema, query_arrow,
};
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::{
    Error as MysqlPoolError, MySQLConnectionPool,
};
use datafusion_table_providers::sql::db_connection_pool::postgrespool::{
    Error as PostgresPoolError, PostgresConnectionPool,
};
use datafusion_table_providers::sql::db_connection_pool::{
    DbConnectionPool, StaticPasswordProvider,
};
use datafusion_table_providers::util::secrets::to_secret_map;
use futures::StreamExt;
use tokio::sync::{OnceCell, Semaphore};

use super::held::held;
use super::spec::{DatabaseKind, DatabaseSpec, Location, TlsMode};
use super::types::{Skipped, conform, mysql_type, served_type};
use super::{sql, sqlite, tls};
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

/// Where a database server is, as its pool is given it.
struct Server<'a> {
    host: &'a str,
    port: u16,
    user: &'a str,
    database: &'a str,
}

enum Backend {
    Postgres(Arc<PostgresConnectionPool>),
    Mysql(Arc<MySQLConnectionPool>),
    Sqlite(PathBuf),
}

/// A database source. Cheap to create: nothing connects until the first query.
pub struct DatabaseSource {
    spec: DatabaseSpec,
    backend: OnceCell<Backend>,
    permits: Arc<Semaphore>,
    /// Each principal's share of the permits, made on its first statement.
    shares: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    state: std::sync::Mutex<SourceState>,
}

/// Who a statement runs for (the principal), as the engine puts it in a session's config.
/// A source gives one principal at most half its slots (at least one), so that one caller —
/// say one that opened answers it does not read — cannot take a whole source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester(pub String);

/// How the source's last statement went, for `GET /v1/sources/{id}`.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SourceState {
    /// `unknown` (nothing ran yet), `ok` or `unavailable`.
    #[schema(value_type = String, schema_with = state_status_schema)]
    pub status: &'static str,
    /// RFC 3339 time of the last statement's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Statements running now.
    pub running: usize,
}

fn state_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["unknown", "ok", "unavailable"]))
        .build()
}

impl fmt::Debug for DatabaseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSource")
            .field("name", &self.spec.name)
            .field("kind", &self.spec.kind)
            .finish()
    }
}

/// A remote table's columns as read from the database.
#[derive(Debug, Clone)]
pub struct RemoteSchema {
    pub schema: SchemaRef,
    pub skipped: Vec<Skipped>,
    /// Each served column's type as the database names it.
    pub remote_types: std::collections::BTreeMap<String, String>,
}

impl DatabaseSource {
    pub fn new(spec: DatabaseSpec) -> Self {
        let permits = Arc::new(Semaphore::new(spec.limits.max_concurrent_queries));
        Self {
            spec,
            backend: OnceCell::new(),
            permits,
            shares: std::sync::Mutex::default(),
            state: std::sync::Mutex::new(SourceState {
                status: "unknown",
                ..SourceState::default()
            }),
        }
    }

    /// How the last statement went and how many run now.
    pub fn state(&self) -> SourceState {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        state.running = self.spec.limits.max_concurrent_queries - self.permits.available_permits();
        state
    }

    fn record(&self, outcome: Result<(), &DataFusionError>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        match outcome {
            Ok(()) => {
                state.status = "ok";
                state.message = None;
            }
            Err(error) => {
                state.status = "unavailable";
                let message = match error {
                    DataFusionError::External(inner) => inner.to_string(),
                    other => other.to_string(),
                };
                state.message = Some(self.spec.redact(&message));
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// How many of this source's slots one principal may hold at once.
    pub fn share(&self) -> usize {
        (self.spec.limits.max_concurrent_queries / 2).max(1)
    }

    /// The principal's share of the slots; shares nobody holds are dropped on the way.
    fn share_of(&self, requester: &Requester) -> Arc<Semaphore> {
        let share = self.share();
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        shares.retain(|principal, permits| {
            principal == &requester.0
                || Arc::strong_count(permits) > 1
                || permits.available_permits() < share
        });
        shares
            .entry(requester.0.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(share)))
            .clone()
    }

    pub fn kind(&self) -> DatabaseKind {
        self.spec.kind
    }

    fn unavailable(&self, message: impl fmt::Display) -> ConnectorError {
        ConnectorError::unavailable(&self.spec.name, self.spec.redact(&message.to_string()))
    }

    async fn backend(&self) -> Result<&Backend, ConnectorError> {
        let limit = self.spec.limits.connect_timeout;
        let opened = tokio::time::timeout(limit, self.backend.get_or_try_init(|| self.open()));
        match opened.await {
            Ok(result) => result,
            Err(_) => Err(self.unavailable(format!("it did not answer within {limit:?}"))),
        }
    }

    async fn open(&self) -> Result<Backend, ConnectorError> {
        let spec = &self.spec;
        match (&spec.location, spec.kind) {
            (Location::File(path), _) => {
                let path = self.sqlite_file(path)?;
                let timeout = spec.limits.connect_timeout;
                let probe = path.clone();
                tokio::task::spawn_blocking(move || sqlite::open(&probe, timeout).map(drop))
                    .await
                    .map_err(|e| self.unavailable(e))?
                    .map_err(|e| self.unavailable(e))?;
                Ok(Backend::Sqlite(path))
            }
            (
                Location::Server {
                    host,
                    port,
                    user,
                    database,
                },
                kind,
            ) => {
                // a confined source connects to the address it was checked on
                let host = self.connect_host(host, *port).await?;
                let server = Server {
                    host: &host,
                    port: *port,
                    user,
                    database,
                };
                let opened = match kind {
                    DatabaseKind::Postgres => {
                        let opened = tls::open_with(spec.tls, |transport| {
                            self.open_postgres(&server, transport)
                        })
                        .await;
                        Backend::Postgres(self.opened(opened)?)
                    }
                    _ => {
                        let opened = tls::open_with(spec.tls, |transport| {
                            self.open_mysql(&server, transport)
                        })
                        .await;
                        Backend::Mysql(self.opened(opened)?)
                    }
                };
                Ok(opened)
            }
        }
    }

    /// The host to connect to: for a confined source, the first granted address the name
    /// resolves to (every connection of the pool then goes to that address, so a later DNS
    /// answer cannot lead it elsewhere); otherwise the host as registered.
    async fn connect_host(&self, host: &str, port: u16) -> Result<String, ConnectorError> {
        match &self.spec.reach {
            None => Ok(host.to_owned()),
            Some(reach) => {
                let addresses = reach.resolve(host, port).await?;
                Ok(addresses[0].ip().to_string())
            }
        }
    }

    /// The SQLite file to open: for a confined source, its real path, checked again each
    /// time against what its owner was granted.
    fn sqlite_file(&self, path: &Path) -> Result<PathBuf, ConnectorError> {
        match &self.spec.reach {
            None => Ok(path.to_owned()),
            Some(reach) => reach.path(path),
        }
    }

    /// The outcome of opening a pool under the source's `sslmode`, as the source reports it.
    fn opened<T, E: fmt::Display>(
        &self,
        opened: tls::Opened<T, E>,
    ) -> Result<Arc<T>, ConnectorError> {
        match opened {
            tls::Opened::Connected(pool, tls::Transport::Tls) => Ok(Arc::new(pool)),
            tls::Opened::Connected(pool, tls::Transport::Plain) => {
                if self.spec.tls == TlsMode::Prefer {
                    // libpq's `prefer`: the connection is not encrypted, which its owner
                    // should know about
                    tracing::warn!(source = %self.spec.name, "the database server does not offer TLS: connected without it (sslmode prefer)");
                }
                Ok(Arc::new(pool))
            }
            tls::Opened::TlsRefused(error) => {
                tracing::debug!(source = %self.spec.name, error = %self.spec.redact(&error.to_string()), "TLS refused");
                Err(self.unavailable(
                    "options.sslmode is \"require\", but the database server does not offer TLS, or the TLS handshake with it failed",
                ))
            }
            tls::Opened::Failed(error) => Err(self.unavailable(error)),
        }
    }

    async fn open_postgres(
        &self,
        server: &Server<'_>,
        transport: tls::Transport,
    ) -> Result<PostgresConnectionPool, PostgresPoolError> {
        let spec = &self.spec;
        let Server {
            host,
            port,
            user,
            database,
        } = server;
        let seconds = spec.limits.connect_timeout.as_secs().max(1);
        let sslmode = match (transport, spec.tls) {
            (tls::Transport::Plain, _) => "disable",
            // tokio-postgres's own `prefer` already connects in the clear to a server
            // that declines TLS
            (tls::Transport::Tls, TlsMode::Prefer) => "prefer",
            (tls::Transport::Tls, _) => "require",
        };
        let mut params = HashMap::from([
            (
                "connection_string".to_owned(),
                format!(
                    "host={host} port={port} user={user} dbname={database} connect_timeout={seconds}"
                ),
            ),
            ("sslmode".to_owned(), sslmode.to_owned()),
            (
                "connection_pool_size".to_owned(),
                spec.limits.pool_size.to_string(),
            ),
            ("application_name".to_owned(), "tiaokuai".to_owned()),
        ]);
        // read-only sessions in the engine's time zone, so that date and time
        // expressions give the same answer pushed down or run locally
        params.insert(
            "options".to_owned(),
            format!(
                "-c TimeZone=UTC -c default_transaction_read_only=on -c statement_timeout={}",
                spec.limits.query_timeout.as_millis()
            ),
        );
        let params = to_secret_map(params);
        let pool = match spec.password() {
            Some(password) => {
                let provider = StaticPasswordProvider::new(password.to_owned().into());
                PostgresConnectionPool::new_with_password_provider(params, Arc::new(provider)).await
            }
            None => PostgresConnectionPool::new(params).await,
        }?;
        Ok(pool.with_unsupported_type_action(UnsupportedTypeAction::Warn))
    }

    async fn open_mysql(
        &self,
        server: &Server<'_>,
        transport: tls::Transport,
    ) -> Result<MySQLConnectionPool, MysqlPoolError> {
        let spec = &self.spec;
        // the pool's "required" also verifies the server's certificate and name; its
        // "preferred" asks for TLS without verifying, and fails without it
        let sslmode = match (transport, spec.tls) {
            (tls::Transport::Plain, _) => "disabled",
            (tls::Transport::Tls, TlsMode::Require) => "required",
            (tls::Transport::Tls, _) => "preferred",
        };
        let mut params = HashMap::from([
            ("host".to_owned(), server.host.to_owned()),
            ("tcp_port".to_owned(), server.port.to_string()),
            ("user".to_owned(), server.user.to_owned()),
            ("db".to_owned(), server.database.to_owned()),
            ("pool_min".to_owned(), "0".to_owned()),
            ("pool_max".to_owned(), spec.limits.pool_size.to_string()),
            ("sslmode".to_owned(), sslmode.to_owned()),
        ]);
        if let Some(password) = spec.password() {
            params.insert("pass".to_owned(), password.to_owned());
        }
        MySQLConnectionPool::new(to_secret_map(params)).await
    }

    /// Connects and reads a table's columns. Columns of types tiaokuai cannot map are left out
    /// and listed.
    pub async fn table_schema(&self, remote: &str) -> Result<RemoteSchema, ConnectorError> {
        let started = Instant::now();
        let reference = sql::RemoteName::parse(self.spec.kind, remote)?;
        let limit = self.spec.limits.connect_timeout + self.spec.limits.query_timeout;
        let work = async {
            match self.backend().await? {
                Backend::Sqlite(path) => {
                    let path = self.sqlite_file(path)?;
                    let table = reference.table.clone();
                    let timeout = self.spec.limits.connect_timeout;
                    let (schema, skipped) = tokio::task::spawn_blocking(move || {
                        let connection = sqlite::open(&path, timeout)?;
                        sqlite::table_schema(&connection, &table)
                    })
                    .await
                    .map_err(|e| self.unavailable(e))?
                    .map_err(|e| self.missing_or_unavailable(remote, e))?;
                    Ok(RemoteSchema {
                        schema: Arc::new(schema),
                        skipped,
                        remote_types: Default::default(),
                    })
                }
                backend => self.server_table_schema(backend, &reference).await,
            }
        };
        let found = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| self.unavailable(format!("it did not answer within {limit:?}")))??;
        tracing::debug!(source = %self.spec.name, table = remote, elapsed = ?started.elapsed(), "read a table's schema");
        Ok(found)
    }

    fn missing_or_unavailable(&self, remote: &str, message: String) -> ConnectorError {
        if message.contains("does not exist") {
            ConnectorError::invalid(format!(
                "table {remote:?} does not exist in source {:?}",
                self.spec.name
            ))
        } else {
            self.unavailable(message)
        }
    }

    async fn server_table_schema(
        &self,
        backend: &Backend,
        reference: &sql::RemoteName,
    ) -> Result<RemoteSchema, ConnectorError> {
        // every column the database has, to tell which ones the reader left out
        let listing = sql::columns_query(self.spec.kind, reference);
        let listed = self.collect(&listing).await?;
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
                self.spec.name
            )));
        }
        let table_ref = match &reference.schema {
            Some(schema) => TableReference::partial(schema.as_str(), reference.table.as_str()),
            None => TableReference::bare(reference.table.as_str()),
        };
        let schema = match backend {
            Backend::Postgres(pool) => {
                let connection = pool.connect().await.map_err(|e| self.unavailable(e))?;
                let read = get_schema(connection, &table_ref)
                    .await
                    .map_err(|e| self.unavailable(e))?;
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
    async fn collect(&self, statement: &str) -> Result<Vec<RecordBatch>, ConnectorError> {
        let stream = self.open_stream(statement.to_owned(), None).await?;
        stream
            .map(|batch| batch.map_err(|e| self.unavailable(e)))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn open_stream(
        &self,
        statement: String,
        schema: Option<SchemaRef>,
    ) -> Result<SendableRecordBatchStream, ConnectorError> {
        match self.backend().await? {
            Backend::Postgres(pool) => {
                let connection = self.connected(pool.connect()).await?;
                let rows = match connection.as_async() {
                    Some(statements) => statements
                        .query_arrow(&statement, &[], None)
                        .await
                        .map_err(|e| self.unavailable(e))?,
                    None => return Err(self.unavailable("no asynchronous connection")),
                };
                let limit = self.spec.limits.connect_timeout;
                Ok(held(rows, connection, move |connection| {
                    end_postgres_statement(connection, limit)
                }))
            }
            Backend::Mysql(pool) => {
                let connection = self.connected(pool.connect()).await?;
                query_arrow(connection, statement, None)
                    .await
                    .map_err(|e| self.unavailable(e))
            }
            Backend::Sqlite(path) => {
                let schema = schema.ok_or_else(|| {
                    self.unavailable("a SQLite statement needs its expected columns")
                })?;
                Ok(self.sqlite_stream(self.sqlite_file(path)?, statement, schema))
            }
        }
    }

    async fn connected<T, E: fmt::Display>(
        &self,
        connecting: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ConnectorError> {
        let limit = self.spec.limits.connect_timeout;
        match tokio::time::timeout(limit, connecting).await {
            Ok(result) => result.map_err(|e| self.unavailable(e)),
            Err(_) => Err(self.unavailable(format!("no connection within {limit:?}"))),
        }
    }

    fn sqlite_stream(
        &self,
        path: PathBuf,
        statement: String,
        schema: SchemaRef,
    ) -> SendableRecordBatchStream {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch, String>>(2);
        let timeout = self.spec.limits.connect_timeout;
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

    /// Runs a statement and streams its rows cast to `schema`. The query waits for one of the
    /// source's permits and holds it until its last row (or until its stream is dropped); a
    /// statement run for a principal first waits for a place in that principal's share. The
    /// whole of it, waiting included, is bounded by the source's query time limit.
    pub fn query(
        self: &Arc<Self>,
        statement: String,
        schema: SchemaRef,
        requester: Option<&Requester>,
    ) -> SendableRecordBatchStream {
        let source = Arc::clone(self);
        let expected = schema.clone();
        let limit = self.spec.limits.query_timeout;
        let recorder = Arc::clone(self);
        let share = requester.map(|r| self.share_of(r));
        let stream = async_stream::stream! {
            let deadline = tokio::time::Instant::now() + limit;
            let timed_out = || -> DataFusionError {
                source.unavailable(format!("the query did not finish within {limit:?}")).into()
            };
            // a principal's own queries queue behind each other, not in front of everyone's
            let held_share = match share {
                Some(share) => match tokio::time::timeout_at(deadline, share.acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    Ok(Err(_)) => { yield Err(source.unavailable("the source is closing").into()); return; }
                    Err(_) => { yield Err(timed_out()); return; }
                },
                None => None,
            };
            let permit = match tokio::time::timeout_at(deadline, source.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => { yield Err(source.unavailable("the source is closing").into()); return; }
                Err(_) => { yield Err(timed_out()); return; }
            };
            let opened = tokio::time::timeout_at(deadline, source.open_stream(statement, Some(expected.clone()))).await;
            let mut rows = match opened {
                Ok(Ok(rows)) => rows,
                Ok(Err(error)) => { yield Err(error.into()); return; }
                Err(_) => { yield Err(timed_out()); return; }
            };
            loop {
                match tokio::time::timeout_at(deadline, rows.next()).await {
                    Ok(Some(Ok(batch))) => {
                        match conform(&batch, &expected) {
                            Ok(batch) => yield Ok(batch),
                            Err(message) => { yield Err(source.unavailable(message).into()); return; }
                        }
                    }
                    Ok(Some(Err(error))) => { yield Err(source.unavailable(error).into()); return; }
                    Ok(None) => break,
                    Err(_) => { yield Err(timed_out()); return; }
                }
            }
            drop(permit);
            drop(held_share);
        };
        // the source's state follows the outcome of each statement
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&failed);
        let stream = stream.map(move |item: Result<RecordBatch, DataFusionError>| {
            if let Err(error) = &item {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                recorder.record(Err(error));
            }
            item
        });
        let recorder = Arc::clone(self);
        let stream = stream.chain(futures::stream::poll_fn(move |_| {
            if !failed.load(std::sync::atomic::Ordering::Relaxed) {
                recorder.record(Ok(()));
            }
            std::task::Poll::Ready(None)
        }));
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }

    /// Connects and runs a trivial statement: whether the source answers, and how fast.
    pub async fn ping(self: &Arc<Self>) -> Result<Duration, ConnectorError> {
        let started = Instant::now();
        let schema = Arc::new(Schema::new(vec![datafusion::arrow::datatypes::Field::new(
            "one",
            datafusion::arrow::datatypes::DataType::Int64,
            true,
        )]));
        let mut rows = self.query("SELECT 1".to_owned(), schema, None);
        while let Some(batch) = rows.next().await {
            batch.map_err(|e| self.unavailable(e))?;
        }
        Ok(started.elapsed())
    }
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

fn strings(batch: &RecordBatch, index: usize) -> Result<Vec<String>, ConnectorError> {
    let column = datafusion::arrow::compute::cast(
        batch.column(index),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .map_err(|e| ConnectorError::invalid(e.to_string()))?;
    let column = column
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    Ok((0..column.len())
        .map(|i| column.value(i).to_owned())
        .collect())
}
