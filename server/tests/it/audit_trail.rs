//! How a query's answer ended is in the audit trail, beside the record of its start: completed
//! with its rows, failed after its first batch (when its status can no longer say so), or
//! cancelled because the client went away. Each wait is bounded only so that a failing test
//! ends; nothing is timed.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai_catalog::{Catalog, SqliteCatalog};

use crate::database_fixtures::{Link, Proxy, TestDb};
use crate::fixtures::{COUNTY, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer};

const ROWS: i64 = 200_000;
const BOUND: Duration = Duration::from_secs(60);

/// The `query.end` record of `query_id`, once the server has written it.
async fn end_of(server: &TestServer, query_id: &str) -> Value {
    let catalog = SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let events = catalog.audit_events(1000).await.unwrap();
        let started = events
            .iter()
            .find(|e| e.action == "query" && e.target == query_id);
        let ended = events
            .iter()
            .find(|e| e.action == "query.end" && e.target == query_id);
        if let (Some(started), Some(ended)) = (started, ended) {
            assert_eq!(started.detail["outcome"], "started", "{:?}", started.detail);
            assert_eq!(ended.principal, "admin");
            return ended.detail.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end recorded for {query_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A large PostgreSQL table, reached through a proxy that can cut the link.
async fn big_source(test: &str) -> Option<(TestDb, Proxy, TestServer)> {
    let db = TestDb::postgres(test).await?;
    db.execute(&[
        "CREATE TABLE big (id BIGINT PRIMARY KEY, village_code VARCHAR(12) NOT NULL, note VARCHAR(100))",
        &format!("INSERT INTO big SELECT g, '{XIASHAN}', repeat('x', 80) FROM generate_series(1, {ROWS}) g"),
    ])
    .await;
    let proxy = Proxy::start(db.address());
    let mut through = db.url();
    through.set_port(Some(proxy.address.port())).unwrap();
    through
        .set_host(Some(&proxy.address.ip().to_string()))
        .unwrap();
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register(json!({"name": "big_db", "kind": "postgres", "url": through.as_str(), "owner": COUNTY,
            "options": {"sslmode": "disable", "connect_timeout_ms": 2000, "query_timeout_ms": 30000},
            "tables": [{"name": "civil.big", "remote": "public.big", "binding": {"column": "village_code"}}]}))
        .await;
    Some((db, proxy, server))
}

async fn open(server: &TestServer, sql: &str) -> (String, reqwest::Response) {
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "application/x-ndjson")
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let query_id = response.headers()["x-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (query_id, response)
}

#[tokio::test]
async fn a_completed_answer_records_its_rows() {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(
            &[
                (1, "张三", XIASHAN),
                (2, "李四", XIASHAN),
                (3, "王五", XIASHAN),
            ],
            XIASHAN,
            "village.people",
            json!({}),
        )
        .await;
    let (query_id, response) = open(&server, "SELECT * FROM village.people").await;
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 3);
    let end = end_of(&server, &query_id).await;
    assert_eq!(end, json!({"outcome": "completed", "rows": 3}));
}

/// The database dies in the middle of the answer: the client sees a cut body, and the audit
/// trail says the query failed, naming the source, after how many rows.
#[tokio::test]
async fn a_source_failing_after_the_first_batch_is_recorded_as_a_failure() {
    let Some((_db, proxy, server)) = big_source("audit_failing").await else {
        return;
    };
    let (query_id, response) = open(&server, "SELECT id, note FROM civil.big").await;
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("a first chunk").expect("readable");
    assert!(!first.is_empty());
    proxy.set(Link::Down);
    let mut cut = false;
    let read_all = async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                cut = true;
                break;
            }
        }
    };
    tokio::time::timeout(BOUND, read_all).await.unwrap();
    assert!(cut, "the answer ended as if it were complete");
    let end = end_of(&server, &query_id).await;
    assert_eq!(end["outcome"], "failed", "{end}");
    assert_eq!(end["error"]["code"], "source_unavailable", "{end}");
    assert!(
        end["error"]["message"].as_str().unwrap().contains("big_db"),
        "{end}"
    );
    let rows = end["rows"].as_i64().unwrap();
    assert!(rows > 0 && rows < ROWS, "{end}");
}

/// The client goes away in the middle of the answer: the query is cancelled, and recorded so.
#[tokio::test]
async fn a_client_that_goes_away_leaves_a_cancelled_query() {
    let Some((_db, _proxy, server)) = big_source("audit_cancelled").await else {
        return;
    };
    let (query_id, response) = open(&server, "SELECT id, note FROM civil.big").await;
    let mut body = response.bytes_stream();
    body.next().await.expect("a first chunk").expect("readable");
    drop(body);
    let end = end_of(&server, &query_id).await;
    assert_eq!(end["outcome"], "cancelled", "{end}");
    let rows = end["rows"].as_i64().unwrap();
    assert!(rows < ROWS, "{end}");
}
