//! Database sources (PostgreSQL, MariaDB, SQLite) through the HTTP API: registration and its
//! refusals, secrets, a source that fails, and the SQL the databases actually receive.
//!
//! See `database_fixtures.rs` for the database servers these tests need and how they are found.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::database_fixtures::{Link, Proxy, ReceivedSql, TestDb, unique_name};
use crate::fixtures::{self, CHIHUAI, CHIHUAI_VILLAGE, HUASHAN, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_created, assert_error, refused};
use crate::process::ServerProcess;

/// One row of the test table.
struct Resident {
    id: i64,
    name: String,
    id_card: String,
    phone: String,
    age: i64,
    village: &'static str,
}

/// `count` residents spread over three villages (two in 马金镇, one in 池淮镇), aged 55 to 99.
fn residents(count: i64) -> Vec<Resident> {
    (1..=count)
        .map(|id| Resident {
            id,
            name: format!("居民{id}"),
            id_card: format!("330824{}{:04}", 19400101 + id % 28, id % 10_000),
            phone: format!("138{id:08}"),
            age: 55 + id * 37 % 45,
            village: [XIASHAN, HUASHAN, CHIHUAI_VILLAGE][(id % 3) as usize],
        })
        .collect()
}

/// Statements that create `table` and fill it with `rows`, in SQL that PostgreSQL, MariaDB and
/// SQLite all take.
fn create_residents(table: &str, rows: &[Resident]) -> Vec<String> {
    let mut statements = vec![format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(64), id_card VARCHAR(18), \
         phone VARCHAR(11), age INTEGER, village_code VARCHAR(12) NOT NULL)"
    )];
    for chunk in rows.chunks(250) {
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                format!(
                    "({}, '{}', '{}', '{}', {}, '{}')",
                    r.id, r.name, r.id_card, r.phone, r.age, r.village
                )
            })
            .collect();
        statements.push(format!(
            "INSERT INTO {table} (id, name, id_card, phone, age, village_code) VALUES {}",
            values.join(", ")
        ));
    }
    statements
}

async fn fill(db: &TestDb, table: &str, rows: &[Resident]) {
    let statements = create_residents(table, rows);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    db.execute(&statements).await;
}

/// A SQLite file in the server's test folder holding `table`; returns its URL.
fn sqlite_file(server: &TestServer, table: &str, rows: &[Resident]) -> String {
    let path = server.files().join(format!("{table}.db"));
    let connection = rusqlite::Connection::open(&path).unwrap();
    for statement in create_residents(table, rows) {
        connection.execute_batch(&statement).unwrap();
    }
    fixtures::file_url(&path)
}

/// A registration body; database servers get the limits of the contract's example.
fn database_source(name: &str, kind: &str, url: &str, owner: &str, table: Value) -> Value {
    let mut body =
        json!({"name": name, "kind": kind, "url": url, "owner": owner, "tables": [table]});
    if kind != "sqlite" {
        body["options"] = json!({"sslmode": "disable", "pool_size": 4, "max_concurrent_queries": 4,
                                 "connect_timeout_ms": 5000, "query_timeout_ms": 30000});
    }
    body
}

/// The residents table as `name`, bound by its village codes, with its personal columns
/// classified.
fn residents_table(name: &str, remote: &str) -> Value {
    json!({"name": name, "remote": remote, "binding": {"column": "village_code"},
           "classification": {"id_card": "sensitive:id_card", "phone": "sensitive:phone", "name": "sensitive:name"}})
}

/// A login of its own on `db` that may read it: (user, password).
async fn database_login(db: &mut TestDb) -> (String, String) {
    let user = unique_name("u");
    let secret = password();
    db.create_reader(&user, &secret).await;
    (user, secret)
}

/// A password no other test uses, of characters every layer takes as they are.
fn password() -> String {
    format!("Tk{:016x}pw", rand::random::<u64>())
}

fn assert_no_secret(secret: &str, what: &str, text: &str) {
    assert!(!text.contains(secret), "{what} contains the secret: {text}");
}

fn count(rows: &[Resident], keep: impl Fn(&Resident) -> bool) -> i64 {
    rows.iter().filter(|r| keep(r)).count() as i64
}

/// Whether `message` says one of `words` (case-insensitively).
fn says_any(message: &str, words: &[&str]) -> bool {
    let message = message.to_lowercase();
    words.iter().any(|w| message.contains(&w.to_lowercase()))
}

/// Registers `body` as admin and checks everything a registered residents table answers, down
/// to its removal.
async fn registers_answers_and_is_removed(server: &TestServer, body: Value, rows: &[Resident]) {
    let created = server.register(body.clone()).await;
    let id = created["id"].as_str().unwrap();
    assert!(!id.is_empty(), "{created}");
    assert_eq!(created["kind"], body["kind"], "{created}");
    let table = &created["tables"][0];
    assert_eq!(table["name"], "civil.elderly", "{created}");
    assert_eq!(table["remote"], body["tables"][0]["remote"], "{created}");
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns: {created}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["id", "name", "id_card", "phone", "age", "village_code"]
    );

    let fetched = server.get(ADMIN_TOKEN, &format!("/v1/sources/{id}")).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(fetched["name"], body["name"], "{fetched}");

    let total: i64 = rows.iter().map(|r| r.age).sum();
    assert_eq!(
        server
            .rows(ADMIN_TOKEN, "SELECT count(*), sum(age) FROM civil.elderly")
            .await,
        vec![json!([rows.len(), total])]
    );
    let first: Vec<Value> = rows[..3]
        .iter()
        .map(|r| json!([r.id, r.name, r.id_card, r.village]))
        .collect();
    assert_eq!(
        server
            .rows(
                ADMIN_TOKEN,
                "SELECT id, name, id_card, village_code FROM civil.elderly ORDER BY id LIMIT 3"
            )
            .await,
        first
    );
    let per_village: Vec<Value> = [HUASHAN, XIASHAN, CHIHUAI_VILLAGE]
        .iter()
        .map(|v| json!([v, count(rows, |r| r.village == *v)]))
        .collect();
    assert_eq!(
        server
            .rows(
                ADMIN_TOKEN,
                "SELECT village_code, count(*) FROM civil.elderly GROUP BY village_code ORDER BY village_code"
            )
            .await,
        per_village
    );

    let tables: Value = server
        .get(ADMIN_TOKEN, "/v1/tables")
        .await
        .json()
        .await
        .unwrap();
    let listed = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "civil.elderly")
        .unwrap_or_else(|| panic!("civil.elderly is not listed: {tables}"));
    let classification = |name: &str| {
        listed["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["classification"].clone())
    };
    assert_eq!(classification("name"), Some(json!("sensitive:name")));
    assert_eq!(classification("phone"), Some(json!("sensitive:phone")));

    let report: Value = server.check(id).await;
    assert_eq!(report["status"], "ok", "{report}");
    assert!(report["latency_ms"].is_u64(), "{report}");
    let checked: Vec<&str> = report["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns: {report}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checked, columns, "{report}");

    let deleted = server
        .delete(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, body) = server
        .query(ADMIN_TOKEN, "SELECT count(*) FROM civil.elderly")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(
        server.get(ADMIN_TOKEN, &format!("/v1/sources/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

/// A database server's source: its table filled, registered, queried and removed.
async fn server_source_registers_answers_and_is_removed(db: TestDb, kind: &str, remote: &str) {
    let rows = residents(300);
    fill(&db, remote, &rows).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let body = database_source(
        &format!("majin_civil_{kind}"),
        kind,
        db.url().as_str(),
        MAJIN,
        residents_table("civil.elderly", remote),
    );
    registers_answers_and_is_removed(&server, body, &rows).await;
}

#[tokio::test]
async fn postgres_source_registers_answers_and_is_removed() {
    if let Some(db) = TestDb::postgres("pg_register").await {
        server_source_registers_answers_and_is_removed(db, "postgres", "public.elderly").await;
    }
}

#[tokio::test]
async fn mysql_source_registers_answers_and_is_removed() {
    if let Some(db) = TestDb::mysql("my_register").await {
        server_source_registers_answers_and_is_removed(db, "mysql", "elderly").await;
    }
}

#[tokio::test]
async fn sqlite_source_registers_answers_and_is_removed() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let rows = residents(300);
    let url = sqlite_file(&server, "elderly", &rows);
    let body = database_source(
        "majin_civil_sqlite",
        "sqlite",
        &url,
        MAJIN,
        residents_table("civil.elderly", "elderly"),
    );
    registers_answers_and_is_removed(&server, body, &rows).await;
}

#[tokio::test]
async fn postgres_registration_refuses_bad_sources() {
    let Some(db) = TestDb::postgres("pg_refuse").await else {
        return;
    };
    fill(&db, "public.elderly", &residents(30)).await;
    db.execute(&["CREATE TABLE public.nocode (id BIGINT PRIMARY KEY, name TEXT)"])
        .await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let url = db.url();
    let source = |name: &str, url: &str, table: &str, remote: &str| {
        database_source(name, "postgres", url, MAJIN, residents_table(table, remote))
    };
    server
        .register(source(
            "majin_civil_pg",
            url.as_str(),
            "civil.elderly",
            "public.elderly",
        ))
        .await;

    // nothing listens on port 1
    let mut closed = url.clone();
    closed.set_port(Some(1)).unwrap();
    let started = Instant::now();
    let message = refused(
        &server,
        ADMIN_TOKEN,
        &source("closed", closed.as_str(), "civil.closed", "public.elderly"),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        says_any(&message, &["127.0.0.1:1", "connect", "refused", "reach"]),
        "{message}"
    );
    // the registration's connect_timeout_ms is 5 s
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );

    let mut with_password = url.clone();
    with_password.set_password(Some("hunter2-in-url")).unwrap();
    let message = refused(
        &server,
        ADMIN_TOKEN,
        &source(
            "inurl",
            with_password.as_str(),
            "civil.inurl",
            "public.elderly",
        ),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_no_secret("hunter2-in-url", "the refusal", &message);
    assert!(
        says_any(&message, &["password", "secret", "credential"]),
        "{message}"
    );

    let message = refused(
        &server,
        ADMIN_TOKEN,
        &source(
            "missing",
            url.as_str(),
            "civil.missing",
            "public.no_such_table",
        ),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(message.contains("no_such_table"), "{message}");

    let message = refused(
        &server,
        ADMIN_TOKEN,
        &source("nocode", url.as_str(), "civil.nocode", "public.nocode"),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(message.contains("village_code"), "{message}");

    // a taken source name, then a taken table name
    refused(
        &server,
        ADMIN_TOKEN,
        &source(
            "majin_civil_pg",
            url.as_str(),
            "civil.again",
            "public.elderly",
        ),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    refused(
        &server,
        ADMIN_TOKEN,
        &source("another", url.as_str(), "civil.elderly", "public.elderly"),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // a department registers in its own township only; a principal with no role nowhere
    server
        .post(ADMIN_TOKEN, "/v1/policies", json!({"role": "civil_dept", "jurisdiction": "*", "object": "civil.*", "action": "register_source"}))
        .await;
    let dept = server.principal("majin_civil").await;
    let assigned = server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": "majin_civil", "role": "civil_dept", "jurisdiction": MAJIN}),
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::CREATED);
    let nobody = server.principal("alice").await;
    let database_host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    server.grant(MAJIN, "host", &database_host).await;
    let mut elsewhere = source("chihuai", url.as_str(), "civil.chihuai", "public.elderly");
    elsewhere["owner"] = json!(CHIHUAI);
    refused(
        &server,
        &dept,
        &elsewhere,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    refused(
        &server,
        &nobody,
        &source("alice_pg", url.as_str(), "civil.alice", "public.elderly"),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let own = server
        .post(
            &dept,
            "/v1/sources",
            source("majin_own", url.as_str(), "civil.own", "public.elderly"),
        )
        .await;
    assert_eq!(
        own.status(),
        StatusCode::CREATED,
        "{}",
        own.text().await.unwrap()
    );
}

#[tokio::test]
async fn mysql_registration_refuses_a_wrong_password() {
    let Some(mut db) = TestDb::mysql("my_refuse").await else {
        return;
    };
    fill(&db, "elderly", &residents(30)).await;
    let (user, secret) = database_login(&mut db).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let table = residents_table("civil.elderly", "elderly");
    let mut body = database_source(
        "majin_civil_mysql",
        "mysql",
        db.url_as(&user).as_str(),
        MAJIN,
        table,
    );

    let wrong = password();
    body["secret"] = json!(wrong);
    let message = refused(
        &server,
        ADMIN_TOKEN,
        &body,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_no_secret(&wrong, "the refusal", &message);
    assert_no_secret(&secret, "the refusal", &message);
    assert!(
        says_any(
            &message,
            &["denied", "password", "credential", "authenticat"]
        ),
        "{message}"
    );

    let mut in_url = body.clone();
    let mut url = db.url_as(&user);
    url.set_password(Some(&secret)).unwrap();
    in_url["url"] = json!(url.as_str());
    in_url["secret"] = Value::Null;
    let message = refused(
        &server,
        ADMIN_TOKEN,
        &in_url,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_no_secret(&secret, "the refusal", &message);

    // the same source with the right password registers: the refusal was the password's
    body["secret"] = json!(secret);
    server.register(body).await;
    assert_eq!(
        server
            .rows(ADMIN_TOKEN, "SELECT count(*) FROM civil.elderly")
            .await,
        vec![json!([30])]
    );
}

/// A MariaDB source with a real password: no answer and no line of the server's log, at debug
/// level, ever holds it, whether queries succeed, fail in the engine, or fail at the database
/// because the password changed.
#[tokio::test]
async fn the_password_stays_out_of_answers_and_the_log() {
    let Some(mut db) = TestDb::mysql("my_secret").await else {
        return;
    };
    fill(&db, "elderly", &residents(50)).await;
    let (user, secret) = database_login(&mut db).await;

    let server = ServerProcess::start(ADMIN_TOKEN, "debug").await;
    let mut answers = Vec::new();
    let mut send = async |method: Method, path: &str, body: Option<Value>| {
        let (status, text) = server
            .send(method.clone(), ADMIN_TOKEN, path, body.as_ref())
            .await;
        answers.push((format!("{method} {path}"), text.clone()));
        (status, text)
    };
    let (status, text) = send(Method::POST, "/v1/jurisdictions", Some(fixtures::tree())).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mut body = database_source(
        "majin_civil_mysql",
        "mysql",
        db.url_as(&user).as_str(),
        MAJIN,
        residents_table("civil.elderly", "elderly"),
    );
    body["secret"] = json!(secret);
    let (status, text) = send(Method::POST, "/v1/sources", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/v1/sources".to_owned(),
        format!("/v1/sources/{id}"),
        "/v1/tables".to_owned(),
    ] {
        let (status, text) = send(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
    }
    let (_, text) = send(
        Method::POST,
        &format!("/v1/sources/{id}/check"),
        Some(json!({})),
    )
    .await;
    assert!(text.contains("\"ok\""), "{text}");

    let query = |sql: &str| Some(json!({"sql": sql}));
    let (status, text) = send(
        Method::POST,
        "/v1/query",
        query("SELECT count(*) FROM civil.elderly"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = send(
        Method::POST,
        "/v1/query",
        query("SELECT nope FROM civil.elderly"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    send(
        Method::POST,
        "/v1/query",
        query("SELECT age / 0 FROM civil.elderly"),
    )
    .await;
    send(
        Method::POST,
        "/v1/query",
        query("SELECT CAST(name AS INT) FROM civil.elderly"),
    )
    .await;

    // the database stops taking the password
    db.change_password(&user, &password()).await;
    let (status, text) = send(
        Method::POST,
        "/v1/query",
        query("SELECT count(*) FROM civil.elderly"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert!(text.contains("source_unavailable"), "{text}");
    assert!(text.contains("majin_civil_mysql"), "{text}");
    let (_, text) = send(
        Method::POST,
        &format!("/v1/sources/{id}/check"),
        Some(json!({})),
    )
    .await;
    assert!(text.contains("\"unavailable\""), "{text}");
    // registering again with the old password is refused
    body["name"] = json!("majin_civil_again");
    body["tables"][0]["name"] = json!("civil.again");
    let (status, text) = send(Method::POST, "/v1/sources", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");

    for (request, answer) in &answers {
        assert_no_secret(&secret, request, answer);
    }
    for file in ["catalog.db", "catalog.db-wal"] {
        let bytes =
            std::fs::read(server.dir.as_ref().unwrap().path().join(file)).unwrap_or_default();
        let stored = String::from_utf8_lossy(&bytes);
        assert_no_secret(&secret, file, &stored);
    }
    let log = server.stop();
    assert!(
        log.contains("DEBUG"),
        "the server did not log at debug level:\n{log}"
    );
    assert!(
        !log.contains(&secret),
        "the server's log holds the password:\n{}",
        log.lines()
            .filter(|l| l.contains(&secret))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Runs `sql` as admin; returns the status, the parsed body, and how long it took.
async fn timed(server: &TestServer, sql: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (status, body) = server.query(ADMIN_TOKEN, sql).await;
    (status, body, started.elapsed())
}

/// Asserts that a query on an unreachable source failed as the contract says: 502/503
/// `source_unavailable` naming the source, or 504 `timeout`; never with the secret.
fn assert_failed_as_unavailable(status: StatusCode, body: &Value, source: &str, secret: &str) {
    assert_no_secret(secret, "the failure", &body.to_string());
    let code = body["error"]["code"].as_str().unwrap_or_default();
    match status {
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => {
            assert_eq!(code, "source_unavailable", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(source), "{message}");
        }
        StatusCode::GATEWAY_TIMEOUT => assert_eq!(code, "timeout", "{body}"),
        other => panic!("a query on an unreachable source answered {other}: {body}"),
    }
}

/// One source stops answering (through a proxy that first stalls, then cuts the link): its
/// queries fail within its time limits, naming it, while the other sources go on answering;
/// checks report it; when it comes back it answers again.
#[tokio::test]
async fn a_failing_source_fails_alone() {
    let Some(pg) = TestDb::postgres("pg_failing").await else {
        return;
    };
    let Some(my) = TestDb::mysql("my_failing").await else {
        return;
    };
    let rows = residents(100);
    fill(&pg, "public.elderly", &rows).await;
    fill(&my, "elderly", &rows).await;
    let proxy = Proxy::start(pg.address());
    let server = TestServer::start().await;
    server.load_tree().await;

    let (connect_ms, query_ms) = (2_000, 3_000);
    let mut through = pg.url();
    through.set_port(Some(proxy.address.port())).unwrap();
    through
        .set_host(Some(&proxy.address.ip().to_string()))
        .unwrap();
    let secret = password();
    let mut body = database_source(
        "majin_civil_pg",
        "postgres",
        through.as_str(),
        MAJIN,
        residents_table("civil.pg_elderly", "public.elderly"),
    );
    body["options"]["connect_timeout_ms"] = json!(connect_ms);
    body["options"]["query_timeout_ms"] = json!(query_ms);
    // PostgreSQL trusts loopback connections here, so the secret is never asked for; it must
    // still never come back
    body["secret"] = json!(secret);
    let created = server.register(body).await;
    let id = created["id"].as_str().unwrap();
    server
        .register(database_source(
            "majin_civil_mysql",
            "mysql",
            my.url().as_str(),
            MAJIN,
            residents_table("civil.my_elderly", "elderly"),
        ))
        .await;
    let sqlite = sqlite_file(&server, "elderly", &rows);
    server
        .register(database_source(
            "majin_civil_sqlite",
            "sqlite",
            &sqlite,
            MAJIN,
            residents_table("civil.lite_elderly", "elderly"),
        ))
        .await;
    let others = [
        "SELECT count(*) FROM civil.my_elderly",
        "SELECT count(*) FROM civil.lite_elderly",
    ];
    for sql in [
        "SELECT count(*) FROM civil.pg_elderly",
        others[0],
        others[1],
    ] {
        assert_eq!(server.rows(ADMIN_TOKEN, sql).await, vec![json!([100])]);
    }

    // a loose correctness bound: the source's own limits, plus slack for a loaded machine
    let bound = Duration::from_millis(connect_ms + query_ms) + Duration::from_secs(10);
    proxy.set(Link::Stalled);
    let (failed, first, second) = tokio::join!(
        timed(
            &server,
            "SELECT count(*) FROM civil.pg_elderly WHERE age > 60"
        ),
        timed(&server, others[0]),
        timed(&server, others[1]),
    );
    let (status, failure, took) = failed;
    assert_failed_as_unavailable(status, &failure, "majin_civil_pg", &secret);
    assert!(
        took < bound,
        "the stalled source held the query for {took:?}"
    );
    for (status, answer, _) in [first, second] {
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["rows"], json!([[100]]));
    }
    let health = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let started = Instant::now();
    let report: Value = server.check(id).await;
    assert!(
        started.elapsed() < bound,
        "the check took {:?}",
        started.elapsed()
    );
    assert_eq!(report["status"], "unavailable", "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(message.contains("majin_civil_pg"), "{report}");
    assert_no_secret(&secret, "the check", &report.to_string());
    let fetched = server
        .get(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert_no_secret(&secret, "the source", &fetched);
    let fetched: Value = serde_json::from_str(&fetched).unwrap();
    // the source's live state, as the server last saw it
    assert_eq!(fetched["state"]["status"], "unavailable", "{fetched}");
    let state = fetched["state"]["message"].as_str().unwrap_or_default();
    assert!(state.contains("majin_civil_pg"), "{fetched}");

    // the database goes away altogether
    proxy.set(Link::Down);
    let (status, failure, took) = timed(&server, "SELECT count(*) FROM civil.pg_elderly").await;
    assert_failed_as_unavailable(status, &failure, "majin_civil_pg", &secret);
    assert!(
        took < bound,
        "the closed source held the query for {took:?}"
    );
    for sql in others {
        assert_eq!(server.rows(ADMIN_TOKEN, sql).await, vec![json!([100])]);
    }

    // and comes back
    proxy.set(Link::Up);
    assert_eq!(
        server
            .rows(ADMIN_TOKEN, "SELECT count(*) FROM civil.pg_elderly")
            .await,
        vec![json!([100])]
    );
    let report: Value = server.check(id).await;
    assert_eq!(report["status"], "ok", "{report}");
}

/// Asserts that for `query` the database ran exactly one statement naming `table`, and that
/// it is `expected` (whose `{table}` stands for the table's name) to the letter; returns the
/// statements. `None` stands for statements that could not be read, whose check is skipped.
async fn assert_received(
    received: &ReceivedSql,
    expected: &str,
    table: &str,
    query: &str,
) -> Option<Vec<String>> {
    let statements = received.statements(table).await?;
    let expected = expected.replace("{table}", table);
    assert_eq!(
        statements,
        [expected],
        "for {query:?} the database ran other statements than the one expected"
    );
    Some(statements)
}

/// The statements a database receives for the four queries of
/// [`pushdown_reaches_the_database`], in its dialect.
struct Pushed {
    /// A village official's count of residents over 80.
    village_count: &'static str,
    /// The same official's five oldest-first names: masked in the database, then ordered.
    village_top: &'static str,
    /// The same official's count by village.
    village_groups: &'static str,
    /// A township dispatcher's count of residents over 80: the township's range of codes.
    township_count: &'static str,
}

/// Gives `principal` a read role in `jurisdiction` over the `civil` tables; returns the token.
async fn reader(server: &TestServer, principal: &str, role: &str, jurisdiction: &str) -> String {
    let token = server.principal(principal).await;
    let policy = server
        .post(
            ADMIN_TOKEN,
            "/v1/policies",
            json!({"role": role, "jurisdiction": "*", "object": "civil.*", "action": "read"}),
        )
        .await;
    assert_eq!(policy.status(), StatusCode::CREATED);
    let assigned = server
        .post(
            ADMIN_TOKEN,
            "/v1/role-assignments",
            json!({"principal": principal, "role": role, "jurisdiction": jurisdiction}),
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::CREATED);
    token
}

/// The plan text of `EXPLAIN sql`, every cell of its answer joined.
async fn explain(server: &TestServer, token: &str, sql: &str) -> String {
    server
        .rows(token, &format!("EXPLAIN {sql}"))
        .await
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().filter_map(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// As village and township officials, the caller's jurisdiction, the filter, the limit and
/// the aggregate all reach the database in the SQL it receives (the caller's rows fenced off
/// below the caller's own filter); EXPLAIN shows that same SQL.
async fn pushdown_reaches_the_database(
    server: &TestServer,
    received: &mut ReceivedSql,
    table: &str,
    source: &str,
    secret: &str,
    rows: &[Resident],
    pushed: &Pushed,
) {
    let village = reader(server, "xiashan_official", "village_official", XIASHAN).await;
    let township = reader(server, "majin_dispatcher", "dispatcher", MAJIN).await;
    let old = |r: &Resident| r.age > 80;

    let sql = "SELECT count(*) FROM civil.elderly WHERE age > 80";
    received.mark().await;
    assert_eq!(
        server.rows(&village, sql).await,
        vec![json!([count(rows, |r| old(r) && r.village == XIASHAN)])]
    );
    assert_received(received, pushed.village_count, table, sql).await;

    let sql = "SELECT name FROM civil.elderly WHERE age > 80 ORDER BY id LIMIT 5";
    received.mark().await;
    let names = server.rows(&village, sql).await;
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        // the pushed-down query still comes back masked
        assert!(
            !rows.iter().any(|r| json!([r.name]) == *name),
            "{name} is not masked"
        );
    }
    assert_received(received, pushed.village_top, table, sql).await;

    let sql = "SELECT village_code, count(*) FROM civil.elderly GROUP BY village_code";
    received.mark().await;
    assert_eq!(
        server.rows(&village, sql).await,
        vec![json!([XIASHAN, count(rows, |r| r.village == XIASHAN)])]
    );
    assert_received(received, pushed.village_groups, table, sql).await;

    let sql = "SELECT count(*) FROM civil.elderly WHERE age > 80";
    received.mark().await;
    let in_majin = |r: &Resident| r.village == XIASHAN || r.village == HUASHAN;
    assert_eq!(
        server.rows(&township, sql).await,
        vec![json!([count(rows, |r| old(r) && in_majin(r))])]
    );
    let statements = assert_received(received, pushed.township_count, table, sql).await;
    for statement in statements.iter().flatten() {
        assert!(!statement.contains(&CHIHUAI[..9]), "{statement}");
    }

    let plan = explain(
        server,
        &village,
        "SELECT name FROM civil.elderly WHERE age > 80 ORDER BY id LIMIT 5",
    )
    .await;
    assert_no_secret(secret, "EXPLAIN", &plan);
    // every remote statement it shows (the logical and the physical plan's) is the one run
    let shown: Vec<&str> = plan
        .lines()
        .filter_map(|line| line.split_once(&format!("source={source} sql=")))
        .map(|(_, sql)| sql)
        .collect();
    let expected = pushed.village_top.replace("{table}", table);
    assert!(
        !shown.is_empty() && shown.iter().all(|sql| *sql == expected),
        "EXPLAIN shows other remote SQL of {source} than\n{expected}\n{plan}"
    );
}

#[tokio::test]
async fn postgres_receives_the_pushed_down_query() {
    let Some(db) = TestDb::postgres("pg_pushdown").await else {
        return;
    };
    // a table name of its own, to find this test's statements in the server's log
    let table = unique_name("elderly");
    let rows = residents(1000);
    fill(&db, &format!("public.{table}"), &rows).await;
    let mut received = ReceivedSql::postgres(&db).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let secret = password();
    let mut body = database_source(
        "majin_civil_pg",
        "postgres",
        db.url().as_str(),
        MAJIN,
        residents_table("civil.elderly", &format!("public.{table}")),
    );
    // trusted here, so never asked for; EXPLAIN must not show it all the same
    body["secret"] = json!(secret);
    server.register(body).await;
    pushdown_reaches_the_database(
        &server,
        &mut received,
        &table,
        "majin_civil_pg",
        &secret,
        &rows,
        &Pushed {
            village_count: r#"SELECT q.c0 AS c0 FROM (SELECT count(*) AS c0 FROM (SELECT 1 AS c_rows FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "age" AS c0, "village_code" AS c1 FROM "public"."{table}") q WHERE (q.c1 = '330824116224')) q) q OFFSET 0) q WHERE (q.c0 > 80)) q) q) q"#,
            village_top: r#"SELECT q.c0 AS c0 FROM (SELECT q.c1 AS c0, q.c0 AS c1 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, CASE WHEN (q.c1 IS NULL) THEN NULL ELSE (COALESCE(substr(q.c1, 1, 1), '') || COALESCE('*', '')) END AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2, q.c3 AS c3 FROM (SELECT "id" AS c0, "name" AS c1, "age" AS c2, "village_code" AS c3 FROM "public"."{table}") q WHERE (q.c3 = '330824116224')) q) q OFFSET 0) q WHERE (q.c2 > 80)) q) q ORDER BY q.c1 ASC NULLS LAST LIMIT 5"#,
            village_groups: r#"SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT q.c0 AS c0, count(*) AS c1 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT "village_code" AS c0 FROM "public"."{table}") q WHERE (q.c0 = '330824116224')) q OFFSET 0) q GROUP BY q.c0) q"#,
            township_count: r#"SELECT q.c0 AS c0 FROM (SELECT count(*) AS c0 FROM (SELECT 1 AS c_rows FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT "age" AS c0, "village_code" AS c1 FROM "public"."{table}") q WHERE (((q.c1 >= '330824116000' COLLATE "C") AND (q.c1 <= '330824116999' COLLATE "C")) AND (char_length(q.c1) = 12))) q) q OFFSET 0) q WHERE (q.c0 > 80)) q) q) q"#,
        },
    )
    .await;
}

#[tokio::test]
async fn mysql_receives_the_pushed_down_query() {
    let Some(mut db) = TestDb::mysql("my_pushdown").await else {
        return;
    };
    let table = unique_name("elderly");
    let rows = residents(1000);
    fill(&db, &table, &rows).await;
    let (user, secret) = database_login(&mut db).await;
    let mut received = ReceivedSql::mysql(&db).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let mut body = database_source(
        "majin_civil_mysql",
        "mysql",
        db.url_as(&user).as_str(),
        MAJIN,
        residents_table("civil.elderly", &table),
    );
    body["secret"] = json!(secret);
    server.register(body).await;
    pushdown_reaches_the_database(
        &server,
        &mut received,
        &table,
        "majin_civil_mysql",
        &secret,
        &rows,
        &Pushed {
            village_count: r#"SELECT q.c0 AS c0 FROM (SELECT count(*) AS c0 FROM (SELECT 1 AS c_rows FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `age` AS c0, `village_code` AS c1 FROM `{table}`) q WHERE (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) = CAST(CONVERT('330824116224' USING utf8mb4) AS BINARY))) q) q LIMIT 18446744073709551615) q WHERE (q.c0 > 80)) q) q) q"#,
            village_top: r#"SELECT q.c0 AS c0 FROM (SELECT q.c1 AS c0, q.c0 AS c1 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, CASE WHEN (q.c1 IS NULL) THEN NULL ELSE CONCAT(COALESCE(SUBSTRING(q.c1, 1, 1), ''), COALESCE('*', '')) END AS c1, q.c2 AS c2 FROM (SELECT q.c0 AS c0, q.c1 AS c1, q.c2 AS c2, q.c3 AS c3 FROM (SELECT `id` AS c0, `name` AS c1, `age` AS c2, `village_code` AS c3 FROM `{table}`) q WHERE (CAST(CONVERT(q.c3 USING utf8mb4) AS BINARY) = CAST(CONVERT('330824116224' USING utf8mb4) AS BINARY))) q) q LIMIT 18446744073709551615) q WHERE (q.c2 > 80)) q) q ORDER BY (q.c1) IS NULL ASC, q.c1 ASC LIMIT 5"#,
            village_groups: r#"SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT CONVERT(CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY) USING utf8mb4) AS c0, count(*) AS c1 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT `village_code` AS c0 FROM `{table}`) q WHERE (CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY) = CAST(CONVERT('330824116224' USING utf8mb4) AS BINARY))) q LIMIT 18446744073709551615) q GROUP BY CAST(CONVERT(q.c0 USING utf8mb4) AS BINARY)) q"#,
            township_count: r#"SELECT q.c0 AS c0 FROM (SELECT count(*) AS c0 FROM (SELECT 1 AS c_rows FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0 FROM (SELECT q.c0 AS c0, q.c1 AS c1 FROM (SELECT `age` AS c0, `village_code` AS c1 FROM `{table}`) q WHERE (((CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) >= CAST(CONVERT('330824116000' USING utf8mb4) AS BINARY)) AND (CAST(CONVERT(q.c1 USING utf8mb4) AS BINARY) <= CAST(CONVERT('330824116999' USING utf8mb4) AS BINARY))) AND (CHAR_LENGTH(q.c1) = 12))) q) q LIMIT 18446744073709551615) q WHERE (q.c0 > 80)) q) q) q"#,
        },
    )
    .await;
}

/// A department's database source connects only to a host admin granted its owner, checked
/// by the address it connects to: a granted name that leads to loopback does not reach it.
async fn a_department_reaches_only_its_granted_database(db: TestDb, kind: &str, remote: &str) {
    fill(&db, remote, &residents(30)).await;
    let server = TestServer::start().await;
    server.load_tree().await;
    let dept = server
        .role_holder(
            "majin_db",
            "db_dept",
            MAJIN,
            &[("register_source", "civil.*"), ("read", "civil.*")],
        )
        .await;
    let url = db.url();
    let port = url.port().unwrap();
    let body = |host: &str| {
        let mut url = url.clone();
        url.set_host(Some(host)).unwrap();
        database_source(
            "majin_db",
            kind,
            url.as_str(),
            MAJIN,
            residents_table("civil.elderly", remote),
        )
    };
    for host in ["127.0.0.1", "localhost"] {
        let message = refused(
            &server,
            &dept,
            &body(host),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
        assert!(message.contains("granted to 330824116000"), "{message}");
    }
    server
        .grant(MAJIN, "host", &format!("localhost:{port}"))
        .await;
    refused(
        &server,
        &dept,
        &body("localhost"),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    server
        .grant(MAJIN, "host", &format!("127.0.0.1:{port}"))
        .await;
    assert_created(server.post(&dept, "/v1/sources", body("127.0.0.1")).await).await;
    // 马金镇's own villages, masked as the role has no read_sensitive
    let rows = server
        .rows(&dept, "SELECT count(*), min(phone) FROM civil.elderly")
        .await;
    assert_eq!(rows[0][0], json!(20), "{rows:?}");
    assert!(rows[0][1].as_str().unwrap().contains("****"), "{rows:?}");
}

#[tokio::test]
async fn a_department_reaches_only_its_granted_postgres() {
    let Some(db) = TestDb::postgres("pg_reach").await else {
        return;
    };
    a_department_reaches_only_its_granted_database(db, "postgres", "public.elderly").await;
}

#[tokio::test]
async fn a_department_reaches_only_its_granted_mysql() {
    let Some(db) = TestDb::mysql("my_reach").await else {
        return;
    };
    a_department_reaches_only_its_granted_database(db, "mysql", "elderly").await;
}
