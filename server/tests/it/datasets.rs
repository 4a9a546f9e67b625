//! Union datasets: one logical table over member sources, each with a fixed jurisdiction, and
//! members outside a query's jurisdiction filter never opened.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::{self, CHIHUAI_VILLAGE, HUASHAN, XIASHAN};
use crate::harness::{ADMIN_TOKEN, TestServer, assert_error, catalog_snapshot};

/// Three village sources of one schema; returns the server and their ids.
async fn villages() -> (TestServer, Vec<String>) {
    let server = TestServer::start().await;
    server.load_tree().await;
    let mut ids = Vec::new();
    for (code, rows) in [
        (XIASHAN, vec![(1, "张三", XIASHAN), (2, "李四", XIASHAN)]),
        (HUASHAN, vec![(3, "王五", HUASHAN)]),
        (CHIHUAI_VILLAGE, vec![(4, "赵六", CHIHUAI_VILLAGE)]),
    ] {
        let folder = server.files().join(code);
        fixtures::write_parquet(&folder.join("part-0.parquet"), &fixtures::people(&rows));
        let created = server
            .register(fixtures::parquet_source(
                &format!("people_{code}"),
                &fixtures::file_url(&folder),
                code,
                None,
            ))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    (server, ids)
}

fn dataset(name: &str, ids: &[String], codes: &[&str]) -> Value {
    let members: Vec<Value> = ids
        .iter()
        .zip(codes)
        .map(|(id, code)| json!({"source": id, "jurisdiction": code}))
        .collect();
    json!({"name": name, "members": members, "classification": {"name": "sensitive:name"}})
}

#[tokio::test]
async fn a_union_adds_the_jurisdiction_column() {
    let (server, ids) = villages().await;
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/datasets",
            dataset("village.people", &ids, &[XIASHAN, HUASHAN, CHIHUAI_VILLAGE]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["members"].as_array().unwrap().len(), 3);
    let rows = server
        .rows(
            ADMIN_TOKEN,
            "SELECT jurisdiction_code, id, name FROM village.people ORDER BY id",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!([XIASHAN, 1, "张三"]),
            json!([XIASHAN, 2, "李四"]),
            json!([HUASHAN, 3, "王五"]),
            json!([CHIHUAI_VILLAGE, 4, "赵六"])
        ]
    );
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT * FROM village.people WHERE id = 3")
        .await;
    assert_eq!(rows, vec![json!([HUASHAN, 3, "王五", HUASHAN])]);
    let rows = server
        .rows(ADMIN_TOKEN, "SELECT j.name, count(*) FROM village.people r JOIN system.jurisdictions j ON r.jurisdiction_code = j.code GROUP BY j.name ORDER BY j.name")
        .await;
    assert_eq!(
        rows,
        vec![
            json!(["华山村", 1]),
            json!(["池淮村", 1]),
            json!(["霞山村", 2])
        ]
    );
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
        .find(|t| t["name"] == "village.people")
        .unwrap()
        .clone();
    assert_eq!(table["binding"], json!({"union": "jurisdiction_code"}));
    assert_eq!(table["columns"][0]["name"], "jurisdiction_code");
}

#[tokio::test]
async fn members_outside_the_filter_are_never_opened() {
    let (server, ids) = villages().await;
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/datasets",
            dataset("village.people", &ids, &[XIASHAN, HUASHAN, CHIHUAI_VILLAGE]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // the 池淮镇 member's files vanish: queries that exclude it do not notice
    std::fs::remove_dir_all(server.files().join(CHIHUAI_VILLAGE)).unwrap();
    for filter in [
        format!("jurisdiction_code = '{XIASHAN}'"),
        format!("jurisdiction_code IN ('{XIASHAN}', '{HUASHAN}')"),
        "jurisdiction_code LIKE '330824116%'".to_owned(),
        "starts_with(jurisdiction_code, '330824116')".to_owned(),
        format!("jurisdiction_code <> '{CHIHUAI_VILLAGE}'"),
    ] {
        let rows = server
            .rows(
                ADMIN_TOKEN,
                &format!("SELECT count(*) FROM village.people WHERE {filter}"),
            )
            .await;
        let expected = if filter.contains("= '330824116224'") {
            2
        } else {
            3
        };
        assert_eq!(rows, vec![json!([expected])], "{filter}");
    }
    // a query that needs it fails, naming the member
    let (status, body) = server
        .query(ADMIN_TOKEN, "SELECT count(*) FROM village.people")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(CHIHUAI_VILLAGE),
        "{body}"
    );
}

#[tokio::test]
async fn bad_datasets_are_rejected_and_store_nothing() {
    let (server, ids) = villages().await;
    let other = server.files().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x.csv"), "a,b\n1,2\n").unwrap();
    let csv = server.register(json!({"name": "other", "kind": "csv", "url": fixtures::file_url(&other), "owner": XIASHAN})).await;
    let csv_id = csv["id"].as_str().unwrap().to_owned();
    let before = catalog_snapshot(&server).await;
    let cases = [
        (
            dataset(
                "village.people",
                &[ids[0].clone(), csv_id],
                &[XIASHAN, HUASHAN],
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            dataset("village.people", &["src_missing".to_owned()], &[XIASHAN]),
            StatusCode::BAD_REQUEST,
        ),
        (
            dataset(
                "village.people",
                &[ids[0].clone(), ids[0].clone()],
                &[XIASHAN, XIASHAN],
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            dataset("village.people", &ids[..1], &["330824116999"]),
            StatusCode::BAD_REQUEST,
        ),
        (
            dataset("village.people", &ids[..1], &["33082411622"]),
            StatusCode::BAD_REQUEST,
        ),
        (dataset("village.people", &[], &[]), StatusCode::BAD_REQUEST),
        (
            dataset("People", &ids[..1], &[XIASHAN]),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "village.people", "members": [{"source": ids[0], "jurisdiction": XIASHAN}], "classification": {"ghost": "public"}}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        let response = server.post(ADMIN_TOKEN, "/v1/datasets", body.clone()).await;
        assert_eq!(
            response.status(),
            status,
            "{body}: {}",
            response.text().await.unwrap()
        );
    }
    assert_eq!(catalog_snapshot(&server).await, before);
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/datasets",
            dataset("village.people", &ids, &[XIASHAN, HUASHAN, CHIHUAI_VILLAGE]),
        )
        .await;
    let created: Value = response.json().await.unwrap();
    let response = server
        .post(
            ADMIN_TOKEN,
            "/v1/datasets",
            dataset("village.people", &ids[..1], &[XIASHAN]),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    // a member cannot be deleted from under its dataset
    assert_error(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/sources/{}", ids[0]))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let dataset_id = created["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/datasets/{dataset_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .delete(ADMIN_TOKEN, &format!("/v1/sources/{}", ids[0]))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}
