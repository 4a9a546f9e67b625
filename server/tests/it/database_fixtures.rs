//! Real PostgreSQL and MariaDB for the database-source tests.
//!
//! Each test gets a database of its own, dropped afterwards even when the test fails; a TCP
//! proxy in front of a database stalls or cuts it on demand; the statements a database received
//! are read back from its own log.
//!
//! The database servers come from `TIAOKUAI_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) and `TIAOKUAI_TEST_MYSQL_URL` (e.g.
//! `mysql://root@127.0.0.1:3306/test`), each naming a user that may create databases (and, for
//! MariaDB, users) and logs in without a password: the sources the tests register use the same
//! user, and a source URL may not hold a password. Without them the tests are skipped locally
//! and fail under CI.
//! `TIAOKUAI_TEST_POSTGRES_LOG` names the PostgreSQL server's log file, read to see the SQL it
//! received.

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use url::Url;

pub const POSTGRES_VAR: &str = "TIAOKUAI_TEST_POSTGRES_URL";
pub const MYSQL_VAR: &str = "TIAOKUAI_TEST_MYSQL_URL";
pub const POSTGRES_LOG_VAR: &str = "TIAOKUAI_TEST_POSTGRES_LOG";

/// The database server named by `var`, or `None` (after saying so) when the tests are skipped.
fn server_url(var: &str) -> Option<Url> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => {
            let url = Url::parse(value.trim())
                .unwrap_or_else(|e| panic!("{var}={value:?} is no URL: {e}"));
            assert!(
                url.password().is_none(),
                "{var} holds a password: name a user that logs in without one"
            );
            Some(url)
        }
        _ if std::env::var_os("CI").is_some() => panic!(
            "{var} is not set, but CI is: the database-source tests need a running PostgreSQL \
             and MariaDB ({POSTGRES_VAR}=postgres://postgres@127.0.0.1:5432/test, \
             {MYSQL_VAR}=mysql://root@127.0.0.1:3306/test)"
        ),
        _ => {
            println!("database-source test skipped: {var} is not set");
            None
        }
    }
}

/// A name no other test run uses: `tk_<test>_<random>`.
pub fn unique_name(test: &str) -> String {
    format!("tk_{}_{:08x}", test.to_lowercase(), rand::random::<u32>())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dbms {
    Postgres,
    Mysql,
}

/// A database created for one test, dropped with it (with the MariaDB users the test made).
pub struct TestDb {
    pub dbms: Dbms,
    pub name: String,
    /// The server as configured, connected to its own database.
    server: Url,
    users: Vec<String>,
}

impl TestDb {
    pub async fn postgres(test: &str) -> Option<Self> {
        let server = server_url(POSTGRES_VAR)?;
        Some(Self::create(Dbms::Postgres, server, test).await)
    }

    pub async fn mysql(test: &str) -> Option<Self> {
        let server = server_url(MYSQL_VAR)?;
        Some(Self::create(Dbms::Mysql, server, test).await)
    }

    async fn create(dbms: Dbms, server: Url, test: &str) -> Self {
        let name = unique_name(test);
        let statement = match dbms {
            Dbms::Postgres => format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8'"),
            Dbms::Mysql => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
        };
        execute(dbms, &server, &[&statement]).await;
        Self {
            dbms,
            name,
            server,
            users: Vec::new(),
        }
    }

    /// This database's URL, as the configured user and without a password.
    pub fn url(&self) -> Url {
        let mut url = self.server.clone();
        url.set_path(&format!("/{}", self.name));
        url
    }

    /// The URL of this database for `user`, without a password.
    pub fn url_as(&self, user: &str) -> Url {
        let mut url = self.url();
        url.set_username(user).unwrap();
        url
    }

    /// The database server's address, for a proxy in front of it.
    pub fn address(&self) -> SocketAddr {
        let default = match self.dbms {
            Dbms::Postgres => 5432,
            Dbms::Mysql => 3306,
        };
        self.server.socket_addrs(|| Some(default)).unwrap()[0]
    }

    /// Runs statements in this database, one after the other.
    pub async fn execute(&self, statements: &[&str]) {
        execute(self.dbms, &self.url(), statements).await;
    }

    /// Creates a MariaDB user that reads this database only, with `password`.
    pub async fn create_reader(&mut self, user: &str, password: &str) {
        assert_eq!(self.dbms, Dbms::Mysql, "users are made on MariaDB only");
        self.users.push(user.to_owned());
        let name = &self.name;
        execute(
            self.dbms,
            &self.server,
            &[
                &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
                &format!("GRANT SELECT ON `{name}`.* TO '{user}'@'%'"),
            ],
        )
        .await;
    }

    /// Gives a MariaDB user a new password and ends its sessions, so that the next connection
    /// has to log in again (MariaDB keeps sessions open across a password change).
    pub async fn change_password(&self, user: &str, password: &str) {
        execute(
            self.dbms,
            &self.server,
            &[&format!(
                "ALTER USER '{user}'@'%' IDENTIFIED BY '{password}'"
            )],
        )
        .await;
        kill_sessions(&self.server, &format!("user = '{user}'")).await;
    }

    /// Drops the database and users; `Drop` cannot wait on the test's runtime, so this runs on
    /// its own.
    fn cleanup(&self) -> Result<(), String> {
        let (dbms, server, name, users) = (
            self.dbms,
            self.server.clone(),
            self.name.clone(),
            self.users.clone(),
        );
        on_own_runtime(async move {
            match dbms {
                Dbms::Postgres => {
                    let client = postgres(&server).await?;
                    // FORCE ends the server's pooled sessions, which would otherwise block it
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    client.batch_execute(&drop).await.map_err(|e| e.to_string())
                }
                Dbms::Mysql => {
                    let filter = format!("db = '{name}'");
                    kill_sessions(&server, &filter).await;
                    let mut conn = mysql(&server).await?;
                    let mut statements = vec![format!("DROP DATABASE IF EXISTS `{name}`")];
                    statements.extend(
                        users
                            .iter()
                            .map(|u| format!("DROP USER IF EXISTS '{u}'@'%'")),
                    );
                    for statement in statements {
                        conn.query_drop(&statement)
                            .await
                            .map_err(|e| format!("{statement}: {e}"))?;
                    }
                    conn.disconnect().await.map_err(|e| e.to_string())
                }
            }
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Err(error) = self.cleanup() {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// Runs `work` to completion on a runtime of its own thread, so that it can be waited for from
/// `Drop`, inside or outside a test's runtime.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(work)
    })
    .join()
    .map_err(|_| "the clean-up thread panicked".to_owned())?
}

async fn postgres(url: &Url) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url.as_str(), tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

async fn mysql(url: &Url) -> Result<mysql_async::Conn, String> {
    let opts = mysql_async::Opts::from_url(url.as_str()).map_err(|e| e.to_string())?;
    mysql_async::Conn::new(opts)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))
}

async fn execute(dbms: Dbms, url: &Url, statements: &[&str]) {
    match dbms {
        Dbms::Postgres => {
            let client = postgres(url).await.unwrap();
            for statement in statements {
                client
                    .batch_execute(statement)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
        }
        Dbms::Mysql => {
            let mut conn = mysql(url).await.unwrap();
            for statement in statements {
                conn.query_drop(*statement)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
            conn.disconnect().await.unwrap();
        }
    }
}

async fn rows(dbms: Dbms, url: &Url, sql: &str) -> Vec<Vec<Option<String>>> {
    match dbms {
        Dbms::Postgres => {
            let client = postgres(url).await.unwrap();
            let messages = client
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            messages
                .iter()
                .filter_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        }
        Dbms::Mysql => {
            let mut conn = mysql(url).await.unwrap();
            let found: Vec<mysql_async::Row> = conn
                .query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.disconnect().await.unwrap();
            found
                .into_iter()
                .map(|row| row.unwrap().into_iter().map(mysql_text).collect())
                .collect()
        }
    }
}

fn mysql_text(value: mysql_async::Value) -> Option<String> {
    match value {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        mysql_async::Value::Int(n) => Some(n.to_string()),
        mysql_async::Value::UInt(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Ends the MariaDB sessions that `filter` (a condition on `information_schema.processlist`)
/// selects, other than the one asking.
async fn kill_sessions(server: &Url, filter: &str) {
    let sql = format!(
        "SELECT id FROM information_schema.processlist WHERE {filter} AND id <> CONNECTION_ID()"
    );
    let Ok(mut conn) = mysql(server).await else {
        return;
    };
    let ids: Vec<u64> = conn.query(&sql).await.unwrap_or_default();
    for id in ids {
        // a session may end by itself in between
        let _ = conn.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    let _ = conn.disconnect().await;
}

/// The state of the link a [`Proxy`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes pass both ways.
    Up,
    /// Connections are accepted and kept open, but no byte passes either way: a database that
    /// hangs, or a network that drops packets.
    Stalled,
    /// Every connection is closed at once, new ones included: a database that went away.
    Down,
    /// The proxy is shutting down.
    Gone,
}

/// A TCP proxy in front of a database, whose link can be stalled or cut.
///
/// It runs on a thread and runtime of its own, so that nothing the server under test does on
/// the test's runtime can hold it up. A connection that stalled stays stalled until the link
/// goes `Down`; to model a database that comes back, go `Down` before `Up`.
pub struct Proxy {
    pub address: SocketAddr,
    link: watch::Sender<Link>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (link, watcher) = watch::channel(Link::Up);
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(accept(listener, upstream, watcher));
        });
        Self {
            address,
            link,
            thread: Some(thread),
        }
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Link::Gone);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    watcher: watch::Receiver<Link>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    let mut shutdown = watcher.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(relay(client, upstream, watcher.clone()));
                }
            }
            _ = shutdown.wait_for(|link| *link == Link::Gone) => return,
        }
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut watcher: watch::Receiver<Link>) {
    let link = *watcher.borrow();
    match link {
        Link::Down | Link::Gone => return,
        Link::Stalled => {}
        Link::Up => {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                _ = watcher.wait_for(|link| *link != Link::Up) => {}
            }
        }
    }
    // hold the connection, silent both ways, until the link goes down
    let _ = watcher
        .wait_for(|link| matches!(link, Link::Down | Link::Gone))
        .await;
}

/// Where the SQL that a database received can be read back from.
pub enum ReceivedSql {
    /// PostgreSQL's log file, read from the offset of the last mark.
    Postgres { path: PathBuf, offset: u64 },
    /// MariaDB's general log, kept in the table `mysql.general_log` while the guard lives.
    Mysql(GeneralLog),
    /// Nowhere: the checks of received SQL are skipped.
    Unknown,
}

impl ReceivedSql {
    /// Has PostgreSQL log every statement of sessions opened from now on in `db`; `Unknown`
    /// (after saying so) when its log file is not known or not readable.
    pub async fn postgres(db: &TestDb) -> Self {
        let Some(path) = std::env::var_os(POSTGRES_LOG_VAR).map(PathBuf::from) else {
            println!("PostgreSQL statements not checked: {POSTGRES_LOG_VAR} is not set");
            return Self::Unknown;
        };
        if let Err(error) = std::fs::File::open(&path) {
            println!(
                "PostgreSQL statements not checked: {} is not readable: {error}",
                path.display()
            );
            return Self::Unknown;
        }
        db.execute(&[&format!(
            "ALTER DATABASE \"{}\" SET log_statement = 'all'",
            db.name
        )])
        .await;
        let offset = std::fs::metadata(&path).unwrap().len();
        Self::Postgres { path, offset }
    }

    /// Turns MariaDB's general log on, into its table, until the guard drops.
    pub async fn mysql(db: &TestDb) -> Self {
        Self::Mysql(GeneralLog::enable(&db.server).await)
    }

    /// Forgets what was received so far.
    pub async fn mark(&mut self) {
        match self {
            Self::Postgres { path, offset } => *offset = std::fs::metadata(path).unwrap().len(),
            Self::Mysql(log) => log.mark().await,
            Self::Unknown => {}
        }
    }

    /// The statements run since the last mark that contain `marker`, as the database ran
    /// them (without the log's own prefix), each once, waiting a little for them to reach the
    /// log; `None` when they cannot be known.
    pub async fn statements(&self, marker: &str) -> Option<Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = match self {
                Self::Postgres { path, offset } => postgres_statements(path, *offset, marker)
                    .iter()
                    .map(|entry| postgres_statement_text(entry))
                    .collect(),
                Self::Mysql(log) => log.statements(marker).await,
                Self::Unknown => return None,
            };
            if !found.is_empty() || Instant::now() > deadline {
                return Some(found);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The entries of a PostgreSQL log past `offset` that contain `marker`. An entry is a line
/// that starts with the timestamp, with its continuation lines; a `DETAIL` entry (the bound
/// parameters of a statement) is joined to the entry before it from the same process.
fn postgres_statements(path: &Path, offset: u64, marker: &str) -> Vec<String> {
    let mut file = std::fs::File::open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let starts_entry = line.len() > 4
            && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && line.as_bytes()[4] == b'-';
        if !starts_entry {
            if let Some((_, entry)) = entries.last_mut() {
                entry.push('\n');
                entry.push_str(line);
            }
            continue;
        }
        let process = line
            .split_once(" [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map_or(String::new(), |(pid, _)| pid.to_owned());
        if line.contains("DETAIL:")
            && let Some((_, entry)) = entries.iter_mut().rev().find(|(p, _)| *p == process)
        {
            entry.push('\n');
            entry.push_str(line);
            continue;
        }
        entries.push((process, line.to_owned()));
    }
    entries
        .into_iter()
        .map(|(_, entry)| entry)
        .filter(|entry| entry.contains(marker))
        .collect()
}

/// The statement of a PostgreSQL log entry: what follows `LOG:  statement: ` or
/// `LOG:  execute <name>: `; the whole entry when it is neither, so that a comparison with it
/// fails showing what was logged.
fn postgres_statement_text(entry: &str) -> String {
    let Some((_, logged)) = entry.split_once("LOG:  ") else {
        return entry.to_owned();
    };
    if let Some(statement) = logged.strip_prefix("statement: ") {
        return statement.to_owned();
    }
    match logged
        .strip_prefix("execute ")
        .and_then(|named| named.split_once(": "))
    {
        Some((_, statement)) => statement.to_owned(),
        None => entry.to_owned(),
    }
}

/// MariaDB's general log, turned on into its table for one test and restored on drop.
///
/// The setting is global, so a session of its own holds a named lock for as long as the log is
/// on: a run of the same test in another process waits for it instead of restoring the log
/// under it. That session lives on a thread and runtime of its own, so that `Drop` can end it.
pub struct GeneralLog {
    server: Url,
    since: String,
    stop: Option<oneshot::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

const GENERAL_LOG_LOCK: &str = "tiaokuai_test_general_log";

impl GeneralLog {
    async fn enable(server: &Url) -> Self {
        let (ready, on) = oneshot::channel();
        let (stop, stopped) = oneshot::channel();
        let url = server.clone();
        let keeper = std::thread::spawn(move || {
            let kept = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|runtime| runtime.block_on(keep_general_log(url, ready, stopped)));
            if let Err(error) = kept {
                eprintln!("MariaDB's general log: {error}");
            }
        });
        on.await
            .unwrap_or_else(|_| Err("the keeper thread ended".into()))
            .unwrap_or_else(|error| panic!("could not turn MariaDB's general log on: {error}"));
        let mut log = Self {
            server: server.clone(),
            since: String::new(),
            stop: Some(stop),
            keeper: Some(keeper),
        };
        log.mark().await;
        log
    }

    async fn mark(&mut self) {
        let found = rows(Dbms::Mysql, &self.server, "SELECT NOW(6)").await;
        self.since = found[0][0].clone().unwrap();
    }

    async fn statements(&self, marker: &str) -> Vec<String> {
        // the log also holds this very query, which names the marker: leave it out; a
        // prepared statement is logged when prepared and again when run: only runs count
        let sql = format!(
            "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log \
             WHERE event_time >= '{}' AND command_type IN ('Query', 'Execute') \
             AND argument LIKE '%{marker}%' AND argument NOT LIKE '%general_log%' \
             ORDER BY event_time",
            self.since
        );
        rows(Dbms::Mysql, &self.server, &sql)
            .await
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect()
    }
}

impl Drop for GeneralLog {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

/// Takes the lock, turns the log on, says so on `ready`, and once `stopped` fires (or its
/// sender is gone) restores the settings it found and lets the lock go.
async fn keep_general_log(
    url: Url,
    ready: oneshot::Sender<Result<(), String>>,
    stopped: oneshot::Receiver<()>,
) -> Result<(), String> {
    let mut conn = match mysql(&url).await {
        Ok(conn) => conn,
        Err(error) => {
            let _ = ready.send(Err(error.clone()));
            return Err(error);
        }
    };
    let found = first_row(
        &mut conn,
        &format!(
            "SELECT GET_LOCK('{GENERAL_LOG_LOCK}', 300), @@global.general_log, @@global.log_output"
        ),
    )
    .await;
    let previous = match found.as_deref() {
        Ok([Some(locked), Some(general_log), Some(log_output)]) if locked == "1" => {
            (general_log.clone(), log_output.clone())
        }
        other => {
            let error = format!("no lock on the general log: {other:?}");
            let _ = ready.send(Err(error.clone()));
            return Err(error);
        }
    };
    for statement in [
        "SET GLOBAL log_output = 'TABLE'",
        "SET GLOBAL general_log = 1",
    ] {
        if let Err(error) = conn.query_drop(statement).await {
            let error = format!("{statement}: {error}");
            let _ = ready.send(Err(error.clone()));
            return Err(error);
        }
    }
    let _ = ready.send(Ok(()));
    let _ = stopped.await;
    let (general_log, log_output) = previous;
    for statement in [
        format!("SET GLOBAL general_log = {general_log}"),
        format!("SET GLOBAL log_output = '{log_output}'"),
        format!("DO RELEASE_LOCK('{GENERAL_LOG_LOCK}')"),
    ] {
        conn.query_drop(&statement)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    conn.disconnect().await.map_err(|e| e.to_string())
}

async fn first_row(conn: &mut mysql_async::Conn, sql: &str) -> Result<Vec<Option<String>>, String> {
    let found: Option<mysql_async::Row> = conn.query_first(sql).await.map_err(|e| e.to_string())?;
    let row = found.ok_or_else(|| format!("{sql}: no row"))?;
    Ok(row.unwrap().into_iter().map(mysql_text).collect())
}
