//! Opening a source: a connection pool for a database server, made under the source's
//! `sslmode` with one pool library per kind, or a SQLite file, opened once to check it.
//! Nothing here runs until a source's first statement.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion_table_providers::UnsupportedTypeAction;
use datafusion_table_providers::sql::db_connection_pool::StaticPasswordProvider;
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::{
    Error as MysqlPoolError, MySQLConnectionPool,
};
use datafusion_table_providers::sql::db_connection_pool::postgrespool::{
    Error as PostgresPoolError, PostgresConnectionPool,
};
use datafusion_table_providers::util::secrets::to_secret_map;

use super::spec::{DatabaseKind, DatabaseSpec, Location, TlsMode};
use super::{sqlite, tls};
use crate::error::ConnectorError;

/// An opened source.
pub enum Backend {
    Postgres(Arc<PostgresConnectionPool>),
    Mysql(Arc<MySQLConnectionPool>),
    Sqlite(PathBuf),
}

/// Where a database server is, as its pool is given it.
struct Server<'a> {
    host: &'a str,
    port: u16,
    user: &'a str,
    database: &'a str,
}

/// Opens the source `spec` describes.
pub async fn open(spec: &DatabaseSpec) -> Result<Backend, ConnectorError> {
    match (&spec.location, spec.kind) {
        (Location::File(path), _) => {
            let path = sqlite_file(spec, path)?;
            let timeout = spec.limits.connect_timeout;
            let probe = path.clone();
            tokio::task::spawn_blocking(move || sqlite::open(&probe, timeout).map(drop))
                .await
                .map_err(|e| spec.unavailable(e))?
                .map_err(|e| spec.unavailable(e))?;
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
            let host = connect_host(spec, host, *port).await?;
            let server = Server {
                host: &host,
                port: *port,
                user,
                database,
            };
            let opened = match kind {
                DatabaseKind::Postgres => {
                    let opened = tls::open_with(spec.tls, |transport| {
                        open_postgres(spec, &server, transport)
                    })
                    .await;
                    Backend::Postgres(opened_pool(spec, opened)?)
                }
                _ => {
                    let opened =
                        tls::open_with(spec.tls, |transport| open_mysql(spec, &server, transport))
                            .await;
                    Backend::Mysql(opened_pool(spec, opened)?)
                }
            };
            Ok(opened)
        }
    }
}

/// The host to connect to: for a confined source, the first granted address the name
/// resolves to (every connection of the pool then goes to that address, so a later DNS
/// answer cannot lead it elsewhere); otherwise the host as registered.
async fn connect_host(
    spec: &DatabaseSpec,
    host: &str,
    port: u16,
) -> Result<String, ConnectorError> {
    match &spec.reach {
        None => Ok(host.to_owned()),
        Some(reach) => {
            let addresses = reach.resolve(host, port).await?;
            Ok(addresses[0].ip().to_string())
        }
    }
}

/// The SQLite file to open: for a confined source, its real path, checked again each
/// time against what its owner was granted.
pub fn sqlite_file(spec: &DatabaseSpec, path: &Path) -> Result<PathBuf, ConnectorError> {
    match &spec.reach {
        None => Ok(path.to_owned()),
        Some(reach) => reach.path(path),
    }
}

/// The outcome of opening a pool under the source's `sslmode`, as the source reports it.
fn opened_pool<T, E: fmt::Display>(
    spec: &DatabaseSpec,
    opened: tls::Opened<T, E>,
) -> Result<Arc<T>, ConnectorError> {
    match opened {
        tls::Opened::Connected(pool, tls::Transport::Tls) => Ok(Arc::new(pool)),
        tls::Opened::Connected(pool, tls::Transport::Plain) => {
            if spec.tls == TlsMode::Prefer {
                // libpq's `prefer`: the connection is not encrypted, which its owner
                // should know about
                tracing::warn!(source = %spec.name, "the database server does not offer TLS: connected without it (sslmode prefer)");
            }
            Ok(Arc::new(pool))
        }
        tls::Opened::TlsRefused(error) => {
            tracing::debug!(source = %spec.name, error = %spec.redact(&error.to_string()), "TLS refused");
            Err(spec.unavailable(
                "options.sslmode is \"require\", but the database server does not offer TLS, or the TLS handshake with it failed",
            ))
        }
        tls::Opened::Failed(error) => Err(spec.unavailable(error)),
    }
}

async fn open_postgres(
    spec: &DatabaseSpec,
    server: &Server<'_>,
    transport: tls::Transport,
) -> Result<PostgresConnectionPool, PostgresPoolError> {
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
    spec: &DatabaseSpec,
    server: &Server<'_>,
    transport: tls::Transport,
) -> Result<MySQLConnectionPool, MysqlPoolError> {
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
