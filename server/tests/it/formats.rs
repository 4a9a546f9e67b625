//! `POST /v1/query` in all five formats, each parsed back and compared.

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::XIASHAN;
use crate::harness::{ADMIN_TOKEN, TestServer};

const PEOPLE: [(i64, &str, &str); 3] = [
    (1, "张三", XIASHAN),
    (2, "李四, \"小李\"", XIASHAN),
    (3, "王五", XIASHAN),
];
const SQL: &str = "SELECT id, name FROM village.people ORDER BY id";

async fn server_with_people() -> TestServer {
    let server = TestServer::start().await;
    server.load_tree().await;
    server
        .register_people(&PEOPLE, XIASHAN, "village.people", json!({}))
        .await;
    server
}

async fn fetch(
    server: &TestServer,
    accept: &str,
    sql: &str,
) -> (reqwest::header::HeaderMap, bytes::Bytes) {
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", accept)
        .json(&json!({"sql": sql}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    (headers, response.bytes().await.unwrap())
}

fn assert_people(batches: &[RecordBatch]) {
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    let names: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let names = b
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| a.iter().map(|v| v.unwrap().to_owned()).collect::<Vec<_>>());
            names.unwrap_or_else(|| {
                let view = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringViewArray>()
                    .unwrap();
                view.iter().map(|v| v.unwrap().to_owned()).collect()
            })
        })
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(
        names,
        PEOPLE.iter().map(|p| p.1.to_owned()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn json_has_columns_rows_and_count() {
    let server = server_with_people().await;
    let (headers, body) = fetch(&server, "application/json", SQL).await;
    // the query id names the query's audit record
    let query_id = headers["x-query-id"].to_str().unwrap();
    let catalog =
        tiaokuai_catalog::SqliteCatalog::open(&server.data_dir().join("catalog.db")).unwrap();
    let record = tiaokuai_catalog::Catalog::audit_events(&catalog, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.target == query_id && e.action == "query")
        .unwrap();
    assert_eq!(record.principal, "admin");
    assert_eq!(record.detail["sql"], SQL);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["columns"][0], json!({"name": "id", "type": "Int64"}));
    assert_eq!(body["columns"][1]["name"], "name");
    assert_eq!(
        body["rows"],
        json!([[1, "张三"], [2, "李四, \"小李\""], [3, "王五"]])
    );
    assert_eq!(body["row_count"], 3);
    // an empty result is still a complete document
    let (_, body) = fetch(
        &server,
        "application/json",
        "SELECT id FROM village.people WHERE id > 99",
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["rows"], json!([]));
    assert_eq!(body["row_count"], 0);
}

#[tokio::test]
async fn ndjson_is_one_object_per_row() {
    let server = server_with_people().await;
    let (_, body) = fetch(&server, "application/x-ndjson", SQL).await;
    let rows: Vec<Value> = std::str::from_utf8(&body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![
            json!({"id": 1, "name": "张三"}),
            json!({"id": 2, "name": "李四, \"小李\""}),
            json!({"id": 3, "name": "王五"})
        ]
    );
}

#[tokio::test]
async fn csv_quotes_per_rfc_4180() {
    let server = server_with_people().await;
    let (headers, body) = fetch(&server, "text/csv", SQL).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "id,name\n1,张三\n2,\"李四, \"\"小李\"\"\"\n3,王五\n"
    );
    let (_, empty) = fetch(
        &server,
        "text/csv",
        "SELECT id, name FROM village.people WHERE false",
    )
    .await;
    assert_eq!(std::str::from_utf8(&empty).unwrap(), "id,name\n");
}

#[tokio::test]
async fn arrow_ipc_stream_reads_back() {
    let server = server_with_people().await;
    let (_, body) = fetch(&server, "application/vnd.apache.arrow.stream", SQL).await;
    let batches: Vec<RecordBatch> = StreamReader::try_new(body.as_ref(), None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_people(&batches);
}

#[tokio::test]
async fn parquet_file_reads_back() {
    let server = server_with_people().await;
    let (_, body) = fetch(&server, "application/vnd.apache.parquet", SQL).await;
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_people(&batches);
}

#[tokio::test]
async fn format_parameter_overrides_accept_and_unknown_accept_is_406() {
    let server = server_with_people().await;
    let response = server
        .client
        .post(format!("{}/v1/query?format=csv", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "application/json")
        .json(&json!({"sql": "SELECT 1 AS one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "one\n1\n");
    let response = server
        .client
        .post(format!("{}/v1/query", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "image/png")
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    assert!(response.headers().get("x-query-id").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_acceptable");
    let response = server
        .client
        .post(format!("{}/v1/query?format=xml", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn parameters_are_bound_server_side() {
    let server = server_with_people().await;
    let (status, body) = server
        .query_params(
            ADMIN_TOKEN,
            "SELECT name FROM village.people WHERE id = $1 OR name = $2 ORDER BY name",
            json!([1, "王五' OR '1'='1"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([["张三"]]));
    let (status, body) = server
        .query_params(
            ADMIN_TOKEN,
            "SELECT name FROM village.people WHERE id > $1",
            json!([1, 2]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server
        .query_params(
            ADMIN_TOKEN,
            "SELECT name FROM village.people WHERE id = $1",
            json!([{"a": 1}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn cross_table_join_with_the_jurisdiction_tree() {
    let server = server_with_people().await;
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT j.name, count(*) FROM village.people p JOIN system.jurisdictions j ON p.village_code = j.code GROUP BY j.name")
        .await;
    assert_eq!(rows, vec![json!(["霞山村", 3])]);
}
