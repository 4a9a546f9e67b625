//! `sslmode` against real database servers, as libpq reads it: `prefer` (the default) uses
//! TLS where the server offers it and connects in the clear where it does not, `require`
//! never connects in the clear, `disable` never asks.
//!
//! The local MariaDB offers no TLS and the local PostgreSQL does. A server whose TLS
//! negotiation goes otherwise (PostgreSQL declining it, a handshake that fails) is played by a
//! proxy of the test's own in front of the real server, which changes the negotiation and
//! passes everything else through.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::database_fixtures::{TestDb, unique_name};
use crate::fixtures::{self, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};
use crate::process::ServerProcess;

const PEOPLE: [&str; 2] = [
    "CREATE TABLE people (id BIGINT NOT NULL, village_code VARCHAR(12) NOT NULL)",
    "INSERT INTO people VALUES (1, '330824116224'), (2, '330824116224'), (3, '330824116224')",
];

/// A one-table source over `people`, with `sslmode` when given.
fn source(name: &str, kind: &str, url: &str, sslmode: Option<&str>, secret: Option<&str>) -> Value {
    let mut options = json!({"connect_timeout_ms": 5000, "query_timeout_ms": 30000});
    if let Some(mode) = sslmode {
        options["sslmode"] = json!(mode);
    }
    let mut body = json!({"name": name, "kind": kind, "url": url, "owner": XIASHAN,
        "options": options,
        "tables": [{"name": format!("tls.{name}"), "remote": "people", "binding": {"fixed": XIASHAN}}]});
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    body
}

/// `url` with its host and port replaced by `address`.
fn through(url: &Url, address: SocketAddr) -> String {
    let mut url = url.clone();
    url.set_host(Some(&address.ip().to_string())).unwrap();
    url.set_port(Some(address.port())).unwrap();
    url.to_string()
}

/// Asserts that registering `body` is refused with `400 bad_request` for its `require`, with a
/// message that names the source and not `secret`, and that the catalog did not change.
async fn assert_require_refused(server: &TestServer, body: &Value, secret: &str) {
    let before = catalog_snapshot(server).await;
    let response = server.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let name = body["name"].as_str().unwrap();
    assert!(message.contains(name), "{message}");
    assert!(
        message.contains("sslmode") && message.contains("TLS"),
        "{message}"
    );
    assert!(!message.contains(secret), "{message}");
    assert_eq!(catalog_snapshot(server).await, before, "{body}");
}

#[tokio::test]
async fn mysql_without_tls_prefer_connects_in_the_clear_and_require_is_refused() {
    let Some(mut db) = TestDb::mysql("tls_modes").await else {
        return;
    };
    db.execute(&PEOPLE).await;
    let user = unique_name("u");
    let secret = format!("Tk{:016x}pw", rand::random::<u64>());
    db.create_reader(&user, &secret).await;
    let url = db.url_as(&user);

    let server = ServerProcess::start(ADMIN_TOKEN, "info").await;
    let (status, text) = server
        .send(
            Method::POST,
            ADMIN_TOKEN,
            "/v1/jurisdictions",
            Some(&fixtures::tree()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // the default is `prefer`; `preferred` is MySQL's own spelling of it
    let modes = [
        ("people_default", None),
        ("people_prefer", Some("prefer")),
        ("people_preferred", Some("preferred")),
        ("people_disable", Some("disable")),
    ];
    for (name, mode) in modes {
        let body = source(name, "mysql", url.as_str(), mode, Some(&secret));
        let (status, text) = server
            .send(Method::POST, ADMIN_TOKEN, "/v1/sources", Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "sslmode {mode:?}: {text}");
        let query = json!({"sql": format!("SELECT count(*) FROM tls.{name}")});
        let (status, text) = server
            .send(Method::POST, ADMIN_TOKEN, "/v1/query", Some(&query))
            .await;
        assert_eq!(status, StatusCode::OK, "sslmode {mode:?}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["rows"], json!([[3]]), "sslmode {mode:?}");
    }

    let (_, before) = server
        .send(Method::GET, ADMIN_TOKEN, "/v1/sources", None)
        .await;
    let body = source(
        "people_require",
        "mysql",
        url.as_str(),
        Some("require"),
        Some(&secret),
    );
    let (status, text) = server
        .send(Method::POST, ADMIN_TOKEN, "/v1/sources", Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "bad_request", "{text}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("people_require"), "{message}");
    assert!(
        message.contains("sslmode") && message.contains("TLS"),
        "{message}"
    );
    assert!(!message.contains(&secret), "{message}");
    let (_, after) = server
        .send(Method::GET, ADMIN_TOKEN, "/v1/sources", None)
        .await;
    assert_eq!(before, after, "a refused registration stored something");

    // the owner learns from the log that `prefer` went without TLS; nobody learns the password
    let log = server.stop();
    for (name, mode) in modes {
        let warned = log
            .lines()
            .any(|line| line.contains("does not offer TLS") && line.contains(name));
        assert_eq!(warned, mode != Some("disable"), "{name}:\n{log}");
    }
    assert!(!log.contains(&secret), "the log holds the password");
}

#[tokio::test]
async fn mysql_prefer_connects_in_the_clear_when_the_tls_handshake_fails() {
    let Some(mut db) = TestDb::mysql("tls_broken").await else {
        return;
    };
    db.execute(&PEOPLE).await;
    let user = unique_name("u");
    let secret = format!("Tk{:016x}pw", rand::random::<u64>());
    db.create_reader(&user, &secret).await;
    // a MariaDB that says it speaks TLS, and then does not
    let proxy = start_proxy(db.address(), Negotiation::MysqlBrokenTls).await;
    let url = through(&db.url_as(&user), proxy);

    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register(source("people_prefer", "mysql", &url, None, Some(&secret)))
        .await;
    assert_eq!(
        server
            .rows(ADMIN_TOKEN, "SELECT count(*) FROM tls.people_prefer")
            .await,
        vec![json!([3])]
    );
    let body = source(
        "people_require",
        "mysql",
        &url,
        Some("require"),
        Some(&secret),
    );
    assert_require_refused(&server, &body, &secret).await;
}

#[tokio::test]
async fn postgres_prefer_and_require_use_tls_where_the_server_offers_it() {
    let Some(db) = TestDb::postgres("tls_offered").await else {
        return;
    };
    db.execute(&PEOPLE).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    for (name, mode) in [
        ("people_default", None),
        ("people_require", Some("require")),
    ] {
        server
            .register(source(name, "postgres", db.url().as_str(), mode, None))
            .await;
        let sql = format!("SELECT count(*) FROM tls.{name}");
        assert_eq!(server.rows(ADMIN_TOKEN, &sql).await, vec![json!([3])]);
        let sessions = tiaokuai_sessions(&db).await;
        assert!(!sessions.is_empty());
        assert!(
            sessions.iter().all(|ssl| *ssl),
            "sslmode {mode:?}: a session in the clear: {sessions:?}"
        );
    }
}

#[tokio::test]
async fn postgres_prefer_connects_in_the_clear_where_tls_is_declined_or_fails() {
    let Some(db) = TestDb::postgres("tls_declined").await else {
        return;
    };
    db.execute(&PEOPLE).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    for (negotiation, name) in [
        (Negotiation::PostgresDeclines, "declined"),
        (Negotiation::PostgresBrokenTls, "broken"),
    ] {
        let proxy = start_proxy(db.address(), negotiation).await;
        let url = through(&db.url(), proxy);
        let prefer = format!("{name}_prefer");
        server
            .register(source(&prefer, "postgres", &url, Some("prefer"), None))
            .await;
        let sql = format!("SELECT count(*) FROM tls.{prefer}");
        assert_eq!(server.rows(ADMIN_TOKEN, &sql).await, vec![json!([3])]);
        let body = source(
            &format!("{name}_require"),
            "postgres",
            &url,
            Some("require"),
            None,
        );
        assert_require_refused(&server, &body, "no secret").await;
    }
    // the sessions the proxies carried are in the clear: nothing pretended otherwise
    let sessions = tiaokuai_sessions(&db).await;
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|ssl| !*ssl), "{sessions:?}");
}

/// Whether each session tiaokuai holds on `db` is encrypted, as PostgreSQL reports it.
async fn tiaokuai_sessions(db: &TestDb) -> Vec<bool> {
    let (client, connection) = tokio_postgres::connect(db.url().as_str(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'tiaokuai'",
            &[&db.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// How a proxy changes the TLS negotiation between a client and the real server.
#[derive(Debug, Clone, Copy)]
enum Negotiation {
    /// PostgreSQL answers an SSL request with `N`, then goes on in the clear.
    PostgresDeclines,
    /// PostgreSQL answers an SSL request with `S`, then sends what is not TLS.
    PostgresBrokenTls,
    /// MariaDB's greeting offers TLS (`CLIENT_SSL`); a client that asks for it gets what is
    /// not TLS, a client that does not is passed through.
    MysqlBrokenTls,
}

/// Starts a proxy to `upstream` on a loopback port of its own; it lives as long as the test's
/// runtime.
async fn start_proxy(upstream: SocketAddr, negotiation: Negotiation) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = match negotiation {
                    Negotiation::MysqlBrokenTls => mysql_session(client, upstream).await,
                    postgres => postgres_session(client, upstream, postgres).await,
                };
            });
        }
    });
    address
}

const NOT_TLS: &[u8] = b"this is not a TLS handshake\n";

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

async fn postgres_session(
    mut client: TcpStream,
    upstream: SocketAddr,
    negotiation: Negotiation,
) -> std::io::Result<()> {
    let mut first = [0_u8; 8];
    client.read_exact(&mut first).await?;
    if first != SSL_REQUEST {
        // a client that did not ask for TLS
        return relay(client, upstream, &first).await;
    }
    if let Negotiation::PostgresDeclines = negotiation {
        // the client goes on in the clear, on the same connection
        client.write_all(b"N").await?;
        return relay(client, upstream, &[]).await;
    }
    client.write_all(b"S").await?;
    // the client's hello, then an answer that no TLS client accepts
    let mut hello = [0_u8; 5];
    client.read_exact(&mut hello).await?;
    client.write_all(NOT_TLS).await?;
    client.shutdown().await
}

async fn mysql_session(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let (header, mut greeting) = read_packet(&mut server).await?;
    // protocol version, server version up to its NUL, connection id (4), scramble (8),
    // filler (1), then the low two bytes of the capabilities: CLIENT_SSL is 0x0800
    let version_end = 1 + greeting[1..].iter().position(|b| *b == 0).unwrap_or(0);
    let capabilities = version_end + 1 + 4 + 8 + 1;
    greeting[capabilities + 1] |= 0x08;
    client.write_all(&header).await?;
    client.write_all(&greeting).await?;
    let (header, answer) = read_packet(&mut client).await?;
    // an SSL request is the capabilities, packet size, charset and filler: 32 bytes
    let asks_tls = answer.len() == 32 && answer[1] & 0x08 != 0;
    if asks_tls {
        let mut hello = [0_u8; 5];
        client.read_exact(&mut hello).await?;
        client.write_all(NOT_TLS).await?;
        return client.shutdown().await;
    }
    server.write_all(&header).await?;
    server.write_all(&answer).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// One MySQL packet: its 4-byte header (3-byte length, sequence) and its payload.
async fn read_packet(stream: &mut TcpStream) -> std::io::Result<([u8; 4], Vec<u8>)> {
    let mut header = [0_u8; 4];
    stream.read_exact(&mut header).await?;
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0_u8; length];
    stream.read_exact(&mut payload).await?;
    Ok((header, payload))
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, already: &[u8]) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(already).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
