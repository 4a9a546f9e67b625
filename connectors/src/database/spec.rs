//! What a database source is, parsed from its registration and checked before anything connects.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use super::dialect::Dialect;
use super::dialect::mysql::Mysql;
use super::dialect::postgres::Postgres;
use super::dialect::sqlite::Sqlite;
use crate::error::{ConnectorError, Result};
use crate::secret::{self, SealKey};

/// The database engines tiaokuai reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    Postgres,
    Mysql,
    Sqlite,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::Mysql => "mysql",
            DatabaseKind::Sqlite => "sqlite",
        }
    }

    /// How SQL is written for this kind of database.
    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            DatabaseKind::Postgres => &Postgres,
            DatabaseKind::Mysql => &Mysql,
            DatabaseKind::Sqlite => &Sqlite,
        }
    }
}

/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Server {
        host: String,
        port: u16,
        user: String,
        database: String,
    },
    File(PathBuf),
}

/// Limits that keep a small township server from being flooded and a dead one from hanging
/// queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections kept open to the database.
    pub pool_size: u32,
    /// Queries sent to the database at once; the rest wait their turn.
    pub max_concurrent_queries: usize,
    pub connect_timeout: Duration,
    /// How long one remote query may run, from sending it to its last row.
    pub query_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            pool_size: 4,
            max_concurrent_queries: 4,
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(60),
        }
    }
}

/// TLS towards a database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
}

/// A PostgreSQL, MySQL/MariaDB or SQLite source.
#[derive(Clone)]
pub struct DatabaseSpec {
    /// The source's name, used in every message about it.
    pub name: String,
    pub kind: DatabaseKind,
    pub location: Location,
    pub tls: TlsMode,
    pub limits: Limits,
    /// The password, resolved from its reference; never displayed.
    password: Option<String>,
    /// For a source registered by a non-admin: what its owner was granted, checked on the
    /// address connected to (or the file opened). `None` reaches what the server can.
    pub reach: Option<std::sync::Arc<crate::reach::Reach>>,
}

impl std::fmt::Debug for DatabaseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("location", &self.location)
            .field("tls", &self.tls)
            .field("limits", &self.limits)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}

pub(crate) const OPTIONS: [&str; 5] = [
    "sslmode",
    "pool_size",
    "max_concurrent_queries",
    "connect_timeout_ms",
    "query_timeout_ms",
];

impl DatabaseSpec {
    /// Parses a registration. `secret` is the stored reference (or sealed value) of the
    /// password; it is resolved here so that a missing secret fails the registration.
    pub fn parse(
        name: &str,
        kind: DatabaseKind,
        url: &str,
        options: &Map<String, Value>,
        secret: Option<&str>,
        seal_key: Option<&SealKey>,
    ) -> Result<Self> {
        if let Some(unknown) = options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
            return Err(ConnectorError::invalid(format!(
                "unknown option {unknown:?} for a {} source; known: {}",
                kind.name(),
                OPTIONS.join(", ")
            )));
        }
        let location = parse_location(kind, url)?;
        let password = secret.map(|s| secret::resolve(s, seal_key)).transpose()?;
        if kind == DatabaseKind::Sqlite && password.is_some() {
            return Err(ConnectorError::invalid(
                "a SQLite file takes no secret".to_owned(),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            kind,
            location,
            tls: parse_tls(kind, options)?,
            limits: parse_limits(options)?,
            password,
            reach: None,
        })
    }

    /// For a confined source, whether its server or file lies within its owner's grants
    /// (by name or address; the addresses a name resolves to are checked when it connects).
    pub fn check_reach(&self) -> Result<()> {
        match (&self.reach, &self.location) {
            (None, _) => Ok(()),
            (Some(reach), Location::Server { host, port, .. }) => reach.host(host, *port),
            (Some(reach), Location::File(path)) => reach.path(path).map(drop),
        }
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Replaces every occurrence of the password in `text`: database drivers quote what they
    /// were given in some errors, and no message may carry a secret.
    pub fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(password) if !password.is_empty() => text.replace(password.as_str(), "***"),
            _ => text.to_owned(),
        }
    }

    /// The error of this source being unavailable, its message redacted.
    pub(crate) fn unavailable(&self, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::unavailable(&self.name, self.redact(&message.to_string()))
    }
}

/// Characters a host, user or database name may have: the PostgreSQL pool splits its
/// connection text on spaces and `=`, so anything else could smuggle in parameters.
fn plain(what: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ConnectorError::invalid(format!(
            "the {what} in the URL must be 1 to 128 letters, digits, '_', '-' or '.'"
        )))
    }
}

fn parse_location(kind: DatabaseKind, url: &str) -> Result<Location> {
    let parsed = Url::parse(url).map_err(|e| {
        ConnectorError::invalid(format!("the URL of a {} source: {e}", kind.name()))
    })?;
    if kind == DatabaseKind::Sqlite {
        if parsed.scheme() != "file" {
            return Err(ConnectorError::invalid(
                "a SQLite source's URL is file:///absolute/path/to/file.db".to_owned(),
            ));
        }
        let path = parsed
            .to_file_path()
            .map_err(|()| ConnectorError::invalid("the SQLite URL is not a local file path"))?;
        return Ok(Location::File(path));
    }
    let (schemes, default_port): (&[&str], u16) = match kind {
        DatabaseKind::Postgres => (&["postgres", "postgresql"], 5432),
        _ => (&["mysql", "mariadb"], 3306),
    };
    if !schemes.contains(&parsed.scheme()) {
        return Err(ConnectorError::invalid(format!(
            "a {} source's URL is {}://USER@HOST:PORT/DATABASE",
            kind.name(),
            schemes[0]
        )));
    }
    if parsed.password().is_some() {
        return Err(ConnectorError::invalid(
            "the URL must not contain a password: give it as \"secret\" (inline, env:NAME or file:/path)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConnectorError::invalid(
            "the URL takes no query string; use \"options\"",
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| ConnectorError::invalid("the URL has no host"))?;
    let host = plain("host", host.trim_start_matches('[').trim_end_matches(']'))?;
    let user = plain("user", parsed.username())?;
    let database = plain("database", parsed.path().trim_start_matches('/'))?;
    Ok(Location::Server {
        host,
        port: parsed.port().unwrap_or(default_port),
        user,
        database,
    })
}

fn parse_tls(kind: DatabaseKind, options: &Map<String, Value>) -> Result<TlsMode> {
    let Some(value) = options.get("sslmode") else {
        // a file has no transport; a server gets TLS unless its owner says otherwise
        return Ok(if kind == DatabaseKind::Sqlite {
            TlsMode::Disable
        } else {
            TlsMode::Prefer
        });
    };
    match value.as_str() {
        Some("disable" | "disabled") => Ok(TlsMode::Disable),
        Some("prefer" | "preferred") => Ok(TlsMode::Prefer),
        Some("require" | "required") => Ok(TlsMode::Require),
        _ => Err(ConnectorError::invalid(
            "options.sslmode is \"disable\", \"prefer\" or \"require\"",
        )),
    }
}

fn positive(options: &Map<String, Value>, key: &str, max: u64) -> Result<Option<u64>> {
    match options.get(key) {
        None => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConnectorError::invalid(format!(
                "options.{key} must be a whole number from 1 to {max}"
            ))),
        },
    }
}

fn parse_limits(options: &Map<String, Value>) -> Result<Limits> {
    let mut limits = Limits::default();
    if let Some(n) = positive(options, "pool_size", 64)? {
        limits.pool_size = n as u32;
    }
    if let Some(n) = positive(options, "max_concurrent_queries", 64)? {
        limits.max_concurrent_queries = n as usize;
    }
    if let Some(ms) = positive(options, "connect_timeout_ms", 300_000)? {
        limits.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = positive(options, "query_timeout_ms", 3_600_000)? {
        limits.query_timeout = Duration::from_millis(ms);
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(kind: DatabaseKind, url: &str, options: Value) -> Result<DatabaseSpec> {
        let Value::Object(options) = options else {
            unreachable!()
        };
        DatabaseSpec::parse("s", kind, url, &options, None, None)
    }

    #[test]
    fn server_urls() {
        let spec = parse(
            DatabaseKind::Postgres,
            "postgres://ro@db.example:6432/civil",
            json!({"sslmode": "disable", "query_timeout_ms": 1500}),
        )
        .unwrap();
        assert_eq!(
            spec.location,
            Location::Server {
                host: "db.example".into(),
                port: 6432,
                user: "ro".into(),
                database: "civil".into()
            }
        );
        assert_eq!(spec.tls, TlsMode::Disable);
        assert_eq!(spec.limits.query_timeout, Duration::from_millis(1500));
        let mysql = parse(
            DatabaseKind::Mysql,
            "mysql://root@127.0.0.1/test",
            json!({}),
        )
        .unwrap();
        assert!(matches!(
            mysql.location,
            Location::Server { port: 3306, .. }
        ));
        assert_eq!(mysql.tls, TlsMode::Prefer);
    }

    #[test]
    fn rejects_what_could_leak_or_smuggle() {
        for (kind, url) in [
            (DatabaseKind::Postgres, "postgres://u:pw@h/db"),
            (DatabaseKind::Postgres, "postgres://u@h/db?sslmode=disable"),
            (DatabaseKind::Postgres, "postgres://u@h/db%20host=evil"),
            (DatabaseKind::Postgres, "mysql://u@h/db"),
            (DatabaseKind::Mysql, "mysql://h/db"),
            (DatabaseKind::Sqlite, "s3://bucket/x.db"),
        ] {
            let error = parse(kind, url, json!({})).unwrap_err().to_string();
            assert!(!error.contains("pw"), "{error}");
        }
        assert!(
            parse(
                DatabaseKind::Mysql,
                "mysql://u@h/d",
                json!({"pool_size": 0})
            )
            .is_err()
        );
        assert!(
            parse(
                DatabaseKind::Mysql,
                "mysql://u@h/d",
                json!({"password": "x"})
            )
            .is_err()
        );
    }

    #[test]
    fn redacts_the_password() {
        let options = Map::new();
        let spec = DatabaseSpec::parse(
            "s",
            DatabaseKind::Mysql,
            "mysql://u@h/d",
            &options,
            Some("env:TIAOKUAI_SPEC_TEST_PW"),
            None,
        );
        // the reference does not resolve in this test's environment: a clear error, no value
        assert!(
            spec.unwrap_err()
                .to_string()
                .contains("TIAOKUAI_SPEC_TEST_PW")
        );
    }
}
