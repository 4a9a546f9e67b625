//! Every kind of bad input gets a clear error, and none changes stored metadata or stops the
//! server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::{self, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

async fn server_with_people() -> TestServer {
    let server = TestServer::start_with(|config| {
        config.limits.max_body_bytes = 64 << 10;
        config.limits.max_sql_bytes = 8 << 10;
    })
    .await;
    server.load_tree().await;
    server
        .register_people(
            &[(1, "张三", XIASHAN)],
            XIASHAN,
            "village.people",
            json!({}),
        )
        .await;
    server
}

async fn raw_query(server: &TestServer, token: &str, body: &'static str) -> reqwest::Response {
    server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let server = server_with_people().await;
    let before = catalog_snapshot(&server).await;
    assert_error(
        raw_query(&server, ADMIN_TOKEN, "{not json").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let message = assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"params": []}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(message.contains("sql"), "{message}");
    assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"sql": 7}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"sql": "SELECT 1", "sq": 1}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"sql": "   "}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let message = assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"sql": "SELECT 1; SELECT 2"}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(message.contains("2 statements"), "{message}");
    let message = assert_error(
        raw_query(
            &server,
            ADMIN_TOKEN,
            r#"{"sql": "SELECT id FROM village.people WHER id = 1"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_sql",
    )
    .await;
    assert!(message.contains("Line: 1, Column"), "{message}");
    assert_error(
        raw_query(
            &server,
            ADMIN_TOKEN,
            r#"{"sql": "SELECT nope FROM village.people"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_sql",
    )
    .await;
    assert_error(
        raw_query(&server, ADMIN_TOKEN, r#"{"sql": "SELECT 1/0"}"#).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_eq!(catalog_snapshot(&server).await, before);
}

#[tokio::test]
async fn unknown_tables_are_404() {
    let server = server_with_people().await;
    for sql in [
        "SELECT * FROM village.nobody",
        "SELECT * FROM nowhere.people",
        "SELECT * FROM people",
        "SELECT * FROM other_catalog.village.people",
        "WITH x AS (SELECT 1) SELECT * FROM x JOIN village.nobody ON true",
    ] {
        let (status, body) = server.query(ADMIN_TOKEN, sql).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{sql}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn statements_other_than_queries_are_403_for_non_admins() {
    let server = server_with_people().await;
    let alice = server.principal("alice").await;
    let before = catalog_snapshot(&server).await;
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT * FROM system.jurisdictions",
        "DROP TABLE village.people",
        "INSERT INTO village.people VALUES (9, 'x', '330824116224')",
        "DELETE FROM village.people",
        "COPY (SELECT 1) TO '/tmp/tiaokuai-copy-test.csv'",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
        "PREPARE p AS SELECT 1",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_csv('/etc/passwd')",
    ] {
        let (status, body) = server.query(&alice, sql).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{sql}: {body}");
        assert_eq!(body["error"]["code"], "permission_denied");
    }
    assert!(!std::path::Path::new("/tmp/tiaokuai-copy-test.csv").exists());
    // alice holds no role: registered tables do not exist for her; the tree is for everyone
    let (status, body) = server.query(&alice, "SELECT * FROM village.people").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        server
            .rows(&alice, "SELECT count(*) FROM system.jurisdictions")
            .await,
        vec![json!([6])]
    );
    assert_eq!(catalog_snapshot(&server).await, before);
}

#[tokio::test]
async fn oversized_bodies_and_sql_are_413() {
    let server = server_with_people().await;
    let big = format!("SELECT '{}'", "x".repeat(100 << 10));
    let response = server
        .post(ADMIN_TOKEN, "/v1/query", json!({"sql": big}))
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    let long = format!("SELECT '{}'", "x".repeat(16 << 10));
    let response = server
        .post(ADMIN_TOKEN, "/v1/query", json!({"sql": long}))
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/sources",
            json!({"name": "x".repeat(100 << 10)}),
        )
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_401() {
    let server = server_with_people().await;
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = server
        .post(
            "tk_not_a_real_token",
            "/v1/query",
            json!({"sql": "SELECT 1"}),
        )
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = server
        .client
        .get(format!("{}/v1/tables", server.url))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for path in [
        "/v1/tables",
        "/v1/whoami",
        "/v1/openapi.json",
        "/metrics",
        "/v1/sources",
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn bad_source_urls_are_400_and_store_nothing() {
    let server = server_with_people().await;
    let before = catalog_snapshot(&server).await;
    let files = server.files();
    std::fs::write(
        files.join("not-parquet.parquet"),
        b"this is text, not parquet",
    )
    .unwrap();
    std::fs::create_dir_all(files.join("empty")).unwrap();
    let cases = [
        ("not a url", "is not a valid URL"),
        ("ftp://example.org/x.parquet", "unsupported URL scheme"),
        ("postgres://user@127.0.0.1/db", "unsupported URL scheme"),
        ("http://127.0.0.1:9/folder/", "cannot list folders"),
        (
            &*fixtures::file_url(&files.join("does-not-exist/")),
            "no file at",
        ),
        (
            &*fixtures::file_url(&files.join("empty")),
            "no Parquet files",
        ),
        (
            &*fixtures::file_url(&files.join("not-parquet.parquet")),
            "cannot read a Parquet schema",
        ),
    ];
    for (url, reason) in cases {
        let response = server
            .post(
                ADMIN_TOKEN,
                "/v1/sources",
                fixtures::parquet_source("bad", url, XIASHAN, None),
            )
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(reason), "{url}: {message}");
    }
    let missing_kind = json!({"name": "bad", "url": fixtures::file_url(&files), "owner": XIASHAN});
    assert_error(
        server.post(ADMIN_TOKEN, "/v1/sources", missing_kind).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let database = json!({"name": "bad", "kind": "postgres", "url": "postgres://u@127.0.0.1/db", "owner": XIASHAN});
    assert_error(
        server.post(ADMIN_TOKEN, "/v1/sources", database).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_eq!(catalog_snapshot(&server).await, before);
}

#[tokio::test]
async fn vanished_files_are_502_naming_the_source() {
    let server = server_with_people().await;
    std::fs::remove_dir_all(server.files().join("people")).unwrap();
    let (status, body) = server
        .query(ADMIN_TOKEN, "SELECT * FROM village.people")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "source_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"people\""),
        "{body}"
    );
    let response = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn queries_past_their_time_limit_are_504() {
    let server =
        TestServer::start_with(|config| config.engine.query_timeout = Duration::from_millis(500))
            .await;
    let started = std::time::Instant::now();
    let (status, body) = server
        .query(
            ADMIN_TOKEN,
            "SELECT count(*) FROM generate_series(1, 100000000000)",
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(server.rows(ADMIN_TOKEN, "SELECT 1").await, vec![json!([1])]);
}

#[tokio::test]
async fn queries_over_the_memory_limit_fail_alone() {
    let server = TestServer::start_with(|config| {
        config.engine.memory_limit = 48 << 20;
        // a value cap above the pool, so that the pool is what refuses this one value
        config.engine.max_value_bytes = 1 << 30;
    })
    .await;
    let (status, body) = server
        .query(
            ADMIN_TOKEN,
            "SELECT array_agg(value) FROM generate_series(1, 30000000)",
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "resources_exhausted");
    // a sort spills instead of failing
    let rows = server.rows(ADMIN_TOKEN, "SELECT count(*), max(rn) FROM (SELECT value, row_number() OVER (ORDER BY value DESC) AS rn FROM generate_series(1, 8000000))").await;
    assert_eq!(rows, vec![json!([8000000, 8000000])]);
    assert_eq!(server.rows(ADMIN_TOKEN, "SELECT 2").await, vec![json!([2])]);
}

#[tokio::test]
async fn unknown_endpoints_are_404_json() {
    let server = server_with_people().await;
    let response = server.get(ADMIN_TOKEN, "/v1/nothing-here").await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        server.get(ADMIN_TOKEN, "/v1/sources/src_missing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        server.delete(ADMIN_TOKEN, "/v1/datasets/ds_missing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
