//! Clients that stop reading: their queries may not hold a database source from everyone else.
//!
//! Each test fills a large table in a real PostgreSQL or MariaDB database, registers it, and
//! has one principal open streamed answers on it over raw TCP connections that read the status
//! line and headers and then nothing more (with a small receive buffer, so the server soon has
//! nowhere to put the rest). Whether the server still holds a source's slots is read from the
//! source's own state (`GET /v1/sources/{id}`: statements running now). Every wait is bounded
//! only so that a failing test ends; nothing is timed.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::database_fixtures::{Dbms, TestDb};
use crate::fixtures::{COUNTY, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error};

const ROWS: i64 = 300_000;
/// Every wait of these tests ends by this bound, so that a failure is reported, not hung.
const BOUND: Duration = Duration::from_secs(90);
/// The answer that is opened and never read: about 28 MB of JSON, far more than the server's
/// relay, its socket and the client's socket buffer hold together.
const UNREAD: &str = "SELECT id, note FROM civil.big";
const COUNT: &str = "SELECT count(*) FROM civil.big";

async fn big_table(dbms: Dbms, test: &str) -> Option<TestDb> {
    let (db, fill) = match dbms {
        Dbms::Postgres => (
            TestDb::postgres(test).await?,
            format!(
                "INSERT INTO public.big SELECT g, '{XIASHAN}', repeat('x', 80) FROM generate_series(1, {ROWS}) g"
            ),
        ),
        Dbms::Mysql => (
            TestDb::mysql(test).await?,
            format!(
                "INSERT INTO big SELECT seq, '{XIASHAN}', REPEAT('x', 80) FROM seq_1_to_{ROWS}"
            ),
        ),
    };
    db.execute(&[
        "CREATE TABLE big (id BIGINT PRIMARY KEY, village_code VARCHAR(12) NOT NULL, note VARCHAR(100))",
        &fill,
    ])
    .await;
    Some(db)
}

/// A server with `adjust` applied, the table registered as `civil.big` on a source with four
/// slots, and two principals who read it county-wide; returns the server, the source id and
/// the principals' tokens.
async fn serve(
    db: &TestDb,
    adjust: impl FnOnce(&mut tiaokuai::ServerConfig),
) -> (TestServer, String, String, String) {
    let server = TestServer::start_with(adjust).await;
    server.load_tree().await;
    let (kind, remote) = match db.dbms {
        Dbms::Postgres => ("postgres", "public.big"),
        Dbms::Mysql => ("mysql", "big"),
    };
    let created = server
        .register(json!({"name": "big_db", "kind": kind, "url": db.url().as_str(), "owner": COUNTY,
            "options": {"sslmode": "disable", "pool_size": 4, "max_concurrent_queries": 4,
                        "connect_timeout_ms": 5000, "query_timeout_ms": 120000},
            "tables": [{"name": "civil.big", "remote": remote, "binding": {"column": "village_code"}}]}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let policy = server
        .post(
            ADMIN_TOKEN,
            "/v1/policies",
            json!({"role": "dispatcher", "jurisdiction": "*", "object": "civil.*", "action": "read"}),
        )
        .await;
    assert_eq!(policy.status(), StatusCode::CREATED);
    let mut tokens = Vec::new();
    for name in ["reader_a", "reader_b"] {
        let token = server.principal(name).await;
        let assigned = server
            .post(
                ADMIN_TOKEN,
                "/v1/role-assignments",
                json!({"principal": name, "role": "dispatcher", "jurisdiction": COUNTY}),
            )
            .await;
        assert_eq!(assigned.status(), StatusCode::CREATED);
        tokens.push(token);
    }
    let b = tokens.pop().unwrap();
    let a = tokens.pop().unwrap();
    (server, id, a, b)
}

/// A streamed answer whose client reads its head and then nothing.
struct Unread {
    stream: TcpStream,
    status: u16,
}

impl Unread {
    /// Sends `sql` and reads the response up to the end of its headers, byte by byte, so that
    /// not one byte of the body is taken.
    async fn open(url: &str, token: &str, sql: &str) -> Self {
        let address: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        let body = json!({"sql": sql}).to_string();
        let request = format!(
            "POST /v1/query HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.unwrap();
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head);
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Self { stream, status }
    }

    /// Reads the rest until the server closes; the body as text.
    async fn rest(mut self) -> String {
        let mut body = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            match tokio::time::timeout(BOUND, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => body.extend_from_slice(&chunk[..n]),
                Err(_) => panic!("the server neither finished nor cut an answer"),
            }
        }
        String::from_utf8_lossy(&body).into_owned()
    }
}

/// Statements the source runs now.
async fn running(server: &TestServer, id: &str) -> u64 {
    let source: Value = server
        .get(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
        .await
        .json()
        .await
        .unwrap();
    source["state"]["running"].as_u64().unwrap()
}

/// Waits (bounded) until the source runs exactly `count` statements.
async fn until_running(server: &TestServer, id: &str, count: u64) {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let now = running(server, id).await;
        if now == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source still runs {now} statements, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks until the answer is not a 429 (bounded): a query's turn ends a moment after its source
/// slot is released.
async fn rows_once_admitted(server: &TestServer, token: &str, sql: &str) -> Value {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let (status, body) = server.query(token, sql).await;
        if status != StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(status, StatusCode::OK, "{sql}: {body}");
            return body["rows"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql} stays refused: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One principal opens four answers it never reads: it gets its share of the source (two of
/// four slots), no more; another principal's query on the source answers meanwhile; and the
/// first principal's further queries are refused with 429 while its four are running.
async fn one_principal_takes_only_its_share(dbms: Dbms, test: &str) {
    let Some(db) = big_table(dbms, test).await else {
        return;
    };
    // the answers are not cut in this test: the send-idle time is longer than its bound
    let (server, id, a, b) = serve(&db, |config| {
        config.limits.send_idle_timeout = BOUND * 4;
        config.engine.max_queries_per_principal = 4;
    })
    .await;
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, token) = (server.url.clone(), a.clone());
        opening.spawn(async move { Unread::open(&url, &token, UNREAD).await });
    }
    // two answers start: the two statements that got the principal's share of the slots
    let mut started = Vec::new();
    while started.len() < 2 {
        let opened = tokio::time::timeout(BOUND, opening.join_next())
            .await
            .expect("no answer started")
            .unwrap()
            .unwrap();
        assert_eq!(opened.status, 200);
        started.push(opened);
    }
    until_running(&server, &id, 2).await;

    // another principal's query on the same source answers while they are held
    assert_eq!(server.rows(&b, COUNT).await, vec![json!([ROWS])]);
    // the first principal's limit fills up with the two statements still waiting for its
    // share; then even a query of no source is refused
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let response = server
            .post(&a, "/v1/query", json!({"sql": "SELECT 1"}))
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let message = assert_error(response, StatusCode::TOO_MANY_REQUESTS, "overloaded").await;
            assert!(message.contains("reader_a"), "{message}");
            break;
        }
        let status = response.status();
        assert_eq!(status, StatusCode::OK, "{}", response.text().await.unwrap());
        assert!(
            tokio::time::Instant::now() < deadline,
            "reader_a is never refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // others are not: the limit is the principal's own
    assert_eq!(server.rows(&b, "SELECT 1").await, vec![json!([1])]);
    assert_eq!(server.rows(&b, COUNT).await, vec![json!([ROWS])]);
    // and the first principal still holds no more than its share
    assert_eq!(running(&server, &id).await, 2);
    opening.abort_all();
}

/// A principal opens two answers and never reads them: after the send-idle time both are cut,
/// the source runs nothing, the principal may query again, and what the clients finally read
/// is a cut answer, never one that looks complete.
async fn unread_answers_are_cut_and_release_the_source(dbms: Dbms, test: &str) {
    let Some(db) = big_table(dbms, test).await else {
        return;
    };
    let (server, id, a, b) = serve(&db, |config| {
        config.limits.send_idle_timeout = Duration::from_secs(1);
        config.engine.max_queries_per_principal = 2;
    })
    .await;
    let mut unread = Vec::new();
    for _ in 0..2 {
        let opened = tokio::time::timeout(BOUND, Unread::open(&server.url, &a, UNREAD))
            .await
            .expect("the answer did not start");
        assert_eq!(opened.status, 200);
        unread.push(opened);
    }
    // nobody reads, yet the source is released
    until_running(&server, &id, 0).await;
    assert_eq!(server.rows(&b, COUNT).await, vec![json!([ROWS])]);
    assert_eq!(
        rows_once_admitted(&server, &a, COUNT).await,
        json!([[ROWS]])
    );
    for answer in unread {
        let body = answer.rest().await;
        assert!(
            body.contains("\"rows\":[") && body.contains("xxxxxxxx"),
            "the answer had not begun: {}",
            &body[..body.len().min(200)]
        );
        assert!(!body.contains("row_count"), "a cut answer was completed");
        assert!(
            !body.ends_with("0\r\n\r\n"),
            "a cut answer ended like a complete one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_principal_takes_only_its_share() {
    one_principal_takes_only_its_share(Dbms::Postgres, "pg_share").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_one_principal_takes_only_its_share() {
    one_principal_takes_only_its_share(Dbms::Mysql, "my_share").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unread_answers_are_cut_and_release_the_source() {
    unread_answers_are_cut_and_release_the_source(Dbms::Postgres, "pg_unread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_unread_answers_are_cut_and_release_the_source() {
    unread_answers_are_cut_and_release_the_source(Dbms::Mysql, "my_unread").await;
}
