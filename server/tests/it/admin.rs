//! Principals, tokens, identity, jurisdictions, health and the OpenAPI document.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{COUNTY, MAJIN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

#[tokio::test]
async fn tokens_live_until_revoked() {
    let server = TestServer::start().await;
    let response = server
        .post(ADMIN_TOKEN, "/v1/principals", json!({"name": "alice"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let alice: Value = response.json().await.unwrap();
    assert_eq!(alice["name"], "alice");
    assert!(alice["id"].as_str().unwrap().starts_with("prn_"));
    assert_error(
        server
            .post(ADMIN_TOKEN, "/v1/principals", json!({"name": "alice"}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        server
            .post(
                ADMIN_TOKEN,
                "/v1/principals",
                json!({"name": "Alice Smith"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let issued: Value = server
        .post(ADMIN_TOKEN, "/v1/tokens", json!({"principal": "alice"}))
        .await
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap();
    assert!(token.len() >= 32 + 3);
    let whoami: Value = server.get(token, "/v1/whoami").await.json().await.unwrap();
    assert_eq!(whoami["principal"], "alice");
    assert_eq!(whoami["admin"], false);
    assert_eq!(whoami["roles"], json!([]));
    // tokens are listed without their secrets
    let listed = server
        .get(ADMIN_TOKEN, "/v1/tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(token));
    assert!(!listed.contains(ADMIN_TOKEN));
    // alice may not administer
    assert_error(
        server
            .post(token, "/v1/principals", json!({"name": "mallory"}))
            .await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_error(
        server
            .post(token, "/v1/tokens", json!({"principal": "alice"}))
            .await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_error(
        server
            .post(ADMIN_TOKEN, "/v1/tokens", json!({"principal": "nobody"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let id = issued["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/tokens/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        server.get(token, "/v1/whoami").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let whoami: Value = server
        .get(ADMIN_TOKEN, "/v1/whoami")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["admin"], true);
    assert_eq!(
        whoami["roles"],
        json!([{"role": "admin", "jurisdiction": "*"}])
    );
}

#[tokio::test]
async fn the_jurisdiction_tree_is_validated_whole() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let before = catalog_snapshot(&server).await;
    let bad_batches = [
        json!([{"code": "330824116225", "name": "新村", "level": "village", "parent": MAJIN}, {"code": "33082411622", "name": "短", "level": "village", "parent": MAJIN}]),
        json!([{"code": "330824116225", "name": "新村", "level": "township", "parent": COUNTY}]),
        json!([{"code": "330824116225", "name": "新村", "level": "village", "parent": COUNTY}]),
        json!([{"code": "330824118225", "name": "孤村", "level": "village", "parent": "330824118000"}]),
        json!([{"code": "３３０８２４１１６２２５", "name": "全角", "level": "village", "parent": MAJIN}]),
        json!([{"code": "330824116225 ", "name": "空格", "level": "village", "parent": MAJIN}]),
        json!({"code": "330824116225"}),
    ];
    for batch in bad_batches {
        let response = server
            .post(ADMIN_TOKEN, "/v1/jurisdictions", batch.clone())
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(catalog_snapshot(&server).await, before);
    let alice = server.principal("alice").await;
    let before_alice = catalog_snapshot(&server).await;
    let good =
        json!([{"code": "330824116225", "name": "新村", "level": "village", "parent": MAJIN}]);
    assert_error(
        server.post(&alice, "/v1/jurisdictions", good.clone()).await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_eq!(catalog_snapshot(&server).await, before_alice);
    assert_eq!(
        server
            .post(ADMIN_TOKEN, "/v1/jurisdictions", good)
            .await
            .status(),
        StatusCode::OK
    );
    // the next query sees the new node, and so does every principal
    let rows = server
        .rows(
            &alice,
            "SELECT name, level, parent FROM system.jurisdictions WHERE code = '330824116225'",
        )
        .await;
    assert_eq!(rows, vec![json!(["新村", "village", MAJIN])]);
    let tree: Value = server
        .get(&alice, "/v1/jurisdictions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree.as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let response = server
            .client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    server.rows(ADMIN_TOKEN, "SELECT 1").await;
    let metrics = server
        .get(ADMIN_TOKEN, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tiaokuai_queries_running"), "{metrics}");
    let doc: Value = server
        .get(ADMIN_TOKEN, "/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/query",
        "/v1/whoami",
        "/v1/jurisdictions",
        "/v1/tables",
        "/v1/sources",
        "/v1/sources/{id}",
        "/v1/sources/{id}/check",
        "/v1/datasets",
        "/v1/principals",
        "/v1/tokens",
        "/v1/tokens/{id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["QueryRequest"].is_object());
}

#[tokio::test]
async fn information_schema_lists_only_readable_tables() {
    let server = TestServer::start().await;
    let alice = server.principal("alice").await;
    let rows = server.rows(&alice, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('information_schema') ORDER BY 1, 2").await;
    // the division tree, and the caller's own access receipts
    assert_eq!(
        rows,
        vec![
            json!(["system", "access_log"]),
            json!(["system", "jurisdictions"])
        ]
    );
    let tables: Value = server.get(&alice, "/v1/tables").await.json().await.unwrap();
    assert_eq!(tables.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_query_command_prints_tables_csv_and_json() {
    use tiaokuai::client::{OutputFormat, query};
    let server = TestServer::start().await;
    let sql = "SELECT 1 AS one, '开化' AS county";
    let table = query(&server.url, ADMIN_TOKEN, sql, OutputFormat::Table)
        .await
        .unwrap();
    assert!(table.contains("| one | county |"), "{table}");
    assert!(table.contains("| 1   | 开化   |"), "{table}");
    assert_eq!(
        query(&server.url, ADMIN_TOKEN, sql, OutputFormat::Csv)
            .await
            .unwrap(),
        "one,county\n1,开化\n"
    );
    let json: Value = serde_json::from_str(
        &query(&server.url, ADMIN_TOKEN, sql, OutputFormat::Json)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["rows"], json!([[1, "开化"]]));
    let error = query(&server.url, ADMIN_TOKEN, "SELEC 1", OutputFormat::Table)
        .await
        .unwrap_err();
    assert!(error.starts_with("400"), "{error}");
    let error = query(&server.url, "tk_wrong", "SELECT 1", OutputFormat::Csv)
        .await
        .unwrap_err();
    assert!(error.starts_with("401"), "{error}");
}
