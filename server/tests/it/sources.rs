//! File sources on local disk: registration, pinned schemas, checks, deletion.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{self, CHIHUAI_VILLAGE, MAJIN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

fn people_table() -> Value {
    json!({"name": "county.people", "binding": {"column": "village_code"}, "classification": {"name": "sensitive:name"}})
}

#[tokio::test]
async fn a_parquet_folder_registers_and_answers() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let folder = server.files().join("people");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN), (2, "李四", CHIHUAI_VILLAGE)]),
    );
    fixtures::write_parquet(
        &folder.join("b.parquet"),
        &fixtures::people(&[(3, "王五", XIASHAN)]),
    );
    std::fs::write(folder.join("_SUCCESS"), b"").unwrap();
    let created = server
        .register(fixtures::parquet_source(
            "people",
            &fixtures::file_url(&folder),
            MAJIN,
            Some(people_table()),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["kind"], "parquet");
    assert_eq!(created["columns"].as_array().unwrap().len(), 3);
    assert_eq!(
        created["table"]["binding"],
        json!({"column": "village_code"})
    );
    let fetched: Value = server
        .get(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "people");
    let tables: Value = server
        .get(ADMIN_TOKEN, "/v1/tables")
        .await
        .json()
        .await
        .unwrap();
    let table = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "county.people")
        .unwrap();
    assert_eq!(table["columns"][1]["name"], "name");
    assert_eq!(table["columns"][1]["classification"], "sensitive:name");
    assert_eq!(table["columns"][0]["classification"], "internal");
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, name, village_code FROM county.people ORDER BY id",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!([1, "张三", XIASHAN]),
            json!([2, "李四", CHIHUAI_VILLAGE]),
            json!([3, "王五", XIASHAN])
        ]
    );
}

#[tokio::test]
async fn csv_and_hive_partitions() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let files = server.files();
    let csv = files.join("income.csv");
    std::fs::write(
        &csv,
        "year,amount,village_code\n2023,100.5,330824116224\n2024,200.25,330824117201\n",
    )
    .unwrap();
    let body = json!({"name": "income", "kind": "csv", "url": fixtures::file_url(&csv), "owner": "330824000000",
                      "tables": [{"name": "county.income", "binding": {"column": "village_code"}}]});
    // CSV inference reads the codes as numbers: the binding refuses them, and says what to do
    let response = server.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(message.contains("column_types"), "{message}");
    let mut body = body;
    body["options"] = json!({"column_types": {"village_code": "Utf8"}});
    server.register(body).await;
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT year, amount FROM county.income WHERE village_code = '330824117201'",
        )
        .await;
    assert_eq!(rows, vec![json!([2024, 200.25])]);

    let hive = files.join("hive");
    fixtures::write_parquet(
        &hive.join(format!("township={MAJIN}/village={XIASHAN}/p.parquet")),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    fixtures::write_parquet(
        &hive.join(format!(
            "township=330824117000/village={CHIHUAI_VILLAGE}/p.parquet"
        )),
        &fixtures::people(&[(2, "李四", CHIHUAI_VILLAGE)]),
    );
    server
        .register(json!({"name": "hive", "kind": "parquet", "url": fixtures::file_url(&hive), "owner": "330824000000",
                         "options": {"partition_columns": ["township", "village"]},
                         "tables": [{"name": "county.hive", "binding": {"column": "village"}}]}))
        .await;
    // the other township's folder is pruned away: remove it and the filtered query still answers
    std::fs::remove_dir_all(hive.join("township=330824117000")).unwrap();
    let rows = server
        .rows(
            ADMIN_TOKEN,
            &format!("SELECT id, township, village FROM county.hive WHERE township = '{MAJIN}'"),
        )
        .await;
    assert_eq!(rows, vec![json!([1, MAJIN, XIASHAN])]);
}

#[tokio::test]
async fn schemas_are_pinned_until_checked() {
    // list folders on every query, so the new file is seen at once
    let server = TestServer::start_with(|config| {
        config.engine.listing_cache_ttl = std::time::Duration::ZERO
    })
    .await;
    server.load_tree().await;
    let folder = server.files().join("people");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    let created = server
        .register(fixtures::parquet_source(
            "people",
            &fixtures::file_url(&folder),
            MAJIN,
            Some(people_table()),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    // a file with an extra column appears
    let mut wider = fixtures::people(&[(2, "李四", XIASHAN)]);
    let extra = datafusion::arrow::array::StringArray::from(vec!["new"]);
    let mut fields: Vec<_> = wider.schema().fields().iter().cloned().collect();
    fields.push(std::sync::Arc::new(
        datafusion::arrow::datatypes::Field::new(
            "note",
            datafusion::arrow::datatypes::DataType::Utf8,
            true,
        ),
    ));
    let mut columns = wider.columns().to_vec();
    columns.push(std::sync::Arc::new(extra));
    wider = datafusion::arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .unwrap();
    fixtures::write_parquet(&folder.join("b.parquet"), &wider);
    let (status, body) = server
        .query(ADMIN_TOKEN, "SELECT note FROM county.people")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        server
            .rows(ADMIN_TOKEN, "SELECT count(*) FROM county.people")
            .await,
        vec![json!([2])]
    );
    let report: Value = server.check(id).await;
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["files"], 2);
    assert_eq!(report["repinned"], true);
    assert_eq!(report["added_columns"], json!(["note"]));
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT id, note FROM county.people ORDER BY id",
        )
        .await;
    assert_eq!(rows, vec![json!([1, null]), json!([2, "new"])]);
    // a check of a source that is gone reports it, and changes nothing
    std::fs::remove_dir_all(&folder).unwrap();
    let report: Value = server.check(id).await;
    assert_eq!(report["status"], "unavailable", "{report}");
    assert_eq!(report["repinned"], false);
}

#[tokio::test]
async fn registration_rejects_bad_tables_and_names() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let folder = server.files().join("people");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    let url = fixtures::file_url(&folder);
    server
        .register(fixtures::parquet_source(
            "people",
            &url,
            MAJIN,
            Some(people_table()),
        ))
        .await;
    let before = catalog_snapshot(&server).await;
    let cases = [
        (
            fixtures::parquet_source("people", &url, MAJIN, None),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            fixtures::parquet_source("people2", &url, MAJIN, Some(people_table())),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            fixtures::parquet_source(
                "p3",
                &url,
                MAJIN,
                Some(json!({"name": "county.p3", "binding": {"column": "nope"}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p4",
                &url,
                MAJIN,
                Some(json!({"name": "county.p4", "binding": {"column": "id"}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p5",
                &url,
                MAJIN,
                Some(json!({"name": "county.p5", "binding": {"fixed": CHIHUAI_VILLAGE}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p6",
                &url,
                MAJIN,
                Some(json!({"name": "county.p6", "binding": {"fixed": "33082411622"}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p7",
                &url,
                MAJIN,
                Some(
                    json!({"name": "county.p7", "binding": {"column": "village_code"}, "classification": {"ghost": "sensitive"}}),
                ),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p8",
                &url,
                MAJIN,
                Some(
                    json!({"name": "county.p8", "binding": {"column": "village_code"}, "classification": {"name": "secret"}}),
                ),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p9",
                &url,
                MAJIN,
                Some(json!({"name": "Bad Name", "binding": {"column": "village_code"}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source(
                "p10",
                &url,
                MAJIN,
                Some(json!({"name": "system.people", "binding": {"column": "village_code"}})),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source("p11", &url, "330825000000", None),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            fixtures::parquet_source("p12", &url, "３３０８２４１１６０００", None),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"name": "p13", "kind": "parquet", "url": url, "owner": MAJIN, "secret": "plain-password"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"name": "p14", "kind": "parquet", "url": url, "owner": MAJIN, "options": {"bogus": 1}}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let response = server.post(ADMIN_TOKEN, "/v1/sources", body.clone()).await;
        let message = assert_error(response, status, code).await;
        assert!(!message.contains("plain-password"), "{message}");
    }
    assert_eq!(catalog_snapshot(&server).await, before);
    let alice = server.principal("alice").await;
    let before_alice = catalog_snapshot(&server).await;
    let response = server
        .post(
            &alice,
            "/v1/sources",
            fixtures::parquet_source("mine", &url, XIASHAN, None),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_error(
        server.get(&alice, "/v1/sources").await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert_eq!(catalog_snapshot(&server).await, before_alice);
}

#[tokio::test]
async fn deleting_a_source_removes_its_table() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let folder = server.files().join("people");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    let created = server
        .register(fixtures::parquet_source(
            "people",
            &fixtures::file_url(&folder),
            MAJIN,
            Some(people_table()),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = server
        .query(ADMIN_TOKEN, "SELECT * FROM county.people")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/sources/{id}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // the name is free again
    server
        .register(fixtures::parquet_source(
            "people",
            &fixtures::file_url(&folder),
            MAJIN,
            Some(people_table()),
        ))
        .await;
}

#[tokio::test]
async fn registrations_survive_a_restart() {
    let server = TestServer::start().await;
    server.load_tree().await;
    let folder = server.files().join("people");
    fixtures::write_parquet(
        &folder.join("a.parquet"),
        &fixtures::people(&[(1, "张三", XIASHAN)]),
    );
    server
        .register(fixtures::parquet_source(
            "people",
            &fixtures::file_url(&folder),
            MAJIN,
            Some(people_table()),
        ))
        .await;
    let again = server.restart().await;
    assert_eq!(
        again
            .rows(ADMIN_TOKEN, "SELECT name FROM county.people")
            .await,
        vec![json!(["张三"])]
    );
}
